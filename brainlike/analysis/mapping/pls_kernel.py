"""The kernel PLS engine: NIPALS from the n x n Gram matrix, two products with it per component.

The same recursion as the primal engine in terms of ``K_c = X_c X_c^T``: ``w_k = X_c^T a_k``
with ``a_k = Y_k v / sqrt(lambda)`` (``v`` the top eigenvector of ``Y_k^T K_c Y_k``, updated
in O(n q)), ``t_k`` is ``K_c a_k`` projected away from earlier scores, and test predictions
are ``K_c[test, train] A (P^T W)^+ Q^T``. One Gram matrix over all stimuli serves every split
(re-centred with each split's training means) and every target.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from brainlike.analysis.mapping.blocks import _sym
from brainlike.analysis.mapping.pls_lockstep import (
    _CANCEL_RATIO,
    _STOP_RATIO,
    _assign_columns,
    _each_stack,
    _group_problems,
    _PLSProblem,
    _scatter_columns,
    _Stack,
    _sym_rank2_update,
    _top_eigenpairs,
    _train_products,
)

# The kernel path forms X X^T, whose rounding (eps |X|^2 per entry) puts a floor under lambda:
# it also stops once lambda < _KERNEL_FLOOR * eps * trace(K_c) * |Y_c|_F^2.
_KERNEL_FLOOR = 1e3


def _kernel_center(U: np.ndarray, pads: np.ndarray, g: np.ndarray, gbar: Any) -> None:
    """Turn ``U = G @ pads`` into ``K_c @ pads`` in place (every row, training-mean centred).

    ``(x_i - m).(sum_j a_j (x_j - m)) = G_i a - g_i sum(a) - g.a + gbar sum(a)`` with ``m`` the
    training mean, ``g = G 1_train / n_train`` and ``gbar`` the mean of ``g`` over training rows.
    ``g`` is (n, J) (one column per column of ``pads``) or (n, 1) for all columns.
    """
    sums = pads.sum(axis=0)
    U -= g * sums
    U -= (g * pads).sum(axis=0)
    U += np.asarray(gbar) * sums


def _pls_kernel(G: np.ndarray, problems: list[_PLSProblem], n_components: int) -> None:
    """NIPALS PLS (converged) from the Gram matrix of all rows, every problem in lockstep.

    ``problem.start`` holds ``M_0 = Y_c^T K_c Y_c`` and ``problem.g``/``gbar`` the centring
    terms of its training rows. Each component costs two products ``G @ (n, J)`` shared by the
    batch (``K_c a`` and ``K_c t``) and O(n (q + k)) per problem, done with array operations
    over stacks of equally shaped problems. Results (``Q``, ``T``, ``tt``, ``PtW`` = P^T W,
    ``KA`` = K_c A on the kept rows and, if asked, ``A``) go to ``problem.result``.
    """
    # spec: neural-evaluation.md §3 (PLS regression), kernel form (module docstring):
    # w_k = X_c^T a_k with a_k = Y_k v / sqrt(lambda) (v: top eigenvector of
    # M_k = Y_k^T K_c Y_k), t_k = (I - T T^+) K_c a_k, p_k = X_c^T t_k / tt,
    # q_k = Y_k^T t_k / tt, Y_{k+1} = Y_k - t_k q_k^T  (so M_{k+1} is a rank-2 update of M_k).
    n_all = G.shape[0]
    K = n_components
    stacks = []
    for group in _group_problems(problems):
        s = _Stack(group, K)
        B = len(group)
        s.M = np.stack([pr.start for pr in group])
        for pr in group:
            pr.start = None
        s.g = np.stack([pr.g for pr in group])  # (B, n_all)
        s.gbar = np.array([pr.gbar for pr in group])
        s.floor = np.array([pr.floor for pr in group])
        s.keep = None if group[0].keep is None else np.stack([pr.keep for pr in group])
        n_keep = n_all if s.keep is None else s.keep.shape[1]
        s.PtW, s.KA = np.zeros((B, K, K)), np.zeros((B, K, n_keep))
        s.A = np.zeros((B, K, s.rows.shape[1])) if group[0].keep_weights else None
        stacks.append(s)

    for k in range(K):
        _each_stack(stacks, _kernel_weights, k, G)
        if not _assign_columns(stacks):
            break
        KA = _kernel_apply(G, _scatter_columns(n_all, stacks, "a"), stacks)  # K_c a, all rows
        _each_stack(stacks, _kernel_scores, k, KA)
        if not _assign_columns(stacks):
            break
        U = _kernel_apply(G, _scatter_columns(n_all, stacks, "t"), stacks)  # K_c t, all rows
        _each_stack(stacks, _kernel_update, k, U)
    for s in stacks:
        for b, pr in enumerate(s.problems):
            pr.result = {"Q": s.Q[b].T, "T": s.T[b].T, "tt": s.tt[b], "PtW": s.PtW[b]}
            pr.result["KA"] = s.KA[b].T
            if s.A is not None:
                pr.result["A"] = s.A[b].T


def _kernel_apply(G: np.ndarray, pads: np.ndarray, stacks: list[_Stack]) -> np.ndarray:
    U = G @ pads
    g = np.concatenate([s.g[s.idx] for s in stacks if len(s.idx)], axis=0).T
    gbar = np.concatenate([s.gbar[s.idx] for s in stacks if len(s.idx)])
    _kernel_center(U, pads, g, gbar)
    return U


def _kernel_weights(s: _Stack, k: int, G: np.ndarray) -> None:
    """``a_k = Y_k v / sqrt(lambda)`` of every active problem; those whose M_k is numerically
    zero stop."""
    idx = np.flatnonzero(s.active)
    s.idx = idx
    if not len(idx):
        return

    def exact(sel: np.ndarray) -> np.ndarray:
        return np.stack([_kernel_exact_m(G, s, b, k) for b in sel])

    v, lam = _top_eigenpairs(s.take(s.M, idx))
    v, lam = s.first_or_refresh(k, idx, v, lam, exact)
    ok = lam > np.maximum(_STOP_RATIO * s.lam0[idx], s.floor[idx])
    if not ok.all():
        s.active[idx[~ok]] = False
        idx, v, lam = idx[ok], v[ok], lam[ok]
        s.idx = idx
        if not len(idx):
            return
    a = np.matmul(s.take(s.Yc, idx), v[:, :, None])[:, :, 0]  # Y_k = Y_c - T Q^T
    if k:
        Tk, Qk = s.take(s.T, idx)[:, :k], s.take(s.Q, idx)[:, :k]
        qv = np.matmul(Qk, v[:, :, None]).transpose(0, 2, 1)  # (b, 1, k)
        a -= np.matmul(qv, Tk)[:, 0, :]
    s.a = a / np.sqrt(lam)[:, None]


def _kernel_exact_m(G: np.ndarray, s: _Stack, b: int, k: int) -> np.ndarray:
    """``Y_k^T K_c Y_k`` of problem b formed anew (one n x n x q product)."""
    rows = s.rows[b]
    Yk = s.Yc[b] - s.T[b, :k].T @ s.Q[b, :k]
    pad = np.zeros((G.shape[0], Yk.shape[1]))
    pad[rows] = Yk
    Z = G @ pad
    _kernel_center(Z, pad, s.g[b][:, None], s.gbar[b])
    return _sym(Yk.T @ Z[rows])


def _kernel_scores(s: _Stack, k: int, KA: np.ndarray) -> None:
    """Scores ``t_k``: K_c a projected away from earlier scores."""
    idx = s.idx
    if not len(idx):
        return
    ka_tr = KA[s.rows[idx], s.cols[:, None]]
    t = ka_tr
    if k:
        Tk = s.take(s.T, idx)[:, :k]
        c = np.matmul(Tk, ka_tr[:, :, None])[:, :, 0] / s.take(s.tt, idx)[:, :k]
        t = ka_tr - np.matmul(c[:, None, :], Tk)[:, 0, :]  # c = P^T w_k: column k of P^T W
    tt = np.einsum("bn,bn->b", t, t)
    ok = tt > _CANCEL_RATIO * np.einsum("bn,bn->b", ka_tr, ka_tr)
    if not ok.all():
        s.active[idx[~ok]] = False
        idx, t, tt, ka_tr = idx[ok], t[ok], tt[ok], ka_tr[ok]
        s.a, s.cols = s.a[ok], s.cols[ok]
        if k:
            c = c[ok]
        s.idx = idx
        if not len(idx):
            return
    if k:
        s.PtW[idx, :k, k] = c
    s.PtW[idx, k, k] = np.einsum("bn,bn->b", t, ka_tr) / tt
    if s.keep is None:
        s.KA[idx, k] = KA[:, s.cols].T
    else:
        s.KA[idx, k] = KA[s.keep[idx], s.cols[:, None]]
    if s.A is not None:
        s.A[idx, k] = s.a
    s.t, s.tt_k = t, tt


def _kernel_update(s: _Stack, k: int, U: np.ndarray) -> None:
    """``q_k`` and ``M_{k+1} = (Y_k - t q^T)^T K_c (Y_k - t q^T)`` from ``u = K_c t``
    (training rows)."""
    idx = s.idx
    if not len(idx):
        return
    t, tt = s.t, s.tt_k
    u_tr = U[s.rows[idx], s.cols[:, None]]
    both = np.stack([t, u_tr], axis=1)  # (b, 2, n_tr)
    ytu = np.matmul(both, s.take(s.Yc, idx))  # [t, K_c t]^T Y_k: (b, 2, q)
    if k:
        Tk, Qk = s.take(s.T, idx)[:, :k], s.take(s.Q, idx)[:, :k]
        ytu -= np.matmul(np.matmul(both, Tk.transpose(0, 2, 1)), Qk)
    q, yu = ytu[:, 0] / tt[:, None], ytu[:, 1]  # q_k = Y_k^T t / t^T t
    # M - yu q^T - q yu^T + (t.u) q q^T = M - (z q^T + q z^T), exactly symmetric
    z = yu - (0.5 * np.einsum("bn,bn->b", t, u_tr))[:, None] * q
    _sym_rank2_update(s, idx, z, q)
    s.Q[idx, k], s.T[idx, k], s.tt[idx, k] = q, t, tt


def _kernel_start(G: np.ndarray, pr: _PLSProblem, shared: np.ndarray | None) -> None:
    """Centring terms ``g``, ``gbar`` and ``M_0 = Y_c^T K_c Y_c`` of a kernel problem."""
    prod = _train_products(G, pr, shared)  # G[:, train] [Y_c | 1] (G is symmetric)
    g = prod[:, -1] / len(pr.rows)
    pr.g, pr.gbar = g, float(g[pr.rows].mean())
    yc = pr.yc()
    Z = prod[pr.rows, :-1]
    _kernel_center(Z, yc, g[pr.rows, None], pr.gbar)
    pr.start = _sym(yc.T @ Z)
    trace = float(G.diagonal()[pr.rows].sum()) - len(pr.rows) * pr.gbar  # |X_c|_F^2
    pr.floor = _KERNEL_FLOOR * np.finfo(float).eps * trace * float((yc**2).sum())
