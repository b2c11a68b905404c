"""Every kind of HTML report brainlike writes, opened in a real browser (Debian's Chromium,
headless, driven by Playwright): each page loads from disk, every image and the movie GIF
decode, the console stays clean, nothing outside the file is fetched or referenced, user text
shows as text and never runs, and a full-page screenshot is kept as a test artefact.

The reports come from tiny real runs (a training run, suites, the spatial analysis, the synapse
and rule-identification analyses, a results database); the mouse and entorhinal suites, whose
smallest real runs take minutes, are written from small hand-made summaries through their public
writers. Screenshots go to ``$BRAINLIKE_ARTIFACTS/browser/`` when that variable is set.

Rule on external URLs: a resource (``src``, ``srcset``, ``<link href>``, CSS ``url()`` or
``@import``) is never external and no request leaves ``file:``/``data:``; an ``http(s)`` URL
may appear only as the ``href`` of an ``<a>`` anchor (a reference the reader follows) or as text.
"""

from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from PIL import Image
from suite_summaries import mec_summary, mouse_summary

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# Free text a user can put in a name: one that would run a script, one that would run through an
# image's error handler (no '/', so it also works where a name becomes a folder name).
# Non-ASCII letters check that the page is written and read as UTF-8.
XSS_SCRIPT = "<script>window.__pwned=1</script> Größe κ"
XSS_IMG = '<img src=x onerror="window.__pwned=1">'

# Every attribute value and every <style> text holding http(s)://, except <a href>.
_EXTERNAL_JS = r"""() => {
  const bad = [];
  for (const el of document.querySelectorAll('*')) {
    for (const a of el.attributes) {
      if (/https?:\/\//i.test(a.value) && !(el.tagName === 'A' && a.name === 'href')) {
        bad.push(el.tagName + ' ' + a.name + '=' + a.value.slice(0, 80));
      }
    }
  }
  for (const s of document.querySelectorAll('style')) {
    if (/https?:\/\/|@import/i.test(s.textContent)) bad.push('STYLE ' + s.textContent.slice(0, 80));
  }
  return bad;
}"""
# Every CSS background image: its URL and whether it decodes.
_BACKGROUNDS_JS = r"""async () => {
  const urls = new Set();
  for (const el of document.querySelectorAll('*')) {
    const bg = getComputedStyle(el).backgroundImage;
    for (const m of bg.matchAll(/url\(["']?([^"')]+)["']?\)/g)) urls.add(m[1]);
  }
  const out = [];
  for (const u of urls) {
    const img = new Image();
    img.src = u;
    try { await img.decode(); } catch (e) {}
    out.push({url: u.slice(0, 60), width: img.naturalWidth});
  }
  return out;
}"""
_IMAGES_JS = r"""() => Array.from(document.images).map(i => ({
  src: i.getAttribute('src').slice(0, 40), complete: i.complete, width: i.naturalWidth,
  gif: i.getAttribute('src').startsWith('data:image/gif')}))"""
# In-page links (#id) whose target is not on the page.
_ANCHORS_JS = r"""() => Array.from(document.querySelectorAll('a[href^="#"]'))
  .map(a => a.getAttribute('href').slice(1))
  .filter(id => id && !document.getElementById(decodeURIComponent(id)))"""


def _chromium() -> str | None:
    if Path("/usr/bin/chromium").is_file():
        return "/usr/bin/chromium"
    return shutil.which("chromium")


@pytest.fixture(scope="module")
def browser():
    """One headless Chromium for the whole module (skipped when absent; CI=true: a failure)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright, reason = None, "playwright is not installed (pip install -e '.[dev]')"
    executable = _chromium()
    if sync_playwright is not None and executable is None:
        reason = "Chromium is not installed (make services installs Debian's chromium)"
    if sync_playwright is None or executable is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{reason}; CI needs the browser tests (run make services)")
        pytest.skip(f"{reason}; run make services")
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory) -> Path:
    """The screenshots' folder: ``$BRAINLIKE_ARTIFACTS/browser`` or a temporary folder."""
    root = os.environ.get("BRAINLIKE_ARTIFACTS")
    folder = Path(root) / "browser" if root else tmp_path_factory.mktemp("browser")
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def work(tmp_path_factory) -> Path:
    """The module's folder for runs and reports (the cache of simulated benchmarks inside)."""
    folder = tmp_path_factory.mktemp("reports")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("BRAINLIKE_CACHE", str(folder / "cache"))
        yield folder


