"""Generated scenes (latents recoverable from the pixels), the scenes data set, and the
resolution knob of every image data set (sizes, the ImageNet crop geometry)."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from brainlike.data.images import load_dataset
from brainlike.data.scenes import FAR_DEPTH, GROUND_NEAR_DEPTH, SHAPES, TEXTURES, render_scenes


@pytest.fixture(scope="module")
def scenes():
    return render_scenes(300, size=64, seed=5)


def _centres(size: int) -> np.ndarray:
    return (2 * np.arange(size) + 1) / size - 1


def test_mask_centroid_is_the_latent_centre_within_a_pixel(scenes):
    c = _centres(64)
    m = scenes.mask
    area = m.sum(axis=(1, 2))
    cx = (m * c[None, None, :]).sum(axis=(1, 2)) / area
    cy = (m * c[None, :, None]).sum(axis=(1, 2)) / area
    # one pixel = 2 / 64 in image coordinates
    assert np.abs(cx - scenes.latents["x"]).max() < 2 / 64
    assert np.abs(cy - scenes.latents["y"]).max() < 2 / 64


def test_depth_map_is_the_object_depth_on_its_mask_and_the_ground_behind(scenes):
    d = scenes.depth[:, 0]
    for i in range(len(scenes)):
        np.testing.assert_allclose(d[i][scenes.mask[i]], scenes.latents["depth"][i], rtol=1e-6)
    background = d[~scenes.mask]
    assert background.min() >= GROUND_NEAR_DEPTH - 1e-5 and background.max() == FAR_DEPTH
    # ground plane: depth 5 / v below the horizon (bottom row v = 63/64)
    bottom = d[:, -1][~scenes.mask[:, -1]]
    np.testing.assert_allclose(bottom, GROUND_NEAR_DEPTH / (63 / 64), rtol=1e-5)
    assert (scenes.latents["depth"] < GROUND_NEAR_DEPTH).all()


def test_size_is_perspective_and_area_follows_the_shape(scenes):
    lat = scenes.latents
    np.testing.assert_allclose(lat["size"] * lat["depth"], lat["physical_size"], rtol=1e-12)
    # disks: area = pi (size * 32 px)^2 up to pixelisation
    disks = lat["category"] == SHAPES.index("disk")
    expected = np.pi * (lat["size"][disks] * 32) ** 2
    np.testing.assert_allclose(scenes.mask[disks].sum(axis=(1, 2)), expected, rtol=0.08)
    # squares of circumradius R: side R sqrt(2), area 2 R^2
    squares = lat["category"] == SHAPES.index("square")
    expected = 2 * (lat["size"][squares] * 32) ** 2
    np.testing.assert_allclose(scenes.mask[squares].sum(axis=(1, 2)), expected, rtol=0.12)


def test_textures_show_two_colours_and_plain_one(scenes):
    lat = scenes.latents
    for i in range(60):
        pixels = scenes.images[i].reshape(3, -1)[:, scenes.mask[i].reshape(-1)]
        n_colours = np.unique(np.round(pixels, 5), axis=1).shape[1]
        if lat["texture"][i] == TEXTURES.index("plain"):
            assert n_colours == 1
        elif scenes.mask[i].sum() > 200:  # big enough for a full period
            assert n_colours == 2


def test_determinism_ranges_and_grey(scenes):
    again = render_scenes(300, size=64, seed=5)
    np.testing.assert_array_equal(again.images, scenes.images)
    other = render_scenes(300, size=64, seed=6)
    assert not np.array_equal(other.latents["x"], scenes.latents["x"])
    assert scenes.images.dtype == np.float32 and scenes.depth.shape == (300, 1, 64, 64)
    assert 0 <= scenes.images.min() and scenes.images.max() <= 1
    assert set(np.unique(scenes.latents["category"])) == set(range(len(SHAPES)))
    grey = render_scenes(5, size=16, seed=5, channels=1)
    colour = render_scenes(5, size=16, seed=5)
    luma = np.tensordot([0.299, 0.587, 0.114], colour.images, axes=([0], [1]))
    np.testing.assert_allclose(grey.images[:, 0], luma, atol=1e-6)
    for bad in ({"n": 0}, {"n": 3, "size": 4}, {"n": 3, "channels": 2}):
        with pytest.raises(ValueError):
            render_scenes(**bad)


def test_scenes_dataset_labels_dense_depth_and_normalisation():
    b = load_dataset("scenes", train_size=40, test_size=20, seed=1)
    assert (len(b.train), len(b.test), b.num_classes, b.input_size) == (40, 20, 5, 64)
    assert b.class_names == list(SHAPES) and b.pipeline.startswith("rendered at 64 px")
    dense_train, dense_test = b.dense
    x, depth = dense_train[3]
    torch.testing.assert_close(x, b.train[3][0])
    assert depth.shape == (1, 64, 64) and len(dense_test) == 20
    # the test split is the second seed stream, rendered raw
    raw = torch.from_numpy(render_scenes(40, 64, seed=_stream(1, 0)).images)
    mean = torch.tensor(b.pixel_mean).view(1, 3, 1, 1)
    std = torch.tensor(b.pixel_std).view(1, 3, 1, 1)
    torch.testing.assert_close(b.train.images * std + mean, raw, atol=1e-5, rtol=0)
    assert abs(float(b.train.images.mean())) < 1e-5
    assert not torch.equal(b.test.images[:20], b.train.images[:20])


def _stream(seed: int, stream: int) -> int:
    return int(np.random.SeedSequence([seed, stream]).generate_state(1)[0])


@pytest.mark.parametrize("size", [32, 64, 128, 224])
def test_every_resolution_for_offline_sets(size):
    for name in ("digits", "scenes"):
        b = load_dataset(name, input_size=size, train_size=10, test_size=10)
        assert b.train[0][0].shape[-2:] == (size, size) and b.input_size == size
    assert load_dataset("scenes", input_size=size, train_size=10, test_size=10).dense[0][0][
        1
    ].shape == (1, size, size)


@pytest.fixture
def fake_cifar(tmp_path, monkeypatch):
    """A tiny CIFAR-10 in torchvision's pickle layout (10 images per batch)."""
    import torchvision

    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    for name in names:
        batch = {
            "data": rng.integers(0, 256, (10, 3072), dtype=np.uint8),
            "labels": list(range(10)),
        }
        with open(folder / name, "wb") as f:
            pickle.dump(batch, f)
    with open(folder / "batches.meta", "wb") as f:
        pickle.dump({"label_names": [f"c{i}" for i in range(10)]}, f)
    # no md5 sums for made-up files
    monkeypatch.setattr(torchvision.datasets.CIFAR10, "_check_integrity", lambda self: True)
    monkeypatch.setattr(torchvision.datasets.cifar, "check_integrity", lambda *a, **k: True)
    return tmp_path


