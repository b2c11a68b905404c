"""Training on several processes: the global batch is split, the step is the single-process one.

The slow test launches ``brainlike train`` with ``accelerate launch`` on 2 CPU processes (gloo)
and compares it with one process on the same config (the same global batch, the same samples
in the same order): final weights, metrics.jsonl keys and values.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from brainlike.config import load_config
from brainlike.train.checkpoint import load_checkpoint
from brainlike.train.loop import train
from brainlike.train.processes import batchnorm_note, check_processes, reduce_sums, run_agreed
from brainlike.train.tasks.base import Task

ROOT = Path(__file__).resolve().parents[2]

# SGD, not Adam: Adam divides by sqrt(v), so a weight whose gradient is ~0 can move by up to
# lr per step on float rounding alone; SGD moves it by lr times the rounding of its gradient.
DIGITS = """\
name: two-process-digits
seed: 0
data: {dataset: digits, input_size: 32, train_size: 128, test_size: 360}  # 2 held-out batches
model: {kind: convrnn, base: base6, width: 0.1, time_steps: 7, t_on: 7}
train: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 32, epochs: 2, device: cpu,
        threads: 1, snapshots_per_epoch: 0}
"""
PATHINT = """\
name: two-process-pathint
seed: 0
data:
  dataset: trajectories
  trajectories: {steps: 10, batches_per_epoch: 4, test_sequences: 64}
model: {kind: pathint, core: ugrnn, units: 32, g_units: 32}
objective:
  task: path_integration
  place_cells: {kind: gaussian, n: 32, sigma: 0.12}
  recurrent_l2: 0.0001
train: {optimizer: sgd, lr: 0.05, momentum: 0.9, batch_size: 32, epochs: 2, device: cpu,
        threads: 1}
