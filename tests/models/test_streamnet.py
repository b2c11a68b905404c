"""StreamNets of mouse visual cortex (spec: mouse-and-entorhinal.md §1): the layer table's
shapes and parameter counts by hand, the embedding contract, the smallest input, the default
scoring layers, a learning rule, and a run of the training loop with resume."""

from __future__ import annotations

import math

import pytest
import torch

from brainlike.config import ConfigError, config_from_dict
from brainlike.models import create_model
from brainlike.models.streamnet import (
    STREAMNET_VARIANTS,
    StreamNet,
    streamnet_min_input_size,
)
from brainlike.models.zoo import build_from_config, build_from_description, describe_model


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def area_shapes(model: StreamNet, size: int = 64) -> dict[str, tuple[int, ...]]:
    shapes: dict[str, tuple[int, ...]] = {}
    hooks = [
        getattr(model, name).register_forward_hook(
            lambda _m, _i, out, name=name: shapes.__setitem__(name, tuple(out.shape[1:]))
        )
        for name in model.fit_layers
    ]
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hooks:
        h.remove()
    return shapes


def conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out  # weights + bias


def bn(c: int) -> int:
    return 2 * c  # scale and shift (running statistics are buffers)


# the spec's table, layer by layer (spec: mouse-and-entorhinal.md §1)
VISP = conv(3, 64, 11) + bn(64)  # 23,296 + 128
STREAM = conv(64, 192, 5) + bn(192) + conv(192, 384, 3) + bn(384)  # 307,776 + 664,704
FROM_VISP = conv(64, 256, 3) + bn(256)  # 147,712 + 512
FROM_STREAM = conv(384, 256, 3) + bn(256)  # 884,992 + 512


def by_hand(streams: int, outputs: int, classes: int = 10) -> int:
    deep = outputs * (FROM_VISP + streams * FROM_STREAM)
    readout = outputs * 256 * 36 * classes + classes
    return VISP + streams * STREAM + deep + readout


def test_the_table_written_out():
    assert (VISP, STREAM, FROM_VISP, FROM_STREAM) == (23_424, 972_480, 148_224, 885_504)
    # single: 23,424 + 972,480 + 148,224 + 885,504 + 9,216 * 10 + 10
    assert by_hand(1, 1) == 2_121_802


@pytest.mark.parametrize(
    "variant, streams, outputs, units, params",
    [
        ("single", 1, 1, 8_896, 2_121_802),
        ("dual", 2, 2, 14_656, 5_991_178),
        ("six", 6, 2, 28_480, 16_965_130),
    ],
)
def test_area_shapes_units_and_parameters(variant, streams, outputs, units, params):
    model = create_model(f"streamnet-{variant}")
    names, outs = STREAMNET_VARIANTS[variant]
    assert (len(names), len(outs)) == (streams, outputs)
    shapes = area_shapes(model)
    assert list(shapes) == ["VISp", *names, *outs]
    assert shapes["VISp"] == (64, 7, 7)
    assert all(shapes[n] == (384, 3, 3) for n in names)
    assert all(shapes[n] == (256, 3, 3) for n in outs)
    # spec: units = 64*49 + streams*384*9 + outputs*256*9
    assert sum(math.prod(s) for s in shapes.values()) == units
    assert 64 * 49 + streams * 384 * 9 + outputs * 256 * 9 == units
    assert sum(p.numel() for p in model.parameters()) == by_hand(streams, outputs) == params


def test_names_of_the_six_stream_areas():
    model = StreamNet("six")
    assert model.fit_layers == [
        "VISp", "VISl", "VISrl", "VISal", "VISli", "VISpm", "VISpl", "VISpor", "VISam",
    ]  # fmt: skip
    # every output area has its own connection from VISp and from each stream
    assert list(model.VISam.from_streams) == list(STREAMNET_VARIANTS["six"][0])
    assert model.VISam.from_VISp[0].weight is not model.VISpor.from_VISp[0].weight


def test_an_output_area_sums_rectified_connections():
    torch.manual_seed(0)
    model = StreamNet("dual").eval()
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        visp = model.VISp(x)
        streams = {n: getattr(model, n)(visp) for n in model.streams}
        parts = [model.VISpor.from_VISp(visp)] + [
            model.VISpor.from_streams[n](streams[n]) for n in model.streams
        ]
        expected = parts[0] + parts[1] + parts[2]
        torch.testing.assert_close(model.VISpor(visp, streams), expected)
    assert all((p >= 0).all() for p in parts)  # ReLU on each connection before the sum


