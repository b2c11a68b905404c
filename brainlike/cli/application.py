"""The ``brainlike`` Typer app: the root command, its options shared by the commands, and
how a refusal is printed.

Commands live in the modules beside this one (one per command group) and are registered on
:data:`app` in :mod:`brainlike.cli`. Heavy libraries (torch, matplotlib, scikit-learn) are
imported inside the commands so that ``brainlike --help`` answers at once.
"""

from __future__ import annotations

import sys
from typing import Any

import typer

app = typer.Typer(
    help="Build, train and score brain-like neural networks.\n\n"
    "Train from one YAML recipe (`configs` lists the shipped ones): Reset networks and "
    "topography with nulls (`train`, `topo`, `report`, `demo`), the locality prior against its "
    "control over seeds (`compare`), gated recurrent CNNs (GRCNN) with the brain-likeness "
    "recipes, ConvRNNs unrolled in biological time. Score models against neural recordings "
    "(`simulate`, `score`, `leaderboard`; activations cached, see `cache`), run whole suites "
    "(`experiment`) and architecture searches (`search`, `pareto`).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        from brainlike.analysis.score import package_version

        print(f"brainlike {package_version()}")
        raise typer.Exit()


@app.callback()
def _toolkit(
    version: bool = typer.Option(
        False,
        "--version",
        callback=_print_version,
        is_eager=True,
        help="print the brainlike version and exit",
    ),
) -> None:
    """Build, train and score brain-like neural networks."""


def _console():
    from rich.console import Console

    return Console(stderr=False)


def _fail(message: str, code: int = 2) -> None:
    """Print ``message`` as one ``error:`` line (never wrapped: logs and grep keep it whole;
    brackets in it are text, not markup) and exit with ``code``."""
    from rich.console import Console
    from rich.markup import escape

    Console(stderr=True).print(
        f"[bold red]error:[/] {escape(message)}", highlight=False, markup=True, soft_wrap=True
    )
    raise typer.Exit(code)


def _known_errors() -> tuple[type[BaseException], ...]:
    """The errors a command prints as one ``error:`` line (exit 2) instead of a traceback."""
    from brainlike.config import ConfigError
    from brainlike.train.checkpoint import CheckpointError
    from brainlike.train.loop import RunDirectoryError

    errs: list[type[BaseException]] = [
        ConfigError,
        CheckpointError,
        RunDirectoryError,
        FileNotFoundError,
        ValueError,
    ]
    if "sqlalchemy" in sys.modules:  # a bad database URL or an unreachable server
        from sqlalchemy.exc import SQLAlchemyError

        errs.append(SQLAlchemyError)
    return tuple(errs)


def _wide_console(width: int):
    """The console, widened to ``width`` where it is narrower (pipes, small terminals), so a
    table's numbers are never cut."""
    from rich.console import Console

    con = _console()
    return Console(width=width) if con.width < width else con


def _csv_list(value: str | None) -> list[str] | None:
    """A comma-separated option value as a list of names (None when empty)."""
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def _int_list(value: str | None, option: str) -> list[int] | None:
    """A comma-separated option value as integers; anything else is refused naming ``option``."""
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        _fail(f"{option} takes comma-separated integers, e.g. 0,1,2; got {value!r}")
        raise  # unreachable: _fail exits


# Options that several commands declare alike (each call makes a fresh option).


def json_option(help: str | None = "print as JSON") -> Any:
    """``--json``: print the command's result as JSON instead of tables."""
    return typer.Option(False, "--json", help=help)


def progress_option(help: str | None = None) -> Any:
    """``--progress/--no-progress``: show progress (on by default)."""
    return typer.Option(True, "--progress/--no-progress", help=help)


def epochs_option() -> Any:
    """``--epochs``: override the config's ``train.epochs``."""
    return typer.Option(None, "--epochs", help="override train.epochs")


def db_option(help: str = "results database URL or SQLite file") -> Any:
    """``--db``: the results database."""
    return typer.Option(None, "--db", help=help)


def cache_dir_option(help: str = "cache folder (default $BRAINLIKE_CACHE or ~/.cache/...)") -> Any:
    """``--cache-dir``: the activation cache folder."""
    return typer.Option(None, "--cache-dir", help=help)


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # e.g. `brainlike models | head`
        sys.exit(0)
