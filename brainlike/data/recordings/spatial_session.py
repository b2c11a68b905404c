"""A generated medial-entorhinal session with a known answer, shipped offline.

Each animal forages for a long continuous session along the spec's rat random walk
(mouse-and-entorhinal.md §2: dt = 0.02 s, Rayleigh speeds, Gaussian turns, wall rule) while
cells of five kinds fire Poisson spikes from known rate functions of position (x, y, m) or
head direction (hd, rad):

- grid: three plane waves 60 degrees apart, rectified, ``max(0, sum_k cos(k_k . (p - phase)))
  / 3`` with ``|k| = 4 pi / (sqrt 3 spacing)`` (fields on a triangular lattice of the given
  spacing, orientation and phase);
- border: ``exp(-d / width)``, d the distance to one wall;
- place: a Gaussian bump ``exp(-|p - centre|^2 / 2 width^2)``;
- head direction: von Mises ``exp(kappa (cos(hd - preferred) - 1))``;
- heterogeneous: a random non-negative mixture ``sum_j w_j b_j(p)`` of a set of generating
  basis maps shared by all animals (rectified grid patterns and sums of Gaussian bumps, each
  scaled to a maximum of 1 on a 1 cm lattice), so that a ridge map from the basis to these
  cells should recover them.

A cell's rate is ``baseline_hz + peak_hz * shape``. Spikes: in tracking sample i (time
``i dt``) a cell fires Poisson(rate dt) spikes at uniform times in ``[i dt, (i + 0.999) dt)``
(so each spike counts in its own sample).

:func:`simulate_spatial_session` writes ``recording.nc`` (a
:class:`~brainlike.data.recordings.spatial.SpatialRecording`), ``ground_truth.json`` (every
parameter: enough for :func:`expected_rates` to rebuild every rate) and
``generating_maps.npz`` (the basis maps, the mixing weights and every cell's expected rate at
the centres of 5 cm bins).
"""

from __future__ import annotations

import json
import math
import time as _time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.data.recordings.spatial import SpatialRecording

__all__ = [
    "CELL_TYPES",
    "DEFAULT_CELLS",
    "FILES",
    "expected_rates",
    "shape_of",
    "simulate_spatial_session",
]

CELL_TYPES = ("grid", "border", "place", "head_direction", "heterogeneous")
#: cells of each type per animal
DEFAULT_CELLS: dict[str, int] = {
    "grid": 24,
    "border": 8,
    "place": 12,
    "head_direction": 8,
    "heterogeneous": 24,
}
FILES = ("recording.nc", "ground_truth.json", "generating_maps.npz")
WALLS = ("left", "right", "bottom", "top")
N_BASIS = 10
MAP_BIN_CM = 5.0
BASELINE_HZ = 0.1


def _grid_shape(p: np.ndarray, spacing: float, orientation: float, phase: Sequence[float]):
    k = 4 * math.pi / (math.sqrt(3) * spacing)
    d = p - np.asarray(phase)
    total = 0.0
    for j in range(3):
        a = orientation + j * math.pi / 3
        total = total + np.cos(k * (d[..., 0] * math.cos(a) + d[..., 1] * math.sin(a)))
    return np.maximum(total, 0.0) / 3.0


def _bumps_shape(p: np.ndarray, centres, widths, norm: float) -> np.ndarray:
    out = 0.0
    for c, w in zip(centres, widths, strict=True):
        out = out + np.exp(-((p - np.asarray(c)) ** 2).sum(-1) / (2 * w**2))
    return out / norm


def _basis_shape(b: Mapping[str, Any], p: np.ndarray) -> np.ndarray:
    if b["kind"] == "grid":
        return _grid_shape(p, b["spacing_m"], b["orientation_rad"], b["phase_m"])
    return _bumps_shape(p, b["centres_m"], b["widths_m"], b["norm"])


def shape_of(
    cell: Mapping[str, Any],
    position: np.ndarray,
    head_direction: np.ndarray | None,
    arena: float,
    basis: Sequence[Mapping[str, Any]],
) -> np.ndarray:
    """A cell's tuning shape (0..1) at each sample, from its ground-truth entry.

    Parameters
    ----------
    cell : one entry of ``ground_truth.json``'s ``cells``.
    position : (..., 2) m. head_direction : (...) rad (head-direction cells only).
    arena : side in m (centred at 0). basis : ``ground_truth.json``'s ``basis``.
    """
    kind, q = cell["type"], cell["params"]
    if kind == "grid":
        return _grid_shape(position, q["spacing_m"], q["orientation_rad"], q["phase_m"])
    if kind == "border":
        half = arena / 2
        d = {
            "left": position[..., 0] + half,
            "right": half - position[..., 0],
            "bottom": position[..., 1] + half,
            "top": half - position[..., 1],
        }[q["wall"]]
        return np.exp(-d / q["width_m"])
    if kind == "place":
        d2 = ((position - np.asarray(q["centre_m"])) ** 2).sum(-1)
        return np.exp(-d2 / (2 * q["width_m"] ** 2))
    if kind == "head_direction":
        if head_direction is None:
            # expected shape when head direction is uniform: I0(kappa) exp(-kappa)
            return np.full(position.shape[:-1], float(np.i0(q["kappa"]) * np.exp(-q["kappa"])))
        return np.exp(q["kappa"] * (np.cos(head_direction - q["preferred_rad"]) - 1))
    if kind == "heterogeneous":
        w = np.asarray(q["weights"])
        return sum(w[j] * _basis_shape(basis[j], position) for j in np.flatnonzero(w))
    raise ValueError(f"unknown cell type {kind!r}; known: {CELL_TYPES}")


