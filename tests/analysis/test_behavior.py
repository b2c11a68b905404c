"""Behaviour analyses: confusions, I1/I2n, consistency ceilings, error consistency, cue conflict."""

from __future__ import annotations

import math

import numpy as np
import pytest

from brainlike.analysis.behavior import (
    HumanTrials,
    accuracy_per_class,
    behavioral_consistency,
    confusion_matrix,
    dprime_matrix,
    error_consistency,
    error_consistency_with_humans,
    human_accuracy,
    human_response_matrix,
    i1_from_i2,
    i2n,
    i2n_consistency,
    logistic_choice_probabilities,
    normalize_i2,
    read_human_trials,
    shape_texture_fractions,
    synthetic_human_trials,
    target_distractor_probabilities,
)
from brainlike.analysis.score import Score

# z-scores (standard normal quantiles) used in hand computations
Z80, Z90, Z70, Z35, Z20 = 0.8416212, 1.2815516, 0.5244005, -0.3853205, -0.8416212


def _write(tmp_path, text: str):
    path = tmp_path / "trials.csv"
    path.write_text(text)
    return path


# --- confusions ------------------------------------------------------------------------------


def test_confusion_matrix_and_accuracy_on_tiny_case():
    true = [0, 0, 1, 1, 2]
    choice = [0, 1, 1, 1, 0]
    expected = np.array([[1, 1, 0], [0, 2, 0], [1, 0, 0]])
    np.testing.assert_array_equal(confusion_matrix(true, choice, 3), expected)
    np.testing.assert_allclose(accuracy_per_class(true, choice, 4), [0.5, 1.0, 0.0, np.nan])


def test_confusion_matrix_rejects_out_of_range_class():
    with pytest.raises(ValueError, match="outside 0..2"):
        confusion_matrix([0, 3], [0, 1], 3)


# --- I1 / I2 ---------------------------------------------------------------------------------


def test_target_distractor_probabilities():
    p = target_distractor_probabilities([[0.5, 0.3, 0.2], [0.1, 0.1, 0.8]], [0, 2])
    np.testing.assert_allclose(p[0], [np.nan, 0.3 / 0.8, 0.2 / 0.7])
    np.testing.assert_allclose(p[1], [0.1 / 0.9, 0.1 / 0.9, np.nan])


def test_dprime_uses_object_level_false_alarms():
    # objects 0 (images 0, 1) and 1 (images 2, 3); p[i, d] = rate of choosing d on image i
    rm = np.array([[np.nan, 0.2], [np.nan, 0.5], [0.1, np.nan], [0.3, np.nan]])
    d = dprime_matrix(rm, [0, 0, 1, 1])
    # image of object 0 vs distractor 1: FA = mean over images of object 1 of p[j, 0] = 0.2
    assert d[0, 1] == pytest.approx(Z80 - Z20, abs=1e-6)
    assert d[1, 1] == pytest.approx(0.0 - Z20, abs=1e-6)
    # image of object 1 vs distractor 0: FA = mean(0.2, 0.5) = 0.35
    assert d[2, 0] == pytest.approx(Z90 - Z35, abs=1e-6)
    assert d[3, 0] == pytest.approx(Z70 - Z35, abs=1e-6)
    assert np.isnan(d[0, 0]) and np.isnan(d[2, 1])


def test_dprime_clips_infinite_z_scores_to_cap():
    perfect = dprime_matrix([[np.nan, 0.0], [0.5, np.nan]], [0, 1])  # z(1) = +inf, z(0) = -inf
    np.testing.assert_array_equal(perfect, [[np.nan, 5.0], [5.0, np.nan]])
    inverted = dprime_matrix([[np.nan, 1.0], [0.5, np.nan]], [0, 1], cap=3)
    np.testing.assert_array_equal(inverted, [[np.nan, -3.0], [-3.0, np.nan]])


def test_normalize_subtracts_cell_means_two_objects():
    d = np.array([[np.nan, 3.0], [np.nan, 1.0], [2.0, np.nan], [4.0, np.nan]])
    out = normalize_i2(d, [0, 0, 1, 1])
    np.testing.assert_allclose(out, [[np.nan, 1.0], [np.nan, -1.0], [-1.0, np.nan], [1.0, np.nan]])
    np.testing.assert_allclose(i1_from_i2(out), [1.0, -1.0, -1.0, 1.0])


