"""Spatial tuning of cells and model units: rate maps, autocorrelograms, grid, border and
spatial-information scores.

A rate map is a cell's mean firing (or a unit's mean activation) in each spatial bin of the
arena. A grid cell fires on the vertices of a triangular lattice: its spatial autocorrelogram
is six-fold symmetric, so it correlates well with itself rotated by 60 and 120 degrees and
badly at 30, 90 and 150 degrees (the grid score). A border cell fires along a wall (the border
score compares wall coverage with distance from the walls). Spatial information (Skaggs) is
how many bits one spike tells about the animal's position.

Everything is batched over cells: maps are ``(N, H, W)`` arrays (rows = y, columns = x,
NaN = unvisited bin); autocorrelograms come from FFTs of the whole stack and rotations from one
precomputed bilinear sampling matrix applied to the whole stack.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, sparse, special

GRID_ANGLES = (30, 60, 90, 120, 150)
CONVENTIONS = ("mean_annuli", "minmax_peak")


@dataclass(frozen=True)
class RateMaps:
    """Rate maps with their occupancy and binning.

    Attributes
    ----------
    rates : (N, H, W) mean activity (or spikes/s) per bin, NaN where unvisited.
    occupancy : (H, W) samples (activity maps) or seconds (spike maps) per bin.
    bin_cm : bin side in cm.
    arena_size : (width, height) of the arena in the positions' unit (m).
    """

    rates: np.ndarray
    occupancy: np.ndarray
    bin_cm: float
    arena_size: tuple[float, float]


@dataclass(frozen=True)
class GridScores:
    """Grid scores of a stack of maps and the convention that produced them.

    ``reasons[i]`` is '' for a scored map and says why ``scores[i]`` is NaN otherwise.
    ``radius`` is the outer radius (bins) of the best annulus (mean form: of the max; min/max
    form: the centre of the three averaged radii).
    """

    scores: np.ndarray
    convention: str
    params: dict
    radius: np.ndarray
    reasons: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------------------------------
# rate maps


def _arena(arena_size, origin) -> tuple[np.ndarray, np.ndarray]:
    size = np.broadcast_to(np.asarray(arena_size, dtype=float), (2,)).copy()
    if not np.all(size > 0):
        raise ValueError(f"arena_size must be positive (got {arena_size}); give the side in m")
    low = -size / 2 if origin is None else np.asarray(origin, dtype=float)
    return size, low


def _bin_index(positions: np.ndarray, size, low, bin_cm: float) -> tuple[np.ndarray, int, int]:
    """Flat bin index of each (x, y) sample. Bins are half-open [a, b) except the last one,
    which is closed, so samples exactly on the far wall fall in the last bin (as
    numpy.histogram does) instead of being dropped."""
    if bin_cm <= 0:
        raise ValueError(f"bin_cm must be positive (got {bin_cm})")
    nx, ny = (int(np.ceil(s * 100.0 / bin_cm - 1e-9)) for s in size)
    rel = (positions - low) / size  # 0..1 inside the arena
    tol = 1e-9
    if np.any(rel < -tol) or np.any(rel > 1 + tol) or not np.all(np.isfinite(rel)):
        raise ValueError(
            f"positions fall outside the arena [{low[0]}, {low[0] + size[0]}] x "
            f"[{low[1]}, {low[1] + size[1]}] m (or are not finite); pass the right arena_size "
            "(m) and origin"
        )
    ix = np.clip(np.floor(rel[:, 0] * size[0] * 100.0 / bin_cm).astype(int), 0, nx - 1)
    iy = np.clip(np.floor(rel[:, 1] * size[1] * 100.0 / bin_cm).astype(int), 0, ny - 1)
    return iy * nx + ix, ny, nx


def rate_maps_from_activity(
    positions: np.ndarray,
    activity: np.ndarray,
    arena_size: float | tuple[float, float],
    bin_cm: float = 5.0,
    origin: tuple[float, float] | None = None,
) -> RateMaps:
    """Mean activation of each unit in each spatial bin (spec: mouse-and-entorhinal.md §2).

    Parameters
    ----------
    positions : (T, 2) or (B, T, 2) x, y in m.
    activity : (T, units) or (B, T, units), aligned with ``positions``.
    arena_size : side (or (width, height)) in m; the arena is centred at 0 unless ``origin``
        (its lower-left corner) is given.
    bin_cm : bin side in cm.

    Returns
    -------
    RateMaps with rates (units, H, W) (NaN in unvisited bins) and occupancy in samples.
    """
    positions = np.asarray(positions, dtype=float)
    activity = np.asarray(activity, dtype=float)
    if positions.shape[-1] != 2 or positions.ndim not in (2, 3):
        raise ValueError(f"positions must be (T, 2) or (B, T, 2); got shape {positions.shape}")
    if activity.shape[:-1] != positions.shape[:-1]:
        raise ValueError(
            f"activity {activity.shape} must be positions' leading shape "
            f"{positions.shape[:-1]} + (units,)"
        )
    size, low = _arena(arena_size, origin)
    flat, ny, nx = _bin_index(positions.reshape(-1, 2), size, low, bin_cm)
    act = activity.reshape(len(flat), -1)
    onehot = sparse.csr_matrix(
        (np.ones(len(flat)), (flat, np.arange(len(flat)))), shape=(ny * nx, len(flat))
    )
    sums = np.asarray(onehot @ act)  # (bins, units)
    counts = np.bincount(flat, minlength=ny * nx).astype(float)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(counts[:, None] > 0, sums / counts[:, None], np.nan)
    return RateMaps(rates.T.reshape(-1, ny, nx), counts.reshape(ny, nx), bin_cm, tuple(size))


def rate_maps_from_spikes(
    positions: np.ndarray,
    times: np.ndarray,
    spike_times_per_cell: list[np.ndarray],
    arena_size: float | tuple[float, float],
    bin_cm: float = 5.0,
    min_occupancy_s: float = 0.0,
    smooth_cm: float = 0.0,
    origin: tuple[float, float] | None = None,
) -> RateMaps:
    """Occupancy-normalised spike-count maps of recorded cells (spec §2 and §3).

    Each spike takes the position of the last tracking sample at or before it; each sample
    holds for the time to the next one (the last for the median interval). With
    ``smooth_cm > 0`` the spike counts and the occupancy are each smoothed with a Gaussian of
    standard deviation ``smooth_cm`` (zero outside the arena) and divided, so unvisited bins
    do not pull rates down. Bins with raw occupancy below ``min_occupancy_s`` (or none) are
    NaN. The far wall's samples are kept (the last bin is closed).

    Parameters
    ----------
    positions : (T, 2) x, y in m. times : (T,) increasing sample times in s.
    spike_times_per_cell : one array of spike times (s) per cell.

    Returns
    -------
    RateMaps with rates (cells, H, W) in spikes/s and occupancy in s.
    """
    positions = np.asarray(positions, dtype=float)
    times = np.asarray(times, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 2 or times.shape != (len(positions),):
        raise ValueError(
            f"positions must be (T, 2) and times (T,); got {positions.shape}, {times.shape}"
        )
    if len(times) < 2 or np.any(np.diff(times) <= 0):
        raise ValueError("times must be at least 2 strictly increasing sample times (s)")
    if min_occupancy_s < 0 or smooth_cm < 0:
        raise ValueError("min_occupancy_s and smooth_cm must be >= 0 (s, cm)")
    size, low = _arena(arena_size, origin)
    flat, ny, nx = _bin_index(positions, size, low, bin_cm)
    dt = np.diff(times)
    hold = np.append(dt, np.median(dt))
    occupancy = np.bincount(flat, weights=hold, minlength=ny * nx).reshape(ny, nx)
    end = times[-1] + hold[-1]
    counts = np.zeros((len(spike_times_per_cell), ny, nx))
    for c, spikes in enumerate(spike_times_per_cell):
        spikes = np.asarray(spikes, dtype=float)
        spikes = spikes[(spikes >= times[0]) & (spikes < end)]
        sample = np.searchsorted(times, spikes, side="right") - 1
        counts[c] = np.bincount(flat[sample], minlength=ny * nx).reshape(ny, nx)
    occ = occupancy
    if smooth_cm > 0:
        sigma = smooth_cm / bin_cm
        counts = ndimage.gaussian_filter(counts, (0, sigma, sigma), mode="constant")
        occ = ndimage.gaussian_filter(occupancy, sigma, mode="constant")
    keep = (occupancy > 0) & (occupancy >= min_occupancy_s)
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(keep, counts / occ, np.nan)
    return RateMaps(rates, occupancy, bin_cm, tuple(size))


# ---------------------------------------------------------------------------------------------
# autocorrelograms


def _as_stack(maps: np.ndarray) -> np.ndarray:
    maps = np.asarray(maps, dtype=float)
    if maps.ndim == 2:
        maps = maps[None]
    if maps.ndim != 3 or min(maps.shape[1:]) < 2:
        raise ValueError(f"maps must be (N, H, W) (or one (H, W) map); got shape {maps.shape}")
    return maps


def autocorrelograms(maps: np.ndarray, min_overlap: int = 20) -> np.ndarray:
    """Spatial autocorrelograms: for every lag, the Pearson correlation of the map with itself
    shifted by that lag over the bins where both are visited (spec §2, grid score).

    All sums (of values, squares, cross products and counts of valid bins) are FFT
    correlations of the whole stack at once.

    Parameters
    ----------
    maps : (N, H, W), NaN = unvisited.
    min_overlap : lags with fewer overlapping valid bins are NaN.

    Returns
    -------
    (N, 2H-1, 2W-1); entry [n, H-1+dy, W-1+dx] correlates map[y, x] with map[y+dy, x+dx].
    """
    maps = _as_stack(maps)
    n, h, w = maps.shape
    valid = np.isfinite(maps)
    counts = valid.sum(axis=(1, 2), keepdims=True)
    centre = np.where(counts > 0, np.nansum(maps, axis=(1, 2), keepdims=True), 0) / np.maximum(
        counts, 1
    )
    x = np.where(valid, maps - centre, 0.0)  # centring per map keeps the sums well conditioned
    m = valid.astype(float)
    shape = (2 * h - 1, 2 * w - 1)

    fx, fxx, fm = (np.fft.rfft2(a, shape) for a in (x, x * x, m))

    def corr(fa, fb):  # sum_i a(i) b(i + d), lag 0 moved to the centre
        out = np.fft.irfft2(np.conj(fa) * fb, shape)
        return np.roll(out, (h - 1, w - 1), axis=(1, 2))

    nn = np.rint(corr(fm, fm))
    sx, sy = corr(fx, fm), corr(fm, fx)
    sxx, syy = corr(fxx, fm), corr(fm, fxx)
    sxy = corr(fx, fx)
    with np.errstate(invalid="ignore", divide="ignore"):
        num = nn * sxy - sx * sy
        den = np.sqrt(np.clip(nn * sxx - sx * sx, 0, None) * np.clip(nn * syy - sy * sy, 0, None))
        r = num / den
    scale = np.maximum(nn * np.maximum(sxx, syy), 1e-300)
    r[(nn < min_overlap) | (den <= 1e-12 * scale)] = np.nan
    return r


# ---------------------------------------------------------------------------------------------
# rotation of a stack of autocorrelograms


def rotation_sampling(
    shape: tuple[int, int], angle_deg: float, pad: int
) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear sampling of an array rotated by ``angle_deg`` about its centre, on the same
    grid: the transform of ``scipy.ndimage.rotate(a, angle, reshape=False, order=1)``.

    Coordinates refer to the array padded by ``pad`` zeros on every side. Returns flat indices
    (4, H*W) into the padded array and weights (4, H*W); out-of-range corners get weight 0.
    """
    h, w = shape
    hp, wp = h + 2 * pad, w + 2 * pad
    c, s = special.cosdg(angle_deg), special.sindg(angle_deg)
    rows, cols = np.meshgrid(np.arange(hp, dtype=float), np.arange(wp, dtype=float), indexing="ij")
    cy, cx = (hp - 1) / 2, (wp - 1) / 2
    src_r = c * (rows - cy) + s * (cols - cx) + cy
    src_c = -s * (rows - cy) + c * (cols - cx) + cx
    src_r, src_c = (
        src_r[pad : pad + h, pad : pad + w].ravel(),
        src_c[pad : pad + h, pad : pad + w].ravel(),
    )
    r0, c0 = np.floor(src_r).astype(int), np.floor(src_c).astype(int)
    fr, fc = src_r - r0, src_c - c0
    idx, wts = [], []
    for dr, dc, wt in (
        (0, 0, (1 - fr) * (1 - fc)),
        (0, 1, (1 - fr) * fc),
        (1, 0, fr * (1 - fc)),
        (1, 1, fr * fc),
    ):
        rr, cc = r0 + dr, c0 + dc
        inside = (rr >= 0) & (rr < hp) & (cc >= 0) & (cc < wp)
        idx.append(np.where(inside, np.clip(rr, 0, hp - 1) * wp + np.clip(cc, 0, wp - 1), 0))
        wts.append(np.where(inside, wt, 0.0))
    return np.array(idx), np.array(wts)


