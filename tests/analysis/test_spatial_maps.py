"""Spatial scores: rate maps, autocorrelograms, grid/border scores, spatial information."""

import numpy as np
import pytest
from scipy import ndimage
from spatial_reference import autocorrelogram_direct, grid_score_mean_annuli

from brainlike.analysis.spatial import (
    autocorrelograms,
    border_scores,
    grid_scores,
    grid_spacing_orientation,
    rate_maps_from_activity,
    rate_maps_from_spikes,
    spatial_information,
)


def hex_map(n: int, period: float, theta: float = 0.0, phase=(0.0, 0.0)) -> np.ndarray:
    """Ideal grid: three plane waves 60 degrees apart; lattice spacing = period (bins)."""
    y, x = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    k = 4 * np.pi / (np.sqrt(3) * period)
    return sum(
        np.cos(k * (np.cos(theta + t) * (x - phase[0]) + np.sin(theta + t) * (y - phase[1])))
        for t in (0.0, np.pi / 3, 2 * np.pi / 3)
    )


# --- rate maps -------------------------------------------------------------------------------


def test_activity_maps_are_bin_means_and_keep_the_far_wall():
    # arena 0.2 m centred at 0, 5 cm bins -> 4 x 4; x = +0.1 lies on the far wall
    pos = np.array([[-0.1, -0.1], [-0.09, -0.06], [0.1, 0.1], [0.07, 0.099], [0.0, 0.0]])
    act = np.array([[1.0, 0.0], [3.0, 1.0], [5.0, 2.0], [7.0, 4.0], [9.0, 9.0]])
    rm = rate_maps_from_activity(pos, act, 0.2, bin_cm=5.0)
    assert rm.rates.shape == (2, 4, 4)
    # samples 0 and 1 share bin (0, 0) (y=-0.06 is 4 cm in); 2 and 3 share (3, 3)
    assert rm.rates[0, 0, 0] == 2.0 and rm.rates[1, 0, 0] == 0.5
    assert rm.rates[0, 3, 3] == 6.0 and rm.rates[1, 3, 3] == 3.0
    assert rm.rates[0, 2, 2] == 9.0
    assert np.isnan(rm.rates).sum() == 2 * 13
    assert rm.occupancy.sum() == 5 and rm.occupancy[3, 3] == 2
    batched = rate_maps_from_activity(np.stack([pos, pos]), np.stack([act, act]), 0.2)
    np.testing.assert_array_equal(batched.rates, rm.rates)
    assert batched.occupancy[0, 0] == 4


def test_positions_outside_the_arena_are_refused():
    with pytest.raises(ValueError, match="outside the arena"):
        rate_maps_from_activity(np.array([[0.2, 0.0]]), np.ones((1, 1)), 0.2)


def test_spike_maps_are_occupancy_normalised():
    times = np.arange(6) * 0.5  # each sample holds 0.5 s
    pos = np.array([[-0.05, -0.05]] * 4 + [[0.05, 0.05]] * 2)  # 2 s in bin (0,0), 1 s in (1,1)
    spikes = [np.array([0.1, 0.6, 2.6, 2.7, 2.8]), np.array([1.0])]
    rm = rate_maps_from_spikes(pos, times, spikes, 0.2, bin_cm=10.0)
    assert rm.rates.shape == (2, 2, 2)
    np.testing.assert_allclose(rm.occupancy, [[2.0, 0.0], [0.0, 1.0]])
    np.testing.assert_allclose(rm.rates[0, 0, 0], 2 / 2.0)
    np.testing.assert_allclose(rm.rates[0, 1, 1], 3 / 1.0)
    np.testing.assert_allclose(rm.rates[1, 0, 0], 0.5)
    assert np.isnan(rm.rates[0, 0, 1])
    strict = rate_maps_from_spikes(pos, times, spikes, 0.2, bin_cm=10.0, min_occupancy_s=1.5)
    assert np.isnan(strict.rates[0, 1, 1]) and strict.rates[0, 0, 0] == 1.0


def test_smoothing_divides_smoothed_counts_by_smoothed_occupancy():
    rng = np.random.default_rng(1)
    times = np.arange(4000) * 0.02
    pos = rng.uniform(-0.5, 0.5, (4000, 2))
    spikes = [np.sort(rng.uniform(0, 80, 300))]
    raw = rate_maps_from_spikes(pos, times, spikes, 1.0, bin_cm=5.0)
    sm = rate_maps_from_spikes(pos, times, spikes, 1.0, bin_cm=5.0, smooth_cm=7.5)
    counts = np.nan_to_num(raw.rates[0] * raw.occupancy)
    expect = ndimage.gaussian_filter(counts, 1.5, mode="constant") / ndimage.gaussian_filter(
        raw.occupancy, 1.5, mode="constant"
    )
    np.testing.assert_allclose(sm.rates[0], expect, rtol=1e-12)


# --- autocorrelogram and grid scores -----------------------------------------------------------


def test_fft_autocorrelogram_equals_direct_pearson_per_lag():
    rng = np.random.default_rng(0)
    maps = rng.standard_normal((3, 11, 13)) + 5.0
    maps[0, 2, 3] = maps[1, :2, :] = maps[2, 4:7, 6:9] = np.nan
    fast = autocorrelograms(maps)
    assert fast.shape == (3, 21, 25)
    slow = np.stack([autocorrelogram_direct(m) for m in maps])
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(slow))
    np.testing.assert_allclose(fast, slow, atol=1e-9, equal_nan=True)
    assert np.nanmax(np.abs(fast[:, 10, 12] - 1.0)) < 1e-12


