"""The rat random walk (spec: mouse-and-entorhinal.md §2) and the place-cell targets: the walk's
statistics against its laws, the inputs integrating to the positions, and decoding."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
import torch
from scipy import stats

from brainlike.data.place_cells import (
    PlaceCells,
    decode_positions,
    decoding_error_cm,
    place_cell_centres,
)
from brainlike.data.trajectories import (
    BORDER,
    CUES,
    DT,
    REWARD_ZONE,
    SPEED_SCALE,
    TURN_SD,
    cue_distances,
    generate_trajectories,
)


@pytest.fixture(scope="module")
def walk():
    return generate_trajectories(20000, 20, arena=2.2, seed=7, step=0)


def _step_start(tr) -> torch.Tensor:
    """(B, T, 2) position at the start of each step."""
    return torch.cat([tr.init_position[:, None], tr.position[:, :-1]], dim=1)


def _wall_distance(pos: torch.Tensor, arena: float) -> torch.Tensor:
    return (arena / 2 - pos.abs()).min(dim=-1).values


@pytest.mark.parametrize("arena", [1.0, 1.5, 2.2])
def test_positions_never_leave_the_arena(arena):
    half = torch.tensor(arena / 2, dtype=torch.float32)
    for step in range(3):
        tr = generate_trajectories(20000, 20, arena=arena, seed=1, step=step)
        assert tr.position.shape == (20000, 20, 2)
        assert bool((tr.position.abs() <= half).all())
        assert bool((tr.init_position.abs() <= half).all())
    # The start positions cover the box uniformly: mean 0, variance L^2 / 12 per axis.
    x = tr.init_position.double()
    assert abs(float(x.mean())) < 0.01 * arena
    assert float(x.var()) == pytest.approx(arena**2 / 12, rel=0.03)


def test_speeds_away_from_walls_follow_the_rayleigh_law(walk):
    away = _wall_distance(_step_start(walk), 2.2) > 0.1
    v = walk.speed[away].double().numpy()
    assert v.size > 200_000
    ks = stats.kstest(v, stats.rayleigh(scale=SPEED_SCALE).cdf)
    assert ks.pvalue > 0.01
    # mean of Rayleigh(s) = s sqrt(pi / 2) = 1.0236 m/s for s = 0.13 * 2 pi
    assert v.mean() == pytest.approx(SPEED_SCALE * math.sqrt(math.pi / 2), rel=0.005)
    # A wrong scale is rejected by the same test (the test can fail).
    assert stats.kstest(v, stats.rayleigh(scale=1.05 * SPEED_SCALE).cdf).pvalue < 1e-6


def test_turns_away_from_walls_have_the_spec_sd(walk):
    hd = torch.cat([walk.init_head_direction[:, None], walk.head_direction], dim=1).double()
    turn = torch.remainder(hd.diff(dim=1) + math.pi, 2 * math.pi) - math.pi
    away = _wall_distance(_step_start(walk), 2.2) > 2 * BORDER
    assert not bool(walk.near_wall[away].any())
    t = turn[away].numpy()
    assert t.std() == pytest.approx(DT * TURN_SD, rel=0.01)  # 0.2304 rad
    assert abs(t.mean()) < 0.002
    assert stats.kstest(t / (DT * TURN_SD), "norm").pvalue > 0.01


def test_wall_rule_turns_parallel_and_slows(walk):
    start = _step_start(walk)
    near = walk.near_wall
    assert 0.01 < float(near.float().mean()) < 0.1  # about 4 % of steps in the 2.2 m box
    # The rule acts only within the border.
    assert bool((_wall_distance(start[near], 2.2) < BORDER).all())
    # Near-wall speeds are a quarter of a Rayleigh draw (or a shortened step): the mean is at
    # most a quarter of the free mean.
    assert float(walk.speed[near].mean()) < 0.26 * SPEED_SCALE * math.sqrt(math.pi / 2)


def test_velocity_inputs_integrate_to_the_positions(walk):
    recon = walk.init_position[:, None].double() + walk.velocity.double().cumsum(dim=1)
    assert torch.allclose(recon, walk.position.double(), atol=1e-5)
    # and each displacement is speed * dt along the heading
    expect = (walk.speed * DT)[..., None] * torch.stack(
        [torch.cos(walk.head_direction), torch.sin(walk.head_direction)], dim=-1
    )
    assert torch.allclose(walk.velocity, expect, atol=1e-6)
    assert walk.inputs().shape == (20000, 20, 2)


def test_same_seed_and_step_same_data_other_step_other_data():
    a = generate_trajectories(64, 20, seed=3, step=5, landmarks=True, reward=True)
    b = generate_trajectories(64, 20, seed=3, step=5, landmarks=True, reward=True)
    c = generate_trajectories(64, 20, seed=3, step=6, landmarks=True, reward=True)
    d = generate_trajectories(64, 20, seed=4, step=5, landmarks=True, reward=True)
    assert torch.equal(a.position, b.position) and torch.equal(a.inputs(), b.inputs())
    assert torch.equal(a.directed, b.directed) and torch.equal(a.cues_present, b.cues_present)
    assert not torch.allclose(a.position, c.position)
    assert not torch.allclose(a.position, d.position)
    assert not torch.allclose(a.init_position, c.init_position)


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        (dict(batch=0, steps=20), "batch is 0"),
        (dict(batch=4, steps=0), "steps is 0"),
        (dict(batch=4, steps=20, arena=0.0), "arena is 0.0"),
        (dict(batch=4, steps=20, arena=-1.0), "arena is -1.0"),
        (dict(batch=4, steps=20, arena=1.0, reward=True), "reward zone"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, words):
    with pytest.raises(ValueError, match=words):
        generate_trajectories(**kwargs)


def test_ten_thousand_trajectories_in_well_under_a_second():
    generate_trajectories(100, 20, seed=0)
    t0 = time.perf_counter()
    tr = generate_trajectories(10000, 20, seed=0, step=1)
    elapsed = time.perf_counter() - t0
    assert tr.position.shape == (10000, 20, 2)
    assert elapsed < 0.5  # about 0.07 s measured on one core


def test_cue_distances_against_hand_computed_points():
    pts = torch.tensor(
        [
            [0.0, 0.0],  # centre of cue 0
            [0.15, 0.0],  # on the edge of cue 0
            [0.35, 0.35],  # centre of cue 1
            [0.45, 0.0],  # 0.3 right of cue 0's edge at x = 0.15
            [1.0, 1.0],
        ],
        dtype=torch.float64,
    )
    d = cue_distances(pts)
    assert d.shape == (5, 5)
    assert d[0, 0] == 0 and d[1, 0] == 0 and d[2, 1] == 0
    assert float(d[3, 0]) == pytest.approx(0.3)
    # (1, 1) to cue 3 (0.6, 0.5, side 0.1): nearest corner (0.65, 0.55)
    assert float(d[4, 3]) == pytest.approx(math.hypot(0.35, 0.45))
    # to cue 1 (0.35, 0.35, side 0.2): nearest corner (0.45, 0.45)
    assert float(d[4, 1]) == pytest.approx(math.hypot(0.55, 0.55))
    assert len(CUES) == 5


def test_landmarks_present_in_half_of_the_episodes_and_zero_inside_a_cue():
    tr = generate_trajectories(20000, 20, seed=2, landmarks=True)
    assert tr.cue_distance.shape == (20000, 20, 5)
    assert float(tr.cues_present.float().mean()) == pytest.approx(0.5, abs=0.015)
    cues = torch.tensor(CUES)
    inside = ((tr.position[..., None, :] - cues[:, :2]).abs() <= cues[:, 2:] / 2).all(-1)
    assert int(inside.sum()) > 1000
    assert bool((tr.cue_distance[inside] == 0).all())
    assert bool((tr.cue_distance[~inside] > 0).all())
    x = tr.inputs()
    assert x.shape == (20000, 20, 7)
    assert bool((x[~tr.cues_present, :, 2:] == 0).all())
    assert torch.equal(x[tr.cues_present, :, 2:], tr.cue_distance[tr.cues_present])


def test_reward_variant_runs_to_the_zone_in_five_eighths_of_the_episodes():
    tr = generate_trajectories(20000, 20, seed=9, reward=True)
    frac = float(tr.directed.float().mean())
    assert frac == pytest.approx(0.625, abs=0.012)  # 5 s.e. of a binomial at n = 20000
    zx, zy, zs = REWARD_ZONE
    run = tr.position[tr.directed]
    # after 7 steps at the zone centre, then inside the zone up to the end
    assert torch.allclose(run[:, 6], torch.tensor([zx, zy]), atol=1e-5)
    assert bool((tr.reward[tr.directed, 6:] == 1).all())
    assert bool(((run[:, 6:, 0] - zx).abs() <= zs / 2 + 1e-6).all())
    assert bool(((run[:, 6:, 1] - zy).abs() <= zs / 2 + 1e-6).all())
    # the straight run: equal steps along one heading
    v = tr.velocity[tr.directed, :7]
    assert torch.allclose(v, v[:, :1].expand_as(v), atol=1e-6)
    recon = tr.init_position[:, None] + tr.velocity.cumsum(dim=1)
    assert torch.allclose(recon, tr.position, atol=1e-5)
    # the plain walks are rarely in the zone (0.04 m^2 of 4.84 m^2)
    assert float(tr.reward[~tr.directed].mean()) < 0.02
    assert tr.inputs().shape == (20000, 20, 3)


def test_place_cell_centres_fixed_and_uniform():
    c = place_cell_centres(512, 2.2, seed=0)
    assert torch.equal(c, place_cell_centres(512, 2.2, seed=0))
    assert not torch.equal(c, place_cell_centres(512, 2.2, seed=1))
    assert c.shape == (512, 2) and bool((c.abs() <= 1.1).all())
    assert stats.kstest(c[:, 0].numpy(), stats.uniform(-1.1, 2.2).cdf).pvalue > 0.01


def _dog_slow(x: np.ndarray, centres: np.ndarray, sigma: float) -> np.ndarray:
    """The spec's formula written out for one position."""
    d2 = ((x - centres) ** 2).sum(1)
    g1 = np.exp(-d2 / (2 * sigma**2))
    g2 = np.exp(-d2 / (4 * sigma**2))
    a = g1 / g1.sum() - g2 / g2.sum()
    a = a + abs(a.min())
    return a / a.sum()


