"""The ConvRNN base networks of the thesis (spec: recurrent.md §1), registered by name.

- ``convrnn6``: the 6-layer BaseNet, conv 7x7/2 64 -> 3x3 128 -> 3x3 256 -> 3x3 256 -> 3x3 512,
  each followed by max-pool, readout conv 2x2 'valid' + global average pool (node sides at
  224 px: 56, 28, 14, 7, 4 after conv1's 112). Cells go in conv3-conv5.
- ``convrnn6-lstm``: the shallow LSTM found by the search (conv3 2x2 128 ch, conv4 3x3 256 ch
  with peepholes, conv5 4x4 256 ch, forget biases 1.356, 0.978, 0.925, all with layer norm).
- ``convrnn11``: the 11-layer BaseNet, channels 64 (7x7/2), 64, 64, 128, 128, 256, 256, 512,
  512, 512, max-pool after blocks 1, 4, 6, 7, 10, blocks 2-10 residual, average pool + FC.
  Cells go in conv4-conv10.
- ``convrnn-rgc-median``: the median reciprocal-gated model of the architecture search,
  exactly (spec: recurrent.md, "RGC-Median cell, exactly"): an 11-layer base of channels 64
  (7x7/2), 128, 128, 128, 128, 256, 256, 256, 512, 512 (conv -> cell -> pool, no residual
  blocks) with ``rgc_median`` cells (memory depth 64, depth-separable 7x7 gates, gate scales
  0.9219 and 0.7007, the layer input added as a residual) in conv4-conv10, and feedback
  conv8->conv5, conv9->conv6, conv10->conv7, conv7->conv6, conv10->conv9 (1x1 convs with bias
  on bilinearly resized outputs, entering the target cell's output drive).
- ``convrnn-rgc-approx``: the approximation that was registered as ``convrnn-rgc-median``
  before the exact cell existed, kept under an honest name: the same base and feedback
  sources, but ``rgc_as_run`` cells (3x3 gates, no gate scales, memory as deep as the output,
  no residual) and feedback 1x1 convs without bias added after the cell. Its parameter count
  is not the original's.
- ``-small`` variants: width 0.25 and 32 px images, for CPU work on digits (8x8 upsampled to
  32) and CIFAR.

Every constructor takes ``in_channels``, ``out_features`` (classes), ``width`` (channel
multiplier), ``input_size``, ``cells`` (a cell kind for the standard cell layers, or
``{layer: kind or {"kind": ..., **options}}``), ``feedback`` (extra edges: ``(source,
target)`` pairs enter at the input, spec §1), ``time_steps``, ``t_on``, ``decoder`` and
``blank`` (see :class:`~brainlike.models.convrnn.graph.ConvRNN`). Without cells and feedback a
net is the feedforward BaseNet, unrolled the same way (spec §1's feedforward control).

Images smaller than 112 px get the same nets with a 3x3 stride-1 conv1 and no pool after it
(as ``grcnn-small`` does), so 32 px inputs end at 2x2 before the readout.

Known differences from the released RGC-median code: the memory depth scales with
``width`` like every channel count (64 at width 1), and kernels are initialised by fan-in
variance scaling as PyTorch counts the fan-in (per output unit).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from brainlike.models.convrnn.cells import CELLS
from brainlike.models.convrnn.graph import ConvRNN
from brainlike.models.convrnn.topology import (
    EdgeSpec,
    GraphSpec,
    NodeSpec,
    ReadoutSpec,
    feedback_edge,
    with_cells,
)
from brainlike.registry import register_model

__all__ = [
    "CELL_LAYERS",
    "NEURAL_SCHEDULE",
    "RGC_MEDIAN_CELL_DEPTH",
    "RGC_MEDIAN_FEEDBACK",
    "TRAIN_SCHEDULE",
    "base6_spec",
    "base11_spec",
    "convrnn6",
    "convrnn6_lstm",
    "convrnn11",
    "rgc_approx",
    "rgc_approx_spec",
    "rgc_median",
    "rgc_median_spec",
    "shallow_lstm_cells",
]

TRAIN_SCHEDULE = {6: (16, 12), 11: (17, 12)}
"""(time_steps, t_on) used for training the 6- and 11-layer nets (spec §1)."""

NEURAL_SCHEDULE = (26, 10)
"""(time_steps, t_on) for comparison with neural data: 10 ms bins over 0-260 ms (spec §1)."""

CELL_LAYERS = {
    6: ("conv3", "conv4", "conv5"),
    11: tuple(f"conv{i}" for i in range(4, 11)),
}
"""Layers that hold the cells of the 6- and 11-layer nets (spec §1)."""

RGC_MEDIAN_FEEDBACK = (
    ("conv8", "conv5"),
    ("conv9", "conv6"),
    ("conv10", "conv7"),
    ("conv7", "conv6"),
    ("conv10", "conv9"),
)
"""Long-range feedback of the RGC-median model (spec §1)."""

RGC_MEDIAN_CELL_DEPTH = 64
"""Channels of the RGC-median cells' memory at width 1 (spec "RGC-Median cell, exactly")."""

