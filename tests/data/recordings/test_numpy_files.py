"""Tests of recordings in .npz archives and bare .npy arrays."""

import numpy as np
import xarray as xr
from recording_cases import _data, _raises, _recording

from brainlike.data.recordings import (
    read_npy,
    read_npz,
    read_recording,
    write_brainio_netcdf,
    write_recording,
)


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
