"""Tests of the NeuralRecording type: construction, checks, NaN neuroids, time bins."""

import numpy as np
import xarray as xr
from recording_cases import _data, _raises, _recording

from brainlike.data.recordings import (
    DIMS,
    make_recording,
    read_recording,
    recording_to_assembly,
    remove_nan_neuroids,
    validate_recording,
)


def test_make_recording_coords_values_and_attrs():
    rec = _recording()
    assert rec.dims == DIMS
    assert rec.dtype == np.float64
    np.testing.assert_array_equal(rec.values, _data())
    assert list(rec.stimulus_id.values) == ["img_0", "img_1", "img_2"]
    assert list(rec.object_name.values) == ["car", "dog", "car"]
    assert rec.object_name.dims == ("stimulus",)
    assert list(rec.neuroid_id.values) == ["n0", "n1", "n2", "n3"]
    assert list(rec.animal.values) == ["m1", "m1", "m2", "m2"]
    assert list(rec.region.values) == ["IT", "V4", "IT", "V4"]
    assert rec.region.dims == ("neuroid",)
    np.testing.assert_array_equal(rec.trial.values, [0, 1])
    assert rec.attrs == {"identifier": "test.rec", "stimulus_set_identifier": "test.stimuli"}


def test_make_recording_defaults_and_ids_as_strings():
    rec = make_recording(np.ones((2, 3, 1)), stimulus_ids=[10, 11], animal="m0")
    assert list(rec.stimulus_id.values) == ["10", "11"]
    assert list(rec.neuroid_id.values) == ["neuroid_0", "neuroid_1", "neuroid_2"]
    assert list(rec.animal.values) == ["m0"] * 3
    assert list(rec.region.values) == ["unknown"] * 3
    assert rec.attrs["stimulus_set_identifier"] is None


def test_make_recording_time_bins():
    rec = _recording(data=_data(n_bins=2), time_bins=[(70, 80), (80, 90)])
    assert rec.dims == (*DIMS, "time_bin")
    np.testing.assert_array_equal(rec.time_bin_start.values, [70, 80])
    np.testing.assert_array_equal(rec.time_bin_end.values, [80, 90])
    one = _recording(time_bins=[(70, 170)])
    assert one.dims == DIMS
    assert one.time_bin_start.dims == () and float(one.time_bin_start) == 70.0
    assert float(one.time_bin_end) == 170.0


def test_make_recording_rejects_wrong_ndim():
    message = _raises("3 dims", make_recording, np.ones((3, 4)), stimulus_ids=["a", "b", "c"])
    assert "got 2 dims, shape (3, 4)" in message and "data[:, :, None]" in message
    _raises("got 5 dims", make_recording, np.ones((1, 1, 1, 1, 1)), stimulus_ids=["a"])


def test_make_recording_rejects_non_numeric():
    _raises("must be numeric", make_recording, [[["x"]]], stimulus_ids=["a"])


def test_make_recording_rejects_mismatched_coordinate_lengths():
    message = _raises("stimulus_ids has 2 entries", _recording, stimulus_ids=["a", "b"])
    assert "3 stimuli (axis 0)" in message
    _raises("neuroid_ids has 3 entries .* 4 neuroids", _recording, neuroid_ids=["a", "b", "c"])
    _raises("animal has 2 entries .* 4 neuroids", _recording, animal=["m1", "m2"])
    _raises("region has 5 entries", _recording, region=["IT"] * 5)
    message = _raises(
        "stimulus coordinate 'object_name' has shape",
        _recording,
        stimulus_coords={"object_name": ["x"]},
    )
    assert "(1,)" in message and "3 stimuli" in message
    _raises(
        "neuroid coordinate 'electrode' has shape \\(2,\\)",
        _recording,
        neuroid_coords={"electrode": [1, 2]},
    )
    _raises("clashes with a built-in", _recording, stimulus_coords={"region": ["a", "b", "c"]})


def test_make_recording_rejects_duplicate_ids():
    message = _raises("stimulus_ids must be unique", _recording, stimulus_ids=["a", "b", "a"])
    assert "'a' appears 2 times" in message and "trial axis" in message
    _raises("neuroid_ids must be unique .*'n1'", _recording, neuroid_ids=["n0", "n1", "n1", "n1"])


def test_make_recording_rejects_inf():
    data = _data()
    data[1, 2, 0] = np.inf
    data[2, 0, 1] = -np.inf
    message = _raises("2 infinite values", _recording, data=data)
    assert "stimulus 'img_1', neuroid 'n2', trial 0" in message and "NaN" in message


def test_make_recording_rejects_all_nan_neuroids():
    data = _data()
    data[:, 1] = np.nan
    data[:, 3] = np.nan
    message = _raises("2 neuroids have no non-NaN response", _recording, data=data)
    assert "'n1', 'n3'" in message and "select_neuroids" in message
    assert "drop_nan_neuroids=True" in message and "--drop-nan-neuroids" in message


