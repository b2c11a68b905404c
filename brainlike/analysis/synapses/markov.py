"""Synaptic sizes as a Markov chain over size states (thesis ch. 6, part I).

The states are a zero state (the synapse is absent: not yet added, or eliminated) and K bins
of size (spec: learning-rules.md §3: K = 20). The transition matrix is the maximum-likelihood
estimate from every pair of consecutive sessions: row i is the distribution of the next
session's state of synapses in state i, counted and normalised. Iterating it from any start
approaches its stationary distribution when the chain is irreducible; the stationary
distribution is then the distribution of sizes the day-to-day dynamics maintain by themselves,
to compare with the measured one. A chain whose states do not all communicate is reported as
such, with its closed classes, instead of picking one of several stationary distributions.

From the chain: the stationary distribution with bootstrap error bars over synapses, the
approach to it from very different starts, continuous trajectories (a state is drawn as a
uniform size between the smallest and largest size seen in it), the lag-tau correlation of
their changes and the survival of the first session's synapses, to compare with the data.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.sparse.csgraph import connected_components

from brainlike.analysis.synapses.trajectories import change_cross_correlation

#: spec: learning-rules.md §3 (zero + 20 size states), thesis: 40 equal-width bins, the top 21
#: merged into one.
N_SIZE_STATES = 20
N_WIDTH_BINS = 40
#: spec: learning-rules.md §3 (30 bootstrap resamples of the synapses).
N_BOOTSTRAP = 30
BINNINGS = ("equal_width", "equal_count")


@dataclass(frozen=True)
class SizeStates:
    """The states: 0 = absent, k = 1..K = sizes in (edges[k-1], edges[k]].

    ``edges[0] = 0`` and ``edges[-1]`` is the largest size seen; the last state also takes
    anything larger, so every size > 0 lands in exactly one state.
    """

    edges: np.ndarray
    binning: str

    @property
    def n_states(self) -> int:
        """States including the zero state."""
        return len(self.edges)

    def assign(self, sizes: np.ndarray) -> np.ndarray:
        """The state of every size (same shape, int): 0 for sizes <= 0."""
        sizes = np.asarray(sizes, dtype=float)
        state = 1 + np.searchsorted(self.edges[1:-1], sizes, side="left")
        return np.where(sizes > 0, state, 0)


def size_states(
    sizes: np.ndarray,
    n_states: int = N_SIZE_STATES,
    binning: str = "equal_width",
    n_width_bins: int = N_WIDTH_BINS,
) -> SizeStates:
    """Bin the sizes > 0 into ``n_states`` size states (plus the zero state).

    Parameters
    ----------
    sizes : ndarray
        Every size of the table (0 = absent is ignored).
    n_states : int, default 20
        Size states K.
    binning : {"equal_width", "equal_count"}
        ``equal_width``: ``n_width_bins`` bins of equal width from 0 to the largest size, the
        first K - 1 kept and the rest merged into one tail state (the thesis: 40 bins, top 21
        merged). ``equal_count``: edges at the k/K quantiles of the sizes.
    n_width_bins : int, default 40

    Returns
    -------
    SizeStates
    """
    values = np.asarray(sizes, dtype=float)
    values = values[values > 0]
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {', '.join(BINNINGS)}; got {binning!r}")
    if n_states < 1:
        raise ValueError(f"n_states must be at least 1; got {n_states}")
    if len(values) == 0 or (binning == "equal_count" and len(values) < n_states):
        raise ValueError(
            f"{len(values)} sizes > 0 cannot fill {n_states} {binning.replace('_', '-')} states; pass fewer "
            f"states"
        )
    top = float(values.max())
    if binning == "equal_width":
        if n_width_bins < n_states:
            raise ValueError(
                f"{n_width_bins} equal-width bins cannot make {n_states} states; the tail state "
                f"merges the bins above the first {n_states - 1}, so pass at least {n_states}"
            )
        inner = np.arange(1, n_states) * top / n_width_bins
    else:
        inner = np.quantile(values, np.arange(1, n_states) / n_states)
        if len(np.unique(inner)) < len(inner) or (inner >= top).any() or (inner <= 0).any():
            raise ValueError(
                f"the sizes have too many ties for {n_states} equal-count states (two edges "
                f"coincide); pass fewer states or binning='equal_width'"
            )
    return SizeStates(np.concatenate([[0.0], inner, [top]]), binning)


@dataclass(frozen=True)
class MarkovChain:
    """A fitted chain: transition counts and probabilities over ``states``.

    ``matrix[i, j]`` = P(state j next session | state i); a row is NaN when state i never
    precedes another session in the data (its future is unknown). ``low``/``high`` are the
    smallest and largest size seen in each state (0 for the zero state), from which continuous
    sizes are drawn.
    """

    states: SizeStates
    counts: np.ndarray
    matrix: np.ndarray
    low: np.ndarray
    high: np.ndarray


def fit_transitions(state_seqs: np.ndarray, n_states: int) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-likelihood transition matrix of state sequences.

    Parameters
    ----------
    state_seqs : ndarray of int, shape (sequence, time)
    n_states : int

    Returns
    -------
    counts : ndarray of int, shape (n_states, n_states)
        ``counts[i, j]``: steps from state i to state j.
    matrix : ndarray, shape (n_states, n_states)
        Counts divided by their row sum; NaN rows for states never left.
    """
    seqs = np.asarray(state_seqs)
    if seqs.size and (seqs.min() < 0 or seqs.max() >= n_states):
        raise ValueError(f"states must lie in 0..{n_states - 1}")
    pairs = seqs[:, :-1].ravel() * n_states + seqs[:, 1:].ravel()
    counts = np.bincount(pairs, minlength=n_states * n_states).reshape(n_states, n_states)
    rows = counts.sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        matrix = np.where(rows > 0, counts / np.maximum(rows, 1), np.nan)
    return counts, matrix


