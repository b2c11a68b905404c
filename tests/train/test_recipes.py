"""The brain-likeness recipes wired into configs and the training loop (spec: recurrent.md §5)."""

from __future__ import annotations

import math
import re

import pytest
import torch
from torch.nn import functional as F

from brainlike.config import ConfigError, config_from_dict
from brainlike.objectives.mixing import jensen_shannon_consistency
from brainlike.train.checkpoint import load_checkpoint, load_model_from_checkpoint
from brainlike.train.loop import train
from brainlike.train.recipes import BatchContext, TrainingRecipe

TINY_GRCNN = {"kind": "grcnn", "depth": 55, "width": 0.125, "iterations": [1, 1, 1, 1]}


def _cfg(**sections):
    base = {
        "name": "t",
        "data": {"dataset": "digits", "input_size": 16, "train_size": 40, "test_size": 20},
        "model": dict(TINY_GRCNN),
        "train": {"epochs": 1, "batch_size": 20, "device": "cpu", "snapshots_per_epoch": 0},
    }
    base.update(sections)
    return config_from_dict(base)


class _Bundle:
    pixel_mean, pixel_std = (0.5,), (0.25,)
    in_channels, input_size = 1, 8


# -- configs ----------------------------------------------------------------------------------


def test_vone_switch_and_model_kinds():
    cfg = _cfg(model={**TINY_GRCNN, "vone": True})
    assert cfg.model.vone.simple_channels == 256 and cfg.model.vone.stride == 4
    assert _cfg(model={**TINY_GRCNN, "vone": False}).model.vone is None
    assert _cfg(model={"kind": "resnet", "depth": 32}).model.depth == 32


