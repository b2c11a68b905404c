"""Spatial recordings: an animal's tracked path and its cells' spike times (spec:
mouse-and-entorhinal.md §2-3).

A rodent foraging session records where the animal is (a tracking sample every 20 ms or so:
time, x, y and often head direction) and when each isolated cell fires. Rate maps, grid,
border and head-direction scores all start from these two streams.

Design: one :class:`SpatialRecording` wraps one :class:`xarray.Dataset` with three dims.

=================  ================  ===========================================================
variable           dim               meaning
=================  ================  ===========================================================
``time``           sample            s; strictly increasing within each animal
``x``, ``y``       sample            m; the arena's lower-left corner is ``(origin_x_m,
                                     origin_y_m)``, its sides ``arena_x_m`` x ``arena_y_m``
``head_direction`` sample            rad (only when tracked)
``sample_animal``  sample            str: whose tracking the sample is
``cell_id``,       cell              str, unique; the animal the cell was recorded in
``animal``
``spike_time``     spike             s
``spike_cell``     spike             int: index of the spike's cell along ``cell``
=================  ================  ===========================================================

Several animals live in one recording by concatenation: each animal's tracking samples are
one contiguous block of ``sample`` and its cells one contiguous block of ``cell``; a cell's
spikes are read against its own animal's tracking. Readers return one animal;
:meth:`SpatialRecording.combine` joins animals recorded in the same arena. A spike belongs to
the last tracking sample at or before it (as in
:func:`~brainlike.analysis.spatial.rate_maps_from_spikes`), and the session of an animal
runs from its first sample to its last sample plus the median sampling interval.

Readers: :func:`read_spatial_mat` (MATLAB position file ``posx``/``posy``/``post`` and one
spike-time file per cell, e.g. ``cellTS``), :func:`read_spatial_csv` (``positions.csv``
``t,x,y[,hd]`` and ``spikes.csv`` ``cell,t``) and :func:`read_spatial_nwb` (a ``Position``
``SpatialSeries`` plus the ``Units`` table). Every reader checks its input at the door and
raises :class:`~brainlike.data.recordings.RecordingError` (a ValueError) with one line.
"""

from __future__ import annotations

import csv
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from brainlike.analysis.spatial import RateMaps, rate_maps_from_spikes
from brainlike.data.recordings.recording import (
    RecordingError,
    _as_str_array,
    _preview,
    reading,
)

__all__ = [
    "LENGTH_UNITS",
    "SpatialRecording",
    "read_spatial_csv",
    "read_spatial_mat",
    "read_spatial_nwb",
    "read_spatial_recording",
]

#: metres per unit of the tracked positions
LENGTH_UNITS = {"m": 1.0, "cm": 0.01, "mm": 0.001}
SPIKES_OUTSIDE = ("refuse", "drop")
# Positions spanning more than this many arena sides are taken to be in another unit.
_UNIT_FACTOR = 5.0
# Positions this far (relative to the arena side) past a wall still count as on it.
_WALL_TOL = 1e-6


def _scale(units: str | float) -> float:
    if isinstance(units, (int, float)) and not isinstance(units, bool):
        if not units > 0:
            raise RecordingError(f"units scale is {units!r}; give metres per unit (> 0)")
        return float(units)
    if units not in LENGTH_UNITS:
        raise RecordingError(
            f"units is {units!r}; use one of {', '.join(LENGTH_UNITS)} or metres per unit"
        )
    return LENGTH_UNITS[units]


def _arena_size(arena: float | Sequence[float]) -> tuple[float, float]:
    size = np.broadcast_to(np.asarray(arena, dtype=float), (2,))
    if not np.all(np.isfinite(size)) or not np.all(size > 0):
        raise RecordingError(f"arena is {arena!r}; give its side (or (x, y) sides) in metres")
    return float(size[0]), float(size[1])


