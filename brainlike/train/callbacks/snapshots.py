"""Grid snapshots: class-mean maps of a cortical sheet over training, and their topography.

spec: topography.md §2. Snapshots are taken before training and ``snapshots_per_epoch`` times
per epoch, on the task's test set in eval mode (the same pass that measures the snapshot's
accuracy). Each holds per-class means, population variances and counts of every sheet unit,
so trial-level d' can be computed later without running the model again. Written to
``snapshots.npz`` at every epoch; kept in checkpoints under ``"snapshots"`` so a resumed run
continues the same series; at the end of a complete run the topography record of every
snapshot is computed once (``topography.json``) and its final entry joins the summary.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor

from brainlike.train.callbacks import Callback
from brainlike.train.checkpoint import atomic_save_npz

__all__ = ["ClassMeanMaps", "GridSnapshots", "SnapshotRecorder", "record_topography"]


@dataclass
class SnapshotRecorder:
    """Accumulates class-mean grid maps (and variances, counts) over training."""

    means: list[np.ndarray] = field(default_factory=list)
    vars: list[np.ndarray] = field(default_factory=list)
    counts: list[np.ndarray] = field(default_factory=list)
    step: list[int] = field(default_factory=list)
    epoch: list[float] = field(default_factory=list)
    accuracy: list[float] = field(default_factory=list)

    def add(self, means, vars_, counts, step: int, epoch: float, accuracy: float) -> None:
        self.means.append(means)
        self.vars.append(vars_)
        self.counts.append(counts)
        self.step.append(step)
        self.epoch.append(epoch)
        self.accuracy.append(accuracy)

    def arrays(self, class_names: list[str], tile: int) -> dict[str, np.ndarray]:
        return {
            "means": np.stack(self.means).astype(np.float32),
            "vars": np.stack(self.vars).astype(np.float32),
            "counts": np.stack(self.counts).astype(np.int64),
            "step": np.asarray(self.step, dtype=np.int64),
            "epoch": np.asarray(self.epoch, dtype=np.float64),
            "accuracy": np.asarray(self.accuracy, dtype=np.float64),
            "class_names": np.asarray(class_names),
            "tile": np.asarray(tile),
        }

    def state(self) -> dict[str, Any]:
        return {
            "means": torch.from_numpy(np.stack(self.means)) if self.means else torch.zeros(0),
            "vars": torch.from_numpy(np.stack(self.vars)) if self.vars else torch.zeros(0),
            "counts": torch.from_numpy(np.stack(self.counts)) if self.counts else torch.zeros(0),
            "step": list(self.step),
            "epoch": list(self.epoch),
            "accuracy": list(self.accuracy),
        }

    @classmethod
    def from_state(cls, st: dict[str, Any]) -> SnapshotRecorder:
        rec = cls()
        if st["step"]:
            rec.means = list(st["means"].numpy())
            rec.vars = list(st["vars"].numpy())
            rec.counts = list(st["counts"].numpy())
        rec.step, rec.epoch, rec.accuracy = (
            list(st["step"]),
            list(st["epoch"]),
            list(st["accuracy"]),
        )
        return rec


def _snapshot_steps(steps_per_epoch: int, per_epoch: int) -> set[int]:
    """1-based step indices within an epoch at which to snapshot (the last one ends the epoch)."""
    if per_epoch <= 0:
        return set()
    per_epoch = min(per_epoch, steps_per_epoch)
    return {math.ceil(steps_per_epoch * (i + 1) / per_epoch) for i in range(per_epoch)}


class ClassMeanMaps:
    """Accumulates per-class sums of a sheet's responses over batches (float64, on the CPU)."""

    def __init__(self, sheet: str, num_classes: int) -> None:
        self.sheet, self.num_classes = sheet, num_classes
        self.s1: Tensor | None = None
        self.s2: Tensor | None = None
        self.counts = torch.zeros(num_classes, dtype=torch.float64)

    def __call__(self, out: Any, labels: Tensor) -> None:
        g = out.sheets[self.sheet].double().cpu()
        onehot = torch.nn.functional.one_hot(labels.cpu(), self.num_classes).double()  # (B, C)
        flat = g.flatten(1)
        if self.s1 is None:
            self.s1 = torch.zeros(self.num_classes, flat.shape[1], dtype=torch.float64)
            self.s2 = torch.zeros_like(self.s1)
            self.shape = g.shape[1:]
        self.s1 += onehot.T @ flat
        self.s2 += onehot.T @ flat.square()
        self.counts += onehot.sum(0)

    def result(self) -> dict[str, np.ndarray]:
        """Class means and population variances ``(C, *sheet shape)`` and counts ``(C,)``."""
        if self.s1 is None:
            return {}
        c = self.counts.clamp_min(1).unsqueeze(1)
        mean = self.s1 / c
        var = (self.s2 / c - mean.square()).clamp_min(0)
        return {
            "means": mean.view(self.num_classes, *self.shape).numpy(),
            "vars": var.view(self.num_classes, *self.shape).numpy(),
            "counts": self.counts.numpy().astype(np.int64),
        }


