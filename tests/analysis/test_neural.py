"""Neural comparison estimators: hand-computed cases, slow obvious implementations, and the
ground truth of simulated animals (spec: neural-evaluation.md §2, §4-§6, §8, §10)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.linear_model import Ridge
from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit
from threadpoolctl import threadpool_limits

from brainlike.analysis import neural as nl
from brainlike.analysis.mapping import make_mapping
from brainlike.analysis.neural import reliability
from brainlike.analysis.neural import splits as neural_splits
from brainlike.analysis.score import Score
from brainlike.data.simulate import random_features, simulate_animals


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    """The matrices here are tiny: threaded BLAS only adds contention on a busy machine."""
    with threadpool_limits(limits=1):
        yield


# --------------------------------------------------------------------------------------------
# slow obvious reference implementations
# --------------------------------------------------------------------------------------------


def _slow_half_averages(Y, perm, split_half="unequal"):
    """Per stimulus and neuroid: available trials in permuted order, first n // 2 vs the rest
    (unequal) or vs the next n // 2 (equal)."""
    S, N, _ = Y.shape
    y1, y2 = np.empty((S, N)), np.empty((S, N))
    for s in range(S):
        for n in range(N):
            trials = [Y[s, n, t] for t in perm if not np.isnan(Y[s, n, t])]
            h = len(trials) // 2
            y1[s, n] = np.mean(trials[:h])
            y2[s, n] = np.mean(trials[h:] if split_half == "unequal" else trials[h : 2 * h])
    return y1, y2


def _r(a, b):
    return np.corrcoef(a, b)[0, 1]


def _sb(r):
    return 2 * r / (1 + r)


def _slow_reliability(Y, n_bootstraps, seed, split_half="unequal"):
    rng = np.random.default_rng(seed)
    total = np.zeros(Y.shape[1])
    for _ in range(n_bootstraps):
        y1, y2 = _slow_half_averages(Y, rng.permutation(Y.shape[2]), split_half)
        for n in range(Y.shape[1]):
            total[n] += _sb(_r(y1[:, n], y2[:, n]))
    return total / n_bootstraps


def _streams(seed):
    return [np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2)]


def _slow_noise_corrected(X, Y, n_splits, frac, B, seed, source=None, numerator="halves"):
    """Spec §4 with explicit loops over bootstraps, splits and neuroids; sklearn Ridge."""
    split_rng, trial_rng = _streams(seed)
    splits = nl.train_test_splits(Y.shape[0], n_splits, frac, split_rng)
    perms = [trial_rng.permutation(Y.shape[2]) for _ in range(B)]
    N = Y.shape[1]
    scores = np.zeros((B, n_splits, N))
    warnings.simplefilter("ignore", RuntimeWarning)  # NaN bootstraps (pytest restores filters)
    for b, perm in enumerate(perms):
        y1, y2 = _slow_half_averages(Y, perm)
        if source is None:
            x1 = x2 = X
        else:
            x1, x2 = _slow_half_averages(source, perm)
        for s, (train, test) in enumerate(splits):
            for n in range(N):
                m1 = Ridge(alpha=1.0).fit(x1[train], y1[train, n])
                m2 = Ridge(alpha=1.0).fit(x2[train], y2[train, n])
                p1, p2 = m1.predict(x1[test]), m2.predict(x2[test])
                if numerator == "full":
                    xf = X if source is None else np.nanmean(source, axis=2)
                    yf = np.nanmean(Y[:, n], axis=1)
                    mf = Ridge(alpha=1.0).fit(xf[train], yf[train])
                    num = _r(mf.predict(xf[test]), yf[test])
                else:
                    num = _r(p1, y2[test, n])
                sb_map, sb_tgt = _sb(_r(p1, p2)), _sb(_r(y1[test, n], y2[test, n]))
                if sb_map > 0 and sb_tgt > 0:
                    scores[b, s, n] = num / np.sqrt(sb_map * sb_tgt)
                else:  # undefined: skipped in the averages
                    scores[b, s, n] = np.nan
    per_split = np.nanmean(scores, axis=0)  # (split, neuroid): mean over bootstraps
    return np.nanmean(per_split, axis=0), np.nanmedian(per_split, axis=1)


# --------------------------------------------------------------------------------------------
# Spearman-Brown, Pearson, reliability
# --------------------------------------------------------------------------------------------


