"""Layer activations of a model for a set of stimuli: hooks, batches, an on-disk cache, PCA.

:func:`extract_activations` runs a model over stimuli in batches and records chosen layers as
``(stimulus, unit)`` arrays, each unit a flattened element of the layer's output (row-major, so
a conv layer's ``(C, H, W)`` output becomes ``C * H * W`` channel-major units).

Layer names
    ``dict(model.named_modules())`` names (a forward hook records the module's output);
    ``"output"``, the model's output (``.logits`` of a :class:`~brainlike.models.sheet.SheetOutput`,
    the first element of a tuple); ``"sheet:<name>"`` (or a bare ``<name>`` that is not a
    module), a map of ``model(x, return_all=True).sheets``: models with a cortical sheet
    (Reset networks: ``sheet:levels.0.grid``) expose it there, and their unit positions in
    ``model.sheet``. :func:`list_layers` lists what a model offers.

Cache layout (``cache_dir`` given)
    ``cache_dir/<key>/<layer>.npy`` (a ``(stimulus, unit)`` array written batch by batch through
    ``np.lib.format.open_memmap``) and ``cache_dir/<key>/meta.json`` (shape, dtype, unit shape,
    the key's components). ``<key>`` is the sha256 of: the model's weights and buffers (names,
    dtypes, shapes, bytes), its class and ``repr`` (architecture), the preprocessing dict as
    canonical JSON, the stimulus bytes (with shape and dtype), the layer name, the storage dtype,
    the brainlike and torch versions, the number of time steps (time-resolved extractions
    only), and for PCA-projected layers the PCA settings and training rows. A changed weight, pixel, setting or version gives a new key, so a stale entry is never
    served. The array is written to a temporary file and renamed into place, and ``meta.json``
    is written (atomically) last: an entry without it (a crash mid-write) is recomputed; an entry
    whose array does not match its metadata is recomputed with a warning. Cached arrays come back
    as read-only memory maps. The execution device and batch size are not part of the key (they
    change values only at float rounding). Left-over ``.*.tmp`` files of killed runs can be
    deleted.

Memory
    At most one batch of every recorded layer is in RAM while the model runs; the rest streams
    to disk. Without ``cache_dir``, layers whose total size is below
    :data:`IN_MEMORY_LIMIT_BYTES` are kept as plain arrays; larger ones go to a temporary
    directory owned by the :class:`Activations` (removed by :meth:`Activations.close`, at the end
    of a ``with`` block, or when the object is garbage collected).

Time-resolved models (``time_steps=T``)
    A recurrent model unrolled over time calls each recorded module once per time step (the
    ConvRNN contract: every node's forward runs exactly once per step; a GRCNN's per-iteration
    taps are separate modules and are recorded without ``time_steps``). With ``time_steps=T``
    every recorded module must run exactly ``T`` times per forward pass (a clear error names
    the layer and its count otherwise), and its array gains a trailing time axis:
    ``(stimulus, unit, time)``, ``[..., t]`` the module's output at its ``t``-th call. When
    the model's ``forward`` takes a ``time_steps`` keyword it is passed ``T`` (so a model can
    be unrolled for any length); otherwise the model must unroll ``T`` steps by itself.
    ``time_steps="model"`` reads the model's own ``time_steps`` attribute
    (:func:`model_time_steps`). ``"output"`` is recorded when the model returns one output per
    step (a list or tuple of ``T`` tensors); sheet layers are not time-resolved. ``T`` is part
    of the cache key. PCA (``pca_components``) is fit on the training stimuli's rows pooled
    over time (each (stimulus, step) pair one sample), and every step is projected onto the
    same components: the unit axis of all steps stays one space, as a temporally fixed
    mapping needs.
"""

from __future__ import annotations

import contextlib
import difflib
import hashlib
import inspect
import json
import math
import os
import shutil
import tempfile
import warnings
import weakref
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import brainlike
from brainlike.progress import ProgressDisplay
from brainlike.train.checkpoint import atomic_write_json, temporary_file_beside

CACHE_FORMAT = "brainlike-activations-v1"
#: Without ``cache_dir``, layers totalling less than this many bytes stay in RAM as plain arrays.
IN_MEMORY_LIMIT_BYTES = 64 * 2**20
OUTPUT = "output"
SHEET_PREFIX = "sheet:"
_PREPROCESSING_APPLIED = ("size", "mean", "std")


# --------------------------------------------------------------------------------------------
# the result
# --------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------
# layers
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Layer:
    name: str  # as requested (the key in Activations)
    kind: str  # "module" | "sheet" | "output"
    target: str  # module name or sheet name


def _model_sheets(model: nn.Module) -> dict[str, np.ndarray]:
    sheet = getattr(model, "sheet", None)
    return dict(sheet) if isinstance(sheet, Mapping) else {}


