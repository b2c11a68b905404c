"""Locality prior: connections whose strength falls with the distance between units on sheets.

spec: topography.md §3. Input and output units of a layer sit on grids (cortical sheets); the
layer's weight is multiplied, element by element, by a fixed prior ``P_ij = 1 / f(d_ij + 1)``
that shrinks long connections (``y = (W * P) x + b``, the weight form the original code ran).
With weight decay on ``W`` a long connection must pay for a large raw weight, which is the
wiring cost. Layers here: :class:`LocalityLinear`, :class:`LocalityConv2d` (prior over the
channels laid on grids, 1x1 by default), :class:`LocalityRNN` (prior on the recurrent
weights). Models: :class:`LeNetLP` (MNIST) and :class:`AlexNetLP` (ImageNet), each with its
control (same parameters, plain linear layer).

Every layer exposes ``sheet`` = ``{"in": (n_in, 2), "out": (n_out, 2)}`` unit positions (the
ones the prior used) so that wiring penalties and wiring lengths read the same geometry.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brainlike.models.sheet import SheetOutput
from brainlike.registry import register_model

__all__ = [
    "DECAYS",
    "AlexNetLP",
    "LeNetLP",
    "LocalityConv2d",
    "LocalityLinear",
    "LocalityRNN",
    "locality_prior",
    "prior_distances",
    "replace_linear_with_locality",
    "sheet_positions",
]

DECAYS = ("linear", "sqrt", "square", "gaussian", "exponential")
"""Names of the prior's decay with distance (spec: topography.md §3)."""

_NORMALIZE = ("none", "rows")


# --------------------------------------------------------------------------------------------
# geometry and prior
# --------------------------------------------------------------------------------------------


def _as_grid(shape: Any, name: str) -> tuple[int, int]:
    """(H, W) from a pair, or from a perfect-square unit count."""
    if isinstance(shape, (int, np.integer)):
        side = math.isqrt(int(shape))
        if side * side != int(shape) or side < 1:
            raise ValueError(
                f"{name}={shape} units cannot form a square grid; pass the grid as (H, W)"
            )
        return side, side
    try:
        h, w = (int(s) for s in shape)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a grid (H, W) of positive ints; got {shape!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"{name} must be a grid (H, W) of positive ints; got {shape!r}")
    return h, w


def sheet_positions(
    shape: tuple[int, int], extent: int | tuple[int, int] | None = None
) -> np.ndarray:
    """Positions of the units of an ``H x W`` grid, row-major, on a sheet of a given extent.

    Unit ``i`` of an axis with ``n`` units sits at ``(i + 0.5) * S / n - 0.5``: the grid is
    spread evenly over a sheet of side ``S``, so grids of different sizes placed on the same
    extent overlap, and a grid with ``S = n`` gets the integer positions ``0 .. n - 1``.

    Parameters
    ----------
    shape : (H, W)
    extent : int or (S_rows, S_cols), optional
        Side of the physical sheet per axis; defaults to the grid's own ``(H, W)``.

    Returns
    -------
    ndarray, shape (H * W, 2)
        Float64 (row, col) positions.
    """
    h, w = _as_grid(shape, "shape")
    if extent is None:
        sr, sc = h, w
    elif isinstance(extent, (int, np.integer)):
        sr = sc = int(extent)
    else:
        sr, sc = (int(e) for e in extent)
    if sr <= 0 or sc <= 0:
        raise ValueError(f"extent must be positive; got {extent!r}")
    rows = (np.arange(h) + 0.5) * sr / h - 0.5
    cols = (np.arange(w) + 0.5) * sc / w - 0.5
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return np.stack([rr.ravel(), cc.ravel()], 1)


def _common_extent(in_grid: tuple[int, int], out_grid: tuple[int, int]) -> tuple[int, int]:
    # spec: topography.md §3, grids of different sizes share the larger grid's physical extent
    return max(in_grid[0], out_grid[0]), max(in_grid[1], out_grid[1])


