"""Markov chain over size states: binning, maximum-likelihood transitions, stationarity
(or its absence), convergence, survival and the sampler (brainlike.analysis.synapses.markov),
and the trajectory statistics of brainlike.analysis.synapses.trajectories."""

import numpy as np
import pytest

from brainlike.analysis.synapses.markov import (
    bootstrap_stationary,
    convergence,
    fit_markov,
    fit_transitions,
    model_survival,
    sample_states,
    sample_trajectories,
    size_states,
    stationary_distribution,
)
from brainlike.analysis.synapses.trajectories import (
    aligned_trajectories,
    change_cross_correlation,
    size_change_over_time,
    survival_fraction,
)

KNOWN = np.array(
    [
        [0.90, 0.10, 0.00, 0.00],
        [0.05, 0.80, 0.15, 0.00],
        [0.00, 0.20, 0.60, 0.20],
        [0.00, 0.00, 0.30, 0.70],
    ]
)


def test_fit_recovers_a_known_transition_matrix():
    rng = np.random.default_rng(0)
    seqs = sample_states(KNOWN, rng.integers(0, 4, 3000), 12, rng)
    counts, p = fit_transitions(seqs, 4)
    assert counts.sum() == 3000 * 11
    # each row has at least ~5,000 steps: the standard error of an entry is below 0.006
    np.testing.assert_allclose(p, KNOWN, atol=0.02)
    np.testing.assert_array_equal(p[KNOWN == 0], 0)


def test_stationary_distribution_of_known_chains_is_exact():
    # birth-death chain: detailed balance gives pi = (1, 2, 1) / 4
    p = np.array([[0.5, 0.5, 0.0], [0.25, 0.5, 0.25], [0.0, 0.5, 0.5]])
    st = stationary_distribution(p)
    assert st.irreducible and st.unique
    np.testing.assert_allclose(st.distribution, [0.25, 0.5, 0.25], atol=1e-14)
    a, b = 0.3, 0.1  # two states: pi = (b, a) / (a + b)
    st2 = stationary_distribution(np.array([[1 - a, a], [b, 1 - b]]))
    np.testing.assert_allclose(st2.distribution, [0.25, 0.75], atol=1e-14)
    # the known 4-state chain: pi P = pi
    pi = stationary_distribution(KNOWN).distribution
    np.testing.assert_allclose(pi @ KNOWN, pi, atol=1e-14)
    assert pi.sum() == pytest.approx(1.0)


def test_a_reducible_chain_is_reported_not_given_an_arbitrary_eigenvector():
    p = np.array(
        [[0.5, 0.5, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0], [0.0, 0.0, 0.2, 0.8], [0.0, 0.0, 0.6, 0.4]]
    )
    st = stationary_distribution(p)
    assert st.distribution is None and not st.irreducible and not st.unique
    assert st.closed_classes == [[0, 1], [2, 3]]
    assert st.message.startswith("the chain is not irreducible: it has 2 closed classes")
    # one closed class and a transient state: reducible but the stationary one is unique
    q = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5], [0.0, 0.5, 0.5]])
    st = stationary_distribution(q)
    assert st.unique and not st.irreducible
    np.testing.assert_allclose(st.distribution, [0.0, 0.5, 0.5], atol=1e-14)
    assert "states [0] are transient" in st.message
    # a state entered but never left (its row unknown)
    r = np.array([[0.5, 0.5], [np.nan, np.nan]])
    st = stationary_distribution(r)
    assert st.distribution is None and "state 1 is entered but never left" in st.message


def test_every_size_lands_in_exactly_one_state():
    sizes = np.array([0.0, 0.5, 1.0, 1.01, 19.0, 19.5, 40.0, 2.0])
    st = size_states(sizes, n_states=20, binning="equal_width", n_width_bins=40)
    # width 40/40 = 1: states (0,1], (1,2], ..., (18,19] and the merged tail (19, 40]
    np.testing.assert_allclose(st.edges, [*range(20), 40])
    np.testing.assert_array_equal(st.assign(sizes), [0, 1, 1, 2, 19, 20, 20, 2])
    assert st.assign(np.array([55.0]))[0] == 20  # above the largest: the tail state
    values = np.arange(1.0, 101.0)
    eq = size_states(values, n_states=4, binning="equal_count")
    np.testing.assert_array_equal(np.bincount(eq.assign(values)), [0, 25, 25, 25, 25])
    with pytest.raises(ValueError, match="too many ties for 4 equal-count states"):
        size_states(np.array([1.0] * 50 + [2.0] * 3), n_states=4, binning="equal_count")
    with pytest.raises(ValueError, match="40 equal-width bins cannot make 50 states"):
        size_states(values, n_states=50)


