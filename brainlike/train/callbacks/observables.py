"""The observables recorder: weights, activations and activity change over training.

spec: learning-rules.md §2. Switched on by the config's ``observe`` section
(:class:`~brainlike.config.observe.ObserveConfig`); any task with held-out inputs
(:meth:`~brainlike.train.tasks.base.Task.observation_batch`), any model kind and any learning
rule. At ``observe.checkpoints`` optimizer steps (step 0, before the first update, included;
evenly or log-spaced over the run's steps) it measures every observed layer on a fixed
held-out subset (:class:`~brainlike.analysis.identify.observables.ObservableMeter`: evaluation
mode, no gradients, the run's random generators untouched, so a run trains exactly as it
would without it). The records so far live in every checkpoint under ``"observables"``, so a
resumed run continues the same series bit for bit; when the run ends (complete or stopped)
they are written as ``observables.csv``, one row per recording x layer x checkpoint x
observable x function x statistic with the run's metadata (see
:func:`~brainlike.analysis.identify.tables.observables_table`), and, with ``observe.netcdf``,
``observables.nc``. A run resumed with more epochs (``train.epochs`` may change on resume)
measures the rest of its checkpoints at the steps of the new schedule.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import torch

from brainlike.train.callbacks import Callback

__all__ = ["ObservableRecorder", "checkpoint_steps", "run_metadata"]


def checkpoint_steps(total_steps: int, count: int, spacing: str = "even") -> list[int]:
    """The ``count`` optimizer steps (0 and ``total_steps`` included) to measure at.

    ``even``: ``floor(k T / (count - 1) + 1/2)``; ``log``: 0, then ``count - 1`` steps
    geometrically spaced from 1 to ``T``, each moved up to at least one after the previous.
    """
    if total_steps + 1 < count:
        raise ValueError(
            f"observe.checkpoints is {count}, but the run has only {total_steps} optimizer "
            f"steps ({total_steps + 1} points to measure at); lower observe.checkpoints or "
            "train longer"
        )
    if spacing == "even":
        return [math.floor(k * total_steps / (count - 1) + 0.5) for k in range(count)]
    steps = [0]
    for p in np.geomspace(1, total_steps, count - 1):
        steps.append(max(math.floor(p + 0.5), steps[-1] + 1))
    return steps


def _optimizer_name(cfg: Any) -> str:
    if cfg.train.optimizer == "sgd":
        return "sgdm" if cfg.train.momentum > 0 else "sgd"
    return cfg.train.optimizer


def run_metadata(cfg: Any, steps_per_epoch: int) -> dict[str, Any]:
    """The run's columns of its observables table: what a rule identifier may condition on or
    hold out (architecture, curriculum) and its class (``label``)."""
    opt = _optimizer_name(cfg)
    obs = cfg.observe
    rule = cfg.rule.build().name  # the rule's own name, not an alias
    return {
        "run": cfg.name,
        "label": obs.label or f"{rule}+{opt}",
        "architecture": obs.architecture or cfg.model.kind,
        "model_kind": cfg.model.kind,
        "rule": rule,
        "optimizer": opt,
        "lr": cfg.train.lr,
        "momentum": cfg.train.momentum if cfg.train.optimizer == "sgd" else float("nan"),
        "batch_size": cfg.train.batch_size,
        "seed": cfg.seed,
        "dataset": cfg.data.dataset,
        "epochs": cfg.train.epochs,
        "steps_per_epoch": steps_per_epoch,
    }


class ObservableRecorder(Callback):
    """Record observables at fixed steps (see the module docstring).

    Parameters
    ----------
    cfg : the experiment config (its ``observe`` section enabled).
    task : the run's task; its steps per epoch are known once its data is loaded, so a
        schedule with more checkpoints than steps is refused before the run folder is made.
    """

    state_key = "observables"

    def __init__(self, cfg: Any, task: Any) -> None:
        from brainlike.analysis.identify.observables import ObservableMeter

        self.cfg, self.obs = cfg, cfg.observe
        # train.epochs alone: fine-tuning stages only add steps
        checkpoint_steps(cfg.train.epochs * task.steps_per_epoch, self.obs.checkpoints)
        self.meter = ObservableMeter(
            layers=self.obs.layers,
            post_activation=self.obs.post_activation,
            recordings=[(r.fraction, r.noise, r.seed) for r in self.obs.recordings],
            batch_size=self.obs.batch_size,
        )
        self.values: list[np.ndarray] = []  # one (R, L, 45) per checkpoint measured
        self.steps: list[int] = []
        self.epochs: list[float] = []
        self.layers: list[dict[str, Any]] = []
        self._at: set[int] = set()
        self._x: torch.Tensor | None = None
        self._steps_per_epoch = 1
        self.seconds = 0.0  # spent in the recorder (measuring, writing), every part of the run

    # -- state ----------------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        values = torch.from_numpy(np.stack(self.values)) if self.values else torch.zeros(0)
        return {
            "values": values,
            "steps": list(self.steps),
            "epochs": list(self.epochs),
            "layers": [dict(d) for d in self.layers],
            "seconds": self.seconds,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.steps, self.epochs = list(state["steps"]), list(state["epochs"])
        self.values = list(state["values"].numpy()) if self.steps else []
        self.layers = [dict(d) for d in state["layers"]]
        self.seconds = float(state.get("seconds", 0.0))

    # -- measuring ------------------------------------------------------------------------------
    def _measure(self, run: Any) -> None:
        from brainlike.analysis.identify.observables import LayerInfo

        start = time.perf_counter()
        if self.layers and not self.meter.info:  # resumed: the same layers, in the same order
            self.meter.info = [LayerInfo(**d) for d in self.layers]
        values = self.meter.measure(run.model, self._x, checkpoint=len(self.steps))
        if not self.layers:
            self.layers = [info.as_dict() for info in self.meter.info]
        self.values.append(values)
        self.steps.append(run.step)
        self.epochs.append(run.step / self._steps_per_epoch)
        self.seconds += time.perf_counter() - start

    def on_train_start(self, run: Any) -> None:
        if not run.is_main_process:
            return
        start = time.perf_counter()
        task = run.task
        self._steps_per_epoch = task.steps_per_epoch
        total = task.total_epochs * task.steps_per_epoch
        self._at = set(checkpoint_steps(total, self.obs.checkpoints, self.obs.spacing))
        x = task.observation_batch(self.obs.validation_size, self.obs.validation_seed)
        self._x = x.to(run.device)
        self.seconds += time.perf_counter() - start
        if run.step == 0 and not self.steps:
            self._measure(run)

    def on_batch_end(self, run: Any, epoch: int, batch_index: int) -> None:
        if self._x is not None and run.step in self._at and run.step not in self.steps:
            self._measure(run)

    def on_train_end(self, run: Any, summary: dict[str, Any], interrupted: bool) -> None:
        if not run.is_main_process or not self.steps:
            return
        start = time.perf_counter()
        from brainlike.analysis.identify.tables import observables_table, write_observables

        table = observables_table(
            np.stack(self.values),
            self.steps,
            self.epochs,
            self.layers,
            [r.model_dump() for r in self.obs.recordings],
            run_metadata(self.cfg, self._steps_per_epoch),
        )
        paths = write_observables(table, run.run_dir, netcdf=self.obs.netcdf and not interrupted)
        self.seconds += time.perf_counter() - start
        summary["observables"] = {
            "table": paths[0].name,
            "checkpoints": len(self.steps),
            "planned_checkpoints": len(self._at),
            "layers": [d["name"] for d in self.layers],
            "rows": len(table),
            "seconds": self.seconds,
        }
