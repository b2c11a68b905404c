"""Direct feedback alignment (DFA, Nokland 2016): the output's error reaches every layer at once.

spec: learning-rules.md §1 (the feedback-alignment family). Feedback alignment sends the error
down layer by layer through random backward weights; DFA skips the chain. With y the model's
output and e = dL/dy its error (per sample, flattened to ``(N, n_out)``), the gradient that
reaches the input of every converted layer l is ``e @ D_l`` (written D_l e in the paper), with
D_l a fixed random matrix of shape ``(n_out, numel of the layer's input per sample)``. Below
that point the error flows back exactly: through activations, BatchNorm and pooling to the
layer underneath, whose weight gradient is the usual one from its output's gradient, so the
hidden deltas are ``(e @ D_l) * f'(a)``. The top layer's input gets ``e @ D_L`` too: for the
top layer DFA is FA.

Scale. D_l is drawn as the default initialisation of a linear layer from the layer's input
straight to the output: uniform on +-1/sqrt(numel), std 1/sqrt(3 numel). The top layer's D then
has exactly FA's law for its B~, and every layer's feedback has the norm ||e @ D_l|| ~
||e|| / sqrt(3) whatever its width. At initialisation of ResNet-20 (32 px, 10 classes)
backprop's error at a layer's input has 0.08 to 0.66 times the output error's norm and DFA's
0.58; a D of std 1/sqrt(n_out) would send sqrt(numel / n_out) times ||e||, 40 times at the
early layers. D_l is drawn once, from a generator seeded by (run seed, layer index), when the
layer first runs with gradients, and kept as the layer's buffer ``feedback_direct``
(checkpoints hold it; loading one gives a fresh model the same matrices).

How it runs. Every layer :func:`~brainlike.rules.convert.convert` recognises (plain
``nn.Linear`` / ``nn.Conv2d``, ConvRNNs' ``SameConv2d``, locality-prior layers: forward hooks;
Reset networks' stacked layers, whose ``loop`` / ``fused`` a hook cannot observe: the same step
in :class:`DirectStackedConv2d` / :class:`DirectStackedLinear`, a class they take in place)
stays the same object and computes on a *detached* copy of its input, so autograd neither
computes nor sends the backprop error to the input. When the model's forward pass ends, the
output is passed through one node that takes every cut input as an input too: its backward
receives e and hands ``e @ D_l`` to each of them directly, the paper's direct paths. The
layers' own input gradients are never computed, so a DFA step costs a backprop step less
those, plus one ``(N, n_out) x (n_out, numel)`` product per layer.

Scope and limits:

- Under ``torch.no_grad`` nothing happens; in training and evaluation mode alike, a forward
  pass with gradients routes the error as above. A layer called on its own (not inside the
  model's forward) computes as plain backprop; :func:`exact_backprop` switches DFA off.
- Memory: one ``n_out x numel`` matrix per layer whose input needs a gradient (the first
  layer reads the image: none). ResNet-20 on 32 px, 10 classes: about 2 M numbers in all; an
  ImageNet ResNet-18 (1000 classes, 64 x 56 x 56 inputs): 200 M (0.8 GB in float32) for each
  early layer.
- The model's output must be one tensor (or a ``SheetOutput``'s ``logits``). Every layer must
  run once per forward pass: recurrent models (ConvRNNs over time steps, recurrent cells) are
  refused at their first forward pass. Every sample's error goes to its own row, so layers
  must keep the batch as their first dimension. The matrices are fixed: the input size and
  the output size must stay as they were at the first pass.
- A tensor read by a layer and by another path (a residual shortcut, a sheet's topographic
  loss) receives ``e @ D_l`` from the layer plus that path's own gradient. A loss that does
  not pass through the model's output cannot train a DFA network: the backward pass refuses
  it, naming the layer.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from brainlike.models.parallel import StackedConv2d, StackedLinear

__all__ = [
    "DIRECT_BUFFER",
    "DirectFeedback",
    "DirectStackedConv2d",
    "DirectStackedLinear",
    "attach",
    "direct_layers",
    "exact_backprop",
]

#: the buffer that holds a layer's feedback matrix D_l, ``(n_out, input numel per sample)``
DIRECT_BUFFER = "feedback_direct"

RULE = "direct_feedback_alignment"


@dataclass
class _Pass:
    """One forward pass of the model: calls per layer and the inputs cut from the graph."""

    calls: dict[str, int] = field(default_factory=dict)
    cut: list[tuple[nn.Module, list[Tensor]]] = field(default_factory=list)
    routed: bool = False  # the output's error has been sent (set in the backward pass)


class DirectFeedback:
    """What a model's DFA layers share: the seed of their matrices, their names and the
    forward pass in progress (each layer refers to it as ``layer.direct_feedback``).

    Parameters
    ----------
    names : the layers' names in the model, in order (layer ``i`` draws D with seed
        ``seed * 1_000_003 + i``).
    seed : the run's seed.
    """

    def __init__(self, names: Sequence[str], seed: int) -> None:
        self.names, self.seed = list(names), int(seed)
        self.current: _Pass | None = None

    # -- the root model's hooks -----------------------------------------------------------------
    def start(self, model: nn.Module, args: tuple) -> None:
        self.current = _Pass() if torch.is_grad_enabled() else None

    def finish(self, model: nn.Module, args: tuple, output: Any) -> Any:
        """Check the pass and route the output's error to every cut input (see the module
        docstring); returns the output with the routing node in its graph."""
        p, self.current = self.current, None
        if p is None or output is None:  # no gradients, or the forward pass raised
            return None
        repeated = [(n, c) for n, c in p.calls.items() if c > 1]
        if repeated:
            name, count = repeated[0]
            raise ValueError(
                f"{RULE} needs every layer called once per forward pass; {name} is called "
                f"{count} times (a recurrent model): use feedback_alignment"
            )
        if not p.cut:
            return None
        y = _task_output(output)
        n, n_out = y.shape[0], math.prod(y.shape[1:])
        plan, inputs = [], []
        for layer, xs in p.cut:
            name = self.names[layer.direct_feedback_index]
            rows = sorted({x.shape[0] for x in xs})
            if rows != [n]:
                raise ValueError(
                    f"{RULE} sends each sample's output error to every layer, but layer {name} "
                    f"reads {rows[0]} rows for the output's {n} samples (a model that folds time "
                    "or patches into the batch): use feedback_alignment"
                )
            numel = sum(math.prod(x.shape[1:]) for x in xs)
            plan.append((self._matrix(layer, name, n_out, numel), [x.shape for x in xs]))
            inputs.extend(xs)
        p.cut = []  # the graph holds what the backward pass needs; the activations can go
        routed = _RouteOutputError.apply(p, plan, y, *inputs)
        if isinstance(output, Tensor):
            return routed
        return dataclasses.replace(output, logits=routed)

    def _matrix(self, layer: nn.Module, name: str, n_out: int, numel: int) -> Tensor:
        """D_l of ``layer``, drawn at its first pass (uniform on +-1/sqrt(numel))."""
        d = getattr(layer, DIRECT_BUFFER)
        if d is None:
            seed = self.seed * 1_000_003 + layer.direct_feedback_index
            g = torch.Generator().manual_seed(seed)
            bound = 1.0 / math.sqrt(numel)
            d = torch.empty(n_out, numel).uniform_(-bound, bound, generator=g)
            d = d.to(device=layer.weight.device, dtype=layer.weight.dtype)
            setattr(layer, DIRECT_BUFFER, d)
        elif tuple(d.shape) != (n_out, numel):
            raise ValueError(
                f"{RULE}: layer {name} reads {numel} numbers per sample and the output has "
                f"{n_out}, but its feedback matrix was drawn for {d.shape[1]} and {d.shape[0]}; "
                "the matrices are fixed, so keep the input size and the outputs of the first pass"
            )
        return d

    # -- a layer's view of its input ------------------------------------------------------------
    def cut(self, layer: nn.Module, xs: list[Tensor]) -> list[Tensor]:
        """``xs`` detached (the layer's own input gradient is not needed), remembered for the
        output's routing node; unchanged outside a forward pass of the model with gradients."""
        p = self.current
        if p is None or not torch.is_grad_enabled():
            return xs
        name = self.names[layer.direct_feedback_index]
        p.calls[name] = p.calls.get(name, 0) + 1
        if not any(x.requires_grad for x in xs):  # the image: nothing to send it
            return xs
        p.cut.append((layer, list(xs)))
        return [x.detach() for x in xs]

    def watch(self, layer: nn.Module, outs: Sequence[Tensor]) -> None:
        """Refuse, in the backward pass, a gradient reaching the layer's output before (or
        without) the model output's error."""
        p = self.current
        if p is None or not torch.is_grad_enabled():
            return
        name = self.names[layer.direct_feedback_index]
        for out in outs:
            if out.requires_grad:
                out.register_hook(functools.partial(_expect_routed, p, name))


def _expect_routed(p: _Pass, name: str, grad: Tensor) -> None:
    if not p.routed:
        raise RuntimeError(
            f"{RULE}: layer {name} gets a gradient from a loss that does not pass through the "
            "model's output; DFA trains layers only from the output's error (add the task loss, "
            "or use feedback_alignment)"
        )


def _task_output(output: Any) -> Tensor:
    if isinstance(output, Tensor):
        return output
    logits = getattr(output, "logits", None)
    if dataclasses.is_dataclass(output) and isinstance(logits, Tensor):
        return logits
    raise ValueError(
        f"{RULE} sends the error of the model's output to every layer and needs that output as "
        f"one tensor (or a SheetOutput's logits); this model returns {type(output).__name__}"
    )


class _RouteOutputError(torch.autograd.Function):
    """Identity on the model's output y; in the backward pass e = dL/dy goes to every cut
    input x_l as ``e @ D_l``."""

    @staticmethod
    def forward(ctx: Any, p: _Pass, plan: list, y: Tensor, *inputs: Tensor) -> Tensor:
        ctx.p, ctx.plan = p, plan
        return y.view_as(y)

    @staticmethod
    def backward(ctx: Any, grad_y: Tensor) -> tuple:
        ctx.p.routed = True
        e = grad_y.reshape(grad_y.shape[0], -1)
        grads: list[Tensor | None] = []
        for d, shapes in ctx.plan:
            delta = e @ d.to(e.dtype)  # spec: learning-rules.md §1 (DFA: delta_l = D_l e)
            start = 0
            for shape in shapes:
                k = math.prod(shape[1:])
                grads.append(delta[:, start : start + k].reshape(shape))
                start += k
        needed = zip(grads, ctx.needs_input_grad[3:], strict=True)
        return None, None, grad_y, *(g if need else None for g, need in needed)


# -- the layers ---------------------------------------------------------------------------------
def _cut_input(layer: nn.Module, args: tuple) -> tuple | None:
    """Forward pre-hook of a DFA layer called as a module."""
    feedback = layer.direct_feedback
    if feedback is None or not args or not isinstance(args[0], Tensor):
        return None
    return (feedback.cut(layer, [args[0]])[0], *args[1:])


def _watch_output(layer: nn.Module, args: tuple, output: Any) -> None:
    """Forward hook of a DFA layer called as a module."""
    if layer.direct_feedback is not None and isinstance(output, Tensor):
        layer.direct_feedback.watch(layer, [output])


def _load_matrix(
    layer: nn.Module, state_dict: dict, prefix: str, metadata: Any, strict: bool, *args: Any
) -> None:
    """Load-state-dict pre-hook: give the buffer the stored matrix's shape (a fresh model has
    none yet); a whole state without it (saved before the layer's first pass) leaves the layer
    to draw it from the seed."""
    stored, held = state_dict.get(prefix + DIRECT_BUFFER), getattr(layer, DIRECT_BUFFER)
    if stored is None:
        if strict:
            setattr(layer, DIRECT_BUFFER, None)
    elif held is None or held.shape != stored.shape:
        w = layer.weight
        setattr(layer, DIRECT_BUFFER, torch.empty(stored.shape, device=w.device, dtype=w.dtype))


class _DirectStacked:
    """The stacked layers' ``loop`` / ``fused`` with DFA's input step (a forward hook cannot
    observe them). The loop's inputs are the fused input's blocks, in order, so both paths
    share one D_l and give the same gradients."""

    direct_feedback: DirectFeedback | None

    def loop(self, xs: Sequence[Tensor]) -> list[Tensor]:
        feedback = self.direct_feedback
        if feedback is not None:
            xs = feedback.cut(self, list(xs))
        outs = super().loop(xs)  # type: ignore[misc]
        if feedback is not None:
            feedback.watch(self, outs)
        return outs

    def fused(self, x: Tensor) -> Tensor:
        feedback = self.direct_feedback
        if feedback is not None:
            (x,) = feedback.cut(self, [x])
        out = super().fused(x)  # type: ignore[misc]
        if feedback is not None:
            feedback.watch(self, [out])
        return out


class DirectStackedConv2d(_DirectStacked, StackedConv2d):
    """``StackedConv2d`` under DFA (the class a converted layer takes in place)."""


class DirectStackedLinear(_DirectStacked, StackedLinear):
    """``StackedLinear`` under DFA (the class a converted layer takes in place)."""


_STACKED = {StackedConv2d: DirectStackedConv2d, StackedLinear: DirectStackedLinear}


# -- the model ----------------------------------------------------------------------------------
def direct_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every layer of ``model`` set up for DFA."""
    return [(n, m) for n, m in model.named_modules() if DIRECT_BUFFER in m._buffers]


def attach(model: nn.Module, names: Sequence[str], seed: int = 0) -> list[str]:
    """Set up DFA on the layers ``names`` of ``model``, in place (called by ``convert``).

    Parameters
    ----------
    model : the whole model (its output is the one whose error the layers receive).
    names : the layers to train by DFA, each a Linear- or Conv2d-like layer ``convert``
        recognises.
    seed : seeds the feedback matrices (layer ``i`` of ``names``: ``seed * 1_000_003 + i``).

    Returns
    -------
    ``names``, or the layers already set up when ``model`` has DFA already.
    """
    done = direct_layers(model)
    if done:
        return [n for n, _ in done]
    feedback = DirectFeedback(names, seed)
    for i, name in enumerate(names):
        layer = model.get_submodule(name)
        layer.register_buffer(DIRECT_BUFFER, None)
        layer.direct_feedback, layer.direct_feedback_index = feedback, i
        layer.register_load_state_dict_pre_hook(_load_matrix)
        if type(layer) in _STACKED:
            layer.__class__ = _STACKED[type(layer)]
        else:
            layer.register_forward_pre_hook(_cut_input)
            layer.register_forward_hook(_watch_output)
    # the model's hooks: first of its pre-hooks, so a bare layer as the model works too
    model.register_forward_pre_hook(feedback.start, prepend=True)
    model.register_forward_hook(feedback.finish, always_call=True)
    return list(names)


@contextmanager
def exact_backprop(model: nn.Module) -> Iterator[None]:
    """Within the block, ``model``'s DFA layers compute as plain backprop (for comparing
    DFA's updates with backprop's gradients)."""
    layers = [m for _, m in direct_layers(model)]
    saved = [m.direct_feedback for m in layers]
    try:
        for m in layers:
            m.direct_feedback = None
        yield
    finally:
        for m, feedback in zip(layers, saved, strict=True):
            m.direct_feedback = feedback
