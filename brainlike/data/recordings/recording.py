"""Neural recordings: the ``NeuralRecording`` type, its checks, readers and writers.

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
:func:`select_neuroids` or ``rec.isel(...)``, or add an index with ``rec.set_xindex``.

File formats: BrainIO / Brain-Score netCDF assemblies (``.nc``, dims presentation x neuroid
[x time_bin], repetitions as extra presentations of a stimulus_id; spec §10), NWB (``.nwb``:
units table + stimulus presentation intervals -> spike counts), and plain ``.npz``/``.npy``.
A stimulus set is a CSV (``stimulus_id``, ``filename``, ...) next to its image files.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

__all__ = [
    "DIMS",
    "SUFFIXES",
    "RecordingError",
    "StimulusSet",
    "average_time",
    "check_stimuli_match",
    "concat_neuroids",
    "make_recording",
    "read_brainio_netcdf",
    "read_npy",
    "read_npz",
    "read_nwb",
    "read_recording",
    "read_stimulus_set",
    "recording_from_assembly",
    "recording_to_assembly",
    "remove_nan_neuroids",
    "responses",
    "select_neuroids",
    "summary",
    "validate_recording",
    "write_brainio_netcdf",
    "write_npz",
    "write_nwb",
    "write_recording",
    "write_stimulus_set",
]

DIMS = ("stimulus", "neuroid", "trial")
TIME_DIM = "time_bin"
SUFFIXES = (".nc", ".nwb", ".npz", ".npy")
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
# Columns that name the stimulus of a presentation, in order of preference. BrainIO used
# `image_id` before `stimulus_id`; Allen Brain Observatory NWB files use `frame`.
_STIMULUS_COLUMNS = (
    "stimulus_id",
    "image_id",
    "stimulus_name",
    "image_name",
    "stimulus_index",
    "image_index",
    "frame",
)
# Per-unit columns that name the animal of a unit (NWB files usually hold one subject).
_ANIMAL_COLUMNS = ("animal", "subject", "subject_id")
# Per-unit columns that say where a unit was recorded, in order of preference.
_REGION_COLUMNS = (
    "region",
    "brain_area",
    "brain_region",
    "area",
    "location",
    "ecephys_structure_acronym",
    "structure_acronym",
)


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
    path = Path(path).expanduser()
    if not path.is_file():
        folder = path.parent
        hint = "" if folder.is_dir() else f" (the folder {str(folder)!r} does not exist either)"
        raise RecordingError(f"no such {what}: {str(path)!r}{hint}")
    return path


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


# --------------------------------------------------------------------------------------------
# access


def _match(values: np.ndarray, wanted: str | Sequence[str] | None, name: str) -> np.ndarray:
    if wanted is None:
        return np.ones(len(values), bool)
    wanted = [wanted] if isinstance(wanted, str) else [str(w) for w in wanted]
    mask = np.isin(values, wanted)
    if not mask.any():
        raise RecordingError(
            f"no neuroid has {name} {_preview(wanted)}; {name}s in this recording: "
            f"{_preview(np.unique(values), limit=20)}"
        )
    return mask


def select_neuroids(
    rec: xr.DataArray,
    mask: Any = None,
    *,
    region: str | Sequence[str] | None = None,
    animal: str | Sequence[str] | None = None,
) -> xr.DataArray:
    """Keep the neuroids selected by a boolean mask / index array, region and/or animal.

    Parameters
    ----------
    rec : NeuralRecording
    mask : array_like of bool (length neuroid) or of int indices, optional
    region, animal : str or sequence of str, optional
        Keep neuroids with one of these labels.

    Returns
    -------
    xarray.DataArray
        The recording restricted to the selected neuroids (all criteria combined with AND).
    """
    _check_structure(rec)
    n = rec.sizes["neuroid"]
    keep = _match(rec.coords["region"].values, region, "region")
    keep &= _match(rec.coords["animal"].values, animal, "animal")
    if mask is not None:
        mask = np.asarray(mask)
        if mask.dtype == bool:
            if mask.shape != (n,):
                raise RecordingError(
                    f"neuroid mask has shape {mask.shape}; expected ({n},), one entry per neuroid"
                )
        else:
            index = mask.astype(int)
            if index.size and (index.min() < -n or index.max() >= n):
                raise RecordingError(
                    f"neuroid indices must lie in [0, {n}); got {index.min()} .. {index.max()}"
                )
            mask = np.zeros(n, bool)
            mask[index] = True
        keep &= mask
    if not keep.any():
        raise RecordingError("no neuroid passes the selection; loosen the mask, region or animal")
    return rec.isel(neuroid=np.flatnonzero(keep))


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


def responses(
    rec: xr.DataArray,
    region: str | Sequence[str] | None = None,
    animal: str | Sequence[str] | None = None,
) -> np.ndarray:
    """The response array of (a region / animals of) a recording.

    Parameters
    ----------
    rec : NeuralRecording
    region, animal : str or sequence of str, optional
        Keep only neuroids with these labels.

    Returns
    -------
    numpy.ndarray, float64, shape (stimulus, neuroid, trial[, time_bin])
        Missing trials are NaN.
    """
    if region is not None or animal is not None:
        rec = select_neuroids(rec, region=region, animal=animal)
    else:
        _check_structure(rec)
    return np.asarray(rec.values, dtype=np.float64)


def average_time(
    rec: xr.DataArray, start: float, end: float, *, overlapping: bool = False
) -> xr.DataArray:
    """Average the time bins that lie inside ``[start, end]`` ms into one 3-D recording.

    Parameters
    ----------
    rec : NeuralRecording with a time_bin dim
    start, end : float
        Window in ms after stimulus onset; a bin is used when
        ``start <= time_bin_start`` and ``time_bin_end <= end``.
    overlapping : bool
        Use every bin that overlaps the window instead
        (``time_bin_end > start`` and ``time_bin_start < end``).

    Returns
    -------
    xarray.DataArray, dims (stimulus, neuroid, trial)
        Mean over the selected bins (NaN where any selected bin is NaN), with scalar coords
        ``time_bin_start``/``time_bin_end`` spanning the bins used.
    """
    _check_structure(rec)
    if TIME_DIM not in rec.dims:
        raise RecordingError(
            "recording has no time_bin dim to average; it is already one time window"
        )
    starts = rec.coords["time_bin_start"].values
    ends = rec.coords["time_bin_end"].values
    if overlapping:
        inside = (ends > start) & (starts < end)
    else:
        inside = (starts >= start) & (ends <= end)
    if not inside.any():
        bins = [f"({s:g}, {e:g})" for s, e in zip(starts, ends, strict=True)]
        raise RecordingError(
            f"no time bin {'overlaps' if overlapping else 'lies inside'} ({start:g}, {end:g}) "
            f"ms; bins: {_preview(bins, 8)}"
        )
    out = rec.isel(time_bin=np.flatnonzero(inside)).mean(TIME_DIM, skipna=False, keep_attrs=True)
    return out.assign_coords(
        time_bin_start=float(starts[inside].min()), time_bin_end=float(ends[inside].max())
    )


def concat_neuroids(
    recordings: Sequence[xr.DataArray], *, identifier: str | None = None
) -> xr.DataArray:
    """Pool recordings of the same stimuli (e.g. one per animal or session) along neuroid.

    Stimuli are put in the order of the first recording; trials are NaN-padded to the largest
    trial count. Extra stimulus coords come from the first recording, extra neuroid coords
    present in every recording are kept.

    Parameters
    ----------
    recordings : sequence of NeuralRecording
        Same stimulus ids and time bins; neuroid ids unique across them.
    identifier : str, optional
        Of the result; default the identifiers joined with '+'.

    Returns
    -------
    xarray.DataArray
    """
    if not recordings:
        raise RecordingError("concat_neuroids needs at least one recording")
    for rec in recordings:
        _check_structure(rec)
    first = recordings[0]
    ids = first.coords["stimulus_id"].values
    has_time = TIME_DIM in first.dims
    n_trials = max(r.sizes["trial"] for r in recordings)
    blocks = []
    for rec in recordings:
        if (TIME_DIM in rec.dims) != has_time or (
            has_time
            and not (
                np.array_equal(rec.time_bin_start.values, first.time_bin_start.values)
                and np.array_equal(rec.time_bin_end.values, first.time_bin_end.values)
            )
        ):
            raise RecordingError(
                f"recording {rec.attrs.get('identifier')!r} has different time bins from "
                f"{first.attrs.get('identifier')!r}; average or select matching bins first"
            )
        position = pd.Index(rec.coords["stimulus_id"].values).get_indexer(ids)
        if (position < 0).any() or rec.sizes["stimulus"] != len(ids):
            missing = ids[position < 0]
            extra = np.setdiff1d(rec.coords["stimulus_id"].values, ids)
            raise RecordingError(
                f"recording {rec.attrs.get('identifier')!r} lacks {_plural(len(missing), 'stimulus')}"
                f" of {first.attrs.get('identifier')!r} ({_preview(missing)}) and has "
                f"{len(extra)} others ({_preview(extra)}); restrict both to shared stimuli first"
            )
        values = np.asarray(rec.values, dtype=np.float64)[position]
        pad = [(0, 0)] * values.ndim
        pad[2] = (0, n_trials - values.shape[2])
        blocks.append(np.pad(values, pad, constant_values=np.nan))
    extra_neuroid = [
        name
        for name, coord in first.coords.items()
        if coord.dims == ("neuroid",)
        and name not in _RESERVED
        and all(name in r.coords and r.coords[name].dims == ("neuroid",) for r in recordings)
    ]
    stimulus_extra = {
        name: coord.values
        for name, coord in first.coords.items()
        if coord.dims == ("stimulus",) and name not in _RESERVED
    }

    def joined(name: str) -> np.ndarray:
        return np.concatenate([np.asarray(r.coords[name].values) for r in recordings])

    time_bins = (
        np.stack([first.time_bin_start.values, first.time_bin_end.values], axis=-1)
        if has_time
        else None
    )
    return make_recording(
        np.concatenate(blocks, axis=1),
        stimulus_ids=ids,
        neuroid_ids=joined("neuroid_id"),
        animal=joined("animal"),
        region=joined("region"),
        time_bins=time_bins,
        identifier=identifier or "+".join(str(r.attrs.get("identifier")) for r in recordings),
        stimulus_set_identifier=first.attrs.get("stimulus_set_identifier"),
        stimulus_coords=stimulus_extra,
        neuroid_coords={name: joined(name) for name in extra_neuroid},
        min_trials=0,
    )


def summary(rec: xr.DataArray) -> dict[str, Any]:
    """Counts that describe a recording (for logs, reports and the CLI).

    Returns
    -------
    dict
        ``identifier``, ``stimulus_set_identifier``, ``n_stimuli``, ``n_neuroids``,
        ``n_trials`` (length of the trial axis), ``n_time_bins`` (0 without a time_bin dim),
        ``regions`` and ``animals`` (label -> neuroid count), ``trials`` (min / median / max
        non-NaN trials per stimulus and neuroid; with time bins, in the sparsest bin) and
        ``nan_fraction``.
    """
    _check_structure(rec)
    values = np.asarray(rec.values, dtype=np.float64)
    counts = (~np.isnan(values)).sum(axis=2)
    if counts.ndim == 3:
        counts = counts.min(axis=2)

    def tally(name: str) -> dict[str, int]:
        labels, n = np.unique(rec.coords[name].values, return_counts=True)
        return {str(label): int(k) for label, k in zip(labels, n, strict=True)}

    return {
        "identifier": rec.attrs.get("identifier"),
        "stimulus_set_identifier": rec.attrs.get("stimulus_set_identifier"),
        "n_stimuli": rec.sizes["stimulus"],
        "n_neuroids": rec.sizes["neuroid"],
        "n_trials": rec.sizes["trial"],
        "n_time_bins": rec.sizes.get(TIME_DIM, 0),
        "regions": tally("region"),
        "animals": tally("animal"),
        "trials": {
            "min": int(counts.min()) if counts.size else 0,
            "median": float(np.median(counts)) if counts.size else 0.0,
            "max": int(counts.max()) if counts.size else 0,
        },
        "nan_fraction": float(np.isnan(values).mean()) if values.size else 0.0,
    }


# --------------------------------------------------------------------------------------------
# dispatch on file suffix


def read_recording(
    path: str | Path,
    *,
    axes: str | Sequence[str] | None = None,
    drop_nan_neuroids: bool = False,
    **kwargs: Any,
) -> xr.DataArray:
    """Read a recording, choosing the reader by suffix.

    ``.nc`` -> :func:`read_brainio_netcdf`, ``.nwb`` -> :func:`read_nwb`,
    ``.npz`` -> :func:`read_npz`, ``.npy`` -> :func:`read_npy`; ``kwargs`` go to that reader.
    ``axes`` (the order of a bare ``.npy`` array's axes) is refused for the other formats,
    whose files name their dims; ``drop_nan_neuroids`` drops neuroids without any non-NaN
    response (every reader).

    Returns
    -------
    xarray.DataArray
        A NeuralRecording (loaded into memory).
    """
    path = Path(path)
    readers = {
        ".nc": read_brainio_netcdf,
        ".nwb": read_nwb,
        ".npz": read_npz,
        ".npy": read_npy,
    }
    suffix = path.suffix.lower()
    if suffix not in readers:
        raise RecordingError(
            f"cannot read {str(path)!r}: unsupported suffix {path.suffix!r}; supported: "
            f"{', '.join(SUFFIXES)} (BrainIO netCDF, NWB, numpy)"
        )
    if axes is not None:
        if suffix != ".npy":
            raise RecordingError(
                f"an axis order (axes / --axes) applies to a bare .npy array only; "
                f"{str(path)!r} ({suffix}) names its own dims, so leave it out"
            )
        kwargs["axes"] = axes
    return readers[suffix](path, drop_nan_neuroids=drop_nan_neuroids, **kwargs)


def write_recording(rec: xr.DataArray, path: str | Path) -> Path:
    """Write a recording as BrainIO netCDF (``.nc``) or numpy (``.npz``); return the path."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix == ".nc":
        return write_brainio_netcdf(rec, path)
    if suffix == ".npz":
        return write_npz(rec, path)
    hint = " (write_nwb writes spike times, not recordings)" if suffix == ".nwb" else ""
    raise RecordingError(
        f"cannot write {str(path)!r}: unsupported suffix {path.suffix!r}; write_recording "
        f"writes .nc (BrainIO netCDF) or .npz{hint}"
    )


# --------------------------------------------------------------------------------------------
# presentations <-> trials (shared by the BrainIO and NWB readers)


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


# --------------------------------------------------------------------------------------------
# BrainIO / Brain-Score netCDF assemblies (spec §10)


def recording_from_assembly(
    assembly: xr.DataArray,
    *,
    identifier: str | None = None,
    stimulus_set_identifier: str | None = None,
    squeeze_time: bool = True,
    drop_nan_neuroids: bool = False,
) -> xr.DataArray:
    """Convert a BrainIO/Brain-Score assembly (presentation x neuroid [x time_bin]).

    Presentations sharing a ``stimulus_id`` (or the legacy ``image_id``) become trials,
    ordered by ``repetition`` when present and by order of appearance otherwise; stimuli with
    fewer repetitions get NaN trials. Presentation coordinates that are constant for each
    stimulus (``object_name``, ``image_file_name``, ...) become stimulus coordinates; the others
    become (stimulus, trial) coordinates (``repetition`` only when it is not simply 0, 1, 2, ...
    per stimulus). Neuroid and time-bin coordinates are kept. Missing ``neuroid_id`` ->
    ``neuroid_0``, ...; missing ``animal``/``region`` -> ``'unknown'``.

    Parameters
    ----------
    assembly : xarray.DataArray
        In memory (MultiIndex coordinates allowed) or as opened from a netCDF file.
    identifier, stimulus_set_identifier : str, optional
        Default: the assembly's attrs.
    squeeze_time : bool
        Drop a time_bin dim of length 1, keeping its start and end as scalar coordinates.
    drop_nan_neuroids : bool
        Drop neuroids without any non-NaN response instead of refusing them.

    Returns
    -------
    xarray.DataArray
        A NeuralRecording, dims (stimulus, neuroid, trial[, time_bin]).
    """
    dims = tuple(assembly.dims)
    if "presentation" not in dims or "neuroid" not in dims:
        raise RecordingError(
            f"a BrainIO assembly has dims presentation x neuroid [x time_bin]; got {dims}"
        )
    unexpected = [d for d in dims if d not in ("presentation", "neuroid", TIME_DIM)]
    if unexpected:
        raise RecordingError(
            f"assembly has dims {dims}; only presentation, neuroid and time_bin are supported "
            f"(select or average over {unexpected} first)"
        )
    if assembly.indexes:
        assembly = assembly.reset_index(list(assembly.indexes))
    has_time = TIME_DIM in dims
    assembly = assembly.transpose("presentation", "neuroid", *((TIME_DIM,) if has_time else ()))
    by_dim: dict[tuple[str, ...], dict[str, np.ndarray]] = {}
    for name, coord in assembly.coords.items():
        by_dim.setdefault(coord.dims, {})[str(name)] = coord.values
    presentation = by_dim.get(("presentation",), {})
    presentation.pop("presentation", None)
    id_name = next((c for c in ("stimulus_id", "image_id") if c in presentation), None)
    if id_name is None:
        raise RecordingError(
            f"assembly has no 'stimulus_id' (or legacy 'image_id') coordinate along presentation;"
            f" presentation coordinates: {_preview(presentation, 20) or 'none'}"
        )
    stimulus_ids = _as_str_array(presentation.pop(id_name))
    repetition = presentation.get("repetition")
    grouping = _group_presentations(
        stimulus_ids, None if repetition is None else np.asarray(repetition)
    )
    values = _scatter_trials(np.asarray(assembly.values, dtype=np.float64), grouping)

    stimulus_coords, trial_coords = {}, {}
    for name, column in presentation.items():
        column = _tidy_coord(column)
        target = f"{name}_original" if name in _RESERVED else name
        if name == "repetition" and np.array_equal(column, grouping.trial):
            continue  # the trial axis already says it
        at_first = column[grouping.first]
        if np.all(_same(column, at_first[grouping.codes])):
            stimulus_coords[target] = at_first
        else:
            trial_coords[target] = _presentation_coord_grid(column, grouping)

    neuroid = dict(by_dim.get(("neuroid",), {}))
    neuroid.pop("neuroid", None)
    neuroid_ids = neuroid.pop("neuroid_id", None)
    animal = neuroid.pop("animal", None)
    region = neuroid.pop("region", None)
    neuroid_coords = {
        (f"{k}_original" if k in _RESERVED else k): _tidy_coord(v) for k, v in neuroid.items()
    }

    time_bins, time_coords = None, {}
    if has_time:
        time = dict(by_dim.get((TIME_DIM,), {}))
        time.pop(TIME_DIM, None)
        missing = [c for c in ("time_bin_start", "time_bin_end") if c not in time]
        if missing:
            raise RecordingError(
                f"assembly has a time_bin dim but no {' or '.join(map(repr, missing))} "
                f"coordinate; add time_bin_start and time_bin_end (ms after onset)"
            )
        time_bins = np.stack([time.pop("time_bin_start"), time.pop("time_bin_end")], axis=-1)
        time_coords = {k: (TIME_DIM, _tidy_coord(v)) for k, v in time.items()}

    rec = make_recording(
        values,
        stimulus_ids=grouping.stimulus_ids,
        neuroid_ids=None if neuroid_ids is None else _as_str_array(neuroid_ids),
        animal=None if animal is None else _as_str_array(animal),
        region=None if region is None else _as_str_array(region),
        time_bins=time_bins,
        identifier=identifier or str(assembly.attrs.get("identifier") or "recording"),
        stimulus_set_identifier=stimulus_set_identifier
        or (str(assembly.attrs.get("stimulus_set_identifier") or "") or None),
        stimulus_coords=stimulus_coords,
        neuroid_coords=neuroid_coords,
        min_trials=0,
        drop_nan_neuroids=drop_nan_neuroids,
    )
    scalars = {
        str(name): coord.values
        for name, coord in assembly.coords.items()
        if coord.dims == () and name not in rec.coords
    }
    rec = rec.assign_coords(
        {name: (("stimulus", "trial"), grid) for name, grid in trial_coords.items()}
        | time_coords
        | scalars
    )
    if has_time and squeeze_time and rec.sizes[TIME_DIM] == 1:
        rec = rec.isel({TIME_DIM: 0})
    return rec


def recording_to_assembly(rec: xr.DataArray) -> xr.DataArray:
    """Convert a recording to a BrainIO assembly (presentation x neuroid [x time_bin]).

    One presentation per (stimulus, trial) with any non-NaN response, stimulus-major, with
    coordinates ``stimulus_id``, ``repetition`` (the trial index, or the recording's
    (stimulus, trial) ``repetition`` coordinate), the extra stimulus and (stimulus, trial)
    coordinates; neuroid and time-bin coordinates as they are. A recording with scalar
    ``time_bin_start``/``time_bin_end`` gets a time_bin dim of length 1. All coordinates are
    plain (non-index), as BrainIO writes them after ``reset_index``; coordinates along other
    combinations of dims (e.g. (stimulus, neuroid)) are left out.

    Returns
    -------
    xarray.DataArray
        Dims ("presentation", "neuroid"[, "time_bin"]), attrs of the recording.
    """
    _check_structure(rec)
    if TIME_DIM not in rec.dims and "time_bin_start" in rec.coords:
        start, end = rec.coords["time_bin_start"].values, rec.coords["time_bin_end"].values
        rec = rec.drop_vars(["time_bin_start", "time_bin_end"]).expand_dims(TIME_DIM, axis=3)
        rec = rec.assign_coords(time_bin_start=(TIME_DIM, [start]), time_bin_end=(TIME_DIM, [end]))
    values = np.asarray(rec.values, dtype=np.float64)
    other = (1, 3) if values.ndim == 4 else (1,)
    present = (~np.isnan(values)).any(axis=other)  # (stimulus, trial)
    s_index, t_index = np.nonzero(present)
    data = values[s_index, :, t_index]
    coords: dict[str, Any] = {}
    for name, coord in rec.coords.items():
        name = str(name)
        if name == "trial":
            continue
        vals = coord.values
        if coord.dims == ("stimulus",):
            coords[name] = ("presentation", vals[s_index])
        elif coord.dims == ("stimulus", "trial"):
            vals = vals[s_index, t_index]
            if name == "repetition" and vals.dtype.kind == "f" and np.all(vals == np.round(vals)):
                vals = vals.astype(np.int64)
            coords[name] = ("presentation", vals)
        elif coord.dims == ("trial",):
            coords[name] = ("presentation", vals[t_index])
        elif coord.dims in (("neuroid",), (TIME_DIM,), ()):
            coords[name] = (coord.dims, vals)
    coords.setdefault("repetition", ("presentation", t_index.astype(np.int64)))
    dims = ("presentation", "neuroid", *((TIME_DIM,) if values.ndim == 4 else ()))
    return xr.DataArray(data, dims=dims, coords=coords, attrs=dict(rec.attrs))


def _netcdf_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Attributes netCDF can hold; None ``stimulus_set_identifier`` becomes ''."""
    out = {}
    for key, value in attrs.items():
        if key == "stimulus_set_identifier" and value is None:
            value = ""
        if isinstance(value, str | int | float | np.number | bool):
            out[key] = value
    return out


def write_brainio_netcdf(rec: xr.DataArray, path: str | Path, *, compress: bool = True) -> Path:
    """Write a recording as a BrainIO / Brain-Score netCDF-4 assembly.

    The layout is that of BrainIO's ``write_netcdf``: one data variable ``data`` with dims
    presentation x neuroid [x time_bin] (see :func:`recording_to_assembly`), plain coordinates
    (no MultiIndex), gzip level 1, and ``identifier`` / ``stimulus_set_identifier`` as global
    attributes (and on the data variable, where BrainIO's own writer puts them).

    Returns
    -------
    pathlib.Path
        ``path``.
    """
    path = Path(path)
    assembly = recording_to_assembly(rec)
    attrs = _netcdf_attrs(assembly.attrs)
    assembly.attrs = attrs
    dataset = assembly.to_dataset(name="data")
    dataset.attrs = dict(attrs)
    encoding: dict[str, dict[str, Any]] = {}
    if compress:
        # shuffle: float32 data stored as float64 then compresses 2-3x faster and smaller
        encoding = {
            name: {"zlib": True, "complevel": 1, "shuffle": True}
            for name, var in dataset.variables.items()
            if var.dtype.kind in "fiub" and var.ndim > 0 and var.size > 0
        }
        if "data" in encoding:
            # whole presentations per chunk (~2 MB): HDF5's automatic chunks split neuroids
            # finely and make compression several times slower
            row_bytes = 8 * int(np.prod(assembly.shape[1:]))
            rows = int(np.clip(2**21 // max(row_bytes, 1), 1, assembly.shape[0]))
            encoding["data"]["chunksizes"] = (rows, *assembly.shape[1:])
    path.parent.mkdir(parents=True, exist_ok=True)
    dataset.to_netcdf(path, engine="h5netcdf", encoding=encoding)
    return path


def _data_variable(dataset: xr.Dataset, path: Path) -> xr.DataArray:
    """The one data variable of an assembly file; 1-D variables along its dims as coords."""
    names = list(dataset.data_vars)
    if not names:
        raise RecordingError(f"{str(path)!r} holds no data variable")
    main = max(names, key=lambda n: (dataset[n].ndim, dataset[n].size))
    others = [n for n in names if n != main]
    stray = [n for n in others if not set(dataset[n].dims) <= set(dataset[main].dims)]
    if stray:
        raise RecordingError(
            f"{str(path)!r} holds several data variables ({_preview(names)}); a BrainIO "
            f"assembly has one (plus coordinates along its dims)"
        )
    return dataset.set_coords(others)[main]


def read_brainio_netcdf(
    path: str | Path, *, squeeze_time: bool = True, drop_nan_neuroids: bool = False
) -> xr.DataArray:
    """Read a BrainIO / Brain-Score netCDF assembly (or a recording saved with ``to_netcdf``).

    Parameters
    ----------
    path : str or Path
        A netCDF-4 file with one data variable, dims presentation x neuroid [x time_bin]
        (e.g. a downloaded ``assy_dicarlo_MajajHong2015_public.nc``). Files whose dims are
        already (stimulus, neuroid, trial[, time_bin]) are read as they are.
    squeeze_time : bool
        Drop a time_bin dim of length 1, keeping its bounds as scalar coordinates.
    drop_nan_neuroids : bool
        Drop neuroids without any non-NaN response instead of refusing them.

    Returns
    -------
    xarray.DataArray
        A NeuralRecording in memory; see :func:`recording_from_assembly` for what happens to
        each coordinate. ``identifier`` comes from the file (variable or global attribute),
        else the file name; ``stimulus_set_identifier`` is None when absent or empty.
    """
    path = _existing(path)
    try:
        dataset = xr.open_dataset(path, engine="h5netcdf")
    except Exception as err:  # h5py/h5netcdf raise many types for a non-netCDF file
        raise RecordingError(
            f"could not open {str(path)!r} as netCDF-4 ({type(err).__name__}: {err}); BrainIO "
            f"assemblies are netCDF-4 (HDF5) files"
        ) from None
    with dataset:
        array = _data_variable(dataset, path).load()
        attrs = {**dataset.attrs, **array.attrs}
    identifier = str(attrs.get("identifier") or path.stem)
    stimulus_set_identifier = attrs.get("stimulus_set_identifier") or None
    if set(array.dims) <= {*DIMS, TIME_DIM} and set(DIMS) <= set(array.dims):
        array = array.transpose(*DIMS, *((TIME_DIM,) if TIME_DIM in array.dims else ()))
        array.name = None
        array.attrs = {
            "identifier": identifier,
            "stimulus_set_identifier": None
            if stimulus_set_identifier is None
            else str(stimulus_set_identifier),
        }
        for name in ("stimulus_id", "neuroid_id", "animal", "region"):
            if name in array.coords:
                array = array.assign_coords(
                    {name: (array.coords[name].dims, _as_str_array(array.coords[name].values))}
                )
        if drop_nan_neuroids:
            array = remove_nan_neuroids(array)
        return validate_recording(array, min_trials=0)
    return recording_from_assembly(
        array,
        identifier=identifier,
        stimulus_set_identifier=None
        if stimulus_set_identifier is None
        else str(stimulus_set_identifier),
        squeeze_time=squeeze_time,
        drop_nan_neuroids=drop_nan_neuroids,
    )


# --------------------------------------------------------------------------------------------
# numpy files

_NPZ_KEYS = {
    "responses": "responses",
    "stimulus_ids": "stimulus_ids",
    "stimulus_id": "stimulus_ids",
    "neuroid_ids": "neuroid_ids",
    "neuroid_id": "neuroid_ids",
    "animal": "animal",
    "animals": "animal",
    "region": "region",
    "regions": "region",
    "time_bins": "time_bins",
    "identifier": "identifier",
    "stimulus_set_identifier": "stimulus_set_identifier",
}
_STIMULUS_PREFIX, _NEUROID_PREFIX, _TRIAL_PREFIX = (
    "stimulus_coord_",
    "neuroid_coord_",
    "trial_coord_",
)


def write_npz(rec: xr.DataArray, path: str | Path) -> Path:
    """Write a recording as ``.npz`` (compressed), readable by :func:`read_npz`.

    Keys: ``responses`` (stimulus, neuroid, trial[, time_bin]), ``stimulus_ids``,
    ``neuroid_ids``, ``animal``, ``region``, ``time_bins`` (K, 2) when known, ``identifier``,
    ``stimulus_set_identifier`` (when set), and extra coordinates as
    ``stimulus_coord_<name>``, ``neuroid_coord_<name>`` and ``trial_coord_<name>``
    ((stimulus, trial) coordinates). Strings are saved as numpy str arrays (no pickle).
    """
    _check_structure(rec)
    path = Path(path)
    arrays: dict[str, np.ndarray] = {
        "responses": np.asarray(rec.values, dtype=np.float64),
        "stimulus_ids": _as_str_array(rec.stimulus_id.values),
        "neuroid_ids": _as_str_array(rec.neuroid_id.values),
        "animal": _as_str_array(rec.animal.values),
        "region": _as_str_array(rec.region.values),
        "identifier": np.array(str(rec.attrs.get("identifier", path.stem))),
    }
    if rec.attrs.get("stimulus_set_identifier") is not None:
        arrays["stimulus_set_identifier"] = np.array(str(rec.attrs["stimulus_set_identifier"]))
    if "time_bin_start" in rec.coords:
        arrays["time_bins"] = np.stack(
            [
                np.atleast_1d(rec.time_bin_start.values).astype(float),
                np.atleast_1d(rec.time_bin_end.values).astype(float),
            ],
            axis=-1,
        )
    prefixes = {
        ("stimulus",): _STIMULUS_PREFIX,
        ("neuroid",): _NEUROID_PREFIX,
        ("stimulus", "trial"): _TRIAL_PREFIX,
    }
    for name, coord in rec.coords.items():
        if name not in _RESERVED and coord.dims in prefixes:
            arrays[prefixes[coord.dims] + str(name)] = _tidy_coord(coord.values)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:  # a file handle keeps numpy from appending '.npz'
        np.savez_compressed(handle, **arrays)
    return path


def read_npz(path: str | Path, *, drop_nan_neuroids: bool = False) -> xr.DataArray:
    """Read a recording from ``.npz``.

    Parameters
    ----------
    path : str or Path
        Must hold ``responses`` (stimulus, neuroid, trial[, time_bin]); may hold
        ``stimulus_ids``, ``neuroid_ids``, ``animal``, ``region``, ``time_bins`` (K, 2),
        ``identifier``, ``stimulus_set_identifier`` and the extra-coordinate keys written by
        :func:`write_npz`. Missing ids are generated (``stimulus_0``..., ``neuroid_0``...).
    drop_nan_neuroids : bool
        Drop neuroids without any non-NaN response instead of refusing them.

    Returns
    -------
    xarray.DataArray
    """
    path = _existing(path)
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
    except ValueError as err:
        raise RecordingError(
            f"could not read {str(path)!r} ({err}); save strings as numpy str arrays "
            f"(np.asarray(ids, dtype=str)), not Python objects"
        ) from None
    if "responses" not in arrays:
        raise RecordingError(
            f"{str(path)!r} has no 'responses' array (arrays: {_preview(arrays, 20)}); save the "
            f"(stimulus, neuroid, trial[, time_bin]) responses under the key 'responses'"
        )
    known, extra = {}, {"stimulus": {}, "neuroid": {}, "trial": {}}
    for key, value in arrays.items():
        if key in _NPZ_KEYS:
            known[_NPZ_KEYS[key]] = value
        elif key.startswith(_STIMULUS_PREFIX):
            extra["stimulus"][key[len(_STIMULUS_PREFIX) :]] = value
        elif key.startswith(_NEUROID_PREFIX):
            extra["neuroid"][key[len(_NEUROID_PREFIX) :]] = value
        elif key.startswith(_TRIAL_PREFIX):
            extra["trial"][key[len(_TRIAL_PREFIX) :]] = value
        else:
            raise RecordingError(
                f"{str(path)!r} has an unknown array {key!r}; expected 'responses' and optionally "
                f"{', '.join(repr(k) for k in sorted(set(_NPZ_KEYS.values())) if k != 'responses')}"
                f" (or '{_STIMULUS_PREFIX}<name>', '{_NEUROID_PREFIX}<name>', '{_TRIAL_PREFIX}<name>')"
            )
    data = known["responses"]
    if data.ndim not in (3, 4):
        raise RecordingError(
            f"'responses' in {str(path)!r} has shape {data.shape}; expected (stimulus, neuroid, "
            f"trial) or (stimulus, neuroid, trial, time_bin)"
        )
    ssid = known.get("stimulus_set_identifier")
    rec = make_recording(
        data,
        stimulus_ids=known.get("stimulus_ids", [f"stimulus_{i}" for i in range(data.shape[0])]),
        neuroid_ids=known.get("neuroid_ids"),
        animal=known.get("animal"),
        region=known.get("region"),
        time_bins=known.get("time_bins"),
        identifier=str(known["identifier"]) if "identifier" in known else path.stem,
        stimulus_set_identifier=None if ssid is None else str(ssid),
        stimulus_coords=extra["stimulus"],
        neuroid_coords=extra["neuroid"],
        min_trials=0,
        drop_nan_neuroids=drop_nan_neuroids,
    )
    for name, grid in extra["trial"].items():
        if grid.shape != (rec.sizes["stimulus"], rec.sizes["trial"]):
            raise RecordingError(
                f"'{_TRIAL_PREFIX}{name}' has shape {grid.shape}; expected (stimulus, trial) = "
                f"{(rec.sizes['stimulus'], rec.sizes['trial'])}"
            )
        rec = rec.assign_coords({name: (("stimulus", "trial"), grid)})
    return rec


def _npy_axes(axes: str | Sequence[str] | None, ndim: int, path: Path) -> tuple[str, ...]:
    """The dim of each array axis: ``axes`` checked, or the default (stimulus, neuroid, ...)."""
    dims = (*DIMS, TIME_DIM)[:ndim]
    if axes is None:
        return dims
    names = [a.strip() for a in axes.split(",")] if isinstance(axes, str) else list(axes)
    names = [TIME_DIM if a == "time" else a for a in names]
    if sorted(names) != sorted(dims):
        raise RecordingError(
            f"axes {','.join(map(str, names))!r} must name each of the {ndim} axes of the array "
            f"in {str(path)!r} (shape {'x'.join(map(str, _npy_shape(path)))}) once: "
            f"{', '.join(dims)} in the file's order, e.g. "
            f"axes={','.join(('neuroid', 'stimulus', *dims[2:]))!r}"
        )
    return tuple(names)


def _npy_shape(path: Path) -> tuple[int, ...]:
    return tuple(np.load(path, mmap_mode="r", allow_pickle=False).shape)


def read_npy(
    path: str | Path,
    *,
    axes: str | Sequence[str] | None = None,
    stimulus_ids: Sequence[Any] | None = None,
    neuroid_ids: Sequence[Any] | None = None,
    animal: str | Sequence[str] | None = None,
    region: str | Sequence[str] | None = None,
    time_bins: Sequence[tuple[float, float]] | None = None,
    drop_nan_neuroids: bool = False,
) -> xr.DataArray:
    """Read a bare ``.npy`` array as a recording.

    The file carries no labels: stimulus ids default to ``stimulus_0``, ``stimulus_1``, ...
    (in array order along the stimulus axis), neuroid ids to ``neuroid_0``, ..., animal and
    region to ``'unknown'``, unless passed here. 4-D arrays need ``time_bins``.

    Parameters
    ----------
    path : str or Path
    axes : sequence of str or comma-separated str, optional
        The dim of each array axis in the file's order, a permutation of ``("stimulus",
        "neuroid", "trial")`` (4-D: plus ``"time_bin"``), e.g. ``("neuroid", "stimulus",
        "trial")`` for an array saved neuroid-first. Default (stimulus, neuroid, trial[,
        time_bin]). Recorded in ``attrs["npy_axes"]`` (``attrs["npy_axes_source"]`` says
        whether it was given or the default, for :func:`check_stimuli_match`).
    stimulus_ids, neuroid_ids, animal, region, time_bins
        As in :func:`make_recording`.
    drop_nan_neuroids : bool
        Drop neuroids without any non-NaN response instead of refusing them.

    Returns
    -------
    xarray.DataArray
    """
    path = _existing(path)
    data = np.load(path, allow_pickle=False)
    if data.ndim not in (3, 4):
        raise RecordingError(
            f"{str(path)!r} holds an array of shape {data.shape}; expected (stimulus, neuroid, "
            f"trial) or (stimulus, neuroid, trial, time_bin) (in any order, named with axes=...)"
        )
    order = _npy_axes(axes, data.ndim, path)
    data = data.transpose([order.index(d) for d in (*DIMS, TIME_DIM)[: data.ndim]])
    rec = make_recording(
        data,
        stimulus_ids=[f"stimulus_{i}" for i in range(data.shape[0])]
        if stimulus_ids is None
        else stimulus_ids,
        neuroid_ids=neuroid_ids,
        animal=animal,
        region=region,
        time_bins=time_bins,
        identifier=path.stem,
        min_trials=0,
        drop_nan_neuroids=drop_nan_neuroids,
    )
    rec.attrs["npy_axes"] = ",".join(order)
    rec.attrs["npy_axes_source"] = "default" if axes is None else "given"
    return rec


# --------------------------------------------------------------------------------------------
# NWB: units table + stimulus presentation intervals -> spike counts


def _presentation_table(nwb: Any, name: str | None, column: str | None, path: Path) -> Any:
    tables = dict(nwb.intervals or {})
    if nwb.trials is not None:
        tables.setdefault("trials", nwb.trials)
    if name is not None:
        if name not in tables:
            raise RecordingError(
                f"{str(path)!r} has no intervals table {name!r}; tables: "
                f"{_preview(tables, 20) or 'none'}"
            )
        return tables[name]
    preferred = [
        "presentations",
        *[t for t in tables if t not in ("presentations", "trials")],
        "trials",
    ]
    wanted = _STIMULUS_COLUMNS if column is None else (column,)
    for candidate in preferred:
        table = tables.get(candidate)
        if table is not None and any(c in table.colnames for c in wanted):
            return table
    described = "; ".join(f"{t!r}: {', '.join(tables[t].colnames)}" for t in tables) or "none"
    raise RecordingError(
        f"{str(path)!r} has no intervals table with a stimulus column "
        f"({', '.join(wanted)}); tables and their columns: {described}; store stimulus "
        f"presentations as an intervals table (e.g. 'presentations') with start_time and "
        f"stimulus_id, or name the table and column with intervals=... and stimulus_column=..."
    )


def _unit_regions(units: Any) -> np.ndarray | None:
    """Per-unit region from a units column, the units' electrodes, or their electrode groups."""
    for column in _REGION_COLUMNS:
        if column in units.colnames:
            return _as_str_array(units[column].data[:])
    if "electrodes" in units.colnames:
        region = units.electrodes
        flat = np.asarray(region.data[:])
        ends = np.asarray(units.electrodes_index.data[:])
        starts = np.concatenate([[0], ends[:-1]])
        table = region.table
        if "location" in table.colnames and len(flat):
            locations = _as_str_array(table["location"].data[:])
            return np.array(
                [
                    locations[flat[s]] if e > s else UNKNOWN
                    for s, e in zip(starts, ends, strict=True)
                ]
            )
    if "electrode_group" in units.colnames:
        return np.array([str(group.location) for group in units["electrode_group"].data[:]])
    return None


def read_nwb(
    path: str | Path,
    *,
    time_bins: Sequence[tuple[float, float]] = ((70, 170),),
    region: str | Sequence[str] | None = None,
    animal: str | Sequence[str] | None = None,
    intervals: str | None = None,
    stimulus_column: str | None = None,
    rate: bool = False,
    squeeze_time: bool = True,
    drop_nan_neuroids: bool = False,
) -> xr.DataArray:
    """Spike counts per stimulus presentation and time bin from an NWB file.

    Spikes come from the units table (``spike_times`` per unit); presentations from an
    intervals table: ``intervals`` if given, else ``presentations``, else any table with a
    stimulus column, else ``trials``. Its ``start_time`` (s) is the onset and the stimulus is
    the first of the columns stimulus_id, image_id, stimulus_name, image_name,
    stimulus_index, image_index, frame present (or ``stimulus_column``). Presentations of the
    same stimulus become its trials, in time order; stimuli shown fewer times get NaN trials.

    Parameters
    ----------
    path : str or Path
    time_bins : sequence of (start_ms, end_ms)
        Counting windows relative to onset; a spike at t counts when
        ``onset + start <= t < onset + end``.
    region : str or sequence of str, optional
        Keep units in these regions. Regions are read from a units column (region,
        brain_area, brain_region, area, location, ecephys_structure_acronym,
        structure_acronym), else the ``location`` of each unit's first electrode, else its
        electrode group. A file without any of these labels its units with ``region`` when it
        is a single string (else 'unknown').
    animal : str or sequence of str, optional
        With a per-unit ``animal`` (or ``subject``, ``subject_id``) units column: keep units of
        these animals. Otherwise the label of every unit (a single string); default the
        subject id, else the file's identifier.
    intervals, stimulus_column : str, optional
        Which intervals table and column name the stimulus.
    rate : bool
        Return spikes per second (count / bin width) instead of counts.
    squeeze_time : bool
        With a single time bin return (stimulus, neuroid, trial) with scalar time-bin coords.
    drop_nan_neuroids : bool
        Drop neuroids without any non-NaN response instead of refusing them.

    Returns
    -------
    xarray.DataArray
        Neuroid ids are the ``unit_name`` column when present, else ``<animal>_unit<id>``.
    """
    from pynwb import NWBHDF5IO

    path = _existing(path)
    bins = _time_bins(time_bins)
    with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
        nwb = io.read()
        units = nwb.units
        if units is None or len(units) == 0 or "spike_times" not in units.colnames:
            raise RecordingError(
                f"{str(path)!r} has no units table with spike_times; read_nwb needs sorted "
                f"spikes (nwb.units)"
            )
        flat_spikes = np.asarray(units.spike_times.data[:], dtype=np.float64)
        ends = np.asarray(units.spike_times_index.data[:], dtype=np.int64)
        unit_ids = np.asarray(units.id.data[:])
        names = _as_str_array(units["unit_name"].data[:]) if "unit_name" in units.colnames else None
        regions = _unit_regions(units)
        animal_column = next((c for c in _ANIMAL_COLUMNS if c in units.colnames), None)
        animals = None if animal_column is None else _as_str_array(units[animal_column].data[:])
        table = _presentation_table(nwb, intervals, stimulus_column, path)
        column = stimulus_column or next(
            (c for c in _STIMULUS_COLUMNS if c in table.colnames), _STIMULUS_COLUMNS[0]
        )
        if column not in table.colnames:
            raise RecordingError(
                f"intervals table {table.name!r} has no column {column!r}; columns: "
                f"{_preview(table.colnames, 20)}; name the stimulus column with "
                f"stimulus_column=..."
            )
        onsets = np.asarray(table["start_time"].data[:], dtype=np.float64)
        stimuli = _as_str_array(table[column].data[:])
        subject = getattr(nwb, "subject", None)
        subject_id = getattr(subject, "subject_id", None) if subject is not None else None
        identifier = str(nwb.identifier)

    keep_presentation = np.isfinite(onsets)
    onsets, stimuli = onsets[keep_presentation], stimuli[keep_presentation]
    # a label the file lacks is given by the argument; a label the file has is filtered on
    unit_mask = np.ones(len(unit_ids), bool)
    if regions is None:
        regions = np.full(len(unit_ids), region if isinstance(region, str) else UNKNOWN)
    else:
        unit_mask &= _match(regions, region, "region")
    if animals is None:
        label = animal if isinstance(animal, str) else (subject_id or identifier)
        animals = np.full(len(unit_ids), str(label))
    else:
        unit_mask &= _match(animals, animal, "animal")
    starts = np.concatenate([[0], ends[:-1]])
    lo = onsets[:, None] + bins[None, :, 0] / 1000.0  # (presentation, bin), seconds
    hi = onsets[:, None] + bins[None, :, 1] / 1000.0
    selected = np.flatnonzero(unit_mask)
    counts = np.empty((len(onsets), len(selected), len(bins)))
    for j, u in enumerate(selected):
        spikes = np.sort(flat_spikes[starts[u] : ends[u]])
        counts[:, j] = np.searchsorted(spikes, hi, "left") - np.searchsorted(spikes, lo, "left")
    if rate:
        counts /= (bins[:, 1] - bins[:, 0]) / 1000.0
    # presentations of a stimulus become trials in time order
    order = np.argsort(onsets, kind="stable")
    grouping = _group_presentations(stimuli[order], None)
    values = _scatter_trials(counts[order], grouping)
    if squeeze_time and len(bins) == 1:
        values = values[..., 0]
    neuroid_ids = (
        names[selected]
        if names is not None
        else [f"{animals[u]}_unit{unit_ids[u]}" for u in selected]
    )
    return make_recording(
        values,
        stimulus_ids=grouping.stimulus_ids,
        neuroid_ids=neuroid_ids,
        animal=animals[selected],
        region=regions[selected],
        time_bins=bins,
        identifier=identifier,
        min_trials=0,
        drop_nan_neuroids=drop_nan_neuroids,
    )


def write_nwb(
    path: str | Path,
    spike_times: Sequence[Sequence[float]],
    presentations: Sequence[tuple[float, Any]],
    *,
    region: str | Sequence[str] = UNKNOWN,
    animal: str | Sequence[str] = "animal0",
    duration: float = 0.2,
    identifier: str = "brainlike-recording",
) -> Path:
    """Write spike times and stimulus presentations as an NWB file (for tests and demos).

    Parameters
    ----------
    path : str or Path
    spike_times : sequence (unit) of sequences of float
        Spike times of each unit in seconds from session start.
    presentations : sequence of (onset_s, stimulus_id)
        Stored in the intervals table ``presentations`` (start_time, stop_time, stimulus_id).
    region : str or sequence of str (per unit)
        Stored as the ``location`` of one electrode per unit (grouped by region), the usual
        NWB place for it.
    animal : str or sequence of str (per unit)
        The subject id; several animals (simulations) go into a units column ``animal``.
    duration : float
        Seconds; ``stop_time = start_time + duration``.
    identifier : str
        The NWB file identifier.

    Returns
    -------
    pathlib.Path
    """
    import datetime

    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    path = Path(path)
    regions = _per_neuroid(region, len(spike_times), "region")
    animals = _per_neuroid(animal, len(spike_times), "animal")
    several = len(set(animals)) > 1
    nwb = NWBFile(
        session_description="brainlike recording",
        identifier=identifier,
        session_start_time=datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc),
        subject=None if several else Subject(subject_id=str(animals[0]) if len(animals) else ""),
    )
    if several:
        nwb.add_unit_column(name="animal", description="animal the unit was recorded in")
    device = nwb.create_device(name="probe")
    groups = {
        name: nwb.create_electrode_group(
            name=f"group_{name}", description=f"electrodes in {name}", location=name, device=device
        )
        for name in dict.fromkeys(regions)
    }
    for i, times in enumerate(spike_times):
        nwb.add_electrode(location=regions[i], group=groups[regions[i]])
        extra = {"animal": str(animals[i])} if several else {}
        nwb.add_unit(spike_times=np.sort(np.asarray(times, dtype=float)), electrodes=[i], **extra)
    table = TimeIntervals(name="presentations", description="stimulus presentations")
    table.add_column(name="stimulus_id", description="id of the stimulus shown")
    for onset, stimulus in presentations:
        table.add_row(
            start_time=float(onset), stop_time=float(onset) + duration, stimulus_id=str(stimulus)
        )
    nwb.add_time_intervals(table)
    path.parent.mkdir(parents=True, exist_ok=True)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


