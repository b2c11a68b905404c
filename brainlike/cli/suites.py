"""Many runs at once: experiment suites (``experiment``), architecture searches
(``search``) and the size/accuracy Pareto front of trained runs (``pareto``)."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainlike.cli.application import (
    _console,
    _csv_list,
    _fail,
    _int_list,
    _known_errors,
    _wide_console,
    db_option,
    json_option,
    progress_option,
)


def search(
    config: str = typer.Argument(..., help="search YAML (path or shipped name)", metavar="search"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="output folder (default runs/<search name>)"
    ),
    trials: int | None = typer.Option(
        None, "--trials", help="trials to run now (default the file's n_trials)"
    ),
    storage: str | None = typer.Option(
        None,
        "--storage",
        help="study storage URL (default sqlite:///OUT/search.sqlite); share one to search "
        "from several machines",
    ),
    seed: int | None = typer.Option(None, "--seed", help="seed of this worker's TPE sampler"),
    progress: bool = progress_option("show each trial's training and the trials done"),
    as_json: bool = json_option("print the summary as JSON"),
) -> None:
    """Architecture/hyperparameter search with TPE: train trials, record size and accuracy."""
    from brainlike.integrations.search import load_search, render_trials_table, run_search

    console = _console()
    try:
        spec = load_search(config)
        folder = out or Path("runs") / spec.name
        summary = run_search(
            spec,
            folder,
            n_trials=trials,
            storage=storage,
            seed=seed,
            log=None if as_json else (lambda m: console.print(m, highlight=False)),
            progress=progress and not as_json,
        )
    except _known_errors() as err:
        _fail(str(err))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    _wide_console(150).print(render_trials_table(summary))
    best = summary["best"]
    if best:
        console.print(
            f"best: trial {best['number']}, test acc {best['test_acc']:.4f}, units "
            f"{best['units']:,}, parameters {best['parameters']:,} -> {best['run_dir']}",
            highlight=False,
            soft_wrap=True,
        )
    console.print(
        f"{summary['n_trials']} trials in study {summary['study']} ({summary['storage']}); "
        f"written: {summary['out_dir']}/search_summary.json",
        highlight=False,
        soft_wrap=True,
    )


def pareto(
    runs: list[Path] = typer.Argument(..., help="run directories, or folders holding runs"),
    layers: str | None = typer.Option(
        None, "--layers", help="comma-separated layers whose units count (default: scored layers)"
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="save test accuracy against units (log x) with the front"
    ),
    as_json: bool = json_option("print the rows as JSON"),
) -> None:
    """Parameters, units and test accuracy of trained runs, and their Pareto front."""
    from brainlike.analysis.size import plot_pareto, render_size_table, size_table

    try:
        rows = size_table(runs, _csv_list(layers))
        if plot:
            plot_pareto(rows, plot)
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    _wide_console(120).print(render_size_table(rows))
    if plot:
        _console().print(f"written: {plot}", highlight=False)


def experiment(
    suite: str = typer.Argument(..., help="suite YAML (path or shipped name)", metavar="suite"),
    out: Path = typer.Option(None, "--out", "-o", help="output folder (default runs/<suite>)"),
    db: str | None = db_option(),
    no_record: bool = typer.Option(False, "--no-record", help="do not write to the database"),
    seeds: str | None = typer.Option(
        None, "--seeds", help="comma-separated seeds for every run (table: mean ± s.d.)"
    ),
    progress: bool = progress_option("show the runs done and each run's epochs and fits"),
    as_json: bool = json_option("print the summary as JSON"),
) -> None:
    """Train every run of a suite, score each on its simulated benchmark (in a rules suite:
    under every learning rule; in a mouse suite: on the simulated mouse areas and transfer; in
    an entorhinal (mec) suite: grid/border cells, mapping to a spatial recording, ablations),
    compare them."""
    from brainlike.config.suite import load_suite
    from brainlike.evaluation.suites import run_suite

    console = _console()
    try:
        spec, _ = load_suite(suite)
        folder = out or Path("runs") / spec.name
        summary = run_suite(
            suite,
            folder,
            db=db,
            record=not no_record,
            seeds=_int_list(seeds, "--seeds"),
            progress=progress and not as_json,
            log=(lambda m: None) if as_json else (lambda m: console.print(m, highlight=False)),
        )
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(summary, indent=2, default=str))
        return
    from rich.table import Table

    if summary.get("kind") == "rules":
        from brainlike.evaluation.rules_report import rules_columns

        columns, rows = rules_columns(summary)
        title = f"{summary['suite']} (test accuracy and angle W, B~: mean ± s.d. over seeds)"
    elif summary.get("kind") == "mouse":
        from brainlike.evaluation.mouse_report import mouse_columns

        columns, rows = mouse_columns(summary)
        title = (
            f"{summary['suite']} (median over areas of % of the inter-animal ceiling; "
            "transfer: best layer; mean ± s.d. over seeds)"
        )
    elif summary.get("kind") == "mec":
        from brainlike.evaluation.mec_report import mec_columns_table

        columns, rows = mec_columns_table(summary)
        title = (
            f"{summary['suite']} (decoding error, grid/border scores and fractions, mapping as "
            "% of the inter-animal ceiling, ablations; mean ± s.d. over seeds)"
        )
    else:
        from brainlike.evaluation.suite_report import suite_columns

        columns, rows = suite_columns(summary)
        title = f"{summary['suite']} (areas: % of ceiling at the best layer)"
    table = Table(title=title)
    left = ("run", "recipe", "architecture", "rule", "model", "objective", "core", "target")
    for col in columns:
        table.add_column(col, justify="left" if col in left else "right", no_wrap=col in left)
    for row in rows:
        table.add_row(*row)
    _wide_console(60 + 12 * len(columns)).print(table)
    console.print(f"written: {summary['out_dir']}/report.html, summary.json, comparison.csv")
