"""Mappings by name, and one mapping fit on every cross-validation split and target at once.

:func:`fit_predict_splits` is the entry point the scores use: it fits one mapping for every
(split, target) pair that shares the same features ``X``, through the fastest path the mapping
has (shared work for PLS, one solve per split for the column-independent linear maps, else a
clone per fit).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator

from brainlike.analysis.mapping.direct import IdentityMapping, OneToOneMapping
from brainlike.analysis.mapping.estimator import (
    _as_features,
    _as_index,
    _as_targets,
    _loop_fit_predict,
)
from brainlike.analysis.mapping.factored import FactoredReadout
from brainlike.analysis.mapping.linear import (
    LinearRegressionMapping,
    RidgeCVMapping,
    RidgeMapping,
    _fit_predict_linear,
    _linear_kind,
)
from brainlike.analysis.mapping.pls import PLSMapping

MAPPINGS = ("pls", "ridge", "ridgecv", "linreg", "one_to_one", "factored", "identity")
"""Names understood by :func:`make_mapping`."""


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
