"""Registered models: the Reset(n) family of the source and the ResNet-20 baseline."""

from __future__ import annotations

from torch import Tensor, nn
from torch.nn import functional as F

from brainlike.models.reset import LevelSpec, ResetNetwork, reset_n
from brainlike.registry import register_model


class BasicBlock(nn.Module):
    """CIFAR ResNet basic block with the parameter-free option-A shortcut (spec: topography.md §1)."""

    def __init__(self, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.stride, self.pad = stride, planes - in_planes

    def forward(self, x: Tensor) -> Tensor:
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if self.stride != 1 or self.pad:
            # Option A: subsample and zero-pad the channels, no parameters.
            x = F.pad(
                x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, self.pad // 2, self.pad // 2)
            )
        return F.relu(out + x)


class ConfiguredIO:
    """The input/output contract of a network built from ``self._config`` (its constructor
    arguments): channels in, features out."""

    _config: dict

    @property
    def in_channels(self) -> int:
        return self._config["in_channels"]

    @property
    def out_features(self) -> int:
        return self._config["out_features"]


class SizedIO(ConfiguredIO):
    """:class:`ConfiguredIO` of a network built for one image side (``input_size``)."""

    @property
    def input_size(self) -> int:
        return self._config["input_size"]


class PooledIO(ConfiguredIO):
    """:class:`ConfiguredIO` of a globally pooled network: any input size."""

    @property
    def input_size(self) -> None:
        """Any size works (global average pooling); None says so."""
        return None


class ResNet20(PooledIO, nn.Module):
    """CIFAR-style ResNet-20 (the single-network baseline of the source).

    A plain module tree (``conv1``, ``bn1``, ``layer1..3`` of basic blocks, ``pool``, ``fc``) so
    that every block can be read with a forward hook; the Reset subnetworks use the stacked
    equivalent in :mod:`brainlike.models.parallel`. 1 channel, 10 classes: 269,434 parameters.
    """

    def __init__(self, in_channels: int = 1, out_features: int = 10, depth: int = 20) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"ResNet depth must be 6n+2 (20, 32, 44, 56, ...), got {depth}")
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        in_planes, stages = 16, []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(BasicBlock(in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
            stages.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = stages
        self.pool = nn.AdaptiveAvgPool2d(1)
        # out_features 0: no readout, forward returns the pooled embedding (heads.py contract)
        self.fc = nn.Linear(64, out_features) if out_features else nn.Identity()
        self.embedding_dim = 64
        self._config = {"in_channels": in_channels, "out_features": out_features, "depth": depth}

    def describe(self) -> dict:
        """Constructor arguments, tagged ``kind: resnet`` (rebuilt by :func:`build_from_description`)."""
        return {"kind": "resnet", **self._config}

    def forward(self, x: Tensor) -> Tensor:
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.pool(x).flatten(1))


def _reset(n: int, subnet: str):
    def build(
        in_channels: int = 1, out_features: int = 10, master: str = "resnet20", **kwargs: object
    ) -> ResetNetwork:
        return reset_n(n, in_channels, out_features, subnet=subnet, master=master, **kwargs)  # type: ignore[arg-type]

    build.__doc__ = (
        f"Reset({n}): {n * n} {'ResNet-20' if subnet == 'resnet20' else 'small CNN'} subnetworks "
        f"with {(32 // n) ** 2} outputs each, tiled into a 32x32 grid, ResNet-20 master"
    )
    return build


for _n in (1, 2, 4, 8):
    register_model(f"reset{_n}", in_channels=1, out_features=10)(_reset(_n, "resnet20"))
    register_model(f"reset{_n}-small", in_channels=1, out_features=10)(_reset(_n, "small"))


@register_model("reset8-cifar100", in_channels=3, out_features=100)
def reset8_cifar100(
    in_channels: int = 3, out_features: int = 100, **kwargs: object
) -> ResetNetwork:
    """Reset(8) for CIFAR-100 as in the source (17,562,454 parameters)."""
    return reset_n(8, in_channels, out_features, **kwargs)  # type: ignore[arg-type]


@register_model("reset4-numbers", in_channels=3, out_features=100)
def reset4_numbers(in_channels: int = 3, out_features: int = 100, **kwargs: object) -> ResetNetwork:
    """Reset(4) mapping digit images to 100-d number codes (4,646,998 parameters)."""
    return reset_n(4, in_channels, out_features, **kwargs)  # type: ignore[arg-type]


@register_model("resnet20", in_channels=1, out_features=10)
def resnet20(in_channels: int = 1, out_features: int = 10, depth: int = 20) -> ResNet20:
    """ResNet-20 baseline (1 channel, 10 classes: 269,434 parameters)."""
    return ResNet20(in_channels, out_features, depth)


@register_model("resnet18", in_channels=3, out_features=1000)
def resnet18(in_channels: int = 3, out_features: int = 1000) -> nn.Module:
    """ImageNet ResNet-18 (torchvision layout; 3 channels, 1,000 classes: 11,689,512 parameters)."""
    from brainlike.models.imagenet_resnet import ImageNetResNet

    return ImageNetResNet(18, in_channels, out_features)


@register_model("resnet50", in_channels=3, out_features=1000)
def resnet50(in_channels: int = 3, out_features: int = 1000) -> nn.Module:
    """ImageNet ResNet-50 (torchvision layout; 3 channels, 1,000 classes: 25,557,032 parameters)."""
    from brainlike.models.imagenet_resnet import ImageNetResNet

    return ImageNetResNet(50, in_channels, out_features)


def build_from_config(model_cfg, in_channels: int, out_features: int, input_size: int) -> nn.Module:
    """Build the model a config's ``model`` section describes (any ``kind``).

    With ``model.vone`` set, a :class:`~brainlike.models.vone.VOneBlock` goes in front and the
    backend is built for its output: ``vone.bottleneck`` channels at ``input_size / stride``.
    """
    vone = getattr(model_cfg, "vone", None)
    if vone is not None:
        from brainlike.models.vone import with_vone

        if input_size % vone.stride:
            raise ValueError(
                f"model.vone.stride {vone.stride} does not divide data.input_size {input_size}; "
                "pick a stride that divides the image size"
            )
        backend_cfg = model_cfg.model_copy(update={"vone": None})
        backend = build_from_config(
            backend_cfg, vone.bottleneck, out_features, input_size // vone.stride
        )
        return with_vone(
            backend,
            backend_in_channels=vone.bottleneck,
            in_channels=in_channels,
            image_size=input_size,
            visual_degrees=vone.visual_degrees,
            simple_channels=vone.simple_channels,
            complex_channels=vone.complex_channels,
            noise=vone.noise,
            kernel_size=vone.kernel_size,
            stride=vone.stride,
            seed=vone.seed,
        )
    if model_cfg.kind == "pathint":
        from brainlike.models.pathint import PathIntegrator

        # a path integrator's "channels" are its per-step inputs, its "size" the start code
        return PathIntegrator(
            in_channels, out_features, input_size, model_cfg.core, model_cfg.activation or "relu",
            model_cfg.units, model_cfg.g_units,
        )  # fmt: skip
    if model_cfg.kind == "resnet" and model_cfg.layout == "imagenet":
        from brainlike.models.imagenet_resnet import ImageNetResNet
        from brainlike.models.streamnet import require_input_size

        require_input_size(f"ResNet-{model_cfg.depth}", input_size, ImageNetResNet.min_input_size)
        return ImageNetResNet(model_cfg.depth, in_channels, out_features)
    if model_cfg.kind == "resnet":
        return ResNet20(in_channels, out_features, model_cfg.depth)
    if model_cfg.kind == "streamnet":
        from brainlike.models.streamnet import StreamNet

        return StreamNet(
            model_cfg.variant, in_channels, out_features, input_size, model_cfg.dropout
        )
    if model_cfg.kind == "alexnet_bn":
        from brainlike.models.lowres import AlexNetBN

        return AlexNetBN(in_channels, out_features, input_size, model_cfg.hidden, model_cfg.dropout)
    if model_cfg.kind == "vgg16":
        from brainlike.models.lowres import VGG16

        return VGG16(
            in_channels,
            out_features,
            input_size,
            model_cfg.batch_norm,
            model_cfg.hidden,
            model_cfg.dropout,
        )
    if model_cfg.kind == "convrnn":
        from brainlike.models.convrnn import nets

        build = {
            "base6": nets.convrnn6,
            "base11": nets.convrnn11,
            "rgc-median": nets.rgc_median,
            "rgc-approx": nets.rgc_approx,
            "shallow-lstm": nets.convrnn6_lstm,
        }[model_cfg.base]
        kwargs: dict = {}
        if model_cfg.base != "shallow-lstm":
            kwargs["cells"] = model_cfg.cells
        if model_cfg.feedback:
            kwargs["feedback"] = [tuple(e) for e in model_cfg.feedback]
        return build(
            in_channels=in_channels,
            out_features=out_features,
            width=model_cfg.width,
            input_size=input_size,
            time_steps=model_cfg.time_steps,
            t_on=model_cfg.t_on,
            blank=model_cfg.blank,
            decoder=model_cfg.decoder.model_dump(),
            **kwargs,
        )
    if model_cfg.kind == "grcnn":
        from brainlike.models.grcnn import GRCNN

        return GRCNN(
            depth=model_cfg.depth,
            num_classes=out_features,
            width=model_cfg.width,
            in_channels=in_channels,
            input_size=input_size,
            gated=model_cfg.gated,
            iterations=model_cfg.iterations,
            groups=model_cfg.groups,
        )
    if model_cfg.kind in ("lenet", "alexnet"):
        from brainlike.models.locality import AlexNetLP, LeNetLP

        lp = model_cfg.locality
        cls = LeNetLP if model_cfg.kind == "lenet" else AlexNetLP
        extra = {"grid": model_cfg.grid} if model_cfg.kind == "alexnet" else {}
        return cls(
            **extra,
            locality=lp.enabled,
            num_classes=out_features,
            in_channels=in_channels,
            input_size=input_size,
            decay=lp.decay,
            metric=lp.metric,
            scale=lp.scale,
            normalize=lp.normalize,
            bias_modulation=lp.bias_modulation,
        )
    levels = []
    for lv in model_cfg.levels:
        side = int(round(lv.subnets**0.5))
        tile = int(round(lv.outputs**0.5))
        levels.append(
            LevelSpec(side=side, tile=tile, subnet=lv.subnet, subnet_kwargs=lv.subnet_kwargs())
        )
    master_kwargs = (
        {"channels": list(model_cfg.master_channels)} if model_cfg.master_channels else {}
    )
    return ResetNetwork(
        in_channels,
        out_features,
        levels,
        master=model_cfg.master,
        master_kwargs=master_kwargs,
        dropout=model_cfg.dropout,
        autoencoder=model_cfg.autoencoder,
        input_size=input_size,
        execution=model_cfg.execution,
    )


def describe_model(model: nn.Module) -> dict:
    """JSON-able architecture of any buildable model, tagged with its ``kind`` (for checkpoints)."""
    from brainlike.models.heads import HeadedModel
    from brainlike.models.locality import AlexNetLP, LeNetLP
    from brainlike.models.vone import VOneFront

    if isinstance(model, HeadedModel):
        return model.describe()
    if isinstance(model, VOneFront):
        return {
            "kind": "vone",
            "vone": model.describe_front(),
            "backend": describe_model(model.backend),
        }
    if isinstance(model, ResNet20):
        return model.describe()
    if isinstance(model, LeNetLP):
        return {"kind": "lenet", **model.describe()}
    if isinstance(model, AlexNetLP):
        return {"kind": "alexnet", **model.describe()}
    if isinstance(model, ResetNetwork):
        return model.describe()
    if hasattr(model, "describe") and model.describe().get("kind") in (
        "grcnn",
        "convrnn",
        "resnet",
        "streamnet",
        "alexnet_bn",
        "vgg16",
        "pathint",
    ):
        return model.describe()
    raise TypeError(f"no architecture description for {type(model).__name__}")


def build_from_description(desc: dict) -> nn.Module:
    """Rebuild a model from its ``describe()`` dict (as stored in checkpoints)."""
    kind = desc.get("kind", "reset")
    if kind == "heads":
        from brainlike.models.heads import HeadedModel

        return HeadedModel.from_description(desc)
    if kind == "vone":
        from brainlike.models.vone import VOneBlock, VOneFront

        return VOneFront(VOneBlock(**desc["vone"]), build_from_description(desc["backend"]))
    if kind == "resnet" and desc.get("layout") == "imagenet":
        from brainlike.models.imagenet_resnet import ImageNetResNet

        return ImageNetResNet(**{k: v for k, v in desc.items() if k not in ("kind", "layout")})
    if kind == "resnet":
        return ResNet20(**{k: v for k, v in desc.items() if k != "kind"})
    if kind == "convrnn":
        from brainlike.models.convrnn import ConvRNN

        return ConvRNN.from_description(desc)
    if kind == "streamnet":
        from brainlike.models.streamnet import StreamNet

        return StreamNet(**{k: v for k, v in desc.items() if k != "kind"})
    if kind in ("alexnet_bn", "vgg16"):
        from brainlike.models.lowres import VGG16, AlexNetBN

        args = {k: v for k, v in desc.items() if k != "kind"}
        return (AlexNetBN if kind == "alexnet_bn" else VGG16)(**args)
    if kind == "pathint":
        from brainlike.models.pathint import PathIntegrator

        return PathIntegrator(**{k: v for k, v in desc.items() if k != "kind"})
    if kind == "grcnn":
        from brainlike.models.grcnn import GRCNN

        return GRCNN(**{k: v for k, v in desc.items() if k != "kind"})
    if kind in ("lenet", "alexnet"):
        from brainlike.models.locality import AlexNetLP, LeNetLP

        args = {k: v for k, v in desc.items() if k != "kind"}
        return (LeNetLP if kind == "lenet" else AlexNetLP)(**args)
    levels = [
        LevelSpec(
            side=lv["side"],
            tile=lv["tile"],
            subnet=lv["subnet"],
            subnet_kwargs=dict(lv["subnet_kwargs"]),
        )
        for lv in desc["levels"]
    ]
    model = ResetNetwork(
        desc["in_channels"],
        desc["out_features"],
        levels,
        master=desc["master"],
        master_kwargs=dict(desc["master_kwargs"]),
        dropout=desc["dropout"],
        autoencoder=desc["autoencoder"],
        input_size=desc["input_size"],
        execution=desc.get("execution", "auto"),
    )
    for level, lv in zip(model.levels, desc["levels"], strict=True):
        extra = lv["n_subnets"] - level.subnets.groups
        if extra > 0:
            level.add_subnetworks(extra)
    return model