def test_embedding_and_round_trip():
    torch.manual_seed(0)
    model = StreamNet("dual", out_features=0).eval()
    assert not hasattr(model, "fc")
    x = torch.randn(3, 3, 64, 64)
    h = model(x)
    assert h.shape == (3, model.embedding_dim) == (3, 2 * 256 * 36)
    with torch.no_grad():
        visp = model.VISp(x)
        streams = {n: getattr(model, n)(visp) for n in model.streams}
        areas = torch.cat([model.VISpor(visp, streams), model.VISam(visp, streams)], 1)
    # adaptive pooling 3x3 -> 6x6 repeats every unit in a 2x2 block
    rep = areas.repeat_interleave(2, 2).repeat_interleave(2, 3).flatten(1)
    torch.testing.assert_close(h, rep)
    classifier = StreamNet("six", out_features=7, dropout=0.25)
    again = build_from_description(describe_model(classifier))
    assert describe_model(again) == classifier.describe()
    again.load_state_dict(classifier.state_dict())
    classifier.eval(), again.eval()
    torch.testing.assert_close(again(x), classifier(x), rtol=0, atol=0)


def test_smallest_input_size_is_computed_and_enforced():
    assert streamnet_min_input_size() == StreamNet.min_input_size == 31
    assert StreamNet("single", input_size=31).eval()(torch.zeros(1, 3, 31, 31)).shape == (1, 10)
    with pytest.raises(ValueError, match="at least 31 x 31 px, got 30 px") as info:
        StreamNet("single", input_size=30)
    assert "\n" not in str(info.value)

    class Unchecked(StreamNet):
        min_input_size = 1

    # below 31 px the streams' max-pool has no 3x3 window left: the check is not arbitrary
    with pytest.raises(RuntimeError, match="too small"):
        Unchecked("single", input_size=30).eval()(torch.zeros(1, 3, 30, 30))


def test_config_builds_and_rejects():
    cfg = config_from_dict(
        {
            "data": {"dataset": "digits", "input_size": 32, "channels": 3},
            "model": {"kind": "streamnet", "variant": "six"},
        }
    )
    assert (cfg.model.variant, cfg.model.dropout) == ("six", 0.5)
    model = build_from_config(cfg.model, 3, 10, 32)
    assert isinstance(model, StreamNet) and model.streams == STREAMNET_VARIANTS["six"][0]
    with pytest.raises(ValueError, match="at least 31"):
        build_from_config(cfg.model, 3, 10, 16)
    with pytest.raises(ConfigError, match="variant"):
        config_from_dict({"model": {"kind": "streamnet", "variant": "triple"}})
    with pytest.raises(ConfigError, match="no cortical sheet"):
        config_from_dict(
            {"model": {"kind": "streamnet"}, "objective": {"spatial": {"weight": 1.0}}}
        )


def test_default_scoring_layers_are_the_areas():
    from brainlike.evaluation.scoring_model import default_layers

    model = StreamNet("dual")
    assert default_layers(model, (3, 64, 64)) == ["VISp", "VISl", "VISal", "VISpor", "VISam"]


def test_feedback_alignment_converts_a_streamnet_and_a_step_runs():
    from brainlike.rules.convert import asymmetric_layers, convert

    torch.manual_seed(0)
    model = StreamNet("dual", input_size=32)
    names = convert(model, "feedback_alignment")
    # VISp 1 + streams 2 x 2 + outputs 2 x (1 + 2) + readout 1
    assert len(names) == 12 == len(asymmetric_layers(model))
    before = model.VISp.conv.weight.detach().clone()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = torch.nn.functional.cross_entropy(
        model(torch.randn(4, 3, 32, 32)), torch.tensor([0, 1, 2, 3])
    )
    loss.backward()
    opt.step()
    assert not torch.equal(before, model.VISp.conv.weight)
    assert all(torch.isfinite(m.weight.grad).all() for _, m in asymmetric_layers(model))


def test_a_tiny_run_trains_and_resumes_exactly(tmp_path):
    from brainlike.train.loop import train

    cfg = config_from_dict(
        {
            "name": "streamnet-tiny",
            "seed": 0,
            "data": {
                "dataset": "digits",
                "input_size": 32,
                "channels": 3,
                "train_size": 64,
                "test_size": 32,
            },
            "model": {"kind": "streamnet", "variant": "single"},
            "train": {"optimizer": "sgd", "lr": 0.01, "batch_size": 32, "epochs": 2},
        }
    )
    full = train(cfg, tmp_path / "full", progress=False, analyse=False)
    assert full["complete"] and full["epochs"] == 2 and 0.0 <= full["test_acc"] <= 1.0
    part = train(cfg, tmp_path / "part", progress=False, analyse=False, stop_after_epochs=1)
    assert part["epochs"] == 1
    train(cfg, tmp_path / "part", resume=True, progress=False, analyse=False)
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "part" / "checkpoints" / "last.pt", weights_only=True)
    assert a["architecture"] == b["architecture"] == StreamNet("single", 3, 10, 32).describe()
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)
