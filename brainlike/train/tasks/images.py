"""Image tasks: classification (with the brain-likeness recipes) and number codes.

:class:`ImageClassification` trains on a labelled image data set (offline digits, torchvision
sets, image folders) with cross-entropy, optionally class-weighted and label-smoothed, and
applies the recipes of :mod:`brainlike.train.recipes` (CutMix, AugMix, the behavioural
regulariser, texture/noise fine-tuning stages). :class:`NumberCodes` trains the number-code
task of spec topography.md §1: BCE against each class's code, decoded to the nearest code.
Both add the objective's extra terms (:mod:`brainlike.train.tasks.terms`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from brainlike.models.sheet import forward_all
from brainlike.registry import TASKS
from brainlike.train.tasks.base import StepOutput, Task
from brainlike.train.tasks.terms import ObjectiveTerms

__all__ = ["ImageClassification", "NumberCodes", "preprocessing_of"]


def preprocessing_of(bundle: Any) -> dict[str, Any]:
    """What an image must go through to reach this run's model (for scoring it later)."""
    return {
        "dataset": bundle.name,
        "input_size": int(bundle.input_size),
        "in_channels": int(bundle.in_channels),
        "pixel_mean": list(bundle.pixel_mean) if bundle.pixel_mean is not None else None,
        "pixel_std": list(bundle.pixel_std) if bundle.pixel_std is not None else None,
        "pipeline": getattr(bundle, "pipeline", None),
    }


