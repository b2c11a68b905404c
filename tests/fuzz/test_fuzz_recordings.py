"""Fuzzed recording files: netCDF, NWB, .npz/.npy and stimulus-set CSVs, valid ones cut short,
random bytes and odd arrays either read or raise RecordingError, and leave the file alone."""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from brainlike.data.recordings import (
    RecordingError,
    make_recording,
    read_recording,
    read_stimulus_set,
    write_npz,
    write_nwb,
    write_recording,
)

SUFFIXES = [".nc", ".nwb", ".npz", ".npy"]


def check_door(door, call, folder):
    return door(call, (RecordingError,), folder)


@functools.cache
def valid_file(suffix: str) -> bytes:
    """The bytes of a small valid recording in this format (written once per session)."""
    rec = make_recording(
        np.arange(24, dtype=float).reshape(4, 3, 2), stimulus_ids=["a", "b", "c", "d"]
    )
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"r{suffix}"
        if suffix == ".nwb":
            spikes = [[0.05, 0.31, 0.55], [0.12, 0.6], [0.33]]
            write_nwb(path, spikes, [(0.0, "a"), (0.3, "b"), (0.5, "a")], duration=0.2)
        elif suffix == ".npy":
            np.save(path, rec.values)
        elif suffix == ".npz":
            write_npz(rec, path)
        else:
            write_recording(rec, path)
        return path.read_bytes()


def _read_bytes(door, raw: bytes, suffix: str):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"fuzz{suffix}"
        path.write_bytes(raw)
        return check_door(door, lambda: read_recording(path), Path(tmp))


@settings(max_examples=40)
@given(raw=st.binary(max_size=300), suffix=st.sampled_from(SUFFIXES))
@example(raw=b"", suffix=".npz")
@example(raw=b"", suffix=".npy")
@example(raw=b"", suffix=".nc")
@example(raw=b"", suffix=".nwb")
@example(raw=b"PK\x03\x04garbage", suffix=".npz")
@example(raw=b"\x93NUMPY\x01\x00garbage", suffix=".npy")
@example(raw=b"\x89HDF\r\n\x1a\n", suffix=".nc")
def test_random_bytes(door, raw, suffix):
    """Random bytes under each recording suffix are refused with RecordingError."""
    _read_bytes(door, raw, suffix)


@settings(max_examples=40)
@given(suffix=st.sampled_from(SUFFIXES), cut=st.floats(0.0, 1.0, exclude_max=True))
@example(suffix=".npz", cut=0.5)
@example(suffix=".npy", cut=0.9)
@example(suffix=".nc", cut=0.5)
@example(suffix=".nwb", cut=0.5)
def test_truncated_file(door, suffix, cut):
    """A valid recording file cut short is refused with RecordingError."""
    raw = valid_file(suffix)
    _read_bytes(door, raw[: int(cut * len(raw))], suffix)


@settings(max_examples=30)
@given(
    suffix=st.sampled_from(SUFFIXES),
    at=st.floats(0.0, 1.0, exclude_max=True),
    junk=st.binary(min_size=1, max_size=16),
)
def test_corrupted_file(door, suffix, at, junk):
    """A valid recording with some bytes overwritten reads or is refused with RecordingError."""
    raw = bytearray(valid_file(suffix))
    i = int(at * len(raw))
    raw[i : i + len(junk)] = junk
    _read_bytes(door, bytes(raw[: len(valid_file(suffix))]), suffix)


ARRAYS = hnp.arrays(
    dtype=st.sampled_from([np.float64, np.float32, np.int8, np.bool_, np.complex64, "<U3", "S2"]),
    shape=hnp.array_shapes(min_dims=0, max_dims=5, min_side=0, max_side=3),
)
NPZ_KEYS = st.sampled_from(
    [
        "responses",
        "stimulus_ids",
        "neuroid_ids",
        "animal",
        "region",
        "time_bins",
        "identifier",
        "stimulus_set_identifier",
        "stimulus__x",
        "neuroid__y",
        "trial__z",
        "other",
    ]
)


