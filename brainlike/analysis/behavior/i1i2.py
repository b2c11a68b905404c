"""Image-level behavioural metrics of a decoder: I1, I2 and I2n (Rajalingham et al. 2018).

The Brain-Score I2n recipe up to the comparison with humans: class probabilities from a
logistic-regression decoder (:func:`logistic_choice_probabilities`), the target-vs-distractor
choice probabilities (:func:`target_distractor_probabilities`), d' per (image, distractor) with
object-level false alarms (:func:`dprime_matrix`), I2n (:func:`normalize_i2`) and I1, the mean
d' over distractors (:func:`i1_from_i2`). :func:`i1_from_probabilities` and
:func:`i1_over_time` give the I1 of a decoder at one or every time step, as object solution
times (:mod:`brainlike.analysis.ost`) need them.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any

import numpy as np
from scipy.stats import norm

from brainlike.analysis.behavior.confusions import _as_labels, _same_length

__all__ = [
    "dprime_matrix",
    "i1",
    "i1_from_i2",
    "i1_from_probabilities",
    "i1_over_time",
    "i2",
    "i2n",
    "logistic_choice_probabilities",
    "normalize_i2",
    "target_distractor_probabilities",
]

DPRIME_CAP = 5.0
I2N_CLASSIFIER_C = 1e-3


def _as_probabilities(probabilities: Any) -> np.ndarray:
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"probabilities must have shape (image, class), got shape {p.shape}")
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ValueError("probabilities must be finite and non-negative (decoder outputs)")
    return p


# ---------------------------------------------------------------------------------------------
# I1 / I2 (Brain-Score I2n recipe)
# ---------------------------------------------------------------------------------------------


def logistic_choice_probabilities(
    features_fit: Any,
    labels_fit: Any,
    features_test: Any,
    labels_test: Any | None = None,
    *,
    C: float = I2N_CLASSIFIER_C,
) -> np.ndarray:
    """Class probabilities of test images from a logistic-regression decoder.

    Standardise features with the fitting images' mean and s.d., fit a multinomial logistic
    regression (L2, ``C``) on the fitting images only, predict the test images.

    Parameters
    ----------
    features_fit : array, shape (fit_image, feature)
    labels_fit : array, shape (fit_image,)
        Class label (int or str) of every fitting image; the probability columns follow
        ``np.unique(labels_fit)``.
    features_test : array, shape (test_image, feature)
    labels_test : array, shape (test_image,), optional
        Only checked: every test class must have been seen among the fitting images.
    C : float
        Inverse regularisation strength (Brain-Score: 1e-3).

    Returns
    -------
    ndarray, shape (test_image, class)
        Rows sum to 1; columns in sorted order of the fitting labels.
    """
    # spec: neural-evaluation.md §10, Behaviour I2n (decoder on separate fitting images)
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    X_fit = np.asarray(features_fit, dtype=float)
    X_test = np.asarray(features_test, dtype=float)
    y_fit = np.asarray(labels_fit)
    if X_fit.ndim != 2 or X_test.ndim != 2:
        raise ValueError(
            "features must have shape (image, feature); flatten activations first "
            f"(got fit {X_fit.shape}, test {X_test.shape})"
        )
    if X_fit.shape[1] != X_test.shape[1]:
        raise ValueError(
            f"fitting and test features differ in width ({X_fit.shape[1]} vs "
            f"{X_test.shape[1]}); take both from the same layer"
        )
    if y_fit.shape != (X_fit.shape[0],):
        raise ValueError(
            f"labels_fit has shape {y_fit.shape}; expected one label per fitting image "
            f"({X_fit.shape[0]},)"
        )
    classes = np.unique(y_fit)
    if classes.size < 2:
        raise ValueError("the fitting images need at least 2 classes to fit a decoder")
    if labels_test is not None:
        y_test = np.asarray(labels_test)
        if y_test.shape != (X_test.shape[0],):
            raise ValueError(f"labels_test has shape {y_test.shape}; expected ({X_test.shape[0]},)")
        unseen = sorted(set(y_test.tolist()) - set(classes.tolist()))
        if unseen:
            raise ValueError(
                f"test classes {unseen} have no fitting images; add fitting images of "
                "every test class"
            )
    scaler = StandardScaler().fit(X_fit)
    decoder = LogisticRegression(C=C, solver="newton-cg", max_iter=1000)
    decoder.fit(scaler.transform(X_fit), y_fit)
    return decoder.predict_proba(scaler.transform(X_test))


def target_distractor_probabilities(probabilities: Any, true: Any) -> np.ndarray:
    """Probability of choosing each distractor over the true object, per image.

    Parameters
    ----------
    probabilities : array, shape (image, class)
        Decoder class probabilities.
    true : array of int, shape (image,)
        True class of every image.

    Returns
    -------
    ndarray, shape (image, class)
        ``p[i, d] = P(d) / (P(d) + P(true_i))``; NaN at ``d == true_i`` and where both
        probabilities are 0.
    """
    # spec: recurrent.md §3, p_{i,d} = P(d) / (P(d) + P(o))
    p = _as_probabilities(probabilities)
    true = _as_labels(true, "true", p.shape[1])
    _same_length(probabilities=p, true=true)
    p_true = p[np.arange(len(true)), true][:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = p / (p + p_true)
    out[np.arange(len(true)), true] = np.nan
    return out


def dprime_matrix(response_matrix: Any, true: Any, cap: float = DPRIME_CAP) -> np.ndarray:
    """d' per (image, distractor) with false-alarm rates at the object level.

    Parameters
    ----------
    response_matrix : array, shape (image, class)
        ``p[i, d]``: rate (or probability) of choosing distractor ``d`` on image ``i``; NaN at
        the image's own class and where unknown.
    true : array of int, shape (image,)
    cap : float
        d' is clipped to ``[-cap, cap]`` (Brain-Score: 5).

    Returns
    -------
    ndarray, shape (image, class)
        ``d'[i, d] = z(1 - p[i, d]) - z(FA[true_i, d])`` with ``FA[o, d]`` the mean over the
        images ``j`` of object ``d`` of ``p[j, o]``; NaN on the diagonal, where no image of
        ``d`` exists, and where both z-scores are infinite with the same sign.
    """
    # spec: recurrent.md §3 and neural-evaluation.md §10, d' = z(hit) - z(FA), clip +-cap
    rm = np.asarray(response_matrix, dtype=float)
    if rm.ndim != 2:
        raise ValueError(f"response_matrix must have shape (image, class), got {rm.shape}")
    n_classes = rm.shape[1]
    true = _as_labels(true, "true", n_classes)
    _same_length(response_matrix=rm, true=true)
    # object-level false alarms: fa[d, o] = mean over images j of object d of p[j, o]
    fa = np.full((n_classes, n_classes), np.nan)
    for d in range(n_classes):
        rows = rm[true == d]
        if len(rows):
            with np.errstate(invalid="ignore"), _quiet_nanmean():
                fa[d] = np.nanmean(rows, axis=0)
    false_alarms = fa[:, true].T  # [i, d] = fa[d, true_i]
    with np.errstate(invalid="ignore", divide="ignore"):
        dprime = norm.ppf(1.0 - rm) - norm.ppf(false_alarms)
    dprime = np.clip(dprime, -cap, cap)
    dprime[np.arange(len(true)), true] = np.nan
    return dprime


@contextlib.contextmanager
def _quiet_nanmean() -> Iterator[None]:
    """Silence numpy's 'Mean of empty slice' for all-NaN columns (they are NaN on purpose)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


