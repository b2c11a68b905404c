"""Experiment configs: YAML files validated by pydantic, with errors that name the key.

A config is the four choices of the goal-driven recipe (data stream, architecture,
objective, training) plus the analysis settings. ``load_config(path)`` returns an
:class:`ExperimentConfig` or raises :class:`ConfigError` listing every problem with the
offending key, what came and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

DATASETS = ("digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "numbers", "imagefolder")
SUBNETS = ("small", "resnet20")


class ConfigError(ValueError):
    """A config file or dict that cannot describe an experiment; the message lists why."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


def _is_square(n: int) -> bool:
    return n >= 1 and math.isqrt(n) ** 2 == n


class DataConfig(_Strict):
    """The data stream."""

    dataset: Literal[
        "digits", "mnist", "fashion_mnist", "cifar10", "cifar100", "numbers", "imagefolder"
    ] = "digits"
    data_dir: str | None = None
    download: bool = False
    input_size: int | None = Field(default=None, ge=4, le=512)
    channels: Literal[1, 3] | None = None
    augment: bool = False
    train_size: int | None = Field(default=None, ge=10)
    test_size: int | None = Field(default=None, ge=10)
    normalize: bool = True

    @model_validator(mode="after")
    def _needs_dir(self) -> DataConfig:
        if (
            self.dataset in ("mnist", "fashion_mnist", "cifar10", "cifar100")
            and self.download
            and not self.data_dir
        ):
            raise ValueError(
                f"data.download is true but data.data_dir is empty: say where to put {self.dataset} "
                "(e.g. data_dir: ~/data, or --data-dir on the command line)"
            )
        if self.dataset == "imagefolder" and not self.data_dir:
            raise ValueError(
                "data.dataset imagefolder needs data.data_dir: the folder holding train/<class>/ "
                "and val/<class>/ (e.g. an ImageNet copy)"
            )
        return self


class LevelConfig(_Strict):
    """One level of parallel subnetworks (spec: topography.md §1)."""

    subnets: int = Field(
        ge=1, le=1024, description="number of parallel subnetworks (a square: n x n)"
    )
    outputs: int = Field(
        ge=1, le=65536, description="outputs per subnetwork (a square: one s x s tile)"
    )
    subnet: Literal["small", "resnet20"] = "small"
    channels: list[int] | None = Field(
        default=None, description="conv channels of 'small' subnetworks"
    )
    depth: int | None = Field(
        default=None, description="depth of 'resnet20'-type subnetworks (6n+2)"
    )

    @field_validator("subnets")
    @classmethod
    def _square_subnets(cls, v: int) -> int:
        if not _is_square(v):
            raise ValueError(
                f"{v} subnetworks cannot be tiled into a square n x n grid; use a square number "
                f"such as {_nearest_squares(v)} (1, 4, 16, 64 give Reset(1/2/4/8))"
            )
        return v

    @field_validator("outputs")
    @classmethod
    def _square_outputs(cls, v: int) -> int:
        if not _is_square(v):
            raise ValueError(
                f"{v} outputs per subnetwork cannot form a square s x s tile; use a square number "
                f"such as {_nearest_squares(v)}"
            )
        return v

    @model_validator(mode="after")
    def _kind_options(self) -> LevelConfig:
        if self.subnet == "resnet20" and self.channels is not None:
            raise ValueError(
                "'channels' applies to subnet: small only; remove it or set subnet: small"
            )
        if self.subnet == "small" and self.depth is not None:
            raise ValueError(
                "'depth' applies to subnet: resnet20 only; remove it or set subnet: resnet20"
            )
        if self.depth is not None and (self.depth - 2) % 6:
            raise ValueError(f"depth must be 6n+2 (20, 32, 44, 56), got {self.depth}")
        if self.channels is not None and (not self.channels or min(self.channels) < 1):
            raise ValueError(
                "channels must be a non-empty list of positive integers, e.g. [16, 32]"
            )
        return self

    def subnet_kwargs(self) -> dict[str, Any]:
        if self.subnet == "small" and self.channels is not None:
            return {"channels": list(self.channels)}
        if self.subnet == "resnet20" and self.depth is not None:
            return {"depth": self.depth}
        return {}


