"""Topography over training: every metric, with its null, for every snapshot of a run."""

from __future__ import annotations

import json
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
    seed: int = 0,
    threshold: float | None = None,
    dprime: str | None = None,
    null: str | None = None,
    n_shuffles: int | None = None,
) -> dict[str, Any]:
    """The settings of a topography analysis: a config's ``analysis`` section, overridden.

    ``seed`` is the run's seed; the shuffles of snapshot ``i`` are drawn from
    :func:`snapshot_seed` ``(seed, i)``.
    """
    return {
        "threshold": analysis.threshold if threshold is None else float(threshold),
        "dprime": analysis.dprime if dprime is None else dprime,
        "null": analysis.null_model if null is None else null,
        "n_shuffles": analysis.n_shuffles if n_shuffles is None else int(n_shuffles),
        "ordered": analysis.ordered,
        "target_sets": analysis.target_sets,
        "seed": int(seed),
    }


def run_settings(cfg: ExperimentConfig) -> dict[str, Any]:
    """The topography settings a run's own record (``topography.json``) is computed with."""
    return analysis_settings(cfg.analysis, seed=cfg.seed)


def snapshot_seed(seed: int, index: int) -> int:
    """Seed of the null shuffles of snapshot ``index`` in a run seeded ``seed``."""
    return int(np.random.SeedSequence([int(seed), int(index)]).generate_state(1)[0])


def record_name(settings: dict[str, Any], own: dict[str, Any]) -> str:
    """File name of a topography record: ``topography.json`` for the run's own settings,
    else one named by its settings (``topography-dprime_class-null_tile-T1.0-shuffles200.json``).
    """
    if settings == own:
        return "topography.json"
    return (
        f"topography-dprime_{settings['dprime']}-null_{settings['null']}-"
        f"T{float(settings['threshold'])}-shuffles{settings['n_shuffles']}.json"
    )


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


def check_settings(settings: dict[str, Any], tile: int) -> None:
    """Refuse analysis settings that cannot apply (to a run whose tiles have side ``tile``)."""
    if settings["dprime"] not in ("class", "trial"):
        raise ValueError(f"dprime must be 'class' or 'trial', got {settings['dprime']!r}")
    if settings["null"] not in ("pixel", "tile"):
        raise ValueError(f"null must be 'pixel' or 'tile', got {settings['null']!r}")
    if settings["n_shuffles"] < 1:
        raise ValueError(f"the null needs at least 1 shuffle, got {settings['n_shuffles']}")
    if settings["null"] == "tile" and tile <= 0:
        raise ValueError(
            "null 'tile' needs a run with tiles (snapshots.npz 'tile' > 0); use null 'pixel'"
        )


def compute_history(snaps: dict[str, np.ndarray], settings: dict[str, Any]) -> dict[str, Any]:
    """Topography metrics of every snapshot: ``{"settings": ..., "snapshots": [...]}``.

    ``snaps`` holds the arrays of ``snapshots.npz``; snapshot ``i`` is shuffled with
    :func:`snapshot_seed` ``(settings["seed"], i)``.
    """
    tile = int(snaps["tile"]) if "tile" in snaps else 0
    check_settings(settings, tile)
    out = []
    for i in range(snaps["means"].shape[0]):
        acc = float(snaps["accuracy"][i])
        metrics = snapshot_topography(
            settings,
            snaps["means"][i],
            snaps["vars"][i],
            snaps["counts"][i],
            tile,
            seed=snapshot_seed(settings["seed"], i),
        )
        out.append(
            {
                "epoch": float(snaps["epoch"][i]),
                "step": int(snaps["step"][i]),
                "accuracy": None if np.isnan(acc) else acc,
                **metrics,
            }
        )
    return {"settings": settings, "snapshots": out}


def write_record(run_dir: str | Path, history: dict[str, Any], own: dict[str, Any]) -> Path:
    """Write a topography history beside the run's files, named by :func:`record_name`."""
    return atomic_write_json(Path(run_dir) / record_name(history["settings"], own), history)


def _read_record(path: Path, settings: dict[str, Any], snaps: dict[str, np.ndarray]) -> dict | None:
    """The record at ``path`` if it holds ``settings`` for exactly these snapshots, else None."""
    if not path.is_file():
        return None
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("settings") != settings:
        return None
    entries = record.get("snapshots")
    if not isinstance(entries, list) or len(entries) != snaps["means"].shape[0]:
        return None
    same = all(
        isinstance(e, dict) and e.get("step") == int(s) and e.get("epoch") == float(t)
        for e, s, t in zip(entries, snaps["step"], snaps["epoch"], strict=True)
    )
    return record if same else None


def topography_history(
    run_dir: str | Path,
    *,
    threshold: float | None = None,
    dprime: str | None = None,
    null: str | None = None,
    n_shuffles: int | None = None,
    write: bool = True,
) -> dict[str, Any]:
    """Topography metrics (:func:`~brainlike.analysis.topography.topography_summary`) of every
    snapshot of a run, with the run's record as the one source of its numbers.

    Settings default to the run's config (``analysis`` section and seed); arguments override
    them. With the run's own settings the record is ``run_dir/topography.json``, written by
    ``brainlike train`` (the numbers of ``summary.json``); other settings are a re-analysis,
    recorded beside it in a file named by its settings (:func:`record_name`), so the run's
    record is never replaced. A record that matches the settings and the snapshots is read,
    not recomputed; otherwise the history is computed and (``write``) recorded.

    Returns
    -------
    dict
        ``{"settings", "snapshots": [one dict per snapshot], "path", "source"}`` where
        ``source`` is ``"read"`` or ``"computed"`` and ``path`` is the record (None when not
        written: ``write=False`` or a run folder this user cannot write to).
    """
    run_dir = Path(run_dir)
    snaps = load_snapshots(run_dir)
    cfg = run_config(run_dir)
    own = run_settings(cfg)
    settings = analysis_settings(
        cfg.analysis,
        seed=cfg.seed,
        threshold=threshold,
        dprime=dprime,
        null=null,
        n_shuffles=n_shuffles,
    )
    path = run_dir / record_name(settings, own)
    record = _read_record(path, settings, snaps)
    if record is not None:
        return {**record, "path": str(path), "source": "read"}
    result = compute_history(snaps, settings)
    written = None
    if write:
        try:
            written = write_record(run_dir, result, own)
        except PermissionError:  # a colleague's read-only run: the numbers, without a record
            written = None
    return {**result, "path": None if written is None else str(written), "source": "computed"}
