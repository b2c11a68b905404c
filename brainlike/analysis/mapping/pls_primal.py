"""The primal PLS engine: NIPALS on the original X, two passes over X per component.

``C_{k+1} = C_k - (t_k^T t_k) p_k q_k^T`` is a rank-1 update; ``w_k`` comes from the top
eigenvector ``v`` of the small q x q matrix ``C_k^T C_k`` (``w = C v / ||C v||``, itself
updated in O(p q)); ``t_k`` and ``p_k`` come from the original ``X`` with corrections from
earlier components (``X_k = X_c - T P^T``), so X is never copied or deflated.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg.blas import dger

from brainlike.analysis.mapping.blocks import _sym, _x_dot, _xt_dot
from brainlike.analysis.mapping.pls_lockstep import (
    _CANCEL_RATIO,
    _STOP_RATIO,
    _assign_columns,
    _chunked,
    _each_stack,
    _group_problems,
    _PLSProblem,
    _scatter_columns,
    _Stack,
    _sym_rank2_update,
    _top_eigenpairs,
    _train_products,
)


def _pls_primal(X: np.ndarray, problems: list[_PLSProblem], n_components: int) -> None:
    """NIPALS PLS (converged) on the original X for every problem, in lockstep.

    ``problem.start`` holds ``C_0 = X_s^T Y_c`` (p, q). Each component costs two passes over
    X shared by all problems (``X @ W`` and ``X^T T``) plus O(p q) per problem, done with array
    operations over stacks of equally shaped problems. Results (``W``, ``P``, ``Q``, ``T``,
    ``tt``) go to ``problem.result``.
    """
    # spec: neural-evaluation.md §3 (PLS regression); algebra in the module docstring
    n_all, p = X.shape
    K = n_components
    stacks = []
    for group in _group_problems(problems):
        s = _Stack(group, K)
        B, q = len(group), group[0].q
        s.C = np.empty((B, p, q))
        for b, pr in enumerate(group):
            s.C[b], pr.start = pr.start, None
        s.M = np.empty((B, q, q))
        for sl in _chunked(B, q * q):
            s.M[sl] = _sym(np.matmul(s.C[sl].transpose(0, 2, 1), s.C[sl]))
        s.W, s.P = np.zeros((B, K, p)), np.zeros((B, K, p))
        s.x_mean = np.stack([pr.x_mean for pr in group])
        s.x_scale = None if group[0].x_scale is None else np.stack([pr.x_scale for pr in group])
        stacks.append(s)

    for k in range(K):
        _each_stack(stacks, _primal_weights, k)
        J = _assign_columns(stacks)
        if J == 0:
            break
        Wx = np.empty((p, J))
        for s in stacks:
            if len(s.idx):
                Wx[:, s.cols] = s.wx.T
        U = _x_dot(X, Wx)  # pass 1 over X: raw scores of every problem
        _each_stack(stacks, _primal_scores, k, U)
        if not _assign_columns(stacks):
            break
        T_pad = _scatter_columns(n_all, stacks, "t")
        V = _xt_dot(X, T_pad)  # pass 2 over X: X^T t of every problem
        _each_stack(stacks, _primal_update, k, V)
    for s in stacks:
        for b, pr in enumerate(s.problems):
            pr.result = {"W": s.W[b].T, "P": s.P[b].T, "Q": s.Q[b].T, "T": s.T[b].T}
            pr.result["tt"] = s.tt[b]
        s.C = None


def _primal_weights(s: _Stack, k: int) -> None:
    """Leading left singular vectors ``w`` of every active C_k (sign as scikit-learn's
    svd_flip); problems whose C_k is numerically zero stop."""
    idx = np.flatnonzero(s.active)
    s.idx = idx
    if not len(idx):
        return

    def exact(sel: np.ndarray) -> np.ndarray:
        # O(p q) updates keep errors relative to the first component: re-form C^T C exactly
        return np.stack([_sym(s.C[b].T @ s.C[b]) for b in sel])

    v, lam = _top_eigenpairs(s.take(s.M, idx))
    v, lam = s.first_or_refresh(k, idx, v, lam, exact)
    if len(idx) == len(s.problems):
        w = np.empty((len(idx), s.C.shape[1]))
        for sl in _chunked(len(idx), 1):
            w[sl] = np.matmul(s.C[sl], v[sl, :, None])[:, :, 0]
    else:
        w = np.stack([s.C[b] @ v[j] for j, b in enumerate(idx)])
    norm = np.linalg.norm(w, axis=1)
    ok = (lam > _STOP_RATIO * s.lam0[idx]) & (norm > 0)
    if not ok.all():
        s.active[idx[~ok]] = False
        idx, w, norm = idx[ok], w[ok], norm[ok]
        s.idx = idx
    w /= norm[:, None]
    top = w[np.arange(len(idx)), np.argmax(np.abs(w), axis=1)]
    w[top < 0] *= -1.0
    s.w = w
    s.wx = w if s.x_scale is None else w / s.x_scale[idx]


def _primal_scores(s: _Stack, k: int, U: np.ndarray) -> None:
    """Scores ``t = X_k w = X_c w - T (P^T w)`` of the active problems (``X_k = X_c - T P^T``);
    problems whose score is rounding noise stop."""
    idx = s.idx
    if not len(idx):
        return
    rows = s.rows[idx]
    xw = U[rows, s.cols[:, None]] - np.einsum("bp,bp->b", s.take(s.x_mean, idx), s.wx)[:, None]
    t = xw
    if k:
        Tk, Pk = s.take(s.T, idx)[:, :k], s.take(s.P, idx)[:, :k]
        ptw = np.matmul(Pk, s.w[:, :, None])  # (b, k, 1)
        t = xw - np.matmul(ptw.transpose(0, 2, 1), Tk)[:, 0, :]
    tt = np.einsum("bn,bn->b", t, t)
    ok = tt > _CANCEL_RATIO * np.einsum("bn,bn->b", xw, xw)
    if not ok.all():
        s.active[idx[~ok]] = False
        s.idx, s.cols, s.w, t, tt = idx[ok], s.cols[ok], s.w[ok], t[ok], tt[ok]
    s.t, s.tt_k = t, tt


def _primal_update(s: _Stack, k: int, V: np.ndarray) -> None:
    """Loadings of component k from ``X^T t`` and the rank-1 updates of C_k and C_k^T C_k."""
    idx = s.idx
    if not len(idx):
        return
    t, tt = s.t, s.tt_k
    xt = V[:, s.cols].T - s.take(s.x_mean, idx) * t.sum(axis=1)[:, None]  # X_c^T t
    if s.x_scale is not None:
        xt /= s.x_scale[idx]
    Yc = s.take(s.Yc, idx)
    ytt = np.matmul(t[:, None, :], Yc)[:, 0, :]  # Y_c^T t
    if k:
        Tk, Pk, Qk = (s.take(a, idx)[:, :k] for a in (s.T, s.P, s.Q))
        c = np.matmul(Tk, t[:, :, None]).transpose(0, 2, 1)  # ~0: orthogonal scores; exact
        xt -= np.matmul(c, Pk)[:, 0, :]
        ytt -= np.matmul(c, Qk)[:, 0, :]
    p_k = xt / tt[:, None]  # X_k^T t / t^T t
    q_k = ytt / tt[:, None]  # Y_k^T t / t^T t
    # C_{k+1} = C_k - tt p q^T ; C^T C follows in O(p q)
    full = len(idx) == len(s.problems)
    if full:
        r = np.empty_like(q_k)
        for sl in _chunked(len(idx), 1):
            r[sl] = np.matmul(p_k[sl, None, :], s.C[sl])[:, 0, :]
    else:
        r = np.stack([p_k[j] @ s.C[b] for j, b in enumerate(idx)])
    # M - tt (q r^T + r q^T) + tt^2 |p|^2 q q^T = M - (z q^T + q z^T), exactly symmetric
    z = tt[:, None] * r - (0.5 * tt * tt * np.einsum("bp,bp->b", p_k, p_k))[:, None] * q_k
    _sym_rank2_update(s, idx, z, q_k)
    tp = tt[:, None] * p_k
    if full:
        for sl in _chunked(len(idx), p_k.shape[1] * q_k.shape[1]):
            s.C[sl] -= tp[sl, :, None] * q_k[sl, None, :]
    else:
        for j, b in enumerate(idx):
            _rank1_update(s.C[b], -1.0, tp[j], q_k[j])
    s.W[idx, k], s.P[idx, k], s.Q[idx, k] = s.w, p_k, q_k
    s.T[idx, k], s.tt[idx, k] = t, tt


def _rank1_update(A: np.ndarray, alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """``A += alpha * outer(x, y)`` in place without a temporary (A float64 C-contiguous)."""
    if A.flags.c_contiguous and A.dtype == np.float64:
        dger(alpha, y, x, a=A.T, overwrite_a=1)  # A.T is Fortran-ordered: BLAS updates in place
    else:
        A += alpha * np.outer(x, y)


def _primal_start(X: np.ndarray, pr: _PLSProblem, shared: np.ndarray | None) -> None:
    """``C_0 = X_s^T Y_c`` (and the training means of X if not known yet)."""
    prod = _train_products(X, pr, shared)
    if pr.x_mean is None:
        pr.x_mean = prod[:, -1] / len(pr.rows)
    ysum = pr.yc_tdot(np.ones(len(pr.rows)))  # ~0; kept so the centring is exact
    C = prod[:, :-1] - np.outer(pr.x_mean, ysum)
    pr.start = C if pr.x_scale is None else C / pr.x_scale[:, None]
