"""Topography metrics against hand-computed cases and slow obvious implementations."""

import json

import numpy as np
import pytest
from scipy import ndimage

from brainlike.analysis.topography import (
    DPRIME_CAP,
    NullResult,
    clustering_index,
    density_index,
    dprime_maps,
    fraction_selective,
    morans_i,
    neighbour_agreement,
    null_test,
    preference_map,
    shuffle_pixels,
    shuffle_within_tiles,
    smoothness_index,
    topography_index,
    topography_summary,
    trial_dprime_maps,
    tuning_correlation_vs_distance,
    unit_coordinates,
)

# --------------------------------------------------------------------------------------------
# fixtures: a smooth map (class preference in vertical stripes) and a random map
# --------------------------------------------------------------------------------------------


def stripe_class_means(n_classes=6, side=24, width=2.0, noise=0.05, seed=0):
    """Class c responds to a Gaussian stripe centred on its own column: smooth topography."""
    rng = np.random.default_rng(seed)
    _, cols = np.mgrid[0:side, 0:side]
    centres = np.linspace(1, side - 2, n_classes)
    means = np.stack([np.exp(-((cols - c) ** 2) / (2 * width**2)) for c in centres])
    return means + noise * rng.normal(size=means.shape)


def random_class_means(n_classes=6, side=24, seed=0):
    return np.random.default_rng(seed).normal(size=(n_classes, side, side))


# --------------------------------------------------------------------------------------------
# d'
# --------------------------------------------------------------------------------------------


def test_dprime_three_classes_by_hand():
    # one unit; class responses 1, 2, 4
    m = np.array([1.0, 2.0, 4.0]).reshape(3, 1, 1)
    d = dprime_maps(m)[:, 0, 0]
    # class 2 vs {1, 2}: std_S = 0 (one class), mean_R 1.5, std_R 0.5 -> 2 * 2.5 / 0.5
    assert d[2] == pytest.approx(10.0)
    assert d[0] == pytest.approx(2 * (1 - 3) / 1.0)  # rest {2, 4}: mean 3, std 1
    assert d[1] == pytest.approx(2 * (2 - 2.5) / 1.5)  # rest {1, 4}: mean 2.5, std 1.5
    sets = dprime_maps(m, target_sets=[[0, 1], [2]])[:, 0, 0]
    assert sets[0] == pytest.approx(2 * (1.5 - 4) / 0.5)
    assert sets[1] == pytest.approx(10.0)


def test_dprime_matches_direct_formula_on_random_maps():
    rng = np.random.default_rng(1)
    m = rng.normal(size=(5, 3, 4))
    sets = [[0], [1, 3], [0, 2, 4]]
    got = dprime_maps(m, sets)
    for k, s in enumerate(sets):
        rest = [c for c in range(5) if c not in s]
        want = 2 * (m[s].mean(0) - m[rest].mean(0)) / (m[s].std(0, ddof=0) + m[rest].std(0, ddof=0))
        np.testing.assert_allclose(got[k], want, rtol=1e-12)


def test_dprime_zero_spread_is_zero_or_capped_never_nan():
    # unit 0: all classes equal (0.1 is not exactly representable: rounding must not matter)
    # unit 1: two classes that differ -> std_S = std_R = 0 but means differ: perfect separation
    m = np.array([[[0.1, 3.0]], [[0.1, 1.0]]])
    d = dprime_maps(m)
    assert np.isfinite(d).all()
    assert d[0, 0, 0] == 0.0 and d[1, 0, 0] == 0.0
    assert d[0, 0, 1] == DPRIME_CAP and d[1, 0, 1] == -DPRIME_CAP
    # a constant unit among varying classes
    m3 = np.stack([np.full((2, 2), 0.7), np.full((2, 2), 0.7), np.full((2, 2), 0.7)])
    assert (dprime_maps(m3) == 0).all()


def test_trial_dprime_matches_concatenated_responses():
    rng = np.random.default_rng(2)
    counts = np.array([5, 8, 3, 12])
    shape = (3, 4)
    responses = [
        rng.normal(loc=c, scale=1 + 0.3 * c, size=(n,) + shape) for c, n in enumerate(counts)
    ]
    means = np.stack([r.mean(0) for r in responses])
    variances = np.stack([r.var(0) for r in responses])
    sets = [[0], [1, 2], [3]]
    got = trial_dprime_maps(means, variances, counts, sets)
    for k, s in enumerate(sets):
        a = np.concatenate([responses[c] for c in s])
        b = np.concatenate([responses[c] for c in range(4) if c not in s])
        want = (a.mean(0) - b.mean(0)) / np.sqrt((a.var(0) + b.var(0)) / 2)
        np.testing.assert_allclose(got[k], want, rtol=1e-10)
    assert trial_dprime_maps(means, variances, counts).shape == (4,) + shape


