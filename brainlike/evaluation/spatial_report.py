"""The spatial gallery: one standalone HTML page of a spatial analysis.

The units with the highest grid scores (rate map and autocorrelogram each) and the highest
border scores, histograms of the grid and border scores against the pooled circular-shift
null (spec: mouse-and-entorhinal.md §2-3), and the fractions of grid and border cells. Every
figure is embedded as a data URI; names from the data (session, unit ids) are escaped.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from brainlike.evaluation.spatial_analysis import SpatialAnalysis

__all__ = ["TOP_UNITS", "write_spatial_html"]

TOP_UNITS = 8  #: units shown per gallery row
_DPI = 90

_HTML = """{% extends "_base.html" %}
{% block style %}
  td { text-align: right; } td:first-child { text-align: left; }
{% endblock %}
{% block body %}
<header>
  <h1>{{ title }}</h1>
  <p class="meta">brainlike {{ version }}. Spatial analysis (spec: mouse-and-entorhinal.md
  §2-3) of {{ kind }} {{ name }} ({{ source }}): {{ n_units }} units. Every figure is embedded;
  all numbers are in spatial.json, the maps in spatial_maps.npz.</p>
  {% for note in notes %}<p class="note">{{ note }}</p>{% endfor %}
</header>
<section id="fractions">
  <h2>Grid and border cells</h2>
  <table>
    <thead><tr><th>cell type</th><th>fixed threshold</th><th>fraction above it</th>
    <th>fraction above the {{ percentile }}th-percentile null</th><th>both</th>
    <th>units scored / all</th></tr></thead>
    <tbody>
    {% for row in fractions %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
    {% endfor %}
    </tbody>
  </table>
  <table>
    <thead><tr><th>score</th><th>median</th><th>median of the pooled null</th></tr></thead>
    <tbody>
    {% for row in medians %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
    {% endfor %}
    </tbody>
  </table>
  <p>Conventions: {{ conventions }}</p>
</section>
{% for fig in figures %}
<section id="{{ fig.key }}">
  <h2>{{ fig.title }}</h2>
  <figure><img alt="{{ fig.title }}" src="{{ fig.uri }}"><figcaption>{{ fig.caption }}</figcaption></figure>
</section>
{% endfor %}
{% endblock %}
"""


def _fmt(value: Any, digits: int = 3) -> str:
    if value is None:
        return "-"
    value = float(value)
    return f"{value:.{digits}f}" if np.isfinite(value) else "-"


def _top(values: np.ndarray, k: int) -> np.ndarray:
    finite = np.flatnonzero(np.isfinite(values))
    return finite[np.argsort(-values[finite], kind="stable")][:k]


def _gallery(analysis: SpatialAnalysis, order: np.ndarray, score: str, sacs: np.ndarray | None):
    from brainlike.report.figures import new_figure, plain_text

    rows = 2 if sacs is not None else 1
    cols = max(len(order), 1)
    fig = new_figure(1.7 * cols, 1.9 * rows)
    thr = analysis.null_thresholds().get(score)
    for j, i in enumerate(order):
        ax = fig.add_subplot(rows, cols, j + 1)
        ax.imshow(analysis.maps[i], origin="lower", cmap="jet", interpolation="nearest")
        null = "" if thr is None else f" / {_fmt(thr[i], 2)}"
        label = f"{analysis.unit_ids[i]}\n{score} {_fmt(analysis.scores[score][i], 2)}{null}"
        ax.set_title(plain_text(label), fontsize=7)
        ax.set_axis_off()
        if sacs is not None:
            ax = fig.add_subplot(rows, cols, cols + j + 1)
            ax.imshow(sacs[i], origin="lower", cmap="jet", vmin=-1, vmax=1)
            ax.set_axis_off()
    fig.tight_layout()
    return fig


def _histograms(analysis: SpatialAnalysis):
    from brainlike.evaluation.spatial_analysis import BORDER_THRESHOLD, GRID_THRESHOLD
    from brainlike.report.figures import new_figure

    fig = new_figure(9, 3.2)
    for k, (name, fixed) in enumerate((("grid", GRID_THRESHOLD), ("border", BORDER_THRESHOLD))):
        ax = fig.add_subplot(1, 2, k + 1)
        obs = analysis.scores[name][np.isfinite(analysis.scores[name])]
        null = None
        if analysis.nulls is not None and name in analysis.nulls.scores:
            null = analysis.nulls.scores[name].null.ravel()
            null = null[np.isfinite(null)]
        pooled = np.concatenate([obs] + ([null] if null is not None else []))
        bins = np.linspace(pooled.min(), pooled.max(), 31) if pooled.size else 10
        if null is not None and null.size:
            ax.hist(null, bins=bins, density=True, color="0.6", alpha=0.6, label="shuffle null")
        if obs.size:
            ax.hist(obs, bins=bins, density=True, histtype="step", color="C3", lw=2, label="units")
        ax.axvline(fixed, color="k", ls="--", lw=1, label=f"threshold {fixed:g}")
        ax.set_xlabel(f"{name} score")
        ax.set_ylabel("density")
        ax.legend(fontsize="small", frameon=False)
    fig.tight_layout()
    return fig


def write_spatial_html(analysis: SpatialAnalysis, path: Path, sacs: np.ndarray) -> Path:
    """Write the gallery of ``analysis`` to ``path`` (autocorrelograms ``sacs`` (N, h, w))."""
    from brainlike import __version__
    from brainlike.evaluation.spatial_analysis import NULL_PERCENTILE
    from brainlike.report.figures import save_figure
    from brainlike.report.html import data_uri, report_environment

    grid_top = _top(analysis.scores["grid"], TOP_UNITS)
    border_top = _top(analysis.scores["border"], TOP_UNITS)
    specs = [
        (
            "grid",
            "Highest grid scores",
            _gallery(analysis, grid_top, "grid", sacs),
            "Rate maps (top) and autocorrelograms (bottom) of the units with the highest grid "
            f"scores (mean over annuli); after the score, the unit's {NULL_PERCENTILE:g}th-"
            "percentile shuffle null.",
        ),
        (
            "border",
            "Highest border scores",
            _gallery(analysis, border_top, "border", None),
            "Rate maps of the units with the highest border scores (and their null).",
        ),
        (
            "histograms",
            "Scores against the shuffle null",
            _histograms(analysis),
            "Grid and border scores of all units against the pooled circular-shift null of all "
            "units; dashed: the fixed thresholds.",
        ),
    ]
    figures = []
    with tempfile.TemporaryDirectory() as tmp:
        for key, title, fig, caption in specs:
            png = save_figure(fig, Path(tmp) / f"{key}.png", dpi=_DPI)
            figures.append({"key": key, "title": title, "uri": data_uri(png), "caption": caption})
    fractions = [
        [
            name,
            _fmt(f["threshold_value"], 2),
            _fmt(f["threshold"]),
            _fmt(f["null95"]),
            _fmt(f["both"]),
            f"{f['n_scored']} / {f['n_units']}",
        ]
        for name, f in analysis.fractions.items()
    ]
    medians = [
        [name, _fmt(m["median"]), _fmt(m["null_median"])] for name, m in analysis.medians().items()
    ]
    c = analysis.conventions
    conventions = (
        f"bins {c['bin_cm']:g} cm, smoothing {c['smooth_cm']:g} cm, min occupancy "
        f"{c['min_occupancy']:g} {c['min_occupancy_unit']}, {c['shuffles']} shuffles "
        f"(min shift {_fmt(c['min_shift_s'], 1)} s), grid = {c['grid']}, "
        f"grid_minmax = {c['grid_minmax']}"
    )
    html = (
        report_environment()
        .from_string(_HTML)
        .render(
            title=f"Spatial analysis: {analysis.name}",
            version=__version__,
            kind=analysis.kind,
            name=analysis.name,
            source=analysis.source,
            n_units=len(analysis.unit_ids),
            notes=analysis.notes,
            percentile=f"{NULL_PERCENTILE:g}",
            fractions=fractions,
            medians=medians,
            conventions=conventions,
            figures=figures,
        )
    )
    path.write_text(html, encoding="utf-8")
    return path
