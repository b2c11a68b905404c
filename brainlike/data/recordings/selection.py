"""Working with a NeuralRecording: select neuroids, average time bins, pool, summarise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainlike.data.recordings.recording import (
    _RESERVED,
    TIME_DIM,
    RecordingError,
    _check_structure,
    _plural,
    _preview,
    make_recording,
)


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
