"""Block-wise fine-tuning with everything else frozen (spec: recurrent.md §5).

The texture / noise recipe fine-tunes one recurrent block at a time: first ``stage1`` (~V1) on
texture and noise blends, then ``stage2`` (~V2) on texture blends, every other parameter frozen.
:func:`freeze_all_but` freezes a model down to named submodules, :func:`keep_frozen_bn_eval`
keeps the frozen BatchNorm layers' running statistics fixed after ``model.train()``,
:func:`staged_finetune_plan` lays out one stage per block and :func:`finetune_step` is one
optimisation step that respects both.

A frozen parameter gets ``requires_grad = False`` and its ``.grad`` cleared, so optimizers
(SGD, Adam, with or without weight decay or momentum) skip it and it stays bit-identical.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

__all__ = [
    "GRCNN_TEXTURE_NOISE_STAGES",
    "FinetuneStage",
    "finetune_step",
    "freeze_all_but",
    "keep_frozen_bn_eval",
    "staged_finetune_plan",
    "trainable_parameter_names",
]

# spec: recurrent.md §5: first recurrent block on texture + noise blends, then the second on
# texture blends only (module names of brainlike.models.grcnn.GRCNN)
GRCNN_TEXTURE_NOISE_STAGES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("stage1", ("texture", "noise")),
    ("stage2", ("texture",)),
)

# where freeze_all_but records the trainable module names, for keep_frozen_bn_eval
_TRAINABLE_ATTR = "_brainlike_trainable_modules"


def _under(name: str, prefixes: Sequence[str]) -> bool:
    """Whether a dotted module/parameter name lies inside one of the named modules."""
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def _check_names(model: nn.Module, trainable: str | Sequence[str]) -> tuple[str, ...]:
    names = (trainable,) if isinstance(trainable, str) else tuple(trainable)
    if not names:
        raise ValueError("name at least one submodule to keep trainable")
    modules = {n for n, _ in model.named_modules() if n}
    params = {n for n, _ in model.named_parameters()}
    unknown = [n for n in names if n not in modules and n not in params]
    if unknown:
        top = [n for n, _ in model.named_children()]
        raise ValueError(
            f"{type(model).__name__} has no submodule(s) {unknown}; names are dotted module "
            f"paths, and its top-level modules are {top}"
        )
    return names


def trainable_parameter_names(model: nn.Module, trainable: str | Sequence[str]) -> list[str]:
    """Names of the parameters inside the named submodules (prefix match), in model order.

    Parameters
    ----------
    model : the network.
    trainable : dotted module name(s) as in ``model.named_modules()``, e.g. ``"stage1"`` or
        ``["stage1", "transition1"]``.

    Returns
    -------
    list of parameter names, e.g. ``["stage1.A0.bn.weight", ...]``; the model is not changed.
    """
    names = _check_names(model, trainable)
    return [n for n, _ in model.named_parameters() if _under(n, names)]


def keep_frozen_bn_eval(model: nn.Module) -> list[str]:
    """Put frozen BatchNorm layers in eval mode so their running statistics stay fixed.

    Call after every ``model.train()``, which turns them back to training mode. A BatchNorm layer
    counts as frozen when it lies outside the modules of the last :func:`freeze_all_but` call on
    this model (or, without one, when none of its parameters requires grad).

    Returns
    -------
    names of the BatchNorm layers put in eval mode.
    """
    keep = getattr(model, _TRAINABLE_ATTR, None)
    frozen = []
    for name, m in model.named_modules():
        if not isinstance(m, _BatchNorm):
            continue
        if keep is not None:
            is_frozen = not _under(name, keep)
        else:
            is_frozen = not any(p.requires_grad for p in m.parameters())
        if is_frozen:
            m.eval()
            frozen.append(name)
    return frozen


def freeze_all_but(model: nn.Module, trainable: str | Sequence[str]) -> list[str]:
    """Freeze every parameter outside the named submodules; frozen BatchNorm goes to eval mode.

    Parameters
    ----------
    model : the network; changed in place.
    trainable : dotted module name(s) to keep trainable (prefix match on
        ``model.named_modules()`` names; ``"stage1"`` covers ``stage1.A0.conv`` etc.).

    Returns
    -------
    names of the parameters left trainable. Build the optimizer from those (or from all
    parameters: frozen ones have no gradient and are skipped).
    """
    names = _check_names(model, trainable)
    kept = []
    for n, p in model.named_parameters():
        p.requires_grad_(_under(n, names))
        if p.requires_grad:
            kept.append(n)
        else:
            p.grad = None  # a stale gradient would still be applied by optimizer.step()
    setattr(model, _TRAINABLE_ATTR, names)
    # an earlier stage may have put these BatchNorm layers in eval mode
    for name, m in model.named_modules():
        if isinstance(m, _BatchNorm) and _under(name, names):
            m.train(model.training)
    keep_frozen_bn_eval(model)
    return kept


@dataclass(frozen=True)
class FinetuneStage:
    """One stage of a staged fine-tuning: a block trained alone.

    Attributes
    ----------
    block : dotted module name of the block trained in this stage.
    trainable : names of its parameters (all others frozen).
    blends : what the inputs are blended with in this stage (e.g. ``("texture", "noise")``);
        empty when not given.
    """

    block: str
    trainable: tuple[str, ...]
    blends: tuple[str, ...] = ()

    def apply(self, model: nn.Module) -> list[str]:
        """Freeze ``model`` down to this stage's block; returns the trainable parameter names."""
        return freeze_all_but(model, self.block)


def staged_finetune_plan(
    model: nn.Module,
    blocks: Sequence[str],
    blends: Sequence[Sequence[str]] | None = None,
) -> list[FinetuneStage]:
    """One stage per block, each fine-tuning that block with all others frozen.

    spec: recurrent.md §5, texture / noise fine-tuning (see :data:`GRCNN_TEXTURE_NOISE_STAGES`
    for the source's plan on GRCNN).

    Parameters
    ----------
    model : the network (not changed; call ``stage.apply(model)`` when a stage starts).
    blocks : dotted module names, in training order, e.g. ``["stage1", "stage2"]``.
    blends : optional, per block, what its inputs are blended with.

    Returns
    -------
    list of :class:`FinetuneStage`, in the order of ``blocks``.
    """
    if isinstance(blocks, str):
        blocks = [blocks]
    if blends is not None and len(blends) != len(blocks):
        raise ValueError(f"got {len(blocks)} blocks but {len(blends)} blend lists")
    stages = []
    for i, block in enumerate(blocks):
        names = trainable_parameter_names(model, block)
        if not names:
            raise ValueError(f"block {block!r} has no parameters to fine-tune")
        extra = tuple(blends[i]) if blends is not None else ()
        stages.append(FinetuneStage(block, tuple(names), extra))
    return stages


def finetune_step(
    model: nn.Module,
    batch: tuple[Tensor, Tensor],
    loss_fn: Callable[[Any, Tensor], Tensor],
    optimizer: torch.optim.Optimizer,
) -> float:
    """One training step of a frozen-but-one-block model; returns the loss value.

    Puts the model in training mode with frozen BatchNorm layers in eval mode, then
    ``loss_fn(model(inputs), targets)``, backward, ``optimizer.step()``.
    """
    inputs, targets = batch
    model.train()
    keep_frozen_bn_eval(model)
    optimizer.zero_grad(set_to_none=True)
    loss = loss_fn(model(inputs), targets)
    loss.backward()
    optimizer.step()
    return float(loss.detach())