def fit_markov(sizes: np.ndarray, states: SizeStates) -> MarkovChain:
    """Fit the chain of a synapses x sessions table over the given states."""
    sizes = np.asarray(sizes, dtype=float)
    seqs = states.assign(sizes)
    counts, matrix = fit_transitions(seqs, states.n_states)
    low, high = np.zeros(states.n_states), np.zeros(states.n_states)
    for k in range(1, states.n_states):
        inside = sizes[seqs == k]
        low[k], high[k] = (
            (inside.min(), inside.max()) if len(inside) else states.edges[k - 1 : k + 1]
        )
    return MarkovChain(states, counts, matrix, low, high)


@dataclass(frozen=True)
class Stationarity:
    """The stationary distribution of a chain, or why it has no unique one.

    ``distribution`` is None unless the stationary distribution is unique (the chain has one
    closed class); ``irreducible`` says whether every state reaches every other;
    ``closed_classes`` lists the closed communicating classes; ``message`` says it in words.
    """

    distribution: np.ndarray | None
    irreducible: bool
    unique: bool
    closed_classes: list[list[int]]
    message: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "distribution": None if self.distribution is None else self.distribution.tolist(),
            "irreducible": self.irreducible,
            "unique": self.unique,
            "closed_classes": self.closed_classes,
            "message": self.message,
        }


def _solve_stationary(p: np.ndarray) -> np.ndarray:
    """pi P = pi, sum(pi) = 1 for an irreducible stochastic matrix (one linear solve)."""
    n = len(p)
    a = p.T - np.eye(n)
    a[-1] = 1.0
    b = np.zeros(n)
    b[-1] = 1.0
    pi = np.linalg.solve(a, b)
    pi = np.clip(pi, 0, None)
    return pi / pi.sum()


