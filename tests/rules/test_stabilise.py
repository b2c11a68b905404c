"""The stabilising operations of spec learning-rules.md §4: each by hand on small tensors, the
flagged alignment loss by hand, its gradient against autograd of a written-out loss, and
the flags never touch the task's forward pass or W's gradient."""

import math

import pytest
import torch
from torch import nn

from brainlike.config import ConfigError, config_from_dict
from brainlike.rules import AsymmetricConv2d, AsymmetricLinear, convert
from brainlike.rules.primitives import gradients, loss
from brainlike.rules.stabilise import (
    FLAGS,
    LOSS_FLAGS,
    alignment_pair,
    batch_centre,
    draw_noise,
    feature_centre,
    feature_l2_normalise,
    stabilised_loss,
)
from brainlike.train.rule_training import RuleTraining


def test_normalisations_by_hand():
    t = torch.tensor([[1.0, 2.0, 3.0], [2.0, 2.0, 8.0]])
    # batch-wise: every feature's mean over the batch removed
    torch.testing.assert_close(batch_centre(t), torch.tensor([[-0.5, 0.0, -2.5], [0.5, 0.0, 2.5]]))
    # feature-wise: every sample's mean over its features removed (means 2 and 4)
    torch.testing.assert_close(
        feature_centre(t), torch.tensor([[-1.0, 0.0, 1.0], [-2.0, -2.0, 4.0]])
    )
    # centred, then norm 1: [-1, 0, 1] / sqrt(2), [-2, -2, 4] / sqrt(24)
    expected = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, -2.0, 4.0]])
    expected = expected / torch.tensor([[math.sqrt(2.0)], [math.sqrt(24.0)]])
    torch.testing.assert_close(feature_l2_normalise(t), expected)


def test_feature_wise_runs_over_all_of_a_samples_features_and_batch_wise_per_feature():
    g = torch.Generator().manual_seed(0)
    t = torch.randn(4, 3, 5, 5, generator=g, dtype=torch.float64) * 3 + 2
    flat = feature_centre(t).flatten(1)
    torch.testing.assert_close(flat.mean(1), torch.zeros(4, dtype=torch.float64))
    normed = feature_l2_normalise(t).flatten(1)
    torch.testing.assert_close(normed.mean(1), torch.zeros(4, dtype=torch.float64))
    torch.testing.assert_close(normed.norm(dim=1), torch.ones(4, dtype=torch.float64))
    centred = batch_centre(t)
    torch.testing.assert_close(centred.mean(0), torch.zeros(3, 5, 5, dtype=torch.float64))
    assert centred.shape == t.shape


def _tiny_linear():
    layer = AsymmetricLinear(2, 2).double()
    with torch.no_grad():
        layer.weight.copy_(torch.eye(2))
        layer.weight_backward.copy_(torch.tensor([[1.0, 1.0], [0.0, 2.0]]))
        layer.bias.copy_(torch.tensor([0.5, -1.0]))
    x = torch.tensor([[1.0, 2.0], [3.0, 0.0]], dtype=torch.float64)
    return layer, x, layer(x).detach()


def test_flagged_loss_by_hand():
    layer, x, r = _tiny_linear()
    # the recorded pair already holds the bias: fo_bias keeps it, no flag removes it
    x1, fo = alignment_pair(layer, x, r, ("fo_bias",))
    assert x1 is x and fo is r
    _, fo_plain = alignment_pair(layer, x, r, ())
    torch.testing.assert_close(fo_plain, x @ layer.weight.T.detach())
    # FO = W x + b = [1.5, 1], [3.5, -1]; ReLU: [1.5, 1], [3.5, 0]
    # BO = B^T x + b = [3, 4] + b, [3, 0] + b = [3.5, 3], [3.5, -1]; FWL2N: [1, -1] / sqrt 2
    # amp = -mean <FO, BO> = -((1.5 - 1) + (3.5 - 0)) / sqrt(2) / 2 = -sqrt(2)
    flags = ("fo_relu", "bo_bias", "bo_fwl2n")
    assert float(stabilised_loss(layer, x, fo, {"amp": 1.0}, flags)) == pytest.approx(-math.sqrt(2))
    # null: B FO after the ReLU = FO @ B~ = [1.5, 3.5], [3.5, 3.5]; FO BWMC centres it over
    # the batch: [-1, 0], [1, 0]; 1/2 mean ||.||^2 = 0.5
    assert float(
        stabilised_loss(layer, x, fo, {"null": 1.0}, ("fo_relu", "fo_bwmc"))
    ) == pytest.approx(0.5)
    # sparse with BI BWMC: x centred over the batch = [-1, 1], [1, -1]; B^T x = [0, 2], [0, -2]
    assert float(stabilised_loss(layer, x, fo, {"sparse": 1.0}, ("bi_bwmc",))) == pytest.approx(
        0.5 * (4 + 4) / 2
    )


