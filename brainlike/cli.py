"""The ``brainlike`` command. Thin: it parses, validates, calls the library, prints.

Heavy libraries (torch, matplotlib, scikit-learn) are imported inside the commands so that
``brainlike --help`` answers at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
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


@app.command()
def train(
    config: str = typer.Argument(..., help="YAML experiment file, or the name of a shipped recipe"),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="run directory (default runs/<config name>)"
    ),
    data_dir: str | None = typer.Option(
        None, "--data-dir", help="folder holding (or receiving) real datasets"
    ),
    download: bool = typer.Option(
        False, "--download", help="download the dataset into --data-dir if missing"
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="override train.epochs"),
    seed: int | None = typer.Option(None, "--seed", help="override the seed"),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda or mps"),
    resume: bool = typer.Option(
        False, "--resume", help="continue from the run's last complete checkpoint"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="delete an existing run directory first"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="show the progress bar"),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Train an experiment; writes checkpoints, metrics, snapshots and summary.json."""
    from brainlike.config import load_config, resolve_config_path
    from brainlike.train.loop import train as run_train

    overrides: dict[str, Any] = {
        "data.data_dir": data_dir,
        "train.epochs": epochs,
        "seed": seed,
        "train.device": device,
    }
    if download:
        overrides["data.download"] = True
    try:
        cfg = load_config(resolve_config_path(config), overrides)
        run_dir = out or Path("runs") / cfg.name
        summary = run_train(
            cfg, run_dir, resume=resume, overwrite=overwrite, progress=progress and not as_json
        )
    except _known_errors() as err:
        _fail(str(err))
    except KeyboardInterrupt:
        raise typer.Exit(130) from None
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)


def _fmt_null(m: dict) -> str:
    return f"{m['value']:.3f} (null {m['null_mean']:.3f} ± {m['null_std']:.3f}, p = {m['p_value']:.3g})"


def _print_summary(summary: dict) -> None:
    con = _console()
    con.print(f"[bold]{summary['name']}[/] -> {summary['run_dir']}", highlight=False)
    con.print(
        f"  test accuracy {summary['test_acc']:.4f}  parameters {summary['parameters']:,}  "
        f"time {summary['wall_seconds']:.1f} s",
        highlight=False,
    )
    topo = summary.get("topography")
    if topo:
        con.print(
            f"  fraction selective (d' > {topo['threshold']}): {topo['fraction_selective']:.3f}",
            highlight=False,
        )
        for key in (
            "clustering_index",
            "topography_index",
            "neighbour_agreement",
            "morans_i",
            "smoothness",
        ):
            if key in topo:
                extra = ""
                if key == "neighbour_agreement":
                    extra = f"  chance {topo['neighbour_agreement_chance']:.3f}"
                con.print(f"  {key:22s} {_fmt_null(topo[key])}{extra}", highlight=False)


@app.command()
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
    as_json: bool = typer.Option(False, "--json", help="print the metrics as JSON"),
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


@app.command()
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


@app.command()
def models(as_json: bool = typer.Option(False, "--json", help="print as JSON")) -> None:
    """List the models that can be built, with their parameter counts."""
    from brainlike.models.reset import count_parameters
    from brainlike.registry import create_model, list_models, model_entry

    rows = []
    for name in list_models():
        _, desc, kwargs = model_entry(name)
        model = create_model(name, **kwargs)
        rows.append(
            {
                "name": name,
                "parameters": count_parameters(model),
                "example_kwargs": kwargs,
                "description": desc,
            }
        )
    if as_json:
        print(json.dumps(rows, indent=2))
        return
    from rich.table import Table

    table = Table(title="brainlike models")
    table.add_column("name", no_wrap=True)
    table.add_column("parameters", justify="right", no_wrap=True)
    table.add_column("built with")
    table.add_column("description")
    for r in rows:
        table.add_row(
            r["name"], f"{r['parameters']:,}", json.dumps(r["example_kwargs"]), r["description"]
        )
    # names and counts whole; kwargs and descriptions wrap in the rest (at least 60 columns)
    _wide_console(max(len(r["name"]) for r in rows) + 14 + 60).print(table)