def test_trial_dprime_zero_variance_unit_is_zero():
    means = np.full((3, 1, 1), 0.3)
    variances = np.zeros((3, 1, 1))
    assert (trial_dprime_maps(means, variances, np.array([2, 2, 2])) == 0).all()


def test_preference_map_and_fraction_selective():
    d = np.array([[[3.0, 1.0], [2.0, -1.0]], [[2.5, 1.5], [0.0, 2.5]]])
    labels = preference_map(d, threshold=2.0)
    np.testing.assert_array_equal(labels, [[0, -1], [0, 1]])  # 2.0 >= T is selective
    assert fraction_selective(d, 2.0) == 0.75
    assert fraction_selective(d, 10.0) == 0.0


# --------------------------------------------------------------------------------------------
# clustering, topography, density, Moran's I, neighbour agreement
# --------------------------------------------------------------------------------------------


def test_clustering_index_two_blobs_and_empty_map():
    blobs = np.zeros((6, 6))
    blobs[0:2, 0:2] = 5.0  # area 4
    blobs[4, 3:5] = 5.0  # area 2
    blobs[3, 0] = 2.0  # exactly T: not above threshold
    assert clustering_index(blobs, 2.0) == pytest.approx(3.0)
    assert clustering_index(np.zeros((6, 6)), 2.0) == 1.0
    assert clustering_index(np.stack([blobs, np.zeros((6, 6))]), 2.0) == pytest.approx(2.0)


def test_clustering_uses_four_connectivity():
    diagonal = np.eye(4) * 3.0  # four pixels touching only at corners
    assert clustering_index(diagonal, 2.0) == 1.0


def test_clustering_batch_equals_per_map_loop():
    rng = np.random.default_rng(3)
    d = rng.normal(size=(7, 9, 8)) * 2
    want = []
    for k in range(7):
        comp, n = ndimage.label(d[k] > 1.0)
        want.append((d[k] > 1.0).sum() / n if n else 1.0)
    assert clustering_index(d, 1.0) == pytest.approx(np.mean(want))


def test_topography_index_3x3_by_hand():
    labels = np.array([[0, 1, 2], [3, 4, 5], [6, 7, -1]])
    # centre 4: |diffs| 4 3 2 1 1 2 3 and an unlabelled neighbour counting L = 10 -> 26
    assert topography_index(labels, 10) == pytest.approx((10 - 26 / 8) / 10)


def test_topography_index_4x4_by_hand():
    labels = np.full((4, 4), 3)
    labels[0, 0] = -1
    labels[1, 1] = 5
    labels[2, 2] = -1
    # interior units (1,1)=5: s = 10 - 32/8 = 6; (1,2)=3 and (2,1)=3: s = 10 - 12/8 = 8.5;
    # (2,2) has no label and is skipped
    assert topography_index(labels, 10) == pytest.approx((6 + 8.5 + 8.5) / 3 / 10)


def test_topography_index_uniform_and_empty():
    assert topography_index(np.full((5, 5), 2), 10) == 1.0
    assert topography_index(np.full((5, 5), -1), 10) == 0.0
    assert topography_index(np.zeros((2, 5), dtype=int), 10) == 0.0  # no interior unit


def test_density_index_by_hand():
    m = np.zeros((3, 2, 2))
    m[0] = [[4.0, 0.0], [1.0, 1.0]]
    m[1] = [[2.0, 2.0], [1.0, 1.0]]
    labels = np.array([[0, 1], [-1, 2]])
    # set {0, 1}: mean map [[3, 1], [1, 1]], sum 6; units labelled 0 or 1 hold 3 + 1
    res = density_index(m, labels, [0, 1])
    assert res["sum"] == pytest.approx(6.0)
    assert res["fraction_in_preferring"] == pytest.approx(4 / 6)
    # labels that name target sets: only label 0 counts
    res = density_index(m, labels, [0, 1], label=0)
    assert res["fraction_in_preferring"] == pytest.approx(3 / 6)


def slow_morans_i(x, mask=None):
    h, w = x.shape
    mask = np.ones_like(x, dtype=bool) if mask is None else mask
    units = [(i, j) for i in range(h) for j in range(w) if mask[i, j]]
    mean = np.mean([x[u] for u in units])
    num = den = wsum = 0.0
    for a in units:
        den += (x[a] - mean) ** 2
        for b in units:
            if abs(a[0] - b[0]) + abs(a[1] - b[1]) == 1:
                wsum += 1
                num += (x[a] - mean) * (x[b] - mean)
    return len(units) / wsum * num / den


