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

Dynamic animals (:func:`simulate_dynamic_animals`) are recorded in time bins from a brain whose
features change over time, ``(stimulus, unit, time)``: the same machinery (unit draws, mixing,
noise, ragged trials) with one neuron draw shared by every bin, so a neuroid is the same unit
of the brain at every bin, and independent trial noise in every bin. A known brain with
dynamics is :func:`random_recurrent_layers`: a small leaky recurrent network unrolled the
biological way, driven by the image while it is on and decaying after it goes off.

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
    "random_recurrent_layers",
    "random_relu_layers",
    "simulate_animals",
    "simulate_dynamic_animals",
    "time_bins_ms",
]

_NOISES = ("gaussian", "poisson", "calcium")


@dataclass
class SimulatedAnimals:
    """Noisy recordings of simulated animals, with the ground truth that generated them.

    Attributes
    ----------
    responses : ndarray, shape (stimulus, neuroid, trial[, time_bin])
        Noisy single-trial responses (float64); dropped trials are NaN (in every bin).
    rates : ndarray, shape (stimulus, neuroid[, time_bin])
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
    time_bins : ndarray, shape (time_bin, 2), or None
        ``(start_ms, end_ms)`` of every bin of dynamic animals; ``None`` for static ones.
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
    time_bins: np.ndarray | None = None

    @property
    def trial_counts(self) -> np.ndarray:
        """Available (non-NaN) trials per stimulus and neuroid, shape (stimulus, neuroid[,
        time_bin])."""
        return np.sum(~np.isnan(self.responses), axis=2)

    def expected_reliability(self) -> np.ndarray:
        """Analytic Spearman-Brown-corrected split-half reliability per neuroid (and bin).

        With signal variance ``s2`` across stimuli (of the actual rates, ddof=1) and half
        averages of ``h1 = n // 2`` and ``h2 = n - h1`` of the ``n`` available trials of each
        stimulus (the split used by :func:`brainlike.analysis.neural.split_half_reliability`),
        the half-average noise variances are ``v_k = mean_stimuli(noise_var / h_k)`` and::

            r_half = s2 / sqrt((s2 + v1) * (s2 + v2)),   reliability = SB(r_half)

        which for Gaussian noise and an even number R of trials on every stimulus is
        ``s2 / (s2 + sigma^2 / R)``. For Poisson noise ``noise_var`` is the rate itself. For
        dynamic animals every bin has its own signal variance, so its own reliability (0 in a
        bin where the rates do not vary across stimuli, e.g. before the response starts).

        Returns
        -------
        ndarray, shape (neuroid,) (or (neuroid, time_bin) for dynamic animals)
        """
        # spec: neural-evaluation.md §8 (noise level sets reliability analytically), §2 split
        counts = self.trial_counts.astype(float)
        h1 = np.floor(counts / 2)
        h2 = counts - h1
        if self.noise == "poisson":
            noise_var = self.rates
        else:  # Gaussian and calcium: additive Gaussian noise of sd noise_sd
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
        xarray.DataArray with dims (stimulus, neuroid, trial[, time_bin])
            Dynamic animals carry ``time_bin_start`` / ``time_bin_end`` (ms) coordinates.
        """
        from brainlike.data.recordings import make_recording

        if self.time_bins is not None:
            kwargs.setdefault("time_bins", [tuple(b) for b in self.time_bins])
        n_stimuli, n_neuroids = self.rates.shape[:2]
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


