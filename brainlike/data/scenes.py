"""Generated scenes with known answers: one textured object at a known depth per image.

A small offline stand-in for the rendered-object data sets used to test what a visual
representation carries (object identity, position, size, pose, texture) and to train
dense-target objectives such as depth prediction (spec: mouse-and-entorhinal.md §1, depth
prediction needs image + depth pairs). Every image holds one object of one of
:data:`SHAPES` with one of :data:`TEXTURES`, drawn in front of a background made of a far
plane (the sky) and a ground plane that tilts away from the camera, so the depth map varies per
pixel even where there is no object.

Geometry (a pinhole camera, focal length 1, the image spanning [-1, 1] in both axes):

- ``x``, ``y``: the object's centre in image coordinates, ``x`` to the right, ``y`` *down*
  (the row direction), pixel ``j``'s centre at ``(2 j + 1) / W - 1``;
- ``depth``: the object's distance ``z`` in [2, 4];
- ``size``: the object's *apparent* circumradius as a fraction of the image's half-width, i.e.
  its circumscribed diameter as a fraction of the image width; perspective makes it
  ``physical_size / depth`` with ``physical_size`` in [0.6, 1.2], so size and depth are
  correlated but neither determines the other;
- ``pose``: rotation in radians, uniform in [0, 2 pi); textures turn with the object;
- background depth: 20 above the horizon (the image's middle row), ``5 / v`` on the ground
  (``v`` the pixel's ``y``), capped at 20, so every background pixel lies behind every object.

Each shape's centre is its centre of mass (the triangle's centroid), so the mask's pixel
centroid is ``(x, y)`` up to pixelisation. Rendering is vectorised in torch: 2,000 images at
64 px take about a second on one core.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

__all__ = ["SHAPES", "SYMMETRY", "TEXTURES", "Scenes", "render_scenes"]

SHAPES: tuple[str, ...] = ("disk", "square", "triangle", "cross", "ring")
#: Order of each shape's rotational symmetry (0: every angle, the pose is not visible in the
#: outline).
SYMMETRY: dict[str, int] = {"disk": 0, "square": 4, "triangle": 3, "cross": 4, "ring": 0}
TEXTURES: tuple[str, ...] = ("plain", "stripes", "checker", "dots")

DEPTH_RANGE = (2.0, 4.0)
PHYSICAL_SIZE_RANGE = (0.6, 1.2)
FAR_DEPTH = 20.0
# the ground's depth at the bottom row; above every object's depth, so objects occlude it
GROUND_NEAR_DEPTH = 5.0
# texture period in the object's own frame, as a fraction of its circumradius (four stripe
# periods across the diameter)
TEXTURE_PERIOD = 0.5
_LUMA = torch.tensor([0.299, 0.587, 0.114])


@dataclass
class Scenes:
    """Rendered scenes and the latent variables that made them.

    Attributes
    ----------
    images : np.ndarray
        ``(N, C, H, W)`` float32 pixels in [0, 1].
    depth : np.ndarray
        ``(N, 1, H, W)`` float32 distance of the surface seen at each pixel.
    mask : np.ndarray
        ``(N, H, W)`` bool, True where the object is.
    latents : dict of str to np.ndarray
        ``(N,)`` arrays: ``category`` (int, index into :data:`SHAPES`), ``x``, ``y`` (centre in
        [-1, 1]), ``size`` (apparent circumradius / image half-width), ``pose`` (radians),
        ``texture`` (int, index into :data:`TEXTURES`), ``depth`` (object distance) and
        ``physical_size`` (``size * depth``).
    """

    images: np.ndarray
    depth: np.ndarray
    mask: np.ndarray
    latents: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.images)


def _draw_latents(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    depth = rng.uniform(*DEPTH_RANGE, n)
    physical = rng.uniform(*PHYSICAL_SIZE_RANGE, n)
    size = physical / depth  # perspective, focal length 1
    # the whole object stays inside the image
    x = rng.uniform(-1.0, 1.0, n) * (1.0 - size)
    y = rng.uniform(-1.0, 1.0, n) * (1.0 - size)
    return {
        "category": rng.integers(0, len(SHAPES), n),
        "x": x,
        "y": y,
        "size": size,
        "pose": rng.uniform(0.0, 2.0 * math.pi, n),
        "texture": rng.integers(0, len(TEXTURES), n),
        "depth": depth,
        "physical_size": physical,
    }


def _shape_masks(category: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Inside-tests in the object's frame (circumradius 1); ``u, v`` are ``(N, H, W)``."""
    r = torch.sqrt(u * u + v * v)
    # equilateral triangle of circumradius 1: inradius 1/2, edge normals at 90 + 120 k degrees
    tri = torch.ones_like(u, dtype=torch.bool)
    for k in range(3):
        a = math.pi / 2 + 2 * math.pi * k / 3
        tri &= u * math.cos(a) + v * math.sin(a) <= 0.5
    half = 1 / math.sqrt(2)
    arm, length = 0.3, math.sqrt(1 - 0.3**2)
    masks = torch.stack(
        [
            r <= 1.0,
            (u.abs() <= half) & (v.abs() <= half),
            tri,
            ((u.abs() <= arm) & (v.abs() <= length)) | ((v.abs() <= arm) & (u.abs() <= length)),
            (r <= 1.0) & (r >= 0.6),
        ]
    )  # (K, N, H, W)
    return masks.gather(0, category.view(1, -1, 1, 1).expand(1, *u.shape))[0]


