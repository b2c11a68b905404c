"""Comparing models with behaviour: confusions, I1/I2(n), error consistency, cue conflict.

Pure numpy functions (plus scikit-learn for the I2n decoder), no model imports, following
shared/spec/neural-evaluation.md §7 and §10 and shared/spec/recurrent.md §3. Conventions:

- Classes are named by strings; every class-indexed axis follows ``classes`` (a tuple).
- ``true`` / ``choice``: per-image or per-trial class indices (ints) unless said otherwise.
- ``probabilities``: decoder class probabilities, shape (image, class).
- Response matrices and d' patterns: shape (image, distractor class); the entry of an image's
  own class is NaN.
- Human decisions come as a :class:`HumanTrials` table (one row per trial: image, choice,
  true_class, optionally subject, condition, distractor, shape_class, texture_class), read
  from one or several CSV files by :func:`read_human_trials` (the column names of published
  per-trial files such as Geirhos et al.'s ``subj, imagename, category, object_response`` are
  accepted). A trial without a response has choice :data:`NO_RESPONSE` (``""``).

The Brain-Score I2n recipe (Rajalingham et al. 2018 as implemented by Brain-Score):

1. :func:`logistic_choice_probabilities`: logistic regression (C = 1e-3) on standardised
   features, fit on separate fitting images.
2. :func:`target_distractor_probabilities`: p[i, d] = P(d) / (P(d) + P(true_i)).
3. :func:`dprime_matrix`: d'[i, d] = z(1 - p[i, d]) - z(mean over images j of object d of
   p[j, true_i]), clipped to +-5 (false alarms at the object level).
4. :func:`normalize_i2`: subtract the mean d' of each (true object, distractor) cell -> I2n.
5. :func:`i2n_consistency`: Pearson r with one random half of the human trials; ceiling = r
   between the two halves (no Spearman-Brown); ceiled = r / sqrt(ceiling); 2 splits.
"""

from __future__ import annotations

import contextlib
import csv
import glob
import math
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from scipy.stats import norm

from brainlike.analysis.neural import spearman_brown
from brainlike.analysis.score import Score

__all__ = [
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "NO_RESPONSE",
    "COLUMN_ALIASES",
    "CueConflictFractions",
    "HumanAccuracy",
    "HumanTrials",
    "accuracy_per_class",
    "behavioral_consistency",
    "confusion_matrix",
    "dprime_matrix",
    "error_consistency",
    "error_consistency_with_humans",
    "human_accuracy",
    "human_response_matrix",
    "i1",
    "i1_from_i2",
    "i2",
    "i2n",
    "i2n_consistency",
    "logistic_choice_probabilities",
    "normalize_i2",
    "read_human_trials",
    "shape_texture_fractions",
    "synthetic_human_trials",
    "target_distractor_probabilities",
]

REQUIRED_COLUMNS = ("image", "choice", "true_class")
OPTIONAL_COLUMNS = ("subject", "condition", "distractor", "shape_class", "texture_class")
_CLASS_COLUMNS = ("choice", "true_class", "distractor", "shape_class", "texture_class")
# Column names of published per-trial files, mapped to ours (model-vs-human raw data, Geirhos
# et al.: subj, Session, trial, rt, object_response, category, condition, imagename). Our own
# names win when a file has both.
COLUMN_ALIASES = {
    "subj": "subject",
    "imagename": "image",
    "category": "true_class",
    "object_response": "choice",
}
# The choice of a trial on which the subject gave no response; the reader maps these cell
# values (any case) to it unless they are class names.
NO_RESPONSE = ""
_NO_RESPONSE_VALUES = ("", "na", "nan")

DPRIME_CAP = 5.0
I2N_CLASSIFIER_C = 1e-3


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


def _as_probabilities(probabilities: Any) -> np.ndarray:
    p = np.asarray(probabilities, dtype=float)
    if p.ndim != 2:
        raise ValueError(f"probabilities must have shape (image, class), got shape {p.shape}")
    if np.any(p < 0) or not np.all(np.isfinite(p)):
        raise ValueError("probabilities must be finite and non-negative (decoder outputs)")
    return p


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


