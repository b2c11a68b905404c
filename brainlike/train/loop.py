"""The training loop: one config in, one run directory out, for every task.

Runs on HF Accelerate, so the same code trains on one CPU, one GPU or several. What is trained
comes from a *task* (:mod:`brainlike.train.tasks`: batches, loss, metrics); what is recorded
besides the metrics comes from *callbacks* (:mod:`brainlike.train.callbacks`: grid snapshots
today). A new system adds a task or a callback, never a second loop. A run directory holds::

    config.yaml        the validated config (what was run)
    metrics.jsonl      one JSON line per epoch: losses, the task's metrics, seconds, step, lr
    snapshots.npz      (grid snapshots) class-mean maps over training: see callbacks.snapshots
    checkpoints/last.pt  the last complete epoch (atomic), for --resume
    topography.json    (grid snapshots) the run's topography record, per snapshot
    summary.json       final numbers: accuracies, the final snapshot's entry of topography.json,
                       wall time (summed over resumed parts), seed

On several processes (``accelerate launch``) ``train.batch_size`` is the global batch, split
among them, and a run is the single-process run of the same config up to float rounding:
see :mod:`brainlike.train.processes` for what is split, summed and refused.

Resume is exact: the shuffling of every epoch and every random draw of a task depend only on
(seed, epoch), and the checkpoint holds the optimizer, schedule, torch RNG and the state of the
task and of every callback.
"""

from __future__ import annotations

import json
import math
import random
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

import brainlike
from brainlike.config import ExperimentConfig, config_from_dict
from brainlike.train.build import build_model
from brainlike.train.callbacks import Callback
from brainlike.train.checkpoint import (
    CheckpointError,
    atomic_write_json,
    atomic_write_text,
    load_checkpoint,
    save_checkpoint,
)
from brainlike.train.processes import batchnorm_note, check_processes, reduce_sums, run_agreed
from brainlike.train.run_dir import (
    RunDirectoryError,
    _busy_message,
    _check_partial_start_config,
    _hold_training_lock,
    _launch_rank,
    _same_experiment,
    check_training_request,
    is_being_trained,
    is_partial_start,
    prepare_run_dir,
)
from brainlike.train.tasks import Task, make_task
from brainlike.train.tasks.images import preprocessing_of

__all__ = [
    "RunDirectoryError",
    "RunState",
    "build_summary",
    "preprocessing_of",
    "seed_everything",
    "train",
]


