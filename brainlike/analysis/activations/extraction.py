"""Extraction: run a model over stimuli in batches, record layers through forward hooks, stream
them into RAM, a temporary file or the cache, and project wide layers onto principal components
(see the package docstring for layer names, the cache layout, memory and time steps).
"""

from __future__ import annotations

import contextlib
import hashlib
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from brainlike.analysis.activations.cache import (
    CACHE_FORMAT,
    _canonical_json,
    _entry_key,
    _file_name,
    _read_entry,
    _Sink,
    _versions,
    model_digest,
)
from brainlike.analysis.activations.layers import (
    _forward,
    _Layer,
    _layer_coordinates,
    _output_tensor,
    _param_dtype,
    _resolve_layers,
    resolve_time_steps,
)
from brainlike.analysis.activations.result import Activations
from brainlike.analysis.activations.stimuli import (
    _apply_preprocessing,
    _check_preprocessing,
    _Stimuli,
)
from brainlike.progress import ProgressDisplay

__all__ = ["IN_MEMORY_LIMIT_BYTES", "extract_activations"]

#: Without ``cache_dir``, layers totalling less than this many bytes stay in RAM as plain arrays.
IN_MEMORY_LIMIT_BYTES = 64 * 2**20


# --------------------------------------------------------------------------------------------
# PCA projection
# --------------------------------------------------------------------------------------------


def _check_pca(
    pca_components: int | None, pca_train_indices: Any, n: int
) -> tuple[int, np.ndarray] | None:
    if pca_components is None:
        if pca_train_indices is not None:
            raise ValueError("pca_train_indices given without pca_components")
        return None
    if isinstance(pca_components, bool) or not isinstance(pca_components, (int, np.integer)):
        raise TypeError(f"pca_components must be a positive int; got {pca_components!r}")
    if pca_components < 1:
        raise ValueError(f"pca_components must be at least 1; got {pca_components}")
    if pca_train_indices is None:
        idx = np.arange(n)
    else:
        idx = np.asarray(pca_train_indices)
        if idx.size == 0:
            raise ValueError("pca_train_indices selects no stimuli; PCA needs training rows")
        if idx.dtype == bool:
            if idx.shape != (n,):
                raise ValueError(
                    f"a boolean pca_train_indices mask needs one entry per stimulus ({n}); "
                    f"got shape {idx.shape}"
                )
            idx = np.flatnonzero(idx)
        elif not np.issubdtype(idx.dtype, np.integer) or idx.ndim != 1:
            raise TypeError("pca_train_indices must be a 1-D array of stimulus indices or a mask")
        if idx.size and (idx.min() < -n or idx.max() >= n):
            raise ValueError(
                f"pca_train_indices must index {n} stimuli; got {idx.min()}..{idx.max()}"
            )
        idx = np.unique(idx % n)
    if idx.size == 0:
        raise ValueError("pca_train_indices selects no stimuli; PCA needs training rows")
    return int(pca_components), idx


