"""The scikit-learn estimator plumbing every mapping shares.

Input checks at the door (features ``X`` (stimulus, unit), targets ``Y`` (stimulus, neuroid),
the width a fitted mapping expects, split indices), with messages that say what was expected
and what came, and the plain path of :func:`~brainlike.analysis.mapping.fit_predict_splits`:
clone the mapping, fit it on each split's training rows and predict the test rows.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, clone

from brainlike.analysis.mapping.blocks import _block_rows


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
