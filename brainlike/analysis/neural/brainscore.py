"""Brain-Score conventions (spec §10), so numbers can be compared with its leaderboard.

Stratified 90/10 shuffle splits with seed 1, raw Pearson r with the median over neuroids
then the mean over splits, the internal-consistency ceiling of the repetitions, three
ceiling conventions, and RSA with subject ceilings. Errors are Brain-Score's standard error
over splits: std (ddof=0) / sqrt(n).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brainlike.analysis.neural.arrays import (
    _BS_SEM_NOTE,
    _SEM_NOTE,
    _as_features,
    _as_responses,
    _brainscore_error,
    _check_min_trials,
    _groups,
    _nanmean,
    _nanmedian,
    _sem,
    _trial_counts,
    _trial_summary,
)
from brainlike.analysis.neural.predictivity import _held_out_r, _resolve_mapping
from brainlike.analysis.neural.reliability import (
    _check_split_half,
    pearson_columns,
    spearman_brown,
)
from brainlike.analysis.neural.similarity import _upper, compare_rdms, rdm
from brainlike.analysis.neural.splits import _check_splits
from brainlike.analysis.score import Score

CEILING_CONVENTIONS = ("r2_over_ceiling", "squared_ratio", "ratio")
"""Brain-Score ceiling conventions: r^2 / c (since January 2026), (r / c)^2 (before), r / c
(first version). Spec: neural-evaluation.md §10."""


def brainscore_splits(
    stimulus_ids: Sequence[Any] | int,
    labels: Sequence[Any] | None = None,
    n_splits: int = 10,
    train_size: float = 0.9,
    seed: int = 1,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Brain-Score's cross-validation splits: (stratified) shuffle splits on stimulus id.

    scikit-learn ``StratifiedShuffleSplit`` (with ``labels``, e.g. object names) or
    ``ShuffleSplit`` with ``train_size`` 0.9, test size the rest and ``random_state=seed``
    (1), over the stimuli in the given order, as Brain-Score does on a repetition-averaged
    assembly. When ``stimulus_ids`` repeat (rows are presentations), the split is over the
    unique ids (sorted, as Brain-Score's ``unique_split_values``) and every row follows its id.

    Parameters
    ----------
    stimulus_ids : sequence or int
        Stimulus id per row, or the number of stimuli.
    labels : sequence, optional
        Stratification label per row (constant within a stimulus id).
    n_splits, train_size, seed

    Returns
    -------
    list of (train_idx, test_idx) row indices
    """
    # spec: neural-evaluation.md §10: 10 stratified shuffle splits, 90/10, seed 1
    from sklearn.model_selection import ShuffleSplit, StratifiedShuffleSplit

    ids = np.arange(stimulus_ids) if isinstance(stimulus_ids, (int, np.integer)) else None
    if ids is None:
        ids = np.asarray(stimulus_ids)
    unique, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    repeated = len(unique) < len(ids)
    strat = None
    if labels is not None:
        lab = np.asarray(labels)
        if lab.shape != ids.shape:
            raise ValueError(f"labels must have one entry per row ({len(ids)}); got {lab.shape}")
        strat = lab[first] if repeated else lab
    cv = (
        StratifiedShuffleSplit(n_splits=n_splits, train_size=train_size, random_state=seed)
        if strat is not None
        else ShuffleSplit(n_splits=n_splits, train_size=train_size, random_state=seed)
    )
    n_units = len(unique) if repeated else len(ids)
    out = []
    for train, test in cv.split(np.zeros(n_units), strat):
        if repeated:
            train = np.flatnonzero(np.isin(inverse, train))
            test = np.flatnonzero(np.isin(inverse, test))
        out.append((np.asarray(train), np.asarray(test)))
    return out


def _trial_average(Y: Any, name: str = "Y") -> tuple[np.ndarray, dict]:
    arr = np.asarray(Y, dtype=np.float64)
    if arr.ndim == 3:
        counts = _trial_counts(arr)
        if counts.min() < 1:
            s, n = (int(i) for i in np.argwhere(counts < 1)[0])
            raise ValueError(f"{name} has no trials for stimulus {s}, neuroid {n}")
        return _nanmean(arr, axis=2), _trial_summary(counts)
    if arr.ndim == 2:
        return arr, {"trials_averaged": "before the call"}
    raise ValueError(
        f"{name} must be (stimulus, neuroid, trial) or trial-averaged (stimulus, neuroid); "
        f"got shape {arr.shape}"
    )