@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_without_flags_the_stabilised_loss_is_the_plain_sum(kind):
    torch.manual_seed(3)
    if kind == "linear":
        layer, x = AsymmetricLinear(6, 4).double(), torch.randn(5, 6, dtype=torch.float64)
    else:
        layer = AsymmetricConv2d(3, 4, 3, stride=2, padding=1).double()
        x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    r = layer(x).detach()
    coefficients = {"decay": 0.3, "amp": 1.1, "null": 0.7, "sparse": 0.5, "self": 0.9}
    torch.testing.assert_close(
        stabilised_loss(layer, x, r, coefficients, ()), loss(layer, x, r, coefficients)
    )


def test_flagged_gradient_is_autograd_of_the_written_out_loss():
    # every flag of the loss at once, on a strided convolution, against the operations
    # written out here with plain torch
    torch.manual_seed(4)
    conv = AsymmetricConv2d(3, 4, 3, stride=2, padding=1).double()
    x = torch.randn(5, 3, 8, 8, dtype=torch.float64)
    fo = conv(x).detach()
    coefficients = {"amp": 1.3, "null": 0.6, "sparse": 0.4, "decay": 0.01}
    got = gradients(conv, x, fo, coefficients, LOSS_FLAGS)

    def fw_norm(t):  # centre and L2-normalise each sample
        f = t.flatten(1)
        f = f - f.mean(1, keepdim=True)
        return (f / f.norm(dim=1, keepdim=True)).reshape(t.shape)

    def fo_ops(t):  # FWMC, FWL2N, then BWMC
        f = t.flatten(1)
        t = fw_norm((f - f.mean(1, keepdim=True)).reshape(t.shape))
        return t - t.mean(0, keepdim=True)

    wb = conv.weight_backward.detach().clone().requires_grad_(True)
    b = conv.bias.detach().view(1, -1, 1, 1)
    f = torch.relu(fo)
    xb = x - x.mean(0, keepdim=True)
    bo = torch.relu(torch.nn.functional.conv2d(xb, wb, None, 2, 1) + b)
    bo = fw_norm(bo.flatten(1).sub(bo.flatten(1).mean(1, keepdim=True)).reshape(bo.shape))
    back = torch.nn.grad.conv2d_input(x.shape, wb, f, 2, 1)
    n = x.shape[0] * fo.shape[2] * fo.shape[3]  # instances: every output position of the batch
    total = (
        1.3 * -(fo_ops(f) * bo).sum() / n
        + 0.6 * 0.5 * fo_ops(back).square().sum() / n
        + 0.4 * 0.5 * bo.square().sum() / n
        + 0.01 * 0.5 * wb.square().sum()
    )
    expected = torch.autograd.grad(total, wb)[0]
    torch.testing.assert_close(got, expected, rtol=1e-9, atol=1e-12)


def test_input_noise_replaces_the_input_and_the_forward_output_follows():
    layer, x, r = _tiny_linear()
    torch.manual_seed(0)
    xn, fo = alignment_pair(layer, x, r, (), ("gaussian", 0.5))
    torch.manual_seed(0)
    torch.testing.assert_close(xn, torch.randn_like(x) * 0.5)  # weight mirror's draw
    torch.testing.assert_close(fo, xn @ layer.weight.detach().T)  # W x, no bias
    torch.manual_seed(0)
    _, fo_b = alignment_pair(layer, x, r, ("fo_bias",), ("gaussian", 0.5))
    torch.testing.assert_close(fo_b, fo + layer.bias.detach())  # W x + b on the noise
    _, fo_b = alignment_pair(layer, x, r, ("fo_bias", "bi_fwmc"))
    centred = x - x.mean(1, keepdim=True)
    torch.testing.assert_close(fo_b, centred @ layer.weight.detach().T + layer.bias.detach())
    # uniform noise of std sigma: variance sigma^2 within 5 standard errors, bounded by
    # sqrt(3) sigma (the sample variance of n uniforms has s.e. sigma^2 sqrt(0.8 / n))
    g = torch.Generator().manual_seed(1)
    n, sigma = 200_000, 0.5
    u = draw_noise(torch.empty(n, dtype=torch.float64), "uniform", sigma, g)
    assert abs(float(u.var()) - sigma**2) < 5 * sigma**2 * math.sqrt(0.8 / n)
    assert float(u.abs().max()) <= math.sqrt(3) * sigma


