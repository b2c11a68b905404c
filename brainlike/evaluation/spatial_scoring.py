"""How well a path integrator's units account for recorded entorhinal cells.

Spec: mouse-and-entorhinal.md §2, "Mapping model units to recorded cells". The model's units
(layer ``g`` by default, the layer compared with MEC) are mapped in the recording's own box:
their rate maps come from seeded random walks in an arena of the recording's side, binned as
the recording is (same bin size, bins counted from the arena's lower-left corner). Each
animal's cells get occupancy-normalised rate maps from their spikes (Gaussian smoothing
``smooth_cm``). Ridge regression (alpha 1) from all model units to each cell, fitted on a
random 20 % of the bins and tested on the other 80 % over 10 splits, gives a held-out Pearson
r per cell; the model's number is the median over all cells of all animals. The same mapping
from the pooled cells of the other animals gives the inter-animal ceiling on the same cells
and bins. ``ceiled = median / ceiling``. Grid (mean over annuli) and border score
distributions of model units and cells are compared with a two-sample Kolmogorov-Smirnov test.

The mapping, ceiling and KS are :mod:`brainlike.analysis.spatial_mapping`'s; this module
chooses the maps, masks them to shared bins and records the conventions.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.analysis.spatial_mapping import (
    ALPHA,
    SPLITS,
    TRAIN_FRACTION,
    MappingScore,
    inter_animal_ceiling,
    map_units_to_cells,
    score_distribution_match,
)

__all__ = [
    "SMOOTH_CM",
    "SpatialScoring",
    "is_spatial_recording",
    "score_spatial",
    "score_spatial_layers",
]

#: Gaussian s.d. (cm) of the cells' rate maps by default: one 5 cm bin. Unsmoothed maps of a
#: 10-minute session hold ~1 spike per bin and their inter-animal ceiling is noise-bound
#: (0.20 against 0.77 smoothed on the generated session).
SMOOTH_CM = 5.0
N_SEQUENCES = 2000
GRID_CONVENTION = "mean_annuli"
REGION = "MEC"
MAPPING = "ridge_bins"
METRIC = "spatial-ridge"


def _num(v: Any) -> float | None:
    """A JSON-safe float (NaN and inf -> None)."""
    if v is None:
        return None
    v = float(v)
    return v if math.isfinite(v) else None


def _nums(a: Any) -> list[float | None]:
    return [_num(v) for v in np.asarray(a, dtype=float).ravel()]


@dataclass(frozen=True)
class SpatialScoring:
    """A model layer scored against a spatial recording (see the module docstring).

    Attributes
    ----------
    model, layer : the run's name and the scored layer.
    benchmark : the recording's session name (or file stem); recording : its path.
    recording_sha256 : the recording file's sha256 (None for an in-memory recording).
    median, median_se : median over all cells of the model's held-out ridge r, and the
        bootstrap s.e. of that median over cells.
    ceiling, ceiling_se : the same for the pooled-source inter-animal mapping (NaN with one
        animal).
    ceiled, ceiled_se : ``median / ceiling``, and its first-order s.e.
        ``|ceiled| sqrt((median_se/median)^2 + (ceiling_se/ceiling)^2)``.
    per_animal : animal -> dict of that animal's cells' median, ceiling, ceiled, KS, counts.
    ks : "grid" and "border" -> KS of model units' scores against all cells' (as dicts).
    per_cell : cell ids, the model's r and the ceiling's r per cell, the cells' grid and
        border scores.
    model_scores : the model units' grid and border scores.
    conventions : what every number means and how it was computed.
    settings, provenance : the arguments; the weights and files scored.
    """

    model: str
    layer: str
    benchmark: str
    recording: str
    recording_sha256: str | None
    median: float
    median_se: float
    ceiling: float
    ceiling_se: float
    ceiled: float
    ceiled_se: float
    per_animal: dict[str, dict[str, Any]]
    ks: dict[str, dict[str, Any]]
    per_cell: dict[str, list]
    model_scores: dict[str, list]
    conventions: dict[str, Any]
    settings: dict[str, Any]
    provenance: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe dict (NaN -> None) of every number and convention."""
        return {
            "kind": "spatial",
            "model": self.model,
            "layer": self.layer,
            "region": REGION,
            "benchmark": self.benchmark,
            "recording": self.recording,
            "recording_sha256": self.recording_sha256,
            "metric": METRIC,
            "mapping": MAPPING,
            "raw": _num(self.median),
            "raw_error": _num(self.median_se),
            "ceiling": _num(self.ceiling),
            "ceiling_error": _num(self.ceiling_se),
            "ceiled": _num(self.ceiled),
            "ceiled_error": _num(self.ceiled_se),
            "per_animal": self.per_animal,
            "ks": self.ks,
            "per_cell": self.per_cell,
            "model_scores": self.model_scores,
            "conventions": self.conventions,
            "settings": self.settings,
            "provenance": self.provenance,
        }


