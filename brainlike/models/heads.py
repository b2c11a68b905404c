"""A backbone with the heads of a self-supervised objective (spec mouse-and-entorhinal.md §1).

Self-supervised objectives train a network through heads that are discarded afterwards: the
projector MLP of SimCLR and MoCo, SimSiam's projector and predictor, the linear 128-d head of
instance recognition, RotNet's 4-way classifier, the decoders of the autoencoder and of depth
prediction. :class:`HeadedModel` holds the ``backbone`` (built without a readout: it returns
its embedding) and the ``heads``; ``model(x, chain)`` runs the backbone and then the named
heads one after another, returning every stage. Scoring and transfer use ``.backbone`` alone
(:func:`backbone_of`), so the layer names stay the backbone's.

A head is described by a JSON-able dict (``kind: mlp`` or ``kind: decoder``), so checkpoints
rebuild the whole module (:meth:`HeadedModel.describe`, :func:`HeadedModel.from_description`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "EMBEDDING_KINDS",
    "EMBEDDING_MODELS",
    "HeadedModel",
    "backbone_of",
    "build_head",
    "mlp_spec",
]

#: the ``model.kind``s whose models give an embedding when built with ``out_features=0``
EMBEDDING_KINDS = ("streamnet", "alexnet_bn", "vgg16", "resnet")
#: what the error for a model without an embedding names
EMBEDDING_MODELS = (
    "model.kind streamnet (variant single, dual or six), alexnet_bn, vgg16, "
    "resnet (ResNet-20 and the ImageNet ResNets)"
)


def mlp_spec(dims: Sequence[int], batch_norm: bool = False, last_bn: bool = False) -> dict:
    """A head of linear layers ``dims[0] -> ... -> dims[-1]``, with BatchNorm (``batch_norm``)
    and ReLU between them; ``last_bn`` adds a BatchNorm after the last layer (SimSiam). A spec
    with ``pool_channels: C`` first averages its (N, C * P) input over the P positions of each
    of the C channels (the global average pool of a channel-major flattened map)."""
    return {"kind": "mlp", "dims": [int(d) for d in dims], "bn": batch_norm, "last_bn": last_bn}


class ChannelMean(nn.Module):
    """(N, C * P) -> (N, C): the mean over the P positions of each channel of a flattened,
    channel-major map."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.channels = int(channels)

    def forward(self, x: Tensor) -> Tensor:
        return x.view(x.shape[0], self.channels, -1).mean(-1)


class Decoder(nn.Module):
    """A convolutional decoder from a vector to a (``out_channels``, ``size``, ``size``) map.

    A linear layer to a ``width`` x s0 x s0 map (s0 about 4), then transposed convolutions
    doubling the side (BatchNorm, ReLU, halving the channels down to 16), a 3x3 convolution
    to ``out_channels`` and, where the side is not s0 times a power of two, a bilinear resize.
    ``refine`` > 0 adds the 3x3 convolution ``out_channels -> refine`` of the depth decoder.
    The backbones differ, so this is a generic upsampling path, not a layer-by-layer mirror.
    """

    def __init__(
        self, in_features: int, out_channels: int, size: int, width: int = 128, refine: int = 0
    ) -> None:
        super().__init__()
        self.ups = max(0, int(math.floor(math.log2(max(size, 4) / 4))))
        self.s0 = math.ceil(size / 2**self.ups)
        self.size, self.width = size, width
        self.fc = nn.Linear(in_features, width * self.s0 * self.s0)
        layers: list[nn.Module] = []
        c = width
        for _ in range(self.ups):
            nxt = max(16, c // 2)
            layers += [nn.ConvTranspose2d(c, nxt, 4, 2, 1), nn.BatchNorm2d(nxt), nn.ReLU()]
            c = nxt
        layers.append(nn.Conv2d(c, out_channels, 3, padding=1))
        if refine:
            layers += [nn.ReLU(), nn.Conv2d(out_channels, refine, 3, padding=1)]
        self.up = nn.Sequential(*layers)

    def forward(self, h: Tensor) -> Tensor:
        x = F.relu(self.fc(h)).view(h.shape[0], self.width, self.s0, self.s0)
        x = self.up(x)
        if x.shape[-1] != self.size:
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=False)
        return x


def build_head(spec: dict) -> nn.Module:
    """The head a spec describes (:func:`mlp_spec`, or ``kind: decoder`` with the arguments of
    :class:`Decoder`)."""
    if spec["kind"] == "decoder":
        return Decoder(**{k: v for k, v in spec.items() if k != "kind"})
    dims, layers = spec["dims"], []
    for i, (a, b) in enumerate(zip(dims[:-1], dims[1:], strict=True)):
        last = i == len(dims) - 2
        layers.append(nn.Linear(a, b, bias=not (spec["bn"] and (not last or spec["last_bn"]))))
        if not last:
            layers += [nn.BatchNorm1d(b)] if spec["bn"] else []
            layers.append(nn.ReLU())
        elif spec["last_bn"]:
            layers.append(nn.BatchNorm1d(b))
    if spec.get("pool_channels"):
        layers.insert(0, ChannelMean(spec["pool_channels"]))
    return nn.Sequential(*layers)


class HeadedModel(nn.Module):
    """A backbone and named heads (see the module docstring).

    Parameters
    ----------
    backbone : a model built with ``out_features=0``: it returns ``(N, embedding_dim)``.
    heads : name -> head spec.
    """

    def __init__(self, backbone: nn.Module, heads: dict[str, dict]) -> None:
        super().__init__()
        if not isinstance(getattr(backbone, "embedding_dim", None), int):
            raise ValueError(
                f"self-supervised objectives need a model that gives an embedding; "
                f"{type(backbone).__name__} has none. Use {EMBEDDING_MODELS}"
            )
        self.backbone = backbone
        self.head_specs = {k: dict(v) for k, v in heads.items()}
        self.heads = nn.ModuleDict({k: build_head(v) for k, v in heads.items()})
        self.embedding_dim = backbone.embedding_dim

    def forward(self, x: Tensor, chain: Sequence[str] = ()) -> Any:
        """The embedding (no ``chain``), or the list [embedding, then each head of ``chain``
        applied to the previous stage's output]."""
        out = [self.backbone(x)]
        for name in chain:
            out.append(self.heads[name](out[-1]))
        return out if chain else out[0]

    def describe(self) -> dict:
        """``kind: heads``, the backbone's description and the head specs."""
        from brainlike.models.zoo import describe_model

        return {
            "kind": "heads",
            "backbone": describe_model(self.backbone),
            "heads": self.head_specs,
        }

    @classmethod
    def from_description(cls, desc: dict) -> HeadedModel:
        from brainlike.models.zoo import build_from_description

        return cls(build_from_description(desc["backbone"]), desc["heads"])


def backbone_of(model: torch.nn.Module) -> torch.nn.Module:
    """The network scoring and transfer see: a :class:`HeadedModel`'s backbone, else ``model``."""
    return model.backbone if isinstance(model, HeadedModel) else model
