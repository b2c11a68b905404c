"""The model a run starts from: a fresh build, a resumed checkpoint, a grown Reset network, or a
trained model to fine-tune.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from brainlike.config import ExperimentConfig
from brainlike.train.checkpoint import CheckpointError, load_checkpoint

__all__ = ["build_model", "freeze_rows", "grow_from_checkpoint", "start_from_checkpoint"]


def build_model(
    cfg: ExperimentConfig,
    model_io: tuple[int, int, int],
    state: dict[str, Any] | None,
    wrap: Callable[[torch.nn.Module], torch.nn.Module] = lambda m: m,
) -> torch.nn.Module:
    """The model of a run, before its trained weights (if any) are loaded.

    Parameters
    ----------
    cfg : the experiment config.
    model_io : (input channels, output features, input size) that the task asks for.
    state : the checkpoint being resumed, or None. A resumed model is built from the
        architecture stored with it (a grown model's structure lives in its checkpoint).
    wrap : what the task puts around a fresh build (:meth:`Task.wrap_model`: heads).
    """
    from brainlike.models.zoo import build_from_config, build_from_description

    in_channels, out_features, input_size = model_io
    if state is not None:
        model = build_from_description(state["architecture"])
        model.frozen_rows = dict(state.get("frozen_rows", {}))
        freeze_rows(model, model.frozen_rows)
    elif cfg.init is not None and cfg.model.kind == "reset":
        model = grow_from_checkpoint(cfg, in_channels, out_features)
    elif cfg.init is not None:
        model = wrap(build_from_config(cfg.model, in_channels, out_features, input_size))
        start_from_checkpoint(model, cfg.init.checkpoint, what="init.checkpoint")
    else:
        model = wrap(build_from_config(cfg.model, in_channels, out_features, input_size))
        if cfg.finetune is not None and cfg.finetune.checkpoint:
            start_from_checkpoint(model, cfg.finetune.checkpoint)
    return model


def grow_from_checkpoint(
    cfg: ExperimentConfig, in_channels: int, out_features: int
) -> torch.nn.Module:
    """A trained Reset network from ``cfg.init.checkpoint``, widened and deepened as asked."""
    from brainlike.models.parallel import StackedLinear
    from brainlike.models.reset import LevelSpec, ResetNetwork
    from brainlike.models.zoo import build_from_description

    init = cfg.init
    state = load_checkpoint(Path(init.checkpoint).expanduser())
    model = build_from_description(state["architecture"])
    _load_forward_weights(model, state, init.checkpoint)
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


def start_from_checkpoint(
    model: torch.nn.Module, path: str | Path, what: str = "finetune.checkpoint"
) -> None:
    """Load a trained model's forward weights into ``model`` (same architecture).

    ``what`` names the config key in messages. A checkpoint trained with a learning rule
    gives its forward weights only (the rule of this run starts its own backward weights).
    """
    from brainlike.models.zoo import describe_model

    state = load_checkpoint(Path(path).expanduser())

    def plain(d: Any) -> Any:  # tuples and lists compare equal after a JSON round trip
        return json.loads(json.dumps(d, default=str))

    if plain(state.get("architecture")) != plain(describe_model(model)):
        raise CheckpointError(
            f"{what} {path} holds another architecture than this config builds; "
            "use the model section of the run that wrote it"
        )
    _load_forward_weights(model, state, path)


def _load_forward_weights(model: torch.nn.Module, state: dict[str, Any], path: Any) -> None:
    """The checkpoint's weights without the backward state of its learning rule; notes on
    ``model.init_source`` where they came from (for the run's summary)."""
    from brainlike.rules.convert import forward_state

    rule = ((state.get("config") or {}).get("rule") or {}).get("kind", "backprop")
    try:
        model.load_state_dict(forward_state(state["model"]))
    except RuntimeError as err:
        raise CheckpointError(
            f"{path}: weights do not fit their own architecture ({err})"
        ) from None
    model.init_source = {"checkpoint": str(path), "rule": rule}


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
