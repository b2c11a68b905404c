"""Locality prior, its layers and the LeNet/AlexNet models, against hand-computed cases."""

import json
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from brainlike.models import create_model
from brainlike.models.locality import (
    AlexNetLP,
    LeNetLP,
    LocalityConv2d,
    LocalityLinear,
    LocalityRNN,
    locality_prior,
    replace_linear_with_locality,
    sheet_positions,
)
from brainlike.models.sheet import SheetOutput

S2 = math.sqrt(2.0)

# --------------------------------------------------------------------------------------------
# positions and prior
# --------------------------------------------------------------------------------------------


def test_sheet_positions_equal_grid_are_integers():
    pos = sheet_positions((2, 3))
    np.testing.assert_array_equal(pos, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])


def test_sheet_positions_small_grid_on_larger_extent():
    # a 2x2 grid spread over a 4x4 sheet: (i + 0.5) * 4 / 2 - 0.5 = 0.5, 2.5
    np.testing.assert_allclose(
        sheet_positions((2, 2), 4), [[0.5, 0.5], [0.5, 2.5], [2.5, 0.5], [2.5, 2.5]]
    )


# centre (index 4) to corner (0): sqrt(2); centre to edge (1): 1; corner to corner (0, 8): 2 sqrt 2
@pytest.mark.parametrize(
    "decay, centre_corner, centre_edge, corner_corner",
    [
        ("linear", 1 / (S2 + 1), 1 / 2, 1 / (2 * S2 + 1)),
        ("sqrt", 1 / math.sqrt(S2 + 1), 1 / S2, 1 / math.sqrt(2 * S2 + 1)),
        ("square", 3 - 2 * S2, 1 / 4, 1 / (2 * S2 + 1) ** 2),
        ("gaussian", math.exp(-1), math.exp(-0.5), math.exp(-4)),
        ("exponential", math.exp(-S2), math.exp(-1), math.exp(-2 * S2)),
    ],
)
def test_prior_3x3_hand_values(decay, centre_corner, centre_edge, corner_corner):
    p = locality_prior((3, 3), (3, 3), decay=decay)
    assert p.shape == (9, 9) and p.dtype == torch.float32
    assert p[4, 0].item() == pytest.approx(centre_corner, rel=1e-6)
    assert p[4, 1].item() == pytest.approx(centre_edge, rel=1e-6)
    assert p[0, 8].item() == pytest.approx(corner_corner, rel=1e-6)
    assert p[4, 4].item() == pytest.approx(1.0)
    torch.testing.assert_close(p, p.T)


def test_prior_metric_and_scale():
    # cityblock: centre to corner is 2 steps
    assert locality_prior((3, 3), (3, 3), metric="cityblock")[4, 0].item() == pytest.approx(1 / 3)
    # gaussian with sigma 2: exp(-2 / (2 * 4))
    g = locality_prior((3, 3), (3, 3), decay="gaussian", scale=2.0)
    assert g[4, 0].item() == pytest.approx(math.exp(-0.25), rel=1e-6)
    # linear with scale 2: 1 / (sqrt(2) / 2 + 1)
    lin = locality_prior((3, 3), (3, 3), scale=2.0)
    assert lin[4, 0].item() == pytest.approx(1 / (S2 / 2 + 1), rel=1e-6)


def test_prior_rows_normalisation():
    raw = locality_prior((3, 3), (3, 3))
    rows = locality_prior((3, 3), (3, 3), normalize="rows")
    torch.testing.assert_close(rows.sum(1), torch.full((9,), 9.0))
    torch.testing.assert_close(rows / raw, (rows / raw)[:, :1].expand(9, 9))  # per-row factor


def test_prior_unequal_grids():
    p = locality_prior((4, 4), (2, 2))
    assert p.shape == (4, 16)
    # out unit 0 sits at (0.5, 0.5), in unit 0 at (0, 0): d = sqrt(0.5)
    assert p[0, 0].item() == pytest.approx(1 / (math.sqrt(0.5) + 1), rel=1e-6)
    # the four in units around out unit 0 are equidistant
    torch.testing.assert_close(p[0, [0, 1, 4, 5]], p[0, [0]].expand(4))


