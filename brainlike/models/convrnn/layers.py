"""The layers of a biologically unrolled ConvRNN (spec: recurrent.md §1).

One :class:`Node` per :class:`~brainlike.models.convrnn.topology.NodeSpec` (conv, cell,
feedback convs, pool) and the :class:`Readout`, with TensorFlow-'same' convolutions
(:class:`SameConv2d`) and pools. :class:`~brainlike.models.convrnn.graph.ConvRNN` gathers each
node's input and calls it once per time step.

Layer anatomy (spec §1, "ELU everywhere", max-pool 2/2 'same')
    plain:     u -> conv (k x k, stride) -> ELU -> [cell] -> (+ feedback 1x1s) -> pool
    residual:  u -> conv 3x3 -> ELU -> [cell] -> conv 3x3 -> + skip(u) -> ELU
               -> (+ feedback 1x1s) -> pool          (skip: 1x1 projection when shapes differ)
    The cell reads the rectified conv output ``x = ELU(conv(u))`` (the RGC "as run" form;
    the original LSTM and time-decay layers fed the raw conv output to the cell and rectified
    after it). A cell that owns the layer's conv (``rgc_as_run``, ``rgc_median``) replaces
    conv and ELU and reads ``u`` itself; a cell that takes feedback (``rgc_median``) also
    receives the sum of its node's cell-entry feedback convs inside its equations. Convs and
    pools use TensorFlow 'same' padding (extra pad at the bottom/right), so a map of side
    ``n`` becomes ``ceil(n / stride)`` and ``ceil(n / 2)``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from brainlike.models.convrnn.cells import cell_options, make_cell
from brainlike.models.convrnn.topology import (
    _ACTIVATIONS,
    _CONV_OWNING_CELLS,
    NodeSpec,
    ReadoutSpec,
)

__all__ = ["Node", "Readout", "SameConv2d"]


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding: output side ``ceil(n / stride)``, the odd pixel
    of padding at the bottom/right (any kernel size and stride)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias=True
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, bias=bias)

    def same_padding(self, x: Tensor) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right)) padding of ``x`` for an output of ``ceil(n / s)``."""
        pads = []
        for n, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        return pads[0], pads[1]

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, ceil(H / s), ceil(W / s))``."""
        (top, bottom), (left, right) = self.same_padding(x)
        if top == bottom and left == right:
            return F.conv2d(x, self.weight, self.bias, self.stride, (top, left))
        return F.conv2d(F.pad(x, (left, right, top, bottom)), self.weight, self.bias, self.stride)


def _pool(kind: str | None) -> nn.Module:
    # 2x2 stride 2 'same': ceil_mode keeps the partial last window; the avg pool then
    # averages the valid pixels only, as TF's 'SAME' avg_pool does
    if kind == "max":
        return nn.MaxPool2d(2, 2, ceil_mode=True)
    if kind == "avg":
        return nn.AvgPool2d(2, 2, ceil_mode=True, count_include_pad=False)
    return nn.Identity()


def _side_after(n: int, stride: int, pool: str | None) -> tuple[int, int]:
    conv = math.ceil(n / stride)
    return conv, (math.ceil(conv / 2) if pool else conv)


class Node(nn.Module):
    """One ConvRNN layer (see the module docstring for its anatomy and the hook contract).

    Parameters
    ----------
    spec : the layer.
    in_channels : channels of the gathered input ``u`` (feedforward + input-entry feedback).
    output_feedback : ``{source: channels}`` of the output-entry feedback edges (1x1 convs).
    spatial : ``(H, W)`` of the cell's feature map at the model's ``input_size``; passed to
        cells that need it (LSTM peepholes) when their options do not give it.
    cell_feedback : ``{source: channels}`` of the cell-entry feedback edges (1x1 convs with
        bias, whose sum the cell receives as ``F_t``).
    """

    def __init__(
        self,
        spec: NodeSpec,
        in_channels: int,
        output_feedback: Mapping[str, int] | None = None,
        spatial: tuple[int, int] | None = None,
        cell_feedback: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__()
        self.name, self.residual = spec.name, spec.residual
        self.in_channels, self.out_channels = in_channels, spec.output_channels
        cell = dict(spec.cell) if spec.cell is not None else None
        owns_conv = cell is not None and cell["kind"] in _CONV_OWNING_CELLS
        if owns_conv:
            self.conv = None
            self.act = None
        else:
            self.conv = SameConv2d(in_channels, spec.out_channels, spec.kernel_size, spec.stride)
            self.act = _ACTIVATIONS[spec.activation]() if spec.activation else nn.Identity()
        self.cell = None
        if cell is not None:
            kind = cell.pop("kind")
            out = int(cell.pop("out_channels", spec.out_channels))
            if owns_conv:
                cell.setdefault("kernel_size", spec.kernel_size)
            if cell.get("peepholes") and "spatial" in cell_options(kind):
                cell.setdefault("spatial", spatial)
            cell_in = in_channels if owns_conv else spec.out_channels
            self.cell = make_cell(kind, cell_in, out, **cell)
        if spec.residual:
            # spec §1, 11-layer blocks: conv3x3 + ELU -> cell -> conv3x3 -> add -> ELU
            self.conv2 = SameConv2d(spec.cell_out_channels, spec.out_channels, 3)
            same = in_channels == spec.out_channels and spec.stride == 1
            self.skip = (
                nn.Identity()
                if same
                else SameConv2d(in_channels, spec.out_channels, 1, spec.stride)
            )
            self.act2 = _ACTIVATIONS[spec.activation]() if spec.activation else nn.Identity()
        self.feedback = nn.ModuleDict(
            {
                src: nn.Conv2d(c, self.out_channels, 1, bias=False)
                for src, c in (output_feedback or {}).items()
            }
        )
        if cell_feedback and (self.cell is None or not self.cell.takes_feedback):
            raise ValueError(f"node {self.name!r}: cell-entry feedback needs a cell that takes it")
        self.cell_feedback = nn.ModuleDict(
            {
                src: nn.Conv2d(c, spec.cell_out_channels, 1)
                for src, c in (cell_feedback or {}).items()
            }
        )
        self.pool = _pool(spec.pool)
        self.state: tuple[Tensor, ...] | None = None

    def reset_state(self) -> None:
        """Forget the cell state (the next step starts from zeros, spec §1)."""
        self.state = None

    def forward(self, u: Tensor, feedback: Mapping[str, Tensor] | None = None) -> Tensor:
        """One time step: gathered input ``u`` ``(B, in_channels, H, W)`` and output-entry
        and cell-entry feedback ``{source: (B, C_src, H', W')}`` (already resized: to the
        pre-pool size, resp. the input size) -> output ``(B, out_channels, H_out, W_out)``.
        Advances the cell state."""
        x = u if self.conv is None else self.act(self.conv(u))
        if self.cell is not None:
            if self.state is None:
                self.state = self.cell.init_state(x)
            if self.cell.takes_feedback:
                # spec "RGC-Median cell, exactly": F_t, 1x1 convs (+ bias) summed over edges
                drive = [conv(feedback[src]) for src, conv in self.cell_feedback.items()]
                fb = torch.stack(drive).sum(0) if drive else None
                x, self.state = self.cell.step(x, self.state, fb)
            else:
                x, self.state = self.cell.step(x, self.state)
        if self.residual:
            x = self.act2(self.conv2(x) + self.skip(u))
        for src, conv in self.feedback.items():
            x = x + conv(feedback[src])  # spec §1 (RGC median): 1x1 conv, added at the output
        return self.pool(x)


class Readout(nn.Module):
    """Readout to ``K`` classes, one call per step: ``(B, C, H, W)`` -> logits ``(B, K)``."""

    def __init__(self, spec: ReadoutSpec, in_channels: int) -> None:
        super().__init__()
        self.kind = spec.kind
        if spec.kind == "conv":
            # spec §1, 6-layer net: conv 2x2 'valid' to the classes, then global average pool
            self.conv = nn.Conv2d(in_channels, spec.out_features, spec.kernel_size)
        else:
            self.fc = nn.Linear(in_channels, spec.out_features)

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, K)`` of a feature map ``(B, C, H, W)``."""
        if self.kind == "conv":
            return self.conv(x).mean(dim=(2, 3))
        return self.fc(x.mean(dim=(2, 3)))
