"""Rules suites: every config trained under every learning rule over seeds, summarised by hand,
reused on a second call, refused with one line when a rules entry is wrong."""

from __future__ import annotations

import json
import math
import statistics

import numpy as np
import pytest
import yaml
from scipy import stats

from brainlike.config import ConfigError
from brainlike.config.suite import load_suite
from brainlike.evaluation.rules_suite import summarise_rules
from brainlike.evaluation.suites import run_suite

RULES = ["backprop", {"kind": "fa"}]
LABELS = ["backprop", "feedback_alignment"]


def _config(path, name, model, size):
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "data": {"dataset": "digits", "input_size": size, "train_size": 48,
                         "test_size": 30},
                "model": model,
                "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 48, "epochs": 2,
                          "snapshots_per_epoch": 0, "device": "cpu"},
            }
        )
    )  # fmt: skip


def _suite(tmp_path, **extra):
    _config(tmp_path / "lenet.yaml", "lenet", {"kind": "lenet", "locality": {"enabled": False}}, 28)
    _config(tmp_path / "resnet.yaml", "resnet", {"kind": "resnet", "depth": 8}, 16)
    suite = {
        "name": "tiny-rules",
        "runs": ["lenet.yaml", "resnet.yaml"],
        "rules": RULES,
        "seeds": [0, 1],
        **extra,
    }
    p = tmp_path / "suite.yaml"
    p.write_text(yaml.safe_dump(suite))
    return p


def _last_row(run_dir):
    return json.loads((run_dir / "metrics.jsonl").read_text().splitlines()[-1])


def test_rules_suite_trains_every_config_under_every_rule_and_reports(tmp_path):
    from typer.testing import CliRunner

    from brainlike.cli import app
    from brainlike.config import load_config

    path = _suite(tmp_path, overrides={"train.epochs": 1})
    out = tmp_path / "out"
    s = run_suite(path, out, progress=False)
    assert s["kind"] == "rules" and s["seeds"] == [0, 1]
    assert [(r["architecture"], r["rule"]) for r in s["rows"]] == [
        (a, r) for a in ("lenet", "resnet") for r in LABELS
    ]
    bp_of = {r["architecture"]: r for r in s["rows"] if r["rule"] == "backprop"}
    for row in s["rows"]:
        assert row["n_seeds"] == 2 and row["seeds"] == [0, 1]
        dirs = [out / "runs" / f"{row['architecture']}-{row['rule']}-seed{k}" for k in (0, 1)]
        # each run is the config with the suite's rule, seed and overrides
        for k, d in enumerate(dirs):
            cfg = load_config(d / "config.yaml")
            assert (cfg.seed, cfg.train.epochs, cfg.rule.build().name) == (k, 1, row["kind"])
        acc = [json.loads((d / "summary.json").read_text())["test_acc"] for d in dirs]
        assert row["test_acc_per_seed"] == {"0": acc[0], "1": acc[1]}
        assert row["test_acc"] == pytest.approx(statistics.mean(acc))
        assert row["test_acc_sd"] == pytest.approx(statistics.stdev(acc))
        train_acc = [_last_row(d)["train_acc"] for d in dirs]
        assert row["train_acc"] == pytest.approx(statistics.mean(train_acc))
        if row["rule"] == "backprop":
            assert "angle" not in row and row["reaches_backprop"] is None
            continue
        angles = [_last_row(d)["rule_angle_deg"] for d in dirs]
        per_seed = [statistics.mean(a.values()) for a in angles]
        assert row["angle"] == pytest.approx(statistics.mean(per_seed))
        assert row["angle_sd"] == pytest.approx(statistics.stdev(per_seed))
        assert row["angle_per_layer"] == pytest.approx(
            {k: (angles[0][k] + angles[1][k]) / 2 for k in angles[0]}
        )
        ratio = [statistics.mean(_last_row(d)["rule_norm_ratio"].values()) for d in dirs]
        assert row["norm_ratio"] == pytest.approx(statistics.mean(ratio))
        bp = bp_of[row["architecture"]]
        assert row["diff_vs_backprop"] == pytest.approx(row["test_acc"] - bp["test_acc"])
        assert row["reaches_backprop"] == (row["test_acc"] >= bp["test_acc"] - bp["test_acc_sd"])
    # feedback alignment's B~ is a random draw: near 90 degrees from W
    fa = next(r for r in s["rows"] if r["rule"] == "feedback_alignment")
    assert 70 < fa["angle"] < 110
    for f in ("summary.json", "comparison.csv", "learning_curves.png", "alignment.png"):
        assert (out / f).is_file(), f
    assert len((out / "comparison.csv").read_text().splitlines()) == 1 + 4
    html = (out / "report.html").read_text()
    assert html.count("data:image/png;base64,") == 3
    assert "reaches backprop&#39;s accuracy when its mean" in html
    assert '<td class="l">feedback_alignment</td>' in html

    # a second call reuses every finished run (nothing retrained), through the command line
    stamps = {p: p.stat().st_mtime_ns for p in out.glob("runs/*/checkpoints/last.pt")}
    assert len(stamps) == 8
    res = CliRunner().invoke(app, ["experiment", str(path), "-o", str(out), "--seeds", "0,1"])
    assert res.exit_code == 0, res.output
    assert res.output.count("already trained, reusing") == 8
    assert "reaches backprop" in res.output and "feedback_alignment" in res.output
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    res = CliRunner().invoke(app, ["experiment", str(path), "-o", str(out), "--json"])
    assert json.loads(res.output)["rows"] == json.loads((out / "summary.json").read_text())["rows"]
    # a rule changed under the same label is not mistaken for the runs trained before
    data = yaml.safe_load(path.read_text())
    data["rules"][1] = {"kind": "fa", "lr": 0.01}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError, match="lenet-feedback_alignment-seed0 was trained with another"
    ):
        run_suite(path, out, progress=False)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_summary_follows_the_conventions_by_hand():
    def run(arch, rule, kind, seed, acc, angle=None):
        r = {
            "architecture": arch,
            "rule": rule,
            "kind": kind,
            "seed": seed,
            "test_acc": acc,
            "seconds_per_epoch": 1.0 + seed,
            "curve": [acc / 2, acc],
        }
        if angle is not None:
            r.update(
                angle=sum(angle) / 2,
                angle_per_layer={"a": angle[0], "b": angle[1]},
                angle_curve=[90.0, sum(angle) / 2],
            )
        return r  # fmt: skip

    runs = [run("net", "backprop", "backprop", s, a) for s, a in enumerate([0.90, 0.92, 0.94])]
    runs += [
        run("net", "fa", "feedback_alignment", s, a, (80.0 + s, 60.0))
        for s, a in enumerate([0.5, 0.6, 0.7])
    ]
    runs += [run("net", "sham", "sham", s, a, (0.0, 0.0)) for s, a in enumerate([0.91, 0.9, 0.92])]
    rows, curves = summarise_rules(runs)
    bp, fa, sham = rows
    assert bp["test_acc"] == pytest.approx(0.92) and bp["test_acc_sd"] == pytest.approx(0.02)
    assert fa["test_acc_sd"] == pytest.approx(0.1)
    # fa's angle: per seed the mean over its two layers, 70, 70.5, 71
    assert fa["angle"] == pytest.approx(70.5) and fa["angle_sd"] == pytest.approx(0.5)
    assert fa["angle_per_layer"] == pytest.approx({"a": 81.0, "b": 60.0})
    assert fa["seconds_per_epoch"] == pytest.approx(2.0)
    # Welch's t-test by hand: unequal variances, Welch-Satterthwaite degrees of freedom
    va, vb = 0.1**2 / 3, 0.02**2 / 3
    t = (0.6 - 0.92) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 2 + vb**2 / 2)
    assert fa["welch_p"] == pytest.approx(2 * stats.t.sf(abs(t), df))
    assert fa["diff_vs_backprop"] == pytest.approx(-0.32) and fa["reaches_backprop"] is False
    # sham's mean 0.91 lies within backprop's 0.92 - 0.02: it reaches backprop's accuracy
    assert sham["reaches_backprop"] is True and bp["reaches_backprop"] is None
    band = curves["net"]["fa"]
    assert band["epoch"] == [1, 2]
    assert band["test_acc"]["mean"] == pytest.approx([0.3, 0.6])
    assert band["angle"]["mean"] == pytest.approx([90.0, 70.5])
    assert band["angle"]["sd"] == pytest.approx([0.0, 0.5])
    assert "angle" not in curves["net"]["backprop"]


