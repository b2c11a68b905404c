"""The behaviour reference of a suite: a simulated observer, and a model's behaviour against it.

The observer's evidence is the brain network's own logits (spec: neural-evaluation.md §7):
on each two-alternative trial it picks the true class over a random distractor with the
probability the softened logits give. A model is compared with it by I2n consistency
(Brain-Score recipe, ceiled) and by error consistency (Cohen's kappa, spec §10).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.suite_runs import _f


def observer_trials(
    logits: np.ndarray,
    true: np.ndarray,
    images: list[str],
    classes: list[str],
    *,
    n_subjects: int = 4,
    repeats: int = 4,
    temperature: float = 2.0,
    seed: int = 0,
) -> Any:
    """Two-alternative trials of a simulated observer whose evidence is a network's logits.

    On each trial the observer sees image ``i`` (true class ``o``) against a random distractor
    ``d`` and answers ``o`` with probability ``p_o / (p_o + p_d)``, ``p = softmax(logits /
    temperature)``; every subject draws independently, so trial halves agree on which images
    and distractors are hard exactly as much as the network's probabilities say.

    Returns
    -------
    :class:`brainlike.analysis.behavior.HumanTrials`
    """
    from brainlike.analysis.behavior import HumanTrials

    z = np.asarray(logits, float) / temperature
    p = np.exp(z - z.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    true = np.asarray(true, int)
    n, k = p.shape
    rng = np.random.default_rng(seed)
    rows: dict[str, list[str]] = {c: [] for c in ("image", "choice", "true_class", "subject")}
    rows["distractor"] = []
    for s in range(n_subjects):
        for _ in range(repeats):
            d = (true + 1 + rng.integers(0, k - 1, n)) % k
            po, pd = p[np.arange(n), true], p[np.arange(n), d]
            correct = rng.random(n) < po / (po + pd)
            choice = np.where(correct, true, d)
            rows["image"] += list(images)
            rows["choice"] += [classes[c] for c in choice]
            rows["true_class"] += [classes[c] for c in true]
            rows["subject"] += [f"observer{s}"] * n
            rows["distractor"] += [classes[c] for c in d]
    arrays = {c: np.array(v, dtype=str) for c, v in rows.items()}
    return HumanTrials(classes=tuple(classes), **arrays)


def _model_logits(run: str | Path, stimuli_csv: str, ids: list[str]) -> np.ndarray:
    from brainlike.analysis.activations import extract_activations
    from brainlike.data.recordings import read_stimulus_set
    from brainlike.evaluation.scoring_model import load_scoring_model, model_images

    sm = load_scoring_model(run)
    images = model_images(read_stimulus_set(stimuli_csv), ids, sm)
    acts = extract_activations(sm.model, images, ["output"], progress=False, cache_dir=None)
    return np.asarray(acts["output"], float)


def behaviour_scores(logits: np.ndarray, true: np.ndarray, ids: list[str], trials: Any) -> dict:
    """I2n consistency (ceiled) and error consistency of a model's choices with ``trials``."""
    from brainlike.analysis.behavior import i2n, i2n_consistency

    z = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    i2n_score = i2n_consistency(i2n(probs, true), trials, images=ids, n_splits=10)
    # the model's 2AFC answer on each trial: the likelier of the pair
    choice = logits.argmax(axis=1)
    classes = list(trials.classes)
    kappa = _two_afc_error_consistency(logits, ids, trials, classes)
    return {
        "accuracy": float((choice == true).mean()),
        "i2n": _f(i2n_score.value),
        "i2n_ceiled": _f(i2n_score.ceiled),
        "i2n_ceiling": _f(i2n_score.ceiling),
        "error_kappa": _f(kappa.value),
        "error_kappa_sem": _f(kappa.error),
    }


def _two_afc_error_consistency(logits: np.ndarray, ids: list[str], trials: Any, classes: list[str]):
    """Cohen's kappa between the model's and each observer's 2AFC answers, mean over observers."""
    from brainlike.analysis.behavior import error_consistency
    from brainlike.analysis.score import Score

    row = {sid: i for i, sid in enumerate(ids)}
    lookup = {c: k for k, c in enumerate(classes)}
    r = np.array([row[s] for s in trials.image])
    o = np.array([lookup[c] for c in trials.true_class])
    d = np.array([lookup[c] for c in trials.distractor])
    model_choice = np.where(logits[r, o] >= logits[r, d], o, d)
    human = np.array([lookup[c] for c in trials.choice])
    kappas = []
    for s in np.unique(trials.subject):
        m = trials.subject == s
        kappas.append(error_consistency(model_choice[m], human[m], o[m]))
    k = np.asarray(kappas, float)
    return Score(
        value=float(np.nanmean(k)),
        error=float(np.nanstd(k, ddof=1) / np.sqrt(np.isfinite(k).sum())) if len(k) > 1 else None,
        raw=k,
    )
