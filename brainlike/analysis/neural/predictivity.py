"""Noise-corrected neural predictivity of a model or a source animal, and its plain form.

Spec §4 (neural-evaluation.md). For every train/test split and every bootstrap of trial halves
a map is fit per half and scored on the held-out stimuli, corrected by the Spearman-Brown
reliabilities of the map and of the target. The plain form (primate work) divides held-out r
by each neuroid's split-half reliability.

``mapping`` is a name understood by :func:`brainlike.analysis.mapping.make_mapping` (``"pls"``,
``"ridge"``, ``"ridgecv"``, ``"linreg"``, ``"one_to_one"``, ...) or any scikit-learn regressor;
fitting goes through :func:`brainlike.analysis.mapping.fit_predict_splits`, which reuses work
across splits and targets. The bootstrap sums kept here also serve every time bin of
:mod:`brainlike.analysis.neural.temporal`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
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
    _pad_trials,
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
    split_half_reliability,
)
from brainlike.analysis.neural.splits import Seed, _resolve_splits, _seed_repr, _streams
from brainlike.analysis.score import Score

# Bootstraps whose target arrays together stay under this many floats go through one
# fit_predict_splits call (the PLS fast path shares work across them).
_BATCH_FLOATS = 4_000_000


def _resolve_mapping(mapping: Any) -> tuple[Any, str]:
    """A mapping estimator and its name from a name or an estimator."""
    if isinstance(mapping, str):
        if mapping == "rsa":
            raise ValueError(
                "'rsa' is not a regression mapping; use noise_corrected_rsa (or "
                "inter_animal_consistency(..., mapping='rsa'))"
            )
        from brainlike.analysis.mapping import make_mapping

        return make_mapping(mapping), mapping
    if not (hasattr(mapping, "fit") and hasattr(mapping, "predict")):
        raise TypeError(
            "mapping must be a mapping name (e.g. 'pls', 'ridge') or a scikit-learn regressor "
            f"with fit/predict; got {type(mapping).__name__}"
        )
    return mapping, type(mapping).__name__


def _fit_predict(mapping: Any, X: np.ndarray, Ys: list[np.ndarray], splits: list) -> list:
    from brainlike.analysis.mapping import fit_predict_splits

    return fit_predict_splits(mapping, X, Ys, splits)


def _held_out_r(mapping: Any, X: np.ndarray, mean: np.ndarray, splits: list) -> np.ndarray:
    """Pearson r per neuroid on the test stimuli of every split, shape (split, neuroid), of maps
    fit on the training stimuli; ``mean`` holds trial-averaged responses (stimulus, neuroid)."""
    preds = _fit_predict(mapping, X, [mean], splits)
    return np.stack(
        [pearson_columns(preds[s][0], mean[test]) for s, (_, test) in enumerate(splits)]
    )


@dataclass
class _Terms:
    """Per-(split, neuroid) bootstrap means of the corrected score and its three terms."""

    score: np.ndarray
    num: np.ndarray
    r_map: np.ndarray
    r_tgt: np.ndarray
    n_bootstraps_used: np.ndarray


class _TermSums:
    """Bootstrap sums of the corrected score and its three terms (spec §4), per (split,
    neuroid) or per (split, neuroid, time_bin), with the count of finite values of each.

    ``r_target(pred, y)`` correlates predictions with responses of the test stimuli and
    ``r_maps(pred1, pred2)`` the predictions of the two half maps, both aligned with the
    neuroid (and bin) axes of ``shape[1:]``.
    """

    def __init__(
        self,
        shape: tuple[int, ...],
        r_target: Callable[[np.ndarray, np.ndarray], np.ndarray] = pearson_columns,
        r_maps: Callable[[np.ndarray, np.ndarray], np.ndarray] = pearson_columns,
    ) -> None:
        self.acc = {k: np.zeros(shape) for k in ("score", "num", "r_map", "r_tgt")}
        self.count = {k: np.zeros(shape) for k in self.acc}
        self.r_target, self.r_maps = r_target, r_maps
        self.full_num: np.ndarray | None = None

    def use_full_numerator(self, preds: list, y_full: np.ndarray, splits: list, groups: list):
        """Take ``num = r(M(X_test), Y_test)`` of maps fit on all trials (``preds``, one per
        split and group), the same for every bootstrap."""
        self.full_num = np.full(self.acc["num"].shape, np.nan)
        for s, (_, test) in enumerate(splits):
            for g, cols in enumerate(groups):
                self.full_num[s, cols] = self.r_target(preds[s][g], y_full[test][:, cols])

    def add(self, split: int, cols: np.ndarray, p1, p2, y1t, y2t) -> None:
        """Add one bootstrap of split ``split`` for the neuroids ``cols``."""
        # spec: neural-evaluation.md §4: num = r(M1(X1_test), Y2_test),
        # r_map = r(M1(X1_test), M2(X2_test)), r_tgt = r(Y1_test, Y2_test)
        num = self.r_target(p1, y2t) if self.full_num is None else self.full_num[split, cols]
        r_map = self.r_maps(p1, p2)
        r_tgt = pearson_columns(y1t, y2t)
        for key, val in (
            ("score", _corrected(num, r_map, r_tgt)),
            ("num", num),
            ("r_map", r_map),
            ("r_tgt", r_tgt),
        ):
            ok = np.isfinite(val)
            self.acc[key][split, cols] += np.where(ok, val, 0.0)
            self.count[key][split, cols] += ok

    def means(self) -> dict[str, np.ndarray]:
        """Bootstrap means (NaN where no bootstrap gave a finite value)."""
        with np.errstate(invalid="ignore", divide="ignore"):
            return {
                k: np.where(self.count[k] > 0, self.acc[k] / self.count[k], np.nan)
                for k in self.acc
            }


def _add_feature_bootstraps(
    sums: _TermSums,
    Y: np.ndarray,
    perms: list[np.ndarray],
    groups: list[np.ndarray],
    splits: list,
    split_half: str,
    fit_predict: Callable[[list[np.ndarray]], list],
) -> None:
    """Add every bootstrap of a model's features to ``sums``; ``Y`` has trials last.

    Model features: X1 = X2 = X, so M1 and M2 of several bootstraps share one
    ``fit_predict(Ys)`` call (predictions per split, then per target).
    """
    per_boot = 2 * math.prod(Y.shape[:-1])
    batch = max(1, _BATCH_FLOATS // max(per_boot, 1))
    for start in range(0, len(perms), batch):
        halves = [_half_averages(Y, p, split_half) for p in perms[start : start + batch]]
        Ys = [h[k][:, cols] for h in halves for cols in groups for k in (0, 1)]
        preds = fit_predict(Ys)
        for s, (_, test) in enumerate(splits):
            j = 0
            for y1, y2 in halves:
                for cols in groups:
                    p1, p2 = preds[s][j], preds[s][j + 1]
                    j += 2
                    sums.add(s, cols, p1, p2, y1[test][:, cols], y2[test][:, cols])


def _noise_corrected_terms(
    Y: np.ndarray,
    splits: list,
    perms: list[np.ndarray],
    mapping: Any,
    X: np.ndarray | None = None,
    source: np.ndarray | None = None,
    groups: list[np.ndarray] | None = None,
    numerator: str = "halves",
    split_half: str = "unequal",
) -> _Terms:
    """The spec §4 estimator for all splits and bootstraps; averaged over bootstraps."""
    n_neur = Y.shape[1]
    groups = groups or [np.arange(n_neur)]
    sums = _TermSums((len(splits), n_neur))
    if numerator == "full":
        # r(M(X_test), Y_test) of a map fit on all trials: the same for every bootstrap
        y_full = _nanmean(Y, axis=2)
        x_full = X if source is None else _nanmean(source, axis=2)
        preds = _fit_predict(mapping, x_full, [y_full[:, cols] for cols in groups], splits)
        sums.use_full_numerator(preds, y_full, splits, groups)

    if source is None:
        _add_feature_bootstraps(
            sums,
            Y,
            perms,
            groups,
            splits,
            split_half,
            lambda Ys: _fit_predict(mapping, X, Ys, splits),
        )
    else:
        # Source animal: X1, X2 are its own half-averages under the same permutation.
        for perm in perms:
            y1, y2 = _half_averages(Y, perm, split_half)
            x1, x2 = _half_averages(source, perm, split_half)
            pred1 = _fit_predict(mapping, x1, [y1[:, cols] for cols in groups], splits)
            pred2 = _fit_predict(mapping, x2, [y2[:, cols] for cols in groups], splits)
            for s, (_, test) in enumerate(splits):
                for g, cols in enumerate(groups):
                    sums.add(
                        s, cols, pred1[s][g], pred2[s][g], y1[test][:, cols], y2[test][:, cols]
                    )
    return _Terms(n_bootstraps_used=sums.count["score"], **sums.means())


def _prepare_noise_corrected(
    X: Any,
    Y: Any,
    source_trials: Any,
    n_splits: int,
    train_fraction: float,
    n_bootstraps: int,
    seed: Seed,
    splits: Sequence | None,
    stratify: Sequence | None,
):
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    n_stim = Y.shape[0]
    source = None
    if source_trials is not None:
        if X is not None:
            raise ValueError("pass either model features X or source_trials, not both")
        source = _as_responses(source_trials, "source_trials")
        if source.shape[0] != n_stim:
            raise ValueError(
                f"source_trials has {source.shape[0]} stimuli but Y has {n_stim}; both must "
                "list the same stimuli in the same order"
            )
        _check_min_trials(source, "source_trials")
        n_trials = max(Y.shape[2], source.shape[2])
        Y, source = _pad_trials(Y, n_trials), _pad_trials(source, n_trials)
    elif X is None:
        raise ValueError("pass model features X (stimulus, unit) or source_trials")
    else:
        X = _as_features(X, n_stim)
    split_rng, trial_rng = _streams(seed, 2)
    splits = _resolve_splits(splits, n_stim, n_splits, train_fraction, split_rng, stratify)
    perms = _trial_permutations(Y.shape[2], n_bootstraps, trial_rng)
    return X, Y, source, counts, splits, perms


def noise_corrected_predictivity(
    X: Any,
    Y: Any,
    mapping: Any = "pls",
    *,
    n_splits: int = 10,
    train_fraction: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    source_trials: Any = None,
    animal: Sequence[str] | None = None,
    splits: Sequence | None = None,
    stratify: Sequence | None = None,
    numerator: str = "halves",
    split_half: str = "unequal",
) -> Score:
    """Noise-corrected neural predictivity of a model (or a source animal) (spec §4).

    For every train/test split and every bootstrap of trial halves: fit map M1 on
    (X1_train -> Y1_train) and M2 on (X2_train -> Y2_train); on the test stimuli, per neuroid::

        num = r(M1(X1_test), Y2_test);  r_map = r(M1(X1_test), M2(X2_test))
        r_tgt = r(Y1_test, Y2_test);    score = num / sqrt(SB(r_map) * SB(r_tgt))

    (NaN when a denominator term is <= 0). For a model X1 = X2 = X; for a source animal
    (``source_trials``) X1, X2 are its own half-averages under the same trial permutation as
    the target. Scores are averaged over bootstraps and splits per neuroid (NaN-skipping); the
    value is the median over neuroids with the s.e.m. over neuroids.

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit), or None
        Model features (None when ``source_trials`` is given).
    Y : ndarray, shape (stimulus, neuroid, trial)
        Target responses; NaN marks missing trials (every stimulus needs >= 2 per neuroid).
    mapping : str or sklearn regressor
        ``"pls"`` (25 components, the default), ``"ridge"``, ``"one_to_one"``, ...
    n_splits, train_fraction : int, float
        Random splits of the stimuli (10 splits, half for training, as in the mouse work).
    n_bootstraps : int
        Random trial halvings per split (100).
    seed : int, SeedSequence or Generator
        ``SeedSequence(seed).spawn(2)`` gives two streams: the first makes the splits
        (``train_test_splits(..., seed=stream0)``), the second the trial permutations
        (``stream1.permutation(n_trials)`` per bootstrap). A Generator is ``.spawn(2)``-ed.
    source_trials : ndarray, shape (stimulus, unit, trial), optional
        A source animal (or pseudo-population) instead of model features.
    animal : sequence of str, shape (neuroid,), optional
        Target animal of each neuroid: maps are fit per target animal (one population each),
        and the median pools the neuroids of all animals, as in the mouse work.
    splits : list of (train_idx, test_idx), optional
        Use these splits instead of random ones.
    stratify : sequence of labels, shape (stimulus,), optional
        Stratify the random splits by these labels.
    numerator : {"halves", "full"}
        ``"halves"`` (default): ``num = r(M1(X1_test), Y2_test)`` exactly as the spec. Because
        the SB-corrected denominator describes full-trial reliabilities, this form is biased low
        by ``sqrt(r_map r_tgt / (SB(r_map) SB(r_tgt)))`` (a perfect model of noisy data scores
        below 1; ratios to the inter-animal ceiling computed the same way largely cancel it).
        ``"full"``: ``num = r(M(X_test), Y_test)`` with M fit on all trials and Y the average of
        all trials, as in the public brainmodel_utils code of the mouse work; about unbiased.
    split_half : {"unequal", "equal"}
        Halving of odd trial counts (:data:`SPLIT_HALF_CONVENTIONS`; see
        :func:`split_half_reliability`).

    Returns
    -------
    Score
        ``raw``: per-neuroid scores (neuroid,); ``per_split``: median over neuroids of each
        split's bootstrap-averaged scores; provenance holds the medians of the three terms and
        the trial counts.
    """
    # spec: neural-evaluation.md §4
    estimator, name = _resolve_mapping(mapping)
    _check_numerator(numerator)
    _check_split_half(split_half)
    X, Y, source, counts, splits, perms = _prepare_noise_corrected(
        X, Y, source_trials, n_splits, train_fraction, n_bootstraps, seed, splits, stratify
    )
    groups = _groups(animal, Y.shape[1])
    terms = _noise_corrected_terms(
        Y, splits, perms, estimator, X, source, groups, numerator, split_half
    )
    return _score_from_terms(
        terms,
        counts,
        metric="noise_corrected_predictivity",
        parameters={
            "mapping": name,
            "n_splits": len(splits),
            "train_fraction": train_fraction,
            "n_bootstraps": n_bootstraps,
            "seed": _seed_repr(seed),
            "per_animal_maps": animal is not None,
            "numerator": numerator,
            "split_half": split_half,
        },
        provenance={
            "source": "model features" if source is None else "source animal trials",
            "n_source_units": int((X if source is None else source).shape[1]),
        },
    )


def _score_from_terms(
    terms: _Terms,
    counts: np.ndarray,
    metric: str,
    parameters: dict,
    provenance: dict,
    raw: np.ndarray | None = None,
) -> Score:
    if raw is None:
        raw = _nanmean(terms.score, axis=0)
    finite = np.isfinite(raw)
    return Score(
        value=float(_nanmedian(raw)) if finite.any() else float("nan"),
        error=_sem(raw),
        metric=metric,
        raw=raw,
        per_split=_nanmedian(terms.score, axis=1),
        parameters=parameters,
        provenance={
            **provenance,
            "center": "median over neuroids of the mean over splits and bootstraps",
            "error": _SEM_NOTE.format(what="neuroids"),
            "n_stimuli": int(counts.shape[0]),
            "n_neuroids": int(counts.shape[1]),
            "n_neuroids_nan": int((~finite).sum()),
            "median_numerator": float(_nanmedian(terms.num)),
            "median_mapping_consistency": float(_nanmedian(terms.r_map)),
            "median_target_split_half_r": float(_nanmedian(terms.r_tgt)),
            **_trial_summary(counts),
        },
    )


def _check_correction(correction: str) -> None:
    if correction not in ("ratio", "sqrt"):
        raise ValueError(f"correction must be 'ratio' or 'sqrt'; got {correction!r}")


def _reliability_denominator(reliability: np.ndarray, correction: str) -> np.ndarray:
    """What the plain form divides r by: the reliability (``"ratio"``) or its square root
    (``"sqrt"``); NaN where the reliability is not positive."""
    denominator = reliability if correction == "ratio" else np.sqrt(np.maximum(reliability, 0))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(reliability > 0, denominator, np.nan)


def plain_predictivity(
    X: Any,
    Y: Any,
    mapping: Any = "pls",
    *,
    n_splits: int = 10,
    train_fraction: float = 0.5,
    n_bootstraps: int = 100,
    seed: Seed = 0,
    correction: str = "ratio",
    splits: Sequence | None = None,
    stratify: Sequence | None = None,
    split_half: str = "unequal",
) -> Score:
    """Held-out Pearson r divided by each neuroid's split-half reliability (primate ch. 2 form).

    The map is fit on trial-averaged (NaN-skipping) training responses; r is computed per
    neuroid on the test stimuli and averaged over splits, then divided by the neuroid's
    SB-corrected split-half reliability (spec §2, ``n_bootstraps`` halvings on all stimuli).

    Parameters
    ----------
    X : ndarray, shape (stimulus, unit)
    Y : ndarray, shape (stimulus, neuroid, trial)
    mapping : str or sklearn regressor
    n_splits, train_fraction, seed, splits, stratify
        As in :func:`noise_corrected_predictivity` (same split stream for the same seed).
    n_bootstraps : int
        Halvings for the reliability.
    correction : {"ratio", "sqrt"}
        ``"ratio"``: r / reliability, the spec §4 "plain form". ``"sqrt"``: r / sqrt(reliability),
        the attenuation correction under which a noiseless perfect model scores about 1 (r with
        a trial average cannot exceed sqrt(reliability)).
    split_half : {"unequal", "equal"}
        Halving of odd trial counts for the reliability (:func:`split_half_reliability`).

    Returns
    -------
    Score
        ``raw``: corrected per-neuroid values; ``ceiling``: median reliability.
    """
    # spec: neural-evaluation.md §4 (plain form, primate ch. 2) and §2 (reliability)
    _check_correction(correction)
    estimator, name = _resolve_mapping(mapping)
    Y = _as_responses(Y)
    counts = _check_min_trials(Y)
    X = _as_features(X, Y.shape[0])
    split_rng, trial_rng = _streams(seed, 2)
    splits = _resolve_splits(splits, Y.shape[0], n_splits, train_fraction, split_rng, stratify)
    mean = _nanmean(Y, axis=2)
    r = _held_out_r(estimator, X, mean, splits)
    reliability = split_half_reliability(
        Y, n_bootstraps=n_bootstraps, seed=trial_rng, split_half=split_half
    )
    denominator = _reliability_denominator(reliability, correction)
    with np.errstate(invalid="ignore", divide="ignore"):
        raw = _nanmean(r, axis=0) / denominator
        per_split = _nanmedian(r / denominator, axis=1)
    return Score(
        value=float(_nanmedian(raw)),
        error=_sem(raw),
        ceiling=float(_nanmedian(reliability)),
        ceiled=float(_nanmedian(raw)),
        convention=f"per_neuroid_{correction}",
        metric="plain_predictivity",
        raw=raw,
        per_split=per_split,
        parameters={
            "mapping": name,
            "n_splits": len(splits),
            "train_fraction": train_fraction,
            "n_bootstraps": n_bootstraps,
            "seed": _seed_repr(seed),
            "correction": correction,
            "split_half": split_half,
        },
        provenance={
            "center": "median over neuroids of (mean r over splits) / reliability",
            "error": _SEM_NOTE.format(what="neuroids"),
            "median_raw_r": float(_nanmedian(_nanmean(r, axis=0))),
            "median_reliability": float(_nanmedian(reliability)),
            "n_stimuli": int(Y.shape[0]),
            "n_neuroids": int(Y.shape[1]),
            **_trial_summary(counts),
        },
    )
