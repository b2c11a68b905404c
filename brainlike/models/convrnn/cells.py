"""Recurrent convolutional cells of biologically unrolled ConvRNNs (spec: recurrent.md §1).

Every cell maps a cell input ``x`` ``(B, in_channels, H, W)`` and its state (a tuple of
``(B, out_channels, H, W)`` tensors, zeros at t = 0) to an output ``(B, out_channels, H, W)``
and a new state, one time step at a time::

    cell = make_cell("ugrnn", in_channels=64, out_channels=64)
    state = cell.init_state(x0)
    for x in inputs:
        y, state = cell.step(x, state)

Notation as in the spec: ``*`` is a 'same'-padded convolution (stride 1, ``kernel_size``,
default 3; even sizes pad asymmetrically as PyTorch's ``padding="same"`` does), ``(.)`` the
elementwise product, ``s`` the sigmoid, ``[x, h]`` concatenation along channels (input first).

Conventions shared by all cells
    - Every convolution has a learned bias initialised at zero, so at initialisation each gate
      is exactly the spec's equation. The ``+ 1`` of the GRU, UGRNN and IntersectionRNN gates
      is a constant offset added on top (the original code's gate bias initialised at 1).
    - Layer norm (``layer_norm=True`` for SimpleRNN and LSTM) is ``GroupNorm`` with one group:
      statistics over C, H, W jointly, a per-channel affine, epsilon 1e-12.
    - Cells are registered by name in :data:`CELLS`; :func:`make_cell` builds one and checks
      its options.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = [
    "CELLS",
    "ConvCell",
    "GRUCell",
    "IntersectionCell",
    "LSTMCell",
    "ReciprocalGatedCell",
    "ReciprocalGatedCellAsRun",
    "ReciprocalGatedCellMedian",
    "SimpleRNNCell",
    "TimeDecayCell",
    "UGRNNCell",
    "cell_names",
    "cell_options",
    "make_cell",
    "truncated_normal_",
]

LAYER_NORM_EPS = 1e-12
"""Epsilon of the cells' layer norm (spec: recurrent.md §1)."""

CELLS: dict[str, type[ConvCell]] = {}
"""Cell classes by name: ``time_decay``, ``simple_rnn``, ``gru``, ``lstm``, ``ugrnn``,
``intersection``, ``rgc``, ``rgc_as_run``, ``rgc_median``."""


def register_cell(name: str) -> Callable[[type[ConvCell]], type[ConvCell]]:
    """Class decorator adding a :class:`ConvCell` subclass to :data:`CELLS` under ``name``."""

    def deco(cls: type[ConvCell]) -> type[ConvCell]:
        if name in CELLS:
            raise ValueError(f"cell {name!r} is registered twice")
        CELLS[name] = cls
        cls.kind = name
        return cls

    return deco


def cell_names() -> list[str]:
    """Names of the registered cells, sorted."""
    return sorted(CELLS)


def cell_options(kind: str) -> dict[str, Any]:
    """The options of cell ``kind`` (keyword arguments besides the channel counts) and defaults."""
    cls = _cell_class(kind)
    params = inspect.signature(cls.__init__).parameters
    return {
        name: p.default
        for name, p in params.items()
        if name not in ("self", "in_channels", "out_channels")
    }


def make_cell(
    kind: str, in_channels: int, out_channels: int | None = None, **options: Any
) -> ConvCell:
    """Build a registered cell.

    Parameters
    ----------
    kind : a name from :data:`CELLS` (see :func:`cell_names`).
    in_channels : channels of the cell input ``x``.
    out_channels : channels of the output and state; ``None`` means ``in_channels``.
    **options : cell options, e.g. ``kernel_size=3``, ``layer_norm=True``; see
        :func:`cell_options`.

    Returns
    -------
    ConvCell
    """
    accepted = cell_options(kind)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        names = ", ".join(repr(k) for k in accepted) or "none"
        raise ValueError(f"cell {kind!r} has no option {unknown[0]!r}; its options are: {names}")
    out = in_channels if out_channels is None else out_channels
    return CELLS[kind](in_channels, out, **options)


def _cell_class(kind: str) -> type[ConvCell]:
    if kind not in CELLS:
        raise ValueError(f"unknown cell {kind!r}; registered cells: {', '.join(cell_names())}")
    return CELLS[kind]


