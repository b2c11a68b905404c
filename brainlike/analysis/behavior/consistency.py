"""Consistency of a model's behaviour with human (or primate) behaviour.

- :func:`i2n_consistency`: Brain-Score's I2n consistency with per-trial human data (Pearson r
  with one random half of the trials, ceiled by the r between the halves).
- :func:`behavioral_consistency`: r of two patterns (I1, I2, ...) corrected by the geometric
  mean of their split-half reliabilities.
- :func:`error_consistency`, :func:`error_consistency_with_humans`: Cohen's kappa between
  error patterns on the same trials (Geirhos et al. 2020).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from os import PathLike
from typing import Any

import numpy as np

from brainlike.analysis.behavior.confusions import _same_length
from brainlike.analysis.behavior.human_trials import (
    HumanTrials,
    _as_trials,
    human_response_matrix,
)
from brainlike.analysis.behavior.i1i2 import _quiet_nanmean, dprime_matrix, normalize_i2
from brainlike.analysis.neural import spearman_brown
from brainlike.analysis.score import Score

__all__ = [
    "behavioral_consistency",
    "error_consistency",
    "error_consistency_with_humans",
    "i2n_consistency",
]


def _pearson(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Pearson r over entries finite in both arrays, and how many entries were used."""
    a, b = np.ravel(a), np.ravel(b)
    keep = np.isfinite(a) & np.isfinite(b)
    n = int(keep.sum())
    if n < 3:
        return math.nan, n
    a, b = a[keep] - a[keep].mean(), b[keep] - b[keep].mean()
    denom = math.sqrt(float(a @ a) * float(b @ b))
    return (float(a @ b) / denom if denom > 0 else math.nan), n


def _image_truth(trials: HumanTrials, images: np.ndarray) -> np.ndarray:
    truth_of = dict(zip(trials.image, trials.class_indices("true_class"), strict=True))
    missing = [str(img) for img in images if img not in truth_of]
    if missing:
        raise ValueError(
            f"{len(missing)} model image(s) have no human trials (e.g. {missing[0]!r}); pass "
            "images= listing only images present in the human data"
        )
    return np.array([truth_of[img] for img in images], dtype=int)


def _human_i2n(trials: HumanTrials, images: np.ndarray, true: np.ndarray) -> np.ndarray:
    return normalize_i2(dprime_matrix(human_response_matrix(trials, images), true), true)


def i2n_consistency(
    model_i2n: Any,
    human_trials: HumanTrials | str | PathLike,
    *,
    images: Sequence[str],
    n_splits: int = 2,
    seed: int = 0,
) -> Score:
    """Brain-Score I2n consistency of a model's I2n pattern with human trials.

    For each split, shuffle all human trials and halve them; the score is the Pearson r between
    the model's I2n and the first half's I2n, the ceiling the r between the two halves' I2n
    (no Spearman-Brown). Both are averaged over splits and ``ceiled = value / sqrt(ceiling)``.

    Parameters
    ----------
    model_i2n : array, shape (image, class)
        The model's I2n (e.g. from :func:`~brainlike.analysis.behavior.i1i2.i2n`), rows in
        ``images`` order, columns in ``human_trials.classes`` order.
    human_trials : HumanTrials or CSV path
    images : sequence of str
        The image name of every row of ``model_i2n``.
    n_splits : int
        Number of random halvings (Brain-Score: 2).
    seed : int
        Seed of the halvings (Brain-Score: 0; the same halves serve score and ceiling).

    Returns
    -------
    Score
        ``value`` mean r, ``error`` s.d. over splits, ``ceiling`` mean half-half r, ``ceiled``
        ``value / sqrt(ceiling)`` (convention ``"brainscore-i2n"``); ``per_split`` the r per
        split, ``provenance`` the per-split ceilings and ceiled values and the entry counts.
    """
    # spec: neural-evaluation.md §10, Behaviour I2n (score, ceiling, ceiled = r / sqrt(ceiling))
    trials = _as_trials(human_trials)
    model = np.asarray(model_i2n, dtype=float)
    images = np.asarray(images, dtype=str)
    if model.shape != (len(images), len(trials.classes)):
        raise ValueError(
            f"model_i2n has shape {model.shape}; expected (image, class) = "
            f"({len(images)}, {len(trials.classes)}) for {len(images)} images and the human "
            f"classes {list(trials.classes)}"
        )
    if n_splits < 1:
        raise ValueError(f"n_splits must be at least 1, got {n_splits}")
    if len(trials) < 4:
        raise ValueError(f"I2n consistency needs at least 4 human trials, got {len(trials)}")
    true = _image_truth(trials, images)
    rng = np.random.RandomState(seed)
    scores, ceilings, n_entries = [], [], []
    for _ in range(n_splits):
        order = rng.permutation(len(trials))
        half = len(order) // 2
        h1 = _human_i2n(trials.subset(order[:half]), images, true)
        h2 = _human_i2n(trials.subset(order[half:]), images, true)
        r, n = _pearson(model, h1)
        scores.append(r)
        n_entries.append(n)
        ceilings.append(_pearson(h1, h2)[0])
    scores_a, ceilings_a = np.array(scores), np.array(ceilings)
    value, ceiling = float(np.mean(scores_a)), float(np.mean(ceilings_a))
    with np.errstate(invalid="ignore", divide="ignore"):
        ceiled = value / math.sqrt(ceiling) if ceiling > 0 else math.nan
        ceiled_per_split = np.where(ceilings_a > 0, scores_a / np.sqrt(ceilings_a), np.nan)
    return Score(
        value=value,
        error=float(np.std(scores_a)) if n_splits > 1 else math.nan,
        ceiling=ceiling,
        ceiled=ceiled,
        convention="brainscore-i2n",
        metric="i2n_consistency",
        per_split=scores_a,
        provenance={
            "error": "s.d. over splits",
            "ceiling_per_split": ceilings_a,
            "ceiled_per_split": ceiled_per_split,
            "n_entries_per_split": n_entries,
            "n_images": len(images),
            "n_classes": len(trials.classes),
            "n_human_trials": len(trials),
        },
        parameters={"n_splits": n_splits, "seed": seed},
    )


