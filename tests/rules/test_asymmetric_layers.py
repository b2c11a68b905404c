"""Asymmetric layers: sham equals autograd, the error is routed through B~ with the right
orientation, and every Conv2d option is honoured (spec learning-rules.md §1)."""

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from brainlike.rules import AsymmetricConv2d, AsymmetricLinear, asymmetric_conv2d, asymmetric_linear


def _grads(fn, *tensors):
    out = fn()
    g = torch.Generator().manual_seed(7)
    upstream = torch.randn(out.shape, generator=g, dtype=out.dtype)
    return torch.autograd.grad((out * upstream).sum(), tensors), upstream


def test_sham_linear_equals_autograd():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4, 3, 5, generator=g, dtype=torch.float64, requires_grad=True)  # 2 batch dims
    w = torch.randn(6, 5, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(6, generator=g, dtype=torch.float64, requires_grad=True)
    ours, _ = _grads(lambda: asymmetric_linear(x, w, b, w), x, w, b)
    ref, _ = _grads(lambda: F.linear(x, w, b), x, w, b)
    for a, r in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-6, atol=0)


@pytest.mark.parametrize(
    "stride, padding, dilation, groups",
    [(1, 0, 1, 1), (2, 1, 1, 1), (1, 2, 2, 1), (2, (1, 0), (1, 2), 2), (1, 1, 1, 4)],
)
def test_sham_conv2d_equals_autograd(stride, padding, dilation, groups):
    g = torch.Generator().manual_seed(1)
    x = torch.randn(2, 4, 9, 8, generator=g, dtype=torch.float64, requires_grad=True)
    w = torch.randn(8, 4 // groups, 3, 3, generator=g, dtype=torch.float64, requires_grad=True)
    b = torch.randn(8, generator=g, dtype=torch.float64, requires_grad=True)
    conf = (stride, padding, dilation, groups)
    ours, _ = _grads(lambda: asymmetric_conv2d(x, w, b, w, *conf), x, w, b)
    ref, _ = _grads(lambda: F.conv2d(x, w, b, *conf), x, w, b)
    for a, r in zip(ours, ref, strict=True):
        torch.testing.assert_close(a, r, rtol=1e-6, atol=1e-12)


def test_feedback_alignment_routes_the_error_through_b_by_hand():
    # r = W x with W (3 out x 2 in); the error reaches x as B delta with B = B~^T (2 x 3)
    x = torch.tensor([[1.0, -2.0]], requires_grad=True)
    w = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]], requires_grad=True)
    wb = torch.tensor([[2.0, 0.0], [0.0, 3.0], [-1.0, 1.0]])
    out = asymmetric_linear(x, w, None, wb)
    delta = torch.tensor([[1.0, 2.0, 3.0]])
    out.backward(delta)
    # by hand: B delta = B~^T delta = [2*1 + 0*2 - 1*3, 0*1 + 3*2 + 1*3] = [-1, 9]
    assert x.grad.tolist() == [[-1.0, 9.0]]
    # the forward weight's gradient is backprop's: delta^T x
    assert w.grad.tolist() == [[1.0, -2.0], [2.0, -4.0], [3.0, -6.0]]


def test_feedback_alignment_conv_input_gradient_is_the_transposed_conv_of_b():
    g = torch.Generator().manual_seed(2)
    x = torch.randn(2, 3, 7, 7, generator=g, requires_grad=True)
    w = torch.randn(5, 3, 3, 3, generator=g, requires_grad=True)
    wb = torch.randn(5, 3, 3, 3, generator=g)
    upstream = torch.randn(2, 5, 4, 4, generator=g)
    asymmetric_conv2d(x, w, None, wb, stride=2, padding=1).backward(upstream)
    # what autograd gives for a conv with weight B~: the error routed through B~
    x2 = x.detach().clone().requires_grad_(True)
    F.conv2d(x2, wb, None, 2, 1).backward(upstream)
    torch.testing.assert_close(x.grad, x2.grad)
    w2 = w.detach().clone().requires_grad_(True)
    F.conv2d(x.detach(), w2, None, 2, 1).backward(upstream)
    torch.testing.assert_close(w.grad, w2.grad)  # forward weight: backprop's gradient


def test_backward_weight_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match="forward weight's shape"):
        asymmetric_linear(torch.zeros(1, 2), torch.zeros(3, 2), None, torch.zeros(2, 3))


def _sham(layer):
    with torch.no_grad():
        layer.weight_backward.copy_(layer.weight)
    return layer


@pytest.mark.parametrize(
    "kwargs",
    [
        {"kernel_size": 4, "padding": "same"},  # even kernel: the odd pixel goes right/bottom
        {"kernel_size": 3, "padding": "valid", "stride": 2},
        {"kernel_size": 3, "padding": 1, "padding_mode": "reflect"},
        {"kernel_size": 3, "padding": 2, "padding_mode": "circular", "dilation": 2},
        {"kernel_size": 3, "padding": 1, "groups": 2, "bias": False},
    ],
)
def test_asymmetric_conv2d_module_matches_nn_conv2d(kwargs):
    torch.manual_seed(3)
    ref = nn.Conv2d(4, 6, **kwargs).double()
    ours = _sham(AsymmetricConv2d.from_conv2d(ref))
    assert ours.weight is ref.weight  # shares the parameters
    x = torch.randn(2, 4, 8, 9, dtype=torch.float64, requires_grad=True)
    (ga, _), (gb, _) = (_grads(lambda m=m: m(x), x) for m in (ours, ref))
    torch.testing.assert_close(ours(x), ref(x))
    torch.testing.assert_close(ga[0], gb[0], rtol=1e-6, atol=1e-12)


def test_modules_keep_the_state_dict_of_their_plain_layer_plus_the_backward_weight():
    torch.manual_seed(4)
    lin = nn.Linear(5, 3)
    a = AsymmetricLinear.from_linear(lin)
    assert list(a.state_dict()) == ["weight", "bias", "weight_backward"]
    assert a.weight is lin.weight and not a.weight_backward.requires_grad
    assert not torch.equal(a.weight_backward, lin.weight)  # random: a fresh draw
    fresh = AsymmetricLinear(5, 3)
    fresh.load_state_dict(a.state_dict())
    x = torch.randn(2, 5)
    torch.testing.assert_close(fresh(x), lin(x))
    copy = AsymmetricConv2d(2, 4, 3, backward_init="copy")
    assert torch.equal(copy.weight_backward, copy.weight)
    with pytest.raises(ValueError, match="random, copy"):
        AsymmetricLinear(2, 2, backward_init="zeros")
