"""Comparing models with neural recordings: reliability, predictivity, consistency, RSA, CKA.

Pure numpy functions of arrays (no model imports), following shared/spec/neural-evaluation.md.
Conventions:

- ``Y``: responses of one area, shape (stimulus, neuroid, trial), float; missing (ragged)
  trials are NaN. Every estimator uses the available trials of each stimulus and neuroid and
  reports the trial counts in the provenance of its :class:`~brainlike.analysis.score.Score`.
- ``X``: model features (or a source population), shape (stimulus, unit).
- ``mapping``: a name understood by :func:`brainlike.analysis.mapping.make_mapping`
  (``"pls"``, ``"ridge"``, ``"ridgecv"``, ``"linreg"``, ``"one_to_one"``, ...) or any
  scikit-learn regressor. Fitting goes through
  :func:`brainlike.analysis.mapping.fit_predict_splits`, which reuses work across splits and
  targets.
- Randomness: every function takes ``seed`` (int, SeedSequence or Generator).

Two families of estimators live here:

1. The mouse-work estimators (spec §2, §4-§6): split-half reliability, noise-corrected
   predictivity (the same estimator for a model or for a source animal), inter-animal
   consistency (the ceiling), noise-corrected RSA, CKA.
2. Brain-Score conventions (spec §10), so numbers can be compared with its leaderboard:
   stratified 90/10 splits with seed 1, raw Pearson r with median over neuroids then mean over
   splits, internal-consistency ceiling, three ceiling conventions, RSA with subject ceilings.

Neural fits over time (recurrent.md §2) take time-binned responses ``(stimulus, neuroid,
trial, time_bin)`` and time-resolved features ``(stimulus, unit, time)``:
:func:`assign_layers` (one layer per area, from time-averaged data),
:func:`temporal_predictivity` (a temporally fixed mapping scored in every bin, plain or
noise-corrected; a time-varying mapping for comparison) and
:func:`temporal_inter_animal_consistency` (the ceiling in every bin).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brainlike.analysis.score import Score, _json_safe

__all__ = [
    "CEILING_CONVENTIONS",
    "InterAnimalConsistency",
    "LayerAssignment",
    "SPLIT_HALF_CONVENTIONS",
    "TemporalScore",
    "assign_layers",
    "brainscore_internal_consistency",
    "brainscore_predictivity",
    "brainscore_rsa",
    "brainscore_splits",
    "ceiled_score",
    "compare_rdms",
    "inter_animal_consistency",
    "linear_cka",
    "noise_corrected_predictivity",
    "noise_corrected_rsa",
    "pearson_columns",
    "plain_predictivity",
    "rdm",
    "rsa",
    "select_reliable_neuroids",
    "spearman_brown",
    "split_half_reliability",
    "temporal_inter_animal_consistency",
    "temporal_predictivity",
    "time_average_features",
    "train_test_splits",
]

CEILING_CONVENTIONS = ("r2_over_ceiling", "squared_ratio", "ratio")
"""Brain-Score ceiling conventions: r^2 / c (since January 2026), (r / c)^2 (before), r / c
(first version). Spec: neural-evaluation.md §10."""

SPLIT_HALF_CONVENTIONS = ("unequal", "equal")
"""How a stimulus with an odd number ``n`` of available trials is halved. ``"unequal"`` (the
default): the first ``(n - 1) / 2`` trials in permuted order against the other ``(n + 1) / 2``.
``"equal"``: the first ``(n - 1) / 2`` against the next ``(n - 1) / 2``, leaving out the last
trial of the permutation (one random trial). Even counts halve alike under both; equal halves
read a little lower (about 0.01 in split-half reliability on real data)."""

Seed = int | np.random.SeedSequence | np.random.Generator | None

# Bootstraps whose target arrays together stay under this many floats go through one
# fit_predict_splits call (the PLS fast path shares work across them).
_BATCH_FLOATS = 4_000_000

_SEM_NOTE = "s.e.m. over {what}: std (ddof=1) / sqrt(number of finite values)"
_BS_SEM_NOTE = "standard error over {what}: std (ddof=0) / sqrt(n), as in Brain-Score"


# --------------------------------------------------------------------------------------------
# small building blocks
# --------------------------------------------------------------------------------------------


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _streams(seed: Seed, n: int) -> list[np.random.Generator]:
    """Independent generators for independent jobs (splits, trial halves) from one seed."""
    if isinstance(seed, np.random.Generator):
        if hasattr(seed, "spawn"):  # numpy >= 1.25
            return list(seed.spawn(n))
        seed = np.random.SeedSequence(seed.integers(2**63, size=4))
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in sequence.spawn(n)]


def _nanmean(x: np.ndarray, axis: Any = None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(x, axis=axis)


def _nanmedian(x: np.ndarray, axis: Any = None) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmedian(x, axis=axis)


def _sem(values: np.ndarray) -> float:
    """Standard error of the mean over the finite values (std with ddof=1 / sqrt(n))."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size < 2:
        return float("nan")
    return float(v.std(ddof=1) / np.sqrt(v.size))


def _brainscore_error(values: np.ndarray) -> float:
    """Brain-Score's standard error over splits: std (ddof=0) / sqrt(number of splits)."""
    v = np.asarray(values, dtype=float)
    return float(np.nanstd(v) / np.sqrt(v.size)) if v.size else float("nan")


def _as_responses(Y: Any, name: str = "Y", allow_time: bool = False) -> np.ndarray:
    arr = np.asarray(Y, dtype=np.float64)
    dims = (3, 4) if allow_time else (3,)
    if arr.ndim not in dims:
        hint = (
            "trial-averaged responses cannot give split halves; pass the single trials"
            if arr.ndim == 2
            else "select or average time bins first (Y[..., t] or np.nanmean(Y, axis=3))"
            if arr.ndim == 4
            else "reshape it"
        )
        raise ValueError(
            f"{name} must be a (stimulus, neuroid, trial) array; got shape {arr.shape}; {hint}"
        )
    if arr.shape[0] < 3 or arr.shape[1] < 1:
        raise ValueError(
            f"{name} has shape {arr.shape}; need at least 3 stimuli and 1 neuroid to correlate"
        )
    if np.isinf(arr).any():
        raise ValueError(f"{name} contains inf values; only NaN (missing trial) is allowed")
    return arr


def _as_features(X: Any, n_stimuli: int, name: str = "X") -> np.ndarray:
    arr = np.asarray(X)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(
            f"{name} must be a (stimulus, unit) array; got shape {arr.shape}; flatten the "
            "unit axes first (X.reshape(len(X), -1))"
        )
    if arr.shape[0] != n_stimuli:
        raise ValueError(
            f"{name} has {arr.shape[0]} stimuli but the responses have {n_stimuli}; both must "
            "list the same stimuli in the same order"
        )
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values; drop or impute those units first")
    return arr.astype(np.float64, copy=False)


def _trial_counts(Y: np.ndarray) -> np.ndarray:
    return np.sum(~np.isnan(Y), axis=-1)


def _check_min_trials(
    Y: np.ndarray,
    name: str = "Y",
    stimulus_ids: Sequence[Any] | None = None,
    minimum: int = 2,
) -> np.ndarray:
    """Raise a readable error when a stimulus has fewer than ``minimum`` trials; return counts."""
    counts = _trial_counts(Y)
    bad = counts < minimum
    if bad.any():
        s, n = (int(i) for i in np.argwhere(bad)[0])
        label = f"{stimulus_ids[s]!r} (index {s})" if stimulus_ids is not None else f"{s}"
        raise ValueError(
            f"{name} has {Y.shape[-1]} trial slots per stimulus; split-half estimates need at "
            f"least {minimum} non-NaN trials for every stimulus and neuroid (stimulus {label} "
            f"has {int(counts[s, n])} for neuroid {n}; {int(bad.sum())} stimulus-neuroid pairs "
            "in all); drop those stimuli or neuroids first"
        )
    return counts


def _trial_summary(counts: np.ndarray) -> dict:
    return {
        "trials_min": int(counts.min()),
        "trials_median": float(np.median(counts)),
        "trials_max": int(counts.max()),
        "ragged": bool(counts.min() != counts.max()),
    }


def _trial_permutations(n_trials: int, n_bootstraps: int, seed: Seed) -> list[np.ndarray]:
    """One trial permutation per bootstrap, applied to every stimulus (spec §2)."""
    if n_bootstraps < 1:
        raise ValueError(f"n_bootstraps must be at least 1; got {n_bootstraps}")
    rng = _rng(seed)
    return [rng.permutation(n_trials) for _ in range(n_bootstraps)]


def _check_split_half(split_half: str) -> None:
    if split_half not in SPLIT_HALF_CONVENTIONS:
        raise ValueError(f"split_half must be one of {SPLIT_HALF_CONVENTIONS}; got {split_half!r}")


