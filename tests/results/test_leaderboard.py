"""Leaderboard: best layer per model on a hand-built database, exports, escaping."""

import csv
import io
import json

import pytest
from rich.console import Console

from brainlike.results import ResultsDB, leaderboard, render_table

SCRIPT = "<script>alert(1)</script>"

# (model, region, layer, value, metric); hand-computed bests below
ROWS = [
    ("alexnet", "IT", "conv3", 0.40, "pls_r"),
    ("alexnet", "IT", "conv5", 0.55, "pls_r"),
    ("alexnet", "IT", "fc6", 0.50, "pls_r"),
    ("alexnet", "V4", "conv3", 0.60, "pls_r"),
    ("alexnet", "V4", "conv5", 0.30, "pls_r"),
    ("reset4", "IT", "sheet:levels.0.grid", 0.70, "pls_r"),
    ("reset4", "IT", "output", 0.20, "pls_r"),
    ("reset4", "IT", "broken", float("nan"), "pls_r"),
    ("reset4", "V4", "sheet:levels.0.grid", 0.50, "pls_r"),
    (SCRIPT, "IT", "<b>", 0.10, "pls_r"),
    ("alexnet", "IT", "conv5", 0.52, "pls_r"),  # a later, worse run of the best layer
    ("alexnet", "IT", "fc6", 0.90, "rsa"),  # another metric: its own column
]


@pytest.fixture
def db(tmp_path):
    db = ResultsDB(f"sqlite:///{tmp_path / 'board.sqlite'}")
    db.add_scores(
        dict(
            model=m,
            benchmark="simulated-IT",
            region=r,
            layer=layer,
            metric=metric,
            score={"value": v, "error": 0.01, "ceiled": v / 2},
        )
        for m, r, layer, v, metric in ROWS
    )
    return db


def cells(board):
    return {
        (row.model, col.label): (cell.value, cell.layer)
        for row in board.rows
        for col, cell in row.cells.items()
    }


def test_best_layer_per_model_and_ranking(db):
    board = leaderboard(db, metric="pls_r")
    assert [c.label for c in board.columns] == ["simulated-IT / IT", "simulated-IT / V4"]
    got = cells(board)
    assert got[("alexnet", "simulated-IT / IT")] == (0.55, "conv5")
    assert got[("alexnet", "simulated-IT / V4")] == (0.60, "conv3")
    assert got[("reset4", "simulated-IT / IT")] == (0.70, "sheet:levels.0.grid")
    assert got[("reset4", "simulated-IT / V4")] == (0.50, "sheet:levels.0.grid")
    assert got[(SCRIPT, "simulated-IT / IT")] == (0.10, "<b>")
    assert (SCRIPT, "simulated-IT / V4") not in got
    # means: reset4 (0.7 + 0.5) / 2 = 0.6 > alexnet (0.55 + 0.6) / 2 = 0.575 > script 0.1
    assert [(r.rank, r.model) for r in board.rows] == [(1, "reset4"), (2, "alexnet"), (3, SCRIPT)]
    assert [r.mean for r in board.rows] == pytest.approx([0.6, 0.575, 0.1])
    it = board.columns[0]
    assert board.rows[0].cells[it].n_layers == 3  # sheet, output, broken (NaN ignored)


def test_latest_score_ceiled_values_and_metric_columns(db):
    latest = cells(leaderboard(db, metric="pls_r", best="latest"))
    assert latest[("alexnet", "simulated-IT / IT")] == (0.52, "conv5")
    ceiled = leaderboard(db, metric="pls_r", value="ceiled")
    assert cells(ceiled)[("alexnet", "simulated-IT / IT")] == (0.275, "conv5")
    every = leaderboard(db)
    assert [c.label for c in every.columns] == [
        "simulated-IT / IT / pls_r",
        "simulated-IT / IT / rsa",
        "simulated-IT / V4 / pls_r",
    ]
    assert cells(every)[("alexnet", "simulated-IT / IT / rsa")] == (0.90, "fc6")
    only_v4 = leaderboard(db.query(region="V4"))
    assert [r.model for r in only_v4.rows] == ["alexnet", "reset4"]
    with pytest.raises(ValueError, match="best must be one of"):
        leaderboard(db, best="mean")


def test_csv_export(db, tmp_path):
    board = leaderboard(db, metric="pls_r")
    text = board.to_csv(tmp_path / "board.csv")
    assert (tmp_path / "board.csv").read_text() == text
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == [
        "rank",
        "model",
        "mean",
        "simulated-IT / IT",
        "simulated-IT / IT layer",
        "simulated-IT / IT error",
        "simulated-IT / V4",
        "simulated-IT / V4 layer",
        "simulated-IT / V4 error",
    ]
    assert rows[1][:5] == ["1", "reset4", "0.6", "0.7", "sheet:levels.0.grid"]
    assert rows[3] == ["3", SCRIPT, "0.1", "0.1", "<b>", "0.01", "", "", ""]


def test_html_export_escapes_every_name(db, tmp_path):
    page = leaderboard(db, metric="pls_r").to_html(tmp_path / "board.html", title="IT & V4")
    assert (tmp_path / "board.html").read_text() == page
    assert "<script" not in page and "<b>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert '<div class="layer">&lt;b&gt;</div>' in page
    assert "<title>IT &amp; V4</title>" in page
    assert '<td class="best">0.700 &plusmn; 0.010' in page  # reset4 leads IT
    assert page.count("<tr>") == 1 + 3


def test_records_and_rich_table(db):
    board = leaderboard(db, metric="pls_r")
    records = json.loads(json.dumps(board.to_records()))
    assert records[0]["model"] == "reset4" and records[0]["rank"] == 1
    assert records[1]["scores"][0] == {
        "benchmark": "simulated-IT",
        "region": "IT",
        "metric": "pls_r",
        "layer": "conv5",
        "value": 0.55,
        "error": 0.01,
        "ceiled": 0.275,
        "ceiling": None,
        "n_layers": 3,
    }
    db.add_score(model="[red]markup[/red]", benchmark="simulated-IT", region="IT", score=0.05)
    console = Console(record=True, width=200, color_system=None)
    console.print(render_table(leaderboard(db, metric=["pls_r", ""])))
    text = console.export_text()
    assert SCRIPT in text and "[red]markup[/red]" in text
    assert "0.700 ± 0.010 (sheet:levels.0.grid)" in text
