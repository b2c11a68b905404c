"""Experiment suites: train a set of configs, score each on one benchmark, compare them.

A suite is a YAML file naming the runs to compare and the benchmark to score them on (spec:
recurrent.md §4-5, the brain-likeness experiment of source document 002; neural-evaluation.md
§7 and §10 for the behaviour metrics). :func:`run_suite`:

1. trains the *brain*: a network whose layers stand in for the cortical areas;
2. writes a simulated benchmark from it
   (:func:`~brainlike.evaluation.simulated.simulate_benchmark`: rendered digits, animals
   recorded from the brain's layers with trial noise) and a simulated observer's per-trial
   two-alternative choices on the same images (the behaviour reference,
   :mod:`brainlike.evaluation.observer`);
3. trains every run (or resumes a finished one), scores each with
   :func:`brainlike.evaluation.static.score_model` (noise-corrected predictivity, % of the
   inter-animal ceiling), records the scores in the results database, and measures behaviour:
   I2n consistency (Brain-Score recipe, ceiled) and error consistency (Cohen's kappa) with the
   observer;
4. writes ``summary.json``, ``comparison.csv``, a bar figure and a self-contained
   ``report.html`` (:mod:`brainlike.evaluation.suite_report`).

A suite with a ``temporal`` section runs :mod:`brainlike.evaluation.temporal_suite` instead,
one with a ``rules`` list :mod:`brainlike.evaluation.rules_suite` (every run under every
learning rule; no benchmark), one with a ``mouse`` or ``mec`` section
:mod:`brainlike.evaluation.mouse_suite` or :mod:`brainlike.evaluation.mec_suite`.
The simulated benchmark knows its answer: the brain's own architecture is the model to beat,
so the comparison measures how far each recipe moves a model towards *that* network, not
towards primate cortex. Say so when reporting.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import ValidationError

from brainlike.config.suite import SuiteConfig, load_suite
from brainlike.config.suite import resolve_run_config as _resolve
from brainlike.evaluation.observer import _model_logits, behaviour_scores, observer_trials
from brainlike.evaluation.rules_suite import _run_rules_suite
from brainlike.evaluation.suite_report import _plot, _write_csv, _write_html
from brainlike.evaluation.suite_runs import _f, _read_benchmark, _run_plan, _simulate_once, _train
from brainlike.evaluation.temporal_suite import _run_temporal_suite
from brainlike.progress import ProgressDisplay


def run_suite(
    path: str | Path,
    out_dir: str | Path,
    *,
    db: str | None = None,
    progress: bool = True,
    record: bool = True,
    log: Any = None,
    seeds: list[int] | None = None,
) -> dict[str, Any]:
    """Train, score and compare the runs of a suite; returns (and writes) its summary.

    A rules suite trains every run under every rule and compares accuracy and alignment
    (:mod:`brainlike.evaluation.rules_suite`); it records nothing in the results database.

    Finished runs are reused (a suite can be re-run after adding a config or a seed), and so are
    their scores while ``scores.json`` is newer than the checkpoint; an interrupted run resumes
    from its last checkpoint. ``seeds`` replaces the suite's ``seeds``.
    """
    log = log or (lambda msg: None)
    suite, base = load_suite(path)
    if seeds is not None:  # the command line's --seeds replaces the suite's
        try:
            suite = SuiteConfig.model_validate(
                {**suite.model_dump(exclude_unset=True), "seeds": list(seeds)}
            )
        except ValidationError as err:
            from brainlike.config import ConfigError

            raise ConfigError(f"--seeds: {err.errors()[0]['msg']}") from None
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if suite.temporal is not None:
        return _run_temporal_suite(suite, base, out, db, progress, record, log, t0)
    if suite.rules is not None:
        return _run_rules_suite(suite, base, out, progress, log, t0)
    if suite.mouse is not None:
        from brainlike.evaluation.mouse_suite import _run_mouse_suite

        return _run_mouse_suite(suite, base, out, progress, log, t0)
    if suite.mec is not None:
        from brainlike.evaluation.mec_suite import _run_mec_suite

        return _run_mec_suite(suite, base, out, progress, log, t0)
    return _run_static_suite(suite, base, out, db, progress, record, log, t0)


def _run_static_suite(
    suite: SuiteConfig,
    base: Path,
    out: Path,
    db: str | None,
    progress: bool,
    record: bool,
    log: Any,
    t0: float,
) -> dict[str, Any]:
    """A suite with a trained brain: its static benchmark, every run's best-layer scores and
    behaviour against the brain's observer."""
    from brainlike.evaluation.outputs import record_scores
    from brainlike.evaluation.simulated import simulate_benchmark
    from brainlike.evaluation.static import save_scoring, score_model
    from brainlike.results import ResultsDB
    from brainlike.train.checkpoint import atomic_write_json

    assert suite.brain is not None

    brain_dir = out / "brain"
    _train(_resolve(suite.brain.config, base), brain_dir, progress, log)
    bench_dir = out / "benchmark"
    b = suite.benchmark
    rec_path = _simulate_once(
        bench_dir,
        b,
        simulate_benchmark,
        log,
        "simulating the benchmark from the brain",
        brain=str(brain_dir),
        areas=dict(suite.brain.areas),
    )
    rec, ids, true, stimuli_csv = _read_benchmark(bench_dir, rec_path)
    classes = [str(c) for c in range(10)]
    trials = observer_trials(
        _model_logits(brain_dir, stimuli_csv, ids),
        true,
        ids,
        classes,
        n_subjects=b.observer_subjects,
        repeats=b.observer_repeats,
        temperature=b.observer_temperature,
        seed=b.seed,
    )
    trials.to_csv(bench_dir / "observer_trials.csv")

    database = ResultsDB(db) if record else None
    rows = []
    # one line per finished run (with the suite's ETA); the runs' epochs and fits show inside
    for cfg_path, name, recipe, seed, overrides in ProgressDisplay(progress).track(
        _run_plan(suite, base), f"experiment {suite.name}: runs trained and scored", unit="run"
    ):
        run_dir = out / "runs" / name
        summary = _train(cfg_path, run_dir, progress, log, overrides)
        row: dict[str, Any] = {
            "run": name,
            "recipe": recipe,
            "seed": seed,
            "config": str(cfg_path),
            "parameters": summary.get("parameters"),
            "test_acc": summary.get("test_acc"),
            "train_seconds": summary.get("wall_seconds"),
        }
        saved = _saved_scores(out / "scores" / name, run_dir)
        if saved is not None:
            log(f"[dim]{name}: scored already, reusing scores.json[/dim]")
            row.update(saved)
        else:
            log(f"scoring {name}")
            result = score_model(
                run_dir,
                rec_path,
                stimuli=stimuli_csv,
                mapping=suite.score.mapping,
                n_splits=suite.score.splits,
                n_bootstraps=suite.score.bootstraps,
                progress=progress,
            )
            # a stale scores.json (older than the checkpoint) is the suite's own to replace
            save_scoring(result, out / "scores" / name, overwrite=True)
            if database is not None:
                record_scores(result, database)
            row.update(_area_columns(result.to_dict()))
        row.update(behaviour_scores(_model_logits(run_dir, stimuli_csv, ids), true, ids, trials))
        rows.append(row)
    regions = list(suite.brain.areas)
    summary = {
        "suite": suite.name,
        "out_dir": str(out),
        "regions": regions,
        "rows": rows,
        "recipes": _over_seeds(rows, regions),
        "benchmark": {
            "recording": str(rec_path),
            "brain": suite.brain.model_dump(),
            **b.model_dump(),
        },
        "wall_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(out / "summary.json", summary)
    _write_csv(out / "comparison.csv", rows)
    _plot(out / "comparison.png", rows, regions, summary["recipes"])
    _write_html(
        out / "report.html",
        summary,
        "Noise-corrected predictivity of the best layer per area as % of the pooled "
        f"inter-animal ceiling (simulated animals recorded from the brain network "
        f"{suite.brain.config}); behaviour against a simulated observer driven by that network "
        "(I2n ceiled, Brain-Score recipe; Cohen's kappa). The benchmark's brain sets what "
        "'brain-like' means here.",
    )
    return summary


def _area_columns(scores: dict) -> dict[str, Any]:
    """Best layer per area, its raw score, s.e.m., ceiling and % of ceiling, from
    ``scores.json`` (a file from before the raw/ceiling/ceiled rows raises KeyError)."""
    out: dict[str, Any] = {}
    for r in scores["rows"]:
        if not r.get("best"):
            continue
        g = r["region"]
        value, ceiling = _f(r["raw"]), _f(r["ceiling"])
        out[g] = value
        out[f"{g}_sem"] = _f(r["raw_error"])
        out[f"{g}_pct"] = 100.0 * value / ceiling if value is not None and ceiling else None
        out[f"{g}_layer"] = r["layer"]
        out[f"{g}_ceiling"] = ceiling
    return out


def _saved_scores(folder: Path, run_dir: Path) -> dict[str, Any] | None:
    """The area columns of a run scored before (scores.json newer than its checkpoint)."""
    path, ckpt = folder / "scores.json", run_dir / "checkpoints" / "last.pt"
    if not path.is_file() or not ckpt.is_file() or path.stat().st_mtime < ckpt.stat().st_mtime:
        return None
    try:
        return _area_columns(json.loads(path.read_text()))
    except (json.JSONDecodeError, KeyError):
        return None


_SEED_COLUMNS = ("test_acc", "i2n_ceiled", "error_kappa")


def _over_seeds(rows: list[dict], regions: list[str]) -> list[dict]:
    """Per recipe: mean, s.d. (ddof 1) and count over seeds of the headline numbers."""
    keys = [*_SEED_COLUMNS, *(f"{g}_pct" for g in regions)]
    out = []
    for recipe in dict.fromkeys(r.get("recipe", r["run"]) for r in rows):
        group = [r for r in rows if r.get("recipe", r["run"]) == recipe]
        agg: dict[str, Any] = {"recipe": recipe, "n_seeds": len(group)}
        agg["parameters"] = group[0].get("parameters")
        for k in keys:
            v = np.array([np.nan if r.get(k) is None else r[k] for r in group], float)
            ok = v[np.isfinite(v)]
            agg[k] = _f(ok.mean()) if len(ok) else None
            agg[f"{k}_sd"] = _f(ok.std(ddof=1)) if len(ok) > 1 else None
        out.append(agg)
    return out
