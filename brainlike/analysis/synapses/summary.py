"""Every synaptic-dynamics number of a synapse table, per cell type, as one JSON-ready dict.

The order of the thesis' analysis (ch. 6, part I): normalise the sizes within dendrite and
session; per cell type, fit the Kesten process (multiplicative vs additive changes) and the
Markov chain over size states (stationary distribution with bootstrap, convergence, survival,
correlation of changes), and describe the trajectories (additions and eliminations, drift of
persistent synapses from their first size). :func:`analyse_synapses` checks every setting
before it computes anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from brainlike.analysis.synapses import kesten, markov, trajectories
from brainlike.data.synapses import (
    FILTER_BAND,
    REFERENCE_BAND,
    SynapseTable,
    _band,
    normalise_sizes,
    percentile_filter,
    select_cell_types,
)

#: Share of the sizes > 0 in the merged tail state above which the report says the
#: equal-width states resolve little.
TAIL_NOTE = 0.2


def _check_settings(
    n_bins: int | None, bin_size: int | None, n_states: int, binning: str, n_bootstrap: int
) -> None:
    if bin_size is None and (n_bins is None or n_bins < 2):
        raise ValueError(f"n_bins must be at least 2 (the regressions fit lines); got {n_bins}")
    if bin_size is not None and bin_size < 2:
        raise ValueError(f"bin_size must be at least 2 changes; got {bin_size}")
    if n_states < 1:
        raise ValueError(f"n_states must be at least 1 size state; got {n_states}")
    if binning not in markov.BINNINGS:
        raise ValueError(f"binning must be one of {', '.join(markov.BINNINGS)}; got {binning!r}")
    if n_bootstrap < 0:
        raise ValueError(f"n_bootstrap must be 0 or more; got {n_bootstrap}")


def analyse_synapses(
    table: SynapseTable,
    cell_types: Sequence[str] | None = None,
    normalise: Sequence[float] | None = REFERENCE_BAND,
    filter_band: Sequence[float] = FILTER_BAND,
    n_bins: int | None = kesten.N_BINS,
    bin_size: int | None = None,
    min_per_bin: int = kesten.MIN_PER_BIN,
    n_states: int = markov.N_SIZE_STATES,
    binning: str = "equal_width",
    n_width_bins: int = markov.N_WIDTH_BINS,
    n_bootstrap: int = markov.N_BOOTSTRAP,
    n_steps: int = 60,
    seed: int = 0,
) -> dict[str, Any]:
    """Analyse the synaptic dynamics of every (or the chosen) cell type of a table.

    Parameters
    ----------
    table : SynapseTable
        Sizes as read (:func:`~brainlike.data.synapses.read_synapses`).
    cell_types : sequence of str, optional
        Cell types to analyse, each on its own (default every one in the table).
    normalise : (float, float) or None, default (40, 60)
        Percentile band of the within-dendrite, within-session reference; None keeps the sizes
        as they are (already normalised data).
    filter_band : (float, float), default (25, 75)
        Percentiles of first-session size of the persistent synapses whose drift is measured.
    n_bins, bin_size, min_per_bin
        Kesten bins (:func:`~brainlike.analysis.synapses.kesten.bin_changes`).
    n_states, binning, n_width_bins
        Markov size states (:func:`~brainlike.analysis.synapses.markov.size_states`).
    n_bootstrap : int, default 30
        Resamples of the synapses for the stationary distributions' error bars.
    n_steps : int, default 60
        Steps of the chain iterated from the convergence starts.
    seed : int

    Returns
    -------
    dict
        ``source``, ``n_synapses`` (analysed), ``n_synapses_in_table``, ``n_sessions``,
        ``session_times``, ``n_never_present``, ``settings``, ``normalisation``, ``notes`` and
        ``cell_types`` (name -> every number; see :func:`analyse_cell_type`).
    """
    _check_settings(n_bins, bin_size, n_states, binning, n_bootstrap)
    filter_band = _band(filter_band, "the filter band")
    chosen = select_cell_types(table, cell_types)
    if normalise is not None:
        chosen = normalise_sizes(chosen, normalise)
    settings = {
        "cell_types": list(cell_types) if cell_types else None,
        "normalise": None
        if normalise is None
        else list(_band(normalise, "the normalisation band")),
        "filter_band": list(filter_band),
        "n_bins": None if bin_size is not None else n_bins,
        "bin_size": bin_size,
        "min_per_bin": min_per_bin,
        "n_states": n_states,
        "binning": binning,
        "n_width_bins": n_width_bins if binning == "equal_width" else None,
        "n_bootstrap": n_bootstrap,
        "n_steps": n_steps,
        "seed": seed,
    }
    results = {}
    for k, name in enumerate(chosen.cell_types):
        part = chosen.subset(chosen.cell_type == name)
        try:
            results[name] = analyse_cell_type(part, settings, seed=seed + k)
        except ValueError as err:
            raise ValueError(f"cell type {name!r}: {err}") from None
    intervals = np.diff(table.session_times)
    notes = []
    if not np.allclose(intervals, intervals[0]):
        notes.append(
            f"the sessions are not evenly spaced (intervals {', '.join(f'{v:g}' for v in intervals)}"
            "): the Kesten and Markov fits treat every interval as one step"
        )
    return json_ready(
        {
            "source": table.source,
            "n_synapses": chosen.n_synapses,
            "n_synapses_in_table": table.n_synapses,
            "n_sessions": table.n_sessions,
            "session_times": table.session_times.tolist(),
            "n_never_present": table.n_never_present,
            "settings": settings,
            "normalisation": chosen.normalisation,
            "notes": notes,
            "cell_types": results,
        }
    )


def json_ready(obj: Any) -> Any:
    """``obj`` with numpy scalars and arrays as Python values and NaN/inf as None (strict
    JSON has no NaN)."""
    if isinstance(obj, dict):
        return {k: json_ready(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [json_ready(v) for v in obj]
    if isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float) and not np.isfinite(obj):
        return None
    return obj


def analyse_cell_type(
    part: SynapseTable, settings: dict[str, Any], seed: int = 0
) -> dict[str, Any]:
    """The numbers of one cell type (see :func:`analyse_synapses` for the settings).

    Returns
    -------
    dict
        ``n_synapses``, ``n_dendrites``, ``n_animals``, ``present_per_session``, ``kesten``
        (:func:`~brainlike.analysis.synapses.kesten.analyse_kesten` plus ``simulation``),
        ``markov``, ``births``, ``deaths``, ``change_over_time``.
    """
    sizes = part.sizes
    n_sessions = part.n_sessions
    out: dict[str, Any] = {
        "n_synapses": part.n_synapses,
        "n_dendrites": len(set(zip(part.animal.tolist(), part.dendrite.tolist(), strict=True))),
        "n_animals": len(set(part.animal.tolist())),
        "present_per_session": part.present.sum(axis=0).tolist(),
    }
    out["kesten"] = kesten.analyse_kesten(
        sizes, settings["n_bins"], settings["bin_size"], settings["min_per_bin"]
    )
    mask = percentile_filter(part, settings["filter_band"])
    out["change_over_time"] = {
        "filter": f"present in every session, first-session size between the "
        f"{settings['filter_band'][0]:g}th and {settings['filter_band'][1]:g}th percentile",
        **trajectories.size_change_over_time(sizes, mask),
    }
    # the fitted Kesten process (the model of lower AIC) run from the same first sizes
    fit = out["kesten"]["ml"][out["kesten"]["preferred"]]
    if mask.any():
        sim = kesten.simulate_kesten(
            np.repeat(sizes[mask, 0], 10),
            n_sessions - 1,
            fit["mu_e"],
            fit["mu_n"],
            fit["s_e"],
            fit["s_n"],
            seed=seed,
        )
        out["kesten"]["simulation"] = {
            "model": out["kesten"]["preferred"],
            "what": "10 trajectories per filtered synapse from its first size; the survivors' "
            "mean |log w(t)/w(0)|",
            **trajectories.size_change_over_time(sim),
        }
    out["markov"] = markov_summary(sizes, settings, seed=seed)
    out["births"] = trajectories.aligned_trajectories(sizes, "birth")
    out["deaths"] = trajectories.aligned_trajectories(sizes, "death")
    return out


def markov_summary(sizes: np.ndarray, settings: dict[str, Any], seed: int = 0) -> dict[str, Any]:
    """The chain of one cell type: states, transitions, stationarity, bootstrap, convergence,
    survival and the correlation of changes (data and model)."""
    states = markov.size_states(
        sizes, settings["n_states"], settings["binning"], settings["n_width_bins"] or 0
    )
    chain = markov.fit_markov(sizes, states)
    st = markov.stationary_distribution(chain.matrix)
    empirical = markov.empirical_distribution(sizes, states)

    out: dict[str, Any] = {
        "edges": states.edges.tolist(),
        "binning": states.binning,
        "n_states": states.n_states,
        "counts": chain.counts.tolist(),
        "matrix": [[None if np.isnan(v) else float(v) for v in row] for row in chain.matrix],
        "state_low": chain.low.tolist(),
        "state_high": chain.high.tolist(),
        "stationary": st.to_dict(),
        "empirical": empirical.tolist(),
        "bootstrap": markov.bootstrap_stationary(sizes, states, settings["n_bootstrap"], seed)
        if settings["n_bootstrap"]
        else None,
        "definitions": {
            "states": "0 = absent; k = sizes in (edges[k-1], edges[k]], the last state also above",
            "matrix": "row i: distribution of the next session's state given state i (maximum "
            "likelihood: counts / row sum; null when state i is never followed by a session)",
            "empirical": "fraction of all synapse x session entries in each state",
            "cross_correlation": "Pearson correlation of dw(t) and dw(t + tau) pooled over "
            "synapses and t (absent = 0); model: continuous trajectories sampled from the "
            "model chain started at its stationary distribution, 10 tables of the data's "
            "shape",
            "survival": "fraction of the first session's synapses present in every session up "
            "to t; model: the model chain from their states with elimination final",
            "model_chain": "the fitted chain when its stationary distribution is unique, else "
            "its restriction to the largest strongly connected set of states",
        },
    }
    notes = []
    tail = empirical[-1] / max(1e-300, empirical[1:].sum())
    if states.binning == "equal_width" and tail > TAIL_NOTE:
        notes.append(
            f"the merged tail state holds {100 * tail:.0f} % of the sizes > 0, so the "
            f"equal-width states resolve little of the distribution; try equal-count states or "
            f"more width bins"
        )
    n_sessions = sizes.shape[1]
    max_lag = n_sessions - 2
    out["cross_correlation"] = {
        "lags": list(range(max_lag + 1)),
        "data": trajectories.change_cross_correlation(sizes, max_lag).tolist(),
    }
    model = markov.model_chain(chain)
    if model.note:
        notes.append(model.note)
    out["notes"] = notes
    out["model_chain"] = {
        "active_states": model.active.tolist(),
        "fraction_of_transitions": model.fraction_of_transitions,
        "stationary": model.stationary.tolist(),
        "note": model.note,
    }
    pi, active = model.stationary, model.active
    sampled = replace(chain, matrix=model.matrix)
    out["cross_correlation"]["model"] = markov.model_cross_correlation(
        sampled, pi, len(sizes), n_sessions, max_lag, seed=seed
    ).tolist()
    # far-apart starts, on the states the model chain knows
    sized = active[active > 0]
    uniform = np.zeros(states.n_states)
    uniform[sized] = 1.0 / len(sized)
    first = empirical_session(sizes, states, 0)
    starts = {"all absent": np.eye(states.n_states)[0]} if 0 in active else {}
    starts["all in the largest state"] = np.eye(states.n_states)[sized[-1]]
    starts["uniform over size states"] = uniform
    on_active = np.zeros(states.n_states)
    on_active[active] = first[active] / first[active].sum()
    starts["first session (data)"] = on_active
    out["convergence"] = markov.convergence(model.matrix, pi, starts, settings["n_steps"])
    present = np.zeros(states.n_states)
    present[sized] = first[sized]
    out["survival"] = {
        "data": trajectories.survival_fraction(sizes).tolist(),
        "model": markov.model_survival(model.matrix, present, n_sessions - 1).tolist(),
    }
    out["stationary_vs_empirical_tv"] = float(markov.total_variation(pi, empirical))
    return out


def empirical_session(sizes: np.ndarray, states: markov.SizeStates, session: int) -> np.ndarray:
    """Distribution over states (zero state included) of one session's entries."""
    counts = np.bincount(states.assign(sizes[:, session]), minlength=states.n_states)
    return counts / counts.sum()
