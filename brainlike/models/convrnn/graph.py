"""Biologically unrolled ConvRNN graphs (spec: recurrent.md §1).

A :class:`GraphSpec` names the layers (:class:`NodeSpec`), the connections between them
(:class:`EdgeSpec`) and the readout (:class:`ReadoutSpec`); :class:`ConvRNN` builds and runs
it in biological time::

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

Layer anatomy (spec §1, "ELU everywhere", max-pool 2/2 'same')
    plain:     u -> conv (k x k, stride) -> ELU -> [cell] -> (+ feedback 1x1s) -> pool
    residual:  u -> conv 3x3 -> ELU -> [cell] -> conv 3x3 -> + skip(u) -> ELU
               -> (+ feedback 1x1s) -> pool          (skip: 1x1 projection when shapes differ)
    The cell reads the rectified conv output ``x = ELU(conv(u))`` (the RGC "as run" form;
    the original LSTM and time-decay layers fed the raw conv output to the cell and rectified
    after it). A cell that owns the layer's conv (``rgc_as_run``, ``rgc_median``) replaces
    conv and ELU and reads ``u`` itself; a cell that takes feedback (``rgc_median``) also
    receives the sum of its node's cell-entry feedback convs inside its equations. Convs and pools use TensorFlow 'same' padding (extra pad at the
    bottom/right), so a map of side ``n`` becomes ``ceil(n / stride)`` and ``ceil(n / 2)``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from brainlike.models.convrnn.cells import CELLS, cell_options, make_cell, truncated_normal_
from brainlike.models.convrnn.decoders import DECODERS, make_decoder

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

IMAGE = "image"
"""Name of the stimulus node (depth 0) in edges: ``EdgeSpec("image", "conv1")``."""

_RESERVED = (IMAGE, "readout")
_ACTIVATIONS = {"elu": nn.ELU, "relu": nn.ReLU}
_POOLS = ("max", "avg")
_SAME_DEPTH_CELLS = ("time_decay", "intersection", "rgc")  # add x to their state
_CONV_OWNING_CELLS = ("rgc_as_run", "rgc_median")  # compute x = ELU(W_u * u) themselves
_ENTRIES = ("input", "output", "cell")


# --------------------------------------------------------------------------------------
# specs


def _cell_dict(cell: str | Mapping[str, Any] | None, where: str) -> dict[str, Any] | None:
    if cell is None:
        return None
    if isinstance(cell, str):
        cell = {"kind": cell}
    if not isinstance(cell, Mapping) or not isinstance(cell.get("kind"), str):
        raise ValueError(
            f"{where}: a cell is a kind name ('ugrnn') or a dict with a 'kind' key and the"
            f" cell's options ({{'kind': 'lstm', 'layer_norm': True}}), got {cell!r}"
        )
    out = dict(cell)
    options = {k: v for k, v in out.items() if k not in ("kind", "out_channels")}
    accepted = cell_options(out["kind"])  # raises on an unknown kind
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise ValueError(
            f"{where}: cell {out['kind']!r} has no option {unknown[0]!r}; its options are:"
            f" {', '.join(accepted) or 'none'} (and out_channels)"
        )
    return out


@dataclass(frozen=True)
class NodeSpec:
    """One layer of a ConvRNN.

    Parameters
    ----------
    name : identifier of the node (``conv3``); module path ``nodes.<name>``.
    out_channels : channels of the layer's conv (and of the node output when it has no cell).
    kernel_size : conv kernel side, 'same' padding.
    stride : conv stride.
    activation : ``"elu"`` (spec default), ``"relu"`` or ``None``.
    cell : ``None`` (no recurrence), a cell kind (``"ugrnn"``) or a dict ``{"kind": ...,
        "out_channels": ..., **options}`` for :func:`~brainlike.models.convrnn.cells.make_cell`;
        ``out_channels`` (default: the conv's) sets the node's output channels.
    pool : ``"max"``, ``"avg"`` (2x2 stride 2 'same') or ``None``.
    residual : build the residual block of the 11-layer net (conv 3x3 + ELU -> cell -> conv
        3x3 -> + skip -> ELU).
    """

    name: str
    out_channels: int
    kernel_size: int = 3
    stride: int = 1
    activation: str | None = "elu"
    cell: dict[str, Any] | None = None
    pool: str | None = None
    residual: bool = False

    def __post_init__(self) -> None:
        where = f"node {self.name!r}"
        if not isinstance(self.name, str) or not self.name.isidentifier():
            raise ValueError(
                f"node names must be Python identifiers (they become module names), got"
                f" {self.name!r}"
            )
        if self.name in _RESERVED:
            raise ValueError(f"{self.name!r} is reserved; name the node differently")
        for what in ("out_channels", "kernel_size", "stride"):
            v = getattr(self, what)
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise ValueError(f"{where}: {what} must be a positive int, got {v!r}")
        if self.activation is not None and self.activation not in _ACTIVATIONS:
            raise ValueError(
                f"{where}: activation must be one of {sorted(_ACTIVATIONS)} or None,"
                f" got {self.activation!r}"
            )
        if self.pool is not None and self.pool not in _POOLS:
            raise ValueError(f"{where}: pool must be 'max', 'avg' or None, got {self.pool!r}")
        cell = _cell_dict(self.cell, where)
        object.__setattr__(self, "cell", cell)
        if cell is None:
            return
        kind = cell["kind"]
        if kind in _SAME_DEPTH_CELLS and cell.get("out_channels", self.out_channels) != (
            self.out_channels
        ):
            raise ValueError(
                f"{where}: the {kind!r} cell adds its input to its state, so its depth must"
                f" equal the conv's ({self.out_channels}); got out_channels="
                f"{cell['out_channels']}. Drop the cell's out_channels or change the node's"
            )
        if kind in _CONV_OWNING_CELLS and self.stride != 1:
            raise ValueError(
                f"{where}: the {kind!r} cell owns the layer's conv, which has stride 1;"
                f" got stride={self.stride}. Put the stride in another layer"
            )

    @property
    def cell_out_channels(self) -> int:
        """Channels after the cell (the conv's when there is no cell)."""
        if self.cell is None:
            return self.out_channels
        return int(self.cell.get("out_channels", self.out_channels))

    @property
    def output_channels(self) -> int:
        """Channels of the node's output."""
        return self.out_channels if self.residual else self.cell_out_channels

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-able); :meth:`from_dict` rebuilds it."""
        return {
            "name": self.name,
            "out_channels": self.out_channels,
            "kernel_size": self.kernel_size,
            "stride": self.stride,
            "activation": self.activation,
            "cell": None if self.cell is None else dict(self.cell),
            "pool": self.pool,
            "residual": self.residual,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> NodeSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(**d)


@dataclass(frozen=True)
class EdgeSpec:
    """A connection ``source -> target``.

    Parameters
    ----------
    source : a node name or ``"image"``.
    target : a node name.
    kind : ``"feedforward"`` (sets depth, shapes; must be acyclic) or ``"feedback"``.
    entry : where a feedback input enters. ``"input"`` (spec §1): resized bilinearly
        (align_corners=True) to the target's feedforward input size and concatenated on
        channels after the feedforward inputs. ``"output"`` (the RGC-median edges): resized
        to the target's pre-pool output size, passed through a 1x1 conv (no bias) and added to
        the target's output before pooling. ``"cell"`` (the exact RGC-median edges, spec
        "RGC-Median cell, exactly"): resized to the target's feedforward input size, passed
        through a 1x1 conv with bias, no activation, and handed to the target's cell, which
        adds the sum over such edges to its output drive; the target's cell must take
        feedback (``rgc_median``). Feedforward edges always enter at the input.
    """

    source: str
    target: str
    kind: str = "feedforward"
    entry: str = "input"

    def __post_init__(self) -> None:
        if self.kind not in ("feedforward", "feedback"):
            raise ValueError(
                f"edge {self.source}->{self.target}: kind must be 'feedforward' or 'feedback',"
                f" got {self.kind!r}"
            )
        if self.entry not in _ENTRIES:
            raise ValueError(
                f"edge {self.source}->{self.target}: entry must be 'input', 'output' or 'cell',"
                f" got {self.entry!r}"
            )
        if self.entry != "input" and self.kind != "feedback":
            raise ValueError(
                f"edge {self.source}->{self.target}: only feedback edges can enter at the"
                f" {self.entry}; make it kind='feedback' or entry='input'"
            )

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return {
            "source": self.source,
            "target": self.target,
            "kind": self.kind,
            "entry": self.entry,
        }


@dataclass(frozen=True)
class ReadoutSpec:
    """The readout to classes, emitting logits at every step.

    Parameters
    ----------
    source : node read (its output from the previous step).
    out_features : number of classes ``K``.
    kind : ``"conv"``: conv ``kernel_size`` 'valid' to ``K`` channels, then global average
        pool (6-layer net); ``"linear"``: global average pool, then a linear layer (11-layer).
    kernel_size : kernel of the ``"conv"`` readout.
    """

    source: str
    out_features: int
    kind: str = "conv"
    kernel_size: int = 2

    def __post_init__(self) -> None:
        if self.kind not in ("conv", "linear"):
            raise ValueError(f"readout kind must be 'conv' or 'linear', got {self.kind!r}")
        for what in ("out_features", "kernel_size"):
            v = getattr(self, what)
            if not isinstance(v, int) or v < 1:
                raise ValueError(f"readout {what} must be a positive int, got {v!r}")

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form."""
        return {
            "source": self.source,
            "out_features": self.out_features,
            "kind": self.kind,
            "kernel_size": self.kernel_size,
        }


