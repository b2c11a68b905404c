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


recording_app = typer.Typer(
    help="Recordings from public data: convert Allen Brain Observatory natural-scenes NWB "
    "sessions (allen); a rodent foraging session, tracking + spike times (spatial).",
    no_args_is_help=True,
)


@recording_app.command("allen")
def recording_allen(
    files: list[Path] = typer.Argument(..., help="Allen NWB session files, one animal each"),
    scenes: Path | None = typer.Option(
        None,
        "--scenes",
        help="the 118 natural-scene images: a folder of images (sorted = frame order) or a "
        ".npy (118, H, W[, C]); not part of the NWB files",
    ),
    out: Path = typer.Option(
        Path("runs/allen"), "--out", "-o", help="folder for recording.nc and stimuli/"
    ),
    window: str | None = typer.Option(
        None,
        "--window",
        help="START,END response window in s after onset (default 0,0.25 spikes; 0,0.5 dF/F)",
    ),
    regions: str | None = typer.Option(
        "VISp,VISl,VISal,VISrl,VISam,VISpm", "--regions", help="structure acronyms to keep"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace recording.nc"),
) -> None:
    """Allen natural-scenes sessions -> one recording (recording.nc) + the scenes (stimuli/),
    ready for `brainlike score RUN -r OUT/recording.nc` and `brainlike ceiling`."""
    from brainlike.data.recordings import write_recording
    from brainlike.data.recordings.allen import (
        SCENES_HINT,
        read_allen_natural_scenes,
        write_allen_stimulus_set,
    )

    if scenes is None:
        _fail(f"--scenes is required: {SCENES_HINT}")
    span = None
    if window:
        try:
            lo, hi = (float(v) for v in window.split(","))
        except ValueError:
            _fail(f"--window takes START,END in seconds such as 0,0.25; got {window!r}")
        if not hi > lo:
            _fail(f"--window needs END > START; got {window!r}")
        span = (lo, hi)
    target = out / "recording.nc"
    if target.exists() and not overwrite:
        _fail(f"{target} exists; pass --overwrite to replace it, or choose another --out")
    try:
        rec = read_allen_natural_scenes(files, window=span, regions=_csv_list(regions))
        csv = write_allen_stimulus_set(scenes, out / "stimuli")
        path = write_recording(rec, target)
    except _known_errors() as err:
        _fail(str(err))
    con = _console()
    animals = sorted(set(rec["animal"].values.tolist()))
    areas = list(dict.fromkeys(rec["region"].values.tolist()))
    con.print(
        f"{rec.attrs['modality']}: {rec.sizes['neuroid']} neuroids, {len(animals)} animals, "
        f"areas {', '.join(areas)}, {rec.sizes['stimulus']} scenes x up to "
        f"{rec.sizes['trial']} trials",
        highlight=False,
    )
    con.print(f"recording: {path}\nstimuli:   {csv}", highlight=False)


@recording_app.command("spatial")
def recording_spatial(
    positions: Path = typer.Option(
        ..., "--positions", help="mat: posx/posy/post file | csv: t,x,y[,hd] | nwb: the file"
    ),
    spikes: list[Path] = typer.Option(
        [], "--spikes", help="mat: one file per cell (repeat) | csv: cell,t | nwb: leave out"
    ),
    fmt: str = typer.Option(..., "--format", help="mat | csv | nwb"),
    out: Path = typer.Option(Path("runs/spatial"), "--out", "-o", help="folder for recording.nc"),
    arena: str = typer.Option(
        ..., "--arena", help="arena side in m, or X,Y sides (e.g. 1.5 or 1.5,1.0)"
    ),
    units: str | None = typer.Option(
        None, "--units", help="position unit m | cm | mm (default: mat cm, csv m, nwb its own)"
    ),
    origin: str | None = typer.Option(
        None, "--origin", help="X,Y lower-left corner of the arena in m (default: centred at 0)"
    ),
    animal: str = typer.Option("animal0", "--animal"),
    spike_variable: str = typer.Option("cellTS", "--spike-variable", help="mat: spike times"),
    spikes_outside: str = typer.Option(
        "refuse", "--spikes-outside", help="spikes outside the session: refuse | drop"
    ),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace recording.nc"),
) -> None:
    """A rodent foraging session (tracking + spike times) -> a spatial recording
    (OUT/recording.nc) for rate maps, grid and border scores."""
    from brainlike.data.recordings.spatial import (
        read_spatial_csv,
        read_spatial_mat,
        read_spatial_nwb,
    )

    def pair(text: str, name: str) -> tuple[float, float] | float:
        try:
            vals = [float(v) for v in text.split(",")]
        except ValueError:
            vals = []
        if len(vals) not in (1, 2):
            _fail(f"{name} takes a number or X,Y in metres; got {text!r}")
        return vals[0] if len(vals) == 1 else (vals[0], vals[1])

    if fmt not in ("mat", "csv", "nwb"):
        _fail(f"--format must be mat, csv or nwb; got {fmt!r}")
    wanted = {"mat": "one or more", "csv": "exactly one", "nwb": "no"}[fmt]
    if (
        (fmt == "mat" and not spikes)
        or (fmt == "csv" and len(spikes) != 1)
        or (fmt == "nwb" and spikes)
    ):
        _fail(f"--format {fmt} takes {wanted} --spikes file(s); got {len(spikes)}")
    target = out / "recording.nc"
    if target.exists() and not overwrite:
        _fail(f"{target} exists; pass --overwrite to replace it, or choose another --out")
    common = {
        "arena": pair(arena, "--arena"),
        "origin": None if origin is None else pair(origin, "--origin"),
        "animal": animal,
        "spikes_outside": spikes_outside,
    }
    if units is not None:
        common["units"] = units
    try:
        if fmt == "mat":
            rec = read_spatial_mat(positions, spikes, spike_variable=spike_variable, **common)
        elif fmt == "csv":
            rec = read_spatial_csv(positions, spikes[0], **common)
        else:
            rec = read_spatial_nwb(positions, **common)
        path = rec.save(target)
    except _known_errors() as err:
        _fail(str(err))
    _console().print(f"{rec!r}\nrecording: {path}", highlight=False)
