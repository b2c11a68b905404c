"""Float64 linear algebra on a feature matrix X read one block of rows at a time.

Feature matrices are large (thousands of stimuli by tens of thousands of float32 units) and
often memory-mapped: the mappings never up-cast, centre or copy X whole. Products with X, its
column moments and its Gram matrix are taken in float64 one block of rows at a time, within a
memory budget. Small problems run BLAS on one thread.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np

# Rows of X are converted to float64 (and gathered) this many bytes at a time.
_BLOCK_BYTES = 16 * 2**20
# Below this many elements of X, PLS runs BLAS on one thread (see _blas_threads_for).
_SMALL_X = 2**22
# Extra memory the PLS fast path aims to stay under, as a fraction of X.nbytes (floor 16 MiB).
_MEMORY_FRACTION = 1.0
_MIN_BUDGET = 16 * 2**20


def _block_rows(p: int, n: int | None = None) -> int:
    """Rows per float64 block: at most _BLOCK_BYTES, and (for an X of n rows) at most a quarter
    of X unless that is under 1 MiB, so a block buffer never costs more than half a float32 X."""
    step = _BLOCK_BYTES // (8 * max(p, 1))
    if n is not None:
        step = min(step, max(-(-n // 4), 2**20 // (8 * max(p, 1))))
    return max(1, step)


def _blocks(X: np.ndarray, rows: np.ndarray | None = None) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(positions, X[rows][positions] as float64)``, one block of rows at a time.

    A float64 ``X`` yields views (or gathered copies of one block); a float32 ``X`` is converted
    into one reused float64 buffer, so the whole array is never up-cast.
    """
    n = X.shape[0] if rows is None else len(rows)
    step = _block_rows(X.shape[1], X.shape[0])
    buffer = None
    for start in range(0, n, step):
        stop = min(n, start + step)
        src = slice(start, stop) if rows is None else rows[start:stop]
        if X.dtype == np.float64:
            yield slice(start, stop), X[src]
            continue
        if buffer is None:
            buffer = np.empty((min(step, n), X.shape[1]))
        block = buffer[: stop - start]
        np.copyto(block, X[src])
        yield slice(start, stop), block


def _x_dot(X: np.ndarray, B: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``X[rows] @ B`` in float64, shape (len(rows), B.shape[1])."""
    if X.dtype == np.float64 and rows is None:
        return X @ B
    out = np.empty((X.shape[0] if rows is None else len(rows), B.shape[1]))
    for sl, block in _blocks(X, rows):
        np.matmul(block, B, out=out[sl])
    return out


def _xt_dot(X: np.ndarray, B: np.ndarray, rows: np.ndarray | None = None) -> np.ndarray:
    """``X[rows].T @ B`` in float64 (``B`` has one row per selected row), shape (p, r)."""
    if X.dtype == np.float64 and rows is None:
        return X.T @ B
    out = np.zeros((X.shape[1], B.shape[1]))
    part = np.empty_like(out)
    for sl, block in _blocks(X, rows):
        np.matmul(block.T, B[sl], out=part)
        out += part
    return out


def _column_mean_std(
    X: np.ndarray, rows: np.ndarray | None, with_std: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """Column means (and ddof=1 standard deviations, zeros -> 1) of ``X[rows]``."""
    n = X.shape[0] if rows is None else len(rows)
    mean = np.zeros(X.shape[1])
    for _, block in _blocks(X, rows):
        mean += block.sum(axis=0)
    mean /= n
    if not with_std:
        return mean, None
    std = np.sqrt(_centred_sumsq(X, rows, mean) / max(n - 1, 1))
    std[std == 0.0] = 1.0  # as scikit-learn: constant columns are left unscaled
    return mean, std


def _centred_sumsq(X: np.ndarray, rows: np.ndarray | None, mean: np.ndarray) -> np.ndarray:
    """Column sums of squares of ``X[rows] - mean``, shape (p,)."""
    sumsq = np.zeros(X.shape[1])
    for _, block in _blocks(X, rows):
        sumsq += ((block - mean) ** 2).sum(axis=0)
    return sumsq


def _gram(
    X: np.ndarray,
    center: np.ndarray | None = None,
    col_scale: np.ndarray | None = None,
    budget: float | None = None,
) -> np.ndarray:
    """``G = Xs Xs^T`` (float64, n x n) with ``Xs = (X - center) * col_scale``, built from pairs
    of float64 row blocks (upper triangle, mirrored); the two block buffers share what is left
    of ``budget`` bytes after G."""
    n, p = X.shape
    step = _block_rows(p, n)
    if budget is not None:
        spare = (budget - 8.0 * n * n) / 2.5
        step = max(min(step, int(spare // (8 * p))), min(step, 64))
    G = np.empty((n, n))
    a_buf = np.empty((min(step, n), p))
    b_buf = np.empty_like(a_buf) if step < n else None

    def load(buf: np.ndarray, sl: slice) -> np.ndarray:
        block = buf[: sl.stop - sl.start]
        if center is None:
            np.copyto(block, X[sl])
        else:
            np.subtract(X[sl], center, out=block)
        if col_scale is not None:
            block *= col_scale
        return block

    bounds = [slice(s, min(n, s + step)) for s in range(0, n, step)]
    for i, rows_i in enumerate(bounds):
        a = load(a_buf, rows_i)
        np.matmul(a, a.T, out=G[rows_i, rows_i])
        for rows_j in bounds[i + 1 :]:
            b = load(b_buf, rows_j)
            np.matmul(a, b.T, out=G[rows_i, rows_j])
            G[rows_j, rows_i] = G[rows_i, rows_j].T
    return G


def _complement(rows: np.ndarray, n: int) -> np.ndarray:
    mask = np.ones(n, dtype=bool)
    mask[rows] = False
    return np.flatnonzero(mask)


def _sym(M: np.ndarray) -> np.ndarray:
    return 0.5 * (M + np.swapaxes(M, -1, -2))


def _budget(X: np.ndarray) -> float:
    return max(_MEMORY_FRACTION * X.nbytes, _MIN_BUDGET)


_THREADS = None


def _one_blas_thread():
    """Context limiting BLAS to one thread: the many small per-problem products in between the
    big shared passes run faster without threading overheads (and on a busy machine)."""
    global _THREADS
    if _THREADS is None:
        from threadpoolctl import ThreadpoolController

        _THREADS = ThreadpoolController()
    return _THREADS.limit(limits=1, user_api="blas")


def _blas_threads_for(X: np.ndarray):
    """One BLAS thread for small X: its products are too small to gain from threads, and
    threads that wait on each other slow to a crawl when other processes share the cores."""
    return _one_blas_thread() if X.size < _SMALL_X else contextlib.nullcontext()
