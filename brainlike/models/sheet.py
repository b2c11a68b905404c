"""What every model with a cortical sheet returns, and where its units sit.

A model with a sheet answers ``model(x, return_all=True)`` with a :class:`SheetOutput`: the
task output plus one ``(B, H, W)`` map per named sheet, and exposes ``model.sheet``, a dict
sheet name -> ``(H * W, 2)`` unit coordinates (row-major, matching the maps flattened).
Analyses and objectives ask for these; they never guess.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from torch import Tensor


@dataclass
class SheetOutput:
    """Task output, sheet maps by name (each ``(B, H, W)``), optional reconstruction."""

    logits: Tensor
    sheets: dict[str, Tensor] = field(default_factory=dict)
    reconstruction: Tensor | None = None

    @property
    def grids(self) -> list[Tensor]:
        """The sheet maps in order (for Reset networks: one grid per level)."""
        return list(self.sheets.values())


def grid_coordinates(height: int, width: int) -> np.ndarray:
    """``(height * width, 2)`` float (row, col) coordinates in row-major order."""
    rr, cc = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    return np.stack([rr.ravel(), cc.ravel()], 1).astype(np.float64)


def forward_all(model: Any, x: Tensor, has_sheet: bool | None = None) -> SheetOutput:
    """``model(x, return_all=True)`` for models with sheets; plain models' logits wrapped.

    Lets one training loop serve Reset and locality networks (which return a SheetOutput)
    and ordinary classifiers such as GRCNN or ResNet-20 (which return logits only). Pass
    ``has_sheet`` when ``model`` is a wrapper (e.g. distributed) that hides ``.sheet``.
    """
    if has_sheet is None:
        has_sheet = bool(getattr(model, "sheet", None))
    if has_sheet:
        return model(x, return_all=True)
    return SheetOutput(logits=model(x))
