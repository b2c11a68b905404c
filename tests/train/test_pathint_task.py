"""The path-integration task (spec: mouse-and-entorhinal.md §2) in the one training loop: its
loss against hand sums, training lowers the decoding error, exact resume, a learning rule,
and configs that cannot work refused in one line."""

from __future__ import annotations

import math

import pytest
import torch

from brainlike.config import ConfigError, config_from_dict
from brainlike.evaluation.pathint_maps import decoding_error, load_pathint_run, unit_rate_maps
from brainlike.train.checkpoint import load_checkpoint
from brainlike.train.loop import train
from brainlike.train.tasks import make_task
from brainlike.train.tasks.pathint import PathIntegration, path_integration_loss


def config(epochs: int = 2, **over) -> object:
    data = {
        "name": "pi",
        "data": {"dataset": "trajectories", "trajectories": {"batches_per_epoch": 25,
                                                             "test_sequences": 200}},
        "model": {"kind": "pathint", "units": 64, "g_units": 64},
        "objective": {"task": "path_integration",
                      "place_cells": {"kind": "gaussian", "n": 64}},
        "train": {"lr": 3e-3, "batch_size": 50, "epochs": epochs, "device": "cpu",
                  "schedule": "constant", "threads": 1},
    }  # fmt: skip
    for key, value in over.items():
        data[key] = {**data.get(key, {}), **value}
    return config_from_dict(data)


def test_loss_is_the_cross_entropy_plus_the_recurrent_l2():
    cfg = config()
    task = make_task(cfg)
    assert isinstance(task, PathIntegration) and task.model_io == (2, 64, 64)
    from brainlike.train.build import build_model

    torch.manual_seed(0)
    model = build_model(cfg, task.model_io, None)
    task.bind(model, torch.device("cpu"))
    out = task.step(model, 7, 0)
    inputs, init, pos = task.batch_of(7)
    with torch.no_grad():
        logits = model(inputs, init)
    targets = task.place_cells.targets(pos)
    ce = sum(
        -(targets[b, t] * (logits[b, t] - torch.logsumexp(logits[b, t], 0))).sum()
        for b in range(50)
        for t in range(20)
    ) / (50 * 20)
    w = model.cell.recurrent.weight.detach()
    l2 = sum(float(w[i, j]) ** 2 for i in range(w.shape[0]) for j in range(w.shape[1]))
    assert float(out.loss.detach()) == pytest.approx(float(ce), rel=1e-5)
    assert float(out.total.detach()) == pytest.approx(float(ce) + 1e-4 * l2, rel=1e-5)
    assert out.n == 50 and 0 < out.sums["error_cm"] / 50 < 300
    # Cartesian targets: squared error summed over x, y, averaged over sequences and steps
    a, b = torch.tensor([[[1.0, 2.0]]]), torch.tensor([[[0.0, 4.0]]])
    assert float(path_integration_loss(a, b, "cartesian")) == 5.0


def test_training_lowers_the_decoding_error_and_resume_is_exact(tmp_path):
    full = train(config(3), tmp_path / "full", progress=False, analyse=False)
    train(config(3), tmp_path / "part", progress=False, analyse=False, stop_after_epochs=1)
    train(config(3), tmp_path / "part", resume=True, progress=False, analyse=False)
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)
    assert [m["test_error_cm"] for m in a["metrics"]] == [m["test_error_cm"] for m in b["metrics"]]
    # the arena is 2.2 m: an untrained net is off by ~1 m; 75 steps bring it well below
    errors = [m["test_error_cm"] for m in a["metrics"]]
    assert full["test_error_cm"] == errors[-1] and full["test_acc"] is None
    model, cfg = load_pathint_run(tmp_path / "full")
    trained = decoding_error(model, cfg, n_sequences=200)
    assert trained < 60 and errors[-1] < 0.7 * errors[0]
    # silencing every G unit leaves the decoder its bias alone: the error goes back to chance
    ablated = decoding_error(model, cfg, n_sequences=200, silenced={"g": range(64)})
    assert ablated > trained + 20
    maps = unit_rate_maps(model, cfg, n_sequences=100, bin_cm=10.0)
    assert maps.rates.shape == (64, 22, 22) and maps.occupancy.sum() == 100 * 20


def test_feedback_alignment_trains_a_path_integrator(tmp_path):
    cfg = config(4, rule={"kind": "fa"})  # slower than backprop: 100 steps
    summary = train(cfg, tmp_path / "fa", progress=False, analyse=False)
    state = load_checkpoint(tmp_path / "fa" / "checkpoints" / "last.pt")
    assert "cell.recurrent.weight_backward" in state["model"]
    errors = [m["test_error_cm"] for m in state["metrics"]]
    assert math.isfinite(summary["test_error_cm"]) and errors[-1] < 0.75 * errors[0]


@pytest.mark.parametrize(
    "over,message",
    [
        ({"data": {"dataset": "digits", "trajectories": {}}}, "need(s) data.dataset trajectories"),
        ({"objective": {"task": "classification", "place_cells": {"n": 9}}}, "objective.place_cells"),
        ({"model": {"kind": "pathint", "core": "lstm", "activation": "tanh"}},
         "applies to core: rnn"),
        ({"data": {"dataset": "trajectories", "augment": True}}, "data.augment apply to image"),
    ],
)  # fmt: skip
def test_bad_configs_are_refused_naming_the_fix(over, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        config(**over)
    with pytest.raises(ConfigError, match="data.trajectories applies to data.dataset"):
        config_from_dict({"data": {"trajectories": {"steps": 5}}})
    with pytest.raises(ConfigError, match="need"):
        config_from_dict({"model": {"kind": "pathint"}})


def test_ratinabox_source_is_refused_without_the_package(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda n, *a: None if n == "ratinabox" else real(n, *a)
    )
    over = {"data": {"dataset": "trajectories", "trajectories": {"source": "ratinabox"}}}
    with pytest.raises(ConfigError, match=r"pip install brainlike\[ratinabox\]"):
        config(**over)