@dataclass(frozen=True)
class GraphSpec:
    """Nodes (in run order), edges and readout of a ConvRNN; validated on construction.

    Parameters
    ----------
    nodes : the layers, in the order they run within a step (and are listed by hooks).
    edges : connections; within a node's input, feedforward edges come first, then
        input-entry feedback edges, each group in the order listed here. The first
        feedforward edge into a node sets its input size; other inputs are resized to it.
    readout : the readout.
    in_channels : channels of the image.
    """

    nodes: tuple[NodeSpec, ...]
    edges: tuple[EdgeSpec, ...]
    readout: ReadoutSpec
    in_channels: int = 3

    def __post_init__(self) -> None:
        nodes = tuple(n if isinstance(n, NodeSpec) else NodeSpec.from_dict(n) for n in self.nodes)
        edges = tuple(e if isinstance(e, EdgeSpec) else EdgeSpec(**e) for e in self.edges)
        readout = self.readout
        if not isinstance(readout, ReadoutSpec):
            readout = ReadoutSpec(**readout)
        object.__setattr__(self, "nodes", nodes)
        object.__setattr__(self, "edges", edges)
        object.__setattr__(self, "readout", readout)
        if not isinstance(self.in_channels, int) or self.in_channels < 1:
            raise ValueError(f"in_channels must be a positive int, got {self.in_channels!r}")
        if not nodes:
            raise ValueError("a ConvRNN graph needs at least one node")
        names = [n.name for n in nodes]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ValueError(f"node {dup[0]!r} is defined twice; node names must be unique")
        known = set(names)
        seen: set[tuple[str, str]] = set()
        for e in edges:
            for end, name in (("source", e.source), ("target", e.target)):
                ok = name in known or (end == "source" and name == IMAGE)
                if not ok:
                    hint = " (the image is only a source)" if name == IMAGE else ""
                    raise ValueError(
                        f"edge {e.source}->{e.target}: unknown {end} {name!r}{hint}; nodes are"
                        f" {', '.join(names)} and the source {IMAGE!r}"
                    )
            if (e.source, e.target) in seen:
                raise ValueError(
                    f"edge {e.source}->{e.target} is listed twice; keep one (its kind and entry"
                    " say how it is used)"
                )
            seen.add((e.source, e.target))
        if readout.source not in known:
            raise ValueError(
                f"readout source {readout.source!r} is not a node; nodes are {', '.join(names)}"
            )
        for e in edges:
            if e.entry != "cell":
                continue
            cell = next(n.cell for n in nodes if n.name == e.target)
            if cell is None or not CELLS[cell["kind"]].takes_feedback:
                kind = "no cell" if cell is None else f"a {cell['kind']!r} cell"
                raise ValueError(
                    f"edge {e.source}->{e.target} enters at the cell, but {e.target!r} has"
                    f" {kind}, which takes no feedback; give {e.target!r} an 'rgc_median' cell"
                    " or let the edge enter at the 'input' or 'output'"
                )
        for n in names:
            if not any(e.target == n and e.kind == "feedforward" for e in edges):
                raise ValueError(
                    f"node {n!r} has no feedforward input; every node needs one (from"
                    f" {IMAGE!r} or another node) to know when the image reaches it and its"
                    " input size"
                )
        self._topological_order()  # raises on a feedforward cycle

    # -- structure -----------------------------------------------------------------------

    def node(self, name: str) -> NodeSpec:
        """The :class:`NodeSpec` called ``name``."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise ValueError(f"no node {name!r}; nodes are {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        """Node names in run order."""
        return [n.name for n in self.nodes]

    def inputs(self, name: str, kind: str, entry: str = "input") -> list[EdgeSpec]:
        """Edges into ``name`` of ``kind`` (and ``entry``), in listed order."""
        return [e for e in self.edges if e.target == name and e.kind == kind and e.entry == entry]

    def _topological_order(self) -> list[str]:
        ff = [e for e in self.edges if e.kind == "feedforward"]
        pending = {n: {e.source for e in ff if e.target == n} - {IMAGE} for n in self.names}
        order: list[str] = []
        while pending:
            ready = [n for n in self.names if n in pending and not pending[n]]
            if not ready:
                raise ValueError(
                    "the feedforward edges form a cycle through "
                    f"{', '.join(sorted(pending))}; mark the edge that closes the loop as"
                    " kind='feedback'"
                )
            for n in ready:
                order.append(n)
                del pending[n]
            for deps in pending.values():
                deps.difference_update(ready)
        return order

    def depths(self) -> dict[str, int]:
        """Depth of every node and of ``"readout"``: the longest feedforward path from the
        image (depth 0), in edges. A node at depth ``L`` first sees the image at step ``L``
        when that is also its shortest path (as in a chain)."""
        depth = {IMAGE: 0}
        for n in self._topological_order():
            depth[n] = 1 + max(depth[e.source] for e in self.inputs(n, "feedforward"))
        depth["readout"] = depth[self.readout.source] + 1
        del depth[IMAGE]
        return depth

    def channels(self) -> dict[str, int]:
        """Input channels of every node's first module (feedforward + input-entry feedback),
        keyed by node."""
        out_ch = {IMAGE: self.in_channels, **{n.name: n.output_channels for n in self.nodes}}
        return {
            n: sum(out_ch[e.source] for e in self.inputs(n, "feedforward"))
            + sum(out_ch[e.source] for e in self.inputs(n, "feedback", "input"))
            for n in self.names
        }

    # -- (de)serialisation ---------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """Plain-dict form (JSON-able); :meth:`from_dict` rebuilds the same spec."""
        return {
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [e.to_dict() for e in self.edges],
            "readout": self.readout.to_dict(),
            "in_channels": self.in_channels,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> GraphSpec:
        """Inverse of :meth:`to_dict`."""
        return cls(
            nodes=tuple(NodeSpec.from_dict(n) for n in d["nodes"]),
            edges=tuple(EdgeSpec(**e) for e in d["edges"]),
            readout=ReadoutSpec(**d["readout"]),
            in_channels=int(d["in_channels"]),
        )

    @classmethod
    def chain(
        cls,
        nodes: Sequence[NodeSpec],
        readout: ReadoutSpec,
        in_channels: int = 3,
        feedback: Sequence[EdgeSpec | tuple[str, str] | Mapping[str, Any]] = (),
    ) -> GraphSpec:
        """A feedforward chain ``image -> nodes[0] -> nodes[1] -> ...`` plus ``feedback``
        edges (``(source, target)`` pairs enter at the input, or full :class:`EdgeSpec` s)."""
        names = [n.name for n in nodes]
        edges = [EdgeSpec(a, b) for a, b in zip([IMAGE, *names[:-1]], names, strict=True)]
        edges += [feedback_edge(f) for f in feedback]
        return cls(tuple(nodes), tuple(edges), readout, in_channels)


def feedback_edge(f: EdgeSpec | tuple[str, ...] | Mapping[str, Any]) -> EdgeSpec:
    """A feedback :class:`EdgeSpec` from ``(source, target)`` (enters at the input),
    ``(source, target, entry)``, a dict of EdgeSpec fields, or an EdgeSpec (returned as is)."""
    if isinstance(f, EdgeSpec):
        return f
    if isinstance(f, Mapping):
        return EdgeSpec(**{"kind": "feedback", **f})
    if isinstance(f, Sequence) and not isinstance(f, str) and len(f) in (2, 3):
        return EdgeSpec(f[0], f[1], "feedback", *(f[2:]))
    raise ValueError(
        f"a feedback edge is (source, target), (source, target, entry), a dict or an EdgeSpec;"
        f" got {f!r}"
    )


def with_cells(spec: GraphSpec, cells: Mapping[str, str | Mapping[str, Any] | None]) -> GraphSpec:
    """Implant cells into layers: ``with_cells(spec, {"conv4": "ugrnn", "conv5": {"kind":
    "lstm", "layer_norm": True}})``; ``None`` removes a layer's cell. Returns a new spec."""
    unknown = sorted(set(cells) - set(spec.names))
    if unknown:
        raise ValueError(
            f"cannot put a cell in {unknown[0]!r}: no such node; nodes are {', '.join(spec.names)}"
        )
    nodes = tuple(
        replace(n, cell=cells[n.name]) if n.name in cells else n  # type: ignore[arg-type]
        for n in spec.nodes
    )
    return replace(spec, nodes=nodes)


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


# --------------------------------------------------------------------------------------
# modules


class SameConv2d(nn.Conv2d):
    """Conv2d with TensorFlow 'same' padding: output side ``ceil(n / stride)``, the odd pixel
    of padding at the bottom/right (any kernel size and stride)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, bias=True
    ) -> None:
        super().__init__(in_channels, out_channels, kernel_size, stride, 0, bias=bias)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, ceil(H / s), ceil(W / s))``."""
        pads = []
        for n, k, s in zip(x.shape[-2:], self.kernel_size, self.stride, strict=True):
            total = max((math.ceil(n / s) - 1) * s + k - n, 0)
            pads.append((total // 2, total - total // 2))
        (top, bottom), (left, right) = pads
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
