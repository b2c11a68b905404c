"""Mappings from model features (or a source animal) to target neuroids.

Every mapping is a scikit-learn regressor (``fit(X, Y)`` / ``predict(X)``, ``get_params``,
``sklearn.base.clone``) fit on training stimuli only (spec: neural-evaluation.md §3, §10):

=============  ==========================================================================
name           estimator
=============  ==========================================================================
``pls``        :class:`PLSMapping`: PLS regression, 25 components, no scaling (the default)
``ridge``      :class:`RidgeMapping`: ridge, alpha = 1
``ridgecv``    :class:`RidgeCVMapping`: ridge with alpha chosen over a log grid
``linreg``     :class:`LinearRegressionMapping`: least squares
``one_to_one`` :class:`OneToOneMapping`: each target copies its best-correlated source unit
``factored``   :class:`FactoredReadout`: spatially factored readout of (C, H, W) features
``identity``   :class:`IdentityMapping`: no fit (RSA and CKA compare populations directly)
=============  ==========================================================================

:func:`fit_predict_splits` fits one mapping for every (split, target) pair that shares the same
features ``X``; for PLS it shares the expensive work (one Gram matrix, or one pass over ``X``
serving every split and target) instead of refitting from scratch. Ridge, least squares and
one-to-one treat target columns independently: the columns of all targets form one right-hand
side, solved once per split (ridge and least squares from one Gram matrix of all stimuli,
re-centred per split, when features outnumber training stimuli; else from the p x p training
covariance), with scikit-learn's predictions to rounding.

Fast exact PLS
--------------
:class:`PLSMapping` returns what scikit-learn's ``PLSRegression(n_components, scale=False)``
(NIPALS, mode A, regression deflation) would return if its power iterations were run to
convergence. Component k of NIPALS takes the leading left singular vector ``w_k`` of
``C_k = X_k^T Y_k`` (the deflated, centred cross-covariance), ``t_k = X_k w_k``,
``p_k = X_k^T t_k / t_k^T t_k``, ``q_k = Y_k^T t_k / t_k^T t_k`` and deflates
``X_{k+1} = X_k - t_k p_k^T``, ``Y_{k+1} = Y_k - t_k q_k^T``. Two exact reformulations avoid
copying or deflating ``X``:

- *primal* (two passes over X per component): ``C_{k+1} = C_k - (t_k^T t_k) p_k q_k^T`` is a
  rank-1 update; ``w_k`` comes from the top eigenvector ``v`` of the small q x q matrix
  ``C_k^T C_k`` (``w = C v / ||C v||``, itself updated in O(p q)); ``t_k`` and ``p_k`` come from
  the original ``X`` with corrections from earlier components (``X_k = X_c - T P^T``).
- *kernel* (an n x n Gram matrix ``G = X X^T``, then two products with it per component): the
  same recursion in terms of ``K_c = X_c X_c^T``: ``w_k = X_c^T a_k`` with
  ``a_k = Y_k v / sqrt(lambda)`` (``v`` the top eigenvector of ``Y_k^T K_c Y_k``, updated in
  O(n q)), ``t_k`` is ``K_c a_k`` projected away from earlier scores, and test predictions are
  ``K_c[test, train] A (P^T W)^+ Q^T``. One Gram matrix over all stimuli serves every split
  (re-centred with each split's training means) and every target.

Both paths advance many (split, target) fits in lockstep, so one pass over X (or G) serves
all of them; ``algorithm="auto"`` picks the cheaper by estimated time within a memory budget.
Problems of equal shape are stacked along a leading axis and advanced with batched array
operations, so the per-component work has no per-problem Python loop except one LAPACK call
per problem for the top eigenpair of its q x q matrix (MRRR for one eigenpair: several times
faster than numpy's batched ``eigh``, which computes all of them). Those calls set the floor
for many small problems: the noise-corrected scoring loop (1,600 PLS-25 fits with q = 40 per
call) spends about 2.7 s of its ~4-5 s in them on a 2-core x86 machine.
``X_c^T Y_c = X^T Y_c`` when ``Y_c`` has zero column means, so centring ``X`` is never needed;
products with a float32 ``X`` are taken in float64 one block of rows at a time, so ``X`` is
never up-cast or copied whole. On the Brain-Score shape of the spec (3,200 stimuli x 9,216
float32 features -> 168 neuroids, PLS-25, 10 splits) all splits take about 3.5 s on 2 CPU
cores against 15-24 s per split for scikit-learn, with predictions equal to exact NIPALS to
1e-15 and peak extra memory 0.98 x ``X.nbytes`` (``benchmarks/bench_pls.py``).
"""

from __future__ import annotations

import contextlib
import math
import warnings
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import scipy.linalg
from scipy.linalg.blas import dger
from scipy.linalg.lapack import dsyevr
from sklearn.base import BaseEstimator, RegressorMixin, clone
from sklearn.utils.validation import check_is_fitted

__all__ = [
    "MAPPINGS",
    "PLS_ALGORITHMS",
    "FactoredReadout",
    "IdentityMapping",
    "LinearRegressionMapping",
    "OneToOneMapping",
    "PLSMapping",
    "RidgeCVMapping",
    "RidgeMapping",
    "fit_predict_splits",
    "make_mapping",
]

MAPPINGS = ("pls", "ridge", "ridgecv", "linreg", "one_to_one", "factored", "identity")
"""Names understood by :func:`make_mapping`."""

PLS_ALGORITHMS = ("auto", "primal", "kernel", "sklearn")
"""``PLSMapping(algorithm=...)`` choices; ``auto`` picks primal or kernel by estimated cost."""

# Rows of X are converted to float64 (and gathered) this many bytes at a time.
_BLOCK_BYTES = 16 * 2**20
# Below this many elements of X, PLS runs BLAS on one thread (see _blas_threads_for).
_SMALL_X = 2**22
# Extra memory the PLS fast path aims to stay under, as a fraction of X.nbytes (floor 16 MiB).
_MEMORY_FRACTION = 1.0
_MIN_BUDGET = 16 * 2**20

# PLS stops (the remaining components stay zero) once the targets or the features are
# numerically exhausted: the cross-covariance lambda = sigma^2 of component k has fallen below
# _STOP_RATIO times the first one's (like scikit-learn's "y residual is constant"), or the new
# score t_k is rounding noise: |t_k|^2 below _CANCEL_RATIO times |X_c w_k|^2 (primal) or
# |K_c a_k|^2 (kernel) before earlier components are removed (X has lower rank than
# n_components). scikit-learn fits rounding noise in the second case.
_STOP_RATIO = 1e-20
_CANCEL_RATIO = 1e-14
# The kernel path forms X X^T, whose rounding (eps |X|^2 per entry) puts a floor under lambda:
# it also stops once lambda < _KERNEL_FLOOR * eps * trace(K_c) * |Y_c|_F^2.
_KERNEL_FLOOR = 1e3
# When lambda has fallen this far since C^T C was last formed exactly, it is formed again: the
# O(p q) updates carry rounding errors relative to the first component's size.
_REFRESH_RATIO = 1e-6

# Rough machine constants (seconds) for the auto choice between the primal and kernel paths,
# measured on a 2-core x86 machine; only their ratios matter.
_T_READ32 = 0.75e-9  # per element of X read and converted to float64
_T_READ64 = 0.45e-9  # per element of a float64 array read in a matrix-vector pass
_T_COLUMN = 0.6e-10  # per element of X and per right-hand column in a thin product
_T_FMA = 1.7e-11  # per multiply-add in a large matrix product


# --------------------------------------------------------------------------------------------
# input checks
# --------------------------------------------------------------------------------------------


def _as_features(X: Any, name: str = "X") -> np.ndarray:
    """X as a 2-D float32/float64 array (memory maps and float32 are kept, not copied)."""
    X = X if isinstance(X, np.ndarray) else np.asarray(X)
    if X.ndim != 2:
        raise ValueError(
            f"{name} must be 2-D (stimulus, unit); got shape {X.shape}. Flatten feature maps "
            f"with X.reshape(len(X), -1) (or use the 'factored' mapping for (N, C, H, W))"
        )
    if X.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(X.dtype, np.number) or X.dtype == bool):
            raise ValueError(f"{name} must be numeric; got dtype {X.dtype}")
        X = X.astype(np.float64)
    if X.shape[0] < 1 or X.shape[1] < 1:
        raise ValueError(f"{name} is empty (shape {X.shape})")
    # Sum in float64 (numpy reduces in small buffered chunks: no copy of X); a NaN or inf
    # anywhere makes it non-finite. Finite float64 values can overflow the sum, so confirm.
    if not math.isfinite(float(np.sum(X, dtype=np.float64))):
        bad = _first_nonfinite(X)
        if bad is not None:
            raise ValueError(
                f"{name} contains NaN or inf (first at stimulus {bad[0]}, unit {bad[1]}); "
                f"drop those units or replace the values before fitting a mapping"
            )
    return X


