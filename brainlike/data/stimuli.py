"""Generated stimuli: number codes and rendered digits for the number task of Reset networks.

Two pieces of the "numbers" task of spec topography.md §1:

- :func:`number_codes`: the 100-d target vector of each number, generated after the
  random-matrix theory of the number sense (Hannagan, Nieder, Viswanathan & Dehaene 2018);
- :func:`render_digits`: images of the digits 0-9 drawn in the DejaVu fonts that ship with
  matplotlib (so they exist on every machine), at random sizes and shifts.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Sequence
from pathlib import Path

import matplotlib
import numpy as np
from PIL import Image, ImageDraw, ImageFont

__all__ = ["available_digit_fonts", "number_codes", "render_digits"]

# Resolution at which each glyph is drawn once and cached; every stimulus is a downscaled copy,
# which is far faster than asking FreeType for a new size per image.
_GLYPH_PX = 96


# spec: topography.md §1, number codes
def number_codes(
    n_numbers: int = 10,
    dim: int = 100,
    seed: int = 0,
    *,
    n_active_zero: int = 10,
    n_active: int | None = None,
    gain: float = 5.0,
) -> np.ndarray:
    r"""Number codes from a fixed random recurrent map (random-matrix number sense).

    The code of 0 is a binary vector with ``n_active_zero`` ones at random units. Each next
    number is produced from the previous code by the same random matrix, a k-winners-take-all
    rectification (global inhibition keeps the ``n_active`` most driven units) and a rescaling
    to a peak of 1:

    .. math::

        W = I + \frac{g}{\sqrt{d}} G, \quad G_{ij} \sim \mathcal{N}(0, 1)

        h_n = W\,c(n), \quad \theta_n = (k+1)\text{-th largest entry of } h_n

        c(n+1) = \frac{[h_n - \theta_n]_+}{\max_i [h_n - \theta_n]_+}

    The identity term keeps part of the previous code; the random term ``g G / sqrt(d)``
    (spectral radius ``g``) moves it. Because the normalised map is iterated, the codes flow
    towards a fixed point: consecutive codes overlap more and more as numbers grow (a
    compressive, Weber-like code), and similarity falls with numerical distance. With the
    defaults (d = 100, k = 50, g = 5) the mean consecutive cosine over 300 seeds is
    0.32, 0.60, 0.76, 0.85, 0.91, 0.94, 0.96, 0.97, 0.98 for (0,1) ... (8,9), close to the
    codes used in the original runs (0.31, 0.53, 0.81, 0.83, 0.85, 0.92, 0.97, 0.96, 0.96).

    Parameters
    ----------
    n_numbers : int
        How many numbers (0 .. n_numbers - 1) to code.
    dim : int
        Length of each code (units).
    seed : int
        Seed of the random code of 0 and of the random matrix.
    n_active_zero : int
        Active units of the binary code of 0 (10 in the original runs).
    n_active : int, optional
        Units left active by the rectification for numbers >= 1; default ``dim // 2`` (the
        original codes had 46-55 of 100).
    gain : float
        Spectral radius ``g`` of the random part relative to the identity; larger values make
        consecutive codes less similar.

    Returns
    -------
    np.ndarray
        ``(n_numbers, dim)`` float32, non-negative, each row with maximum 1.
    """
    if n_numbers < 1:
        raise ValueError(f"n_numbers must be at least 1, got {n_numbers}")
    if n_active is None:
        n_active = dim // 2
    if not 0 < n_active_zero <= dim:
        raise ValueError(f"n_active_zero must be in 1..dim={dim}, got {n_active_zero}")
    if not 0 < n_active < dim:
        raise ValueError(f"n_active must be in 1..dim-1={dim - 1}, got {n_active}")
    if gain <= 0:
        raise ValueError(f"gain must be positive, got {gain}")

    rng = np.random.default_rng(seed)
    codes = np.zeros((n_numbers, dim), dtype=np.float64)
    codes[0, rng.choice(dim, size=n_active_zero, replace=False)] = 1.0
    # 1/sqrt(dim) puts the eigenvalues of the random part in a disc of radius `gain` (circular
    # law), so `gain` means the same thing for any code length.
    transition = np.eye(dim) + gain * rng.standard_normal((dim, dim)) / np.sqrt(dim)
    for n in range(1, n_numbers):
        drive = transition @ codes[n - 1]
        threshold = np.partition(drive, dim - n_active - 1)[dim - n_active - 1]
        rectified = np.maximum(drive - threshold, 0.0)
        codes[n] = rectified / rectified.max()
    return codes.astype(np.float32)


def _font_dir() -> Path:
    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


@functools.cache
def available_digit_fonts() -> tuple[str, ...]:
    """Names of the fonts bundled with matplotlib that can draw all ten digits.

    Returns
    -------
    tuple of str
        Font file stems such as ``"DejaVuSans"`` or ``"DejaVuSerif-Bold"``, sorted. The
        "Display" variants are left out because they contain no digit glyphs.
    """
    names = []
    for path in sorted(_font_dir().glob("DejaVu*.ttf")):
        try:
            _glyphs(str(path))
        except ValueError:
            continue
        names.append(path.stem)
    return tuple(names)


def _resolve_font(font: str) -> str:
    """Path of a font given by bundled name (``"DejaVuSans"``) or by file path."""
    if os.path.isfile(font):
        return font
    path = _font_dir() / f"{font}.ttf"
    if path.is_file():
        return str(path)
    raise ValueError(
        f"font {font!r} is neither a file nor a font bundled with matplotlib; "
        f"available: {', '.join(available_digit_fonts())}"
    )


@functools.lru_cache(maxsize=64)
def _glyphs(font_path: str) -> tuple[Image.Image, ...]:
    """The ten digits of one font, drawn white on black at high resolution, cropped to ink."""
    font = ImageFont.truetype(font_path, _GLYPH_PX)
    glyphs = []
    for digit in "0123456789":
        left, top, right, bottom = font.getbbox(digit)
        pad = 4
        canvas = Image.new("L", (right - left + 2 * pad, bottom - top + 2 * pad), 0)
        ImageDraw.Draw(canvas).text((pad - left, pad - top), digit, font=font, fill=255)
        ink = canvas.getbbox()
        if ink is None:
            raise ValueError(f"font {font_path} has no glyph for the digit {digit}")
        glyphs.append(canvas.crop(ink))
    return tuple(glyphs)


def render_digits(
    n_per_digit: int,
    size: int = 32,
    channels: int = 1,
    fonts: Sequence[str] | None = None,
    rng: np.random.Generator | int = 0,
    scale_range: tuple[float, float] = (0.5, 0.9),
    max_shift: float = 0.15,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw the digits 0-9 in several fonts at random sizes and positions.

    Each image shows one white digit on black. The glyph height is ``scale * size`` with
    ``scale`` uniform in ``scale_range``; its centre is moved from the image centre by up to
    ``max_shift * size`` pixels in each direction (then clipped so the whole glyph stays
    inside). Fonts are drawn uniformly from ``fonts``.

    Parameters
    ----------
    n_per_digit : int
        Images per digit; the output has ``10 * n_per_digit`` images in random order.
    size : int
        Height and width of the images in pixels.
    channels : int
        1, or 3 (the grey image repeated, as the 3-channel networks of the spec expect).
    fonts : sequence of str, optional
        Bundled font names (see :func:`available_digit_fonts`) or paths to .ttf files;
        default all of :func:`available_digit_fonts`.
    rng : numpy.random.Generator or int
        Generator or seed; the output is a deterministic function of it.
    scale_range : tuple of float
        Smallest and largest glyph height as a fraction of ``size``.
    max_shift : float
        Largest shift of the glyph centre as a fraction of ``size``.

    Returns
    -------
    images : np.ndarray
        ``(10 * n_per_digit, channels, size, size)`` float32 in [0, 1].
    labels : np.ndarray
        ``(10 * n_per_digit,)`` int64 digits, each exactly ``n_per_digit`` times.
    """
    if n_per_digit < 0:
        raise ValueError(f"n_per_digit must be non-negative, got {n_per_digit}")
    if channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")
    if size < 4:
        raise ValueError(f"size must be at least 4 pixels, got {size}")
    low, high = scale_range
    if not 0 < low <= high <= 1:
        raise ValueError(f"scale_range must satisfy 0 < low <= high <= 1, got {scale_range}")
    if max_shift < 0:
        raise ValueError(f"max_shift must be non-negative, got {max_shift}")
    font_names = list(available_digit_fonts() if fonts is None else fonts)
    if not font_names:
        raise ValueError("no font given to draw the digits with")
    glyph_sets = [_glyphs(_resolve_font(name)) for name in font_names]
    generator = np.random.default_rng(rng)

    n = 10 * n_per_digit
    labels = generator.permutation(np.repeat(np.arange(10, dtype=np.int64), n_per_digit))
    font_index = generator.integers(len(glyph_sets), size=n)
    scales = generator.uniform(low, high, size=n)
    shifts = generator.uniform(-max_shift, max_shift, size=(n, 2)) * size

    images = np.zeros((n, size, size), dtype=np.float32)
    for i in range(n):
        glyph = glyph_sets[font_index[i]][labels[i]]
        height = max(1, round(scales[i] * size))
        width = min(size, max(1, round(height * glyph.width / glyph.height)))
        # LANCZOS keeps thin strokes visible when a 96-px glyph shrinks to a few pixels.
        small = np.asarray(glyph.resize((width, height), Image.Resampling.LANCZOS))
        top = int(np.clip(round((size - height) / 2 + shifts[i, 0]), 0, size - height))
        left = int(np.clip(round((size - width) / 2 + shifts[i, 1]), 0, size - width))
        images[i, top : top + height, left : left + width] = small / 255.0
    images = np.repeat(images[:, None], channels, axis=1)
    return images, labels