def test_i2n_of_probabilities_matches_hand_pipeline():
    probs = np.array([[0.8, 0.2], [0.5, 0.5], [0.1, 0.9], [0.3, 0.7]])
    out = i2n(probs, [0, 0, 1, 1])
    # d'[0,1] = Z80 - Z20 and d'[1,1] = -Z20 (as above), cell mean removed
    half = (Z80 - Z20 - (0.0 - Z20)) / 2
    np.testing.assert_allclose(out[:2, 1], [half, -half], atol=1e-6)


def test_logistic_choice_probabilities_on_separable_classes():
    rng = np.random.default_rng(0)
    centres = np.array([[3.0, 0.0], [0.0, 3.0], [-3.0, -3.0]])
    y_fit = np.repeat([0, 1, 2], 20)
    X_fit = centres[y_fit] + rng.normal(0, 0.3, (60, 2))
    X_test = centres + rng.normal(0, 0.3, (3, 2))
    p = logistic_choice_probabilities(X_fit, y_fit, X_test, [0, 1, 2], C=1.0)
    assert p.shape == (3, 3)
    np.testing.assert_allclose(p.sum(axis=1), 1.0)
    np.testing.assert_array_equal(p.argmax(axis=1), [0, 1, 2])
    with pytest.raises(ValueError, match="no fitting images"):
        logistic_choice_probabilities(X_fit, y_fit, X_test, [0, 1, 5])


# --- human response matrix and I2n consistency ------------------------------------------------


def _trials(rows, classes=("a", "b"), with_distractor=True) -> HumanTrials:
    image, choice, true, distractor = (np.array(c, dtype=str) for c in zip(*rows, strict=True))
    return HumanTrials(
        image=image,
        choice=choice,
        true_class=true,
        classes=classes,
        distractor=distractor if with_distractor else None,
    )


def test_human_response_matrix_two_alternative_and_n_way():
    rows = [
        ("x", "a", "a", "b"),
        ("x", "b", "a", "b"),
        ("x", "b", "a", "b"),
        ("x", "a", "a", "c"),
        ("y", "c", "c", "a"),
    ]
    trials = _trials(rows, classes=("a", "b", "c"))
    rm = human_response_matrix(trials, ["x", "y", "z"])
    np.testing.assert_allclose(
        rm,
        [[np.nan, 2 / 3, 0.0], [0.0, np.nan, np.nan], [np.nan] * 3],
    )
    # n-way: answers d / (answers d + correct answers)
    rm = human_response_matrix(_trials(rows, ("a", "b", "c"), with_distractor=False), ["x"])
    np.testing.assert_allclose(rm, [[np.nan, 2 / 4, 0 / 2]])


def _deterministic_humans(repeats: int = 24):
    """Humans that always answer the same way per (image, distractor): split halves agree."""
    rng = np.random.default_rng(1)
    classes = ("a", "b", "c")
    rows = []
    truth = {f"img{i}": classes[i % 3] for i in range(12)}
    correct = {(img, d): rng.random() < 0.6 for img in truth for d in classes}
    for img, t in truth.items():
        for d in classes:
            if d == t:
                continue
            rows += [(img, t if correct[img, d] else d, t, d)] * repeats
    return _trials(rows, classes), sorted(truth)


def test_i2n_consistency_ceiling_is_one_for_noise_free_halves():
    trials, images = _deterministic_humans()
    _, true = trials.images()
    human = normalize_i2(dprime_matrix(human_response_matrix(trials, images), true), true)
    score = i2n_consistency(2.0 * human + 1.0, trials, images=images, n_splits=3, seed=0)
    assert isinstance(score, Score)
    assert score.ceiling == pytest.approx(1.0)
    assert score.value == pytest.approx(1.0)
    assert score.ceiled == pytest.approx(1.0)
    assert score.convention == "brainscore-i2n"
    assert score.per_split.shape == (3,)
    anti = i2n_consistency(-human, trials, images=images, seed=0)
    assert anti.value == pytest.approx(-1.0) and anti.ceiled == pytest.approx(-1.0)


def test_i2n_consistency_ceiled_is_mean_r_over_sqrt_mean_ceiling(tmp_path):
    trials = synthetic_human_trials(n_classes=3, images_per_class=8, n_subjects=6, seed=3)
    images, true = trials.images()
    rng = np.random.default_rng(0)
    model = normalize_i2(rng.normal(size=(len(images), 3)), true)
    model[np.arange(len(images)), true] = np.nan
    score = i2n_consistency(model, trials, images=images, n_splits=2, seed=0)
    ceilings = np.asarray(score.provenance["ceiling_per_split"])
    assert 0.0 < score.ceiling < 1.0
    assert score.ceiling == pytest.approx(ceilings.mean())
    assert score.value == pytest.approx(score.per_split.mean())
    assert score.ceiled == pytest.approx(score.value / math.sqrt(score.ceiling))
    # same halves for the same seed; a CSV path works too
    path = trials.to_csv(tmp_path / "h.csv")
    again = i2n_consistency(model, path, images=images, n_splits=2, seed=0)
    assert again.value == pytest.approx(score.value)
    with pytest.raises(ValueError, match=r"expected \(image, class\)"):
        i2n_consistency(model[:, :2], trials, images=images)


