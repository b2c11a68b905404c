"""Speed, accuracy and memory of the fast PLS mapping against scikit-learn's PLSRegression.

The Brain-Score case of the spec (neural-evaluation.md §10: "PLS-25 over 10 splits for 3,200
stimuli x 9,216 features -> 168 neuroids took 539 s on 2 CPU cores"): float32 activations X
(n, p), targets Y (n, 168), PLS with 25 components and no scaling, 10 shuffle splits with 90 %
of the stimuli for training and 10 % for testing (``ShuffleSplit`` with seed 1; Brain-Score
also stratifies by object, which synthetic stimuli do not have).

Synthetic data shaped like a real layer: X = ReLU(latent factors x mixing + unit noise), with
a decaying factor spectrum; neuroids are noisy linear readouts of the same factors.

Measured, in the same run:

- our path: ``fit_predict_splits(PLSMapping(25), X, [Y], splits)`` for all splits (best of
  ``--repeats``), and each forced path (``primal``, ``kernel``) for comparison;
- scikit-learn: ``PLSRegression(25, scale=False)`` fit + predict on the first
  ``--sklearn-splits`` splits (it takes about a minute per split at full size); its time for
  10 splits is time-per-split x number of splits, and the speedup is against that;
- accuracy on the measured splits: relative prediction difference ``|a - b| / |b|`` per split,
  per-neuroid Pearson r on the test stimuli, and the Brain-Score score (median r over neuroids,
  mean over splits); scikit-learn stops its power iterations at a tolerance (1e-6, at most 500
  iterations), so the same figures are also given against an exact reference on the first
  ``--exact-splits`` splits: NIPALS written out with an SVD for every weight vector and
  explicit deflation of float64 copies of X and Y (the slow obvious implementation);
- peak memory of our path with ``tracemalloc`` (numpy registers its allocations with it; BLAS
  work buffers are not counted), as a ratio to ``X.nbytes``: the extra memory beyond X.

Ends with one ``NAME: VALUE`` line per figure.

    python benchmarks/bench_pls.py                       # full size, sklearn on 10 splits
    python benchmarks/bench_pls.py --sklearn-splits 1    # full size, sklearn on 1 split
    python benchmarks/bench_pls.py --quick               # small shape, sklearn on 1 split
"""

from __future__ import annotations

import argparse
import time
import tracemalloc
import warnings

import numpy as np
from sklearn.cross_decomposition import PLSRegression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import ShuffleSplit
from threadpoolctl import threadpool_info

from brainlike.analysis.mapping import PLSMapping, fit_predict_splits

FULL = {"n": 3200, "p": 9216, "q": 168}
QUICK = {"n": 800, "p": 2304, "q": 40}


