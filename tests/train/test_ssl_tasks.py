"""Self-supervised tasks through the one training loop: each trains, resumes exactly, and
refuses what it cannot do with one clear line."""

import dataclasses
import json

import pytest
import torch

from brainlike.config import config_from_dict
from brainlike.data.images import load_experiment_dataset
from brainlike.models.heads import HeadedModel
from brainlike.train.checkpoint import load_checkpoint, load_model_from_checkpoint
from brainlike.train.loop import train
from brainlike.train.tasks import make_task
from brainlike.train.tasks.selfsupervised import DepthPrediction

SMALL = {
    "simclr": {"head_hidden": 16, "head_dim": 8},
    "moco": {"head_hidden": 16, "head_dim": 8, "queue_size": 40},
    "simsiam": {"head_hidden": 16, "head_dim": 8, "predictor_hidden": 4},
    "barlow_twins": {"head_hidden": 16, "head_dim": 8},
    "vicreg": {"head_hidden": 16, "head_dim": 8},
    "instance": {"head_dim": 8, "negatives": 32},
    "autoencoder": {"head_dim": 8},
}


def ssl_config(task, epochs=1, **ssl):
    objective = {"kind": task}
    if task in SMALL or ssl:
        objective["ssl"] = {**SMALL.get(task, {}), **ssl}
    return config_from_dict(
        {
            "name": f"ssl-{task}",
            "seed": 2,
            "data": {"dataset": "digits", "input_size": 12, "train_size": 64, "test_size": 32},
            "model": {"kind": "resnet", "depth": 8},
            "objective": objective,
            "train": {"batch_size": 16, "epochs": epochs, "device": "cpu", "threads": 1},
        }
    )


@pytest.mark.parametrize(
    "task",
    ["simclr", "moco", "simsiam", "barlow_twins", "vicreg", "instance", "rotnet", "autoencoder"],
)
def test_each_task_trains_an_epoch_and_reports_knn_accuracy(tmp_path, task):
    summary = train(ssl_config(task), tmp_path / task, progress=False, analyse=False)
    assert summary["complete"] and summary["epochs"] == 1
    assert json.loads((tmp_path / task / "metrics.jsonl").read_text())["step"] == 4  # 64 / 16
    assert torch.isfinite(torch.tensor(summary["test_loss"]))
    assert 0.0 <= summary["test_knn_acc"] <= 1.0
    # scoring sees the backbone alone, with its embedding
    model, state = load_model_from_checkpoint(tmp_path / task / "checkpoints" / "last.pt")
    assert not isinstance(model, HeadedModel) and model(torch.zeros(2, 1, 12, 12)).shape == (2, 64)
    assert state["architecture"]["kind"] == "heads"


def test_supervised_is_classification():
    cfg = ssl_config("supervised")
    assert cfg.objective.task == "classification"


@pytest.mark.parametrize("task", ["moco", "instance"])
def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path, task):
    train(ssl_config(task, epochs=2), tmp_path / "full", progress=False, analyse=False)
    train(
        ssl_config(task, epochs=2), tmp_path / "part",
        progress=False, analyse=False, stop_after_epochs=1,
    )  # fmt: skip
    train(ssl_config(task, epochs=2), tmp_path / "part", resume=True, progress=False, analyse=False)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)
    for k, v in a["task"].items():  # memory bank and Z / queue, pointer and key encoder
        if isinstance(v, dict):
            for name in v:
                torch.testing.assert_close(v[name], b["task"][k][name], rtol=0, atol=0)
        elif isinstance(v, torch.Tensor):
            torch.testing.assert_close(v, b["task"][k], rtol=0, atol=0)
        else:
            assert v == b["task"][k]
    assert [m["test_loss"] for m in a["metrics"]] == [m["test_loss"] for m in b["metrics"]]


def test_depth_trains_on_the_dense_pairs_of_a_bundle(tmp_path):
    cfg = ssl_config("depth")
    bundle = load_experiment_dataset(cfg)
    g = torch.Generator().manual_seed(0)
    dense = tuple(
        torch.utils.data.TensorDataset(torch.rand(n, 1, 12, 12, generator=g),
                                       torch.rand(n, 1, 12, 12, generator=g))
        for n in (32, 16)
    )  # fmt: skip
    task = DepthPrediction(cfg, dataclasses.replace(bundle, dense=dense))
    summary = train(cfg, tmp_path / "depth", progress=False, analyse=False, task=task)
    assert task.steps_per_epoch == 2 and summary["test_loss"] > 0


