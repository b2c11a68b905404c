"""Tests of NeuralRecording: construction checks, BrainIO netCDF, NWB, npz/npy, stimulus sets."""

import datetime

import h5netcdf
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from brainlike.data.recordings import (
    DIMS,
    RecordingError,
    average_time,
    check_stimuli_match,
    concat_neuroids,
    make_recording,
    read_brainio_netcdf,
    read_npy,
    read_npz,
    read_nwb,
    read_recording,
    read_stimulus_set,
    recording_from_assembly,
    recording_to_assembly,
    remove_nan_neuroids,
    responses,
    select_neuroids,
    summary,
    validate_recording,
    write_brainio_netcdf,
    write_nwb,
    write_recording,
    write_stimulus_set,
)


def _data(n_stimuli=3, n_neuroids=4, n_trials=2, n_bins=None):
    """Responses whose value encodes their position: 1000 s + 100 t + 10 n + b."""
    s, n, t = np.meshgrid(
        np.arange(n_stimuli), np.arange(n_neuroids), np.arange(n_trials), indexing="ij"
    )
    values = 1000.0 * s + 10.0 * n + 100.0 * t
    if n_bins is not None:
        values = values[..., None] + np.arange(n_bins)
    return values


def _recording(**kw):
    args = dict(
        stimulus_ids=["img_0", "img_1", "img_2"],
        neuroid_ids=["n0", "n1", "n2", "n3"],
        animal=["m1", "m1", "m2", "m2"],
        region=["IT", "V4", "IT", "V4"],
        identifier="test.rec",
        stimulus_set_identifier="test.stimuli",
        stimulus_coords={"object_name": ["car", "dog", "car"]},
    )
    args.update(kw)
    data = args.pop("data", _data())
    return make_recording(data, **args)


# -------------------------------------------------------------------------------- construction


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


def _raises(match, func, *args, **kw):
    with pytest.raises(RecordingError, match=match) as info:
        func(*args, **kw)
    return str(info.value)


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


# -------------------------------------------------------------------------------- access


def test_responses_and_select_neuroids():
    rec = _recording()
    np.testing.assert_array_equal(responses(rec), _data())
    it = responses(rec, region="IT")
    np.testing.assert_array_equal(it, _data()[:, [0, 2]])
    assert it.dtype == np.float64
    np.testing.assert_array_equal(responses(rec, region="V4", animal="m2"), _data()[:, [3]])
    np.testing.assert_array_equal(responses(rec, animal=["m1"]), _data()[:, [0, 1]])
    message = _raises("no neuroid has region 'V1'", responses, rec, region="V1")
    assert "'IT', 'V4'" in message
    picked = select_neuroids(rec, np.array([True, False, False, True]))
    assert list(picked.neuroid_id.values) == ["n0", "n3"]
    assert list(select_neuroids(rec, [2]).neuroid_id.values) == ["n2"]
    assert list(
        select_neuroids(rec, [True, True, False, False], region="V4").neuroid_id.values
    ) == ["n1"]
    _raises(
        "mask has shape \\(2,\\); expected \\(4,\\)", select_neuroids, rec, np.array([True, False])
    )
    _raises("indices must lie in \\[0, 4\\)", select_neuroids, rec, [7])
    _raises("no neuroid passes", select_neuroids, rec, [False, False, True, False], region="V4")


def test_average_time_mean_of_bins_inside_window():
    rec = _recording(data=_data(n_bins=4), time_bins=[(0, 10), (10, 20), (20, 30), (30, 40)])
    out = average_time(rec, 10, 30)
    assert out.dims == DIMS
    np.testing.assert_allclose(out.values, _data() + 1.5)  # mean of bins 1 and 2
    assert float(out.time_bin_start) == 10 and float(out.time_bin_end) == 30
    assert out.attrs["identifier"] == "test.rec"
    message = _raises("no time bin lies inside \\(41, 50\\)", average_time, rec, 41, 50)
    assert "(0, 10)" in message
    _raises("no time_bin dim", average_time, _recording(), 0, 10)
    # Overlapping bins: (12, 25) touches bins 1 and 2, inside neither.
    out = average_time(rec, 12, 25, overlapping=True)
    np.testing.assert_allclose(out.values, _data() + 1.5)
    assert float(out.time_bin_start) == 10 and float(out.time_bin_end) == 30
    _raises("no time bin overlaps \\(40, 50\\)", average_time, rec, 40, 50, overlapping=True)


