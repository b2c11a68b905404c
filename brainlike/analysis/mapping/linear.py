"""Ridge, ridge with a chosen alpha, and least squares; all targets of a split in one solve.

The estimators wrap scikit-learn's ``Ridge``, ``RidgeCV`` and ``LinearRegression`` behind the
input checks of :mod:`~brainlike.analysis.mapping.estimator`. Ridge, least squares and
one-to-one treat target columns independently, so :func:`_fit_predict_linear` concatenates
the columns of all targets into one right-hand side, solved once per split: ridge and least
squares from one Gram matrix of all stimuli, re-centred per split, when features outnumber
training stimuli, else from the p x p training covariance, with scikit-learn's predictions to
rounding.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import scipy.linalg
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainlike.analysis.mapping.blocks import (
    _MIN_BUDGET,
    _blas_threads_for,
    _blocks,
    _budget,
    _column_mean_std,
    _gram,
    _sym,
    _x_dot,
)
from brainlike.analysis.mapping.direct import OneToOneMapping, _one_to_one_split
from brainlike.analysis.mapping.estimator import _as_features, _as_targets, _check_fitted_features


class _SklearnLinear(RegressorMixin, BaseEstimator):
    """A scikit-learn linear regressor behind the input checks of the mappings."""

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
        dual = _solve_symmetric(kind, mapping, K_tr, Yc, max(n_tr, p))
        return K_te @ dual + y_mean
    mean, cov, rhs = _train_moments(X, train, Yc)
    coef = _solve_symmetric(kind, mapping, cov, rhs, max(n_tr, p))
    return _x_dot(X, coef, rows=test) - mean @ coef + y_mean


def _solve_symmetric(
    kind: str, mapping: BaseEstimator, S: np.ndarray, B: np.ndarray, tol_dim: int
) -> np.ndarray:
    """``(S + alpha I)^-1 B`` for ridge (``S`` is changed in place), the minimum-norm ``S^+ B``
    for least squares; ``S`` is a symmetric positive semi-definite Gram or covariance matrix."""
    if kind == "ridge":
        S.flat[:: S.shape[0] + 1] += float(mapping.alpha)
        try:
            return scipy.linalg.solve(S, B, assume_a="pos")
        except np.linalg.LinAlgError:
            return scipy.linalg.lstsq(S, B)[0]
    return _pinv_sym_apply(S, B, tol_dim)
