"""The training loop: one config in, one run directory out.

Runs on HF Accelerate, so the same code trains on one CPU, one GPU or several. A run
directory holds::

    config.yaml        the validated config (what was run)
    metrics.jsonl      one JSON line per epoch: losses, accuracies, seconds
    snapshots.npz      class-mean grid maps over training: means/vars (S, C, H, W), counts (S, C),
                       step, epoch (fractional; 0 = before training), accuracy, class_names, tile
    checkpoints/last.pt  the last complete epoch (atomic), for --resume
    topography.json    the run's topography record: every metric with its null, per snapshot
    summary.json       final numbers: accuracies, the final snapshot's entry of topography.json,
                       wall time (summed over resumed parts), seed

Snapshots are taken before training and ``snapshots_per_epoch`` times per epoch, on the test
set in eval mode; they hold per-class variances and counts so trial-level d' can be computed
later without re-running the model (spec: topography.md §2).
"""

from __future__ import annotations

import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

import brainlike
from brainlike.config import ConfigError, ExperimentConfig, config_from_dict, load_config
from brainlike.models.sheet import forward_all
from brainlike.train.checkpoint import (
    CheckpointError,
    atomic_save_npz,
    atomic_write_json,
    atomic_write_text,
    load_checkpoint,
    load_model_from_checkpoint,
    planned_epochs,
    save_checkpoint,
)


class RunDirectoryError(FileExistsError):
    """The run directory exists and neither resume nor overwrite was asked for."""


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


def seed_everything(seed: int) -> None:
    """One seed for Python, NumPy and torch (the run's single source of randomness)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def prepare_run_dir(
    run_dir: Path, resume: bool, overwrite: bool, create: bool = True, restart: bool = False
) -> None:
    """Create ``run_dir`` or refuse to clobber an existing one (``create=False``: only check).

    ``restart``: the folder holds only a partial start (:func:`is_partial_start`), which is
    cleared and started again.
    """
    if resume and overwrite:
        raise ValueError("choose either --resume or --overwrite, not both")
    if run_dir.exists() and any(run_dir.iterdir()):
        if overwrite:
            if create:
                shutil.rmtree(run_dir)
        elif restart:
            if create:
                clear_partial_start(run_dir)
        elif not resume:
            raise RunDirectoryError(
                f"run directory {run_dir} already exists; pass --resume to continue it from its last "
                "checkpoint, --overwrite to delete it and start again, or choose another --out"
            )
    elif resume:
        raise CheckpointError(f"cannot resume: {run_dir} does not exist or is empty")
    if create:
        run_dir.mkdir(parents=True, exist_ok=True)


# Held by the process that trains a run folder, for as long as it trains it.
_TRAINING_LOCK = ".training.lock"
# What a run writes before its first checkpoint (atomic writes leave ".NAME.*.tmp" files when
# killed mid-write); checkpoints/last.pt is written last in each epoch.
_PARTIAL_START_FILES = ("config.yaml", "metrics.jsonl", "snapshots.npz", _TRAINING_LOCK)


def _launch_rank() -> int:
    """This process's rank in a multi-process launch (0 when launched alone)."""
    try:
        return int(os.environ.get("RANK") or os.environ.get("LOCAL_RANK") or 0)
    except ValueError:
        return 0


def is_being_trained(run_dir: Path) -> bool:
    """True while another process trains ``run_dir`` (it holds the folder's training lock).

    A folder whose run was killed keeps the lock file but not the lock. Without ``fcntl``
    (Windows) this cannot be told and is False.
    """
    lock = run_dir / _TRAINING_LOCK
    if not lock.is_file():
        return False
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return False
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def _hold_training_lock(run_dir: Path) -> Any:
    """Take ``run_dir``'s training lock for this process (an open file; closing it, or the
    process ending, releases it); None without ``fcntl``."""
    try:
        import fcntl
    except ImportError:  # pragma: no cover - not POSIX
        return None
    handle = open(run_dir / _TRAINING_LOCK, "a")  # noqa: SIM115 - held for the whole run
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise RunDirectoryError(_busy_message(run_dir)) from None
    return handle