def _rotated_on(sacs: np.ndarray, points: np.ndarray, angles, pad: int):
    """Values and validity of every autocorrelogram rotated by each angle, at flat bin indices
    ``points`` of the unpadded grid. A rotated bin is valid when the bilinear weight on valid
    source bins is at least 1 - 1e-6 (NaN bins are filled with 0 and carry validity 0)."""
    n, h, w = sacs.shape
    valid = np.isfinite(sacs)
    filled = np.pad(np.where(valid, sacs, 0.0), ((0, 0), (pad, pad), (pad, pad))).reshape(n, -1)
    vpad = np.pad(valid.astype(float), ((0, 0), (pad, pad), (pad, pad))).reshape(n, -1)
    rows, cols, vals = [], [], []
    for a, angle in enumerate(angles):
        idx, wts = rotation_sampling((h, w), angle, pad)
        idx, wts = idx[:, points], wts[:, points]
        rows.append(np.repeat((a * len(points) + np.arange(len(points)))[None], 4, 0).ravel())
        cols.append(idx.ravel())
        vals.append(wts.ravel())
    sampler = sparse.csr_matrix(
        (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))),
        shape=(len(angles) * len(points), filled.shape[1]),
    )
    rot = np.asarray((sampler @ filled.T).T).reshape(n, len(angles), len(points))
    rot_valid = np.asarray((sampler @ vpad.T).T).reshape(n, len(angles), len(points)) >= 1 - 1e-6
    return rot, rot_valid


