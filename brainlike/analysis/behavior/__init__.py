"""Comparing models with behaviour: confusions, I1/I2(n), error consistency, cue conflict.

Pure numpy functions (plus scikit-learn for the I2n decoder), no model imports, following
shared/spec/neural-evaluation.md §7 and §10 and shared/spec/recurrent.md §3. Conventions:

- Classes are named by strings; every class-indexed axis follows ``classes`` (a tuple).
- ``true`` / ``choice``: per-image or per-trial class indices (ints) unless said otherwise.
- ``probabilities``: decoder class probabilities, shape (image, class).
- Response matrices and d' patterns: shape (image, distractor class); the entry of an image's
  own class is NaN.
- Human decisions come as a :class:`HumanTrials` table (one row per trial: image, choice,
  true_class, optionally subject, condition, distractor, shape_class, texture_class), read
  from one or several CSV files by :func:`read_human_trials` (the column names of published
  per-trial files such as Geirhos et al.'s ``subj, imagename, category, object_response`` are
  accepted). A trial without a response has choice :data:`NO_RESPONSE` (``""``).

The Brain-Score I2n recipe (Rajalingham et al. 2018 as implemented by Brain-Score):

1. :func:`logistic_choice_probabilities`: logistic regression (C = 1e-3) on standardised
   features, fit on separate fitting images.
2. :func:`target_distractor_probabilities`: p[i, d] = P(d) / (P(d) + P(true_i)).
3. :func:`dprime_matrix`: d'[i, d] = z(1 - p[i, d]) - z(mean over images j of object d of
   p[j, true_i]), clipped to +-5 (false alarms at the object level).
4. :func:`normalize_i2`: subtract the mean d' of each (true object, distractor) cell -> I2n.
5. :func:`i2n_consistency`: Pearson r with one random half of the human trials; ceiling = r
   between the two halves (no Spearman-Brown); ceiled = r / sqrt(ceiling); 2 splits.

Modules: :mod:`~brainlike.analysis.behavior.confusions` (confusion matrices, per-class accuracy,
cue conflict), :mod:`~brainlike.analysis.behavior.i1i2` (I1, I2, I2n of a decoder),
:mod:`~brainlike.analysis.behavior.human_trials` (the human trials table, its CSV reader,
accuracy, synthetic trials), :mod:`~brainlike.analysis.behavior.consistency` (I2n consistency,
noise-corrected consistency, error consistency). Object solution times, which build on I1, are
in :mod:`brainlike.analysis.ost`.
"""

from brainlike.analysis.behavior.confusions import (
    CueConflictFractions,
    accuracy_per_class,
    confusion_matrix,
    shape_texture_fractions,
)
from brainlike.analysis.behavior.consistency import (
    behavioral_consistency,
    error_consistency,
    error_consistency_with_humans,
    i2n_consistency,
)
from brainlike.analysis.behavior.human_trials import (
    COLUMN_ALIASES,
    NO_RESPONSE,
    OPTIONAL_COLUMNS,
    REQUIRED_COLUMNS,
    HumanAccuracy,
    HumanTrials,
    human_accuracy,
    human_response_matrix,
    read_human_trials,
    synthetic_human_trials,
)
from brainlike.analysis.behavior.i1i2 import (
    DPRIME_CAP,
    I2N_CLASSIFIER_C,
    dprime_matrix,
    i1,
    i1_from_i2,
    i1_from_probabilities,
    i1_over_time,
    i2,
    i2n,
    logistic_choice_probabilities,
    normalize_i2,
    target_distractor_probabilities,
)

__all__ = [
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "NO_RESPONSE",
    "COLUMN_ALIASES",
    "DPRIME_CAP",
    "I2N_CLASSIFIER_C",
    "CueConflictFractions",
    "HumanAccuracy",
    "HumanTrials",
    "accuracy_per_class",
    "behavioral_consistency",
    "confusion_matrix",
    "dprime_matrix",
    "error_consistency",
    "error_consistency_with_humans",
    "human_accuracy",
    "human_response_matrix",
    "i1",
    "i1_from_i2",
    "i1_from_probabilities",
    "i1_over_time",
    "i2",
    "i2n",
    "i2n_consistency",
    "logistic_choice_probabilities",
    "normalize_i2",
    "read_human_trials",
    "shape_texture_fractions",
    "synthetic_human_trials",
    "target_distractor_probabilities",
]