def behavioral_consistency(
    model_pattern: Any,
    reference_pattern_halves: tuple[Any, Any],
    model_pattern_halves: tuple[Any, Any] | None = None,
    *,
    spearman_brown_correction: bool = True,
) -> Score:
    """Consistency of two behavioural patterns, noise-corrected by their reliabilities.

    ``r(model, reference) / sqrt(rel_model * rel_reference)`` where the reference pattern is
    the mean of its two halves and each reliability is the (Spearman-Brown corrected)
    correlation between halves; a deterministic model (no halves given) has reliability 1.

    Parameters
    ----------
    model_pattern : array, any shape (e.g. I1 (image,) or I2 (image, class))
    reference_pattern_halves : (array, array)
        The reference (e.g. primate) pattern computed on two disjoint halves of the trials.
    model_pattern_halves : (array, array), optional
        The same for a stochastic model.
    spearman_brown_correction : bool
        Correct the split-half correlations to the full data (SB(r) = 2r / (1 + r)).

    Returns
    -------
    Score
        ``value`` the raw r, ``ceiling`` sqrt(rel_model * rel_reference), ``ceiled`` the
        corrected consistency (convention ``"geometric_mean_reliability"``).
    """
    # spec: neural-evaluation.md §7, correlation / geometric mean of split-half reliabilities
    model = np.asarray(model_pattern, dtype=float)
    if len(reference_pattern_halves) != 2:
        raise ValueError("reference_pattern_halves must be a pair (half 1, half 2)")
    ref1, ref2 = (np.asarray(h, dtype=float) for h in reference_pattern_halves)
    if not (ref1.shape == ref2.shape == model.shape):
        raise ValueError(
            f"patterns differ in shape: model {model.shape}, reference halves {ref1.shape} and "
            f"{ref2.shape}; compute all on the same images and classes"
        )

    def reliability(a: np.ndarray, b: np.ndarray) -> float:
        r = _pearson(a, b)[0]
        return float(spearman_brown(r)) if spearman_brown_correction else r

    rel_ref = reliability(ref1, ref2)
    rel_model = 1.0
    if model_pattern_halves is not None:
        m1, m2 = (np.asarray(h, dtype=float) for h in model_pattern_halves)
        if not (m1.shape == m2.shape == model.shape):
            raise ValueError(
                f"model halves have shapes {m1.shape}, {m2.shape}; expected {model.shape}"
            )
        rel_model = reliability(m1, m2)
    r, n = _pearson(model, (ref1 + ref2) / 2.0)
    product = rel_model * rel_ref
    ceiling = math.sqrt(product) if product > 0 else math.nan
    return Score(
        value=r,
        ceiling=ceiling,
        ceiled=r / ceiling if ceiling > 0 else math.nan,
        convention="geometric_mean_reliability",
        metric="behavioral_consistency",
        provenance={
            "reliability_reference": rel_ref,
            "reliability_model": rel_model,
            "n_entries": n,
        },
        parameters={"spearman_brown_correction": spearman_brown_correction},
    )