def _busy_message(run_dir: Path) -> str:
    return (
        f"{run_dir} is being trained by another process right now; wait for it to finish (then "
        "--resume to train it further), or choose another --out"
    )


def _is_temp_file(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def is_partial_start(run_dir: Path) -> bool:
    """True when ``run_dir`` holds only what a run writes before its first checkpoint.

    Such a run was stopped before its first epoch ended: there is nothing to resume, and
    nothing but the files of that start to lose by starting it again.
    """
    if not run_dir.is_dir():
        return False
    for entry in run_dir.iterdir():
        if (entry.name in _PARTIAL_START_FILES and entry.is_file()) or _is_temp_file(entry.name):
            continue
        if entry.name == "checkpoints" and entry.is_dir():
            if all(_is_temp_file(e.name) for e in entry.iterdir()):
                continue
        return False
    return True


def clear_partial_start(run_dir: Path) -> None:
    """Delete the files of a partial start (:func:`is_partial_start`), and nothing else."""
    if not is_partial_start(run_dir):
        raise RunDirectoryError(f"{run_dir} holds more than a partial start; not clearing it")
    for entry in run_dir.iterdir():
        if entry.is_dir():
            shutil.rmtree(entry)
        else:
            entry.unlink()


def _check_partial_start_config(run_dir: Path, cfg: ExperimentConfig) -> None:
    """Refuse to restart a partial start that another experiment config began."""
    path = run_dir / "config.yaml"
    if not path.is_file():
        return
    try:
        started = load_config(path)
        same = _same_experiment(started, cfg)
    except (ConfigError, OSError):
        same = False
    if not same:
        raise RunDirectoryError(
            f"{run_dir} holds the start (no checkpoint yet) of another experiment: its "
            "config.yaml differs from this config; pass --overwrite to replace it with this one, "
            "or choose another --out"
        )


def _same_experiment(a: ExperimentConfig, b: ExperimentConfig) -> bool:
    """Two configs of the same run: equal but for train.epochs (which a resume may change) and
    the recipe's description and expected time (which say nothing about the experiment)."""
    same = {"train": {"epochs"}, "description": True, "expected_time": True}
    return a.model_dump(exclude=same) == b.model_dump(exclude=same)


def check_training_request(cfg: ExperimentConfig) -> None:
    """Refuse, before any folder is made, a run that cannot train here: no epochs to train, or
    a ``train.device`` this machine does not have."""
    if planned_epochs(cfg.model_dump()) < 1:
        raise ValueError(
            f"train.epochs is {cfg.train.epochs} and there are no finetune stages, so there is "
            "nothing to train; set --epochs (train.epochs) to 1 or more"
        )
    device = cfg.train.device
    if device == "cuda" and not torch.cuda.is_available():
        build = "built without CUDA" if torch.version.cuda is None else "sees no CUDA GPU"
        raise ValueError(
            f"--device cuda (train.device) was asked for, but torch {torch.__version__} {build} "
            "on this machine; use --device cpu, or --device auto to take a GPU when there is one"
        )
    if device == "mps" and not torch.backends.mps.is_available():
        raise ValueError(
            "--device mps (train.device) was asked for, but this machine has no Apple GPU that "
            "torch can use; use --device cpu, or --device auto to take a GPU when there is one"
        )


def _labels_from_codes(codes: Tensor, codebook: Tensor) -> Tensor:
    return torch.cdist(codes.float(), codebook.to(codes.device).float()).argmin(dim=1)


@torch.no_grad()
def evaluate(
    model: torch.nn.Module,
    loader: torch.utils.data.DataLoader,
    num_classes: int,
    device: torch.device,
    codebook: Tensor | None = None,
    sheet: str | None = None,
    record_grid: bool = True,
) -> dict[str, Any]:
    """Test loss, accuracy and per-class grid statistics (mean, population variance, count)."""
    from brainlike.objectives.supervised import classification_loss, code_loss, decode_codes

    was = model.training
    model.eval()
    total, correct, loss_sum = 0, 0, 0.0
    s1 = s2 = None
    counts = torch.zeros(num_classes, dtype=torch.float64)
    for x, y in loader:
        x, y = x.to(device), y.to(device)
        out = forward_all(model, x)
        if codebook is not None:
            labels = _labels_from_codes(y, codebook)
            loss = code_loss(out.logits, y.float())
            pred = decode_codes(out.logits, codebook)
        else:
            labels = y
            loss = classification_loss(out.logits, y)
            pred = out.logits.argmax(dim=1)
        n = x.shape[0]
        total += n
        loss_sum += float(loss) * n
        correct += int((pred == labels).sum())
        if record_grid and sheet is not None:
            g = out.sheets[sheet].double().cpu()
            onehot = torch.nn.functional.one_hot(labels.cpu(), num_classes).double()  # (B, C)
            flat = g.flatten(1)
            if s1 is None:
                s1 = torch.zeros(num_classes, flat.shape[1], dtype=torch.float64)
                s2 = torch.zeros_like(s1)
                shape = g.shape[1:]
            s1 += onehot.T @ flat
            s2 += onehot.T @ flat.square()
            counts += onehot.sum(0)
    model.train(was)
    result: dict[str, Any] = {"loss": loss_sum / max(total, 1), "acc": correct / max(total, 1)}
    if record_grid and s1 is not None:
        c = counts.clamp_min(1).unsqueeze(1)
        mean = s1 / c
        var = (s2 / c - mean.square()).clamp_min(0)
        result["means"] = mean.view(num_classes, *shape).numpy()
        result["vars"] = var.view(num_classes, *shape).numpy()
        result["counts"] = counts.numpy().astype(np.int64)
    return result


def _snapshot_steps(steps_per_epoch: int, per_epoch: int) -> set[int]:
    """1-based step indices within an epoch at which to snapshot (the last one ends the epoch)."""
    if per_epoch <= 0:
        return set()
    per_epoch = min(per_epoch, steps_per_epoch)
    return {math.ceil(steps_per_epoch * (i + 1) / per_epoch) for i in range(per_epoch)}


def train(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    resume: bool = False,
    overwrite: bool = False,
    progress: bool = True,
    analyse: bool = True,
    stop_after_epochs: int | None = None,
) -> dict[str, Any]:
    """Train the experiment ``cfg`` into ``run_dir`` and return its summary.

    Parameters
    ----------
    cfg : the validated experiment.
    run_dir : output folder (refused if it exists, unless ``resume`` or ``overwrite``). A
        folder that holds only a partial start (the run stopped before its first checkpoint:
        :func:`is_partial_start`) is started again, with or without ``resume``, if it was
        started with the same config.
    resume : continue from ``run_dir/checkpoints/last.pt`` (the last complete epoch).
    overwrite : delete ``run_dir`` first.
    progress : show a progress bar with loss and accuracy.
    analyse : compute the topography record of every snapshot (``topography.json``, with
        the config's analysis settings) and put the final snapshot's entry in summary.json.
    stop_after_epochs : stop (as if interrupted) after this many epochs of this call; for tests
        and for splitting long runs.

    While it trains, the process holds the folder's training lock: another ``train`` of the
    same folder (resume, overwrite or a restart) is refused until it ends.
    """
    held: list[Any] = []  # the training lock, taken once the folder is ready
    try:
        return _train(
            cfg,
            run_dir,
            resume=resume,
            overwrite=overwrite,
            progress=progress,
            analyse=analyse,
            stop_after_epochs=stop_after_epochs,
            held=held,
        )
    finally:
        for handle in held:
            if handle is not None:
                handle.close()
                # a run that failed before writing anything leaves its folder as it found it
                lock = Path(handle.name)
                if [p.name for p in lock.parent.iterdir()] == [lock.name]:
                    lock.unlink()


def _train(
    cfg: ExperimentConfig,
    run_dir: str | Path,
    *,
    resume: bool,
    overwrite: bool,
    progress: bool,
    analyse: bool,
    stop_after_epochs: int | None,
    held: list[Any],
) -> dict[str, Any]:
    """The body of :func:`train`; appends the training lock it takes to ``held``."""
    from accelerate import Accelerator

    from brainlike.data.images import class_weights, dataset_labels, load_experiment_dataset
    from brainlike.models.zoo import build_from_config, build_from_description
    from brainlike.objectives.spatial import spatial_correlation_loss
    from brainlike.objectives.supervised import (
        classification_loss,
        code_loss,
        decode_codes,
        reconstruction_loss,
    )

    t_start = time.perf_counter()
    run_dir = Path(run_dir).expanduser()
    ckpt_path = run_dir / "checkpoints" / "last.pt"
    check_training_request(cfg)
    # a second command on a folder that a live run is writing touches nothing (its first epoch
    # would look like a partial start otherwise)
    if _launch_rank() == 0 and is_being_trained(run_dir):
        raise RunDirectoryError(_busy_message(run_dir))
    state = None
    # A run stopped before its first checkpoint has nothing to resume: start it again.
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
    prepare_run_dir(run_dir, resume, overwrite, create=False, restart=restart)  # before the data
    bundle = load_experiment_dataset(cfg)
    codes = bundle.targets_kind == "code"
    codebook = torch.as_tensor(bundle.codes, dtype=torch.float32) if codes else None
    out_features = codebook.shape[1] if codes else bundle.num_classes
    n_classes = bundle.num_classes
    for set_name, members in (cfg.analysis.target_sets or {}).items():
        bad = [m for m in members if not 0 <= m < n_classes]
        if bad:
            raise ValueError(
                f"analysis.target_sets.{set_name} names classes {bad}, but {cfg.data.dataset} has classes "
                f"0..{n_classes - 1}; fix the indices"
            )
    if say_restart:
        print(
            f"{run_dir} has no checkpoint (the run stopped before its first epoch ended); "
            "starting it from scratch",
            file=sys.stderr,
        )
    prepare_run_dir(run_dir, resume, overwrite, restart=restart)
    if _launch_rank() == 0:
        held.append(_hold_training_lock(run_dir))
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    seed_everything(cfg.seed)

    cpu = cfg.train.device == "cpu"
    accelerator = Accelerator(cpu=cpu)
    device = accelerator.device

    torch.manual_seed(cfg.seed)
    if state is not None:
        # Resume what was saved: a grown model's structure lives in its checkpoint.
        model = build_from_description(state["architecture"])
        model.frozen_rows = dict(state.get("frozen_rows", {}))
        freeze_rows(model, model.frozen_rows)
    elif cfg.init is not None:
        model = grow_from_checkpoint(cfg, bundle.in_channels, out_features)
    else:
        model = build_from_config(cfg.model, bundle.in_channels, out_features, bundle.input_size)
        if cfg.finetune is not None and cfg.finetune.checkpoint:
            start_from_checkpoint(model, cfg.finetune.checkpoint)
    from brainlike.train.recipes import TrainingRecipe

    recipe = TrainingRecipe(cfg, bundle, n_classes)
    recipe.check_blocks(model)
    total_epochs = recipe.total_epochs
    opt_cls = torch.optim.Adam if cfg.train.optimizer == "adam" else torch.optim.SGD
    opt_kwargs: dict[str, Any] = {"lr": cfg.train.lr, "weight_decay": cfg.train.weight_decay}
    if cfg.train.optimizer == "sgd":
        opt_kwargs["momentum"] = cfg.train.momentum
    optimizer = opt_cls(model.parameters(), **opt_kwargs)
    steps_per_epoch = math.ceil(len(bundle.train) / cfg.train.batch_size)
    total_steps = max(1, steps_per_epoch * cfg.train.epochs)
    if cfg.train.schedule == "cosine":
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer,
            lambda step: 0.5 * (1.0 + math.cos(math.pi * min(step, total_steps) / total_steps)),
        )
    else:
        milestones = [m * steps_per_epoch for m in cfg.train.milestones]
        gamma = cfg.train.gamma
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: gamma ** sum(step >= m for m in milestones)
        )

    start_epoch, global_step, metrics, wall_before = 0, 0, [], 0.0
    recorder = SnapshotRecorder()
    if state is not None:
        try:
            model.load_state_dict(state["model"])
            optimizer.load_state_dict(state["optimizer"])
            scheduler.load_state_dict(state["scheduler"])
        except (RuntimeError, KeyError, ValueError) as err:
            raise CheckpointError(
                f"{ckpt_path} does not fit this model: {str(err)[:300]}"
            ) from None
        start_epoch, global_step = int(state["epoch"]), int(state["step"])
        # wall time of the earlier parts, up to their last checkpoint (older checkpoints: 0)
        wall_before = float(state.get("wall_seconds", 0.0))
        metrics = list(state["metrics"])
        recorder = SnapshotRecorder.from_state(state["snapshots"])
        torch.set_rng_state(state["torch_rng"])
    atomic_write_text(run_dir / "config.yaml", cfg.to_yaml())

    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)
    weights = None
    if cfg.objective.class_weighted and not codes:
        weights = class_weights(dataset_labels(bundle.train), n_classes).to(device)

    test_loader = torch.utils.data.DataLoader(
        bundle.test,
        batch_size=max(cfg.train.batch_size, 256),
        shuffle=False,
        num_workers=cfg.train.num_workers,
    )
    snap_sheet, spatial_sheet = resolve_sheets(cfg, raw_model)
    sheet_coords = (
        torch.as_tensor(raw_model.sheet[spatial_sheet], dtype=torch.float32)
        if spatial_sheet is not None
        else None
    )
    tile = int(getattr(raw_model, "tile", 0))
    prior_layers = [m for m in raw_model.modules() if hasattr(m, "prior") and hasattr(m, "weight")]
    wiring = cfg.objective.wiring
    if prior_layers:
        from brainlike.objectives.wiring import l1_penalty, wiring_penalty
    if (wiring.l1 > 0 or wiring.distance > 0) and not prior_layers:
        raise ValueError(
            "objective.wiring costs apply to locality-prior layers, and this model has none; "
            "set model.kind: lenet/alexnet with locality enabled, or set the wiring weights to 0"
        )

    def snapshot(epoch_pos: float) -> dict[str, Any] | None:
        if snap_sheet is None:  # a model without a cortical sheet has no maps to snapshot
            return None
        ev = evaluate(raw_model, test_loader, n_classes, device, codebook, sheet=snap_sheet)
        recorder.add(ev["means"], ev["vars"], ev["counts"], global_step, epoch_pos, ev["acc"])
        return ev

    if not recorder.step:
        snapshot(0.0)
    snap_at = _snapshot_steps(steps_per_epoch, cfg.train.snapshots_per_epoch)
    epochs_this_call = 0
    interrupted = False

    from brainlike.progress import ProgressDisplay, eta_seconds, format_duration

    bar = ProgressDisplay(progress and accelerator.is_local_main_process)
    t_loop = time.perf_counter()

    def run_eta(elapsed: float, done: int) -> str:
        left = eta_seconds(elapsed, done, total_epochs - start_epoch)
        return f", run ETA {format_duration(left)}" if done < total_epochs - start_epoch else ""

    try:
        with bar:
            for epoch in range(start_epoch, total_epochs):
                if stop_after_epochs is not None and epochs_this_call >= stop_after_epochs:
                    interrupted = True
                    break
                t_epoch = time.perf_counter()
                model.train()
                stage = recipe.enter_epoch(raw_model, epoch)
                # Shuffling depends only on (seed, epoch), so a resumed run sees the same batches.
                g = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
                loader = torch.utils.data.DataLoader(
                    recipe.train_dataset(bundle.train),
                    batch_size=cfg.train.batch_size,
                    shuffle=True,
                    generator=g,
                    num_workers=cfg.train.num_workers,
                    drop_last=False,
                )
                loader = accelerator.prepare_data_loader(loader)
                spatial_gen = torch.Generator().manual_seed(cfg.seed * 7_919 + epoch)
                recipe_gen = torch.Generator().manual_seed(cfg.seed * 6_607 + epoch)
                what = f"train {cfg.name}: epoch {epoch + 1}/{total_epochs}"
                if stage is not None:
                    what += f" (fine-tune {stage.block})"
                task = bar.add_task(what, total=steps_per_epoch, unit="batch", auto_end=False)
                seen, correct, loss_sum = 0, 0, 0.0
                for i, batch in enumerate(loader, start=1):
                    x, ctx = recipe.prepare(batch, epoch, recipe_gen)
                    y = ctx.labels
                    out = forward_all(model, x, has_sheet=snap_sheet is not None)
                    if recipe.active and not codes:
                        loss, total_loss, clean = recipe.loss(out.logits, ctx, weights)
                        pred, labels = clean.argmax(1), y
                    elif codes:
                        loss = code_loss(out.logits, y.float())
                        pred, labels = (
                            decode_codes(out.logits, codebook),
                            _labels_from_codes(y, codebook),
                        )
                    else:
                        loss = classification_loss(
                            out.logits, y, weights, cfg.objective.label_smoothing
                        )
                        pred, labels = out.logits.argmax(1), y
                    if not recipe.active or codes:
                        total_loss = loss
                    if cfg.objective.reconstruction_weight > 0:
                        total_loss = (
                            total_loss
                            + cfg.objective.reconstruction_weight
                            * reconstruction_loss(
                                out.reconstruction, x, cfg.objective.reconstruction_loss
                            )
                        )
                    if cfg.objective.spatial.weight > 0:
                        resp = out.sheets[spatial_sheet].flatten(1)
                        total_loss = (
                            total_loss
                            + cfg.objective.spatial.weight
                            * spatial_correlation_loss(
                                resp, sheet_coords, cfg.objective.spatial.neighbourhood, spatial_gen
                            )
                        )
                    for layer in prior_layers:
                        if wiring.l1 > 0:
                            total_loss = total_loss + wiring.l1 * l1_penalty(layer)
                        if wiring.distance > 0:
                            total_loss = total_loss + wiring.distance * wiring_penalty(layer)
                    optimizer.zero_grad(set_to_none=True)
                    accelerator.backward(total_loss)
                    optimizer.step()
                    scheduler.step()
                    if stage is not None:  # fine-tuning stages run at their own constant lr
                        for group in optimizer.param_groups:
                            group["lr"] = stage.lr or cfg.train.lr
                    global_step += 1
                    n = ctx.n
                    seen += n
                    loss_sum += float(loss.detach()) * n
                    correct += int((pred == labels).sum())
                    bar.update(
                        task, advance=1, info=f"loss {loss_sum / seen:.3f} acc {correct / seen:.3f}"
                    )
                    if i in snap_at:
                        snapshot(epoch + i / steps_per_epoch)
                ev = evaluate(
                    raw_model, test_loader, n_classes, device, codebook, record_grid=False
                )
                row = {
                    "epoch": epoch + 1,
                    "train_loss": loss_sum / max(seen, 1),
                    "train_acc": correct / max(seen, 1),
                    "test_loss": ev["loss"],
                    "test_acc": ev["acc"],
                    "seconds": time.perf_counter() - t_epoch,
                    "step": global_step,
                    "lr": optimizer.param_groups[0]["lr"],
                }
                if stage is not None:
                    row["finetune_block"] = stage.block
                metrics.append(row)
                bar.end(
                    task,
                    info=f"loss {row['train_loss']:.3f} acc {row['train_acc']:.3f} test {row['test_acc']:.3f}"
                    + run_eta(time.perf_counter() - t_loop, epochs_this_call + 1),
                )
                epochs_this_call += 1
                if accelerator.is_main_process:
                    _write_epoch(
                        run_dir,
                        raw_model,
                        optimizer,
                        scheduler,
                        cfg,
                        epoch + 1,
                        global_step,
                        metrics,
                        recorder,
                        bundle,
                        tile,
                        wall_seconds=wall_before + time.perf_counter() - t_start,
                    )
    except KeyboardInterrupt:
        # The last complete checkpoint (atomic) survives; the partial epoch is discarded.
        accelerator.print(
            f"\ninterrupted: {run_dir} keeps the checkpoint of the last complete epoch; "
            "continue with --resume"
        )
        raise

    summary = build_summary(
        cfg,
        run_dir,
        raw_model,
        metrics,
        bundle,
        wall_before + time.perf_counter() - t_start,
        complete=not interrupted,
    )
    if analyse and not interrupted and recorder.step and accelerator.is_main_process:
        summary.update(record_topography(cfg, run_dir, recorder, bundle, tile))
    if accelerator.is_main_process:
        atomic_write_json(run_dir / "summary.json", summary)
    return summary


