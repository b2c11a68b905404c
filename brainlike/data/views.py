"""Random views of images for the self-supervised objectives (spec mouse-and-entorhinal.md §1).

Contrastive and non-contrastive objectives compare two random views of one image: a random
resized crop (scale 0.2-1), colour jitter (brightness, contrast, saturation 0.4, hue 0.1)
with probability 0.8, grayscale with probability 0.2, Gaussian blur with probability 0.5 and
a horizontal flip. :class:`ViewAugmenter` makes them for a whole batch on its device at
once: every sample gets its own parameters, drawn from a caller's generator (seeded by
(seed, epoch) in the tasks, so a resumed run sees the same views); crops and flips are one
``affine_grid``/``grid_sample``, blur is one grouped convolution.

Differences from the torchvision pipeline, stated: a crop whose width or height exceeds the
image is clipped to it (torchvision retries); the jitter applies brightness, contrast,
saturation, hue in that order (torchvision shuffles it per image); hue is a rotation of the
chroma plane in YIQ space (torchvision shifts it in HSV). One-channel images skip
saturation, hue and grayscale, which have no meaning without colour.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["ViewAugmenter", "ViewSettings"]

_LUMA = (0.299, 0.587, 0.114)


@dataclass(frozen=True)
class ViewSettings:
    """The view distribution (defaults: spec mouse-and-entorhinal.md §1)."""

    crop_scale: tuple[float, float] = (0.2, 1.0)
    crop_ratio: tuple[float, float] = (3 / 4, 4 / 3)
    jitter: tuple[float, float, float, float] = (0.4, 0.4, 0.4, 0.1)
    jitter_prob: float = 0.8
    grayscale_prob: float = 0.2
    blur_prob: float = 0.5
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    flip_prob: float = 0.5

    @property
    def varies(self) -> bool:
        """Whether two views of one image can differ at all."""
        return (
            self.crop_scale[0] < 1.0
            or (self.jitter_prob > 0 and any(j > 0 for j in self.jitter))
            or self.grayscale_prob > 0
            or self.blur_prob > 0
            or self.flip_prob > 0
        )


def _uniform(n: int, low: float, high: float, gen: torch.Generator) -> Tensor:
    return low + (high - low) * torch.rand(n, generator=gen)


def _gray(x: Tensor) -> Tensor:
    w = torch.tensor(_LUMA, dtype=x.dtype, device=x.device).view(1, 3, 1, 1)
    return (x * w).sum(1, keepdim=True)


class ViewAugmenter:
    """Random views of a batch of images.

    Parameters
    ----------
    settings : the view distribution.
    pixel_mean, pixel_std : the normalisation the images carry (None: pixels in [0, 1]);
        views are made on [0, 1] pixels and normalised again.
    """

    def __init__(
        self,
        settings: ViewSettings,
        pixel_mean: tuple[float, ...] | None = None,
        pixel_std: tuple[float, ...] | None = None,
    ) -> None:
        self.s = settings
        self.mean = pixel_mean
        self.std = pixel_std

    def _stats(self, x: Tensor) -> tuple[Tensor, Tensor]:
        c = x.shape[1]
        mean = torch.tensor(self.mean or (0.0,) * c, dtype=x.dtype, device=x.device)
        std = torch.tensor(self.std or (1.0,) * c, dtype=x.dtype, device=x.device)
        return mean.view(1, c, 1, 1), std.view(1, c, 1, 1)

    def __call__(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """One random view of each image of ``x`` (N, C, H, W), drawn from ``gen`` (CPU)."""
        mean, std = self._stats(x)
        v = x * std + mean
        v = self.crop_and_flip(v, gen)
        v = self.color_jitter(v, gen)
        v = self.grayscale(v, gen)
        v = self.blur(v, gen)
        return (v - mean) / std

    def crop_and_flip(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Random resized crop (area fraction in ``crop_scale``, aspect ratio in ``crop_ratio``,
        resized back to the input size) and horizontal flip, as one affine resampling."""
        n = x.shape[0]
        area = _uniform(n, *self.s.crop_scale, gen)
        log_r = _uniform(n, math.log(self.s.crop_ratio[0]), math.log(self.s.crop_ratio[1]), gen)
        ratio = torch.where(area < 1, torch.exp(log_r), 1.0)  # the whole image has one shape
        w = torch.sqrt(area * ratio).clamp(max=1.0)  # fractions of the image side
        h = torch.sqrt(area / ratio).clamp(max=1.0)
        cx = (2 * torch.rand(n, generator=gen) - 1) * (1 - w)  # centres in [-1, 1] coordinates
        cy = (2 * torch.rand(n, generator=gen) - 1) * (1 - h)
        flip = torch.where(torch.rand(n, generator=gen) < self.s.flip_prob, -1.0, 1.0)
        theta = torch.zeros(n, 2, 3)
        theta[:, 0, 0], theta[:, 0, 2] = w * flip, cx
        theta[:, 1, 1], theta[:, 1, 2] = h, cy
        grid = F.affine_grid(theta.to(x), list(x.shape), align_corners=False)
        return grid_sample(x, grid)

    def color_jitter(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Brightness, contrast, saturation and hue jitter, each factor drawn per image, applied
        to a random ``jitter_prob`` share of the images."""
        n, c = x.shape[:2]
        b, co, sa, hu = self.s.jitter
        bright = _uniform(n, max(0.0, 1 - b), 1 + b, gen).view(n, 1, 1, 1)
        contrast = _uniform(n, max(0.0, 1 - co), 1 + co, gen).view(n, 1, 1, 1)
        saturation = _uniform(n, max(0.0, 1 - sa), 1 + sa, gen).view(n, 1, 1, 1)
        hue = _uniform(n, -hu, hu, gen)
        apply = (torch.rand(n, generator=gen) < self.s.jitter_prob).view(n, 1, 1, 1).to(x.device)
        y = (x * bright.to(x)).clamp(0, 1)
        gray = _gray(y) if c == 3 else y
        m = gray.mean(dim=(1, 2, 3), keepdim=True)
        y = ((y - m) * contrast.to(x) + m).clamp(0, 1)
        if c == 3:
            gray = _gray(y)
            y = (gray + saturation.to(x) * (y - gray)).clamp(0, 1)
            y = _rotate_hue(y, hue.to(x)).clamp(0, 1)
        return torch.where(apply, y, x)

    def grayscale(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """A random ``grayscale_prob`` share of the images in grey (3 channels kept)."""
        n = x.shape[0]
        apply = (torch.rand(n, generator=gen) < self.s.grayscale_prob).view(n, 1, 1, 1)
        if x.shape[1] != 3:
            return x
        return torch.where(apply.to(x.device), _gray(x).expand_as(x), x)

    def blur(self, x: Tensor, gen: torch.Generator) -> Tensor:
        """Gaussian blur (sigma drawn per image in ``blur_sigma``, kernel about a tenth of the
        image side, odd) of a random ``blur_prob`` share of the images; one grouped
        convolution per axis."""
        n, c, height, width = x.shape
        sigma = _uniform(n, *self.s.blur_sigma, gen)
        apply = torch.rand(n, generator=gen) < self.s.blur_prob
        size = max(3, int(0.1 * min(height, width)) // 2 * 2 + 1)
        offsets = torch.arange(size, dtype=torch.float32) - size // 2
        kernel = torch.exp(-(offsets[None] ** 2) / (2 * sigma[:, None] ** 2))
        kernel = kernel / kernel.sum(1, keepdim=True)
        identity = (offsets == 0).float().expand(n, size)
        kernel = torch.where(apply[:, None], kernel, identity)  # (n, size)
        k = kernel.to(x).repeat_interleave(c, dim=0)  # one kernel per (image, channel)
        flat = x.reshape(1, n * c, height, width)
        pad = size // 2
        flat = F.conv2d(
            F.pad(flat, (0, 0, pad, pad), mode="reflect"), k.view(n * c, 1, size, 1), groups=n * c
        )
        flat = F.conv2d(
            F.pad(flat, (pad, pad, 0, 0), mode="reflect"), k.view(n * c, 1, 1, size), groups=n * c
        )
        return flat.view(n, c, height, width)


def grid_sample(x: Tensor, grid: Tensor) -> Tensor:
    """Bilinear resampling of ``x`` at ``grid`` (borders repeat the edge pixels)."""
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


def _rotate_hue(x: Tensor, hue: Tensor) -> Tensor:
    """Rotate the chroma plane (I, Q of YIQ) of RGB images ``x`` by ``hue`` turns (per image)."""
    to_yiq = torch.tensor(
        [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]],
        dtype=x.dtype,
        device=x.device,
    )
    angle = 2 * math.pi * hue
    rotation = torch.zeros(x.shape[0], 3, 3, dtype=x.dtype, device=x.device)
    rotation[:, 0, 0] = 1.0
    rotation[:, 1, 1], rotation[:, 1, 2] = torch.cos(angle), -torch.sin(angle)
    rotation[:, 2, 1], rotation[:, 2, 2] = torch.sin(angle), torch.cos(angle)
    # one 3 x 3 colour matrix per image: back from YIQ after the rotation
    matrix = torch.linalg.inv(to_yiq) @ rotation @ to_yiq
    return torch.bmm(matrix, x.flatten(2)).view_as(x)