# ---------------------------------------------------------------------------------------------
# Human trials
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HumanTrials:
    """Per-trial human decisions (one row per trial), with class names.

    Attributes
    ----------
    image, choice, true_class : ndarray of str, shape (trial,)
        ``choice`` is :data:`NO_RESPONSE` (``""``) on trials without a response.
    classes : tuple of str
        Every class name that may appear; class-indexed axes follow this order.
    subject, condition, distractor, shape_class, texture_class : ndarray of str or None
        Optional columns. ``distractor`` marks two-alternative trials (the other option shown).
    """

    image: np.ndarray
    choice: np.ndarray
    true_class: np.ndarray
    classes: tuple[str, ...]
    subject: np.ndarray | None = None
    condition: np.ndarray | None = None
    distractor: np.ndarray | None = None
    shape_class: np.ndarray | None = None
    texture_class: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.image)

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns present, in CSV order."""
        return REQUIRED_COLUMNS + tuple(c for c in OPTIONAL_COLUMNS if getattr(self, c) is not None)

    @property
    def responded(self) -> np.ndarray:
        """True for trials with a response, shape (trial,)."""
        return self.choice != NO_RESPONSE

    def class_indices(self, column: str = "choice") -> np.ndarray:
        """A class column as indices into :attr:`classes`, shape (trial,)."""
        values = getattr(self, column)
        if column == "choice" and not self.responded.all():
            k = int(np.flatnonzero(~self.responded)[0])
            raise ValueError(
                f"trial {k} has no response, which has no class index; keep the answered "
                "trials first with trials.subset(trials.responded)"
            )
        lookup = {c: k for k, c in enumerate(self.classes)}
        return np.array([lookup[v] for v in values], dtype=int)

    def subset(self, rows: Any) -> HumanTrials:
        """The trials selected by a boolean mask or index array (same classes)."""
        changes = {c: getattr(self, c)[rows] for c in self.columns if getattr(self, c) is not None}
        return replace(self, **changes)

    def images(self) -> tuple[np.ndarray, np.ndarray]:
        """Distinct images (sorted) and the class index of each, shapes (image,), (image,)."""
        names, first = np.unique(self.image, return_index=True)
        lookup = {c: k for k, c in enumerate(self.classes)}
        return names, np.array([lookup[v] for v in self.true_class[first]], dtype=int)

    def to_csv(self, path: str | PathLike) -> Path:
        """Write the trials as CSV (header + one row per trial) and return the path."""
        path = Path(path)
        cols = self.columns
        with path.open("w", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(cols)
            writer.writerows(zip(*(getattr(self, c) for c in cols), strict=True))
        return path


def _validate_trials(trials: HumanTrials, where: str) -> HumanTrials:
    known = set(trials.classes)
    for column in _CLASS_COLUMNS:
        values = getattr(trials, column)
        if values is None:
            continue
        allowed = known | {NO_RESPONSE} if column == "choice" else known
        unknown = sorted(set(values.tolist()) - allowed)
        if unknown:
            row = int(np.flatnonzero(values == unknown[0])[0])
            raise ValueError(
                f"{where}: unknown class {unknown[0]!r} in column '{column}' (trial {row}); "
                f"known classes are {list(trials.classes)}; pass classes=[...] listing every "
                "class that may appear"
            )
    truth_of: dict[str, str] = {}
    for k, (img, t) in enumerate(
        zip(trials.image.tolist(), trials.true_class.tolist(), strict=True)
    ):
        if truth_of.setdefault(img, t) != t:
            raise ValueError(
                f"{where}: image {img!r} has true class {truth_of[img]!r} and {t!r} (trial {k}); "
                "each image must have one true class"
            )
    if trials.distractor is not None:
        bad = (
            (trials.choice != trials.true_class)
            & (trials.choice != trials.distractor)
            & trials.responded
        )
        if bad.any():
            k = int(np.flatnonzero(bad)[0])
            raise ValueError(
                f"{where}: trial {k} chose {str(trials.choice[k])!r} but offered "
                f"{str(trials.true_class[k])!r} vs {str(trials.distractor[k])!r}; on two-alternative "
                "trials the choice must be the true class or the distractor"
            )
        same = trials.distractor == trials.true_class
        if same.any():
            k = int(np.flatnonzero(same)[0])
            raise ValueError(
                f"{where}: trial {k} has distractor == true class ({str(trials.distractor[k])!r}); "
                "the distractor must be another class"
            )
    return trials


def _human_csv_paths(paths: str | PathLike | Sequence[str | PathLike]) -> list[Path]:
    """The CSV files named by a file, a folder (its ``*.csv``), a glob pattern or a list."""
    items = [paths] if isinstance(paths, (str, PathLike)) else list(paths)
    if not items:
        raise ValueError("no human-trials CSV given; pass a file, a folder, a glob or a list")
    found: list[Path] = []
    for item in items:
        path = Path(item).expanduser()
        if path.is_dir():
            matches = sorted(path.glob("*.csv"))
            if not matches:
                raise FileNotFoundError(f"the folder {path} holds no .csv files")
        elif path.is_file():
            matches = [path]
        elif glob.has_magic(str(path)):
            matches = sorted(Path(m) for m in glob.glob(str(path)) if Path(m).is_file())
            if not matches:
                raise FileNotFoundError(f"no file matches the pattern {str(path)!r}")
        else:
            raise FileNotFoundError(f"no human-trials CSV at {path}")
        found += [m for m in matches if m not in found]
    return found


def _read_one_human_csv(path: Path) -> dict[str, list[str]]:
    """One CSV's columns under our names (aliases mapped), values stripped, rows checked."""
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        header = [(h or "").strip() for h in (reader.fieldnames or [])]
        source: dict[str, str] = {}  # our column -> the file's column
        for h in header:
            if h.lower() in REQUIRED_COLUMNS + OPTIONAL_COLUMNS:
                source[h.lower()] = h
        for h in header:
            ours = COLUMN_ALIASES.get(h.lower())
            if ours is not None:
                source.setdefault(ours, h)
        missing = [c for c in REQUIRED_COLUMNS if c not in source]
        if missing:
            alias_of = {v: k for k, v in COLUMN_ALIASES.items()}
            wanted = [f"{c} (or {alias_of[c]})" if c in alias_of else c for c in missing]
            raise ValueError(
                f"{path}: missing column(s) {missing}; a human-trials CSV needs "
                f"{list(REQUIRED_COLUMNS)}, here missing {', '.join(wanted)} (found {header})"
            )
        present = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in source]
        data: dict[str, list[str]] = {c: [] for c in present}
        for line, row in enumerate(reader, start=2):
            row = {(k or "").strip(): (v or "").strip() for k, v in row.items()}
            for c in present:
                value = row.get(source[c], "")
                if not value and c in ("image", "true_class"):
                    raise ValueError(f"{path}, line {line}: empty value in column '{source[c]}'")
                data[c].append(value)
    if not data["image"]:
        raise ValueError(f"{path}: no trials (only a header)")
    return data


