"""Training speed of the parallel-subnetwork executions (loop vs fused paths) for Reset(2/4/8).

For each Reset(n) (level-1 subnetworks only: ``n*n`` subnetworks with ``(32/n)**2`` outputs)
and each subnetwork type it times one training step (forward + backward + Adam step) of every
execution in :data:`brainlike.models.parallel.EXECUTIONS` and of the one ``choose_execution``
picks ("auto"), and reports

- images/s and the ratio to the loop (the original implementation),
- achieved GFLOP/s = 3 x forward FLOPs per image x images/s (the usual estimate: the backward
  pass costs about twice the forward; BatchNorm, ReLU and the optimizer are not counted),
- the float32 matmul GFLOP/s of the same machine, measured in the same run (best of several
  large ``torch.matmul``), and the fraction of it the best execution reaches.

Inputs: ``resnet20`` subnetworks read 3-channel 32x32 images (CIFAR); ``small`` subnetworks
(two conv layers, 16/32 channels) read 1-channel 16x16 images (the demo configuration).
Timings are the best of ``--steps`` steps, executions interleaved round by round (the machine
may be shared). Ends with one ``NAME: VALUE`` line per figure.

    python benchmarks/bench_parallel.py            # full run (a few minutes on 2 CPU cores)
    python benchmarks/bench_parallel.py --quick    # under a minute
    python benchmarks/bench_parallel.py --device cuda --batch 128
"""

from __future__ import annotations

import argparse
import math
import time

import torch

from brainlike.models.parallel import (
    EXECUTIONS,
    build_stacked,
    choose_execution,
    tune_cpu_allocator,
)

