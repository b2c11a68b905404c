"""A run can start from another rule's checkpoint (``init.checkpoint``): it loads the forward
weights, starts its own backward weights, says so and records it (issue: learning rules, 4)."""

import json

import pytest
import torch

from brainlike.config import ConfigError, config_from_dict
from brainlike.train.build import build_model
from brainlike.train.checkpoint import CheckpointError, load_checkpoint
from brainlike.train.loop import train


def lenet(kind, epochs=1, **extra):
    return config_from_dict(
        {
            "name": f"init-{kind}",
            "seed": 3,
            "data": {"dataset": "digits", "input_size": 28, "train_size": 200, "test_size": 100},
            "model": {"kind": "lenet", "locality": {"enabled": False}},
            "rule": {"kind": kind},
            "train": {"optimizer": "sgd", "lr": 0.05, "batch_size": 50, "epochs": epochs,
                      "device": "cpu"},
            **extra,
        }
    )  # fmt: skip


@pytest.fixture(scope="module")
def kp_run(tmp_path_factory):
    run = tmp_path_factory.mktemp("kp") / "run"
    train(lenet("kolen_pollack"), run, progress=False, analyse=False)
    return run / "checkpoints" / "last.pt"


def test_another_rule_starts_from_a_rule_checkpoint_and_says_so(kp_run, tmp_path, capsys):
    cfg = lenet("feedback_alignment", init={"checkpoint": str(kp_run)})
    kp = load_checkpoint(kp_run)["model"]
    model = build_model(cfg, (1, 10, 28), None)
    state = model.state_dict()
    assert not any(k.endswith("weight_backward") for k in state)  # a plain model, forward only
    for k, v in state.items():
        torch.testing.assert_close(v, kp[k], rtol=0, atol=0)
    assert model.init_source == {"checkpoint": str(kp_run), "rule": "kolen_pollack"}

    summary = train(cfg, tmp_path / "fa", progress=False, analyse=False)
    said = capsys.readouterr().err
    assert "init: forward weights from" in said and "kolen_pollack" in said
    assert "rule feedback_alignment, from its own backward weights" in said
    assert summary["init"] == {
        "checkpoint": str(kp_run), "rule": "kolen_pollack", "backward_weights": "fresh"
    }  # fmt: skip
    assert summary["rule"]["kind"] == "feedback_alignment"
    # FA's backward weights are its own random draw, not KP's (which track W)
    fa = load_checkpoint(tmp_path / "fa" / "checkpoints" / "last.pt")["model"]
    for k in (k for k in fa if k.endswith("weight_backward")):
        assert not torch.equal(fa[k], kp[k])

    # a resumed part keeps the record without saying it again
    more = lenet("feedback_alignment", epochs=2, init={"checkpoint": str(kp_run)})
    again = train(more, tmp_path / "fa", resume=True, progress=False, analyse=False)
    assert again["init"] == summary["init"]
    assert "init:" not in capsys.readouterr().err
    written = json.loads((tmp_path / "fa" / "summary.json").read_text())
    assert written["init"]["rule"] == "kolen_pollack"


def test_backprop_starts_from_a_rule_checkpoint(kp_run, tmp_path, capsys):
    summary = train(
        lenet("backprop", init={"checkpoint": str(kp_run)}), tmp_path / "bp",
        progress=False, analyse=False,
    )  # fmt: skip
    assert "rule backprop, from exact backprop" in capsys.readouterr().err
    assert summary["init"]["backward_weights"] == "none"
    assert not any(
        k.endswith("weight_backward")
        for k in load_checkpoint(tmp_path / "bp" / "checkpoints" / "last.pt")["model"]
    )


def test_init_of_another_architecture_is_refused(kp_run, tmp_path):
    cfg = lenet("feedback_alignment", init={"checkpoint": str(kp_run)})
    cfg = cfg.model_copy(update={"model": cfg.model.model_copy(update={"kind": "lenet"})})
    bigger = config_from_dict(
        {**cfg.model_dump(mode="json"), "data": {"dataset": "digits", "input_size": 32}}
    )
    with pytest.raises(CheckpointError, match="init.checkpoint .* another architecture"):
        build_model(bigger, (1, 10, 32), None)


def test_growing_applies_to_reset_networks_only():
    with pytest.raises(ConfigError, match="grow Reset networks"):
        lenet("backprop", init={"checkpoint": "x.pt", "add_subnetworks": {0: 1}})
