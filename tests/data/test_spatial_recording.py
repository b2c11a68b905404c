"""SpatialRecording: readers on hand-written MATLAB, CSV and NWB files, the netCDF round trip,
counts per sample and rate maps by hand, and each refusal of bad input."""

from __future__ import annotations

import datetime
import warnings

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from brainlike.analysis.spatial import rate_maps_from_spikes
from brainlike.data.recordings import RecordingError
from brainlike.data.recordings.spatial import (
    SpatialRecording,
    read_spatial_csv,
    read_spatial_mat,
    read_spatial_nwb,
    read_spatial_recording,
)

# Five samples 0.1 s apart in a 0.1 m box centred at 0 (2 x 2 bins of 5 cm).
T = np.array([0.0, 0.1, 0.2, 0.3, 0.4])
X = np.array([-0.04, -0.01, 0.02, 0.04, 0.03])
Y = np.array([-0.03, -0.03, 0.01, 0.04, -0.02])
HD = np.array([0.0, 0.5, 1.0, -1.0, 3.0])
SPIKES = {"c1": [0.05, 0.21, 0.22, 0.45], "c2": [0.0, 0.3]}
# counts per sample: a spike belongs to the last sample at or before it
COUNTS = np.array([[1, 0, 2, 0, 1], [1, 0, 0, 1, 0]])


def _check_hand_session(rec: SpatialRecording, scale: float = 1.0) -> None:
    track = rec.tracking()
    np.testing.assert_allclose(track["time"], T)
    np.testing.assert_allclose(track["position"], np.stack([X, Y], 1) * scale, atol=1e-12)
    assert rec.cell_ids.tolist() == ["c1", "c2"]
    for got, want in zip(rec.spike_times(), SPIKES.values(), strict=True):
        np.testing.assert_allclose(got, want)
    np.testing.assert_array_equal(rec.spike_counts(), COUNTS)


def test_csv_reader_round_trip(tmp_path):
    pos = tmp_path / "positions.csv"
    pos.write_text(
        "t,x,y,hd\n" + "".join(f"{t},{x},{y},{h}\n" for t, x, y, h in zip(T, X, Y, HD, strict=True))
    )
    spk = tmp_path / "spikes.csv"
    spk.write_text("cell,t\n" + "".join(f"{c},{t}\n" for c, ts in SPIKES.items() for t in ts[::-1]))
    rec = read_spatial_csv(pos, spk, arena=0.1)
    _check_hand_session(rec)
    np.testing.assert_allclose(rec.tracking()["head_direction"], HD)
    # speed: distance to the next sample over 0.1 s, the last repeats the previous
    step = np.hypot(np.diff(X), np.diff(Y)) / 0.1
    np.testing.assert_allclose(rec.tracking()["speed"], np.append(step, step[-1]))


def test_mat_reader_in_cm(tmp_path):
    from scipy.io import savemat

    savemat(
        tmp_path / "pos.mat",
        {"posx": X[:, None] * 100, "posy": Y[:, None] * 100, "post": T[:, None]},
    )
    files = []
    for name, ts in SPIKES.items():
        savemat(tmp_path / f"{name}.mat", {"cellTS": np.array(ts)[:, None]})
        files.append(tmp_path / f"{name}.mat")
    rec = read_spatial_mat(tmp_path / "pos.mat", files, arena=0.1, units="cm", animal="r1")
    _check_hand_session(rec)
    assert rec.animals == ["r1"] and rec.dataset.attrs["session"] == "pos"
    with pytest.raises(RecordingError, match="has no variable 'spk'"):
        read_spatial_mat(tmp_path / "pos.mat", files, arena=0.1, spike_variable="spk")


def _write_nwb(path, position, unit="meters", acquisition=False):
    from pynwb import NWBHDF5IO, NWBFile
    from pynwb.behavior import CompassDirection, Position, SpatialSeries
    from pynwb.file import Subject

    nwb = NWBFile(
        session_description="foraging",
        identifier="s1",
        session_start_time=datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc),
        subject=Subject(subject_id="rat7"),
    )
    series = SpatialSeries(
        name="pos", data=position, timestamps=T, reference_frame="centre", unit=unit
    )
    compass = CompassDirection(
        spatial_series=SpatialSeries(
            name="hd", data=HD, timestamps=T, reference_frame="east", unit="radians"
        )
    )
    if acquisition:
        nwb.add_acquisition(Position(spatial_series=series))
    else:
        behavior = nwb.create_processing_module("behavior", "tracking")
        behavior.add(Position(spatial_series=series))
        behavior.add(compass)
    for ts in SPIKES.values():
        nwb.add_unit(spike_times=ts)
    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)


def test_nwb_reader(tmp_path):
    pytest.importorskip("pynwb")
    _write_nwb(tmp_path / "s.nwb", np.stack([X, Y], 1))
    rec = read_spatial_nwb(tmp_path / "s.nwb", arena=0.1)
    assert rec.animals == ["rat7"] and rec.cell_ids.tolist() == ["0", "1"]
    np.testing.assert_allclose(rec.tracking()["position"], np.stack([X, Y], 1))
    np.testing.assert_allclose(rec.tracking()["head_direction"], HD, atol=1e-12)
    np.testing.assert_array_equal(rec.spike_counts(), COUNTS)
    # positions in cm in the acquisition group: the unit comes from the SpatialSeries
    _write_nwb(tmp_path / "cm.nwb", np.stack([X, Y], 1) * 100, unit="cm", acquisition=True)
    rec = read_spatial_nwb(tmp_path / "cm.nwb", arena=0.1)
    np.testing.assert_allclose(rec.tracking()["position"], np.stack([X, Y], 1))
    assert rec.tracking()["head_direction"] is None


