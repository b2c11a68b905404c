"""The report of a mouse suite: the chapter's figures in kind, tables, ``comparison.csv``.

spec: mouse-and-entorhinal.md §1. Four figures, each from ``summary.json`` alone:
predictivity per area and model (% of the inter-animal ceiling, one panel per modality),
predictivity against transfer (one panel per transfer task), the resolution effect (the same
architecture and objective at each image size) and predictivity against model size. The
mapping class shown in the figures is the suite's first (the tables give every one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.suite_report import csv_and_figures, format_cell

__all__ = [
    "area_figure",
    "resolution_figure",
    "size_figure",
    "transfer_figure",
    "write_mouse_report",
]

REPORT_DPI = 110


def _label(row: dict) -> str:
    return f"{row['model']} / {row['objective']} / {row['resolution']} px"


_fmt = format_cell


def _markers(keys: list[str]) -> dict[str, str]:
    shapes = "osD^vP*Xh<>"
    return {k: shapes[i % len(shapes)] for i, k in enumerate(keys)}


def _colours(keys: list[str]) -> dict[str, Any]:
    import matplotlib.pyplot as plt

    cmap = plt.get_cmap("tab10")
    return {k: cmap(i % 10) for i, k in enumerate(keys)}


def area_figure(summary: dict) -> Any:
    """% of the inter-animal ceiling per area (columns) and cell (rows), one panel per
    modality, for the suite's first mapping class."""
    import matplotlib.pyplot as plt

    rows, areas, mods = summary["rows"], summary["areas"], summary["modalities"]
    mapping = summary["mappings"][0]
    fig, axes = plt.subplots(
        1, len(mods), figsize=(2.2 + 0.9 * len(areas) * len(mods), 1.2 + 0.32 * len(rows)),
        squeeze=False,
    )  # fmt: skip
    for ax, mod in zip(axes[0], mods, strict=True):
        m = np.array(
            [[np.nan if r.get(f"{mod}.{mapping}.{a}") is None else r[f"{mod}.{mapping}.{a}"]
              for a in areas] for r in rows],
            float,
        )  # fmt: skip
        im = ax.imshow(m, cmap="viridis", vmin=0, vmax=max(100.0, np.nanmax(m, initial=0)))
        for i, j in np.ndindex(m.shape):
            if np.isfinite(m[i, j]):
                ax.text(j, i, f"{m[i, j]:.0f}", ha="center", va="center", fontsize=7,
                        color="white" if m[i, j] < 60 else "black")  # fmt: skip
        ax.set_xticks(range(len(areas)), areas, rotation=45, ha="right")
        ax.set_yticks(range(len(rows)), [_label(r) for r in rows] if ax is axes[0][0] else [])
        ax.set_title(f"{mod}, {mapping}: % of ceiling")
        fig.colorbar(im, ax=ax, shrink=0.8)
    fig.tight_layout()
    return fig


def _scatter(ax: Any, rows: list[dict], x: str, y: str, summary: dict) -> None:
    objectives, models = list(summary["objectives"]), list(summary["models"])
    colour, marker = _colours(objectives), _markers(models)
    for r in rows:
        if r.get(x) is None or r.get(y) is None:
            continue
        ax.errorbar(
            r[x], r[y], xerr=r.get(f"{x}_sd"), yerr=r.get(f"{y}_sd"), fmt=marker[r["model"]],
            color=colour[r["objective"]], ms=6, capsize=2, alpha=0.85,
        )  # fmt: skip


def _legend(fig: Any, summary: dict) -> None:
    from matplotlib.lines import Line2D

    objectives, models = list(summary["objectives"]), list(summary["models"])
    colour, marker = _colours(objectives), _markers(models)
    handles = [Line2D([], [], color=colour[o], marker="o", ls="", label=o) for o in objectives]
    handles += [Line2D([], [], color="grey", marker=marker[m], ls="", label=m) for m in models]
    fig.legend(handles=handles, loc="outside right upper", fontsize=8, frameon=False)


def _headline_key(summary: dict) -> tuple[str, str]:
    mod, mapping = summary["modalities"][0], summary["mappings"][0]
    return f"{mod}.{mapping}.median", f"median % of ceiling over areas ({mod}, {mapping})"


