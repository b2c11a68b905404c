"""The self-supervised objectives' settings (``objective.ssl:``), spec mouse-and-entorhinal.md §1.

Defaults are the hyperparameters as run in the source (2048-wide heads, a 65,536-key queue,
4,096 noise samples); CPU recipes scale them down. A setting that the chosen task does not
use is refused, so a config says only what it trains with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from brainlike.config.reader import StrictSection

__all__ = ["SSL_TASKS", "SelfSupervisedConfig", "ViewsConfig"]

#: the tasks that compare two views of each image
TWO_VIEW_TASKS = ("simclr", "moco", "simsiam", "barlow_twins", "vicreg")
#: every self-supervised task, and the ``objective.ssl`` keys each one uses
SSL_TASKS: dict[str, tuple[str, ...]] = {
    "autoencoder": ("head_dim", "sparsity"),
    "depth": (),
    "rotnet": (),
    "instance": ("temperature", "head_dim", "negatives", "bank_momentum", "head_input", "views"),
    "simclr": ("temperature", "head_hidden", "head_dim", "head_input", "views"),
    "moco": (
        "temperature",
        "head_hidden",
        "head_dim",
        "queue_size",
        "momentum",
        "head_input",
        "views",
    ),
    "simsiam": ("head_hidden", "head_dim", "predictor_hidden", "head_input", "views"),
    "barlow_twins": ("head_hidden", "head_dim", "barlow_lambda", "head_input", "views"),
    "vicreg": ("head_hidden", "head_dim", "vicreg_weights", "head_input", "views"),
}
#: per-task defaults of the settings several tasks share (spec mouse-and-entorhinal.md §1)
_DEFAULTS: dict[str, dict[str, float | int]] = {
    "autoencoder": {"head_dim": 128},
    "instance": {"temperature": 0.07, "head_dim": 128},
    "simclr": {"temperature": 0.1, "head_hidden": 2048, "head_dim": 128},
    "moco": {"temperature": 0.2, "head_hidden": 2048, "head_dim": 128},
    "simsiam": {"head_hidden": 2048, "head_dim": 2048},
    "barlow_twins": {"head_hidden": 2048, "head_dim": 2048},
    "vicreg": {"head_hidden": 2048, "head_dim": 2048},
}


class ViewsConfig(StrictSection):
    """The two-view augmentations (:mod:`brainlike.data.views`)."""

    crop_scale: tuple[float, float] = Field(default=(0.2, 1.0), description="area fraction range")
    jitter: tuple[float, float, float, float] = Field(
        default=(0.4, 0.4, 0.4, 0.1), description="brightness, contrast, saturation, hue"
    )
    jitter_prob: float = Field(default=0.8, ge=0.0, le=1.0)
    grayscale_prob: float = Field(default=0.2, ge=0.0, le=1.0)
    blur_prob: float = Field(default=0.5, ge=0.0, le=1.0)
    blur_sigma: tuple[float, float] = (0.1, 2.0)
    flip_prob: float = Field(default=0.5, ge=0.0, le=1.0)

    @model_validator(mode="after")
    def _ranges(self) -> ViewsConfig:
        lo, hi = self.crop_scale
        if not 0 < lo <= hi <= 1:
            raise ValueError(f"views.crop_scale must satisfy 0 < low <= high <= 1, got {lo}, {hi}")
        if not 0 < self.blur_sigma[0] <= self.blur_sigma[1]:
            raise ValueError(f"views.blur_sigma must be 0 < low <= high, got {self.blur_sigma}")
        if any(j < 0 for j in self.jitter) or self.jitter[3] > 0.5:
            raise ValueError(f"views.jitter must be >= 0 with hue <= 0.5, got {self.jitter}")
        return self

    def settings(self):  # noqa: ANN201 - ViewSettings, imported lazily
        from brainlike.data.views import ViewSettings

        return ViewSettings(**self.model_dump())


class SelfSupervisedConfig(StrictSection):
    """Settings of the self-supervised tasks (which ones a task uses: :data:`SSL_TASKS`)."""

    temperature: float | None = Field(
        default=None, gt=0.0, description="default: instance 0.07, simclr 0.1, moco 0.2"
    )
    head_hidden: int | None = Field(default=None, ge=1, description="projector width (2048)")
    head_dim: int | None = Field(
        default=None, ge=1, description="head output: 128 (2048 simsiam, barlow, vicreg)"
    )
    predictor_hidden: int = Field(default=512, ge=1, description="SimSiam's predictor bottleneck")
    negatives: int = Field(default=4096, ge=1, description="instance: m noise samples")
    bank_momentum: float = Field(default=0.5, ge=0.0, lt=1.0, description="v <- n(a v + (1-a) f)")
    queue_size: int = Field(default=65536, ge=1, description="MoCo's queue of keys")
    momentum: float = Field(default=0.999, ge=0.0, le=1.0, description="MoCo's key encoder")
    barlow_lambda: float = Field(default=5e-3, ge=0.0)
    vicreg_weights: tuple[float, float, float] = Field(
        default=(25.0, 25.0, 1.0), description="invariance, variance, covariance"
    )
    sparsity: float = Field(default=5e-4, ge=0.0, description="autoencoder: lambda of ||h||_1")
    head_input: Literal["flat", "channels"] = Field(
        default="flat",
        description="what the first head reads: the whole embedding (flat: the readout's input, "
        "e.g. StreamNet's 6 x 6 pooled output areas) or its mean over positions per channel "
        "(channels: the global average pool SimCLR/MoCo/SimSiam read on ResNets)",
    )
    knn_k: int = Field(default=20, ge=1, description="neighbours of the held-out kNN accuracy")
    views: ViewsConfig = Field(default_factory=ViewsConfig)

    def value(self, task: str, key: str) -> float | int:
        """``key``'s setting for ``task``: the config's, else the task's default."""
        given = getattr(self, key)
        return given if given is not None else _DEFAULTS[task][key]

    def check_for(self, task: str) -> None:
        """Refuse settings that ``task`` does not use (one line naming them)."""
        used = SSL_TASKS.get(task, ())
        # a setting counts as given when it differs from its default (a stored config lists all)
        default = SelfSupervisedConfig()
        extra = sorted(
            k
            for k in type(self).model_fields
            if k not in used and k != "knn_k" and getattr(self, k) != getattr(default, k)
        )
        if extra:
            uses = ", ".join(used) if used else "none of them"
            raise ValueError(
                f"objective.ssl.{', objective.ssl.'.join(extra)} do not apply to objective.task "
                f"{task!r} (it uses: {uses}); remove them"
            )
        if task in TWO_VIEW_TASKS and not self.views.settings().varies:
            raise ValueError(
                f"objective.task {task!r} compares two random views of each image, but every "
                "augmentation of objective.ssl.views is switched off; switch some on"
            )