def test_what_a_task_cannot_do_is_one_clear_line():
    with pytest.raises(ValueError, match="use data.dataset: scenes"):
        make_task(ssl_config("depth"))
    with pytest.raises(ValueError, match="queue_size is 100 queued keys, more than the 64"):
        make_task(ssl_config("moco", queue_size=100))
    with pytest.raises(ValueError, match="negatives is 65 noise samples"):
        make_task(ssl_config("instance", negatives=65))
    too_big = ssl_config("vicreg")
    too_big.train.batch_size = 65
    with pytest.raises(ValueError, match="batch_size is 65; .* at most the 64 training images"):
        make_task(too_big)
    with pytest.raises(ValueError, match="queue_size do not apply to objective.task 'simclr'"):
        ssl_config("simclr", queue_size=10)
    off = {"crop_scale": (1, 1), "jitter_prob": 0, "grayscale_prob": 0, "blur_prob": 0,
           "flip_prob": 0}  # fmt: skip
    with pytest.raises(ValueError, match="every augmentation of objective.ssl.views is switched"):
        ssl_config("simsiam", views=off)


def test_a_model_without_an_embedding_is_refused_naming_those_with_one(tmp_path):
    cfg = ssl_config("rotnet").model_dump(mode="json")
    cfg["model"], cfg["data"]["input_size"] = {"kind": "lenet"}, 28
    with pytest.raises(
        ValueError,
        match="gives an embedding; model.kind .lenet. does not. Use model.kind streamnet",
    ):
        train(config_from_dict(cfg), tmp_path / "run", progress=False)
    assert not (tmp_path / "run").exists()


def test_the_dual_streamnet_carries_the_simclr_projector_and_rebuilds_from_its_description():
    from brainlike.models.zoo import build_from_description, describe_model

    cfg = config_from_dict(
        {
            "data": {"dataset": "digits", "input_size": 64, "channels": 3, "train_size": 16,
                     "test_size": 10},
            "model": {"kind": "streamnet", "variant": "dual"},
            "objective": {"task": "simclr", "ssl": {"head_hidden": 32}},
            "train": {"batch_size": 8},
        }
    )  # fmt: skip
    task = make_task(cfg)
    from brainlike.train.build import build_model

    model = build_model(cfg, task.model_io, None, task.wrap_model)
    assert model.embedding_dim == 2 * 256 * 36  # VISpor + VISam, pooled 6 x 6
    e, z = model(torch.rand(3, 3, 64, 64), ("projector",))
    assert e.shape == (3, 18432) and z.shape == (3, 128)  # the spec's 128-d output
    again = build_from_description(describe_model(model))
    again.load_state_dict(model.state_dict())
    assert [n for n, _ in model.backbone.named_children()][:1] == ["VISp"]


def test_head_input_channels_reads_the_per_channel_mean_of_the_output_areas():
    from brainlike.models.zoo import build_from_description, describe_model
    from brainlike.train.build import build_model

    cfg = config_from_dict(
        {
            "data": {"dataset": "digits", "input_size": 32, "channels": 3, "train_size": 16,
                     "test_size": 10},
            "model": {"kind": "streamnet", "variant": "dual"},
            "objective": {"task": "moco", "ssl": {"head_hidden": 32, "queue_size": 16,
                                                 "head_input": "channels"}},
            "train": {"batch_size": 8},
        }
    )  # fmt: skip
    task = make_task(cfg)
    model = build_model(cfg, task.model_io, None, task.wrap_model)
    projector = model.heads["projector"]
    assert projector[1].in_features == 512  # VISpor + VISam channels, not 18,432
    model.eval()
    x = torch.rand(2, 3, 32, 32)
    e, z = model(x, ("projector",))
    by_hand = e.view(2, 512, 36).mean(-1)  # the 6 x 6 positions of each channel
    torch.testing.assert_close(projector[0](e), by_hand)
    torch.testing.assert_close(z, projector[1:](by_hand))
    again = build_from_description(describe_model(model))
    again.load_state_dict(model.state_dict())
    again.eval()
    torch.testing.assert_close(again(x, ("projector",))[-1], z)
    with pytest.raises(ValueError, match="head_input do not apply to objective.task 'rotnet'"):
        ssl_config("rotnet", head_input="channels")


def test_depth_trains_on_the_generated_scenes_and_their_depth_maps(tmp_path):
    cfg = config_from_dict(
        {
            "name": "depth-scenes",
            "data": {"dataset": "scenes", "input_size": 32, "train_size": 64, "test_size": 16},
            "model": {"kind": "streamnet", "variant": "single"},
            "objective": {"task": "depth"},
            "train": {"batch_size": 16, "epochs": 1, "device": "cpu", "threads": 1},
        }
    )
    summary = train(cfg, tmp_path / "run", progress=False, analyse=False)
    row = json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[-1])
    # 0.5 MSE against per-image z-scored depth: predicting a constant scores 0.5
    assert 0.0 < row["test_loss"] < 1.0 and summary["complete"]