def normalize_i2(dprimes: Any, true: Any) -> np.ndarray:
    """Subtract the mean d' of each (true object, distractor) cell: I2 -> I2n.

    Parameters
    ----------
    dprimes : array, shape (image, class)
    true : array of int, shape (image,)

    Returns
    -------
    ndarray, shape (image, class)
        ``dprimes[i, d] - mean over images j of object true_i of dprimes[j, d]`` (NaN-aware).
    """
    # spec: neural-evaluation.md §10, i2n subtracts the mean d' of each (object, distractor) cell
    d = np.asarray(dprimes, dtype=float)
    if d.ndim != 2:
        raise ValueError(f"dprimes must have shape (image, class), got {d.shape}")
    true = _as_labels(true, "true", d.shape[1])
    _same_length(dprimes=d, true=true)
    out = d.copy()
    for o in np.unique(true):
        rows = true == o
        with _quiet_nanmean():
            out[rows] -= np.nanmean(d[rows], axis=0)
    return out


def i1_from_i2(dprimes: Any) -> np.ndarray:
    """I1 per image: the mean d' over distractors (NaN-aware). Shape (image, class) -> (image,)."""
    # spec: recurrent.md §3, I1_i = mean over distractors
    with _quiet_nanmean():
        return np.nanmean(np.asarray(dprimes, dtype=float), axis=1)


