"""Topography over training: every metric, with its null, for every snapshot of a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brainlike.config import AnalysisConfig, ExperimentConfig, load_config
from brainlike.train.checkpoint import atomic_write_json


def load_snapshots(run_dir: str | Path) -> dict[str, np.ndarray]:
    """Read ``run_dir/snapshots.npz`` (class-mean grid maps over training) and check it."""
    path = Path(run_dir) / "snapshots.npz"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path} not found: is {run_dir} a brainlike run directory? Train one with `brainlike train`"
        )
    try:
        with np.load(path, allow_pickle=False) as z:
            snaps = {k: z[k] for k in z.files}
    except (OSError, ValueError) as err:
        raise ValueError(f"{path} is not a readable snapshot file ({err})") from None
    missing = {"means", "vars", "counts", "epoch", "step", "accuracy"} - set(snaps)
    if missing:
        raise ValueError(f"{path} lacks {sorted(missing)}; it was not written by brainlike")
    if snaps["means"].ndim != 4:
        raise ValueError(
            f"{path}: 'means' must be (snapshots, classes, H, W), got shape {snaps['means'].shape}"
        )
    return snaps


def run_config(run_dir: str | Path) -> ExperimentConfig:
    """The validated config a run was trained with (``run_dir/config.yaml``)."""
    return load_config(Path(run_dir) / "config.yaml")


def analysis_settings(
    analysis: AnalysisConfig,
    *,
    threshold: float | None = None,
    dprime: str | None = None,
    null: str | None = None,
    n_shuffles: int | None = None,
) -> dict[str, Any]:
    """The settings of a topography analysis: a config's ``analysis`` section, overridden."""
    return {
        "threshold": analysis.threshold if threshold is None else float(threshold),
        "dprime": analysis.dprime if dprime is None else dprime,
        "null": analysis.null_model if null is None else null,
        "n_shuffles": analysis.n_shuffles if n_shuffles is None else int(n_shuffles),
        "ordered": analysis.ordered,
        "target_sets": analysis.target_sets,
    }


def snapshot_topography(
    settings: dict[str, Any],
    means: np.ndarray,
    vars_: np.ndarray,
    counts: np.ndarray,
    tile: int,
    seed: int,
) -> dict[str, Any]:
    """Every topography metric of one snapshot (class maps ``(C, H, W)``) with its null."""
    from brainlike.analysis.topography import topography_summary

    sets = settings["target_sets"]
    return topography_summary(
        means,
        vars_,
        counts,
        threshold=settings["threshold"],
        dprime=settings["dprime"],
        ordered=settings["ordered"],
        target_sets=list(sets.values()) if sets else None,
        null=settings["null"],
        tile=tile if settings["null"] == "tile" else None,
        n_shuffles=settings["n_shuffles"],
        seed=seed,
    )


def topography_history(
    run_dir: str | Path,
    *,
    threshold: float | None = None,
    dprime: str | None = None,
    null: str | None = None,
    n_shuffles: int | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Compute :func:`~brainlike.analysis.topography.topography_summary` for every snapshot.

    Settings default to the run's config (``analysis`` section); arguments override them.
    Writes ``run_dir/topography.json`` (atomically) unless ``write`` is False.
    """
    run_dir = Path(run_dir)
    snaps = load_snapshots(run_dir)
    settings = analysis_settings(
        run_config(run_dir).analysis,
        threshold=threshold,
        dprime=dprime,
        null=null,
        n_shuffles=n_shuffles,
    )
    if settings["dprime"] not in ("class", "trial"):
        raise ValueError(f"dprime must be 'class' or 'trial', got {settings['dprime']!r}")
    if settings["null"] not in ("pixel", "tile"):
        raise ValueError(f"null must be 'pixel' or 'tile', got {settings['null']!r}")
    if settings["n_shuffles"] < 1:
        raise ValueError(f"the null needs at least 1 shuffle, got {settings['n_shuffles']}")
    tile = int(snaps["tile"]) if "tile" in snaps else 0
    if settings["null"] == "tile" and tile <= 0:
        raise ValueError(
            "null 'tile' needs a run with tiles (snapshots.npz 'tile' > 0); use null 'pixel'"
        )
    out = []
    for i in range(snaps["means"].shape[0]):
        acc = float(snaps["accuracy"][i])
        metrics = snapshot_topography(
            settings, snaps["means"][i], snaps["vars"][i], snaps["counts"][i], tile, seed=i
        )
        out.append(
            {
                "epoch": float(snaps["epoch"][i]),
                "step": int(snaps["step"][i]),
                "accuracy": None if np.isnan(acc) else acc,
                **metrics,
            }
        )
    result: dict[str, Any] = {"settings": settings, "snapshots": out}
    if write:
        path = atomic_write_json(run_dir / "topography.json", result)
        result["path"] = str(path)
    return result
