"""Shuffle nulls for spatial scores: is a cell's grid, border, spatial-information,
head-direction or speed score higher than chance?

The chance level of a score depends on the cell's firing rate, its burstiness and the animal's
path, so it is estimated per cell: each cell's spike train (or a model unit's activity) is
shifted circularly in time relative to the tracking by a random lag of at least
``min_shift_s`` seconds from either end, which keeps the cell's own temporal structure and the
path but breaks their alignment. The score of every shifted train forms the cell's null
distribution; the cell passes when its observed score exceeds a high percentile (95th or 99th)
of that null.

Inputs fit recordings and models alike: positions (T, 2) in m, sample times (T,) in s,
spike counts per sample or model activity (N, T) along (possibly concatenated) trajectories,
and optionally head direction (radians) and running speed (cm/s) per sample. All (shuffle,
cell) pairs of a block of cells are built as one stack and scored by the batched score
functions in one call per block.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, sparse

from brainlike.analysis.spatial import (
    CONVENTIONS,
    _arena,
    _bin_index,
    border_scores,
    grid_scores,
    spatial_information,
)
from brainlike.analysis.spatial_tuning import (
    SIGNALS,
    head_direction_tuning,
    sample_durations_s,
    speed_scores,
    spike_reasons,
)

SCORES = ("grid", "border", "spatial_information", "head_direction", "speed")


@dataclass(frozen=True)
class ScoreNull:
    """One score's observed values, shuffle null and per-cell thresholds.

    Attributes
    ----------
    name : the score ('grid', 'border', 'spatial_information', 'head_direction', 'speed').
    observed : (N,) score of each cell on the unshifted data.
    null : (S, N) score of each cell under each circular shift.
    percentiles : the percentiles of the null used as thresholds, e.g. (95.0, 99.0).
    thresholds : (P, N) those percentiles of each cell's null (NaN when fewer than half of
        its shuffles gave a score).
    passes : (P, N) observed > threshold (False where either is NaN).
    observed_percentile : (N,) percent of the cell's finite null values below its observed
        score.
    reasons : (N,) '' or why the cell's observed score (or threshold) is NaN.
    params : how the score was computed (grid-score convention and the like).
    """

    name: str
    observed: np.ndarray
    null: np.ndarray
    percentiles: tuple[float, ...]
    thresholds: np.ndarray
    passes: np.ndarray
    observed_percentile: np.ndarray
    reasons: list[str]
    params: dict = field(default_factory=dict)

    def passes_at(self, percentile: float) -> np.ndarray:
        """(N,) pass flags at one of ``percentiles``."""
        if percentile not in self.percentiles:
            raise ValueError(f"percentile {percentile} not computed; have {self.percentiles}")
        return self.passes[self.percentiles.index(percentile)]


@dataclass(frozen=True)
class ShuffleNulls:
    """Shuffle nulls of several scores for one session (or one set of model trajectories).

    ``shifts_samples[s, n]`` is the circular shift (in samples, of the kept samples) of cell
    n in shuffle s and ``shifts_s`` the same in seconds; ``notes`` records dropped samples and
    other facts about the input.
    """

    scores: dict[str, ScoreNull]
    shifts_samples: np.ndarray
    shifts_s: np.ndarray
    n_dropped: int
    notes: list[str]
    params: dict


def draw_shifts(
    times_s: np.ndarray, n_shuffles: int, n_cells: int, min_shift_s: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Random circular shifts, uniform in [min_shift_s, duration - min_shift_s] seconds, one
    per (shuffle, cell); the duration is the time from the first sample to the end of the
    last. Returns (shifts in samples (S, N) int, shifts in s (S, N)); a shift of k samples
    moves sample t to t + k (mod T), k the first sample at or after the drawn time."""
    times_s = np.asarray(times_s, dtype=float)
    elapsed = times_s - times_s[0]
    duration = elapsed[-1] + sample_durations_s(times_s)[-1]
    if min_shift_s < 0 or not 2 * min_shift_s < duration:
        raise ValueError(
            f"min_shift_s={min_shift_s} s leaves no circular shift in a session of "
            f"{duration:g} s; use 0 <= min_shift_s < {duration / 2:g} s (half the session)"
        )
    rng = np.random.default_rng(seed)
    seconds = rng.uniform(min_shift_s, duration - min_shift_s, (n_shuffles, n_cells))
    samples = np.clip(np.searchsorted(elapsed, seconds), 1, len(times_s) - 1)
    return samples, seconds


