"""Recordings in plain numpy files: labelled ``.npz`` archives and bare ``.npy`` arrays."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainlike.data.recordings.recording import (
    _RESERVED,
    DIMS,
    TIME_DIM,
    RecordingError,
    _as_str_array,
    _check_structure,
    _existing,
    _preview,
    _tidy_coord,
    make_recording,
    reading,
)

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
    hint = (
        "write it with np.savez (or brainlike's write_npz); save strings as numpy str arrays "
        "(np.asarray(ids, dtype=str)), not Python objects"
    )
    with reading(path, "a .npz archive", hint):
        with np.load(path, allow_pickle=False) as npz:
            arrays = {key: npz[key] for key in npz.files}
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
    hint = "write it with np.save of a numeric array (not Python objects)"
    with reading(path, "a .npy array", hint):
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
