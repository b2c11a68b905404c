"""Block-wise fine-tuning with everything else frozen (spec: recurrent.md §5)."""

from collections import OrderedDict

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from brainlike.models import create_model
from brainlike.train.finetune import (
    GRCNN_TEXTURE_NOISE_STAGES,
    finetune_step,
    freeze_all_but,
    keep_frozen_bn_eval,
    staged_finetune_plan,
    trainable_parameter_names,
)


def _tiny() -> nn.Sequential:
    torch.manual_seed(0)

    def block(c_in, c_out):
        return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out), nn.ReLU())

    return nn.Sequential(
        OrderedDict(
            block1=block(3, 4),
            block2=block(4, 4),
            block3=block(4, 4),
            head=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 3)),
        )
    )


def _batch(n=4, size=8, classes=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, size, size, generator=g), torch.randint(classes, (n,), generator=g)


def _snapshot(model):
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def _changed(before, model):
    after = model.state_dict()
    return {k for k in before if not torch.equal(before[k], after[k])}


def test_only_the_trainable_grcnn_block_changes_and_frozen_bn_stats_stay():
    model = create_model("grcnn-small", num_classes=5)
    kept = freeze_all_but(model, "stage1")
    assert kept and all(n.startswith("stage1.") for n in kept)
    assert kept == [n for n, p in model.named_parameters() if p.requires_grad]
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=0.0)
    before = _snapshot(model)
    x, y = _batch(n=2, size=16, classes=5)
    assert finetune_step(model, (x, y), F.cross_entropy, opt) > 0
    changed = _changed(before, model)
    assert changed and all(k.startswith("stage1.") for k in changed)
    # stage1's weights moved and its BatchNorm running statistics were updated
    assert {n for n in kept if n.endswith("conv.weight")} <= changed
    assert "stage1.A0.bn.running_mean" in changed
    assert model.stem.bn1.training is False and model.stage1.A0.bn.training is True


@pytest.mark.parametrize("weight_decay, momentum", [(0.0, 0.0), (0.1, 0.9)])
def test_frozen_parameters_skip_weight_decay_and_momentum(weight_decay, momentum):
    model = _tiny()
    kept = freeze_all_but(model, "block2")
    # all parameters handed to the optimizer: the frozen ones must still be skipped
    opt = torch.optim.SGD(model.parameters(), lr=0.1, weight_decay=weight_decay, momentum=momentum)
    before = _snapshot(model)
    for seed in range(3):
        finetune_step(model, _batch(seed=seed), F.cross_entropy, opt)
    assert _changed(before, model) == set(kept) | {
        "block2.1.running_mean", "block2.1.running_var", "block2.1.num_batches_tracked"
    }  # fmt: skip


def test_without_keep_frozen_bn_eval_model_train_would_update_frozen_statistics():
    model = _tiny()
    freeze_all_but(model, "block2")
    assert not model.block1[1].training and model.block2[1].training
    model.train()  # resets every layer to training mode
    assert model.block1[1].training
    assert keep_frozen_bn_eval(model) == ["block1.1", "block3.1"]
    before = _snapshot(model)
    with torch.no_grad():
        model(_batch()[0])
    assert _changed(before, model) == {
        "block2.1.running_mean", "block2.1.running_var", "block2.1.num_batches_tracked"
    }  # fmt: skip


def test_freeze_several_names_and_nested_prefixes():
    model = _tiny()
    kept = freeze_all_but(model, ["block3", "head.2"])
    assert kept == [
        "block3.0.weight", "block3.0.bias", "block3.1.weight", "block3.1.bias",
        "head.2.weight", "head.2.bias",
    ]  # fmt: skip
    # a prefix matches whole name components only: "block1" must not cover "block10"
    assert trainable_parameter_names(model, "block1") == [
        "block1.0.weight", "block1.0.bias", "block1.1.weight", "block1.1.bias",
    ]  # fmt: skip


def test_unknown_block_lists_the_top_level_modules():
    model = create_model("grcnn-small")
    with pytest.raises(ValueError, match=r"no submodule\(s\) \['stage5'\].*'stage1'.*'fc'"):
        freeze_all_but(model, "stage5")
    with pytest.raises(ValueError, match="at least one"):
        freeze_all_but(model, [])


def test_staged_plan_one_block_at_a_time():
    model = create_model("grcnn-small")
    blocks = [b for b, _ in GRCNN_TEXTURE_NOISE_STAGES]
    plan = staged_finetune_plan(model, blocks, blends=[b for _, b in GRCNN_TEXTURE_NOISE_STAGES])
    assert [s.block for s in plan] == ["stage1", "stage2"]
    assert plan[0].blends == ("texture", "noise") and plan[1].blends == ("texture",)
    assert all(n.startswith("stage1.") for n in plan[0].trainable)
    assert all(n.startswith("stage2.") for n in plan[1].trainable)
    assert all(p.requires_grad for p in model.parameters())  # planning changes nothing

    model.train()
    assert list(plan[0].apply(model)) == list(plan[0].trainable)
    assert list(plan[1].apply(model)) == list(plan[1].trainable)
    # after the second stage the first block is frozen again, its BatchNorm back in eval mode
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable == set(plan[1].trainable)
    assert not model.stage1.A0.bn.training and model.stage2.A0.bn.training


def test_stale_gradients_of_newly_frozen_parameters_are_cleared():
    model = _tiny()
    x, y = _batch()
    F.cross_entropy(model(x), y).backward()
    freeze_all_but(model, "head")
    assert all(p.grad is None for n, p in model.named_parameters() if not n.startswith("head"))
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    opt.zero_grad(set_to_none=False)  # the old default; must not bring gradients back
    before = _snapshot(model)
    finetune_step(model, (x, y), F.cross_entropy, opt)
    assert _changed(before, model) == {"head.2.weight", "head.2.bias"}