def seed_everything(seed: int) -> None:
    """One seed for Python, NumPy and torch (the run's single source of randomness)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


@dataclass
class RunState:
    """What callbacks see of a run in progress."""

    cfg: ExperimentConfig
    run_dir: Path
    task: Task
    model: torch.nn.Module  # unwrapped: the module itself, not the Accelerate wrapper
    device: torch.device
    is_main_process: bool
    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    rule: Any = None  # the learning rule's training state (None: backprop)


def train(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    analyse: bool = True,
    stop_after_epochs: int | None = None,
    callbacks: Sequence[Callback] = (),
    task: Task | None = None,
) -> dict[str, Any]:
    """Train the experiment ``cfg`` into ``run_dir`` and return its summary.

    Parameters
    ----------
    cfg : the validated experiment.
    run_dir : output folder (refused if it exists, unless ``resume`` or ``overwrite``). A
        folder that holds only a partial start (the run stopped before its first checkpoint:
        :func:`~brainlike.train.run_dir.is_partial_start`) is started again, with or without
        ``resume``, if it was started with the same config.
    resume : continue from ``run_dir/checkpoints/last.pt`` (the last complete epoch).
    overwrite : delete ``run_dir`` first.
    progress : show a progress bar with loss and accuracy.
    analyse : compute the topography record of every snapshot (``topography.json``, with
        the config's analysis settings) and put the final snapshot's entry in summary.json.
    stop_after_epochs : stop (as if interrupted) after this many epochs of this call; for tests
        and for splitting long runs.
    callbacks : callbacks to run besides the task's own (grid snapshots for image tasks).
    task : the task to train; by default the one the config's data asks for
        (:func:`~brainlike.train.tasks.make_task`). The model is still built from ``cfg``.

    While it trains, the process holds the folder's training lock: another ``train`` of the
    same folder (resume, overwrite or a restart) is refused until it ends.
    """
    held: list[Any] = []  # the training lock, taken once the folder is ready
    # train.threads holds for the whole run, data loading included (resizing with another
    # number of threads can differ in the last bit), and ends with it: the process's count is
    # restored, so a later run in the same process starts from the same state
    threads = torch.get_num_threads()
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    try:
        return _train(
            cfg,
            Path(run_dir).expanduser(),
            resume=resume,
            overwrite=overwrite,
            progress=progress,
            analyse=analyse,
            stop_after_epochs=stop_after_epochs,
            extra_callbacks=list(callbacks),
            task=task,
            held=held,
        )
    finally:
        torch.set_num_threads(threads)
        for handle in held:
            if handle is not None:
                handle.close()
                # a run that failed before writing anything leaves its folder as it found it
                lock = Path(handle.name)
                if [p.name for p in lock.parent.iterdir()] == [lock.name]:
                    lock.unlink()


def _open_run(
    cfg: ExperimentConfig, run_dir: Path, resume: bool, overwrite: bool
) -> tuple[dict[str, Any] | None, bool, bool, bool]:
    """Check the request against the folder, touching nothing.

    Returns (the checkpoint to resume or None, resume, restart, whether to say so). A run
    stopped before its first checkpoint has nothing to resume: it is started again.
    """
    ckpt_path = run_dir / "checkpoints" / "last.pt"
    check_training_request(cfg)
    # a second command on a folder that a live run is writing touches nothing (its first epoch
    # would look like a partial start otherwise)
    if _launch_rank() == 0 and is_being_trained(run_dir):
        raise RunDirectoryError(_busy_message(run_dir))
    state = None
    restart = not overwrite and not ckpt_path.exists() and is_partial_start(run_dir)
    say_restart = restart and (resume or any(run_dir.iterdir()))
    if restart:
        _check_partial_start_config(run_dir, cfg)
        resume = False
    elif resume:
        if not ckpt_path.exists() and run_dir.is_dir() and any(run_dir.iterdir()):
            raise CheckpointError(
                f"{run_dir} has no checkpoint to resume from ({ckpt_path} is missing) but holds "
                "more than the start of a run; pass --overwrite to start it again, or choose "
                "another --out"
            )
        state = load_checkpoint(ckpt_path)  # fails loudly before anything is touched
        stored = config_from_dict(state["config"], f"{ckpt_path} (stored config)")
        if not _same_experiment(stored, cfg):
            raise CheckpointError(
                f"{ckpt_path} was written by a different experiment config; resume with the same "
                "config (only train.epochs may change), or use --overwrite to start again"
            )
    prepare_run_dir(run_dir, resume, overwrite, create=False, restart=restart)
    return state, resume, restart, say_restart


def _optimizer_and_schedule(
    cfg: ExperimentConfig,
    params: Any,
    steps_per_epoch: int,
    clock: Callable[[int], float] | None = None,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """The optimizer of ``cfg.train`` for ``params`` and its per-step schedule (cosine, or
    step decay; see :func:`_schedule`)."""
    opt_cls = torch.optim.Adam if cfg.train.optimizer == "adam" else torch.optim.SGD
    opt_kwargs: dict[str, Any] = {"lr": cfg.train.lr, "weight_decay": cfg.train.weight_decay}
    if cfg.train.optimizer == "sgd":
        opt_kwargs["momentum"] = cfg.train.momentum
        opt_kwargs["nesterov"] = cfg.train.nesterov
    optimizer = opt_cls(params, **opt_kwargs)
    return optimizer, _schedule(cfg, optimizer, steps_per_epoch, clock)


def _schedule(
    cfg: ExperimentConfig,
    optimizer: torch.optim.Optimizer,
    steps_per_epoch: int,
    clock: Callable[[int], float] | None = None,
) -> torch.optim.lr_scheduler.LRScheduler:
    """``cfg.train``'s schedule for ``optimizer``, stepped once per loop step; ``clock`` maps
    the loop step to the schedule's position (a learning rule's delay and alternation)."""
    tick = clock or (lambda step: step)
    total_steps = max(1, tick(steps_per_epoch * cfg.train.epochs))
    warmup = cfg.train.warmup_epochs * steps_per_epoch

    def warm(step: int) -> float:  # linear warm-up: (s + 1) / w of lr for the first w steps
        return min(1.0, (tick(step) + 1) / warmup) if warmup else 1.0

    if cfg.train.schedule == "cosine":
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: (
                warm(step)
                * (0.5 * (1.0 + math.cos(math.pi * min(tick(step), total_steps) / total_steps)))
            ),
        )
    milestones = [m * steps_per_epoch for m in cfg.train.milestones]
    gamma = cfg.train.gamma
    return torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda step: warm(step) * gamma ** sum(tick(step) >= m for m in milestones)
    )


def _train(
    cfg: ExperimentConfig,
    run_dir: Path,
    *,
    resume: bool,
    overwrite: bool,
    progress: bool,
    analyse: bool,
    stop_after_epochs: int | None,
    extra_callbacks: list[Callback],
    task: Task | None,
    held: list[Any],
) -> dict[str, Any]:
    """The body of :func:`train`; appends the training lock it takes to ``held``."""
    from accelerate import Accelerator, DataLoaderConfiguration

    t_start = time.perf_counter()
    # train.batch_size is the global batch: each of N processes takes 1/N of every batch
    accelerator = Accelerator(
        cpu=cfg.train.device == "cpu",
        dataloader_config=DataLoaderConfiguration(split_batches=True),
    )
    main = accelerator.is_main_process
    # every process checks the folder before any of them touches it, and all stop if one does
    state, resume, restart, say_restart = run_agreed(
        accelerator, lambda: _open_run(cfg, run_dir, resume, overwrite)
    )
    if task is None:  # loads the data (a download once, by the main process first)
        task = run_agreed(accelerator, lambda: make_task(cfg), main_first=True)
    check_processes(cfg, task, accelerator.num_processes)
    task.set_processes(accelerator.process_index, accelerator.num_processes)
    callbacks = [*task.standard_callbacks(analyse=analyse), *extra_callbacks]
    if say_restart and main:
        print(
            f"{run_dir} has no checkpoint (the run stopped before its first epoch ended); "
            "starting it from scratch",
            file=sys.stderr,
        )
    if main:  # only the main process writes the run folder
        prepare_run_dir(run_dir, resume, overwrite, restart=restart)
        held.append(_hold_training_lock(run_dir))
    accelerator.wait_for_everyone()
    seed_everything(cfg.seed)  # the same initial weights on every process
    torch.manual_seed(cfg.seed)
    model = build_model(cfg, task.model_io, state, task.wrap_model)
    task.check_model(model)
    note = batchnorm_note(model, cfg, accelerator.num_processes)
    if note and main:
        print(note, file=sys.stderr)
    rule, clock = None, None
    learning_rule = cfg.rule.build()
    if state is not None and state.get("init_source"):
        model.init_source = state["init_source"]
    elif getattr(model, "init_source", None):
        _say_init(model.init_source, learning_rule)
    if learning_rule.converts or cfg.rule.noisy_updates is not None:
        from brainlike.train.rule_training import RuleTraining

        rule = RuleTraining(cfg, model, learning_rule)
        params: Any = RuleTraining.forward_parameters(model)
        clock = rule.schedule_clock(task.steps_per_epoch)
        rule.build_optimizer(
            lambda ps: _optimizer_and_schedule(cfg, ps, task.steps_per_epoch, clock),
            lambda opt: _schedule(cfg, opt, task.steps_per_epoch, clock),
        )
    else:
        params = model.parameters()
    optimizer, scheduler = _optimizer_and_schedule(cfg, params, task.steps_per_epoch, clock)

    run = RunState(cfg, run_dir, task, model, accelerator.device, accelerator.is_main_process)
    run.rule = rule
    metrics: list[dict[str, Any]] = []
    wall_before = 0.0
    if state is not None:
        _restore(state, run_dir, model, optimizer, scheduler, task, callbacks)
        run.epoch, run.step = int(state["epoch"]), int(state["step"])
        # wall time of the earlier parts, up to their last checkpoint (older checkpoints: 0)
        wall_before = float(state.get("wall_seconds", 0.0))
        metrics = list(state["metrics"])
        if rule is not None:
            rule.load_state_dict(state["rule"])
        torch.set_rng_state(state["torch_rng"])
    if main:
        atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())

    model, optimizer = accelerator.prepare(model, optimizer)
    run.model = accelerator.unwrap_model(model)
    task.bind(run.model, run.device)
    for cb in callbacks:
        cb.on_train_start(run)

    def save() -> None:  # the wall time counts every earlier part of the run
        wall = wall_before + time.perf_counter() - t_start
        _save_epoch(run, optimizer, scheduler, metrics, callbacks, wall)

    interrupted = _run_epochs(
        run, model, optimizer, scheduler, accelerator, metrics, callbacks,
        progress=progress, stop_after_epochs=stop_after_epochs, save=save,
    )  # fmt: skip

    summary = build_summary(
        cfg,
        run_dir,
        run.model,
        metrics,
        task.preprocessing(),
        wall_before + time.perf_counter() - t_start,
        complete=not interrupted,
    )
    summary["processes"] = accelerator.num_processes  # that shared each batch
    for cb in callbacks:
        cb.on_train_end(run, summary, interrupted)
    if main:
        atomic_write_json(run_dir / "summary.json", summary)
    accelerator.wait_for_everyone()  # no process returns before the run folder is complete
    return summary


def _say_init(source: dict[str, Any], rule: Any) -> None:
    """One line: which checkpoint this run starts from, and what happens to its rule."""
    then = "its own backward weights" if rule.converts else "exact backprop"
    print(
        f"init: forward weights from {source['checkpoint']} (trained with rule "
        f"{source['rule']}); this run trains them with rule {rule.name}, from {then}",
        file=sys.stderr,
    )
    source["backward_weights"] = "fresh" if rule.converts else "none"


def _restore(state, run_dir, model, optimizer, scheduler, task, callbacks) -> None:
    """Load a checkpoint's weights, optimizer, schedule, task and callback states."""
    try:
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
    except (RuntimeError, KeyError, ValueError) as err:
        path = run_dir / "checkpoints" / "last.pt"
        raise CheckpointError(f"{path} does not fit this model: {str(err)[:300]}") from None
    task.load_state_dict(state.get("task", {}))
    for cb in callbacks:
        if cb.state_key is not None and cb.state_key in state:
            cb.load_state_dict(state[cb.state_key])