def test_concat_neuroids_aligns_stimuli_and_pads_trials():
    a = _recording()
    b = make_recording(
        np.arange(9.0).reshape(3, 1, 3),
        stimulus_ids=["img_2", "img_0", "img_1"],
        neuroid_ids=["b0"],
        animal="m3",
        region="IT",
        identifier="b",
    )
    pooled = concat_neuroids([a, b])
    assert pooled.shape == (3, 5, 3)
    assert list(pooled.neuroid_id.values) == ["n0", "n1", "n2", "n3", "b0"]
    assert list(pooled.animal.values) == ["m1", "m1", "m2", "m2", "m3"]
    np.testing.assert_array_equal(pooled.values[:, :4, :2], _data())
    assert np.isnan(pooled.values[:, :4, 2]).all()
    np.testing.assert_array_equal(pooled.values[:, 4], [[3, 4, 5], [6, 7, 8], [0, 1, 2]])
    assert list(pooled.object_name.values) == ["car", "dog", "car"]
    assert pooled.attrs["identifier"] == "test.rec+b"
    other = b.isel(stimulus=[0, 1])
    _raises("lacks 1 stimulus .*'img_1'", concat_neuroids, [a, other])
    timed = _recording(data=_data(n_bins=1), time_bins=[(0, 10)], neuroid_ids=list("wxyz"))
    _raises("different time bins", concat_neuroids, [a, timed])
    _raises("at least one", concat_neuroids, [])


def test_summary_counts():
    data = _data(n_trials=3)
    data[0, :2, 2] = np.nan
    info = summary(_recording(data=data))
    assert info["n_stimuli"] == 3 and info["n_neuroids"] == 4 and info["n_trials"] == 3
    assert info["n_time_bins"] == 0
    assert info["regions"] == {"IT": 2, "V4": 2}
    assert info["animals"] == {"m1": 2, "m2": 2}
    assert info["trials"] == {"min": 2, "median": 3.0, "max": 3}
    assert info["nan_fraction"] == pytest.approx(2 / 36)
    assert info["identifier"] == "test.rec" and info["stimulus_set_identifier"] == "test.stimuli"


# -------------------------------------------------------------------------------- BrainIO netCDF


def test_write_brainio_netcdf_matches_format(tmp_path):
    data = _data(n_bins=2)
    data[2, :, 1] = np.nan  # img_2 was shown once: 5 presentations
    rec = _recording(data=data, time_bins=[(70, 80), (80, 90)])
    path = write_recording(rec, tmp_path / "assy.nc")
    with xr.open_dataarray(path, engine="h5netcdf") as raw:
        raw = raw.load()
    assert raw.name == "data"
    assert raw.dims == ("presentation", "neuroid", "time_bin")
    assert set(raw.coords) == {
        "stimulus_id",
        "repetition",
        "object_name",
        "neuroid_id",
        "animal",
        "region",
        "time_bin_start",
        "time_bin_end",
    }
    assert not raw.indexes  # plain coordinates, as BrainIO writes after reset_index
    assert raw.stimulus_id.dims == ("presentation",) and raw.region.dims == ("neuroid",)
    assert list(raw.stimulus_id.values) == ["img_0", "img_0", "img_1", "img_1", "img_2"]
    assert list(raw.repetition.values) == [0, 1, 0, 1, 0]
    assert list(raw.object_name.values) == ["car", "car", "dog", "dog", "car"]
    assert list(raw.neuroid_id.values) == ["n0", "n1", "n2", "n3"]
    np.testing.assert_array_equal(raw.time_bin_start.values, [70, 80])
    np.testing.assert_array_equal(raw.time_bin_end.values, [80, 90])
    for p, (s, r) in enumerate([(0, 0), (0, 1), (1, 0), (1, 1), (2, 0)]):
        np.testing.assert_array_equal(raw.values[p], data[s, :, r])
    with h5netcdf.File(path, "r") as handle:
        assert handle.attrs["identifier"] == "test.rec"
        assert handle.attrs["stimulus_set_identifier"] == "test.stimuli"
        assert list(handle.variables["data"].dimensions) == ["presentation", "neuroid", "time_bin"]
        assert handle.variables["data"].compression == "gzip"
    back = read_recording(path)
    xr.testing.assert_identical(back, rec)