# --------------------------------------------------------------------------------------------
# stimulus sets: a CSV (stimulus_id, filename, ...) next to the image files


@dataclass(frozen=True, eq=False)
class StimulusSet:
    """Stimulus ids, their image files and the CSV's metadata columns.

    Attributes
    ----------
    ids : numpy.ndarray of str, shape (N,)
    paths : tuple of Path, length N
        Image files (absolute).
    table : pandas.DataFrame
        All CSV columns (``stimulus_id``, ``filename`` and extras such as ``object_name``).
    identifier : str
    """

    ids: np.ndarray
    paths: tuple[Path, ...]
    table: pd.DataFrame
    identifier: str

    def __len__(self) -> int:
        return len(self.ids)

    def column(self, name: str) -> np.ndarray:
        """Values of one CSV column in stimulus order."""
        if name not in self.table.columns:
            raise RecordingError(
                f"stimulus set {self.identifier!r} has no column {name!r}; columns: "
                f"{_preview(self.table.columns, 20)}"
            )
        return self.table[name].to_numpy()

    def select(self, ids: Sequence[Any]) -> StimulusSet:
        """The stimuli with these ids, in this order (e.g. a recording's ``stimulus_id``)."""
        wanted = _as_str_array(ids)
        position = pd.Index(self.ids).get_indexer(wanted)
        if (position < 0).any():
            missing = wanted[position < 0]
            raise RecordingError(
                f"{_plural(len(missing), 'stimulus id')} are not in stimulus set "
                f"{self.identifier!r}: {_preview(missing)}"
            )
        return StimulusSet(
            ids=self.ids[position],
            paths=tuple(self.paths[i] for i in position),
            table=self.table.iloc[position].reset_index(drop=True),
            identifier=self.identifier,
        )

    def load_images(
        self, size: int | tuple[int, int] | None = None, channels: int | None = None
    ) -> np.ndarray:
        """Load the images as a float32 array (N, C, H, W) in [0, 1].

        Parameters
        ----------
        size : int or (height, width), optional
            Resize every image (bilinear) to this size; needed when image sizes differ.
        channels : {1, 3}, optional
            1 (grayscale) or 3 (RGB); default 1 when every image is grayscale, else 3.
            Alpha channels are dropped.

        Returns
        -------
        numpy.ndarray, float32, shape (N, C, H, W)
        """
        from PIL import Image

        if channels not in (None, 1, 3):
            raise RecordingError(f"channels must be 1, 3 or None; got {channels!r}")
        target = (size, size) if isinstance(size, int) else (None if size is None else tuple(size))
        missing = [p for p in self.paths if not p.is_file()]
        if missing:
            raise RecordingError(_missing_files_message(missing, self.identifier))
        if channels is None:  # reading the modes only touches the file headers
            modes = set()
            for path in self.paths:
                with Image.open(path) as image:
                    modes.add(image.mode)
            channels = 1 if modes <= _GRAY_MODES else 3
        arrays = np.empty((len(self.paths), channels, *(target or (0, 0))), dtype=np.float32)
        for i, path in enumerate(self.paths):
            with Image.open(path) as image:
                array = _image_array(image, channels, target)
            if i == 0 and target is None:
                arrays = np.empty((len(self.paths), *array.shape), dtype=np.float32)
            elif array.shape != arrays.shape[1:]:
                raise RecordingError(
                    f"image {path.name!r} is {array.shape[1]}x{array.shape[2]} but "
                    f"{self.paths[0].name!r} is {arrays.shape[2]}x{arrays.shape[3]}; pass "
                    f"size=... to resize all images to one size"
                )
            arrays[i] = array
        return arrays


