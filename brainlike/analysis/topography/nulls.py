"""Null models of a map: move units on the grid while keeping their tuning (pixel shuffles, or
shuffles within tiles that keep per-subnetwork statistics), and compare a metric against its
values on the shuffled maps with a permutation p-value (spec: topography.md §2).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

__all__ = [
    "NullResult",
    "null_test",
    "shuffle_pixels",
    "shuffle_within_tiles",
]

_ALTERNATIVES = ("greater", "less", "two-sided")
_NULLS = ("pixel", "tile")


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    if isinstance(rng, np.random.Generator):
        return rng
    return np.random.default_rng(rng)


def _as_maps(maps: Any) -> np.ndarray:
    """``maps`` as an array of shape (..., H, W): units on the last two axes."""
    arr = np.asarray(maps)
    if arr.ndim < 2:
        raise ValueError(f"maps must have at least 2 dims (..., H, W); got shape {arr.shape}")
    return arr


def _check_n_shuffles(n_shuffles: int) -> None:
    if int(n_shuffles) != n_shuffles or n_shuffles < 1:
        raise ValueError(f"n_shuffles must be a positive integer; got {n_shuffles!r}")


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
    arr = _as_maps(maps)
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
    arr = _as_maps(maps)
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
    arr = _as_maps(maps)
    _check_n_shuffles(n_shuffles)
    if alternative not in _ALTERNATIVES:
        raise ValueError(f"alternative must be one of {_ALTERNATIVES}; got {alternative!r}")
    perms = _permutations(arr.shape[-2:], int(n_shuffles), null, tile, _as_rng(rng))
    value = float(metric(arr))
    null_values = np.array([float(metric(_apply_permutation(arr, p))) for p in perms])
    return _null_result(value, null_values, null, alternative)
