"""Path integration on CPU, for the record (spec: mouse-and-entorhinal.md §2).

Times generating a batch of trajectories and one training step (forward, backward, Adam) of
the full-size network (UGRNN 4096 / G 4096, 512 DoG place cells, batch 200, 20 steps) and of
the pathint-small recipe's network. Prints ``NAME: VALUE`` lines.

    OMP_NUM_THREADS=1 python benchmarks/bench_pathint.py [--threads 1] [--full-steps 1]
"""

from __future__ import annotations

import argparse
import time

import torch

from brainlike.config import load_config, resolve_config_path
from brainlike.train.build import build_model
from brainlike.train.tasks import make_task


def _time_steps(name: str, n: int, batch: int | None = None) -> None:
    cfg = load_config(resolve_config_path(name))
    if batch is not None:
        cfg.train.batch_size = batch
    task = make_task(cfg)
    torch.manual_seed(0)
    model = build_model(cfg, task.model_io, None)
    task.bind(model, torch.device("cpu"))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.train.lr)
    t0 = time.perf_counter()
    for s in range(5):
        task.batch_of(s)
    gen = (time.perf_counter() - t0) / 5
    task.step(model, 0, 0).total.backward()  # warm-up
    t0 = time.perf_counter()
    for s in range(n):
        out = task.step(model, s + 1, 0)
        opt.zero_grad()
        out.total.backward()
        opt.step()
    step = (time.perf_counter() - t0) / n
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}_parameters: {params}")
    print(f"{name}_trajectories_per_s: {cfg.train.batch_size / gen:.0f}")
    print(f"{name}_train_steps_per_s: {1 / step:.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--full-steps", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"threads: {args.threads}")
    _time_steps("pathint-small", 20)
    _time_steps("pathint-full", args.full_steps)


if __name__ == "__main__":
    main()