def _hand(animal="a", **kw):
    return SpatialRecording.from_arrays(
        T,
        X,
        Y,
        list(SPIKES.values()),
        arena=0.1,
        head_direction=HD,
        animal=animal,
        cell_ids=[f"{animal}_{c}" for c in SPIKES],
        **kw,
    )


def test_rate_maps_by_hand_and_netcdf_round_trip(tmp_path):
    rec = _hand()
    maps = rec.rate_maps(bin_cm=5.0)
    # bins (row y, column x): samples 0,1 -> (0,0); 2,3 -> (1,1); 4 -> (0,1); 0.1 s each
    np.testing.assert_allclose(maps.occupancy, [[0.2, 0.1], [0.0, 0.2]])
    want_c1 = np.array([[1 / 0.2, 1 / 0.1], [np.nan, 2 / 0.2]])
    want_c2 = np.array([[1 / 0.2, 0.0], [np.nan, 1 / 0.2]])
    np.testing.assert_allclose(maps.rates, np.stack([want_c1, want_c2]))
    both = SpatialRecording.combine([rec, _hand("b")], session="two")
    assert both.animals == ["a", "b"] and both.n_cells == 4
    np.testing.assert_array_equal(both.spike_counts("b"), COUNTS)
    with pytest.raises(RecordingError, match="holds 2 animals"):
        both.rate_maps()
    per = both.rate_maps_per_animal(bin_cm=5.0, smooth_cm=5.0, min_occupancy_s=0.15)
    direct = rate_maps_from_spikes(
        np.stack([X, Y], 1), T, list(SPIKES.values()), 0.1, 5.0, 0.15, 5.0
    )
    np.testing.assert_allclose(per["b"].rates, direct.rates)
    path = both.save(tmp_path / "recording.nc")
    back = read_spatial_recording(path)
    xr.testing.assert_identical(back.dataset, both.dataset)
    assert back.animals == ["a", "b"] and back.arena == (0.1, 0.1)


def test_bad_input_one_line_each():
    spikes = list(SPIKES.values())
    with pytest.raises(RecordingError, match=r"different lengths \(time 5, x 4, y 5\)"):
        SpatialRecording.from_arrays(T, X[:4], Y, spikes, arena=0.1)
    with pytest.raises(RecordingError, match="another unit: pass units='cm'"):
        SpatialRecording.from_arrays(T, X * 100, Y * 100, spikes, arena=0.1)
    with pytest.raises(RecordingError, match="smaller than the data"):
        SpatialRecording.from_arrays(T, X, Y, spikes, arena=0.07)
    late = [[*SPIKES["c1"], 0.6, 7.0], [-1.0, 0.3]]
    with pytest.raises(RecordingError, match=r"3 of 8 spikes .* outside the session \[0, 0.5\)"):
        SpatialRecording.from_arrays(T, X, Y, late, arena=0.1)
    with pytest.warns(UserWarning, match="dropped 3 of 8 spikes"):
        rec = SpatialRecording.from_arrays(T, X, Y, late, arena=0.1, spikes_outside="drop")
    assert [len(s) for s in rec.spike_times()] == [4, 1]
    x = X.copy()
    x[1] = np.nan
    with pytest.warns(UserWarning, match="dropped 1 of 5 tracking samples with NaN positions"):
        rec = SpatialRecording.from_arrays(T, x, Y, spikes, arena=0.1)
    # the spike at 0.1..0.2 s now counts in sample 0 (held through the gap)
    np.testing.assert_array_equal(rec.spike_counts(), [[1, 2, 0, 1], [1, 0, 1, 0]])
    with pytest.raises(RecordingError, match="strictly increasing"):
        SpatialRecording.from_arrays(T[::-1], X, Y, spikes, arena=0.1)
    with pytest.raises(RecordingError, match="units is 'inch'"):
        SpatialRecording.from_arrays(T, X, Y, spikes, arena=0.1, units="inch")


def test_cli_recording_spatial(tmp_path):
    from brainlike.cli import app

    pos = tmp_path / "positions.csv"
    pos.write_text(
        "t,x,y\n" + "".join(f"{t},{x * 100},{y * 100}\n" for t, x, y in zip(T, X, Y, strict=True))
    )
    spk = tmp_path / "spikes.csv"
    spk.write_text("cell,t\n" + "".join(f"{c},{t}\n" for c, ts in SPIKES.items() for t in ts))
    runner = CliRunner()
    args = ["recording", "spatial", "--positions", str(pos), "--spikes", str(spk)]
    args += ["--format", "csv", "--arena", "0.1", "-o", str(tmp_path / "out")]
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "units='cm'" in res.output
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = runner.invoke(app, [*args, "--units", "cm"])
    assert res.exit_code == 0, res.output
    rec = SpatialRecording.load(tmp_path / "out" / "recording.nc")
    np.testing.assert_array_equal(rec.spike_counts(), COUNTS)
    res = runner.invoke(app, [*args, "--units", "cm"])
    assert res.exit_code == 2 and "--overwrite" in res.output
