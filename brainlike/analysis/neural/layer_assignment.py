"""Which model layer fits each brain area (recurrent.md §2, layer assignment).

Each area takes the layer that best predicts its time-averaged responses: the layer that is
the best fit (highest held-out Pearson r) for the most of its neuroids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brainlike.analysis.neural.arrays import (
    _as_features,
    _as_responses,
    _check_min_trials,
    _nanmean,
    _nanmedian,
)
from brainlike.analysis.neural.predictivity import _fit_predict, _resolve_mapping
from brainlike.analysis.neural.reliability import pearson_columns
from brainlike.analysis.neural.splits import Seed, _resolve_splits, _seed_repr, _streams
from brainlike.analysis.neural.temporal import _as_time_responses, _steps_for_bins
from brainlike.analysis.score import _json_safe


@dataclass
class LayerAssignment:
    """Which model layer fits each brain area (spec recurrent.md §2).

    Attributes
    ----------
    layer : dict region -> layer
        The layer with the most best-fit neuroids (ties: the higher median r, then the
        earlier layer).
    counts : dict region -> dict layer -> int
        Neuroids of the region best predicted by each layer.
    median_r : dict region -> dict layer -> float
        Median over the region's neuroids of the held-out r (mean over splits).
    best_layer : dict region -> ndarray of str, shape (neuroid of the region,)
        Each neuroid's best layer (``""`` when every layer gives NaN).
    layers, regions : list of str
    parameters : dict
    """

    layer: dict[str, str]
    counts: dict[str, dict[str, int]]
    median_r: dict[str, dict[str, float]]
    best_layer: dict[str, np.ndarray]
    layers: list[str]
    regions: list[str]
    parameters: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        """JSON-safe dict (without the per-neuroid best layers)."""
        return {
            "layer": dict(self.layer),
            "counts": {r: dict(c) for r, c in self.counts.items()},
            "median_r": _json_safe(self.median_r),
            "layers": list(self.layers),
            "regions": list(self.regions),
            "parameters": _json_safe(self.parameters),
        }


def time_average_features(X: Any, steps: Sequence[int] | None = None) -> np.ndarray:
    """Model features averaged over time steps: (stimulus, unit, time) -> (stimulus, unit).

    ``steps`` selects the steps (e.g. those read for the recorded bins); 2-D input is returned
    as float64 unchanged.
    """
    arr = np.asarray(X)
    if arr.ndim == 2:
        return arr.astype(np.float64, copy=False)
    if arr.ndim != 3:
        raise ValueError(f"X must be (stimulus, unit[, time]); got shape {arr.shape}")
    if steps is not None:
        arr = arr[:, :, np.asarray(steps, dtype=np.intp)]
    return arr.mean(axis=2, dtype=np.float64)


def assign_layers(
    features: Mapping[str, Any],
    Y: Any,
    region: Sequence[str] | None = None,
    mapping: Any = "pls",
    *,
    steps_for_bins: Sequence[int] | None = None,
    n_splits: int = 10,
    train_fraction: float = 0.5,
    seed: Seed = 0,
    splits: Sequence | None = None,
    stratify: Sequence | None = None,
) -> LayerAssignment:
    """Assign one model layer to each brain area: the layer that best predicts its
    time-averaged responses (argmax of the count of best-fit neuroids; recurrent.md §2).

    Responses are averaged over time bins (then over trials); each layer's features are
    averaged over the model steps read for those bins (``steps_for_bins``, default bin b <->
    step b; all steps of features recorded without a matching recording axis). For every
    layer a map (fit per area on the training stimuli) predicts the held-out stimuli; each
    neuroid's best layer is the one with the highest held-out Pearson r (mean over splits),
    and the area takes the layer that is best for the most of its neuroids.

    Parameters
    ----------
    features : mapping layer -> ndarray (stimulus, unit, time) or (stimulus, unit)
    Y : ndarray, shape (stimulus, neuroid, trial, time_bin) or (stimulus, neuroid, trial)
    region : sequence of str, shape (neuroid,), optional
        Area of each neuroid (default: one area, ``"all"``).
    mapping : str or sklearn regressor, or a mapping layer -> such
        One mapping for every layer, or one per layer (e.g. PLS capped at a layer's width).
    steps_for_bins : sequence of int, optional
    n_splits, train_fraction, seed, splits, stratify
        Cross-validation as in :func:`plain_predictivity` (every layer uses the same splits).

    Returns
    -------
    LayerAssignment
    """
    # spec: recurrent.md §2, layer assignment
    if not features:
        raise ValueError("features is empty; pass layer name -> (stimulus, unit[, time]) arrays")
    per_layer = isinstance(mapping, Mapping)
    if per_layer:
        missing = [layer for layer in features if layer not in mapping]
        if missing:
            raise ValueError(f"mapping names no estimator for layer(s) {missing}")
        resolved = {layer: _resolve_mapping(mapping[layer]) for layer in features}
    else:
        resolved = dict.fromkeys(features, _resolve_mapping(mapping))
    arr = np.asarray(Y, dtype=np.float64)
    if arr.ndim == 4:
        _as_time_responses(arr)
        steps = _steps_for_bins(steps_for_bins, arr.shape[3], None)
        with np.errstate(invalid="ignore"):
            arr = arr.mean(axis=3)  # a trial missing in any bin is missing
    else:
        steps = None if steps_for_bins is None else np.asarray(steps_for_bins, dtype=np.intp)
    arr = _as_responses(arr)
    _check_min_trials(arr, minimum=1)
    mean = _nanmean(arr, axis=2)
    n_stim, n_neur = mean.shape
    labels = np.full(n_neur, "all") if region is None else np.asarray(region).astype(str)
    if labels.shape != (n_neur,):
        raise ValueError(f"region must have one entry per neuroid ({n_neur}); got {labels.shape}")
    _, first = np.unique(labels, return_index=True)
    regions = [str(labels[i]) for i in np.sort(first)]
    cols = {r: np.flatnonzero(labels == r) for r in regions}
    split_rng, _ = _streams(seed, 2)
    splits = _resolve_splits(splits, n_stim, n_splits, train_fraction, split_rng, stratify)
    layers = list(features)
    r = np.full((len(layers), n_neur), np.nan)
    for i, layer in enumerate(layers):
        X = _as_features(
            time_average_features(features[layer], steps), n_stim, f"features[{layer!r}]"
        )
        preds = _fit_predict(resolved[layer][0], X, [mean[:, cols[g]] for g in regions], splits)
        per_split = np.full((len(splits), n_neur), np.nan)
        for s, (_, test) in enumerate(splits):
            for g, region_name in enumerate(regions):
                c = cols[region_name]
                per_split[s, c] = pearson_columns(preds[s][g], mean[test][:, c])
        r[i] = _nanmean(per_split, axis=0)
    ranked = np.where(np.isfinite(r), r, -np.inf)
    best = np.argmax(ranked, axis=0)
    has_best = np.isfinite(r).any(axis=0)
    assignment, counts, medians, best_of = {}, {}, {}, {}
    for region_name in regions:
        c = cols[region_name]
        n_best = [int(np.sum((best[c] == i) & has_best[c])) for i in range(len(layers))]
        med = [float(_nanmedian(r[i, c])) for i in range(len(layers))]
        order = sorted(
            range(len(layers)),
            key=lambda i: (-n_best[i], -(med[i] if np.isfinite(med[i]) else -np.inf), i),
        )
        assignment[region_name] = layers[order[0]]
        counts[region_name] = dict(zip(layers, n_best, strict=True))
        medians[region_name] = dict(zip(layers, med, strict=True))
        best_of[region_name] = np.where(
            has_best[c], np.asarray(layers, dtype=object)[best[c]], ""
        ).astype(str)
    return LayerAssignment(
        layer=assignment,
        counts=counts,
        median_r=medians,
        best_layer=best_of,
        layers=layers,
        regions=regions,
        parameters={
            "mapping": {layer: n for layer, (_, n) in resolved.items()}
            if per_layer
            else resolved[layers[0]][1],
            "n_splits": len(splits),
            "train_fraction": train_fraction,
            "seed": _seed_repr(seed),
            "steps_for_bins": None if steps is None else steps.tolist(),
            "criterion": "argmax over layers of the count of best-fit neuroids (held-out r)",
        },
    )