def test_drop_nan_neuroids_in_every_reader(tmp_path):
    data = _data()
    data[:, 1] = np.nan  # NaN-only neuroid n1
    data[0, 3, 0] = np.nan  # n3 only misses one trial: kept
    rec = _recording(data=data, drop_nan_neuroids=True)
    assert list(rec.neuroid_id.values) == ["n0", "n2", "n3"]
    assert rec.attrs["nan_neuroids_dropped"] == 1
    np.testing.assert_array_equal(rec.values, data[:, [0, 2, 3]])
    # a bare .npy, an .npz and a BrainIO netCDF file
    np.save(tmp_path / "r.npy", data)
    np.savez(tmp_path / "r.npz", responses=data)
    _raises("--drop-nan-neuroids", read_recording, tmp_path / "r.npy")
    for name in ("r.npy", "r.npz"):
        rec = read_recording(tmp_path / name, drop_nan_neuroids=True)
        assert list(rec.neuroid_id.values) == ["neuroid_0", "neuroid_2", "neuroid_3"]
        assert rec.attrs["nan_neuroids_dropped"] == 1
    assembly = recording_to_assembly(_recording())
    assembly.values[:] = np.where(assembly.neuroid_id.values == "n1", np.nan, assembly.values)
    assembly.to_netcdf(tmp_path / "r.nc", engine="h5netcdf")
    _raises("--drop-nan-neuroids", read_recording, tmp_path / "r.nc")
    rec = read_recording(tmp_path / "r.nc", drop_nan_neuroids=True)
    assert list(rec.neuroid_id.values) == ["n0", "n2", "n3"]
    assert rec.attrs["nan_neuroids_dropped"] == 1
    # every neuroid NaN: nothing to keep
    _raises(
        "every one of the 4 neuroids", remove_nan_neuroids, _recording().copy(data=data * np.nan)
    )


def test_min_trials_message_names_stimulus_and_count():
    data = _data(n_trials=3)
    data[1, :, 1:] = np.nan  # img_1 has one trial
    data[2, 0, 2] = np.nan  # img_2 has two trials for n0
    rec = _recording(data=data, min_trials=1)
    message = _raises(
        "needs at least 2 non-NaN trials",
        validate_recording,
        rec,
        min_trials=2,
        purpose="split-half reliability",
    )
    assert message.startswith(
        "recording 'test.rec' has 3 trials per stimulus; split-half reliability needs at least "
        "2 non-NaN trials for every stimulus (stimulus 'img_1' has 1; 1 of 3 stimuli fall short)"
    )
    message = _raises("needs at least 3", validate_recording, rec, min_trials=3)
    assert "stimulus 'img_1' has 1" in message and "2 of 3 stimuli fall short" in message
    # a stimulus missing for one neuroid only names that neuroid
    data = _data()
    data[0, 2] = np.nan
    message = _raises("a recording needs at least 1", _recording, data=data)
    assert "stimulus 'img_0' has 0 for neuroid 'n2'" in message
    assert _recording(data=data, min_trials=0).shape == (3, 4, 2)


def test_time_bin_errors():
    _raises("need time_bins", _recording, data=_data(n_bins=2))
    _raises(
        "time_bins has 1 entries but .* 2 time bins",
        _recording,
        data=_data(n_bins=2),
        time_bins=[(0, 1)],
    )
    _raises("does not end after it starts", _recording, data=_data(n_bins=1), time_bins=[(10, 10)])
    _raises("no time_bin axis but time_bins has 2", _recording, time_bins=[(0, 1), (1, 2)])
    _raises("list of \\(start_ms, end_ms\\) pairs", _recording, time_bins=[(0, 1, 2)])


def test_validate_recording_structure_errors():
    rec = _recording()
    _raises("expected a NeuralRecording .* got ndarray", validate_recording, rec.values)
    _raises(
        "rec.transpose\\('stimulus', 'neuroid', 'trial'\\)",
        validate_recording,
        rec.transpose("trial", ...),
    )
    assembly = xr.DataArray(np.zeros((2, 2)), dims=("presentation", "neuroid"))
    _raises("recording_from_assembly", validate_recording, assembly)
    _raises("no 'region' coordinate", validate_recording, rec.drop_vars("region"))
    moved = rec.drop_vars("animal").assign_coords(animal=("stimulus", ["a", "b", "c"]))
    _raises(
        "'animal' lies along \\('stimulus',\\); it must lie along \\('neuroid',\\)",
        validate_recording,
        moved,
    )
    duplicate = rec.assign_coords(neuroid_id=("neuroid", ["a", "a", "b", "c"]))
    _raises("neuroid_id must be unique", validate_recording, duplicate)
    text = rec.copy(data=np.full(rec.shape, "x"))
    _raises("must be numeric; got dtype <U1", validate_recording, text)
    assert validate_recording(rec) is rec
