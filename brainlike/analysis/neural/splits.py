"""Seeds, independent random streams and train/test splits of the stimuli.

Every estimator takes ``seed`` (int, SeedSequence or Generator). Independent jobs (the
splits, the trial halves) draw from independent streams of one seed, so the same seed gives
the same splits and trial permutations in every estimator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

Seed = int | np.random.SeedSequence | np.random.Generator | None


def _rng(seed: Seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _streams(seed: Seed, n: int) -> list[np.random.Generator]:
    """Independent generators for independent jobs (splits, trial halves) from one seed."""
    if isinstance(seed, np.random.Generator):
        if hasattr(seed, "spawn"):  # numpy >= 1.25
            return list(seed.spawn(n))
        seed = np.random.SeedSequence(seed.integers(2**63, size=4))
    sequence = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
    return [np.random.default_rng(s) for s in sequence.spawn(n)]


def _seed_repr(seed: Seed) -> Any:
    return seed if isinstance(seed, (int, type(None))) else repr(seed)


def train_test_splits(
    n_stimuli: int,
    n_splits: int = 10,
    train_fraction: float = 0.5,
    seed: Seed = 0,
    stratify: Sequence[Any] | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """Random train/test splits of the stimuli (sorted index arrays).

    Parameters
    ----------
    n_stimuli : int
    n_splits : int
    train_fraction : float
        Fraction of stimuli (of every class, with ``stratify``) used for training.
    seed : int, SeedSequence or Generator
    stratify : sequence, shape (stimulus,), optional
        Class labels; each class is split in the same proportion.

    Returns
    -------
    list of (train_idx, test_idx)
    """
    if not 0.0 < train_fraction < 1.0:
        raise ValueError(f"train_fraction must lie strictly between 0 and 1; got {train_fraction}")
    rng = _rng(seed)
    splits = []
    if stratify is None:
        n_train = int(round(train_fraction * n_stimuli))
        if n_train < 2 or n_stimuli - n_train < 3:
            raise ValueError(
                f"{n_stimuli} stimuli with train_fraction={train_fraction} leave {n_train} "
                f"training and {n_stimuli - n_train} test stimuli; need at least 2 and 3"
            )
        for _ in range(n_splits):
            perm = rng.permutation(n_stimuli)
            splits.append((np.sort(perm[:n_train]), np.sort(perm[n_train:])))
        return splits
    labels = np.asarray(stratify)
    if labels.shape != (n_stimuli,):
        raise ValueError(
            f"stratify must have one label per stimulus ({n_stimuli}); got {labels.shape}"
        )
    members = [np.flatnonzero(labels == c) for c in np.unique(labels)]
    for _ in range(n_splits):
        train = []
        for idx in members:
            perm = rng.permutation(idx)
            train.append(perm[: int(round(train_fraction * len(idx)))])
        train = np.sort(np.concatenate(train))
        test = np.setdiff1d(np.arange(n_stimuli), train)
        if len(train) < 2 or len(test) < 3:
            raise ValueError(
                f"stratified split left {len(train)} training and {len(test)} test stimuli; "
                "need at least 2 and 3"
            )
        splits.append((train, test))
    return splits


def _check_splits(splits: Sequence, n_stimuli: int) -> list[tuple[np.ndarray, np.ndarray]]:
    out = []
    for i, (train, test) in enumerate(splits):
        train, test = np.asarray(train, dtype=int), np.asarray(test, dtype=int)
        if np.intersect1d(train, test).size:
            raise ValueError(f"split {i} uses some stimuli for training and testing")
        if len(test) < 3 or len(train) < 2:
            raise ValueError(f"split {i} has {len(train)} train / {len(test)} test stimuli")
        if max(train.max(), test.max()) >= n_stimuli or min(train.min(), test.min()) < 0:
            raise ValueError(f"split {i} indexes outside the {n_stimuli} stimuli")
        out.append((train, test))
    if not out:
        raise ValueError("splits is empty; pass at least one (train, test) pair")
    return out


def _resolve_splits(
    splits: Sequence | None,
    n_stimuli: int,
    n_splits: int,
    train_fraction: float,
    seed: Seed,
    stratify: Sequence | None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The given splits, checked, or ``n_splits`` random ones drawn with ``seed``."""
    if splits is None:
        splits = train_test_splits(n_stimuli, n_splits, train_fraction, seed, stratify)
    return _check_splits(splits, n_stimuli)
