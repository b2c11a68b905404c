"""Experiment suites: a tiny suite end to end, static and temporal, its errors and its seeds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from brainlike.config import ConfigError, shipped_configs_dir
from brainlike.config.suite import load_suite
from brainlike.evaluation.suites import run_suite


def _tiny_config(path, name, seed=0, depth=8):
    path.write_text(
        yaml.safe_dump(
            {
                "name": name,
                "seed": seed,
                "data": {"dataset": "digits", "input_size": 16, "train_size": 60, "test_size": 30},
                "model": {"kind": "resnet", "depth": depth},
                "train": {"epochs": 1, "batch_size": 30, "device": "cpu"},
            }
        )
    )


def _tiny_suite(tmp_path):
    for name, seed in (("brain", 5), ("a", 0), ("b", 1)):
        _tiny_config(tmp_path / f"{name}.yaml", name, seed)
    suite = {
        "name": "tiny",
        "runs": ["a.yaml", "b.yaml"],
        "brain": {"config": "brain.yaml", "areas": {"V1": "layer1.0", "IT": "layer3.0"}},
        "benchmark": {
            "per_digit": 3,
            "animals": 2,
            "neuroids": 8,
            "trials": 4,
            "observer_subjects": 4,
            "observer_repeats": 10,
        },
        "score": {"splits": 2, "bootstraps": 2},
    }
    p = tmp_path / "suite.yaml"
    p.write_text(yaml.safe_dump(suite))
    return p


def test_suite_trains_scores_and_reports(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    path = _tiny_suite(tmp_path)
    db = f"sqlite:///{tmp_path / 'results.sqlite'}"
    # a run killed before its first checkpoint leaves a folder: the suite starts it afresh
    (tmp_path / "out" / "runs" / "a").mkdir(parents=True)
    summary = run_suite(path, tmp_path / "out", db=db, progress=False)
    rows = {r["run"]: r for r in summary["rows"]}
    assert set(rows) == {"a", "b"}
    for r in rows.values():
        for region in ("V1", "IT"):
            assert r[f"{region}_layer"] and np.isfinite(r[f"{region}_pct"])
            assert np.isclose(r[f"{region}_pct"], 100 * r[region] / r[f"{region}_ceiling"])
        assert r["parameters"] > 0 and r["i2n_ceiling"] is not None
    out = tmp_path / "out"
    for f in (
        "summary.json",
        "comparison.csv",
        "comparison.png",
        "report.html",
        "benchmark/observer_trials.csv",
        "scores/a/scores.json",
    ):
        assert (out / f).is_file(), f
    assert json.loads((out / "summary.json").read_text())["suite"] == "tiny"
    from brainlike.results import ResultsDB

    assert len(ResultsDB(db).query()) > 0
    # a second call reuses the finished runs and the benchmark
    again = run_suite(path, tmp_path / "out", progress=False, record=False)
    assert [r["V1"] for r in again["rows"]] == [r["V1"] for r in summary["rows"]]


def test_suite_errors_name_the_problem(tmp_path):
    path = _tiny_suite(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["runs"] = ["a.yaml", "missing.yaml"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="missing.yaml"):
        load_suite(path)
    data["runs"] = ["a.yaml", "a.yaml"]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="share the experiment name"):
        load_suite(path)
    with pytest.raises(ConfigError, match="shipped suites: .*grcnn-brainlikeness-digits"):
        load_suite(tmp_path / "nope")


def test_temporal_suite_fits_over_time_and_measures_ost(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    (tmp_path / "ff.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "ff",
                "data": {"dataset": "digits", "input_size": 32, "train_size": 40, "test_size": 20},
                "model": {"kind": "convrnn", "width": 0.125, "time_steps": 8, "t_on": 6},
                "train": {"epochs": 1, "batch_size": 40, "device": "cpu"},
            }
        )
    )
    suite = {
        "name": "tiny-temporal",
        "runs": ["ff.yaml"],
        "temporal": {
            "steps": 12,
            "image_steps": 5,
            "widths": [24, 24],
            "behaviour_bins": [4, 9],
            "layers": ["nodes.conv4", "nodes.conv5"],
            "ost_splits": 3,
            "ost_components": 20,
        },
        "benchmark": {"per_digit": 5, "animals": 2, "neuroids": 12, "trials": 4},
        "score": {"splits": 2, "bootstraps": 2},
    }
    (tmp_path / "suite.yaml").write_text(yaml.safe_dump(suite))
    s = run_suite(tmp_path / "suite.yaml", tmp_path / "out", progress=False, record=False)
    (row,) = s["rows"]
    # conv1-conv5 outputs at width 0.125 on 32 px: the small stem keeps 32 px, then pools
    assert row["units"] == 8 * 32 * 32 + 16 * 16 * 16 + 32 * 8 * 8 + 32 * 4 * 4 + 64 * 2 * 2
    assert row["pareto"] is True and row["IT_layer"] in ("nodes.conv4", "nodes.conv5")
    assert len(row["IT_pct_per_bin"]) == 12
    assert -1.0 <= row["ost_rho"] <= 1.0 and row["ost_images"] > 0
    assert (tmp_path / "out" / "comparison.png").is_file()
    assert 0 < s["benchmark"]["it_solved_images"] <= 50


@pytest.mark.parametrize(
    "name", sorted(p.stem for p in (shipped_configs_dir() / "suites").glob("*.yaml"))
)
def test_every_shipped_suite_loads(name):
    suite, _ = load_suite(name)
    assert suite.name == name


def test_suite_needs_exactly_one_kind_of_brain(tmp_path):
    path = _tiny_suite(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["temporal"] = {}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(
        ConfigError, match="exactly one of brain .* this suite has brain and temporal"
    ):
        load_suite(path)
    del data["brain"]
    data["seeds"] = [0, 1]
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match="seeds apply to suites with a trained brain"):
        load_suite(path)


def test_experiment_command_prints_the_comparison(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from brainlike.cli import app

    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    path = _tiny_suite(tmp_path)
    out = tmp_path / "out"
    res = CliRunner().invoke(app, ["experiment", str(path), "-o", str(out), "--no-record"])
    assert res.exit_code == 0, res.output
    assert "V1 %" in res.output and "I2n ceiled" in res.output and "report.html" in res.output
    # captured output is not a terminal: plain progress lines, inside each stage too
    lines = res.output.splitlines()
    assert any(line.startswith("train a: epoch 1/1 batch 2/2 (100%) done in") for line in lines)
    assert any(line.startswith("score a: ceilings and layer fits fit ") for line in lines)
    assert any(
        line.startswith("experiment tiny: runs trained and scored run 1/2 (50%) ")
        and ", ETA " in line
        for line in lines
    )
    html = (out / "report.html").read_text()
    assert "<th>IT %</th>" in html and "data:image/png;base64," in html
    res = CliRunner().invoke(app, ["experiment", str(tmp_path / "nope.yaml"), "--no-record"])
    assert res.exit_code == 2 and "shipped suites" in res.output


def test_temporal_means_count_silent_layers_as_zero_and_skip_unreliable_bins():
    from brainlike.evaluation.temporal_suite import temporal_means

    score = np.array([np.nan, 0.4, 0.6, np.nan, 0.2])
    ceiling = np.array([0.05, 0.8, 0.6, 0.5, np.nan])
    m = temporal_means("IT", score, ceiling, image_steps=3, min_ceiling=0.1)
    # counted bins: 1 (50 %), 2 (100 %), 3 (constant layer: 0 %)
    assert m["IT_pct_per_bin"][0] is None and m["IT_pct_per_bin"][4] is None
    assert m["IT_pct_per_bin"][1:4] == pytest.approx([50.0, 100.0, 0.0])
    assert m["IT_pct"] == pytest.approx(50.0)
    assert m["IT_pct_on"] == pytest.approx(75.0) and m["IT_pct_off"] == pytest.approx(0.0)
    assert m["IT"] == pytest.approx((0.4 + 0.6 + 0.0) / 3)


def test_suite_over_seeds_reports_mean_and_sd_and_reuses_scores(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    path = _tiny_suite(tmp_path)
    data = yaml.safe_load(path.read_text())
    data["runs"], data["seeds"] = ["a.yaml"], [0, 3]
    path.write_text(yaml.safe_dump(data))
    s = run_suite(path, tmp_path / "out", progress=False, record=False)
    assert [r["run"] for r in s["rows"]] == ["a", "a-seed3"]
    assert [r["seed"] for r in s["rows"]] == [0, 3]
    (agg,) = s["recipes"]
    assert agg["recipe"] == "a" and agg["n_seeds"] == 2
    v1 = [r["V1_pct"] for r in s["rows"]]
    assert agg["V1_pct"] == pytest.approx(np.mean(v1))
    assert agg["V1_pct_sd"] == pytest.approx(np.std(v1, ddof=1))
    from brainlike.evaluation.suite_report import suite_columns

    cols, rows = suite_columns(s)
    assert cols[:2] == ["recipe", "seeds"] and " ± " in rows[0][4]
    logs: list[str] = []
    again = run_suite(path, tmp_path / "out", progress=False, record=False, log=logs.append)
    assert sum("reusing scores.json" in m for m in logs) == 2
    assert [r["V1"] for r in again["rows"]] == [r["V1"] for r in s["rows"]]


def test_experiment_seeds_option_is_checked(tmp_path):
    from typer.testing import CliRunner

    from brainlike.cli import app

    path = _tiny_suite(tmp_path)
    res = CliRunner().invoke(app, ["experiment", str(path), "--seeds", "1,1", "--no-record"])
    assert res.exit_code == 2 and "distinct" in res.output
    res = CliRunner().invoke(app, ["experiment", str(path), "--seeds", "x", "--no-record"])
    assert res.exit_code == 2 and "comma-separated integers" in res.output


def test_a_suite_run_asked_for_more_epochs_goes_on_and_otherwise_is_reused(tmp_path):
    # a finished run is reused only when it has the epochs asked for; with more it resumes
    import json

    from brainlike.config import shipped_configs_dir
    from brainlike.evaluation.suite_runs import _train

    tiny = {
        "model.units": 16,
        "model.g_units": 16,
        "objective.place_cells.n": 32,
        "data.trajectories.batches_per_epoch": 2,
        "data.trajectories.test_sequences": 20,
        "train.batch_size": 8,
    }
    config = shipped_configs_dir() / "pathint-small.yaml"
    run, said = tmp_path / "run", []
    _train(config, run, False, said.append, {**tiny, "train.epochs": 1})
    _train(config, run, False, said.append, {**tiny, "train.epochs": 2})
    rows = [json.loads(x) for x in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert any("trained 1 epochs, going on to 2" in m for m in said)
    stamp = (run / "checkpoints" / "last.pt").stat().st_mtime_ns
    summary = _train(config, run, False, said.append, {**tiny, "train.epochs": 2})
    assert "reusing" in said[-1] and summary["complete"]
    assert (run / "checkpoints" / "last.pt").stat().st_mtime_ns == stamp
