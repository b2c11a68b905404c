"""The 64 px comparison models of the mouse chapter (AlexNet-BN, VGG16, ResNet-18): parameter
counts from their published layouts, the embedding contract, the smallest input, configs."""

from __future__ import annotations

import pytest
import torch

from brainlike.config import ConfigError, config_from_dict
from brainlike.models import create_model
from brainlike.models.lowres import VGG16, VGG16_LAYOUT, AlexNetBN, alexnet_min_input_size
from brainlike.models.zoo import build_from_config, build_from_description, describe_model


@pytest.fixture(autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def conv(c_in: int, c_out: int, k: int) -> int:
    return c_in * c_out * k * k + c_out


def dense(n_in: int, n_out: int) -> int:
    return n_in * n_out + n_out


def test_parameter_counts_by_hand():
    # AlexNet-BN: five convolutions, BN (2 per channel) after each, 9,216 -> 4,096 -> 4,096 -> 10
    convs = conv(3, 64, 11) + conv(64, 192, 5) + conv(192, 384, 3) + conv(384, 256, 3)
    convs += conv(256, 256, 3)
    bns = 2 * (64 + 192 + 384 + 256 + 256)
    alexnet = convs + bns + dense(9216, 4096) + dense(4096, 4096) + dense(4096, 10)
    assert alexnet == 57_047_114
    assert sum(p.numel() for p in create_model("alexnet-bn").parameters()) == alexnet
    # VGG16-BN: 13 3x3 convolutions with BN; the dense layers read 512 x 2 x 2
    widths = [w for w in VGG16_LAYOUT if w != "M"]
    vgg = sum(conv(a, b, 3) + 2 * b for a, b in zip([3, *widths[:-1]], widths, strict=True))
    vgg += dense(2048, 4096) + dense(4096, 4096) + dense(4096, 10)
    assert vgg == 39_938_122
    assert sum(p.numel() for p in create_model("vgg16-64").parameters()) == vgg
    # ResNet-18: torchvision's 11,689,512 at 1,000 classes, with a 10-class dense layer
    resnet = 11_689_512 - dense(512, 1000) + dense(512, 10)
    assert sum(p.numel() for p in create_model("resnet18-64").parameters()) == resnet


@pytest.mark.parametrize(
    "name, dim", [("alexnet-bn", 4096), ("vgg16-64", 4096), ("resnet18-64", 512)]
)
def test_out_features_zero_gives_the_embedding(name, dim):
    torch.manual_seed(0)
    model = create_model(name, out_features=0).eval()
    assert model.embedding_dim == dim
    with torch.no_grad():
        assert model(torch.randn(2, 3, 64, 64)).shape == (2, dim)
    assert not any(isinstance(m, torch.nn.Linear) and m.out_features == 10 for m in model.modules())


def test_smallest_input_sizes():
    assert alexnet_min_input_size() == AlexNetBN.min_input_size == 63
    assert AlexNetBN(input_size=63, hidden=8).eval()(torch.zeros(1, 3, 63, 63)).shape == (1, 10)
    with pytest.raises(ValueError, match="AlexNet-BN takes images of at least 63 x 63 px, got 32"):
        AlexNetBN(input_size=32)

    class Unchecked(AlexNetBN):
        min_input_size = 1

    with pytest.raises(RuntimeError, match="too small"):  # the third max-pool has no window
        Unchecked(input_size=62, hidden=8).eval()(torch.zeros(1, 3, 62, 62))
    assert VGG16(input_size=32, hidden=8).eval()(torch.zeros(1, 3, 32, 32)).shape == (1, 10)
    with pytest.raises(ValueError, match="VGG16 takes images of at least 32 x 32 px, got 31"):
        VGG16(input_size=31)
    with pytest.raises(ValueError, match="ResNet-18 takes images of at least 32"):
        create_model("resnet18-64", input_size=16)


def test_configs_build_and_round_trip():
    def cfg(model: dict):
        data = {"dataset": "digits", "input_size": 64, "channels": 3}
        return config_from_dict({"data": data, "model": model}).model

    torch.manual_seed(0)
    x = torch.randn(2, 3, 64, 64)
    for model_cfg in (
        cfg({"kind": "alexnet_bn", "hidden": 32}),
        cfg({"kind": "vgg16", "hidden": 16, "batch_norm": False}),
        cfg({"kind": "resnet", "layout": "imagenet", "depth": 18}),
    ):
        model = build_from_config(model_cfg, 3, 10, 64).eval()
        again = build_from_description(describe_model(model)).eval()
        assert describe_model(again) == describe_model(model)
        again.load_state_dict(model.state_dict())
        torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)
    vgg = build_from_config(cfg({"kind": "vgg16", "batch_norm": False, "hidden": 16}), 3, 10, 64)
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in vgg.modules())
    with pytest.raises(ValueError, match="at least 63"):
        build_from_config(cfg({"kind": "alexnet_bn"}), 3, 10, 32)
    with pytest.raises(ConfigError, match="hidden"):
        cfg({"kind": "alexnet_bn", "hidden": 0})


def test_feedback_alignment_converts_alexnet_bn():
    from brainlike.rules.convert import asymmetric_layers, convert

    model = AlexNetBN(hidden=16)
    assert len(convert(model, "feedback_alignment")) == 8 == len(asymmetric_layers(model))
    loss = model(torch.randn(2, 3, 64, 64)).sum()
    loss.backward()
    assert all(torch.isfinite(m.weight.grad).all() for _, m in asymmetric_layers(model))
