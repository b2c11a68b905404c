"""Comparing models with neural recordings: reliability, predictivity, consistency, RSA, CKA.

Pure numpy functions of arrays (no model imports), following shared/spec/neural-evaluation.md.
Conventions:

- ``Y``: responses of one area, shape (stimulus, neuroid, trial), float; missing (ragged)
  trials are NaN. Every estimator uses the available trials of each stimulus and neuroid and
  reports the trial counts in the provenance of its :class:`~brainlike.analysis.score.Score`.
- ``X``: model features (or a source population), shape (stimulus, unit).
- ``mapping``: a name understood by :func:`brainlike.analysis.mapping.make_mapping`
  (``"pls"``, ``"ridge"``, ``"ridgecv"``, ``"linreg"``, ``"one_to_one"``, ...) or any
  scikit-learn regressor. Fitting goes through
  :func:`brainlike.analysis.mapping.fit_predict_splits`, which reuses work across splits and
  targets.
- Randomness: every function takes ``seed`` (int, SeedSequence or Generator).

Two families of estimators live here:

1. The mouse-work estimators (spec §2, §4-§6): split-half reliability, noise-corrected
   predictivity (the same estimator for a model or for a source animal), inter-animal
   consistency (the ceiling), noise-corrected RSA, CKA.
2. Brain-Score conventions (spec §10), so numbers can be compared with its leaderboard:
   stratified 90/10 splits with seed 1, raw Pearson r with median over neuroids then mean over
   splits, internal-consistency ceiling, three ceiling conventions, RSA with subject ceilings.

Neural fits over time (recurrent.md §2) take time-binned responses ``(stimulus, neuroid,
trial, time_bin)`` and time-resolved features ``(stimulus, unit, time)``:
:func:`assign_layers` (one layer per area, from time-averaged data),
:func:`temporal_predictivity` (a temporally fixed mapping scored in every bin, plain or
noise-corrected; a time-varying mapping for comparison) and
:func:`temporal_inter_animal_consistency` (the ceiling in every bin).

Modules, in the order they build on each other:

=====================  =====================================================================
``arrays``             response and feature arrays checked at the door; NaN-skipping summaries
``splits``             seeds, independent random streams, train/test splits of the stimuli
``reliability``        Pearson r, Spearman-Brown, split halves, split-half reliability (§1-§2)
``predictivity``       noise-corrected and plain predictivity (§4)
``similarity``         RDMs, RSA, noise-corrected RSA, linear CKA (§6)
``consistency``        inter-animal consistency, the ceiling (§5)
``area_map``           the ceiling per mapping class per area; the area-by-area inter-animal map
``temporal``           predictivity and the ceiling in every time bin (recurrent.md §2)
``layer_assignment``   one model layer per brain area (recurrent.md §2)
``brainscore``         Brain-Score splits, ceilings, ceiling conventions, RSA (§10)
=====================  =====================================================================
"""

from brainlike.analysis.neural.area_map import (
    MAPPING_CLASSES,
    AreaMap,
    consistency_per_mapping,
    inter_animal_area_map,
)
from brainlike.analysis.neural.brainscore import (
    CEILING_CONVENTIONS,
    brainscore_internal_consistency,
    brainscore_predictivity,
    brainscore_rsa,
    brainscore_splits,
    ceiled_score,
)
from brainlike.analysis.neural.consistency import (
    InterAnimalConsistency,
    inter_animal_consistency,
)
from brainlike.analysis.neural.layer_assignment import (
    LayerAssignment,
    assign_layers,
    time_average_features,
)
from brainlike.analysis.neural.predictivity import (
    noise_corrected_predictivity,
    plain_predictivity,
)
from brainlike.analysis.neural.reliability import (
    SPLIT_HALF_CONVENTIONS,
    pearson_columns,
    select_reliable_neuroids,
    spearman_brown,
    split_half_reliability,
)
from brainlike.analysis.neural.similarity import (
    compare_rdms,
    linear_cka,
    noise_corrected_rsa,
    rdm,
    rsa,
)
from brainlike.analysis.neural.splits import train_test_splits
from brainlike.analysis.neural.temporal import (
    TemporalScore,
    temporal_inter_animal_consistency,
    temporal_predictivity,
)

__all__ = [
    "AreaMap",
    "CEILING_CONVENTIONS",
    "MAPPING_CLASSES",
    "InterAnimalConsistency",
    "LayerAssignment",
    "SPLIT_HALF_CONVENTIONS",
    "TemporalScore",
    "assign_layers",
    "brainscore_internal_consistency",
    "brainscore_predictivity",
    "brainscore_rsa",
    "brainscore_splits",
    "ceiled_score",
    "compare_rdms",
    "consistency_per_mapping",
    "inter_animal_area_map",
    "inter_animal_consistency",
    "linear_cka",
    "noise_corrected_predictivity",
    "noise_corrected_rsa",
    "pearson_columns",
    "plain_predictivity",
    "rdm",
    "rsa",
    "select_reliable_neuroids",
    "spearman_brown",
    "split_half_reliability",
    "temporal_inter_animal_consistency",
    "temporal_predictivity",
    "time_average_features",
    "train_test_splits",
]