@TASKS.register("classification")
class ImageClassification(Task):
    """Classify the images of a data bundle (see the module docstring).

    Parameters
    ----------
    cfg : the experiment config.
    bundle : the loaded data (:func:`brainlike.data.images.load_experiment_dataset`).
    """

    metric_names = ("acc",)
    headline = "acc"

    def __init__(self, cfg: Any, bundle: Any) -> None:
        super().__init__(cfg)
        self.bundle = bundle
        self.num_classes = bundle.num_classes
        for set_name, members in (cfg.analysis.target_sets or {}).items():
            bad = [m for m in members if not 0 <= m < self.num_classes]
            if bad:
                raise ValueError(
                    f"analysis.target_sets.{set_name} names classes {bad}, but {cfg.data.dataset} "
                    f"has classes 0..{self.num_classes - 1}; fix the indices"
                )
        self.recipe: Any = None
        self.terms: ObjectiveTerms | None = None
        self.class_weights: Tensor | None = None
        self.test_loader: torch.utils.data.DataLoader | None = None
        self._stage: Any = None
        self._recipe_gen: torch.Generator | None = None

    # -- the model ------------------------------------------------------------------------------
    @property
    def model_io(self) -> tuple[int, int, int]:
        return self.bundle.in_channels, self.num_classes, self.bundle.input_size

    @property
    def total_epochs(self) -> int:
        return self.recipe.total_epochs

    @property
    def steps_per_epoch(self) -> int:
        return math.ceil(len(self.bundle.train) / self.cfg.train.batch_size)

    @property
    def class_names(self) -> list[str]:
        return list(self.bundle.class_names)

    def check_model(self, model: torch.nn.Module) -> None:
        from brainlike.train.recipes import TrainingRecipe

        super().check_model(model)
        self.recipe = TrainingRecipe(self.cfg, self.bundle, self.num_classes)
        self.recipe.check_blocks(model)

    def _class_weights(self, device: torch.device) -> Tensor | None:
        if not self.cfg.objective.class_weighted:
            return None
        from brainlike.data.images import class_weights, dataset_labels

        return class_weights(dataset_labels(self.bundle.train), self.num_classes).to(device)

    def bind(self, model: torch.nn.Module, device: torch.device) -> None:
        self.device = device
        self.class_weights = self._class_weights(device)
        self.test_loader = torch.utils.data.DataLoader(
            self.bundle.test,
            batch_size=max(self.cfg.train.batch_size, 256),
            shuffle=False,
            num_workers=self.cfg.train.num_workers,
        )
        # this process's held-out batches: batch i goes to process i mod N
        batches = torch.utils.data.BatchSampler(
            torch.utils.data.SequentialSampler(self.bundle.test),
            self.test_loader.batch_size,
            drop_last=False,
        )
        self.test_share_loader = torch.utils.data.DataLoader(
            self.bundle.test,
            batch_sampler=[
                b for i, b in enumerate(batches) if i % self.num_processes == self.process_index
            ],
            num_workers=self.cfg.train.num_workers,
        )
        self.terms = ObjectiveTerms(self.cfg, model)

    # -- an epoch -------------------------------------------------------------------------------
    def start_epoch(self, model: torch.nn.Module, epoch: int) -> str:
        self._stage = self.recipe.enter_epoch(model, epoch)
        # every random draw of the recipe comes from a generator seeded by (seed, epoch)
        # (each process of a multi-process run has its own stream: processes.py)
        self._recipe_gen = torch.Generator().manual_seed(
            self.stream_seed(self.cfg.seed * 6_607 + epoch)
        )
        self.terms.start_epoch(epoch)
        return f" (fine-tune {self._stage.block})" if self._stage is not None else ""

    def train_loader(self, epoch: int) -> torch.utils.data.DataLoader:
        # Shuffling depends only on (seed, epoch), so a resumed run sees the same batches.
        g = torch.Generator().manual_seed(self.cfg.seed * 100_003 + epoch)
        return torch.utils.data.DataLoader(
            self.recipe.train_dataset(self.bundle.train),
            batch_size=self.cfg.train.batch_size,
            shuffle=True,
            generator=g,
            num_workers=self.cfg.train.num_workers,
            drop_last=False,
        )

    def _supervised(self, out: Any, ctx: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """(task loss, loss with the recipe's terms, predictions, labels) of a batch."""
        from brainlike.objectives.supervised import classification_loss

        if self.recipe.active:
            loss, total, clean = self.recipe.loss(out.logits, ctx, self.class_weights)
            return loss, total, clean.argmax(1), ctx.labels
        loss = classification_loss(
            out.logits, ctx.labels, self.class_weights, self.cfg.objective.label_smoothing
        )
        return loss, loss, out.logits.argmax(1), ctx.labels

    def step(self, model: torch.nn.Module, batch: Any, epoch: int) -> StepOutput:
        x, ctx = self.recipe.prepare(batch, epoch, self._recipe_gen)
        out = forward_all(model, x, has_sheet=self.terms.has_sheet)
        loss, total, pred, labels = self._supervised(out, ctx)
        total = self.terms.add(total, out, x)
        return StepOutput(loss, total, ctx.n, {"acc": int((pred == labels).sum())})

    def after_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        if self._stage is not None:  # fine-tuning stages run at their own constant lr
            for group in optimizer.param_groups:
                group["lr"] = self._stage.lr or self.cfg.train.lr

    def epoch_notes(self, epoch: int) -> dict[str, Any]:
        return {"finetune_block": self._stage.block} if self._stage is not None else {}

    def probe_batch(self) -> tuple[Tensor, Tensor]:
        """The first ``train.batch_size`` training images, as they are stored (no recipe)."""
        n = min(self.cfg.train.batch_size, len(self.bundle.train))
        items = [self.bundle.train[i] for i in range(n)]
        x = torch.stack([torch.as_tensor(item[0]) for item in items])
        y = torch.stack([torch.as_tensor(item[-1]) for item in items])
        return x, y

    def observation_batch(self, n: int, seed: int) -> Tensor:
        """``n`` test images (all of them when there are fewer), drawn by ``seed``, in order."""
        import numpy as np

        total = len(self.bundle.test)
        pick = np.sort(np.random.default_rng(seed).permutation(total)[: min(n, total)])
        return torch.stack([torch.as_tensor(self.bundle.test[int(i)][0]) for i in pick])

    def probe_loss(self, model: torch.nn.Module, batch: Any) -> Tensor:
        """The plain task loss (no recipe terms) of ``batch``."""
        x, y = batch
        out = forward_all(model, x.to(self.device), has_sheet=self.terms.has_sheet)
        return self._score_batch(out.logits, y.to(self.device))[0]

    # -- held-out data --------------------------------------------------------------------------
    def _score_batch(self, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """(loss, predictions, labels) of a held-out batch."""
        from brainlike.objectives.supervised import classification_loss

        return classification_loss(logits, y), logits.argmax(dim=1), y

    def evaluate(
        self, model: torch.nn.Module, observe: Callable[[Any, Tensor], None] | None = None
    ) -> dict[str, Any]:
        """Test loss and accuracy; ``observe(output, labels)`` sees every test batch."""
        sums = self._sums(model, self.test_loader, observe)
        return {k: sums[k] / max(sums["n"], 1) for k in ("loss", "acc")}

    def held_out_sums(self, model: torch.nn.Module) -> dict[str, float]:
        return self._sums(model, self.test_share_loader)

    @torch.no_grad()
    def _sums(
        self,
        model: torch.nn.Module,
        loader: torch.utils.data.DataLoader,
        observe: Callable[[Any, Tensor], None] | None = None,
    ) -> dict[str, float]:
        """Samples ``n``, summed loss and number correct over ``loader``'s batches."""
        was = model.training
        model.eval()
        sums = {"n": 0.0, "loss": 0.0, "acc": 0.0}
        for x, y in loader:
            x, y = x.to(self.device), y.to(self.device)
            out = forward_all(model, x)
            loss, pred, labels = self._score_batch(out.logits, y)
            n = x.shape[0]
            sums["n"] += n
            sums["loss"] += float(loss) * n
            sums["acc"] += int((pred == labels).sum())
            if observe is not None:
                observe(out, labels)
        model.train(was)
        return sums

    def standard_callbacks(self, analyse: bool = True) -> list[Any]:
        from brainlike.train.callbacks.snapshots import GridSnapshots

        return [GridSnapshots(analyse=analyse), *super().standard_callbacks(analyse)]

    def preprocessing(self) -> dict[str, Any]:
        return preprocessing_of(self.bundle)


def _labels_from_codes(codes: Tensor, codebook: Tensor) -> Tensor:
    return torch.cdist(codes.float(), codebook.to(codes.device).float()).argmin(dim=1)


@TASKS.register("codes")
class NumberCodes(ImageClassification):
    """The number-code task (spec topography.md §1): each class is a binary code vector.

    The model outputs one logit per code bit, trained with BCE; a prediction is the class of
    the nearest code (cosine similarity of the sigmoid outputs). The recipes' losses do not
    apply, and neither do class weights.
    """

    def __init__(self, cfg: Any, bundle: Any) -> None:
        super().__init__(cfg, bundle)
        self.codebook = torch.as_tensor(bundle.codes, dtype=torch.float32)

    @property
    def model_io(self) -> tuple[int, int, int]:
        return self.bundle.in_channels, self.codebook.shape[1], self.bundle.input_size

    def _class_weights(self, device: torch.device) -> Tensor | None:
        return None

    def _supervised(self, out: Any, ctx: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        loss, pred, labels = self._score_batch(out.logits, ctx.labels)
        return loss, loss, pred, labels

    def _score_batch(self, logits: Tensor, y: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        from brainlike.objectives.supervised import code_loss, decode_codes

        labels = _labels_from_codes(y, self.codebook)
        return code_loss(logits, y.float()), decode_codes(logits, self.codebook), labels
