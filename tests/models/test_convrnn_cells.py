"""ConvRNN cells: one step of every cell by hand from a nonzero state, the LSTM's forget bias and
peepholes, the layer norm, the option checks, shapes, gradients and state_dict round trips
(spec: recurrent.md §1)."""

import numpy as np
import pytest
import torch
from torch import nn

from brainlike.models.convrnn.cells import CELLS, cell_names, cell_options, make_cell


def sig(a):
    return 1.0 / (1.0 + np.exp(-a))


def elu(a):
    return np.where(a > 0, a, np.exp(a) - 1.0)


def set_conv(conv: nn.Conv2d, weights, bias=0.0) -> None:
    """1x1 conv weights from a (out, in) table, one bias for every output channel."""
    with torch.no_grad():
        conv.weight.copy_(torch.tensor(weights, dtype=conv.weight.dtype).view(conv.weight.shape))
        if conv.bias is not None:
            conv.bias.fill_(bias)


def tensors(seed: int, n: int, shape=(1, 1, 3, 3)):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(shape, generator=g, dtype=torch.float64) for _ in range(n)]


def np_(t: torch.Tensor) -> np.ndarray:
    return t.detach().numpy()


def step(cell, x, state):
    with torch.no_grad():
        return cell.step(x, state)


def test_registry_names_and_options():
    assert cell_names() == sorted(
        [
            "time_decay",
            "simple_rnn",
            "gru",
            "lstm",
            "ugrnn",
            "intersection",
            "rgc",
            "rgc_as_run",
            "rgc_median",
        ]
    )
    assert cell_options("rgc_median") == {"kernel_size": 3, "cell_depth": 64}
    assert cell_options("lstm") == {
        "kernel_size": 3,
        "layer_norm": False,
        "forget_bias": 1.0,
        "peepholes": False,
        "spatial": None,
    }
    assert cell_options("time_decay") == {}
    assert make_cell("gru", 4).out_channels == 4
    assert isinstance(make_cell("ugrnn", 2, 5), CELLS["ugrnn"])


def test_time_decay_by_hand():
    x, s0 = tensors(0, 2)
    cell = make_cell("time_decay", 1).double()
    y, (s,) = step(cell, x, (s0,))
    np.testing.assert_allclose(np_(y), np_(x))  # m = 0 at init: identity on x
    with torch.no_grad():
        cell.m.fill_(0.5)
    y, (s,) = step(cell, x, (s0,))
    np.testing.assert_allclose(np_(y), 0.5 * np_(s0) + np_(x))
    np.testing.assert_allclose(np_(s), np_(y))
    y0, _ = cell(x)  # zero state: x_0 whatever m
    np.testing.assert_allclose(np_(y0), np_(x))


@pytest.mark.parametrize("layer_norm", [False, True])
def test_simple_rnn_by_hand(layer_norm):
    x, h0 = tensors(1, 2)
    cell = make_cell("simple_rnn", 1, kernel_size=1, layer_norm=layer_norm).double()
    set_conv(cell.W, [[0.7, -1.3]], bias=0.2)
    a = 0.7 * np_(x) - 1.3 * np_(h0) + 0.2
    if layer_norm:
        assert isinstance(cell.norm, nn.GroupNorm)
        assert (cell.norm.num_groups, cell.norm.eps) == (1, 1e-12)
        with torch.no_grad():
            cell.norm.weight.fill_(1.5)
            cell.norm.bias.fill_(-0.25)
        a = (a - a.mean()) / np.sqrt(a.var() + 1e-12) * 1.5 - 0.25
    y, (h,) = step(cell, x, (h0,))
    np.testing.assert_allclose(np_(y), elu(a), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(np_(h), np_(y))


def test_layer_norm_is_joint_over_channels_and_space():
    # two channels with different means: GroupNorm(1) normalises C, H, W together
    g = torch.Generator().manual_seed(2)
    x = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64)
    h0 = torch.zeros(1, 2, 3, 3, dtype=torch.float64)
    cell = make_cell("simple_rnn", 2, kernel_size=1, layer_norm=True).double()
    set_conv(cell.W, np.hstack([np.diag([1.0, 3.0]), np.zeros((2, 2))]), bias=0.0)
    with torch.no_grad():
        cell.W.bias.copy_(torch.tensor([0.0, 2.0]))
    a = np_(x) * np.array([1.0, 3.0]).reshape(1, 2, 1, 1) + np.array([0, 2.0]).reshape(1, 2, 1, 1)
    expected = elu((a - a.mean()) / np.sqrt(a.var() + 1e-12))
    y, _ = step(cell, x, (h0,))
    np.testing.assert_allclose(np_(y), expected, rtol=1e-10, atol=1e-12)


