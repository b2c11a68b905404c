"""Tests of selecting, averaging, pooling and summarising recordings."""

import numpy as np
import pytest
from recording_cases import _data, _raises, _recording

from brainlike.data.recordings import (
    DIMS,
    average_time,
    concat_neuroids,
    make_recording,
    responses,
    select_neuroids,
    summary,
)


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