def is_spatial_recording(path: str | Path) -> bool:
    """Whether ``path`` is a :class:`~brainlike.data.recordings.spatial.SpatialRecording`
    netCDF file (HDF5 with its ``spike_cell`` and ``sample_animal`` variables); reads only
    the file's variable names, and says False for anything else (Brain-Score netCDF, NWB,
    npz, missing files)."""
    p = Path(path).expanduser()
    if p.suffix.lower() != ".nc" or not p.is_file():
        return False
    try:
        import h5py

        with h5py.File(p, "r") as f:
            return "spike_cell" in f and "sample_animal" in f and "spike_time" in f
    except (OSError, ValueError):  # not HDF5 (e.g. netCDF3): not a spatial recording
        return False


# ---------------------------------------------------------------------------------------------
# the two sides


@dataclass
class _DataSide:
    """Cells' maps per animal (unmasked), their grid and border scores, and the recording."""

    rec: Any
    path: str
    sha256: str | None
    benchmark: str
    maps: dict[str, np.ndarray]  # animal -> (N_a, ny, nx)
    grid: dict[str, np.ndarray]
    border: dict[str, np.ndarray]
    side_m: float


def _check_args(bin_cm: float, smooth_cm: float, n_sequences: int, layer: str) -> None:
    if not (isinstance(bin_cm, (int, float)) and math.isfinite(bin_cm) and bin_cm > 0):
        raise ValueError(f"bin_cm is {bin_cm!r}; give the bin side in cm (> 0, e.g. 5)")
    if not (isinstance(smooth_cm, (int, float)) and math.isfinite(smooth_cm) and smooth_cm >= 0):
        raise ValueError(f"smooth_cm is {smooth_cm!r}; give a Gaussian s.d. in cm (>= 0)")
    if isinstance(n_sequences, bool) or not isinstance(n_sequences, int) or n_sequences < 1:
        raise ValueError(f"n_sequences is {n_sequences!r}; give a positive number of walks")
    if layer not in ("g", "core"):
        raise ValueError(f"layer is {layer!r}; a path integrator has layers 'g' and 'core'")


def _data_side(recording: Any, bin_cm: float, smooth_cm: float) -> _DataSide:
    from brainlike.analysis.spatial import border_scores, grid_scores
    from brainlike.data.recordings.spatial import SpatialRecording

    if isinstance(recording, SpatialRecording):
        rec, path, sha, stem = recording, "", None, "spatial-recording"
    else:
        from brainlike.evaluation.outputs import recording_digest

        p = Path(recording).expanduser()
        if not is_spatial_recording(p):
            raise ValueError(
                f"{p} is not a spatial recording (.nc with tracking and spike times); write one "
                "with SpatialRecording.save or `brainlike simulate OUT --species rat`"
            )
        rec, path, sha, stem = SpatialRecording.load(p), str(p), recording_digest(p), p.stem
    sx, sy = (float(v) for v in rec.arena)
    if not math.isclose(sx, sy, rel_tol=1e-9):
        raise ValueError(
            f"the recording's arena is {sx:g} x {sy:g} m; model walks are in square boxes, so "
            "its bins cannot be matched (score a square-arena recording)"
        )
    maps = {
        a: m.rates for a, m in rec.rate_maps_per_animal(bin_cm=bin_cm, smooth_cm=smooth_cm).items()
    }
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        grid = {a: grid_scores(m, GRID_CONVENTION).scores for a, m in maps.items()}
        border = {a: border_scores(m, bin_cm)[0] for a, m in maps.items()}
    name = str(rec.dataset.attrs.get("session") or "") or stem
    return _DataSide(rec, path, sha, name, maps, grid, border, sx)


