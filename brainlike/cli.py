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
    help="Build, train and score brain-like neural networks (Reset networks, topography).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _console():
    from rich.console import Console

    return Console(stderr=False)


def _fail(message: str, code: int = 2) -> None:
    from rich.console import Console

    Console(stderr=True).print(f"[bold red]error:[/] {message}", highlight=False, markup=True)
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
    """Topography metrics (with nulls and p-values) for every snapshot of a run."""
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
    _console().print(f"written: {result['path']}", highlight=False)


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
    table.add_column("name")
    table.add_column("parameters", justify="right")
    table.add_column("built with")
    table.add_column("description")
    for r in rows:
        table.add_row(
            r["name"], f"{r['parameters']:,}", json.dumps(r["example_kwargs"]), r["description"]
        )
    _console().print(table)


@app.command()
def configs() -> None:
    """List the shipped experiment recipes (usable by name with `brainlike train`)."""
    import yaml

    from brainlike.config import shipped_configs_dir

    con = _console()
    for p in sorted(shipped_configs_dir().glob("*.yaml")):
        first = (yaml.safe_load(p.read_text()) or {}).get("name", "")
        con.print(f"{p.stem:28s} {first}", highlight=False)
    con.print(f"folder: {shipped_configs_dir()}", highlight=False)


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
        return f"{d['mean'] * scale:{fmt}} ± {d['sem'] * scale:{fmt}}"

    table = Table(
        title=f"{result['name']}: locality prior vs control ({len(result['seeds'])} seeds, mean ± s.e.m.)"
    )
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
    for key, label in (
        ("t_lp_out_classes_pooled", "LP output, paired over classes x seeds"),
        ("t_lp_in_classes_pooled", "LP input, paired over classes x seeds"),
        ("t_lp_out_images_pooled", "LP output, paired over images x seeds"),
    ):
        t = s[key]
        con.print(
            f"t-test {label}: t = {t['t']:.2f}, p = {t['p']:.3g}, n = {t['n']}", highlight=False
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


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except BrokenPipeError:  # e.g. `brainlike models | head`
        sys.exit(0)


if __name__ == "__main__":
    main()