def _available_layers(model: nn.Module) -> list[str]:
    modules = [name for name, _ in model.named_modules() if name]
    return [OUTPUT, *[SHEET_PREFIX + s for s in _model_sheets(model)], *modules]


def _resolve_layers(model: nn.Module, layers: Sequence[str] | str) -> list[_Layer]:
    if isinstance(layers, str):
        layers = [layers]
    layers = list(dict.fromkeys(layers))  # drop repeats, keep order
    if not layers:
        raise ValueError("no layers requested; pass layer names (see list_layers(model))")
    modules = dict(model.named_modules())
    sheets = _model_sheets(model)
    resolved = []
    for name in layers:
        if not isinstance(name, str):
            raise TypeError(f"layer names must be strings, got {name!r}")
        if name == OUTPUT:
            resolved.append(_Layer(name, "output", ""))
        elif name.startswith(SHEET_PREFIX) and name[len(SHEET_PREFIX) :] in sheets:
            resolved.append(_Layer(name, "sheet", name[len(SHEET_PREFIX) :]))
        elif name and name in modules:
            resolved.append(_Layer(name, "module", name))
        elif name in sheets:
            resolved.append(_Layer(name, "sheet", name))
        else:
            available = _available_layers(model)
            close = difflib.get_close_matches(name, available, n=5, cutoff=0.5)
            hint = f"did you mean {', '.join(map(repr, close))}? " if close else ""
            shown = ", ".join(available[:40]) + (" ..." if len(available) > 40 else "")
            raise ValueError(
                f"unknown layer {name!r} for {type(model).__name__}; {hint}available layers: "
                f"{shown} (list_layers(model) lists them in forward order)"
            )
    if any(layer.kind == "sheet" for layer in resolved) and not _accepts_return_all(model):
        raise ValueError(
            f"{type(model).__name__} declares sheets but its forward has no `return_all` "
            "argument; sheet layers need model(x, return_all=True) to return a SheetOutput"
        )
    return resolved


def _accepts_return_all(model: nn.Module) -> bool:
    try:
        return "return_all" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _output_tensor(out: Any) -> Tensor:
    """The model's task output: a tensor, ``.logits`` of a structure, or a tuple's first item."""
    if isinstance(out, Tensor):
        return out
    logits = getattr(out, "logits", None)
    if isinstance(logits, Tensor):
        return logits
    if isinstance(out, Mapping) and isinstance(out.get("logits"), Tensor):
        return out["logits"]
    if isinstance(out, (tuple, list)) and out and isinstance(out[0], Tensor):
        return out[0]
    raise TypeError(
        f"cannot read the layer 'output' from a model returning {type(out).__name__}; "
        "expected a tensor, an object with .logits, or a tuple whose first item is a tensor"
    )


def _layer_coordinates(
    model: nn.Module, layer: _Layer, n_units: int, pca: bool
) -> np.ndarray | None:
    if pca:
        return None
    coords = None
    if layer.kind == "sheet":
        coords = _model_sheets(model).get(layer.target)
    elif layer.kind == "module":
        sheet = getattr(dict(model.named_modules())[layer.target], "sheet", None)
        if isinstance(sheet, Mapping):
            coords = sheet.get("out")
    if coords is None:
        return None
    coords = np.asarray(coords, dtype=np.float64)
    if coords.shape != (n_units, 2):
        warnings.warn(
            f"layer {layer.name!r}: the model's sheet gives {coords.shape} coordinates for "
            f"{n_units} units; ignoring them (expected ({n_units}, 2))",
            stacklevel=3,
        )
        return None
    return coords


def list_layers(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    device: str = "cpu",
    time_steps: int | str | None = None,
) -> list[str]:
    """Names :func:`extract_activations` accepts, leaf-ish modules in forward order.

    One dry run on a zero stimulus records which modules run. Listed: every module called once
    with a tensor output none of whose called descendants also qualifies (so a fused
    subnetwork stack counts as one layer), then the model's ``sheet:<name>`` maps, then
    ``"output"``. Modules called several times per forward pass (a shared ReLU) are left out.

    Parameters
    ----------
    model : the network.
    input_shape : ``(C, H, W)`` of one stimulus; defaults to ``(model.in_channels,
        model.input_size, model.input_size)`` when the model has those attributes.
    device : where to run the dry run.
    time_steps : for a recurrent model unrolled over ``T`` steps (or ``"model"``): list the
        modules called exactly ``T`` times instead of once (no sheets, no ``"output"``).

    Returns
    -------
    list of str
    """
    steps = resolve_time_steps(model, time_steps)
    recordable = module_calls(model, input_shape, device=device, time_steps=steps)
    good = [n for n, ok in recordable.items() if ok]  # dict order = call order
    leafish = [n for n in good if not any(m.startswith(n + ".") for m in good)]
    if steps is not None:
        return leafish
    return [*leafish, *sheet_layers(model), OUTPUT]


