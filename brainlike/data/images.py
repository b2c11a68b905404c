"""Image datasets for the Reset-network tasks: offline digits, torchvision sets, number codes.

One entry point, :func:`load_dataset`, returns a :class:`DatasetBundle` holding the train and
test sets and what a model needs to know about them (classes, channels, size, target kind).

- ``"digits"`` works anywhere: scikit-learn's bundled 8x8 handwritten digits (1797 images).
- ``"numbers"`` works anywhere: digits rendered in matplotlib's fonts, with number-code targets
  (spec: topography.md §1, number codes).
- ``"scenes"`` works anywhere: one textured shape per image at a known depth
  (:mod:`brainlike.data.scenes`), labelled by shape, with per-pixel depth maps as dense targets.
- ``"mnist"``, ``"fashion_mnist"``, ``"cifar10"``, ``"cifar100"`` read torchvision's files from
  ``data_dir``; without them a :class:`DatasetUnavailableError` says how to get them.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset, Subset, TensorDataset

from brainlike.config.data import DATASETS
from brainlike.data.stimuli import number_codes, render_digits

__all__ = [
    "CIFAR100_CATEGORY_SETS",
    "DATASETS",
    "DatasetBundle",
    "DatasetUnavailableError",
    "InMemoryImageDataset",
    "class_weights",
    "dataset_labels",
    "load_dataset",
]

# ImageNet per-channel pixel mean and std (torchvision's reference recipes).
_IMAGENET_STATS = ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))

# spec: topography.md §1, CIFAR-100 category sets (torchvision fine-label indices); each set
# is compared against all other classes.
CIFAR100_CATEGORY_SETS: dict[str, list[int]] = {
    "people": [2, 11, 35, 46, 98],  # baby, boy, girl, man, woman
    "houses": [17, 37, 76],  # castle, house, skyscraper
    "objects": [9, 10, 16, 20, 22],  # bottle, bowl, can, chair, clock
}

# spec: topography.md §1, training table (MNIST family normalised with (0.1307, 0.3081)).
_MNIST_STATS = ((0.1307,), (0.3081,))
# Per-channel pixel mean and std of the CIFAR training sets.
_CIFAR10_STATS = ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))
_CIFAR100_STATS = ((0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762))
# ITU-R 601-2 luma, the weights of PIL's "L" conversion and torchvision's Grayscale.
_LUMA = (0.299, 0.587, 0.114)

# torchvision class, folder it reads under data_dir, one file to name in the error message,
# native channels, native size, normalisation stats.
_TORCHVISION = {
    "mnist": ("MNIST", "MNIST/raw", "train-images-idx3-ubyte", 1, 28, _MNIST_STATS),
    "fashion_mnist": (
        "FashionMNIST",
        "FashionMNIST/raw",
        "train-images-idx3-ubyte",
        1,
        28,
        _MNIST_STATS,
    ),
    "cifar10": ("CIFAR10", "cifar-10-batches-py", "data_batch_1", 3, 32, _CIFAR10_STATS),
    "cifar100": ("CIFAR100", "cifar-100-python", "train", 3, 32, _CIFAR100_STATS),
}


class DatasetUnavailableError(FileNotFoundError):
    """A dataset's files are not in ``data_dir`` and could not be downloaded."""


