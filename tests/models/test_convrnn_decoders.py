"""ConvRNN decoders on constructed logit sequences: threshold crossing, peak fallback, max
confidence and its beta, the start offset, gradients and input checks (spec: recurrent.md §1)."""

import math

import pytest
import torch
from torch.nn import functional as F

from brainlike.models.convrnn.decoders import DECODERS, Decoder, make_decoder


def logits(*gaps: list[float], k: int = 3) -> torch.Tensor:
    """z (T, B, K) with z[t, b] = [gap, 0, ..., 0]: max softmax prob e^gap / (e^gap + k - 1)."""
    z = torch.zeros(len(gaps[0]), len(gaps), k, dtype=torch.float64)
    for b, seq in enumerate(gaps):
        z[:, b, 0] = torch.tensor(seq, dtype=torch.float64)
    return z


def p_max(gap: float, k: int = 3) -> float:
    return math.exp(gap) / (math.exp(gap) + k - 1)


# threshold 0.9 needs gap >= ln 18 = 2.89 with K = 3
CROSSES_AT_2 = [0.0, 1.0, 3.0, 2.0, 4.0]
NEVER_PEAKS_AT_3 = [0.0, 1.0, 1.5, 2.5, 0.5]


def test_constructed_probabilities():
    assert p_max(3.0) >= 0.9 > p_max(2.5)
    assert set(DECODERS) == {"default", "last", "threshold", "max_confidence"}


@pytest.mark.parametrize("kind", ["default", "last"])
def test_last_step(kind):
    z = logits(CROSSES_AT_2, NEVER_PEAKS_AT_3)
    dec = make_decoder(kind, start=2)
    assert dec.choose_steps(z).tolist() == [4, 4]
    torch.testing.assert_close(dec(z), z[4])


def test_threshold_crossing_and_peak_fallback():
    z = logits(CROSSES_AT_2, NEVER_PEAKS_AT_3)
    dec = make_decoder("threshold")
    out, steps = dec(z, return_steps=True)
    assert steps.tolist() == [2, 3]
    assert dec.choose_steps(z).dtype == torch.long
    torch.testing.assert_close(out, torch.stack([z[2, 0], z[3, 1]]))
    # a lower threshold is crossed earlier: p_max(1.0) = 0.576
    assert make_decoder("threshold", threshold=0.55).choose_steps(z).tolist() == [1, 1]
    # threshold 1 is never reached: both fall back to their peak
    assert make_decoder("threshold", threshold=1.0).choose_steps(z).tolist() == [4, 3]


def test_start_offset_is_respected_and_steps_are_absolute():
    z = logits(CROSSES_AT_2, NEVER_PEAKS_AT_3)
    # from step 3: item 0 crosses at 4 (step 2 is skipped); item 1 peaks at 3
    assert make_decoder("threshold", start=3).choose_steps(z).tolist() == [4, 3]
    # from step 4 only step 4 is left
    assert make_decoder("threshold", start=4).choose_steps(z).tolist() == [4, 4]
    # max confidence of item 1 from step 4 onward: the only candidate, not the global peak 3
    assert make_decoder("max_confidence", start=4).choose_steps(z).tolist() == [4, 4]
    out = make_decoder("max_confidence", start=4)(z)
    torch.testing.assert_close(out, z[4])


def test_max_confidence_picks_the_most_confident_step():
    z = logits(CROSSES_AT_2, NEVER_PEAKS_AT_3, [5.0, 1.0, 0.0, 0.2, 4.9])
    dec = make_decoder("max_confidence")
    assert dec.choose_steps(z).tolist() == [4, 3, 0]
    conf = dec.confidence(z)
    assert conf.shape == (5, 3)
    assert conf[2, 0].item() == pytest.approx(p_max(3.0))


def test_beta_changes_the_choice():
    # step 0: [2, 0, 0] (two distractors 2 below); step 1: [1, 0, -100] (one distractor 1 below).
    # conf_0 > conf_1  <=>  2 e^{-2 beta} < e^{-beta}  <=>  beta > ln 2.
    z = torch.tensor([[[2.0, 0.0, 0.0]], [[1.0, 0.0, -100.0]]], dtype=torch.float64)
    assert make_decoder("max_confidence", beta=1.0).choose_steps(z).tolist() == [0]
    assert make_decoder("max_confidence", beta=0.5).choose_steps(z).tolist() == [1]
    # the beta-scaled confidence by hand at beta = 0.5
    conf = make_decoder("max_confidence", beta=0.5).confidence(z)[:, 0]
    expected = [1 / (1 + 2 * math.exp(-1.0)), 1 / (1 + math.exp(-0.5) + math.exp(-50.5))]
    assert conf.tolist() == pytest.approx(expected)
    # the output is the chosen step's unscaled logits
    torch.testing.assert_close(make_decoder("max_confidence", beta=0.5)(z), z[1])


