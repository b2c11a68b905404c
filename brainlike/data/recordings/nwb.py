"""NWB files: units table + stimulus presentation intervals -> spike counts per time bin."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainlike.data.recordings.presentations import _group_presentations, _scatter_trials
from brainlike.data.recordings.recording import (
    UNKNOWN,
    RecordingError,
    _as_str_array,
    _existing,
    _per_neuroid,
    _preview,
    _time_bins,
    make_recording,
    reading,
)
from brainlike.data.recordings.selection import _match

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
    with reading(path, "an NWB (HDF5) file", "give an NWB 2 file written by pynwb"):
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
            names = (
                _as_str_array(units["unit_name"].data[:]) if "unit_name" in units.colnames else None
            )
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
