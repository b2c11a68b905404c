"""Object solution times: I1 from probabilities, per-step decoding, OSTs, consistency, mappings."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm, spearmanr
from sklearn.svm import LinearSVC

from brainlike.analysis.ost import (
    IT_BINS_MS,
    decode_probabilities_over_time,
    feedforward_time_mapping,
    i1_from_probabilities,
    i1_over_time,
    object_solution_times,
    ost_consistency,
    ost_score,
    synthetic_ost_features,
    synthetic_ost_reference,
)
from brainlike.analysis.score import Score

z = norm.ppf


# --- I1 --------------------------------------------------------------------------------------


def test_i1_on_hand_example():
    true = np.array([0, 0, 1, 2])
    probs = np.array(
        [
            [0.6, 0.3, 0.1],
            [0.5, 0.25, 0.25],
            [0.2, 0.6, 0.2],
            [0.3, 0.1, 0.6],
        ]
    )
    # p[i, d] = P(d) / (P(d) + P(o)):
    #   img0 (o=0): d1 1/3, d2 1/7   img1 (o=0): d1 1/3, d2 1/3
    #   img2 (o=1): d0 1/4, d2 1/4   img3 (o=2): d0 1/3, d1 1/7
    # false alarms FA(o, d) = mean over images j of object d of p[j, o]:
    #   (0,1) = p[2,0] = 1/4; (0,2) = p[3,0] = 1/3; (1,0) = mean(p[0,1], p[1,1]) = 1/3;
    #   (1,2) = p[3,1] = 1/7; (2,0) = mean(p[0,2], p[1,2]) = (1/7 + 1/3) / 2 = 5/21;
    #   (2,1) = p[2,2] = 1/4
    expected = [
        (z(2 / 3) - z(1 / 4) + z(6 / 7) - z(1 / 3)) / 2,
        (z(2 / 3) - z(1 / 4) + z(2 / 3) - z(1 / 3)) / 2,
        (z(3 / 4) - z(1 / 3) + z(3 / 4) - z(1 / 7)) / 2,
        (z(2 / 3) - z(5 / 21) + z(6 / 7) - z(1 / 4)) / 2,
    ]
    got = i1_from_probabilities(probs, true)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # z(2/3) = 0.430727, z(1/4) = -0.674490, z(6/7) = 1.067571, z(1/3) = -0.430727
    assert got[0] == pytest.approx(1.3017574, abs=1e-6)


def test_i1_clips_each_dprime_to_the_cap():
    true = np.array([0, 1])
    perfect = np.array([[1.0, 0.0], [0.0, 1.0]])  # z(1) - z(0) = +inf -> +5
    wrong = np.array([[0.0, 1.0], [1.0, 0.0]])  # z(0) - z(1) = -inf -> -5
    np.testing.assert_allclose(i1_from_probabilities(perfect, true), [5.0, 5.0])
    np.testing.assert_allclose(i1_from_probabilities(wrong, true), [-5.0, -5.0])
    np.testing.assert_allclose(i1_from_probabilities(perfect, true, cap=3.0), [3.0, 3.0])


def test_i1_over_time_stacks_steps():
    true = np.array([0, 1, 0, 1])
    chance = np.full((4, 2), 0.5)
    good = np.array([[0.9, 0.1], [0.2, 0.8], [0.7, 0.3], [0.1, 0.9]])
    got = i1_over_time(np.stack([chance, good]), true)
    assert got.shape == (2, 4)
    np.testing.assert_allclose(got[0], 0.0, atol=1e-12)
    np.testing.assert_allclose(got[1], i1_from_probabilities(good, true))


# --- object solution times -------------------------------------------------------------------


def test_object_solution_times_interpolates_between_bracketing_bins():
    times = [70, 80, 90, 100]
    curves = np.array(
        [
            [0.0, 1.0, 2.0, 3.0],  # ref 1.5: crosses between 80 (1) and 90 (2) -> 85
            [2.0, 3.0, 3.0, 3.0],  # ref 1.0: solved at the first bin -> 70
            [0.0, 0.5, 0.8, 0.9],  # ref 1.0: never solved -> NaN
            [0.0, 0.4, 0.4, 1.6],  # ref 1.0: 90 + (1 - 0.4) / (1.6 - 0.4) * 10 = 95
            [0.0, 2.0, 0.0, 3.0],  # ref 1.0: the first crossing counts -> 75
            [0.0, 1.0, 2.0, 2.0],  # ref 1.0: reaching exactly counts -> 80
            [np.nan, 2.0, 2.0, 2.0],  # ref 1.0: no value before the crossing -> 80
            [0.0, 2.0, 2.0, 2.0],  # ref NaN -> NaN
        ]
    ).T
    reference = [1.5, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, np.nan]
    got = object_solution_times(curves, reference, times)
    np.testing.assert_allclose(got, [85, 70, np.nan, 95, 75, 80, 80, np.nan])


def test_object_solution_times_checks_shapes_and_times():
    with pytest.raises(ValueError, match="one value per image"):
        object_solution_times(np.zeros((3, 4)), np.zeros(3), [1, 2, 3])
    with pytest.raises(ValueError, match="strictly increasing"):
        object_solution_times(np.zeros((3, 4)), np.zeros(4), [1, 3, 2])


def test_ost_consistency_uses_only_images_solved_by_both():
    model = np.array([10.0, 20.0, 30.0, 40.0, np.nan, 5.0])
    reference = np.array([1.0, 2.0, 3.0, 4.0, 0.5, np.nan])
    c = ost_consistency(model, reference, n_bootstrap=200, n_permutations=200)
    # images 4 and 5 would each break the perfect order if they were counted
    assert c.rho == pytest.approx(1.0)
    assert (c.n_images, c.n_model_solved, c.n_reference_solved) == (4, 5, 5)


def test_ost_consistency_matches_scipy_and_reports_uncertainty():
    rng = np.random.default_rng(0)
    ref = rng.uniform(80, 220, 150)
    model = np.round(ref + rng.normal(0, 30, 150), -1)  # ties on a 10 ms grid
    model[:10] = np.nan
    c = ost_consistency(model, ref, n_bootstrap=500, n_permutations=500, seed=1)
    keep = np.isfinite(model)
    assert c.rho == pytest.approx(spearmanr(model[keep], ref[keep])[0], abs=1e-12)
    assert c.n_images == 140
    # bootstrap s.e. of a Spearman rho near 0.8 with n = 140: about (1 - rho^2) / sqrt(n) ~ 0.03
    assert 0.01 < c.error < 0.08
    assert c.p_value == pytest.approx(1 / 501)  # no permutation comes close
    null = ost_consistency(rng.permutation(model), ref, n_bootstrap=0, n_permutations=500)
    assert abs(null.rho) < 0.25 and null.p_value > 0.05 and math.isnan(null.error)


def test_ost_consistency_needs_three_images():
    c = ost_consistency([1.0, 2.0, np.nan], [1.0, 2.0, 3.0])
    assert math.isnan(c.rho) and math.isnan(c.p_value) and c.n_images == 2


# --- decoding over time ----------------------------------------------------------------------


def test_decoder_predicts_every_image_held_out_and_does_not_leak():
    rng = np.random.default_rng(0)
    n, k = 80, 4
    labels = np.repeat(np.arange(k), n // k)
    noise = rng.standard_normal((n, 200, 2))  # more units than images: memorisable
    probs = decode_probabilities_over_time(noise, labels, n_splits=5, n_repeats=2, seed=0)
    assert probs.shape == (2, n, k)
    np.testing.assert_allclose(probs.sum(axis=2), 1.0)
    assert np.all(np.isfinite(probs))
    held_out = np.mean(probs.argmax(axis=2) == labels[None])
    assert abs(held_out - 1 / k) < 0.12  # chance: nothing learned from test images
    # control: these features are memorisable, so leaked test images would score near 1
    svm = LinearSVC(dual=False).fit(noise[:, :, 0], labels)
    assert svm.score(noise[:, :, 0], labels) == 1.0


def test_decoder_reads_informative_steps_and_constant_steps_give_chance():
    rng = np.random.default_rng(1)
    n, k = 60, 3
    labels = np.array(["cat", "dog", "car"])[np.arange(n) % k]
    _, y = np.unique(labels, return_inverse=True)
    informative = rng.standard_normal((n, 30)) + 3.0 * np.eye(k)[y] @ rng.standard_normal((k, 30))
    steps = {"t0": np.zeros((n, 5, 2)), "t1": informative}  # widths may differ per step
    probs = decode_probabilities_over_time(steps, labels, n_splits=5)
    np.testing.assert_allclose(probs[0], 1 / k)  # training class frequencies
    np.testing.assert_allclose(i1_over_time(probs, y)[0], 0.0, atol=1e-12)
    assert np.mean(probs[1].argmax(axis=1) == y) > 0.95
    logistic = decode_probabilities_over_time(steps, labels, n_splits=5, classifier="logistic")
    assert np.mean(logistic[1].argmax(axis=1) == y) > 0.95


def test_decoder_results_do_not_depend_on_threads():
    ref = synthetic_ost_reference(40, 4, times=[100, 150], seed=0)
    X = synthetic_ost_features(ref.labels, ref.latency, ref.times, n_units=100, seed=0)
    one = decode_probabilities_over_time(X, ref.labels, n_splits=4, n_components=10, n_jobs=1)
    two = decode_probabilities_over_time(X, ref.labels, n_splits=4, n_components=10, n_jobs=2)
    np.testing.assert_array_equal(one, two)


def test_decoder_explains_bad_input():
    X = np.zeros((8, 3, 2))
    with pytest.raises(ValueError, match="needs at least 2|single class"):
        decode_probabilities_over_time(X, np.zeros(8, dtype=int))
    with pytest.raises(ValueError, match="has 2 image"):
        decode_probabilities_over_time(X, [0] * 6 + [1] * 2, n_splits=3)
    with pytest.raises(ValueError, match="labels has 7"):
        decode_probabilities_over_time(X, [0, 1] * 3 + [0])
    with pytest.raises(ValueError, match=r"shape \(image, unit, time\)"):
        decode_probabilities_over_time(np.zeros((8, 3)), [0, 1] * 4)


# --- synthetic data and end to end -----------------------------------------------------------


def test_synthetic_reference_has_known_crossings():
    ref = synthetic_ost_reference(200, 4, seed=0, fraction_unsolved=0.1, time_constant=15.0)
    assert ref.it_i1.shape == (len(IT_BINS_MS), 200)
    solved = np.isfinite(ref.reference_ost)
    assert solved.sum() == 180
    # I1 = 1.5 b (1 - exp(-(t - tau) / 15)) crosses b at tau + 15 ln 3; interpolating the
    # concave curve between 10 ms bins can only be a little late
    crossing = ref.latency + 15.0 * np.log(3.0)
    lag = ref.reference_ost[solved] - crossing[solved]
    assert np.all(lag >= -1e-9) and np.all(lag < 3.0)
    np.testing.assert_array_equal(np.bincount(ref.labels), [50, 50, 50, 50])


def test_ost_score_high_when_model_latencies_follow_it_and_null_when_shuffled():
    ref = synthetic_ost_reference(120, 4, seed=0)
    shuffled = np.random.default_rng(3).permutation(ref.latency)
    kwargs = dict(n_splits=5, n_bootstrap=300, n_permutations=300, seed=0)
    follows = ost_score(
        synthetic_ost_features(ref.labels, ref.latency, ref.times, seed=1),
        ref.labels,
        ref.reference_i1,
        ref.reference_ost,
        ref.times,
        **kwargs,
    )
    null = ost_score(
        synthetic_ost_features(ref.labels, shuffled, ref.times, seed=1),
        ref.labels,
        ref.reference_i1,
        ref.reference_ost,
        ref.times,
        **kwargs,
    )
    assert isinstance(follows, Score) and follows.metric == "ost_consistency"
    assert follows.value > 0.75 and follows.provenance["p_value"] < 0.01
    assert 0.0 < follows.error < 0.1
    assert abs(null.value) < 0.25
    assert follows.raw.shape == (120,)
    assert follows.provenance["n_solved_by_both"] >= 100


# --- feedforward mappings --------------------------------------------------------------------


def _layers(widths=(10, 20, 30), n_images=5):
    # layer j holds the constant j + 1, so a bin's mean tells which layers it drew from
    return {f"block{j}": np.full((n_images, w), j + 1.0) for j, w in enumerate(widths)}


def test_uniform_mapping_spreads_one_layer_per_bin():
    mapped = feedforward_time_mapping(_layers((10, 20, 30, 40)), "uniform", seed=0)
    assert mapped.features.shape == (5, 10, 4)
    np.testing.assert_array_equal(mapped.times, [70, 130, 190, 250])  # bins 0, 6, 12, 18
    np.testing.assert_array_equal(mapped.composition, 10 * np.eye(4, dtype=int))
    np.testing.assert_allclose(mapped.features.mean(axis=(0, 1)), [1, 2, 3, 4])
    assert mapped.layers == ("block0", "block1", "block2", "block3")
    single = feedforward_time_mapping([np.ones((5, 2, 3))], "uniform")
    np.testing.assert_array_equal(single.times, [70])
    assert single.features.shape == (5, 6, 1)


def test_graded_mapping_mixes_neighbouring_layers_over_every_bin():
    mapped = feedforward_time_mapping(_layers(), "graded", n_units=8, seed=0)
    assert mapped.features.shape == (5, 8, 19)
    np.testing.assert_array_equal(mapped.times, IT_BINS_MS)
    np.testing.assert_array_equal(mapped.composition.sum(axis=1), 8)
    # bin b sits at layer position x = b * 2 / 18: bin 0 -> layer 0, bin 9 -> layer 1,
    # bin 18 -> layer 2; bin 3 (x = 1/3) takes round(8/3) = 3 units of layer 1 and 5 of layer 0
    np.testing.assert_array_equal(mapped.composition[[0, 9, 18]], 8 * np.eye(3, dtype=int))
    np.testing.assert_array_equal(mapped.composition[3], [5, 3, 0])
    expected_mean = mapped.composition @ np.array([1.0, 2.0, 3.0]) / 8
    np.testing.assert_allclose(mapped.features.mean(axis=(0, 1)), expected_mean)
    assert np.all(np.diff(expected_mean) >= 0)


def test_mappings_sample_units_reproducibly_and_check_sizes():
    rng = np.random.default_rng(0)
    layers = [rng.standard_normal((4, 12)), rng.standard_normal((4, 3, 3))]
    a = feedforward_time_mapping(layers, "graded", n_units=5, seed=7)
    b = feedforward_time_mapping(layers, "graded", n_units=5, seed=7)
    np.testing.assert_array_equal(a.features, b.features)
    # the first bin is 5 distinct units of layer 0
    cols = [
        int(np.flatnonzero(np.all(layers[0] == a.features[:, [j], 0], axis=0))[0]) for j in range(5)
    ]
    assert len(set(cols)) == 5
    with pytest.raises(ValueError, match="narrowest layer"):
        feedforward_time_mapping(layers, "uniform", n_units=10)
    with pytest.raises(ValueError, match="only 2 bins"):
        feedforward_time_mapping(_layers(), "uniform", bins=[70, 80])
