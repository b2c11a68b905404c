"""Simulated animals: ground truth, noise model, ragged trials, analytic reliability."""

from __future__ import annotations

import numpy as np
import pytest

from brainlike.data.simulate import (
    SimulatedAnimals,
    random_features,
    random_relu_layers,
    simulate_animals,
)


@pytest.fixture(scope="module")
def features():
    return random_features(120, 300, seed=0)


def test_animals_are_disjoint_subsets_of_the_brain(features):
    sim = simulate_animals(features, n_animals=4, units_per_animal=20, n_trials=6, seed=3)
    assert sim.responses.shape == (120, 80, 6)
    assert sim.rates.shape == (120, 80)
    assert list(np.unique(sim.animal)) == ["animal0", "animal1", "animal2", "animal3"]
    assert np.all(sim.region == "IT")
    # different neurons of one brain: no unit shared across animals
    assert len(np.unique(sim.source_units)) == 80
    # each neuroid is its standardised generating unit (signal_sd = 1)
    f = features[:, sim.source_units]
    z = (f - f.mean(0)) / f.std(0)
    np.testing.assert_allclose(sim.rates, z, atol=1e-12)
    np.testing.assert_allclose(sim.rates.std(axis=0), 1.0, atol=1e-12)


def test_gaussian_noise_has_the_requested_sd(features):
    sim = simulate_animals(features, n_trials=40, noise_sd=0.7, seed=1)
    residual = sim.responses - sim.rates[:, :, None]
    assert residual.std() == pytest.approx(0.7, rel=0.01)
    assert abs(residual.mean()) < 0.005


def test_units_overlap_when_the_layer_is_too_small():
    f = random_features(50, 30, seed=0)
    sim = simulate_animals(f, n_animals=3, units_per_animal=20, seed=0)
    for name in np.unique(sim.animal):
        units = sim.source_units[sim.animal == name]
        assert len(np.unique(units)) == 20  # without replacement within an animal
    with pytest.raises(ValueError, match="at most 30 units per animal"):
        simulate_animals(f, units_per_animal=31)


def test_mixing_makes_positive_combinations(features):
    sim = simulate_animals(features, mixing=True, units_per_mix=3, units_per_animal=10, seed=2)
    assert np.all(sim.source_units == -1)
    assert sim.mixing_units.shape == (40, 3) and np.all(sim.mixing_weights > 0)
    n = 7
    combo = features[:, sim.mixing_units[n]] @ sim.mixing_weights[n]
    expected = (combo - combo.mean()) / combo.std()
    np.testing.assert_allclose(sim.rates[:, n], expected, atol=1e-12)
    # mixed units come from the animal's own pool: pools are disjoint across animals
    pools = [set(sim.mixing_units[sim.animal == a].ravel()) for a in np.unique(sim.animal)]
    assert all(pools[i].isdisjoint(pools[j]) for i in range(4) for j in range(i + 1, 4))


def test_poisson_counts_have_the_requested_mean(features):
    sim = simulate_animals(features, noise="poisson", mean_count=4.0, n_trials=30, seed=0)
    assert np.all(sim.responses >= 0) and np.all(sim.responses == np.round(sim.responses))
    np.testing.assert_allclose(sim.rates.mean(axis=0), 4.0, rtol=1e-12)
    assert sim.responses.mean() == pytest.approx(4.0, rel=0.01)
    # Poisson: trial variance equals the rate
    var = sim.responses.var(axis=2, ddof=1).mean()
    assert var == pytest.approx(sim.rates.mean(), rel=0.03)


def test_ragged_trials_keep_two_per_stimulus(features):
    sim = simulate_animals(features, n_trials=10, ragged_fraction=0.4, seed=5)
    counts = sim.trial_counts
    assert counts.min() >= 2 and counts.max() <= 10
    assert np.isnan(sim.responses).mean() == pytest.approx(0.4, abs=0.03)
    # a missing trial is missing for every neuroid of that animal (one presentation)
    a0 = sim.animal == "animal0"
    nan0 = np.isnan(sim.responses[:, a0, :])
    assert np.all(nan0 == nan0[:, :1, :])
    with pytest.raises(ValueError, match="at least 2"):
        simulate_animals(features, n_trials=4, ragged_fraction=0.6)


def test_expected_reliability_formula():
    rates = np.random.default_rng(0).standard_normal((50, 3)) * np.array([1.0, 0.5, 2.0])
    sim = SimulatedAnimals(
        responses=np.zeros((50, 3, 8)),
        rates=rates,
        animal=np.array(["a"] * 3),
        region=np.array(["IT"] * 3),
        source_units=np.arange(3),
        noise_sd=1.5,
        n_trials=8,
    )
    s2 = rates.var(axis=0, ddof=1)
    # even R without missing trials: SB(r_half) = s2 / (s2 + sigma^2 / R)
    np.testing.assert_allclose(sim.expected_reliability(), s2 / (s2 + 1.5**2 / 8), rtol=1e-12)
    r_half = s2 / (s2 + 2 * 1.5**2 / 8)
    np.testing.assert_allclose(sim.expected_reliability(), 2 * r_half / (1 + r_half))


def test_several_regions(features):
    layers = {"V1": features[:, :150], "IT": features[:, 150:] ** 2}
    sim = simulate_animals(layers, n_animals=2, units_per_animal=10, seed=0)
    assert sim.responses.shape == (120, 40, 10)
    assert list(sim.region) == ["V1"] * 20 + ["IT"] * 20
    assert list(sim.animal[:20]) == ["animal0"] * 10 + ["animal1"] * 10
    it = sim.region == "IT"
    f = layers["IT"][:, sim.source_units[it]]
    np.testing.assert_allclose(sim.rates[:, it], (f - f.mean(0)) / f.std(0), atol=1e-12)
    with pytest.raises(ValueError, match="same stimuli"):
        simulate_animals({"a": features, "b": features[:10]})


def test_seed_reproducibility(features):
    a = simulate_animals(features, seed=11, ragged_fraction=0.2)
    b = simulate_animals(features, seed=11, ragged_fraction=0.2)
    np.testing.assert_array_equal(a.responses, b.responses)
    c = simulate_animals(features, seed=12)
    assert not np.array_equal(a.source_units, c.source_units)


def test_random_features_and_relu_layers():
    f = random_features(40, 30, seed=0, rank=5)
    assert f.shape == (40, 30) and np.linalg.matrix_rank(f) == 5
    images = np.random.default_rng(0).random((20, 1, 8, 8))
    layers = random_relu_layers(images, widths=(32, 16), seed=0)
    assert list(layers) == ["layer1", "layer2"]
    assert layers["layer1"].shape == (20, 32) and layers["layer2"].shape == (20, 16)
    assert layers["layer1"].min() >= 0
    # about half of the responses are active
    assert 0.3 < np.mean(layers["layer1"] > 0) < 0.7


def test_to_recording(features):
    pytest.importorskip("brainlike.data.recordings")
    sim = simulate_animals(features, n_animals=2, units_per_animal=5, n_trials=4, seed=0)
    rec = sim.to_recording()
    assert rec.shape == (120, 10, 4)
    np.testing.assert_array_equal(np.asarray(rec.values), sim.responses)
    assert list(rec["animal"].values) == list(sim.animal)
    assert str(rec["stimulus_id"].values[3]) == "stim0003"
