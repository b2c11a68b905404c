"""Rules suites: the chapter's comparison of learning rules, every architecture under every rule.

spec: learning-rules.md §1. A suite with a ``rules`` list trains each run config under each
rule over the suite's ``seeds`` (run ``<config>-<rule label>-seed<s>``, the one training loop
with the rule's ``rule:`` section; a finished run is reused, an interrupted one resumes), then
reads each run's folder: test accuracy on the config's held-out test split, the last epoch's
angle between every converted layer's forward weight W and backward weight B~ (degrees, as flat
vectors) and norm ratio ||B~|| / ||W|| (``metrics.jsonl``), and the seconds per epoch. Per
architecture and rule it reports mean ± s.d. over seeds (:func:`summarise_rules`) and whether
the rule reaches backprop's accuracy (:data:`REACHES_BACKPROP`); the figures and
``report.html`` are :mod:`brainlike.evaluation.rules_report`.
"""

from __future__ import annotations

import json
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.config.suite import SuiteConfig
from brainlike.config.suite import resolve_run_config as _resolve
from brainlike.evaluation.suite_runs import _check_existing_runs, _f, _mean_sd, _train
from brainlike.progress import ProgressDisplay

__all__ = ["CONVENTIONS", "REACHES_BACKPROP", "RulesRun", "read_rule_run", "summarise_rules"]

#: How a rule is judged against backprop (written into every rules report).
REACHES_BACKPROP = (
    "A rule reaches backprop's accuracy when its mean test accuracy over seeds is at least "
    "backprop's mean minus one s.d. of backprop over seeds (within backprop's seed-to-seed "
    "spread, or better). The difference of means is given with both s.d.s and Welch's t-test "
    "(two-sided, unequal variances); with 3 seeds a large p does not show that two rules are "
    "equal, and a small difference may still be a real one."
)

#: What the numbers of a rules suite are.
CONVENTIONS = {
    "accuracy": "top-1 accuracy on the held-out test split of each run config, after the last "
    "epoch; mean ± s.d. (ddof 1) over seeds",
    "train_accuracy": "the last epoch's running accuracy on its training batches, in training "
    "mode (dropout on, BatchNorm on batch statistics); far above the test accuracy it points "
    "at a network that does not generalise or whose evaluation-mode statistics do not match",
    "angle": "angle in degrees between W and B~ of a layer, as flat vectors, after the last "
    "epoch; 'angle' is its mean over the layers, then mean ± s.d. over seeds; n/a for backprop "
    "(no B~); 0 for sham (B~ = W)",
    "norm_ratio": "||B~|| / ||W|| (Frobenius) per layer after the last epoch; mean over layers, "
    "then mean ± s.d. over seeds",
    "update_angle": "angle in degrees between the rule's update of W and backprop's gradient on "
    "one fixed training batch (only when rule.gradient_angle is on)",
    "layers": "every Linear and Conv2d layer the rule converted (named in per_layer), the last "
    "dense layer included",
    "seconds_per_epoch": "wall-clock seconds of an epoch (training and the test pass), mean "
    "over epochs, then over seeds; the suite's runs share the machine, so compare them only "
    "within one suite run",
    "reaches_backprop": REACHES_BACKPROP,
}

_LAYER_KEYS = {
    "angle": "rule_angle_deg",
    "norm_ratio": "rule_norm_ratio",
    "update_angle": "rule_update_angle_deg",
}


@dataclass(frozen=True)
class RulesRun:
    """One run of a rules suite: a config trained under one rule with one seed."""

    config: Path
    architecture: str
    label: str
    seed: int
    name: str
    overrides: dict[str, Any]


def rules_plan(suite: SuiteConfig, base: Path) -> list[RulesRun]:
    """Every run of a rules suite, architecture by architecture, rule by rule, seed by seed."""
    from brainlike.config import load_config

    assert suite.rules is not None
    plan = []
    for entry in suite.runs:
        cfg_path = _resolve(entry, base)
        cfg = load_config(cfg_path)
        for rule in suite.rules:
            label = rule.run_label()
            for seed in suite.seeds or [cfg.seed]:
                name = f"{cfg.name}-{label}-seed{seed}"
                overrides = {
                    **suite.overrides,
                    "rule": rule.rule_section(),
                    "seed": seed,
                    "name": name,
                }
                plan.append(RulesRun(cfg_path, cfg.name, label, seed, name, overrides))
    return plan


