"""Locality-prior analyses of a cortical sheet: how local the activity of a map is (spatial
variance, against maps with shuffled units) and how long a layer's wiring is
(spec: topography.md §2).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
from scipy.spatial.distance import cdist

from brainlike.analysis.topography.nulls import _check_n_shuffles

__all__ = [
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
    _check_n_shuffles(n_shuffles)
    a, c = _activity_and_coords(activations, coords)
    a = a.reshape(-1, c.shape[0])
    values = spatial_variance(a, c)
    rng = np.random.default_rng(seed)
    null = np.empty((int(n_shuffles), a.shape[0]))
    rows = np.arange(a.shape[0])[:, None]
    for s in range(int(n_shuffles)):
        perm = rng.permuted(np.broadcast_to(np.arange(c.shape[0]), a.shape), axis=1)
        null[s] = spatial_variance(a[rows, perm], c)
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
