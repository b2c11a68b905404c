"""Many PLS fits in lockstep: one fit ("problem") per (split, target), stacked by shape.

The primal and kernel engines advance every problem of a batch one component at a time, so
one pass over X (or its Gram matrix) serves all of them. Problems of equal shape are stacked
along a leading axis and advanced with batched array operations; the only per-problem call
left is LAPACK's top eigenpair of its small q x q matrix. The splits of one target share
their starting products (all rows, minus each split's few other rows).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import scipy.linalg
from scipy.linalg.lapack import dsyevr

from brainlike.analysis.mapping.blocks import _complement, _one_blas_thread, _xt_dot

# PLS stops (the remaining components stay zero) once the targets or the features are
# numerically exhausted: the cross-covariance lambda = sigma^2 of component k has fallen below
# _STOP_RATIO times the first one's (like scikit-learn's "y residual is constant"), or the new
# score t_k is rounding noise: |t_k|^2 below _CANCEL_RATIO times |X_c w_k|^2 (primal) or
# |K_c a_k|^2 (kernel) before earlier components are removed (X has lower rank than
# n_components). scikit-learn fits rounding noise in the second case.
_STOP_RATIO = 1e-20
_CANCEL_RATIO = 1e-14


# When lambda has fallen this far since C^T C was last formed exactly, it is formed again: the
# O(p q) updates carry rounding errors relative to the first component's size.
_REFRESH_RATIO = 1e-6


class _PLSProblem:
    """One PLS fit: training rows of X and targets ``Y_c = (Y0[rows] - mu) / sd``.

    ``Y0`` (all rows) is shared by every split of one target; ``Y_c`` is never stored.
    """

    def __init__(
        self,
        rows: np.ndarray,
        Y0: np.ndarray,
        mu: np.ndarray,
        sd: np.ndarray,
        y_mean: np.ndarray,
        x_mean: np.ndarray | None = None,
        x_scale: np.ndarray | None = None,
        keep: np.ndarray | None = None,
        keep_weights: bool = False,
    ):
        self.rows = rows  # (n_tr,) training rows
        self.Y0 = Y0  # (n_all, q) targets of every row (the caller's array: not copied)
        self.mu = mu  # (q,) training means of Y0
        self.sd = sd  # (q,) training std of Y (ones unless scale=True)
        self.y_mean = y_mean  # (q,) intercept in the units of Y
        self.x_mean = x_mean  # (p,) training column means of X (primal)
        self.x_scale = x_scale  # (p,) training column std of X (scale=True)
        self.keep = keep  # kernel: rows whose scores are kept (test rows); None = all
        self.keep_weights = keep_weights  # kernel: keep A to form x_weights_ afterwards
        self.start: np.ndarray | None = None  # primal: C_0 (p, q); kernel: M_0 (q, q)
        self.g: np.ndarray | None = None  # kernel: G[:, rows].mean(1) (centring)
        self.gbar = 0.0
        self.floor = 0.0  # kernel: lambda below this is rounding noise
        self.result: dict[str, Any] = {}

    @property
    def q(self) -> int:
        return self.Y0.shape[1]

    def yc(self) -> np.ndarray:
        return (self.Y0[self.rows] - self.mu) / self.sd

    def yc_dot(self, v: np.ndarray) -> np.ndarray:
        """``Y_c @ v`` for v (q,)."""
        vs = v / self.sd
        return (self.Y0 @ vs)[self.rows] - float(self.mu @ vs)

    def yc_tdot(self, x: np.ndarray) -> np.ndarray:
        """``Y_c^T @ x`` for x (n_tr,) or (n_tr, r)."""
        pad = np.zeros((self.Y0.shape[0],) + x.shape[1:])
        pad[self.rows] = x
        out = self.Y0.T @ pad - np.multiply.outer(self.mu, x.sum(axis=0))
        return out / (self.sd if x.ndim == 1 else self.sd[:, None])


def _group_problems(problems: list[_PLSProblem]) -> list[list[_PLSProblem]]:
    """Problems with equal shapes (q, training rows, kept rows), in order of first appearance:
    each group is stacked along a leading problem axis and advanced with batched array ops."""
    groups: dict[tuple[int, int, int], list[_PLSProblem]] = {}
    for pr in problems:
        key = (pr.q, len(pr.rows), -1 if pr.keep is None else len(pr.keep))
        groups.setdefault(key, []).append(pr)
    return list(groups.values())


class _Stack:
    """One group of problems stacked along axis 0 (b indexes problems).

    ``active`` marks problems still extracting components; ``idx`` the ones taking part in the
    current step, ``cols`` their columns in the shared products of the step.
    """

    def __init__(self, problems: list[_PLSProblem], K: int):
        self.problems = problems
        B = len(problems)
        self.rows = np.stack([pr.rows for pr in problems])  # (B, n_tr)
        n_tr, q = self.rows.shape[1], problems[0].q
        self.Yc = np.empty((B, n_tr, q))  # centred (scaled) training targets
        for b, pr in enumerate(problems):
            self.Yc[b] = pr.yc()
        self.active = np.ones(B, dtype=bool)
        self.lam0 = np.zeros(B)
        self.lam_ref = np.zeros(B)
        # component-major (B, K, .): the first k components of every problem are contiguous
        self.Q = np.zeros((B, K, q))
        self.T = np.zeros((B, K, n_tr))
        self.tt = np.zeros((B, K))
        self.idx = np.arange(0)
        self.cols = np.arange(0)

    def take(self, arr: np.ndarray, idx: np.ndarray) -> np.ndarray:
        """``arr[idx]`` without a copy when every problem takes part."""
        return arr if len(idx) == len(self.problems) else arr[idx]

    def first_or_refresh(self, k: int, idx: np.ndarray, v: np.ndarray, lam: np.ndarray, exact):
        """Record lambda of the first component; where lambda has fallen far below the last
        exact one, re-form M exactly (``exact(rows) -> M``) and take its eigenpair again."""
        if k == 0:
            self.lam0[idx] = lam
            self.lam_ref[idx] = lam
            return v, lam
        redo = lam < _REFRESH_RATIO * self.lam_ref[idx]
        if redo.any():
            sel = idx[redo]
            self.M[sel] = exact(sel)
            v2, lam2 = _top_eigenpairs(self.M[sel])
            v, lam = v.copy(), lam.copy()
            v[redo], lam[redo] = v2, lam2
            self.lam_ref[sel] = lam2
        return v, lam


def _each_stack(stacks: list[_Stack], step: Callable[..., None], k: int, *args: Any) -> None:
    """``step(s, k, *args)`` for every stack, BLAS on one thread: the many small per-problem
    products in between the big shared passes run faster without threading overheads."""
    with _one_blas_thread():
        for s in stacks:
            step(s, k, *args)


def _top_eigenpair(M: np.ndarray) -> tuple[np.ndarray, float]:
    """Largest eigenvalue and its unit eigenvector of a small symmetric matrix."""
    q = M.shape[0]
    if q == 1:
        return np.ones(1), float(M[0, 0])
    # LAPACK's MRRR solver for one eigenpair, called directly (scipy.linalg.eigh adds ~1 ms)
    values, vectors, _, _, info = dsyevr(M, compute_v=1, range="I", il=q, iu=q)
    if info != 0:
        values, vectors = scipy.linalg.eigh(M, subset_by_index=[q - 1, q - 1])
    return vectors[:, 0], values[0]


def _top_eigenpairs(M: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Unit eigenvectors (b, q) and eigenvalues (b,) of the largest eigenvalue of each of a
    stack of small symmetric matrices (b, q, q)."""
    b, q, _ = M.shape
    if q == 1:
        return np.ones((b, 1)), M[:, 0, 0].copy()
    if q > _BATCHED_EIGH_Q:
        values, vectors = np.linalg.eigh(M)
        return vectors[:, :, -1], values[:, -1]
    # LAPACK's MRRR solver for the one eigenpair, matrix by matrix: several times faster than
    # all eigenpairs of the stack (numpy's batched eigh) for the small q of PLS targets
    V, lam = np.empty((b, q)), np.empty(b)
    for j in range(b):
        V[j], lam[j] = _top_eigenpair(M[j].T)  # symmetric: the Fortran-ordered view, no copy
    return V, lam


