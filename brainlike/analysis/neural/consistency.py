"""Inter-animal consistency: the ceiling models are judged against (spec §5).

The noise-corrected estimator of :mod:`brainlike.analysis.neural.predictivity` with an animal
as the source: each held-out target animal is predicted from the pseudo-population of the
other animals (pooled) or from each other animal (pairwise); with ``mapping="rsa"``, the
noise-corrected RSA between animals (spec §6).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from brainlike.analysis.neural.arrays import (
    _SEM_NOTE,
    _as_responses,
    _check_min_trials,
    _nanmean,
    _nanmedian,
    _sem,
    _trial_summary,
)
from brainlike.analysis.neural.predictivity import (
    _noise_corrected_terms,
    _resolve_mapping,
    _score_from_terms,
    _Terms,
)
from brainlike.analysis.neural.reliability import (
    _check_numerator,
    _check_split_half,
    _trial_permutations,
)
from brainlike.analysis.neural.similarity import _rsa_bootstrap_terms
from brainlike.analysis.neural.splits import Seed, _resolve_splits, _seed_repr, _streams
from brainlike.analysis.score import Score


@dataclass
class InterAnimalConsistency:
    """Inter-animal consistency of one area: the ceiling models are judged against (spec §5).

    Attributes
    ----------
    score : Score
        Pooled over target animals: median over all target neuroids (RSA: over animals) with
        its s.e.m.; ``raw`` is aligned with the neuroids of the input (RSA: the animals).
    per_animal : dict animal -> Score
        The same estimator for each held-out target animal.
    design : str
        ``"pooled"`` or ``"pairwise"``.
    mapping : str
        Name of the mapping class (``"pls"``, ``"ridge"``, ``"one_to_one"``, ``"rsa"``, ...).
    animals : list of str
        Animals in the order of ``score.raw`` for RSA, and of ``per_animal``.
    """

    score: Score
    per_animal: dict[str, Score] = field(default_factory=dict)
    design: str = "pooled"
    mapping: str = "pls"
    animals: list[str] = field(default_factory=list)

    @property
    def value(self) -> float:
        """The pooled consistency value (``score.value``)."""
        return self.score.value

    def __getitem__(self, key: str) -> Score:
        """``result["pooled"]`` is the pooled score, ``result[animal]`` that animal's score."""
        if key == "pooled":
            return self.score
        if key in self.per_animal:
            return self.per_animal[key]
        raise KeyError(f"{key!r}: use 'pooled' or one of the animals {self.animals}")

    def to_dict(self) -> dict:
        """JSON-safe dict (see :meth:`Score.to_dict`)."""
        return {
            "score": self.score.to_dict(),
            "per_animal": {k: v.to_dict() for k, v in self.per_animal.items()},
            "design": self.design,
            "mapping": self.mapping,
            "animals": list(self.animals),
        }


