"""Leaderboard: best layer per model on a hand-built database, benchmark identity (recording
hash, metric, mapping, convention, settings), no averaging across metrics, old databases,
exports, escaping."""

import csv
import io
import json
import sqlite3

import pytest
import sqlalchemy as sa
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
def db(db_url):
    db = ResultsDB(db_url)
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


IT, V4 = "simulated-IT@unknown / IT", "simulated-IT@unknown / V4"
MEAN = "all columns"


def test_best_layer_per_model_and_ranking(db):
    board = leaderboard(db, metric="pls_r")
    # rows written without a recording hash show as hash 'unknown'
    assert [c.label for c in board.columns] == [IT, V4]
    got = cells(board)
    assert got[("alexnet", IT)] == (0.55, "conv5")
    assert got[("alexnet", V4)] == (0.60, "conv3")
    assert got[("reset4", IT)] == (0.70, "sheet:levels.0.grid")
    assert got[("reset4", V4)] == (0.50, "sheet:levels.0.grid")
    assert got[(SCRIPT, IT)] == (0.10, "<b>")
    assert (SCRIPT, V4) not in got
    # one comparable set: means over both columns, reset4 (0.7 + 0.5) / 2 = 0.6 > alexnet
    # (0.55 + 0.6) / 2 = 0.575; the script has no V4 value, so no mean and no rank
    assert [(r.rank, r.model) for r in board.rows] == [
        (1, "reset4"),
        (2, "alexnet"),
        (None, SCRIPT),
    ]
    assert [r.means[MEAN] for r in board.rows] == pytest.approx([0.6, 0.575, None])
    assert board.ranked and board.mean_sets() == [MEAN]
    assert board.shared == "pls_r, mapping not recorded, settings unknown"
    it = board.columns[0]
    assert board.rows[0].cells[it].n_layers == 3  # sheet, output, broken (NaN ignored)


def test_latest_score_ceiled_values_and_metric_columns(db):
    latest = cells(leaderboard(db, metric="pls_r", best="latest"))
    assert latest[("alexnet", IT)] == (0.52, "conv5")
    ceiled = leaderboard(db, metric="pls_r", value="ceiled")
    assert cells(ceiled)[("alexnet", IT)] == (0.275, "conv5")
    every = leaderboard(db)
    assert [c.label for c in every.columns] == [
        f"{IT} / pls_r",
        f"{IT} / rsa",
        f"{V4} / pls_r",
    ]
    assert cells(every)[("alexnet", f"{IT} / rsa")] == (0.90, "fc6")
    # two metrics: no mean mixes them, and nothing is ranked
    assert not every.ranked and [r.rank for r in every.rows] == [None, None, None]
    assert [r.model for r in every.rows] == sorted(r.model for r in every.rows)
    assert every.mean_sets() == ["pls_r"]  # rsa has one column: no mean
    alexnet = next(r for r in every.rows if r.model == "alexnet")
    assert alexnet.means == {"pls_r": pytest.approx(0.575)}
    assert "not ranked" in every.caption()
    only_v4 = leaderboard(db.query(region="V4"))
    assert [r.model for r in only_v4.rows] == ["alexnet", "reset4"]
    with pytest.raises(ValueError, match="best must be one of"):
        leaderboard(db, best="mean")