_GRAY_MODES = {"1", "L", "LA", "I", "I;16", "F"}


def _image_array(image: Any, channels: int, size: tuple[int, int] | None) -> np.ndarray:
    """One PIL image as float32 (C, H, W) in [0, 1], converted and resized."""
    from PIL import Image

    if image.mode in ("I", "I;16", "F"):  # high bit depth: scale to 0..255 before converting
        raw = np.asarray(image, dtype=np.float64)
        peak = 1.0 if image.mode == "F" and raw.max() <= 1.0 else 255.0
        peak = 65535.0 if image.mode != "F" and raw.max() > 255 else peak
        image = Image.fromarray(np.round(np.clip(raw / peak, 0, 1) * 255).astype(np.uint8))
    image = image.convert("L" if channels == 1 else "RGB")
    if size is not None:
        image = image.resize((size[1], size[0]), Image.Resampling.BILINEAR)
    array = np.asarray(image, dtype=np.float32) / 255.0
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _missing_files_message(missing: Sequence[Path], identifier: str) -> str:
    folders = sorted({str(p.parent) for p in missing})
    return (
        f"{_plural(len(missing), 'image file')} of stimulus set {identifier!r} "
        f"{'is' if len(missing) == 1 else 'are'} missing: {_preview([p.name for p in missing])} "
        f"in folder {_preview(folders, 3)}; put the images there (extract the stimulus set's "
        f"zip next to the CSV) or fix the 'filename' column"
    )