_RGC_MEDIAN_CHANNELS = (64, 128, 128, 128, 128, 256, 256, 256, 512, 512)

CellsArg = str | Mapping[str, Any] | None
FeedbackArg = Sequence[EdgeSpec | tuple[str, ...] | Mapping[str, Any]]


def _scaled(channels: int, width: float) -> int:
    if width <= 0:
        raise ValueError(f"width must be positive, got {width}")
    return max(1, round(channels * width))


def _stem(in_size: int) -> tuple[int, int, str | None]:
    """conv1's kernel, stride and pool: ImageNet stem at >= 112 px, a light one below."""
    return (7, 2, "max") if in_size >= 112 else (3, 1, None)


def _cells(cells: CellsArg, depth: int) -> dict[str, Any]:
    if cells is None:
        return {}
    if isinstance(cells, str) or (isinstance(cells, Mapping) and "kind" in cells):
        # one cell (a kind or a single cell dict) for every standard cell layer
        return {layer: cells for layer in CELL_LAYERS[depth]}
    if isinstance(cells, Mapping):
        return dict(cells)
    raise ValueError(
        f"cells is a cell kind ('ugrnn'), one cell dict ({{'kind': 'lstm', ...}}) or"
        f" {{layer: cell}}; got {cells!r}"
    )


def base6_spec(
    in_channels: int = 3,
    out_features: int = 1000,
    width: float = 1.0,
    input_size: int = 224,
    cells: CellsArg = None,
    feedback: FeedbackArg = (),
) -> GraphSpec:
    """Graph of the 6-layer BaseNet (spec §1); ``cells`` as in the module docstring."""
    k, s, pool = _stem(input_size)
    ch = [_scaled(c, width) for c in (64, 128, 256, 256, 512)]
    nodes = [NodeSpec("conv1", ch[0], k, s, pool=pool)]
    nodes += [NodeSpec(f"conv{i}", ch[i - 1], 3, pool="max") for i in range(2, 6)]
    spec = GraphSpec.chain(
        nodes, ReadoutSpec("conv5", out_features, "conv", 2), in_channels, feedback
    )
    return with_cells(spec, _cells(cells, 6))


def base11_spec(
    in_channels: int = 3,
    out_features: int = 1000,
    width: float = 1.0,
    input_size: int = 224,
    cells: CellsArg = None,
    feedback: FeedbackArg = (),
    channels: Sequence[int] = (64, 64, 64, 128, 128, 256, 256, 512, 512, 512),
    residual: bool = True,
) -> GraphSpec:
    """Graph of the 11-layer BaseNet (spec §1): ``channels`` of conv1..conv10 (before
    ``width``), max-pool after 1, 4, 6, 7, 10, blocks 2-10 residual unless ``residual=False``,
    average pool + FC readout."""
    if len(channels) != 10:
        raise ValueError(f"the 11-layer net has 10 conv layers; got {len(channels)} channels")
    k, s, pool = _stem(input_size)
    ch = [_scaled(c, width) for c in channels]
    nodes = [NodeSpec("conv1", ch[0], k, s, pool=pool)]
    nodes += [
        NodeSpec(
            f"conv{i}",
            ch[i - 1],
            3,
            pool="max" if i in (4, 6, 7, 10) else None,
            residual=residual,
        )
        for i in range(2, 11)
    ]
    spec = GraphSpec.chain(
        nodes, ReadoutSpec("conv10", out_features, "linear"), in_channels, feedback
    )
    return with_cells(spec, _cells(cells, 11))


