"""The learning rules of spec learning-rules.md §1, each a :class:`LearningRule` by name.

A rule says how a layer's backward weight B~ (``weight_backward``) starts and how it changes:

- set directly before every training step (``sham``: B~ = W; ``sign_symmetry``: B~ = s (.)
  sign(W), with s constant (uSF), a fixed random magnitude (frSF) or one redrawn every batch
  (brSF), scaled to the layer's initialisation std);
- fixed (``feedback_alignment``: a random draw kept for the whole run);
- absent (``direct_feedback_alignment``: the output's error reaches every layer's input
  through a fixed random matrix of its own, :mod:`brainlike.rules.direct`);
- given W's task gradient (``kolen_pollack``: dB~ = dW, so with the same weight decay W - B~
  shrinks by the factor (1 - lr * decay) every step);
- trained by gradient descent on a weighted sum of primitives
  (:mod:`brainlike.rules.primitives`): ``weight_mirror`` (alpha amp + beta decay, on noise
  inputs), ``information_alignment`` (alpha amp + beta null + gamma decay),
  ``symmetric_alignment`` (alpha decay + beta self; alpha = beta drives B~ to W),
  ``activation_alignment`` (alpha sparse + beta amp; alpha = beta is the least-squares fit of
  the layer's output from its input).

``backprop`` converts nothing. Rules register in :data:`brainlike.registry.RULES` under their
config names; short aliases (``fa``, ``kp``, ...) resolve to them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from brainlike.registry import RULES
from brainlike.rules import primitives

__all__ = ["ALIASES", "LearningRule", "SIGN_SYMMETRY_VARIANTS", "alignment_loss", "make_rule"]

SIGN_SYMMETRY_VARIANTS = ("usf", "frsf", "brsf")

ALIASES = {
    "bp": "backprop",
    "fa": "feedback_alignment",
    "dfa": "direct_feedback_alignment",
    "ss": "sign_symmetry",
    "wm": "weight_mirror",
    "kp": "kolen_pollack",
    "ia": "information_alignment",
    "sa": "symmetric_alignment",
    "aa": "activation_alignment",
}


@dataclass
class LearningRule:
    """One rule with its coefficients (see the module docstring).

    Attributes
    ----------
    name : the config name.
    backward_init : how B~ starts (``"random"`` or ``"copy"``); None: no backward weight
        (backprop, and direct feedback alignment, whose feedback matrices are not of W's shape).
    loss : primitive name -> coefficient of the rule's local loss (empty: none).
    variant : the sign-symmetry variant.
    """

    name: str
    backward_init: str | None = "random"
    loss: dict[str, float] = field(default_factory=dict)
    variant: str | None = None

    @property
    def converts(self) -> bool:
        """Whether ``convert`` changes the model (every rule but backprop)."""
        return self.backward_init is not None or self.direct

    @property
    def direct(self) -> bool:
        """Direct feedback alignment: fixed random matrices from the output, no B~."""
        return self.name == "direct_feedback_alignment"

    @property
    def follows_weight_gradient(self) -> bool:
        """Kolen-Pollack: B~ receives W's task gradient."""
        return self.name == "kolen_pollack"

    def set_backward(self, layer: nn.Module, generator: torch.Generator | None = None) -> None:
        """Set B~ of ``layer`` for the next step, for rules that set it directly."""
        if self.name == "sham":
            with torch.no_grad():
                layer.weight_backward.copy_(layer.weight)
        elif self.name == "sign_symmetry":
            with torch.no_grad():
                layer.weight_backward.copy_(self._sign_symmetric(layer, generator))

    def after_backward(self, layer: nn.Module) -> None:
        """Kolen-Pollack: B~ receives W's task gradient (its optimizer adds the same decay)."""
        if self.follows_weight_gradient and layer.weight.grad is not None:
            layer.weight_backward.grad = layer.weight.grad.detach().clone()

    def _sign_symmetric(self, layer: nn.Module, generator: torch.Generator | None) -> Tensor:
        w = layer.weight.detach()
        std = init_std(layer)
        if self.variant == "usf":
            return std * torch.sign(w)
        if self.variant == "brsf":
            mag = torch.randn(w.shape, generator=generator, dtype=w.dtype).abs().to(w.device)
        else:  # frsf: one magnitude per layer, drawn once and kept (in checkpoints) as a buffer
            if getattr(layer, "backward_magnitude", None) is None:
                drawn = torch.randn(w.shape, generator=generator, dtype=w.dtype).abs()
                layer.register_buffer("backward_magnitude", drawn.to(w.device))
            mag = layer.backward_magnitude
        return std * mag * torch.sign(w)


def init_std(layer: nn.Module) -> float:
    """Std of the default (Kaiming-uniform, a = sqrt(5)) init of ``layer``'s weight: 1/sqrt(3 fan_in).

    A layer with another initialisation or layout (the stacked subnetworks: one slice per
    subnetwork) gives its own as ``layer.weight_init_std()``."""
    own = getattr(layer, "weight_init_std", None)
    if own is not None:
        return float(own())
    fan_in = layer.weight[0].numel()
    return 1.0 / math.sqrt(3.0 * fan_in)


def alignment_loss(rule: LearningRule, layer: nn.Module, x: Tensor, r: Tensor) -> Tensor:
    """The rule's local loss on ``layer``'s backward weight, from its input ``x`` and output
    ``r`` (both detached: the loss trains B~ only)."""
    return primitives.loss(layer, x.detach(), r.detach(), rule.loss)


def _coefficients(rule: str, given: dict[str, Any], defaults: dict[str, float]) -> dict[str, float]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ValueError(
            f"rule {rule} has no coefficient {', '.join(unknown)}; its coefficients are "
            f"{', '.join(defaults)}"
        )
    out = {**defaults, **{k: float(v) for k, v in given.items()}}
    bad = {k: v for k, v in out.items() if not (math.isfinite(v) and v >= 0)}
    if bad:
        raise ValueError(
            f"rule {rule}: coefficients must be finite and >= 0, got "
            + ", ".join(f"{k}={v}" for k, v in bad.items())
        )
    return out


# spec: learning-rules.md §4, SA/AA as run: alpha = 1e-3, beta = 2e-3
@RULES.register("backprop", "exact backprop (no backward weights)")
def _backprop() -> LearningRule:
    return LearningRule("backprop", backward_init=None)


@RULES.register("sham", "control: B~ = W at every step, so the gradients are backprop's")
def _sham() -> LearningRule:
    return LearningRule("sham", backward_init="copy")


@RULES.register("feedback_alignment", "FA: B~ random and fixed")
def _feedback_alignment() -> LearningRule:
    return LearningRule("feedback_alignment")


@RULES.register(
    "direct_feedback_alignment", "DFA: the output's error reaches every layer through a fixed D"
)
def _direct_feedback_alignment() -> LearningRule:
    return LearningRule("direct_feedback_alignment", backward_init=None)


@RULES.register("sign_symmetry", "SS: B~ = s * sign(W) every step (variant usf, frsf or brsf)")
def _sign_symmetry(variant: str = "usf") -> LearningRule:
    if variant not in SIGN_SYMMETRY_VARIANTS:
        raise ValueError(
            f"sign_symmetry variant {variant!r}; choose one of {', '.join(SIGN_SYMMETRY_VARIANTS)}"
        )
    return LearningRule("sign_symmetry", variant=variant)


@RULES.register("weight_mirror", "WM: alpha amp + beta decay, on noise inputs")
def _weight_mirror(**coef: float) -> LearningRule:
    return LearningRule(
        "weight_mirror", loss=_coefficients("weight_mirror", coef, {"amp": 1.0, "decay": 1.0})
    )


@RULES.register("kolen_pollack", "KP: B~ gets W's update and the same decay")
def _kolen_pollack() -> LearningRule:
    return LearningRule("kolen_pollack")


@RULES.register("information_alignment", "IA: alpha amp + beta null + gamma decay (local)")
def _information_alignment(**coef: float) -> LearningRule:
    defaults = {"amp": 1.0, "null": 1.0, "decay": 1e-3}
    return LearningRule(
        "information_alignment", loss=_coefficients("information_alignment", coef, defaults)
    )


@RULES.register("symmetric_alignment", "SA: alpha decay + beta self (non-local)")
def _symmetric_alignment(**coef: float) -> LearningRule:
    defaults = {"decay": 1e-3, "self": 2e-3}
    return LearningRule(
        "symmetric_alignment", loss=_coefficients("symmetric_alignment", coef, defaults)
    )


@RULES.register("activation_alignment", "AA: alpha sparse + beta amp (non-local)")
def _activation_alignment(**coef: float) -> LearningRule:
    defaults = {"sparse": 1e-3, "amp": 2e-3}
    return LearningRule(
        "activation_alignment", loss=_coefficients("activation_alignment", coef, defaults)
    )


def make_rule(name: str, **options: Any) -> LearningRule:
    """The rule registered as ``name`` (or its alias) with ``options`` (coefficients, variant).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the known ones and the aliases), an unknown
        option or a coefficient outside its domain.
    """
    canonical = ALIASES.get(name, name)
    if canonical not in RULES:
        raise ValueError(
            f"unknown learning rule {name!r}; known rules: {', '.join(RULES.names())} "
            f"(aliases: {', '.join(f'{a}={n}' for a, n in ALIASES.items())})"
        )
    fn = RULES.entry(canonical).constructor
    try:
        return fn(**options)
    except TypeError:
        raise ValueError(
            f"rule {canonical} takes no option(s) {', '.join(sorted(options))}"
        ) from None
