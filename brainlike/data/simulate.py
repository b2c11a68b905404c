"""Simulated animals: a known "brain" observed through noisy trials (spec: neural-evaluation.md §8).

The brain is a fixed feature layer (a random or trained network layer, shape (stimulus, unit)).
Each animal is a random subset of its units -- different animals are different neurons of one
brain, drawn without replacement across animals when there are enough units -- optionally
linearly mixed (each neuroid a random positive combination of a few units). The noiseless
rates are scaled to a chosen signal spread and observed with trial noise (Gaussian with sd
``noise_sd``, or Poisson counts on rectified rates) over ``n_trials`` repeats. Because the
truth is known, the noise level fixes the split-half reliability analytically
(:meth:`SimulatedAnimals.expected_reliability`) and the generating layer should reach about
100 % of the inter-animal ceiling; both are what the tests of the ceiling estimators check.

Everything here is numpy only.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = [
    "SimulatedAnimals",
    "random_features",
    "random_relu_layers",
    "simulate_animals",
]

_NOISES = ("gaussian", "poisson")


@dataclass
class SimulatedAnimals:
    """Noisy recordings of simulated animals, with the ground truth that generated them.

    Attributes
    ----------
    responses : ndarray, shape (stimulus, neuroid, trial)
        Noisy single-trial responses (float64); dropped trials are NaN.
    rates : ndarray, shape (stimulus, neuroid)
        The noiseless responses (the expected value of every trial).
    animal : ndarray of str, shape (neuroid,)
        Animal of each neuroid (``"animal0"``, ``"animal1"``, ...).
    region : ndarray of str, shape (neuroid,)
        Region of each neuroid (the key of the feature layer that generated it).
    source_units : ndarray of int, shape (neuroid,)
        Index of the generating unit in its region's feature matrix; -1 for mixed neuroids.
    noise_sd : float
        Trial-noise sd (Gaussian noise only; Poisson noise has variance equal to the rate).
    n_trials : int
        Trials per stimulus before any were dropped.
    noise : str
        ``"gaussian"`` or ``"poisson"``.
    mixing_units, mixing_weights : ndarray, shape (neuroid, units_per_mix)
        Units and positive weights that make each neuroid (one column of ones when unmixed).
    """

    responses: np.ndarray
    rates: np.ndarray
    animal: np.ndarray
    region: np.ndarray
    source_units: np.ndarray
    noise_sd: float
    n_trials: int
    noise: str = "gaussian"
    mixing_units: np.ndarray | None = None
    mixing_weights: np.ndarray | None = None

    @property
    def trial_counts(self) -> np.ndarray:
        """Available (non-NaN) trials per stimulus and neuroid, shape (stimulus, neuroid)."""
        return np.sum(~np.isnan(self.responses), axis=2)

    def expected_reliability(self) -> np.ndarray:
        """Analytic Spearman-Brown-corrected split-half reliability per neuroid.

        With signal variance ``s2`` across stimuli (of the actual rates, ddof=1) and half
        averages of ``h1 = n // 2`` and ``h2 = n - h1`` of the ``n`` available trials of each
        stimulus (the split used by :func:`brainlike.analysis.neural.split_half_reliability`),
        the half-average noise variances are ``v_k = mean_stimuli(noise_var / h_k)`` and::

            r_half = s2 / sqrt((s2 + v1) * (s2 + v2)),   reliability = SB(r_half)

        which for Gaussian noise and an even number R of trials on every stimulus is
        ``s2 / (s2 + sigma^2 / R)``. For Poisson noise ``noise_var`` is the rate itself.

        Returns
        -------
        ndarray, shape (neuroid,)
        """
        # spec: neural-evaluation.md §8 (noise level sets reliability analytically), §2 split
        counts = self.trial_counts.astype(float)
        h1 = np.floor(counts / 2)
        h2 = counts - h1
        if self.noise == "poisson":
            noise_var = self.rates
        else:
            noise_var = np.full_like(self.rates, float(self.noise_sd) ** 2)
        with np.errstate(divide="ignore", invalid="ignore"):
            v1 = np.mean(noise_var / h1, axis=0)
            v2 = np.mean(noise_var / h2, axis=0)
            s2 = np.var(self.rates, axis=0, ddof=1)
            r_half = s2 / np.sqrt((s2 + v1) * (s2 + v2))
            return 2 * r_half / (1 + r_half)

    def to_recording(self, stimulus_ids: Sequence[str] | None = None, **kwargs: Any):
        """The responses as a recording (``brainlike.data.recordings.make_recording``).

        Parameters
        ----------
        stimulus_ids : sequence of str, optional
            One id per stimulus; ``"stim0000"``, ... when omitted.
        **kwargs
            Passed on to ``make_recording`` (``identifier``, ``stimulus_coords``, ...).

        Returns
        -------
        xarray.DataArray with dims (stimulus, neuroid, trial)
        """
        from brainlike.data.recordings import make_recording

        n_stimuli, n_neuroids = self.rates.shape
        if stimulus_ids is None:
            stimulus_ids = [f"stim{i:04d}" for i in range(n_stimuli)]
        neuroid_ids = kwargs.pop("neuroid_ids", None)
        if neuroid_ids is None:
            neuroid_ids = [
                f"{r}_{a}_{i:04d}"
                for i, (a, r) in enumerate(zip(self.animal, self.region, strict=True))
            ]
        return make_recording(
            self.responses,
            stimulus_ids=list(stimulus_ids),
            neuroid_ids=list(neuroid_ids),
            animal=[str(a) for a in self.animal],
            region=[str(r) for r in self.region],
            **kwargs,
        )


def random_features(
    n_stimuli: int, n_units: int, seed: int | np.random.Generator = 0, rank: int | None = None
) -> np.ndarray:
    """Gaussian random features, optionally of low rank.

    Parameters
    ----------
    n_stimuli, n_units : int
    seed : int or Generator
    rank : int, optional
        When given, features = latent (stimulus, rank) @ loadings (rank, unit): every unit is a
        linear combination of ``rank`` latent stimulus dimensions (a low-rank "brain" that a
        PLS map with at least ``rank`` components can capture completely).

    Returns
    -------
    ndarray, shape (n_stimuli, n_units), float64
    """
    rng = np.random.default_rng(seed)
    if rank is None:
        return rng.standard_normal((n_stimuli, n_units))
    if rank < 1:
        raise ValueError(f"rank must be a positive integer; got {rank}")
    latent = rng.standard_normal((n_stimuli, rank))
    loadings = rng.standard_normal((rank, n_units)) / np.sqrt(rank)
    return latent @ loadings


def random_relu_layers(
    inputs: np.ndarray, widths: Sequence[int] = (256, 128), seed: int | np.random.Generator = 0
) -> dict[str, np.ndarray]:
    """A fixed random ReLU network on flattened inputs (e.g. images): a brain with layers.

    Weights are He-initialised Gaussians, ``h_{l+1} = relu(h_l @ W_l)``; inputs are centred
    per feature first so that roughly half of every unit's responses are positive.

    Parameters
    ----------
    inputs : ndarray, shape (stimulus, ...)
        Stimuli (e.g. images (N, C, H, W)); flattened per stimulus.
    widths : sequence of int
        Units per layer.
    seed : int or Generator

    Returns
    -------
    dict layer name (``"layer1"``, ...) -> ndarray (stimulus, width), float64
    """
    rng = np.random.default_rng(seed)
    h = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    h = h - h.mean(axis=0)
    layers = {}
    for i, width in enumerate(widths, start=1):
        w = rng.standard_normal((h.shape[1], int(width))) * np.sqrt(2.0 / h.shape[1])
        h = np.maximum(h @ w, 0.0)
        layers[f"layer{i}"] = h
    return layers


def _draw_units(
    rng: np.random.Generator, valid: np.ndarray, n_animals: int, per_animal: int, region: str
) -> np.ndarray:
    """Unit pools (animal, per_animal): disjoint across animals when there are enough units."""
    if len(valid) < per_animal:
        raise ValueError(
            f"region {region!r} has {len(valid)} non-constant feature units but "
            f"units_per_animal={per_animal}; ask for at most {len(valid)} units per animal or "
            "pass a wider feature layer"
        )
    if len(valid) >= n_animals * per_animal:
        return rng.permutation(valid)[: n_animals * per_animal].reshape(n_animals, per_animal)
    # not enough units for disjoint animals: each animal draws its own subset
    return np.stack([rng.choice(valid, per_animal, replace=False) for _ in range(n_animals)])


def _drop_trials(
    rng: np.random.Generator, n_stimuli: int, n_trials: int, fraction: float
) -> np.ndarray:
    """Mask (stimulus, trial) of dropped trials: about ``fraction`` of all, >= 2 kept each."""
    p = fraction * n_trials / (n_trials - 2)
    n_drop = rng.binomial(n_trials - 2, p, size=n_stimuli)
    order = np.argsort(np.argsort(rng.random((n_stimuli, n_trials)), axis=1), axis=1)
    return order < n_drop[:, None]


def simulate_animals(
    features: np.ndarray | Mapping[str, np.ndarray],
    *,
    n_animals: int = 4,
    units_per_animal: int = 50,
    n_trials: int = 10,
    noise_sd: float = 1.0,
    noise: str = "gaussian",
    mixing: bool = False,
    units_per_mix: int = 3,
    region: str = "IT",
    signal_sd: float = 1.0,
    mean_count: float = 5.0,
    ragged_fraction: float = 0.0,
    seed: int | np.random.Generator = 0,
) -> SimulatedAnimals:
    """Simulate noisy recordings of several animals from a known feature layer (spec §8).

    Parameters
    ----------
    features : ndarray (stimulus, unit), or dict region -> ndarray (stimulus, unit)
        The generating "brain". A dict gives several regions (e.g. an early and a late layer);
        every animal then has ``units_per_animal`` neuroids in every region.
    n_animals : int
        Number of animals (named ``"animal0"``, ...).
    units_per_animal : int
        Neuroids per animal and region.
    n_trials : int
        Repeats per stimulus (at least 2).
    noise_sd : float
        Sd of Gaussian trial noise (ignored for Poisson noise).
    noise : {"gaussian", "poisson"}
        Gaussian: ``rates = signal_sd * z`` (z: the neuroid's standardised response) plus
        N(0, noise_sd^2) per trial. Poisson: ``rates = relu(z)`` scaled to ``mean_count``
        spikes on average over stimuli, and counts ~ Poisson(rate) per trial.
    mixing : bool
        If True each neuroid is a random positive combination (weights ~ U(0.2, 1)) of
        ``units_per_mix`` units of its animal's pool; ``source_units`` is then -1.
    units_per_mix : int
        Units per mixed neuroid.
    region : str
        Region name when ``features`` is a single array.
    signal_sd : float
        Sd of the noiseless rates across stimuli (Gaussian noise).
    mean_count : float
        Mean expected count per trial (Poisson noise).
    ragged_fraction : float
        Fraction of trials dropped to NaN (per animal and stimulus; every stimulus keeps at
        least 2 trials, so at most ``(n_trials - 2) / n_trials``).
    seed : int or Generator

    Returns
    -------
    SimulatedAnimals
    """
    if noise not in _NOISES:
        raise ValueError(f"noise must be one of {_NOISES}; got {noise!r}")
    if n_trials < 2:
        raise ValueError(f"n_trials must be at least 2 for split halves; got {n_trials}")
    if n_animals < 1 or units_per_animal < 1:
        raise ValueError(
            f"need at least one animal and one unit per animal; got n_animals={n_animals}, "
            f"units_per_animal={units_per_animal}"
        )
    if not 0.0 <= ragged_fraction <= (n_trials - 2) / n_trials:
        raise ValueError(
            f"ragged_fraction={ragged_fraction} must lie in [0, {(n_trials - 2) / n_trials:.3f}] "
            f"so that every stimulus keeps at least 2 of its {n_trials} trials"
        )
    if mixing and units_per_mix < 1:
        raise ValueError(f"units_per_mix must be at least 1; got {units_per_mix}")
    layers = dict(features) if isinstance(features, Mapping) else {region: features}
    if not layers:
        raise ValueError("features is an empty dict; pass at least one region -> feature matrix")
    rng = np.random.default_rng(seed)

    n_stimuli = None
    rates, animals, regions, sources, mix_units, mix_weights = [], [], [], [], [], []
    for name, feats in layers.items():
        x = np.asarray(feats, dtype=np.float64)
        if x.ndim != 2:
            raise ValueError(
                f"features for region {name!r} must be 2-d (stimulus, unit); got shape {x.shape}"
            )
        if not np.all(np.isfinite(x)):
            raise ValueError(f"features for region {name!r} contain NaN or inf values")
        if n_stimuli is None:
            n_stimuli = x.shape[0]
        elif x.shape[0] != n_stimuli:
            raise ValueError(
                f"all regions need the same stimuli; region {name!r} has {x.shape[0]} rows, "
                f"the first region has {n_stimuli}"
            )
        sd = x.std(axis=0)
        valid = np.flatnonzero(sd > 1e-12 * (np.abs(x).max(axis=0) + 1e-300))
        pools = _draw_units(rng, valid, n_animals, units_per_animal, name)
        for a in range(n_animals):
            pool = pools[a]
            if mixing:
                k = min(units_per_mix, len(pool))
                idx = np.stack([rng.choice(pool, k, replace=False) for _ in pool])
                w = rng.uniform(0.2, 1.0, size=idx.shape)
                src = np.full(len(pool), -1)
            else:
                idx = pool[:, None]
                w = np.ones_like(idx, dtype=float)
                src = pool
            z = np.einsum("sik,ik->si", x[:, idx], w)
            z = (z - z.mean(axis=0)) / z.std(axis=0)
            rates.append(z)
            animals += [f"animal{a}"] * len(pool)
            regions += [str(name)] * len(pool)
            sources.append(src)
            mix_units.append(idx)
            mix_weights.append(w)
    z = np.concatenate(rates, axis=1)
    if noise == "poisson":
        r = np.maximum(z, 0.0)
        rate = r * (mean_count / r.mean(axis=0))
        responses = rng.poisson(rate[:, :, None], size=rate.shape + (n_trials,)).astype(float)
    else:
        rate = signal_sd * z
        responses = rate[:, :, None] + noise_sd * rng.standard_normal(rate.shape + (n_trials,))
    animal = np.array(animals)
    if ragged_fraction > 0:
        for name in np.unique(animal):
            dropped = _drop_trials(rng, n_stimuli, n_trials, ragged_fraction)
            cols = np.flatnonzero(animal == name)
            block = responses[:, cols, :]
            block[np.broadcast_to(dropped[:, None, :], block.shape)] = np.nan
            responses[:, cols, :] = block
    width = max(u.shape[1] for u in mix_units)
    pad = [np.pad(u, ((0, 0), (0, width - u.shape[1])), constant_values=-1) for u in mix_units]
    padw = [np.pad(w, ((0, 0), (0, width - w.shape[1]))) for w in mix_weights]
    return SimulatedAnimals(
        responses=responses,
        rates=rate,
        animal=animal,
        region=np.array(regions),
        source_units=np.concatenate(sources).astype(int),
        noise_sd=float(noise_sd),
        n_trials=int(n_trials),
        noise=noise,
        mixing_units=np.concatenate(pad).astype(int),
        mixing_weights=np.concatenate(padw),
    )