def grow_from_checkpoint(
    cfg: ExperimentConfig, in_channels: int, out_features: int
) -> torch.nn.Module:
    """A trained Reset network from ``cfg.init.checkpoint``, widened and deepened as asked."""
    from brainlike.models.parallel import StackedLinear
    from brainlike.models.reset import LevelSpec, ResetNetwork

    init = cfg.init
    model, _ = load_model_from_checkpoint(Path(init.checkpoint).expanduser())
    if not isinstance(model, ResetNetwork):
        raise CheckpointError(
            f"{init.checkpoint} holds a {type(model).__name__}; init can only grow Reset networks"
        )
    if model.in_channels != in_channels:
        raise ValueError(
            f"{init.checkpoint} was trained on {model.in_channels}-channel images but data gives "
            f"{in_channels}; set data.channels: {model.in_channels}"
        )
    model.execution = cfg.model.execution
    for lv in model.levels:
        lv.execution = cfg.model.execution
    # Number of leading rows of each trained parameter to keep frozen (stacked tensors lead with
    # the subnetwork axis; BatchNorm vectors are group-major), recorded before growing.
    frozen = (
        {name: p.shape[0] for name, p in model.named_parameters()} if init.freeze_trained else {}
    )
    for level, extra in sorted(init.add_subnetworks.items()):
        if level >= len(model.levels):
            raise ValueError(
                f"init.add_subnetworks names level {level}, but the trained model has "
                f"{len(model.levels)} level(s)"
            )
        model.add_subnetworks(level, extra)
    for lv in init.add_levels:
        side, tile = int(round(lv.subnets**0.5)), int(round(lv.outputs**0.5))
        model.add_level(
            LevelSpec(side=side, tile=tile, subnet=lv.subnet, subnet_kwargs=lv.subnet_kwargs())
        )
    if model.out_features != out_features:
        head = model.master.fc
        model.master.fc = StackedLinear(1, head.in_features, out_features)
        model.out_features = out_features
        frozen = {k: v for k, v in frozen.items() if not k.startswith("master.fc.")}
    model.frozen_rows = frozen
    freeze_rows(model, frozen)
    return model


