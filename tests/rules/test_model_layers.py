"""The toolkit's own Linear/Conv-like layers with backward weights: Reset networks' stacked
subnetworks (loop and fused paths), ConvRNNs' TF-'same' convolutions, locality-prior layers
(the error flows through B~ * prior * mask). Numbers against autograd and by hand; alignment
losses per subnetwork (spec learning-rules.md §1)."""

import json

import pytest
import torch
from torch import nn

from brainlike.config import config_from_dict
from brainlike.models.convrnn.layers import SameConv2d
from brainlike.models.locality import LocalityConv2d, LocalityLinear
from brainlike.models.parallel import StackedConv2d, StackedLinear, build_stacked
from brainlike.rules import AsymmetricConv2d, AsymmetricLinear, alignment_loss, convert, make_rule
from brainlike.rules.convert import unconvertible_layers
from brainlike.rules.convrnn import AsymmetricSameConv2d
from brainlike.rules.locality import AsymmetricLocalityConv2d, AsymmetricLocalityLinear
from brainlike.rules.stacked import AsymmetricStackedConv2d, AsymmetricStackedLinear
from brainlike.train.loop import train

F64 = torch.float64


def _upstream(out, seed=7):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(out.shape, generator=g, dtype=out.dtype)


def _net_grads(net, x, execution):
    """Gradients of a fixed random projection of ``net(x)`` w.r.t. x and the forward weights."""
    net.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out = net(x, execution=execution)
    (out * _upstream(out)).sum().backward()
    params = [p.grad.clone() for n, p in net.named_parameters() if not n.endswith("backward")]
    return [x.grad, *params]


def _assert_all_close(a, b, rtol=1e-6):
    assert len(a) == len(b)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=rtol, atol=1e-12)


@pytest.mark.parametrize("kind, kwargs", [("small", {"channels": (4, 6)}), ("resnet20", {})])
def test_sham_stacked_net_equals_autograd_on_both_paths(kind, kwargs):
    torch.manual_seed(0)
    net = build_stacked(kind, 3, 2, 5, **kwargs).double()
    x = torch.randn(4, 2, 8, 8, dtype=F64)
    ref = {e: _net_grads(net, x, e) for e in ("loop", "fused")}
    names = convert(net, "sham")
    assert all(
        isinstance(m, (AsymmetricStackedConv2d, AsymmetricStackedLinear))
        for n, m in net.named_modules()
        if n in names
    )
    assert len(names) == sum(isinstance(m, (StackedConv2d, StackedLinear)) for m in net.modules())
    for e in ("loop", "fused"):
        _assert_all_close(_net_grads(net, x, e), ref[e])


def test_feedback_alignment_stacked_paths_give_the_same_gradients():
    torch.manual_seed(1)
    net = build_stacked("small", 4, 3, 5, channels=(4, 6)).double()
    convert(net, "fa")
    x = torch.randn(5, 3, 8, 8, dtype=F64)
    loop, fused = _net_grads(net, x, "loop"), _net_grads(net, x, "fused")
    _assert_all_close(loop, fused, rtol=1e-10)
    sham = build_stacked("small", 4, 3, 5, channels=(4, 6)).double()
    sham.load_state_dict({k: v for k, v in net.state_dict().items() if "backward" not in k})
    # the random B~ changes the input gradient (and every weight gradient below the head)
    assert not torch.allclose(_net_grads(sham, x, "fused")[0], fused[0])


def test_stacked_linear_routes_each_subnetworks_error_through_its_own_b_by_hand():
    layer = StackedLinear(2, 2, 3).double()
    fa = AsymmetricStackedLinear.from_stacked(layer)
    assert fa.weight is layer.weight and fa.bias is layer.bias  # shared Parameters
    with torch.no_grad():
        fa.weight_backward.copy_(torch.arange(12, dtype=F64).reshape(2, 3, 2))
    x = torch.tensor([[[1.0, -2.0], [0.5, 3.0]]], dtype=F64, requires_grad=True)  # (B, G, in)
    delta = torch.tensor([[[1.0, 2.0, 3.0], [-1.0, 0.0, 1.0]]], dtype=F64)
    fa.fused(x).backward(delta)
    # by hand: grad_x[g] = delta[g] @ B~[g]; B~[0] = [[0,1],[2,3],[4,5]], B~[1] = [[6,7],[8,9],[10,11]]
    assert x.grad.tolist() == [[[16.0, 22.0], [4.0, 4.0]]]
    loop_x = x.detach().clone().requires_grad_(True)
    torch.stack(fa.loop(loop_x.unbind(1)), 1).backward(delta)
    assert loop_x.grad.tolist() == x.grad.tolist()
    # the weight gradient is backprop's: delta[g]^T x[g]
    torch.testing.assert_close(layer.weight.grad[0], 2 * torch.outer(delta[0, 0], x[0, 0].detach()))