"""


# -- the door and the pieces (fast) --------------------------------------------------------------
def _cfg(tmp_path: Path, text: str, name: str = "c.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return load_config(path)


def test_batch_that_does_not_split_is_refused(tmp_path):
    cfg = _cfg(tmp_path, DIGITS.replace("batch_size: 32", "batch_size: 30"))
    task = SimpleNamespace(single_process_reason=None)
    check_processes(cfg, task, 1)  # one process takes any batch
    check_processes(cfg, task, 3)  # 30 = 3 x 10
    with pytest.raises(ValueError, match=r"batch_size is 30.*multiple of 4 \(e\.g\. 28 or 32\)"):
        check_processes(cfg, task, 4)


def test_rules_and_single_process_tasks_are_refused(tmp_path):
    ok = SimpleNamespace(single_process_reason=None)
    fa = _cfg(tmp_path, DIGITS + "rule: {kind: fa}\n")
    with pytest.raises(ValueError, match="rule 'fa' trains on one process only"):
        check_processes(fa, ok, 2)
    check_processes(fa, ok, 1)
    plain = _cfg(tmp_path, DIGITS, "plain.yaml")
    ssl = SimpleNamespace(single_process_reason="its loss sees the whole batch")
    with pytest.raises(ValueError, match="trains on one process only.*whole batch"):
        check_processes(plain, ssl, 2)


def test_share_of_and_stream_seed_split_a_batch_among_processes():
    task = Task(cfg=None)
    x, y = torch.arange(12).reshape(6, 2), torch.arange(6)
    assert task.share_of(x, y) == (x, y)  # one process: the whole batch
    assert task.stream_seed(17) == 17
    parts = []
    for index in range(3):
        task.set_processes(index, 3)
        parts.append(task.share_of(x, y))
    assert [p[1].tolist() for p in parts] == [[0, 1], [2, 3], [4, 5]]
    assert torch.equal(torch.cat([p[0] for p in parts]), x)  # every sample exactly once
    assert task.stream_seed(17) == 17 + 2 * 1_000_003  # process 2's own stream


def test_batchnorm_note_counts_the_layers_and_the_share(tmp_path):
    cfg = _cfg(tmp_path, DIGITS)
    net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2), torch.nn.ReLU())
    assert batchnorm_note(net, cfg, 1) is None
    assert batchnorm_note(torch.nn.Linear(2, 2), cfg, 2) is None
    assert batchnorm_note(net, cfg, 4).startswith(
        "note: 1 BatchNorm layers normalise each process's share of the batch (8 of 32 samples)"
    )


def test_held_out_shares_add_up_to_the_whole_set(tmp_path):
    # 360 held-out digits in batches of 256: process 0 of 2 takes batch 0 (256 images),
    # process 1 batch 1 (104); the two shares' sums are the whole set's
    from brainlike.train.build import build_model
    from brainlike.train.tasks import make_task

    cfg = _cfg(tmp_path, DIGITS)
    torch.manual_seed(0)
    tasks = [make_task(cfg) for _ in range(2)]
    model = build_model(cfg, tasks[0].model_io, None, tasks[0].wrap_model)
    for index, task in enumerate(tasks):
        task.set_processes(index, 2)
        task.bind(model, torch.device("cpu"))
    a, b = (task.held_out_sums(model) for task in tasks)
    assert (a["n"], b["n"]) == (256, 104)
    whole = tasks[0].evaluate(model)  # every batch, whatever the process
    assert (a["acc"] + b["acc"]) / 360 == whole["acc"]
    assert (a["loss"] + b["loss"]) / 360 == pytest.approx(whole["loss"], rel=1e-12)


def test_one_process_sums_and_errors_pass_through():
    one = SimpleNamespace(num_processes=1)
    assert reduce_sums(one, {"seen": 3, "loss": 1.5}) == {"seen": 3.0, "loss": 1.5}
    assert run_agreed(one, lambda: 7) == 7
    with pytest.raises(KeyError):
        run_agreed(one, lambda: {}["missing"])


# -- two processes against one (slow) ------------------------------------------------------------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _launch_two(
    config: Path, out: Path, tmp_path: Path, timeout: int = 600
) -> subprocess.CompletedProcess:
    """``brainlike train`` under ``accelerate launch`` with 2 CPU processes (gloo).

    ``--multi_gpu`` is accelerate's multi-process launcher (torchrun); with ``train.device:
    cpu`` each process is a CPU process. (``--cpu --num_processes 2`` would start one process.)
    """
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "HF_HOME": str(tmp_path / "hf"),  # no user accelerate config is read
        "CUDA_VISIBLE_DEVICES": "",
    }
    cmd = [
        sys.executable, "-m", "accelerate.commands.launch",
        "--multi_gpu", "--num_processes", "2", "--num_machines", "1",
        "--mixed_precision", "no", "--dynamo_backend", "no",
        "--main_process_port", str(_free_port()),
        "-m", "brainlike.cli", "train", str(config), "--out", str(out), "--no-progress",
    ]  # fmt: skip
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _metrics(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("recipe", [DIGITS, PATHINT], ids=["digits-convrnn", "pathint"])
def test_two_processes_train_what_one_process_trains(tmp_path, recipe):
    """Digits: the loop splits each loaded batch; path integration: each process draws the
    whole batch of a data step and trains on its half. Both must equal one process.

    Tolerance: float32. The two processes' gradients are averaged after each half-batch mean
    is summed, a different order of float32 additions than one mean over the batch (relative
    difference ~1e-7 per gradient); 8 SGD steps with momentum carry that to ~1e-6 of the
    weights (measured: digits 6e-8, path integration 7e-9), so 1e-5 is float rounding and an
    error of the split (a sample twice, a half-batch step, a doubled batch) is far above it.
    """
    config = tmp_path / "recipe.yaml"
    config.write_text(recipe)
    one, two = tmp_path / "one", tmp_path / "two"
    threads = torch.get_num_threads()
    single = train(load_config(config), one, progress=False, analyse=False)
    torch.set_num_threads(threads)
    done = _launch_two(config, two, tmp_path)
    assert done.returncode == 0, f"accelerate launch failed:\n{done.stdout}\n{done.stderr}"
    assert done.stdout.count(" -> ") == 1  # one summary, from the main process

    both = json.loads((two / "summary.json").read_text())
    assert (single["processes"], both["processes"]) == (1, 2)
    w1 = load_checkpoint(one / "checkpoints" / "last.pt")["model"]
    w2 = load_checkpoint(two / "checkpoints" / "last.pt")["model"]
    assert w1.keys() == w2.keys()
    diff = max(float((w1[k].double() - w2[k].double()).abs().max()) for k in w1)
    moved = max(float((w1[k].double().abs()).max()) for k in w1)
    assert diff < 1e-5, f"max |weight difference| {diff:.2e} (largest weight {moved:.2f})"

    m1, m2 = _metrics(one), _metrics(two)
    assert [sorted(r) for r in m1] == [sorted(r) for r in m2]
    assert [r["step"] for r in m2] == [4, 8]  # the global batch: 4 steps per epoch, as alone
    for r1, r2 in zip(m1, m2, strict=True):
        for key, v1 in r1.items():
            if key == "seconds":
                continue
            assert r2[key] == pytest.approx(v1, rel=1e-4, abs=1e-5), key


@pytest.mark.slow
def test_a_refusal_stops_every_process(tmp_path):
    """A folder that exists is refused by every process, and none waits for the others."""
    config = tmp_path / "recipe.yaml"
    config.write_text(DIGITS)
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("mine")
    done = _launch_two(config, tmp_path / "taken", tmp_path, timeout=180)
    assert done.returncode != 0
    assert done.stderr.count("already exists; pass --resume") == 2, done.stderr
    assert (tmp_path / "taken" / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in (tmp_path / "taken").iterdir()) == ["notes.txt"]
