"""The model under test: a network resolved from a run, a checkpoint or the registry.

A :class:`ScoringModel` is a model ready to look at images with the preprocessing it was
trained with; :func:`load_scoring_model` resolves one (warning when a run stopped before its
last epoch), :func:`default_layers` names the blocks scored when none are given, and
:func:`model_images` shows a recording's stimuli to it at its size, channels and pixel
normalisation.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.preconditions import ScoringError


class IncompleteRunWarning(UserWarning):
    """The scored checkpoint is from a run that stopped before its last configured epoch."""


@dataclass
class ScoringModel:
    """A model ready to look at images, with the preprocessing it expects."""

    model: Any  # torch.nn.Module
    name: str
    source: str  # "registry", "checkpoint" or "run"
    in_channels: int
    input_size: int
    pixel_mean: tuple[float, ...] | None = None
    pixel_std: tuple[float, ...] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def preprocessing(self) -> dict[str, Any]:
        """JSON-able description of the image pipeline (part of the activation cache key)."""
        return {
            "input_size": self.input_size,
            "in_channels": self.in_channels,
            "pixel_mean": list(self.pixel_mean) if self.pixel_mean else None,
            "pixel_std": list(self.pixel_std) if self.pixel_std else None,
        }

    def weights_digest(self) -> str:
        """Short sha256 of the architecture and weights (identifies the model in the database)."""
        from brainlike.analysis.activations import model_digest

        return model_digest(self.model)[:16]


def load_scoring_model(
    spec: str | Path,
    *,
    seed: int = 0,
    input_size: int | None = None,
    in_channels: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> ScoringModel:
    """Resolve ``spec`` to a model: a run directory, a checkpoint file, or a registry name.

    Parameters
    ----------
    spec : str or Path
        ``runs/demo/demo-plain`` (a training run), ``.../checkpoints/last.pt`` (a brainlike
        checkpoint) or a registered model name such as ``resnet20`` (built with random weights
        drawn from ``seed``: an untrained model).
    seed : int
        Seed of the random weights of a registry model; ignored for trained models.
    input_size, in_channels : int, optional
        Override the image size and channels shown to the model (registry models default to
        their registered ``in_channels`` and 32 pixels).
    model_kwargs : dict, optional
        Extra constructor arguments for a registry model.

    A checkpoint of a run that stopped before its configured epochs (killed, interrupted)
    is scored as it is, with an :class:`IncompleteRunWarning` naming the epoch; ``details``
    records ``epoch`` (the checkpoint's last complete epoch), ``total_epochs`` (configured)
    and ``complete``.
    """
    import torch

    from brainlike.models import list_models, model_entry
    from brainlike.train.checkpoint import load_model_from_checkpoint, planned_epochs

    path = Path(spec).expanduser()
    if path.is_dir() or path.suffix in (".pt", ".pth") or path.exists():
        ckpt = path / "checkpoints" / "last.pt" if path.is_dir() else path
        if path.is_dir() and not ckpt.is_file():
            raise ScoringError(
                f"{path} is a folder but holds no checkpoints/last.pt; give a run directory made "
                "by `brainlike train`, a checkpoint file, or a registered model name"
            )
        model, state = load_model_from_checkpoint(ckpt)
        prep = state.get("preprocessing") or _preprocessing_from_config(state.get("config"))
        name = str(
            (state.get("config") or {}).get("name") or (path.name if path.is_dir() else path.stem)
        )
        epoch = state.get("epoch")
        total = planned_epochs(state.get("config"))
        complete = None if epoch is None or total is None else int(epoch) >= total
        if complete is False:
            what = f"run {path}" if path.is_dir() else f"the run of checkpoint {path}"
            warnings.warn(
                f"{what} stopped after epoch {epoch} of {total}; scoring its epoch-{epoch} "
                "checkpoint (finish the run with `brainlike train ... --resume`)",
                IncompleteRunWarning,
                stacklevel=2,
            )
        return ScoringModel(
            model=model.eval(),
            name=name,
            source="run" if path.is_dir() else "checkpoint",
            in_channels=int(in_channels or prep["in_channels"]),
            input_size=int(input_size or prep["input_size"]),
            pixel_mean=tuple(prep["pixel_mean"]) if prep.get("pixel_mean") else None,
            pixel_std=tuple(prep["pixel_std"]) if prep.get("pixel_std") else None,
            details={
                "checkpoint": str(ckpt),
                "epoch": epoch,
                "total_epochs": total,
                "complete": complete,
            },
        )
    name = str(spec)
    if name not in list_models():
        raise ScoringError(
            f"{name!r} is neither a run directory, a checkpoint file nor a registered model; "
            f"registered models: {', '.join(list_models())}"
        )
    fn, _, example = model_entry(name)
    kwargs = {**example, **(model_kwargs or {})}
    if in_channels is not None and "in_channels" in kwargs:
        kwargs["in_channels"] = in_channels
    torch.manual_seed(seed)
    model = fn(**kwargs)
    channels = int(in_channels or kwargs.get("in_channels", 3))
    size = int(input_size or getattr(model, "input_size", None) or 32)
    return ScoringModel(
        model=model.eval(),
        name=name if seed == 0 else f"{name}@seed{seed}",
        source="registry",
        in_channels=channels,
        input_size=size,
        details={"seed": seed, "kwargs": {k: v for k, v in kwargs.items() if _jsonable(v)}},
    )


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except TypeError:
        return False
    return True


def _preprocessing_from_config(config: dict | None) -> dict[str, Any]:
    """Preprocessing of a checkpoint written before checkpoints recorded it: rebuild its data."""
    from brainlike.config import config_from_dict
    from brainlike.data.images import load_experiment_dataset

    if not config:
        raise ScoringError(
            "this checkpoint records neither its preprocessing nor its config; retrain it with "
            "this version of brainlike (checkpoints record both now)"
        )
    bundle = load_experiment_dataset(config_from_dict(config), download=False, augment=False)
    from brainlike.train.loop import preprocessing_of

    return preprocessing_of(bundle)


def default_layers(
    model: Any, input_shape: tuple[int, int, int] | None = None, time_steps: int | None = None
) -> list[str]:
    """Layers scored when none are named: the blocks a reader would name in a paper.

    The model's cortical sheets (``sheet:<name>``) first, then its top-level modules in
    forward order; a container of blocks (``layer1`` of a ResNet, ``features`` of a LeNet) is
    scored block by block, a conv/linear followed by its norm and nonlinearity as one unit (its
    last module). Normalisation, dropout and modules called more than once are skipped. With
    ``time_steps`` (a recurrent model unrolled over T steps) the candidates are the modules
    called exactly once per step instead, and there are no sheets. A model with a
    ``fit_layers`` attribute (the areas it models) gets those.
    """
    from torch import nn

    from brainlike.analysis.activations import list_layers, module_calls, sheet_layers
    from brainlike.models.vone import VOneFront

    if isinstance(model, VOneFront):
        # the front end's simple + complex cells (after noise) and its bottleneck, then the
        # backend's own blocks at the resolution the front end hands it
        v = model.vone
        size = input_shape[-1] if input_shape else v.image_size
        stride = v._config["stride"]
        inner = (v.out_channels, size // stride, size // stride)
        backend = default_layers(model.backend, inner, time_steps)
        return ["vone.noise", "vone", *(f"backend.{name}" for name in backend)]

    fit_layers = getattr(model, "fit_layers", None)
    if fit_layers and time_steps is None:
        return list(fit_layers)  # a model that names its areas (StreamNet: VISp, streams, outputs)

    calls = module_calls(model, input_shape, time_steps=time_steps)
    order = {name: i for i, name in enumerate(calls)}

    def usable(name: str) -> bool:
        return calls.get(name, False)

    # (a Flatten repeats the pooled output it reads)
    skip = (
        nn.modules.batchnorm._NormBase,
        nn.GroupNorm,
        nn.LayerNorm,
        nn.Dropout,
        nn.Identity,
        nn.Flatten,
    )
    joins = (*skip, nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.LeakyReLU, nn.SiLU)

    def expand(prefix: str, container: nn.Module) -> list[str]:
        out: list[str] = []
        for child, mod in container.named_children():
            name = f"{prefix}.{child}"
            if not usable(name):
                continue
            if isinstance(mod, joins) and out and not isinstance(mod, skip):
                out[-1] = name  # conv -> norm -> ReLU: the unit's output is the ReLU's
            elif not isinstance(mod, skip):
                out.append(name)
        return out

    chosen: list[str] = []
    for name, mod in model.named_children():
        if isinstance(mod, (nn.Sequential, nn.ModuleList, nn.ModuleDict)) and any(
            usable(f"{name}.{c}") for c, _ in mod.named_children()
        ):
            chosen.extend(expand(name, mod))
        elif usable(name) and not isinstance(mod, skip):
            chosen.append(name)
        else:
            # A recurrent stage returns its states; its last per-iteration tap is its output.
            taps = [c for c, _ in mod.named_children() if c.startswith("iter") and c[4:].isdigit()]
            taps = [f"{name}.{c}" for c in sorted(taps, key=lambda c: int(c[4:]))]
            if taps and usable(taps[-1]):
                chosen.append(taps[-1])
    chosen.sort(key=lambda n: order.get(n, 0))
    sheets = sheet_layers(model) if time_steps is None else []
    if sheets or chosen:
        return sheets + chosen
    return [n for n in list_layers(model, input_shape, time_steps=time_steps) if n != "output"]


def model_images(stimulus_set: Any, stimulus_ids: list[str], sm: ScoringModel) -> np.ndarray:
    """Images in recording order at the model's size, channels and pixel normalisation."""
    order = {sid: i for i, sid in enumerate(stimulus_set.ids)}
    images = stimulus_set.load_images(size=sm.input_size, channels=sm.in_channels)
    images = images[[order[s] for s in stimulus_ids]]
    if sm.pixel_mean is not None and sm.pixel_std is not None:
        mean = np.asarray(sm.pixel_mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(sm.pixel_std, np.float32).reshape(1, -1, 1, 1)
        images = (images - mean) / std
    return np.ascontiguousarray(images, dtype=np.float32)
