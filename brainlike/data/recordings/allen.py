"""Allen Brain Observatory natural scenes: NWB session files -> one NeuralRecording.

The Allen Brain Observatory (Visual Coding) shows 118 natural scenes, 250 ms each, about 50
times each, in random order with blank (gray) presentations interleaved, while recording six
visual areas (VISp, VISl, VISal, VISrl, VISam, VISpm) by two-photon calcium imaging or
Neuropixels probes. A session file holds one animal; several files make one recording of
several animals, the form the inter-animal ceiling needs.

Layouts read (NWB 2, with pynwb; the Allen SDK is never imported):

- Neuropixels (Visual Coding Neuropixels session files): ``units`` with ``spike_times`` and
  ``peak_channel_id``; the ``electrodes`` table (ids are channel ids) with ``location`` (the
  structure acronym); or a units column ``ecephys_structure_acronym`` / ``structure_acronym``
  / ``location``. Trial response: spike count in ``[onset + start, onset + end)``
  (default 0-250 ms).
- Two-photon: ``processing["ophys"]`` holding a ``DfOverF`` interface whose
  ``RoiResponseSeries`` has dF/F ``data`` (time, ROI) and ``timestamps``; its ROIs point into
  a ``PlaneSegmentation`` whose imaging plane's ``location`` is the structure acronym; cell ids
  from a ``cell_specimen_id`` column when present. Trial response: mean dF/F of the samples
  in ``[onset + start, onset + end)`` minus the mean over ``[onset + baseline_start, onset)``
  (defaults 0-500 ms and the 1 s before onset, as in the Brain Observatory analyses).
  The original Visual Coding 2P release is NWB 1 (readable only with the Allen SDK); export
  its traces and stimulus table into this layout first.

Presentations: the intervals table ``natural_scenes_presentations`` (columns ``start_time``
and ``frame``, the scene index 0-117; ``frame == -1`` is the blank and is dropped). Stimulus
ids are ``scene_000`` ... ``scene_117``; the scene images are not in the files and must be
supplied (a folder of images or a .npy of the 118 scenes, see
:func:`write_allen_stimulus_set`). The animal of each file is its subject's ``subject_id``
(else the session identifier).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainlike.data.recordings.presentations import _group_presentations, _scatter_trials
from brainlike.data.recordings.recording import RecordingError, make_recording, reading

NATURAL_SCENES_TABLE = "natural_scenes_presentations"
N_SCENES = 118
SCENES_HINT = (
    "the 118 Allen natural-scene images are not part of the NWB files; supply them as a folder "
    "of images (one per scene, sorted by name = frame index) or a .npy array (118, H, W[, C]) "
    "(e.g. exported with the Allen SDK's BrainObservatoryCache.get_ophys_experiment_data("
    "...).get_stimulus_template('natural_scenes'))"
)


def scene_id(frame: int) -> str:
    """Stimulus id of Allen natural scene ``frame`` (0-117): ``scene_007``."""
    return f"scene_{int(frame):03d}"


def is_allen_natural_scenes(path: str | Path) -> bool:
    """Whether an NWB file holds the Allen ``natural_scenes_presentations`` table."""
    import h5py

    try:
        with h5py.File(str(path), "r") as f:
            return f"intervals/{NATURAL_SCENES_TABLE}" in f
    except OSError:
        return False


def _presentations(nwb: Any, path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Onsets (s) and scene frames of the non-blank natural-scene presentations."""
    tables = dict(nwb.intervals or {})
    if NATURAL_SCENES_TABLE not in tables:
        raise RecordingError(
            f"{str(path)!r} has no {NATURAL_SCENES_TABLE!r} intervals table (tables: "
            f"{', '.join(tables) or 'none'}); it is not an Allen Brain Observatory session "
            "with natural scenes"
        )
    table = tables[NATURAL_SCENES_TABLE]
    if "frame" not in table.colnames:
        raise RecordingError(
            f"{str(path)!r}: {NATURAL_SCENES_TABLE!r} has no 'frame' column (columns: "
            f"{', '.join(table.colnames)})"
        )
    onsets = np.asarray(table["start_time"].data[:], dtype=float)
    frames = np.asarray(table["frame"].data[:], dtype=float)
    shown = np.isfinite(frames) & (frames >= 0)
    bad = frames[shown][(frames[shown] >= N_SCENES) | (frames[shown] % 1 != 0)]
    if len(bad):
        raise RecordingError(
            f"{str(path)!r}: natural-scene frame {bad[0]:g} is not an integer in 0..117"
        )
    return onsets[shown], frames[shown].astype(int)


