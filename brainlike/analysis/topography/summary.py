"""The per-snapshot record: every topography metric of one set of class-mean maps, each
against the same spatial null (:func:`topography_summary`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from brainlike.analysis.topography.clustering import (
    _agreement_batch,
    _clustering_batch,
    _morans_batch,
    _topography_batch,
    density_index,
    neighbour_agreement,
)
from brainlike.analysis.topography.nulls import (
    _check_n_shuffles,
    _json_number,
    _null_result,
    _permutations,
)
from brainlike.analysis.topography.selectivity import (
    _as_finite_array,
    _check_target_sets,
    _check_threshold,
    dprime_maps,
    preference_map,
    trial_dprime_maps,
)
from brainlike.analysis.topography.smoothness import (
    _smoothness_curves,
    _summary_distance_edges,
    smoothness_index,
)

__all__ = ["topography_summary"]


def topography_summary(
    class_means: np.ndarray,
    class_vars: np.ndarray | None = None,
    class_counts: np.ndarray | None = None,
    *,
    threshold: float = 2.0,
    dprime: str = "class",
    ordered: bool = False,
    target_sets: Sequence[Sequence[int]] | None = None,
    null: str = "pixel",
    tile: int | None = None,
    n_shuffles: int = 100,
    seed: int = 0,
    n_smoothness_shuffles: int | None = None,
) -> dict:
    """Every topography metric of one snapshot of class-mean maps, each against the same null.

    The d' maps (class-level or trial-level), the preference map and the tuning vectors are
    computed once; each shuffle is one spatial permutation of the units applied to all of them
    (d' and preferences are per-unit, so shuffling them equals recomputing them from shuffled
    class means). All metrics with a null use the same permutations.

    Parameters
    ----------
    class_means : ndarray, shape (C, H, W)
    class_vars : ndarray, shape (C, H, W), optional
        Per-class population variances; needed for ``dprime="trial"``.
    class_counts : ndarray, shape (C,), optional
        Images per class; needed for ``dprime="trial"``.
    threshold : float
        d' threshold T for selectivity and clustering.
    dprime : {"class", "trial"}
        :func:`dprime_maps` or :func:`trial_dprime_maps`.
    ordered : bool
        Labels are ordered numbers (digits): also report the topography index.
    target_sets : sequence of sequences of int, optional
        Category sets (one d' map each) instead of one map per class; adds the density index.
    null : {"pixel", "tile"}
    tile : int, optional
        Tile side for ``null="tile"``.
    n_shuffles : int
    seed : int
    n_smoothness_shuffles : int, optional
        Shuffles for the smoothness null; defaults to ``n_shuffles`` (it is cheap: FFT
        autocorrelations). Fewer uses the first of the same permutations; the number used is
        recorded in the result.

    Returns
    -------
    dict
        JSON-serialisable. Metrics as :meth:`NullResult.to_dict`: ``"clustering_index"``,
        ``"neighbour_agreement"`` (plus ``"neighbour_agreement_chance"``), ``"morans_i"`` (of
        the max-d' map), ``"smoothness"`` (:func:`smoothness_index` of the tuning-correlation
        curve, with ``"smoothness_curve"``: ``{"distance", "correlation", "null_correlation",
        "pair_count", "bin_edges"}``; the first bin holds exactly the adjacent pairs at
        distance 1, then [1.25, 2.5), [2.5, 4.5), [4.5, 8.5) ... units),
        ``"topography_index"`` and ``"topography_index_minus_null"`` when ``ordered``;
        ``"density"`` (a list, one dict per set) when ``target_sets`` is given. Also
        ``"fraction_selective"``, ``"n_selective"``, ``"n_units"``, ``"threshold"``,
        ``"dprime"``, ``"null"``, ``"tile"`` (None unless ``null="tile"``), ``"n_shuffles"``,
        ``"n_smoothness_shuffles"``, ``"seed"``. The density index has no null: a shuffle moves
        activity and preference together, so it cannot change.
    """
    m = _as_finite_array(class_means, "class_means", 3)
    t = _check_threshold(threshold)
    _check_n_shuffles(n_shuffles)
    n_shuffles = int(n_shuffles)
    n_smooth = n_shuffles if n_smoothness_shuffles is None else int(n_smoothness_shuffles)
    if not 0 <= n_smooth <= n_shuffles:
        raise ValueError(
            f"n_smoothness_shuffles must lie in 0..n_shuffles ({n_shuffles}); got {n_smooth}"
        )
    if dprime == "class":
        d = dprime_maps(m, target_sets)
    elif dprime == "trial":
        if class_vars is None or class_counts is None:
            raise ValueError(
                "dprime='trial' needs class_vars (C, H, W) and class_counts (C,); store them "
                "beside the class means at each snapshot, or use dprime='class'"
            )
        d = trial_dprime_maps(m, class_vars, class_counts, target_sets)
    else:
        raise ValueError(f"dprime must be 'class' or 'trial'; got {dprime!r}")

    h, w = m.shape[1:]
    perms = _permutations((h, w), n_shuffles, null, tile, np.random.default_rng(seed))
    labels = preference_map(d, t)
    n_labels = d.shape[0]

    def shuffled(x: np.ndarray, p: np.ndarray = perms) -> np.ndarray:
        """(..., H, W) -> (len(p), ..., H, W), one spatial permutation per row of p."""
        flat = x.reshape(x.shape[:-2] + (-1,))
        out = flat[..., p]  # (..., n, H*W)
        return np.moveaxis(out, -2, 0).reshape((p.shape[0],) + x.shape)

    out: dict[str, Any] = {}
    # spec: topography.md §2, clustering index against pixel-shuffled d' maps; in chunks of
    # shuffles so that (n_shuffles, K, H, W) never has to be held at once
    chunk = max(1, 2_000_000 // d.size)
    null_clustering = np.concatenate(
        [
            _clustering_batch(shuffled(d, perms[i : i + chunk]), t)
            for i in range(0, n_shuffles, chunk)
        ]
    )
    out["clustering_index"] = _null_result(
        _clustering_batch(d[None], t)[0], null_clustering, null, "greater"
    ).to_dict()

    lab_null = shuffled(labels)
    if ordered:
        real = _topography_batch(labels[None], n_labels)[0]
        res = _null_result(real, _topography_batch(lab_null, n_labels), null, "greater")
        out["topography_index"] = res.to_dict()
        out["topography_index_minus_null"] = _json_number(res.value - res.null_mean)

    agreement, chance = neighbour_agreement(labels)
    out["neighbour_agreement"] = _null_result(
        agreement, _agreement_batch(lab_null), null, "greater"
    ).to_dict()
    out["neighbour_agreement_chance"] = chance

    dmax = d.max(axis=0)
    out["morans_i"] = _null_result(
        _morans_batch(dmax[None], None)[0], _morans_batch(shuffled(dmax), None), null, "greater"
    ).to_dict()

    edges = _summary_distance_edges(h, w)
    centres, real_curve, null_curves, pair_counts = _smoothness_curves(m, perms[:n_smooth], edges)
    null_smooth = np.array([smoothness_index(c) for c in null_curves])
    out["smoothness"] = _null_result(
        smoothness_index(real_curve), null_smooth, null, "greater"
    ).to_dict()
    with np.errstate(invalid="ignore"):
        null_mean_curve = (
            np.nanmean(null_curves, axis=0) if n_smooth else np.full_like(real_curve, np.nan)
        )
    out["smoothness_curve"] = {
        "distance": [_json_number(v) for v in centres],
        "correlation": [_json_number(v) for v in real_curve],
        "null_correlation": [_json_number(v) for v in null_mean_curve],
        "pair_count": [int(v) for v in pair_counts],
        "bin_edges": [float(v) for v in edges],
    }

    if target_sets is not None:
        sets = _check_target_sets(target_sets, m.shape[0])
        out["density"] = [
            {"target_set": list(s), **density_index(m, labels, s, label=k)}
            for k, s in enumerate(sets)
        ]

    out.update(
        fraction_selective=float(np.mean(labels >= 0)),
        n_selective=int(np.sum(labels >= 0)),
        n_units=int(h * w),
        threshold=t,
        dprime=dprime,
        null=null,
        tile=int(tile) if null == "tile" else None,  # a tile given with the pixel null is unused
        n_shuffles=n_shuffles,
        n_smoothness_shuffles=n_smooth,
        seed=int(seed),
    )
    return out
