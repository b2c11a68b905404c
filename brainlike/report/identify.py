"""The rule-identification report: ``summary.json``, ``accuracy.csv``, figures, HTML.

Everything is drawn from the summary of
:func:`~brainlike.analysis.identify.sweeps.identify_rules` alone, so a report can be rebuilt
from a ``summary.json``. Figures: accuracy per classifier and observable; confusion matrices;
random-forest importances; accuracy against trajectory sampling; accuracy over recording
settings (unit fraction x noise) per observable; held-out architectures and batch sizes.
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

import brainlike
from brainlike.report.figures import new_figure, plain_text
from brainlike.report.html import data_uri

__all__ = [
    "REPORT_FILES",
    "accuracy_rows",
    "check_report_free",
    "findings",
    "write_identify_report",
]

_TEMPLATES = Path(__file__).with_name("templates")
#: Files a report folder holds; an existing one is replaced only with ``overwrite``.
REPORT_FILES = ("summary.json", "accuracy.csv", "report.html")
_DPI = 100
_OBS_ORDER = ("all", "weights", "activations", "activity_change")


def check_report_free(out_dir: str | Path, overwrite: bool) -> Path:
    """``out_dir``, refused (:class:`ValueError`) when it holds a report and not ``overwrite``."""
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; --out needs a folder")
    taken = [name for name in REPORT_FILES if (out / name).exists()]
    if taken and not overwrite:
        raise ValueError(
            f"{out / taken[0]} exists; pass --overwrite to replace it or --out to write elsewhere"
        )
    return out


def _fmt(v: Any, spec: str = ".3f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return format(v, spec)


def accuracy_rows(summary: dict[str, Any]) -> list[list[str]]:
    """Rows (part, setting, classifier, observables, mean, s.d., splits) of every result."""
    return [
        [
            r["part"],
            r["setting"],
            r["classifier"],
            r["observables"],
            _fmt(r["mean"]),
            _fmt(r["sd"]),
            str(r["n"]),
        ]  # fmt: skip
        for r in summary["results"]
    ]


def findings(summary: dict[str, Any]) -> list[str]:
    """The chapter's questions answered in one line each."""
    order = (
        "best_classifier", "activations_alone", "hardest_pair", "sparse_vs_dense",
        "recording_robustness", "held_out_architecture", "held_out_curriculum",
        "whole_networks_held_out", "chance_control",
    )  # fmt: skip
    f = summary.get("findings", {})
    return [f[k]["text"] for k in order if k in f and "text" in f[k]]


def _accuracy_table(summary: dict[str, Any]) -> Any:
    import pandas as pd

    rows = []
    for r in summary["results"]:
        lo, hi = r["ci95"]
        rows.append({"part": r["part"], "setting": r["setting"], "classifier": r["classifier"],
                     "observables": r["observables"], "mean": r["mean"], "sd": r["sd"],
                     "ci95_low": lo, "ci95_high": hi, "splits": r["n"],
                     "per_split": " ".join(f"{v:.4f}" for v in r["values"])})  # fmt: skip
    return pd.DataFrame(rows)


# -- figures ----------------------------------------------------------------------------------------
def classifier_figure(summary: dict[str, Any]) -> Any:
    """Mean test accuracy (± s.d. over splits) per classifier and observable."""
    rows = [r for r in summary["results"] if r["part"] == "classifiers"]
    clfs = list(dict.fromkeys(r["classifier"] for r in rows))
    obs = [o for o in _OBS_ORDER if any(r["observables"] == o for r in rows)]
    fig = new_figure(8, 3.6)
    fig.subplots_adjust(left=0.09, right=0.98, bottom=0.16, top=0.9)
    ax = fig.subplots()
    width = 0.8 / max(len(clfs), 1)
    for i, clf in enumerate(clfs):
        means = [
            next(
                (r["mean"] for r in rows if r["classifier"] == clf and r["observables"] == o),
                np.nan,
            )
            for o in obs
        ]  # noqa: E501
        sds = [
            next((r["sd"] for r in rows if r["classifier"] == clf and r["observables"] == o), 0)
            for o in obs
        ]  # noqa: E501
        ax.bar(np.arange(len(obs)) + (i - (len(clfs) - 1) / 2) * width, means, width, yerr=sds,
               label=plain_text(clf), capsize=2)  # fmt: skip
    ax.axhline(summary["chance"], color="k", ls="--", lw=0.8, label="chance")
    ax.set_xticks(np.arange(len(obs)), [o.replace("_", " ") for o in obs])
    ax.set_ylim(0, 1.2)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("test accuracy")
    ax.set_title("Which classifier identifies the rule (± s.d. over splits)", fontsize="medium")
    ax.legend(fontsize="small", ncol=len(clfs) + 1, loc="upper center")
    return fig


