"""Wiring penalty and L1 penalty against slow double loops."""

import numpy as np
import pytest
import torch
from torch import nn

from brainlike.analysis.topography import wiring_length
from brainlike.models.locality import LocalityConv2d, LocalityLinear, LocalityRNN
from brainlike.models.sheet import grid_coordinates
from brainlike.objectives.wiring import l1_penalty, wiring_distances, wiring_penalty


def _slow_wiring(w: np.ndarray, cin: np.ndarray, cout: np.ndarray) -> float:
    total = 0.0
    for i in range(w.shape[0]):
        for j in range(w.shape[1]):
            total += abs(float(w[i, j])) * float(np.linalg.norm(cout[i] - cin[j]))
    return total


def test_wiring_penalty_matches_double_loop_and_gradient():
    torch.manual_seed(0)
    layer = LocalityLinear((3, 4), (2, 2))
    w = layer.weight.detach().numpy()
    expected = _slow_wiring(w, layer.sheet["in"], layer.sheet["out"])
    pen = wiring_penalty(layer)
    assert pen.item() == pytest.approx(expected, rel=1e-5)
    assert pen.item() == pytest.approx(
        wiring_length(w, layer.sheet["in"], layer.sheet["out"]), rel=1e-5
    )
    pen.backward()
    d = wiring_distances(layer)
    torch.testing.assert_close(layer.weight.grad, torch.sign(layer.weight.detach()) * d)
    # cached as a non-persistent buffer: follows .to(), stays out of checkpoints
    assert "_wiring_distance" in dict(layer.named_buffers())
    assert "_wiring_distance" not in layer.state_dict()
    assert wiring_distances(layer) is d


def test_wiring_penalty_effective_and_pruned():
    torch.manual_seed(1)
    layer = LocalityLinear((3, 3), (3, 3))
    eff = (layer.weight * layer.prior).detach().numpy()
    assert wiring_penalty(layer, effective=True).item() == pytest.approx(
        _slow_wiring(eff, layer.sheet["in"], layer.sheet["out"]), rel=1e-5
    )
    layer.prune_(0.5)
    w = (layer.weight * layer.mask).detach().numpy()
    assert wiring_penalty(layer).item() == pytest.approx(
        _slow_wiring(w, layer.sheet["in"], layer.sheet["out"]), rel=1e-5
    )
    assert l1_penalty(layer).item() == pytest.approx(np.abs(w).sum(), rel=1e-6)
    assert l1_penalty(layer, effective=True).item() == pytest.approx(
        np.abs(layer.effective_weight().detach().numpy()).sum(), rel=1e-6
    )


def test_plain_linear_needs_coordinates():
    torch.manual_seed(2)
    layer = nn.Linear(4, 9)
    cin, cout = grid_coordinates(2, 2), grid_coordinates(3, 3)
    pen = wiring_penalty(layer, cin, cout)
    assert pen.item() == pytest.approx(
        _slow_wiring(layer.weight.detach().numpy(), cin, cout), rel=1e-5
    )
    with pytest.raises(ValueError, match="no sheet"):
        wiring_penalty(nn.Linear(4, 4))
    with pytest.raises(ValueError, match="coordinates give"):
        wiring_penalty(nn.Linear(4, 4), cin, cout)


def test_conv_counts_every_kernel_tap_and_rnn_uses_recurrent_weight():
    torch.manual_seed(3)
    conv = LocalityConv2d((2, 2), (1, 3), kernel_size=3)
    w = conv.weight.detach().abs().sum((2, 3)).numpy()
    assert wiring_penalty(conv).item() == pytest.approx(
        _slow_wiring(w, conv.sheet["in"], conv.sheet["out"]), rel=1e-5
    )
    rnn = LocalityRNN(5, (2, 3), metric="cityblock")
    cin = rnn.sheet["in"]
    slow = sum(
        abs(float(rnn.weight_hh.detach()[i, j])) * float(np.abs(cin[i] - cin[j]).sum())
        for i in range(6)
        for j in range(6)
    )
    assert wiring_penalty(rnn).item() == pytest.approx(slow, rel=1e-5)
    assert l1_penalty(rnn).item() == pytest.approx(rnn.weight_hh.abs().sum().item())