# ---------------------------------------------------------------------------------------------
# Error consistency (Geirhos et al. 2020)
# ---------------------------------------------------------------------------------------------


def error_consistency(choices_a: Any, choices_b: Any, true: Any) -> float:
    """Cohen's kappa between two observers' error patterns on the same trials.

    ``c_obs`` = fraction of trials both got right or both got wrong; ``c_exp = p_a p_b +
    (1 - p_a)(1 - p_b)`` from the accuracies; ``kappa = (c_obs - c_exp) / (1 - c_exp)``.

    Parameters
    ----------
    choices_a, choices_b, true : array, shape (trial,)
        Choices of the two observers and the true class (ints or class names).

    Returns
    -------
    float
        kappa in [-1, 1]; NaN when ``c_exp == 1`` (both observers always right, or always
        wrong), where it is undefined.
    """
    # spec: neural-evaluation.md §7, error consistency (Cohen's kappa, Geirhos et al. 2020)
    a, b, t = (np.asarray(x) for x in (choices_a, choices_b, true))
    if not (a.ndim == b.ndim == t.ndim == 1):
        raise ValueError("choices_a, choices_b and true must be 1-d (one entry per trial)")
    _same_length(choices_a=a, choices_b=b, true=t)
    if len(t) == 0:
        raise ValueError("error consistency needs at least one trial")
    correct_a, correct_b = a == t, b == t
    p_a, p_b = correct_a.mean(), correct_b.mean()
    c_obs = float(np.mean(correct_a == correct_b))
    c_exp = float(p_a * p_b + (1 - p_a) * (1 - p_b))
    if c_exp >= 1.0:
        return math.nan
    return (c_obs - c_exp) / (1.0 - c_exp)


def error_consistency_with_humans(
    model_choices: Mapping[str, str], human_csv_or_table: HumanTrials | str | PathLike
) -> Score:
    """Error consistency of a model with every human subject, averaged over subjects.

    For each subject (and each condition, when the table has one) kappa between the model's
    and the subject's choices on the subject's trials; a subject's value is the mean over
    conditions; the score is the mean over subjects. A trial without a subject response
    counts as a subject error.

    Parameters
    ----------
    model_choices : mapping image name -> chosen class name
        The model's answer for every image a subject saw.
    human_csv_or_table : HumanTrials or CSV path

    Returns
    -------
    Score
        ``value`` mean kappa over subjects (NaN-aware), ``error`` s.e.m. over subjects,
        ``raw`` the kappa per subject (order in ``provenance["subjects"]``).
    """
    trials = _as_trials(human_csv_or_table)
    missing = sorted(set(trials.image.tolist()) - set(model_choices))
    if missing:
        raise ValueError(
            f"model_choices has no answer for {len(missing)} image(s) seen by humans "
            f"(e.g. {missing[0]!r}); give the model's choice for every image in the human data"
        )
    unknown = sorted({str(v) for v in model_choices.values()} - set(trials.classes))
    if unknown:
        raise ValueError(
            f"model_choices uses class(es) {unknown} not among the human classes "
            f"{list(trials.classes)}; map the model's labels to the human class names"
        )
    model = np.array([str(model_choices[img]) for img in trials.image])
    subjects = trials.subject if trials.subject is not None else np.full(len(trials), "all")
    conditions = trials.condition if trials.condition is not None else np.full(len(trials), "")
    names = np.unique(subjects)
    per_subject = []
    for s in names:
        kappas = []
        for c in np.unique(conditions[subjects == s]):
            rows = (subjects == s) & (conditions == c)
            kappas.append(
                error_consistency(model[rows], trials.choice[rows], trials.true_class[rows])
            )
        with _quiet_nanmean():
            per_subject.append(float(np.nanmean(kappas)))
    raw = np.array(per_subject)
    finite = raw[np.isfinite(raw)]
    return Score(
        value=float(finite.mean()) if finite.size else math.nan,
        error=float(finite.std(ddof=1) / math.sqrt(finite.size)) if finite.size > 1 else math.nan,
        metric="error_consistency",
        raw=raw,
        provenance={
            "error": "s.e.m. over subjects",
            "subjects": names.tolist(),
            "n_trials": len(trials),
        },
    )