def test_prior_rejects_bad_arguments():
    with pytest.raises(ValueError, match="decay must be one of"):
        locality_prior((3, 3), (3, 3), decay="cubic")
    with pytest.raises(ValueError, match="metric 'nope'"):
        locality_prior((3, 3), (3, 3), metric="nope")
    with pytest.raises(ValueError, match="scale"):
        locality_prior((3, 3), (3, 3), scale=0)
    with pytest.raises(ValueError, match="normalize"):
        locality_prior((3, 3), (3, 3), normalize="cols")
    with pytest.raises(ValueError, match="square grid"):
        locality_prior(10, (3, 3))


# --------------------------------------------------------------------------------------------
# LocalityLinear
# --------------------------------------------------------------------------------------------


def test_linear_forward_is_weight_form():
    torch.manual_seed(0)
    layer = LocalityLinear((3, 3), (2, 2))
    x = torch.randn(5, 9)
    expected = x @ (layer.weight * layer.prior).T + layer.bias
    torch.testing.assert_close(layer(x), expected)
    assert layer.in_features == 9 and layer.out_features == 4
    assert layer.in_shape == (3, 3) and layer.out_shape == (2, 2)
    assert layer.sheet["in"].shape == (9, 2) and layer.sheet["out"].shape == (4, 2)
    np.testing.assert_allclose(layer.sheet["out"][0], [0.25, 0.25])  # 0.5 * 3 / 2 - 0.5


def test_linear_gradient_matches_explicit_product():
    torch.manual_seed(1)
    layer = LocalityLinear((3, 3), (3, 3), decay="sqrt")
    x = torch.randn(4, 9)
    layer(x).pow(2).sum().backward()
    w = layer.weight.detach().clone().requires_grad_(True)
    (x @ (w * layer.prior).T + layer.bias.detach()).pow(2).sum().backward()
    torch.testing.assert_close(layer.weight.grad, w.grad)
    # and dL/dW = P * dL/dW_eff
    w_eff = (layer.weight.detach() * layer.prior).requires_grad_(True)
    (x @ w_eff.T + layer.bias.detach()).pow(2).sum().backward()
    torch.testing.assert_close(layer.weight.grad, layer.prior * w_eff.grad)


def test_linear_gradient_hand_case():
    # grid 1x2 -> 1x2: P = [[1, 1/2], [1/2, 1]]; L = sum(y) so dL/dW_ij = P_ij x_j
    layer = LocalityLinear((1, 2), (1, 2))
    torch.testing.assert_close(layer.prior, torch.tensor([[1.0, 0.5], [0.5, 1.0]]))
    layer(torch.tensor([[3.0, 5.0]])).sum().backward()
    torch.testing.assert_close(layer.weight.grad, torch.tensor([[3.0, 2.5], [1.5, 5.0]]))
    torch.testing.assert_close(layer.bias.grad, torch.tensor([1.0, 1.0]))


def test_linear_bias_options():
    no_bias = LocalityLinear((3, 3), (3, 3), bias=False)
    assert no_bias.bias is None
    assert torch.all(no_bias(torch.zeros(2, 9)) == 0)
    mod = LocalityLinear((3, 3), (3, 3), bias_modulation=True)
    with torch.no_grad():
        mod.bias.fill_(1.0)
    y = mod(torch.zeros(1, 9))[0]
    # centre row of P: itself 1, four edges 1/2, four corners sqrt(2) - 1
    assert y[4].item() == pytest.approx((1 + 4 * 0.5 + 4 * (S2 - 1)) / 9, rel=1e-6)
    torch.testing.assert_close(y, mod.prior.mean(1))
    plain = LocalityLinear((3, 3), (3, 3))
    with torch.no_grad():
        plain.bias.fill_(1.0)
    torch.testing.assert_close(plain(torch.zeros(1, 9))[0], torch.ones(9))


