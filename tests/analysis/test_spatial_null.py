"""Circular-shift shuffle nulls: simulated grid, head-direction and speed cells pass, uniform
cells stay inside their nulls, and the batched null equals a per-shuffle loop."""

import numpy as np
import pytest

from brainlike.analysis.spatial import (
    border_scores,
    grid_scores,
    rate_maps_from_activity,
    rate_maps_from_spikes,
    spatial_information,
)
from brainlike.analysis.spatial_null import circular_shifts, draw_shifts, shuffle_nulls
from brainlike.analysis.spatial_tuning import head_direction_tuning, speed_scores

DT = 0.02


def random_walk(n, seed, side=1.0):
    """Smooth random walk (m) in a square arena centred at 0, reflected at the walls; returns
    positions (n, 2), heading (rad) and speed (cm/s)."""
    rng = np.random.default_rng(seed)
    pos = np.zeros((n, 2))
    heading = np.zeros(n)
    speed = np.zeros(n)
    p, h, v = np.zeros(2), 0.0, 0.2
    half = side / 2 - 1e-6
    for i in range(n):
        h += rng.normal(0, 0.3)
        v = np.clip(v + rng.normal(0, 0.02), 0.02, 0.45)
        p = p + v * DT * np.array([np.cos(h), np.sin(h)])
        for d in range(2):
            if abs(p[d]) > half:
                p[d] = np.sign(p[d]) * (2 * half - abs(p[d]))
                h = np.pi - h if d == 0 else -h
        pos[i], heading[i], speed[i] = p, np.mod(h, 2 * np.pi), v * 100
    return pos, heading, speed


def hex_rate(pos, spacing=0.4, theta=0.2, peak=15.0):
    k = 4 * np.pi / (np.sqrt(3) * spacing)
    g = sum(
        np.cos(k * (np.cos(theta + a) * pos[:, 0] + np.sin(theta + a) * pos[:, 1]))
        for a in (0.0, np.pi / 3, 2 * np.pi / 3)
    )
    return peak * np.clip((g + 1.5) / 4.5, 0, None) ** 2


@pytest.fixture(scope="module")
def session():
    n = 15_000  # 300 s at 50 Hz
    pos, hd, speed = random_walk(n, seed=1)
    rng = np.random.default_rng(2)
    rates = [hex_rate(pos, theta=th) for th in (0.0, 0.3, 0.6, 0.9)]
    rates.append(20 * np.exp(2.5 * (np.cos(hd - 1.0) - 1)))  # head direction
    rates.append(0.5 + 0.3 * speed)  # speed (Hz)
    rates += [np.full(n, 3.0)] * 14  # uniform
    counts = rng.poisson(np.array(rates) * DT)
    return pos, np.arange(n) * DT, counts, hd, speed


def test_simulated_cells_pass_and_uniform_cells_stay_inside_their_nulls(session):
    pos, t, counts, hd, speed = session
    res = shuffle_nulls(
        pos, t, counts, 1.0, head_direction_rad=hd, speed_cm_s=speed, smooth_cm=5.0, seed=3
    )
    assert set(res.scores) == {"grid", "border", "spatial_information", "head_direction", "speed"}
    grid, hdn, sp = res.scores["grid"], res.scores["head_direction"], res.scores["speed"]
    assert grid.null.shape == (100, 20) and grid.thresholds.shape == (2, 20)
    assert grid.params["convention"] == "mean_annuli"
    assert grid.passes_at(95.0)[:4].all() and grid.passes_at(99.0)[:4].all()
    assert grid.observed[:4].min() > 0.5
    assert res.scores["spatial_information"].passes_at(99.0)[:4].all()
    assert hdn.passes_at(99.0)[4] and hdn.observed[4] > 0.6
    assert sp.passes_at(99.0)[5] and sp.observed[5] > 0.3
    # a uniform cell's observed score is one more draw from its null. Shuffles of one train
    # a few seconds apart are alike, so the null is narrower than the score's spread and a
    # little more than 5 % pass at the 95th percentile (~8 % over 60 such cells); almost none
    # at the 99th, and observed percentiles average ~50
    uniform = slice(6, 20)
    pct, p95, p99 = [], 0, 0
    for name in ("grid", "spatial_information", "head_direction", "speed"):
        s = res.scores[name]
        p95 += s.passes_at(95.0)[uniform].sum()
        p99 += s.passes_at(99.0)[uniform].sum()
        pct.append(s.observed_percentile[uniform])
    assert p95 <= 9 and p99 <= 3  # of 4 scores x 14 cells
    assert 35 < np.mean(pct) < 65
    np.testing.assert_array_less(res.shifts_s, 300 - 20 + 1e-9)
    assert res.shifts_s.min() >= 20 and res.n_dropped == 0


