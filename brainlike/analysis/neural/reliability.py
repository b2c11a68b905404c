"""Split-half reliability and the Spearman-Brown correction behind every noise ceiling.

Pearson r between matching columns, the Spearman-Brown prophecy, trial halves drawn with one
permutation per bootstrap (spec §2; odd counts: :data:`SPLIT_HALF_CONVENTIONS`), the
split-half reliability of each neuroid and the selection of reliable neuroids (spec §1), and
the noise correction ``num / sqrt(SB(r_map) SB(r_tgt))`` shared by predictivity,
inter-animal consistency and RSA (spec §4-§6).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brainlike.analysis.neural.arrays import _as_responses, _check_min_trials
from brainlike.analysis.neural.splits import Seed, _rng

SPLIT_HALF_CONVENTIONS = ("unequal", "equal")
"""How a stimulus with an odd number ``n`` of available trials is halved. ``"unequal"`` (the
default): the first ``(n - 1) / 2`` trials in permuted order against the other ``(n + 1) / 2``.
``"equal"``: the first ``(n - 1) / 2`` against the next ``(n - 1) / 2``, leaving out the last
trial of the permutation (one random trial). Even counts halve alike under both; equal halves
read a little lower (about 0.01 in split-half reliability on real data)."""


def spearman_brown(r: Any, n: float = 2.0) -> Any:
    """Spearman-Brown prophecy: reliability of ``n`` times as many trials, ``n r / (1 + (n-1) r)``.

    With ``n = 2`` this corrects a split-half correlation to the full number of trials:
    ``SB(r) = 2 r / (1 + r)``. ``r = -1 / (n - 1)`` gives NaN.

    Parameters
    ----------
    r : float or ndarray
    n : float

    Returns
    -------
    float or ndarray, same shape as ``r``
    """
    # spec: neural-evaluation.md (preamble): SB(r) = 2r / (1 + r)
    r_arr = np.asarray(r, dtype=float)
    denominator = 1.0 + (n - 1.0) * r_arr
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.where(denominator == 0, np.nan, n * r_arr / denominator)
    return float(out) if out.ndim == 0 else out


def pearson_columns(a: Any, b: Any, nan_policy: str = "propagate") -> Any:
    """Pearson r between matching columns of ``a`` and ``b`` (correlation along axis 0).

    Parameters
    ----------
    a, b : ndarray, shape (n, ...)
        Same shape; e.g. (stimulus, neuroid) predictions and responses.
    nan_policy : {"propagate", "omit"}
        ``"omit"`` correlates each column over the rows where both are finite.

    Returns
    -------
    ndarray, shape (...), or float for 1-d inputs. NaN where a column is constant (or has
    fewer than 2 usable rows).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"a and b must have the same shape; got {a.shape} and {b.shape}")
    if nan_policy not in ("propagate", "omit"):
        raise ValueError(f"nan_policy must be 'propagate' or 'omit'; got {nan_policy!r}")
    if nan_policy == "omit":
        mask = np.isfinite(a) & np.isfinite(b)
        n = mask.sum(axis=0)
        a0, b0 = np.where(mask, a, 0.0), np.where(mask, b, 0.0)
        with np.errstate(invalid="ignore", divide="ignore"):
            ac = np.where(mask, a0 - a0.sum(axis=0) / n, 0.0)
            bc = np.where(mask, b0 - b0.sum(axis=0) / n, 0.0)
        scale_a, scale_b = np.abs(a0).max(axis=0), np.abs(b0).max(axis=0)
    else:
        n = np.full(a.shape[1:], a.shape[0])
        ac, bc = a - a.mean(axis=0), b - b.mean(axis=0)
        scale_a, scale_b = np.abs(a).max(axis=0), np.abs(b).max(axis=0)
    norm_a = np.sqrt((ac * ac).sum(axis=0))
    norm_b = np.sqrt((bc * bc).sum(axis=0))
    # a column whose spread is rounding noise relative to its values is constant
    root_n = np.sqrt(np.maximum(n, 1))
    constant = (norm_a <= 1e-12 * scale_a * root_n) | (norm_b <= 1e-12 * scale_b * root_n)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (ac * bc).sum(axis=0) / (norm_a * norm_b)
    r = np.where(constant | (n < 2), np.nan, r)
    return float(r) if np.ndim(r) == 0 else r


def _trial_permutations(n_trials: int, n_bootstraps: int, seed: Seed) -> list[np.ndarray]:
    """One trial permutation per bootstrap, applied to every stimulus (spec §2)."""
    if n_bootstraps < 1:
        raise ValueError(f"n_bootstraps must be at least 1; got {n_bootstraps}")
    rng = _rng(seed)
    return [rng.permutation(n_trials) for _ in range(n_bootstraps)]


def _check_split_half(split_half: str) -> None:
    if split_half not in SPLIT_HALF_CONVENTIONS:
        raise ValueError(f"split_half must be one of {SPLIT_HALF_CONVENTIONS}; got {split_half!r}")


