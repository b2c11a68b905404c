"""Self-contained HTML reports of training runs and their topography.

A report is one ``report.html`` with every figure and the movie embedded as data URIs, plus the
same PNGs and ``movie.gif`` in one subfolder per run next to it. Several runs (say a plain
network and one trained with a spatial loss) are compared side by side in one table.
"""

from __future__ import annotations

import base64
import datetime
import importlib
import json
import logging
import math
import os
import re
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import numpy as np
import yaml

import brainlike
from brainlike.report.figures import (
    METRIC_TITLES,
    RULE_SERIES,
    available_metrics,
    plot_dprime_maps,
    plot_layer_history,
    plot_learning_curves,
    plot_metric_history,
    plot_preference_map,
    plot_smoothness_curve,
    save_figure,
)
from brainlike.report.movie import (
    preference_history,
    snapshot_dprimes,
    write_preference_movie,
)

logger = logging.getLogger(__name__)

_TOPOGRAPHY_MODULE = "brainlike.analysis.topography"
_TEMPLATES = Path(__file__).with_name("templates")
_METRIC_KEYS = (
    "epoch",
    "train_loss",
    "train_acc",
    "test_loss",
    "test_acc",
)
_METRICS_EXAMPLE = (
    '{"epoch": 1, "train_loss": 0.9, "train_acc": 0.7, "test_loss": 0.8, "test_acc": 0.72, '
    '"seconds": 12.5}'
)
_SNAPSHOT_KEYS = ("means", "step", "epoch", "class_names")
_HISTORY_KEYS = (
    "fraction_selective",
    "clustering_index",
    "neighbour_agreement",
    "morans_i",
    "smoothness",
    "topography_index",
)
# Per-snapshot entries that are bookkeeping or curves, not summary numbers.
_NOT_TABLE_KEYS = {"epoch", "step", "accuracy", "smoothness_curve"}
# Per-snapshot analysis settings recorded by topography_summary: listed after the metrics.
_SETTING_KEYS = ("threshold", "dprime", "null", "tile", "n_shuffles", "n_smoothness_shuffles")
_SIGNIFICANCE = 0.05
# spec: topography.md, caution on the clustering index (dense maps percolate under shuffling).
_DENSE_FRACTION = 0.5


@dataclass
class _Run:
    """Everything read from one run directory."""

    name: str
    directory: Path
    slug: str
    config_text: str
    metrics: list[dict[str, Any]]
    snapshots: dict[str, np.ndarray]
    topography: dict[str, Any]
    topography_source: str
    summary: dict[str, Any] | None


