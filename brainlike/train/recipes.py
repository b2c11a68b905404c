"""The brain-likeness training recipes of an experiment, applied batch by batch.

spec: recurrent.md §5. One :class:`TrainingRecipe` per run turns the ``objective`` and
``finetune`` sections of a config into what the training loop does with each batch:

- ``objective.cutmix``: paste a box of a shuffled partner, labels mixed by the pasted area;
- ``objective.augmix``: the data set yields (clean, aug1, aug2); the three views go through
  the model in one batch and the Jensen-Shannon consistency term joins the loss;
- ``objective.behavior``: the superclass regulariser is added to the loss;
- ``finetune.stages``: after ``train.epochs``, each stage trains one block alone (everything
  else frozen, frozen BatchNorm statistics fixed) on images blended with procedural textures
  and/or their phase-randomised noise.

Every random draw comes from generators seeded by (seed, epoch), so a resumed run repeats the
batches it would have seen.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.nn import functional as F
from torch.utils.data import Dataset

from brainlike.config import ExperimentConfig, FinetuneStageConfig

__all__ = ["BatchContext", "TrainingRecipe", "behavior_regularizer"]


class _UnitPixels(Dataset):
    """Undo a bundle's normalisation so AugMix sees [0, 1] pixels."""

    def __init__(self, dataset: Dataset, mean: Tensor | None, std: Tensor | None) -> None:
        self.dataset, self.mean, self.std = dataset, mean, std

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, Any]:
        x, y = self.dataset[index]
        if self.mean is not None:
            x = x * self.std + self.mean
        return x.clamp(0.0, 1.0), y


def _load_npy(path: str, what: str) -> np.ndarray:
    p = Path(path).expanduser()
    if p.suffix != ".npy" or not p.is_file():
        raise ValueError(f"objective.behavior.{what}: {p} is not an existing .npy file")
    return np.load(p, allow_pickle=False)


def behavior_regularizer(cfg: ExperimentConfig, n_classes: int) -> nn.Module | None:
    """The superclass regulariser an experiment asks for, or None (spec: recurrent.md §5)."""
    from brainlike.objectives.behavioral import SuperclassRegularizer, cifar100_grouping

    b = cfg.objective.behavior
    if b.weight <= 0:
        return None
    if b.grouping == "cifar100":
        grouping: Any = cifar100_grouping()
    elif isinstance(b.grouping, dict):
        grouping = np.zeros((n_classes, len(b.grouping)), dtype=np.float32)
        for j, (name, members) in enumerate(b.grouping.items()):
            bad = [m for m in members if not 0 <= m < n_classes]
            if bad:
                raise ValueError(
                    f"objective.behavior.grouping.{name} names classes {bad}, but the data has "
                    f"classes 0..{n_classes - 1}"
                )
            grouping[members, j] = 1.0
    else:
        grouping = _load_npy(str(b.grouping), "grouping")
    if grouping.shape[0] != n_classes:
        raise ValueError(
            f"objective.behavior.grouping covers {grouping.shape[0]} classes but the data has "
            f"{n_classes}; give one row per class"
        )
    kwargs = {"weight": b.weight, "divergence": b.divergence}
    if b.confusion is not None:
        return SuperclassRegularizer.from_superclass_confusion(
            grouping, _load_npy(b.confusion, "confusion"), **kwargs
        )
    targets = _load_npy(b.targets, "targets") if b.targets is not None else None
    return SuperclassRegularizer(grouping, targets, **kwargs)


@dataclass
class BatchContext:
    """What :meth:`TrainingRecipe.loss` needs to know about how a batch was prepared."""

    n: int  # images per view
    labels: Tensor
    mixed_labels: Tensor | None = None  # CutMix partner labels
    lam: float = 1.0
    views: int = 1  # 3 with AugMix


