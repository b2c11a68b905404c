"""Locality-prior layers with backward weights (spec learning-rules.md §1, topography.md §3).

A locality-prior layer applies ``W * P * M`` (raw weight, fixed prior over the distance between
units on their sheets, pruning mask). Its feedback connections obey the same wiring: the error
flows back through ``B~ * P * M``, not through the raw ``B~``. Biologically a feedback synapse
between two units is as long as the forward one, so it pays the same wiring cost and is cut
by the same pruning; and with B~ = W (the sham control) the layer then gives exactly
autograd's gradients of the prior-weighted layer. The forward weight's gradient is
backprop's (``grad(W) = grad(W * P * M) * P * M``). The rules see the same effective
weights: sign symmetry sets B~ from sign(W) (the prior then applies to it), Kolen-Pollack
gives B~ the raw weight's gradient, and the alignment primitives use ``B~ * P * M`` and
``W * P * M`` (:func:`brainlike.rules.primitives.backward_weight`).

:class:`AsymmetricLocalityLinear` and :class:`AsymmetricLocalityConv2d` share the Parameters
and buffers of :class:`~brainlike.models.locality.LocalityLinear` / ``LocalityConv2d``.
``LocalityRNN`` (two weights, the prior on the recurrent one) is not converted yet.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from brainlike.models.locality import LocalityConv2d, LocalityLinear
from brainlike.rules.functional import asymmetric_conv2d, asymmetric_linear
from brainlike.rules.stacked import _share

__all__ = ["AsymmetricLocalityConv2d", "AsymmetricLocalityLinear"]


class _BackwardPrior:
    prior: Tensor
    mask: Tensor
    weight_backward: nn.Parameter

    def effective_backward_weight(self) -> Tensor:
        """``B~ * P * M``: the backward weight the error flows through."""
        return self.weight_backward * self.prior * self.mask

    def _init_backward_random(self) -> None:
        bound = 1.0 / (self.weight[0].numel() ** 0.5)  # the forward weight's init
        nn.init.uniform_(self.weight_backward, -bound, bound)


class AsymmetricLocalityLinear(_BackwardPrior, LocalityLinear):
    """``LocalityLinear`` whose error flows back through ``B~ * P * M``."""

    @classmethod
    def from_locality(
        cls, layer: LocalityLinear, backward_init: str = "random"
    ) -> AsymmetricLocalityLinear:
        """A layer that shares ``layer``'s Parameters and buffers."""
        return _share(cls, layer, backward_init)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_features) -> (..., out_features)``."""
        bias = None if self.bias is None else self.bias * self.bias_scale
        return asymmetric_linear(x, self.effective_weight(), bias, self.effective_backward_weight())


class AsymmetricLocalityConv2d(_BackwardPrior, LocalityConv2d):
    """``LocalityConv2d`` whose error flows back through ``B~ * P * M``."""

    @classmethod
    def from_locality(
        cls, layer: LocalityConv2d, backward_init: str = "random"
    ) -> AsymmetricLocalityConv2d:
        """A layer that shares ``layer``'s Parameters and buffers."""
        return _share(cls, layer, backward_init)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W) -> (B, C_out, H', W')``."""
        return asymmetric_conv2d(
            x,
            self.effective_weight(),
            self.bias,
            self.effective_backward_weight(),
            self.stride,
            self.padding,
        )

    def align_forward(self, x: Tensor, weight: Tensor) -> Tensor:
        return nn.functional.conv2d(x, weight, None, self.stride, self.padding)

    def align_backward(self, r: Tensor, weight: Tensor, input_shape: Any) -> Tensor:
        return torch.nn.grad.conv2d_input(input_shape, weight, r, self.stride, self.padding)
