"""The batched two-view augmentations (brainlike.data.views)."""

import math

import numpy as np
import torch
import torch.nn.functional as F

from brainlike.data.views import ViewAugmenter, ViewSettings

OFF = {
    "crop_scale": (1.0, 1.0),
    "jitter_prob": 0.0,
    "grayscale_prob": 0.0,
    "blur_prob": 0.0,
    "flip_prob": 0.0,
}


def images(n=4, c=3, size=12, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def gen(seed=1):
    return torch.Generator().manual_seed(seed)


def test_everything_off_returns_the_images_through_the_normalisation():
    x = images()
    aug = ViewAugmenter(ViewSettings(**OFF), (0.5, 0.4, 0.3), (0.2, 0.25, 0.5))
    torch.testing.assert_close(aug(x, gen()), x, atol=1e-5, rtol=0)
    assert not ViewSettings(**OFF).varies and ViewSettings().varies


def test_flip_with_probability_one_mirrors_every_image():
    x = images()
    aug = ViewAugmenter(ViewSettings(**{**OFF, "flip_prob": 1.0}))
    torch.testing.assert_close(aug(x, gen()), x.flip(-1), atol=1e-5, rtol=0)


def test_grayscale_is_the_luma_in_all_three_channels_and_skipped_for_one_channel():
    x = images()
    out = ViewAugmenter(ViewSettings(**{**OFF, "grayscale_prob": 1.0}))(x, gen())
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    for c in range(3):
        torch.testing.assert_close(out[:, c], luma)
    x1 = images(c=1)
    torch.testing.assert_close(
        ViewAugmenter(ViewSettings(**{**OFF, "grayscale_prob": 1.0}))(x1, gen()), x1
    )


def test_blur_equals_a_per_image_gaussian_convolution():
    x = images(n=3, c=2, size=20)
    settings = ViewSettings(**{**OFF, "blur_prob": 1.0})
    g = gen(5)
    out = ViewAugmenter(settings)(x, g)
    # the same draws, replayed: crop (5 draws of n), jitter (5 of n), grayscale (1 of n), sigma
    replay = gen(5)
    for _ in range(11):
        torch.rand(3, generator=replay)
    sigma = 0.1 + 1.9 * torch.rand(3, generator=replay)
    size = 3  # int(0.1 * 20) = 2 -> the odd 3
    for i in range(3):
        k = torch.tensor([math.exp(-(o**2) / (2 * float(sigma[i]) ** 2)) for o in (-1, 0, 1)])
        k = k / k.sum()
        kernel = (k[:, None] * k[None, :]).view(1, 1, size, size).repeat(2, 1, 1, 1)
        padded = F.pad(x[i : i + 1], (1, 1, 1, 1), mode="reflect")
        torch.testing.assert_close(
            out[i : i + 1], F.conv2d(padded, kernel, groups=2), atol=1e-5, rtol=0
        )


def test_views_depend_only_on_the_generator_and_differ_per_sample():
    x = images(n=1).repeat(8, 1, 1, 1)  # eight copies of one image
    aug = ViewAugmenter(ViewSettings())
    a, b = aug(x, gen(3)), aug(x, gen(3))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    flat = a.flatten(1)
    assert torch.cdist(flat, flat)[~torch.eye(8, dtype=torch.bool)].min() > 1e-3
    assert float(a.min()) >= 0.0 and float(a.max()) <= 1.0


def test_crop_of_a_quarter_of_the_image_magnifies_it():
    # scale fixed at 0.25 and ratio 1: a half-side window, resized back to the full side
    x = torch.arange(16.0).view(1, 1, 4, 4).repeat(64, 1, 1, 1)
    settings = ViewSettings(**{**OFF, "crop_scale": (0.25, 0.25), "crop_ratio": (1.0, 1.0)})
    out = ViewAugmenter(settings)(x, gen())
    # output pixel centres at +-0.75, +-0.25 of a window half as wide: the outer ones 1.5 input
    # columns apart (values grow by 1 per column); windows at the edge clamp to the border
    spans = (out[:, 0, :, -1] - out[:, 0, :, 0]).numpy()
    assert spans.max() <= 1.5 + 1e-4 and np.median(spans) == np.float32(1.5)
    full = ViewAugmenter(ViewSettings(**OFF))(x, gen())
    assert float((full[:, 0, :, -1] - full[:, 0, :, 0]).max()) == 3.0


def test_one_channel_jitter_changes_brightness_and_contrast_only():
    x = images(c=1)
    out = ViewAugmenter(ViewSettings(**{**OFF, "jitter_prob": 1.0}))(x, gen())
    assert out.shape == x.shape and not torch.allclose(out, x)


def test_hue_rotation_keeps_grey_and_a_full_turn_is_the_identity():
    from brainlike.data.views import _rotate_hue

    x = images(n=2)
    grey = x[:, :1].expand(-1, 3, -1, -1)
    torch.testing.assert_close(_rotate_hue(grey, torch.tensor([0.1, -0.3])), grey)
    torch.testing.assert_close(_rotate_hue(x, torch.tensor([1.0, 0.0])), x, atol=1e-5, rtol=0)
    # half a turn flips the chroma: the mean of the two images is their luma
    half = _rotate_hue(x, torch.tensor([0.5, 0.5]))
    luma = 0.299 * x[:, 0] + 0.587 * x[:, 1] + 0.114 * x[:, 2]
    torch.testing.assert_close((half + x)[:, 0] / 2, luma, atol=1e-5, rtol=0)