class ModelConfig(_Strict):
    """A Reset network (spec: topography.md §1)."""

    kind: Literal["reset"] = "reset"
    levels: list[LevelConfig] = Field(default_factory=lambda: [LevelConfig(subnets=16, outputs=64)])
    master: Literal["small", "resnet20"] = "resnet20"
    master_channels: list[int] | None = None
    dropout: float = Field(default=0.2, ge=0.0, lt=1.0)
    autoencoder: bool = False
    execution: Literal["auto", "loop", "fused", "loop_cl", "fused_cl"] = "auto"

    @field_validator("levels")
    @classmethod
    def _nonempty(cls, v: list[LevelConfig]) -> list[LevelConfig]:
        if not v:
            raise ValueError("a Reset network needs at least one level")
        return v


class LocalityPriorConfig(_Strict):
    """The locality prior of a fully connected layer (spec: topography.md §3)."""

    enabled: bool = True
    decay: Literal["linear", "sqrt", "square", "gaussian", "exponential"] = "linear"
    metric: str = Field(default="euclidean", description="any scipy.spatial.distance.cdist metric")
    scale: float = Field(
        default=1.0, gt=0.0, description="sigma (gaussian) or lambda (exponential)"
    )
    normalize: Literal["none", "rows"] = "none"
    bias_modulation: bool = False

    @field_validator("metric")
    @classmethod
    def _scipy_metric(cls, v: str) -> str:
        allowed = (
            "braycurtis canberra chebyshev cityblock correlation cosine euclidean jensenshannon "
            "minkowski seuclidean sqeuclidean"
        ).split()
        if v not in allowed:
            raise ValueError(f"unknown distance metric {v!r}; allowed: {', '.join(allowed)}")
        return v


class VOneConfig(_Strict):
    """A VOneBlock front end (spec: recurrent.md §5) put in front of the model.

    ``model.vone: true`` takes the VOneNet values; a mapping changes some. The backend then
    sees ``bottleneck`` channels at ``input_size / stride`` pixels. The block reads the
    experiment's normalised images (VOneNet normalises with mean = std = 0.5; the digits and
    torchvision loaders standardise, which keeps the same zero-centred, unit-scale range).
    """

    simple_channels: int = Field(default=256, ge=0)
    complex_channels: int = Field(default=256, ge=0)
    bottleneck: int = Field(default=64, ge=1, description="channels handed to the backend")
    stride: int = Field(default=4, ge=1)
    kernel_size: int = Field(default=25, ge=1)
    visual_degrees: float = Field(default=8.0, gt=0, description="image size in degrees")
    noise: bool = Field(default=True, description="stochastic neuronal noise switched on")
    seed: int = Field(default=0, ge=0, description="seed of the V1 parameter sample")

    @model_validator(mode="after")
    def _some_cells(self) -> VOneConfig:
        if self.simple_channels + self.complex_channels == 0:
            raise ValueError("vone needs simple_channels + complex_channels > 0")
        if self.kernel_size % 2 == 0:
            raise ValueError(
                f"vone.kernel_size must be odd so the filters are centred, got {self.kernel_size}"
            )
        return self


def _vone_switch(v: Any) -> Any:
    # `vone: true` -> the VOneNet defaults; `vone: false` -> none
    if v is True:
        return {}
    if v is False:
        return None
    return v


class _FrontEnd(_Strict):
    vone: VOneConfig | None = Field(
        default=None, description="true (VOneNet values) or a mapping of VOneBlock settings"
    )

    @field_validator("vone", mode="before")
    @classmethod
    def _switch(cls, v: Any) -> Any:
        return _vone_switch(v)


class LeNetModelConfig(_Strict):
    """The LeNet-style MNIST network with a locality-prior (or control) layer on a 7x7 grid."""

    kind: Literal["lenet"]
    locality: LocalityPriorConfig = Field(default_factory=LocalityPriorConfig)


class AlexNetModelConfig(_FrontEnd):
    """The AlexNet variant with a 4096 -> 4096 locality-prior (or control) layer on a 64x64 grid.

    With ``locality.enabled: false`` it is the plain AlexNet control of the GRCNN experiments;
    ``grid`` shrinks the fully connected layers (grid**2 units) for CPU-size runs.
    """

    kind: Literal["alexnet"]
    locality: LocalityPriorConfig = Field(default_factory=LocalityPriorConfig)
    grid: int = Field(default=64, ge=2, le=128, description="side of the FC layers' unit grid")


