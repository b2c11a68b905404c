"""Neural fits over time (recurrent.md §2): scores in every time bin of the responses.

Time-binned responses ``(stimulus, neuroid, trial, time_bin)`` against time-resolved features
``(stimulus, unit, time)``: :func:`temporal_predictivity` scores a temporally fixed mapping
(one set of weights for all bins; a time-varying mapping for comparison) in every bin, plain
or noise-corrected, and :func:`temporal_inter_animal_consistency` gives the ceiling in every
bin. Bin ``b`` reads model step ``steps_for_bins[b]`` (by default step ``b``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brainlike.analysis.neural.arrays import (
    _SEM_NOTE,
    _as_features,
    _as_responses,
    _check_same_stimuli,
    _groups,
    _nanmean,
    _nanmedian,
    _sem,
    _trial_summary,
)
from brainlike.analysis.neural.consistency import inter_animal_consistency
from brainlike.analysis.neural.predictivity import (
    _add_feature_bootstraps,
    _check_correction,
    _fit_predict,
    _reliability_denominator,
    _resolve_mapping,
    _TermSums,
)
from brainlike.analysis.neural.reliability import (
    _check_numerator,
    _check_split_half,
    _trial_permutations,
    pearson_columns,
    split_half_reliability,
)
from brainlike.analysis.neural.splits import Seed, _resolve_splits, _seed_repr, _streams
from brainlike.analysis.score import Score, _json_safe


@dataclass
class TemporalScore:
    """Scores of every neuroid in every time bin, with per-bin medians and s.e.m.

    Attributes
    ----------
    raw : ndarray, shape (neuroid, time_bin)
        Per-neuroid, per-bin values (mean over splits and bootstraps).
    per_bin : list of Score
        One :class:`~brainlike.analysis.score.Score` per bin: the median over neuroids with the
        s.e.m. over neuroids, that bin's ``raw`` column and its per-split medians.
    time_bins : ndarray, shape (time_bin, 2), or None
        ``(start_ms, end_ms)`` of each bin when known.
    metric : str
        ``"temporal_plain_predictivity"``, ``"temporal_noise_corrected_predictivity"`` or
        ``"temporal_inter_animal_consistency"``.
    parameters, provenance : dict
        The call's arguments; data sizes, the bin -> step alignment, term medians.
    """

    raw: np.ndarray
    per_bin: list[Score]
    time_bins: np.ndarray | None = None
    metric: str = ""
    parameters: dict = field(default_factory=dict)
    provenance: dict = field(default_factory=dict)

    @property
    def median(self) -> np.ndarray:
        """Median over neuroids per bin, shape (time_bin,)."""
        return np.array([s.value for s in self.per_bin])

    @property
    def sem(self) -> np.ndarray:
        """s.e.m. over neuroids per bin, shape (time_bin,)."""
        return np.array([s.error for s in self.per_bin])

    def percent_of_ceiling(self, ceiling: TemporalScore) -> np.ndarray:
        """``100 * median / ceiling median`` per bin (NaN where the ceiling is not positive)."""
        c = ceiling.median
        if c.shape != self.median.shape:
            raise ValueError(
                f"the ceiling has {c.size} time bins but these scores have {self.median.size}"
            )
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(c > 0, 100.0 * self.median / np.where(c > 0, c, 1.0), np.nan)

    def to_dict(self) -> dict:
        """JSON-safe dict (NaN -> None; see :meth:`Score.to_dict`)."""
        return _json_safe(
            {
                "metric": self.metric,
                "time_bins": self.time_bins,
                "median": self.median,
                "sem": self.sem,
                "raw": self.raw,
                "per_bin": [s.to_dict() for s in self.per_bin],
                "parameters": self.parameters,
                "provenance": self.provenance,
            }
        )


def _as_time_responses(Y: Any, name: str = "Y") -> np.ndarray:
    arr = np.asarray(Y, dtype=np.float64)
    if arr.ndim != 4:
        raise ValueError(
            f"{name} must be a (stimulus, neuroid, trial, time_bin) array; got shape {arr.shape}"
            + (
                "; a single time window has no time course: use the static estimators"
                if arr.ndim == 3
                else ""
            )
        )
    _as_responses(arr[..., 0], name)  # sizes and inf checks
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains inf values; only NaN (missing trial) is allowed")
    return arr


def _check_min_trials_per_bin(Y: np.ndarray, minimum: int = 2) -> np.ndarray:
    """Trial counts (stimulus, neuroid, bin); a readable error when one has too few."""
    counts = np.sum(~np.isnan(Y), axis=2)
    bad = counts < minimum
    if bad.any():
        s, n, b = (int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"Y has {Y.shape[2]} trial slots per stimulus; split-half estimates need at least "
            f"{minimum} non-NaN trials for every stimulus, neuroid and time bin (stimulus {s} "
            f"has {int(counts[s, n, b])} for neuroid {n} in bin {b}; {int(bad.sum())} cases in "
            "all); drop those stimuli or neuroids first"
        )
    return counts


def _steps_for_bins(steps_for_bins: Any, n_bins: int, n_steps: int | None) -> np.ndarray:
    """The model step read for every bin: identity by default (bin b <-> step b)."""
    if steps_for_bins is None:
        if n_steps is not None and n_steps < n_bins:
            raise ValueError(
                f"the model features have {n_steps} time steps but the responses have {n_bins} "
                "time bins; unroll the model for at least as many steps, or pass steps_for_bins "
                "(the model step read for every bin)"
            )
        return np.arange(n_bins)
    steps = np.asarray(steps_for_bins)
    if steps.shape != (n_bins,) or not np.issubdtype(steps.dtype, np.integer):
        raise ValueError(
            f"steps_for_bins must give one integer model step per time bin ({n_bins}); got "
            f"{steps_for_bins!r}"
        )
    if n_steps is not None and (steps.min() < 0 or steps.max() >= n_steps):
        raise ValueError(
            f"steps_for_bins reads steps {steps.min()}..{steps.max()} but the model features "
            f"have {n_steps} time steps (0..{n_steps - 1})"
        )
    return steps.astype(np.intp)


def _time_features(X: Any, n_stimuli: int, steps: np.ndarray) -> np.ndarray:
    """Model features at the step of every bin, shape (stimulus, unit, time_bin).

    A 2-D ``(stimulus, unit)`` X (a model without time) gives the same features in every bin.
    """
    arr = np.asarray(X)
    if arr.ndim == 2:
        arr = _as_features(arr, n_stimuli)
        return np.broadcast_to(arr[:, :, None], (*arr.shape, len(steps)))
    if arr.ndim != 3:
        raise ValueError(
            f"X must be (stimulus, unit, time) model features (or (stimulus, unit) for a model "
            f"without time); got shape {arr.shape}"
        )
    _check_same_stimuli(arr, n_stimuli, "X")
    out = np.asarray(arr[:, :, steps], dtype=np.float64)
    if not np.all(np.isfinite(out)):
        raise ValueError("X contains NaN or inf values; drop or impute those units first")
    return out


def _bin_rows(A: np.ndarray) -> np.ndarray:
    """(stimulus, k, time_bin) -> (stimulus * time_bin, k); row ``s * B + b`` is (s, b)."""
    n, k, B = A.shape
    return np.ascontiguousarray(np.moveaxis(A, 2, 1)).reshape(n * B, k)


def _row_splits(splits: list, n_bins: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """Stimulus splits -> splits of (stimulus, bin) rows: all bins of a stimulus stay together."""
    b = np.arange(n_bins)
    return [
        ((tr[:, None] * n_bins + b).ravel(), (te[:, None] * n_bins + b).ravel())
        for tr, te in splits
    ]


def _fit_predict_bins(
    mapping: Any,
    X: np.ndarray,
    Ys: list[np.ndarray],
    splits: list,
    time_varying: bool,
) -> list[list[np.ndarray]]:
    """Test predictions (test stimulus, time_bin, target) of every split and target.

    ``X`` (stimulus, unit, bin); ``Ys`` (stimulus, target, bin). Temporally fixed: one map per
    split and target fit on all (training stimulus, bin) rows jointly and applied to every bin.
    Time-varying: one map per bin.
    """
    n, _, B = X.shape
    if not time_varying:
        # spec: recurrent.md §2, temporally fixed mapping: one set of weights for all bins
        preds = _fit_predict(
            mapping, _bin_rows(X), [_bin_rows(Y) for Y in Ys], _row_splits(splits, B)
        )
        return [
            [p.reshape(len(test), B, -1) for p in row]
            for row, (_, test) in zip(preds, splits, strict=True)
        ]
    per_bin = [
        _fit_predict(mapping, np.ascontiguousarray(X[:, :, b]), [Y[:, :, b] for Y in Ys], splits)
        for b in range(B)
    ]
    return [
        [np.stack([per_bin[b][s][j] for b in range(B)], axis=1) for j in range(len(Ys))]
        for s in range(len(splits))
    ]


def _bin_r(pred: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson r over stimuli per (target, bin): pred (stimulus, bin, q), y (stimulus, q, bin)."""
    return pearson_columns(pred, np.moveaxis(y, 2, 1)).T


