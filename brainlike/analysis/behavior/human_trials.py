"""Per-trial human decisions: the :class:`HumanTrials` table, its CSV reader and writer, human
accuracy and response matrices, and simulated trials with a known difficulty.

One row per trial: image, choice, true_class, optionally subject, condition, distractor,
shape_class, texture_class. :func:`read_human_trials` reads one or several CSV files (a file,
a folder, a glob or a list), accepting the column names of published per-trial files such as
the model-vs-human raw data of Geirhos et al. (``subj, imagename, category,
object_response``). A trial without a response has choice :data:`NO_RESPONSE` (``""``).
"""

from __future__ import annotations

import csv
import glob
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
from scipy.stats import norm

__all__ = [
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "NO_RESPONSE",
    "COLUMN_ALIASES",
    "HumanAccuracy",
    "HumanTrials",
    "human_accuracy",
    "human_response_matrix",
    "read_human_trials",
    "synthetic_human_trials",
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
