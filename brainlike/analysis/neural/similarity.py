"""Representational similarity: RDMs, RSA (plain and noise-corrected) and linear CKA (spec §6).

An RDM is 1 - Pearson r between stimulus patterns; RSA compares the upper triangles of two
RDMs (Pearson or Spearman). Noise-corrected RSA divides by the Spearman-Brown-corrected
split-half RSA of the target. CKA is the centred kernel alignment of two representations,
biased or unbiased.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from brainlike.analysis.neural.arrays import (
    _SEM_NOTE,
    _as_features,
    _as_responses,
    _check_min_trials,
    _groups,
    _nanmean,
    _nanmedian,
    _sem,
    _trial_summary,
)
from brainlike.analysis.neural.reliability import (
    _check_numerator,
    _check_split_half,
    _corrected,
    _half_averages,
    _trial_permutations,
    pearson_columns,
)
from brainlike.analysis.neural.splits import Seed, _seed_repr, _streams
from brainlike.analysis.score import Score


def rdm(responses: Any) -> np.ndarray:
    """Representational dissimilarity matrix: 1 - Pearson r between stimulus patterns.

    Parameters
    ----------
    responses : ndarray, shape (stimulus, feature)
        Trial-averaged responses (or model features).

    Returns
    -------
    ndarray, shape (stimulus, stimulus); rows of a constant pattern are NaN.
    """
    # spec: neural-evaluation.md §6: RDM = 1 - Pearson correlation between stimulus patterns
    x = np.asarray(responses, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"responses must be (stimulus, feature); got shape {x.shape}")
    centred = x - x.mean(axis=1, keepdims=True)
    norm = np.sqrt((centred * centred).sum(axis=1))
    constant = norm <= 1e-12 * np.abs(x).max(axis=1) * np.sqrt(x.shape[1])
    with np.errstate(invalid="ignore", divide="ignore"):
        z = centred / np.where(constant, np.nan, norm)[:, None]
    out = 1.0 - z @ z.T
    np.fill_diagonal(out, np.where(constant, np.nan, 0.0))
    return out


def _upper(matrix: np.ndarray) -> np.ndarray:
    """The upper triangle (no diagonal) of an RDM, row by row (scipy's squareform order).

    Accepts a square (stimulus, stimulus) matrix or the condensed triangle itself: a flat
    vector, a 1 x k row (as MATLAB files store RDMs) or a k x 1 column, k = n(n-1)/2.
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim == 2 and 1 in m.shape and m.shape != (1, 1):
        m = m.ravel()
    if m.ndim == 1:
        n = (1 + math.isqrt(1 + 8 * m.size)) // 2
        if n * (n - 1) // 2 != m.size:
            below = (n * (n - 1) // 2, n)
            raise ValueError(
                f"a condensed RDM has n(n-1)/2 entries for n stimuli (the upper triangle "
                f"without the diagonal); got {m.size}, between {below[0]} ({below[1]} stimuli) "
                f"and {below[0] + n} ({n + 1} stimuli); pass the full (stimulus, stimulus) "
                f"matrix or its upper triangle"
            )
        return m
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(
            f"an RDM must be square (stimulus, stimulus) or a condensed upper triangle "
            f"(length or 1 x n(n-1)/2); got shape {m.shape}"
        )
    return m[np.triu_indices(m.shape[0], k=1)]


def _rank(v: np.ndarray) -> np.ndarray:
    from scipy.stats import rankdata

    return rankdata(v, axis=0)


def compare_rdms(a: Any, b: Any, method: str = "pearson") -> float:
    """Correlation between the upper triangles (no diagonal) of two RDMs.

    Parameters
    ----------
    a, b : ndarray, shape (stimulus, stimulus), or condensed upper triangles
        A condensed RDM is the upper triangle without the diagonal, row by row (the order of
        ``scipy.spatial.distance.squareform`` and MATLAB's ``pdist``/``squareform``), as a
        flat vector of length n(n-1)/2 or a 1 x n(n-1)/2 row (as MATLAB files store it).
    method : {"pearson", "spearman"}

    Returns
    -------
    float
    """
    # spec: neural-evaluation.md §6: compare upper triangles (no diagonal), Pearson or Spearman
    if method not in ("pearson", "spearman"):
        raise ValueError(f"method must be 'pearson' or 'spearman'; got {method!r}")
    ua, ub = _upper(a), _upper(b)
    if ua.shape != ub.shape:
        raise ValueError(f"RDMs differ in size: {ua.shape} vs {ub.shape} upper-triangle entries")
    if np.isnan(ua).any() or np.isnan(ub).any():
        return float("nan")
    if method == "spearman":
        ua, ub = _rank(ua), _rank(ub)
    return pearson_columns(ua, ub)


def rsa(X: Any, Y: Any, method: str = "pearson") -> float:
    """RSA between two response sets over the same stimuli: compare_rdms(rdm(X), rdm(Y)).

    Parameters
    ----------
    X, Y : ndarray, shape (stimulus, feature); feature counts may differ.
    method : {"pearson", "spearman"}
    """
    return compare_rdms(rdm(X), rdm(Y), method)


def _rsa_bootstrap_terms(
    target: np.ndarray,
    perms: list[np.ndarray],
    method: str,
    model: np.ndarray | None = None,
    source: np.ndarray | None = None,
    numerator: str = "halves",
    split_half: str = "unequal",
) -> np.ndarray:
    """Per bootstrap: rsa(A1, B2) / sqrt(SB(rsa(A1, A2)) SB(rsa(B1, B2))) (spec §6, eq. 3.9)."""
    out = np.empty(len(perms))
    model_rdm = _upper(rdm(model)) if model is not None else None
    full_num = None
    if numerator == "full":
        full_source = model_rdm if model is not None else rdm(_nanmean(source, axis=2))
        full_num = compare_rdms(full_source, rdm(_nanmean(target, axis=2)), method)
    for i, perm in enumerate(perms):
        y1, y2 = _half_averages(target, perm, split_half)
        r_tgt = compare_rdms(rdm(y1), rdm(y2), method)
        if model_rdm is not None:
            # deterministic source: rsa(A1, A2) = 1, SB(1) = 1
            num, r_map = compare_rdms(model_rdm, rdm(y2), method), 1.0
        else:
            x1, x2 = _half_averages(source, perm, split_half)
            rdm_x1 = rdm(x1)
            num = compare_rdms(rdm_x1, rdm(y2), method)
            r_map = compare_rdms(rdm_x1, rdm(x2), method)
        if full_num is not None:
            num = full_num
        out[i] = _corrected(np.asarray(num), np.asarray(r_map), np.asarray(r_tgt))
    return out


def noise_corrected_rsa(
    X: Any,
    Y: Any,
    n_bootstraps: int = 100,
    *,
    animal: Sequence[str] | None = None,
    seed: Seed = 0,
    method: str = "pearson",
    numerator: str = "halves",
    split_half: str = "unequal",
) -> Score:
    """Noise-corrected RSA of model features against each animal (spec §6).

    Per animal: the mean over split-half bootstraps of ``rsa(X, Y2) / sqrt(SB(rsa(Y1, Y2)))``
    (NaN when SB <= 0); the value is the median over animals with the s.e.m. over animals.

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit)
    Y : ndarray, shape (stimulus, neuroid, trial)
    n_bootstraps : int
    animal : sequence of str, shape (neuroid,), optional
        Without it all neuroids form one (pseudo-)population.
    seed : int, SeedSequence or Generator
        Trial permutations come from the second of ``SeedSequence(seed).spawn(2)``, so the
        halves match :func:`noise_corrected_predictivity` with the same seed.
    method : {"pearson", "spearman"}
    numerator : {"halves", "full"}
        ``"full"`` uses rsa(X, Y) of all trials in the numerator (see
        :func:`noise_corrected_predictivity`).
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`).

    Returns
    -------
    Score with ``raw`` per animal (order of first appearance).
    """
    # spec: neural-evaluation.md §6 (noise-corrected RSA; per animal, then median)
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    X = _as_features(X, Y.shape[0])
    groups = _groups(animal, Y.shape[1])
    names = ["all"] if animal is None else [str(np.asarray(animal)[g[0]]) for g in groups]
    perms = _trial_permutations(Y.shape[2], n_bootstraps, _streams(seed, 2)[1])
    _check_numerator(numerator)
    _check_split_half(split_half)
    per_boot = np.stack(
        [
            _rsa_bootstrap_terms(
                Y[:, g], perms, method, model=X, numerator=numerator, split_half=split_half
            )
            for g in groups
        ]
    )
    raw = _nanmean(per_boot, axis=1)
    return Score(
        value=float(_nanmedian(raw)),
        error=_sem(raw),
        metric="noise_corrected_rsa",
        raw=raw,
        parameters={
            "mapping": "rsa",
            "method": method,
            "n_bootstraps": n_bootstraps,
            "seed": _seed_repr(seed),
            "numerator": numerator,
            "split_half": split_half,
        },
        provenance={
            "animals": names,
            "center": "median over animals of the mean over bootstraps",
            "error": _SEM_NOTE.format(what="animals"),
            "n_stimuli": int(Y.shape[0]),
            "n_neuroids": int(Y.shape[1]),
            **_trial_summary(counts),
        },
    )


def _centred_gram(x: np.ndarray) -> np.ndarray:
    xc = x - x.mean(axis=0)
    return xc @ xc.T


def linear_cka(X: Any, Y: Any, unbiased: bool = False) -> float:
    """Linear centred kernel alignment between two representations of the same stimuli.

    Biased (Kornblith et al. 2019): with column-centred X and Y,
    ``||Y^T X||_F^2 / (||X^T X||_F ||Y^T Y||_F)``. Unbiased: the same ratio with the unbiased
    HSIC estimator of Song et al. (2012) on the linear Gram matrices, as used by Nguyen et al.
    (2021) and Brain-Score's CKA benchmarks (needs at least 4 stimuli).

    Parameters
    ----------
    X : ndarray, shape (stimulus, p)
    Y : ndarray, shape (stimulus, q)
    unbiased : bool

    Returns
    -------
    float in [0, 1] (biased); the unbiased estimate can be slightly outside.
    """
    # spec: neural-evaluation.md §6 (linear CKA, centred) and §10 (unbiased by default there)
    x = np.asarray(X, dtype=np.float64)
    y = np.asarray(Y, dtype=np.float64)
    x = x.reshape(len(x), -1)
    y = y.reshape(len(y), -1)
    if x.shape[0] != y.shape[0]:
        raise ValueError(f"X and Y need the same stimuli; got {x.shape[0]} and {y.shape[0]} rows")
    n = x.shape[0]
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("X and Y must be finite; drop NaN/inf units first")
    if not unbiased:
        xc, yc = x - x.mean(axis=0), y - y.mean(axis=0)
        if max(x.shape[1], y.shape[1]) > n:  # Gram form is cheaper for wide layers
            k, m = xc @ xc.T, yc @ yc.T
            hsic, nx, ny = np.sum(k * m), np.linalg.norm(k), np.linalg.norm(m)
        else:
            hsic = np.linalg.norm(yc.T @ xc) ** 2
            nx, ny = np.linalg.norm(xc.T @ xc), np.linalg.norm(yc.T @ yc)
        return float(hsic / (nx * ny)) if nx > 0 and ny > 0 else float("nan")
    if n < 4:
        raise ValueError(f"unbiased CKA needs at least 4 stimuli; got {n}")
    k, m = _unbiased_centre(_centred_gram(x)), _unbiased_centre(_centred_gram(y))
    hsic, nx, ny = np.sum(k * m), np.sqrt(np.sum(k * k)), np.sqrt(np.sum(m * m))
    return float(hsic / (nx * ny)) if nx > 0 and ny > 0 else float("nan")


def _unbiased_centre(gram: np.ndarray) -> np.ndarray:
    """Centre a Gram matrix so that <K', L'> is (n (n - 3)) x Song et al.'s unbiased HSIC."""
    n = gram.shape[0]
    g = gram.copy()
    np.fill_diagonal(g, 0.0)
    means = g.sum(axis=0) / (n - 2)
    means -= means.sum() / (2 * (n - 1))
    g -= means[:, None]
    g -= means[None, :]
    np.fill_diagonal(g, 0.0)
    return g