INPUTS = {"resnet20": (3, 32), "small": (1, 16)}  # subnetwork -> (channels, size)
# Default batches per device, subnetwork and n: small enough for the full CPU run to take a
# few minutes (a ResNet-20 Reset(8) step costs 64 ResNet-20 steps).
BATCHES = {
    "cpu": {"resnet20": {2: 32, 4: 16, 8: 8}, "small": {2: 32, 4: 32, 8: 32}},
    "cuda": {"resnet20": {2: 128, 4: 128, 8: 128}, "small": {2: 128, 4: 128, 8: 128}},
}


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_gflops(device: torch.device, quick: bool) -> float:
    """Best-of-several float32 GFLOP/s of a large square matmul."""
    n = (1024 if quick else 2048) if device.type == "cpu" else 8192
    a = torch.randn(n, n, device=device)
    b = torch.randn(n, n, device=device)
    best = math.inf
    for _ in range(3 if quick else 6):
        sync(device)
        t0 = time.perf_counter()
        torch.matmul(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * n**3 / best / 1e9


def time_executions(
    net: torch.nn.Module, x: torch.Tensor, executions: list[str], steps: int
) -> dict[str, float]:
    """Best seconds per training step (forward + backward + Adam) of each execution."""
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    best = {e: math.inf for e in executions}

    def step(execution: str) -> float:
        sync(x.device)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        net(x, execution=execution).square().mean().backward()
        opt.step()
        sync(x.device)
        return time.perf_counter() - t0

    for e in executions:  # warm-up: one-time kernel/primitive setup, first-touch of memory
        step(e)
    for _ in range(steps):
        for e in executions:
            best[e] = min(best[e], step(e))
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="short run (under a minute on CPU)")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--batch", type=int, default=None, help="batch for every configuration")
    parser.add_argument("--steps", type=int, default=None, help="timed steps per execution")
    parser.add_argument("--n", default="2,4,8", help="Reset(n) values, comma-separated")
    parser.add_argument("--subnets", default="small,resnet20", help="subnetwork types")
    args = parser.parse_args(argv)

    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("--device cuda requested but CUDA is not available")
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    else:
        tune_cpu_allocator()
    steps = args.steps or (2 if args.quick else 4)
    ns = [int(v) for v in args.n.split(",")]
    kinds = [k.strip() for k in args.subnets.split(",")]
    t_start = time.perf_counter()

    peak_start = matmul_gflops(device, args.quick)
    peak = peak_start
    print(
        f"device {device} | torch {torch.__version__} | threads {torch.get_num_threads()} | "
        f"matmul {peak:.1f} GFLOP/s | best of {steps} steps"
    )
    header = (
        f"{'model':<20} {'batch':>5} {'execution':<9} {'ms/step':>9} {'img/s':>9} "
        f"{'GFLOP/s':>8} {'x loop':>7} {'of peak':>7}"
    )
    print(header)
    print("-" * len(header))
    figures: list[tuple[str, object]] = []
    for kind in kinds:
        c, size = INPUTS[kind]
        for n in ns:
            g, k = n * n, (32 // n) ** 2
            batch = args.batch or BATCHES[device.type][kind][n]
            if args.quick and args.batch is None:
                batch = max(2, batch // 2)
            torch.manual_seed(0)
            net = build_stacked(kind, g, c, k).to(device)
            flops = net.flops_per_image(c, size)
            x = torch.randn(batch, c, size, size, device=device)

            t0 = time.perf_counter()
            # as ResetLevel(execution="auto") does (default repeats), fewer in --quick
            repeats = 1 if args.quick else 2
            choice = choose_execution(
                net, c, size, batch_size=batch, device=device, repeats=repeats
            )
            auto = str(choice["execution"])
            choose_s = time.perf_counter() - t0

            times = time_executions(net, x, list(EXECUTIONS), steps)
            tag = f"reset{n}_{kind}"
            loop_s = times["loop"]
            best_e = min(times, key=times.__getitem__)
            for e in EXECUTIONS:
                ips = batch / times[e]
                gf = 3 * flops * ips / 1e9
                print(
                    f"{f'Reset({n}) {kind}':<20} {batch:>5} {e:<9} {times[e] * 1e3:>9.1f} "
                    f"{ips:>9.1f} {gf:>8.1f} {loop_s / times[e]:>7.2f} {gf / peak:>7.2f}"
                )
                figures.append((f"images_per_s_{e}_{tag}", round(ips, 2)))
                figures.append((f"gflops_{e}_{tag}", round(gf, 1)))
                if e != "loop":
                    figures.append((f"{e}_over_loop_{tag}", round(loop_s / times[e], 2)))
            print(
                f"{'':<20} {'':>5} auto -> {auto} ({loop_s / times[auto]:.2f}x loop; "
                f"choosing took {choose_s:.1f} s); best: {best_e}"
            )
            best_gf = 3 * flops * batch / times[best_e] / 1e9
            figures += [
                (f"choose_seconds_{tag}", round(choose_s, 1)),
                (f"batch_{tag}", batch),
                (f"forward_mflops_per_image_{tag}", round(flops / 1e6, 1)),
                (f"auto_choice_{tag}", auto),
                (f"auto_over_loop_{tag}", round(loop_s / times[auto], 2)),
                (f"best_execution_{tag}", best_e),
                (f"best_over_loop_{tag}", round(loop_s / times[best_e], 2)),
                (f"gflops_best_{tag}", round(best_gf, 1)),
            ]
    # The peak is measured at the start and at the end (a shared machine drifts); the best
    # of the two is the reference for every fraction.
    peak_end = matmul_gflops(device, args.quick)
    peak = max(peak_start, peak_end)
    for name, value in list(figures):
        if name.startswith("gflops_best_"):
            tag = name.removeprefix("gflops_best_")
            figures.append((f"fraction_of_peak_best_{tag}", round(float(value) / peak, 3)))
    figures.append(("matmul_gflops", round(peak, 1)))
    figures.append(("matmul_gflops_start", round(peak_start, 1)))
    figures.append(("matmul_gflops_end", round(peak_end, 1)))
    figures.append(("wall_seconds", round(time.perf_counter() - t_start, 1)))
    print()
    for name, value in figures:
        print(f"{name}: {value}")


if __name__ == "__main__":
    main()