def test_behavioral_consistency_geometric_mean_of_reliabilities():
    h1, h2 = np.array([1.0, 2.0, 3.0, 4.0]), np.array([1.0, 3.0, 2.0, 4.0])  # r = 0.8
    model = (h1 + h2) / 2
    score = behavioral_consistency(model, (h1, h2))
    sb = 2 * 0.8 / 1.8
    assert score.value == pytest.approx(1.0)
    assert score.ceiling == pytest.approx(math.sqrt(sb))
    assert score.ceiled == pytest.approx(1.0 / math.sqrt(sb))
    plain = behavioral_consistency(model, (h1, h2), (h1, h2), spearman_brown_correction=False)
    assert plain.ceiling == pytest.approx(0.8)  # sqrt(0.8 * 0.8)
    assert plain.ceiled == pytest.approx(1.0 / 0.8)


# --- error consistency -----------------------------------------------------------------------


def test_cohens_kappa_hand_case():
    true = np.zeros(10, dtype=int)
    a = np.array([0, 0, 0, 0, 0, 0, 0, 1, 1, 1])  # 7 correct
    b = np.array([0, 0, 0, 0, 0, 1, 1, 0, 1, 1])  # 6 correct; both right 5, both wrong 2
    c_obs, c_exp = 0.7, 0.7 * 0.6 + 0.3 * 0.4
    assert error_consistency(a, b, true) == pytest.approx((c_obs - c_exp) / (1 - c_exp))
    assert error_consistency(a, a, true) == pytest.approx(1.0)
    assert math.isnan(error_consistency(true, true, true))  # both always right: undefined


def test_cohens_kappa_near_zero_for_independent_observers():
    rng = np.random.default_rng(0)
    true = np.zeros(20000, dtype=int)
    a = (rng.random(20000) > 0.7).astype(int)
    b = (rng.random(20000) > 0.6).astype(int)
    assert abs(error_consistency(a, b, true)) < 0.03


def test_error_consistency_with_humans_averages_over_subjects():
    images = [f"i{k}" for k in range(10)]
    truth = ["a"] * 10
    model_choice = ["a"] * 7 + ["b"] * 3
    s2_choice = ["a"] * 5 + ["b", "b", "a", "b", "b"]  # the hand case above
    trials = HumanTrials(
        image=np.array(images * 2),
        choice=np.array(model_choice + s2_choice),
        true_class=np.array(truth * 2),
        classes=("a", "b"),
        subject=np.array(["s1"] * 10 + ["s2"] * 10),
    )
    score = error_consistency_with_humans(dict(zip(images, model_choice, strict=True)), trials)
    kappa2 = (0.7 - 0.54) / 0.46
    np.testing.assert_allclose(score.raw, [1.0, kappa2])
    assert score.value == pytest.approx((1.0 + kappa2) / 2)
    with pytest.raises(ValueError, match="no answer for 1 image"):
        error_consistency_with_humans(dict(zip(images[:9], model_choice, strict=False)), trials)


# --- cue conflict ----------------------------------------------------------------------------


def test_shape_fraction_hand_case():
    shape = ["a", "a", "b", "b", "c"]
    texture = ["b", "c", "a", "b", "a"]  # trial 3 has no conflict
    choice = ["a", "c", "b", "b", "x"]  # shape, texture, shape, (ignored), neither
    f = shape_texture_fractions(choice, shape, texture)
    assert f.shape_fraction == pytest.approx(2 / 3)
    assert f.texture_fraction == pytest.approx(1 / 3)
    assert (f.shape_hits, f.texture_hits, f.n_conflict_trials) == (2, 1, 4)
    assert math.isnan(shape_texture_fractions(["a"], ["a"], ["a"]).shape_fraction)


# --- CSV reading and the synthetic generator -------------------------------------------------


def test_read_human_trials_names_missing_columns(tmp_path):
    path = _write(tmp_path, "image,choice\nx,a\n")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['true_class'\]"):
        read_human_trials(path)