def _texture_patterns(texture: torch.Tensor, u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """1 where the object shows its first colour, 0 where its second; frame as above."""
    w = 2 * math.pi / TEXTURE_PERIOD
    stripes = torch.cos(w * u) >= 0
    checker = (torch.cos(w * u) * torch.cos(w * v)) >= 0
    # dots of radius 0.3 periods on the square lattice of the period
    du = torch.remainder(u, TEXTURE_PERIOD) - TEXTURE_PERIOD / 2
    dv = torch.remainder(v, TEXTURE_PERIOD) - TEXTURE_PERIOD / 2
    dots = du * du + dv * dv > (0.3 * TEXTURE_PERIOD) ** 2
    patterns = torch.stack([torch.ones_like(stripes), stripes, checker, dots]).float()
    return patterns.gather(0, texture.view(1, -1, 1, 1).expand(1, *u.shape))[0]


def render_scenes(n: int, size: int = 64, seed: int = 0, channels: int = 3) -> Scenes:
    """Render ``n`` scenes of one object each, with their depth maps and latents.

    Parameters
    ----------
    n : int
        Number of images (at least 1).
    size : int
        Height and width in pixels (at least 8).
    seed : int
        Seed of every latent and colour; the same seed gives the same scenes.
    channels : int
        3 (RGB) or 1 (luminance, ITU-R 601 weights).

    Returns
    -------
    Scenes
        Images ``(n, channels, size, size)``, depth ``(n, 1, size, size)``, masks and latents
        (see the module docstring for their geometry).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"render_scenes needs n >= 1 images, got {n!r}")
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 8:
        raise ValueError(f"render_scenes needs size >= 8 pixels, got {size!r}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels!r}")
    n, size = int(n), int(size)
    rng = np.random.default_rng(seed)
    lat = _draw_latents(n, rng)
    sky = rng.uniform(0.35, 0.65, (n, 3))
    ground = rng.uniform(0.3, 0.6, (n, 3))
    # objects far from the background in luminance, dark or bright, with some hue
    level = np.where(rng.random(n) < 0.5, rng.uniform(0.05, 0.2, n), rng.uniform(0.8, 0.95, n))
    colour = np.clip(level[:, None] + rng.uniform(-0.1, 0.1, (n, 3)), 0.0, 1.0)
    # the texture's second colour: halfway to the opposite luminance
    second = np.clip(colour + np.where(level > 0.5, -0.35, 0.35)[:, None], 0.0, 1.0)

    t = {k: torch.as_tensor(a, dtype=torch.float32) for k, a in lat.items()}
    coords = (2 * torch.arange(size, dtype=torch.float32) + 1) / size - 1
    gy, gx = torch.meshgrid(coords, coords, indexing="ij")  # (H, W): y down the rows
    dx = gx - t["x"].view(-1, 1, 1)
    dy = gy - t["y"].view(-1, 1, 1)
    cos, sin = torch.cos(t["pose"]).view(-1, 1, 1), torch.sin(t["pose"]).view(-1, 1, 1)
    scale = t["size"].view(-1, 1, 1)
    # rotate the image offsets by -pose into the object's frame, in units of its circumradius
    u = (cos * dx + sin * dy) / scale
    v = (-sin * dx + cos * dy) / scale
    mask = _shape_masks(torch.as_tensor(lat["category"]), u, v)
    pattern = _texture_patterns(torch.as_tensor(lat["texture"]), u, v)

    # background: far plane above the horizon, the tilted ground below it
    ground_depth = torch.where(
        gy > 0, (GROUND_NEAR_DEPTH / gy.clamp_min(1e-6)).clamp(max=FAR_DEPTH), FAR_DEPTH
    )
    on_ground = (gy > 0).float().view(1, 1, size, size)
    # the ground fades into haze with distance
    haze = (1 - (ground_depth - GROUND_NEAR_DEPTH) / (FAR_DEPTH - GROUND_NEAR_DEPTH)).view(
        1, 1, size, size
    )
    sky_t = torch.as_tensor(sky, dtype=torch.float32).view(n, 3, 1, 1)
    ground_t = torch.as_tensor(ground, dtype=torch.float32).view(n, 3, 1, 1)
    ground_pix = haze * ground_t + (1 - haze) * sky_t
    background = on_ground * ground_pix + (1 - on_ground) * sky_t
    obj_a = torch.as_tensor(colour, dtype=torch.float32).view(n, 3, 1, 1)
    obj_b = torch.as_tensor(second, dtype=torch.float32).view(n, 3, 1, 1)
    p = pattern.unsqueeze(1)
    obj = p * obj_a + (1 - p) * obj_b
    m = mask.unsqueeze(1).float()
    images = m * obj + (1 - m) * background
    if channels == 1:
        images = (images * _LUMA.view(1, 3, 1, 1)).sum(dim=1, keepdim=True)
    depth = torch.where(mask, t["depth"].view(-1, 1, 1), ground_depth.expand(n, size, size))
    return Scenes(
        images=images.clamp(0.0, 1.0).numpy().astype(np.float32, copy=False),
        depth=depth.unsqueeze(1).numpy().astype(np.float32, copy=False),
        mask=mask.numpy(),
        latents={k: (a.astype(np.int64) if a.dtype.kind == "i" else a) for k, a in lat.items()},
    )
