"""Object solution times (OST): per-step I1 decoding of a model and its OST consistency with IT.

Pure functions of arrays (numpy and scikit-learn, no model imports), following
shared/spec/recurrent.md §3 (Kar et al. 2019; Nayebi et al., thesis ch. 2). The pipeline:

1. :func:`decode_probabilities_over_time`: at every model time step, z-score the units, PCA (up
   to 1000 components, fit on the training images only), a linear SVM on the K-way task;
   held-out class probabilities from repeated stratified K-fold splits, so every image is
   tested once per repeat; averaged over repeats. Shape (time, image, class).
2. :func:`i1_over_time`: the I1 of every image at every step, shape (time, image) (the
   behavioural I1 of :mod:`brainlike.analysis.behavior.i1i2`).
3. :func:`object_solution_times`: an image's OST is the first time its model I1 reaches the
   primate behavioural I1 of that image, linearly interpolated between the bracketing bins.
4. :func:`ost_consistency`: Spearman rho between model OSTs and IT OSTs over the images solved
   by both, with a bootstrap s.e. over images and a permutation p-value.

:func:`ost_score` runs 1-4 and returns a :class:`~brainlike.analysis.score.Score`.

Probabilities from an SVM. An SVM gives margins, not probabilities, and I1 needs
probabilities on an absolute scale (the model's I1 is compared with the primate's value, not
only ranked), so the margins must be calibrated. The default (``classifier="svm"``) is Platt
scaling, the standard recipe for SVM probabilities (Platt 1999; libsvm's ``-b 1``): one-vs-rest
sigmoids fit to cross-validated decision values of the training images
(``CalibratedClassifierCV(LinearSVC, method="sigmoid", cv=3, ensemble=False)``), normalised to
sum to 1. Brain-Score's implementation of this benchmark (``brainscore_vision/metrics/ost``,
``OSTCorrelation``) instead reads probabilities from a softmax linear readout: first a
multinomial ``LogisticRegression(C=1e-3)`` on z-scored features, later a TensorFlow softmax layer
whose weight decay it derives from the SVM constant, ``1 / (C_svc * n_images)``.
``classifier="logistic"`` gives that variant (multinomial logistic regression on the same
features). Kar et al. 2019's own probability recipe could not be checked when this was
written; the default follows the spec's "linear SVM", the alternative the public Brain-Score
code.

Feedforward models have no time axis; :func:`feedforward_time_mapping` spreads their
IT-preferred layers over the 70-260 ms bins ("uniform" or "graded", spec §3). Synthetic data
for tests and demos: :func:`synthetic_ost_reference` (images with known IT I1 curves and OSTs)
and :func:`synthetic_ost_features` (model features whose decodability rises after a
per-image latency).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal, NamedTuple

import numpy as np

from brainlike.analysis.behavior.i1i2 import i1_from_probabilities, i1_over_time
from brainlike.analysis.score import Score

__all__ = [
    "IT_BINS_MS",
    "OSTConsistency",
    "SyntheticOSTReference",
    "TimeMappedFeatures",
    "decode_probabilities_over_time",
    "feedforward_time_mapping",
    "i1_from_probabilities",
    "i1_over_time",
    "object_solution_times",
    "ost_consistency",
    "ost_score",
    "synthetic_ost_features",
    "synthetic_ost_reference",
]

# 10 ms bins [70, 80), ..., [250, 260) ms, named by their start (as Brain-Score's time_bin_start)
IT_BINS_MS = np.arange(70, 260, 10)

Classifier = Literal["svm", "logistic"]


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _as_steps(features: Any, n_images: int | None = None) -> list[np.ndarray]:
    """Per-step feature matrices (image, unit) from a (image, unit, time) array or a collection."""
    if isinstance(features, Mapping):
        steps = list(features.values())
    elif isinstance(features, (list, tuple)):
        steps = list(features)
    else:
        arr = np.asarray(features, dtype=float)
        if arr.ndim != 3:
            raise ValueError(
                "features must have shape (image, unit, time), or be a dict/list of per-step "
                f"arrays of shape (image, ...); got an array of shape {arr.shape}"
            )
        steps = [arr[:, :, t] for t in range(arr.shape[2])]
    if not steps:
        raise ValueError("features hold no time steps")
    out = []
    for t, x in enumerate(steps):
        x = np.asarray(x, dtype=float)
        if x.ndim < 2:
            raise ValueError(
                f"time step {t} has shape {x.shape}; each step needs shape (image, unit, ...)"
            )
        x = x.reshape(x.shape[0], -1)
        if n_images is not None and x.shape[0] != n_images:
            raise ValueError(
                f"time step {t} has {x.shape[0]} images but labels has {n_images}; give one "
                "label per image, in the same order"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(f"time step {t} holds NaN or inf features")
        out.append(x)
    return out


def _as_times(times: Any, n_steps: int) -> np.ndarray:
    t = np.asarray(times, dtype=float)
    if t.shape != (n_steps,):
        raise ValueError(f"times has shape {t.shape}; expected one time per step ({n_steps},)")
    if n_steps > 1 and not np.all(np.diff(t) > 0):
        raise ValueError("times must be strictly increasing (ms, one per time bin)")
    return t


def _one_blas_thread():
    """BLAS limited to one thread during the decoder fits: parallelism comes from running fits
    side by side, and BLAS threads on these small products wait on each other (worse still on
    a machine shared with other processes: 10x slower measured with 2 cores)."""
    from threadpoolctl import threadpool_limits

    return threadpool_limits(limits=1, user_api="blas")


# ---------------------------------------------------------------------------------------------
# Decoding over time
# ---------------------------------------------------------------------------------------------


def _make_classifier(classifier: Classifier, C: float):
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    if classifier == "svm":
        # Primal solver: deterministic (the dual one shuffles with liblinear's global RNG, which
        # parallel threads would share) and efficient here, as PCA leaves at most n_train - 1
        # features.
        svm = LinearSVC(C=C, dual=False, max_iter=10_000)
        return CalibratedClassifierCV(svm, method="sigmoid", cv=3, ensemble=False)
    if classifier == "logistic":
        return LogisticRegression(C=C, max_iter=5_000)
    raise ValueError(f"classifier must be 'svm' or 'logistic', got {classifier!r}")


def _principal_axes(X: np.ndarray, k: int) -> np.ndarray:
    """Orthonormal top-``k`` principal axes of centred rows ``X`` (image, unit), shape (unit, k).

    Eigen-decomposes the smaller of the covariance (unit x unit) and the Gram (image x image)
    matrix, which is much faster than a full SVD when units outnumber images (as usual here).
    Axes with a vanishing variance are dropped. Any orthonormal basis of the subspace gives the
    same L2-regularised linear decoder, so signs and rotations within it do not matter.
    """
    from scipy.linalg import eigh

    n, d = X.shape
    small = X.T @ X if d <= n else X @ X.T
    # all eigenpairs by divide and conquer: faster than a subset when k is near the size
    values, vectors = eigh(small, driver="evd")
    values, vectors = values[::-1][:k], vectors[:, ::-1][:, :k]
    keep = values > 1e-10 * max(float(values[0]), 1e-300)
    values, vectors = values[keep], vectors[:, keep]
    if d <= n:
        return vectors
    return (X.T @ vectors) / np.sqrt(values)


def _fit_predict_proba(
    X_train: np.ndarray,
    y_train: np.ndarray,
    X_test: np.ndarray,
    n_classes: int,
    n_components: int,
    classifier: Classifier,
    C: float,
) -> np.ndarray:
    """Held-out class probabilities of one split at one time step, shape (test_image, class)."""
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(X_train)
    X_train, X_test = scaler.transform(X_train), scaler.transform(X_test)
    if not np.any(np.ptp(X_train, axis=0) > 0):
        # Nothing varies (e.g. a step before the signal reaches the read-out layer): the only
        # honest answer is the training class frequencies, which give I1 = 0.
        prior = np.bincount(y_train, minlength=n_classes) / len(y_train)
        return np.tile(prior, (len(X_test), 1))
    # At most rank = n_train - 1 axes carry variance; keeping all of them is exact for an
    # L2-regularised linear decoder (its weights lie in the span of the training rows), so
    # fewer units than that need no projection.
    k = min(n_components, X_train.shape[0] - 1, X_train.shape[1])
    if k < X_train.shape[1]:
        # spec recurrent.md §3: PCA (up to 1000 components), fit on the training images only
        axes = _principal_axes(X_train, k)
        X_train, X_test = X_train @ axes, X_test @ axes
    # One global scale (rows of unit mean squared norm): C then means the same for any number of
    # units, and the geometry (relative variance of components) is kept, unlike whitening.
    scale = math.sqrt(float(np.mean(np.sum(X_train**2, axis=1))))
    X_train, X_test = X_train / scale, X_test / scale
    model = _make_classifier(classifier, C).fit(X_train, y_train)
    out = np.zeros((len(X_test), n_classes))
    out[:, model.classes_] = model.predict_proba(X_test)
    return out


def decode_probabilities_over_time(
    features: Any,
    labels: Any,
    *,
    n_components: int = 1000,
    n_splits: int = 10,
    n_repeats: int = 1,
    classifier: Classifier = "svm",
    C: float = 1.0,
    seed: int = 0,
    n_jobs: int | None = -1,
) -> np.ndarray:
    """Held-out K-way class probabilities of every image at every model time step.

    Per step (spec recurrent.md §3): z-score every unit with the training images' mean and s.d.;
    project onto the top ``min(n_components, n_train - 1)`` principal axes of the training
    images (exact PCA by eigen-decomposition; skipped when there are no more units than that,
    as keeping every axis changes nothing for an L2-regularised linear decoder); scale all rows
    by one number so training rows have unit mean squared norm; fit the decoder on the training
    images; predict the test images. Splits
    are ``RepeatedStratifiedKFold(n_splits, n_repeats, random_state=seed)``, the same at every
    step, so each image is tested exactly once per repeat; the returned probabilities are the
    mean over repeats. A step whose training features do not vary at all predicts the training
    class frequencies.

    Parameters
    ----------
    features : array (image, unit, time), or a dict / list of per-step arrays (image, ...)
        Model activations per time step; a dict is read in its insertion order, and per-step
        arrays may differ in width (flattened beyond the image axis).
    labels : array, shape (image,)
        Object label of every image (ints or strings); probability columns follow
        ``np.unique(labels)``.
    n_components : int
        Most PCA components kept (spec: 1000).
    n_splits, n_repeats : int
        Stratified folds (every class needs at least ``n_splits`` images) and how many times the
        fold assignment is redrawn.
    classifier : {"svm", "logistic"}
        ``"svm"``: L2-regularised squared-hinge linear SVM (liblinear, one-vs-rest) with Platt
        probabilities from 3-fold cross-validated decision values of the training images
        (needs 3 training images per class). ``"logistic"``: multinomial logistic regression
        (Brain-Score's OST decoder). See the module docstring for the sources.
    C : float
        Inverse regularisation strength, on rows of unit mean squared norm (C = 1 here is about
        Brain-Score's C = 1e-3 on 1000 z-scored features).
    seed : int
        Seeds the splits (nothing else is random).
    n_jobs : int or None
        Threads for the (step, split) fits (joblib convention: -1 = all cores); BLAS runs
        single-threaded meanwhile. Results do not depend on it. Cost at the scale of Kar et al.
        (1320 images, 10 classes, 2048 units, 10 folds): about 5 s per fold and step for "svm"
        and 1 s for "logistic" on one core.

    Returns
    -------
    ndarray, shape (time, image, class)
        Rows sum to 1.
    """
    from joblib import Parallel, delayed, effective_n_jobs
    from sklearn.model_selection import RepeatedStratifiedKFold

    y = np.asarray(labels)
    if y.ndim != 1:
        raise ValueError(f"labels must be 1-d (one per image), got shape {y.shape}")
    steps = _as_steps(features, len(y))
    classes, y_idx = np.unique(y, return_inverse=True)
    n_classes = len(classes)
    if n_classes < 2:
        raise ValueError("labels hold a single class; the K-way decoder needs at least 2")
    if n_splits < 2 or n_repeats < 1:
        raise ValueError(f"need n_splits >= 2 and n_repeats >= 1, got {n_splits}, {n_repeats}")
    counts = np.bincount(y_idx)
    fewest = int(counts.min())
    rarest = classes[int(counts.argmin())]
    if fewest < n_splits:
        raise ValueError(
            f"class {rarest!r} has {fewest} image(s); stratified {n_splits}-fold splits need at "
            f"least {n_splits} per class (lower n_splits or add images)"
        )
    if classifier == "svm" and fewest - math.ceil(fewest / n_splits) < 3:
        raise ValueError(
            f"class {rarest!r} has {fewest} image(s), leaving fewer than 3 in a training fold; "
            "the SVM's Platt calibration needs 3 (add images, raise n_splits, or use "
            "classifier='logistic')"
        )
    _make_classifier(classifier, C)  # fail early on a bad name
    if n_components < 1:
        raise ValueError(f"n_components must be >= 1, got {n_components}")

    cv = RepeatedStratifiedKFold(n_splits=n_splits, n_repeats=n_repeats, random_state=seed)
    splits = list(cv.split(np.zeros(len(y)), y_idx))
    tasks = [(t, train, test) for t in range(len(steps)) for train, test in splits]
    workers = max(1, min(effective_n_jobs(n_jobs), len(tasks)))
    with _one_blas_thread():
        results = Parallel(n_jobs=workers, prefer="threads")(
            delayed(_fit_predict_proba)(
                steps[t][train],
                y_idx[train],
                steps[t][test],
                n_classes,
                n_components,
                classifier,
                C,
            )
            for t, train, test in tasks
        )
    probs = np.zeros((len(steps), len(y), n_classes))
    for (t, _, test), p in zip(tasks, results, strict=True):
        probs[t, test] += p
    return probs / n_repeats


# ---------------------------------------------------------------------------------------------
# Object solution times
# ---------------------------------------------------------------------------------------------


def object_solution_times(model_i1: Any, reference_i1: Any, times: Any) -> np.ndarray:
    """Per-image OST: the first time the model's I1 reaches the reference (primate) I1.

    With ``t`` the first bin where ``model_i1[t, i] >= reference_i1[i]``, the OST is linearly
    interpolated between bins ``t - 1`` and ``t`` (spec recurrent.md §3):
    ``times[t-1] + (ref - I1[t-1]) / (I1[t] - I1[t-1]) * (times[t] - times[t-1])``; ``times[0]``
    when already solved at the first bin, ``times[t]`` when ``I1[t-1]`` is NaN, and NaN when
    never solved (or the reference is NaN). Unlike Brain-Score (which interpolates from the
    highest sub-threshold bin seen so far), the bracketing bins are always adjacent.

    Parameters
    ----------
    model_i1 : array, shape (time, image)
        Model I1 per time bin (NaN counts as not solved).
    reference_i1 : array, shape (image,)
        Behavioural I1 of every image (the threshold).
    times : array, shape (time,)
        Time of every bin (ms), strictly increasing.

    Returns
    -------
    ndarray, shape (image,)
        OST in the units of ``times``.
    """
    m = np.asarray(model_i1, dtype=float)
    if m.ndim != 2:
        raise ValueError(f"model_i1 must have shape (time, image), got {m.shape}")
    ref = np.asarray(reference_i1, dtype=float)
    if ref.shape != (m.shape[1],):
        raise ValueError(
            f"reference_i1 has shape {ref.shape}; expected one value per image ({m.shape[1]},)"
        )
    t = _as_times(times, m.shape[0])
    with np.errstate(invalid="ignore"):
        reached = m >= ref[None, :]  # NaN on either side compares False
    solved = reached.any(axis=0)
    first = reached.argmax(axis=0)
    ost = np.full(m.shape[1], np.nan)
    at_start = solved & (first == 0)
    ost[at_start] = t[0]
    idx = np.flatnonzero(solved & (first > 0))
    hit = first[idx]
    before, after = m[hit - 1, idx], m[hit, idx]
    # spec recurrent.md §3: linear interpolation between the two 10 ms bins around the crossing
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = (ref[idx] - before) / (after - before)
    interpolated = t[hit - 1] + frac * (t[hit] - t[hit - 1])
    ost[idx] = np.where(np.isnan(before), t[hit], interpolated)
    return ost


class OSTConsistency(NamedTuple):
    """Spearman rho of model and reference OSTs over the images both solve."""

    rho: float
    error: float  # bootstrap s.e. over images (s.d. of rho over resamples, ddof=1)
    p_value: float  # two-sided permutation p-value, (1 + #|rho_perm| >= |rho|) / (1 + n)
    n_images: int  # images solved by both (finite OST in both)
    n_model_solved: int
    n_reference_solved: int
    n_bootstrap: int
    n_permutations: int


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(axis=-1, keepdims=True)
    b = b - b.mean(axis=-1, keepdims=True)
    denom = np.sqrt(np.sum(a * a, axis=-1) * np.sum(b * b, axis=-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(denom > 0, np.sum(a * b, axis=-1) / denom, np.nan)


def ost_consistency(
    model_ost: Any,
    reference_ost: Any,
    *,
    n_bootstrap: int = 1000,
    n_permutations: int = 1000,
    seed: int = 0,
) -> OSTConsistency:
    """Spearman correlation of model and IT OSTs over the images solved by both.

    Spearman rho is Pearson r of mid-ranks (ties averaged). The error is the s.d. of rho over
    bootstrap resamples of the solved-by-both images (re-ranked each time); the p-value comes
    from permuting the model's OSTs over those images (two-sided).

    Parameters
    ----------
    model_ost, reference_ost : array, shape (image,)
        OSTs; NaN marks an image that was never solved.
    n_bootstrap, n_permutations : int
        Resamples for the s.e. and the p-value (0 skips either; its field is then NaN).
    seed : int

    Returns
    -------
    OSTConsistency
        ``rho`` is NaN when fewer than 3 images are solved by both or either side is constant.
    """
    from scipy.stats import rankdata

    a = np.asarray(model_ost, dtype=float)
    b = np.asarray(reference_ost, dtype=float)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(
            f"model_ost and reference_ost must be 1-d with one OST per image; got shapes "
            f"{a.shape} and {b.shape}"
        )
    both = np.isfinite(a) & np.isfinite(b)
    n = int(both.sum())
    counts = dict(
        n_images=n,
        n_model_solved=int(np.isfinite(a).sum()),
        n_reference_solved=int(np.isfinite(b).sum()),
        n_bootstrap=n_bootstrap,
        n_permutations=n_permutations,
    )
    if n < 3:
        return OSTConsistency(rho=math.nan, error=math.nan, p_value=math.nan, **counts)
    # spec recurrent.md §3: Spearman correlation over images solved by both
    ra, rb = rankdata(a[both]), rankdata(b[both])
    rho = float(_rowwise_pearson(ra, rb))
    boot_rng, perm_rng = (np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(2))
    error = math.nan
    if n_bootstrap > 1:
        pick = boot_rng.integers(0, n, size=(n_bootstrap, n))
        boot = _rowwise_pearson(rankdata(a[both][pick], axis=1), rankdata(b[both][pick], axis=1))
        if np.isfinite(boot).sum() > 1:
            error = float(np.nanstd(boot, ddof=1))
    p_value = math.nan
    if n_permutations > 0 and math.isfinite(rho):
        perms = np.argsort(perm_rng.random((n_permutations, n)), axis=1)
        null = _rowwise_pearson(ra[perms], np.broadcast_to(rb, (n_permutations, n)))
        exceed = int(np.sum(np.abs(null) >= abs(rho) - 1e-12))
        p_value = (1 + exceed) / (1 + n_permutations)
    return OSTConsistency(rho=rho, error=error, p_value=p_value, **counts)


def ost_score(
    features_over_time: Any,
    labels: Any,
    reference_i1: Any,
    reference_ost: Any,
    times: Any,
    *,
    n_components: int = 1000,
    n_splits: int = 10,
    n_repeats: int = 1,
    classifier: Classifier = "svm",
    C: float = 1.0,
    n_bootstrap: int = 1000,
    n_permutations: int = 1000,
    seed: int = 0,
    n_jobs: int | None = -1,
) -> Score:
    """OST consistency of a model with IT, end to end (decode, I1, OST, Spearman).

    Parameters
    ----------
    features_over_time : array (image, unit, time), or dict / list of per-step arrays
        Model features per time bin (a recurrent model's steps, or
        :func:`feedforward_time_mapping` for a feedforward one).
    labels : array, shape (image,)
        Object label of every image.
    reference_i1 : array, shape (image,)
        Primate behavioural I1 per image (the threshold).
    reference_ost : array, shape (image,)
        IT OST per image (NaN where IT never solved it).
    times : array, shape (time,)
        Time of every model step (ms), e.g. :data:`IT_BINS_MS`.
    n_components, n_splits, n_repeats, classifier, C, seed, n_jobs
        As in :func:`decode_probabilities_over_time`.
    n_bootstrap, n_permutations
        As in :func:`ost_consistency`.

    Returns
    -------
    Score
        ``value`` Spearman rho over images solved by both, ``error`` its bootstrap s.e.,
        ``raw`` the model OST of every image (NaN = never solved); the p-value, counts and
        solved fractions are in ``provenance``.
    """
    y = np.asarray(labels)
    steps = _as_steps(features_over_time, len(y))
    t = _as_times(times, len(steps))
    ref_i1 = np.asarray(reference_i1, dtype=float)
    ref_ost = np.asarray(reference_ost, dtype=float)
    if ref_i1.shape != y.shape or ref_ost.shape != y.shape:
        raise ValueError(
            f"reference_i1 {ref_i1.shape} and reference_ost {ref_ost.shape} need one value per "
            f"image ({len(y)},)"
        )
    probs = decode_probabilities_over_time(
        steps,
        y,
        n_components=n_components,
        n_splits=n_splits,
        n_repeats=n_repeats,
        classifier=classifier,
        C=C,
        seed=seed,
        n_jobs=n_jobs,
    )
    true = np.unique(y, return_inverse=True)[1]
    model_i1 = i1_over_time(probs, true)
    model_ost = object_solution_times(model_i1, ref_i1, t)
    c = ost_consistency(
        model_ost, ref_ost, n_bootstrap=n_bootstrap, n_permutations=n_permutations, seed=seed
    )
    return Score(
        value=c.rho,
        error=c.error,
        metric="ost_consistency",
        raw=model_ost,
        provenance={
            "error": "bootstrap s.e. over the images solved by both (s.d. of rho, ddof=1)",
            "p_value": c.p_value,
            "p_value_method": "two-sided permutation of model OSTs",
            "n_images": len(y),
            "n_solved_by_both": c.n_images,
            "fraction_solved_model": c.n_model_solved / len(y),
            "fraction_solved_reference": c.n_reference_solved / len(y),
            "n_time_bins": len(t),
            "times_ms": t,
            "n_classes": int(probs.shape[2]),
            "mean_accuracy_per_step": np.mean(probs.argmax(axis=2) == true[None], axis=1),
        },
        parameters={
            "n_components": n_components,
            "n_splits": n_splits,
            "n_repeats": n_repeats,
            "classifier": classifier,
            "C": C,
            "n_bootstrap": n_bootstrap,
            "n_permutations": n_permutations,
            "seed": seed,
        },
    )


# ---------------------------------------------------------------------------------------------
# Feedforward models: layers -> time bins
# ---------------------------------------------------------------------------------------------


class TimeMappedFeatures(NamedTuple):
    """Features of a feedforward model laid out over time bins."""

    features: np.ndarray  # (image, unit, time)
    times: np.ndarray  # (time,) bin start, ms
    composition: np.ndarray  # (time, layer): units drawn from each layer at each bin
    layers: tuple[str, ...]


def feedforward_time_mapping(
    layer_features: Mapping[str, Any] | Sequence[Any],
    mapping: Literal["uniform", "graded"] = "uniform",
    *,
    n_units: int | None = None,
    bins: Any = IT_BINS_MS,
    seed: int = 0,
) -> TimeMappedFeatures:
    """Spread the IT-preferred layers of a feedforward model over time bins (spec recurrent.md §3).

    Every layer's units (flattened beyond the image axis) are put in one seeded random order
    (``np.random.default_rng(seed)``, one permutation per layer in the given order); a bin that
    takes ``m`` units of a layer takes the first ``m`` of that order, so neighbouring bins share
    units. ``n_units`` (default: the narrowest layer's width) units make up every bin.

    - ``"uniform"``: one bin per layer, ``T = L``: layer ``l`` (in the given order, shallow to
      deep) sits at bin ``round(l * (len(bins) - 1) / (L - 1))`` of ``bins``, so the layers are
      spread evenly from the first bin (70 ms) to the last (250 ms); a single layer sits at the
      first bin. Needs ``L <= len(bins)``.
    - ``"graded"``: every bin, ``T = len(bins)``: bin ``b`` sits at layer position
      ``x = b * (L - 1) / (T - 1)``; with ``l = floor(x)`` and ``f = x - l`` it holds
      ``round(f * n_units)`` units of layer ``l + 1`` and the rest from layer ``l``, so the
      population passes gradually from the first layer to the last and there are as many
      (mixed) layers as bins.

    Parameters
    ----------
    layer_features : dict name -> array (image, ...), or a list of arrays
        The IT-preferred layers, shallow to deep (a dict in insertion order).
    mapping : {"uniform", "graded"}
    n_units : int, optional
        Units per bin; at most the narrowest layer's width.
    bins : array, shape (n_bins,)
        Available time bins (ms), default :data:`IT_BINS_MS` (70, 80, ..., 250).
    seed : int

    Returns
    -------
    TimeMappedFeatures
        ``features`` (image, n_units, T), ``times`` (T,), ``composition`` (T, L) unit counts,
        ``layers`` the layer names.
    """
    if isinstance(layer_features, Mapping):
        names = tuple(str(k) for k in layer_features)
        arrays = list(layer_features.values())
    else:
        arrays = list(layer_features)
        names = tuple(f"layer{i}" for i in range(len(arrays)))
    if not arrays:
        raise ValueError("layer_features holds no layers")
    layers = [np.asarray(a, dtype=float).reshape(len(a), -1) for a in arrays]
    n_images = {x.shape[0] for x in layers}
    if len(n_images) > 1:
        raise ValueError(
            f"layers differ in their number of images: {[x.shape[0] for x in layers]}; record "
            "every layer on the same images"
        )
    grid = _as_times(bins, len(np.asarray(bins)))
    widths = [x.shape[1] for x in layers]
    n_layers = len(layers)
    narrowest = min(widths)
    m = narrowest if n_units is None else int(n_units)
    if not 1 <= m <= narrowest:
        raise ValueError(
            f"n_units={m} but the narrowest layer ({names[int(np.argmin(widths))]!r}) has "
            f"{narrowest} units; ask for 1..{narrowest}"
        )
    rng = np.random.default_rng(seed)
    orders = [rng.permutation(w) for w in widths]

    if mapping == "uniform":
        if n_layers > len(grid):
            raise ValueError(
                f"{n_layers} layers but only {len(grid)} bins; 'uniform' puts one layer per bin "
                "(use mapping='graded' or fewer layers)"
            )
        # spec recurrent.md §3 "uniform": each IT-preferred layer -> one 10 ms bin in 70-260 ms
        if n_layers == 1:
            where = np.array([0])
        else:
            where = np.round(np.arange(n_layers) * (len(grid) - 1) / (n_layers - 1)).astype(int)
        composition = np.eye(n_layers, dtype=int) * m
        times = grid[where]
    elif mapping == "graded":
        # spec recurrent.md §3 "graded": sample units across layers so layers match the bins
        n_bins = len(grid)
        x = np.arange(n_bins) * (n_layers - 1) / max(n_bins - 1, 1)
        low = np.minimum(np.floor(x).astype(int), n_layers - 1)
        high_count = np.round((x - low) * m).astype(int)
        composition = np.zeros((n_bins, n_layers), dtype=int)
        composition[np.arange(n_bins), low] = m - high_count
        upper = high_count > 0
        composition[np.flatnonzero(upper), low[upper] + 1] += high_count[upper]
        times = grid
    else:
        raise ValueError(f"mapping must be 'uniform' or 'graded', got {mapping!r}")

    out = np.empty((layers[0].shape[0], m, len(times)))
    for b, counts in enumerate(composition):
        parts = [layers[j][:, orders[j][:c]] for j, c in enumerate(counts) if c > 0]
        out[:, :, b] = np.concatenate(parts, axis=1)
    return TimeMappedFeatures(features=out, times=times, composition=composition, layers=names)


# ---------------------------------------------------------------------------------------------
# Synthetic data (tests and demos)
# ---------------------------------------------------------------------------------------------


class SyntheticOSTReference(NamedTuple):
    """Simulated primate data for OST: labels, behavioural I1, IT I1 curves and IT OSTs."""

    labels: np.ndarray  # (image,) class index
    times: np.ndarray  # (time,) ms
    reference_i1: np.ndarray  # (image,) behavioural I1 (the OST threshold)
    it_i1: np.ndarray  # (time, image) IT I1 curves
    reference_ost: np.ndarray  # (image,) IT OST, NaN for images IT never solves
    latency: np.ndarray  # (image,) ms, when IT evidence starts to accumulate


def synthetic_ost_reference(
    n_images: int = 200,
    n_classes: int = 4,
    times: Any = IT_BINS_MS,
    seed: int = 0,
    *,
    latency_range: tuple[float, float] = (80.0, 200.0),
    time_constant: float = 15.0,
    fraction_unsolved: float = 0.1,
) -> SyntheticOSTReference:
    """Images with known behavioural I1, IT I1 curves and IT OSTs (evidence accumulation).

    Image ``i`` (class ``i % n_classes``) has a behavioural I1 ``b_i ~ U(1, 3)`` and a latency
    ``tau_i ~ U(latency_range)``. Its IT I1 accumulates to an asymptote ``A_i``:
    ``I1_i(t) = A_i (1 - exp(-(t - tau_i) / time_constant))`` for ``t > tau_i``, else 0, with
    ``A_i = 1.5 b_i`` (crossing ``b_i`` at ``tau_i + time_constant * ln 3``), except for a
    ``fraction_unsolved`` of the images where ``A_i = 0.8 b_i`` (never solved). The IT OST is
    :func:`object_solution_times` of these curves on ``times``, as for real data.

    Returns
    -------
    SyntheticOSTReference
    """
    if n_classes < 2 or n_images < n_classes:
        raise ValueError(
            f"need n_classes >= 2 and n_images >= n_classes, got {n_images}, {n_classes}"
        )
    t = np.asarray(times, dtype=float)
    rng = np.random.default_rng(seed)
    labels = np.arange(n_images) % n_classes
    reference_i1 = rng.uniform(1.0, 3.0, n_images)
    latency = rng.uniform(*latency_range, n_images)
    asymptote = 1.5 * reference_i1
    unsolved = rng.permutation(n_images)[: int(round(fraction_unsolved * n_images))]
    asymptote[unsolved] = 0.8 * reference_i1[unsolved]
    elapsed = np.clip(t[:, None] - latency[None, :], 0.0, None)
    it_i1 = asymptote[None, :] * (1.0 - np.exp(-elapsed / time_constant))
    reference_ost = object_solution_times(it_i1, reference_i1, t)
    return SyntheticOSTReference(labels, t, reference_i1, it_i1, reference_ost, latency)


def synthetic_ost_features(
    labels: Any,
    latency: Any,
    times: Any = IT_BINS_MS,
    *,
    n_units: int = 64,
    signal: float = 4.0,
    rise_ms: float = 10.0,
    noise: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Model features whose class information rises after a per-image latency.

    ``x_i(t) = g_i(t) mu_{y_i} + eta_i + 0.1 noise eps_i(t)`` with class prototypes
    ``mu_k ~ N(0, I)``, a per-image frozen noise ``eta_i ~ N(0, noise^2 I)``, fresh noise
    ``eps_i(t) ~ N(0, I)`` and gain ``g_i(t) = signal * sigmoid((t - latency_i) / rise_ms)``, so
    image ``i`` becomes decodable around ``latency_i``: give it the reference latencies for a
    model whose OSTs follow IT, or shuffled ones for a model that does not.

    Parameters
    ----------
    labels : array of int, shape (image,)
    latency : array, shape (image,), ms
    times : array, shape (time,), ms
    n_units, signal, rise_ms, noise, seed

    Returns
    -------
    ndarray, shape (image, n_units, time)
    """
    y = np.unique(np.asarray(labels), return_inverse=True)[1]
    lat = np.asarray(latency, dtype=float)
    if lat.shape != y.shape:
        raise ValueError(f"latency has shape {lat.shape}; expected one per image {y.shape}")
    t = np.asarray(times, dtype=float)
    rng = np.random.default_rng(seed)
    prototypes = rng.standard_normal((int(y.max()) + 1, n_units))
    frozen = noise * rng.standard_normal((len(y), n_units))
    fresh = 0.1 * noise * rng.standard_normal((len(y), n_units, len(t)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # exp overflow far before latency -> 0
        gain = signal / (1.0 + np.exp(-(t[None, :] - lat[:, None]) / rise_ms))
    return gain[:, None, :] * prototypes[y][:, :, None] + frozen[:, :, None] + fresh
