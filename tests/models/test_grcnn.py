"""GRCNN: the spec's parameter counts, the GRCL equations by hand, ungated == unrolled ResNet,
per-iteration states and hooks (spec: recurrent.md §4)."""

import math

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from brainlike.models import create_model, list_models
from brainlike.models.grcnn import GRCL, GRCNN


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def randomize_norms(module: nn.Module, seed: int = 0) -> None:
    """Non-trivial BN statistics and affines, so eval-mode checks exercise every term."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm2d):
            c = m.num_features
            m.running_mean.copy_(torch.randn(c, generator=g))
            m.running_var.copy_(torch.rand(c, generator=g) + 0.5)
            m.weight.data.copy_(torch.rand(c, generator=g) + 0.5)
            m.bias.data.copy_(torch.randn(c, generator=g) * 0.1)


def preact(x, bn: nn.BatchNorm2d, conv: nn.Conv2d):
    """Explicit BN -> ReLU -> conv with the module's weights (eval-mode statistics)."""
    x = F.batch_norm(x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps)
    return F.conv2d(
        F.relu(x), conv.weight, conv.bias, conv.stride, conv.padding, groups=conv.groups
    )


@pytest.mark.parametrize("name, expected", [("grcnn55", 24_929_704), ("grcnn109", 45_075_880)])
def test_parameter_counts_match_the_spec(name, expected):
    assert n_params(create_model(name, num_classes=1000)) == expected  # spec: recurrent.md §4


def test_registry_lists_the_family_and_depths_are_checked():
    assert {"grcnn55", "grcnn109", "grcnn-small"} <= set(list_models())
    assert GRCNN(55, width=0.25).iterations == (3, 3, 4, 3)
    assert GRCNN(109, width=0.25).iterations == (3, 3, 22, 3)
    with pytest.raises(ValueError, match="depth must be one of"):
        GRCNN(depth=50)
    with pytest.raises(ValueError, match="not divisible by groups"):
        GRCL(48, 64, 16, groups=32)


def test_one_iteration_by_hand():
    # 1 channel, 1x1 image: every 3x3 conv sees only its centre tap; BNs are identities.
    grcl = GRCL(1, 1, 1, n_iterations=1, groups=1).eval()
    with torch.no_grad():
        for m in grcl.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.eps = 0.0  # running stats (0, 1) and affine (1, 0): exact identity
            if isinstance(m, nn.Conv2d):
                m.weight.zero_()
        grcl.A0.conv.weight[0, 0, 1, 1] = 2.0  # x_0 = 2 relu(u)
        grcl.C.conv.weight.fill_(0.5)  # C(u) = 0.5 relu(u) - 1
        grcl.C.conv.bias.fill_(-1.0)
        grcl.B_conv.weight.fill_(1.0)  # B_1(x) = relu(x)
        grcl.A["1"].reduce.conv.weight.fill_(1.0)  # A_1(x) = 3 relu(x)
        grcl.A["1"].spatial.conv.weight[0, 0, 1, 1] = 3.0
        grcl.A["1"].expand.conv.weight.fill_(1.0)
        u = torch.tensor([1.0, 3.0, -1.0]).view(3, 1, 1, 1)
        x1, (x0, x1_state) = grcl(u, return_states=True)
    # u = 1: x0 = 2, C = -0.5, g1 = 2 - 0.5, A1 = 6; u = 3: x0 = 6, C = 0.5, g1 = 6.5, A1 = 18
    sig = lambda z: 1 / (1 + math.exp(-z))  # noqa: E731
    assert x0.flatten().tolist() == [2.0, 6.0, 0.0]
    expected = [2 + sig(1.5) * 6, 6 + sig(6.5) * 18, 0.0]
    assert torch.allclose(x1.flatten(), torch.tensor(expected), atol=1e-6)
    assert x1_state is x1


@pytest.mark.parametrize("n_iterations", [1, 3])
def test_grcl_matches_an_explicit_implementation_of_the_equations(n_iterations):
    torch.manual_seed(0)
    grcl = GRCL(4, 8, 2, n_iterations=n_iterations, groups=2)
    randomize_norms(grcl)
    grcl.eval()
    u = torch.randn(2, 4, 5, 6)
    with torch.no_grad():
        got, states = grcl(u, return_states=True)
        # spec: recurrent.md §4, written out term by term
        x = preact(u, grcl.A0.bn, grcl.A0.conv)  # x_0 = A_0(u)
        c = preact(u, grcl.C.bn, grcl.C.conv)  # C(u)
        want = [x]
        for t in range(1, n_iterations + 1):
            g = preact(x, grcl.B_norm[str(t)][0], grcl.B_conv) + c
            a = grcl.A[str(t)]
            h = preact(x, a.reduce.bn, a.reduce.conv)
            h = preact(h, a.spatial.bn, a.spatial.conv)
            h = preact(h, a.expand.bn, a.expand.conv)
            x = x + torch.sigmoid(g) * h
            want.append(x)
    assert len(states) == n_iterations + 1
    for s, w in zip(states, want, strict=True):
        assert torch.allclose(s, w, atol=1e-5)
    assert torch.allclose(got, want[-1], atol=1e-5)


