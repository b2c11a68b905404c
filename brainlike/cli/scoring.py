"""Scoring commands: simulate a benchmark with a known answer (``simulate``), score a model
against a recording (``score``) and the best score per model and benchmark
(``leaderboard``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from brainlike.cli.application import (
    _console,
    _csv_list,
    _fail,
    _known_errors,
    _wide_console,
    cache_dir_option,
    db_option,
    json_option,
    progress_option,
)


def score(
    ctx: typer.Context,
    model: str = typer.Argument(
        ..., help="registry name (e.g. resnet20), checkpoint file, or run directory"
    ),
    recording: Path = typer.Option(
        ...,
        "--recording",
        "-r",
        help="recording: .nc (Brain-Score/BrainIO, or a spatial recording: see below), .nwb, "
        ".npz or .npy",
    ),
    stimuli: Path | None = typer.Option(
        None, "--stimuli", help="stimulus-set CSV (default: found next to the recording)"
    ),
    layers: str | None = typer.Option(
        None, "--layers", help="comma-separated module names (default: the model's main blocks)"
    ),
    regions: str | None = typer.Option(
        None, "--regions", help="comma-separated areas (default all)"
    ),
    metric: str = typer.Option(
        "noise-corrected", "--metric", help="noise-corrected | plain | brainscore"
    ),
    mapping: str = typer.Option(
        "pls", "--mapping", help="pls | ridge | ridgecv | linreg | one_to_one"
    ),
    splits: int = typer.Option(10, "--splits", help="train/test splits"),
    bootstraps: int = typer.Option(
        20,
        "--bootstraps",
        help="random trial halvings of the noise-corrected score and the inter-animal ceiling "
        "(20 here for speed; the spec's default is 100; plain's reliability always uses 100, "
        "brainscore's ceiling 10)",
    ),
    train_fraction: float | None = typer.Option(
        None, "--train-fraction", help="default 0.5 (0.9 for --metric brainscore)"
    ),
    convention: str = typer.Option(
        "r2_over_ceiling",
        "--convention",
        help="Brain-Score ceiling convention: r2_over_ceiling | squared_ratio | ratio",
    ),
    time_window: str | None = typer.Option(
        None, "--time-window", help="START,END in ms: average the bins overlapping it"
    ),
    numerator: str = typer.Option(
        "halves",
        "--numerator",
        help="noise-corrected form: halves (spec §4 formula) | full (unbiased numerator)",
    ),
    split_half: str = typer.Option(
        "unequal",
        "--split-half",
        help="halving of odd trial counts: unequal ((n-1)/2 vs (n+1)/2 trials) | equal (one "
        "random trial left out)",
    ),
    seed: int | None = typer.Option(
        None,
        "--seed",
        help="seed of splits, trial halvings and ceiling halvings (default: 1 for --metric "
        "brainscore, as Brain-Score; 0 otherwise)",
    ),
    model_seed: int = typer.Option(0, "--model-seed", help="random weights of a registry model"),
    out: Path | None = typer.Option(
        None,
        "--out",
        "-o",
        help="folder for scores.json and the layer profile (default "
        "runs/scores/MODEL/RECORDING-HASH8/METRIC-MAPPING[-temporal])",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace an existing scores.json in the output folder"
    ),
    db: str | None = db_option(
        "results database URL or SQLite file (default $BRAINLIKE_RESULTS or the user's SQLite)"
    ),
    no_db: bool = typer.Option(False, "--no-db", help="do not write to the results database"),
    cache_dir: Path | None = cache_dir_option("activation cache folder"),
    device: str = typer.Option("cpu", "--device", help="cpu | cuda | auto (model forward only)"),
    temporal: bool = typer.Option(
        False,
        "--temporal",
        help="score over time (time-binned recording, recurrent model): one layer per area, "
        "its score in every bin through a temporally fixed mapping vs the per-bin ceiling",
    ),
    time_steps: int | None = typer.Option(
        None, "--time-steps", help="--temporal: steps to unroll the model (default its time_steps)"
    ),
    image_steps: int | None = typer.Option(
        None,
        "--image-steps",
        help="--temporal, ConvRNNs: steps the image is shown before the blank (default the "
        "model's t_on; spec: 10 of 26)",
    ),
    progress: bool = progress_option(),
    as_json: bool = json_option("print the result as JSON"),
    axes: str | None = typer.Option(
        None,
        "--axes",
        "--axis-order",
        help="bare .npy only: the dim of each array axis in the file's order, e.g. "
        "neuroid,stimulus,trial (default stimulus,neuroid,trial[,time_bin])",
    ),
    drop_nan_neuroids: bool = typer.Option(
        False,
        "--drop-nan-neuroids",
        help="drop neuroids whose responses are all NaN (counted in the settings) instead of "
        "refusing the recording",
    ),
) -> None:
    """Score every chosen layer of a model against every area of a recording.

    A spatial recording (tracking and spike times, e.g. from `brainlike simulate OUT --species
    rat`) scores a path-integration run's layers (--layers g,core; default g) against its
    cells: ridge over spatial bins vs the inter-animal ceiling (spec: mouse-and-entorhinal.md
    §2); only --layers, --splits, --train-fraction, --seed, --device and the output options
    apply.
    """
    from brainlike.evaluation.spatial_scoring import is_spatial_recording

    if is_spatial_recording(recording):
        from brainlike.cli.spatial_score import score_spatial_command

        score_spatial_command(ctx)
        return
    from brainlike.evaluation.outputs import check_output_free, record_scores, score_output_dir
    from brainlike.evaluation.static import save_scoring, score_model

    target: dict[str, Path] = {}

    def claim_output(identity: dict[str, str]) -> None:
        # runs once the model and recording are known, before the model sees an image
        folder = out or score_output_dir(
            identity["model"],
            identity["benchmark"],
            identity["recording_sha256"],
            metric,
            mapping,
            temporal=temporal,
        )
        check_output_free(folder, overwrite)
        target["dir"] = folder

    _warn_in_one_line()

    window = None
    if time_window:
        try:
            a, b = (float(v) for v in time_window.split(","))
            window = (a, b)
        except ValueError:
            _fail(f"--time-window takes START,END in ms such as 70,170; got {time_window!r}")
    # what the static and the temporal scoring take alike
    common: dict[str, Any] = {
        "stimuli": stimuli,
        "layers": _csv_list(layers),
        "regions": _csv_list(regions),
        "metric": metric,
        "mapping": mapping,
        "n_splits": splits,
        "n_bootstraps": bootstraps,
        "train_fraction": train_fraction,
        "numerator": numerator,
        "split_half": split_half,
        "seed": seed,
        "model_seed": model_seed,
        "cache_dir": cache_dir,
        "device": device,
        "progress": progress and not as_json,
        "before_model": claim_output,
        "axes": axes,
        "drop_nan_neuroids": drop_nan_neuroids,
    }
    if temporal:
        from brainlike.evaluation.temporal import (
            render_temporal_table,
            save_temporal_scoring,
            score_temporal,
        )

        if window is not None:
            _fail("--time-window averages the time bins and --temporal scores each bin; use one")
        try:
            result = score_temporal(
                model, recording, time_steps=time_steps, image_steps=image_steps, **common
            )
            files = save_temporal_scoring(result, target["dir"], overwrite=overwrite)
        except _known_errors() as err:
            _fail(str(err))
        payload = {**result.to_dict(), "files": files, "database": None}
        if as_json:
            print(json.dumps(payload, indent=2))
            return
        con = _wide_console(32 + 8 * len(payload["time_bins"]))
        con.print(render_temporal_table(payload))
        for row in payload["rows"]:
            counts = ", ".join(f"{k} {v}" for k, v in row["best_fit_counts"].items())
            con.print(
                f"{row['region']}: layer {row['layer']} (best-fit neuroids: {counts})",
                highlight=False,
            )
        con.print(
            f"written: {files['scores']}, {files['profile']} (per-bin scores are not written "
            "to the results database)",
            highlight=False,
        )
        return
    if time_steps is not None or image_steps is not None:
        _fail("--time-steps and --image-steps apply to --temporal scoring only")
    try:
        database = None
        if not no_db:  # a bad URL or an unreachable server fails before the scoring, not after
            from brainlike.results import ResultsDB

            database = ResultsDB(db)
        result = score_model(model, recording, convention=convention, time_window=window, **common)
        files = save_scoring(result, target["dir"], overwrite=overwrite)
        written = record_scores(result, database) if database is not None else 0
    except _known_errors() as err:
        _fail(str(err))
    payload = result.to_dict()
    payload["files"] = files
    payload["database"] = (
        None if database is None else {"url": database.url_display, "rows": written}
    )
    if as_json:
        print(json.dumps(payload, indent=2))
        return
    _print_scores(payload)


def _warn_in_one_line() -> None:
    """Show brainlike's warnings (e.g. scoring an unfinished run) as one ``warning:`` line."""
    import warnings

    from brainlike.evaluation.scoring_model import IncompleteRunWarning

    shown = warnings.showwarning
    if getattr(shown, "brainlike_one_line", False):
        return

    def show(message, category, filename, lineno, file=None, line=None):
        if issubclass(category, IncompleteRunWarning):
            from rich.console import Console
            from rich.markup import escape

            Console(stderr=True).print(
                f"[bold yellow]warning:[/] {escape(str(message))}", highlight=False, markup=True
            )
        else:
            shown(message, category, filename, lineno, file, line)

    show.brainlike_one_line = True
    warnings.showwarning = show