def _held_out(task: Task, model: torch.nn.Module, accelerator: Any) -> dict[str, Any]:
    """The held-out metrics: on several processes each evaluates its share and the shares are
    added, where the task can split its held-out set (:meth:`Task.held_out_sums`); else every
    process evaluates the whole set."""
    if accelerator.num_processes > 1:
        sums = task.held_out_sums(model)
        if sums is not None:
            totals = reduce_sums(accelerator, sums)
            return {k: v / max(totals["n"], 1) for k, v in totals.items() if k != "n"}
    return task.evaluate(model)


def _run_epochs(
    run: RunState,
    model: torch.nn.Module,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    accelerator: Any,
    metrics: list[dict[str, Any]],
    callbacks: list[Callback],
    *,
    progress: bool,
    stop_after_epochs: int | None,
    save: Callable[[], None],
) -> bool:
    """Train from ``run.epoch`` to the task's last epoch; True when stopped early."""
    from brainlike.progress import ProgressDisplay, eta_seconds, format_duration

    task, cfg = run.task, run.cfg
    total_epochs, start_epoch = task.total_epochs, run.epoch
    steps_per_epoch = task.steps_per_epoch
    bar = ProgressDisplay(progress and accelerator.is_local_main_process)
    t_loop = time.perf_counter()
    epochs_this_call = 0

    def run_eta(elapsed: float, done: int) -> str:
        left = eta_seconds(elapsed, done, total_epochs - start_epoch)
        return f", run ETA {format_duration(left)}" if done < total_epochs - start_epoch else ""

    def running(sums: dict[str, float], seen: int) -> str:
        return " ".join(f"{k} {sums[k] / seen:.3f}" for k in ("loss", *task.metric_names))

    try:
        with bar:
            for epoch in range(start_epoch, total_epochs):
                if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
                    return True
                t_epoch = time.perf_counter()
                model.train()
                if accelerator.process_index:  # dropout and augmentation: its own stream
                    torch.manual_seed(task.stream_seed(cfg.seed * 100_019 + epoch))
                note = task.start_epoch(run.model, epoch)
                loader = task.train_loader(epoch)
                if not task.shares_batches_itself:  # this process's share of each batch
                    loader = accelerator.prepare_data_loader(loader)
                what = f"train {cfg.name}: epoch {epoch + 1}/{total_epochs}{note}"
                bar_task = bar.add_task(what, total=steps_per_epoch, unit="batch", auto_end=False)
                seen = 0
                sums: dict[str, float] = {"loss": 0.0, **dict.fromkeys(task.metric_names, 0)}
                for i, batch in enumerate(loader, start=1):
                    # a rule's schedule may switch the task loss off (spec learning-rules §4)
                    task_on = run.rule is None or run.rule.task_step_on(run.step, epoch)
                    out = task.step(model, batch, epoch)
                    optimizer.zero_grad(set_to_none=True)
                    if task_on:
                        accelerator.backward(out.total)
                    if run.rule is not None:  # the backward weights' gradients
                        run.rule.after_backward(run.rule.alignment_on(run.step, epoch))
                    if task_on:
                        optimizer.step()
                    if run.rule is not None:
                        run.rule.step(optimizer if task_on else None)
                    _step_schedule(scheduler, task_on)
                    task.after_optimizer_step(optimizer)
                    run.step += 1
                    seen += out.n
                    sums["loss"] += float(out.loss.detach()) * out.n
                    for k in task.metric_names:
                        sums[k] += out.sums[k]
                    bar.update(bar_task, advance=1, info=running(sums, seen))
                    for cb in callbacks:
                        cb.on_batch_end(run, epoch, i)
                # the epoch's sums over every process's share
                totals = reduce_sums(accelerator, {"seen": seen, **sums})
                held_out = _held_out(task, run.model, accelerator)
                row = {
                    "epoch": epoch + 1,
                    **{
                        f"train_{k}": totals[k] / max(totals["seen"], 1)
                        for k in ("loss", *task.metric_names)
                    },
                    **{f"test_{k}": v for k, v in held_out.items()},
                    "seconds": time.perf_counter() - t_epoch,
                    "step": run.step,
                    "lr": optimizer.param_groups[0]["lr"],
                    **task.epoch_notes(epoch),
                    **(run.rule.diagnostics(run.model, task) if run.rule is not None else {}),
                }
                metrics.append(row)
                shown = " ".join(
                    f"{k} {row[f'train_{k}']:.3f}" for k in ("loss", *task.metric_names)
                )
                bar.end(
                    bar_task,
                    info=f"{shown} test {row[f'test_{task.headline}']:.3f}"
                    + run_eta(time.perf_counter() - t_loop, epochs_this_call + 1),
                )
                epochs_this_call += 1
                run.epoch = epoch + 1
                if accelerator.is_main_process:
                    save()
    except KeyboardInterrupt:
        # The last complete checkpoint (atomic) survives; the partial epoch is discarded.
        accelerator.print(
            f"\ninterrupted: {run.run_dir} keeps the checkpoint of the last complete epoch; "
            "continue with --resume"
        )
        raise
    return False


