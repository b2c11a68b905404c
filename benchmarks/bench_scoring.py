"""Speed of the noise-corrected predictivity loop (many small maps) against a naive loop.

``neural.noise_corrected_predictivity`` fits, for each of 10 splits x B trial-half bootstraps x
2 halves x each target animal, one map from the model features to that animal's neuroids. The
shape measured here is the one of the scoring profile: 200 stimuli (100 for training), 160
neuroids in 4 animals of 40, 10 trials, 20 bootstraps, float32 features X of 64 or 16,384 units;
mappings PLS-25 (no scaling) and ridge (alpha = 1).

Measured in the same run:

- ours: ``noise_corrected_predictivity(X, Y, mapping=name, n_bootstraps=B, animal=animal)``
  with the mapping name ("pls", "ridge"): ``fit_predict_splits`` runs every (split, target)
  map of a call together (PLS in lockstep over stacks of problems, ridge as one solve per
  split for all target columns);
- naive: the same call with a scikit-learn estimator (``PLSRegression(25, scale=False)``,
  ``Ridge(alpha=1)``), which ``fit_predict_splits`` clones, fits and asks to predict once per
  split and target. It runs with ``--baseline-bootstraps`` bootstraps (default 2) and its time
  is scaled linearly to B bootstraps (the work is proportional to the number of bootstraps;
  the scaled figure is labelled as such).

One untimed warm-up call (imports, first-call costs) comes first. Ends with one ``NAME: VALUE``
line per figure; ``NOISE_CORRECTED_PLS_SPEEDUP`` and ``NOISE_CORRECTED_RIDGE_SPEEDUP`` are for
the 16,384-unit features.

    python benchmarks/bench_scoring.py
    python benchmarks/bench_scoring.py --quick     # 4 bootstraps, naive with 1
"""

from __future__ import annotations

import argparse
import time
import warnings

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import Ridge

from brainlike.analysis import neural


def make_responses(n_stim=200, n_animals=4, per_animal=40, n_trials=10, seed=0):
    """Trial responses (stimulus, neuroid, trial) with a stimulus-driven part and trial noise,
    and the animal of every neuroid."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n_stim, 12))
    q = n_animals * per_animal
    signal = Z @ rng.standard_normal((12, q))
    Y = signal[:, :, None] + 1.5 * rng.standard_normal((n_stim, q, n_trials))
    animal = np.repeat([f"a{i}" for i in range(n_animals)], per_animal)
    return Y, animal


def timed(X, Y, animal, mapping, n_bootstraps):
    start = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        neural.noise_corrected_predictivity(
            X, Y, mapping=mapping, n_bootstraps=n_bootstraps, animal=animal
        )
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bootstraps", type=int, default=20)
    parser.add_argument("--baseline-bootstraps", type=int, default=2)
    parser.add_argument("--features", default="64,16384")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.bootstraps, args.baseline_bootstraps = 4, 1
    Y, animal = make_responses()
    rng = np.random.default_rng(1)
    sizes = [int(v) for v in args.features.split(",")]
    B, b0 = args.bootstraps, args.baseline_bootstraps
    print(f"Y {Y.shape} in {len(set(animal))} animals; {B} bootstraps, 10 splits, train 100")
    timed(rng.standard_normal((200, 32)).astype(np.float32), Y, animal, "pls", 1)  # warm-up
    lines = {}
    for p in sizes:
        X = rng.standard_normal((200, p)).astype(np.float32)
        for name, naive in (("pls", PLSRegression(25, scale=False)), ("ridge", Ridge(1.0))):
            ours = timed(X, Y, animal, name, B)
            base = timed(X, Y, animal, naive, b0) * B / b0
            print(
                f"p={p:6d} {name:5s}: ours {ours:7.2f} s   naive clone/fit/predict "
                f"{base:8.2f} s (measured with {b0} bootstraps, scaled x{B / b0:g})   "
                f"speedup {base / ours:6.1f}x",
                flush=True,
            )
            key = f"NOISE_CORRECTED_{name.upper()}"
            lines[f"{key}_SECONDS_P{p}"] = round(ours, 3)
            lines[f"{key}_NAIVE_SCALED_SECONDS_P{p}"] = round(base, 2)
            lines[f"{key}_SPEEDUP_P{p}"] = round(base / ours, 1)
            if p == max(sizes):
                lines[f"{key}_SPEEDUP"] = round(base / ours, 1)
    for key, value in lines.items():
        print(f"{key}: {value}")


if __name__ == "__main__":
    main()