@pytest.mark.parametrize("kind", ["last", "threshold", "max_confidence"])
def test_gradients_reach_only_the_chosen_steps(kind):
    z = logits(CROSSES_AT_2, NEVER_PEAKS_AT_3).requires_grad_(True)
    dec = make_decoder(kind)
    out = dec(z)
    (out * torch.tensor([[1.0, 2.0, 3.0]], dtype=torch.float64)).sum().backward()
    steps = dec.choose_steps(z)
    expected = torch.zeros_like(z)
    for b, t in enumerate(steps.tolist()):
        expected[t, b] = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(z.grad, expected)


def test_trainable_beta_straight_through():
    z = logits(CROSSES_AT_2, NEVER_PEAKS_AT_3, [5.0, 1.0, 0.0, 0.2, 4.9]).requires_grad_(True)
    dec = make_decoder("max_confidence", beta=1.0, trainable_beta=True).double()
    assert [n for n, _ in dec.named_parameters()] == ["beta"]
    assert "beta" in dec.state_dict()
    target = torch.tensor([1, 0, 0])
    dec.train()
    out = dec(z)
    torch.testing.assert_close(out, dec.eval()(z).detach(), rtol=0, atol=0)  # hard value
    F.cross_entropy(out, target).backward()
    assert dec.beta.grad is not None and dec.beta.grad.abs() > 0
    assert torch.isfinite(z.grad).all()
    # evaluation mode: hard selection only, beta gets no gradient
    dec.zero_grad()
    out = dec.eval()(z)
    F.cross_entropy(out, target).backward()
    assert dec.beta.grad is None


def test_trainable_beta_gradient_is_the_documented_straight_through_estimate():
    # d loss / d beta = sum_t (g . z_t) d w_t / d beta, with g = d loss / d output at the hard
    # choice and w = softmax_t(max softmax(beta z_t) / temperature); checked by finite differences
    z = torch.tensor([[[2.0, 0.0, 0.0]], [[0.0, 1.5, 0.0]], [[0.5, 0.0, 1.0]]], dtype=torch.float64)
    target = torch.tensor([0])
    dec = make_decoder("max_confidence", beta=1.3, trainable_beta=True, temperature=0.2)
    dec = dec.double().train()
    assert dec.choose_steps(z).tolist() == [0]
    F.cross_entropy(dec(z), target).backward()
    g = F.softmax(z[0, 0], dim=-1) - F.one_hot(target[0], 3)  # d CE / d logits at step 0

    def f(beta: float) -> float:
        conf = F.softmax(beta * z[:, 0], dim=-1).amax(dim=-1)
        w = F.softmax(conf / 0.2, dim=0)
        return float((w * (z[:, 0] @ g)).sum())

    eps = 1e-6
    numeric = (f(1.3 + eps) - f(1.3 - eps)) / (2 * eps)
    assert abs(numeric) > 1e-3
    assert dec.beta.grad.item() == pytest.approx(numeric, rel=1e-6)


def test_input_checks():
    z = torch.zeros(4, 2, 3)
    with pytest.raises(ValueError, match=r"shape \(T, B, K\), got shape \(2, 3\)"):
        make_decoder("last")(z[0])
    with pytest.raises(ValueError, match="starts at step 4 but the logits have only T=4"):
        make_decoder("threshold", start=4)(z)
    with pytest.raises(ValueError, match=r"threshold is a probability in \(0, 1\]"):
        make_decoder("threshold", threshold=0.0)
    with pytest.raises(ValueError, match=r"\(0, 1\]"):
        make_decoder("threshold", threshold=1.5)
    with pytest.raises(ValueError, match="unknown decoder 'vote'; decoders: default"):
        make_decoder("vote")
    with pytest.raises(ValueError, match="only applies to the 'max_confidence'"):
        make_decoder("threshold", trainable_beta=True)
    with pytest.raises(ValueError, match="beta must be"):
        make_decoder("max_confidence", beta=0.0)
    with pytest.raises(ValueError, match="start must be"):
        Decoder("last", start=-1)