def _bin_r_maps(pred1: np.ndarray, pred2: np.ndarray) -> np.ndarray:
    """Pearson r over stimuli per (target, bin) between two predictions (stimulus, bin, q)."""
    return pearson_columns(pred1, pred2).T


def _per_bin_scores(
    raw: np.ndarray,
    per_split: np.ndarray,
    time_bins: np.ndarray | None,
    metric: str,
    parameters: dict,
    provenance: dict,
    extra: dict[str, np.ndarray] | None = None,
) -> list[Score]:
    """One Score per bin from (neuroid, bin) values and (split, neuroid, bin) split values."""
    scores = []
    for b in range(raw.shape[1]):
        column = raw[:, b]
        finite = np.isfinite(column)
        where = {} if time_bins is None else {"time_bin": [float(v) for v in time_bins[b]]}
        scores.append(
            Score(
                value=float(_nanmedian(column)) if finite.any() else float("nan"),
                error=_sem(column),
                metric=metric,
                raw=column,
                per_split=_nanmedian(per_split[:, :, b], axis=1),
                parameters=parameters,
                provenance={
                    **provenance,
                    **where,
                    "bin": b,
                    "n_neuroids_nan": int((~finite).sum()),
                    **{k: float(_nanmedian(v[:, b])) for k, v in (extra or {}).items()},
                },
            )
        )
    return scores


