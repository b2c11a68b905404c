"""Self-supervised losses (spec mouse-and-entorhinal.md §1) against hand-computed values."""

import math

import numpy as np
import pytest
import torch

from brainlike.objectives import selfsupervised as L
from brainlike.train.tasks.selfsupervised import knn_accuracy


def t(rows):
    return torch.tensor(rows, dtype=torch.float64)


def test_nt_xent_of_orthogonal_pairs_by_hand():
    # views a = a' = e1, b = b' = e2, t = 1: each view sees its partner at similarity 1 and
    # the two others at 0, so every view's loss is -log(e / (e + 2))
    z = t([[1.0, 0.0], [0.0, 1.0]])
    assert float(L.nt_xent_loss(z, z.clone(), temperature=1.0)) == pytest.approx(
        math.log(1 + 2 / math.e), abs=1e-12
    )


def test_nt_xent_against_a_loop_over_views():
    rng = np.random.default_rng(0)
    z1, z2 = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    z = np.concatenate([z1, z2])
    z /= np.linalg.norm(z, axis=1, keepdims=True)
    temp, losses = 0.1, []
    for i in range(6):
        partner = (i + 3) % 6
        others = [j for j in range(6) if j != i]
        denom = sum(math.exp(z[i] @ z[j] / temp) for j in others)
        losses.append(-math.log(math.exp(z[i] @ z[partner] / temp) / denom))
    got = float(L.nt_xent_loss(t(z1), t(z2), temperature=temp))
    assert got == pytest.approx(np.mean(losses), rel=1e-10)


def test_instance_nce_by_hand():
    # f = positive = e1, one noise row e2, n = 2 images (m P_n = 1/2), Z = 1, t = 1:
    # h(pos) = e / (e + 1/2); 1 - h(noise) = (1/2) / (1 + 1/2) = 1/3
    f, pos, noise = t([[1.0, 0.0]]), t([[1.0, 0.0]]), t([[0.0, 1.0]])
    got = float(L.instance_nce_loss(f, pos, noise, n_data=2, z=1.0, temperature=1.0))
    assert got == pytest.approx(math.log(1 + 0.5 / math.e) + math.log(3), abs=1e-12)
    # Z = n E[exp(v . f / t)] over the noise rows: 10 * (e^0 + e^1) / 2
    z = L.estimate_partition(f, t([[0.0, 1.0], [1.0, 0.0]]), n_data=10, temperature=1.0)
    assert float(z) == pytest.approx(5 * (1 + math.e), abs=1e-12)


def test_memory_bank_update_moves_only_the_batch_rows_halfway_and_renormalises():
    bank = t([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0]])
    L.update_memory_bank(bank, torch.tensor([0]), t([[0.0, 1.0]]), momentum=0.5)
    s = 1 / math.sqrt(2)  # normalise(0.5 [1, 0] + 0.5 [0, 1])
    np.testing.assert_allclose(bank.numpy(), [[s, s], [0, 1], [1, 0]], atol=1e-12)


def test_info_nce_and_the_queue_ring_buffer():
    q, k, queue = t([[1.0, 0.0]]), t([[1.0, 0.0]]), t([[0.0, 1.0]])
    # logits [1, 0] / t with t = 1: -log(e / (e + 1))
    assert float(L.info_nce_loss(q, k, queue, 1.0)) == pytest.approx(math.log(1 + 1 / math.e))
    ring = torch.zeros(4, 2, dtype=torch.float64)
    pointer = L.enqueue(ring, 3, t([[1.0, 2.0], [3.0, 4.0]]))  # wraps: rows 3 then 0
    assert pointer == 1
    np.testing.assert_array_equal(ring.numpy(), [[3, 4], [0, 0], [0, 0], [1, 2]])
    pointer = L.enqueue(ring, pointer, t([[5.0, 6.0]]))
    assert pointer == 2 and ring[1].tolist() == [5, 6]


def test_momentum_update_of_the_key_encoder():
    key, query = torch.nn.Linear(1, 1, bias=False), torch.nn.Linear(1, 1, bias=False)
    with torch.no_grad():
        key.weight.fill_(0.0)
        query.weight.fill_(1.0)
    L.momentum_update(key, query, 0.9)
    assert float(key.weight.detach()) == pytest.approx(0.1)  # 0.9 * 0 + 0.1 * 1