def _rule_cfg(**rule):
    return config_from_dict(
        {
            "seed": 0,
            "data": {"dataset": "digits", "input_size": 8},
            "model": {"kind": "lenet", "locality": {"enabled": False}},
            "rule": {"kind": "information_alignment", **rule},
            "train": {"epochs": 3, "device": "cpu"},
        }
    )


def test_flags_change_neither_the_task_output_nor_the_forward_gradient():
    def net():
        torch.manual_seed(0)
        return nn.Sequential(
            nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 5)
        )

    x, y = torch.randn(8, 1, 6, 6), torch.arange(8) % 5
    out, grads = {}, {}
    every = list(FLAGS)
    for name, rule in [("plain", {}), ("every flag", {"stabilise": every})]:
        model = net()
        rt = RuleTraining(_rule_cfg(input_noise={"std": 0.8}, **rule), model)
        logits = model(x)
        nn.functional.cross_entropy(logits, y).backward()
        rt.after_backward()
        out[name] = logits.detach()
        grads[name] = {n: p.grad.clone() for n, p in model.named_parameters()}
    torch.testing.assert_close(out["plain"], out["every flag"], rtol=0, atol=0)
    for n, g in grads["plain"].items():
        if n.endswith("weight_backward"):
            assert not torch.allclose(g, grads["every flag"][n])  # the alignment differs
        else:
            torch.testing.assert_close(g, grads["every flag"][n], rtol=0, atol=0)


def test_convert_keeps_the_flags_off_the_model():
    # a flagged rule converts exactly as the plain one: flags live in the alignment only
    a = nn.Sequential(nn.Linear(3, 2))
    assert convert(a, _rule_cfg(stabilise=["bo_fwl2n"]).rule.build()) == ["0"]


@pytest.mark.parametrize(
    "rule, message",
    [
        ({"stabilise": ["bo_l2"]}, r"unknown stabilising flag 'bo_l2'; flags: fo_bias, bo_bias"),
        ({"stabilise": ["fo_relu", "fo_relu"]}, "fo_relu is listed twice"),
        ({"kind": "fa", "stabilise": ["bo_fwl2n"]}, "reads none"),
        (
            {"kind": "symmetric_alignment", "input_noise": {"std": 1.0}},
            "input noise shape the data",
        ),
        (
            {"kind": "aa", "coefficients": {"amp": 0}, "stabilise": ["fo_relu"]},
            "fo_relu acts on the forward path output, which rule activation_alignment",
        ),
        ({"noise_std": 0.5}, r"for information_alignment write rule.input_noise: \{std: 0.5\}"),
        ({"kind": "wm", "noise_std": 0.5, "input_noise": {"std": 1}}, "keep input_noise"),
        ({"kind": "backprop", "delay_epochs": 1}, "delay_epochs schedules the alignment"),
        ({"kind": "kp", "alternate": 1}, "rule kolen_pollack has no alignment loss"),
        ({"kind": "kp", "align_optimizer": "sgd"}, "align_optimizer schedules"),
        ({"kind": "fa", "noisy_updates": {"std": 0.1}}, "use target: all"),
        ({"delay_epochs": 3}, "delay_epochs 3 leaves the task loss no epoch of train.epochs 3"),
    ],
)
def test_contradictions_are_refused_in_one_line(rule, message):
    with pytest.raises(ConfigError, match=message) as err:
        _rule_cfg(**rule)
    assert "1 problem(s)" in str(err.value)  # one line names it


def test_accepted_settings_resolve_as_documented():
    cfg = _rule_cfg()
    rule = cfg.rule.build()
    assert cfg.rule.flags(rule) == ("fo_bias",) and cfg.rule.noise(rule) is None
    wm = _rule_cfg(kind="wm", noise_std=0.5).rule
    assert wm.flags(wm.build()) == () and wm.noise(wm.build()) == ("gaussian", 0.5)
    backprop = _rule_cfg(kind="backprop", noisy_updates={"std": 0.1, "target": "all"}).rule
    assert backprop.noisy_updates.distribution == "gaussian"
