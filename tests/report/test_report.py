"""Tests of figures, the preference movie and the HTML report, on tiny synthetic runs."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from brainlike.report.figures import (
    METRIC_TITLES,
    RULE_SERIES,
    class_colours,
    plot_dprime_maps,
    plot_layer_history,
    plot_learning_curves,
    plot_metric_history,
    plot_preference_map,
    plot_smoothness_curve,
    preference_rgb,
    save_figure,
)
from brainlike.report.html import write_report
from brainlike.report.movie import write_preference_movie

N_SNAPSHOTS, N_CLASSES, SIDE = 4, 3, 8
MALICIOUS = "<script>alert(1)</script>"


def _class_dprime(class_means: np.ndarray, target_sets=None) -> np.ndarray:
    """Class-mean d' of each class against the rest (spec: topography.md, d' map)."""
    means = np.asarray(class_means, dtype=float)
    sets = target_sets or [[c] for c in range(means.shape[0])]
    maps = []
    for members in sets:
        rest = np.delete(means, members, axis=0)
        target = means[members]
        spread = target.std(axis=0) + rest.std(axis=0)
        dprime = np.zeros(means.shape[1:])
        np.divide(2 * (target.mean(0) - rest.mean(0)), spread, out=dprime, where=spread > 0)
        maps.append(dprime)
    return np.stack(maps)


def _preference(dprimes: np.ndarray, threshold: float = 2.0) -> np.ndarray:
    labels = np.argmax(dprimes, axis=0)
    labels[np.max(dprimes, axis=0) < threshold] = -1
    return labels


@pytest.fixture
def fake_analysis(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """Stand in for brainlike.analysis.topography so these tests do not depend on it."""
    module = types.ModuleType("brainlike.analysis.topography")
    module.dprime_maps = _class_dprime
    module.preference_map = _preference
    module.trial_calls = []

    def trial_dprime_maps(means, variances, counts, target_sets=None):
        module.trial_calls.append(np.asarray(counts).tolist())
        return _class_dprime(means, target_sets)

    module.trial_dprime_maps = trial_dprime_maps

    def topography_summary(*args, **kwargs):
        raise AssertionError("the report must read topography.json, not recompute it")

    module.topography_summary = topography_summary
    monkeypatch.setitem(sys.modules, "brainlike.analysis.topography", module)
    return module


def _metric(value: float, null_mean: float, p: float) -> dict:
    return {
        "value": value,
        "null_mean": null_mean,
        "null_std": 0.1,
        "p_value": p,
        "n_shuffles": 10,
        "null": [null_mean] * 10,
    }


def _make_run(
    directory: Path,
    class_names=("zero", "one", "two"),
    *,
    with_topography: bool = True,
    n_snapshots: int = N_SNAPSHOTS,
    side: int = SIDE,
    seed: int = 0,
    settings: dict | None = None,
) -> Path:
    """Write a synthetic run: class c grows a vertical stripe of the map over training."""
    rng = np.random.default_rng(seed)
    n_classes = len(class_names)
    directory.mkdir(parents=True)
    stripe = (np.arange(side) * n_classes // side)[None, :].repeat(side, axis=0)
    means = rng.normal(0, 0.3, (n_snapshots, n_classes, side, side)).astype(np.float32)
    for s in range(n_snapshots):
        for c in range(n_classes):
            means[s, c] += 2.0 * s * (stripe == c)
    np.savez(
        directory / "snapshots.npz",
        means=means,
        vars=np.ones_like(means),
        counts=np.full((n_snapshots, n_classes), 20),
        step=np.arange(n_snapshots) * 100,
        epoch=np.arange(n_snapshots, dtype=float) * 0.5,
        accuracy=np.r_[np.nan, np.linspace(0.5, 0.9, n_snapshots - 1)],
        class_names=np.array(class_names, dtype=str),
        tile=np.array(4),
    )
    (directory / "config.yaml").write_text(
        f"model: reset\ngrid: {side}\nnote: '{MALICIOUS}'\n", encoding="utf-8"
    )
    with open(directory / "metrics.jsonl", "w", encoding="utf-8") as file:
        for epoch in (1, 2):
            record = {
                "epoch": epoch,
                "train_loss": 1.0 / epoch,
                "train_acc": 0.6 + 0.1 * epoch,
                "test_loss": 1.1 / epoch,
                "test_acc": 0.55 + 0.1 * epoch,
                "seconds": 3.0,
            }
            file.write(json.dumps(record) + "\n")
    if with_topography:
        snapshots = []
        for s in range(n_snapshots):
            snapshots.append(
                {
                    "epoch": 0.5 * s,
                    "step": 100 * s,
                    "accuracy": float("nan") if s == 0 else 0.5 + 0.1 * s,
                    "fraction_selective": 0.2 * s,
                    "clustering_index": _metric(1.0 + s, 1.5, 0.5 if s < 2 else 0.01),
                    "neighbour_agreement": _metric(0.3 + 0.1 * s, 0.33, 0.02),
                    "neighbour_agreement_chance": 0.33,
                    "morans_i": _metric(0.1 * s, 0.0, 0.04),
                    "smoothness": _metric(0.2 * s, 0.05, 0.2),
                    "smoothness_curve": {
                        "distance": [1, 2, 3, 4],
                        "correlation": [0.7, 0.5, float("nan"), 0.1],
                        "null_correlation": [0.1, 0.1, 0.1, 0.1],
                    },
                    "density": {"zero": 1.5, "one": {"value": 2.0, "null_mean": 1.0}},
                }
            )
        settings = {"threshold": 2.0, "null": "pixel", **(settings or {})}
        topography = {"settings": settings, "snapshots": snapshots}
        (directory / "topography.json").write_text(json.dumps(topography), encoding="utf-8")
    (directory / "summary.json").write_text(
        json.dumps({"test_acc": 0.75, "nested": {"depth": 2, "list": [1, 2]}, "tag": MALICIOUS}),
        encoding="utf-8",
    )
    return directory


def _img_sources(html: str) -> list[str]:
    return re.findall(r"<img[^>]*\ssrc=\"([^\"]*)\"", html)


# ---------------------------------------------------------------------------------------------
# figures


def test_preference_rgb_white_for_no_preference_and_class_colours() -> None:
    labels = np.array([[-1, 0], [1, 2]])
    rgb = preference_rgb(labels, 3)
    np.testing.assert_allclose(rgb[0, 0], [1, 1, 1])
    np.testing.assert_allclose(rgb[[0, 1, 1], [1, 0, 1]], class_colours(3))
    assert len({tuple(c) for c in class_colours(20)}) == 20
    assert class_colours(100).shape == (100, 3)
    with pytest.raises(ValueError, match=r"\[-1, 2\]"):
        preference_rgb(np.array([[3]]), 3)


def test_figures_draw_and_save(tmp_path: Path) -> None:
    labels = np.full((8, 8), -1)
    labels[:4, :4] = 0
    labels[4:, 4:] = 2
    metrics = [
        {"epoch": e, "train_loss": 1 / e, "train_acc": 0.5, "test_loss": 1, "test_acc": 0.4}
        for e in (1, 2, 3)
    ]
    dprimes = np.random.default_rng(0).normal(0, 2, (3, 8, 8))
    history = {
        "snapshots": [
            {"epoch": s, "clustering_index": _metric(1 + s, 1.5, 0.01), "fraction_selective": 0.1}
            for s in range(3)
        ]
    }
    curve = {"distance": [1, 2], "correlation": [0.5, 0.1], "null_correlation": [0.0, 0.0]}
    figures = {
        "curves.png": plot_learning_curves(metrics),
        "pref.png": plot_preference_map(labels, ["a", "$b", MALICIOUS], tile=4),
        "dprime.png": plot_dprime_maps(dprimes, ["a", "b", "c"], 2.0),
        "history.png": plot_metric_history(history, ("clustering_index", "fraction_selective")),
        "smooth.png": plot_smoothness_curve(curve),
    }
    for name, fig in figures.items():
        path = save_figure(fig, tmp_path / "sub" / name)
        with Image.open(path) as image:
            assert image.format == "PNG" and image.size[0] > 100
    with pytest.raises(ValueError, match="none of the metrics"):
        plot_metric_history(history, ("morans_i",))


# ---------------------------------------------------------------------------------------------
# movie


def test_movie_has_one_frame_per_snapshot(tmp_path: Path, fake_analysis) -> None:
    run = _make_run(tmp_path / "run")
    with np.load(run / "snapshots.npz") as archive:
        snapshots = {k: archive[k] for k in archive.files}
    topography = json.loads((run / "topography.json").read_text())
    path = write_preference_movie(snapshots, topography, tmp_path / "movie.gif", fps=5)
    with Image.open(path) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == N_SNAPSHOTS
        assert gif.size == (1000, 480)
    with pytest.raises(ValueError, match="one per snapshot"):
        write_preference_movie(
            snapshots, {"snapshots": topography["snapshots"][:2]}, tmp_path / "bad.gif"
        )


def test_movie_text_is_readable(tmp_path: Path, fake_analysis) -> None:
    run = _make_run(tmp_path / "run")
    with np.load(run / "snapshots.npz") as archive:
        snapshots = {k: archive[k] for k in archive.files}
    topography = json.loads((run / "topography.json").read_text())
    path = write_preference_movie(snapshots, topography, tmp_path / "m.gif", title="tiny-run")
    with Image.open(path) as gif:
        gif.seek(N_SNAPSHOTS - 1)
        frame = np.asarray(gif.convert("L"))
    assert frame.shape[1] >= 960  # wide enough to read in a report
    # the heading line ("tiny-run · epoch ... · step ...") sits alone in the top band: from the
    # top of its tallest letter to the bottom of 'p' and 'y' it spans at least 14 px
    band = frame[: frame.shape[0] // 10, : frame.shape[1] // 2] < 128
    rows = np.flatnonzero(band.any(axis=1))
    assert rows.size and rows[-1] - rows[0] + 1 >= 14


# ---------------------------------------------------------------------------------------------
# HTML report


def test_single_run_report_is_self_contained(tmp_path: Path, fake_analysis) -> None:
    run = _make_run(tmp_path / "plain")
    path = write_report([run])
    assert path == run / "report" / "report.html"
    html = path.read_text(encoding="utf-8")
    sources = _img_sources(html)
    assert len(sources) == 6  # 5 figures + movie
    assert "Learning rule" not in html  # trained by backprop: no learning-rule figures
    assert all(src.startswith("data:image/") for src in sources)
    assert not re.search(r"(src|href)=\"(https?:)?//", html)
    assert "<link" not in html and "<script" not in html
    folder = run / "report" / "plain"
    for name in (
        "learning_curves.png",
        "preference_map.png",
        "dprime_maps.png",
        "metric_history.png",
        "smoothness_curve.png",
    ):
        with Image.open(folder / name) as image:
            assert image.format == "PNG"
    with Image.open(folder / "movie.gif") as gif:
        assert gif.n_frames == N_SNAPSHOTS
    # the final-snapshot metric with its null and p-value, significant ones in bold
    assert "4 (null 1.5 ± 0.1, p = 0.01)" in html
    assert '<td class="significant">4 (null 1.5' in html
    assert "75.0%" in html  # final test accuracy from metrics.jsonl
    assert "nested.depth" in html and "nested.list" not in html  # flat summary table
    assert "density.one" in html
    assert "clustering index is only meaningful" in html  # 60 % selective > 50 %


def test_malicious_names_are_escaped(tmp_path: Path, fake_analysis) -> None:
    run = _make_run(tmp_path / "a&<b>", class_names=("zero", MALICIOUS, "two"))
    path = write_report([run], tmp_path / "out", names=[MALICIOUS], title=MALICIOUS)
    html = path.read_text(encoding="utf-8")
    assert MALICIOUS not in html
    assert "<script" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    # the config is shown verbatim (escaped) in a <pre>
    assert "note: &#39;&lt;script&gt;alert(1)&lt;/script&gt;&#39;" in html
    # the run folder name is sanitised
    assert (tmp_path / "out" / "script-alert-1-script" / "movie.gif").is_file()
    # default name from a directory with markup characters
    html = write_report([run], tmp_path / "out2").read_text(encoding="utf-8")
    assert "a&amp;&lt;b&gt;" in html and "a&<b>" not in html


def test_comparison_of_two_runs_has_one_table(tmp_path: Path, fake_analysis) -> None:
    plain = _make_run(tmp_path / "runs" / "plain")
    spatial = _make_run(tmp_path / "runs" / "spatial", seed=1)
    path = write_report([plain, spatial])
    assert path == tmp_path / "runs" / "comparison_report" / "report.html"
    html = path.read_text(encoding="utf-8")
    assert html.count('<table class="comparison">') == 1
    header = re.search(r"<table class=\"comparison\">\s*<thead>(.*?)</thead>", html, re.S)
    assert header and "plain" in header.group(1) and "spatial" in header.group(1)
    assert "plain vs spatial" in html
    for name in ("plain", "spatial"):
        with Image.open(path.parent / name / "movie.gif") as gif:
            assert gif.n_frames == N_SNAPSHOTS
    assert len(_img_sources(html)) == 12


def test_target_sets_and_trial_dprime_follow_the_settings(tmp_path: Path, fake_analysis) -> None:
    settings = {"dprime": "trial", "target_sets": {"low": [0, 1], "high": [2]}}
    run = _make_run(tmp_path / "sets", settings=settings)
    topography = json.loads((run / "topography.json").read_text())
    for snapshot in topography["snapshots"]:
        snapshot["density"] = [
            {"target_set": [0, 1], "sum": 3.0, "fraction_in_preferring": 0.5},
            {"target_set": [2], "sum": 1.0, "fraction_in_preferring": 0.25},
        ]
    (run / "topography.json").write_text(json.dumps(topography))
    html = write_report([run], tmp_path / "out").read_text(encoding="utf-8")
    # one trial-level d' per snapshot for the movie and one for the final d' maps
    assert len(fake_analysis.trial_calls) == N_SNAPSHOTS + 1
    assert fake_analysis.trial_calls[0] == [20, 20, 20]
    assert "density low.fraction in preferring" in html
    assert "Trial-level d&#39; map of each target set" in html


def test_missing_metrics_names_the_file(tmp_path: Path, fake_analysis) -> None:
    run = _make_run(tmp_path / "run")
    (run / "metrics.jsonl").unlink()
    with pytest.raises(FileNotFoundError, match=r"metrics\.jsonl.*one JSON object per epoch"):
        write_report([run], tmp_path / "out")


def test_corrupt_inputs_name_the_file(tmp_path: Path, fake_analysis) -> None:
    run = _make_run(tmp_path / "run")
    with open(run / "metrics.jsonl", "a", encoding="utf-8") as file:
        file.write("{not json\n")
    with pytest.raises(ValueError, match=r"metrics\.jsonl, line 3: not valid JSON"):
        write_report([run], tmp_path / "out")

    run = _make_run(tmp_path / "run2")
    (run / "metrics.jsonl").write_text('{"epoch": 1, "train_loss": 0.5}\n')
    with pytest.raises(ValueError, match=r"line 1: missing \['train_acc'"):
        write_report([run], tmp_path / "out")

    run = _make_run(tmp_path / "run3")
    topography = json.loads((run / "topography.json").read_text())
    topography["snapshots"] = topography["snapshots"][:2]
    (run / "topography.json").write_text(json.dumps(topography))
    with pytest.raises(ValueError, match="topography.json has 2 snapshots but snapshots.npz has 4"):
        write_report([run], tmp_path / "out")

    run = _make_run(tmp_path / "run4")
    (run / "snapshots.npz").write_bytes(b"not a zip")
    with pytest.raises(ValueError, match=r"snapshots\.npz is not a readable \.npz"):
        write_report([run], tmp_path / "out")

    run = _make_run(tmp_path / "run5")
    np.savez(run / "snapshots.npz", means=np.zeros((2, 3, 4, 4)), step=np.arange(2))
    with pytest.raises(ValueError, match=r"lacks \['epoch', 'class_names'\]"):
        write_report([run], tmp_path / "out")

    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report([tmp_path / "nowhere"], tmp_path / "out")

    run = _make_run(tmp_path / "run6")
    (run / "config.yaml").write_text("a: [1, 2\n")
    with pytest.raises(ValueError, match=r"config\.yaml is not valid YAML"):
        write_report([run], tmp_path / "out")


def test_report_computes_topography_when_absent(tmp_path: Path) -> None:
    pytest.importorskip("brainlike.analysis.topography")
    run = _make_run(tmp_path / "run", with_topography=False)
    path = write_report([run], n_shuffles=5)
    computed = json.loads((path.parent / "run" / "topography.json").read_text())
    assert len(computed["snapshots"]) == N_SNAPSHOTS
    assert computed["settings"]["n_shuffles"] == 5
    assert "computed by the report" in path.read_text(encoding="utf-8")
    assert yaml.safe_load((run / "config.yaml").read_text())["model"] == "reset"


def test_nothing_is_written_for_a_missing_run(tmp_path: Path, fake_analysis) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        write_report([missing])
    assert not missing.exists()


# ---------------------------------------------------------------------------------------------
# figure layout: fits a 1280 px window, legends clear of the curves


def _vertices_under_legends(fig) -> int:
    """How many data points of the figure's lines fall inside one of its legends."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig).draw()
    legends = [*fig.legends, *(ax.get_legend() for ax in fig.axes if ax.get_legend())]
    boxes = [legend.get_window_extent() for legend in legends]
    count = 0
    for ax in fig.axes:
        for line in ax.get_lines():
            xy = line.get_xydata()
            xy = xy[np.isfinite(xy).all(axis=1)]
            if not len(xy):
                continue
            px = ax.transData.transform(xy)
            for box in boxes:
                count += int(
                    (
                        (px[:, 0] >= box.x0)
                        & (px[:, 0] <= box.x1)
                        & (px[:, 1] >= box.y0)
                        & (px[:, 1] <= box.y1)
                    ).sum()
                )
    return count


