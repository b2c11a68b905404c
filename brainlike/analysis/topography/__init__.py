"""Topography of unit maps: selectivity, clustering, smoothness and their null models.

Every function here is a pure function of numpy arrays. Maps are ``(H, W)`` arrays on the unit
grid (row, column); class-mean maps are ``(C, H, W)``: the mean grid response to the test
images of each class. Metrics follow shared/spec/topography.md section 2; every metric can be
compared against a null model that moves units on the grid while keeping their tuning (pixel
shuffles, or shuffles within tiles to keep per-subnetwork statistics).

A note on honesty (spec: topography.md §2, caution): the clustering index is only meaningful
while selective units are sparse, so :func:`topography_summary` always reports the fraction of
selective units beside it, and reports a real value below its null as it is.

Modules: :mod:`~brainlike.analysis.topography.selectivity` (d' maps, preference map),
:mod:`~brainlike.analysis.topography.clustering` (clustering, topography and density indices,
Moran's I, neighbour agreement), :mod:`~brainlike.analysis.topography.smoothness` (tuning
correlation against distance), :mod:`~brainlike.analysis.topography.nulls` (shuffled maps and
permutation tests), :mod:`~brainlike.analysis.topography.summary` (every metric of one snapshot
against one null) and :mod:`~brainlike.analysis.topography.locality` (spatial variance and
wiring length of locality-prior models).
"""

from brainlike.analysis.topography.clustering import (
    clustering_index,
    density_index,
    morans_i,
    neighbour_agreement,
    topography_index,
)
from brainlike.analysis.topography.locality import (
    spatial_variance,
    spatial_variance_null,
    uniform_spatial_variance,
    wiring_length,
)
from brainlike.analysis.topography.nulls import (
    NullResult,
    null_test,
    shuffle_pixels,
    shuffle_within_tiles,
)
from brainlike.analysis.topography.selectivity import (
    DPRIME_CAP,
    dprime_maps,
    fraction_selective,
    preference_map,
    trial_dprime_maps,
)
from brainlike.analysis.topography.smoothness import (
    smoothness_index,
    tuning_correlation_vs_distance,
    unit_coordinates,
)
from brainlike.analysis.topography.summary import topography_summary

__all__ = [
    "DPRIME_CAP",
    "NullResult",
    "clustering_index",
    "density_index",
    "dprime_maps",
    "fraction_selective",
    "morans_i",
    "neighbour_agreement",
    "null_test",
    "preference_map",
    "shuffle_pixels",
    "shuffle_within_tiles",
    "smoothness_index",
    "spatial_variance",
    "spatial_variance_null",
    "topography_index",
    "topography_summary",
    "trial_dprime_maps",
    "tuning_correlation_vs_distance",
    "uniform_spatial_variance",
    "unit_coordinates",
    "wiring_length",
]