def test_spearman_brown_hand_values():
    assert nl.spearman_brown(0.5) == pytest.approx(2 / 3)
    assert nl.spearman_brown(0.0) == 0.0
    assert nl.spearman_brown(1.0) == 1.0
    assert nl.spearman_brown(-0.5) == pytest.approx(-2.0)
    assert nl.spearman_brown(0.5, n=3) == pytest.approx(0.75)  # 3 * .5 / (1 + 2 * .5)
    assert np.isnan(nl.spearman_brown(-1.0))
    np.testing.assert_allclose(nl.spearman_brown(np.array([0.25, 0.6])), [0.4, 0.75])


def test_pearson_columns_matches_corrcoef_and_flags_constant_columns():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((30, 4)), rng.standard_normal((30, 4))
    a[:, 2] = 3.3  # constant
    r = nl.pearson_columns(a, b)
    for j in (0, 1, 3):
        assert r[j] == pytest.approx(_r(a[:, j], b[:, j]), abs=1e-12)
    assert np.isnan(r[2])
    assert nl.pearson_columns(a[:, 0], b[:, 0]) == pytest.approx(_r(a[:, 0], b[:, 0]))
    a2 = a.copy()
    a2[[1, 5], 0] = np.nan
    keep = np.setdiff1d(np.arange(30), [1, 5])
    omit = nl.pearson_columns(a2, b, nan_policy="omit")
    assert omit[0] == pytest.approx(_r(a[keep, 0], b[keep, 0]), abs=1e-12)
    assert omit[1] == pytest.approx(r[1], abs=1e-12)
    assert np.isnan(nl.pearson_columns(a2, b)[0])


@pytest.mark.parametrize("split_half", ["unequal", "equal"])
@pytest.mark.parametrize("ragged", [False, True])
def test_split_half_reliability_matches_slow_loop(ragged, split_half):
    rng = np.random.default_rng(1)
    Y = rng.standard_normal((12, 3, 5)) + rng.standard_normal((12, 3, 1)) * 2
    if ragged:
        Y[0, 0, 1] = Y[3, 1, 0] = Y[3, 1, 4] = Y[7, 2, 2] = np.nan
    fast = nl.split_half_reliability(Y, n_bootstraps=7, seed=3, split_half=split_half)
    np.testing.assert_allclose(fast, _slow_reliability(Y, 7, 3, split_half), atol=1e-12)


# 4 stimuli, 1 neuroid, 3 trials t0, t1, t2: r(t0, t1) = 0.8, r(t0, t2) = 0.6, r(t1, t2) = 0
_ODD = np.stack([[1.0, 2.0, 3.0, 4.0], [1.0, 3.0, 2.0, 4.0], [2.0, 1.0, 4.0, 3.0]], axis=1)[
    :, None, :
]


def test_split_half_with_three_trials_by_hand():
    """Odd trial counts: unequal halves average 1 trial against 2; equal ones 1 against 1."""
    seed = 5
    perm = np.random.default_rng(seed).permutation(3)  # the one bootstrap's permutation
    t = _ODD[:, 0, :]
    first, second, third = t[:, perm[0]], t[:, perm[1]], t[:, perm[2]]
    unequal = nl.split_half_reliability(_ODD, n_bootstraps=1, seed=seed)
    equal = nl.split_half_reliability(_ODD, n_bootstraps=1, seed=seed, split_half="equal")
    assert unequal[0] == pytest.approx(_sb(_r(first, (second + third) / 2)), abs=1e-12)
    assert equal[0] == pytest.approx(_sb(_r(first, second)), abs=1e-12)
    # hand values of the two trial pairs that can meet under "equal"
    pair = {frozenset(p): r for p, r in (((0, 1), 0.8), ((0, 2), 0.6), ((1, 2), 0.0))}
    assert _r(t[:, 0], t[:, 1]) == pytest.approx(0.8)
    assert _r(t[:, 0], t[:, 2]) == pytest.approx(0.6)
    assert _r(t[:, 1], t[:, 2]) == pytest.approx(0.0)
    assert equal[0] == pytest.approx(_sb(pair[frozenset(perm[:2].tolist())]))


def test_brainscore_internal_consistency_with_three_repetitions_by_hand():
    # halving trial 0 vs trials (2, 1): unequal averages trials 1 and 2, equal keeps trial 2
    t = _ODD[:, 0, :]
    unequal = nl.brainscore_internal_consistency(_ODD, halvings=[([0], [2, 1])])
    equal = nl.brainscore_internal_consistency(_ODD, halvings=[([0], [2, 1])], split_half="equal")
    assert unequal.value == pytest.approx(_sb(_r(t[:, 0], (t[:, 1] + t[:, 2]) / 2)))
    assert equal.value == pytest.approx(_sb(0.6))
    assert (unequal.parameters["split_half"], equal.parameters["split_half"]) == (
        "unequal",
        "equal",
    )
    # the default random halvings of 3 slots: ShuffleSplit gives 1 vs 2, equal keeps 1 vs 1
    ((first, second),) = ShuffleSplit(n_splits=1, train_size=0.5, random_state=1).split(np.zeros(3))
    assert (len(first), len(second)) == (1, 2)
    eq = nl.brainscore_internal_consistency(_ODD, n_halvings=1, split_half="equal")
    assert eq.value == pytest.approx(_sb(_r(t[:, first[0]], t[:, second[0]])))