def test_circular_shifts_preserve_counts_and_are_rolls():
    rng = np.random.default_rng(0)
    t = np.arange(3000) * DT  # 60 s
    counts = rng.poisson(0.2, (7, 3000))
    samples, seconds = draw_shifts(t, 50, 7, min_shift_s=20.0, seed=4)
    assert samples.shape == (50, 7)
    assert seconds.min() >= 20.0 and seconds.max() <= 40.0
    assert samples.min() >= 1000 and samples.max() <= 2000
    stack = circular_shifts(counts, samples)
    np.testing.assert_array_equal(stack.sum(axis=2), np.broadcast_to(counts.sum(1), (50, 7)))
    np.testing.assert_array_equal(stack[13, 5], np.roll(counts[5], samples[13, 5]))
    again, _ = draw_shifts(t, 50, 7, min_shift_s=20.0, seed=4)
    np.testing.assert_array_equal(again, samples)


def _loop_scores(pos, t, train, hd, speed):
    """Slow obvious path for one cell: spike times -> rate_maps_from_spikes -> each score."""
    spikes = np.repeat(t, train.astype(int))
    maps = rate_maps_from_spikes(pos, t, [spikes], 1.0, bin_cm=10.0, smooth_cm=10.0)
    return {
        "grid": grid_scores(maps.rates, convention="minmax_peak").scores[0],
        "border": border_scores(maps.rates, bin_cm=10.0)[0][0],
        "spatial_information": spatial_information(maps.rates, maps.occupancy).bits_per_spike[0],
        "head_direction": head_direction_tuning(hd, train[None], t).mean_vector_length[0],
        "speed": speed_scores(speed, train[None], t).scores[0],
    }


def test_batched_null_equals_a_per_shuffle_loop(session):
    pos, t, counts, hd, speed = session
    pos, t, hd, speed = pos[:4000], t[:4000], hd[:4000], speed[:4000]
    counts = counts[[0, 4, 6], :4000]
    res = shuffle_nulls(
        pos,
        t,
        counts,
        1.0,
        head_direction_rad=hd,
        speed_cm_s=speed,
        n_shuffles=4,
        bin_cm=10.0,
        smooth_cm=10.0,
        grid_convention="minmax_peak",
        max_block_elements=4 * 4000,  # one cell per block
        seed=9,
    )
    for c in range(3):
        obs = _loop_scores(pos, t, counts[c].astype(float), hd, speed)
        for name, v in obs.items():
            np.testing.assert_allclose(res.scores[name].observed[c], v, rtol=1e-9, err_msg=name)
        for s in range(4):
            shifted = np.roll(counts[c], res.shifts_samples[s, c]).astype(float)
            for name, v in _loop_scores(pos, t, shifted, hd, speed).items():
                np.testing.assert_allclose(
                    res.scores[name].null[s, c], v, rtol=1e-9, err_msg=f"{name} {s} {c}"
                )
    thr = np.percentile(res.scores["grid"].null[:, 0], 95)
    np.testing.assert_allclose(res.scores["grid"].thresholds[0, 0], thr)


def test_model_activity_uses_mean_activation_maps(session):
    pos, t, _, _, _ = session
    act = np.stack([hex_rate(pos) / 15, np.random.default_rng(5).random(len(t))])
    res = shuffle_nulls(pos, t, act, 1.0, signal="activity", n_shuffles=20, scores=("grid",))
    expect = grid_scores(rate_maps_from_activity(pos, act.T, 1.0).rates).scores
    np.testing.assert_allclose(res.scores["grid"].observed, expect, rtol=1e-9)
    assert res.scores["grid"].passes_at(95.0).tolist() == [True, False]


def test_bad_inputs_and_sparse_cells(session):
    pos, t, counts, hd, speed = session
    pos, t, counts = pos[:3000], t[:3000], counts[:, :3000]
    with pytest.raises(ValueError, match="positions have 3000 samples"):
        shuffle_nulls(pos, t, counts[:, :-1], 1.0)
    bad_t = t.copy()
    bad_t[10] = bad_t[9]
    with pytest.raises(ValueError, match="strictly increasing"):
        shuffle_nulls(pos, bad_t, counts, 1.0)
    with pytest.raises(ValueError, match="min_shift_s=40"):
        shuffle_nulls(pos, t, counts, 1.0, min_shift_s=40.0)
    with pytest.raises(ValueError, match="needs speed_cm_s"):
        shuffle_nulls(pos, t, counts, 1.0, scores=("speed",))
    nan_pos = pos.copy()
    nan_pos[[5, 50, 500]] = np.nan
    few = counts[:2].copy()
    few[1] = 0
    few[1, :4] = 1
    with pytest.warns(UserWarning, match="dropped 3 of 3000 samples"):
        res = shuffle_nulls(nan_pos, t, few, 1.0, n_shuffles=10, scores=("grid", "border"))
    assert res.n_dropped == 3 and res.notes == ["dropped 3 of 3000 samples with a NaN position"]
    assert np.isfinite(res.scores["grid"].observed[0])
    assert np.isnan(res.scores["grid"].observed[1]) and not res.scores["grid"].passes[:, 1].any()
    assert res.scores["border"].reasons[1] == "only 4 spikes (need min_spikes=10)"
    assert np.isnan(res.scores["grid"].null[:, 1]).all()
