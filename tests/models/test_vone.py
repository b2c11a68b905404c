"""VOneBlock: V1 parameter distributions, Gabor kernels, cell types, noise, composition."""

import math

import numpy as np
import pytest
import torch
from torch import nn

from brainlike.models.vone import (
    GaborFilterBank,
    VOneBlock,
    gabor_kernel,
    sample_v1_parameters,
    with_vone,
)

N = 10_000


@pytest.fixture(scope="module")
def v1():
    return sample_v1_parameters(N, seed=0)


def grating(size: int, freq: float, theta: float, phase: float) -> torch.Tensor:
    """Full-contrast grating in the module's axes (r rows down, c columns right)."""
    r, c = torch.meshgrid(
        torch.arange(size, dtype=torch.float64) - size // 2,
        torch.arange(size, dtype=torch.float64) - size // 2,
        indexing="ij",
    )
    return torch.cos(2 * math.pi * freq * (r * math.cos(theta) + c * math.sin(theta)) + phase)


def test_orientation_matches_de_valois_histogram(v1):
    ori = v1["orientation"]
    assert ori.min() >= 0 and ori.max() < math.pi
    assert ori.min() < 0.01 and ori.max() > math.pi - 0.01
    # bins centred on 0, 45, 90, 135 deg (the 0 bin wraps around 180)
    shifted = np.rad2deg(ori + math.pi / 8) % 180
    observed = np.histogram(shifted, bins=[0, 45, 90, 135, 180])[0]
    expected = N * np.array([66, 49, 77, 54]) / 246
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < 11.34  # chi-square, 3 dof, p = 0.01
    assert np.allclose(observed / N, expected / N, atol=0.015)


def test_spatial_frequency_quantiles_follow_the_log_histogram(v1):
    sf = v1["spatial_frequency"]
    assert sf.min() >= 0.5 and sf.max() <= 5.6  # VOneNet keeps bins up to sf_max = 6 cyc/deg
    # reference: piecewise log2-uniform inverse CDF of the De Valois counts below 5.6 cyc/deg
    edges = np.array([0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6])
    cdf = np.concatenate([[0], np.cumsum([4, 4, 8, 25, 32, 26, 28])]) / 127
    qs = np.array([0.1, 0.25, 0.5, 0.75, 0.9])
    expected = 2 ** np.interp(qs, cdf, np.log2(edges))
    np.testing.assert_allclose(np.quantile(sf, qs), expected, rtol=0.04)
    assert 2.4 < np.median(sf) < 2.7  # analytic median 2.53 cyc/deg


def test_envelopes_and_phase(v1):
    assert v1["phase"].min() >= 0 and v1["phase"].max() < 2 * math.pi
    assert abs(v1["phase"].mean() - math.pi) < 0.05
    for key in ("nx", "ny"):
        assert v1[key].min() >= 0.1 and v1[key].max() <= 10**0.2
    # Ringach: nx never falls in the top bin [10**-0.04, 10**0.2]
    assert v1["nx"].max() <= 10**-0.04 + 1e-12
    # nx and spatial frequency are coupled (copula correlation 0.75)
    rank = np.corrcoef(
        np.argsort(np.argsort(v1["nx"])), np.argsort(np.argsort(v1["spatial_frequency"]))
    )
    assert 0.65 < rank[0, 1] < 0.8
    np.testing.assert_allclose(v1["sigma_x"], v1["nx"] / v1["spatial_frequency"])


def test_sampling_is_seeded():
    a, b, c = (sample_v1_parameters(64, seed=s) for s in (3, 3, 4))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["orientation"], c["orientation"])


def test_gabor_kernel_hand_checks():
    even = gabor_kernel(0.1, 3.0, 4.0, theta=0.7, phase=0.0, kernel_size=25)
    assert even.shape == (25, 25)
    assert divmod(int(even.argmax()), 25) == (12, 12)
    assert even[12, 12].item() == pytest.approx(1 / (2 * math.pi * 3.0 * 4.0), rel=1e-6)
    odd = gabor_kernel(0.1, 3.0, 4.0, theta=0.7, phase=math.pi / 2, kernel_size=25)
    assert abs(odd.sum().item()) < 1e-6 * odd.abs().sum().item()
    assert odd[12, 12].abs().item() < 1e-7
    with pytest.raises(ValueError, match="odd size"):
        gabor_kernel(0.1, 3.0, 3.0, kernel_size=24)


@pytest.mark.parametrize("theta", [0.0, math.pi / 4, 1.2, math.pi / 2, 2.5])
def test_maximum_response_at_the_filter_orientation(theta):
    kernel = gabor_kernel(0.15, 4.0, 4.0, theta=theta, phase=0.0, kernel_size=25).double()
    probes = np.linspace(0, math.pi, 36, endpoint=False)
    energy = []
    for t in probes:  # best response over grating phase
        resp = [(grating(25, 0.15, t, p) * kernel).sum().abs().item() for p in (0, math.pi / 2)]
        energy.append(math.hypot(*resp))
    best = probes[int(np.argmax(energy))]
    gap = abs(best - theta) % math.pi
    assert min(gap, math.pi - gap) <= math.pi / 36 + 1e-9


def tuned_block(**kwargs) -> VOneBlock:
    """One simple and one complex cell, both at 4 cyc/deg, 30 deg, envelopes of 0.5 cycles."""
    params = {
        "orientation": np.full(2, math.pi / 6),
        "spatial_frequency": np.full(2, 4.0),
        "phase": np.zeros(2),
        "nx": np.full(2, 0.5),
        "ny": np.full(2, 0.5),
    }
    return VOneBlock(in_channels=1, simple_channels=1, complex_channels=1, params=params, **kwargs)


