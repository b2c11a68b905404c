"""A brainlike model through brainscore-vision's own code, run inside a venv that has it.

Run by tests/integrations/test_brainscore_vision.py (slow) as
``python brainscore_vision_check.py OUT_DIR``; it prints a JSON summary on its last line. It
never touches the network: the stimuli are images written to ``OUT_DIR``, the neural data an
assembly built here, and only brainscore-vision's classes and registered metrics are used (no
``load_benchmark`` / ``load_dataset``, which download).

The simulated IT sites are linear mixtures of the model's own IT features plus trial noise, so
PLS predictivity is high, and Brain-Score's numbers (its ``pls`` metric, ``internal_consistency``
ceiler and a ``NeuralBenchmark``) are compared with brainlike's Brain-Score-convention ones
(:mod:`brainlike.analysis.neural.brainscore`) on the same activations and splits.
"""

from __future__ import annotations

import json
import sys
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

N_OBJECTS, PER_OBJECT, N_SITES, N_REPS = 4, 15, 24, 6
TIME_BIN = (70, 170)


def write_stimuli(folder: Path, prefix: str, per_object: int, seed: int):
    """A StimulusSet of textured squares, one brightness and stripe frequency per object."""
    from brainscore_core.supported_data_standards.brainio.stimuli import StimulusSet

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    rows, paths = [], {}
    yy, xx = np.mgrid[0:32, 0:32]
    for obj in range(N_OBJECTS):
        for i in range(per_object):
            stripes = np.sin(2 * np.pi * (obj + 1) * (xx + rng.integers(0, 8)) / 32)
            pixels = 60 + 40 * obj + 50 * stripes[..., None] + rng.normal(0, 25, (32, 32, 3))
            sid = f"{prefix}{obj}_{i:02d}"
            path = folder / f"{sid}.png"
            Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path)
            paths[sid] = path
            rows.append(
                {"stimulus_id": sid, "object_name": f"object{obj}", "image_label": f"object{obj}"}
            )
    stimuli = StimulusSet(pd.DataFrame(rows))
    stimuli.stimulus_paths = paths
    stimuli.identifier = f"brainlike.local.{prefix}"
    return stimuli


def neural_assembly(features: np.ndarray, stimuli, seed: int):
    """Repetition assembly (presentation x neuroid x time_bin) of simulated IT sites."""
    from brainscore_core.supported_data_standards.brainio.assemblies import NeuroidAssembly

    rng = np.random.default_rng(seed)
    z = (features - features.mean(0)) / (features.std(0) + 1e-6)
    signal = z @ rng.normal(size=(z.shape[1], N_SITES)) / np.sqrt(z.shape[1])
    signal /= signal.std(0)
    noise = rng.normal(scale=1.5, size=(len(stimuli), N_SITES, N_REPS))
    trials = signal[:, :, None] + noise  # stimulus x site x repetition
    values = trials.transpose(2, 0, 1).reshape(N_REPS * len(stimuli), N_SITES)  # rep-major
    ids = np.tile(stimuli["stimulus_id"].to_numpy(), N_REPS)
    objects = np.tile(stimuli["object_name"].to_numpy(), N_REPS)
    assembly = NeuroidAssembly(
        values[:, :, None],
        coords={
            "stimulus_id": ("presentation", ids),
            "object_name": ("presentation", objects),
            "repetition": ("presentation", np.repeat(np.arange(N_REPS), len(stimuli))),
            "neuroid_id": ("neuroid", [f"site{j}" for j in range(N_SITES)]),
            "region": ("neuroid", ["IT"] * N_SITES),
            "animal": ("neuroid", ["monkeyA"] * N_SITES),
            "time_bin_start": ("time_bin", [TIME_BIN[0]]),
            "time_bin_end": ("time_bin", [TIME_BIN[1]]),
        },
        dims=["presentation", "neuroid", "time_bin"],
    )
    assembly = assembly.squeeze("time_bin")  # as Brain-Score's static IT assemblies are stored
    assembly.attrs["stimulus_set"] = stimuli
    assembly.attrs["stimulus_set_identifier"] = stimuli.identifier
    return assembly, trials


