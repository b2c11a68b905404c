"""The runs of a suite: the plan of runs over seeds, training (or reusing) each, the benchmark.

A suite can be re-run after adding a config or a seed: a finished run is reused, an
interrupted one resumes from its last checkpoint, and the simulated benchmark is written once
and read back by every later run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.config.suite import BenchmarkConfig, SuiteConfig
from brainlike.config.suite import resolve_run_config as _resolve


def _f(x: Any) -> float | None:
    """``x`` as a finite float, else None (missing, NaN, not a number): a JSON-able cell."""
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


def _mean_sd(values: list[float | None]) -> tuple[float | None, float | None]:
    """Mean and s.d. (ddof 1) of the finite values; s.d. None below two values."""
    v = np.array([np.nan if x is None else x for x in values], float)
    v = v[np.isfinite(v)]
    if not len(v):
        return None, None
    return _f(v.mean()), (_f(v.std(ddof=1)) if len(v) > 1 else None)


def _read_benchmark(bench_dir: Path, rec_path: Path) -> tuple[Any, list[str], np.ndarray, str]:
    """A simulated benchmark's recording, stimulus ids, digit labels and stimulus-set CSV."""
    from brainlike.data.recordings import read_recording

    rec = read_recording(rec_path)
    ids = [str(v) for v in rec["stimulus_id"].values]
    labels = np.array([int(v) for v in rec["object_name"].values])
    csv_path = bench_dir / "stimuli" / "stimulus_set.csv"
    if not csv_path.is_file():
        csv_path = next((bench_dir / "stimuli").glob("*.csv"))
    return rec, ids, labels, str(csv_path)


def _trained(run_dir: Path) -> bool:
    p = run_dir / "summary.json"
    if not p.is_file():
        return False
    try:
        return bool(json.loads(p.read_text()).get("complete"))
    except json.JSONDecodeError:
        return False


def _check_existing_runs(plan: list[Any], out: Path) -> None:
    """Refuse, before anything trains, a run folder of this suite that holds another experiment
    (a rule's or a level's settings changed under the same label): it would be reused as if it
    were this one. ``plan`` holds runs with ``name``, ``config``, ``overrides`` and ``label``."""
    from brainlike.config import ConfigError, load_config
    from brainlike.train.run_dir import _same_experiment

    for run in plan:
        stored = out / "runs" / run.name / "config.yaml"
        if stored.is_file() and not _same_experiment(
            load_config(stored), load_config(run.config, run.overrides)
        ):
            raise ConfigError(
                f"{stored.parent} was trained with another config than this suite now asks "
                f"for ({run.label}); give the changed entry a new label, or delete that "
                "folder to train it again"
            )


def _train(
    config_path: Path,
    run_dir: Path,
    progress: bool,
    log: Any,
    overrides: dict[str, Any] | None = None,
) -> dict:
    from brainlike.config import load_config
    from brainlike.train.loop import train

    cfg = load_config(config_path, overrides)
    if _trained(run_dir):
        # a finished run is reused, unless the suite now asks for more epochs: then it goes on
        # from its last checkpoint (a changed experiment is refused before: _check_existing_runs)
        done = load_config(run_dir / "config.yaml").train.epochs
        if cfg.train.epochs <= done:
            log(f"[dim]{run_dir.name}: already trained, reusing[/dim]")
            return json.loads((run_dir / "summary.json").read_text())
        log(f"{run_dir.name}: trained {done} epochs, going on to {cfg.train.epochs}")
    resume = (run_dir / "checkpoints" / "last.pt").is_file()
    log(f"training {cfg.name} -> {run_dir}")
    # a folder without a checkpoint holds no complete epoch (a run killed early): start afresh
    return train(
        cfg, run_dir, resume=resume, overwrite=not resume, progress=progress, analyse=False
    )


def _run_plan(suite: SuiteConfig, base: Path) -> list[tuple[Path, str, str, int, dict]]:
    """(config, run name, recipe name, seed, config overrides) of every run of a suite."""
    from brainlike.config import load_config

    plan = []
    for entry in suite.runs:
        cfg_path = _resolve(entry, base)
        cfg = load_config(cfg_path)
        common = dict(suite.overrides)
        for seed in suite.seeds or [cfg.seed]:
            if seed == cfg.seed:
                plan.append((cfg_path, cfg.name, cfg.name, seed, common))
            else:
                name = f"{cfg.name}-seed{seed}"
                plan.append(
                    (cfg_path, name, cfg.name, seed, {**common, "seed": seed, "name": name})
                )
    return plan


def _simulate_once(
    bench_dir: Path,
    b: BenchmarkConfig,
    simulate: Callable[..., dict[str, Any]],
    log: Any,
    message: str,
    **brain: Any,
) -> Path:
    """The suite's benchmark recording, simulated by ``simulate`` (with the ``brain`` settings
    and the suite's recording and animals, ``b``) unless it is there already."""
    rec_path = bench_dir / "recording.nc"
    if not rec_path.is_file():
        log(message)
        simulate(
            bench_dir,
            **brain,
            n_per_digit=b.per_digit,
            image_size=b.image_size,
            n_animals=b.animals,
            units_per_animal=b.neuroids,
            n_trials=b.trials,
            noise_sd=b.noise_sd,
            seed=b.seed,
            overwrite=True,  # only reached without a recording: a killed simulation's leftovers
        )
    return rec_path