def _brainio_file(path, *, id_name="stimulus_id", attrs_on="global"):
    """A hand-made assembly laid out as BrainIO writes it (MultiIndex reset, repeats shuffled)."""
    stimuli = ["s0", "s1", "s2"]
    rows = [(s, r) for r in range(3) for s in range(3) if not (s == 2 and r == 2)]
    order = [4, 0, 7, 2, 5, 1, 6, 3]  # a fixed shuffle of the 8 presentations
    rows = [rows[i] for i in order]
    s_index = np.array([s for s, _ in rows])
    reps = np.array([r for _, r in rows])
    bins = np.arange(2)
    neuroids = np.arange(2)
    # value = 1000 s + 100 rep + 10 neuroid + bin, stored as neuroid x presentation x time_bin
    values = (
        1000.0 * s_index[None, :, None]
        + 100.0 * reps[None, :, None]
        + 10.0 * neuroids[:, None, None]
        + bins[None, None, :]
    ).astype(np.float32)
    assembly = xr.DataArray(
        values,
        dims=("neuroid", "presentation", "time_bin"),
        coords={
            id_name: ("presentation", [stimuli[s] for s in s_index]),
            "repetition": ("presentation", reps),
            "object_name": ("presentation", [["car", "dog", "car"][s] for s in s_index]),
            "session": ("presentation", [f"day{r % 2}" for r in reps]),
            "neuroid_id": ("neuroid", ["Chabo_L_A_1_1", "Tito_R_P_2_3"]),
            "region": ("neuroid", ["IT", "V4"]),
            "animal": ("neuroid", ["Chabo", "Tito"]),
            "arr": ("neuroid", ["A", "P"]),
            "time_bin_start": ("time_bin", [70, 80]),
            "time_bin_end": ("time_bin", [80, 90]),
        },
    )
    assembly = assembly.set_index(
        presentation=[id_name, "repetition", "object_name", "session"],
        neuroid=["neuroid_id", "region", "animal", "arr"],
        time_bin=["time_bin_start", "time_bin_end"],
    )
    assembly = assembly.reset_index(list(assembly.indexes))
    dataset = assembly.to_dataset(name="data")
    attrs = {"identifier": "dicarlo.Test2015", "stimulus_set_identifier": "dicarlo.hvm"}
    if attrs_on == "global":
        dataset.attrs = attrs
    else:
        dataset["data"].attrs = attrs
    dataset.to_netcdf(path, engine="h5netcdf")
    return path


def _expected_brainio_values():
    s, n, t, b = np.meshgrid(np.arange(3), np.arange(2), np.arange(3), np.arange(2), indexing="ij")
    values = 1000.0 * s + 100.0 * t + 10.0 * n + b
    values[2, :, 2] = np.nan  # s2 was shown twice
    return values


@pytest.mark.parametrize("id_name", ["stimulus_id", "image_id"])
def test_read_hand_made_brainio_assembly(tmp_path, id_name):
    path = _brainio_file(tmp_path / "assy_dicarlo_Test2015.nc", id_name=id_name)
    rec = read_brainio_netcdf(path)
    assert rec.dims == ("stimulus", "neuroid", "trial", "time_bin")
    order = np.argsort(rec.stimulus_id.values)
    assert sorted(rec.stimulus_id.values) == ["s0", "s1", "s2"]
    np.testing.assert_array_equal(rec.values[order], _expected_brainio_values())
    assert dict(zip(rec.stimulus_id.values, rec.object_name.values, strict=True)) == {
        "s0": "car",
        "s1": "dog",
        "s2": "car",
    }
    assert list(rec.neuroid_id.values) == ["Chabo_L_A_1_1", "Tito_R_P_2_3"]
    assert list(rec.region.values) == ["IT", "V4"] and list(rec.animal.values) == ["Chabo", "Tito"]
    assert list(rec.arr.values) == ["A", "P"] and rec.arr.dims == ("neuroid",)
    np.testing.assert_array_equal(rec.time_bin_start.values, [70, 80])
    np.testing.assert_array_equal(rec.time_bin_end.values, [80, 90])
    # repetition 0, 1, 2 is the trial axis itself; session varies within a stimulus
    assert "repetition" not in rec.coords
    assert rec.session.dims == ("stimulus", "trial")
    session = rec.session.values[order]
    assert list(session[0]) == ["day0", "day1", "day0"] and list(session[2]) == ["day0", "day1", ""]
    assert rec.attrs == {"identifier": "dicarlo.Test2015", "stimulus_set_identifier": "dicarlo.hvm"}
    assert read_recording(path).equals(rec)


def test_read_brainio_attributes_on_variable_and_defaults(tmp_path):
    rec = read_brainio_netcdf(_brainio_file(tmp_path / "a.nc", attrs_on="variable"))
    assert rec.attrs["identifier"] == "dicarlo.Test2015"
    assert rec.attrs["stimulus_set_identifier"] == "dicarlo.hvm"
    bare = xr.DataArray(
        np.ones((2, 1)),
        dims=("presentation", "neuroid"),
        coords={"stimulus_id": ("presentation", ["a", "b"])},
    )
    bare.to_netcdf(tmp_path / "bare.nc", engine="h5netcdf")
    rec = read_brainio_netcdf(tmp_path / "bare.nc")
    assert rec.attrs == {"identifier": "bare", "stimulus_set_identifier": None}
    assert list(rec.neuroid_id.values) == ["neuroid_0"]
    assert list(rec.animal.values) == ["unknown"] and list(rec.region.values) == ["unknown"]
    np.testing.assert_array_equal(rec.values, [[[1.0]], [[1.0]]])


