"""The locality-prior comparison end to end on a tiny offline run."""

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from brainlike.cli import app
from brainlike.config import config_from_dict
from brainlike.train.compare import compare_locality


def tiny_lp_config(**model):
    return config_from_dict(
        {
            "name": "tiny-lp",
            "data": {"dataset": "digits", "input_size": 28, "train_size": 200, "test_size": 100},
            "model": {"kind": "lenet", **model},
            "train": {
                "optimizer": "sgd",
                "lr": 0.05,
                "momentum": 0.5,
                "batch_size": 50,
                "epochs": 1,
                "snapshots_per_epoch": 1,
                "device": "cpu",
            },
            "analysis": {"n_shuffles": 10},
        }
    )


def test_compare_trains_both_models_per_seed_and_reports_every_number(tmp_path):
    res = compare_locality(
        tiny_lp_config(),
        tmp_path / "cmp",
        seeds=[0, 1],
        progress=False,
        prune_fractions=(0.0, 0.5, 0.9),
    )
    assert sorted(res["runs"]) == [
        "control-seed0",
        "control-seed1",
        "locality-seed0",
        "locality-seed1",
    ]
    s = res["summary"]
    assert s["uniform_variance"] == pytest.approx(49 / 6)  # spec: about 8.17 for 7x7
    for key in (
        "test_acc_locality",
        "test_acc_control",
        "lp_out_variance_locality",
        "wiring_length_control",
    ):
        assert len(s[key]["values"]) == 2 and np.isfinite(s[key]["mean"])
    assert s["t_lp_out_images_pooled"]["n"] == 200  # 100 test images x 2 seeds
    assert s["t_lp_out_classes_pooled"]["n"] == 20
    # the prior shrinks long connections, so the locality layer is wired shorter than its control
    assert s["wiring_length_locality"]["mean"] < s["wiring_length_control"]["mean"]
    prune = res["per_seed"][0]["locality"]["pruning"]
    assert [r["fraction"] for r in prune] == [0.0, 0.5, 0.9]
    assert prune[0]["kept_connections"] == 49 * 49
    assert prune[1]["kept_connections"] == pytest.approx(49 * 49 / 2, abs=2)
    assert prune[0]["wiring_length_saved"] == 0.0 and 0 < prune[2]["wiring_length_saved"] <= 1
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert saved["summary"]["uniform_variance"] == pytest.approx(49 / 6)
    assert (tmp_path / "cmp" / "class_maps.png").is_file() and (
        tmp_path / "cmp" / "pruning.png"
    ).is_file()


def test_compare_refuses_a_config_without_a_locality_model(tmp_path):
    with pytest.raises(ValueError, match="locality.enabled is false"):
        compare_locality(
            tiny_lp_config(locality={"enabled": False}), tmp_path / "x", seeds=[0], progress=False
        )
    reset = config_from_dict({"model": {"levels": [{"subnets": 4, "outputs": 16}]}})
    with pytest.raises(ValueError, match="lenet or alexnet"):
        compare_locality(reset, tmp_path / "y", seeds=[0], progress=False)


def test_compare_command_rejects_bad_seeds(tmp_path):
    res = CliRunner().invoke(
        app, ["compare", "lp-lenet-digits", "--seeds", "a,b", "--out", str(tmp_path / "c")]
    )
    assert res.exit_code == 2 and "comma-separated integers" in res.output
