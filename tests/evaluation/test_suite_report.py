"""A suite's report figures: they fit 1280 px, show the right spread, and their legends cover
nothing."""

from __future__ import annotations

import numpy as np
import pytest


def _fake_rows(n_runs: int, regions=("V1", "IT")) -> list[dict]:
    rows = []
    for k in range(n_runs):
        row = {"run": f"a-very-long-run-name-{k}", "recipe": f"r{k // 3}", "seed": k % 3}
        for j, g in enumerate(regions):
            row.update({f"{g}_pct": 40.0 + 5 * j + k, f"{g}_sem": 0.02, f"{g}_ceiling": 0.5})
        row.update(test_acc=0.9, i2n_ceiled=0.5 + 0.01 * k, error_kappa=0.1)
        rows.append(row)
    return rows


def _drawn(fig):
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    return fig


def test_suite_figure_fits_1280_px_and_shows_the_spread_over_seeds(tmp_path):
    from PIL import Image

    from brainlike.evaluation.suite_report import _plot, suite_figure
    from brainlike.evaluation.suites import _over_seeds

    rows = _fake_rows(24)  # 8 recipes x 3 seeds, as `--seeds 0,1,2` on the shipped suite
    recipes = _over_seeds(rows, ["V1", "IT"])
    fig = _drawn(suite_figure(rows, ["V1", "IT"], recipes))
    ax = fig.axes[0]
    bars = [c for c in ax.containers if hasattr(c, "errorbar")]
    assert len(bars) == 8  # one bar group per recipe, each with error bars
    # V1 bar of recipe r0: mean of 40, 41, 42 with s.d. 1 -> the error bar spans 40 to 42
    segment = bars[0].errorbar.lines[2][0].get_segments()[0]
    assert segment[:, 1] == pytest.approx([40.0, 42.0])
    path = _plot(tmp_path / "c.png", rows, ["V1", "IT"], recipes)
    assert Image.open(path).size[0] <= 1280
    # the legend lies outside the axes: it covers no bar
    legend = fig.legends[0].get_window_extent()
    assert not legend.overlaps(ax.get_window_extent())


def test_suite_figure_of_single_seed_runs_shows_each_scores_error():
    from brainlike.evaluation.suite_report import suite_figure

    rows = _fake_rows(3)
    fig = _drawn(suite_figure(rows, ["V1", "IT"], [{"recipe": "x", "n_seeds": 1}]))
    bars = [c for c in fig.axes[0].containers if hasattr(c, "errorbar")]
    # s.e.m. 0.02 on a ceiling of 0.5 is 4 % of the ceiling either side of 40 %
    segment = bars[0].errorbar.lines[2][0].get_segments()[0]
    assert segment[:, 1] == pytest.approx([36.0, 44.0])
    assert fig.get_size_inches()[0] * fig.dpi <= 1280


def test_temporal_suite_figure_fits_1280_px_and_its_legend_covers_no_curve():
    from brainlike.evaluation.suite_report import temporal_suite_figure

    rows = []
    for k in range(4):
        row = {"run": f"convrnn6-{k}-digits", "units": 1000 * (k + 1), "test_acc": 0.8}
        row["pareto"] = k == 0
        for g in ("V4", "IT"):
            row[f"{g}_pct_per_bin"] = list(np.linspace(0, 100, 26) * (k + 1) / 4)
        rows.append(row)
    fig = _drawn(temporal_suite_figure(rows, ["V4", "IT"]))
    assert fig.get_size_inches()[0] * fig.dpi <= 1280
    legend = fig.legends[0].get_window_extent()
    for ax in fig.axes:
        for line in ax.get_lines():
            points = ax.transData.transform(line.get_xydata())
            inside = (
                (points[:, 0] >= legend.x0)
                & (points[:, 0] <= legend.x1)
                & (points[:, 1] >= legend.y0)
                & (points[:, 1] <= legend.y1)
            )
            assert not inside.any()


def test_report_without_its_figure_has_no_broken_image(tmp_path):
    from brainlike.evaluation.suite_report import _write_html

    summary = {"suite": "s", "regions": ["V1", "IT"], "rows": _fake_rows(2)}
    html = _write_html(tmp_path / "report.html", summary, "caption").read_text()
    assert "<img" not in html and html.count("a-very-long-run-name-") == 2
    (tmp_path / "comparison.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    html = _write_html(tmp_path / "report.html", summary, "caption").read_text()
    assert html.count('<img alt="comparison" src="data:image/png;base64,') == 1