def _half_averages(
    Y: np.ndarray, perm: np.ndarray, split_half: str = "unequal"
) -> tuple[np.ndarray, np.ndarray]:
    """Average the two halves of each stimulus' available trials in permuted order.

    The first ``n // 2`` available trials (in the order ``perm``) of every stimulus and neuroid
    form half 1; half 2 is the rest (``split_half="unequal"``) or the next ``n // 2``
    (``"equal"``: with odd ``n`` the last trial in permuted order is left out). Without NaN and
    unequal halves this is ``Y[..., perm[:T // 2]]`` vs the rest.
    """
    # spec: neural-evaluation.md §2 (one permutation per bootstrap, applied to all stimuli);
    # the odd-count convention: SPLIT_HALF_CONVENTIONS
    Yp = Y[..., perm]
    available = ~np.isnan(Yp)
    if available.all():
        h = Yp.shape[-1] // 2
        end = 2 * h if split_half == "equal" else Yp.shape[-1]
        return Yp[..., :h].mean(axis=-1), Yp[..., h:end].mean(axis=-1)
    position = np.cumsum(available, axis=-1) - 1
    half = available.sum(axis=-1, keepdims=True) // 2
    first = available & (position < half)
    second = available & ~first
    if split_half == "equal":
        second &= position < 2 * half
    values = np.where(available, Yp, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        y1 = (values * first).sum(axis=-1) / first.sum(axis=-1)
        y2 = (values * second).sum(axis=-1) / second.sum(axis=-1)
    return y1, y2


def _pad_trials(Y: np.ndarray, n_trials: int) -> np.ndarray:
    if Y.shape[-1] == n_trials:
        return Y
    pad = [(0, 0)] * (Y.ndim - 1) + [(0, n_trials - Y.shape[-1])]
    return np.pad(Y, pad, constant_values=np.nan)


def _resolve_mapping(mapping: Any) -> tuple[Any, str]:
    """A mapping estimator and its name from a name or an estimator."""
    if isinstance(mapping, str):
        if mapping == "rsa":
            raise ValueError(
                "'rsa' is not a regression mapping; use noise_corrected_rsa (or "
                "inter_animal_consistency(..., mapping='rsa'))"
            )
        from brainlike.analysis.mapping import make_mapping

        return make_mapping(mapping), mapping
    if not (hasattr(mapping, "fit") and hasattr(mapping, "predict")):
        raise TypeError(
            "mapping must be a mapping name (e.g. 'pls', 'ridge') or a scikit-learn regressor "
            f"with fit/predict; got {type(mapping).__name__}"
        )
    return mapping, type(mapping).__name__


def _fit_predict(mapping: Any, X: np.ndarray, Ys: list[np.ndarray], splits: list) -> list:
    from brainlike.analysis.mapping import fit_predict_splits

    return fit_predict_splits(mapping, X, Ys, splits)


# --------------------------------------------------------------------------------------------
# correlation, Spearman-Brown, reliability
# --------------------------------------------------------------------------------------------


def spearman_brown(r: Any, n: float = 2.0) -> Any:
    """Spearman-Brown prophecy: reliability of ``n`` times as many trials, ``n r / (1 + (n-1) r)``.

    With ``n = 2`` this corrects a split-half correlation to the full number of trials:
    ``SB(r) = 2 r / (1 + r)``. ``r = -1 / (n - 1)`` gives NaN.

    Parameters
    ----------
    r : float or ndarray
    n : float

    Returns
    -------
    float or ndarray, same shape as ``r``
    """
    # spec: neural-evaluation.md (preamble): SB(r) = 2r / (1 + r)
    r_arr = np.asarray(r, dtype=float)
    denominator = 1.0 + (n - 1.0) * r_arr
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denominator == 0, np.nan, n * r_arr / denominator)
    return float(out) if out.ndim == 0 else out


