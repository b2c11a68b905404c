"""The result of an extraction: :class:`Activations`, a read-only mapping layer name ->
``(stimulus, unit)`` array (``(stimulus, unit, time)`` when time-resolved) that also knows each
unit's place on its cortical sheet, each layer's shape and cache entry, and owns the temporary
directory of arrays too large for RAM.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import weakref
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Activations"]


class Activations(Mapping[str, np.ndarray]):
    """Layer name -> ``(stimulus, unit)`` array (``(stimulus, unit, time)`` when extracted with
    ``time_steps``), with each unit's place on its cortical sheet.

    Arrays are read-only: memory maps when they come from the cache or a temporary directory,
    plain arrays when small. Use as a context manager (or call :meth:`close`) to release a
    temporary directory early.

    Attributes
    ----------
    layers : the layer names, in the order they were requested.
    cache_key : sha256 of everything the activations depend on except the layer name and PCA
        settings (model, stimuli, preprocessing, dtype, versions, time steps); ``None``
        without a cache.
    time_steps : number of time steps of the trailing time axis, or ``None`` (no time axis).
    cache_keys : layer -> the cache entry (directory name) holding that layer's array.
    from_cache : layer -> whether the array was read from the cache instead of computed.
    paths : layer -> the ``.npy`` file behind the array, or ``None`` for in-RAM arrays.
    """

    def __init__(
        self, n_stimuli: int, cache_key: str | None = None, time_steps: int | None = None
    ) -> None:
        self.n_stimuli = n_stimuli
        self.cache_key = cache_key
        self.time_steps = time_steps
        self.cache_keys: dict[str, str] = {}
        self.from_cache: dict[str, bool] = {}
        self.paths: dict[str, Path | None] = {}
        self._arrays: dict[str, np.ndarray] = {}
        self._meta: dict[str, dict[str, Any]] = {}
        self._coords: dict[str, np.ndarray | None] = {}
        self._tempdir: Path | None = None
        self._finalizer: weakref.finalize | None = None
        self._closed = False

    # Mapping protocol --------------------------------------------------------------------
    def __getitem__(self, layer: str) -> np.ndarray:
        if self._closed:
            raise RuntimeError("these activations are closed; extract them again to read them")
        if layer not in self._arrays:
            raise KeyError(f"no layer {layer!r} in these activations; layers: {self.layers}")
        return self._arrays[layer]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._arrays))

    def __len__(self) -> int:
        return len(self._arrays)

    def __contains__(self, layer: object) -> bool:
        return layer in self._arrays

    def __repr__(self) -> str:
        shapes = ", ".join(f"{k}: {self.shape(k)}" for k in self._arrays)
        return f"Activations({self.n_stimuli} stimuli; {shapes})"

    @property
    def layers(self) -> list[str]:
        return list(self._arrays)

    def shape(self, layer: str) -> tuple[int, ...]:
        """``(stimulus, unit)`` (or ``(stimulus, unit, time)``) shape of ``layer`` without
        reading its values."""
        return tuple(self._meta_of(layer)["shape"])

    def unit_shape(self, layer: str) -> tuple[int, ...] | None:
        """Per-stimulus shape of the layer's output before flattening (e.g. ``(C, H, W)``; of
        one time step for time-resolved layers); ``None`` for a PCA-projected layer, whose
        units are components."""
        shape = self._meta_of(layer).get("unit_shape")
        return None if shape is None else tuple(shape)

    def metadata(self, layer: str) -> dict[str, Any]:
        """The layer's cache metadata: shape, dtype, unit shape, key components, PCA details."""
        return json.loads(json.dumps(self._meta_of(layer)))

    def sheet_coordinates(self, layer: str) -> np.ndarray | None:
        """``(unit, 2)`` position of every unit on its cortical sheet, or ``None``.

        Only sheets the model declares: ``sheet:<name>`` layers take ``model.sheet[name]``
        (Reset networks: the (row, col) grid position of each unit, row-major as flattened);
        a module with a ``sheet`` attribute (locality-prior layers) gives ``sheet["out"]``.
        Ordinary conv layers have no sheet (their retinotopic ``(H, W)`` is in
        :meth:`unit_shape`); PCA components have none either.
        """
        self._meta_of(layer)
        coords = self._coords.get(layer)
        return None if coords is None else coords.copy()

    # lifetime ------------------------------------------------------------------------------
    def close(self) -> None:
        """Drop the arrays and remove the temporary directory, if any (cache files stay)."""
        self._arrays.clear()
        self._closed = True
        if self._finalizer is not None:
            self._finalizer()

    def __enter__(self) -> Activations:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # building (used by extract_activations) --------------------------------------------------
    def _meta_of(self, layer: str) -> dict[str, Any]:
        if layer not in self._meta:
            raise KeyError(f"no layer {layer!r} in these activations; layers: {self.layers}")
        return self._meta[layer]

    def _temp_dir(self) -> Path:
        if self._tempdir is None:
            self._tempdir = Path(tempfile.mkdtemp(prefix="brainlike-activations-"))
            self._finalizer = weakref.finalize(
                self, shutil.rmtree, str(self._tempdir), ignore_errors=True
            )
        return self._tempdir

    def _add(
        self,
        layer: str,
        array: np.ndarray,
        meta: dict[str, Any],
        *,
        from_cache: bool,
        path: Path | None,
        key: str | None,
        coords: np.ndarray | None,
    ) -> None:
        if not isinstance(array, np.memmap):
            array.flags.writeable = False
        self._arrays[layer] = array
        self._meta[layer] = meta
        self.from_cache[layer] = from_cache
        self.paths[layer] = path
        self._coords[layer] = coords
        if key is not None:
            self.cache_keys[layer] = key
