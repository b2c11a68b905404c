"""Experiment suites: train a set of configs, score each on one benchmark, compare them.

A suite is a YAML file naming the runs to compare and the benchmark to score them on (spec:
recurrent.md §4-5, the brain-likeness experiment of source document 002; neural-evaluation.md
§7 and §10 for the behaviour metrics). :func:`run_suite`:

1. trains the *brain*: a network whose layers stand in for the cortical areas;
2. writes a simulated benchmark from it (:func:`brainlike.evaluation.static.simulate_benchmark`: rendered
   digits, animals recorded from the brain's layers with trial noise) and a simulated
   observer's per-trial two-alternative choices on the same images (the behaviour reference);
3. trains every run (or resumes a finished one), scores each with
   :func:`brainlike.evaluation.static.score_model` (noise-corrected predictivity, % of the
   inter-animal ceiling), records the scores in the results database, and measures behaviour:
   I2n consistency (Brain-Score recipe, ceiled) and error consistency (Cohen's kappa) with the
   observer;
4. writes ``summary.json``, ``comparison.csv``, a bar figure and a self-contained
   ``report.html``.

The simulated benchmark knows its answer: the brain's own architecture is the model to beat,
so the comparison measures how far each recipe moves a model towards *that* network, not
towards primate cortex. Say so when reporting.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any, Literal

import numpy as np
import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from brainlike.progress import ProgressDisplay

__all__ = [
    "SuiteConfig",
    "load_suite",
    "observer_trials",
    "run_suite",
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrainConfig(_Strict):
    """The network whose layers are the simulated areas, and which layer is which area."""

    config: str = Field(description="experiment config (path or shipped name) trained as brain")
    areas: dict[str, str] = Field(description="area -> module name of the brain")

    @field_validator("areas")
    @classmethod
    def _some(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("name at least one area, e.g. {V1: layer1.0, IT: layer3.2}")
        return v


class BenchmarkConfig(_Strict):
    """The simulated recording and observer (see :func:`brainlike.evaluation.static.simulate_benchmark`)."""

    per_digit: int = Field(default=30, ge=2)
    image_size: int = Field(default=32, ge=8)
    animals: int = Field(default=4, ge=2)
    neuroids: int = Field(default=40, ge=2)
    trials: int = Field(default=10, ge=2)
    noise_sd: float = Field(default=1.0, ge=0.0)
    observer_subjects: int = Field(default=4, ge=2)
    observer_repeats: int = Field(default=4, ge=1)
    observer_temperature: float = Field(
        default=2.0, gt=0.0, description="softens the brain's logits into a fallible observer"
    )
    seed: int = Field(default=0, ge=0)


class TemporalConfig(_Strict):
    """A time-binned benchmark from the built-in recurrent brain, and the OST analysis.

    spec: recurrent.md §1-3. The brain is :func:`brainlike.data.simulate.random_recurrent_layers`
    driven by the stimulus pixels (``steps`` steps, image on for ``image_steps``, one
    ``bin_ms`` bin per step); areas are its layers. Models are unrolled on the same schedule
    (spec: 26 steps, image off at 10, 10 ms bins) and fit with a temporally fixed mapping.
    The reference for object solution times is the IT population itself: its behaviour is
    the I1 decoded from IT averaged over ``behaviour_bins``, its OST the first bin whose I1
    reaches that (spec §3).
    """

    steps: int = Field(default=26, ge=2)
    image_steps: int = Field(default=10, ge=1)
    bin_ms: float = Field(default=10.0, gt=0)
    widths: list[int] = Field(default_factory=lambda: [64, 64])
    areas: dict[str, str] = Field(default_factory=lambda: {"V4": "layer1", "IT": "layer2"})
    layers: list[str] | None = Field(
        default=None, description="model layers to assign (default: the model's per-step nodes)"
    )
    behaviour_bins: tuple[int, int] = Field(
        default=(7, 17), description="[first, last) bins averaged into the reference behaviour"
    )
    ost_classifier: Literal["svm", "logistic"] = "logistic"
    ost_components: int = Field(default=100, ge=2)
    ost_splits: int = Field(default=5, ge=2)
    min_ceiling: float = Field(
        default=0.1, ge=0.0, description="bins whose ceiling is below this are left out of means"
    )


class ScoreSettings(_Strict):
    mapping: str = "pls"
    splits: int = Field(default=10, ge=2)
    bootstraps: int = Field(default=20, ge=2)


class SuiteConfig(_Strict):
    """A suite: runs to train and compare on one benchmark."""

    name: str = Field(min_length=1, max_length=120)
    runs: list[str] = Field(min_length=1, description="experiment configs (paths or names)")
    brain: BrainConfig | None = None
    temporal: TemporalConfig | None = None
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    seeds: list[int] | None = Field(
        default=None,
        description="train every run with each of these seeds (default: each config's own); "
        "the table then shows mean ± s.d. over seeds",
    )

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError(f"seeds must be distinct non-negative ints, got {v}")
        return v

    @model_validator(mode="after")
    def _one_brain(self) -> SuiteConfig:
        if (self.brain is None) == (self.temporal is None):
            raise ValueError(
                "give either brain (a trained network; static benchmark) or temporal (the "
                "built-in recurrent brain; time-binned benchmark), not both or neither"
            )
        if self.temporal is not None and self.seeds is not None:
            raise ValueError(
                "seeds apply to suites with a trained brain; a temporal suite runs each "
                "config's own seed (add configs with other seeds to compare seeds)"
            )
        return self


def _resolve(name: str, base: Path | None) -> Path:
    from brainlike.config import resolve_config_path

    if base is not None and (base / name).exists():
        return base / name
    return resolve_config_path(name)


def load_suite(path: str | Path) -> tuple[SuiteConfig, Path]:
    """Read and validate a suite YAML (``yaml.safe_load``); returns it and its folder."""
    from brainlike.config import ConfigError, shipped_configs_dir

    p = Path(path).expanduser()
    if not p.is_file():
        shipped = shipped_configs_dir() / "suites" / (p.name if p.suffix else f"{p.name}.yaml")
        if not shipped.is_file():
            raise ConfigError(
                f"suite file {p} does not exist; shipped suites: "
                + ", ".join(
                    sorted(q.stem for q in (shipped_configs_dir() / "suites").glob("*.yaml"))
                )
            )
        p = shipped
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise ConfigError(f"{p}: not valid YAML ({err})") from None
    try:
        suite = SuiteConfig.model_validate(data)
    except ValidationError as err:
        lines = [f"{p}: {err.error_count()} problem(s) in the suite"]
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
            lines.append(f"  - {loc}: {e['msg']}")
        raise ConfigError("\n".join(lines)) from None
    brain = [suite.brain.config] if suite.brain is not None else []
    missing = [r for r in [*suite.runs, *brain] if not _resolve(r, p.parent).is_file()]
    if missing:
        raise ConfigError(f"{p}: configs not found: {', '.join(missing)}")
    names = [_run_name(_resolve(r, p.parent)) for r in suite.runs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{p}: runs share the experiment name(s) {dup}; names must differ")
    return suite, p.parent


def _run_name(config_path: Path) -> str:
    from brainlike.config import load_config

    return load_config(config_path).name


# ---------------------------------------------------------------------------------------------
# Behaviour reference: a simulated observer


def observer_trials(
    logits: np.ndarray,
    true: np.ndarray,
    images: list[str],
    classes: list[str],
    *,
    n_subjects: int = 4,
    repeats: int = 4,
    temperature: float = 2.0,
    seed: int = 0,
) -> Any:
    """Two-alternative trials of a simulated observer whose evidence is a network's logits.

    On each trial the observer sees image ``i`` (true class ``o``) against a random distractor
    ``d`` and answers ``o`` with probability ``p_o / (p_o + p_d)``, ``p = softmax(logits /
    temperature)``; every subject draws independently, so trial halves agree on which images
    and distractors are hard exactly as much as the network's probabilities say.

    Returns
    -------
    :class:`brainlike.analysis.behavior.HumanTrials`
    """
    from brainlike.analysis.behavior import HumanTrials

    z = np.asarray(logits, float) / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    true = np.asarray(true, int)
    n, k = p.shape
    rng = np.random.default_rng(seed)
    rows: dict[str, list[str]] = {c: [] for c in ("image", "choice", "true_class", "subject")}
    rows["distractor"] = []
    for s in range(n_subjects):
        for _ in range(repeats):
            d = (true + 1 + rng.integers(0, k - 1, n)) % k
            po, pd = p[np.arange(n), true], p[np.arange(n), d]
            correct = rng.random(n) < po / (po + pd)
            choice = np.where(correct, true, d)
            rows["image"] += list(images)
            rows["choice"] += [classes[c] for c in choice]
            rows["true_class"] += [classes[c] for c in true]
            rows["subject"] += [f"observer{s}"] * n
            rows["distractor"] += [classes[c] for c in d]
    arrays = {c: np.array(v, dtype=str) for c, v in rows.items()}
    return HumanTrials(classes=tuple(classes), **arrays)


def _model_logits(run: str | Path, stimuli_csv: str, ids: list[str]) -> np.ndarray:
    from brainlike.analysis.activations import extract_activations
    from brainlike.data.recordings import read_stimulus_set
    from brainlike.evaluation.static import load_scoring_model, model_images

    sm = load_scoring_model(run)
    images = model_images(read_stimulus_set(stimuli_csv), ids, sm)
    acts = extract_activations(sm.model, images, ["output"], progress=False, cache_dir=None)
    return np.asarray(acts["output"], float)


def behaviour_scores(logits: np.ndarray, true: np.ndarray, ids: list[str], trials: Any) -> dict:
    """I2n consistency (ceiled) and error consistency of a model's choices with ``trials``."""
    from brainlike.analysis.behavior import i2n, i2n_consistency

    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    i2n_score = i2n_consistency(i2n(probs, true), trials, images=ids, n_splits=10)
    # the model's 2AFC answer on each trial: the likelier of the pair
    choice = logits.argmax(axis=1)
    classes = list(trials.classes)
    kappa = _two_afc_error_consistency(logits, ids, trials, classes)
    return {
        "accuracy": float((choice == true).mean()),
        "i2n": _f(i2n_score.value),
        "i2n_ceiled": _f(i2n_score.ceiled),
        "i2n_ceiling": _f(i2n_score.ceiling),
        "error_kappa": _f(kappa.value),
        "error_kappa_sem": _f(kappa.error),
    }