def _half_averages(
    Y: np.ndarray, perm: np.ndarray, split_half: str = "unequal"
) -> tuple[np.ndarray, np.ndarray]:
    """Average the two halves of each stimulus' available trials in permuted order.

    The first ``n // 2`` available trials (in the order ``perm``) of every stimulus and neuroid
    form half 1; half 2 is the rest (``split_half="unequal"``) or the next ``n // 2``
    (``"equal"``: with odd ``n`` the last trial in permuted order is left out). Without NaN and
    unequal halves this is ``Y[..., perm[:T // 2]]`` vs the rest.
    """
    # spec: neural-evaluation.md §2 (one permutation per bootstrap, applied to all stimuli);
    # the odd-count convention: SPLIT_HALF_CONVENTIONS
    Yp = Y[..., perm]
    available = ~np.isnan(Yp)
    if available.all():
        h = Yp.shape[-1] // 2
        end = 2 * h if split_half == "equal" else Yp.shape[-1]
        return Yp[..., :h].mean(axis=-1), Yp[..., h:end].mean(axis=-1)
    position = np.cumsum(available, axis=-1) - 1
    half = available.sum(axis=-1, keepdims=True) // 2
    first = available & (position < half)
    second = available & ~first
    if split_half == "equal":
        second &= position < 2 * half
    values = np.where(available, Yp, 0.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        y1 = (values * first).sum(axis=-1) / first.sum(axis=-1)
        y2 = (values * second).sum(axis=-1) / second.sum(axis=-1)
    return y1, y2


def split_half_reliability(
    Y: Any,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    stimulus_ids: Sequence[Any] | None = None,
    split_half: str = "unequal",
) -> np.ndarray:
    """Spearman-Brown-corrected split-half reliability per neuroid (spec §2).

    Each bootstrap draws one permutation of the trial slots, applied to every stimulus; each
    stimulus splits its own available (non-NaN) trials in that order: the first ``n // 2``
    form half 1, the rest half 2. Reliability = SB(r(Y1, Y2)) across stimuli, averaged over
    bootstraps (NaN bootstraps, e.g. a neuroid constant in one half, are skipped).

    Odd trial counts: by default (``split_half="unequal"``) a stimulus with 5 trials averages
    2 trials against the other 3. ``split_half="equal"`` averages 2 against 2 and leaves out
    the fifth trial of the permutation (a random one); this reads slightly lower (about 0.01 on
    real data). Both apply SB with factor 2. Even counts are halved alike either way.

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial) or (stimulus, neuroid, trial, time_bin)
    n_bootstraps : int
        Number of random halvings (100 in the mouse work, 900 in the primate work).
    seed : int, SeedSequence or Generator
        Permutations are ``rng.permutation(n_trials)`` for each bootstrap in turn, with
        ``rng = np.random.default_rng(seed)``.
    stimulus_ids : sequence, optional
        Used only to name a stimulus in the error for too few trials.
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`).

    Returns
    -------
    ndarray, shape (neuroid,) (or (neuroid, time_bin) for 4-d input)
    """
    # spec: neural-evaluation.md §2
    _check_split_half(split_half)
    arr = _as_responses(Y, allow_time=True)
    if arr.ndim == 4:  # each time bin is its own "neuroid"; trials move to the last axis
        s, n, t, b = arr.shape
        flat = np.moveaxis(arr, 2, 3).reshape(s, n * b, t)
        rel = split_half_reliability(flat, n_bootstraps, seed, stimulus_ids, split_half)
        return rel.reshape(n, b)
    _check_min_trials(arr, stimulus_ids=stimulus_ids)
    total = np.zeros(arr.shape[1])
    valid = np.zeros(arr.shape[1])
    for perm in _trial_permutations(arr.shape[2], n_bootstraps, seed):
        y1, y2 = _half_averages(arr, perm, split_half)
        rel = spearman_brown(pearson_columns(y1, y2))
        ok = np.isfinite(rel)
        total += np.where(ok, rel, 0.0)
        valid += ok
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(valid > 0, total / valid, np.nan)


def select_reliable_neuroids(
    Y: Any,
    threshold: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    animal: Sequence[str] | None = None,
    min_per_animal: int = 0,
    split_half: str = "unequal",
) -> np.ndarray:
    """Neuroids whose split-half reliability passes ``threshold`` (spec §1, mouse work).

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial)
    threshold : float
        0.5 in the Neuropixels work, 0.75 for calcium imaging.
    n_bootstraps, seed
        Passed to :func:`split_half_reliability`.
    animal : sequence of str, shape (neuroid,), optional
        With ``min_per_animal``: also drop every neuroid of an animal that keeps fewer than
        ``min_per_animal`` reliable neuroids.
    min_per_animal : int
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:func:`split_half_reliability`).

    Returns
    -------
    ndarray of bool, shape (neuroid,)
    """
    reliability = split_half_reliability(
        Y, n_bootstraps=n_bootstraps, seed=seed, split_half=split_half
    )
    keep = np.nan_to_num(reliability, nan=-np.inf) >= threshold
    if animal is not None and min_per_animal > 0:
        labels = np.asarray(animal)
        if labels.shape != keep.shape:
            raise ValueError(f"animal has {labels.size} entries but Y has {keep.size} neuroids")
        for name in np.unique(labels):
            members = labels == name
            if keep[members].sum() < min_per_animal:
                keep[members] = False
    return keep


# The numerator of the noise-corrected estimators: "halves" as the spec, "full" as the public
# code of the mouse work (see noise_corrected_predictivity).
_NUMERATORS = ("halves", "full")


def _check_numerator(numerator: str) -> None:
    if numerator not in _NUMERATORS:
        raise ValueError(f"numerator must be one of {_NUMERATORS}; got {numerator!r}")


def _corrected(num: np.ndarray, r_map: np.ndarray, r_tgt: np.ndarray) -> np.ndarray:
    """num / sqrt(SB(r_map) SB(r_tgt)); NaN when a denominator term is <= 0 (spec §4)."""
    # spec: neural-evaluation.md §4: score = num / sqrt(SB(r_map) * SB(r_tgt))
    sb_map, sb_tgt = spearman_brown(r_map), spearman_brown(r_tgt)
    ok = (sb_map > 0) & (sb_tgt > 0) & np.isfinite(sb_map) & np.isfinite(sb_tgt)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, num / np.sqrt(np.where(ok, sb_map * sb_tgt, 1.0)), np.nan)
