"""The suite's behaviour reference: a simulated observer and a model's behaviour scores."""

from __future__ import annotations

import numpy as np

from brainlike.evaluation.observer import behaviour_scores, observer_trials


def test_observer_answers_with_the_pairwise_probability():
    logits = np.log(np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]]))
    trials = observer_trials(
        logits,
        np.array([0, 2]),
        ["a", "b"],
        ["x", "y", "z"],
        n_subjects=50,
        repeats=40,
        temperature=1.0,
        seed=0,
    )
    assert len(trials) == 2 * 50 * 40
    for img, o, p in (("a", 0, [0.6, 0.3, 0.1]), ("b", 2, [0.2, 0.2, 0.6])):
        for d in {0, 1, 2} - {o}:
            m = (trials.image == img) & (trials.distractor == "xyz"[d])
            correct = (trials.choice[m] == "xyz"[o]).mean()
            expected = p[o] / (p[o] + p[d])
            # binomial s.e. over ~1000 trials is ~0.015
            assert abs(correct - expected) < 0.05, (img, d, correct, expected)


def test_the_observers_own_network_is_behaviourally_consistent_and_noise_is_not():
    rng = np.random.default_rng(0)
    n, k = 120, 5
    true = np.repeat(np.arange(k), n // k)
    logits = rng.normal(0, 1.0, (n, k))
    logits[np.arange(n), true] += rng.uniform(0.0, 3.0, n)  # images differ in difficulty
    ids = [f"i{j}" for j in range(n)]
    trials = observer_trials(
        logits,
        true,
        ids,
        [str(c) for c in range(k)],
        n_subjects=6,
        repeats=6,
        temperature=1.0,
        seed=1,
    )
    same = behaviour_scores(logits, true, ids, trials)
    other = behaviour_scores(rng.normal(0, 1.0, (n, k)), true, ids, trials)
    assert same["i2n_ceiled"] > 0.5 > other["i2n_ceiled"]
    assert same["error_kappa"] > other["error_kappa"]
    assert 0.0 <= same["accuracy"] <= 1.0
