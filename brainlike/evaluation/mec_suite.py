"""Entorhinal suites: the chapter's experiment, recurrent cores x place-cell targets.

spec: mouse-and-entorhinal.md §2. A suite with a ``mec`` section builds every run from one
base path-integration config and two factors, each level a set of config overrides: the
recurrent core (``cores``: vanilla RNN, UGRNN, GRU, LSTM ...) and the place-cell code the
network reports (``targets``: difference of Gaussians, Gaussian, Cartesian). The blocks of
``design`` name which cells of the crossing are trained (their union; the default block is the
full crossing), each with every seed. Every run is then

- asked where the animal is: the held-out decoding error in cm
  (:func:`brainlike.evaluation.pathint_maps.decoding_error`, walks the training never drew);
- analysed unit by unit (:func:`brainlike.evaluation.spatial_analysis.analyse_run`): rate maps
  of the compared layer, grid and border scores against each unit's circular-shift null, the
  fractions of grid and border units at the fixed thresholds and above the null's 95th
  percentile;
- mapped to the spatial recording (a generated example session, written once into the suite's
  folder, or a file of your own) with its inter-animal ceiling and the Kolmogorov-Smirnov match
  of the score distributions (:func:`brainlike.evaluation.spatial_scoring.score_spatial`);
- ablated: the units above the grid (border) threshold silenced against as many random units
  (:func:`brainlike.analysis.spatial_mapping.ablation_effect`); when no unit passes, the effect
  is NaN with the reason, never a failed suite.

A finished run is reused, and so are its analyses (``mec.json`` newer than its checkpoint,
made with the same settings); an interrupted run resumes. The figures and ``report.html`` are
:mod:`brainlike.evaluation.mec_report`. At CPU sizes grid cells may well not emerge: the
fractions against the null say whether they did.
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

__all__ = ["CONVENTIONS", "SCORES", "MecRun", "analyse_mec_run", "mec_plan", "summarise_mec"]

#: the scores whose distributions, fractions and ablations the suite reports
SCORES = ("grid", "border")

#: quantiles (in %) of the pooled shuffle null kept per run for the report's figure
NULL_QUANTILES = np.linspace(0.0, 100.0, 101)

#: What the numbers of an entorhinal suite are (written into summary.json and the report).
CONVENTIONS = {
    "decoding_error_cm": "mean distance in cm between the true position and the decoded one "
    "(mean centre of the 3 most active place cells; the position itself for Cartesian "
    "targets), every step of analysis.decoding_sequences seeded walks the training never drew "
    "(spec: mouse-and-entorhinal.md §2)",
    "test_error_cm": "the run's own held-out decoding error after its last epoch (its fixed "
    "test walks)",
    "grid.median, border.median": "median over the layer's units of the grid score (the "
    "spec's mean-based form over annuli) or the border score (every field); NaN units left out",
    "grid.n_scored, border.n_scored": "units with a finite score (a silent unit, or a map "
    "with too few visited bins, has none; the spatial analysis gives each one's reason)",
    "grid.frac_threshold, border.frac_threshold": "fraction of the layer's units whose score is "
    "above the fixed threshold (thresholds.grid, thresholds.border); an unscorable (NaN) unit "
    "counts as not passing",
    "grid.frac_null95, border.frac_null95": "fraction of the layer's units whose score is above "
    "the 95th percentile of its own circular-shift null (analysis.shuffles shifts; spatial "
    "analysis of the run); None without shuffles. Units with no spatial tuning pass at about 5 % "
    "by chance, so a fraction near 0.05 is no evidence of grid (border) cells",
    "mapping.median": "median over recorded cells of the held-out Pearson r of ridge (alpha 1) "
    "from the layer's rate maps to the cell's rate map, trained on a random 20 % of the spatial "
    "bins, tested on the other 80 %, averaged over analysis.splits splits",
    "mapping.ceiling": "the same mapping from the pooled cells of the other animals to each "
    "animal's cells (the inter-animal ceiling): what a model of a typical animal reaches",
    "mapping.pct_ceiling": "100 x mapping.median / mapping.ceiling",
    "ks.grid, ks.border": "two-sample Kolmogorov-Smirnov statistic between the model units' "
    "and the recorded cells' score distributions (0: same distribution), with its p value",
    "ablation.<score>.targeted_minus_random": "decoding error (cm) with the units above the "
    "fixed threshold silenced minus the mean over ablation.random draws of as many random units "
    "(positive: the tuned units matter more than any units); NaN with a reason when no unit "
    "passes the threshold",
    "seeds": "mean ± s.d. (ddof 1) over seeds of each number",
}


@dataclass(frozen=True)
class MecRun:
    """One run of an entorhinal suite: a core and a target code, one seed."""

    config: Path
    core: str
    target: str
    seed: int
    name: str
    overrides: dict[str, Any]

    @property
    def label(self) -> str:
        """The cell, for messages: ``core x target``."""
        return f"{self.core} x {self.target}"


def mec_plan(suite: SuiteConfig, base: Path) -> list[MecRun]:
    """Every run of an entorhinal suite (the design's cells in order, seed by seed); each run's
    config is validated here, before anything trains, and must be a path-integration run."""
    from brainlike.config import ConfigError, load_config

    mec = suite.mec
    assert mec is not None
    cfg_path = _resolve(suite.runs[0], base)
    cfg = load_config(cfg_path, suite.overrides)
    if cfg.objective.task != "path_integration":
        raise ConfigError(
            f"mec suite: {suite.runs[0]} is a {cfg.objective.task} config; an entorhinal suite "
            "trains path integrators (start from pathint-small)"
        )
    plan = []
    for core, target in mec.cells():
        for seed in suite.seeds or [cfg.seed]:
            name = f"{cfg.name}-{core}-{target}-seed{seed}"
            overrides = {
                **suite.overrides,
                **mec.cores[core],
                **mec.targets[target],
                "seed": seed,
                "name": name,
            }
            try:
                run_cfg = load_config(cfg_path, overrides)
            except ConfigError as err:
                raise ConfigError(f"mec suite cell {core} x {target}: {err}") from None
            if run_cfg.objective.task != "path_integration":
                raise ConfigError(
                    f"mec suite cell {core} x {target} sets objective.task "
                    f"{run_cfg.objective.task}; every run must be path_integration"
                )
            plan.append(MecRun(cfg_path, core, target, seed, name, overrides))
    return plan


def _session(suite: SuiteConfig, base: Path, out: Path, arena: float, log: Any) -> Path:
    """The recording the runs are mapped to: ``session.recording``, else the generated example
    session in ``out/session`` (made once, in the runs' arena)."""
    from brainlike.data.recordings.spatial_session import simulate_spatial_session

    s = suite.mec.session
    if s.recording is not None:
        return base / Path(s.recording).expanduser()
    folder = out / "session"
    rec = folder / "recording.nc"
    if not rec.is_file():
        log(f"generating the example session ({s.animals} animals x {s.minutes:g} min)")
        simulate_spatial_session(
            folder,
            animals=s.animals,
            minutes=s.minutes,
            seed=s.seed,
            arena=arena,
            overwrite=True,  # only reached without a recording: a killed generation's leftovers
        )
    return rec


def _fraction_above(scores: np.ndarray, threshold: float) -> float | None:
    """Fraction of units strictly above ``threshold`` (NaN never passes)."""
    if scores.size == 0:
        return None
    with np.errstate(invalid="ignore"):
        return float(np.mean(scores > threshold))


def _null_quantiles(analysis: Any, name: str) -> list[float] | None:
    """Quantiles of the pooled (every unit, every shift) null of one score, or None."""
    nulls = getattr(analysis, "nulls", None)
    if nulls is None or name not in getattr(nulls, "scores", {}):
        return None
    null = np.asarray(nulls.scores[name].null, float).ravel()
    null = null[np.isfinite(null)]
    return [float(q) for q in np.percentile(null, NULL_QUANTILES)] if null.size else None


def _null95(analysis: Any, name: str) -> float | None:
    fractions = getattr(analysis, "fractions", None) or {}
    value = fractions.get(name, {}).get("null95") if isinstance(fractions, dict) else None
    return _f(value)


def _ablate(
    model: Any, cfg: Any, scores: np.ndarray, units: np.ndarray, threshold: float, mec: Any
) -> dict[str, Any]:
    """The ablation of the units above ``threshold`` vs random units; NaN with the reason
    when no unit passes (there is nothing to ablate)."""
    from brainlike.analysis.spatial_mapping import ablation_effect
    from brainlike.evaluation.pathint_maps import decoding_error

    a = mec.analysis
    if not np.isfinite(scores).any() or not (np.nan_to_num(scores, nan=-np.inf) > threshold).any():
        best = _f(np.nanmax(scores)) if np.isfinite(scores).any() else None
        return {
            "n_units": 0,
            "threshold": threshold,
            "baseline": None,
            "targeted": None,
            "random_mean": None,
            "random_sd": None,
            "targeted_minus_baseline": None,
            "random_minus_baseline": None,
            "targeted_minus_random": None,
            "reason": f"no unit scores above {threshold} (best "
            f"{'none scored' if best is None else format(best, '.3g')}); nothing to ablate",
            "units": [],
        }

    def decode(silenced: list[int] | None) -> float:
        sil = None if silenced is None else {a.layer: [int(units[i]) for i in silenced]}
        return decoding_error(
            model, cfg, n_sequences=a.decoding_sequences, seed=a.seed, silenced=sil
        )

    eff = ablation_effect(
        decode, scores, threshold=threshold, n_random=mec.ablation.random, seed=mec.ablation.seed
    )
    return {
        "n_units": int(eff.units.size),
        "threshold": threshold,
        "baseline": eff.baseline,
        "targeted": eff.targeted,
        "random_mean": eff.random_mean,
        "random_sd": eff.random_sd,
        "targeted_minus_baseline": eff.targeted_minus_baseline,
        "random_minus_baseline": eff.random_minus_baseline,
        "targeted_minus_random": eff.targeted_minus_random,
        "reason": "; ".join(eff.notes) or None,
        "units": [int(units[i]) for i in eff.units],
    }


def _settings(mec: Any, recording: Path) -> dict[str, Any]:
    return {
        "analysis": mec.analysis.model_dump(),
        "thresholds": mec.thresholds.model_dump(),
        "ablation": mec.ablation.model_dump(),
        "recording": str(recording),
    }


def analyse_mec_run(
    run_dir: Path,
    folder: Path,
    mec: Any,
    recording: Path,
    progress: bool = False,
    log: Any = None,
) -> dict[str, Any]:
    """Decoding error, spatial analysis, mapping to ``recording`` and ablations of one trained
    run, written to ``folder/mec.json`` (and the spatial analysis to ``folder/spatial``).

    Reuses ``mec.json`` while it is newer than the run's checkpoint and was made with the same
    settings. Returns the file's content.

    Parameters
    ----------
    run_dir : the trained path-integration run.
    folder : where ``mec.json`` and ``spatial/`` go.
    mec : the suite's :class:`~brainlike.config.suite.MecConfig` (analysis, thresholds,
        ablation).
    recording : the spatial recording the units are mapped to.
    progress : show the analyses' progress. log : a function of one message line.
    """
    log = log or (lambda msg: None)
    from brainlike.evaluation.pathint_maps import decoding_error, load_pathint_run
    from brainlike.evaluation.spatial_analysis import analyse_run
    from brainlike.evaluation.spatial_scoring import score_spatial
    from brainlike.train.checkpoint import atomic_write_json

    path, ckpt = folder / "mec.json", run_dir / "checkpoints" / "last.pt"
    settings = _settings(mec, recording)
    if path.is_file() and path.stat().st_mtime >= ckpt.stat().st_mtime:
        try:
            saved = json.loads(path.read_text())
            if saved.get("settings") == settings:
                log(f"[dim]{run_dir.name}: analysed already, reusing mec.json[/dim]")
                return saved
        except json.JSONDecodeError:
            pass
    log(f"analysing {run_dir.name}: decoding, grid/border scores and null, mapping, ablations")
    a = mec.analysis
    model, cfg = load_pathint_run(run_dir)
    result: dict[str, Any] = {"settings": settings}
    result["decoding_error_cm"] = decoding_error(
        model, cfg, n_sequences=a.decoding_sequences, seed=a.seed
    )
    analysis = analyse_run(
        run_dir, layer=a.layer, n_sequences=a.sequences, bin_cm=a.bin_cm, shuffles=a.shuffles,
        seed=a.seed, progress=progress,
    )  # fmt: skip
    analysis.save(folder / "spatial", overwrite=True)
    # unit ids are "<layer>/<index>": the index is what decoding_error silences
    units = np.array([int(str(u).rsplit("/", 1)[-1]) for u in analysis.unit_ids], dtype=int)
    result["n_units"] = int(units.size)
    thresholds = mec.thresholds.model_dump()
    for name in SCORES:
        s = np.asarray(analysis.scores[name], float)
        finite = s[np.isfinite(s)]
        result[name] = {
            "median": _f(np.median(finite)) if finite.size else None,
            "n_scored": int(finite.size),
            "frac_threshold": _fraction_above(s, thresholds[name]),
            "frac_null95": _null95(analysis, name),
            "scores": [_f(v) for v in s],
            "null_quantiles": _null_quantiles(analysis, name),
        }
    scoring = score_spatial(
        run_dir, str(recording), layer=a.layer, n_sequences=a.sequences, bin_cm=a.bin_cm,
        splits=a.splits, seed=a.seed, progress=progress,
    )  # fmt: skip
    result["mapping"] = {
        "median": _f(scoring.median),
        "median_se": _f(scoring.median_se),
        "ceiling": _f(scoring.ceiling),
        "ceiling_se": _f(scoring.ceiling_se),
        "pct_ceiling": None if _f(scoring.ceiled) is None else 100.0 * float(scoring.ceiled),
    }
    result["ks"] = {
        k: {"statistic": _f(_get(v, "statistic")), "pvalue": _f(_get(v, "pvalue"))}
        for k, v in dict(scoring.ks).items()
    }
    result["ablation"] = {}
    for name in mec.ablation.scores:
        s = np.asarray(analysis.scores[name], float)
        result["ablation"][name] = _ablate(model, cfg, s, units, thresholds[name], mec)
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, result)
    return result


def _get(obj: Any, key: str) -> Any:
    return obj.get(key) if isinstance(obj, dict) else getattr(obj, key, None)


def mec_columns(result: dict[str, Any]) -> dict[str, Any]:
    """The flat numbers of one run's ``mec.json`` (the summary's and CSV's columns)."""
    row: dict[str, Any] = {
        "decoding_error_cm": _f(result.get("decoding_error_cm")),
        "n_units": result.get("n_units"),
    }
    for name in SCORES:
        for k in ("median", "frac_threshold", "frac_null95"):
            row[f"{name}.{k}"] = _f(result.get(name, {}).get(k))
        row[f"{name}.n_scored"] = result.get(name, {}).get("n_scored")
    for k in ("median", "median_se", "ceiling", "ceiling_se", "pct_ceiling"):
        row[f"mapping.{k}"] = _f(result.get("mapping", {}).get(k))
    for name, v in result.get("ks", {}).items():
        row[f"ks.{name}"] = _f(v.get("statistic"))
        row[f"ks.{name}.pvalue"] = _f(v.get("pvalue"))
    for name, v in result.get("ablation", {}).items():
        for k in ("n_units", "baseline", "targeted", "random_mean", "targeted_minus_random"):
            row[f"ablation.{name}.{k}"] = v.get(k) if k == "n_units" else _f(v.get(k))
        row[f"ablation.{name}.reason"] = v.get("reason")
    return row


#: the per-run numbers averaged over seeds in the summary's rows
NUMBERS = [
    "decoding_error_cm",
    "test_error_cm",
    *(f"{s}.{k}" for s in SCORES for k in ("median", "frac_threshold", "frac_null95")),
    "mapping.median",
    "mapping.ceiling",
    "mapping.pct_ceiling",
    *(f"ks.{s}" for s in SCORES),
    *(f"ablation.{s}.{k}" for s in SCORES for k in ("n_units", "targeted_minus_random")),
]


def summarise_mec(runs: list[dict[str, Any]], numbers: list[str] = NUMBERS) -> list[dict[str, Any]]:
    """Per (core, target): mean and s.d. over seeds of each of ``numbers`` (keys of the runs'
    rows), with ``n_seeds`` and the parameter count."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["core"], r["target"]), []).append(r)
    rows = []
    for (core, target), group in groups.items():
        row: dict[str, Any] = {
            "core": core,
            "target": target,
            "n_seeds": len(group),
            "parameters": group[0].get("parameters"),
        }
        for key in numbers:
            row[key], row[f"{key}_sd"] = _mean_sd([g.get(key) for g in group])
        rows.append(row)
    return rows


def _read_run(run_dir: Path) -> dict[str, Any]:
    summary = json.loads((run_dir / "summary.json").read_text())
    return {
        "parameters": summary.get("parameters"),
        "test_error_cm": _f(summary.get("test_error_cm")),
        "train_seconds": _f(summary.get("wall_seconds")),
    }


def _run_mec_suite(
    suite: SuiteConfig, base: Path, out: Path, progress: bool, log: Any, t0: float
) -> dict[str, Any]:
    """Train the design's runs over the seeds; analyse, map, ablate and report them."""
    from brainlike.config import load_config
    from brainlike.evaluation.mec_report import write_mec_report
    from brainlike.train.checkpoint import atomic_write_json

    mec = suite.mec
    assert mec is not None
    plan = mec_plan(suite, base)
    _check_existing_runs(plan, out)
    arena = load_config(plan[0].config, plan[0].overrides).data.trajectories.arena
    recording = _session(suite, base, out, arena, log)
    runs, distributions = [], {}
    for run in ProgressDisplay(progress).track(
        plan, f"experiment {suite.name}: runs trained, analysed and mapped", unit="run"
    ):
        run_dir = out / "runs" / run.name
        _train(run.config, run_dir, progress, log, run.overrides)
        result = analyse_mec_run(
            run_dir, out / "analysis" / run.name, mec, recording, progress, log
        )
        runs.append(
            {
                "run": run.name,
                "core": run.core,
                "target": run.target,
                "seed": run.seed,
                "run_dir": str(run_dir),
                **_read_run(run_dir),
                **mec_columns(result),
            }
        )
        distributions[run.name] = {
            s: {"scores": result[s]["scores"], "null_quantiles": result[s]["null_quantiles"]}
            for s in SCORES
        }
    summary = {
        "suite": suite.name,
        "kind": "mec",
        "out_dir": str(out),
        "cores": dict(mec.cores),
        "targets": dict(mec.targets),
        "design": [b.model_dump() for b in mec.design],
        "cells": [list(c) for c in mec.cells()],
        "seeds": sorted({r["seed"] for r in runs}),
        "session": {**mec.session.model_dump(), "recording_used": str(recording)},
        "analysis": mec.analysis.model_dump(),
        "thresholds": mec.thresholds.model_dump(),
        "ablation": mec.ablation.model_dump(),
        "overrides": dict(suite.overrides),
        "conventions": CONVENTIONS,
        "rows": summarise_mec(runs),
        "runs": runs,
        "distributions": distributions,
        "wall_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(out / "summary.json", summary)
    write_mec_report(out, summary)
    return summary
