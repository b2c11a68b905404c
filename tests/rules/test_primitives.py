"""The primitives' gradients are the spec's table (learning-rules.md §1), for Linear layers by
the closed forms and for Conv2d layers against a slow patch-by-patch implementation."""

import pytest
import torch
from torch.nn import functional as F

from brainlike.rules import AsymmetricConv2d, AsymmetricLinear
from brainlike.rules.primitives import amp, decay, null, self_, sparse


@pytest.fixture
def layer_and_data():
    torch.manual_seed(0)
    layer = AsymmetricLinear(5, 3, bias=False).double()
    layer.weight_backward.requires_grad_(True)
    x = torch.randn(8, 5, dtype=torch.float64)
    r = layer.weight.detach() @ x.T  # (3, 8)
    return layer, x, r.T


def _grad(loss, layer):
    return torch.autograd.grad(loss, layer.weight_backward)[0]


def test_linear_primitive_gradients_are_the_table_transposed(layer_and_data):
    # dR/dB~ = (dR/dB)^T because B = B~^T; data terms are averaged over the batch of N = 8
    layer, x, r = layer_and_data
    wb, w, n = layer.weight_backward.detach(), layer.weight.detach(), x.shape[0]
    torch.testing.assert_close(_grad(decay(layer), layer), wb)  # B
    torch.testing.assert_close(_grad(amp(layer, x, r), layer), -(r.T @ x) / n)  # -x r^T
    torch.testing.assert_close(_grad(null(layer, r, x.shape), layer), (r.T @ r) @ wb / n)  # B r r^T
    torch.testing.assert_close(_grad(sparse(layer, x), layer), wb @ (x.T @ x) / n)  # x x^T B
    torch.testing.assert_close(_grad(self_(layer), layer), -w)  # -W^T


def test_linear_primitive_values_by_hand():
    layer = AsymmetricLinear(2, 1, bias=False)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[1.0, 2.0]]))
        layer.weight_backward.copy_(torch.tensor([[3.0, -1.0]]))
    x, r = torch.tensor([[1.0, 1.0], [2.0, 0.0]]), torch.tensor([[2.0], [1.0]])
    assert float(decay(layer)) == pytest.approx(0.5 * 10)
    # B^T x per sample: [2, 6]; amp = -mean(r * B^T x) = -(4 + 6) / 2
    assert float(amp(layer, x, r)) == pytest.approx(-5.0)
    # B r per sample: [6, -2], [3, -1]; null = mean(1/2 |B r|^2) = (20 + 5) / 2
    assert float(null(layer, r, x.shape)) == pytest.approx(12.5)
    assert float(sparse(layer, x)) == pytest.approx((0.5 * 4 + 0.5 * 36) / 2)
    assert float(self_(layer)) == pytest.approx(-(3.0 - 2.0))


def test_conv_primitives_equal_the_linear_ones_on_patches():
    torch.manual_seed(1)
    conv = AsymmetricConv2d(3, 4, 3, stride=2, padding=1, bias=False).double()
    x = torch.randn(2, 3, 7, 7, dtype=torch.float64)
    r = torch.randn(2, 4, 4, 4, dtype=torch.float64)
    # slow and obvious: every output position is a linear layer on its input patch
    patches = F.unfold(x, 3, padding=1, stride=2)  # (N, 27, P)
    xs = patches.transpose(1, 2).reshape(-1, 27)  # (N*P, 27)
    rs = r.flatten(2).transpose(1, 2).reshape(-1, 4)  # (N*P, 4)
    lin = AsymmetricLinear(27, 4, bias=False).double()
    with torch.no_grad():
        lin.weight_backward.copy_(conv.weight_backward.reshape(4, -1))
    # every patch is one instance of the map: the conv's data terms are the patches' averages
    torch.testing.assert_close(amp(conv, x, r), amp(lin, xs, rs))
    torch.testing.assert_close(sparse(conv, x), sparse(lin, xs))
    # null: the patches' back-projections add up where they overlap (fold)
    back = F.fold((rs @ lin.weight_backward).reshape(2, -1, 27).transpose(1, 2), (7, 7), 3,
                  padding=1, stride=2)  # fmt: skip
    torch.testing.assert_close(null(conv, r, x.shape), 0.5 * back.square().sum() / (2 * 16))


SUMS = [
    {"decay": 0.3, "amp": 1.1, "null": 0.7, "sparse": 0.5, "self": 0.9},
    {"amp": 1.1, "null": 0.7, "decay": 1e-3},  # IA: amp and null share one weight gradient
    {"sparse": 0.5, "amp": 2.0},  # AA: amp and sparse share one
    {"null": 0.7, "sparse": 0.5},
    {"amp": 1.0},
    {"null": 0.4},
    {"sparse": 0.6, "decay": 0.2},
    {"decay": 0.3, "self": 0.9, "amp": 0.0},
]


@pytest.mark.parametrize("coefficients", SUMS, ids=lambda c: "+".join(c))
@pytest.mark.parametrize("kind", ["linear", "conv"])
def test_closed_form_gradients_equal_autograd_of_the_primitives(kind, coefficients):
    from brainlike.rules.definitions import alignment_loss, make_rule
    from brainlike.rules.primitives import gradients

    torch.manual_seed(2)
    if kind == "linear":
        layer = AsymmetricLinear(6, 4).double()
        x = torch.randn(9, 6, dtype=torch.float64)
    else:
        layer = AsymmetricConv2d(4, 6, 3, stride=2, padding=1, groups=2).double()
        x = torch.randn(3, 4, 7, 7, dtype=torch.float64)
    r = layer(x).detach()
    rule = make_rule("information_alignment")  # any rule: its loss is replaced below
    rule.loss = coefficients
    layer.weight_backward.requires_grad_(True)
    expected = torch.autograd.grad(alignment_loss(rule, layer, x, r), layer.weight_backward)[0]
    torch.testing.assert_close(
        gradients(layer, x, r, coefficients), expected, rtol=1e-10, atol=1e-12
    )
