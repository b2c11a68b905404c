"""Stimulus sets: a CSV (``stimulus_id``, ``filename``, ...) next to the image files.

Also the check that a recording's stimuli are those of a stimulus set.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from brainlike.data.recordings.recording import (
    DIMS,
    TIME_DIM,
    RecordingError,
    _as_str_array,
    _check_structure,
    _check_unique,
    _existing,
    _plural,
    _preview,
    reading,
)


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
    hint = "save it as UTF-8 CSV with a header row: stimulus_id,filename[,...]"
    with reading(csv_path, "a stimulus set CSV", hint):
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