def start_from_checkpoint(model: torch.nn.Module, path: str | Path) -> None:
    """Load a trained model's weights into ``model`` (same architecture) before fine-tuning."""
    from brainlike.models.zoo import describe_model

    state = load_checkpoint(Path(path).expanduser())

    def plain(d: Any) -> Any:  # tuples and lists compare equal after a JSON round trip
        return json.loads(json.dumps(d, default=str))

    if plain(state.get("architecture")) != plain(describe_model(model)):
        raise CheckpointError(
            f"finetune.checkpoint {path} holds another architecture than this config builds; "
            "fine-tune with the model section of the run that wrote it"
        )
    model.load_state_dict(state["model"])


def freeze_rows(model: torch.nn.Module, frozen: dict[str, int]) -> None:
    """Zero the gradient of the first ``frozen[name]`` rows of each named parameter.

    Gradient masking (rather than ``requires_grad=False``) keeps every parameter in the
    optimizer, so a resumed run has the same optimizer state layout.
    """
    params = dict(model.named_parameters())
    for name, rows in frozen.items():
        p = params[name]
        keep = torch.ones_like(p)
        keep[:rows] = 0.0
        p.register_hook(lambda g, keep=keep: g * keep)


def resolve_sheets(cfg: ExperimentConfig, model: torch.nn.Module) -> tuple[str | None, str | None]:
    """Names of the sheet to snapshot and of the sheet the spatial loss acts on (None, None
    for a model without a sheet: it trains and is scored, but has no maps to snapshot)."""
    sheets = list(getattr(model, "sheet", {}) or {})
    if not sheets:
        if cfg.objective.spatial.weight > 0 or cfg.analysis.sheet:
            raise ValueError(
                f"model {type(model).__name__} has no cortical sheet (unit coordinates), so "
                "objective.spatial.weight and analysis.sheet cannot apply; set the weight to 0 "
                "and leave analysis.sheet empty, or use a model with a sheet (Reset, locality)"
            )
        return None, None

    def check(name: str, key: str) -> str:
        if name not in sheets:
            raise ValueError(
                f"{key} is {name!r}, but the model's sheets are {sheets}; use one of them"
            )
        return name

    snap = check(cfg.analysis.sheet, "analysis.sheet") if cfg.analysis.sheet else sheets[0]
    sp = cfg.objective.spatial
    if sp.sheet:
        spatial = check(sp.sheet, "objective.spatial.sheet")
    elif f"levels.{sp.level}.grid" in sheets:
        spatial = f"levels.{sp.level}.grid"
    else:
        spatial = sheets[0]
    return snap, spatial