def _check_kernel_size(kernel_size: int | tuple[int, int]) -> tuple[int, int]:
    ks = (kernel_size, kernel_size) if isinstance(kernel_size, int) else tuple(kernel_size)
    if len(ks) != 2 or not all(isinstance(k, int) and k >= 1 for k in ks):
        raise ValueError(
            f"kernel_size must be a positive int or a pair of positive ints, got {kernel_size!r}"
        )
    return ks


@torch.no_grad()
def truncated_normal_(w: Tensor, std: float) -> Tensor:
    """Fill ``w`` in place with N(0, std) truncated at 2 std (TensorFlow's truncated normal),
    by inverting the CDF (torch's ``trunc_normal_`` is slow on CPU)."""
    edge = math.erf(2.0 / math.sqrt(2.0))  # 2 * Phi(2) - 1
    return w.uniform_(-edge, edge).erfinv_().mul_(std * math.sqrt(2.0)).clamp_(-2 * std, 2 * std)


def _layer_norm(channels: int) -> nn.GroupNorm:
    # spec recurrent.md §1: LN over H, W, C jointly, per-channel affine, eps 1e-12
    return nn.GroupNorm(1, channels, eps=LAYER_NORM_EPS)


class ConvCell(nn.Module):
    """Base class: one recurrent convolutional cell, stepped one time step at a time.

    Parameters
    ----------
    in_channels : channels of the cell input ``x``.
    out_channels : channels of the output and of every state tensor.

    Subclasses set :attr:`state_names` (one entry per state tensor) and implement :meth:`step`.
    """

    kind: str = ""
    state_names: tuple[str, ...] = ("h",)
    takes_feedback: bool = False
    """Whether :meth:`step` takes long-range feedback (``step(x, state, feedback)``): the
    graph then hands the cell its ``entry="cell"`` feedback edges (``rgc_median``)."""

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__()
        for name, c in (("in_channels", in_channels), ("out_channels", out_channels)):
            if not isinstance(c, int) or c < 1:
                raise ValueError(f"{name} must be a positive int, got {c!r}")
        self.in_channels, self.out_channels = in_channels, out_channels

    def _same_channels(self) -> None:
        if self.in_channels != self.out_channels:
            raise ValueError(
                f"{type(self).__name__} ({self.kind!r}) adds its input to its state, so it needs"
                f" in_channels == out_channels; got in_channels={self.in_channels},"
                f" out_channels={self.out_channels}. Change the depth with a conv before the"
                " cell, or use a cell that maps depths (e.g. 'ugrnn', 'gru', 'lstm')"
            )

    def _conv(self, in_channels: int, out_channels: int, bias: bool = True) -> nn.Conv2d:
        conv = nn.Conv2d(in_channels, out_channels, self.kernel_size, padding="same", bias=bias)
        if bias:
            nn.init.zeros_(conv.bias)
        return conv

    def _check_input(self, x: Tensor) -> None:
        if x.dim() != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__} expects input (B, {self.in_channels}, H, W),"
                f" got shape {tuple(x.shape)}"
            )

    def init_state(self, x: Tensor) -> tuple[Tensor, ...]:
        """Zero state for input ``x`` ``(B, in_channels, H, W)``: one ``(B, out_channels, H, W)``
        tensor per entry of :attr:`state_names`, on ``x``'s device and dtype."""
        self._check_input(x)
        b, _, h, w = x.shape
        return tuple(x.new_zeros(b, self.out_channels, h, w) for _ in self.state_names)

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One time step: ``(output (B, out_channels, H, W), new state)``."""
        raise NotImplementedError

    def forward(
        self, x: Tensor, state: tuple[Tensor, ...] | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """:meth:`step`, starting from :meth:`init_state` when ``state`` is ``None``."""
        self._check_input(x)
        if state is None:
            state = self.init_state(x)
        elif len(state) != len(self.state_names):
            raise ValueError(
                f"{type(self).__name__} state is {self.state_names} ({len(self.state_names)}"
                f" tensors), got {len(state)}"
            )
        return self.step(x, tuple(state))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}"


@register_cell("time_decay")
class TimeDecayCell(ConvCell):
    """Time decay: ``s_t = m s_{t-1} + x_t`` with one learned scalar ``m`` (spec §1).

    ``m`` starts at 0, so at initialisation the cell is the identity on ``x``; from a zero state
    (t = 0) the output is ``x_0`` for any ``m``. There is no convolution, hence no
    ``kernel_size``; ``in_channels`` must equal ``out_channels``.
    """

    state_names = ("s",)

    def __init__(self, in_channels: int, out_channels: int) -> None:
        super().__init__(in_channels, out_channels)
        self._same_channels()
        self.m = nn.Parameter(torch.zeros(()))

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``s_t = m s_{t-1} + x_t``; output and state are ``s_t``."""
        (s,) = state
        s = self.m * s + x  # spec recurrent.md §1, time decay
        return s, (s,)


