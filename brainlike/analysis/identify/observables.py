"""Observables of a network in training: weights, activations and layer-wise activity change.

spec: learning-rules.md §2 (thesis ch. 6, part II). What an experimenter could measure of a
layer, each as an analogue of a neural quantity:

- **weights**: the forward weights the layer applies (synaptic strengths);
- **activations**: the layer's post-activation responses to held-out images (firing rates);
- **activity change**: how much the layer's post-synaptic activity moves when its inputs move,
  ``(1/N_out) sum_i sum_j d a_i / d x_j`` per example (paired pre/post measurements in the
  limit of a small stimulation), averaged over the examples.

Each measure goes through three functions (identity, absolute value, square). The weights and
activations are summarised by seven statistics of their distribution over units (Frobenius
norm, mean, variance, median, third quartile, skew as Pearson's second coefficient
``3 (mean - median) / std``, kurtosis ``E[(v - mean)^4] / var^2``); an activation statistic is
computed per example, over that example's units, then averaged over the examples. The activity
change is one number per example, so it has only the mean (over examples) of each function.
Skew and kurtosis are computed but marked dropped (``kept`` False): the source removed them as
they diverged during training for some networks.

**Post-activation.** The toolkit's models apply their nonlinearity in many ways (``nn.ReLU``
modules, ``F.relu`` in ``forward``, after pooling or BatchNorm, inside recurrent cells), so no
module boundary marks "the activation" in every model kind. The source measured each layer's
own output (its fused ReLU included where the layer had one; a ResNet's convolutions before
their BatchNorm). Here a hidden layer's activations are its rectified output
``a = relu(y)``, ``y = W x + b`` the layer's output as its weights produce it: the firing rate
its synapses drive; the readout (the layer that runs last in a forward pass) keeps its output
as it is, as the source's logits layer did. ``post_activation="output"`` uses every layer's
output as it is (the source's measurement for layers without a fused nonlinearity).

**Activity change, efficiently and exactly.** Every observed layer is affine in its input
(``y = J x + b``), so ``sum_j d y_i / d x_j = (J 1)_i = y(1) - y(0)``: one extra call of the
layer on a single all-ones input (and one on zeros) gives the input sum of every output's
Jacobian row, the same for every example. With ``a = relu(y)``,
``sum_i sum_j d a_i / d x_j = sum_i relu'(y_i) (J 1)_i``. This uses the layer's own forward
(the forward weights), never autograd's backward, which under a learning rule such as feedback
alignment would send the error through the backward weights instead of ``W``.

**Recording.** A :class:`~brainlike.config.observe.RecordingConfig` keeps a fraction of the
units, drawn once per layer and seed (the same units at every checkpoint, as in a chronic
recording): post-synaptic units (the layer's outputs) for the activations, pre-synaptic units
(its inputs) and post-synaptic units with separate seeds for the activity change, synapses
(weight entries) for the weights. Gaussian noise of the given std is added to every recorded
value before the statistics: to each activation, to each weight, and to each recorded input
unit's summed derivative ``sum_{i in S_out} d a_i / d x_j`` (their sum over the recorded inputs
gets noise of std ``noise * sqrt(|S_in|)``), as the source did.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "KEPT_STATISTICS",
    "OBSERVABLES",
    "STATISTICS",
    "TRANSFORMS",
    "LayerTap",
    "ObservableMeter",
    "activity_change",
    "distribution_statistics",
    "layer_positions",
    "observed_layers",
    "statistic_keys",
]

OBSERVABLES = ("weights", "activations", "activity_change")
TRANSFORMS = ("identity", "abs", "square")
STATISTICS = ("norm", "mean", "variance", "median", "q3", "skew", "kurtosis")
#: the statistics kept for identification by default (skew and kurtosis diverge)
KEPT_STATISTICS = ("norm", "mean", "variance", "median", "q3")
POSITIONS = ("early", "middle", "deep")


def statistic_keys() -> list[tuple[str, str, str]]:
    """(observable, transform, statistic) of every number measured per layer (45), in the
    order of the last axis of :meth:`ObservableMeter.measure`."""
    keys = [
        (obs, t, s) for obs in ("weights", "activations") for t in TRANSFORMS for s in STATISTICS
    ]
    return keys + [("activity_change", t, "mean") for t in TRANSFORMS]


# -- statistics -----------------------------------------------------------------------------------
def _order_statistics(v: Tensor, ranks: list[int]) -> Tensor:
    """The values of rank ``ranks`` (0-based, ascending) of each row of ``v``: ``(B, len)``."""
    if v.device.type == "cpu":  # a partial sort: about twice as fast as a full one
        part = np.partition(v.numpy(), ranks, axis=1)[:, ranks]
        return torch.from_numpy(part)
    return v.sort(dim=1).values[:, ranks]


def _quartile_ranks(n: int) -> tuple[list[int], list[float]]:
    """Ranks (lo, hi of the median, lo, hi of the third quartile) and the two interpolation
    weights of the quantiles 0.5 and 0.75 of ``n`` values (linear, numpy's default)."""
    ranks, weights = [], []
    for q in (0.5, 0.75):
        pos = q * (n - 1)
        lo = math.floor(pos)
        ranks += [lo, min(lo + 1, n - 1)]
        weights.append(pos - lo)
    return ranks, weights


def _moments_and_quartiles(x: Tensor, order: Tensor, weights: list[float]) -> Tensor:
    """(B, 7) statistics of the rows of ``x`` given the order statistics ``order`` (B, 4)."""
    n = x.shape[1]
    mean = x.mean(dim=1)
    centred = x - mean[:, None]
    sq = centred.square()
    var = sq.mean(dim=1)  # population variance, as the source
    # sum (x - mean)^4 as a squared 2-norm: one fast pass, no temporary
    kurtosis = torch.linalg.vector_norm(sq, 2, dim=1).square() / n / var.square()
    order = order.to(x.dtype)
    median = order[:, 0] + (order[:, 1] - order[:, 0]) * weights[0]
    q3 = order[:, 2] + (order[:, 3] - order[:, 2]) * weights[1]
    skew = 3.0 * (mean - median) / var.sqrt()  # Pearson's second skewness coefficient
    norm = (n * (var + mean.square())).sqrt()  # sum x^2 = n (var + mean^2)
    return torch.stack([norm, mean, var, median, q3, skew, kurtosis], dim=1)


def distribution_statistics(values: Tensor, nonnegative: bool | None = None) -> Tensor:
    """The seven statistics of each row of ``values`` through each function.

    Parameters
    ----------
    values : Tensor
        ``(B, U)``: B samples (examples) of U units each.
    nonnegative : bool, optional
        Whether every value is known to be >= 0 (then ``|v| = v`` is not computed again);
        checked when not given.

    Returns
    -------
    Tensor
        ``(B, 3, 7)``: functions in :data:`TRANSFORMS` order, statistics in
        :data:`STATISTICS` order (float32, float64 for float64 input). Rows with zero
        variance give NaN skew and kurtosis.
    """
    v = values.detach()
    if v.dtype not in (torch.float32, torch.float64):
        v = v.float()
    ranks, weights = _quartile_ranks(v.shape[1])
    order = _order_statistics(v, ranks)
    identity = _moments_and_quartiles(v, order, weights)
    if nonnegative is None:
        nonnegative = bool((v >= 0).all())
    if nonnegative:  # |v| = v (rectified rates): the same numbers
        order_abs, absolute = order, identity
    else:
        a = v.abs()
        order_abs = _order_statistics(a, ranks)
        absolute = _moments_and_quartiles(a, order_abs, weights)
    # |v| in order is v^2 in order: the squares of its order statistics are v^2's
    square = _moments_and_quartiles(v * v, order_abs.square(), weights)
    return torch.stack([identity, absolute, square], dim=1)


def activity_change(
    slope: Tensor, input_sums: Tensor, post: Tensor | None = None, noise: Tensor | None = None
) -> Tensor:
    """Layer-wise activity change ``(1/N_out) sum_i sum_j d a_i / d x_j`` of each example.

    spec: learning-rules.md §2. For a layer ``y = J x + b`` and ``a = f(y)`` elementwise,
    ``sum_j d a_i / d x_j = f'(y_i) (J 1)_i``.

    Parameters
    ----------
    slope : Tensor
        ``(B, N_out)``: ``f'(y)`` of each example (1 where ``a = y``; ``y > 0`` for relu).
    input_sums : Tensor
        ``(N_out,)``: ``(J 1_S)_i``, each output's derivative summed over the recorded inputs
        ``S`` (all of them: ``J 1``).
    post : Tensor, optional
        Indices of the recorded outputs (default: all).
    noise : Tensor, optional
        ``(B,)``: measurement noise added to each example's double sum.

    Returns
    -------
    Tensor
        ``(B,)``: the double sum over recorded outputs and inputs, divided by the number of
        recorded outputs.
    """
    if post is not None:
        slope, input_sums = slope[:, post], input_sums[post]
    total = (slope @ input_sums.to(slope.dtype)).to(torch.float64)
    if noise is not None:
        total = total + noise
    return total / slope.shape[1]


# -- which layers, and what they saw --------------------------------------------------------------
def observed_layers(model: nn.Module, names: str | Sequence[str] = "all") -> list[tuple[str, Any]]:
    """(name, layer) of the layers whose observables are recorded.

    ``"all"``: every layer a learning rule trains (:mod:`brainlike.rules.convert`): plain and
    converted ``nn.Linear`` / ``nn.Conv2d``, the toolkit's stacked, 'same'-padded and
    locality-prior layers, in module order. A list picks some of them by module name.
    """
    from brainlike.rules.convert import _swap_for
    from brainlike.rules.direct import DIRECT_BUFFER

    candidates = [
        (n, m)
        for n, m in model.named_modules()
        if n
        and (
            hasattr(m, "weight_backward") or DIRECT_BUFFER in m._buffers or _swap_for(m) is not None
        )
    ]
    if names == "all":
        if not candidates:
            raise ValueError(
                f"observe: {type(model).__name__} has no Linear or Conv2d layer to observe"
            )
        return candidates
    known = dict(candidates)
    unknown = [n for n in names if n not in known]
    if unknown:
        shown = ", ".join(known) if len(known) <= 12 else ", ".join(list(known)[:12]) + ", ..."
        raise ValueError(
            f"observe.layers names {', '.join(unknown)}, which the model does not have as a "
            f"Linear/Conv2d-like layer; its layers: {shown}"
        )
    return [(n, known[n]) for n in names]


def layer_positions(n: int) -> list[str]:
    """Early / middle / deep of each of ``n`` layers in the order they run: consecutive thirds
    of size ``n // 3`` (at least 1), the deep third taking the rest."""
    size = max(1, n // 3)
    return [POSITIONS[min(i // size, 2)] for i in range(n)]


def _flat(t: Tensor | Sequence[Tensor]) -> Tensor:
    """A layer's input or output as ``(B, units)`` (the stacked layers' lists concatenated)."""
    if isinstance(t, Tensor):
        return t.flatten(1)
    return torch.cat([x.flatten(1) for x in t], dim=1)


@dataclass
class LayerCall:
    """What one observed layer saw in a forward pass (its last call, for a layer called at
    every time step of a recurrent network)."""

    method: str  # "__call__", or the stacked layers' "loop" / "fused"
    inputs: Tensor | list[Tensor]
    output: Tensor | list[Tensor]
    order: int  # when its first call came, among the layers' calls of the pass

    def input_shapes(self) -> list[torch.Size]:
        xs = [self.inputs] if isinstance(self.inputs, Tensor) else self.inputs
        return [x.shape[1:] for x in xs]


class LayerTap:
    """Records the input and output of each observed layer during the forward passes made
    inside ``with tap:`` (forward hooks; the stacked layers' ``loop`` / ``fused``, which no hook
    sees, are wrapped for the duration)."""

    def __init__(self, layers: Sequence[tuple[str, Any]]) -> None:
        self.layers = list(layers)
        self.calls: dict[str, LayerCall] = {}
        self._count = 0
        self._undo: list[Any] = []

    def _record(self, name: str, method: str, inputs: Any, output: Any) -> None:
        old = self.calls.get(name)
        order = old.order if old is not None else self._count
        self._count += 1
        self.calls[name] = LayerCall(method, inputs, output, order)

    def __enter__(self) -> LayerTap:
        self.calls, self._count = {}, 0
        for name, layer in self.layers:
            if hasattr(layer, "loop") and hasattr(layer, "fused"):
                for method in ("loop", "fused"):
                    original = getattr(layer, method)

                    def wrapped(x, *a, _f=original, _n=name, _m=method, **k):
                        out = _f(x, *a, **k)
                        self._record(_n, _m, list(x) if _m == "loop" else x, out)
                        return out

                    setattr(layer, method, wrapped)
                    self._undo.append((layer, method))
            else:

                def hook(module, args, output, _n=name):
                    self._record(_n, "__call__", args[0], output)

                self._undo.append(layer.register_forward_hook(hook))
        return self

    def __exit__(self, *exc: Any) -> None:
        for item in self._undo:
            if isinstance(item, tuple):
                delattr(item[0], item[1])  # the class's method shows again
            else:
                item.remove()
        self._undo = []


def _replay(layer: Any, call: LayerCall, flat_input: Tensor) -> Tensor:
    """The layer's output ``(1, N_out)`` for one input given flat ``(N_in,)``, shaped as it
    was called."""
    shapes = call.input_shapes()
    pieces = flat_input.split([math.prod(s) for s in shapes])
    xs = [p.reshape(1, *s) for p, s in zip(pieces, shapes, strict=True)]
    if call.method == "loop":
        return _flat(layer.loop(xs))
    if call.method == "fused":
        return _flat(layer.fused(xs[0]))
    return _flat(layer(xs[0]))


@torch.no_grad()
def input_sums(layer: Any, call: LayerCall, pre: Tensor | None = None) -> Tensor:
    """``J 1_S``: each output's derivative summed over the inputs ``pre`` (default: all), for
    an affine layer ``y = J x + b`` (``y(1_S) - y(0)``, exact)."""
    ref = _flat(call.inputs)
    n_in = ref.shape[1]
    ones = ref.new_zeros(n_in)
    if pre is None:
        ones += 1
    else:
        ones[pre] = 1
    return (_replay(layer, call, ones) - _replay(layer, call, ref.new_zeros(n_in)))[0]


# -- measuring a model -----------------------------------------------------------------------------
def _seed(*parts: int) -> int:
    """One 63-bit seed from several integers (a seed per layer, stream and checkpoint)."""
    # int() first: numpy < 2 has no uint64 >> Python int
    return int(np.random.SeedSequence([int(p) for p in parts]).generate_state(2, np.uint64)[0]) >> 1


_POST, _PRE, _SYNAPSES, _NOISE = 1, 2, 3, 4


def _subset(n: int, fraction: float, seed: int, layer: int, stream: int) -> Tensor | None:
    """Indices of the ``ceil(fraction * n)`` recorded units of ``n`` (None: all)."""
    if fraction >= 1.0:
        return None
    k = max(1, math.ceil(fraction * n))
    g = torch.Generator().manual_seed(_seed(seed, layer, stream))
    return torch.randperm(n, generator=g)[:k].sort().values


def _noise(like: Tensor, std: float, *seed_parts: int) -> Tensor:
    """Gaussian noise of ``std`` shaped as ``like`` (drawn on the CPU: the same on any device)."""
    g = torch.Generator().manual_seed(_seed(*seed_parts))
    noise = torch.randn(*like.shape, generator=g, dtype=torch.float64) * std
    return noise.to(device=like.device, dtype=like.dtype)


@dataclass
class LayerInfo:
    """An observed layer as the table describes it."""

    name: str
    kind: str  # the layer's class
    index: int  # order in the forward pass
    position: str  # early / middle / deep
    readout: bool
    units: int  # outputs per example (post-synaptic units)
    inputs: int  # inputs per example (pre-synaptic units)
    synapses: int  # forward weight entries

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class ObservableMeter:
    """Measures the observables of a model's layers (see the module docstring).

    Parameters
    ----------
    layers : "all" or module names (:func:`observed_layers`).
    post_activation : "relu" (hidden layers rectified, the readout as it is) or "output".
    recordings : (fraction, noise, seed) of each recording setting.
    batch_size : examples per forward pass.
    """

    layers: str | Sequence[str] = "all"
    post_activation: str = "relu"
    recordings: Sequence[tuple[float, float, int]] = ((1.0, 0.0, 0),)
    batch_size: int = 256
    info: list[LayerInfo] = field(default_factory=list)

    _drawn: dict[tuple, Tensor | None] = field(default_factory=dict, repr=False)

    @property
    def n_values(self) -> int:
        return len(statistic_keys())

    def _units(self, n: int, fraction: float, seed: int, layer: int, stream: int) -> Any:
        """The recorded units (drawn once: the same at every checkpoint)."""
        key = (n, fraction, seed, layer, stream)
        if key not in self._drawn:
            self._drawn[key] = _subset(n, fraction, seed, layer, stream)
        return self._drawn[key]

    def _discover(self, model: nn.Module, calls: dict[str, LayerCall], chosen) -> None:
        missing = [n for n, _ in chosen if n not in calls]
        if missing and self.layers != "all":
            raise ValueError(
                f"observe.layers: {', '.join(missing)} did not run in a forward pass of the "
                "model, so nothing can be measured there; leave them out"
            )
        ran = sorted((calls[n].order, n, m) for n, m in chosen if n in calls)
        positions = layer_positions(len(ran))
        from brainlike.rules.primitives import forward_weight

        self.info = [
            LayerInfo(
                name=n,
                kind=type(m).__name__,
                index=i,
                position=positions[i],
                readout=i == len(ran) - 1,
                units=_flat(calls[n].output).shape[1],
                inputs=_flat(calls[n].inputs).shape[1],
                synapses=forward_weight(m).numel(),
            )
            for i, (_, n, m) in enumerate(ran)
        ]

    @torch.no_grad()
    def measure(self, model: nn.Module, x: Tensor, checkpoint: int = 0) -> np.ndarray:
        """Every observable of every observed layer on the inputs ``x``.

        The model is measured in evaluation mode, without gradients and with the random
        number generators of the run left as they were (nothing of training is touched).

        Parameters
        ----------
        model : the network (unwrapped).
        x : ``(N, ...)`` inputs (on the model's device).
        checkpoint : index of this measurement (seeds its measurement noise).

        Returns
        -------
        numpy.ndarray
            ``(R, L, 45)`` float64: recording settings, layers (in forward order, see
            :attr:`info`), values in :func:`statistic_keys` order.
        """
        from brainlike.models.sheet import forward_all
        from brainlike.rules.primitives import forward_weight

        chosen = observed_layers(model, self.layers)
        modules = dict(chosen)
        was = model.training
        model.eval()
        devices = [x.device.index or 0] if x.device.type == "cuda" else []
        n_stats = len(TRANSFORMS) * len(STATISTICS)
        try:
            with torch.random.fork_rng(devices=devices):
                sums: np.ndarray | None = None
                sums_input: dict[tuple[int, int], Tensor] = {}
                n_seen = 0
                for c, chunk in enumerate(x.split(self.batch_size)):
                    with LayerTap(chosen) as tap:
                        forward_all(model, chunk)
                    if not self.info:
                        self._discover(model, tap.calls, chosen)
                    if sums is None:
                        sums = np.zeros((len(self.recordings), len(self.info), self.n_values))
                    for li, layer in enumerate(self.info):
                        call = tap.calls[layer.name]
                        y = _flat(call.output)
                        rectify = self.post_activation == "relu" and not layer.readout
                        act = y.clamp_min(0) if rectify else y
                        slope = (y > 0).to(y.dtype) if rectify else torch.ones_like(y)
                        for r, (fraction, noise, seed) in enumerate(self.recordings):
                            post = self._units(layer.units, fraction, seed, li, _POST)
                            pre = self._units(layer.inputs, fraction, seed, li, _PRE)
                            if (r, li) not in sums_input:
                                sums_input[(r, li)] = input_sums(modules[layer.name], call, pre)
                            a = act if post is None else act[:, post]
                            if noise > 0:
                                a = a + _noise(a, noise, seed, li, checkpoint, c, _NOISE)
                            stats = distribution_statistics(a, rectify and noise == 0)
                            stats = stats.sum(dim=0, dtype=torch.float64).flatten()
                            sums[r, li, n_stats : 2 * n_stats] += stats.cpu().numpy()
                            eps = None
                            if noise > 0:
                                n_pre = layer.inputs if pre is None else len(pre)
                                eps = _noise(
                                    y.new_zeros(y.shape[0], dtype=torch.float64),
                                    noise * math.sqrt(n_pre), seed, li, checkpoint, c, _NOISE + 1,
                                )  # fmt: skip
                            g = activity_change(slope, sums_input[(r, li)], post, eps)
                            ac = torch.stack([g.sum(), g.abs().sum(), g.square().sum()])
                            sums[r, li, 2 * n_stats :] += ac.cpu().numpy()
                    n_seen += chunk.shape[0]
                if sums is None:
                    raise ValueError("observe: no inputs to measure the activations on")
                sums[:, :, n_stats:] /= n_seen
                for li, layer in enumerate(self.info):
                    w = forward_weight(modules[layer.name]).detach().flatten()
                    for r, (fraction, noise, seed) in enumerate(self.recordings):
                        syn = self._units(w.numel(), fraction, seed, li, _SYNAPSES)
                        v = (w if syn is None else w[syn])[None]
                        if noise > 0:
                            v = v + _noise(v, noise, seed, li, checkpoint, _SYNAPSES)
                        sums[r, li, :n_stats] = (
                            distribution_statistics(v)[0].flatten().cpu().numpy()
                        )
        finally:
            model.train(was)
        return sums