class ResNetModelConfig(_FrontEnd):
    """A CIFAR-style ResNet (depth 6n + 2: 20, 32, 44, 56, 110): the ResNet control."""

    kind: Literal["resnet"]
    depth: int = Field(default=20, ge=8)

    @field_validator("depth")
    @classmethod
    def _six_n_plus_two(cls, v: int) -> int:
        if (v - 2) % 6:
            raise ValueError("a CIFAR ResNet has depth 6n + 2 (20, 32, 44, 56, 110)")
        return v


class GRCNNModelConfig(_FrontEnd):
    """A gated recurrent CNN (spec: recurrent.md §4); no cortical sheet, so no topography."""

    kind: Literal["grcnn"]
    depth: Literal[55, 109] = 55
    width: float = Field(default=1.0, gt=0, le=4, description="channel multiplier")
    iterations: list[int] | None = Field(
        default=None, description="GRCL iterations of the 4 stages (default: the depth's)"
    )
    gated: bool = Field(default=True, description="false: the unrolled residual control")
    groups: int = Field(default=32, ge=1)

    @field_validator("iterations")
    @classmethod
    def _four_stages(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (len(v) != 4 or any(t < 1 for t in v)):
            raise ValueError(f"iterations needs 4 positive counts, one per stage; got {v}")
        return v


class DecoderConfig(_Strict):
    """How a ConvRNN's per-step logits become one answer (spec: recurrent.md §1, Decoders)."""

    kind: Literal["default", "last", "threshold", "max_confidence"] = "default"
    threshold: float = Field(default=0.9, gt=0.0, le=1.0)
    beta: float = Field(default=1.0, gt=0.0)
    trainable_beta: bool = False

    @model_validator(mode="after")
    def _beta(self) -> DecoderConfig:
        if self.trainable_beta and self.kind != "max_confidence":
            raise ValueError("decoder.trainable_beta applies to kind: max_confidence")
        return self


def check_edge_pairs(edges: list[list[str]]) -> list[list[str]]:
    """Feedback edges must be ``[source, target]`` pairs (config and search spaces alike)."""
    bad = [e for e in edges if len(e) != 2]
    if bad:
        raise ValueError(f"feedback edges are [source, target] pairs, got {bad}")
    return edges


class ConvRNNModelConfig(_Strict):
    """A convolutional RNN unrolled in biological time (spec: recurrent.md §1).

    ``base`` picks the graph (6- or 11-layer BaseNet, the RGC-median search result with its
    exact cells, ``rgc-approx``: the older approximation of it with 3x3 ``rgc_as_run`` cells, or
    the 6-layer net with the search's shallow LSTM cells); ``cells`` implants one cell kind in the
    standard cell layers (``ugrnn``) or names them per layer (``{conv4: {kind: lstm,
    layer_norm: true}, conv5: gru}``); ``feedback`` adds long-range edges ``[source, target]``
    (bilinearly resized, concatenated to the target's input; on the rgc bases they enter the
    way the model's own feedback does and replace it). Without cells and feedback the
    network is the feedforward BaseNet unrolled the same way.
    """

    kind: Literal["convrnn"]
    base: Literal["base6", "base11", "rgc-median", "rgc-approx", "shallow-lstm"] = "base6"
    width: float = Field(default=1.0, gt=0, le=4, description="channel multiplier")
    cells: str | dict[str, Any] | None = None
    feedback: list[list[str]] = Field(default_factory=list)
    time_steps: int | None = Field(default=None, ge=1, description="default: 16 (6-layer), 17")
    t_on: int | None = Field(default=None, ge=1, description="image shown for these steps")
    blank: float = Field(default=0.0, description="blank value in normalised space (0: mean)")
    decoder: DecoderConfig = Field(default_factory=DecoderConfig)

    @field_validator("feedback")
    @classmethod
    def _pairs(cls, v: list[list[str]]) -> list[list[str]]:
        return check_edge_pairs(v)

    @field_validator("decoder", mode="before")
    @classmethod
    def _decoder_name(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v

    @model_validator(mode="after")
    def _schedule(self) -> ConvRNNModelConfig:
        if self.t_on is not None and self.time_steps is not None and self.t_on > self.time_steps:
            raise ValueError(
                f"t_on ({self.t_on}) is longer than time_steps ({self.time_steps}); the image "
                "can be shown at most for the whole unroll"
            )
        if self.base == "shallow-lstm" and self.cells is not None:
            raise ValueError("base shallow-lstm brings its own cells; leave model.cells empty")
        return self


MODEL_KINDS: dict[str, type[BaseModel]] = {
    "reset": ModelConfig,
    "lenet": LeNetModelConfig,
    "alexnet": AlexNetModelConfig,
    "grcnn": GRCNNModelConfig,
    "resnet": ResNetModelConfig,
    "convrnn": ConvRNNModelConfig,
}
AnyModelConfig = Annotated[
    Union[  # noqa: UP007
        ModelConfig,
        LeNetModelConfig,
        AlexNetModelConfig,
        GRCNNModelConfig,
        ResNetModelConfig,
        ConvRNNModelConfig,
    ],
    Field(discriminator="kind"),
]


class SpatialLossConfig(_Strict):
    """spec: topography.md §4, spatial correlation loss (TDANN)."""

    weight: float = Field(default=0.0, ge=0.0)
    neighbourhood: int = Field(default=500, ge=4, description="units sampled per step")
    level: int = Field(default=0, ge=0, description="Reset networks: the level whose grid is used")
    sheet: str | None = Field(
        default=None, description="sheet name (default: the level's grid / first sheet)"
    )


class WiringCostConfig(_Strict):
    """Wiring costs on locality-prior layers (spec: topography.md §3); weight decay is train.weight_decay."""

    l1: float = Field(default=0.0, ge=0.0, description="weight of sum |W|")
    distance: float = Field(default=0.0, ge=0.0, description="weight of sum |W_ij| d_ij")


class CutMixConfig(_Strict):
    """CutMix (spec: recurrent.md §5): paste a box of a shuffled partner into each image."""

    prob: float = Field(default=0.0, ge=0.0, le=1.0, description="share of batches mixed; 0: off")
    alpha: float = Field(default=1.0, gt=0.0, description="lambda ~ Beta(alpha, alpha)")


class AugMixConfig(_Strict):
    """AugMix with the Jensen-Shannon consistency loss (spec: recurrent.md §5)."""

    enabled: bool = False
    severity: int = Field(default=3, ge=1, le=10)
    width: int = Field(default=3, ge=1, description="augmentation chains mixed")
    depth: int = Field(default=-1, ge=-1, description="ops per chain; -1: random 1-3")
    alpha: float = Field(default=1.0, gt=0.0)
    jsd_weight: float = Field(default=12.0, ge=0.0)

    @field_validator("depth")
    @classmethod
    def _depth(cls, v: int) -> int:
        if v == 0:
            raise ValueError("augmix.depth is -1 (random 1-3 ops) or a positive number of ops")
        return v


class BehaviorRegConfig(_Strict):
    """The superclass behavioural regulariser (spec: recurrent.md §5).

    ``grouping`` is ``cifar100`` (the 20 coarse classes), a ``.npy`` file with the
    (n_classes, n_superclasses) 0/1 matrix, or a mapping superclass -> class indices.
    Targets are the one-hot true superclass unless ``targets`` (a ``.npy`` of
    (n_classes, n_superclasses) distributions) or ``confusion`` (a ``.npy`` superclass
    confusion matrix, e.g. human responses) is given.
    """

    weight: float = Field(default=0.0, ge=0.0)
    grouping: str | dict[str, list[int]] | None = None
    targets: str | None = None
    confusion: str | None = None
    divergence: Literal["kl", "ce"] = "kl"

    @model_validator(mode="after")
    def _needs_grouping(self) -> BehaviorRegConfig:
        if self.weight > 0 and self.grouping is None:
            raise ValueError(
                "objective.behavior.weight > 0 needs a grouping: 'cifar100', a .npy file or a "
                "mapping superclass -> class indices"
            )
        if self.targets is not None and self.confusion is not None:
            raise ValueError("give objective.behavior.targets or .confusion, not both")
        return self


class ObjectiveConfig(_Strict):
    """The objective."""

    task: Literal["classification", "codes"] = "classification"
    class_weighted: bool = False
    label_smoothing: float = Field(default=0.0, ge=0.0, lt=1.0)
    reconstruction_weight: float = Field(default=0.0, ge=0.0)
    reconstruction_loss: Literal["bce", "mse"] = "bce"
    spatial: SpatialLossConfig = Field(default_factory=SpatialLossConfig)
    wiring: WiringCostConfig = Field(default_factory=WiringCostConfig)
    cutmix: CutMixConfig = Field(default_factory=CutMixConfig)
    augmix: AugMixConfig = Field(default_factory=AugMixConfig)
    behavior: BehaviorRegConfig = Field(default_factory=BehaviorRegConfig)


class FinetuneStageConfig(_Strict):
    """One fine-tuning stage: train only ``block`` on blended images (spec: recurrent.md §5)."""

    block: str = Field(min_length=1, description="dotted module name, e.g. stage1")
    blends: list[Literal["texture", "noise"]] = Field(default_factory=list)
    epochs: int = Field(default=1, ge=1)
    lr: float | None = Field(default=None, gt=0.0, description="default: train.lr")


class FinetuneConfig(_Strict):
    """Staged fine-tuning after ``train.epochs``: each stage freezes all but one block.

    Images are blended ``(1 - a) x + a T`` with procedural textures (``a ~ U(0.005, 0.5)``)
    or their phase-randomised noise (``a ~ U(0.05, 0.5)``); with both, each image draws one.
    """

    stages: list[FinetuneStageConfig] = Field(min_length=1)
    pool: int = Field(default=512, ge=1, description="textures generated for blending")
    checkpoint: str | None = Field(
        default=None,
        description="start from this trained model (RUN/checkpoints/last.pt, same architecture); "
        "with train.epochs: 0 only the stages run",
    )


class TrainConfig(_Strict):
    """The learning rule and schedule (backprop with Adam or SGD)."""

    @model_validator(mode="after")
    def _milestones(self) -> TrainConfig:
        if self.schedule == "step" and not self.milestones:
            raise ValueError(
                "train.schedule step needs train.milestones (epochs), e.g. [30, 60, 90]"
            )
        if self.milestones and self.schedule != "step":
            raise ValueError("train.milestones apply to schedule: step; set schedule: step")
        if sorted(self.milestones) != self.milestones or any(m < 1 for m in self.milestones):
            raise ValueError(
                f"train.milestones must be increasing epochs >= 1, got {self.milestones}"
            )
        return self

    optimizer: Literal["adam", "sgd"] = "adam"
    lr: float = Field(default=1e-3, gt=0.0)
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0)
    weight_decay: float = Field(default=0.0, ge=0.0)
    schedule: Literal["constant", "cosine", "step"] = Field(
        default="constant",
        description="learning-rate schedule: cosine decays to 0 over all steps; step multiplies "
        "by gamma at each milestone epoch",
    )
    milestones: list[int] = Field(
        default_factory=list, description="epochs where a step schedule multiplies lr by gamma"
    )
    gamma: float = Field(default=0.1, gt=0.0, le=1.0)
    batch_size: int = Field(default=100, ge=1)
    epochs: int = Field(default=10, ge=0)
    snapshots_per_epoch: int = Field(default=2, ge=0, le=1000)
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    num_workers: int = Field(default=0, ge=0)
    threads: int | None = Field(default=None, ge=1)


class AnalysisConfig(_Strict):
    """Topography analysis settings (spec: topography.md §2)."""

    threshold: float = Field(default=2.0, gt=0.0)
    dprime: Literal["class", "trial"] = "class"
    null_model: Literal["pixel", "tile"] = "pixel"
    n_shuffles: int = Field(default=100, ge=1)
    ordered: bool = False
    target_sets: dict[str, list[int]] | None = None
    sheet: str | None = Field(
        default=None, description="sheet to snapshot (default: the model's first)"
    )


class InitConfig(_Strict):
    """Start from a trained Reset network and grow it (the seed's "recruit new networks").

    The model is rebuilt from the checkpoint's own architecture (``model`` is then only used
    for its ``execution``), its weights are loaded, new subnetworks / levels are added, and
    the master's output layer is replaced when the new task has another number of outputs.
    """

    checkpoint: str = Field(description="a brainlike checkpoint (RUN/checkpoints/last.pt)")
    add_subnetworks: dict[int, int] = Field(
        default_factory=dict, description="level -> extra subnetworks"
    )
    add_levels: list[LevelConfig] = Field(
        default_factory=list, description="new levels before the master"
    )
    freeze_trained: bool = Field(
        default=False, description="train only what was added (and a new head)"
    )

    @field_validator("add_subnetworks")
    @classmethod
    def _positive(cls, v: dict[int, int]) -> dict[int, int]:
        bad = {k: n for k, n in v.items() if k < 0 or n < 1}
        if bad:
            raise ValueError(f"levels must be >= 0 and extra subnetworks >= 1; got {bad}")
        return v


class ExperimentConfig(_Strict):
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
            and _vone_switch(model.get("vone")) is not None
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
        sheetless = isinstance(
            self.model, GRCNNModelConfig | ResNetModelConfig | ConvRNNModelConfig
        )
        if sheetless and (self.objective.spatial.weight > 0 or self.analysis.sheet):
            raise ValueError(
                f"model.kind {self.model.kind} has no cortical sheet, so objective.spatial.weight "
                "and analysis.sheet cannot apply; set the weight to 0 and leave analysis.sheet empty"
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
                "finetune stages and init (growing a Reset network) exclude each other"
            )
        if self.init is not None and not reset:
            raise ValueError(
                "init (growing a trained model) applies to Reset networks (model.kind: reset)"
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
        return self

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.model_dump(mode="json"), sort_keys=False)


def _format_errors(err: ValidationError, source: str) -> str:
    lines = [f"{source}: {err.error_count()} problem(s) in the config"]
    for e in err.errors():
        raw = tuple(e["loc"])
        if len(raw) > 1 and raw[0] == "model" and raw[1] in MODEL_KINDS:
            raw = (raw[0], *raw[2:])  # drop pydantic's union tag from the location
        loc = ".".join(str(p) for p in raw) or "(top level)"
        if e["type"] == "extra_forbidden":
            parent = _model_at(ExperimentConfig, tuple(e["loc"][:-1]))
            allowed = ", ".join(parent.model_fields) if parent else "?"
            lines.append(f"  - {loc}: unknown key; allowed keys here: {allowed}")
        elif e["type"] == "literal_error":
            lines.append(
                f"  - {loc}: got {e.get('input')!r}; {e['msg'].replace('Input should be', 'allowed values are')}"
            )
        else:
            msg = e["msg"].removeprefix("Value error, ")
            lines.append(
                f"  - {loc}: {msg} (got {e.get('input')!r})"
                if not isinstance(e.get("input"), dict)
                else f"  - {loc}: {msg}"
            )
    return "\n".join(lines)


def _model_at(model: type[BaseModel], loc: tuple) -> type[BaseModel] | None:
    """Walk a pydantic model class along an error location (skipping list indices)."""
    for part in loc:
        if isinstance(part, int):
            continue
        if part in MODEL_KINDS and model is not ExperimentConfig:
            model = MODEL_KINDS[part]
            continue
        field = model.model_fields.get(str(part))
        if field is None:
            return None
        ann = field.annotation
        inner = getattr(ann, "__args__", None)
        candidates = [ann, *(inner or ())]
        nxt = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
        if nxt is None:
            return None
        model = nxt
    return model


def config_from_dict(data: dict[str, Any], source: str = "config") -> ExperimentConfig:
    """Validate a dict into an :class:`ExperimentConfig` (raises :class:`ConfigError`)."""
    if not isinstance(data, dict):
        raise ConfigError(
            f"{source}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
    try:
        return ExperimentConfig.model_validate(data)
    except ValidationError as err:
        raise ConfigError(_format_errors(err, source)) from None


def shipped_configs_dir() -> Path:
    """The folder of the recipes shipped with the package (``configs/`` in the repository)."""
    return Path(__file__).parent / "configs"


def resolve_config_path(path: str | Path) -> Path:
    """A path, or the name of a shipped recipe (``reset8-mnist`` or ``reset8-mnist.yaml``)."""
    p = Path(path).expanduser()
    if p.exists():
        return p
    name = p.name if p.name.endswith(".yaml") else f"{p.name}.yaml"
    shipped = shipped_configs_dir() / name
    return shipped if shipped.exists() else p


def _nearest_squares(v: int) -> str:
    """The square numbers around ``v``, for error messages ("9 or 16")."""
    return " or ".join(map(str, sorted({math.isqrt(v) ** 2, (math.isqrt(v) + 1) ** 2})))


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> ExperimentConfig:
    """Read a YAML experiment file (``yaml.safe_load``) and validate it.

    ``overrides`` maps dotted keys (``"train.epochs"``) to values applied before validation.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise ConfigError(
            f"config file {path} does not exist; list the shipped recipes with `brainlike configs`"
        )
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({err})") from None
    if data is None:  # an empty file (or only comments) would silently train the defaults
        raise ConfigError(
            f"{path} is empty; write an experiment (keys name, data, model, train, ...) or start "
            "from a shipped recipe (`brainlike configs` lists them)"
        )
    if not isinstance(data, dict):
        raise ConfigError(
            f"{path}: the top level must be a mapping of keys, got {type(data).__name__}"
        )
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
