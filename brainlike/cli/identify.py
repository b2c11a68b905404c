"""``brainlike identify``: which learning rule trained a network? Train a zoo of observed
networks (``build``), then fit and test rule identifiers on its feature table (``fit``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from brainlike.cli.application import (
    _console,
    _csv_list,
    _fail,
    _wide_console,
    json_option,
    progress_option,
)

identify_app = typer.Typer(
    help="Identify the learning rule from observables (weights, activations, activity "
    "change): train a zoo of observed networks (build), fit identifiers (fit).",
    no_args_is_help=True,
)


@identify_app.command("build")
def identify_build(
    zoo: str = typer.Argument(
        ...,
        help="zoo file (YAML: classes, architectures, batch_sizes, seeds, epochs, observe) "
        "or a shipped zoo's name (rules-digits, rules-digits-quick)",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="zoo folder (default runs/identify/ZOO-NAME)"
    ),
    wait: bool = typer.Option(
        True,
        "--wait/--no-wait",
        help="when the remaining runs are being trained by other processes, wait for them",
    ),
    progress: bool = progress_option("show each run's progress bar"),
    as_json: bool = json_option("print the build's summary as JSON"),
) -> None:
    """Train every network of a zoo with its observables recorded, and write the feature table.

    Resumable: a finished run is reused, an interrupted one resumes. Several processes may
    build the same folder at once; each run is claimed by one (DIR/claims/). Writes
    DIR/configs/RUN.yaml, DIR/runs/RUN/ (observables.csv and the usual run files) and
    DIR/features.csv (one row per run x layer x recording setting).
    """
    from brainlike.analysis.identify.zoo import build_zoo
    from brainlike.cli.application import _known_errors

    con = _console()

    def log(message: str) -> None:
        if not as_json:
            con.print(message, highlight=False)

    try:
        result = build_zoo(zoo, out, progress=progress and not as_json, wait=wait, log=log)
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _print_build(result)


def _print_build(result: dict[str, Any]) -> None:
    con = _console()
    con.print(
        f"zoo {result['zoo']} in {result['out']}: {result['runs']} runs; trained here "
        f"{len(result['trained'])}, reused {len(result['reused'])}, failed "
        f"{len(result['failed'])}, still with other processes {len(result['busy'])}",
        highlight=False,
    )
    for name, message in result["failed"].items():
        con.print(f"failed: {name}: {message}", highlight=False)
    if result["features"]:
        con.print(
            f"feature table: {result['features']} ({result['covered']} of {result['runs']} runs)",
            highlight=False,
        )


@identify_app.command("fit")
def identify_fit(
    table: Path = typer.Argument(..., help="feature table (features.csv) or the zoo folder"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="report folder (default: TABLE's folder / identify)"
    ),
    classifiers: str = typer.Option(
        "svm,forest,conv1d", "--classifiers", help="comma-separated: svm, forest, conv1d"
    ),
    splits: int = typer.Option(10, "--splits", help="class-balanced 75/25 train/test splits"),
    cv: int = typer.Option(5, "--cv", help="folds of the cross-validation inside each split"),
    sweep_splits: int = typer.Option(
        5, "--sweep-splits", help="splits of each setting of the sweeps (random forest)"
    ),
    sweeps: str = typer.Option(
        "observables,holdouts,trajectory,recording",
        "--sweeps",
        help="comma-separated parts beyond the classifier comparison (or none)",
    ),
    statistics: str = typer.Option(
        "kept", "--statistics", help="kept (skew, kurtosis left out), all, or thesis (the 24)"
    ),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace a report in the folder"),
    as_json: bool = json_option("print every number as JSON"),
) -> None:
    """Fit rule identifiers (linear SVM with optional PCA, random forest, 1-D conv net over
    time) on a feature table; test them on class-balanced splits, held-out architectures and
    curricula, sparse trajectories, subsampled and noisy recordings; write a report.

    Writes OUT/summary.json (every number), OUT/accuracy.csv, the figures and OUT/report.html.
    """
    from brainlike.analysis.identify.features import read_feature_table
    from brainlike.analysis.identify.sweeps import SWEEPS, IdentifySettings, identify_rules
    from brainlike.report.identify import check_report_free, write_identify_report

    names = _csv_list(classifiers) or []
    parts = [] if sweeps.strip().lower() == "none" else (_csv_list(sweeps) or [])
    try:
        unknown = [p for p in parts if p not in SWEEPS]
        if unknown:
            raise ValueError(
                f"--sweeps: unknown {unknown}; choose from {', '.join(SWEEPS)} or none"
            )
        settings = IdentifySettings(
            classifiers=tuple(names), splits=splits, cv=cv, sweep_splits=sweep_splits,
            sweeps=tuple(parts), statistics=statistics, seed=seed,
        )  # fmt: skip
        folder = out or (table if table.is_dir() else table.parent) / "identify"
        check_report_free(folder, overwrite)
        features = read_feature_table(table)
        summary = identify_rules(features, settings, log=None if as_json else _progress_line)
        summary["source"] = str(table)
        files = write_identify_report(summary, folder)
    except (ValueError, OSError) as err:
        _fail(str(err))
    if as_json:
        print(json.dumps({**summary, "files": files}, indent=2))
        return
    _print_fit(summary, files)


def _progress_line(message: str) -> None:
    _console().print(f"[dim]{message}[/dim]", highlight=False)


def _print_fit(summary: dict[str, Any], files: dict[str, Any]) -> None:
    from rich.table import Table

    from brainlike.report.identify import accuracy_rows, findings

    con = _wide_console(150)
    table = Table(title=f"rule identification: {summary['n_examples']} examples, "
                  f"{summary['n_runs']} runs, classes {', '.join(summary['classes'])}")  # fmt: skip
    for col in ("part", "setting", "classifier", "observables", "accuracy", "± s.d.", "splits"):
        table.add_column(col, justify="left" if col in ("part", "setting") else "right")
    for row in accuracy_rows(summary):
        table.add_row(*row)
    con.print(table)
    for line in findings(summary):
        con.print(f"- {line}", highlight=False)
    con.print(f"written: {files['summary']}, {files['report']}", highlight=False)