def test_split_half_convention_is_recorded_and_changes_only_odd_counts():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((30, 8))
    signal = X @ rng.standard_normal((8, 4))
    odd = signal[:, :, None] + rng.standard_normal((30, 4, 5))
    kwargs = {"mapping": "ridge", "n_splits": 2, "n_bootstraps": 3}
    a = nl.noise_corrected_predictivity(X, odd, **kwargs)
    b = nl.noise_corrected_predictivity(X, odd, split_half="equal", **kwargs)
    assert (a.parameters["split_half"], b.parameters["split_half"]) == ("unequal", "equal")
    assert a.value != pytest.approx(b.value, abs=1e-9)
    even = odd[:, :, :4]
    c = nl.noise_corrected_predictivity(X, even, **kwargs)
    d = nl.noise_corrected_predictivity(X, even, split_half="equal", **kwargs)
    assert c.value == pytest.approx(d.value, abs=1e-12)
    p = nl.plain_predictivity(X, odd, split_half="equal", **kwargs)
    assert p.parameters["split_half"] == "equal"
    with pytest.raises(ValueError, match="split_half must be one of"):
        nl.split_half_reliability(odd, split_half="halves")


def test_split_half_reliability_needs_two_trials_and_names_the_stimulus():
    Y = np.random.default_rng(0).standard_normal((6, 2, 3))
    Y[4, 1, :2] = np.nan
    with pytest.raises(ValueError, match=r"stimulus 'img_4' \(index 4\) has 1 for neuroid 1"):
        nl.split_half_reliability(Y, stimulus_ids=[f"img_{i}" for i in range(6)])


def test_split_half_reliability_with_time_bins():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((20, 3, 6, 2)) + rng.standard_normal((20, 3, 1, 2))
    rel = nl.split_half_reliability(Y, n_bootstraps=5, seed=0)
    assert rel.shape == (3, 2)
    np.testing.assert_allclose(rel[:, 1], nl.split_half_reliability(Y[..., 1], 5, seed=0))


@pytest.mark.parametrize(
    "kwargs",
    [
        {"noise_sd": 1.0, "n_trials": 10},
        {"noise_sd": 2.0, "n_trials": 6},
        {"noise_sd": 1.5, "n_trials": 10, "ragged_fraction": 0.35},
        {"noise": "poisson", "mean_count": 0.5, "n_trials": 8},
    ],
)
def test_reliability_matches_the_analytic_value(kwargs):
    features = random_features(400, 200, seed=0)
    sim = simulate_animals(features, n_animals=4, units_per_animal=50, seed=1, **kwargs)
    measured = nl.split_half_reliability(sim.responses, n_bootstraps=40, seed=0)
    expected = sim.expected_reliability()
    assert np.median(measured) == pytest.approx(np.median(expected), abs=0.02)
    assert np.median(np.abs(measured - expected)) < 0.04


def test_select_reliable_neuroids():
    features = random_features(100, 60, seed=0)
    sim = simulate_animals(features, n_animals=3, units_per_animal=10, n_trials=6, seed=0)
    noise = np.random.default_rng(0).standard_normal((100, 5, 6)) * 3  # unreliable neuroids
    Y = np.concatenate([sim.responses, noise], axis=1)
    keep = nl.select_reliable_neuroids(Y, threshold=0.5, n_bootstraps=10)
    assert keep[:30].all() and not keep[30:].any()
    animal = np.concatenate([sim.animal, ["animal9"] * 5])
    keep = nl.select_reliable_neuroids(Y, 0.5, 10, animal=animal, min_per_animal=11)
    assert not keep.any()


