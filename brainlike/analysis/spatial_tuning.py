"""Head-direction and running-speed tuning of recorded cells and model units.

A head-direction cell fires when the animal's head points one way: its tuning curve (rate in
each angular bin, divided by the time spent facing that way) has one peak, and the Rayleigh
mean vector length of the curve (0 for a flat curve, 1 for all firing in one direction) says
how sharp it is. A speed cell's firing rate rises (or falls) with running speed: its speed
score (Kropff et al. 2015) is the Pearson correlation between the instantaneous firing rate
(spike counts smoothed in time) and the running speed.

Inputs are per tracking sample: head direction in radians, running speed in cm/s, sample
times in seconds, and a ``(cells, samples)`` matrix that holds either spike counts per sample
(``signal="spikes"``: rates in spikes/s, occupancy in s) or a model unit's activity
(``signal="activity"``: mean activation, occupancy in samples). All cells are scored together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage, sparse

SIGNALS = ("spikes", "activity")


@dataclass(frozen=True)
class HeadDirectionTuning:
    """Head-direction tuning curves and their Rayleigh vectors.

    Attributes
    ----------
    curves : (N, bins) spikes/s (or mean activation) per angular bin; NaN where unvisited.
    bin_centres_rad : (bins,) centre of each bin in radians, in [0, 2 pi).
    occupancy : (bins,) seconds (spikes) or samples (activity) spent in each bin.
    mean_vector_length : (N,) Rayleigh mean vector length of the curve, in [0, 1].
    preferred_direction_rad : (N,) direction of the mean vector, in [0, 2 pi).
    reasons : '' for a scored cell, else why its values are NaN.
    """

    curves: np.ndarray
    bin_centres_rad: np.ndarray
    occupancy: np.ndarray
    mean_vector_length: np.ndarray
    preferred_direction_rad: np.ndarray
    reasons: list[str]


@dataclass(frozen=True)
class SpeedTuning:
    """Speed scores and the linear fit of rate on speed.

    Attributes
    ----------
    scores : (N,) Pearson r of the smoothed rate and the speed over the kept samples.
    slope : (N,) spikes/s per cm/s (activity per cm/s for model units).
    intercept : (N,) spikes/s (activity) at speed 0 from the fit.
    n_samples : samples whose speed lay in the range.
    reasons : '' for a scored cell, else why its values are NaN.
    """

    scores: np.ndarray
    slope: np.ndarray
    intercept: np.ndarray
    n_samples: int
    reasons: list[str]


def sample_durations_s(times_s: np.ndarray) -> np.ndarray:
    """Seconds each tracking sample holds: the time to the next sample, the last one the
    median interval (as in ``spatial.rate_maps_from_spikes``)."""
    dt = np.diff(times_s)
    return np.append(dt, np.median(dt))


def check_times(times_s: np.ndarray, n_samples: int) -> np.ndarray:
    """Sample times as a float array, refused unless (T,) and strictly increasing."""
    times_s = np.asarray(times_s, dtype=float)
    if times_s.shape != (n_samples,):
        raise ValueError(
            f"times_s must be one time (s) per sample, shape ({n_samples},); got {times_s.shape}"
        )
    if n_samples < 2 or not np.all(np.diff(times_s) > 0):
        raise ValueError("times_s must be at least 2 strictly increasing sample times (s)")
    return times_s


def _as_cells(signal: np.ndarray, n_samples: int, name: str = "counts") -> np.ndarray:
    signal = np.asarray(signal, dtype=float)
    if signal.ndim == 1:
        signal = signal[None]
    if signal.ndim != 2 or signal.shape[1] != n_samples:
        raise ValueError(
            f"{name} must be (cells, samples) with {n_samples} samples (one per tracking "
            f"sample); got shape {signal.shape}"
        )
    return signal


def _check_signal_kind(signal: str) -> None:
    if signal not in SIGNALS:
        raise ValueError(f"signal must be one of {SIGNALS}; got {signal!r}")


def spike_reasons(counts: np.ndarray, signal: str, min_spikes: int) -> list[str]:
    """Per cell, '' or why it cannot be scored: too few spikes (spikes), or a non-finite or
    constant activity trace (activity)."""
    if signal == "spikes":
        total = counts.sum(axis=1)
        return [
            f"only {t:g} spikes (need min_spikes={min_spikes})" if t < min_spikes else ""
            for t in total
        ]
    finite = np.isfinite(counts).all(axis=1)
    spread = np.ptp(np.where(np.isfinite(counts), counts, 0.0), axis=1)
    return [
        "activity has non-finite values" if not f else ("constant activity" if s == 0 else "")
        for f, s in zip(finite, spread, strict=True)
    ]


def wrapped_gaussian_kernel(n_bins: int, sigma_bins: float) -> np.ndarray:
    """Gaussian of standard deviation ``sigma_bins`` wrapped onto a circle of ``n_bins``
    bins (every wrap summed), normalised to sum 1; entry k is the weight at offset k."""
    k = np.arange(n_bins, dtype=float)
    wraps = np.arange(
        -int(np.ceil(8 * sigma_bins / n_bins)) - 1, int(np.ceil(8 * sigma_bins / n_bins)) + 2
    )
    w = np.exp(-0.5 * ((k[:, None] + wraps[None] * n_bins) / sigma_bins) ** 2).sum(axis=1)
    return w / w.sum()


def circular_smooth(values: np.ndarray, sigma_bins: float) -> np.ndarray:
    """Circular convolution of the last axis with a wrapped Gaussian (FFT, batched)."""
    if sigma_bins <= 0:
        return values
    kernel = wrapped_gaussian_kernel(values.shape[-1], sigma_bins)
    n = values.shape[-1]
    return np.fft.irfft(np.fft.rfft(values, axis=-1) * np.fft.rfft(kernel), n, axis=-1)


def head_direction_tuning(
    head_direction_rad: np.ndarray,
    counts: np.ndarray,
    times_s: np.ndarray | None = None,
    bin_deg: float = 6.0,
    smooth_deg: float = 0.0,
    signal: str = "spikes",
    min_samples: int = 100,
    min_spikes: int = 10,
) -> HeadDirectionTuning:
    """Occupancy-normalised head-direction tuning curves, mean vector length and preferred
    direction of every cell (spec: mouse-and-entorhinal.md §2, head-direction tuning).

    The curve is (summed counts or activity in each angular bin) / (time or samples in that
    bin). With ``smooth_deg > 0`` both the summed counts and the occupancy are convolved with a
    wrapped Gaussian of that standard deviation before the division. The Rayleigh vector is
    taken over the curve's visited bins: R = |sum_b r_b exp(i theta_b)| / sum_b r_b, its angle
    the preferred direction. Binning shrinks R by sin(d/2)/(d/2) for bin width d (0.99954 at
    6 degrees); no correction is applied. Samples with a non-finite head direction are left
    out.

    Parameters
    ----------
    head_direction_rad : (T,) head direction per sample, radians (any range; taken mod 2 pi).
    counts : (N, T) spike counts per sample, or model activity with ``signal="activity"``.
    times_s : (T,) sample times in s; needed for ``signal="spikes"`` (occupancy in s).
    bin_deg : angular bin width in degrees (360 / bin_deg bins, rounded).
    smooth_deg : standard deviation of the circular Gaussian smoothing in degrees (0: none).
    min_samples : with fewer usable samples every cell is NaN.
    min_spikes : cells with fewer spikes are NaN (spikes only).

    Returns
    -------
    HeadDirectionTuning.
    """
    _check_signal_kind(signal)
    hd = np.asarray(head_direction_rad, dtype=float)
    if hd.ndim != 1:
        raise ValueError(f"head_direction_rad must be (T,) radians; got shape {hd.shape}")
    counts = _as_cells(counts, len(hd))
    if not 0 < bin_deg <= 180 or smooth_deg < 0:
        raise ValueError(
            f"bin_deg must be in (0, 180] and smooth_deg >= 0 (degrees); got {bin_deg}, "
            f"{smooth_deg}"
        )
    if signal == "spikes":
        if times_s is None:
            raise ValueError("signal='spikes' needs times_s (s) for the occupancy in seconds")
        hold = sample_durations_s(check_times(times_s, len(hd)))
    else:
        hold = np.ones(len(hd))
    n_bins = int(round(360.0 / bin_deg))
    width = 2 * np.pi / n_bins
    centres = (np.arange(n_bins) + 0.5) * width
    ok = np.isfinite(hd)
    b = np.minimum(np.floor(np.mod(hd[ok], 2 * np.pi) / width).astype(int), n_bins - 1)
    occupancy = np.bincount(b, weights=hold[ok], minlength=n_bins)
    onehot = sparse.csr_matrix((np.ones(len(b)), (b, np.arange(len(b)))), shape=(n_bins, len(b)))
    sums = np.asarray(onehot @ counts[:, ok].T).T  # (N, bins)
    occ = occupancy
    if smooth_deg > 0:
        sums = circular_smooth(sums, smooth_deg / bin_deg)
        occ = circular_smooth(occupancy, smooth_deg / bin_deg)
    visited = occupancy > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        curves = np.where(visited, sums / occ, np.nan)
    # spec: mouse-and-entorhinal.md §2 (Rayleigh mean vector of the tuning curve)
    r = np.where(visited, curves, 0.0)
    z = r @ np.exp(1j * centres)
    total = r.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        length = np.abs(z) / total
    preferred = np.mod(np.angle(z), 2 * np.pi)
    reasons = spike_reasons(counts[:, ok], signal, min_spikes)
    for i in range(len(counts)):
        if ok.sum() < min_samples:
            reasons[i] = f"only {ok.sum()} samples with a head direction (need {min_samples})"
        elif not reasons[i] and np.any(r[i] < 0):
            reasons[i] = "negative activity: the mean vector length needs rates >= 0"
        elif not reasons[i] and not total[i] > 0:
            reasons[i] = "no firing in any visited direction"
        if reasons[i]:
            length[i] = preferred[i] = np.nan
    return HeadDirectionTuning(curves, centres, occupancy, length, preferred, reasons)


def instantaneous_rate(
    counts: np.ndarray, times_s: np.ndarray, smooth_s: float = 0.25, signal: str = "spikes"
) -> np.ndarray:
    """Spike counts per sample as spikes/s (count / sample duration), or activity as is,
    smoothed in time with a Gaussian of standard deviation ``smooth_s`` seconds (in samples of
    the median interval; edges reflected). Returns (N, T)."""
    _check_signal_kind(signal)
    times_s = check_times(times_s, np.shape(counts)[-1])
    counts = _as_cells(counts, len(times_s))
    rate = counts / sample_durations_s(times_s) if signal == "spikes" else counts
    if smooth_s > 0:
        sigma = smooth_s / np.median(np.diff(times_s))
        rate = ndimage.gaussian_filter1d(rate, sigma, axis=1, mode="reflect")
    return rate


def speed_scores(
    speed_cm_s: np.ndarray,
    counts: np.ndarray,
    times_s: np.ndarray,
    smooth_s: float = 0.25,
    speed_range_cm_s: tuple[float, float] = (2.0, 50.0),
    signal: str = "spikes",
    min_samples: int = 100,
    min_spikes: int = 10,
) -> SpeedTuning:
    """Speed scores (Kropff et al. 2015) and speed-tuning slope and intercept of every cell.

    The instantaneous rate (``instantaneous_rate``: counts smoothed with a Gaussian of
    ``smooth_s`` s) is correlated (Pearson) with the running speed over the samples whose
    speed lies in ``speed_range_cm_s`` (inclusive); slope and intercept are the least-squares
    line of rate on speed over the same samples.

    Parameters
    ----------
    speed_cm_s : (T,) running speed in cm/s. counts : (N, T) spike counts per sample (or
        activity with ``signal="activity"``). times_s : (T,) sample times in s.
    smooth_s : standard deviation of the temporal Gaussian in s (0: no smoothing).
    speed_range_cm_s : (low, high) speeds kept, cm/s.
    min_samples : with fewer kept samples every cell is NaN.
    min_spikes : cells with fewer spikes are NaN (spikes only).

    Returns
    -------
    SpeedTuning (scores, slope in rate per cm/s, intercept, n_samples, reasons).
    """
    speed = np.asarray(speed_cm_s, dtype=float)
    if speed.ndim != 1:
        raise ValueError(f"speed_cm_s must be (T,) cm/s; got shape {speed.shape}")
    lo, hi = speed_range_cm_s
    if not 0 <= lo < hi or smooth_s < 0:
        raise ValueError(
            f"speed_range_cm_s must be (low, high) with 0 <= low < high (cm/s) and smooth_s "
            f">= 0 (s); got {speed_range_cm_s}, {smooth_s}"
        )
    counts = _as_cells(counts, len(speed))
    rate = instantaneous_rate(counts, times_s, smooth_s, signal)
    keep = np.isfinite(speed) & (speed >= lo) & (speed <= hi)
    # spec: mouse-and-entorhinal.md §2 (speed score: Pearson r of smoothed rate and speed)
    n = int(keep.sum())
    if n < 2:  # nothing to correlate; every cell gets the reason below
        nan = np.full(len(counts), np.nan)
        scores, slope, intercept, sss, sxx, x = nan.copy(), nan.copy(), nan.copy(), 0.0, nan, rate
    else:
        s = speed[keep] - speed[keep].mean()
        x = rate[:, keep]
        xc = x - x.mean(axis=1, keepdims=True)
        sxy, sss, sxx = xc @ s, s @ s, (xc * xc).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            scores = sxy / np.sqrt(sxx * sss)
            slope = sxy / sss
        intercept = x.mean(axis=1) - slope * speed[keep].mean()
    reasons = spike_reasons(counts, signal, min_spikes)
    for i in range(len(counts)):
        if n < min_samples:
            reasons[i] = (
                f"only {n} samples with speed in [{lo}, {hi}] cm/s (need min_samples={min_samples})"
            )
        elif not reasons[i] and not sss > 0:
            reasons[i] = "constant speed over the kept samples"
        elif not reasons[i] and not sxx[i] > 1e-12 * max(1.0, np.abs(x[i]).max() ** 2):
            reasons[i] = "constant rate over the kept samples"
        if reasons[i]:
            scores[i] = slope[i] = intercept[i] = np.nan
    return SpeedTuning(scores, slope, intercept, n, reasons)