def model_time_steps(model: nn.Module) -> int:
    """The number of time steps a recurrent model unrolls by default: its ``time_steps``.

    Raises a ``ValueError`` when the model has no positive int ``time_steps`` attribute.
    """
    steps = getattr(model, "time_steps", None)
    if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 1:
        raise ValueError(
            f"{type(model).__name__} has no time_steps attribute (a positive int; got "
            f"{steps!r}); pass the number of time steps explicitly (time_steps=T)"
        )
    return int(steps)


def resolve_time_steps(model: nn.Module, time_steps: int | str | None) -> int | None:
    """``None`` stays ``None``; ``"model"`` becomes :func:`model_time_steps`; an int is checked."""
    if time_steps is None:
        return None
    if isinstance(time_steps, str):
        if time_steps != "model":
            raise ValueError(
                f"time_steps must be a positive int, 'model' or None; got {time_steps!r}"
            )
        return model_time_steps(model)
    if isinstance(time_steps, bool) or not isinstance(time_steps, (int, np.integer)):
        raise TypeError(f"time_steps must be a positive int, 'model' or None; got {time_steps!r}")
    if time_steps < 1:
        raise ValueError(f"time_steps must be at least 1; got {time_steps}")
    return int(time_steps)


def _accepts_time_steps(model: nn.Module) -> bool:
    try:
        return "time_steps" in inspect.signature(model.forward).parameters
    except (TypeError, ValueError):
        return False


def _forward(model: nn.Module, x: Tensor, use_sheets: bool, time_steps: int | None) -> Any:
    """One forward pass; a model whose forward takes ``time_steps`` is told how many."""
    kwargs: dict[str, Any] = {}
    if use_sheets:
        kwargs["return_all"] = True
    if time_steps is not None and _accepts_time_steps(model):
        kwargs["time_steps"] = time_steps
    return model(x, **kwargs)


def sheet_layers(model: nn.Module) -> list[str]:
    """``sheet:<name>`` layer names of a model with cortical sheets (empty for other models)."""
    sheets = _model_sheets(model)
    if not (sheets and _accepts_return_all(model)):
        return []
    return [SHEET_PREFIX + s for s in sheets]


def module_calls(
    model: nn.Module,
    input_shape: Sequence[int] | None = None,
    *,
    device: str = "cpu",
    time_steps: int | None = None,
) -> dict[str, bool]:
    """One dry run on a zero stimulus: every named module that ran, in call order.

    Maps each module name to whether it can be recorded: called exactly once per forward pass
    (exactly ``time_steps`` times when given) with a tensor output.

    Parameters
    ----------
    model : the network.
    input_shape : ``(C, H, W)`` of one stimulus; defaults to ``(model.in_channels,
        model.input_size, model.input_size)`` when the model has those attributes.
    device : where to run the dry run.
    time_steps : the number of steps a recurrent model is unrolled for (passed to its forward
        when that takes a ``time_steps`` keyword).
    """
    if input_shape is None:
        c, s = getattr(model, "in_channels", None), getattr(model, "input_size", None)
        if not (isinstance(c, int) and isinstance(s, int)):
            raise ValueError(
                f"cannot tell the input shape of {type(model).__name__}; pass "
                "input_shape=(channels, height, width)"
            )
        input_shape = (c, s, s)
    use_sheets = bool(_model_sheets(model)) and _accepts_return_all(model) and time_steps is None
    calls: dict[str, int] = {}
    tensor_out: dict[str, bool] = {}
    handles = []

    def make_hook(name: str):
        def hook(_mod: nn.Module, _inp: Any, out: Any) -> None:
            calls[name] = calls.get(name, 0) + 1
            tensor_out[name] = isinstance(out, Tensor)

        return hook

    for name, mod in model.named_modules():
        if name:
            handles.append(mod.register_forward_hook(make_hook(name)))
    was_training = model.training
    try:
        model.to(device).eval()
        x = torch.zeros((1, *input_shape), device=device, dtype=_param_dtype(model))
        with torch.no_grad():
            _forward(model, x, use_sheets, time_steps)
    finally:
        for h in handles:
            h.remove()
        model.train(was_training)
    expected = 1 if time_steps is None else time_steps
    return {n: calls[n] == expected and tensor_out[n] for n in calls}


# --------------------------------------------------------------------------------------------
# stimuli
# --------------------------------------------------------------------------------------------