def shipped_recipes() -> dict[str, Any]:
    """The shipped recipes (name, description, dataset, epochs, expected time), suites, searches."""
    from brainlike.config import load_config, shipped_configs_dir

    folder = shipped_configs_dir()
    recipes = []
    for p in sorted(folder.glob("*.yaml")):
        cfg = load_config(p)  # validated: the schema's defaults where the recipe is silent
        recipes.append(
            {
                "recipe": p.stem,
                "description": cfg.description,
                "dataset": cfg.data.dataset,
                "epochs": cfg.train.epochs,
                "expected_time": cfg.expected_time,
                "path": str(p),
            }
        )
    return {
        "recipes": recipes,
        "suites": sorted(p.stem for p in (folder / "suites").glob("*.yaml")),
        "searches": sorted(p.stem for p in (folder / "searches").glob("*.yaml")),
        "folder": str(folder),
    }


@app.command()
def configs(as_json: bool = typer.Option(False, "--json", help="print as JSON")) -> None:
    """List the shipped experiment recipes (usable by name with `brainlike train`)."""
    shipped = shipped_recipes()
    if as_json:
        print(json.dumps(shipped, indent=2))
        return
    from rich.table import Table

    table = Table(title="shipped recipes (brainlike train NAME)")
    table.add_column("recipe", no_wrap=True)
    table.add_column("dataset", no_wrap=True)
    table.add_column("epochs", justify="right")
    table.add_column("expected time")
    table.add_column("description")
    for r in shipped["recipes"]:
        table.add_row(
            r["recipe"], r["dataset"], str(r["epochs"]), r["expected_time"], r["description"]
        )
    con = _wide_console(max(len(r["recipe"]) for r in shipped["recipes"]) + 110)
    con.print(table)
    for folder, command in (("suites", "brainlike experiment"), ("searches", "brainlike search")):
        if shipped[folder]:
            con.print(f"{folder} ({command} NAME): {', '.join(shipped[folder])}", highlight=False)
    con.print(f"folder: {shipped['folder']}", highlight=False)


@app.command()
def compare(
    config: str = typer.Argument(
        ..., help="locality-prior experiment (model.kind lenet/alexnet), or a recipe name"
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="output folder (default runs/<name>-compare)"
    ),
    seeds: str | None = typer.Option(
        None, "--seeds", help="comma-separated seeds (default: seed, seed+1, seed+2)"
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="override train.epochs"),
    data_dir: str | None = typer.Option(None, "--data-dir", help="folder holding real datasets"),
    download: bool = typer.Option(False, "--download", help="download the dataset if missing"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing comparison"),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
) -> None:
    """Locality prior vs control over several seeds: accuracy, spatial variance, t-tests, pruning."""
    from brainlike.config import load_config, resolve_config_path
    from brainlike.train.compare import compare_locality

    overrides: dict[str, Any] = {"train.epochs": epochs, "data.data_dir": data_dir}
    if download:
        overrides["data.download"] = True
    try:
        seed_list = [int(s) for s in seeds.split(",")] if seeds else None
    except ValueError:
        _fail(f"--seeds must be comma-separated integers such as 0,1,2; got {seeds!r}")
    try:
        cfg = load_config(resolve_config_path(config), overrides)
        result = compare_locality(
            cfg,
            out or Path("runs") / f"{cfg.name}-compare",
            seeds=seed_list,
            overwrite=overwrite,
            progress=progress and not as_json,
        )
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(result, indent=2, default=float))
        return
    _print_comparison(result)