def read_human_trials(
    csv_paths: str | PathLike | Sequence[str | PathLike],
    classes: Sequence[str] | None = None,
) -> HumanTrials:
    """Read per-trial human decisions from one or several CSV files and validate them.

    Several files (e.g. one per subject and session, as published) are pooled into one table.

    Parameters
    ----------
    csv_paths : path, folder, glob pattern, or a sequence of them
        CSV files with a header containing ``image, choice, true_class`` and optionally
        ``subject, condition, distractor, shape_class, texture_class`` (other columns are
        ignored; names are matched in any case). The names of published per-trial files are
        accepted too (:data:`COLUMN_ALIASES`: ``subj`` -> subject, ``imagename`` -> image,
        ``category`` -> true_class, ``object_response`` -> choice), as in the model-vs-human
        raw data (``<experiment>_subject-01_session_1.csv``). A folder means every ``*.csv``
        in it. When several files are read and none has a subject column, each file's name
        (without ``.csv``) is its subject.
    classes : sequence of str, optional
        Every class name allowed. Default: the sorted set of the true classes (and distractor,
        shape and texture classes), so a choice outside them is reported as unknown.

    Returns
    -------
    HumanTrials
        A choice cell that is empty, ``na`` or ``NaN`` (any case), and not a class name, is a
        trial without a response: its choice is :data:`NO_RESPONSE`. Such trials are kept;
        :func:`human_accuracy` counts them as wrong by default.
    """
    paths = _human_csv_paths(csv_paths)
    tables = [_read_one_human_csv(path) for path in paths]
    columns = set(tables[0])
    for path, table in zip(paths[1:], tables[1:], strict=True):
        if set(table) != columns:
            raise ValueError(
                f"{path} has columns {sorted(table)} but {paths[0]} has {sorted(columns)}; "
                "pooled files must have the same columns"
            )
    data = {c: [v for table in tables for v in table[c]] for c in tables[0]}
    if "subject" not in data and len(paths) > 1:
        data["subject"] = [
            path.stem for path, t in zip(paths, tables, strict=True) for _ in t["image"]
        ]
    arrays = {c: np.array(v, dtype=object).astype(str) for c, v in data.items()}
    if classes is None:
        seen: set[str] = set()
        for c in ("true_class", "distractor", "shape_class", "texture_class"):
            if c in arrays:
                seen |= set(arrays[c].tolist())
        classes = sorted(seen)
    classes = tuple(str(c) for c in classes)
    no_response = np.array(
        [v.lower() in _NO_RESPONSE_VALUES and v not in classes for v in arrays["choice"]],
        dtype=bool,
    )
    arrays["choice"][no_response] = NO_RESPONSE
    trials = HumanTrials(classes=classes, **arrays)
    where = str(paths[0]) if len(paths) == 1 else f"{len(paths)} files from {paths[0].parent}"
    return _validate_trials(trials, where)


