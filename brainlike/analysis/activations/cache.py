"""The on-disk activation cache: entry keys (sha256 of everything the activations depend on),
reading an entry back with its checks, the sinks layers stream into while the model runs, and
the cache folder as a whole (``brainlike cache``: :func:`cache_summary`, :func:`clear_cache`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

import brainlike
from brainlike.train.checkpoint import atomic_write_json, temporary_file_beside

__all__ = ["CACHE_FORMAT", "cache_summary", "clear_cache", "model_digest"]

CACHE_FORMAT = "brainlike-activations-v1"


# --------------------------------------------------------------------------------------------
# cache keys and entries
# --------------------------------------------------------------------------------------------


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, (tuple, set)):
        return list(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def _canonical_json(obj: Any) -> str:
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), default=_json_default)


def _tensor_bytes(t: Tensor) -> memoryview:
    t = t.detach().cpu().contiguous().reshape(-1)
    return memoryview(t.view(torch.uint8).numpy())


def model_digest(model: nn.Module) -> str:
    """sha256 of the model's class, ``repr`` (architecture) and every parameter and buffer.

    Names, dtypes, shapes and bytes all count, non-persistent buffers included, so changing
    one weight (or a BatchNorm running mean) changes the digest.
    """
    h = hashlib.sha256()
    h.update(f"{type(model).__module__}.{type(model).__qualname__}\n{model!r}".encode())
    tensors: dict[str, Any] = dict(model.state_dict(keep_vars=False))
    for name, buf in model.named_buffers():
        tensors.setdefault(name, buf)
    for name in sorted(tensors):
        value = tensors[name]
        if isinstance(value, Tensor):
            h.update(f"\n{name}:{value.dtype}:{tuple(value.shape)}\n".encode())
            h.update(_tensor_bytes(value))
        else:  # extra state (get_extra_state)
            h.update(f"\n{name}:{value!r}\n".encode())
    return h.hexdigest()


def _versions() -> dict[str, str]:
    try:
        from importlib.metadata import version

        pkg = version("brainlike")
    except Exception:  # not installed (source checkout)
        pkg = brainlike.__version__
    return {"brainlike": pkg, "torch": torch.__version__}


def _entry_key(components: Mapping[str, Any]) -> str:
    return hashlib.sha256(_canonical_json(components).encode()).hexdigest()


def _file_name(layer: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in layer).lstrip(".")
    return (safe or "layer") + ".npy"


def _read_entry(
    entry: Path, key: str, layer: str, n_stimuli: int
) -> tuple[np.ndarray, dict] | None:
    """The entry's array (read-only memmap) and metadata, or None when absent or unusable."""
    meta_path = entry / "meta.json"
    if not meta_path.is_file():
        return None  # absent, or a write that never finished: recompute silently
    try:
        meta = json.loads(meta_path.read_text())
        if meta.get("format") != CACHE_FORMAT or meta.get("key") != key:
            raise ValueError(f"metadata is for another entry ({meta.get('key')!r})")
        if meta.get("file") != _file_name(layer):
            raise ValueError(f"metadata names file {meta.get('file')!r}, not {_file_name(layer)!r}")
        array = np.load(entry / meta["file"], mmap_mode="r")
        expected = (n_stimuli, *(int(v) for v in meta["shape"][1:]))
        if array.shape != tuple(meta["shape"]) or array.shape != expected:
            raise ValueError(f"array shape {array.shape}, metadata {meta['shape']}")
        if array.dtype != np.dtype(meta["dtype"]):
            raise ValueError(f"array dtype {array.dtype}, metadata {meta['dtype']}")
    except Exception as err:  # json, missing file, truncated npy, mismatch
        warnings.warn(
            f"activation cache entry {entry} is corrupt ({type(err).__name__}: {err}); "
            "recomputing it",
            stacklevel=3,
        )
        meta_path.unlink(missing_ok=True)
        return None
    return array, meta


class _Sink:
    """Where one layer's rows go while the model runs: RAM, a temp file, or a cache entry."""

    def __init__(
        self,
        shape: tuple[int, ...],
        dtype: np.dtype,
        *,
        path: Path | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        self.shape, self.dtype, self.path, self.meta = shape, dtype, path, meta
        self.tmp: Path | None = None
        if path is None:
            self.array = np.empty(shape, dtype)
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        if meta is not None:  # a cache entry: invalid until meta.json is written again
            (path.parent / "meta.json").unlink(missing_ok=True)
            fd, tmp = temporary_file_beside(path)
            os.close(fd)
            self.tmp = Path(tmp)
        self.array = np.lib.format.open_memmap(
            self.tmp or path, mode="w+", dtype=dtype, shape=shape
        )

    def write(self, start: int, rows: np.ndarray) -> None:
        self.array[start : start + len(rows)] = rows

    def finish(self) -> np.ndarray:
        if self.path is None:
            return self.array
        self.array.flush()
        del self.array
        if self.tmp is not None:
            os.replace(self.tmp, self.path)
            atomic_write_json(self.path.parent / "meta.json", self.meta)  # written last
        return np.load(self.path, mmap_mode="r")

    def abort(self) -> None:
        self.__dict__.pop("array", None)
        if self.tmp is not None:
            self.tmp.unlink(missing_ok=True)


# --------------------------------------------------------------------------------------------
# the cache as a whole (``brainlike cache``)
# --------------------------------------------------------------------------------------------


def _is_entry_name(name: str) -> bool:
    # entries are named by their sha256 key (see :func:`_entry_key`)
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


def _cache_entries(cache_dir: Path) -> list[Path]:
    if not cache_dir.is_dir():
        return []
    return sorted(p for p in cache_dir.iterdir() if p.is_dir() and _is_entry_name(p.name))


def cache_summary(cache_dir: str | os.PathLike) -> dict[str, Any]:
    """What the activation cache folder holds.

    Parameters
    ----------
    cache_dir : the cache folder (``brainlike.evaluation.stages.default_cache_dir()`` for the default).

    Returns
    -------
    dict with ``folder`` (str), ``exists`` (bool), ``entries`` (complete entries: a
    ``<key>/`` folder with its ``meta.json``), ``incomplete`` (entry folders without
    ``meta.json``: writes that never finished, recomputed when needed), ``files`` (files inside
    entry folders), ``bytes`` (their total size) and ``other`` (names in the folder that are
    not cache entries; ``clear_cache`` leaves them alone).
    """
    folder = Path(cache_dir).expanduser()
    entries = _cache_entries(folder)
    files = [f for e in entries for f in e.rglob("*") if f.is_file()]
    complete = sum((e / "meta.json").is_file() for e in entries)
    other = sum(1 for _ in folder.iterdir()) - len(entries) if folder.is_dir() else 0
    return {
        "folder": str(folder),
        "exists": folder.is_dir(),
        "entries": complete,
        "incomplete": len(entries) - complete,
        "files": len(files),
        "bytes": int(sum(f.stat().st_size for f in files)),
        "other": other,
    }


def clear_cache(cache_dir: str | os.PathLike) -> dict[str, Any]:
    """Delete every activation cache entry in ``cache_dir``; return what was removed.

    Only entry folders (named by a 64-character sha256 key) are deleted, so a cache variable
    pointing at the wrong folder cannot delete anything else; other files stay.

    Returns
    -------
    dict with ``folder``, ``entries`` (entry folders removed, complete or not) and ``bytes``.
    """
    folder = Path(cache_dir).expanduser()
    entries = _cache_entries(folder)
    removed = 0
    for entry in entries:
        removed += sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
        shutil.rmtree(entry)
    return {"folder": str(folder), "entries": len(entries), "bytes": int(removed)}