class TrainingRecipe:
    """The per-batch recipe of ``cfg`` for a model and data bundle (see the module docstring)."""

    def __init__(self, cfg: ExperimentConfig, bundle: Any, n_classes: int) -> None:
        self.cfg = cfg
        obj = cfg.objective
        self.cutmix = obj.cutmix if obj.cutmix.prob > 0 else None
        self.augmix = obj.augmix if obj.augmix.enabled else None
        self.regularizer = behavior_regularizer(cfg, n_classes)
        self.stages: list[FinetuneStageConfig] = list(cfg.finetune.stages) if cfg.finetune else []
        self._mean = self._std = None
        if bundle.pixel_mean is not None:
            self._mean = torch.tensor(bundle.pixel_mean).view(-1, 1, 1)
            self._std = torch.tensor(bundle.pixel_std).view(-1, 1, 1)
        self._in_channels, self._size = bundle.in_channels, bundle.input_size
        self._pool: dict[str, Tensor] = {}

    # -- epochs ---------------------------------------------------------------------------------
    @property
    def total_epochs(self) -> int:
        """``train.epochs`` plus the epochs of every fine-tuning stage."""
        return self.cfg.train.epochs + sum(s.epochs for s in self.stages)

    def stage(self, epoch: int) -> FinetuneStageConfig | None:
        """The fine-tuning stage that epoch ``epoch`` (0-based) belongs to, if any."""
        e = epoch - self.cfg.train.epochs
        for s in self.stages:
            if e < 0:
                return None
            if e < s.epochs:
                return s
            e -= s.epochs
        return None

    def block_name(self, model: nn.Module, block: str) -> str:
        """``block`` as named in ``model``; behind a VOne front end ``backend.`` is implied."""
        names = {n for n, _ in model.named_modules() if n}
        if block in names:
            return block
        if f"backend.{block}" in names:
            return f"backend.{block}"
        top = ", ".join(n for n, _ in model.named_children())
        raise ValueError(
            f"finetune stage block {block!r} is not a module of this model; its top-level "
            f"modules are: {top} (use dotted names, e.g. stage1 or layer2.0)"
        )

    def check_blocks(self, model: nn.Module) -> None:
        """Fail before training when a stage names a module the model does not have."""
        for s in self.stages:
            self.block_name(model, s.block)

    def enter_epoch(self, model: nn.Module, epoch: int) -> FinetuneStageConfig | None:
        """Freeze ``model`` for this epoch's stage (or unfreeze it all); call after model.train()."""
        from brainlike.train.finetune import freeze_all_but, keep_frozen_bn_eval

        stage = self.stage(epoch)
        if stage is None:
            if self.stages:  # a stage of an earlier epoch may have frozen parameters
                for p in model.parameters():
                    p.requires_grad_(True)
                if hasattr(model, "_brainlike_trainable_modules"):
                    delattr(model, "_brainlike_trainable_modules")
            return None
        freeze_all_but(model, self.block_name(model, stage.block))
        keep_frozen_bn_eval(model)
        return stage

    # -- data -----------------------------------------------------------------------------------
    def train_dataset(self, dataset: Dataset) -> Dataset:
        """AugMix wraps the training set to yield (clean, aug1, aug2, y); otherwise unchanged."""
        if self.augmix is None:
            return dataset
        from brainlike.objectives.mixing import AugMixDataset

        mean, std = self._mean, self._std
        a = self.augmix
        return AugMixDataset(
            _UnitPixels(dataset, mean, std),
            severity=a.severity,
            width=a.width,
            depth=a.depth,
            alpha=a.alpha,
            preprocess=None if mean is None else (lambda v: (v - mean) / std),
        )

    def _blend_pool(self, kind: str, device: torch.device) -> Tensor:
        """Normalised procedural textures ("texture") or their phase-randomised noise ("noise")."""
        if kind not in self._pool:
            from brainlike.data.textures import phase_randomize, procedural_textures

            assert self.cfg.finetune is not None
            tex = procedural_textures(
                self.cfg.finetune.pool, self._size, self._in_channels, seed=self.cfg.seed
            )
            if kind == "noise":
                # spec: recurrent.md §5, noise = phase-randomised textures, clipped to pixels
                g = torch.Generator().manual_seed(self.cfg.seed + 1)
                tex = phase_randomize(tex, generator=g).clamp(0.0, 1.0)
            if self._mean is not None:
                tex = (tex - self._mean) / self._std
            self._pool[kind] = tex
        return self._pool[kind].to(device)

    def prepare(
        self, batch: tuple, epoch: int, generator: torch.Generator
    ) -> tuple[Tensor, BatchContext]:
        """The model input for a batch and what the loss needs to know about it."""
        if self.augmix is not None and self.stage(epoch) is None:
            x0, x1, x2, y = batch
            return torch.cat([x0, x1, x2]), BatchContext(n=x0.shape[0], labels=y, views=3)
        if len(batch) == 4:  # AugMix data during a fine-tuning stage: the clean view only
            batch = (batch[0], batch[3])
        x, y = batch
        stage = self.stage(epoch)
        if stage is not None and stage.blends:
            x = self._blend(x, stage.blends, generator)
            return x, BatchContext(n=x.shape[0], labels=y)
        if self.cutmix is not None and stage is None:
            from brainlike.objectives.mixing import cutmix

            x, ya, yb, lam = cutmix(
                x, y, self.cutmix.alpha, generator=generator, prob=self.cutmix.prob
            )
            return x, BatchContext(n=x.shape[0], labels=ya, mixed_labels=yb, lam=lam)
        return x, BatchContext(n=x.shape[0], labels=y)

    def _blend(self, x: Tensor, kinds: list[str], generator: torch.Generator) -> Tensor:
        from brainlike.data.textures import blend, blend_weights

        n = x.shape[0]
        # spec: recurrent.md §5, x' = (1 - a) x + a T; with both kinds each image draws one
        choice = torch.randint(len(kinds), (n,), generator=generator)
        other = torch.empty_like(x)
        weights = torch.empty(n)
        for k, kind in enumerate(kinds):
            rows = torch.nonzero(choice == k).flatten()
            if not len(rows):
                continue
            pool = self._blend_pool(kind, x.device)
            pick = torch.randint(pool.shape[0], (len(rows),), generator=generator)
            other[rows.to(x.device)] = pool[pick.to(pool.device)]
            weights[rows] = blend_weights(len(rows), kind, generator=generator)
        return blend(x, other, weights.to(x.device))

    # -- loss -----------------------------------------------------------------------------------
    def loss(
        self, logits: Tensor, ctx: BatchContext, class_weights: Tensor | None = None
    ) -> tuple[Tensor, Tensor, Tensor]:
        """(loss, total loss with the recipe's extra terms, clean-view logits)."""
        from brainlike.objectives.mixing import jensen_shannon_consistency

        y = ctx.labels
        ls = self.cfg.objective.label_smoothing
        if ctx.views == 3:
            clean, a1, a2 = logits.split(ctx.n)
            loss = F.cross_entropy(clean, y, weight=class_weights, label_smoothing=ls)
            assert self.augmix is not None
            total = loss + self.augmix.jsd_weight * jensen_shannon_consistency(clean, a1, a2)
        elif ctx.mixed_labels is not None and ctx.lam < 1.0:
            clean = logits
            # spec: recurrent.md §5, CutMix label = lam y_a + (1 - lam) y_b
            loss = ctx.lam * F.cross_entropy(
                logits, y, weight=class_weights, label_smoothing=ls
            ) + (1.0 - ctx.lam) * F.cross_entropy(
                logits, ctx.mixed_labels, weight=class_weights, label_smoothing=ls
            )
            total = loss
        else:
            clean = logits
            loss = F.cross_entropy(logits, y, weight=class_weights, label_smoothing=ls)
            total = loss
        if self.regularizer is not None:
            self.regularizer.to(logits.device)
            total = total + self.regularizer(clean, y)
        return loss, total, clean

    @property
    def active(self) -> bool:
        """Whether the recipe changes anything at all (else the loop's plain path runs)."""
        return bool(
            self.cutmix is not None
            or self.augmix is not None
            or self.regularizer is not None
            or self.stages
        )
