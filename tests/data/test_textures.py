"""Textures, phase-randomised noise and blending (spec: recurrent.md §5)."""

import pytest
import torch

from brainlike.data.textures import (
    blend,
    blend_weights,
    phase_randomize,
    procedural_textures,
)


def _corr(a: torch.Tensor, b: torch.Tensor) -> float:
    """Pearson correlation of two (C, H, W) images over pixels, each channel centred on its mean
    (phase randomisation keeps channel means, which would otherwise dominate)."""
    a = (a - a.mean(dim=(-2, -1), keepdim=True)).flatten()
    b = (b - b.mean(dim=(-2, -1), keepdim=True)).flatten()
    return float(a @ b / (a.norm() * b.norm()))


def test_phase_randomize_keeps_amplitude_and_mean_changes_image():
    images = procedural_textures(4, 48, seed=3).double()
    out = phase_randomize(images, torch.Generator().manual_seed(0))
    assert out.shape == images.shape and out.dtype == images.dtype and not out.is_complex()
    amp_in, amp_out = torch.fft.fft2(images).abs(), torch.fft.fft2(out).abs()
    torch.testing.assert_close(amp_out, amp_in, rtol=1e-5, atol=1e-5 * float(amp_in.max()))
    torch.testing.assert_close(out.mean(dim=(-2, -1)), images.mean(dim=(-2, -1)))
    # a texture's power sits in few low frequencies, so one draw can still correlate by chance;
    # over draws the correlation with the original is centred on 0 and mostly small
    for image in images:
        corr = torch.tensor(
            [
                _corr(phase_randomize(image, torch.Generator().manual_seed(s)), image)
                for s in range(32)
            ]
        )
        assert abs(float(corr.mean())) < 0.1 and float(corr.abs().mean()) < 0.3


def test_phase_randomize_float32_and_single_image():
    image = torch.rand(3, 32, 32)
    out = phase_randomize(image, torch.Generator().manual_seed(1))
    assert out.shape == image.shape and out.dtype == torch.float32
    amp_in, amp_out = torch.fft.fft2(image).abs(), torch.fft.fft2(out).abs()
    torch.testing.assert_close(amp_out, amp_in, rtol=1e-5, atol=1e-5 * float(amp_in.max()))
    assert abs(_corr(out, image)) < 0.1  # white noise: ~1/sqrt(3072)


def test_phase_randomize_keeps_colour_correlations():
    # the same random phase in every channel keeps each pair's cross-spectrum, hence the
    # zero-lag covariance between channels
    images = procedural_textures(2, 32, seed=5).double()
    out = phase_randomize(images, torch.Generator().manual_seed(2))
    for x, y in zip(images, out, strict=True):
        xc = x.flatten(1) - x.flatten(1).mean(1, keepdim=True)
        yc = y.flatten(1) - y.flatten(1).mean(1, keepdim=True)
        torch.testing.assert_close(yc @ yc.T, xc @ xc.T, rtol=1e-8, atol=1e-8)


def test_phase_randomize_seeded_and_errors():
    image = torch.rand(2, 3, 16, 16)
    a = phase_randomize(image, torch.Generator().manual_seed(4))
    b = phase_randomize(image, torch.Generator().manual_seed(4))
    c = phase_randomize(image, torch.Generator().manual_seed(5))
    assert torch.equal(a, b) and not torch.allclose(a, c)
    with pytest.raises(ValueError, match="unsqueeze"):
        phase_randomize(torch.rand(16, 16))
    with pytest.raises(ValueError, match="float"):
        phase_randomize(torch.zeros(3, 8, 8, dtype=torch.uint8))


def test_procedural_textures_shape_range_and_seed():
    t = procedural_textures(5, 40, seed=0)
    assert t.shape == (5, 3, 40, 40) and t.dtype == torch.float32
    assert float(t.min()) >= 0.0 and float(t.max()) <= 1.0
    assert torch.equal(t, procedural_textures(5, 40, seed=0))
    assert not torch.allclose(t, procedural_textures(5, 40, seed=1))
    # every texture has contrast, and textures differ from one another
    assert bool((t.flatten(1).std(dim=1) > 0.05).all())
    assert abs(_corr(t[0], t[1])) < 0.9
    # batching does not change the result
    assert torch.equal(t, procedural_textures(5, 40, seed=0, batch=2))
    assert torch.equal(t[:3], procedural_textures(3, 40, seed=0))
    grey = procedural_textures(2, (24, 32), channels=1, seed=0)
    assert grey.shape == (2, 1, 24, 32)
    assert procedural_textures(0, 8).shape == (0, 3, 8, 8)


def test_blend_endpoints_midpoint_and_per_image_weights():
    x, t = torch.rand(4, 3, 8, 8), torch.rand(4, 3, 8, 8)
    assert torch.equal(blend(x, t, 0.0), x)
    assert torch.equal(blend(x, t, 1.0), t)
    torch.testing.assert_close(blend(x, t, 0.25), 0.75 * x + 0.25 * t)
    w = torch.tensor([0.0, 0.5, 1.0, 0.1])
    out = blend(x, t, w)
    torch.testing.assert_close(out[0], x[0])
    torch.testing.assert_close(out[1], (x[1] + t[1]) / 2)
    torch.testing.assert_close(out[2], t[2])
    # one texture for the whole batch
    torch.testing.assert_close(blend(x, t[0], 1.0), t[0].expand_as(x))


def test_blend_errors():
    x = torch.rand(2, 3, 8, 8)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        blend(x, x, 1.5)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        blend(x, x, torch.tensor([0.2, -0.1]))
    with pytest.raises(ValueError, match="one weight per image"):
        blend(x, x, torch.tensor([0.2, 0.1, 0.3]))
    with pytest.raises(ValueError, match="cannot blend"):
        blend(x, torch.rand(2, 3, 4, 4), 0.5)


def test_blend_weights_ranges():
    g = torch.Generator().manual_seed(0)
    tex = blend_weights(2000, "texture", g)
    noise = blend_weights(2000, "noise", g)
    assert 0.005 <= float(tex.min()) and float(tex.max()) <= 0.5 and float(tex.min()) < 0.03
    assert 0.05 <= float(noise.min()) and float(noise.max()) <= 0.5
    with pytest.raises(ValueError, match="kind"):
        blend_weights(3, "shape")
