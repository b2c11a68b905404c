"""Inter-animal consistency per mapping class and the area-by-area map, on animals whose
answer is known analytically (spec: neural-evaluation.md §5, §8)."""

from __future__ import annotations

import numpy as np
import pytest

from brainlike.analysis.neural import inter_animal_consistency, split_half_reliability
from brainlike.analysis.neural.area_map import (
    consistency_per_mapping,
    inter_animal_area_map,
    plot_area_map,
)
from brainlike.data.simulate import simulate_animals

FAST = {"n_splits": 4, "n_bootstraps": 6, "seed": 0}


def _unit_var(x: np.ndarray) -> np.ndarray:
    return (x - x.mean(0)) / x.std(0)


@pytest.fixture(scope="module")
def three_areas():
    """Areas A and B read independent rank-4 latent spaces; C reads both, each with half its
    variance. Every neuroid of an area lies in the span of the other animals' neuroids."""
    rng = np.random.default_rng(0)
    n = 200
    la, lb = rng.standard_normal((n, 4)), rng.standard_normal((n, 4))
    # make the two latent spaces exactly uncorrelated over these stimuli
    q, _ = np.linalg.qr(np.column_stack([np.ones(n), la, lb]))
    la, lb = q[:, 1:5] * np.sqrt(n), q[:, 5:9] * np.sqrt(n)
    fa = la @ rng.standard_normal((4, 60))
    fb = lb @ rng.standard_normal((4, 60))
    fc = _unit_var(la @ rng.standard_normal((4, 60))) + _unit_var(lb @ rng.standard_normal((4, 60)))
    sim = simulate_animals(
        {"A": fa, "B": fb, "C": fc},
        n_animals=3,
        units_per_animal=14,
        n_trials=8,
        noise_sd=0.7,
        seed=1,
    )
    return sim, sim.to_recording()


def test_consistency_near_one_in_the_span_and_per_mapping_table(three_areas):
    sim, rec = three_areas
    table = consistency_per_mapping(rec, ("ridge", "pls", "rsa", "one_to_one"), **FAST)
    assert list(table) == ["A", "B", "C"]
    for area in ("A", "B", "C"):
        # the linear maps recover a neuroid that lies in the span of the source: ~1
        assert table[area]["ridge"].value == pytest.approx(1.0, abs=0.08), area
        assert table[area]["pls"].value == pytest.approx(1.0, abs=0.08), area
        # RSA compares geometry without a fit: other animals' neuroids are other random
        # projections of the same latent space, so their RDMs agree only partly
        assert 0.3 < table[area]["rsa"].value < table[area]["ridge"].value, area
        # a single other neuron is not the same neuron: one-to-one falls below the linear maps
        assert table[area]["one_to_one"].value < table[area]["ridge"].value - 0.05
    # the table is the existing estimator, not a second one
    Y = sim.responses[:, sim.region == "A"]
    direct = inter_animal_consistency(Y, sim.animal[sim.region == "A"], "ridge", **FAST)
    assert table["A"]["ridge"].value == direct.value


def test_area_map_matches_its_analytic_values(three_areas, tmp_path):
    _, rec = three_areas
    amap = inter_animal_area_map(rec, ("ridge",), **FAST)
    v = amap.values["ridge"]
    assert amap.areas == ["A", "B", "C"]
    # diagonal: each area's own ceiling, ~1; A and B share nothing: ~0
    np.testing.assert_allclose(np.diag(v), 1.0, atol=0.08)
    assert abs(v[0, 1]) < 0.15 and abs(v[1, 0]) < 0.15
    # C from A (or B): half of every C neuroid's variance is explained, r = sqrt(1/2)
    assert v[0, 2] == pytest.approx(np.sqrt(0.5), abs=0.1)
    assert v[1, 2] == pytest.approx(np.sqrt(0.5), abs=0.1)
    # A from C: C's neuroids span A's latent space too (with B's added as noise-free extra
    # dimensions), so A is well predicted from C
    assert v[2, 0] > 0.8
    assert all(amap.diagonal_is_column_max("ridge").values())
    # the diagonal equals the per-mapping table (same splits, same halvings)
    table = consistency_per_mapping(rec, ("ridge",), **FAST)
    assert v[2, 2] == table["C"]["ridge"].value
    out = plot_area_map(amap, tmp_path / "map.png")
    assert (tmp_path / "map.png").stat().st_size > 1000 and out == tmp_path / "map.png"
    d = amap.to_dict()
    assert d["rows"] == "source area" and len(d["values"]["ridge"]) == 3


def test_calcium_reliability_has_its_closed_form():
    rng = np.random.default_rng(3)
    sim = simulate_animals(
        rng.standard_normal((200, 40)),
        n_animals=1,
        units_per_animal=40,
        n_trials=10,
        noise="calcium",
        noise_sd=2.0,
        seed=2,
    )
    # non-negative mean dF/F, signal s.d. 1 over stimuli
    assert sim.rates.min() >= 0
    np.testing.assert_allclose(sim.rates.std(axis=0), 1.0, rtol=1e-12)
    # closed form: s2 / (s2 + sigma^2 / R) with s2 the rates' variance (ddof 1)
    s2 = sim.rates.var(axis=0, ddof=1)
    np.testing.assert_allclose(sim.expected_reliability(), s2 / (s2 + 4.0 / 10), rtol=1e-12)
    measured = split_half_reliability(sim.responses, n_bootstraps=20, seed=0)
    assert np.median(measured) == pytest.approx(np.median(sim.expected_reliability()), abs=0.03)


def test_poisson_reliability_matches_measurement():
    rng = np.random.default_rng(4)
    sim = simulate_animals(
        rng.standard_normal((200, 40)),
        n_animals=1,
        units_per_animal=40,
        n_trials=10,
        noise="poisson",
        mean_count=0.3,
        seed=2,
    )
    s2 = sim.rates.var(axis=0, ddof=1)
    noise = sim.rates.mean(axis=0) / 5  # Poisson: variance = rate; halves of 5 trials
    r_half = s2 / (s2 + noise)
    np.testing.assert_allclose(sim.expected_reliability(), 2 * r_half / (1 + r_half), rtol=1e-12)
    measured = split_half_reliability(sim.responses, n_bootstraps=20, seed=0)
    assert np.median(measured) == pytest.approx(np.median(sim.expected_reliability()), abs=0.04)


def test_bad_input_refused(three_areas):
    _, rec = three_areas
    with pytest.raises(ValueError, match="no area 'VISx'"):
        inter_animal_area_map(rec, ("ridge",), regions=["A", "VISx"])
    with pytest.raises(ValueError, match="unknown mapping class 'cka'"):
        consistency_per_mapping(rec, ("cka",))
    Y = np.zeros((10, 4, 3))
    with pytest.raises(ValueError, match="source must share the target's stimuli"):
        inter_animal_consistency(
            np.random.default_rng(0).standard_normal((10, 4, 3)),
            ["a", "a", "b", "b"],
            source=Y[:, :, :2],
            source_animal=["a", "a", "b", "b"],
        )
    with pytest.raises(ValueError, match="no source neuroids of another animal"):
        inter_animal_consistency(
            np.random.default_rng(0).standard_normal((10, 4, 3)),
            ["a", "a", "b", "b"],
            source=np.random.default_rng(1).standard_normal((10, 2, 3)),
            source_animal=["a", "a"],
        )
