"""How well model units account for recorded entorhinal cells, and what the tuned units do.

A model unit "explains" a recorded cell when a linear combination of model rate maps predicts
the cell's rate map in spatial bins the fit never saw (spec: mouse-and-entorhinal.md §2,
"Mapping model units to recorded cells"): ridge regression (alpha 1) is fitted on a random
20 % of the bins and tested on the other 80 %, over 10 random splits; a cell's score is the
Pearson r between predicted and recorded maps on the test bins, averaged over splits, and a
population's score is the median over cells. The same procedure from the pooled cells of the
other animals to each animal's cells gives the inter-animal ceiling, the score a perfect model
of "a typical animal" would reach. Grid- and border-score distributions of model and data are
compared with a two-sample Kolmogorov-Smirnov test, and an ablation silences the units above
a grid- or border-score threshold to see whether path integration leans on them more than on
as many random units.

Maps are flattened to ``(cells, bins)`` (``RateMaps.rates.reshape(N, -1)``), so model units
and recorded cells go through the same code. Bins are the regression's samples: only bins
visited in every source and target map are used (NaN anywhere drops the bin); the count is
reported. Conventions: the maps are not standardised (scikit-learn ``Ridge`` with an
intercept on the raw maps), a cell whose test map is constant scores NaN and is left out of
the median (counted), and splits come from ``numpy.random.default_rng(seed)``.

The regression reuses the project's mappings (:func:`brainlike.analysis.mapping.fit_predict_splits`
with :class:`~brainlike.analysis.mapping.RidgeMapping`: every target cell of a split in one
solve) and Pearson r from :func:`brainlike.analysis.neural.reliability.pearson_columns`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from brainlike.analysis.mapping import RidgeMapping, fit_predict_splits
from brainlike.analysis.neural.reliability import pearson_columns

__all__ = [
    "AblationEffect",
    "DistributionMatch",
    "InterAnimalCeiling",
    "MappingScore",
    "ablation_effect",
    "bin_splits",
    "inter_animal_ceiling",
    "map_units_to_cells",
    "score_distribution_match",
]

# spec: mouse-and-entorhinal.md §2 — ridge alpha 1, 20 % of bins to train, 10 splits
TRAIN_FRACTION = 0.2
SPLITS = 10
ALPHA = 1.0
N_BOOTSTRAP = 1000  #: resamples of the cells behind the s.e. of the median


@dataclass(frozen=True)
class MappingScore:
    """Held-out Pearson r of a ridge mapping from source maps to each target cell.

    Attributes
    ----------
    per_cell : (Nt,) Pearson r on the test bins, averaged over splits; NaN for a cell whose
        test map was constant in every split.
    per_split : (splits, Nt) the r of every split.
    median : median of ``per_cell`` over the scored (finite) cells.
    median_se : bootstrap standard error of the median (s.d. of the median over
        :data:`N_BOOTSTRAP` resamples of the scored cells with replacement).
    n_cells, n_scored : target cells, and those with a finite r.
    bins_used, bins_dropped : bins jointly visited by all maps, and bins dropped for a NaN in
        any source or target map.
    train_fraction, splits, alpha, seed : the conventions of the fit.
    """

    per_cell: np.ndarray
    per_split: np.ndarray
    median: float
    median_se: float
    n_cells: int
    n_scored: int
    bins_used: int
    bins_dropped: int
    train_fraction: float
    splits: int
    alpha: float
    seed: int


@dataclass(frozen=True)
class InterAnimalCeiling:
    """Pooled-source inter-animal mapping: each animal's cells predicted from all the others'.

    Attributes
    ----------
    per_animal : the :class:`MappingScore` of each target animal.
    per_cell : all target cells' r, animals in the order of ``per_animal``.
    median : median of ``per_cell`` over scored cells (the ceiling).
    median_se : bootstrap s.e. of that median over cells.
    """

    per_animal: dict[Hashable, MappingScore]
    per_cell: np.ndarray
    median: float
    median_se: float

    def fraction(self, model: MappingScore | float) -> float:
        """A model's median r over this ceiling (1 = as good as another animal)."""
        value = model.median if isinstance(model, MappingScore) else float(model)
        return float(value / self.median) if self.median != 0 else float("nan")


@dataclass(frozen=True)
class DistributionMatch:
    """Two-sample Kolmogorov-Smirnov comparison of model and data scores.

    ``statistic`` is the largest gap between the two empirical CDFs; ``pvalue`` from
    ``scipy.stats.ks_2samp`` (two-sided, method "auto"). ``n_*`` count the finite values
    used, ``dropped_*`` the NaN/inf values left out.
    """

    statistic: float
    pvalue: float
    n_model: int
    n_data: int
    dropped_model: int
    dropped_data: int


