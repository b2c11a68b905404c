"""``transfer``: linear readouts of a frozen model's layers on other tasks (categorisation,
and object position, size, pose, texture and depth in generated scenes)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import typer

from brainlike.cli.application import _console, _csv_list, _fail, _known_errors, json_option


def transfer(
    run: str = typer.Argument(
        ..., help="run directory, checkpoint file, or registry name (random weights)"
    ),
    task: str = typer.Option(
        ...,
        "--task",
        "-t",
        help="comma-separated: categorization, position, size, pose, texture, depth",
    ),
    layers: str | None = typer.Option(
        None, "--layers", help="comma-separated module names (default: the model's main blocks)"
    ),
    images: int = typer.Option(1000, "--images", help="images per task"),
    seed: int = typer.Option(0, "--seed", help="seed of the scenes, split and bootstrap"),
    test_fraction: float = typer.Option(
        0.25, "--test-fraction", help="share of the images held out to test the readout"
    ),
    pca: int = typer.Option(
        256, "--pca", help="project wider layers on this many components (0: keep all units)"
    ),
    bootstraps: int = typer.Option(200, "--bootstraps", help="test-set resamples for the s.e."),
    model_seed: int = typer.Option(0, "--model-seed", help="random weights of a registry model"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace RUN/transfer.json"),
    as_json: bool = json_option("print the record as JSON"),
) -> None:
    """Freeze a model and fit a linear readout per layer on each task; a run directory gets
    the record as RUN/transfer.json.

    Classes (categorization, texture): logistic regression, accuracy against the majority-class
    rate. Continuous targets (position x, y; size; pose as cos/sin of n * angle for a shape of
    n-fold symmetry; depth): ridge, R^2 against 0 (predicting the mean) and Pearson r. The
    spread is the bootstrap standard error over the held-out images.
    """
    from brainlike.evaluation.transfer import check_tasks, run_transfer

    def log(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        tasks = check_tasks(_csv_list(task) or [])
        record = run_transfer(
            run,
            tasks,
            layers=_csv_list(layers),
            n_images=images,
            seed=seed,
            test_fraction=test_fraction,
            pca=pca or None,
            bootstraps=bootstraps,
            overwrite=overwrite,
            model_seed=model_seed,
            log=log,
        )
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(record, indent=2, default=str))
        return
    from rich.table import Table

    table = Table(
        title=f"transfer of {record['model']} ({record['preprocessing']['input_size']} px)"
    )
    for col in ("task", "layer", "metric", "value", "s.e.", "chance", "Pearson r"):
        table.add_column(col, justify="left" if col in ("task", "layer", "metric") else "right")
    for row in record["results"]:
        r = f"{row['pearson_r']:.3f}" if "pearson_r" in row else "-"
        table.add_row(
            row["task"],
            row["layer"],
            row["metric"],
            f"{row['value']:.3f}",
            f"{row['se']:.3f}",
            f"{row['chance']:.3f}",
            r,
        )
    _console().print(table)
    for name, t in record["tasks"].items():
        _console().print(
            f"{name}: {t['target']}; {t['source']}; {t['n_train']} train / {t['n_test']} test",
            highlight=False,
        )
    if record.get("path"):
        _console().print(f"written to: {Path(record['path'])}", highlight=False)