class GridSnapshots(Callback):
    """Snapshot the class-mean maps of the model's sheet (see the module docstring).

    Does nothing for a model without a sheet (its state stays empty). ``analyse``: compute the
    topography record at the end of a complete run.
    """

    state_key = "snapshots"

    def __init__(self, analyse: bool = True) -> None:
        self.analyse = analyse
        self.recorder = SnapshotRecorder()
        self.sheet: str | None = None
        self._at: set[int] = set()

    def state_dict(self) -> dict[str, Any]:
        return self.recorder.state()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.recorder = SnapshotRecorder.from_state(state)

    def snapshot(self, run: Any, epoch_pos: float) -> None:
        maps = ClassMeanMaps(self.sheet, run.task.num_classes)
        ev = run.task.evaluate(run.model, observe=maps)
        grid = maps.result()
        self.recorder.add(
            grid["means"], grid["vars"], grid["counts"], run.step, epoch_pos, ev["acc"]
        )

    def on_train_start(self, run: Any) -> None:
        self.sheet = run.task.terms.snapshot_sheet
        self.tile = int(getattr(run.model, "tile", 0))
        self._steps_per_epoch = run.task.steps_per_epoch
        self._at = _snapshot_steps(self._steps_per_epoch, run.cfg.train.snapshots_per_epoch)
        if self.sheet is not None and not self.recorder.step:
            self.snapshot(run, 0.0)

    def on_batch_end(self, run: Any, epoch: int, batch_index: int) -> None:
        if self.sheet is not None and batch_index in self._at:
            self.snapshot(run, epoch + batch_index / self._steps_per_epoch)

    def write(self, run: Any) -> None:
        if self.recorder.step:
            atomic_save_npz(
                run.run_dir / "snapshots.npz",
                **self.recorder.arrays(run.task.class_names, self.tile),
            )

    def on_train_end(self, run: Any, summary: dict[str, Any], interrupted: bool) -> None:
        if self.analyse and not interrupted and self.recorder.step and run.is_main_process:
            summary.update(
                record_topography(
                    run.cfg, run.run_dir, self.recorder, run.task.class_names, self.tile
                )
            )


def record_topography(cfg, run_dir, recorder, class_names: list[str], tile: int) -> dict[str, Any]:
    """Compute the run's topography record once and write it (``run_dir/topography.json``).

    Every snapshot is analysed with the config's analysis settings and the run's seed
    (:func:`brainlike.analysis.history.run_settings`); ``brainlike topo`` with those settings
    reads this record back. Returns the summary entries: ``"topography"`` (the final
    snapshot's entry of the record, the same numbers) and ``"topography_record"`` (file name).
    """
    from brainlike.analysis.history import compute_history, run_settings, write_record

    own = run_settings(cfg)
    history = compute_history(recorder.arrays(list(class_names), tile), own)
    path = write_record(run_dir, history, own)
    return {"topography": history["snapshots"][-1], "topography_record": path.name}
