"""Inter-animal consistency per mapping class, and the area-by-area inter-animal map.

The ceiling of a benchmark depends on the mapping class a model is fitted with (spec
neural-evaluation.md §5: report it per class, per area): a one-to-one map asks that every
neuron have a single counterpart in another animal, a linear map (ridge, PLS) only that it lie
in the span of the other animals' neurons, RSA compares population geometry without a fit.
:func:`consistency_per_mapping` gives that table for every area of a recording.

The area-by-area map asks how well the neurons of one area of a held-out animal are predicted
from the neurons of another area of the other animals: entry (source, target) is the pooled
inter-animal consistency with the source area as the pseudo-population (the estimator of
:func:`~brainlike.analysis.neural.consistency.inter_animal_consistency` with a separate
source), so its diagonal is the ceiling of each area. In a hierarchy every area is best
predicted by itself (the diagonal is the largest entry of its column) and the off-diagonal
entries fall with the distance between areas; areas that receive the same input (parallel
streams) predict each other well.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brainlike.analysis.neural.consistency import inter_animal_consistency

MAPPING_CLASSES = ("one_to_one", "ridge", "pls", "rsa")


@dataclass
class AreaMap:
    """Inter-animal consistency from every source area to every target area.

    Attributes
    ----------
    values : dict mapping -> ndarray, shape (area, area)
        ``values[m][i, j]``: median consistency of target-area ``areas[j]`` neuroids of each
        held-out animal predicted from source-area ``areas[i]`` neuroids of the other animals
        (RSA: median over target animals). Rows are sources, columns targets.
    errors : dict mapping -> ndarray, shape (area, area)
        The s.e.m. of every entry (over neuroids; RSA over animals).
    areas : list of str
    animals : list of str
    parameters : dict
    """

    values: dict[str, np.ndarray]
    errors: dict[str, np.ndarray]
    areas: list[str]
    animals: list[str]
    parameters: dict = field(default_factory=dict)

    def diagonal_is_column_max(self, mapping: str) -> dict[str, bool]:
        """Per target area: is its own area the best source (the diagonal the column max)?"""
        v = self.values[mapping]
        return {a: bool(v[j, j] >= np.nanmax(v[:, j])) for j, a in enumerate(self.areas)}

    def to_dict(self) -> dict:
        """JSON-safe dict: per mapping the matrix as nested lists (None for NaN)."""

        def rows(m: np.ndarray) -> list:
            return [[None if not np.isfinite(x) else float(x) for x in row] for row in m]

        return {
            "areas": list(self.areas),
            "animals": list(self.animals),
            "rows": "source area",
            "columns": "target area",
            "values": {k: rows(v) for k, v in self.values.items()},
            "errors": {k: rows(v) for k, v in self.errors.items()},
            "parameters": dict(self.parameters),
        }


def _areas_and_arrays(rec: Any, regions: Sequence[str] | None) -> tuple[list[str], Any]:
    """The recording's areas (in its order, or ``regions``), refused when one is missing."""
    present = list(dict.fromkeys(str(r) for r in rec["region"].values))
    if regions is None:
        return present, rec
    missing = [r for r in regions if r not in present]
    if missing:
        raise ValueError(
            f"the recording has no area {missing[0]!r}; its areas are {', '.join(present)}"
        )
    return list(regions), rec


def _check_mappings(mappings: Sequence[str]) -> list[str]:
    mappings = list(mappings)
    if not mappings:
        raise ValueError(f"give at least one mapping class of {', '.join(MAPPING_CLASSES)}")
    unknown = [m for m in mappings if m not in (*MAPPING_CLASSES, "ridgecv", "linreg")]
    if unknown:
        raise ValueError(
            f"unknown mapping class {unknown[0]!r}; choose from {', '.join(MAPPING_CLASSES)} "
            "(or ridgecv, linreg)"
        )
    return mappings