def test_brainio_single_time_bin_is_squeezed_and_written_back(tmp_path):
    rec = _recording(time_bins=[(70, 170)])
    path = write_brainio_netcdf(rec, tmp_path / "one.nc")
    with xr.open_dataarray(path, engine="h5netcdf") as raw:
        assert raw.dims == ("presentation", "neuroid", "time_bin") and raw.sizes["time_bin"] == 1
        assert float(raw.time_bin_start[0]) == 70.0
    back = read_brainio_netcdf(path)
    xr.testing.assert_identical(back, rec)
    kept = read_brainio_netcdf(path, squeeze_time=False)
    assert kept.dims == (*DIMS, "time_bin") and kept.sizes["time_bin"] == 1


def test_in_memory_multiindex_assembly_and_unusual_repetitions():
    assembly = xr.DataArray(
        np.array([[1.0], [2.0], [3.0], [4.0]]),
        dims=("presentation", "neuroid"),
        coords={
            "stimulus_id": ("presentation", ["b", "a", "b", "a"]),
            "repetition": ("presentation", [2, 1, 1, 5]),  # 1-based, with a gap
            "neuroid_id": ("neuroid", ["x"]),
        },
    ).set_index(presentation=["stimulus_id", "repetition"], neuroid=["neuroid_id"])
    rec = recording_from_assembly(assembly, identifier="mem")
    assert list(rec.stimulus_id.values) == ["b", "a"]  # order of first appearance
    np.testing.assert_array_equal(rec.values[:, 0], [[3.0, 1.0], [2.0, 4.0]])  # by repetition
    np.testing.assert_array_equal(rec.repetition.values, [[1, 2], [1, 5]])
    back = recording_to_assembly(rec)
    np.testing.assert_array_equal(back.repetition.values, [1, 2, 1, 5])
    assert back.repetition.dtype.kind == "i"
    np.testing.assert_array_equal(back.values[:, 0], [3.0, 1.0, 2.0, 4.0])
    labelled = recording_to_assembly(rec.assign_coords(block=("trial", ["early", "late"])))
    assert list(labelled.block.values) == ["early", "late", "early", "late"]


def test_brainio_reader_errors(tmp_path):
    no_ids = xr.DataArray(
        np.ones((2, 1)), dims=("presentation", "neuroid"), coords={"rep": ("presentation", [0, 1])}
    )
    message = _raises(
        "no 'stimulus_id' \\(or legacy 'image_id'\\)", recording_from_assembly, no_ids
    )
    assert "'rep'" in message
    _raises(
        "dims presentation x neuroid", recording_from_assembly, xr.DataArray(np.ones(2), dims="x")
    )
    extra_dim = xr.DataArray(np.ones((1, 1, 1)), dims=("presentation", "neuroid", "subject"))
    _raises("select or average over \\['subject'\\]", recording_from_assembly, extra_dim)
    timeless = xr.DataArray(
        np.ones((1, 1, 2)),
        dims=("presentation", "neuroid", "time_bin"),
        coords={"stimulus_id": ("presentation", ["a"]), "time_bin_start": ("time_bin", [0, 1])},
    )
    _raises("no 'time_bin_end' coordinate", recording_from_assembly, timeless)
    (tmp_path / "junk.nc").write_text("not netcdf")
    _raises("could not open .* as netCDF-4", read_brainio_netcdf, tmp_path / "junk.nc")
    xr.Dataset({"a": (("x",), [1.0]), "b": (("y",), [2.0, 3.0])}).to_netcdf(
        tmp_path / "two.nc", engine="h5netcdf"
    )
    _raises("several data variables", read_brainio_netcdf, tmp_path / "two.nc")


def test_recording_saved_with_to_netcdf_reads_back(tmp_path):
    rec = _recording()
    rec.attrs["stimulus_set_identifier"] = "s"
    rec.to_netcdf(tmp_path / "native.nc", engine="h5netcdf")
    back = read_brainio_netcdf(tmp_path / "native.nc")
    xr.testing.assert_identical(back, rec)


# -------------------------------------------------------------------------------- numpy files