def read_stimulus_set(
    csv_path: str | Path,
    *,
    image_folder: str | Path | None = None,
    identifier: str | None = None,
) -> StimulusSet:
    """Read a stimulus set CSV (columns ``stimulus_id``, ``filename``, ...).

    Parameters
    ----------
    csv_path : str or Path
        BrainIO layout: one row per stimulus; the legacy ``image_id`` column is accepted for
        ``stimulus_id``.
    image_folder : str or Path, optional
        Where ``filename`` is relative to; default the CSV's folder.
    identifier : str, optional
        Default the CSV's file stem.

    Returns
    -------
    StimulusSet
        Every listed image file must exist (RecordingError naming the missing ones otherwise).
    """
    csv_path = _existing(csv_path, "stimulus set CSV")
    table = pd.read_csv(csv_path, dtype={"stimulus_id": str, "image_id": str, "filename": str})
    id_column = next((c for c in ("stimulus_id", "image_id") if c in table.columns), None)
    missing_columns = [
        name
        for name, present in (
            ("stimulus_id", id_column is not None),
            ("filename", "filename" in table),
        )
        if not present
    ]
    if missing_columns:
        raise RecordingError(
            f"stimulus set CSV {str(csv_path)!r} lacks the column "
            f"{' and '.join(map(repr, missing_columns))} (columns: {_preview(table.columns, 20)});"
            f" a stimulus set CSV has one row per stimulus with 'stimulus_id' and 'filename' "
            f"(the image file, relative to the CSV's folder)"
        )
    if id_column != "stimulus_id":
        table = table.rename(columns={id_column: "stimulus_id"})
    ids = _as_str_array(table["stimulus_id"].to_numpy())
    _check_unique(ids, "stimulus_id", "stimulus")
    folder = Path(image_folder) if image_folder is not None else csv_path.parent
    paths = tuple((folder / str(name)).resolve() for name in table["filename"])
    stimulus_set = StimulusSet(
        ids=ids, paths=paths, table=table, identifier=identifier or csv_path.stem
    )
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise RecordingError(_missing_files_message(missing, stimulus_set.identifier))
    return stimulus_set


