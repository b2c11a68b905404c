"""The data stream of an experiment: which images, where they live, how they are prepared;
or, for the path-integration task, the simulated random walks (``dataset: trajectories``)."""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import Field, model_validator

from brainlike.config.reader import StrictSection

#: the data sets a config can name (one list: the loaders in brainlike.data.images use it)
Dataset = Literal[
    "digits",
    "mnist",
    "fashion_mnist",
    "cifar10",
    "cifar100",
    "numbers",
    "imagefolder",
    "scenes",
    "trajectories",
]
DATASETS: tuple[str, ...] = get_args(Dataset)


class TrajectoriesConfig(StrictSection):
    """Rat-like random walks in a square box (spec: mouse-and-entorhinal.md §2, "Trajectories"):
    each training batch is generated from (seed, step), so a resumed run sees the same data."""

    arena: float = Field(default=2.2, gt=0.0, description="side of the square box, metres")
    steps: int = Field(default=20, ge=1, description="time steps per sequence")
    landmarks: bool = Field(default=False, description="add the five landmark-cue distances")
    reward: bool = Field(default=False, description="the reward-directed variant")
    source: Literal["generated", "ratinabox"] = "generated"
    batches_per_epoch: int = Field(default=100, ge=1, description="training batches per epoch")
    test_sequences: int = Field(default=1000, ge=1, description="fixed held-out sequences")

    @model_validator(mode="after")
    def _source(self) -> TrajectoriesConfig:
        if self.source == "ratinabox":
            import importlib.util

            if importlib.util.find_spec("ratinabox") is None:
                raise ValueError(
                    "data.trajectories.source ratinabox needs the ratinabox package; "
                    "pip install brainlike[ratinabox], or use source: generated"
                )
            if self.landmarks or self.reward:
                raise ValueError(
                    "data.trajectories.landmarks and .reward are offered with source: generated "
                    "only; set them to false or use source: generated"
                )
        if self.reward and self.arena < 1.7:
            raise ValueError(
                f"data.trajectories.reward needs an arena of at least 1.7 m (the reward zone "
                f"reaches 0.85 m from the centre), got {self.arena}; enlarge the arena"
            )
        return self


#: the image-only options of ``data:`` and their defaults (refused with trajectories)
_IMAGE_OPTIONS = {
    "data_dir": None,
    "download": False,
    "input_size": None,
    "channels": None,
    "augment": False,
    "train_size": None,
    "test_size": None,
    "normalize": True,
}


class DataConfig(StrictSection):
    """The data stream."""

    dataset: Dataset = "digits"
    data_dir: str | None = None
    download: bool = False
    input_size: int | None = Field(default=None, ge=4, le=512)
    channels: Literal[1, 3] | None = None
    augment: bool = False
    train_size: int | None = Field(default=None, ge=10)
    test_size: int | None = Field(default=None, ge=10)
    normalize: bool = True
    trajectories: TrajectoriesConfig = Field(default_factory=TrajectoriesConfig)

    @model_validator(mode="after")
    def _needs_dir(self) -> DataConfig:
        if self.dataset == "trajectories":
            image = [k for k, v in _IMAGE_OPTIONS.items() if getattr(self, k) != v]
            if image:
                raise ValueError(
                    f"data.{', data.'.join(image)} apply to image data sets; data.dataset "
                    "trajectories is set by data.trajectories: remove them"
                )
        elif self.trajectories != TrajectoriesConfig():
            raise ValueError(
                f"data.trajectories applies to data.dataset: trajectories (got {self.dataset!r}); "
                "remove data.trajectories or set dataset: trajectories"
            )
        if (
            self.dataset in ("mnist", "fashion_mnist", "cifar10", "cifar100")
            and self.download
            and not self.data_dir
        ):
            raise ValueError(
                f"data.download is true but data.data_dir is empty: say where to put {self.dataset} "
                "(e.g. data_dir: ~/data, or --data-dir on the command line)"
            )
        if self.dataset == "imagefolder" and not self.data_dir:
            raise ValueError(
                "data.dataset imagefolder needs data.data_dir: the folder holding train/<class>/ "
                "and val/<class>/ (e.g. an ImageNet copy)"
            )
        return self