def test_ideal_grid_scores_high_and_random_map_near_zero():
    rng = np.random.default_rng(2)
    grid = hex_map(20, 7.0)
    noise = rng.standard_normal((30, 20, 20))
    res = grid_scores(np.concatenate([grid[None], noise]))
    assert res.convention == "mean_annuli" and res.params["inner"] == 0.2
    assert res.scores[0] > 1.0
    assert abs(np.mean(res.scores[1:])) < 0.15 and np.max(res.scores[1:]) < 0.6
    mm = grid_scores(grid[None], convention="minmax_peak")
    assert mm.convention == "minmax_peak" and 0.8 < mm.scores[0] <= res.scores[0] + 1e-12


def test_batched_grid_score_equals_per_cell_ndimage_reference():
    rng = np.random.default_rng(3)
    maps = np.stack(
        [hex_map(16, 6.0, 0.2, (1, 2)), hex_map(16, 8.0, 0.5), rng.standard_normal((16, 16))]
    )
    maps += 0.3 * rng.standard_normal(maps.shape)
    maps[0, 3:6, 4:8] = np.nan
    maps[2, :, :2] = np.nan
    fast = grid_scores(maps).scores
    slow = np.array([grid_score_mean_annuli(m) for m in maps])
    assert np.all(np.isfinite(fast))
    np.testing.assert_allclose(fast, slow, atol=1e-6)
    np.testing.assert_allclose(grid_scores(maps, batch=2).scores, fast, rtol=0, atol=1e-12)


def test_too_few_visited_bins_give_nan_with_reason():
    maps = np.stack([hex_map(12, 5.0), np.full((12, 12), np.nan), np.ones((12, 12))])
    maps[1, 0, :5] = 1.0
    res = grid_scores(maps)
    assert np.isfinite(res.scores[0]) and res.reasons[0] == ""
    assert np.isnan(res.scores[1]) and "only 5 visited bins" in res.reasons[1]
    assert np.isnan(res.scores[2]) and "constant" in res.reasons[2]
    b, reasons = border_scores(maps)
    assert np.isnan(b[1]) and "only 5 visited" in reasons[1]
    with pytest.raises(ValueError, match="convention"):
        grid_scores(maps, convention="max")


@pytest.mark.parametrize("period, theta_deg", [(7.0, 0.0), (9.0, 10.0)])
def test_spacing_and_orientation_of_a_known_grid(period, theta_deg):
    spacing, orientation = grid_spacing_orientation(
        hex_map(30, period, np.deg2rad(theta_deg))[None], bin_cm=5.0
    )
    assert abs(spacing[0] - 5.0 * period) <= 5.0  # within one bin
    # lattice vectors lie 30 degrees from the wave vectors
    diff = (orientation[0] - (theta_deg + 30.0) + 30.0) % 60.0 - 30.0
    assert abs(diff) < 5.0


# --- border score -----------------------------------------------------------------------------


def test_border_score_of_a_field_on_one_wall_is_analytic():
    m = np.zeros((20, 20))
    m[4:16, 0:2] = 1.0  # 12 of 20 bins of the west wall, two bins deep, 600 cm^2
    b, reasons = border_scores(m[None], bin_cm=5.0)
    cm, dm = 12 / 20, 1.0 / 10.0  # mean centre distance 1 bin over half-width 10 bins
    assert reasons == [""]
    np.testing.assert_allclose(b[0], (cm - dm) / (cm + dm), rtol=1e-12)


def test_border_score_uses_every_field():
    m = np.zeros((20, 20))
    m[8:12, 8:12] = 1.0  # central field: labelled first (scan order)
    m[18:20, 3:17] = 0.9  # field on the north wall (last rows): labelled second
    b, _ = border_scores(m[None], bin_cm=5.0)
    rates = np.where(m > 0.3, m, 0)
    yy, xx = np.meshgrid(np.arange(20) + 0.5, np.arange(20) + 0.5, indexing="ij")
    d = np.minimum.reduce([yy, 20 - yy, xx, 20 - xx]) / 10
    cm, dm = 14 / 20, (rates * d).sum() / rates.sum()
    np.testing.assert_allclose(b[0], (cm - dm) / (cm + dm), rtol=1e-12)
    centre_only, _ = border_scores(np.where(np.arange(20)[:, None] < 15, m, 0)[None])
    assert centre_only[0] == -1.0  # no wall touched: CM = 0


def test_small_fields_are_not_fields():
    m = np.zeros((20, 20))
    m[0:2, 0:4] = 1.0  # 8 bins = 200 cm^2, not above 200
    b, reasons = border_scores(m[None], bin_cm=5.0)
    assert np.isnan(b[0]) and "no field" in reasons[0]


# --- spatial information ----------------------------------------------------------------------


def test_spatial_information_of_one_firing_bin_is_log2_inverse_occupancy():
    occ = np.array([[1.0, 3.0], [4.0, 0.0]])
    m = np.array([[[2.0, 0.0], [0.0, np.nan]], [[1.0, 1.0], [1.0, np.nan]]])
    si = spatial_information(m, occ)
    assert si.bits_per_spike[0] == np.log2(8.0 / 1.0)
    np.testing.assert_allclose(si.bits_per_second[0], 2.0 / 8.0 * 3.0)
    assert si.bits_per_spike[1] == 0.0
    silent = spatial_information(np.zeros((1, 2, 2)), occ)
    assert np.isnan(silent.bits_per_spike[0]) and silent.reasons == ["zero mean rate"]


def test_spatial_information_hand_case_without_clipping():
    occ = np.array([[1.0, 1.0]])
    m = np.array([[[3.0, 1.0]]])  # mean 2: 0.5*1.5*log2 1.5 + 0.5*0.5*log2 0.5
    expect = 0.75 * np.log2(1.5) - 0.25
    np.testing.assert_allclose(spatial_information(m, occ).bits_per_spike, [expect], rtol=1e-14)
