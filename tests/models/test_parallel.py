"""Parallel subnetworks: every execution path computes the same network as the loop."""

import copy
import math

import pytest
import torch

from brainlike.models.parallel import (
    EXECUTIONS,
    StackedResNet20,
    StackedSmallCNN,
    _channels_last,
    build_stacked,
    choose_execution,
    grow_stacked,
    tune_cpu_allocator,
)

G = 4
INPUTS = {"small": (1, 8), "resnet20": (3, 8)}  # subnetwork -> (channels, size); small = fast
FAST = [e for e in EXECUTIONS if e != "loop"]


def assert_close(actual: torch.Tensor, expected: torch.Tensor, what: str) -> None:
    """Float tolerance: 1e-5 relative per element, plus 1e-5 of the tensor's largest value."""
    expected = expected.detach().double()
    scale = float(expected.abs().max()) if expected.numel() else 0.0
    torch.testing.assert_close(
        actual.detach().double(), expected, rtol=1e-5, atol=1e-5 * scale + 1e-12, msg=what
    )


def make(kind: str, groups: int = G, seed: int = 0):
    torch.manual_seed(seed)
    c, size = INPUTS[kind]
    net = build_stacked(kind, groups, c, 9)
    x = torch.randn(6, c, size, size)
    return net, x


def train_step(net, x, execution):
    """One forward (train mode) + backward; returns (output, {name: grad})."""
    net.train()
    net.zero_grad(set_to_none=True)
    out = net(x, execution=execution)
    weights = torch.linspace(-1, 1, out.numel()).view_as(out)  # every output matters differently
    (out * weights).sum().backward()
    return out.detach(), {n: p.grad.clone() for n, p in net.named_parameters()}


def test_executions_are_listed_and_loop_is_the_baseline():
    assert EXECUTIONS[0] == "loop" and "fused" in EXECUTIONS
    assert len(set(EXECUTIONS)) == len(EXECUTIONS)


@pytest.mark.parametrize("kind", ["small", "resnet20"])
@pytest.mark.parametrize("execution", FAST)
def test_execution_matches_loop_outputs_gradients_and_running_stats(kind, execution):
    net, x = make(kind)
    ref_net, other = net, copy.deepcopy(net)
    out_ref, grads_ref = train_step(ref_net, x, "loop")
    out, grads = train_step(other, x, execution)
    assert out.shape == (6, G, 9)
    assert_close(out, out_ref, f"{execution} train-mode output")
    assert grads.keys() == grads_ref.keys()
    for name in grads_ref:
        assert_close(grads[name], grads_ref[name], f"{execution} gradient of {name}")
    # BatchNorm running statistics (and counters) after the training step
    state, state_ref = other.state_dict(), ref_net.state_dict()
    bn_keys = [k for k in state_ref if "running_" in k or "num_batches_tracked" in k]
    assert bn_keys
    for k in bn_keys:
        assert_close(state[k].double(), state_ref[k].double(), f"{execution} buffer {k}")
    # eval mode: running statistics are used
    ref_net.eval()
    other.eval()
    with torch.no_grad():
        assert_close(other(x, execution=execution), ref_net(x, execution="loop"), "eval output")


@pytest.mark.parametrize("kind", ["small", "resnet20"])
def test_executions_agree_in_double_precision_and_on_one_channel_input(kind):
    torch.manual_seed(1)
    net = build_stacked(kind, 3, 1, 4).double()
    x = torch.randn(5, 1, 8, 8, dtype=torch.float64)
    out_ref, grads_ref = train_step(copy.deepcopy(net), x, "loop")
    for execution in FAST:
        out, grads = train_step(copy.deepcopy(net), x, execution)
        torch.testing.assert_close(out, out_ref, rtol=1e-10, atol=1e-12)
        for name in grads_ref:
            torch.testing.assert_close(grads[name], grads_ref[name], rtol=1e-9, atol=1e-11)


def test_channels_last_helper_handles_one_channel_tensors():
    for c in (1, 3):
        x = torch.randn(2, c, 5, 4)
        y = _channels_last(x)
        assert y.is_contiguous(memory_format=torch.channels_last)
        assert y.stride(1) == 1
        torch.testing.assert_close(y, x, rtol=0, atol=0)


def test_invalid_execution_raises():
    net, x = make("small")
    with pytest.raises(ValueError, match="execution must be one of"):
        net(x, execution="vmap")
    with pytest.raises(ValueError, match="unknown executions"):
        choose_execution(net, 1, 8, batch_size=2, candidates=("loop", "nope"))


