"""The primitives of spec learning-rules.md §1: local losses on a layer's backward weight.

A layer computes r = W x; its backward matrix is B = B~^T, where B~ (``weight_backward``) has
the shape of W. Learning rules train B~ by the gradient of a sum of these primitives:

==========  ======  ======================  =====================
primitive   local   R                       dR/dB
==========  ======  ======================  =====================
decay       yes     1/2 ||B||^2             B
amp         yes     -x^T B r                -x r^T
null        yes     1/2 ||B r||^2           B r r^T
sparse      no      1/2 ||B^T x||^2         x x^T B
self        no      -tr(B W)                -W^T
==========  ======  ======================  =====================

Normalisation (one convention for every primitive): the paper's, with the 1/2 kept (the
original code drops it, doubling decay, null and sparse), and every term that depends on data
averaged over the instances of the layer's map (:func:`instances`): the batch, and for a
convolution also the positions of its output, each of which maps one input patch as a dense
layer maps one input. So a rule's fixed points are the same for both kinds of layer (weight
mirror: B~ -> (alpha sigma^2 / beta) W); a sum over positions would scale the data terms, and
so the fixed point, by the number of positions, against the decay. In B~'s
orientation: B^T x is the layer's forward map applied with B~ (``x @ B~^T``, or the
convolution of x with B~), and B r its backward map (``r @ B~``, or the transposed
convolution of r with B~), so the same functions serve Linear and Conv2d layers. Layers of
other geometries give their maps as ``align_forward`` / ``align_backward`` (the stacked
subnetworks of Reset networks: every primitive is the sum of the subnetworks' primitives;
locality-prior convolutions); a layer with a wiring constraint applies it to B~ too
(``effective_backward_weight``: the error flows through B~ * prior * mask).
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "PRIMITIVES",
    "amp",
    "backward_map",
    "backward_weight",
    "decay",
    "forward_map",
    "forward_weight",
    "gradients",
    "instances",
    "loss",
    "null",
    "self_",
    "sparse",
]


def backward_weight(layer: nn.Module) -> Tensor:
    """The backward weight the error actually flows through: ``weight_backward``, or for a
    layer with a wiring constraint (locality prior, pruning mask) its effective form."""
    fn = getattr(layer, "effective_backward_weight", None)
    return fn() if fn is not None else layer.weight_backward


def forward_weight(layer: nn.Module) -> Tensor:
    """The weight the layer applies (``effective_weight()`` for a locality-prior layer)."""
    fn = getattr(layer, "effective_weight", None)
    return fn() if fn is not None else layer.weight


def _conv_padding(layer: nn.Conv2d) -> Any:
    # string padding ("same", "valid") and non-zero padding modes are applied to the input
    # before the convolution, so the recorded x is already padded
    if isinstance(layer.padding, str) or layer.padding_mode != "zeros":
        return (0, 0)
    return layer.padding


def forward_map(layer: nn.Module, x: Tensor, weight: Tensor | None = None) -> Tensor:
    """B^T x: ``layer``'s forward map (without bias) applied with its backward weight (or with
    ``weight``). Layers of other geometries (stacked subnetworks, locality convolutions) give
    their own map as ``layer.align_forward(x, weight)``."""
    wb = backward_weight(layer) if weight is None else weight
    if hasattr(layer, "align_forward"):
        return layer.align_forward(x, wb)
    if isinstance(layer, nn.Conv2d):
        return F.conv2d(
            x, wb, None, layer.stride, _conv_padding(layer), layer.dilation, layer.groups
        )
    return x @ wb.T


def backward_map(layer: nn.Module, r: Tensor, input_shape: Any) -> Tensor:
    """B r: the error ``r`` sent to the input through the backward weight."""
    wb = backward_weight(layer)
    if hasattr(layer, "align_backward"):
        return layer.align_backward(r, wb, input_shape)
    if isinstance(layer, nn.Conv2d):
        return torch.nn.grad.conv2d_input(
            input_shape, wb, r, layer.stride, _conv_padding(layer), layer.dilation, layer.groups
        )
    return r @ wb


def instances(r: Tensor) -> int:
    """How many instances of the layer's map the output ``r`` holds, the count every data term
    averages over: the batch, times the positions of a convolution's output (a 4-D ``(N, C,
    H, W)``: each position maps one input patch, as a dense layer maps one input)."""
    return r.shape[0] * (r.shape[2] * r.shape[3] if r.dim() == 4 else 1)


def decay(layer: nn.Module) -> Tensor:
    """1/2 ||B||^2."""
    return 0.5 * backward_weight(layer).square().sum()


def amp(layer: nn.Module, x: Tensor, r: Tensor) -> Tensor:
    """-x^T B r, averaged over instances: rewards B~ for mapping x to the layer's output r."""
    return -(r * forward_map(layer, x)).sum() / instances(r)


def null(layer: nn.Module, r: Tensor, input_shape: Any) -> Tensor:
    """1/2 ||B r||^2, averaged over instances."""
    return 0.5 * backward_map(layer, r, input_shape).square().sum() / instances(r)


