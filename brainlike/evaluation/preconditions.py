"""What a scoring request may ask, and what a recording must hold before a model sees it.

The metrics and Brain-Score conventions :func:`~brainlike.evaluation.static.score_model` knows,
the error every refused request raises (:class:`ScoringError`, one line naming the fix), the
cross-validation settings, the seed each metric scores with, and one check per metric of the
recording alone: trials per stimulus for the split-half estimates, animals per area for an
inter-animal ceiling, stimuli (per object, for stratified splits) for the train/test splits
(spec: neural-evaluation.md §4-5, §10; recurrent.md §2 for the per-bin fits).
"""

from __future__ import annotations

from typing import Any

import numpy as np

METRICS = ("noise-corrected", "plain", "brainscore")
CONVENTIONS = ("r2_over_ceiling", "squared_ratio", "ratio")


class ScoringError(ValueError):
    """A scoring request that cannot be carried out as asked (the message says how to fix it)."""


def _check_cross_validation(
    n_splits: int, n_bootstraps: int, train_fraction: float | None, default_fraction: float
) -> float:
    """Check the split settings; returns the train fraction (``default_fraction`` if None)."""
    if n_splits < 2:
        raise ScoringError(f"n_splits must be at least 2 (got {n_splits})")
    if n_bootstraps < 1:
        raise ScoringError(f"n_bootstraps must be at least 1 (got {n_bootstraps})")
    if train_fraction is None:
        train_fraction = default_fraction
    if not 0 < train_fraction < 1:
        raise ScoringError(f"train_fraction must lie in (0, 1) (got {train_fraction})")
    return train_fraction


def metric_seed(metric: str, seed: int | None = None) -> int:
    """The seed a metric scores with: ``seed`` if given, else the metric's convention.

    Brain-Score draws its cross-validation splits and ceiling halvings with seed 1 (spec:
    neural-evaluation.md §10), so ``brainscore`` defaults to 1; the other metrics to 0.
    """
    if seed is not None:
        return int(seed)
    return 1 if metric == "brainscore" else 0


def check_metric_preconditions(
    rec: Any, metric: str, regions: list[str], train_fraction: float
) -> None:
    """Check that ``rec`` holds what ``metric`` needs, before any model sees an image.

    One check per metric (:data:`METRIC_PRECONDITIONS`), on the recording alone: trials per
    stimulus for the split-half estimates, animals per area for an inter-animal ceiling, and
    stimuli (per object, for stratified splits) for the train/test splits.

    Raises
    ------
    ScoringError
        One line naming the problem and the fix.
    """
    METRIC_PRECONDITIONS[metric](rec, regions, train_fraction)


def _check_trials(rec: Any, purpose: str) -> None:
    from brainlike.data.recordings import RecordingError, validate_recording

    try:
        validate_recording(rec, min_trials=2, purpose=purpose)
    except RecordingError as err:
        raise ScoringError(str(err)) from None


def _check_random_splits(rec: Any, train_fraction: float, metric: str) -> None:
    """The unstratified splits of :func:`brainlike.analysis.neural.train_test_splits`."""
    n = int(rec.sizes["stimulus"])
    n_train = int(round(train_fraction * n))
    if n_train < 2 or n - n_train < 3:
        raise ScoringError(
            f"--metric {metric} splits the stimuli into train and test sets, and {n} stimuli "
            f"with --train-fraction {train_fraction:g} leave {n_train} for training and "
            f"{n - n_train} for testing (at least 2 and 3 needed); record more stimuli or "
            "change --train-fraction"
        )


def _area_with_one_animal(rec: Any, regions: list[str]) -> tuple[str, int] | None:
    """The first of ``regions`` recorded in fewer than 2 animals, with its count (else None):
    an inter-animal ceiling needs 2."""
    region = np.asarray(rec.coords["region"].values).astype(str)
    animal = np.asarray(rec.coords["animal"].values).astype(str)
    for r in regions:
        n = len(set(animal[region == r]))
        if n < 2:
            return r, n
    return None


def _noise_corrected_preconditions(rec: Any, regions: list[str], train_fraction: float) -> None:
    _check_trials(rec, "--metric noise-corrected (split-half bootstraps)")
    lonely = _area_with_one_animal(rec, regions)
    if lonely:
        area, n = lonely
        raise ScoringError(
            f"--metric noise-corrected is judged against the inter-animal ceiling, which needs "
            f"at least 2 animals per area, and area {area} has {n}; use --metric plain or "
            f"--metric brainscore (their ceilings need one animal), or leave {area} out "
            "with --regions"
        )
    _check_random_splits(rec, train_fraction, "noise-corrected")