def test_train_test_splits():
    splits = nl.train_test_splits(20, n_splits=4, train_fraction=0.5, seed=0)
    assert len(splits) == 4
    for train, test in splits:
        assert len(train) == 10 and len(test) == 10
        np.testing.assert_array_equal(np.sort(np.concatenate([train, test])), np.arange(20))
    labels = np.repeat(["a", "b", "c", "d"], 5)
    for train, _ in nl.train_test_splits(20, 3, 0.6, seed=1, stratify=labels):
        assert [np.sum(labels[train] == c) for c in "abcd"] == [3, 3, 3, 3]
    with pytest.raises(ValueError, match="need at least 2 and 3"):
        nl.train_test_splits(4, train_fraction=0.5)


# --------------------------------------------------------------------------------------------
# noise-corrected predictivity vs a slow implementation
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_case():
    rng = np.random.default_rng(7)
    X = rng.standard_normal((16, 5))
    Y = (X @ rng.standard_normal((5, 3)))[:, :, None] + rng.standard_normal((16, 3, 6))
    Y[2, 0, 3] = Y[9, 2, 0] = Y[9, 2, 5] = np.nan  # ragged
    source = (X @ rng.standard_normal((5, 4)))[:, :, None] + rng.standard_normal((16, 4, 5))
    source[4, 1, 2] = np.nan
    return X, Y, source


@pytest.mark.parametrize("numerator", ["halves", "full"])
def test_noise_corrected_predictivity_matches_slow_loop(small_case, numerator):
    X, Y, _ = small_case
    score = nl.noise_corrected_predictivity(
        X, Y, Ridge(alpha=1.0), n_splits=2, n_bootstraps=3, seed=5, numerator=numerator
    )
    raw, per_split = _slow_noise_corrected(X, Y, 2, 0.5, 3, 5, numerator=numerator)
    np.testing.assert_allclose(score.raw, raw, atol=1e-10)
    np.testing.assert_allclose(score.per_split, per_split, atol=1e-10)
    assert score.value == pytest.approx(np.median(raw), abs=1e-10)
    assert score.error == pytest.approx(raw.std(ddof=1) / np.sqrt(3), abs=1e-10)
    assert score.metric == "noise_corrected_predictivity"
    assert score.provenance["trials_min"] == 4 and score.provenance["ragged"]


@pytest.mark.parametrize("numerator", ["halves", "full"])
def test_noise_corrected_predictivity_with_source_animal_matches_slow_loop(small_case, numerator):
    X, Y, source = small_case
    score = nl.noise_corrected_predictivity(
        None,
        Y,
        Ridge(alpha=1.0),
        n_splits=2,
        n_bootstraps=3,
        seed=2,
        source_trials=source,
        numerator=numerator,
    )
    # the source has 5 trial slots, the target 6: the source is padded with a NaN slot
    padded = np.concatenate([source, np.full((16, 4, 1), np.nan)], axis=2)
    raw, _ = _slow_noise_corrected(X, Y, 2, 0.5, 3, 2, source=padded, numerator=numerator)
    np.testing.assert_allclose(score.raw, raw, atol=1e-10)


def test_denominator_terms_at_or_below_zero_give_nan():
    num = np.array([0.5, 0.5, 0.5, 0.3])
    r_map = np.array([0.8, 0.0, -0.2, 0.6])
    r_tgt = np.array([0.6, 0.7, 0.7, 0.5])
    out = reliability._corrected(num, r_map, r_tgt)
    assert out[0] == pytest.approx(0.5 / np.sqrt(_sb(0.8) * _sb(0.6)))
    assert np.isnan(out[1]) and np.isnan(out[2])
    assert out[3] == pytest.approx(0.3 / np.sqrt(_sb(0.6) * _sb(0.5)))


# --------------------------------------------------------------------------------------------
# ground truth: simulated animals
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def brain():
    """A rank-10 generating layer; 4 animals of 25 neuroids each, reliability about 0.9."""
    features = random_features(160, 200, seed=0, rank=10)
    sim = simulate_animals(features, n_animals=4, units_per_animal=25, n_trials=10, seed=1)
    unrelated = random_features(160, 200, seed=5)
    return features, sim, unrelated


_FAST = {"n_splits": 3, "n_bootstraps": 4, "seed": 0}


@pytest.mark.parametrize(
    "mapping", [make_mapping("ridge"), make_mapping("pls", n_components=10)], ids=["ridge", "pls"]
)
def test_generating_layer_reaches_the_inter_animal_ceiling(brain, mapping):
    features, sim, unrelated = brain
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = nl.noise_corrected_predictivity(
            features, sim.responses, mapping, animal=sim.animal, **_FAST
        )
        ceiling = nl.inter_animal_consistency(sim.responses, sim.animal, mapping, **_FAST)
        random = nl.noise_corrected_predictivity(
            unrelated, sim.responses, mapping, animal=sim.animal, **_FAST
        )
    assert model.value > 0.9
    assert 0.9 <= model.value / ceiling.score.value <= 1.1
    assert abs(random.value) < 0.3
    assert abs(random.value / ceiling.score.value) < 0.3
    assert ceiling.score.raw.shape == (100,) and set(ceiling.per_animal) == set(sim.animal)