@pytest.mark.parametrize(
    "sections, message",
    [
        ({"model": {"kind": "reset", "vone": True}}, "VOneBlock front end is offered"),
        ({"model": {"kind": "resnet", "depth": 21}}, "6n + 2"),
        (
            {"objective": {"cutmix": {"prob": 1.0}, "augmix": {"enabled": True}}},
            "switch one off",
        ),
        ({"objective": {"behavior": {"weight": 1.0}}}, "needs a grouping"),
        ({"model": {**TINY_GRCNN, "vone": {"kernel_size": 8}}}, "must be odd"),
        ({"objective": {"augmix": {"enabled": True, "depth": 0}}}, "-1 (random 1-3 ops)"),
        ({"finetune": {"stages": []}}, "finetune.stages"),
        ({"model": {"kind": "resnet"}, "objective": {"spatial": {"weight": 1.0}}}, "no cortical"),
    ],
)
def test_bad_recipe_configs_name_the_problem(sections, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        _cfg(**sections)


def test_alexnet_refuses_images_too_small_for_it():
    from brainlike.models.locality import AlexNetLP

    with pytest.raises(ValueError, match="at least 63 px"):
        AlexNetLP(locality=False, num_classes=10, in_channels=1, input_size=32, grid=8)
    AlexNetLP(locality=False, num_classes=10, in_channels=1, input_size=63, grid=8)


# -- the recipe object ------------------------------------------------------------------------


def test_stage_schedule_after_the_main_epochs():
    cfg = _cfg(
        train={"epochs": 2, "device": "cpu"},
        finetune={
            "stages": [
                {"block": "stage1", "blends": ["texture", "noise"], "epochs": 2},
                {"block": "stage2", "blends": ["texture"], "epochs": 1},
            ]
        },
    )
    r = TrainingRecipe(cfg, _Bundle(), 10)
    assert r.total_epochs == 5
    assert [None if r.stage(e) is None else r.stage(e).block for e in range(6)] == [
        None,
        None,
        "stage1",
        "stage1",
        "stage2",
        None,
    ]


def test_cutmix_loss_mixes_labels_by_pasted_area():
    cfg = _cfg(objective={"cutmix": {"prob": 1.0}})
    r = TrainingRecipe(cfg, _Bundle(), 10)
    x = torch.randn(6, 1, 8, 8)
    y = torch.arange(6)
    g = torch.Generator().manual_seed(3)
    mixed, ctx = r.prepare((x, y), 0, g)
    assert ctx.mixed_labels is not None
    # the pasted box is where the mixed images differ from the originals' partner-free pixels
    box = (mixed != x).any(dim=1).any(dim=0)
    assert 0.0 <= ctx.lam <= 1.0
    assert box.float().mean().item() <= 1.0 - ctx.lam + 1e-9
    logits = torch.randn(6, 10)
    loss, total, _ = r.loss(logits, ctx)
    expected = ctx.lam * F.cross_entropy(logits, y) + (1 - ctx.lam) * F.cross_entropy(
        logits, ctx.mixed_labels
    )
    assert torch.allclose(loss, expected) and torch.allclose(total, expected)


def test_augmix_loss_is_ce_plus_weighted_js_on_three_views():
    cfg = _cfg(objective={"augmix": {"enabled": True, "jsd_weight": 12.0}})
    r = TrainingRecipe(cfg, _Bundle(), 10)
    logits = torch.randn(12, 10)
    y = torch.randint(0, 10, (4,))
    loss, total, clean = r.loss(logits, BatchContext(n=4, labels=y, views=3))
    c, a1, a2 = logits.split(4)
    assert torch.equal(clean, c)
    assert torch.allclose(loss, F.cross_entropy(c, y))
    assert torch.allclose(total, loss + 12.0 * jensen_shannon_consistency(c, a1, a2))


def test_augmix_dataset_sees_unit_pixels_and_returns_normalised_views():
    cfg = _cfg(objective={"augmix": {"enabled": True}})
    r = TrainingRecipe(cfg, _Bundle(), 10)
    pixels = torch.rand(3, 1, 8, 8)
    normalised = (pixels - 0.5) / 0.25
    ds = r.train_dataset(torch.utils.data.TensorDataset(normalised, torch.arange(3)))
    clean, a1, a2, y = ds[1]
    assert torch.allclose(clean, normalised[1], atol=1e-6) and int(y) == 1
    for v in (a1, a2):  # views are normalised [0, 1] pixels
        assert v.min() >= (0 - 0.5) / 0.25 - 1e-5 and v.max() <= (1 - 0.5) / 0.25 + 1e-5


def test_behaviour_regulariser_joins_the_loss_with_its_weight():
    groups = {"a": [0, 1, 2, 3, 4], "b": [5, 6, 7, 8, 9]}
    cfg = _cfg(objective={"behavior": {"weight": 0.5, "grouping": groups}})
    r = TrainingRecipe(cfg, _Bundle(), 10)
    logits = torch.randn(5, 10)
    y = torch.tensor([0, 3, 5, 9, 2])
    loss, total, _ = r.loss(logits, BatchContext(n=5, labels=y))
    p = logits.softmax(1)
    p_super = torch.stack([p[:, :5].sum(1), p[:, 5:].sum(1)], 1)
    true_super = (y >= 5).long()
    # one-hot targets: KL = cross-entropy of the true superclass
    expected = 0.5 * F.nll_loss(p_super.log(), true_super)
    assert torch.allclose(total - loss, expected, atol=1e-6)


def test_behaviour_grouping_must_name_known_classes():
    cfg = _cfg(objective={"behavior": {"weight": 1.0, "grouping": {"a": [0, 12]}}})
    with pytest.raises(ValueError, match=r"classes \[12\]"):
        TrainingRecipe(cfg, _Bundle(), 10)


def test_blends_stay_between_image_and_texture():
    cfg = _cfg(finetune={"stages": [{"block": "stage1", "blends": ["texture"]}], "pool": 4})
    r = TrainingRecipe(cfg, _Bundle(), 10)
    x = torch.full((5, 1, 8, 8), 3.0)  # far outside the texture range
    out, _ = r.prepare((x, torch.zeros(5, dtype=torch.long)), 1, torch.Generator().manual_seed(0))
    pool = r._blend_pool("texture", x.device)
    # every output image is (1 - a) x + a T for one pool texture T and a in [0.005, 0.5]
    for img in out:
        fits = []
        for t in pool:
            a = (img - 3.0) / (t - 3.0)
            fits.append(float(a.max() - a.min()) < 1e-4 and 0.005 - 1e-6 <= float(a.mean()) <= 0.5)
        assert any(fits)


# -- training end to end ----------------------------------------------------------------------


def test_finetune_stage_changes_only_its_block(tmp_path):
    cfg = _cfg(
        finetune={"stages": [{"block": "stage2", "blends": ["texture", "noise"]}], "pool": 8}
    )
    stopped = train(cfg, tmp_path / "run", progress=False, analyse=False, stop_after_epochs=1)
    assert stopped["epochs"] == 1
    before = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    summary = train(cfg, tmp_path / "run", resume=True, progress=False, analyse=False)
    assert summary["epochs"] == 2 and summary["complete"]
    after = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["model"]
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("stage2.") for k in changed), sorted(changed)[:5]
    # frozen BatchNorm statistics did not move either (they live outside stage2)
    assert not any(k.startswith("stage1.") and "running" in k for k in changed)


