"""Recordings the tests of brainlike.data.recordings build, and a check of refusals."""

import numpy as np
import pytest

from brainlike.data.recordings import RecordingError, make_recording


def _data(n_stimuli=3, n_neuroids=4, n_trials=2, n_bins=None):
    """Responses whose value encodes their position: 1000 s + 100 t + 10 n + b."""
    s, n, t = np.meshgrid(
        np.arange(n_stimuli), np.arange(n_neuroids), np.arange(n_trials), indexing="ij"
    )
    values = 1000.0 * s + 10.0 * n + 100.0 * t
    if n_bins is not None:
        values = values[..., None] + np.arange(n_bins)
    return values


def _recording(**kw):
    args = dict(
        stimulus_ids=["img_0", "img_1", "img_2"],
        neuroid_ids=["n0", "n1", "n2", "n3"],
        animal=["m1", "m1", "m2", "m2"],
        region=["IT", "V4", "IT", "V4"],
        identifier="test.rec",
        stimulus_set_identifier="test.stimuli",
        stimulus_coords={"object_name": ["car", "dog", "car"]},
    )
    args.update(kw)
    data = args.pop("data", _data())
    return make_recording(data, **args)


def _raises(match, func, *args, **kw):
    with pytest.raises(RecordingError, match=match) as info:
        func(*args, **kw)
    return str(info.value)
