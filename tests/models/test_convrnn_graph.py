"""ConvRNN graphs in biological time (spec: recurrent.md §1): arrival at depth L on step L,
blank presentation, zero recurrence == the feedforward net step for step, feedback resizing
and concatenation, base-net sizes, minimal unrolls, descriptions, hooks, parameter counts."""

import json

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from brainlike.models import create_model, list_models
from brainlike.models.convrnn.cells import cell_names
from brainlike.models.convrnn.graph import (
    ConvRNN,
    EdgeSpec,
    GraphSpec,
    NodeSpec,
    ReadoutSpec,
    SameConv2d,
    gray_blank,
    with_cells,
)
from brainlike.models.convrnn.nets import (
    RGC_MEDIAN_FEEDBACK,
    base6_spec,
    base11_spec,
    convrnn6,
    convrnn11,
    rgc_approx,
)

TINY = {"width": 1 / 16, "input_size": 32}  # 4, 8, 16, 16, 32 channels; 32 px


def tiny6(**kwargs) -> ConvRNN:
    return convrnn6(in_channels=3, out_features=5, **{**TINY, **kwargs})


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def conv_params(c_in: int, c_out: int, k: int, bias: bool = True) -> int:
    return c_in * c_out * k * k + (c_out if bias else 0)


# --- layers -------------------------------------------------------------------------------


