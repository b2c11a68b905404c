"""A rules suite's report: the table, ``comparison.csv``, the figures and ``report.html``.

The figures follow the chapter's comparison of learning rules (spec: learning-rules.md §1):
learning curves (test accuracy against epoch, mean over seeds with a ±s.d. band) and the
alignment of W and B~ over training (mean over layers), one panel per architecture and one
curve per rule, and the final accuracy of every rule with its s.d. over seeds beside
backprop's band. Every figure is at most ``REPORT_MAX_WIDTH_PX`` wide and is embedded in the
self-contained ``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.suite_report import REPORT_DPI, REPORT_MAX_WIDTH_PX, _write_csv

__all__ = [
    "accuracy_figure",
    "alignment_figure",
    "learning_curves_figure",
    "rules_columns",
    "write_rules_report",
]

#: The report's figures: file name, caption.
FIGURES = (
    (
        "learning_curves.png",
        "Test accuracy against epoch per rule: mean over seeds, band ± s.d. over seeds.",
    ),
    (
        "alignment.png",
        "Angle between W and B~ (degrees, mean over the converted layers) against epoch per "
        "rule: mean over seeds, band ± s.d. (backprop has no B~; sham is 0; 90 is a random "
        "B~).",
    ),
    (
        "accuracy.png",
        "Final test accuracy per rule: mean over seeds, error bars ± s.d. over seeds; grey "
        "band: backprop's mean ± s.d. (a rule whose mean is above its lower edge reaches "
        "backprop's accuracy).",
    ),
)


def _pm(mean: float | None, sd: float | None, spec: str) -> str:
    if mean is None:
        return "—"
    return format(mean, spec) + ("" if sd is None else f" ± {format(sd, spec)}")


def rules_columns(summary: dict) -> tuple[list[str], list[list[str]]]:
    """Column names and formatted cells of a rules suite's table, one row per architecture ×
    rule (the update angle only when some rule recorded it)."""
    rows = summary["rows"]
    update = any(r.get("update_angle") is not None for r in rows)
    cols = ["architecture", "rule", "seeds", "test acc", "train acc", "Δ vs backprop", "Welch p"]
    cols += ["reaches backprop", "angle W,B~ (°)", "norm ratio"]
    cols += ["update angle (°)"] if update else []
    cols += ["s/epoch"]
    out = []
    for r in rows:
        diff, p, reach = r.get("diff_vs_backprop"), r.get("welch_p"), r.get("reaches_backprop")
        cells = [
            r["architecture"],
            r["rule"],
            str(r["n_seeds"]),
            _pm(r.get("test_acc"), r.get("test_acc_sd"), ".3f"),
            _pm(r.get("train_acc"), r.get("train_acc_sd"), ".3f"),
            "—" if diff is None else f"{diff:+.3f}",
            "—" if p is None else f"{p:.2g}",
            "—" if reach is None else ("yes" if reach else "no"),
            _pm(r.get("angle"), r.get("angle_sd"), ".1f") if "angle" in r else "n/a",
            _pm(r.get("norm_ratio"), r.get("norm_ratio_sd"), ".2f") if "norm_ratio" in r else "n/a",
        ]
        if update:
            cells.append(_pm(r.get("update_angle"), r.get("update_angle_sd"), ".1f"))
        spe = r.get("seconds_per_epoch")
        cells.append("—" if spe is None else f"{spe:.2f}")
        out.append(cells)
    return cols, out


def _colours(labels: list[str]) -> dict[str, Any]:
    from matplotlib import colormaps

    if len(labels) <= 10:
        return {label: colormaps["tab10"](i) for i, label in enumerate(labels)}
    # tab20 pairs dark and light shades: the dark ones first, so neighbours differ in hue
    order = [*range(0, 20, 2), *range(1, 20, 2)]
    return {label: colormaps["tab20"](order[i % 20]) for i, label in enumerate(labels)}


def _panels(n: int, rows_of_legend: int) -> Any:
    from brainlike.report.figures import new_figure

    fig = new_figure(
        min(max(5.0, 4.6 * n), REPORT_MAX_WIDTH_PX / REPORT_DPI),
        3.6 + 0.22 * rows_of_legend,
        dpi=REPORT_DPI,
    )
    fig.set_layout_engine("constrained")
    return fig, fig.subplots(1, n, squeeze=False)[0]


def _band_figure(summary: dict, key: str, ylabel: str, ylim: tuple | None) -> Any:
    from matplotlib.ticker import MaxNLocator

    from brainlike.report.figures import plain_text

    labels = [r["label"] for r in summary["rules"]]
    colours = _colours(labels)
    archs = summary["architectures"]
    ncol = min(len(labels), 6)
    fig, axes = _panels(len(archs), -(-len(labels) // ncol))
    drawn: dict[str, Any] = {}
    for ax, arch in zip(axes, archs, strict=True):
        for label in labels:
            band = summary["curves"].get(arch, {}).get(label, {})
            if key not in band:
                continue
            x = np.array(band["epoch"], float)
            m = np.array([np.nan if v is None else v for v in band[key]["mean"]], float)
            s = np.array([np.nan if v is None else v for v in band[key]["sd"]], float)
            (line,) = ax.plot(x, m, color=colours[label], lw=1.4)
            ax.fill_between(x, m - s, m + s, color=colours[label], alpha=0.18, lw=0)
            drawn[label] = line
        ax.set_title(plain_text(arch), fontsize="medium")
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylabel(ylabel)
        if ylim is not None:
            ax.set_ylim(*ylim)
    if drawn:
        fig.legend(
            list(drawn.values()),
            [plain_text(k) for k in drawn],
            loc="outside lower center",
            ncol=ncol,
            fontsize="small",
            frameon=False,
        )
    return fig


def learning_curves_figure(summary: dict) -> Any:
    """Test accuracy against epoch, one panel per architecture, one curve (mean over seeds,
    ±s.d. band) per rule.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return _band_figure(summary, "test_acc", "test accuracy", (0.0, 1.0))


