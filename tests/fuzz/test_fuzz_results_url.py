"""Fuzzed results-database URLs and paths: any text given to ``--db`` / ``$BRAINLIKE_RESULTS``
either opens an existing results database or is refused with brainlike's own ValueError or
FileNotFoundError naming the problem; nothing is created when reading."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from brainlike.results.database import ResultsDB, database_url

# drivers that would try to reach a server (none is reachable here): parsed, not opened
NETWORK = ("postgres", "mysql", "mariadb", "oracle", "mssql", "cockroach")

URL_PARTS = st.sampled_from(
    [
        "sqlite",
        "sqlite+pysqlite",
        "nosuchdb",
        "sqlite+nodriver",
        "http",
        "file",
        "",
        "://",
        ":///",
        "//",
        "/",
        "?",
        "mode=ro",
        "&",
        "=",
        "#",
        "%",
        "%zz",
        ":memory:",
        "~",
        "..",
        "results.sqlite",
        "@",
        ":",
        "user:pw@",
        "\u00e9",
        " ",
        "\t",
        "x",
    ]
)
URLS = st.one_of(
    st.text(min_size=1, max_size=40),
    st.lists(URL_PARTS, min_size=1, max_size=8).map("".join),
)


@settings(max_examples=60)
@given(text=URLS)
@example(text="sqlite:///results.sqlite?mode=ro&nosuchoption=1")
@example(text="nosuchdb://x")
@example(text="sqlite+nodriver:///a.sqlite")
@example(text="://")
@example(text="sqlite://")
@example(text="%zz")
@example(text="sqlite:///:memory:")
@example(text="\x00")  # was a raw ValueError from pathlib
@example(text="~nosuchuser0/results.sqlite")  # was a RuntimeError from pathlib
def test_results_url(door, text):
    """Any text either opens a results database (read-only: nothing is created) or raises
    ValueError / FileNotFoundError from brainlike with a one-line message."""
    assume(not text.strip().lower().startswith(NETWORK))
    # a file name may hold a line break; the message shows the name as given
    assume(not any(c in text.strip() for c in "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029"))
    with tempfile.TemporaryDirectory() as tmp:
        here = os.getcwd()
        os.chdir(tmp)
        try:
            Path("existing.sqlite").write_bytes(b"not a database, left alone")
            out = door(
                lambda: ResultsDB(text, create=False).close(),
                (ValueError, FileNotFoundError),
                Path(tmp),
            )
            if not isinstance(out, Exception):
                # only an in-memory database can be opened read-only from nothing
                assert ":memory:" in text or "mode=memory" in text or text.strip() == "sqlite://"
            assert sorted(p.name for p in Path(tmp).iterdir()) == ["existing.sqlite"]
        finally:
            os.chdir(here)


@settings(max_examples=40)
@given(text=URLS)
def test_database_url_is_a_url(text):
    """database_url keeps a URL as given and makes any other text an absolute sqlite URL."""
    assume("\x00" not in text and not text.strip().startswith("~"))
    url = database_url(text)
    if "://" in text:
        assert url == text.strip()
    else:
        assert url.startswith("sqlite:///") and Path(url[len("sqlite:///") :]).is_absolute()


@settings(max_examples=20)
@given(raw=st.binary(max_size=200))
@example(raw=b"SQLite format 3\x00")  # was sqlalchemy's DatabaseError
@example(raw=b"\x01")  # SQLite took it for a new database and wrote into it
@example(raw=b"")  # an empty file is an empty SQLite database: no scores table
def test_results_file_of_random_bytes(door, raw):
    """A file of random bytes given as the results database is refused, and left as it was."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "results.sqlite"
        path.write_bytes(raw)
        out = door(
            lambda: ResultsDB(str(path), create=False).close(),
            (ValueError, FileNotFoundError),
            Path(tmp),
        )
        assert isinstance(out, ValueError if raw else FileNotFoundError)
