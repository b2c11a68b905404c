"""The report of an entorhinal suite: the chapter's comparisons in kind, a table, ``comparison.csv``.

spec: mouse-and-entorhinal.md §2. Four figures, each from ``summary.json`` alone: the decoding
error per cell (core x target), the grid- and border-score distributions of the units against
the pooled circular-shift null, the mapping to the recording as % of the inter-animal ceiling,
and the ablation effects (tuned units silenced minus as many random units).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.mec_suite import NULL_QUANTILES, SCORES
from brainlike.evaluation.suite_report import csv_and_figures, format_cell

__all__ = [
    "ablation_figure",
    "ceiling_figure",
    "decoding_figure",
    "findings",
    "mec_columns_table",
    "score_figure",
    "write_mec_report",
]

REPORT_DPI = 110


def _label(row: dict) -> str:
    return f"{row['core']} / {row['target']}"


_fmt = format_cell


def _pct(v: Any, sd: Any = None) -> str:
    return _fmt(None if v is None else 100.0 * v, ".1f", None if sd is None else 100.0 * sd)


def _bars(ax: Any, rows: list[dict], key: str, colour: str = "C0") -> None:
    y = [np.nan if r.get(key) is None else r[key] for r in rows]
    err = [r.get(f"{key}_sd") or 0.0 for r in rows]
    ax.bar(range(len(rows)), y, yerr=err if any(err) else None, color=colour, capsize=3, alpha=0.85)
    for i, v in enumerate(y):
        if not np.isfinite(v):
            ax.text(i, 0, "n/a", ha="center", va="bottom", fontsize=7, rotation=90)
    ax.set_xticks(range(len(rows)), [_label(r) for r in rows], rotation=45, ha="right")


def decoding_figure(summary: dict) -> Any:
    """Held-out decoding error (cm) per cell, mean ± s.d. over seeds."""
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    fig, ax = plt.subplots(figsize=(1.6 + 0.6 * len(rows), 3.6), layout="constrained")
    _bars(ax, rows, "decoding_error_cm")
    ax.set_ylabel("decoding error (cm)")
    ax.set_title("where is the animal? (lower is better)")
    return fig


def score_figure(summary: dict) -> Any:
    """Cumulative distribution of the units' grid and border scores per cell (seeds pooled),
    against the pooled shuffle null of the cell's first run (dashed) and the fixed threshold."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(SCORES), figsize=(5.0 * len(SCORES) + 2, 3.6),
                             squeeze=False, layout="constrained")  # fmt: skip
    cells = [(r["core"], r["target"]) for r in summary["rows"]]
    # one colour per cell: 10 colours repeat in a full crossing (mec-small has 17 cells)
    cmap = plt.get_cmap("tab10" if len(cells) <= 10 else "tab20")
    for ax, name in zip(axes[0], SCORES, strict=True):
        for i, (core, target) in enumerate(cells):
            names = [
                r["run"] for r in summary["runs"] if (r["core"], r["target"]) == (core, target)
            ]
            dists = [summary["distributions"].get(n, {}).get(name, {}) for n in names]
            s = np.array([v for d in dists for v in d.get("scores", []) if v is not None], float)
            if s.size:
                s = np.sort(s)
                ax.step(s, np.arange(1, s.size + 1) / s.size, where="post",
                        color=cmap(i % cmap.N), label=f"{core} / {target}")  # fmt: skip
            q = next((d.get("null_quantiles") for d in dists if d.get("null_quantiles")), None)
            if q:
                ax.plot(
                    q, NULL_QUANTILES / 100.0, ls="--", lw=0.9, color=cmap(i % cmap.N), alpha=0.7
                )
        ax.axvline(summary["thresholds"][name], color="k", lw=0.8, ls=":")
        ax.set_xlabel(f"{name} score (dotted: threshold {summary['thresholds'][name]})")
        ax.set_ylabel("fraction of units" if ax is axes[0][0] else "")
        ax.set_title(f"{name} scores (solid) vs circular-shift null (dashed)")
    handles, labels = axes[0][0].get_legend_handles_labels()  # one entry per cell
    if handles:
        fig.legend(handles, labels, fontsize=7, frameon=False, loc="outside right upper")
    return fig


