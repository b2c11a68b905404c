"""What a model offers to record, and how it is run for it: layer names (modules, the model's
``"output"``, ``sheet:<name>`` maps of its cortical sheets), their resolution with helpful
errors, unit coordinates on a sheet, time steps of recurrent models, and the dry run that
finds which modules run once (or once per time step) in a forward pass.
"""

from __future__ import annotations

import difflib
import inspect
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

__all__ = [
    "OUTPUT",
    "SHEET_PREFIX",
    "default_input_shape",
    "list_layers",
    "model_time_steps",
    "module_calls",
    "resolve_time_steps",
    "sheet_layers",
]

OUTPUT = "output"
SHEET_PREFIX = "sheet:"


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
    """Names :func:`~brainlike.analysis.activations.extract_activations` accepts, leaf-ish
    modules in forward order.

    One dry run on a zero stimulus records which modules run. Listed: every module called once
    with a tensor output none of whose called descendants also qualifies (so a fused
    subnetwork stack counts as one layer), then the model's ``sheet:<name>`` maps, then
    ``"output"``. Modules called several times per forward pass (a shared ReLU) are left out.

    Parameters
    ----------
    model, input_shape, device : as in :func:`module_calls` (the dry run).
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


def default_input_shape(model: nn.Module) -> tuple[int, int, int]:
    """``(model.in_channels, model.input_size, model.input_size)``: one stimulus of the model.

    Raises a ``ValueError`` asking for ``input_shape`` when the model lacks those int
    attributes.
    """
    c, s = getattr(model, "in_channels", None), getattr(model, "input_size", None)
    if not (isinstance(c, int) and isinstance(s, int)):
        raise ValueError(
            f"cannot tell the input shape of {type(model).__name__}; pass "
            "input_shape=(channels, height, width)"
        )
    return (c, s, s)


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
        input_shape = default_input_shape(model)
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


def _param_dtype(model: nn.Module) -> torch.dtype:
    for p in model.parameters():
        if p.is_floating_point():
            return p.dtype
    return torch.float32