def _ks(model: np.ndarray, data: np.ndarray) -> dict[str, Any] | None:
    try:
        m = score_distribution_match(model, data)
    except ValueError:  # no finite score on one side
        return None
    return {k: _num(v) if isinstance(v, float) else v for k, v in m.__dict__.items()}


def _ratio(a: float, b: float) -> float:
    return a / b if (math.isfinite(a) and math.isfinite(b) and b != 0) else float("nan")


def _ratio_se(r: float, a: float, sa: float, b: float, sb: float) -> float:
    if not all(math.isfinite(v) for v in (r, a, sa, b, sb)) or a == 0 or b == 0:
        return float("nan")
    return abs(r) * math.sqrt((sa / a) ** 2 + (sb / b) ** 2)


def _conventions(bin_cm: float, smooth_cm: float, train_fraction: float, splits: int,
                 alpha: float, seed: int, n_sequences: int) -> dict[str, Any]:  # fmt: skip
    return {
        "raw": "median over all recorded cells (every animal) of the held-out Pearson r between "
        "a cell's rate map and its ridge prediction from all model units (mean over splits); "
        "error = bootstrap s.e. of the median over cells",
        "ceiling": "the same median for the pooled-source inter-animal mapping (each animal's "
        "cells predicted from all other animals' cells) on the same cells, bins and splits; "
        "NaN with one animal",
        "ceiled": "raw / ceiling (a ratio of medians, not a median of per-cell ratios); error "
        "= first-order propagation of both s.e.s; metrics are never averaged together",
        "ks": f"two-sample Kolmogorov-Smirnov (scipy ks_2samp, two-sided) between the model "
        f"units' and the cells' grid scores ({GRID_CONVENTION}) and border scores; NaN scores "
        "dropped and counted",
        "mapping": f"ridge (alpha {alpha}, intercept, raw maps) from the model units' maps to "
        f"each cell's map; samples are spatial bins; {train_fraction:g} of the bins train, the "
        f"rest test; {splits} splits",
        "bins": f"{bin_cm:g} cm square bins over the recording's arena from its lower-left "
        "corner; only bins visited by the model walks and every animal are used (the count is "
        "in bins_used)",
        "model_maps": f"mean activation per bin over {n_sequences} seeded walks in a box of the "
        "recording's side, initial state coded by the training place cells",
        "cell_maps": f"occupancy-normalised spike counts, Gaussian smoothing s.d. {smooth_cm:g} "
        "cm (counts and occupancy smoothed separately)",
        "seeds": f"walks and bin splits and bootstrap from seed {seed}",
        "bin_cm": bin_cm,
        "smooth_cm": smooth_cm,
        "train_fraction": train_fraction,
        "splits": splits,
        "alpha": alpha,
        "seed": seed,
        "grid_convention": GRID_CONVENTION,
        "spec": "mouse-and-entorhinal.md §2",
    }


