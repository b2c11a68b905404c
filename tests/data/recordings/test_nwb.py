"""Tests of NWB files: spike counts per presentation and time bin, regions, animals."""

import datetime

import numpy as np
from recording_cases import _raises

from brainlike.data.recordings import DIMS, read_nwb, read_recording, write_nwb

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
