"""Models without a cortical sheet (GRCNN) train, resume and are scored like any other."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from brainlike.config import ConfigError, config_from_dict
from brainlike.train.loop import train


def grcnn_config(**overrides):
    cfg = {
        "name": "grcnn-tiny",
        "seed": 0,
        "data": {"dataset": "digits", "input_size": 8, "train_size": 96, "test_size": 48},
        "model": {"kind": "grcnn", "width": 0.125, "iterations": [1, 1, 1, 1]},
        "train": {"optimizer": "adam", "lr": 0.002, "batch_size": 32, "epochs": 2},
    }
    for key, value in overrides.items():
        *path, last = key.split(".")
        node = cfg
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return config_from_dict(cfg)


def test_grcnn_trains_resumes_bit_identically_and_writes_no_snapshots(tmp_path):
    full = train(grcnn_config(), tmp_path / "full", progress=False)
    assert full["complete"] and full["epochs"] == 2 and "topography" not in full
    assert not (tmp_path / "full" / "snapshots.npz").exists()
    assert 0.0 <= full["test_acc"] <= 1.0
    part = train(grcnn_config(), tmp_path / "part", progress=False, stop_after_epochs=1)
    assert part["epochs"] == 1
    train(grcnn_config(), tmp_path / "part", resume=True, progress=False)
    a = torch.load(tmp_path / "full" / "checkpoints" / "last.pt", weights_only=True)["model"]
    b = torch.load(tmp_path / "part" / "checkpoints" / "last.pt", weights_only=True)["model"]
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=0, atol=0)


def test_a_trained_grcnn_run_is_scored_from_its_directory(tmp_path):
    from brainlike.evaluation.scoring_model import load_scoring_model

    train(grcnn_config(**{"train.epochs": 1}), tmp_path / "run", progress=False)
    sm = load_scoring_model(tmp_path / "run")
    assert sm.source == "run" and sm.input_size == 8 and sm.in_channels == 1
    assert sm.pixel_mean is not None  # the digits were normalised in training
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["preprocessing"]["input_size"] == 8
    x = torch.from_numpy(np.random.default_rng(0).random((3, 1, 8, 8), dtype=np.float32))
    assert sm.model(x).shape == (3, 10)


def test_sheetless_models_refuse_sheet_settings():
    with pytest.raises(ConfigError, match="no cortical sheet"):
        grcnn_config(**{"objective.spatial.weight": 1.0})
    with pytest.raises(ConfigError, match="iterations"):
        grcnn_config(**{"model.iterations": [1, 2]})
