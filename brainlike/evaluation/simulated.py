"""Simulated benchmarks: animals recorded from a known brain, written as a benchmark to score on.

:func:`simulate_benchmark` (``brainlike simulate``) records simulated animals from layers of a
registry or trained network shown rendered digits (spec: neural-evaluation.md §8);
:func:`simulate_dynamic_benchmark` (``--dynamic``) records time-binned animals from the
built-in recurrent brain or a registered recurrent model (spec: recurrent.md §1-2). Scoring
the brain itself should reach about 100 % of the inter-animal ceiling at the generating
layers. Both build in a staging folder and replace an earlier benchmark only once complete.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.preconditions import ScoringError
from brainlike.evaluation.score_table import _num
from brainlike.evaluation.scoring_model import default_layers, load_scoring_model, model_images

_BENCHMARK_FILES = (
    "recording.nc",
    "recording.npz",
    "recording.nwb",
    "stimuli",
    "ground_truth.json",
)


def _simulation_folder(out_dir: str | Path, overwrite: bool) -> Path:
    """The output folder of a simulated benchmark, checked (and made) before any work is done:
    a folder that already holds a benchmark's files (a recording, ``stimuli/``,
    ``ground_truth.json``) is refused unless ``overwrite``."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ScoringError(f"{out} is a file; give a folder for the simulated benchmark")
    existing = [name for name in _BENCHMARK_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise ScoringError(
            f"{out} already holds a simulated benchmark ({', '.join(existing)}); "
            "pass --overwrite to replace it, or choose another folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _staged_simulation(simulate: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Run a benchmark simulator in a staging folder inside its output folder and move its files
    in only once it has finished: an earlier benchmark is replaced (``overwrite``) by a complete
    one, and a simulation that fails or is interrupted leaves the folder as it was. Only the
    benchmark's own files are replaced (no recording of another format is left behind); other
    files in the folder stay."""
    import functools
    import shutil
    import tempfile

    @functools.wraps(simulate)
    def run(out_dir: str | Path, *args: Any, overwrite: bool = False, **kwargs: Any):
        out = _simulation_folder(out_dir, overwrite)
        stage = Path(tempfile.mkdtemp(prefix=".simulating-", dir=out))
        try:
            result = simulate(stage, *args, overwrite=overwrite, **kwargs)
            for name in _BENCHMARK_FILES:
                old = out / name
                if old.is_dir():
                    shutil.rmtree(old)
                elif old.exists():
                    old.unlink()
            for entry in stage.iterdir():
                os.replace(entry, out / entry.name)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return {
            key: value.replace(str(stage), str(out)) if isinstance(value, str) else value
            for key, value in result.items()
        }

    return run


@_staged_simulation
def simulate_benchmark(
    out_dir: str | Path,
    *,
    brain: str = "resnet20",
    brain_seed: int = 0,
    areas: dict[str, str] | None = None,
    n_per_digit: int = 30,
    image_size: int = 32,
    n_animals: int = 4,
    units_per_animal: int = 40,
    n_trials: int = 10,
    noise_sd: float = 1.0,
    noise: str = "gaussian",
    ragged_fraction: float = 0.0,
    fmt: str = "nc",
    pool: int | None = 2,
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a simulated benchmark: rendered-digit stimuli and animals recorded from a known brain.

    The brain is a registry model with random weights from ``brain_seed``; each area is one of
    its layers (``areas``: region -> module name), each animal a random subset of that layer's
    units observed with trial noise (spec: neural-evaluation.md §8). Scoring the same model
    (``brainlike score <brain> --seed <brain_seed>``) should reach about 100 % of the
    inter-animal ceiling at the generating layers.

    ``pool`` (default 2) average-pools a convolutional layer's maps to ``pool x pool`` before
    units are drawn: each simulated neuron then integrates over a quadrant of the image, and an
    area has ``channels * pool**2`` distinct response profiles. Without pooling, a 16,384-unit
    layer sampled at a few dozen neurons per animal gives animals that barely predict each other
    (other animals' neurons sit elsewhere on the map), so the inter-animal ceiling falls far
    below what the generating layer reaches; ``pool=None`` keeps single units.

    A folder that already holds a benchmark is refused unless ``overwrite`` (checked before any
    work). ``fmt="nwb"`` writes spike times (see :func:`write_nwb_from_simulation`).

    Returns a dict with the paths of the recording and the stimulus set and the ground truth.
    """
    from brainlike.data.simulate import simulate_animals

    if fmt not in ("nc", "npz", "nwb"):
        raise ScoringError(f"unknown format {fmt!r}; choose nc, npz or nwb")
    out = Path(out_dir)  # the staging folder of @_staged_simulation
    # a trained brain sees the images at the size it was trained on (as `score` shows them to
    # candidates); a registry brain at the rendered size
    trained = Path(brain).expanduser().exists()
    sm = load_scoring_model(brain, seed=brain_seed, input_size=None if trained else image_size)
    if areas is None:
        layers = default_layers(sm.model, (sm.in_channels, sm.input_size, sm.input_size))
        # Early, middle and late processing stages (the readout and pooling left out).
        stages = layers[:-2] if len(layers) > 4 else layers
        pick = [stages[round(f * (len(stages) - 1))] for f in (0.15, 0.5, 1.0)]
        areas = dict(zip(("V1", "V4", "IT"), pick, strict=True))
    _, labels, ids, csv = _digit_stimuli(out, n_per_digit, image_size, seed)
    features = _area_features(sm, csv, ids, areas, pool, progress)
    sim = simulate_animals(
        features,
        n_animals=n_animals,
        units_per_animal=units_per_animal,
        n_trials=n_trials,
        noise_sd=noise_sd,
        noise=noise,
        ragged_fraction=ragged_fraction,
        seed=seed,
    )
    truth = {
        "brain": brain,
        "brain_seed": brain_seed,
        "areas": areas,
        "noise_sd": noise_sd,
        "noise": noise,
        "n_trials": n_trials,
        "pool": pool,
        "expected_reliability_median": float(np.nanmedian(sim.expected_reliability())),
    }
    identifier = f"simulated-{brain}-seed{brain_seed}"
    return _write_benchmark(out, fmt, sim, ids, labels, csv, identifier, truth)


@_staged_simulation
def simulate_dynamic_benchmark(
    out_dir: str | Path,
    *,
    brain: str | None = None,
    brain_seed: int = 0,
    areas: dict[str, str] | None = None,
    n_per_digit: int = 30,
    image_size: int = 32,
    n_steps: int = 26,
    image_steps: int = 10,
    bin_ms: float = 10.0,
    widths: tuple[int, ...] = (64, 64),
    n_animals: int = 4,
    units_per_animal: int = 40,
    n_trials: int = 10,
    noise_sd: float = 1.0,
    noise: str = "gaussian",
    ragged_fraction: float = 0.0,
    fmt: str = "nc",
    pool: int | None = 2,
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a simulated time-binned benchmark: digit stimuli and animals with known dynamics.

    The brain is either the built-in ground-truth recurrent network (``brain=None``:
    :func:`brainlike.data.simulate.random_recurrent_layers` on the stimulus pixels, weights
    from ``brain_seed``, ``n_steps`` steps with the image on for the first ``image_steps``;
    areas ``V4`` and ``IT`` are its layers 1 and 2 by default), or a registered recurrent model
    with a ``time_steps`` attribute (its time-resolved activations, one bin per step; areas
    are module names). Each animal is a subset of an area's units observed with trial noise
    in every bin (:func:`~brainlike.data.simulate.simulate_dynamic_animals`); bin ``b`` covers
    ``[b * bin_ms, (b + 1) * bin_ms)`` ms. Scoring the same registered model with
    ``brainlike score <brain> --temporal`` should reach about 100 % of the per-bin ceiling
    while the image drives the areas. Runs offline. A folder that already holds a benchmark is
    refused unless ``overwrite`` (checked before any work). ``fmt="nwb"`` writes spike times
    whose counts in every bin are the trials (:func:`write_nwb_from_simulation`).

    Returns a dict with the paths of the recording and the stimulus set and the ground truth.
    """
    from brainlike.data.recordings import read_stimulus_set
    from brainlike.data.simulate import random_recurrent_layers, simulate_dynamic_animals

    if fmt not in ("nc", "npz", "nwb"):
        raise ScoringError(f"unknown format {fmt!r}; choose nc, npz or nwb")
    out = Path(out_dir)  # the staging folder of @_staged_simulation
    images, labels, ids, csv = _digit_stimuli(out, n_per_digit, image_size, seed)
    truth: dict[str, Any] = {"brain_seed": brain_seed}
    if brain is None:
        layers = random_recurrent_layers(
            images, widths, n_steps=n_steps, image_steps=image_steps, seed=brain_seed
        )
        areas = areas or {"V4": "layer1", "IT": "layer2"}
        missing = [lay for lay in areas.values() if lay not in layers]
        if missing:
            raise ScoringError(
                f"the built-in recurrent brain has layers {', '.join(layers)}; no {missing[0]!r}"
            )
        features = {region: layers[layer] for region, layer in areas.items()}
        truth.update(
            brain="random-recurrent",
            widths=list(widths),
            n_steps=n_steps,
            image_steps=image_steps,
        )
    else:
        from brainlike.analysis.activations import extract_activations, model_time_steps

        # the model's own input size: what `brainlike score` will show it
        sm = load_scoring_model(brain, seed=brain_seed)
        try:
            steps = model_time_steps(sm.model)
        except ValueError as err:
            raise ScoringError(
                f"--dynamic needs a recurrent brain: {err}; leave --brain out for the built-in "
                "recurrent network"
            ) from None
        if areas is None:
            layers = default_layers(sm.model, (sm.in_channels, sm.input_size, sm.input_size), steps)
            if not layers:
                raise ScoringError(f"{brain} has no module run once per step; pass --areas")
            areas = (
                {"V4": layers[(len(layers) - 1) // 2], "IT": layers[-1]}
                if len(layers) > 1
                else {"IT": layers[0]}
            )
        model_input = model_images(read_stimulus_set(csv), ids, sm)
        acts = extract_activations(
            sm.model,
            model_input,
            list(dict.fromkeys(areas.values())),
            time_steps=steps,
            progress=progress,
        )
        features = {
            region: _pool_units(np.asarray(acts[layer], np.float64), acts.unit_shape(layer), pool)
            for region, layer in areas.items()
        }
        truth.update(brain=brain, time_steps=steps, pool=pool)
    sim = simulate_dynamic_animals(
        features,
        bin_ms=bin_ms,
        n_animals=n_animals,
        units_per_animal=units_per_animal,
        n_trials=n_trials,
        noise_sd=noise_sd,
        noise=noise,
        ragged_fraction=ragged_fraction,
        seed=seed,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = sim.expected_reliability()
    truth.update(
        areas=areas,
        noise_sd=noise_sd,
        noise=noise,
        n_trials=n_trials,
        bin_ms=bin_ms,
        n_bins=int(sim.time_bins.shape[0]),
        expected_reliability_median_per_bin=[_num(v) for v in np.median(expected, axis=0)],
    )
    identifier = f"simulated-dynamic-{truth['brain']}-seed{brain_seed}"
    return _write_benchmark(out, fmt, sim, ids, labels, csv, identifier, truth)


# The six mouse visual areas of the Allen Brain Observatory and the StreamNet module that
# generates each (spec: mouse-and-entorhinal.md §1: VISp the shallow area, VISl/VISrl/VISal/
# VISpm streams, VISam an output area of the six-stream network).
MOUSE_AREAS = {
    "VISp": "VISp",
    "VISl": "VISl",
    "VISal": "VISal",
    "VISrl": "VISrl",
    "VISam": "VISam",
    "VISpm": "VISpm",
}
MOUSE_MODALITIES = {
    # noise model, trial-noise sd (signal sd 1), mean count: two-photon is low-SNR dF/F
    "calcium": ("calcium", 3.0, None),
    "neuropixels": ("poisson", None, 0.3),
}


@_staged_simulation
def simulate_mouse_benchmark(
    out_dir: str | Path,
    *,
    brain: str = "streamnet-six",
    brain_seed: int = 0,
    areas: dict[str, str] | None = None,
    modality: str = "calcium",
    n_per_digit: int = 12,
    image_size: int = 64,
    stimuli: str = "digits",
    n_animals: int = 4,
    units_per_animal: int = 30,
    n_trials: int = 10,
    noise_sd: float | None = None,
    mean_count: float | None = None,
    fmt: str = "nc",
    pool: int | None = 2,
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a simulated mouse visual-cortex benchmark: six areas, several animals, one modality.

    The brain is the six-stream StreamNet (``streamnet-six``) with random weights from
    ``brain_seed`` (or a trained run): areas VISp, VISl, VISal, VISrl, VISam, VISpm are its
    modules of the same names (``areas`` overrides: area -> module). Stimuli are rendered
    digits at ``image_size`` px (10 x ``n_per_digit``; 120 by default, close to the 118 Allen
    natural scenes). Each animal is a random subset of an area's (2 x 2 average-pooled) units
    (spec: neural-evaluation.md §8) observed in the chosen modality:

    - ``calcium`` (two-photon dF/F): the rectified drive through a saturating indicator,
      ``c = relu(z) / (relu(z) + 1)`` scaled to s.d. 1 over stimuli, plus Gaussian trial noise
      of s.d. ``noise_sd`` (default 3.0: reliability about 0.5 at 10 trials, low as in
      two-photon data);
    - ``neuropixels``: Poisson spike counts on the rectified drive, ``mean_count`` spikes per
      trial on average (default 0.3, a sparse low-rate response: reliability about 0.85).

    The ground truth (brain, areas, modality, noise, the analytic reliability per area) goes
    into ``ground_truth.json`` and the recording's attributes. ``brainlike ceiling`` gives the
    inter-animal consistency per mapping class and the area-by-area map.

    Returns a dict with the paths of the recording and the stimulus set and the ground truth.
    """
    # spec: mouse-and-entorhinal.md §1 (six areas), neural-evaluation.md §8 (simulated animals)
    from brainlike.data.simulate import simulate_animals

    if modality not in MOUSE_MODALITIES:
        raise ScoringError(f"unknown modality {modality!r}; choose {' or '.join(MOUSE_MODALITIES)}")
    if stimuli not in ("digits", "scenes"):
        raise ScoringError(f"unknown stimuli {stimuli!r}; choose digits or scenes")
    if fmt not in ("nc", "npz", "nwb"):
        raise ScoringError(f"unknown format {fmt!r}; choose nc, npz or nwb")
    if fmt == "nwb" and modality == "calcium":
        raise ScoringError(
            "--format nwb writes spike times; a calcium benchmark is written as nc or npz"
        )
    noise, default_sd, default_count = MOUSE_MODALITIES[modality]
    if noise == "poisson":
        noise_sd, mean_count = 0.0, float(default_count if mean_count is None else mean_count)
    else:
        noise_sd, mean_count = float(default_sd if noise_sd is None else noise_sd), 0.0
    if noise_sd < 0 or (noise == "poisson" and mean_count <= 0):
        raise ScoringError(
            f"need noise_sd >= 0 and a positive mean count; got {noise_sd} and {mean_count}"
        )
    out = Path(out_dir)  # the staging folder of @_staged_simulation
    trained = Path(brain).expanduser().exists()
    sm = load_scoring_model(brain, seed=brain_seed, input_size=None if trained else image_size)
    areas = dict(areas or MOUSE_AREAS)
    modules = dict(sm.model.named_modules())
    missing = [m for m in areas.values() if m not in modules]
    if missing:
        raise ScoringError(
            f"{brain} has no module {missing[0]!r} for the mouse areas; pass --areas "
            "AREA=MODULE pairs, or use a six-stream StreamNet (streamnet-six)"
        )
    make_stimuli = {"digits": _digit_stimuli, "scenes": _scene_stimuli}[stimuli]
    _, labels, ids, csv = make_stimuli(out, n_per_digit, sm.input_size, seed)
    features = _area_features(sm, csv, ids, areas, pool, progress)
    sim = simulate_animals(
        features,
        n_animals=n_animals,
        units_per_animal=units_per_animal,
        n_trials=n_trials,
        noise_sd=noise_sd,
        noise=noise,
        mean_count=mean_count,
        seed=seed,
    )
    expected = sim.expected_reliability()
    truth = {
        "species": "mouse",
        "brain": brain,
        "brain_seed": brain_seed,
        "areas": areas,
        "modality": modality,
        "noise": noise,
        "noise_sd": noise_sd,
        "mean_count": mean_count if noise == "poisson" else None,
        "n_trials": n_trials,
        "n_animals": n_animals,
        "units_per_animal": units_per_animal,
        "pool": pool,
        "image_size": sm.input_size,
        "stimuli": stimuli,
        "expected_reliability_median": float(np.nanmedian(expected)),
        "expected_reliability_median_per_area": {
            a: float(np.nanmedian(expected[sim.region == a])) for a in areas
        },
    }
    identifier = f"simulated-mouse-{modality}-{Path(brain).name}-seed{brain_seed}"
    return _write_benchmark(out, fmt, sim, ids, labels, csv, identifier, truth)


def _area_features(
    sm: Any, csv: Path, ids: list[str], areas: dict[str, str], pool: int | None, progress: bool
) -> dict[str, np.ndarray]:
    """Each area's responses of the brain ``sm`` to the stimulus set: its module's activations
    (stimulus, unit), conv maps average-pooled to ``pool`` x ``pool`` (see
    :func:`simulate_benchmark`)."""
    from brainlike.analysis.activations import extract_activations
    from brainlike.data.recordings import read_stimulus_set

    model_input = model_images(read_stimulus_set(csv), ids, sm)
    acts = extract_activations(
        sm.model, model_input, list(dict.fromkeys(areas.values())), progress=progress
    )
    return {
        region: _pool_units(np.asarray(acts[layer], np.float64), acts.unit_shape(layer), pool)
        for region, layer in areas.items()
    }


def _digit_stimuli(
    out: Path, n_per_digit: int, image_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str], Path]:
    """Rendered digits (``n_per_digit`` of each class, drawn from ``seed``) written as the
    benchmark's stimulus set in ``out/stimuli``; returns the images, their digit labels, the
    stimulus ids and the stimulus-set CSV."""
    from brainlike.data.recordings import write_stimulus_set
    from brainlike.data.stimuli import render_digits

    images, labels = render_digits(n_per_digit, size=image_size, channels=1, rng=seed)
    ids = [f"digit{int(lab)}_{i:04d}" for i, lab in enumerate(labels)]
    csv = write_stimulus_set(
        images[:, 0], ids, out / "stimuli", object_name=[str(int(v)) for v in labels]
    )
    return images, labels, ids, csv


def _scene_stimuli(
    out: Path, n_per_digit: int, image_size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, list[str], Path]:
    """Generated scenes (:func:`brainlike.data.scenes.render_scenes`: one shape at a known
    position, size, pose, texture and depth), ``10 * n_per_digit`` of them in grey levels like
    the Allen natural scenes, written as the benchmark's stimulus set with their latents as
    columns; returns the images, the shape categories, the ids and the CSV."""
    from brainlike.data.recordings import write_stimulus_set
    from brainlike.data.scenes import SHAPES, render_scenes

    scenes = render_scenes(10 * n_per_digit, size=image_size, seed=seed, channels=1)
    lat = scenes.latents
    labels = np.asarray(lat["category"], int)
    ids = [f"scene{i:04d}_{SHAPES[c]}" for i, c in enumerate(labels)]
    csv = write_stimulus_set(
        np.asarray(scenes.images[:, 0]),
        ids,
        out / "stimuli",
        object_name=[SHAPES[c] for c in labels],
        **{k: [float(v) for v in lat[k]] for k in ("x", "y", "size", "pose", "depth")},
        texture=[int(v) for v in lat["texture"]],
    )
    return scenes.images, labels, ids, csv


def _write_benchmark(
    out: Path,
    fmt: str,
    sim: Any,
    ids: list[str],
    labels: np.ndarray,
    csv: Path,
    identifier: str,
    truth: dict[str, Any],
) -> dict[str, Any]:
    """The simulated animals as ``out/recording.<fmt>`` (``nwb``: spike times; otherwise the
    responses, the ground truth in the attributes) and ``out/ground_truth.json``; returns the
    paths of the recording and the stimulus set and the ground truth."""
    from brainlike.data.recordings import write_nwb, write_recording
    from brainlike.train.checkpoint import atomic_write_json

    if fmt == "nwb":
        path = write_nwb_from_simulation(sim, ids, out / "recording.nwb", write_nwb)
    else:
        rec = sim.to_recording(
            ids,
            identifier=identifier,
            stimulus_set_identifier="stimulus_set",
            stimulus_coords={"object_name": [str(int(v)) for v in labels]},
        )
        rec.attrs["ground_truth"] = json.dumps(truth)
        path = write_recording(rec, out / f"recording.{fmt}")
    atomic_write_json(out / "ground_truth.json", truth)
    return {"recording": str(path), "stimuli": str(csv), "truth": truth}


def _pool_units(X: np.ndarray, unit_shape: tuple[int, ...] | None, pool: int | None) -> np.ndarray:
    """Average-pool (stimulus, C*H*W[, time]) conv features to (stimulus, C*pool*pool[, time])."""
    if not pool or unit_shape is None or len(unit_shape) != 3:
        return X
    import torch
    from torch.nn import functional as F

    c, h, w = unit_shape
    if h < pool or w < pool:
        return X
    if X.ndim == 3:  # every time step pooled alike
        steps = X.shape[2]
        flat = np.moveaxis(X, 2, 1).reshape(len(X) * steps, -1)
        pooled = _pool_units(np.ascontiguousarray(flat), unit_shape, pool)
        return np.moveaxis(pooled.reshape(len(X), steps, -1), 1, 2)
    t = torch.from_numpy(X.reshape(len(X), c, h, w))
    return F.adaptive_avg_pool2d(t, pool).reshape(len(X), -1).numpy()


def write_nwb_from_simulation(sim: Any, ids: list[str], path: Path, write_nwb: Any) -> Path:
    """Spike trains whose counts equal the simulated trials, as an NWB file.

    Static animals: the spikes of a trial fall 70-170 ms after its presentation's onset (the
    default counting window of :func:`~brainlike.data.recordings.read_nwb`). Dynamic animals
    (``sim.time_bins``): the spikes of every time bin fall inside that bin, so reading with
    ``read_nwb(path, time_bins=sim.time_bins, squeeze_time=False)`` gives back the trials bin
    by bin. Responses are rounded and clipped at 0 (counts); with Poisson noise they are counts
    already. Onsets are at least 300 ms apart and 100 ms past the last bin.
    """
    rng = np.random.default_rng(0)
    counts = np.nan_to_num(np.clip(np.round(sim.responses), 0, None)).astype(int)
    if counts.ndim == 3:
        counts = counts[..., None]
        windows_ms = np.array([[70.0, 170.0]])
    else:
        windows_ms = np.asarray(sim.time_bins, dtype=float)
    # spikes 0.5 ms inside their window, clear of rounding at its edges
    low = windows_ms[:, 0] / 1000 + 0.0005
    high = windows_ms[:, 1] / 1000 - 0.0005
    spacing = max(0.3, float(windows_ms[:, 1].max()) / 1000 + 0.1)
    n_stim, n_neur, n_trial, n_bins = counts.shape
    order = np.concatenate([rng.permutation(n_stim) for _ in range(n_trial)])
    onsets = 1.0 + spacing * np.arange(n_trial * n_stim)
    onset_of = np.empty((n_stim, n_trial))  # presentation time of each stimulus and trial
    onset_of[order, np.repeat(np.arange(n_trial), n_stim)] = onsets
    start = onset_of[:, :, None] + low  # (stimulus, trial, bin)
    width = np.broadcast_to(high - low, start.shape)
    spikes = []
    for n in range(n_neur):
        k = counts[:, n].ravel()
        times = np.repeat(start.ravel(), k) + np.repeat(width.ravel(), k) * rng.random(k.sum())
        spikes.append(np.sort(times))
    stim_of = [ids[s] for s in order]
    return write_nwb(
        path,
        spike_times=spikes,
        presentations=list(zip(onsets.tolist(), stim_of, strict=True)),
        region=[str(r) for r in sim.region],
        animal=[str(a) for a in sim.animal],
    )