def test_complex_cells_are_phase_invariant_simple_cells_are_not():
    block = tuned_block(noise=False, bottleneck_channels=None)
    freq = 4.0 / 28  # cycles/pixel at 224 px over 8 deg
    phases = np.linspace(0, 2 * math.pi, 12, endpoint=False)
    images = torch.stack([grating(224, freq, math.pi / 6, p) for p in phases]).float()
    with torch.no_grad():
        out = block(images[:, None])[:, :, 28, 28]  # centre of the 56 x 56 map
    simple, complex_ = out[:, 0], out[:, 1]
    assert (complex_.max() - complex_.min()) / complex_.mean() < 0.05
    assert simple.min() < 0.05 * simple.max()  # rectified: drops to ~0 at the wrong phase
    assert complex_.mean() > 0.5 * simple.max()


def test_block_shapes_hooks_and_fixed_filters():
    block = VOneBlock(simple_channels=8, complex_channels=8, image_size=64, noise=False)
    seen = {}
    for name in ("simple", "complex", "noise", "bottleneck"):
        getattr(block, name).register_forward_hook(
            lambda m, i, o, name=name: seen.__setitem__(name, tuple(o.shape))
        )
    out = block(torch.randn(2, 3, 64, 64))
    assert out.shape == (2, 64, 16, 16)
    assert seen == {
        "simple": (2, 8, 16, 16),
        "complex": (2, 8, 16, 16),
        "noise": (2, 16, 16, 16),
        "bottleneck": (2, 64, 16, 16),
    }
    trainable = [n for n, p in block.named_parameters() if p.requires_grad]
    assert trainable == ["bottleneck.weight"]
    assert (
        VOneBlock(simple_channels=2, complex_channels=2, bottleneck_channels=None).out_channels
    ) == 4


def test_default_geometry_matches_the_spec():
    block = VOneBlock(simple_channels=4, complex_channels=4, bottleneck_channels=None, noise=False)
    assert block(torch.zeros(1, 3, 224, 224)).shape == (1, 8, 56, 56)
    bank = block.simple.q0
    assert bank.weight.shape == (4, 3, 25, 25) and bank.stride == 4 and bank.padding == 12
    # each filter reads exactly one colour channel, shared by the quadrature pair
    per_channel = block.complex.q0.weight.abs().sum(dim=(2, 3)) > 0
    assert per_channel.sum(dim=1).tolist() == [1] * 4
    assert torch.equal(per_channel, block.complex.q1.weight.abs().sum(dim=(2, 3)) > 0)


def test_gabor_bank_uses_pixels_per_degree():
    params = {
        k: np.array([v])
        for k, v in dict(orientation=0.0, spatial_frequency=2.0, phase=0.0, nx=0.5, ny=0.5).items()
    }
    bank = GaborFilterBank(params, np.array([0]), in_channels=1, image_size=112, visual_degrees=4)
    # 28 px/deg -> 2/28 cycles/pixel, sigma = 0.5 / (2/28) = 7 px
    expected = gabor_kernel(2 / 28, 7.0, 7.0, kernel_size=25)
    torch.testing.assert_close(bank.weight[0, 0], expected)


def test_noise_off_is_deterministic_and_seeded_noise_repeats():
    x = torch.rand(2, 3, 32, 32)
    quiet = VOneBlock(simple_channels=4, complex_channels=4, image_size=32, noise=False)
    assert torch.equal(quiet(x), quiet(x))
    a, b = (
        VOneBlock(simple_channels=4, complex_channels=4, image_size=32, noise_seed=7)
        for _ in range(2)
    )
    first = a(x)
    assert torch.equal(first, b(x))
    assert not torch.equal(first, a(x))  # the generator moves on
    a.set_noise(False)
    assert torch.equal(a(x), quiet(x))


@pytest.mark.parametrize("fano", [1.0, 2.0])
def test_neuronal_noise_variance_is_poisson_like(fano):
    block = tuned_block(noise=True, noise_seed=0, fano=fano, bottleneck_channels=None)
    mean = torch.tensor([20.0, 50.0, 100.0]).repeat(20_000, 1)
    noisy = block.noise(mean.clone())
    s, level = 0.35, 0.07
    # spec: counts x*s + l have variance fano * mean; back in rate units divide by s^2
    expected_var = fano * (s * mean[0] + level) / s**2
    torch.testing.assert_close(noisy.mean(0), mean[0], rtol=0.01, atol=0.0)
    torch.testing.assert_close(noisy.var(0), expected_var, rtol=0.05, atol=0.0)


def test_bad_noise_mode_names_the_choices():
    with pytest.raises(ValueError, match="neuronal"):
        VOneBlock(simple_channels=1, complex_channels=1, noise_mode="poisson")


def test_composition_in_front_of_a_small_cnn():
    backend = nn.Sequential(
        nn.Conv2d(16, 8, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(8, 10),
    )
    model = with_vone(
        backend,
        backend_in_channels=16,
        simple_channels=8,
        complex_channels=8,
        image_size=64,
        noise_seed=0,
    )
    logits = model(torch.rand(4, 3, 64, 64))
    assert logits.shape == (4, 10)
    logits.logsumexp(1).mean().backward()
    assert model.vone.bottleneck.weight.grad is not None
    assert all(p.grad is not None for p in backend.parameters())
    assert model.vone.simple.q0.weight.grad is None
