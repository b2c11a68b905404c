"""Entorhinal (mec) suites: the design's cells and run names, bad entries refused in one line,
ablations (and their NaN-with-a-reason when no unit passes) by hand, the summary over seeds,
the report from a summary alone, and a tiny suite end to end whose numbers are the per-run
files' own, reused on a second call."""

from __future__ import annotations

import json
import statistics

import numpy as np
import pytest
import torch
import yaml
from suite_summaries import mec_summary

from brainlike.config import ConfigError, config_from_dict
from brainlike.config.suite import load_suite
from brainlike.evaluation.mec_report import findings, mec_columns_table, write_mec_report
from brainlike.evaluation.mec_suite import _ablate, mec_plan, summarise_mec

_BASE = {
    "name": "pi",
    "data": {"dataset": "trajectories",
             "trajectories": {"batches_per_epoch": 4, "test_sequences": 40, "arena": 1.0}},
    "model": {"kind": "pathint", "units": 24, "g_units": 24},
    "objective": {"task": "path_integration", "place_cells": {"kind": "gaussian", "n": 32}},
    "train": {"lr": 3e-3, "batch_size": 20, "epochs": 1, "device": "cpu",
              "schedule": "constant", "threads": 1},
}  # fmt: skip


def _suite(tmp_path, name="suite.yaml", top=None, **mec):
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(_BASE))
    section = {
        "cores": {"rnn-relu": {"model.core": "rnn", "model.activation": "relu"},
                  "ugrnn": {"model.core": "ugrnn"}},
        "targets": {"gaussian": {"objective.place_cells.kind": "gaussian"},
                    "cartesian": {"objective.place_cells.kind": "cartesian"}},
        **mec,
    }  # fmt: skip
    path = tmp_path / name
    path.write_text(
        yaml.safe_dump(
            {"name": "m", "runs": ["base.yaml"], "mec": section, **(top or {})}, sort_keys=False
        )
    )
    return path


def test_plan_crosses_cores_and_targets_over_seeds_in_design_order(tmp_path):
    suite, base = load_suite(
        _suite(
            tmp_path,
            top={"seeds": [0, 3]},
            design=[
                {"cores": ["ugrnn"], "targets": "all"},
                {"cores": "all", "targets": ["gaussian"]},
            ],
        )
    )
    assert suite.kind == "mec"
    # block 1: ugrnn x 2 targets; block 2: 2 cores x gaussian, (ugrnn, gaussian) once
    assert suite.mec.cells() == [
        ("ugrnn", "gaussian"), ("ugrnn", "cartesian"), ("rnn-relu", "gaussian"),
    ]  # fmt: skip
    plan = mec_plan(suite, base)
    assert [p.name for p in plan] == [
        "pi-ugrnn-gaussian-seed0", "pi-ugrnn-gaussian-seed3", "pi-ugrnn-cartesian-seed0",
        "pi-ugrnn-cartesian-seed3", "pi-rnn-relu-gaussian-seed0", "pi-rnn-relu-gaussian-seed3",
    ]  # fmt: skip
    assert plan[2].overrides["objective.place_cells.kind"] == "cartesian"
    assert plan[4].overrides["model.activation"] == "relu" and plan[5].seed == 3
    full, _ = load_suite(_suite(tmp_path))
    assert len(full.mec.cells()) == 2 * 2


def test_shipped_mec_suites_load_and_plan():
    for name, n in (("mec-small", 4 * 4 + 1), ("mec-small-quick", 2)):
        suite, base = load_suite(name)
        assert suite.kind == "mec" and len(mec_plan(suite, base)) == n
    # the long levels: the spec's 512 DoG cells and the Gaussian control, 60 epochs each
    long = [r for r in mec_plan(*load_suite("mec-small")) if r.target.endswith("-long")]
    assert sorted((r.core, r.target) for r in long) == [
        ("gru", "dog-long"), ("lstm", "dog-long"), ("rnn-relu", "dog-long"),
        ("ugrnn", "dog-long"), ("ugrnn", "gaussian-long"),
    ]  # fmt: skip
    assert all(r.overrides["train.epochs"] == 60 for r in long)