def make_data(n: int, p: int, q: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Float32 'activations' and float64 'neuroids' driven by shared latent factors."""
    rng = np.random.default_rng(seed)
    rank = 64
    Z = (rng.standard_normal((n, rank)) * np.geomspace(1.0, 0.05, rank)).astype(np.float32)
    X = np.empty((n, p), dtype=np.float32)
    mixing = rng.standard_normal((rank, p)).astype(np.float32)
    for start in range(0, n, 512):  # build in blocks: no float64 copy of X ever exists
        block = Z[start : start + 512] @ mixing
        block += 0.3 * rng.standard_normal(block.shape, dtype=np.float32)
        X[start : start + 512] = np.maximum(block, 0.0)
    Y = Z.astype(np.float64) @ rng.standard_normal((rank, q))
    Y += 0.5 * Y.std() * rng.standard_normal((n, q)) + 10.0
    return X, Y


def exact_pls_predict(X_train, Y_train, X_test, n_components: int) -> np.ndarray:
    """PLS regression (NIPALS, mode A, regression deflation) with exact weight vectors: the
    leading left singular vector of X_k^T Y_k from a full SVD, X and Y deflated explicitly."""
    Xk = np.array(X_train, dtype=np.float64)
    Yk = np.array(Y_train, dtype=np.float64)
    x_mean, y_mean = Xk.mean(0), Yk.mean(0)
    Xk -= x_mean
    Yk -= y_mean
    p, q = Xk.shape[1], Yk.shape[1]
    W, P, Q = (
        np.zeros((p, n_components)),
        np.zeros((p, n_components)),
        np.zeros((q, n_components)),
    )
    for k in range(n_components):
        w = np.linalg.svd(Xk.T @ Yk, full_matrices=False)[0][:, 0]
        t = Xk @ w
        tt = t @ t
        P[:, k], Q[:, k], W[:, k] = Xk.T @ t / tt, Yk.T @ t / tt, w
        Xk -= np.outer(t, P[:, k])
        Yk -= np.outer(t, Q[:, k])
    coef = W @ np.linalg.pinv(P.T @ W) @ Q.T
    return (np.asarray(X_test, dtype=np.float64) - x_mean) @ coef + y_mean


def pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def run_ours(X, Y, splits, algorithm: str, repeats: int) -> tuple[float, list, str]:
    best, out = np.inf, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fit_predict_splits(PLSMapping(25, algorithm=algorithm), X, [Y], splits)
        best = min(best, time.perf_counter() - t0)
    return best, [row[0] for row in out], algorithm


def peak_ratio(X, Y, splits, algorithm: str) -> float:
    tracemalloc.start()
    tracemalloc.reset_peak()
    fit_predict_splits(PLSMapping(25, algorithm=algorithm), X, [Y], splits)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / X.nbytes


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help=f"small shape {QUICK}")
    parser.add_argument("--splits", type=int, default=10, help="train/test splits (10)")
    parser.add_argument(
        "--sklearn-splits",
        type=int,
        default=None,
        help="splits scikit-learn is timed on (default 10; 1 with --quick)",
    )
    parser.add_argument(
        "--exact-splits", type=int, default=1, help="splits checked against the exact reference"
    )
    parser.add_argument("--repeats", type=int, default=3, help="best of this many runs of ours")
    parser.add_argument(
        "--paths", default="auto,kernel,primal", help="our algorithms to time, comma-separated"
    )
    args = parser.parse_args(argv)
    shape = QUICK if args.quick else FULL
    n_sk = args.sklearn_splits if args.sklearn_splits is not None else (1 if args.quick else 10)
    n_sk = max(0, min(n_sk, args.splits))
    n_exact = max(0, min(args.exact_splits, args.splits))

    X, Y = make_data(**shape)
    splitter = ShuffleSplit(n_splits=args.splits, test_size=0.1, random_state=1)
    splits = list(splitter.split(np.zeros(shape["n"])))
    blas = ", ".join(f"{i['internal_api']} x{i['num_threads']}" for i in threadpool_info())
    print(
        f"X {shape['n']} x {shape['p']} float32 ({X.nbytes / 2**20:.0f} MiB) -> "
        f"{shape['q']} neuroids | PLS-25, {args.splits} splits 90/10 (seed 1) | {blas}"
    )

    paths = [a.strip() for a in args.paths.split(",") if a.strip()]
    rows, results = [], {}
    for algorithm in paths:
        seconds, preds, _ = run_ours(X, Y, splits, algorithm, args.repeats)
        used = PLSMapping(25)._choose(X, shape["q"], len(splits), 1, 0.1 * shape["n"])
        name = f"auto ({used})" if algorithm == "auto" else algorithm
        ratio = peak_ratio(X, Y, splits, algorithm)
        results[algorithm] = (seconds, preds, ratio, used if algorithm == "auto" else algorithm)
        rows.append((name, seconds, ratio))

    sk_times, sk_preds, unconverged = [], [], 0
    for train, test in splits[:n_sk]:
        t0 = time.perf_counter()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ConvergenceWarning)
            ref = PLSRegression(25, scale=False).fit(X[train], Y[train])
        sk_preds.append(ref.predict(X[test].astype(np.float64)))
        sk_times.append(time.perf_counter() - t0)
        unconverged += sum(issubclass(w.category, ConvergenceWarning) for w in caught)
    exact_preds = [
        exact_pls_predict(X[train], Y[train], X[test], 25) for train, test in splits[:n_exact]
    ]
    sk_per_split = float(np.mean(sk_times)) if sk_times else float("nan")
    sk_total = sk_per_split * len(splits)

    print(f"\n{'path':<18}{'seconds':>10}{'per split':>11}{'peak/X':>9}")
    for name, seconds, ratio in rows:
        print(f"{name:<18}{seconds:>10.2f}{seconds / len(splits):>11.3f}{ratio:>9.2f}")
    if n_sk:
        print(
            f"{'scikit-learn':<18}{sk_total:>10.1f}{sk_per_split:>11.2f}{'':>9}"
            f"   ({n_sk} of {len(splits)} splits measured; total = per split x {len(splits)})"
        )

    main_path = "auto" if "auto" in results else paths[0]
    seconds, preds, ratio, used = results[main_path]

    def compare(refs: list[np.ndarray], ours: list[np.ndarray]) -> dict[str, float]:
        rel, r_diff, score_a, score_b = [], [], [], []
        for s, b in enumerate(refs):
            test, a = splits[s][1], ours[s]
            rel.append(np.linalg.norm(a - b) / np.linalg.norm(b))
            ra, rb = pearson(a, Y[test]), pearson(b, Y[test])
            r_diff.append(np.abs(ra - rb).max())
            score_a.append(np.median(ra))
            score_b.append(np.median(rb))
        return {
            "rel": max(rel),
            "dr": max(r_diff),
            "ours": float(np.mean(score_a)),
            "ref": float(np.mean(score_b)),
        }

    vs_sk = compare(sk_preds, preds) if n_sk else None
    vs_exact = compare(exact_preds, preds) if n_exact else None
    sk_vs_exact = compare(exact_preds, sk_preds) if min(n_sk, n_exact) else None
    for label, c, k in (
        ("ours vs scikit-learn", vs_sk, n_sk),
        ("ours vs exact", vs_exact, n_exact),
        ("scikit-learn vs exact", sk_vs_exact, min(n_sk, n_exact)),
    ):
        if c:
            print(
                f"{label:<22} ({k} split(s)): max |a-b|/|b| {c['rel']:.2e}, max per-neuroid "
                f"|dr| {c['dr']:.2e}, score (median r, mean over splits) {c['ours']:.6f} vs "
                f"{c['ref']:.6f}"
            )
    if n_sk:
        print(f"scikit-learn hit its iteration limit {unconverged} times (ConvergenceWarning)")
    agree = {
        a: max(
            np.linalg.norm(results[a][1][s] - preds[s]) / np.linalg.norm(preds[s])
            for s in range(len(splits))
        )
        for a in results
    }
    print("our paths agree to " + ", ".join(f"{a} {v:.1e}" for a, v in agree.items()))

    print(f"\nPLS_ALGORITHM: {used}")
    print(f"PLS_TIME_OURS_S: {seconds:.2f}")
    for a in results:
        if a != main_path:
            print(f"PLS_TIME_{a.upper()}_S: {results[a][0]:.2f}")
    if n_sk:
        print(f"PLS_TIME_SKLEARN_S: {sk_total:.1f}")
        print(f"PLS_SKLEARN_SPLITS_MEASURED: {n_sk}")
        print(f"PLS_SPEEDUP: {sk_total / seconds:.1f}")
        print(f"PLS_MAX_REL_PRED_DIFF: {vs_sk['rel']:.2e}")
        print(f"PLS_MAX_R_DIFF: {vs_sk['dr']:.2e}")
        print(f"PLS_SCORE_DIFF: {abs(vs_sk['ours'] - vs_sk['ref']):.2e}")
    if n_exact:
        print(f"PLS_MAX_REL_PRED_DIFF_EXACT: {vs_exact['rel']:.2e}")
        print(f"PLS_MAX_R_DIFF_EXACT: {vs_exact['dr']:.2e}")
    if sk_vs_exact:
        print(f"SKLEARN_MAX_REL_PRED_DIFF_EXACT: {sk_vs_exact['rel']:.2e}")
    print(f"PLS_PEAK_MEMORY_RATIO: {ratio:.2f}")


if __name__ == "__main__":
    main()