def test_dog_targets_match_the_formula_sum_to_one_and_peak_at_the_nearest_centre(walk):
    cells = PlaceCells.create(512, 2.2, kind="dog")
    pos = walk.position[:2000].reshape(-1, 2)
    a = cells.targets(pos)
    assert a.shape == (40000, 512)
    assert torch.allclose(a.sum(-1), torch.ones(40000), atol=1e-5)
    assert float(a.min()) >= 0
    assert bool((a.min(dim=-1).values == 0).all())  # the shift puts the least active cell at 0
    slow = _dog_slow(pos[123].double().numpy(), cells.centres.double().numpy(), 0.12)
    np.testing.assert_allclose(a[123].numpy(), slow, atol=1e-6)
    inner = (pos.abs() < 1.1 - 0.12).all(-1)
    nearest = torch.cdist(pos, cells.centres).argmin(-1)
    assert bool((a.argmax(-1) == nearest)[inner].all())


def test_gaussian_and_cartesian_targets():
    pos = torch.tensor([[0.1, -0.2], [0.5, 0.5]])
    g = PlaceCells.create(64, 2.2, kind="gaussian", sigma=0.2)
    d2 = ((pos[:, None] - g.centres) ** 2).sum(-1)
    w = torch.exp(-d2 / (2 * 0.2**2))
    assert torch.allclose(g.targets(pos), w / w.sum(-1, keepdim=True), atol=1e-6)
    cart = PlaceCells.create(kind="cartesian")
    assert torch.equal(cart.targets(pos), pos) and cart.size == 2 and g.size == 64
    assert torch.equal(cart.decode(pos), pos)
    with pytest.raises(ValueError, match="place-cell kind"):
        PlaceCells.create(kind="grid")