def expected_rates(
    truth: Mapping[str, Any],
    position: np.ndarray,
    head_direction: np.ndarray | None,
    animal: str | None = None,
) -> np.ndarray:
    """Rates (Hz) of the session's cells (of one animal, or all) at each sample.

    Parameters
    ----------
    truth : the parsed ``ground_truth.json``.
    position : (T, 2) m. head_direction : (T,) rad or None (then head-direction cells get
        their mean over uniform head directions).

    Returns
    -------
    (cells, T) rates in Hz, cells in the recording's order.
    """
    arena = truth["arena_m"]
    cells = [c for c in truth["cells"] if animal is None or c["animal"] == animal]
    return np.stack(
        [
            c["baseline_hz"]
            + c["peak_hz"] * shape_of(c, position, head_direction, arena, truth["basis"])
            for c in cells
        ]
    )


def _make_basis(rng: np.random.Generator, arena: float) -> list[dict[str, Any]]:
    half = arena / 2
    lattice = np.arange(-half, half + 1e-9, 0.01)
    grid = np.stack(np.meshgrid(lattice, lattice, indexing="xy"), -1)
    basis = []
    for j in range(N_BASIS):
        if j % 2 == 0:
            basis.append(
                {
                    "kind": "grid",
                    "spacing_m": float(rng.uniform(0.4, 0.9)),
                    "orientation_rad": float(rng.uniform(0, math.pi / 3)),
                    "phase_m": rng.uniform(-half, half, 2).tolist(),
                }
            )
        else:
            n = int(rng.integers(2, 5))
            entry = {
                "kind": "bumps",
                "centres_m": rng.uniform(-0.8 * half, 0.8 * half, (n, 2)).tolist(),
                "widths_m": rng.uniform(0.12, 0.3, n).tolist(),
                "norm": 1.0,
            }
            entry["norm"] = float(_basis_shape(entry, grid).max())
            basis.append(entry)
    return basis


def _make_cells(
    rng: np.random.Generator, animal: str, counts: Mapping[str, int], arena: float
) -> list[dict[str, Any]]:
    half = arena / 2
    cells = []
    for kind in CELL_TYPES:
        for _ in range(counts.get(kind, 0)):
            if kind == "grid":
                q = {
                    "spacing_m": float(rng.uniform(0.4, 0.8)),
                    "orientation_rad": float(rng.uniform(0, math.pi / 3)),
                    "phase_m": rng.uniform(-half, half, 2).tolist(),
                }
            elif kind == "border":
                q = {"wall": str(rng.choice(WALLS)), "width_m": float(rng.uniform(0.05, 0.1))}
            elif kind == "place":
                q = {
                    "centre_m": rng.uniform(-0.8 * half, 0.8 * half, 2).tolist(),
                    "width_m": float(rng.uniform(0.08, 0.15)),
                }
            elif kind == "head_direction":
                q = {
                    "preferred_rad": float(rng.uniform(-math.pi, math.pi)),
                    "kappa": float(rng.uniform(2.0, 6.0)),
                }
            else:
                w = np.zeros(N_BASIS)
                pick = rng.choice(N_BASIS, size=int(rng.integers(2, 5)), replace=False)
                w[pick] = rng.exponential(1.0, len(pick))
                q = {"weights": (w / w.sum()).tolist()}
            cells.append(
                {
                    "cell_id": f"{animal}_{kind}{sum(c['type'] == kind for c in cells)}",
                    "animal": animal,
                    "type": kind,
                    "peak_hz": float(rng.uniform(5.0, 15.0)),
                    "baseline_hz": BASELINE_HZ,
                    "params": q,
                }
            )
    return cells


def _check(
    out_dir: Path,
    animals: int,
    counts: Mapping[str, int],
    minutes: float,
    arena: float,
    overwrite: bool,
) -> None:
    if not isinstance(animals, (int, np.integer)) or animals < 1:
        raise ValueError(f"animals is {animals!r}; give a positive number of animals (e.g. 2)")
    unknown = set(counts) - set(CELL_TYPES)
    if unknown:
        raise ValueError(f"cells names unknown types {sorted(unknown)}; known: {CELL_TYPES}")
    if any(not isinstance(v, (int, np.integer)) or v < 0 for v in counts.values()) or not sum(
        counts.values()
    ):
        raise ValueError(f"cells is {dict(counts)}; give non-negative counts, at least one cell")
    if not minutes > 0 or not math.isfinite(minutes):
        raise ValueError(f"minutes is {minutes!r}; give a positive session length (e.g. 10)")
    if not arena > 0:
        raise ValueError(f"arena is {arena!r}; give the box side in metres (e.g. 2.2)")
    present = [f for f in FILES if (out_dir / f).exists()]
    if present and not overwrite:
        raise ValueError(
            f"{out_dir} already holds {', '.join(present)}; pass overwrite=True (--overwrite) "
            "or choose another folder"
        )


