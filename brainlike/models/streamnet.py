"""StreamNets: shallow, multi-stream networks of mouse visual cortex (spec: mouse-and-entorhinal.md §1).

Mouse visual cortex is a shallow hierarchy: primary visual cortex (VISp) feeds several
intermediate ("higher visual") areas in parallel, which feed a few output areas; VISp also
projects to the output areas directly. A StreamNet is that graph with AlexNet's first layers:

- the shallow module, **VISp**: conv 11x11 stride 4 pad 2 (in_channels -> 64), BN, ReLU,
  max-pool 3/2 (64 x 7 x 7 at 64 px);
- one intermediate module per **stream**: conv 5x5 pad 2 (64 -> 192), BN, ReLU, max-pool 3/2,
  conv 3x3 pad 1 (192 -> 384), BN, ReLU (384 x 3 x 3);
- the deep modules, the output areas (**VISpor**, and **VISam** with two outputs): each is the
  sum of one connection from VISp (conv 3x3 stride 2 pad 0, 64 -> 256, BN, ReLU) and one
  connection from every stream (conv 3x3 pad 1, 384 -> 256, BN, ReLU) (256 x 3 x 3);
- the readout: output areas concatenated, adaptive average pooling to 6 x 6, flattened (the
  *embedding*), dropout, one linear layer.

Every connection has its own weights, and the ReLU belongs to the connection: the spec's table
lists "conv, BN, ReLU" inside each bracket that the area sums, so an output area is a sum of
rectified inputs (non-negative), not a rectified sum.

Variants (the source's Table 3.2): ``single`` (one stream, named ``stream``; output VISpor),
``dual`` (two streams, the ventral/dorsal distinction the source names: ``VISl``, the hub of
the ventral stream, and ``VISal``, the hub of the dorsal stream (Wang, Sporns & Burkhalter
2012); outputs VISpor, the end of the ventral stream, and VISam, of the dorsal one) and ``six``
(VISl, VISrl, VISal, VISli, VISpm, VISpl; outputs VISpor and VISam). Each area is one
top-level module whose output is the area's response, so activations are read by area name;
:attr:`StreamNet.fit_layers` names the areas compared with recordings (VISp, the streams, the
output areas: 8,896 / 14,656 / 28,480 units at 64 px).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from brainlike.models.zoo import SizedIO
from brainlike.registry import register_model

__all__ = [
    "STREAMNET_VARIANTS",
    "DeepArea",
    "IntermediateArea",
    "ShallowArea",
    "StreamNet",
    "require_input_size",
    "streamnet_min_input_size",
]

#: variant -> (stream names, output area names); spec: mouse-and-entorhinal.md §1
STREAMNET_VARIANTS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "single": (("stream",), ("VISpor",)),
    "dual": (("VISl", "VISal"), ("VISpor", "VISam")),
    "six": (("VISl", "VISrl", "VISal", "VISli", "VISpm", "VISpl"), ("VISpor", "VISam")),
}

#: side of the readout's adaptive average pooling (AlexNet's 6 x 6)
READOUT_GRID = 6


def _conv_out(size: int, kernel: int, stride: int = 1, pad: int = 0) -> int:
    """Output side of a convolution or pooling window (floor rounding, as in torch)."""
    return (size + 2 * pad - kernel) // stride + 1


def streamnet_area_sizes(input_size: int) -> dict[str, int]:
    """Spatial side of each module's output for an ``input_size`` image (``<= 0``: too small).

    Returns
    -------
    dict with ``conv1`` (VISp before pooling), ``VISp``, ``stream`` (after its pool, kept by
    the 3x3 pad-1 conv) and ``deep`` (VISp -> conv 3x3 stride 2 pad 0).
    """
    conv1 = _conv_out(input_size, 11, 4, 2)
    visp = _conv_out(conv1, 3, 2) if conv1 >= 3 else 0
    stream = _conv_out(visp, 3, 2) if visp >= 3 else 0
    deep = _conv_out(visp, 3, 2) if visp >= 3 else 0
    return {"conv1": conv1, "VISp": visp, "stream": stream, "deep": deep}


def streamnet_min_input_size() -> int:
    """The smallest image side a StreamNet takes: every window must fit its input.

    The streams' max-pool 3/2 and the VISp -> output conv 3x3 stride 2 both need VISp to be at
    least 3 x 3, so the first pool needs 7 x 7 and the stride-4 conv 31 px: 31.
    """
    size = 1
    while streamnet_area_sizes(size)["stream"] < 1:
        size += 1
    return size


def require_input_size(model: str, input_size: int | None, smallest: int) -> None:
    """Raise one ``ValueError`` line when ``input_size`` is below what ``model`` takes.

    Parameters
    ----------
    model : the architecture's name, for the message.
    input_size : the image side asked for (``None``: not known, nothing checked).
    smallest : the smallest side the architecture takes.
    """
    if input_size is not None and input_size < smallest:
        raise ValueError(
            f"{model} takes images of at least {smallest} x {smallest} px, got {input_size} px; "
            f"set data.input_size to {smallest} or more"
        )


def _conv_bn_relu(
    c_in: int, c_out: int, kernel: int, stride: int = 1, pad: int = 0
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, kernel, stride, pad), nn.BatchNorm2d(c_out), nn.ReLU()
    )


class ShallowArea(nn.Module):
    """VISp: conv 11x11 stride 4 pad 2 (in_channels -> 64), BN, ReLU, max-pool 3/2."""

    def __init__(self, in_channels: int = 3, channels: int = 64) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, channels, 11, 4, 2)
        self.bn = nn.BatchNorm2d(channels)
        self.relu = nn.ReLU()
        self.pool = nn.MaxPool2d(3, 2)

    def forward(self, x: Tensor) -> Tensor:
        return self.pool(self.relu(self.bn(self.conv(x))))


class IntermediateArea(nn.Module):
    """One stream: conv 5x5 pad 2 (64 -> 192), BN, ReLU, max-pool 3/2, conv 3x3 pad 1
    (192 -> 384), BN, ReLU."""

    def __init__(self, in_channels: int = 64, hidden: int = 192, channels: int = 384) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_channels, hidden, 5, 1, 2)
        self.bn1 = nn.BatchNorm2d(hidden)
        self.relu1 = nn.ReLU()
        self.pool = nn.MaxPool2d(3, 2)
        self.conv2 = nn.Conv2d(hidden, channels, 3, 1, 1)
        self.bn2 = nn.BatchNorm2d(channels)
        self.relu2 = nn.ReLU()

    def forward(self, x: Tensor) -> Tensor:
        x = self.pool(self.relu1(self.bn1(self.conv1(x))))
        return self.relu2(self.bn2(self.conv2(x)))


class DeepArea(nn.Module):
    """An output area: the sum of its rectified input connections (spec: §1, deep module).

    ``from_VISp`` is conv 3x3 stride 2 pad 0 (64 -> 256), BN, ReLU; ``from_streams[name]`` is
    conv 3x3 pad 1 (384 -> 256), BN, ReLU, one per stream, each with its own weights.
    """

    def __init__(
        self,
        streams: tuple[str, ...],
        visp_channels: int = 64,
        stream_channels: int = 384,
        channels: int = 256,
    ) -> None:
        super().__init__()
        self.from_VISp = _conv_bn_relu(visp_channels, channels, 3, 2, 0)
        self.from_streams = nn.ModuleDict(
            {name: _conv_bn_relu(stream_channels, channels, 3, 1, 1) for name in streams}
        )

    def forward(self, visp: Tensor, streams: dict[str, Tensor]) -> Tensor:
        # spec: mouse-and-entorhinal.md §1 -- area = sum over connections of ReLU(BN(conv(input)))
        out = self.from_VISp(visp)
        for name, connection in self.from_streams.items():
            out = out + connection(streams[name])
        return out


class StreamNet(SizedIO, nn.Module):
    """A single-, dual- or six-stream StreamNet (spec: mouse-and-entorhinal.md §1).

    Parameters
    ----------
    variant : ``"single"``, ``"dual"`` or ``"six"`` (:data:`STREAMNET_VARIANTS`).
    in_channels : image channels.
    out_features : classes of the linear readout; ``0``: no readout, ``forward`` returns the
        embedding ``(N, embedding_dim)`` (output areas concatenated, pooled to 6 x 6, flattened).
    input_size : the image side the model is built for (any size from :attr:`min_input_size`
        on works; the readout pools adaptively). A smaller one raises ``ValueError``.
    dropout : dropout probability before the readout's linear layer.

    Attributes
    ----------
    streams, outputs : names of the stream and output-area modules.
    fit_layers : the areas compared with neural recordings: VISp, the streams, the outputs.
    embedding_dim : ``outputs * 256 * 36``.
    """

    #: the smallest image side (31 px; see :func:`streamnet_min_input_size`)
    min_input_size: ClassVar[int] = 31

    def __init__(
        self,
        variant: str = "dual",
        in_channels: int = 3,
        out_features: int = 10,
        input_size: int = 64,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        if variant not in STREAMNET_VARIANTS:
            raise ValueError(
                f"unknown StreamNet variant {variant!r}; choose one of "
                f"{', '.join(STREAMNET_VARIANTS)}"
            )
        require_input_size(f"StreamNet ({variant})", input_size, self.min_input_size)
        if out_features < 0:
            raise ValueError(f"out_features must be >= 0 (0: the embedding), got {out_features}")
        streams, outputs = STREAMNET_VARIANTS[variant]
        self.streams, self.outputs = streams, outputs
        self.VISp = ShallowArea(in_channels)
        for name in streams:
            self.add_module(name, IntermediateArea())
        for name in outputs:
            self.add_module(name, DeepArea(streams))
        self.embedding_dim = len(outputs) * 256 * READOUT_GRID * READOUT_GRID
        # the embedding is channel-major (C, 6, 6) flattened: C channels for a pooled head
        self.embedding_channels = len(outputs) * 256
        if out_features > 0:
            self.dropout = nn.Dropout(dropout)
            self.fc = nn.Linear(self.embedding_dim, out_features)
        self._config = {
            "variant": variant,
            "in_channels": in_channels,
            "out_features": out_features,
            "input_size": input_size,
            "dropout": dropout,
        }

    @property
    def fit_layers(self) -> list[str]:
        """The areas compared with neural recordings, in forward order."""
        return ["VISp", *self.streams, *self.outputs]

    def describe(self) -> dict:
        """Constructor arguments, tagged ``kind: streamnet``."""
        return {"kind": "streamnet", **self._config}

    def embed(self, x: Tensor) -> Tensor:
        """The readout's input ``(N, embedding_dim)``: output areas concatenated, pooled to
        6 x 6, flattened."""
        visp = self.VISp(x)
        streams = {name: getattr(self, name)(visp) for name in self.streams}
        areas = torch.cat([getattr(self, name)(visp, streams) for name in self.outputs], 1)
        return F.adaptive_avg_pool2d(areas, READOUT_GRID).flatten(1)

    def forward(self, x: Tensor) -> Tensor:
        h = self.embed(x)
        if self.out_features == 0:
            return h
        return self.fc(self.dropout(h))


def _streamnet_builder(variant: str):
    streams, outputs = STREAMNET_VARIANTS[variant]

    def build(
        in_channels: int = 3, out_features: int = 10, input_size: int = 64, dropout: float = 0.5
    ) -> StreamNet:
        return StreamNet(variant, in_channels, out_features, input_size, dropout)

    build.__doc__ = (
        f"StreamNet, {variant} stream ({', '.join(streams)} -> {' + '.join(outputs)}); "
        "mouse visual cortex at 64 px"
    )
    return build


for _variant in STREAMNET_VARIANTS:
    register_model(f"streamnet-{_variant}", in_channels=3, out_features=10, input_size=64)(
        _streamnet_builder(_variant)
    )