def _as_trials(
    human_trials: HumanTrials | str | PathLike | Sequence[str | PathLike],
) -> HumanTrials:
    if isinstance(human_trials, HumanTrials):
        return human_trials
    if isinstance(human_trials, (str, PathLike, list, tuple)):
        return read_human_trials(human_trials)
    raise TypeError(
        "human trials must be a HumanTrials table or CSV path(s), got "
        f"{type(human_trials).__name__}"
    )


@dataclass(frozen=True)
class HumanAccuracy:
    """Accuracy of human trials: overall, per true class and per subject.

    Attributes
    ----------
    overall : float
        Correct trials / counted trials, pooled over all subjects and classes.
    per_class : dict class name -> float
        Over the trials of each true class, in :attr:`HumanTrials.classes` order (NaN for a
        class without counted trials).
    per_subject : dict subject -> float, or None
        Over each subject's trials (sorted subjects); None when the trials name no subject.
    n_trials : int
        Trials counted (the denominator of ``overall``).
    n_correct : int
    n_no_response : int
        Trials without a response in the data (counted as wrong, or excluded, per
        ``no_response``).
    no_response : str
        ``"wrong"`` or ``"exclude"``.
    """

    overall: float
    per_class: dict[str, float]
    per_subject: dict[str, float] | None
    n_trials: int
    n_correct: int
    n_no_response: int
    no_response: str


