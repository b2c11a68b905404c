"""Direct feedback alignment: the output's error reaches every layer's input as e @ D_l
(spec learning-rules.md §1; Nokland 2016). Gradients by hand, every model family of the
toolkit, refusals, checkpoints."""

import json
import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from brainlike.config import config_from_dict
from brainlike.models.parallel import build_stacked
from brainlike.models.reset import LevelSpec, ResetNetwork
from brainlike.rules import convert, make_rule
from brainlike.rules.direct import (
    DirectStackedConv2d,
    DirectStackedLinear,
    direct_layers,
    exact_backprop,
)
from brainlike.train.checkpoint import load_model_from_checkpoint
from brainlike.train.loop import train

F64 = torch.float64


def mlp(seed=0):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 6), nn.ReLU(), nn.Linear(6, 3)
    ).double()


def batch(n=4, seed=1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 5, generator=g, dtype=F64), torch.tensor([0, 1, 2, 1])[:n]


def grads(net, x, y):
    net.zero_grad(set_to_none=True)
    F.cross_entropy(net(x), y).backward()
    return {n: p.grad.clone() for n, p in net.named_parameters() if p.grad is not None}


def test_mlp_weight_gradients_are_the_output_error_sent_through_d_by_hand():
    net = mlp()
    assert make_rule("dfa").name == "direct_feedback_alignment"
    assert convert(net, "dfa", seed=3) == ["0", "2", "4"]
    x, y = batch()
    g = grads(net, x, y)
    # by hand: forward, e = dL/dy of the mean cross-entropy, hidden deltas (e @ D_l) * relu'(a)
    w1, b1, w2, b2, w3, b3 = (p.detach() for p in net.parameters())
    a1 = x @ w1.T + b1
    a2 = a1.relu() @ w2.T + b2
    out = a2.relu() @ w3.T + b3
    e = (out.softmax(1) - F.one_hot(y, 3)) / len(y)
    d2, d3 = net[2].feedback_direct, net[4].feedback_direct
    assert d2.shape == (3, 7) and d3.shape == (3, 6)
    assert net[0].feedback_direct is None  # its input is the data: nothing to send it
    delta2 = (e @ d3) * (a2 > 0)
    delta1 = (e @ d2) * (a1 > 0)
    expect = {
        "4.weight": e.T @ a2.relu(), "4.bias": e.sum(0),
        "2.weight": delta2.T @ a1.relu(), "2.bias": delta2.sum(0),
        "0.weight": delta1.T @ x, "0.bias": delta1.sum(0),
    }  # fmt: skip
    assert set(g) == set(expect)
    for k in expect:
        torch.testing.assert_close(g[k], expect[k], rtol=1e-12, atol=1e-15)
    # D_l: uniform on +-1/sqrt(numel of the input), drawn from (seed, layer index)
    assert float(d2.abs().max()) <= 1 / math.sqrt(7) and float(d3.abs().max()) <= 1 / math.sqrt(6)
    again = mlp()
    convert(again, "dfa", seed=3)
    grads(again, x, y)
    assert torch.equal(again[2].feedback_direct, d2)
    other = mlp()
    convert(other, "dfa", seed=4)
    grads(other, x, y)
    assert not torch.equal(other[2].feedback_direct, d2)


def test_input_gradients_are_e_times_d_at_every_layer_including_the_top():
    net = mlp()
    convert(net, "dfa")
    seen = {}
    net[3].register_forward_hook(lambda m, a, out: seen.setdefault("h2", out))  # top's input
    x, y = batch()
    x.requires_grad_(True)  # now the first layer's input takes its error too
    out = net(x)
    out.retain_grad()
    seen["h2"].retain_grad()
    F.cross_entropy(out, y).backward()
    e = out.grad
    torch.testing.assert_close(seen["h2"].grad, e @ net[4].feedback_direct, rtol=1e-12, atol=0)
    torch.testing.assert_close(x.grad, e @ net[0].feedback_direct, rtol=1e-12, atol=0)


def test_conv_net_by_hand_and_eval_mode_and_no_grad():
    torch.manual_seed(2)
    net = nn.Sequential(
        nn.Conv2d(2, 3, 3, stride=2, padding=1),
        nn.ReLU(),
        nn.Conv2d(3, 4, 3, stride=2, padding=1, dilation=1),
        nn.ReLU(),
        nn.Flatten(),
        nn.Linear(4 * 2 * 2, 5),
    ).double()
    convert(net, "dfa")
    x = torch.randn(3, 2, 7, 7, dtype=F64)
    y = torch.tensor([0, 4, 2])
    g = grads(net, x, y)
    w1, b1 = net[0].weight.detach(), net[0].bias.detach()
    a1 = F.conv2d(x, w1, b1, stride=2, padding=1)  # (3, 3, 4, 4)
    out = net(x).detach()
    e = (out.softmax(1) - F.one_hot(y, 5)) / 3
    d = net[2].feedback_direct
    assert d.shape == (5, 3 * 4 * 4)
    delta1 = (e @ d).reshape(a1.shape) * (a1 > 0)
    expect = torch.nn.grad.conv2d_weight(x, w1.shape, delta1, stride=2, padding=1)
    torch.testing.assert_close(g["0.weight"], expect, rtol=1e-10, atol=1e-14)
    torch.testing.assert_close(g["0.bias"], delta1.sum((0, 2, 3)), rtol=1e-10, atol=1e-14)
    # evaluation mode routes the same way; without gradients nothing happens
    net.eval()
    for k, v in grads(net, x, y).items():
        torch.testing.assert_close(v, g[k], rtol=0, atol=0)
    with torch.no_grad():
        torch.testing.assert_close(net(x), out, rtol=0, atol=0)


