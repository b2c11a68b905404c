"""Linear and 2-D convolution whose error flows back through a separate backward weight.

spec: learning-rules.md §1. A layer computes r = W x; backprop sends the error down as
delta_x = W^T delta_r. A learning rule of the feedback-alignment family replaces W^T by a
backward matrix B. Here the backward weight ``weight_backward`` (written B~) has the shape of
``weight``, and plays the role of W in the backward pass, so B = B~^T:

- linear: grad_input = grad_output @ B~ (backprop: grad_output @ W);
- conv2d: grad_input = conv2d_input(B~, grad_output) (backprop: the same with W).

The forward weight's gradient and the bias gradient are those of backprop; the backward weight
gets no gradient from the task loss (its rule updates it). With B~ = W exactly (the "sham"
control) both functions give autograd's gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn import functional as F

__all__ = ["asymmetric_conv2d", "asymmetric_linear", "asymmetric_stacked_linear"]


class _AsymmetricLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor | None, backward: Tensor):
        ctx.save_for_backward(x, backward)
        ctx.has_bias = bias is not None
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor):
        x, backward = ctx.saved_tensors
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = grad_out @ backward.to(grad_out.dtype)
        if ctx.needs_input_grad[1]:
            # every leading dimension is a batch dimension, as in F.linear
            grad_w = grad_out.reshape(-1, grad_out.shape[-1]).T @ x.reshape(-1, x.shape[-1])
        if ctx.has_bias and ctx.needs_input_grad[2]:
            grad_b = grad_out.reshape(-1, grad_out.shape[-1]).sum(0)
        return grad_x, grad_w, grad_b, None


class _AsymmetricConv2d(torch.autograd.Function):
    @staticmethod
    def forward(
        ctx: Any,
        x: Tensor,
        weight: Tensor,
        bias: Tensor | None,
        backward: Tensor,
        stride: tuple[int, int],
        padding: tuple[int, int],
        dilation: tuple[int, int],
        groups: int,
    ):
        ctx.save_for_backward(x, backward)
        ctx.conf = (stride, padding, dilation, groups)
        ctx.weight_shape = weight.shape
        ctx.has_bias = bias is not None
        return F.conv2d(x, weight, bias, stride, padding, dilation, groups)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor):
        x, backward = ctx.saved_tensors
        stride, padding, dilation, groups = ctx.conf
        need_x, need_w, need_b = ctx.needs_input_grad[:3]
        need_b = need_b and ctx.has_bias
        if not (need_x or need_w or need_b):
            return None, None, None, None, None, None, None, None
        # One call, as autograd makes for backprop: grad_input through B~; the weight gradient
        # does not depend on the weight's values, so B~ serves that part too
        grad_x, grad_w, grad_b = torch.ops.aten.convolution_backward(
            grad_out,
            x,
            backward.to(grad_out.dtype),
            [ctx.weight_shape[0]] if need_b else None,
            list(stride),
            list(padding),
            list(dilation),
            False,
            [0, 0],
            groups,
            [need_x, need_w, need_b],
        )
        return grad_x, grad_w, grad_b, None, None, None, None, None


class _AsymmetricStackedLinear(torch.autograd.Function):
    @staticmethod
    def forward(ctx: Any, x: Tensor, weight: Tensor, bias: Tensor, backward: Tensor):
        ctx.save_for_backward(x, backward)
        # the expression of StackedLinear.fused, so the forward pass is bit-identical
        return torch.baddbmm(
            bias.unsqueeze(1), x.transpose(0, 1), weight.transpose(1, 2)
        ).transpose(0, 1)

    @staticmethod
    def backward(ctx: Any, grad_out: Tensor):
        x, backward = ctx.saved_tensors
        g = grad_out.transpose(0, 1)  # (G, B, out)
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[0]:
            grad_x = torch.bmm(g, backward.to(g.dtype)).transpose(0, 1)
        if ctx.needs_input_grad[1]:
            grad_w = torch.bmm(g.transpose(1, 2), x.transpose(0, 1))
        if ctx.needs_input_grad[2]:
            grad_b = grad_out.sum(0)
        return grad_x, grad_w, grad_b, None


def asymmetric_stacked_linear(
    x: Tensor, weight: Tensor, bias: Tensor, weight_backward: Tensor
) -> Tensor:
    """``G`` linear layers at once (``StackedLinear.fused``) with the input gradient routed
    through ``weight_backward``.

    Parameters
    ----------
    x : ``(B, G, in)`` input, one slice per group.
    weight, weight_backward : ``(G, out, in)`` forward and backward weights (same shape).
    bias : ``(G, out)``.

    Returns
    -------
    ``(B, G, out)``; backward: grad_input[:, g] = grad_output[:, g] @ weight_backward[g].
    """
    if weight_backward.shape != weight.shape:
        raise ValueError(
            f"weight_backward has shape {tuple(weight_backward.shape)} but weight has "
            f"{tuple(weight.shape)}; the backward weight has the forward weight's shape"
        )
    return _AsymmetricStackedLinear.apply(x, weight, bias, weight_backward.detach())


def asymmetric_linear(
    x: Tensor, weight: Tensor, bias: Tensor | None, weight_backward: Tensor
) -> Tensor:
    """``F.linear(x, weight, bias)`` whose input gradient is routed through ``weight_backward``.

    Parameters
    ----------
    x : ``(..., in)`` input.
    weight, weight_backward : ``(out, in)`` forward and backward weights (same shape).
    bias : ``(out,)`` or None.

    Returns
    -------
    ``(..., out)``; backward: grad_input = grad_output @ weight_backward.
    """
    if weight_backward.shape != weight.shape:
        raise ValueError(
            f"weight_backward has shape {tuple(weight_backward.shape)} but weight has "
            f"{tuple(weight.shape)}; the backward weight has the forward weight's shape"
        )
    return _AsymmetricLinear.apply(x, weight, bias, weight_backward.detach())


def _pair(v: int | tuple[int, ...]) -> tuple[int, int]:
    return (v, v) if isinstance(v, int) else (int(v[0]), int(v[1]))


def asymmetric_conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    weight_backward: Tensor,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """``F.conv2d`` whose input gradient is routed through ``weight_backward``.

    Parameters
    ----------
    x : ``(N, C_in, H, W)`` input.
    weight, weight_backward : ``(C_out, C_in / groups, kH, kW)`` forward and backward weights.
    bias : ``(C_out,)`` or None.
    stride, padding, dilation, groups : as in :func:`torch.nn.functional.conv2d` (numeric
        zero padding; pad the input first for other modes or asymmetric padding).

    Returns
    -------
    ``(N, C_out, H', W')``; backward: grad_input = conv2d_input(weight_backward, grad_output).
    """
    if weight_backward.shape != weight.shape:
        raise ValueError(
            f"weight_backward has shape {tuple(weight_backward.shape)} but weight has "
            f"{tuple(weight.shape)}; the backward weight has the forward weight's shape"
        )
    if isinstance(padding, str):
        raise ValueError(
            f"padding={padding!r}: give numbers (pad the input first for 'same' with an even "
            "kernel); see brainlike.rules.layers.AsymmetricConv2d, which does this"
        )
    return _AsymmetricConv2d.apply(
        x,
        weight,
        bias,
        weight_backward.detach(),
        _pair(stride),
        _pair(padding),
        _pair(dilation),
        int(groups),
    )