def test_full_numerator_is_unbiased_for_the_generating_layer(brain):
    features, sim, _ = brain
    mapping = make_mapping("pls", n_components=10)
    full = nl.noise_corrected_predictivity(
        features, sim.responses, mapping, numerator="full", animal=sim.animal, **_FAST
    )
    halves = nl.noise_corrected_predictivity(
        features, sim.responses, mapping, animal=sim.animal, **_FAST
    )
    assert full.value == pytest.approx(1.0, abs=0.03)
    # the halves form is low by sqrt(r_map r_tgt / (SB(r_map) SB(r_tgt)))
    p = halves.provenance
    r_map, r_tgt = p["median_mapping_consistency"], p["median_target_split_half_r"]
    bias = np.sqrt(r_map * r_tgt / (_sb(r_map) * _sb(r_tgt)))
    assert halves.value == pytest.approx(bias, abs=0.03)


def test_one_to_one_recovers_the_generating_unit(brain):
    features, sim, _ = brain
    mean = np.nanmean(sim.responses, axis=2)
    mapping = make_mapping("one_to_one").fit(features, mean)
    np.testing.assert_array_equal(mapping.source_index_, sim.source_units)
    score = nl.noise_corrected_predictivity(
        features, sim.responses, "one_to_one", numerator="full", **_FAST
    )
    assert score.value == pytest.approx(1.0, abs=0.03)


def test_pooled_and_pairwise_designs_are_the_source_animal_estimator(small_case):
    X, Y, _ = small_case
    rng = np.random.default_rng(3)
    Y = np.concatenate([Y, (X @ rng.standard_normal((5, 3)))[:, :, None] + Y[:, :, :] * 0.5], 1)
    animal = np.array(["a", "a", "b", "b", "c", "c"])
    kw = {"n_splits": 2, "n_bootstraps": 3, "seed": 4}
    ridge = Ridge(alpha=1.0)
    pooled = nl.inter_animal_consistency(Y, animal, ridge, **kw)
    pairwise = nl.inter_animal_consistency(Y, animal, ridge, design="pairwise", **kw)
    for target in "abc":
        cols = animal == target
        others = nl.noise_corrected_predictivity(
            None, Y[:, cols], ridge, source_trials=Y[:, ~cols], **kw
        )
        np.testing.assert_allclose(pooled.per_animal[target].raw, others.raw, atol=1e-12)
        np.testing.assert_allclose(pooled.score.raw[cols], others.raw, atol=1e-12)
        singles = [
            nl.noise_corrected_predictivity(
                None, Y[:, cols], ridge, source_trials=Y[:, animal == s], **kw
            ).raw
            for s in "abc"
            if s != target
        ]
        np.testing.assert_allclose(pairwise.score.raw[cols], np.mean(singles, 0), atol=1e-12)
    assert pooled.score.value == pytest.approx(np.median(pooled.score.raw))
    assert pooled.design == "pooled" and pairwise.design == "pairwise"
    assert pooled["pooled"] is pooled.score and pooled["b"] is pooled.per_animal["b"]
    assert pooled.value == pooled.score.value


def test_inter_animal_consistency_rejects_one_animal():
    Y = np.random.default_rng(0).standard_normal((10, 4, 4))
    with pytest.raises(ValueError, match="at least 2 animals"):
        nl.inter_animal_consistency(Y, ["a"] * 4)


def test_plain_predictivity_corrections(brain):
    features, sim, _ = brain
    Y = sim.responses[:, :25]
    mapping = make_mapping("pls", n_components=10)
    sqrt = nl.plain_predictivity(features, Y, mapping, correction="sqrt", **_FAST)
    ratio = nl.plain_predictivity(features, Y, mapping, correction="ratio", **_FAST)
    rel = nl.split_half_reliability(Y, n_bootstraps=4, seed=neural_splits._streams(0, 2)[1])
    np.testing.assert_allclose(ratio.raw, sqrt.raw / np.sqrt(rel), rtol=1e-12)
    assert sqrt.value == pytest.approx(1.0, abs=0.04)
    assert ratio.ceiling == pytest.approx(np.median(rel))


# --------------------------------------------------------------------------------------------
# RSA and CKA
# --------------------------------------------------------------------------------------------