def _masked_pearson(x, xv, y, yv, masks):
    """Pearson r of x and y over bins valid in both and inside each mask.

    x, xv: (N, P); y, yv: (N, A, P); masks: (N or 1, R, P). Returns (N, A, R)."""
    v = (xv[:, None, :] & yv).astype(float)  # (N, A, P)
    xs = np.where(xv, x, 0.0)[:, None, :] * v
    ys = np.where(yv, y, 0.0) * v
    m = masks.astype(float)
    nn = np.einsum("nap,nrp->nar", v, m) if m.shape[0] > 1 else v @ m[0].T
    mm = (lambda a: np.einsum("nap,nrp->nar", a, m)) if m.shape[0] > 1 else (lambda a: a @ m[0].T)
    sx, sy = mm(xs), mm(ys)
    sxx, syy, sxy = mm(xs * xs), mm(ys * ys), mm(xs * ys)
    with np.errstate(invalid="ignore", divide="ignore"):
        den = np.sqrt((nn * sxx - sx**2) * (nn * syy - sy**2))
        r = (nn * sxy - sx * sy) / den
    r[(nn < 3) | ~(den > 1e-12)] = np.nan
    return r


# ---------------------------------------------------------------------------------------------
# grid score, spacing, orientation


def _map_reasons(maps: np.ndarray, min_visited: int) -> list[str]:
    visited = np.isfinite(maps).sum(axis=(1, 2))
    spread = np.nanmax(np.where(np.isfinite(maps), maps, -np.inf), axis=(1, 2)) - np.nanmin(
        np.where(np.isfinite(maps), maps, np.inf), axis=(1, 2)
    )
    reasons = []
    for k, s in zip(visited, spread, strict=True):
        if k < min_visited:
            reasons.append(f"only {k} visited bins (need min_visited={min_visited})")
        elif not s > 0:
            reasons.append("constant map (no spatial variation)")
        else:
            reasons.append("")
    return reasons