def test_exact_backprop_switches_dfa_off_and_back_on():
    ref, net = mlp(), mlp()
    convert(net, "dfa")
    x, y = batch()
    dfa = grads(net, x, y)
    with exact_backprop(net):
        bp = grads(net, x, y)
    a = grads(ref, x, y)
    for k in a:
        torch.testing.assert_close(bp[k], a[k], rtol=1e-12, atol=0)
    assert not torch.allclose(dfa["0.weight"], a["0.weight"])
    torch.testing.assert_close(dfa["4.weight"], a["4.weight"])  # the top layer's is exact
    again = grads(net, x, y)
    for k in dfa:
        torch.testing.assert_close(again[k], dfa[k], rtol=0, atol=0)


def test_checkpoint_round_trip_gives_a_fresh_model_the_same_matrices():
    net = mlp()
    convert(net, "dfa", seed=1)
    x, y = batch()
    g = grads(net, x, y)
    state = net.state_dict()
    assert {"2.feedback_direct", "4.feedback_direct"} <= set(state)
    fresh = mlp(seed=5)  # other weights, another seed: the checkpoint decides
    convert(fresh, "dfa", seed=9)
    assert "2.feedback_direct" not in fresh.state_dict()  # drawn at the first pass
    fresh.load_state_dict(state)
    for k, v in grads(fresh, x, y).items():
        torch.testing.assert_close(v, g[k], rtol=0, atol=0)
    assert convert(fresh, "dfa") == ["0", "2", "4"]  # converting again changes nothing


def _reset(execution):
    torch.manual_seed(0)
    spec = LevelSpec(side=2, tile=2, subnet="small", subnet_kwargs={"channels": (4,)})
    return ResetNetwork(
        1, 5, [spec, spec], "small", {"channels": (4,)}, input_size=8, execution=execution
    )  # float32: 'auto' times the paths on float32 inputs


def test_a_reset_network_routes_the_same_on_loop_fused_and_auto_and_learns():
    x = torch.randn(6, 1, 8, 8, generator=torch.Generator().manual_seed(0))
    y = torch.arange(6) % 5
    out = {}
    for execution in ("loop", "fused", "auto"):
        net = _reset(execution)
        names = convert(net, "dfa")
        assert {"levels.0.subnets.convs.0", "levels.1.subnets.fc", "master.fc"} <= set(names)
        assert isinstance(net.levels[1].subnets.convs[0], DirectStackedConv2d)
        assert isinstance(net.master.fc, DirectStackedLinear)
        net.eval()  # no dropout: the paths compute the same
        out[execution] = grads(net, x, y)
    for k, v in out["fused"].items():
        assert torch.isfinite(v).all() and v.abs().sum() > 0, k
        torch.testing.assert_close(out["loop"][k], v, rtol=1e-4, atol=1e-7)
        torch.testing.assert_close(out["auto"][k], v, rtol=1e-4, atol=1e-7)
    # the stacked layers' D maps the output to their fused input: (n_out, G * C * H * W)
    net = _reset("fused")
    convert(net, "dfa")
    net.eval()
    opt = torch.optim.SGD(net.parameters(), lr=0.5)
    losses = []
    for _ in range(15):
        opt.zero_grad()
        loss = F.cross_entropy(net(x), y)
        loss.backward()
        opt.step()
        losses.append(loss.item())
    assert net.levels[1].subnets.convs[0].feedback_direct.shape == (5, 1 * 4 * 4)  # shared grid
    assert net.levels[0].subnets.fc.feedback_direct.shape == (5, 4 * 4)
    # measured: 1.736 -> 1.541 (backprop on the same toy: 1.736 -> 1.541 too)
    assert losses[-1] < 0.9 * losses[0], losses


def test_a_stacked_net_loop_and_fused_share_d_and_match_by_hand():
    torch.manual_seed(3)
    net = build_stacked("small", 3, 2, 4, channels=(4,)).double()
    convert(net, "dfa")
    x = torch.randn(5, 2, 6, 6, dtype=F64)
    res = {}
    for execution in ("loop", "fused"):
        net.zero_grad(set_to_none=True)
        out = net(x, execution=execution)  # (B, G, 4) is the model output here
        (out * torch.linspace(-1, 1, out.numel(), dtype=F64).reshape(out.shape)).sum().backward()
        res[execution] = [p.grad.clone() for p in net.parameters()]
    for a, b in zip(res["loop"], res["fused"], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-13)
    # the head's input (B, G, C) gets e @ D, e flattened to (B, G * 4)
    assert net.fc.feedback_direct.shape == (3 * 4, 3 * 4)