def temporal_predictivity(
    X: Any,
    Y: Any,
    mapping: Any = "pls",
    *,
    estimator: str = "plain",
    time_varying: bool = False,
    steps_for_bins: Sequence[int] | None = None,
    n_splits: int = 10,
    train_fraction: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    splits: Sequence | None = None,
    stratify: Sequence | None = None,
    correction: str = "ratio",
    numerator: str = "halves",
    animal: Sequence[str] | None = None,
    time_bins: Any = None,
    split_half: str = "unequal",
) -> TemporalScore:
    """Neural predictivity in every time bin through a temporally fixed mapping (recurrent §2).

    One set of readout weights is shared by all time bins: per split (and target animal, with
    ``animal``) the map is fit on the (stimulus, bin) rows of the training stimuli jointly,
    each row pairing the model's features at the step read for that bin with the responses in
    that bin, and predicts every bin of the held-out stimuli. ``time_varying=True`` fits a
    separate map per bin instead (a comparison: more freedom, same data). Any mapping works
    (names of :func:`~brainlike.analysis.mapping.make_mapping`, or an estimator such as
    ``FactoredReadout(feature_shape=(C, H, W))``); ``fit_predict_splits`` serves every split.

    Scores, per neuroid and bin, on the held-out stimuli:

    - ``estimator="plain"`` (spec recurrent.md §2, the primate form): Pearson r between
      predictions and trial-averaged responses, averaged over splits, divided by the
      Spearman-Brown-corrected split-half reliability of that neuroid in that bin
      (``correction="sqrt"``: by its square root, under which a perfect model scores about 1).
    - ``estimator="noise_corrected"`` (neural-evaluation.md §4 in every bin): maps M1, M2 fit on
      the two trial halves (stacked over bins the same way), ``num / sqrt(SB(r_map) SB(r_tgt))``
      per bin, averaged over bootstraps and splits; the same estimator as
      :func:`noise_corrected_predictivity` and, per bin, as the ceiling
      :func:`temporal_inter_animal_consistency`.

    Bin -> step alignment: bin ``b`` reads model step ``steps_for_bins[b]``; by default step
    ``b`` (one model step per 10 ms bin from stimulus onset, as in the thesis: 26 steps for
    bins 0-260 ms). A 2-D ``X`` (a model without time) gives every bin the same features.

    Memory: the fixed map works on one float64 copy of the features at the bins' steps, as
    (stimulus x bin, unit) rows; reduce wide layers first (``extract_activations(...,
    pca_components=k)`` fits one PCA on all steps, so the units stay one space over time).

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit, time) or (stimulus, unit)
        Model features at every time step (e.g. ``extract_activations(..., time_steps=T)``).
    Y : ndarray, shape (stimulus, neuroid, trial, time_bin)
        Responses; NaN marks missing trials (every stimulus needs >= 2 per neuroid and bin).
    mapping : str or sklearn regressor
    estimator : {"plain", "noise_corrected"}
    time_varying : bool
        Fit one map per bin instead of one shared by all bins.
    steps_for_bins : sequence of int, shape (time_bin,), optional
        The model step read for every bin (default: bin b <-> step b).
    n_splits, train_fraction, seed, splits, stratify
        As in :func:`noise_corrected_predictivity` (the same seed gives the same splits and
        trial permutations).
    n_bootstraps : int
        Trial halvings (reliability for "plain", bootstraps for "noise_corrected").
    correction : {"ratio", "sqrt"}
        "plain" only, see :func:`plain_predictivity`.
    numerator : {"halves", "full"}
        "noise_corrected" only, see :func:`noise_corrected_predictivity`.
    animal : sequence of str, shape (neuroid,), optional
        Fit maps per target animal (pooling the neuroids for the medians).
    time_bins : array (time_bin, 2), optional
        ``(start_ms, end_ms)`` of every bin, for the record.
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`).

    Returns
    -------
    TemporalScore
        ``raw`` (neuroid, time_bin); ``per_bin`` Scores (median over neuroids, s.e.m.);
        ``median`` and ``sem`` arrays.
    """
    # spec: recurrent.md §2 (temporally fixed mapping, score per neuron and bin)
    if estimator not in ("plain", "noise_corrected"):
        raise ValueError(f"estimator must be 'plain' or 'noise_corrected'; got {estimator!r}")
    _check_correction(correction)
    _check_numerator(numerator)
    _check_split_half(split_half)
    est, name = _resolve_mapping(mapping)
    Y = _as_time_responses(Y)
    n_stim, n_neur, _, n_bins = Y.shape
    counts = _check_min_trials_per_bin(Y)
    steps = _steps_for_bins(steps_for_bins, n_bins, None if np.ndim(X) == 2 else np.shape(X)[2])
    Xb = _time_features(X, n_stim, steps)
    bins = None if time_bins is None else np.asarray(time_bins, dtype=float).reshape(n_bins, 2)
    split_rng, trial_rng = _streams(seed, 2)
    splits = _resolve_splits(splits, n_stim, n_splits, train_fraction, split_rng, stratify)
    groups = _groups(animal, n_neur)
    Yt = np.moveaxis(Y, 2, 3)  # trials last, as the half-average helpers want
    params = {
        "mapping": name,
        "estimator": estimator,
        "mapping_over_time": "time-varying" if time_varying else "fixed",
        "n_splits": len(splits),
        "train_fraction": train_fraction,
        "n_bootstraps": n_bootstraps,
        "seed": _seed_repr(seed),
        "per_animal_maps": animal is not None,
        "steps_for_bins": steps.tolist(),
        "split_half": split_half,
    }
    prov = {
        "n_stimuli": n_stim,
        "n_neuroids": n_neur,
        "n_time_bins": n_bins,
        "n_model_units": int(Xb.shape[1]),
        "alignment": "bin b reads model step steps_for_bins[b]",
        **_trial_summary(counts),
    }
    if estimator == "plain":
        params["correction"] = correction
        mean = _nanmean(Yt, axis=3)  # (stimulus, neuroid, bin)
        preds = _fit_predict_bins(est, Xb, [mean[:, cols] for cols in groups], splits, time_varying)
        r = np.full((len(splits), n_neur, n_bins), np.nan)
        for s, (_, test) in enumerate(splits):
            for g, cols in enumerate(groups):
                r[s, cols] = _bin_r(preds[s][g], mean[test][:, cols])
        reliability = split_half_reliability(
            Y, n_bootstraps=n_bootstraps, seed=trial_rng, split_half=split_half
        )
        denominator = _reliability_denominator(reliability, correction)
        with np.errstate(invalid="ignore", divide="ignore"):
            raw = _nanmean(r, axis=0) / denominator
            per_split = r / denominator
        metric = "temporal_plain_predictivity"
        prov["center"] = "median over neuroids of (mean r over splits) / reliability, per bin"
        extra = {"median_raw_r": _nanmean(r, axis=0), "median_reliability": reliability}
    else:
        params["numerator"] = numerator
        perms = _trial_permutations(Y.shape[2], n_bootstraps, trial_rng)
        terms = _temporal_noise_corrected_terms(
            Yt, Xb, splits, perms, est, groups, numerator, time_varying, split_half
        )
        raw = _nanmean(terms["score"], axis=0)
        per_split = terms["score"]
        metric = "temporal_noise_corrected_predictivity"
        prov["center"] = "median over neuroids of the mean over splits and bootstraps, per bin"
        extra = {
            "median_numerator": _nanmean(terms["num"], axis=0),
            "median_mapping_consistency": _nanmean(terms["r_map"], axis=0),
            "median_target_split_half_r": _nanmean(terms["r_tgt"], axis=0),
        }
    prov["error"] = _SEM_NOTE.format(what="neuroids")
    return TemporalScore(
        raw=raw,
        per_bin=_per_bin_scores(raw, per_split, bins, metric, params, prov, extra),
        time_bins=bins,
        metric=metric,
        parameters=params,
        provenance=prov,
    )


