"""Choice counts: the class-index conventions, confusion matrices, per-class accuracy, and
shape-versus-texture decisions on cue-conflict images.

Trials are given as per-trial class indices (``true``, ``choice``) or, for cue conflict, as
class indices or names; every function checks its inputs here first (:func:`_as_labels`,
:func:`_same_length`), so the other behaviour modules share one wording of these errors.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "CueConflictFractions",
    "accuracy_per_class",
    "confusion_matrix",
    "shape_texture_fractions",
]


# ---------------------------------------------------------------------------------------------
# Input checks
# ---------------------------------------------------------------------------------------------


def _as_labels(x: Any, name: str, n_classes: int | None = None) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a 1-d array of class indices, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if np.issubdtype(arr.dtype, np.floating) and np.all(arr == np.round(arr)):
            arr = arr.astype(int)
        else:
            raise ValueError(
                f"{name} must hold integer class indices, got dtype {arr.dtype}; map class "
                "names to indices first (e.g. with HumanTrials.class_indices)"
            )
    if n_classes is not None and arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        bad = arr[(arr < 0) | (arr >= n_classes)][0]
        raise ValueError(f"{name} holds class index {bad}, outside 0..{n_classes - 1}")
    return arr.astype(int)


def _same_length(**arrays: np.ndarray) -> None:
    lengths = {name: len(a) for name, a in arrays.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"these arrays must have the same length (one entry per trial): {lengths}")


# ---------------------------------------------------------------------------------------------
# Confusions and accuracy
# ---------------------------------------------------------------------------------------------


def confusion_matrix(true: Any, choice: Any, n_classes: int) -> np.ndarray:
    """Count trials per (true class, chosen class).

    Parameters
    ----------
    true, choice : array of int, shape (trial,)
        True and chosen class index of every trial.
    n_classes : int
        Number of classes.

    Returns
    -------
    ndarray of int, shape (n_classes, n_classes)
        ``C[t, c]`` = number of trials of true class ``t`` answered ``c`` (rows: truth).
    """
    true = _as_labels(true, "true", n_classes)
    choice = _as_labels(choice, "choice", n_classes)
    _same_length(true=true, choice=choice)
    counts = np.zeros((n_classes, n_classes), dtype=int)
    np.add.at(counts, (true, choice), 1)
    return counts


def accuracy_per_class(true: Any, choice: Any, n_classes: int) -> np.ndarray:
    """Fraction of correct trials per true class (NaN for a class with no trials).

    Returns
    -------
    ndarray of float, shape (n_classes,)
    """
    counts = confusion_matrix(true, choice, n_classes)
    totals = counts.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(totals > 0, np.diag(counts) / totals, np.nan)


# ---------------------------------------------------------------------------------------------
# Cue conflict (shape vs texture)
# ---------------------------------------------------------------------------------------------


class CueConflictFractions(NamedTuple):
    """Shape and texture decisions on cue-conflict trials (shape class != texture class)."""

    shape_fraction: float
    texture_fraction: float
    shape_hits: int
    texture_hits: int
    n_conflict_trials: int


def shape_texture_fractions(
    choices: Any, shape_class: Any, texture_class: Any
) -> CueConflictFractions:
    """Fraction of shape decisions among the shape-or-texture decisions on cue-conflict trials.

    Trials whose shape and texture classes agree are ignored; ``shape_fraction = shape hits /
    (shape hits + texture hits)`` (Geirhos et al. 2019), NaN when there is neither.

    Parameters
    ----------
    choices, shape_class, texture_class : array, shape (trial,)
        Chosen, shape and texture class of every trial (ints or class names).

    Returns
    -------
    CueConflictFractions
    """
    # spec: neural-evaluation.md §7, shape-vs-texture cue-conflict fractions
    c, s, t = (np.asarray(x) for x in (choices, shape_class, texture_class))
    if not (c.ndim == s.ndim == t.ndim == 1):
        raise ValueError("choices, shape_class and texture_class must be 1-d (one per trial)")
    _same_length(choices=c, shape_class=s, texture_class=t)
    conflict = s != t
    shape_hits = int(np.sum(conflict & (c == s)))
    texture_hits = int(np.sum(conflict & (c == t)))
    total = shape_hits + texture_hits
    return CueConflictFractions(
        shape_fraction=shape_hits / total if total else math.nan,
        texture_fraction=texture_hits / total if total else math.nan,
        shape_hits=shape_hits,
        texture_hits=texture_hits,
        n_conflict_trials=int(conflict.sum()),
    )
