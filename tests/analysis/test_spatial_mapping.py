"""Ridge mapping of rate maps, the pooled inter-animal ceiling, KS match and ablation effects."""

import numpy as np
import pytest
from scipy import stats
from sklearn.linear_model import Ridge

from brainlike.analysis.spatial_mapping import (
    ablation_effect,
    bin_splits,
    inter_animal_ceiling,
    map_units_to_cells,
    score_distribution_match,
)

N = 20  # bins per side


def grid_map(period: float, theta: float, phase) -> np.ndarray:
    y, x = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    k = 4 * np.pi / (np.sqrt(3) * period)
    g = sum(
        np.cos(k * (np.cos(theta + t) * (x - phase[0]) + np.sin(theta + t) * (y - phase[1])))
        for t in (0.0, np.pi / 3, 2 * np.pi / 3)
    )
    return np.maximum(g, 0).ravel()


def place_map(cx: float, cy: float, sigma: float = 2.5) -> np.ndarray:
    y, x = np.meshgrid(np.arange(N), np.arange(N), indexing="ij")
    return np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * sigma**2)).ravel()


def generating_maps(rng: np.random.Generator, n_grid: int = 12, n_place: int = 8) -> np.ndarray:
    grids = [
        grid_map(rng.uniform(5, 9), rng.uniform(0, np.pi / 3), rng.uniform(0, 8, 2))
        for _ in range(n_grid)
    ]
    places = [place_map(*rng.uniform(0, N, 2)) for _ in range(n_place)]
    return np.stack(grids + places)  # (20, 400)


def mixtures(gen: np.ndarray, n: int, rng: np.random.Generator, noise: float) -> np.ndarray:
    w = rng.normal(size=(n, gen.shape[0]))
    clean = w @ gen
    return clean + noise * clean.std() * rng.normal(size=clean.shape)


def test_ridge_recovers_the_generating_units_and_not_an_unrelated_set():
    rng = np.random.default_rng(1)
    gen = generating_maps(rng)
    targets = mixtures(gen, 30, rng, noise=0.1)
    unrelated = rng.normal(size=gen.shape)  # maps with no spatial relation to the targets
    good = map_units_to_cells(gen, targets)
    bad = map_units_to_cells(unrelated, targets)
    assert good.per_cell.shape == (30,) and good.per_split.shape == (10, 30)
    assert good.median > 0.95
    assert abs(bad.median) < 0.15
    assert good.bins_used == N * N and good.bins_dropped == 0
    assert (good.train_fraction, good.splits, good.alpha) == (0.2, 10, 1.0)
    assert 0 < good.median_se < 0.02