def human_accuracy(
    human_trials: HumanTrials | str | PathLike | Sequence[str | PathLike],
    *,
    no_response: str = "wrong",
) -> HumanAccuracy:
    """Human accuracy overall, per true class and per subject.

    Parameters
    ----------
    human_trials : HumanTrials, or CSV path(s) for :func:`read_human_trials`
    no_response : {"wrong", "exclude"}
        Trials without a response count as wrong answers (default, as a subject who does not
        answer in time does not recognise the image), or are left out of every denominator.
        How many there were is reported either way.

    Returns
    -------
    HumanAccuracy
    """
    if no_response not in ("wrong", "exclude"):
        raise ValueError(f"no_response must be 'wrong' or 'exclude'; got {no_response!r}")
    trials = _as_trials(human_trials)
    n_no_response = int((~trials.responded).sum())
    counted = trials.responded if no_response == "exclude" else np.ones(len(trials), bool)
    correct = (trials.choice == trials.true_class) & counted

    def fraction(rows: np.ndarray) -> float:
        n = int(counted[rows].sum())
        return int(correct[rows].sum()) / n if n else math.nan

    everything = np.ones(len(trials), bool)
    per_subject = None
    if trials.subject is not None:
        per_subject = {str(s): fraction(trials.subject == s) for s in np.unique(trials.subject)}
    return HumanAccuracy(
        overall=fraction(everything),
        per_class={c: fraction(trials.true_class == c) for c in trials.classes},
        per_subject=per_subject,
        n_trials=int(counted.sum()),
        n_correct=int(correct.sum()),
        n_no_response=n_no_response,
        no_response=no_response,
    )


