"""Mixing recipes of the brain-likeness training (spec: recurrent.md §5): CutMix and AugMix.

- :func:`cutmix` pastes a random box of one image into another and mixes the labels by the
  area actually pasted (Yun et al. 2019); :func:`cutmix_loss` is the matching cross-entropy.
- :func:`augmix` mixes a few chains of simple image operations with the original image
  (Hendrycks et al. 2020); :class:`AugMixDataset` yields a clean image and two AugMix views;
  :func:`jensen_shannon_consistency` and :func:`augmix_loss` are the consistency loss between
  the predictions on the three.

All randomness comes from an optional ``torch.Generator`` (None: torch's global RNG), so a
seeded generator reproduces a batch exactly. Beta and Dirichlet draws, which torch cannot take
from a generator, come from a numpy generator seeded by one draw of the torch generator.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
import torchvision.transforms.v2.functional as TF
from torch import Tensor
from torch.utils.data import Dataset
from torchvision.transforms import InterpolationMode

__all__ = [
    "AUGMIX_OPERATIONS",
    "AugMixDataset",
    "augmix",
    "augmix_loss",
    "cutmix",
    "cutmix_box",
    "cutmix_loss",
    "jensen_shannon_consistency",
]


def _numpy_rng(generator: torch.Generator | None) -> np.random.Generator:
    """A numpy generator seeded from ``generator`` (or torch's global RNG), for Beta/Dirichlet."""
    seed = int(torch.randint(0, 2**62, (1,), generator=generator).item())
    return np.random.default_rng(seed)


def _check_alpha(alpha: float, what: str) -> None:
    if not alpha > 0:
        raise ValueError(
            f"{what} alpha must be positive (Beta/Dirichlet concentration), got {alpha}"
        )


# ---------------------------------------------------------------------------------------------
# CutMix
# ---------------------------------------------------------------------------------------------


def cutmix_box(
    height: int, width: int, lam: float, generator: torch.Generator | None = None
) -> tuple[int, int, int, int]:
    """Box of the CutMix paper: sides ``sqrt(1 - lam)`` of the image, uniform centre, clipped.

    Parameters
    ----------
    height, width : image size in pixels.
    lam : the sampled mixing ratio in [0, 1]; the unclipped box covers ``1 - lam`` of the image.
    generator : source of randomness for the centre.

    Returns
    -------
    (y0, y1, x0, x1) : the pasted region is ``[y0:y1, x0:x1]``; it may be smaller than
    ``1 - lam`` of the image (or empty) where the box runs over the border.
    """
    if not 0.0 <= lam <= 1.0:
        raise ValueError(f"lam must be in [0, 1], got {lam}")
    # spec: recurrent.md §5, CutMix box with area fraction 1 - lambda (Yun et al. 2019, rand_bbox)
    cut = math.sqrt(1.0 - lam)
    cut_h, cut_w = int(height * cut), int(width * cut)
    cy = int(torch.randint(height, (1,), generator=generator).item())
    cx = int(torch.randint(width, (1,), generator=generator).item())
    y0, y1 = max(cy - cut_h // 2, 0), min(cy + cut_h // 2, height)
    x0, x1 = max(cx - cut_w // 2, 0), min(cx + cut_w // 2, width)
    return y0, y1, x0, x1


def cutmix(
    images: Tensor,
    targets: Tensor,
    alpha: float = 1.0,
    generator: torch.Generator | None = None,
    prob: float = 1.0,
) -> tuple[Tensor, Tensor, Tensor, float]:
    """CutMix a batch: paste a box of a shuffled copy of the batch into each image.

    Parameters
    ----------
    images : (N, C, H, W) batch.
    targets : (N,) class indices (or (N, K) soft targets); shuffled with the images.
    alpha : concentration of ``lambda ~ Beta(alpha, alpha)`` (1: uniform, as in the source).
    generator : source of randomness (lambda, box centre, partner permutation, ``prob``).
    prob : probability of mixing this batch at all; otherwise the batch comes back unchanged
        with ``lam = 1``.

    Returns
    -------
    mixed_images : (N, C, H, W); image ``i`` shows ``images[perm[i]]`` inside the box and
        ``images[i]`` outside.
    targets_a : ``targets`` (the images outside the box).
    targets_b : ``targets[perm]`` (the images pasted into the box).
    lam : the fraction of each image NOT covered by the pasted box, recomputed from the clipped
        box, so labels are mixed by the area actually pasted.
    """
    if images.ndim != 4:
        raise ValueError(
            f"cutmix needs a batch (N, C, H, W); got shape {tuple(images.shape)} "
            "(add a batch dimension with images.unsqueeze(0))"
        )
    if targets.shape[0] != images.shape[0]:
        raise ValueError(
            f"targets has {targets.shape[0]} entries for a batch of {images.shape[0]} images"
        )
    _check_alpha(alpha, "cutmix")
    if not 0.0 <= prob <= 1.0:
        raise ValueError(f"prob must be in [0, 1], got {prob}")
    if prob < 1.0 and torch.rand((), generator=generator).item() >= prob:
        return images, targets, targets, 1.0

    n, _, height, width = images.shape
    lam = float(_numpy_rng(generator).beta(alpha, alpha))
    y0, y1, x0, x1 = cutmix_box(height, width, lam, generator)
    perm = torch.randperm(n, generator=generator).to(images.device)
    mixed = images.clone()
    mixed[:, :, y0:y1, x0:x1] = images[perm, :, y0:y1, x0:x1]
    # spec: recurrent.md §5, labels mixed by the actual pasted area (after clipping)
    lam = 1.0 - ((y1 - y0) * (x1 - x0)) / (height * width)
    return mixed, targets, targets[perm.to(targets.device)], lam


def cutmix_loss(logits: Tensor, targets_a: Tensor, targets_b: Tensor, lam: float) -> Tensor:
    """Cross-entropy against CutMix's mixed label: ``lam CE(a) + (1 - lam) CE(b)``.

    Parameters
    ----------
    logits : (N, K) class scores on the mixed images.
    targets_a, targets_b, lam : as returned by :func:`cutmix`.

    Returns
    -------
    Scalar tensor (mean over the batch).
    """
    # spec: recurrent.md §5, y~ = lam y_A + (1 - lam) y_B
    return lam * F.cross_entropy(logits, targets_a) + (1.0 - lam) * F.cross_entropy(
        logits, targets_b
    )


# ---------------------------------------------------------------------------------------------
# AugMix
# ---------------------------------------------------------------------------------------------

# Operations of the AugMix paper's default set (those that do not overlap ImageNet-C
# corruptions). Each takes a (C, H, W) float image in [0, 1], a level in (0, 10] and a
# generator (for the random sign of geometric ops); magnitudes follow the reference code.


def _level_int(level: float, maxval: float) -> int:
    return int(level * maxval / 10)


def _level_float(level: float, maxval: float) -> float:
    return float(level) * maxval / 10


def _random_sign(generator: torch.Generator | None) -> float:
    return -1.0 if torch.rand((), generator=generator).item() < 0.5 else 1.0


def _autocontrast(img: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    return TF.autocontrast(img)


def _equalize(img: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    return TF.equalize(img)


def _posterize(img: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    return TF.posterize(img, max(4 - _level_int(level, 4), 1))


def _solarize(img: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    return TF.solarize(img, 1.0 - _level_int(level, 256) / 256)


def _rotate(img: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
    angle = _random_sign(generator) * _level_int(level, 30)
    return TF.rotate(img, angle, interpolation=InterpolationMode.BILINEAR)


def _shear(axis: int) -> Callable[[Tensor, float, torch.Generator | None], Tensor]:
    def op(img: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
        # the reference code shears by a slope of up to 0.3; torchvision takes degrees
        slope = _random_sign(generator) * _level_float(level, 0.3)
        shear = [0.0, 0.0]
        shear[axis] = math.degrees(math.atan(slope))
        return TF.affine(
            img,
            angle=0.0,
            translate=[0, 0],
            scale=1.0,
            shear=shear,
            interpolation=InterpolationMode.BILINEAR,
        )

    return op


def _translate(axis: int) -> Callable[[Tensor, float, torch.Generator | None], Tensor]:
    def op(img: Tensor, level: float, generator: torch.Generator | None) -> Tensor:
        # up to a third of the image side at level 10, as in the reference code
        side = img.shape[-1] if axis == 0 else img.shape[-2]
        shift = [0, 0]
        shift[axis] = int(_random_sign(generator) * _level_int(level, side / 3))
        return TF.affine(img, angle=0.0, translate=shift, scale=1.0, shear=[0.0, 0.0])

    return op


AUGMIX_OPERATIONS: dict[str, Callable[[Tensor, float, torch.Generator | None], Tensor]] = {
    "autocontrast": _autocontrast,
    "equalize": _equalize,
    "posterize": _posterize,
    "solarize": _solarize,
    "rotate": _rotate,
    "shear_x": _shear(0),
    "shear_y": _shear(1),
    "translate_x": _translate(0),
    "translate_y": _translate(1),
}


def _check_unit_image(image: Tensor) -> None:
    if image.ndim != 3:
        raise ValueError(
            f"augmix works on one image (C, H, W); got shape {tuple(image.shape)} "
            "(apply it per sample, e.g. through AugMixDataset)"
        )
    if not image.is_floating_point():
        raise ValueError(
            f"augmix needs a float image in [0, 1], got dtype {image.dtype}; convert with "
            "torchvision.transforms.v2.functional.to_dtype(image, torch.float32, scale=True)"
        )
    lo, hi = float(image.min()), float(image.max())
    if lo < -1e-6 or hi > 1 + 1e-6:
        raise ValueError(
            f"augmix needs an image in [0, 1] (before normalisation), got values in "
            f"[{lo:.3g}, {hi:.3g}]; apply mean/std normalisation after augmix (AugMixDataset's "
            "preprocess)"
        )


def augmix(
    image: Tensor,
    severity: int = 3,
    width: int = 3,
    depth: int = -1,
    alpha: float = 1.0,
    generator: torch.Generator | None = None,
    operations: Sequence[str] | None = None,
) -> Tensor:
    """One AugMix view of an image: chains of simple ops, mixed, then mixed with the original.

    ``x_aug = m x + (1 - m) sum_i w_i chain_i(x)`` with ``w ~ Dirichlet(alpha)`` over the
    ``width`` chains and the skip weight ``m ~ Beta(alpha, alpha)``. (The reference code writes
    ``(1 - m) x + m mix``; with a symmetric Beta the two are the same distribution.)

    Parameters
    ----------
    image : (C, H, W) float image in [0, 1].
    severity : operation strength; each op draws its level uniformly in [0.1, severity] (of 10).
    width : number of chains k.
    depth : operations per chain; -1 draws 1-3 per chain.
    alpha : concentration of the Dirichlet and Beta draws.
    generator : source of randomness.
    operations : names from :data:`AUGMIX_OPERATIONS` to draw from (default: all of them).

    Returns
    -------
    Tensor
        (C, H, W) image in [0, 1], same dtype as ``image``.
    """
    _check_unit_image(image)
    _check_alpha(alpha, "augmix")
    if width < 1:
        raise ValueError(f"width (number of chains) must be at least 1, got {width}")
    if depth == 0 or depth < -1:
        raise ValueError(f"depth must be -1 (random 1-3) or a positive chain length, got {depth}")
    if not 1 <= severity <= 10:
        raise ValueError(f"severity must be in 1..10, got {severity}")
    names = list(AUGMIX_OPERATIONS) if operations is None else list(operations)
    unknown = [name for name in names if name not in AUGMIX_OPERATIONS]
    if unknown or not names:
        raise ValueError(
            f"unknown AugMix operations {unknown}; choose from {sorted(AUGMIX_OPERATIONS)}"
        )

    rng = _numpy_rng(generator)
    weights = rng.dirichlet([alpha] * width)
    m = float(rng.beta(alpha, alpha))
    mix = torch.zeros_like(image)
    for w in weights:
        chain_depth = depth if depth > 0 else int(torch.randint(1, 4, (1,), generator=generator))
        x = image
        for _ in range(chain_depth):
            name = names[int(torch.randint(len(names), (1,), generator=generator))]
            level = 0.1 + (severity - 0.1) * torch.rand((), generator=generator).item()
            x = AUGMIX_OPERATIONS[name](x, level, generator)
        mix = mix + float(w) * x
    # spec: recurrent.md §5, Dirichlet-weighted chains mixed with the original by a Beta weight
    return (m * image + (1.0 - m) * mix).clamp(0.0, 1.0)


def _as_unit_float(image: Any) -> Tensor:
    """A (C, H, W) float tensor in [0, 1] from a tensor (float or uint8) or a PIL image."""
    if not isinstance(image, Tensor):
        image = TF.pil_to_tensor(image)
    if not image.is_floating_point():
        image = TF.to_dtype(image, torch.float32, scale=True)
    return image


class AugMixDataset(Dataset):
    """Wrap a labelled image dataset to yield ``(x_clean, x_aug1, x_aug2, y)`` for AugMix.

    Parameters
    ----------
    dataset : yields ``(image, y)``; the image a (C, H, W) tensor in [0, 1] (uint8 tensors and
        PIL images are converted). Put only geometric/crop augmentation in it, no normalisation.
    severity, width, depth, alpha : as in :func:`augmix`.
    preprocess : applied to all three images after mixing (e.g. mean/std normalisation).
    generator : source of randomness. A private generator is shared by DataLoader workers'
        copies and so repeats across workers; leave it None to use each worker's own seed.
    """

    def __init__(
        self,
        dataset: Dataset,
        severity: int = 3,
        width: int = 3,
        depth: int = -1,
        alpha: float = 1.0,
        preprocess: Callable[[Tensor], Tensor] | None = None,
        generator: torch.Generator | None = None,
    ) -> None:
        self.dataset = dataset
        self.severity, self.width, self.depth, self.alpha = severity, width, depth, alpha
        self.preprocess = preprocess
        self.generator = generator

    def __len__(self) -> int:
        return len(self.dataset)  # type: ignore[arg-type]

    def __getitem__(self, index: int) -> tuple[Tensor, Tensor, Tensor, Any]:
        image, y = self.dataset[index]
        image = _as_unit_float(image)
        views = [image] + [
            augmix(
                image, self.severity, self.width, self.depth, self.alpha, generator=self.generator
            )
            for _ in range(2)
        ]
        if self.preprocess is not None:
            views = [self.preprocess(v) for v in views]
        return views[0], views[1], views[2], y


def jensen_shannon_consistency(
    logits_clean: Tensor, logits_aug1: Tensor, logits_aug2: Tensor
) -> Tensor:
    """Jensen-Shannon divergence among the predictions on a clean image and two AugMix views.

    ``JS = (KL(p_c || M) + KL(p_1 || M) + KL(p_2 || M)) / 3`` with ``M = (p_c + p_1 + p_2) / 3``
    and ``p = softmax(logits)``. The mixture is taken in log space (logsumexp), so no clamping
    of ``M`` is needed (the reference code clamps it at 1e-7).

    Parameters
    ----------
    logits_clean, logits_aug1, logits_aug2 : (N, K) class scores.

    Returns
    -------
    Scalar tensor: mean over the batch, in nats, between 0 and log 3.
    """
    if not logits_clean.shape == logits_aug1.shape == logits_aug2.shape:
        raise ValueError(
            "the three logits must have the same (N, K) shape; got "
            f"{tuple(logits_clean.shape)}, {tuple(logits_aug1.shape)}, {tuple(logits_aug2.shape)}"
        )
    log_p = torch.stack(
        [F.log_softmax(x, dim=-1) for x in (logits_clean, logits_aug1, logits_aug2)]
    )
    log_m = torch.logsumexp(log_p, dim=0) - math.log(3.0)
    # spec: recurrent.md §5, Jensen-Shannon consistency = mean_i KL(p_i || M)
    kl = (log_p.exp() * (log_p - log_m)).sum(dim=-1)  # (3, N)
    return kl.mean(dim=0).mean()


def augmix_loss(
    logits_clean: Tensor,
    logits_aug1: Tensor,
    logits_aug2: Tensor,
    targets: Tensor,
    weight: float = 12.0,
) -> Tensor:
    """AugMix training loss: ``CE(clean, targets) + weight * JS(clean, aug1, aug2)``.

    Parameters
    ----------
    logits_clean, logits_aug1, logits_aug2 : (N, K) class scores on the three views.
    targets : (N,) class indices.
    weight : weight of the consistency term (12 in the source and the AugMix paper).

    Returns
    -------
    Scalar tensor.
    """
    # spec: recurrent.md §5, Jensen-Shannon consistency loss, weight 12
    return F.cross_entropy(logits_clean, targets) + weight * jensen_shannon_consistency(
        logits_clean, logits_aug1, logits_aug2
    )