def check_in_browser(
    browser: Any,
    html_path: Path,
    artefacts: Path,
    kind: str,
    *,
    user_text: list[str],
    min_images: int,
    gif: bool = False,
) -> dict[str, Any]:
    """Open ``html_path`` and assert everything the module docstring promises; returns what
    the page showed (``images``, ``text``) for checks of one kind."""
    html_path = Path(html_path)
    assert html_path.is_file(), html_path
    source = html_path.read_text(encoding="utf-8")
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    outside: list[str] = []
    failed: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: failed.append(f"{r.url[:80]} ({r.failure})"))

    def route(r: Any) -> None:
        if r.request.url.startswith(("file:", "data:")):
            r.continue_()
        else:
            outside.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    try:
        page.goto(html_path.resolve().as_uri(), wait_until="load")
        images = page.evaluate(_IMAGES_JS)
        backgrounds = page.evaluate(_BACKGROUNDS_JS)
        external = page.evaluate(_EXTERNAL_JS)
        dangling = page.evaluate(_ANCHORS_JS)
        pwned = page.evaluate("typeof window.__pwned")
        scripts = page.evaluate("document.scripts.length")
        text = page.inner_text("body")
        shot = artefacts / f"{kind}.png"
        page.screenshot(path=str(shot), full_page=True)
    finally:
        context.close()

    assert not outside, f"{kind}: requests outside the file: {outside}"
    assert not failed, f"{kind}: failed requests: {failed}"
    assert not errors, f"{kind}: console errors: {errors}"
    assert not external, f"{kind}: external URLs referenced: {external}"
    assert len(images) >= min_images, f"{kind}: {len(images)} images, expected >= {min_images}"
    broken = [i for i in images if not (i["complete"] and i["width"] > 0)]
    assert not broken, f"{kind}: images that do not load: {broken}"
    # self-contained: every image is embedded, none read from a file beside the report
    beside = [i["src"] for i in images if not i["src"].startswith("data:")]
    assert not beside, f"{kind}: images not embedded: {beside}"
    assert not dangling, f"{kind}: links to missing sections: {dangling}"
    assert all(b["width"] > 0 for b in backgrounds), f"{kind}: broken backgrounds {backgrounds}"
    if gif:
        assert any(i["gif"] for i in images), f"{kind}: no GIF movie on the page"
    # user text is text: nothing ran, the page has no script at all, the words are shown
    assert pwned == "undefined", f"{kind}: user text ran as script"
    assert scripts == 0, f"{kind}: {scripts} <script> elements (reports have none)"
    for words in user_text:
        assert words in text, f"{kind}: {words!r} not shown as text"
        assert words not in source, f"{kind}: {words!r} written unescaped"
    # the screenshot shows a page: a real PNG, not blank
    assert shot.stat().st_size > 10_000, f"{kind}: screenshot of {shot.stat().st_size} bytes"
    with Image.open(shot) as im:
        assert im.size[0] == 1280, f"{kind}: page wider than 1280 px ({im.size[0]})"
        assert im.size[1] >= 300, f"{kind}: page of {im.size[1]} px height"
        assert len(im.convert("L").getcolors(maxcolors=1 << 16) or range(1 << 16)) > 8
    return {"images": images, "text": text}


# ---------------------------------------------------------------------------------------------
# Training runs: one run's report, and a comparison of two (the demo's report)


def _train(folder: Path, name: str, spatial: bool, seed: int) -> Path:
    from brainlike.config import config_from_dict
    from brainlike.train.loop import train

    cfg = {
        "name": name,
        "description": XSS_SCRIPT,
        "seed": seed,
        "data": {"dataset": "digits", "input_size": 8, "train_size": 100, "test_size": 50},
        "model": {
            "levels": [{"subnets": 4, "outputs": 16, "subnet": "small", "channels": [4]}],
            "master": "small",
            "master_channels": [8],
            "execution": "fused",
        },
        "train": {"batch_size": 50, "epochs": 1, "snapshots_per_epoch": 2, "device": "cpu"},
        "analysis": {"n_shuffles": 5},
    }
    if spatial:
        cfg["objective"] = {"spatial": {"weight": 0.5, "neighbourhood": 40}}
    run = folder / name
    train(config_from_dict(cfg), run, progress=False)
    return run


@pytest.fixture(scope="module")
def runs(work) -> list[Path]:
    # the run's folder is its name, and the report names a run after its folder
    return [_train(work, XSS_IMG, True, 3), _train(work, "plain", False, 4)]


