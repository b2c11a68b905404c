"""Speed of the circular-shift shuffle nulls (issue 16, spatial_null.shuffle_nulls).

A 10-minute session at 50 Hz (30,000 samples) in a 1 m box (5 cm bins, 20 x 20 maps,
smoothing 5 cm) with a smooth random walk; cells fire Poisson spikes at 3 Hz (half of them
on a hexagonal grid). Times ``shuffle_nulls`` for ``--cells`` cells x ``--shuffles`` shuffles,
each score alone and all five together, and reports seconds per score.

Measured (2 shared CPU cores, OMP_NUM_THREADS=1, 200 cells x 100 shuffles = 20,000 trains):
grid 24.9 s, border 7.9 s, spatial information 8.4 s, head direction 10.0 s, speed 36.5 s
(the 250 ms Gaussian over 30,000 samples per train dominates), all five together 57.7 s;
95th-percentile grid passes: grid cells 100 %, uniform cells 6 %.

Ends with one ``NAME: VALUE`` line per figure.

    OMP_NUM_THREADS=1 python benchmarks/bench_spatial_null.py               # 200 x 100
    OMP_NUM_THREADS=1 python benchmarks/bench_spatial_null.py --cells 20    # quick
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from brainlike.analysis.spatial_null import SCORES, shuffle_nulls

DT = 0.02


def session(n_samples: int, n_cells: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    heading = np.cumsum(rng.normal(0, 0.3, n_samples))
    speed = np.clip(0.2 + 0.1 * np.sin(np.arange(n_samples) * DT / 3.0), 0.02, 0.45)
    step = speed[:, None] * DT * np.stack([np.cos(heading), np.sin(heading)], 1)
    # fold an unbounded walk into the box [-0.5, 0.5]^2 (reflections)
    walk = np.cumsum(step, 0) + 0.5
    pos = np.abs((walk + 1.0) % 2.0 - 1.0) - 0.5
    k = 4 * np.pi / (np.sqrt(3) * 0.4)
    grid = sum(
        np.cos(k * (np.cos(a) * pos[:, 0] + np.sin(a) * pos[:, 1])) for a in (0, 1.047, 2.094)
    )
    rate = np.where(
        np.arange(n_cells)[:, None] % 2 == 0, 3.0 * np.clip(grid + 1.5, 0, None) / 1.5, 3.0
    )
    counts = rng.poisson(rate * DT)
    return pos, np.arange(n_samples) * DT, counts, np.mod(heading, 2 * np.pi), speed * 100


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=200)
    parser.add_argument("--shuffles", type=int, default=100)
    parser.add_argument("--samples", type=int, default=30_000)
    args = parser.parse_args()
    pos, t, counts, hd, speed = session(args.samples, args.cells)
    figures = {}
    for scores in [(s,) for s in SCORES] + [SCORES]:
        start = time.perf_counter()
        res = shuffle_nulls(
            pos,
            t,
            counts,
            1.0,
            head_direction_rad=hd,
            speed_cm_s=speed,
            scores=scores,
            n_shuffles=args.shuffles,
            smooth_cm=5.0,
        )
        name = "all" if len(scores) > 1 else scores[0]
        figures[f"seconds_{name}"] = time.perf_counter() - start
    grid = res.scores["grid"].passes_at(95.0)
    figures["grid_pass_fraction_grid_cells"] = grid[::2].mean()
    figures["grid_pass_fraction_uniform_cells"] = grid[1::2].mean()
    print(f"cells: {args.cells}  shuffles: {args.shuffles}  samples: {args.samples}")
    for k, v in figures.items():
        print(f"{k}: {v:.3f}")


if __name__ == "__main__":
    main()