def _step_schedule(scheduler: Any, task_on: bool) -> None:
    """Advance the schedule by one loop step. It also advances on a step without the task (a
    rule's delay or alternation), where the forward optimizer did not step: torch's warning
    about that order (given on a schedule's first step only) does not apply."""
    if task_on or getattr(scheduler, "_step_count", 2) > 1:
        scheduler.step()
        return
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Detected call of `lr_scheduler")
        scheduler.step()


def _save_epoch(
    run: RunState,
    optimizer: torch.optim.Optimizer,
    scheduler: Any,
    metrics: list[dict[str, Any]],
    callbacks: list[Callback],
    wall_seconds: float,
) -> None:
    """Write the callbacks' files, metrics.jsonl, then the checkpoint (last, atomically)."""
    from brainlike.models.zoo import describe_model

    for cb in callbacks:
        cb.write(run)
    atomic_write_text(run.run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))
    model = run.model
    payload: dict[str, Any] = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "epoch": run.epoch,
        "step": run.step,
        "metrics": metrics,
    }
    for cb in callbacks:
        if cb.state_key is not None:
            payload[cb.state_key] = cb.state_dict()
    if run.rule is not None:
        payload["rule"] = run.rule.state_dict()
    task_state = run.task.state_dict()
    if task_state:
        payload["task"] = task_state
    payload.update(
        {
            "torch_rng": torch.get_rng_state(),
            "config": run.cfg.model_dump(mode="json"),
            "architecture": describe_model(model),
            "preprocessing": run.task.preprocessing(),
            "frozen_rows": dict(getattr(model, "frozen_rows", {})),
            "init_source": getattr(model, "init_source", None),
            "wall_seconds": wall_seconds,
            "version": brainlike.__version__,
        }
    )
    save_checkpoint(run.run_dir / "checkpoints" / "last.pt", payload)


def build_summary(
    cfg, run_dir, model, metrics, preprocessing: dict[str, Any], wall, complete=True
) -> dict[str, Any]:
    """The machine-readable final numbers of a run (topography: the grid snapshots callback).

    ``wall`` is the run's wall-clock time in seconds, summed over its parts when it was
    resumed (a killed part counts up to its last checkpoint); the final topography analysis
    is not included.
    """
    from brainlike.models.reset import count_parameters

    last = metrics[-1] if metrics else {}
    return {
        "name": cfg.name,
        "run_dir": str(run_dir),
        "complete": complete,
        "epochs": len(metrics),
        "seed": cfg.seed,
        "dataset": cfg.data.dataset,
        "parameters": count_parameters(model),
        "test_acc": last.get("test_acc"),
        "train_acc": last.get("train_acc"),
        "test_loss": last.get("test_loss"),
        **({"test_knn_acc": last["test_knn_acc"]} if "test_knn_acc" in last else {}),
        **({"test_error_cm": last["test_error_cm"]} if "test_error_cm" in last else {}),
        "wall_seconds": wall,
        "preprocessing": preprocessing,
        "brainlike_version": brainlike.__version__,
        "torch_version": torch.__version__,
        "execution": {
            f"level{i}": lv.resolved_execution()
            for i, lv in enumerate(getattr(model, "levels", []))
        },
        "rule": cfg.rule.model_dump(mode="json", exclude_defaults=True) | {"kind": cfg.rule.kind},
        "init": getattr(model, "init_source", None),
    }