def _first_nonfinite(X: np.ndarray) -> tuple[int, int] | None:
    step = _block_rows(X.shape[1])
    for start in range(0, X.shape[0], step):
        block = np.asarray(X[start : start + step])
        bad = np.argwhere(~np.isfinite(block))
        if len(bad):
            return int(bad[0, 0]) + start, int(bad[0, 1])
    return None


def _as_targets(Y: Any, n: int, name: str = "Y") -> tuple[np.ndarray, bool]:
    """Y as a float64 (n, q) array and whether it was 1-D."""
    Y = np.asarray(Y, dtype=np.float64)
    one_d = Y.ndim == 1
    if one_d:
        Y = Y[:, None]
    if Y.ndim != 2:
        raise ValueError(
            f"{name} must be (stimulus, neuroid); got shape {Y.shape}. Average trials first "
            f"(e.g. np.nanmean(responses, axis=2))"
        )
    if Y.shape[0] != n:
        raise ValueError(
            f"{name} has {Y.shape[0]} stimuli but X has {n}; rows of X and {name} must be the "
            f"same stimuli in the same order"
        )
    if Y.shape[1] < 1:
        raise ValueError(f"{name} has no neuroids (shape {Y.shape})")
    if not np.all(np.isfinite(Y)):
        col = int(np.argwhere(~np.isfinite(Y))[0, 1])
        raise ValueError(
            f"{name} contains NaN or inf (neuroid {col}); mappings need finite targets: average "
            f"the available trials with np.nanmean and drop neuroids without data"
        )
    return Y, one_d


def _check_fitted_features(est: BaseEstimator, X: np.ndarray) -> None:
    if X.shape[1] != est.n_features_in_:
        raise ValueError(
            f"X has {X.shape[1]} features but {type(est).__name__} was fit on "
            f"{est.n_features_in_}; predict with features from the same layer"
        )


def _check_n_components(n_components: Any, n_train: int, p: int) -> int:
    if isinstance(n_components, bool) or not isinstance(n_components, int | np.integer):
        raise ValueError(f"n_components must be a positive int; got {n_components!r}")
    bound = min(n_train, p)
    if not 1 <= n_components <= bound:
        raise ValueError(
            f"n_components={n_components} but PLS can extract at most min(n_train={n_train}, "
            f"n_features={p}) = {bound} components; pass n_components <= {bound} "
            f"(e.g. make_mapping('pls', n_components={max(bound, 1)})) or use more stimuli"
        )
    return int(n_components)


# --------------------------------------------------------------------------------------------
# float64 linear algebra on X one block of rows at a time
# --------------------------------------------------------------------------------------------


