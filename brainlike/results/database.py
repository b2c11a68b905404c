"""The results database: every score, where it came from, in SQLite or any SQL server.

One table, ``scores``: a row per (model, benchmark, region, layer, metric) score with its value,
error, ceiling, ceiled value and convention, plus the full :meth:`Score.to_dict` as a JSON
payload, so nothing the scoring function knew is lost.

What a number means
    A benchmark is a recording *and* a way of scoring it. Every row carries the sha256 of the
    recording file it was scored on (``recording_hash``; two recordings that share a name are
    two benchmarks) and, besides metric, mapping and convention, the ``variant``: the canonical
    JSON of every other setting that changes what the number means (the ceiling's kind, the
    noise-corrected numerator, the train fraction, the time window, ...). The leaderboard only
    puts numbers side by side when all of these agree.

Old databases
    A database written before these columns existed is migrated when it is opened (the
    columns are added; its rows keep ``NULL`` there, shown as hash ``unknown``, and are never
    merged with hashed rows).

Where it lives
    ``ResultsDB()`` uses ``$BRAINLIKE_RESULTS`` when set (an SQLAlchemy URL, or a plain file
    path meaning an SQLite file there), else ``sqlite:///$XDG_DATA_HOME/brainlike/results.sqlite``
    (``~/.local/share/brainlike/results.sqlite`` when ``XDG_DATA_HOME`` is unset). Any
    SQLAlchemy URL works, e.g. ``postgresql://user:pass@host/brainlike`` (psycopg 3:
    ``pip install brainlike[postgres]``; a server that does not answer is given up after
    ``CONNECT_TIMEOUT`` seconds); the table is created on first use. The tests run on SQLite
    and on a real PostgreSQL server (tests/postgres_server.py).

Concurrency (SQLite)
    The file runs in WAL mode with a busy timeout, every write transaction starts with
    ``BEGIN IMMEDIATE`` (so two writers queue instead of deadlocking on a lock upgrade), and a
    write that still meets "database is locked" is retried with backoff for up to
    ``lock_timeout`` seconds. Several processes can add scores to one file at once and none is
    lost. WAL needs a local file system (not NFS). On PostgreSQL the server does this; the
    processes that open a new database at once take turns creating the table (an advisory
    lock), so none fails on "already exists".

Integrity
    Inputs are checked before anything is written (empty names, non-numeric values, payloads
    that are not JSON, and what a server would refuse where SQLite keeps it: names longer than
    their column, NUL bytes, lone surrogates, integers beyond 32 bits), non-finite numbers are stored as NULL (the payload keeps them as
    ``NaN``), and :meth:`ResultsDB.add_scores` writes all its rows in one transaction: if any
    row fails, none is stored.
"""

from __future__ import annotations

import contextlib
import datetime
import importlib.util
import json
import math
import os
import random
import time
from collections.abc import Iterable, Iterator, Mapping
from numbers import Real
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event, exc

ENV_VAR = "BRAINLIKE_RESULTS"
#: PostgreSQL advisory lock held while the scores table is created or migrated ("brainl")
SCHEMA_LOCK_KEY = 0x62726169_6E6C
#: seconds a connection to a database server waits for it to answer
CONNECT_TIMEOUT = 10
#: the largest value of an Integer column on every backend (PostgreSQL's is 32-bit)
MAX_INTEGER = 2**31 - 1

metadata = sa.MetaData()

