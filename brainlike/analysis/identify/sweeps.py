"""The identification experiments of a feature table, with their uncertainty.

spec: learning-rules.md §2 (thesis ch. 6, part II). :func:`identify_rules` answers the
chapter's questions in kind on any feature table (:mod:`brainlike.analysis.identify.features`):

- **classifiers** (always): every classifier on all observables, on ``splits`` class-balanced
  75/25 train/test splits (stratified, so balanced classes stay balanced), hyperparameters by
  ``cv``-fold stratified cross-validation inside each split; confusion matrices, random-forest
  feature importances, and the random forest on shuffled labels (the chance control). An
  example is a layer of a network, as in the source, so layers of one network can sit on both
  sides of a split; the ``holdouts`` part repeats the forest with whole networks held out.
- **observables**: every classifier on each observable alone (weights, activations, activity
  change).
- **holdouts**: the random forest trained on all architectures but one and tested on that one
  (the source's held-out "animal"); the same for batch sizes (the curriculum); and splits that
  keep each network's layers on one side.
- **trajectory**: the random forest on ``count`` checkpoints ``period`` apart from a random
  start of each example's trajectory (dense, intermediate and sparse sampling).
- **recording**: the random forest on each observable under every recording setting in the
  table (unit fraction x measurement noise).

The sweeps use the forest with ``trees`` trees and sqrt features per split (no inner
cross-validation) and ``sweep_splits`` splits, to stay within CPU budgets. Every accuracy is
reported as the mean over splits with its s.d. and a t-based 95 % interval of the mean (splits
overlap, so the interval is optimistic); differences between settings are paired over the same
splits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from brainlike.analysis.identify.classifiers import (
    CLASSIFIERS,
    check_split_counts,
    fit_and_score,
)
from brainlike.analysis.identify.features import Design, design_matrix
from brainlike.analysis.identify.observables import OBSERVABLES, POSITIONS

__all__ = ["SWEEPS", "IdentifySettings", "identify_rules", "score_splits", "subsample_trajectory"]

SWEEPS = ("observables", "holdouts", "trajectory", "recording")
ALL = "all"
#: (period in checkpoints, count) of the trajectory sweep: dense, intermediate, sparse
TRAJECTORY = ((1, 2), (1, 4), (1, 6), (1, 11), (3, 2), (3, 4), (3, 6), (5, 2), (5, 4))


@dataclass(frozen=True)
class IdentifySettings:
    """How :func:`identify_rules` fits and tests (see the module docstring)."""

    classifiers: tuple[str, ...] = CLASSIFIERS
    splits: int = 10
    cv: int = 5
    sweep_splits: int = 5
    sweeps: tuple[str, ...] = SWEEPS
    statistics: str = "kept"
    test_size: float = 0.25
    seed: int = 0
    trajectory: tuple[tuple[int, int], ...] = TRAJECTORY
    trees: int = 100  # of the sweeps' random forests

    def __post_init__(self) -> None:
        bad = [c for c in self.classifiers if c not in CLASSIFIERS]
        if bad or not self.classifiers:
            raise ValueError(
                f"classifiers {bad or '[]'}: choose from {', '.join(CLASSIFIERS)} (comma-separated)"
            )
        unknown = [s for s in self.sweeps if s not in SWEEPS]
        if unknown:
            raise ValueError(f"sweeps {unknown}: choose from {', '.join(SWEEPS)}")
        if self.splits < 1 or self.sweep_splits < 1:
            raise ValueError("--splits and --sweep-splits must be at least 1")
        if self.cv < 1:
            raise ValueError("--cv must be at least 1 (1: no cross-validation, default settings)")
        if not 0 < self.test_size < 1:
            raise ValueError(f"test_size must be in (0, 1), got {self.test_size}")
        if self.statistics not in ("kept", "all", "thesis"):
            raise ValueError(f"--statistics {self.statistics!r}: choose kept, all or thesis")
        if self.trees < 1:
            raise ValueError(f"trees must be at least 1, got {self.trees}")
        for period, count in self.trajectory:
            if period < 1 or count < 1:
                raise ValueError(f"trajectory setting ({period}, {count}): both must be >= 1")


def interval(values: Sequence[float], low: float = 0.0, high: float = 1.0) -> dict[str, Any]:
    """Mean, s.d. and the t-based 95 % interval of the mean of per-split accuracies (clipped
    to [``low``, ``high``]: an accuracy's range, or -1..1 for a difference of two)."""
    from scipy import stats

    v = np.asarray(values, dtype=float)
    n = len(v)
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if n > 1 else 0.0
    half = float(stats.t.ppf(0.975, n - 1) * sd / math.sqrt(n)) if n > 1 else float("nan")
    ci = [max(low, mean - half), min(high, mean + half)] if n > 1 else [half, half]
    return {"mean": mean, "sd": sd, "ci95": ci, "n": n, "values": v.tolist()}


def subsample_trajectory(
    design: Design, period: int, count: int, rng: np.random.Generator
) -> tuple[np.ndarray, int]:
    """``count`` checkpoints ``period`` apart from a random start, per example.

    Returns the design matrix ``(n, S * count + 3)`` (statistic-major, then the position) and
    ``count``. Raises ValueError when the trajectory is too short for the setting.
    """
    t = design.n_times
    span = (count - 1) * period
    if span > t - 1:
        raise ValueError(
            f"trajectory setting period {period} x count {count} spans {span + 1} checkpoints; "
            f"the table has {t}"
        )
    series = design.series()
    starts = rng.integers(0, t - span, size=series.shape[0])
    idx = starts[:, None] + period * np.arange(count)[None, :]
    picked = np.take_along_axis(series, idx[:, None, :].repeat(series.shape[1], 1), axis=2)
    return np.concatenate(
        [picked.reshape(len(series), -1), design.x[:, -len(POSITIONS) :]], 1
    ), count


def _splits(
    y: np.ndarray, n_splits: int, test_size: float, seed: int, groups: np.ndarray | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Class-balanced train/test splits of examples (or of groups: whole networks)."""
    from sklearn.model_selection import StratifiedShuffleSplit

    sss = StratifiedShuffleSplit(n_splits=n_splits, test_size=test_size, random_state=seed)
    if groups is None:
        return list(sss.split(np.zeros(len(y)), y))
    uniq, first = np.unique(groups, return_index=True)
    out = []
    for _, test_g in sss.split(np.zeros(len(uniq)), y[first]):
        test_set = set(uniq[test_g])
        test = np.array([g in test_set for g in groups])
        out.append((np.flatnonzero(~test), np.flatnonzero(test)))
    return out


def score_splits(
    design: Design,
    classifier: str,
    splits: list[tuple[np.ndarray, np.ndarray]],
    *,
    cv: int,
    seed: int,
    x: np.ndarray | None = None,
    n_times: int | None = None,
    shuffle: bool = False,
    importances: bool = False,
    params: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Accuracy of ``classifier`` on each split (see :func:`identify_rules`), with the summed
    confusion matrix, the chosen hyperparameters and (``importances``) the forest's mean Gini
    importances. ``params``: the classifier's settings when ``cv <= 1``."""
    from sklearn.metrics import confusion_matrix

    x = design.x if x is None else x
    y = design.y.copy()
    n_classes = len(design.classes)
    confusion = np.zeros((n_classes, n_classes), dtype=int)
    accs, chosen, imp = [], [], []
    for i, (train, test) in enumerate(splits):
        y_train = y[train]
        if shuffle:
            y_train = np.random.default_rng(seed + 7919 * i).permutation(y_train)
        pred, params, fitted = fit_and_score(
            classifier, x[train], y_train, x[test], design.n_series,
            n_times or design.n_times, cv=cv, seed=seed + i, params=params,
        )  # fmt: skip
        accs.append(float((pred == y[test]).mean()))
        confusion += confusion_matrix(y[test], pred, labels=list(range(n_classes)))
        chosen.append(params)
        if importances and hasattr(fitted, "feature_importances_"):
            imp.append(fitted.feature_importances_)
    out = {**interval(accs), "confusion": confusion.tolist(), "params": chosen}
    if imp:
        out["importances"] = np.mean(imp, axis=0).tolist()
    return out


def _hardest_pair(confusion: np.ndarray, classes: list[str]) -> dict[str, Any]:
    """The pair of classes confused most: (C_ab + C_ba) / (n_a + n_b)."""
    n = confusion.sum(axis=1)
    best = None
    for a in range(len(classes)):
        for b in range(a + 1, len(classes)):
            rate = (confusion[a, b] + confusion[b, a]) / max(n[a] + n[b], 1)
            if best is None or rate > best["rate"]:
                best = {"pair": [classes[a], classes[b]], "rate": float(rate)}
    return best or {}


def _importance_table(design: Design, importances: list[float]) -> dict[str, Any]:
    """Gini importances summed over checkpoints per statistic, and per observable."""
    imp = np.asarray(importances)
    t = design.n_times
    per_stat = {
        "/".join(key): float(imp[i * t : (i + 1) * t].sum())
        for i, key in enumerate(design.statistics)
    }
    per_obs: dict[str, float] = {}
    for key, v in per_stat.items():
        per_obs[key.split("/")[0]] = per_obs.get(key.split("/")[0], 0.0) + v
    for j, p in enumerate(POSITIONS):
        per_stat[f"position/{p}"] = float(imp[len(design.statistics) * t + j])
    per_obs["position"] = float(imp[-len(POSITIONS) :].sum())
    ranked = dict(sorted(per_stat.items(), key=lambda kv: -kv[1]))
    return {"per_statistic": ranked, "per_observable": per_obs}


def _paired(a: dict[str, Any], b: dict[str, Any]) -> dict[str, Any]:
    """a - b over the same splits: mean, s.d., 95 % interval."""
    d = np.asarray(a["values"]) - np.asarray(b["values"])
    return interval(d.tolist(), -1.0, 1.0)


def identify_rules(
    table: Any,
    settings: IdentifySettings | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Fit and test rule identifiers on a feature table (see the module docstring).

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (``features.csv`` of ``brainlike identify build``).
    settings : IdentifySettings, optional
    log : called with a line after each result (None: silent).

    Returns
    -------
    dict
        ``classes``, ``n_examples``, ``n_runs``, ``results`` (one entry per part x setting x
        classifier x observables with mean, sd, ci95, values), ``confusion``, ``importances``,
        ``control`` (shuffled labels), ``findings`` (the chapter's questions, answered with
        numbers), ``dropped`` (divergent statistics), ``settings``.
    """
    from threadpoolctl import threadpool_limits

    # one BLAS thread: the matrices are small, and on a shared machine a second thread only
    # waits (a 300 x 300 SVD took 2.4 s with two threads on a busy machine, 0.04 s with one)
    with threadpool_limits(limits=1):
        return _identify(table, settings or IdentifySettings(), log or (lambda m: None))


def _identify(table: Any, s: IdentifySettings, say: Callable[[str], None]) -> dict[str, Any]:
    """The body of :func:`identify_rules`."""
    ideal = _ideal_recording(table)
    full = design_matrix(table, OBSERVABLES, s.statistics, recording=ideal)
    check_split_counts(full.y, full.classes, s.test_size, s.cv)
    sub = table.iloc[full.rows]
    runs = sub["run"].to_numpy()
    out: dict[str, Any] = {
        "classes": full.classes,
        "n_examples": int(len(full.y)),
        "n_runs": int(len(set(runs))),
        "n_checkpoints": full.n_times,
        "statistics": ["/".join(k) for k in full.statistics],
        "dropped": full.dropped,
        "recording": list(ideal) if ideal else None,
        "chance": 1.0 / len(full.classes),
        "results": [],
        "settings": {
            "classifiers": list(s.classifiers), "splits": s.splits, "cv": s.cv,
            "sweep_splits": s.sweep_splits, "sweeps": list(s.sweeps),
            "statistics": s.statistics, "test_size": s.test_size, "seed": s.seed,
        },
    }  # fmt: skip
    results = out["results"]

    def record(
        part: str, setting: str, clf: str, obs: str, res: dict[str, Any], **fields: Any
    ) -> dict[str, Any]:
        entry = {"part": part, "setting": setting, "classifier": clf, "observables": obs,
                 **{k: res[k] for k in ("mean", "sd", "ci95", "n", "values")}, **fields}  # fmt: skip
        results.append(entry)
        say(f"{part} {setting} {clf} {obs}: {res['mean']:.3f} ± {res['sd']:.3f}")
        return entry

    designs = {ALL: full}
    if "observables" in s.sweeps or "holdouts" in s.sweeps or "recording" in s.sweeps:
        for obs in OBSERVABLES:
            designs[obs] = design_matrix(table, [obs], s.statistics, recording=ideal)
    main_splits = _splits(full.y, s.splits, s.test_size, s.seed)
    sets = list(designs) if "observables" in s.sweeps else [ALL]
    forest_all = None
    for clf in s.classifiers:
        for obs in sets:
            res = score_splits(
                designs[obs], clf, main_splits, cv=s.cv, seed=s.seed,
                importances=clf == "forest" and obs == ALL,
            )  # fmt: skip
            record("classifiers", "75/25 splits", clf, obs, res)
            if clf == "forest" and obs == ALL:
                forest_all = res
            if obs == ALL:
                out.setdefault("confusion", {})[clf] = res["confusion"]
                out.setdefault("chosen_params", {})[clf] = res["params"]
    if forest_all is not None and "importances" in forest_all:
        out["importances"] = _importance_table(full, forest_all["importances"])
    sweep_splits = _splits(full.y, s.sweep_splits, s.test_size, s.seed + 1)
    forest = {"n_estimators": s.trees}
    control = score_splits(full, "forest", sweep_splits, cv=1, seed=s.seed, shuffle=True,
                           params=forest)  # fmt: skip
    out["control"] = record("control", "shuffled labels", "forest", ALL, control)

    if "holdouts" in s.sweeps:
        _holdouts(sub, designs, s, record)
        per_class = [len(set(runs[full.y == c])) for c in range(len(full.classes))]
        if min(per_class) * s.test_size >= 1 and min(per_class) >= 2:
            grouped = _splits(full.y, s.sweep_splits, s.test_size, s.seed + 2, groups=runs)
            res = score_splits(full, "forest", grouped, cv=1, seed=s.seed, params=forest)
            record("holdouts", "whole networks held out (75/25)", "forest", ALL, res)
        else:
            out.setdefault("notes", []).append(
                f"whole-network splits skipped: a class has {min(per_class)} network(s), too "
                f"few for a {round(100 * (1 - s.test_size))}/{round(100 * s.test_size)} split "
                "of networks"
            )
    if "trajectory" in s.sweeps:
        for period, count in s.trajectory:
            if (count - 1) * period > full.n_times - 1:
                continue
            accs = []
            for i, (train, test) in enumerate(sweep_splits):
                rng = np.random.default_rng([s.seed, period, count, i])
                x, n_t = subsample_trajectory(full, period, count, rng)
                pred, _, _ = fit_and_score("forest", x[train], full.y[train], x[test],
                                           full.n_series, n_t, cv=1, seed=s.seed + i,
                                           params=forest)  # fmt: skip
                accs.append(float((pred == full.y[test]).mean()))
            record("trajectory", f"period {period} x count {count}", "forest", ALL,
                   interval(accs), period=period, count=count)  # fmt: skip
    if "recording" in s.sweeps:
        settings_in = (
            table[["fraction", "noise", "recording_seed"]].drop_duplicates().sort_values(
                ["fraction", "noise", "recording_seed"], ascending=[False, True, True]
            ).itertuples(index=False, name=None)
        )  # fmt: skip
        for f, n, seed in settings_in:
            for obs in OBSERVABLES:
                d = design_matrix(table, [obs], s.statistics, recording=(f, n, seed),
                                  classes=full.classes)  # fmt: skip
                if len(d.y) != len(full.y):
                    continue
                res = score_splits(d, "forest", sweep_splits, cv=1, seed=s.seed, params=forest)
                record("recording", f"fraction {f:g}, noise {n:g}, seed {seed}", "forest", obs,
                       res, fraction=float(f), noise=float(n), recording_seed=int(seed))  # fmt: skip
    out["findings"] = _findings(out, s)
    return out


def _ideal_recording(table: Any) -> tuple[float, float, int] | None:
    """The noiseless full recording when the table has several settings (else None)."""
    settings = table[["fraction", "noise", "recording_seed"]].drop_duplicates()
    if len(settings) == 1:
        return None
    ideal = settings[(settings["fraction"] == 1.0) & (settings["noise"] == 0.0)]
    if not len(ideal):
        raise ValueError(
            "the feature table has several recording settings but none with every unit and no "
            "noise (fraction 1, noise 0); the main comparison needs that one"
        )
    row = ideal.sort_values("recording_seed").iloc[0]
    return float(row["fraction"]), float(row["noise"]), int(row["recording_seed"])


def _holdouts(sub: Any, designs: dict[str, Design], s: IdentifySettings, record: Callable) -> None:
    """Leave one architecture (and one batch size) out: train on the rest, test on it."""
    for column, what in (("architecture", "architecture"), ("batch_size", "batch size")):
        groups = sub[column].astype(str).to_numpy()
        values = sorted(set(groups), key=lambda v: (len(v), v))
        if len(values) < 2:
            continue
        for obs, design in designs.items():
            accs = []
            for value in values:
                test = groups == value
                train = ~test
                missing = sorted(set(range(len(design.classes))) - set(design.y[train]))
                if missing:
                    raise ValueError(
                        f"holding out {what} {value} leaves class "
                        f"{design.classes[missing[0]]} without training examples; every class "
                        f"needs runs of at least two {what}s"
                    )
                pred, _, _ = fit_and_score(
                    "forest", design.x[train], design.y[train], design.x[test], design.n_series,
                    design.n_times, cv=1, seed=s.seed, params={"n_estimators": s.trees},
                )  # fmt: skip
                acc = float((pred == design.y[test]).mean())
                accs.append(acc)
                record("holdouts", f"{what} {value} held out", "forest", obs,
                       interval([acc]), held_out=column, value=value)  # fmt: skip
            record("holdouts", f"each {what} held out (mean)", "forest", obs, interval(accs))


def _find(results: list[dict], **match: Any) -> dict[str, Any] | None:
    for r in results:
        if all(r.get(k) == v for k, v in match.items()):
            return r
    return None


def _fmt(r: dict[str, Any], over: str = "splits") -> str:
    lo, hi = r["ci95"]
    ci = "" if math.isnan(lo) else f", 95 % CI {lo:.3f}-{hi:.3f}"
    return f"{r['mean']:.3f} ± {r['sd']:.3f} (s.d. over {r['n']} {over}{ci})"


def _findings(out: dict[str, Any], s: IdentifySettings) -> dict[str, Any]:
    """The chapter's questions, answered with this table's numbers."""
    res = out["results"]
    f: dict[str, Any] = {}
    main = [r for r in res if r["part"] == "classifiers" and r["observables"] == ALL]
    if main:
        best = max(main, key=lambda r: r["mean"])
        f["best_classifier"] = {"classifier": best["classifier"], "accuracy": best["mean"],
                                "text": f"{best['classifier']} is best on all observables: "
                                        f"{_fmt(best)}; chance {out['chance']:.3f}"}  # fmt: skip
        others = [r for r in main if r is not best]
        f["best_classifier"]["versus"] = {r["classifier"]: _paired(best, r) for r in others}
    forest = {r["observables"]: r for r in res
              if r["part"] == "classifiers" and r["classifier"] == "forest"}  # fmt: skip
    if ALL in forest and "activations" in forest:
        diff = _paired(forest["activations"], forest[ALL])
        f["activations_alone"] = {
            "accuracy": forest["activations"]["mean"], "all": forest[ALL]["mean"],
            "difference": diff,
            "text": f"random forest on activations alone {_fmt(forest['activations'])} vs all "
                    f"observables {forest[ALL]['mean']:.3f} (paired difference "
                    f"{diff['mean']:+.3f}, 95 % CI {diff['ci95'][0]:+.3f} to {diff['ci95'][1]:+.3f})",
        }  # fmt: skip
        for obs in OBSERVABLES:
            if obs in forest:
                f.setdefault("per_observable", {})[obs] = forest[obs]["mean"]
    confusion = (out.get("confusion") or {}).get("forest")
    if confusion is not None:
        pair = _hardest_pair(np.asarray(confusion), out["classes"])
        pair["text"] = (f"the random forest confuses {pair['pair'][0]} and {pair['pair'][1]} most: "
                        f"{pair['rate']:.3f} of their test examples go to the other")  # fmt: skip
        f["hardest_pair"] = pair
    traj = {r["setting"]: r for r in res if r["part"] == "trajectory"}
    pairs = []
    for count in sorted({c for _, c in s.trajectory}):
        dense = traj.get(f"period 1 x count {count}")
        wide = [
            traj.get(f"period {p} x count {count}") for p, c in s.trajectory if c == count and p > 1
        ]
        wide = [w for w in wide if w is not None]
        if dense and wide:
            widest = wide[-1]
            d = _paired(widest, dense)
            pairs.append({"count": count, "dense": dense["mean"], "sparse": widest["mean"],
                          "sparse_setting": widest["setting"], "difference": d})  # fmt: skip
    if pairs:
        f["sparse_vs_dense"] = {
            "comparisons": pairs,
            "text": "; ".join(
                f"{p['count']} checkpoints: {p['sparse_setting'].split(' x ')[0]} "
                f"{p['sparse']:.3f} vs period 1 {p['dense']:.3f} (paired difference "
                f"{p['difference']['mean']:+.3f} ± {p['difference']['sd']:.3f})"
                for p in pairs
            ),
        }
    rec = [r for r in res if r["part"] == "recording"]
    if rec:
        by_obs: dict[str, dict[str, float]] = {}
        for r in rec:
            by_obs.setdefault(r["observables"], {})[r["setting"]] = r["mean"]
        worst = {obs: min(v.values()) for obs, v in by_obs.items()}
        mean = {obs: float(np.mean(list(v.values()))) for obs, v in by_obs.items()}
        robust = max(mean, key=mean.get)
        f["recording_robustness"] = {
            "mean_over_settings": mean, "worst_setting": worst, "most_robust": robust,
            "text": f"averaged over the {len(next(iter(by_obs.values())))} recording settings, "
                    + ", ".join(f"{o} {m:.3f} (worst {worst[o]:.3f})" for o, m in mean.items())
                    + f": {robust} are the most robust",
        }  # fmt: skip
    held = [
        r
        for r in res
        if r["part"] == "holdouts" and r["setting"] == "each architecture held out (mean)"
    ]
    if held:
        allh = next((r for r in held if r["observables"] == ALL), held[0])
        f["held_out_architecture"] = {
            "accuracy": allh["mean"],
            "per_observable": {r["observables"]: r["mean"] for r in held},
            "text": f"random forest tested on an architecture it never saw (trained on the "
                    f"others, all observables): {_fmt(allh, 'held-out architectures')}",
        }  # fmt: skip
    held_b = _find(res, part="holdouts", setting="each batch size held out (mean)", observables=ALL)
    if held_b:
        f["held_out_curriculum"] = {
            "accuracy": held_b["mean"],
            "text": f"random forest tested on a batch size it never saw: "
                    f"{_fmt(held_b, 'held-out batch sizes')}",
        }  # fmt: skip
    grouped = _find(res, part="holdouts", setting="whole networks held out (75/25)")
    if grouped:
        f["whole_networks_held_out"] = {
            "accuracy": grouped["mean"],
            "text": f"random forest with every layer of a test network unseen (75/25 splits of "
                    f"networks): {_fmt(grouped)}",
        }  # fmt: skip
    if "control" in out:
        c = out["control"]
        f["chance_control"] = {"accuracy": c["mean"],
                               "text": f"shuffled labels: {_fmt(c)}; chance {out['chance']:.3f}"}  # fmt: skip
    return f