def sparse(layer: nn.Module, x: Tensor) -> Tensor:
    """1/2 ||B^T x||^2, averaged over instances (non-local: needs x at the output side)."""
    s = forward_map(layer, x)
    return 0.5 * s.square().sum() / instances(s)


def self_(layer: nn.Module) -> Tensor:
    """-tr(B W) (non-local: needs the forward weight)."""
    return -(backward_weight(layer) * forward_weight(layer).detach()).sum()


def loss(
    layer: nn.Module,
    x: Tensor,
    r: Tensor,
    coefficients: dict[str, float],
    stabilise: Collection[str] = (),
) -> Tensor:
    """``sum(coef * primitive)`` for the layer's input ``x`` and output ``r``.

    ``stabilise``: operations of spec learning-rules.md §4 applied inside the loss (the
    flags of :data:`brainlike.rules.stabilise.LOSS_FLAGS`; ``(x, r)`` then comes from
    :func:`brainlike.rules.stabilise.alignment_pair`).
    """
    if stabilise:
        from brainlike.rules.stabilise import stabilised_loss  # it imports this module

        return stabilised_loss(layer, x, r, coefficients, stabilise)
    args = {"decay": (), "amp": (x, r), "null": (r, x.shape), "sparse": (x,), "self": ()}
    total = layer.weight_backward.new_zeros(())
    for name, coef in coefficients.items():
        if coef != 0:
            total = total + coef * PRIMITIVES[name](layer, *args[name])
    return total


def _plain_geometry(layer: nn.Module) -> bool:
    return not any(
        hasattr(layer, a) for a in ("align_forward", "align_backward", "effective_backward_weight")
    )


def _weight_gradient(layer: nn.Module, x: Tensor, r: Tensor) -> Tensor:
    """d/dB~ of <r, B^T x> (the forward map applied with B~), summed over the batch."""
    if isinstance(layer, nn.Conv2d):
        return torch.nn.grad.conv2d_weight(
            x,
            layer.weight_backward.shape,
            r,
            layer.stride,
            _conv_padding(layer),
            layer.dilation,
            layer.groups,
        )
    return r.reshape(-1, r.shape[-1]).T @ x.reshape(-1, x.shape[-1])


def gradients(
    layer: nn.Module,
    x: Tensor,
    r: Tensor,
    coefficients: dict[str, float],
    stabilise: Collection[str] = (),
) -> Tensor:
    """d/dB~ of ``sum(coef * primitive)`` for the layer's input ``x`` and output ``r``.

    For plain Linear/Conv2d geometry in closed form (the spec's dR/dB, transposed; equal to
    autograd of the same sum, tested) at a lower cost: amp needs one weight-gradient
    convolution instead of a forward convolution and its backward, and the terms of IA (amp +
    null) and of AA (amp + sparse) share one. Layers of other geometries (stacked
    subnetworks, wiring constraints), and the stabilising operations ``stabilise`` (see
    :func:`loss`), go through autograd of the primitives.
    """
    unknown = sorted(set(coefficients) - set(PRIMITIVES))
    if unknown:
        raise ValueError(f"unknown primitive {unknown[0]!r}; primitives: {', '.join(PRIMITIVES)}")
    wb = layer.weight_backward
    if stabilise or not _plain_geometry(layer):
        was = wb.requires_grad
        wb.requires_grad_(True)
        try:
            with torch.enable_grad():
                total = loss(layer, x, r, coefficients, stabilise)
                if not total.requires_grad:  # every coefficient is 0
                    return torch.zeros_like(wb)
                return torch.autograd.grad(total, wb)[0]
        finally:
            wb.requires_grad_(was)
    wb = wb.detach()
    c = {name: coef for name, coef in coefficients.items() if coef != 0}
    grad = torch.zeros_like(wb)
    if "decay" in c:
        grad = grad + c["decay"] * wb
    if "self" in c:
        grad = grad - c["self"] * layer.weight.detach()
    # amp, null and sparse are each one weight gradient G(a, b) (bilinear), so terms that share
    # an argument merge into one: amp + null = G(c_null B r - c_amp x, r) (IA), amp + sparse =
    # G(x, c_sparse B^T x - c_amp r) (AA); at most two weight-gradient convolutions in all
    n = instances(r)
    a_amp, a_null, a_sparse = c.get("amp", 0.0), c.get("null", 0.0), c.get("sparse", 0.0)
    with torch.no_grad():
        if a_null and not a_sparse:  # shares r with amp
            z = a_null * backward_map(layer, r, x.shape)
            if a_amp:
                z = z - a_amp * x
            grad = grad + _weight_gradient(layer, z, r) / n
        elif a_amp or a_sparse:  # shares x with amp
            out = a_sparse * forward_map(layer, x) if a_sparse else None
            if a_amp:
                out = -a_amp * r if out is None else out - a_amp * r
            grad = grad + _weight_gradient(layer, x, out) / n
            if a_null:
                z = backward_map(layer, r, x.shape)
                grad = grad + a_null * _weight_gradient(layer, z, r) / n
    return grad


#: name -> primitive (``self`` is a Python keyword as a function name, hence ``self_``)
PRIMITIVES = {"decay": decay, "amp": amp, "null": null, "sparse": sparse, "self": self_}