def _rows(run_dir):
    return [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]


def _lenet(kind="dfa", probe=False, **train_opts):
    return config_from_dict(
        {
            "name": "lenet-dfa",
            "seed": 2,
            "data": {"dataset": "digits", "input_size": 28, "train_size": 256, "test_size": 64},
            "model": {"kind": "lenet"},  # with its locality-prior layer
            "rule": {"kind": kind, "gradient_angle": probe},
            "train": {"optimizer": "sgd", "lr": 0.05, "momentum": 0.5, "batch_size": 64,
                      "epochs": 2, "device": "cpu", **train_opts},
        }
    )  # fmt: skip


def test_locality_lenet_trains_probes_against_backprop_and_loads_back(tmp_path):
    summary = train(_lenet(probe=True), tmp_path / "dfa", progress=False, analyse=False)
    rows = _rows(tmp_path / "dfa")
    assert summary["complete"]
    assert rows[-1]["train_loss"] < rows[0]["train_loss"]
    # no B~ of W's shape: no angle or norm ratio to W; the update angle is recorded
    assert "rule_angle_deg" not in rows[-1] and "rule_norm_ratio" not in rows[-1]
    angles = rows[-1]["rule_update_angle_deg"]
    assert set(angles) == {"features.0", "features.3", "fc1", "head.lp", "out"}
    assert angles["out"] < 1e-3  # the top layer's update is backprop's
    assert min(v for k, v in angles.items() if k != "out") > 20
    # probing leaves no trace: the same run without it ends with the same weights
    train(_lenet(), tmp_path / "plain", progress=False, analyse=False)
    a = torch.load(tmp_path / "dfa" / "checkpoints" / "last.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "plain" / "checkpoints" / "last.pt", weights_only=False)["model"]
    assert "head.lp.feedback_direct" in a
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)
    model, _ = load_model_from_checkpoint(tmp_path / "dfa" / "checkpoints" / "last.pt")
    assert [n for n, _ in direct_layers(model)] == list(angles)
    torch.testing.assert_close(model.head.lp.feedback_direct, a["head.lp.feedback_direct"])


def test_a_recurrent_model_is_refused_at_its_first_forward_pass(tmp_path):
    cfg = config_from_dict(
        {
            "data": {"dataset": "digits", "input_size": 32, "train_size": 20, "test_size": 20},
            "model": {"kind": "convrnn", "width": 0.0625, "time_steps": 7, "t_on": 7},
            "rule": {"kind": "dfa"},
            "train": {"epochs": 1, "batch_size": 20, "device": "cpu"},
        }
    )
    with pytest.raises(
        ValueError,
        match=r"^direct_feedback_alignment needs every layer called once per forward pass; "
        r"nodes\.conv1\.conv is called 7 times \(a recurrent model\): use feedback_alignment$",
    ):
        train(cfg, tmp_path / "run", progress=False, analyse=False)


class _Two(nn.Module):
    def __init__(self):
        super().__init__()
        self.a, self.b = nn.Linear(3, 4), nn.Linear(4, 2)

    def forward(self, x):
        h = self.a(x).relu()
        return self.b(h), h


def test_bad_uses_are_refused_with_one_clear_line():
    net = _Two()
    convert(net, "dfa")
    with pytest.raises(ValueError, match="needs that output as one tensor .* returns tuple"):
        net(torch.randn(2, 3))
    with torch.no_grad():  # without gradients DFA does nothing
        net(torch.randn(2, 3))
    # a loss on a hidden activation alone does not reach the output
    seq = mlp()
    convert(seq, "dfa")
    hidden = {}
    seq[1].register_forward_hook(lambda m, a, out: hidden.setdefault("h", out))
    x, y = batch()
    seq(x)
    with pytest.raises(RuntimeError, match="layer 0 gets a gradient from a loss that does not"):
        hidden["h"].square().sum().backward()
    # the matrices are fixed: another input size is refused, naming both
    conv = nn.Sequential(
        nn.Conv2d(1, 2, 3), nn.ReLU(), nn.Conv2d(2, 2, 3), nn.AdaptiveAvgPool2d(1), nn.Flatten()
    )
    convert(conv, "dfa")
    conv(torch.randn(2, 1, 5, 5)).sum().backward()
    with pytest.raises(ValueError, match="layer 2 reads 32 numbers per sample .* for 18 and 2"):
        conv(torch.randn(2, 1, 6, 6))
    # what convert refuses for every rule it refuses for DFA, and rules do not mix
    with pytest.raises(ValueError, match=r"cannot convert 0 \(Conv1d\)"):
        convert(nn.Sequential(nn.Conv1d(1, 2, 3)), "dfa")
    with pytest.raises(ValueError, match="set up for direct_feedback_alignment; rule feedback_al"):
        convert(seq, "fa")
    fa = mlp()
    convert(fa, "fa")
    with pytest.raises(ValueError, match="has backward weights"):
        convert(fa, "dfa")