def _two_afc_error_consistency(logits: np.ndarray, ids: list[str], trials: Any, classes: list[str]):
    """Cohen's kappa between the model's and each observer's 2AFC answers, mean over observers."""
    from brainlike.analysis.behavior import error_consistency
    from brainlike.analysis.score import Score

    row = {sid: i for i, sid in enumerate(ids)}
    lookup = {c: k for k, c in enumerate(classes)}
    r = np.array([row[s] for s in trials.image])
    o = np.array([lookup[c] for c in trials.true_class])
    d = np.array([lookup[c] for c in trials.distractor])
    model_choice = np.where(logits[r, o] >= logits[r, d], o, d)
    human = np.array([lookup[c] for c in trials.choice])
    kappas = []
    for s in np.unique(trials.subject):
        m = trials.subject == s
        kappas.append(error_consistency(model_choice[m], human[m], o[m]))
    k = np.asarray(kappas, float)
    return Score(
        value=float(np.nanmean(k)),
        error=float(np.nanstd(k, ddof=1) / np.sqrt(np.isfinite(k).sum())) if len(k) > 1 else None,
        raw=k,
    )


def _f(x: Any) -> float | None:
    try:
        v = float(x)
    except (TypeError, ValueError):
        return None
    return v if np.isfinite(v) else None


