"""Task losses of the Reset-network recipes: classes, number codes, reconstruction."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def classification_loss(
    logits: Tensor,
    target: Tensor,
    class_weights: Tensor | None = None,
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy, optionally class-weighted (the MNIST recipe of spec topography.md §1) and
    label-smoothed (the GRCNN recipe of spec recurrent.md §4 uses 0.1)."""
    return F.cross_entropy(logits, target, weight=class_weights, label_smoothing=label_smoothing)


def code_loss(logits: Tensor, codes: Tensor) -> Tensor:
    """BCE(sigmoid(output), code) of the number-code task (spec topography.md §1)."""
    return F.binary_cross_entropy_with_logits(logits, codes)


def decode_codes(logits: Tensor, codebook: Tensor) -> Tensor:
    """Index of the nearest code (cosine similarity of sigmoid outputs) for each sample."""
    out = F.normalize(torch.sigmoid(logits), dim=1)
    return (out @ F.normalize(codebook.to(out), dim=1).T).argmax(dim=1)


def reconstruction_loss(recon_logits: Tensor, images: Tensor, kind: str = "bce") -> Tensor:
    """Autoencoding regulariser: BCE on images rescaled per image to [0, 1], or MSE.

    spec: topography.md §1, autoencoding regulariser.
    """
    if kind == "mse":
        return F.mse_loss(recon_logits, images)
    if kind != "bce":
        raise ValueError(f"reconstruction loss must be 'bce' or 'mse', got {kind!r}")
    flat = images.flatten(1)
    lo, hi = flat.min(dim=1, keepdim=True).values, flat.max(dim=1, keepdim=True).values
    target = ((flat - lo) / (hi - lo).clamp_min(1e-8)).view_as(images)
    return F.binary_cross_entropy_with_logits(recon_logits, target)