def test_morans_i_matches_double_loop():
    rng = np.random.default_rng(4)
    x = rng.normal(size=(5, 4))
    assert morans_i(x) == pytest.approx(slow_morans_i(x), rel=1e-12)
    mask = rng.random((5, 4)) > 0.3
    assert morans_i(x, mask) == pytest.approx(slow_morans_i(x, mask), rel=1e-12)


def test_morans_i_checkerboard_smooth_and_constant():
    checker = (np.indices((4, 4)).sum(0) % 2) * 2.0 - 1
    assert morans_i(checker) == pytest.approx(-1.0)
    _, cols = np.mgrid[0:8, 0:8]
    assert morans_i(cols.astype(float)) > 0.8
    assert morans_i(np.full((4, 4), 0.3)) == 0.0


def test_neighbour_agreement_by_hand():
    labels = np.array([[0, 0, 1], [-1, 1, 1]])
    # selective adjacent pairs: (0,0)-(0,1) same, (0,1)-(0,2) diff, (1,1)-(1,2) same,
    # (0,1)-(1,1) diff, (0,2)-(1,2) same -> 3 / 5; selective labels 0,0,1,1,1 -> chance
    # (2/5)^2 + (3/5)^2
    agreement, chance = neighbour_agreement(labels)
    assert agreement == pytest.approx(0.6)
    assert chance == pytest.approx(13 / 25)
    assert neighbour_agreement(np.full((3, 3), -1)) == (0.0, 0.0)


# --------------------------------------------------------------------------------------------
# tuning correlation vs distance, smoothness
# --------------------------------------------------------------------------------------------


def test_tuning_correlation_vs_distance_matches_pair_loop():
    rng = np.random.default_rng(5)
    coords = unit_coordinates(4, 5)
    responses = rng.normal(size=(20, 6))
    responses[7] = 2.0  # constant unit: excluded
    edges = np.array([0.0, 1.5, 3.0, 7.0])
    centres, mean_r, counts = tuning_correlation_vs_distance(responses, coords, edges)
    sums, n, dsum = np.zeros(3), np.zeros(3), np.zeros(3)
    for i in range(20):
        for j in range(i + 1, 20):
            if 7 in (i, j):
                continue
            dist = np.hypot(*(coords[i] - coords[j]))
            b = min(np.searchsorted(edges, dist, side="right") - 1, 2)
            sums[b] += np.corrcoef(responses[i], responses[j])[0, 1]
            n[b] += 1
            dsum[b] += dist
    np.testing.assert_array_equal(counts, n)
    np.testing.assert_allclose(mean_r, sums / n, rtol=1e-10)
    np.testing.assert_allclose(centres, dsum / n, rtol=1e-12)
    assert counts.sum() == 19 * 18 / 2


def test_unit_coordinates_row_major():
    xy = unit_coordinates(2, 3)
    np.testing.assert_array_equal(xy, [[0, 0], [0, 1], [0, 2], [1, 0], [1, 1], [1, 2]])


def test_smoothness_index_definition():
    # correlation 0.75 near -> 0.03 far: dissimilarity 0.25 -> 0.97
    assert smoothness_index(np.array([0.75, 0.5, 0.03])) == pytest.approx((0.97 - 0.25) / 0.97)
    # a flat curve (shuffled map) and a curve where neighbours are least alike score 0
    assert smoothness_index(np.array([0.2, 0.2, 0.2])) == 0.0
    assert smoothness_index(np.array([0.19, 0.26, 0.26])) == 0.0
    # empty bins are skipped; a difference curve is used as given
    assert smoothness_index(np.array([np.nan, 0.5, 0.0])) == pytest.approx(0.5)
    assert smoothness_index(np.array([1.0, 3.0, 2.0]), kind="difference") == pytest.approx(2 / 3)


# --------------------------------------------------------------------------------------------
# null models
# --------------------------------------------------------------------------------------------


def test_shuffle_pixels_moves_whole_tuning_vectors():
    rng = np.random.default_rng(6)
    ids = np.arange(24.0).reshape(4, 6)
    maps = np.stack([ids, 10 * ids, -ids])
    out = shuffle_pixels(maps, rng)
    assert out.shape == maps.shape
    np.testing.assert_array_equal(np.sort(out[0].ravel()), ids.ravel())
    np.testing.assert_array_equal(out[1], 10 * out[0])  # the same permutation in every slice
    np.testing.assert_array_equal(out[2], -out[0])
    assert not np.array_equal(out[0], ids)


