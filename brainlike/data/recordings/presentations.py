"""Presentations <-> trials: repeated presentations of a stimulus become its trials.

BrainIO assemblies and NWB intervals tables list one row per presentation; a recording holds
the repeats of a stimulus along its trial axis. Shared by the BrainIO and NWB readers.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd


@dataclass(frozen=True)
class _Grouping:
    stimulus_ids: np.ndarray  # (stimulus,) in order of first appearance
    codes: np.ndarray  # (presentation,) stimulus index of each presentation
    trial: np.ndarray  # (presentation,) trial index within its stimulus
    first: np.ndarray  # (stimulus,) index of each stimulus's first presentation (trial 0)
    n_trials: int


def _group_presentations(stimulus_ids: np.ndarray, repetition: np.ndarray | None) -> _Grouping:
    """Presentations of the same stimulus become its trials, ordered by repetition if given."""
    codes, uniques = pd.factorize(stimulus_ids, sort=False)
    order = (
        np.lexsort((repetition, codes))
        if repetition is not None
        else np.argsort(codes, kind="stable")
    )
    sorted_codes = codes[order]
    starts = np.searchsorted(sorted_codes, np.arange(len(uniques)))
    trial = np.empty(len(codes), dtype=np.int64)
    trial[order] = np.arange(len(codes)) - starts[sorted_codes]
    return _Grouping(
        stimulus_ids=np.asarray(uniques, dtype=str),
        codes=codes,
        trial=trial,
        first=order[starts],
        n_trials=int(trial.max()) + 1 if len(trial) else 0,
    )


def _scatter_trials(data: np.ndarray, grouping: _Grouping) -> np.ndarray:
    """(presentation, neuroid[, bin]) -> (stimulus, neuroid, trial[, bin]), NaN where absent."""
    shape = (len(grouping.stimulus_ids), data.shape[1], grouping.n_trials, *data.shape[2:])
    out = np.full(shape, np.nan)
    out[grouping.codes, :, grouping.trial] = data
    return out


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    equal = np.asarray(a == b, dtype=bool)
    return equal | (pd.isna(a) & pd.isna(b))


def _presentation_coord_grid(values: np.ndarray, grouping: _Grouping) -> np.ndarray:
    """A per-presentation coordinate as a (stimulus, trial) grid, missing cells filled."""
    shape = (len(grouping.stimulus_ids), grouping.n_trials)
    kind = values.dtype.kind
    if kind in "US":
        grid = np.full(shape, "", dtype=values.dtype)
    elif kind == "M" or kind == "m":
        grid = np.full(shape, np.datetime64("NaT") if kind == "M" else np.timedelta64("NaT"))
        grid = grid.astype(values.dtype)
    elif kind == "f":
        grid = np.full(shape, np.nan, dtype=values.dtype)
    elif kind in "iub" and len(values) == shape[0] * shape[1]:
        grid = np.zeros(shape, dtype=values.dtype)  # every cell gets a value below
    elif kind in "iub":
        grid = np.full(shape, np.nan)
    else:
        grid = np.full(shape, None, dtype=object)
    grid[grouping.codes, grouping.trial] = values
    return grid
