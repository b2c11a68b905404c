"""The ``ceiling`` command: inter-animal consistency per area and mapping class, and the
area-by-area inter-animal map, of a recording."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from brainlike.cli.application import _console, _csv_list, _fail, _known_errors, json_option


def ceiling(
    recording: Path = typer.Argument(
        ..., help="recording: .nc (Brain-Score/BrainIO), .nwb, .npz or .npy; several animals"
    ),
    mappings: str = typer.Option(
        "one_to_one,ridge,pls,rsa", "--mappings", help="comma-separated mapping classes"
    ),
    regions: str | None = typer.Option(
        None, "--regions", help="comma-separated areas (default all)"
    ),
    area_map: bool = typer.Option(
        False,
        "--area-map",
        help="also the area-by-area map: target-area neurons of a held-out animal predicted "
        "from source-area neurons of the other animals",
    ),
    figure: Path | None = typer.Option(
        None, "--figure", help="with --area-map: write the heat map (png/pdf/svg) here"
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="write the table (and map) as JSON to this file"
    ),
    splits: int = typer.Option(10, "--splits", help="train/test splits"),
    bootstraps: int = typer.Option(20, "--bootstraps", help="random trial halvings"),
    seed: int = typer.Option(0, "--seed"),
    as_json: bool = json_option("print the result as JSON"),
) -> None:
    """Inter-animal consistency (the ceiling) per area and mapping class; --area-map for the
    area-by-area map."""
    from brainlike.analysis.neural.area_map import (
        consistency_per_mapping,
        inter_animal_area_map,
        plot_area_map,
    )
    from brainlike.data.recordings import read_recording
    from brainlike.evaluation.score_table import _num

    names = _csv_list(mappings) or []
    areas = _csv_list(regions)
    if figure is not None and not area_map:
        _fail("--figure draws the area map; add --area-map")
    try:
        rec = read_recording(recording)
        table = consistency_per_mapping(
            rec, names, regions=areas, n_splits=splits, n_bootstraps=bootstraps, seed=seed
        )
        amap = (
            inter_animal_area_map(
                rec, names, regions=areas, n_splits=splits, n_bootstraps=bootstraps, seed=seed
            )
            if area_map
            else None
        )
    except _known_errors() as err:
        _fail(str(err))
    payload = {
        "recording": str(recording),
        "ceilings": {
            a: {
                m: {"value": _num(r.score.value), "error": _num(r.score.error)}
                for m, r in row.items()
            }
            for a, row in table.items()
        },
        "parameters": {"n_splits": splits, "n_bootstraps": bootstraps, "seed": seed},
    }
    if amap is not None:
        payload["area_map"] = amap.to_dict()
    text = json.dumps(payload, indent=2, allow_nan=False)
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
    if amap is not None and figure is not None:
        plot_area_map(amap, figure)
    if as_json:
        print(text)
        return
    con = _console()
    con.print(
        "inter-animal consistency (pooled source, median over neuroids; RSA over animals)",
        highlight=False,
    )
    con.print("area     " + "".join(f"{m:>14}" for m in names), highlight=False)
    for a, row in table.items():
        cells = "".join(f"{row[m].score.value:>8.3f}±{row[m].score.error:<5.3f}" for m in names)
        con.print(f"{a:<9}{cells}", highlight=False)
    if amap is not None:
        for m in names:
            con.print(f"\narea map, {m} (rows: source area, columns: target area)")
            con.print("         " + "".join(f"{a:>8}" for a in amap.areas), highlight=False)
            for i, a in enumerate(amap.areas):
                vals = "".join(f"{v:>8.3f}" for v in amap.values[m][i])
                con.print(f"{a:<9}{vals}", highlight=False)
    if out is not None:
        con.print(f"\nwritten: {out}", highlight=False)
    if figure is not None:
        con.print(f"figure:  {figure}", highlight=False)