def score_spatial_layers(
    run_dir: str | Path,
    recording: Any,
    *,
    layers: Sequence[str] = ("g",),
    n_sequences: int = N_SEQUENCES,
    bin_cm: float = 5.0,
    smooth_cm: float = SMOOTH_CM,
    splits: int = SPLITS,
    train_fraction: float = TRAIN_FRACTION,
    alpha: float = ALPHA,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> list[SpatialScoring]:
    """:func:`score_spatial` for several layers, the recording's maps and ceiling computed
    once (arguments as there)."""
    from brainlike.analysis.spatial import border_scores, grid_scores
    from brainlike.evaluation.pathint_maps import load_pathint_run, unit_rate_maps

    layers = list(layers)
    if not layers:
        raise ValueError("layers is empty; name at least one layer ('g' or 'core')")
    for layer in layers:
        _check_args(bin_cm, smooth_cm, n_sequences, layer)
    data = _data_side(recording, bin_cm, smooth_cm)
    model, cfg = load_pathint_run(run_dir)
    model.to(device)
    trained = float(cfg.data.trajectories.arena)
    if not math.isclose(trained, data.side_m, rel_tol=1e-9):
        warnings.warn(
            f"the run was trained in a {trained:g} m box and the recording is in a "
            f"{data.side_m:g} m box; the model's maps come from walks in the recording's box",
            stacklevel=2,
        )
    animals = list(data.maps)
    shape = next(iter(data.maps.values())).shape[1:]
    model_maps = {}
    for layer in layers:
        if progress:
            print(f"rate maps of layer {layer} ({n_sequences} walks)", flush=True)
        rm = unit_rate_maps(
            model, cfg, layer=layer, n_sequences=n_sequences, bin_cm=bin_cm, seed=seed,
            arena=data.side_m,
        )  # fmt: skip
        if rm.rates.shape[1:] != shape:
            raise ValueError(
                f"model maps have {rm.rates.shape[1:]} bins and the recording's {shape}; the "
                f"bin grids of a {data.side_m:g} m box at {bin_cm:g} cm do not match"
            )
        model_maps[layer] = rm.rates
    # spec §2: the model and the ceiling use the same bins (visited by the walks and every animal)
    visited = np.ones(shape, dtype=bool)
    for m in [*data.maps.values(), *model_maps.values()]:
        visited &= np.isfinite(m).all(axis=0)
    flat = {a: np.where(visited, m, np.nan).reshape(len(m), -1) for a, m in data.maps.items()}
    fit = {"train_fraction": train_fraction, "splits": splits, "alpha": alpha, "seed": seed}
    if progress:
        print("inter-animal ceiling", flush=True)
    ceiling = inter_animal_ceiling(flat, **fit) if len(animals) > 1 else None
    cell_ids = [str(c) for a in animals for c in data.rec.cell_ids[data.rec.cells_of(a)]]
    data_grid = np.concatenate([data.grid[a] for a in animals])
    data_border = np.concatenate([data.border[a] for a in animals])
    conventions = _conventions(bin_cm, smooth_cm, train_fraction, splits, alpha, seed, n_sequences)
    weights = _weights_digest(model)
    out = []
    for layer in layers:
        src = np.where(visited, model_maps[layer], np.nan).reshape(len(model_maps[layer]), -1)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            m_grid = grid_scores(model_maps[layer], GRID_CONVENTION).scores
            m_border = border_scores(model_maps[layer], bin_cm)[0]
        by_animal: dict[str, MappingScore] = {
            a: map_units_to_cells(src, flat[a], **fit) for a in animals
        }
        per_cell = np.concatenate([by_animal[a].per_cell for a in animals])
        median, median_se = _median_and_se(per_cell, seed)
        c_val = ceiling.median if ceiling else float("nan")
        c_se = ceiling.median_se if ceiling else float("nan")
        ceiled = _ratio(median, c_val)
        per_animal = {}
        for a in animals:
            s = by_animal[a]
            ca = ceiling.per_animal[a] if ceiling else None
            ca_med = ca.median if ca else float("nan")
            per_animal[a] = {
                "median": _num(s.median),
                "median_se": _num(s.median_se),
                "ceiling": _num(ca_med),
                "ceiling_se": _num(ca.median_se if ca else None),
                "ceiled": _num(_ratio(s.median, ca_med)),
                "n_cells": s.n_cells,
                "n_scored": s.n_scored,
                "ks": {"grid": _ks(m_grid, data.grid[a]), "border": _ks(m_border, data.border[a])},
            }
        first = by_animal[animals[0]]
        out.append(
            SpatialScoring(
                model=str(cfg.name),
                layer=layer,
                benchmark=data.benchmark,
                recording=data.path,
                recording_sha256=data.sha256,
                median=median,
                median_se=median_se,
                ceiling=c_val,
                ceiling_se=c_se,
                ceiled=ceiled,
                ceiled_se=_ratio_se(ceiled, median, median_se, c_val, c_se),
                per_animal=per_animal,
                ks={"grid": _ks(m_grid, data_grid), "border": _ks(m_border, data_border)},
                per_cell={
                    "cell_id": cell_ids,
                    "animal": [a for a in animals for _ in range(len(data.maps[a]))],
                    "model_r": _nums(per_cell),
                    "ceiling_r": _nums(ceiling.per_cell) if ceiling else [None] * len(per_cell),
                    "grid_score": _nums(data_grid),
                    "border_score": _nums(data_border),
                },
                model_scores={"grid_score": _nums(m_grid), "border_score": _nums(m_border)},
                conventions=conventions,
                settings={
                    "layer": layer,
                    "n_units": int(src.shape[0]),
                    "n_cells": len(cell_ids),
                    "n_scored": int(np.isfinite(per_cell).sum()),
                    "animals": animals,
                    "bins": list(shape),
                    "bins_used": first.bins_used,
                    "bins_dropped": first.bins_dropped,
                    "arena_m": data.side_m,
                    "training_arena_m": trained,
                    "n_sequences": n_sequences,
                    **fit,
                    "bin_cm": bin_cm,
                    "smooth_cm": smooth_cm,
                },
                provenance={
                    "run": str(run_dir),
                    "weights_sha256": weights,
                    "checkpoint": str(Path(run_dir).expanduser() / "checkpoints" / "last.pt"),
                },
            )
        )
    return out


def _weights_digest(model: Any) -> str:
    from brainlike.analysis.activations import model_digest

    return model_digest(model)[:16]


def _median_and_se(per_cell: np.ndarray, seed: int) -> tuple[float, float]:
    """Median of the finite per-cell r and its bootstrap s.e. (as spatial_mapping's)."""
    from brainlike.analysis.spatial_mapping import _median_se, _nan_median

    return _nan_median(per_cell), _median_se(per_cell, seed)


def score_spatial(
    run_dir: str | Path,
    recording: Any,
    *,
    layer: str = "g",
    n_sequences: int = N_SEQUENCES,
    bin_cm: float = 5.0,
    smooth_cm: float = SMOOTH_CM,
    splits: int = SPLITS,
    train_fraction: float = TRAIN_FRACTION,
    alpha: float = ALPHA,
    seed: int = 0,
    device: str = "cpu",
    progress: bool = False,
) -> SpatialScoring:
    """Score one layer of a path-integration run against a spatial recording (spec §2).

    Parameters
    ----------
    run_dir : a ``brainlike train`` folder of a ``path_integration`` run.
    recording : a spatial recording ``.nc`` path or a
        :class:`~brainlike.data.recordings.spatial.SpatialRecording`.
    layer : ``"g"`` (compared with MEC) or ``"core"``.
    n_sequences : seeded walks behind the model's rate maps.
    bin_cm : bin side (cm) of both sides' maps. smooth_cm : Gaussian s.d. (cm) of the cells'
        maps (default :data:`SMOOTH_CM`).
    splits, train_fraction, alpha : the ridge mapping's conventions (spec: 10, 0.2, 1).
    seed : walks, bin splits and the bootstrap over cells.
    device : where the model runs for its maps.
    progress : print a line per stage.

    Returns
    -------
    SpatialScoring
        ``median``/``median_se`` (raw), ``ceiling``/``ceiling_se``, ``ceiled`` = median /
        ceiling, ``per_animal``, ``ks`` ("grid", "border") and ``conventions``.

    Raises
    ------
    ValueError
        A recording that is not spatial, a non-square arena, a bin grid that does not match,
        or a run that is not path integration; one line each.
    """
    return score_spatial_layers(
        run_dir, recording, layers=(layer,), n_sequences=n_sequences, bin_cm=bin_cm,
        smooth_cm=smooth_cm, splits=splits, train_fraction=train_fraction, alpha=alpha,
        seed=seed, device=device, progress=progress,
    )[0]  # fmt: skip