def test_read_human_trials_rejects_unknown_class(tmp_path):
    path = _write(tmp_path, "image,choice,true_class\nx,a,a\ny,zebra,b\n")
    with pytest.raises(ValueError, match="unknown class 'zebra' in column 'choice'"):
        read_human_trials(path)
    assert read_human_trials(path, classes=["a", "b", "zebra"]).classes == ("a", "b", "zebra")


def test_read_human_trials_rejects_bad_rows(tmp_path):
    with pytest.raises(ValueError, match="line 3: empty value in column 'true_class'"):
        read_human_trials(_write(tmp_path, "image,choice,true_class\nx,a,a\ny,b,\n"))
    with pytest.raises(ValueError, match="image 'x' has true class 'a' and 'b'"):
        read_human_trials(_write(tmp_path, "image,choice,true_class\nx,a,a\nx,b,b\n"))
    with pytest.raises(ValueError, match="choice must be the true class or the distractor"):
        read_human_trials(
            _write(tmp_path, "image,choice,true_class,distractor\nx,c,a,b\ny,c,c,a\n")
        )
    with pytest.raises(ValueError, match="no trials"):
        read_human_trials(_write(tmp_path, "image,choice,true_class\n"))


# Two subjects in the model-vs-human raw-data layout (Geirhos et al.), one file each.
_GEIRHOS_HEADER = "subj,Session,trial,rt,object_response,category,condition,imagename\n"
_SUBJECT_01 = (
    "subject-01,1,1,812.3,knife,knife,0,0001_cl_s01_0_knife_00.png\n"
    "subject-01,1,2,640.1,dog,cat,0,0002_cl_s01_0_cat_00.png\n"
    "subject-01,1,3,1500.0,na,dog,0,0003_cl_s01_0_dog_00.png\n"
    "subject-01,1,4,700.2,dog,dog,0,0004_cl_s01_0_dog_01.png\n"
)
_SUBJECT_02 = (
    "subject-02,1,1,655.0,knife,knife,0,0005_cl_s02_0_knife_01.png\n"
    "subject-02,1,2,590.4,cat,cat,0,0006_cl_s02_0_cat_01.png\n"
    "subject-02,1,3,720.9,dog,dog,0,0007_cl_s02_0_dog_02.png\n"
    "subject-02,1,4,1500.0,NaN,cat,0,0008_cl_s02_0_cat_02.png\n"
)


def _geirhos_folder(tmp_path):
    folder = tmp_path / "raw-data"
    folder.mkdir()
    for name, rows in (("subject-01", _SUBJECT_01), ("subject-02", _SUBJECT_02)):
        (folder / f"colour_{name}_session_1.csv").write_text(_GEIRHOS_HEADER + rows)
    return folder


def test_read_human_trials_pools_published_subject_files(tmp_path):
    folder = _geirhos_folder(tmp_path)
    files = sorted(folder.glob("*.csv"))
    for source in (folder, str(folder / "colour_*.csv"), files):
        trials = read_human_trials(source)
        assert len(trials) == 8
        assert trials.classes == ("cat", "dog", "knife")
        np.testing.assert_array_equal(trials.subject, ["subject-01"] * 4 + ["subject-02"] * 4)
        assert trials.image[0] == "0001_cl_s01_0_knife_00.png"
        np.testing.assert_array_equal(trials.condition, ["0"] * 8)
        # 'na' and 'NaN' are trials without a response
        np.testing.assert_array_equal(trials.responded, [1, 1, 0, 1, 1, 1, 1, 0])


def test_human_accuracy_counts_no_response_as_wrong_by_default(tmp_path):
    acc = human_accuracy(read_human_trials(_geirhos_folder(tmp_path)))
    # correct: trials 1, 4 (subject-01) and 5, 6, 7 (subject-02) of 8
    assert acc.overall == pytest.approx(5 / 8)
    assert (acc.n_trials, acc.n_correct, acc.n_no_response) == (8, 5, 2)
    assert acc.no_response == "wrong"
    # knife: 1, 5 right; cat: 2 wrong, 6 right, 8 no response; dog: 3 none, 4, 7 right
    assert acc.per_class == pytest.approx({"cat": 1 / 3, "dog": 2 / 3, "knife": 1.0})
    assert acc.per_subject == pytest.approx({"subject-01": 2 / 4, "subject-02": 3 / 4})


def test_human_accuracy_can_exclude_no_response_trials(tmp_path):
    folder = _geirhos_folder(tmp_path)
    acc = human_accuracy(folder, no_response="exclude")
    assert acc.overall == pytest.approx(5 / 6)
    assert (acc.n_trials, acc.n_correct, acc.n_no_response) == (6, 5, 2)
    assert acc.per_class == pytest.approx({"cat": 1 / 2, "dog": 1.0, "knife": 1.0})
    assert acc.per_subject == pytest.approx({"subject-01": 2 / 3, "subject-02": 1.0})
    with pytest.raises(ValueError, match="'wrong' or 'exclude'"):
        human_accuracy(folder, no_response="skip")


