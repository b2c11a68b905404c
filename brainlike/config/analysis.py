"""The analysis settings of an experiment (``analysis:``): topography of the cortical sheet."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from brainlike.config.reader import StrictSection


class AnalysisConfig(StrictSection):
    """Topography analysis settings (spec: topography.md §2)."""

    threshold: float = Field(default=2.0, gt=0.0)
    dprime: Literal["class", "trial"] = "class"
    null_model: Literal["pixel", "tile"] = "pixel"
    n_shuffles: int = Field(default=100, ge=1)
    ordered: bool = False
    target_sets: dict[str, list[int]] | None = None
    sheet: str | None = Field(
        default=None, description="sheet to snapshot (default: the model's first)"
    )
