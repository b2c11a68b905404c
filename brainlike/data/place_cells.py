"""Place-cell codes: the path-integration task's targets, and reading a position back out.

A population of place cells tiles the arena: cell ``i`` has a centre ``c_i`` drawn uniformly in
the box (once, from a fixed seed) and fires most near it (spec: mouse-and-entorhinal.md §2,
"Place-cell targets"). Three target codes:

- ``"dog"``: difference of Gaussians, a centre-surround field. With ``d_i = |x - c_i|`` and
  ``sigma = 0.12`` m, ``a = softmax(-d^2 / 2 sigma^2) - softmax(-d^2 / 4 sigma^2)`` over the
  cells; shift by ``|min a|`` (so the least active cell is at 0); normalise to sum 1.
- ``"gaussian"``: ``softmax(-d^2 / 2 sigma^2)``, plain Gaussian fields normalised over cells.
- ``"cartesian"``: the position ``(x, y)`` itself.

A population code is decoded to a position as the mean of the centres of its ``k = 3`` most
active cells; the decoding error is reported in centimetres.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

__all__ = [
    "N_PLACE_CELLS",
    "PLACE_SIGMA",
    "PlaceCells",
    "decode_positions",
    "decoding_error_cm",
    "place_cell_centres",
]

N_PLACE_CELLS = 512  # spec: mouse-and-entorhinal.md §2
PLACE_SIGMA = 0.12  #: metres
TargetKind = Literal["dog", "gaussian", "cartesian"]
_KINDS = ("dog", "gaussian", "cartesian")


def place_cell_centres(
    n: int = N_PLACE_CELLS, arena: float = 2.2, seed: int = 0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """Place-field centres drawn uniformly in the square box of side ``arena`` centred at 0.

    Parameters
    ----------
    n : number of cells.
    arena : side of the box, metres.
    seed : fixed seed: the same centres for every run with the same (n, arena, seed).

    Returns
    -------
    (n, 2) centres in metres (CPU tensor).
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n is {n!r}; the number of place cells must be a positive integer")
    if not np.isfinite(arena) or arena <= 0:
        raise ValueError(f"arena is {arena!r}; it must be a positive side in metres (e.g. 2.2)")
    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    return ((torch.rand(n, 2, generator=gen, dtype=torch.float64) * 2 - 1) * arena / 2).to(dtype)


@dataclass
class PlaceCells:
    """A place-cell population and its target code.

    Attributes
    ----------
    centres : (N, 2) field centres in metres.
    sigma : field width in metres (0.12 in the spec).
    kind : ``"dog"``, ``"gaussian"`` or ``"cartesian"``.
    """

    centres: torch.Tensor
    sigma: float = PLACE_SIGMA
    kind: TargetKind = "dog"

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"place-cell kind is {self.kind!r}; choose one of {', '.join(_KINDS)}")
        if not self.sigma > 0:
            raise ValueError(f"sigma is {self.sigma!r}; the field width must be positive (metres)")
        if self.centres.ndim != 2 or self.centres.shape[1] != 2:
            raise ValueError(f"centres have shape {tuple(self.centres.shape)}; expected (N, 2)")

    @classmethod
    def create(
        cls,
        n: int = N_PLACE_CELLS,
        arena: float = 2.2,
        *,
        sigma: float = PLACE_SIGMA,
        kind: TargetKind = "dog",
        seed: int = 0,
    ) -> PlaceCells:
        """``n`` cells with centres uniform in the box (see :func:`place_cell_centres`)."""
        return cls(place_cell_centres(n, arena, seed), sigma=sigma, kind=kind)

    @property
    def size(self) -> int:
        """Width of the target vector: N cells, or 2 for Cartesian targets."""
        return 2 if self.kind == "cartesian" else int(self.centres.shape[0])

    def targets(self, position: torch.Tensor) -> torch.Tensor:
        """The target code of each position.

        Parameters
        ----------
        position : (..., 2) positions in metres.

        Returns
        -------
        (..., N) activities summing to 1 over cells (``"dog"``, ``"gaussian"``), or the
        (..., 2) positions themselves (``"cartesian"``).
        """
        if self.kind == "cartesian":
            return position
        centres = self.centres.to(device=position.device, dtype=position.dtype)
        d2 = ((position[..., None, :] - centres) ** 2).sum(-1)  # (..., N)
        # spec: mouse-and-entorhinal.md §2, place-cell targets
        centre = torch.softmax(-d2 / (2 * self.sigma**2), dim=-1)
        if self.kind == "gaussian":
            return centre
        a = centre - torch.softmax(-d2 / (4 * self.sigma**2), dim=-1)
        a = a + a.min(dim=-1, keepdim=True).values.abs()
        return a / a.sum(dim=-1, keepdim=True)

    def decode(self, activity: torch.Tensor, k: int = 3) -> torch.Tensor:
        """Positions read out of an activity code (see :func:`decode_positions`)."""
        if self.kind == "cartesian":
            return activity
        return decode_positions(activity, self.centres, k=k)


def decode_positions(activity: torch.Tensor, centres: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Decode positions as the mean centre of the ``k`` most active cells (spec §2).

    Parameters
    ----------
    activity : (..., N) place-cell activities (or logits: only their order matters).
    centres : (N, 2) field centres.
    k : number of top cells averaged (3 in the spec).

    Returns
    -------
    (..., 2) decoded positions.
    """
    n = centres.shape[0]
    if activity.shape[-1] != n:
        raise ValueError(f"activity has {activity.shape[-1]} cells but there are {n} centres")
    if not 1 <= k <= n:
        raise ValueError(f"k is {k}; it must be between 1 and the number of cells ({n})")
    top = activity.topk(k, dim=-1).indices  # (..., k)
    return centres.to(activity.device)[top].mean(dim=-2)


def decoding_error_cm(decoded: torch.Tensor, position: torch.Tensor) -> float:
    """Mean Euclidean distance between decoded and true positions, in centimetres."""
    if decoded.shape != position.shape:
        raise ValueError(
            f"decoded positions have shape {tuple(decoded.shape)} but the true ones "
            f"{tuple(position.shape)}; they must match"
        )
    return float((decoded - position).norm(dim=-1).mean()) * 100.0