def test_run_report_in_browser(browser, artefacts, runs):
    from brainlike.report.html import write_report

    path = write_report(runs[0], runs[0].parent / "run_report")
    shown = check_in_browser(
        browser, path, artefacts, "run", user_text=[XSS_IMG, XSS_SCRIPT], min_images=6, gif=True
    )
    # learning curves, metric history, preference map, d' maps, smoothness curve; the movie
    assert sum(i["gif"] for i in shown["images"]) == 1


def test_comparison_report_in_browser(browser, artefacts, runs):
    from brainlike.report.html import write_report

    path = write_report(runs, runs[0].parent / "comparison", title=f"demo {XSS_SCRIPT}")
    shown = check_in_browser(
        browser, path, artefacts, "comparison", user_text=[XSS_IMG, XSS_SCRIPT], min_images=8
    )
    assert sum(i["gif"] for i in shown["images"]) == 2  # one movie per run


# ---------------------------------------------------------------------------------------------
# Suites: static (areas and behaviour), temporal, rules


def _recipe(folder: Path, file: str, name: str, seed: int, **over: Any) -> str:
    data = {
        "name": name,
        "seed": seed,
        "description": XSS_SCRIPT,
        "data": {"dataset": "digits", "input_size": 16, "train_size": 60, "test_size": 30},
        "model": {"kind": "resnet", "depth": 8},
        "train": {"epochs": 1, "batch_size": 30, "device": "cpu"},
    }
    data.update(over)
    (folder / file).write_text(yaml.safe_dump(data))
    return file


def _run_suite(folder: Path, suite: dict) -> Path:
    from brainlike.evaluation.suites import run_suite

    (folder / "suite.yaml").write_text(yaml.safe_dump(suite))
    run_suite(folder / "suite.yaml", folder / "out", progress=False, record=False)
    return folder / "out" / "report.html"


def test_suite_report_in_browser(browser, artefacts, work):
    folder = work / "suite"
    folder.mkdir()
    suite = {
        "name": f"suite {XSS_SCRIPT}",
        "runs": [_recipe(folder, "run.yaml", XSS_IMG, 0)],
        "brain": {
            "config": _recipe(folder, "brain.yaml", "brain", 5),
            "areas": {"V1": "layer1.0", "IT": "layer3.0"},
        },
        "benchmark": {
            "per_digit": 3,
            "animals": 2,
            "neuroids": 8,
            "trials": 4,
            "observer_subjects": 4,
            "observer_repeats": 10,
        },  # fmt: skip
        "score": {"splits": 2, "bootstraps": 2},
    }
    path = _run_suite(folder, suite)
    check_in_browser(
        browser, path, artefacts, "suite", user_text=[XSS_SCRIPT, XSS_IMG], min_images=1
    )


def test_temporal_suite_report_in_browser(browser, artefacts, work):
    folder = work / "temporal"
    folder.mkdir()
    recipe = _recipe(
        folder,
        "run.yaml",
        XSS_IMG,
        0,
        data={"dataset": "digits", "input_size": 32, "train_size": 40, "test_size": 20},
        model={"kind": "convrnn", "width": 0.125, "time_steps": 8, "t_on": 6},
        train={"epochs": 1, "batch_size": 40, "device": "cpu"},
    )
    suite = {
        "name": f"temporal {XSS_SCRIPT}",
        "runs": [recipe],
        "temporal": {
            "steps": 12,
            "image_steps": 5,
            "widths": [24, 24],
            "behaviour_bins": [4, 9],
            "layers": ["nodes.conv4", "nodes.conv5"],
            "ost_splits": 3,
            "ost_components": 20,
        },  # fmt: skip
        "benchmark": {"per_digit": 5, "animals": 2, "neuroids": 12, "trials": 4},
        "score": {"splits": 2, "bootstraps": 2},
    }
    path = _run_suite(folder, suite)
    check_in_browser(
        browser, path, artefacts, "temporal_suite", user_text=[XSS_SCRIPT, XSS_IMG], min_images=1
    )


def test_rules_suite_report_in_browser(browser, artefacts, work):
    # rule labels are checked at the door (letters, digits, _ . + -): only names carry free text
    folder = work / "rules"
    folder.mkdir()
    recipe = _recipe(
        folder,
        "run.yaml",
        XSS_IMG,
        0,
        data={"dataset": "digits", "input_size": 28, "train_size": 48, "test_size": 30},
        model={"kind": "lenet", "locality": {"enabled": False}},
        train={"optimizer": "sgd", "lr": 0.05, "batch_size": 48, "epochs": 1,
               "snapshots_per_epoch": 0, "device": "cpu"},
    )  # fmt: skip
    suite = {"name": f"rules {XSS_SCRIPT}", "runs": [recipe], "rules": ["backprop", {"kind": "fa"}]}
    path = _run_suite(folder, suite)
    check_in_browser(
        browser, path, artefacts, "rules_suite", user_text=[XSS_SCRIPT, XSS_IMG], min_images=3
    )