def test_prune_fraction_mask_and_persistence():
    torch.manual_seed(2)
    layer = LocalityLinear((2, 5), (2, 5))  # 100 connections
    opt = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-2)
    x = torch.randn(8, 10)
    layer(x).pow(2).sum().backward()
    opt.step()  # momentum now holds history at every weight
    before = layer.effective_weight().detach().abs()

    assert layer.prune_(0.3) == 30
    cut = layer.mask == 0
    assert int(cut.sum()) == 30
    assert before[cut].max() <= before[~cut].min()  # the 30 weakest |W * P| went
    assert torch.all(layer.effective_weight()[cut] == 0)
    assert torch.all(layer.weight[cut] == 0)

    assert layer.prune_(0.3) == 0  # fraction is the total cut, not of what is left
    assert layer.prune_(0.5) == 20
    cut = layer.mask == 0
    for _ in range(3):
        opt.zero_grad()
        layer(x).pow(2).sum().backward()
        assert torch.all(layer.weight.grad[cut] == 0)
        opt.step()
    assert torch.all(layer.effective_weight()[cut] == 0)

    fresh = LocalityLinear((2, 5), (2, 5))
    fresh.load_state_dict(layer.state_dict())
    torch.testing.assert_close(fresh(x), layer(x))
    with pytest.raises(ValueError, match="fraction"):
        layer.prune_(1.5)


def test_replace_linear_with_locality_keeps_weights():
    torch.manual_seed(3)
    net = nn.Sequential(nn.Linear(4, 9), nn.ReLU(), nn.Linear(9, 4))
    old_w, old_b = net[2].weight.detach().clone(), net[2].bias.detach().clone()
    layer = replace_linear_with_locality(net, "2", (3, 3), (2, 2), decay="square")
    assert net[2] is layer and isinstance(layer, LocalityLinear) and layer.decay == "square"
    torch.testing.assert_close(layer.weight, old_w)
    h = torch.relu(net[0](torch.randn(3, 4)))
    torch.testing.assert_close(net[2](h), F.linear(h, old_w * layer.prior, old_b))
    with pytest.raises(ValueError, match="hold 4 -> 4 units"):
        replace_linear_with_locality(net, "0", (2, 2), (2, 2))
    with pytest.raises(ValueError, match="not an nn.Linear"):
        replace_linear_with_locality(net, "1", (3, 3), (3, 3))


# --------------------------------------------------------------------------------------------
# LocalityConv2d
# --------------------------------------------------------------------------------------------