#: The scores table. ``payload`` is the JSON text of the whole score (NaN kept as ``NaN``);
#: ``extra`` the JSON text of any further keyword arguments given to ``add_score``.
scores_table = sa.Table(
    "scores",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("model", sa.String(255), nullable=False),
    sa.Column("model_hash", sa.String(128)),
    sa.Column("checkpoint", sa.Text),
    sa.Column("benchmark", sa.String(255), nullable=False),
    sa.Column("recording_hash", sa.String(64)),
    sa.Column("region", sa.String(255)),
    sa.Column("layer", sa.String(255)),
    sa.Column("metric", sa.String(255), nullable=False),
    sa.Column("mapping", sa.String(255)),
    sa.Column("convention", sa.String(255)),
    sa.Column("variant", sa.Text),
    sa.Column("value", sa.Float),
    sa.Column("error", sa.Float),
    sa.Column("ceiling", sa.Float),
    sa.Column("ceiled", sa.Float),
    sa.Column("n_neuroids", sa.Integer),
    sa.Column("payload", sa.Text, nullable=False),
    sa.Column("extra", sa.Text),
    sa.Column("package_version", sa.String(64)),
    # a second line of defence behind the checks in add_score
    sa.CheckConstraint("length(model) > 0", name="ck_scores_model_named"),
    sa.CheckConstraint("length(benchmark) > 0", name="ck_scores_benchmark_named"),
)
# the leaderboard reads one benchmark (and metric) at a time, grouped by model
sa.Index("ix_scores_board", scores_table.c.benchmark, scores_table.c.metric, scores_table.c.model)
sa.Index("ix_scores_model", scores_table.c.model)

COLUMNS = tuple(c.name for c in scores_table.columns)
FILTERS = (
    "model",
    "benchmark",
    "recording_hash",
    "region",
    "layer",
    "metric",
    "mapping",
    "convention",
    "variant",
    "checkpoint",
)
#: columns added after the first release: a database without them gets them when opened
ADDED_COLUMNS = ("recording_hash", "variant")


def default_url() -> str:
    """``$BRAINLIKE_RESULTS`` (URL or file path), else the SQLite file in the user data dir."""
    env = os.environ.get(ENV_VAR, "").strip()
    if env:
        return database_url(env)
    base = os.environ.get("XDG_DATA_HOME", "").strip()
    root = Path(base) if base and Path(base).is_absolute() else Path.home() / ".local" / "share"
    return f"sqlite:///{root / 'brainlike' / 'results.sqlite'}"


def database_url(text: str) -> str:
    """A database URL as given, or a plain file path as the SQLite URL of that file (``--db``
    and ``$BRAINLIKE_RESULTS`` take either)."""
    text = text.strip()
    if "\x00" in text:
        raise ValueError(
            f"database URL or path {text!r} contains a NUL byte; give a file path or a URL "
            "such as sqlite:////abs/path/results.sqlite"
        )
    if "://" in text:
        return text
    try:
        return f"sqlite:///{Path(text).expanduser().resolve()}"
    except RuntimeError:  # ~name of a user that does not exist
        raise ValueError(
            f"cannot expand {text!r}: no such user's home folder; give the full path"
        ) from None


def engine_url(text: str) -> sa.engine.URL:
    """The SQLAlchemy URL of a database URL or plain file path (see :func:`database_url`).

    A PostgreSQL URL without a driver (``postgresql://``, or Heroku's ``postgres://``) gets
    psycopg 3, the driver of ``brainlike[postgres]``, unless psycopg2 is installed (SQLAlchemy
    2.0 would pick psycopg2 and fail without it).
    """
    text = database_url(text)
    try:
        url = sa.engine.make_url(text)
    except (sa.exc.ArgumentError, ValueError):  # ValueError: a port that is not a number
        raise ValueError(
            f"{text!r} is not a database URL; use e.g. sqlite:////abs/path/results.sqlite or "
            "postgresql+psycopg://user@host/brainlike"
        ) from None
    if url.drivername in ("postgresql", "postgres") and (
        url.drivername == "postgres" or importlib.util.find_spec("psycopg2") is None
    ):
        url = url.set(drivername="postgresql+psycopg")
    return url


def server_connect_args(url: sa.engine.URL) -> dict[str, Any]:
    """Driver arguments every connection to ``url`` needs: a PostgreSQL server that does not
    answer is given up after ``CONNECT_TIMEOUT`` seconds (libpq would wait for the operating
    system, minutes), unless the URL sets ``connect_timeout`` itself."""
    if url.get_backend_name() == "postgresql" and "connect_timeout" not in url.query:
        return {"connect_timeout": CONNECT_TIMEOUT}
    return {}


def missing_driver(url: sa.engine.URL, err: BaseException) -> ValueError:
    """The error for a database URL whose driver is not installed, naming what to install."""
    backend = url.get_backend_name()
    install = (
        "pip install brainlike[postgres]"
        if backend == "postgresql"
        else f"install the driver for {url.drivername}"
    )
    return ValueError(
        f"cannot open {url.render_as_string(hide_password=True)}: the database driver is "
        f"missing ({err}); {install}, or use an sqlite:/// URL"
    )


