"""How selective units are arranged on the grid: the clustering index, the topography index of
ordered labels, the density index of category sets, Moran's I of a map and the agreement of
neighbouring preferences (spec: topography.md §2).

The ``_*_batch`` internals take a leading axis of maps (or shuffles of one map) so that the
null models of :func:`~brainlike.analysis.topography.topography_summary` run in one call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy import ndimage

from brainlike.analysis.topography.selectivity import (
    _REL_TOL,
    _as_finite_array,
    _check_target_sets,
    _check_threshold,
)

__all__ = [
    "clustering_index",
    "density_index",
    "morans_i",
    "neighbour_agreement",
    "topography_index",
]


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


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