def test_shuffle_within_tiles_keeps_tile_contents():
    rng = np.random.default_rng(7)
    ids = np.arange(24.0).reshape(4, 6)
    maps = np.stack([ids, 10 * ids])
    out = shuffle_within_tiles(maps, 2, rng)
    np.testing.assert_array_equal(out[1], 10 * out[0])
    for r in range(0, 4, 2):
        for c in range(0, 6, 2):
            np.testing.assert_array_equal(
                np.sort(out[0, r : r + 2, c : c + 2].ravel()),
                np.sort(ids[r : r + 2, c : c + 2].ravel()),
            )
    assert not np.array_equal(out[0], ids)
    with pytest.raises(ValueError, match="tile must divide"):
        shuffle_within_tiles(maps, 4, rng)


def test_null_test_p_value_formula():
    seen = []

    def metric(maps):  # records what it is given: first the real map, then each shuffle
        seen.append(float(maps[0, 0]))
        return seen[-1]

    maps = np.arange(25.0).reshape(5, 5)
    res = null_test(metric, maps, n_shuffles=40, rng=8)
    value, null = seen[0], np.array(seen[1:])
    assert res.value == value == 0.0 and res.n_shuffles == 40 and res.null == "pixel"
    assert res.p_value == pytest.approx((1 + np.sum(null >= value)) / 41)  # not / (2 * 40)
    assert res.null_mean == pytest.approx(null.mean())
    assert res.null_std == pytest.approx(null.std())

    for alternative, expected in [("less", lambda v, z: np.sum(z <= v))]:
        seen.clear()
        res = null_test(metric, maps + 3, n_shuffles=40, rng=8, alternative=alternative)
        assert res.p_value == pytest.approx((1 + expected(seen[0], np.array(seen[1:]))) / 41)
    seen.clear()
    res = null_test(metric, maps, n_shuffles=40, rng=8, alternative="two-sided")
    z = np.array(seen[1:])
    assert res.p_value == pytest.approx((1 + np.sum(abs(z - z.mean()) >= abs(0 - z.mean()))) / 41)


def test_null_test_constant_metric_and_dict():
    res = null_test(lambda m: 1.0, np.zeros((3, 3)), n_shuffles=9, rng=0)
    assert res.p_value == 1.0 and res.null_std == 0.0
    assert res.to_dict() == {
        "value": 1.0,
        "null_mean": 1.0,
        "null_std": 0.0,
        "p_value": 1.0,
        "n_shuffles": 9,
        "null": "pixel",
    }
    assert isinstance(res, NullResult)


def test_null_test_tile_null_needs_tile():
    with pytest.raises(ValueError, match="tile"):
        null_test(lambda m: 0.0, np.zeros((4, 4)), null="tile")
    res = null_test(lambda m: float(m[0, 0]), np.arange(16.0).reshape(4, 4), 20, "tile", 2, 0)
    assert res.null == "tile"


# --------------------------------------------------------------------------------------------
# the summary: smooth vs random, dense honesty, consistency with the single-map functions
# --------------------------------------------------------------------------------------------


def test_smooth_map_beats_null_and_random_map_does_not():
    smooth = topography_summary(stripe_class_means(), ordered=True, n_shuffles=100, seed=0)
    for key in ("clustering_index", "smoothness", "morans_i", "neighbour_agreement"):
        res = smooth[key]
        assert res["p_value"] <= 0.05, key
        assert res["value"] > res["null_mean"] + 5 * res["null_std"], key
    assert smooth["topography_index_minus_null"] > 0.1
    assert smooth["neighbour_agreement"]["value"] > 2 * smooth["neighbour_agreement_chance"]
    curve = smooth["smoothness_curve"]
    assert curve["distance"][0] == 1.0
    assert curve["correlation"][0] > 0.8 > 0.1 > curve["correlation"][-1]

    rand = topography_summary(random_class_means(), ordered=True, n_shuffles=100, seed=0)
    for key in ("clustering_index", "smoothness", "morans_i", "neighbour_agreement"):
        assert rand[key]["p_value"] > 0.05, key
    assert abs(rand["smoothness_curve"]["correlation"][0]) < 0.1


def test_dense_map_null_above_real_value_is_reported():
    # every unit selective, preferences alternating like a checkerboard: real components have
    # area 1, while shuffled maps at 50 % density form larger chance components
    checker = (np.indices((16, 16)).sum(0) % 2).astype(float)
    m = np.stack([checker, 1 - checker])
    out = topography_summary(m, n_shuffles=50, seed=1)
    assert out["fraction_selective"] == 1.0
    clus = out["clustering_index"]
    assert clus["value"] == 1.0
    assert clus["value"] < clus["null_mean"]
    assert clus["p_value"] == 1.0