def test_run_report_figures_fit_1280_px_and_legends_cover_no_curve(
    tmp_path: Path, fake_analysis
) -> None:
    run = _make_run(tmp_path / "run")
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    history = json.loads((run / "topography.json").read_text())
    curve = history["snapshots"][-1]["smoothness_curve"]
    for fig in (
        plot_learning_curves(metrics),
        plot_metric_history(history, list(METRIC_TITLES)),
        plot_smoothness_curve(curve),
    ):
        assert _vertices_under_legends(fig) == 0
    path = write_report([run])
    for png in (path.parent / "run").glob("*.png"):
        with Image.open(png) as image:
            assert image.size[0] <= 1280, png.name


def _add_rule_diagnostics(run: Path, update: bool) -> list[dict]:
    """Give a run's epochs what a learning rule records: per-layer angle and norm ratio."""
    path = run / "metrics.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    for r in rows:
        e = r["epoch"]
        r["rule_angle_deg"] = {"features.0": 80.0 - 10 * e, "fc": 85.0 - e}
        r["rule_norm_ratio"] = {"features.0": 1.0 + 0.1 * e, "fc": 0.5}
        if update:
            r["rule_update_angle_deg"] = {"features.0": 40.0, "fc": 30.0 + e}
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def test_rule_run_report_shows_alignment_per_layer(tmp_path: Path, fake_analysis) -> None:
    # (a backprop run records none of these: test_single_run_report_is_self_contained)
    run = _make_run(tmp_path / "fa")
    rows = _add_rule_diagnostics(run, update=True)
    html = write_report([run]).read_text(encoding="utf-8")
    assert len(_img_sources(html)) == 6 + 3
    for key in ("rule_angle_deg", "rule_norm_ratio", "rule_update_angle_deg"):
        assert f"fa/{key}.png" in html and RULE_SERIES[key][1].split("'")[0] in html
        assert (run / "report" / "fa" / f"{key}.png").is_file()
    # one line per layer, the recorded values against epoch
    fig = plot_layer_history(rows, "rule_angle_deg", "angle")
    lines = {line.get_label(): line for line in fig.axes[0].get_lines()}
    assert list(lines) == ["features.0", "fc"]
    assert lines["features.0"].get_xydata().tolist() == [[1.0, 70.0], [2.0, 60.0]]
    assert lines["fc"].get_ydata().tolist() == [84.0, 83.0]
    assert _vertices_under_legends(fig) == 0
    # an epoch without the series (recorded from a later epoch on) is a gap
    rows[0].pop("rule_norm_ratio")
    fig = plot_layer_history(rows, "rule_norm_ratio", "ratio")
    assert np.isnan(fig.axes[0].get_lines()[0].get_ydata()[0])
    with pytest.raises(ValueError, match="no epoch records 'rule_angle_deg'"):
        plot_layer_history([{"epoch": 1}], "rule_angle_deg", "angle")