def transfer_figure(summary: dict) -> Any:
    """Median % of ceiling over areas against each transfer task's best-layer readout."""
    import matplotlib.pyplot as plt

    tasks = summary["transfer_tasks"]
    key, ylabel = _headline_key(summary)
    fig, axes = plt.subplots(
        1, max(len(tasks), 1), figsize=(3.2 * max(len(tasks), 1) + 2, 3.4), squeeze=False,
        layout="constrained",
    )  # fmt: skip
    for ax, task in zip(axes[0], tasks, strict=False):
        _scatter(ax, summary["rows"], f"transfer.{task}", key, summary)
        metric = next(
            (r.get(f"transfer.{task}.metric") for r in summary["runs"] if r.get(f"transfer.{task}.metric")),
            "",
        )  # fmt: skip
        ax.set_xlabel(f"transfer {task} ({metric})")
        ax.set_ylabel(ylabel if ax is axes[0][0] else "")
    _legend(fig, summary)
    return fig


def resolution_figure(summary: dict) -> Any:
    """Median % of ceiling against image size, one line per architecture and objective, one
    panel per modality (first mapping class)."""
    import matplotlib.pyplot as plt

    mods, mapping = summary["modalities"], summary["mappings"][0]
    colour = _colours(list(summary["objectives"]))
    marker = _markers(list(summary["models"]))
    fig, axes = plt.subplots(
        1, len(mods), figsize=(3.6 * len(mods) + 2, 3.4), squeeze=False, layout="constrained"
    )
    for ax, mod in zip(axes[0], mods, strict=True):
        key = f"{mod}.{mapping}.median"
        pairs: dict[tuple[str, str], list[dict]] = {}
        for r in summary["rows"]:
            pairs.setdefault((r["model"], r["objective"]), []).append(r)
        for (model, objective), group in pairs.items():
            group = sorted(
                (g for g in group if g.get(key) is not None), key=lambda g: g["resolution"]
            )
            if not group:
                continue
            ax.errorbar(
                [g["resolution"] for g in group], [g[key] for g in group],
                yerr=[g.get(f"{key}_sd") or 0 for g in group], marker=marker[model],
                color=colour[objective], capsize=2, alpha=0.85,
                ls="-" if len(group) > 1 else "",
            )  # fmt: skip
        ax.set_xscale("log", base=2)
        ax.set_xticks(summary["resolutions"], [str(s) for s in summary["resolutions"]])
        ax.set_xlabel("image size (px)")
        ax.set_ylabel(f"median % of ceiling ({mod}, {mapping})")
    _legend(fig, summary)
    return fig


def size_figure(summary: dict) -> Any:
    """Median % of ceiling over areas against the number of parameters."""
    import matplotlib.pyplot as plt

    key, ylabel = _headline_key(summary)
    fig, ax = plt.subplots(figsize=(6, 3.6), layout="constrained")
    _scatter(ax, summary["rows"], "parameters", key, summary)
    ax.set_xscale("log")
    ax.set_xlabel("parameters (trained module, heads included)")
    ax.set_ylabel(ylabel)
    _legend(fig, summary)
    return fig


FIGURES = [
    ("areas.png", area_figure, "Predictivity per area and model: the best layer's "
     "noise-corrected predictivity as % of the pooled inter-animal ceiling of the same mapping "
     "class, per simulated mouse area; mean over seeds."),
    ("transfer.png", transfer_figure, "Predictivity against transfer: median % of ceiling over "
     "the areas against the best layer's linear readout on each transfer task (colour: "
     "objective; marker: architecture; bars: s.d. over seeds)."),
    ("resolution.png", resolution_figure, "The resolution effect: the same architecture and "
     "objective trained at each image size."),
    ("size.png", size_figure, "Predictivity against model size."),
]  # fmt: skip