def i2(probabilities: Any, true: Any, cap: float = DPRIME_CAP) -> np.ndarray:
    """I2 of a decoder: d' per (image, distractor), shape (image, class)."""
    return dprime_matrix(target_distractor_probabilities(probabilities, true), true, cap)


def i2n(probabilities: Any, true: Any, cap: float = DPRIME_CAP) -> np.ndarray:
    """I2n of a decoder: I2 minus the mean d' of each (true object, distractor) cell."""
    return normalize_i2(i2(probabilities, true, cap), true)


def i1(probabilities: Any, true: Any, cap: float = DPRIME_CAP) -> np.ndarray:
    """I1 of a decoder: per-image d' averaged over distractors, shape (image,)."""
    return i1_from_i2(i2(probabilities, true, cap))


def i1_from_probabilities(probs: Any, true: Any, cap: float = 5.0) -> np.ndarray:
    """I1 of every image from decoder class probabilities (spec recurrent.md §3).

    For image ``i`` of object ``o`` and each distractor ``d``:
    ``p[i, d] = P_i(d) / (P_i(d) + P_i(o))``;
    ``d'[i, d] = Phi^-1(1 - p[i, d]) - Phi^-1(mean over images j of object d of p[j, o])``
    (hit rate of ``i`` against the false-alarm rate of calling ``d``'s images ``o``),
    clipped to ``[-cap, cap]``; ``I1_i`` = mean of ``d'[i, d]`` over the distractors.

    Parameters
    ----------
    probs : array, shape (image, class)
        Held-out class probabilities (rows need not sum to 1; only ratios matter).
    true : array of int, shape (image,)
        True class index of every image.
    cap : float
        Clip of every d' (5 as in Kar et al. 2019 and Brain-Score).

    Returns
    -------
    ndarray, shape (image,)
        NaN for an image with no defined d' (e.g. a distractor class without images).
    """
    # spec recurrent.md §3: p_{i,d} = P(d)/(P(d)+P(o)); d' = z(1 - p_{i,d}) - z(mean_j∈d p_{j,o});
    # clip to +-cap; I1_i = mean over distractors (dprime_matrix implements the indices)
    return i1(probs, true, cap)


def i1_over_time(probs_t: Any, true: Any, cap: float = 5.0) -> np.ndarray:
    """I1 of every image at every time step.

    Parameters
    ----------
    probs_t : array, shape (time, image, class)
        Class probabilities per step
        (:func:`~brainlike.analysis.ost.decode_probabilities_over_time`).
    true : array of int, shape (image,)
    cap : float

    Returns
    -------
    ndarray, shape (time, image)
    """
    p = np.asarray(probs_t, dtype=float)
    if p.ndim != 3:
        raise ValueError(f"probs_t must have shape (time, image, class), got {p.shape}")
    return np.stack([i1_from_probabilities(p[t], true, cap) for t in range(p.shape[0])])
