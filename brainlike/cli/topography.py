"""Commands on a trained run: its topography metrics with nulls (``topo``) and its HTML
``report``."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainlike.cli.application import _console, _fail, _known_errors, json_option


def topo(
    run: Path = typer.Argument(..., help="run directory (with snapshots.npz)"),
    threshold: float | None = typer.Option(None, help="d' threshold T (default: the run's config)"),
    dprime: str | None = typer.Option(
        None, help="'class' (class-mean d') or 'trial' (trial-level d')"
    ),
    null: str | None = typer.Option(
        None, help="'pixel' shuffles or 'tile' (shuffles within tiles)"
    ),
    shuffles: int | None = typer.Option(None, "--shuffles", help="number of shuffles of the null"),
    as_json: bool = json_option("print the metrics as JSON"),
) -> None:
    """Topography metrics (with nulls and p-values) for every snapshot of a run.

    With the run's own settings this reads the run's record (topography.json, the numbers of
    summary.json); other settings are a re-analysis, written beside it in a file named by its
    settings (e.g. topography-dprime_class-null_tile-T2.0-shuffles100.json).
    """
    from brainlike.analysis.history import topography_history

    try:
        result = topography_history(
            run, threshold=threshold, dprime=dprime, null=null, n_shuffles=shuffles
        )
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    from rich.table import Table

    table = Table(
        title=f"topography of {run} (null: {result['settings']['null']}, "
        f"{result['settings']['n_shuffles']} shuffles, T = {result['settings']['threshold']})"
    )
    for col in (
        "epoch",
        "acc",
        "selective",
        "clustering (null, p)",
        "neighbour agr. (chance, p)",
        "smoothness (null, p)",
    ):
        table.add_column(col, justify="right")
    for s in result["snapshots"]:
        c, n, sm = s["clustering_index"], s["neighbour_agreement"], s["smoothness"]
        table.add_row(
            f"{s['epoch']:.2f}",
            "-" if s["accuracy"] is None else f"{s['accuracy']:.3f}",
            f"{s['fraction_selective']:.2f}",
            f"{c['value']:.2f} ({c['null_mean']:.2f}, {c['p_value']:.3f})",
            f"{n['value']:.2f} ({s['neighbour_agreement_chance']:.2f}, {n['p_value']:.3f})",
            f"{sm['value']:.3f} ({sm['null_mean']:.3f}, {sm['p_value']:.3f})",
        )
    _console().print(table)
    if result["path"] is None:
        _console().print(
            f"not recorded: {run} is not writable (the numbers above are not saved)",
            highlight=False,
        )
        return
    verb = "read from" if result["source"] == "read" else "written to"
    _console().print(f"{verb}: {result['path']}", highlight=False)


def report(
    runs: list[Path] = typer.Argument(..., help="one run directory, or several to compare"),
    out: Path | None = typer.Option(None, "--out", "-o", help="output folder (default RUN/report)"),
    title: str | None = typer.Option(None, help="report title"),
) -> None:
    """Self-contained HTML report with PNG figures and a GIF movie of the preference map."""
    from brainlike.report.html import write_report

    try:
        path = write_report(runs, out, title=title)
    except _known_errors() as err:
        _fail(str(err))
    _console().print(f"report: {path}", highlight=False)