def _lag_distance(shape: tuple[int, int]) -> np.ndarray:
    h, w = shape
    yy, xx = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    return np.hypot(yy, xx).ravel()


def grid_scores(
    maps: np.ndarray,
    convention: str = "mean_annuli",
    min_overlap: int = 20,
    min_visited: int = 20,
    inner: float = 0.2,
    outer: tuple[float, float, int] = (0.4, 1.0, 10),
    crop: float = 0.9,
    batch: int = 1024,
) -> GridScores:
    """Grid scores (six-fold rotational symmetry of the autocorrelogram) of a stack of maps.

    ``mean_annuli`` (spec §2, DeepMind/Banino, Sorscher et al.): for annuli with inner radius
    ``inner * n`` and outer radii ``linspace(*outer) * n`` (n = bins per side, the smaller
    side), the Pearson correlation inside the annulus of the autocorrelogram with itself
    rotated by 30..150 degrees; score = mean(c60, c120) - mean(c30, c90, c150), maximum over
    annuli. ``minmax_peak`` (spec §3, BNT/opexebo family): score = min(c60, c120) -
    max(c30, c90, c150) on annuli from the central peak's edge (the first integer radius at
    which the ring-mean autocorrelation falls below 0 or stops falling) to outer radii of
    edge + 2 ... ``crop * n`` bins; the best radius and its two neighbours are averaged.

    Rotation is bilinear on the lag grid (the transform of ``scipy.ndimage.rotate(...,
    reshape=False, order=1)``); NaN lags are filled with 0 and a rotated bin counts as valid
    only when at least 1 - 1e-6 of its bilinear weight lies on valid lags.

    Parameters
    ----------
    maps : (N, H, W) rate maps, NaN = unvisited.
    convention : 'mean_annuli' or 'minmax_peak'.
    min_overlap : minimum overlapping bins for a lag of the autocorrelogram.
    min_visited : maps with fewer visited bins get NaN (with the reason).
    batch : maps scored together (memory grows with it; results do not depend on it).

    Returns
    -------
    GridScores (scores (N,), convention, params, radius (N,), reasons).
    """
    if convention not in CONVENTIONS:
        raise ValueError(f"convention must be one of {CONVENTIONS}; got {convention!r}")
    if batch < 1 or not 0 <= inner < outer[0] <= outer[1] or int(outer[2]) < 1:
        raise ValueError(
            f"need batch >= 1 and 0 <= inner < outer start <= outer stop, outer count >= 1 "
            f"(got batch={batch}, inner={inner}, outer={outer})"
        )
    maps = _as_stack(maps)
    n = min(maps.shape[1:])
    reasons = _map_reasons(maps, min_visited)
    parts = []
    for start in range(0, len(maps), batch):  # blocks bound memory at ~ batch x 5 x annulus bins
        sacs = autocorrelograms(maps[start : start + batch], min_overlap)
        parts.append(
            _grid_scores_of_sacs(
                sacs,
                n,
                convention,
                min_overlap,
                min_visited,
                inner,
                outer,
                crop,
                reasons[start : start + batch],
            )
        )
    return GridScores(
        np.concatenate([p.scores for p in parts]),
        convention,
        parts[0].params,
        np.concatenate([p.radius for p in parts]),
        [r for p in parts for r in p.reasons],
    )