def shallow_lstm_cells(width: float = 1.0) -> dict[str, dict[str, Any]]:
    """Cells of the shallow LSTM found by the search (spec §1), for :func:`base6_spec`."""
    return {
        "conv3": {
            "kind": "lstm",
            "out_channels": _scaled(128, width),
            "kernel_size": 2,
            "forget_bias": 1.356,
            "layer_norm": True,
        },
        "conv4": {
            "kind": "lstm",
            "out_channels": _scaled(256, width),
            "kernel_size": 3,
            "forget_bias": 0.978,
            "peepholes": True,
            "layer_norm": True,
        },
        "conv5": {
            "kind": "lstm",
            "out_channels": _scaled(256, width),
            "kernel_size": 4,
            "forget_bias": 0.925,
            "layer_norm": True,
        },
    }


def _pairs_entering(feedback: FeedbackArg, entry: Callable[[str], str]) -> list:
    """``feedback`` with each ``(source, target)`` pair made a feedback :class:`EdgeSpec`
    entering where ``entry(target)`` says; other forms are kept as given."""
    return [
        EdgeSpec(f[0], f[1], "feedback", entry(f[1])) if isinstance(f, tuple) and len(f) == 2 else f
        for f in feedback
    ]


def rgc_median_spec(
    in_channels: int = 3,
    out_features: int = 1000,
    width: float = 1.0,
    input_size: int = 224,
    cells: CellsArg = None,
    feedback: FeedbackArg = RGC_MEDIAN_FEEDBACK,
) -> GraphSpec:
    """Graph of the RGC-median model, exactly (spec: recurrent.md, "RGC-Median cell, exactly").

    ``cells`` replaces the default ``rgc_median`` cells (memory depth ``64 * width``) of
    conv4-conv10. A ``(source, target)`` feedback pair enters the target's cell when that cell
    takes feedback (``rgc_median``: a 1x1 conv with bias inside the output drive), else it is
    added at the target's output (1x1 conv, no bias)."""
    default = {"kind": "rgc_median", "cell_depth": _scaled(RGC_MEDIAN_CELL_DEPTH, width)}
    spec = base11_spec(
        in_channels,
        out_features,
        width,
        input_size,
        cells=cells if cells is not None else default,
        channels=_RGC_MEDIAN_CHANNELS,
        residual=False,  # the median's layers are conv -> cell -> pool, no residual blocks
    )

    def entry(target: str) -> str:
        cell = spec.node(target).cell if target in spec.names else None
        return "cell" if cell is not None and CELLS[cell["kind"]].takes_feedback else "output"

    fb = _pairs_entering(feedback, entry)
    return replace(spec, edges=spec.edges + tuple(feedback_edge(f) for f in fb))


def rgc_approx_spec(
    in_channels: int = 3,
    out_features: int = 1000,
    width: float = 1.0,
    input_size: int = 224,
    cells: CellsArg = None,
    feedback: FeedbackArg = RGC_MEDIAN_FEEDBACK,
) -> GraphSpec:
    """Graph of ``convrnn-rgc-approx``: the RGC-median base and feedback sources with
    ``rgc_as_run`` cells (3x3) in conv4-conv10 and feedback added at the output (an
    approximation of :func:`rgc_median_spec`; see the module docstring).

    ``cells`` replaces the default ``rgc_as_run`` cells; ``feedback`` pairs enter at the output
    (1x1 conv without bias, added)."""
    fb = _pairs_entering(feedback, lambda target: "output")
    return base11_spec(
        in_channels,
        out_features,
        width,
        input_size,
        cells=cells if cells is not None else "rgc_as_run",
        feedback=fb,
        channels=_RGC_MEDIAN_CHANNELS,
        residual=False,
    )


def _model(
    spec: GraphSpec,
    depth: int,
    input_size: int,
    time_steps: int | None,
    t_on: int | None,
    decoder: str | Mapping[str, Any],
    blank: float | Sequence[float],
) -> ConvRNN:
    default_t, default_on = TRAIN_SCHEDULE[depth]
    return ConvRNN(
        spec,
        time_steps=default_t if time_steps is None else time_steps,
        t_on=default_on if t_on is None else t_on,
        blank=blank,
        decoder=decoder,
        input_size=input_size,
    )


