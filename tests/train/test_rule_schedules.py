"""The rule's schedules of spec learning-rules.md §4 in the one training loop: alternating
steps, delay epochs, the learning-rate clock, noisy updates (counted and measured on tiny
runs)."""

import json
import math

import pytest
import torch
from torch import nn

from brainlike.config import config_from_dict
from brainlike.train.callbacks import Callback
from brainlike.train.checkpoint import load_checkpoint
from brainlike.train.loop import train
from brainlike.train.rule_training import RuleTraining


def tiny(epochs=2, schedule=None, **rule):
    """IA on 128 digits, batch 32: 4 steps per epoch."""
    return config_from_dict(
        {
            "seed": 3,
            "data": {"dataset": "digits", "input_size": 28, "train_size": 128, "test_size": 64},
            "model": {"kind": "lenet", "locality": {"enabled": False}},
            "rule": {"kind": "information_alignment", **rule},
            "train": {
                "optimizer": "sgd", "lr": 0.05, "momentum": 0.5, "weight_decay": 1e-4,
                "batch_size": 32, "epochs": epochs, "device": "cpu", "threads": 1,
                **({"schedule": "step", "milestones": [1]} if schedule == "step" else {}),
            },
        }
    )  # fmt: skip


class Watch(Callback):
    """The model's parameters at the start and after every step."""

    def __init__(self):
        self.states = []

    def _keep(self, run):
        self.states.append({n: p.detach().clone() for n, p in run.model.named_parameters()})

    def on_train_start(self, run):
        self._keep(run)

    def on_batch_end(self, run, epoch, batch_index):
        self._keep(run)


def _changed(states, keep):
    """Per step: whether any parameter whose name passes ``keep`` changed."""
    return [
        any(not torch.equal(a[n], b[n]) for n in a if keep(n))
        for a, b in zip(states, states[1:], strict=False)
    ]


def _backward(n):
    return n.endswith("weight_backward")


def _forward(n):
    return not n.endswith("weight_backward")


def test_alternating_steps_train_forward_on_odd_steps_and_backward_on_even(tmp_path):
    watch = Watch()
    train(tiny(alternate=1), tmp_path / "run", progress=False, analyse=False, callbacks=[watch])
    steps = len(watch.states) - 1
    assert steps == 8
    assert _changed(watch.states, _forward) == [s % 2 == 1 for s in range(steps)]
    assert _changed(watch.states, _backward) == [s % 2 == 0 for s in range(steps)]
    # k = 2: the task trains on two steps of three, the alignment on the third
    watch = Watch()
    train(tiny(alternate=2), tmp_path / "k2", progress=False, analyse=False, callbacks=[watch])
    assert _changed(watch.states, _forward) == [s % 3 != 0 for s in range(8)]
    assert _changed(watch.states, _backward) == [s % 3 == 0 for s in range(8)]


def test_delay_epochs_leave_the_forward_weights_untouched_while_the_backward_ones_train(tmp_path):
    watch = Watch()
    train(tiny(epochs=2, delay_epochs=1), tmp_path / "run", progress=False, analyse=False,
          callbacks=[watch])  # fmt: skip
    start, after_delay = watch.states[0], watch.states[4]
    for n in start:
        if _forward(n):  # every forward parameter (BatchNorm's too) exactly as initialised
            assert torch.equal(start[n], after_delay[n]), n
        else:
            assert not torch.equal(start[n], after_delay[n]), n
    assert _changed(watch.states, _backward) == [True] * 8  # alignment every step
    assert _changed(watch.states, _forward) == [False] * 4 + [True] * 4  # then the task


def test_the_schedules_run_on_the_rules_clock(tmp_path):
    # a milestone at epoch 1 with 1 delay epoch and alternate 1 falls at epoch 1 + 1 * 2 = 3;
    # with align_schedule train the alignment's rate drops with it
    cfg = tiny(4, "step", delay_epochs=1, alternate=1, align_schedule="train", lr=0.01)
    train(cfg, tmp_path / "run", progress=False, analyse=False)
    rows = [json.loads(r) for r in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows] == pytest.approx([0.05, 0.05, 0.005, 0.005])
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")["rule"]
    assert state["optimizer"]["param_groups"][0]["lr"] == pytest.approx(0.001)
    # without a rule schedule the same milestone drops after the first epoch
    train(tiny(2, "step"), tmp_path / "plain", progress=False, analyse=False)
    rows = [json.loads(r) for r in (tmp_path / "plain" / "metrics.jsonl").read_text().splitlines()]
    assert [r["lr"] for r in rows] == pytest.approx([0.005, 0.005])


def _noisy_rule_training(distribution, target="backward", step=0):
    cfg = tiny(
        align_optimizer="sgd",
        lr=0.1,
        noisy_updates={"std": 0.3, "distribution": distribution, "target": target},
    )
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(100, 100), nn.ReLU(), nn.Linear(100, 10))
    rt = RuleTraining(cfg, model)
    rt.build_optimizer(None)
    rt._step = step
    forward = torch.optim.SGD(RuleTraining.forward_parameters(model), lr=0.2)
    for p in model.parameters():  # zero gradients: the optimizers' steps change nothing
        p.grad = torch.zeros_like(p)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    forward.step()
    rt.step(forward)
    return {n: p.detach() - before[n] for n, p in model.named_parameters()}


@pytest.mark.parametrize("distribution, kurtosis", [("gaussian", 3.0), ("uniform", 1.8)])
def test_noisy_updates_add_lr_times_noise_of_the_given_std(distribution, kurtosis):
    delta = _noisy_rule_training(distribution)
    added = torch.cat([d.flatten() for n, d in delta.items() if _backward(n)]).double()
    n = added.numel()  # 11,000 backward weights
    # var(lr * xi) = (0.1 * 0.3)^2; the sample variance has s.e. var * sqrt((kurtosis - 1) / n)
    var = (0.1 * 0.3) ** 2
    assert abs(float(added.var()) - var) < 5 * var * math.sqrt((kurtosis - 1) / n)
    if distribution == "uniform":
        assert float(added.abs().max()) <= 0.1 * math.sqrt(3) * 0.3 + 1e-7
    assert all(torch.count_nonzero(d) == 0 for n, d in delta.items() if _forward(n))
    # seeded per (seed, step): the same step adds the same bits, another step other ones
    again = _noisy_rule_training(distribution)
    assert all(torch.equal(delta[k], again[k]) for k in delta)
    other = _noisy_rule_training(distribution, step=1)
    assert not torch.equal(delta["0.weight_backward"], other["0.weight_backward"])


def test_noisy_updates_on_all_parameters_use_each_optimizers_rate():
    delta = _noisy_rule_training("gaussian", target="all")
    fwd = torch.cat([d.flatten() for n, d in delta.items() if _forward(n)]).double()
    var = (0.2 * 0.3) ** 2  # the forward optimizer's lr 0.2
    assert abs(float(fwd.var()) - var) < 5 * var * math.sqrt(2 / fwd.numel())
    bwd = torch.cat([d.flatten() for n, d in delta.items() if _backward(n)]).double()
    assert float(bwd.var()) == pytest.approx((0.1 * 0.3) ** 2, rel=0.1)