def _grid_scores_of_sacs(
    sacs, n, convention, min_overlap, min_visited, inner, outer, crop, reasons
):
    dist = _lag_distance(sacs.shape[1:])
    flat = sacs.reshape(len(sacs), -1)
    if convention == "mean_annuli":
        # spec: mouse-and-entorhinal.md §2 (grid score, mean form over annuli)
        outers = np.linspace(outer[0], outer[1], int(outer[2])) * n
        r_in = inner * n
        points = np.flatnonzero((dist >= r_in) & (dist <= outers.max()))
        d = dist[points]
        masks = ((d[None] >= r_in) & (d[None] <= outers[:, None]))[None]  # (1, R, P)
        radii = np.broadcast_to(outers, (len(sacs), len(outers)))
    else:
        # spec: mouse-and-entorhinal.md §3 (min/max form around the central peak)
        r_max = int(np.floor(crop * n))
        points = np.flatnonzero(dist <= r_max)
        d = dist[points]
        edge = _central_peak_edge(flat, dist, r_max)
        outers = np.arange(1, r_max + 1, dtype=float)
        masks = (d[None, None] >= edge[:, None, None]) & (d[None, None] <= outers[None, :, None])
        masks &= (outers[None, :] >= edge[:, None] + 2)[:, :, None]
        radii = np.broadcast_to(outers, (len(sacs), len(outers)))
    x = flat[:, points]
    rot, rot_valid = _rotated_on(sacs, points, GRID_ANGLES, pad=2)
    c = _masked_pearson(x, np.isfinite(x), rot, rot_valid, masks)  # (N, 5, R)
    c30, c60, c90, c120, c150 = (c[:, k] for k in range(5))
    if convention == "mean_annuli":
        per_radius = (c60 + c120) / 2 - (c30 + c90 + c150) / 3
    else:
        per_radius = np.minimum(c60, c120) - np.maximum(np.maximum(c30, c90), c150)
    scores = np.full(len(sacs), np.nan)
    radius = np.full(len(sacs), np.nan)
    reasons = list(reasons)
    ok = np.isfinite(per_radius).any(axis=1)
    # radii past the last valid lag repeat the same value: rounding makes the first of such
    # ties win whatever the roundoff of the batch (results must not depend on the batch)
    best = np.argmax(np.where(np.isfinite(per_radius), np.round(per_radius, 10), -np.inf), axis=1)
    rows = np.arange(len(sacs))
    if convention == "mean_annuli":
        scores[ok] = per_radius[rows, best][ok]
    else:
        window = np.clip(best[:, None] + np.arange(-1, 2)[None], 0, per_radius.shape[1] - 1)
        vals = per_radius[rows[:, None], window]
        lo, hi = best - 1 >= 0, best + 1 < per_radius.shape[1]
        vals[:, 0] = np.where(lo, vals[:, 0], np.nan)
        vals[:, 2] = np.where(hi, vals[:, 2], np.nan)
        with warnings.catch_warnings():  # all-NaN windows stay NaN
            warnings.simplefilter("ignore", RuntimeWarning)
            scores[ok] = np.nanmean(vals, axis=1)[ok]
    radius[ok] = radii[rows, best][ok]
    for i in range(len(sacs)):
        if reasons[i]:
            scores[i] = radius[i] = np.nan
        elif not ok[i]:
            reasons[i] = "no annulus with enough valid autocorrelogram bins"
    params = {"angles": GRID_ANGLES, "min_overlap": min_overlap, "min_visited": min_visited}
    if convention == "mean_annuli":
        params.update(inner=inner, outer=tuple(outer), n_bins=n, interpolation="bilinear")
    else:
        params.update(crop=crop, averaged_radii=3, n_bins=n, interpolation="bilinear")
    return GridScores(scores, convention, params, radius, reasons)


