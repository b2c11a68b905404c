"""Decoders: read one logit vector per image out of a ConvRNN's per-step logits (spec §1).

A biologically unrolled ConvRNN emits logits ``z`` ``(T, B, K)`` at every step ``0 .. T-1``;
a signal needs ``L`` steps to cross ``L`` layers, so the first meaningful logits are at step
``L``. A decoder built with ``start=L`` reads steps ``start .. T-1`` ("from step L onward",
0-indexed) and returns the logits of one chosen step per image::

    decoder = make_decoder("threshold", start=6)
    logits = decoder(z)                 # (B, K)
    steps = decoder.choose_steps(z)     # (B,) absolute step indices in start .. T-1

Kinds (spec: recurrent.md §1)
    ``default`` / ``last``: the last step ``T - 1``.
    ``threshold``: the first step whose max softmax probability is >= ``threshold`` (0.9);
    if no step reaches it, the step where the max probability peaks.
    ``max_confidence``: the step maximising ``max softmax(beta * z)``, ``beta`` a scalar.

The output is always the chosen step's unscaled logits ``z[step]``, picked with a gather, so
gradients reach exactly those logits. Ties go to the earliest step.

Trainable ``beta``
    A hard argmax over steps gives ``beta`` no gradient. With ``trainable_beta=True`` and the
    module in training mode the ``max_confidence`` decoder uses a straight-through selection:
    the forward value is still exactly the hard choice, and the backward pass goes through
    soft step weights ``softmax_t(conf_t / temperature)``, ``conf_t = max softmax(beta z_t)``.
    ``beta`` thus learns to favour the steps whose logits lower the loss. In evaluation mode
    (``model.eval()``) only the hard selection is used.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

__all__ = ["DECODERS", "Decoder", "make_decoder"]

DECODERS = ("default", "last", "threshold", "max_confidence")
"""Decoder kinds; ``default`` and ``last`` are the same decoder."""


class Decoder(nn.Module):
    """Choose one step's logits per image from per-step logits ``(T, B, K)``.

    Parameters
    ----------
    kind : one of :data:`DECODERS`.
    start : first step read (the graph depth ``L``); steps ``start .. T-1`` are candidates.
    threshold : probability the ``threshold`` decoder waits for, in (0, 1].
    beta : inverse temperature of the ``max_confidence`` decoder, > 0.
    trainable_beta : make ``beta`` an ``nn.Parameter`` (``max_confidence`` only).
    temperature : temperature of the soft step weights behind a trainable ``beta``'s gradient.
    """

    def __init__(
        self,
        kind: str = "default",
        start: int = 0,
        threshold: float = 0.9,
        beta: float = 1.0,
        trainable_beta: bool = False,
        temperature: float = 0.1,
    ) -> None:
        super().__init__()
        if kind not in DECODERS:
            raise ValueError(f"unknown decoder {kind!r}; decoders: {', '.join(DECODERS)}")
        if not isinstance(start, int) or start < 0:
            raise ValueError(f"start must be a step index >= 0, got {start!r}")
        if not 0.0 < threshold <= 1.0:
            raise ValueError(f"threshold is a probability in (0, 1], got {threshold}")
        if not (math.isfinite(beta) and beta > 0):
            raise ValueError(f"beta must be a finite number > 0, got {beta}")
        if not temperature > 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        if trainable_beta and kind != "max_confidence":
            raise ValueError(
                f"trainable_beta only applies to the 'max_confidence' decoder, not {kind!r}"
            )
        self.kind, self.start = kind, start
        self.threshold, self.temperature = float(threshold), float(temperature)
        self.trainable_beta = bool(trainable_beta)
        if kind == "max_confidence":
            value = torch.tensor(float(beta))
            if trainable_beta:
                self.beta = nn.Parameter(value)
            else:
                self.register_buffer("beta", value)

    def extra_repr(self) -> str:
        extra = {"threshold": f", threshold={self.threshold}", "max_confidence": ", beta"}
        return f"{self.kind!r}, start={self.start}" + extra.get(self.kind, "")

    def _window(self, z: Tensor) -> Tensor:
        if z.dim() != 3:
            raise ValueError(
                f"decoders read per-step logits of shape (T, B, K), got shape {tuple(z.shape)}"
            )
        if self.start >= z.shape[0]:
            raise ValueError(
                f"decoder starts at step {self.start} but the logits have only T={z.shape[0]}"
                f" steps (0 .. {z.shape[0] - 1}); unroll for more steps or lower start"
            )
        return z[self.start :]

    def confidence(self, z: Tensor) -> Tensor:
        """Max softmax probability per step, ``(T - start, B)`` (of ``beta * z`` for
        ``max_confidence``, of ``z`` otherwise)."""
        w = self._window(z)
        if self.kind == "max_confidence":
            w = self.beta * w
        return F.softmax(w, dim=-1).amax(dim=-1)

    def _relative_steps(self, z: Tensor) -> tuple[Tensor, Tensor | None]:
        w = self._window(z)
        n, b = w.shape[:2]
        if self.kind in ("default", "last"):
            return torch.full((b,), n - 1, dtype=torch.long, device=z.device), None
        conf = self.confidence(z)
        if self.kind == "threshold":
            # spec recurrent.md §1: first step with max p >= threshold, else the peak
            crossed = conf >= self.threshold
            first = crossed.to(conf.dtype).argmax(dim=0)
            return torch.where(crossed.any(dim=0), first, conf.argmax(dim=0)), None
        # spec recurrent.md §1: argmax over steps of max softmax(beta * z)
        return conf.argmax(dim=0), conf

    def choose_steps(self, z: Tensor) -> Tensor:
        """Chosen step per image, ``LongTensor (B,)`` of absolute indices in ``start .. T-1``."""
        with torch.no_grad():
            rel, _ = self._relative_steps(z)
        return rel + self.start

    def forward(self, z: Tensor, return_steps: bool = False) -> Tensor | tuple[Tensor, Tensor]:
        """Decode ``z`` ``(T, B, K)`` to logits ``(B, K)`` (and the chosen steps ``(B,)``)."""
        rel, conf = self._relative_steps(z)
        w = z[self.start :]
        out = w.gather(0, rel.view(1, -1, 1).expand(1, *w.shape[1:])).squeeze(0)
        if conf is not None and self.training and self.trainable_beta:
            # straight-through: forward value = hard choice, gradient via soft step weights
            soft = F.softmax(conf / self.temperature, dim=0)
            weights = soft - soft.detach()
            out = out + (weights.unsqueeze(-1) * w).sum(dim=0)
        return (out, rel + self.start) if return_steps else out


def make_decoder(
    kind: str,
    start: int = 0,
    threshold: float = 0.9,
    beta: float = 1.0,
    trainable_beta: bool = False,
    temperature: float = 0.1,
) -> Decoder:
    """Build a :class:`Decoder` (see its parameters); ``kind`` is one of :data:`DECODERS`."""
    return Decoder(kind, start, threshold, beta, trainable_beta, temperature)
