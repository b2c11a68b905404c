"""Tests of the dataset loaders: offline digits, number task, torchvision wrappers, errors."""

import struct
import urllib.error

import numpy as np
import pytest
import torch
import torchvision

from brainlike.data.images import (
    CIFAR100_CATEGORY_SETS,
    DATASETS,
    DatasetUnavailableError,
    class_weights,
    dataset_labels,
    load_dataset,
)
from brainlike.data.stimuli import number_codes


def _stack(dataset):
    images, targets = zip(*(dataset[i] for i in range(len(dataset))), strict=True)
    return torch.stack(images), torch.stack([torch.as_tensor(t) for t in targets])


def test_digits_default_split_sizes_and_shapes():
    bundle = load_dataset("digits")
    assert (len(bundle.train), len(bundle.test)) == (1437, 360)
    image, target = bundle.train[0]
    assert image.shape == (1, 16, 16) and image.dtype == torch.float32
    assert target.dtype == torch.int64
    assert bundle.num_classes == 10 and bundle.class_names == [str(d) for d in range(10)]
    assert (bundle.in_channels, bundle.input_size) == (1, 16)
    assert bundle.targets_kind == "class" and bundle.codes is None and bundle.name == "digits"


def test_digits_normalised_with_train_statistics():
    bundle = load_dataset("digits")
    train = bundle.train.images
    assert abs(train.mean().item()) < 1e-5
    assert abs(train.std().item() - 1.0) < 1e-4
    # test set normalised with the same (train) statistics: close to, not exactly, 0 / 1
    assert abs(bundle.test.images.mean().item()) < 0.1
    # undoing the normalisation recovers [0, 1] pixels
    raw = train * bundle.pixel_std[0] + bundle.pixel_mean[0]
    assert raw.min() >= -1e-5 and raw.max() <= 1 + 1e-5


def test_digits_unnormalised_pixels_in_unit_range_and_resizing():
    native = load_dataset("digits", input_size=8, normalize=False)
    assert native.train.images.shape[-2:] == (8, 8)
    assert native.train.images.min() == 0.0 and native.train.images.max() == 1.0
    assert native.pixel_mean is None
    large = load_dataset("digits", input_size=32, normalize=False)
    assert large.train.images.shape == (1437, 1, 32, 32) and large.input_size == 32
    # bilinear upsampling keeps the mean brightness of every image close to the original
    np.testing.assert_allclose(
        large.train.images.mean(dim=(1, 2, 3)), native.train.images.mean(dim=(1, 2, 3)), atol=0.03
    )


def test_digits_split_is_stratified_and_seeded():
    bundle = load_dataset("digits", seed=0)
    train_counts = np.bincount(dataset_labels(bundle.train), minlength=10)
    test_counts = np.bincount(dataset_labels(bundle.test), minlength=10)
    totals = train_counts + test_counts  # sklearn digits: 174-183 per class
    np.testing.assert_array_less(np.abs(test_counts - 0.2 * totals), 1.0 + 1e-9)
    again = load_dataset("digits", seed=0)
    assert torch.equal(bundle.train.images, again.train.images)
    other = load_dataset("digits", seed=1)
    assert not torch.equal(bundle.train.images, other.train.images)


def test_digits_channels_and_subsampling():
    rgb = load_dataset("digits", channels=3, normalize=False)
    grey = load_dataset("digits", normalize=False)
    assert rgb.in_channels == 3 and rgb.train[0][0].shape == (3, 16, 16)
    assert torch.equal(rgb.train.images[:, 1:2], grey.train.images)
    small = load_dataset("digits", train_size=100, test_size=50)
    assert (len(small.train), len(small.test)) == (100, 50)
    np.testing.assert_array_equal(np.bincount(dataset_labels(small.train)), np.full(10, 10))
    np.testing.assert_array_equal(np.bincount(dataset_labels(small.test)), np.full(10, 5))
    with pytest.raises(ValueError, match="cannot draw 5000"):
        load_dataset("digits", train_size=5000)


def test_numbers_task_renders_digits_with_code_targets():
    bundle = load_dataset("numbers", train_size=95, test_size=40, seed=3)
    assert (len(bundle.train), len(bundle.test)) == (95, 40)
    assert bundle.targets_kind == "code" and bundle.num_classes == 10
    assert (bundle.in_channels, bundle.input_size) == (3, 32)
    np.testing.assert_array_equal(bundle.codes, number_codes())
    image, target = bundle.train[0]
    assert image.shape == (3, 32, 32) and target.shape == (100,)
    assert target.dtype == torch.float32
    images, targets = _stack(bundle.train)
    assert images.min() >= 0 and images.max() <= 1  # pixels / 255, never standardised
    labels = dataset_labels(bundle.train)
    np.testing.assert_array_equal(targets.numpy(), bundle.codes[labels])
    assert np.bincount(labels).min() >= 9  # stratified
    again = load_dataset("numbers", train_size=95, test_size=40, seed=3)
    assert torch.equal(bundle.train.images, again.train.images)
    assert not torch.equal(bundle.train.images[:40], bundle.test.images)


