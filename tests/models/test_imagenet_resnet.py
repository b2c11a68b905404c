"""ImageNet ResNets (torchvision layout) for the learning-rule recipes, and the train options
those recipes use: Nesterov momentum and a linear warm-up."""

import pytest
import torch

from brainlike.config import ConfigError, config_from_dict
from brainlike.config.model import IMAGENET_RESNET_DEPTHS
from brainlike.models import create_model
from brainlike.models.imagenet_resnet import IMAGENET_DEPTHS, ImageNetResNet
from brainlike.models.zoo import build_from_config, build_from_description


def test_parameter_counts_are_torchvisions():
    # He et al. 2016 as torchvision builds them, 1,000 classes
    assert sum(p.numel() for p in create_model("resnet18").parameters()) == 11_689_512
    assert sum(p.numel() for p in create_model("resnet50").parameters()) == 25_557_032
    assert tuple(IMAGENET_DEPTHS) == IMAGENET_RESNET_DEPTHS


def test_description_round_trips_and_channels_follow_the_data():
    cfg = config_from_dict(
        {"data": {"dataset": "digits"}, "model": {"kind": "resnet", "layout": "imagenet",
                                                 "depth": 18}}
    )  # fmt: skip
    model = build_from_config(cfg.model, 1, 10, 32)
    assert model.conv1.in_channels == 1 and model.fc.out_features == 10
    again = build_from_description(model.describe())
    again.load_state_dict(model.state_dict())
    x = torch.randn(2, 1, 32, 32)
    model.eval(), again.eval()
    torch.testing.assert_close(again(x), model(x), rtol=0, atol=0)


@pytest.mark.parametrize(
    "model, message",
    [
        ({"kind": "resnet", "depth": 18}, "6n \\+ 2 .* layout: imagenet"),
        ({"kind": "resnet", "layout": "imagenet", "depth": 20}, "18, 34, 50, 101, 152"),
    ],
)
def test_depth_must_fit_the_layout(model, message):
    with pytest.raises(ConfigError, match=message):
        config_from_dict({"data": {"dataset": "digits"}, "model": model})


def test_every_layer_converts_and_a_rule_step_runs():
    from brainlike.rules.convert import asymmetric_layers, convert

    torch.manual_seed(0)
    model = ImageNetResNet(18, 3, 10)
    names = convert(model, "symmetric_alignment")
    assert len(names) == 21 == len(asymmetric_layers(model))  # 20 convs + fc
    loss = torch.nn.functional.cross_entropy(model(torch.randn(2, 3, 32, 32)), torch.tensor([1, 2]))
    loss.backward()
    assert all(torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0 for p in
               (m.weight for _, m in asymmetric_layers(model)))  # fmt: skip


def _lrs(train, steps_per_epoch=3, epochs=4):
    from brainlike.train.loop import _optimizer_and_schedule

    cfg = config_from_dict({"data": {"dataset": "digits"}, "train": {"epochs": epochs, **train}})
    opt, sched = _optimizer_and_schedule(cfg, [torch.nn.Parameter(torch.zeros(1))],
                                         steps_per_epoch)  # fmt: skip
    out = []
    for _ in range(steps_per_epoch * epochs):
        out.append(opt.param_groups[0]["lr"])
        opt.step(), sched.step()
    return opt, out


def test_warmup_rises_linearly_then_the_schedule_follows():
    _, lrs = _lrs({"optimizer": "sgd", "lr": 0.6, "warmup_epochs": 2, "schedule": "step",
                   "milestones": [3]})  # fmt: skip
    # 6 warm-up steps: (s + 1) / 6 of lr; then lr; from epoch 3, lr / 10
    expected = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.6, 0.6, 0.6, 0.06, 0.06, 0.06]
    torch.testing.assert_close(torch.tensor(lrs), torch.tensor(expected))
    _, plain = _lrs({"optimizer": "sgd", "lr": 0.6})
    assert plain == [0.6] * 12


def test_nesterov_reaches_the_optimizer_and_needs_sgd_with_momentum():
    opt, _ = _lrs({"optimizer": "sgd", "lr": 0.1, "nesterov": True})
    assert opt.param_groups[0]["nesterov"] is True
    with pytest.raises(ConfigError, match="nesterov needs optimizer: sgd"):
        config_from_dict({"data": {"dataset": "digits"}, "train": {"nesterov": True}})
    with pytest.raises(ConfigError, match="warm-up"):
        config_from_dict({"data": {"dataset": "digits"}, "train": {"epochs": 2,
                                                                    "warmup_epochs": 2}})  # fmt: skip
