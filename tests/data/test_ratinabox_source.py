"""RatInABox trajectories: shapes, the box, displacements and (seed, step) determinism."""

import numpy as np
import pytest
import torch

pytest.importorskip("ratinabox")

from brainlike.data.ratinabox_source import ratinabox_trajectories  # noqa: E402
from brainlike.data.trajectories import DT  # noqa: E402


@pytest.fixture(scope="module")
def batch():
    return ratinabox_trajectories(6, 15, arena=1.0, seed=3, step=7, dtype=torch.float64)


def test_shapes_and_dtypes(batch):
    assert batch.position.shape == (6, 15, 2) and batch.velocity.shape == (6, 15, 2)
    assert batch.head_direction.shape == (6, 15) and batch.speed.shape == (6, 15)
    assert batch.init_position.shape == (6, 2) and batch.init_head_direction.shape == (6,)
    assert batch.near_wall.dtype == torch.bool and batch.arena == 1.0
    assert batch.position.dtype == torch.float64
    assert batch.inputs().shape == (6, 15, 2)


def test_inside_the_centred_box(batch):
    for p in (batch.position, batch.init_position):
        assert p.abs().max() <= 0.5 + 1e-9
    assert batch.head_direction.abs().max() <= np.pi + 1e-9


def test_displacements_integrate_to_positions_and_match_speed(batch):
    path = batch.init_position[:, None] + batch.velocity.cumsum(dim=1)
    torch.testing.assert_close(path, batch.position, rtol=0, atol=1e-12)
    torch.testing.assert_close(batch.velocity.norm(dim=-1) / DT, batch.speed, rtol=1e-9, atol=1e-12)
    assert batch.speed.min() > 0


def test_same_seed_and_step_same_batch_and_global_numpy_state_untouched(batch):
    np.random.seed(123)
    expected_next = np.random.rand()
    np.random.seed(123)
    again = ratinabox_trajectories(6, 15, arena=1.0, seed=3, step=7, dtype=torch.float64)
    assert np.random.rand() == expected_next  # the caller's global stream was restored
    torch.testing.assert_close(again.position, batch.position, rtol=0, atol=0)
    torch.testing.assert_close(again.head_direction, batch.head_direction, rtol=0, atol=0)
    other = ratinabox_trajectories(6, 15, arena=1.0, seed=3, step=8, dtype=torch.float64)
    assert (other.init_position - batch.init_position).abs().min() > 0


def test_arena_shift_and_bad_inputs():
    big = ratinabox_trajectories(3, 4, arena=2.2, seed=0, step=0)
    assert big.position.abs().max() <= 1.1 + 1e-6 and big.position.dtype == torch.float32
    with pytest.raises(ValueError, match="arena"):
        ratinabox_trajectories(2, 3, arena=-1.0, seed=0, step=0)
    with pytest.raises(ValueError, match="dt"):
        ratinabox_trajectories(2, 3, arena=1.0, seed=0, step=0, agent_params={"dt": 0.1})