def write_report(
    run_dirs: Sequence[str | Path] | str | Path,
    out_dir: str | Path | None = None,
    *,
    title: str | None = None,
    threshold: float | None = None,
    names: Sequence[str] | None = None,
    n_shuffles: int = 100,
    seed: int = 0,
    fps: float = 4,
) -> Path:
    """Write a self-contained HTML report of one run, or a comparison of several.

    Each run directory must hold ``config.yaml``, ``metrics.jsonl`` and ``snapshots.npz``, and
    may hold ``topography.json`` and ``summary.json``. ``topography.json`` is the run's record
    of its statistics (written by ``brainlike train``). When it is absent, a brainlike run's
    record is computed with its config's settings and seed and written there (as ``brainlike
    topo`` does); any other run's history is computed here with
    ``brainlike.analysis.topography.topography_summary`` and saved in its report subfolder.

    Parameters
    ----------
    run_dirs : sequence of str or Path, or one str or Path
        Run directories, in the column order of the comparison table.
    out_dir : str or Path, optional
        Output folder. Default: ``RUN/report`` for one run, ``PARENT/comparison_report`` for
        several (PARENT = their common parent folder).
    title : str, optional
        Page title; by default made from the run names.
    threshold : float, optional
        d' threshold T of the preference maps and, when computed here, of the metrics. Default:
        the threshold recorded in the run's ``topography.json`` settings, else 2.0.
    names : sequence of str, optional
        Display names of the runs; default the directory names.
    n_shuffles : int, default 100
        Shuffles of the null models when the topography history is computed here (runs that
        are not brainlike experiments).
    seed : int, default 0
        Seed of those shuffles.
    fps : float, default 4
        Frame rate of the movies.

    Returns
    -------
    Path
        The written ``report.html``.

    Raises
    ------
    FileNotFoundError
        A run directory or one of its required files is missing.
    ValueError
        An input file is corrupt or inconsistent; the message names the file and what is
        expected.
    """
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    directories = [Path(d) for d in run_dirs]
    if not directories:
        raise ValueError("write_report needs at least one run directory")
    if names is None:
        names = [d.resolve().name or str(d) for d in directories]
    elif len(names) != len(directories):
        raise ValueError(f"got {len(names)} names for {len(directories)} run directories")
    if out_dir is None:
        if len(directories) == 1:
            out_dir = directories[0] / "report"
        else:
            parent = Path(os.path.commonpath([str(d.resolve().parent) for d in directories]))
            out_dir = parent / "comparison_report"
    out_dir = Path(out_dir)

    slugs = _unique_slugs([str(n) for n in names])
    runs = [
        _read_run(d, str(n), slug, out_dir / slug, threshold, n_shuffles, seed)
        for d, n, slug in zip(directories, names, slugs, strict=True)
    ]
    out_dir.mkdir(parents=True, exist_ok=True)
    sections = [_run_section(run, out_dir / run.slug, threshold, fps) for run in runs]
    if title is None:
        title = (
            f"brainlike report: {runs[0].name}"
            if len(runs) == 1
            else "brainlike comparison: " + " vs ".join(run.name for run in runs)
        )
    html = (
        report_environment()
        .get_template("report.html")
        .render(
            title=title,
            generated=datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
            version=brainlike.__version__,
            table=_comparison_table(runs),
            runs=sections,
            dense_fraction=_DENSE_FRACTION,
        )
    )
    path = out_dir / "report.html"
    path.write_text(html, encoding="utf-8")
    return path


def report_environment(strict: bool = True) -> Any:
    """The Jinja2 environment of brainlike's reports: the shipped templates (a report extends
    ``_base.html``, the look they share), user text escaped, undefined names an error when
    ``strict``."""
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(_TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined if strict else jinja2.Undefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


# ---------------------------------------------------------------------------------------------
# Reading a run directory


def _read_run(
    directory: Path,
    name: str,
    slug: str,
    out_dir: Path,
    threshold: float | None,
    n_shuffles: int,
    seed: int,
) -> _Run:
    if not directory.is_dir():
        raise FileNotFoundError(f"run directory {directory} does not exist or is not a folder")
    # cheap files first, so that a broken run fails before the topography is computed
    config_text = _read_config(directory / "config.yaml")
    metrics = _read_metrics(directory / "metrics.jsonl")
    summary = _read_summary(directory / "summary.json")
    snapshots = _read_snapshots(directory / "snapshots.npz")
    topography_path = directory / "topography.json"
    own_settings = threshold is None or _is_run_threshold(directory, threshold)
    recorded = topography_path.exists() and own_settings
    record = None if recorded else _run_record(directory, threshold)
    if recorded:
        topography = _read_topography(topography_path, snapshots)
        source = "read from topography.json"
    elif record is not None:
        topography = {"settings": record["settings"], "snapshots": record["snapshots"]}
        where = Path(record["path"]).name if record["path"] else None
        if record["source"] == "read":
            source = f"read from {where}"
        else:
            source = "computed with the run's analysis settings and seed, " + (
                f"recorded in {where}" if where else "not recorded (the run folder is read-only)"
            )
    else:
        topography = _compute_topography(snapshots, threshold, n_shuffles, seed)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "topography.json").write_text(
            json.dumps(topography, indent=1, default=_json_default), encoding="utf-8"
        )
        source = "computed by the report (no topography.json in the run directory)"
    return _Run(
        name=name,
        directory=directory,
        slug=slug,
        config_text=config_text,
        metrics=metrics,
        snapshots=snapshots,
        topography=topography,
        topography_source=source,
        summary=summary,
    )


