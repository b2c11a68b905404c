"""Self-supervised losses of the mouse visual cortex objectives (spec mouse-and-entorhinal.md §1).

Contrastive losses pull two views of one image together and push other images away: NT-Xent
(SimCLR) over the 2N views of a batch, the NCE of instance recognition (Wu et al. 2018)
against a memory bank holding one embedding per training image, and MoCo's InfoNCE against a
queue of keys from a momentum encoder. Non-contrastive losses avoid negatives: SimSiam's
stop-gradient, Barlow Twins' cross-correlation and VICReg's variance-invariance-covariance.
Pretext losses predict something of the image itself: its rotation (RotNet), the image
(sparse autoencoder) or a dense target such as depth.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "barlow_twins_loss",
    "depth_loss",
    "enqueue",
    "estimate_partition",
    "info_nce_loss",
    "instance_nce_loss",
    "momentum_update",
    "nt_xent_loss",
    "rotations",
    "simsiam_loss",
    "sparse_autoencoder_loss",
    "update_memory_bank",
    "vicreg_loss",
    "zscore_per_image",
]


# -- contrastive --------------------------------------------------------------------------------
def nt_xent_loss(z1: Tensor, z2: Tensor, temperature: float = 0.1) -> Tensor:
    """NT-Xent of SimCLR: each of the 2N views must pick its partner among the other 2N - 1.

    Parameters
    ----------
    z1, z2 : (N, D) projections of the two views (row i of each comes from image i).
    temperature : the softmax temperature (0.1 in the spec).

    Returns
    -------
    The mean over the 2N views of -log softmax(sim / t)[partner].
    """
    # spec: mouse-and-entorhinal.md §1, SimCLR: NT-Xent with temperature 0.1 over 2N views
    z = F.normalize(torch.cat([z1, z2]), dim=1)
    n = z1.shape[0]
    sim = z @ z.T / temperature
    sim = sim.masked_fill(torch.eye(2 * n, dtype=torch.bool, device=z.device), float("-inf"))
    partner = torch.cat([torch.arange(n, 2 * n), torch.arange(n)]).to(z.device)
    return F.cross_entropy(sim, partner)


def estimate_partition(f: Tensor, noise: Tensor, n_data: int, temperature: float) -> Tensor:
    """Monte-Carlo estimate of NCE's normalising constant Z = n E_j[exp(v_j . f / t)].

    Wu et al. (2018) treat Z as a constant, estimated once from the first batch's noise
    samples and kept fixed; ``f`` (N, D) are normalised features, ``noise`` (m, D) bank rows.
    """
    return n_data * torch.exp(f @ noise.T / temperature).mean()


def instance_nce_loss(
    f: Tensor, positive: Tensor, noise: Tensor, n_data: int, z: Tensor | float, temperature: float
) -> Tensor:
    """The NCE loss of instance recognition against a memory bank (Wu et al. 2018).

    P(i | f) = exp(v_i . f / t) / Z; with uniform noise P_n = 1 / n and m noise samples,
    h(i, f) = P(i | f) / (P(i | f) + m P_n). The loss is -log h(positive) - sum log(1 - h(noise)).

    Parameters
    ----------
    f : (N, D) L2-normalised features of the batch.
    positive : (N, D) the bank rows of the batch's own images.
    noise : (m, D) bank rows drawn uniformly (shared by the batch).
    n_data : n, the number of training images (the bank's rows).
    z : the normalising constant (:func:`estimate_partition`).
    temperature : t (0.07 in the spec).
    """
    # spec: mouse-and-entorhinal.md §1, instance recognition: NCE, m noise samples, t = 0.07
    m = noise.shape[0]
    mpn = m / n_data  # m P_n(i)
    p_pos = torch.exp((f * positive).sum(1) / temperature) / z
    p_neg = torch.exp(f @ noise.T / temperature) / z
    log_h_pos = torch.log(p_pos / (p_pos + mpn))
    log_1m_h_neg = torch.log(mpn / (p_neg + mpn))
    return -(log_h_pos + log_1m_h_neg.sum(1)).mean()


@torch.no_grad()
def update_memory_bank(bank: Tensor, index: Tensor, f: Tensor, momentum: float = 0.5) -> None:
    """v_i <- normalise(momentum v_i + (1 - momentum) f_i) for the batch's rows, in place."""
    # spec: mouse-and-entorhinal.md §1, bank update v <- normalise(0.5 v + 0.5 f)
    bank[index] = F.normalize(momentum * bank[index] + (1 - momentum) * f.detach(), dim=1)


def info_nce_loss(q: Tensor, k: Tensor, queue: Tensor, temperature: float = 0.2) -> Tensor:
    """MoCo's InfoNCE: each query must pick its own key among the key and the K queued keys.

    ``q`` (N, D) queries and ``k`` (N, D) keys (both L2-normalised; ``k`` carries no
    gradient), ``queue`` (K, D) keys of earlier batches.
    """
    # spec: mouse-and-entorhinal.md §1, MoCo v2: queue of keys, temperature 0.2
    l_pos = (q * k).sum(1, keepdim=True)
    l_neg = q @ queue.T
    logits = torch.cat([l_pos, l_neg], dim=1) / temperature
    return F.cross_entropy(logits, torch.zeros(q.shape[0], dtype=torch.long, device=q.device))


@torch.no_grad()
def enqueue(queue: Tensor, pointer: int, keys: Tensor) -> int:
    """Write ``keys`` into the ring buffer ``queue`` at ``pointer`` (replacing the oldest keys,
    wrapping at the end); returns the new pointer."""
    size = queue.shape[0]
    rows = (pointer + torch.arange(keys.shape[0], device=queue.device)) % size
    queue[rows] = keys.detach()
    return int((pointer + keys.shape[0]) % size)


@torch.no_grad()
def momentum_update(key: torch.nn.Module, query: torch.nn.Module, momentum: float) -> None:
    """MoCo's key encoder: theta_k <- m theta_k + (1 - m) theta_q (parameters only)."""
    # spec: mouse-and-entorhinal.md §1, MoCo v2: momentum key encoder 0.999
    keys, queries = list(key.parameters()), [p.detach() for p in query.parameters()]
    if len(keys) != len(queries):
        raise ValueError("the key encoder and the query encoder have different parameters")
    # theta_k + (1 - m)(theta_q - theta_k), one fused update over every tensor
    torch._foreach_lerp_(keys, queries, 1 - momentum)


# -- non-contrastive ----------------------------------------------------------------------------
def simsiam_loss(p1: Tensor, p2: Tensor, z1: Tensor, z2: Tensor) -> Tensor:
    """0.5 [D(p1, sg(z2)) + D(p2, sg(z1))], D the negative cosine similarity (mean over the batch).

    The stop-gradient sg: no gradient reaches ``z1``/``z2`` through this loss (they still get
    one through the predictions ``p``, computed from them).
    """

    # spec: mouse-and-entorhinal.md §1, SimSiam
    def d(p: Tensor, z: Tensor) -> Tensor:
        return -F.cosine_similarity(p, z.detach(), dim=1).mean()

    return 0.5 * (d(p1, z2) + d(p2, z1))


def barlow_twins_loss(z1: Tensor, z2: Tensor, lambd: float = 5e-3, eps: float = 1e-5) -> Tensor:
    """Barlow Twins: sum_i (1 - C_ii)^2 + lambda sum_{i != j} C_ij^2.

    C is the (D, D) cross-correlation of the two views' embeddings, each normalised over the
    batch to zero mean and unit (biased) variance, C = z1n^T z2n / N.
    """
    n = z1.shape[0]

    def norm(z: Tensor) -> Tensor:
        return (z - z.mean(0)) / torch.sqrt(z.var(0, unbiased=False) + eps)

    c = norm(z1).T @ norm(z2) / n
    on = (torch.diagonal(c) - 1).pow(2).sum()
    off = c.pow(2).sum() - torch.diagonal(c).pow(2).sum()
    return on + lambd * off


def vicreg_loss(
    z1: Tensor,
    z2: Tensor,
    sim_weight: float = 25.0,
    var_weight: float = 25.0,
    cov_weight: float = 1.0,
    eps: float = 1e-4,
) -> Tensor:
    """VICReg: invariance (MSE between views), variance (hinge at 1 on each dimension's standard
    deviation, sqrt(var + eps)) and covariance (squared off-diagonal covariances / D).
    """
    n, dim = z1.shape
    invariance = F.mse_loss(z1, z2)

    def variance(z: Tensor) -> Tensor:
        return F.relu(1 - torch.sqrt(z.var(0) + eps)).mean()

    def covariance(z: Tensor) -> Tensor:
        zc = z - z.mean(0)
        cov = zc.T @ zc / (n - 1)
        return (cov.pow(2).sum() - torch.diagonal(cov).pow(2).sum()) / dim

    var = 0.5 * (variance(z1) + variance(z2))
    cov = covariance(z1) + covariance(z2)
    return sim_weight * invariance + var_weight * var + cov_weight * cov


# -- pretext tasks -------------------------------------------------------------------------------
def rotations(x: Tensor) -> tuple[Tensor, Tensor]:
    """Each image at 0, 90, 180 and 270 degrees (RotNet): (4N, C, H, W) images and labels 0..3.

    Rotation k turns the image by k x 90 degrees counter-clockwise (``torch.rot90`` over the
    (H, W) axes); the batch is ordered rotation-major.
    """
    # spec: mouse-and-entorhinal.md §1, RotNet: 0/90/180/270 degrees, 4-way cross-entropy
    turned = torch.cat([torch.rot90(x, k, dims=(2, 3)) for k in range(4)])
    labels = torch.arange(4, device=x.device).repeat_interleave(x.shape[0])
    return turned, labels


def sparse_autoencoder_loss(x_hat: Tensor, x: Tensor, h: Tensor, sparsity: float = 5e-4) -> Tensor:
    """0.5 MSE(x_hat, x) + (lambda / numel(h)) ||h||_1."""
    # spec: mouse-and-entorhinal.md §1, sparse autoencoder, lambda = 5e-4
    return 0.5 * F.mse_loss(x_hat, x) + (sparsity / h.numel()) * h.abs().sum()


def zscore_per_image(target: Tensor, eps: float = 1e-6) -> Tensor:
    """Each image's map (N, K, H, W) minus its mean, over its (biased) standard deviation."""
    flat = target.flatten(1)
    mean = flat.mean(1).view(-1, *[1] * (target.dim() - 1))
    std = flat.std(1, unbiased=False).view(-1, *[1] * (target.dim() - 1))
    return (target - mean) / (std + eps)


def depth_loss(prediction: Tensor, depth: Tensor) -> Tensor:
    """0.5 MSE of the prediction against the per-image z-scored depth map."""
    # spec: mouse-and-entorhinal.md §1, depth prediction
    return 0.5 * F.mse_loss(prediction, zscore_per_image(depth))