def random_recurrent_layers(
    inputs: np.ndarray,
    widths: Sequence[int] = (64, 64),
    *,
    n_steps: int = 26,
    image_steps: int = 10,
    leak: float = 0.6,
    recurrence: float = 0.8,
    seed: int | np.random.Generator = 0,
) -> dict[str, np.ndarray]:
    """A fixed random leaky recurrent ReLU network: a brain with known dynamics.

    Unrolled the biological way (spec: recurrent.md §1): at step ``t`` every layer reads its
    predecessor's output of step ``t - 1``, so layer ``l`` first responds at step ``l``; states
    start at zero. Layer 0 is the stimulus: the (centred, flattened) image during the first
    ``image_steps`` steps, a blank (zeros) after. Per layer::

        h_l[t] = leak * h_l[t-1] + (1 - leak) * relu(W_l h_{l-1}[t-1] + U_l h_l[t-1])

    ``W_l`` He-initialised Gaussian, ``U_l`` a random matrix scaled to spectral norm
    ``recurrence``. With ``leak + (1 - leak) * recurrence < 1`` every layer is a contraction: it
    settles while the image is on and decays to zero after it goes off, and the recurrent
    mixing ``U_l`` makes the pattern across stimuli change over time (not one profile scaled).

    Parameters
    ----------
    inputs : ndarray, shape (stimulus, ...)
        Stimuli (e.g. images (N, C, H, W)); flattened per stimulus and centred per feature.
    widths : sequence of int
        Units per layer.
    n_steps : int
        Time steps to unroll (26 with the image off at step 10 as in the spec's comparison
        with neural data).
    image_steps : int
        Steps during which the image is on.
    leak : float in [0, 1)
        Fraction of the state kept from one step to the next.
    recurrence : float in [0, 1)
        Spectral norm of the lateral recurrent weights ``U_l``.
    seed : int or Generator

    Returns
    -------
    dict layer name (``"layer1"``, ...) -> ndarray (stimulus, width, n_steps), float64
    """
    if not 0.0 <= leak < 1.0 or not 0.0 <= recurrence < 1.0:
        raise ValueError(f"leak and recurrence must lie in [0, 1); got {leak} and {recurrence}")
    if n_steps < 1 or not 0 <= image_steps <= n_steps:
        raise ValueError(
            f"need n_steps >= 1 and 0 <= image_steps <= n_steps; got {n_steps} and {image_steps}"
        )
    rng = np.random.default_rng(seed)
    x = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    x = x - x.mean(axis=0)
    fan_in = [x.shape[1], *(int(w) for w in widths[:-1])]
    W, U = [], []
    for n_in, width in zip(fan_in, widths, strict=True):
        W.append(rng.standard_normal((n_in, int(width))) * np.sqrt(2.0 / n_in))
        u = rng.standard_normal((int(width), int(width)))
        U.append(u * (recurrence / np.linalg.norm(u, 2)))
    states = [np.zeros((len(x), int(w))) for w in widths]
    out = [np.zeros((len(x), int(w), n_steps)) for w in widths]
    for t in range(n_steps):
        # every layer reads the previous step's outputs (stimulus at t - 1 for layer 1)
        below = [x if t - 1 < image_steps and t >= 1 else np.zeros_like(x), *states[:-1]]
        states = [
            leak * h + (1.0 - leak) * np.maximum(b @ w + h @ u, 0.0)
            for h, b, w, u in zip(states, below, W, U, strict=True)
        ]
        for o, h in zip(out, states, strict=True):
            o[:, :, t] = h
    return {f"layer{i}": o for i, o in enumerate(out, start=1)}


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
    noise : {"gaussian", "poisson", "calcium"}
        Gaussian: ``rates = signal_sd * z`` (z: the neuroid's standardised response) plus
        N(0, noise_sd^2) per trial. Poisson: ``rates = relu(z)`` scaled to ``mean_count``
        spikes on average over stimuli, and counts ~ Poisson(rate) per trial. Calcium (a
        two-photon dF/F response): the firing rate ``relu(z)`` through a saturating indicator,
        ``c = relu(z) / (relu(z) + 1)`` (half-saturation at one s.d. of the unit's drive),
        scaled so that its s.d. over stimuli is ``signal_sd``; the mean response is
        non-negative and every trial adds N(0, noise_sd^2) (so single trials can dip below 0,
        as baseline-subtracted dF/F does).
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
    layers = dict(features) if isinstance(features, Mapping) else {region: features}
    for name, feats in layers.items():
        shape = np.shape(feats)
        if len(shape) != 2:
            hint = (
                "; use simulate_dynamic_animals for (stimulus, unit, time)"
                if len(shape) == 3
                else ""
            )
            raise ValueError(
                f"features for region {name!r} must be 2-d (stimulus, unit); got shape "
                f"{shape}{hint}"
            )
    return _simulate(
        layers,
        n_animals=n_animals,
        units_per_animal=units_per_animal,
        n_trials=n_trials,
        noise_sd=noise_sd,
        noise=noise,
        mixing=mixing,
        units_per_mix=units_per_mix,
        signal_sd=signal_sd,
        mean_count=mean_count,
        ragged_fraction=ragged_fraction,
        seed=seed,
    )


def time_bins_ms(n_bins: int, bin_ms: float = 10.0, start_ms: float = 0.0) -> np.ndarray:
    """``(n_bins, 2)`` array of consecutive ``(start_ms, end_ms)`` bins of ``bin_ms`` each."""
    if n_bins < 1 or bin_ms <= 0:
        raise ValueError(f"need n_bins >= 1 and bin_ms > 0; got {n_bins} and {bin_ms}")
    starts = start_ms + bin_ms * np.arange(n_bins, dtype=float)
    return np.stack([starts, starts + bin_ms], axis=1)


def simulate_dynamic_animals(
    features_over_time: np.ndarray | Mapping[str, np.ndarray],
    *,
    time_bins: Any = None,
    bin_ms: float = 10.0,
    start_ms: float = 0.0,
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
    """Simulate animals recorded in time bins from a brain with known dynamics.

    The same simulator as :func:`simulate_animals`, with a trailing time axis: every neuroid
    is drawn (and mixed) once and is the same unit of the brain in every bin; its rates are
    the unit's features standardised over all (stimulus, bin) pairs together, so the shape of
    its time course (latency, rise, decay) is kept and only its overall scale is set
    (``signal_sd`` is the sd over stimuli and bins; Poisson rates average ``mean_count`` over
    both). Trial noise is independent in every bin; a dropped trial is missing in every bin.

    Parameters
    ----------
    features_over_time : ndarray (stimulus, unit, time), or dict region -> such arrays
        The brain's responses at every time step (e.g. :func:`random_recurrent_layers`, or
        time-resolved activations of a recurrent model); one step per time bin.
    time_bins : sequence of (start_ms, end_ms), optional
        One pair per time step; default consecutive bins of ``bin_ms`` from ``start_ms``.
    bin_ms, start_ms : float
        Bin width and the start of the first bin (ms after stimulus onset).
    n_animals, units_per_animal, n_trials, noise_sd, noise, mixing, units_per_mix, region,
    signal_sd, mean_count, ragged_fraction, seed
        As in :func:`simulate_animals`.

    Returns
    -------
    SimulatedAnimals
        ``responses`` (stimulus, neuroid, trial, time_bin), ``rates`` (stimulus, neuroid,
        time_bin), ``time_bins`` (time_bin, 2); :meth:`SimulatedAnimals.expected_reliability`
        gives the analytic reliability of every neuroid in every bin.
    """
    layers = (
        dict(features_over_time)
        if isinstance(features_over_time, Mapping)
        else {region: features_over_time}
    )
    n_steps = None
    for name, feats in layers.items():
        shape = np.shape(feats)
        if len(shape) != 3:
            raise ValueError(
                f"features for region {name!r} must be 3-d (stimulus, unit, time); got shape "
                f"{shape}"
            )
        if n_steps is None:
            n_steps = shape[2]
        elif shape[2] != n_steps:
            raise ValueError(
                f"all regions need the same time steps; region {name!r} has {shape[2]}, the "
                f"first region has {n_steps}"
            )
    if not layers:
        raise ValueError("features is an empty dict; pass at least one region -> feature array")
    if time_bins is None:
        bins = time_bins_ms(int(n_steps), bin_ms, start_ms)
    else:
        bins = np.asarray(time_bins, dtype=float)
        if bins.shape != (n_steps, 2) or not np.all(bins[:, 0] < bins[:, 1]):
            raise ValueError(
                f"time_bins must be {n_steps} (start_ms, end_ms) pairs with start < end, one "
                f"per time step of the features; got an array of shape {bins.shape}"
            )
    sim = _simulate(
        layers,
        n_animals=n_animals,
        units_per_animal=units_per_animal,
        n_trials=n_trials,
        noise_sd=noise_sd,
        noise=noise,
        mixing=mixing,
        units_per_mix=units_per_mix,
        signal_sd=signal_sd,
        mean_count=mean_count,
        ragged_fraction=ragged_fraction,
        seed=seed,
    )
    sim.time_bins = bins
    return sim


def _simulate(
    layers: dict[str, np.ndarray],
    *,
    n_animals: int,
    units_per_animal: int,
    n_trials: int,
    noise_sd: float,
    noise: str,
    mixing: bool,
    units_per_mix: int,
    signal_sd: float,
    mean_count: float,
    ragged_fraction: float,
    seed: int | np.random.Generator,
) -> SimulatedAnimals:
    """Static (stimulus, unit) or dynamic (stimulus, unit, time) features -> animals."""
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
    if not layers:
        raise ValueError("features is an empty dict; pass at least one region -> feature matrix")
    rng = np.random.default_rng(seed)
    dynamic = np.ndim(next(iter(layers.values()))) == 3
    # axes a neuron is standardised over: stimuli, and (dynamic) time steps together
    over = (0, 2) if dynamic else 0

    n_stimuli = None
    rates, animals, regions, sources, mix_units, mix_weights = [], [], [], [], [], []
    for name, feats in layers.items():
        x = np.asarray(feats, dtype=np.float64)
        if not np.all(np.isfinite(x)):
            raise ValueError(f"features for region {name!r} contain NaN or inf values")
        if n_stimuli is None:
            n_stimuli = x.shape[0]
        elif x.shape[0] != n_stimuli:
            raise ValueError(
                f"all regions need the same stimuli; region {name!r} has {x.shape[0]} rows, "
                f"the first region has {n_stimuli}"
            )
        # usable units vary across stimuli (in some time step)
        sd = x.std(axis=0) if not dynamic else x.std(axis=0).max(axis=-1)
        peak = np.abs(x).max(axis=over)
        valid = np.flatnonzero(sd > 1e-12 * (peak + 1e-300))
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
            # one draw for all time steps: a neuroid is the same unit(s) in every bin
            z = np.einsum("sik...,ik->si...", x[:, idx], w)
            z = (z - z.mean(axis=over, keepdims=True)) / z.std(axis=over, keepdims=True)
            rates.append(z)
            animals += [f"animal{a}"] * len(pool)
            regions += [str(name)] * len(pool)
            sources.append(src)
            mix_units.append(idx)
            mix_weights.append(w)
    z = np.concatenate(rates, axis=1)
    # trials sit on axis 2, before the time axis of dynamic animals
    shape = (*z.shape[:2], n_trials, *z.shape[2:])
    if noise == "poisson":
        r = np.maximum(z, 0.0)
        rate = r * (mean_count / r.mean(axis=over, keepdims=True))
        responses = rng.poisson(np.expand_dims(rate, 2), size=shape).astype(float)
    elif noise == "calcium":
        # spec: mouse-and-entorhinal.md §1 (calcium benchmark); saturating indicator of the rate
        r = np.maximum(z, 0.0)
        c = r / (r + 1.0)
        rate = signal_sd * c / c.std(axis=over, keepdims=True)
        responses = np.expand_dims(rate, 2) + noise_sd * rng.standard_normal(shape)
    else:
        rate = signal_sd * z
        responses = np.expand_dims(rate, 2) + noise_sd * rng.standard_normal(shape)
    animal = np.array(animals)
    if ragged_fraction > 0:
        for name in np.unique(animal):
            dropped = _drop_trials(rng, n_stimuli, n_trials, ragged_fraction)
            cols = np.flatnonzero(animal == name)
            block = responses[:, cols]
            mask = dropped[:, None, :, None] if dynamic else dropped[:, None, :]
            block[np.broadcast_to(mask, block.shape)] = np.nan
            responses[:, cols] = block
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