def _print_scores(payload: dict) -> None:
    """One row per (area, layer), areas in the recording's order: raw, ceiling and ceiled,
    each with its own error, the spread over splits and the paired comparison with the best
    layer; the caption defines every number."""
    from rich.table import Table
    from rich.text import Text

    con = _wide_console(110 + max(len(lay) for lay in payload["layers"]))
    settings = payload["settings"]
    table = Table(
        title=f"{payload['model']} on {payload['benchmark']}: {payload['metric']}, "
        f"{payload['mapping']}, {settings['n_splits']} splits"
        + (
            f", {settings['n_bootstraps']} bootstraps"
            if payload["metric"] == "noise-corrected"
            else ""
        )
    )
    table.add_column("area", no_wrap=True)
    table.add_column("layer", no_wrap=True)
    for name in ("raw", "ceiling", "ceiled", "s.d. over splits", "best - layer"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("", no_wrap=True)
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    pm = lambda v, e: f"{fmt(v)} ± {fmt(e)}"  # noqa: E731
    rows = payload["rows"]
    for i, r in enumerate(rows):
        mark = "*" if r["best"] else ("≈" if r["indistinguishable_from_best"] else "")
        last_of_area = i + 1 < len(rows) and rows[i + 1]["region"] != r["region"]
        cells = [
            pm(r["raw"], r["raw_error"]),
            pm(r["ceiling"], r["ceiling_error"]),
            pm(r["ceiled"], r["ceiled_error"]),
            fmt(r["split_sd"]),
            "" if r["best"] else pm(r["difference_from_best"], r["difference_se"]),
        ]
        style = "bold" if r["best"] else None
        table.add_row(
            Text(r["region"]),
            Text(r["layer"]),
            *(Text(c) for c in cells),
            mark,
            style=style,
            end_section=last_of_area,
        )
    table.caption = _score_caption(payload)
    con.print(table)
    for region, layer in payload["best_layer"].items():
        tied = [lay for lay in payload["indistinguishable_from_best"][region] if lay != layer]
        also = f"; not distinguishable from it: {', '.join(tied)}" if tied else ""
        con.print(f"best layer for {region}: {layer}{also}", highlight=False)
    con.print(
        f"written: {payload['files']['scores']}, {payload['files']['profile']}", highlight=False
    )
    if payload["database"]:
        con.print(
            f"database: {payload['database']['rows']} rows -> {payload['database']['url']}",
            highlight=False,
        )


def _score_caption(payload: dict) -> Any:
    """The score table's caption: what raw, ceiling, ceiled and each ± are, and the marks."""
    from rich.text import Text

    values, errors = payload["definitions"]["values"], payload["definitions"]["errors"]
    lines = [
        f"raw = {values['raw']}; ± {errors['raw']}",
        f"ceiling = {values['ceiling']}; ± {errors['ceiling']}",
        f"ceiled = {values['ceiled']}; ± {errors['ceiled']}",
        "s.d. over splits = s.d. (ddof 1) of the layer's per-split values; best - layer = mean "
        "over splits of the paired difference ± its corrected standard error (below 0 when the "
        "layer's per-split values average higher than the best's, which is chosen by raw or, "
        "for brainscore, ceiled)",
        "* = best layer per area; ≈ = not distinguishable from it: "
        + payload["settings"]["best_layer_criterion"],
    ]
    return Text("\n".join(lines), justify="left")


def _simulate_rat(
    out: Path, animals: int, minutes: float, seed: int, overwrite: bool, as_json: bool
) -> None:
    from brainlike.data.recordings.spatial_session import simulate_spatial_session

    try:
        result = simulate_spatial_session(
            out, animals=animals, minutes=minutes, seed=seed, overwrite=overwrite
        )
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    _console().print(
        f"recording: {result['recording']} ({result['animals']} animals, {result['n_cells']} "
        f"cells, {result['n_spikes']} spikes, {minutes:g} min each)\n"
        f"truth:     {result['truth']}\nmaps:      {result['maps']}",
        highlight=False,
    )


def simulate(
    out: Path = typer.Argument(
        Path("runs/simulated"), help="folder for recording, stimuli and ground truth"
    ),
    brain: str | None = typer.Option(
        None,
        "--brain",
        help="registry model whose layers are the areas (default resnet20; with --dynamic the "
        "built-in recurrent network, or a registered model with a time_steps attribute)",
    ),
    brain_seed: int = typer.Option(0, "--brain-seed", help="seed of the brain's random weights"),
    areas: str | None = typer.Option(
        None, "--areas", help="REGION=LAYER pairs, comma-separated (default V1 early, IT late)"
    ),
    per_digit: int | None = typer.Option(
        None, "--per-digit", help="stimuli per digit (10 digits; default 30, mouse 12)"
    ),
    animals: int = typer.Option(4, "--animals"),
    neuroids: int = typer.Option(40, "--neuroids", help="neuroids per animal per area"),
    trials: int = typer.Option(10, "--trials"),
    noise_sd: float | None = typer.Option(
        None,
        "--noise-sd",
        help="trial noise s.d. (signal s.d. is 1; default 1.0, mouse calcium 3.0)",
    ),
    noise: str = typer.Option("gaussian", "--noise", help="gaussian | poisson"),
    fmt: str = typer.Option(
        "nc",
        "--format",
        help="nc (BrainIO netCDF) | npz | nwb (spike times: counted 70-170 ms after onset by "
        "`score`; with --dynamic, one count per time bin)",
    ),
    dynamic: bool = typer.Option(
        False, "--dynamic", help="time-binned recording from a brain with known dynamics"
    ),
    steps: int = typer.Option(26, "--steps", help="--dynamic: time bins (built-in brain)"),
    image_steps: int = typer.Option(
        10, "--image-steps", help="--dynamic: bins with the image on (built-in brain)"
    ),
    bin_ms: float = typer.Option(10.0, "--bin-ms", help="--dynamic: bin width in ms"),
    species: str = typer.Option(
        "primate",
        "--species",
        help="primate (V1/V4/IT from --brain) | mouse (VISp, VISl, VISal, VISrl, VISam, VISpm "
        "from the six-stream StreamNet, 64 px) | rat (an entorhinal foraging session: grid, "
        "border, place, head-direction and mixed cells; uses --animals, --minutes, --seed)",
    ),
    minutes: float = typer.Option(10.0, "--minutes", help="--species rat: session length"),
    modality: str = typer.Option(
        "calcium",
        "--modality",
        help="--species mouse: calcium (two-photon dF/F, low SNR) | neuropixels (spike counts)",
    ),
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace a benchmark already in the folder"
    ),
    as_json: bool = json_option(None),
) -> None:
    """Write a simulated benchmark (stimuli + animals recorded from a known brain) to score on."""
    from brainlike.evaluation.simulated import (
        simulate_benchmark,
        simulate_dynamic_benchmark,
        simulate_mouse_benchmark,
    )

    if species not in ("primate", "mouse", "rat"):
        _fail(f"--species must be primate, mouse or rat; got {species!r}")
    if species == "rat":
        _simulate_rat(out, animals, minutes, seed, overwrite, as_json)
        return
    if species == "mouse" and dynamic:
        _fail("--species mouse simulates static responses; leave out --dynamic")

    area_map = None
    if areas:
        try:
            area_map = dict(pair.split("=", 1) for pair in areas.split(","))
        except ValueError:
            _fail(
                f"--areas takes REGION=LAYER pairs such as V1=net.blocks.1,IT=net.blocks.7; got {areas!r}"
            )
    common = {
        "brain_seed": brain_seed,
        "areas": area_map,
        "n_per_digit": per_digit or 30,
        "n_animals": animals,
        "units_per_animal": neuroids,
        "n_trials": trials,
        "noise_sd": 1.0 if noise_sd is None else noise_sd,
        "noise": noise,
        "fmt": fmt,
        "seed": seed,
        "overwrite": overwrite,
    }
    try:
        if species == "mouse":
            common.pop("noise")
            common.pop("n_per_digit")
            mouse_noise = {"noise_sd": noise_sd} if noise_sd is not None else {}
            common.pop("noise_sd")
            result = simulate_mouse_benchmark(
                out,
                brain=brain or "streamnet-six",
                modality=modality,
                n_per_digit=per_digit or 12,
                **mouse_noise,
                **common,
            )
        elif dynamic:
            result = simulate_dynamic_benchmark(
                out, brain=brain, n_steps=steps, image_steps=image_steps, bin_ms=bin_ms, **common
            )
        else:
            result = simulate_benchmark(out, brain=brain or "resnet20", **common)
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    con = _console()
    con.print(f"recording: {result['recording']}", highlight=False)
    con.print(f"stimuli:   {result['stimuli']}", highlight=False)
    t = result["truth"]
    if species == "mouse":
        per_area = ", ".join(
            f"{a} {v:.2f}" for a, v in t["expected_reliability_median_per_area"].items()
        )
        con.print(
            f"brain {t['brain']} (seed {t['brain_seed']}), {t['modality']}, {t['n_animals']} "
            f"animals; expected median reliability per area: {per_area}",
            highlight=False,
        )
        con.print(
            f"next: brainlike ceiling {result['recording']} --area-map; brainlike score "
            f"{t['brain']} --model-seed {t['brain_seed']} -r {result['recording']}",
            highlight=False,
        )
        return
    if dynamic:
        rel = [v for v in t["expected_reliability_median_per_bin"] if v is not None]
        con.print(
            f"brain {t['brain']} (seed {t['brain_seed']}), areas {t['areas']}, {t['n_bins']} bins "
            f"of {t['bin_ms']:g} ms, expected median reliability per bin "
            f"{min(rel, default=0):.2f}..{max(rel, default=0):.2f}",
            highlight=False,
        )
        if t["brain"] != "random-recurrent":
            con.print(
                f"next: brainlike score {t['brain']} --model-seed {t['brain_seed']} -r "
                f"{result['recording']} --temporal",
                highlight=False,
            )
        return
    con.print(
        f"brain {t['brain']} (seed {t['brain_seed']}), areas {t['areas']}, expected median "
        f"reliability {t['expected_reliability_median']:.3f}",
        highlight=False,
    )
    con.print(
        f"next: brainlike score {t['brain']} --model-seed {t['brain_seed']} -r {result['recording']}",
        highlight=False,
    )


