"""The Brain-Score bridge against a stand-in StimulusSet (the real one: test_brainscore_vision.py)."""

from __future__ import annotations

import enum
import inspect
import subprocess
import sys
import types

import numpy as np
import pandas as pd
import pytest
import xarray as xr
from PIL import Image

from brainlike.evaluation.scoring_model import load_scoring_model
from brainlike.integrations.brainscore import (
    BrainlikeBrainModel,
    BrainScoreError,
    make_brainscore_model,
)


class FakeStimulusSet(pd.DataFrame):
    """Like brainio's StimulusSet: a DataFrame with stimulus_paths and get_stimulus."""

    _metadata = [*pd.DataFrame._metadata, "identifier", "stimulus_paths"]

    @property
    def _constructor(self):
        return FakeStimulusSet

    def get_stimulus(self, stimulus_id):
        return self.stimulus_paths[stimulus_id]


def make_stimuli(folder, n=6, labels=("dog", "cat"), prefix="s", size=12):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(len(prefix) + n)
    rows, paths = [], {}
    for i in range(n):
        label = labels[i % len(labels)]
        base = 200 if label == labels[0] else 30
        pixels = np.clip(base + rng.normal(0, 20, (size, size, 3)), 0, 255).astype(np.uint8)
        path = folder / f"{prefix}{i}.png"
        Image.fromarray(pixels).save(path)
        sid = f"{prefix}{i}"
        paths[sid] = path
        rows.append({"stimulus_id": sid, "image_label": label, "object_name": label})
    stimuli = FakeStimulusSet(pd.DataFrame(rows))
    stimuli.stimulus_paths = paths
    stimuli.identifier = f"fake.{prefix}"
    return stimuli


@pytest.fixture(scope="module")
def scoring_model():
    return load_scoring_model("resnet20", input_size=16)  # small: fast tests


@pytest.fixture
def model(scoring_model):
    return BrainlikeBrainModel(scoring_model, identifier="test-resnet20", batch_size=4)


def test_signatures_follow_brain_score():
    sig = inspect.signature(BrainlikeBrainModel.look_at)
    assert list(sig.parameters)[:3] == ["self", "stimuli", "number_of_trials"]
    assert sig.parameters["number_of_trials"].default == 1
    assert list(inspect.signature(BrainlikeBrainModel.start_recording).parameters) == [
        "self",
        "recording_target",
        "time_bins",
    ]
    assert list(inspect.signature(BrainlikeBrainModel.start_task).parameters)[:3] == [
        "self",
        "task",
        "fitting_stimuli",
    ]
    assert isinstance(BrainlikeBrainModel.identifier, property)


def test_identity_and_default_commitment(model):
    assert model.identifier == "test-resnet20"
    assert model.visual_degrees() == 8
    assert set(model.region_layer_map) == {"V1", "V2", "V4", "IT"}
    assert model.region_layer_map["IT"] == "pool"  # the final Linear classifier is not IT
    order = model._candidate_layers()
    positions = [order.index(model.region_layer_map[r]) for r in ("V1", "V2", "V4", "IT")]
    assert positions == sorted(positions)
    assert model.readout_layer == "pool"


def test_look_at_neuroid_assembly(model, tmp_path):
    stimuli = make_stimuli(tmp_path / "a", n=3)
    model.start_task(BrainlikeBrainModel.Task.passive)
    model.start_recording("IT", time_bins=[(70, 170)])
    out = model.look_at(stimuli, number_of_trials=1)
    assert isinstance(out, xr.DataArray)
    assert out.dims == ("presentation", "neuroid", "time_bin")
    assert out.shape == (3, 64, 1)  # resnet20's pooled layer3: 64 channels
    assert list(out["stimulus_id"].values) == ["s0", "s1", "s2"]
    assert list(out["object_name"].values) == ["dog", "cat", "dog"]  # StimulusSet columns kept
    assert set(out["region"].values) == {"IT"} and set(out["layer"].values) == {"pool"}
    assert len(set(out["neuroid_id"].values)) == 64
    assert out["time_bin_start"].values.tolist() == [70]
    assert out["time_bin_end"].values.tolist() == [170]
    assert out.attrs["stimulus_set_identifier"] == "fake.s"


def test_neuroids_match_committed_layer_width_and_time_bins(model, tmp_path):
    stimuli = make_stimuli(tmp_path / "b", n=2)
    model.commit_layers({"V1": "conv1"})
    bins = [(50, 100), (100, 150), (150, 200)]
    model.start_recording(BrainlikeBrainModel.RecordingTarget.V1, bins)
    out = model.look_at(stimuli)
    assert out.shape == (2, 16 * 16 * 16, 3)  # conv1: 16 channels at 16x16
    assert out["time_bin_start"].values.tolist() == [50, 100, 150]
    assert out["time_bin_end"].values.tolist() == [100, 150, 200]
    np.testing.assert_array_equal(out.values[..., 0], out.values[..., 2])  # static repeat


