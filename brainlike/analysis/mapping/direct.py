"""Mappings without regression weights: the identity, and one source unit per target.

:class:`IdentityMapping` compares populations directly (RSA, CKA); :class:`OneToOneMapping`
lets each target neuroid copy the source unit that correlates best with it on the training
stimuli (spec: neural-evaluation.md §3). :func:`_one_to_one_split` makes the same choice for
every target of a split at once, reading the features in blocks of columns.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils.validation import check_is_fitted

from brainlike.analysis.mapping.blocks import (
    _BLOCK_BYTES,
    _centred_sumsq,
    _column_mean_std,
    _xt_dot,
)
from brainlike.analysis.mapping.estimator import _as_features, _as_targets, _check_fitted_features


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
        cov = _xt_dot(X, yc) - np.outer(mean, yc.sum(axis=0))  # X_c^T Y_c, (p, q)
        x_norm = np.sqrt(_centred_sumsq(X, None, mean))
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


# Target columns of one one-to-one correlation block: (features x columns) floats at a time.
_CORR_FLOATS = 2**22


def _one_to_one_split(X: np.ndarray, Y: np.ndarray, train: np.ndarray, test: np.ndarray):
    """Raw test values of each target column's best-correlated source unit (training r), as
    :meth:`OneToOneMapping.fit` / ``predict`` choose it; features in blocks of columns."""
    if len(train) < 2:
        raise ValueError("one-to-one mapping needs at least 2 training stimuli")
    yc = Y[train] - Y[train].mean(axis=0)
    y_norm = np.sqrt((yc**2).sum(axis=0))
    y_sum = yc.sum(axis=0)
    mean = _column_mean_std(X, train, False)[0]
    x_norm = np.sqrt(_centred_sumsq(X, train, mean))
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