def _write_epoch(
    run_dir,
    model,
    optimizer,
    scheduler,
    cfg,
    epoch,
    step,
    metrics,
    recorder,
    bundle,
    tile,
    wall_seconds: float,
) -> None:
    from brainlike.models.zoo import describe_model

    if recorder.step:
        atomic_save_npz(
            run_dir / "snapshots.npz", **recorder.arrays(list(bundle.class_names), tile)
        )
    atomic_write_text(run_dir / "metrics.jsonl", "".join(json.dumps(m) + "\n" for m in metrics))
    save_checkpoint(
        run_dir / "checkpoints" / "last.pt",
        {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": scheduler.state_dict(),
            "epoch": epoch,
            "step": step,
            "metrics": metrics,
            "snapshots": recorder.state(),
            "torch_rng": torch.get_rng_state(),
            "config": cfg.model_dump(mode="json"),
            "architecture": describe_model(model),
            "preprocessing": preprocessing_of(bundle),
            "frozen_rows": dict(getattr(model, "frozen_rows", {})),
            "wall_seconds": wall_seconds,
            "version": brainlike.__version__,
        },
    )


def preprocessing_of(bundle) -> dict[str, Any]:
    """What an image must go through to reach this run's model (for scoring it later)."""
    return {
        "dataset": bundle.name,
        "input_size": int(bundle.input_size),
        "in_channels": int(bundle.in_channels),
        "pixel_mean": list(bundle.pixel_mean) if bundle.pixel_mean is not None else None,
        "pixel_std": list(bundle.pixel_std) if bundle.pixel_std is not None else None,
    }


