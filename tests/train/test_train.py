"""Training loop: outputs, reproducibility, resume after a kill, and faults."""

import json

import numpy as np
import pytest
import torch

from brainlike.config import config_from_dict
from brainlike.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from brainlike.train.loop import RunDirectoryError, train


def tiny_config(**over):
    cfg = {
        "name": "tiny",
        "seed": 3,
        "data": {"dataset": "digits", "input_size": 8, "train_size": 200, "test_size": 100},
        "model": {
            "levels": [{"subnets": 4, "outputs": 16, "subnet": "small", "channels": [4]}],
            "master": "small",
            "master_channels": [8],
            "execution": "fused",
        },
        "objective": {"spatial": {"weight": 0.5, "neighbourhood": 40}},
        "train": {
            "batch_size": 50,
            "epochs": 2,
            "snapshots_per_epoch": 2,
            "device": "cpu",
            "schedule": "cosine",
        },
        "analysis": {"n_shuffles": 10},
    }
    for key, value in over.items():
        node = cfg
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return config_from_dict(cfg)


def _weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_run_directory_holds_every_output(tmp_path):
    summary = train(tiny_config(), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "snapshots.npz",
        "summary.json",
        "checkpoints/last.pt",
    ):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[-1]["step"] == 8  # 200 images / batch 50 = 4 steps per epoch
    with np.load(run / "snapshots.npz") as z:
        assert z["means"].shape == (5, 10, 8, 8)  # before training + 2 per epoch
        assert z["vars"].shape == (5, 10, 8, 8) and z["counts"].shape == (5, 10)
        np.testing.assert_allclose(z["epoch"], [0, 0.5, 1, 1.5, 2])
        assert z["counts"][0].sum() == 100 and int(z["tile"]) == 4
        assert z["accuracy"][-1] == pytest.approx(rows[-1]["test_acc"])
    saved = json.loads((run / "summary.json").read_text())
    assert saved["test_acc"] == summary["test_acc"] and saved["seed"] == 3
    topo = saved["topography"]
    for key in ("clustering_index", "neighbour_agreement", "smoothness", "morans_i"):
        assert set(topo[key]) >= {"value", "null_mean", "p_value"}


def test_same_seed_same_run(tmp_path):
    train(tiny_config(), tmp_path / "a", progress=False, analyse=False)
    train(tiny_config(), tmp_path / "b", progress=False, analyse=False)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    train(tiny_config(), tmp_path / "full", progress=False, analyse=False)
    part = train(
        tiny_config(), tmp_path / "part", progress=False, analyse=False, stop_after_epochs=1
    )
    assert part["complete"] is False and part["epochs"] == 1
    train(tiny_config(), tmp_path / "part", resume=True, progress=False, analyse=False)
    wa, wb = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)
    ma = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    mb = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(ma) == strip(mb)
    with (
        np.load(tmp_path / "full" / "snapshots.npz") as za,
        np.load(tmp_path / "part" / "snapshots.npz") as zb,
    ):
        np.testing.assert_array_equal(za["means"], zb["means"])


def test_ctrl_c_keeps_the_last_complete_checkpoint(tmp_path, monkeypatch):
    import brainlike.objectives.spatial as spatial

    calls = {"n": 0}
    real = spatial.spatial_correlation_loss

    def interrupt_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # second step of epoch 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(spatial, "spatial_correlation_loss", interrupt_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(), tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["epoch"] == 1
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))
    monkeypatch.setattr(spatial, "spatial_correlation_loss", real)
    summary = train(tiny_config(), tmp_path / "run", resume=True, progress=False, analyse=False)
    assert summary["epochs"] == 2 and summary["complete"]


def test_existing_run_directory_is_refused_unless_asked(tmp_path):
    train(tiny_config(**{"train.epochs": 1}), tmp_path / "run", progress=False, analyse=False)
    with pytest.raises(RunDirectoryError, match="--resume"):
        train(tiny_config(), tmp_path / "run", progress=False)
    summary = train(
        tiny_config(**{"train.epochs": 1}),
        tmp_path / "run",
        overwrite=True,
        progress=False,
        analyse=False,
    )
    assert summary["epochs"] == 1


