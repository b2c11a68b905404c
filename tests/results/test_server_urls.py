"""Database servers through the command line: `brainlike score --db URL` writes to a real
PostgreSQL server and `brainlike leaderboard` reads it back ($BRAINLIKE_RESULTS); a server that
is down, a database without the table and a missing driver are one-line errors."""

import json
import socket
import sys

import pytest
from typer.testing import CliRunner

from brainlike.cli import app
from brainlike.results import ResultsDB
from brainlike.results.database import CONNECT_TIMEOUT, engine_url, server_connect_args

runner = CliRunner()


def _closed_port() -> int:
    with socket.socket() as sock:  # bound and closed: nothing listens there now
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    return lines[0]


@pytest.mark.postgresql
def test_score_writes_to_a_server_and_the_leaderboard_reads_it(tmp_path, pg_url, monkeypatch):
    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    res = runner.invoke(
        app,
        [
            "simulate", str(tmp_path / "sim"), "--per-digit", "6", "--animals", "2",
            "--neuroids", "8", "--trials", "4", "--areas", "V1=layer1.0,IT=layer3.2", "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    recording = json.loads(res.stdout)["recording"]
    args = ["score", "resnet20", "-r", recording, "--layers", "layer1.0,layer3.2"]
    args += ["--mapping", "ridge", "--splits", "2", "--bootstraps", "2", "--db", pg_url]
    res = runner.invoke(app, [*args, "--json", "--out", str(tmp_path / "scores")])
    assert res.exit_code == 0, res.output
    scored = json.loads(res.stdout)
    assert scored["database"] == {"url": pg_url, "rows": 4}
    with ResultsDB(pg_url, create=False) as db:
        rows = db.query()
    assert sorted((r["region"], r["layer"]) for r in rows) == [
        ("IT", "layer1.0"), ("IT", "layer3.2"), ("V1", "layer1.0"), ("V1", "layer3.2"),
    ]  # fmt: skip
    by_cell = {(r["region"], r["layer"]): r["raw"] for r in scored["rows"]}
    assert all(r["value"] == pytest.approx(by_cell[r["region"], r["layer"]]) for r in rows)
    # the reader finds the server through $BRAINLIKE_RESULTS
    monkeypatch.setenv("BRAINLIKE_RESULTS", pg_url)
    res = runner.invoke(app, ["leaderboard", "--json"])
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout)
    (row,) = board["rows"]
    assert row["model"] == "resnet20" and len(row["scores"]) == 2
    for cell in row["scores"]:
        best = max(v for (region, _), v in by_cell.items() if region == cell["region"])
        assert cell["value"] == pytest.approx(best)


@pytest.mark.postgresql
def test_a_server_database_without_the_table_is_not_read_or_changed(pg_url):
    res = runner.invoke(app, ["leaderboard", "--db", pg_url])
    assert "holds no scores table" in _one_error_line(res)
    with pytest.raises(FileNotFoundError, match="not a brainlike results database"):
        ResultsDB(pg_url, create=False)
    with ResultsDB(pg_url) as db:  # a writer creates it
        assert db.count() == 0


def test_a_server_that_is_down_is_one_line_for_every_command(tmp_path):
    url = f"postgresql://brainlike:secret@127.0.0.1:{_closed_port()}/results"
    line = _one_error_line(runner.invoke(app, ["leaderboard", "--db", url]))
    assert "Connection refused" in line and "check that the server is running" in line
    assert "secret" not in line and "postgresql+psycopg://brainlike:***@" in line
    args = ["score", "resnet20", "-r", str(tmp_path / "missing.nc"), "--db", url]
    line = _one_error_line(runner.invoke(app, args))
    assert "as a results database" in line and "missing.nc" not in line  # before any scoring
    res = runner.invoke(
        app, ["search", "convrnn-small-digits", "-o", str(tmp_path / "s"), "--storage", url]
    )
    line = _one_error_line(res)
    assert "as a study storage" in line and "Connection refused" in line
    assert not (tmp_path / "s" / "trials").exists()


def test_a_missing_driver_names_the_extra_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # as if psycopg were not installed
    url = f"postgresql+psycopg://u@127.0.0.1:{_closed_port()}/results"
    for args in (
        ["leaderboard", "--db", url],
        ["search", "convrnn-small-digits", "-o", str(tmp_path / "s"), "--storage", url],
    ):
        line = _one_error_line(runner.invoke(app, args))
        assert "driver is missing" in line and "pip install brainlike[postgres]" in line


def test_server_urls_get_psycopg_and_a_connect_timeout():
    for text in ("postgresql://u@h/db", "postgres://u@h/db", "postgresql+psycopg://u@h/db"):
        url = engine_url(text)
        assert url.drivername == "postgresql+psycopg" and url.database == "db"
        # libpq alone would wait minutes for a host that does not answer
        assert (
            server_connect_args(url)
            == {"connect_timeout": CONNECT_TIMEOUT}
            == {"connect_timeout": 10}
        )
    assert server_connect_args(engine_url("postgresql://u@h/db?connect_timeout=3")) == {}
    assert server_connect_args(engine_url("sqlite:////tmp/x.sqlite")) == {}