@pytest.mark.parametrize(
    "change, message",
    [
        ({"rules": ["backprop", "hebbian"]}, "rules.1: unknown learning rule 'hebbian'; known"),
        (
            {"rules": [{"kind": "sign_symmetry", "variant": "xsf"}]},
            "rules.0.variant: got 'xsf'; allowed values are",
        ),
        ({"rules": [{"kind": "sa", "coefficients": {"decay": -1}}]}, "coefficients must be"),
        ({"rules": ["fa", "feedback_alignment"]}, "both feedback_alignment; give one of them"),
        ({"rules": []}, "rules is empty"),
        ({"temporal": {}}, "this suite has temporal and rules"),
        ({"benchmark": {"per_digit": 3}}, "benchmark apply to suites with a brain"),
        ({"overrides": {"rule.kind": "fa"}}, "overrides cannot set rule in a rules suite"),
        ({"overrides": {"seed": 3}}, "overrides cannot set seed"),
        ({"overrides": {"train.epochs": -1}}, "train.epochs"),
    ],
)
def test_bad_rules_entries_are_refused_with_one_line(tmp_path, change, message):
    path = _suite(tmp_path, **change)
    with pytest.raises(ConfigError, match=message) as err:
        load_suite(path)
    problems = [line for line in str(err.value).splitlines() if line.startswith("  - ")]
    assert len(problems) <= 1, str(err.value)
    assert not (tmp_path / "out").exists()


def test_rule_labels_and_shipped_rules_suites():
    suite, base = load_suite("rules-digits")
    assert [r.run_label() for r in suite.rules] == [
        "backprop", "sham", "feedback_alignment", "direct_feedback_alignment",
        "sign_symmetry-usf", "sign_symmetry-frsf", "sign_symmetry-brsf", "weight_mirror",
        "kolen_pollack", "information_alignment", "ia-thesis", "symmetric_alignment",
        "activation_alignment",
    ]  # fmt: skip
    assert suite.seeds == [0, 1, 2] and suite.kind == "rules"
    quick, _ = load_suite("rules-digits-quick")
    assert len(quick.rules) == 3 and quick.overrides == {"train.epochs": 2}
    from brainlike.evaluation.rules_suite import rules_plan

    plan = rules_plan(suite, base)
    assert len(plan) == 2 * 13 * 3
    assert plan[4].name == "rules-lenet-digits-sham-seed1"
    assert plan[4].overrides["rule"]["kind"] == "sham" and plan[4].overrides["seed"] == 1
    assert np.all([p.overrides["name"] == p.name for p in plan])
