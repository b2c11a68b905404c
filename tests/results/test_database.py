"""Results database: round trips, checks at the door, rollback, concurrent writers."""

import json
import math
import multiprocessing
import sqlite3

import numpy as np
import pytest
import sqlalchemy as sa

from brainlike.analysis.score import Score
from brainlike.results import ResultsDB, default_url
from brainlike.results import database as db_mod


def url(tmp_path, name="results.sqlite"):
    return f"sqlite:///{tmp_path / name}"


def score(value=0.5, **kw):
    return Score(value=value, error=0.02, raw=np.array([0.4, 0.5, 0.6]), metric="pls_r", **kw)


def test_a_score_round_trips_with_its_payload(db_url):
    db = ResultsDB(db_url)
    s = score(0.61, ceiling=0.8, ceiled=0.61**2 / 0.8, convention="r2_over_ceiling")
    s.parameters["mapping"] = "pls"
    row_id = db.add_score(
        model="reset4",
        benchmark="simulated-IT",
        region="IT",
        layer="sheet:levels.0.grid",
        score=s,
        checkpoint="runs/a/checkpoint.pt",
        seed=3,
    )
    (row,) = db.query(model="reset4")
    assert row["id"] == row_id
    assert (row["model"], row["benchmark"], row["region"], row["layer"]) == (
        "reset4",
        "simulated-IT",
        "IT",
        "sheet:levels.0.grid",
    )
    assert row["value"] == pytest.approx(0.61) and row["error"] == pytest.approx(0.02)
    assert row["ceiling"] == pytest.approx(0.8)
    assert row["ceiled"] == pytest.approx(0.61**2 / 0.8)
    assert row["metric"] == "pls_r" and row["mapping"] == "pls"
    assert row["convention"] == "r2_over_ceiling" and row["n_neuroids"] == 3
    assert row["checkpoint"] == "runs/a/checkpoint.pt" and row["extra"] == {"seed": 3}
    assert row["created_at"].endswith("+00:00")
    assert row["package_version"] == s.provenance["brainlike_version"]
    back = Score.from_dict(row["payload"])
    np.testing.assert_allclose(back.raw, [0.4, 0.5, 0.6])
    assert back.value == pytest.approx(0.61)


def test_query_filters_and_counts(db_url):
    db = ResultsDB(db_url)
    db.add_scores(
        [
            dict(model=m, benchmark=b, region="IT", layer=f"l{i}", score=0.1 * i)
            for i, (m, b) in enumerate([("a", "x"), ("a", "y"), ("b", "x"), ("c", "x")])
        ]
    )
    assert [r["layer"] for r in db.query(benchmark="x")] == ["l0", "l2", "l3"]
    assert [r["layer"] for r in db.query(model=["a", "c"], benchmark="x")] == ["l0", "l3"]
    assert db.count() == 4 and db.count(model="a") == 2
    assert len(db.query(limit=2)) == 2
    with pytest.raises(ValueError, match="cannot filter on"):
        db.query(colour="red")
    with pytest.raises(ValueError, match="model filter .* contains a NUL byte"):
        db.query(model=["a", "a\x00"])
    assert db.delete(model="a") == 2 and db.count() == 2
    with pytest.raises(ValueError, match="at least one filter"):
        db.delete()


def test_non_finite_values_are_stored_as_null_and_kept_in_the_payload(db_url):
    db = ResultsDB(db_url)
    db.add_score(model="m", benchmark="b", score={"value": float("nan"), "error": float("inf")})
    (row,) = db.query()
    assert row["value"] is None and row["error"] is None
    assert math.isnan(row["payload"]["value"]) and math.isinf(row["payload"]["error"])
    # the table itself holds NULL, not a NaN that SQLite would turn into NULL anyway and
    # PostgreSQL would keep (and sort above every number)
    engine = sa.create_engine(db_url)
    with engine.connect() as conn:
        assert conn.exec_driver_sql("select value, error from scores").fetchall() == [(None, None)]
    engine.dispose()


@pytest.mark.parametrize(
    "bad, message",
    [
        (dict(model="  "), "model name is empty"),
        (dict(benchmark=""), "benchmark name is empty"),
        (dict(score={"error": 0.1}), "no 'value'"),
        (dict(score={"value": "high"}), "must be a number"),
        (dict(score={"value": 0.3, "raw": object()}), "JSON"),
        (dict(model=3), "must be a string"),
        # what PostgreSQL refuses is refused at the door on every backend, before any write
        (dict(model="m" * 256), "model 'm.* is 256 characters long; .* at most 255"),
        (dict(recording_hash="f" * 65), "recording_hash .* at most 64"),
        (dict(layer="conv\x001"), r"layer 'conv\\x001' contains a NUL byte"),
        (dict(region="IT\ud800"), "region .* lone surrogate"),
        (dict(n_neuroids=2**31), "n_neuroids 2147483648 is beyond the 32-bit"),
    ],
)
def test_bad_rows_are_refused_at_the_door(db_url, bad, message):
    db = ResultsDB(db_url)
    record = {"model": "m", "benchmark": "b", "score": 0.5, **bad}
    with pytest.raises((ValueError, TypeError), match=message):
        db.add_score(**record)
    assert db.count() == 0


def test_a_bad_row_in_add_scores_leaves_no_partial_rows(db_url):
    db = ResultsDB(db_url)
    good = [dict(model=f"m{i}", benchmark="b", score=0.1 * i) for i in range(5)]
    with pytest.raises(ValueError, match="record 3.*nothing was stored"):
        db.add_scores(good[:3] + [dict(model="", benchmark="b", score=0.1)] + good[3:])
    assert db.count() == 0