@register_cell("simple_rnn")
class SimpleRNNCell(ConvCell):
    """SimpleRNN: ``h_t = ELU(LN(W_x * x_t + W_h * h_{t-1} + b))`` (spec §1), LN optional.

    ``W_x`` and ``W_h`` are one conv ``W`` on ``[x, h]`` (with the bias ``b``). From a zero
    state the output is ``ELU(LN(W_x * x_0 + b))``: a plain conv layer.

    Parameters
    ----------
    kernel_size : conv kernel (int or pair).
    layer_norm : apply the GroupNorm(1) layer norm before the ELU.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        layer_norm: bool = False,
    ) -> None:
        super().__init__(in_channels, out_channels)
        self.kernel_size = _check_kernel_size(kernel_size)
        self.W = self._conv(in_channels + out_channels, out_channels)
        self.norm = _layer_norm(out_channels) if layer_norm else None

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``h_t = ELU(LN(W * [x_t, h_{t-1}] + b))``; output and state are ``h_t``."""
        (h,) = state
        a = self.W(torch.cat([x, h], 1))  # spec recurrent.md §1, SimpleRNN
        if self.norm is not None:
            a = self.norm(a)
        h = F.elu(a)
        return h, (h,)


@register_cell("gru")
class GRUCell(ConvCell):
    """Convolutional GRU (spec §1)::

        r = s(W_r * [x, h] + 1),  u = s(W_u * [x, h] + 1)
        c~ = tanh(W_c * [x, r (.) h]),  h_t = u (.) h_{t-1} + (1 - u) (.) c~

    From a zero state ``h_0 = (1 - u) (.) tanh(W_c * [x, 0])``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3
    ) -> None:
        super().__init__(in_channels, out_channels)
        self.kernel_size = _check_kernel_size(kernel_size)
        both = in_channels + out_channels
        self.W_r = self._conv(both, out_channels)
        self.W_u = self._conv(both, out_channels)
        self.W_c = self._conv(both, out_channels)

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``h_t = u (.) h_{t-1} + (1 - u) (.) tanh(W_c * [x, r (.) h_{t-1}])``; output ``h_t``."""
        (h,) = state
        xh = torch.cat([x, h], 1)
        # spec recurrent.md §1, GRU (the +1 is a constant gate offset)
        r = torch.sigmoid(self.W_r(xh) + 1.0)
        u = torch.sigmoid(self.W_u(xh) + 1.0)
        candidate = torch.tanh(self.W_c(torch.cat([x, r * h], 1)))
        h = u * h + (1.0 - u) * candidate
        return h, (h,)


