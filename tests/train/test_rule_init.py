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


def test_a_rule_trained_reset_network_grows_under_another_rule(tmp_path, capsys):
    def reset(rule, **extra):
        return config_from_dict(
            {
                "name": f"grow-{rule}",
                "seed": 3,
                "data": {"dataset": "digits", "input_size": 8, "train_size": 200,
                         "test_size": 100},
                "model": {"levels": [{"subnets": 4, "outputs": 16, "subnet": "small",
                                      "channels": [4]}],
                          "master": "small", "master_channels": [8], "execution": "fused"},
                "rule": {"kind": rule},
                "train": {"batch_size": 50, "epochs": 1, "device": "cpu"},
                **extra,
            }
        )  # fmt: skip

    train(reset("feedback_alignment"), tmp_path / "fa", progress=False, analyse=False)
    ckpt = tmp_path / "fa" / "checkpoints" / "last.pt"
    fa = load_checkpoint(ckpt)["model"]
    grow = reset("sham", init={"checkpoint": str(ckpt), "add_subnetworks": {0: 1}})
    summary = train(grow, tmp_path / "grown", progress=False, analyse=False)
    assert "trained with rule feedback_alignment" in capsys.readouterr().err
    assert summary["complete"] and summary["init"]["rule"] == "feedback_alignment"
    state = load_checkpoint(tmp_path / "grown" / "checkpoints" / "last.pt")
    key = "levels.0.subnets.convs.0.weight"
    assert state["model"][key].shape[0] == 5 and fa[key].shape[0] == 4
    # sham: B~ = W at every step, so the grown network's backward weights are its weights
    torch.testing.assert_close(
        state["model"][key + "_backward"], state["model"][key], rtol=0, atol=0
    )


@pytest.mark.parametrize("first,then", [("direct_feedback_alignment", "feedback_alignment"),
                                        ("kolen_pollack", "direct_feedback_alignment")])  # fmt: skip
def test_dfa_starts_from_and_gives_its_forward_weights(first, then, kp_run, tmp_path, capsys):
    if first == "kolen_pollack":
        ckpt = kp_run
    else:
        train(lenet(first), tmp_path / "first", progress=False, analyse=False)
        ckpt = tmp_path / "first" / "checkpoints" / "last.pt"
    before = load_checkpoint(ckpt)["model"]
    summary = train(
        lenet(then, init={"checkpoint": str(ckpt)}), tmp_path / "then", progress=False,
        analyse=False,
    )  # fmt: skip
    assert summary["complete"] and summary["init"]["rule"] == first
    assert f"trained with rule {first}" in capsys.readouterr().err
    after = load_checkpoint(tmp_path / "then" / "checkpoints" / "last.pt")["model"]
    own = "feedback_direct" if then == "direct_feedback_alignment" else "weight_backward"
    assert any(k.endswith(own) for k in after)
    gone = {"feedback_direct", "weight_backward"} - {own}
    assert not any(k.rpartition(".")[2] in gone for k in after)
    assert set(k for k in before if k.rpartition(".")[2] not in gone | {own}) <= set(after)