def test_conv_1x1_is_linear_at_every_pixel():
    torch.manual_seed(4)
    conv = LocalityConv2d((2, 2), (3, 3))
    lin = LocalityLinear((2, 2), (3, 3))
    with torch.no_grad():
        lin.weight.copy_(conv.weight[:, :, 0, 0])
        lin.bias.copy_(conv.bias)
    x = torch.randn(2, 4, 5, 6)
    expected = lin(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
    torch.testing.assert_close(conv(x), expected)
    assert set(conv.sheet) == {"in", "out"} and conv.sheet["out"].shape == (9, 2)


def test_conv_prior_broadcast_over_kernel():
    torch.manual_seed(5)
    conv = LocalityConv2d((2, 2), (2, 2), kernel_size=3, padding=1, decay="gaussian")
    p = locality_prior((2, 2), (2, 2), decay="gaussian")
    torch.testing.assert_close(conv.effective_weight(), conv.weight * p[:, :, None, None])
    x = torch.randn(1, 4, 6, 6)
    expected = F.conv2d(x, conv.weight * p[:, :, None, None], conv.bias, padding=1)
    torch.testing.assert_close(conv(x), expected)


# --------------------------------------------------------------------------------------------
# LocalityRNN
# --------------------------------------------------------------------------------------------


def test_rnn_forward_matches_manual_loop():
    torch.manual_seed(6)
    rnn = LocalityRNN(3, (2, 3))
    x = torch.randn(2, 4, 3)
    out, h_t = rnn(x)
    assert out.shape == (2, 4, 6) and h_t.shape == (2, 6)
    h = torch.zeros(2, 6)
    w_hh = rnn.weight_hh * rnn.prior
    for t in range(4):
        h = torch.tanh(x[:, t] @ rnn.weight_ih.T + h @ w_hh.T + rnn.bias)
        torch.testing.assert_close(out[:, t], h)
    torch.testing.assert_close(h_t, h)
    np.testing.assert_array_equal(rnn.sheet["in"], rnn.sheet["out"])
    with pytest.raises(ValueError, match="batch, time, 3"):
        rnn(torch.randn(2, 4))


def test_rnn_jacobian_is_prior_times_weight():
    torch.manual_seed(7)
    rnn = LocalityRNN(2, (3, 3))
    with torch.no_grad():
        rnn.bias.zero_()
    x0 = torch.zeros(1, 2)
    jac = torch.autograd.functional.jacobian(lambda h: rnn.cell(x0, h)[0], torch.zeros(1, 9))[:, 0]
    # at h = 0, x = 0, b = 0 tanh' = 1: the Jacobian is exactly W_hh * P
    torch.testing.assert_close(jac, rnn.weight_hh.detach() * rnn.prior)
    ratio = jac / rnn.weight_hh.detach()
    torch.testing.assert_close(ratio, rnn.prior)
    assert ratio[0, 8].item() == pytest.approx(1 / (2 * S2 + 1), rel=1e-5)  # opposite corners

    # with input and bias: diag(1 - tanh(a)^2) (W_hh * P)
    with torch.no_grad():
        rnn.bias.normal_()
    x1 = torch.randn(1, 2)
    jac = torch.autograd.functional.jacobian(lambda h: rnn.cell(x1, h)[0], torch.zeros(1, 9))[:, 0]
    a = x1[0] @ rnn.weight_ih.detach().T + rnn.bias.detach()
    expected = (1 - torch.tanh(a) ** 2)[:, None] * rnn.weight_hh.detach() * rnn.prior
    torch.testing.assert_close(jac, expected)


def test_rnn_training_cannot_regrow_pruned_connections():
    torch.manual_seed(8)
    rnn = LocalityRNN(3, (3, 3))
    opt = torch.optim.Adam(rnn.parameters(), lr=1e-2, weight_decay=1e-3)
    x, target = torch.randn(4, 5, 3), torch.randn(4, 9)

    def step():
        opt.zero_grad()
        (rnn(x)[1] - target).pow(2).mean().backward()
        opt.step()

    step()
    assert rnn.prune_(0.5) == round(0.5 * 81)
    cut = rnn.mask == 0
    for _ in range(5):
        step()
    assert torch.all(rnn.effective_weight()[cut] == 0)
    jac = torch.autograd.functional.jacobian(
        lambda h: rnn.cell(torch.zeros(1, 3), h)[0], torch.zeros(1, 9)
    )[:, 0]
    assert torch.all(jac[cut] == 0)


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------

LENET_PARAMS = (
    (1 * 10 * 25 + 10)  # conv1
    + (10 * 20 * 25 + 20)  # conv2
    + (320 * 49 + 49)  # fc 320 -> 49
    + (49 * 49 + 49)  # LP (or control linear) 49 -> 49
    + 2 * 49  # BatchNorm1d
    + (49 * 10 + 10)  # 49 -> 10
)


def _n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def test_lenet_lp_and_control_differ_only_in_the_lp_layer():
    torch.manual_seed(9)
    lp, control = create_model("lenet-lp"), create_model("lenet-control")
    assert isinstance(lp, LeNetLP) and lp.tile == 0
    assert _n_params(lp) == _n_params(control) == LENET_PARAMS == 24057
    assert [(n, p.shape) for n, p in lp.named_parameters()] == [
        (n, p.shape) for n, p in control.named_parameters()
    ]
    assert isinstance(lp.head.lp, LocalityLinear) and type(control.head.lp) is nn.Linear
    differing = {
        name
        for (name, a), (_, b) in zip(lp.named_modules(), control.named_modules(), strict=True)
        if type(a) is not type(b)
    }
    assert differing == {"head.lp"}
    assert set(dict(lp.named_buffers())) - set(dict(control.named_buffers())) == {
        "head.lp.prior",
        "head.lp.mask",
        "head.lp.bias_scale",
    }


def test_lenet_shapes_and_sheets():
    torch.manual_seed(10)
    model = LeNetLP().eval()
    x = torch.randn(4, 1, 28, 28)
    assert model(x).shape == (4, 10)
    out = model(x, return_all=True)
    assert isinstance(out, SheetOutput)
    assert set(out.sheets) == {"lp_in", "lp_out"}
    assert out.sheets["lp_in"].shape == out.sheets["lp_out"].shape == (4, 7, 7)
    assert torch.all(out.sheets["lp_out"] >= 0)
    torch.testing.assert_close(out.logits, model(x))
    # lp_in is what the LP layer reads; lp_out is after BatchNorm and ReLU
    lp_out = model.head(out.sheets["lp_in"].reshape(4, 49))
    torch.testing.assert_close(out.sheets["lp_out"].reshape(4, 49), lp_out)
    assert model.sheet["lp_in"].shape == model.sheet["lp_out"].shape == (49, 2)
    np.testing.assert_array_equal(model.sheet["lp_out"][8], [1, 1])


def test_lenet_other_input_size_and_describe():
    model = LeNetLP(input_size=16, num_classes=4, decay="gaussian", scale=2.0)
    assert model.fc1.in_features == 20  # 16 -> 12 -> 6 -> 2 -> 1, 20 channels
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 4)
    desc = model.describe()
    json.dumps(desc)
    rebuilt = LeNetLP(**desc)
    assert rebuilt.describe() == desc and rebuilt.head.lp.decay == "gaussian"