def confusion_figure(summary: dict[str, Any]) -> Any:
    """Row-normalised confusion matrices (all observables), one per classifier."""
    conf = summary.get("confusion", {})
    classes = summary["classes"]
    fig = new_figure(4.2 * max(len(conf), 1), 3.8)
    fig.subplots_adjust(left=0.17, right=0.98, bottom=0.2, top=0.9, wspace=0.45)
    axes = np.atleast_1d(fig.subplots(1, max(len(conf), 1)))
    for ax, (clf, m) in zip(axes, conf.items(), strict=False):
        m = np.asarray(m, dtype=float)
        norm = m / np.maximum(m.sum(1, keepdims=True), 1)
        ax.imshow(norm, vmin=0, vmax=1, cmap="Blues")
        for a in range(len(classes)):
            for b in range(len(classes)):
                ax.text(b, a, f"{norm[a, b]:.2f}", ha="center", va="center", fontsize="small",
                        color="white" if norm[a, b] > 0.6 else "black")  # fmt: skip
        ax.set_xticks(range(len(classes)), [plain_text(c) for c in classes], rotation=30,
                      fontsize="small")  # fmt: skip
        ax.set_yticks(range(len(classes)), [plain_text(c) for c in classes], fontsize="small")
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(plain_text(clf), fontsize="medium")
    return fig


def importance_figure(summary: dict[str, Any], top: int = 20) -> Any:
    """The random forest's Gini importances: the top statistics (summed over checkpoints) and
    the total per observable."""
    imp = summary["importances"]
    stats = list(imp["per_statistic"].items())[:top]
    fig = new_figure(10, 4.6)
    fig.subplots_adjust(left=0.26, right=0.98, bottom=0.12, top=0.92, wspace=0.75)
    ax1, ax2 = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 1.2]})
    ax1.barh(range(len(stats))[::-1], [v for _, v in stats], color="C0")
    ax1.set_yticks(range(len(stats))[::-1], [plain_text(k) for k, _ in stats], fontsize="small")
    ax1.set_xlabel("Gini importance (summed over checkpoints)")
    ax1.set_title(
        f"Top {len(stats)} statistics (random forest, all observables)", fontsize="medium"
    )
    per = imp["per_observable"]
    ax2.barh(range(len(per))[::-1], list(per.values()), color="C1")
    ax2.set_yticks(range(len(per))[::-1], [k.replace("_", " ") for k in per], fontsize="small")
    ax2.set_xlabel("summed over its statistics")
    ax2.set_title("per observable", fontsize="medium")
    return fig


