"""Speed of the batched grid scores against a straightforward per-cell implementation.

Issue 16 item 8: grid scores (spec mouse-and-entorhinal.md §2, the mean form over annuli) of
4,096 rate maps of 20 x 20 bins, as a path-integrating network's G layer gives them. Maps are
noisy hexagonal grids of random spacing, orientation and phase mixed with noise-only maps,
with a few unvisited bins.

Measured, in the same run:

- ours: ``grid_scores(maps)`` on all maps at once (best of ``--repeats``): FFT
  autocorrelograms of the stack, one sparse bilinear sampling matrix for all rotations,
  masked Pearson correlations in every annulus as matrix products;
- reference: the obvious per-cell code of the same definition (``tests/analysis/
  spatial_reference.py``): the autocorrelogram by a Pearson correlation per lag, rotations by
  ``scipy.ndimage.rotate`` (bilinear), ``np.corrcoef`` inside each annulus, on the first
  ``--subset`` maps; its time for all maps is extrapolated per cell;
- agreement: the largest score difference on the subset (must be <= 1e-6).

Ends with one ``NAME: VALUE`` line per figure.

    python benchmarks/bench_spatial.py              # 4,096 maps, reference on 64
    python benchmarks/bench_spatial.py --quick      # 512 maps, reference on 16
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from brainlike.analysis.spatial import grid_scores

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "analysis"))
from spatial_reference import grid_score_mean_annuli  # noqa: E402


def make_maps(n_maps: int, bins: int = 20, seed: int = 0) -> np.ndarray:
    """Half noisy hexagonal grids (spacing 5-10 bins), half noise; ~2 % unvisited bins."""
    rng = np.random.default_rng(seed)
    y, x = np.meshgrid(np.arange(bins), np.arange(bins), indexing="ij")
    period = rng.uniform(5, 10, n_maps)[:, None, None]
    theta = rng.uniform(0, np.pi / 3, n_maps)[:, None, None]
    phase = rng.uniform(0, bins, (2, n_maps, 1, 1))
    k = 4 * np.pi / (np.sqrt(3) * period)
    grid = sum(
        np.cos(k * (np.cos(theta + t) * (x - phase[0]) + np.sin(theta + t) * (y - phase[1])))
        for t in (0.0, np.pi / 3, 2 * np.pi / 3)
    )
    is_grid = (np.arange(n_maps) % 2 == 0)[:, None, None]
    maps = np.where(is_grid, grid, 0.0) + rng.standard_normal((n_maps, bins, bins))
    maps[rng.random(maps.shape) < 0.02] = np.nan
    return maps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--maps", type=int, default=4096)
    parser.add_argument("--bins", type=int, default=20)
    parser.add_argument("--subset", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="512 maps, reference on 16")
    args = parser.parse_args(argv)
    if args.quick:
        args.maps, args.subset = 512, 16
    maps = make_maps(args.maps, args.bins)

    best = np.inf
    for _ in range(args.repeats):
        start = time.perf_counter()
        result = grid_scores(maps)
        best = min(best, time.perf_counter() - start)

    start = time.perf_counter()
    reference = np.array([grid_score_mean_annuli(m) for m in maps[: args.subset]])
    ref_per_cell = (time.perf_counter() - start) / args.subset
    ref_total = ref_per_cell * args.maps
    diff = np.nanmax(np.abs(result.scores[: args.subset] - reference))
    same_nan = bool(np.array_equal(np.isnan(result.scores[: args.subset]), np.isnan(reference)))

    print(f"maps: {args.maps}")
    print(f"bins_per_side: {args.bins}")
    print(f"convention: {result.convention}")
    print(f"batched_seconds: {best:.4f}")
    print(f"batched_ms_per_cell: {1e3 * best / args.maps:.4f}")
    print(f"reference_cells_timed: {args.subset}")
    print(f"reference_ms_per_cell: {1e3 * ref_per_cell:.3f}")
    print(f"reference_seconds_extrapolated: {ref_total:.2f}")
    print(f"speedup: {ref_total / best:.1f}")
    print(f"max_abs_score_difference: {diff:.3e}")
    print(f"same_nan_pattern: {same_nan}")
    print(f"grid_maps_above_0.3: {np.mean(result.scores[::2] > 0.3):.3f}")
    print(f"noise_maps_above_0.3: {np.mean(result.scores[1::2] > 0.3):.3f}")
    if not (diff <= 1e-6 and same_nan):
        raise SystemExit("batched and per-cell grid scores disagree beyond 1e-6")


if __name__ == "__main__":
    main()
