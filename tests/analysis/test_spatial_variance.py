"""Spatial variance, its uniform reference and null, and wiring length: hand cases."""

import numpy as np
import pytest

from brainlike.analysis.topography import (
    spatial_variance,
    spatial_variance_null,
    uniform_spatial_variance,
    wiring_length,
)
from brainlike.models.sheet import grid_coordinates


def _slow_spatial_variance(a: np.ndarray, c: np.ndarray) -> float:
    p = a / a.sum()
    mu = sum(p[k] * c[k] for k in range(len(p)))
    num = sum(p[k] * np.sum((c[k] - mu) ** 2) for k in range(len(p)))
    return num / (1 - sum(pk**2 for pk in p))


def test_two_units_hand_case():
    c = np.array([[0.0, 0.0], [0.0, 2.0]])
    # p = (1/2, 1/2): mu = (0, 1); num = 1; den = 1/2 -> 2 = d^2 / 2
    assert spatial_variance(np.array([1.0, 1.0]), c) == pytest.approx(2.0)
    # unequal weights (1/4, 3/4): num = 3/16 * 4 = 3/4; den = 1 - 10/16 = 3/8 -> 2 again
    assert spatial_variance(np.array([1.0, 3.0]), c) == pytest.approx(2.0)


def test_three_collinear_units_is_sample_variance():
    c = np.array([[0.0, 0.0], [0.0, 1.0], [0.0, 2.0]])
    # uniform: num = 2/3, den = 2/3 -> 1 = sample variance of (0, 1, 2)
    assert spatial_variance(np.ones(3), c) == pytest.approx(1.0)
    a = np.array([1.0, 2.0, 5.0])
    assert spatial_variance(a, c) == pytest.approx(_slow_spatial_variance(a, c))


def test_delta_zero_and_all_zero_nan():
    c = grid_coordinates(3, 3)
    delta = np.zeros(9)
    delta[4] = 2.5
    assert spatial_variance(delta, c) == 0.0
    # a convention, not a limit: any second active unit at distance 1 gives 1/2
    delta[5] = 1e-9
    assert spatial_variance(delta, c) == pytest.approx(0.5, rel=1e-6)
    assert np.isnan(spatial_variance(np.zeros(9), c))


def test_negative_and_mismatched_inputs_raise():
    c = grid_coordinates(2, 2)
    with pytest.raises(ValueError, match="negative"):
        spatial_variance(np.array([1.0, -0.1, 0.0, 0.0]), c)
    with pytest.raises(ValueError, match="match coords"):
        spatial_variance(np.ones(5), c)


def test_vectorised_maps_and_hw_input_match_slow_loop():
    rng = np.random.default_rng(0)
    c = grid_coordinates(4, 5)
    a = rng.random((2, 3, 20))
    v = spatial_variance(a, c)
    assert v.shape == (2, 3)
    for i in range(2):
        for j in range(3):
            assert v[i, j] == pytest.approx(_slow_spatial_variance(a[i, j], c))
    np.testing.assert_allclose(spatial_variance(a.reshape(2, 3, 4, 5), c), v)
    np.testing.assert_allclose(spatial_variance(7.0 * a, c), v)  # scale-free


def test_local_blob_below_uniform():
    c = grid_coordinates(7, 7)
    blob = np.exp(-((c - 3.0) ** 2).sum(1) / 2.0)
    assert spatial_variance(blob, c) < uniform_spatial_variance(7)


@pytest.mark.parametrize("n", [2, 3, 7, 64])
def test_uniform_closed_form(n):
    closed = 2 * (n**2 - 1) / 12 * n**2 / (n**2 - 1)
    assert closed == pytest.approx(n**2 / 6)
    assert uniform_spatial_variance(n) == pytest.approx(closed)
    assert uniform_spatial_variance((n, n)) == pytest.approx(closed)
    assert spatial_variance(np.ones(n * n), grid_coordinates(n, n)) == pytest.approx(closed)


def test_uniform_spec_values_and_rectangle():
    assert round(uniform_spatial_variance(7), 2) == 8.17  # spec: topography.md §2
    assert round(uniform_spatial_variance(64), 1) == 682.7
    c = grid_coordinates(3, 5)
    assert uniform_spatial_variance((3, 5)) == pytest.approx(_slow_spatial_variance(np.ones(15), c))
    assert np.isnan(uniform_spatial_variance(1))


def test_null_shuffles():
    c = grid_coordinates(6, 6)
    rng = np.random.default_rng(1)
    blobs = np.stack([np.exp(-((c - rng.uniform(1, 4, 2)) ** 2).sum(1) / 1.5) for _ in range(5)])
    res = spatial_variance_null(blobs, c, n_shuffles=30, seed=3)
    np.testing.assert_allclose(res["values"], spatial_variance(blobs, c))
    assert res["null_per_map"].shape == (5,) and res["null_values"].shape == (30,)
    assert res["mean"] < res["null_mean"] - 3 * res["null_std"]
    assert res["p_value"] == pytest.approx(1 / 31)
    again = spatial_variance_null(blobs, c, n_shuffles=30, seed=3)
    np.testing.assert_array_equal(again["null_values"], res["null_values"])
    # a uniform map is unchanged by any shuffle
    flat = spatial_variance_null(np.ones((2, 36)), c, n_shuffles=4)
    np.testing.assert_allclose(flat["null_values"], uniform_spatial_variance(6))
    assert flat["null_std"] == pytest.approx(0.0, abs=1e-9)


def test_wiring_length_hand_case_and_loop():
    # |1| * 0 + |-2| * 5
    w = np.array([[1.0, -2.0]])
    assert wiring_length(w, np.array([[0.0, 0.0], [3.0, 4.0]]), np.array([[0.0, 0.0]])) == 10.0
    assert wiring_length(
        w, np.array([[0.0, 0.0], [3.0, 4.0]]), np.zeros((1, 2)), metric="cityblock"
    ) == pytest.approx(14.0)
    rng = np.random.default_rng(2)
    w = rng.normal(size=(4, 6))
    ci, co = grid_coordinates(2, 3), grid_coordinates(2, 2)
    slow = sum(abs(w[i, j]) * np.linalg.norm(co[i] - ci[j]) for i in range(4) for j in range(6))
    assert wiring_length(w, ci, co) == pytest.approx(slow)
    with pytest.raises(ValueError, match="weight must be"):
        wiring_length(w.T, ci, co)