def test_corrupt_or_foreign_checkpoint_gives_a_clear_error_and_is_not_overwritten(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), run, progress=False, analyse=False)
    ckpt = run / "checkpoints" / "last.pt"
    ckpt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        train(tiny_config(), run, resume=True, progress=False)
    assert ckpt.read_bytes() == b"not a checkpoint at all"
    torch.save({"weights": torch.zeros(2)}, ckpt)
    with pytest.raises(CheckpointError, match="not a brainlike checkpoint"):
        load_checkpoint(ckpt)


def test_resume_with_another_config_is_refused(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), run, progress=False, analyse=False)
    with pytest.raises(CheckpointError, match="different experiment config"):
        train(tiny_config(**{"train.lr": 0.5}), run, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_config(), tmp_path / "nothing", resume=True, progress=False)


def test_checkpoints_load_with_weights_only(tmp_path):
    path = save_checkpoint(
        tmp_path / "c.pt", {"model": {"w": torch.ones(2)}, "epoch": 1, "metrics": [{"a": 1.0}]}
    )
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and state["metrics"] == [{"a": 1.0}]


def test_number_codes_task_trains(tmp_path):
    cfg = tiny_config(
        **{
            "data": {"dataset": "numbers", "input_size": 8, "train_size": 100, "test_size": 50},
            "objective.task": "codes",
            "train.epochs": 1,
            "analysis.ordered": True,
        }
    )
    summary = train(cfg, tmp_path / "run", progress=False)
    assert 0.0 <= summary["test_acc"] <= 1.0
    assert "topography_index" in summary["topography"]


def test_a_trained_network_can_be_widened_and_deepened_by_config(tmp_path):
    from brainlike.models.zoo import build_from_description

    train(tiny_config(**{"train.epochs": 1}), tmp_path / "base", progress=False, analyse=False)
    base = load_checkpoint(tmp_path / "base" / "checkpoints" / "last.pt")
    grow = tiny_config(
        **{
            "train.epochs": 1,
            "train.schedule": "constant",
            "objective.spatial.weight": 0.0,
            "init": {
                "checkpoint": str(tmp_path / "base" / "checkpoints" / "last.pt"),
                "add_subnetworks": {0: 1},
                "add_levels": [{"subnets": 4, "outputs": 4, "subnet": "small", "channels": [4]}],
                "freeze_trained": True,
            },
        }
    )
    summary = train(grow, tmp_path / "grown", progress=False, analyse=False)
    assert summary["complete"]
    state = load_checkpoint(tmp_path / "grown" / "checkpoints" / "last.pt")
    arch = state["architecture"]
    assert [lv["n_subnets"] for lv in arch["levels"]] == [5, 4]
    model = build_from_description(arch)
    model.load_state_dict(state["model"])  # the grown structure round-trips
    # frozen: the four trained subnetworks' conv weights did not move, the new one did
    old = base["model"]["levels.0.subnets.convs.0.weight"]
    new = state["model"]["levels.0.subnets.convs.0.weight"]
    torch.testing.assert_close(new[:4], old, rtol=0, atol=0)
    assert new.shape[0] == 5
    with np.load(tmp_path / "grown" / "snapshots.npz") as z:
        assert z["means"].shape[-2:] == (12, 8)  # a third row of tiles on the first grid
    # resuming a grown run rebuilds the grown model from its checkpoint
    more = grow.model_copy(update={"train": grow.train.model_copy(update={"epochs": 2})})
    assert (
        train(more, tmp_path / "grown", resume=True, progress=False, analyse=False)["epochs"] == 2
    )


def test_init_from_a_missing_checkpoint_is_a_clear_error(tmp_path):
    cfg = tiny_config(**{"init": {"checkpoint": str(tmp_path / "nope.pt")}})
    with pytest.raises(CheckpointError, match="nothing to resume|no checkpoint"):
        train(cfg, tmp_path / "run", progress=False)
