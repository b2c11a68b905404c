"""Topography of unit maps: selectivity, clustering, smoothness and their null models.

Every function here is a pure function of numpy arrays. Maps are ``(H, W)`` arrays on the unit
grid (row, column); class-mean maps are ``(C, H, W)``: the mean grid response to the test
images of each class. Metrics follow shared/spec/topography.md section 2; every metric can be
compared against a null model that moves units on the grid while keeping their tuning (pixel
shuffles, or shuffles within tiles to keep per-subnetwork statistics).

A note on honesty (spec: topography.md §2, caution): the clustering index is only meaningful
while selective units are sparse, so :func:`topography_summary` always reports the fraction of
selective units beside it, and reports a real value below its null as it is.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import ndimage
from scipy.spatial.distance import pdist

__all__ = [
    "DPRIME_CAP",
    "NullResult",
    "clustering_index",
    "density_index",
    "dprime_maps",
    "fraction_selective",
    "morans_i",
    "neighbour_agreement",
    "null_test",
    "preference_map",
    "shuffle_pixels",
    "shuffle_within_tiles",
    "smoothness_index",
    "topography_index",
    "topography_summary",
    "trial_dprime_maps",
    "tuning_correlation_vs_distance",
    "unit_coordinates",
]

DPRIME_CAP = 1000.0
"""Largest |d'| returned. A unit whose classes do not vary at all within each set but differ
between sets has an infinite d'; it is reported as +-DPRIME_CAP so that averages over maps
(Moran's I, means of d') stay finite, and it still counts as selective at any sane threshold."""

# Spreads below this fraction of a unit's response scale are treated as exactly zero: they are
# rounding noise (the mean of identical floats is not always bit-identical to them).
_REL_TOL = 1e-9

_ALTERNATIVES = ("greater", "less", "two-sided")
_NULLS = ("pixel", "tile")


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


def _check_labels(labels: Any, name: str = "labels", n_labels: int | None = None) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-d (H, W) label map; got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.issubdtype(arr.dtype, np.floating) or not np.all(arr == np.round(arr)):
            raise ValueError(
                f"{name} must hold integer labels (-1 = no preference); got dtype {arr.dtype} "
                "with non-integer values"
            )
    arr = arr.astype(np.int64)
    if (arr < -1).any():
        raise ValueError(f"{name} has values below -1 ({int(arr.min())}); -1 marks no preference")
    if n_labels is not None and (arr >= n_labels).any():
        raise ValueError(
            f"{name} has label {int(arr.max())} but n_labels={n_labels}; labels must lie in "
            f"[0, {n_labels - 1}] or be -1"
        )
    return arr


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


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


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


# --------------------------------------------------------------------------------------------
# spatial metrics (batched internals: leading axis = maps / shuffles)
# --------------------------------------------------------------------------------------------

# 4-connectivity within each (H, W) slice and no connection across slices
_SLICE_CROSS = np.zeros((3, 3, 3), dtype=bool)
_SLICE_CROSS[1] = ndimage.generate_binary_structure(2, 1)


def _mean_component_areas(mask: np.ndarray) -> np.ndarray:
    """Mean 4-connected component area of each (H, W) slice of a boolean (N, H, W) stack."""
    n_slices = mask.shape[0]
    comp, n_comp = ndimage.label(mask, structure=_SLICE_CROSS)
    slice_of_pixel = np.repeat(np.arange(n_slices), mask.shape[1] * mask.shape[2])
    slice_of_comp = np.zeros(n_comp + 1, dtype=np.int64)
    slice_of_comp[comp.ravel()] = slice_of_pixel  # a component never spans two slices
    counts = np.bincount(slice_of_comp[1:], minlength=n_slices).astype(np.float64)
    areas = mask.reshape(n_slices, -1).sum(axis=1).astype(np.float64)
    # spec: topography.md §2, a map with no component scores 1
    return np.where(counts > 0, areas / np.maximum(counts, 1.0), 1.0)


def _clustering_batch(dprimes: np.ndarray, threshold: float) -> np.ndarray:
    """Clustering index of each (K, H, W) stack in an (N, K, H, W) array."""
    n, k, h, w = dprimes.shape
    areas = _mean_component_areas((dprimes > threshold).reshape(n * k, h, w))
    return areas.reshape(n, k).mean(axis=1)


def clustering_index(dprimes: np.ndarray, threshold: float = 2.0) -> float:
    """Mean connected-component area of the supra-threshold units, averaged over maps.

    For each map, the units with ``d' > threshold`` are split into 4-connected components;
    the map scores the mean component area in units (total supra-threshold area / number of
    components), and 1 when it has no component. The index is the mean over maps.
    Only meaningful while selective units are sparse (see the module note).

    Parameters
    ----------
    dprimes : ndarray, shape (K, H, W) or (H, W)
    threshold : float

    Returns
    -------
    float
    """
    d = _as_finite_array(dprimes, "dprimes", (2, 3))
    t = _check_threshold(threshold)
    if d.ndim == 2:
        d = d[None]
    # spec: topography.md §2, clustering index
    return float(_clustering_batch(d[None], t)[0])


_EIGHT_NEIGHBOURS = [(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1) if (di, dj) != (0, 0)]


def _topography_batch(labels: np.ndarray, n_labels: int) -> np.ndarray:
    """Topography index of each (H, W) label map in an (N, H, W) stack."""
    n, h, w = labels.shape
    if h < 3 or w < 3:
        return np.zeros(n)
    centre = labels[:, 1:-1, 1:-1]
    dist = np.zeros(centre.shape)
    for di, dj in _EIGHT_NEIGHBOURS:
        nb = labels[:, 1 + di : h - 1 + di, 1 + dj : w - 1 + dj]
        dist += np.where(nb < 0, n_labels, np.abs(nb - centre))
    # spec: topography.md §2, s(u) = L - (1/8) sum_v |label(v) - label(u)|, unlabelled v -> L
    score = (n_labels - dist / 8.0) / n_labels
    valid = centre >= 0
    n_valid = valid.reshape(n, -1).sum(axis=1)
    total = np.where(valid, score, 0.0).reshape(n, -1).sum(axis=1)
    return np.where(n_valid > 0, total / np.maximum(n_valid, 1), 0.0)


def topography_index(labels: np.ndarray, n_labels: int) -> float:
    """Topography index of a map of ordered labels (numbers): how close neighbours' labels are.

    For each interior unit u (all 8 neighbours inside the grid) that has a label,
    ``s(u) = L - (1/8) sum_v |label(v) - label(u)|`` over its 8 neighbours v, where an
    unlabelled neighbour (-1) contributes L = ``n_labels``. The index is the mean of
    ``s(u) / L``: 1 for a uniform map, lower as neighbouring labels differ.

    If no interior unit has a label (including grids smaller than 3x3) the index is 0.0, the
    score of a unit whose neighbours are all unlabelled, so the function never returns NaN.

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        Label in ``0..n_labels-1`` or -1 for no preference.
    n_labels : int
        L, the number of labels (10 for digits).

    Returns
    -------
    float
    """
    if int(n_labels) != n_labels or n_labels < 1:
        raise ValueError(f"n_labels must be a positive integer; got {n_labels!r}")
    lab = _check_labels(labels, n_labels=int(n_labels))
    return float(_topography_batch(lab[None], int(n_labels))[0])


def density_index(
    class_means: np.ndarray,
    labels: np.ndarray,
    target_set: Sequence[int],
    *,
    label: int | None = None,
) -> dict:
    """Density index of a category set: its total activity and the share of it in its units.

    The set's mean map is the mean of the class-mean maps of its classes. ``"sum"`` is that map
    summed over the grid; ``"fraction_in_preferring"`` is the part of that sum that falls in
    units preferring the set, divided by the whole sum (0.0 when the sum is 0). The fraction is
    meant for non-negative activity maps; with signed maps it is a signed share.

    Parameters
    ----------
    class_means : ndarray, shape (C, H, W)
    labels : ndarray of int, shape (H, W)
        A preference map. By default it labels classes (from per-class d' maps) and a unit
        prefers the set when its label is one of the set's classes.
    target_set : sequence of int
        Class indices of the set.
    label : int, optional
        Use when ``labels`` labels target sets rather than classes (the preference map of
        ``dprime_maps(class_means, target_sets)``): units with ``labels == label`` prefer the set.

    Returns
    -------
    dict
        ``{"sum": float, "fraction_in_preferring": float}``
    """
    m = _as_finite_array(class_means, "class_means", 3)
    lab = _check_labels(labels)
    if lab.shape != m.shape[1:]:
        raise ValueError(f"labels has shape {lab.shape} but the class-mean maps are {m.shape[1:]}")
    s = _check_target_sets([target_set], m.shape[0], allow_all=True)[0]
    set_map = m[s].mean(axis=0)
    prefers = np.isin(lab, s) if label is None else lab == int(label)
    # spec: topography.md §2, density index
    total = float(set_map.sum())
    inside = float(set_map[prefers].sum())
    return {"sum": total, "fraction_in_preferring": inside / total if total != 0 else 0.0}


def _morans_batch(values: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Moran's I with rook weights for each (H, W) map in an (N, H, W) stack."""
    n = values.shape[0]
    if mask is None:
        mask = np.ones(values.shape[1:], dtype=bool)
    n_units = int(mask.sum())
    x = values - (values * mask).reshape(n, -1).sum(axis=1)[:, None, None] / max(n_units, 1)
    x = np.where(mask, x, 0.0)
    h_pairs = mask[:, :-1] & mask[:, 1:]
    v_pairs = mask[:-1, :] & mask[1:, :]
    weight_sum = 2.0 * (h_pairs.sum() + v_pairs.sum())  # w_ij = w_ji = 1 for each rook pair
    cross = (x[:, :, :-1] * x[:, :, 1:] * h_pairs).reshape(n, -1).sum(axis=1) + (
        x[:, :-1, :] * x[:, 1:, :] * v_pairs
    ).reshape(n, -1).sum(axis=1)
    ss = (x**2).reshape(n, -1).sum(axis=1)
    scale = np.abs(values).reshape(n, -1).max(axis=1) ** 2 * n_units
    ok = (weight_sum > 0) & (ss > _REL_TOL * scale)
    # spec: topography.md §2, Moran's I = (N / W) sum_ij w_ij z_i z_j / sum_i z_i^2
    return np.where(ok, n_units / max(weight_sum, 1.0) * 2.0 * cross / np.where(ok, ss, 1.0), 0.0)


def morans_i(values: np.ndarray, mask: np.ndarray | None = None) -> float:
    """Moran's I spatial autocorrelation of a map with rook (4-neighbour) binary weights.

    ``I = (N / W) * sum_ij w_ij (x_i - m)(x_j - m) / sum_i (x_i - m)^2`` over the N units in
    ``mask`` (all units by default), where ``w_ij = 1`` for grid neighbours sharing an edge
    (both in the mask) and W is the sum of the weights. +1: smooth, 0: random, -1:
    checkerboard. A constant map, or a mask without neighbouring units, gives 0.0.

    Parameters
    ----------
    values : ndarray, shape (H, W)
        E.g. the max-d' map of a layer.
    mask : ndarray of bool, shape (H, W), optional
        Units to include.

    Returns
    -------
    float
    """
    x = _as_finite_array(values, "values", 2)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != x.shape:
            raise ValueError(f"mask has shape {mask.shape} but values has shape {x.shape}")
        mask = mask.astype(bool)
    return float(_morans_batch(x[None], mask)[0])


def _agreement_batch(labels: np.ndarray) -> np.ndarray:
    """Neighbour agreement of each (H, W) label map in an (N, H, W) stack."""
    n = labels.shape[0]
    same = np.zeros(n)
    pairs = np.zeros(n)
    for a, b in ((labels[:, :, :-1], labels[:, :, 1:]), (labels[:, :-1, :], labels[:, 1:, :])):
        both = (a >= 0) & (b >= 0)
        pairs += both.reshape(n, -1).sum(axis=1)
        same += (both & (a == b)).reshape(n, -1).sum(axis=1)
    return np.where(pairs > 0, same / np.maximum(pairs, 1.0), 0.0)


def neighbour_agreement(labels: np.ndarray) -> tuple[float, float]:
    """Fraction of adjacent selective pairs preferring the same label, and its chance level.

    Pairs are units sharing an edge (4-adjacency) that both have a label (>= 0). Chance is
    ``sum_c f_c^2``, with ``f_c`` the fraction of selective units preferring c: the agreement
    expected if the same labels were scattered at random. With no selective pair the
    agreement is 0.0 (and with no selective unit the chance is 0.0 too).

    Parameters
    ----------
    labels : ndarray of int, shape (H, W)
        A preference map, -1 = no preference.

    Returns
    -------
    (agreement, chance) : tuple of float
    """
    lab = _check_labels(labels)
    selective = lab[lab >= 0]
    # spec: topography.md §2, neighbour agreement against chance sum_c f_c^2
    if selective.size:
        f = np.bincount(selective) / selective.size
        chance = float((f**2).sum())
    else:
        chance = 0.0
    return float(_agreement_batch(lab[None])[0]), chance


# --------------------------------------------------------------------------------------------
# smoothness: tuning correlation against distance
# --------------------------------------------------------------------------------------------


def unit_coordinates(height: int, width: int) -> np.ndarray:
    """Grid coordinates of the units of an (H, W) map in row-major (raster) order.

    Returns
    -------
    ndarray of int64, shape (H * W, 2)
        ``(row, col)`` of unit ``i = row * width + col``.
    """
    if int(height) != height or int(width) != width or height < 1 or width < 1:
        raise ValueError(f"height and width must be positive integers; got {height}, {width}")
    rows, cols = np.divmod(np.arange(int(height) * int(width)), int(width))
    return np.stack([rows, cols], axis=1).astype(np.int64)


def _standardise_rows(responses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """z-scored rows (population std) and the mask of rows that vary."""
    centred = responses - responses.mean(axis=1, keepdims=True)
    std = np.sqrt((centred**2).mean(axis=1))
    scale = np.abs(responses).max(axis=1)
    varies = std > _REL_TOL * np.maximum(scale, np.finfo(float).tiny)
    z = np.where(varies[:, None], centred / np.where(varies, std, 1.0)[:, None], 0.0)
    return z, varies


def _distance_edges(dist: np.ndarray, bins: np.ndarray | int) -> np.ndarray:
    if isinstance(bins, (int, np.integer)):
        if bins < 1:
            raise ValueError(
                f"bins must be a positive number of bins or an array of edges; got {bins}"
            )
        lo, hi = float(dist.min()), float(dist.max())
        if hi <= lo:
            hi = lo + 1.0
        return np.linspace(lo, hi, int(bins) + 1)
    edges = _as_finite_array(bins, "bins", 1)
    if edges.size < 2 or np.any(np.diff(edges) <= 0):
        raise ValueError(
            f"bin edges must be strictly increasing with at least 2 entries; got {edges}"
        )
    return edges


def _bin_index(dist: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Bin of each distance, numpy.histogram convention ([a, b), last bin closed); -1 outside."""
    idx = np.searchsorted(edges, dist, side="right") - 1
    idx[dist == edges[-1]] = edges.size - 2
    idx[(dist < edges[0]) | (dist > edges[-1])] = -1
    return idx


def tuning_correlation_vs_distance(
    responses: np.ndarray, coords: np.ndarray, bins: np.ndarray | int = 10
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean Pearson correlation of unit tuning as a function of the distance between units.

    Every pair of units is binned by its Euclidean distance; each bin reports the mean
    correlation of the two units' response vectors. Units with constant responses have no
    defined correlation and are left out of every pair.

    Parameters
    ----------
    responses : ndarray, shape (n_units, n_conditions)
        Tuning of each unit, e.g. its class-mean responses (``class_means.reshape(C, -1).T``).
    coords : ndarray, shape (n_units, 2)
        Position of each unit, e.g. :func:`unit_coordinates`.
    bins : int or ndarray
        Number of equal-width bins between the smallest and largest pair distance, or bin
        edges (numpy.histogram convention: ``[a, b)``, the last bin closed).

    Returns
    -------
    bin_centres : ndarray, shape (n_bins,)
        Mean distance of the pairs in each bin (the edge midpoint for an empty bin).
    mean_correlation : ndarray, shape (n_bins,)
        Mean tuning correlation per bin; NaN for a bin without pairs.
    pair_counts : ndarray of int64, shape (n_bins,)
    """
    r = _as_finite_array(responses, "responses", 2)
    xy = _as_finite_array(coords, "coords", 2)
    if xy.shape[0] != r.shape[0]:
        raise ValueError(
            f"coords has {xy.shape[0]} units but responses has {r.shape[0]}; pass one "
            "coordinate per unit (row of responses)"
        )
    if r.shape[1] < 2:
        raise ValueError(
            f"responses has {r.shape[1]} condition per unit; a tuning correlation needs >= 2"
        )
    z, varies = _standardise_rows(r)
    z, xy = z[varies], xy[varies]
    if z.shape[0] < 2:
        raise ValueError(
            f"only {z.shape[0]} unit(s) vary across conditions; need at least 2 non-constant units"
        )
    dist = pdist(xy)
    edges = _distance_edges(dist, bins)
    iu, ju = np.triu_indices(z.shape[0], k=1)  # same order as pdist's condensed vector
    corr = np.clip(np.einsum("ij,ij->i", z[iu], z[ju]) / z.shape[1], -1.0, 1.0)
    return _bin_curve(dist, corr, edges)


def _bin_curve(
    dist: np.ndarray, values: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_bins = edges.size - 1
    idx = _bin_index(dist, edges)
    keep = idx >= 0
    counts = np.bincount(idx[keep], minlength=n_bins)
    sums = np.bincount(idx[keep], weights=values[keep], minlength=n_bins)
    dsum = np.bincount(idx[keep], weights=dist[keep], minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / counts, np.nan)
        centres = np.where(counts > 0, dsum / counts, 0.5 * (edges[:-1] + edges[1:]))
    return centres, mean, counts.astype(np.int64)


def smoothness_index(bin_values: np.ndarray, *, kind: str = "correlation") -> float:
    """Smoothness of a map from a distance-binned curve: ``(max - first) / max`` of dissimilarity.

    The spec's summary ``(max - first) / max`` (TDANN) is written for a curve that rises with
    distance, such as the absolute difference of preferences: small between neighbours, large
    far away. It is applied to a dissimilarity curve ``y``:

    - ``kind="correlation"`` (default, the curve of :func:`tuning_correlation_vs_distance`):
      ``y = 1 - r``, so a smooth map (r high near, low far) scores high;
    - ``kind="difference"``: the curve is already a dissimilarity and is used as given.

    Then ``smoothness = (max(y) - y[first]) / max(y)`` over the bins that are not NaN, with
    ``first`` the nearest non-empty bin. It is 0 when the nearest units are as dissimilar as
    the most dissimilar bin (no topography, or neighbours *less* alike than distant units) and
    approaches 1 when neighbours are identical while distant units are not. A shuffled map has a
    flat curve and scores near 0 (slightly above, since the max of noisy bins is taken), so
    compare against a null. Returns 0.0 when ``max(y) <= 0`` or no bin is finite.

    Parameters
    ----------
    bin_values : ndarray, shape (n_bins,)
        Curve ordered by increasing distance; NaN marks empty bins.
    kind : {"correlation", "difference"}

    Returns
    -------
    float in [0, 1] for non-negative dissimilarities
    """
    y = np.asarray(bin_values, dtype=np.float64)
    if y.ndim != 1:
        raise ValueError(f"bin_values must be a 1-d curve; got shape {y.shape}")
    if kind not in ("correlation", "difference"):
        raise ValueError(f"kind must be 'correlation' or 'difference'; got {kind!r}")
    if np.isinf(y).any():
        raise ValueError("bin_values contains inf; empty bins should be NaN")
    y = y[~np.isnan(y)]
    if y.size == 0:
        return 0.0
    if kind == "correlation":
        y = 1.0 - y
    top = float(y.max())
    # spec: topography.md §2, smoothness = (max - first) / max
    return (top - float(y[0])) / top if top > 0 else 0.0


# --------------------------------------------------------------------------------------------
# null models
# --------------------------------------------------------------------------------------------


def _pixel_permutations(n_units: int, n: int, rng: np.random.Generator) -> np.ndarray:
    return rng.permuted(np.broadcast_to(np.arange(n_units), (n, n_units)), axis=1)


def _tile_permutations(
    height: int, width: int, tile: int, n: int, rng: np.random.Generator
) -> np.ndarray:
    if int(tile) != tile or tile < 1:
        raise ValueError(f"tile must be a positive integer; got {tile!r}")
    tile = int(tile)
    if height % tile or width % tile:
        raise ValueError(
            f"a {height}x{width} grid cannot be cut into {tile}x{tile} tiles; tile must divide "
            "both sides (e.g. the subnetwork tile side of a Reset grid)"
        )
    flat = np.arange(height * width).reshape(height // tile, tile, width // tile, tile)
    blocks = flat.transpose(0, 2, 1, 3).reshape(-1, tile * tile)  # (n_tiles, tile*tile)
    perms = np.empty((n, height * width), dtype=np.int64)
    for s in range(n):
        shuffled = rng.permuted(blocks, axis=1)
        # the unit at position blocks[t, i] takes the content of position shuffled[t, i]
        perms[s, blocks.ravel()] = shuffled.ravel()
    return perms


def _permutations(
    shape: tuple[int, int],
    n: int,
    null: str,
    tile: int | None,
    rng: np.random.Generator,
) -> np.ndarray:
    """(n, H*W) source indices: shuffled map.flat[i] = map.flat[perm[i]]."""
    if null == "pixel":
        return _pixel_permutations(shape[0] * shape[1], n, rng)
    if null == "tile":
        if tile is None:
            raise ValueError("null='tile' needs tile=<tile side in units>")
        return _tile_permutations(shape[0], shape[1], tile, n, rng)
    raise ValueError(f"null must be one of {_NULLS}; got {null!r}")


def _apply_permutation(maps: np.ndarray, perm: np.ndarray) -> np.ndarray:
    lead = maps.shape[:-2]
    flat = maps.reshape(lead + (-1,))
    return flat[..., perm].reshape(maps.shape)


def shuffle_pixels(maps: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Move every unit to a random grid position (same permutation for every leading slice).

    Each unit keeps its whole tuning vector (its values across the leading axes); only its
    position changes. This is the default null model of the spec.

    Parameters
    ----------
    maps : ndarray, shape (..., H, W)
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, same shape and dtype as ``maps``
    """
    arr = np.asarray(maps)
    if arr.ndim < 2:
        raise ValueError(f"maps must have at least 2 dims (..., H, W); got shape {arr.shape}")
    perm = _pixel_permutations(arr.shape[-2] * arr.shape[-1], 1, _as_rng(rng))[0]
    return _apply_permutation(arr, perm)


def shuffle_within_tiles(maps: np.ndarray, tile: int, rng: np.random.Generator) -> np.ndarray:
    """Shuffle units only within each ``tile x tile`` block of the grid.

    Keeps each tile's content (a Reset subnetwork's units) in place and destroys only the
    order inside tiles: the null keeps whatever comes from which subnetwork sits where, so a
    real value above it needs order among units within tiles. The same permutation applies to every leading slice.

    Parameters
    ----------
    maps : ndarray, shape (..., H, W)
        H and W must be multiples of ``tile``.
    tile : int
    rng : numpy.random.Generator

    Returns
    -------
    ndarray, same shape and dtype as ``maps``
    """
    arr = np.asarray(maps)
    if arr.ndim < 2:
        raise ValueError(f"maps must have at least 2 dims (..., H, W); got shape {arr.shape}")
    perm = _tile_permutations(arr.shape[-2], arr.shape[-1], tile, 1, _as_rng(rng))[0]
    return _apply_permutation(arr, perm)


@dataclass
class NullResult:
    """A metric's value beside its null distribution from shuffled maps.

    Attributes
    ----------
    value : float
        The metric on the real map.
    null_mean, null_std : float
        Mean and population standard deviation of the metric over the shuffles.
    p_value : float
        Permutation p-value, ``(1 + #{extreme shuffles}) / (1 + n_shuffles)``.
    n_shuffles : int
    null : str
        ``"pixel"`` or ``"tile"``.
    """

    value: float
    null_mean: float
    null_std: float
    p_value: float
    n_shuffles: int
    null: str

    def to_dict(self) -> dict:
        """JSON-serialisable dict of the fields (NaN becomes None)."""
        return {k: _json_number(v) for k, v in asdict(self).items()}


def _json_number(v: Any) -> Any:
    if isinstance(v, (bool, str)) or v is None:
        return v
    if isinstance(v, (int, np.integer)):
        return int(v)
    f = float(v)
    return f if math.isfinite(f) else None


def _null_result(value: float, null_values: np.ndarray, null: str, alternative: str) -> NullResult:
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}; got {alternative!r}")
    null_values = np.asarray(null_values, dtype=np.float64)
    n = null_values.size
    mean = float(null_values.mean()) if n else float("nan")
    std = float(null_values.std()) if n else float("nan")
    # spec: topography.md §2, permutation p-value over n shuffles (not 2n: the original bug)
    if alternative == "greater":
        extreme = np.sum(null_values >= value)
    elif alternative == "less":
        extreme = np.sum(null_values <= value)
    else:
        extreme = np.sum(np.abs(null_values - mean) >= abs(value - mean))
    p = (1.0 + float(extreme)) / (1.0 + n)
    return NullResult(float(value), mean, std, p, int(n), null)


def null_test(
    metric: Callable[[np.ndarray], float],
    maps: np.ndarray,
    n_shuffles: int = 100,
    null: str = "pixel",
    tile: int | None = None,
    rng: np.random.Generator | int | None = None,
    alternative: str = "greater",
) -> NullResult:
    """Compare a metric on maps against the same metric on spatially shuffled maps.

    Parameters
    ----------
    metric : callable
        ``metric(maps) -> float``, e.g. ``lambda d: clustering_index(d, 2.0)``.
    maps : ndarray, shape (..., H, W)
        All leading slices are shuffled with the same permutation per shuffle.
    n_shuffles : int
    null : {"pixel", "tile"}
        Pixel shuffles, or shuffles within ``tile x tile`` blocks.
    tile : int, optional
        Tile side, required for ``null="tile"``.
    rng : numpy.random.Generator or int, optional
    alternative : {"greater", "less", "two-sided"}
        ``"greater"``: ``p = (1 + #{null >= value}) / (1 + n_shuffles)``; ``"less"`` counts
        ``null <= value``; ``"two-sided"`` counts ``|null - null_mean| >= |value - null_mean|``.

    Returns
    -------
    NullResult
    """
    arr = np.asarray(maps)
    if arr.ndim < 2:
        raise ValueError(f"maps must have at least 2 dims (..., H, W); got shape {arr.shape}")
    if int(n_shuffles) != n_shuffles or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive integer; got {n_shuffles!r}")
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}; got {alternative!r}")
    perms = _permutations(arr.shape[-2:], int(n_shuffles), null, tile, _as_rng(rng))
    value = float(metric(arr))
    null_values = np.array([float(metric(_apply_permutation(arr, p))) for p in perms])
    return _null_result(value, null_values, null, alternative)


# --------------------------------------------------------------------------------------------
# summary
# --------------------------------------------------------------------------------------------


def _summary_distance_edges(height: int, width: int) -> np.ndarray:
    """Edges isolating adjacent units, then octaves: [0.5, 1.25), [1.25, 2.5), [2.5, 4.5) ..."""
    dmax = math.hypot(height - 1, width - 1)
    edges = [0.5, 1.25]
    e = 2.5
    while e < dmax:
        edges.append(e)
        e = 2.0 * e - 0.5  # 2.5, 4.5, 8.5, 16.5 ...
    edges.append(max(dmax, edges[-1] + 0.25))
    return np.array(edges)


def _smoothness_curves(
    class_means: np.ndarray, perms: np.ndarray, edges: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Distance-binned tuning correlation on a grid, for the real map and each shuffle.

    On a grid a pair's distance depends only on its displacement d, so the sum of pair
    correlations at displacement d is the spatial autocorrelation of the z-scored tuning maps,
    which FFTs give for all displacements at once (zero-padded, so nothing wraps around).
    Equal to :func:`tuning_correlation_vs_distance` with the same edges, in O(HW log HW).

    Returns
    -------
    centres (n_bins,), real curve (n_bins,), shuffled curves (n_shuffles, n_bins),
    pair counts of the real curve (n_bins,).
    """
    n_classes, h, w = class_means.shape
    z, varies = _standardise_rows(class_means.reshape(n_classes, -1).T)
    # channels: z / sqrt(C) so that z_i . z_j is the Pearson r; last channel marks valid units
    x = np.concatenate([z.T / np.sqrt(n_classes), varies[None].astype(np.float64)])
    size = (2 * h, 2 * w)
    di = np.where(np.arange(size[0]) < h, np.arange(size[0]), np.arange(size[0]) - size[0])
    dj = np.where(np.arange(size[1]) < w, np.arange(size[1]), np.arange(size[1]) - size[1])
    disp = np.hypot(di[:, None], dj[None, :]).ravel()
    bin_of = _bin_index(disp, edges)
    bin_of[0] = -1  # displacement 0 pairs a unit with itself
    n_bins = edges.size - 1
    onehot = np.zeros((disp.size, n_bins))
    keep = np.flatnonzero(bin_of >= 0)
    onehot[keep, bin_of[keep]] = 0.5  # each unordered pair appears at +d and -d

    all_perms = np.vstack([np.arange(h * w)[None], perms])
    chunk = max(1, 4_000_000 // ((n_classes + 1) * 4 * h * w))  # bounds the FFT buffers
    sums = np.empty((all_perms.shape[0], n_bins))
    counts = np.empty((all_perms.shape[0], n_bins))
    for start in range(0, all_perms.shape[0], chunk):
        p = all_perms[start : start + chunk]
        xp = np.moveaxis(x[:, p], 1, 0).reshape(p.shape[0], n_classes + 1, h, w)
        power = np.abs(np.fft.rfft2(xp, s=size)) ** 2
        auto_z = np.fft.irfft2(power[:, :-1].sum(axis=1), s=size).reshape(p.shape[0], -1)
        auto_v = np.fft.irfft2(power[:, -1], s=size).reshape(p.shape[0], -1)
        sums[start : start + chunk] = auto_z @ onehot
        counts[start : start + chunk] = np.rint(auto_v @ onehot)
    with np.errstate(invalid="ignore", divide="ignore"):
        curves = np.where(counts > 0, sums / np.maximum(counts, 1.0), np.nan)
    n_pairs = ((h - np.abs(di))[:, None] * (w - np.abs(dj))[None, :]).clip(min=0).ravel()
    all_counts = n_pairs @ onehot
    centres = np.where(
        all_counts > 0,
        (n_pairs * disp) @ onehot / np.maximum(all_counts, 1e-300),
        0.5 * (edges[:-1] + edges[1:]),
    )
    return centres, curves[0], curves[1:], counts[0].astype(np.int64)


def topography_summary(
    class_means: np.ndarray,
    class_vars: np.ndarray | None = None,
    class_counts: np.ndarray | None = None,
    *,
    threshold: float = 2.0,
    dprime: str = "class",
    ordered: bool = False,
    target_sets: Sequence[Sequence[int]] | None = None,
    null: str = "pixel",
    tile: int | None = None,
    n_shuffles: int = 100,
    seed: int = 0,
    n_smoothness_shuffles: int | None = None,
) -> dict:
    """Every topography metric of one snapshot of class-mean maps, each against the same null.

    The d' maps (class-level or trial-level), the preference map and the tuning vectors are
    computed once; each shuffle is one spatial permutation of the units applied to all of them
    (d' and preferences are per-unit, so shuffling them equals recomputing them from shuffled
    class means). All metrics with a null use the same permutations.

    Parameters
    ----------
    class_means : ndarray, shape (C, H, W)
    class_vars : ndarray, shape (C, H, W), optional
        Per-class population variances; needed for ``dprime="trial"``.
    class_counts : ndarray, shape (C,), optional
        Images per class; needed for ``dprime="trial"``.
    threshold : float
        d' threshold T for selectivity and clustering.
    dprime : {"class", "trial"}
        :func:`dprime_maps` or :func:`trial_dprime_maps`.
    ordered : bool
        Labels are ordered numbers (digits): also report the topography index.
    target_sets : sequence of sequences of int, optional
        Category sets (one d' map each) instead of one map per class; adds the density index.
    null : {"pixel", "tile"}
    tile : int, optional
        Tile side for ``null="tile"``.
    n_shuffles : int
    seed : int
    n_smoothness_shuffles : int, optional
        Shuffles for the smoothness null; defaults to ``n_shuffles`` (it is cheap: FFT
        autocorrelations). Fewer uses the first of the same permutations; the number used is
        recorded in the result.

    Returns
    -------
    dict
        JSON-serialisable. Metrics as :meth:`NullResult.to_dict`: ``"clustering_index"``,
        ``"neighbour_agreement"`` (plus ``"neighbour_agreement_chance"``), ``"morans_i"`` (of
        the max-d' map), ``"smoothness"`` (:func:`smoothness_index` of the tuning-correlation
        curve, with ``"smoothness_curve"``: ``{"distance", "correlation", "null_correlation",
        "pair_count", "bin_edges"}``; the first bin holds exactly the adjacent pairs at
        distance 1, then [1.25, 2.5), [2.5, 4.5), [4.5, 8.5) ... units),
        ``"topography_index"`` and ``"topography_index_minus_null"`` when ``ordered``;
        ``"density"`` (a list, one dict per set) when ``target_sets`` is given. Also
        ``"fraction_selective"``, ``"n_selective"``, ``"n_units"``, ``"threshold"``,
        ``"dprime"``, ``"null"``, ``"tile"`` (None unless ``null="tile"``), ``"n_shuffles"``,
        ``"n_smoothness_shuffles"``, ``"seed"``. The density index has no null: a shuffle moves
        activity and preference together, so it cannot change.
    """
    m = _as_finite_array(class_means, "class_means", 3)
    t = _check_threshold(threshold)
    if int(n_shuffles) != n_shuffles or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive integer; got {n_shuffles!r}")
    n_shuffles = int(n_shuffles)
    n_smooth = n_shuffles if n_smoothness_shuffles is None else int(n_smoothness_shuffles)
    if not 0 <= n_smooth <= n_shuffles:
        raise ValueError(
            f"n_smoothness_shuffles must lie in 0..n_shuffles ({n_shuffles}); got {n_smooth}"
        )
    if dprime == "class":
        d = dprime_maps(m, target_sets)
    elif dprime == "trial":
        if class_vars is None or class_counts is None:
            raise ValueError(
                "dprime='trial' needs class_vars (C, H, W) and class_counts (C,); store them "
                "beside the class means at each snapshot, or use dprime='class'"
            )
        d = trial_dprime_maps(m, class_vars, class_counts, target_sets)
    else:
        raise ValueError(f"dprime must be 'class' or 'trial'; got {dprime!r}")

    h, w = m.shape[1:]
    perms = _permutations((h, w), n_shuffles, null, tile, np.random.default_rng(seed))
    labels = preference_map(d, t)
    n_labels = d.shape[0]

    def shuffled(x: np.ndarray, p: np.ndarray = perms) -> np.ndarray:
        """(..., H, W) -> (len(p), ..., H, W), one spatial permutation per row of p."""
        flat = x.reshape(x.shape[:-2] + (-1,))
        out = flat[..., p]  # (..., n, H*W)
        return np.moveaxis(out, -2, 0).reshape((p.shape[0],) + x.shape)

    out: dict[str, Any] = {}
    # spec: topography.md §2, clustering index against pixel-shuffled d' maps; in chunks of
    # shuffles so that (n_shuffles, K, H, W) never has to be held at once
    chunk = max(1, 2_000_000 // d.size)
    null_clustering = np.concatenate(
        [
            _clustering_batch(shuffled(d, perms[i : i + chunk]), t)
            for i in range(0, n_shuffles, chunk)
        ]
    )
    out["clustering_index"] = _null_result(
        _clustering_batch(d[None], t)[0], null_clustering, null, "greater"
    ).to_dict()

    lab_null = shuffled(labels)
    if ordered:
        real = _topography_batch(labels[None], n_labels)[0]
        res = _null_result(real, _topography_batch(lab_null, n_labels), null, "greater")
        out["topography_index"] = res.to_dict()
        out["topography_index_minus_null"] = _json_number(res.value - res.null_mean)

    agreement, chance = neighbour_agreement(labels)
    out["neighbour_agreement"] = _null_result(
        agreement, _agreement_batch(lab_null), null, "greater"
    ).to_dict()
    out["neighbour_agreement_chance"] = chance

    dmax = d.max(axis=0)
    out["morans_i"] = _null_result(
        _morans_batch(dmax[None], None)[0], _morans_batch(shuffled(dmax), None), null, "greater"
    ).to_dict()

    edges = _summary_distance_edges(h, w)
    centres, real_curve, null_curves, pair_counts = _smoothness_curves(m, perms[:n_smooth], edges)
    null_smooth = np.array([smoothness_index(c) for c in null_curves])
    out["smoothness"] = _null_result(
        smoothness_index(real_curve), null_smooth, null, "greater"
    ).to_dict()
    with np.errstate(invalid="ignore"):
        null_mean_curve = (
            np.nanmean(null_curves, axis=0) if n_smooth else np.full_like(real_curve, np.nan)
        )
    out["smoothness_curve"] = {
        "distance": [_json_number(v) for v in centres],
        "correlation": [_json_number(v) for v in real_curve],
        "null_correlation": [_json_number(v) for v in null_mean_curve],
        "pair_count": [int(v) for v in pair_counts],
        "bin_edges": [float(v) for v in edges],
    }

    if target_sets is not None:
        sets = _check_target_sets(target_sets, m.shape[0])
        out["density"] = [
            {"target_set": list(s), **density_index(m, labels, s, label=k)}
            for k, s in enumerate(sets)
        ]

    out.update(
        fraction_selective=float(np.mean(labels >= 0)),
        n_selective=int(np.sum(labels >= 0)),
        n_units=int(h * w),
        threshold=t,
        dprime=dprime,
        null=null,
        tile=int(tile) if null == "tile" else None,  # a tile given with the pixel null is unused
        n_shuffles=n_shuffles,
        n_smoothness_shuffles=n_smooth,
        seed=int(seed),
    )
    return out


# --------------------------------------------------------------------------------------------
# locality-prior analysis: spatial variance and wiring length
# --------------------------------------------------------------------------------------------

__all__ += [
    "spatial_variance",
    "spatial_variance_null",
    "uniform_spatial_variance",
    "wiring_length",
]


def _activity_and_coords(activations: Any, coords: Any) -> tuple[np.ndarray, np.ndarray]:
    """Check non-negative finite activity ``(..., N)`` (or ``(..., H, W)``) and coords (N, D)."""
    c = np.asarray(coords, dtype=np.float64)
    if c.ndim != 2 or c.shape[0] == 0:
        raise ValueError(f"coords must be (units, dims) with at least one unit; got {c.shape}")
    a = np.asarray(activations, dtype=np.float64)
    n = c.shape[0]
    if a.ndim >= 1 and a.shape[-1] != n and a.ndim >= 2 and a.shape[-2] * a.shape[-1] == n:
        a = a.reshape(a.shape[:-2] + (n,))  # (..., H, W) maps, row-major like the coords
    if a.ndim == 0 or a.shape[-1] != n:
        raise ValueError(
            f"activations must be (..., {n}) or (..., H, W) with H * W = {n} to match coords "
            f"{c.shape}; got shape {a.shape}"
        )
    if not np.all(np.isfinite(a)):
        raise ValueError("activations contain NaN/inf; spatial variance needs finite activity")
    if (a < 0).any():
        raise ValueError(
            f"activations have negative values (min {a.min():.4g}); spatial variance treats a "
            "map as a distribution of activity, so pass non-negative maps (e.g. after ReLU)"
        )
    return a, c


def spatial_variance(activations: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Spread of the activity of each map over the sheet (low = local activity).

    spec: topography.md §2, spatial variance: ``p = a / sum(a)``, ``mu = sum_k p_k c_k``,
    ``V = sum_k p_k ||c_k - mu||^2 / (1 - sum_k p_k^2)`` (the unbiased variance of positions
    with reliability weights ``p``, summed over the coordinate dims). A uniform map on an
    ``n x n`` grid gives ``n^2 / 6`` (:func:`uniform_spatial_variance`).

    Edge cases, by convention: a map with a single active unit (a delta) has ``V = 0``: all
    activity sits at one point, the numerator is exactly 0, and the formula's 0/0 is read as
    no spread. This is not a limit: two active units at distance d give ``d^2 / 2`` however
    small the second one's share, so deltas sit apart from all other maps; count them if they
    are common. An all-zero map has no activity to locate and gives NaN (use ``np.nanmean``).

    Parameters
    ----------
    activations : ndarray, shape (..., N) or (..., H, W)
        Non-negative activity; leading dims are maps (images, classes).
    coords : ndarray, shape (N, D)
        Unit positions (``grid_coordinates(H, W)`` or a model's ``sheet``), row-major.

    Returns
    -------
    ndarray, shape (...)
        One variance per map, in squared coordinate units.
    """
    a, c = _activity_and_coords(activations, coords)
    total = a.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        p = a / total  # NaN rows for all-zero maps
    mu = p @ c  # (..., D)
    # centred sum, one coordinate dim at a time: exact for nearly-delta maps (a second moment
    # minus squared mean would cancel) with temporaries no larger than p
    num = np.zeros(p.shape[:-1])
    for dim in range(c.shape[1]):
        num += (p * (c[:, dim] - mu[..., dim : dim + 1]) ** 2).sum(axis=-1)
    # 1 - sum p^2 computed as sum p (1 - p): equal when sum p = 1, never negative
    den = (p * (1.0 - p)).sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        v = np.where(den > 0, num / np.where(den > 0, den, 1.0), 0.0)
    return np.where(total[..., 0] > 0, v, np.nan)


def uniform_spatial_variance(shape: tuple[int, int] | int) -> float:
    """Spatial variance of a uniform map on an ``H x W`` grid with unit spacing.

    With ``p = 1 / N`` (``N = H W``) the numerator is the population variance of the positions,
    ``(H^2 - 1) / 12 + (W^2 - 1) / 12``, and the denominator ``1 - 1 / N``; for a square grid
    ``V = (n^2 - 1) / 6 * n^2 / (n^2 - 1) = n^2 / 6`` (8.17 for 7x7, 682.7 for 64x64, the
    spec's reference values, topography.md §2).

    Parameters
    ----------
    shape : (H, W) or int
        Grid shape, or the side of a square grid.

    Returns
    -------
    float
        NaN for a 1x1 grid (a single unit has no spread to estimate).
    """
    h, w = (int(shape), int(shape)) if np.ndim(shape) == 0 else (int(s) for s in shape)
    if h < 1 or w < 1:
        raise ValueError(f"shape must be a positive grid (H, W); got {shape!r}")
    n = h * w
    if n == 1:
        return float("nan")
    return ((h * h - 1) / 12.0 + (w * w - 1) / 12.0) / (1.0 - 1.0 / n)


def spatial_variance_null(
    activations: np.ndarray,
    coords: np.ndarray,
    n_shuffles: int = 100,
    seed: int = 0,
) -> dict[str, Any]:
    """Spatial variance of maps against maps whose units were shuffled over the sheet.

    Each shuffle draws one random permutation of the units per map (the activity values are
    kept, their positions are not), so the null keeps each map's sparseness and asks only
    whether active units sit close together.

    Parameters
    ----------
    activations : ndarray, shape (..., N) or (..., H, W)
        Non-negative maps; all leading dims are flattened to M maps.
    coords : ndarray, shape (N, D)
    n_shuffles : int
    seed : int

    Returns
    -------
    dict
        ``"values"`` (M,) real per-map variances; ``"mean"`` their nan-mean;
        ``"null_per_map"`` (M,) each map's mean over shuffles; ``"null_values"``
        (n_shuffles,) the nan-mean over maps of each shuffle; ``"null_mean"``, ``"null_std"``
        (population std of ``null_values``); ``"p_value"`` for lower-than-null variance,
        ``(1 + #{null_values <= mean}) / (1 + n_shuffles)``; ``"n_shuffles"``, ``"seed"``.
        Arrays are numpy (for paired tests), the rest plain floats/ints.
    """
    if int(n_shuffles) != n_shuffles or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive integer; got {n_shuffles!r}")
    a, c = _activity_and_coords(activations, coords)
    a = a.reshape(-1, c.shape[0])
    values = spatial_variance(a, c)
    rng = np.random.default_rng(seed)
    null = np.empty((int(n_shuffles), a.shape[0]))
    rows = np.arange(a.shape[0])[:, None]
    for s in range(int(n_shuffles)):
        perm = rng.permuted(np.broadcast_to(np.arange(c.shape[0]), a.shape), axis=1)
        null[s] = spatial_variance(a[rows, perm], c)
    import warnings

    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns (all-zero maps)
        null_values = np.nanmean(null, axis=1)
        mean = float(np.nanmean(values))
        null_per_map = np.nanmean(null, axis=0)
    return {
        "values": values,
        "mean": mean,
        "null_per_map": null_per_map,
        "null_values": null_values,
        "null_mean": float(np.mean(null_values)),
        "null_std": float(np.std(null_values)),
        "p_value": float((1.0 + np.sum(null_values <= mean)) / (1.0 + n_shuffles)),
        "n_shuffles": int(n_shuffles),
        "seed": int(seed),
    }


def wiring_length(
    weight: np.ndarray,
    in_coords: np.ndarray,
    out_coords: np.ndarray,
    metric: str = "euclidean",
) -> float:
    """Total wiring of a layer: ``sum_ij |w_ij| d_ij`` (spec: topography.md §2, wiring length).

    Parameters
    ----------
    weight : ndarray, shape (out, in) or (out, in, ...)
        Connection weights (for a conv, every kernel tap counts).
    in_coords : ndarray, shape (in, D)
    out_coords : ndarray, shape (out, D)
    metric : str
        Any ``scipy.spatial.distance.cdist`` metric.

    Returns
    -------
    float
    """
    from scipy.spatial.distance import cdist  # module imports above are not ours to edit

    w = np.abs(np.asarray(weight, dtype=np.float64))
    if w.ndim > 2:
        w = w.reshape(w.shape[0], w.shape[1], -1).sum(-1)
    ci, co = np.asarray(in_coords, np.float64), np.asarray(out_coords, np.float64)
    if w.ndim != 2 or w.shape != (co.shape[0], ci.shape[0]):
        raise ValueError(
            f"weight must be (out, in) = ({co.shape[0]}, {ci.shape[0]}) to match out_coords "
            f"{co.shape} and in_coords {ci.shape}; got {np.shape(weight)}"
        )
    return float((w * cdist(co, ci, metric)).sum())