def pearson_columns(a: Any, b: Any, nan_policy: str = "propagate") -> Any:
    """Pearson r between matching columns of ``a`` and ``b`` (correlation along axis 0).

    Parameters
    ----------
    a, b : ndarray, shape (n, ...)
        Same shape; e.g. (stimulus, neuroid) predictions and responses.
    nan_policy : {"propagate", "omit"}
        ``"omit"`` correlates each column over the rows where both are finite.

    Returns
    -------
    ndarray, shape (...), or float for 1-d inputs. NaN where a column is constant (or has
    fewer than 2 usable rows).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    if nan_policy not in ("propagate", "omit"):
        raise ValueError(f"nan_policy must be 'propagate' or 'omit'; got {nan_policy!r}")
    if nan_policy == "omit":
        mask = np.isfinite(a) & np.isfinite(b)
        n = mask.sum(axis=0)
        a0, b0 = np.where(mask, a, 0.0), np.where(mask, b, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ac = np.where(mask, a0 - a0.sum(axis=0) / n, 0.0)
            bc = np.where(mask, b0 - b0.sum(axis=0) / n, 0.0)
        scale_a, scale_b = np.abs(a0).max(axis=0), np.abs(b0).max(axis=0)
    else:
        n = np.full(a.shape[1:], a.shape[0])
        ac, bc = a - a.mean(axis=0), b - b.mean(axis=0)
        scale_a, scale_b = np.abs(a).max(axis=0), np.abs(b).max(axis=0)
    norm_a = np.sqrt((ac * ac).sum(axis=0))
    norm_b = np.sqrt((bc * bc).sum(axis=0))
    # a column whose spread is rounding noise relative to its values is constant
    root_n = np.sqrt(np.maximum(n, 1))
    constant = (norm_a <= 1e-12 * scale_a * root_n) | (norm_b <= 1e-12 * scale_b * root_n)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ac * bc).sum(axis=0) / (norm_a * norm_b)
    r = np.where(constant | (n < 2), np.nan, r)
    return float(r) if np.ndim(r) == 0 else r


def split_half_reliability(
    Y: Any,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    stimulus_ids: Sequence[Any] | None = None,
    split_half: str = "unequal",
) -> np.ndarray:
    """Spearman-Brown-corrected split-half reliability per neuroid (spec §2).

    Each bootstrap draws one permutation of the trial slots, applied to every stimulus; each
    stimulus splits its own available (non-NaN) trials in that order: the first ``n // 2``
    form half 1, the rest half 2. Reliability = SB(r(Y1, Y2)) across stimuli, averaged over
    bootstraps (NaN bootstraps, e.g. a neuroid constant in one half, are skipped).

    Odd trial counts: by default (``split_half="unequal"``) a stimulus with 5 trials averages
    2 trials against the other 3. ``split_half="equal"`` averages 2 against 2 and leaves out
    the fifth trial of the permutation (a random one); this reads slightly lower (about 0.01 on
    real data). Both apply SB with factor 2. Even counts are halved alike either way.

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial) or (stimulus, neuroid, trial, time_bin)
    n_bootstraps : int
        Number of random halvings (100 in the mouse work, 900 in the primate work).
    seed : int, SeedSequence or Generator
        Permutations are ``rng.permutation(n_trials)`` for each bootstrap in turn, with
        ``rng = np.random.default_rng(seed)``.
    stimulus_ids : sequence, optional
        Used only to name a stimulus in the error for too few trials.
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`).

    Returns
    -------
    ndarray, shape (neuroid,) (or (neuroid, time_bin) for 4-d input)
    """
    # spec: neural-evaluation.md §2
    _check_split_half(split_half)
    arr = _as_responses(Y, allow_time=True)
    if arr.ndim == 4:  # each time bin is its own "neuroid"; trials move to the last axis
        s, n, t, b = arr.shape
        flat = np.moveaxis(arr, 2, 3).reshape(s, n * b, t)
        rel = split_half_reliability(flat, n_bootstraps, seed, stimulus_ids, split_half)
        return rel.reshape(n, b)
    _check_min_trials(arr, stimulus_ids=stimulus_ids)
    total = np.zeros(arr.shape[1])
    valid = np.zeros(arr.shape[1])
    for perm in _trial_permutations(arr.shape[2], n_bootstraps, seed):
        y1, y2 = _half_averages(arr, perm, split_half)
        rel = spearman_brown(pearson_columns(y1, y2))
        ok = np.isfinite(rel)
        total += np.where(ok, rel, 0.0)
        valid += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid > 0, total / valid, np.nan)


def select_reliable_neuroids(
    Y: Any,
    threshold: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    animal: Sequence[str] | None = None,
    min_per_animal: int = 0,
    split_half: str = "unequal",
) -> np.ndarray:
    """Neuroids whose split-half reliability passes ``threshold`` (spec §1, mouse work).

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial)
    threshold : float
        0.5 in the Neuropixels work, 0.75 for calcium imaging.
    n_bootstraps, seed
        Passed to :func:`split_half_reliability`.
    animal : sequence of str, shape (neuroid,), optional
        With ``min_per_animal``: also drop every neuroid of an animal that keeps fewer than
        ``min_per_animal`` reliable neuroids.
    min_per_animal : int
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:func:`split_half_reliability`).

    Returns
    -------
    ndarray of bool, shape (neuroid,)
    """
    reliability = split_half_reliability(
        Y, n_bootstraps=n_bootstraps, seed=seed, split_half=split_half
    )
    keep = np.nan_to_num(reliability, nan=-np.inf) >= threshold
    if animal is not None and min_per_animal > 0:
        labels = np.asarray(animal)
        if labels.shape != keep.shape:
            raise ValueError(f"animal has {labels.size} entries but Y has {keep.size} neuroids")
        for name in np.unique(labels):
            members = labels == name
            if keep[members].sum() < min_per_animal:
                keep[members] = False
    return keep


# --------------------------------------------------------------------------------------------
# train/test splits
# --------------------------------------------------------------------------------------------


def train_test_splits(
    n_stimuli: int,
    n_splits: int = 10,
    train_fraction: float = 0.5,
    seed: Seed = 0,
    stratify: Sequence[Any] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random train/test splits of the stimuli (sorted index arrays).

    Parameters
    ----------
    n_stimuli : int
    n_splits : int
    train_fraction : float
        Fraction of stimuli (of every class, with ``stratify``) used for training.
    seed : int, SeedSequence or Generator
    stratify : sequence, shape (stimulus,), optional
        Class labels; each class is split in the same proportion.

    Returns
    -------
    list of (train_idx, test_idx)
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1; got {train_fraction}")
    rng = _rng(seed)
    splits = []
    if stratify is None:
        n_train = int(round(train_fraction * n_stimuli))
        if n_train < 2 or n_stimuli - n_train < 3:
            raise ValueError(
                f"{n_stimuli} stimuli with train_fraction={train_fraction} leave {n_train} "
                f"training and {n_stimuli - n_train} test stimuli; need at least 2 and 3"
            )
        for _ in range(n_splits):
            perm = rng.permutation(n_stimuli)
            splits.append((np.sort(perm[:n_train]), np.sort(perm[n_train:])))
        return splits
    labels = np.asarray(stratify)
    if labels.shape != (n_stimuli,):
        raise ValueError(
            f"stratify must have one label per stimulus ({n_stimuli}); got {labels.shape}"
        )
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for _ in range(n_splits):
        train = []
        for idx in members:
            perm = rng.permutation(idx)
            train.append(perm[: int(round(train_fraction * len(idx)))])
        train = np.sort(np.concatenate(train))
        test = np.setdiff1d(np.arange(n_stimuli), train)
        if len(train) < 2 or len(test) < 3:
            raise ValueError(
                f"stratified split left {len(train)} training and {len(test)} test stimuli; "
                "need at least 2 and 3"
            )
        splits.append((train, test))
    return splits


def _check_splits(splits: Sequence, n_stimuli: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for i, (train, test) in enumerate(splits):
        train, test = np.asarray(train, dtype=int), np.asarray(test, dtype=int)
        if np.intersect1d(train, test).size:
            raise ValueError(f"split {i} uses some stimuli for training and testing")
        if len(test) < 3 or len(train) < 2:
            raise ValueError(f"split {i} has {len(train)} train / {len(test)} test stimuli")
        if max(train.max(), test.max()) >= n_stimuli or min(train.min(), test.min()) < 0:
            raise ValueError(f"split {i} indexes outside the {n_stimuli} stimuli")
        out.append((train, test))
    if not out:
        raise ValueError("splits is empty; pass at least one (train, test) pair")
    return out


# --------------------------------------------------------------------------------------------
# noise-corrected predictivity and inter-animal consistency (spec §4, §5)
# --------------------------------------------------------------------------------------------


def _corrected(num: np.ndarray, r_map: np.ndarray, r_tgt: np.ndarray) -> np.ndarray:
    """num / sqrt(SB(r_map) SB(r_tgt)); NaN when a denominator term is <= 0 (spec §4)."""
    # spec: neural-evaluation.md §4: score = num / sqrt(SB(r_map) * SB(r_tgt))
    sb_map, sb_tgt = spearman_brown(r_map), spearman_brown(r_tgt)
    ok = (sb_map > 0) & (sb_tgt > 0) & np.isfinite(sb_map) & np.isfinite(sb_tgt)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, num / np.sqrt(np.where(ok, sb_map * sb_tgt, 1.0)), np.nan)


@dataclass
class _Terms:
    """Per-(split, neuroid) bootstrap means of the corrected score and its three terms."""

    score: np.ndarray
    num: np.ndarray
    r_map: np.ndarray
    r_tgt: np.ndarray
    n_bootstraps_used: np.ndarray


def _groups(animal: Sequence[str] | None, n: int) -> list[np.ndarray]:
    if animal is None:
        return [np.arange(n)]
    labels = np.asarray(animal)
    if labels.shape != (n,):
        raise ValueError(f"animal must have one entry per neuroid ({n}); got shape {labels.shape}")
    _, first = np.unique(labels, return_index=True)
    return [np.flatnonzero(labels == labels[i]) for i in np.sort(first)]


_NUMERATORS = ("halves", "full")


def _noise_corrected_terms(
    Y: np.ndarray,
    splits: list,
    perms: list[np.ndarray],
    mapping: Any,
    X: np.ndarray | None = None,
    source: np.ndarray | None = None,
    groups: list[np.ndarray] | None = None,
    numerator: str = "halves",
    split_half: str = "unequal",
) -> _Terms:
    """The spec §4 estimator for all splits and bootstraps; averaged over bootstraps."""
    n_stim, n_neur, _ = Y.shape
    groups = groups or [np.arange(n_neur)]
    n_splits = len(splits)
    shape = (n_splits, n_neur)
    acc = {k: np.zeros(shape) for k in ("score", "num", "r_map", "r_tgt")}
    count = {k: np.zeros(shape) for k in acc}

    full_num = None
    if numerator == "full":
        # r(M(X_test), Y_test) of a map fit on all trials: the same for every bootstrap
        y_full = _nanmean(Y, axis=2)
        x_full = X if source is None else _nanmean(source, axis=2)
        preds = _fit_predict(mapping, x_full, [y_full[:, cols] for cols in groups], splits)
        full_num = np.full(shape, np.nan)
        for s, (_, test) in enumerate(splits):
            for g, cols in enumerate(groups):
                full_num[s, cols] = pearson_columns(preds[s][g], y_full[test][:, cols])

    def add(split: int, cols: np.ndarray, p1, p2, y1t, y2t) -> None:
        # spec: neural-evaluation.md §4: num = r(M1(X1_test), Y2_test),
        # r_map = r(M1(X1_test), M2(X2_test)), r_tgt = r(Y1_test, Y2_test)
        num = pearson_columns(p1, y2t) if full_num is None else full_num[split, cols]
        r_map = pearson_columns(p1, p2)
        r_tgt = pearson_columns(y1t, y2t)
        for key, val in (
            ("score", _corrected(num, r_map, r_tgt)),
            ("num", num),
            ("r_map", r_map),
            ("r_tgt", r_tgt),
        ):
            ok = np.isfinite(val)
            acc[key][split, cols] += np.where(ok, val, 0.0)
            count[key][split, cols] += ok

    if source is None:
        # Model features: X1 = X2 = X, so M1 and M2 of several bootstraps share one call.
        per_boot = 2 * n_stim * n_neur
        batch = max(1, _BATCH_FLOATS // max(per_boot, 1))
        for start in range(0, len(perms), batch):
            halves = [_half_averages(Y, p, split_half) for p in perms[start : start + batch]]
            Ys = [h[k][:, cols] for h in halves for cols in groups for k in (0, 1)]
            preds = _fit_predict(mapping, X, Ys, splits)
            for s, (_, test) in enumerate(splits):
                j = 0
                for y1, y2 in halves:
                    for cols in groups:
                        p1, p2 = preds[s][j], preds[s][j + 1]
                        j += 2
                        add(s, cols, p1, p2, y1[test][:, cols], y2[test][:, cols])
    else:
        # Source animal: X1, X2 are its own half-averages under the same permutation.
        for perm in perms:
            y1, y2 = _half_averages(Y, perm, split_half)
            x1, x2 = _half_averages(source, perm, split_half)
            pred1 = _fit_predict(mapping, x1, [y1[:, cols] for cols in groups], splits)
            pred2 = _fit_predict(mapping, x2, [y2[:, cols] for cols in groups], splits)
            for s, (_, test) in enumerate(splits):
                for g, cols in enumerate(groups):
                    add(s, cols, pred1[s][g], pred2[s][g], y1[test][:, cols], y2[test][:, cols])

    with np.errstate(invalid="ignore", divide="ignore"):
        means = {k: np.where(count[k] > 0, acc[k] / count[k], np.nan) for k in acc}
    return _Terms(n_bootstraps_used=count["score"], **means)


def _prepare_noise_corrected(
    X: Any,
    Y: Any,
    source_trials: Any,
    n_splits: int,
    train_fraction: float,
    n_bootstraps: int,
    seed: Seed,
    splits: Sequence | None,
    stratify: Sequence | None,
):
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    n_stim = Y.shape[0]
    source = None
    if source_trials is not None:
        if X is not None:
            raise ValueError("pass either model features X or source_trials, not both")
        source = _as_responses(source_trials, "source_trials")
        if source.shape[0] != n_stim:
            raise ValueError(
                f"source_trials has {source.shape[0]} stimuli but Y has {n_stim}; both must "
                "list the same stimuli in the same order"
            )
        _check_min_trials(source, "source_trials")
        n_trials = max(Y.shape[2], source.shape[2])
        Y, source = _pad_trials(Y, n_trials), _pad_trials(source, n_trials)
    elif X is None:
        raise ValueError("pass model features X (stimulus, unit) or source_trials")
    else:
        X = _as_features(X, n_stim)
    split_rng, trial_rng = _streams(seed, 2)
    if splits is None:
        splits = train_test_splits(n_stim, n_splits, train_fraction, split_rng, stratify)
    splits = _check_splits(splits, n_stim)
    perms = _trial_permutations(Y.shape[2], n_bootstraps, trial_rng)
    return X, Y, source, counts, splits, perms


def noise_corrected_predictivity(
    X: Any,
    Y: Any,
    mapping: Any = "pls",
    *,
    n_splits: int = 10,
    train_fraction: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    source_trials: Any = None,
    animal: Sequence[str] | None = None,
    splits: Sequence | None = None,
    stratify: Sequence | None = None,
    numerator: str = "halves",
    split_half: str = "unequal",
) -> Score:
    """Noise-corrected neural predictivity of a model (or a source animal) (spec §4).

    For every train/test split and every bootstrap of trial halves: fit map M1 on
    (X1_train -> Y1_train) and M2 on (X2_train -> Y2_train); on the test stimuli, per neuroid::

        num = r(M1(X1_test), Y2_test);  r_map = r(M1(X1_test), M2(X2_test))
        r_tgt = r(Y1_test, Y2_test);    score = num / sqrt(SB(r_map) * SB(r_tgt))

    (NaN when a denominator term is <= 0). For a model X1 = X2 = X; for a source animal
    (``source_trials``) X1, X2 are its own half-averages under the same trial permutation as
    the target. Scores are averaged over bootstraps and splits per neuroid (NaN-skipping); the
    value is the median over neuroids with the s.e.m. over neuroids.

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit), or None
        Model features (None when ``source_trials`` is given).
    Y : ndarray, shape (stimulus, neuroid, trial)
        Target responses; NaN marks missing trials (every stimulus needs >= 2 per neuroid).
    mapping : str or sklearn regressor
        ``"pls"`` (25 components, the default), ``"ridge"``, ``"one_to_one"``, ...
    n_splits, train_fraction : int, float
        Random splits of the stimuli (10 splits, half for training, as in the mouse work).
    n_bootstraps : int
        Random trial halvings per split (100).
    seed : int, SeedSequence or Generator
        ``SeedSequence(seed).spawn(2)`` gives two streams: the first makes the splits
        (``train_test_splits(..., seed=stream0)``), the second the trial permutations
        (``stream1.permutation(n_trials)`` per bootstrap). A Generator is ``.spawn(2)``-ed.
    source_trials : ndarray, shape (stimulus, unit, trial), optional
        A source animal (or pseudo-population) instead of model features.
    animal : sequence of str, shape (neuroid,), optional
        Target animal of each neuroid: maps are fit per target animal (one population each),
        and the median pools the neuroids of all animals, as in the mouse work.
    splits : list of (train_idx, test_idx), optional
        Use these splits instead of random ones.
    stratify : sequence of labels, shape (stimulus,), optional
        Stratify the random splits by these labels.
    numerator : {"halves", "full"}
        ``"halves"`` (default): ``num = r(M1(X1_test), Y2_test)`` exactly as the spec. Because
        the SB-corrected denominator describes full-trial reliabilities, this form is biased low
        by ``sqrt(r_map r_tgt / (SB(r_map) SB(r_tgt)))`` (a perfect model of noisy data scores
        below 1; ratios to the inter-animal ceiling computed the same way largely cancel it).
        ``"full"``: ``num = r(M(X_test), Y_test)`` with M fit on all trials and Y the average of
        all trials, as in the public brainmodel_utils code of the mouse work; about unbiased.
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`; see
        :func:`split_half_reliability`).

    Returns
    -------
    Score
        ``raw``: per-neuroid scores (neuroid,); ``per_split``: median over neuroids of each
        split's bootstrap-averaged scores; provenance holds the medians of the three terms and
        the trial counts.
    """
    # spec: neural-evaluation.md §4
    estimator, name = _resolve_mapping(mapping)
    _check_numerator(numerator)
    _check_split_half(split_half)
    X, Y, source, counts, splits, perms = _prepare_noise_corrected(
        X, Y, source_trials, n_splits, train_fraction, n_bootstraps, seed, splits, stratify
    )
    groups = _groups(animal, Y.shape[1])
    terms = _noise_corrected_terms(
        Y, splits, perms, estimator, X, source, groups, numerator, split_half
    )
    return _score_from_terms(
        terms,
        counts,
        metric="noise_corrected_predictivity",
        parameters={
            "mapping": name,
            "n_splits": len(splits),
            "train_fraction": train_fraction,
            "n_bootstraps": n_bootstraps,
            "seed": _seed_repr(seed),
            "per_animal_maps": animal is not None,
            "numerator": numerator,
            "split_half": split_half,
        },
        provenance={
            "source": "model features" if source is None else "source animal trials",
            "n_source_units": int((X if source is None else source).shape[1]),
        },
    )


def _check_numerator(numerator: str) -> None:
    if numerator not in _NUMERATORS:
        raise ValueError(f"numerator must be one of {_NUMERATORS}; got {numerator!r}")


def _seed_repr(seed: Seed) -> Any:
    return seed if isinstance(seed, (int, type(None))) else repr(seed)


def _score_from_terms(
    terms: _Terms,
    counts: np.ndarray,
    metric: str,
    parameters: dict,
    provenance: dict,
    raw: np.ndarray | None = None,
) -> Score:
    if raw is None:
        raw = _nanmean(terms.score, axis=0)
    finite = np.isfinite(raw)
    return Score(
        value=float(_nanmedian(raw)) if finite.any() else float("nan"),
        error=_sem(raw),
        metric=metric,
        raw=raw,
        per_split=_nanmedian(terms.score, axis=1),
        parameters=parameters,
        provenance={
            **provenance,
            "center": "median over neuroids of the mean over splits and bootstraps",
            "error": _SEM_NOTE.format(what="neuroids"),
            "n_stimuli": int(counts.shape[0]),
            "n_neuroids": int(counts.shape[1]),
            "n_neuroids_nan": int((~finite).sum()),
            "median_numerator": float(_nanmedian(terms.num)),
            "median_mapping_consistency": float(_nanmedian(terms.r_map)),
            "median_target_split_half_r": float(_nanmedian(terms.r_tgt)),
            **_trial_summary(counts),
        },
    )


def plain_predictivity(
    X: Any,
    Y: Any,
    mapping: Any = "pls",
    *,
    n_splits: int = 10,
    train_fraction: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    correction: str = "ratio",
    splits: Sequence | None = None,
    stratify: Sequence | None = None,
    split_half: str = "unequal",
) -> Score:
    """Held-out Pearson r divided by each neuroid's split-half reliability (primate ch. 2 form).

    The map is fit on trial-averaged (NaN-skipping) training responses; r is computed per
    neuroid on the test stimuli and averaged over splits, then divided by the neuroid's
    SB-corrected split-half reliability (spec §2, ``n_bootstraps`` halvings on all stimuli).

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit)
    Y : ndarray, shape (stimulus, neuroid, trial)
    mapping : str or sklearn regressor
    n_splits, train_fraction, seed, splits, stratify
        As in :func:`noise_corrected_predictivity` (same split stream for the same seed).
    n_bootstraps : int
        Halvings for the reliability.
    correction : {"ratio", "sqrt"}
        ``"ratio"``: r / reliability, the spec §4 "plain form". ``"sqrt"``: r / sqrt(reliability),
        the attenuation correction under which a noiseless perfect model scores about 1 (r with
        a trial average cannot exceed sqrt(reliability)).
    split_half : {"unequal", "equal"}
        Halving of odd trial counts for the reliability (:func:`split_half_reliability`).

    Returns
    -------
    Score
        ``raw``: corrected per-neuroid values; ``ceiling``: median reliability.
    """
    # spec: neural-evaluation.md §4 (plain form, primate ch. 2) and §2 (reliability)
    if correction not in ("ratio", "sqrt"):
        raise ValueError(f"correction must be 'ratio' or 'sqrt'; got {correction!r}")
    estimator, name = _resolve_mapping(mapping)
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    X = _as_features(X, Y.shape[0])
    split_rng, trial_rng = _streams(seed, 2)
    if splits is None:
        splits = train_test_splits(Y.shape[0], n_splits, train_fraction, split_rng, stratify)
    splits = _check_splits(splits, Y.shape[0])
    mean = _nanmean(Y, axis=2)
    preds = _fit_predict(estimator, X, [mean], splits)
    r = np.stack([pearson_columns(preds[s][0], mean[test]) for s, (_, test) in enumerate(splits)])
    reliability = split_half_reliability(
        Y, n_bootstraps=n_bootstraps, seed=trial_rng, split_half=split_half
    )
    denominator = reliability if correction == "ratio" else np.sqrt(np.maximum(reliability, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        denominator = np.where(reliability > 0, denominator, np.nan)
        raw = _nanmean(r, axis=0) / denominator
        per_split = _nanmedian(r / denominator, axis=1)
    return Score(
        value=float(_nanmedian(raw)),
        error=_sem(raw),
        ceiling=float(_nanmedian(reliability)),
        ceiled=float(_nanmedian(raw)),
        convention=f"per_neuroid_{correction}",
        metric="plain_predictivity",
        raw=raw,
        per_split=per_split,
        parameters={
            "mapping": name,
            "n_splits": len(splits),
            "train_fraction": train_fraction,
            "n_bootstraps": n_bootstraps,
            "seed": _seed_repr(seed),
            "correction": correction,
            "split_half": split_half,
        },
        provenance={
            "center": "median over neuroids of (mean r over splits) / reliability",
            "error": _SEM_NOTE.format(what="neuroids"),
            "median_raw_r": float(_nanmedian(_nanmean(r, axis=0))),
            "median_reliability": float(_nanmedian(reliability)),
            "n_stimuli": int(Y.shape[0]),
            "n_neuroids": int(Y.shape[1]),
            **_trial_summary(counts),
        },
    )


@dataclass
class InterAnimalConsistency:
    """Inter-animal consistency of one area: the ceiling models are judged against (spec §5).

    Attributes
    ----------
    score : Score
        Pooled over target animals: median over all target neuroids (RSA: over animals) with
        its s.e.m.; ``raw`` is aligned with the neuroids of the input (RSA: the animals).
    per_animal : dict animal -> Score
        The same estimator for each held-out target animal.
    design : str
        ``"pooled"`` or ``"pairwise"``.
    mapping : str
        Name of the mapping class (``"pls"``, ``"ridge"``, ``"one_to_one"``, ``"rsa"``, ...).
    animals : list of str
        Animals in the order of ``score.raw`` for RSA, and of ``per_animal``.
    """

    score: Score
    per_animal: dict[str, Score] = field(default_factory=dict)
    design: str = "pooled"
    mapping: str = "pls"
    animals: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        """The pooled consistency value (``score.value``)."""
        return self.score.value

    def __getitem__(self, key: str) -> Score:
        """``result["pooled"]`` is the pooled score, ``result[animal]`` that animal's score."""
        if key == "pooled":
            return self.score
        if key in self.per_animal:
            return self.per_animal[key]
        raise KeyError(f"{key!r}: use 'pooled' or one of the animals {self.animals}")

    def to_dict(self) -> dict:
        """JSON-safe dict (see :meth:`Score.to_dict`)."""
        return {
            "score": self.score.to_dict(),
            "per_animal": {k: v.to_dict() for k, v in self.per_animal.items()},
            "design": self.design,
            "mapping": self.mapping,
            "animals": list(self.animals),
        }


