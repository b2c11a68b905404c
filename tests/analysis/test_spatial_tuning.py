"""Head-direction tuning (curves, Rayleigh vector) and speed scores against known numbers."""

import numpy as np
import pytest
from scipy import special

from brainlike.analysis.spatial_tuning import (
    circular_smooth,
    head_direction_tuning,
    instantaneous_rate,
    speed_scores,
    wrapped_gaussian_kernel,
)

DT = 0.02


def von_mises_session(kappa, mu, n=200_000, n_cells=1, peak_hz=20.0, seed=0):
    """Head direction uniform on the circle; Poisson spikes at rate peak * exp(k(cos - 1))."""
    rng = np.random.default_rng(seed)
    hd = rng.uniform(0, 2 * np.pi, n)
    rate = peak_hz * np.exp(kappa * (np.cos(hd - mu) - 1.0))
    counts = rng.poisson(np.broadcast_to(rate * DT, (n_cells, n)))
    return hd, counts, np.arange(n) * DT


@pytest.mark.parametrize("kappa, mu", [(2.0, 1.0), (0.8, 5.5), (5.0, 3.0)])
def test_von_mises_cell_recovers_direction_and_analytic_vector_length(kappa, mu):
    hd, counts, t = von_mises_session(kappa, mu, seed=int(10 * kappa))
    tun = head_direction_tuning(hd, counts, t)
    assert tun.curves.shape == (1, 60)
    assert tun.reasons == [""]
    # a von Mises rate curve has mean resultant length I1(k)/I0(k)
    expected = special.i1(kappa) / special.i0(kappa)
    assert abs(tun.mean_vector_length[0] - expected) < 0.02
    err = np.angle(np.exp(1j * (tun.preferred_direction_rad[0] - mu)))
    assert abs(np.degrees(err)) < 3.0
    # occupancy in seconds; curve = spikes / s in the bin, peak near 20 Hz
    np.testing.assert_allclose(tun.occupancy.sum(), len(t) * DT)
    assert 17.0 < np.nanmax(tun.curves) < 23.0


def test_uniform_cell_has_low_vector_length_and_activity_works_too():
    rng = np.random.default_rng(3)
    n = 100_000
    hd = rng.uniform(-np.pi, np.pi, n)
    counts = rng.poisson(0.1, (3, n))
    tun = head_direction_tuning(hd, counts, np.arange(n) * DT)
    assert np.all(tun.mean_vector_length < 0.03)
    # model activity: occupancy in samples, curve = mean activation
    act = 1.0 + np.cos(hd - 2.0)[None]  # rate a + b cos -> R = b / (2 a) = 0.5
    tun = head_direction_tuning(hd, act, signal="activity")
    np.testing.assert_allclose(tun.mean_vector_length, 0.5, atol=0.005)
    assert tun.occupancy.sum() == n
    assert abs(tun.preferred_direction_rad[0] - 2.0) < 0.02


def test_too_few_samples_or_spikes_give_nan_with_a_reason():
    hd = np.linspace(0, 2 * np.pi, 50, endpoint=False)
    counts = np.ones((2, 50))
    tun = head_direction_tuning(hd, counts, np.arange(50) * DT)
    assert np.all(np.isnan(tun.mean_vector_length))
    assert "only 50 samples" in tun.reasons[0]
    hd, counts, t = von_mises_session(1.0, 0.0, n=5000, n_cells=2)
    counts[1] = 0
    counts[1, :3] = 1
    tun = head_direction_tuning(hd, counts, t)
    assert np.isfinite(tun.mean_vector_length[0]) and np.isnan(tun.mean_vector_length[1])
    assert tun.reasons[1] == "only 3 spikes (need min_spikes=10)"


def test_circular_smoothing_hand_case():
    # 4 bins, sigma 1 bin: weight at offset k sums exp(-(k + 4m)^2 / 2) over wraps m
    w = wrapped_gaussian_kernel(4, 1.0)
    raw = np.array(
        [
            1 + 2 * np.exp(-8) + 2 * np.exp(-32),
            np.exp(-0.5) + np.exp(-4.5) + np.exp(-12.5) + np.exp(-24.5),
            2 * np.exp(-2) + 2 * np.exp(-18),
            np.exp(-0.5) + np.exp(-4.5) + np.exp(-12.5) + np.exp(-24.5),
        ]
    )
    np.testing.assert_allclose(w, raw / raw.sum(), rtol=1e-10)
    delta = np.array([[0.0, 0.0, 1.0, 0.0]])
    np.testing.assert_allclose(circular_smooth(delta, 1.0)[0], np.roll(w, 2), atol=1e-14)
    # the tuning curve divides smoothed counts by smoothed occupancy: with uniform occupancy a
    # single spike at 45 deg (bin 0 of 4) spreads as the kernel (rate per s = w / occupancy)
    hd = np.repeat(np.deg2rad([45.0, 135.0, 225.0, 315.0]), 50)
    counts = np.zeros((1, 200))
    counts[0, :10] = 1  # 10 spikes in bin 0
    t = np.arange(200) * 0.1  # 5 s per bin
    tun = head_direction_tuning(hd, counts, t, bin_deg=90, smooth_deg=90, min_spikes=1)
    np.testing.assert_allclose(tun.curves[0], 10 * w / 5.0, rtol=1e-10)
    np.testing.assert_allclose(tun.bin_centres_rad, np.deg2rad([45, 135, 225, 315]))


