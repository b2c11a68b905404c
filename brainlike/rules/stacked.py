"""The stacked subnetworks of Reset networks with backward weights (spec learning-rules.md §1).

:class:`AsymmetricStackedConv2d` and :class:`AsymmetricStackedLinear` are
:class:`~brainlike.models.parallel.StackedConv2d` / ``StackedLinear`` (same Parameters, same
forward on both execution paths, same state-dict keys) plus ``weight_backward`` of the
weight's shape, ``(G, out, in, k, k)`` / ``(G, out, in)``: subnetwork ``g``'s error reaches its
input through ``weight_backward[g]``. The ``loop`` path runs one asymmetric conv / linear per
subnetwork, the ``fused`` path one grouped asymmetric conv (the ``shared_input`` first layer:
one ordinary conv, whose input gradient sums the subnetworks' as the loop's does) or one
batched asymmetric matmul; both give the same gradients, and with B~ = W (sham) autograd's.
``StackedBatchNorm2d`` is not converted: normalisation stays exact backprop.

Alignment losses are per subnetwork: each layer records its pair (input, output) in the fused
layout whichever path ran (the loop's lists concatenated), and its ``align_forward`` /
``align_backward`` apply subnetwork ``g``'s B~ to its own slice, so every primitive of
:mod:`brainlike.rules.primitives` is the sum of the subnetworks' primitives (a shared input
counts once per subnetwork that reads it).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor, nn

from brainlike.models.parallel import StackedConv2d, StackedLinear
from brainlike.rules.functional import (
    asymmetric_conv2d,
    asymmetric_linear,
    asymmetric_stacked_linear,
)
from brainlike.rules.layers import BACKWARD_INITS, AlignmentRecorder

__all__ = ["AsymmetricStackedConv2d", "AsymmetricStackedLinear"]


def _share(cls: type, layer: nn.Module, backward_init: str) -> Any:
    """A ``cls`` with ``layer``'s configuration and Parameters (the same objects), plus B~."""
    if backward_init not in BACKWARD_INITS:
        raise ValueError(
            f"backward init {backward_init!r}; choose one of {', '.join(BACKWARD_INITS)}"
        )
    new = cls.__new__(cls)
    new.__dict__.update(layer.__dict__)
    new._parameters = dict(layer._parameters)
    new._buffers = dict(layer._buffers)
    new._modules = dict(layer._modules)
    new.weight_backward = nn.Parameter(torch.empty_like(layer.weight), requires_grad=False)
    with torch.no_grad():
        if backward_init == "copy":
            new.weight_backward.copy_(layer.weight)
        else:
            new._init_backward_random()
    return new


class AsymmetricStackedConv2d(AlignmentRecorder, StackedConv2d):
    """``StackedConv2d`` whose subnetworks' errors flow back through ``weight_backward``."""

    @classmethod
    def from_stacked(
        cls, layer: StackedConv2d, backward_init: str = "random"
    ) -> AsymmetricStackedConv2d:
        """A layer that shares ``layer``'s weight (the same Parameter)."""
        return _share(cls, layer, backward_init)

    def _init_backward_random(self) -> None:
        for w in self.weight_backward:  # the forward weight's init (He normal), per subnetwork
            nn.init.kaiming_normal_(w)

    def weight_init_std(self) -> float:
        """Std of the He-normal init of one subnetwork's kernel: sqrt(2 / fan_in)."""
        return math.sqrt(2.0 / self.weight[0, 0].numel())

    def loop(self, xs: Sequence[Tensor]) -> list[Tensor]:
        ws, wbs = self.weight.unbind(0), self.weight_backward.unbind(0)
        if self.shared_input:
            xs = [xs[0]] * self.groups
        outs = [
            asymmetric_conv2d(x, w, None, wb, self.stride, self.padding)
            for x, w, wb in zip(xs, ws, wbs, strict=True)
        ]
        if self.alignment_sink is not None:
            x = xs[0] if self.shared_input else torch.cat(list(xs), 1)
            self._record(x, torch.cat(outs, 1))
        return outs

    def fused(self, x: Tensor) -> Tensor:
        g = 1 if self.shared_input else self.groups
        w, wb = self.weight.flatten(0, 1), self.weight_backward.flatten(0, 1)
        out = asymmetric_conv2d(x, w, None, wb, self.stride, self.padding, groups=g)
        self._record(x, out)
        return out

    # -- the geometry of the alignment primitives (fused layout) --------------------------------
    def align_forward(self, x: Tensor, weight: Tensor) -> Tensor:
        """Every subnetwork's forward map with ``weight`` ``(G, out, in, k, k)``, no bias."""
        g = 1 if self.shared_input else self.groups
        return nn.functional.conv2d(
            x, weight.flatten(0, 1), None, self.stride, self.padding, groups=g
        )

    def align_backward(self, r: Tensor, weight: Tensor, input_shape: Any) -> Tensor:
        """Every subnetwork's error through ``weight``, ``(B, G * in, H, W)`` (a shared input
        is counted once per subnetwork, not summed)."""
        b, _, h, w = input_shape
        return torch.nn.grad.conv2d_input(
            (b, self.groups * self.in_channels, h, w),
            weight.flatten(0, 1),
            r,
            self.stride,
            self.padding,
            groups=self.groups,
        )


class AsymmetricStackedLinear(AlignmentRecorder, StackedLinear):
    """``StackedLinear`` whose subnetworks' errors flow back through ``weight_backward``."""

    @classmethod
    def from_stacked(
        cls, layer: StackedLinear, backward_init: str = "random"
    ) -> AsymmetricStackedLinear:
        """A layer that shares ``layer``'s weight and bias (the same Parameters)."""
        return _share(cls, layer, backward_init)

    def _init_backward_random(self) -> None:
        for w in self.weight_backward:  # nn.Linear's init, per subnetwork
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))

    def weight_init_std(self) -> float:
        """Std of nn.Linear's init of one subnetwork's weight: 1 / sqrt(3 fan_in)."""
        return 1.0 / math.sqrt(3.0 * self.in_features)

    def loop(self, xs: Sequence[Tensor]) -> list[Tensor]:
        outs = [
            asymmetric_linear(x, w, b, wb)
            for x, w, b, wb in zip(
                xs,
                self.weight.unbind(0),
                self.bias.unbind(0),
                self.weight_backward.unbind(0),
                strict=True,
            )
        ]
        if self.alignment_sink is not None:
            self._record(torch.stack(list(xs), 1), torch.stack(outs, 1))
        return outs

    def fused(self, x: Tensor) -> Tensor:
        """``x`` (B, G, in) -> (B, G, out)."""
        out = asymmetric_stacked_linear(x, self.weight, self.bias, self.weight_backward)
        self._record(x, out)
        return out

    def align_forward(self, x: Tensor, weight: Tensor) -> Tensor:
        """``(B, G, in)`` -> ``(B, G, out)``: subnetwork g's slice times ``weight[g]^T``."""
        return torch.einsum("bgi,goi->bgo", x, weight)

    def align_backward(self, r: Tensor, weight: Tensor, input_shape: Any) -> Tensor:
        """``(B, G, out)`` -> ``(B, G, in)``: subnetwork g's error times ``weight[g]``."""
        return torch.einsum("bgo,goi->bgi", r, weight)
