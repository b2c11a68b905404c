"""The stabilising operations of the alignment computation (spec learning-rules.md §4).

The local rules (weight mirror, information alignment) only train well with a few per-layer
operations applied inside the computation of a layer's alignment loss, never to the task's
forward pass (thesis §5.5 and §5.9; the Neural-Alignment code's ``AlignmentBase``). In that
computation a layer with forward weight W, backward weight B~ (B = B~^T) and bias b reads an
input x and forms

- the forward path output (FO) W x: the layer's own map (``r``);
- the backward path output (BO) B^T x: the same map applied with B~ to the backward path
  input (BI) x (:func:`~brainlike.rules.primitives.forward_map`);
- the reconstruction B FO of the input through the backward weight
  (:func:`~brainlike.rules.primitives.backward_map`).

The primitives read them: amp = -<FO, BO>, null = 1/2 ||B FO||^2 and sparse = 1/2 ||BO||^2
(batch-averaged; decay and self read no data). Each operation is a flag (the thesis' names,
lower case):

============  ===============================================================================
flag          operation
============  ===============================================================================
fo_bias       add the layer's bias b to FO
bo_bias       add the layer's bias b to BO
fo_relu       ReLU on FO (the reconstruction B FO is taken after it)
bo_relu       ReLU on BO
fo_bwmc       batch-wise mean-centre FO (and B FO): every feature has mean 0 over the batch
fo_fwmc       feature-wise mean-centre FO (and B FO): every sample has mean 0 over its features
fo_fwl2n      feature-wise centre and L2-normalise FO (and B FO): mean 0, norm 1 per sample
bo_fwmc       feature-wise mean-centre BO
bo_fwl2n      feature-wise centre and L2-normalise BO
bi_bwmc       batch-wise mean-centre the backward path input (BO reads the centred x)
bi_fwmc       feature-wise mean-centre the input of both paths
bi_fwl2n      feature-wise centre and L2-normalise the input of both paths
============  ===============================================================================

"Feature-wise" runs over all of one sample's features (C x H x W for a convolution), as the
reference code flattens them; "batch-wise" over the batch, per feature. Input noise replaces x
by Gaussian noise of std sigma, or uniform noise of the same variance (U(-sqrt(3) sigma,
sqrt(3) sigma)), before everything else.

Decisions. The bias is not a new learnable: it is the layer's own forward bias, detached,
added to either path (the reference code passes the layer's bias to both; thesis §5.5: the
operations "do not add any additional learnable parameters"). The nonlinearity is a ReLU
(the flags' names; the reference takes the layer's activation, which a PyTorch layer does not
know). The order is the reference code's: noise, BI feature-wise operations, BI batch
centring, the two maps, bias, ReLU, the reconstruction from FO after its ReLU, then FWMC,
FWL2N, BWMC on FO and the reconstruction, FWMC and FWL2N on BO.

Two places apply them. :func:`alignment_pair` turns the recorded pair (x, r) into the pair the
loss reads (noise, ``bi_fwmc``, ``bi_fwl2n``, ``fo_bias``: :data:`PAIR_FLAGS`): with none of
them the pair is the layer's (input, output) as the forward pass computed it, bias included;
on noise inputs r = W x (+ b with ``fo_bias``). :func:`stabilised_loss` applies the others
(:data:`LOSS_FLAGS`) inside the primitives, and their gradient goes through autograd
(:func:`~brainlike.rules.primitives.gradients` keeps the closed form for the flag-free case).
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from brainlike.rules import primitives

__all__ = [
    "FLAGS",
    "LOSS_FLAGS",
    "NOISE_DISTRIBUTIONS",
    "PAIR_FLAGS",
    "alignment_pair",
    "batch_centre",
    "check_flags",
    "default_flags",
    "draw_noise",
    "feature_centre",
    "feature_l2_normalise",
    "output_bias",
    "stabilised_loss",
]

#: flag -> what it does (see the module docstring)
FLAGS: dict[str, str] = {
    "fo_bias": "add the layer's bias to the forward path output W x",
    "bo_bias": "add the layer's bias to the backward path output B^T x",
    "fo_relu": "ReLU on the forward path output",
    "bo_relu": "ReLU on the backward path output",
    "fo_bwmc": "batch-wise mean-centre the forward path output (and B FO)",
    "fo_fwmc": "feature-wise mean-centre the forward path output (and B FO)",
    "fo_fwl2n": "feature-wise centre and L2-normalise the forward path output (and B FO)",
    "bo_fwmc": "feature-wise mean-centre the backward path output",
    "bo_fwl2n": "feature-wise centre and L2-normalise the backward path output",
    "bi_bwmc": "batch-wise mean-centre the backward path input",
    "bi_fwmc": "feature-wise mean-centre the input of both paths",
    "bi_fwl2n": "feature-wise centre and L2-normalise the input of both paths",
}
#: the flags that shape the pair (x, r) itself (:func:`alignment_pair`)
PAIR_FLAGS = ("fo_bias", "bi_fwmc", "bi_fwl2n")
#: the flags applied inside the loss (:func:`stabilised_loss`)
LOSS_FLAGS = tuple(f for f in FLAGS if f not in PAIR_FLAGS)
NOISE_DISTRIBUTIONS = ("gaussian", "uniform")

# which part of the computation each flag acts on, and the primitives that read that part
_READERS = {"fo": ("amp", "null"), "bo": ("amp", "sparse"), "bi": ("amp", "null", "sparse")}
_PART = {f: f.split("_")[0] for f in FLAGS}
_PART["bi_bwmc"] = "bo"  # only the backward path reads the batch-centred input


# -- the operations -----------------------------------------------------------------------------
def batch_centre(t: Tensor) -> Tensor:
    """``t`` minus its mean over the batch (dimension 0), per feature."""
    return t - t.mean(0, keepdim=True)


def feature_centre(t: Tensor) -> Tensor:
    """``t`` minus each sample's mean over all of its features."""
    flat = t.reshape(t.shape[0], -1)
    return (flat - flat.mean(1, keepdim=True)).reshape(t.shape)