def ceiled_score(raw: Any, ceiling: float, convention: str = "r2_over_ceiling") -> Any:
    """Express a raw score relative to a ceiling in one of Brain-Score's conventions (spec §10).

    - ``"r2_over_ceiling"``: r^2 / ceiling (Brain-Score since January 2026). Note that the sign
      of r is lost.
    - ``"squared_ratio"``: (r / ceiling)^2 (before January 2026).
    - ``"ratio"``: r / ceiling (the first version).

    Values are not clipped.

    Parameters
    ----------
    raw : float or Score
    ceiling : float
    convention : str

    Returns
    -------
    float, or for a Score a copy with ``ceiling``, ``ceiled`` and ``convention`` set (the
    propagated error of the ceiled value goes to ``provenance["ceiled_error"]``).
    """
    # spec: neural-evaluation.md §10 (ceiled score conventions, not clipped)
    if convention not in CEILING_CONVENTIONS:
        raise ValueError(f"convention must be one of {CEILING_CONVENTIONS}; got {convention!r}")
    c = np.float64(ceiling)
    r = np.float64(raw.value if isinstance(raw, Score) else raw)
    with np.errstate(invalid="ignore", divide="ignore"):
        if convention == "r2_over_ceiling":
            value, slope = r**2 / c, 2 * r / c
        elif convention == "squared_ratio":
            value, slope = (r / c) ** 2, 2 * r / c**2
        else:
            value, slope = r / c, 1 / c
    if not isinstance(raw, Score):
        return float(value)
    out = raw.with_ceiling(c, float(value), convention)
    out.provenance["ceiled_error"] = float(abs(slope) * raw.error)
    return out


def brainscore_predictivity(
    X: Any,
    Y: Any,
    mapping: Any = "pls",
    labels: Sequence[Any] | None = None,
    *,
    stimulus_ids: Sequence[Any] | None = None,
    n_splits: int = 10,
    train_size: float = 0.9,
    seed: int = 1,
    splits: Sequence | None = None,
    ceiling: float | Score | None = None,
    convention: str = "r2_over_ceiling",
) -> Score:
    """Brain-Score neural predictivity: Pearson r per neuroid on held-out stimuli (spec §10).

    The map is fit on trial-averaged responses of the training stimuli of each split
    (:func:`brainscore_splits`); r per neuroid on the test stimuli; median over neuroids within
    a split; mean over splits. The error is Brain-Score's standard error over splits:
    ``std(ddof=0) / sqrt(n_splits)``.

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit)
    Y : ndarray, shape (stimulus, neuroid, trial) or trial-averaged (stimulus, neuroid)
    mapping : str or sklearn regressor (PLS-25 without scaling by default)
    labels : sequence, optional
        Object label per stimulus for stratification.
    stimulus_ids, n_splits, train_size, seed
        See :func:`brainscore_splits`.
    splits : list of (train_idx, test_idx), optional
        Overrides the generated splits.
    ceiling : float or Score, optional
        E.g. :func:`brainscore_internal_consistency`; then ``ceiled`` is set with ``convention``.
    convention : str
        One of :data:`CEILING_CONVENTIONS`.

    Returns
    -------
    Score
        ``raw``: per-neuroid r averaged over splits; ``per_split``: median r of each split.
    """
    # spec: neural-evaluation.md §10 (neural predictivity)
    estimator, name = _resolve_mapping(mapping)
    mean, trials = _trial_average(Y)
    X = _as_features(X, mean.shape[0])
    if splits is None:
        ids = stimulus_ids if stimulus_ids is not None else mean.shape[0]
        splits = brainscore_splits(ids, labels, n_splits=n_splits, train_size=train_size, seed=seed)
    splits = _check_splits(splits, mean.shape[0])
    r = _held_out_r(estimator, X, mean, splits)
    per_split = _nanmedian(r, axis=1)
    score = Score(
        value=float(_nanmean(per_split)),
        error=_brainscore_error(per_split),
        metric="brainscore_predictivity",
        raw=_nanmean(r, axis=0),
        per_split=per_split,
        parameters={
            "mapping": name,
            "n_splits": len(splits),
            "train_size": train_size,
            "seed": seed,
            "stratified": labels is not None,
        },
        provenance={
            "center": "mean over splits of the median over neuroids of Pearson r",
            "error": _BS_SEM_NOTE.format(what="splits"),
            "n_stimuli": int(mean.shape[0]),
            "n_neuroids": int(mean.shape[1]),
            **trials,
        },
    )
    if ceiling is not None:
        c = ceiling.value if isinstance(ceiling, Score) else float(ceiling)
        score = ceiled_score(score, c, convention)
    return score


