"""Longitudinal synapse sizes: a synapses x sessions table read from CSV, npz or npy.

Chronic two-photon imaging follows the same synapses over sessions (days) and measures a size
for each: integrated PSD-95 fluorescence, spine volume, ... (spec: learning-rules.md §3). A
synapse not there in a session -- not yet added, or eliminated -- has size 0; NaN and 0 both
mean "absent" in the files read here, and are stored as 0 (the Markov chain's zero state).

Sizes from different dendrites, animals and days are not comparable as measured: imaging
depth, laser power and bleaching change the scale. :func:`normalise_sizes` divides every size
by the mean size of the synapses between the 40th and 60th percentile of its own dendrite on
its own session (thesis ch. 6, part I), so that 1 is a typical synapse everywhere.
:func:`percentile_filter` keeps the persistent synapses of the middle of the distribution
(25th-75th percentile) for the change analyses, whose smallest synapses are the noisiest.

Readers refuse a table they cannot use with one :class:`RecordingError` line that names the
problem and the fix, before anything is computed or written.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.data.recordings.recording import (
    RecordingError,
    _as_str_array,
    _existing,
    _plural,
    _preview,
)

#: Metadata columns of a CSV table (and keys of an npz archive), by their accepted names.
METADATA_COLUMNS: dict[str, tuple[str, ...]] = {
    "synapse_id": ("synapse_id", "synapse", "id"),
    "cell_type": ("cell_type", "celltype", "cell"),
    "dendrite": ("dendrite", "dendrite_id"),
    "animal": ("animal", "mouse", "animal_id"),
}
SUFFIXES = (".csv", ".npz", ".npy")
#: Sessions a table needs: two consecutive changes per synapse (lag-1 correlation, Markov).
MIN_SESSIONS = 3
#: spec: learning-rules.md §3 (thesis: mean of the 40-60th percentile of dendrite and day).
REFERENCE_BAND = (40.0, 60.0)
#: thesis ch. 6: only synapses of the 25th-75th percentile enter the change analyses.
FILTER_BAND = (25.0, 75.0)
_MISSING = {"", "nan", "na", "n/a", "none", "null"}
_NPZ_KEYS = ("sizes", "session_times", *METADATA_COLUMNS)


@dataclass(frozen=True)
class SynapseTable:
    """Synapse sizes over imaging sessions with their labels.

    Attributes
    ----------
    sizes : ndarray, shape (synapse, session)
        Size of every synapse in every session; 0 where the synapse is absent.
    session_times : ndarray, shape (session,)
        Time of every session (e.g. days), strictly increasing.
    synapse_id, cell_type, dendrite, animal : ndarray of str, shape (synapse,)
        Labels; ``"unknown"`` where the file gives none.
    source : str
        The file the table was read from (empty when built in memory).
    normalisation : dict or None
        How :func:`normalise_sizes` scaled the sizes (None: as measured).
    n_never_present : int
        Rows of the file dropped because the synapse is absent in every session.
    """

    sizes: np.ndarray
    session_times: np.ndarray
    synapse_id: np.ndarray
    cell_type: np.ndarray
    dendrite: np.ndarray
    animal: np.ndarray
    source: str = ""
    normalisation: dict[str, Any] | None = None
    n_never_present: int = 0
    session_names: tuple[str, ...] = field(default=())

    @property
    def n_synapses(self) -> int:
        return int(self.sizes.shape[0])

    @property
    def n_sessions(self) -> int:
        return int(self.sizes.shape[1])

    @property
    def present(self) -> np.ndarray:
        """(synapse, session) bool: the synapse is there in that session."""
        return self.sizes > 0

    @property
    def cell_types(self) -> list[str]:
        """The cell types in the order they first appear."""
        return list(dict.fromkeys(self.cell_type.tolist()))

    def subset(self, mask: np.ndarray) -> SynapseTable:
        """The synapses where ``mask`` (bool, shape (synapse,)) is true."""
        mask = np.asarray(mask, dtype=bool)
        return replace(
            self,
            sizes=self.sizes[mask],
            synapse_id=self.synapse_id[mask],
            cell_type=self.cell_type[mask],
            dendrite=self.dendrite[mask],
            animal=self.animal[mask],
        )


def make_synapse_table(
    sizes: Any,
    *,
    session_times: Sequence[float] | None = None,
    synapse_id: Sequence[Any] | None = None,
    cell_type: str | Sequence[Any] | None = None,
    dendrite: str | Sequence[Any] | None = None,
    animal: str | Sequence[Any] | None = None,
    source: str = "",
    session_names: Sequence[str] | None = None,
) -> SynapseTable:
    """Check a synapses x sessions array and its labels and build a :class:`SynapseTable`.

    Parameters
    ----------
    sizes : array-like, shape (synapse, session)
        Sizes >= 0; NaN or 0 where the synapse is absent.
    session_times : sequence of float, optional
        Strictly increasing session times (default 0, 1, 2, ...).
    synapse_id : sequence, optional
        One unique id per synapse (default ``s0``, ``s1``, ...).
    cell_type, dendrite, animal : str or sequence, optional
        One label per synapse, or one label for all (default ``"unknown"``).
    source : str
        Name of the file, used in messages.
    session_names : sequence of str, optional
        Column names of the sessions (default ``session_0``, ...).

    Returns
    -------
    SynapseTable
        Synapses absent in every session are dropped (counted in ``n_never_present``).
    """
    where = f"{source!r}" if source else "the table"
    arr = np.asarray(sizes)
    if arr.dtype.kind not in "biuf":
        raise RecordingError(
            f"{where} holds {arr.dtype} values; synapse sizes must be numbers (NaN or 0 = absent)"
        )
    arr = arr.astype(np.float64)
    if arr.ndim != 2:
        raise RecordingError(
            f"{where} has shape {arr.shape}; expected a 2-D synapses x sessions array "
            f"(one row per synapse, one column per session)"
        )
    n_syn, n_ses = arr.shape
    if n_ses < MIN_SESSIONS:
        hint = " (is it saved sessions x synapses? transpose it)" if n_syn >= MIN_SESSIONS else ""
        raise RecordingError(
            f"{where} has {_plural(n_ses, 'session')}; the change analyses need at least "
            f"{MIN_SESSIONS} sessions (two consecutive changes per synapse){hint}"
        )
    if np.isinf(arr).any():
        i, j = np.argwhere(np.isinf(arr))[0]
        raise RecordingError(
            f"{where} has an infinite size (synapse row {i}, session {j}); sizes must be "
            f"finite numbers (NaN or 0 = absent)"
        )
    names = (
        tuple(str(s) for s in session_names)
        if session_names is not None
        else tuple(f"session_{j}" for j in range(n_ses))
    )
    ids = (
        np.array([f"s{i}" for i in range(n_syn)])
        if synapse_id is None
        else _as_str_array(synapse_id)
    )
    if ids.shape != (n_syn,):
        raise RecordingError(
            f"synapse_id has {ids.size} entries but {where} has {_plural(n_syn, 'synapse')}; "
            f"give one id per synapse"
        )
    negative = np.argwhere(arr < 0)
    if len(negative):
        i, j = negative[0]
        raise RecordingError(
            f"{where} has {_plural(len(negative), 'negative size')} (first: synapse {str(ids[i])!r}, "
            f"session {names[j]!r}: {arr[i, j]:g}); sizes are amounts (fluorescence, volume) "
            f">= 0: write 0 or NaN for an absent synapse and subtract no background below 0"
        )
    uniq, counts = np.unique(ids, return_counts=True)
    if (counts > 1).any():
        raise RecordingError(
            f"synapse ids must be unique; {_preview(uniq[counts > 1])} occur more than once "
            f"in {where}"
        )
    times = np.arange(n_ses, dtype=float) if session_times is None else np.asarray(session_times)
    if times.dtype.kind not in "biuf" or times.shape != (n_ses,):
        raise RecordingError(
            f"session times must be {n_ses} numbers, one per session; got {_preview(times)}"
        )
    times = times.astype(float)
    if not (np.isfinite(times).all() and (np.diff(times) > 0).all()):
        raise RecordingError(
            f"session times must increase from session to session; got {_preview(times, 8)} "
            f"(order the session columns in time)"
        )
    labels = {
        name: _labels(value, n_syn, name, where)
        for name, value in (("cell_type", cell_type), ("dendrite", dendrite), ("animal", animal))
    }
    arr = np.nan_to_num(arr, nan=0.0)
    seen = (arr > 0).any(axis=1)
    if not seen.any():
        raise RecordingError(f"{where} has no synapse present in any session (all 0 or NaN)")
    return SynapseTable(
        sizes=arr[seen],
        session_times=times,
        synapse_id=ids[seen],
        cell_type=labels["cell_type"][seen],
        dendrite=labels["dendrite"][seen],
        animal=labels["animal"][seen],
        source=source,
        n_never_present=int((~seen).sum()),
        session_names=names,
    )


def _labels(value: Any, n: int, name: str, where: str) -> np.ndarray:
    if value is None:
        return np.full(n, "unknown")
    if isinstance(value, str):
        return np.full(n, value)
    arr = _as_str_array(value)
    if arr.shape != (n,):
        raise RecordingError(
            f"{name} has {arr.size} entries but {where} has {_plural(n, 'synapse')}; give one "
            f"{name} per synapse (or one for all)"
        )
    return arr


def read_synapses(
    path: str | Path,
    *,
    metadata: str | Path | None = None,
    session_times: Sequence[float] | None = None,
) -> SynapseTable:
    """Read a synapses x sessions table of sizes.

    Formats, by suffix:

    - ``.csv``: one row per synapse. The columns ``synapse_id``, ``cell_type``, ``dendrite``
      and ``animal`` (also ``synapse``, ``cell``, ``mouse``, ...; any may be missing) are
      labels; every other column is a session, in time order. A session column named by a
      number, or ending in one (``day4``), gives that session's time. Empty, ``NaN`` or 0 =
      absent.
    - ``.npz``: ``sizes`` (synapse, session), optional ``session_times`` and per-synapse
      ``synapse_id``, ``cell_type``, ``dendrite``, ``animal``.
    - ``.npy``: the bare (synapse, session) array.

    Parameters
    ----------
    path : str or Path
    metadata : str or Path, optional
        A CSV with one row per synapse (in table order) and label columns (``cell_type``,
        ``dendrite``, ``animal``, ``synapse_id``): the labels of an npy or npz file.
    session_times : sequence of float, optional
        Session times (e.g. days), for files that do not carry them.

    Returns
    -------
    SynapseTable
    """
    path = _existing(path, "synapse table")
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise RecordingError(
            f"{str(path)!r}: unknown table format {suffix or '(no suffix)'!r}; a synapse table "
            f"is a .csv, .npz or .npy file"
        )
    given: dict[str, Any] = {}
    if suffix == ".csv":
        given = _read_csv(path)
    elif suffix == ".npz":
        given = _read_npz(path)
    else:
        given = {"sizes": np.load(path, allow_pickle=False)}
    if metadata is not None:
        labels = _read_csv(_existing(metadata, "metadata file"), labels_only=True)
        clash = sorted(set(labels) & set(given) - {"sizes"})
        if clash:
            raise RecordingError(
                f"{', '.join(clash)} given both in {path.name} and in {Path(metadata).name}; "
                f"keep one"
            )
        given.update(labels)
    if session_times is not None:
        if given.get("session_times") is not None:
            raise RecordingError(
                f"{path.name} already gives session times; pass session_times only for files "
                f"without them"
            )
        given["session_times"] = session_times
    return make_synapse_table(source=str(path), **given)


def _read_npz(path: Path) -> dict[str, Any]:
    with np.load(path, allow_pickle=False) as z:
        keys = list(z.keys())
        unknown = [k for k in keys if k not in _NPZ_KEYS]
        if "sizes" not in keys or unknown:
            what = (
                f"has no 'sizes' array (it holds {_preview(keys)})"
                if "sizes" not in keys
                else (f"holds unknown arrays {_preview(unknown)}")
            )
            raise RecordingError(
                f"{path.name} {what}; a synapse npz holds 'sizes' (synapse, session) and "
                f"optionally {', '.join(repr(k) for k in _NPZ_KEYS[1:])}"
            )
        return {k: z[k] for k in keys}


def _column_role(name: str) -> str | None:
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    for role, names in METADATA_COLUMNS.items():
        if key in names:
            return role
    return None


def _read_csv(path: Path, labels_only: bool = False) -> dict[str, Any]:
    with path.open(newline="", encoding="utf-8-sig") as f:
        rows = [r for r in csv.reader(f) if any(cell.strip() for cell in r)]
    if len(rows) < 2:
        raise RecordingError(
            f"{path.name} has no data rows; a synapse table has a header row and one row per "
            f"synapse"
        )
    header = [h.strip() for h in rows[0]]
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise RecordingError(
                f"{path.name} row {number} has {len(row)} fields but the header has "
                f"{len(header)}; every synapse needs one value per column (leave a cell empty "
                f"or write NaN when the synapse is absent)"
            )
    roles = [_column_role(h) for h in header]
    repeated = [r for r in set(roles) - {None} if roles.count(r) > 1]
    if repeated:
        raise RecordingError(f"{path.name} has more than one {repeated[0]} column; keep one")
    out: dict[str, Any] = {
        role: [row[k].strip() for row in rows[1:]] for k, role in enumerate(roles) if role
    }
    sessions = [k for k, role in enumerate(roles) if role is None]
    if labels_only:
        if sessions:
            raise RecordingError(
                f"{path.name} has columns {_preview([header[k] for k in sessions])} that are "
                f"not labels; a metadata file has only {', '.join(METADATA_COLUMNS)}"
            )
        return out
    if not sessions:
        raise RecordingError(
            f"{path.name} has no session columns; every column other than "
            f"{', '.join(METADATA_COLUMNS)} is a session of sizes"
        )
    sizes = np.empty((len(rows) - 1, len(sessions)))
    for i, row in enumerate(rows[1:]):
        for j, k in enumerate(sessions):
            cell = row[k].strip()
            if cell.lower() in _MISSING:
                sizes[i, j] = np.nan
                continue
            try:
                sizes[i, j] = float(cell)
            except ValueError:
                raise RecordingError(
                    f"{path.name} row {i + 2}, column {header[k]!r}: {cell!r} is not a number; "
                    f"sizes must be numbers (empty, NaN or 0 = absent), and label columns must "
                    f"be named {', '.join(METADATA_COLUMNS)}"
                ) from None
    names = [header[k] for k in sessions]
    out["sizes"] = sizes
    out["session_names"] = names
    out["session_times"] = _times_from_names(names)
    return out


def _times_from_names(names: Sequence[str]) -> list[float] | None:
    """Session times from column names such as ``0, 4, 8`` or ``day0, day4``; None if any
    name carries no number."""
    times = []
    for name in names:
        # a number, or letters then a number (day4, session_4); a date such as 2021-03-04 is not
        m = re.fullmatch(r"[A-Za-z_ ]*?(-?\d+(?:\.\d+)?)", name.strip())
        if m is None:
            return None
        times.append(float(m.group(1)))
    return times


def select_cell_types(table: SynapseTable, names: Sequence[str] | None) -> SynapseTable:
    """The synapses of the cell types ``names`` (all when None).

    Raises
    ------
    RecordingError
        When a name is not a cell type of the table.
    """
    if not names:
        return table
    known = table.cell_types
    missing = [n for n in names if n not in known]
    if missing:
        raise RecordingError(
            f"no synapses of cell type {missing[0]!r} in {table.source or 'the table'}; its cell "
            f"types are {_preview(known, 10)} (from its cell_type column)"
        )
    return table.subset(np.isin(table.cell_type, list(names)))


def _band(band: Sequence[float], what: str) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in band)
    except (TypeError, ValueError):
        raise ValueError(
            f"{what} is two percentiles (low, high), e.g. 40,60; got {band!r}"
        ) from None
    if not 0 <= lo < hi <= 100:
        raise ValueError(
            f"{what} must satisfy 0 <= low < high <= 100 (percentiles); got {lo:g}, {hi:g}"
        )
    return lo, hi


def normalise_sizes(table: SynapseTable, band: Sequence[float] = REFERENCE_BAND) -> SynapseTable:
    """Divide every size by its dendrite's typical size on that session.

    For every dendrite (``animal`` x ``dendrite`` label: dendrite names may repeat across
    animals) and every session, the reference is the mean size of the present synapses whose
    size lies between the ``band`` percentiles (inclusive, numpy's linear interpolation) of
    that dendrite's present sizes on that session; each present size is divided by it.
    Without dendrite labels the whole table is one dendrite.

    Parameters
    ----------
    table : SynapseTable
    band : (float, float), default (40, 60)
        Percentiles bounding the reference synapses.

    Returns
    -------
    SynapseTable
        Sizes in units of the reference (absent stays 0); ``normalisation`` records the band,
        the number of dendrites, the fewest present synapses a reference was taken from, and
        the coefficient of variation of the references (imaging variation removed).
    """
    # spec: learning-rules.md §3 (thesis ch. 6: 40-60th percentile of dendrite and time point)
    lo, hi = _band(band, "the normalisation band")
    if table.normalisation is not None:
        raise ValueError("the table is already normalised; normalise the sizes as read once")
    sizes = table.sizes.copy()
    groups = np.array([f"{a}\x1f{d}" for a, d in zip(table.animal, table.dendrite, strict=True)])
    references, fewest = [], None
    for g in dict.fromkeys(groups.tolist()):
        rows = np.flatnonzero(groups == g)
        for j in range(table.n_sessions):
            values = table.sizes[rows, j]
            present = values > 0
            if not present.any():
                continue
            v = values[present]
            p_lo, p_hi = np.percentile(v, [lo, hi])
            reference = v[(v >= p_lo) & (v <= p_hi)].mean()
            sizes[rows[present], j] = v / reference
            references.append(reference)
            fewest = len(v) if fewest is None else min(fewest, len(v))
    refs = np.asarray(references)
    info = {
        "band": [lo, hi],
        "n_dendrites": len(set(groups.tolist())),
        "n_references": len(refs),
        "fewest_synapses_per_reference": fewest,
        "reference_cv": float(refs.std() / refs.mean()) if len(refs) > 1 else 0.0,
        "what": (
            f"each size divided by the mean size of its dendrite's synapses between the "
            f"{lo:g}th and {hi:g}th percentile on the same session"
        ),
    }
    return replace(table, sizes=sizes, normalisation=info)


def percentile_filter(
    table: SynapseTable, band: Sequence[float] = FILTER_BAND, session: int = 0
) -> np.ndarray:
    """The persistent synapses of the middle of the size distribution, for change analyses.

    A synapse passes when it is present in every session and its size in ``session`` lies
    between the ``band`` percentiles (inclusive) of the present sizes in that session.

    Parameters
    ----------
    table : SynapseTable
        Usually one cell type, normalised.
    band : (float, float), default (25, 75)
    session : int, default 0
        The session whose sizes define the percentiles (the first: changes are measured from
        it).

    Returns
    -------
    ndarray of bool, shape (synapse,)
    """
    lo, hi = _band(band, "the filter band")
    if not -table.n_sessions <= session < table.n_sessions:
        raise ValueError(f"session {session} is out of range for {table.n_sessions} sessions")
    w = table.sizes[:, session]
    present = w > 0
    if not present.any():
        return np.zeros(table.n_synapses, dtype=bool)
    p_lo, p_hi = np.percentile(w[present], [lo, hi])
    return table.present.all(axis=1) & (w >= p_lo) & (w <= p_hi)


def write_synapses_csv(table: SynapseTable, path: str | Path) -> Path:
    """Write a table as the CSV that :func:`read_synapses` reads (absent = empty cell)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = [f"day{t:g}" for t in table.session_times]
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*METADATA_COLUMNS, *names])
        for i in range(table.n_synapses):
            sizes = ["" if s == 0 else f"{s:.10g}" for s in table.sizes[i]]
            w.writerow(
                [
                    table.synapse_id[i],
                    table.cell_type[i],
                    table.dendrite[i],
                    table.animal[i],
                    *sizes,
                ]
            )
    return path