def _central_peak_edge(flat_sacs: np.ndarray, dist: np.ndarray, r_max: int) -> np.ndarray:
    """First integer radius at which the ring-mean autocorrelation drops below 0 or stops
    falling (the edge of the central peak), per autocorrelogram."""
    ring = np.rint(dist).astype(int)
    keep = ring <= r_max + 1
    onehot = np.zeros((keep.sum(), r_max + 2))
    onehot[np.arange(keep.sum()), ring[keep]] = 1.0
    vals = flat_sacs[:, keep]
    valid = np.isfinite(vals)
    with np.errstate(invalid="ignore", divide="ignore"):
        profile = (np.where(valid, vals, 0.0) @ onehot) / (valid @ onehot)
    k = np.arange(1, r_max + 1)
    stop = (profile[:, k] < 0) | (profile[:, k + 1] > profile[:, k]) | ~np.isfinite(profile[:, k])
    first = np.where(stop.any(axis=1), np.argmax(stop, axis=1) + 1, r_max)
    return first.astype(float)


def grid_spacing_orientation(
    maps: np.ndarray, bin_cm: float = 5.0, min_overlap: int = 20
) -> tuple[np.ndarray, np.ndarray]:
    """Grid spacing (cm) and orientation (degrees in [0, 60)) from the six autocorrelogram
    peaks nearest the centre (spec §3).

    Peaks are local maxima (3 x 3) above 0 other than the centre. Spacing = median distance of
    the six nearest; orientation = circular mean, with period 60 degrees, of their angles from
    the x axis (counter-clockwise, y up). NaN where fewer than 3 peaks are found.
    """
    sacs = autocorrelograms(_as_stack(maps), min_overlap)
    n, h, w = sacs.shape
    filled = np.where(np.isfinite(sacs), sacs, -np.inf)
    peak = filled == ndimage.maximum_filter(filled, size=(1, 3, 3), mode="constant", cval=-np.inf)
    peak &= filled > 0
    dist = _lag_distance((h, w)).reshape(h, w)
    peak &= (dist > 0.5)[None]
    d = np.where(peak, dist[None], np.inf).reshape(n, -1)
    nearest = np.argsort(d, axis=1, kind="stable")[:, :6]
    dn = np.take_along_axis(d, nearest, axis=1)
    found = np.isfinite(dn)
    dy = nearest // w - (h - 1) / 2
    dx = nearest % w - (w - 1) / 2
    with warnings.catch_warnings():  # maps without peaks stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        spacing = np.nanmedian(np.where(found, dn, np.nan), axis=1) * bin_cm
    phase = np.deg2rad(np.degrees(np.arctan2(dy, dx)) * 6.0)  # period 60 -> 360
    z = np.where(found, np.exp(1j * phase), 0).sum(axis=1)
    orientation = (np.degrees(np.angle(z)) / 6.0) % 60.0
    few = found.sum(axis=1) < 3
    spacing[few] = np.nan
    orientation[few] = np.nan
    return spacing, orientation