def error_reason(err: exc.SQLAlchemyError) -> str:
    """The driver's own message of a database error, on one line (without SQLAlchemy's
    statement and link)."""
    orig = getattr(err, "orig", None)
    return " ".join(str(orig if orig is not None else err).split())


def unreachable(url: sa.engine.URL, err: exc.SQLAlchemyError, what: str) -> ValueError:
    """The one-line error for a database server that cannot be reached or refuses the login."""
    return ValueError(
        f"cannot open {url.render_as_string(hide_password=True)} {what} ({error_reason(err)}); "
        "check that the server is running and the URL's host, port, user and database name"
    )


@contextlib.contextmanager
def creating_tables(url: sa.engine.URL) -> Iterator[None]:
    """Make processes that create their tables through their own connections (Optuna's study
    storage) take turns, instead of colliding with "already exists" errors.

    PostgreSQL: a session advisory lock. An SQLite file: an exclusive ``flock`` on the folder
    holding it (not on the file: closing a second descriptor of an SQLite file drops the
    locks SQLite holds on it). Elsewhere, nothing happens.
    """
    backend = url.get_backend_name()
    if backend == "sqlite":
        with _folder_lock(url.database):
            yield
        return
    if backend != "postgresql":
        yield
        return
    engine = sa.create_engine(
        url, poolclass=sa.pool.NullPool, connect_args=server_connect_args(url)
    )
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:key)"), {"key": SCHEMA_LOCK_KEY})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:key)"), {"key": SCHEMA_LOCK_KEY})
                conn.commit()
    finally:
        engine.dispose()


@contextlib.contextmanager
def _folder_lock(database: str | None) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no flock
        fcntl = None  # type: ignore[assignment]
    folder = Path(database).expanduser().parent if database and database != ":memory:" else None
    if fcntl is None or folder is None or not folder.is_dir() or database.startswith("file:"):
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the flock


def _package_version() -> str:
    try:
        import brainlike

        return str(brainlike.__version__)
    except Exception:  # pragma: no cover
        return "unknown"