def test_matches_sklearn_ridge_and_corrcoef_in_a_slow_loop():
    rng = np.random.default_rng(2)
    source = rng.normal(size=(3, 30))
    target = source[:2] * 2.0 + rng.normal(size=(2, 30))
    target[1] += 0.5 * source[2]
    got = map_units_to_cells(source, target, splits=3, alpha=0.7, seed=5)
    expected = np.zeros((3, 2))
    for s, (train, test) in enumerate(bin_splits(30, 0.2, 3, seed=5)):
        assert len(train) == 6 and len(test) == 24
        model = Ridge(alpha=0.7).fit(source[:, train].T, target[:, train].T)
        pred = model.predict(source[:, test].T)
        for c in range(2):
            expected[s, c] = np.corrcoef(pred[:, c], target[c, test])[0, 1]
    np.testing.assert_allclose(got.per_split, expected, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(got.per_cell, expected.mean(axis=0), rtol=1e-10)
    assert got.median == pytest.approx(np.median(expected.mean(axis=0)))


def test_nan_bins_are_dropped_and_counted():
    rng = np.random.default_rng(3)
    source = rng.normal(size=(4, 50))
    target = source[:3] + 0.5 * rng.normal(size=(3, 50))
    src_nan, tgt_nan = source.copy(), target.copy()
    src_nan[1, [0, 7]] = np.nan
    tgt_nan[2, [7, 20, 33]] = np.nan  # bin 7 is NaN in both: 4 distinct bins
    got = map_units_to_cells(src_nan, tgt_nan, splits=4)
    keep = np.setdiff1d(np.arange(50), [0, 7, 20, 33])
    ref = map_units_to_cells(source[:, keep], target[:, keep], splits=4)
    assert got.bins_dropped == 4 and got.bins_used == 46
    np.testing.assert_array_equal(got.per_split, ref.per_split)


def test_constant_target_cell_scores_nan_and_is_left_out_of_the_median():
    rng = np.random.default_rng(4)
    source = rng.normal(size=(3, 40))
    target = np.vstack([source[0] + 0.1 * rng.normal(size=40), np.full(40, 2.0)])
    got = map_units_to_cells(source, target, splits=2)
    assert np.isnan(got.per_cell[1]) and got.n_scored == 1 and got.n_cells == 2
    assert got.median == pytest.approx(got.per_cell[0])


def test_bad_inputs_are_refused_with_one_line():
    with pytest.raises(ValueError, match="same spatial bins"):
        map_units_to_cells(np.zeros((2, 10)), np.zeros((2, 11)))
    with pytest.raises(ValueError, match=r"\(cells, bins\)"):
        map_units_to_cells(np.zeros((2, 4, 4)), np.zeros((2, 16)))
    with pytest.raises(ValueError, match="at least 2"):
        map_units_to_cells(np.ones((2, 6)), np.ones((2, 6)))
    with pytest.raises(ValueError, match="train_fraction"):
        map_units_to_cells(np.ones((2, 60)), np.ones((2, 60)), train_fraction=1.2)


def test_ceiling_high_for_one_population_low_for_different_ones():
    rng = np.random.default_rng(5)
    gen = generating_maps(rng)
    same = {a: mixtures(gen, 25, rng, noise=0.1) for a in ("m1", "m2")}
    ceiling = inter_animal_ceiling(same, splits=5)
    assert set(ceiling.per_animal) == {"m1", "m2"}
    assert ceiling.per_cell.shape == (50,)
    assert ceiling.median > 0.9
    other = rng.normal(size=gen.shape)  # an unrelated population of maps
    different = {"m1": mixtures(gen, 25, rng, 0.1), "m2": mixtures(other, 25, rng, 0.1)}
    low = inter_animal_ceiling(different, splits=5)
    assert abs(low.median) < 0.15
    # a model mapped to the same cells, relative to the ceiling
    model = map_units_to_cells(gen, np.vstack(list(same.values())), splits=5)
    assert ceiling.fraction(model) == pytest.approx(model.median / ceiling.median)


def test_ceiling_pools_every_other_animal_as_source():
    rng = np.random.default_rng(6)
    maps = {a: rng.normal(size=(n, 60)) for a, n in (("a", 3), ("b", 4), ("c", 2))}
    ceiling = inter_animal_ceiling(maps, splits=2, seed=1)
    direct = map_units_to_cells(np.vstack([maps["a"], maps["c"]]), maps["b"], splits=2, seed=1)
    np.testing.assert_array_equal(ceiling.per_animal["b"].per_cell, direct.per_cell)
    with pytest.raises(ValueError, match="at least two animals"):
        inter_animal_ceiling({"a": maps["a"]})


def test_ks_matches_scipy_on_finite_values():
    model = np.array([0.1, 0.5, np.nan, 0.9, 1.2, -0.3, np.nan])
    data = np.array([0.2, 0.3, 0.35, np.inf, 0.4])
    got = score_distribution_match(model, data)
    ref = stats.ks_2samp([0.1, 0.5, 0.9, 1.2, -0.3], [0.2, 0.3, 0.35, 0.4])
    assert got.statistic == pytest.approx(ref.statistic) and got.pvalue == pytest.approx(ref.pvalue)
    # by hand: the empirical CDFs differ most at x = 0.4 (model 2/5, data 4/4)
    assert got.statistic == pytest.approx(0.6)
    assert (got.n_model, got.n_data, got.dropped_model, got.dropped_data) == (5, 4, 2, 1)
    with pytest.raises(ValueError, match="finite scores"):
        score_distribution_match([np.nan], [1.0])


def test_ablation_reports_the_known_differences():
    weight = np.full(20, 0.1)
    weight[[2, 5, 11]] = 1.0  # the decoder relies on these three units

    def decode_error(units):
        return 3.0 + (0.0 if units is None else float(weight[list(units)].sum()))

    scores = np.full(20, 0.0)
    scores[[2, 5, 11]] = [0.4, 0.9, 0.31]
    scores[7] = np.nan
    got = ablation_effect(decode_error, scores, threshold=0.3, n_random=6, seed=2)
    np.testing.assert_array_equal(got.units, [2, 5, 11])
    assert got.baseline == 3.0
    assert got.targeted == pytest.approx(6.0) and got.targeted_minus_baseline == pytest.approx(3.0)
    assert got.random_units.shape == (6, 3)
    for draw, err in zip(got.random_units, got.random, strict=True):
        assert len(set(draw.tolist())) == 3 and draw.min() >= 0 and draw.max() < 20
        assert err == pytest.approx(3.0 + weight[draw].sum())
    assert got.random_mean == pytest.approx(got.random.mean())
    assert got.random_sd == pytest.approx(got.random.std(ddof=1))
    assert got.targeted_minus_random == pytest.approx(6.0 - got.random.mean())
    assert got.random_minus_baseline == pytest.approx(got.random.mean() - 3.0)
    # a random draw can only cost as much as the targeted one if it hits all three tuned units
    assert got.random_mean < got.targeted


def test_ablation_refuses_when_no_unit_passes():
    with pytest.raises(ValueError, match="no unit scores above 0.3"):
        ablation_effect(lambda units: 1.0, np.array([0.1, np.nan, 0.3]), threshold=0.3)
