"""CutMix and AugMix (spec: recurrent.md §5) against hand-computed cases and reference formulas."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy

from brainlike.objectives.mixing import (
    AugMixDataset,
    _numpy_rng,  # to replay cutmix's draws
    augmix,
    augmix_loss,
    cutmix,
    cutmix_box,
    cutmix_loss,
    jensen_shannon_consistency,
)


def _constant_batch(n=8, c=3, h=20, w=30):
    # image i is filled with the value i, so every pixel says which image it came from
    return torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, c, h, w).clone()


@pytest.mark.parametrize("seed", range(25))
def test_cutmix_lam_is_the_unpasted_area_and_pixels_come_from_the_right_image(seed):
    n, h, w = 8, 20, 30
    images = _constant_batch(n, 3, h, w)
    targets = torch.arange(n)
    mixed, ta, tb, lam = cutmix(images, targets, generator=torch.Generator().manual_seed(seed))
    assert torch.equal(ta, targets)
    assert sorted(tb.tolist()) == list(range(n))  # a permutation of the batch
    for i in range(n):
        j = int(tb[i])
        values = mixed[i].unique()
        assert set(values.tolist()) <= {float(i), float(j)}
        if j == i:
            continue
        pasted = mixed[i] == j  # (C, H, W)
        # the pasted region is the same rectangle in every channel ...
        assert torch.equal(pasted, pasted[:1].expand_as(pasted))
        rows, cols = pasted[0].any(dim=1), pasted[0].any(dim=0)
        assert int(pasted[0].sum()) == int(rows.sum()) * int(cols.sum())
        # ... and lam is exactly 1 - (pasted area / image area)
        assert lam == 1.0 - int(pasted[0].sum()) / (h * w)


def test_cutmix_lam_is_recomputed_after_clipping():
    # replay cutmix's draws (Beta sample, then the box) with the same generator state: the
    # returned lam is the clipped box's area, which differs from the Beta sample when clipped
    h, w = 16, 24
    images, targets = torch.rand(4, 1, h, w), torch.arange(4)
    clipped = 0
    for seed in range(100):
        replay = torch.Generator().manual_seed(seed)
        lam_sampled = float(_numpy_rng(replay).beta(1.0, 1.0))
        y0, y1, x0, x1 = cutmix_box(h, w, lam_sampled, replay)
        *_, lam = cutmix(images, targets, generator=torch.Generator().manual_seed(seed))
        assert lam == 1.0 - (y1 - y0) * (x1 - x0) / (h * w)
        clipped += lam > lam_sampled + 0.02
    assert clipped > 10


def test_cutmix_box_sides_and_clipping():
    g = torch.Generator().manual_seed(0)
    for _ in range(50):
        # 1 - lam = 0.25 -> sides of at most 8 of 16 (less where clipped by the border)
        y0, y1, x0, x1 = cutmix_box(16, 16, 0.75, g)
        assert 0 <= y0 <= y1 <= 16 and 0 <= x0 <= x1 <= 16
        assert y1 - y0 <= 8 and x1 - x0 <= 8
    y0, y1, x0, x1 = cutmix_box(16, 16, 1.0, g)
    assert y0 == y1 and x0 == x1  # lam = 1: nothing pasted
    with pytest.raises(ValueError, match="lam"):
        cutmix_box(16, 16, 1.5)


def test_cutmix_deterministic_and_prob_zero_is_identity():
    images = torch.rand(6, 3, 12, 12)
    targets = torch.arange(6)
    a = cutmix(images, targets, generator=torch.Generator().manual_seed(3))
    b = cutmix(images, targets, generator=torch.Generator().manual_seed(3))
    assert torch.equal(a[0], b[0]) and torch.equal(a[2], b[2]) and a[3] == b[3]
    mixed, ta, tb, lam = cutmix(images, targets, prob=0.0)
    assert mixed is images and torch.equal(tb, targets) and lam == 1.0


def test_cutmix_input_errors():
    with pytest.raises(ValueError, match="unsqueeze"):
        cutmix(torch.rand(3, 8, 8), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="alpha"):
        cutmix(torch.rand(2, 3, 8, 8), torch.zeros(2, dtype=torch.long), alpha=0.0)
    with pytest.raises(ValueError, match="entries"):
        cutmix(torch.rand(2, 3, 8, 8), torch.zeros(3, dtype=torch.long))


def test_cutmix_loss_against_hand_computation():
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]])
    ta, tb, lam = torch.tensor([0, 2]), torch.tensor([1, 1]), 0.7

    def ce(row, k):
        z = logits[row].tolist()
        return -(z[k] - math.log(sum(math.exp(v) for v in z)))

    expected = lam * (ce(0, 0) + ce(1, 2)) / 2 + (1 - lam) * (ce(0, 1) + ce(1, 1)) / 2
    assert float(cutmix_loss(logits, ta, tb, lam)) == pytest.approx(expected, rel=1e-6)


def _js_reference(*probs):
    # generalised Jensen-Shannon divergence with equal weights: H(mean) - mean H(p_i)
    probs = [np.asarray(p, dtype=float) for p in probs]
    return entropy(np.mean(probs, axis=0)) - np.mean([entropy(p) for p in probs])


def test_jsd_is_zero_for_identical_logits():
    logits = torch.randn(5, 7)
    assert float(jensen_shannon_consistency(logits, logits, logits)) == pytest.approx(0, abs=1e-7)


def test_jsd_two_class_hand_case():
    p = [[0.9, 0.1], [0.5, 0.5], [0.2, 0.8]]
    logits = [torch.tensor([q]).log() for q in p]
    got = float(jensen_shannon_consistency(*logits))
    # explicit formula: mean_i KL(p_i || M)
    m = np.mean(p, axis=0)
    explicit = np.mean(
        [sum(pi * math.log(pi / mi) for pi, mi in zip(q, m, strict=True)) for q in p]
    )
    assert got == pytest.approx(explicit, rel=1e-6)
    assert got == pytest.approx(_js_reference(*p), rel=1e-6)


def test_jsd_batch_mean_and_bounds():
    torch.manual_seed(0)
    la, lb, lc = (torch.randn(4, 5, dtype=torch.float64) * 3 for _ in range(3))
    got = float(jensen_shannon_consistency(la, lb, lc))
    sm = [torch.softmax(x, -1).numpy() for x in (la, lb, lc)]
    expected = np.mean([_js_reference(sm[0][i], sm[1][i], sm[2][i]) for i in range(4)])
    assert got == pytest.approx(expected, rel=1e-9)
    # far-apart one-hot predictions approach log 3
    one_hot = [torch.eye(3)[k : k + 1] * 50 for k in range(3)]
    assert float(jensen_shannon_consistency(*one_hot)) == pytest.approx(math.log(3), rel=1e-4)


def test_augmix_loss_is_ce_plus_weighted_jsd():
    torch.manual_seed(1)
    lc, l1, l2 = torch.randn(3, 6, 4).unbind(0)
    y = torch.tensor([0, 1, 2, 3, 0, 1])
    ce = torch.nn.functional.cross_entropy(lc, y)
    js = jensen_shannon_consistency(lc, l1, l2)
    assert float(augmix_loss(lc, l1, l2, y)) == pytest.approx(float(ce + 12.0 * js), rel=1e-6)
    assert float(augmix_loss(lc, l1, l2, y, weight=0.0)) == pytest.approx(float(ce), rel=1e-6)


def test_augmix_shape_range_and_seed_determinism():
    image = torch.rand(3, 32, 32)
    outs = [augmix(image, generator=torch.Generator().manual_seed(s)) for s in (0, 0, 1)]
    for out in outs:
        assert out.shape == image.shape and out.dtype == image.dtype
        assert float(out.min()) >= 0.0 and float(out.max()) <= 1.0
    assert torch.equal(outs[0], outs[1])
    assert not torch.equal(outs[0], outs[2])
    assert not torch.equal(outs[0], image)


def test_augmix_mixes_convexly_with_the_original():
    # autocontrast is the identity on an image that already spans [0, 1] in every channel, so
    # every chain returns x and the convex mix must give x back exactly (up to rounding)
    image = torch.rand(3, 16, 16)
    image[:, 0, 0], image[:, 0, 1] = 0.0, 1.0
    out = augmix(image, operations=["autocontrast"], generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(out, image, atol=1e-6, rtol=0)


def test_augmix_every_operation_runs_in_range():
    image = torch.rand(3, 24, 24)
    from brainlike.objectives.mixing import AUGMIX_OPERATIONS

    for name in AUGMIX_OPERATIONS:
        out = augmix(
            image, severity=10, operations=[name], generator=torch.Generator().manual_seed(2)
        )
        assert out.shape == image.shape and 0.0 <= float(out.min()) <= float(out.max()) <= 1.0


def test_augmix_input_errors():
    with pytest.raises(ValueError, match="to_dtype"):
        augmix(torch.zeros(3, 8, 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="preprocess"):
        augmix(torch.rand(3, 8, 8) * 2 - 1)
    with pytest.raises(ValueError, match="one image"):
        augmix(torch.rand(2, 3, 8, 8))
    with pytest.raises(ValueError, match="unknown AugMix"):
        augmix(torch.rand(3, 8, 8), operations=["blur"])


def test_augmix_dataset_yields_clean_and_two_views():
    data = [(torch.rand(3, 16, 16), k) for k in range(3)]
    ds = AugMixDataset(data, generator=torch.Generator().manual_seed(0))
    assert len(ds) == 3
    clean, a1, a2, y = ds[1]
    assert y == 1 and torch.equal(clean, data[1][0])
    assert a1.shape == a2.shape == clean.shape and not torch.equal(a1, a2)
    uint8 = AugMixDataset(
        [(torch.full((1, 8, 8), 255, dtype=torch.uint8), 0)], preprocess=lambda x: x - 0.5
    )
    clean, *_ = uint8[0]
    assert torch.allclose(clean, torch.full((1, 8, 8), 0.5))
