"""Partial least squares regression, exact and fast: :class:`PLSMapping`.

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

The engines live in :mod:`~brainlike.analysis.mapping.pls_primal` and
:mod:`~brainlike.analysis.mapping.pls_kernel`, the stacked problems they advance in
:mod:`~brainlike.analysis.mapping.pls_lockstep`; this module chooses between them, runs them
in batches that fit the memory budget and turns their results into the estimator.
"""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainlike.analysis.mapping.blocks import (
    _blas_threads_for,
    _block_rows,
    _budget,
    _column_mean_std,
    _gram,
    _x_dot,
    _xt_dot,
)
from brainlike.analysis.mapping.estimator import (
    _as_features,
    _as_targets,
    _check_fitted_features,
    _loop_fit_predict,
)
from brainlike.analysis.mapping.pls_kernel import _kernel_start, _pls_kernel
from brainlike.analysis.mapping.pls_lockstep import _PLSProblem, _with_shared_products
from brainlike.analysis.mapping.pls_primal import _pls_primal, _primal_start

PLS_ALGORITHMS = ("auto", "primal", "kernel", "sklearn")
"""``PLSMapping(algorithm=...)`` choices; ``auto`` picks primal or kernel by estimated cost."""


# Rough machine constants (seconds) for the auto choice between the primal and kernel paths,
# measured on a 2-core x86 machine; only their ratios matter.
_T_READ32 = 0.75e-9  # per element of X read and converted to float64
_T_READ64 = 0.45e-9  # per element of a float64 array read in a matrix-vector pass
_T_COLUMN = 0.6e-10  # per element of X and per right-hand column in a thin product
_T_FMA = 1.7e-11  # per multiply-add in a large matrix product


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


def _std1(Y: np.ndarray) -> np.ndarray:
    sd = Y.std(axis=0, ddof=1) if len(Y) > 1 else np.ones(Y.shape[1])
    sd[sd == 0.0] = 1.0
    return sd


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
