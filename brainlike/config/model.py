"""The architecture of an experiment (``model:``): one schema per model kind.

``kind`` picks the family: Reset networks of parallel subnetworks (the default, spec:
topography.md §1), the LeNet and AlexNet locality-prior networks (spec: topography.md §3),
CIFAR ResNets, gated recurrent CNNs (spec: recurrent.md §4) and ConvRNNs unrolled in
biological time (spec: recurrent.md §1), some with a VOneBlock front end (spec:
recurrent.md §5), StreamNets of mouse visual cortex and their 64 px comparison models (spec:
mouse-and-entorhinal.md §1). :data:`MODEL_KINDS` maps each kind to its schema; :data:`AnyModelConfig`
is the union the experiment validates against.
"""

from __future__ import annotations

import math
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, Field, field_validator, model_validator

from brainlike.config.reader import StrictSection

SUBNETS = ("small", "resnet20")


def _is_square(n: int) -> bool:
    return n >= 1 and math.isqrt(n) ** 2 == n


def _nearest_squares(v: int) -> str:
    """The square numbers around ``v``, for error messages ("9 or 16")."""
    return " or ".join(map(str, sorted({math.isqrt(v) ** 2, (math.isqrt(v) + 1) ** 2})))


class LevelConfig(StrictSection):
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


class ModelConfig(StrictSection):
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


class LocalityPriorConfig(StrictSection):
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


class VOneConfig(StrictSection):
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


def vone_switch(v: Any) -> Any:
    """``vone: true`` -> the VOneNet defaults (``{}``); ``vone: false`` -> none; else ``v``."""
    if v is True:
        return {}
    if v is False:
        return None
    return v


class _FrontEnd(StrictSection):
    vone: VOneConfig | None = Field(
        default=None, description="true (VOneNet values) or a mapping of VOneBlock settings"
    )

    @field_validator("vone", mode="before")
    @classmethod
    def _switch(cls, v: Any) -> Any:
        return vone_switch(v)


class LeNetModelConfig(StrictSection):
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


#: the depths of :class:`brainlike.models.imagenet_resnet.ImageNetResNet` (tested to agree;
#: kept here so reading a config does not import torchvision)
IMAGENET_RESNET_DEPTHS = (18, 34, 50, 101, 152)


class ResNetModelConfig(_FrontEnd):
    """A ResNet: the CIFAR family (``layout: cifar``, depth 6n + 2: 20, 32, 44, 56, 110; the
    ResNet control) or the ImageNet one (``layout: imagenet``, depth 18, 34, 50, 101, 152;
    torchvision's layout)."""

    kind: Literal["resnet"]
    layout: Literal["cifar", "imagenet"] = "cifar"
    depth: int = Field(default=20, ge=8)

    @model_validator(mode="after")
    def _depth_of_layout(self) -> ResNetModelConfig:
        if self.layout == "cifar" and (self.depth - 2) % 6:
            raise ValueError(
                f"a CIFAR ResNet has depth 6n + 2 (20, 32, 44, 56, 110), got {self.depth}; "
                "for ResNet-18/50 set layout: imagenet"
            )
        if self.layout == "imagenet" and self.depth not in IMAGENET_RESNET_DEPTHS:
            raise ValueError(
                f"an ImageNet ResNet has depth {', '.join(map(str, IMAGENET_RESNET_DEPTHS))}, "
                f"got {self.depth}"
            )
        return self


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


class DecoderConfig(StrictSection):
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


class ConvRNNModelConfig(StrictSection):
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


class StreamNetModelConfig(StrictSection):
    """A StreamNet of mouse visual cortex (spec: mouse-and-entorhinal.md §1): VISp, parallel
    intermediate streams and one or two output areas (``variant: single | dual | six``)."""

    kind: Literal["streamnet"]
    variant: Literal["single", "dual", "six"] = "dual"
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0, description="before the readout")


class AlexNetBNModelConfig(StrictSection):
    """AlexNet with batch norm after every convolution, for 64 px images (the mouse chapter's
    comparison model; at least 63 px). ``hidden`` narrows the two 4096-unit dense layers."""

    kind: Literal["alexnet_bn"]
    hidden: int = Field(default=4096, ge=1, description="units of the two hidden dense layers")
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)


class VGG16ModelConfig(StrictSection):
    """VGG16 for 64 px images (13 convolutions, dense layers on a 2 x 2 grid; at least 32 px)."""

    kind: Literal["vgg16"]
    batch_norm: bool = Field(default=True, description="BN after every convolution")
    hidden: int = Field(default=4096, ge=1, description="units of the two hidden dense layers")
    dropout: float = Field(default=0.5, ge=0.0, lt=1.0)


class PathIntModelConfig(StrictSection):
    """A path-integrating RNN (spec: mouse-and-entorhinal.md §2, "Networks"): a recurrent
    ``core`` of ``units``, a ReLU "G" layer of ``g_units``, a linear place-cell decoder."""

    kind: Literal["pathint"]
    core: Literal["rnn", "ugrnn", "gru", "lstm"] = "ugrnn"
    activation: Literal["relu", "tanh", "sigmoid", "linear"] | None = Field(
        default=None, description="core rnn only (default relu)"
    )
    units: int = Field(default=4096, ge=1, description="recurrent units")
    g_units: int = Field(default=4096, ge=1, description="units of the ReLU G layer")

    @model_validator(mode="after")
    def _activation(self) -> PathIntModelConfig:
        if self.activation is not None and self.core != "rnn":
            raise ValueError(
                f"model.activation applies to core: rnn; core {self.core} has its own gates, "
                "remove model.activation"
            )
        if self.activation is None and self.core == "rnn":
            self.activation = "relu"
        return self


#: the smallest image side of the kinds that have one (tested to agree with the models'
#: ``min_input_size``; kept here so that reading a config does not import torch)
MIN_INPUT_SIZE = {"streamnet": 31, "alexnet_bn": 63, "vgg16": 32}


MODEL_KINDS: dict[str, type[BaseModel]] = {
    "reset": ModelConfig,
    "lenet": LeNetModelConfig,
    "alexnet": AlexNetModelConfig,
    "grcnn": GRCNNModelConfig,
    "resnet": ResNetModelConfig,
    "convrnn": ConvRNNModelConfig,
    "streamnet": StreamNetModelConfig,
    "alexnet_bn": AlexNetBNModelConfig,
    "vgg16": VGG16ModelConfig,
    "pathint": PathIntModelConfig,
}
AnyModelConfig = Annotated[
    Union[  # noqa: UP007
        ModelConfig,
        LeNetModelConfig,
        AlexNetModelConfig,
        GRCNNModelConfig,
        ResNetModelConfig,
        ConvRNNModelConfig,
        StreamNetModelConfig,
        AlexNetBNModelConfig,
        VGG16ModelConfig,
        PathIntModelConfig,
    ],
    Field(discriminator="kind"),
]