def test_convergence_survival_and_sampler():
    pi = stationary_distribution(KNOWN).distribution
    conv = convergence(KNOWN, pi, {"state 0": np.eye(4)[0], "state 3": np.eye(4)[3]}, 200)
    for c in conv["starts"].values():
        assert c["tv"][-1] < 1e-8 and c["steps_to_tolerance"] is not None
        assert np.all(np.diff(c["tv"]) <= 1e-12)  # total variation never grows
    # every size state is eliminated with probability 0.1 per step, never re-added
    d = np.array([[1.0, 0.0, 0.0], [0.1, 0.6, 0.3], [0.1, 0.3, 0.6]])
    np.testing.assert_allclose(model_survival(d, np.array([0.0, 0.5, 0.5]), 4), 0.9 ** np.arange(5))
    sizes = np.array([[0.0, 1.0, 2.0, 3.0], [1.5, 2.5, 0.0, 0.0], [3.5, 3.0, 2.0, 1.0]] * 5)
    chain = fit_markov(sizes, size_states(sizes, n_states=2, n_width_bins=2))
    np.testing.assert_allclose(chain.low, [0.0, 1.0, 2.0])  # edge at 3.5 / 2 = 1.75
    np.testing.assert_allclose(chain.high, [0.0, 1.5, 3.5])
    traj = sample_trajectories(chain, np.array([1, 2, 0] * 100), 6, seed=0)
    states = chain.states.assign(traj)
    assert ((traj >= chain.low[states]) & (traj <= chain.high[states])).all()
    np.testing.assert_array_equal(traj[2::3, 0], 0)
    boot = bootstrap_stationary(sizes, chain.states, n_bootstrap=5, seed=0)
    assert boot["n_bootstrap"] == 5 and len(boot["empirical_mean"]) == 3


def test_trajectory_statistics_by_hand():
    sizes = np.array(
        [
            [1.0, 2.0, 4.0, 3.0],  # changes 1, 2, -1
            [2.0, 1.0, 1.0, 3.0],  # changes -1, 0, 2
            [0.0, 1.0, 2.0, 0.0],  # born at 1, dies at 3
        ]
    )
    cc = change_cross_correlation(sizes, 2)
    d = np.diff(sizes, axis=1)
    assert cc[0] == pytest.approx(1.0)
    assert cc[1] == pytest.approx(np.corrcoef(d[:, :2].ravel(), d[:, 1:].ravel())[0, 1])
    assert cc[2] == pytest.approx(np.corrcoef(d[:, 0], d[:, 2])[0, 1])
    np.testing.assert_allclose(survival_fraction(sizes), [1, 1, 1, 1])
    births = aligned_trajectories(sizes, "birth")
    assert births["offsets"] == [0, 1] and births["mean"] == [1.0, 2.0] and births["n_events"] == 1
    deaths = aligned_trajectories(sizes, "death")
    assert deaths["offsets"] == [-2, -1] and deaths["mean"] == [1.0, 2.0]
    drift = size_change_over_time(sizes)
    assert drift["n_synapses"] == 2
    np.testing.assert_allclose(
        drift["mean_abs_log_change"],
        [0, np.log(2), (np.log(4) + np.log(2)) / 2, np.log(3) / 2 + np.log(1.5) / 2],
    )
    np.testing.assert_allclose(drift["mean_size"], [1.5, 1.5, 2.5, 3.0])
    alive = np.array([[1.0, 1.0, 0.0, 1.0], [1.0, 0.0, 1.0, 1.0], [0.0, 1.0, 1.0, 1.0]])
    np.testing.assert_allclose(survival_fraction(alive), [1, 0.5, 0, 0])