def prior_distances(
    in_shape: tuple[int, int] | int,
    out_shape: tuple[int, int] | int,
    metric: str = "euclidean",
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unit positions of two grids on a common sheet and the distances between them.

    Returns
    -------
    in_coords : ndarray (n_in, 2)
    out_coords : ndarray (n_out, 2)
    distances : ndarray (n_out, n_in)
        ``distances[i, j]`` between output unit i and input unit j, scipy ``cdist`` metric.
    """
    # deferred: scipy.spatial costs half a second, and loading brainlike.models loads this module
    from scipy.spatial.distance import cdist

    gi, go = _as_grid(in_shape, "in_shape"), _as_grid(out_shape, "out_shape")
    extent = _common_extent(gi, go)
    cin, cout = sheet_positions(gi, extent), sheet_positions(go, extent)
    try:
        d = cdist(cout, cin, metric=metric)
    except (ValueError, TypeError) as err:
        raise ValueError(
            f"distance metric {metric!r} is not usable by scipy.spatial.distance.cdist "
            f"(e.g. 'euclidean', 'cityblock', 'chebyshev'): {err}"
        ) from err
    return cin, cout, d


def locality_prior(
    in_shape: tuple[int, int] | int,
    out_shape: tuple[int, int] | int,
    decay: str = "linear",
    metric: str = "euclidean",
    scale: float = 1.0,
    normalize: str = "none",
) -> Tensor:
    """The fixed locality prior ``P`` (out x in) between two grids.

    With ``d`` the distance between output unit i and input unit j (in grid steps, divided by
    ``scale``): ``linear`` 1 / (d + 1), ``sqrt`` 1 / sqrt(d + 1), ``square`` 1 / (d + 1)^2,
    ``gaussian`` exp(-d^2 / 2), ``exponential`` exp(-d). With ``scale = 1`` the first three are
    the spec's ``1 / f(d + 1)`` and the last two read ``exp(-d^2 / 2 sigma^2)`` and
    ``exp(-d / lambda)`` with ``sigma = lambda = scale``.

    Parameters
    ----------
    in_shape, out_shape : (H, W) or int
        Grids of the input and output units (an int must be a perfect square).
    decay : {"linear", "sqrt", "square", "gaussian", "exponential"}
    metric : str
        Any ``scipy.spatial.distance.cdist`` metric; euclidean by default.
    scale : float
        Length scale in grid steps (> 0).
    normalize : {"none", "rows"}
        ``"rows"`` rescales each row to sum to the number of inputs (so a unit's total input
        weight matches an unconstrained layer's); ``"none"`` as run in the source.

    Returns
    -------
    Tensor, shape (n_out, n_in), float32
    """
    if decay not in DECAYS:
        raise ValueError(f"decay must be one of {DECAYS}; got {decay!r}")
    if normalize not in _NORMALIZE:
        raise ValueError(f"normalize must be one of {_NORMALIZE}; got {normalize!r}")
    if not (isinstance(scale, (int, float)) and math.isfinite(scale) and scale > 0):
        raise ValueError(f"scale must be a positive finite number of grid steps; got {scale!r}")
    _, _, d = prior_distances(in_shape, out_shape, metric)
    d = d / float(scale)
    # spec: topography.md §3, P_ij = 1 / f(d_ij + 1); gaussian and exponential decays
    if decay == "linear":
        p = 1.0 / (d + 1.0)
    elif decay == "sqrt":
        p = 1.0 / np.sqrt(d + 1.0)
    elif decay == "square":
        p = 1.0 / (d + 1.0) ** 2
    elif decay == "gaussian":
        p = np.exp(-(d**2) / 2.0)
    else:
        p = np.exp(-d)
    if normalize == "rows":
        sums = p.sum(axis=1, keepdims=True)
        if np.any(sums <= 0):
            raise ValueError(
                "a row of the prior is all zero (the decay underflowed at this scale); "
                "rows normalisation needs every output unit to reach some input: raise scale"
            )
        p = p * (p.shape[1] / sums)
    return torch.as_tensor(p, dtype=torch.float32)


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------


class _LocalityPrior(nn.Module):
    """Shared bookkeeping: the prior buffer, the pruning mask, the sheet and pruning.

    Subclasses name their constrained weight in ``_prior_weight`` and call :meth:`_set_prior`.
    The prior ``(out, in)`` is broadcast over trailing weight dims (a conv's kernel).
    """

    _prior_weight: str = "weight"
    prior: Tensor
    mask: Tensor

    def _set_prior(
        self,
        in_shape: Any,
        out_shape: Any,
        decay: str,
        metric: str,
        scale: float,
        normalize: str,
        weight_shape: tuple[int, ...],
    ) -> None:
        self.in_shape = _as_grid(in_shape, "in_shape")
        self.out_shape = _as_grid(out_shape, "out_shape")
        self.decay, self.metric, self.scale, self.normalize = decay, metric, float(scale), normalize
        prior = locality_prior(self.in_shape, self.out_shape, decay, metric, scale, normalize)
        extra = len(weight_shape) - 2
        self.register_buffer("prior", prior.reshape(prior.shape + (1,) * extra))
        # persistent: a pruned model must reload pruned
        self.register_buffer("mask", torch.ones(weight_shape))

    @property
    def sheet(self) -> dict[str, np.ndarray]:
        """Unit positions the prior used: ``{"in": (n_in, 2), "out": (n_out, 2)}``."""
        extent = _common_extent(self.in_shape, self.out_shape)
        return {
            "in": sheet_positions(self.in_shape, extent),
            "out": sheet_positions(self.out_shape, extent),
        }

    def effective_weight(self) -> Tensor:
        """``W * P`` (times the pruning mask): the weight the layer actually applies."""
        return getattr(self, self._prior_weight) * self.prior * self.mask

    @torch.no_grad()
    def prune_(self, fraction: float) -> int:
        """Cut the ``fraction`` of all connections with the smallest ``|W * P|``, in place.

        ``fraction`` is the total pruned fraction, not a fraction of what is left: calling
        ``prune_(0.1)`` then ``prune_(0.3)`` leaves 30 % of connections cut (those already cut
        count, and none is ever restored). Cut connections are zeroed in the mask buffer
        (which gates the forward pass and the gradient) and in the raw weight.

        Parameters
        ----------
        fraction : float in [0, 1]

        Returns
        -------
        int
            The number of connections newly cut by this call.
        """
        fraction = float(fraction)
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"fraction must lie in [0, 1]; got {fraction}")
        strength = self.effective_weight().abs().flatten()
        mask = self.mask.view(-1)
        target = int(round(fraction * mask.numel()))
        already = int((mask == 0).sum())
        if target <= already:
            return 0
        # spec: topography.md §3, sparsification by smallest |W * P|; cut ones sort first
        strength = torch.where(mask == 0, torch.full_like(strength, -1.0), strength)
        order = torch.argsort(strength, stable=True)
        mask[order[:target]] = 0.0
        getattr(self, self._prior_weight).mul_(self.mask)
        return target - already

    def extra_repr(self) -> str:
        return (
            f"in_shape={self.in_shape}, out_shape={self.out_shape}, decay={self.decay!r}, "
            f"metric={self.metric!r}, scale={self.scale}, normalize={self.normalize!r}"
        )


class LocalityLinear(_LocalityPrior):
    """Fully connected layer with a locality prior: ``y = (W * P) x + b``.

    spec: topography.md §3, weight form. The source's README writes ``P * (Wx + b)``, which is
    not defined as written (``P`` is out x in, ``Wx + b`` has out entries); its code ran the
    weight form, the only form offered here.

    Parameters
    ----------
    in_shape, out_shape : (H, W) or int
        Grids of input and output units; ``in_features = H_in * W_in`` etc.
    decay, metric, scale, normalize
        Prior options, see :func:`locality_prior`.
    bias : bool
        Learn a bias ``b`` (out,).
    bias_modulation : bool
        Scale the bias of output unit i by the mean of row i of ``P``: the bias is read as a
        connection from a constant input spread evenly over the input sheet, so it is damped as
        much as unit i's average connection. Off by default (as run: the bias is unconstrained).

    Attributes
    ----------
    weight : Parameter (out, in)
    bias : Parameter (out,) or None
    prior : buffer (out, in)
    mask : buffer (out, in), 1 = connection kept (see :meth:`prune_`)
    bias_scale : buffer (out,), ones unless ``bias_modulation``
    """

    def __init__(
        self,
        in_shape: tuple[int, int] | int,
        out_shape: tuple[int, int] | int,
        decay: str = "linear",
        metric: str = "euclidean",
        scale: float = 1.0,
        normalize: str = "none",
        bias: bool = True,
        bias_modulation: bool = False,
    ) -> None:
        super().__init__()
        gi, go = _as_grid(in_shape, "in_shape"), _as_grid(out_shape, "out_shape")
        self.in_features, self.out_features = gi[0] * gi[1], go[0] * go[1]
        self.weight = nn.Parameter(torch.empty(self.out_features, self.in_features))
        self.bias = nn.Parameter(torch.empty(self.out_features)) if bias else None
        self._set_prior(gi, go, decay, metric, scale, normalize, tuple(self.weight.shape))
        self.bias_modulation = bool(bias_modulation)
        bias_scale = self.prior.mean(dim=1) if bias_modulation else torch.ones(self.out_features)
        self.register_buffer("bias_scale", bias_scale)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """nn.Linear's initialisation (uniform in +-1/sqrt(fan_in) for weight and bias)."""
        bound = 1.0 / math.sqrt(self.in_features)
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """``(..., in_features) -> (..., out_features)``."""
        # spec: topography.md §3, y = (W * P) x + b
        bias = None if self.bias is None else self.bias * self.bias_scale
        return F.linear(x, self.effective_weight(), bias)

    def extra_repr(self) -> str:
        return (
            f"{super().extra_repr()}, bias={self.bias is not None}, "
            f"bias_modulation={self.bias_modulation}"
        )


class LocalityConv2d(_LocalityPrior):
    """Convolution whose channels sit on grids, weight multiplied by a prior over channels.

    spec: topography.md §3, convolutional variant. The prior ``P`` (C_out, C_in) between the
    channel grids is broadcast over the ``k x k`` kernel: ``W_eff[o, i, :, :] = W[o, i] P[o, i]``.
    With ``kernel_size = 1`` (default) this is the locality-prior linear layer applied at every
    pixel.

    Parameters
    ----------
    in_channel_grid, out_channel_grid : (H, W) or int
        Grids of the input and output channels (``C_in = H_in * W_in``).
    kernel_size, stride, padding : int
    decay, metric, scale, normalize
        Prior options, see :func:`locality_prior`.
    bias : bool
    """

    def __init__(
        self,
        in_channel_grid: tuple[int, int] | int,
        out_channel_grid: tuple[int, int] | int,
        kernel_size: int = 1,
        stride: int = 1,
        padding: int = 0,
        decay: str = "linear",
        metric: str = "euclidean",
        scale: float = 1.0,
        normalize: str = "none",
        bias: bool = True,
    ) -> None:
        super().__init__()
        gi = _as_grid(in_channel_grid, "in_channel_grid")
        go = _as_grid(out_channel_grid, "out_channel_grid")
        self.in_channels, self.out_channels = gi[0] * gi[1], go[0] * go[1]
        self.kernel_size, self.stride, self.padding = int(kernel_size), int(stride), int(padding)
        k = self.kernel_size
        self.weight = nn.Parameter(torch.empty(self.out_channels, self.in_channels, k, k))
        self.bias = nn.Parameter(torch.empty(self.out_channels)) if bias else None
        self._set_prior(gi, go, decay, metric, scale, normalize, tuple(self.weight.shape))
        bound = 1.0 / math.sqrt(self.in_channels * k * k)  # nn.Conv2d's initialisation
        nn.init.uniform_(self.weight, -bound, bound)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -bound, bound)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, C_in, H, W) -> (B, C_out, H', W')``."""
        return F.conv2d(x, self.effective_weight(), self.bias, self.stride, self.padding)


class LocalityRNN(_LocalityPrior):
    """Elman RNN over a grid of hidden units with a locality prior on the recurrent weights.

    ``h_t = tanh(W_in x_t + (W_hh * P) h_{t-1} + b)``, ``P`` over the hidden grid (both ends of
    a recurrent connection are hidden units): the source's suggestion that the prior is a
    wiring cost per time step, so most at home in a recurrent model.

    Parameters
    ----------
    input_size : int
    hidden_shape : (H, W) or int
        Grid of the hidden units (``hidden_size = H * W``).
    decay, metric, scale, normalize
        Prior options, see :func:`locality_prior`.
    bias : bool

    Attributes
    ----------
    weight_ih : Parameter (hidden, input)
    weight_hh : Parameter (hidden, hidden), constrained by ``prior`` and ``mask``
    bias : Parameter (hidden,) or None
    """

    _prior_weight = "weight_hh"

    def __init__(
        self,
        input_size: int,
        hidden_shape: tuple[int, int] | int,
        decay: str = "linear",
        metric: str = "euclidean",
        scale: float = 1.0,
        normalize: str = "none",
        bias: bool = True,
    ) -> None:
        super().__init__()
        grid = _as_grid(hidden_shape, "hidden_shape")
        self.input_size, self.hidden_size = int(input_size), grid[0] * grid[1]
        self.weight_ih = nn.Parameter(torch.empty(self.hidden_size, self.input_size))
        self.weight_hh = nn.Parameter(torch.empty(self.hidden_size, self.hidden_size))
        self.bias = nn.Parameter(torch.empty(self.hidden_size)) if bias else None
        self._set_prior(grid, grid, decay, metric, scale, normalize, tuple(self.weight_hh.shape))
        bound = 1.0 / math.sqrt(self.hidden_size)  # nn.RNN's initialisation
        for p in self.parameters():
            nn.init.uniform_(p, -bound, bound)

    @property
    def hidden_shape(self) -> tuple[int, int]:
        return self.out_shape

    def cell(self, x_t: Tensor, h: Tensor, w_hh: Tensor | None = None) -> Tensor:
        """One step: ``(B, input), (B, hidden) -> (B, hidden)``."""
        w_hh = self.effective_weight() if w_hh is None else w_hh
        pre = F.linear(x_t, self.weight_ih, self.bias) + F.linear(h, w_hh)
        return torch.tanh(pre)

    def forward(self, x: Tensor, h0: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Run over a sequence.

        Parameters
        ----------
        x : Tensor (B, T, input_size)
        h0 : Tensor (B, hidden_size), optional; zeros by default

        Returns
        -------
        outputs : Tensor (B, T, hidden_size)
            ``h_1 .. h_T``.
        h_T : Tensor (B, hidden_size)
        """
        if x.ndim != 3 or x.shape[-1] != self.input_size:
            raise ValueError(f"x must be (batch, time, {self.input_size}); got {tuple(x.shape)}")
        h = x.new_zeros(x.shape[0], self.hidden_size) if h0 is None else h0
        w_hh = self.effective_weight()  # once per sequence, not per step
        outputs = []
        for t in range(x.shape[1]):
            h = self.cell(x[:, t], h, w_hh)
            outputs.append(h)
        return torch.stack(outputs, 1), h


def replace_linear_with_locality(
    module: nn.Module,
    name: str,
    in_shape: tuple[int, int] | int,
    out_shape: tuple[int, int] | int,
    **prior_kwargs: Any,
) -> LocalityLinear:
    """Swap a model's ``nn.Linear`` for a :class:`LocalityLinear`, keeping its weights.

    The locality-prior option for the fully connected layers of any model (spec:
    topography.md §3). The new layer starts from the old weight and bias (so ``W * P`` is the
    old weight shrunk by the prior) on the device and dtype of the old one.

    Parameters
    ----------
    module : nn.Module
        The model; modified in place.
    name : str
        Dotted path of the linear layer, e.g. ``"classifier.4"``.
    in_shape, out_shape : (H, W) or int
        Grids for its ``in_features`` and ``out_features``.
    **prior_kwargs
        ``decay``, ``metric``, ``scale``, ``normalize``, ``bias_modulation``.

    Returns
    -------
    LocalityLinear
        The layer now installed at ``name``.
    """
    parent_name, _, leaf = name.rpartition(".")
    parent = module.get_submodule(parent_name) if parent_name else module
    old = getattr(parent, leaf, None)
    if not isinstance(old, nn.Linear):
        raise ValueError(f"{name!r} is {type(old).__name__}, not an nn.Linear")
    gi, go = _as_grid(in_shape, "in_shape"), _as_grid(out_shape, "out_shape")
    if gi[0] * gi[1] != old.in_features or go[0] * go[1] != old.out_features:
        raise ValueError(
            f"{name!r} maps {old.in_features} -> {old.out_features} features but the grids "
            f"{gi} -> {go} hold {gi[0] * gi[1]} -> {go[0] * go[1]} units"
        )
    new = LocalityLinear(gi, go, bias=old.bias is not None, **prior_kwargs)
    new = new.to(device=old.weight.device, dtype=old.weight.dtype)
    with torch.no_grad():
        new.weight.copy_(old.weight)
        if old.bias is not None:
            new.bias.copy_(old.bias)
    setattr(parent, leaf, new)
    return new


# --------------------------------------------------------------------------------------------
# models
# --------------------------------------------------------------------------------------------


class _LocalityHead(nn.Module):
    """LP (or plain linear) ``n -> n`` on a square grid, then BatchNorm1d and ReLU."""

    def __init__(self, side: int, locality: bool, prior_kwargs: dict[str, Any]) -> None:
        super().__init__()
        n = side * side
        if locality:
            self.lp: nn.Module = LocalityLinear((side, side), (side, side), **prior_kwargs)
        else:
            self.lp = nn.Linear(n, n)
        # spec: topography.md §3, BatchNorm1d directly after the layer in model and control
        self.bn = nn.BatchNorm1d(n)

    def forward(self, x: Tensor) -> Tensor:
        return F.relu(self.bn(self.lp(x)))


class _SheetModel(nn.Module):
    """Shared forward protocol of the locality-prior models (see :mod:`brainlike.models.sheet`).

    ``lp_in`` is what the LP layer reads (after ReLU and dropout); ``lp_out`` its output after
    BatchNorm and ReLU, non-negative as the spatial variance needs.
    """

    tile = 0  # no tiles: the within-tile null does not apply
    side: int
    head: _LocalityHead
    out: nn.Linear
    _config: dict[str, Any]

    @property
    def sheet(self) -> dict[str, np.ndarray]:
        """``{"lp_in": (side^2, 2), "lp_out": (side^2, 2)}`` integer grid positions."""
        coords = sheet_positions((self.side, self.side))
        return {"lp_in": coords, "lp_out": coords.copy()}

    def describe(self) -> dict[str, Any]:
        """The constructor arguments (JSON-able): ``type(model)(**model.describe())`` rebuilds."""
        return dict(self._config)

    @property
    def in_channels(self) -> int:
        return self._config["in_channels"]

    @property
    def out_features(self) -> int:
        return self._config["num_classes"]

    @property
    def input_size(self) -> int:
        return self._config["input_size"]

    def _build_head(self, n_features: int) -> None:
        """dropout -> Linear n_features -> side^2 -> ReLU -> dropout -> LP (or control) -> BN ->
        ReLU -> Linear -> classes: the part both networks share (spec: topography.md §3)."""
        c = self._config
        self.drop1 = nn.Dropout(c["dropout"])
        self.fc1 = nn.Linear(n_features, self.side * self.side)
        self.drop2 = nn.Dropout(c["dropout"])
        prior = {k: c[k] for k in ("decay", "metric", "scale", "normalize")}
        if c["locality"]:
            prior["bias_modulation"] = c["bias_modulation"]
        self.head = _LocalityHead(self.side, c["locality"], prior)
        self.out = nn.Linear(self.side * self.side, c["num_classes"])

    def _flat_features(self, x: Tensor) -> Tensor:
        """The network's own trunk: images -> flat features ``(B, n_features)``."""
        raise NotImplementedError

    def _trunk(self, x: Tensor) -> Tensor:
        # the shared head up to the LP layer's input: dropout -> fc1 -> ReLU -> dropout
        return self.drop2(F.relu(self.fc1(self.drop1(self._flat_features(x)))))

    def forward(self, x: Tensor, return_all: bool = False) -> Tensor | SheetOutput:
        lp_in = self._trunk(x)
        lp_out = self.head(lp_in)
        logits = self.out(lp_out)
        if not return_all:
            return logits
        shape = (x.shape[0], self.side, self.side)
        return SheetOutput(logits, {"lp_in": lp_in.reshape(shape), "lp_out": lp_out.reshape(shape)})


class LeNetLP(_SheetModel):
    """LeNet-style MNIST network with a locality-prior layer on a 7x7 sheet (or its control).

    spec: topography.md §3: conv(1->10, 5x5) -> maxpool 2 -> ReLU -> conv(10->20, 5x5) ->
    Dropout2d -> maxpool 2 -> ReLU -> flatten -> dropout -> Linear -> 49 -> ReLU -> dropout ->
    LP 49->49 on a 7x7 grid -> BatchNorm1d -> ReLU -> Linear 49->classes. The control
    (``locality=False``) has a plain Linear 49->49: same parameters, the LP adds only buffers.
    The flatten size (320 at 28x28) is found by a dry run, so other input sizes work.

    Parameters
    ----------
    locality : bool
    num_classes, in_channels, input_size : int
    grid : int
        Side of the LP sheet (7 as run).
    dropout : float
        Probability of every dropout (0.5, PyTorch's default, as in the MNIST example run).
    decay, metric, scale, normalize, bias_modulation
        Prior options, see :class:`LocalityLinear` (unused by the control).
    """

    def __init__(
        self,
        locality: bool = True,
        num_classes: int = 10,
        in_channels: int = 1,
        input_size: int = 28,
        grid: int = 7,
        dropout: float = 0.5,
        decay: str = "linear",
        metric: str = "euclidean",
        scale: float = 1.0,
        normalize: str = "none",
        bias_modulation: bool = False,
    ) -> None:
        super().__init__()
        self._config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        self.side = int(grid)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 10, 5),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Conv2d(10, 20, 5),
            nn.Dropout2d(dropout),
            nn.MaxPool2d(2),
            nn.ReLU(),
            nn.Flatten(),
        )
        with torch.no_grad():
            was = self.features.training
            self.features.eval()
            n_flat = self.features(torch.zeros(1, in_channels, input_size, input_size)).shape[1]
            self.features.train(was)
        self._build_head(n_flat)

    def _flat_features(self, x: Tensor) -> Tensor:
        return self.features(x)


