"""A suite's report: ``comparison.csv``, the comparison figure and a self-contained ``report.html``.

The comparison table (:func:`suite_columns`) shows each run's or recipe's accuracy, % of
ceiling per area and behaviour (static suites) or per-bin fits and object solution times
(temporal suites); the figures (:func:`suite_figure`, :func:`temporal_suite_figure`) fit a
1280 px browser window with their legends below the axes.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np


def _write_csv(path: Path, rows: list[dict]) -> None:
    keys = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=keys)
        w.writeheader()
        w.writerows(rows)


def format_cell(v: Any, spec: str = ".1f", sd: Any = None) -> str:
    """A suite table's cell: ``v`` formatted by ``spec`` (``n/a`` when missing), with ``± sd``
    over seeds when given."""
    if v is None:
        return "n/a"
    text = format(v, spec)
    return f"{text} ± {format(sd, spec)}" if sd is not None else text


def csv_and_figures(out: Path, summary: dict, figures: Any, dpi: float) -> list[dict]:
    """Write a suite's ``comparison.csv`` (one row per run) and each ``(file name, maker,
    caption)`` figure of ``figures`` drawn from ``summary``; returns the figures as report
    entries (name, caption, embedded data URI)."""
    from brainlike.report.figures import save_figure
    from brainlike.report.html import data_uri

    _write_csv(out / "comparison.csv", summary["runs"])
    entries = []
    for name, make, caption in figures:
        path = save_figure(make(summary), out / name, dpi=dpi)
        entries.append({"name": name, "caption": caption, "uri": data_uri(path)})
    return entries


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


_HTML = """{% extends "_base.html" %}
{% block style %}body{max-width:1280px} td,th{text-align:right} td.l{text-align:left}
img{max-width:100%;height:auto}{% endblock %}
{% block body %}
<h1>{{ suite }}</h1>
<p>{{ caption }}</p>
<table><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td{% if loop.first %} class="l"{% endif %}>{{ cell }}</td>{% endfor %}</tr>{% endfor %}
</table>
{% if figure %}<p><img alt="comparison" src="{{ figure }}"></p>{% endif %}
{% endblock %}"""


def _write_html(path: Path, summary: dict, caption: str) -> Path:
    from brainlike import __version__
    from brainlike.report.html import data_uri, report_environment

    fig = path.parent / "comparison.png"
    columns, rows = suite_columns(summary)
    html = (
        report_environment()
        .from_string(_HTML)
        .render(
            title=summary["suite"],
            version=__version__,
            suite=summary["suite"],
            caption=caption,
            columns=columns,
            rows=rows,
            figure=data_uri(fig) if fig.is_file() else "",
        )
    )
    path.write_text(html, encoding="utf-8")
    return path


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