def _registered_net(
    name: str,
    graph: Callable[..., GraphSpec],
    depth: int,
    description: str,
    default_feedback: FeedbackArg = (),
) -> Callable[..., ConvRNN]:
    """The constructor registered as ``name``: the net whose graph ``graph`` builds (from
    ``in_channels, out_features, width, input_size, cells, feedback``), unrolled on the
    ``depth``-layer schedule of :data:`TRAIN_SCHEDULE` unless ``time_steps``/``t_on`` say."""

    def build(
        in_channels: int = 3,
        out_features: int = 1000,
        width: float = 1.0,
        input_size: int = 224,
        cells: CellsArg = None,
        feedback: FeedbackArg = default_feedback,
        time_steps: int | None = None,
        t_on: int | None = None,
        decoder: str | Mapping[str, Any] = "default",
        blank: float | Sequence[float] = 0.0,
    ) -> ConvRNN:
        spec = graph(in_channels, out_features, width, input_size, cells, feedback)
        return _model(spec, depth, input_size, time_steps, t_on, decoder, blank)

    build.__name__ = build.__qualname__ = name.removeprefix("convrnn-").replace("-", "_")
    build.__doc__ = description
    return register_model(name, in_channels=3, out_features=1000)(build)


convrnn6 = _registered_net(
    "convrnn6",
    base6_spec,
    6,
    "6-layer ConvRNN BaseNet (cells in conv3-5 via cells=), 16 steps, image off at 12",
)
convrnn11 = _registered_net(
    "convrnn11",
    base11_spec,
    11,
    "11-layer residual ConvRNN BaseNet (cells in conv4-10 via cells=), 17 steps, off at 12",
)
rgc_median = _registered_net(
    "convrnn-rgc-median",
    rgc_median_spec,
    11,
    "RGC-median ConvRNN of the search, exact cells (DS 7x7 gates) in conv4-10, 5 feedbacks",
    RGC_MEDIAN_FEEDBACK,
)
rgc_approx = _registered_net(
    "convrnn-rgc-approx",
    rgc_approx_spec,
    11,
    "Approximate RGC median: 3x3 rgc_as_run cells, no gate scales (not the original)",
    RGC_MEDIAN_FEEDBACK,
)


@register_model("convrnn6-lstm", in_channels=3, out_features=1000)
def convrnn6_lstm(
    in_channels: int = 3,
    out_features: int = 1000,
    width: float = 1.0,
    input_size: int = 224,
    feedback: FeedbackArg = (),
    time_steps: int | None = None,
    t_on: int | None = None,
    decoder: str | Mapping[str, Any] = "default",
    blank: float | Sequence[float] = 0.0,
) -> ConvRNN:
    """6-layer ConvRNN with the shallow LSTM cells found by the architecture search"""
    # its cells are fixed: no ``cells`` argument
    spec = base6_spec(
        in_channels, out_features, width, input_size, shallow_lstm_cells(width), feedback
    )
    return _model(spec, 6, input_size, time_steps, t_on, decoder, blank)


def _small(fn, **defaults: Any):
    def build(**kwargs: Any) -> ConvRNN:
        return fn(**{**defaults, **kwargs})

    return build


_SMALL = {"width": 0.25, "input_size": 32, "out_features": 10}
for _name, _fn, _doc in (
    ("convrnn6-small", convrnn6, "6-layer ConvRNN at width 0.25 for 32 px images (CPU size)"),
    ("convrnn6-lstm-small", convrnn6_lstm, "shallow-LSTM ConvRNN at width 0.25 for 32 px"),
    ("convrnn11-small", convrnn11, "11-layer ConvRNN at width 0.25 for 32 px images (CPU size)"),
    ("convrnn-rgc-median-small", rgc_median, "RGC-median ConvRNN at width 0.25 for 32 px"),
    ("convrnn-rgc-approx-small", rgc_approx, "approximate RGC median at width 0.25, 32 px"),
):
    register_model(_name, _doc, in_channels=3, out_features=10)(_small(_fn, **_SMALL))

register_model(
    "convrnn6-ugrnn-small",
    "6-layer ConvRNN with UGRNN cells in conv3-5, width 0.25, 32 px (CPU size)",
    in_channels=3,
    out_features=10,
)(_small(convrnn6, cells="ugrnn", **_SMALL))