def trajectory_figure(summary: dict[str, Any]) -> Any:
    """Accuracy against the number of checkpoints, one line per sampling period."""
    rows = [r for r in summary["results"] if r["part"] == "trajectory"]
    by_period: dict[int, list[tuple[int, float, float]]] = {}
    for r in rows:
        by_period.setdefault(r["period"], []).append((r["count"], r["mean"], r["sd"]))
    fig = new_figure(6, 3.6)
    fig.subplots_adjust(left=0.12, right=0.98, bottom=0.15, top=0.9)
    ax = fig.subplots()
    for p, pts in sorted(by_period.items()):
        pts.sort()
        ax.errorbar([c for c, _, _ in pts], [m for _, m, _ in pts], [s for _, _, s in pts],
                    marker="o", capsize=2, label=f"period {p} checkpoint(s)")  # fmt: skip
    ax.axhline(summary["chance"], color="k", ls="--", lw=0.8, label="chance")
    ax.set_xlabel("checkpoints sampled")
    ax.set_ylabel("test accuracy (random forest)")
    ax.set_ylim(0, 1.02)
    ax.set_title("Dense vs sparse sampling of the trajectory", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


def recording_figure(summary: dict[str, Any]) -> Any:
    """Accuracy over unit fraction x noise, one panel per observable."""
    rows = [r for r in summary["results"] if r["part"] == "recording"]
    obs = [o for o in _OBS_ORDER if any(r["observables"] == o for r in rows)]
    grid: dict[str, dict[tuple[float, float], list[float]]] = {o: {} for o in obs}
    for r in rows:  # several seeds of one setting: their mean
        cell = grid[r["observables"]].setdefault((r["fraction"], r["noise"]), [])
        cell.append(r["mean"])
    fracs = sorted({k[0] for g in grid.values() for k in g}, reverse=True)
    noises = sorted({k[1] for g in grid.values() for k in g})
    fig = new_figure(3.6 * len(obs), 3.4)
    fig.subplots_adjust(left=0.1, right=0.97, bottom=0.17, top=0.86, wspace=0.35)
    axes = np.atleast_1d(fig.subplots(1, len(obs)))
    for ax, o in zip(axes, obs, strict=True):
        m = np.array([[np.mean(grid[o].get((f, n), [np.nan])) for n in noises] for f in fracs])
        ax.imshow(m, vmin=summary["chance"], vmax=1, cmap="viridis", aspect="auto")
        for i in range(len(fracs)):
            for j in range(len(noises)):
                ax.text(j, i, _fmt(m[i, j], ".2f"), ha="center", va="center", fontsize="small",
                        color="white" if m[i, j] < 0.75 else "black")  # fmt: skip
        ax.set_xticks(range(len(noises)), [f"{n:g}" for n in noises])
        ax.set_yticks(range(len(fracs)), [f"{f:g}" for f in fracs])
        ax.set_xlabel("noise s.d.")
        ax.set_ylabel("fraction of units")
        ax.set_title(o.replace("_", " "), fontsize="medium")
    fig.suptitle("Unit subsampling and measurement noise (random forest)", fontsize="medium")
    return fig


def holdout_figure(summary: dict[str, Any]) -> Any:
    """Accuracy on each held-out architecture and batch size (all observables)."""
    rows = [r for r in summary["results"] if r["part"] == "holdouts" and r["observables"] == "all"
            and "held_out" in r]  # fmt: skip
    fig = new_figure(7, 3.4)
    fig.subplots_adjust(left=0.1, right=0.98, bottom=0.3, top=0.9)
    ax = fig.subplots()
    ax.bar(range(len(rows)), [r["mean"] for r in rows], color="C2")
    ax.set_xticks(range(len(rows)), [plain_text(r["setting"].replace(" held out", ""))
                                     for r in rows], rotation=30, fontsize="small")  # fmt: skip
    ax.axhline(summary["chance"], color="k", ls="--", lw=0.8, label="chance")
    main = next((r for r in summary["results"] if r["part"] == "classifiers"
                 and r["classifier"] == "forest" and r["observables"] == "all"), None)  # fmt: skip
    if main is not None:
        ax.axhline(main["mean"], color="C3", lw=1, label="75/25 splits")
    ax.set_ylim(0, 1.02)
    ax.set_ylabel("test accuracy (random forest)")
    ax.set_title("Generalisation to a held-out architecture / batch size", fontsize="medium")
    ax.legend(fontsize="small")
    return fig


def write_identify_report(summary: dict[str, Any], out_dir: str | Path) -> dict[str, Any]:
    """Write ``summary.json``, ``accuracy.csv``, the figures and ``report.html`` to ``out_dir``.

    Parameters
    ----------
    summary : dict
        From :func:`~brainlike.analysis.identify.sweeps.identify_rules` (``source`` added).
    out_dir : str or Path

    Returns
    -------
    dict
        Paths: ``summary``, ``accuracy``, ``report`` and ``figures`` (list).
    """
    import jinja2

    out = Path(out_dir)
    (out / "figures").mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    _accuracy_table(summary).to_csv(out / "accuracy.csv", index=False, float_format="%.4f")
    parts = {r["part"] for r in summary["results"]}
    makers = [
        ("classifiers", "Classifiers and observables", classifier_figure, "classifiers" in parts),
        ("confusion", "Confusion matrices", confusion_figure, bool(summary.get("confusion"))),
        ("importances", "Feature importances", importance_figure, "importances" in summary),
        ("trajectory", "Trajectory sampling", trajectory_figure, "trajectory" in parts),
        ("recording", "Recording: units and noise", recording_figure, "recording" in parts),
        ("holdouts", "Held-out architectures and curricula", holdout_figure, "holdouts" in parts),
    ]
    figures, paths = [], []
    for key, title, make, present in makers:
        if not present:
            continue
        path = out / "figures" / f"{key}.png"
        make(summary).savefig(path, dpi=_DPI)
        paths.append(str(path))
        figures.append({"key": key, "title": title, "data": data_uri(path)})
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("identify.html").render(
        title="Which learning rule? Identification from observables",
        summary=summary,
        findings=findings(summary),
        rows=accuracy_rows(summary),
        figures=figures,
        version=brainlike.__version__,
        generated=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    (out / "report.html").write_text(html, encoding="utf-8")
    return {
        "summary": str(out / "summary.json"),
        "accuracy": str(out / "accuracy.csv"),
        "report": str(out / "report.html"),
        "figures": paths,
    }