def test_decode_top3_hand_case_and_error_in_cm():
    centres = torch.tensor([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    act = torch.tensor([[0.9, 0.5, 0.7, 0.1]])  # top 3: cells 0, 2, 1
    assert torch.allclose(decode_positions(act, centres), torch.tensor([[1 / 3, 1 / 3]]))
    assert torch.allclose(decode_positions(act, centres, k=1), torch.tensor([[0.0, 0.0]]))
    assert decoding_error_cm(torch.tensor([[0.03, 0.04]]), torch.zeros(1, 2)) == pytest.approx(5)
    with pytest.raises(ValueError, match="4 centres"):
        decode_positions(torch.ones(1, 3), centres)


@pytest.mark.parametrize("kind", ["dog", "gaussian"])
def test_decoding_exact_targets_recovers_the_position_within_a_few_cm(walk, kind):
    cells = PlaceCells.create(512, 2.2, kind=kind)
    pos = walk.position[:2000].reshape(-1, 2)
    err = decoding_error_cm(cells.decode(cells.targets(pos)), pos)
    # measured 4.2 cm (512 cells in 2.2 m: mean centre spacing ~10 cm)
    assert 2.0 < err < 6.0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_same_batch_on_the_gpu_as_on_the_cpu():
    cpu = generate_trajectories(256, 20, seed=5, step=2, landmarks=True, reward=True)
    gpu = generate_trajectories(256, 20, seed=5, step=2, device="cuda", landmarks=True, reward=True)
    assert gpu.position.device.type == "cuda"
    assert torch.equal(cpu.directed, gpu.directed.cpu())
    assert torch.allclose(cpu.position, gpu.position.cpu(), atol=1e-4)