def test_feedback_alignment_stacked_conv_uses_b_of_each_subnetwork():
    torch.manual_seed(2)
    for shared in (False, True):
        layer = StackedConv2d(3, 2, 4, 3, 1, 1, shared_input=shared).double()
        fa = AsymmetricStackedConv2d.from_stacked(layer)
        cin = 2 if shared else 6
        x = torch.randn(2, cin, 5, 5, dtype=F64, requires_grad=True)
        out = fa.fused(x)
        delta = _upstream(out)
        out.backward(delta)
        # by hand: every subnetwork's error through its own B~, summed over a shared input
        parts = [
            torch.nn.grad.conv2d_input(
                (2, 2, 5, 5), fa.weight_backward[g], delta[:, 4 * g : 4 * g + 4], padding=1
            )
            for g in range(3)
        ]
        expect = sum(parts) if shared else torch.cat(parts, 1)
        torch.testing.assert_close(x.grad, expect)


def test_stacked_alignment_losses_are_the_sum_of_the_subnetworks():
    torch.manual_seed(3)
    rule = make_rule("information_alignment")  # amp, null and decay
    aa = make_rule("activation_alignment")  # sparse and amp
    sa = make_rule("symmetric_alignment")  # decay and self
    for shared in (False, True):
        conv = AsymmetricStackedConv2d.from_stacked(
            StackedConv2d(3, 2, 4, 3, 2, 1, shared_input=shared).double()
        )
        sink = conv.alignment_sink = []
        x = torch.randn(2, 2 if shared else 6, 7, 7, dtype=F64)
        conv.fused(x)
        ((_, xf, rf),) = sink
        sink.clear()
        conv.loop([x] if shared else list(x.split(2, 1)))
        ((_, xl, rl),) = sink
        torch.testing.assert_close((xl, rl), (xf, rf))  # one layout whichever path ran
        for r in (rule, aa, sa):
            total = alignment_loss(r, conv, xf, rf)
            per = 0.0
            for g in range(3):
                one = AsymmetricConv2d(2, 4, 3, 2, 1, bias=False).double()
                with torch.no_grad():
                    one.weight.copy_(conv.weight[g])
                    one.weight_backward.copy_(conv.weight_backward[g])
                xg = x if shared else x[:, 2 * g : 2 * g + 2]
                per = per + alignment_loss(r, one, xg, rf[:, 4 * g : 4 * g + 4])
            torch.testing.assert_close(total, per)
    lin = AsymmetricStackedLinear.from_stacked(StackedLinear(3, 4, 2).double())
    x = torch.randn(5, 3, 4, dtype=F64)
    r = lin.fused(x).detach()
    per = 0.0
    for g in range(3):
        one = AsymmetricLinear(4, 2).double()
        with torch.no_grad():
            one.weight.copy_(lin.weight[g])
            one.weight_backward.copy_(lin.weight_backward[g])
        per = per + alignment_loss(rule, one, x[:, g], r[:, g])
    torch.testing.assert_close(alignment_loss(rule, lin, x, r), per)


def test_sign_symmetry_of_a_stacked_layer_scales_to_one_subnetworks_init():
    conv = convert_one(StackedConv2d(4, 3, 8, 3).double(), "ss")
    # He normal of one subnetwork's kernel: std sqrt(2 / (3 * 3 * 3))
    assert conv.weight_backward.abs().unique().tolist() == pytest.approx([(2 / 27) ** 0.5])
    lin = convert_one(StackedLinear(4, 12, 5).double(), "ss")
    assert lin.weight_backward.abs().unique().tolist() == pytest.approx([1 / 36**0.5])


def convert_one(layer, rule):
    model = nn.Sequential(layer)
    convert(model, rule)
    return model[0]