def read_rule_run(run_dir: Path) -> dict[str, Any]:
    """The numbers of one trained run, from its ``summary.json`` and ``metrics.jsonl``.

    Returns
    -------
    dict
        ``test_acc`` and ``train_acc`` (the last epoch's; train: the running accuracy of its
        training batches, in training mode), ``epochs``, ``seconds_per_epoch`` (mean over epochs),
        ``curve`` (test accuracy per epoch), and for each of ``angle``, ``norm_ratio`` and
        ``update_angle`` recorded by the rule: ``<key>`` (mean over layers at the last epoch),
        ``<key>_per_layer`` (layer -> value at the last epoch) and ``<key>_curve`` (mean over
        layers per epoch). Backprop records none of them.
    """
    summary = json.loads((run_dir / "summary.json").read_text())
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines() if r]
    out: dict[str, Any] = {
        "test_acc": _f(summary.get("test_acc")),
        "train_acc": _f(summary.get("train_acc")),
        "epochs": len(rows),
        "seconds_per_epoch": _f(np.mean([r["seconds"] for r in rows])) if rows else None,
        "curve": [_f(r.get("test_acc")) for r in rows],
    }
    for key, column in _LAYER_KEYS.items():
        if not rows or not isinstance(rows[-1].get(column), dict):
            continue
        last = rows[-1][column]
        out[key] = _f(np.mean(list(last.values())))
        out[f"{key}_per_layer"] = {k: _f(v) for k, v in last.items()}
        out[f"{key}_curve"] = [
            _f(np.mean(list(r[column].values()))) if isinstance(r.get(column), dict) else None
            for r in rows
        ]
    return out


def _curve_bands(curves: list[list[float | None]]) -> dict[str, list[float | None]]:
    """Per epoch: mean and s.d. over seeds (curves cut to the shortest run)."""
    n = min(len(c) for c in curves)
    stats = [_mean_sd([c[i] for c in curves]) for i in range(n)]
    return {"mean": [m for m, _ in stats], "sd": [s for _, s in stats]}