def stationary_distribution(matrix: np.ndarray) -> Stationarity:
    """The stationary distribution pi = pi P of a transition matrix, when it is unique.

    pi solves the linear system pi (P - I) = 0, sum(pi) = 1 on the chain's one closed class
    (the left eigenvector of eigenvalue 1, found exactly). With several closed classes every
    mixture of their distributions is stationary, so none is returned.

    Parameters
    ----------
    matrix : ndarray, shape (n, n)
        Rows sum to 1; NaN rows are states whose transitions are unknown.

    Returns
    -------
    Stationarity
    """
    p = np.asarray(matrix, dtype=float)
    n = len(p)
    known = ~np.isnan(p).any(axis=1)
    if known.any() and not np.allclose(p[known].sum(axis=1), 1, atol=1e-8):
        raise ValueError("every known row of a transition matrix must sum to 1")
    reach = np.where(known[:, None], p > 0, False)
    entered_unknown = [j for j in np.flatnonzero(~known) if reach[:, j].any()]
    if entered_unknown:
        return Stationarity(
            None,
            False,
            False,
            [],
            f"state {entered_unknown[0]} is entered but never left in the data (it is seen only "
            f"in the last session), so the chain's future from it is unknown; use fewer or "
            f"equal-count states",
        )
    idx = np.flatnonzero(known)
    sub = reach[np.ix_(idx, idx)]
    n_comp, labels = connected_components(sub, directed=True, connection="strong")
    classes = [idx[labels == c] for c in range(n_comp)]
    closed = [c for c in classes if not reach[np.ix_(c, np.setdiff1d(np.arange(n), c))].any()]
    closed_list = [c.tolist() for c in closed]
    irreducible = n_comp == 1 and known.all()
    if len(closed) != 1:
        return Stationarity(
            None,
            False,
            False,
            closed_list,
            f"the chain is not irreducible: it has {len(closed)} closed classes of states "
            f"({'; '.join(str(c) for c in closed_list)}) that never reach each other, so every "
            f"mixture of their stationary distributions is stationary and none is the chain's",
        )
    pi = np.zeros(n)
    c = closed[0]
    pi[c] = _solve_stationary(p[np.ix_(c, c)])
    if irreducible:
        message = (
            "irreducible: every state reaches every other; the stationary distribution is unique"
        )
    else:
        others = np.setdiff1d(np.arange(n), c).tolist()
        message = (
            f"not irreducible: states {others} are transient or never seen; the stationary "
            f"distribution is unique and lives on the closed class {c.tolist()}"
        )
    return Stationarity(pi, irreducible, True, closed_list, message)


def largest_connected_set(counts: np.ndarray) -> np.ndarray:
    """The strongly connected set of states holding the most observed transitions.

    Within it every state reaches every other through observed transitions, so the chain
    restricted to it is irreducible (Markov-state-model estimation calls it the active set).
    """
    counts = np.asarray(counts)
    n_comp, labels = connected_components(counts > 0, directed=True, connection="strong")
    inside = [counts[np.ix_(labels == c, labels == c)].sum() for c in range(n_comp)]
    return np.flatnonzero(labels == int(np.argmax(inside)))


def restrict(counts: np.ndarray, active: np.ndarray) -> np.ndarray:
    """Transition matrix of the chain restricted to ``active`` states: transitions leaving the
    set are dropped and rows renormalised; other rows are NaN (unknown)."""
    counts = np.asarray(counts, dtype=float)
    n = len(counts)
    sub = counts[np.ix_(active, active)]
    matrix = np.full((n, n), np.nan)
    matrix[active] = 0.0
    matrix[np.ix_(active, active)] = sub / sub.sum(axis=1, keepdims=True)
    return matrix


@dataclass(frozen=True)
class ModelChain:
    """The chain the model analyses use: the fitted one when its stationary distribution is
    unique, else its restriction to the largest strongly connected set of states."""

    matrix: np.ndarray
    stationary: np.ndarray
    active: np.ndarray
    fraction_of_transitions: float
    note: str | None


