"""Mouse suites: the chapter's experiment, architectures x objectives x resolutions.

spec: mouse-and-entorhinal.md §1. A suite with a ``mouse`` section builds every run from one
base config and three factors, each level a set of config overrides: the architecture
(``models``), the objective (``objectives``) and the image size (``resolutions``, set as
``data.input_size``). The blocks of ``design`` name which cells of the crossing are trained
(their union; the default block is the full crossing), each with every seed. Every run is
then

- scored on the simulated mouse benchmark (``brainlike simulate --species mouse``: six areas
  recorded from a shallow ground-truth network, several animals), once per modality and
  mapping class: noise-corrected predictivity of the best layer per area as % of the pooled
  inter-animal ceiling of that mapping class (:func:`brainlike.evaluation.static.score_model`);
- read out by linear transfer on other tasks (:mod:`brainlike.evaluation.transfer`): the best
  layer's held-out accuracy (categories) or r (continuous latents) per task.

A finished run is reused, and so are its scores (newer than its checkpoint) and transfer
results; an interrupted run resumes. The figures and ``report.html`` are
:mod:`brainlike.evaluation.mouse_report`.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.config.suite import SuiteConfig
from brainlike.config.suite import resolve_run_config as _resolve
from brainlike.evaluation.suite_runs import _check_existing_runs, _f, _mean_sd, _train
from brainlike.progress import ProgressDisplay

__all__ = ["CONVENTIONS", "MouseRun", "mouse_plan", "summarise_mouse"]

#: What the numbers of a mouse suite are (written into summary.json and the report).
CONVENTIONS = {
    "pct_ceiling": "noise-corrected predictivity (median over the area's neurons of the "
    "held-out r between model and half-trial averages, Spearman-Brown corrected; spec "
    "neural-evaluation.md §4) of the best layer for that area, divided by the pooled "
    "inter-animal consistency of the same mapping class (§5), in %; the best layer is chosen "
    "on the same data, so it is optimistic by the selection",
    "mapping": "ridge: ridge regression from all units of a layer; pls: partial least squares "
    "(25 components); one_to_one: the single best-correlated unit per neuron; rsa: "
    "noise-corrected representational similarity (one value per animal)",
    "median_over_areas": "the median over the six areas of pct_ceiling, within one modality "
    "and mapping class (never across modalities, mappings or metrics)",
    "transfer": "linear readout of a frozen layer on another task (brainlike transfer): "
    "held-out accuracy for categories (chance: the most frequent class), held-out R^2 "
    "averaged over the target's dimensions for continuous latents (null 0); the best layer "
    "per task, chosen on the same test split",
    "headline": "the run's own held-out metric after the last epoch: test accuracy for "
    "supervised runs, kNN top-1 of the embedding for self-supervised runs with labels, else "
    "the held-out loss (lower is better)",
    "seeds": "mean ± s.d. (ddof 1) over seeds of each number",
}


@dataclass(frozen=True)
class MouseRun:
    """One run of a mouse suite: an architecture, an objective and a resolution, one seed."""

    config: Path
    model: str
    objective: str
    resolution: int
    seed: int
    name: str
    overrides: dict[str, Any]

    @property
    def label(self) -> str:
        """The cell, for messages: ``model x objective x size px``."""
        return f"{self.model} x {self.objective} x {self.resolution} px"


def mouse_plan(suite: SuiteConfig, base: Path) -> list[MouseRun]:
    """Every run of a mouse suite (the design's cells in order, seed by seed); each run's
    config is validated here, before anything trains."""
    from brainlike.config import ConfigError, load_config

    mouse = suite.mouse
    assert mouse is not None
    cfg_path = _resolve(suite.runs[0], base)
    cfg = load_config(cfg_path, suite.overrides)
    plan = []
    for model, objective, size in mouse.cells():
        for seed in suite.seeds or [cfg.seed]:
            name = f"{cfg.name}-{model}-{objective}-{size}px-seed{seed}"
            overrides = {
                **suite.overrides,
                **mouse.models[model],
                **mouse.objectives[objective],
                "data.input_size": size,
                "seed": seed,
                "name": name,
            }
            try:
                load_config(cfg_path, overrides)
            except ConfigError as err:
                raise ConfigError(
                    f"mouse suite cell {model} x {objective} x {size} px: {err}"
                ) from None
            plan.append(MouseRun(cfg_path, model, objective, size, seed, name, overrides))
    return plan


def _brain(suite: SuiteConfig, base: Path, out: Path, progress: bool, log: Any) -> str:
    """The ground-truth network: ``benchmark.brain_config`` trained into ``out/brain`` (reused
    once trained), else ``benchmark.brain`` (a registry name or a trained run)."""
    b = suite.mouse.benchmark
    if b.brain_config is None:
        return b.brain
    _train(_resolve(b.brain_config, base), out / "brain", progress, log)
    return str(out / "brain")


def _benchmark(
    bench_dir: Path, suite: SuiteConfig, brain: str, modality: str, log: Any
) -> tuple[Path, str]:
    """The simulated mouse recording of ``modality`` and its stimulus set (made once)."""
    from brainlike.evaluation.simulated import simulate_mouse_benchmark

    b = suite.mouse.benchmark
    folder = bench_dir / modality
    rec = folder / "recording.nc"
    if not rec.is_file():
        log(f"simulating the mouse benchmark ({modality})")
        simulate_mouse_benchmark(
            folder,
            brain=brain,
            brain_seed=b.brain_seed,
            stimuli=b.stimuli,
            modality=modality,
            n_animals=b.animals,
            units_per_animal=b.neuroids,
            n_trials=b.trials,
            n_per_digit=b.per_digit,
            image_size=b.image_size,
            seed=b.seed,
            overwrite=True,  # only reached without a recording: a killed simulation's leftovers
        )
    csv = folder / "stimuli" / "stimulus_set.csv"
    if not csv.is_file():
        csv = next((folder / "stimuli").glob("*.csv"))
    return rec, str(csv)


def _scores(
    run_dir: Path,
    folder: Path,
    rec: Path,
    csv: str,
    mapping: str,
    layers: list[str] | None,
    progress: bool,
):
    """Best layer per area (raw, ceiling, % of ceiling) of one run on one recording and
    mapping class (``layers``: None for the model's default layers); reuses ``scores.json``
    while it is newer than the run's checkpoint."""
    from brainlike.evaluation.static import save_scoring, score_model
    from brainlike.evaluation.suites import _area_columns, _saved_scores

    saved = _saved_scores(folder, run_dir)
    if saved is not None:
        return saved
    result = score_model(
        run_dir,
        rec,
        stimuli=csv,
        layers=layers,
        mapping=mapping,
        n_splits=5,
        n_bootstraps=10,
        progress=progress,
    )
    save_scoring(result, folder, overwrite=True)
    return _area_columns(result.to_dict())


def _transfer(run_dir: Path, tasks: list[str], layers: list[str] | None) -> dict[str, Any]:
    """Best-layer transfer per task (reads ``transfer.json`` of the run when it covers the
    tasks, was read out on the same layers and is newer than the checkpoint)."""
    from brainlike.evaluation.transfer import best_layers, run_transfer

    path = run_dir / "transfer.json"
    ckpt = run_dir / "checkpoints" / "last.pt"
    result = None
    if path.is_file() and path.stat().st_mtime >= ckpt.stat().st_mtime:
        result = json.loads(path.read_text())
        same_layers = layers is None or result.get("settings", {}).get("layers") == layers
        if not set(tasks) <= set(result.get("tasks", {})) or not same_layers:
            result = None
    if result is None:
        result = run_transfer(run_dir, tasks, layers=layers, overwrite=True)
    return best_layers(result)


def read_mouse_run(run_dir: Path) -> dict[str, Any]:
    """The run's own numbers: ``parameters``, the headline held-out metric and its name, the
    wall time."""
    summary = json.loads((run_dir / "summary.json").read_text())
    # the summary holds the last epoch's held-out metrics
    headline, value = "test_loss", _f(summary.get("test_loss"))
    for key in ("test_acc", "test_knn_acc"):
        if summary.get(key) is not None:
            headline, value = key, _f(summary[key])
            break
    return {
        "parameters": summary.get("parameters"),
        "headline": headline,
        "headline_value": value,
        "train_seconds": _f(summary.get("wall_seconds")),
    }


def _median(values: list[float | None]) -> float | None:
    v = np.array([np.nan if x is None else x for x in values], float)
    v = v[np.isfinite(v)]
    return _f(np.median(v)) if len(v) else None


def summarise_mouse(runs: list[dict[str, Any]], numbers: list[str]) -> list[dict[str, Any]]:
    """Per (model, objective, resolution): mean and s.d. over seeds of each of ``numbers``
    (keys of the runs' rows), with ``n_seeds`` and the parameter count."""
    groups: dict[tuple[str, str, int], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["model"], r["objective"], r["resolution"]), []).append(r)
    rows = []
    for (model, objective, size), group in groups.items():
        row: dict[str, Any] = {
            "model": model,
            "objective": objective,
            "resolution": size,
            "n_seeds": len(group),
            "parameters": group[0].get("parameters"),
            "headline": group[0].get("headline"),
        }
        for key in numbers:
            row[key], row[f"{key}_sd"] = _mean_sd([g.get(key) for g in group])
        rows.append(row)
    return rows


def _run_mouse_suite(
    suite: SuiteConfig, base: Path, out: Path, progress: bool, log: Any, t0: float
) -> dict[str, Any]:
    """Train the design's runs over the seeds; score, read out and report them."""
    from brainlike.evaluation.mouse_report import write_mouse_report
    from brainlike.train.checkpoint import atomic_write_json

    mouse = suite.mouse
    assert mouse is not None
    plan = mouse_plan(suite, base)
    _check_existing_runs(plan, out)
    brain = _brain(suite, base, out, progress, log)
    benches = {
        m: _benchmark(out / "benchmark", suite, brain, m, log) for m in mouse.benchmark.modalities
    }
    areas: list[str] = []
    runs = []
    for run in ProgressDisplay(progress).track(
        plan, f"experiment {suite.name}: runs trained, scored and read out", unit="run"
    ):
        run_dir = out / "runs" / run.name
        _train(run.config, run_dir, progress, log, run.overrides)
        row: dict[str, Any] = {
            "run": run.name,
            "model": run.model,
            "objective": run.objective,
            "resolution": run.resolution,
            "seed": run.seed,
            "run_dir": str(run_dir),
            **read_mouse_run(run_dir),
        }
        for modality, (rec, csv) in benches.items():
            for mapping in mouse.mappings:
                log(f"scoring {run.name} ({modality}, {mapping})")
                cols = _scores(
                    run_dir, out / "scores" / run.name / f"{modality}-{mapping}", rec, csv,
                    mapping, mouse.layers.get(run.model), progress,
                )  # fmt: skip
                found = [k[: -len("_pct")] for k in cols if k.endswith("_pct")]
                areas.extend(a for a in found if a not in areas)
                prefix = f"{modality}.{mapping}"
                for area in found:
                    row[f"{prefix}.{area}"] = cols[f"{area}_pct"]
                    row[f"{prefix}.{area}.layer"] = cols[f"{area}_layer"]
                    row[f"{prefix}.{area}.raw"] = cols[area]
                    row[f"{prefix}.{area}.ceiling"] = cols[f"{area}_ceiling"]
                row[f"{prefix}.median"] = _median([cols[f"{a}_pct"] for a in found])
        if mouse.transfer:
            log(f"transfer of {run.name}: {', '.join(mouse.transfer)}")
            layers = mouse.layers.get(run.model)
            for task, best in _transfer(run_dir, list(mouse.transfer), layers).items():
                row[f"transfer.{task}"] = best["value"]
                row[f"transfer.{task}.metric"] = best["metric"]
                row[f"transfer.{task}.layer"] = best["layer"]
                row[f"transfer.{task}.chance"] = best.get("chance")
        runs.append(row)
    numbers = [
        f"{m}.{p}.{a}"
        for m in mouse.benchmark.modalities
        for p in mouse.mappings
        for a in [*areas, "median"]
    ]
    numbers += [f"transfer.{t}" for t in mouse.transfer] + ["headline_value"]
    summary = {
        "suite": suite.name,
        "kind": "mouse",
        "out_dir": str(out),
        "areas": areas,
        "modalities": list(mouse.benchmark.modalities),
        "mappings": list(mouse.mappings),
        "transfer_tasks": list(mouse.transfer),
        "models": {k: v for k, v in mouse.models.items()},
        "objectives": {k: v for k, v in mouse.objectives.items()},
        "resolutions": list(mouse.resolutions),
        "layers": dict(mouse.layers),
        "design": [b.model_dump() for b in mouse.design],
        "cells": [list(c) for c in mouse.cells()],
        "seeds": sorted({r["seed"] for r in runs}),
        "benchmark": {
            **mouse.benchmark.model_dump(),
            "brain_used": brain,
            "recordings": {m: str(rec) for m, (rec, _) in benches.items()},
        },
        "overrides": dict(suite.overrides),
        "conventions": CONVENTIONS,
        "rows": summarise_mouse(runs, numbers),
        "runs": runs,
        "wall_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(out / "summary.json", summary)
    write_mouse_report(out, summary)
    return summary