def test_rdm_hand_case():
    patterns = np.array([[1.0, 2, 3], [3, 2, 1], [1, 3, 2]])
    # r(a, b) = -1, r(a, c) = 0.5, r(b, c) = -0.5
    expected = np.array([[0, 2, 0.5], [2, 0, 1.5], [0.5, 1.5, 0]])
    np.testing.assert_allclose(nl.rdm(patterns), expected, atol=1e-12)


def test_compare_rdms_hand_case():
    a = np.array([[0, 2, 0.5], [2, 0, 1.5], [0.5, 1.5, 0]])  # upper: 2, 0.5, 1.5
    b = np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]])  # upper: 1, 0, 2
    assert nl.compare_rdms(a, b) == pytest.approx(np.sqrt(3 / 7))
    assert nl.compare_rdms(a, b, method="spearman") == pytest.approx(0.5)
    # the diagonal is never used
    b2 = b + np.eye(3) * 9
    assert nl.compare_rdms(a, b2) == pytest.approx(np.sqrt(3 / 7))


def test_compare_rdms_accepts_condensed_row_vectors_in_squareform_order():
    from scipy.spatial.distance import squareform

    # 4 stimuli; the upper triangle row by row is 1, 2, 3, 4, 5, 6
    square = np.zeros((4, 4))
    square[np.triu_indices(4, k=1)] = [1, 2, 3, 4, 5, 6]
    square += square.T
    np.testing.assert_array_equal(squareform(square), [1, 2, 3, 4, 5, 6])
    row = np.array([[1.0, 2, 3, 4, 5, 6]])  # 1 x n(n-1)/2, as loaded from a MATLAB file
    assert nl.compare_rdms(square, row) == pytest.approx(1.0)
    assert nl.compare_rdms(row, row.T) == pytest.approx(1.0)
    # entries (1, 3) and (2, 3) swapped: r between 1..6 and 1, 2, 3, 4, 6, 5 is 16.5 / 17.5
    assert nl.compare_rdms(square, [[1.0, 2, 3, 4, 6, 5]]) == pytest.approx(33 / 35)
    # the 3-stimulus hand case of test_compare_rdms_hand_case as a row vector
    b = np.array([[0, 1, 0], [1, 0, 2], [0, 2, 0]])
    assert nl.compare_rdms([[2, 0.5, 1.5]], b) == pytest.approx(np.sqrt(3 / 7))
    rng = np.random.default_rng(3)
    d = squareform(rng.random(15))  # 6 stimuli
    v = rng.random(15)
    assert nl.compare_rdms(d, v[None]) == pytest.approx(np.corrcoef(squareform(d), v)[0, 1])
    with pytest.raises(ValueError, match=r"got 7, between 6 \(4 stimuli\) and 10 \(5 stimuli\)"):
        nl.compare_rdms(np.ones((1, 7)), np.ones(7))
    with pytest.raises(ValueError, match="must be square .* or a condensed upper triangle"):
        nl.compare_rdms(np.ones((2, 3)), np.ones(3))


def test_rsa_is_invariant_to_pattern_scaling_and_offsets():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((8, 6))
    Y = X * rng.uniform(1, 3, (8, 1)) + rng.standard_normal((8, 1))
    assert nl.rsa(X, Y) == pytest.approx(1.0)
    assert nl.rsa(X, rng.standard_normal((8, 4))) < 0.9


def test_noise_corrected_rsa_matches_slow_loop_and_truth(brain):
    features, sim, _ = brain
    Y = sim.responses[:, :50]
    animal = sim.animal[:50]
    score = nl.noise_corrected_rsa(features, Y, 3, animal=animal, seed=1)
    trial_rng = _streams(1)[1]
    perms = [trial_rng.permutation(10) for _ in range(3)]
    expected = []
    for a in ("animal0", "animal1"):
        vals = []
        for perm in perms:
            y1, y2 = _slow_half_averages(Y[:, animal == a], perm)
            vals.append(nl.rsa(features, y2) / np.sqrt(_sb(nl.rsa(y1, y2))))
        expected.append(np.mean(vals))
    np.testing.assert_allclose(score.raw, expected, atol=1e-12)
    assert score.value == pytest.approx(np.median(expected))
    # the animal's own noiseless rates as the model: about 1 with the unbiased numerator
    own = nl.noise_corrected_rsa(
        sim.rates[:, :25], sim.responses[:, :25], 4, seed=0, numerator="full"
    )
    assert own.value == pytest.approx(1.0, abs=0.03)


