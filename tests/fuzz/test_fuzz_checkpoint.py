"""Fuzzed checkpoints: random bytes, valid checkpoints cut short or overwritten, and torch files
of the wrong structure either load or raise CheckpointError with a one-line message."""

from __future__ import annotations

import functools
import io
import tempfile
from pathlib import Path

import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st

from brainlike.train.checkpoint import (
    CHECKPOINT_FORMAT,
    CheckpointError,
    load_checkpoint,
    load_model_from_checkpoint,
    save_checkpoint,
)


def check_door(door, call, folder):
    return door(call, (CheckpointError,), folder)


@functools.cache
def valid_checkpoint() -> bytes:
    """A small brainlike checkpoint (a tensor, numbers, strings, nested dicts)."""
    buffer = io.BytesIO()
    state = {"format": CHECKPOINT_FORMAT, "epoch": 3, "model": {"w": torch.arange(64.0)}}
    torch.save({**state, "config": {"name": "x", "train": {"epochs": 5}}}, buffer)
    return buffer.getvalue()


def _load(door, raw: bytes, model: bool = False):
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "last.pt"
        path.write_bytes(raw)
        loader = load_model_from_checkpoint if model else load_checkpoint
        out = check_door(door, lambda: loader(path), Path(tmp))
        if not model and not isinstance(out, CheckpointError):
            assert out["format"] == CHECKPOINT_FORMAT
        return out


@settings(max_examples=40)
@given(raw=st.binary(max_size=300))
@example(raw=b"")
@example(raw=b"PK\x03\x04")
@example(raw=b"\x80\x02}q\x00.")  # a pickled empty dict, legacy torch format
def test_random_bytes(door, raw):
    """Random bytes are refused with CheckpointError."""
    out = _load(door, raw)
    assert isinstance(out, CheckpointError)


@settings(max_examples=40)
@given(cut=st.floats(0.0, 1.0, exclude_max=True))
@example(cut=0.0)
@example(cut=0.99)
def test_truncated(door, cut):
    """A checkpoint cut short is refused with CheckpointError."""
    raw = valid_checkpoint()
    out = _load(door, raw[: int(cut * len(raw))])
    assert isinstance(out, CheckpointError)


@settings(max_examples=40)
@given(at=st.floats(0.0, 1.0, exclude_max=True), junk=st.binary(min_size=1, max_size=8))
def test_overwritten(door, at, junk):
    """A checkpoint with some bytes overwritten loads (the bytes were in padding or data) or is
    refused with CheckpointError."""
    raw = bytearray(valid_checkpoint())
    i = int(at * len(raw))
    raw[i : i + len(junk)] = junk
    _load(door, bytes(raw[: len(valid_checkpoint())]))


LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.floats(),
    st.text(max_size=8),
    st.just(torch.zeros(2)),
)
STRUCTURES = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3),
        st.dictionaries(
            st.sampled_from(["format", "model", "architecture", "config", "epoch", "rule", "x"]),
            inner,
            max_size=4,
        ),
    ),
    max_leaves=10,
)


def _saved(obj) -> bytes:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return buffer.getvalue()


@settings(max_examples=40)
@given(obj=STRUCTURES)
@example(obj={"format": CHECKPOINT_FORMAT})
@example(obj=[CHECKPOINT_FORMAT])
def test_wrong_structure(door, obj):
    """A torch file of any structure loads as a checkpoint only when it carries the format."""
    _load(door, _saved(obj))


@settings(max_examples=40)
@given(extra=st.dictionaries(st.sampled_from(["model", "architecture", "config"]), STRUCTURES))
@example(extra={})
@example(extra={"architecture": {"name": "no-such-model"}})
@example(extra={"architecture": "reset4", "config": [1]})
@example(extra={"architecture": None, "config": {"rule": 3}})
def test_model_from_wrong_structure(door, extra):
    """Rebuilding a model from a checkpoint of the right format but a wrong structure is a
    CheckpointError, not a KeyError from inside."""
    _load(door, _saved({"format": CHECKPOINT_FORMAT, **extra}), model=True)


@settings(max_examples=10)
@given(payload=st.sampled_from([Path("x"), io.BytesIO(), functools.partial(print, 1)]))
def test_pickled_objects_refused(door, payload):
    """A torch file holding Python objects is refused (their code is never run)."""
    out = _load(door, _saved({"format": CHECKPOINT_FORMAT, "x": payload}))
    assert isinstance(out, CheckpointError)


def test_save_then_load_round_trip(tmp_path):
    """What save_checkpoint writes, load_checkpoint reads back equal."""
    path = save_checkpoint(tmp_path / "c.pt", {"epoch": 2, "w": torch.tensor([1.5, -2.0])})
    state = load_checkpoint(path)
    assert state["epoch"] == 2 and state["w"].tolist() == [1.5, -2.0]