@register_cell("lstm")
class LSTMCell(ConvCell):
    """Convolutional LSTM with forget bias, optional peepholes and layer norm (spec §1)::

        i, f, o, j = W * [x, h_{t-1}]            (one conv, 4 * out_channels, in that order)
        c_t = c_{t-1} (.) s(f + b_f [+ w_f (.) c_{t-1}]) + s(i [+ w_i (.) c_{t-1}]) (.) tanh(j)
        c_t <- LN(c_t)                            (optional)
        h_t = tanh(c_t) (.) s(o [+ w_o (.) c_{t-1}])

    State ``(h, c)``; output ``h_t``. From a zero state the peepholes and the forget gate have
    no effect: ``c_0 = s(i) (.) tanh(j)``.

    Parameters
    ----------
    kernel_size : conv kernel (int or pair).
    layer_norm : normalise ``c_t`` with the GroupNorm(1) layer norm (the normalised ``c_t`` is
        the state).
    forget_bias : the constant ``b_f`` added to the forget gate (1.0 in the spec).
    peepholes : add the peephole terms. Each peephole ``w_i, w_f, w_o`` is a full
        ``(out_channels, H, W)`` tensor, initialised at zero (so the cell starts as a plain
        LSTM).
    spatial : ``(H, W)`` of the cell's feature map; required with ``peepholes=True`` so the
        peephole parameters exist at construction and ``load_state_dict`` works before any
        forward pass. Inputs of another size are refused.
    """

    state_names = ("h", "c")

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        layer_norm: bool = False,
        forget_bias: float = 1.0,
        peepholes: bool = False,
        spatial: tuple[int, int] | None = None,
    ) -> None:
        super().__init__(in_channels, out_channels)
        self.kernel_size = _check_kernel_size(kernel_size)
        self.forget_bias = float(forget_bias)
        self.W = self._conv(in_channels + out_channels, 4 * out_channels)
        self.norm = _layer_norm(out_channels) if layer_norm else None
        self.peepholes = bool(peepholes)
        self.spatial: tuple[int, int] | None = None
        if peepholes:
            if spatial is None:
                raise ValueError(
                    "an LSTM cell with peepholes=True needs spatial=(H, W): its peepholes are"
                    " full (out_channels, H, W) tensors. Pass the feature-map size of the layer"
                    " the cell sits in"
                )
            if len(spatial) != 2 or not all(isinstance(s, int) and s >= 1 for s in spatial):
                raise ValueError(f"spatial must be (H, W) positive ints, got {spatial!r}")
            self.spatial = (spatial[0], spatial[1])
            shape = (out_channels, *self.spatial)
            self.w_i = nn.Parameter(torch.zeros(shape))
            self.w_f = nn.Parameter(torch.zeros(shape))
            self.w_o = nn.Parameter(torch.zeros(shape))
        elif spatial is not None:
            raise ValueError(
                f"spatial={spatial!r} is only used by the peepholes; pass peepholes=True or drop"
                " spatial"
            )

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``c_t = c (.) s(f + b_f + w_f c) + s(i + w_i c) (.) tanh(j)``,
        ``h_t = tanh(c_t) (.) s(o + w_o c_{t-1})``; returns ``(h_t, (h_t, c_t))``."""
        h, c = state
        i, f, o, j = self.W(torch.cat([x, h], 1)).chunk(4, dim=1)
        if self.peepholes:
            if tuple(c.shape[-2:]) != self.spatial:
                raise ValueError(
                    f"LSTM cell peepholes were built for spatial={self.spatial}, got a"
                    f" {tuple(c.shape[-2:])} feature map; rebuild the cell with the layer's size"
                )
            # spec recurrent.md §1: every peephole reads the previous memory c_{t-1}
            i, f, o = i + self.w_i * c, f + self.w_f * c, o + self.w_o * c
        # spec recurrent.md §1, LSTM
        c = c * torch.sigmoid(f + self.forget_bias) + torch.sigmoid(i) * torch.tanh(j)
        if self.norm is not None:
            c = self.norm(c)
        h = torch.tanh(c) * torch.sigmoid(o)
        return h, (h, c)


@register_cell("ugrnn")
class UGRNNCell(ConvCell):
    """Update-gate RNN (spec §1)::

        g = s(W_g * [x, h] + 1),  h_t = g (.) h_{t-1} + (1 - g) (.) tanh(W_c * [x, h])

    From a zero state ``h_0 = (1 - g) (.) tanh(W_c * [x, 0])``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3
    ) -> None:
        super().__init__(in_channels, out_channels)
        self.kernel_size = _check_kernel_size(kernel_size)
        both = in_channels + out_channels
        self.W_g = self._conv(both, out_channels)
        self.W_c = self._conv(both, out_channels)

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """``h_t = g (.) h_{t-1} + (1 - g) (.) tanh(W_c * [x, h_{t-1}])``; output ``h_t``."""
        (h,) = state
        xh = torch.cat([x, h], 1)
        g = torch.sigmoid(self.W_g(xh) + 1.0)  # spec recurrent.md §1, UGRNN
        h = g * h + (1.0 - g) * torch.tanh(self.W_c(xh))
        return h, (h,)