def test_same_conv_and_pools_pad_like_tensorflow():
    # a 2x2 all-ones kernel on a 3x3 map, stride 1: TF pads one column/row at the bottom/right
    conv = SameConv2d(1, 1, 2, bias=False)
    nn.init.ones_(conv.weight)
    x = torch.arange(9.0).view(1, 1, 3, 3)
    y = conv(x)[0, 0]
    assert y.shape == (3, 3)
    assert y[0, 0] == 0 + 1 + 3 + 4 and y[2, 2] == 8 and y[0, 2] == 2 + 5
    for n in (7, 8, 224):
        for k, s in ((7, 2), (3, 1), (4, 1), (2, 2)):
            side = SameConv2d(1, 1, k, s)(torch.zeros(1, 1, n, n)).shape[-1]
            assert side == -(-n // s)  # ceil(n / s)
    from brainlike.models.convrnn.layers import _pool

    assert torch.equal(_pool("max")(x)[0, 0], torch.tensor([[4.0, 5.0], [7.0, 8.0]]))
    # 'same' average pool averages the valid pixels of the partial windows only
    assert torch.equal(_pool("avg")(x)[0, 0], torch.tensor([[2.0, 3.5], [6.5, 8.0]]))


def test_feedback_resize_is_bilinear_with_aligned_corners():
    from brainlike.models.convrnn.graph import _resize

    x = torch.tensor([[0.0, 1.0], [2.0, 3.0]]).view(1, 1, 2, 2)
    expected = torch.tensor([[0.0, 0.5, 1.0], [1.0, 1.5, 2.0], [2.0, 2.5, 3.0]])
    assert torch.allclose(_resize(x, (3, 3))[0, 0], expected)


# --- time ---------------------------------------------------------------------------------


def test_signal_reaches_depth_L_at_step_L_with_cells_and_feedback():
    torch.manual_seed(0)
    model = tiny6(cells={"conv3": "ugrnn", "conv4": "lstm"}, feedback=[("conv5", "conv3")])
    model.eval()
    depths = model.depths
    assert [depths[f"conv{i}"] for i in range(1, 6)] == [1, 2, 3, 4, 5]
    assert depths["readout"] == 6 and model.minimal_steps == 7
    a, b = torch.randn(2, 1, 3, 32, 32)
    with torch.no_grad():  # an impulse: the image at step 0 only, then the (zero) blank
        out_a = model.forward_sequence(a, time_steps=8, t_on=1, record=True)
        out_b = model.forward_sequence(b, time_steps=8, t_on=1, record=True)
    for name, depth in depths.items():
        za = out_a.logits if name == "readout" else out_a.states[name]
        zb = out_b.logits if name == "readout" else out_b.states[name]
        for t in range(depth):
            assert torch.equal(za[t], zb[t]), (name, t)  # the image has not arrived yet
        assert not torch.allclose(za[depth], zb[depth]), name  # it arrives at step L


def test_blank_follows_the_image_and_conv1_sees_it_one_step_later():
    torch.manual_seed(0)
    blank = (0.3, -0.2, 0.5)
    model = tiny6(blank=blank, time_steps=6, t_on=3)
    x = torch.randn(2, 3, 32, 32)
    frames = model.presentation(x)
    assert frames.shape == (6, 2, 3, 32, 32)
    assert torch.equal(frames[2], x)
    assert torch.equal(frames[3], torch.tensor(blank).view(1, 3, 1, 1).expand_as(x))
    seen = []
    model.nodes["conv1"].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    with torch.no_grad():
        model.forward_sequence(x)
    assert len(seen) == 6
    assert torch.equal(seen[0], torch.zeros_like(x))  # t = 0 reads zeros (spec §1)
    for t in (1, 2, 3):
        assert torch.equal(seen[t], x)
    for t in (4, 5):
        assert torch.equal(seen[t], frames[3])
    assert gray_blank((0.5, 0.4), (0.25, 0.2), level=0.5) == pytest.approx((0.0, 0.5))
    assert gray_blank((0.5, 0.4), (0.25, 0.2)) == (0.0, 0.0)
    with pytest.raises(ValueError, match="blank has 2 values"):
        tiny6(blank=(0.0, 1.0))


def plain_feedforward(model: ConvRNN, x: torch.Tensor, upto: str) -> torch.Tensor:
    """The 6-layer BaseNet as an ordinary sequential network, written out with F ops."""
    for name, node in model.nodes.items():
        x = F.elu(F.conv2d(F.pad(x, _tf_pads(node.conv)), node.conv.weight, node.conv.bias))
        if model.spec.node(name).pool:  # the 32 px stem has no pool after conv1
            x = F.max_pool2d(x, 2, 2, ceil_mode=True)
        if name == upto:
            return x
    return F.conv2d(x, model.readout.conv.weight, model.readout.conv.bias).mean(dim=(2, 3))


def _tf_pads(conv):
    k = conv.kernel_size[0]
    total = max(k - 1, 0)  # stride 1 in the small net
    return (total // 2, total - total // 2, total // 2, total - total // 2)


def test_zero_recurrence_is_the_feedforward_net_step_for_step():
    torch.manual_seed(0)
    model = tiny6()
    assert all(node.cell is None for node in model.nodes.values())
    movie = torch.randn(9, 2, 3, 32, 32)  # a different frame at every step
    with torch.no_grad():
        out = model.forward_sequence(movie, record=True)
        for depth, name in enumerate(model.nodes, start=1):
            for t in range(depth, 9):  # node L at step t = feedforward of frame t - L
                ff = plain_feedforward(model, movie[t - depth], name)
                assert torch.allclose(out.states[name][t], ff, atol=1e-6), (name, t)
        for t in range(6, 9):
            assert torch.allclose(out.logits[t], plain_feedforward(model, movie[t - 6], ""))
        # a static image: after minimal_steps the decoded logits are the feedforward net's
        x = movie[0]
        with model.schedule(time_steps=7, t_on=7):
            assert torch.allclose(model(x), plain_feedforward(model, x, ""), atol=1e-6)


def test_residual_block_and_11_layer_zero_recurrence():
    torch.manual_seed(0)
    model = convrnn11(in_channels=1, out_features=3, width=1 / 16, input_size=32)
    node = model.nodes["conv4"]  # 4 -> 8 channels: a 1x1 projection on the skip
    u = torch.randn(2, 4, 8, 8)
    with torch.no_grad():
        by_hand = F.elu(node.conv2(F.elu(node.conv(u))) + node.skip(u))
        assert torch.allclose(node(u), F.max_pool2d(by_hand, 2, 2))
        assert isinstance(model.nodes["conv3"].skip, nn.Identity)  # 4 -> 4: identity skip
        x = torch.randn(2, 1, 32, 32)
        h = x
        for n in model.nodes.values():
            h = n(h)
        ff = model.readout(h)
        with model.schedule(time_steps=12, t_on=12):
            assert torch.allclose(model(x), ff, atol=1e-6)


def test_schedules_and_decoder_start():
    model = tiny6()
    assert (model.time_steps, model.t_on) == (16, 12)  # spec §1 training unroll
    assert model.decoder.start == 6  # decoders read from the readout depth on
    with model.schedule(26, 10):
        assert (model.time_steps, model.t_on) == (26, 10)
    assert (model.time_steps, model.t_on) == (16, 12)
    model.set_schedule(time_steps=5)
    assert (model.time_steps, model.t_on) == (5, 12)
    with torch.no_grad():
        assert model.forward_sequence(torch.zeros(1, 3, 32, 32), 3).logits.shape == (3, 1, 5)
    with pytest.raises(ValueError, match="time_steps must be a positive int"):
        model.set_schedule(time_steps=0)
    eleven = convrnn11(width=1 / 32, input_size=32)
    assert (eleven.time_steps, eleven.t_on) == (17, 12) and eleven.decoder.start == 11


# --- feedback -----------------------------------------------------------------------------


def two_node_spec(entry: str) -> GraphSpec:
    nodes = [NodeSpec("a", 2, 3, pool="max"), NodeSpec("b", 3, 3, pool="max")]
    return GraphSpec.chain(
        nodes, ReadoutSpec("b", 4, "linear"), in_channels=1, feedback=[("b", "a", entry)]
    )


def test_feedback_is_resized_and_concatenated_after_the_feedforward_input():
    torch.manual_seed(0)
    model = ConvRNN(two_node_spec("input"), time_steps=5, input_size=8)
    assert model.nodes["a"].conv.in_channels == 1 + 3
    seen = []
    model.nodes["a"].register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    movie = torch.randn(5, 2, 1, 8, 8)
    with torch.no_grad():
        out = model.forward_sequence(movie, record=True)
    b = out.states["b"]  # (T, B, 3, 2, 2): b's output is 2x2, a's input 8x8
    assert b.shape == (5, 2, 3, 2, 2)
    for t in range(1, 5):
        fb = F.interpolate(b[t - 1], size=(8, 8), mode="bilinear", align_corners=True)
        assert torch.equal(seen[t], torch.cat([movie[t - 1], fb], dim=1))
    assert torch.equal(seen[0], torch.zeros(2, 4, 8, 8))


def test_output_entry_feedback_is_a_1x1_conv_added_before_the_pool():
    torch.manual_seed(0)
    model = ConvRNN(two_node_spec("output"), time_steps=4, input_size=8)
    node = model.nodes["a"]
    assert node.conv.in_channels == 1 and node.feedback["b"].weight.shape == (2, 3, 1, 1)
    pre_pool, activated = [], []
    node.pool.register_forward_pre_hook(lambda m, args: pre_pool.append(args[0]))
    node.act.register_forward_hook(lambda m, args, out: activated.append(out))
    movie = torch.randn(4, 2, 1, 8, 8)
    with torch.no_grad():
        out = model.forward_sequence(movie, record=True)
        for t in range(1, 4):
            fb = F.interpolate(out.states["b"][t - 1], (8, 8), mode="bilinear", align_corners=True)
            added = F.conv2d(fb, node.feedback["b"].weight)
            assert torch.allclose(pre_pool[t], activated[t] + added, atol=1e-6)


def test_rgc_approx_structure():
    # the approximation formerly registered as convrnn-rgc-median (the exact model:
    # tests/models/test_convrnn_rgc_median.py)
    torch.manual_seed(0)
    model = rgc_approx(in_channels=1, out_features=3, width=1 / 16, input_size=32, time_steps=3)
    fb = [(e.source, e.target) for e in model.spec.edges if e.kind == "feedback"]
    assert fb == list(RGC_MEDIAN_FEEDBACK)
    assert all(e.entry == "output" for e in model.spec.edges if e.kind == "feedback")
    assert set(model.nodes["conv6"].feedback) == {"conv9", "conv7"}
    assert [model.spec.node(f"conv{i}").out_channels for i in range(1, 11)] == [
        4,
        8,
        8,
        8,
        8,
        16,
        16,
        16,
        32,
        32,
    ]
    assert all(model.nodes[f"conv{i}"].cell.kind == "rgc_as_run" for i in range(4, 11))
    assert (model.minimal_steps, model.time_steps, model.t_on) == (12, 3, 12)
    with torch.no_grad():
        assert model.forward_sequence(torch.randn(1, 1, 32, 32)).logits.shape == (3, 1, 3)


# --- base nets ----------------------------------------------------------------------------


def test_six_layer_spatial_sizes_at_224():
    model = convrnn6(width=1 / 32, out_features=3, time_steps=2)
    assert model.output_shapes((3, 224, 224)) == {
        "conv1": (2, 56, 56),
        "conv2": (4, 28, 28),
        "conv3": (8, 14, 14),
        "conv4": (8, 7, 7),
        "conv5": (16, 4, 4),
    }
    conv1 = []
    model.nodes["conv1"].conv.register_forward_hook(lambda m, a, out: conv1.append(out.shape))
    with torch.no_grad():
        out = model.forward_sequence(torch.zeros(1, 3, 224, 224), record=True)
    assert conv1[0][-2:] == (112, 112)  # spec §1: 112, 56, 28, 14, 7, 4
    assert out.states["conv5"].shape == (2, 1, 16, 4, 4)
    assert model.unit_counts()["conv5"] == 16 * 4 * 4


def test_minimal_unrolls_are_7_and_12():
    assert convrnn6(width=1 / 32).minimal_steps == 7
    assert convrnn11(width=1 / 32).minimal_steps == 12
    assert base11_spec(width=1 / 32).depths()["conv10"] == 10


def test_parameter_counts():
    assert n_params(convrnn6()) == 4_197_736  # 6-layer BaseNet, 1000 classes
    # width 0.25, 3 channels in, 10 classes: 16, 32, 64, 64, 128 channels
    ch = [3, 16, 32, 64, 64, 128]
    plain = sum(conv_params(a, b, 3) for a, b in zip(ch, ch[1:], strict=False))
    plain += conv_params(128, 10, 2)
    assert create_model("convrnn6-small").parameter_count() == plain == 139_498
    ugrnn = sum(2 * conv_params(2 * c, c, 3) for c in (64, 64, 128))  # W_g, W_c on [x, h]
    assert create_model("convrnn6-ugrnn-small").parameter_count() == plain + ugrnn
    # 11-layer, width 1/16: blocks 2-10 are conv + conv + (1x1 projection when widths differ)
    c = [1, 4, 4, 4, 8, 8, 16, 16, 32, 32, 32]
    expected = conv_params(1, 4, 3) + 32 * 3 + 3
    for a, b in zip(c[1:], c[2:], strict=False):
        expected += conv_params(a, b, 3) + conv_params(b, b, 3)
        expected += conv_params(a, b, 1) if a != b else 0
    small11 = convrnn11(in_channels=1, out_features=3, width=1 / 16, input_size=32)
    assert small11.parameter_count() == expected


def test_shallow_lstm_cells():
    model = create_model("convrnn6-lstm-small", in_channels=1)
    cells = {n: model.nodes[n].cell for n in ("conv3", "conv4", "conv5")}
    assert [c.out_channels for c in cells.values()] == [32, 64, 64]
    assert [c.kernel_size for c in cells.values()] == [(2, 2), (3, 3), (4, 4)]
    assert [c.forget_bias for c in cells.values()] == [1.356, 0.978, 0.925]
    assert [c.peepholes for c in cells.values()] == [False, True, False]
    assert cells["conv4"].spatial == (8, 8)  # filled in from the layer's size at 32 px
    assert model.nodes["conv4"].conv.in_channels == 32  # conv3's LSTM output


def test_registry_names():
    assert {
        "convrnn6",
        "convrnn6-lstm",
        "convrnn11",
        "convrnn-rgc-median",
        "convrnn-rgc-approx",
        "convrnn6-small",
        "convrnn11-small",
        "convrnn-rgc-median-small",
        "convrnn-rgc-approx-small",
    } <= set(list_models())


# --- cells, description, hooks ------------------------------------------------------------


@pytest.mark.parametrize("kind", cell_names())
def test_every_cell_kind_implants_and_trains(kind):
    torch.manual_seed(0)
    spec = base6_spec(3, 5, width=1 / 16, input_size=32)
    cell = {"kind": kind, "peepholes": True, "layer_norm": True} if kind == "lstm" else kind
    model = ConvRNN(with_cells(spec, {"conv4": cell}), time_steps=7, t_on=5, input_size=32)
    assert model.nodes["conv4"].cell.kind == kind
    x, y = torch.randn(2, 3, 32, 32), torch.randint(0, 5, (2,))
    before = {k: v.clone() for k, v in model.nodes["conv4"].cell.state_dict().items()}
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(2):
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
        assert torch.isfinite(loss)
    after = model.nodes["conv4"].cell.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before)


def test_describe_round_trip():
    torch.manual_seed(0)
    cells = {"conv3": {"kind": "lstm", "peepholes": True}, "conv5": "rgc_as_run"}
    feedback = [("conv5", "conv3"), {"source": "conv4", "target": "conv2", "entry": "output"}]
    model = tiny6(
        cells=cells,
        feedback=feedback,
        decoder={"kind": "max_confidence", "trainable_beta": True},
        blank=(0.1, 0.2, 0.3),
        time_steps=9,
        t_on=5,
    )
    desc = json.loads(json.dumps(model.describe()))
    assert desc["kind"] == "convrnn"
    rebuilt = ConvRNN.from_description(desc)
    rebuilt.load_state_dict(model.state_dict())  # strict: same parameters and buffers
    assert rebuilt.describe() == model.describe()
    model.eval()
    rebuilt.eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        assert torch.equal(model(x), rebuilt(x))
    assert rebuilt.parameter_count() == model.parameter_count()


def test_hooks_fire_once_per_step():
    model = tiny6(cells="ugrnn", time_steps=5)
    calls: dict[str, list] = {"nodes.conv3": [], "readout": []}
    for name, module in model.named_modules():
        if name in calls:
            module.register_forward_hook(lambda m, a, out, name=name: calls[name].append(out))
    with torch.no_grad():
        out = model.forward_sequence(torch.randn(2, 3, 32, 32), record=True)
    assert len(calls["nodes.conv3"]) == 5 and len(calls["readout"]) == 5
    assert torch.equal(torch.stack(calls["nodes.conv3"]), out.states["conv3"])
    assert torch.equal(torch.stack(calls["readout"]), out.logits)


# --- validation ---------------------------------------------------------------------------


def test_specs_are_checked():
    a, b = NodeSpec("a", 2), NodeSpec("b", 2)
    readout = ReadoutSpec("b", 3)
    with pytest.raises(ValueError, match="unknown target 'c'"):
        GraphSpec((a, b), (EdgeSpec("image", "a"), EdgeSpec("a", "c")), readout)
    with pytest.raises(ValueError, match="form a cycle"):
        GraphSpec(
            (a, b),
            (EdgeSpec("image", "a"), EdgeSpec("a", "b"), EdgeSpec("b", "a")),
            readout,
        )
    with pytest.raises(ValueError, match="'b' has no feedforward input"):
        GraphSpec((a, b), (EdgeSpec("image", "a"), EdgeSpec("a", "b", "feedback")), readout)
    with pytest.raises(ValueError, match="needs|depth must equal"):
        NodeSpec("c", 8, cell={"kind": "intersection", "out_channels": 4})
    with pytest.raises(ValueError, match="has no option 'bogus'"):
        NodeSpec("c", 8, cell={"kind": "ugrnn", "bogus": 1})
    with pytest.raises(ValueError, match="unknown cell"):
        NodeSpec("c", 8, cell="nope")
    with pytest.raises(ValueError, match="no such node"):
        with_cells(base6_spec(width=1 / 32), {"conv9": "gru"})
    with pytest.raises(ValueError, match="only feedback edges"):
        EdgeSpec("a", "b", "feedforward", "output")
    with pytest.raises(ValueError, match="smaller than the 2x2 'valid' readout"):
        convrnn6(width=1 / 32, input_size=16)