def test_csv_export(db, tmp_path):
    board = leaderboard(db, metric="pls_r")
    text = board.to_csv(tmp_path / "board.csv")
    assert (tmp_path / "board.csv").read_text() == text
    rows = list(csv.reader(io.StringIO(text)))
    full = "pls_r / mapping not recorded / settings unknown"
    assert rows[0] == [
        "rank",
        "model",
        "mean of all columns",
        f"{IT} / {full}",
        f"{IT} / {full} layer",
        f"{IT} / {full} error",
        f"{V4} / {full}",
        f"{V4} / {full} layer",
        f"{V4} / {full} error",
    ]
    assert rows[1][:5] == ["1", "reset4", "0.6", "0.7", "sheet:levels.0.grid"]
    assert rows[3] == ["", SCRIPT, "", "0.1", "<b>", "0.01", "", "", ""]


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
    assert records[0]["means"] == {MEAN: pytest.approx(0.6)}
    assert records[1]["scores"][0] == {
        "benchmark": "simulated-IT",
        "recording_hash": "unknown",
        "region": "IT",
        "metric": "pls_r",
        "mapping": None,
        "convention": None,
        "variant": None,
        "comparable_set": MEAN,
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
    assert "not ranked" in text  # pls_r and the metric-less score are two sets


H1, H2 = "a" * 8 + "1" * 56, "b" * 8 + "2" * 56
NC = {"ceiling": "inter-animal", "numerator": "halves", "train_fraction": 0.5}


def _row(model, value, *, digest=H1, metric="noise_corrected_predictivity", **kw):
    return dict(
        model=model,
        benchmark="V4-session",
        recording_hash=digest,
        region="V4",
        layer="l1",
        metric=metric,
        mapping=kw.pop("mapping", "pls"),
        variant=kw.pop("variant", NC),
        score={"value": value, "error": 0.01},
        **kw,
    )


def test_two_recordings_with_one_name_are_two_benchmarks(db_url):
    db = ResultsDB(db_url)
    db.add_scores([_row("a", 0.5), _row("b", 0.4), _row("a", 0.9, digest=H2)])
    board = leaderboard(db)
    assert [c.label for c in board.columns] == [
        "V4-session@aaaaaaaa / V4",
        "V4-session@bbbbbbbb / V4",
    ]
    got = cells(board)
    assert got[("a", "V4-session@aaaaaaaa / V4")] == (0.5, "l1")
    assert got[("a", "V4-session@bbbbbbbb / V4")] == (0.9, "l1")
    # same metric, mapping and settings: one comparable set; b lacks the second recording
    assert [(r.rank, r.model, r.means["all columns"]) for r in board.rows] == [
        (1, "a", pytest.approx(0.7)),
        (None, "b", None),
    ]
    # a hash prefix picks one recording; the name alone picks both
    one = leaderboard(db, benchmark="V4-session@bbbb")
    assert [c.recording_hash for c in one.columns] == [H2]
    assert len(leaderboard(db, benchmark="V4-session").columns) == 2


def test_metrics_conventions_and_settings_are_never_averaged(db_url):
    db = ResultsDB(db_url)
    bs = {"ceiling": "internal consistency", "train_fraction": 0.9}
    db.add_scores(
        [
            _row("a", 0.50),
            _row("b", 0.60),
            _row("a", 0.90, metric="brainscore_predictivity", convention="ratio", variant=bs),
            _row("b", 0.20, metric="brainscore_predictivity", convention="ratio", variant=bs),
            _row("a", 0.30, variant={**NC, "numerator": "full"}),
        ]
    )
    board = leaderboard(db)
    assert len(board.columns) == 3 and len(board.sets) == 3
    # the old 'mean' would rank a first: (0.5 + 0.9 + 0.3) / 3 > (0.6 + 0.2) / 2
    assert not board.ranked and all(r.means == {} for r in board.rows)
    labels = [c.label for c in board.columns]
    assert any("convention ratio" in lab for lab in labels)
    assert any("numerator=full" in lab for lab in labels)
    # one metric (by its `brainlike score` name) and one setting: ranked within that set
    nc = leaderboard(db, metric="noise-corrected")
    assert len(nc.columns) == 2 and not nc.ranked
    bs_board = leaderboard(db, metric="brainscore")
    assert bs_board.ranked and [(r.rank, r.model) for r in bs_board.rows] == [(1, "a"), (2, "b")]


def test_unknown_filters_list_what_is_there(db_url):
    db = ResultsDB(db_url)
    db.add_scores([_row("a", 0.5), _row("a", 0.9, digest=H2)])
    with pytest.raises(ValueError, match="V4-session@aaaaaaaa, V4-session@bbbbbbbb"):
        leaderboard(db, benchmark="IT-session")
    with pytest.raises(ValueError, match="V4-session@aaaaaaaa"):
        leaderboard(db, benchmark="V4-session@cccc")
    with pytest.raises(ValueError, match="database has: noise_corrected_predictivity"):
        leaderboard(db, metric="brainscore")
    with pytest.raises(ValueError, match="database has: V4"):
        leaderboard(db, region="IT")
    with pytest.raises(ValueError, match="database has: noise_corrected_predictivity"):
        leaderboard(db.query(), metric="rsa")


# the scores table as brainlike wrote it before recording hashes and variants were kept
OLD_SCHEMA = """
CREATE TABLE scores (
    id INTEGER NOT NULL, created_at DATETIME NOT NULL, model VARCHAR(255) NOT NULL,
    model_hash VARCHAR(128), checkpoint TEXT, benchmark VARCHAR(255) NOT NULL,
    region VARCHAR(255), layer VARCHAR(255), metric VARCHAR(255) NOT NULL,
    mapping VARCHAR(255), convention VARCHAR(255), value FLOAT, error FLOAT, ceiling FLOAT,
    ceiled FLOAT, n_neuroids INTEGER, payload TEXT NOT NULL, extra TEXT,
    package_version VARCHAR(64), PRIMARY KEY (id),
    CONSTRAINT ck_scores_model_named CHECK (length(model) > 0),
    CONSTRAINT ck_scores_benchmark_named CHECK (length(benchmark) > 0)
);
CREATE INDEX ix_scores_model ON scores (model);
CREATE INDEX ix_scores_board ON scores (benchmark, metric, model);
INSERT INTO scores (created_at, model, benchmark, region, layer, metric, mapping, value, error,
    payload) VALUES
    ('2025-01-01 00:00:00', 'a', 'V4-session', 'V4', 'l1', 'noise_corrected_predictivity', 'pls',
     0.8, 0.02, '{"value": 0.8}'),
    ('2025-01-01 00:00:00', 'b', 'V4-session', 'V4', 'l2', 'noise_corrected_predictivity', 'pls',
     0.7, 0.02, '{"value": 0.7}');
"""


def _write_old_database(url):
    """The scores table of an old brainlike, in SQLite or PostgreSQL, with two rows."""
    engine = sa.create_engine(url)
    script = OLD_SCHEMA
    if engine.dialect.name == "postgresql":  # what SQLAlchemy made of the same table there
        script = script.replace("id INTEGER NOT NULL", "id SERIAL NOT NULL")
        script = script.replace("DATETIME", "TIMESTAMP WITH TIME ZONE")
    with engine.begin() as conn:
        for statement in script.split(";"):
            if statement.strip():
                conn.exec_driver_sql(statement)
    engine.dispose()


def test_an_old_database_migrates_on_open_and_keeps_its_rows_apart(db_url):
    _write_old_database(db_url)
    db = ResultsDB(db_url, create=False)
    engine = sa.create_engine(db_url)
    columns = {c["name"] for c in sa.inspect(engine).get_columns("scores")}
    engine.dispose()
    assert {"recording_hash", "variant"} <= columns
    old = db.query()
    assert [(r["model"], r["value"], r["recording_hash"]) for r in old] == [
        ("a", 0.8, None),
        ("b", 0.7, None),
    ]
    db.add_scores([_row("a", 0.5)])
    db.close()
    # reopening a migrated database changes nothing
    again = ResultsDB(db_url)
    assert again.count() == 3
    board = leaderboard(again, metric="noise-corrected")
    # the unhashed rows are a benchmark of their own, never merged with the hashed one
    assert [c.label.split(" / ")[0] for c in board.columns] == [
        "V4-session@unknown",
        "V4-session@aaaaaaaa",
    ]
    assert cells(board)[("a", board.columns[0].label)] == (0.8, "l1")
    assert cells(board)[("a", board.columns[1].label)] == (0.5, "l1")
    assert not board.ranked  # unknown settings are not the settings of the new row


def test_a_missing_database_file_is_an_error_and_is_not_created(tmp_path):
    path = tmp_path / "nowhere" / "results.sqlite"
    with pytest.raises(FileNotFoundError, match=str(path)):
        ResultsDB(f"sqlite:///{path}", create=False)
    assert not path.exists() and not path.parent.exists()
    empty = tmp_path / "empty.sqlite"
    sqlite3.connect(empty).close()
    with pytest.raises(FileNotFoundError, match="not a brainlike results database"):
        ResultsDB(f"sqlite:///{empty}", create=False)


def test_a_ceiled_cell_shows_the_ceiled_values_own_error(db_url):
    db = ResultsDB(db_url)
    db.add_score(
        model="m",
        benchmark="b",
        region="IT",
        layer="l",
        metric="pls_r",
        score={"value": 0.4, "error": 0.02, "ceiled": 0.8, "ceiling": 0.5},
        ceiled_error=0.04,  # raw error / ceiling, as record_scores stores it
    )
    raw = leaderboard(db, value="value").rows[0]
    ceiled = leaderboard(db, value="ceiled").rows[0]
    assert [(c.value, c.error) for c in raw.cells.values()] == [(0.4, 0.02)]
    assert [(c.value, c.error) for c in ceiled.cells.values()] == [(0.8, 0.04)]


def test_settings_that_read_alike_stay_in_separate_sets(db_url):
    db = ResultsDB(db_url)
    for variant, v in (('{"k": 1}', 0.4), ('{"k": "1"}', 0.6)):
        db.add_score(model="m", benchmark="b", region="IT", layer="l", metric="pls_r",
                     variant=variant, score={"value": v})  # fmt: skip
    board = leaderboard(db)
    assert len(board.columns) == 2 and len(board.sets) == 2 and not board.ranked
    assert len({c.label for c in board.columns}) == 2