def feature_l2_normalise(t: Tensor) -> Tensor:
    """Each sample centred over its features, then scaled to L2 norm 1 (norms below 1e-6 are
    taken as 1e-6, as ``tf.math.l2_normalize`` does)."""
    flat = feature_centre(t).reshape(t.shape[0], -1)
    return F.normalize(flat, dim=1, eps=1e-6).reshape(t.shape)


def output_bias(layer: nn.Module, y: Tensor) -> Tensor | None:
    """The layer's bias as it enters its output ``y`` (detached), or None: per channel for a
    convolution, along the last dimension(s) otherwise; with a locality-prior layer's
    ``bias_scale``."""
    b = getattr(layer, "bias", None)
    if not isinstance(b, Tensor):
        return None
    b = b.detach()
    scale = getattr(layer, "bias_scale", None)
    if isinstance(scale, Tensor):
        b = b * scale
    if layer.weight.dim() == 4 and b.dim() == 1:  # a convolution: one bias per channel
        return b.view(1, -1, *([1] * (y.dim() - 2)))
    return b


def draw_noise(
    like: Tensor, distribution: str, std: float, generator: torch.Generator | None = None
) -> Tensor:
    """Noise of ``like``'s shape, dtype and device: Gaussian of std ``std`` or uniform of the
    same variance. Without ``generator`` from torch's global generator (checkpointed with a
    run); with one, drawn on the CPU and moved."""
    if distribution not in NOISE_DISTRIBUTIONS:
        raise ValueError(
            f"noise distribution {distribution!r}; choose one of {', '.join(NOISE_DISTRIBUTIONS)}"
        )
    if generator is None:
        if distribution == "gaussian":
            return torch.randn_like(like) * std
        return (torch.rand_like(like) * 2 - 1) * (math.sqrt(3.0) * std)
    draw = torch.randn if distribution == "gaussian" else torch.rand
    xi = draw(like.shape, generator=generator, dtype=like.dtype).to(like.device)
    return xi * std if distribution == "gaussian" else (xi * 2 - 1) * (math.sqrt(3.0) * std)


# -- where they apply ---------------------------------------------------------------------------
def alignment_pair(
    layer: nn.Module,
    x: Tensor,
    r: Tensor,
    flags: Collection[str] = (),
    noise: tuple[str, float] | None = None,
) -> tuple[Tensor, Tensor]:
    """The pair (x, FO before its ReLU) the alignment loss reads, from the recorded pair.

    Parameters
    ----------
    layer : the converted layer.
    x, r : its recorded input and output (``r = W x + b`` as the forward pass computed it).
    flags : the flags in force; those of :data:`PAIR_FLAGS` act here.
    noise : ``(distribution, std)``: replace x by noise (torch's global generator).

    Returns
    -------
    ``(x, r)``: x after noise and the feature-wise input operations; r = W x, plus the bias
    with ``fo_bias``. Without noise or input operations and with ``fo_bias`` (or a layer
    without bias) the recorded pair itself.
    """
    recorded = True
    if noise is not None:
        x = draw_noise(x, *noise)
        recorded = False
    if "bi_fwmc" in flags:
        x = feature_centre(x)
        recorded = False
    if "bi_fwl2n" in flags:
        x = feature_l2_normalise(x)
        recorded = False
    with_bias = "fo_bias" in flags
    if recorded and (with_bias or output_bias(layer, r) is None):
        return x, r
    with torch.no_grad():
        fo = primitives.forward_map(layer, x, weight=primitives.forward_weight(layer))
        bias = output_bias(layer, fo) if with_bias else None
        return x, fo if bias is None else fo + bias


