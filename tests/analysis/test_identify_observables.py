"""Observables of a layer (spec learning-rules.md §2): statistics by hand, the activity change
against finite differences, the layers a meter finds."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from brainlike.analysis.identify.observables import (
    STATISTICS,
    LayerTap,
    ObservableMeter,
    activity_change,
    distribution_statistics,
    input_sums,
    layer_positions,
    statistic_keys,
)
from brainlike.rules.convert import convert
from brainlike.train.callbacks.observables import checkpoint_steps

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/analysis/conftest.py


def stat(values, transform, name):
    out = distribution_statistics(torch.tensor(values, dtype=torch.float64))
    t = ("identity", "abs", "square").index(transform)
    return out[:, t, STATISTICS.index(name)].numpy()


def test_statistics_by_hand_on_five_values():
    v = [[-2.0, -1.0, 0.0, 1.0, 4.0]]
    # identity: mean 0.4, population variance (5.76 + 1.96 + 0.16 + 0.36 + 12.96) / 5 = 4.24
    assert stat(v, "identity", "mean") == pytest.approx(0.4)
    assert stat(v, "identity", "variance") == pytest.approx(4.24)
    assert stat(v, "identity", "norm") == pytest.approx(math.sqrt(22))
    assert stat(v, "identity", "median") == pytest.approx(0.0)
    assert stat(v, "identity", "q3") == pytest.approx(1.0)  # sorted[3] exactly
    assert stat(v, "identity", "skew") == pytest.approx(3 * 0.4 / math.sqrt(4.24))
    fourth = (2.4**4 + 1.4**4 + 0.4**4 + 0.6**4 + 3.6**4) / 5
    assert stat(v, "identity", "kurtosis") == pytest.approx(fourth / 4.24**2)
    # |v| = 2 1 0 1 4 (sorted 0 1 1 2 4); v^2 = 4 1 0 1 16 (sorted 0 1 1 4 16)
    assert stat(v, "abs", "mean") == pytest.approx(1.6)
    assert stat(v, "abs", "median") == pytest.approx(1.0)
    assert stat(v, "abs", "q3") == pytest.approx(2.0)
    assert stat(v, "square", "mean") == pytest.approx(4.4)
    assert stat(v, "square", "variance") == pytest.approx(
        (0.16 + 11.56 + 19.36 + 11.56 + 134.56) / 5
    )
    assert stat(v, "square", "norm") == pytest.approx(math.sqrt(274))
    assert stat(v, "square", "median") == pytest.approx(1.0)
    assert stat(v, "square", "q3") == pytest.approx(4.0)


def test_quartiles_interpolate_linearly_and_rows_are_separate():
    v = [[1.0, 2.0, 3.0, 4.0], [4.0, 4.0, 4.0, 4.0]]
    assert stat(v, "identity", "median") == pytest.approx([2.5, 4.0])
    assert stat(v, "identity", "q3") == pytest.approx([3.25, 4.0])  # position 2.25
    assert np.isnan(stat(v, "identity", "skew")[1])  # zero variance: divergent, NaN
    assert np.isnan(stat(v, "identity", "kurtosis")[1])


def rectified_sum(layer, x):
    return torch.relu(layer(x)).sum()


@torch.no_grad()
def finite_difference_change(layer, x, pre=None, post=None, h=1e-6):
    """(1/N_out) sum_{i in post} sum_{j in pre} d relu(y_i)/d x_j, by central differences."""
    out = []
    for n in range(x.shape[0]):
        xn = x[n : n + 1]
        flat = xn.flatten()
        n_out = layer(xn).numel()
        posts = range(n_out) if post is None else post.tolist()
        total = 0.0
        for j in range(flat.numel()) if pre is None else pre.tolist():
            e = torch.zeros_like(flat)
            e[j] = h
            up = torch.relu(layer((flat + e).view_as(xn))).flatten()[posts].sum()
            down = torch.relu(layer((flat - e).view_as(xn))).flatten()[posts].sum()
            total += float(up - down) / (2 * h)
        out.append(total / len(posts))
    return np.array(out)


@pytest.mark.parametrize(
    "layer, shape",
    [
        (nn.Linear(6, 5), (3, 6)),
        (nn.Conv2d(2, 3, 3, padding=1), (3, 2, 4, 4)),
        (nn.Conv2d(2, 4, 3, stride=2, padding="valid", groups=2), (2, 2, 5, 5)),
    ],
    ids=["linear", "conv", "conv-strided-grouped"],
)
def test_activity_change_equals_finite_differences(layer, shape):
    torch.manual_seed(0)
    layer = layer.double()
    x = torch.randn(*shape, dtype=torch.float64)
    with LayerTap([("layer", layer)]) as tap:
        y = layer(x)
    call = tap.calls["layer"]
    slope = (y.flatten(1) > 0).double()
    got = activity_change(slope, input_sums(layer, call)).numpy()
    np.testing.assert_allclose(got, finite_difference_change(layer, x), rtol=1e-6, atol=1e-9)
    # recorded units only: inputs and outputs drawn separately
    pre = torch.tensor([0, 2, 3])
    post = torch.tensor([1, 4])
    got = activity_change(slope, input_sums(layer, call, pre), post).numpy()
    np.testing.assert_allclose(
        got, finite_difference_change(layer, x, pre, post), rtol=1e-6, atol=1e-9
    )


def small_net():
    torch.manual_seed(1)
    return nn.Sequential(
        nn.Conv2d(1, 3, 3), nn.ReLU(), nn.Flatten(), nn.Linear(12, 4), nn.ReLU(), nn.Linear(4, 2)
    ).double()


def test_the_meter_uses_the_forward_weights_under_feedback_alignment():
    """The activity change is a property of the forward map: a network converted to feedback
    alignment (whose autograd backward uses B~) measures the same numbers, and the mean equals
    finite differences of the layer."""
    net = small_net()
    x = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    meter = ObservableMeter()
    plain = meter.measure(net, x)
    fd = finite_difference_change(net[0], x).mean()
    k = statistic_keys().index(("activity_change", "identity", "mean"))
    assert plain[0, 0, k] == pytest.approx(fd, rel=1e-6)
    # the readout is not rectified: its change is the mean of its weights' row sums
    assert plain[0, 2, k] == pytest.approx(float(net[5].weight.detach().sum()) / 2, rel=1e-9)
    assert [i.position for i in meter.info] == ["early", "middle", "deep"]
    assert [i.readout for i in meter.info] == [False, False, True]
    convert(net, "feedback_alignment")
    converted = ObservableMeter().measure(net, x)
    np.testing.assert_allclose(converted, plain, rtol=1e-12, equal_nan=True)


def test_weights_and_activations_are_the_layers_own():
    net = small_net()
    x = torch.randn(5, 1, 4, 4, dtype=torch.float64)
    values = ObservableMeter().measure(net, x)
    keys = statistic_keys()
    w = net[3].weight.detach().flatten()
    assert values[0, 1, keys.index(("weights", "identity", "median"))] == pytest.approx(
        float(w.median(0).values if w.numel() % 2 else w.quantile(0.5))
    )
    with torch.no_grad():  # the rectified output, per example
        a = torch.relu(net[3](net[2](net[1](net[0](x)))))
    norm = a.norm(dim=1).mean()
    assert values[0, 1, keys.index(("activations", "identity", "norm"))] == pytest.approx(
        float(norm)
    )


def test_subsampling_and_noise_are_reproducible_and_change_the_numbers():
    net = small_net()
    x = torch.randn(6, 1, 4, 4, dtype=torch.float64)
    settings = [(1.0, 0.0, 0), (0.5, 0.0, 0), (0.5, 0.0, 1), (1.0, 0.3, 0)]
    a = ObservableMeter(recordings=settings, batch_size=4).measure(net, x, checkpoint=2)
    b = ObservableMeter(recordings=settings, batch_size=4).measure(net, x, checkpoint=2)
    np.testing.assert_array_equal(a, b)
    keys = statistic_keys()
    act = keys.index(("activations", "identity", "mean"))
    assert a[1, 0, act] != a[0, 0, act] and a[2, 0, act] != a[1, 0, act]  # other units
    weight_var = keys.index(("weights", "identity", "variance"))
    # additive noise of std 0.3 adds about 0.09 to the variance of 27 + 48 + 8 weights
    assert a[3, :, weight_var] - a[0, :, weight_var] == pytest.approx([0.09] * 3, abs=0.06)
    c = ObservableMeter(recordings=settings, batch_size=4).measure(net, x, checkpoint=3)
    assert c[3, 0, weight_var] != a[3, 0, weight_var]  # fresh noise at every checkpoint
    np.testing.assert_array_equal(c[:3], a[:3])


def test_layer_positions_are_thirds_of_the_forward_order():
    assert layer_positions(1) == ["early"]
    assert layer_positions(2) == ["early", "middle"]
    assert layer_positions(4) == ["early", "middle", "deep", "deep"]
    assert layer_positions(7) == ["early"] * 2 + ["middle"] * 2 + ["deep"] * 3


def test_checkpoint_schedules():
    assert checkpoint_steps(100, 5) == [0, 25, 50, 75, 100]
    assert checkpoint_steps(3, 4) == [0, 1, 2, 3]
    assert checkpoint_steps(10, 4) == [0, 3, 7, 10]  # 3.33 -> 3, 6.67 -> 7
    log = checkpoint_steps(1000, 5, "log")
    assert log == [0, 1, 10, 100, 1000]
    assert checkpoint_steps(4, 5, "log") == [0, 1, 2, 3, 4]  # bumped to stay distinct
    with pytest.raises(ValueError, match="observe.checkpoints is 21, but the run has only 10"):
        checkpoint_steps(10, 21)
