"""ConvRNN convolutions with backward weights (spec learning-rules.md §1, recurrent.md §1).

:class:`AsymmetricSameConv2d` is :class:`~brainlike.models.convrnn.layers.SameConv2d` (same
Parameters, the same TensorFlow-'same' padding computed from the input's size in the forward)
plus ``weight_backward``, through which the error reaches the layer's input. A ConvRNN calls
each layer once per time step, so the one backward weight serves every step (backprop through
time with B~ in place of W at every step), and the layer records one alignment pair per step.
The cells' own convolutions are plain ``nn.Conv2d`` (string 'same' padding, or padded in the
cell's step) and are converted as such.
"""

from __future__ import annotations

from torch import Tensor
from torch.nn import functional as F

from brainlike.models.convrnn.layers import SameConv2d
from brainlike.rules.functional import asymmetric_conv2d
from brainlike.rules.layers import AlignmentRecorder, AsymmetricConv2d

__all__ = ["AsymmetricSameConv2d"]


class AsymmetricSameConv2d(AlignmentRecorder, SameConv2d):
    """``SameConv2d`` whose error flows back through ``weight_backward``."""

    @classmethod
    def from_same_conv2d(
        cls, layer: SameConv2d, backward_init: str = "random"
    ) -> AsymmetricSameConv2d:
        """A layer with ``layer``'s configuration that shares its weight and bias."""
        new = AsymmetricConv2d.from_conv2d(layer, backward_init)
        new.__class__ = cls
        return new

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, ceil(H / s), ceil(W / s))``."""
        (top, bottom), (left, right) = self.same_padding(x)
        wb = self.weight_backward
        if top == bottom and left == right:  # as SameConv2d: the conv pads symmetrically
            out = asymmetric_conv2d(x, self.weight, self.bias, wb, self.stride, (top, left))
            if self.alignment_sink is not None and (top or left):
                x = F.pad(x, (left, right, top, bottom))
        else:
            x = F.pad(x, (left, right, top, bottom))
            out = asymmetric_conv2d(x, self.weight, self.bias, wb, self.stride)
        self._record(x, out)  # x padded: the primitives convolve it without padding
        return out