def test_summary_matches_single_map_functions_on_same_shuffles():
    m = stripe_class_means(n_classes=4, side=12, noise=0.3, seed=2)
    out = topography_summary(m, ordered=True, n_shuffles=30, seed=5, threshold=1.5)
    d = dprime_maps(m)
    ref = null_test(lambda x: clustering_index(x, 1.5), d, 30, rng=5)
    assert out["clustering_index"] == pytest.approx(ref.to_dict())
    ref = null_test(lambda x: morans_i(x.max(0)), d, 30, rng=5)
    assert out["morans_i"] == pytest.approx(ref.to_dict())
    ref = null_test(lambda x: neighbour_agreement(preference_map(x, 1.5))[0], d, 30, rng=5)
    assert out["neighbour_agreement"] == pytest.approx(ref.to_dict())
    ref = null_test(lambda x: topography_index(preference_map(x, 1.5), 4), d, 30, rng=5)
    assert out["topography_index"] == pytest.approx(ref.to_dict())

    # the FFT curve equals the pairwise curve with the same edges
    curve = out["smoothness_curve"]
    responses = m.reshape(4, -1).T
    centres, mean_r, counts = tuning_correlation_vs_distance(
        responses, unit_coordinates(12, 12), np.array(curve["bin_edges"])
    )
    np.testing.assert_allclose(curve["correlation"], mean_r, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(curve["distance"], centres, rtol=1e-9)
    np.testing.assert_array_equal(curve["pair_count"], counts)
    shuffled = null_test(
        lambda x: smoothness_index(
            tuning_correlation_vs_distance(
                x.reshape(4, -1).T, unit_coordinates(12, 12), np.array(curve["bin_edges"])
            )[1]
        ),
        m,
        30,
        rng=5,
    )
    assert out["smoothness"] == pytest.approx(shuffled.to_dict())


def test_summary_options_and_json():
    rng = np.random.default_rng(9)
    m = stripe_class_means(n_classes=5, side=8, noise=0.2)
    variances = rng.random(m.shape) * 0.1
    counts = np.array([10, 12, 9, 11, 10])
    out = topography_summary(
        m,
        variances,
        counts,
        dprime="trial",
        target_sets=[[0, 1], [4]],
        null="tile",
        tile=4,
        n_shuffles=20,
        n_smoothness_shuffles=10,
    )
    json.dumps(out, allow_nan=False)
    assert out["dprime"] == "trial" and out["null"] == "tile" and out["tile"] == 4
    assert out["n_smoothness_shuffles"] == 10 and out["smoothness"]["n_shuffles"] == 10
    assert "topography_index" not in out
    assert [r["target_set"] for r in out["density"]] == [[0, 1], [4]]
    assert out["density"][0]["sum"] == pytest.approx(m[[0, 1]].mean(0).sum())
    d = trial_dprime_maps(m, variances, counts, [[0, 1], [4]])
    assert out["n_selective"] == int((preference_map(d) >= 0).sum())
    with pytest.raises(ValueError, match="class_vars"):
        topography_summary(m, dprime="trial")


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: dprime_maps(np.zeros((4, 4))), "3-d"),
        (lambda: dprime_maps(np.full((3, 2, 2), np.nan)), "NaN"),
        (lambda: dprime_maps(np.zeros((1, 2, 2))), "at least 2 classes"),
        (lambda: dprime_maps(np.zeros((3, 2, 2)), [[5]]), "outside"),
        (lambda: dprime_maps(np.zeros((3, 2, 2)), [[0, 1, 2]]), "every class"),
        (lambda: trial_dprime_maps(np.zeros((3, 2, 2)), np.zeros((3, 2, 3)), [1, 1, 1]), "shape"),
        (lambda: trial_dprime_maps(np.zeros((3, 2, 2)), np.zeros((3, 2, 2)), [1, 1]), "entries"),
        (lambda: preference_map(np.zeros((2, 3, 3)), np.nan), "threshold"),
        (lambda: topography_index(np.full((3, 3), 12), 10), "n_labels"),
        (lambda: morans_i(np.zeros((3, 3)), np.ones((2, 2))), "mask"),
        (lambda: tuning_correlation_vs_distance(np.zeros((4, 3)), np.zeros((5, 2))), "coords"),
        (lambda: topography_summary(np.zeros((3, 4, 4)), dprime="trail"), "dprime"),
        (lambda: topography_summary(np.zeros((3, 4, 4)), null="tiles"), "null"),
    ],
)
def test_input_errors(call, match):
    with pytest.raises(ValueError, match=match):
        call()