def inter_animal_consistency(
    Y: Any,
    animal: Sequence[str],
    mapping: Any = "pls",
    *,
    design: str = "pooled",
    n_splits: int = 10,
    train_fraction: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    splits: Sequence | None = None,
    stratify: Sequence | None = None,
    rsa_method: str = "pearson",
    numerator: str = "halves",
    split_half: str = "unequal",
) -> InterAnimalConsistency:
    """Inter-animal consistency: the noise-corrected estimator with an animal as the source.

    Designs (spec §5):

    - ``"pooled"`` (default): each held-out target animal is predicted from the
      pseudo-population of all other animals. Source neuroids keep their own available trials
      (ragged recordings are half-averaged per neuroid under the shared permutation).
    - ``"pairwise"``: every ordered (source, target) pair; per target neuroid the scores are
      averaged over source animals.

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial)
        All animals of one area, NaN for missing trials.
    animal : sequence of str, shape (neuroid,)
    mapping : str or sklearn regressor
        ``"pls"``, ``"ridge"``, ``"one_to_one"``, ... or ``"rsa"`` for noise-corrected RSA
        between animals (spec §6: rsa(A1, B2) / sqrt(SB(rsa(A1, A2)) SB(rsa(B1, B2))), one
        value per target animal, median over animals).
    design : {"pooled", "pairwise"}
    n_splits, train_fraction, n_bootstraps, seed, splits, stratify
        As in :func:`noise_corrected_predictivity`; every target uses the same splits and
        trial permutations.
    rsa_method : {"pearson", "spearman"}
        RDM comparison for ``mapping="rsa"``.
    numerator : {"halves", "full"}
        See :func:`noise_corrected_predictivity`; use the same choice for model and ceiling.
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`); use the same choice for
        model and ceiling.

    Returns
    -------
    InterAnimalConsistency
    """
    # spec: neural-evaluation.md §5
    if design not in ("pooled", "pairwise"):
        raise ValueError(f"design must be 'pooled' or 'pairwise'; got {design!r}")
    _check_numerator(numerator)
    _check_split_half(split_half)
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    labels = np.asarray(animal).astype(str)
    if labels.shape != (Y.shape[1],):
        raise ValueError(
            f"animal must have one entry per neuroid ({Y.shape[1]}); got shape {labels.shape}"
        )
    _, first = np.unique(labels, return_index=True)
    names = [str(labels[i]) for i in np.sort(first)]
    if len(names) < 2:
        raise ValueError(
            f"inter-animal consistency needs at least 2 animals; got {names}; pass the "
            "animal of every neuroid"
        )
    sources_of = {
        t: (
            [[s for s in names if s != t]] if design == "pooled" else [[s] for s in names if s != t]
        )
        for t in names
    }
    params = {
        "mapping": mapping if isinstance(mapping, str) else type(mapping).__name__,
        "design": design,
        "n_bootstraps": n_bootstraps,
        "seed": _seed_repr(seed),
        "numerator": numerator,
        "split_half": split_half,
    }
    split_rng, trial_rng = _streams(seed, 2)
    perms = _trial_permutations(Y.shape[2], n_bootstraps, trial_rng)

    if isinstance(mapping, str) and mapping == "rsa":
        return _inter_animal_rsa(
            Y, labels, names, sources_of, perms, rsa_method, params, counts, numerator, split_half
        )

    estimator, name = _resolve_mapping(mapping)
    params.update(mapping=name, n_splits=n_splits, train_fraction=train_fraction)
    if splits is None:
        splits = train_test_splits(Y.shape[0], n_splits, train_fraction, split_rng, stratify)
    splits = _check_splits(splits, Y.shape[0])
    params["n_splits"] = len(splits)
    pooled_terms = _Terms(*(np.full((len(splits), Y.shape[1]), np.nan) for _ in range(5)))
    raw_all = np.full(Y.shape[1], np.nan)
    per_animal = {}
    for target in names:
        cols = np.flatnonzero(labels == target)
        runs = []
        for group in sources_of[target]:
            src = np.flatnonzero(np.isin(labels, group))
            runs.append(
                _noise_corrected_terms(
                    Y[:, cols],
                    splits,
                    perms,
                    estimator,
                    source=Y[:, src],
                    numerator=numerator,
                    split_half=split_half,
                )
            )
        # a value per (source, target neuroid), then the mean over sources (spec §5)
        raw = _nanmean(np.stack([_nanmean(t.score, axis=0) for t in runs]), axis=0)
        raw_all[cols] = raw
        terms = _Terms(
            *(
                _nanmean(np.stack([getattr(t, key) for t in runs]), axis=0)
                for key in ("score", "num", "r_map", "r_tgt", "n_bootstraps_used")
            )
        )
        for key in ("score", "num", "r_map", "r_tgt", "n_bootstraps_used"):
            getattr(pooled_terms, key)[:, cols] = getattr(terms, key)
        per_animal[target] = _score_from_terms(
            terms,
            counts[:, cols],
            metric="inter_animal_consistency",
            parameters={**params, "target": target},
            provenance={"sources": [", ".join(g) for g in sources_of[target]]},
            raw=raw,
        )
    pooled = _score_from_terms(
        pooled_terms,
        counts,
        metric="inter_animal_consistency",
        parameters=params,
        provenance={"animals": names, "n_animals": len(names)},
        raw=raw_all,
    )
    return InterAnimalConsistency(pooled, per_animal, design, name, names)


