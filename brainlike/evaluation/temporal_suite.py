"""Temporal suites: runs scored over time and by object solution times (spec: recurrent.md §1-3).

The benchmark is time-binned, recorded from the built-in recurrent brain
(:func:`brainlike.evaluation.simulated.simulate_dynamic_benchmark`). Every run is scored over
time (:func:`brainlike.evaluation.temporal.score_temporal`: one layer per area, a temporally
fixed mapping, % of each bin's inter-animal ceiling, :func:`temporal_means` over the bins where
animals agree), its units counted for the accuracy-vs-units Pareto front, and its assigned IT
layer's object solution times compared with those decoded from the simulated IT itself.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.config.suite import SuiteConfig, TemporalConfig
from brainlike.config.suite import experiment_name as _run_name
from brainlike.config.suite import resolve_run_config as _resolve
from brainlike.evaluation.suite_report import _plot_temporal, _write_csv, _write_html
from brainlike.evaluation.suite_runs import _f, _read_benchmark, _simulate_once, _train
from brainlike.progress import ProgressDisplay


def _units(model: Any, sm: Any) -> int:
    """Units of a model: the summed output sizes of its per-step nodes (spec §1 size)."""
    counts = getattr(model, "unit_counts", None)
    if counts is not None:
        return int(sum(counts((sm.in_channels, sm.input_size, sm.input_size)).values()))
    from brainlike.analysis.size import count_units

    return int(sum(count_units(model, (sm.in_channels, sm.input_size, sm.input_size)).values()))


def _reference_ost(rec: Any, labels: np.ndarray, t: TemporalConfig) -> dict[str, np.ndarray]:
    """IT's I1 over time, the behavioural I1 (IT over the behaviour window) and IT's OSTs."""
    from brainlike.analysis.ost import (
        decode_probabilities_over_time,
        i1_over_time,
        object_solution_times,
    )

    it = (
        rec.sel(neuroid=rec["region"] == "IT")
        .mean("trial")
        .transpose("stimulus", "neuroid", "time_bin")
    )
    x = np.asarray(it.values, float)
    kw = dict(
        n_components=t.ost_components,
        n_splits=t.ost_splits,
        classifier=t.ost_classifier,
    )
    i1_t = i1_over_time(decode_probabilities_over_time(x, labels, **kw), labels)
    lo, hi = t.behaviour_bins
    window = x[:, :, lo:hi].mean(axis=2, keepdims=True)
    behaviour = i1_over_time(decode_probabilities_over_time(window, labels, **kw), labels)[0]
    times = np.asarray(rec["time_bin_start"].values, float)
    return {
        "it_i1": i1_t,
        "behaviour_i1": behaviour,
        "it_ost": object_solution_times(i1_t, behaviour, times),
        "times": times,
    }


def _run_temporal_suite(
    suite: SuiteConfig,
    base: Path,
    out: Path,
    db: str | None,
    progress: bool,
    record: bool,
    log: Any,
    t0: float,
) -> dict[str, Any]:
    """A suite with the built-in recurrent brain: its time-binned benchmark, every run's
    per-bin fits, units and object solution times."""
    from brainlike.analysis.activations import extract_activations
    from brainlike.analysis.ost import ost_score
    from brainlike.data.recordings import read_stimulus_set
    from brainlike.evaluation.scoring_model import load_scoring_model, model_images
    from brainlike.evaluation.simulated import simulate_dynamic_benchmark
    from brainlike.evaluation.temporal import save_temporal_scoring, score_temporal
    from brainlike.train.checkpoint import atomic_write_json

    t, b = suite.temporal, suite.benchmark
    assert t is not None
    bench_dir = out / "benchmark"
    rec_path = _simulate_once(
        bench_dir,
        b,
        simulate_dynamic_benchmark,
        log,
        "simulating the time-binned benchmark from the built-in recurrent brain",
        areas=dict(t.areas),
        n_steps=t.steps,
        image_steps=t.image_steps,
        bin_ms=t.bin_ms,
        widths=tuple(t.widths),
    )
    rec, ids, labels, stimuli_csv = _read_benchmark(bench_dir, rec_path)
    if "IT" not in set(map(str, rec["region"].values)):
        raise ValueError(
            "the temporal suite's OST analysis needs an area named IT in temporal.areas"
        )
    log("decoding the reference: IT's I1 over time and its object solution times")
    ref = _reference_ost(rec, labels, t)
    solved = np.isfinite(ref["it_ost"])
    log(f"IT solves {int(solved.sum())} of {len(solved)} images")

    rows = []
    for entry in ProgressDisplay(progress).track(
        suite.runs, f"experiment {suite.name}: runs trained and scored", unit="run"
    ):
        cfg_path = _resolve(entry, base)
        name = _run_name(cfg_path)
        run_dir = out / "runs" / name
        summary = _train(cfg_path, run_dir, progress, log, suite.overrides or None)
        sm = load_scoring_model(run_dir)
        units = _units(sm.model, sm)
        log(f"scoring {name} over time")
        result = score_temporal(
            sm,
            rec_path,
            stimuli=stimuli_csv,
            layers=t.layers,
            mapping=suite.score.mapping,
            n_splits=suite.score.splits,
            n_bootstraps=suite.score.bootstraps,
            # spec §1: compare with neural data on the 26-step, image-off-at-10 unroll (a
            # ConvRNN keeps this schedule for the OST analysis below)
            time_steps=t.steps,
            image_steps=t.image_steps,
            progress=progress,
        )
        # the suite re-scores every run on its own benchmark: its score folder is its own
        save_temporal_scoring(result, out / "scores" / name, overwrite=True)
        row: dict[str, Any] = {
            "run": name,
            "config": str(cfg_path),
            "parameters": summary.get("parameters"),
            "units": units,
            "test_acc": summary.get("test_acc"),
            "train_seconds": summary.get("wall_seconds"),
        }
        for region in result.regions:
            row.update(
                temporal_means(
                    region,
                    result.scores[region].median,
                    result.ceilings[region].median,
                    t.image_steps,
                    t.min_ceiling,
                )
            )
            row[f"{region}_layer"] = result.assignment.layer[region]
        it_layer = result.assignment.layer.get("IT")
        log(f"object solution times of {name} ({it_layer})")
        images = model_images(read_stimulus_set(stimuli_csv), ids, sm)
        acts = extract_activations(sm.model, images, [it_layer], time_steps=t.steps, progress=False)
        feats = np.asarray(acts[it_layer], float)
        score = ost_score(
            feats,
            labels,
            ref["behaviour_i1"],
            ref["it_ost"],
            ref["times"],
            n_components=t.ost_components,
            n_splits=t.ost_splits,
            classifier=t.ost_classifier,
            seed=b.seed,
        )
        row.update(
            ost_rho=_f(score.value),
            ost_sem=_f(score.error),
            ost_p=_f(score.provenance.get("p_value")),
            ost_images=score.provenance.get("n_solved_by_both"),
        )
        rows.append(row)
    _mark_pareto(rows)
    regions = list(t.areas)
    summary = {
        "suite": suite.name,
        "out_dir": str(out),
        "regions": regions,
        "rows": rows,
        "benchmark": {
            "recording": str(rec_path),
            "brain": "random-recurrent (built in)",
            "temporal": t.model_dump(),
            **b.model_dump(),
            "it_solved_images": int(solved.sum()),
            "n_images": int(len(solved)),
        },
        "wall_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(out / "summary.json", summary)
    _write_csv(
        out / "comparison.csv",
        [{k: v for k, v in r.items() if not isinstance(v, list)} for r in rows],
    )
    _plot_temporal(out / "comparison.png", rows, regions)
    _write_html(
        out / "report.html",
        summary,
        "Areas: temporally fixed PLS fits of each run's assigned layer to simulated V4/IT animals "
        "recorded from the built-in recurrent brain, mean over bins with a ceiling >= "
        f"{t.min_ceiling} of the % of that bin's inter-animal ceiling. Units: summed outputs of "
        "the per-step nodes; Pareto: no run is more accurate with no more units. OST rho: "
        "Spearman correlation of the run's object solution times with IT's (bootstrap s.e.) "
        "over images solved by both.",
    )
    return summary


def temporal_means(
    region: str, score: np.ndarray, ceiling: np.ndarray, image_steps: int, min_ceiling: float
) -> dict[str, Any]:
    """Per-bin % of ceiling and its means over the bins where animals agree.

    A bin counts when its inter-animal ceiling is at least ``min_ceiling``. A model whose
    layer is constant in such a bin (a feedforward net after the image is gone has nothing left
    to say) predicts nothing there: its undefined score counts as 0, not as missing.
    Means over all counted bins, over those with the image on (bin < ``image_steps``) and
    over those after it went off.
    """
    score = np.asarray(score, float)
    ceiling = np.asarray(ceiling, float)
    counted = np.isfinite(ceiling) & (ceiling >= min_ceiling)
    pct = np.where(
        counted, 100.0 * np.nan_to_num(score, nan=0.0) / np.where(counted, ceiling, 1.0), np.nan
    )
    on = np.arange(len(pct)) < image_steps

    def mean(mask: np.ndarray) -> float | None:
        m = counted & mask
        return _f(np.mean(pct[m])) if m.any() else None

    return {
        region: _f(np.mean(np.nan_to_num(score[counted], nan=0.0))) if counted.any() else None,
        f"{region}_pct": mean(np.ones_like(on)),
        f"{region}_pct_on": mean(on),
        f"{region}_pct_off": mean(~on),
        f"{region}_pct_per_bin": [_f(v) for v in pct],
    }


def _mark_pareto(rows: list[dict]) -> None:
    """Mark the runs on the accuracy-vs-units Pareto front (:func:`~brainlike.analysis.size.pareto_front`)."""
    from brainlike.analysis.size import pareto_front

    points = [(r["units"], np.nan if r["test_acc"] is None else r["test_acc"]) for r in rows]
    front = set(pareto_front(points))
    for i, r in enumerate(rows):
        r["pareto"] = i in front