def summarise_rules(runs: list[dict[str, Any]]) -> tuple[list[dict], dict[str, dict]]:
    """Per architecture and rule: the numbers over seeds, and the curves of the figures.

    Parameters
    ----------
    runs : list of dict
        One per run: ``architecture``, ``rule`` (label), ``kind`` (the rule's name), ``seed``
        and the numbers of :func:`read_rule_run`.

    Returns
    -------
    rows : list of dict
        One per architecture × rule, in the runs' order: ``n_seeds``, ``seeds``, ``test_acc``
        and ``test_acc_sd`` with ``test_acc_per_seed``, ``train_acc`` and ``train_acc_sd``; for each layer statistic
        (``angle``, ``norm_ratio``, ``update_angle``) its mean and s.d. over seeds of the
        mean over layers and ``<key>_per_layer`` (mean over seeds); ``seconds_per_epoch``;
        and against the architecture's backprop rule: ``diff_vs_backprop``, ``welch_p`` and
        ``reaches_backprop`` (:data:`REACHES_BACKPROP`; None without backprop over 2+ seeds).
    curves : dict
        ``curves[architecture][rule]``: ``epoch``, ``test_acc`` and (when recorded)
        ``angle``, each ``{"mean": [...], "sd": [...]}`` over seeds per epoch.
    """
    from scipy import stats

    groups: dict[tuple[str, str], list[dict]] = {}
    for r in runs:
        groups.setdefault((r["architecture"], r["rule"]), []).append(r)
    rows: list[dict] = []
    curves: dict[str, dict] = {}
    for (arch, label), group in groups.items():
        acc = [g["test_acc"] for g in group]
        mean, sd = _mean_sd(acc)
        row: dict[str, Any] = {
            "architecture": arch,
            "rule": label,
            "kind": group[0]["kind"],
            "n_seeds": len(group),
            "seeds": [g["seed"] for g in group],
            "test_acc": mean,
            "test_acc_sd": sd,
            "test_acc_per_seed": {str(g["seed"]): g["test_acc"] for g in group},
        }
        row["train_acc"], row["train_acc_sd"] = _mean_sd([g.get("train_acc") for g in group])
        for key in _LAYER_KEYS:
            if not all(key in g for g in group):
                continue
            row[key], row[f"{key}_sd"] = _mean_sd([g[key] for g in group])
            layers = list(group[0][f"{key}_per_layer"])
            row[f"{key}_per_layer"] = {
                layer: _mean_sd([g[f"{key}_per_layer"].get(layer) for g in group])[0]
                for layer in layers
            }
        row["seconds_per_epoch"] = _mean_sd([g["seconds_per_epoch"] for g in group])[0]
        rows.append(row)
        band = {"test_acc": _curve_bands([g["curve"] for g in group])}
        if all("angle_curve" in g for g in group):
            band["angle"] = _curve_bands([g["angle_curve"] for g in group])
        band["epoch"] = list(range(1, len(band["test_acc"]["mean"]) + 1))
        curves.setdefault(arch, {})[label] = band
    for row in rows:
        bp = next(
            (
                r
                for r in rows
                if r["architecture"] == row["architecture"] and r["kind"] == "backprop"
            ),
            None,
        )
        row["diff_vs_backprop"] = row["welch_p"] = row["reaches_backprop"] = None
        if bp is None or row is bp or bp["test_acc"] is None or row["test_acc"] is None:
            continue
        row["diff_vs_backprop"] = _f(row["test_acc"] - bp["test_acc"])
        a = [v for v in row["test_acc_per_seed"].values() if v is not None]
        b = [v for v in bp["test_acc_per_seed"].values() if v is not None]
        if len(a) > 1 and len(b) > 1 and np.var(a) + np.var(b) > 0:
            with warnings.catch_warnings():  # near-equal seeds: scipy warns of precision loss
                warnings.simplefilter("ignore", RuntimeWarning)
                row["welch_p"] = _f(stats.ttest_ind(a, b, equal_var=False).pvalue)
        if bp["test_acc_sd"] is not None:
            row["reaches_backprop"] = bool(row["test_acc"] >= bp["test_acc"] - bp["test_acc_sd"])
    return rows, curves


def _run_rules_suite(
    suite: SuiteConfig, base: Path, out: Path, progress: bool, log: Any, t0: float
) -> dict[str, Any]:
    """Train every run config under every rule over the seeds; summarise and report them."""
    from brainlike.evaluation.rules_report import write_rules_report
    from brainlike.train.checkpoint import atomic_write_json

    assert suite.rules is not None
    kinds = {r.run_label(): r.build().name for r in suite.rules}
    plan = rules_plan(suite, base)
    _check_existing_runs(plan, out)
    runs = []
    # one line per finished run (with the suite's ETA); the runs' epochs show inside
    for run in ProgressDisplay(progress).track(
        plan, f"experiment {suite.name}: runs trained", unit="run"
    ):
        run_dir = out / "runs" / run.name
        _train(run.config, run_dir, progress, log, run.overrides)
        runs.append(
            {
                "run": run.name,
                "architecture": run.architecture,
                "rule": run.label,
                "kind": kinds[run.label],
                "seed": run.seed,
                "config": str(run.config),
                "run_dir": str(run_dir),
                **read_rule_run(run_dir),
            }
        )
    rows, curves = summarise_rules(runs)
    summary = {
        "suite": suite.name,
        "kind": "rules",
        "out_dir": str(out),
        "architectures": list(dict.fromkeys(r["architecture"] for r in runs)),
        "rules": [{"label": r.run_label(), "rule": r.rule_section()} for r in suite.rules],
        "seeds": sorted({r["seed"] for r in runs}),
        "overrides": dict(suite.overrides),
        "conventions": CONVENTIONS,
        "rows": rows,
        "runs": [{k: v for k, v in r.items() if not k.endswith("curve")} for r in runs],
        "curves": curves,
        "wall_seconds": time.perf_counter() - t0,
    }
    atomic_write_json(out / "summary.json", summary)
    write_rules_report(out, summary)
    return summary