# Above this q, one batched eigh of the whole stack is cheaper than q x q MRRR calls.
_BATCHED_EIGH_Q = 400


def _chunked(B: int, per: int) -> Iterator[slice]:
    """Slices of a problem axis of length B such that temporaries of ``per`` floats per
    problem stay under about 1 MiB."""
    step = max(1, 2**17 // max(per, 1))
    for start in range(0, B, step):
        yield slice(start, min(B, start + step))


def _scatter_columns(n_all: int, stacks: list[_Stack], values: str) -> np.ndarray:
    """(n_all, J) matrix whose column ``cols[j]`` holds ``values`` of problem ``idx[j]`` on its
    training rows and zeros elsewhere (J: columns of the current step)."""
    J = sum(len(s.idx) for s in stacks)
    pad = np.zeros((n_all, J))
    for s in stacks:
        if len(s.idx):
            pad[s.rows[s.idx], s.cols[:, None]] = getattr(s, values)
    return pad


def _assign_columns(stacks: list[_Stack]) -> int:
    start = 0
    for s in stacks:
        s.cols = np.arange(start, start + len(s.idx))
        start += len(s.idx)
    return start


def _sym_rank2_update(s: _Stack, idx: np.ndarray, z: np.ndarray, q: np.ndarray) -> None:
    """``M[idx] -= z q^T + q z^T`` (each update exactly symmetric, as M stays)."""
    zq = z[:, :, None] * q[:, None, :]
    zq += zq.transpose(0, 2, 1).copy()
    if len(idx) == len(s.problems):
        s.M -= zq
    else:
        s.M[idx] -= zq


def _with_shared_products(
    op: np.ndarray, chunk: list[_PLSProblem]
) -> Iterator[tuple[_PLSProblem, np.ndarray | None]]:
    """Yield each problem of ``chunk`` with ``op^T [Y0 | 1]`` over all rows of its target, or
    None where multiplying its training rows directly is cheaper than subtracting the other
    rows from this shared product. Only one target's product is alive at a time: problems of
    one target should be adjacent in ``chunk``."""
    n = op.shape[0]
    sizes: dict[int, list[int]] = {}
    for pr in chunk:
        sizes.setdefault(id(pr.Y0), []).append(len(pr.rows))
    key, shared = None, None
    for pr in chunk:
        if id(pr.Y0) != key:
            key, shared = id(pr.Y0), None
            train = sizes[key]
            if n + sum(n - size for size in train) < sum(train):
                shared = _xt_dot(op, np.hstack([pr.Y0, np.ones((n, 1))]))
        yield pr, shared


def _train_products(op: np.ndarray, pr: _PLSProblem, shared: np.ndarray | None) -> np.ndarray:
    """``op[train]^T [Y_c | 1]`` (for X: (p, q+1); for the symmetric G: (n, q+1))."""
    n = op.shape[0]
    if shared is None:
        return _xt_dot(op, np.hstack([pr.yc(), np.ones((len(pr.rows), 1))]), rows=pr.rows)
    # Y_c extended to every row by the same affine map, minus the rows outside training
    full = shared.copy()
    full[:, :-1] = (shared[:, :-1] - np.outer(shared[:, -1], pr.mu)) / pr.sd
    rest = _complement(pr.rows, n)
    if len(rest):
        y_rest = (pr.Y0[rest] - pr.mu) / pr.sd
        full -= _xt_dot(op, np.hstack([y_rest, np.ones((len(rest), 1))]), rows=rest)
    return full