def _plain_preconditions(rec: Any, regions: list[str], train_fraction: float) -> None:
    # one animal is enough: each neuroid's own split-half reliability divides its r, and the
    # inter-animal ceiling is left out of areas with a single animal
    _check_trials(rec, "--metric plain (split-half reliability)")
    _check_random_splits(rec, train_fraction, "plain")


def _brainscore_preconditions(rec: Any, regions: list[str], train_fraction: float) -> None:
    _check_trials(rec, "--metric brainscore (internal-consistency ceiling)")
    # Brain-Score's shuffle splits: floor(n * train) stimuli for training, the rest for testing
    n = int(rec.sizes["stimulus"])
    n_train = int(np.floor(n * train_fraction))
    n_test = n - n_train
    if n_train < 2 or n_test < 3:
        raise ScoringError(
            f"--metric brainscore splits {n} stimuli {train_fraction:g}/{1 - train_fraction:g}, "
            f"which leaves {n_train} for training and {n_test} for testing (at least 2 and 3 "
            "needed); record more stimuli or change --train-fraction"
        )
    if "object_name" not in rec.coords:
        return
    labels = np.asarray([str(v) for v in rec.coords["object_name"].values])
    names, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        raise ScoringError(
            f"Brain-Score splits are stratified by object_name, and object "
            f"{names[np.argmin(counts)]!r} has a single stimulus (every object needs at least "
            "2); drop that stimulus or merge its object_name with another"
        )
    n_classes = len(names)
    if n_test < n_classes:
        raise ScoringError(
            f"Brain-Score splits are stratified by object_name ({n_classes} objects) but a "
            f"test fraction of {1 - train_fraction:.2f} leaves {n_test} of {n} "
            f"stimuli for testing; lower --train-fraction to at most "
            f"{1 - n_classes / n:.2f}"
        )
    if n_train < n_classes:
        raise ScoringError(
            f"Brain-Score splits are stratified by object_name ({n_classes} objects) but a "
            f"train fraction of {train_fraction:.2f} leaves {n_train} of {n} stimuli for "
            f"training; raise --train-fraction to at least {n_classes / n:.2f}"
        )


def check_temporal_preconditions(
    rec: Any, metric: str, regions: list[str], train_fraction: float
) -> None:
    """Check that a time-binned ``rec`` holds what ``--temporal`` scoring needs, before any
    model sees an image: 2 trials per stimulus, 2 animals per area (every bin is judged against
    the per-bin inter-animal ceiling, whichever metric; spec recurrent.md §2) and stimuli for
    the splits.

    Raises
    ------
    ScoringError
        One line naming the problem and the fix.
    """
    _check_trials(rec, f"--temporal --metric {metric} (split-half estimates per bin)")
    lonely = _area_with_one_animal(rec, regions)
    if lonely:
        area, n = lonely
        raise ScoringError(
            f"--temporal judges every bin against the per-bin inter-animal ceiling, which needs "
            f"at least 2 animals per area, and area {area} has {n}; score without --temporal "
            f"(--metric plain works with one animal), or leave {area} out with --regions"
        )
    _check_random_splits(rec, train_fraction, metric)


METRIC_PRECONDITIONS = {
    "noise-corrected": _noise_corrected_preconditions,
    "plain": _plain_preconditions,
    "brainscore": _brainscore_preconditions,
}
"""Per metric: a check of the recording alone (recording, regions, train fraction) that
raises :class:`ScoringError` when the metric cannot be computed on it."""


def _chosen_regions(rec: Any, regions: list[str] | None) -> list[str]:
    """``regions`` (default every region of ``rec``, in the order the recording first lists
    them), each checked against the recording."""
    all_regions = list(dict.fromkeys(str(r) for r in rec.coords["region"].values))
    chosen = list(regions) if regions else all_regions
    unknown = [r for r in chosen if r not in all_regions]
    if unknown:
        raise ScoringError(
            f"region(s) {', '.join(unknown)} not in the recording; it has {', '.join(all_regions)}"
        )
    return chosen


def check_split_half(split_half: str) -> None:
    """Refuse (:class:`ScoringError`) a split-half convention the estimators do not know."""
    from brainlike.analysis import neural

    if split_half not in neural.SPLIT_HALF_CONVENTIONS:
        raise ScoringError(
            f"unknown split-half convention {split_half!r}; choose one of "
            f"{', '.join(neural.SPLIT_HALF_CONVENTIONS)}"
        )
