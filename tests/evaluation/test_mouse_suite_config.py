"""Mouse suites without training: the design's cells, bad entries refused in one line, the
summary over seeds by hand, and the report drawn from a summary alone."""

from __future__ import annotations

import statistics

import pytest
import yaml
from suite_summaries import mouse_summary

from brainlike.config import ConfigError
from brainlike.config.suite import load_suite
from brainlike.evaluation.mouse_report import area_columns, mouse_columns, write_mouse_report
from brainlike.evaluation.mouse_suite import mouse_plan, summarise_mouse


def _base(path):
    path.write_text(
        yaml.safe_dump(
            {
                "name": "base",
                "data": {"dataset": "digits", "train_size": 48, "test_size": 30},
                "model": {"kind": "resnet", "depth": 8},
                "train": {"epochs": 1, "batch_size": 16, "device": "cpu"},
            }
        )
    )


def _suite(tmp_path, **mouse):
    _base(tmp_path / "base.yaml")
    section = {
        "models": {"r8": {"model": {"kind": "resnet", "depth": 8}},
                   "r14": {"model": {"kind": "resnet", "depth": 14}}},
        "objectives": {"sup": {"objective.task": "classification"},
                       "smooth": {"objective.label_smoothing": 0.1}},
        "resolutions": [16, 32],
        **mouse,
    }  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(
        yaml.safe_dump({"name": "m", "runs": ["base.yaml"], "mouse": section}, sort_keys=False)
    )
    return path


def test_design_blocks_are_a_union_of_crossings_in_order(tmp_path):
    path = _suite(
        tmp_path,
        design=[
            {"models": "all", "objectives": ["sup"], "resolutions": [32]},
            {"models": ["r8"], "objectives": "all", "resolutions": "all"},
        ],
    )
    suite, base = load_suite(path)
    cells = suite.mouse.cells()
    # block 1: 2 models x sup x 32; block 2: r8 x 2 objectives x 2 sizes, (r8, sup, 32) once
    assert cells == [
        ("r8", "sup", 32),
        ("r14", "sup", 32),
        ("r8", "sup", 16),
        ("r8", "smooth", 16),
        ("r8", "smooth", 32),
    ]
    plan = mouse_plan(suite, base)
    assert [p.name for p in plan][:2] == ["base-r8-sup-32px-seed0", "base-r14-sup-32px-seed0"]
    assert plan[3].overrides["objective.label_smoothing"] == 0.1
    assert plan[3].overrides["data.input_size"] == 16
    # the full crossing by default
    full, _ = load_suite(_suite(tmp_path))
    assert len(full.mouse.cells()) == 2 * 2 * 2


@pytest.mark.parametrize(
    "change, message",
    [
        ({"design": [{"models": ["vgg"]}]}, "design block 0 names models ['vgg']"),
        ({"resolutions": [32, 32]}, "resolutions must be distinct"),
        ({"objectives": {"bad label!": {}}}, "label 'bad label!'"),
        ({"models": {"r8": {"data.input_size": 8}}}, "r8 sets data.input_size"),
        ({"mappings": ["cca"]}, "mappings"),
    ],
)
def test_bad_mouse_entries_are_refused_with_one_line(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        load_suite(_suite(tmp_path, **change))


def test_a_cell_whose_config_does_not_validate_is_refused_before_training(tmp_path):
    suite, base = load_suite(_suite(tmp_path, objectives={"x": {"objective.task": "nope"}}))
    with pytest.raises(ConfigError, match="mouse suite cell r8 x x x 16 px"):
        mouse_plan(suite, base)
    assert not (tmp_path / "runs").exists()


def test_summary_over_seeds_by_hand():
    runs = [
        {"model": "a", "objective": "o", "resolution": 32, "seed": s, "parameters": 10, "x": v}
        for s, v in ((0, 40.0), (1, 50.0), (2, None))
    ] + [{"model": "b", "objective": "o", "resolution": 32, "seed": 0, "parameters": 20, "x": 7.0}]
    rows = summarise_mouse(runs, ["x"])
    assert [(r["model"], r["n_seeds"]) for r in rows] == [("a", 3), ("b", 1)]
    assert rows[0]["x"] == pytest.approx(45.0)
    assert rows[0]["x_sd"] == pytest.approx(statistics.stdev([40.0, 50.0]))
    assert rows[1]["x"] == 7.0 and rows[1]["x_sd"] is None


def test_report_tables_and_figures_from_the_summary(tmp_path):
    summary = mouse_summary("mouse-<b>test</b>")
    columns, rows = mouse_columns(summary)
    assert "neuropixels ridge median %" in columns and "transfer position" in columns
    assert rows[1][columns.index("neuropixels ridge median %")] == "20.0"
    assert rows[2][columns.index("transfer position")] == "0.300"
    _, per_area = area_columns(summary, "neuropixels", "ridge")
    assert per_area[0] == ["dual / simclr / 32 px", "10.0", "10.0"]
    path = write_mouse_report(tmp_path, summary)
    html = path.read_text()
    for name in ("areas.png", "transfer.png", "resolution.png", "size.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert html.count("data:image/png;base64,") == 4
    assert "mouse-&lt;b&gt;test&lt;/b&gt;" in html and "<b>test</b>" not in html
    assert (tmp_path / "comparison.csv").read_text().count("\n") == 4


def test_layers_name_defined_models(tmp_path):
    suite, _ = load_suite(_suite(tmp_path, layers={"r8": ["layer1"]}))
    assert suite.mouse.layers == {"r8": ["layer1"]}
    with pytest.raises(ConfigError, match=r"layers names models \['vgg'\]"):
        load_suite(_suite(tmp_path, layers={"vgg": ["x"]}))