def inter_animal_consistency(
    Y: Any,
    animal: Sequence[str],
    mapping: Any = "pls",
    *,
    design: str = "pooled",
    n_splits: int = 10,
    train_fraction: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    splits: Sequence | None = None,
    stratify: Sequence | None = None,
    rsa_method: str = "pearson",
    numerator: str = "halves",
    split_half: str = "unequal",
    source: Any = None,
    source_animal: Sequence[str] | None = None,
) -> InterAnimalConsistency:
    """Inter-animal consistency: the noise-corrected estimator with an animal as the source.

    Designs (spec §5):

    - ``"pooled"`` (default): each held-out target animal is predicted from the
      pseudo-population of all other animals. Source neuroids keep their own available trials
      (ragged recordings are half-averaged per neuroid under the shared permutation).
    - ``"pairwise"``: every ordered (source, target) pair; per target neuroid the scores are
      averaged over source animals.

    Parameters
    ----------
    Y : ndarray, shape (stimulus, neuroid, trial)
        All animals of one area, NaN for missing trials.
    animal : sequence of str, shape (neuroid,)
    mapping : str or sklearn regressor
        ``"pls"``, ``"ridge"``, ``"one_to_one"``, ... or ``"rsa"`` for noise-corrected RSA
        between animals (spec §6: rsa(A1, B2) / sqrt(SB(rsa(A1, A2)) SB(rsa(B1, B2))), one
        value per target animal, median over animals).
    design : {"pooled", "pairwise"}
    n_splits, train_fraction, n_bootstraps, seed, splits, stratify
        As in :func:`noise_corrected_predictivity`; every target uses the same splits and
        trial permutations.
    rsa_method : {"pearson", "spearman"}
        RDM comparison for ``mapping="rsa"``.
    numerator : {"halves", "full"}
        See :func:`noise_corrected_predictivity`; use the same choice for model and ceiling.
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`); use the same choice for
        model and ceiling.
    source : ndarray, shape (stimulus, source_neuroid, trial), optional
        Source neuroids from another population (e.g. another area of the same animals, for
        the area-by-area map): each target animal is then predicted from the source neuroids
        of the other animals (``source_animal``), never its own. Default: ``Y`` itself.
    source_animal : sequence of str, shape (source_neuroid,), optional
        Animal of every source neuroid (required with ``source``).

    Returns
    -------
    InterAnimalConsistency
    """
    # spec: neural-evaluation.md §5
    if design not in ("pooled", "pairwise"):
        raise ValueError(f"design must be 'pooled' or 'pairwise'; got {design!r}")
    _check_numerator(numerator)
    _check_split_half(split_half)
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    labels = np.asarray(animal).astype(str)
    if labels.shape != (Y.shape[1],):
        raise ValueError(
            f"animal must have one entry per neuroid ({Y.shape[1]}); got shape {labels.shape}"
        )
    _, first = np.unique(labels, return_index=True)
    names = [str(labels[i]) for i in np.sort(first)]
    if len(names) < 2:
        raise ValueError(
            f"inter-animal consistency needs at least 2 animals; got {names}; pass the "
            "animal of every neuroid"
        )
    if source is None:
        source_y, source_labels = Y, labels
    else:
        source_y, source_labels = _check_source(source, source_animal, Y.shape)
    source_names = set(source_labels.tolist())
    sources_of = {}
    for t in names:
        others = [s for s in dict.fromkeys(source_labels.tolist()) if s != t]
        if not others:
            raise ValueError(
                f"target animal {t!r} has no source neuroids of another animal (source "
                f"animals: {sorted(source_names)}); every target needs another animal's neuroids"
            )
        sources_of[t] = [others] if design == "pooled" else [[s] for s in others]
    params = {
        "mapping": mapping if isinstance(mapping, str) else type(mapping).__name__,
        "design": design,
        "n_bootstraps": n_bootstraps,
        "seed": _seed_repr(seed),
        "numerator": numerator,
        "split_half": split_half,
    }
    split_rng, trial_rng = _streams(seed, 2)
    perms = _trial_permutations(Y.shape[2], n_bootstraps, trial_rng)

    if isinstance(mapping, str) and mapping == "rsa":
        return _inter_animal_rsa(
            Y,
            labels,
            names,
            sources_of,
            perms,
            rsa_method,
            params,
            counts,
            numerator,
            split_half,
            source_y,
            source_labels,
        )

    estimator, name = _resolve_mapping(mapping)
    params.update(mapping=name, n_splits=n_splits, train_fraction=train_fraction)
    splits = _resolve_splits(splits, Y.shape[0], n_splits, train_fraction, split_rng, stratify)
    params["n_splits"] = len(splits)
    pooled_terms = _Terms(*(np.full((len(splits), Y.shape[1]), np.nan) for _ in range(5)))
    raw_all = np.full(Y.shape[1], np.nan)
    per_animal = {}
    for target in names:
        cols = np.flatnonzero(labels == target)
        runs = []
        for group in sources_of[target]:
            src = np.flatnonzero(np.isin(source_labels, group))
            runs.append(
                _noise_corrected_terms(
                    Y[:, cols],
                    splits,
                    perms,
                    estimator,
                    source=source_y[:, src],
                    numerator=numerator,
                    split_half=split_half,
                )
            )
        # a value per (source, target neuroid), then the mean over sources (spec §5)
        raw = _nanmean(np.stack([_nanmean(t.score, axis=0) for t in runs]), axis=0)
        raw_all[cols] = raw
        terms = _Terms(
            *(
                _nanmean(np.stack([getattr(t, key) for t in runs]), axis=0)
                for key in ("score", "num", "r_map", "r_tgt", "n_bootstraps_used")
            )
        )
        for key in ("score", "num", "r_map", "r_tgt", "n_bootstraps_used"):
            getattr(pooled_terms, key)[:, cols] = getattr(terms, key)
        per_animal[target] = _score_from_terms(
            terms,
            counts[:, cols],
            metric="inter_animal_consistency",
            parameters={**params, "target": target},
            provenance={"sources": [", ".join(g) for g in sources_of[target]]},
            raw=raw,
        )
    pooled = _score_from_terms(
        pooled_terms,
        counts,
        metric="inter_animal_consistency",
        parameters=params,
        provenance={"animals": names, "n_animals": len(names)},
        raw=raw_all,
    )
    return InterAnimalConsistency(pooled, per_animal, design, name, names)


def _check_source(
    source: Any, source_animal: Sequence[str] | None, shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """A separate source population: same stimuli and trials as the target, an animal each."""
    source_y = _as_responses(source)
    if source_y.shape[0] != shape[0] or source_y.shape[2] != shape[2]:
        raise ValueError(
            f"source must share the target's stimuli and trials: target (stimulus, neuroid, "
            f"trial) {shape}, source {source_y.shape}"
        )
    if source_animal is None:
        raise ValueError("source needs source_animal: the animal of every source neuroid")
    labels = np.asarray(source_animal).astype(str)
    if labels.shape != (source_y.shape[1],):
        raise ValueError(
            f"source_animal must have one entry per source neuroid ({source_y.shape[1]}); got "
            f"shape {labels.shape}"
        )
    return source_y, labels


def _inter_animal_rsa(
    Y,
    labels,
    names,
    sources_of,
    perms,
    method,
    params,
    counts,
    numerator,
    split_half,
    source_y,
    source_labels,
):
    raw, per_animal = [], {}
    for target in names:
        target_y = Y[:, labels == target]
        values = [
            _nanmean(
                _rsa_bootstrap_terms(
                    target_y,
                    perms,
                    method,
                    source=source_y[:, np.isin(source_labels, group)],
                    numerator=numerator,
                    split_half=split_half,
                )
            )
            for group in sources_of[target]
        ]
        value = float(_nanmean(np.asarray(values)))
        raw.append(value)
        per_animal[target] = Score(
            value=value,
            metric="inter_animal_consistency",
            raw=np.asarray(values),
            parameters={**params, "mapping": "rsa", "method": method, "target": target},
            provenance={"sources": [", ".join(g) for g in sources_of[target]]},
        )
    raw = np.asarray(raw)
    score = Score(
        value=float(_nanmedian(raw)),
        error=_sem(raw),
        metric="inter_animal_consistency",
        raw=raw,
        parameters={**params, "mapping": "rsa", "method": method},
        provenance={
            "animals": names,
            "center": "median over target animals",
            "error": _SEM_NOTE.format(what="animals"),
            **_trial_summary(counts),
        },
    )
    return InterAnimalConsistency(score, per_animal, params["design"], "rsa", names)