def _print_comparison(result: dict) -> None:
    from rich.table import Table

    s = result["summary"]

    def ms(d: dict, scale: float = 1.0, fmt: str = ".3f") -> str:
        if d["sem"] is None:  # one seed: no spread to show
            return f"{d['mean'] * scale:{fmt}}"
        return f"{d['mean'] * scale:{fmt}} ± {d['sem'] * scale:{fmt}}"

    n_seeds = len(result["seeds"])
    spread = "mean ± s.e.m. over seeds" if n_seeds > 1 else "one seed, no s.e.m."
    table = Table(title=f"{result['name']}: locality prior vs control ({n_seeds} seeds, {spread})")
    table.add_column("measure")
    table.add_column("locality", justify="right")
    table.add_column("control", justify="right")
    table.add_row(
        "test accuracy (%)",
        ms(s["test_acc_locality"], 100, ".2f"),
        ms(s["test_acc_control"], 100, ".2f"),
    )
    table.add_row(
        "spatial variance, LP input",
        ms(s["lp_in_variance_locality"]),
        ms(s["lp_in_variance_control"]),
    )
    table.add_row(
        "spatial variance, LP output",
        ms(s["lp_out_variance_locality"]),
        ms(s["lp_out_variance_control"]),
    )
    table.add_row(
        "  shuffled-unit null (output)",
        ms(s["shuffled_null_lp_out_locality"]),
        ms(s["shuffled_null_lp_out_control"]),
    )
    table.add_row("  uniform map", f"{s['uniform_variance']:.3f}", f"{s['uniform_variance']:.3f}")
    table.add_row(
        "clustering index, LP output",
        ms(s["clustering_lp_out_locality"]),
        ms(s["clustering_lp_out_control"]),
    )
    table.add_row(
        "smoothness, LP output",
        ms(s["smoothness_lp_out_locality"]),
        ms(s["smoothness_lp_out_control"]),
    )
    table.add_row(
        "wiring length sum|W*P| d",
        ms(s["wiring_length_locality"], 1, ".1f"),
        ms(s["wiring_length_control"], 1, ".1f"),
    )
    con = _console()
    con.print(table)
    con.print("Spatial variance, locality vs control, paired t-tests:", highlight=False)
    for key, label in (
        ("t_lp_out_seeds", "LP output"),
        ("t_lp_in_seeds", "LP input"),
        ("t_lp_out_classes_pooled", "LP output (secondary)"),
        ("t_lp_in_classes_pooled", "LP input (secondary)"),
        ("t_lp_out_images_pooled", "LP output (secondary)"),
    ):
        t = s[key]
        if t["t"] is None:
            text = t.get("reason") or f"not available (n = {t['n']})"
            con.print(
                f"  {label}, {t['label']}: not available: {text}", highlight=False, soft_wrap=True
            )
        else:
            con.print(
                f"  {label}, {t['label']}: t = {t['t']:.2f}, p = {t['p']:.3g}, "
                f"mean difference {t['mean_difference']:.3f}",
                highlight=False,
                soft_wrap=True,
            )
    seed0 = result["per_seed"][0]
    con.print(
        f"pruning (seed {seed0['seed']}): fraction -> accuracy locality / control", highlight=False
    )
    for a, b in zip(seed0["locality"]["pruning"], seed0["control"]["pruning"], strict=True):
        con.print(
            f"  {a['fraction']:.2f}: {a['accuracy']:.3f} / {b['accuracy']:.3f}   "
            f"wiring saved {a['wiring_length_saved']:.2f} / {b['wiring_length_saved']:.2f}",
            highlight=False,
        )
    con.print(f"figures: {', '.join(result['figures'].values())}", highlight=False)
    con.print(f"time: {result['wall_seconds']:.1f} s", highlight=False)


