"""Experiment configs: YAML files validated by pydantic, with errors that name the key.

A config is the four choices of the goal-driven recipe (data stream, architecture,
objective, training) plus the analysis settings. ``load_config(path)`` returns an
:class:`ExperimentConfig` or raises :class:`ConfigError` listing every problem with the
offending key, what came and what is allowed.

- :mod:`~brainlike.config.reader`: finding, reading and validating any YAML document
  (configs, suites, searches) and the one formatter of their errors;
- :mod:`~brainlike.config.data`, :mod:`~brainlike.config.model`,
  :mod:`~brainlike.config.objective`, :mod:`~brainlike.config.train`,
  :mod:`~brainlike.config.analysis`: the sections of an experiment;
- :mod:`~brainlike.config.experiment`: the whole experiment, :func:`load_config`;
- :mod:`~brainlike.config.suite`, :mod:`~brainlike.config.search`: the files of experiment
  suites (``brainlike experiment``) and architecture searches (``brainlike search``).
"""

from brainlike.config.analysis import AnalysisConfig
from brainlike.config.data import DATASETS, DataConfig
from brainlike.config.experiment import (
    ExperimentConfig,
    config_from_dict,
    load_config,
    resolve_config_path,
)
from brainlike.config.model import (
    MODEL_KINDS,
    SUBNETS,
    AlexNetModelConfig,
    AnyModelConfig,
    ConvRNNModelConfig,
    DecoderConfig,
    GRCNNModelConfig,
    LeNetModelConfig,
    LevelConfig,
    LocalityPriorConfig,
    ModelConfig,
    ResNetModelConfig,
    VOneConfig,
    check_edge_pairs,
)
from brainlike.config.objective import (
    AugMixConfig,
    BehaviorRegConfig,
    CutMixConfig,
    ObjectiveConfig,
    SpatialLossConfig,
    WiringCostConfig,
)
from brainlike.config.observe import ObserveConfig, RecordingConfig
from brainlike.config.reader import ConfigError, shipped_configs_dir
from brainlike.config.rule import RuleConfig
from brainlike.config.search import SearchConfig, SearchConfigError, load_search
from brainlike.config.suite import SuiteConfig, load_suite
from brainlike.config.train import FinetuneConfig, FinetuneStageConfig, InitConfig, TrainConfig

__all__ = [
    "DATASETS",
    "MODEL_KINDS",
    "SUBNETS",
    "AlexNetModelConfig",
    "AnalysisConfig",
    "AnyModelConfig",
    "AugMixConfig",
    "BehaviorRegConfig",
    "ConfigError",
    "ConvRNNModelConfig",
    "CutMixConfig",
    "DataConfig",
    "DecoderConfig",
    "ExperimentConfig",
    "FinetuneConfig",
    "FinetuneStageConfig",
    "GRCNNModelConfig",
    "InitConfig",
    "LeNetModelConfig",
    "LevelConfig",
    "LocalityPriorConfig",
    "ModelConfig",
    "ObjectiveConfig",
    "ObserveConfig",
    "RecordingConfig",
    "ResNetModelConfig",
    "RuleConfig",
    "SearchConfig",
    "SearchConfigError",
    "SpatialLossConfig",
    "SuiteConfig",
    "TrainConfig",
    "VOneConfig",
    "WiringCostConfig",
    "check_edge_pairs",
    "config_from_dict",
    "load_config",
    "load_search",
    "load_suite",
    "resolve_config_path",
    "shipped_configs_dir",
]
