"""Fuzzed spatial (foraging-session) files: tracking and spike CSVs, MATLAB files and saved
recordings either read or raise RecordingError with a one-line message, and stay as they were."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.io import savemat

from brainlike.data.recordings import RecordingError
from brainlike.data.recordings.spatial import (
    read_spatial_csv,
    read_spatial_mat,
    read_spatial_recording,
)


def check_door(door, call, folder):
    return door(call, (RecordingError,), folder)


NUMBER_TEXT = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.integers(-(10**20), 10**20).map(str),
    st.sampled_from(["", " ", "nan", "inf", "-", "1e999", "x", "0x10", "1,5", '"']),
    st.text(max_size=6),
)


def _csv(header: list[str], rows: list[list[str]]) -> str:
    return "\n".join(",".join(r) for r in [header, *rows])


@settings(max_examples=60)
@given(
    pos_header=st.permutations(["t", "x", "y", "hd"]).map(lambda h: h[: 3 + (h[0] == "t")]),
    pos_rows=st.lists(st.lists(NUMBER_TEXT, min_size=2, max_size=5), max_size=6),
    spk_rows=st.lists(st.tuples(st.sampled_from(["c1", "c2", " ", ""]), NUMBER_TEXT), max_size=6),
    arena=st.one_of(st.floats(-1, 1e6), st.just(float("nan")), st.just(1.0)),
)
@example(pos_header=["t", "x", "y"], pos_rows=[["0", "abc", "0"]], spk_rows=[], arena=1.0)
@example(pos_header=["t", "x", "y"], pos_rows=[["0", "0.1", "0.1", "9"]], spk_rows=[], arena=1.0)
@example(pos_header=["t", "x", "y"], pos_rows=[], spk_rows=[], arena=1.0)
def test_spatial_csv(door, pos_header, pos_rows, spk_rows, arena):
    """Tracking and spike CSVs of odd numbers, short and long rows read or are refused."""
    with tempfile.TemporaryDirectory() as tmp:
        pos, spk = Path(tmp) / "pos.csv", Path(tmp) / "spk.csv"
        pos.write_text(_csv(pos_header, pos_rows), encoding="utf-8")
        spk.write_text(_csv(["cell", "t"], [list(r) for r in spk_rows]), encoding="utf-8")
        check_door(door, lambda: read_spatial_csv(pos, spk, arena=arena), Path(tmp))


@settings(max_examples=25)
@given(raw=st.binary(max_size=120))
@example(raw=b"t,x,y\n\x80,1,1\n")
@example(raw=b"t,x,y\n\x00,1,1\n")
def test_spatial_csv_bytes(door, raw):
    """A tracking CSV of random bytes is refused with RecordingError."""
    with tempfile.TemporaryDirectory() as tmp:
        pos, spk = Path(tmp) / "pos.csv", Path(tmp) / "spk.csv"
        pos.write_bytes(raw)
        spk.write_text("cell,t\nc1,0.5\n", encoding="utf-8")
        check_door(door, lambda: read_spatial_csv(pos, spk, arena=1.0), Path(tmp))


MAT_VALUES = st.one_of(
    hnp.arrays(
        st.sampled_from([np.float64, np.int16, np.uint8, np.bool_, np.complex128]),
        hnp.array_shapes(min_dims=0, max_dims=3, min_side=0, max_side=4),
    ),
    st.text(max_size=5),
    st.dictionaries(st.sampled_from(["a", "b"]), st.floats(allow_nan=False), max_size=2),
)
MAT_NAMES = st.sampled_from(["posx", "posy", "post", "cellTS", "other"])


@settings(max_examples=50)
@given(
    pos_vars=st.dictionaries(MAT_NAMES, MAT_VALUES, max_size=4),
    spk_vars=st.dictionaries(MAT_NAMES, MAT_VALUES, max_size=2),
)
@example(
    pos_vars={"posx": np.zeros(3), "posy": np.zeros(3), "post": np.arange(3.0)},
    spk_vars={"cellTS": "abc"},
)
@example(
    pos_vars={"posx": np.zeros(3), "posy": np.zeros(3), "post": np.arange(3.0)},
    spk_vars={"cellTS": {"a": 1.0}},
)
@example(
    pos_vars={"posx": np.zeros(3), "posy": np.zeros(3), "post": np.arange(3.0)},
    spk_vars={"cellTS": np.array([0.5 + 1j])},
)  # was silently cast to real
def test_spatial_mat(door, pos_vars, spk_vars):
    """MATLAB files of any variables (strings, structs, any shape) read or are refused."""
    with tempfile.TemporaryDirectory() as tmp:
        pos, spk = Path(tmp) / "pos.mat", Path(tmp) / "cell1.mat"
        savemat(pos, pos_vars)
        savemat(spk, spk_vars)
        check_door(door, lambda: read_spatial_mat(pos, [spk], arena=1.0), Path(tmp))


@settings(max_examples=25)
@given(raw=st.binary(max_size=300), suffix=st.sampled_from(["mat", "nc"]))
@example(raw=b"", suffix="mat")
@example(raw=b"MATLAB 5.0 MAT-file" + b"\x00" * 120, suffix="mat")
@example(raw=b"", suffix="nc")
def test_spatial_random_bytes(door, raw, suffix):
    """A .mat or saved-recording .nc of random bytes is refused with RecordingError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"junk.{suffix}"
        path.write_bytes(raw)
        if suffix == "mat":
            spk = Path(tmp) / "cell1.mat"
            savemat(spk, {"cellTS": np.array([0.5])})
            call = lambda: read_spatial_mat(path, [spk], arena=1.0)  # noqa: E731
        else:
            call = lambda: read_spatial_recording(path)  # noqa: E731
        check_door(door, call, Path(tmp))
