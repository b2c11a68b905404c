"""Biologically unrolled ConvRNN graphs (spec: recurrent.md §1).

A :class:`GraphSpec` names the layers (:class:`NodeSpec`), the connections between them
(:class:`EdgeSpec`) and the readout (:class:`ReadoutSpec`) (see
:mod:`~brainlike.models.convrnn.topology`); :class:`ConvRNN` builds its layers (one
:class:`Node` each, see :mod:`~brainlike.models.convrnn.layers` for their anatomy) and runs
them in biological time::

    spec = GraphSpec.chain(
        [NodeSpec("conv1", 16, 7, stride=2, pool="max"), NodeSpec("conv2", 32, pool="max")],
        ReadoutSpec("conv2", out_features=10),
        in_channels=3,
    )
    model = ConvRNN(with_cells(spec, {"conv2": "ugrnn"}), time_steps=8, t_on=6)
    logits = model(images)                            # (B, K), read out by model.decoder
    out = model.forward_sequence(images, record=True)
    out.logits                                        # (T, B, K): logits at every step
    out.states["conv2"]                               # (T, B, C, H, W): conv2's outputs

Time (spec §1)
    One step is one layer's processing. The stimulus is node ``"image"`` at depth 0: at step
    ``t`` it shows ``frame[t]`` (the image while ``t < t_on``, the blank after). At step ``t``
    every node reads its predecessors' outputs from step ``t - 1`` (feedforward and feedback
    alike, and the image too); at ``t = 0`` those outputs and all cell states are zeros. So a
    node at depth ``L`` (``L`` feedforward edges from the image; conv1 is at depth 1) first
    sees the image at step ``L``, and without recurrence its output at step ``t >= L`` is the
    plain feedforward network applied to ``frame[t - L]``. The readout is one more layer
    (depth of its source + 1) and emits logits at every step. The original TF code let conv1
    read the current frame (no delay at the image); here the image takes one step like every
    other layer, so the 6-layer net's readout depth is 6 and :attr:`ConvRNN.minimal_steps`
    (the readout depth + 1: the fewest steps in which the image crosses every feedforward
    layer) is 7, and 12 for the 11-layer net, as in the spec; the decoders' ``start`` (step
    ``L`` onward) is the readout depth.

Blank
    ``blank`` is the value shown after ``t_on``, in the space of the model's input (images
    are normalised before they reach the model). The default 0.0 is the mean gray: the
    dataset's mean pixel, which per-channel normalisation maps to zero. For a fixed pixel gray
    level use :func:`gray_blank` (the original code wrote 0.5 into the normalised tensor:
    ``blank=0.5``).

Hooks
    Every layer is a submodule ``nodes.<name>`` (a :class:`Node`) whose ``forward`` is called
    exactly once per time step and returns that node's output ``(B, C, H, W)`` at that step;
    ``readout`` likewise returns the step's logits ``(B, K)``. A forward hook on
    ``"nodes.conv3"`` therefore fires ``T`` times per model forward, in step order, which is
    how time-resolved activations are read. Within a step the nodes run in the order of
    ``spec.nodes``, then the readout. A node's forward takes the already gathered input ``u``
    (feedforward inputs, then input-entry feedback, concatenated on channels) and a dict of
    output- and cell-entry feedback tensors; its cell state lives on the node during one
    unroll.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from brainlike.models.convrnn.cells import truncated_normal_
from brainlike.models.convrnn.decoders import DECODERS, make_decoder
from brainlike.models.convrnn.layers import Node, Readout, SameConv2d, _side_after
from brainlike.models.convrnn.topology import (
    IMAGE,
    EdgeSpec,
    GraphSpec,
    NodeSpec,
    ReadoutSpec,
    feedback_edge,
    with_cells,
)

__all__ = [
    "IMAGE",
    "ConvRNN",
    "EdgeSpec",
    "GraphSpec",
    "Node",
    "NodeSpec",
    "Readout",
    "ReadoutSpec",
    "SameConv2d",
    "TemporalOutput",
    "feedback_edge",
    "gray_blank",
    "with_cells",
]


def gray_blank(
    pixel_mean: Sequence[float], pixel_std: Sequence[float], level: float | None = None
) -> tuple[float, ...]:
    """Blank value in normalised input space for a pixel gray ``level`` (in [0, 1]).

    ``level=None`` is the mean gray (the dataset's mean pixel): zeros. Returns one value per
    channel, ``(level - mean) / std``.
    """
    if len(pixel_mean) != len(pixel_std):
        raise ValueError(
            f"pixel_mean has {len(pixel_mean)} channels but pixel_std has {len(pixel_std)}"
        )
    if level is None:
        return tuple(0.0 for _ in pixel_mean)
    return tuple((level - m) / s for m, s in zip(pixel_mean, pixel_std, strict=True))


class TemporalOutput(NamedTuple):
    """Result of :meth:`ConvRNN.forward_sequence`.

    logits : ``(T, B, K)``, the readout at every step.
    states : ``{node: (T, B, C, H, W)}`` node outputs at every step, or ``None`` unless
        ``record=True``.
    """

    logits: Tensor
    states: dict[str, Tensor] | None


class _Shape(NamedTuple):
    input: tuple[int, int]  # side of the gathered input u
    conv: tuple[int, int]  # pre-pool side
    output: tuple[int, int]
    channels: int


def _resize(x: Tensor, size: tuple[int, int]) -> Tensor:
    # spec §1: bilinear, align_corners=True; an identity resize is skipped (it is exact anyway)
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, size=size, mode="bilinear", align_corners=True)


class ConvRNN(nn.Module):
    """A biologically unrolled ConvRNN (spec: recurrent.md §1); see the module docstring.

    Parameters
    ----------
    spec : the graph (a :class:`GraphSpec` or its ``to_dict()`` form).
    time_steps : default unroll ``T``; ``None``: :attr:`minimal_steps`.
    t_on : steps the image is shown before the blank; ``None``: all ``time_steps``.
    blank : value shown after ``t_on`` in normalised input space: a float or one per input
        channel; 0.0 is the mean gray (see :func:`gray_blank`).
    decoder : decoder kind (``"default"``: the last step; ``"threshold"``,
        ``"max_confidence"``) or a dict of :func:`~brainlike.models.convrnn.decoders.
        make_decoder` arguments; its ``start`` defaults to the readout depth.
    input_size : image side the model is built for: sets LSTM peephole sizes and the default
        shape of :meth:`unit_counts` and dry runs. Other sizes run if no cell needs a size.

    Attributes
    ----------
    nodes : ``ModuleDict`` of :class:`Node` in run order. readout : :class:`Readout`.
    decoder : the :class:`~brainlike.models.convrnn.decoders.Decoder` behind :meth:`forward`.
    spec, time_steps, t_on, blank, in_channels, input_size, out_features.
    """

    def __init__(
        self,
        spec: GraphSpec | Mapping[str, Any],
        time_steps: int | None = None,
        t_on: int | None = None,
        blank: float | Sequence[float] = 0.0,
        decoder: str | Mapping[str, Any] = "default",
        input_size: int = 224,
    ) -> None:
        super().__init__()
        if not isinstance(spec, GraphSpec):
            spec = GraphSpec.from_dict(spec)
        self.spec = spec
        self.in_channels = spec.in_channels
        self.out_features = spec.readout.out_features
        self.input_size = int(input_size)
        self._depths = spec.depths()
        self._ff = {n: spec.inputs(n, "feedforward") for n in spec.names}
        self._fb_in = {n: spec.inputs(n, "feedback", "input") for n in spec.names}
        self._fb_out = {n: spec.inputs(n, "feedback", "output") for n in spec.names}
        self._fb_cell = {n: spec.inputs(n, "feedback", "cell") for n in spec.names}
        self._shape_cache: dict[tuple[int, int], dict[str, _Shape]] = {}
        shapes = self._shapes(self.input_size, self.input_size)

        in_ch = spec.channels()
        out_ch = {n.name: n.output_channels for n in spec.nodes}
        self.nodes = nn.ModuleDict(
            {
                n.name: Node(
                    n,
                    in_ch[n.name],
                    {e.source: out_ch[e.source] for e in self._fb_out[n.name]},
                    shapes[n.name].conv,
                    {e.source: out_ch[e.source] for e in self._fb_cell[n.name]},
                )
                for n in spec.nodes
            }
        )
        self.readout = Readout(spec.readout, out_ch[spec.readout.source])
        self._init_weights()

        self.blank = self._check_blank(blank)
        self.time_steps, self.t_on = self.minimal_steps, self.minimal_steps
        self.set_schedule(time_steps, t_on if t_on is not None else time_steps)
        if isinstance(decoder, str):
            decoder = {"kind": decoder}
        decoder = dict(decoder)
        if decoder.get("kind") not in DECODERS:
            raise ValueError(
                f"decoder kind must be one of {', '.join(DECODERS)}, got {decoder.get('kind')!r}"
            )
        decoder.setdefault("start", self._depths["readout"])
        self._decoder_config = decoder
        self.decoder = make_decoder(**decoder)

    # -- construction helpers ------------------------------------------------------------

    def _init_weights(self) -> None:
        # as in the original TF code: variance-scaling (fan-in, truncated normal) convs with
        # zero biases, readout N(0, 0.01); the cells keep their own initialisation
        for node in self.nodes.values():
            for name, m in node.named_modules():
                if isinstance(m, nn.Conv2d) and name.split(".")[0] != "cell":
                    fan_in = m.in_channels * m.kernel_size[0] * m.kernel_size[1]
                    truncated_normal_(m.weight, math.sqrt(1.0 / fan_in) / 0.87962566103423978)
                    if m.bias is not None:
                        nn.init.zeros_(m.bias)
        for m in self.readout.modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=0.01)
                nn.init.zeros_(m.bias)

    def _check_blank(self, blank: float | Sequence[float]) -> float | tuple[float, ...]:
        if isinstance(blank, (int, float)):
            return float(blank)
        values = tuple(float(b) for b in blank)
        if len(values) != self.in_channels:
            raise ValueError(
                f"blank has {len(values)} values but the model takes {self.in_channels} input"
                " channels; give one value per channel or a single float"
            )
        return values

    def _shapes(self, h: int, w: int) -> dict[str, _Shape]:
        if (h, w) in self._shape_cache:
            return self._shape_cache[(h, w)]
        out: dict[str, _Shape] = {}
        sides = {IMAGE: (h, w)}
        for name in self.spec._topological_order():
            n = self.spec.node(name)
            first = self._ff[name][0].source
            size = sides[first]
            (ch, oh), (cw, ow) = (_side_after(s, n.stride, n.pool) for s in size)
            sides[name] = (oh, ow)
            out[name] = _Shape(size, (ch, cw), (oh, ow), n.output_channels)
        r = self.spec.readout
        side = out[r.source].output
        if r.kind == "conv" and min(side) < r.kernel_size:
            raise ValueError(
                f"at {h}x{w} px the readout's source {r.source!r} is {side[0]}x{side[1]},"
                f" smaller than the {r.kernel_size}x{r.kernel_size} 'valid' readout conv; use"
                " larger images or fewer pooling layers"
            )
        self._shape_cache[(h, w)] = out
        return out

    # -- time ------------------------------------------------------------------------------

    @property
    def depths(self) -> dict[str, int]:
        """Depth of each node and of ``"readout"`` (image = 0; conv1 of a chain = 1)."""
        return dict(self._depths)

    @property
    def minimal_steps(self) -> int:
        """Fewest steps that take the image through every feedforward layer to the readout:
        readout depth + 1 (7 for the 6-layer net, 12 for the 11-layer net; spec §1)."""
        return self._depths["readout"] + 1

    def set_schedule(self, time_steps: int | None = None, t_on: int | None = None) -> None:
        """Set the default unroll length and image-off step (``None`` keeps the current)."""
        t = self.time_steps if time_steps is None else time_steps
        on = self.t_on if t_on is None else t_on
        self._check_schedule(t, on)
        self.time_steps, self.t_on = int(t), int(on)

    @contextlib.contextmanager
    def schedule(self, time_steps: int | None = None, t_on: int | None = None) -> Iterator[None]:
        """Temporarily use another schedule: ``with model.schedule(26, 10): ...`` (spec §1's
        neural-comparison unroll)."""
        old = (self.time_steps, self.t_on)
        self.set_schedule(time_steps, t_on)
        try:
            yield
        finally:
            self.time_steps, self.t_on = old

    @staticmethod
    def _check_schedule(time_steps: int, t_on: int) -> None:
        if not isinstance(time_steps, int) or isinstance(time_steps, bool) or time_steps < 1:
            raise ValueError(f"time_steps must be a positive int, got {time_steps!r}")
        if not isinstance(t_on, int) or isinstance(t_on, bool) or t_on < 0:
            raise ValueError(f"t_on (steps the image is shown) must be an int >= 0, got {t_on!r}")

    def presentation(
        self, x: Tensor, time_steps: int | None = None, t_on: int | None = None
    ) -> Tensor:
        """Frames shown at steps ``0 .. T-1``: ``x`` while ``t < t_on``, then the blank.

        Parameters
        ----------
        x : images ``(B, C, H, W)``.

        Returns
        -------
        Tensor ``(T, B, C, H, W)``
        """
        return torch.stack(self._frames(x, time_steps, t_on))

    def _frames(self, x: Tensor, time_steps: int | None, t_on: int | None) -> list[Tensor]:
        # references to x and one blank, not T copies of the batch
        t = self.time_steps if time_steps is None else time_steps
        on = self.t_on if t_on is None else t_on
        self._check_schedule(t, on)
        blank = self._blank_frame(x)
        return [x if s < on else blank for s in range(t)]  # spec §1: image, then blank

    def _blank_frame(self, x: Tensor) -> Tensor:
        value = torch.as_tensor(self.blank, dtype=x.dtype, device=x.device)
        return value.reshape(1, -1, 1, 1).expand_as(x) if value.dim() else torch.full_like(x, value)

    # -- forward ---------------------------------------------------------------------------

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ConvRNN expects images (B, {self.in_channels}, H, W), got shape {tuple(x.shape)}"
            )

    def forward_sequence(
        self,
        x: Tensor,
        time_steps: int | None = None,
        t_on: int | None = None,
        record: bool = False,
    ) -> TemporalOutput:
        """Unroll in biological time (spec §1).

        Parameters
        ----------
        x : images ``(B, C, H, W)`` (shown for ``t_on`` steps, then the blank), or a movie
            ``(T, B, C, H, W)`` shown frame by frame (``time_steps``/``t_on`` then unused).
        time_steps, t_on : override the model's schedule for this call.
        record : also return every node's output at every step.

        Returns
        -------
        TemporalOutput
            ``logits (T, B, K)`` and, with ``record``, ``states {node: (T, B, C, H, W)}``.
        """
        if x.dim() == 5:
            frames = list(x.unbind(0))  # a movie: frame t is shown at step t
        else:
            self._check_input(x)
            frames = self._frames(x, time_steps, t_on)
        ref = frames[0]
        self._check_input(ref)
        b, _, h, w = ref.shape
        shapes = self._shapes(h, w)
        prev: dict[str, Tensor] = {IMAGE: torch.zeros_like(ref)}  # t = 0 reads zeros (spec §1)
        for name, s in shapes.items():
            prev[name] = ref.new_zeros(b, s.channels, *s.output)
        for node in self.nodes.values():
            node.reset_state()
        logits: list[Tensor] = []
        record_: dict[str, list[Tensor]] = {n: [] for n in self.nodes} if record else {}
        try:
            for frame in frames:
                new: dict[str, Tensor] = {}
                for name, node in self.nodes.items():
                    u, extra = self._gather(name, prev, shapes[name])
                    new[name] = node(u, extra)
                    if record:
                        record_[name].append(new[name])
                logits.append(self.readout(prev[self.spec.readout.source]))
                new[IMAGE] = frame
                prev = new
        finally:
            for node in self.nodes.values():
                node.reset_state()
        states = {n: torch.stack(v) for n, v in record_.items()} if record else None
        return TemporalOutput(torch.stack(logits), states)

    def _gather(
        self, name: str, prev: Mapping[str, Tensor], shape: _Shape
    ) -> tuple[Tensor, dict[str, Tensor]]:
        # spec §1: read step t-1; feedforward first, then feedback, all at the ff input size
        parts = [_resize(prev[e.source], shape.input) for e in self._ff[name]]
        parts += [_resize(prev[e.source], shape.input) for e in self._fb_in[name]]
        u = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        extra = {e.source: _resize(prev[e.source], shape.conv) for e in self._fb_out[name]}
        # spec "RGC-Median cell, exactly": cell feedback is resized to the ff input size
        extra.update({e.source: _resize(prev[e.source], shape.input) for e in self._fb_cell[name]})
        return u, extra

    def forward(self, x: Tensor) -> Tensor:
        """Logits ``(B, K)`` of images ``(B, C, H, W)``: the unrolled per-step logits read out
        by :attr:`decoder` (the last step by default)."""
        return self.decoder(self.forward_sequence(x).logits)

    # -- size ------------------------------------------------------------------------------

    def _input_hw(self, input_shape: Sequence[int] | None) -> tuple[int, int]:
        if input_shape is None:
            return self.input_size, self.input_size
        if len(input_shape) == 3:
            if input_shape[0] != self.in_channels:
                raise ValueError(
                    f"input_shape {tuple(input_shape)} has {input_shape[0]} channels; the model"
                    f" takes {self.in_channels}"
                )
            input_shape = input_shape[1:]
        if len(input_shape) != 2:
            raise ValueError(f"input_shape is (C, H, W) or (H, W), got {tuple(input_shape)}")
        return int(input_shape[0]), int(input_shape[1])

    def output_shapes(self, input_shape: Sequence[int] | None = None) -> dict[str, tuple]:
        """``{node: (C, H, W)}`` of every node's output for images of ``input_shape``
        (``(C, H, W)`` or ``(H, W)``; default ``input_size``)."""
        shapes = self._shapes(*self._input_hw(input_shape))
        return {n: (shapes[n].channels, *shapes[n].output) for n in self.spec.names}

    def unit_counts(self, input_shape: Sequence[int] | None = None) -> dict[str, int]:
        """``{node: C * H * W}`` of every node's output (spec §1's model size in units)."""
        return {n: c * h * w for n, (c, h, w) in self.output_shapes(input_shape).items()}

    def parameter_count(self) -> int:
        """Number of parameters (trainable decoder ``beta`` included)."""
        return sum(p.numel() for p in self.parameters())

    # -- description -----------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """JSON-able description, tagged ``kind: convrnn``; :meth:`from_description` rebuilds
        the same architecture (its ``state_dict`` loads)."""
        return {
            "kind": "convrnn",
            "graph": self.spec.to_dict(),
            "time_steps": self.time_steps,
            "t_on": self.t_on,
            "blank": list(self.blank) if isinstance(self.blank, tuple) else self.blank,
            "decoder": dict(self._decoder_config),
            "input_size": self.input_size,
        }

    @classmethod
    def from_description(cls, d: Mapping[str, Any]) -> ConvRNN:
        """Rebuild a model from :meth:`describe`."""
        if d.get("kind", "convrnn") != "convrnn":
            raise ValueError(f"not a ConvRNN description (kind {d.get('kind')!r})")
        return cls(
            GraphSpec.from_dict(d["graph"]),
            time_steps=d["time_steps"],
            t_on=d["t_on"],
            blank=d["blank"],
            decoder=d["decoder"],
            input_size=d["input_size"],
        )

    def extra_repr(self) -> str:
        return (
            f"time_steps={self.time_steps}, t_on={self.t_on}, blank={self.blank},"
            f" minimal_steps={self.minimal_steps}"
        )
