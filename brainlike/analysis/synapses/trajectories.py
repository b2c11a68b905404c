"""What the synapses of a synapses x sessions table do over time (thesis ch. 6, part I).

- :func:`change_cross_correlation`: is a change predictable from the previous ones? The
  correlation of dw(t) with dw(t + tau) drops to about 0 beyond tau = 1 for a Markov process.
- :func:`survival_fraction`: which of the first session's synapses are still there.
- :func:`aligned_trajectories`: sizes around a synapse's addition (birth) or elimination
  (death); gradual dynamics add and remove synapses small.
- :func:`size_change_over_time`: how far persistent synapses drift from their first size
  (mean |log w(t) / w(0)|) while their mean size stays put.

A size of 0 means the synapse is absent in that session.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def change_cross_correlation(sizes: np.ndarray, max_lag: int) -> np.ndarray:
    """Correlation of size changes tau sessions apart, tau = 0..max_lag.

    The changes D[i, t] = w[i, t + 1] - w[i, t] (absent = 0, so additions and eliminations
    count as changes) are paired with D[i, t + tau] for every synapse and t; the value is the
    Pearson correlation of the pooled pairs (1 at tau = 0).

    Parameters
    ----------
    sizes : ndarray, shape (synapse, session)
    max_lag : int
        At most sessions - 2 (the last lag with a pair).

    Returns
    -------
    ndarray, shape (max_lag + 1,)
        NaN where the pairs have no spread.
    """
    d = np.diff(np.asarray(sizes, dtype=float), axis=1)
    if not 0 <= max_lag < d.shape[1]:
        raise ValueError(
            f"max_lag must be between 0 and {d.shape[1] - 1} for {d.shape[1] + 1} sessions; "
            f"got {max_lag}"
        )
    out = np.empty(max_lag + 1)
    for tau in range(max_lag + 1):
        x, y = d[:, : d.shape[1] - tau].ravel(), d[:, tau:].ravel()
        sx, sy = x.std(), y.std()
        out[tau] = np.mean((x - x.mean()) * (y - y.mean())) / (sx * sy) if sx * sy > 0 else np.nan
    return out


def survival_fraction(sizes: np.ndarray) -> np.ndarray:
    """Fraction of the synapses present in the first session present in every session up to
    each session (shape (session,), starts at 1)."""
    present = np.asarray(sizes) > 0
    first = present[:, 0]
    if not first.any():
        raise ValueError("no synapse is present in the first session; survival is undefined")
    alive = np.cumprod(present[first], axis=1)
    return alive.mean(axis=0)


def aligned_trajectories(sizes: np.ndarray, event: str = "birth") -> dict[str, Any]:
    """Sizes aligned to additions (``birth``) or eliminations (``death``).

    A birth is a session where a synapse is present after being absent in the previous one;
    its trajectory runs forward from that session while the synapse stays (offset 0, 1, ...).
    A death is a session where a synapse is absent after being present; its trajectory runs
    backward from the last session it was present (offset -1, -2, ...).

    Returns
    -------
    dict
        ``offsets`` (sessions from the event), ``mean``, ``sem`` (s.e.m., None for one value)
        and ``count`` per offset, ``n_events``, and ``reference_mean`` (mean size of every
        present synapse, for comparison).
    """
    w = np.asarray(sizes, dtype=float)
    present = w > 0
    if event not in ("birth", "death"):
        raise ValueError(f"event must be 'birth' or 'death'; got {event!r}")
    if event == "birth":
        events = np.argwhere(~present[:, :-1] & present[:, 1:]) + [0, 1]
    else:
        events = np.argwhere(present[:, :-1] & ~present[:, 1:]) + [0, 1]
    runs: dict[int, list[float]] = {}
    for i, t in events:
        step = 1 if event == "birth" else -1
        k = t if event == "birth" else t - 1
        offset = 0 if event == "birth" else -1
        while 0 <= k < w.shape[1] and present[i, k]:
            runs.setdefault(offset, []).append(w[i, k])
            k += step
            offset += step
    offsets = sorted(runs)
    return {
        "offsets": offsets,
        "mean": [float(np.mean(runs[o])) for o in offsets],
        "sem": [
            float(np.std(runs[o], ddof=1) / np.sqrt(len(runs[o]))) if len(runs[o]) > 1 else None
            for o in offsets
        ],
        "count": [len(runs[o]) for o in offsets],
        "n_events": len(events),
        "reference_mean": float(w[present].mean()) if present.any() else None,
    }


def size_change_over_time(sizes: np.ndarray, mask: np.ndarray | None = None) -> dict[str, Any]:
    """Mean size and mean absolute log change from the first session, per session.

    Only synapses present in every session (and in ``mask``) enter: |log(w(t) / w(0))| is
    how far each drifted from its first size (0.46 on the natural-log scale, 58 %, for
    pyramidal synapses at day 24 in the thesis).

    Returns
    -------
    dict
        ``mean_size`` and ``mean_size_sem``, ``mean_abs_log_change`` and
        ``mean_abs_log_change_sem`` per session (s.e.m. over synapses, ddof 1), ``n_synapses``.
    """
    w = np.asarray(sizes, dtype=float)
    keep = (w > 0).all(axis=1)
    if mask is not None:
        keep &= np.asarray(mask, dtype=bool)
    w = w[keep]
    n = len(w)
    if n == 0:
        return {"n_synapses": 0}
    change = np.abs(np.log(w / w[:, :1]))

    def sem(a: np.ndarray) -> list[float | None]:
        return (a.std(axis=0, ddof=1) / np.sqrt(n)).tolist() if n > 1 else [None] * a.shape[1]

    return {
        "n_synapses": n,
        "mean_size": w.mean(axis=0).tolist(),
        "mean_size_sem": sem(w),
        "mean_abs_log_change": change.mean(axis=0).tolist(),
        "mean_abs_log_change_sem": sem(change),
    }
