"""The graph of a biologically unrolled ConvRNN (spec: recurrent.md §1): layers, edges, readout.

A :class:`GraphSpec` names the layers (:class:`NodeSpec`, in the order they run within a
step), the connections between them (:class:`EdgeSpec`: feedforward edges set every node's
depth and input size and must be acyclic; feedback edges enter a node at its input, its
output or its cell) and the readout (:class:`ReadoutSpec`). Specs are frozen dataclasses,
validated on construction, with a plain-dict form (``to_dict`` / ``from_dict``) that
checkpoints store::

    spec = GraphSpec.chain(
        [NodeSpec("conv1", 16, 7, stride=2, pool="max"), NodeSpec("conv2", 32, pool="max")],
        ReadoutSpec("conv2", out_features=10),
        in_channels=3,
        feedback=[("conv2", "conv1")],
    )
    spec = with_cells(spec, {"conv2": "ugrnn"})
    spec.depths()                                     # conv1 1, conv2 2, readout 3

:class:`~brainlike.models.convrnn.graph.ConvRNN` builds the layers and unrolls them in time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from torch import nn

from brainlike.models.convrnn.cells import CELLS, cell_options

__all__ = [
    "IMAGE",
    "EdgeSpec",
    "GraphSpec",
    "NodeSpec",
    "ReadoutSpec",
    "feedback_edge",
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
        return asdict(self)  # the fields in order; the cell dict is copied

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
        return asdict(self)


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
        return asdict(self)


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
