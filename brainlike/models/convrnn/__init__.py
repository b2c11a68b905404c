"""Biologically unrolled ConvRNNs (spec: recurrent.md §1): graphs, cells, decoders, base nets.

``topology`` describes a graph (:class:`GraphSpec`: layers, edges, readout); ``layers`` holds
the modules of one layer and the readout; ``graph`` builds and unrolls a :class:`ConvRNN` from a
:class:`GraphSpec` in biological time; ``cells`` holds the recurrent cells implanted in its
layers; ``decoders`` reads one logit vector out of the per-step logits; ``nets`` defines (and
registers) the 6-layer, 11-layer and RGC-median nets (and the older approximation of the
latter, ``convrnn-rgc-approx``).
"""

from brainlike.models.convrnn.cells import ConvCell, cell_names, make_cell
from brainlike.models.convrnn.decoders import Decoder, make_decoder
from brainlike.models.convrnn.graph import ConvRNN, TemporalOutput, gray_blank
from brainlike.models.convrnn.layers import Node
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
from brainlike.models.convrnn.topology import (
    IMAGE,
    EdgeSpec,
    GraphSpec,
    NodeSpec,
    ReadoutSpec,
    with_cells,
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
