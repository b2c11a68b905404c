"""Biologically unrolled ConvRNNs (spec: recurrent.md §1): graphs, cells, decoders, base nets.

``graph`` builds and unrolls a :class:`ConvRNN` from a :class:`GraphSpec`; ``cells`` holds the
recurrent cells implanted in its layers; ``decoders`` reads one logit vector out of the
per-step logits; ``nets`` defines (and registers) the 6-layer, 11-layer and RGC-median nets (and the older
approximation of the latter, ``convrnn-rgc-approx``).
"""

from brainlike.models.convrnn.cells import ConvCell, cell_names, make_cell
from brainlike.models.convrnn.decoders import Decoder, make_decoder
from brainlike.models.convrnn.graph import (
    IMAGE,
    ConvRNN,
    EdgeSpec,
    GraphSpec,
    Node,
    NodeSpec,
    ReadoutSpec,
    TemporalOutput,
    gray_blank,
    with_cells,
)
from brainlike.models.convrnn.nets import (
    NEURAL_SCHEDULE,
    TRAIN_SCHEDULE,
    base6_spec,
    base11_spec,
    convrnn6,
    convrnn6_lstm,
    convrnn11,
    rgc_approx,
    rgc_approx_spec,
    rgc_median,
    rgc_median_spec,
)

__all__ = [
    "IMAGE",
    "NEURAL_SCHEDULE",
    "TRAIN_SCHEDULE",
    "ConvCell",
    "ConvRNN",
    "Decoder",
    "EdgeSpec",
    "GraphSpec",
    "Node",
    "NodeSpec",
    "ReadoutSpec",
    "TemporalOutput",
    "base6_spec",
    "base11_spec",
    "cell_names",
    "convrnn6",
    "convrnn6_lstm",
    "convrnn11",
    "gray_blank",
    "make_cell",
    "make_decoder",
    "rgc_approx",
    "rgc_approx_spec",
    "rgc_median",
    "rgc_median_spec",
    "with_cells",
]
