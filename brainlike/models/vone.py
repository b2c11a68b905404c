"""VOneBlock: a fixed V1-like Gabor front end with simple cells, complex cells and noise.

spec: recurrent.md §5, VOneBlock front end (Dapello et al. 2020). Filter parameters are drawn
from primate V1 data (orientation and spatial frequency after De Valois 1982a/b, envelope
sizes nx/ny after Ringach 2002), turned into Gabor kernels at the input's pixels per degree,
read through rectified (simple) and quadrature-energy (complex) nonlinearities, multiplied by a
gain ``k_exc``, perturbed by Poisson-like neuronal noise and optionally squeezed by a 1x1
bottleneck so the block can replace the first layer of any CNN.

Orientation convention (kept from the published VOneNet so kernels match it): a kernel with
orientation ``theta`` has the carrier ``cos(2 pi f (r cos(theta) + c sin(theta)) + phase)``,
where ``r`` is the row offset (downwards) and ``c`` the column offset from the kernel centre;
``theta = 0`` gives horizontal stripes, ``theta = pi/2`` vertical stripes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
import torch
import torch.nn.functional as F
from scipy.stats import norm
from torch import Tensor, nn

# spec: recurrent.md §5; De Valois, Yund & Hepler 1982a, preferred orientation (deg) of macaque
# V1 cells, four 45-degree bins centred on 0, 45, 90, 135.
ORIENTATION_BINS_DEG = np.array([-22.5, 22.5, 67.5, 112.5, 157.5])
ORIENTATION_COUNTS = np.array([66, 49, 77, 54])

# De Valois, Albrecht & Thorell 1982b, peak spatial frequency (cycles/deg), log2-spaced bins.
SF_BINS_CPD = np.array([0.5, 0.7, 1.0, 1.4, 2.0, 2.8, 4.0, 5.6, 8.0, 11.2])
SF_COUNTS = np.array([4, 4, 8, 25, 32, 26, 28, 12, 8])

# Ringach 2002, joint histogram of envelope sizes in carrier cycles (rows nx, columns ny) on
# log10-spaced bins from 0.1 to 10**0.2.
N_BINS = np.logspace(-1, 0.2, 6)
NX_NY_COUNTS = np.array(
    [
        [2.0, 0.0, 1.0, 0.0, 0.0],
        [8.0, 9.0, 4.0, 1.0, 0.0],
        [1.0, 2.0, 19.0, 17.0, 3.0],
        [0.0, 0.0, 1.0, 7.0, 4.0],
        [0.0, 0.0, 0.0, 0.0, 0.0],
    ]
)


def _inverse_cdf(u: np.ndarray, counts: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Map uniforms ``u`` through a histogram's piecewise-linear inverse CDF on ``edges``."""
    cdf = np.concatenate([[0.0], np.cumsum(counts / counts.sum())])
    return np.interp(u, cdf, edges)


def sf_histogram(sf_min: float = 0.0, sf_max: float = 6.0) -> tuple[np.ndarray, np.ndarray]:
    """De Valois spatial-frequency histogram restricted to edges in ``[sf_min, sf_max]``.

    Returns
    -------
    counts : (n_bins,) array and edges : (n_bins + 1,) array in cycles/deg.
    """
    lo = np.flatnonzero(SF_BINS_CPD >= sf_min)
    hi = np.flatnonzero(SF_BINS_CPD <= sf_max)
    if lo.size == 0 or hi.size == 0 or hi[-1] - lo[0] < 1:
        raise ValueError(
            f"sf_min={sf_min}, sf_max={sf_max} leave no spatial-frequency bin; the De Valois "
            f"bin edges are {SF_BINS_CPD.tolist()} cycles/deg, keep at least two inside the range"
        )
    return SF_COUNTS[lo[0] : hi[-1]], SF_BINS_CPD[lo[0] : hi[-1] + 1]


