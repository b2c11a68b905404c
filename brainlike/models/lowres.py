"""Deep comparison networks at the mouse's resolution (spec: mouse-and-entorhinal.md §1).

The mouse chapter compares its shallow StreamNets with standard deep networks trained on the
same 64 px images: AlexNet with batch norm, VGG16 and ResNet-18. Each keeps its published
layout and reads a 64 px image as is; what changes is only where a layout assumes 224 px:

- :class:`AlexNetBN`: torchvision's AlexNet with BN after every convolution. Its three
  max-pools and stride-4 stem leave 1 x 1 at 64 px, which the 6 x 6 adaptive pooling repeats
  (as the source does); it takes at least 63 px.
- :class:`VGG16`: 13 convolutions in 5 blocks (BN optional); the dense layers read the 2 x 2
  grid that 64 px leaves after five halvings (torchvision's 7 x 7 is 224 px's grid); at least
  32 px.
- ResNet-18 is :class:`brainlike.models.imagenet_resnet.ImageNetResNet` (registered here as
  ``resnet18-64``); global average pooling takes any size, 32 px (its total stride) and up
  is what it is offered for.

The embedding contract of the mouse models: built with ``out_features=0`` a network has no
last linear layer and ``forward`` returns its input, ``(N, embedding_dim)`` (the last hidden
dense layer of AlexNet-BN and VGG16, the pooled features of ResNet-18). Every layer is a plain
``nn.Conv2d`` / ``nn.Linear``, so every learning rule converts these networks.
"""

from __future__ import annotations

from typing import ClassVar

from torch import Tensor, nn

from brainlike.models.streamnet import _conv_out, require_input_size
from brainlike.models.zoo import SizedIO
from brainlike.registry import register_model

__all__ = ["VGG16", "VGG16_LAYOUT", "AlexNetBN", "alexnet_min_input_size"]

#: VGG16's convolution widths, "M" a 2 x 2 max-pool (Simonyan & Zisserman 2015, config D)
VGG16_LAYOUT: tuple[int | str, ...] = (
    64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M",
)  # fmt: skip


def alexnet_min_input_size() -> int:
    """The smallest side AlexNet takes: its third max-pool (3/2) needs a 3 x 3 input."""

    def last(size: int) -> int:
        for kernel, stride, pad in ((11, 4, 2), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 2, 0)):
            if size < kernel - 2 * pad:
                return 0
            size = _conv_out(size, kernel, stride, pad)
        return size

    size = 1
    while last(size) < 1:
        size += 1
    return size


class _Embedding(SizedIO, nn.Module):
    """What both comparison models share: ``features`` -> ``avgpool`` -> ``classifier`` (two
    hidden dense layers: the embedding, ``embedding_dim`` units) -> an optional last linear
    layer ``fc``; ``describe()`` gives the constructor arguments tagged with ``kind``."""

    kind: ClassVar[str]
    features: nn.Module
    avgpool: nn.Module
    classifier: nn.Module

    def _finish(self, hidden: int, out_features: int, config: dict) -> None:
        """The embedding size, the readout (none for ``out_features=0``) and the config."""
        self.embedding_dim = hidden
        if out_features > 0:
            self.fc = nn.Linear(hidden, out_features)
        self._config = config

    def describe(self) -> dict:
        """Constructor arguments, tagged with the model's ``kind``."""
        return {"kind": self.kind, **self._config}

    def forward(self, x: Tensor) -> Tensor:
        h = self.classifier(self.avgpool(self.features(x)).flatten(1))
        return self.fc(h) if self.out_features > 0 else h


