"""``spatial``: grid, border, head-direction and speed cells of a path-integration run or a
spatial recording, with their shuffle nulls, as JSON, maps and an HTML gallery."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainlike.cli.application import (
    _console,
    _fail,
    _known_errors,
    json_option,
    progress_option,
)


def _is_run(path: Path) -> bool:
    return path.is_dir() and (path / "checkpoints").is_dir()


def spatial(
    source: Path = typer.Argument(
        ...,
        help="a path-integration run folder, or a spatial recording .nc (or the folder of "
        "`brainlike simulate OUT --species rat`)",
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="output folder (default RUN/spatial or RECORDING_DIR/spatial)"
    ),
    layer: str = typer.Option("g", "--layer", help="model layer: g or core (runs only)"),
    bin_cm: float = typer.Option(5.0, "--bin-cm", help="rate-map bin side, cm"),
    smooth_cm: float | None = typer.Option(
        None, "--smooth-cm", help="Gaussian smoothing s.d., cm (default: run 0, recording 5)"
    ),
    shuffles: int = typer.Option(100, "--shuffles", help="circular shifts per unit (0: no null)"),
    sequences: int = typer.Option(
        1000, "--sequences", help="random walks for a run's maps and null (runs only)"
    ),
    seed: int = typer.Option(0, "--seed", help="seed of the walks and the shifts"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace existing spatial files"),
    as_json: bool = json_option("print the analysis (spatial.json) as JSON"),
    progress: bool = progress_option(),
) -> None:
    """Rate maps, grid scores (mean over annuli and min/max), spacing, orientation, border
    score and spatial information of every unit (recordings: also head-direction and speed
    scores), each against its circular-shift shuffle null; fractions of grid cells (grid >
    0.3, above the 95th-percentile null) and border cells (border > 0.5, likewise).

    Writes spatial.json, spatial_maps.npz and spatial.html (a standalone gallery).
    """
    from brainlike.evaluation.spatial_analysis import FILES, analyse_recording, analyse_run

    try:
        source = source.expanduser()
        if not source.exists():
            raise FileNotFoundError(f"{source} does not exist; give a run folder or a recording")
        is_run = _is_run(source)
        folder = out or (source if source.is_dir() else source.parent) / "spatial"
        present = [f for f in FILES if (folder / f).exists()]
        if present and not overwrite:  # refuse before the long work
            raise ValueError(
                f"{folder} already holds {', '.join(present)}; pass --overwrite or choose "
                "another folder with --out"
            )
        if is_run:
            analysis = analyse_run(
                source,
                layer=layer,
                n_sequences=sequences,
                bin_cm=bin_cm,
                smooth_cm=0.0 if smooth_cm is None else smooth_cm,
                shuffles=shuffles,
                seed=seed,
                progress=progress and not as_json,
            )
        else:
            analysis = analyse_recording(
                source,
                bin_cm=bin_cm,
                smooth_cm=5.0 if smooth_cm is None else smooth_cm,
                shuffles=shuffles,
                seed=seed,
                progress=progress and not as_json,
            )
        paths = analysis.save(folder, overwrite=overwrite)
    except _known_errors() as err:
        _fail(str(err))
    record = analysis.to_dict()
    if as_json:
        print(json.dumps(record, indent=1))
        return
    _print_summary(record, paths)


def _print_summary(record: dict, paths: list[Path]) -> None:
    from rich.markup import escape
    from rich.table import Table

    def fmt(value: float | None) -> str:
        return "-" if value is None else f"{value:.3f}"

    con = _console()
    table = Table(title=escape(f"spatial: {record['name']} ({record['n_units']} units)"))
    for col in ("cell type", "threshold", "above threshold", "above null95", "both", "scored"):
        table.add_column(col, justify="left" if col == "cell type" else "right")
    for name, f in record["fractions"].items():
        table.add_row(
            name,
            f"{f['threshold_value']:g}",
            fmt(f["threshold"]),
            fmt(f["null95"]),
            fmt(f["both"]),
            f"{f['n_scored']}/{f['n_units']}",
        )
    con.print(table)
    medians = Table(title="medians over units")
    for col in ("score", "median", "null median"):
        medians.add_column(col, justify="left" if col == "score" else "right")
    for name, m in record["medians"].items():
        medians.add_row(name, fmt(m["median"]), fmt(m["null_median"]))
    con.print(medians)
    for note in record["notes"]:
        con.print(escape(f"note: {note}"), highlight=False)
    for path in paths:
        con.print(escape(f"written: {path}"), highlight=False)
