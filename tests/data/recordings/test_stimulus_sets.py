"""Tests of stimulus sets (CSV + images) and of matching a recording's stimuli to them."""

import numpy as np
import pandas as pd
from recording_cases import _data, _raises, _recording

from brainlike.data.recordings import (
    check_stimuli_match,
    read_npy,
    read_stimulus_set,
    write_stimulus_set,
)


def test_write_and_read_stimulus_set_gray(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(3, 4, 5), dtype=np.uint8)
    csv = write_stimulus_set(
        images, ["img_0", "img_1", "img_2"], tmp_path / "set", object_name=["car", "dog", "car"]
    )
    assert csv == tmp_path / "set" / "stimulus_set.csv"
    table = pd.read_csv(csv)
    assert list(table.columns) == ["stimulus_id", "filename", "object_name"]
    assert list(table.filename) == ["img_0.png", "img_1.png", "img_2.png"]
    stimuli = read_stimulus_set(csv)
    assert len(stimuli) == 3 and stimuli.identifier == "stimulus_set"
    assert list(stimuli.ids) == ["img_0", "img_1", "img_2"]
    assert list(stimuli.column("object_name")) == ["car", "dog", "car"]
    loaded = stimuli.load_images()
    assert loaded.shape == (3, 1, 4, 5) and loaded.dtype == np.float32
    np.testing.assert_array_equal(loaded[:, 0], images.astype(np.float32) / 255)
    rgb = stimuli.load_images(channels=3)
    assert rgb.shape == (3, 3, 4, 5)
    np.testing.assert_array_equal(rgb[:, 2], loaded[:, 0])
    picked = stimuli.select(["img_2", "img_0"])
    assert list(picked.ids) == ["img_2", "img_0"] and picked.paths[0].name == "img_2.png"
    _raises("1 stimulus id are not in .*'zzz'", stimuli.select, ["zzz"])
    _raises("no column 'colour'", stimuli.column, "colour")


def test_stimulus_set_float_rgb_resize_and_unsafe_ids(tmp_path):
    rng = np.random.default_rng(1)
    images = rng.random((2, 6, 6, 3))
    images[1] = 128 / 255  # a uniform image stays uniform when resized
    csv = write_stimulus_set(images, ["a/b", "c d"], tmp_path, identifier="hvm")
    stimuli = read_stimulus_set(csv)
    assert [p.name for p in stimuli.paths] == ["stimulus_00000.png", "stimulus_00001.png"]
    loaded = stimuli.load_images()
    assert loaded.shape == (2, 3, 6, 6)
    np.testing.assert_allclose(
        loaded[0], np.round(images[0] * 255).transpose(2, 0, 1) / 255, atol=1e-7
    )
    small = stimuli.load_images(size=3, channels=1)
    assert small.shape == (2, 1, 3, 3)
    np.testing.assert_allclose(small[1], 128 / 255, atol=1e-7)
    chw = write_stimulus_set(images.transpose(0, 3, 1, 2), ["x", "y"], tmp_path / "chw")
    np.testing.assert_array_equal(read_stimulus_set(chw).load_images(), loaded)


