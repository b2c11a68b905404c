"""The arrays every neural estimator takes, checked at the door, and the summaries it reports.

- ``Y``: responses of one area, shape (stimulus, neuroid, trial), float; missing (ragged)
  trials are NaN. Every estimator uses the available trials of each stimulus and neuroid and
  reports the trial counts in the provenance of its :class:`~brainlike.analysis.score.Score`.
- ``X``: model features (or a source population), shape (stimulus, unit).
- ``animal``: the animal of each neuroid; estimators fit one map per target animal.

The summaries are NaN-skipping: medians, the s.e.m. over neuroids (or animals, subjects) and
Brain-Score's standard error over splits.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

_SEM_NOTE = "s.e.m. over {what}: std (ddof=1) / sqrt(number of finite values)"
_BS_SEM_NOTE = "standard error over {what}: std (ddof=0) / sqrt(n), as in Brain-Score"


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
    _check_same_stimuli(arr, n_stimuli, name)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains NaN or inf values; drop or impute those units first")
    return arr.astype(np.float64, copy=False)


def _check_same_stimuli(arr: np.ndarray, n_stimuli: int, name: str) -> None:
    """A readable error when features do not list as many stimuli as the responses."""
    if arr.shape[0] != n_stimuli:
        raise ValueError(
            f"{name} has {arr.shape[0]} stimuli but the responses have {n_stimuli}; both must "
            "list the same stimuli in the same order"
        )


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


def _pad_trials(Y: np.ndarray, n_trials: int) -> np.ndarray:
    if Y.shape[-1] == n_trials:
        return Y
    pad = [(0, 0)] * (Y.ndim - 1) + [(0, n_trials - Y.shape[-1])]
    return np.pad(Y, pad, constant_values=np.nan)


def _groups(animal: Sequence[str] | None, n: int) -> list[np.ndarray]:
    if animal is None:
        return [np.arange(n)]
    labels = np.asarray(animal)
    if labels.shape != (n,):
        raise ValueError(f"animal must have one entry per neuroid ({n}); got shape {labels.shape}")
    _, first = np.unique(labels, return_index=True)
    return [np.flatnonzero(labels == labels[i]) for i in np.sort(first)]
