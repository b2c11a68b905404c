"""Wiring cost terms: an explicit ``sum |W_ij| d_ij`` penalty and a plain L1 penalty.

spec: topography.md §3 (wiring cost: weight decay as run, plus an optional L1 term and an
explicit ``sum |W_ij| d_ij`` penalty) and §4 (the wiring-length penalty as a constraint that
may produce topography). Weight decay stays the optimizer's job.

Both terms act on a layer's raw weight ``W`` (times its pruning mask, if it has one), the
parameter weight decay also acts on: with a locality prior the signal that reaches unit i is
``W_ij P_ij``, so a long connection needs a large raw ``W_ij`` and that is what costs wiring.
Pass ``effective=True`` to penalise ``W * P`` instead.
"""

from __future__ import annotations

import numpy as np
import torch
from scipy.spatial.distance import cdist
from torch import Tensor, nn

__all__ = ["l1_penalty", "wiring_distances", "wiring_penalty"]

_DISTANCE_BUFFER = "_wiring_distance"


def _weight(layer: nn.Module, effective: bool) -> Tensor:
    if effective and hasattr(layer, "effective_weight"):
        return layer.effective_weight()
    name = getattr(layer, "_prior_weight", "weight")
    w = getattr(layer, name, None)
    if not isinstance(w, Tensor):
        raise ValueError(
            f"{type(layer).__name__} has no weight tensor {name!r}; wiring penalties need a "
            "linear, conv or locality layer"
        )
    mask = getattr(layer, "mask", None)
    return w * mask if isinstance(mask, Tensor) else w


def wiring_distances(
    layer: nn.Module,
    in_coords: np.ndarray | None = None,
    out_coords: np.ndarray | None = None,
    metric: str | None = None,
) -> Tensor:
    """Distances ``(out, in)`` between the units a layer connects, cached on the layer.

    Coordinates come from ``layer.sheet`` (``{"in": (n_in, 2), "out": (n_out, 2)}``, as the
    locality layers expose) unless given; the metric is the layer's own (``layer.metric``) or
    euclidean. The matrix is stored once as a non-persistent buffer on the layer (it follows
    ``.to(device)`` and stays out of checkpoints); coordinates passed explicitly are always
    recomputed and re-cached.

    Returns
    -------
    Tensor (n_out, n_in), on the layer's weight device and dtype
    """
    cached = getattr(layer, _DISTANCE_BUFFER, None)
    if cached is not None and in_coords is None and out_coords is None:
        return cached
    if in_coords is None or out_coords is None:
        sheet = getattr(layer, "sheet", None)
        if not isinstance(sheet, dict) or "in" not in sheet or "out" not in sheet:
            raise ValueError(
                f"{type(layer).__name__} has no sheet {{'in', 'out'}}; pass in_coords (n_in, 2) "
                "and out_coords (n_out, 2) for the units it connects"
            )
        in_coords = sheet["in"] if in_coords is None else in_coords
        out_coords = sheet["out"] if out_coords is None else out_coords
    metric = metric or getattr(layer, "metric", "euclidean")
    d = cdist(np.asarray(out_coords, np.float64), np.asarray(in_coords, np.float64), metric)
    w = _weight(layer, effective=False)
    if d.shape != tuple(w.shape[:2]):
        raise ValueError(
            f"{type(layer).__name__} weight connects {tuple(w.shape[:2])} (out, in) units but "
            f"the coordinates give {d.shape}"
        )
    dist = torch.as_tensor(d, dtype=w.dtype, device=w.device)
    if hasattr(layer, _DISTANCE_BUFFER):
        setattr(layer, _DISTANCE_BUFFER, dist)
    else:
        layer.register_buffer(_DISTANCE_BUFFER, dist, persistent=False)
    return dist


def wiring_penalty(
    layer: nn.Module,
    in_coords: np.ndarray | None = None,
    out_coords: np.ndarray | None = None,
    effective: bool = False,
) -> Tensor:
    """Explicit wiring cost ``sum_ij |W_ij| d_ij`` of one layer (differentiable).

    spec: topography.md §3, wiring cost. A conv weight ``(out, in, k, k)`` counts every kernel
    tap as a connection between its two channels.

    Parameters
    ----------
    layer : nn.Module
        A layer with a weight and a sheet (:class:`~brainlike.models.locality.LocalityLinear`,
        ``LocalityConv2d``, ``LocalityRNN``), or any linear/conv layer with coordinates.
    in_coords, out_coords : ndarray (n, 2), optional
        Unit positions, for layers without a sheet (e.g. a control's ``nn.Linear``).
    effective : bool
        Penalise ``W * P`` rather than the raw ``W``.

    Returns
    -------
    Tensor, scalar
    """
    d = wiring_distances(layer, in_coords, out_coords)
    w = _weight(layer, effective).abs()
    if w.ndim > 2:
        w = w.flatten(2).sum(2)
    return (w * d.to(w.dtype)).sum()


def l1_penalty(layer: nn.Module, effective: bool = False) -> Tensor:
    """``sum |W|`` over a layer's weight (masked if pruned); scalar tensor."""
    return _weight(layer, effective).abs().sum()