@dataclass(frozen=True)
class AblationEffect:
    """Decoding error with the tuned units silenced, against as many random units.

    Attributes
    ----------
    baseline : error with no unit silenced.
    targeted : error with ``units`` (score above ``threshold``) silenced.
    random : (n_random,) error with each random draw silenced.
    random_units : (n_random, len(units)) the unit indices of each draw.
    random_mean, random_sd : mean and s.d. (ddof=1; 0 for one draw) of ``random``.
    targeted_minus_baseline, random_minus_baseline : the increase of the error.
    targeted_minus_random : ``targeted - random_mean``; positive when the tuned units matter
        more than random ones.
    units : indices of the silenced tuned units.
    n_units : units in the layer.
    threshold : the score threshold.
    notes : caveats of this result (e.g. every unit passed, so random = targeted).
    """

    baseline: float
    targeted: float
    random: np.ndarray
    random_units: np.ndarray
    random_mean: float
    random_sd: float
    targeted_minus_baseline: float
    random_minus_baseline: float
    targeted_minus_random: float
    units: np.ndarray
    n_units: int
    threshold: float
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# input checks


def _as_maps(maps: Any, name: str) -> np.ndarray:
    arr = np.asarray(maps, dtype=np.float64)
    if arr.ndim != 2:
        raise ValueError(
            f"{name} has shape {arr.shape}; give rate maps flattened to (cells, bins), "
            f"e.g. rate_maps.rates.reshape(len(rates), -1)"
        )
    if arr.shape[0] < 1 or arr.shape[1] < 1:
        raise ValueError(f"{name} has shape {arr.shape}; it needs at least one cell and one bin")
    return arr


def _check_conventions(train_fraction: float, splits: int, alpha: float) -> None:
    if not (isinstance(train_fraction, (int, float)) and 0 < train_fraction < 1):
        raise ValueError(
            f"train_fraction is {train_fraction!r}; it must lie in (0, 1) (the spec uses 0.2)"
        )
    if isinstance(splits, bool) or not isinstance(splits, (int, np.integer)) or splits < 1:
        raise ValueError(f"splits is {splits!r}; it must be a positive integer (the spec uses 10)")
    if not (isinstance(alpha, (int, float)) and math.isfinite(alpha) and alpha >= 0):
        raise ValueError(f"alpha is {alpha!r}; it must be a finite number >= 0 (the spec uses 1)")


