"""The task contract of the training loop: :class:`Task` and :class:`StepOutput`.

See :mod:`brainlike.train.tasks` for the order in which the loop calls a task.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor

__all__ = ["StepOutput", "Task"]


@dataclass
class StepOutput:
    """One training batch's result.

    ``loss`` is the task loss reported in the metrics; ``total`` is what is optimised (the loss
    plus every extra term of the objective). ``sums`` holds the batch's contribution to each
    running metric other than the loss (e.g. ``{"acc": number correct}``), averaged over the
    ``n`` samples of the epoch.
    """

    loss: Tensor
    total: Tensor
    n: int
    sums: dict[str, float] = field(default_factory=dict)


class Task:
    """Base class of the tasks of the training loop (see the module docstring)."""

    #: the running metrics of a training epoch besides ``loss`` (keys of ``StepOutput.sums``)
    metric_names: tuple[str, ...] = ()
    #: the held-out metric shown after each epoch (a key of :meth:`evaluate`'s result)
    headline: str = "loss"
    #: None when the loop may train this task on several processes; else why it may not
    single_process_reason: str | None = None
    #: False: the loop splits each batch of :meth:`train_loader` among the processes; True:
    #: the loader yields what names a whole batch (a data step) and :meth:`step` trains on
    #: this process's share of it (:meth:`share_of`)
    shares_batches_itself: bool = False
    #: this process's place among those that train together (set by the loop)
    process_index: int = 0
    num_processes: int = 1

    def __init__(self, cfg: Any) -> None:
        self.cfg = cfg

    # -- the model ------------------------------------------------------------------------------
    @property
    def model_io(self) -> tuple[int, int, int]:
        """(input channels, output features, input size) of the model this task trains."""
        raise NotImplementedError

    @property
    def total_epochs(self) -> int:
        return int(self.cfg.train.epochs)

    @property
    def steps_per_epoch(self) -> int:
        raise NotImplementedError

    def wrap_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """The trained module around a freshly built model (a self-supervised task's heads)."""
        return model

    def check_model(self, model: torch.nn.Module) -> None:
        """Fail before training when the model cannot do this task (or ``observe.layers``
        names layers the model does not have)."""
        observe = getattr(self.cfg, "observe", None)
        if observe is not None and observe.enabled:
            from brainlike.analysis.identify.observables import observed_layers

            observed_layers(model, observe.layers)

    def bind(self, model: torch.nn.Module, device: torch.device) -> None:
        """Called once the model is on its device, before the first epoch."""

    def set_processes(self, index: int, count: int) -> None:
        """Train as process ``index`` of ``count`` (see :mod:`brainlike.train.processes`)."""
        self.process_index, self.num_processes = int(index), int(count)

    def share_of(self, *tensors: Tensor) -> tuple[Tensor, ...]:
        """This process's contiguous share of a whole batch (each tensor's first axis is the
        batch, ``train.batch_size`` long, a multiple of the number of processes)."""
        if self.num_processes == 1:
            return tensors
        part = tensors[0].shape[0] // self.num_processes
        lo = part * self.process_index
        return tuple(t[lo : lo + part] for t in tensors)

    def stream_seed(self, seed: int) -> int:
        """The seed of this process's own stream of random draws made from ``seed``: ``seed``
        itself on process 0 (so one process draws what a single-process run draws), another
        per process elsewhere (so no two processes draw the same dropout or CutMix)."""
        return seed if self.process_index == 0 else seed + 1_000_003 * self.process_index

    # -- an epoch -------------------------------------------------------------------------------
    def start_epoch(self, model: torch.nn.Module, epoch: int) -> str:
        """Prepare epoch ``epoch`` (0-based); returns a note for the progress label."""
        return ""

    def train_loader(self, epoch: int) -> torch.utils.data.DataLoader:
        raise NotImplementedError

    def step(self, model: torch.nn.Module, batch: Any, epoch: int) -> StepOutput:
        raise NotImplementedError

    def after_optimizer_step(self, optimizer: torch.optim.Optimizer) -> None:
        """Called after every optimizer and scheduler step."""

    def evaluate(
        self, model: torch.nn.Module, observe: Callable[[Any, Tensor], None] | None = None
    ) -> dict[str, Any]:
        """Held-out metrics (at least ``loss``); ``observe(output, labels)`` sees every batch."""
        raise NotImplementedError

    def held_out_sums(self, model: torch.nn.Module) -> dict[str, float] | None:
        """This process's share of the held-out set, as sums: ``n`` (samples) and, for each
        metric of :meth:`evaluate`, its sum over those samples. On several processes the loop
        adds the shares and divides by ``n``, so each process evaluates 1/N of the set. None
        (the default): every process evaluates the whole set with :meth:`evaluate`."""
        return None

    def probe_batch(self) -> Any:
        """A fixed training batch for diagnostics (the same every epoch and after a resume)."""
        raise NotImplementedError(
            f"task {type(self).__name__} has no probe batch; rule.gradient_angle needs one"
        )

    def probe_loss(self, model: torch.nn.Module, batch: Any) -> Tensor:
        """The task loss of ``batch``, without touching the task's state (its generators)."""
        raise NotImplementedError(
            f"task {type(self).__name__} has no probe loss; rule.gradient_angle needs one"
        )

    def observation_batch(self, n: int, seed: int) -> Tensor:
        """``n`` held-out inputs drawn by ``seed`` (the same at every call and after a resume):
        what ``observe:`` measures the activations on."""
        raise NotImplementedError(
            f"task {type(self).__name__} has no held-out inputs to observe; observe needs them"
        )

    def epoch_notes(self, epoch: int) -> dict[str, Any]:
        """Extra entries of epoch ``epoch``'s metrics row."""
        return {}

    # -- what a run records ---------------------------------------------------------------------
    def standard_callbacks(self, analyse: bool = True) -> list[Any]:
        """The callbacks every run of this task has (``analyse``: run their final analyses):
        the observables recorder when the config's ``observe`` is enabled."""
        observe = getattr(self.cfg, "observe", None)
        if observe is None or not observe.enabled:
            return []
        from brainlike.train.callbacks.observables import ObservableRecorder

        return [ObservableRecorder(self.cfg, self)]

    def preprocessing(self) -> dict[str, Any]:
        """What an input must go through to reach the model (stored with checkpoints)."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__} keeps no state, but was given {sorted(state)}")
