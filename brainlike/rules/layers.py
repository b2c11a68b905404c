"""Linear and Conv2d layers with a backward weight: the building blocks of learning rules.

spec: learning-rules.md §1. :class:`AsymmetricLinear` and :class:`AsymmetricConv2d` are
``nn.Linear`` / ``nn.Conv2d`` (same parameters, same forward, same state-dict keys) plus a
parameter ``weight_backward`` of the forward weight's shape, through which the error flows to
the layer's input (:mod:`brainlike.rules.functional`). Every Conv2d option is supported:
stride, numeric or string (``"same"``, ``"valid"``) padding, any padding mode, dilation and
groups. ``weight_backward`` gets no gradient from the task loss; a rule trains it with its own
local loss (:mod:`brainlike.rules.primitives`) or sets it directly.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from brainlike.rules.functional import asymmetric_conv2d, asymmetric_linear

__all__ = ["AlignmentRecorder", "AsymmetricConv2d", "AsymmetricLinear", "BACKWARD_INITS"]

#: how a backward weight starts: a fresh draw of the layer's default initialisation, or a copy
#: of the forward weight
BACKWARD_INITS = ("random", "copy")


def _init_backward(layer: nn.Module, init: str) -> None:
    if init not in BACKWARD_INITS:
        raise ValueError(f"backward init {init!r}; choose one of {', '.join(BACKWARD_INITS)}")
    with torch.no_grad():
        if init == "copy":
            layer.weight_backward.copy_(layer.weight)
        else:  # the default init of nn.Linear and nn.Conv2d weights
            nn.init.kaiming_uniform_(layer.weight_backward, a=math.sqrt(5))


class AlignmentRecorder:
    """Mixin: a layer that hands its alignment pair ``(x, r)`` to ``alignment_sink``.

    Layers whose forward is not (only) ``__call__`` (the stacked layers' ``loop`` / ``fused``)
    or whose input is padded inside the forward (TF-'same' or non-zero padding modes) cannot
    be observed by a forward hook; they record the input as their weight sees it and the
    output, in the layout their primitives (``align_forward`` / ``align_backward`` or the
    Conv2d geometry with the padding already applied) expect. ``alignment_sink`` is a list
    that :class:`~brainlike.train.rule_training.RuleTraining` sets; None records nothing.
    """

    alignment_sink: list | None = None

    def _record(self, x: Tensor, r: Tensor) -> None:
        sink = self.alignment_sink
        if sink is not None and self.training and torch.is_grad_enabled():
            sink.append((self, x.detach(), r.detach()))


class AsymmetricLinear(nn.Linear):
    """``nn.Linear`` whose error reaches its input through ``weight_backward`` ``(out, in)``.

    Parameters
    ----------
    in_features, out_features, bias, device, dtype : as in ``nn.Linear``.
    backward_init : ``"random"`` (a fresh draw, as feedback alignment starts) or ``"copy"``.
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        bias: bool = True,
        device=None,
        dtype=None,
        backward_init: str = "random",
    ) -> None:
        super().__init__(in_features, out_features, bias, device, dtype)
        self.weight_backward = nn.Parameter(torch.empty_like(self.weight), requires_grad=False)
        _init_backward(self, backward_init)

    @classmethod
    def from_linear(cls, layer: nn.Linear, backward_init: str = "random") -> AsymmetricLinear:
        """A layer that shares ``layer``'s weight and bias (the same Parameter objects)."""
        new = cls.__new__(cls)
        nn.Module.__init__(new)
        new.in_features, new.out_features = layer.in_features, layer.out_features
        new.weight = layer.weight
        new.bias = layer.bias
        new.weight_backward = nn.Parameter(torch.empty_like(layer.weight), requires_grad=False)
        _init_backward(new, backward_init)
        new.train(layer.training)
        return new

    def forward(self, x: Tensor) -> Tensor:
        return asymmetric_linear(x, self.weight, self.bias, self.weight_backward)


class AsymmetricConv2d(AlignmentRecorder, nn.Conv2d):
    """``nn.Conv2d`` whose error reaches its input through ``weight_backward``.

    Parameters
    ----------
    in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
    padding_mode, device, dtype : as in ``nn.Conv2d``.
    backward_init : ``"random"`` (a fresh draw, as feedback alignment starts) or ``"copy"``.
    """

    def __init__(self, *args, backward_init: str = "random", **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.weight_backward = nn.Parameter(torch.empty_like(self.weight), requires_grad=False)
        _init_backward(self, backward_init)

    @classmethod
    def from_conv2d(cls, layer: nn.Conv2d, backward_init: str = "random") -> AsymmetricConv2d:
        """A layer with ``layer``'s configuration that shares its weight and bias."""
        new = cls.__new__(cls)
        new.__dict__.update({k: v for k, v in layer.__dict__.items()})
        new._parameters = dict(layer._parameters)
        new._buffers = dict(layer._buffers)
        new._modules = dict(layer._modules)
        new.weight_backward = nn.Parameter(torch.empty_like(layer.weight), requires_grad=False)
        _init_backward(new, backward_init)
        return new

    def _conv_forward(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        padding = self.padding
        if self.padding_mode != "zeros":
            x = F.pad(x, self._reversed_padding_repeated_twice, mode=self.padding_mode)
            padding = (0, 0)
        elif padding == "valid":
            padding = (0, 0)
        elif padding == "same":  # the odd pixel of padding goes right/bottom, as nn.Conv2d
            x = F.pad(x, self._reversed_padding_repeated_twice)
            padding = (0, 0)
        out = asymmetric_conv2d(
            x, weight, bias, self.weight_backward, self.stride, padding, self.dilation, self.groups
        )
        self._record(x, out)  # x as the weight sees it (padded here when padding is explicit)
        return out
