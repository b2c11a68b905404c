"""What a trained path integrator's units code for: rate maps and decoding error.

Spec: mouse-and-entorhinal.md §2, "Analyses". A model unit's rate map is its mean activation in
each 5 cm bin over many seeded random walks (the same walks for every model given the same
seed, so maps of two models are comparable bin for bin). The decoding error is the mean
distance, in cm, between the true position and the mean centre of the 3 most active place
cells the network reports; with ``silenced`` units held at 0 it measures an ablation's cost.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brainlike.analysis.spatial import RateMaps, _arena, _bin_index
from brainlike.data.place_cells import decoding_error_cm
from brainlike.train.tasks.pathint import place_cells_of, trajectories_of

__all__ = ["decoding_error", "load_pathint_run", "unit_rate_maps"]

#: the seed stream of the analyses' walks (apart from training's ``cfg.seed``)
_ANALYSIS_SEED = 104_729


def load_pathint_run(run_dir: str | Path) -> tuple[torch.nn.Module, Any]:
    """(model in eval mode, experiment config) of a trained path-integration run folder."""
    from brainlike.config import config_from_dict
    from brainlike.train.checkpoint import load_model_from_checkpoint

    path = Path(run_dir).expanduser() / "checkpoints" / "last.pt"
    model, state = load_model_from_checkpoint(path)
    cfg = config_from_dict(state["config"], f"{path} (stored config)")
    if cfg.objective.task != "path_integration":
        raise ValueError(
            f"{run_dir} is a {cfg.objective.task} run; these maps need a path_integration run"
        )
    return model.eval(), cfg


def _batches(cfg: Any, n_sequences: int, seed: int, batch: int, arena: float | None = None):
    """The analysis walks: ``n_sequences`` in batches, drawn from (seed, batch index); with
    ``arena``, walks in a box of that side, coded by the training place cells."""
    if n_sequences < 1:
        raise ValueError(f"n_sequences is {n_sequences}; it must be at least 1")
    place_cells = place_cells_of(cfg)
    walks = cfg
    if arena is not None and arena != cfg.data.trajectories.arena:
        tr = cfg.data.trajectories.model_copy(update={"arena": float(arena)})
        walks = cfg.model_copy(update={"data": cfg.data.model_copy(update={"trajectories": tr})})
    for i, start in enumerate(range(0, n_sequences, batch)):
        n = min(batch, n_sequences - start)
        traj = trajectories_of(walks, n, i, seed=_ANALYSIS_SEED + seed)
        init = place_cells.targets(traj.init_position.float())
        yield traj.inputs().float(), init, traj.position.float(), place_cells


def _model_device(model: torch.nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def unit_rate_maps(
    model: torch.nn.Module,
    cfg: Any,
    *,
    layer: str = "g",
    n_sequences: int = 2000,
    bin_cm: float = 5.0,
    seed: int = 0,
    batch: int = 500,
    arena: float | None = None,
) -> RateMaps:
    """Rate maps of every unit of ``layer`` (spec §2: mean activation per 5 cm bin).

    Parameters
    ----------
    model : a :class:`~brainlike.models.pathint.PathIntegrator`.
    cfg : the run's experiment config (arena, steps, place cells).
    layer : ``"g"`` (the layer compared with MEC) or ``"core"``.
    n_sequences : random walks pooled into the maps (drawn from ``seed``).
    bin_cm : bin side in cm.
    batch : walks run at once.
    arena : side (m) of the box walked for the maps (default the training arena; another
        side maps the units in e.g. a recording's box, the initial state still coded by the
        training place cells).

    Returns
    -------
    RateMaps with rates (units, H, W) (NaN in unvisited bins) and occupancy in samples.
    """
    if layer not in ("g", "core"):
        raise ValueError(f"layer is {layer!r}; choose 'g' or 'core'")
    arena = cfg.data.trajectories.arena if arena is None else float(arena)
    size, low = _arena(arena, None)
    device = _model_device(model)
    sums: torch.Tensor | None = None
    counts: np.ndarray | None = None
    for inputs, init, pos, _ in _batches(cfg, n_sequences, seed, batch, arena):
        act = model.run(inputs.to(device), init.to(device))[layer]
        # float32 positions on a wall may round a hair outside it: clamp before binning
        xy = pos.reshape(-1, 2).double().clamp(-arena / 2, arena / 2).numpy()
        flat, ny, nx = _bin_index(xy, size, low, bin_cm)
        idx = torch.as_tensor(flat, device=device)
        if sums is None:
            sums = torch.zeros(ny * nx, act.shape[-1], dtype=torch.float64, device=device)
            counts = np.zeros(ny * nx)
        sums.index_add_(0, idx, act.reshape(len(flat), -1).double())
        counts += np.bincount(flat, minlength=ny * nx)
    rates = sums.cpu().numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rates = np.where(counts[:, None] > 0, rates / counts[:, None], np.nan)
    return RateMaps(rates.T.reshape(-1, ny, nx), counts.reshape(ny, nx), bin_cm, tuple(size))


@torch.no_grad()
def decoding_error(
    model: torch.nn.Module,
    cfg: Any,
    *,
    n_sequences: int = 1000,
    seed: int = 0,
    silenced: Mapping[str, Sequence[int]] | None = None,
    batch: int = 500,
) -> float:
    """Mean decoding error in cm over ``n_sequences`` seeded walks (every step counted).

    Parameters
    ----------
    model, cfg : as in :func:`unit_rate_maps`.
    silenced : layer (``"g"``, ``"core"``) -> unit indices held at 0 (an ablation, spec §2).
    """
    device = _model_device(model)
    total, n = 0.0, 0
    ctx = model.silence(silenced) if silenced else nullcontext()
    with ctx:
        for inputs, init, pos, place_cells in _batches(cfg, n_sequences, seed, batch):
            logits = model(inputs.to(device), init.to(device))
            err = decoding_error_cm(place_cells.decode(logits), pos.to(device))
            total += err * inputs.shape[0]
            n += inputs.shape[0]
    return total / n
