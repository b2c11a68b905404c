"""Tests of the generated stimuli: number codes and rendered digits."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from brainlike.data.stimuli import available_digit_fonts, number_codes, render_digits


def _cosines(codes: np.ndarray) -> np.ndarray:
    unit = codes / np.linalg.norm(codes, axis=1, keepdims=True)
    return unit @ unit.T


def _distance_spearman(similarity: np.ndarray) -> float:
    """Rank correlation of numerical distance with the mean similarity of pairs that far apart."""
    distances = np.arange(1, len(similarity))
    by_distance = [np.diag(similarity, d).mean() for d in distances]
    return spearmanr(distances, by_distance)[0]


# spec: topography.md §1, number codes (properties of the codes of the original runs)
def test_number_codes_default_seed_matches_original_properties():
    codes = number_codes()
    assert codes.shape == (10, 100)
    assert codes.dtype == np.float32
    assert codes.min() >= 0
    np.testing.assert_allclose(codes.max(axis=1), 1.0)
    # code(0) binary with 10 active units
    assert set(np.unique(codes[0])) == {0.0, 1.0}
    assert np.count_nonzero(codes[0]) == 10
    nonzero = np.count_nonzero(codes[1:], axis=1)
    assert np.all((nonzero >= 46) & (nonzero <= 55))

    similarity = _cosines(codes)
    consecutive = np.diag(similarity, 1)
    original = np.array([0.31, 0.53, 0.81, 0.83, 0.85, 0.92, 0.97, 0.96, 0.96])
    assert spearmanr(np.arange(9), consecutive)[0] > 0.9
    assert consecutive[0] < 0.5 and consecutive[-1] > 0.93
    assert np.abs(consecutive - original).mean() < 0.1
    assert _distance_spearman(similarity) < -0.95


@pytest.mark.parametrize("seed", range(1, 9))
def test_number_codes_properties_hold_across_seeds(seed):
    codes = number_codes(seed=seed)
    assert np.count_nonzero(codes[0]) == 10
    nonzero = np.count_nonzero(codes[1:], axis=1)
    assert np.all((nonzero >= 40) & (nonzero <= 60))
    similarity = _cosines(codes)
    consecutive = np.diag(similarity, 1)
    assert spearmanr(np.arange(9), consecutive)[0] > 0.7
    assert consecutive[:3].mean() < consecutive[-3:].mean() - 0.2
    assert _distance_spearman(similarity) < -0.8


def test_number_codes_mean_profile_over_seeds_tracks_original():
    profile = np.mean([np.diag(_cosines(number_codes(seed=s)), 1) for s in range(40)], axis=0)
    original = np.array([0.31, 0.53, 0.81, 0.83, 0.85, 0.92, 0.97, 0.96, 0.96])
    assert np.all(np.diff(profile) > 0)
    assert np.abs(profile - original).max() < 0.1


def test_number_codes_deterministic_and_seed_dependent():
    np.testing.assert_array_equal(number_codes(seed=3), number_codes(seed=3))
    assert not np.array_equal(number_codes(seed=3), number_codes(seed=4))


def test_number_codes_other_shapes_and_errors():
    codes = number_codes(n_numbers=15, dim=40, n_active_zero=4)
    assert codes.shape == (15, 40)
    assert np.all(np.count_nonzero(codes[1:], axis=1) == 20)
    with pytest.raises(ValueError, match="n_active_zero"):
        number_codes(dim=5)
    with pytest.raises(ValueError, match="n_numbers"):
        number_codes(n_numbers=0)


def test_available_digit_fonts_are_bundled_dejavu_with_digits():
    fonts = available_digit_fonts()
    assert "DejaVuSans" in fonts and "DejaVuSerif-Bold" in fonts
    assert not any("Display" in name for name in fonts)  # no digit glyphs in those
    assert len(fonts) >= 8


def test_render_digits_shapes_range_balance_and_determinism():
    images, labels = render_digits(20, size=24, channels=3, rng=7)
    assert images.shape == (200, 3, 24, 24)
    assert images.dtype == np.float32 and labels.dtype == np.int64
    assert images.min() >= 0.0 and images.max() <= 1.0
    assert images.max() > 0.99  # glyph interiors are full white
    np.testing.assert_array_equal(np.bincount(labels), np.full(10, 20))
    np.testing.assert_array_equal(images[:, 0], images[:, 2])
    again, labels_again = render_digits(20, size=24, channels=3, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(images, again)
    np.testing.assert_array_equal(labels, labels_again)
    other, _ = render_digits(20, size=24, channels=3, rng=8)
    assert not np.array_equal(images, other)
    # every image holds a glyph, and glyphs stay inside the frame
    ink = images[:, 0].sum(axis=(1, 2))
    assert ink.min() > 5


def _nearest_mean_accuracy(**kwargs) -> float:
    train, train_y = render_digits(40, rng=0, **kwargs)
    test, test_y = render_digits(20, rng=1, **kwargs)
    train, test = train.reshape(len(train), -1), test.reshape(len(test), -1)
    means = np.stack([train[train_y == d].mean(axis=0) for d in range(10)])
    distances = ((test[:, None, :] - means[None]) ** 2).sum(axis=-1)
    return float((distances.argmin(axis=1) == test_y).mean())


def test_rendered_digits_are_distinguishable():
    # Centred glyphs of a fixed size: class means separate the digits almost perfectly.
    assert _nearest_mean_accuracy(max_shift=0.0, scale_range=(0.8, 0.8)) > 0.9
    # With random sizes and shifts a template matcher still beats chance (0.1) by far.
    assert _nearest_mean_accuracy() > 0.25


def test_render_digits_font_choice_and_errors(tmp_path):
    sans, _ = render_digits(3, fonts=["DejaVuSans"], rng=0)
    serif, _ = render_digits(3, fonts=["DejaVuSerif-Bold"], rng=0)
    assert not np.array_equal(sans, serif)
    with pytest.raises(ValueError, match="available"):
        render_digits(1, fonts=["NoSuchFont"])
    with pytest.raises(ValueError, match="channels"):
        render_digits(1, channels=2)


def test_render_digits_is_fast():
    import time

    start = time.perf_counter()
    render_digits(100, rng=0)
    assert time.perf_counter() - start < 2.0
