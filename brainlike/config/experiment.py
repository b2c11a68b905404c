"""The whole experiment config: the four choices of the goal-driven recipe and the analysis.

A config is the data stream, architecture, objective and training, plus the analysis
settings and one seed. ``load_config(path)`` returns an :class:`ExperimentConfig` or raises
:class:`~brainlike.config.reader.ConfigError` listing every problem with the offending key,
what came and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import Field, model_validator

from brainlike.config.analysis import AnalysisConfig
from brainlike.config.data import DataConfig
from brainlike.config.model import (
    MIN_INPUT_SIZE,
    AnyModelConfig,
    ModelConfig,
    vone_switch,
)
from brainlike.config.objective import ObjectiveConfig
from brainlike.config.observe import ObserveConfig
from brainlike.config.reader import (
    ConfigError,
    StrictSection,
    expand_user,
    read_mapping,
    shipped_configs_dir,
    shipped_path,
    validate,
)
from brainlike.config.rule import RuleConfig
from brainlike.config.train import FinetuneConfig, InitConfig, TrainConfig

_EMPTY = (
    "write an experiment (keys name, data, model, train, ...) or start from a shipped recipe "
    "(`brainlike configs` lists them)"
)


class ExperimentConfig(StrictSection):
    """A whole experiment: data, model, objective, training, analysis, one seed."""

    name: str = Field(default="experiment", min_length=1, max_length=120)
    description: str = Field(
        default="", max_length=300, description="one line on what the recipe trains"
    )
    expected_time: str = Field(
        default="",
        max_length=160,
        description="rough time of the whole recipe and where it was measured or estimated",
    )
    seed: int = Field(default=0, ge=0)
    data: DataConfig = Field(default_factory=DataConfig)
    model: AnyModelConfig = Field(default_factory=ModelConfig)
    objective: ObjectiveConfig = Field(default_factory=ObjectiveConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    analysis: AnalysisConfig = Field(default_factory=AnalysisConfig)
    rule: RuleConfig = Field(default_factory=RuleConfig)
    observe: ObserveConfig = Field(default_factory=ObserveConfig)
    init: InitConfig | None = None
    finetune: FinetuneConfig | None = None

    @model_validator(mode="before")
    @classmethod
    def _default_kind(cls, data: Any) -> Any:
        # Reset networks are the default architecture: `kind` may be left out for them.
        if (
            isinstance(data, dict)
            and isinstance(data.get("model"), dict)
            and "kind" not in data["model"]
        ):
            data = {**data, "model": {"kind": "reset", **data["model"]}}
        model = data.get("model") if isinstance(data, dict) else None
        if (
            isinstance(model, dict)
            and model.get("kind") in ("reset", "lenet")
            and vone_switch(model.get("vone")) is not None
        ):
            raise ValueError(
                f"model.vone: a VOneBlock front end is offered for model.kind grcnn, resnet and "
                f"alexnet; {model['kind']} networks keep their own input stage (their cortical "
                "sheet is defined on it)"
            )
        return data

    @model_validator(mode="after")
    def _combinations(self) -> ExperimentConfig:
        reset = isinstance(self.model, ModelConfig)
        sheetless = not reset and self.model.kind not in ("lenet", "alexnet")
        if sheetless and (self.objective.spatial.weight > 0 or self.analysis.sheet):
            raise ValueError(
                f"model.kind {self.model.kind} has no cortical sheet, so objective.spatial.weight "
                "and analysis.sheet cannot apply; set the weight to 0 and leave analysis.sheet empty"
            )
        smallest = MIN_INPUT_SIZE.get(self.model.kind)
        if smallest and self.data.input_size is not None and self.data.input_size < smallest:
            raise ValueError(
                f"model.kind {self.model.kind} takes images of at least {smallest} x {smallest} "
                f"px, got data.input_size {self.data.input_size}; set it to {smallest} or more"
            )
        recipe = [
            ("objective.cutmix.prob", self.objective.cutmix.prob > 0),
            ("objective.augmix.enabled", self.objective.augmix.enabled),
            ("objective.behavior.weight", self.objective.behavior.weight > 0),
        ]
        on = [name for name, used in recipe if used]
        if on and self.objective.task != "classification":
            raise ValueError(f"{', '.join(on)} need class labels (objective.task: classification)")
        if self.objective.cutmix.prob > 0 and self.objective.augmix.enabled:
            raise ValueError(
                "objective.cutmix and objective.augmix are separate recipes in the source; "
                "switch one off (cutmix.prob: 0 or augmix.enabled: false)"
            )
        if self.finetune is not None and self.init is not None:
            raise ValueError(
                "finetune stages and init (starting from a trained model) exclude each other; "
                "fine-tune from a checkpoint with finetune.checkpoint"
            )
        init = self.init
        if (
            init is not None
            and not reset
            and (init.add_subnetworks or init.add_levels or init.freeze_trained)
        ):
            raise ValueError(
                "init.add_subnetworks, init.add_levels and init.freeze_trained grow Reset "
                "networks (model.kind: reset); for another model give init.checkpoint alone"
            )
        if self.objective.reconstruction_weight > 0 and not (reset and self.model.autoencoder):
            raise ValueError(
                "objective.reconstruction_weight > 0 needs model.autoencoder: true "
                "(the reconstruction head); set one or set the weight to 0"
            )
        if self.objective.task == "codes" and self.data.dataset != "numbers":
            raise ValueError(
                f"objective.task 'codes' needs data.dataset 'numbers' (got {self.data.dataset!r}); "
                "use task: classification for class labels"
            )
        if self.data.dataset == "numbers" and self.objective.task != "codes":
            raise ValueError(
                "data.dataset 'numbers' provides number codes: set objective.task: codes"
            )
        if reset and self.objective.spatial.level >= len(self.model.levels):
            raise ValueError(
                f"objective.spatial.level is {self.objective.spatial.level} but the model has "
                f"{len(self.model.levels)} level(s); use 0..{len(self.model.levels) - 1}"
            )
        if self.analysis.ordered and self.analysis.target_sets:
            raise ValueError(
                "analysis.ordered (numbers) and analysis.target_sets (categories) exclude each other"
            )
        if reset and self.model.master == "resnet20" and self.model.master_channels is not None:
            raise ValueError("model.master_channels applies to master: small only")
        self._path_integration()
        self.rule.check_epochs(self.train.epochs)
        return self

    def _path_integration(self) -> None:
        """model.kind pathint, data.dataset trajectories and objective.task path_integration
        go together (spec: mouse-and-entorhinal.md §2)."""
        parts = {
            "model.kind pathint": self.model.kind == "pathint",
            "data.dataset trajectories": self.data.dataset == "trajectories",
            "objective.task path_integration": self.objective.task == "path_integration",
        }
        if any(parts.values()) and not all(parts.values()):
            have = [k for k, on in parts.items() if on]
            lack = [k for k, on in parts.items() if not on]
            raise ValueError(
                f"{' and '.join(have)} need(s) {' and '.join(lack)}: the path-integration task "
                "trains a pathint model on trajectories; set all three"
            )

    def to_yaml(self) -> str:
        # letters as written (a name or description in any script), not \u escapes; UTF-8 on disk
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False, allow_unicode=True)


def config_from_dict(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a dict into an :class:`ExperimentConfig` (raises :class:`ConfigError`)."""
    return validate(ExperimentConfig, data, source, noun="config")


def resolve_config_path(path: str | Path) -> Path:
    """A path, or the name of a shipped recipe (``reset8-mnist`` or ``reset8-mnist.yaml``)."""
    return shipped_path(path, shipped_configs_dir())


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read a YAML experiment file (``yaml.safe_load``) and validate it.

    ``overrides`` maps dotted keys (``"train.epochs"``) to values applied before validation.
    """
    path = expand_user(path)
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; list the shipped recipes with `brainlike configs`"
        )
    # an empty file (or only comments) would silently train the defaults: refused
    data = read_mapping(path, empty=_EMPTY)
    for key, value in (overrides or {}).items():
        if value is None:
            continue
        node = data
        parts = key.split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
            if not isinstance(node, dict):
                raise ConfigError(f"{path}: cannot set {key}: {p} is not a mapping")
        node[parts[-1]] = value
    return config_from_dict(data, str(path))