def _block_rows(p: int, n: int | None = None) -> int:
    """Rows per float64 block: at most _BLOCK_BYTES, and (for an X of n rows) at most a quarter
    of X unless that is under 1 MiB, so a block buffer never costs more than half a float32 X."""
    step = _BLOCK_BYTES // (8 * max(p, 1))
    if n is not None:
        step = min(step, max(-(-n // 4), 2**20 // (8 * max(p, 1))))
    return max(1, step)


def _blocks(X: np.ndarray, rows: np.ndarray | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(positions, X[rows][positions] as float64)``, one block of rows at a time.

    A float64 ``X`` yields views (or gathered copies of one block); a float32 ``X`` is converted
    into one reused float64 buffer, so the whole array is never up-cast.
    """
    n = X.shape[0] if rows is None else len(rows)
    step = _block_rows(X.shape[1], X.shape[0])
    buffer = None
    for start in range(0, n, step):
        stop = min(n, start + step)
        src = slice(start, stop) if rows is None else rows[start:stop]
        if X.dtype == np.float64:
            yield slice(start, stop), X[src]
            continue
        if buffer is None:
            buffer = np.empty((min(step, n), X.shape[1]))
        block = buffer[: stop - start]
        np.copyto(block, X[src])
        yield slice(start, stop), block


def _x_dot(X: np.ndarray, B: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``X[rows] @ B`` in float64, shape (len(rows), B.shape[1])."""
    if X.dtype == np.float64 and rows is None:
        return X @ B
    out = np.empty((X.shape[0] if rows is None else len(rows), B.shape[1]))
    for sl, block in _blocks(X, rows):
        np.matmul(block, B, out=out[sl])
    return out


def _xt_dot(X: np.ndarray, B: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``X[rows].T @ B`` in float64 (``B`` has one row per selected row), shape (p, r)."""
    if X.dtype == np.float64 and rows is None:
        return X.T @ B
    out = np.zeros((X.shape[1], B.shape[1]))
    part = np.empty_like(out)
    for sl, block in _blocks(X, rows):
        np.matmul(block.T, B[sl], out=part)
        out += part
    return out


def _column_mean_std(
    X: np.ndarray, rows: np.ndarray | None, with_std: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Column means (and ddof=1 standard deviations, zeros -> 1) of ``X[rows]``."""
    n = X.shape[0] if rows is None else len(rows)
    mean = np.zeros(X.shape[1])
    for _, block in _blocks(X, rows):
        mean += block.sum(axis=0)
    mean /= n
    if not with_std:
        return mean, None
    sumsq = np.zeros(X.shape[1])
    for _, block in _blocks(X, rows):
        sumsq += ((block - mean) ** 2).sum(axis=0)
    std = np.sqrt(sumsq / max(n - 1, 1))
    std[std == 0.0] = 1.0  # as scikit-learn: constant columns are left unscaled
    return mean, std


def _gram(
    X: np.ndarray,
    center: np.ndarray | None = None,
    col_scale: np.ndarray | None = None,
    budget: float | None = None,
) -> np.ndarray:
    """``G = Xs Xs^T`` (float64, n x n) with ``Xs = (X - center) * col_scale``, built from pairs
    of float64 row blocks (upper triangle, mirrored); the two block buffers share what is left
    of ``budget`` bytes after G."""
    n, p = X.shape
    step = _block_rows(p, n)
    if budget is not None:
        spare = (budget - 8.0 * n * n) / 2.5
        step = max(min(step, int(spare // (8 * p))), min(step, 64))
    G = np.empty((n, n))
    a_buf = np.empty((min(step, n), p))
    b_buf = np.empty_like(a_buf) if step < n else None

    def load(buf: np.ndarray, sl: slice) -> np.ndarray:
        block = buf[: sl.stop - sl.start]
        if center is None:
            np.copyto(block, X[sl])
        else:
            np.subtract(X[sl], center, out=block)
        if col_scale is not None:
            block *= col_scale
        return block

    bounds = [slice(s, min(n, s + step)) for s in range(0, n, step)]
    for i, rows_i in enumerate(bounds):
        a = load(a_buf, rows_i)
        np.matmul(a, a.T, out=G[rows_i, rows_i])
        for rows_j in bounds[i + 1 :]:
            b = load(b_buf, rows_j)
            np.matmul(a, b.T, out=G[rows_i, rows_j])
            G[rows_j, rows_i] = G[rows_i, rows_j].T
    return G


def _rank1_update(A: np.ndarray, alpha: float, x: np.ndarray, y: np.ndarray) -> None:
    """``A += alpha * outer(x, y)`` in place without a temporary (A float64 C-contiguous)."""
    if A.flags.c_contiguous and A.dtype == np.float64:
        dger(alpha, y, x, a=A.T, overwrite_a=1)  # A.T is Fortran-ordered: BLAS updates in place
    else:
        A += alpha * np.outer(x, y)


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


def _complement(rows: np.ndarray, n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[rows] = False
    return np.flatnonzero(mask)


# --------------------------------------------------------------------------------------------
# PLS: one fit ("problem") per (split, target); engines advance a batch of them in lockstep
# --------------------------------------------------------------------------------------------

_THREADS = None


def _one_blas_thread():
    """Context limiting BLAS to one thread: the many small per-problem products in between the
    big shared passes run faster without threading overheads (and on a busy machine)."""
    global _THREADS
    if _THREADS is None:
        from threadpoolctl import ThreadpoolController

        _THREADS = ThreadpoolController()
    return _THREADS.limit(limits=1, user_api="blas")


def _blas_threads_for(X: np.ndarray):
    """One BLAS thread for small X: its products are too small to gain from threads, and
    threads that wait on each other slow to a crawl when other processes share the cores."""
    return _one_blas_thread() if X.size < _SMALL_X else contextlib.nullcontext()


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
        with _one_blas_thread():
            for s in stacks:
                _primal_weights(s, k)
        J = _assign_columns(stacks)
        if J == 0:
            break
        Wx = np.empty((p, J))
        for s in stacks:
            if len(s.idx):
                Wx[:, s.cols] = s.wx.T
        U = _x_dot(X, Wx)  # pass 1 over X: raw scores of every problem
        with _one_blas_thread():
            for s in stacks:
                _primal_scores(s, k, U)
        if not _assign_columns(stacks):
            break
        T_pad = _scatter_columns(n_all, stacks, "t")
        V = _xt_dot(X, T_pad)  # pass 2 over X: X^T t of every problem
        with _one_blas_thread():
            for s in stacks:
                _primal_update(s, k, V)
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
        with _one_blas_thread():
            for s in stacks:
                _kernel_weights(G, s, k)
        if not _assign_columns(stacks):
            break
        KA = _kernel_apply(G, _scatter_columns(n_all, stacks, "a"), stacks)  # K_c a, all rows
        with _one_blas_thread():
            for s in stacks:
                _kernel_scores(s, k, KA)
        if not _assign_columns(stacks):
            break
        U = _kernel_apply(G, _scatter_columns(n_all, stacks, "t"), stacks)  # K_c t, all rows
        with _one_blas_thread():
            for s in stacks:
                _kernel_update(s, k, U)
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


def _kernel_weights(G: np.ndarray, s: _Stack, k: int) -> None:
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


def _sym_rank2_update(s: _Stack, idx: np.ndarray, z: np.ndarray, q: np.ndarray) -> None:
    """``M[idx] -= z q^T + q z^T`` (each update exactly symmetric, as M stays)."""
    zq = z[:, :, None] * q[:, None, :]
    zq += zq.transpose(0, 2, 1).copy()
    if len(idx) == len(s.problems):
        s.M -= zq
    else:
        s.M[idx] -= zq


def _sym(M: np.ndarray) -> np.ndarray:
    return 0.5 * (M + np.swapaxes(M, -1, -2))


def _estimate_seconds(
    algorithm: str,
    *,
    n: int,
    p: int,
    q: int,
    K: int,
    n_problems: int,
    n_targets: int,
    n_rest: float,
    itemsize: int,
    n_grams: int,
    budget: float,
) -> float:
    """Rough time of the primal or kernel path (used by ``algorithm="auto"``)."""
    read = _T_READ32 if itemsize == 4 else _T_READ64
    # starting products: shared over all rows per target, then per problem the other rows
    shared = n_targets * n + n_problems * n_rest
    if algorithm == "primal":
        spare = budget - _primal_reserve(n, p, q)
        batch = max(1, min(n_problems, int(spare // _primal_bytes(n, p, q, K))))
        passes = 2 * K * math.ceil(n_problems / batch)
        starts = shared * p * (q + 1) * _T_FMA
        return starts + passes * n * p * (read + batch * _T_COLUMN)
    gram_bytes = 8.0 * n * n
    if gram_bytes >= budget:
        return math.inf
    spare = budget - gram_bytes - _kernel_reserve(n, q)
    batch = max(1, min(n_problems, int(spare // _kernel_bytes(n, q, K))))
    passes = 2 * K * math.ceil(n_problems / batch)
    blocks = max(1, math.ceil(n / _block_rows(p, n)))
    gram = n_grams * (0.5 * n * n * p * _T_FMA + 0.5 * (blocks + 1) * n * p * read)
    starts = shared * n * (q + 1) * _T_FMA + n_problems * n * q * q * _T_FMA
    return gram + starts + passes * n * n * (_T_READ64 + batch * _T_COLUMN)


def _primal_bytes(n: int, p: int, q: int, K: int) -> float:
    # per problem: C, W, P, x_mean, x_scale; scores T, Y_c and two pad columns; M
    return 8.0 * (p * (q + 2 * K + 2) + n * (K + q + 3) + 2 * q * q)


def _primal_reserve(n: int, p: int, q: int) -> float:
    # transient while starting a batch: X^T [Y | 1] of one target, one problem's product and
    # the partial sums of X[rows]^T B, plus one float64 block of X
    return 8.0 * p * (q + 1) * 4 + 8.0 * p * _block_rows(p, n)


def _kernel_bytes(n: int, q: int, K: int) -> float:
    # per problem: scores T and kept K_c A (~n K together), Y_c, g, two pad columns, M, P^T W
    return 8.0 * (n * (K + q + 5) + 2 * q * q + K * K)


def _kernel_reserve(n: int, q: int) -> float:
    # transient while starting a batch: G^T [Y | 1] of one target, one problem's product and
    # its temporaries
    return 8.0 * n * (q + 1) * 3


def _budget(X: np.ndarray) -> float:
    return max(_MEMORY_FRACTION * X.nbytes, _MIN_BUDGET)


def _std1(Y: np.ndarray) -> np.ndarray:
    sd = Y.std(axis=0, ddof=1) if len(Y) > 1 else np.ones(Y.shape[1])
    sd[sd == 0.0] = 1.0
    return sd


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


def _primal_start(X: np.ndarray, pr: _PLSProblem, shared: np.ndarray | None) -> None:
    """``C_0 = X_s^T Y_c`` (and the training means of X if not known yet)."""
    prod = _train_products(X, pr, shared)
    if pr.x_mean is None:
        pr.x_mean = prod[:, -1] / len(pr.rows)
    ysum = pr.yc_tdot(np.ones(len(pr.rows)))  # ~0; kept so the centring is exact
    C = prod[:, :-1] - np.outer(pr.x_mean, ysum)
    pr.start = C if pr.x_scale is None else C / pr.x_scale[:, None]


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


def _run_batches(
    engine: str,
    op: np.ndarray,
    X: np.ndarray,
    problems: list[_PLSProblem],
    n_components: int,
    batch: int,
    on_done,
) -> None:
    """Run problems through an engine in batches of ``batch`` (memory), calling
    ``on_done(problem)`` as each batch finishes."""
    for start in range(0, len(problems), batch):
        chunk = problems[start : start + batch]
        for pr, shared in _with_shared_products(op, chunk):
            if engine == "primal":
                _primal_start(X, pr, shared)
            else:
                _kernel_start(op, pr, shared)
        if engine == "primal":
            _pls_primal(X, chunk, n_components)
        else:
            _pls_kernel(op, chunk, n_components)
        for pr in chunk:
            on_done(pr)
            pr.result = {}


# --------------------------------------------------------------------------------------------
# PLSMapping
# --------------------------------------------------------------------------------------------


class PLSMapping(RegressorMixin, BaseEstimator):
    """Partial least squares regression, exact and fast; equal to scikit-learn's PLSRegression.

    Gives the predictions of ``sklearn.cross_decomposition.PLSRegression(n_components,
    scale=scale)`` (NIPALS, mode A, regression deflation) with its power iterations run to
    convergence, without copying, centring or up-casting ``X`` (see the module docstring).
    scikit-learn stops its power iterations at a tolerance of 1e-6 on the squared change of the
    weights, so its own results sit about that far from the converged ones. The Brain-Score
    default mapping is PLS-25 without scaling (spec: neural-evaluation.md §10).

    Parameters
    ----------
    n_components : int, default 25
        Number of PLS components; at most ``min(n_train, n_features)``.
    scale : bool, default False
        Scale X and Y columns to unit variance (ddof=1) on the training stimuli first, as
        scikit-learn's ``scale=True``.
    algorithm : {"auto", "primal", "kernel", "sklearn"}, default "auto"
        ``primal`` works with X (two passes over X per component), ``kernel`` with the
        n x n Gram matrix of X (two n x n products per component), ``auto`` picks the cheaper
        by estimated time within the memory budget; ``sklearn`` runs scikit-learn's
        PLSRegression itself (slow reference; copies X).

    Attributes
    ----------
    coef_ : ndarray (n_targets, n_features)
        ``predict(X) = (X - x_mean_) @ coef_.T + intercept_``.
    intercept_ : ndarray (n_targets,)
        Training target means.
    x_mean_ : ndarray (n_features,)
        Training feature means.
    x_weights_, x_loadings_, x_rotations_ : ndarray (n_features, n_components)
        ``w_k``, ``p_k`` and ``W (P^T W)^+`` as scikit-learn (same sign convention).
    y_weights_, y_loadings_ : ndarray (n_targets, n_components)
        ``q_k`` (equal for PLS regression, as in scikit-learn).
    x_scores_ : ndarray (n_samples, n_components)
    n_components_ : int
        Components actually extracted (fewer than asked when the targets are fully explained
        or X has lower rank; the rest are zero and a warning says so).
    algorithm_ : str
        The path that was used ("primal", "kernel" or "sklearn").
    n_features_in_ : int

    Notes
    -----
    Components whose cross-covariance has vanished (targets fully explained) are left at zero,
    as scikit-learn does when "y residual is constant".
    """

    def __init__(self, n_components: int = 25, scale: bool = False, algorithm: str = "auto"):
        self.n_components = n_components
        self.scale = scale
        self.algorithm = algorithm

    def _choose(self, X: np.ndarray, q: int, n_problems: int, n_targets: int, n_rest: float):
        if self.algorithm not in PLS_ALGORITHMS:
            raise ValueError(
                f"algorithm={self.algorithm!r} is not one of {', '.join(PLS_ALGORITHMS)}"
            )
        if self.algorithm != "auto":
            return self.algorithm
        n, p = X.shape
        kw = dict(
            n=n,
            p=p,
            q=q,
            K=int(self.n_components),
            n_problems=n_problems,
            n_targets=n_targets,
            n_rest=n_rest,
            itemsize=X.dtype.itemsize,
            n_grams=(n_problems if self.scale else 1),
            budget=_budget(X),
        )
        primal = _estimate_seconds("primal", **kw)
        kernel = _estimate_seconds("kernel", **kw)
        return "kernel" if kernel < primal else "primal"

    def fit(self, X: Any, Y: Any) -> PLSMapping:
        """Fit PLS on training features ``X`` (n, p) and targets ``Y`` (n, q) or (n,).

        Returns
        -------
        self
        """
        X = _as_features(X)
        Y, one_d = _as_targets(Y, X.shape[0])
        n, p = X.shape
        if n < 2:
            raise ValueError(f"PLS needs at least 2 training stimuli; got {n}")
        K = _check_n_components(self.n_components, n, p)
        self._predict_1d = one_d
        self.n_features_in_ = p
        algorithm = self._choose(X, Y.shape[1], 1, 1, 0)
        self.algorithm_ = algorithm
        if algorithm == "sklearn":
            return self._fit_sklearn(X, Y, K)
        with _blas_threads_for(X):
            return self._fit_fast(X, Y, K, algorithm)

    def _fit_fast(self, X: np.ndarray, Y: np.ndarray, K: int, algorithm: str) -> PLSMapping:
        n, p = X.shape
        x_mean, x_std = _column_mean_std(X, None, self.scale)
        y_mean = Y.mean(axis=0)
        y_std = _std1(Y) if self.scale else np.ones(Y.shape[1])
        rows = np.arange(n)
        pr = _PLSProblem(rows, Y - y_mean, np.zeros(Y.shape[1]), y_std, y_mean, x_mean, x_std)
        res: dict[str, np.ndarray] = {}
        if algorithm == "primal":
            _run_batches("primal", X, X, [pr], K, 1, lambda done: res.update(done.result))
            W, P, Q, T = res["W"], res["P"], res["Q"], res["T"]
        else:
            pr.keep_weights = True
            G = _gram(X, x_mean, None if x_std is None else 1.0 / x_std, _budget(X))
            _run_batches("kernel", G, X, [pr], K, 1, lambda done: res.update(done.result))
            del G
            Q, T, tt, A = res["Q"], res["T"], res["tt"], res["A"]
            # W = X_s^T A and P = X_s^T T / tt (X_s: centred, scaled features)
            both = np.hstack([A, T])
            both = _xt_dot(X, both) - np.outer(x_mean, both.sum(axis=0))
            if x_std is not None:
                both /= x_std[:, None]
            W = both[:, :K]
            P = np.divide(both[:, K:], tt, out=np.zeros((p, K)), where=tt > 0)
            # scikit-learn's svd_flip: the largest |w| of each component is positive
            signs = np.sign(W[np.argmax(np.abs(W), axis=0), np.arange(K)])
            signs[signs == 0] = 1.0
            W, P, Q, T = W * signs, P * signs, Q * signs, T * signs
        self._set_model(W, P, Q, T, x_mean, x_std, y_mean, y_std)
        self.n_components_ = int(np.count_nonzero(res["tt"]))
        if self.n_components_ < K:
            warnings.warn(
                f"PLS stopped after {self.n_components_} of {K} components: the targets are "
                f"fully explained or X has rank {self.n_components_}; the remaining components "
                f"are zero (pass n_components={self.n_components_} to silence this)",
                stacklevel=3,
            )
        return self

    def _set_model(self, W, P, Q, T, x_mean, x_std, y_mean, y_std) -> None:
        self.x_weights_, self.x_loadings_ = W, P
        self.y_loadings_, self.y_weights_ = Q, Q.copy()
        self.x_scores_ = T
        self.x_rotations_ = W @ np.linalg.pinv(P.T @ W)
        coef = (self.x_rotations_ @ Q.T) * y_std  # (p, q)
        if x_std is not None:
            coef /= x_std[:, None]
        self.coef_ = np.ascontiguousarray(coef.T)
        self.intercept_ = y_mean
        self.x_mean_ = x_mean

    def _fit_sklearn(self, X: np.ndarray, Y: np.ndarray, K: int) -> PLSMapping:
        from sklearn.cross_decomposition import PLSRegression

        ref = PLSRegression(K, scale=self.scale).fit(X, Y)
        self.x_weights_, self.x_loadings_ = ref.x_weights_, ref.x_loadings_
        self.y_loadings_, self.y_weights_ = ref.y_loadings_, ref.y_weights_
        self.x_scores_, self.x_rotations_ = ref.x_scores_, ref.x_rotations_
        self.coef_, self.intercept_ = ref.coef_, ref.intercept_
        self.x_mean_ = ref._x_mean
        self.n_components_ = K
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, shape (n, q) (or (n,) if fit on 1-D targets)."""
        check_is_fitted(self, "coef_")
        X = _as_features(X)
        _check_fitted_features(self, X)
        B = self.coef_.T
        pred = _x_dot(X, B) - self.x_mean_ @ B + self.intercept_
        return pred[:, 0] if self._predict_1d else pred

    def _fit_predict_splits(
        self, X: np.ndarray, Ys: list[np.ndarray], splits: list[tuple[np.ndarray, np.ndarray]]
    ) -> list[list[np.ndarray]]:
        """Predictions of every (split, target) fit, sharing the work that depends on X only."""
        n, p = X.shape
        for train, _ in splits:
            if len(train) < 2:
                raise ValueError(f"PLS needs at least 2 training stimuli; a split has {len(train)}")
            _check_n_components(self.n_components, len(train), p)
        n_rest = float(np.mean([n - len(tr) for tr, _ in splits]))
        q = max(Y.shape[1] for Y in Ys)
        algorithm = self._choose(X, q, len(splits) * len(Ys), len(Ys), n_rest)
        if algorithm == "sklearn":
            return _loop_fit_predict(self, X, Ys, splits)
        with _blas_threads_for(X):
            return self._fit_predict_fast(X, Ys, splits, algorithm)

    def _fit_predict_fast(self, X, Ys, splits, algorithm: str) -> list[list[np.ndarray]]:
        n, p = X.shape
        K = int(self.n_components)
        q = max(Y.shape[1] for Y in Ys)
        out: list[list[Any]] = [[None] * len(Ys) for _ in splits]
        where: dict[int, tuple[int, int]] = {}
        budget = _budget(X)
        groups = []  # problems sharing one Gram matrix (kernel) or all problems (primal)
        for s, (train, test) in enumerate(splits):
            x_mean, x_std = _column_mean_std(X, train, True) if self.scale else (None, None)
            group = []
            for m, Y in enumerate(Ys):
                mu = Y[train].mean(axis=0)
                sd = _std1(Y[train]) if self.scale else np.ones(Y.shape[1])
                pr = _PLSProblem(train, Y, mu, sd, mu, x_mean, x_std, keep=test)
                where[id(pr)] = (s, m)
                group.append(pr)
            groups.append(group)

        def predict_primal(pr: _PLSProblem) -> None:
            res = pr.result
            R = res["W"] @ np.linalg.pinv(res["P"].T @ res["W"])
            if pr.x_scale is not None:
                R = R / pr.x_scale[:, None]
            scores = _x_dot(X, R, rows=pr.keep) - pr.x_mean @ R
            s, m = where[id(pr)]
            out[s][m] = scores @ res["Q"].T * pr.sd + pr.y_mean

        def predict_kernel(pr: _PLSProblem) -> None:
            res = pr.result
            scores = res["KA"] @ np.linalg.pinv(res["PtW"])
            s, m = where[id(pr)]
            out[s][m] = scores @ res["Q"].T * pr.sd + pr.y_mean

        # Target-major order: the splits of one target share their starting products (all
        # rows minus each split's few other rows), so keep them in the same batch.
        def target_major(prs: list[_PLSProblem]) -> list[_PLSProblem]:
            return sorted(prs, key=lambda pr: where[id(pr)][::-1])

        if algorithm == "primal":
            problems = target_major([pr for group in groups for pr in group])
            spare = budget - _primal_reserve(n, p, q)
            batch = max(1, int(spare // _primal_bytes(n, p, q, K)))
            _run_batches("primal", X, X, problems, K, batch, predict_primal)
            return out
        if not self.scale:  # one Gram matrix serves every split
            groups = [target_major([pr for group in groups for pr in group])]
        for group in groups:
            pr0 = group[0]
            if self.scale:
                G = _gram(X, pr0.x_mean, 1.0 / pr0.x_scale, budget)
            else:
                G = _gram(X, _column_mean_std(X, None, False)[0], budget)
            spare = budget - G.nbytes - _kernel_reserve(n, q)
            batch = max(1, int(max(spare, 0) // _kernel_bytes(n, q, K)))
            _run_batches("kernel", G, X, group, K, batch, predict_kernel)
            del G
        return out


# --------------------------------------------------------------------------------------------
# other linear mappings
# --------------------------------------------------------------------------------------------


class _SklearnLinear(RegressorMixin, BaseEstimator):
    """A scikit-learn linear regressor behind the input checks of this module."""

    def _estimator(self) -> BaseEstimator:
        raise NotImplementedError

    def fit(self, X: Any, Y: Any) -> _SklearnLinear:
        """Fit on training features ``X`` (n, p) and targets ``Y`` (n, q) or (n,)."""
        X = _as_features(X)
        Y, one_d = _as_targets(Y, X.shape[0])
        self.n_features_in_ = X.shape[1]
        self._predict_1d = one_d
        est = self._estimator().fit(np.asarray(X, dtype=np.float64), Y)
        self.estimator_ = est
        self.coef_ = np.atleast_2d(est.coef_)
        self.intercept_ = np.atleast_1d(est.intercept_)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Predicted targets, shape (n, q) (or (n,) if fit on 1-D targets)."""
        check_is_fitted(self, "coef_")
        X = _as_features(X)
        _check_fitted_features(self, X)
        pred = _x_dot(X, self.coef_.T) + self.intercept_
        return pred[:, 0] if self._predict_1d else pred


class RidgeMapping(_SklearnLinear):
    """Ridge regression with an intercept (scikit-learn ``Ridge`` semantics).

    Parameters
    ----------
    alpha : float, default 1.0
        L2 penalty (Brain-Score's ridge uses 1; spec: neural-evaluation.md §10).
    """

    def __init__(self, alpha: float = 1.0):
        self.alpha = alpha

    def _estimator(self) -> BaseEstimator:
        from sklearn.linear_model import Ridge

        if not float(self.alpha) >= 0:
            raise ValueError(f"alpha must be >= 0; got {self.alpha!r}")
        return Ridge(alpha=self.alpha)


class RidgeCVMapping(_SklearnLinear):
    """Ridge with alpha chosen by efficient leave-one-out CV over a grid (``RidgeCV``).

    Parameters
    ----------
    alphas : array-like, default ``np.logspace(-2, 7, 100)``
        Candidate penalties (spec: neural-evaluation.md §10: about 100 alphas, 0.01-1e7).
    alpha_per_target : bool, default False
        Choose one alpha per neuroid instead of one for all.

    Attributes
    ----------
    alpha_ : float or ndarray
        The chosen alpha(s).
    """

    def __init__(self, alphas: Any = np.logspace(-2, 7, 100), alpha_per_target: bool = False):
        self.alphas = alphas
        self.alpha_per_target = alpha_per_target

    def _estimator(self) -> BaseEstimator:
        from sklearn.linear_model import RidgeCV

        alphas = np.atleast_1d(np.asarray(self.alphas, dtype=float))
        if alphas.size == 0 or np.any(alphas <= 0):
            raise ValueError(f"alphas must be a non-empty list of positive values; got {alphas}")
        return RidgeCV(alphas=alphas, alpha_per_target=self.alpha_per_target)

    def fit(self, X: Any, Y: Any) -> RidgeCVMapping:
        super().fit(X, Y)
        self.alpha_ = self.estimator_.alpha_
        return self


class LinearRegressionMapping(_SklearnLinear):
    """Ordinary least squares with an intercept (minimum-norm solution when p > n)."""

    def _estimator(self) -> BaseEstimator:
        from sklearn.linear_model import LinearRegression

        return LinearRegression()


class IdentityMapping(RegressorMixin, BaseEstimator):
    """No mapping: ``predict(X)`` returns ``X`` itself.

    For analyses that compare populations without fitting (RSA, CKA; spec:
    neural-evaluation.md §3). ``fit`` only checks shapes.
    """

    def fit(self, X: Any, Y: Any = None) -> IdentityMapping:
        """Record the number of features; ``Y`` (if given) must have one row per stimulus."""
        X = np.asarray(X)
        if X.ndim != 2:
            raise ValueError(f"X must be 2-D (stimulus, unit); got shape {X.shape}")
        if Y is not None and len(Y) != len(X):
            raise ValueError(f"Y has {len(Y)} stimuli but X has {len(X)}")
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        """``X`` unchanged, shape (n, p)."""
        check_is_fitted(self, "n_features_in_")
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[1] != self.n_features_in_:
            raise ValueError(
                f"X must be (stimulus, {self.n_features_in_}) like the fitted X; got {X.shape}"
            )
        return X


class OneToOneMapping(RegressorMixin, BaseEstimator):
    """Each target neuroid copies the one source unit that correlates best with it.

    On the training stimuli every (source unit, target) pair gets its Pearson r; each target
    keeps the unit with the highest r (spec: neural-evaluation.md §3), fixed for that split.
    ``predict`` returns that unit's raw values: correlation with the target, the score this
    mapping is used with, does not depend on an affine rescaling, so none is fitted (as
    Brain-Score and the mouse work). Constant source units are never chosen.

    Attributes
    ----------
    source_index_ : ndarray of int (n_targets,)
        Chosen source unit per target.
    source_r_ : ndarray (n_targets,)
        Its training Pearson r.
    """

    def fit(self, X: Any, Y: Any) -> OneToOneMapping:
        """Pick the best source unit for every target column of ``Y`` (n, q)."""
        X = _as_features(X)
        Y, one_d = _as_targets(Y, X.shape[0])
        if X.shape[0] < 2:
            raise ValueError("one-to-one mapping needs at least 2 training stimuli")
        self.n_features_in_ = X.shape[1]
        self._predict_1d = one_d
        yc = Y - Y.mean(axis=0)
        mean, _ = _column_mean_std(X, None, False)
        sumsq = np.zeros(X.shape[1])
        for _, block in _blocks(X):
            sumsq += ((block - mean) ** 2).sum(axis=0)
        cov = _xt_dot(X, yc) - np.outer(mean, yc.sum(axis=0))  # X_c^T Y_c, (p, q)
        x_norm = np.sqrt(sumsq)
        y_norm = np.sqrt((yc**2).sum(axis=0))
        with np.errstate(divide="ignore", invalid="ignore"):
            r = cov / np.outer(x_norm, y_norm)
        r[~np.isfinite(r)] = -np.inf  # constant units (or targets) cannot be chosen
        self.source_index_ = np.argmax(r, axis=0)
        best = r[self.source_index_, np.arange(r.shape[1])]
        self.source_r_ = np.where(np.isfinite(best), best, np.nan)
        return self

    def predict(self, X: Any) -> np.ndarray:
        """Raw values of each target's source unit, shape (n, q) float64."""
        check_is_fitted(self, "source_index_")
        X = _as_features(X)
        _check_fitted_features(self, X)
        pred = np.asarray(X[:, self.source_index_], dtype=np.float64)
        return pred[:, 0] if self._predict_1d else pred


# --------------------------------------------------------------------------------------------
# spatially factored readout
# --------------------------------------------------------------------------------------------

_FACTORED_CHUNK = 2**24  # floats in the largest intermediate of one forward chunk


class FactoredReadout(RegressorMixin, BaseEstimator):
    """Spatially factored readout of convolutional features (Klindt et al. 2017 style).

    ``r_n = sum_{h,w} S_n[h,w] sum_c W[c,n] X[c,h,w] + b_n``  (spec: neural-evaluation.md §3):
    each target neuroid has one spatial mask ``S_n`` and one channel weighting ``W[:, n]``,
    trained jointly by full-batch gradient descent on the mean squared error plus optional
    penalties. Written with torch (imported on first use), float64 on the CPU.

    Inputs are ``X`` of shape (n, C, H, W), or flattened (n, C*H*W) in C, H, W order (PyTorch's
    ``flatten``) with ``feature_shape=(C, H, W)``.

    Parameters
    ----------
    feature_shape : tuple of 3 ints, optional
        (C, H, W) of flattened inputs.
    n_epochs : int, default 300
        Optimizer iterations (L-BFGS iterations, or Adam steps).
    lr : float, default 1.0
        Step size (L-BFGS scale; use ~0.01 for Adam).
    optimizer : {"lbfgs", "adam"}, default "lbfgs"
    spatial_l2, channel_l2 : float, default 0
        L2 penalties on S and on W (sum of squares, averaged over neuroids).
    smoothness : float, default 0
        Penalty on the squared discrete Laplacian of each S_n (edge-replicated).
    sparsity : float, default 0
        L1 penalty on S. Penalties on S alone can be dodged by shrinking S and growing W (the
        response only depends on their product): combine them with ``channel_l2``.
    seed : int, default 0
        Seeds the small random perturbation of the initial masks.
    tol : float, default 1e-12
        L-BFGS stops when the objective changes less than this.

    Attributes
    ----------
    spatial_ : ndarray (n_targets, H, W)
    channel_weights_ : ndarray (C, n_targets)
    bias_ : ndarray (n_targets,)
    loss_ : float
        Final training objective (mean squared error + penalties).
    mse_ : float
        Final training mean squared error.

    Notes
    -----
    One readout shared across time bins (a temporally fixed mapping) is this estimator fit on
    the (stimulus, bin) rows of the training stimuli jointly:
    :func:`brainlike.analysis.neural.temporal_predictivity` stacks the rows and passes
    flattened features, so use ``feature_shape`` there.
    """

    def __init__(
        self,
        feature_shape: tuple[int, int, int] | None = None,
        n_epochs: int = 300,
        lr: float = 1.0,
        optimizer: str = "lbfgs",
        spatial_l2: float = 0.0,
        channel_l2: float = 0.0,
        smoothness: float = 0.0,
        sparsity: float = 0.0,
        seed: int = 0,
        tol: float = 1e-12,
    ):
        self.feature_shape = feature_shape
        self.n_epochs = n_epochs
        self.lr = lr
        self.optimizer = optimizer
        self.spatial_l2 = spatial_l2
        self.channel_l2 = channel_l2
        self.smoothness = smoothness
        self.sparsity = sparsity
        self.seed = seed
        self.tol = tol

    def _as_maps(self, X: Any) -> np.ndarray:
        X = np.asarray(X)
        if X.ndim == 2:
            if self.feature_shape is None:
                raise ValueError(
                    f"FactoredReadout needs feature maps (n, C, H, W); got 2-D X {X.shape}. "
                    f"Pass feature_shape=(C, H, W) for flattened features"
                )
            shape = tuple(int(v) for v in self.feature_shape)
            if len(shape) != 3 or math.prod(shape) != X.shape[1]:
                raise ValueError(
                    f"feature_shape={self.feature_shape} does not match {X.shape[1]} features "
                    f"per stimulus; it must be (C, H, W) with C*H*W = {X.shape[1]}"
                )
            X = X.reshape(len(X), *shape)
        if X.ndim != 4:
            raise ValueError(f"X must be (n, C, H, W) feature maps; got shape {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("X contains NaN or inf; replace them before fitting a readout")
        return X

    def _forward(self, torch, X, S, W, b):
        """Responses (n, N) of maps X (n, C, H, W) for masks S (N, H, W), weights W (C, N)."""
        n, C, H, Wd = X.shape
        flat = X.reshape(n, C, H * Wd)
        if H * Wd <= C:  # contract channels first: intermediate (n, N, HW)
            mixed = torch.einsum("icl,cn->inl", flat, W)
            return (mixed * S.reshape(S.shape[0], -1)).sum(-1) + b
        pooled = torch.einsum("icl,nl->icn", flat, S.reshape(S.shape[0], -1))
        return (pooled * W).sum(1) + b

    def _penalty(self, torch, S, W):
        N = S.shape[0]
        total = S.new_zeros(())
        if self.spatial_l2:
            total = total + self.spatial_l2 * (S**2).sum() / N
        if self.channel_l2:
            total = total + self.channel_l2 * (W**2).sum() / N
        if self.sparsity:
            total = total + self.sparsity * S.abs().sum() / N
        if self.smoothness:
            lap = S.new_tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
            padded = torch.nn.functional.pad(S[:, None], (1, 1, 1, 1), mode="replicate")
            curv = torch.nn.functional.conv2d(padded, lap[None, None])
            total = total + self.smoothness * (curv**2).sum() / N
        return total

    def _chunks(self, X: np.ndarray, N: int) -> list[slice]:
        n, C, H, Wd = X.shape
        per = max(1, min(C, H * Wd) * N + C * H * Wd)
        step = max(1, _FACTORED_CHUNK // per)
        return [slice(s, min(n, s + step)) for s in range(0, n, step)]

    def fit(self, X: Any, Y: Any) -> FactoredReadout:
        """Fit masks, channel weights and biases on maps ``X`` and targets ``Y`` (n, q)."""
        import torch

        X = self._as_maps(X)
        Y, one_d = _as_targets(Y, X.shape[0])
        if self.optimizer not in ("lbfgs", "adam"):
            raise ValueError(f"optimizer must be 'lbfgs' or 'adam'; got {self.optimizer!r}")
        for name in ("spatial_l2", "channel_l2", "smoothness", "sparsity"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0; got {getattr(self, name)}")
        n, C, H, Wd = X.shape
        N = Y.shape[1]
        self._predict_1d = one_d
        self.n_features_in_ = C * H * Wd
        # Features divided by their RMS so that the initial scales suit any input units.
        rms = float(np.sqrt(np.mean(np.square(X, dtype=np.float64)))) or 1.0
        Xt = torch.from_numpy(np.asarray(X, dtype=np.float64) / rms)
        Yt = torch.from_numpy(Y)
        # Small readouts run on one torch thread: tiny tensor ops gain nothing from threads,
        # and waiting threads crawl when other processes share the cores.
        previous = torch.get_num_threads()
        if n * C * H * Wd * N < _SMALL_X:
            torch.set_num_threads(1)
        try:
            self._train(torch, X, Xt, Yt, Y, rms)
        finally:
            torch.set_num_threads(previous)
        return self

    def _train(self, torch, X: np.ndarray, Xt, Yt, Y: np.ndarray, rms: float) -> None:
        """Full-batch optimisation of S, W and b; sets the fitted attributes."""
        n, C, H, Wd = X.shape
        N = Y.shape[1]
        gen = torch.Generator().manual_seed(int(self.seed))
        S0 = torch.full((N, H, Wd), 1.0 / (H * Wd), dtype=torch.float64)
        S0 += 0.01 / (H * Wd) * torch.randn(S0.shape, generator=gen, dtype=torch.float64)
        S = S0.requires_grad_()
        W = torch.zeros((C, N), dtype=torch.float64, requires_grad=True)
        b = torch.from_numpy(Y.mean(axis=0).copy()).requires_grad_()
        chunks = self._chunks(X, N)
        scale = 1.0 / (n * N)

        def objective(backward: bool) -> tuple[float, float]:
            """Mean squared error and full objective; gradients accumulated if asked."""
            mse = 0.0
            for sl in chunks:  # the full batch, in chunks that bound the intermediate size
                err = self._forward(torch, Xt[sl], S, W, b) - Yt[sl]
                part = scale * (err**2).sum()
                if backward:
                    part.backward()
                mse += part.item()
            pen = self._penalty(torch, S, W)
            if backward and pen.requires_grad:
                pen.backward()
            return mse, mse + pen.item()

        def closure():
            opt.zero_grad()
            return torch.tensor(objective(True)[1], dtype=torch.float64)

        if self.optimizer == "lbfgs":
            opt = torch.optim.LBFGS(
                [S, W, b],
                lr=self.lr,
                max_iter=int(self.n_epochs),
                tolerance_grad=1e-12,
                tolerance_change=self.tol,
                history_size=50,
                line_search_fn="strong_wolfe",
            )
            opt.step(closure)
            self.n_iter_ = int(opt.state[opt._params[0]].get("n_iter", 0))
        else:
            opt = torch.optim.Adam([S, W, b], lr=self.lr)
            for _ in range(int(self.n_epochs)):
                closure()
                opt.step()
            self.n_iter_ = int(self.n_epochs)
        with torch.no_grad():
            mse, final = objective(False)  # at the returned parameters
        self.loss_, self.mse_ = final, mse
        self.spatial_ = S.detach().numpy().copy()
        self.channel_weights_ = W.detach().numpy().copy() / rms
        self.bias_ = b.detach().numpy().copy()

    def predict(self, X: Any) -> np.ndarray:
        """Predicted responses, shape (n, q) (or (n,) if fit on 1-D targets)."""
        check_is_fitted(self, "spatial_")
        X = self._as_maps(X)
        n, C, H, Wd = X.shape
        if (H, Wd) != self.spatial_.shape[1:] or C != self.channel_weights_.shape[0]:
            raise ValueError(
                f"X maps are {(C, H, Wd)} but the readout was fit on "
                f"{(self.channel_weights_.shape[0], *self.spatial_.shape[1:])}"
            )
        N = self.spatial_.shape[0]
        S2 = self.spatial_.reshape(N, -1)
        out = np.empty((n, N))
        for sl in self._chunks(X, N):
            flat = np.asarray(X[sl], dtype=np.float64).reshape(-1, C, H * Wd)
            if H * Wd <= C:
                mixed = np.einsum("icl,cn->inl", flat, self.channel_weights_)
                out[sl] = (mixed * S2).sum(-1)
            else:
                out[sl] = ((flat @ S2.T) * self.channel_weights_).sum(1)
        out += self.bias_
        return out[:, 0] if self._predict_1d else out


# --------------------------------------------------------------------------------------------
# column-independent linear maps: every split and target solved together
# --------------------------------------------------------------------------------------------

# Target columns of one one-to-one correlation block: (features x columns) floats at a time.
_CORR_FLOATS = 2**22


def _linear_kind(mapping: BaseEstimator) -> str | None:
    """Which fast path of :func:`_fit_predict_linear` serves ``mapping`` (None: clone loop)."""
    if type(mapping) is RidgeMapping:
        alpha = mapping.alpha
        ok = isinstance(alpha, int | float | np.integer | np.floating) and not isinstance(
            alpha, bool
        )
        return "ridge" if ok and math.isfinite(float(alpha)) and float(alpha) > 0 else None
    if type(mapping) is LinearRegressionMapping:
        return "linreg"
    if type(mapping) is OneToOneMapping:
        return "one_to_one"
    return None


def _train_gram_terms(G: np.ndarray, train: np.ndarray, test: np.ndarray):
    """``K_c[train, train]`` and ``K_c[test, train]`` from the Gram matrix ``G`` of all rows,
    re-centred with the training means (``K_c = G - g 1^T - 1 g^T + gbar``)."""
    g = G[:, train].mean(axis=1)
    gbar = g[train].mean()
    K_tr = G[np.ix_(train, train)] - g[train, None] - g[None, train] + gbar
    K_te = G[np.ix_(test, train)] - g[test, None] - g[None, train] + gbar
    return _sym(K_tr), K_te


def _train_moments(
    X: np.ndarray, train: np.ndarray, Yc: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Training column means of X, ``X_c^T X_c`` (p x p) and ``X_c^T Y_c`` (one pass)."""
    mean = _column_mean_std(X, train, False)[0]
    p = X.shape[1]
    cov = np.zeros((p, p))
    rhs = None if Yc is None else np.zeros((p, Yc.shape[1]))
    for sl, block in _blocks(X, train):
        block -= mean  # a float64 buffer or gathered copy, never X itself
        cov += block.T @ block
        if rhs is not None:
            rhs += block.T @ Yc[sl]
    return mean, _sym(cov), rhs


def _pinv_sym_apply(S: np.ndarray, B: np.ndarray, tol_dim: int) -> np.ndarray:
    """``S^+ B`` for a symmetric positive semi-definite ``S`` (eigenvalues below
    ``max(S) * tol_dim * eps`` count as zero, as ``numpy.linalg.matrix_rank``)."""
    lam, U = np.linalg.eigh(S)
    top = lam[-1] if lam.size else 0.0
    keep = lam > max(top, 0.0) * tol_dim * np.finfo(float).eps
    U = U[:, keep]
    return U @ ((U.T @ B) / lam[keep, None])


def _fit_predict_linear(
    kind: str,
    mapping: BaseEstimator,
    X: np.ndarray,
    Ys: list[np.ndarray],
    splits: list[tuple[np.ndarray, np.ndarray]],
) -> list[list[np.ndarray]]:
    """Ridge, least squares and one-to-one for every split and target at once.

    These maps treat every target column independently, so the columns of all targets are
    concatenated into one right-hand side: per split one solve serves every target. Ridge and
    least squares work with the n x n Gram matrix of all stimuli (re-centred with each split's
    training means) when features outnumber training stimuli, else with the p x p training
    covariance; ``X`` is read in float64 blocks and never copied whole.
    """
    n, p = X.shape
    Y = Ys[0] if len(Ys) == 1 else np.hstack(Ys)
    bounds = np.cumsum([0] + [y.shape[1] for y in Ys])
    preds = []
    with _blas_threads_for(X):
        if kind == "one_to_one":
            preds = [_one_to_one_split(X, Y, train, test) for train, test in splits]
        else:
            max_train = max(len(train) for train, _ in splits)
            use_gram = max_train < p and 8.0 * n * n <= max(2.0 * X.nbytes, _MIN_BUDGET)
            G = None
            if use_gram:  # X centred with the mean of all rows first (less cancellation)
                G = _gram(X, _column_mean_std(X, None, False)[0], None, _budget(X))
            for train, test in splits:
                preds.append(_linear_split(kind, mapping, X, G, Y, train, test))
            del G
    return [
        [np.ascontiguousarray(pred[:, a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        for pred in preds
    ]


def _linear_split(kind, mapping, X, G, Y, train, test) -> np.ndarray:
    """Test predictions of ridge or least squares fit on one split's training rows."""
    y_mean = Y[train].mean(axis=0)
    Yc = Y[train] - y_mean
    n_tr, p = len(train), X.shape[1]
    if G is not None:  # kernel form: coef = X_c^T (K_c + alpha I)^-1 Y_c
        K_tr, K_te = _train_gram_terms(G, train, test)
        if kind == "ridge":
            K_tr.flat[:: n_tr + 1] += float(mapping.alpha)
            try:
                dual = scipy.linalg.solve(K_tr, Yc, assume_a="pos")
            except np.linalg.LinAlgError:
                dual = scipy.linalg.lstsq(K_tr, Yc)[0]
        else:  # minimum-norm least squares: K_c^+ Y_c
            dual = _pinv_sym_apply(K_tr, Yc, max(n_tr, p))
        return K_te @ dual + y_mean
    mean, cov, rhs = _train_moments(X, train, Yc)
    if kind == "ridge":
        cov.flat[:: p + 1] += float(mapping.alpha)
        try:
            coef = scipy.linalg.solve(cov, rhs, assume_a="pos")
        except np.linalg.LinAlgError:
            coef = scipy.linalg.lstsq(cov, rhs)[0]
    else:
        coef = _pinv_sym_apply(cov, rhs, max(n_tr, p))
    return _x_dot(X, coef, rows=test) - mean @ coef + y_mean


def _one_to_one_split(X: np.ndarray, Y: np.ndarray, train: np.ndarray, test: np.ndarray):
    """Raw test values of each target column's best-correlated source unit (training r), as
    :meth:`OneToOneMapping.fit` / ``predict`` choose it; features in blocks of columns."""
    if len(train) < 2:
        raise ValueError("one-to-one mapping needs at least 2 training stimuli")
    yc = Y[train] - Y[train].mean(axis=0)
    y_norm = np.sqrt((yc**2).sum(axis=0))
    y_sum = yc.sum(axis=0)
    mean = _column_mean_std(X, train, False)[0]
    sumsq = np.zeros(X.shape[1])
    for _, block in _blocks(X, train):
        sumsq += ((block - mean) ** 2).sum(axis=0)
    x_norm = np.sqrt(sumsq)
    p, Q = X.shape[1], Y.shape[1]
    best = np.full(Q, -np.inf)
    index = np.zeros(Q, dtype=np.intp)
    step = max(1, min(_CORR_FLOATS // max(Q, 1), _BLOCK_BYTES // (8 * len(train))))
    for start in range(0, p, step):
        cols = slice(start, min(p, start + step))
        block = np.asarray(X[train, cols], dtype=np.float64)
        cov = block.T @ yc - np.outer(mean[cols], y_sum)
        with np.errstate(divide="ignore", invalid="ignore"):
            r = cov / np.outer(x_norm[cols], y_norm)
        r[~np.isfinite(r)] = -np.inf
        arg = np.argmax(r, axis=0)
        top = r[arg, np.arange(Q)]
        better = top > best
        best[better] = top[better]
        index[better] = arg[better] + start
    return np.asarray(X[np.ix_(test, index)], dtype=np.float64)


# --------------------------------------------------------------------------------------------
# registry and the many-splits entry point
# --------------------------------------------------------------------------------------------

_CLASSES: dict[str, type] = {
    "pls": PLSMapping,
    "ridge": RidgeMapping,
    "ridgecv": RidgeCVMapping,
    "linreg": LinearRegressionMapping,
    "one_to_one": OneToOneMapping,
    "factored": FactoredReadout,
    "identity": IdentityMapping,
}


def make_mapping(name: str, **kwargs: Any) -> BaseEstimator:
    """Build a mapping estimator by name.

    Parameters
    ----------
    name : str
        One of :data:`MAPPINGS`: "pls", "ridge", "ridgecv", "linreg", "one_to_one",
        "factored", "identity".
    **kwargs
        Passed to the estimator (e.g. ``make_mapping("pls", n_components=10)``).

    Returns
    -------
    An unfitted scikit-learn estimator.
    """
    if name not in _CLASSES:
        raise ValueError(f"unknown mapping {name!r}; choose one of: {', '.join(MAPPINGS)}")
    try:
        return _CLASSES[name](**kwargs)
    except TypeError as err:
        raise TypeError(f"make_mapping({name!r}, ...): {err}") from None


def _as_index(idx: Any, n: int, what: str) -> np.ndarray:
    idx = np.asarray(idx)
    if idx.dtype == bool:
        if idx.shape != (n,):
            raise ValueError(f"{what} mask has shape {idx.shape}; expected ({n},)")
        idx = np.flatnonzero(idx)
    if idx.ndim != 1 or not (idx.size == 0 or np.issubdtype(idx.dtype, np.integer)):
        raise ValueError(f"{what} must be a 1-D array of row indices (or a boolean mask)")
    if idx.size == 0:
        raise ValueError(f"{what} is empty; every split needs training and test stimuli")
    if idx.min() < 0 or idx.max() >= n:
        raise ValueError(f"{what} has indices outside 0..{n - 1}")
    return idx.astype(np.intp, copy=False)


def _loop_fit_predict(mapping: BaseEstimator, X: Any, Ys: list[np.ndarray], splits: list):
    out = []
    for train, test in splits:
        X_train, X_test = X[train], X[test]
        row = []
        for Y in Ys:
            est = clone(mapping).fit(X_train, Y[train])
            pred = np.asarray(est.predict(X_test), dtype=np.float64)
            row.append(pred.reshape(len(test), -1))
        out.append(row)
    return out


def fit_predict_splits(
    mapping: BaseEstimator | str,
    X: Any,
    Ys: Sequence[Any],
    splits: Sequence[tuple[Any, Any]],
) -> list[list[np.ndarray]]:
    """Fit a mapping on the training rows of every split, for every target, and predict the
    test rows.

    Parameters
    ----------
    mapping : str or estimator
        A name from :data:`MAPPINGS` or a scikit-learn regressor (used as a template; it is not
        fitted itself). :class:`PLSMapping` shares work across splits and targets (one Gram
        matrix or shared passes over ``X``); :class:`RidgeMapping` (alpha > 0),
        :class:`LinearRegressionMapping` and :class:`OneToOneMapping` solve all targets of a
        split at once; other mappings (and subclasses of these) are cloned, fit and asked to
        predict.
    X : ndarray (n, p)
        Features of all stimuli (float32 is kept float32). (n, C, H, W) for "factored".
    Ys : sequence of ndarray (n, q_i)
        Target matrices sharing ``X`` (e.g. split-half averages of several bootstraps). Must be
        finite: average trials with ``np.nanmean`` first.
    splits : sequence of (train_idx, test_idx)
        Row indices (or boolean masks) over the stimuli; train and test must not overlap.

    Returns
    -------
    list over splits of list over targets of ndarray (len(test_idx), q_i)
        Predictions for the test rows (float64); (len(test_idx), p) for "identity".
    """
    if isinstance(mapping, str):
        mapping = make_mapping(mapping)
    if not (hasattr(mapping, "fit") and hasattr(mapping, "predict")):
        raise TypeError(f"mapping must be a name or an estimator; got {type(mapping).__name__}")
    if isinstance(Ys, np.ndarray) and Ys.ndim == 2:
        raise TypeError("Ys must be a list of target matrices; wrap a single one as [Y]")
    linear = _linear_kind(mapping)
    if isinstance(mapping, PLSMapping) or linear is not None:
        X = _as_features(X)
    elif not hasattr(X, "shape"):
        X = np.asarray(X)
    n = X.shape[0]
    Ys = [_as_targets(Y, n, name=f"Ys[{i}]")[0] for i, Y in enumerate(Ys)]
    if not Ys:
        raise ValueError("Ys is empty; pass at least one target matrix")
    checked = []
    for s, split in enumerate(splits):
        if len(split) != 2:
            raise ValueError(f"splits[{s}] must be a (train_idx, test_idx) pair")
        train = _as_index(split[0], n, f"splits[{s}] train")
        test = _as_index(split[1], n, f"splits[{s}] test")
        if np.intersect1d(train, test).size:
            raise ValueError(
                f"splits[{s}]: {np.intersect1d(train, test).size} stimuli are in both train "
                f"and test; a mapping must never be fit on test stimuli"
            )
        checked.append((train, test))
    if not checked:
        raise ValueError("splits is empty; pass at least one (train_idx, test_idx) pair")
    if isinstance(mapping, PLSMapping):
        return mapping._fit_predict_splits(X, Ys, checked)
    if linear is not None:
        return _fit_predict_linear(linear, mapping, X, Ys, checked)
    return _loop_fit_predict(mapping, X, Ys, checked)