def mouse_columns(summary: dict) -> tuple[list[str], list[list[str]]]:
    """The main table: one row per cell, medians per modality and mapping, transfer."""
    cols = ["model", "objective", "size", "params", "seeds", "own held-out metric"]
    keys = [
        (f"{m}.{p}.median", f"{m} {p} median %")
        for m in summary["modalities"]
        for p in summary["mappings"]
    ]
    keys += [(f"transfer.{t}", f"transfer {t}") for t in summary["transfer_tasks"]]
    cols += [name for _, name in keys]
    out = []
    for r in summary["rows"]:
        line = [
            r["model"], r["objective"], str(r["resolution"]),
            f"{r['parameters']:,}" if r.get("parameters") else "n/a", str(r["n_seeds"]),
            f"{r['headline']} {_fmt(r.get('headline_value'), '.3f', r.get('headline_value_sd'))}",
        ]  # fmt: skip
        for key, _ in keys:
            line.append(
                _fmt(r.get(key), ".3f" if key.startswith("transfer") else ".1f", r.get(f"{key}_sd"))
            )
        out.append(line)
    return cols, out


def area_columns(summary: dict, modality: str, mapping: str) -> tuple[list[str], list[list[str]]]:
    """Per cell and area: % of ceiling (mean ± s.d. over seeds)."""
    cols = ["model / objective / size", *summary["areas"]]
    out = []
    for r in summary["rows"]:
        out.append(
            [_label(r)]
            + [
                _fmt(
                    r.get(f"{modality}.{mapping}.{a}"), ".1f", r.get(f"{modality}.{mapping}.{a}_sd")
                )
                for a in summary["areas"]
            ]
        )
    return cols, out


_HTML = """{% extends "_base.html" %}
{% block style %}
  body { max-width: 1400px; }
  td { text-align: right; } td:first-child { text-align: left; }
{% endblock %}
{% block body %}
<header>
  <h1>{{ title }}</h1>
  <p class="meta">brainlike {{ version }}. Mouse suite (spec: mouse-and-entorhinal.md §1):
  {{ n_runs }} runs = {{ n_cells }} cells x seeds {{ seeds }}; base overrides: {{ overrides }}.
  Benchmark: {{ benchmark }}. Every figure is embedded; all numbers are in summary.json.</p>
</header>
<section>
  <h2>Runs</h2>
  <table><thead><tr>{% for c in columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
  <tbody>{% for row in rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
</section>
{% for f in figures %}
<figure><img src="{{ f.uri }}" alt="{{ f.name }}"><figcaption>{{ f.caption }}</figcaption></figure>
{% endfor %}
{% for t in area_tables %}
<section>
  <h3>% of ceiling per area: {{ t.modality }}, {{ t.mapping }}</h3>
  <table><thead><tr>{% for c in t.columns %}<th>{{ c }}</th>{% endfor %}</tr></thead>
  <tbody>{% for row in t.rows %}<tr>{% for c in row %}<td>{{ c }}</td>{% endfor %}</tr>{% endfor %}</tbody></table>
</section>
{% endfor %}
<section>
  <h2>What the numbers are</h2>
  <ul>{% for k, v in conventions %}<li><b>{{ k }}</b>: {{ v }}</li>{% endfor %}</ul>
</section>
{% endblock %}
"""


def write_mouse_report(out: Path, summary: dict) -> Path:
    """Write ``comparison.csv`` (one row per run), the four figures and ``report.html``."""
    from brainlike import __version__
    from brainlike.report.html import report_environment

    figures = csv_and_figures(out, summary, FIGURES, REPORT_DPI)
    columns, rows = mouse_columns(summary)
    tables = []
    for mod in summary["modalities"]:
        for mapping in summary["mappings"]:
            c, r = area_columns(summary, mod, mapping)
            tables.append({"modality": mod, "mapping": mapping, "columns": c, "rows": r})
    b = summary["benchmark"]
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
            benchmark=(
                f"{b['brain']} (seed {b['brain_seed']}) as ground truth, {b['animals']} animals x "
                f"{b['neuroids']} neurons per area, {b['trials']} trials, modalities "
                f"{', '.join(b['modalities'])}"
            ),
            columns=columns,
            rows=rows,
            figures=figures,
            area_tables=tables,
            conventions=list(summary["conventions"].items()),
        )
    )
    path = out / "report.html"
    path.write_text(html, encoding="utf-8")
    return path
