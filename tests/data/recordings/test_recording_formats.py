"""Tests of choosing the reader and writer of a recording by its file suffix."""

from recording_cases import _raises, _recording

from brainlike.data.recordings import read_recording, write_recording


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