@register_cell("intersection")
class IntersectionCell(ConvCell):
    """IntersectionRNN: separate output ``y_t`` and state ``h_t`` (spec §1)::

        g_h = s(W_gh * [x, h] + 1),  g_y = s(W_gy * [x, h] + 1)
        h_t = g_h (.) h_{t-1} + (1 - g_h) (.) tanh(W_h * [x, h])
        y_t = g_y (.) x_t + (1 - g_y) (.) ReLU(W_y * [x, h])

    The output passes ``x`` through, so ``in_channels`` must equal ``out_channels``. The cell
    returns ``y_t``; the state is ``(h_t,)``. From a zero state
    ``y_0 = g_y (.) x + (1 - g_y) (.) ReLU(W_y * [x, 0])``.
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3
    ) -> None:
        super().__init__(in_channels, out_channels)
        self._same_channels()
        self.kernel_size = _check_kernel_size(kernel_size)
        both = in_channels + out_channels
        self.W_gh = self._conv(both, out_channels)
        self.W_gy = self._conv(both, out_channels)
        self.W_h = self._conv(both, out_channels)
        self.W_y = self._conv(both, out_channels)

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Returns ``(y_t, (h_t,))`` with ``y_t = g_y x + (1 - g_y) ReLU(W_y * [x, h])``."""
        (h,) = state
        xh = torch.cat([x, h], 1)
        # spec recurrent.md §1, IntersectionRNN
        g_h = torch.sigmoid(self.W_gh(xh) + 1.0)
        g_y = torch.sigmoid(self.W_gy(xh) + 1.0)
        y = g_y * x + (1.0 - g_y) * F.relu(self.W_y(xh))
        h = g_h * h + (1.0 - g_h) * torch.tanh(self.W_h(xh))
        return y, (h,)


@register_cell("rgc")
class ReciprocalGatedCell(ConvCell):
    """Reciprocal gated circuit, paper form (spec §1, thesis eqs 2.10, 2.11)::

        h_{t+1} = [1 - s(W_ch * c_t)] (.) x_t + [1 - s(W_hh * h_t)] (.) h_t
        c_{t+1} = [1 - s(W_hc * h_t)] (.) x_t + [1 - s(W_cc * c_t)] (.) c_t

    The memory ``c`` gates the input to the output ``h`` and vice versa. State ``(h, c)``,
    output the new ``h``; ``in_channels`` must equal ``out_channels``. From a zero state (and
    zero biases, as at initialisation) ``h = c = x / 2``.
    """

    state_names = ("h", "c")

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3
    ) -> None:
        super().__init__(in_channels, out_channels)
        self._same_channels()
        self.kernel_size = _check_kernel_size(kernel_size)
        self.W_ch = self._conv(out_channels, out_channels)
        self.W_hh = self._conv(out_channels, out_channels)
        self.W_hc = self._conv(out_channels, out_channels)
        self.W_cc = self._conv(out_channels, out_channels)

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """Thesis eqs 2.10/2.11; returns ``(h_{t+1}, (h_{t+1}, c_{t+1}))``."""
        h, c = state
        # spec recurrent.md §1, RGC paper form (thesis eqs 2.10, 2.11)
        h_new = (1.0 - torch.sigmoid(self.W_ch(c))) * x + (1.0 - torch.sigmoid(self.W_hh(h))) * h
        c_new = (1.0 - torch.sigmoid(self.W_hc(h))) * x + (1.0 - torch.sigmoid(self.W_cc(c))) * c
        return h_new, (h_new, c_new)


