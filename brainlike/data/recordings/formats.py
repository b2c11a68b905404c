"""Reading and writing a recording in the format its file suffix names."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import xarray as xr

from brainlike.data.recordings.allen import is_allen_natural_scenes, read_allen_natural_scenes
from brainlike.data.recordings.brainio import read_brainio_netcdf, write_brainio_netcdf
from brainlike.data.recordings.numpy_files import read_npy, read_npz, write_npz
from brainlike.data.recordings.nwb import read_nwb
from brainlike.data.recordings.recording import RecordingError

SUFFIXES = (".nc", ".nwb", ".npz", ".npy")


def read_recording(
    path: str | Path,
    *,
    axes: str | Sequence[str] | None = None,
    drop_nan_neuroids: bool = False,
    **kwargs: Any,
) -> xr.DataArray:
    """Read a recording, choosing the reader by suffix.

    ``.nc`` -> :func:`read_brainio_netcdf`, ``.nwb`` -> :func:`read_nwb` (an Allen Brain
    Observatory session with natural scenes -> :func:`read_allen_natural_scenes`),
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
    if suffix == ".nwb" and is_allen_natural_scenes(path):
        # an Allen Brain Observatory session: the natural-scenes table, not generic intervals
        readers[".nwb"] = read_allen_natural_scenes
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
