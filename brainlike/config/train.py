"""How an experiment trains (``train:``), and how it starts or continues from a trained model.

The optimiser and schedule; ``init``: grow a trained Reset network; ``finetune``: staged
fine-tuning of single blocks on blended images (spec: recurrent.md §5).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from brainlike.config.model import LevelConfig
from brainlike.config.reader import StrictSection


class TrainConfig(StrictSection):
    """The learning rule and schedule (backprop with Adam or SGD)."""

    @model_validator(mode="after")
    def _milestones(self) -> TrainConfig:
        if self.schedule == "step" and not self.milestones:
            raise ValueError(
                "train.schedule step needs train.milestones (epochs), e.g. [30, 60, 90]"
            )
        if self.milestones and self.schedule != "step":
            raise ValueError("train.milestones apply to schedule: step; set schedule: step")
        if sorted(self.milestones) != self.milestones or any(m < 1 for m in self.milestones):
            raise ValueError(
                f"train.milestones must be increasing epochs >= 1, got {self.milestones}"
            )
        if self.nesterov and (self.optimizer != "sgd" or self.momentum == 0):
            raise ValueError(
                "train.nesterov needs optimizer: sgd with momentum > 0; set nesterov: false"
            )
        if self.epochs and self.warmup_epochs >= self.epochs:
            raise ValueError(
                f"train.warmup_epochs {self.warmup_epochs} leaves no epoch after the warm-up "
                f"(train.epochs {self.epochs}); use fewer warm-up epochs"
            )
        return self

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    nesterov: bool = Field(default=False, description="Nesterov momentum (optimizer sgd)")
    warmup_epochs: float = Field(
        default=0.0,
        ge=0.0,
        description="the learning rate rises linearly from lr / steps to lr over these epochs, "
        "then follows the schedule (Goyal et al. 2017)",
    )
    weight_decay: float = Field(default=0.0, ge=0.0)
    schedule: Literal["constant", "cosine", "step"] = Field(
        default="constant",
        description="learning-rate schedule: cosine decays to 0 over all steps; step multiplies "
        "by gamma at each milestone epoch",
    )
    milestones: list[int] = Field(
        default_factory=list, description="epochs where a step schedule multiplies lr by gamma"
    )
    gamma: float = Field(default=0.1, gt=0.0, le=1.0)
    batch_size: int = Field(
        default=100,
        ge=1,
        description="the global batch: samples per optimizer step over all processes together",
    )
    epochs: int = Field(default=10, ge=0)
    snapshots_per_epoch: int = Field(default=2, ge=0, le=1000)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    num_workers: int = Field(default=0, ge=0)
    threads: int | None = Field(default=None, ge=1)


class InitConfig(StrictSection):
    """Start from a trained model: any model kind as it is, or a Reset network grown.

    A Reset network is rebuilt from the checkpoint's own architecture (``model`` is then only
    used for its ``execution``), its weights are loaded, new subnetworks / levels are added
    (the seed's "recruit new networks"), and the master's output layer is replaced when the
    new task has another number of outputs. Any other model is built from ``model`` and must
    match the checkpoint's architecture. Only forward weights are loaded: a run trained with a
    learning rule can start another rule (or backprop), which begins with its own backward
    weights; the run says so and records it in ``summary.json`` (``init``).
    """

    checkpoint: str = Field(description="a brainlike checkpoint (RUN/checkpoints/last.pt)")
    add_subnetworks: dict[int, int] = Field(
        default_factory=dict, description="level -> extra subnetworks"
    )
    add_levels: list[LevelConfig] = Field(
        default_factory=list, description="new levels before the master"
    )
    freeze_trained: bool = Field(
        default=False, description="train only what was added (and a new head)"
    )

    @field_validator("add_subnetworks")
    @classmethod
    def _positive(cls, v: dict[int, int]) -> dict[int, int]:
        bad = {k: n for k, n in v.items() if k < 0 or n < 1}
        if bad:
            raise ValueError(f"levels must be >= 0 and extra subnetworks >= 1; got {bad}")
        return v


class FinetuneStageConfig(StrictSection):
    """One fine-tuning stage: train only ``block`` on blended images (spec: recurrent.md §5)."""

    block: str = Field(min_length=1, description="dotted module name, e.g. stage1")
    blends: list[Literal["texture", "noise"]] = Field(default_factory=list)
    epochs: int = Field(default=1, ge=1)
    lr: float | None = Field(default=None, gt=0.0, description="default: train.lr")


class FinetuneConfig(StrictSection):
    """Staged fine-tuning after ``train.epochs``: each stage freezes all but one block.

    Images are blended ``(1 - a) x + a T`` with procedural textures (``a ~ U(0.005, 0.5)``)
    or their phase-randomised noise (``a ~ U(0.05, 0.5)``); with both, each image draws one.
    """

    stages: list[FinetuneStageConfig] = Field(min_length=1)
    pool: int = Field(default=512, ge=1, description="textures generated for blending")
    checkpoint: str | None = Field(
        default=None,
        description="start from this trained model (RUN/checkpoints/last.pt, same architecture); "
        "with train.epochs: 0 only the stages run",
    )
