"""What the toolkit offers and holds: the buildable ``models``, the shipped recipes, suites and
searches (``configs``), and the activation ``cache``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from brainlike.cli.application import (
    _console,
    _fail,
    _wide_console,
    cache_dir_option,
    json_option,
)


def models(as_json: bool = json_option()) -> None:
    """List the models that can be built, with their parameter counts."""
    from brainlike.models import create_model, list_models, model_entry
    from brainlike.models.reset import count_parameters

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


def configs(as_json: bool = json_option()) -> None:
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


cache_app = typer.Typer(
    help="The activation cache: where it is, what it holds; clear it.", no_args_is_help=True
)


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
    cache_dir: Path | None = cache_dir_option(),
    as_json: bool = json_option(),
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
    cache_dir: Path | None = cache_dir_option(),
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
