"""Synaptic weight dynamics on a user's data (spec: learning-rules.md §3; thesis ch. 6, part I).

=================  ===========================================================================
module             holds
=================  ===========================================================================
``kesten``         multiplicative vs additive changes: binned regressions, the direct
                   maximum-likelihood fit, likelihood-ratio test, :func:`simulate_kesten`
``markov``         the chain over a zero state and size states: transitions, stationary
                   distribution (or why there is none), bootstrap, convergence, sampler
``trajectories``   correlation of changes, survival, birth/death-aligned sizes, drift
``summary``        :func:`analyse_synapses`: every number of a table, per cell type
``example``        :func:`simulate_synapses`: a table with known dynamics
=================  ===========================================================================

The table itself (reading, normalisation, the percentile filter) is
:mod:`brainlike.data.synapses`.
"""

from brainlike.analysis.synapses.example import simulate_synapses, write_example
from brainlike.analysis.synapses.kesten import (
    KestenFit,
    analyse_kesten,
    bin_changes,
    fit_kesten,
    kesten_likelihood_ratio,
    kesten_regression,
    simulate_kesten,
    size_changes,
)
from brainlike.analysis.synapses.markov import (
    MarkovChain,
    SizeStates,
    Stationarity,
    fit_markov,
    fit_transitions,
    sample_trajectories,
    size_states,
    stationary_distribution,
)
from brainlike.analysis.synapses.summary import analyse_synapses
from brainlike.analysis.synapses.trajectories import (
    aligned_trajectories,
    change_cross_correlation,
    size_change_over_time,
    survival_fraction,
)

__all__ = [
    "KestenFit",
    "MarkovChain",
    "SizeStates",
    "Stationarity",
    "aligned_trajectories",
    "analyse_kesten",
    "analyse_synapses",
    "bin_changes",
    "change_cross_correlation",
    "fit_kesten",
    "fit_markov",
    "fit_transitions",
    "kesten_likelihood_ratio",
    "kesten_regression",
    "sample_trajectories",
    "simulate_kesten",
    "simulate_synapses",
    "size_change_over_time",
    "size_changes",
    "size_states",
    "stationary_distribution",
    "survival_fraction",
    "write_example",
]
