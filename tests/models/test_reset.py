"""Reset networks: parameter counts of the source, tiling, growth, round trips."""

import numpy as np
import pytest
import torch

from brainlike.models import create_model, list_models
from brainlike.models.reset import LevelSpec, ResetNetwork, TileLayout, count_parameters, reset_n
from brainlike.models.zoo import build_from_description


@pytest.mark.parametrize(
    "name, kwargs, expected",
    [
        ("reset8-cifar100", {}, 17_562_454),  # spec: topography.md §1
        ("reset4-numbers", {}, 4_646_998),
        ("resnet20", {"in_channels": 1, "out_features": 10}, 269_434),
    ],
)
def test_parameter_counts_match_the_source(name, kwargs, expected):
    assert count_parameters(create_model(name, **kwargs)) == expected


def test_registry_lists_the_family_and_rejects_unknown_names():
    names = list_models()
    for n in (1, 2, 4, 8):
        assert f"reset{n}" in names and f"reset{n}-small" in names
    with pytest.raises(ValueError, match="registered models"):
        create_model("reset3")


def test_tile_layout_follows_the_spec_raster_order():
    lay = TileLayout(n_subnets=4, tile=2, cols=2)
    assert lay.shape == (4, 4)
    # unit u of subnet i -> (i // n * s + u // s, i % n * s + u % s)
    assert lay.position(0, 0) == (0, 0)
    assert lay.position(0, 3) == (1, 1)
    assert lay.position(1, 1) == (0, 3)
    assert lay.position(2, 2) == (3, 0)
    assert lay.position(3, 3) == (3, 3)
    with pytest.raises(IndexError):
        lay.position(4, 0)
    sub, unit = lay.maps()
    np.testing.assert_array_equal(sub, [[0, 0, 1, 1], [0, 0, 1, 1], [2, 2, 3, 3], [2, 2, 3, 3]])
    np.testing.assert_array_equal(unit, [[0, 1, 0, 1], [2, 3, 2, 3], [0, 1, 0, 1], [2, 3, 2, 3]])


def test_tile_outputs_places_every_unit_where_the_layout_says():
    lay = TileLayout(n_subnets=16, tile=3, cols=4)
    out = torch.arange(16 * 9, dtype=torch.float32).view(1, 16, 9)  # value = i * 9 + u
    grid = lay.tile_outputs(out)[0]
    for i in range(16):
        for u in range(9):
            r, c = lay.position(i, u)
            assert grid[r, c] == i * 9 + u


def test_reset_forward_shapes_and_sheet():
    torch.manual_seed(0)
    model = reset_n(
        4,
        1,
        10,
        subnet="small",
        master="small",
        input_size=16,
        execution="fused",
        subnet_kwargs={"channels": [4]},
        master_kwargs={"channels": [8]},
    )
    x = torch.randn(3, 1, 16, 16)
    out = model(x, return_all=True)
    assert out.logits.shape == (3, 10)
    assert out.grids[0].shape == (3, 32, 32)
    coords = model.sheet["levels.0.grid"]
    assert coords.shape == (1024, 2)
    assert coords[33].tolist() == [1.0, 1.0]


def test_loop_and_fused_reset_networks_agree():
    torch.manual_seed(0)
    model = reset_n(
        2,
        3,
        5,
        subnet="small",
        master="small",
        input_size=16,
        execution="loop",
        subnet_kwargs={"channels": [4, 8]},
        master_kwargs={"channels": [8]},
    )
    model.eval()
    x = torch.randn(4, 3, 16, 16)
    a = model(x)
    for level in model.levels:
        level.execution = "fused"
    b = model(x)
    torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-5)


def _small_model(**kw):
    torch.manual_seed(1)
    return ResetNetwork(
        1,
        10,
        [LevelSpec(side=2, tile=4, subnet="small", subnet_kwargs={"channels": [4]})],
        master="small",
        master_kwargs={"channels": [8]},
        input_size=8,
        execution="fused",
        **kw,
    )


def test_adding_a_subnetwork_keeps_the_trained_tiles():
    model = _small_model().eval()
    x = torch.randn(5, 1, 8, 8)
    before = model(x, return_all=True).grids[0]
    model.add_subnetworks(level=0, extra=1)
    after = model(x, return_all=True).grids[0]
    assert after.shape == (5, 12, 8)  # a third row of tiles, one tile filled
    torch.testing.assert_close(after[:, :8], before)
    assert after[:, 8:, :4].abs().sum() > 0 and after[:, 8:, 4:].abs().sum() == 0
    assert model.levels[0].subnets.groups == 5


def test_adding_a_level_deepens_the_network():
    model = _small_model()
    model.add_level(LevelSpec(side=2, tile=2, subnet="small", subnet_kwargs={"channels": [4]}))
    out = model(torch.randn(2, 1, 8, 8), return_all=True)
    assert [g.shape[1:] for g in out.grids] == [(8, 8), (4, 4)]
    assert out.logits.shape == (2, 10)


def test_description_round_trip_rebuilds_the_same_network():
    model = _small_model(autoencoder=True)
    model.add_subnetworks(0, 2)
    model.eval()
    clone = build_from_description(model.describe())
    clone.load_state_dict(model.state_dict())
    clone.eval()
    x = torch.randn(2, 1, 8, 8)
    torch.testing.assert_close(model(x), clone(x))


def test_autoencoder_head_reconstructs_image_shape():
    model = _small_model(autoencoder=True)
    out = model(torch.randn(2, 1, 8, 8), return_all=True)
    assert out.reconstruction.shape == (2, 1, 8, 8)
    assert _small_model().forward(torch.randn(2, 1, 8, 8), return_all=True).reconstruction is None


def test_bad_reset_arguments_are_rejected():
    with pytest.raises(ValueError, match="multiple of n"):
        reset_n(3)
    with pytest.raises(ValueError, match="at least one level"):
        ResetNetwork(1, 10, [])
    with pytest.raises(ValueError, match="execution"):
        ResetNetwork(1, 10, [LevelSpec(2, 2)], execution="fast")