def test_numbers_default_sizes_and_options():
    bundle = load_dataset("numbers", input_size=20, channels=1, test_size=10)
    assert len(bundle.train) == 2000 and len(bundle.test) == 10
    assert bundle.train[0][0].shape == (1, 20, 20)


def test_unknown_dataset_lists_allowed_names():
    with pytest.raises(ValueError) as error:
        load_dataset("imagenet")
    for name in DATASETS:
        assert name in str(error.value)


def test_real_dataset_without_data_dir_is_a_clear_error():
    with pytest.raises(ValueError, match="data_dir"):
        load_dataset("mnist")


def test_missing_mnist_files_raise_with_folder_and_fix(tmp_path):
    with pytest.raises(DatasetUnavailableError) as error:
        load_dataset("mnist", data_dir=tmp_path)
    message = str(error.value)
    assert str(tmp_path / "MNIST" / "raw") in message
    assert "--download" in message and "data.dataset: digits" in message
    assert isinstance(error.value, FileNotFoundError)


def test_failed_download_raises_the_same_error(tmp_path, monkeypatch):
    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DatasetUnavailableError, match="'cifar10': download failed") as error:
        load_dataset("cifar10", data_dir=tmp_path, download=True)
    assert str(tmp_path / "cifar-10-batches-py") in str(error.value)


def _write_idx(path, array):
    dtype_code = 0x08  # unsigned byte
    header = struct.pack(">HBB", 0, dtype_code, array.ndim) + struct.pack(
        f">{array.ndim}I", *array.shape
    )
    path.write_bytes(header + array.astype(np.uint8).tobytes())


@pytest.fixture
def fake_mnist(tmp_path):
    """A tiny MNIST in torchvision's raw layout: 40 train and 20 test images."""
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 40), ("t10k", 20)):
        _write_idx(raw / f"{prefix}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28)))
        _write_idx(raw / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 10)
    return tmp_path


def test_mnist_from_torchvision_layout(fake_mnist):
    bundle = load_dataset("mnist", data_dir=fake_mnist)
    assert (len(bundle.train), len(bundle.test)) == (40, 20)
    image, target = bundle.train[3]
    assert image.shape == (1, 28, 28) and int(target) == 3
    assert bundle.class_names == [str(d) for d in range(10)]
    assert bundle.pixel_mean == (0.1307,) and bundle.pixel_std == (0.3081,)
    # spec normalisation (x - 0.1307) / 0.3081 of uint8 pixels / 255
    raw = torch.as_tensor(bundle.train.data[3], dtype=torch.float32) / 255
    torch.testing.assert_close(image[0], (raw - 0.1307) / 0.3081)


def test_mnist_channels_resize_and_subsample(fake_mnist):
    bundle = load_dataset(
        "mnist", data_dir=fake_mnist, channels=3, input_size=32, train_size=20, test_size=10
    )
    assert (len(bundle.train), len(bundle.test)) == (20, 10)
    image, _ = bundle.train[0]
    assert image.shape == (3, 32, 32) and bundle.in_channels == 3
    assert torch.equal(image[0], image[2])
    np.testing.assert_array_equal(np.bincount(dataset_labels(bundle.train)), np.full(10, 2))


def test_class_weights_hand_case():
    # counts 3, 1, 0, 2 -> inverse 1/3, 1, -, 1/2 -> mean 11/18 over present classes
    weights = class_weights([0, 0, 0, 1, 3, 3], num_classes=4)
    expected = torch.tensor([1 / 3, 1.0, 0.0, 1 / 2]) * 18 / 11
    torch.testing.assert_close(weights, expected)
    torch.testing.assert_close(class_weights(torch.arange(5), 5), torch.ones(5))
    with pytest.raises(ValueError, match="0..2"):
        class_weights([0, 3], num_classes=3)


def test_cifar100_category_sets_from_spec():
    assert CIFAR100_CATEGORY_SETS == {
        "people": [2, 11, 35, 46, 98],
        "houses": [17, 37, 76],
        "objects": [9, 10, 16, 20, 22],
    }


def test_imagefolder_reads_the_imagenet_layout(tmp_path):
    from PIL import Image

    from brainlike.data.images import DatasetUnavailableError, load_dataset

    rng = np.random.default_rng(0)
    for sub in ("train", "val"):
        for c in ("cat", "dog"):
            (tmp_path / sub / c).mkdir(parents=True)
            for i in range(3):
                pixels = (rng.random((40, 50, 3)) * 255).astype(np.uint8)
                Image.fromarray(pixels).save(tmp_path / sub / c / f"{i}.png")
    b = load_dataset("imagefolder", data_dir=tmp_path, input_size=32)
    assert b.class_names == ["cat", "dog"] and b.num_classes == 2 and len(b.test) == 6
    x, y = b.test[4]
    assert x.shape == (3, 32, 32) and y == 1
    assert b.pixel_mean == pytest.approx((0.485, 0.456, 0.406))
    g = load_dataset("imagefolder", data_dir=tmp_path, input_size=16, channels=1, train_size=4)
    assert g.train[0][0].shape == (1, 16, 16) and len(g.train) == 4
    with pytest.raises(DatasetUnavailableError, match="no train or val folder"):
        load_dataset("imagefolder", data_dir=tmp_path / "train", input_size=32)