def ceiling_figure(summary: dict) -> Any:
    """Median held-out r to the recorded cells as % of the inter-animal ceiling, per cell."""
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    fig, ax = plt.subplots(figsize=(1.6 + 0.6 * len(rows), 3.6), layout="constrained")
    _bars(ax, rows, "mapping.pct_ceiling", "C2")
    ax.axhline(100.0, color="k", lw=0.8, ls=":")
    ax.set_ylabel("% of the inter-animal ceiling")
    ax.set_title("units mapped to the recorded cells")
    return fig


def ablation_figure(summary: dict) -> Any:
    """Decoding error with the tuned units silenced minus with as many random units silenced
    (cm), per cell and score; n/a where no unit passes the threshold."""
    import matplotlib.pyplot as plt

    rows = summary["rows"]
    scores = [s for s in SCORES if any(f"ablation.{s}.targeted_minus_random" in r for r in rows)]
    fig, ax = plt.subplots(figsize=(3.0 + 1.2 * len(rows), 3.8), layout="constrained")
    width = 0.8 / max(len(scores), 1)
    for j, name in enumerate(scores):
        key = f"ablation.{name}.targeted_minus_random"
        x = np.arange(len(rows)) + (j - (len(scores) - 1) / 2) * width
        y = np.array([np.nan if r.get(key) is None else r[key] for r in rows], float)
        err = [r.get(f"{key}_sd") or 0.0 for r in rows]
        ax.bar(
            x, y, width, yerr=err if any(err) else None, capsize=2, color=f"C{j + 3}", label=name
        )
        for xi, v in zip(x, y, strict=True):
            if not np.isfinite(v):
                ax.text(xi, 0, f"no {name}\nunit passes", ha="center", va="bottom", fontsize=6)
    ax.axhline(0.0, color="k", lw=0.8)
    ax.set_xticks(range(len(rows)), [_label(r) for r in rows], rotation=45, ha="right")
    ax.set_xlim(-0.7, len(rows) - 0.3)
    ax.set_ylabel("tuned - random silenced (cm)")
    fig.legend(fontsize=8, frameon=False, loc="outside right upper")
    return fig


FIGURES = [
    ("decoding.png", decoding_figure, "Held-out decoding error per core and target code "
     "(mean ± s.d. over seeds)."),
    ("scores.png", score_figure, "Grid and border scores of the compared layer's units "
     "(cumulative, seeds pooled) against the pooled circular-shift null (dashed) and the fixed "
     "threshold (dotted)."),
    ("ceiling.png", ceiling_figure, "Median held-out r of the ridge mapping from the units' rate "
     "maps to each recorded cell's, as % of the inter-animal ceiling."),
    ("ablation.png", ablation_figure, "Ablations: decoding error with the units above the grid "
     "(border) threshold silenced, minus the mean over draws of as many random units."),
]  # fmt: skip