def build_summary(cfg, run_dir, model, metrics, bundle, wall, complete=True) -> dict[str, Any]:
    """The machine-readable final numbers of a run (topography: :func:`record_topography`).

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
        "wall_seconds": wall,
        "preprocessing": preprocessing_of(bundle),
        "brainlike_version": brainlike.__version__,
        "torch_version": torch.__version__,
        "execution": {
            f"level{i}": lv.resolved_execution()
            for i, lv in enumerate(getattr(model, "levels", []))
        },
    }


def record_topography(cfg, run_dir, recorder, bundle, tile: int) -> dict[str, Any]:
    """Compute the run's topography record once and write it (``run_dir/topography.json``).

    Every snapshot is analysed with the config's analysis settings and the run's seed
    (:func:`brainlike.analysis.history.run_settings`); ``brainlike topo`` with those settings
    reads this record back. Returns the summary entries: ``"topography"`` (the final
    snapshot's entry of the record, the same numbers) and ``"topography_record"`` (file name).
    """
    from brainlike.analysis.history import compute_history, run_settings, write_record

    own = run_settings(cfg)
    history = compute_history(recorder.arrays(list(bundle.class_names), tile), own)
    path = write_record(run_dir, history, own)
    return {"topography": history["snapshots"][-1], "topography_record": path.name}
