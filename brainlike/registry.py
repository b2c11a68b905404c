"""Name -> constructor tables, timm style: one :class:`Registry` per kind of choice.

A table maps a name to a constructor, a one-line description and the example arguments that
build it. A family registers its constructors into the table by decorator::

    @register_model("reset8-cifar100", in_channels=3, out_features=100)
    def reset8_cifar100(in_channels=3, out_features=100, **kwargs): ...

This module only holds the tables and imports no model (nor anything that registers): the
model families register when :mod:`brainlike.models` is imported, which is where
``create_model``, ``list_models`` and ``model_entry`` live (``brainlike models`` lists them
with their parameter counts). A new kind of choice (learning rules, objectives, tasks) adds
its own table here the same way, e.g. ``RULES = Registry("learning rule")``, and loads its
families from its own package.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

__all__ = ["MODELS", "RULES", "TASKS", "Entry", "Registry", "register_model"]


class Entry(NamedTuple):
    """One registered constructor: unpacks as ``fn, description, example_kwargs``."""

    constructor: Callable[..., Any]
    description: str
    example_kwargs: dict[str, Any]


class Registry:
    """A name -> constructor table for one kind of thing (``"model"``, ``"learning rule"``).

    Parameters
    ----------
    kind : what one entry is, in the singular; error messages name it (``unknown model
        'x'; registered models: ...``).
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Entry] = {}

    def register(self, name: str, description: str = "", **example_kwargs: Any) -> Callable:
        """Decorator registering a constructor under ``name``.

        Parameters
        ----------
        name : the registered name; registering a name twice is an error.
        description : one line; default the first line of the constructor's docstring.
        **example_kwargs : the arguments that build an example (``brainlike models`` builds
            and counts each model with them).
        """

        def deco(fn: Callable[..., Any]) -> Callable[..., Any]:
            if name in self._entries:
                raise ValueError(f"{self.kind} {name!r} is registered twice")
            self._entries[name] = Entry(
                fn,
                description or (fn.__doc__ or "").strip().splitlines()[0],
                example_kwargs,
            )
            return fn

        return deco

    def unregister(self, name: str) -> None:
        """Remove ``name`` if it is registered (for tests and plugins that clean up)."""
        self._entries.pop(name, None)

    def names(self) -> list[str]:
        """The registered names, sorted."""
        return sorted(self._entries)

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` of ``name``; an unknown name raises a ``ValueError`` listing the
        registered ones."""
        if name not in self._entries:
            raise ValueError(
                f"unknown {self.kind} {name!r}; registered {self.kind}s: "
                f"{', '.join(sorted(self._entries))}"
            )
        return self._entries[name]

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


MODELS = Registry("model")
"""The models (architectures), filled by the families of :mod:`brainlike.models`."""


RULES = Registry("learning rule")
"""The learning rules, filled by :mod:`brainlike.rules.definitions`."""

TASKS = Registry("task")
"""The tasks of the training loop, filled by the modules of :mod:`brainlike.train.tasks`."""


def register_model(name: str, description: str = "", **example_kwargs: Any) -> Callable:
    """Decorator registering a model constructor under ``name`` (into :data:`MODELS`).

    ``example_kwargs`` are the arguments used by ``brainlike models`` to build and count it.
    """
    return MODELS.register(name, description, **example_kwargs)
