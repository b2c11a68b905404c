"""Fixtures shared by every test folder: the results database on SQLite and on a real
PostgreSQL server (a throwaway cluster, started once per session when a test first needs it;
see tests/postgres_server.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from postgres_server import PostgresServer, find_bindir

IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "postgresql: runs on a throwaway PostgreSQL server")


@pytest.fixture(scope="session", autouse=True)
def _no_user_results_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Tests never read or write the user's own results database: the default one
    (``$XDG_DATA_HOME/brainlike/results.sqlite``) lives in a temporary folder, and
    ``$BRAINLIKE_RESULTS`` is unset (a test that wants either sets it itself)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_DATA_HOME", str(tmp_path_factory.mktemp("xdg-data")))
        mp.delenv("BRAINLIKE_RESULTS", raising=False)
        yield


@pytest.fixture(autouse=True)
def _close_figures() -> Iterator[None]:
    """Figures a test draws (and inspects) are closed after it, so they don't pile up."""
    yield
    import sys

    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")


def _unavailable(reason: str) -> None:
    # CI must run these tests: there a missing server is a failure, never a silent skip
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: the PostgreSQL tests may not be skipped)")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server of this test session (started on first use, deleted at the end)."""
    bindir = find_bindir()
    if bindir is None:
        _unavailable("PostgreSQL is not installed (no initdb/pg_ctl); run `make services`")
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("the PostgreSQL driver is missing; pip install brainlike[postgres]")
    server = PostgresServer(bindir)
    try:
        server.start()
    except Exception:
        server.stop()
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> Iterator[str]:
    """The URL of a new, empty schema on the session's PostgreSQL server (dropped after)."""
    schema = pg_server.create_schema()
    try:
        yield pg_server.url(schema=schema)
    finally:
        pg_server.drop_schema(schema)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgresql)])
def db_url(request: pytest.FixtureRequest, tmp_path) -> str:
    """A fresh results database: an SQLite file in tmp_path, or a fresh schema on the
    PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'results.sqlite'}"
    return request.getfixturevalue("pg_url")
