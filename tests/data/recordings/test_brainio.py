"""Tests of BrainIO / Brain-Score netCDF assemblies: format, reading, round trips, errors."""

import h5netcdf
import numpy as np
import pytest
import xarray as xr
from recording_cases import _data, _raises, _recording

from brainlike.data.recordings import (
    DIMS,
    read_brainio_netcdf,
    read_recording,
    recording_from_assembly,
    recording_to_assembly,
    write_brainio_netcdf,
    write_recording,
)


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