def test_npz_round_trip_with_time_bins_and_extra_coords(tmp_path):
    data = _data(n_bins=2)
    data[1, :, 1] = np.nan
    rec = _recording(
        data=data, time_bins=[(0, 50), (50, 100)], neuroid_coords={"electrode": [3, 1, 4, 1]}
    )
    rec = rec.assign_coords(
        session=(("stimulus", "trial"), [["d0", "d1"], ["d0", ""], ["d1", "d1"]])
    )
    path = write_recording(rec, tmp_path / "rec.npz")
    assert path == tmp_path / "rec.npz" and path.is_file()
    back = read_recording(path)
    xr.testing.assert_identical(back, rec)
    with np.load(path) as npz:
        assert {"responses", "stimulus_ids", "neuroid_ids", "animal", "region", "time_bins"} <= set(
            npz.files
        )
        np.testing.assert_array_equal(npz["time_bins"], [[0, 50], [50, 100]])


def test_npz_minimal_keys_generate_ids_and_errors(tmp_path):
    np.savez(tmp_path / "min.npz", responses=np.ones((2, 3, 1)), region=np.array(["IT"] * 3))
    rec = read_npz(tmp_path / "min.npz")
    assert list(rec.stimulus_id.values) == ["stimulus_0", "stimulus_1"]
    assert list(rec.neuroid_id.values) == ["neuroid_0", "neuroid_1", "neuroid_2"]
    assert list(rec.region.values) == ["IT"] * 3 and rec.attrs["identifier"] == "min"
    np.savez(tmp_path / "typo.npz", responses=np.ones((2, 3, 1)), stimuli=np.array(["a", "b"]))
    message = _raises("unknown array 'stimuli'", read_npz, tmp_path / "typo.npz")
    assert "'stimulus_ids'" in message
    np.savez(tmp_path / "none.npz", data=np.ones((2, 3, 1)))
    _raises("no 'responses' array .*'data'", read_npz, tmp_path / "none.npz")
    np.savez(tmp_path / "flat.npz", responses=np.ones((2, 3)))
    _raises("shape \\(2, 3\\); expected", read_npz, tmp_path / "flat.npz")
    np.savez(
        tmp_path / "obj.npz",
        responses=np.ones((2, 1, 1)),
        stimulus_ids=np.array(["a", None], dtype=object),
    )
    _raises("save strings as numpy str arrays", read_npz, tmp_path / "obj.npz")


def test_npy_bare_array(tmp_path):
    np.save(tmp_path / "bare.npy", _data())
    rec = read_recording(tmp_path / "bare.npy", animal="m9")
    np.testing.assert_array_equal(rec.values, _data())
    assert list(rec.stimulus_id.values) == ["stimulus_0", "stimulus_1", "stimulus_2"]
    assert list(rec.animal.values) == ["m9"] * 4 and rec.attrs["identifier"] == "bare"
    np.save(tmp_path / "flat.npy", np.ones(3))
    _raises("shape \\(3,\\); expected", read_npy, tmp_path / "flat.npy")


def test_npy_axis_order(tmp_path):
    data = _data(n_stimuli=3, n_neuroids=4, n_trials=2)
    np.save(tmp_path / "neuroid_first.npy", data.transpose(1, 0, 2))  # (neuroid, stimulus, trial)
    rec = read_recording(tmp_path / "neuroid_first.npy", axes=("neuroid", "stimulus", "trial"))
    np.testing.assert_array_equal(rec.values, data)
    # value 1000 s + 10 n + 100 t: stimulus 2, neuroid 1, trial 1
    assert rec.values[2, 1, 1] == 2110.0
    assert rec.attrs["npy_axes"] == "neuroid,stimulus,trial"
    assert rec.attrs["npy_axes_source"] == "given"
    # the same as a comma-separated string (the command-line form); 4-D with 'time'
    np.save(tmp_path / "t.npy", _data(n_bins=2).transpose(3, 2, 0, 1))
    rec = read_npy(
        tmp_path / "t.npy", axes="time,trial,stimulus,neuroid", time_bins=[(0, 50), (50, 100)]
    )
    np.testing.assert_array_equal(rec.values, _data(n_bins=2))
    assert read_npy(tmp_path / "neuroid_first.npy").attrs["npy_axes_source"] == "default"
    message = _raises(
        "must name each of the 3 axes",
        read_npy,
        tmp_path / "neuroid_first.npy",
        axes="stimulus,trial",
    )
    assert "shape 4x3x2" in message
    _raises("once", read_npy, tmp_path / "neuroid_first.npy", axes="stimulus,stimulus,trial")
    write_brainio_netcdf(_recording(), tmp_path / "r.nc")
    _raises(
        "applies to a bare .npy array only",
        read_recording,
        tmp_path / "r.nc",
        axes="stimulus,neuroid,trial",
    )


