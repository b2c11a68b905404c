"""Neural recordings: the ``NeuralRecording`` type, its checks, readers and writers.

A recording is an :class:`xarray.DataArray` with dims ``(stimulus, neuroid, trial)`` and an
optional fourth dim ``time_bin`` (spec neural-evaluation.md §1); its coordinates are listed in
:mod:`brainlike.data.recordings.recording`.

=====================  ======================================================================
module                 holds
=====================  ======================================================================
``recording``          the type: :func:`make_recording`, :func:`validate_recording`,
                       :func:`remove_nan_neuroids`, :class:`RecordingError`
``selection``          :func:`select_neuroids`, :func:`responses`, :func:`average_time`,
                       :func:`concat_neuroids`, :func:`summary`
``brainio``            BrainIO / Brain-Score netCDF assemblies (``.nc``, dims presentation x
                       neuroid [x time_bin], repetitions as extra presentations of a
                       stimulus_id; spec §10) and the assembly conversions
``nwb``                NWB (``.nwb``: units table + stimulus presentation intervals -> spike
                       counts)
``numpy_files``        plain ``.npz``/``.npy``
``presentations``      presentations <-> trials, shared by the BrainIO and NWB readers
``formats``            :func:`read_recording` / :func:`write_recording`, by file suffix
``stimulus_sets``      a CSV (``stimulus_id``, ``filename``, ...) next to its image files
``spatial``            :class:`~.spatial.SpatialRecording`: a foraging session's tracking and
                       spike times (readers for MATLAB, CSV, NWB); not a NeuralRecording
``spatial_session``    a generated entorhinal session with known cells
=====================  ======================================================================
"""

from brainlike.data.recordings.brainio import (
    read_brainio_netcdf,
    recording_from_assembly,
    recording_to_assembly,
    write_brainio_netcdf,
)
from brainlike.data.recordings.formats import SUFFIXES, read_recording, write_recording
from brainlike.data.recordings.numpy_files import read_npy, read_npz, write_npz
from brainlike.data.recordings.nwb import read_nwb, write_nwb
from brainlike.data.recordings.recording import (
    DIMS,
    RecordingError,
    make_recording,
    remove_nan_neuroids,
    validate_recording,
)
from brainlike.data.recordings.recording import TIME_DIM as TIME_DIM
from brainlike.data.recordings.recording import UNKNOWN as UNKNOWN
from brainlike.data.recordings.selection import (
    average_time,
    concat_neuroids,
    responses,
    select_neuroids,
    summary,
)
from brainlike.data.recordings.stimulus_sets import (
    StimulusSet,
    check_stimuli_match,
    read_stimulus_set,
    write_stimulus_set,
)

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