def circular_shifts(signal: np.ndarray, shifts_samples: np.ndarray) -> np.ndarray:
    """Circularly shifted copies of each cell's train: out[s, n] = roll(signal[n], k[s, n]).

    Parameters
    ----------
    signal : (N, T) spike counts or activity per sample. shifts_samples : (S, N) int.

    Returns
    -------
    (S, N, T) stack (one gather, no loop over shuffles or cells).
    """
    signal = np.asarray(signal)
    n, t = signal.shape
    idx = (np.arange(t)[None, None, :] - shifts_samples[:, :, None]) % t
    return signal[np.arange(n)[None, :, None], idx]


class _Scorer:
    """Scores of a stack of trains (M, T) against one fixed path (bins, head direction,
    speed), so observed and shuffled trains go through the same code."""

    def __init__(self, flat, shape, occupancy, bin_cm, smooth_cm, min_occupancy_s, kw):
        ny, nx = shape
        self.shape = shape
        self.onehot = sparse.csr_matrix(
            (np.ones(len(flat)), (flat, np.arange(len(flat)))), shape=(ny * nx, len(flat))
        )  # rows = bins: sums each train per bin; divided by occupancy (s or samples)
        self.occupancy = occupancy
        self.occ = occupancy
        self.sigma = smooth_cm / bin_cm
        if self.sigma > 0:
            self.occ = ndimage.gaussian_filter(occupancy, self.sigma, mode="constant")
        self.keep = (occupancy > 0) & (occupancy >= min_occupancy_s)
        self.bin_cm = bin_cm
        self.kw = kw

    def maps(self, trains: np.ndarray) -> np.ndarray:
        sums = np.asarray(self.onehot @ trains.T).T.reshape(len(trains), *self.shape)
        if self.sigma > 0:
            sums = ndimage.gaussian_filter(sums, (0, self.sigma, self.sigma), mode="constant")
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(self.keep, sums / self.occ, np.nan)

    def __call__(self, trains: np.ndarray, names) -> dict[str, tuple[np.ndarray, list[str]]]:
        kw, out = self.kw, {}
        if {"grid", "border", "spatial_information"} & set(names):
            maps = self.maps(trains)
        if "grid" in names:
            g = grid_scores(maps, convention=kw["grid_convention"])
            out["grid"] = (g.scores, g.reasons)
        if "border" in names:
            out["border"] = border_scores(maps, bin_cm=self.bin_cm)
        if "spatial_information" in names:
            si = spatial_information(maps, self.occupancy)
            out["spatial_information"] = (si.bits_per_spike, si.reasons)
        if "head_direction" in names:
            hd = head_direction_tuning(
                kw["head_direction_rad"],
                trains,
                kw["times_s"],
                bin_deg=kw["hd_bin_deg"],
                smooth_deg=kw["hd_smooth_deg"],
                signal=kw["signal"],
                min_spikes=0,
            )
            out["head_direction"] = (hd.mean_vector_length, hd.reasons)
        if "speed" in names:
            sp = speed_scores(
                kw["speed_cm_s"],
                trains,
                kw["times_s"],
                smooth_s=kw["speed_smooth_s"],
                speed_range_cm_s=kw["speed_range_cm_s"],
                signal=kw["signal"],
                min_spikes=0,
            )
            out["speed"] = (sp.scores, sp.reasons)
        return out