def _require(path: Path, what: str) -> None:
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: a run directory needs {path.name} ({what})")


def _read_config(path: Path) -> str:
    _require(path, "the run's configuration as YAML")
    text = path.read_text(encoding="utf-8", errors="replace")
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as err:
        raise ValueError(f"{path} is not valid YAML: {err}") from err
    return text


def _read_metrics(path: Path) -> list[dict[str, Any]]:
    _require(path, f"one JSON object per epoch, e.g. {_METRICS_EXAMPLE}")
    records = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            raise ValueError(
                f"{path}, line {number}: not valid JSON ({err.msg}); expected one JSON object "
                f"per line, e.g. {_METRICS_EXAMPLE}"
            ) from err
        if not isinstance(record, dict):
            raise ValueError(
                f"{path}, line {number}: expected a JSON object, got {type(record).__name__}"
            )
        missing = [k for k in _METRIC_KEYS if k not in record]
        if missing:
            raise ValueError(
                f"{path}, line {number}: missing {missing}; every epoch needs "
                f"{list(_METRIC_KEYS)} (and 'seconds')"
            )
        for key in (*_METRIC_KEYS, "seconds"):
            value = record.get(key)
            if value is not None and (isinstance(value, bool) or not _is_number(value)):
                raise ValueError(f"{path}, line {number}: '{key}' must be a number, got {value!r}")
        records.append(record)
    if not records:
        raise ValueError(f"{path} is empty; expected one JSON object per epoch")
    return records