def alignment_figure(summary: dict) -> Any:
    """Angle between W and B~ (mean over layers) against epoch, as :func:`learning_curves_figure`.

    Returns
    -------
    matplotlib.figure.Figure
    """
    # from just below 0, so that sham's line (B~ = W) shows
    fig = _band_figure(summary, "angle", "angle W, B~ (degrees, mean over layers)", (-3.0, 100.0))
    for ax in fig.axes:
        ax.axhline(90, color="k", lw=0.8, ls=":")
    return fig


def accuracy_figure(summary: dict) -> Any:
    """Final test accuracy per rule (mean, s.d. error bars), one panel per architecture, with
    backprop's mean ± s.d. as a grey band.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from brainlike.report.figures import plain_text

    labels = [r["label"] for r in summary["rules"]]
    colours = _colours(labels)
    archs = summary["architectures"]
    fig, axes = _panels(len(archs), 3)
    for ax, arch in zip(axes, archs, strict=True):
        rows = [r for r in summary["rows"] if r["architecture"] == arch]
        x = np.arange(len(rows))
        ax.bar(
            x,
            [np.nan if r["test_acc"] is None else r["test_acc"] for r in rows],
            yerr=[np.nan if r["test_acc_sd"] is None else r["test_acc_sd"] for r in rows],
            color=[colours[r["rule"]] for r in rows],
            capsize=3,
            error_kw={"elinewidth": 0.8},
        )
        bp = next((r for r in rows if r["kind"] == "backprop"), None)
        if bp is not None and bp["test_acc"] is not None:
            sd = bp["test_acc_sd"] or 0.0
            ax.axhspan(bp["test_acc"] - sd, bp["test_acc"] + sd, color="0.5", alpha=0.25, lw=0)
        ax.set_xticks(x, [plain_text(r["rule"]) for r in rows], rotation=60, ha="right")
        ax.set_ylim(0.0, 1.0)
        ax.set_ylabel("final test accuracy")
        ax.set_title(plain_text(arch), fontsize="medium")
    return fig


_HTML = """{% extends "_base.html" %}
{% block style %}body{max-width:1280px} td,th{text-align:right} td.l{text-align:left}
dt{font-weight:bold}{% endblock %}
{% block body %}
<h1>{{ suite }}: learning rules compared</h1>
<p>Every architecture trained under every rule with seeds {{ seeds }} (spec:
learning-rules.md §1){% if overrides %}; overrides applied to every run: {{ overrides }}{% endif %}.
</p>
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td{% if loop.index <= 2 %} class="l"{% endif %}>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>
<h2>What the numbers are</h2>
<dl>{% for key, text in conventions %}<dt>{{ key }}</dt><dd>{{ text }}</dd>{% endfor %}</dl>
{% for f in figures %}<figure><img alt="{{ f.name }}" src="{{ f.uri }}">
<figcaption>{{ f.caption }}</figcaption></figure>{% endfor %}
{% endblock %}"""


def write_rules_report(out: Path, summary: dict) -> Path:
    """Write ``comparison.csv``, the figures (PNG) and the self-contained ``report.html``
    of a rules suite into ``out``; returns the report's path."""
    from brainlike import __version__
    from brainlike.report.figures import save_figure
    from brainlike.report.html import data_uri, report_environment

    flat = [
        {k: v for k, v in r.items() if not isinstance(v, (dict, list))}
        | {"seeds": ";".join(map(str, r["seeds"]))}
        | {f"test_acc_seed{s}": v for s, v in r["test_acc_per_seed"].items()}
        for r in summary["rows"]
    ]
    _write_csv(out / "comparison.csv", flat)
    makers = {
        "learning_curves.png": learning_curves_figure,
        "alignment.png": alignment_figure,
        "accuracy.png": accuracy_figure,
    }
    figures = []
    for name, caption in FIGURES:
        path = save_figure(makers[name](summary), out / name, dpi=REPORT_DPI)
        figures.append({"name": name, "caption": caption, "uri": data_uri(path)})
    columns, rows = rules_columns(summary)
    html = (
        report_environment()
        .from_string(_HTML)
        .render(
            title=summary["suite"],
            version=__version__,
            suite=summary["suite"],
            seeds=", ".join(map(str, summary["seeds"])),
            overrides=", ".join(f"{k}: {v}" for k, v in summary.get("overrides", {}).items()),
            columns=columns,
            rows=rows,
            conventions=list(summary["conventions"].items()),
            figures=figures,
        )
    )
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
