"""The path-integration task: report where a random-walking rat is from its self-motion alone.

Spec: mouse-and-entorhinal.md §2. Each training step draws a fresh batch of rat-like random
walks from ``(cfg.seed, global step)`` (:func:`brainlike.data.trajectories.generate_trajectories`,
or RatInABox with ``data.trajectories.source: ratinabox``), so a resumed run sees exactly the
data of an uninterrupted one. The network (:class:`~brainlike.models.pathint.PathIntegrator`)
starts from the place-cell code of the start position, sees the displacement of every step and
outputs place-cell logits; the loss is the softmax cross-entropy against the place-cell targets
(mean squared error for Cartesian targets) plus ``objective.recurrent_l2`` times the sum of
squared recurrent weights. The metric is the decoding error in centimetres (mean centre of the
3 most active cells against the true position), on the training batches and on a fixed held-out
set; lower is better.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from brainlike.data.place_cells import PlaceCells, decoding_error_cm
from brainlike.registry import TASKS
from brainlike.train.tasks.base import StepOutput, Task

__all__ = ["HELD_OUT_STEP", "PathIntegration", "place_cells_of", "trajectories_of"]

#: the data step of the held-out set (training steps never reach it)
HELD_OUT_STEP = 2**48
_PROBE_STEP = HELD_OUT_STEP + 1


def place_cells_of(cfg: Any) -> PlaceCells:
    """The place-cell population of a config (``objective.place_cells``, in ``data``'s arena)."""
    pc = cfg.objective.place_cells
    return PlaceCells.create(
        pc.n, cfg.data.trajectories.arena, sigma=pc.sigma, kind=pc.kind, seed=pc.seed
    )


def trajectories_of(
    cfg: Any, batch: int, step: int, device: torch.device | str = "cpu", seed: int | None = None
) -> Any:
    """The random walks of data step ``step`` of a config (``seed``: default ``cfg.seed``)."""
    tr = cfg.data.trajectories
    seed = cfg.seed if seed is None else seed
    if tr.source == "ratinabox":
        from brainlike.data.ratinabox_source import ratinabox_trajectories

        return ratinabox_trajectories(
            batch, tr.steps, arena=tr.arena, seed=seed, step=step, device=device,
            dtype=torch.float32,
        )  # fmt: skip
    from brainlike.data.trajectories import generate_trajectories

    return generate_trajectories(
        batch, tr.steps, arena=tr.arena, seed=seed, step=step, device=device,
        landmarks=tr.landmarks, reward=tr.reward,
    )  # fmt: skip


def input_width(cfg: Any) -> int:
    """Per-step input width: displacement (2), cue distances (5), reward (1)."""
    tr = cfg.data.trajectories
    return 2 + 5 * tr.landmarks + 1 * tr.reward


def path_integration_loss(logits: Tensor, targets: Tensor, kind: str) -> Tensor:
    """Mean over sequences and steps of the softmax cross-entropy against the place-cell code
    (spec §2), or the squared error for Cartesian targets."""
    if kind == "cartesian":
        return ((logits - targets) ** 2).sum(-1).mean()
    return -(targets * torch.log_softmax(logits, dim=-1)).sum(-1).mean()


def recurrent_l2(model: torch.nn.Module) -> Tensor:
    """Sum of squared recurrent weights (spec §2's L2 term, before its weight)."""
    return sum((w**2).sum() for w in model.recurrent_weights())


class _Steps(torch.utils.data.Dataset):
    """The global data steps of one epoch (the batches are generated in :meth:`step`)."""

    def __init__(self, start: int, n: int) -> None:
        self.start, self.n = start, n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> int:
        return self.start + i


@TASKS.register("path_integration")
class PathIntegration(Task):
    """Path integration on simulated random walks (see the module docstring).

    Parameters
    ----------
    cfg : the experiment config (``data.dataset: trajectories``, ``model.kind: pathint``).
    """

    metric_names = ("error_cm",)
    headline = "error_cm"  # a decoding error in cm: lower is better
    # every process draws the whole batch of a data step and trains on its share of it
    shares_batches_itself = True

    def __init__(self, cfg: Any, bundle: Any = None) -> None:
        super().__init__(cfg)
        self.place_cells = place_cells_of(cfg)
        self.device = torch.device("cpu")
        self._held_out: tuple[Tensor, Tensor, Tensor] | None = None

    # -- the model ------------------------------------------------------------------------------
    @property
    def model_io(self) -> tuple[int, int, int]:
        """(per-step input width, outputs per step, width of the starting code)."""
        return input_width(self.cfg), self.place_cells.size, self.place_cells.size

    @property
    def steps_per_epoch(self) -> int:
        return int(self.cfg.data.trajectories.batches_per_epoch)

    def check_model(self, model: torch.nn.Module) -> None:
        super().check_model(model)
        if not hasattr(model, "recurrent_weights"):
            raise ValueError(
                f"objective.task path_integration trains a path integrator (model.kind pathint); "
                f"got {type(model).__name__}"
            )

    def bind(self, model: torch.nn.Module, device: torch.device) -> None:
        self.device = device

    # -- batches ---------------------------------------------------------------------------------
    def batch_of(self, step: int, n: int | None = None) -> tuple[Tensor, Tensor, Tensor]:
        """(inputs (B, T, D), starting code (B, code), positions (B, T, 2)) of data step
        ``step`` (``n`` sequences, default ``train.batch_size``), on the run's device."""
        n = int(self.cfg.train.batch_size) if n is None else n
        traj = trajectories_of(self.cfg, n, step, self.device)
        init = self.place_cells.targets(traj.init_position.to(torch.float32))
        return traj.inputs().to(torch.float32), init, traj.position.to(torch.float32)

    def train_loader(self, epoch: int) -> torch.utils.data.DataLoader:
        start = epoch * self.steps_per_epoch
        return torch.utils.data.DataLoader(_Steps(start, self.steps_per_epoch), batch_size=None)

    def _loss(self, model: torch.nn.Module, batch: tuple[Tensor, Tensor, Tensor]) -> tuple:
        inputs, init, pos = batch
        logits = model(inputs, init)
        loss = path_integration_loss(logits, self.place_cells.targets(pos), self.place_cells.kind)
        return loss, logits

    def step(self, model: torch.nn.Module, batch: Any, epoch: int) -> StepOutput:
        data = self.share_of(*self.batch_of(int(batch)))
        loss, logits = self._loss(model, data)
        total = loss
        weight = float(self.cfg.objective.recurrent_l2)
        if weight > 0:  # spec: mouse-and-entorhinal.md §2, 1e-4 L2 on the recurrent weights
            total = loss + weight * recurrent_l2(_unwrap(model))
        n = data[0].shape[0]
        with torch.no_grad():
            err = decoding_error_cm(self.place_cells.decode(logits.detach()), data[2])
        return StepOutput(loss, total, n, {"error_cm": err * n})

    def probe_batch(self) -> tuple[Tensor, Tensor, Tensor]:
        """A fixed training-like batch (its own data step), the same every epoch."""
        return self.batch_of(_PROBE_STEP)

    def probe_loss(self, model: torch.nn.Module, batch: Any) -> Tensor:
        return self._loss(model, tuple(b.to(self.device) for b in batch))[0]

    # -- held-out data ---------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate(
        self, model: torch.nn.Module, observe: Callable[[Any, Tensor], None] | None = None
    ) -> dict[str, Any]:
        """Held-out loss and decoding error (cm) on ``data.trajectories.test_sequences`` fixed
        sequences (data step :data:`HELD_OUT_STEP`)."""
        if self._held_out is None:
            self._held_out = self.batch_of(HELD_OUT_STEP, self.cfg.data.trajectories.test_sequences)
        was = model.training
        model.eval()
        inputs, init, pos = self._held_out
        chunk = max(int(self.cfg.train.batch_size), 256)
        loss_sum, err_sum, n = 0.0, 0.0, inputs.shape[0]
        for s in range(0, n, chunk):
            part = (inputs[s : s + chunk], init[s : s + chunk], pos[s : s + chunk])
            loss, logits = self._loss(model, part)
            m = part[0].shape[0]
            loss_sum += float(loss) * m
            err_sum += decoding_error_cm(self.place_cells.decode(logits), part[2]) * m
        model.train(was)
        return {"loss": loss_sum / n, "error_cm": err_sum / n}

    def preprocessing(self) -> dict[str, Any]:
        tr = self.cfg.data.trajectories
        return {
            "dataset": "trajectories",
            "arena": tr.arena,
            "steps": tr.steps,
            "inputs": input_width(self.cfg),
            "place_cells": self.cfg.objective.place_cells.model_dump(),
        }


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    """The model under a DistributedDataParallel wrapper (which has no ``recurrent_weights``)."""
    return getattr(model, "module", model) if not hasattr(model, "recurrent_weights") else model