def test_inter_animal_rsa(brain):
    _, sim, _ = brain
    result = nl.inter_animal_consistency(sim.responses, sim.animal, "rsa", n_bootstraps=3)
    assert result.mapping == "rsa" and result.score.raw.shape == (4,)
    assert result.score.value == pytest.approx(np.median(result.score.raw))
    assert 0.6 < result.score.value < 1.1


def _slow_unbiased_hsic(K, L):
    n = K.shape[0]
    Kt, Lt = K.copy(), L.copy()
    for i in range(n):
        Kt[i, i] = Lt[i, i] = 0.0
    trace = sum(Kt[i, j] * Lt[j, i] for i in range(n) for j in range(n))
    sum_k = sum(Kt[i, j] for i in range(n) for j in range(n))
    sum_l = sum(Lt[i, j] for i in range(n) for j in range(n))
    cross = sum(Kt[i, j] * Lt[j, k] for i in range(n) for j in range(n) for k in range(n))
    return (trace + sum_k * sum_l / ((n - 1) * (n - 2)) - 2 * cross / (n - 2)) / (n * (n - 3))


def test_linear_cka():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((9, 5)) + 2
    Y = X @ rng.standard_normal((5, 7)) + rng.standard_normal((9, 7))
    q, _ = np.linalg.qr(rng.standard_normal((5, 5)))
    assert nl.linear_cka(X, X) == pytest.approx(1.0)
    assert nl.linear_cka(X, X @ q) == pytest.approx(1.0)
    assert nl.linear_cka(X, 3 * X + 1) == pytest.approx(1.0)
    assert nl.linear_cka(X, X @ q, unbiased=True) == pytest.approx(1.0)
    # one column each: biased linear CKA is the squared Pearson r (0.8^2)
    x, y = np.array([[1.0], [2], [3], [4]]), np.array([[1.0], [3], [2], [4]])
    assert nl.linear_cka(x, y) == pytest.approx(0.64)
    # feature-space and Gram-space forms agree (wide Y takes the Gram path)
    wide = rng.standard_normal((9, 40))
    xc, wc = X - X.mean(0), wide - wide.mean(0)
    direct = np.linalg.norm(wc.T @ xc) ** 2 / (
        np.linalg.norm(xc.T @ xc) * np.linalg.norm(wc.T @ wc)
    )
    assert nl.linear_cka(X, wide) == pytest.approx(direct, rel=1e-10)
    K, L = X @ X.T, Y @ Y.T
    slow = _slow_unbiased_hsic(K, L) / np.sqrt(
        _slow_unbiased_hsic(K, K) * _slow_unbiased_hsic(L, L)
    )
    assert nl.linear_cka(X, Y, unbiased=True) == pytest.approx(slow, rel=1e-10)


# --------------------------------------------------------------------------------------------
# Brain-Score conventions
# --------------------------------------------------------------------------------------------


def test_ceiled_score_conventions():
    assert nl.ceiled_score(0.5, 0.8, "r2_over_ceiling") == pytest.approx(0.3125)
    assert nl.ceiled_score(0.5, 0.8, "squared_ratio") == pytest.approx(0.390625)
    assert nl.ceiled_score(0.5, 0.8, "ratio") == pytest.approx(0.625)
    assert nl.ceiled_score(0.9, 0.8, "ratio") == pytest.approx(1.125)  # not clipped
    score = nl.ceiled_score(Score(0.5, 0.02), 0.8, "squared_ratio")
    assert score.ceiled == pytest.approx(0.390625) and score.convention == "squared_ratio"
    assert score.ceiling == 0.8 and score.value == 0.5
    assert score.provenance["ceiled_error"] == pytest.approx(2 * 0.5 / 0.64 * 0.02)
    with pytest.raises(ValueError, match="convention"):
        nl.ceiled_score(0.5, 0.8, "clipped")


def test_brainscore_internal_consistency_hand_case():
    # 4 stimuli, 2 neuroids, 2 repetitions: one halving, repetition 0 vs 1
    Y = np.zeros((4, 2, 2))
    Y[:, 0, 0], Y[:, 0, 1] = [1, 2, 3, 4], [1, 3, 2, 4]  # r = 0.8
    Y[:, 1, 0], Y[:, 1, 1] = [1, 2, 3, 4], [2, 1, 4, 3]  # r = 0.6
    score = nl.brainscore_internal_consistency(Y, halvings=[([0], [1])])
    np.testing.assert_allclose(score.raw, [_sb(0.8), _sb(0.6)])
    assert score.value == pytest.approx((_sb(0.8) + _sb(0.6)) / 2)  # median of two
    # two halvings: median over neuroids, then mean over halvings
    score2 = nl.brainscore_internal_consistency(Y, halvings=[([0], [1]), ([1], [0])])
    assert score2.per_split == pytest.approx([score.value, score.value])
    assert score2.error == pytest.approx(0.0)