def model_chain(chain: MarkovChain) -> ModelChain:
    """The stationary chain to sample and iterate (see :class:`ModelChain`)."""
    st = stationary_distribution(chain.matrix)
    total = chain.counts.sum()
    if st.distribution is not None:
        return ModelChain(chain.matrix, st.distribution, np.arange(len(chain.matrix)), 1.0, None)
    active = largest_connected_set(chain.counts)
    matrix = restrict(chain.counts, active)
    kept = float(chain.counts[np.ix_(active, active)].sum() / total)
    pi = stationary_distribution(matrix).distribution
    note = (
        f"{st.message}; the model analyses use the chain restricted to its largest strongly "
        f"connected set of states {active.tolist()} ({100 * kept:.1f} % of the transitions)"
    )
    return ModelChain(matrix, pi, active, kept, note)


def empirical_distribution(sizes: np.ndarray, states: SizeStates) -> np.ndarray:
    """Fraction of all (synapse, session) entries in each state, the zero state included."""
    counts = np.bincount(states.assign(sizes).ravel(), minlength=states.n_states)
    return counts / counts.sum()


def total_variation(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Total variation distance 0.5 sum |p - q| along the last axis."""
    return 0.5 * np.abs(np.asarray(p) - np.asarray(q)).sum(axis=-1)


def evolve(matrix: np.ndarray, start: np.ndarray, n_steps: int) -> np.ndarray:
    """Distributions over states after 0..n_steps steps from ``start``: (n_steps + 1, n).

    Mass on a state whose transitions are unknown (NaN row) leaves the chain.
    """
    matrix = np.nan_to_num(np.asarray(matrix, dtype=float))
    out = np.empty((n_steps + 1, len(start)))
    out[0] = start
    for t in range(n_steps):
        out[t + 1] = out[t] @ matrix
    return out


def convergence(
    matrix: np.ndarray,
    stationary: np.ndarray,
    starts: dict[str, np.ndarray],
    n_steps: int = 60,
    tolerance: float = 0.01,
) -> dict[str, Any]:
    """How fast distributions far apart approach the stationary one.

    Returns
    -------
    dict
        Per start: ``tv`` (total variation to the stationary distribution at each step),
        ``steps_to_tolerance`` (first step with tv < ``tolerance``; None if never) and
        ``distributions`` (the distribution at every step).
    """
    out: dict[str, Any] = {"tolerance": tolerance, "n_steps": n_steps, "starts": {}}
    for name, start in starts.items():
        dists = evolve(matrix, np.asarray(start, dtype=float), n_steps)
        tv = total_variation(dists, stationary)
        below = np.flatnonzero(tv < tolerance)
        out["starts"][name] = {
            "tv": tv.tolist(),
            "steps_to_tolerance": int(below[0]) if len(below) else None,
            "distributions": dists.tolist(),
        }
    return out


def sample_states(
    matrix: np.ndarray, start: np.ndarray, n_sessions: int, rng: np.random.Generator
) -> np.ndarray:
    """State sequences of the chain: (len(start), n_sessions), column 0 = ``start``."""
    p = np.asarray(matrix, dtype=float)
    if np.isnan(p).any():
        p = np.where(np.isnan(p).any(axis=1, keepdims=True), np.eye(len(p)), p)
    cum = np.cumsum(p, axis=1)
    cum[:, -1] = 1.0
    seqs = np.empty((len(start), n_sessions), dtype=int)
    seqs[:, 0] = start
    for t in range(1, n_sessions):
        u = rng.random(len(start))
        seqs[:, t] = (cum[seqs[:, t - 1]] < u[:, None]).sum(axis=1)
    return seqs


def sample_trajectories(
    chain: MarkovChain,
    start: np.ndarray,
    n_sessions: int,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Continuous size trajectories from the chain (thesis: a state becomes a uniform draw
    between the smallest and largest size seen in it; the zero state is 0).

    Parameters
    ----------
    chain : MarkovChain
    start : ndarray of int, shape (synapse,)
        First-session states.
    n_sessions : int
    seed : int or numpy Generator

    Returns
    -------
    ndarray, shape (synapse, n_sessions)
    """
    rng = np.random.default_rng(seed)
    seqs = sample_states(chain.matrix, np.asarray(start, dtype=int), n_sessions, rng)
    u = rng.random(seqs.shape)
    return chain.low[seqs] + u * (chain.high[seqs] - chain.low[seqs])


def model_survival(matrix: np.ndarray, start: np.ndarray, n_steps: int) -> np.ndarray:
    """Fraction of the synapses present at the start that are still present after 0..n_steps
    steps, when an eliminated synapse cannot come back (the zero state absorbs).

    Exact: the mass on the size states is carried by the chain restricted to them.

    Parameters
    ----------
    matrix : ndarray, shape (n, n)
        State 0 is the zero state.
    start : ndarray, shape (n,)
        Distribution of the first session's present synapses over the states (state 0 is
        ignored; the rest is renormalised).
    """
    p = np.nan_to_num(np.asarray(matrix, dtype=float)[1:, 1:])
    mass = np.asarray(start, dtype=float)[1:]
    mass = mass / mass.sum()
    out = [1.0]
    for _ in range(n_steps):
        mass = mass @ p
        out.append(float(mass.sum()))
    return np.array(out)


def bootstrap_stationary(
    sizes: np.ndarray,
    states: SizeStates,
    n_bootstrap: int = N_BOOTSTRAP,
    seed: int = 0,
) -> dict[str, Any]:
    """Stationary (model) and empirical distributions over resamples of the synapses.

    Each resample draws the table's synapses with replacement, refits the chain on the same
    states, and records the stationary distribution of its model chain (:func:`model_chain`)
    and the empirical distribution.

    Returns
    -------
    dict
        ``model_mean``/``model_sd`` and ``empirical_mean``/``empirical_sd`` per state (sd:
        ddof 1 over resamples), ``n_bootstrap``, ``n_restricted`` (resamples whose chain had
        no unique stationary distribution and was restricted to its largest connected set).
    """
    sizes = np.asarray(sizes, dtype=float)
    rng = np.random.default_rng(seed)
    model, empirical, restricted = [], [], 0
    for _ in range(n_bootstrap):
        sample = sizes[rng.integers(0, len(sizes), len(sizes))]
        chain = fit_markov(sample, states)
        empirical.append(empirical_distribution(sample, states))
        fit = model_chain(chain)
        restricted += fit.note is not None
        model.append(fit.stationary)

    def mean_sd(rows: list[np.ndarray]) -> tuple[list | None, list | None]:
        if not rows:
            return None, None
        a = np.array(rows)
        sd = a.std(axis=0, ddof=1) if len(a) > 1 else np.zeros(a.shape[1])
        return a.mean(axis=0).tolist(), sd.tolist()

    m, msd = mean_sd(model)
    e, esd = mean_sd(empirical)
    return {
        "n_bootstrap": n_bootstrap,
        "n_restricted": restricted,
        "model_mean": m,
        "model_sd": msd,
        "empirical_mean": e,
        "empirical_sd": esd,
    }


def model_cross_correlation(
    chain: MarkovChain,
    stationary: np.ndarray,
    n_synapses: int,
    n_sessions: int,
    max_lag: int,
    n_repeats: int = 10,
    seed: int = 0,
) -> np.ndarray:
    """Lag-tau correlation of changes of continuous trajectories sampled from the chain.

    ``n_repeats`` tables of the data's shape start at the stationary distribution; their
    changes are pooled (:func:`change_cross_correlation`).
    """
    rng = np.random.default_rng(seed)
    start = rng.choice(len(stationary), size=n_synapses * n_repeats, p=stationary)
    traj = sample_trajectories(chain, start, n_sessions, rng)
    return change_cross_correlation(traj, max_lag)