def _read_snapshots(path: Path) -> dict[str, np.ndarray]:
    _require(
        path,
        "class-mean grid maps per snapshot: means (S,C,H,W), vars, counts (S,C), step, "
        "epoch, accuracy (S,), class_names (C,), tile",
    )
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not a readable .npz archive (written by np.savez)")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except ValueError as err:
        raise ValueError(
            f"{path} holds object arrays ({err}); save class_names as a string array "
            "(np.array(names, dtype=str))"
        ) from err
    except (OSError, zipfile.BadZipFile, EOFError) as err:
        raise ValueError(f"{path} is not a readable .npz archive: {err}") from err
    missing = [k for k in _SNAPSHOT_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{path} lacks {missing}; it holds {sorted(arrays)}")
    means = arrays["means"]
    if means.ndim != 4 or 0 in means.shape:
        raise ValueError(
            f"{path}: 'means' must have shape (S, C, H, W) with no empty axis; got {means.shape}"
        )
    n_snapshots, n_classes = means.shape[:2]
    expected = {
        "vars": means.shape,
        "counts": (n_snapshots, n_classes),
        "step": (n_snapshots,),
        "epoch": (n_snapshots,),
        "accuracy": (n_snapshots,),
        "class_names": (n_classes,),
        "tile": (),
    }
    for key, shape in expected.items():
        if key in arrays and arrays[key].shape != shape:
            raise ValueError(
                f"{path}: '{key}' has shape {arrays[key].shape}; expected {shape} for "
                f"means of shape {means.shape}"
            )
    if not np.issubdtype(means.dtype, np.number):
        raise ValueError(f"{path}: 'means' must be numeric, got dtype {means.dtype}")
    names = arrays["class_names"]
    if names.dtype.kind == "S":
        names = np.char.decode(names, "utf-8")
    arrays["class_names"] = np.asarray([str(n) for n in names], dtype=str)
    if "accuracy" not in arrays:
        arrays["accuracy"] = np.full(n_snapshots, np.nan)
    tile = int(arrays["tile"]) if "tile" in arrays else 0
    if tile < 0:
        raise ValueError(f"{path}: 'tile' must be >= 0 (0 = no tiles), got {tile}")
    arrays["tile"] = np.asarray(tile)
    return arrays


def _read_topography(path: Path, snapshots: Mapping[str, np.ndarray]) -> dict[str, Any]:
    try:
        topography = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    history = topography.get("snapshots") if isinstance(topography, dict) else None
    if not isinstance(history, list) or not all(isinstance(s, dict) for s in history):
        raise ValueError(
            f"{path}: expected an object {{'settings': {{...}}, 'snapshots': [{{...}}, ...]}} "
            "with one dict of metrics per snapshot"
        )
    n_snapshots = snapshots["means"].shape[0]
    if len(history) != n_snapshots:
        raise ValueError(
            f"{path} has {len(history)} snapshots but snapshots.npz has {n_snapshots}; they "
            "must describe the same snapshots (delete topography.json to recompute it)"
        )
    if not isinstance(topography.get("settings", {}), dict):
        raise ValueError(f"{path}: 'settings' must be an object")
    topography.setdefault("settings", {})
    return topography


def _read_summary(path: Path) -> dict[str, Any] | None:
    if not path.exists():
        return None
    try:
        summary = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise ValueError(f"{path} is not valid JSON: {err}") from err
    if not isinstance(summary, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(summary).__name__}")
    return summary


def _is_run_threshold(directory: Path, threshold: float) -> bool:
    """Whether ``threshold`` is the run's own (a run whose config is not brainlike's: yes)."""
    from brainlike.analysis.history import run_config
    from brainlike.config import ConfigError

    try:
        return float(threshold) == run_config(directory).analysis.threshold
    except ConfigError:
        return True


def _run_record(directory: Path, threshold: float | None) -> dict[str, Any] | None:
    """The topography record of a brainlike run with these settings, through
    :func:`~brainlike.analysis.history.topography_history` (the run's own record, or a
    re-analysis beside it named by its settings), so the report, ``brainlike topo`` and
    ``summary.json`` show the same numbers; None when ``config.yaml`` is not a brainlike
    experiment. A read-only run folder (a colleague's) is analysed without recording."""
    from brainlike.analysis.history import run_config, topography_history
    from brainlike.config import ConfigError

    try:
        run_config(directory)
    except ConfigError:
        return None
    return topography_history(directory, threshold=threshold)


def _compute_topography(
    snapshots: Mapping[str, np.ndarray], threshold: float | None, n_shuffles: int, seed: int
) -> dict[str, Any]:
    """Run topography_summary on every snapshot (spec: topography.md, history and movies)."""
    analysis = importlib.import_module(_TOPOGRAPHY_MODULE)
    threshold = 2.0 if threshold is None else threshold
    history = []
    n_snapshots = snapshots["means"].shape[0]
    for s in range(n_snapshots):
        logger.info("topography of snapshot %d/%d", s + 1, n_snapshots)
        entry = dict(
            analysis.topography_summary(
                snapshots["means"][s],
                snapshots["vars"][s] if "vars" in snapshots else None,
                snapshots["counts"][s] if "counts" in snapshots else None,
                threshold=threshold,
                n_shuffles=n_shuffles,
                seed=seed + s,
            )
        )
        entry.setdefault("epoch", float(snapshots["epoch"][s]))
        entry.setdefault("step", int(snapshots["step"][s]))
        accuracy = float(snapshots["accuracy"][s])
        entry.setdefault("accuracy", None if math.isnan(accuracy) else accuracy)
        history.append(entry)
    settings = {
        "threshold": threshold,
        "dprime": "class",
        "null": "pixel",
        "n_shuffles": n_shuffles,
        "seed": f"{seed} + snapshot index",
        "source": "brainlike.report (class-level d', pixel-shuffle null)",
    }
    return {"settings": settings, "snapshots": history}


# ---------------------------------------------------------------------------------------------
# Building the page


def _run_section(run: _Run, folder: Path, threshold: float | None, fps: float) -> dict[str, Any]:
    """Draw a run's figures and movie into ``folder``; return the template context."""
    folder.mkdir(parents=True, exist_ok=True)
    settings = run.topography.get("settings", {})
    final = run.topography["snapshots"][-1]
    # older histories may record the analysis settings only per snapshot
    recorded = settings.get("threshold", final.get("threshold"))
    notes = []
    if threshold is None:
        threshold = float(recorded) if _is_number(recorded) else 2.0
    elif _is_number(recorded) and float(recorded) != threshold:
        notes.append(
            f"The maps here use d' ≥ {threshold:g}, but the topography metrics were computed "
            f"at d' ≥ {float(recorded):g} (topography.json settings); delete topography.json "
            "to recompute them at the same threshold."
        )
    snapshots = run.snapshots
    class_names = [str(n) for n in snapshots["class_names"]]
    tile = int(snapshots["tile"])
    target_sets, target_names = _target_sets(settings, class_names)
    dprime = str(settings.get("dprime") or final.get("dprime") or "class")
    dprimes = snapshot_dprimes(snapshots, -1, dprime=dprime, target_sets=target_sets)
    labels = preference_history(snapshots, threshold, dprime=dprime, target_sets=target_sets)
    final_epoch = float(snapshots["epoch"][-1])

    figures: list[dict[str, str]] = []

    def add(fig: Any, filename: str, caption: str) -> None:
        path = save_figure(fig, folder / filename)
        figures.append({"caption": caption, "file": filename, "uri": data_uri(path)})

    add(plot_learning_curves(run.metrics), "learning_curves.png", "Learning curves")
    for key, (ylabel, caption) in RULE_SERIES.items():  # a run trained with a learning rule
        if any(isinstance(r.get(key), Mapping) for r in run.metrics):
            add(plot_layer_history(run.metrics, key, ylabel), f"{key}.png", caption)
    add(
        plot_preference_map(
            labels[-1],
            target_names,
            tile=tile,
            title=f"{run.name}: preference map, epoch {final_epoch:.2f}",
        ),
        "preference_map.png",
        f"Preference map at the final snapshot (epoch {final_epoch:.2f}, d' ≥ {threshold:g}; "
        "white = no preference)",
    )
    add(
        plot_dprime_maps(dprimes, target_names, threshold, tile=tile),
        "dprime_maps.png",
        f"{'Trial' if dprime == 'trial' else 'Class'}-level d' map of each "
        f"{'class' if target_sets is None else 'target set'} against the rest at the final "
        "snapshot",
    )
    present = available_metrics(run.topography, _HISTORY_KEYS)
    if present:
        add(
            plot_metric_history(run.topography, present),
            "metric_history.png",
            "Topography metrics during training: real value (blue) against the shuffled null "
            "(grey band: mean ± std); filled markers: permutation p < 0.05",
        )
    curve = run.topography["snapshots"][-1].get("smoothness_curve")
    if isinstance(curve, Mapping) and "distance" in curve and "correlation" in curve:
        add(
            plot_smoothness_curve(curve, title=f"{run.name}, epoch {final_epoch:.2f}"),
            "smoothness_curve.png",
            "Tuning correlation against distance between units at the final snapshot, real "
            "against shuffled positions",
        )
    movie = write_preference_movie(
        snapshots,
        run.topography,
        folder / "movie.gif",
        fps=fps,
        threshold=threshold,
        labels=labels,
        names=target_names,
        title=run.name,
    )
    fraction = final.get("fraction_selective")
    if _is_number(fraction) and fraction > _DENSE_FRACTION:
        notes.append(
            f"{fraction:.0%} of units are selective at the final snapshot. The clustering "
            "index is only meaningful while selective units are sparse: at high density "
            "shuffled maps percolate into large components and the null can exceed the real "
            "value. Read neighbour agreement and the smoothness curve instead."
        )
    return {
        "name": run.name,
        "anchor": f"run-{run.slug}",
        "folder": run.slug,
        "directory": str(run.directory),
        "figures": figures,
        "movie": {
            "file": movie.name,
            "uri": data_uri(movie),
            "frames": int(snapshots["means"].shape[0]),
        },
        "notes": notes,
        "threshold": threshold,
        "topography_source": run.topography_source,
        "settings": json.dumps(settings, indent=2, default=_json_default),
        "summary_rows": _flat_rows(run.summary) if run.summary is not None else None,
        "config": run.config_text,
    }


def _comparison_table(runs: Sequence[_Run]) -> dict[str, Any]:
    """One column per run: final training numbers, then every final-snapshot metric."""
    rows: dict[str, list[dict[str, Any]]] = {}

    def put(label: str, column: int, cell: dict[str, Any]) -> None:
        rows.setdefault(label, [{"text": "—", "significant": False} for _ in runs])[column] = cell

    for column, run in enumerate(runs):
        last = run.metrics[-1]
        means = run.snapshots["means"]
        put("final test accuracy", column, _cell(last.get("test_acc"), percent=True))
        put("final train accuracy", column, _cell(last.get("train_acc"), percent=True))
        put("final test loss", column, _cell(last.get("test_loss")))
        put("epochs", column, _cell(last.get("epoch")))
        # the run's own record of its time (all resumed parts), as the console shows it
        wall = (run.summary or {}).get("wall_seconds")
        seconds = [r.get("seconds") for r in run.metrics if _is_number(r.get("seconds"))]
        if _is_number(wall):
            put("wall time (s, summary.json)", column, _cell(float(wall)))
        elif seconds:
            put("time in epochs (s, metrics.jsonl)", column, _cell(float(sum(seconds))))
        shape = f"{means.shape[1]} classes, {means.shape[2]}×{means.shape[3]} grid"
        tile = int(run.snapshots["tile"])
        put("map", column, _cell(shape + (f", tiles {tile}×{tile}" if tile else "")))
        put("snapshots", column, _cell(int(means.shape[0])))
        final = run.topography["snapshots"][-1]
        put("final snapshot epoch", column, _cell(final.get("epoch", run.snapshots["epoch"][-1])))
        class_names = [str(n) for n in run.snapshots["class_names"]]
        _, set_names = _target_sets(run.topography.get("settings", {}), class_names)
        for label, cell in _snapshot_cells(final, set_names):
            put(label, column, cell)
    return {"columns": [run.name for run in runs], "rows": list(rows.items())}


def _snapshot_cells(
    snapshot: Mapping[str, Any], set_names: Sequence[str] = ()
) -> list[tuple[str, dict[str, Any]]]:
    """Table cells for one snapshot's metrics; known metrics first, then any others.

    A metric dict becomes 'value (null ...)'; nested dicts and lists of dicts (the density
    index, one entry per target set, named after ``set_names``) are flattened.
    """
    known = [*_HISTORY_KEYS, "neighbour_agreement_chance", "topography_index_minus_null"]
    order = [k for k in known if k in snapshot]
    order += [
        k
        for k in snapshot
        if k not in known and k not in _NOT_TABLE_KEYS and k not in _SETTING_KEYS and k != "seed"
    ]
    order += [k for k in _SETTING_KEYS if k in snapshot]
    cells = []
    for key in order:
        value = snapshot[key]
        if isinstance(value, list) and value and all(isinstance(v, Mapping) for v in value):
            names = list(set_names) if len(set_names) == len(value) else range(len(value))
            entries = [(f"{key} {name}", item) for name, item in zip(names, value, strict=True)]
        else:
            entries = [(key, value)]
        for prefix, item in entries:
            if isinstance(item, Mapping) and "value" not in item:
                flat = _flatten(item, prefix=prefix)
            else:
                flat = [(prefix, item)]
            for name, entry in flat:
                label = METRIC_TITLES.get(name, name.replace("_", " "))
                if name in _SETTING_KEYS:
                    label = f"analysis {label}"
                if isinstance(entry, Mapping) and "value" in entry:
                    cells.append((label, _metric_cell(entry)))
                elif _is_scalar(entry):
                    cells.append((label, _cell(entry, percent=name == "fraction_selective")))
    return cells


def _metric_cell(metric: Mapping[str, Any]) -> dict[str, Any]:
    """Format a metric as 'value (null mean ± std, p = ...)'."""
    text = _number(metric.get("value"))
    mean, std, p = metric.get("null_mean"), metric.get("null_std"), metric.get("p_value")
    extras = []
    if _is_number(mean):
        extras.append(f"null {_number(mean, digits=3)} ± {_number(std, digits=3)}")
    if _is_number(p):
        extras.append(f"p = {_number(p, digits=2)}")
    if extras:
        text += " (" + ", ".join(extras) + ")"
    return {"text": text, "significant": _is_number(p) and p < _SIGNIFICANCE}


def _cell(value: Any, *, percent: bool = False) -> dict[str, Any]:
    if percent and _is_number(value) and math.isfinite(value):
        return {"text": f"{value:.1%}", "significant": False}
    return {"text": _number(value), "significant": False}


def _number(value: Any, digits: int = 4) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if _is_number(value):
        value = float(value)
        return "n/a" if math.isnan(value) else f"{value:.{digits}g}"
    return str(value)


def _flat_rows(summary: Mapping[str, Any]) -> list[tuple[str, str]]:
    """Flatten a summary dict to (dotted key, formatted scalar) rows; lists are left out."""
    return [(key, _number(value)) for key, value in _flatten(summary) if _is_scalar(value)]


def _flatten(mapping: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows = []
    for key, value in mapping.items():
        name = f"{prefix}.{key}" if prefix else str(key)
        if isinstance(value, Mapping) and "value" not in value:
            rows.extend(_flatten(value, name))
        else:
            rows.append((name, value))
    return rows


def _target_sets(
    settings: Mapping[str, Any], class_names: Sequence[str]
) -> tuple[list[list[int]] | None, list[str]]:
    """Target sets recorded in the topography settings (None = each class alone), with names.

    Accepts ``{"people": [2, 11], ...}`` (names from the keys) or ``[[2, 11], ...]`` (names
    joined from the class names, unless ``target_names`` is given).
    """
    sets = settings.get("target_sets")
    if not sets:
        return None, list(class_names)
    names: Any = settings.get("target_names")
    if isinstance(sets, Mapping):
        names, sets = list(sets.keys()), list(sets.values())
    try:
        sets = [[int(c) for c in members] for members in sets]
    except (TypeError, ValueError) as err:
        raise ValueError(
            f"topography settings 'target_sets' must map names to lists of class indices or "
            f"be a list of such lists; got {sets!r}"
        ) from err
    if any(not 0 <= c < len(class_names) for members in sets for c in members):
        raise ValueError(
            f"topography settings 'target_sets' {sets} name classes outside 0..{len(class_names) - 1}"
        )
    if not isinstance(names, list) or len(names) != len(sets):
        names = ["+".join(class_names[c] for c in members) for members in sets]
    return sets, [str(n) for n in names]


def _unique_slugs(names: Sequence[str]) -> list[str]:
    """Folder names for the runs: letters, digits, '-' and '_' only, unique."""
    slugs: list[str] = []
    for name in names:
        slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_") or "run"
        candidate, suffix = slug, 2
        while candidate in slugs:
            candidate, suffix = f"{slug}-{suffix}", suffix + 1
        slugs.append(candidate)
    return slugs


def data_uri(path: Path) -> str:
    """A PNG or GIF file as a ``data:`` URI, so a report embeds it and needs no other file."""
    mime = {".png": "image/png", ".gif": "image/gif"}[path.suffix.lower()]
    return f"data:{mime};base64," + base64.b64encode(path.read_bytes()).decode("ascii")


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _is_scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, bool)) or _is_number(value)


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")