def brainscore_internal_consistency(
    Y: Any,
    n_halvings: int = 10,
    seed: int = 1,
    halvings: Sequence | None = None,
    split_half: str = "unequal",
) -> Score:
    """Brain-Score's ceiling: split-half internal consistency of the repetitions (spec §10).

    For each of ``n_halvings`` random halvings of the repetition indices (scikit-learn
    ``ShuffleSplit(train_size=0.5, random_state=seed)`` over the trial slots, as Brain-Score
    splits its ``repetition`` coordinate): per neuroid SB(r) between the two half-averages
    (each stimulus averages its available trials in each half; stimuli with none in a half
    are left out of that neuroid's r); median over neuroids; mean over halvings. Error:
    std (ddof=0) over halvings / sqrt(n_halvings), as Brain-Score aggregates splits.

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial)
    n_halvings : int
    seed : int
    halvings : list of (trials_half1, trials_half2), optional
        Explicit halvings of the trial indices instead of random ones.
    split_half : {"unequal", "equal"}
        Odd numbers ``n`` of trial slots: ``"unequal"`` (default, what ``ShuffleSplit`` gives)
        averages ``(n - 1) / 2`` slots against ``(n + 1) / 2``; ``"equal"`` keeps the first
        ``(n - 1) / 2`` slots of the larger half (in ``ShuffleSplit``'s random order), leaving
        one random slot out (:data:`SPLIT_HALF_CONVENTIONS`).

    Returns
    -------
    Score
        ``raw``: per-neuroid SB(r) averaged over halvings; ``per_split``: median per halving.
    """
    # spec: neural-evaluation.md §10 (ceiling: internal consistency)
    _check_split_half(split_half)
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    if halvings is None:
        from sklearn.model_selection import ShuffleSplit

        cv = ShuffleSplit(n_splits=n_halvings, train_size=0.5, random_state=seed)
        halvings = list(cv.split(np.zeros(Y.shape[2])))
    values = []
    for first, second in halvings:
        first, second = np.asarray(first), np.asarray(second)
        if split_half == "equal":
            m = min(len(first), len(second))
            first, second = first[:m], second[:m]
        h1 = _nanmean(Y[:, :, first], axis=2)
        h2 = _nanmean(Y[:, :, second], axis=2)
        values.append(spearman_brown(pearson_columns(h1, h2, nan_policy="omit")))
    values = np.stack(values)
    per_split = _nanmedian(values, axis=1)
    return Score(
        value=float(_nanmean(per_split)),
        error=_brainscore_error(per_split),
        metric="brainscore_internal_consistency",
        raw=_nanmean(values, axis=0),
        per_split=per_split,
        parameters={"n_halvings": len(halvings), "seed": seed, "split_half": split_half},
        provenance={
            "center": "mean over halvings of the median over neuroids of SB(r)",
            "error": _BS_SEM_NOTE.format(what="halvings"),
            "n_stimuli": int(Y.shape[0]),
            "n_neuroids": int(Y.shape[1]),
            **_trial_summary(counts),
        },
    )


def brainscore_rsa(
    X: Any,
    subjects: Sequence[Any] | np.ndarray,
    animal: Sequence[str] | None = None,
    method: str = "spearman",
) -> Score:
    """Brain-Score-style RSA with subject noise ceilings (spec §10).

    RDMs are 1 - Pearson between stimulus patterns, compared on the upper triangle (Spearman by
    default). Raw score: mean over subjects of compare(model RDM, subject RDM) (error: s.e.m.
    over subjects). Ceiling (upper bound): mean over subjects of compare(subject RDM, mean
    RDM of all subjects); the leave-one-out lower bound (subject vs the mean RDM of the others)
    is stored in ``provenance["ceiling_lower"]``. Ceiled = raw / upper ceiling (``"ratio"``).

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit)
    subjects : list of ndarray (stimulus, neuroid[, trial]) per subject, or one array with
        ``animal`` labels per neuroid. Trials are averaged (NaN-skipping).
    animal : sequence of str, optional
    method : {"spearman", "pearson"}

    Returns
    -------
    Score with ``raw`` per subject.
    """
    # spec: neural-evaluation.md §10 (RSA with subject ceilings)
    if animal is not None:
        arr = np.asarray(subjects, dtype=np.float64)
        subjects = [arr[:, g] for g in _groups(animal, arr.shape[1])]
    means = [_trial_average(s, f"subject {i}")[0] for i, s in enumerate(subjects)]
    if not means:
        raise ValueError("pass at least one subject's responses")
    X = _as_features(X, means[0].shape[0])
    for i, m in enumerate(means):
        if m.shape[0] != X.shape[0]:
            raise ValueError(f"subject {i} has {m.shape[0]} stimuli; the model has {X.shape[0]}")
    rdms = np.stack([_upper(rdm(m)) for m in means])
    model = _upper(rdm(X))
    raw = np.array([compare_rdms(model, r, method) for r in rdms])
    value = float(np.mean(raw))
    upper = lower = float("nan")
    if len(rdms) > 1:
        grand = rdms.mean(axis=0)
        upper = float(np.mean([compare_rdms(r, grand, method) for r in rdms]))
        others = (rdms.sum(axis=0)[None] - rdms) / (len(rdms) - 1)
        lower = float(
            np.mean([compare_rdms(r, o, method) for r, o in zip(rdms, others, strict=True)])
        )
    has_ceiling = np.isfinite(upper)
    return Score(
        value=value,
        error=_sem(raw),
        ceiling=upper if has_ceiling else None,
        ceiled=value / upper if has_ceiling else None,
        convention="ratio" if has_ceiling else "",
        metric="brainscore_rsa",
        raw=raw,
        parameters={"method": method, "mapping": "rsa"},
        provenance={
            "ceiling_upper": upper,
            "ceiling_lower": lower,
            "ceiled_lower_bound_ratio": value / lower if np.isfinite(lower) and lower else None,
            "center": "mean over subjects of compare(model RDM, subject RDM)",
            "error": _SEM_NOTE.format(what="subjects"),
            "n_subjects": len(rdms),
            "n_stimuli": int(X.shape[0]),
        },
    )