def test_stimulus_set_errors(tmp_path):
    images = np.zeros((2, 4, 4), dtype=np.uint8)
    csv = write_stimulus_set(images, ["a", "b"], tmp_path / "s")
    (tmp_path / "s" / "b.png").unlink()
    message = _raises(
        "1 image file of stimulus set 'stimulus_set' is missing: 'b.png'", read_stimulus_set, csv
    )
    assert str(tmp_path / "s") in message
    pd.DataFrame({"stimulus_id": ["a"], "file": ["a.png"]}).to_csv(
        tmp_path / "bad.csv", index=False
    )
    message = _raises("lacks the column 'filename'", read_stimulus_set, tmp_path / "bad.csv")
    assert "'stimulus_id', 'file'" in message
    pd.DataFrame({"name": ["a"]}).to_csv(tmp_path / "worse.csv", index=False)
    _raises(
        "lacks the column 'stimulus_id' and 'filename'", read_stimulus_set, tmp_path / "worse.csv"
    )
    _raises("no such stimulus set CSV", read_stimulus_set, tmp_path / "absent.csv")
    _raises(
        "float images must lie in \\[0, 1\\]; got values in \\[2, 2\\]",
        write_stimulus_set,
        np.full((1, 2, 2), 2.0),
        ["a"],
        tmp_path,
    )
    _raises("got 2 images but 1 ids", write_stimulus_set, images, ["a"], tmp_path)
    _raises(
        "column 'label' has 1 values for 2 images",
        write_stimulus_set,
        images,
        ["a", "b"],
        tmp_path,
        label=[1],
    )
    _raises("images must have shape", write_stimulus_set, np.zeros((2, 4)), ["a", "b"], tmp_path)
    _raises("ids must be unique", write_stimulus_set, images, ["a", "a"], tmp_path)
    # images of different sizes need size=...
    write_stimulus_set(np.zeros((1, 2, 2), np.uint8), ["c"], tmp_path / "s", identifier="tmp")
    pd.DataFrame({"image_id": ["a", "c"], "filename": ["a.png", "c.png"]}).to_csv(
        tmp_path / "s" / "mixed.csv", index=False
    )
    mixed = read_stimulus_set(tmp_path / "s" / "mixed.csv")  # legacy image_id column
    assert list(mixed.ids) == ["a", "c"]
    _raises("'c.png' is 2x2 but 'a.png' is 4x4; pass size=", mixed.load_images)
    assert mixed.load_images(size=(2, 3)).shape == (2, 1, 2, 3)
    (tmp_path / "s" / "c.png").unlink()
    _raises("missing: 'c.png'", mixed.load_images)


def test_check_stimuli_match(tmp_path):
    csv = write_stimulus_set(np.zeros((2, 2, 2), np.uint8), ["img_0", "img_2"], tmp_path)
    stimuli = read_stimulus_set(csv)
    message = _raises(
        "1 of 3 stimulus ids of recording 'test.rec' are absent from stimulus set 'stimulus_set' "
        "\\('img_1'\\)",
        check_stimuli_match,
        _recording(),
        stimuli,
    )
    assert "'test.stimuli'" in message
    assert check_stimuli_match(_recording().isel(stimulus=[0, 2]), stimuli) is None


def test_stimulus_mismatch_of_a_bare_npy_says_the_axes_may_be_swapped(tmp_path):
    images = np.zeros((4, 2, 2), np.uint8)
    numbered = read_stimulus_set(
        write_stimulus_set(images, [f"stimulus_{i}" for i in range(4)], tmp_path / "a")
    )
    named = read_stimulus_set(write_stimulus_set(images, list("wxyz"), tmp_path / "b"))
    # 4 stimuli x 3 neuroids x 2 trials, saved neuroid-first
    np.save(tmp_path / "r.npy", _data(n_stimuli=4, n_neuroids=3).transpose(1, 0, 2))
    swapped = read_npy(tmp_path / "r.npy")
    # every id present (stimulus_0..2 of 4): refused instead of scoring neuroids as stimuli
    message = _raises(
        "has 3 stimuli but stimulus set 'stimulus_set' has 4",
        check_stimuli_match,
        swapped,
        numbered,
    )
    assert "axes may be swapped (axis 1 (neuroid) has 4 entries" in message
    assert "--axes neuroid,stimulus,trial" in message
    # no id matches: the message names the ids and the axis option
    message = _raises("3 of 3 stimulus ids", check_stimuli_match, swapped, named)
    assert "none matches: the stimulus set's ids are 'w', 'x', 'y', 'z'" in message
    assert "stimulus_0 .. stimulus_2 along array axis 0" in message
    assert "axes may be swapped" in message and "--axes neuroid,stimulus,trial" in message
    # the right order matches; a subset named explicitly is accepted
    assert (
        check_stimuli_match(read_npy(tmp_path / "r.npy", axes="neuroid,stimulus,trial"), numbered)
        is None
    )
    assert (
        check_stimuli_match(read_npy(tmp_path / "r.npy", axes="stimulus,neuroid,trial"), numbered)
        is None
    )
    # labelled recordings get no axis hint
    assert "axes" not in _raises("absent", check_stimuli_match, _recording(), named)