@dataclass
class DatasetBundle:
    """Train and test sets of one task, with what a model needs to know about them.

    Attributes
    ----------
    train, test : torch.utils.data.Dataset
        Items are ``(image, target)``: image a float tensor ``(C, H, W)``; target an int class
        (``targets_kind == "class"``) or a float32 code vector (``"code"``).
    num_classes : int
        Number of classes; for the number task, the number of numbers.
    class_names : list of str
        Name of each class, indexed by class.
    in_channels : int
        Image channels C.
    input_size : int
        Image height and width H = W.
    targets_kind : str
        ``"class"`` (cross-entropy) or ``"code"`` (BCE against a code vector).
    codes : np.ndarray or None
        ``(num_classes, code_dim)`` code of each number for the number task, else None.
    name : str
        Dataset name, one of :data:`DATASETS`.
    pixel_mean, pixel_std : tuple of float or None
        Per-channel normalisation applied to the images (None when pixels are left in
        [0, 1]); ``image * std + mean`` recovers [0, 1] pixels, e.g. for a reconstruction loss.
    dense : (Dataset, Dataset) or None
        Train and test sets of per-pixel targets aligned with the images: items
        ``(image (C, H, W) float, target (K, H, W) float)``, the same images in the same order
        as ``train`` and ``test`` (``"scenes"``: K = 1, the depth map); None when the data set
        has none.
    pipeline : str or None
        How a raw image becomes a model input, in words (crop, resize, normalisation), recorded
        with a run so scoring and transfer show images the same way.
    """

    train: Dataset
    test: Dataset
    num_classes: int
    class_names: list[str]
    in_channels: int
    input_size: int
    targets_kind: str
    codes: np.ndarray | None
    name: str
    pixel_mean: tuple[float, ...] | None = None
    pixel_std: tuple[float, ...] | None = None
    dense: tuple[Dataset, Dataset] | None = None
    pipeline: str | None = None


class InMemoryImageDataset(TensorDataset):
    """Images and targets held as tensors, with the integer class of every item.

    Parameters
    ----------
    images : torch.Tensor
        ``(N, C, H, W)`` float images.
    targets : torch.Tensor
        ``(N,)`` int64 classes or ``(N, D)`` float32 codes.
    labels : torch.Tensor, optional
        ``(N,)`` int64 class of each item; default ``targets`` (class targets only).
    """

    def __init__(
        self, images: torch.Tensor, targets: torch.Tensor, labels: torch.Tensor | None = None
    ):
        super().__init__(images, targets)
        if labels is None:
            if targets.ndim != 1:
                raise ValueError("code targets need explicit integer labels")
            labels = targets
        self.images = images
        self.targets = targets
        self.labels = labels.long()


def dataset_labels(dataset: Dataset) -> np.ndarray:
    """Integer class of every item of a dataset made by :func:`load_dataset`.

    Parameters
    ----------
    dataset : torch.utils.data.Dataset
        An :class:`InMemoryImageDataset`, a torchvision dataset with ``targets``, or a
        ``Subset`` of either.

    Returns
    -------
    np.ndarray
        ``(len(dataset),)`` int64 classes, in item order.
    """
    if isinstance(dataset, Subset):
        return dataset_labels(dataset.dataset)[np.asarray(dataset.indices)]
    if isinstance(dataset, InMemoryImageDataset):
        return dataset.labels.numpy()
    targets = getattr(dataset, "targets", None)
    if targets is None:
        raise TypeError(f"{type(dataset).__name__} exposes no labels or targets")
    return np.asarray(targets, dtype=np.int64)


def class_weights(
    targets: Sequence[int] | np.ndarray | torch.Tensor, num_classes: int
) -> torch.Tensor:
    """Inverse-frequency class weights with mean 1, for a class-weighted cross-entropy.

    spec: topography.md §1, training table (MNIST uses a class-weighted cross-entropy).
    ``w_c = (1 / n_c) / mean_c'(1 / n_c')`` over the classes present; a class absent from
    ``targets`` gets weight 0 (it contributes no loss term anyway).

    Parameters
    ----------
    targets : array-like of int
        ``(N,)`` class of each training item.
    num_classes : int
        Number of classes C.

    Returns
    -------
    torch.Tensor
        ``(C,)`` float32 weights, to pass as ``torch.nn.CrossEntropyLoss(weight=...)``.
    """
    labels = torch.as_tensor(np.asarray(targets), dtype=torch.long).reshape(-1)
    if labels.numel() == 0:
        raise ValueError("class_weights needs at least one target")
    if labels.min() < 0 or labels.max() >= num_classes:
        raise ValueError(
            f"targets must lie in 0..{num_classes - 1}, got range "
            f"{int(labels.min())}..{int(labels.max())}"
        )
    counts = torch.bincount(labels, minlength=num_classes).double()
    present = counts > 0
    inverse = torch.zeros(num_classes, dtype=torch.float64)
    inverse[present] = 1.0 / counts[present]
    return (inverse / inverse[present].mean()).float()