def _hidden_layers(in_features: int, hidden: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(
        nn.Dropout(dropout),
        nn.Linear(in_features, hidden),
        nn.ReLU(),
        nn.Dropout(dropout),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
    )


class AlexNetBN(_Embedding):
    """AlexNet with batch norm, for 64 px images (at least 63 px).

    Parameters
    ----------
    in_channels, out_features : image channels; classes (``0``: return the embedding, the
        second hidden layer's ``hidden`` units).
    input_size : the image side it is built for; below 63 px ``ValueError``.
    hidden : units of the two hidden dense layers (4096 in AlexNet).
    dropout : before each hidden dense layer.
    """

    min_input_size: ClassVar[int] = 63
    kind: ClassVar[str] = "alexnet_bn"

    def __init__(
        self,
        in_channels: int = 3,
        out_features: int = 10,
        input_size: int = 64,
        hidden: int = 4096,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        require_input_size("AlexNet-BN", input_size, self.min_input_size)

        def unit(c_in: int, c_out: int, kernel: int, stride: int, pad: int) -> list[nn.Module]:
            return [nn.Conv2d(c_in, c_out, kernel, stride, pad), nn.BatchNorm2d(c_out), nn.ReLU()]

        self.features = nn.Sequential(
            *unit(in_channels, 64, 11, 4, 2),
            nn.MaxPool2d(3, 2),
            *unit(64, 192, 5, 1, 2),
            nn.MaxPool2d(3, 2),
            *unit(192, 384, 3, 1, 1),
            *unit(384, 256, 3, 1, 1),
            *unit(256, 256, 3, 1, 1),
            nn.MaxPool2d(3, 2),
        )
        self.avgpool = nn.AdaptiveAvgPool2d(6)
        self.classifier = _hidden_layers(256 * 6 * 6, hidden, dropout)
        self._finish(
            hidden,
            out_features,
            {
                "in_channels": in_channels,
                "out_features": out_features,
                "input_size": input_size,
                "hidden": hidden,
                "dropout": dropout,
            },
        )


class VGG16(_Embedding):
    """VGG16 (configuration D) for 64 px images (at least 32 px).

    Parameters
    ----------
    in_channels, out_features : image channels; classes (``0``: return the embedding, the
        second hidden layer's ``hidden`` units).
    input_size : the image side it is built for; below 32 px ``ValueError``.
    batch_norm : BN after every convolution.
    hidden : units of the two hidden dense layers (4096 in VGG16).
    dropout : after each hidden dense layer.
    """

    min_input_size: ClassVar[int] = 32
    kind: ClassVar[str] = "vgg16"
    #: the grid the dense layers read: 64 px after five halvings
    grid: ClassVar[int] = 2

    def __init__(
        self,
        in_channels: int = 3,
        out_features: int = 10,
        input_size: int = 64,
        batch_norm: bool = True,
        hidden: int = 4096,
        dropout: float = 0.5,
    ) -> None:
        super().__init__()
        require_input_size("VGG16", input_size, self.min_input_size)
        layers: list[nn.Module] = []
        c_in = in_channels
        for width in VGG16_LAYOUT:
            if width == "M":
                layers.append(nn.MaxPool2d(2, 2))
                continue
            layers.append(nn.Conv2d(c_in, int(width), 3, 1, 1))
            if batch_norm:
                layers.append(nn.BatchNorm2d(int(width)))
            layers.append(nn.ReLU())
            c_in = int(width)
        self.features = nn.Sequential(*layers)
        self.avgpool = nn.AdaptiveAvgPool2d(self.grid)
        self.classifier = _hidden_layers(512 * self.grid * self.grid, hidden, dropout)
        self._finish(
            hidden,
            out_features,
            {
                "in_channels": in_channels,
                "out_features": out_features,
                "input_size": input_size,
                "batch_norm": batch_norm,
                "hidden": hidden,
                "dropout": dropout,
            },
        )


@register_model("alexnet-bn", in_channels=3, out_features=10, input_size=64)
def alexnet_bn(
    in_channels: int = 3, out_features: int = 10, input_size: int = 64, hidden: int = 4096
) -> AlexNetBN:
    """AlexNet with batch norm at 64 px (the mouse chapter's comparison model)."""
    return AlexNetBN(in_channels, out_features, input_size, hidden)


@register_model("vgg16-64", in_channels=3, out_features=10, input_size=64)
def vgg16_64(
    in_channels: int = 3, out_features: int = 10, input_size: int = 64, batch_norm: bool = True
) -> VGG16:
    """VGG16 with batch norm at 64 px (dense layers on the 2 x 2 grid)."""
    return VGG16(in_channels, out_features, input_size, batch_norm)


@register_model("resnet18-64", in_channels=3, out_features=10, input_size=64)
def resnet18_64(in_channels: int = 3, out_features: int = 10, input_size: int = 64) -> nn.Module:
    """ImageNet ResNet-18 (torchvision layout) for 64 px images, 10 classes."""
    from brainlike.models.imagenet_resnet import ImageNetResNet

    require_input_size("ResNet-18", input_size, ImageNetResNet.min_input_size)
    return ImageNetResNet(18, in_channels, out_features)
