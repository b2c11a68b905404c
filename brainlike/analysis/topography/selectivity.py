"""Selectivity of the units of a map: d' maps (class level and trial level), the preference
map and the fraction of selective units (spec: topography.md §2).

Also the checks every topography module applies to its inputs (finite arrays, thresholds,
target sets) and the tolerance below which a spread counts as zero.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = [
    "DPRIME_CAP",
    "dprime_maps",
    "fraction_selective",
    "preference_map",
    "trial_dprime_maps",
]

DPRIME_CAP = 1000.0
"""Largest |d'| returned. A unit whose classes do not vary at all within each set but differ
between sets has an infinite d'; it is reported as +-DPRIME_CAP so that averages over maps
(Moran's I, means of d') stay finite, and it still counts as selective at any sane threshold."""

# Spreads below this fraction of a unit's response scale are treated as exactly zero: they are
# rounding noise (the mean of identical floats is not always bit-identical to them).
_REL_TOL = 1e-9


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _as_finite_array(x: Any, name: str, ndim: int | tuple[int, ...]) -> np.ndarray:
    arr = np.asarray(x, dtype=np.float64)
    allowed = (ndim,) if isinstance(ndim, int) else ndim
    if arr.ndim not in allowed:
        want = " or ".join(f"{d}-d" for d in allowed)
        raise ValueError(f"{name} must be a {want} array; got shape {arr.shape} ({arr.ndim}-d)")
    if arr.size == 0:
        raise ValueError(f"{name} is empty (shape {arr.shape}); pass at least one unit")
    bad = ~np.isfinite(arr)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{name} contains {int(bad.sum())} NaN/inf value(s) (first at index {first}); "
            "drop or fill them before computing topography metrics"
        )
    return arr


def _check_threshold(threshold: float) -> float:
    try:
        t = float(threshold)
    except (TypeError, ValueError):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}") from None
    if not math.isfinite(t):
        raise ValueError(f"threshold must be a finite number; got {threshold!r}")
    return t


def _check_target_sets(
    target_sets: Sequence[Sequence[int]] | None, n_classes: int, allow_all: bool = False
) -> list:
    if target_sets is None:
        return [[c] for c in range(n_classes)]
    sets = []
    for k, s in enumerate(target_sets):
        idx = [int(c) for c in np.atleast_1d(np.asarray(s)).ravel()]
        if not idx:
            raise ValueError(f"target set {k} is empty; each set needs at least one class")
        if len(set(idx)) != len(idx):
            raise ValueError(f"target set {k} repeats a class: {idx}")
        if min(idx) < 0 or max(idx) >= n_classes:
            raise ValueError(
                f"target set {k} = {idx} names a class outside 0..{n_classes - 1} "
                f"(class_means has {n_classes} classes)"
            )
        if len(idx) == n_classes and not allow_all:
            raise ValueError(
                f"target set {k} holds every class; d' compares a set against the rest, so at "
                "least one class must be left out"
            )
        sets.append(idx)
    if not sets:
        raise ValueError("target_sets is empty; pass None for one map per class")
    return sets


# --------------------------------------------------------------------------------------------
# selectivity
# --------------------------------------------------------------------------------------------


def _guarded_ratio(num: np.ndarray, den: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """num / den with the documented zero-spread rule, clipped to +-DPRIME_CAP."""
    tol = _REL_TOL * scale
    zero_den = den <= tol
    safe = np.where(zero_den, 1.0, den)
    out = np.where(zero_den, 0.0, num / safe)
    # infinite separation: a unit that never varies within either set but differs between them
    inf_sep = zero_den & (np.abs(num) > tol)
    out = np.where(inf_sep, np.sign(num) * DPRIME_CAP, out)
    return np.clip(out, -DPRIME_CAP, DPRIME_CAP)


def dprime_maps(
    class_means: np.ndarray, target_sets: Sequence[Sequence[int]] | None = None
) -> np.ndarray:
    """Class-level d' maps: each target set of classes against all other classes.

    ``d'(x) = 2 (mean_S(x) - mean_R(x)) / (std_S(x) + std_R(x))`` with means and population
    standard deviations taken across the class-mean maps in the set S and in the rest R.

    Zero spread is guarded, never NaN: where ``std_S + std_R`` is zero (below 1e-9 times the
    unit's largest absolute class mean, i.e. rounding noise) d' is 0 if the two means agree
    and ``+-DPRIME_CAP`` if they differ (perfect separation). All values are clipped to
    ``[-DPRIME_CAP, DPRIME_CAP]``.

    Parameters
    ----------
    class_means : ndarray, shape (C, H, W)
        Mean response map of each class; C >= 2.
    target_sets : sequence of sequences of int, optional
        Class indices of each target set. None gives one set per class (class vs rest).

    Returns
    -------
    ndarray, shape (K, H, W)
        One d' map per target set; K = C when ``target_sets`` is None.
    """
    m = _as_finite_array(class_means, "class_means", 3)
    n_classes = m.shape[0]
    if n_classes < 2:
        raise ValueError(f"class_means has {n_classes} class; d' needs at least 2 classes")
    sets = _check_target_sets(target_sets, n_classes)
    scale = np.abs(m).max(axis=0)
    out = np.empty((len(sets),) + m.shape[1:])
    for k, s in enumerate(sets):
        in_set = np.zeros(n_classes, dtype=bool)
        in_set[s] = True
        ms, mr = m[in_set], m[~in_set]
        # spec: topography.md §2, d' = 2 (mean_S - mean_R) / (std_S + std_R), population stds
        num = ms.mean(axis=0) - mr.mean(axis=0)
        den = 0.5 * (ms.std(axis=0) + mr.std(axis=0))
        out[k] = _guarded_ratio(num, den, scale)
    return out


def _pooled_moments(
    means: np.ndarray, variances: np.ndarray, counts: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Mean and population variance of the union of groups given each group's moments."""
    n = counts.sum()
    w = (counts / n)[:, None, None]
    mu = (w * means).sum(axis=0)
    # law of total variance: within-group variance + spread of the group means
    var = (w * (variances + (means - mu) ** 2)).sum(axis=0)
    return mu, var


def trial_dprime_maps(
    class_means: np.ndarray,
    class_vars: np.ndarray,
    class_counts: np.ndarray,
    target_sets: Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """Trial-level d' maps computed from per-class moments, without the individual responses.

    ``d'(x) = (mu_S(x) - mu_R(x)) / sqrt((var_S(x) + var_R(x)) / 2)``, where ``mu`` and ``var``
    are the mean and population variance over all individual responses (images) of the
    classes in the set S and in the rest R. They are combined exactly from the per-class
    means, population variances and image counts (pooled mean and law of total variance), so
    the result equals the d' computed on the concatenated responses. Zero spread follows the
    rule of :func:`dprime_maps` (0 if the means agree, ``+-DPRIME_CAP`` otherwise).

    Parameters
    ----------
    class_means : ndarray, shape (C, H, W)
        Mean response of each class.
    class_vars : ndarray, shape (C, H, W)
        Population variance (ddof=0) of the responses of each class.
    class_counts : ndarray, shape (C,)
        Number of images behind each class mean. Classes with count 0 are ignored.
    target_sets : sequence of sequences of int, optional
        As in :func:`dprime_maps`.

    Returns
    -------
    ndarray, shape (K, H, W)
    """
    m = _as_finite_array(class_means, "class_means", 3)
    v = _as_finite_array(class_vars, "class_vars", 3)
    n = _as_finite_array(class_counts, "class_counts", 1)
    if v.shape != m.shape:
        raise ValueError(
            f"class_vars has shape {v.shape} but class_means has {m.shape}; pass one variance "
            "map per class mean map"
        )
    if n.shape[0] != m.shape[0]:
        raise ValueError(
            f"class_counts has {n.shape[0]} entries but class_means has {m.shape[0]} classes"
        )
    if (n < 0).any():
        raise ValueError(f"class_counts must be non-negative; got {n.tolist()}")
    scale = np.abs(m).max(axis=0)
    if (v < -_REL_TOL * (scale**2 + 1.0)).any():
        raise ValueError(
            f"class_vars has negative entries (min {v.min():.3g}); pass population variances"
        )
    v = np.maximum(v, 0.0)
    n_classes = m.shape[0]
    if n_classes < 2:
        raise ValueError(f"class_means has {n_classes} class; d' needs at least 2 classes")
    sets = _check_target_sets(target_sets, n_classes)
    out = np.empty((len(sets),) + m.shape[1:])
    for k, s in enumerate(sets):
        in_set = np.zeros(n_classes, dtype=bool)
        in_set[s] = True
        for part, name in ((in_set, "set"), (~in_set, "rest")):
            if n[part].sum() <= 0:
                raise ValueError(
                    f"target set {k} = {s}: the {name} has no images (class_counts sum to 0)"
                )
        mu_s, var_s = _pooled_moments(m[in_set], v[in_set], n[in_set])
        mu_r, var_r = _pooled_moments(m[~in_set], v[~in_set], n[~in_set])
        # spec: topography.md §2, trial-level d' = (mu1 - mu2) / sqrt((var1 + var2) / 2)
        out[k] = _guarded_ratio(mu_s - mu_r, np.sqrt(0.5 * (var_s + var_r)), scale)
    return out


def preference_map(dprimes: np.ndarray, threshold: float = 2.0) -> np.ndarray:
    """Preferred target (argmax d') of each unit, or -1 where no d' reaches the threshold.

    Parameters
    ----------
    dprimes : ndarray, shape (K, H, W)
    threshold : float
        A unit is selective when ``max_k d'_k >= threshold`` (spec: T = 2).

    Returns
    -------
    ndarray of int64, shape (H, W)
        Index of the preferred map, -1 for units without a preference.
    """
    d = _as_finite_array(dprimes, "dprimes", 3)
    t = _check_threshold(threshold)
    # spec: topography.md §2, preference map
    labels = d.argmax(axis=0).astype(np.int64)
    labels[d.max(axis=0) < t] = -1
    return labels


def fraction_selective(dprimes: np.ndarray, threshold: float = 2.0) -> float:
    """Fraction of units whose largest d' reaches the threshold (units with a preference).

    Parameters
    ----------
    dprimes : ndarray, shape (K, H, W)
    threshold : float

    Returns
    -------
    float in [0, 1]
    """
    return float(np.mean(preference_map(dprimes, threshold) >= 0))