def human_response_matrix(trials: HumanTrials, images: Sequence[str] | None = None) -> np.ndarray:
    """Rate of choosing each distractor over the true object, per image, from trials.

    Two-alternative trials (a ``distractor`` column): ``p[i, d]`` = trials on image ``i``
    answered ``d`` / trials on image ``i`` that offered ``d``. Otherwise (n-way trials) the
    pairwise analogue of the model's ``P(d) / (P(d) + P(true))``: answers ``d`` / (answers
    ``d`` + correct answers). Trials without a response are left out.

    Parameters
    ----------
    trials : HumanTrials
    images : sequence of str, optional
        Row order (default: sorted distinct images of ``trials``); images without trials
        give NaN rows.

    Returns
    -------
    ndarray, shape (image, class)
        NaN at the true class and where the denominator is 0.
    """
    names = np.unique(trials.image) if images is None else np.asarray(images, dtype=str)
    row_of = {name: k for k, name in enumerate(names)}
    # a trial without a response says nothing about which option the subject preferred
    keep = np.array([img in row_of for img in trials.image], dtype=bool) & trials.responded
    rows = np.array([row_of[img] for img in trials.image[keep]], dtype=int)
    n_img, n_cls = len(names), len(trials.classes)
    kept = trials.subset(keep)
    choice, truth = kept.class_indices("choice"), kept.class_indices("true_class")
    chosen = np.zeros((n_img, n_cls))
    np.add.at(chosen, (rows, choice), 1)
    if trials.distractor is not None:
        offered = np.zeros((n_img, n_cls))
        np.add.at(offered, (rows, kept.class_indices("distractor")), 1)
    else:
        correct = np.zeros(n_img)
        np.add.at(correct, rows[choice == truth], 1)
        offered = chosen + correct[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(offered > 0, chosen / offered, np.nan)
    image_truth = np.full(n_img, -1)
    image_truth[rows] = truth
    has = image_truth >= 0
    p[np.flatnonzero(has), image_truth[has]] = np.nan
    return p


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
        The model's I2n (e.g. from :func:`i2n`), rows in ``images`` order, columns in
        ``human_trials.classes`` order.
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


# ---------------------------------------------------------------------------------------------
# Synthetic human data (tests and demos)
# ---------------------------------------------------------------------------------------------


def synthetic_human_trials(
    path: str | PathLike | None = None,
    *,
    n_classes: int = 4,
    images_per_class: int = 6,
    n_subjects: int = 4,
    repeats: int = 3,
    conditions: Sequence[str] = ("clean",),
    difficulty_spread: float = 1.0,
    cue_conflict: bool = False,
    shape_bias: float = 0.7,
    seed: int = 0,
) -> HumanTrials:
    """Simulated per-trial human decisions with a known per-image difficulty.

    Two-alternative trials by default: each subject sees every image ``repeats`` times, each
    time against a random distractor, and answers correctly with probability
    ``Phi(ease_image + ease_pair)`` (ease ~ N(1, difficulty_spread)), so halves of the trials
    agree on which images are hard. With ``cue_conflict`` the images instead carry a shape
    class (= true class) and a texture class (another class for most images, the same for
    every fourth), and subjects pick the shape with probability ``shape_bias``, the texture
    with most of the rest, another class otherwise (n-way trials, no distractor column).

    Parameters
    ----------
    path : path, optional
        Also write the trials there as CSV (readable by :func:`read_human_trials`).
    n_classes, images_per_class, n_subjects, repeats : int
    conditions : sequence of str
        Condition labels, assigned to images in turn.
    difficulty_spread : float
    cue_conflict : bool
    shape_bias : float
    seed : int

    Returns
    -------
    HumanTrials
    """
    if n_classes < 2 or images_per_class < 1 or n_subjects < 1 or repeats < 1:
        raise ValueError("need n_classes >= 2 and positive images_per_class, n_subjects, repeats")
    rng = np.random.default_rng(seed)
    classes = tuple(f"class{k}" for k in range(n_classes))
    n_images = n_classes * images_per_class
    image_class = np.repeat(np.arange(n_classes), images_per_class)
    image_names = np.array([f"img{i:03d}" for i in range(n_images)])
    image_condition = np.array([conditions[i % len(conditions)] for i in range(n_images)])
    ease_image = rng.normal(1.0, difficulty_spread, n_images)
    ease_pair = rng.normal(0.0, 0.5 * difficulty_spread, (n_classes, n_classes))
    texture = (image_class + 1 + rng.integers(0, n_classes - 1, n_images)) % n_classes
    texture[::4] = image_class[::4]
    cols: dict[str, list] = {c: [] for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS}
    for s in range(n_subjects):
        for _ in range(repeats):
            for i in range(n_images):
                o = image_class[i]
                distractor = (o + 1 + rng.integers(0, n_classes - 1)) % n_classes
                if cue_conflict:
                    u = rng.random()
                    if u < shape_bias:
                        choice = o
                    elif u < shape_bias + 0.8 * (1 - shape_bias):
                        choice = texture[i]
                    else:
                        choice = rng.integers(0, n_classes)
                else:
                    p_correct = norm.cdf(ease_image[i] + ease_pair[o, distractor])
                    choice = o if rng.random() < p_correct else distractor
                cols["image"].append(image_names[i])
                cols["choice"].append(classes[choice])
                cols["true_class"].append(classes[o])
                cols["subject"].append(f"subject{s}")
                cols["condition"].append(image_condition[i])
                cols["distractor"].append(classes[distractor])
                cols["shape_class"].append(classes[o])
                cols["texture_class"].append(classes[texture[i]])
    drop = ("distractor",) if cue_conflict else ("shape_class", "texture_class")
    arrays = {c: np.array(v, dtype=str) for c, v in cols.items() if c not in drop}
    trials = _validate_trials(HumanTrials(classes=classes, **arrays), "synthetic_human_trials")
    if path is not None:
        trials.to_csv(path)
    return trials


# Object solution times live in brainlike.analysis.ost (the architecture map files them under
# behaviour); re-exported here so both import paths work.
from brainlike.analysis.ost import (  # noqa: E402
    IT_BINS_MS,
    OSTConsistency,
    SyntheticOSTReference,
    TimeMappedFeatures,
    decode_probabilities_over_time,
    feedforward_time_mapping,
    i1_from_probabilities,
    i1_over_time,
    object_solution_times,
    ost_consistency,
    ost_score,
    synthetic_ost_features,
    synthetic_ost_reference,
)

__all__ += [
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