def test_simple_rnn_3x3_same_padding_by_hand():
    x, _ = tensors(3, 2)
    cell = make_cell("simple_rnn", 1).double()  # kernel_size 3
    with torch.no_grad():
        cell.W.weight.zero_()
        cell.W.weight[0, 0].fill_(1.0)  # box filter on x, nothing from h
    padded = np.pad(np_(x)[0, 0], 1)
    box = sum(padded[i : i + 3, j : j + 3] for i in range(3) for j in range(3))
    y, _ = cell(x)
    np.testing.assert_allclose(np_(y)[0, 0], elu(box), rtol=1e-12)


def test_gru_by_hand():
    x, h0 = tensors(4, 2)
    cell = make_cell("gru", 1, kernel_size=1).double()
    set_conv(cell.W_r, [[0.5, -0.4]], bias=0.1)
    set_conv(cell.W_u, [[-0.3, 0.8]], bias=-0.2)
    set_conv(cell.W_c, [[1.1, 0.6]], bias=0.05)
    xv, hv = np_(x), np_(h0)
    r = sig(0.5 * xv - 0.4 * hv + 0.1 + 1)
    u = sig(-0.3 * xv + 0.8 * hv - 0.2 + 1)
    c = np.tanh(1.1 * xv + 0.6 * r * hv + 0.05)
    y, (h,) = step(cell, x, (h0,))
    np.testing.assert_allclose(np_(y), u * hv + (1 - u) * c, rtol=1e-12)
    np.testing.assert_allclose(np_(h), np_(y))


LSTM_W = [[0.4, -0.6], [0.3, 0.2], [-0.5, 0.9], [1.2, -0.7]]  # rows: i, f, o, j; cols: x, h


def lstm_by_hand(x, h, c, forget_bias, peep=None):
    wi, wf, wo = peep if peep is not None else (0.0, 0.0, 0.0)
    i, f, o, j = (a * x + b * h for a, b in LSTM_W)
    c_new = c * sig(f + forget_bias + wf * c) + sig(i + wi * c) * np.tanh(j)
    return np.tanh(c_new) * sig(o + wo * c), c_new


@pytest.mark.parametrize("forget_bias", [1.0, 0.0, 2.5])
def test_lstm_by_hand_and_forget_bias(forget_bias):
    x, h0, c0 = tensors(5, 3)
    cell = make_cell("lstm", 1, kernel_size=1, forget_bias=forget_bias).double()
    set_conv(cell.W, LSTM_W)
    y, (h, c) = step(cell, x, (h0, c0))
    y_exp, c_exp = lstm_by_hand(np_(x), np_(h0), np_(c0), forget_bias)
    np.testing.assert_allclose(np_(y), y_exp, rtol=1e-12)
    np.testing.assert_allclose(np_(c), c_exp, rtol=1e-12)
    np.testing.assert_allclose(np_(h), y_exp, rtol=1e-12)


def test_lstm_default_forget_bias_keeps_more_memory():
    x, h0 = tensors(6, 2)
    c0 = torch.full((1, 1, 3, 3), 2.0, dtype=torch.float64)
    cells = {b: make_cell("lstm", 1, kernel_size=1, forget_bias=b).double() for b in (0.0, 1.0)}
    for cell in cells.values():
        set_conv(cell.W, [[0, 0], [0, 0], [0, 0], [0, 0]])  # all gates 0: c = c0 s(b_f)
    c = {b: step(cell, x, (h0, c0))[1][1] for b, cell in cells.items()}
    np.testing.assert_allclose(np_(c[1.0]), 2.0 * sig(1.0))
    np.testing.assert_allclose(np_(c[0.0]), 2.0 * 0.5)