def test_dispatch_errors(tmp_path):
    (tmp_path / "x.mat").write_bytes(b"")
    message = _raises("unsupported suffix '.mat'", read_recording, tmp_path / "x.mat")
    assert ".nc, .nwb, .npz, .npy" in message
    _raises("no such file: .*missing.nc", read_recording, tmp_path / "missing.nc")
    _raises("folder .* does not exist", read_recording, tmp_path / "nowhere" / "x.nc")
    _raises(
        "writes .nc \\(BrainIO netCDF\\) or .npz .*write_nwb",
        write_recording,
        _recording(),
        tmp_path / "x.nwb",
    )


# -------------------------------------------------------------------------------- NWB

# spikes (s) of two units; presentations of a, b, a, c at 0, 1, 2, 3 s
_SPIKES = [
    [0.075, 0.1, 0.165, 0.171, 0.3, 1.08, 1.09, 2.05, 2.12, 3.5],
    [0.5, 1.11, 1.21, 1.3, 2.169, 3.075, 3.08],
]
_PRESENTATIONS = [(0.0, "a"), (1.0, "b"), (2.0, "a"), (3.0, "c")]


def test_nwb_spike_counts_per_presentation(tmp_path):
    path = write_nwb(tmp_path / "s.nwb", _SPIKES, _PRESENTATIONS, region=["IT", "V4"], animal="m7")
    rec = read_recording(path)
    assert rec.dims == DIMS
    assert list(rec.stimulus_id.values) == ["a", "b", "c"]
    assert list(rec.neuroid_id.values) == ["m7_unit0", "m7_unit1"]
    assert list(rec.region.values) == ["IT", "V4"] and list(rec.animal.values) == ["m7", "m7"]
    # window [70, 170) ms: unit 0 counts 3 (a), 2 (b), 1 (a again), 0 (c)
    expected = np.array(
        [
            [[3, 1], [0, 1]],
            [[2, np.nan], [1, np.nan]],
            [[0, np.nan], [2, np.nan]],
        ]
    )
    np.testing.assert_array_equal(rec.values, expected)
    assert float(rec.time_bin_start) == 70.0 and float(rec.time_bin_end) == 170.0
    assert rec.attrs["identifier"] == "brainlike-recording"


def test_nwb_time_bins_region_filter_and_rate(tmp_path):
    path = write_nwb(tmp_path / "s.nwb", _SPIKES, _PRESENTATIONS, region=["IT", "V4"])
    rec = read_nwb(path, time_bins=[(0, 100), (100, 200)])
    assert rec.dims == (*DIMS, "time_bin")
    np.testing.assert_array_equal(rec.time_bin_start.values, [0, 100])
    # unit 0, stimulus a, first showing: 0.075 in bin 0; 0.1 (on the edge), 0.165, 0.171 in bin 1
    np.testing.assert_array_equal(rec.values[0, 0, 0], [1, 3])
    np.testing.assert_array_equal(rec.values[0, 0, 1], [1, 1])  # 2.05, 2.12
    np.testing.assert_array_equal(rec.values[1, 1, 0], [0, 1])  # 1.11 (1.21 is past 200 ms)
    v4 = read_nwb(path, region="V4", rate=True)
    assert list(v4.region.values) == ["V4"]
    np.testing.assert_allclose(v4.values[:, 0, 0], [0.0, 10.0, 20.0])  # counts / 0.1 s
    _raises("no neuroid has region 'V1'", read_nwb, path, region="V1")


def test_nwb_several_animals_in_a_units_column(tmp_path):
    path = write_nwb(
        tmp_path / "sim.nwb", _SPIKES, _PRESENTATIONS, region="IT", animal=["m1", "m2"]
    )
    rec = read_nwb(path)
    assert list(rec.animal.values) == ["m1", "m2"]
    assert list(rec.neuroid_id.values) == ["m1_unit0", "m2_unit1"]
    np.testing.assert_array_equal(rec.values[:, :, 0], [[3, 0], [2, 1], [0, 2]])
    only = read_nwb(path, animal="m2")
    assert list(only.neuroid_id.values) == ["m2_unit1"]
    np.testing.assert_array_equal(only.values[:, 0, 0], [0, 1, 2])
    _raises(
        "no neuroid has animal 'm3'; animals in this recording: 'm1', 'm2'",
        read_nwb,
        path,
        animal="m3",
    )