@pytest.mark.parametrize("kind", ["small", "resnet20"])
def test_grow_keeps_trained_subnetworks_and_adds_working_ones(kind):
    net, x = make(kind)
    opt = torch.optim.Adam(net.parameters(), lr=1e-2)
    for _ in range(2):  # move weights and running statistics away from their initial values
        opt.zero_grad()
        net(x, execution="fused").square().mean().backward()
        opt.step()
    net.eval()
    grown = grow_stacked(net, extra=2)
    assert grown.groups == G + 2 and type(grown) is type(net)
    grown.eval()
    with torch.no_grad():
        for execution in EXECUTIONS:
            before = net(x, execution=execution)
            after = grown(x, execution=execution)
            assert after.shape == (6, G + 2, 9)
            torch.testing.assert_close(after[:, :G], before, rtol=1e-6, atol=1e-6)
            assert torch.isfinite(after[:, G:]).all()
            assert after[:, G:].std() > 0
    # the new subnetworks train: their slices receive gradients
    grown.train()
    out_ref, grads_ref = train_step(grown, x, "loop")
    assert out_ref.shape == (6, G + 2, 9)
    for name, grad in grads_ref.items():
        assert grad.shape[0] >= G + 2
        assert grad[G:].abs().sum() > 0, name
    # and the grown network still agrees across executions
    out, grads = train_step(copy.deepcopy(grown), x, "fused_cl")
    assert_close(out, out_ref, "grown fused_cl output")


def _resnet20_macs(in_channels: int, size: int, out_features: int) -> int:
    """Multiply-accumulates of one CIFAR ResNet-20, counted by hand from the layer shapes."""
    k = 3 * 3
    macs = size * size * 16 * in_channels * k  # stem conv 3x3, in -> 16
    s, c_in = size, 16
    for planes, stride in ((16, 1), (32, 2), (64, 2)):
        for i in range(3):  # three basic blocks per stage
            st = stride if i == 0 else 1
            s_out = (s + 2 - 3) // st + 1
            macs += s_out * s_out * planes * c_in * k  # conv1 of the block
            macs += s_out * s_out * planes * planes * k  # conv2
            s, c_in = s_out, planes
    return macs + 64 * out_features  # linear head (option-A shortcuts have no MACs)


def test_flops_per_image_of_one_resnet20_matches_a_hand_count():
    net = StackedResNet20(1, 3, 10)
    expected = 2 * _resnet20_macs(3, 32, 10)
    assert net.flops_per_image(3, 32) == expected
    assert expected == 2 * 40_551_040  # about 81 MFLOPs
    assert math.isclose(expected / 1e6, 81.9, rel_tol=0.02)
    # G subnetworks cost G times as much; the flop counter leaves the mode alone
    net4 = StackedResNet20(4, 1, 16)
    net4.train()
    assert net4.flops_per_image(1, 32) == 4 * 2 * _resnet20_macs(1, 32, 16)
    assert net4.training


def test_flops_per_image_of_small_cnn():
    net = StackedSmallCNN(2, 1, 5, channels=(4, 8))
    macs = 16 * 16 * 4 * 1 * 9 + 8 * 8 * 8 * 4 * 9 + 8 * 5
    assert net.flops_per_image(1, 16) == 2 * 2 * macs


def test_resnet20_parameter_count_matches_the_source():
    net = StackedResNet20(1, 1, 10)
    assert sum(p.numel() for p in net.parameters()) == 269_434  # spec: topography.md §1


def test_state_dict_layout_is_stacked_along_the_group_axis():
    net = StackedResNet20(3, 1, 10)
    state = net.state_dict()
    assert state["conv1.weight"].shape == (3, 16, 1, 3, 3)
    assert state["bn1.running_mean"].shape == (3 * 16,)
    assert state["blocks.8.conv2.weight"].shape == (3, 64, 64, 3, 3)
    assert state["fc.weight"].shape == (3, 10, 64) and state["fc.bias"].shape == (3, 10)


@pytest.mark.parametrize("kind", ["small", "resnet20"])
def test_choose_execution_picks_a_valid_path_and_changes_nothing(kind):
    net, _ = make(kind)
    net.eval()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    c, size = INPUTS[kind]
    result = choose_execution(net, c, size, batch_size=4, repeats=1)
    assert result["execution"] in EXECUTIONS
    for e in EXECUTIONS:
        assert f"{e}_s" in result
    assert math.isfinite(result["loop_s"]) and result["loop_s"] > 0
    chosen = result[f"{result['execution']}_s"]
    assert chosen == min(v for k, v in result.items() if k.endswith("_s"))
    after = net.state_dict()
    for k, v in before.items():
        torch.testing.assert_close(after[k], v, rtol=0, atol=0, msg=k)
    assert all(p.grad is None for p in net.parameters())
    assert not net.training


def test_choose_execution_always_times_the_loop():
    net, _ = make("small")
    result = choose_execution(net, 1, 8, batch_size=2, repeats=1, candidates=("fused",))
    assert result["execution"] in ("loop", "fused")
    assert set(k for k in result if k.endswith("_s")) == {"loop_s", "fused_s"}


def test_tune_cpu_allocator_is_idempotent():
    first = tune_cpu_allocator()
    assert isinstance(first, bool)
    assert tune_cpu_allocator() is first