class SpatialRecording:
    """Tracking and spike times of one or more animals in one arena (see the module docstring).

    Build with :meth:`from_arrays` (one animal) and :meth:`combine`; read with the
    ``read_spatial_*`` readers or :meth:`load`.
    """

    def __init__(self, dataset: xr.Dataset) -> None:
        for name in ("time", "x", "y", "sample_animal", "cell_id", "animal", "spike_time"):
            if name not in dataset:
                raise RecordingError(
                    f"dataset has no {name!r}; it is not a SpatialRecording (build one with "
                    "SpatialRecording.from_arrays)"
                )
        self.dataset = dataset

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_arrays(
        cls,
        time: Any,
        x: Any,
        y: Any,
        spike_times: Sequence[Any],
        *,
        arena: float | Sequence[float],
        units: str | float = "m",
        head_direction: Any = None,
        cell_ids: Sequence[str] | None = None,
        animal: str = "animal0",
        origin: Sequence[float] | None = None,
        session: str = "",
        spikes_outside: str = "refuse",
    ) -> SpatialRecording:
        """One animal's session from arrays, checked at the door.

        Parameters
        ----------
        time : (T,) sample times, s, strictly increasing (after dropping NaN samples).
        x, y : (T,) positions in ``units``; samples with a NaN coordinate are dropped (a
            warning says how many; the previous sample then holds through the gap).
        spike_times : one array of spike times (s) per cell.
        arena : side, or (x side, y side), in metres.
        units : unit of ``x`` and ``y``: 'm', 'cm', 'mm' or metres per unit.
        head_direction : (T,) radians, or None.
        cell_ids : one id per cell (default ``'<animal>_c<i>'``).
        origin : lower-left corner of the arena in metres (default: the arena is centred at 0).
        session : the session's name (an attribute).
        spikes_outside : spikes before the first sample or after the session's end: 'refuse'
            (a RecordingError saying how many) or 'drop' (a warning saying how many).

        Returns
        -------
        SpatialRecording with one animal.
        """
        scale = _scale(units)
        size = _arena_size(arena)
        time = np.asarray(time, dtype=float).ravel()
        x = np.asarray(x, dtype=float).ravel() * scale
        y = np.asarray(y, dtype=float).ravel() * scale
        hd = None if head_direction is None else np.asarray(head_direction, float).ravel()
        lengths = {"time": len(time), "x": len(x), "y": len(y)}
        if hd is not None:
            lengths["head_direction"] = len(hd)
        if len(set(lengths.values())) != 1:
            raise RecordingError(
                "positions and times have different lengths ("
                + ", ".join(f"{k} {v}" for k, v in lengths.items())
                + "); pass one x, y (and head direction) per tracking time"
            )
        bad = ~(np.isfinite(x) & np.isfinite(y))
        if np.any(~np.isfinite(time)):
            raise RecordingError(
                f"{int(np.sum(~np.isfinite(time)))} tracking times are NaN or infinite; "
                "every sample needs a time in seconds"
            )
        if bad.any():
            warnings.warn(
                f"animal {animal!r}: dropped {int(bad.sum())} of {len(x)} tracking samples "
                "with NaN positions",
                stacklevel=2,
            )
            time, x, y = time[~bad], x[~bad], y[~bad]
            hd = None if hd is None else hd[~bad]
        if len(time) < 2 or np.any(np.diff(time) <= 0):
            raise RecordingError(
                f"animal {animal!r}: tracking times must be at least 2 strictly increasing "
                "values (s); sort the samples and remove duplicates"
            )
        low = (
            (-size[0] / 2, -size[1] / 2)
            if origin is None
            else tuple(float(v) for v in np.broadcast_to(np.asarray(origin, float), (2,)))
        )
        _check_in_arena(x, y, size, low, units, animal)
        n_cells = len(spike_times)
        ids = (
            np.array([f"{animal}_c{i}" for i in range(n_cells)])
            if cell_ids is None
            else _as_str_array(cell_ids)
        )
        if len(ids) != n_cells or len(set(ids.tolist())) != n_cells:
            raise RecordingError(
                f"cell_ids has {len(ids)} entries ({len(set(ids.tolist()))} distinct) for "
                f"{n_cells} cells; pass one unique id per cell"
            )
        spikes = [np.sort(np.asarray(s, dtype=float).ravel()) for s in spike_times]
        dt = np.diff(time)
        start, end = time[0], time[-1] + np.median(dt)
        outside = [int(np.sum((s < start) | (s >= end) | ~np.isfinite(s))) for s in spikes]
        if sum(outside):
            worst = [str(ids[i]) for i in np.argsort(outside)[::-1] if outside[i]]
            where = (
                f"{sum(outside)} of {sum(len(s) for s in spikes)} spikes (cells "
                f"{_preview(worst, 3)}) fall outside the session [{start:g}, {end:g}) s"
            )
            if spikes_outside == "refuse":
                raise RecordingError(
                    f"animal {animal!r}: {where}; check the spike files' time unit and "
                    "offset, or pass spikes_outside='drop' (--spikes-outside drop) to drop them"
                )
            if spikes_outside != "drop":
                raise RecordingError(
                    f"spikes_outside is {spikes_outside!r}; use one of {SPIKES_OUTSIDE}"
                )
            warnings.warn(f"animal {animal!r}: dropped {where}", stacklevel=2)
            spikes = [s[(s >= start) & (s < end)] for s in spikes]
        data = {
            "time": ("sample", time),
            "x": ("sample", x),
            "y": ("sample", y),
            "sample_animal": ("sample", np.full(len(time), str(animal))),
            "spike_time": ("spike", np.concatenate([np.zeros(0), *spikes])),
            "spike_cell": (
                "spike",
                np.repeat(np.arange(n_cells), [len(s) for s in spikes]).astype(np.int64),
            ),
        }
        if hd is not None:
            data["head_direction"] = ("sample", hd)
        ds = xr.Dataset(
            data,
            coords={"cell_id": ("cell", ids), "animal": ("cell", np.full(n_cells, str(animal)))},
            attrs={
                "arena_x_m": size[0],
                "arena_y_m": size[1],
                "origin_x_m": low[0],
                "origin_y_m": low[1],
                "session": str(session),
                "units": "time s, x y m, head_direction rad, spike_time s",
            },
        )
        return cls(ds)

    @classmethod
    def combine(cls, recordings: Sequence[SpatialRecording], session: str = "") -> SpatialRecording:
        """Join recordings of different animals in the same arena into one."""
        if not recordings:
            raise RecordingError("combine needs at least one SpatialRecording")
        first = recordings[0].dataset.attrs
        keys = ("arena_x_m", "arena_y_m", "origin_x_m", "origin_y_m")
        for rec in recordings[1:]:
            if any(not np.isclose(rec.dataset.attrs[k], first[k]) for k in keys):
                raise RecordingError(
                    "recordings to combine have different arenas or origins "
                    f"({[rec.dataset.attrs[k] for k in keys]} vs {[first[k] for k in keys]}); "
                    "combine animals recorded in the same arena only"
                )
        animals = [a for rec in recordings for a in rec.animals]
        if len(set(animals)) != len(animals):
            raise RecordingError(
                f"animals repeat across the recordings ({animals}); give each animal its own "
                "name (animal=...)"
            )
        offset, parts = 0, []
        for rec in recordings:
            ds = rec.dataset.copy()
            ds["spike_cell"] = ds["spike_cell"] + offset
            offset += ds.sizes["cell"]
            parts.append(ds)
        ids = np.concatenate([p["cell_id"].values for p in parts])
        if len(set(ids.tolist())) != len(ids):
            raise RecordingError("cell ids repeat across the recordings; give unique cell_ids")
        has_hd = ["head_direction" in p for p in parts]
        if any(has_hd) and not all(has_hd):
            parts = [p.drop_vars("head_direction", errors="ignore") for p in parts]
            warnings.warn("head direction is missing for some animals; dropped it", stacklevel=2)
        tracked = [
            n for n in ("time", "x", "y", "head_direction", "sample_animal") if n in parts[0]
        ]
        ds = xr.Dataset(
            {
                **{v: ("sample", np.concatenate([p[v].values for p in parts])) for v in tracked},
                **{
                    v: ("spike", np.concatenate([p[v].values for p in parts]))
                    for v in ("spike_time", "spike_cell")
                },
            },
            coords={
                "cell_id": ("cell", ids),
                "animal": ("cell", np.concatenate([p["animal"].values for p in parts])),
            },
            attrs={**first, "session": session or first.get("session", "")},
        )
        return cls(ds)

    # ------------------------------------------------------------------ access
    @property
    def animals(self) -> list[str]:
        """Animal names in the order their cells appear."""
        return list(dict.fromkeys(self.dataset["animal"].values.tolist()))

    @property
    def arena(self) -> tuple[float, float]:
        """(x side, y side) in metres."""
        return self.dataset.attrs["arena_x_m"], self.dataset.attrs["arena_y_m"]

    @property
    def origin(self) -> tuple[float, float]:
        """Lower-left corner of the arena in metres."""
        return self.dataset.attrs["origin_x_m"], self.dataset.attrs["origin_y_m"]

    @property
    def cell_ids(self) -> np.ndarray:
        return self.dataset["cell_id"].values

    @property
    def n_cells(self) -> int:
        return int(self.dataset.sizes["cell"])

    def _animal(self, animal: str | None) -> str:
        animals = self.animals or list(dict.fromkeys(self.dataset["sample_animal"].values))
        if animal is None:
            if len(animals) != 1:
                raise RecordingError(
                    f"the recording holds {len(animals)} animals ({_preview(animals)}); "
                    "pass animal= one of them"
                )
            return animals[0]
        if animal not in animals:
            raise RecordingError(f"no animal {animal!r}; animals: {_preview(animals)}")
        return animal

    def tracking(self, animal: str | None = None) -> dict[str, np.ndarray]:
        """One animal's samples: ``time`` (T,) s, ``position`` (T, 2) m, ``head_direction``
        (T,) rad or None, ``speed`` (T,) m/s.

        The speed of sample t is the distance to sample t + 1 over the time between them (the
        last sample repeats the previous one's).
        """
        animal = self._animal(animal)
        pick = self.dataset["sample_animal"].values == animal
        time = self.dataset["time"].values[pick]
        pos = np.stack([self.dataset["x"].values[pick], self.dataset["y"].values[pick]], 1)
        step = np.linalg.norm(np.diff(pos, axis=0), axis=1) / np.diff(time)
        hd = (
            self.dataset["head_direction"].values[pick]
            if "head_direction" in self.dataset
            else None
        )
        return {
            "time": time,
            "position": pos,
            "head_direction": hd,
            "speed": np.append(step, step[-1]),
        }

    def cells_of(self, animal: str) -> np.ndarray:
        """Indices (along ``cell``) of one animal's cells."""
        return np.flatnonzero(self.dataset["animal"].values == self._animal(animal))

    def spike_times(self, cells: Sequence[int] | None = None) -> list[np.ndarray]:
        """Sorted spike times (s) of each cell (all cells, or the given indices)."""
        cells = range(self.n_cells) if cells is None else cells
        t, c = self.dataset["spike_time"].values, self.dataset["spike_cell"].values
        order = np.argsort(c, kind="stable")
        bounds = np.searchsorted(c[order], np.arange(self.n_cells + 1))
        return [np.sort(t[order[bounds[i] : bounds[i + 1]]]) for i in cells]

    def spike_counts(self, animal: str | None = None) -> np.ndarray:
        """Spikes of each of one animal's cells in each of its tracking samples.

        Returns
        -------
        (cells of the animal, samples) int counts; a spike counts in the last sample at or
        before it.
        """
        animal = self._animal(animal)
        time = self.tracking(animal)["time"]
        cells = self.cells_of(animal)
        out = np.zeros((len(cells), len(time)), dtype=np.int64)
        for row, spikes in enumerate(self.spike_times(cells)):
            sample = np.searchsorted(time, spikes, side="right") - 1
            out[row] = np.bincount(sample[sample >= 0], minlength=len(time))[: len(time)]
        return out

    def rate_maps(
        self,
        animal: str | None = None,
        *,
        bin_cm: float = 5.0,
        smooth_cm: float = 0.0,
        min_occupancy_s: float = 0.0,
    ) -> RateMaps:
        """Occupancy-normalised rate maps of one animal's cells (spec: mouse-and-entorhinal.md
        §2-3), via :func:`~brainlike.analysis.spatial.rate_maps_from_spikes`.

        Parameters
        ----------
        animal : which animal (may be left out when there is one).
        bin_cm : bin side, cm. smooth_cm : Gaussian s.d., cm (0 = none).
        min_occupancy_s : bins visited for less than this many seconds are NaN.

        Returns
        -------
        RateMaps, rates (cells of the animal, H, W) in spikes/s, occupancy in s.
        """
        animal = self._animal(animal)
        track = self.tracking(animal)
        return rate_maps_from_spikes(
            track["position"],
            track["time"],
            self.spike_times(self.cells_of(animal)),
            self.arena,
            bin_cm=bin_cm,
            min_occupancy_s=min_occupancy_s,
            smooth_cm=smooth_cm,
            origin=self.origin,
        )

    def rate_maps_per_animal(self, **kwargs: Any) -> dict[str, RateMaps]:
        """:meth:`rate_maps` of every animal (keyword arguments as there); stack the
        ``rates`` in this order to follow the recording's cell order."""
        return {a: self.rate_maps(a, **kwargs) for a in self.animals}

    # ------------------------------------------------------------------ files
    def save(self, path: str | Path) -> Path:
        """Write the recording as netCDF (h5netcdf); return the path."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        self.dataset.to_netcdf(path, engine="h5netcdf")
        return path

    @classmethod
    def load(cls, path: str | Path) -> SpatialRecording:
        """Read a recording written by :meth:`save` (loaded into memory)."""
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"no spatial recording at {str(path)!r}")
        with reading(path, "a saved SpatialRecording (netCDF-4)", "write it with .save()"):
            with xr.open_dataset(path, engine="h5netcdf") as ds:
                ds = ds.load()
        for name in ("sample_animal", "cell_id", "animal"):
            if name in ds.variables:
                ds[name] = ds[name].astype(str)
        return cls(ds)

    def __repr__(self) -> str:
        return (
            f"SpatialRecording({self.n_cells} cells, animals {self.animals}, "
            f"{self.dataset.sizes['sample']} samples, {self.dataset.sizes['spike']} spikes, "
            f"arena {self.arena[0]:g} x {self.arena[1]:g} m)"
        )


def _check_in_arena(x, y, size, low, units, animal) -> None:
    """Positions far outside the arena are another unit; a little outside, a small arena."""
    lo_x, lo_y = float(np.min(x)), float(np.min(y))
    hi_x, hi_y = float(np.max(x)), float(np.max(y))
    span = max(hi_x - lo_x, hi_y - lo_y)
    if span > _UNIT_FACTOR * max(size):
        raise RecordingError(
            f"animal {animal!r}: positions span {span:g} m (read as {units!r}) but the arena "
            f"is {size[0]:g} x {size[1]:g} m; the positions are in another unit: pass "
            "units='cm' or 'mm' (--units)"
        )
    tol = _WALL_TOL * max(size)
    outside = (
        lo_x < low[0] - tol
        or lo_y < low[1] - tol
        or hi_x > low[0] + size[0] + tol
        or hi_y > low[1] + size[1] + tol
    )
    if outside:
        raise RecordingError(
            f"animal {animal!r}: the arena [{low[0]:g}, {low[0] + size[0]:g}] x "
            f"[{low[1]:g}, {low[1] + size[1]:g}] m is smaller than the data, which span "
            f"[{lo_x:g}, {hi_x:g}] x [{lo_y:g}, {hi_y:g}] m; pass a larger arena or the "
            "right origin (lower-left corner, m)"
        )


# ---------------------------------------------------------------------------------------------
# readers


def _mat_vector(data: Mapping[str, Any], name: str, path: Path) -> np.ndarray:
    if name not in data:
        names = [k for k in data if not k.startswith("__")]
        raise RecordingError(
            f"{str(path)!r} has no variable {name!r}; variables: {_preview(names, 10)}"
        )
    try:
        if np.iscomplexobj(data[name]):
            raise TypeError("complex")
        return np.asarray(data[name], dtype=float).ravel()
    except (TypeError, ValueError):
        kind = type(data[name]).__name__
        raise RecordingError(
            f"{str(path)!r}: variable {name!r} is not numeric ({kind}); it must hold numbers"
        ) from None


def _loadmat(path: Path) -> dict[str, Any]:
    from scipy.io import loadmat

    with reading(path, "a MATLAB .mat file", "save it from MATLAB (v7 or earlier) or savemat"):
        return loadmat(path)


def read_spatial_mat(
    positions: str | Path,
    spikes: Sequence[str | Path],
    *,
    arena: float | Sequence[float],
    units: str | float = "cm",
    position_variables: tuple[str, str, str] = ("posx", "posy", "post"),
    spike_variable: str = "cellTS",
    head_direction_variable: str | None = None,
    animal: str = "animal0",
    origin: Sequence[float] | None = None,
    session: str = "",
    spikes_outside: str = "refuse",
) -> SpatialRecording:
    """One animal from MATLAB files: a position file and one spike-time file per cell.

    Parameters
    ----------
    positions : .mat with x, y and time vectors (``position_variables``: x, y, t names).
    spikes : .mat files, one per cell, each with the spike times (s) in ``spike_variable``;
        a cell's id is its file's stem.
    arena : side(s) in metres. units : unit of x and y ('cm' by default, as such files ship).
    head_direction_variable : a variable of the position file in radians, or None.
    Other parameters as in :meth:`SpatialRecording.from_arrays`.
    """
    positions = Path(positions)
    pos = _loadmat(positions)
    x, y, t = (_mat_vector(pos, name, positions) for name in position_variables)
    hd = (
        None
        if head_direction_variable is None
        else _mat_vector(pos, head_direction_variable, positions)
    )
    spike_times = []
    for f in spikes:
        f = Path(f)
        spike_times.append(_mat_vector(_loadmat(f), spike_variable, f))
    return SpatialRecording.from_arrays(
        t,
        x,
        y,
        spike_times,
        arena=arena,
        units=units,
        head_direction=hd,
        cell_ids=[Path(f).stem for f in spikes],
        animal=animal,
        origin=origin,
        session=session or positions.stem,
        spikes_outside=spikes_outside,
    )


def _read_csv(path: Path, required: Sequence[str]) -> dict[str, list[str]]:
    if not path.is_file():
        raise FileNotFoundError(f"no file {str(path)!r}")
    with reading(path, "a CSV file", "save it as UTF-8 CSV with a header row"):
        with path.open(newline="", encoding="utf-8") as fh:
            rows = list(csv.reader(fh))
    columns = [c.strip() for c in (rows[0] if rows else [])]
    missing = [c for c in required if c not in columns]
    if missing:
        raise RecordingError(
            f"{str(path)!r} lacks column(s) {', '.join(missing)}; it has "
            f"{', '.join(columns) or 'no header'} (need {', '.join(required)})"
        )
    out: dict[str, list[str]] = {c: [] for c in columns}
    for line, row in enumerate(rows[1:], start=2):
        if not row:
            continue  # a blank line, as csv.DictReader skips it
        if len(row) != len(columns):
            raise RecordingError(
                f"{str(path)!r} line {line} has {len(row)} fields but the header has "
                f"{len(columns)}; give every row one value per column"
            )
        for key, value in zip(columns, row, strict=True):
            out[key].append(value)
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def read_spatial_csv(
    positions: str | Path,
    spikes: str | Path,
    *,
    arena: float | Sequence[float],
    units: str | float = "m",
    animal: str = "animal0",
    origin: Sequence[float] | None = None,
    session: str = "",
    spikes_outside: str = "refuse",
) -> SpatialRecording:
    """One animal from CSV: ``positions`` with columns ``t,x,y[,hd]`` (s, ``units``, rad) and
    ``spikes`` with columns ``cell,t`` (cell ids in order of first appearance, s).

    Parameters as in :meth:`SpatialRecording.from_arrays`; an empty ``x`` or ``y`` is NaN.
    """
    positions, spikes = Path(positions), Path(spikes)
    pos = _read_csv(positions, ("t", "x", "y"))

    def num(values: list[str], column: str, path: Path) -> np.ndarray:
        try:
            return np.array([float(v) if v.strip() else np.nan for v in values], dtype=float)
        except ValueError:
            bad = next(v for v in values if v.strip() and not _is_number(v))
            raise RecordingError(
                f"{str(path)!r} column {column!r} holds {bad!r}, not a number; give numbers"
            ) from None

    sp = _read_csv(spikes, ("cell", "t"))
    cells = list(dict.fromkeys(v.strip() for v in sp["cell"]))
    cell_of = np.array([v.strip() for v in sp["cell"]])
    times = num(sp["t"], "t", spikes)
    return SpatialRecording.from_arrays(
        num(pos["t"], "t", positions),
        num(pos["x"], "x", positions),
        num(pos["y"], "y", positions),
        [times[cell_of == c] for c in cells],
        arena=arena,
        units=units,
        head_direction=num(pos["hd"], "hd", positions) if "hd" in pos else None,
        cell_ids=cells,
        animal=animal,
        origin=origin,
        session=session or positions.parent.name,
        spikes_outside=spikes_outside,
    )


_NWB_UNITS = {"m": 1.0, "meter": 1.0, "meters": 1.0, "cm": 0.01, "centimeters": 0.01}


def _spatial_series(nwb: Any, kind: str) -> Any:
    """The first SpatialSeries inside a ``kind`` container (Position or CompassDirection) in
    a processing module or the acquisition group, or None."""
    from pynwb.behavior import SpatialSeries

    groups = [*nwb.processing.values(), None]
    for module in groups:
        objects = (module.data_interfaces if module is not None else nwb.acquisition).values()
        for obj in objects:
            if type(obj).__name__ == kind:
                series = list(obj.spatial_series.values())
                if series:
                    return series[0]
            if kind == "Position" and isinstance(obj, SpatialSeries) and module is None:
                return obj
    return None


def _series_times(series: Any) -> np.ndarray:
    if series.timestamps is not None:
        return np.asarray(series.timestamps[:], dtype=float)
    n = len(series.data)
    return series.starting_time + np.arange(n) / series.rate


def read_spatial_nwb(
    path: str | Path,
    *,
    arena: float | Sequence[float],
    units: str | float | None = None,
    animal: str | None = None,
    origin: Sequence[float] | None = None,
    spikes_outside: str = "refuse",
) -> SpatialRecording:
    """One animal from NWB: the first ``Position`` SpatialSeries (a processing module such as
    ``behavior``, or the acquisition group), an optional ``CompassDirection`` SpatialSeries
    (radians) and the ``Units`` table's spike times.

    ``units`` defaults to the SpatialSeries' ``unit`` ('meters' or 'cm', times its
    ``conversion``); ``animal`` to the subject id. Cell ids are the units' ids.
    """
    from pynwb import NWBHDF5IO

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no NWB file {str(path)!r}")
    with NWBHDF5IO(str(path), "r") as io:
        nwb = io.read()
        series = _spatial_series(nwb, "Position")
        if series is None:
            raise RecordingError(
                f"{str(path)!r} has no Position SpatialSeries (looked in the processing "
                "modules and acquisition); it holds no tracking"
            )
        data = np.asarray(series.data[:], dtype=float)
        if data.ndim != 2 or data.shape[1] < 2:
            raise RecordingError(
                f"{str(path)!r}: SpatialSeries {series.name!r} has shape {data.shape}; need "
                "(samples, 2) x, y"
            )
        times = _series_times(series)
        if units is None:
            unit = str(series.unit).strip().lower()
            if unit not in _NWB_UNITS:
                raise RecordingError(
                    f"{str(path)!r}: position unit {series.unit!r} is not known; pass units= "
                    "('m', 'cm', 'mm' or metres per unit)"
                )
            units = _NWB_UNITS[unit] * float(series.conversion)
        compass = _spatial_series(nwb, "CompassDirection")
        hd = None
        if compass is not None:
            hd = np.asarray(compass.data[:], dtype=float).ravel()
            if not np.array_equal(_series_times(compass), times):
                hd = np.interp(times, _series_times(compass), np.unwrap(hd))
            hd = np.angle(np.exp(1j * hd))
        if nwb.units is None:
            raise RecordingError(f"{str(path)!r} has no Units table; it holds no spike times")
        table = nwb.units
        spike_times = [np.asarray(table["spike_times"][i], float) for i in range(len(table))]
        ids = [str(i) for i in table.id[:]]
        if animal is None:
            subject = nwb.subject.subject_id if nwb.subject is not None else None
            animal = subject or "animal0"
        session = nwb.identifier
    return SpatialRecording.from_arrays(
        times,
        data[:, 0],
        data[:, 1],
        spike_times,
        arena=arena,
        units=units,
        head_direction=hd,
        cell_ids=ids,
        animal=animal,
        origin=origin,
        session=session,
        spikes_outside=spikes_outside,
    )


def read_spatial_recording(path: str | Path) -> SpatialRecording:
    """Read a spatial recording saved as netCDF (``recording.nc``)."""
    return SpatialRecording.load(path)