def sample_v1_parameters(
    n_channels: int,
    seed: int = 0,
    sf_corr: float = 0.75,
    sf_min: float = 0.0,
    sf_max: float = 6.0,
) -> dict[str, np.ndarray]:
    """Sample Gabor parameters of ``n_channels`` V1 cells from the primate distributions.

    spec: recurrent.md §5. Orientation and phase are drawn independently; nx and the spatial
    frequency are coupled through a Gaussian copula with correlation ``sf_corr``; ny is drawn
    from Ringach's histogram conditional on the nx bin. The draws use ``RandomState(seed)`` in
    the order of the published VOneNet, so the defaults reproduce its parameters.

    Parameters
    ----------
    n_channels : number of cells.
    seed : random seed.
    sf_corr : correlation between nx and spatial frequency (VOneNet default 0.75).
    sf_min, sf_max : spatial-frequency range in cycles/deg (VOneNet defaults 0 and 6).

    Returns
    -------
    dict of (n_channels,) arrays: ``orientation`` (rad, in [0, pi)), ``spatial_frequency``
    (cycles/deg), ``phase`` (rad, in [0, 2 pi)), ``nx``, ``ny`` (envelope s.d. in carrier
    cycles) and ``sigma_x``, ``sigma_y`` (envelope s.d. in degrees, ``n / spatial_frequency``).
    """
    if n_channels < 1:
        raise ValueError(f"n_channels={n_channels}; sample at least one cell")
    if not -1.0 < sf_corr < 1.0:
        raise ValueError(f"sf_corr={sf_corr}; a correlation must lie strictly in (-1, 1)")
    sf_counts, sf_edges = sf_histogram(sf_min, sf_max)
    rng = np.random.RandomState(seed)

    phase_deg = 360.0 * rng.rand(n_channels)
    ori_deg = _inverse_cdf(rng.rand(n_channels), ORIENTATION_COUNTS, ORIENTATION_BINS_DEG)
    ori_deg = np.where(ori_deg < 0, ori_deg + 180.0, ori_deg)

    cov = np.array([[1.0, sf_corr], [sf_corr, 1.0]])
    u = norm.cdf(rng.multivariate_normal([0.0, 0.0], cov, n_channels))
    joint = NX_NY_COUNTS / NX_NY_COUNTS.sum()
    nx = 10 ** _inverse_cdf(u[:, 0], joint.sum(axis=1), np.log10(N_BINS))

    # ny given the nx bin: the bin is the last edge strictly below nx.
    ny_u = rng.rand(n_channels)
    nx_bin = np.clip(np.searchsorted(N_BINS, nx, side="left") - 1, 0, len(N_BINS) - 2)
    log_ny = np.empty(n_channels)
    for b in np.unique(nx_bin):
        sel = nx_bin == b
        log_ny[sel] = _inverse_cdf(ny_u[sel], joint[b], np.log10(N_BINS))
    ny = 10**log_ny

    sf = 2 ** _inverse_cdf(u[:, 1], sf_counts, np.log2(sf_edges))
    return {
        "orientation": np.deg2rad(ori_deg),
        "spatial_frequency": sf,
        "phase": np.deg2rad(phase_deg),
        "nx": nx,
        "ny": ny,
        "sigma_x": nx / sf,
        "sigma_y": ny / sf,
    }


def gabor_kernel(
    frequency: float,
    sigma_x: float,
    sigma_y: float,
    theta: float = 0.0,
    phase: float = 0.0,
    kernel_size: int = 25,
) -> Tensor:
    """One Gabor kernel, a Gaussian envelope (normalised to unit integral) times a cosine.

    Parameters
    ----------
    frequency : carrier frequency in cycles/pixel.
    sigma_x, sigma_y : envelope s.d. in pixels along and across the carrier's wave vector.
    theta : orientation of the wave vector (rad), see the module docstring for the axes.
    phase : carrier phase (rad); 0 is even (peak at the centre), pi/2 odd.
    kernel_size : odd side length in pixels.

    Returns
    -------
    (kernel_size, kernel_size) float32 tensor.
    """
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size={kernel_size}; use an odd size so the kernel has a centre")
    if sigma_x <= 0 or sigma_y <= 0:
        raise ValueError(f"sigma_x={sigma_x}, sigma_y={sigma_y}; envelope widths must be > 0")
    half = kernel_size // 2
    offsets = torch.arange(-half, half + 1, dtype=torch.float64)
    r, c = torch.meshgrid(offsets, offsets, indexing="ij")
    along = r * math.cos(theta) + c * math.sin(theta)
    across = -r * math.sin(theta) + c * math.cos(theta)
    envelope = torch.exp(-0.5 * (along**2 / sigma_x**2 + across**2 / sigma_y**2))
    envelope = envelope / (2 * math.pi * sigma_x * sigma_y)
    return (envelope * torch.cos(2 * math.pi * frequency * along + phase)).float()


def pixels_per_degree(image_size: int, visual_degrees: float) -> float:
    """Pixels per degree of an image of side ``image_size`` spanning ``visual_degrees``."""
    if visual_degrees <= 0:
        raise ValueError(f"visual_degrees={visual_degrees}; the image must span > 0 degrees")
    return image_size / visual_degrees