@register_cell("rgc_as_run")
class ReciprocalGatedCellAsRun(ConvCell):
    """Reciprocal gated circuit as run in the shallow nets (spec §1)::

        x   = ELU(W_u * u)
        c_t = ELU((1 - s(W_cc * c)) (.) c + (1 - s(W_hc * h)) (.) (W_xc * x))
        h_t = ELU((1 - s(W_hh * h)) (.) h + (1 - s(W_ch * c + W_uh * u)) (.) x)

    The cell owns the layer's feed-forward conv: its input is the layer input ``u``
    (``in_channels``), which it turns into ``x = ELU(W_u * u)`` (``out_channels``) itself, so
    ``u`` can also drive the output gate through ``W_uh``. Put this cell where the layer's conv
    would be, not after it. ``W_uh`` has no bias (``W_ch`` carries the gate's). State
    ``(h, c)``, output ``h_t``. From a zero state (zero biases)
    ``h_0 = ELU((1 - s(W_uh * u)) (.) x)`` and ``c_0 = ELU(W_xc * x / 2)``.
    """

    state_names = ("h", "c")

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int | tuple[int, int] = 3
    ) -> None:
        super().__init__(in_channels, out_channels)
        self.kernel_size = _check_kernel_size(kernel_size)
        self.W_u = self._conv(in_channels, out_channels)
        self.W_xc = self._conv(out_channels, out_channels)
        self.W_cc = self._conv(out_channels, out_channels)
        self.W_hc = self._conv(out_channels, out_channels)
        self.W_hh = self._conv(out_channels, out_channels)
        self.W_ch = self._conv(out_channels, out_channels)
        self.W_uh = self._conv(in_channels, out_channels, bias=False)

    def step(self, x: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One step on the layer input ``x`` (the spec's ``u``); returns ``(h_t, (h_t, c_t))``."""
        u = x
        h, c = state
        # spec recurrent.md §1, RGC as run in the shallow nets
        x = F.elu(self.W_u(u))
        c_new = F.elu(
            (1.0 - torch.sigmoid(self.W_cc(c))) * c
            + (1.0 - torch.sigmoid(self.W_hc(h))) * self.W_xc(x)
        )
        h_new = F.elu(
            (1.0 - torch.sigmoid(self.W_hh(h))) * h
            + (1.0 - torch.sigmoid(self.W_ch(c) + self.W_uh(u))) * x
        )
        return h_new, (h_new, c_new)


RGC_MEDIAN_MEMORY_SCALE = 0.9219348064291611
"""Scale of the recurrent (memory) terms of the RGC-median cell: the released configuration's
``tau_offset`` (``-tau_multiplier``), 0.9219 in the spec (recurrent.md, "RGC-Median cell,
exactly")."""

RGC_MEDIAN_INPUT_SCALE = 0.7006566684988862
"""Scale of the input terms of the RGC-median cell: the released configuration's
``gate_offset`` (``-gate_multiplier``), 0.7007 in the spec."""

RGC_MEDIAN_INIT_SCALE = 0.6393378386273998
"""Variance-scaling factor of the RGC-median cell's kernels (the released configuration)."""


class DepthSeparableConv2d(nn.Module):
    """Depth-separable convolution: a depthwise ``k x k`` conv (one filter per input channel,
    no bias, 'same' padding) then a pointwise 1x1 conv with bias.

    Parameters: ``k * k * in_channels + in_channels * out_channels + out_channels``.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 7) -> None:
        super().__init__()
        self.depthwise = nn.Conv2d(
            in_channels, in_channels, kernel_size, padding="same", groups=in_channels, bias=False
        )
        self.pointwise = nn.Conv2d(in_channels, out_channels, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``(B, in_channels, H, W)`` -> ``(B, out_channels, H, W)``."""
        return self.pointwise(self.depthwise(x))


@register_cell("rgc_median")
class ReciprocalGatedCellMedian(ConvCell):
    """The reciprocal gated cell of the architecture search's median model, exactly (spec:
    recurrent.md, "RGC-Median cell, exactly")::

        x_t = ELU(W_u * u_t + b)                                     (3x3, the layer's conv)
        c_t = ELU( a (1 - s(DS7_cc(c_{t-1}))) (.) c_{t-1}
                   + g (1 - tanh(DS7_hc(h_{t-1}))) (.) (W_xc * x_t + b) )         (2x2)
        h_t = ELU( a (1 - s(DS7_hh(h_{t-1}))) (.) h_{t-1}
                   + g (1 - tanh(DS7_ch(c_{t-1}))) (.) (W_xh * x_t + b + P(u_t) + F_t) )  (3x3)

    with ``a`` = :data:`RGC_MEDIAN_MEMORY_SCALE` (0.9219), ``g`` = :data:`RGC_MEDIAN_INPUT_SCALE`
    (0.7007), ``DS7`` a :class:`DepthSeparableConv2d` with 7x7 depthwise kernels, ``P(u)`` the
    layer input added as a residual (a 1x1 projection without bias when ``in_channels !=
    out_channels``, else ``u`` itself; ``u`` and ``x`` have one size, as the layer's conv has
    stride 1, so the spec's resize never applies) and ``F_t`` the long-range feedback the graph passes in
    (the sum of 1x1 convs of the sources' previous outputs; zero when ``None``).

    The cell owns the layer's conv: its input is the layer input ``u`` (``in_channels``), which
    it turns into ``x`` (``out_channels``) itself. State ``(h, c)``: ``h`` has ``out_channels``,
    the memory ``c`` has ``cell_depth`` channels (64 in the median model); the output is
    ``h_t``. The source's gate biases (4.147, 2.777) are not used by its separable gate convs
    and are not here. Kernels are initialised by fan-in variance scaling with factor
    :data:`RGC_MEDIAN_INIT_SCALE` (truncated normal), biases at zero; the source's L2 weight
    decay (2.034e-4) is a training setting (``train.weight_decay``).

    Parameters
    ----------
    kernel_size : kernel of the layer's conv ``W_u`` (3 in the median model).
    cell_depth : channels of the memory ``c``.
    """

    state_names = ("h", "c")
    takes_feedback = True
    gate_kernel_size = 7
    memory_input_kernel_size = 2  # 'same' for 2x2: the one pad at the bottom/right (TF)
    output_input_kernel_size = 3

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int] = 3,
        cell_depth: int = 64,
    ) -> None:
        super().__init__(in_channels, out_channels)
        if not isinstance(cell_depth, int) or isinstance(cell_depth, bool) or cell_depth < 1:
            raise ValueError(f"cell_depth must be a positive int, got {cell_depth!r}")
        self.kernel_size = _check_kernel_size(kernel_size)
        self.cell_depth = cell_depth
        self.memory_scale = RGC_MEDIAN_MEMORY_SCALE
        self.input_scale = RGC_MEDIAN_INPUT_SCALE
        c, d, k = out_channels, cell_depth, self.gate_kernel_size
        self.W_u = self._conv(in_channels, c)
        self.W_xc = nn.Conv2d(c, d, self.memory_input_kernel_size)  # 'same' padded in step
        self.W_xh = nn.Conv2d(c, c, self.output_input_kernel_size, padding="same")
        self.gate_cc = DepthSeparableConv2d(d, d, k)  # memory -> its own decay
        self.gate_hc = DepthSeparableConv2d(c, d, k)  # output -> memory's input gate
        self.gate_hh = DepthSeparableConv2d(c, c, k)  # output -> its own decay
        self.gate_ch = DepthSeparableConv2d(d, c, k)  # memory -> output's input gate
        self.project = None if in_channels == c else nn.Conv2d(in_channels, c, 1, bias=False)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                fan_in = m.weight[0].numel()
                # TF variance scaling (fan in, truncated normal): std of the truncated draw
                std = math.sqrt(RGC_MEDIAN_INIT_SCALE / fan_in) / 0.87962566103423978
                truncated_normal_(m.weight, std)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)

    def init_state(self, x: Tensor) -> tuple[Tensor, ...]:
        """Zero ``(h, c)`` for the layer input ``x`` ``(B, in_channels, H, W)``: ``h`` with
        ``out_channels``, ``c`` with ``cell_depth`` channels."""
        self._check_input(x)
        b, _, h, w = x.shape
        return x.new_zeros(b, self.out_channels, h, w), x.new_zeros(b, self.cell_depth, h, w)

    def step(
        self, x: Tensor, state: tuple[Tensor, ...], feedback: Tensor | None = None
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """One step on the layer input ``x`` (the spec's ``u``) with feedback ``F_t``
        ``(B, out_channels, H, W)`` or ``None``; returns ``(h_t, (h_t, c_t))``."""
        u = x
        h, c = state
        a, g = self.memory_scale, self.input_scale
        # spec recurrent.md, "RGC-Median cell, exactly"
        x = F.elu(self.W_u(u))
        c_new = F.elu(
            a * (1.0 - torch.sigmoid(self.gate_cc(c))) * c
            + g * (1.0 - torch.tanh(self.gate_hc(h))) * self.W_xc(F.pad(x, (0, 1, 0, 1)))
        )
        drive = self.W_xh(x) + (u if self.project is None else self.project(u))
        if feedback is not None:
            drive = drive + feedback
        h_new = F.elu(
            a * (1.0 - torch.sigmoid(self.gate_hh(h))) * h
            + g * (1.0 - torch.tanh(self.gate_ch(c))) * drive
        )
        return h_new, (h_new, c_new)

    def forward(
        self,
        x: Tensor,
        state: tuple[Tensor, ...] | None = None,
        feedback: Tensor | None = None,
    ) -> tuple[Tensor, tuple[Tensor, ...]]:
        """:meth:`step`, starting from :meth:`init_state` when ``state`` is ``None``."""
        if state is not None and len(state) != 2:
            raise ValueError(f"{type(self).__name__} state is (h, c), got {len(state)} tensors")
        self._check_input(x)
        if state is None:
            state = self.init_state(x)
        return self.step(x, tuple(state), feedback)

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, cell_depth={self.cell_depth}"
