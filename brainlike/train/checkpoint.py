"""Atomic checkpoints and run-directory files.

Every file a run depends on is written to a temporary file in the same folder and renamed
over the old one (``os.replace`` is atomic on POSIX and Windows), so a kill at any moment
leaves either the previous complete file or the new complete file, never a torn one.
Checkpoints load with ``weights_only=True``: they hold tensors, numbers, strings and lists.
New files get the permissions of any file the user creates (``0o666`` less the umask), so a
run folder shared with colleagues stays readable.
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

CHECKPOINT_FORMAT = "brainlike-checkpoint-v1"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used: corrupt, foreign, or from another experiment."""


def _process_umask() -> int:
    """The process umask, read from /proc where the kernel reports it (Linux 4.7+); elsewhere
    by setting and restoring it (a short window in which another thread's new files would get
    mode 0o666)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    umask = os.umask(0)
    os.umask(umask)
    return umask


def new_file_mode() -> int:
    """The permission bits ``open()`` gives a new file: ``0o666`` less the process umask."""
    return 0o666 & ~_process_umask()


def temporary_file_beside(path: Path) -> tuple[int, str]:
    """A new temp file in ``path``'s folder for an atomic write: ``(fd, name)``.

    ``tempfile.mkstemp`` creates files as ``0o600``; this gives them the user's usual
    permissions (:func:`new_file_mode`), which ``os.replace`` then carries over to ``path``.
    """
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.chmod(tmp, new_file_mode())
    except BaseException:
        os.close(fd)
        Path(tmp).unlink(missing_ok=True)
        raise
    return fd, tmp


def atomic_write(path: str | Path, write: Callable[[io.BufferedWriter], None]) -> Path:
    """Write ``path`` through ``write(fileobj)`` into a temp file, fsync, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file_beside(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    return atomic_write(path, lambda fh: fh.write(text.encode()))


def atomic_write_json(path: str | Path, data: Any) -> Path:
    return atomic_write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def atomic_save_npz(path: str | Path, **arrays: np.ndarray) -> Path:
    return atomic_write(path, lambda fh: np.savez(fh, **arrays))


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Save ``state`` (tensors, numbers, strings, lists, dicts) atomically, tagged with the format."""
    payload = {"format": CHECKPOINT_FORMAT, **state}
    return atomic_write(path, lambda fh: torch.save(payload, fh))


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a brainlike checkpoint safely (``weights_only=True``) and check its format.

    Raises
    ------
    CheckpointError
        If the file is missing, unreadable, truncated, not a torch file, or not a brainlike
        checkpoint. Nothing is written.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(
            f"no checkpoint at {path}: nothing to resume; train without --resume first"
        )
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises many types for corrupt files
        code = _refused_global(str(err))
        if code is not None:
            raise CheckpointError(
                f"{path} holds pickled Python objects ({code}): code that would run when the "
                "file is loaded, and brainlike will not run it. brainlike checkpoints hold only "
                "tensors, numbers and strings; use one written by `brainlike train`"
            ) from None
        raise CheckpointError(
            f"{path} is not a readable checkpoint ({type(err).__name__}: {_load_failure(err)}); "
            "it may be truncated or corrupt. Delete it to start over, or restore it from a backup"
        ) from None
    if not isinstance(state, dict) or state.get("format") != CHECKPOINT_FORMAT:
        raise CheckpointError(
            f"{path} is a torch file but not a brainlike checkpoint (expected format "
            f"{CHECKPOINT_FORMAT!r}); brainlike only resumes from checkpoints it wrote"
        )
    return state


def planned_epochs(config: dict[str, Any] | None) -> int | None:
    """Epochs a run was configured for, from the config its checkpoint records.

    ``train.epochs`` plus the epochs of every fine-tuning stage (as
    :attr:`brainlike.train.recipes.TrainingRecipe.total_epochs` counts them); None when the
    checkpoint records no config.
    """
    if not config or not isinstance(config.get("train"), dict):
        return None
    epochs = config["train"].get("epochs")
    if epochs is None:
        return None
    stages = (config.get("finetune") or {}).get("stages") or []
    return int(epochs) + sum(int(stage.get("epochs", 0)) for stage in stages)


def _refused_global(message: str) -> str | None:
    """The class or function a ``weights_only`` load refused to import, if that is why it failed."""
    found = re.search(r"Unsupported global: GLOBAL (\S+)", message)
    if found:
        return found.group(1)
    return "an object torch does not allow" if "not an allowed global" in message else None


def _load_failure(err: Exception) -> str:
    """torch's reason for a failed load, without its advice to load with weights_only off."""
    message = str(err)
    if "WeightsUnpickler error:" in message:
        message = message.split("WeightsUnpickler error:", 1)[1]
        message = message.split("Check the documentation of torch.load", 1)[0]
    first_sentence = " ".join(message.split()).split(". ")[0]
    return first_sentence[:200]


def load_model_from_checkpoint(path: str | Path) -> tuple[torch.nn.Module, dict[str, Any]]:
    """Rebuild the model a checkpoint describes and load its weights; returns (model, state).

    Raises
    ------
    CheckpointError
        If the file is not a readable brainlike checkpoint or its weights do not fit the
        architecture it records.
    """
    from brainlike.models.zoo import build_from_description

    state = load_checkpoint(path)
    for key in ("architecture", "model"):
        if not isinstance(state.get(key), dict):
            raise CheckpointError(
                f"{path} records no {key} (a dict; got {type(state.get(key)).__name__}): it is "
                "not a checkpoint of a trained model; use one written by `brainlike train`"
            )
    config = state.get("config") or {}
    if not isinstance(config, dict):
        raise CheckpointError(
            f"{path}: its config is a {type(config).__name__}, not a dict; use a checkpoint "
            "written by `brainlike train`"
        )
    try:
        model = build_from_description(state["architecture"])
        rule = config.get("rule")
        if rule:
            # a run trained with a learning rule has backward weights: give the model them too
            # (convert leaves a backprop model as it is)
            from brainlike.config.rule import RuleConfig
            from brainlike.rules.convert import convert

            convert(model, RuleConfig.model_validate(rule).build(), seed=int(config.get("seed", 0)))
    except (KeyError, TypeError, ValueError, AttributeError) as err:
        raise CheckpointError(
            f"{path}: cannot rebuild the model it records ({type(err).__name__}: "
            f"{_load_failure(err)}); use a checkpoint written by `brainlike train`"
        ) from None
    try:
        model.load_state_dict(state["model"])
    except (RuntimeError, TypeError, AttributeError) as err:
        raise CheckpointError(
            f"{path}: weights do not fit their own architecture ({_load_failure(err)})"
        ) from None
    from brainlike.models.heads import backbone_of

    return backbone_of(model), state  # a self-supervised run's heads are not scored
