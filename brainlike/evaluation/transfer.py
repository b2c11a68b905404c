"""Transfer: what a frozen network's layers make linearly available about other tasks.

A trained backbone is frozen, its layers are recorded on a task's images (at the run's own
preprocessing), and a linear readout per layer is fit on one part of the images and tested on
the rest (spec: mouse-and-entorhinal.md §1, transfer evaluation: freeze the backbone, train a
linear readout on another task). Tasks (:data:`TRANSFER_TASKS`):

- ``categorization``: the class of the run's own data set's test images (a registry model, or
  a run whose data are not at hand offline, is tested on the scenes' shape instead);
- from generated scenes with known answers (:mod:`brainlike.data.scenes`): ``position``
  (x, y), ``size`` (apparent size), ``pose`` (``cos n theta, sin n theta`` with ``n`` the
  shape's rotational symmetry, so a square at 0 and 90 degrees has one target; disks and rings,
  whose outline shows no pose, are left out), ``texture`` (class) and ``depth`` (object
  distance).

Readouts: features standardised (and projected on their first principal components, fit on the
training images only, when wider than ``pca``); a multinomial logistic regression (L2, C = 0.1) for classes
(metric: accuracy; chance: the test accuracy of always answering the training set's most
frequent class); ridge regression with its penalty chosen by leave-one-out on the training
images for continuous targets, each target standardised (metric: R^2 on the test images,
averaged over target dimensions, null 0 = predicting the training mean; Pearson r beside it).
The spread is the standard error over bootstrap resamples of the test images.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.preconditions import ScoringError

__all__ = ["TRANSFER_TASKS", "TransferTask", "linear_readout", "run_transfer", "task_images"]

# inverse L2 penalty of the logistic readout on standardised features (a fixed, moderate
# penalty: a cross-validated choice cost 8x the time for a point or two of accuracy)
LOGISTIC_C = 0.1


@dataclass(frozen=True)
class TransferTask:
    """One readout task: its name, target kind and what its target is."""

    name: str
    kind: str  # "class" or "continuous"
    target: str


TRANSFER_TASKS: dict[str, TransferTask] = {
    t.name: t
    for t in (
        TransferTask("categorization", "class", "class of the run's test images (or scene shape)"),
        TransferTask("position", "continuous", "object centre (x, y) in [-1, 1]"),
        TransferTask("size", "continuous", "apparent size (circumradius / image half-width)"),
        TransferTask(
            "pose", "continuous", "(cos n*pose, sin n*pose), n = shape symmetry; no disks/rings"
        ),
        TransferTask("texture", "class", "texture class (plain, stripes, checker, dots)"),
        TransferTask("depth", "continuous", "object distance"),
    )
}


def check_tasks(tasks: Sequence[str]) -> list[str]:
    """The tasks, deduplicated; an unknown one raises naming the known ones."""
    tasks = list(dict.fromkeys(tasks))
    if not tasks:
        raise ScoringError(f"no transfer task given; choose from {', '.join(TRANSFER_TASKS)}")
    bad = [t for t in tasks if t not in TRANSFER_TASKS]
    if bad:
        raise ScoringError(
            f"unknown transfer task {bad[0]!r}; choose from {', '.join(TRANSFER_TASKS)}"
        )
    return tasks


def _normalise(images: np.ndarray, sm: Any) -> np.ndarray:
    if sm.pixel_mean is not None and sm.pixel_std is not None:
        mean = np.asarray(sm.pixel_mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(sm.pixel_std, np.float32).reshape(1, -1, 1, 1)
        images = (images - mean) / std
    return np.ascontiguousarray(images, dtype=np.float32)


def _run_test_set(config: dict, n_images: int, seed: int) -> tuple[np.ndarray, np.ndarray, str]:
    """The test images (already at the run's preprocessing) and classes of a run's data."""
    import torch

    from brainlike.config import config_from_dict
    from brainlike.data.images import dataset_labels, load_experiment_dataset

    bundle = load_experiment_dataset(config_from_dict(config), download=False, augment=False)
    labels = dataset_labels(bundle.test)
    rng = np.random.default_rng(seed)
    keep = np.sort(rng.permutation(len(labels))[: min(n_images, len(labels))])
    loader = torch.utils.data.DataLoader(torch.utils.data.Subset(bundle.test, keep), batch_size=256)
    images = torch.cat([batch[0] for batch in loader]).numpy()
    return images, labels[keep], f"{bundle.name} test set"


def task_images(
    task: str, sm: Any, *, n_images: int, seed: int, run_config: dict | None = None
) -> tuple[np.ndarray, np.ndarray, str]:
    """A task's images at the model's preprocessing, its targets and where they came from.

    Parameters
    ----------
    task : str
        One of :data:`TRANSFER_TASKS`.
    sm : ScoringModel
        The model (its input size, channels and pixel normalisation).
    n_images : int
        Images to use (scenes rendered; a run's test set subsampled to at most this many).
    seed : int
        Seed of the scenes and of the subsample.
    run_config : dict, optional
        The run's config; with it, ``categorization`` uses the run's own test set.

    Returns
    -------
    images : np.ndarray
        ``(N, C, H, W)`` float32 model inputs.
    target : np.ndarray
        ``(N,)`` int classes or ``(N, D)`` float targets.
    source : str
        The images' origin, in words.
    """
    from brainlike.data.scenes import SHAPES, SYMMETRY, render_scenes

    if task == "categorization" and run_config is not None:
        try:
            return _run_test_set(run_config, n_images, seed)
        except FileNotFoundError:
            pass  # the run's data are not here: fall back to the scenes' shapes
    scenes = render_scenes(n_images, size=sm.input_size, seed=seed, channels=sm.in_channels)
    lat = scenes.latents
    keep = np.arange(n_images)
    if task in ("categorization", "texture"):
        target = lat["category" if task == "categorization" else "texture"]
    elif task == "position":
        target = np.stack([lat["x"], lat["y"]], axis=1)
    elif task in ("size", "depth"):
        target = lat[task][:, None]
    else:  # pose, symmetry-aware (spec: a square's pose is defined modulo 90 degrees)
        order = np.array([SYMMETRY[s] for s in SHAPES])[lat["category"]]
        keep = np.flatnonzero(order > 0)
        angle = order[keep] * lat["pose"][keep]
        target = np.stack([np.cos(angle), np.sin(angle)], axis=1)
    source = f"{n_images} generated scenes at {sm.input_size} px (seed {seed})"
    return _normalise(scenes.images[keep], sm), target, source


def _bootstrap_se(
    metric: Callable[[np.ndarray], float], n_test: int, n_boot: int, seed: int
) -> float:
    rng = np.random.default_rng(seed)
    values = [metric(rng.integers(0, n_test, n_test)) for _ in range(n_boot)]
    return float(np.std(values, ddof=1)) if n_boot > 1 else float("nan")


def linear_readout(
    features: np.ndarray,
    target: np.ndarray,
    kind: str,
    train: np.ndarray,
    test: np.ndarray,
    *,
    bootstraps: int = 200,
    seed: int = 0,
) -> dict[str, Any]:
    """Fit a linear readout on ``train`` rows and score it on ``test`` rows.

    Parameters
    ----------
    features : np.ndarray
        ``(N, P)`` layer activations.
    target : np.ndarray
        ``(N,)`` int classes (``kind == "class"``) or ``(N, D)`` floats (``"continuous"``).
    kind : str
        ``"class"`` or ``"continuous"``.
    train, test : np.ndarray
        Row indices of the two splits.
    bootstraps : int
        Resamples of the test rows for the standard error.
    seed : int
        Seed of the bootstrap.

    Returns
    -------
    dict
        ``metric``, ``value``, ``se``, ``chance`` (and ``pearson_r``, ``pearson_r_se`` for
        continuous targets).
    """
    from sklearn.linear_model import LogisticRegression, RidgeCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(features[train])
    x_train, x_test = scaler.transform(features[train]), scaler.transform(features[test])
    if kind == "class":
        y_train, y_test = target[train], target[test]
        clf = LogisticRegression(C=LOGISTIC_C, max_iter=1000)
        correct = clf.fit(x_train, y_train).predict(x_test) == y_test
        majority = np.bincount(y_train).argmax()
        return {
            "metric": "accuracy",
            "value": float(correct.mean()),
            "se": _bootstrap_se(lambda i: correct[i].mean(), len(test), bootstraps, seed),
            "chance": float((y_test == majority).mean()),
        }
    y = np.asarray(target, dtype=np.float64).reshape(len(target), -1)
    mu, sd = y[train].mean(0), y[train].std(0) + 1e-12
    y_train, y_test = (y[train] - mu) / sd, (y[test] - mu) / sd
    pred = RidgeCV(alphas=np.logspace(-1, 5, 13)).fit(x_train, y_train).predict(x_test)
    pred = pred.reshape(len(test), -1)

    def r2(i: np.ndarray) -> float:
        resid = ((y_test[i] - pred[i]) ** 2).sum(0)
        total = ((y_test[i] - y_test[i].mean(0)) ** 2).sum(0)
        return float(np.mean(1 - resid / np.maximum(total, 1e-12)))

    def pearson(i: np.ndarray) -> float:
        a = y_test[i] - y_test[i].mean(0)
        b = pred[i] - pred[i].mean(0)
        den = np.sqrt((a * a).sum(0) * (b * b).sum(0))
        return float(np.mean((a * b).sum(0) / np.maximum(den, 1e-12)))

    every = np.arange(len(test))
    return {
        "metric": "r2",
        "value": r2(every),
        "se": _bootstrap_se(r2, len(test), bootstraps, seed),
        "chance": 0.0,
        "pearson_r": pearson(every),
        "pearson_r_se": _bootstrap_se(pearson, len(test), bootstraps, seed),
    }


def _check_layers(model: Any, layers: Sequence[str], name: str) -> None:
    from brainlike.analysis.activations import sheet_layers

    known = set(dict(model.named_modules())) | {"output"}
    known |= {f"sheet:{s}" if not s.startswith("sheet:") else s for s in sheet_layers(model)}
    bad = [layer for layer in layers if layer not in known or layer == ""]
    if bad:
        named = [n for n, _ in model.named_children()]
        raise ScoringError(
            f"layer {bad[0]!r} is not in {name}; its top-level modules are "
            f"{', '.join(named)} (names of nested modules use dots, e.g. layer1.0)"
        )


def transfer_path(spec: str | Path) -> Path | None:
    """Where a run's transfer record lives (None for a registry model or checkpoint file)."""
    path = Path(spec).expanduser()
    return path / "transfer.json" if path.is_dir() else None


def run_transfer(
    spec: str | Path,
    tasks: Sequence[str],
    *,
    layers: Sequence[str] | None = None,
    n_images: int = 1000,
    seed: int = 0,
    test_fraction: float = 0.25,
    pca: int | None = 256,
    bootstraps: int = 200,
    overwrite: bool = False,
    model_seed: int = 0,
    log: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Linear transfer of a frozen model's layers to each task (see the module docstring).

    Parameters
    ----------
    spec : str or Path
        A run directory, a checkpoint file or a registry model name
        (:func:`brainlike.evaluation.scoring_model.load_scoring_model`).
    tasks : sequence of str
        Names in :data:`TRANSFER_TASKS`.
    layers : sequence of str, optional
        Layers to read out (default: the model's default layers).
    n_images : int
        Images per task (at least 40).
    seed : int
        Seed of the scenes, the subsample, the train/test split and the bootstrap.
    test_fraction : float
        Share of the images held out for testing the readout (stratified by class for class
        targets).
    pca : int or None
        Project layers wider than this on their first ``pca`` principal components (fit on the
        training images); None or 0 keeps every unit.
    bootstraps : int
        Test-set resamples for the standard errors.
    overwrite : bool
        Replace a run's existing ``transfer.json``.
    model_seed : int
        Random weights of a registry model.
    log : callable, optional
        Receives one progress line per task and layer.

    Returns
    -------
    dict
        ``model``, ``preprocessing``, ``settings``, ``tasks`` (per task: target, source,
        metric, chance, n_train, n_test) and ``results`` (one row per task and layer: task,
        layer, metric, value, se, chance, and Pearson r for continuous targets); also written
        to ``RUN/transfer.json`` when ``spec`` is a run directory.
    """
    from sklearn.model_selection import train_test_split

    from brainlike.analysis.activations import extract_activations
    from brainlike.evaluation.scoring_model import default_layers, load_scoring_model

    tasks = check_tasks(tasks)
    if isinstance(n_images, bool) or not isinstance(n_images, int) or n_images < 40:
        raise ScoringError(f"transfer needs at least 40 images per task, got {n_images!r}")
    if not 0.05 <= test_fraction <= 0.8:
        raise ScoringError(f"test_fraction must lie in [0.05, 0.8], got {test_fraction}")
    if pca is not None and pca < 0:
        raise ScoringError(f"pca must be a positive number of components or 0, got {pca}")
    out = transfer_path(spec)
    if out is not None and out.exists() and not overwrite:
        raise ScoringError(f"{out} exists; pass --overwrite to replace it")
    say = log or (lambda line: None)
    sm = load_scoring_model(spec, seed=model_seed)
    run_config = None
    if sm.details.get("checkpoint"):
        from brainlike.train.checkpoint import load_checkpoint

        run_config = load_checkpoint(sm.details["checkpoint"]).get("config")
    shape = (sm.in_channels, sm.input_size, sm.input_size)
    chosen = list(layers) if layers else default_layers(sm.model, shape)
    _check_layers(sm.model, chosen, sm.name)

    record: dict[str, Any] = {
        "model": sm.name,
        "source": sm.source,
        "preprocessing": sm.preprocessing(),
        "settings": {
            "n_images": n_images,
            "seed": seed,
            "test_fraction": test_fraction,
            "pca": pca or None,
            "bootstraps": bootstraps,
            "layers": chosen,
        },
        "tasks": {},
        "results": [],
    }
    for task in tasks:
        spec_task = TRANSFER_TASKS[task]
        images, target, source = task_images(
            task, sm, n_images=n_images, seed=seed, run_config=run_config
        )
        strat = target if spec_task.kind == "class" and np.bincount(target).min() >= 2 else None
        train, test = train_test_split(
            np.arange(len(images)), test_size=test_fraction, random_state=seed, stratify=strat
        )
        train, test = np.sort(train), np.sort(test)
        components = pca if pca and pca < len(train) else None
        acts = extract_activations(
            sm.model,
            images,
            chosen,
            pca_components=components,
            pca_train_indices=train if components else None,
            progress=False,
        )
        metric = "accuracy" if spec_task.kind == "class" else "r2"
        record["tasks"][task] = {
            "target": spec_task.target,
            "kind": spec_task.kind,
            "source": source,
            "metric": metric,
            "n_train": int(len(train)),
            "n_test": int(len(test)),
        }
        for layer in chosen:
            features = np.asarray(acts[layer], dtype=np.float64).reshape(len(images), -1)
            row = linear_readout(
                features, target, spec_task.kind, train, test, bootstraps=bootstraps, seed=seed
            )
            record["results"].append({"task": task, "layer": layer, **row})
            record["tasks"][task]["chance"] = row["chance"]
            extra = f", r {row['pearson_r']:.3f}" if "pearson_r" in row else ""
            say(
                f"transfer {task}: {layer} {row['metric']} {row['value']:.3f} "
                f"± {row['se']:.3f}{extra} (chance {row['chance']:.3f})"
            )
    if out is not None:
        try:
            out.write_text(json.dumps(record, indent=2, default=_json_default) + "\n")
            record["path"] = str(out)
        except OSError:
            record["path"] = None
    return record


def best_layers(record: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per task of a :func:`run_transfer` record: the layer with the highest held-out value
    (``value``, its ``se``, ``metric``, ``layer``, ``chance``; ``pearson_r`` for continuous
    targets). The choice is made on the test split itself, so it is optimistic by the
    selection, as any best-layer number."""
    best: dict[str, dict[str, Any]] = {}
    for row in record["results"]:
        value = row.get("value")
        if value is None or not np.isfinite(value):
            continue
        if row["task"] not in best or value > best[row["task"]]["value"]:
            best[row["task"]] = {
                k: row.get(k) for k in ("value", "se", "metric", "layer", "chance", "pearson_r")
            }
    return best


def _json_default(obj: Any) -> Any:
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, float) and math.isnan(obj):
        return None
    raise TypeError(f"not JSON-serialisable: {type(obj).__name__}")