def main(out: Path) -> dict:
    from brainscore_vision import load_metric
    from brainscore_vision.benchmark_helpers.neural_common import (
        NeuralBenchmark,
        average_repetition,
    )
    from brainscore_vision.model_interface import BrainModel

    from brainlike.analysis.mapping import PLSMapping
    from brainlike.analysis.neural.brainscore import (
        brainscore_internal_consistency,
        brainscore_predictivity,
        brainscore_splits,
        ceiled_score,
    )
    from brainlike.integrations.brainscore import make_brainscore_model

    facts: dict = {"brainscore_vision": version("brainscore-vision"), "xarray": version("xarray")}
    stimuli = write_stimuli(out / "stimuli", "img", PER_OBJECT, seed=0)
    model = make_brainscore_model("resnet20", input_size=16, seed=0, visual_degrees=8)
    facts["commitment"] = model.region_layer_map

    # -- recording through BrainModel's own constants -------------------------------------
    model.start_task(BrainModel.Task.passive)
    model.start_recording(BrainModel.RecordingTarget.IT, [TIME_BIN])
    recorded = model.look_at(stimuli, number_of_trials=1)
    facts["recording_type"] = type(recorded).__name__
    facts["recording_dims"] = list(recorded.dims)
    facts["recording_shape"] = list(recorded.shape)
    facts["time_bins"] = [list(map(int, tb)) for tb in recorded["time_bin"].values]
    source = recorded.squeeze("time_bin")
    features = np.asarray(source.values, dtype=np.float64)

    neural_rep, trials = neural_assembly(features, stimuli, seed=1)
    neural = average_repetition(neural_rep)  # what Brain-Score's metric sees

    # -- Brain-Score's PLS metric vs brainlike's on the same activations --------------------
    metric = load_metric("pls")
    bs_raw = metric(source, neural)
    order = neural["stimulus_id"].values  # Brain-Score splits the target's presentations in order
    row = {sid: i for i, sid in enumerate(source["stimulus_id"].values)}
    X = features[[row[s] for s in order]]
    trial_row = {sid: i for i, sid in enumerate(stimuli["stimulus_id"])}
    Y = trials[[trial_row[s] for s in order]]
    labels = neural["object_name"].values
    bl = brainscore_predictivity(X, Y, "pls", labels=labels)  # PLS-25 run to convergence
    # the same PLS-25 through scikit-learn's PLSRegression, as Brain-Score fits it
    bl_sk = brainscore_predictivity(X, Y, PLSMapping(25, algorithm="sklearn"), labels=labels)
    # the splits themselves: Brain-Score's, as index sets of ``order``
    _, bs_splits = metric.cross_validation._split.build_splits(neural)
    bl_splits = brainscore_splits(len(order), labels)
    facts["same_splits"] = all(
        sorted(a[0]) == sorted(b[0]) and sorted(a[1]) == sorted(b[1])
        for a, b in zip(bs_splits, bl_splits, strict=True)
    )
    facts["pls"] = {
        "brainscore": float(bs_raw.values),
        "brainlike": bl.value,
        "brainlike_sklearn_pls": bl_sk.value,
        "brainscore_error": float(bs_raw.attrs["error"].values),
        "brainlike_error": bl.error,
        "brainlike_sklearn_pls_error": bl_sk.error,
        "brainscore_per_split": bs_raw.raw.median("neuroid").values.tolist(),
        "brainlike_per_split": np.asarray(bl.per_split).tolist(),
        "brainlike_sklearn_pls_per_split": np.asarray(bl_sk.per_split).tolist(),
    }

    # -- ceiling: Brain-Score's internal consistency vs brainlike's -------------------------
    ceiler = load_metric("internal_consistency")
    bs_ceiling = ceiler(neural_rep)
    bl_ceiling = brainscore_internal_consistency(Y)
    facts["ceiling"] = {"brainscore": float(bs_ceiling.values), "brainlike": bl_ceiling.value}

    # -- a NeuralBenchmark calls start_recording / look_at itself ---------------------------
    def neural_benchmark(degrees: int) -> NeuralBenchmark:
        return NeuralBenchmark(
            identifier=f"brainlike.local.IT-pls-{degrees}deg",
            assembly=neural,
            similarity_metric=load_metric("pls"),
            visual_degrees=degrees,
            number_of_trials=1,
            ceiling_func=lambda: ceiler(neural_rep),
            parent="IT",
            version=1,
        )

    bench = neural_benchmark(8)(model)
    facts["benchmark"] = {
        "brainscore_ceiled": float(bench.values),
        "brainscore_raw": float(bench.raw.values),
        "brainlike_ceiled": ceiled_score(bl.value, bl_ceiling.value, "r2_over_ceiling"),
        "brainlike_sklearn_pls_ceiled": ceiled_score(
            bl_sk.value, bl_ceiling.value, "r2_over_ceiling"
        ),
    }

    # -- stimuli shown at 12 degrees to the 8-degree model: Brain-Score's place_on_screen writes
    # shrunken copies (under $BRAINSCORE_HOME) into a new StimulusSet that look_at must read
    facts["benchmark_12deg_ceiled"] = float(neural_benchmark(12)(model).values)

    # -- behaviour: probabilities on held-out stimuli, then passive again -------------------
    fitting = write_stimuli(out / "fitting", "fit", 10, seed=2)
    model.start_task(BrainModel.Task.probabilities, fitting)
    proba = model.look_at(stimuli)
    p = np.asarray(proba.values, dtype=np.float64)
    truth = stimuli.set_index("stimulus_id").loc[proba["stimulus_id"].values, "image_label"]
    picked = np.asarray(proba["choice"].values)[p.argmax(1)]
    facts["probabilities"] = {
        "type": type(proba).__name__,
        "dims": list(proba.dims),
        "shape": list(p.shape),
        "choices": sorted(map(str, proba["choice"].values)),
        "max_abs_row_sum_error": float(np.abs(p.sum(1) - 1).max()),
        "accuracy": float(np.mean(picked == truth.to_numpy())),
    }
    model.start_task(BrainModel.Task.label, fitting)
    labels_out = model.look_at(stimuli)
    facts["label"] = {"dims": list(labels_out.dims), "shape": list(labels_out.shape)}
    model.start_task(BrainModel.Task.passive)
    again = model.look_at(stimuli)
    facts["passive_again_max_diff"] = float(np.abs(again.values - recorded.values).max())
    return facts


if __name__ == "__main__":
    target = Path(sys.argv[1])
    target.mkdir(parents=True, exist_ok=True)
    print(json.dumps(main(target)))