@settings(max_examples=60)
@given(arrays=st.dictionaries(NPZ_KEYS, ARRAYS, min_size=1, max_size=5))
@example(arrays={"responses": np.zeros((2, 2, 2)), "time_bins": np.zeros(3)})
@example(arrays={"responses": np.zeros((2, 2, 2)), "stimulus_ids": np.array(["a"])})
@example(arrays={"responses": np.zeros((2, 2, 2)), "identifier": np.zeros((2, 2))})
@example(arrays={"responses": np.array([[[1 + 1j]]])})  # was silently cast to real
def test_npz_of_odd_arrays(door, arrays):
    """An .npz of arrays of any dtype and shape under the known keys reads or is refused;
    complex responses are refused."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "odd.npz"
        np.savez(path, **arrays)
        out = check_door(door, lambda: read_recording(path), Path(tmp))
        if np.iscomplexobj(arrays.get("responses", 0.0)):
            assert isinstance(out, RecordingError)


@settings(max_examples=40)
@given(
    array=ARRAYS,
    axes=st.one_of(
        st.none(), st.text(max_size=30), st.permutations(["trial", "neuroid", "stimulus"])
    ),
)
@example(array=np.zeros((2, 2, 2, 2)), axes=None)
@example(array=np.zeros((2, 2, 2)), axes="stimulus,stimulus,trial")
def test_npy_of_odd_arrays(door, array, axes):
    """A bare .npy of any dtype and shape, with any axis order, reads or is refused."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "odd.npy"
        np.save(path, array)
        check_door(door, lambda: read_recording(path, axes=axes), Path(tmp))


@settings(max_examples=15)
@given(array=hnp.arrays(np.float64, (2, 2, 2)))
def test_npy_of_objects_refused(door, array):
    """A pickled object array in an .npy is refused (never unpickled)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "obj.npy"
        np.save(path, array.astype(object), allow_pickle=True)
        out = check_door(door, lambda: read_recording(path), Path(tmp))
        assert isinstance(out, RecordingError)


CSV_CELLS = st.one_of(
    st.sampled_from(["stimulus_id", "image_id", "filename", "a.png", "", '"', ",", "x"]),
    st.text(max_size=8),
)


@settings(max_examples=50)
@given(rows=st.lists(st.lists(CSV_CELLS, max_size=4), max_size=5))
@example(rows=[])
@example(rows=[["stimulus_id", "filename"]])
@example(rows=[["stimulus_id", "filename"], ["a", ""]])
@example(rows=[["stimulus_id", "filename"], ["", "a.png"]])
@example(rows=[["stimulus_id", "filename"], ["a", "a.png", "extra", "more"]])
@example(rows=[['"', "filename"]])
def test_stimulus_set_csv(door, rows):
    """A stimulus set CSV of any cells reads or is refused with RecordingError."""
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "a.png").write_bytes(b"\x89PNG")
        path = Path(tmp) / "set.csv"
        path.write_text("\n".join(",".join(r) for r in rows), encoding="utf-8")
        check_door(door, lambda: read_stimulus_set(path), Path(tmp))


@settings(max_examples=20)
@given(raw=st.binary(max_size=200))
@example(raw=b"stimulus_id,filename\n\x80,a.png\n")
def test_stimulus_set_csv_bytes(door, raw):
    """A stimulus set CSV of random bytes is refused with RecordingError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "set.csv"
        path.write_bytes(raw)
        check_door(door, lambda: read_stimulus_set(path), Path(tmp))


def test_recording_path_of_unknown_user(door):
    """A path under ~name of a user that does not exist is a RecordingError (was pathlib's
    RuntimeError)."""
    out = door(lambda: read_recording("~nosuchuser0/x.npy"), (RecordingError,))
    assert isinstance(out, RecordingError) and "no such user" in str(out)