def test_lstm_peepholes_by_hand():
    x, h0, c0, wi, wf, wo = tensors(7, 6)
    cell = make_cell("lstm", 1, kernel_size=1, peepholes=True, spatial=(3, 3)).double()
    assert cell.w_i.shape == cell.w_f.shape == cell.w_o.shape == (1, 3, 3)
    assert float(cell.w_i.detach().abs().sum()) == 0.0  # zero init: a plain LSTM at first
    set_conv(cell.W, LSTM_W)
    with torch.no_grad():
        cell.w_i.copy_(wi[0])
        cell.w_f.copy_(wf[0])
        cell.w_o.copy_(wo[0])
    y, (_, c) = step(cell, x, (h0, c0))
    peep = (np_(wi)[0], np_(wf)[0], np_(wo)[0])
    y_exp, c_exp = lstm_by_hand(np_(x), np_(h0), np_(c0), 1.0, peep)  # w_o reads c_{t-1}
    np.testing.assert_allclose(np_(y), y_exp, rtol=1e-12)
    np.testing.assert_allclose(np_(c), c_exp, rtol=1e-12)
    y_plain, _ = lstm_by_hand(np_(x), np_(h0), np_(c0), 1.0)
    assert np.abs(y_exp - y_plain).max() > 1e-3  # the peepholes matter from a nonzero memory
    # zero memory: the peepholes have no effect
    zero = torch.zeros_like(c0)
    y0, _ = step(cell, x, (h0, zero))
    np.testing.assert_allclose(np_(y0), lstm_by_hand(np_(x), np_(h0), 0.0, 1.0)[0], rtol=1e-12)


