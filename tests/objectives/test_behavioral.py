"""Superclass behavioural regulariser (spec: recurrent.md §5) against hand-computed cases."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from brainlike.objectives.behavioral import (
    CIFAR100_CLASSES,
    CIFAR100_SUPERCLASSES,
    SuperclassRegularizer,
    check_grouping,
    cifar100_grouping,
    grouping_from_superclasses,
    superclass_probabilities,
)

# classes 0 and 2 form superclass 0, classes 1 and 3 superclass 1
GROUPING = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
# softmax of these logits is (1, 2, 3, 4) / 10, so superclass probabilities are (0.4, 0.6)
LOGITS = torch.log(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))


def test_superclass_probabilities_match_hand_computation_and_sum_to_one():
    p = superclass_probabilities(LOGITS, GROUPING)
    torch.testing.assert_close(p, torch.tensor([[0.4, 0.6]]))
    logits = torch.randn(16, 4, generator=torch.Generator().manual_seed(0)) * 5
    p = superclass_probabilities(logits, GROUPING.numpy())
    torch.testing.assert_close(p.sum(dim=1), torch.ones(16))
    torch.testing.assert_close(p, F.softmax(logits, dim=1) @ GROUPING)


def test_regularizer_kl_and_ce_against_hand_computation():
    targets = torch.tensor([[0.7, 0.3], [0.2, 0.8], [1.0, 0.0], [0.5, 0.5]])
    logits = torch.cat([LOGITS, LOGITS])
    labels = torch.tensor([0, 2])  # targets (0.7, 0.3) and (1, 0); prediction (0.4, 0.6) twice
    kl = (0.7 * math.log(0.7 / 0.4) + 0.3 * math.log(0.3 / 0.6) + 1.0 * math.log(1.0 / 0.4)) / 2
    ce = (-(0.7 * math.log(0.4) + 0.3 * math.log(0.6)) - math.log(0.4)) / 2
    reg_kl = SuperclassRegularizer(GROUPING, targets, weight=0.5, divergence="kl")
    reg_ce = SuperclassRegularizer(GROUPING, targets, weight=0.5, divergence="ce")
    assert reg_kl(logits, labels).item() == pytest.approx(0.5 * kl, rel=1e-6)
    assert reg_ce(logits, labels).item() == pytest.approx(0.5 * ce, rel=1e-6)


def test_default_targets_are_the_one_hot_true_superclass():
    reg = SuperclassRegularizer(GROUPING)
    # labels 1 and 3 are in superclass 1 (p = 0.6); KL = CE = -log 0.6
    loss = reg(torch.cat([LOGITS, LOGITS]), torch.tensor([1, 3]))
    assert loss.item() == pytest.approx(-math.log(0.6), rel=1e-6)
    assert SuperclassRegularizer(GROUPING, divergence="ce")(LOGITS, torch.tensor([1])).item() == (
        pytest.approx(-math.log(0.6), rel=1e-6)
    )


def test_zero_kl_when_prediction_equals_target_and_ce_is_the_target_entropy():
    targets = torch.tensor([[0.4, 0.6]] * 4)
    assert SuperclassRegularizer(GROUPING, targets)(LOGITS, torch.tensor([0])).item() == (
        pytest.approx(0.0, abs=1e-6)
    )
    entropy = -(0.4 * math.log(0.4) + 0.6 * math.log(0.6))
    ce = SuperclassRegularizer(GROUPING, targets, divergence="ce")(LOGITS, torch.tensor([3]))
    assert ce.item() == pytest.approx(entropy, rel=1e-6)


def test_regularizer_is_stable_for_extreme_logits_and_differentiable():
    logits = torch.tensor([[200.0, -200.0, 0.0, -200.0]], requires_grad=True)
    loss = SuperclassRegularizer(GROUPING)(logits, torch.tensor([1]))
    # log p(superclass 1) = logsumexp(-200, -200) - 200 = -400 + log 2
    assert loss.item() == pytest.approx(400.0 - math.log(2.0), rel=1e-6)
    loss.backward()
    assert torch.isfinite(logits.grad).all()


def test_from_superclass_confusion_expands_rows_by_true_superclass():
    confusion = torch.tensor(
        [[8.0, 2.0], [1.0, 3.0]]
    )  # counts; rows normalise to 0.8/0.2, 0.25/0.75
    reg = SuperclassRegularizer.from_superclass_confusion(GROUPING, confusion)
    expected = torch.tensor([[0.8, 0.2], [0.25, 0.75], [0.8, 0.2], [0.25, 0.75]])
    torch.testing.assert_close(reg.targets, expected)


def test_grouping_validation_names_the_bad_rows():
    with pytest.raises(ValueError, match="row 1 in 0"):
        check_grouping(torch.tensor([[1.0, 0.0], [0.0, 0.0]]))
    with pytest.raises(ValueError, match="row 0 in 2"):
        check_grouping(np.array([[1, 1], [0, 1]]))
    with pytest.raises(ValueError, match="rows 1 hold other values"):
        check_grouping(torch.tensor([[1.0, 0.0], [0.5, 0.5]]))
    with pytest.raises(ValueError, match="columns 2 have no member"):
        check_grouping(torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    with pytest.raises(ValueError, match="matrix"):
        check_grouping(torch.ones(4))
    with pytest.raises(ValueError, match="4 rows .* model has 5 classes"):
        superclass_probabilities(torch.zeros(1, 5), GROUPING)
    with pytest.raises(ValueError, match="rows 1 sum to"):
        SuperclassRegularizer(GROUPING, torch.tensor([[1.0, 0.0], [0.5, 0.4], [1, 0], [1, 0]]))
    with pytest.raises(ValueError, match="divergence"):
        SuperclassRegularizer(GROUPING, divergence="js")
    with pytest.raises(ValueError, match="'cat' in 0"):
        grouping_from_superclasses(["cat", "dog"], {"animal": ["dog"]})


# the dataset's own coarse_labels for fine labels 0..99 (CIFAR-100 'train' meta)
CIFAR100_COARSE_LABELS = [
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11, 6, 11, 5, 10, 7, 6, 13,
    15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5, 5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4,
    17, 4, 2, 0, 17, 4, 18, 17, 10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13,
    15, 13, 16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
]  # fmt: skip


def test_cifar100_grouping_is_the_standard_coarse_labelling():
    g = cifar100_grouping()
    assert g.shape == (100, 20)
    assert torch.equal(g.sum(dim=0), torch.full((20,), 5.0))
    assert torch.equal(g.sum(dim=1), torch.ones(100))
    assert all(len(m) == 5 for m in CIFAR100_SUPERCLASSES.values())
    # torchvision's CIFAR100.classes is the alphabetical fine-label list
    assert len(CIFAR100_CLASSES) == 100 and list(CIFAR100_CLASSES) == sorted(CIFAR100_CLASSES)
    assert CIFAR100_CLASSES[:4] == ("apple", "aquarium_fish", "baby", "bear")
    assert g.argmax(dim=1).tolist() == CIFAR100_COARSE_LABELS
    coarse = list(CIFAR100_SUPERCLASSES)
    assert coarse[0] == "aquatic_mammals" and coarse[-1] == "vehicles_2"

    def members(name):
        column = g[:, coarse.index(name)]
        return {CIFAR100_CLASSES[i] for i in torch.nonzero(column).flatten().tolist()}

    assert members("aquatic_mammals") == {"beaver", "dolphin", "otter", "seal", "whale"}
    assert members("fish") == {"aquarium_fish", "flatfish", "ray", "shark", "trout"}
    assert members("people") == {"baby", "boy", "girl", "man", "woman"}
    assert members("vehicles_2") == {"lawn_mower", "rocket", "streetcar", "tank", "tractor"}