def test_a_failure_inside_the_transaction_rolls_everything_back(db_url, monkeypatch):
    db = ResultsDB(db_url)
    real_row = db_mod._row

    def sneak_past_the_checks(record):
        row = real_row({**record, "model": record["model"] or "placeholder"})
        if not record["model"]:
            row["model"] = ""  # only the table's CHECK constraint stands in the way now
        return row

    monkeypatch.setattr(db_mod, "_row", sneak_past_the_checks)
    rows = [dict(model=f"m{i}", benchmark="b", score=0.5) for i in range(4)]
    rows[2]["model"] = ""
    with pytest.raises(sa.exc.IntegrityError):
        db.add_scores(rows)
    assert db.count() == 0
    db.add_scores([rows[0], rows[1]])
    assert db.count() == 2


def test_default_url_honours_the_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIKE_RESULTS", f"sqlite:///{tmp_path / 'env.sqlite'}")
    assert default_url() == f"sqlite:///{tmp_path / 'env.sqlite'}"
    db = ResultsDB()
    db.add_score(model="m", benchmark="b", score=0.2)
    db.close()
    assert (tmp_path / "env.sqlite").is_file()
    with pytest.raises(ValueError, match="not a database URL"):
        ResultsDB("results here://x")
    # a plain path is the SQLite file at that path, as in $BRAINLIKE_RESULTS
    plain = ResultsDB(str(tmp_path / "plain.sqlite"))
    assert plain.is_sqlite and plain.url.database == str(tmp_path / "plain.sqlite")
    plain.close()
    assert (tmp_path / "plain.sqlite").is_file()
    with pytest.raises(ValueError, match="driver"):
        ResultsDB("nosuchdb+nodriver://host/db")
    secret = ResultsDB.__new__(ResultsDB)
    secret.url = sa.engine.make_url("postgresql+psycopg://me:hunter2@host/brainlike")
    assert "hunter2" not in secret.url_display and "hunter2" not in repr(secret)
    monkeypatch.setenv("BRAINLIKE_RESULTS", str(tmp_path / "plain" / "path.db"))
    assert default_url() == f"sqlite:///{tmp_path / 'plain' / 'path.db'}"
    monkeypatch.delenv("BRAINLIKE_RESULTS")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_url() == f"sqlite:///{tmp_path / 'xdg' / 'brainlike' / 'results.sqlite'}"
    monkeypatch.delenv("XDG_DATA_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    expected = tmp_path / "home" / ".local" / "share" / "brainlike" / "results.sqlite"
    assert default_url() == f"sqlite:///{expected}"


def test_sqlite_runs_in_wal_mode(tmp_path):
    ResultsDB(url(tmp_path)).add_score(model="m", benchmark="b", score=0.1)
    con = sqlite3.connect(tmp_path / "results.sqlite")
    assert con.execute("pragma journal_mode").fetchone()[0] == "wal"
    con.close()


def _writer(db_url, worker, n, barrier):
    db = ResultsDB(db_url)
    barrier.wait()
    for i in range(n):
        db.add_score(
            model=f"model{worker}",
            benchmark="simulated-IT",
            region="IT",
            layer=f"layer{i}",
            score={"value": worker + i / n, "error": 0.01, "metric": "pls_r"},
        )
    db.close()


def _run_processes(target, args_of, n, timeout=120):
    # fork: a worker starts at once (a spawned one imports SQLAlchemy and brainlike first); this
    # process holds no connection to the test's database when it forks
    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(n)
    procs = [ctx.Process(target=target, args=(*args_of(w), barrier)) for w in range(n)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=timeout)
    return [p.exitcode for p in procs]


def test_concurrent_writers_from_two_processes_lose_nothing(db_url):
    ResultsDB(db_url).close()  # both writers start from an existing database
    assert _run_processes(_writer, lambda w: (db_url, w, 200), 2) == [0, 0]
    db = ResultsDB(db_url)
    assert db.count() == 400
    for w in range(2):
        rows = db.query(model=f"model{w}")
        assert sorted(r["layer"] for r in rows) == sorted(f"layer{i}" for i in range(200))
        # every value as written: worker + i / 200, in the order it was written
        assert [r["value"] for r in rows] == pytest.approx([w + i / 200 for i in range(200)])
    ids = [r["id"] for r in db.query()]
    assert len(set(ids)) == 400
    assert json.loads(json.dumps(db.query(limit=1)))  # rows are JSON-ready


def _opener(db_url, worker, barrier):
    barrier.wait()
    with ResultsDB(db_url) as db:
        db.add_score(model=f"m{worker}", benchmark="b", score=float(worker))


def test_processes_opening_a_new_database_at_once_all_get_the_table(db_url):
    # each creates the table if missing: the checks and CREATE TABLEs must not collide (a race:
    # run it a few times, from no table each time)
    engine = sa.create_engine(db_url)
    for _ in range(4):
        assert _run_processes(_opener, lambda w: (db_url, w), 4) == [0, 0, 0, 0]
        with ResultsDB(db_url) as db:
            assert sorted(r["value"] for r in db.query()) == [0.0, 1.0, 2.0, 3.0]
        with engine.begin() as conn:
            conn.exec_driver_sql("DROP TABLE scores")
    engine.dispose()
