"""Allen Brain Observatory natural-scenes reader on small NWB files written here with pynwb.

The files mimic the NWB 2 session layouts: Neuropixels (units with spike_times and
peak_channel_id -> electrodes.location) and two-photon (processing/ophys DfOverF ->
RoiResponseSeries over a PlaneSegmentation whose imaging plane's location is the area), each
with the ``natural_scenes_presentations`` intervals table (frame 0..117, -1 for blanks).
"""

from __future__ import annotations

from datetime import datetime, timezone

import numpy as np
import pytest

from brainlike.data.recordings import read_recording
from brainlike.data.recordings.allen import (
    read_allen_natural_scenes,
    read_allen_session,
    scene_id,
    write_allen_stimulus_set,
)
from brainlike.data.recordings.recording import RecordingError

N_SCENES, N_REPEATS, SOA = 118, 2, 0.25


def _schedule(seed: int, blanks: bool = True):
    """Onsets and frames: every scene N_REPEATS times in random order, some blanks (-1)."""
    rng = np.random.default_rng(seed)
    frames = np.concatenate([rng.permutation(N_SCENES) for _ in range(N_REPEATS)])
    if blanks:
        frames = np.insert(frames, [5, 40, 100], -1)
    onsets = 2.0 + SOA * np.arange(len(frames))
    return onsets, frames.astype(float)


def _nwb(subject: str, onsets, frames, table: str = "natural_scenes_presentations"):
    from pynwb import NWBFile
    from pynwb.epoch import TimeIntervals
    from pynwb.file import Subject

    nwb = NWBFile(
        session_description="allen-like",
        identifier=f"session-{subject}",
        session_start_time=datetime(2019, 1, 1, tzinfo=timezone.utc),
        subject=Subject(subject_id=subject, species="Mus musculus"),
    )
    intervals = TimeIntervals(name=table, description="natural scenes")
    intervals.add_column("frame", "scene index, -1 blank")
    for t, f in zip(onsets, frames, strict=True):
        intervals.add_row(start_time=float(t), stop_time=float(t + SOA), frame=float(f))
    nwb.add_time_intervals(intervals)
    return nwb


def _write(nwb, path):
    from pynwb import NWBHDF5IO

    with NWBHDF5IO(str(path), "w") as io:
        io.write(nwb)
    return path


def write_neuropixels(path, subject, seed, areas=("VISp", "VISl", "VISp")):
    """Units whose spikes are drawn per presentation; returns the spike times per unit."""
    onsets, frames = _schedule(seed)
    nwb = _nwb(subject, onsets, frames)
    device = nwb.create_device("probeA")
    group = nwb.create_electrode_group("probeA", "shank", "VIS", device)
    channel_ids = [850 + 3 * i for i in range(len(areas))]
    for cid, area in zip(channel_ids, areas, strict=True):
        nwb.add_electrode(
            id=cid, x=0.0, y=0.0, z=0.0, imp=0.0, location=area, filtering="", group=group
        )
    nwb.add_unit_column("peak_channel_id", "channel id of the unit's peak waveform")
    rng = np.random.default_rng(seed + 1)
    spikes = []
    for u, cid in enumerate(channel_ids):
        t = []
        for onset in onsets:
            # some spikes in the 0-250 ms window, some just outside it (before and after)
            k = rng.integers(0, 5)
            t += list(onset + rng.uniform(0.0, 0.2499, k))
        t += [onsets[0] - 0.01, onsets[-1] + 0.26]
        t = np.sort(np.asarray(t))
        spikes.append(t)
        nwb.add_unit(spike_times=t, peak_channel_id=cid, id=1000 + u)
    _write(nwb, path)
    return onsets, frames, spikes


def write_two_photon(path, subject, seed, area="VISal", n_cells=3, rate=30.0):
    from pynwb.ophys import DfOverF, ImageSegmentation, OpticalChannel

    onsets, frames = _schedule(seed)
    nwb = _nwb(subject, onsets, frames)
    device = nwb.create_device("2p")
    channel = OpticalChannel(name="green", description="GCaMP6f", emission_lambda=510.0)
    plane = nwb.create_imaging_plane(
        "plane",
        channel,
        description="",
        device=device,
        excitation_lambda=910.0,
        imaging_rate=rate,
        indicator="GCaMP6f",
        location=area,
    )
    seg = ImageSegmentation()
    ps = seg.create_plane_segmentation("cells", plane, "rois")
    ps.add_column("cell_specimen_id", "Allen cell id")
    for c in range(n_cells):
        mask = np.zeros((4, 4))
        mask[c, c] = 1
        ps.add_roi(image_mask=mask, cell_specimen_id=5000 + c)
    ophys = nwb.create_processing_module("ophys", "2p")
    ophys.add(seg)
    times = np.arange(0.0, onsets[-1] + 1.0, 1.0 / rate)
    dff = np.random.default_rng(seed).standard_normal((len(times), n_cells))
    rois = ps.create_roi_table_region("all", region=list(range(n_cells)))
    d = DfOverF()
    ophys.add(d)
    d.create_roi_response_series(name="traces", data=dff, rois=rois, unit="dF/F", timestamps=times)
    _write(nwb, path)
    return onsets, frames, times, dff


def _scene(rec, frame):
    """(neuroid, trial) responses to one scene."""
    return rec.values[rec["stimulus_id"].values.tolist().index(scene_id(frame))]