_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


def write_stimulus_set(
    images: Any,
    ids: Sequence[Any],
    folder: str | Path,
    *,
    identifier: str = "stimulus_set",
    **columns: Sequence[Any],
) -> Path:
    """Save images as PNG files plus the stimulus set CSV; return the CSV path.

    Parameters
    ----------
    images : array_like, shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C in {1, 3, 4}
        uint8, or float in [0, 1] (scaled to 0..255). Channels-first is recognised when the
        last axis is not a channel count and axis 1 is.
    ids : sequence of length N
        Stimulus ids; files are named ``<id>.png`` when every id is a safe file name, else
        ``stimulus_00000.png``, ...
    folder : str or Path
        Created if needed; receives the images and ``<identifier>.csv``.
    identifier : str
        Name of the CSV (and the stimulus set).
    **columns : sequence of length N
        Extra CSV columns, e.g. ``object_name=[...]``.

    Returns
    -------
    pathlib.Path
        The CSV, with columns stimulus_id, filename and the extra columns.
    """
    from PIL import Image

    array = np.asarray(images)
    if array.ndim == 4 and array.shape[-1] not in (1, 3, 4) and array.shape[1] in (1, 3, 4):
        array = array.transpose(0, 2, 3, 1)
    if array.ndim not in (3, 4) or (array.ndim == 4 and array.shape[-1] not in (1, 3, 4)):
        raise RecordingError(
            f"images must have shape (N, H, W), (N, H, W, C) or (N, C, H, W) with C in 1, 3, 4; "
            f"got {array.shape}"
        )
    if array.dtype.kind == "f":
        low, high = (float(array.min()), float(array.max())) if array.size else (0.0, 1.0)
        if low < 0 or high > 1 or not np.isfinite(array).all():
            raise RecordingError(
                f"float images must lie in [0, 1]; got values in [{low:g}, {high:g}]; rescale "
                f"them or pass uint8 images"
            )
        array = np.round(array * 255).astype(np.uint8)
    elif array.dtype != np.uint8:
        if array.size and (array.min() < 0 or array.max() > 255):
            raise RecordingError(
                f"integer images must lie in 0..255; got {array.min()}..{array.max()}"
            )
        array = array.astype(np.uint8)
    if array.ndim == 4 and array.shape[-1] == 1:
        array = array[..., 0]
    n = len(array)
    ids = _as_str_array(ids) if n else np.array([], dtype=str)
    if len(ids) != n:
        raise RecordingError(f"got {n} images but {len(ids)} ids; pass one id per image")
    _check_unique(ids, "ids", "image")
    for name, values in columns.items():
        if len(values) != n:
            raise RecordingError(
                f"column {name!r} has {len(values)} values for {n} images; pass one per image"
            )
    if {"stimulus_id", "filename"} & set(columns):
        raise RecordingError("columns 'stimulus_id' and 'filename' are written from ids; drop them")
    safe = all(_SAFE_NAME.match(i) for i in ids)
    filenames = [f"{i}.png" if safe else f"stimulus_{k:05d}.png" for k, i in enumerate(ids)]
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for image, filename in zip(array, filenames, strict=True):
        Image.fromarray(image).save(folder / filename)
    table = pd.DataFrame({"stimulus_id": ids, "filename": filenames, **columns})
    csv_path = folder / f"{identifier}.csv"
    table.to_csv(csv_path, index=False)
    return csv_path