# ---------------------------------------------------------------------------------------------
# Mouse visual cortex and entorhinal suites: hand-made summaries through the public writers


def test_mouse_suite_report_in_browser(browser, artefacts, work):
    # models, objectives and levels are labels checked at the door; the suite name is free text
    from brainlike.evaluation.mouse_report import write_mouse_report

    (work / "mouse").mkdir()
    path = write_mouse_report(work / "mouse", mouse_summary(f"mouse {XSS_SCRIPT}"))
    check_in_browser(browser, path, artefacts, "mouse_suite", user_text=[XSS_SCRIPT], min_images=4)


def test_mec_suite_report_in_browser(browser, artefacts, work):
    from brainlike.evaluation.mec_report import write_mec_report

    (work / "mec").mkdir()
    path = write_mec_report(work / "mec", mec_summary(f"mec {XSS_SCRIPT}"))
    check_in_browser(browser, path, artefacts, "mec_suite", user_text=[XSS_SCRIPT], min_images=4)


# ---------------------------------------------------------------------------------------------
# Analyses with their own pages: spatial gallery, rule identification, synapses


def test_spatial_gallery_in_browser(browser, artefacts, work):
    from dataclasses import replace

    from brainlike.data.recordings.spatial_session import simulate_spatial_session
    from brainlike.evaluation.spatial_analysis import analyse_recording

    cells = {"grid": 2, "border": 2, "place": 1, "head_direction": 1, "heterogeneous": 0}
    simulate_spatial_session(work / "session", animals=1, cells=cells, minutes=2, seed=1)
    analysis = analyse_recording(work / "session" / "recording.nc", shuffles=5, seed=0)
    # the session's name comes from the recording: a user's free text
    replace(analysis, name=XSS_SCRIPT).save(work / "spatial")
    check_in_browser(
        browser,
        work / "spatial" / "spatial.html",
        artefacts,
        "spatial",
        user_text=[XSS_SCRIPT],
        min_images=3,
    )


