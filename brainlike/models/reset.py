"""Reset networks: levels of parallel CNNs whose outputs are tiled into a map (the grid).

spec: topography.md §1. A level holds ``n x n`` subnetworks that all read the same input; the
``k = s * s`` outputs of subnetwork ``i`` become an ``s x s`` tile placed at tile-row ``i // n``,
tile-column ``i % n``; the tiles form the level's grid, which (after tanh, dropout and a
one-channel BatchNorm) is the input of the next level. A master network reads the last grid.
Reset(n) is the depth-2 family with a 32 x 32 grid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from brainlike.models.parallel import (
    EXECUTIONS,
    StackedNet,
    build_stacked,
    choose_execution,
    grow_stacked,
)
from brainlike.models.sheet import SheetOutput, grid_coordinates


@dataclass
class LevelSpec:
    """One level: ``side * side`` subnetworks of type ``subnet`` with ``tile * tile`` outputs."""

    side: int
    tile: int
    subnet: str = "small"
    subnet_kwargs: dict = field(default_factory=dict)


# A Reset network's forward pass with ``return_all``: task output, one grid per level (named
# ``levels.<i>.grid``, before grid processing) and the reconstruction when the head is on.
ResetOutput = SheetOutput


class TileLayout:
    """The explicit unit -> (row, col) map of one level's grid.

    spec: topography.md §1, tiling: unit ``u`` of subnetwork ``i`` sits at
    ``(i // cols * s + u // s, i % cols * s + u % s)``. ``cols`` is ``n`` for an ``n x n`` level;
    a level grown by extra subnetworks keeps ``cols`` and adds rows.
    """

    def __init__(self, n_subnets: int, tile: int, cols: int) -> None:
        self.n_subnets, self.tile, self.cols = n_subnets, tile, cols
        self.rows = math.ceil(n_subnets / cols)

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows * self.tile, self.cols * self.tile

    def position(self, subnet: int, unit: int) -> tuple[int, int]:
        """Grid (row, col) of output ``unit`` of subnetwork ``subnet``."""
        s = self.tile
        if not 0 <= subnet < self.n_subnets or not 0 <= unit < s * s:
            raise IndexError(
                f"subnet must be in [0, {self.n_subnets}) and unit in [0, {s * s}); "
                f"got subnet={subnet}, unit={unit}"
            )
        return (subnet // self.cols) * s + unit // s, (subnet % self.cols) * s + unit % s

    def maps(self) -> tuple[np.ndarray, np.ndarray]:
        """Two int arrays of the grid's shape: subnetwork index and unit index (-1 = empty)."""
        sub = -np.ones(self.shape, dtype=np.int64)
        unit = -np.ones(self.shape, dtype=np.int64)
        for i in range(self.n_subnets):
            for u in range(self.tile * self.tile):
                r, c = self.position(i, u)
                sub[r, c], unit[r, c] = i, u
        return sub, unit

    def coordinates(self) -> np.ndarray:
        """(n_subnets * k, 2) grid coordinates, in subnetwork-major unit order."""
        return np.array(
            [self.position(i, u) for i in range(self.n_subnets) for u in range(self.tile**2)],
            dtype=np.float64,
        )

    def tile_outputs(self, out: Tensor) -> Tensor:
        """(B, G, k) subnetwork outputs -> (B, H, W) grid."""
        b, g, k = out.shape
        s, cols, rows = self.tile, self.cols, self.rows
        if g < rows * cols:  # empty tile slots of a grown level stay zero
            out = torch.cat([out, out.new_zeros(b, rows * cols - g, k)], dim=1)
        grid = out.view(b, rows, cols, s, s).permute(0, 1, 3, 2, 4)
        return grid.reshape(b, rows * s, cols * s)


class ResetLevel(nn.Module):
    """One level: parallel subnetworks -> tiled grid (returned raw and after processing)."""

    def __init__(
        self, in_channels: int, spec: LevelSpec, dropout: float = 0.2, execution: str = "auto"
    ) -> None:
        super().__init__()
        if execution not in (*EXECUTIONS, "auto"):
            raise ValueError(f"execution must be 'auto' or one of {EXECUTIONS}, got {execution!r}")
        self.in_channels, self.spec = in_channels, spec
        self.subnets: StackedNet = build_stacked(
            spec.subnet,
            spec.side * spec.side,
            in_channels,
            spec.tile * spec.tile,
            **spec.subnet_kwargs,
        )
        self.layout = TileLayout(spec.side * spec.side, spec.tile, spec.side)
        self.dropout = nn.Dropout(dropout)
        self.grid_bn = nn.BatchNorm2d(1)
        self.execution = execution
        self._resolved: dict[str, str] = {}

    def resolve_execution(self, x: Tensor) -> str:
        """The execution path for ``x``'s device; 'auto' measures both once per device."""
        if self.execution != "auto":
            return self.execution
        key = f"{x.device}:{tuple(x.shape[1:])}"
        if key not in self._resolved:
            timing = choose_execution(
                self.subnets,
                x.shape[1],
                x.shape[-1],
                batch_size=min(32, max(2, x.shape[0])),
                device=x.device,
            )
            self._resolved[key] = str(timing["execution"])
        return self._resolved[key]

    def resolved_execution(self) -> str:
        """The path in use: the configured one, or what 'auto' picked (comma-joined per device)."""
        if self.execution != "auto" or not self._resolved:
            return self.execution
        return ",".join(sorted(set(self._resolved.values())))

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """Returns (raw grid (B, H, W), processed grid (B, 1, H, W))."""
        out = self.subnets(x, execution=self.resolve_execution(x))
        grid = self.layout.tile_outputs(out)
        # spec: topography.md §1, grid processing: tanh, dropout, BatchNorm2d(1)
        processed = self.grid_bn(self.dropout(torch.tanh(grid)).unsqueeze(1))
        return grid, processed

    def add_subnetworks(self, extra: int = 1) -> None:
        """Recruit ``extra`` new subnetworks (new tiles) keeping the trained ones intact."""
        self.subnets = grow_stacked(self.subnets, extra).train(self.training)
        self.layout = TileLayout(self.subnets.groups, self.spec.tile, self.layout.cols)
        self._resolved.clear()


class ReconstructionDecoder(nn.Module):
    """Small transposed-convolution decoder from a one-channel grid to the input image.

    spec: topography.md §1, autoencoding regulariser (original decoder unpublished).
    Outputs logits; the image is ``sigmoid(logits)`` for the BCE form.
    """

    def __init__(self, out_channels: int, out_size: int) -> None:
        super().__init__()
        self.out_size = out_size
        self.net = nn.Sequential(
            nn.Conv2d(1, 16, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.Conv2d(16, 32, 3, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(32, 16, 4, stride=2, padding=1),
            nn.ReLU(),
            nn.ConvTranspose2d(16, out_channels, 4, stride=2, padding=1),
        )

    def forward(self, grid: Tensor) -> Tensor:
        out = self.net(grid)
        if out.shape[-2:] != (self.out_size, self.out_size):
            out = F.interpolate(
                out, size=(self.out_size, self.out_size), mode="bilinear", align_corners=False
            )
        return out


class ResetNetwork(nn.Module):
    """A Reset network of arbitrary depth and width.

    Parameters
    ----------
    in_channels : image channels read by every subnetwork of the first level.
    out_features : task outputs of the master network (classes, or code dimensions).
    levels : one :class:`LevelSpec` per level; later levels read the one-channel grid.
    master : the master network's type ("resnet20" or "small").
    master_kwargs : extra arguments of the master network (e.g. ``channels`` of "small").
    dropout : dropout on the grid (p = 0.2 as run).
    autoencoder : add the reconstruction head (a second level-2 network).
    input_size : image side, needed by the reconstruction head.
    execution : "auto" (measure per device), "loop" or "fused".

    Attributes
    ----------
    sheet : dict layer name -> (n_units, 2) grid coordinates of the units, in the order the
        units appear in ``grids`` flattened row-major. Analyses read it; they never guess.
    """

    def __init__(
        self,
        in_channels: int,
        out_features: int,
        levels: Sequence[LevelSpec],
        master: str = "resnet20",
        master_kwargs: dict | None = None,
        dropout: float = 0.2,
        autoencoder: bool = False,
        input_size: int = 32,
        execution: str = "auto",
    ) -> None:
        super().__init__()
        if not levels:
            raise ValueError("a Reset network needs at least one level")
        self.in_channels, self.out_features, self.input_size = in_channels, out_features, input_size
        self.dropout_p, self.execution = dropout, execution
        mods, c = [], in_channels
        for spec in levels:
            mods.append(ResetLevel(c, spec, dropout, execution))
            c = 1
        self.levels = nn.ModuleList(mods)
        self.master_kind, self.master_kwargs = master, dict(master_kwargs or {})
        self.master = build_stacked(master, 1, 1, out_features, **self.master_kwargs)
        self.decoder = ReconstructionDecoder(in_channels, input_size) if autoencoder else None

    @property
    def sheet(self) -> dict[str, np.ndarray]:
        return {
            f"levels.{i}.grid": grid_coordinates(*lv.layout.shape)
            for i, lv in enumerate(self.levels)
        }

    @property
    def tile(self) -> int:
        """Tile side of the first level (for within-tile null models)."""
        return self.levels[0].spec.tile

    def forward(self, x: Tensor, return_all: bool = False) -> Tensor | ResetOutput:
        """Task output (B, out_features); with ``return_all`` a :class:`ResetOutput`."""
        grids = []
        h = x
        for level in self.levels:
            grid, h = level(h)
            grids.append(grid)
        logits = self.master(h, execution="fused")[:, 0]
        if not return_all:
            return logits
        recon = self.decoder(h) if self.decoder is not None else None
        sheets = {f"levels.{i}.grid": g for i, g in enumerate(grids)}
        return SheetOutput(logits, sheets, recon)

    def add_subnetworks(self, level: int = 0, extra: int = 1) -> None:
        """Widen ``level`` by ``extra`` subnetworks (seed: recruit new networks for new tasks)."""
        if not 0 <= level < len(self.levels):
            raise IndexError(f"level must be in [0, {len(self.levels)}), got {level}")
        self.levels[level].add_subnetworks(extra)

    def add_level(self, spec: LevelSpec) -> None:
        """Deepen: insert a new level between the last grid and the master network."""
        level = ResetLevel(1, spec, self.dropout_p, self.execution).to(self._device())
        self.levels.append(level.train(self.training))

    def _device(self) -> torch.device:
        return next(self.parameters()).device

    def describe(self) -> dict:
        """JSON-serialisable architecture description (enough to rebuild the model)."""
        return {
            "kind": "reset",
            "in_channels": self.in_channels,
            "out_features": self.out_features,
            "levels": [
                {
                    "side": lv.spec.side,
                    "tile": lv.spec.tile,
                    "subnet": lv.spec.subnet,
                    "subnet_kwargs": lv.spec.subnet_kwargs,
                    "n_subnets": lv.subnets.groups,
                }
                for lv in self.levels
            ],
            "master": self.master_kind,
            "master_kwargs": self.master_kwargs,
            "dropout": self.dropout_p,
            "autoencoder": self.decoder is not None,
            "input_size": self.input_size,
            "execution": self.execution,
        }


def reset_n(
    n: int,
    in_channels: int = 1,
    out_features: int = 10,
    subnet: str = "resnet20",
    grid: int = 32,
    master: str = "resnet20",
    **kwargs: object,
) -> ResetNetwork:
    """Reset(n): ``n x n`` subnetworks with ``(grid/n)^2`` outputs each, one ``grid x grid`` map.

    spec: topography.md §1, Reset(1/2/4/8) table.
    """
    if grid % n:
        raise ValueError(f"Reset({n}) needs the grid side ({grid}) to be a multiple of n")
    subnet_kwargs = kwargs.pop("subnet_kwargs", {}) or {}
    spec = LevelSpec(side=n, tile=grid // n, subnet=subnet, subnet_kwargs=dict(subnet_kwargs))  # type: ignore[arg-type]
    return ResetNetwork(in_channels, out_features, [spec], master=master, **kwargs)  # type: ignore[arg-type]


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or only those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)