def test_lstm_layer_norm_on_memory_by_hand():
    x, h0, c0 = tensors(8, 3)
    cell = make_cell("lstm", 1, kernel_size=1, layer_norm=True).double()
    set_conv(cell.W, LSTM_W)
    assert (cell.norm.num_groups, cell.norm.eps) == (1, 1e-12)
    i, f, o, j = (a * np_(x) + b * np_(h0) for a, b in LSTM_W)
    c_raw = np_(c0) * sig(f + 1.0) + sig(i) * np.tanh(j)
    c_exp = (c_raw - c_raw.mean()) / np.sqrt(c_raw.var() + 1e-12)
    y, (_, c) = step(cell, x, (h0, c0))
    np.testing.assert_allclose(np_(c), c_exp, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(np_(y), np.tanh(c_exp) * sig(o), rtol=1e-9, atol=1e-12)


def test_lstm_peephole_errors():
    with pytest.raises(ValueError, match=r"needs spatial=\(H, W\)"):
        make_cell("lstm", 2, peepholes=True)
    with pytest.raises(ValueError, match="only used by the peepholes"):
        make_cell("lstm", 2, spatial=(4, 4))
    cell = make_cell("lstm", 2, peepholes=True, spatial=(4, 4))
    with pytest.raises(ValueError, match=r"built for spatial=\(4, 4\)"):
        cell(torch.zeros(1, 2, 5, 5))


def test_ugrnn_by_hand():
    x, h0 = tensors(9, 2)
    cell = make_cell("ugrnn", 1, kernel_size=1).double()
    set_conv(cell.W_g, [[0.9, -0.5]], bias=-0.3)
    set_conv(cell.W_c, [[-1.2, 0.4]], bias=0.1)
    xv, hv = np_(x), np_(h0)
    g = sig(0.9 * xv - 0.5 * hv - 0.3 + 1)
    expected = g * hv + (1 - g) * np.tanh(-1.2 * xv + 0.4 * hv + 0.1)
    y, (h,) = step(cell, x, (h0,))
    np.testing.assert_allclose(np_(y), expected, rtol=1e-12)
    np.testing.assert_allclose(np_(h), expected, rtol=1e-12)


def test_intersection_by_hand():
    x, h0 = tensors(10, 2)
    cell = make_cell("intersection", 1, kernel_size=1).double()
    set_conv(cell.W_gh, [[0.3, -0.2]], bias=0.0)
    set_conv(cell.W_gy, [[-0.6, 0.5]], bias=0.1)
    set_conv(cell.W_h, [[1.0, 0.7]], bias=-0.1)
    set_conv(cell.W_y, [[0.8, -0.9]], bias=0.2)
    xv, hv = np_(x), np_(h0)
    g_h = sig(0.3 * xv - 0.2 * hv + 1)
    g_y = sig(-0.6 * xv + 0.5 * hv + 0.1 + 1)
    h_exp = g_h * hv + (1 - g_h) * np.tanh(1.0 * xv + 0.7 * hv - 0.1)
    y_exp = g_y * xv + (1 - g_y) * np.maximum(0.8 * xv - 0.9 * hv + 0.2, 0)
    y, (h,) = step(cell, x, (h0,))
    np.testing.assert_allclose(np_(y), y_exp, rtol=1e-12)
    np.testing.assert_allclose(np_(h), h_exp, rtol=1e-12)
    assert np.abs(y_exp - h_exp).max() > 1e-3  # output and state differ


def test_rgc_paper_form_by_hand():
    x, h0, c0 = tensors(11, 3)
    cell = make_cell("rgc", 1, kernel_size=1).double()
    set_conv(cell.W_ch, [[0.6]], bias=0.1)
    set_conv(cell.W_hh, [[-0.8]], bias=0.0)
    set_conv(cell.W_hc, [[1.3]], bias=-0.2)
    set_conv(cell.W_cc, [[0.4]], bias=0.3)
    xv, hv, cv = np_(x), np_(h0), np_(c0)
    h_exp = (1 - sig(0.6 * cv + 0.1)) * xv + (1 - sig(-0.8 * hv)) * hv
    c_exp = (1 - sig(1.3 * hv - 0.2)) * xv + (1 - sig(0.4 * cv + 0.3)) * cv
    y, (h, c) = step(cell, x, (h0, c0))
    np.testing.assert_allclose(np_(y), h_exp, rtol=1e-12)
    np.testing.assert_allclose(np_(h), h_exp, rtol=1e-12)
    np.testing.assert_allclose(np_(c), c_exp, rtol=1e-12)
    # zero state, zero biases (as initialised): h = c = x / 2
    fresh = make_cell("rgc", 1).double()
    y0, (_, c0_) = step(fresh, x, fresh.init_state(x))
    np.testing.assert_allclose(np_(y0), np_(x) / 2)
    np.testing.assert_allclose(np_(c0_), np_(x) / 2)


def test_rgc_as_run_by_hand():
    g = torch.Generator().manual_seed(12)
    u = torch.randn(1, 2, 3, 3, generator=g, dtype=torch.float64)
    h0, c0 = tensors(13, 2)
    cell = make_cell("rgc_as_run", 2, 1, kernel_size=1).double()
    assert cell.W_uh.bias is None
    set_conv(cell.W_u, [[0.7, -0.4]], bias=0.1)
    set_conv(cell.W_xc, [[1.1]], bias=-0.05)
    set_conv(cell.W_cc, [[0.5]], bias=0.2)
    set_conv(cell.W_hc, [[-0.9]], bias=0.0)
    set_conv(cell.W_hh, [[0.3]], bias=-0.1)
    set_conv(cell.W_ch, [[-0.6]], bias=0.15)
    set_conv(cell.W_uh, [[0.25, 0.8]])
    uv, hv, cv = np_(u), np_(h0), np_(c0)
    u0, u1 = uv[:, :1], uv[:, 1:]
    xv = elu(0.7 * u0 - 0.4 * u1 + 0.1)
    c_exp = elu((1 - sig(0.5 * cv + 0.2)) * cv + (1 - sig(-0.9 * hv)) * (1.1 * xv - 0.05))
    gate = sig(-0.6 * cv + 0.15 + 0.25 * u0 + 0.8 * u1)
    h_exp = elu((1 - sig(0.3 * hv - 0.1)) * hv + (1 - gate) * xv)
    y, (h, c) = step(cell, u, (h0, c0))
    np.testing.assert_allclose(np_(y), h_exp, rtol=1e-12)
    np.testing.assert_allclose(np_(h), h_exp, rtol=1e-12)
    np.testing.assert_allclose(np_(c), c_exp, rtol=1e-12)


def test_channel_and_option_errors():
    with pytest.raises(ValueError, match="needs in_channels == out_channels"):
        make_cell("intersection", 4, 8)
    with pytest.raises(ValueError, match="needs in_channels == out_channels"):
        make_cell("rgc", 4, 8)
    with pytest.raises(ValueError, match="needs in_channels == out_channels"):
        make_cell("time_decay", 4, 8)
    with pytest.raises(ValueError, match="unknown cell 'convlstm'; registered cells: gru,"):
        make_cell("convlstm", 4)
    with pytest.raises(ValueError, match="cell 'gru' has no option 'layer_norm'; its options"):
        make_cell("gru", 4, layer_norm=True)
    with pytest.raises(ValueError, match="'time_decay' has no option 'kernel_size'.*none"):
        make_cell("time_decay", 4, kernel_size=3)
    with pytest.raises(ValueError, match="kernel_size must be"):
        make_cell("ugrnn", 4, kernel_size=0)
    cell = make_cell("ugrnn", 4)
    with pytest.raises(ValueError, match=r"expects input \(B, 4, H, W\)"):
        cell(torch.zeros(1, 3, 5, 5))
    with pytest.raises(ValueError, match="got 2"):
        cell(torch.zeros(1, 4, 5, 5), (torch.zeros(1, 4, 5, 5),) * 2)


def build(kind: str, seed: int = 0):
    torch.manual_seed(seed)
    opts = {
        "time_decay": {},
        "lstm": {"layer_norm": True, "peepholes": True, "spatial": (5, 5)},
        "rgc_median": {"cell_depth": 2},
    }
    out = 3 if kind in ("time_decay", "intersection", "rgc") else 4
    return make_cell(kind, 3, out, **opts.get(kind, {}))


@pytest.mark.parametrize("kind", sorted(CELLS))
def test_three_steps_shapes_gradients_and_state_dict(kind):
    cell = build(kind)
    g = torch.Generator().manual_seed(1)
    xs = [torch.randn(2, 3, 5, 5, generator=g) for _ in range(3)]
    state = cell.init_state(xs[0])
    # every state tensor is as deep as the output, except the RGC-median memory c
    depths = [
        cell.cell_depth if (kind, name) == ("rgc_median", "c") else cell.out_channels
        for name in cell.state_names
    ]
    assert len(state) == len(cell.state_names)
    assert [s.shape for s in state] == [(2, d, 5, 5) for d in depths]
    assert not any(s.any() for s in state)
    outputs = []
    for x in xs:
        y, state = cell(x, state)
        assert y.shape == (2, cell.out_channels, 5, 5)
        assert [s.shape for s in state] == [(2, d, 5, 5) for d in depths]
        outputs.append(y)
    torch.stack(outputs).pow(2).sum().backward()
    for name, p in cell.named_parameters():
        assert p.grad is not None and torch.isfinite(p.grad).all(), name
        assert p.grad.abs().sum() > 0, f"{kind}: no gradient reaches {name}"
    # round trip: a differently seeded twin reproduces the outputs after load_state_dict
    twin = build(kind, seed=1)
    twin.load_state_dict(cell.state_dict())
    with torch.no_grad():
        state_a, state_b = cell.init_state(xs[0]), twin.init_state(xs[0])
        for x in xs:
            (ya, state_a), (yb, state_b) = cell.step(x, state_a), twin.step(x, state_b)
            torch.testing.assert_close(ya, yb, rtol=0, atol=0)


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")
def test_even_kernel_keeps_spatial_size():
    cell = make_cell("lstm", 2, 4, kernel_size=2, layer_norm=True, forget_bias=1.356)
    y, (h, c) = cell(torch.randn(1, 2, 7, 7))
    assert y.shape == h.shape == c.shape == (1, 4, 7, 7)
