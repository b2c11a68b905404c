"""The objective of an experiment (``objective:``): the task's loss and what is added to it.

Classification or number codes, the spatial correlation loss and wiring costs of the
topography experiments (spec: topography.md §3-4), CutMix, AugMix and the behavioural
regulariser of the brain-likeness recipes (spec: recurrent.md §5).
"""

from __future__ import annotations

from typing import Literal

from pydantic import AliasChoices, Field, field_validator, model_validator

from brainlike.config.reader import StrictSection
from brainlike.config.selfsupervised import SSL_TASKS, SelfSupervisedConfig


class SpatialLossConfig(StrictSection):
    """spec: topography.md §4, spatial correlation loss (TDANN)."""

    weight: float = Field(default=0.0, ge=0.0)
    neighbourhood: int = Field(default=500, ge=4, description="units sampled per step")
    level: int = Field(default=0, ge=0, description="Reset networks: the level whose grid is used")
    sheet: str | None = Field(
        default=None, description="sheet name (default: the level's grid / first sheet)"
    )


class WiringCostConfig(StrictSection):
    """Wiring costs on locality-prior layers (spec: topography.md §3); weight decay is train.weight_decay."""

    l1: float = Field(default=0.0, ge=0.0, description="weight of sum |W|")
    distance: float = Field(default=0.0, ge=0.0, description="weight of sum |W_ij| d_ij")


class CutMixConfig(StrictSection):
    """CutMix (spec: recurrent.md §5): paste a box of a shuffled partner into each image."""

    prob: float = Field(default=0.0, ge=0.0, le=1.0, description="share of batches mixed; 0: off")
    alpha: float = Field(default=1.0, gt=0.0, description="lambda ~ Beta(alpha, alpha)")


class AugMixConfig(StrictSection):
    """AugMix with the Jensen-Shannon consistency loss (spec: recurrent.md §5)."""

    enabled: bool = False
    severity: int = Field(default=3, ge=1, le=10)
    width: int = Field(default=3, ge=1, description="augmentation chains mixed")
    depth: int = Field(default=-1, ge=-1, description="ops per chain; -1: random 1-3")
    alpha: float = Field(default=1.0, gt=0.0)
    jsd_weight: float = Field(default=12.0, ge=0.0)

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v == 0:
            raise ValueError("augmix.depth is -1 (random 1-3 ops) or a positive number of ops")
        return v


class BehaviorRegConfig(StrictSection):
    """The superclass behavioural regulariser (spec: recurrent.md §5).

    ``grouping`` is ``cifar100`` (the 20 coarse classes), a ``.npy`` file with the
    (n_classes, n_superclasses) 0/1 matrix, or a mapping superclass -> class indices.
    Targets are the one-hot true superclass unless ``targets`` (a ``.npy`` of
    (n_classes, n_superclasses) distributions) or ``confusion`` (a ``.npy`` superclass
    confusion matrix, e.g. human responses) is given.
    """

    weight: float = Field(default=0.0, ge=0.0)
    grouping: str | dict[str, list[int]] | None = None
    targets: str | None = None
    confusion: str | None = None
    divergence: Literal["kl", "ce"] = "kl"

    @model_validator(mode="after")
    def _needs_grouping(self) -> BehaviorRegConfig:
        if self.weight > 0 and self.grouping is None:
            raise ValueError(
                "objective.behavior.weight > 0 needs a grouping: 'cifar100', a .npy file or a "
                "mapping superclass -> class indices"
            )
        if self.targets is not None and self.confusion is not None:
            raise ValueError("give objective.behavior.targets or .confusion, not both")
        return self


class PlaceCellsConfig(StrictSection):
    """The place-cell targets of the path-integration task (spec: mouse-and-entorhinal.md §2):
    ``n`` centres uniform in the arena (drawn from ``seed``), difference-of-Gaussians,
    Gaussian or Cartesian (the position itself) targets."""

    kind: Literal["dog", "gaussian", "cartesian"] = "dog"
    n: int = Field(default=512, ge=3, description="place cells (top-3 decoding needs 3)")
    sigma: float = Field(default=0.12, gt=0.0, description="field width, metres")
    seed: int = Field(default=0, ge=0, description="seed of the field centres")


class ObjectiveConfig(StrictSection):
    """The objective (``task``, also accepted as ``kind``; ``supervised`` is classification)."""

    task: Literal[
        "classification", "codes", "autoencoder", "depth", "rotnet", "instance", "simclr",
        "moco", "simsiam", "barlow_twins", "vicreg", "path_integration",
    ] = Field(default="classification", validation_alias=AliasChoices("task", "kind"))  # fmt: skip
    class_weighted: bool = False
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    reconstruction_weight: float = Field(default=0.0, ge=0.0)
    reconstruction_loss: Literal["bce", "mse"] = "bce"
    spatial: SpatialLossConfig = Field(default_factory=SpatialLossConfig)
    wiring: WiringCostConfig = Field(default_factory=WiringCostConfig)
    cutmix: CutMixConfig = Field(default_factory=CutMixConfig)
    augmix: AugMixConfig = Field(default_factory=AugMixConfig)
    behavior: BehaviorRegConfig = Field(default_factory=BehaviorRegConfig)
    ssl: SelfSupervisedConfig = Field(default_factory=SelfSupervisedConfig)
    place_cells: PlaceCellsConfig = Field(default_factory=PlaceCellsConfig)
    recurrent_l2: float = Field(
        default=1e-4, ge=0.0, description="path_integration: weight of the recurrent weights' L2"
    )

    @field_validator("task", mode="before")
    @classmethod
    def _supervised(cls, v: object) -> object:
        return "classification" if v == "supervised" else v

    @model_validator(mode="after")
    def _ssl_fits_task(self) -> ObjectiveConfig:
        if self.task in SSL_TASKS:
            self.ssl.check_for(self.task)
        elif self.ssl != SelfSupervisedConfig():
            raise ValueError(
                f"objective.ssl applies to the self-supervised tasks ({', '.join(SSL_TASKS)}); "
                f"objective.task is {self.task!r}: remove objective.ssl"
            )
        if self.task != "path_integration":
            extra = [
                k
                for k, default in (("place_cells", PlaceCellsConfig()), ("recurrent_l2", 1e-4))
                if getattr(self, k) != default
            ]
            if extra:
                raise ValueError(
                    f"objective.{', objective.'.join(extra)} apply to objective.task "
                    f"path_integration; objective.task is {self.task!r}: remove them"
                )
        return self
