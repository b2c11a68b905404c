"""Textures and phase-randomised noise for the V1/V2 blending recipe (spec: recurrent.md §5).

The source fine-tunes the first recurrent block on inputs blended with textures and with their
phase-randomised counterparts ("noise"), then the second block on texture blends only:

- :func:`procedural_textures`: stationary coloured textures made offline from oriented
  band-pass (Gabor-like) noise and 1/f noise, a stand-in for the photographed texture sets of
  the source;
- :func:`phase_randomize`: the noise counterpart of a texture (same Fourier amplitude, random
  phase);
- :func:`blend` and :func:`blend_weights`: ``x' = (1 - a) x + a T`` with the source's ranges
  for ``a``.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import Tensor

__all__ = [
    "BLEND_WEIGHT_RANGES",
    "blend",
    "blend_weights",
    "phase_randomize",
    "procedural_textures",
]

# spec: recurrent.md §5, a ~ U(0.005, 0.5) for textures, U(0.05, 0.5) for noise
BLEND_WEIGHT_RANGES: dict[str, tuple[float, float]] = {
    "texture": (0.005, 0.5),
    "noise": (0.05, 0.5),
}


def phase_randomize(images: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """Phase-randomised copies: the same Fourier amplitude spectrum with random phases.

    One random phase field per image is drawn as the phase of the 2-D FFT of real white noise,
    which is Hermitian-symmetric, so the output is real. The same field is *added* to the phase
    of every channel. For one channel this is the same as replacing the phase with a uniform
    random one (a uniform phase plus any offset is uniform); across channels it keeps each
    pair's cross-spectrum, so colour correlations (and every channel's variance) are preserved
    exactly. The DC phase is left at 0, so each channel keeps its mean.

    Parameters
    ----------
    images : (C, H, W) or (N, C, H, W) real images.
    generator : source of randomness for the phases.

    Returns
    -------
    Tensor
        Same shape and dtype as ``images``, real; values may leave the input range (clip or
        rescale before use as a stimulus if needed).
    """
    if images.ndim not in (3, 4):
        raise ValueError(
            f"phase_randomize needs (C, H, W) or (N, C, H, W) images, got shape "
            f"{tuple(images.shape)} (add a channel dimension with images.unsqueeze(-3))"
        )
    if images.is_complex() or not images.is_floating_point():
        raise ValueError(
            f"phase_randomize needs real float images, got dtype {images.dtype}; convert with "
            "images.float() (or torchvision's to_dtype(..., scale=True) for uint8)"
        )
    batched = images if images.ndim == 4 else images.unsqueeze(0)
    n, _, height, width = batched.shape
    # float64 so the amplitude spectrum survives the round trip to ~1e-12
    x = batched.to(torch.float64)
    noise = torch.randn(n, 1, height, width, generator=generator, dtype=torch.float64)
    phase = torch.angle(torch.fft.fft2(noise.to(x.device)))
    phase[..., 0, 0] = 0.0
    # spec: recurrent.md §5, keep the Fourier amplitude, replace the phase, inverse FFT
    spectrum = torch.fft.fft2(x) * torch.polar(torch.ones_like(phase), phase)
    out = torch.fft.ifft2(spectrum).real.to(images.dtype)
    return out if images.ndim == 4 else out[0]


def procedural_textures(
    n: int,
    size: int | tuple[int, int],
    channels: int = 3,
    seed: int = 0,
    *,
    components: int = 4,
    batch: int = 64,
) -> Tensor:
    """Random coloured textures made from oriented band-pass noise, for offline blending.

    Each texture sums ``components`` Gabor-like layers (white noise filtered by a Gaussian
    blob at a random spatial frequency, 2-64 cycles per image, and orientation; a narrow blob
    gives a grating-like texture, a wide one a blobby one) and one 1/f^beta "cloud" layer
    (beta in [1, 2.5]). Each layer gets a random colour and amplitude; a random-gain tanh
    sharpens some textures towards two-tone patterns. Each texture is then rescaled to [0, 1].

    Parameters
    ----------
    n : number of textures.
    size : side in pixels, or (height, width).
    channels : colour channels (3 for RGB, 1 for greyscale).
    seed : seed of the textures' private generators; equal seeds give equal textures, and
        texture ``i`` is the same whatever ``n`` and ``batch``.
    components : oriented layers per texture.
    batch : textures synthesised at once (bounds the memory of the FFTs).

    Returns
    -------
    Tensor
        (n, channels, height, width) float32 in [0, 1].
    """
    height, width = (size, size) if isinstance(size, int) else size
    if n < 0 or height < 4 or width < 4:
        raise ValueError(f"need n >= 0 textures of at least 4x4 pixels, got n={n}, size={size}")
    if channels < 1 or components < 1:
        raise ValueError(f"channels and components must be >= 1, got {channels}, {components}")
    # one private generator per texture (spawned from ``seed``), so a texture does not depend
    # on ``batch`` or on how many textures are asked for
    seeds = [int(s.generate_state(1)[0]) for s in np.random.SeedSequence(seed).spawn(n)]
    fy = torch.fft.fftfreq(height, dtype=torch.float64)[:, None]
    fx = torch.fft.fftfreq(width, dtype=torch.float64)[None, :]
    radius = torch.sqrt(fx**2 + fy**2)
    k = components
    log_f_lo, log_f_hi = math.log(2.0 / min(height, width)), math.log(0.25)
    out = []
    for start in range(0, n, batch):
        draws = [
            _texture_draws(s, k, channels, height, width) for s in seeds[start : start + batch]
        ]
        freq, theta, spread, beta, noise, amplitude, colour, gain = (
            torch.stack(d) for d in zip(*draws, strict=True)
        )
        # oriented layers: Gaussian blobs at +-(f cos theta, f sin theta) in the spectrum
        freq = torch.exp(log_f_lo + (log_f_hi - log_f_lo) * freq)
        theta = theta * math.pi
        sigma = freq * (0.08 + 0.4 * spread)
        u0, v0 = freq * torch.cos(theta), freq * torch.sin(theta)
        blob = torch.exp(-((fx - u0) ** 2 + (fy - v0) ** 2) / (2 * sigma**2)) + torch.exp(
            -((fx + u0) ** 2 + (fy + v0) ** 2) / (2 * sigma**2)
        )
        beta = 1.0 + 1.5 * beta
        cloud = radius.clamp_min(1.0 / max(height, width)) ** (-beta)
        filters = torch.cat([blob, cloud], dim=1)  # (b, k + 1, H, W)
        layers = torch.fft.ifft2(torch.fft.fft2(noise) * filters).real
        layers = (layers - layers.mean(dim=(-2, -1), keepdim=True)) / layers.std(
            dim=(-2, -1), keepdim=True
        ).clamp_min(1e-12)
        amplitude = 0.3 + 0.7 * amplitude
        colour = colour * 2 - 1
        pattern = torch.einsum("bkhw,bkc->bchw", layers, colour * amplitude)
        gain = 0.3 + 2.7 * gain
        pattern = torch.tanh(gain * pattern / pattern.std(dim=(1, 2, 3), keepdim=True))
        lo = pattern.amin(dim=(1, 2, 3), keepdim=True)
        hi = pattern.amax(dim=(1, 2, 3), keepdim=True)
        out.append(((pattern - lo) / (hi - lo).clamp_min(1e-12)).float())
    if not out:
        return torch.empty(0, channels, height, width)
    return torch.cat(out)


def _texture_draws(seed: int, k: int, channels: int, height: int, width: int) -> tuple[Tensor, ...]:
    """Uniform/normal draws of one texture, in a fixed order, from its own generator."""
    gen = torch.Generator().manual_seed(seed)

    def uniform(*shape: int) -> Tensor:
        return torch.rand(*shape, generator=gen, dtype=torch.float64)

    freq, theta, spread = uniform(k, 1, 1), uniform(k, 1, 1), uniform(k, 1, 1)
    beta = uniform(1, 1, 1)
    noise = torch.randn(k + 1, height, width, generator=gen, dtype=torch.float64)
    return (
        freq,
        theta,
        spread,
        beta,
        noise,
        uniform(k + 1, 1),
        uniform(k + 1, channels),
        uniform(1, 1, 1),
    )


def blend(images: Tensor, other: Tensor, weight: float | Tensor) -> Tensor:
    """Alpha-blend images with textures or noise: ``(1 - weight) images + weight other``.

    Parameters
    ----------
    images : (N, C, H, W) or (C, H, W) images.
    other : textures/noise of the same shape, or one (C, H, W) image for the whole batch.
    weight : blend weight in [0, 1]; a float, or a (N,) tensor with one weight per image
        (see :func:`blend_weights`).

    Returns
    -------
    Tensor
        Same shape as ``images``.
    """
    try:
        shape = torch.broadcast_shapes(images.shape, other.shape)
    except RuntimeError:
        shape = None
    if shape != images.shape:
        raise ValueError(
            f"cannot blend images of shape {tuple(images.shape)} with {tuple(other.shape)}; "
            "give one texture per image (same shape) or one (C, H, W) texture for all, resized "
            "to the images' height and width"
        )
    w = torch.as_tensor(weight, dtype=images.dtype, device=images.device)
    if w.ndim == 1:
        if images.ndim != 4 or w.shape[0] != images.shape[0]:
            raise ValueError(
                f"per-image weights need one weight per image of an (N, C, H, W) batch; got "
                f"{w.shape[0]} weights for images of shape {tuple(images.shape)}"
            )
        w = w.view(-1, 1, 1, 1)
    elif w.ndim != 0:
        raise ValueError(f"weight must be a float or a (N,) tensor, got shape {tuple(w.shape)}")
    if bool(((w < 0) | (w > 1)).any()):
        raise ValueError(
            f"blend weights must lie in [0, 1] (0 keeps the image, 1 gives the texture); got "
            f"values in [{float(w.min()):.3g}, {float(w.max()):.3g}]"
        )
    # spec: recurrent.md §5, x' = (1 - a) x + a T
    return (1.0 - w) * images + w * other.to(images.dtype)


def blend_weights(
    n: int, kind: str = "texture", generator: torch.Generator | None = None
) -> Tensor:
    """Per-image blend weights ``a ~ U(low, high)`` with the source's range for ``kind``.

    Parameters
    ----------
    n : number of weights.
    kind : ``"texture"`` (U(0.005, 0.5)) or ``"noise"`` (U(0.05, 0.5)).
    generator : source of randomness.

    Returns
    -------
    Tensor
        (n,) float32 weights for :func:`blend`.
    """
    if kind not in BLEND_WEIGHT_RANGES:
        raise ValueError(
            f"kind must be one of {sorted(BLEND_WEIGHT_RANGES)} (the source's blend ranges), "
            f"got {kind!r}"
        )
    low, high = BLEND_WEIGHT_RANGES[kind]
    return low + (high - low) * torch.rand(n, generator=generator)
