"""Model size against performance: parameters, units and the accuracy-units Pareto front.

spec: recurrent.md §1, Size/performance: every model reports its parameters and its units
(the sum of the unit counts of the layers used for neural fitting), and a set of models is
summarised by the Pareto front of accuracy (maximised) against units (minimised).

- :func:`count_parameters`, :func:`count_units`: one model.
- :func:`pareto_front`: indices of the non-dominated ``(units, accuracy)`` points.
- :func:`size_table`: trained run directories -> one row each (run, parameters, units, test
  accuracy, on the front); :func:`expand_run_dirs` finds the runs inside folders.

A unit is one value of a layer's output for one image: ``C * H * W`` of a conv layer, the
width of a fully connected one, the units of a cortical sheet. A recurrent model (one with a
``time_steps`` attribute) counts the output of one time step, not all ``T`` of them.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

__all__ = [
    "count_parameters",
    "count_units",
    "expand_run_dirs",
    "pareto_front",
    "plot_pareto",
    "render_size_table",
    "run_size",
    "size_table",
]


def count_parameters(model: Any, trainable_only: bool = False) -> int:
    """Number of parameters of a ``torch.nn.Module`` (all, or those with ``requires_grad``)."""
    return int(sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only))


def count_units(
    model: Any,
    input_shape: Sequence[int] | None = None,
    layers: Sequence[str] | None = None,
    *,
    time_steps: int | None = None,
) -> dict[str, int]:
    """Units of each layer: the size of its output for one image (one time step).

    One dry run on a zero image records each layer's output.

    Parameters
    ----------
    model : a ``torch.nn.Module``.
    input_shape : ``(C, H, W)`` of one image; default ``(model.in_channels, model.input_size,
        model.input_size)`` when the model has those attributes.
    layers : layer names as :func:`brainlike.analysis.activations.extract_activations` takes
        them (module names, ``sheet:<name>``); default :func:`brainlike.evaluation.scoring_model.default_layers`,
        the layers used for neural fitting.
    time_steps : steps a recurrent model is unrolled for in the dry run; default its
        ``time_steps`` attribute when it has one (then layers are the modules run once per
        step), none otherwise.

    Returns
    -------
    dict
        layer -> units (int), in the order of ``layers``.
    """
    import torch

    from brainlike.analysis.activations import extract_activations
    from brainlike.evaluation.scoring_model import default_layers

    shape = _input_shape(model, input_shape)
    steps = time_steps if time_steps is not None else _recurrent_steps(model)
    names = list(layers) if layers else default_layers(model, shape, time_steps=steps)
    if not names:
        raise ValueError(
            f"{type(model).__name__} has no layer to count units of; pass layers=[...]"
        )
    dtype = next((p.dtype for p in model.parameters()), torch.float32)
    stimulus = torch.zeros((1, *shape), dtype=dtype)
    acts = extract_activations(model, stimulus, names, time_steps=steps, progress=False)
    try:
        return {name: int(acts[name].shape[1]) for name in names}
    finally:
        acts.close()


def _input_shape(model: Any, input_shape: Sequence[int] | None) -> tuple[int, int, int]:
    if input_shape is None:
        from brainlike.analysis.activations.layers import default_input_shape

        return default_input_shape(model)
    shape = tuple(int(v) for v in input_shape)
    if len(shape) != 3 or min(shape) < 1:
        raise ValueError(f"input_shape is (channels, height, width), got {tuple(input_shape)}")
    return shape  # type: ignore[return-value]


def _recurrent_steps(model: Any) -> int | None:
    steps = getattr(model, "time_steps", None)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        return None
    return int(steps)


def pareto_front(points: Any) -> list[int]:
    """Indices of the points on the Pareto front of fewer units and higher accuracy.

    A point is on the front when no other point has at most as many units and at least the
    same accuracy while differing in one of them. Equal points do not dominate each other, so
    all copies of a front point are on it. Points with a NaN coordinate are never on it.

    Parameters
    ----------
    points : ``(n, 2)`` array-like of ``(units, accuracy)``.

    Returns
    -------
    list of int
        Indices into ``points``, by increasing units (then index): the front drawn left to
        right.
    """
    p = np.asarray(points, dtype=float)
    if p.size == 0:
        return []
    if p.ndim != 2 or p.shape[1] != 2:
        raise ValueError(f"points must be (n, 2) pairs of (units, accuracy), got shape {p.shape}")
    valid = np.flatnonzero(~np.isnan(p).any(axis=1))
    # sweep by units; within a group of equal units only its best accuracy can survive, and it
    # survives when every model with fewer units is strictly less accurate
    order = valid[np.lexsort((valid, -p[valid, 1], p[valid, 0]))]
    front: list[int] = []
    best_before = -np.inf
    i = 0
    while i < len(order):
        units = p[order[i], 0]
        j = i
        while j < len(order) and p[order[j], 0] == units:
            j += 1
        group_best = p[order[i], 1]
        if group_best > best_before:
            front.extend(int(k) for k in order[i:j] if p[k, 1] == group_best)
            best_before = group_best
        i = j
    return front


# ---------------------------------------------------------------------------------------------
# Trained runs


def _natural_key(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(path))]


def _is_run(path: Path) -> bool:
    return (path / "summary.json").is_file() and (path / "checkpoints" / "last.pt").is_file()


def expand_run_dirs(paths: Iterable[str | Path]) -> list[Path]:
    """Run directories from paths that are runs or folders holding runs (at any depth).

    A run directory holds ``summary.json`` and ``checkpoints/last.pt`` (a finished
    ``brainlike train`` run). Runs inside a folder come in natural order (``trials/2`` before
    ``trials/10``); repeats are dropped.
    """
    out: list[Path] = []
    for raw in paths:
        path = Path(raw).expanduser()
        if _is_run(path):
            out.append(path)
            continue
        if not path.is_dir():
            raise FileNotFoundError(f"{path} is neither a run directory nor a folder of runs")
        found = sorted(
            (s.parent for s in path.rglob("summary.json") if _is_run(s.parent)), key=_natural_key
        )
        if not found:
            raise FileNotFoundError(
                f"{path} holds no finished runs (folders with summary.json and "
                "checkpoints/last.pt); train one with `brainlike train`"
            )
        out.extend(found)
    return list(dict.fromkeys(out))


def run_size(run_dir: str | Path, layers: Sequence[str] | None = None) -> dict[str, Any]:
    """Parameters, units and test accuracy of one trained run.

    The model is rebuilt from ``checkpoints/last.pt`` and shown images of the shape it was
    trained on (the checkpoint's preprocessing record, as :func:`brainlike.evaluation.scoring_model.
    load_scoring_model` reads it); the accuracy is ``test_acc`` of ``summary.json``.

    Returns
    -------
    dict
        ``run`` (the folder), ``name`` (the experiment), ``parameters``, ``units`` (sum over
        layers), ``layers`` (layer -> units), ``test_acc`` (None when the run has none).
    """
    from brainlike.evaluation.scoring_model import load_scoring_model

    run_dir = Path(run_dir).expanduser()
    summary_path = run_dir / "summary.json"
    if not summary_path.is_file():
        raise FileNotFoundError(f"{run_dir} has no summary.json: train it to the end first")
    summary = json.loads(summary_path.read_text())
    sm = load_scoring_model(run_dir)
    per_layer = count_units(sm.model, (sm.in_channels, sm.input_size, sm.input_size), layers)
    acc = summary.get("test_acc")
    return {
        "run": str(run_dir),
        "name": summary.get("name", run_dir.name),
        "parameters": count_parameters(sm.model),
        "units": int(sum(per_layer.values())),
        "layers": per_layer,
        "test_acc": None if acc is None or not math.isfinite(acc) else float(acc),
    }


def size_table(
    run_dirs: Iterable[str | Path], layers: Sequence[str] | None = None
) -> list[dict[str, Any]]:
    """One row per run (:func:`run_size`) with ``on_front``: on the accuracy-units front.

    ``run_dirs`` may name folders holding runs (:func:`expand_run_dirs`). Runs without a test
    accuracy are never on the front.
    """
    rows = [run_size(r, layers) for r in expand_run_dirs(run_dirs)]
    points = [(r["units"], np.nan if r["test_acc"] is None else r["test_acc"]) for r in rows]
    front = set(pareto_front(points))
    for i, row in enumerate(rows):
        row["on_front"] = i in front
    return rows


def render_size_table(rows: Sequence[dict[str, Any]], title: str | None = None) -> Any:
    """A rich table of :func:`size_table` rows (``*`` marks the Pareto front)."""
    from rich.table import Table

    table = Table(title=title or "accuracy against units (* on the Pareto front)")
    for col in ("run", "parameters", "units", "test acc", "front"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for r in rows:
        acc = r.get("test_acc")
        table.add_row(
            str(r["run"]),
            f"{r['parameters']:,}",
            f"{r['units']:,}",
            "—" if acc is None else f"{acc:.4f}",
            "*" if r.get("on_front") else "",
        )
    return table


def _label(run: str) -> str:
    p = Path(run)
    return f"{p.parent.name}/{p.name}" if p.name.isdigit() else p.name


def plot_pareto(rows: Sequence[dict[str, Any]], path: str | Path, title: str | None = None) -> Path:
    """Save test accuracy against units (log x), the Pareto front drawn as a staircase.

    ``rows`` are dicts with ``units``, ``test_acc`` and ``run`` (as :func:`size_table` makes);
    the front is computed here. Returns the written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    pts = [(r["units"], r["test_acc"], str(r.get("run", i))) for i, r in enumerate(rows)]
    pts = [p for p in pts if p[1] is not None and math.isfinite(p[1])]
    if not pts:
        raise ValueError("no run has a test accuracy: nothing to plot")
    units = np.array([p[0] for p in pts], dtype=float)
    acc = np.array([p[1] for p in pts], dtype=float)
    front = pareto_front(np.column_stack([units, acc]))
    fig, ax = plt.subplots(figsize=(6, 4.2))
    ax.scatter(units, acc, s=22, color="0.55", label="models", zorder=2)
    fx, fy = units[front], acc[front]
    ax.step(fx, fy, where="post", color="C3", lw=1.5, zorder=3)
    ax.scatter(fx, fy, s=36, color="C3", label="Pareto front", zorder=4)
    for k in front:
        ax.annotate(
            _label(pts[k][2]),
            (units[k], acc[k]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=7,
        )
    ax.set_xscale("log")
    ax.set_xlabel("units (sum over the fitted layers)")
    ax.set_ylabel("test accuracy")
    ax.set_title(title or "accuracy against units")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path