@pytest.mark.parametrize("kernel, stride, side", [(3, 1, 7), (2, 1, 6), (3, 2, 8), (4, 2, 7)])
def test_sham_same_conv_equals_autograd_and_fa_pads_as_tf(kernel, stride, side):
    torch.manual_seed(4)
    plain = SameConv2d(3, 5, kernel, stride).double()
    x = torch.randn(2, 3, side, side, dtype=F64, requires_grad=True)
    out = plain(x)
    ref = torch.autograd.grad((out * _upstream(out)).sum(), (x, plain.weight, plain.bias))
    sham = convert_one(plain, "sham")
    assert isinstance(sham, AsymmetricSameConv2d) and sham.weight is plain.weight
    out2 = sham(x)
    torch.testing.assert_close(out2, out, rtol=0, atol=0)
    ours = torch.autograd.grad((out2 * _upstream(out2)).sum(), (x, sham.weight, sham.bias))
    _assert_all_close(ours, ref)
    # FA: the transposed conv of the error with B~ over the padded input, cropped
    fa = AsymmetricSameConv2d.from_same_conv2d(plain)
    sink = fa.alignment_sink = []
    out3 = fa(x)
    ((_, xp, _),) = sink
    (gx,) = torch.autograd.grad((out3 * _upstream(out3)).sum(), (x,))
    full = torch.nn.grad.conv2d_input(xp.shape, fa.weight_backward, _upstream(out3), stride)
    top = (xp.shape[-1] - side) // 2
    torch.testing.assert_close(gx, full[..., top : top + side, top : top + side])
    # the recorded pair has the conv's geometry: the alignment primitives run on it
    fa.weight_backward.requires_grad_(True)
    alignment_loss(make_rule("ia"), fa, xp, out3.detach()).backward()
    assert fa.weight_backward.grad.shape == fa.weight.shape


def test_alignment_of_a_same_padded_asymmetric_conv2d_reads_the_padded_input():
    conv = AsymmetricConv2d(2, 3, 2, padding="same").double()
    sink = conv.alignment_sink = []
    x = torch.randn(2, 2, 5, 5, dtype=F64)
    out = conv(x)
    ((_, xp, r),) = sink
    assert xp.shape[-2:] == (6, 6)
    conv.weight_backward.requires_grad_(True)
    alignment_loss(make_rule("ia"), conv, xp, r).backward()
    assert conv.weight_backward.grad.shape == conv.weight.shape
    torch.testing.assert_close(r, out.detach())


def _pruned(layer):
    with torch.no_grad():
        layer.weight.normal_()
    layer.prune_(0.3)
    return layer


@pytest.mark.parametrize(
    "make",
    [
        lambda: LocalityLinear((2, 3), (3, 3), bias_modulation=True),
        lambda: LocalityConv2d((2, 2), (2, 3), kernel_size=3, stride=2, padding=1),
    ],
    ids=["linear", "conv"],
)
def test_locality_feedback_obeys_the_prior_and_sham_equals_autograd(make):
    torch.manual_seed(5)
    plain = _pruned(make().double())
    x = (
        torch.randn(3, 6, dtype=F64)
        if isinstance(plain, LocalityLinear)
        else torch.randn(3, 4, 6, 6, dtype=F64)
    )
    x.requires_grad_(True)
    out = plain(x)
    params = [p for n, p in plain.named_parameters()]
    ref = torch.autograd.grad((out * _upstream(out)).sum(), (x, *params))
    assert unconvertible_layers(nn.Sequential(plain)) == []
    sham = convert_one(plain, "sham")
    assert isinstance(sham, (AsymmetricLocalityLinear, AsymmetricLocalityConv2d))
    assert sham.prior is plain.prior and sham.weight is plain.weight
    out2 = sham(x)
    ours = torch.autograd.grad((out2 * _upstream(out2)).sum(), (x, *params))
    _assert_all_close(ours, ref)
    # FA: the error flows through B~ * P * M (B~ itself is unconstrained)
    fa = (type(sham)).from_locality(plain)
    out3 = fa(x)
    delta = _upstream(out3)
    (gx,) = torch.autograd.grad((out3 * delta).sum(), (x,))
    wb = fa.weight_backward * fa.prior * fa.mask
    if isinstance(plain, LocalityLinear):
        expect = delta @ wb
    else:
        expect = torch.nn.grad.conv2d_input(x.shape, wb, delta, 2, 1)
    torch.testing.assert_close(gx, expect)
    # symmetric alignment (decay = self) drives the effective B~ to the effective W
    rule = make_rule("sa", decay=1.0, self=1.0)
    fa.weight_backward.requires_grad_(True)
    opt = torch.optim.SGD([fa.weight_backward], lr=0.5 / float(fa.prior.max() ** 2))
    for _ in range(400):
        opt.zero_grad()
        alignment_loss(rule, fa, x, out3).backward()
        opt.step()
    torch.testing.assert_close(
        fa.effective_backward_weight(), fa.effective_weight(), rtol=1e-4, atol=1e-6
    )