def test_read_human_trials_keeps_our_column_names_and_empty_choice(tmp_path):
    path = _write(tmp_path, "image,choice,true_class,subject\nx,a,a,s1\ny,,b,s1\nz,a,b,s2\n")
    trials = read_human_trials(path)
    np.testing.assert_array_equal(trials.choice, ["a", "", "a"])
    acc = human_accuracy(trials)
    assert (acc.overall, acc.n_no_response) == (pytest.approx(1 / 3), 1)
    assert acc.per_class == pytest.approx({"a": 1.0, "b": 0.0})
    # a class literally named 'na' stays a response
    named = _write(tmp_path, "image,choice,true_class\nx,na,na\ny,na,b\n")
    assert read_human_trials(named).responded.all()
    # files without a subject column: each file is a subject
    (tmp_path / "s1.csv").write_text("image,choice,true_class\nx,a,a\n")
    (tmp_path / "s2.csv").write_text("image,choice,true_class\ny,a,b\n")
    pooled = read_human_trials([tmp_path / "s1.csv", tmp_path / "s2.csv"])
    assert human_accuracy(pooled).per_subject == {"s1": 1.0, "s2": 0.0}


def test_read_human_trials_refuses_mismatched_or_missing_files(tmp_path):
    (tmp_path / "a.csv").write_text("image,choice,true_class\nx,a,a\n")
    (tmp_path / "b.csv").write_text("image,choice,true_class,condition\ny,a,a,c\n")
    with pytest.raises(ValueError, match="pooled files must have the same columns"):
        read_human_trials(tmp_path)
    with pytest.raises(FileNotFoundError, match="no file matches"):
        read_human_trials(str(tmp_path / "nothing_*.csv"))
    with pytest.raises(FileNotFoundError, match="holds no .csv"):
        (tmp_path / "empty").mkdir()
        read_human_trials(tmp_path / "empty")
    with pytest.raises(ValueError, match=r"true_class \(or category\)"):
        read_human_trials(_write(tmp_path, "subj,imagename,object_response\ns,x,a\n"))


def test_no_response_trials_in_response_matrix_and_error_consistency():
    # two-alternative trials: the unanswered one is left out of the rate
    rows = [("x", "a", "a", "b"), ("x", "b", "a", "b"), ("x", "", "a", "b")]
    trials = _trials(rows)
    np.testing.assert_allclose(human_response_matrix(trials), [[np.nan, 0.5]])
    # a subject's non-response is a subject error; model: x -> a (right), y -> a (wrong)
    rows = [("x", "a", "a", "b"), ("x", "b", "a", "b"), ("x", "a", "a", "b")]
    rows += [("y", "b", "b", "a"), ("y", "a", "b", "a"), ("y", "", "b", "a")]
    kappa = error_consistency_with_humans({"x": "a", "y": "a"}, _trials(rows)).value
    # agree on trials 1, 3, 5, 6: c_obs = 4/6; p_model = 1/2 -> c_exp = 1/2 (dropping trial 6
    # instead would give c_obs 3/5, c_exp 0.52, kappa 1/6)
    assert kappa == pytest.approx((4 / 6 - 1 / 2) / (1 - 1 / 2))


def test_synthetic_human_trials_round_trip(tmp_path):
    trials = synthetic_human_trials(
        tmp_path / "h.csv", n_classes=3, images_per_class=2, n_subjects=2, repeats=1, seed=5
    )
    assert len(trials) == 3 * 2 * 2
    back = read_human_trials(tmp_path / "h.csv")
    assert back.classes == trials.classes
    assert back.columns == trials.columns
    for column in trials.columns:
        np.testing.assert_array_equal(getattr(back, column), getattr(trials, column))


def test_synthetic_cue_conflict_trials_have_the_chosen_shape_bias(tmp_path):
    trials = synthetic_human_trials(
        n_classes=4, images_per_class=10, n_subjects=10, cue_conflict=True, shape_bias=0.7
    )
    assert trials.distractor is None and trials.shape_class is not None
    f = shape_texture_fractions(trials.choice, trials.shape_class, trials.texture_class)
    # shape 0.7 vs texture 0.24 (plus chance picks) -> shape fraction about 0.74
    assert 0.65 < f.shape_fraction < 0.82