def test_brainscore_internal_consistency_uses_brainscore_halvings():
    rng = np.random.default_rng(0)
    Y = rng.standard_normal((10, 3, 6)) + rng.standard_normal((10, 3, 1))
    default = nl.brainscore_internal_consistency(Y, n_halvings=4, seed=1)
    halvings = list(ShuffleSplit(n_splits=4, train_size=0.5, random_state=1).split(np.zeros(6)))
    values = []
    for first, second in halvings:
        h1, h2 = Y[:, :, first].mean(2), Y[:, :, second].mean(2)
        values.append(np.median([_sb(_r(h1[:, n], h2[:, n])) for n in range(3)]))
    assert default.value == pytest.approx(np.mean(values), abs=1e-12)
    assert default.error == pytest.approx(np.std(values) / 2, abs=1e-12)


def test_brainscore_predictivity_aggregation_by_hand():
    rng = np.random.default_rng(2)
    X = rng.standard_normal((12, 3))
    Y = X[:, :, None] + rng.standard_normal((12, 3, 4))
    splits = [(np.arange(0, 6), np.arange(6, 12)), (np.arange(6, 12), np.arange(0, 6))]
    # the identity "mapping" predicts X itself: r per neuroid is r(X[test, n], mean[test, n])
    score = nl.brainscore_predictivity(X, Y, "identity", splits=splits)
    mean = Y.mean(axis=2)
    r = np.array([[_r(X[test, n], mean[test, n]) for n in range(3)] for _, test in splits])
    medians = np.median(r, axis=1)
    assert score.per_split == pytest.approx(medians, abs=1e-12)
    assert score.value == pytest.approx(medians.mean(), abs=1e-12)
    # Brain-Score's standard error: std with ddof=0 over splits / sqrt(n_splits)
    assert score.error == pytest.approx(abs(medians[0] - medians[1]) / 2 / np.sqrt(2))
    ceiled = nl.brainscore_predictivity(X, Y, "identity", splits=splits, ceiling=0.9)
    assert ceiled.ceiled == pytest.approx(score.value**2 / 0.9)
    assert ceiled.convention == "r2_over_ceiling"


def test_brainscore_splits_follow_sklearn():
    labels = np.repeat(["car", "dog", "cat", "boat"], 10)
    splits = nl.brainscore_splits(40, labels)
    ref = StratifiedShuffleSplit(n_splits=10, train_size=0.9, random_state=1)
    for (train, test), (rtrain, rtest) in zip(splits, ref.split(np.zeros(40), labels), strict=True):
        np.testing.assert_array_equal(train, rtrain)
        np.testing.assert_array_equal(test, rtest)
        assert sorted(labels[test]) == ["boat", "car", "cat", "dog"]
    # repeated ids: every presentation of a stimulus follows its id
    ids = np.repeat([f"s{i}" for i in range(20)], 2)
    for train, test in nl.brainscore_splits(ids, n_splits=3):
        assert not set(ids[train]) & set(ids[test])
        assert len(test) == 4


def test_brainscore_rsa_ceilings_by_hand():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((8, 10))
    subjects = [base + rng.standard_normal((8, 10)) * 0.8 for _ in range(2)]
    X = base + rng.standard_normal((8, 10)) * 0.3
    score = nl.brainscore_rsa(X, subjects)
    rdms = [nl.rdm(s) for s in subjects]
    mean = (rdms[0] + rdms[1]) / 2
    upper = np.mean([nl.compare_rdms(r, mean, "spearman") for r in rdms])
    lower = nl.compare_rdms(rdms[0], rdms[1], "spearman")  # leave-one-out with 2 subjects
    raw = [nl.compare_rdms(nl.rdm(X), r, "spearman") for r in rdms]
    assert score.ceiling == pytest.approx(upper)
    assert score.provenance["ceiling_lower"] == pytest.approx(lower)
    assert score.value == pytest.approx(np.mean(raw))
    assert score.ceiled == pytest.approx(np.mean(raw) / upper)
    assert score.convention == "ratio"
    # one array with animal labels gives the same result
    both = nl.brainscore_rsa(X, np.concatenate(subjects, 1), animal=["a"] * 10 + ["b"] * 10)
    assert both.value == pytest.approx(score.value) and both.ceiling == pytest.approx(upper)