RESET = {
    "levels": [{"subnets": 4, "outputs": 16, "subnet": "small", "channels": [4]}],
    "master": "small",
    "master_channels": [8],
}


def _reset_config(kind, execution="fused", epochs=2, **rule):
    return config_from_dict(
        {
            "name": f"reset-{kind}",
            "seed": 0,
            "data": {"dataset": "digits", "input_size": 8, "train_size": 200, "test_size": 100},
            "model": {**RESET, "execution": execution},
            "rule": {"kind": kind, **rule},
            "train": {"epochs": epochs, "batch_size": 50, "device": "cpu", "lr": 0.01},
        }
    )


def _rows(run_dir):
    return [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.parametrize("kind", ["feedback_alignment", "sham", "information_alignment"])
def test_a_reset_network_trains_with_a_rule(tmp_path, kind):
    summary = train(_reset_config(kind), tmp_path / "run", progress=False, analyse=False)
    rows = _rows(tmp_path / "run")
    angles = rows[-1]["rule_angle_deg"]
    # every stacked conv and head of the level and the master is converted
    assert {"levels.0.subnets.convs.0", "levels.0.subnets.fc", "master.convs.0", "master.fc"} <= (
        set(angles)
    )
    assert all(torch.isfinite(torch.tensor(r["train_loss"])) for r in rows)
    if kind == "sham":
        assert max(angles.values()) < 1e-3
    elif kind == "feedback_alignment":
        assert min(angles.values()) > 45
    assert summary["test_acc"] >= 0.0


def test_sham_reset_training_follows_backprop_on_both_paths(tmp_path):
    acc = {}
    for kind in ("backprop", "sham"):
        for execution in ("fused", "loop"):
            run = tmp_path / f"{kind}-{execution}"
            cfg = _reset_config(kind, execution, epochs=1)
            s = train(cfg, run, progress=False, analyse=False)
            acc[kind, execution] = (s["test_acc"], _rows(run)[-1]["train_loss"])
    for execution in ("fused", "loop"):
        back, sham = acc["backprop", execution], acc["sham", execution]
        assert sham[1] == pytest.approx(back[1], rel=1e-4)


def test_a_convrnn_with_cells_and_feedback_converts_and_trains_one_epoch(tmp_path):
    cfg = config_from_dict(
        {
            "name": "convrnn-fa",
            "data": {"dataset": "digits", "input_size": 32, "train_size": 40, "test_size": 20},
            "model": {
                "kind": "convrnn",
                "width": 0.0625,
                "time_steps": 7,
                "t_on": 7,
                "cells": {"conv5": "ugrnn"},
                "feedback": [["conv5", "conv4"]],
            },
            "rule": {"kind": "information_alignment"},
            "train": {"epochs": 1, "batch_size": 20, "device": "cpu"},
        }
    )
    summary = train(cfg, tmp_path / "run", progress=False, analyse=False)
    angles = _rows(tmp_path / "run")[-1]["rule_angle_deg"]
    # the TF-'same' convs (conv4 reads conv5's feedback at its input) and the cell's convs
    assert set(angles) == {
        *(f"nodes.conv{i}.conv" for i in range(1, 6)),
        "nodes.conv5.cell.W_g",
        "nodes.conv5.cell.W_c",
        "readout.conv",
    }
    assert summary["complete"]


def test_timing_the_execution_paths_records_no_alignment_pairs():
    from brainlike.models.parallel import choose_execution

    net = build_stacked("small", 2, 1, 3, channels=(4,))
    convert(net, "ia")
    sink = []
    for m in net.modules():
        if hasattr(m, "alignment_sink"):
            m.alignment_sink = sink
    choose_execution(net, 1, 8, batch_size=4, repeats=1, candidates=("loop", "fused"))
    assert sink == [] and net.fc.alignment_sink is sink
    net(torch.zeros(2, 1, 8, 8), execution="loop")
    assert len(sink) == 2  # the conv and the head
