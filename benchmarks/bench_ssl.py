"""Speed of a self-supervised training step against the supervised step of the same network.

The network is the dual-stream StreamNet at 64 px (spec mouse-and-entorhinal.md §1) on 3-channel
offline digits; one step is what the training loop does (:mod:`brainlike.train.loop`): the
task's step (views, forward, loss), backward, SGD with momentum, and the task's
after-step (MoCo's enqueue). Every task is built by its registry entry with the spec's heads
(2048-wide projectors, 128-d outputs; SimSiam 2048-2048-2048 and predictor 512) and timed
round by round (interleaved, so a busy machine slows them alike); each keeps its best step.
MoCo's queue holds ``--queue`` keys (the spec's 65,536 needs that many training images).

Two views are twice the forward and backward work of the supervised step by construction;
the target (issue 15, item 7) is at most 2.2 x the supervised step for the two-view
objectives. The spec's projector is heavy next to this backbone: 18,432 x 2048 multiply-adds
per image (38 M) in its first layer, about as many as the whole StreamNet at 64 px, so with it
two views cost about 2 x (backbone + head) / backbone, near 3.5 x; ``--head-hidden 512``
shows the ratio with a narrower head, ``--head-input channels`` with the projector reading the
per-channel mean of the output areas (512-d) as SSL heads read a ResNet's pooled features. Ends with ``NAME: VALUE`` lines (seconds, and ratios to the supervised step of the
same run).

    python benchmarks/bench_ssl.py                   # batch 256 (GPU)
    python benchmarks/bench_ssl.py --quick           # batch 32, 3 rounds (CPU)
    python benchmarks/bench_ssl.py --device cuda --tasks simclr,moco
"""

from __future__ import annotations

import argparse
import time

import torch

from brainlike.config import config_from_dict
from brainlike.train.build import build_model
from brainlike.train.tasks import make_task

TASKS = ["classification", "simclr", "simsiam", "moco"]


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class Stepper:
    """One task's model, optimizer and batch, as the training loop would have them."""

    def __init__(
        self,
        task: str,
        batch: int,
        queue: int,
        device: torch.device,
        hidden: int | None,
        head_input: str = "flat",
    ) -> None:
        ssl: dict = {"queue_size": queue} if task == "moco" else {}
        if hidden and task != "classification":
            ssl["head_hidden"] = hidden
        if head_input != "flat" and task != "classification":
            ssl["head_input"] = head_input
        cfg = config_from_dict(
            {
                "name": f"bench-{task}",
                "seed": 0,
                "data": {"dataset": "digits", "input_size": 64, "channels": 3,
                         "train_size": max(batch, queue), "test_size": 10},
                "model": {"kind": "streamnet", "variant": "dual"},
                "objective": {"task": task, **({"ssl": ssl} if ssl else {})},
                "train": {"batch_size": batch, "optimizer": "sgd", "lr": 0.01,
                          "momentum": 0.9, "device": device.type},
            }
        )  # fmt: skip
        torch.manual_seed(0)
        self.label = "supervised" if task == "classification" else task
        self.task = make_task(cfg)
        self.model = build_model(cfg, self.task.model_io, None, self.task.wrap_model).to(device)
        self.task.check_model(self.model)
        self.task.bind(self.model, device)
        self.optimizer = torch.optim.SGD(self.model.parameters(), lr=0.01, momentum=0.9)
        self.task.start_epoch(self.model, 0)
        first = next(iter(self.task.train_loader(0)))
        self.batch = [b.to(device) if isinstance(b, torch.Tensor) else b for b in first]
        self.device = device

    def step(self) -> float:
        sync(self.device)
        t = time.perf_counter()
        out = self.task.step(self.model, self.batch, 0)
        self.optimizer.zero_grad(set_to_none=True)
        out.total.backward()
        self.optimizer.step()
        self.task.after_optimizer_step(self.optimizer)
        sync(self.device)
        return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--queue", type=int, default=4096, help="MoCo's queue (keys)")
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=None, help="torch threads (CPU)")
    parser.add_argument(
        "--head-hidden", type=int, default=None, help="projector width (default: the spec's 2048)"
    )
    parser.add_argument(
        "--head-input",
        choices=["flat", "channels"],
        default="flat",
        help="what the projector reads: the 18,432-d embedding (flat, the spec's readout input) "
        "or its per-channel mean (channels: 512-d, the global average pool SSL heads read on "
        "ResNets)",
    )
    parser.add_argument("--tasks", default=",".join(TASKS[1:]))
    args = parser.parse_args()
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    batch = args.batch or (32 if args.quick else 256)
    rounds = args.rounds or (3 if args.quick else 10)
    queue = min(args.queue, 8 * batch) if args.quick else args.queue
    names = ["classification", *[t for t in args.tasks.split(",") if t != "classification"]]
    steppers = [
        Stepper(name, batch, queue, device, args.head_hidden, args.head_input) for name in names
    ]
    for s in steppers:  # warm-up: allocations, cuDNN autotuning
        s.step()
        s.step()
    best = {s.label: float("inf") for s in steppers}
    for r in range(rounds):
        for s in steppers:
            best[s.label] = min(best[s.label], s.step())
        print(f"round {r + 1}/{rounds} done", flush=True)
    # the views alone: two per image, as the two-view tasks draw them
    views = next(s for s in steppers if s.label != "supervised").task.views
    x, g = steppers[0].batch[0], torch.Generator().manual_seed(0)
    views(x, g)
    sync(device)
    t = time.perf_counter()
    views(x, g), views(x, g)
    sync(device)
    view_seconds = time.perf_counter() - t

    sup = best["supervised"]
    hidden = args.head_hidden or 2048
    print(
        f"\nStreamNet dual, 64 px, batch {batch}, {device}, projector width {hidden} reading "
        f"the {args.head_input} embedding; best of"
    )
    print(f"{rounds} interleaved steps ({torch.get_num_threads()} threads)")
    print(f"{'objective':12s} {'s/step':>8s} {'img/s':>8s} {'x supervised':>13s}")
    for label, seconds in best.items():
        print(f"{label:12s} {seconds:8.4f} {batch / seconds:8.0f} {seconds / sup:13.2f}")
    print()
    print(f"batch: {batch}")
    print(f"head_hidden: {hidden}")
    print(f"head_input: {args.head_input}")
    for s in steppers:
        params = sum(p.numel() for p in s.model.parameters())
        print(f"parameters_{s.label}: {params}")
    print(f"moco_queue: {queue}")
    print(f"two_views_seconds: {view_seconds:.4f}")
    for label, seconds in best.items():
        print(f"step_seconds_{label}: {seconds:.4f}")
        print(f"images_per_second_{label}: {batch / seconds:.1f}")
    for label, seconds in best.items():
        if label != "supervised":
            print(f"ratio_{label}: {seconds / sup:.3f}")


if __name__ == "__main__":
    main()