def test_speed_score_of_a_linear_speed_cell():
    rng = np.random.default_rng(5)
    n = 60_000
    t = np.arange(n) * DT
    # slowly varying speed (cm/s): smoothing 250 ms barely changes it
    speed = 25 + 12 * np.sin(2 * np.pi * t / 7.0) + 6 * np.sin(2 * np.pi * t / 2.3 + 1)
    b, a, noise = 0.4, 3.0, 4.0
    act = a + b * speed + noise * rng.standard_normal(n)
    sc = speed_scores(speed, act[None], t, smooth_s=0.0, signal="activity")
    kept = speed[(speed >= 2) & (speed <= 50)]
    expect = b * kept.std() / np.sqrt(b**2 * kept.var() + noise**2)
    assert abs(sc.scores[0] - expect) < 0.01
    assert abs(sc.slope[0] - b) < 0.01 and abs(sc.intercept[0] - a) < 0.3
    # smoothing white noise with a Gaussian of s.d. s samples divides its variance by
    # 2 sqrt(pi) s (12.5 samples -> 44.3)
    sc = speed_scores(speed, act[None], t, smooth_s=0.25, signal="activity")
    var = noise**2 / (2 * np.sqrt(np.pi) * 12.5)
    assert abs(sc.scores[0] - b * kept.std() / np.sqrt(b**2 * kept.var() + var)) < 0.01
    # Poisson spikes at a + b * speed Hz, speed a 7 s sine: the 250 ms Gaussian scales the
    # sine by g = exp(-(2 pi 0.25 / 7)^2 / 2) and leaves Poisson noise of variance
    # mean rate / (dt 2 sqrt(pi) 12.5) (spikes/s)^2
    speed = 25 + 15 * np.sin(2 * np.pi * t / 7.0)
    counts = rng.poisson((a + b * speed) * DT)[None]
    sc = speed_scores(speed, counts, t)
    g = np.exp(-0.5 * (2 * np.pi * 0.25 / 7.0) ** 2)
    signal_sd = b * g * 15 / np.sqrt(2)
    noise_var = (a + b * 25) / (DT * 2 * np.sqrt(np.pi) * 12.5)
    assert abs(sc.slope[0] - b * g) < 0.02
    assert abs(sc.scores[0] - signal_sd / np.sqrt(signal_sd**2 + noise_var)) < 0.02


def test_speed_range_and_instantaneous_rate_hand_case():
    t = np.arange(101) * 0.01
    counts = np.zeros((1, 101))
    counts[0, 50] = 1
    rate = instantaneous_rate(counts, t, smooth_s=0.02)  # sigma = 2 samples
    np.testing.assert_allclose(rate.sum() * 0.01, 1.0, rtol=1e-6)
    np.testing.assert_allclose(rate[0, 52] / rate[0, 50], np.exp(-0.5), rtol=1e-3)
    np.testing.assert_allclose(instantaneous_rate(counts, t, 0.0)[0, 50], 100.0)
    # samples outside the speed range are left out of the fit
    speed = np.where(np.arange(101) < 50, 10.0, 80.0) + np.arange(101) * 0.01
    act = np.where(np.arange(101) < 50, 2.0 * speed, -speed)[None]
    sc = speed_scores(speed, act, t, smooth_s=0.0, signal="activity", min_samples=10)
    assert sc.n_samples == 50
    np.testing.assert_allclose([sc.scores[0], sc.slope[0], sc.intercept[0]], [1.0, 2.0, 0.0])
    none = speed_scores(speed, act, t, speed_range_cm_s=(100, 200), signal="activity")
    assert np.isnan(none.scores[0]) and "only 0 samples" in none.reasons[0]


def test_bad_inputs_are_refused_in_one_line():
    with pytest.raises(ValueError, match="strictly increasing"):
        speed_scores(np.ones(3), np.ones((1, 3)), np.array([0.0, 0.0, 1.0]))
    with pytest.raises(ValueError, match="3 samples"):
        head_direction_tuning(np.zeros(3), np.ones((1, 4)), np.arange(3.0))
    with pytest.raises(ValueError, match="needs times_s"):
        head_direction_tuning(np.zeros(3), np.ones((1, 3)))
    with pytest.raises(ValueError, match="speed_range_cm_s"):
        speed_scores(np.ones(3), np.ones((1, 3)), np.arange(3.0), speed_range_cm_s=(5, 2))