def test_nwb_units_column_and_trials_table(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(
        session_description="hand-made",
        identifier="session-42",
        session_start_time=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
    )
    nwb.add_unit_column(name="location", description="brain area")
    nwb.add_unit(spike_times=[0.08, 0.09, 1.1], location="VISp")
    nwb.add_unit(spike_times=[1.08], location="VISl")
    nwb.add_trial_column(name="image_id", description="frame shown")
    nwb.add_trial(start_time=0.0, stop_time=0.25, image_id=5.0)
    nwb.add_trial(start_time=1.0, stop_time=1.25, image_id=7.0)
    with NWBHDF5IO(str(tmp_path / "h.nwb"), "w") as io:
        io.write(nwb)
    rec = read_nwb(tmp_path / "h.nwb")
    assert list(rec.stimulus_id.values) == ["5", "7"]
    assert list(rec.region.values) == ["VISp", "VISl"]
    assert list(rec.animal.values) == ["session-42"] * 2
    np.testing.assert_array_equal(rec.values[:, :, 0], [[2, 0], [1, 1]])
    _raises("no intervals table 'flashes'", read_nwb, tmp_path / "h.nwb", intervals="flashes")
    message = _raises(
        "no intervals table with a stimulus column \\(frame\\)",
        read_nwb,
        tmp_path / "h.nwb",
        stimulus_column="frame",
    )
    assert "'trials': start_time, stop_time, image_id" in message
    _raises(
        "has no column 'frame'",
        read_nwb,
        tmp_path / "h.nwb",
        intervals="trials",
        stimulus_column="frame",
    )


def test_nwb_without_stimulus_column(tmp_path):
    from pynwb import NWBHDF5IO, NWBFile

    nwb = NWBFile(
        session_description="no stimuli",
        identifier="x",
        session_start_time=datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc),
    )
    nwb.add_unit(spike_times=[0.1])
    nwb.add_trial(start_time=0.0, stop_time=1.0)
    with NWBHDF5IO(str(tmp_path / "n.nwb"), "w") as io:
        io.write(nwb)
    _raises("no intervals table with a stimulus column", read_nwb, tmp_path / "n.nwb")
    rec = read_nwb(tmp_path / "n.nwb", stimulus_column="start_time", region="V1")
    assert list(rec.region.values) == ["V1"] and rec.values.ravel().tolist() == [1.0]


# -------------------------------------------------------------------------------- stimulus sets


def test_write_and_read_stimulus_set_gray(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    csv = write_stimulus_set(
        images, ["img_0", "img_1", "img_2"], tmp_path / "set", object_name=["car", "dog", "car"]
    )
    assert csv == tmp_path / "set" / "stimulus_set.csv"
    table = pd.read_csv(csv)
    assert list(table.columns) == ["stimulus_id", "filename", "object_name"]
    assert list(table.filename) == ["img_0.png", "img_1.png", "img_2.png"]
    stimuli = read_stimulus_set(csv)
    assert len(stimuli) == 3 and stimuli.identifier == "stimulus_set"
    assert list(stimuli.ids) == ["img_0", "img_1", "img_2"]
    assert list(stimuli.column("object_name")) == ["car", "dog", "car"]
    loaded = stimuli.load_images()
    assert loaded.shape == (3, 1, 4, 5) and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded[:, 0], images.astype(np.float32) / 255)
    rgb = stimuli.load_images(channels=3)
    assert rgb.shape == (3, 3, 4, 5)
    np.testing.assert_array_equal(rgb[:, 2], loaded[:, 0])
    picked = stimuli.select(["img_2", "img_0"])
    assert list(picked.ids) == ["img_2", "img_0"] and picked.paths[0].name == "img_2.png"
    _raises("1 stimulus id are not in .*'zzz'", stimuli.select, ["zzz"])
    _raises("no column 'colour'", stimuli.column, "colour")