def _fit_project(
    x: np.ndarray, train: np.ndarray, k: int, sink: _Sink, chunk: int, layer: str
) -> dict[str, Any]:
    from sklearn.decomposition import PCA

    steps = 1 if x.ndim == 2 else x.shape[2]
    if train.size * steps < k:
        rows = (
            "training stimuli" if x.ndim == 2 else f"training (stimulus, step) rows ({steps} steps)"
        )
        raise ValueError(
            f"layer {layer!r}: pca_components={k} needs at least {k} {rows}; got "
            f"{train.size * steps}. Lower pca_components or train on more stimuli"
        )

    def rows_of(block: np.ndarray) -> np.ndarray:
        # (stimulus, unit, time) -> (stimulus * time, unit): every step a sample of one space
        return block if block.ndim == 2 else np.moveaxis(block, 2, 1).reshape(-1, block.shape[1])

    # spec: neural-evaluation.md §3, PCA fit on the training stimuli only (pooled over time)
    pca = PCA(n_components=k, random_state=0).fit(rows_of(np.asarray(x[train])))
    chunk = max(1, chunk // steps)
    for start in range(0, len(x), chunk):
        block = np.asarray(x[start : start + chunk])
        out = pca.transform(rows_of(block)).astype(sink.dtype, copy=False)
        if x.ndim == 3:
            out = np.moveaxis(out.reshape(len(block), steps, k), 1, 2)
        sink.write(start, out)
    return {
        "components": k,
        "n_train": int(train.size),
        "explained_variance_ratio": pca.explained_variance_ratio_.tolist(),
        "solver": str(getattr(pca, "_fit_svd_solver", pca.svd_solver)),
    }


# --------------------------------------------------------------------------------------------
# extraction
# --------------------------------------------------------------------------------------------


def extract_activations(
    model: nn.Module,
    stimuli: Any,
    layers: Sequence[str] | str,
    *,
    batch_size: int = 64,
    cache_dir: str | os.PathLike | None = None,
    preprocessing: Mapping[str, Any] | None = None,
    pca_components: int | None = None,
    pca_train_indices: Any = None,
    time_steps: int | str | None = None,
    progress: bool = True,
    device: str | torch.device = "cpu",
    dtype: Any = np.float32,
) -> Activations:
    """Record ``layers`` of ``model`` for every stimulus, as ``(stimulus, unit)`` arrays
    (``(stimulus, unit, time)`` with ``time_steps``).

    The model runs in eval mode under ``torch.no_grad()`` in batches (its training mode is
    restored afterwards; it is moved to ``device``). See the module docstring for layer names,
    the cache layout and the memory bound.

    Parameters
    ----------
    model : the network (a ``torch.nn.Module``).
    stimuli : ``(N, C, H, W)`` float numpy array or torch tensor (any ``(N, ...)`` the model
        reads), or a dataset / sequence of images (items, or ``(image, label)`` tuples).
    layers : layer names: module names, ``"output"``, ``"sheet:<name>"``.
    batch_size : stimuli per forward pass.
    cache_dir : folder of the activation cache; ``None`` computes without caching.
    preprocessing : applied per batch and part of the cache key. ``size`` (int or (h, w):
        bilinear antialiased resize), ``mean`` and ``std`` (per channel: ``(x - mean) / std``)
        are applied; any other key only describes what was done to the stimuli beforehand
        (it still changes the cache key).
    pca_components : if set, layers wider than this are projected onto this many principal
        components (sklearn ``PCA``, ``random_state=0``; exact or randomized SVD by its size
        rule), fit on the ``pca_train_indices`` rows only (with ``time_steps``: their rows at
        every step, pooled).
    pca_train_indices : training stimuli (indices or boolean mask) the PCA is fit on. The
        default, all stimuli, leaks test stimuli into the features: scoring code must pass its
        training indices.
    time_steps : int or ``"model"``, optional
        Time-resolved extraction of a recurrent model: every recorded module must run exactly
        this many times per forward pass, and its array gets a trailing time axis (see the
        module docstring). ``"model"`` takes the model's ``time_steps`` attribute.
    progress : show a rich progress bar (only on a terminal).
    device : where the model runs.
    dtype : storage dtype of the arrays (float32 by default).

    Returns
    -------
    Activations
        Layer -> ``(stimulus, unit)`` read-only array (``(stimulus, pca_components)`` when
        projected; a trailing ``time`` axis with ``time_steps``), with sheet coordinates,
        shapes and cache flags.
    """
    steps = resolve_time_steps(model, time_steps)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int; got {batch_size!r}")
    dtype = np.dtype(dtype)
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(f"dtype must be a float type (float32, float64); got {dtype}")
    specs = _resolve_layers(model, layers)
    if steps is not None and any(s.kind == "sheet" for s in specs):
        sheets = [s.name for s in specs if s.kind == "sheet"]
        raise ValueError(
            f"sheet layers ({', '.join(sheets)}) are not time-resolved; record modules that run "
            f"once per time step, or extract the sheets without time_steps"
        )
    source = _Stimuli(stimuli)
    pre = _check_preprocessing(preprocessing)
    pca = _check_pca(pca_components, pca_train_indices, source.n)
    n = source.n

    cache = Path(cache_dir) if cache_dir is not None else None
    components: dict[str, Any] = {}
    if cache is not None:
        components = {
            "format": CACHE_FORMAT,
            "model": model_digest(model),
            "preprocessing": _canonical_json(pre),
            "stimuli": source.digest(),
            "n_stimuli": n,
            "dtype": dtype.str,
            **_versions(),
        }
        if steps is not None:  # absent otherwise, so keys of static extractions never change
            components["time_steps"] = steps
    acts = Activations(n, _entry_key(components) if cache is not None else None, steps)
    raw_keys = {s.name: _entry_key({**components, "layer": s.name}) for s in specs}
    pca_info = None
    if pca is not None:
        pca_info = {
            "components": pca[0],
            "train_indices": hashlib.sha256(pca[1].astype(np.int64).tobytes()).hexdigest(),
            "n_train": int(pca[1].size),
            "random_state": 0,
        }
    pca_keys = {s.name: _entry_key({**components, "layer": s.name, "pca": pca_info}) for s in specs}

    def add(spec: _Layer, array, meta, *, from_cache, path, key) -> None:
        coords = _layer_coordinates(model, spec, array.shape[1], meta.get("pca") is not None)
        acts._add(spec.name, array, meta, from_cache=from_cache, path=path, key=key, coords=coords)

    # 1. cache look-up: the final (projected) entry, else the raw one
    raw: dict[str, tuple[np.ndarray, dict, bool, Path | None, str | None]] = {}
    todo: list[_Layer] = []
    for spec in specs:
        if cache is not None:
            if pca is not None:
                hit = _read_entry(cache / pca_keys[spec.name], pca_keys[spec.name], spec.name, n)
                if hit is not None:
                    path = cache / pca_keys[spec.name] / hit[1]["file"]
                    add(spec, hit[0], hit[1], from_cache=True, path=path, key=pca_keys[spec.name])
                    continue
            hit = _read_entry(cache / raw_keys[spec.name], raw_keys[spec.name], spec.name, n)
            if hit is not None:
                path = cache / raw_keys[spec.name] / hit[1]["file"]
                raw[spec.name] = (hit[0], hit[1], True, path, raw_keys[spec.name])
                continue
        todo.append(spec)

    # 2. run the model for what is missing
    if todo:
        raw.update(
            _run_model(
                model,
                source,
                todo,
                pre,
                steps,
                batch_size,
                device,
                dtype,
                progress,
                acts,
                cache,
                raw_keys,
                components,
            )
        )

    # 3. PCA projection, and hand everything to the Activations
    for spec in specs:
        if spec.name in acts._arrays:
            continue
        array, meta, from_cache, path, key = raw[spec.name]
        if pca is None or array.shape[1] <= pca[0]:
            add(spec, array, meta, from_cache=from_cache, path=path, key=key)
            continue
        k, train = pca
        shape = (n, k, *array.shape[2:])
        pmeta = {**meta, "shape": list(shape), "unit_shape": None, "pca": pca_info}
        if cache is not None:
            key = pca_keys[spec.name]
            pmeta.update(key=key, components={**meta["components"], "pca": pca_info})
            sink = _Sink(shape, dtype, path=cache / key / _file_name(spec.name), meta=pmeta)
        elif math.prod(shape) * dtype.itemsize <= IN_MEMORY_LIMIT_BYTES:
            sink, key = _Sink(shape, dtype), None
        else:
            name = f"pca-{specs.index(spec)}-{_file_name(spec.name)}"
            sink, key = _Sink(shape, dtype, path=acts._temp_dir() / name), None
        try:
            pmeta["pca"] = {
                **pca_info,
                **_fit_project(array, train, k, sink, batch_size * 16, spec.name),
            }
        except BaseException:
            sink.abort()
            raise
        projected = sink.finish()
        if cache is None and path is not None:  # a temporary raw file is no longer needed
            del array
            raw.pop(spec.name)
            path.unlink(missing_ok=True)
        add(spec, projected, pmeta, from_cache=False, path=sink.path, key=key)

    # requested order
    acts._arrays = {s.name: acts._arrays[s.name] for s in specs}
    return acts


@contextlib.contextmanager
def _full_fp32() -> Iterator[None]:
    """Switch off TF32 on GPUs while extracting: the cache key leaves out the device, so a GPU
    and a CPU run must give the same numbers (TF32 convolutions differ by about 2e-4)."""
    saved = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _run_model(
    model: nn.Module,
    source: _Stimuli,
    specs: list[_Layer],
    pre: Mapping[str, Any],
    steps: int | None,
    batch_size: int,
    device: str | torch.device,
    dtype: np.dtype,
    progress: bool,
    acts: Activations,
    cache: Path | None,
    keys: Mapping[str, str],
    components: Mapping[str, Any],
) -> dict[str, tuple[np.ndarray, dict, bool, Path | None, str | None]]:
    """Stream the missing layers batch by batch into their sinks."""
    n = source.n
    modules = dict(model.named_modules())
    use_sheets = any(s.kind == "sheet" for s in specs)
    captured: dict[str, Tensor] = {}
    per_step: dict[str, list[Tensor]] = {}  # time-resolved: one output per call
    handles = []

    def make_hook(name: str):
        def hook(_mod: nn.Module, _inp: Any, out: Any) -> None:
            if not isinstance(out, Tensor):
                children = [c for c in modules if c.startswith(name + ".")][:8]
                raise ValueError(
                    f"module {name!r} returns {type(out).__name__}, not a tensor; record one of "
                    f"its submodules ({', '.join(children) or 'none'}) or a sheet layer instead"
                )
            if steps is not None:
                per_step.setdefault(name, []).append(out.detach())
                return
            if name in captured:
                raise ValueError(
                    f"module {name!r} runs more than once per forward pass (a shared module); "
                    "its output is ambiguous: record the block that contains it instead (or "
                    "pass time_steps for a recurrent model that calls it once per step)"
                )
            captured[name] = out.detach()

        return hook

    def time_resolved(name: str) -> Tensor:
        outs = per_step.get(name, [])
        if len(outs) != steps:
            raise ValueError(
                f"layer {name!r} ran {len(outs)} times in one forward pass but time_steps={steps}; "
                f"with time_steps every recorded module must run exactly once per time step "
                f"(record a module of the recurrent loop, or pass time_steps={len(outs) or 'None'})"
            )
        return torch.stack(outs, dim=-1)  # (batch, *unit_shape, time)

    def model_output(out: Any) -> Tensor:
        if steps is None:
            return _output_tensor(out)
        if (
            isinstance(out, (tuple, list))
            and len(out) == steps
            and all(isinstance(o, Tensor) for o in out)
        ):
            return torch.stack([o.detach() for o in out], dim=-1)
        raise ValueError(
            f"with time_steps={steps} the layer 'output' needs the model to return one output "
            f"per step (a list or tuple of {steps} tensors); got {type(out).__name__}. Record "
            "the readout module instead"
        )

    torch_dtype = torch.from_numpy(np.empty(0, dtype)).dtype
    sinks: dict[str, _Sink] = {}
    unit_shapes: dict[str, tuple[int, ...]] = {}
    in_dtype = _param_dtype(model)
    was_training = model.training
    try:
        for spec in specs:
            if spec.kind == "module":
                handles.append(modules[spec.target].register_forward_hook(make_hook(spec.target)))
        model.to(device).eval()
        with torch.no_grad(), _full_fp32(), ProgressDisplay(progress, transient=True) as bar:
            task = bar.add_task(f"activations ({len(specs)} layers)", total=n, unit="image")
            for start in range(0, n, batch_size):
                stop = min(n, start + batch_size)
                x = torch.from_numpy(source.batch(start, stop)).to(device, in_dtype)
                x = _apply_preprocessing(x, pre)
                captured.clear()
                per_step.clear()
                out = _forward(model, x, use_sheets, steps)
                rows: dict[str, Tensor] = {}
                for spec in specs:
                    if spec.kind == "output":
                        rows[spec.name] = model_output(out)
                    elif spec.kind == "sheet":
                        rows[spec.name] = out.sheets[spec.target]
                    elif steps is not None:
                        rows[spec.name] = time_resolved(spec.target)
                    else:
                        if spec.target not in captured:
                            raise RuntimeError(
                                f"module {spec.target!r} did not run in the forward pass (it is "
                                "not called through its __call__); pick another layer from "
                                "list_layers(model)"
                            )
                        rows[spec.name] = captured[spec.target]
                end = None if steps is None else -1  # the unit shape leaves out the time axis
                if not sinks:
                    unit_shapes = {k: tuple(v.shape[1:end]) for k, v in rows.items()}
                    sinks = _open_sinks(
                        specs, unit_shapes, n, steps, dtype, acts, cache, keys, components
                    )
                for name, t in rows.items():
                    if tuple(t.shape[1:end]) != unit_shapes[name] or t.shape[0] != stop - start:
                        raise ValueError(
                            f"layer {name!r} gave shape {tuple(t.shape)} for stimuli {start}-"
                            f"{stop - 1}, after {unit_shapes[name]} per stimulus earlier"
                        )
                    if steps is None:
                        flat = t.reshape(t.shape[0], -1)
                    else:
                        flat = t.reshape(t.shape[0], -1, steps)
                    sinks[name].write(start, flat.to("cpu", torch_dtype).numpy())
                captured.clear()
                per_step.clear()
                bar.advance(task, stop - start)
    except BaseException:
        for sink in sinks.values():
            sink.abort()
        raise
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    result = {}
    for spec in specs:
        sink = sinks[spec.name]
        meta = sink.meta or _meta(spec, sink.shape, unit_shapes[spec.name], dtype, None, {})
        result[spec.name] = (
            sink.finish(),
            meta,
            False,
            sink.path,
            keys.get(spec.name) if cache else None,
        )
    return result


def _meta(
    spec: _Layer,
    shape: tuple[int, ...],
    unit_shape: tuple[int, ...],
    dtype: np.dtype,
    key: str | None,
    components: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "format": CACHE_FORMAT,
        "key": key,
        "layer": spec.name,
        "file": _file_name(spec.name),
        "shape": list(shape),
        "dtype": dtype.str,
        "unit_shape": list(unit_shape),
        "pca": None,
        "components": {**components, "layer": spec.name},
    }


def _open_sinks(
    specs: list[_Layer],
    unit_shapes: Mapping[str, tuple[int, ...]],
    n: int,
    steps: int | None,
    dtype: np.dtype,
    acts: Activations,
    cache: Path | None,
    keys: Mapping[str, str],
    components: Mapping[str, Any],
) -> dict[str, _Sink]:
    units = {k: int(np.prod(v, dtype=np.int64)) for k, v in unit_shapes.items()}
    time = () if steps is None else (steps,)
    total = n * sum(units.values()) * (steps or 1) * dtype.itemsize
    sinks = {}
    for i, spec in enumerate(specs):
        shape = (n, units[spec.name], *time)
        if cache is not None:
            key = keys[spec.name]
            meta = _meta(spec, shape, unit_shapes[spec.name], dtype, key, components)
            path = cache / key / meta["file"]
            sinks[spec.name] = _Sink(shape, dtype, path=path, meta=meta)
        elif total <= IN_MEMORY_LIMIT_BYTES:
            sinks[spec.name] = _Sink(shape, dtype)
        else:
            path = acts._temp_dir() / f"{i}-{_file_name(spec.name)}"
            sinks[spec.name] = _Sink(shape, dtype, path=path)
    return sinks
