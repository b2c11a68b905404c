"""Rule identifiers on synthetic observables (spec learning-rules.md §2): a planted difference
between rules is found, random labels stay at chance, the sweeps and holdouts run, bad feature
tables are refused in one line."""

import numpy as np
import pandas as pd
import pytest

from brainlike.analysis.identify.classifiers import check_split_counts
from brainlike.analysis.identify.features import design_matrix, feature_table
from brainlike.analysis.identify.observables import statistic_keys
from brainlike.analysis.identify.sweeps import (
    IdentifySettings,
    _splits,
    identify_rules,
    score_splits,
    subsample_trajectory,
)
from brainlike.analysis.identify.tables import observables_table

pytestmark = pytest.mark.usefixtures("one_thread")  # tests/analysis/conftest.py


STATS = [
    ("weights", "identity", "mean"),
    ("weights", "abs", "median"),
    ("activations", "identity", "norm"),
    ("activity_change", "square", "mean"),
]
POS = ("early", "middle", "deep")


def synthetic_table(
    effect=(0.0, 0.3, 2.0), runs_per_class=8, layers=3, checkpoints=6, seed=0, labels=None,
    recordings=((1.0, 0.0, 0),), architectures=("a1", "a2"), batches=(32, 64),
):  # fmt: skip
    """A feature table of ``len(effect)`` classes: class c's statistic ``STATS[c]`` grows over
    training by ``effect[c]`` (weights for classes 0 and 1, the activation norm for class 2);
    everything else is noise shared by all classes."""
    rng = np.random.default_rng(seed)
    rows = []
    t = np.arange(checkpoints)
    for c, slope in enumerate(effect):
        for r in range(runs_per_class):
            run = f"c{c}-r{r}"
            for layer in range(layers):
                for f, n, s in recordings:
                    row = {
                        "run": run, "label": f"rule{c}" if labels is None else labels[c],
                        "architecture": architectures[r % len(architectures)],
                        "batch_size": batches[(r // len(architectures)) % len(batches)],
                        "seed": r, "layer": f"l{layer}", "layer_index": layer,
                        "position": POS[min(layer, 2)], "fraction": f, "noise": n,
                        "recording_seed": s,
                    }  # fmt: skip
                    for key in STATS:
                        signal = slope * t / checkpoints if key == STATS[c % len(STATS)] else 0
                        values = signal + rng.normal(0, 0.3 + n, checkpoints) * (1 / f)
                        for k in t:
                            row["/".join(key) + f"@{k}"] = values[k]
                    rows.append(row)
    return pd.DataFrame(rows)


def test_a_planted_difference_is_found_by_every_classifier():
    table = synthetic_table(effect=(0.0, 4.0, 8.0))
    design = design_matrix(table)
    assert design.x.shape == (72, len(STATS) * 6 + 3) and design.n_times == 6
    splits = _splits(design.y, 3, 0.25, seed=0)
    for clf in ("svm", "forest", "conv1d"):
        res = score_splits(design, clf, splits[:2], cv=1, seed=0)
        assert res["mean"] >= 0.9, (clf, res["mean"])
    # hyperparameters by cross-validation inside the split: still near perfect
    res = score_splits(design, "svm", splits[:1], cv=3, seed=0)
    assert res["mean"] >= 0.9 and set(res["params"][0]) == {"reduce", "svm__C"}


def test_random_labels_stay_at_chance():
    """Labels drawn independently of the features: the forest's accuracy over 8 splits of 18
    test examples (144 predictions) stays within 4 binomial s.d. of chance (1/3)."""
    table = synthetic_table(effect=(0.0, 0.0, 0.0), seed=3)
    table["label"] = np.random.default_rng(5).permutation(table["label"].to_numpy())
    design = design_matrix(table)
    few = {"n_estimators": 30}
    res = score_splits(design, "forest", _splits(design.y, 8, 0.25, seed=1), cv=1, seed=0,
                       params=few)  # fmt: skip
    bound = 4 * np.sqrt((1 / 3) * (2 / 3) / 144)
    assert abs(res["mean"] - 1 / 3) < bound, res["mean"]
    # and the shuffled-label control of a separable table is at chance too
    planted = design_matrix(synthetic_table(effect=(0.0, 4.0, 8.0)))
    ctrl = score_splits(planted, "forest", _splits(planted.y, 8, 0.25, seed=2), cv=1, seed=0,
                        shuffle=True, params=few)  # fmt: skip
    assert abs(ctrl["mean"] - 1 / 3) < bound, ctrl["mean"]


def test_the_sweeps_answer_the_chapters_questions():
    table = synthetic_table(
        effect=(0.3, 0.3, 6.0), recordings=((1.0, 0.0, 0), (0.25, 0.5, 0)), runs_per_class=8
    )
    settings = IdentifySettings(
        classifiers=("svm", "forest"), splits=3, cv=1, sweep_splits=3,
        trajectory=((1, 2), (2, 2), (1, 3)), trees=25,
    )  # fmt: skip
    out = identify_rules(table, settings)
    parts = {r["part"] for r in out["results"]}
    assert parts == {"classifiers", "control", "holdouts", "trajectory", "recording"}
    f = out["findings"]
    # rule0 and rule1 differ least from the rest (small effects): they are the hardest pair
    assert f["hardest_pair"]["pair"] == ["rule0", "rule1"]
    assert f["held_out_architecture"]["accuracy"] > 0.5
    assert {r["setting"] for r in out["results"] if r["part"] == "holdouts"} >= {
        "architecture a1 held out", "architecture a2 held out", "batch size 32 held out",
        "each architecture held out (mean)", "whole networks held out (75/25)",
    }  # fmt: skip
    rec = [r for r in out["results"] if r["part"] == "recording"]
    assert len(rec) == 2 * 3 and {r["fraction"] for r in rec} == {1.0, 0.25}
    top = next(iter(out["importances"]["per_statistic"]))
    assert top == "activations/identity/norm"  # the planted statistic matters most
    assert out["n_examples"] == 72 and out["n_runs"] == 24


def test_trajectory_subsampling_takes_spaced_samples_from_random_starts():
    table = synthetic_table(effect=(0.0, 1.0), checkpoints=10, runs_per_class=2)
    design = design_matrix(table)
    series = design.series()
    x, n = subsample_trajectory(design, 3, 3, np.random.default_rng(0))
    picked = x[:, :-3].reshape(len(x), design.n_series, 3)
    for i in range(len(x)):
        start = int(np.flatnonzero(np.isclose(series[i, 0], picked[i, 0, 0]))[0])
        np.testing.assert_array_equal(picked[i], series[i][:, [start, start + 3, start + 6]])
    np.testing.assert_array_equal(x[:, -3:], design.x[:, -3:])
    x, _ = subsample_trajectory(design, 3, 4, np.random.default_rng(0))  # 0, 3, 6, 9: fits
    np.testing.assert_array_equal(x[:, :-3].reshape(len(x), -1, 4), series[:, :, [0, 3, 6, 9]])
    with pytest.raises(ValueError, match="spans 13 checkpoints; the table has 10"):
        subsample_trajectory(design, 3, 5, np.random.default_rng(0))


def test_feature_table_from_observables_of_two_runs():
    keys = statistic_keys()
    layers = [{"name": n, "index": i, "kind": "Linear", "position": p, "readout": i == 1,
               "units": 4, "inputs": 3, "synapses": 12}
              for i, (n, p) in enumerate([("fc1", "early"), ("out", "middle")])]  # fmt: skip
    recs = [{"fraction": 1.0, "noise": 0.0, "seed": 0}]
    parts = []
    for run, label in (("r0", "bp"), ("r1", "fa")):
        meta = {"run": run, "label": label, "architecture": "mlp", "model_kind": "lenet",
                "rule": label, "optimizer": "adam", "lr": 1e-3, "momentum": float("nan"),
                "batch_size": 32, "seed": 0, "dataset": "digits", "epochs": 1,
                "steps_per_epoch": 3}  # fmt: skip
        values = np.arange(3 * 1 * 2 * 45, dtype=float).reshape(3, 1, 2, 45) + (run == "r1")
        parts.append(observables_table(values, [0, 1, 3], [0, 1 / 3, 1], layers, recs, meta))
    wide = feature_table(pd.concat(parts))
    assert wide.shape == (4, 23 + 45 * 3)
    assert (
        list(wide["run"]) == ["r0", "r0", "r1", "r1"] and list(wide["layer"]) == ["fc1", "out"] * 2
    )
    # value of (checkpoint 1, layer out, key 7) in run r1: 1*90 + 1*45 + 7 + 1
    col = "/".join(keys[7]) + "@1"
    assert wide.loc[3, col] == 90 + 45 + 7 + 1
    with pytest.raises(ValueError, match="have 2 checkpoints, others 3"):
        feature_table(pd.concat([parts[0], parts[1][parts[1]["checkpoint"] < 2]]))


def test_bad_feature_tables_are_refused_in_one_line():
    table = synthetic_table(runs_per_class=3)
    table.loc[table["run"] == "c1-r2", "label"] = np.nan
    with pytest.raises(
        ValueError, match=r"1 run\(s\) of the feature table have no rule label \(c1-r2\)"
    ):
        design_matrix(table)
    small = synthetic_table(runs_per_class=1, layers=2)  # 2 examples per class
    design = design_matrix(small)
    with pytest.raises(ValueError, match="rule0 has 2, rule1 has 2, rule2 has 2 example"):
        check_split_counts(design.y, design.classes, 0.25, 5)
    with pytest.raises(ValueError, match="a class would be empty or too small in a split"):
        identify_rules(small, IdentifySettings(splits=2, cv=5))
    lopsided = synthetic_table(runs_per_class=4, architectures=("a1", "a2"))
    lopsided = lopsided[~((lopsided["label"] == "rule2") & (lopsided["architecture"] == "a1"))]
    lopsided.loc[lopsided["label"] == "rule2", "architecture"] = "a3"
    with pytest.raises(ValueError, match="holding out architecture a3 leaves class rule2 without"):
        identify_rules(lopsided, IdentifySettings(classifiers=("svm",), splits=1, cv=1,
                                                   sweep_splits=1, sweeps=("holdouts",), trees=5))  # fmt: skip
    with pytest.raises(ValueError, match="identification needs two"):
        design_matrix(synthetic_table(effect=(0.0,)))
    with pytest.raises(ValueError, match="classifiers \\['knn'\\]"):
        IdentifySettings(classifiers=("knn",))
