"""Spatial correlation loss: nearby units of a sheet should respond alike.

spec: topography.md §4 (TDANN, Margalit et al. 2024). For a random neighbourhood of units on a
sheet, the loss is ``(1 - Pearson(r_ij, 1 / (1 + d_ij))) / 2`` over unit pairs, where ``r_ij`` is
the correlation of the two units' responses over the batch and ``d_ij`` their distance.
Works for any model whose layer has a sheet (unit coordinates).
"""

from __future__ import annotations

import torch
from torch import Tensor


def _pearson_rows(x: Tensor, eps: float = 1e-8) -> Tensor:
    """Correlation matrix of the rows of ``x`` (N, B)."""
    x = x - x.mean(dim=1, keepdim=True)
    x = x / (x.norm(dim=1, keepdim=True) + eps)
    return x @ x.T


def spatial_correlation_loss(
    responses: Tensor,
    coords: Tensor,
    neighbourhood: int = 500,
    generator: torch.Generator | None = None,
) -> Tensor:
    """TDANN-style spatial loss on one sheet.

    Parameters
    ----------
    responses : (B, N) unit responses over a batch (B >= 2).
    coords : (N, 2) unit positions on the sheet.
    neighbourhood : at most this many units, the nearest to a random centre unit, are used.
    generator : source of randomness for the centre (one per run, for reproducibility).

    Returns
    -------
    Scalar tensor in [0, 1]: 0 when response correlations fall exactly as 1/(1+d).
    """
    if responses.ndim != 2 or coords.ndim != 2 or coords.shape[0] != responses.shape[1]:
        raise ValueError(
            f"responses must be (batch, units) and coords (units, 2); got {tuple(responses.shape)} "
            f"and {tuple(coords.shape)}"
        )
    if responses.shape[0] < 2:
        raise ValueError("the spatial loss needs a batch of at least 2 to correlate responses")
    n = coords.shape[0]
    coords = coords.to(responses.device, responses.dtype)
    if n > neighbourhood:
        centre = torch.randint(n, (1,), generator=generator).item()
        d_centre = (coords - coords[centre]).norm(dim=1)
        idx = d_centre.argsort()[:neighbourhood]
        responses, coords = responses[:, idx], coords[idx]
    r = _pearson_rows(responses.T)
    d = torch.cdist(coords, coords)
    iu = torch.triu_indices(r.shape[0], r.shape[0], offset=1, device=r.device)
    r_pairs = r[iu[0], iu[1]]
    target = 1.0 / (1.0 + d[iu[0], iu[1]])
    # spec: topography.md §4, loss = (1 - Pearson(r_ij, 1/(1+d_ij))) / 2
    rc, tc = r_pairs - r_pairs.mean(), target - target.mean()
    corr = (rc * tc).sum() / (rc.norm() * tc.norm() + 1e-8)
    return (1.0 - corr) / 2.0
