"""The one training loop trains any task and runs any callback, with exact resume for both."""

import json

import pytest
import torch
from torch.nn import functional as F

from brainlike.config import config_from_dict
from brainlike.models.sheet import forward_all
from brainlike.train.callbacks import Callback
from brainlike.train.checkpoint import load_checkpoint
from brainlike.train.loop import train
from brainlike.train.tasks import StepOutput, Task


def tiny_config(epochs=3):
    return config_from_dict(
        {
            "name": "toy",
            "seed": 5,
            "data": {"dataset": "digits", "input_size": 8, "train_size": 200, "test_size": 100},
            "model": {
                "levels": [{"subnets": 4, "outputs": 16, "subnet": "small", "channels": [4]}],
                "master": "small",
                "master_channels": [8],
                "execution": "fused",
            },
            "train": {"batch_size": 40, "epochs": epochs, "device": "cpu", "lr": 0.01},
        }
    )


class Brightness(Task):
    """Regress the mean brightness of random 8x8 images; keeps a count of batches as state."""

    metric_names = ("abs_err",)
    headline = "abs_err"

    def __init__(self, cfg, n_train=400, n_test=60):
        super().__init__(cfg)
        g = torch.Generator().manual_seed(0)
        # images of random overall brightness, so the target varies much between images
        self.x_train = torch.rand(n_train, 1, 1, 1, generator=g) * torch.rand(
            n_train, 1, 8, 8, generator=g
        )
        self.x_test = torch.rand(n_test, 1, 1, 1, generator=g) * torch.rand(
            n_test, 1, 8, 8, generator=g
        )
        self.batches = 0

    @property
    def model_io(self):
        return 1, 1, 8

    @property
    def steps_per_epoch(self):
        return -(-len(self.x_train) // self.cfg.train.batch_size)

    def train_loader(self, epoch):
        g = torch.Generator().manual_seed(self.cfg.seed * 1_000 + epoch)
        data = torch.utils.data.TensorDataset(self.x_train)
        return torch.utils.data.DataLoader(
            data, batch_size=self.cfg.train.batch_size, shuffle=True, generator=g
        )

    def step(self, model, batch, epoch):
        (x,) = batch
        target = x.mean(dim=(1, 2, 3))
        pred = forward_all(model, x).logits.squeeze(1)
        loss = F.mse_loss(pred, target)
        self.batches += 1
        err = float((pred - target).detach().abs().sum())
        return StepOutput(loss, loss, x.shape[0], {"abs_err": err})

    @torch.no_grad()
    def evaluate(self, model, observe=None):
        model.eval()
        target = self.x_test.mean(dim=(1, 2, 3))
        pred = forward_all(model, self.x_test).logits.squeeze(1)
        model.train()
        return {
            "loss": float(F.mse_loss(pred, target)),
            "abs_err": float((pred - target).abs().mean()),
        }

    def state_dict(self):
        return {"batches": self.batches}

    def load_state_dict(self, state):
        self.batches = state["batches"]


class CountBatches(Callback):
    state_key = "count_batches"

    def __init__(self):
        self.seen, self.started = [], 0

    def on_train_start(self, run):
        self.started += 1

    def on_batch_end(self, run, epoch, batch_index):
        self.seen.append((epoch, batch_index, run.step))

    def state_dict(self):
        return {"seen": list(self.seen)}

    def load_state_dict(self, state):
        self.seen = [tuple(s) for s in state["seen"]]

    def on_train_end(self, run, summary, interrupted):
        summary["batches_counted"] = len(self.seen)


@pytest.fixture(scope="module")
def full_run(tmp_path_factory):
    """The toy task trained for 3 epochs in one go, with a counting callback."""
    cfg = tiny_config()
    task, cb = Brightness(cfg), CountBatches()
    run_dir = tmp_path_factory.mktemp("toy") / "full"
    summary = train(cfg, run_dir, progress=False, task=task, callbacks=[cb])
    return run_dir, task, cb, summary


def test_a_new_task_trains_through_the_loop(full_run):
    run_dir, task, _, summary = full_run
    rows = [json.loads(r) for r in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2, 3]
    assert set(rows[0]) >= {"train_loss", "train_abs_err", "test_loss", "test_abs_err", "step"}
    assert rows[-1]["step"] == 30 and task.batches == 30  # 400 images / batch 40, 3 epochs
    # the network learns the task: its held-out MSE ends well below that of predicting the
    # mean (the targets' variance, 0.027); measured 0.0018 after 3 epochs
    spread = float(task.x_test.mean(dim=(1, 2, 3)).var(unbiased=False))
    assert rows[-1]["test_loss"] < rows[0]["test_loss"] and rows[-1]["test_loss"] < spread / 4
    assert summary["complete"] and summary["test_acc"] is None
    assert not (run_dir / "snapshots.npz").exists()  # no grid snapshots for this task
    state = load_checkpoint(run_dir / "checkpoints" / "last.pt")
    assert state["task"] == {"batches": 30}


def test_task_and_callback_state_survive_a_resume_exactly(full_run, tmp_path):
    full_dir, _, full_cb, full = full_run
    cfg = tiny_config()
    part_cb = CountBatches()
    train(
        cfg, tmp_path / "part", progress=False, task=Brightness(cfg), callbacks=[part_cb],
        stop_after_epochs=2,
    )  # fmt: skip
    assert len(part_cb.seen) == 20
    resumed_task, resumed_cb = Brightness(cfg), CountBatches()
    resumed = train(
        cfg, tmp_path / "part", resume=True, progress=False, task=resumed_task,
        callbacks=[resumed_cb],
    )  # fmt: skip
    assert resumed_task.batches == 30  # 20 restored from the checkpoint + 10 trained
    assert resumed_cb.seen == full_cb.seen  # restored, then continued at the same steps
    assert resumed["batches_counted"] == full["batches_counted"] == 30
    wa = load_checkpoint(full_dir / "checkpoints" / "last.pt")
    wb = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for k in wa["model"]:
        torch.testing.assert_close(wa["model"][k], wb["model"][k], rtol=0, atol=0)
    assert wa["count_batches"] == wb["count_batches"]
    strip = lambda rows: [{k: v for k, v in r.items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(wa["metrics"]) == strip(wb["metrics"])


def test_image_runs_keep_their_grid_snapshot_callback(tmp_path):
    cfg = tiny_config(epochs=1)
    cb = CountBatches()
    summary = train(cfg, tmp_path / "run", progress=False, analyse=False, callbacks=[cb])
    assert cb.started == 1 and [s[1] for s in cb.seen] == [1, 2, 3, 4, 5]  # 200 / 40
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    # before training, then 2 per epoch (the default) at steps ceil(5 / 2) and 5
    assert state["snapshots"]["step"] == [0, 3, 5]
    assert "task" not in state  # stateless tasks add nothing to checkpoints
    assert summary["batches_counted"] == 5