# --------------------------------------------------------------------------------------------
# neural fits over time (recurrent.md §2): layer assignment, temporally fixed mappings
# --------------------------------------------------------------------------------------------


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
    if arr.shape[0] != n_stimuli:
        raise ValueError(
            f"X has {arr.shape[0]} stimuli but the responses have {n_stimuli}; both must list "
            "the same stimuli in the same order"
        )
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
    """Pearson r over stimuli per (bin, target): pred (stimulus, bin, q), y (stimulus, q, bin)."""
    return pearson_columns(pred, np.moveaxis(y, 2, 1))


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
    if correction not in ("ratio", "sqrt"):
        raise ValueError(f"correction must be 'ratio' or 'sqrt'; got {correction!r}")
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
    if splits is None:
        splits = train_test_splits(n_stim, n_splits, train_fraction, split_rng, stratify)
    splits = _check_splits(splits, n_stim)
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
                r[s, cols] = _bin_r(preds[s][g], mean[test][:, cols]).T
        reliability = split_half_reliability(
            Y, n_bootstraps=n_bootstraps, seed=trial_rng, split_half=split_half
        )
        denominator = reliability if correction == "ratio" else np.sqrt(np.maximum(reliability, 0))
        with np.errstate(invalid="ignore", divide="ignore"):
            denominator = np.where(reliability > 0, denominator, np.nan)
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
    n_stim, n_neur, n_bins, _ = Yt.shape
    shape = (len(splits), n_neur, n_bins)
    acc = {k: np.zeros(shape) for k in ("score", "num", "r_map", "r_tgt")}
    count = {k: np.zeros(shape) for k in acc}

    full_num = None
    if numerator == "full":
        y_full = _nanmean(Yt, axis=3)
        preds = _fit_predict_bins(
            mapping, X, [y_full[:, cols] for cols in groups], splits, time_varying
        )
        full_num = np.full(shape, np.nan)
        for s, (_, test) in enumerate(splits):
            for g, cols in enumerate(groups):
                full_num[s, cols] = _bin_r(preds[s][g], y_full[test][:, cols]).T

    def add(s: int, cols: np.ndarray, p1, p2, y1t, y2t) -> None:
        # spec: neural-evaluation.md §4, in every time bin
        num = _bin_r(p1, y2t).T if full_num is None else full_num[s, cols]
        r_map = pearson_columns(p1, p2).T
        r_tgt = pearson_columns(y1t, y2t)
        for key, val in (
            ("score", _corrected(num, r_map, r_tgt)),
            ("num", num),
            ("r_map", r_map),
            ("r_tgt", r_tgt),
        ):
            ok = np.isfinite(val)
            acc[key][s, cols] += np.where(ok, val, 0.0)
            count[key][s, cols] += ok

    per_boot = 2 * n_stim * n_neur * n_bins
    batch = max(1, _BATCH_FLOATS // max(per_boot, 1))
    for start in range(0, len(perms), batch):
        halves = [_half_averages(Yt, p, split_half) for p in perms[start : start + batch]]
        Ys = [h[k][:, cols] for h in halves for cols in groups for k in (0, 1)]
        preds = _fit_predict_bins(mapping, X, Ys, splits, time_varying)
        for s, (_, test) in enumerate(splits):
            j = 0
            for y1, y2 in halves:
                for cols in groups:
                    p1, p2 = preds[s][j], preds[s][j + 1]
                    j += 2
                    add(s, cols, p1, p2, y1[test][:, cols], y2[test][:, cols])
    with np.errstate(invalid="ignore", divide="ignore"):
        return {k: np.where(count[k] > 0, acc[k] / count[k], np.nan) for k in acc}


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
    if splits is None:
        splits = train_test_splits(n_stim, n_splits, train_fraction, split_rng, stratify)
    splits = _check_splits(splits, n_stim)
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


# --------------------------------------------------------------------------------------------
# RSA and CKA (spec §6)
# --------------------------------------------------------------------------------------------


def rdm(responses: Any) -> np.ndarray:
    """Representational dissimilarity matrix: 1 - Pearson r between stimulus patterns.

    Parameters
    ----------
    responses : ndarray, shape (stimulus, feature)
        Trial-averaged responses (or model features).

    Returns
    -------
    ndarray, shape (stimulus, stimulus); rows of a constant pattern are NaN.
    """
    # spec: neural-evaluation.md §6: RDM = 1 - Pearson correlation between stimulus patterns
    x = np.asarray(responses, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"responses must be (stimulus, feature); got shape {x.shape}")
    centred = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred * centred).sum(axis=1))
    constant = norm <= 1e-12 * np.abs(x).max(axis=1) * np.sqrt(x.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        z = centred / np.where(constant, np.nan, norm)[:, None]
    out = 1.0 - z @ z.T
    np.fill_diagonal(out, np.where(constant, np.nan, 0.0))
    return out


def _upper(matrix: np.ndarray) -> np.ndarray:
    """The upper triangle (no diagonal) of an RDM, row by row (scipy's squareform order).

    Accepts a square (stimulus, stimulus) matrix or the condensed triangle itself: a flat
    vector, a 1 x k row (as MATLAB files store RDMs) or a k x 1 column, k = n(n-1)/2.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 2 and 1 in m.shape and m.shape != (1, 1):
        m = m.ravel()
    if m.ndim == 1:
        n = (1 + math.isqrt(1 + 8 * m.size)) // 2
        if n * (n - 1) // 2 != m.size:
            below = (n * (n - 1) // 2, n)
            raise ValueError(
                f"a condensed RDM has n(n-1)/2 entries for n stimuli (the upper triangle "
                f"without the diagonal); got {m.size}, between {below[0]} ({below[1]} stimuli) "
                f"and {below[0] + n} ({n + 1} stimuli); pass the full (stimulus, stimulus) "
                f"matrix or its upper triangle"
            )
        return m
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(
            f"an RDM must be square (stimulus, stimulus) or a condensed upper triangle "
            f"(length or 1 x n(n-1)/2); got shape {m.shape}"
        )
    return m[np.triu_indices(m.shape[0], k=1)]


def _rank(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(v, axis=0)


def compare_rdms(a: Any, b: Any, method: str = "pearson") -> float:
    """Correlation between the upper triangles (no diagonal) of two RDMs.

    Parameters
    ----------
    a, b : ndarray, shape (stimulus, stimulus), or condensed upper triangles
        A condensed RDM is the upper triangle without the diagonal, row by row (the order of
        ``scipy.spatial.distance.squareform`` and MATLAB's ``pdist``/``squareform``), as a
        flat vector of length n(n-1)/2 or a 1 x n(n-1)/2 row (as MATLAB files store it).
    method : {"pearson", "spearman"}

    Returns
    -------
    float
    """
    # spec: neural-evaluation.md §6: compare upper triangles (no diagonal), Pearson or Spearman
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman'; got {method!r}")
    ua, ub = _upper(a), _upper(b)
    if ua.shape != ub.shape:
        raise ValueError(f"RDMs differ in size: {ua.shape} vs {ub.shape} upper-triangle entries")
    if np.isnan(ua).any() or np.isnan(ub).any():
        return float("nan")
    if method == "spearman":
        ua, ub = _rank(ua), _rank(ub)
    return pearson_columns(ua, ub)


def rsa(X: Any, Y: Any, method: str = "pearson") -> float:
    """RSA between two response sets over the same stimuli: compare_rdms(rdm(X), rdm(Y)).

    Parameters
    ----------
    X, Y : ndarray, shape (stimulus, feature); feature counts may differ.
    method : {"pearson", "spearman"}
    """
    return compare_rdms(rdm(X), rdm(Y), method)


def _rsa_bootstrap_terms(
    target: np.ndarray,
    perms: list[np.ndarray],
    method: str,
    model: np.ndarray | None = None,
    source: np.ndarray | None = None,
    numerator: str = "halves",
    split_half: str = "unequal",
) -> np.ndarray:
    """Per bootstrap: rsa(A1, B2) / sqrt(SB(rsa(A1, A2)) SB(rsa(B1, B2))) (spec §6, eq. 3.9)."""
    out = np.empty(len(perms))
    model_rdm = _upper(rdm(model)) if model is not None else None
    full_num = None
    if numerator == "full":
        full_source = model_rdm if model is not None else rdm(_nanmean(source, axis=2))
        full_num = compare_rdms(full_source, rdm(_nanmean(target, axis=2)), method)
    for i, perm in enumerate(perms):
        y1, y2 = _half_averages(target, perm, split_half)
        r_tgt = compare_rdms(rdm(y1), rdm(y2), method)
        if model_rdm is not None:
            # deterministic source: rsa(A1, A2) = 1, SB(1) = 1
            num, r_map = compare_rdms(model_rdm, rdm(y2), method), 1.0
        else:
            x1, x2 = _half_averages(source, perm, split_half)
            rdm_x1 = rdm(x1)
            num = compare_rdms(rdm_x1, rdm(y2), method)
            r_map = compare_rdms(rdm_x1, rdm(x2), method)
        if full_num is not None:
            num = full_num
        out[i] = _corrected(np.asarray(num), np.asarray(r_map), np.asarray(r_tgt))
    return out


def noise_corrected_rsa(
    X: Any,
    Y: Any,
    n_bootstraps: int = 100,
    *,
    animal: Sequence[str] | None = None,
    seed: Seed = 0,
    method: str = "pearson",
    numerator: str = "halves",
    split_half: str = "unequal",
) -> Score:
    """Noise-corrected RSA of model features against each animal (spec §6).

    Per animal: the mean over split-half bootstraps of ``rsa(X, Y2) / sqrt(SB(rsa(Y1, Y2)))``
    (NaN when SB <= 0); the value is the median over animals with the s.e.m. over animals.

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit)
    Y : ndarray, shape (stimulus, neuroid, trial)
    n_bootstraps : int
    animal : sequence of str, shape (neuroid,), optional
        Without it all neuroids form one (pseudo-)population.
    seed : int, SeedSequence or Generator
        Trial permutations come from the second of ``SeedSequence(seed).spawn(2)``, so the
        halves match :func:`noise_corrected_predictivity` with the same seed.
    method : {"pearson", "spearman"}
    numerator : {"halves", "full"}
        ``"full"`` uses rsa(X, Y) of all trials in the numerator (see
        :func:`noise_corrected_predictivity`).
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`).

    Returns
    -------
    Score with ``raw`` per animal (order of first appearance).
    """
    # spec: neural-evaluation.md §6 (noise-corrected RSA; per animal, then median)
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    X = _as_features(X, Y.shape[0])
    groups = _groups(animal, Y.shape[1])
    names = ["all"] if animal is None else [str(np.asarray(animal)[g[0]]) for g in groups]
    perms = _trial_permutations(Y.shape[2], n_bootstraps, _streams(seed, 2)[1])
    _check_numerator(numerator)
    _check_split_half(split_half)
    per_boot = np.stack(
        [
            _rsa_bootstrap_terms(
                Y[:, g], perms, method, model=X, numerator=numerator, split_half=split_half
            )
            for g in groups
        ]
    )
    raw = _nanmean(per_boot, axis=1)
    return Score(
        value=float(_nanmedian(raw)),
        error=_sem(raw),
        metric="noise_corrected_rsa",
        raw=raw,
        parameters={
            "mapping": "rsa",
            "method": method,
            "n_bootstraps": n_bootstraps,
            "seed": _seed_repr(seed),
            "numerator": numerator,
            "split_half": split_half,
        },
        provenance={
            "animals": names,
            "center": "median over animals of the mean over bootstraps",
            "error": _SEM_NOTE.format(what="animals"),
            "n_stimuli": int(Y.shape[0]),
            "n_neuroids": int(Y.shape[1]),
            **_trial_summary(counts),
        },
    )


def _inter_animal_rsa(
    Y, labels, names, sources_of, perms, method, params, counts, numerator, split_half
):
    raw, per_animal = [], {}
    for target in names:
        target_y = Y[:, labels == target]
        values = [
            _nanmean(
                _rsa_bootstrap_terms(
                    target_y,
                    perms,
                    method,
                    source=Y[:, np.isin(labels, group)],
                    numerator=numerator,
                    split_half=split_half,
                )
            )
            for group in sources_of[target]
        ]
        value = float(_nanmean(np.asarray(values)))
        raw.append(value)
        per_animal[target] = Score(
            value=value,
            metric="inter_animal_consistency",
            raw=np.asarray(values),
            parameters={**params, "mapping": "rsa", "method": method, "target": target},
            provenance={"sources": [", ".join(g) for g in sources_of[target]]},
        )
    raw = np.asarray(raw)
    score = Score(
        value=float(_nanmedian(raw)),
        error=_sem(raw),
        metric="inter_animal_consistency",
        raw=raw,
        parameters={**params, "mapping": "rsa", "method": method},
        provenance={
            "animals": names,
            "center": "median over target animals",
            "error": _SEM_NOTE.format(what="animals"),
            **_trial_summary(counts),
        },
    )
    return InterAnimalConsistency(score, per_animal, params["design"], "rsa", names)


def _centred_gram(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    return xc @ xc.T


def linear_cka(X: Any, Y: Any, unbiased: bool = False) -> float:
    """Linear centred kernel alignment between two representations of the same stimuli.

    Biased (Kornblith et al. 2019): with column-centred X and Y,
    ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``. Unbiased: the same ratio with the unbiased
    HSIC estimator of Song et al. (2012) on the linear Gram matrices, as used by Nguyen et al.
    (2021) and Brain-Score's CKA benchmarks (needs at least 4 stimuli).

    Parameters
    ----------
    X : ndarray, shape (stimulus, p)
    Y : ndarray, shape (stimulus, q)
    unbiased : bool

    Returns
    -------
    float in [0, 1] (biased); the unbiased estimate can be slightly outside.
    """
    # spec: neural-evaluation.md §6 (linear CKA, centred) and §10 (unbiased by default there)
    x = np.asarray(X, dtype=np.float64)
    y = np.asarray(Y, dtype=np.float64)
    x = x.reshape(len(x), -1)
    y = y.reshape(len(y), -1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"X and Y need the same stimuli; got {x.shape[0]} and {y.shape[0]} rows")
    n = x.shape[0]
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("X and Y must be finite; drop NaN/inf units first")
    if not unbiased:
        xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
        if max(x.shape[1], y.shape[1]) > n:  # Gram form is cheaper for wide layers
            k, m = xc @ xc.T, yc @ yc.T
            hsic, nx, ny = np.sum(k * m), np.linalg.norm(k), np.linalg.norm(m)
        else:
            hsic = np.linalg.norm(yc.T @ xc) ** 2
            nx, ny = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
        return float(hsic / (nx * ny)) if nx > 0 and ny > 0 else float("nan")
    if n < 4:
        raise ValueError(f"unbiased CKA needs at least 4 stimuli; got {n}")
    k, m = _unbiased_centre(_centred_gram(x)), _unbiased_centre(_centred_gram(y))
    hsic, nx, ny = np.sum(k * m), np.sqrt(np.sum(k * k)), np.sqrt(np.sum(m * m))
    return float(hsic / (nx * ny)) if nx > 0 and ny > 0 else float("nan")


def _unbiased_centre(gram: np.ndarray) -> np.ndarray:
    """Centre a Gram matrix so that <K', L'> is (n (n - 3)) x Song et al.'s unbiased HSIC."""
    n = gram.shape[0]
    g = gram.copy()
    np.fill_diagonal(g, 0.0)
    means = g.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    g -= means[:, None]
    g -= means[None, :]
    np.fill_diagonal(g, 0.0)
    return g


# --------------------------------------------------------------------------------------------
# Brain-Score conventions (spec §10)
# --------------------------------------------------------------------------------------------


def brainscore_splits(
    stimulus_ids: Sequence[Any] | int,
    labels: Sequence[Any] | None = None,
    n_splits: int = 10,
    train_size: float = 0.9,
    seed: int = 1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brain-Score's cross-validation splits: (stratified) shuffle splits on stimulus id.

    scikit-learn ``StratifiedShuffleSplit`` (with ``labels``, e.g. object names) or
    ``ShuffleSplit`` with ``train_size`` 0.9, test size the rest and ``random_state=seed``
    (1), over the stimuli in the given order, as Brain-Score does on a repetition-averaged
    assembly. When ``stimulus_ids`` repeat (rows are presentations), the split is over the
    unique ids (sorted, as Brain-Score's ``unique_split_values``) and every row follows its id.

    Parameters
    ----------
    stimulus_ids : sequence or int
        Stimulus id per row, or the number of stimuli.
    labels : sequence, optional
        Stratification label per row (constant within a stimulus id).
    n_splits, train_size, seed

    Returns
    -------
    list of (train_idx, test_idx) row indices
    """
    # spec: neural-evaluation.md §10: 10 stratified shuffle splits, 90/10, seed 1
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    ids = np.arange(stimulus_ids) if isinstance(stimulus_ids, (int, np.integer)) else None
    if ids is None:
        ids = np.asarray(stimulus_ids)
    unique, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    repeated = len(unique) < len(ids)
    strat = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != ids.shape:
            raise ValueError(f"labels must have one entry per row ({len(ids)}); got {lab.shape}")
        strat = lab[first] if repeated else lab
    cv = (
        StratifiedShuffleSplit(n_splits=n_splits, train_size=train_size, random_state=seed)
        if strat is not None
        else ShuffleSplit(n_splits=n_splits, train_size=train_size, random_state=seed)
    )
    n_units = len(unique) if repeated else len(ids)
    out = []
    for train, test in cv.split(np.zeros(n_units), strat):
        if repeated:
            train = np.flatnonzero(np.isin(inverse, train))
            test = np.flatnonzero(np.isin(inverse, test))
        out.append((np.asarray(train), np.asarray(test)))
    return out


def _trial_average(Y: Any, name: str = "Y") -> tuple[np.ndarray, dict]:
    arr = np.asarray(Y, dtype=np.float64)
    if arr.ndim == 3:
        counts = _trial_counts(arr)
        if counts.min() < 1:
            s, n = (int(i) for i in np.argwhere(counts < 1)[0])
            raise ValueError(f"{name} has no trials for stimulus {s}, neuroid {n}")
        return _nanmean(arr, axis=2), _trial_summary(counts)
    if arr.ndim == 2:
        return arr, {"trials_averaged": "before the call"}
    raise ValueError(
        f"{name} must be (stimulus, neuroid, trial) or trial-averaged (stimulus, neuroid); "
        f"got shape {arr.shape}"
    )


def ceiled_score(raw: Any, ceiling: float, convention: str = "r2_over_ceiling") -> Any:
    """Express a raw score relative to a ceiling in one of Brain-Score's conventions (spec §10).

    - ``"r2_over_ceiling"``: r^2 / ceiling (Brain-Score since January 2026). Note that the sign
      of r is lost.
    - ``"squared_ratio"``: (r / ceiling)^2 (before January 2026).
    - ``"ratio"``: r / ceiling (the first version).

    Values are not clipped.

    Parameters
    ----------
    raw : float or Score
    ceiling : float
    convention : str

    Returns
    -------
    float, or for a Score a copy with ``ceiling``, ``ceiled`` and ``convention`` set (the
    propagated error of the ceiled value goes to ``provenance["ceiled_error"]``).
    """
    # spec: neural-evaluation.md §10 (ceiled score conventions, not clipped)
    if convention not in CEILING_CONVENTIONS:
        raise ValueError(f"convention must be one of {CEILING_CONVENTIONS}; got {convention!r}")
    c = np.float64(ceiling)
    r = np.float64(raw.value if isinstance(raw, Score) else raw)
    with np.errstate(invalid="ignore", divide="ignore"):
        if convention == "r2_over_ceiling":
            value, slope = r**2 / c, 2 * r / c
        elif convention == "squared_ratio":
            value, slope = (r / c) ** 2, 2 * r / c**2
        else:
            value, slope = r / c, 1 / c
    if not isinstance(raw, Score):
        return float(value)
    out = raw.with_ceiling(c, float(value), convention)
    out.provenance["ceiled_error"] = float(abs(slope) * raw.error)
    return out


def brainscore_predictivity(
    X: Any,
    Y: Any,
    mapping: Any = "pls",
    labels: Sequence[Any] | None = None,
    *,
    stimulus_ids: Sequence[Any] | None = None,
    n_splits: int = 10,
    train_size: float = 0.9,
    seed: int = 1,
    splits: Sequence | None = None,
    ceiling: float | Score | None = None,
    convention: str = "r2_over_ceiling",
) -> Score:
    """Brain-Score neural predictivity: Pearson r per neuroid on held-out stimuli (spec §10).

    The map is fit on trial-averaged responses of the training stimuli of each split
    (:func:`brainscore_splits`); r per neuroid on the test stimuli; median over neuroids within
    a split; mean over splits. The error is Brain-Score's standard error over splits:
    ``std(ddof=0) / sqrt(n_splits)``.

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit)
    Y : ndarray, shape (stimulus, neuroid, trial) or trial-averaged (stimulus, neuroid)
    mapping : str or sklearn regressor (PLS-25 without scaling by default)
    labels : sequence, optional
        Object label per stimulus for stratification.
    stimulus_ids, n_splits, train_size, seed
        See :func:`brainscore_splits`.
    splits : list of (train_idx, test_idx), optional
        Overrides the generated splits.
    ceiling : float or Score, optional
        E.g. :func:`brainscore_internal_consistency`; then ``ceiled`` is set with ``convention``.
    convention : str
        One of :data:`CEILING_CONVENTIONS`.

    Returns
    -------
    Score
        ``raw``: per-neuroid r averaged over splits; ``per_split``: median r of each split.
    """
    # spec: neural-evaluation.md §10 (neural predictivity)
    estimator, name = _resolve_mapping(mapping)
    mean, trials = _trial_average(Y)
    X = _as_features(X, mean.shape[0])
    if splits is None:
        ids = stimulus_ids if stimulus_ids is not None else mean.shape[0]
        splits = brainscore_splits(ids, labels, n_splits=n_splits, train_size=train_size, seed=seed)
    splits = _check_splits(splits, mean.shape[0])
    preds = _fit_predict(estimator, X, [mean], splits)
    r = np.stack([pearson_columns(preds[s][0], mean[test]) for s, (_, test) in enumerate(splits)])
    per_split = _nanmedian(r, axis=1)
    score = Score(
        value=float(_nanmean(per_split)),
        error=_brainscore_error(per_split),
        metric="brainscore_predictivity",
        raw=_nanmean(r, axis=0),
        per_split=per_split,
        parameters={
            "mapping": name,
            "n_splits": len(splits),
            "train_size": train_size,
            "seed": seed,
            "stratified": labels is not None,
        },
        provenance={
            "center": "mean over splits of the median over neuroids of Pearson r",
            "error": _BS_SEM_NOTE.format(what="splits"),
            "n_stimuli": int(mean.shape[0]),
            "n_neuroids": int(mean.shape[1]),
            **trials,
        },
    )
    if ceiling is not None:
        c = ceiling.value if isinstance(ceiling, Score) else float(ceiling)
        score = ceiled_score(score, c, convention)
    return score


def brainscore_internal_consistency(
    Y: Any,
    n_halvings: int = 10,
    seed: int = 1,
    halvings: Sequence | None = None,
    split_half: str = "unequal",
) -> Score:
    """Brain-Score's ceiling: split-half internal consistency of the repetitions (spec §10).

    For each of ``n_halvings`` random halvings of the repetition indices (scikit-learn
    ``ShuffleSplit(train_size=0.5, random_state=seed)`` over the trial slots, as Brain-Score
    splits its ``repetition`` coordinate): per neuroid SB(r) between the two half-averages
    (each stimulus averages its available trials in each half; stimuli with none in a half
    are left out of that neuroid's r); median over neuroids; mean over halvings. Error:
    std (ddof=0) over halvings / sqrt(n_halvings), as Brain-Score aggregates splits.

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial)
    n_halvings : int
    seed : int
    halvings : list of (trials_half1, trials_half2), optional
        Explicit halvings of the trial indices instead of random ones.
    split_half : {"unequal", "equal"}
        Odd numbers ``n`` of trial slots: ``"unequal"`` (default, what ``ShuffleSplit`` gives)
        averages ``(n - 1) / 2`` slots against ``(n + 1) / 2``; ``"equal"`` keeps the first
        ``(n - 1) / 2`` slots of the larger half (in ``ShuffleSplit``'s random order), leaving
        one random slot out (:data:`SPLIT_HALF_CONVENTIONS`).

    Returns
    -------
    Score
        ``raw``: per-neuroid SB(r) averaged over halvings; ``per_split``: median per halving.
    """
    # spec: neural-evaluation.md §10 (ceiling: internal consistency)
    _check_split_half(split_half)
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    if halvings is None:
        from sklearn.model_selection import ShuffleSplit

        cv = ShuffleSplit(n_splits=n_halvings, train_size=0.5, random_state=seed)
        halvings = list(cv.split(np.zeros(Y.shape[2])))
    values = []
    for first, second in halvings:
        first, second = np.asarray(first), np.asarray(second)
        if split_half == "equal":
            m = min(len(first), len(second))
            first, second = first[:m], second[:m]
        h1 = _nanmean(Y[:, :, first], axis=2)
        h2 = _nanmean(Y[:, :, second], axis=2)
        values.append(spearman_brown(pearson_columns(h1, h2, nan_policy="omit")))
    values = np.stack(values)
    per_split = _nanmedian(values, axis=1)
    return Score(
        value=float(_nanmean(per_split)),
        error=_brainscore_error(per_split),
        metric="brainscore_internal_consistency",
        raw=_nanmean(values, axis=0),
        per_split=per_split,
        parameters={"n_halvings": len(halvings), "seed": seed, "split_half": split_half},
        provenance={
            "center": "mean over halvings of the median over neuroids of SB(r)",
            "error": _BS_SEM_NOTE.format(what="halvings"),
            "n_stimuli": int(Y.shape[0]),
            "n_neuroids": int(Y.shape[1]),
            **_trial_summary(counts),
        },
    )


def brainscore_rsa(
    X: Any,
    subjects: Sequence[Any] | np.ndarray,
    animal: Sequence[str] | None = None,
    method: str = "spearman",
) -> Score:
    """Brain-Score-style RSA with subject noise ceilings (spec §10).

    RDMs are 1 - Pearson between stimulus patterns, compared on the upper triangle (Spearman by
    default). Raw score: mean over subjects of compare(model RDM, subject RDM) (error: s.e.m.
    over subjects). Ceiling (upper bound): mean over subjects of compare(subject RDM, mean
    RDM of all subjects); the leave-one-out lower bound (subject vs the mean RDM of the others)
    is stored in ``provenance["ceiling_lower"]``. Ceiled = raw / upper ceiling (``"ratio"``).

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit)
    subjects : list of ndarray (stimulus, neuroid[, trial]) per subject, or one array with
        ``animal`` labels per neuroid. Trials are averaged (NaN-skipping).
    animal : sequence of str, optional
    method : {"spearman", "pearson"}

    Returns
    -------
    Score with ``raw`` per subject.
    """
    # spec: neural-evaluation.md §10 (RSA with subject ceilings)
    if animal is not None:
        arr = np.asarray(subjects, dtype=np.float64)
        subjects = [arr[:, g] for g in _groups(animal, arr.shape[1])]
    means = [_trial_average(s, f"subject {i}")[0] for i, s in enumerate(subjects)]
    if not means:
        raise ValueError("pass at least one subject's responses")
    X = _as_features(X, means[0].shape[0])
    for i, m in enumerate(means):
        if m.shape[0] != X.shape[0]:
            raise ValueError(f"subject {i} has {m.shape[0]} stimuli; the model has {X.shape[0]}")
    rdms = np.stack([_upper(rdm(m)) for m in means])
    model = _upper(rdm(X))
    raw = np.array([compare_rdms(model, r, method) for r in rdms])
    value = float(np.mean(raw))
    upper = lower = float("nan")
    if len(rdms) > 1:
        grand = rdms.mean(axis=0)
        upper = float(np.mean([compare_rdms(r, grand, method) for r in rdms]))
        others = (rdms.sum(axis=0)[None] - rdms) / (len(rdms) - 1)
        lower = float(
            np.mean([compare_rdms(r, o, method) for r, o in zip(rdms, others, strict=True)])
        )
    has_ceiling = np.isfinite(upper)
    return Score(
        value=value,
        error=_sem(raw),
        ceiling=upper if has_ceiling else None,
        ceiled=value / upper if has_ceiling else None,
        convention="ratio" if has_ceiling else "",
        metric="brainscore_rsa",
        raw=raw,
        parameters={"method": method, "mapping": "rsa"},
        provenance={
            "ceiling_upper": upper,
            "ceiling_lower": lower,
            "ceiled_lower_bound_ratio": value / lower if np.isfinite(lower) and lower else None,
            "center": "mean over subjects of compare(model RDM, subject RDM)",
            "error": _SEM_NOTE.format(what="subjects"),
            "n_subjects": len(rdms),
            "n_stimuli": int(X.shape[0]),
        },
    )
