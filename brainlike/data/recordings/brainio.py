"""BrainIO / Brain-Score netCDF assemblies (spec §10) <-> NeuralRecording.

An assembly has dims presentation x neuroid [x time_bin], with the repetitions of a stimulus
as extra presentations of its ``stimulus_id``; files are netCDF-4 (HDF5) with one data
variable, as BrainIO's ``write_netcdf`` writes them.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainlike.data.recordings.presentations import (
    _group_presentations,
    _presentation_coord_grid,
    _same,
    _scatter_trials,
)
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
    remove_nan_neuroids,
    validate_recording,
)


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
            f"could not open {str(path)!r} as netCDF-4 ({type(err).__name__}: "
            f"{' '.join(str(err).split())}); BrainIO "
            f"assemblies are netCDF-4 (HDF5) files"
        ) from None
    with dataset, reading(path, "netCDF-4", "the file may be truncated or corrupt"):
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