def test_neuropixels_counts_areas_and_animals(tmp_path):
    a = write_neuropixels(tmp_path / "a.nwb", "mouse1", 0)
    b = write_neuropixels(tmp_path / "b.nwb", "mouse2", 1, areas=("VISl", "VISam"))
    rec = read_allen_natural_scenes([tmp_path / "a.nwb", tmp_path / "b.nwb"])
    assert rec.dims == ("stimulus", "neuroid", "trial")
    assert rec.sizes["stimulus"] == N_SCENES and rec.sizes["trial"] == N_REPEATS
    assert rec["stimulus_id"].values[7] == "scene_007"
    assert rec["region"].values.tolist() == ["VISp", "VISl", "VISp", "VISl", "VISam"]
    assert rec["animal"].values.tolist() == ["mouse1"] * 3 + ["mouse2"] * 2
    assert rec.attrs["modality"] == "neuropixels"
    # hand count: spikes of unit 1 of file b in [onset, onset + 0.25) of scene 42's repeats
    onsets, frames, spikes = b
    shown = onsets[frames == 42]
    expected = [np.sum((spikes[1] >= t) & (spikes[1] < t + 0.25)) for t in shown]
    assert _scene(rec, 42)[4].tolist() == expected
    # and of unit 0 of file a for scene 0
    onsets, frames, spikes = a
    expected = [np.sum((spikes[0] >= t) & (spikes[0] < t + 0.25)) for t in onsets[frames == 0]]
    assert _scene(rec, 0)[0].tolist() == expected
    # read_recording recognises an Allen file by its table
    one = read_recording(tmp_path / "a.nwb")
    assert one.sizes["neuroid"] == 3 and one["animal"].values[0] == "mouse1"


def test_two_photon_mean_dff_minus_baseline(tmp_path):
    onsets, frames, times, dff = write_two_photon(tmp_path / "c.nwb", "mouse3", 2)
    resp, fr, area, ids, animal, modality = read_allen_session(tmp_path / "c.nwb")
    assert modality == "calcium" and animal == "mouse3"
    assert area.tolist() == ["VISal"] * 3 and ids.tolist() == ["5000", "5001", "5002"]
    # hand-computed: presentation k = the 10th non-blank one
    shown = np.flatnonzero(frames >= 0)
    k = shown[10]
    win = (times >= onsets[k]) & (times < onsets[k] + 0.5)
    base = (times >= onsets[k] - 1.0) & (times < onsets[k])
    expected = dff[win].mean(axis=0) - dff[base].mean(axis=0)
    np.testing.assert_allclose(resp[10], expected, rtol=1e-12)
    assert fr[10] == frames[k]
    rec = read_allen_natural_scenes(tmp_path / "c.nwb", window=(0.05, 0.2))
    scene = int(frames[k])
    trial = list(onsets[frames == scene]).index(onsets[k])
    win = (times >= onsets[k] + 0.05) & (times < onsets[k] + 0.2)
    np.testing.assert_allclose(
        _scene(rec, scene)[:, trial],
        dff[win].mean(axis=0) - dff[base].mean(axis=0),
        rtol=1e-12,
    )


def test_missing_table_and_mixed_modalities_refused(tmp_path):
    onsets, frames = _schedule(0)
    _write(_nwb("m", onsets, frames, table="drifting_gratings_presentations"), tmp_path / "g.nwb")
    with pytest.raises(RecordingError, match="no 'natural_scenes_presentations'"):
        read_allen_natural_scenes(tmp_path / "g.nwb")
    write_neuropixels(tmp_path / "a.nwb", "m1", 0)
    write_two_photon(tmp_path / "c.nwb", "m2", 1)
    with pytest.raises(RecordingError, match="mix Neuropixels and two-photon"):
        read_allen_natural_scenes([tmp_path / "a.nwb", tmp_path / "c.nwb"])
    with pytest.raises(RecordingError, match="no such NWB file"):
        read_allen_natural_scenes(tmp_path / "none.nwb")


def test_scenes_stimulus_set(tmp_path):
    with pytest.raises(RecordingError, match="118 Allen natural-scene images are not part"):
        write_allen_stimulus_set(tmp_path / "missing.npy", tmp_path / "s")
    np.save(tmp_path / "few.npy", np.zeros((10, 8, 8)))
    with pytest.raises(RecordingError, match=r"not \(118, H, W"):
        write_allen_stimulus_set(tmp_path / "few.npy", tmp_path / "s")
    np.save(tmp_path / "scenes.npy", np.random.default_rng(0).random((118, 8, 8)))
    csv = write_allen_stimulus_set(tmp_path / "scenes.npy", tmp_path / "s")
    from brainlike.data.recordings import read_stimulus_set

    assert list(read_stimulus_set(csv).ids[:2]) == ["scene_000", "scene_001"]


def test_cli_recording_allen(tmp_path):
    from typer.testing import CliRunner

    from brainlike.cli import app

    write_neuropixels(tmp_path / "a.nwb", "m1", 0)
    write_neuropixels(tmp_path / "b.nwb", "m2", 1)
    runner = CliRunner()
    res = runner.invoke(
        app, ["recording", "allen", str(tmp_path / "a.nwb"), "-o", str(tmp_path / "out")]
    )
    assert res.exit_code == 2 and "--scenes is required" in res.output
    assert not (tmp_path / "out").exists()
    np.save(tmp_path / "scenes.npy", np.zeros((118, 8, 8), np.uint8))
    res = runner.invoke(
        app,
        [
            "recording",
            "allen",
            str(tmp_path / "a.nwb"),
            str(tmp_path / "b.nwb"),
            "--scenes",
            str(tmp_path / "scenes.npy"),
            "-o",
            str(tmp_path / "out"),
        ],
    )
    assert res.exit_code == 0, res.output
    rec = read_recording(tmp_path / "out" / "recording.nc")
    assert sorted(set(rec["animal"].values.tolist())) == ["m1", "m2"]
    assert (tmp_path / "out" / "stimuli" / "allen_natural_scenes.csv").exists()
