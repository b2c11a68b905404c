"""ImageNet ResNets (He et al. 2016; torchvision's layout): ResNet-18, 34, 50, 101 and 152.

The source's learning-rule comparison (spec learning-rules.md §1 anchors) trains ResNet-18 and
ResNet-50 on ImageNet at 224 px: a 7x7 stride-2 stem and a max-pool, four stages of basic (18,
34) or bottleneck (50, 101, 152) blocks, global average pooling and one dense layer.
:class:`ImageNetResNet` is torchvision's ``ResNet`` (so its layer names, ``layer1.0.conv1``,
are the ones Brain-Score users know) with the stem widened or narrowed to the data's channels
and a description that checkpoints rebuild. Every convolution and the dense layer are plain
``nn.Conv2d`` / ``nn.Linear``, so every learning rule converts it. The CIFAR family (6n + 2)
is :class:`brainlike.models.zoo.ResNet20`.
"""

from __future__ import annotations

from torch import nn
from torchvision.models.resnet import BasicBlock, Bottleneck, ResNet

from brainlike.models.zoo import PooledIO

__all__ = ["IMAGENET_DEPTHS", "ImageNetResNet"]

#: depth -> (block, blocks per stage), as in He et al. 2016, Table 1
IMAGENET_DEPTHS = {
    18: (BasicBlock, (2, 2, 2, 2)),
    34: (BasicBlock, (3, 4, 6, 3)),
    50: (Bottleneck, (3, 4, 6, 3)),
    101: (Bottleneck, (3, 4, 23, 3)),
    152: (Bottleneck, (3, 8, 36, 3)),
}


class ImageNetResNet(PooledIO, ResNet):
    """An ImageNet ResNet of ``depth`` for ``in_channels``-channel images and ``out_features``
    classes (any input size of at least 32 px: the stem and stages divide it by 32; global
    average pooling takes any size above). With ``out_features=0`` there is no dense layer and
    ``forward`` returns the pooled features, ``(N, embedding_dim)``."""

    #: the total stride: below it the last stage sees padding only
    min_input_size = 32

    def __init__(self, depth: int = 18, in_channels: int = 3, out_features: int = 1000) -> None:
        if depth not in IMAGENET_DEPTHS:
            raise ValueError(
                f"an ImageNet ResNet has depth {', '.join(map(str, IMAGENET_DEPTHS))}; got {depth}"
            )
        if out_features < 0:
            raise ValueError(f"out_features must be >= 0 (0: the embedding), got {out_features}")
        block, layers = IMAGENET_DEPTHS[depth]
        super().__init__(block, list(layers), num_classes=max(out_features, 1))
        if in_channels != 3:
            self.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
            nn.init.kaiming_normal_(self.conv1.weight, mode="fan_out", nonlinearity="relu")
        self.embedding_dim = 512 * block.expansion
        if out_features == 0:
            self.fc = nn.Identity()  # forward returns the pooled features (the embedding)
        self._config = {"depth": depth, "in_channels": in_channels, "out_features": out_features}

    def describe(self) -> dict:
        """Constructor arguments, tagged ``kind: resnet, layout: imagenet``."""
        return {"kind": "resnet", "layout": "imagenet", **self._config}