@pytest.mark.parametrize("size", [32, 64, 128, 224])
def test_cifar_upsampled_to_the_input_size(fake_cifar, size):
    b = load_dataset("cifar10", data_dir=fake_cifar, input_size=size, normalize=False)
    x, _ = b.test[0]
    assert x.shape == (3, size, size) and b.input_size == size
    raw = torch.as_tensor(b.test.data[0]).permute(2, 0, 1).float() / 255
    if size == 32:
        torch.testing.assert_close(x, raw, atol=1e-6, rtol=0)
        assert "resized" not in b.pipeline
    else:
        assert f"resized to {size} px" in b.pipeline
        # an upsampling keeps the mean of a 32-px image (to the 8-bit rounding)
        assert abs(float(x.mean() - raw.mean())) < 0.01


def _ramp_folder(tmp_path, height=300, width=400):
    """An ImageNet layout whose images are ramps: red = column / (W-1), green = row / (H-1)."""
    from PIL import Image

    cols = np.arange(width) / (width - 1)
    rows = np.arange(height) / (height - 1)
    pixels = np.zeros((height, width, 3))
    pixels[..., 0] = cols[None, :]
    pixels[..., 1] = rows[:, None]
    for sub in ("train", "val"):
        for c in ("a", "b"):
            (tmp_path / sub / c).mkdir(parents=True)
            Image.fromarray(np.round(pixels * 255).astype(np.uint8)).save(
                tmp_path / sub / c / "0.png"
            )
    return tmp_path


@pytest.mark.parametrize("size", [32, 64, 128, 224])
def test_imagefolder_eval_is_resize_256_center_crop_224_then_resize(tmp_path, size):
    root = _ramp_folder(tmp_path)
    b = load_dataset("imagefolder", data_dir=root, input_size=size, normalize=False)
    x, _ = b.test[0]
    assert x.shape == (3, size, size)
    assert b.pipeline.endswith(
        "eval: resize 256 + center crop 224" + (f", then resize to {size}" if size != 224 else "")
    )
    # the shorter side (300) goes to 256, the longer to int(256 * 400 / 300) = 341; the
    # centre crop starts at row 16 and column round(58.5) = 58 of the resized image
    scale = 300 / 256
    j = np.arange(size)
    crop_coord = (j + 0.5) * 224 / size  # output pixel centres in the 224 crop
    col = (crop_coord + 58) * scale - 0.5  # in original pixels (pixel-centre convention)
    row = (crop_coord + 16) * scale - 0.5
    # a linear ramp survives (antialiased) bilinear resampling away from the image border
    inner = slice(1, size - 1)
    np.testing.assert_allclose(x[0].mean(0).numpy()[inner], (col / 399)[inner], atol=2.5 / 255)
    np.testing.assert_allclose(x[1].mean(1).numpy()[inner], (row / 299)[inner], atol=2.5 / 255)


def test_imagefolder_train_random_resized_crop_then_resize(tmp_path):
    root = _ramp_folder(tmp_path)
    b = load_dataset("imagefolder", data_dir=root, input_size=64, augment=True, normalize=False)
    assert b.pipeline.startswith("train: random resized crop 224 + horizontal flip, then resize")
    torch.manual_seed(0)
    crops = torch.stack([b.train[0][0] for _ in range(4)])
    assert crops.shape == (4, 3, 64, 64)
    assert not torch.equal(crops[0], crops[1])  # random crops