def test_every_recipe_trains_and_reloads(tmp_path):
    runs = {
        "cutmix": _cfg(objective={"cutmix": {"prob": 1.0}}),
        "augmix": _cfg(objective={"augmix": {"enabled": True, "width": 1}}),
        "vone": _cfg(
            data={"dataset": "digits", "input_size": 16, "train_size": 20, "test_size": 20},
            model={
                **TINY_GRCNN,
                "vone": {
                    "simple_channels": 8,
                    "complex_channels": 8,
                    "bottleneck": 8,
                    "stride": 2,
                    "kernel_size": 5,
                    "visual_degrees": 2.0,
                    "noise": False,
                },
            },
        ),
        "resnet": _cfg(model={"kind": "resnet", "depth": 8}),
    }
    for name, cfg in runs.items():
        s = train(cfg, tmp_path / name, progress=False, analyse=False)
        assert s["complete"] and math.isfinite(s["test_loss"]), name
        model, _ = load_model_from_checkpoint(tmp_path / name / "checkpoints" / "last.pt")
        x = torch.randn(2, 1, 16, 16)
        model.eval()
        assert model(x).shape == (2, 10)
    vone, _ = load_model_from_checkpoint(tmp_path / "vone" / "checkpoints" / "last.pt")
    assert type(vone).__name__ == "VOneFront" and vone.vone.out_channels == 8


def test_finetune_block_must_exist(tmp_path):
    cfg = _cfg(finetune={"stages": [{"block": "stage9"}]})
    with pytest.raises(ValueError, match="stage9"):
        train(cfg, tmp_path / "run", progress=False, analyse=False)


def test_step_schedule_and_label_smoothing(tmp_path):
    cfg = _cfg(
        objective={"label_smoothing": 0.1},
        train={
            "epochs": 3,
            "batch_size": 20,
            "device": "cpu",
            "optimizer": "sgd",
            "lr": 0.1,
            "schedule": "step",
            "milestones": [1, 2],
            "gamma": 0.1,
        },
        model={"kind": "resnet", "depth": 8},
    )
    s = train(cfg, tmp_path / "run", progress=False, analyse=False)
    lrs = [
        m["lr"] for m in load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["metrics"]
    ]
    assert s["complete"] and lrs == pytest.approx([0.01, 0.001, 0.001])  # lr after each epoch
    with pytest.raises(ConfigError, match="needs train.milestones"):
        _cfg(train={"schedule": "step"})


def test_finetune_from_a_trained_checkpoint(tmp_path):
    base = _cfg(model={"kind": "resnet", "depth": 8})
    train(base, tmp_path / "base", progress=False, analyse=False)
    ckpt = tmp_path / "base" / "checkpoints" / "last.pt"
    ft = _cfg(
        model={"kind": "resnet", "depth": 8},
        train={"epochs": 0, "batch_size": 20, "device": "cpu"},
        finetune={
            "checkpoint": str(ckpt),
            "stages": [{"block": "layer1", "blends": ["noise"]}],
            "pool": 4,
        },
    )
    s = train(ft, tmp_path / "ft", progress=False, analyse=False)
    assert s["epochs"] == 1
    before = load_checkpoint(ckpt)["model"]
    after = load_checkpoint(tmp_path / "ft" / "checkpoints" / "last.pt")["model"]
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith("layer1.") for k in changed)
    other = _cfg(
        model={"kind": "resnet", "depth": 14},
        train={"epochs": 0, "device": "cpu"},
        finetune={"checkpoint": str(ckpt), "stages": [{"block": "layer1"}]},
    )
    with pytest.raises(Exception, match="another architecture"):
        train(other, tmp_path / "bad", progress=False, analyse=False)
