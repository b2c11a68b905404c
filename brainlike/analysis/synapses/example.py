"""A synapse table with known dynamics, to try the analyses on (no data needed).

Every cell type's synapses follow a Kesten process dw | w ~ N(mu_e w + mu_n, s_e^2 w^2 +
s_n^2) between sessions (:func:`~brainlike.analysis.synapses.kesten.simulate_kesten`'s
process); a synapse of size w is eliminated before the next session with probability
``death_max * exp(-w / death_scale)`` (small synapses die), or when its size falls to 0; as
many synapses as died are added in expectation, small (log-normal around ``birth_size``).
The process runs ``burn_in`` sessions before the first recorded one, so the recorded sizes
are near their stationary distribution. Sizes are then rescaled so that the stationary
normalisation reference (mean of the 40-60th percentile of a dendrite's sizes) is 1, which
puts the true mu_n and s_n in the units the normalised analysis reports (mu_e and s_e have
no units). The recorded values are what a microscope gives: each size times a gain per
animal and per dendrite and session (imaging depth, laser power), which the normalisation
removes.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.data.synapses import (
    REFERENCE_BAND,
    SynapseTable,
    make_synapse_table,
    write_synapses_csv,
)

#: Example cell types: pyramidal synapses change mostly multiplicatively; PV+ synapses have a
#: large additive part (the thesis' finding, with made-up numbers).
EXAMPLE_CELL_TYPES: dict[str, dict[str, float]] = {
    "Pyr": {"mu_e": -0.10, "mu_n": 0.10, "s_e": 0.30, "s_n": 0.02},
    "PV": {"mu_e": -0.30, "mu_n": 0.30, "s_e": 0.20, "s_n": 0.10},
}


def _band_reference(values: np.ndarray) -> float:
    lo, hi = np.percentile(values, REFERENCE_BAND)
    return float(values[(values >= lo) & (values <= hi)].mean())


def _dendrite(
    rng: np.random.Generator,
    p: dict[str, float],
    n_synapses: int,
    n_sessions: int,
    burn_in: int,
    death_max: float,
    death_scale: float,
    birth_size: float,
) -> np.ndarray:
    """Sizes (synapse, session) of one dendrite's recorded sessions (0 = absent)."""
    alive = rng.lognormal(np.log(-p["mu_n"] / p["mu_e"]), 0.3, n_synapses)
    row = np.full(len(alive), -1)  # each live synapse's row in the recorded table (-1: none)
    recorded = np.zeros((0, n_sessions))
    for t in range(burn_in + n_sessions):
        if t >= burn_in:
            new = row < 0
            row[new] = len(recorded) + np.arange(new.sum())
            recorded = np.vstack([recorded, np.zeros((new.sum(), n_sessions))])
            recorded[row, t - burn_in] = alive
        w = alive
        dies = rng.random(len(w)) < death_max * np.exp(-w / death_scale)
        sd = np.sqrt(p["s_e"] ** 2 * w**2 + p["s_n"] ** 2)
        nxt = w + p["mu_e"] * w + p["mu_n"] + sd * rng.standard_normal(len(w))
        keep = ~dies & (nxt > 0)
        n_born = rng.poisson((~keep).sum())
        alive = np.concatenate([nxt[keep], rng.lognormal(np.log(birth_size), 0.3, n_born)])
        row = np.concatenate([row[keep], np.full(n_born, -1)])
    return recorded