def _feature_table(path: Path) -> Path:
    """A feature table of two rules (the first named with user text) whose weights' mean
    grows over training under the second rule only."""
    import pandas as pd

    stats = [
        ("weights", "identity", "mean"),
        ("weights", "abs", "median"),
        ("activations", "identity", "norm"),
        ("activity_change", "square", "mean"),
    ]
    rng = np.random.default_rng(0)
    rows = []
    for c, label in enumerate((XSS_SCRIPT, "rule1")):
        for r in range(6):
            for layer, position in enumerate(("early", "middle", "deep")):
                row = {"run": f"c{c}-r{r}", "label": label, "architecture": f"a{r % 2}",
                       "batch_size": 32 * (1 + r // 3), "seed": r, "layer": f"l{layer}",
                       "layer_index": layer, "position": position, "fraction": 1.0,
                       "noise": 0.0, "recording_seed": 0}  # fmt: skip
                for key in stats:
                    signal = 4.0 * c * np.arange(6) / 6 if key == stats[0] else 0
                    values = signal + rng.normal(0, 0.3, 6)
                    for k in range(6):
                        row["/".join(key) + f"@{k}"] = values[k]
                rows.append(row)
    pd.DataFrame(rows).to_csv(path, index=False)
    return path


def test_identify_report_in_browser(browser, artefacts, work):
    from brainlike.analysis.identify.features import read_feature_table
    from brainlike.analysis.identify.sweeps import IdentifySettings, identify_rules
    from brainlike.report.identify import write_identify_report

    work.joinpath("identify").mkdir()
    table = read_feature_table(_feature_table(work / "identify" / "features.csv"))
    settings = IdentifySettings(classifiers=("svm", "forest"), splits=2, cv=1, sweep_splits=2,
                                sweeps=("holdouts", "trajectory"), trees=10,
                                trajectory=((1, 2), (1, 4), (2, 3)))  # fmt: skip
    summary = identify_rules(table, settings)
    summary["source"] = str(work / "identify" / "features.csv")
    files = write_identify_report(summary, work / "identify" / "report")
    check_in_browser(
        browser, Path(files["report"]), artefacts, "identify", user_text=[XSS_SCRIPT], min_images=4
    )


def test_synapses_report_in_browser(browser, artefacts, work):
    from typer.testing import CliRunner

    from brainlike.analysis.synapses import simulate_kesten
    from brainlike.cli import app

    rng = np.random.default_rng(0)
    sizes = simulate_kesten(rng.lognormal(0, 0.3, 300), 4, -0.2, 0.2, 0.1, 0.1, seed=1)
    table = work / "synapses.csv"
    with open(table, "w", newline="", encoding="utf-8") as file:
        writer = csv.writer(file)
        writer.writerow(["cell_type", "dendrite", "day0", "day2", "day4", "day6", "day8"])
        for i, row in enumerate(sizes):
            writer.writerow([XSS_IMG, f"d{i % 3}", *(f"{v:.4f}" for v in row)])
    out = work / "synapses"
    args = ["synapses", str(table), "--out", str(out), "--bins", "10", "--bootstrap", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    check_in_browser(
        browser, out / "report.html", artefacts, "synapses", user_text=[XSS_IMG], min_images=3
    )


# ---------------------------------------------------------------------------------------------
# The leaderboard's HTML export (scores from the results database)


def test_leaderboard_in_browser(browser, artefacts, work):
    from brainlike.results import ResultsDB, leaderboard

    db = ResultsDB(f"sqlite:///{work / 'board.sqlite'}")
    rows = [("alexnet", "IT", "conv5", 0.55), ("alexnet", "V4", "conv3", 0.6),
            (XSS_SCRIPT, "IT", XSS_IMG, 0.7), (XSS_SCRIPT, "V4", "output", 0.2)]  # fmt: skip
    # a lab's board is wide: one column per benchmark and area
    rows += [("alexnet", f"area{k}", "conv4", 0.3) for k in range(12)]
    db.add_scores(
        dict(
            model=m,
            benchmark="simulated-IT",
            region=r,
            layer=layer,
            metric="pls_r",
            score={"value": v, "error": 0.01, "ceiled": v / 2},
        )
        for m, r, layer, v in rows
    )
    path = work / "board.html"
    leaderboard(db, metric="pls_r").to_html(path, title=f"board {XSS_SCRIPT}")
    shown = check_in_browser(
        browser, path, artefacts, "leaderboard", user_text=[XSS_SCRIPT, XSS_IMG], min_images=0
    )
    assert "0.700 ± 0.010" in shown["text"]


# ---------------------------------------------------------------------------------------------
# The checks themselves: each catches the fault it is for, and a good page passes


def _good_page() -> str:
    """A page that passes every check: text, a table, an embedded image and a paper's link."""
    import base64
    import io

    buf = io.BytesIO()
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 255, (120, 200, 3), dtype=np.uint8)).save(buf, "PNG")
    uri = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    rows = "".join(f"<tr><td>row {i}</td><td>{i * i}</td></tr>" for i in range(30))
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>t</title></head><body>"
        f"<h1>{XSS_SCRIPT.replace('<', '&lt;')}</h1><table>{rows}</table>"
        f"<img src='{uri}' alt='noise'>"
        "<p>See <a href='https://doi.org/10.1000/182'>the paper</a>.</p>{bad}</body></html>"
    )


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        pytest.param("", None, id="good-page-with-a-paper-link"),
        pytest.param("<img src='https://cdn.example.org/x.png'>", "outside the file", id="cdn"),
        pytest.param("<img src='missing.png'>", "failed requests", id="missing-file"),
        pytest.param("<a href='#nowhere'>x</a>", "missing sections", id="dangling-anchor"),
        pytest.param("<img src='data:image/png;base64,AAAA'>", "do not load", id="broken-image"),
        pytest.param("<script>console.error('boom')</script>", "console errors", id="console"),
        pytest.param("<script>null.x</script>", "page error", id="page-error"),
        pytest.param("<b data-x='https://cdn.example.org/x.js'>x</b>", "external URL", id="ref"),
        pytest.param(XSS_SCRIPT, "ran as script", id="unescaped"),
        pytest.param("<table><tr>" + "<td>wide</td>" * 300 + "</tr></table>", "wider", id="wide"),
    ],
)
def test_the_checks_catch_each_fault(browser, tmp_path, bad, message):
    page = tmp_path / "page.html"
    page.write_text(_good_page().replace("{bad}", bad), encoding="utf-8")
    check = lambda: check_in_browser(  # noqa: E731
        browser, page, tmp_path, "page", user_text=[XSS_SCRIPT], min_images=1
    )
    if message is None:
        check()
        return
    with pytest.raises(AssertionError, match=message):
        check()