# ---------------------------------------------------------------------------------------------
# The suite


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


def _train(
    config_path: Path,
    run_dir: Path,
    progress: bool,
    log: Any,
    overrides: dict[str, Any] | None = None,
) -> dict:
    from brainlike.config import load_config
    from brainlike.train.loop import train

    if _trained(run_dir):
        log(f"[dim]{run_dir.name}: already trained, reusing[/dim]")
        return json.loads((run_dir / "summary.json").read_text())
    cfg = load_config(config_path, overrides)
    resume = (run_dir / "checkpoints" / "last.pt").is_file()
    log(f"training {cfg.name} -> {run_dir}")
    # a folder without a checkpoint holds no complete epoch (a run killed early): start afresh
    return train(
        cfg, run_dir, resume=resume, overwrite=not resume, progress=progress, analyse=False
    )


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

    Finished runs are reused (a suite can be re-run after adding a config or a seed), and so are
    their scores while ``scores.json`` is newer than the checkpoint; an interrupted run resumes
    from its last checkpoint. ``seeds`` replaces the suite's ``seeds``.
    """
    from brainlike.results import ResultsDB
    from brainlike.evaluation.static import record_scores, save_scoring, score_model, simulate_benchmark
    from brainlike.train.checkpoint import atomic_write_json

    log = log or (lambda msg: None)
    suite, base = load_suite(path)
    if seeds is not None:  # the command line's --seeds replaces the suite's
        try:
            suite = SuiteConfig.model_validate({**suite.model_dump(), "seeds": list(seeds)})
        except ValidationError as err:
            from brainlike.config import ConfigError

            raise ConfigError(f"--seeds: {err.errors()[0]['msg']}") from None
    out = Path(out_dir).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if suite.temporal is not None:
        return _run_temporal_suite(suite, base, out, db, progress, record, log, t0)
    assert suite.brain is not None

    brain_dir = out / "brain"
    _train(_resolve(suite.brain.config, base), brain_dir, progress, log)
    bench_dir = out / "benchmark"
    b = suite.benchmark
    rec_path = bench_dir / "recording.nc"
    if not rec_path.is_file():
        log("simulating the benchmark from the brain")
        simulate_benchmark(
            bench_dir,
            brain=str(brain_dir),
            areas=dict(suite.brain.areas),
            n_per_digit=b.per_digit,
            image_size=b.image_size,
            n_animals=b.animals,
            units_per_animal=b.neuroids,
            n_trials=b.trials,
            noise_sd=b.noise_sd,
            seed=b.seed,
            overwrite=True,  # only reached without a recording: a killed simulation's leftovers
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


def _run_plan(suite: SuiteConfig, base: Path) -> list[tuple[Path, str, str, int, dict]]:
    """(config, run name, recipe name, seed, config overrides) of every run of a suite."""
    from brainlike.config import load_config

    plan = []
    for entry in suite.runs:
        cfg_path = _resolve(entry, base)
        cfg = load_config(cfg_path)
        for seed in suite.seeds or [cfg.seed]:
            if seed == cfg.seed:
                plan.append((cfg_path, cfg.name, cfg.name, seed, {}))
            else:
                name = f"{cfg.name}-seed{seed}"
                plan.append((cfg_path, name, cfg.name, seed, {"seed": seed, "name": name}))
    return plan


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


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


#: Widest figure of a suite report, in pixels: it fits a 1280 px browser window.
REPORT_MAX_WIDTH_PX = 1280
REPORT_DPI = 100


def suite_figure(rows: list[dict], regions: list[str], recipes: list[dict] | None = None) -> Any:
    """Bar chart of % of ceiling per area and ceiled I2n, one bar per run (or recipe).

    With several seeds per recipe the bars are the mean over seeds and the error bars the
    s.d. over seeds; with one seed per run they are each score's own error (s.e.m. over
    splits, as % of the ceiling; none for I2n). The legend sits below the axes, so it covers
    no bar, and the figure is at most ``REPORT_MAX_WIDTH_PX`` wide at ``REPORT_DPI``.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from brainlike.report.figures import new_figure, plain_text

    over_seeds = bool(recipes) and any(r["n_seeds"] > 1 for r in recipes)
    bars = []  # (label, values, errors)
    if over_seeds:
        for r in recipes or []:
            vals = [r.get(f"{g}_pct") for g in regions] + [_pct(r.get("i2n_ceiled"))]
            errs = [r.get(f"{g}_pct_sd") for g in regions] + [_pct(r.get("i2n_ceiled_sd"))]
            bars.append((f"{r['recipe']} (n = {r['n_seeds']})", vals, errs))
        what = "mean over seeds; error bars: s.d. over seeds"
    else:
        for r in rows:
            vals = [r.get(f"{g}_pct") for g in regions] + [_pct(r.get("i2n_ceiled"))]
            errs = [
                _pct(r[f"{g}_sem"] / r[f"{g}_ceiling"])
                if r.get(f"{g}_sem") is not None and r.get(f"{g}_ceiling")
                else None
                for g in regions
            ] + [None]
            bars.append((r["run"], vals, errs))
        what = "one seed per run; error bars: s.e.m. over splits of each area score (none for I2n)"
    cols = [*regions, "behaviour"]
    width_in = min(max(6.0, 0.35 * len(cols) * len(bars) + 1.5), REPORT_MAX_WIDTH_PX / REPORT_DPI)
    ncol = max(1, min(len(bars), 4))
    height_in = 3.6 + 0.22 * -(-len(bars) // ncol)
    fig = new_figure(width_in, height_in, dpi=REPORT_DPI)
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / max(len(bars), 1)
    x = np.arange(len(cols))
    for i, (label, vals, errs) in enumerate(bars):
        ax.bar(
            x + (i - (len(bars) - 1) / 2) * width,
            [np.nan if v is None else v for v in vals],
            width,
            yerr=[np.nan if e is None else e for e in errs],
            capsize=2,
            error_kw={"elinewidth": 0.8},
            label=plain_text(label),
        )
    ax.set_xticks(x, [f"{c}\n(% ceiling)" for c in regions] + ["I2n\n(ceiled %)"])
    ax.axhline(100, color="k", lw=0.8, ls=":")
    ax.set_ylabel("% of ceiling")
    ax.set_title(what, fontsize="small")
    fig.legend(loc="outside lower center", ncol=ncol, fontsize="small", frameon=False)
    return fig


def _pct(v: float | None) -> float | None:
    return None if v is None else 100.0 * v


def _plot(path: Path, rows: list[dict], regions: list[str], recipes: list[dict] | None) -> Path:
    suite_figure(rows, regions, recipes).savefig(path, dpi=REPORT_DPI)
    return path


def suite_columns(summary: dict) -> tuple[list[str], list[list[str]]]:
    """Column names and formatted cells of a suite's comparison table (either kind)."""
    regions = summary["regions"]
    temporal = bool(summary["rows"]) and "ost_rho" in summary["rows"][0]

    def f(v: Any, spec: str = ".3f") -> str:
        return "—" if v is None else format(v, spec)

    recipes = summary.get("recipes") or []
    if not temporal and any(r["n_seeds"] > 1 for r in recipes):
        return _seed_columns(recipes, regions)
    if temporal:
        cols = ["run", "params", "units", "test acc", "Pareto"]
        cols += [f"{g} % {w}" for g in regions for w in ("all", "on", "off")]
        cols += ["OST rho", "OST images"]
    else:
        cols = ["run", "params", "test acc", *[f"{g} %" for g in regions], "I2n ceiled", "error κ"]
    rows = []
    for r in summary["rows"]:
        cells = [r["run"], f"{r['parameters']:,}" if r.get("parameters") else "—"]
        if temporal:
            cells += [f"{r['units']:,}", f(r.get("test_acc")), "*" if r.get("pareto") else ""]
        else:
            cells.append(f(r.get("test_acc")))
        if temporal:
            cells += [f(r.get(f"{g}_pct{w}"), ".1f") for g in regions for w in ("", "_on", "_off")]
        else:
            cells += [f(r.get(f"{g}_pct"), ".1f") for g in regions]
        if temporal:
            rho = r.get("ost_rho")
            cells += [
                "—" if rho is None else f"{rho:.3f} ± {r.get('ost_sem') or 0:.3f}",
                str(r.get("ost_images") or "—"),
            ]
        else:
            cells += [f(r.get("i2n_ceiled")), f(r.get("error_kappa"))]
        rows.append(cells)
    return cols, rows


def _seed_columns(recipes: list[dict], regions: list[str]) -> tuple[list[str], list[list[str]]]:
    def f(r: dict, k: str, spec: str) -> str:
        v, sd = r.get(k), r.get(f"{k}_sd")
        if v is None:
            return "—"
        return format(v, spec) + ("" if sd is None else f" ± {format(sd, spec)}")

    cols = ["recipe", "seeds", "params", "test acc", *[f"{g} %" for g in regions]]
    cols += ["I2n ceiled", "error κ"]
    rows = []
    for r in recipes:
        cells = [
            r["recipe"],
            str(r["n_seeds"]),
            f"{r['parameters']:,}" if r.get("parameters") else "—",
        ]
        cells.append(f(r, "test_acc", ".3f"))
        cells += [f(r, f"{g}_pct", ".1f") for g in regions]
        cells += [f(r, "i2n_ceiled", ".3f"), f(r, "error_kappa", ".3f")]
        rows.append(cells)
    return cols, rows


_HTML = """<!doctype html><html><head><meta charset="utf-8"><title>{{ suite }}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font-family:sans-serif;margin:2em auto;max-width:1280px;padding:0 1em}
img{max-width:100%;height:auto}table{border-collapse:collapse}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}th{background:#f4f4f4}
td.l{text-align:left}</style></head><body>
<h1>{{ suite }}</h1>
<p>{{ caption }}</p>
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td{% if loop.first %} class="l"{% endif %}>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>
<p><img alt="comparison" src="data:image/png;base64,{{ figure }}"></p>
</body></html>"""


def _write_html(path: Path, summary: dict, caption: str) -> Path:
    import base64

    from jinja2 import Environment

    env = Environment(autoescape=True)
    fig = path.parent / "comparison.png"
    columns, rows = suite_columns(summary)
    html = env.from_string(_HTML).render(
        suite=summary["suite"],
        caption=caption,
        columns=columns,
        rows=rows,
        figure=base64.b64encode(fig.read_bytes()).decode() if fig.is_file() else "",
    )
    path.write_text(html)
    return path


# ---------------------------------------------------------------------------------------------
# Temporal suites (spec: recurrent.md §1-3)


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
    from brainlike.analysis.activations import extract_activations
    from brainlike.analysis.ost import ost_score
    from brainlike.data.recordings import read_stimulus_set
    from brainlike.evaluation.static import (
        load_scoring_model,
        model_images,
        save_temporal_scoring,
        score_temporal,
        simulate_dynamic_benchmark,
    )
    from brainlike.train.checkpoint import atomic_write_json

    t, b = suite.temporal, suite.benchmark
    assert t is not None
    bench_dir = out / "benchmark"
    rec_path = bench_dir / "recording.nc"
    if not rec_path.is_file():
        log("simulating the time-binned benchmark from the built-in recurrent brain")
        simulate_dynamic_benchmark(
            bench_dir,
            areas=dict(t.areas),
            n_per_digit=b.per_digit,
            image_size=b.image_size,
            n_steps=t.steps,
            image_steps=t.image_steps,
            bin_ms=t.bin_ms,
            widths=tuple(t.widths),
            n_animals=b.animals,
            units_per_animal=b.neuroids,
            n_trials=b.trials,
            noise_sd=b.noise_sd,
            seed=b.seed,
            overwrite=True,  # only reached without a recording: a killed simulation's leftovers
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
        summary = _train(cfg_path, run_dir, progress, log)
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


def temporal_suite_figure(rows: list[dict], regions: list[str]) -> Any:
    """% of ceiling per bin for each area, and accuracy against units (Pareto front).

    The legend of the runs sits below the panels (it covers no curve); the figure is at most
    ``REPORT_MAX_WIDTH_PX`` wide at ``REPORT_DPI``.
    """
    from brainlike.report.figures import new_figure, plain_text

    n_panels = len(regions) + 1
    ncol = max(1, min(len(rows), 4))
    fig = new_figure(
        min(4.2 * n_panels, REPORT_MAX_WIDTH_PX / REPORT_DPI),
        3.6 + 0.22 * -(-len(rows) // ncol),
        dpi=REPORT_DPI,
    )
    fig.set_layout_engine("constrained")
    axes = fig.subplots(1, n_panels, squeeze=False)[0]
    for ax, region in zip(axes, regions, strict=False):
        for k, r in enumerate(rows):
            ax.plot(
                [np.nan if v is None else v for v in r[f"{region}_pct_per_bin"]],
                color=f"C{k % 10}",
                label=plain_text(r["run"]) if region == regions[0] else None,
            )
        ax.axhline(100, color="k", lw=0.8, ls=":")
        ax.set_title(f"{region}: % of ceiling per bin", fontsize="medium")
        ax.set_xlabel("bin")
    ax = axes[-1]
    for k, r in enumerate(rows):
        ax.scatter(
            r["units"], r["test_acc"], marker="o" if r["pareto"] else "x", color=f"C{k % 10}"
        )
    ax.set_xscale("log")
    ax.set_xlabel("units")
    ax.set_ylabel("test accuracy")
    ax.set_title("accuracy vs units (o: Pareto front)", fontsize="medium")
    fig.legend(loc="outside lower center", ncol=ncol, fontsize="small", frameon=False)
    return fig


def _plot_temporal(path: Path, rows: list[dict], regions: list[str]) -> Path:
    temporal_suite_figure(rows, regions).savefig(path, dpi=REPORT_DPI)
    return path