def _lock_schema(conn: sa.Connection) -> None:
    """Make the processes that create or migrate the table take turns (PostgreSQL).

    Two processes opening a new database at once both see no table and both CREATE it; the
    second fails on PostgreSQL's catalogue (``pg_type_typname_nsp_index``). A transaction-level
    advisory lock queues them, and the second then finds the table. SQLite's ``BEGIN
    IMMEDIATE`` already does this.
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": SCHEMA_LOCK_KEY})


def _is_locked(err: exc.OperationalError) -> bool:
    text = str(err.orig if err.orig is not None else err).lower()
    return "locked" in text or "busy" in text


class ResultsDB:
    """Scores of models on benchmarks, in one SQL table.

    Parameters
    ----------
    url : SQLAlchemy URL or a plain SQLite file path; ``None`` -> :func:`default_url`.
    lock_timeout : seconds an SQLite write keeps retrying while another process holds the lock.
    echo : log every SQL statement (debugging).
    create : create the SQLite file and the table when missing (``False``: a missing file or
        table is a ``FileNotFoundError`` naming it, and nothing is created; for readers).

    Examples
    --------
    >>> db = ResultsDB("sqlite:///results.sqlite")  # doctest: +SKIP
    >>> db.add_score(model="reset4", benchmark="simulated-IT", region="IT",
    ...              layer="sheet:levels.0.grid", score=score)  # doctest: +SKIP
    >>> db.query(model="reset4")  # doctest: +SKIP
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        lock_timeout: float = 60.0,
        echo: bool = False,
        create: bool = True,
    ):
        self.url = engine_url(url or default_url())
        self.lock_timeout = float(lock_timeout)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        kwargs: dict[str, Any] = {"echo": echo, "connect_args": server_connect_args(self.url)}
        if self.is_sqlite:
            if create:
                self._make_sqlite_folder()
            else:
                self._require_sqlite_file()
            kwargs["connect_args"] = {"timeout": min(self.lock_timeout, 30.0)}
        try:
            self.engine = sa.create_engine(self.url, **kwargs)
        except sa.exc.ArgumentError as err:
            raise ValueError(
                f"{self.url_display} is not a usable database URL "
                f"({' '.join(str(err).split())}); use e.g. "
                "sqlite:////abs/path/results.sqlite"
            ) from None
        except (sa.exc.NoSuchModuleError, ModuleNotFoundError) as err:
            raise missing_driver(self.url, err) from None
        if self.is_sqlite:
            self._configure_sqlite()
        try:
            if create:
                self._write(lambda conn: (_lock_schema(conn), metadata.create_all(conn)))
            elif not sa.inspect(self.engine).has_table(scores_table.name):
                raise FileNotFoundError(
                    f"{self.url_display} holds no scores table: it is not a brainlike results "
                    "database (give --db the database `brainlike score` wrote to)"
                )
            self._migrate()
        except exc.DatabaseError as err:
            if isinstance(err, exc.OperationalError) and _is_locked(err):
                raise
            self.engine.dispose()
            if not self.is_sqlite and isinstance(err, exc.OperationalError):
                raise unreachable(self.url, err, "as a results database") from None
            raise ValueError(
                f"cannot open {self.url_display} as a results database ({error_reason(err)}); "
                "give --db a brainlike results database or a new file path"
            ) from None

    @property
    def url_display(self) -> str:
        """The URL with any password masked (safe to print)."""
        return self.url.render_as_string(hide_password=True)

    def __repr__(self) -> str:
        return f"ResultsDB({self.url_display!r})"

    # set-up --------------------------------------------------------------------------------
    def _make_sqlite_folder(self) -> None:
        database = self.url.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)

    def _require_sqlite_file(self) -> None:
        database = self.url.database
        if not database or database == ":memory:" or database.startswith("file:"):
            return
        path = Path(database).expanduser()
        if not path.is_file():
            raise FileNotFoundError(
                f"no results database at {path}; score a model first (brainlike score MODEL -r "
                "RECORDING) or give --db the database it wrote to"
            )
        if path.stat().st_size == 0:
            # opening it would write SQLite's header into a file a reader must not change
            raise FileNotFoundError(
                f"{path} is empty: it holds no scores table, so it is not a brainlike results "
                "database (give --db the database `brainlike score` wrote to)"
            )
        with path.open("rb") as fh:
            header = fh.read(16)
        if header != b"SQLite format 3\x00":
            # SQLite would take a short file for a new database and write into it
            raise ValueError(
                f"{path} is not an SQLite database (it lacks SQLite's header); give --db the "
                "database `brainlike score` wrote to"
            )

    def _migrate(self) -> None:
        """Add the columns a database from an older brainlike lacks (their rows keep NULL)."""
        present = {c["name"] for c in sa.inspect(self.engine).get_columns(scores_table.name)}
        missing = [name for name in ADDED_COLUMNS if name not in present]
        if not missing:
            return

        def add(conn: sa.Connection) -> None:
            # another process may have migrated meanwhile: look again inside the transaction
            _lock_schema(conn)
            now = {c["name"] for c in sa.inspect(conn).get_columns(scores_table.name)}
            for name in missing:
                if name in now:
                    continue
                kind = scores_table.c[name].type.compile(dialect=conn.dialect)
                conn.exec_driver_sql(f"ALTER TABLE {scores_table.name} ADD COLUMN {name} {kind}")

        self._write(add)

    def _configure_sqlite(self) -> None:
        busy_ms = int(min(self.lock_timeout, 30.0) * 1000)

        @event.listens_for(self.engine, "connect")
        def _on_connect(dbapi_conn: Any, _record: Any) -> None:
            # let SQLAlchemy, not the driver, open transactions (see the begin hook)
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout = {busy_ms}")
            cur.execute("PRAGMA journal_mode = WAL")
            cur.execute("PRAGMA synchronous = NORMAL")
            cur.close()

        @event.listens_for(self.engine, "begin")
        def _on_begin(conn: sa.Connection) -> None:
            # writers take the lock up front: a deferred transaction that reads and then writes
            # can fail at once in WAL mode instead of waiting its turn
            readonly = conn.get_execution_options().get("brainlike_readonly", False)
            conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    def _write(self, work: Any) -> Any:
        """Run ``work(conn)`` in one transaction, retrying while SQLite is locked."""
        delay, deadline = 0.005, time.monotonic() + self.lock_timeout
        while True:
            try:
                with self.engine.begin() as conn:
                    return work(conn)
            except exc.OperationalError as err:
                if not (self.is_sqlite and _is_locked(err)) or time.monotonic() > deadline:
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.25)

    def _read(self, statement: Any) -> list[sa.Row]:
        delay, deadline = 0.005, time.monotonic() + self.lock_timeout
        while True:
            try:
                with self.engine.connect().execution_options(brainlike_readonly=True) as conn:
                    return list(conn.execute(statement))
            except exc.OperationalError as err:
                if not (self.is_sqlite and _is_locked(err)) or time.monotonic() > deadline:
                    raise
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.25)

    def close(self) -> None:
        """Release the connections."""
        self.engine.dispose()

    def __enter__(self) -> ResultsDB:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # writing -------------------------------------------------------------------------------
    def add_score(
        self,
        *,
        model: str,
        benchmark: str,
        score: Any,
        region: str | None = None,
        layer: str | None = None,
        metric: str | None = None,
        mapping: str | None = None,
        convention: str | None = None,
        recording_hash: str | None = None,
        variant: str | Mapping[str, Any] | None = None,
        checkpoint: str | os.PathLike | None = None,
        model_hash: str | None = None,
        n_neuroids: int | None = None,
        **extra: Any,
    ) -> int:
        """Store one score; returns its row id.

        Parameters
        ----------
        model : the model's name (registry name, run folder name, ...).
        benchmark : the data it was scored on (e.g. ``"simulated-IT"``, a recording id).
        score : a :class:`~brainlike.analysis.score.Score`, its ``to_dict()``, any object with
            ``to_dict()``, or a bare number.
        region : brain area (e.g. ``"IT"``).
        layer : the model layer the score is for.
        metric, mapping, convention : default to the score's ``metric``, its
            ``parameters["mapping"]`` and its ``convention``.
        recording_hash : sha256 of the recording file (``None``: unknown).
        variant : canonical JSON (or a dict, made canonical) of the other settings that change
            what the number means (ceiling kind, numerator, train fraction, ...).
        checkpoint, model_hash : which weights were scored.
        n_neuroids : defaults to the length of the score's ``raw`` values.
        **extra : anything else worth keeping (JSON-serialisable), e.g. ``seed=1``.
        """
        row = _row(
            dict(
                model=model,
                benchmark=benchmark,
                score=score,
                region=region,
                layer=layer,
                metric=metric,
                mapping=mapping,
                convention=convention,
                recording_hash=recording_hash,
                variant=variant,
                checkpoint=checkpoint,
                model_hash=model_hash,
                n_neuroids=n_neuroids,
                **extra,
            )
        )
        return self._write(
            lambda conn: conn.execute(scores_table.insert(), row).inserted_primary_key[0]
        )

    def add_scores(self, records: Iterable[Mapping[str, Any]]) -> list[int]:
        """Store many scores (each a dict of :meth:`add_score` arguments) in one transaction.

        Every record is checked first; if any record is invalid or the database refuses one,
        nothing is stored. Returns the new row ids in order.
        """
        rows = []
        for i, record in enumerate(records):
            if not isinstance(record, Mapping):
                raise TypeError(f"record {i} is a {type(record).__name__}, not a dict")
            try:
                rows.append(_row(record))
            except (TypeError, ValueError) as err:
                raise type(err)(f"record {i}: {err}; nothing was stored") from None

        def insert(conn: sa.Connection) -> list[int]:
            return [
                conn.execute(scores_table.insert(), row).inserted_primary_key[0] for row in rows
            ]

        return self._write(insert) if rows else []

    def delete(self, **filters: Any) -> int:
        """Delete the scores matching ``filters`` (at least one); returns how many went."""
        where = _where(filters)
        if not where:
            raise ValueError(
                f"delete needs at least one filter ({', '.join(FILTERS)}); refusing to delete "
                "every score"
            )
        return self._write(lambda conn: conn.execute(scores_table.delete().where(*where)).rowcount)

    # reading -------------------------------------------------------------------------------
    def query(self, *, limit: int | None = None, **filters: Any) -> list[dict[str, Any]]:
        """Scores matching ``filters``, oldest first, as dicts.

        Parameters
        ----------
        limit : at most this many rows.
        **filters : column -> value (or a list of values) for any of ``model``, ``benchmark``,
            ``region``, ``layer``, ``metric``, ``mapping``, ``convention``, ``checkpoint``;
            ``None`` means any.

        Returns
        -------
        list of dict
            Every column; ``created_at`` as an ISO-8601 UTC string, ``payload`` (the score
            dict) and ``extra`` parsed from JSON.
        """
        statement = sa.select(scores_table).where(*_where(filters)).order_by(scores_table.c.id)
        if limit is not None:
            statement = statement.limit(int(limit))
        return [_as_dict(row) for row in self._read(statement)]

    def distinct(self, *columns: str, **filters: Any) -> list[tuple[Any, ...]]:
        """The distinct values of ``columns`` among the scores matching ``filters``, sorted
        (``None`` first); e.g. ``distinct("benchmark", "recording_hash")``."""
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown or not columns:
            raise ValueError(f"distinct needs column names from {', '.join(COLUMNS)}")
        cols = [scores_table.c[c] for c in columns]
        statement = sa.select(*cols).where(*_where(filters)).distinct()
        rows = [tuple(r) for r in self._read(statement)]
        return sorted(rows, key=lambda r: tuple((v is not None, str(v)) for v in r))

    def count(self, **filters: Any) -> int:
        """Number of scores matching ``filters`` (see :meth:`query`)."""
        statement = sa.select(sa.func.count()).select_from(scores_table).where(*_where(filters))
        return int(self._read(statement)[0][0])


