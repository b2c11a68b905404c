"""Fuzzed experiment configs: YAML texts and mappings of random keys, wrong types, nested junk,
huge numbers and unicode either load or raise ConfigError naming the file."""

from __future__ import annotations

import tempfile
from pathlib import Path

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from brainlike.config import ConfigError, load_config
from brainlike.config.experiment import ExperimentConfig, config_from_dict

SECTIONS = [*ExperimentConfig.model_fields]
KEYS = st.one_of(
    st.sampled_from(SECTIONS),
    st.sampled_from(["epochs", "lr", "batch_size", "kind", "name", "dataset", "seed", "hidden"]),
    st.text(min_size=1, max_size=12),
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(KEYS, inner, max_size=4)),
    max_leaves=12,
)
MAPPINGS = st.dictionaries(KEYS, VALUES, max_size=6)


def _dump(data: object) -> str:
    return yaml.safe_dump(data, allow_unicode=True)


@settings(max_examples=60)
@given(data=MAPPINGS)
@example(data={"train": {"epochs": 10**40}})
@example(data={"model": []})
def test_config_mapping_loads_or_config_error(door, data):
    """A mapping of random keys and values validates or raises ConfigError."""
    check_door(door, lambda: config_from_dict(data, "fuzz"))


def check_door(door, call, folder=None):
    # ConfigError lists every problem, one per line
    return door(call, (ConfigError,), folder, one_line=False)


TEXTS = st.one_of(
    st.text(max_size=200),
    MAPPINGS.map(_dump),
    st.lists(
        st.sampled_from(
            [
                "a: 1",
                "- x",
                "train:",
                "  epochs: 3",
                "{",
                "]",
                "\t",
                ": :",
                "&a [*a]",
                "!!python/object:os.system {}",
                'key: "\\x"',
                "%YAML 9.9",
                "---",
                "...",
                "ü: ✓",
            ]
        ),
        max_size=8,
    ).map("\n".join),
)


@settings(max_examples=80)
@given(text=TEXTS)
@example(text="!!python/object/apply:os.system ['echo hi']")
@example(text="a: [1, 2\n")
@example(text="# only a comment\n")
@example(text="- just\n- a list\n")
@example(text="train: {epochs: 1e400}\n")
def test_config_file_loads_or_config_error(door, text):
    """Any YAML text in a file loads or raises ConfigError, and the file is left as it was."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        out = check_door(door, lambda: load_config(path), Path(tmp))
        if isinstance(out, ConfigError):
            assert str(out).strip().splitlines()[0].strip()


@settings(max_examples=30)
@given(raw=st.binary(max_size=200))
@example(raw=b"\x80")  # was a raw UnicodeDecodeError
def test_config_random_bytes(door, raw):
    """Bytes that are not UTF-8 text are refused with ConfigError, not a UnicodeDecodeError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bytes.yaml"
        path.write_bytes(raw)
        check_door(door, lambda: load_config(path), Path(tmp))


@settings(max_examples=40)
@given(
    key=st.text(min_size=0, max_size=20).filter(lambda k: "\x00" not in k),
    value=VALUES,
)
@example(key="train.epochs.x", value=3)
@example(key="name.sub", value="x")
@example(key="", value=1)
def test_config_overrides(door, key, value):
    """A dotted override of any key and value applies or raises ConfigError."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "base.yaml"
        path.write_text("name: base\ntrain:\n  epochs: 1\n", encoding="utf-8")
        check_door(door, lambda: load_config(path, {key: value}), Path(tmp))


def test_config_path_of_unknown_user(door):
    """A path under ~name of a user that does not exist is a ConfigError (was pathlib's
    RuntimeError) for an experiment, a suite and a search alike."""
    from brainlike.config.search import load_search
    from brainlike.config.suite import load_suite

    for load in (load_config, load_suite, load_search):
        out = check_door(door, lambda load=load: load("~nosuchuser0/x.yaml"))
        assert isinstance(out, ConfigError) and "no such user" in str(out)
