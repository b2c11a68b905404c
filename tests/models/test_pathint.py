"""Path-integrating networks (spec: mouse-and-entorhinal.md §2): the cells against hand
computations, shapes of every core, the initial state, the L2 term and silencing."""

from __future__ import annotations

import pytest
import torch

from brainlike.models.pathint import PathIntegrator, RecurrentCore
from brainlike.models.zoo import build_from_description, describe_model


def test_ugrnn_step_against_a_hand_computed_value():
    cell = RecurrentCore(1, 1, "ugrnn")
    with torch.no_grad():
        cell.input.weight.copy_(torch.tensor([[0.5], [2.0]]))  # rows: g, c
        cell.input.bias.copy_(torch.tensor([0.0, -1.0]))
        cell.recurrent.weight.copy_(torch.tensor([[1.0], [-0.5]]))
    x, s = torch.tensor([[2.0]]), torch.tensor([[0.4]])
    (out,) = cell(x, (s,))
    g, c = 0.5 * 2 + 0.4, 2 * 2 - 1 - 0.5 * 0.4  # 1.4, 2.8
    u = 1 / (1 + torch.exp(torch.tensor(-(g + 1.0))))
    assert out.item() == pytest.approx(float(u * 0.4 + (1 - u) * c), abs=1e-6)


def test_gru_and_lstm_cells_equal_torchs_own():
    torch.manual_seed(0)
    x, h, c = torch.randn(3, 4), torch.randn(3, 5), torch.randn(3, 5)
    gru, ref = RecurrentCore(4, 5, "gru"), torch.nn.GRUCell(4, 5)
    with torch.no_grad():  # torch orders the GRU gates r, z, n like ours
        ref.weight_ih.copy_(gru.input.weight)
        ref.bias_ih.copy_(gru.input.bias)
        ref.weight_hh.copy_(gru.recurrent.weight)
        ref.bias_hh.copy_(gru.recurrent.bias)
    torch.testing.assert_close(gru(x, (h,))[0], ref(x, h))
    lstm, ref = RecurrentCore(4, 5, "lstm"), torch.nn.LSTMCell(4, 5)
    with torch.no_grad():  # gates i, f, g, o like torch
        ref.weight_ih.copy_(lstm.input.weight)
        ref.bias_ih.copy_(lstm.input.bias)
        ref.weight_hh.copy_(lstm.recurrent.weight)
        ref.bias_hh.zero_()
    h1, c1 = lstm(x, (h, c))
    rh, rc = ref(x, (h, c))
    torch.testing.assert_close(h1, rh)
    torch.testing.assert_close(c1, rc)


@pytest.mark.parametrize(
    "core,activation",
    [("rnn", "relu"), ("rnn", "tanh"), ("rnn", "sigmoid"), ("rnn", "linear"),
     ("ugrnn", "relu"), ("gru", "relu"), ("lstm", "relu")],
)  # fmt: skip
def test_every_core_gives_the_shapes_and_rebuilds_from_its_description(core, activation):
    torch.manual_seed(0)
    m = PathIntegrator(3, 7, 6, core, activation, units=8, g_units=5)
    out = m.run(torch.randn(2, 4, 3), torch.randn(2, 6))
    assert out["core"].shape == (2, 4, 8)
    assert out["g"].shape == (2, 4, 5) and (out["g"] >= 0).all()
    assert out["logits"].shape == (2, 4, 7)
    twin = build_from_description(describe_model(m))
    twin.load_state_dict(m.state_dict())
    x, code = torch.randn(2, 4, 3), torch.randn(2, 6)
    torch.testing.assert_close(twin(x, code), m(x, code))


def test_vanilla_rnn_first_step_starts_from_the_linear_map_of_the_code():
    m = PathIntegrator(2, 3, 4, "rnn", "linear", units=3, g_units=2)
    code = torch.tensor([[1.0, 0.0, 2.0, -1.0]])
    h0 = code @ m.init.weight.T  # a linear map, no bias
    torch.testing.assert_close(m.initial_state(code)[0], h0)
    x = torch.tensor([[[0.3, -0.2]]])
    expected = x[:, 0] @ m.cell.input.weight.T + m.cell.input.bias + h0 @ m.cell.recurrent.weight.T
    torch.testing.assert_close(m.run(x, code)["core"][:, 0], expected)
    lstm = PathIntegrator(2, 3, 4, "lstm", units=3, g_units=2)
    h, c = lstm.initial_state(code)
    torch.testing.assert_close(c, code @ lstm.init_c.weight.T)


def test_recurrent_weights_are_the_state_to_state_matrix():
    m = PathIntegrator(2, 3, 4, "ugrnn", units=5, g_units=2)
    (w,) = m.recurrent_weights()
    assert w is m.cell.recurrent.weight and w.shape == (10, 5)


def test_silence_zeros_the_units_at_every_step_and_is_undone():
    torch.manual_seed(1)
    m = PathIntegrator(2, 3, 4, "rnn", "tanh", units=6, g_units=5)
    x, code = torch.randn(2, 5, 2), torch.randn(2, 4)
    before = m.run(x, code)
    with m.silence({"g": [0, 3], "core": [2]}):
        out = m.run(x, code)
    assert (out["g"][..., [0, 3]] == 0).all() and (out["core"][..., 2] == 0).all()
    assert not torch.equal(out["core"], before["core"])  # silenced core units feed nothing back
    torch.testing.assert_close(m.run(x, code)["g"], before["g"])
    with pytest.raises(ValueError, match="do not exist"):
        with m.silence({"g": [5]}):
            pass