def _generated_stimulus_ids(rec: xr.DataArray) -> bool:
    """True when the stimulus ids are the bare-array defaults stimulus_0, stimulus_1, ..."""
    ids = _as_str_array(rec.coords["stimulus_id"].values)
    return ids.tolist() == [f"stimulus_{i}" for i in range(len(ids))]


def _npy_axes_hint(rec: xr.DataArray, stimulus_ids: np.ndarray) -> str:
    """For a recording read from a bare .npy: how its stimuli were named, and whether another
    array axis has as many entries as the stimulus set (the axes may be swapped)."""
    axes = str(rec.attrs.get("npy_axes") or "")
    if not axes:
        return ""
    order = axes.split(",")
    n_set = len(stimulus_ids)
    hint = (
        f"; recording {rec.attrs.get('identifier')!r} is a bare .npy read with axes {axes!r} "
        f"({rec.attrs.get('npy_axes_source', 'default')})"
    )
    if _generated_stimulus_ids(rec):
        hint += (
            f", so its stimuli are named stimulus_0 .. stimulus_{rec.sizes['stimulus'] - 1} "
            f"along array axis {order.index('stimulus')}"
        )
        if not np.isin(rec.coords["stimulus_id"].values, stimulus_ids).any():
            hint += (
                " (the stimulus set must use these ids, in array order, or save the recording "
                "as .npz with a stimulus_ids array)"
            )
    matching = [k for k, dim in enumerate(order) if dim != "stimulus" and rec.sizes[dim] == n_set]
    suggestion = ["neuroid", "stimulus", *(*DIMS, TIME_DIM)[2 : len(order)]]
    if matching:
        suggestion = list(order)
        k, s = matching[0], order.index("stimulus")
        suggestion[k], suggestion[s] = order[s], order[k]
    found = "".join(
        f" (axis {k} ({order[k]}) has {n_set} entries, as many as the stimulus set has stimuli)"
        for k in matching[:1]
    )
    return (
        f"{hint}; if the array's axes are in another order, the axes may be swapped{found}: "
        f"name the file's axes in order with --axes on brainlike score (axes= when reading), "
        f"e.g. --axes {','.join(suggestion)}"
    )


