"""Name -> constructor tables, timm style: ``create_model("reset8", in_channels=3, out_features=100)``.

A new model family registers its constructors with :func:`register_model`; the CLI's
``brainlike models`` lists everything registered here with its parameter count.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_MODELS: dict[str, tuple[Callable[..., Any], str, dict[str, Any]]] = {}


def register_model(name: str, description: str = "", **example_kwargs: Any) -> Callable:
    """Decorator registering a model constructor under ``name``.

    ``example_kwargs`` are the arguments used by ``brainlike models`` to build and count it.
    """

    def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
        if name in _MODELS:
            raise ValueError(f"model {name!r} is registered twice")
        _MODELS[name] = (
            fn,
            description or (fn.__doc__ or "").strip().splitlines()[0],
            example_kwargs,
        )
        return fn

    return deco


def _ensure_loaded() -> None:
    import brainlike.models.convrnn.nets  # noqa: F401
    import brainlike.models.grcnn  # noqa: F401  (registers the GRCNN family)
    import brainlike.models.zoo  # noqa: F401  (registers the built-in models)


def list_models() -> list[str]:
    _ensure_loaded()
    return sorted(_MODELS)


def model_entry(name: str) -> tuple[Callable[..., Any], str, dict[str, Any]]:
    _ensure_loaded()
    if name not in _MODELS:
        raise ValueError(f"unknown model {name!r}; registered models: {', '.join(sorted(_MODELS))}")
    return _MODELS[name]


def create_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model by name."""
    fn, _, _ = model_entry(name)
    return fn(**kwargs)