class GaborFilterBank(nn.Module):
    """A fixed convolution whose output channel ``i`` is a Gabor read from one input channel.

    Parameters
    ----------
    params : output of :func:`sample_v1_parameters` (degrees and cycles/deg).
    colour_channel : (n,) input channel each filter reads.
    in_channels : input channels.
    image_size, visual_degrees : the input's size in pixels and in degrees (Brain-Score uses
        8 degrees); they set the pixels per degree that convert the parameters to pixels.
    kernel_size, stride : convolution geometry; the padding is ``kernel_size // 2``.
    phase_shift : added to every phase (``pi / 2`` gives the quadrature partner).
    """

    weight: Tensor

    def __init__(
        self,
        params: Mapping[str, np.ndarray],
        colour_channel: np.ndarray,
        in_channels: int = 3,
        image_size: int = 224,
        visual_degrees: float = 8.0,
        kernel_size: int = 25,
        stride: int = 4,
        phase_shift: float = 0.0,
    ) -> None:
        super().__init__()
        ppd = pixels_per_degree(image_size, visual_degrees)
        freq = np.asarray(params["spatial_frequency"], dtype=float) / ppd  # cycles/pixel
        n = len(freq)
        if len(colour_channel) != n:
            raise ValueError(f"colour_channel has {len(colour_channel)} entries for {n} filters")
        if np.any((colour_channel < 0) | (colour_channel >= in_channels)):
            raise ValueError(f"colour_channel entries must lie in [0, {in_channels - 1}]")
        weight = torch.zeros(n, in_channels, kernel_size, kernel_size)
        for i in range(n):
            weight[i, int(colour_channel[i])] = gabor_kernel(
                freq[i],
                params["nx"][i] / freq[i],  # sigma in pixels = cycles / (cycles/pixel)
                params["ny"][i] / freq[i],
                theta=float(params["orientation"][i]),
                phase=float(params["phase"][i]) + phase_shift,
                kernel_size=kernel_size,
            )
        # A buffer, not a Parameter: the filters are fixed and never reach an optimiser.
        self.register_buffer("weight", weight)
        self.stride, self.padding = stride, kernel_size // 2

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, H, W) -> (B, n_filters, H / stride, W / stride)."""
        return F.conv2d(x, self.weight, None, self.stride, self.padding)


class SimpleCells(nn.Module):
    """Rectified Gabor responses, ``k_exc * ReLU(q0)``. spec: recurrent.md §5."""

    def __init__(self, q0: GaborFilterBank, k_exc: float) -> None:
        super().__init__()
        self.q0, self.k_exc = q0, k_exc

    def forward(self, x: Tensor) -> Tensor:
        return self.k_exc * F.relu(self.q0(x))


class ComplexCells(nn.Module):
    """Quadrature energy, ``k_exc * sqrt(q0^2 + q1^2) / sqrt(2)``. spec: recurrent.md §5."""

    def __init__(self, q0: GaborFilterBank, q1: GaborFilterBank, k_exc: float) -> None:
        super().__init__()
        self.q0, self.q1, self.k_exc = q0, q1, k_exc

    def forward(self, x: Tensor) -> Tensor:
        energy = torch.sqrt(self.q0(x) ** 2 + self.q1(x) ** 2) / math.sqrt(2)
        return self.k_exc * energy


NOISE_MODES = ("neuronal", "gaussian", None)


class NeuronalNoise(nn.Module):
    """Poisson-like noise on firing rates, followed by a ReLU.

    spec: recurrent.md §5. ``neuronal``: rescale to spike counts ``r = x * scale + level``, add
    ``N(0, 1) * sqrt(fano * ReLU(r) + 1e-4)`` (variance ``fano * mean``, Poisson at ``fano = 1``),
    undo the rescaling, then ReLU. ``gaussian``: add ``N(0, scale^2)``. With ``enabled`` off or
    ``mode=None`` only the ReLU is applied. Noise is drawn in training and evaluation alike.

    Parameters
    ----------
    mode : "neuronal", "gaussian" or None.
    scale, level : rate-to-count scale and offset (VOneNet: 0.35 and 0.07).
    fano : variance / mean of the counts.
    enabled : switch the noise on or off (also :meth:`set_enabled`).
    seed : seed of a private generator, for reproducible noise; None uses torch's global RNG.
    """

    def __init__(
        self,
        mode: str | None = "neuronal",
        scale: float = 0.35,
        level: float = 0.07,
        fano: float = 1.0,
        enabled: bool = True,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        if mode not in NOISE_MODES:
            raise ValueError(f"noise_mode={mode!r}; choose one of {NOISE_MODES}")
        if scale <= 0 or fano < 0:
            raise ValueError(f"noise scale={scale} must be > 0 and fano={fano} >= 0")
        self.mode, self.scale, self.level, self.fano = mode, scale, level, fano
        self.enabled = enabled
        self.reseed(seed)

    def reseed(self, seed: int | None) -> None:
        """Restart the private generator at ``seed`` (None: use torch's global RNG)."""
        self.seed = seed
        self._generator: torch.Generator | None = None

    def set_enabled(self, enabled: bool) -> None:
        """Switch the stochastic part on or off."""
        self.enabled = enabled

    def _standard_normal(self, like: Tensor) -> Tensor:
        if self.seed is None:
            return torch.randn_like(like)
        if self._generator is None or self._generator.device != like.device:
            self._generator = torch.Generator(device=like.device).manual_seed(self.seed)
        return torch.randn(
            like.shape, generator=self._generator, device=like.device, dtype=like.dtype
        )

    def forward(self, x: Tensor) -> Tensor:
        if self.enabled and self.mode == "neuronal":
            counts = x * self.scale + self.level
            std = torch.sqrt(self.fano * F.relu(counts) + 1e-4)
            x = (counts + self._standard_normal(x) * std - self.level) / self.scale
        elif self.enabled and self.mode == "gaussian":
            x = x + self._standard_normal(x) * self.scale
        return F.relu(x)


class VOneBlock(nn.Module):
    """Fixed V1 front end: Gabor simple and complex cells, neuronal noise, 1x1 bottleneck.

    spec: recurrent.md §5. Output channels ``0 .. simple_channels - 1`` are simple cells, the
    rest complex cells; each filter reads one random input channel. Submodules ``simple``,
    ``complex``, ``noise`` and ``bottleneck`` are called as modules, so forward hooks see each
    stage. At the defaults a (B, 3, 224, 224) input gives (B, 64, 56, 56) (512 channels without
    the bottleneck). Inputs are expected normalised with mean = std = 0.5 as in VOneNet; the
    block does not normalise.

    Parameters
    ----------
    in_channels, image_size, visual_degrees : input channels, size in pixels, size in degrees.
    simple_channels, complex_channels : cells of each type (256 and 256 in VOneNet).
    noise : whether the noise starts switched on (see :meth:`set_noise`).
    noise_mode, noise_scale, noise_level, fano : see :class:`NeuronalNoise`.
    noise_seed : seed of the noise generator (None: torch's global RNG).
    k_exc : gain on the Gabor responses (25 in VOneNet).
    kernel_size, stride : Gabor convolution geometry (25 and 4).
    bottleneck_channels : output channels of a trainable 1x1 conv, or None for no bottleneck.
    seed : seed of the V1 parameter sample, the colour-channel choice and the bottleneck init.
    sf_corr, sf_min, sf_max : see :func:`sample_v1_parameters`.
    params : explicit filter parameters (same keys as :func:`sample_v1_parameters`) instead of
        a sample; their length must be ``simple_channels + complex_channels``.
    """

    def __init__(
        self,
        in_channels: int = 3,
        image_size: int = 224,
        visual_degrees: float = 8.0,
        simple_channels: int = 256,
        complex_channels: int = 256,
        noise: bool = True,
        noise_mode: str | None = "neuronal",
        noise_scale: float = 0.35,
        noise_level: float = 0.07,
        fano: float = 1.0,
        noise_seed: int | None = None,
        k_exc: float = 25.0,
        kernel_size: int = 25,
        stride: int = 4,
        bottleneck_channels: int | None = 64,
        seed: int = 0,
        sf_corr: float = 0.75,
        sf_min: float = 0.0,
        sf_max: float = 6.0,
        params: Mapping[str, np.ndarray] | None = None,
    ) -> None:
        super().__init__()
        # constructor arguments, for checkpoints (explicit ``params`` are not JSON: refused there)
        self._config = {
            "in_channels": in_channels,
            "image_size": image_size,
            "visual_degrees": visual_degrees,
            "simple_channels": simple_channels,
            "complex_channels": complex_channels,
            "noise": noise,
            "noise_mode": noise_mode,
            "noise_scale": noise_scale,
            "noise_level": noise_level,
            "fano": fano,
            "noise_seed": noise_seed,
            "k_exc": k_exc,
            "kernel_size": kernel_size,
            "stride": stride,
            "bottleneck_channels": bottleneck_channels,
            "seed": seed,
            "sf_corr": sf_corr,
            "sf_min": sf_min,
            "sf_max": sf_max,
            "explicit_params": params is not None,
        }
        n = simple_channels + complex_channels
        if simple_channels < 0 or complex_channels < 0 or n == 0:
            raise ValueError(
                f"simple_channels={simple_channels}, complex_channels={complex_channels}; "
                "both must be >= 0 and at least one > 0"
            )
        if params is None:
            params = sample_v1_parameters(n, seed, sf_corr, sf_min, sf_max)
        if len(params["orientation"]) != n:
            raise ValueError(
                f"params describe {len(params['orientation'])} cells but simple_channels + "
                f"complex_channels = {n}; pass one parameter set per output channel"
            )
        self.params = {k: np.asarray(v, dtype=float) for k, v in params.items()}
        # A separate stream so the parameter sample stays the published one.
        colour = np.random.default_rng(seed).integers(0, in_channels, size=n)
        self.colour_channel = colour
        self.simple_channels, self.complex_channels = simple_channels, complex_channels
        self.out_channels = n if bottleneck_channels is None else bottleneck_channels
        self.image_size, self.visual_degrees = image_size, visual_degrees

        def bank(sl: slice, shift: float) -> GaborFilterBank:
            part = {k: v[sl] for k, v in self.params.items()}
            geometry = dict(in_channels=in_channels, image_size=image_size, stride=stride)
            return GaborFilterBank(
                part,
                colour[sl],
                visual_degrees=visual_degrees,
                kernel_size=kernel_size,
                phase_shift=shift,
                **geometry,
            )

        s, c = slice(0, simple_channels), slice(simple_channels, n)
        self.simple = SimpleCells(bank(s, 0.0), k_exc)
        self.complex = ComplexCells(bank(c, 0.0), bank(c, math.pi / 2), k_exc)
        self.noise = NeuronalNoise(noise_mode, noise_scale, noise_level, fano, noise, noise_seed)
        if bottleneck_channels is None:
            self.bottleneck: nn.Module = nn.Identity()
        else:
            self.bottleneck = nn.Conv2d(n, bottleneck_channels, kernel_size=1, bias=False)
            # Kaiming normal (fan_out, ReLU) as VOneNet, drawn from ``seed`` so blocks repeat.
            std = math.sqrt(2.0 / bottleneck_channels)
            gen = torch.Generator().manual_seed(seed)
            with torch.no_grad():
                self.bottleneck.weight.normal_(0.0, std, generator=gen)

    def set_noise(self, enabled: bool) -> None:
        """Switch the stochastic noise on or off (the final ReLU always applies)."""
        self.noise.set_enabled(enabled)

    def describe(self) -> dict:
        """Constructor arguments that rebuild this block: ``VOneBlock(**block.describe())``."""
        if self._config["explicit_params"]:
            raise ValueError(
                "this VOneBlock was built from explicit filter params, which a description "
                "cannot carry; save its state_dict together with the params instead"
            )
        return {k: v for k, v in self._config.items() if k != "explicit_params"}

    def forward(self, x: Tensor) -> Tensor:
        """(B, in_channels, H, W) -> (B, out_channels, H / stride, W / stride)."""
        cells = torch.cat([self.simple(x), self.complex(x)], dim=1)
        return self.bottleneck(self.noise(cells))


class VOneFront(nn.Module):
    """A VOneBlock in front of any backend: ``backend(vone(x))``."""

    def __init__(self, vone: VOneBlock, backend: nn.Module) -> None:
        super().__init__()
        self.vone, self.backend = vone, backend

    def forward(self, x: Tensor) -> Tensor:
        return self.backend(self.vone(x))

    @property
    def in_channels(self) -> int:
        return self.vone._config["in_channels"]

    @property
    def input_size(self) -> int:
        return self.vone.image_size

    @property
    def out_features(self) -> int:
        return self.backend.out_features

    def describe_front(self) -> dict:
        """The VOneBlock's constructor arguments (the backend describes itself)."""
        return self.vone.describe()


def with_vone(backend: nn.Module, backend_in_channels: int = 64, **vone_kwargs) -> VOneFront:
    """Put a VOneBlock whose bottleneck emits ``backend_in_channels`` in front of ``backend``.

    The backend must accept (B, backend_in_channels, H / stride, W / stride): for a ResNet,
    drop the stem (first conv, BN, ReLU, pool) as VOneNet does. ``vone_kwargs`` go to
    :class:`VOneBlock`.
    """
    if "bottleneck_channels" in vone_kwargs:
        raise ValueError("pass backend_in_channels, not bottleneck_channels, to with_vone")
    return VOneFront(VOneBlock(bottleneck_channels=backend_in_channels, **vone_kwargs), backend)
