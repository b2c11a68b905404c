"""Callbacks: what the training loop records while it trains, besides the metrics.

A callback watches a run at fixed points and may keep state that survives a resume (the loop
stores ``state_dict()`` in every checkpoint under ``state_key`` and hands it back to
``load_state_dict`` when the run is resumed). Hooks, in the order the loop calls them:

- ``on_train_start(run)``: once, after the model, task and any resumed state are ready;
- ``on_batch_end(run, epoch, batch_index)``: after each optimizer step (1-based index);
- ``write(run)``: at the end of each epoch, before the metrics file and the checkpoint (so a
  checkpoint never refers to files that are not yet written);
- ``on_train_end(run, summary, interrupted)``: once; may add entries to ``summary``.

``run`` is the loop's :class:`~brainlike.train.loop.RunState` (config, folder, task, model,
device, step counters). Grid snapshots (:mod:`brainlike.train.callbacks.snapshots`) are one.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Callback"]


class Callback:
    """Base class: every hook does nothing."""

    #: checkpoint key of this callback's state (None: keeps no state)
    state_key: str | None = None

    def on_train_start(self, run: Any) -> None:
        pass

    def on_batch_end(self, run: Any, epoch: int, batch_index: int) -> None:
        pass

    def write(self, run: Any) -> None:
        pass

    def on_train_end(self, run: Any, summary: dict[str, Any], interrupted: bool) -> None:
        pass

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