# --------------------------------------------------------------------------------------------
# checks at the door
# --------------------------------------------------------------------------------------------


def _where(filters: Mapping[str, Any]) -> list[Any]:
    unknown = set(filters) - set(FILTERS)
    if unknown:
        raise ValueError(f"cannot filter on {sorted(unknown)}; filters: {', '.join(FILTERS)}")
    where = []
    for name, value in filters.items():
        if value is None:
            continue
        column = scores_table.c[name]
        many = isinstance(value, (list, tuple, set, frozenset))
        texts = [str(v) for v in value] if many else [str(value)]
        if any("\x00" in t for t in texts):  # PostgreSQL refuses the query; nothing matches
            raise ValueError(f"the {name} filter {value!r} contains a NUL byte; remove it")
        where.append(column.in_(texts) if many else column == texts[0])
    return where


def _name(value: Any, what: str, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValueError(
                f"{what} name is empty; give every score a {what} (e.g. "
                f"{'the registry name or run folder' if what == 'model' else 'simulated-IT'})"
            )
        return None
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a string; got {type(value).__name__} {value!r}")
    value = value.strip()
    # every backend stores the same names: PostgreSQL refuses what SQLite would keep
    if "\x00" in value:
        raise ValueError(f"{what} {value!r} contains a NUL byte; remove it")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError(
            f"{what} {value!r} is not valid Unicode text (a lone surrogate); give it as UTF-8"
        ) from None
    limit = getattr(scores_table.c[what].type, "length", None)
    if limit is not None and len(value) > limit:
        raise ValueError(
            f"{what} {value[:40]!r}... is {len(value)} characters long; the results database "
            f"keeps at most {limit}: shorten it"
        )
    return value


def _number(value: Any, what: str) -> float | None:
    """A finite float, or None for missing and non-finite values (NaN, inf)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, Real):
        raise TypeError(f"score {what} must be a number; got {type(value).__name__} {value!r}")
    value = float(value)
    return value if math.isfinite(value) else None


def _variant(value: Any) -> str | None:
    """A variant as canonical JSON text (sorted keys), so equal settings compare equal."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError(f"variant must be JSON text or a dict; got {value!r}") from None
    if not isinstance(value, Mapping):
        raise TypeError(f"variant must be a dict of settings; got {type(value).__name__}")
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)
    except (TypeError, ValueError) as err:
        raise TypeError(f"the variant cannot be stored as JSON ({err})") from None


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    raise TypeError(f"{type(obj).__name__} is not JSON-serialisable")