def consistency_per_mapping(
    rec: Any,
    mappings: Sequence[str] = MAPPING_CLASSES,
    *,
    regions: Sequence[str] | None = None,
    n_splits: int = 10,
    n_bootstraps: int = 20,
    seed: int = 0,
) -> dict[str, dict[str, Any]]:
    """Pooled inter-animal consistency (the ceiling) of every area under every mapping class.

    Parameters
    ----------
    rec : NeuralRecording (xarray.DataArray, dims stimulus x neuroid x trial)
        Several animals per area (``animal`` and ``region`` coordinates).
    mappings : sequence of str
        Mapping classes (default one_to_one, ridge, pls, rsa).
    regions : sequence of str, optional
        Areas to evaluate (default all, in the recording's order).
    n_splits, n_bootstraps, seed
        As in :func:`~brainlike.analysis.neural.inter_animal_consistency`; every area and
        mapping uses the same splits and trial halvings.

    Returns
    -------
    dict area -> dict mapping -> InterAnimalConsistency
    """
    # spec: neural-evaluation.md §5 (report per mapping class per area)
    from brainlike.data.recordings import responses

    mappings = _check_mappings(mappings)
    areas, rec = _areas_and_arrays(rec, regions)
    out: dict[str, dict[str, Any]] = {}
    for area in areas:
        sub = rec.isel(neuroid=np.flatnonzero(rec["region"].values.astype(str) == area))
        Y = responses(sub)
        animal = sub["animal"].values.astype(str)
        out[area] = {
            m: inter_animal_consistency(
                Y, animal, m, n_splits=n_splits, n_bootstraps=n_bootstraps, seed=seed
            )
            for m in mappings
        }
    return out


def inter_animal_area_map(
    rec: Any,
    mappings: Sequence[str] = ("pls",),
    *,
    regions: Sequence[str] | None = None,
    n_splits: int = 10,
    n_bootstraps: int = 20,
    seed: int = 0,
) -> AreaMap:
    """Consistency of predicting target-area neurons of a held-out animal from source-area
    neurons of the other animals, for every (source, target) pair of areas.

    Parameters
    ----------
    rec : NeuralRecording
        Several animals, several areas (``animal`` and ``region`` coordinates).
    mappings : sequence of str
        Mapping classes (one matrix each).
    regions : sequence of str, optional
        Areas, in the order of the matrix (default all, in the recording's order).
    n_splits, n_bootstraps, seed
        As in :func:`~brainlike.analysis.neural.inter_animal_consistency`.

    Returns
    -------
    AreaMap
        ``values[m]`` shape (area, area), rows sources, columns targets; the diagonal equals
        :func:`consistency_per_mapping` for the same seed.
    """
    # spec: neural-evaluation.md §5 (pooled source), with another area as the source
    from brainlike.data.recordings import responses

    mappings = _check_mappings(mappings)
    areas, rec = _areas_and_arrays(rec, regions)
    region = rec["region"].values.astype(str)
    animal_all = rec["animal"].values.astype(str)
    blocks = {}
    for area in areas:
        cols = np.flatnonzero(region == area)
        blocks[area] = (responses(rec.isel(neuroid=cols)), animal_all[cols])
    values = {m: np.full((len(areas), len(areas)), np.nan) for m in mappings}
    errors = {m: np.full((len(areas), len(areas)), np.nan) for m in mappings}
    for m in mappings:
        for j, target in enumerate(areas):
            Y, animal = blocks[target]
            for i, src in enumerate(areas):
                X, src_animal = blocks[src]
                result = inter_animal_consistency(
                    Y,
                    animal,
                    m,
                    n_splits=n_splits,
                    n_bootstraps=n_bootstraps,
                    seed=seed,
                    source=None if src == target else X,
                    source_animal=None if src == target else src_animal,
                )
                values[m][i, j] = result.score.value
                errors[m][i, j] = result.score.error
    return AreaMap(
        values=values,
        errors=errors,
        areas=areas,
        animals=list(dict.fromkeys(animal_all.tolist())),
        parameters={
            "mappings": mappings,
            "n_splits": n_splits,
            "n_bootstraps": n_bootstraps,
            "seed": seed,
            "design": "pooled",
        },
    )


def plot_area_map(area_map: AreaMap, path: Any) -> Any:
    """Heat map of every mapping class's area-by-area matrix, side by side; saved to ``path``.

    Returns the path written.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = list(area_map.values)
    n = len(area_map.areas)
    fig, axes = plt.subplots(
        1, len(names), figsize=(0.6 * n * len(names) + 1.5, 0.6 * n + 1.2), squeeze=False
    )
    for ax, m in zip(axes[0], names, strict=True):
        im = ax.imshow(area_map.values[m], vmin=0, vmax=1, cmap="viridis")
        ax.set_title(m)
        ax.set_xticks(range(n), area_map.areas, rotation=90)
        ax.set_yticks(range(n), area_map.areas)
        ax.set_xlabel("target area")
        ax.set_ylabel("source area")
        for i in range(n):
            for j in range(n):
                v = area_map.values[m][i, j]
                if np.isfinite(v):
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6, color="w")
    fig.colorbar(im, ax=axes[0].tolist(), shrink=0.8, label="inter-animal consistency")
    fig.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path