def _stratified_indices(labels: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` indices drawn without replacement, classes in their original proportions.

    Class quotas are ``n * p_c`` rounded by largest remainder, so they sum to exactly ``n``.
    Returned sorted, so the subset keeps the original item order.
    """
    if not 0 < n <= len(labels):
        raise ValueError(f"cannot draw {n} items from a split of {len(labels)}")
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / counts.sum()
    quota = np.floor(exact).astype(int)
    remainder_order = np.argsort(-(exact - quota), kind="stable")
    quota[remainder_order[: n - quota.sum()]] += 1
    chosen = [
        rng.choice(np.flatnonzero(labels == c), size=q, replace=False)
        for c, q in zip(classes, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def _convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """Repeat grey images to 3 channels, or reduce RGB to luminance."""
    have = images.shape[1]
    if channels == have:
        return images
    if have == 1 and channels == 3:
        return images.repeat(1, 3, 1, 1)
    if have == 3 and channels == 1:
        luma = torch.tensor(_LUMA, dtype=images.dtype).view(1, 3, 1, 1)
        return (images * luma).sum(dim=1, keepdim=True)
    raise ValueError(f"cannot convert {have}-channel images to {channels} channels")


def _check_channels(channels: int | None) -> None:
    if channels is not None and channels not in (1, 3):
        raise ValueError(f"channels must be 1 or 3, got {channels}")


def _load_digits(
    *,
    input_size: int | None,
    channels: int | None,
    seed: int,
    train_size: int | None,
    test_size: int | None,
    normalize: bool,
) -> DatasetBundle:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    size = 16 if input_size is None else input_size
    n_channels = 1 if channels is None else channels
    bunch = load_digits()
    # 0..16 counts of the 4x4 blocks -> [0, 1]
    images = torch.as_tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    labels = np.asarray(bunch.target, dtype=np.int64)
    if size != images.shape[-1]:
        images = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    images = _convert_channels(images, n_channels)

    train_idx, test_idx = train_test_split(
        np.arange(len(labels)), test_size=0.2, stratify=labels, random_state=seed
    )
    rng = np.random.default_rng(seed)
    if train_size is not None:
        train_idx = train_idx[_stratified_indices(labels[train_idx], train_size, rng)]
    if test_size is not None:
        test_idx = test_idx[_stratified_indices(labels[test_idx], test_size, rng)]
    train_x, test_x = images[train_idx], images[test_idx]

    mean = std = None
    if normalize:
        # Statistics of the training images only, so the test set stays unseen.
        mean_t = train_x.mean(dim=(0, 2, 3))
        std_t = train_x.std(dim=(0, 2, 3)).clamp_min(1e-8)
        train_x = (train_x - mean_t.view(1, -1, 1, 1)) / std_t.view(1, -1, 1, 1)
        test_x = (test_x - mean_t.view(1, -1, 1, 1)) / std_t.view(1, -1, 1, 1)
        mean, std = tuple(mean_t.tolist()), tuple(std_t.tolist())

    train_y = torch.as_tensor(labels[train_idx])
    test_y = torch.as_tensor(labels[test_idx])
    return DatasetBundle(
        train=InMemoryImageDataset(train_x.contiguous(), train_y),
        test=InMemoryImageDataset(test_x.contiguous(), test_y),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        in_channels=n_channels,
        input_size=size,
        targets_kind="class",
        codes=None,
        name="digits",
        pixel_mean=mean,
        pixel_std=std,
        pipeline=f"8x8 digits, bilinear resize to {size} px"
        + (", standardised per channel with the training mean and std" if normalize else ""),
    )


def _load_numbers(
    *,
    input_size: int | None,
    channels: int | None,
    seed: int,
    train_size: int | None,
    test_size: int | None,
) -> DatasetBundle:
    # spec: topography.md §1, training table: digits rendered in several fonts at random
    # shifts, 32x32, pixels in [0, 1], targets the number codes (3 input channels as run).
    size = 32 if input_size is None else input_size
    n_channels = 3 if channels is None else channels
    n_train = 2000 if train_size is None else train_size
    n_test = 500 if test_size is None else test_size
    # The codes define the task, so they stay those of seed 0 whatever the data seed.
    codes = number_codes(10, 100, seed=0)

    def split(n: int, stream: int) -> InMemoryImageDataset:
        if n < 1:
            raise ValueError(f"the numbers task needs at least 1 image per split, got {n}")
        # Independent streams for train and test: the two splits never share a drawing.
        rng = np.random.default_rng([seed, stream])
        images, labels = render_digits(math.ceil(n / 10), size=size, channels=n_channels, rng=rng)
        if len(labels) > n:
            keep = _stratified_indices(labels, n, rng)
            images, labels = images[keep], labels[keep]
        targets = torch.as_tensor(codes[labels])
        return InMemoryImageDataset(
            torch.as_tensor(images), targets, labels=torch.as_tensor(labels)
        )

    return DatasetBundle(
        train=split(n_train, 0),
        test=split(n_test, 1),
        num_classes=10,
        class_names=[str(d) for d in range(10)],
        in_channels=n_channels,
        input_size=size,
        targets_kind="code",
        codes=codes,
        name="numbers",
        pipeline=f"digits rendered at {size} px, pixels in [0, 1]",
    )


def _load_scenes(
    *,
    input_size: int | None,
    channels: int | None,
    seed: int,
    train_size: int | None,
    test_size: int | None,
    normalize: bool,
) -> DatasetBundle:
    """Generated scenes (:func:`brainlike.data.scenes.render_scenes`), rendered at the input
    size: class = shape, dense target = the depth map (spec: mouse-and-entorhinal.md §1)."""
    from brainlike.data.scenes import SHAPES, render_scenes

    size = 64 if input_size is None else input_size
    if size < 8:
        raise ValueError(f"dataset 'scenes' renders at 8 pixels or more, got input_size {size}")
    n_channels = 3 if channels is None else channels
    sizes = (2000 if train_size is None else train_size, 500 if test_size is None else test_size)
    # independent seed streams, so the two splits never share a scene
    rendered = [
        render_scenes(
            n,
            size,
            seed=int(np.random.SeedSequence([seed, stream]).generate_state(1)[0]),
            channels=n_channels,
        )
        for stream, n in enumerate(sizes)
    ]
    images = [torch.from_numpy(r.images) for r in rendered]
    mean = std = None
    if normalize:
        # statistics of the training images only
        mean_t = images[0].mean(dim=(0, 2, 3))
        std_t = images[0].std(dim=(0, 2, 3)).clamp_min(1e-8)
        images = [(x - mean_t.view(1, -1, 1, 1)) / std_t.view(1, -1, 1, 1) for x in images]
        mean, std = tuple(mean_t.tolist()), tuple(std_t.tolist())
    labels = [torch.from_numpy(r.latents["category"]) for r in rendered]
    depth = [torch.from_numpy(r.depth) for r in rendered]
    return DatasetBundle(
        train=InMemoryImageDataset(images[0], labels[0]),
        test=InMemoryImageDataset(images[1], labels[1]),
        num_classes=len(SHAPES),
        class_names=list(SHAPES),
        in_channels=n_channels,
        input_size=size,
        targets_kind="class",
        codes=None,
        name="scenes",
        pixel_mean=mean,
        pixel_std=std,
        dense=(TensorDataset(images[0], depth[0]), TensorDataset(images[1], depth[1])),
        pipeline=f"rendered at {size} px"
        + (", standardised per channel with the training mean and std" if normalize else ""),
    )


def _unavailable_message(name: str, data_dir: Path, what: str) -> str:
    _, folder, example, *_ = _TORCHVISION[name]
    return (
        f"dataset {name!r}: {what} {data_dir / folder}. Fix: rerun with --download on a "
        f"machine with network access (data_dir={data_dir}), or copy the files there in "
        f"torchvision's layout (e.g. {data_dir / folder / example}), or set data.dataset: "
        f"digits in the config, which works offline (e.g. `brainlike train reset4-small-digits`)."
    )


def _channel_stats(
    mean: tuple[float, ...], std: tuple[float, ...], native: int, wanted: int
) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalisation statistics after converting ``native`` channels to ``wanted``."""
    if wanted == native:
        return mean, std
    if native == 1:
        return mean * 3, std * 3
    # Luma of the channel means is exact; the luma-weighted std is an upper bound that is
    # tight because the colour channels of natural images are highly correlated.
    return (
        (sum(w * m for w, m in zip(_LUMA, mean, strict=True)),),
        (sum(w * s for w, s in zip(_LUMA, std, strict=True)),),
    )


def _disk_bundle(
    splits: dict[bool, Dataset],
    *,
    classes: list[str],
    name: str,
    seed: int,
    train_size: int | None,
    test_size: int | None,
    n_channels: int,
    size: int,
    mean: tuple[float, ...],
    std: tuple[float, ...],
    normalize: bool,
    pipeline: str | None = None,
) -> DatasetBundle:
    """A bundle of a dataset read from disk, each split optionally subsampled by class."""
    rng = np.random.default_rng(seed)
    train_set, test_set = splits[True], splits[False]
    if train_size is not None:
        train_set = Subset(
            train_set, _stratified_indices(dataset_labels(train_set), train_size, rng).tolist()
        )
    if test_size is not None:
        test_set = Subset(
            test_set, _stratified_indices(dataset_labels(test_set), test_size, rng).tolist()
        )
    return DatasetBundle(
        train=train_set,
        test=test_set,
        num_classes=len(classes),
        class_names=classes,
        in_channels=n_channels,
        input_size=size,
        targets_kind="class",
        codes=None,
        name=name,
        pixel_mean=tuple(mean) if normalize else None,
        pixel_std=tuple(std) if normalize else None,
        pipeline=pipeline,
    )


def _load_torchvision(
    name: str,
    *,
    data_dir: str | Path | None,
    download: bool,
    input_size: int | None,
    channels: int | None,
    seed: int,
    augment: bool,
    train_size: int | None,
    test_size: int | None,
    normalize: bool,
) -> DatasetBundle:
    import torchvision
    from torchvision import transforms

    if data_dir is None:
        raise ValueError(
            f"dataset {name!r} is read from disk: pass data_dir (the folder holding, or to "
            f"receive with download=True, torchvision's files), or use 'digits' offline"
        )
    root = Path(data_dir)
    class_name, _, _, native_channels, native_size, stats = _TORCHVISION[name]
    size = native_size if input_size is None else input_size
    n_channels = native_channels if channels is None else channels
    is_cifar = name.startswith("cifar")
    if augment and not is_cifar:
        warnings.warn(
            f"augment applies the CIFAR recipe (random crop + flip); ignored for {name}",
            stacklevel=3,
        )

    mean, std = _channel_stats(*stats, native_channels, n_channels)

    def pipeline(train: bool) -> transforms.Compose:
        steps: list = []
        if size != native_size:
            steps.append(transforms.Resize((size, size)))
        if n_channels != native_channels:
            steps.append(transforms.Grayscale(num_output_channels=n_channels))
        if train and augment and is_cifar:
            # spec: topography.md §1, training table: random crop 32 pad 4 + flip, train only.
            steps += [
                transforms.RandomCrop(size, padding=size // 8),
                transforms.RandomHorizontalFlip(),
            ]
        steps.append(transforms.ToTensor())
        if normalize:
            steps.append(transforms.Normalize(mean, std))
        return transforms.Compose(steps)

    described = ", ".join(
        [f"{name} {native_size} px"]
        + ([f"resized to {size} px (bilinear)"] if size != native_size else [])
        + ([f"{n_channels} channel(s)"] if n_channels != native_channels else [])
        + (["train: random crop pad " + str(size // 8) + " + flip"] if augment and is_cifar else [])
        + ([f"normalised with {name} mean/std"] if normalize else [])
    )
    constructor = getattr(torchvision.datasets, class_name)
    splits = {}
    for train in (True, False):
        try:
            splits[train] = constructor(
                root=str(root), train=train, download=download, transform=pipeline(train)
            )
        except (RuntimeError, OSError) as error:
            # torchvision signals missing files with RuntimeError, failed downloads with
            # URLError (an OSError) or a RuntimeError that wraps it.
            what = "download failed into" if download else "no files in"
            raise DatasetUnavailableError(
                _unavailable_message(name, root, what) + f" (torchvision said: {error})"
            ) from error

    classes = list(splits[True].classes)
    if name == "mnist":
        classes = [str(d) for d in range(10)]  # torchvision names them "0 - zero", ...
    return _disk_bundle(
        splits,
        pipeline=described,
        classes=classes,
        name=name,
        seed=seed,
        train_size=train_size,
        test_size=test_size,
        n_channels=n_channels,
        size=size,
        mean=mean,
        std=std,
        normalize=normalize,
    )


def _load_imagefolder(
    *,
    data_dir: str | Path | None,
    input_size: int | None,
    channels: int | None,
    seed: int,
    augment: bool,
    train_size: int | None,
    test_size: int | None,
    normalize: bool,
) -> DatasetBundle:
    """An ImageNet-style folder: ``data_dir/train/<class>/*.jpg`` and ``data_dir/val/<class>/...``.

    spec: mouse-and-entorhinal.md §1, data stream: test images are resized to 256 (shorter
    side) and centre-cropped to 224, then resized to ``input_size``; training images likewise,
    or with ``augment`` a random resized crop of 224 and a horizontal flip, then the resize
    (the ImageNet recipe at low resolution). Above 224 px the crop is ``input_size`` and the
    resize ``input_size * 256 / 224``. Pixels are normalised with the ImageNet statistics.
    """
    from torchvision import datasets, transforms

    if data_dir is None:
        raise ValueError(
            "dataset 'imagefolder' reads data_dir/train/<class>/ and data_dir/val/<class>/: set "
            "data.data_dir to that folder"
        )
    root = Path(data_dir).expanduser()
    missing = [sub for sub in ("train", "val") if not (root / sub).is_dir()]
    if missing:
        raise DatasetUnavailableError(
            f"dataset 'imagefolder': no {' or '.join(missing)} folder in {root}. Fix: lay the "
            "images out as train/<class>/<image> and val/<class>/<image> (the ImageNet layout), "
            "or set data.dataset: digits in the config, which works offline."
        )
    size = 224 if input_size is None else input_size
    n_channels = 3 if channels is None else channels
    mean, std = _channel_stats(*_IMAGENET_STATS, 3, n_channels)
    crop = max(224, size)
    resize = round(crop * 256 / 224)

    def pipeline(train: bool) -> transforms.Compose:
        if train and augment:
            steps: list = [transforms.RandomResizedCrop(crop), transforms.RandomHorizontalFlip()]
        else:
            steps = [transforms.Resize(resize), transforms.CenterCrop(crop)]
        if size != crop:
            steps.append(transforms.Resize((size, size), antialias=True))
        steps.append(transforms.Grayscale(n_channels) if n_channels == 1 else _to_rgb)
        steps.append(transforms.ToTensor())
        if normalize:
            steps.append(transforms.Normalize(mean, std))
        return transforms.Compose(steps)

    then = f", then resize to {size}" if size != crop else ""
    described = (
        f"train: {'random resized crop ' + str(crop) + ' + horizontal flip' if augment else 'as eval'}"
        f"{then}; eval: resize {resize} + center crop {crop}{then}"
        + ("; ImageNet mean/std" if normalize else "")
    )

    splits = {}
    for train, sub in ((True, "train"), (False, "val")):
        try:
            splits[train] = datasets.ImageFolder(str(root / sub), transform=pipeline(train))
        except (FileNotFoundError, RuntimeError) as error:
            raise DatasetUnavailableError(
                f"dataset 'imagefolder': {root / sub} holds no readable class folders "
                f"({error}); put each class's images in its own subfolder"
            ) from error
    if splits[True].classes != splits[False].classes:
        raise ValueError(
            f"{root}/train and {root}/val name different classes "
            f"({len(splits[True].classes)} vs {len(splits[False].classes)}); they must match"
        )
    return _disk_bundle(
        splits,
        classes=list(splits[True].classes),
        name="imagefolder",
        pipeline=described,
        seed=seed,
        train_size=train_size,
        test_size=test_size,
        n_channels=n_channels,
        size=size,
        mean=mean,
        std=std,
        normalize=normalize,
    )


def _to_rgb(image: Any) -> Any:
    return image.convert("RGB")


def load_dataset(
    name: str,
    *,
    data_dir: str | Path | None = None,
    download: bool = False,
    input_size: int | None = None,
    channels: int | None = None,
    seed: int = 0,
    augment: bool = False,
    train_size: int | None = None,
    test_size: int | None = None,
    normalize: bool = True,
) -> DatasetBundle:
    """Load a task's train and test sets.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS`:

        - ``"digits"``: scikit-learn's 8x8 digits (offline), bilinearly resized to
          ``input_size`` (default 16), pixels / 16 in [0, 1], split 80/20 stratified by
          ``seed`` (1437 / 360 images);
        - ``"mnist"``, ``"fashion_mnist"``: 28x28, normalised with (0.1307, 0.3081);
        - ``"cifar10"``, ``"cifar100"``: 32x32 RGB, per-channel CIFAR mean/std;
        - ``"numbers"``: rendered digits (default 32x32, 3 channels, pixels in [0, 1], never
          normalised) whose targets are the rows of :func:`number_codes`;
        - ``"scenes"``: generated one-object scenes (default 64x64 RGB, 2000 / 500 images),
          class = shape, ``dense`` = depth maps, standardised with the training mean and std;
        - ``"imagefolder"``: ``data_dir/train/<class>/`` and ``data_dir/val/<class>/``, the
          ImageNet crops then a resize to ``input_size`` (default 224).
    data_dir : str or Path, optional
        Folder with torchvision's files (required for the torchvision datasets).
    download : bool
        Let torchvision download missing files into ``data_dir``.
    input_size : int, optional
        Resize images to ``input_size x input_size``.
    channels : int, optional
        1 or 3; grey images are repeated to 3 channels, colour images reduced to luminance.
    seed : int
        Seed of the digits split, of every subsample and of the number renderings.
    augment : bool
        Random crop (padding size / 8) and horizontal flip on the CIFAR training set.
    train_size, test_size : int, optional
        Keep this many items of a split, drawn stratified by class (for quick runs); for
        ``"numbers"``, how many images to render (defaults 2000 and 500).
    normalize : bool
        Standardise pixels (digits: train mean and std; others: the published statistics).

    Returns
    -------
    DatasetBundle

    Raises
    ------
    DatasetUnavailableError
        A torchvision dataset's files are missing (download=False) or the download failed.
    ValueError
        Unknown name, missing data_dir, or impossible sizes.
    """
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; choose one of {', '.join(DATASETS)}")
    _check_channels(channels)
    if input_size is not None and input_size < 4:
        raise ValueError(f"input_size must be at least 4 pixels, got {input_size}")
    # what every loader takes: the image size and channels, the seed and the split sizes
    shared: dict[str, Any] = {
        "input_size": input_size,
        "channels": channels,
        "seed": seed,
        "train_size": train_size,
        "test_size": test_size,
    }
    if name == "digits":
        if augment:
            warnings.warn("augment is not implemented for digits; ignored", stacklevel=2)
        return _load_digits(**shared, normalize=normalize)
    if name == "numbers":
        # Random fonts, sizes and shifts are the augmentation of this task already.
        return _load_numbers(**shared)
    if name == "scenes":
        if augment:
            warnings.warn("augment is not implemented for scenes; ignored", stacklevel=2)
        return _load_scenes(**shared, normalize=normalize)
    if name == "imagefolder":
        return _load_imagefolder(data_dir=data_dir, augment=augment, normalize=normalize, **shared)
    return _load_torchvision(
        name, data_dir=data_dir, download=download, augment=augment, normalize=normalize, **shared
    )


def load_experiment_dataset(
    cfg: Any, *, download: bool | None = None, augment: bool | None = None
) -> DatasetBundle:
    """The dataset an experiment config's ``data`` section names, seeded by ``cfg.seed``.

    ``download`` and ``augment`` default to the config's; pass False to load offline, or
    the un-augmented pipeline (analyses, scoring).
    """
    d = cfg.data
    return load_dataset(
        d.dataset,
        data_dir=d.data_dir,
        download=d.download if download is None else download,
        input_size=d.input_size,
        channels=d.channels,
        seed=cfg.seed,
        augment=d.augment if augment is None else augment,
        train_size=d.train_size,
        test_size=d.test_size,
        normalize=d.normalize,
    )