def simulate_synapses(
    cell_types: dict[str, dict[str, float]] | None = None,
    n_animals: int = 4,
    dendrites_per_animal: int = 3,
    synapses_per_dendrite: int = 80,
    n_sessions: int = 8,
    interval: float = 4.0,
    burn_in: int = 40,
    death_max: float = 0.5,
    death_scale: float = 0.15,
    birth_size: float = 0.3,
    gain_sd: float = 0.2,
    seed: int = 0,
) -> tuple[SynapseTable, dict[str, Any]]:
    """A table of imaged synapse sizes with known Kesten dynamics, and its truth.

    Parameters
    ----------
    cell_types : dict, optional
        Name -> ``{"mu_e", "mu_n", "s_e", "s_n"}`` (mu_e < 0 < mu_n: a stationary process).
        Default :data:`EXAMPLE_CELL_TYPES`.
    n_animals, dendrites_per_animal, synapses_per_dendrite : int
        Every cell type is imaged in every animal.
    n_sessions : int
        Recorded sessions, ``interval`` days apart.
    burn_in : int
        Sessions simulated before the first recorded one.
    death_max, death_scale, birth_size : float
        Elimination probability ``death_max * exp(-w / death_scale)``; added synapses'
        median size (before the rescaling to reference units).
    gain_sd : float
        s.d. of the log imaging gain per animal and per dendrite and session.
    seed : int

    Returns
    -------
    table : SynapseTable
        Raw (unnormalised) sizes as measured.
    truth : dict
        Per cell type the Kesten parameters in reference units (``mu_e``, ``mu_n``, ``s_e``,
        ``s_n``), the generating ones and the rescaling, plus the settings.
    """
    cell_types = EXAMPLE_CELL_TYPES if cell_types is None else cell_types
    for name, p in cell_types.items():
        if not (p["mu_e"] < 0 < p["mu_n"] and p["s_e"] >= 0 and p["s_n"] >= 0):
            raise ValueError(
                f"cell type {name!r}: the example needs a stationary process, mu_e < 0 < mu_n "
                f"and s_e, s_n >= 0; got {p}"
            )
    rng = np.random.default_rng(seed)
    blocks, labels, truth = [], {"cell_type": [], "dendrite": [], "animal": []}, {}
    animal_gain = rng.lognormal(0.0, gain_sd, n_animals)
    for name, p in cell_types.items():
        sizes = []
        for a in range(n_animals):
            for d in range(dendrites_per_animal):
                w = _dendrite(
                    rng, p, synapses_per_dendrite, n_sessions, burn_in, death_max,
                    death_scale, birth_size * (-p["mu_n"] / p["mu_e"]),
                )  # fmt: skip
                sizes.append((w, a, f"{name}-d{d}"))
        # the stationary reference: mean over dendrites and sessions of the band means
        refs = [_band_reference(w[w[:, j] > 0, j]) for w, _, _ in sizes for j in range(n_sessions)]
        scale = float(np.mean(refs))
        for w, a, dend in sizes:
            gains = animal_gain[a] * rng.lognormal(0.0, gain_sd, n_sessions)
            blocks.append(1000.0 * w / scale * gains)
            labels["cell_type"] += [name] * len(w)
            labels["dendrite"] += [dend] * len(w)
            labels["animal"] += [f"mouse{a}"] * len(w)
        truth[name] = {
            "mu_e": p["mu_e"],
            "mu_n": p["mu_n"] / scale,
            "s_e": p["s_e"],
            "s_n": p["s_n"] / scale,
            "generating": dict(p),
            "reference_scale": scale,
        }
    sizes = np.vstack(blocks)
    table = make_synapse_table(
        np.round(sizes, 3),
        session_times=np.arange(n_sessions) * interval,
        synapse_id=[f"syn{i:05d}" for i in range(len(sizes))],
        source="example",
        **labels,
    )
    settings = {
        "n_animals": n_animals,
        "dendrites_per_animal": dendrites_per_animal,
        "synapses_per_dendrite": synapses_per_dendrite,
        "n_sessions": n_sessions,
        "interval_days": interval,
        "burn_in": burn_in,
        "death": f"p = {death_max} exp(-w / {death_scale}) before each session (generating units)",
        "births": "Poisson, as many as died in expectation, log-normal(log(birth_size * mean), "
        "0.3)",
        "gain_sd": gain_sd,
        "seed": seed,
    }
    return table, {
        "cell_types": truth,
        "settings": settings,
        "units": (
            "mu_n and s_n in units of the normalisation reference (mean of the 40-60th percentile "
            "of a dendrite's sizes on a session, at stationarity); mu_e and s_e have no units"
        ),
    }


def write_example(
    out_dir: str | Path,
    table: SynapseTable | None = None,
    truth: dict[str, Any] | None = None,
    seed: int = 0,
    **kwargs: Any,
) -> dict[str, Path]:
    """Write the example table (``synapses.csv``) and its truth (``truth.json``) to a folder.

    ``table`` and ``truth`` from :func:`simulate_synapses` are written as they are; without
    them the example is simulated here with ``seed`` and ``kwargs``. Returns the two paths
    (``table``, ``truth``).
    """
    if table is None or truth is None:
        table, truth = simulate_synapses(seed=seed, **kwargs)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    truth_path = out / "truth.json"
    truth_path.write_text(json.dumps(truth, indent=2) + "\n")
    return {"table": write_synapses_csv(table, out / "synapses.csv"), "truth": truth_path}