def bin_splits(
    n_bins: int, train_fraction: float = TRAIN_FRACTION, splits: int = SPLITS, seed: int = 0
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random train/test splits of the spatial bins (sorted index arrays).

    Parameters
    ----------
    n_bins : bins available (the jointly visited ones).
    train_fraction : fraction of bins to train on, rounded to the nearest count (at least 2,
        and at least 2 bins left to test).
    splits : number of splits.
    seed : seed of ``numpy.random.default_rng``; split ``s`` is the ``s``-th permutation drawn.

    Returns
    -------
    list of ``splits`` pairs (train (n_train,), test (n_bins - n_train,)).
    """
    n_train = int(round(train_fraction * n_bins))
    if n_train < 2 or n_bins - n_train < 2:
        raise ValueError(
            f"{n_bins} jointly visited bins give {n_train} training and {n_bins - n_train} test "
            f"bins at train_fraction {train_fraction}; each needs at least 2 (use finer bins, "
            f"more coverage, or another train_fraction)"
        )
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(splits):
        order = rng.permutation(n_bins)
        out.append((np.sort(order[:n_train]), np.sort(order[n_train:])))
    return out


def _median_se(values: np.ndarray, seed: int) -> float:
    v = values[np.isfinite(values)]
    if v.size < 2:
        return float("nan")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, v.size, size=(N_BOOTSTRAP, v.size))
    return float(np.median(v[idx], axis=1).std(ddof=1))


def _nan_median(values: np.ndarray) -> float:
    v = values[np.isfinite(values)]
    return float(np.median(v)) if v.size else float("nan")


# ---------------------------------------------------------------------------------------------
# mapping and ceiling


def map_units_to_cells(
    source: Any,
    target: Any,
    *,
    train_fraction: float = TRAIN_FRACTION,
    splits: int = SPLITS,
    alpha: float = ALPHA,
    seed: int = 0,
) -> MappingScore:
    """Ridge-map source rate maps onto each target cell's map; held-out Pearson r per cell.

    Parameters
    ----------
    source : (Ns, bins) source maps (model units, or another animal's cells); bins are the
        flattened spatial bins, NaN where unvisited.
    target : (Nt, bins) recorded cells' maps on the same bins.
    train_fraction : fraction of the jointly visited bins to fit on (spec: 0.2).
    splits : random train/test splits (spec: 10).
    alpha : ridge penalty (spec: 1), on the raw (unstandardised) maps, with an intercept.
    seed : seed of the splits and of the bootstrap over cells.

    Returns
    -------
    MappingScore
        Per-cell r (mean over splits), its median over cells and the bootstrap s.e.
    """
    # spec: mouse-and-entorhinal.md §2, "Mapping model units to recorded cells"
    src = _as_maps(source, "source")
    tgt = _as_maps(target, "target")
    if src.shape[1] != tgt.shape[1]:
        raise ValueError(
            f"source has {src.shape[1]} bins and target {tgt.shape[1]}; both must be maps on "
            f"the same spatial bins (same arena and bin size)"
        )
    _check_conventions(train_fraction, splits, alpha)
    keep = np.isfinite(src).all(axis=0) & np.isfinite(tgt).all(axis=0)
    n_kept = int(keep.sum())
    split_list = bin_splits(n_kept, train_fraction, int(splits), seed)
    X = np.ascontiguousarray(src[:, keep].T)  # (bins, Ns): bins are the samples
    Y = np.ascontiguousarray(tgt[:, keep].T)
    preds = fit_predict_splits(RidgeMapping(alpha=float(alpha)), X, [Y], split_list)
    per_split = np.stack(
        [
            np.atleast_1d(pearson_columns(pred[0], Y[test]))
            for pred, (_, test) in zip(preds, split_list, strict=True)
        ]
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN cells stay NaN
        per_cell = np.nanmean(per_split, axis=0)
    return MappingScore(
        per_cell=per_cell,
        per_split=per_split,
        median=_nan_median(per_cell),
        median_se=_median_se(per_cell, seed),
        n_cells=int(tgt.shape[0]),
        n_scored=int(np.isfinite(per_cell).sum()),
        bins_used=n_kept,
        bins_dropped=int(keep.size - n_kept),
        train_fraction=float(train_fraction),
        splits=int(splits),
        alpha=float(alpha),
        seed=int(seed),
    )


def inter_animal_ceiling(
    maps_by_animal: Mapping[Hashable, Any],
    *,
    train_fraction: float = TRAIN_FRACTION,
    splits: int = SPLITS,
    alpha: float = ALPHA,
    seed: int = 0,
) -> InterAnimalCeiling:
    """The inter-animal ceiling: each animal's cells mapped from the pooled cells of the others.

    Parameters
    ----------
    maps_by_animal : animal -> (N_a, bins) rate maps on shared bins (at least two animals).
    train_fraction, splits, alpha, seed : as in :func:`map_units_to_cells` (the same seed for
        every target animal).

    Returns
    -------
    InterAnimalCeiling
        Per-animal scores, all cells' r and their median; compare a model's median (mapped to
        the same cells with the same conventions) with :meth:`InterAnimalCeiling.fraction`.
    """
    # spec: mouse-and-entorhinal.md §2 — "the inter-animal version with a pooled source"
    if not isinstance(maps_by_animal, Mapping) or len(maps_by_animal) < 2:
        raise ValueError(
            "maps_by_animal must map at least two animals to (cells, bins) rate maps; the "
            "ceiling predicts each animal from the others"
        )
    maps = {a: _as_maps(m, f"maps_by_animal[{a!r}]") for a, m in maps_by_animal.items()}
    bins = {m.shape[1] for m in maps.values()}
    if len(bins) != 1:
        sizes = ", ".join(f"{a!r}: {m.shape[1]}" for a, m in maps.items())
        raise ValueError(f"animals' maps have different bin counts ({sizes}); bin them alike")
    per_animal = {}
    for animal, target in maps.items():
        pooled = np.concatenate([m for a, m in maps.items() if a != animal], axis=0)
        per_animal[animal] = map_units_to_cells(
            pooled, target, train_fraction=train_fraction, splits=splits, alpha=alpha, seed=seed
        )
    per_cell = np.concatenate([s.per_cell for s in per_animal.values()])
    return InterAnimalCeiling(
        per_animal=per_animal,
        per_cell=per_cell,
        median=_nan_median(per_cell),
        median_se=_median_se(per_cell, seed),
    )


# ---------------------------------------------------------------------------------------------
# score distributions


def score_distribution_match(model_scores: Any, data_scores: Any) -> DistributionMatch:
    """Kolmogorov-Smirnov two-sample test between model and data scores (e.g. grid scores).

    Parameters
    ----------
    model_scores, data_scores : 1-d scores; NaN (unscored maps) and inf are dropped and counted.

    Returns
    -------
    DistributionMatch
        KS statistic, p-value and the counts used and dropped.
    """
    # spec: mouse-and-entorhinal.md §2 — distribution match of grid/border scores (KS)
    m = np.asarray(model_scores, dtype=np.float64).ravel()
    d = np.asarray(data_scores, dtype=np.float64).ravel()
    m_ok, d_ok = m[np.isfinite(m)], d[np.isfinite(d)]
    if m_ok.size == 0 or d_ok.size == 0:
        raise ValueError(
            f"the KS test needs finite scores on both sides; model has {m_ok.size} of {m.size}, "
            f"data {d_ok.size} of {d.size} (all others NaN or inf)"
        )
    res = stats.ks_2samp(m_ok, d_ok)
    return DistributionMatch(
        statistic=float(res.statistic),
        pvalue=float(res.pvalue),
        n_model=int(m_ok.size),
        n_data=int(d_ok.size),
        dropped_model=int(m.size - m_ok.size),
        dropped_data=int(d.size - d_ok.size),
    )


# ---------------------------------------------------------------------------------------------
# ablation


def ablation_effect(
    decode_error: Callable[[Sequence[int] | None], float],
    scores: Any,
    *,
    threshold: float,
    n_random: int = 10,
    seed: int = 0,
) -> AblationEffect:
    """Silence the units scoring above ``threshold`` and as many random units; compare errors.

    Parameters
    ----------
    decode_error : ``decode_error(None)`` is the decoding error of the intact network;
        ``decode_error(units)`` the error with those unit indices silenced (held at 0).
    scores : (n_units,) a score per unit (e.g. grid or border score); NaN never passes.
    threshold : a unit is tuned when its score is strictly above this (grid 0.3, border 0.5).
    n_random : random draws; each silences ``len(units)`` distinct units drawn uniformly from
        all units (tuned ones included, so the control is "any units").
    seed : seed of ``numpy.random.default_rng`` for the draws.

    Returns
    -------
    AblationEffect
        Baseline, targeted and random errors and their differences.

    Raises
    ------
    ValueError
        When no unit scores above the threshold: there is nothing to ablate, and a NaN effect
        would read as a result.
    """
    # spec: mouse-and-entorhinal.md §2, "Ablations"
    s = np.asarray(scores, dtype=np.float64)
    if s.ndim != 1 or s.size == 0:
        raise ValueError(f"scores has shape {s.shape}; give one score per unit, shape (n_units,)")
    if not callable(decode_error):
        raise ValueError("decode_error must be a function of the silenced units (None = intact)")
    if not (isinstance(threshold, (int, float)) and math.isfinite(threshold)):
        raise ValueError(f"threshold is {threshold!r}; give a finite score (e.g. 0.3 for grid)")
    if isinstance(n_random, bool) or not isinstance(n_random, (int, np.integer)) or n_random < 1:
        raise ValueError(f"n_random is {n_random!r}; it must be a positive integer (e.g. 10)")
    with np.errstate(invalid="ignore"):
        units = np.flatnonzero(s > threshold)
    if units.size == 0:
        best = np.nanmax(s) if np.isfinite(s).any() else float("nan")
        raise ValueError(
            f"no unit scores above {threshold} (best {best:.3g} of {s.size}); nothing to ablate: "
            f"lower the threshold or use a network with tuned units"
        )
    rng = np.random.default_rng(seed)
    draws = np.stack(
        [np.sort(rng.choice(s.size, size=units.size, replace=False)) for _ in range(n_random)]
    )
    baseline = float(decode_error(None))
    targeted = float(decode_error(units.tolist()))
    random = np.array([float(decode_error(d.tolist())) for d in draws])
    random_mean = float(random.mean())
    random_sd = float(random.std(ddof=1)) if n_random > 1 else 0.0
    notes = []
    if units.size == s.size:
        notes.append("every unit passes the threshold: the random draws silence the same units")
    return AblationEffect(
        baseline=baseline,
        targeted=targeted,
        random=random,
        random_units=draws,
        random_mean=random_mean,
        random_sd=random_sd,
        targeted_minus_baseline=targeted - baseline,
        random_minus_baseline=random_mean - baseline,
        targeted_minus_random=targeted - random_mean,
        units=units,
        n_units=int(s.size),
        threshold=float(threshold),
        notes=notes,
    )