def test_alexnet_lp_parameter_count_and_shapes():
    torch.manual_seed(11)
    features = (
        (3 * 64 * 11 * 11 + 64)
        + (64 * 192 * 5 * 5 + 192)
        + (192 * 384 * 3 * 3 + 384)
        + (384 * 256 * 3 * 3 + 256)
        + (256 * 256 * 3 * 3 + 256)
    )
    head = (9216 * 4096 + 4096) + (4096 * 4096 + 4096) + 2 * 4096 + (4096 * 1000 + 1000)
    model = AlexNetLP()
    assert features == 2_469_696
    assert _n_params(model) == features + head == 61_109_032
    assert model.head.lp.prior.shape == (4096, 4096) and model.head.lp.decay == "linear"
    model.eval()
    with torch.no_grad():
        out = model(torch.randn(2, 3, 64, 64), return_all=True)
    assert out.logits.shape == (2, 1000)
    assert out.sheets["lp_in"].shape == out.sheets["lp_out"].shape == (2, 64, 64)
    assert model.sheet["lp_out"].shape == (4096, 2)


def test_alexnet_control_small_grid_count():
    model = AlexNetLP(locality=False, grid=16, num_classes=10)
    expected = 2_469_696 + (9216 * 256 + 256) + (256 * 256 + 256) + 2 * 256 + (256 * 10 + 10)
    assert type(model.head.lp) is nn.Linear and _n_params(model) == expected


def test_alexnet_and_lenet_build_from_configs_and_round_trip():
    from brainlike.config import config_from_dict
    from brainlike.models.reset import count_parameters
    from brainlike.models.zoo import build_from_config, build_from_description, describe_model

    alex = build_from_config(config_from_dict({"model": {"kind": "alexnet"}}).model, 3, 1000, 224)
    assert count_parameters(alex) == 61_109_032
    assert describe_model(alex)["kind"] == "alexnet" and alex.input_size == 224
    assert count_parameters(build_from_description(describe_model(alex))) == 61_109_032
    cfg = config_from_dict({"model": {"kind": "lenet", "locality": {"enabled": False}}})
    lenet = build_from_config(cfg.model, 1, 10, 28)
    desc = describe_model(lenet)
    assert desc["kind"] == "lenet" and desc["locality"] is False
    assert count_parameters(lenet) == 24_057
