"""Smoothness of a map: tuning correlation against the distance between units, and its summary
``(max - first) / max`` (spec: topography.md §2).

:func:`tuning_correlation_vs_distance` bins every pair of units; on a full grid
:func:`_smoothness_curves` gives the same curve, for a map and all its shuffles at once, from
FFT autocorrelations.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.spatial.distance import pdist

from brainlike.analysis.topography.selectivity import _REL_TOL, _as_finite_array

__all__ = [
    "smoothness_index",
    "tuning_correlation_vs_distance",
    "unit_coordinates",
]


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
# on a full grid, for a map and its shuffles (topography_summary)
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