# ---------------------------------------------------------------------------------------------
# border score and spatial information


def border_scores(
    maps: np.ndarray,
    bin_cm: float = 5.0,
    field_threshold: float = 0.3,
    min_field_cm2: float = 200.0,
    min_visited: int = 20,
) -> tuple[np.ndarray, list[str]]:
    """Border scores b = (CM - DM) / (CM + DM) of a stack of maps (spec §2, Solstad et al.).

    Fields are 4-connected regions above ``field_threshold`` x the map's maximum with area
    above ``min_field_cm2``; every field counts. CM = the largest fraction of one wall's
    visited bins covered by one field; DM = the rate-weighted mean distance of all field bins
    (centres) to the nearest wall, over half the shorter side.

    Returns
    -------
    scores (N,) and reasons (N,) ('' where scored).
    """
    maps = _as_stack(maps)
    n, h, w = maps.shape
    reasons = _map_reasons(maps, min_visited)
    valid = np.isfinite(maps)
    peak = np.nanmax(np.where(valid, maps, -np.inf), axis=(1, 2), keepdims=True)
    above = valid & (maps > field_threshold * peak)
    structure = np.zeros((3, 3, 3), bool)
    structure[1] = ndimage.generate_binary_structure(2, 1)  # no links between maps
    labels, n_labels = ndimage.label(above, structure)
    area = np.bincount(labels.ravel(), minlength=n_labels + 1) * bin_cm**2
    is_field = area > min_field_cm2
    is_field[0] = False
    field_of = np.where(is_field[labels], labels, 0)
    owner = np.zeros(n_labels + 1, int)
    owner[labels.ravel()] = np.repeat(np.arange(n), h * w)
    cm = np.zeros(n)
    walls = (
        (field_of[:, 0, :], valid[:, 0, :]),
        (field_of[:, -1, :], valid[:, -1, :]),
        (field_of[:, :, 0], valid[:, :, 0]),
        (field_of[:, :, -1], valid[:, :, -1]),
    )
    for lab, vis in walls:
        covered = np.bincount(lab.ravel(), minlength=n_labels + 1).astype(float)
        covered[0] = 0
        frac = covered / np.maximum(vis.sum(axis=1), 1)[owner]
        np.maximum.at(cm, owner, frac)
    yy, xx = np.meshgrid(np.arange(h) + 0.5, np.arange(w) + 0.5, indexing="ij")
    to_wall = np.minimum.reduce([yy, h - yy, xx, w - xx]) / (min(h, w) / 2)
    in_field = field_of > 0
    rate = np.where(in_field, maps, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        dm = (rate * to_wall).sum(axis=(1, 2)) / rate.sum(axis=(1, 2))
        scores = (cm - dm) / (cm + dm)  # spec: mouse-and-entorhinal.md §2 (border score)
    reasons = list(reasons)
    for i in range(n):
        if not reasons[i] and not in_field[i].any():
            reasons[i] = f"no field above {field_threshold} x max larger than {min_field_cm2} cm^2"
        if reasons[i]:
            scores[i] = np.nan
    return scores, reasons


@dataclass(frozen=True)
class SpatialInformation:
    """Skaggs spatial information per cell; ``reasons[i]`` says why a value is NaN."""

    bits_per_spike: np.ndarray
    bits_per_second: np.ndarray
    reasons: list[str]


def spatial_information(
    maps: np.ndarray, occupancy: np.ndarray, min_visited: int = 1
) -> SpatialInformation:
    """Skaggs spatial information: sum_i p_i (r_i / r) log2(r_i / r) bits per spike over
    visited bins (p_i occupancy probability, r = sum_i p_i r_i the mean rate), and r times it
    bits per second (spec §3). No clipping of r_i / r below 1.

    Parameters
    ----------
    maps : (N, H, W) rates (>= 0), NaN = unvisited. occupancy : (H, W) time or samples per bin.
    """
    maps = np.asarray(maps, dtype=float)
    maps = maps[None] if maps.ndim == 2 else maps
    occupancy = np.asarray(occupancy, dtype=float)
    if maps.ndim != 3 or occupancy.shape != maps.shape[1:] or np.any(occupancy < 0):
        raise ValueError(
            f"occupancy must be a non-negative {maps.shape[1:]} array; got {occupancy.shape}"
        )
    visited = np.isfinite(maps) & (occupancy > 0)[None]
    p = np.where(visited, occupancy[None], 0.0)
    p /= np.maximum(p.sum(axis=(1, 2), keepdims=True), 1e-300)
    rates = np.where(visited, maps, 0.0)
    mean = (p * rates).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = rates / mean[:, None, None]
        terms = np.where(ratio > 0, p * ratio * np.log2(np.where(ratio > 0, ratio, 1.0)), 0.0)
    bits = terms.sum(axis=(1, 2))
    reasons = []
    for i in range(len(maps)):
        k = int(visited[i].sum())
        if k < max(min_visited, 1):
            reasons.append(f"only {k} visited bins (need min_visited={max(min_visited, 1)})")
        elif np.any(rates[i] < 0):
            reasons.append("negative rates: spatial information needs rates >= 0")
        elif not mean[i] > 0:
            reasons.append("zero mean rate")
        else:
            reasons.append("")
        if reasons[-1]:
            bits[i] = np.nan
    return SpatialInformation(bits, bits * mean, reasons)
