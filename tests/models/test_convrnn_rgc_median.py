"""The RGC-median model, exactly (spec: recurrent.md, "RGC-Median cell, exactly"): the cell's
equations against a slow step-by-step implementation, the gate scales by hand, the parameter
count from the spec's shapes, the feedback wiring, shapes through time, and the approximation
kept as ``convrnn-rgc-approx``."""

import pytest
import torch
from torch.nn import functional as F

from brainlike.config import ConvRNNModelConfig
from brainlike.models import create_model
from brainlike.models.convrnn import cells
from brainlike.models.convrnn.cells import make_cell
from brainlike.models.convrnn.graph import ConvRNN, EdgeSpec, GraphSpec
from brainlike.models.convrnn.nets import (
    RGC_MEDIAN_FEEDBACK,
    base11_spec,
    rgc_approx,
    rgc_median,
    rgc_median_spec,
)
from brainlike.models.zoo import build_from_config

MEMORY_SCALE = 0.9219348064291611  # the released configuration's tau_offset
INPUT_SCALE = 0.7006566684988862  # and its gate_offset


# --- a slow obvious implementation ---------------------------------------------------------


def same_conv(x, weight, bias=None):
    """Stride-1 conv with TensorFlow 'same' padding (the odd pad at the bottom/right)."""
    kh, kw = weight.shape[-2:]
    ph, pw = kh - 1, kw - 1
    x = F.pad(x, (pw // 2, pw - pw // 2, ph // 2, ph - ph // 2))
    return F.conv2d(x, weight, bias)


def depth_separable(x, ds):
    """Depthwise 7x7 one channel at a time, then the pointwise 1x1 with bias."""
    w = ds.depthwise.weight
    assert w.shape[1:] == (1, 7, 7) and ds.depthwise.bias is None
    per_channel = [same_conv(x[:, i : i + 1], w[i : i + 1]) for i in range(x.shape[1])]
    mixed = torch.einsum(
        "oi,bihw->bohw", ds.pointwise.weight[:, :, 0, 0], torch.cat(per_channel, 1)
    )
    return mixed + ds.pointwise.bias.view(1, -1, 1, 1)


def slow_step(cell, u, h, c, feedback):
    x = F.elu(same_conv(u, cell.W_u.weight, cell.W_u.bias))
    assert cell.W_xc.weight.shape[-2:] == (2, 2) and cell.W_xh.weight.shape[-2:] == (3, 3)
    to_memory = same_conv(x, cell.W_xc.weight, cell.W_xc.bias)
    c_new = F.elu(
        MEMORY_SCALE * (1 - torch.sigmoid(depth_separable(c, cell.gate_cc))) * c
        + INPUT_SCALE * (1 - torch.tanh(depth_separable(h, cell.gate_hc))) * to_memory
    )
    if u.shape[1] == h.shape[1]:
        residual = u
    else:
        residual = torch.einsum("oi,bihw->bohw", cell.project.weight[:, :, 0, 0], u)
    drive = same_conv(x, cell.W_xh.weight, cell.W_xh.bias) + residual + feedback
    h_new = F.elu(
        MEMORY_SCALE * (1 - torch.sigmoid(depth_separable(h, cell.gate_hh))) * h
        + INPUT_SCALE * (1 - torch.tanh(depth_separable(c, cell.gate_ch))) * drive
    )
    return h_new, c_new


@pytest.mark.parametrize("in_channels", [3, 4])  # with and without the 1x1 projection
def test_cell_matches_slow_implementation_over_time(in_channels):
    torch.manual_seed(0)
    cell = make_cell("rgc_median", in_channels, 4, cell_depth=2).double()
    assert (cell.project is None) == (in_channels == 4)
    with torch.no_grad():
        for p in cell.parameters():  # biases too, so every term is exercised
            p.normal_(0.0, 0.4)
    g = torch.Generator().manual_seed(1)
    us = torch.randn(4, 2, in_channels, 6, 5, generator=g, dtype=torch.float64)
    fbs = torch.randn(4, 2, 4, 6, 5, generator=g, dtype=torch.float64)
    h = torch.zeros(2, 4, 6, 5, dtype=torch.float64)
    c = torch.zeros(2, 2, 6, 5, dtype=torch.float64)
    state = cell.init_state(us[0])
    assert [s.shape for s in state] == [h.shape, c.shape]
    with torch.no_grad():
        for t in range(4):
            y, state = cell.step(us[t], state, fbs[t])
            h, c = slow_step(cell, us[t], h, c, fbs[t])
            torch.testing.assert_close(y, h, rtol=0, atol=1e-12)
            torch.testing.assert_close(state[0], h, rtol=0, atol=1e-12)
            torch.testing.assert_close(state[1], c, rtol=0, atol=1e-12)
        assert h.abs().max() > 0.1 and c.abs().max() > 0.1  # not a trivial agreement
        # no feedback == zero feedback
        y_none, _ = cell.step(us[0], state, None)
        y_zero, _ = cell.step(us[0], state, torch.zeros_like(fbs[0]))
        torch.testing.assert_close(y_none, y_zero, rtol=0, atol=0)


def test_gate_scales_by_hand():
    assert round(cells.RGC_MEDIAN_MEMORY_SCALE, 4) == 0.9219
    assert round(cells.RGC_MEDIAN_INPUT_SCALE, 4) == 0.7007
    cell = make_cell("rgc_median", 1, 1, cell_depth=1).double()
    assert (cell.memory_scale, cell.input_scale) == (MEMORY_SCALE, INPUT_SCALE)
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()  # gates s(0) = 1/2 and tanh(0) = 0; x = ELU(0) = 0
    u = torch.full((1, 1, 3, 3), 0.5, dtype=torch.float64)
    h0 = torch.full_like(u, 2.0)
    c0 = torch.full_like(u, 1.0)
    with torch.no_grad():
        y, (h, c) = cell.step(u, (h0, c0), torch.full_like(u, 0.25))
    # c = ELU(0.9219 * 1/2 * 1 + 0.7007 * 1 * 0); h = ELU(0.9219 * 1/2 * 2 + 0.7007 * (0.5 + 0.25))
    torch.testing.assert_close(c, torch.full_like(u, 0.4609674032145806))
    torch.testing.assert_close(h, torch.full_like(u, 0.9219348064291611 + 0.5254925013741647))
    torch.testing.assert_close(y, h)


# --- the model -------------------------------------------------------------------------------


def conv(i, o, k, bias=True):
    return k * k * i * o + (o if bias else 0)


def ds7(i, o):
    return 7 * 7 * i + i * o + o  # depthwise (no bias) + pointwise with bias


def median_cell(i, c, d=64):
    return (
        conv(i, c, 3)  # the layer's conv, x = ELU(W_u * u)
        + conv(c, d, 2)  # W_xc, input to the memory
        + conv(c, c, 3)  # W_xh, input to the output
        + ds7(d, d)  # memory -> memory decay
        + ds7(c, d)  # output -> memory input gate
        + ds7(c, c)  # output -> output decay
        + ds7(d, c)  # memory -> output input gate
        + (i * c if i != c else 0)  # P(u), 1x1 without bias
    )


def test_parameter_count_from_the_spec_shapes():
    ch = {f"conv{i}": c for i, c in enumerate((64, 128, 128, 128, 128, 256, 256, 256, 512, 512), 1)}
    expected = conv(3, 64, 7) + conv(64, 128, 3) + conv(128, 128, 3)
    for i in range(4, 11):
        expected += median_cell(ch[f"conv{i - 1}"], ch[f"conv{i}"])
    for src, tgt in RGC_MEDIAN_FEEDBACK:
        expected += conv(ch[src], ch[tgt], 1)  # 1x1 with bias
    expected += 512 * 1000 + 1000  # average pool + FC
    model = create_model("convrnn-rgc-median")
    assert model.parameter_count() == expected == 15_446_056
    # the approximation (3x3 rgc_as_run cells, no bias on its feedback) keeps its old count
    approx = conv(3, 64, 7) + conv(64, 128, 3) + conv(128, 128, 3) + 512 * 1000 + 1000
    for i in range(4, 11):
        a, b = ch[f"conv{i - 1}"], ch[f"conv{i}"]
        approx += conv(a, b, 3) + 5 * conv(b, b, 3) + conv(a, b, 3, bias=False)
    approx += sum(conv(ch[s], ch[t], 1, bias=False) for s, t in RGC_MEDIAN_FEEDBACK)
    assert create_model("convrnn-rgc-approx").parameter_count() == approx == 45_910_504


def test_structure_and_shapes_through_time():
    spec = rgc_median_spec()
    assert [n.cell and n.cell["kind"] for n in spec.nodes] == [None] * 3 + ["rgc_median"] * 7
    assert all(n.cell["cell_depth"] == 64 for n in spec.nodes[3:])
    assert not any(n.residual for n in spec.nodes)
    assert [n.name for n in spec.nodes if n.pool] == ["conv1", "conv4", "conv6", "conv7", "conv10"]
    fb = [(e.source, e.target, e.entry) for e in spec.edges if e.kind == "feedback"]
    assert fb == [(s, t, "cell") for s, t in RGC_MEDIAN_FEEDBACK]

    torch.manual_seed(0)
    model = create_model("convrnn-rgc-median-small")  # width 0.25, 32 px, 10 classes
    assert (model.time_steps, model.t_on, model.minimal_steps) == (17, 12, 12)
    node = model.nodes["conv6"]
    assert node.conv is None and node.cell.cell_depth == 16
    assert node.cell.W_u.kernel_size == (3, 3)
    assert set(node.cell_feedback) == {"conv9", "conv7"} and not node.feedback
    assert all(c.bias is not None for c in node.cell_feedback.values())
    with torch.no_grad():
        out = model.forward_sequence(torch.randn(2, 3, 32, 32), time_steps=5, record=True)
    assert out.logits.shape == (5, 2, 10)
    sides = {"conv4": 16, "conv5": 16, "conv6": 8, "conv7": 4, "conv8": 4, "conv9": 4, "conv10": 2}
    for name, side in sides.items():
        assert out.states[name].shape == (5, 2, model.spec.node(name).out_channels, side, side)


def test_cell_feedback_is_the_sum_of_resized_1x1_convs_of_previous_outputs():
    torch.manual_seed(0)
    model = rgc_median(in_channels=1, out_features=3, width=1 / 16, input_size=32, time_steps=4)
    node = model.nodes["conv6"]
    seen = []
    step = node.cell.step
    node.cell.step = lambda x, state, fb: (seen.append(fb), step(x, state, fb))[1]
    x = torch.randn(2, 1, 32, 32)
    with torch.no_grad():
        for conv in node.cell_feedback.values():
            conv.bias.normal_()
        out = model.forward_sequence(x, record=True)
        size = out.states["conv5"].shape[-2:]  # conv6's feedforward input size
        for t in range(4):
            expected = 0
            for src in ("conv9", "conv7"):
                prev = out.states[src][t - 1] if t else torch.zeros_like(out.states[src][0])
                resized = F.interpolate(prev, size, mode="bilinear", align_corners=True)
                expected = expected + node.cell_feedback[src](resized)
            torch.testing.assert_close(seen[t], expected, rtol=0, atol=1e-6)


def test_describe_round_trip_and_config_bases():
    torch.manual_seed(0)
    model = create_model("convrnn-rgc-median-small", time_steps=3)
    twin = ConvRNN.from_description(model.describe())
    twin.load_state_dict(model.state_dict())
    x = torch.randn(1, 3, 32, 32)
    with torch.no_grad():
        a, b = model.forward_sequence(x).logits, twin.forward_sequence(x).logits
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    # config bases: rgc-median is the exact model, rgc-approx the older approximation
    kinds = {}
    for base in ("rgc-median", "rgc-approx"):
        cfg = ConvRNNModelConfig(kind="convrnn", base=base, width=0.25)
        built = build_from_config(cfg, 3, 10, 32)
        kinds[base] = built.nodes["conv5"].cell.kind
    assert kinds == {"rgc-median": "rgc_median", "rgc-approx": "rgc_as_run"}
    assert rgc_approx(width=0.25, input_size=32, out_features=10).parameter_count() == (
        create_model("convrnn-rgc-approx-small").parameter_count()
    )


def test_cell_entry_needs_a_cell_that_takes_feedback():
    spec = base11_spec(width=1 / 16, input_size=32, cells="ugrnn")
    with pytest.raises(ValueError, match="'ugrnn' cell, which takes no feedback"):
        GraphSpec(
            spec.nodes, (*spec.edges, EdgeSpec("conv8", "conv5", "feedback", "cell")), spec.readout
        )
    with pytest.raises(ValueError, match="only feedback edges can enter at the cell"):
        EdgeSpec("conv4", "conv5", "feedforward", "cell")
    # user cells on the median base: feedback into a cell that takes none enters at the output
    spec = rgc_median_spec(width=1 / 16, input_size=32, cells="ugrnn")
    assert {e.entry for e in spec.edges if e.kind == "feedback"} == {"output"}
