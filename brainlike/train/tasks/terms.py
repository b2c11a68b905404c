"""The objective's terms that join any task's loss: reconstruction, spatial correlation, wiring.

They depend on what the model has, not on the task: a decoder (reconstruction), a cortical
sheet (the spatial correlation loss of spec topography.md §4) or locality-prior layers (the
wiring costs of spec locality.md). :class:`ObjectiveTerms` is built once per run, after the
model is on its device, and adds the terms in a fixed order to each batch's loss.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

__all__ = ["ObjectiveTerms", "resolve_sheets"]


def resolve_sheets(cfg: Any, model: torch.nn.Module) -> tuple[str | None, str | None]:
    """Names of the sheet to snapshot and of the sheet the spatial loss acts on (None, None
    for a model without a sheet: it trains and is scored, but has no maps to snapshot)."""
    sheets = list(getattr(model, "sheet", {}) or {})
    if not sheets:
        if cfg.objective.spatial.weight > 0 or cfg.analysis.sheet:
            raise ValueError(
                f"model {type(model).__name__} has no cortical sheet (unit coordinates), so "
                "objective.spatial.weight and analysis.sheet cannot apply; set the weight to 0 "
                "and leave analysis.sheet empty, or use a model with a sheet (Reset, locality)"
            )
        return None, None

    def check(name: str, key: str) -> str:
        if name not in sheets:
            raise ValueError(
                f"{key} is {name!r}, but the model's sheets are {sheets}; use one of them"
            )
        return name

    snap = check(cfg.analysis.sheet, "analysis.sheet") if cfg.analysis.sheet else sheets[0]
    sp = cfg.objective.spatial
    if sp.sheet:
        spatial = check(sp.sheet, "objective.spatial.sheet")
    elif f"levels.{sp.level}.grid" in sheets:
        spatial = f"levels.{sp.level}.grid"
    else:
        spatial = sheets[0]
    return snap, spatial


class ObjectiveTerms:
    """The extra terms of ``cfg.objective`` for a model (see the module docstring).

    Parameters
    ----------
    cfg : the experiment config.
    model : the unwrapped model, on its device.

    Attributes
    ----------
    snapshot_sheet, spatial_sheet : the sheets of :func:`resolve_sheets` (None without a sheet).
    """

    def __init__(self, cfg: Any, model: torch.nn.Module) -> None:
        self.cfg = cfg
        self.snapshot_sheet, self.spatial_sheet = resolve_sheets(cfg, model)
        self.sheet_coords = (
            torch.as_tensor(model.sheet[self.spatial_sheet], dtype=torch.float32)
            if self.spatial_sheet is not None
            else None
        )
        self.prior_layers = [
            m for m in model.modules() if hasattr(m, "prior") and hasattr(m, "weight")
        ]
        wiring = cfg.objective.wiring
        if (wiring.l1 > 0 or wiring.distance > 0) and not self.prior_layers:
            raise ValueError(
                "objective.wiring costs apply to locality-prior layers, and this model has none; "
                "set model.kind: lenet/alexnet with locality enabled, or set the wiring weights to 0"
            )
        self._spatial_gen: torch.Generator | None = None

    @property
    def has_sheet(self) -> bool:
        return self.snapshot_sheet is not None

    def start_epoch(self, epoch: int) -> None:
        # the spatial loss samples its neighbourhoods from a generator seeded by (seed, epoch)
        self._spatial_gen = torch.Generator().manual_seed(self.cfg.seed * 7_919 + epoch)

    def add(self, total: Tensor, out: Any, x: Tensor) -> Tensor:
        """``total`` plus every term that applies, in a fixed order."""
        obj = self.cfg.objective
        if obj.reconstruction_weight > 0:
            from brainlike.objectives.supervised import reconstruction_loss

            total = total + obj.reconstruction_weight * reconstruction_loss(
                out.reconstruction, x, obj.reconstruction_loss
            )
        if obj.spatial.weight > 0:
            from brainlike.objectives.spatial import spatial_correlation_loss

            resp = out.sheets[self.spatial_sheet].flatten(1)
            total = total + obj.spatial.weight * spatial_correlation_loss(
                resp, self.sheet_coords, obj.spatial.neighbourhood, self._spatial_gen
            )
        if self.prior_layers:
            from brainlike.objectives.wiring import l1_penalty, wiring_penalty

            wiring = obj.wiring
            for layer in self.prior_layers:
                if wiring.l1 > 0:
                    total = total + wiring.l1 * l1_penalty(layer)
                if wiring.distance > 0:
                    total = total + wiring.distance * wiring_penalty(layer)
        return total
