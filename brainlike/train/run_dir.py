"""The run folder of a training run: refusing to clobber it, its training lock, and partial starts.

A run folder is made once and only trained by one process at a time. ``--resume`` continues it,
``--overwrite`` replaces it; a folder that holds only what a run writes before its first
checkpoint (a *partial start*) is started again when the same config asks for it.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import torch

from brainlike.config import ConfigError, ExperimentConfig, load_config
from brainlike.train.checkpoint import CheckpointError, planned_epochs


class RunDirectoryError(FileExistsError):
    """The run directory exists and neither resume nor overwrite was asked for."""


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