def check_stimuli_match(rec: xr.DataArray, stimulus_set: StimulusSet) -> None:
    """Raise RecordingError unless every stimulus of ``rec`` is in ``stimulus_set``.

    The message says how many and which (first few) recording stimulus ids are absent, and
    for a bare ``.npy`` (read with :func:`read_npy`) how its stimuli were named and whether
    its axes may be swapped. A bare ``.npy`` read with the default axis order whose stimulus
    count differs from the stimulus set's while another axis matches it is refused too (its
    axes are probably swapped); naming the order with ``axes=...`` accepts it.
    """
    _check_structure(rec)
    recorded = _as_str_array(rec.coords["stimulus_id"].values)
    absent = recorded[~np.isin(recorded, stimulus_set.ids)]
    n_set = len(stimulus_set.ids)
    if len(absent):
        set_ids = (
            ""
            if len(absent) < len(recorded)
            else (f"; none matches: the stimulus set's ids are {_preview(stimulus_set.ids)}")
        )
        raise RecordingError(
            f"{len(absent)} of {_plural(len(recorded), 'stimulus id')} of recording "
            f"{rec.attrs.get('identifier')!r} are absent from stimulus set "
            f"{stimulus_set.identifier!r} ({_preview(absent)}); load the stimulus set the "
            f"recording was made with (stimulus_set_identifier "
            f"{rec.attrs.get('stimulus_set_identifier')!r}){set_ids}{_npy_axes_hint(rec, stimulus_set.ids)}"
        )
    if (
        rec.attrs.get("npy_axes")
        and rec.attrs.get("npy_axes_source") == "default"
        and _generated_stimulus_ids(rec)
        and rec.sizes["stimulus"] != n_set
        and any(rec.sizes[d] == n_set for d in rec.dims if d != "stimulus")
    ):
        raise RecordingError(
            f"recording {rec.attrs.get('identifier')!r} has {_plural(rec.sizes['stimulus'], 'stimulus')} "
            f"but stimulus set {stimulus_set.identifier!r} has {n_set}"
            f"{_npy_axes_hint(rec, stimulus_set.ids)}; when the order is right and the recording covers "
            f"a subset of the stimuli, say so with --axes {rec.attrs['npy_axes']}"
        )