def _units(nwb: Any, path: Path) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Spike times, structure acronym and id of every unit of a Neuropixels session."""
    units = nwb.units
    ids = np.asarray(units.id.data[:]).astype(str)
    spikes = [np.asarray(units["spike_times"][i], dtype=float) for i in range(len(ids))]
    for column in ("ecephys_structure_acronym", "structure_acronym", "location"):
        if column in units.colnames:
            return spikes, np.asarray(units[column].data[:]).astype(str), ids
    if "peak_channel_id" in units.colnames and nwb.electrodes is not None:
        channels = np.asarray(nwb.electrodes.id.data[:])
        if "location" in nwb.electrodes.colnames:
            location = np.asarray(nwb.electrodes["location"].data[:]).astype(str)
            where = dict(zip(channels.tolist(), location.tolist(), strict=True))
            peak = np.asarray(units["peak_channel_id"].data[:]).tolist()
            missing = [c for c in peak if c not in where]
            if missing:
                raise RecordingError(
                    f"{str(path)!r}: unit peak channel {missing[0]} is not in the electrodes table"
                )
            return spikes, np.array([where[c] for c in peak]), ids
    raise RecordingError(
        f"{str(path)!r}: cannot tell the area of the units: give the units an "
        "'ecephys_structure_acronym' column or a 'peak_channel_id' into an electrodes table "
        "with 'location'"
    )


def _dff(nwb: Any, path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """dF/F (time, cell), timestamps, structure acronym and id of every cell (two-photon)."""
    from pynwb.ophys import DfOverF

    module = nwb.processing.get("ophys")
    interfaces = [] if module is None else list(module.data_interfaces.values())
    dff = [i for i in interfaces if isinstance(i, DfOverF)]
    if not dff:
        raise RecordingError(
            f"{str(path)!r} has neither units (Neuropixels) nor a DfOverF interface in "
            "processing['ophys'] (two-photon); nothing to read"
        )
    series = next(iter(dff[0].roi_response_series.values()))
    data = np.asarray(series.data[:], dtype=float)
    times = np.asarray(series.timestamps[:], dtype=float)
    if data.ndim == 1:
        data = data[:, None]
    if data.shape[0] != len(times) and data.shape[1] == len(times):
        data = data.T  # stored (cell, time)
    rois = series.rois
    plane = rois.table
    rows = np.asarray(rois.data[:])
    if "cell_specimen_id" in plane.colnames:
        ids = np.asarray(plane["cell_specimen_id"].data[:])[rows].astype(str)
    else:
        ids = np.asarray(plane.id.data[:])[rows].astype(str)
    area = np.full(len(rows), str(plane.imaging_plane.location))
    return data, times, area, ids


def _subject(nwb: Any) -> str:
    subject = getattr(nwb, "subject", None)
    sid = getattr(subject, "subject_id", None) if subject is not None else None
    return str(sid or nwb.identifier)


def _window_means(
    data: np.ndarray, times: np.ndarray, onsets: np.ndarray, lo: float, hi: float
) -> np.ndarray:
    """Mean of the samples with ``onset + lo <= t < onset + hi``, per presentation and cell."""
    first = np.searchsorted(times, onsets + lo, side="left")
    last = np.searchsorted(times, onsets + hi, side="left")
    if np.any(last <= first):
        k = int(np.flatnonzero(last <= first)[0])
        raise RecordingError(
            f"no dF/F sample between {onsets[k] + lo:.3f} s and {onsets[k] + hi:.3f} s (the "
            f"window of the presentation at {onsets[k]:.3f} s); widen the window"
        )
    csum = np.concatenate([np.zeros((1, data.shape[1])), np.cumsum(data, axis=0)])
    return (csum[last] - csum[first]) / (last - first)[:, None]


def read_allen_session(
    path: str | Path,
    *,
    window: tuple[float, float] | None = None,
    baseline: tuple[float, float] = (-1.0, 0.0),
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, str, str]:
    """Trial responses of one Allen session to the natural scenes, per presentation.

    Parameters
    ----------
    path : str or Path
        An NWB 2 session file (Neuropixels or two-photon layout, see the module docstring).
    window : (start_s, end_s), optional
        Response window after onset (default (0, 0.25) s for spike counts, (0, 0.5) s for
        dF/F).
    baseline : (start_s, end_s)
        dF/F baseline window relative to onset, subtracted from the response (two-photon).

    Returns
    -------
    responses : ndarray (presentation, neuroid)
    frames : ndarray of int (presentation,)
    area, neuroid_id : ndarray of str (neuroid,)
    animal : str
    modality : ``"neuropixels"`` or ``"calcium"``
    """
    # spec: mouse-and-entorhinal.md §1 (Allen natural scenes), neural-evaluation.md §1
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise RecordingError(f"no such NWB file: {str(path)!r}")
    with reading(path, "an NWB (HDF5) file", "give the Allen session NWB file as downloaded"):
        with NWBHDF5IO(str(path), "r", load_namespaces=True) as io:
            nwb = io.read()
            onsets, frames = _presentations(nwb, path)
            animal = _subject(nwb)
            if nwb.units is not None and len(nwb.units) > 0:
                lo, hi = window or (0.0, 0.25)
                spikes, area, ids = _units(nwb, path)
                counts = np.empty((len(onsets), len(spikes)))
                for n, t in enumerate(spikes):
                    t = np.sort(t)
                    counts[:, n] = np.searchsorted(t, onsets + hi, side="left") - np.searchsorted(
                        t, onsets + lo, side="left"
                    )
                return counts, frames, area, ids, animal, "neuropixels"
            lo, hi = window or (0.0, 0.5)
            data, times, area, ids = _dff(nwb, path)
            response = _window_means(data, times, onsets, lo, hi)
            base = _window_means(data, times, onsets, baseline[0], baseline[1])
            return response - base, frames, area, ids, animal, "calcium"


def read_allen_natural_scenes(
    paths: str | Path | Sequence[str | Path],
    *,
    window: tuple[float, float] | None = None,
    baseline: tuple[float, float] = (-1.0, 0.0),
    regions: Sequence[str] | None = None,
    drop_nan_neuroids: bool = False,
) -> xr.DataArray:
    """Several Allen sessions (one animal each) as one recording of the natural scenes.

    Parameters
    ----------
    paths : path or sequence of paths
        NWB session files; every file is one animal (two files of one subject are kept apart
        as ``subject/session``).
    window, baseline
        As in :func:`read_allen_session`.
    regions : sequence of str, optional
        Keep only these structure acronyms (e.g. the six visual areas).
    drop_nan_neuroids : bool
        Drop neuroids without any response (see :func:`make_recording`).

    Returns
    -------
    NeuralRecording
        Dims (stimulus, neuroid, trial): stimuli ``scene_000``... in frame order, trials the
        repeats in order of presentation (NaN where a session showed a scene fewer times);
        neuroid coords ``animal`` and ``region``; attrs ``modality``.
    """
    paths = [paths] if isinstance(paths, str | Path) else list(paths)
    if not paths:
        raise RecordingError("give at least one Allen NWB session file")
    blocks, modalities, seen = [], set(), {}
    for path in paths:
        resp, frames, area, ids, animal, modality = read_allen_session(
            path, window=window, baseline=baseline
        )
        modalities.add(modality)
        if animal in seen:
            animal = f"{animal}/{Path(path).stem}"
        seen[animal] = path
        keep = np.ones(len(area), bool) if regions is None else np.isin(area, list(regions))
        grouping = _group_presentations(np.array([scene_id(f) for f in frames]), None)
        trials = _scatter_trials(resp[:, keep], grouping)
        blocks.append((grouping.stimulus_ids, trials, area[keep], ids[keep], animal))
    if len(modalities) > 1:
        raise RecordingError(
            "the files mix Neuropixels and two-photon sessions; read each modality separately"
        )
    stimuli = sorted(set().union(*(set(b[0]) for b in blocks)))
    n_trials = max(b[1].shape[2] for b in blocks)
    parts, region, animal, neuroid = [], [], [], []
    for stim_ids, trials, area, ids, name in blocks:
        full = np.full((len(stimuli), trials.shape[1], n_trials), np.nan)
        rows = [stimuli.index(s) for s in stim_ids]
        full[rows, :, : trials.shape[2]] = trials
        parts.append(full)
        region += area.tolist()
        animal += [name] * len(area)
        neuroid += [f"{name}_{i}" for i in ids]
    data = np.concatenate(parts, axis=1)
    if data.shape[1] == 0:
        raise RecordingError(
            f"no neuroids left in {len(paths)} file(s)"
            + (f" in the areas {', '.join(regions)}" if regions else "")
        )
    rec = make_recording(
        data,
        stimulus_ids=stimuli,
        neuroid_ids=neuroid,
        animal=animal,
        region=region,
        identifier="allen-natural-scenes",
        stimulus_set_identifier="allen_natural_scenes",
        min_trials=1,
        drop_nan_neuroids=drop_nan_neuroids,
    )
    rec.attrs["modality"] = modalities.pop()
    return rec


def write_allen_stimulus_set(scenes: str | Path, out_dir: str | Path) -> Path:
    """The 118 natural scenes (a folder of images or a .npy array) as a stimulus set.

    Parameters
    ----------
    scenes : str or Path
        A ``.npy`` of shape (118, H, W[, C]) in frame order, or a folder of 118 image files
        whose sorted names follow frame order.
    out_dir : str or Path
        Receives ``<id>.png`` per scene and ``allen_natural_scenes.csv``.

    Returns
    -------
    Path of the stimulus-set CSV (ids ``scene_000`` ... ``scene_117``).
    """
    from brainlike.data.recordings.stimulus_sets import write_stimulus_set

    scenes = Path(scenes)
    if not scenes.exists():
        raise RecordingError(f"no scenes at {str(scenes)!r}: {SCENES_HINT}")
    if scenes.is_dir():
        from PIL import Image

        files = sorted(
            p for p in scenes.iterdir() if p.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif")
        )
        if len(files) != N_SCENES:
            raise RecordingError(
                f"{str(scenes)!r} holds {len(files)} images, not {N_SCENES}: {SCENES_HINT}"
            )
        images = np.stack([np.asarray(Image.open(p).convert("L")) for p in files])
    else:
        images = np.load(scenes)
        if images.shape[0] != N_SCENES or images.ndim not in (3, 4):
            raise RecordingError(
                f"{str(scenes)!r} holds an array of shape {images.shape}, not (118, H, W[, C]): "
                f"{SCENES_HINT}"
            )
    if images.dtype != np.uint8:
        lo, hi = float(images.min()), float(images.max())
        images = ((images - lo) / max(hi - lo, 1e-12) * 255).round().astype(np.uint8)
    ids = [scene_id(i) for i in range(N_SCENES)]
    return write_stimulus_set(images, ids, out_dir, identifier="allen_natural_scenes")
