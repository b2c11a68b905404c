"""Training commands: one experiment (``train``, also resuming it), the locality prior
against its control over seeds (``compare``), and the two-run ``demo``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from brainlike.cli.application import (
    _console,
    _fail,
    _known_errors,
    epochs_option,
    json_option,
    progress_option,
)


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
    epochs: int | None = epochs_option(),
    seed: int | None = typer.Option(None, "--seed", help="override the seed"),
    device: str | None = typer.Option(None, "--device", help="auto, cpu, cuda or mps"),
    resume: bool = typer.Option(
        False, "--resume", help="continue from the run's last complete checkpoint"
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="delete an existing run directory first"
    ),
    progress: bool = progress_option("show the progress bar"),
    as_json: bool = json_option("print the summary as JSON"),
) -> None:
    """Train an experiment; writes checkpoints, metrics, snapshots and summary.json."""
    from brainlike.config import load_config, resolve_config_path
    from brainlike.train.loop import train as run_train
    from brainlike.train.run_dir import _launch_rank

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
    if _launch_rank() != 0:  # one summary per launch: the main process prints it
        return
    if as_json:
        print(json.dumps(summary, indent=2))
    else:
        _print_summary(summary)


def _fmt_null(m: dict) -> str:
    return f"{m['value']:.3f} (null {m['null_mean']:.3f} ± {m['null_std']:.3f}, p = {m['p_value']:.3g})"


def _print_summary(summary: dict) -> None:
    con = _console()
    con.print(f"[bold]{summary['name']}[/] -> {summary['run_dir']}", highlight=False)
    if summary.get("test_acc") is not None:
        score = f"test accuracy {summary['test_acc']:.4f}"
    elif summary.get("test_knn_acc") is not None:  # self-supervised runs with class labels
        score = f"test kNN accuracy {summary['test_knn_acc']:.4f}"
    else:
        score = f"test loss {summary['test_loss']:.4f}"
    con.print(
        f"  {score}  parameters {summary['parameters']:,}  time {summary['wall_seconds']:.1f} s",
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
    epochs: int | None = epochs_option(),
    data_dir: str | None = typer.Option(None, "--data-dir", help="folder holding real datasets"),
    download: bool = typer.Option(False, "--download", help="download the dataset if missing"),
    overwrite: bool = typer.Option(False, "--overwrite", help="replace an existing comparison"),
    progress: bool = progress_option(),
    as_json: bool = json_option("print the comparison as JSON"),
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

    def pair(key: str, scale: float = 1.0, fmt: str = ".3f") -> tuple[str, str]:
        return ms(s[f"{key}_locality"], scale, fmt), ms(s[f"{key}_control"], scale, fmt)

    uniform = f"{s['uniform_variance']:.3f}"
    for label, cells in (
        ("test accuracy (%)", pair("test_acc", 100, ".2f")),
        ("spatial variance, LP input", pair("lp_in_variance")),
        ("spatial variance, LP output", pair("lp_out_variance")),
        ("  shuffled-unit null (output)", pair("shuffled_null_lp_out")),
        ("  uniform map", (uniform, uniform)),
        ("clustering index, LP output", pair("clustering_lp_out")),
        ("smoothness, LP output", pair("smoothness_lp_out")),
        ("wiring length sum|W*P| d", pair("wiring_length", 1, ".1f")),
    ):
        table.add_row(label, *cells)
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


def demo(
    out: Path = typer.Option(
        Path("runs/demo"), "--out", "-o", help="folder for the two runs and the report"
    ),
    epochs: int | None = typer.Option(None, "--epochs", help="override the epochs of both runs"),
    overwrite: bool = typer.Option(
        True, "--overwrite/--no-overwrite", help="replace an earlier demo"
    ),
    progress: bool = progress_option(),
    as_json: bool = json_option("print the comparison as JSON"),
) -> None:
    """Train a plain Reset(4) and one with the spatial loss on offline digits, compare them."""
    from brainlike.evaluation.demo import run_demo

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