@app.command()
def demo(
    out: Path = typer.Option(
        Path("runs/demo"), "--out", "-o", help="folder for the two runs and the report"
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="override the epochs of both runs"),
    overwrite: bool = typer.Option(
        True, "--overwrite/--no-overwrite", help="replace an earlier demo"
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json", help="print the comparison as JSON"),
) -> None:
    """Train a plain Reset(4) and one with the spatial loss on offline digits, compare them."""
    from brainlike.demo import run_demo

    try:
        result = run_demo(
            out, epochs=epochs, overwrite=overwrite, progress=progress and not as_json
        )
    except _known_errors() as err:
        _fail(str(err))
    if as_json:
        print(json.dumps(result, indent=2))
        return
    con = _console()
    con.rule("brainlike demo: plain Reset(4) vs Reset(4) + spatial correlation loss")
    for summary in result["runs"]:
        _print_summary(summary)
    con.print(f"\nreport: {result['report']}", highlight=False)
    con.print(f"total time: {result['wall_seconds']:.1f} s", highlight=False)


def _csv_list(value: str | None) -> list[str] | None:
    if not value:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


@app.command()
def score(
    model: str = typer.Argument(
        ..., help="registry name (e.g. resnet20), checkpoint file, or run directory"
    ),
    recording: Path = typer.Option(
        ..., "--recording", "-r", help="recording: .nc (Brain-Score/BrainIO), .nwb, .npz or .npy"
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
    db: str | None = typer.Option(
        None,
        "--db",
        help="results database URL or SQLite file (default $BRAINLIKE_RESULTS or the user's SQLite)",
    ),
    no_db: bool = typer.Option(False, "--no-db", help="do not write to the results database"),
    cache_dir: Path | None = typer.Option(None, "--cache-dir", help="activation cache folder"),
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
    progress: bool = typer.Option(True, "--progress/--no-progress"),
    as_json: bool = typer.Option(False, "--json", help="print the result as JSON"),
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
    """Score every chosen layer of a model against every area of a recording."""
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
                model,
                recording,
                stimuli=stimuli,
                layers=_csv_list(layers),
                regions=_csv_list(regions),
                metric=metric,
                mapping=mapping,
                n_splits=splits,
                n_bootstraps=bootstraps,
                train_fraction=train_fraction,
                numerator=numerator,
                split_half=split_half,
                time_steps=time_steps,
                image_steps=image_steps,
                seed=seed,
                model_seed=model_seed,
                cache_dir=cache_dir,
                device=device,
                progress=progress and not as_json,
                before_model=claim_output,
                axes=axes,
                drop_nan_neuroids=drop_nan_neuroids,
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
        result = score_model(
            model,
            recording,
            stimuli=stimuli,
            layers=_csv_list(layers),
            regions=_csv_list(regions),
            metric=metric,
            mapping=mapping,
            n_splits=splits,
            n_bootstraps=bootstraps,
            train_fraction=train_fraction,
            convention=convention,
            time_window=window,
            numerator=numerator,
            split_half=split_half,
            seed=seed,
            model_seed=model_seed,
            cache_dir=cache_dir,
            device=device,
            progress=progress and not as_json,
            before_model=claim_output,
            axes=axes,
            drop_nan_neuroids=drop_nan_neuroids,
        )
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


def _wide_console(width: int):
    """The console, widened to ``width`` where it is narrower (pipes, small terminals), so a
    table's numbers are never cut."""
    from rich.console import Console

    con = _console()
    return Console(width=width) if con.width < width else con


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


@app.command()
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
    per_digit: int = typer.Option(30, "--per-digit", help="stimuli per digit (10 digits)"),
    animals: int = typer.Option(4, "--animals"),
    neuroids: int = typer.Option(40, "--neuroids", help="neuroids per animal per area"),
    trials: int = typer.Option(10, "--trials"),
    noise_sd: float = typer.Option(1.0, "--noise-sd", help="trial noise s.d. (signal s.d. is 1)"),
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
    seed: int = typer.Option(0, "--seed"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace a benchmark already in the folder"
    ),
    as_json: bool = typer.Option(False, "--json"),
) -> None:
    """Write a simulated benchmark (stimuli + animals recorded from a known brain) to score on."""
    from brainlike.evaluation.simulated import simulate_benchmark, simulate_dynamic_benchmark

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
        "n_per_digit": per_digit,
        "n_animals": animals,
        "units_per_animal": neuroids,
        "n_trials": trials,
        "noise_sd": noise_sd,
        "noise": noise,
        "fmt": fmt,
        "seed": seed,
        "overwrite": overwrite,
    }
    try:
        if dynamic:
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


@app.command()
def leaderboard(
    db: str | None = typer.Option(None, "--db", help="results database URL or SQLite file"),
    benchmark: str | None = typer.Option(
        None, "--benchmark", help="only this benchmark: NAME, or NAME@HASH for one recording"
    ),
    metric: str | None = typer.Option(
        None, "--metric", help="only this metric (noise-corrected | plain | brainscore)"
    ),
    csv: Path | None = typer.Option(None, "--csv", help="also write the table as CSV"),
    html: Path | None = typer.Option(None, "--html", help="also write the table as HTML"),
    as_json: bool = typer.Option(False, "--json", help="print the table as JSON"),
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


@app.command()
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
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="show each trial's training and the trials done"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
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


@app.command()
def pareto(
    runs: list[Path] = typer.Argument(..., help="run directories, or folders holding runs"),
    layers: str | None = typer.Option(
        None, "--layers", help="comma-separated layers whose units count (default: scored layers)"
    ),
    plot: Path | None = typer.Option(
        None, "--plot", help="save test accuracy against units (log x) with the front"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the rows as JSON"),
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


def _int_list(value: str | None, option: str) -> list[int] | None:
    if value is None:
        return None
    try:
        return [int(v) for v in value.split(",") if v.strip()]
    except ValueError:
        _fail(f"{option} takes comma-separated integers, e.g. 0,1,2; got {value!r}")
        raise  # unreachable: _fail exits


@app.command()
def experiment(
    suite: str = typer.Argument(..., help="suite YAML (path or shipped name)", metavar="suite"),
    out: Path = typer.Option(None, "--out", "-o", help="output folder (default runs/<suite>)"),
    db: str | None = typer.Option(None, "--db", help="results database URL or SQLite file"),
    no_record: bool = typer.Option(False, "--no-record", help="do not write to the database"),
    seeds: str | None = typer.Option(
        None, "--seeds", help="comma-separated seeds for every run (table: mean ± s.d.)"
    ),
    progress: bool = typer.Option(
        True, "--progress/--no-progress", help="show the runs done and each run's epochs and fits"
    ),
    as_json: bool = typer.Option(False, "--json", help="print the summary as JSON"),
) -> None:
    """Train every run of a suite, score each on its simulated benchmark, compare them."""
    from brainlike.evaluation.suite_config import load_suite
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
    from brainlike.evaluation.suite_report import suite_columns

    columns, rows = suite_columns(summary)
    from rich.table import Table

    table = Table(title=f"{summary['suite']} (areas: % of ceiling at the best layer)")
    for col in columns:
        table.add_column(
            col,
            justify="left" if col in ("run", "recipe") else "right",
            no_wrap=col in ("run", "recipe"),
        )
    for row in rows:
        table.add_row(*row)
    _wide_console(60 + 12 * len(columns)).print(table)
    console.print(f"written: {summary['out_dir']}/report.html, summary.json, comparison.csv")


cache_app = typer.Typer(
    help="The activation cache: where it is, what it holds; clear it.", no_args_is_help=True
)
app.add_typer(cache_app, name="cache")


def _cache_folder(cache_dir: Path | None) -> Path:
    from brainlike.evaluation.stages import default_cache_dir

    return cache_dir.expanduser() if cache_dir else default_cache_dir()


def _size(n_bytes: int) -> str:
    """A byte count in binary units (1 KiB = 1024 bytes)."""
    size, unit = float(n_bytes), "bytes"
    for larger in ("KiB", "MiB", "GiB", "TiB"):
        if size < 1024:
            break
        size, unit = size / 1024, larger
    return f"{n_bytes} bytes" if unit == "bytes" else f"{size:.1f} {unit}"


@cache_app.command("info")
def cache_info(
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="cache folder (default $BRAINLIKE_CACHE or ~/.cache/...)"
    ),
    as_json: bool = typer.Option(False, "--json", help="print as JSON"),
) -> None:
    """Show the activation cache folder, its number of entries and their total size."""
    from brainlike.analysis.activations import cache_summary

    info = cache_summary(_cache_folder(cache_dir))
    if as_json:
        print(json.dumps(info, indent=2))
        return
    con = _console()
    con.print(f"activation cache: {info['folder']}", highlight=False, soft_wrap=True)
    if not info["exists"]:
        con.print("  (the folder does not exist yet: nothing cached)", highlight=False)
        return
    con.print(
        f"  {info['entries']} entries (one layer of one model on one stimulus set each), "
        f"{_size(info['bytes'])} in {info['files']} files",
        highlight=False,
    )
    if info["incomplete"]:
        con.print(
            f"  {info['incomplete']} unfinished entries (interrupted writes; recomputed when "
            "needed, removed by `brainlike cache clear`)",
            highlight=False,
        )
    if info["other"]:
        con.print(
            f"  {info['other']} other files or folders (not cache entries; never cleared)",
            highlight=False,
        )


@cache_app.command("clear")
def cache_clear(
    cache_dir: Path | None = typer.Option(
        None, "--cache-dir", help="cache folder (default $BRAINLIKE_CACHE or ~/.cache/...)"
    ),
    yes: bool = typer.Option(False, "--yes", "-y", help="do not ask for confirmation"),
) -> None:
    """Delete every cached activation (they are recomputed when next needed)."""
    from brainlike.analysis.activations import cache_summary, clear_cache

    folder = _cache_folder(cache_dir)
    info = cache_summary(folder)
    n = info["entries"] + info["incomplete"]
    if n == 0:
        _console().print(f"activation cache {folder}: nothing to clear", highlight=False)
        return
    if not yes and not typer.confirm(
        f"delete {n} activation cache entries ({_size(info['bytes'])}) in {folder}?"
    ):
        _fail("nothing deleted (pass --yes to clear without asking)", code=1)
    done = clear_cache(folder)
    _console().print(
        f"deleted {done['entries']} entries ({_size(done['bytes'])}) from {folder}",
        highlight=False,
    )


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # e.g. `brainlike models | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
