"""A learning rule inside the training loop: backward weights, their optimizer and diagnostics.

spec: learning-rules.md §1. :class:`RuleTraining` converts the model (``convert``), keeps the
backward weights out of the forward optimizer, and at each step:

1. records each converted layer's input and output (forward hooks, in training mode; layers
   that a hook cannot observe, the stacked subnetworks of Reset networks run by ``loop`` /
   ``fused`` and convolutions that pad their input themselves, record their (input, output)
   pair into the same list, see :class:`~brainlike.rules.layers.AlignmentRecorder`; a layer
   called at every time step, as in ConvRNNs, adds one pair per call);
2. after the backward pass, gives B~ the gradient of the rule's alignment loss on the pair
   that the stabilising operations of spec §4 make of the recorded one
   (:func:`brainlike.rules.stabilise.alignment_pair`: input noise, as weight mirror always
   uses, and the input and bias flags), in closed form
   (:func:`brainlike.rules.primitives.gradients`) or, with flags inside the loss, through
   autograd; or, for Kolen-Pollack, the forward weight's task gradient;
3. steps the backward optimizer: ``rule.align_optimizer`` (Adam by default, or plain gradient
   descent) at ``rule.lr``, constant or on the forward schedule (``align_schedule: train``),
   for loss-trained rules; for Kolen-Pollack the forward optimizer's kind, learning rate,
   momentum, weight decay and schedule, so W - B~ shrinks by the same factor as the weight
   decay; then adds ``noisy_updates`` (lr_t * xi, xi drawn from a generator seeded by
   (seed, step)) to the weights whose optimizer stepped;
4. after the step, sets B~ for the rules that set it directly (sham, sign symmetry; brSF draws
   from a generator seeded by (seed, step), so a resumed run draws the same magnitudes).

Schedules (spec §4). The loop asks :meth:`RuleTraining.task_step_on` whether the task loss
trains this step (not in the first ``delay_epochs`` epochs; with ``alternate: k`` not on the
steps s with s mod (k+1) = 0) and :meth:`~RuleTraining.alignment_on` whether the alignment
does (always during the delay; with alternation only on those steps). On a step without the
task the forward optimizer does not step. The learning-rate schedules advance every step,
on the clock :meth:`~RuleTraining.schedule_clock`: ``(s - d * steps_per_epoch) / (k + 1)``
steps, never below 0. So during the delay the forward learning rate stays at its start,
a step schedule's milestones fall at epoch d + m (k + 1) (shifted by the delay and
multiplied by k + 1, as the source ran), and a cosine spans the rest of the run.

Per epoch it reports, per converted layer, the angle between W and B~ (degrees) and the norm
ratio ||B~|| / ||W||. Its optimizer and schedule are checkpointed (key ``"rule"``); every
random draw depends on (seed, step) or on the checkpointed torch generator, so a resumed run
is bit-identical with every schedule on.

Direct feedback alignment (:mod:`brainlike.rules.direct`) has no B~ of W's shape: nothing to
train or set, no backward optimizer, and no angle or norm ratio to W (its matrices D_l map the
output to a layer's input); the angle between its updates and backprop's is recorded as for
every rule (with DFA switched off for the backprop pass). Its matrices are buffers of the model,
so the model's checkpoint holds them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from brainlike.rules.convert import asymmetric_layers, convert
from brainlike.rules.definitions import LearningRule
from brainlike.rules.direct import exact_backprop
from brainlike.rules.primitives import gradients
from brainlike.rules.stabilise import LOSS_FLAGS, PAIR_FLAGS, alignment_pair, draw_noise

__all__ = ["RuleTraining", "alignment_angle"]


def alignment_angle(w: Tensor, wb: Tensor) -> float:
    """Angle in degrees between the forward and backward weights, as flat vectors."""
    a, b = w.detach().flatten().double(), wb.detach().flatten().double()
    cos = float(a @ b / (a.norm() * b.norm()).clamp_min(1e-30))
    return math.degrees(math.acos(max(-1.0, min(1.0, cos))))


class RuleTraining:
    """The rule ``cfg.rule`` applied to ``model`` (see the module docstring).

    Parameters
    ----------
    cfg : the experiment config (its ``rule`` and ``train`` sections, its seed).
    model : the model, before its optimizer is built; converted in place.
    rule : ``cfg.rule`` already built (default: built here).
    """

    def __init__(self, cfg: Any, model: nn.Module, rule: LearningRule | None = None) -> None:
        self.cfg = cfg
        self.rule: LearningRule = rule if rule is not None else cfg.rule.build()
        self.names = convert(model, self.rule, seed=cfg.seed)
        if self.rule.direct:
            self.layers = [model.get_submodule(n) for n in self.names]
        else:
            self.layers = [m for _, m in asymmetric_layers(model)]
        self._captured: list[tuple[nn.Module, Tensor, Tensor]] = []
        self._hooks = []
        if self.rule.loss:
            for layer in self.layers:
                if hasattr(layer, "alignment_sink"):  # records (x, r) itself
                    layer.alignment_sink = self._captured
                else:
                    self._hooks.append(layer.register_forward_hook(self._capture))
        self.optimizer: torch.optim.Optimizer | None = None
        self.scheduler: Any = None
        self._step = 0
        section = cfg.rule
        flags = section.flags(self.rule)
        self.pair_flags = tuple(f for f in flags if f in PAIR_FLAGS)
        self.loss_flags = tuple(f for f in flags if f in LOSS_FLAGS)
        self.input_noise = section.noise(self.rule)
        self.delay_epochs, self.alternate = section.delay_epochs, section.alternate
        self.noisy_updates = section.noisy_updates

    @staticmethod
    def forward_parameters(model: nn.Module) -> list[nn.Parameter]:
        """Every parameter but the backward weights (what the forward optimizer trains)."""
        return [p for n, p in model.named_parameters() if not n.endswith("weight_backward")]

    def build_optimizer(self, make_optimizer: Any, make_schedule: Any = None) -> None:
        """Create the backward optimizer; ``make_optimizer(params)`` builds the forward kind
        (optimizer, scheduler), used for Kolen-Pollack; ``make_schedule(optimizer)`` the
        forward schedule for another optimizer (``align_schedule: train``)."""
        if not (self.rule.follows_weight_gradient or self.rule.loss):
            return  # B~ fixed or set directly (or, for DFA, absent): nothing to optimise
        params = [layer.weight_backward for layer in self.layers]
        section = self.cfg.rule
        if self.rule.follows_weight_gradient:
            self.optimizer, self.scheduler = make_optimizer(params)
        elif self.rule.loss:
            kind = torch.optim.SGD if section.align_optimizer == "sgd" else torch.optim.Adam
            self.optimizer = kind(params, lr=section.lr)
            if section.align_schedule == "train":
                self.scheduler = make_schedule(self.optimizer)

    # -- the schedules (spec learning-rules.md §4) ----------------------------------------------
    def task_step_on(self, step: int, epoch: int) -> bool:
        """Whether the task loss trains on loop step ``step`` (0-based) of epoch ``epoch``."""
        if epoch < self.delay_epochs:
            return False
        return not (self.alternate and step % (self.alternate + 1) == 0)

    def alignment_on(self, step: int, epoch: int) -> bool:
        """Whether the alignment loss trains on loop step ``step`` of epoch ``epoch``."""
        if epoch < self.delay_epochs or not self.alternate:
            return True
        return step % (self.alternate + 1) == 0

    def schedule_clock(self, steps_per_epoch: int) -> Callable[[int], float] | None:
        """Loop step -> position on the learning-rate schedules (None: the step itself)."""
        if not (self.delay_epochs or self.alternate):
            return None
        delay, stretch = self.delay_epochs * steps_per_epoch, self.alternate + 1
        return lambda step: max(0, step - delay) / stretch

    # -- a training step ------------------------------------------------------------------------
    def _capture(self, layer: nn.Module, inputs: tuple, output: Tensor) -> None:
        if layer.training and torch.is_grad_enabled():
            self._captured.append((layer, inputs[0].detach(), output.detach()))

    def after_backward(self, alignment: bool = True) -> None:
        """Give every B~ its gradient: the alignment loss's of this step's forward pass (unless
        ``alignment`` is off this step), or (Kolen-Pollack) the forward weight's."""
        for layer, x, r in self._captured if alignment else ():
            # the pair the alignment reads (weight mirror: noise in, W x out)
            x, r = alignment_pair(layer, x, r, self.pair_flags, self.input_noise)
            grad = gradients(layer, x, r, self.rule.loss, self.loss_flags)
            wb = layer.weight_backward
            wb.grad = grad if wb.grad is None else wb.grad + grad
        self._captured.clear()
        for layer in self.layers:
            self.rule.after_backward(layer)

    def step(self, forward_optimizer: torch.optim.Optimizer | None = None) -> None:
        """Step the backward optimizer (and its schedule), add the update noise, then set B~
        for the next step.

        ``forward_optimizer``: the forward optimizer when it stepped this step (its parameters
        get update noise with ``noisy_updates.target: all``).
        """
        noisy: list[tuple[Tensor, float]] = []  # (parameter, lr of the step it just took)
        nu = self.noisy_updates
        if nu is not None and nu.target == "all" and forward_optimizer is not None:
            noisy += [(p, g["lr"]) for g in forward_optimizer.param_groups for p in g["params"]]
        if self.optimizer is not None:
            params = [p for g in self.optimizer.param_groups for p in g["params"]]
            if nu is not None and any(p.grad is not None for p in params):  # it updates
                noisy += [(p, g["lr"]) for g in self.optimizer.param_groups for p in g["params"]]
            self.optimizer.step()
            self.optimizer.zero_grad(set_to_none=True)
        if noisy:
            self._add_update_noise(noisy)
        if self.scheduler is not None:
            self.scheduler.step()
        self._step += 1
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000_003 + self._step)
        for layer in self.layers:
            self.rule.set_backward(layer, g)

    def _add_update_noise(self, params: list[tuple[Tensor, float]]) -> None:
        """var <- var + lr_t * xi (spec §4), xi from a generator seeded by (seed, step)."""
        nu = self.noisy_updates
        state = np.random.SeedSequence([self.cfg.seed, self._step, 1]).generate_state(2)
        g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        with torch.no_grad():
            for p, lr in params:
                p.add_(draw_noise(p, nu.distribution, nu.std, g), alpha=lr)

    # -- what a run records ---------------------------------------------------------------------
    def update_angles(self, model: nn.Module, task: Any) -> dict[str, float]:
        """Per converted layer, the angle (degrees) between the rule's task gradient of W and
        backprop's (B~ set to W, or DFA switched off), on the task's probe batch.

        Leaves no trace: the random state, every buffer (BatchNorm statistics), the backward
        weights and the gradients are as they were.
        """
        if not self.layers:
            return {}
        rng = torch.get_rng_state()
        buffers = {n: b.detach().clone() for n, b in model.named_buffers()}
        weights = [layer.weight for layer in self.layers]
        batch = task.probe_batch()
        try:
            rule_grads = torch.autograd.grad(task.probe_loss(model, batch), weights)
            torch.set_rng_state(rng)
            with self._as_backprop(model):
                true_grads = torch.autograd.grad(task.probe_loss(model, batch), weights)
        finally:
            self._captured.clear()
            with torch.no_grad():
                for n, b in model.named_buffers():
                    if n in buffers:  # (a DFA matrix drawn by the probe itself stays)
                        b.copy_(buffers[n])
            torch.set_rng_state(rng)
        return {
            name: alignment_angle(a, b)
            for name, a, b in zip(self.names, rule_grads, true_grads, strict=True)
        }

    @contextmanager
    def _as_backprop(self, model: nn.Module) -> Iterator[None]:
        """Within the block the model computes backprop's gradients: B~ = W (restored after),
        or DFA switched off."""
        if self.rule.direct:
            with exact_backprop(model):
                yield
            return
        saved = [layer.weight_backward.detach().clone() for layer in self.layers]
        try:
            with torch.no_grad():
                for layer in self.layers:
                    layer.weight_backward.copy_(layer.weight)
            yield
        finally:
            with torch.no_grad():
                for layer, wb in zip(self.layers, saved, strict=True):
                    layer.weight_backward.copy_(wb)

    def diagnostics(self, model: nn.Module | None = None, task: Any = None) -> dict[str, Any]:
        """Per converted layer: angle(W, B~) in degrees and ||B~|| / ||W|| (not for DFA, which
        has no B~); with ``task`` and ``rule.gradient_angle``, also the angle between the rule's
        update and backprop's."""
        out: dict[str, Any] = {}
        if not self.layers:  # backprop with noisy updates
            return out
        if not self.rule.direct:
            angle, ratio = {}, {}
            for name, layer in zip(self.names, self.layers, strict=True):
                angle[name] = alignment_angle(layer.weight, layer.weight_backward)
                wb, w = layer.weight_backward.detach(), layer.weight.detach()
                ratio[name] = float(wb.norm() / w.norm().clamp_min(1e-30))
            out.update(rule_angle_deg=angle, rule_norm_ratio=ratio)
        if task is not None and self.cfg.rule.gradient_angle:
            out["rule_update_angle_deg"] = self.update_angles(model, task)
        return out

    def state_dict(self) -> dict[str, Any]:
        return {
            "kind": self.rule.name,
            "step": self._step,
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("kind") != self.rule.name:
            raise ValueError(
                f"the checkpoint was trained with rule {state.get('kind')}, this config asks "
                f"for {self.rule.name}; resume with the same rule"
            )
        self._step = int(state["step"])
        if self.optimizer is not None and state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if self.scheduler is not None and state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