class AlexNetLP(_SheetModel):
    """AlexNet with its fc7 replaced by a locality-prior layer on a 64x64 sheet (or control).

    spec: topography.md §3: features 64-192-384-256-256 (torchvision's AlexNet layout) ->
    adaptive average pool 6x6 -> dropout -> Linear 9216->4096 -> ReLU -> dropout -> LP
    4096->4096 on a 64x64 grid (linear decay) -> BatchNorm1d -> ReLU -> Linear 4096->classes.

    Parameters
    ----------
    locality : bool
    num_classes, in_channels : int
    input_size : int
        Image side (224 as run; the adaptive pool accepts others).
    grid : int
        Side of the LP sheet (64 as run).
    dropout : float
    decay, metric, scale, normalize, bias_modulation
        Prior options, see :class:`LocalityLinear` (unused by the control).
    """

    def __init__(
        self,
        locality: bool = True,
        num_classes: int = 1000,
        in_channels: int = 3,
        input_size: int = 224,
        grid: int = 64,
        dropout: float = 0.5,
        decay: str = "linear",
        metric: str = "euclidean",
        scale: float = 1.0,
        normalize: str = "none",
        bias_modulation: bool = False,
    ) -> None:
        super().__init__()
        self._config = {k: v for k, v in locals().items() if k not in ("self", "__class__")}
        if input_size < 63:
            # conv 11/4 and three 3/2 max-pools leave no pixel below 63 px
            raise ValueError(
                f"AlexNet needs images of at least 63 px (its stride-4 conv and three max-pools "
                f"shrink them to nothing below), got input_size {input_size}; set "
                "data.input_size: 64 or more"
            )
        self.side = int(grid)
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 64, 11, stride=4, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(64, 192, 5, padding=2),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
            nn.Conv2d(192, 384, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(384, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(256, 256, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d((6, 6))
        self._build_head(256 * 6 * 6)

    def _flat_features(self, x: Tensor) -> Tensor:
        return torch.flatten(self.avgpool(self.features(x)), 1)


@register_model("lenet-lp", num_classes=10)
def lenet_lp(**kwargs: Any) -> LeNetLP:
    """LeNet with a locality-prior layer on a 7x7 sheet (MNIST; spec topography.md §3)."""
    return LeNetLP(locality=True, **kwargs)


@register_model("lenet-control", num_classes=10)
def lenet_control(**kwargs: Any) -> LeNetLP:
    """LeNet control of lenet-lp: plain Linear 49->49 with the same BatchNorm."""
    return LeNetLP(locality=False, **kwargs)


@register_model("alexnet-lp", num_classes=1000)
def alexnet_lp(**kwargs: Any) -> AlexNetLP:
    """AlexNet with a locality-prior fc7 on a 64x64 sheet (ImageNet; spec topography.md §3)."""
    return AlexNetLP(locality=True, **kwargs)


@register_model("alexnet-control", num_classes=1000)
def alexnet_control(**kwargs: Any) -> AlexNetLP:
    """AlexNet control of alexnet-lp: plain Linear 4096->4096 with the same BatchNorm."""
    return AlexNetLP(locality=False, **kwargs)