def _score_dict(score: Any) -> dict[str, Any]:
    if hasattr(score, "to_dict"):
        score = score.to_dict()
    if isinstance(score, Real) and not isinstance(score, bool):
        return {"value": float(score)}
    if not isinstance(score, Mapping):
        raise TypeError(
            f"score must be a Score, a dict from Score.to_dict() or a number; got "
            f"{type(score).__name__}"
        )
    if "value" not in score:
        raise ValueError(f"the score dict has no 'value' (keys: {sorted(score)})")
    return dict(score)


def _row(record: Mapping[str, Any]) -> dict[str, Any]:
    """Validate one add_score record and turn it into a table row."""
    record = dict(record)
    if "score" not in record:
        raise ValueError("no score given (score=Score(...) or its to_dict())")
    payload = _score_dict(record.pop("score"))
    params = payload.get("parameters") if isinstance(payload.get("parameters"), Mapping) else {}
    prov = payload.get("provenance") if isinstance(payload.get("provenance"), Mapping) else {}
    raw = payload.get("raw")
    n_neuroids = record.pop("n_neuroids", None)
    if n_neuroids is None and isinstance(raw, (list, tuple)):
        n_neuroids = len(raw)
    if n_neuroids is not None and (
        isinstance(n_neuroids, bool) or not isinstance(n_neuroids, int) or n_neuroids < 0
    ):
        raise ValueError(f"n_neuroids must be a non-negative int; got {n_neuroids!r}")
    if n_neuroids is not None and n_neuroids > MAX_INTEGER:
        raise ValueError(f"n_neuroids {n_neuroids} is beyond the 32-bit integer column")
    mapping = record.pop("mapping", None) or params.get("mapping") or prov.get("mapping")
    row = {
        "created_at": datetime.datetime.now(datetime.timezone.utc),
        "model": _name(record.pop("model", None), "model", True),
        "benchmark": _name(record.pop("benchmark", None), "benchmark", True),
        "region": _name(record.pop("region", None), "region", False),
        "layer": _name(record.pop("layer", None), "layer", False),
        "metric": _name(record.pop("metric", None) or payload.get("metric"), "metric", False) or "",
        "mapping": _name(None if mapping is None else str(mapping), "mapping", False),
        "convention": _name(
            record.pop("convention", None) or payload.get("convention"), "convention", False
        ),
        "recording_hash": _name(record.pop("recording_hash", None), "recording_hash", False),
        "variant": _variant(record.pop("variant", None)),
        "checkpoint": _name(record.pop("checkpoint", None), "checkpoint", False),
        "model_hash": _name(record.pop("model_hash", None), "model_hash", False),
        "value": _number(payload.get("value"), "value"),
        "error": _number(payload.get("error"), "error"),
        "ceiling": _number(payload.get("ceiling"), "ceiling"),
        "ceiled": _number(payload.get("ceiled"), "ceiled"),
        "n_neuroids": n_neuroids,
        "package_version": _name(
            str(prov.get("brainlike_version") or _package_version()), "package_version", False
        ),
    }
    try:
        row["payload"] = json.dumps(payload, allow_nan=True, default=_json_default)
        row["extra"] = json.dumps(record, allow_nan=True, default=_json_default) if record else None
    except (TypeError, ValueError) as err:
        raise TypeError(f"the score or its extra fields cannot be stored as JSON ({err})") from None
    return row


def _as_dict(row: sa.Row) -> dict[str, Any]:
    out = dict(row._mapping)
    created = out["created_at"]
    if isinstance(created, datetime.datetime):
        if created.tzinfo is None:  # SQLite drops the zone; everything is written in UTC
            created = created.replace(tzinfo=datetime.timezone.utc)
        # a server reads a timestamp back in its own zone (PostgreSQL's `timezone` setting)
        out["created_at"] = created.astimezone(datetime.timezone.utc).isoformat()
    out["payload"] = json.loads(out["payload"])
    out["extra"] = json.loads(out["extra"]) if out["extra"] else {}
    return out
