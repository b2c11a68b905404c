"""Slow, obvious per-cell implementations of the spatial scores, for the tests and the
benchmark: a loop over lags for the autocorrelogram, scipy.ndimage.rotate for the rotations,
numpy's corrcoef inside each annulus."""

from __future__ import annotations

import numpy as np
from scipy import ndimage


def autocorrelogram_direct(m: np.ndarray, min_overlap: int = 20) -> np.ndarray:
    """Pearson correlation of the map with itself shifted by each lag, over both-valid bins."""
    h, w = m.shape
    out = np.full((2 * h - 1, 2 * w - 1), np.nan)
    for dy in range(-(h - 1), h):
        for dx in range(-(w - 1), w):
            a = m[max(0, -dy) : h - max(0, dy), max(0, -dx) : w - max(0, dx)]
            b = m[max(0, dy) : h + min(0, dy), max(0, dx) : w + min(0, dx)]
            ok = np.isfinite(a) & np.isfinite(b)
            if ok.sum() < min_overlap:
                continue
            x, y = a[ok], b[ok]
            if x.std() == 0 or y.std() == 0:
                continue
            out[h - 1 + dy, w - 1 + dx] = np.corrcoef(x, y)[0, 1]
    return out


def rotate_with_validity(sac: np.ndarray, angle: float, pad: int = 2):
    """scipy.ndimage.rotate (bilinear, same grid) of the NaN-filled autocorrelogram and of its
    validity; valid where >= 1 - 1e-6 of the weight lies on valid lags."""
    valid = np.isfinite(sac)
    filled = np.pad(np.where(valid, sac, 0.0), pad)
    vpad = np.pad(valid.astype(float), pad)
    rot = ndimage.rotate(filled, angle, reshape=False, order=1)[pad:-pad, pad:-pad]
    rv = ndimage.rotate(vpad, angle, reshape=False, order=1)[pad:-pad, pad:-pad]
    return rot, rv >= 1 - 1e-6


def grid_score_mean_annuli(m: np.ndarray, min_overlap: int = 20) -> float:
    """Spec §2 grid score of one map, the obvious way."""
    n = min(m.shape)
    sac = autocorrelogram_direct(m, min_overlap)
    h, w = sac.shape
    yy, xx = np.meshgrid(np.arange(h) - (h - 1) / 2, np.arange(w) - (w - 1) / 2, indexing="ij")
    dist = np.hypot(yy, xx)
    rotated = {a: rotate_with_validity(sac, a) for a in (30, 60, 90, 120, 150)}
    best = -np.inf
    for r_out in np.linspace(0.4, 1.0, 10) * n:
        ring = (dist >= 0.2 * n) & (dist <= r_out)
        c = {}
        for a, (rot, rv) in rotated.items():
            ok = ring & np.isfinite(sac) & rv
            c[a] = np.corrcoef(sac[ok], rot[ok])[0, 1] if ok.sum() >= 3 else np.nan
        s = (c[60] + c[120]) / 2 - (c[30] + c[90] + c[150]) / 3
        if np.isfinite(s):
            best = max(best, s)
    return best if np.isfinite(best) else np.nan