def test_time_bins_as_neural_benchmark_passes_them(model):
    # NeuralBenchmark passes assembly['time_bin'].values: for a squeezed single-bin assembly a
    # list holding a 0-d object array with a (start, end) tuple, else an object array of tuples
    single = np.empty((), dtype=object)
    single[()] = (70, 170)
    model.start_recording("IT", [single])
    assert model.time_bins == [(70, 170)]
    several = np.empty(2, dtype=object)
    several[0], several[1] = (70, 120), (120, 170)
    model.start_recording("IT", several)
    assert model.time_bins == [(70, 120), (120, 170)]
    model.start_recording("IT", np.array([[70, 170]]))
    assert model.time_bins == [(70, 170)]
    with pytest.raises(BrainScoreError, match="pairs"):
        model.start_recording("IT", [np.array((70, 120, 170), dtype=object)])


def test_enum_targets_and_list_of_paths(model, tmp_path):
    stimuli = make_stimuli(tmp_path / "c", n=2)
    legacy = enum.Enum("RecordingTarget", "V1 V2 V4 IT")  # brainscore < 2 used Enums
    legacy_task = enum.Enum("Task", "passive probabilities label")
    model.start_task(legacy_task.passive, None)
    model.start_recording(legacy.V4, [[70, 170]])
    paths = [str(stimuli.get_stimulus(s)) for s in stimuli["stimulus_id"]]
    out = model.look_at(paths)
    assert out["stimulus_id"].values.tolist() == paths
    assert set(out["region"].values) == {"V4"}
    # images are resized/converted like the StimulusSet path: the same features
    same = model.look_at(stimuli)
    np.testing.assert_allclose(out.values, same.values, rtol=1e-5, atol=1e-6)


def test_label_and_probabilities_tasks(model, tmp_path):
    fitting = make_stimuli(tmp_path / "fit", n=6, labels=("dog", "cat", "car"), prefix="f")
    test = make_stimuli(tmp_path / "test", n=3, labels=("dog", "cat", "car"), prefix="t")
    model.start_task(BrainlikeBrainModel.Task.probabilities, fitting)
    proba = model.look_at(test)
    assert proba.dims == ("presentation", "choice")
    assert sorted(proba["choice"].values.tolist()) == ["car", "cat", "dog"]
    np.testing.assert_allclose(proba.values.sum(axis=1), 1.0, rtol=1e-6)
    assert proba["stimulus_id"].values.tolist() == ["t0", "t1", "t2"]
    model.start_task("label", fitting_stimuli=fitting)
    labels = model.look_at(test)
    assert labels.dims == ("presentation", "choice") and labels.shape == (3, 1)
    assert set(labels.values.ravel()) <= {"dog", "cat", "car"}
    model.start_task("passive")
    model.start_recording("IT", [(70, 170)])
    assert model.look_at(test).dims == ("presentation", "neuroid", "time_bin")


def test_clear_errors(scoring_model, tmp_path):
    model = BrainlikeBrainModel(scoring_model, layers_by_region={"IT": "pool", "V4": "layer3.0"})
    with pytest.raises(BrainScoreError, match=r"committed to V1.*IT, V4|committed to V1.*V4"):
        model.start_recording("V1", [(70, 170)])
    with pytest.raises(BrainScoreError, match="unknown recording target"):
        model.start_recording("MT", [(70, 170)])
    with pytest.raises(BrainScoreError, match="unknown task"):
        model.start_task("odd_one_out")
    with pytest.raises(BrainScoreError, match="fitting stimuli"):
        model.start_task("label", ["dog", "cat"])
    with pytest.raises(BrainScoreError, match="start_recording"):
        model.look_at(make_stimuli(tmp_path / "e", n=1))
    with pytest.raises(BrainScoreError, match="no layer 'layer9'"):
        model.commit_layers({"V1": "layer9"})
    stimuli = make_stimuli(tmp_path / "f", n=2).drop(columns=["image_label", "object_name"])
    with pytest.raises(BrainScoreError, match="image_label"):
        model.start_task("probabilities", stimuli)


def test_uses_brainio_assembly_types_when_installed(model, tmp_path, monkeypatch):
    class NeuroidAssembly(xr.DataArray):
        __slots__ = ()

    class BehavioralAssembly(xr.DataArray):
        __slots__ = ()

    fake = types.ModuleType("brainio.assemblies")
    fake.NeuroidAssembly, fake.BehavioralAssembly = NeuroidAssembly, BehavioralAssembly
    monkeypatch.setitem(sys.modules, "brainio", types.ModuleType("brainio"))
    monkeypatch.setitem(sys.modules, "brainio.assemblies", fake)
    # where brainscore-vision is installed, its brainscore_core copy is looked up first
    core = "brainscore_core.supported_data_standards.brainio.assemblies"
    monkeypatch.setitem(sys.modules, core, fake)
    model.start_recording("IT", [(70, 170)])
    assert isinstance(model.look_at(make_stimuli(tmp_path / "g", n=1)), NeuroidAssembly)


def test_make_brainscore_model(tmp_path):
    model = make_brainscore_model(
        "resnet20", {"IT": "layer3.2"}, seed=1, input_size=16, visual_degrees=10
    )
    assert model.identifier == "brainlike-resnet20@seed1"
    assert model.visual_degrees() == 10
    assert model.region_layer_map["IT"] == "layer3.2"


def test_core_does_not_import_integrations():
    code = (
        "import sys, brainlike, brainlike.evaluation.static, brainlike.analysis.activations;"
        "print(any(m.startswith('brainlike.integrations') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
