"""Training on several processes (``accelerate launch``): one global batch, split among them.

``train.batch_size`` is the *global* batch: the samples of one optimizer step over all the
processes together. With N processes each takes a contiguous 1/N share of every batch of the
task's loader (Accelerate's ``split_batches``), DDP averages the N gradients, and since every
share's loss is a mean over the same number of samples, the average is the gradient of the
whole batch: the step of a single-process run, up to the order of floating-point additions.
So one config is one experiment on any number of processes: the same batches in the same
order, the same steps per epoch, the same learning-rate schedule. A task whose batches are
generated rather than loaded (path integration: trajectories drawn from (seed, step)) makes
the whole batch on every process and trains on its own share (:meth:`Task.share_of
<brainlike.train.tasks.base.Task.share_of>`).

The loop sums each epoch's training metrics over the processes before writing them. The
held-out set is split too, where the task can split it (image classification: held-out batch
i goes to process i mod N, :meth:`Task.held_out_sums <brainlike.train.tasks.base.Task.
held_out_sums>`), and the shares' sums are added; other tasks (path integration's generated
sequences) evaluate the whole set on every process, with the same weights. Either way each
number covers the held-out set exactly once. Only the main process writes the run folder.

What still differs from one process:

- BatchNorm normalises each process's share (statistics of batch_size / N samples), as in
  plain DDP; SyncBatchNorm runs on GPUs only. A model without BatchNorm is unaffected.
- Random draws inside a step (dropout, CutMix and AugMix of a recipe, augmentation) come from
  each process's own stream; process 0 keeps the single-process stream.
- An epoch whose last batch is short (the training set not a multiple of ``batch_size``)
  has that batch filled up to a full one with the epoch's first samples (Accelerate's
  ``even_batches``; a process with no samples would stall the others), so its last step and
  the epoch's training metrics count those samples twice. A training set that is a multiple
  of ``batch_size`` trains exactly as on one process.

Refused before anything is written, with one line each: a batch that does not split evenly,
learning rules (their backward weights are updated from each process's own activations,
outside DDP's gradient averaging), fine-tuning stages (they freeze parameters in the middle of
a run, which DDP cannot follow) and the self-supervised tasks (their losses, memory banks and
queues couple the images of a whole batch).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch

__all__ = ["batchnorm_note", "check_processes", "reduce_sums", "run_agreed"]

T = TypeVar("T")


def check_processes(cfg: Any, task: Any, num_processes: int) -> None:
    """Refuse a run that cannot train on ``num_processes`` processes (see the module docstring).

    Raises
    ------
    ValueError
        One line naming the problem and the fix.
    """
    if num_processes == 1:
        return
    launch = f"this launch has {num_processes} processes"
    if task.single_process_reason is not None:
        raise ValueError(
            f"objective.task {cfg.objective.task!r} trains on one process only ({launch}): "
            f"{task.single_process_reason}; train it as one process (without accelerate launch)"
        )
    rule = cfg.rule.build()
    if rule.converts or cfg.rule.noisy_updates is not None:
        raise ValueError(
            f"rule {cfg.rule.kind!r} trains on one process only ({launch}): its backward weights and "
            "update noise are applied outside DDP's gradient averaging, so the processes would "
            "drift apart; train it as one process (without accelerate launch)"
        )
    if cfg.finetune is not None and cfg.finetune.stages:
        raise ValueError(
            f"finetune.stages train on one process only ({launch}): a stage freezes parameters "
            "in the middle of the run, which DDP cannot follow; train it as one process (without "
            "accelerate launch)"
        )
    batch = int(cfg.train.batch_size)
    if batch % num_processes:
        low = max(num_processes, batch - batch % num_processes)
        raise ValueError(
            f"train.batch_size is {batch}, the global batch of all processes together; "
            f"{launch}, so it must be a multiple of {num_processes} (e.g. {low} or "
            f"{low + num_processes})"
        )


def batchnorm_note(model: torch.nn.Module, cfg: Any, num_processes: int) -> str | None:
    """One line telling that ``model``'s BatchNorm sees each process's share of the batch
    (None on one process, or without BatchNorm)."""
    if num_processes == 1:
        return None
    norms = [m for m in model.modules() if isinstance(m, torch.nn.modules.batchnorm._BatchNorm)]
    if not norms:
        return None
    share = int(cfg.train.batch_size) // num_processes
    return (
        f"note: {len(norms)} BatchNorm layers normalise each process's share of the batch "
        f"({share} of {cfg.train.batch_size} samples), as in plain DDP, so this run differs "
        "from one process by those statistics"
    )


def reduce_sums(accelerator: Any, sums: dict[str, float]) -> dict[str, float]:
    """``sums`` added over all processes (each process passes its own; float64, in key order)."""
    if accelerator.num_processes == 1:
        return {k: float(v) for k, v in sums.items()}
    keys = list(sums)
    local = torch.tensor([float(sums[k]) for k in keys], dtype=torch.float64)
    total = accelerator.reduce(local.to(accelerator.device), reduction="sum").cpu()
    return {k: float(v) for k, v in zip(keys, total.tolist(), strict=True)}


class OtherProcessFailed(ValueError):
    """Another process of the launch refused the run (it printed why)."""


def run_agreed(accelerator: Any, fn: Callable[[], T], main_first: bool = False) -> T:
    """``fn()`` on every process; when it raises on any of them, every process raises.

    Without this a process that refuses (a bad folder, a missing data set) would leave the
    others waiting for it at their next collective. ``main_first``: the main process runs
    ``fn`` before the others (a data set downloaded once, then read by all).
    """
    if accelerator.num_processes == 1:
        return fn()
    result: Any = None
    error: Exception | None = None
    for turn in (True, False) if main_first else (None,):
        if turn is None or turn == accelerator.is_main_process:
            try:
                result = fn()
            except Exception as err:  # noqa: BLE001 - re-raised below, on every process
                error = err
        flag = torch.tensor([float(error is not None)], device=accelerator.device)
        failed = float(accelerator.reduce(flag, reduction="sum").item())
        if error is not None:
            raise error
        if failed:
            raise OtherProcessFailed(
                "another process of this launch refused the run (its message is above); fix "
                "that and launch again"
            )
    return result