def leaderboard(
    db: str | None = db_option(),
    benchmark: str | None = typer.Option(
        None, "--benchmark", help="only this benchmark: NAME, or NAME@HASH for one recording"
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="only this metric (noise-corrected | plain | brainscore)"
    ),
    csv: Path | None = typer.Option(None, "--csv", help="also write the table as CSV"),
    html: Path | None = typer.Option(None, "--html", help="also write the table as HTML"),
    as_json: bool = json_option("print the table as JSON"),
) -> None:
    """Model x benchmark table of the best score per model (best layer), from the database.

    A benchmark is a recording (NAME@HASH8: its name and the start of its sha256) and a way of
    scoring it; numbers of different metrics, mappings, conventions or settings are never
    averaged or ranked together.
    """
    from brainlike.results import ResultsDB
    from brainlike.results.leaderboard import leaderboard as build
    from brainlike.results.leaderboard import render_table

    try:
        table = build(ResultsDB(db, create=False), benchmark=benchmark, metric=metric)
        if csv:
            table.to_csv(csv)
        if html:
            table.to_html(html)
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(table.to_dict(), indent=2))
        return
    rendered = render_table(table)
    _wide_console(30 * len(rendered.columns)).print(rendered)
    for p in (csv, html):
        if p:
            _console().print(f"written: {p}", highlight=False)