def _standardise(t: Tensor, flags: Collection[str], path: str) -> Tensor:
    if f"{path}_fwmc" in flags:
        t = feature_centre(t)
    if f"{path}_fwl2n" in flags:
        t = feature_l2_normalise(t)
    if f"{path}_bwmc" in flags:
        t = batch_centre(t)
    return t


def stabilised_loss(
    layer: nn.Module,
    x: Tensor,
    r: Tensor,
    coefficients: Mapping[str, float],
    flags: Collection[str],
) -> Tensor:
    """``sum(coef * primitive)`` with the operations of :data:`LOSS_FLAGS` applied.

    spec: learning-rules.md §4. ``(x, r)`` is the pair from :func:`alignment_pair` (r: FO
    before its ReLU). With no flag it equals :func:`~brainlike.rules.primitives.loss`.
    """
    check_flags(flags)
    misplaced = [f for f in flags if f in PAIR_FLAGS]
    if misplaced:
        raise ValueError(
            f"{', '.join(misplaced)} shape the pair (x, r): apply alignment_pair first and "
            f"pass only {', '.join(LOSS_FLAGS)} here"
        )
    n = primitives.instances(r)
    fo = r.detach()
    if "fo_relu" in flags:
        fo = F.relu(fo)
    bo = None
    if coefficients.get("amp", 0) != 0 or coefficients.get("sparse", 0) != 0:
        bo = primitives.forward_map(layer, batch_centre(x) if "bi_bwmc" in flags else x)
        bias = output_bias(layer, bo) if "bo_bias" in flags else None
        if bias is not None:
            bo = bo + bias
        if "bo_relu" in flags:
            bo = F.relu(bo)
        bo = _standardise(bo, flags, "bo")
    total = primitives.backward_weight(layer).new_zeros(())
    for name, coef in coefficients.items():
        if coef == 0:
            continue
        if name == "amp":
            term = -(_standardise(fo, flags, "fo") * bo).sum() / n
        elif name == "null":
            back = primitives.backward_map(layer, fo, x.shape)
            term = 0.5 * _standardise(back, flags, "fo").square().sum() / n
        elif name == "sparse":
            term = 0.5 * bo.square().sum() / n
        else:  # decay, self: no data
            term = primitives.PRIMITIVES[name](layer)
        total = total + coef * term
    return total


# -- which flags a rule takes -------------------------------------------------------------------
def default_flags(noise: bool) -> tuple[str, ...]:
    """The flags when none are given: on the layer's own input the alignment reads the pair
    the forward pass computed, bias included (``fo_bias``); on noise inputs W x alone (weight
    mirror's mirror steps)."""
    return () if noise else ("fo_bias",)


def check_flags(
    flags: Collection[str],
    rule: str | None = None,
    coefficients: Mapping[str, float] | None = None,
    noise: bool = False,
) -> None:
    """Refuse, with one line, an unknown or repeated flag, and (given the rule's name and
    coefficients) a flag or input noise that cannot change that rule's alignment loss.

    Raises
    ------
    ValueError
    """
    flags = list(flags)
    unknown = [f for f in flags if f not in FLAGS]
    if unknown:
        raise ValueError(
            f"unknown stabilising flag {unknown[0]!r}; flags: {', '.join(FLAGS)} (spec "
            "learning-rules.md §4)"
        )
    repeated = sorted({f for f in flags if flags.count(f) > 1})
    if repeated:
        raise ValueError(f"stabilising flag {repeated[0]} is listed twice")
    if rule is None or coefficients is None or not (flags or noise):
        return
    reads = [p for p in ("amp", "null", "sparse") if coefficients.get(p, 0) != 0]
    if not reads:
        terms = ", ".join(p for p, c in coefficients.items() if c != 0) or "none"
        what = " and ".join(
            w for w, on in (("stabilising flags", flags), ("input noise", noise)) if on
        )
        raise ValueError(
            f"{what} shape the data the alignment loss reads, and rule {rule}'s loss "
            f"(primitives: {terms}) reads none; they apply to weight_mirror, "
            "information_alignment and activation_alignment"
        )
    for f in flags:
        part = _PART[f]
        if not set(_READERS[part]) & set(reads):
            where = {"fo": "forward path output", "bo": "backward path"}[part]
            raise ValueError(
                f"stabilising flag {f} acts on the {where}, which rule {rule}'s loss "
                f"(primitives read: {', '.join(reads)}) does not read; drop it"
            )