def mec_columns_table(summary: dict) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per cell (mean ± s.d. over seeds)."""
    cols = [
        "core", "target", "seeds", "params", "error cm", "grid median", "% grid >thr",
        "% grid >null95", "border median", "% border >thr", "% border >null95", "mapping r",
        "% ceiling", "KS grid", "KS border", "ablate grid cm", "ablate border cm",
    ]  # fmt: skip
    out = []
    for r in summary["rows"]:

        def v(key: str, spec: str = ".2f", r: dict = r) -> str:
            return _fmt(r.get(key), spec, r.get(f"{key}_sd"))

        def p(key: str, r: dict = r) -> str:
            return _pct(r.get(key), r.get(f"{key}_sd"))

        out.append([
            r["core"], r["target"], str(r["n_seeds"]),
            f"{r['parameters']:,}" if r.get("parameters") else "n/a",
            v("decoding_error_cm", ".1f"), v("grid.median"), p("grid.frac_threshold"),
            p("grid.frac_null95"), v("border.median"), p("border.frac_threshold"),
            p("border.frac_null95"), v("mapping.median", ".3f"), v("mapping.pct_ceiling", ".1f"),
            v("ks.grid"), v("ks.border"), v("ablation.grid.targeted_minus_random"),
            v("ablation.border.targeted_minus_random"),
        ])  # fmt: skip
    return cols, out


def findings(summary: dict) -> list[str]:
    """One sentence per score: the largest fraction of units above their own null's 95th
    percentile and above the fixed threshold over the cells, against the 5 % a null passes by
    chance (what emerged at this scale, said plainly)."""
    out = []
    for name in SCORES:
        rows = [r for r in summary["rows"] if r.get(f"{name}.frac_null95") is not None]
        if not rows:
            out.append(f"{name}: no shuffle null was computed (analysis.shuffles 0).")
            continue
        best = max(rows, key=lambda r: r[f"{name}.frac_null95"])
        frac = 100.0 * best[f"{name}.frac_null95"]
        fixed = best.get(f"{name}.frac_threshold")
        verdict = (
            f"no more than the ~5 % that pass by chance: no evidence of {name} cells at this scale"
            if frac <= 5.0
            else f"above the ~5 % that pass by chance: {name}-tuned units emerged (check that the cell "
            "learned: an untrained network's units can pass too)"
        )
        out.append(
            f"{name}: at most {frac:.1f} % of units above their null's 95th percentile "
            f"({_label(best)}; {_pct(fixed)} % above the fixed threshold "
            f"{summary['thresholds'][name]}; that cell decodes position to "
            f"{_fmt(best.get('decoding_error_cm'))} cm), {verdict}."
        )
    return out


_HTML = """{% extends "_base.html" %}
{% block style %}
  body { max-width: 1400px; }
  td { text-align: right; } td:first-child, td:nth-child(2) { text-align: left; }
{% endblock %}
{% block body %}
<header>
  <h1>{{ title }}</h1>
  <p class="meta">brainlike {{ version }}. Entorhinal suite (spec: mouse-and-entorhinal.md §2):
  {{ n_runs }} runs = {{ n_cells }} cells x seeds {{ seeds }}; base overrides: {{ overrides }}.
  Recording: {{ recording }}. Analysis: {{ analysis }}. Every figure is embedded; all numbers
  are in summary.json.</p>
</header>
<section>
  <h2>Cells</h2>
  <table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
  <tbody>{% for row in rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
  <p>What emerged (mean over seeds):</p><ul>{% for f in findings %}<li>{{ f }}</li>{% endfor %}</ul>
  {% if reasons %}<p>Ablations left out:</p><ul>{% for r in reasons %}<li>{{ r }}</li>{% endfor %}</ul>{% endif %}
</section>
{% for f in figures %}
<figure><img src="{{ f.uri }}" alt="{{ f.name }}"><figcaption>{{ f.caption }}</figcaption></figure>
{% endfor %}
<section>
  <h2>What the numbers are</h2>
  <ul>{% for k, v in conventions %}<li><b>{{ k }}</b>: {{ v }}</li>{% endfor %}</ul>
</section>
{% endblock %}
"""


def write_mec_report(out: Path, summary: dict) -> Path:
    """Write ``comparison.csv`` (one row per run), the four figures and ``report.html``."""
    from brainlike import __version__
    from brainlike.report.html import report_environment

    figures = csv_and_figures(out, summary, FIGURES, REPORT_DPI)
    columns, rows = mec_columns_table(summary)
    reasons = [
        f"{r['run']}, {s}: {r[f'ablation.{s}.reason']}"
        for r in summary["runs"]
        for s in SCORES
        if r.get(f"ablation.{s}.reason")
    ]
    s = summary["session"]
    recording = (
        s["recording"]
        if s.get("recording")
        else f"generated example session ({s['animals']} animals x {s['minutes']:g} min, seed "
        f"{s['seed']})"
    )
    html = (
        report_environment()
        .from_string(_HTML)
        .render(
            title=summary["suite"],
            version=__version__,
            n_runs=len(summary["runs"]),
            n_cells=len(summary["cells"]),
            seeds=", ".join(map(str, summary["seeds"])),
            overrides=", ".join(f"{k}: {v}" for k, v in summary["overrides"].items()) or "none",
            recording=recording,
            analysis=", ".join(f"{k} {v}" for k, v in summary["analysis"].items()),
            columns=columns,
            rows=rows,
            reasons=reasons,
            findings=findings(summary),
            figures=figures,
            conventions=list(summary["conventions"].items()),
        )
    )
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