def test_stimulus_set_float_rgb_resize_and_unsafe_ids(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.random((2, 6, 6, 3))
    images[1] = 128 / 255  # a uniform image stays uniform when resized
    csv = write_stimulus_set(images, ["a/b", "c d"], tmp_path, identifier="hvm")
    stimuli = read_stimulus_set(csv)
    assert [p.name for p in stimuli.paths] == ["stimulus_00000.png", "stimulus_00001.png"]
    loaded = stimuli.load_images()
    assert loaded.shape == (2, 3, 6, 6)
    np.testing.assert_allclose(
        loaded[0], np.round(images[0] * 255).transpose(2, 0, 1) / 255, atol=1e-7
    )
    small = stimuli.load_images(size=3, channels=1)
    assert small.shape == (2, 1, 3, 3)
    np.testing.assert_allclose(small[1], 128 / 255, atol=1e-7)
    chw = write_stimulus_set(images.transpose(0, 3, 1, 2), ["x", "y"], tmp_path / "chw")
    np.testing.assert_array_equal(read_stimulus_set(chw).load_images(), loaded)


def test_stimulus_set_errors(tmp_path):
    images = np.zeros((2, 4, 4), dtype=np.uint8)
    csv = write_stimulus_set(images, ["a", "b"], tmp_path / "s")
    (tmp_path / "s" / "b.png").unlink()
    message = _raises(
        "1 image file of stimulus set 'stimulus_set' is missing: 'b.png'", read_stimulus_set, csv
    )
    assert str(tmp_path / "s") in message
    pd.DataFrame({"stimulus_id": ["a"], "file": ["a.png"]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    message = _raises("lacks the column 'filename'", read_stimulus_set, tmp_path / "bad.csv")
    assert "'stimulus_id', 'file'" in message
    pd.DataFrame({"name": ["a"]}).to_csv(tmp_path / "worse.csv", index=False)
    _raises(
        "lacks the column 'stimulus_id' and 'filename'", read_stimulus_set, tmp_path / "worse.csv"
    )
    _raises("no such stimulus set CSV", read_stimulus_set, tmp_path / "absent.csv")
    _raises(
        "float images must lie in \\[0, 1\\]; got values in \\[2, 2\\]",
        write_stimulus_set,
        np.full((1, 2, 2), 2.0),
        ["a"],
        tmp_path,
    )
    _raises("got 2 images but 1 ids", write_stimulus_set, images, ["a"], tmp_path)
    _raises(
        "column 'label' has 1 values for 2 images",
        write_stimulus_set,
        images,
        ["a", "b"],
        tmp_path,
        label=[1],
    )
    _raises("images must have shape", write_stimulus_set, np.zeros((2, 4)), ["a", "b"], tmp_path)
    _raises("ids must be unique", write_stimulus_set, images, ["a", "a"], tmp_path)
    # images of different sizes need size=...
    write_stimulus_set(np.zeros((1, 2, 2), np.uint8), ["c"], tmp_path / "s", identifier="tmp")
    pd.DataFrame({"image_id": ["a", "c"], "filename": ["a.png", "c.png"]}).to_csv(
        tmp_path / "s" / "mixed.csv", index=False
    )
    mixed = read_stimulus_set(tmp_path / "s" / "mixed.csv")  # legacy image_id column
    assert list(mixed.ids) == ["a", "c"]
    _raises("'c.png' is 2x2 but 'a.png' is 4x4; pass size=", mixed.load_images)
    assert mixed.load_images(size=(2, 3)).shape == (2, 1, 2, 3)
    (tmp_path / "s" / "c.png").unlink()
    _raises("missing: 'c.png'", mixed.load_images)


def test_check_stimuli_match(tmp_path):
    csv = write_stimulus_set(np.zeros((2, 2, 2), np.uint8), ["img_0", "img_2"], tmp_path)
    stimuli = read_stimulus_set(csv)
    message = _raises(
        "1 of 3 stimulus ids of recording 'test.rec' are absent from stimulus set 'stimulus_set' "
        "\\('img_1'\\)",
        check_stimuli_match,
        _recording(),
        stimuli,
    )
    assert "'test.stimuli'" in message
    assert check_stimuli_match(_recording().isel(stimulus=[0, 2]), stimuli) is None


def test_stimulus_mismatch_of_a_bare_npy_says_the_axes_may_be_swapped(tmp_path):
    images = np.zeros((4, 2, 2), np.uint8)
    numbered = read_stimulus_set(
        write_stimulus_set(images, [f"stimulus_{i}" for i in range(4)], tmp_path / "a")
    )
    named = read_stimulus_set(write_stimulus_set(images, list("wxyz"), tmp_path / "b"))
    # 4 stimuli x 3 neuroids x 2 trials, saved neuroid-first
    np.save(tmp_path / "r.npy", _data(n_stimuli=4, n_neuroids=3).transpose(1, 0, 2))
    swapped = read_npy(tmp_path / "r.npy")
    # every id present (stimulus_0..2 of 4): refused instead of scoring neuroids as stimuli
    message = _raises(
        "has 3 stimuli but stimulus set 'stimulus_set' has 4",
        check_stimuli_match,
        swapped,
        numbered,
    )
    assert "axes may be swapped (axis 1 (neuroid) has 4 entries" in message
    assert "--axes neuroid,stimulus,trial" in message
    # no id matches: the message names the ids and the axis option
    message = _raises("3 of 3 stimulus ids", check_stimuli_match, swapped, named)
    assert "none matches: the stimulus set's ids are 'w', 'x', 'y', 'z'" in message
    assert "stimulus_0 .. stimulus_2 along array axis 0" in message
    assert "axes may be swapped" in message and "--axes neuroid,stimulus,trial" in message
    # the right order matches; a subset named explicitly is accepted
    assert (
        check_stimuli_match(read_npy(tmp_path / "r.npy", axes="neuroid,stimulus,trial"), numbered)
        is None
    )
    assert (
        check_stimuli_match(read_npy(tmp_path / "r.npy", axes="stimulus,neuroid,trial"), numbered)
        is None
    )
    # labelled recordings get no axis hint
    assert "axes" not in _raises("absent", check_stimuli_match, _recording(), named)