class _Stimuli:
    """Uniform batch access and content hashing for arrays, tensors and datasets."""

    def __init__(self, stimuli: Any) -> None:
        self.array: np.ndarray | None = None
        self.items: Any = None
        if isinstance(stimuli, Tensor):
            t = stimuli.detach().cpu()
            stimuli = (t.float() if t.dtype == torch.bfloat16 else t).numpy()
        if isinstance(stimuli, np.ndarray):
            if stimuli.ndim < 2:
                raise ValueError(
                    f"stimuli must have a leading stimulus axis, e.g. (N, C, H, W); got shape "
                    f"{stimuli.shape}"
                )
            _check_float(stimuli.dtype)
            self.array, self.n = stimuli, len(stimuli)
        elif hasattr(stimuli, "__len__") and hasattr(stimuli, "__getitem__"):
            self.items, self.n = stimuli, len(stimuli)
        else:
            raise TypeError(
                "stimuli must be a numpy array or torch tensor (N, C, H, W), or a dataset / "
                f"sequence of images (items or (image, label) tuples); got {type(stimuli).__name__}"
            )
        if self.n == 0:
            raise ValueError("no stimuli: the stimulus set is empty")

    def _item(self, i: int) -> np.ndarray:
        item = self.items[i]
        if isinstance(item, (tuple, list)):
            item = item[0]
        if isinstance(item, Tensor):
            item = item.detach().cpu()
            item = item.float() if item.dtype == torch.bfloat16 else item
        item = np.asarray(item)
        _check_float(item.dtype)
        return item

    def batch(self, start: int, stop: int) -> np.ndarray:
        if self.array is not None:
            batch = np.ascontiguousarray(self.array[start:stop])
            return batch if batch.flags.writeable else batch.copy()  # torch wants writable
        items = [self._item(i) for i in range(start, stop)]
        shapes = {x.shape for x in items}
        if len(shapes) > 1:
            raise ValueError(
                f"stimuli {start}-{stop - 1} have different shapes {sorted(shapes)}; resize them "
                "to one size first"
            )
        return np.stack(items)

    def digest(self) -> str:
        """sha256 of every stimulus's shape, dtype and bytes, in order."""
        h = hashlib.sha256()
        if self.array is not None:
            h.update(f"array{self.array.shape}{self.array.dtype.str}".encode())
            step = max(1, (32 * 2**20) // max(1, self.array[:1].nbytes))
            for start in range(0, self.n, step):
                h.update(memoryview(np.ascontiguousarray(self.array[start : start + step])))
        else:
            for i in range(self.n):
                x = np.ascontiguousarray(self._item(i))
                h.update(f"item{x.shape}{x.dtype.str}".encode())
                h.update(memoryview(x).cast("B"))
        return h.hexdigest()


def _check_float(dtype: np.dtype) -> None:
    if not np.issubdtype(dtype, np.floating):
        raise TypeError(
            f"stimuli must be floating point (e.g. images in [0, 1]); got dtype {dtype}. Convert "
            "uint8 images with images.astype(np.float32) / 255, or use StimulusSet.load_images"
        )


def _check_preprocessing(preprocessing: Mapping[str, Any] | None) -> dict[str, Any]:
    pre = dict(preprocessing or {})
    try:
        json.dumps(pre, default=_json_default)
    except TypeError as err:
        raise TypeError(f"preprocessing must be JSON-serialisable ({err})") from None
    if "size" in pre:
        size = pre["size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        if len(size) != 2 or not all(isinstance(s, int) and s > 0 for s in size):
            raise ValueError(f"preprocessing['size'] must be a positive int or (h, w); got {size}")
    if ("mean" in pre) != ("std" in pre):
        raise ValueError("preprocessing needs both 'mean' and 'std' (per channel) or neither")
    if "std" in pre and np.any(np.asarray(pre["std"], dtype=float) <= 0):
        raise ValueError(f"preprocessing['std'] must be positive; got {pre['std']}")
    return pre


def _apply_preprocessing(x: Tensor, pre: Mapping[str, Any]) -> Tensor:
    if "size" in pre:
        size = pre["size"]
        size = (size, size) if isinstance(size, int) else tuple(size)
        if x.ndim != 4:
            raise ValueError(f"preprocessing['size'] needs (N, C, H, W) stimuli; got {x.shape}")
        if tuple(x.shape[-2:]) != size:
            x = F.interpolate(x, size=size, mode="bilinear", align_corners=False, antialias=True)
    if "mean" in pre:
        shape = (1, -1) + (1,) * (x.ndim - 2)
        mean = torch.as_tensor(pre["mean"], dtype=x.dtype, device=x.device).reshape(shape)
        std = torch.as_tensor(pre["std"], dtype=x.dtype, device=x.device).reshape(shape)
        if mean.shape[1] not in (1, x.shape[1]):
            raise ValueError(
                f"preprocessing mean/std have {mean.shape[1]} values for {x.shape[1]} channels"
            )
        x = (x - mean) / std
    return x


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
# extraction
# --------------------------------------------------------------------------------------------


def _param_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32


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
    cache_dir : the cache folder (``brainlike.scoring.default_cache_dir()`` for the default).

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