def unrolled_resnet(in_channels: int, channels: int, planes: int, blocks: int, groups: int):
    """A pre-activation bottleneck ResNet built from scratch: stem conv, then residual blocks."""

    def bn_relu_conv(i, o, k, g=1):
        return [nn.BatchNorm2d(i), nn.ReLU(), nn.Conv2d(i, o, k, 1, k // 2, groups=g, bias=False)]

    stem = nn.Sequential(*bn_relu_conv(in_channels, channels, 3, groups))
    residual = nn.ModuleList(
        nn.Sequential(
            *bn_relu_conv(channels, planes, 1),
            *bn_relu_conv(planes, planes, 3),
            *bn_relu_conv(planes, channels, 1),
        )
        for _ in range(blocks)
    )

    def forward(u):
        x = stem(u)
        for block in residual:
            x = x + block(x)
        return x

    return nn.ModuleList([stem, *residual]), forward


@pytest.mark.parametrize("train", [False, True])
def test_ungated_grcl_is_an_unrolled_resnet(train):
    torch.manual_seed(1)
    T = 3
    grcl = GRCL(4, 8, 2, n_iterations=T, gated=False, groups=2)
    randomize_norms(grcl)
    resnet, resnet_forward = unrolled_resnet(4, 8, 2, T, groups=2)
    # same weights, module by module: A_0 -> stem, A_t -> residual block t
    sources = [grcl.A0] + [grcl.A[str(t)] for t in range(1, T + 1)]
    for src, dst in zip(sources, resnet, strict=True):
        dst.load_state_dict(dict(zip(dst.state_dict(), src.state_dict().values(), strict=True)))
    assert n_params(grcl) == n_params(resnet)  # no gate parameters left
    grcl.train(train)
    resnet.train(train)
    u = torch.randn(3, 4, 6, 6)
    assert torch.allclose(grcl(u), resnet_forward(u), atol=1e-5)


def test_a_fully_open_gate_reduces_to_the_ungated_update():
    torch.manual_seed(2)
    gated = GRCL(4, 8, 2, n_iterations=2, groups=2).eval()
    ungated = GRCL(4, 8, 2, n_iterations=2, gated=False, groups=2).eval()
    ungated.load_state_dict(gated.state_dict(), strict=False)
    with torch.no_grad():
        gated.C.conv.bias.fill_(100.0)  # sigmoid(g_t) == 1
    u = torch.randn(2, 4, 5, 5)
    assert torch.allclose(gated(u), ungated(u), atol=1e-5)


@pytest.fixture(scope="module")
def small():
    torch.manual_seed(0)
    return create_model("grcnn-small", iterations=(1, 2, 1, 1))


def test_states_have_one_entry_per_iteration_with_stage_shapes(small):
    x = torch.randn(2, 3, 32, 32)
    small.eval()
    with torch.no_grad():
        logits, states = small(x, return_states=True)
        plain = small(x)
    assert torch.allclose(logits, plain)
    assert logits.shape == (2, 10)
    assert list(states) == ["stage1", "stage2", "stage3", "stage4"]
    widths, sides = (64, 128, 256, 512), (32, 16, 8, 4)  # width 0.25, 32 px
    for (name, seq), T, c, s in zip(states.items(), (1, 2, 1, 1), widths, sides, strict=True):
        assert len(seq) == T + 1, name
        assert all(state.shape == (2, c, s, s) for state in seq), name
    # the default small model has the GRCNN-55 iteration counts
    assert create_model("grcnn-small").iterations == (3, 3, 4, 3)


def test_small_model_trains_on_a_32px_batch():
    torch.manual_seed(0)
    model = create_model("grcnn-small", iterations=(1, 1, 1, 1)).train()
    x, y = torch.randn(2, 3, 32, 32), torch.tensor([0, 7])
    loss = F.cross_entropy(model(x), y)
    loss.backward()
    assert torch.isfinite(loss)
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_hooks_on_iteration_modules_fire_once_each_and_read_the_states(small):
    small.eval()
    names = [f"stage{i}.iter{t}" for i, T in enumerate((1, 2, 1, 1), 1) for t in range(T + 1)]
    names += [f"stage{i}.gate{t}" for i, T in enumerate((1, 2, 1, 1), 1) for t in range(1, T + 1)]
    modules = dict(small.named_modules())
    seen: dict[str, list[torch.Tensor]] = {n: [] for n in names}
    handles = [
        modules[n].register_forward_hook(lambda m, i, o, n=n: seen[n].append(o)) for n in names
    ]
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        _, states = small(x, return_states=True)
    for h in handles:
        h.remove()
    assert all(len(v) == 1 for v in seen.values()), {k: len(v) for k, v in seen.items()}
    assert torch.equal(seen["stage2.iter2"][0], states["stage2"][2])
    gate = seen["stage2.gate1"][0]
    assert gate.shape == states["stage2"][0].shape and 0 < gate.min() and gate.max() < 1


def test_extract_activations_reads_an_iteration_by_name(small):
    from brainlike.analysis.activations import extract_activations

    x = torch.randn(2, 3, 32, 32)
    acts = extract_activations(small, x, ["stage2.iter1"], progress=False)
    with torch.no_grad():
        _, states = small.eval()(x, return_states=True)
    want = states["stage2"][1].flatten(1).numpy()
    assert acts["stage2.iter1"].shape == want.shape
    assert torch.allclose(
        torch.from_numpy(acts["stage2.iter1"].copy()), torch.from_numpy(want), atol=1e-5
    )
