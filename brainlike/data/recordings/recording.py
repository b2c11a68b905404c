"""The NeuralRecording type: how a recording is built, checked and cleaned.

A recording is an :class:`xarray.DataArray` with dims ``(stimulus, neuroid, trial)`` and an
optional fourth dim ``time_bin`` (spec neural-evaluation.md §1):

=====================  ===============  ===================================================
coordinate             dim              meaning
=====================  ===============  ===================================================
``stimulus_id``        stimulus         str, unique; extra per-stimulus coords allowed
                                        (``object_name``, ...)
``neuroid_id``         neuroid          str, unique
``animal``, ``region`` neuroid          str
``trial``              trial            int, 0 .. n_trials - 1
``time_bin_start``,    time_bin         ms after stimulus onset; scalar coords when the
``time_bin_end``                        time bin was squeezed away (one bin)
=====================  ===============  ===================================================

Attributes ``identifier`` and ``stimulus_set_identifier`` (None when unknown). Missing
repeats (ragged trials) are NaN. Per-presentation metadata that changes between the repeats
of a stimulus (a BrainIO ``repetition`` that is not 0, 1, 2 ..., a session date) is kept as a
``(stimulus, trial)`` coordinate. Coordinates are plain (non-index) coordinates; select with
:func:`~brainlike.data.recordings.select_neuroids` or ``rec.isel(...)``, or add an index with
``rec.set_xindex``.

This module holds :func:`make_recording`, :func:`validate_recording` and
:func:`remove_nan_neuroids`, the :class:`RecordingError` every reader raises, and the checks
and message helpers (ids, labels, time bins, files) the readers share.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

DIMS = ("stimulus", "neuroid", "trial")
TIME_DIM = "time_bin"
UNKNOWN = "unknown"

_RESERVED = {
    *DIMS,
    TIME_DIM,
    "stimulus_id",
    "neuroid_id",
    "animal",
    "region",
    "time_bin_start",
    "time_bin_end",
}


class RecordingError(ValueError):
    """A recording, file or stimulus set does not have the expected form."""


# --------------------------------------------------------------------------------------------
# small formatting and conversion helpers


def _preview(values: Iterable[Any], limit: int = 5) -> str:
    """``'a', 'b', 'c' and 4 more`` for error messages."""
    values = list(values)
    shown = ", ".join(repr(_plain(v)) for v in values[:limit])
    return shown + (f" and {len(values) - limit} more" if len(values) > limit else "")


def _plain(value: Any) -> Any:
    """Numpy scalars as Python scalars (so messages read 'a', not np.str_('a'))."""
    return value.item() if isinstance(value, np.generic) else value


_IRREGULAR = {"stimulus": "stimuli"}


def _plural(n: int, word: str) -> str:
    """``'1 trial'``, ``'3 trials'``, ``'2 stimuli'``."""
    if n == 1:
        return f"{n} {word}"
    head, _, last = word.rpartition(" ")
    last = _IRREGULAR.get(last, last + "s")
    return f"{n} {head + ' ' if head else ''}{last}"


def _as_str_array(values: Any) -> np.ndarray:
    """Ids and labels as a 1-D numpy str array (bytes decoded, integral floats without '.0')."""
    arr = np.asarray(values)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8").astype(str)
    if arr.dtype.kind == "f" and np.all(np.isfinite(arr)) and np.all(arr == np.round(arr)):
        return arr.astype(np.int64).astype(str)
    if arr.dtype.kind == "O":
        return np.array(
            [v.decode("utf-8") if isinstance(v, bytes) else str(v) for v in arr.ravel()],
            dtype=str,
        ).reshape(arr.shape)
    return arr.astype(str)


def _tidy_coord(values: Any) -> np.ndarray:
    """Coordinate values that netCDF can store: object arrays of strings become str arrays."""
    arr = np.asarray(values)
    if arr.dtype.kind == "S":
        return np.char.decode(arr, "utf-8").astype(str)
    if arr.dtype.kind == "O":
        flat = arr.ravel()
        if all(isinstance(v, str | bytes) for v in flat):
            return _as_str_array(arr)
        try:
            return arr.astype(float)
        except (TypeError, ValueError):
            return _as_str_array(arr)
    return arr


def _per_neuroid(value: Any, n: int, name: str) -> np.ndarray:
    """A str label (or None -> 'unknown') repeated per neuroid, or a per-neuroid sequence."""
    if value is None:
        return np.full(n, UNKNOWN)
    if isinstance(value, str):
        return np.full(n, value)
    arr = _as_str_array(value)
    if arr.ndim != 1 or len(arr) != n:
        raise RecordingError(
            f"{name} has {len(arr)} entries but the responses have {_plural(n, 'neuroid')}; "
            f"pass one {name} label per neuroid or a single string for all"
        )
    return arr


def _ids(values: Any, n: int, name: str, axis: str) -> np.ndarray:
    """Unique string ids, one per entry along ``axis``."""
    arr = _as_str_array(values)
    if arr.ndim != 1 or len(arr) != n:
        raise RecordingError(
            f"{name} has {len(arr)} entries but the responses have {_plural(n, axis)} "
            f"(axis {DIMS.index(axis)}); pass one id per {axis}"
        )
    _check_unique(arr, name, axis)
    return arr


def _check_unique(ids: np.ndarray, name: str, axis: str) -> None:
    uniques, counts = np.unique(ids, return_counts=True)
    if len(uniques) != len(ids):
        dup = uniques[counts > 1]
        raise RecordingError(
            f"{name} must be unique but {_plural(len(dup), 'id')} occur more than once "
            f"({_preview(dup)}; {_plain(dup[0])!r} appears {counts[counts > 1][0]} times); "
            f"give every {axis} its own id (repeated presentations of a stimulus belong on "
            f"the trial axis)"
        )


def _time_bins(time_bins: Any) -> np.ndarray:
    """``[(start_ms, end_ms), ...]`` as a float (K, 2) array with start < end."""
    bins = np.asarray(time_bins, dtype=float)
    if bins.ndim == 1 and bins.shape == (2,):
        bins = bins[None]
    if bins.ndim != 2 or bins.shape[1] != 2 or len(bins) == 0:
        raise RecordingError(
            f"time_bins must be a list of (start_ms, end_ms) pairs, e.g. [(70, 170)]; "
            f"got an array of shape {bins.shape}"
        )
    bad = np.flatnonzero(~(bins[:, 0] < bins[:, 1]))
    if len(bad):
        raise RecordingError(
            f"time bin {tuple(bins[bad[0]])} does not end after it starts; each time bin is "
            f"(start_ms, end_ms) with start < end"
        )
    return bins


def _existing(path: str | Path, what: str = "file") -> Path:
    try:
        path = Path(path).expanduser()
    except RuntimeError:  # ~name of a user that does not exist
        raise RecordingError(
            f"cannot expand {str(path)!r}: no such user; give the full path"
        ) from None
    if not path.is_file():
        folder = path.parent
        hint = "" if folder.is_dir() else f" (the folder {str(folder)!r} does not exist either)"
        raise RecordingError(f"no such {what}: {str(path)!r}{hint}")
    return path


@contextmanager
def reading(path: str | Path, kind: str, hint: str) -> Iterator[None]:
    """Turn what a library raises for a corrupt, truncated or foreign file into one
    :class:`RecordingError` naming the file, the format expected and ``hint`` (the fix).

    Parameters
    ----------
    path : the file being read. kind : its format, e.g. ``"an NWB (HDF5) file"``.
    hint : what a readable file of this kind is, or how to make one.
    """
    try:
        yield
    except RecordingError:
        raise
    except Exception as err:  # h5py, zipfile, numpy, scipy, pandas raise many types
        reason = " ".join(str(err).split())[:200] or "no detail"
        raise RecordingError(
            f"could not read {str(path)!r} as {kind} ({type(err).__name__}: {reason}); {hint}"
        ) from None


# --------------------------------------------------------------------------------------------
# construction and checks


def make_recording(
    data: Any,
    *,
    stimulus_ids: Sequence[Any],
    neuroid_ids: Sequence[Any] | None = None,
    animal: str | Sequence[str] | None = None,
    region: str | Sequence[str] | None = None,
    time_bins: Sequence[tuple[float, float]] | None = None,
    identifier: str = "recording",
    stimulus_set_identifier: str | None = None,
    stimulus_coords: Mapping[str, Sequence[Any]] | None = None,
    neuroid_coords: Mapping[str, Sequence[Any]] | None = None,
    min_trials: int = 1,
    purpose: str | None = None,
    drop_nan_neuroids: bool = False,
) -> xr.DataArray:
    """Build a validated NeuralRecording from an array of responses.

    Parameters
    ----------
    data : array_like, shape (stimulus, neuroid, trial) or (stimulus, neuroid, trial, time_bin)
        Responses; missing repeats are NaN. Stored as float64 (without a copy when ``data``
        already is a float64 array, as xarray does).
    stimulus_ids : sequence, length stimulus
        Unique stimulus ids (converted to str).
    neuroid_ids : sequence, length neuroid, optional
        Unique neuroid ids (str). Default ``neuroid_0``, ``neuroid_1``, ...
    animal, region : str or sequence of str (length neuroid), optional
        Per-neuroid labels; a single string labels every neuroid. Default ``'unknown'``.
    time_bins : sequence of (start_ms, end_ms), optional
        One pair per time bin of 4-D data (required then). With 3-D data a single pair is
        kept as scalar ``time_bin_start``/``time_bin_end`` coordinates.
    identifier, stimulus_set_identifier : str
        Stored in ``attrs``.
    stimulus_coords, neuroid_coords : mapping name -> sequence, optional
        Extra coordinates along stimulus (e.g. ``object_name``) or neuroid (e.g. ``electrode``).
    min_trials : int
        Every stimulus needs at least this many non-NaN trials for every neuroid (0 skips the
        check). See :func:`validate_recording`.
    purpose : str, optional
        What needs ``min_trials`` trials, for the error message (e.g. "split-half reliability").
    drop_nan_neuroids : bool
        Drop neuroids without any non-NaN response (see :func:`remove_nan_neuroids`) instead
        of refusing them.

    Returns
    -------
    xarray.DataArray
        Dims ``("stimulus", "neuroid", "trial"[, "time_bin"])`` with the coordinates listed in
        the module docstring and attrs ``identifier``, ``stimulus_set_identifier`` (and
        ``nan_neuroids_dropped`` with ``drop_nan_neuroids``).

    Raises
    ------
    RecordingError
        For a wrong number of dims, coordinate arrays of the wrong length, duplicate ids, inf
        values, neuroids without any response, or stimuli with fewer than ``min_trials`` trials.
    """
    try:
        if np.iscomplexobj(data):
            raise TypeError("they are complex; give real responses (e.g. np.abs(data))")
        values = np.asarray(data, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise RecordingError(
            f"responses must be numeric (stimulus, neuroid, trial[, time_bin]); could not "
            f"convert them to float64 ({err})"
        ) from None
    if values.ndim not in (3, 4):
        hint = (
            "; for trial-averaged responses add a trial axis: data[:, :, None]"
            if values.ndim == 2
            else ""
        )
        raise RecordingError(
            f"responses must have 3 dims (stimulus, neuroid, trial) or 4 dims (stimulus, "
            f"neuroid, trial, time_bin); got {values.ndim} dims, shape {values.shape}{hint}"
        )
    n_stimuli, n_neuroids, n_trials = values.shape[:3]
    coords: dict[str, Any] = {
        "stimulus_id": ("stimulus", _ids(stimulus_ids, n_stimuli, "stimulus_ids", "stimulus")),
        "neuroid_id": (
            "neuroid",
            _ids(
                [f"neuroid_{i}" for i in range(n_neuroids)] if neuroid_ids is None else neuroid_ids,
                n_neuroids,
                "neuroid_ids",
                "neuroid",
            ),
        ),
        "animal": ("neuroid", _per_neuroid(animal, n_neuroids, "animal")),
        "region": ("neuroid", _per_neuroid(region, n_neuroids, "region")),
        "trial": ("trial", np.arange(n_trials)),
    }
    dims = DIMS
    if values.ndim == 4:
        if time_bins is None:
            raise RecordingError(
                f"4-D responses need time_bins=[(start_ms, end_ms), ...], one pair per time bin "
                f"({values.shape[3]} here)"
            )
        bins = _time_bins(time_bins)
        if len(bins) != values.shape[3]:
            raise RecordingError(
                f"time_bins has {len(bins)} entries but the responses have "
                f"{_plural(values.shape[3], 'time bin')} (axis 3); pass one (start_ms, end_ms) "
                f"pair per time bin"
            )
        dims = (*DIMS, TIME_DIM)
        coords["time_bin_start"] = (TIME_DIM, bins[:, 0])
        coords["time_bin_end"] = (TIME_DIM, bins[:, 1])
    elif time_bins is not None:
        bins = _time_bins(time_bins)
        if len(bins) != 1:
            raise RecordingError(
                f"3-D responses have no time_bin axis but time_bins has {len(bins)} entries; "
                f"pass 4-D data (stimulus, neuroid, trial, time_bin) or a single time bin"
            )
        coords["time_bin_start"] = ((), bins[0, 0])
        coords["time_bin_end"] = ((), bins[0, 1])
    for extra, dim, n in (
        (stimulus_coords, "stimulus", n_stimuli),
        (neuroid_coords, "neuroid", n_neuroids),
    ):
        for name, column in (extra or {}).items():
            if name in _RESERVED:
                raise RecordingError(
                    f"extra {dim} coordinate {name!r} clashes with a built-in coordinate; "
                    f"rename it (built-in names: {', '.join(sorted(_RESERVED))})"
                )
            column = _tidy_coord(column)
            if column.ndim != 1 or len(column) != n:
                raise RecordingError(
                    f"{dim} coordinate {name!r} has shape {column.shape} but the responses have "
                    f"{_plural(n, dim)}; pass one value per {dim}"
                )
            coords[name] = (dim, column)
    rec = xr.DataArray(
        values,
        dims=dims,
        coords=coords,
        attrs={"identifier": identifier, "stimulus_set_identifier": stimulus_set_identifier},
    )
    if drop_nan_neuroids:
        rec = remove_nan_neuroids(rec)
    return validate_recording(rec, min_trials=min_trials, purpose=purpose)


def validate_recording(
    rec: xr.DataArray, *, min_trials: int = 1, purpose: str | None = None
) -> xr.DataArray:
    """Check that ``rec`` is a well-formed NeuralRecording; return it unchanged.

    Parameters
    ----------
    rec : xarray.DataArray
        Dims (stimulus, neuroid, trial[, time_bin]) with the coordinates of
        :func:`make_recording`.
    min_trials : int
        Every stimulus needs at least this many non-NaN trials for every neuroid (for 4-D data,
        in every time bin); 2 for split-half reliability. 0 skips the check.
    purpose : str, optional
        What needs the trials, named in the error (default "a recording").

    Returns
    -------
    xarray.DataArray
        ``rec`` itself.

    Raises
    ------
    RecordingError
        Naming the problem (wrong dims or coordinates, duplicate ids, inf values, all-NaN
        neuroids, stimuli with too few trials) and how to fix it.
    """
    _check_structure(rec)
    _check_values(rec, min_trials=min_trials, purpose=purpose)
    return rec


def _check_structure(rec: Any) -> None:
    if not isinstance(rec, xr.DataArray):
        raise RecordingError(
            f"expected a NeuralRecording (xarray.DataArray); got {type(rec).__name__}; build one "
            f"with make_recording(data, stimulus_ids=...)"
        )
    dims = tuple(rec.dims)
    if dims not in (DIMS, (*DIMS, TIME_DIM)):
        if set(dims) in (set(DIMS), {*DIMS, TIME_DIM}):
            fix = f"reorder with rec.transpose{(*DIMS, TIME_DIM)[: len(dims)]}"
        elif "presentation" in dims:
            fix = "convert a BrainIO assembly with recording_from_assembly(assembly)"
        else:
            fix = "build it with make_recording(data, stimulus_ids=...)"
        raise RecordingError(
            f"recording dims must be {DIMS} or {(*DIMS, TIME_DIM)}; got {dims}; {fix}"
        )
    required = {
        "stimulus_id": ("stimulus",),
        "neuroid_id": ("neuroid",),
        "animal": ("neuroid",),
        "region": ("neuroid",),
        "trial": ("trial",),
    }
    if TIME_DIM in dims:
        required |= {"time_bin_start": (TIME_DIM,), "time_bin_end": (TIME_DIM,)}
    for name, want in required.items():
        if name not in rec.coords:
            raise RecordingError(
                f"recording has no {name!r} coordinate (along {want[0]}); add it with "
                f"rec.assign_coords({name}=({want[0]!r}, values)) or build the recording with "
                f"make_recording"
            )
        if rec.coords[name].dims != want:
            raise RecordingError(
                f"coordinate {name!r} lies along {rec.coords[name].dims}; it must lie along {want}"
            )
    _check_unique(np.asarray(rec.coords["stimulus_id"].values), "stimulus_id", "stimulus")
    _check_unique(np.asarray(rec.coords["neuroid_id"].values), "neuroid_id", "neuroid")
    if not (np.issubdtype(rec.dtype, np.number) or rec.dtype == bool):
        raise RecordingError(
            f"responses must be numeric; got dtype {rec.dtype}; convert with rec.astype(float)"
        )


def _check_values(rec: xr.DataArray, *, min_trials: int, purpose: str | None) -> None:
    values = np.asarray(rec.values, dtype=np.float64)
    stimulus_ids = rec.coords["stimulus_id"].values
    neuroid_ids = rec.coords["neuroid_id"].values
    infinite = np.isinf(values)
    if infinite.any():
        where = np.argwhere(infinite)[0]
        raise RecordingError(
            f"responses contain {_plural(int(infinite.sum()), 'infinite value')} (first at "
            f"stimulus {_plain(stimulus_ids[where[0]])!r}, neuroid "
            f"{_plain(neuroid_ids[where[1]])!r}, trial {where[2]}); use NaN for missing trials "
            f"and finite numbers otherwise"
        )
    present = ~np.isnan(values)
    other_axes = tuple(a for a in range(values.ndim) if a != 1)
    empty = ~present.any(axis=other_axes) if values.size else np.ones(values.shape[1], bool)
    if empty.any():
        names = neuroid_ids[empty]
        raise RecordingError(
            f"{_plural(len(names), 'neuroid')} {'has' if len(names) == 1 else 'have'} no "
            f"non-NaN response to any stimulus or trial "
            f"({_preview(names)}); drop them with drop_nan_neuroids=True when reading "
            f"(brainlike score --drop-nan-neuroids), or select_neuroids(rec, mask) with a mask "
            f"that is False for them"
        )
    if min_trials <= 0 or values.size == 0:
        return
    # trials per (stimulus, neuroid); with time bins the bin with the fewest counts
    counts = present.sum(axis=2)
    if counts.ndim == 3:
        counts = counts.min(axis=2)
    fewest = counts.min(axis=1)
    if fewest.min() < min_trials:
        stimulus = int(np.argmin(fewest))
        neuroid = int(np.argmin(counts[stimulus]))
        n_have = int(fewest[stimulus])
        n_short = int((fewest < min_trials).sum())
        neuroid_note = (
            f" for neuroid {_plain(neuroid_ids[neuroid])!r}"
            if counts[stimulus].max() != n_have
            else ""
        )
        raise RecordingError(
            f"recording {rec.attrs.get('identifier', '')!r} has "
            f"{_plural(rec.sizes['trial'], 'trial')} per stimulus; {purpose or 'a recording'} "
            f"needs at least {_plural(min_trials, 'non-NaN trial')} for every stimulus "
            f"(stimulus {_plain(stimulus_ids[stimulus])!r} has {n_have}{neuroid_note}; "
            f"{n_short} of {_plural(len(fewest), 'stimulus')} fall short); "
            f"drop those stimuli (rec.isel(stimulus=keep)) or neuroids, or record more trials"
            f"{_npy_order_note(rec)}"
        )


def _npy_order_note(rec: xr.DataArray) -> str:
    """For a bare .npy read in the default axis order: the axes may be in another order."""
    if rec.attrs.get("npy_axes_source") != "default":
        return ""
    return (
        f"; {rec.attrs.get('identifier')!r} is a bare .npy read as ({rec.attrs['npy_axes']}): "
        f"if its axes are in another order, the axes may be swapped; name them in the file's "
        f"order with --axes on brainlike score (axes= when reading)"
    )


def remove_nan_neuroids(rec: xr.DataArray) -> xr.DataArray:
    """Drop the neuroids that have no non-NaN response (every stimulus x trial [x bin] NaN).

    Parameters
    ----------
    rec : xarray.DataArray
        Dims (stimulus, neuroid, trial[, time_bin]) with a ``neuroid_id`` coordinate.

    Returns
    -------
    xarray.DataArray
        The other neuroids, in their order; ``attrs["nan_neuroids_dropped"]`` counts the
        neuroids dropped (added to an earlier count).
    """
    values = np.asarray(rec.values, dtype=np.float64)
    other_axes = tuple(a for a in range(values.ndim) if a != rec.dims.index("neuroid"))
    keep = ~np.isnan(values).all(axis=other_axes) if values.size else np.zeros(0, bool)
    if values.size and not keep.any():
        raise RecordingError(
            f"every one of the {_plural(len(keep), 'neuroid')} of recording "
            f"{rec.attrs.get('identifier')!r} is NaN for every stimulus and trial; there is "
            f"nothing left to score (check the file's axis order and missing-value code)"
        )
    out = rec.isel(neuroid=np.flatnonzero(keep)) if not keep.all() else rec.copy()
    out.attrs["nan_neuroids_dropped"] = int(rec.attrs.get("nan_neuroids_dropped", 0)) + int(
        (~keep).sum()
    )
    return out