def test_simsiam_value_and_stop_gradient():
    z1 = t([[1.0, 0.0]]).requires_grad_()
    z2 = t([[0.0, 1.0]]).requires_grad_()
    p1 = t([[1.0, 0.0]]).requires_grad_()
    p2 = t([[1.0, 1.0]]).requires_grad_()
    loss = L.simsiam_loss(p1, p2, z1, z2)
    # D(p1, z2) = -cos 90deg = 0, D(p2, z1) = -cos 45deg
    assert float(loss.detach()) == pytest.approx(-0.5 / math.sqrt(2), abs=1e-12)
    loss.backward()
    assert z1.grad is None and z2.grad is None  # nothing flows into z through the loss
    assert p1.grad is not None and float(p2.grad.abs().sum()) > 0


def test_barlow_twins_terms_by_hand():
    # both columns of z1 normalise to [-1, 1]; z2's to [-1, 1] and [1, -1]:
    # C = [[1, -1], [1, -1]], on-diagonal (1-1)^2 + (-1-1)^2 = 4, off-diagonal 1 + 1 = 2
    z1, z2 = t([[1.0, 2.0], [3.0, 4.0]]), t([[1.0, 4.0], [3.0, 2.0]])
    got = float(L.barlow_twins_loss(z1, z2, lambd=0.5, eps=0.0))
    assert got == pytest.approx(4 + 0.5 * 2, abs=1e-12)
    assert float(L.barlow_twins_loss(z1, z1, lambd=0.5, eps=0.0)) == pytest.approx(1.0)


def test_vicreg_terms_by_hand():
    z1 = t([[0.0, 0.0], [2.0, 2.0]])
    # invariance MSE((z1), z1 + 1) = 1; per-dimension variance 2 (std > 1: no hinge);
    # covariance [[2, 2], [2, 2]]: off-diagonal 2^2 + 2^2 = 8, / D = 4 per branch
    assert float(L.vicreg_loss(z1, z1 + 1)) == pytest.approx(25 * 1 + 0 + 1 * 8, abs=1e-9)
    z = t([[0.0, 0.0], [0.5, 0.5]])  # variance 0.125 per dimension: hinge 1 - sqrt(0.1251)
    hinge = 1 - math.sqrt(0.125 + 1e-4)
    cov = 2 * 0.125**2 / 2  # per branch
    assert float(L.vicreg_loss(z, z)) == pytest.approx(25 * hinge + 2 * cov, abs=1e-9)


def test_rotations_turn_counter_clockwise_in_quarter_steps():
    x = t([[[[1.0, 2.0], [3.0, 4.0]]]])
    turned, labels = L.rotations(x)
    assert labels.tolist() == [0, 1, 2, 3]
    expected = [[[1, 2], [3, 4]], [[2, 4], [1, 3]], [[4, 3], [2, 1]], [[3, 1], [4, 2]]]
    np.testing.assert_array_equal(turned[:, 0].numpy(), expected)


def test_sparse_autoencoder_loss_by_hand():
    x_hat, x = torch.zeros(1, 1, 2, 2), torch.ones(1, 1, 2, 2)
    h = torch.tensor([[1.0, -3.0]])
    # 0.5 MSE = 0.5; lambda / numel(h) ||h||_1 = 0.5 / 2 * 4 = 1
    assert float(L.sparse_autoencoder_loss(x_hat, x, h, sparsity=0.5)) == pytest.approx(1.5)


def test_depth_targets_are_z_scored_per_image():
    d = torch.tensor([[[[1.0, 2.0], [3.0, 4.0]]], [[[10.0, 10.0], [10.0, 30.0]]]])
    z = L.zscore_per_image(d, eps=0.0)
    s = math.sqrt(1.25)  # image 1: mean 2.5, biased variance 1.25
    np.testing.assert_allclose(z[0].flatten(), [-1.5 / s, -0.5 / s, 0.5 / s, 1.5 / s], rtol=1e-6)
    np.testing.assert_allclose(z[1].flatten(), [-1 / 3**0.5] * 3 + [3**0.5], rtol=1e-6)
    # predicting 0 everywhere costs 0.5 mean(z^2) = 0.5; predicting z costs 0
    assert float(L.depth_loss(torch.zeros_like(d), d)) == pytest.approx(0.5, abs=1e-5)
    assert float(L.depth_loss(z, d)) == pytest.approx(0.0, abs=1e-10)


def test_knn_vote_is_weighted_by_similarity():
    train = torch.tensor([[1.0, 0.0], [0.0, 1.0], [0.9, 0.1]])
    labels = torch.tensor([0, 1, 1])
    test = torch.tensor([[1.0, 0.0]])
    # k = 1: the nearest is [1, 0] (class 0)
    assert knn_accuracy(train, labels, test, torch.tensor([0]), k=1) == 1.0
    # k = 3, t = 1: class 0 gets e^1 = 2.72, class 1 gets e^0 + e^0.994 = 3.70
    assert knn_accuracy(train, labels, test, torch.tensor([1]), k=3, temperature=1.0) == 1.0