@pytest.mark.parametrize(
    "change, top, message",
    [
        ({"design": [{"cores": ["vanilla"]}]}, None, "design block 0 names cores ['vanilla']"),
        ({"targets": {"bad label!": {}}}, None, "label 'bad label!'"),
        ({"cores": {"gru": {"seed": 3}}}, None, "gru sets seed"),
        ({"session": {"recording": "nope.nc"}}, None, "mec.session.recording nope.nc not found"),
        ({"session": {"recording": "base.yaml", "animals": 3}}, None, "session sets recording and animals"),
        ({"analysis": {"layer": "h"}}, None, "layer"),
        ({}, {"score": {"splits": 3}}, "score apply to suites with a brain; a mec suite"),
        ({}, {"runs": ["base.yaml", "base.yaml"]}, "a mec suite builds every run from one base config"),
        ({}, {"rules": ["backprop"]}, "give exactly one of"),
    ],
)  # fmt: skip
def test_bad_mec_entries_are_refused_with_one_line(tmp_path, change, top, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")) as e:
        load_suite(_suite(tmp_path, top=top, **change))
    # one problem, named on one line
    lines = str(e.value).splitlines()
    assert len(lines) == 1 or ("1 problem(s)" in lines[0] and len(lines) == 2)


def test_a_cell_that_is_not_path_integration_is_refused_before_training(tmp_path):
    suite, base = load_suite(_suite(tmp_path, targets={"x": {"objective.place_cells.kind": "z"}}))
    with pytest.raises(ConfigError, match="mec suite cell rnn-relu x x"):
        mec_plan(suite, base)
    assert not (tmp_path / "runs").exists()


def _model():
    from brainlike.train.build import build_model
    from brainlike.train.tasks import make_task

    cfg = config_from_dict(_BASE)
    torch.manual_seed(0)
    return build_model(cfg, make_task(cfg).model_io, None).eval(), cfg


def test_ablation_silences_the_tuned_units_and_random_draws_by_hand():
    from brainlike.config.suite import MecConfig
    from brainlike.evaluation.pathint_maps import decoding_error

    model, cfg = _model()
    mec = MecConfig.model_validate(
        {"cores": {"a": {}}, "targets": {"b": {}}, "analysis": {"decoding_sequences": 30},
         "ablation": {"random": 3, "seed": 1}}
    )  # fmt: skip
    scores = np.full(24, -0.2)
    scores[[2, 5, 7]] = [0.4, 0.9, np.nan]  # NaN never passes
    scores[11] = 0.31
    units = np.arange(24)
    out = _ablate(model, cfg, scores, units, 0.3, mec)
    assert out["units"] == [2, 5, 11] and out["n_units"] == 3 and out["reason"] is None
    err = lambda s: decoding_error(model, cfg, n_sequences=30, seed=0, silenced=s)  # noqa: E731
    assert out["baseline"] == pytest.approx(err(None))
    assert out["targeted"] == pytest.approx(err({"g": [2, 5, 11]}))
    rng = np.random.default_rng(1)
    draws = [np.sort(rng.choice(24, size=3, replace=False)).tolist() for _ in range(3)]
    random = [err({"g": d}) for d in draws]
    assert out["random_mean"] == pytest.approx(np.mean(random))
    assert out["targeted_minus_random"] == pytest.approx(err({"g": [2, 5, 11]}) - np.mean(random))
    # no unit above the threshold: NaN (None) with the reason, no failure
    none = _ablate(model, cfg, scores, units, 0.95, mec)
    assert none["targeted_minus_random"] is None and none["n_units"] == 0
    assert "no unit scores above 0.95 (best 0.9)" in none["reason"]


def test_summary_over_seeds_by_hand():
    runs = [
        {"core": "a", "target": "g", "seed": s, "parameters": 10, "decoding_error_cm": v}
        for s, v in ((0, 20.0), (1, 30.0), (2, None))
    ] + [{"core": "b", "target": "g", "seed": 0, "parameters": 20, "decoding_error_cm": 7.0}]
    rows = summarise_mec(runs)
    assert [(r["core"], r["n_seeds"]) for r in rows] == [("a", 3), ("b", 1)]
    assert rows[0]["decoding_error_cm"] == pytest.approx(25.0)
    assert rows[0]["decoding_error_cm_sd"] == pytest.approx(statistics.stdev([20.0, 30.0]))
    assert rows[1]["decoding_error_cm"] == 7.0 and rows[1]["decoding_error_cm_sd"] is None
    assert rows[0]["mapping.pct_ceiling"] is None  # missing everywhere: None, not 0


def test_report_table_and_figures_from_the_summary(tmp_path):
    summary = mec_summary("mec-<b>x</b>")
    columns, rows = mec_columns_table(summary)
    assert rows[0][columns.index("error cm")] == "10.0"
    assert rows[0][columns.index("% grid >thr")] == "25.0"
    assert rows[1][columns.index("% ceiling")] == "41.0"
    assert rows[0][columns.index("ablate grid cm")] == "1.50"
    assert rows[1][columns.index("ablate grid cm")] == "n/a"
    grid, border = findings(summary)
    assert grid.startswith("grid: at most 50.0 % of units above their null's 95th percentile")
    assert (
        "(rnn / gaussian; 25.0 % above the fixed threshold 0.3; that cell decodes position to 10.0 cm)"
        in grid
    )
    assert "grid-tuned units emerged" in grid
    assert border == "border: no shuffle null was computed (analysis.shuffles 0)."
    html = write_mec_report(tmp_path, summary).read_text()
    assert grid in html.replace("&#39;", "'")
    for name in ("decoding.png", "scores.png", "ceiling.png", "ablation.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert html.count("data:image/png;base64,") == 4
    assert "r1, grid: no unit scores above 0.3" in html
    assert "mec-&lt;b&gt;x&lt;/b&gt;" in html and "<b>x</b>" not in html
    assert (tmp_path / "comparison.csv").read_text().count("\n") == 3


def test_tiny_mec_suite_end_to_end_matches_the_run_files_and_reuses(tmp_path):
    pytest.importorskip("brainlike.evaluation.spatial_analysis")
    pytest.importorskip("brainlike.evaluation.spatial_scoring")
    from brainlike.evaluation.suites import run_suite

    path = _suite(
        tmp_path,
        cores={"gru": {"model.core": "gru"}},
        session={"animals": 2, "minutes": 1.0},
        analysis={"sequences": 100, "decoding_sequences": 40, "shuffles": 5, "splits": 2},
        thresholds={"grid": -2.0, "border": 5.0},  # every unit passes grid, none border
        ablation={"random": 2},
    )
    out = tmp_path / "out"
    summary = run_suite(path, out, progress=False, record=False)
    assert [r["run"] for r in summary["runs"]] == [
        "pi-gru-gaussian-seed0",
        "pi-gru-cartesian-seed0",
    ]
    assert summary["kind"] == "mec" and set(summary["conventions"]) >= {"decoding_error_cm"}
    assert (out / "session" / "recording.nc").is_file()
    for run in summary["runs"]:
        saved = json.loads((out / "analysis" / run["run"] / "mec.json").read_text())
        assert run["decoding_error_cm"] == pytest.approx(saved["decoding_error_cm"])
        assert 0 < run["decoding_error_cm"] < 200
        assert run["mapping.pct_ceiling"] == pytest.approx(
            100 * saved["mapping"]["median"] / saved["mapping"]["ceiling"], rel=1e-6
        )
        scores = np.array([np.nan if v is None else v for v in saved["grid"]["scores"]])
        assert len(scores) == run["n_units"] == 24
        assert run["grid.median"] == pytest.approx(np.nanmedian(scores))
        assert run["grid.n_scored"] == int(np.isfinite(scores).sum())
        assert run["grid.frac_threshold"] == pytest.approx(np.mean(scores > -2.0))
        assert run["ablation.grid.n_units"] == int(np.sum(scores > -2.0))
        assert run["ablation.border.targeted_minus_random"] is None
        assert "no unit scores above 5.0" in run["ablation.border.reason"]
        assert (out / "runs" / run["run"] / "summary.json").is_file()
    for name in ("report.html", "comparison.csv", "summary.json", "scores.png"):
        assert (out / name).is_file()
    # a second call (the command) trains, analyses and maps nothing again, and prints the table
    from typer.testing import CliRunner

    from brainlike.cli import app

    stamps = {
        p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".pt", ".json", ".nc")
    }
    stamps = {p: t for p, t in stamps.items() if p.parent != out}
    res = CliRunner().invoke(app, ["experiment", str(path), "-o", str(out), "--no-progress"])
    assert res.exit_code == 0, res.output
    assert "reusing mec.json" in res.output and "% ceiling" in res.output
    again = json.loads((out / "summary.json").read_text())
    assert again["runs"] == summary["runs"]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_a_recording_of_your_own_replaces_the_generated_session(tmp_path):
    from brainlike.evaluation.mec_suite import _session

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "mine.nc").write_bytes(b"")
    suite, base = load_suite(_suite(tmp_path, session={"recording": "data/mine.nc"}))
    out = tmp_path / "out"
    assert _session(suite, base, out, 1.0, print) == tmp_path / "data" / "mine.nc"
    assert not (out / "session").exists()