def _temporal_noise_corrected_terms(
    Yt: np.ndarray,
    X: np.ndarray,
    splits: list,
    perms: list[np.ndarray],
    mapping: Any,
    groups: list[np.ndarray],
    numerator: str,
    time_varying: bool,
    split_half: str = "unequal",
) -> dict[str, np.ndarray]:
    """Spec §4 terms per (split, neuroid, bin), bootstrap means. ``Yt`` (stim, neuroid, bin,
    trial); ``X`` (stim, unit, bin)."""
    n_neur, n_bins = Yt.shape[1:3]
    # spec: neural-evaluation.md §4, in every time bin
    sums = _TermSums((len(splits), n_neur, n_bins), _bin_r, _bin_r_maps)
    if numerator == "full":
        y_full = _nanmean(Yt, axis=3)
        preds = _fit_predict_bins(
            mapping, X, [y_full[:, cols] for cols in groups], splits, time_varying
        )
        sums.use_full_numerator(preds, y_full, splits, groups)

    _add_feature_bootstraps(
        sums,
        Yt,
        perms,
        groups,
        splits,
        split_half,
        lambda Ys: _fit_predict_bins(mapping, X, Ys, splits, time_varying),
    )
    return sums.means()


def temporal_inter_animal_consistency(
    Y: Any,
    animal: Sequence[str],
    mapping: Any = "pls",
    *,
    time_bins: Any = None,
    **kwargs: Any,
) -> TemporalScore:
    """The ceiling over time: :func:`inter_animal_consistency` in every time bin.

    Every bin uses the same splits and trial permutations (the same ``seed``), so per-bin
    model scores and ceilings are paired.

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial, time_bin)
    animal : sequence of str, shape (neuroid,)
    mapping : str or sklearn regressor (not ``"rsa"``)
    time_bins : array (time_bin, 2), optional
        ``(start_ms, end_ms)`` per bin, for the record.
    **kwargs
        Passed to :func:`inter_animal_consistency` (``design``, ``n_splits``,
        ``train_fraction``, ``n_bootstraps``, ``seed``, ``splits``, ``numerator``,
        ``split_half``, ...).

    Returns
    -------
    TemporalScore
        ``raw`` (neuroid, time_bin) and the pooled consistency Score of every bin.
    """
    # spec: neural-evaluation.md §5, per time bin
    if isinstance(mapping, str) and mapping == "rsa":
        raise ValueError("the ceiling over time takes a regression mapping (pls, ridge, ...)")
    Y = _as_time_responses(Y)
    n_bins = Y.shape[3]
    bins = None if time_bins is None else np.asarray(time_bins, dtype=float).reshape(n_bins, 2)
    per_bin = []
    for b in range(n_bins):
        score = inter_animal_consistency(Y[..., b], animal, mapping, **kwargs).score
        if bins is not None:
            score.provenance["time_bin"] = [float(v) for v in bins[b]]
        score.provenance["bin"] = b
        per_bin.append(score)
    raw = np.stack([s.raw for s in per_bin], axis=1)
    return TemporalScore(
        raw=raw,
        per_bin=per_bin,
        time_bins=bins,
        metric="temporal_inter_animal_consistency",
        parameters=dict(per_bin[0].parameters),
        provenance={
            "n_stimuli": int(Y.shape[0]),
            "n_neuroids": int(Y.shape[1]),
            "n_time_bins": n_bins,
            "center": "pooled inter-animal consistency (median over neuroids) in every bin",
        },
    )