def simulate_spatial_session(
    out_dir: str | Path,
    animals: int = 2,
    cells: Mapping[str, int] | None = None,
    minutes: float = 10.0,
    seed: int = 0,
    overwrite: bool = False,
    arena: float = 2.2,
) -> dict[str, Any]:
    """Generate and write an example entorhinal session with known cells (module docstring).

    Parameters
    ----------
    out_dir : folder for ``recording.nc``, ``ground_truth.json``, ``generating_maps.npz``.
    animals : number of animals (each its own walk and cells; one shared basis).
    cells : cells of each type per animal (default :data:`DEFAULT_CELLS`).
    minutes : session length per animal.
    seed : everything (walks, cell parameters, spikes) follows from it.
    overwrite : replace those files if present (refused otherwise).
    arena : side of the square box in metres, centred at 0.

    Returns
    -------
    dict with the written paths, ``n_cells``, ``n_spikes`` and ``seconds`` (generation time).
    """
    import torch

    from brainlike.data.trajectories import DT, generate_trajectories

    start = _time.perf_counter()
    out_dir = Path(out_dir)
    counts = dict(DEFAULT_CELLS if cells is None else cells)
    _check(out_dir, animals, counts, minutes, arena, overwrite)
    steps = max(2, int(round(minutes * 60 / DT)))
    rng = np.random.default_rng(seed)
    basis = _make_basis(rng, arena)
    walks = generate_trajectories(animals, steps, arena=arena, seed=seed, dtype=torch.float64)
    times = np.arange(steps) * DT
    truth_cells: list[dict[str, Any]] = []
    parts = []
    for a in range(animals):
        name = f"rat{a}"
        mine = _make_cells(rng, name, counts, arena)
        truth_cells += mine
        pos = walks.position[a].numpy()
        hd = walks.head_direction[a].numpy()
        rates = expected_rates({"arena_m": arena, "cells": mine, "basis": basis}, pos, hd)
        n = rng.poisson(rates * DT)  # (cells, T)
        spikes = []
        for row in n:
            sample = np.repeat(np.arange(steps), row)
            spikes.append(times[sample] + rng.uniform(0, 0.999 * DT, len(sample)))
        parts.append(
            SpatialRecording.from_arrays(
                times,
                pos[:, 0],
                pos[:, 1],
                spikes,
                arena=arena,
                head_direction=hd,
                cell_ids=[c["cell_id"] for c in mine],
                animal=name,
                session=f"simulated-mec-seed{seed}",
            )
        )
    rec = SpatialRecording.combine(parts, session=f"simulated-mec-seed{seed}")
    truth = {
        "kind": "simulated entorhinal session (brainlike.data.recordings.spatial_session)",
        "seed": seed,
        "arena_m": arena,
        "dt_s": DT,
        "minutes": minutes,
        "samples_per_animal": steps,
        "animals": [f"rat{a}" for a in range(animals)],
        "cells_per_animal": counts,
        "rate": "baseline_hz + peak_hz * shape (see spatial_session module docstring)",
        "basis": basis,
        "cells": truth_cells,
    }
    # the generating maps at the centres of 5 cm bins (rows y, columns x, as RateMaps)
    nb = int(math.ceil(arena * 100 / MAP_BIN_CM - 1e-9))
    centres = -arena / 2 + (np.arange(nb) + 0.5) * MAP_BIN_CM / 100
    lattice = np.stack(np.meshgrid(centres, centres, indexing="xy"), -1)
    flat = lattice.reshape(-1, 2)
    het = [c for c in truth_cells if c["type"] == "heterogeneous"]
    maps = {
        "bin_cm": np.array(MAP_BIN_CM),
        "bin_centres_m": centres,
        "basis_maps": np.stack([_basis_shape(b, lattice) for b in basis]),
        "mixing": np.array([c["params"]["weights"] for c in het]).reshape(len(het), N_BASIS),
        "mixing_cell_id": np.array([c["cell_id"] for c in het], dtype=str),
        "rate_maps": expected_rates(truth, flat, None).reshape(-1, nb, nb),
        "cell_id": np.array([c["cell_id"] for c in truth_cells], dtype=str),
        "cell_type": np.array([c["type"] for c in truth_cells], dtype=str),
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    path = rec.save(out_dir / "recording.nc")
    (out_dir / "ground_truth.json").write_text(json.dumps(truth, indent=1))
    np.savez_compressed(out_dir / "generating_maps.npz", **maps)
    return {
        "recording": str(path),
        "truth": str(out_dir / "ground_truth.json"),
        "maps": str(out_dir / "generating_maps.npz"),
        "animals": animals,
        "n_cells": rec.n_cells,
        "n_spikes": int(rec.dataset.sizes["spike"]),
        "minutes": minutes,
        "seconds": _time.perf_counter() - start,
    }