def shuffle_nulls(
    positions: np.ndarray,
    times_s: np.ndarray,
    counts: np.ndarray,
    arena_size: float | tuple[float, float],
    *,
    head_direction_rad: np.ndarray | None = None,
    speed_cm_s: np.ndarray | None = None,
    scores: tuple[str, ...] | None = None,
    signal: str = "spikes",
    n_shuffles: int = 100,
    min_shift_s: float = 20.0,
    percentiles: tuple[float, ...] = (95.0, 99.0),
    seed: int = 0,
    bin_cm: float = 5.0,
    smooth_cm: float = 0.0,
    min_occupancy_s: float = 0.0,
    origin: tuple[float, float] | None = None,
    grid_convention: str = "mean_annuli",
    hd_bin_deg: float = 6.0,
    hd_smooth_deg: float = 0.0,
    speed_smooth_s: float = 0.25,
    speed_range_cm_s: tuple[float, float] = (2.0, 50.0),
    min_spikes: int = 10,
    max_block_elements: int = 2**24,
) -> ShuffleNulls:
    """Observed scores, circular-shift nulls and per-cell thresholds (spec:
    mouse-and-entorhinal.md §2-3).

    Parameters
    ----------
    positions : (T, 2) x, y in m; samples with a NaN coordinate are dropped (with a warning
        and a note), from every input alike.
    times_s : (T,) strictly increasing sample times in s (for model trajectories:
        ``arange(T) * dt``).
    counts : (N, T) spike counts per sample (``signal="spikes"``: maps in spikes/s with
        occupancy in s) or model activity (``signal="activity"``: mean activation per bin).
    arena_size : side (or (width, height)) in m, centred at 0 unless ``origin`` is given.
    head_direction_rad, speed_cm_s : (T,) per sample; needed for the 'head_direction' and
        'speed' scores.
    scores : which of ``SCORES`` to compute; default all whose inputs are given.
    n_shuffles : shifts per cell. min_shift_s : smallest shift from either end, s.
    percentiles : null percentiles used as thresholds.
    seed : seeds the shifts.
    bin_cm, smooth_cm, min_occupancy_s : rate-map bin side (cm), Gaussian smoothing s.d. (cm;
        counts and occupancy smoothed separately) and minimum occupancy per bin (s or samples).
    grid_convention : 'mean_annuli' or 'minmax_peak' (``spatial.grid_scores``), recorded in
        the grid score's params.
    hd_bin_deg, hd_smooth_deg : head-direction bin width and smoothing s.d., degrees.
    speed_smooth_s, speed_range_cm_s : speed score's temporal smoothing (s) and speed range
        (cm/s).
    min_spikes : cells with fewer spikes get NaN everywhere, with the reason (spikes only).
    max_block_elements : largest shuffled stack (shuffles x cells x samples) built at once
        (2**24: ~134 MB of float64, plus as much again for the gather indices).

    Returns
    -------
    ShuffleNulls.
    """
    positions = np.asarray(positions, dtype=float)
    times_s = np.asarray(times_s, dtype=float)
    counts = np.asarray(counts, dtype=float)
    if positions.ndim != 2 or positions.shape[1] != 2:
        raise ValueError(f"positions must be (T, 2) x, y in m; got shape {positions.shape}")
    t_all = len(positions)
    if counts.ndim == 1:
        counts = counts[None]
    if counts.ndim != 2 or counts.shape[1] != t_all:
        raise ValueError(
            f"counts must be (cells, samples) with one column per position sample: positions "
            f"have {t_all} samples, counts have shape {counts.shape}"
        )
    if times_s.shape != (t_all,):
        raise ValueError(
            f"times_s must have one time (s) per position sample ({t_all}); got {times_s.shape}"
        )
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}; got {signal!r}")
    if grid_convention not in CONVENTIONS:
        raise ValueError(f"grid_convention must be one of {CONVENTIONS}; got {grid_convention!r}")
    extra = {"head_direction_rad": head_direction_rad, "speed_cm_s": speed_cm_s}
    for name, arr in extra.items():
        if arr is not None and np.shape(arr) != (t_all,):
            raise ValueError(f"{name} must be (T,) = ({t_all},); got {np.shape(arr)}")
    if scores is None:
        scores = tuple(
            s
            for s in SCORES
            if (s != "head_direction" or head_direction_rad is not None)
            and (s != "speed" or speed_cm_s is not None)
        )
    unknown = [s for s in scores if s not in SCORES]
    if unknown:
        raise ValueError(f"unknown scores {unknown}; choose from {SCORES}")
    if "head_direction" in scores and head_direction_rad is None:
        raise ValueError("the 'head_direction' score needs head_direction_rad (radians)")
    if "speed" in scores and speed_cm_s is None:
        raise ValueError("the 'speed' score needs speed_cm_s (cm/s)")
    if n_shuffles < 1 or not all(0 < p < 100 for p in percentiles):
        raise ValueError(
            f"n_shuffles must be >= 1 and percentiles in (0, 100); got {n_shuffles}, {percentiles}"
        )

    notes = []
    finite = np.isfinite(positions).all(axis=1)
    n_dropped = int((~finite).sum())
    if n_dropped:
        msg = f"dropped {n_dropped} of {t_all} samples with a NaN position"
        warnings.warn(msg, stacklevel=2)
        notes.append(msg)
        positions, times_s, counts = positions[finite], times_s[finite], counts[:, finite]
        extra = {k: (None if v is None else np.asarray(v, float)[finite]) for k, v in extra.items()}
    if len(times_s) < 2 or not np.all(np.diff(times_s) > 0):
        raise ValueError("times_s must be at least 2 strictly increasing sample times (s)")
    shifts, shifts_s = draw_shifts(times_s, n_shuffles, len(counts), min_shift_s, seed)

    size, low = _arena(arena_size, origin)
    flat, ny, nx = _bin_index(positions, size, low, bin_cm)
    hold = sample_durations_s(times_s) if signal == "spikes" else np.ones(len(times_s))
    occupancy = np.bincount(flat, weights=hold, minlength=ny * nx).reshape(ny, nx)
    kw = dict(
        extra,
        times_s=times_s,
        signal=signal,
        grid_convention=grid_convention,
        hd_bin_deg=hd_bin_deg,
        hd_smooth_deg=hd_smooth_deg,
        speed_smooth_s=speed_smooth_s,
        speed_range_cm_s=speed_range_cm_s,
    )
    scorer = _Scorer(flat, (ny, nx), occupancy, bin_cm, smooth_cm, min_occupancy_s, kw)

    observed = scorer(counts, scores)
    n, t = counts.shape
    null = {s: np.full((n_shuffles, n), np.nan) for s in scores}
    block = max(1, int(max_block_elements // (n_shuffles * t)))
    for start in range(0, n, block):  # spec §2: one batched call per score per block of cells
        cells = slice(start, min(start + block, n))
        stack = circular_shifts(counts[cells], shifts[:, cells])
        k = stack.shape[1]
        for name, (vals, _) in scorer(stack.reshape(-1, t), scores).items():
            null[name][:, cells] = vals.reshape(n_shuffles, k)

    cell_reasons = spike_reasons(counts, signal, min_spikes)
    score_params = {
        "grid": {"convention": grid_convention, "bin_cm": bin_cm, "smooth_cm": smooth_cm},
        "border": {"bin_cm": bin_cm, "smooth_cm": smooth_cm},
        "spatial_information": {"unit": "bits per spike", "bin_cm": bin_cm},
        "head_direction": {"bin_deg": hd_bin_deg, "smooth_deg": hd_smooth_deg},
        "speed": {"smooth_s": speed_smooth_s, "speed_range_cm_s": tuple(speed_range_cm_s)},
    }
    out = {}
    for name in scores:
        obs, reasons = observed[name]
        out[name] = _thresholds(
            name, obs, null[name], percentiles, reasons, cell_reasons, score_params[name]
        )
    params = dict(
        signal=signal,
        n_shuffles=n_shuffles,
        min_shift_s=min_shift_s,
        percentiles=tuple(percentiles),
        seed=seed,
        bin_cm=bin_cm,
        smooth_cm=smooth_cm,
        min_occupancy_s=min_occupancy_s,
        hd_bin_deg=hd_bin_deg,
        hd_smooth_deg=hd_smooth_deg,
        speed_smooth_s=speed_smooth_s,
        speed_range_cm_s=tuple(speed_range_cm_s),
        min_spikes=min_spikes,
        grid_convention=grid_convention,
    )
    return ShuffleNulls(out, shifts, shifts_s, n_dropped, notes, params)


def _thresholds(name, observed, null, percentiles, reasons, cell_reasons, params) -> ScoreNull:
    observed = observed.astype(float).copy()
    null = null.copy()
    reasons = [c or r for r, c in zip(reasons, cell_reasons, strict=True)]
    for i, r in enumerate(reasons):
        if r:
            observed[i] = np.nan
            null[:, i] = np.nan
    finite = np.isfinite(null)
    enough = finite.sum(axis=0) >= max(1, null.shape[0] / 2)
    with warnings.catch_warnings():  # all-NaN nulls stay NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        thresholds = np.nanpercentile(null, percentiles, axis=0).reshape(len(percentiles), -1)
    thresholds[:, ~enough] = np.nan
    for i in np.flatnonzero(~enough):
        if not reasons[i]:
            reasons[i] = f"only {finite[:, i].sum()} of {null.shape[0]} shuffles gave a score"
    with np.errstate(invalid="ignore"):
        passes = observed[None] > thresholds
        below = (null < observed[None]).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)
    observed_pct = np.where(np.isfinite(observed) & enough, 100.0 * below, np.nan)
    return ScoreNull(
        name,
        observed,
        null,
        tuple(float(p) for p in percentiles),
        thresholds,
        passes,
        observed_pct,
        reasons,
        params,
    )
