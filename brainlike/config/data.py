"""The data stream of an experiment: which images, where they live, how they are prepared."""

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
]
DATASETS: tuple[str, ...] = get_args(Dataset)


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

    @model_validator(mode="after")
    def _needs_dir(self) -> DataConfig:
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
