"""Training time of every shipped recipe that runs offline, for `brainlike configs`.

Trains each recipe whose dataset needs no download (``digits``, ``numbers``) for ``--epochs``
epochs (default 1) in a temporary folder and reads the per-epoch seconds from its
``metrics.jsonl``. The expected time of the whole recipe is the mean epoch time times its
configured epochs (fine-tuning stages included), plus the set-up and final analysis measured
in the same run (the wall-clock time of the whole short run minus its epochs). Ends with one ``NAME: VALUE`` line per recipe
(expected minutes of the full recipe on this machine) and, with ``--write``, stores the figure
in each recipe's ``expected_time`` (labelled as measured, with the machine's core count).

    python benchmarks/recipe_times.py                       # every offline recipe, 1 epoch each
    python benchmarks/recipe_times.py reset4-small-digits   # some recipes
    python benchmarks/recipe_times.py --write               # also update the shipped YAML files

Run it on an otherwise idle machine: the figures are wall-clock times.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import tempfile
import time
from pathlib import Path

from brainlike.config import load_config, shipped_configs_dir
from brainlike.train.checkpoint import planned_epochs
from brainlike.train.loop import train

OFFLINE = ("digits", "numbers")


def offline_recipes() -> list[Path]:
    """Shipped recipes whose dataset is generated or bundled (no download, no image folder)."""
    return [
        p
        for p in sorted(shipped_configs_dir().glob("*.yaml"))
        if load_config(p).data.dataset in OFFLINE and load_config(p).train.device != "cuda"
    ]


def time_recipe(path: Path, epochs: int) -> dict[str, float]:
    """Seconds per epoch and for the whole recipe, from a short run of ``epochs`` epochs."""
    cfg = load_config(path)
    total_epochs = planned_epochs(cfg.model_dump()) or cfg.train.epochs
    # fine-tuning stages count at the epoch time of the main stage (they train the same net)
    short = load_config(path, {"train.epochs": epochs}).model_copy(update={"finetune": None})
    with tempfile.TemporaryDirectory(prefix="recipe-time-") as folder:
        t0 = time.perf_counter()
        train(short, Path(folder) / "run", progress=False)
        wall = time.perf_counter() - t0
        lines = (Path(folder) / "run" / "metrics.jsonl").read_text().splitlines()
    epoch_seconds = [json.loads(line)["seconds"] for line in lines if line.strip()]
    per_epoch = sum(epoch_seconds) / len(epoch_seconds)
    overhead = max(wall - sum(epoch_seconds), 0.0)
    return {
        "seconds_per_epoch": per_epoch,
        "epochs": total_epochs,
        "overhead_seconds": overhead,
        "total_seconds": per_epoch * total_epochs + overhead,
    }


def describe(t: dict[str, float]) -> str:
    minutes = t["total_seconds"] / 60.0
    shown = f"~{minutes:.0f} min" if minutes >= 1.5 else f"~{t['total_seconds']:.0f} s"
    per_epoch = t["seconds_per_epoch"]
    per_epoch_text = f"{per_epoch:.1f}" if per_epoch < 10 else f"{per_epoch:.0f}"
    return (
        f"{shown} on {os.cpu_count()} CPU cores (measured: {per_epoch_text} s/epoch "
        f"x {t['epochs']:.0f} epochs + {t['overhead_seconds']:.0f} s set-up and analysis)"
    )


def write_expected_time(path: Path, text: str) -> None:
    """Replace the recipe's ``expected_time`` line (the rest of the file stays as written)."""
    source = path.read_text()
    line = f"expected_time: {json.dumps(text)}"
    if re.search(r"(?m)^expected_time:.*$", source):
        source = re.sub(r"(?m)^expected_time:.*$", lambda _: line, source)
    else:
        source = source.rstrip("\n") + "\n" + line + "\n"
    path.write_text(source)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("recipes", nargs="*", help="recipe names (default: every offline one)")
    parser.add_argument("--epochs", type=int, default=1, help="epochs to time per recipe")
    parser.add_argument("--write", action="store_true", help="update the recipes' YAML files")
    args = parser.parse_args()
    if args.epochs < 1:
        parser.error("--epochs must be 1 or more")
    paths = (
        [shipped_configs_dir() / f"{name}.yaml" for name in args.recipes]
        if args.recipes
        else offline_recipes()
    )
    for path in paths:
        if not path.is_file():
            parser.error(f"no shipped recipe {path.stem!r}; `brainlike configs` lists them")
    results = {}
    for i, path in enumerate(paths, 1):
        t = time_recipe(path, args.epochs)
        results[path.stem] = t
        print(f"[{i}/{len(paths)}] {path.stem}: {describe(t)}", flush=True)
        if args.write:
            write_expected_time(path, describe(t))
    for name, t in results.items():
        print(f"{name}: {t['total_seconds'] / 60.0:.2f}")


if __name__ == "__main__":
    main()
