"""Architectures: Reset networks, parallel subnetworks, locality-prior nets, GRCNN, VOne front
ends, biologically unrolled ConvRNNs, StreamNets of mouse visual cortex and baselines.

Importing this package loads every family that registers models into
:data:`brainlike.registry.MODELS` (this is the one place that does), so the functions here
always see them all::

    from brainlike.models import create_model

    model = create_model("reset8-cifar100")  # 17,562,454 parameters, as in the source
"""

from __future__ import annotations

from typing import Any

# every family that registers models; importing them fills the table
from brainlike.models import convrnn, grcnn, locality, lowres, streamnet, zoo  # noqa: F401
from brainlike.registry import MODELS, Entry

__all__ = ["create_model", "list_models", "model_entry"]


def list_models() -> list[str]:
    """Names of the registered models, sorted."""
    return MODELS.names()


def model_entry(name: str) -> Entry:
    """``(constructor, description, example_kwargs)`` of a registered model.

    Raises
    ------
    ValueError
        For an unknown name; the message lists the registered models.
    """
    return MODELS.entry(name)


def create_model(name: str, **kwargs: Any) -> Any:
    """Build a registered model by name (``kwargs`` go to its constructor)."""
    fn, _, _ = model_entry(name)
    return fn(**kwargs)
