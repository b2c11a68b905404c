"""Score a model against a recording: model + stimuli -> activations -> mappings -> scores.

This is the orchestration behind ``brainlike score`` and ``brainlike simulate``. It resolves a
model (a registry name, a checkpoint or a run directory), shows it the recording's stimuli with
the preprocessing it was trained with, extracts the chosen layers (cached on disk), and scores
every layer against every area of the recording with the estimators of
:mod:`brainlike.analysis.neural`, each layer's score next to the inter-animal ceiling of its
area under the same mapping class (spec: neural-evaluation.md §4-5, §10).

Time-resolved recordings (a ``time_bin`` dim) of recurrent models are scored over time by
:func:`score_temporal` (``brainlike score --temporal``; spec: recurrent.md §2): time-resolved
activations, one layer assigned per area on time-averaged data, then that layer's score in
every bin through a temporally fixed mapping against the per-bin inter-animal ceiling.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

METRICS = ("noise-corrected", "plain", "brainscore")
CONVENTIONS = ("r2_over_ceiling", "squared_ratio", "ratio")


class ScoringError(ValueError):
    """A scoring request that cannot be carried out as asked (the message says how to fix it)."""


# ---------------------------------------------------------------------------------------------
# Models


@dataclass
class ScoringModel:
    """A model ready to look at images, with the preprocessing it expects."""

    model: Any  # torch.nn.Module
    name: str
    source: str  # "registry", "checkpoint" or "run"
    in_channels: int
    input_size: int
    pixel_mean: tuple[float, ...] | None = None
    pixel_std: tuple[float, ...] | None = None
    details: dict[str, Any] = field(default_factory=dict)

    def preprocessing(self) -> dict[str, Any]:
        """JSON-able description of the image pipeline (part of the activation cache key)."""
        return {
            "input_size": self.input_size,
            "in_channels": self.in_channels,
            "pixel_mean": list(self.pixel_mean) if self.pixel_mean else None,
            "pixel_std": list(self.pixel_std) if self.pixel_std else None,
        }

    def weights_digest(self) -> str:
        """Short sha256 of the architecture and weights (identifies the model in the database)."""
        from brainlike.analysis.activations import model_digest

        return model_digest(self.model)[:16]


def load_scoring_model(
    spec: str | Path,
    *,
    seed: int = 0,
    input_size: int | None = None,
    in_channels: int | None = None,
    model_kwargs: dict[str, Any] | None = None,
) -> ScoringModel:
    """Resolve ``spec`` to a model: a run directory, a checkpoint file, or a registry name.

    Parameters
    ----------
    spec : str or Path
        ``runs/demo/demo-plain`` (a training run), ``.../checkpoints/last.pt`` (a brainlike
        checkpoint) or a registered model name such as ``resnet20`` (built with random weights
        drawn from ``seed``: an untrained model).
    seed : int
        Seed of the random weights of a registry model; ignored for trained models.
    input_size, in_channels : int, optional
        Override the image size and channels shown to the model (registry models default to
        their registered ``in_channels`` and 32 pixels).
    model_kwargs : dict, optional
        Extra constructor arguments for a registry model.
    """
    import torch

    from brainlike.registry import list_models, model_entry
    from brainlike.train.checkpoint import load_model_from_checkpoint

    path = Path(spec).expanduser()
    if path.is_dir() or path.suffix in (".pt", ".pth") or path.exists():
        ckpt = path / "checkpoints" / "last.pt" if path.is_dir() else path
        if path.is_dir() and not ckpt.is_file():
            raise ScoringError(
                f"{path} is a folder but holds no checkpoints/last.pt; give a run directory made "
                "by `brainlike train`, a checkpoint file, or a registered model name"
            )
        model, state = load_model_from_checkpoint(ckpt)
        prep = state.get("preprocessing") or _preprocessing_from_config(state.get("config"))
        name = str(
            (state.get("config") or {}).get("name") or (path.name if path.is_dir() else path.stem)
        )
        return ScoringModel(
            model=model.eval(),
            name=name,
            source="run" if path.is_dir() else "checkpoint",
            in_channels=int(in_channels or prep["in_channels"]),
            input_size=int(input_size or prep["input_size"]),
            pixel_mean=tuple(prep["pixel_mean"]) if prep.get("pixel_mean") else None,
            pixel_std=tuple(prep["pixel_std"]) if prep.get("pixel_std") else None,
            details={"checkpoint": str(ckpt), "epoch": state.get("epoch")},
        )
    name = str(spec)
    if name not in list_models():
        raise ScoringError(
            f"{name!r} is neither a run directory, a checkpoint file nor a registered model; "
            f"registered models: {', '.join(list_models())}"
        )
    fn, _, example = model_entry(name)
    kwargs = {**example, **(model_kwargs or {})}
    if in_channels is not None and "in_channels" in kwargs:
        kwargs["in_channels"] = in_channels
    torch.manual_seed(seed)
    model = fn(**kwargs)
    channels = int(in_channels or kwargs.get("in_channels", 3))
    size = int(input_size or getattr(model, "input_size", None) or 32)
    return ScoringModel(
        model=model.eval(),
        name=name if seed == 0 else f"{name}@seed{seed}",
        source="registry",
        in_channels=channels,
        input_size=size,
        details={"seed": seed, "kwargs": {k: v for k, v in kwargs.items() if _jsonable(v)}},
    )


def _jsonable(v: Any) -> bool:
    try:
        json.dumps(v)
    except TypeError:
        return False
    return True


def _preprocessing_from_config(config: dict | None) -> dict[str, Any]:
    """Preprocessing of a checkpoint written before checkpoints recorded it: rebuild its data."""
    from brainlike.config import config_from_dict
    from brainlike.data.images import load_experiment_dataset

    if not config:
        raise ScoringError(
            "this checkpoint records neither its preprocessing nor its config; retrain it with "
            "this version of brainlike (checkpoints record both now)"
        )
    bundle = load_experiment_dataset(config_from_dict(config), download=False, augment=False)
    from brainlike.train.loop import preprocessing_of

    return preprocessing_of(bundle)


def default_layers(
    model: Any, input_shape: tuple[int, int, int] | None = None, time_steps: int | None = None
) -> list[str]:
    """Layers scored when none are named: the blocks a reader would name in a paper.

    The model's cortical sheets (``sheet:<name>``) first, then its top-level modules in
    forward order; a container of blocks (``layer1`` of a ResNet, ``features`` of a LeNet) is
    scored block by block, a conv/linear followed by its norm and nonlinearity as one unit (its
    last module). Normalisation, dropout and modules called more than once are skipped. With
    ``time_steps`` (a recurrent model unrolled over T steps) the candidates are the modules
    called exactly once per step instead, and there are no sheets.
    """
    from torch import nn

    from brainlike.analysis.activations import list_layers, module_calls, sheet_layers
    from brainlike.models.vone import VOneFront

    if isinstance(model, VOneFront):
        # the front end's simple + complex cells (after noise) and its bottleneck, then the
        # backend's own blocks at the resolution the front end hands it
        v = model.vone
        size = input_shape[-1] if input_shape else v.image_size
        stride = v._config["stride"]
        inner = (v.out_channels, size // stride, size // stride)
        backend = default_layers(model.backend, inner, time_steps)
        return ["vone.noise", "vone", *(f"backend.{name}" for name in backend)]

    calls = module_calls(model, input_shape, time_steps=time_steps)
    order = {name: i for i, name in enumerate(calls)}

    def usable(name: str) -> bool:
        return calls.get(name, False)

    # (a Flatten repeats the pooled output it reads)
    skip = (
        nn.modules.batchnorm._NormBase,
        nn.GroupNorm,
        nn.LayerNorm,
        nn.Dropout,
        nn.Identity,
        nn.Flatten,
    )
    joins = (*skip, nn.ReLU, nn.GELU, nn.Tanh, nn.Sigmoid, nn.ELU, nn.LeakyReLU, nn.SiLU)

    def expand(prefix: str, container: nn.Module) -> list[str]:
        out: list[str] = []
        for child, mod in container.named_children():
            name = f"{prefix}.{child}"
            if not usable(name):
                continue
            if isinstance(mod, joins) and out and not isinstance(mod, skip):
                out[-1] = name  # conv -> norm -> ReLU: the unit's output is the ReLU's
            elif not isinstance(mod, skip):
                out.append(name)
        return out

    chosen: list[str] = []
    for name, mod in model.named_children():
        if isinstance(mod, (nn.Sequential, nn.ModuleList, nn.ModuleDict)) and any(
            usable(f"{name}.{c}") for c, _ in mod.named_children()
        ):
            chosen.extend(expand(name, mod))
        elif usable(name) and not isinstance(mod, skip):
            chosen.append(name)
        else:
            # A recurrent stage returns its states; its last per-iteration tap is its output.
            taps = [c for c, _ in mod.named_children() if c.startswith("iter") and c[4:].isdigit()]
            taps = [f"{name}.{c}" for c in sorted(taps, key=lambda c: int(c[4:]))]
            if taps and usable(taps[-1]):
                chosen.append(taps[-1])
    chosen.sort(key=lambda n: order.get(n, 0))
    sheets = sheet_layers(model) if time_steps is None else []
    if sheets or chosen:
        return sheets + chosen
    return [n for n in list_layers(model, input_shape, time_steps=time_steps) if n != "output"]


# ---------------------------------------------------------------------------------------------
# Results


@dataclass
class ScoringResult:
    """Every layer x area score of one model on one recording, with the ceilings."""

    model: str
    benchmark: str
    metric: str
    mapping: str
    layers: list[str]
    regions: list[str]
    scores: dict[tuple[str, str], Any]  # (region, layer) -> Score
    ceilings: dict[str, Any]  # region -> Score (inter-animal consistency)
    settings: dict[str, Any]
    provenance: dict[str, Any]

    def best_layer(self, region: str) -> str | None:
        """The layer with the highest score for ``region`` (None when every score is NaN)."""
        vals = [(self._value(region, lay), lay) for lay in self.layers]
        vals = [(v, lay) for v, lay in vals if np.isfinite(v)]
        return max(vals)[1] if vals else None

    def _value(self, region: str, layer: str) -> float:
        s = self.scores[(region, layer)]
        v = s.ceiled if self.metric == "brainscore" else s.value
        return float("nan") if v is None else float(v)

    def percent_of_ceiling(self, region: str, layer: str) -> float:
        """The layer's score as a percentage of its area's ceiling."""
        if self.metric == "brainscore":
            c = self.scores[(region, layer)].ceiled
            return float("nan") if c is None else 100.0 * float(c)
        ceiling = self.ceilings[region].value
        v = self.scores[(region, layer)].value
        if ceiling is None or v is None or not np.isfinite(ceiling) or ceiling <= 0:
            return float("nan")
        return 100.0 * float(v) / float(ceiling)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (layer, region), in scoring order."""
        out = []
        for region in self.regions:
            best = self.best_layer(region)
            for layer in self.layers:
                s = self.scores[(region, layer)]
                out.append(
                    {
                        "region": region,
                        "layer": layer,
                        "value": _num(s.value),
                        "error": _num(s.error),
                        "ceiling": _num(
                            s.ceiling
                            if self.metric == "brainscore"
                            else self.ceilings[region].value
                        ),
                        "ceiled": _num(s.ceiled),
                        "percent_of_ceiling": _num(self.percent_of_ceiling(region, layer)),
                        "best": layer == best,
                        "n_neuroids": int(np.sum(np.isfinite(s.raw)))
                        if s.raw is not None
                        else None,
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able result: settings, ceilings, rows and every Score in full."""
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "metric": self.metric,
            "mapping": self.mapping,
            "layers": self.layers,
            "regions": self.regions,
            "settings": self.settings,
            "provenance": self.provenance,
            "best_layer": {r: self.best_layer(r) for r in self.regions},
            "ceilings": {r: c.to_dict() for r, c in self.ceilings.items()},
            "rows": self.rows(),
            "scores": [
                {"region": r, "layer": lay, **s.to_dict()} for (r, lay), s in self.scores.items()
            ],
        }


def _num(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None


# ---------------------------------------------------------------------------------------------
# Stimuli


def locate_stimulus_set(recording_path: Path, rec: Any, stimuli: str | Path | None) -> Path:
    """The stimulus-set CSV of a recording: given, or found next to the recording file."""
    if stimuli is not None:
        p = Path(stimuli).expanduser()
        if p.is_dir():
            p = p / "stimulus_set.csv"
        if not p.is_file():
            raise ScoringError(
                f"no stimulus-set CSV at {p}; give --stimuli path/to/stimulus_set.csv"
            )
        return p
    folder = recording_path.parent
    ident = rec.attrs.get("stimulus_set_identifier")
    candidates = [folder / "stimulus_set.csv", folder / "stimuli" / "stimulus_set.csv"]
    if ident:
        candidates[:0] = [folder / f"{ident}.csv", folder / str(ident) / "stimulus_set.csv"]
    for c in candidates:
        if c.is_file():
            return c
    raise ScoringError(
        f"cannot find the stimuli of {recording_path}: looked for "
        f"{', '.join(str(c) for c in candidates)}; pass --stimuli path/to/stimulus_set.csv "
        "(a CSV with columns stimulus_id, filename next to the image files)"
    )


def model_images(stimulus_set: Any, stimulus_ids: list[str], sm: ScoringModel) -> np.ndarray:
    """Images in recording order at the model's size, channels and pixel normalisation."""
    order = {sid: i for i, sid in enumerate(stimulus_set.ids)}
    images = stimulus_set.load_images(size=sm.input_size, channels=sm.in_channels)
    images = images[[order[s] for s in stimulus_ids]]
    if sm.pixel_mean is not None and sm.pixel_std is not None:
        mean = np.asarray(sm.pixel_mean, np.float32).reshape(1, -1, 1, 1)
        std = np.asarray(sm.pixel_std, np.float32).reshape(1, -1, 1, 1)
        images = (images - mean) / std
    return np.ascontiguousarray(images, dtype=np.float32)


# ---------------------------------------------------------------------------------------------
# Scoring


def default_cache_dir() -> Path:
    """Activation cache folder: ``$BRAINLIKE_CACHE`` or ``~/.cache/brainlike/activations``."""
    import os

    env = os.environ.get("BRAINLIKE_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "brainlike" / "activations"


def _check_cross_validation(
    n_splits: int, n_bootstraps: int, train_fraction: float | None, default_fraction: float
) -> float:
    """Check the split settings; returns the train fraction (``default_fraction`` if None)."""
    if n_splits < 2:
        raise ScoringError(f"n_splits must be at least 2 (got {n_splits})")
    if n_bootstraps < 1:
        raise ScoringError(f"n_bootstraps must be at least 1 (got {n_bootstraps})")
    if train_fraction is None:
        train_fraction = default_fraction
    if not 0 < train_fraction < 1:
        raise ScoringError(f"train_fraction must lie in (0, 1) (got {train_fraction})")
    return train_fraction


def _chosen_regions(rec: Any, regions: list[str] | None) -> list[str]:
    """``regions`` (default every region of ``rec``), each checked against the recording."""
    all_regions = sorted({str(r) for r in rec.coords["region"].values})
    chosen = list(regions) if regions else all_regions
    unknown = [r for r in chosen if r not in all_regions]
    if unknown:
        raise ScoringError(
            f"region(s) {', '.join(unknown)} not in the recording; it has {', '.join(all_regions)}"
        )
    return chosen


def score_model(
    model: str | Path | ScoringModel,
    recording: str | Path,
    *,
    stimuli: str | Path | None = None,
    layers: list[str] | None = None,
    regions: list[str] | None = None,
    metric: str = "noise-corrected",
    mapping: str = "pls",
    n_splits: int = 10,
    train_fraction: float | None = None,
    n_bootstraps: int = 20,
    convention: str = "r2_over_ceiling",
    time_window: tuple[float, float] | None = None,
    numerator: str = "halves",
    seed: int = 0,
    model_seed: int = 0,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> ScoringResult:
    """Score every chosen layer of ``model`` against every area of ``recording``.

    Parameters
    ----------
    model : str, Path or ScoringModel
        Run directory, checkpoint, registry name (see :func:`load_scoring_model`) or a loaded
        model.
    recording : str or Path
        ``.nc`` (BrainIO/Brain-Score assembly), ``.nwb``, ``.npz`` or ``.npy`` recording.
    stimuli : str or Path, optional
        Stimulus-set CSV (default: found next to the recording).
    layers : list of str, optional
        Module names to score (default :func:`default_layers`).
    regions : list of str, optional
        Areas to score (default every region of the recording).
    metric : str
        ``"noise-corrected"`` (spec §4, mouse-work form; ceiling = pooled inter-animal
        consistency, §5), ``"plain"`` (r / split-half reliability, primate form) or
        ``"brainscore"`` (spec §10: raw r, internal-consistency ceiling, ceiled by
        ``convention``).
    mapping : str
        Mapping class: pls, ridge, ridgecv, linreg, one_to_one.
    n_splits, train_fraction : int, float
        Cross-validation (train fraction default 0.5, or 0.9 for ``brainscore``).
    n_bootstraps : int
        Trial-half bootstraps of the noise-corrected estimators (spec default 100).
    numerator : str
        Noise-corrected estimators only. ``"halves"`` is the spec §4 formula (half-trial
        numerator over Spearman-Brown-corrected terms; a perfect model of noisy data scores
        slightly below 1, by the same factor as the ceiling), ``"full"`` the unbiased form with
        a full-trial numerator.
    time_window : (start_ms, end_ms), optional
        Average time bins overlapping this window (default: all bins) for time-binned data.
    seed, model_seed : int
        Seed of splits and bootstraps; seed of a registry model's random weights.
    cache_dir : str or Path, optional
        Activation cache (default :func:`default_cache_dir`).
    device : str
        Where the model runs to extract activations (``"cpu"``, ``"cuda"``, ``"auto"``: the
        GPU when there is one); mappings run on the CPU.
    """
    from brainlike.analysis import neural
    from brainlike.analysis.activations import extract_activations
    from brainlike.data.recordings import (
        check_stimuli_match,
        read_recording,
        read_stimulus_set,
        responses,
        select_neuroids,
        validate_recording,
    )

    if metric not in METRICS:
        raise ScoringError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if convention not in CONVENTIONS:
        raise ScoringError(
            f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}"
        )
    train_fraction = _check_cross_validation(
        n_splits, n_bootstraps, train_fraction, 0.9 if metric == "brainscore" else 0.5
    )
    t0 = time.perf_counter()
    recording = Path(recording).expanduser()
    rec = read_recording(recording)
    rec = validate_recording(rec, min_trials=2)
    if time_window is not None or "time_bin" in rec.dims:
        rec = _average_time(rec, time_window)
    stim_path = locate_stimulus_set(recording, rec, stimuli)
    stim_set = read_stimulus_set(stim_path)
    check_stimuli_match(rec, stim_set)

    sm = model if isinstance(model, ScoringModel) else load_scoring_model(model, seed=model_seed)
    stimulus_ids = [str(s) for s in rec.coords["stimulus_id"].values]
    images = model_images(stim_set, stimulus_ids, sm)
    # A recurrent model (one with ``time_steps``) against a static recording: its per-step
    # layers, each averaged over the whole unroll (spec recurrent.md §2 assigns layers on
    # time-averaged responses).
    steps = getattr(sm.model, "time_steps", None)
    steps = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None
    layer_names = (
        list(layers)
        if layers
        else default_layers(sm.model, (sm.in_channels, sm.input_size, sm.input_size), steps)
    )
    chosen = _chosen_regions(rec, regions)
    labels = None
    if "object_name" in rec.coords:
        labels = np.asarray([str(v) for v in rec.coords["object_name"].values])

    if metric == "brainscore" and labels is not None:
        n_test = len(labels) - int(np.floor(len(labels) * train_fraction))
        n_classes = len(set(labels))
        if n_test < n_classes:
            raise ScoringError(
                f"Brain-Score splits are stratified by object_name ({n_classes} objects) but a "
                f"test fraction of {1 - train_fraction:.2f} leaves {n_test} of {len(labels)} "
                f"stimuli for testing; lower --train-fraction to at most "
                f"{1 - n_classes / len(labels):.2f}"
            )
    acts = extract_activations(
        sm.model,
        images,
        layer_names,
        cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
        preprocessing=sm.preprocessing(),
        progress=progress,
        device=_device(device),
        time_steps=steps,
    )
    if steps is not None:
        acts = {name: np.asarray(acts[name]).mean(axis=-1) for name in layer_names}
    common = {"n_splits": n_splits, "seed": seed}
    scores: dict[tuple[str, str], Any] = {}
    ceilings: dict[str, Any] = {}
    progress_bar = _progress(progress)
    with progress_bar:
        task = progress_bar.add_task(
            "scoring", total=len(chosen) * (len(layer_names) + (metric != "brainscore"))
        )
        for region in chosen:
            Y = responses(rec, region=region)
            animal = select_neuroids(rec, region=region).coords["animal"].values.astype(str)
            if metric == "brainscore":
                ceilings[region] = neural.brainscore_internal_consistency(Y, seed=seed)
            else:
                ceilings[region] = _ceiling(
                    neural, Y, animal, mapping, train_fraction, n_bootstraps, numerator, common
                )
                progress_bar.advance(task)
            for layer in layer_names:
                X = np.asarray(acts[layer])
                layer_mapping = _mapping_for(mapping, X.shape[1], X.shape[0], train_fraction)
                if metric == "noise-corrected":
                    s = neural.noise_corrected_predictivity(
                        X,
                        Y,
                        mapping=layer_mapping,
                        train_fraction=train_fraction,
                        n_bootstraps=n_bootstraps,
                        animal=animal,
                        numerator=numerator,
                        **common,
                    )
                elif metric == "plain":
                    s = neural.plain_predictivity(
                        X, Y, mapping=layer_mapping, train_fraction=train_fraction, **common
                    )
                else:
                    s = neural.brainscore_predictivity(
                        X,
                        Y,
                        mapping=layer_mapping,
                        labels=labels,
                        train_size=train_fraction,
                        ceiling=ceilings[region],
                        convention=convention,
                        **common,
                    )
                s.provenance.update({"layer": layer, "region": region, "model": sm.name})
                if not isinstance(layer_mapping, str):
                    s.parameters["mapping"] = f"pls-{layer_mapping.n_components}"
                scores[(region, layer)] = s
                progress_bar.advance(task)
    import brainlike

    return ScoringResult(
        model=sm.name,
        benchmark=str(rec.attrs.get("identifier") or recording.stem),
        metric=metric,
        mapping=mapping,
        layers=layer_names,
        regions=chosen,
        scores=scores,
        ceilings=ceilings,
        settings={
            "n_splits": n_splits,
            "train_fraction": train_fraction,
            "n_bootstraps": n_bootstraps,
            "convention": convention if metric == "brainscore" else None,
            "time_window": list(time_window) if time_window else None,
            "numerator": numerator if metric == "noise-corrected" else None,
            "seed": seed,
            "model_time_steps_averaged": steps,
            "ceiling": "internal consistency (split-half, SB)"
            if metric == "brainscore"
            else "inter-animal consistency (pooled source, same mapping)",
        },
        provenance={
            "model": sm.name,
            "model_source": sm.source,
            "model_details": sm.details,
            "weights_sha256": sm.weights_digest(),
            "preprocessing": sm.preprocessing(),
            "recording": str(recording),
            "stimulus_set": str(stim_path),
            "n_stimuli": len(stimulus_ids),
            "activation_cache_key": getattr(acts, "cache_key", None),
            "brainlike_version": brainlike.__version__,
            "wall_seconds": time.perf_counter() - t0,
        },
    )


def _mapping_for(mapping: str, n_features: int, n_stimuli: int, train_fraction: float) -> Any:
    """PLS-25 keeps 25 components where it can; narrower sources or few stimuli cap it."""
    if mapping != "pls":
        return mapping
    from brainlike.analysis.mapping import make_mapping

    k = min(25, n_features, int(np.floor(n_stimuli * train_fraction)) - 1)
    return "pls" if k >= 25 else make_mapping("pls", n_components=max(k, 1))


def _device(device: str) -> str:
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ScoringError(f"--device {device}: no CUDA device is visible; use --device cpu")
    return device


def _ceiling(neural, Y, animal, mapping, train_fraction, n_bootstraps, numerator, common):
    if len(set(animal)) < 2:
        raise ScoringError(
            "the inter-animal ceiling needs at least 2 animals per area; this area has "
            f"{len(set(animal))}. Use --metric brainscore (split-half ceiling) instead"
        )
    _, counts = np.unique(animal, return_counts=True)
    narrowest = int(len(animal) - counts.max())  # the pooled source of the biggest animal
    result = neural.inter_animal_consistency(
        Y,
        animal,
        mapping=_mapping_for(mapping, narrowest, Y.shape[0], train_fraction),
        design="pooled",
        train_fraction=train_fraction,
        n_bootstraps=n_bootstraps,
        numerator=numerator,
        **common,
    )
    return result.score


def _average_time(rec: Any, window: tuple[float, float] | None) -> Any:
    """Average the time bins that overlap ``window`` (all bins when None)."""
    from brainlike.data.recordings import average_time

    if "time_bin" not in rec.dims:
        raise ScoringError("--time-window was given but the recording has no time bins")
    if window is None:
        return rec.mean("time_bin", skipna=False)
    return average_time(rec, window[0], window[1], overlapping=True)


def _progress(enabled: bool):
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TimeElapsedColumn(),
        disable=not enabled,
        transient=True,
    )


# ---------------------------------------------------------------------------------------------
# Scoring over time (recurrent models, time-binned recordings)


@dataclass
class TemporalScoringResult:
    """Per-area scores over time of one (recurrent) model on one time-binned recording."""

    model: str
    benchmark: str
    metric: str
    mapping: str
    layers: list[str]  # candidate layers of the assignment
    regions: list[str]
    time_bins: np.ndarray  # (time_bin, 2) ms
    assignment: Any  # LayerAssignment
    scores: dict[str, Any]  # region -> TemporalScore of the assigned layer
    ceilings: dict[str, Any]  # region -> TemporalScore (inter-animal consistency per bin)
    settings: dict[str, Any]
    provenance: dict[str, Any]

    def percent_of_ceiling(self, region: str) -> np.ndarray:
        """The assigned layer's median score per bin as a percentage of the bin's ceiling."""
        return self.scores[region].percent_of_ceiling(self.ceilings[region])

    def rows(self) -> list[dict[str, Any]]:
        """One row per area: its layer, and per bin the score, its s.e.m., ceiling and %."""
        out = []
        for region in self.regions:
            score, ceiling = self.scores[region], self.ceilings[region]
            out.append(
                {
                    "region": region,
                    "layer": self.assignment.layer[region],
                    "best_fit_counts": dict(self.assignment.counts[region]),
                    "time_bin_start": [float(v) for v in self.time_bins[:, 0]],
                    "value": [_num(v) for v in score.median],
                    "error": [_num(v) for v in score.sem],
                    "ceiling": [_num(v) for v in ceiling.median],
                    "ceiling_error": [_num(v) for v in ceiling.sem],
                    "percent_of_ceiling": [_num(v) for v in self.percent_of_ceiling(region)],
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able result: settings, the layer assignment, per-bin rows and every score."""
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "metric": self.metric,
            "mapping": self.mapping,
            "temporal": True,
            "layers": self.layers,
            "regions": self.regions,
            "time_bins": self.time_bins.tolist(),
            "settings": self.settings,
            "provenance": self.provenance,
            "assignment": self.assignment.to_dict(),
            "rows": self.rows(),
            "scores": {r: s.to_dict() for r, s in self.scores.items()},
            "ceilings": {r: c.to_dict() for r, c in self.ceilings.items()},
        }


def score_temporal(
    model: str | Path | ScoringModel,
    recording: str | Path,
    *,
    stimuli: str | Path | None = None,
    layers: list[str] | None = None,
    regions: list[str] | None = None,
    metric: str = "noise-corrected",
    mapping: str = "pls",
    n_splits: int = 10,
    train_fraction: float | None = None,
    n_bootstraps: int = 20,
    numerator: str = "halves",
    time_steps: int | None = None,
    steps_for_bins: list[int] | None = None,
    time_varying: bool = False,
    seed: int = 0,
    model_seed: int = 0,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
) -> TemporalScoringResult:
    """Score a recurrent model over time against a time-binned recording (recurrent.md §2).

    1. Time-resolved activations of the candidate layers (``time_steps``: given, else the
       model's ``time_steps`` attribute; layers default to the modules run once per step).
    2. Layer assignment per area on time-averaged responses and features (the layer best for
       the most neuroids; :func:`brainlike.analysis.neural.assign_layers`).
    3. The assigned layer's score in every bin through a temporally fixed mapping
       (:func:`~brainlike.analysis.neural.temporal_predictivity`), next to the per-bin
       inter-animal ceiling (:func:`~brainlike.analysis.neural.temporal_inter_animal_consistency`)
       under the same mapping class.

    Bin ``b`` reads model step ``steps_for_bins[b]`` (default step ``b``: one model step per
    bin from stimulus onset), so the model must run at least as many steps as there are bins.

    Parameters
    ----------
    model, recording, stimuli, layers, regions, mapping, n_splits, n_bootstraps, numerator,
    seed, model_seed, cache_dir, device, progress
        As in :func:`score_model`.
    metric : {"noise-corrected", "plain"}
        Per-bin estimator: spec §4 noise-corrected predictivity, or r / split-half reliability
        (the primate form of recurrent.md §2).
    train_fraction : float, optional
        Default 0.5.
    time_steps : int, optional
        Steps to unroll the model for (default: its ``time_steps`` attribute).
    steps_for_bins : list of int, optional
        Model step read for each bin.
    time_varying : bool
        Fit one map per bin instead of the temporally fixed map (a comparison).
    """
    from brainlike.analysis import neural
    from brainlike.analysis.activations import (
        extract_activations,
        model_time_steps,
        resolve_time_steps,
    )
    from brainlike.data.recordings import (
        check_stimuli_match,
        read_recording,
        read_stimulus_set,
        responses,
        select_neuroids,
        validate_recording,
    )

    if metric not in ("noise-corrected", "plain"):
        raise ScoringError(
            f"--temporal scores with --metric noise-corrected or plain; got {metric!r}"
        )
    train_fraction = _check_cross_validation(n_splits, n_bootstraps, train_fraction, 0.5)
    t0 = time.perf_counter()
    recording = Path(recording).expanduser()
    rec = validate_recording(read_recording(recording), min_trials=2)
    if "time_bin" not in rec.dims:
        raise ScoringError(
            f"{recording.name} has no time bins; --temporal needs a recording with a time_bin "
            "dim (score it without --temporal)"
        )
    bins = np.stack(
        [rec.coords["time_bin_start"].values, rec.coords["time_bin_end"].values], axis=1
    ).astype(float)
    stim_path = locate_stimulus_set(recording, rec, stimuli)
    stim_set = read_stimulus_set(stim_path)
    check_stimuli_match(rec, stim_set)

    sm = model if isinstance(model, ScoringModel) else load_scoring_model(model, seed=model_seed)
    try:
        steps = (
            resolve_time_steps(sm.model, time_steps)
            if time_steps is not None
            else model_time_steps(sm.model)
        )
    except ValueError as err:
        raise ScoringError(f"{err}; give --time-steps for a model without one") from None
    if steps_for_bins is None and steps < len(bins):
        raise ScoringError(
            f"the recording has {len(bins)} time bins but the model runs {steps} steps; bin b "
            f"reads step b, so unroll at least {len(bins)} steps (--time-steps {len(bins)})"
        )
    input_shape = (sm.in_channels, sm.input_size, sm.input_size)
    layer_names = list(layers) if layers else default_layers(sm.model, input_shape, steps)
    if not layer_names:
        raise ScoringError(
            f"{sm.name} has no module that runs exactly once per step over {steps} steps; name "
            "the layers to score with --layers"
        )
    chosen = _chosen_regions(rec, regions)
    stimulus_ids = [str(s) for s in rec.coords["stimulus_id"].values]
    images = model_images(stim_set, stimulus_ids, sm)
    acts = extract_activations(
        sm.model,
        images,
        layer_names,
        cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
        preprocessing=sm.preprocessing(),
        time_steps=steps,
        progress=progress,
        device=_device(device),
    )
    n_stim, n_bins = len(stimulus_ids), len(bins)
    features = {layer: np.asarray(acts[layer]) for layer in layer_names}
    common = {"n_splits": n_splits, "seed": seed}
    neuroid_region = select_neuroids(rec, region=chosen).coords["region"].values.astype(str)
    Y_all = responses(rec, region=chosen)
    assignment = neural.assign_layers(
        features,
        Y_all,
        neuroid_region,
        {
            lay: _mapping_for(mapping, f.shape[1], n_stim, train_fraction)
            for lay, f in features.items()
        },
        steps_for_bins=steps_for_bins,
        train_fraction=train_fraction,
        **common,
    )
    scores: dict[str, Any] = {}
    ceilings: dict[str, Any] = {}
    progress_bar = _progress(progress)
    with progress_bar:
        task = progress_bar.add_task("scoring over time", total=2 * len(chosen))
        for region in chosen:
            Y = responses(rec, region=region)
            animal = select_neuroids(rec, region=region).coords["animal"].values.astype(str)
            if len(set(animal)) < 2:
                raise ScoringError(
                    f"the inter-animal ceiling needs at least 2 animals per area; {region} has "
                    f"{len(set(animal))}"
                )
            _, counts = np.unique(animal, return_counts=True)
            narrowest = int(len(animal) - counts.max())
            ceilings[region] = neural.temporal_inter_animal_consistency(
                Y,
                animal,
                _mapping_for(mapping, narrowest, n_stim, train_fraction),
                time_bins=bins,
                design="pooled",
                train_fraction=train_fraction,
                n_bootstraps=n_bootstraps,
                numerator=numerator,
                **common,
            )
            progress_bar.advance(task)
            layer = assignment.layer[region]
            X = features[layer]
            # the fixed map is fit on (training stimulus, bin) rows
            rows = n_stim if time_varying else n_stim * n_bins
            layer_mapping = _mapping_for(mapping, X.shape[1], rows, train_fraction)
            extra = (
                {"numerator": numerator, "animal": animal} if metric == "noise-corrected" else {}
            )
            score = neural.temporal_predictivity(
                X,
                Y,
                layer_mapping,
                estimator="noise_corrected" if metric == "noise-corrected" else "plain",
                time_varying=time_varying,
                steps_for_bins=steps_for_bins,
                train_fraction=train_fraction,
                n_bootstraps=n_bootstraps,
                time_bins=bins,
                **extra,
                **common,
            )
            score.provenance.update({"layer": layer, "region": region, "model": sm.name})
            scores[region] = score
            progress_bar.advance(task)
    import brainlike

    return TemporalScoringResult(
        model=sm.name,
        benchmark=str(rec.attrs.get("identifier") or recording.stem),
        metric=metric,
        mapping=mapping,
        layers=layer_names,
        regions=chosen,
        time_bins=bins,
        assignment=assignment,
        scores=scores,
        ceilings=ceilings,
        settings={
            "n_splits": n_splits,
            "train_fraction": train_fraction,
            "n_bootstraps": n_bootstraps,
            "numerator": numerator if metric == "noise-corrected" else None,
            "seed": seed,
            "time_steps": steps,
            "steps_for_bins": list(range(n_bins))
            if steps_for_bins is None
            else list(steps_for_bins),
            "mapping_over_time": "time-varying" if time_varying else "fixed",
            "layer_assignment": "argmax count of best-fit neuroids on time-averaged responses",
            "ceiling": "inter-animal consistency per time bin (pooled source, same mapping)",
        },
        provenance={
            "model": sm.name,
            "model_source": sm.source,
            "model_details": sm.details,
            "weights_sha256": sm.weights_digest(),
            "preprocessing": sm.preprocessing(),
            "recording": str(recording),
            "stimulus_set": str(stim_path),
            "n_stimuli": n_stim,
            "activation_cache_key": getattr(acts, "cache_key", None),
            "brainlike_version": brainlike.__version__,
            "wall_seconds": time.perf_counter() - t0,
        },
    )


def save_temporal_scoring(result: TemporalScoringResult, out_dir: str | Path) -> dict[str, str]:
    """Write ``scores.json`` and the score-over-time figure; returns their paths."""
    from brainlike.train.checkpoint import atomic_write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scores": str(atomic_write_json(out / "scores.json", result.to_dict()))}
    paths["profile"] = str(plot_temporal_profile(result, out / "temporal_profile.png"))
    return paths


def render_temporal_table(payload: dict[str, Any]) -> Any:
    """A rich table of a temporal result (``TemporalScoringResult.to_dict()``): one row per
    area (its assigned layer), one column per time bin, the median ceiled score (score /
    ceiling) in each cell."""
    from rich.table import Table

    settings = payload["settings"]
    table = Table(
        title=f"{payload['model']} on {payload['benchmark']}: {payload['metric']}, "
        f"{payload['mapping']} ({settings['mapping_over_time']} over time), "
        f"{settings['n_splits']} splits; score / ceiling per bin"
    )
    table.add_column("area (layer)", no_wrap=True)
    for start, _ in payload["time_bins"]:
        table.add_column(f"{start:g}", justify="right", no_wrap=True)
    for row in payload["rows"]:
        cells = ["-" if v is None else f"{v / 100:.2f}" for v in row["percent_of_ceiling"]]
        table.add_row(f"{row['region']} ({row['layer']})", *cells)
    table.caption = "columns: bin start (ms after stimulus onset); - : no ceiling in that bin"
    return table


def plot_temporal_profile(result: TemporalScoringResult, path: str | Path) -> Path:
    """Score vs time per area (median ± s.e.m.; ceiling dashed with its band) and % of ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.time_bins.mean(axis=1)
    fig, (ax, ax_pct) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=120)
    for i, region in enumerate(result.regions):
        colour = f"C{i}"
        score, ceiling = result.scores[region], result.ceilings[region]
        label = f"{region} ({result.assignment.layer[region]})"
        ax.errorbar(t, score.median, yerr=score.sem, marker="o", ms=3, color=colour, label=label)
        c, ce = ceiling.median, np.nan_to_num(ceiling.sem)
        ax.plot(t, c, ls="--", lw=1, color=colour)
        ax.fill_between(t, c - ce, c + ce, color=colour, alpha=0.15, lw=0)
        ax_pct.plot(
            t, result.percent_of_ceiling(region), marker="o", ms=3, color=colour, label=label
        )
    ax.set_xlabel("time after stimulus onset (ms, bin centre)")
    ax.set_ylabel(
        "noise-corrected predictivity" if result.metric == "noise-corrected" else "r / reliability"
    )
    ax.set_title(f"{result.model} on {result.benchmark}; dashed: ceiling", fontsize=9)
    ax.legend(fontsize=8)
    ax_pct.axhline(100, color="k", lw=0.8, ls=":")
    ax_pct.set_xlabel("time after stimulus onset (ms, bin centre)")
    ax_pct.set_ylabel("% of inter-animal ceiling")
    ax_pct.set_title(
        f"{result.mapping}, {result.settings['mapping_over_time']} mapping", fontsize=9
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Outputs


def save_scoring(result: ScoringResult, out_dir: str | Path) -> dict[str, str]:
    """Write ``scores.json`` and the per-layer profile figure; returns their paths."""
    from brainlike.train.checkpoint import atomic_write_json

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scores": str(atomic_write_json(out / "scores.json", result.to_dict()))}
    paths["profile"] = str(plot_layer_profile(result, out / "layer_profile.png"))
    return paths


def plot_layer_profile(result: ScoringResult, path: str | Path) -> Path:
    """Score of every layer per area (line with s.e.m.), ceiling as a band, best layer marked."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(result.layers) + 3), 3.6), dpi=120)
    x = np.arange(len(result.layers))
    for i, region in enumerate(result.regions):
        colour = f"C{i}"
        vals = np.array([result._value(region, lay) for lay in result.layers], float)
        errs = np.array(
            [_num(result.scores[(region, lay)].error) or 0.0 for lay in result.layers], float
        )
        ax.errorbar(x, vals, yerr=errs, marker="o", color=colour, label=region, capsize=2)
        if result.metric != "brainscore":
            c = result.ceilings[region]
            if c.value is not None and np.isfinite(c.value):
                err = _num(c.error) or 0.0
                ax.axhspan(c.value - err, c.value + err, color=colour, alpha=0.15)
                ax.axhline(c.value, color=colour, ls="--", lw=1)
        best = result.best_layer(region)
        if best is not None:
            j = result.layers.index(best)
            ax.plot(x[j], vals[j], marker="*", ms=14, color=colour, mec="k")
    ax.set_xticks(x)
    ax.set_xticklabels(result.layers, rotation=45, ha="right", fontsize=8)
    ylabel = {
        "noise-corrected": "noise-corrected predictivity",
        "plain": "r / split-half reliability",
        "brainscore": f"ceiled score ({result.settings.get('convention')})",
    }[result.metric]
    ax.set_ylabel(ylabel)
    ax.set_title(f"{result.model} on {result.benchmark} ({result.mapping}); dashed: ceiling")
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def record_scores(result: ScoringResult, db: Any) -> int:
    """Write every score of ``result`` into the results database; returns the number of rows."""
    rows = []
    for (region, layer), s in result.scores.items():
        d = s.to_dict()
        d["ceiling"] = _num(
            s.ceiling if result.metric == "brainscore" else result.ceilings[region].value
        )
        rows.append(
            {
                "model": result.model,
                "benchmark": result.benchmark,
                "region": region,
                "layer": layer,
                "score": d,
                "model_hash": result.provenance.get("weights_sha256"),
            }
        )
    db.add_scores(rows)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# Simulated benchmark


def simulate_benchmark(
    out_dir: str | Path,
    *,
    brain: str = "resnet20",
    brain_seed: int = 0,
    areas: dict[str, str] | None = None,
    n_per_digit: int = 30,
    image_size: int = 32,
    n_animals: int = 4,
    units_per_animal: int = 40,
    n_trials: int = 10,
    noise_sd: float = 1.0,
    noise: str = "gaussian",
    ragged_fraction: float = 0.0,
    fmt: str = "nc",
    pool: int | None = 2,
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a simulated benchmark: rendered-digit stimuli and animals recorded from a known brain.

    The brain is a registry model with random weights from ``brain_seed``; each area is one of
    its layers (``areas``: region -> module name), each animal a random subset of that layer's
    units observed with trial noise (spec: neural-evaluation.md §8). Scoring the same model
    (``brainlike score <brain> --seed <brain_seed>``) should reach about 100 % of the
    inter-animal ceiling at the generating layers.

    ``pool`` (default 2) average-pools a convolutional layer's maps to ``pool x pool`` before
    units are drawn: each simulated neuron then integrates over a quadrant of the image, and an
    area has ``channels * pool**2`` distinct response profiles. Without pooling, a 16,384-unit
    layer sampled at a few dozen neurons per animal gives animals that barely predict each other
    (other animals' neurons sit elsewhere on the map), so the inter-animal ceiling falls far
    below what the generating layer reaches; ``pool=None`` keeps single units.

    A folder that already holds a benchmark is refused unless ``overwrite`` (checked before any
    work). ``fmt="nwb"`` writes spike times (see :func:`write_nwb_from_simulation`).

    Returns a dict with the paths of the recording and the stimulus set and the ground truth.
    """
    from brainlike.analysis.activations import extract_activations
    from brainlike.data.recordings import write_nwb, write_recording, write_stimulus_set
    from brainlike.data.simulate import simulate_animals
    from brainlike.data.stimuli import render_digits

    if fmt not in ("nc", "npz", "nwb"):
        raise ScoringError(f"unknown format {fmt!r}; choose nc, npz or nwb")
    out = _simulation_folder(out_dir, overwrite)
    # a trained brain sees the images at the size it was trained on (as `score` shows them to
    # candidates); a registry brain at the rendered size
    trained = Path(brain).expanduser().exists()
    sm = load_scoring_model(brain, seed=brain_seed, input_size=None if trained else image_size)
    if areas is None:
        layers = default_layers(sm.model, (sm.in_channels, sm.input_size, sm.input_size))
        # Early, middle and late processing stages (the readout and pooling left out).
        stages = layers[:-2] if len(layers) > 4 else layers
        pick = [stages[round(f * (len(stages) - 1))] for f in (0.15, 0.5, 1.0)]
        areas = dict(zip(("V1", "V4", "IT"), pick, strict=True))
    images, labels = render_digits(n_per_digit, size=image_size, channels=1, rng=seed)
    ids = [f"digit{int(lab)}_{i:04d}" for i, lab in enumerate(labels)]
    stim_dir = out / "stimuli"
    csv = write_stimulus_set(images[:, 0], ids, stim_dir, object_name=[str(int(v)) for v in labels])
    from brainlike.data.recordings import read_stimulus_set

    model_input = model_images(read_stimulus_set(csv), ids, sm)
    acts = extract_activations(sm.model, model_input, list(areas.values()), progress=progress)
    features = {
        region: _pool_units(np.asarray(acts[layer], np.float64), acts.unit_shape(layer), pool)
        for region, layer in areas.items()
    }
    sim = simulate_animals(
        features,
        n_animals=n_animals,
        units_per_animal=units_per_animal,
        n_trials=n_trials,
        noise_sd=noise_sd,
        noise=noise,
        ragged_fraction=ragged_fraction,
        seed=seed,
    )
    identifier = f"simulated-{brain}-seed{brain_seed}"
    truth = {
        "brain": brain,
        "brain_seed": brain_seed,
        "areas": areas,
        "noise_sd": noise_sd,
        "noise": noise,
        "n_trials": n_trials,
        "pool": pool,
        "expected_reliability_median": float(np.nanmedian(sim.expected_reliability())),
    }
    if fmt == "nwb":
        path = write_nwb_from_simulation(sim, ids, out / "recording.nwb", write_nwb)
    else:
        rec = sim.to_recording(
            ids,
            identifier=identifier,
            stimulus_set_identifier="stimulus_set",
            stimulus_coords={"object_name": [str(int(v)) for v in labels]},
        )
        rec.attrs["ground_truth"] = json.dumps(truth)
        path = write_recording(rec, out / f"recording.{fmt}")
    from brainlike.train.checkpoint import atomic_write_json

    atomic_write_json(out / "ground_truth.json", truth)
    return {"recording": str(path), "stimuli": str(csv), "truth": truth}


def simulate_dynamic_benchmark(
    out_dir: str | Path,
    *,
    brain: str | None = None,
    brain_seed: int = 0,
    areas: dict[str, str] | None = None,
    n_per_digit: int = 30,
    image_size: int = 32,
    n_steps: int = 26,
    image_steps: int = 10,
    bin_ms: float = 10.0,
    widths: tuple[int, ...] = (64, 64),
    n_animals: int = 4,
    units_per_animal: int = 40,
    n_trials: int = 10,
    noise_sd: float = 1.0,
    noise: str = "gaussian",
    ragged_fraction: float = 0.0,
    fmt: str = "nc",
    pool: int | None = 2,
    seed: int = 0,
    progress: bool = False,
    overwrite: bool = False,
) -> dict[str, Any]:
    """Write a simulated time-binned benchmark: digit stimuli and animals with known dynamics.

    The brain is either the built-in ground-truth recurrent network (``brain=None``:
    :func:`brainlike.data.simulate.random_recurrent_layers` on the stimulus pixels, weights
    from ``brain_seed``, ``n_steps`` steps with the image on for the first ``image_steps``;
    areas ``V4`` and ``IT`` are its layers 1 and 2 by default), or a registered recurrent model
    with a ``time_steps`` attribute (its time-resolved activations, one bin per step; areas
    are module names). Each animal is a subset of an area's units observed with trial noise
    in every bin (:func:`~brainlike.data.simulate.simulate_dynamic_animals`); bin ``b`` covers
    ``[b * bin_ms, (b + 1) * bin_ms)`` ms. Scoring the same registered model with
    ``brainlike score <brain> --temporal`` should reach about 100 % of the per-bin ceiling
    while the image drives the areas. Runs offline. A folder that already holds a benchmark is
    refused unless ``overwrite`` (checked before any work). ``fmt="nwb"`` writes spike times
    whose counts in every bin are the trials (:func:`write_nwb_from_simulation`).

    Returns a dict with the paths of the recording and the stimulus set and the ground truth.
    """
    from brainlike.data.recordings import read_stimulus_set, write_recording, write_stimulus_set
    from brainlike.data.simulate import random_recurrent_layers, simulate_dynamic_animals
    from brainlike.data.stimuli import render_digits

    if fmt not in ("nc", "npz", "nwb"):
        raise ScoringError(f"unknown format {fmt!r}; choose nc, npz or nwb")
    out = _simulation_folder(out_dir, overwrite)
    images, labels = render_digits(n_per_digit, size=image_size, channels=1, rng=seed)
    ids = [f"digit{int(lab)}_{i:04d}" for i, lab in enumerate(labels)]
    csv = write_stimulus_set(
        images[:, 0], ids, out / "stimuli", object_name=[str(int(v)) for v in labels]
    )
    truth: dict[str, Any] = {"brain_seed": brain_seed}
    if brain is None:
        layers = random_recurrent_layers(
            images, widths, n_steps=n_steps, image_steps=image_steps, seed=brain_seed
        )
        areas = areas or {"V4": "layer1", "IT": "layer2"}
        missing = [lay for lay in areas.values() if lay not in layers]
        if missing:
            raise ScoringError(
                f"the built-in recurrent brain has layers {', '.join(layers)}; no {missing[0]!r}"
            )
        features = {region: layers[layer] for region, layer in areas.items()}
        truth.update(
            brain="random-recurrent",
            widths=list(widths),
            n_steps=n_steps,
            image_steps=image_steps,
        )
    else:
        from brainlike.analysis.activations import extract_activations, model_time_steps

        # the model's own input size: what `brainlike score` will show it
        sm = load_scoring_model(brain, seed=brain_seed)
        try:
            steps = model_time_steps(sm.model)
        except ValueError as err:
            raise ScoringError(
                f"--dynamic needs a recurrent brain: {err}; leave --brain out for the built-in "
                "recurrent network"
            ) from None
        if areas is None:
            layers = default_layers(sm.model, (sm.in_channels, sm.input_size, sm.input_size), steps)
            if not layers:
                raise ScoringError(f"{brain} has no module run once per step; pass --areas")
            areas = (
                {"V4": layers[(len(layers) - 1) // 2], "IT": layers[-1]}
                if len(layers) > 1
                else {"IT": layers[0]}
            )
        model_input = model_images(read_stimulus_set(csv), ids, sm)
        acts = extract_activations(
            sm.model,
            model_input,
            list(dict.fromkeys(areas.values())),
            time_steps=steps,
            progress=progress,
        )
        features = {
            region: _pool_units(np.asarray(acts[layer], np.float64), acts.unit_shape(layer), pool)
            for region, layer in areas.items()
        }
        truth.update(brain=brain, time_steps=steps, pool=pool)
    sim = simulate_dynamic_animals(
        features,
        bin_ms=bin_ms,
        n_animals=n_animals,
        units_per_animal=units_per_animal,
        n_trials=n_trials,
        noise_sd=noise_sd,
        noise=noise,
        ragged_fraction=ragged_fraction,
        seed=seed,
    )
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = sim.expected_reliability()
    truth.update(
        areas=areas,
        noise_sd=noise_sd,
        noise=noise,
        n_trials=n_trials,
        bin_ms=bin_ms,
        n_bins=int(sim.time_bins.shape[0]),
        expected_reliability_median_per_bin=[_num(v) for v in np.median(expected, axis=0)],
    )
    if fmt == "nwb":
        from brainlike.data.recordings import write_nwb

        path = write_nwb_from_simulation(sim, ids, out / "recording.nwb", write_nwb)
    else:
        rec = sim.to_recording(
            ids,
            identifier=f"simulated-dynamic-{truth['brain']}-seed{brain_seed}",
            stimulus_set_identifier="stimulus_set",
            stimulus_coords={"object_name": [str(int(v)) for v in labels]},
        )
        rec.attrs["ground_truth"] = json.dumps(truth)
        path = write_recording(rec, out / f"recording.{fmt}")
    from brainlike.train.checkpoint import atomic_write_json

    atomic_write_json(out / "ground_truth.json", truth)
    return {"recording": str(path), "stimuli": str(csv), "truth": truth}


def _pool_units(X: np.ndarray, unit_shape: tuple[int, ...] | None, pool: int | None) -> np.ndarray:
    """Average-pool (stimulus, C*H*W[, time]) conv features to (stimulus, C*pool*pool[, time])."""
    if not pool or unit_shape is None or len(unit_shape) != 3:
        return X
    import torch
    from torch.nn import functional as F

    c, h, w = unit_shape
    if h < pool or w < pool:
        return X
    if X.ndim == 3:  # every time step pooled alike
        steps = X.shape[2]
        flat = np.moveaxis(X, 2, 1).reshape(len(X) * steps, -1)
        pooled = _pool_units(np.ascontiguousarray(flat), unit_shape, pool)
        return np.moveaxis(pooled.reshape(len(X), steps, -1), 1, 2)
    t = torch.from_numpy(X.reshape(len(X), c, h, w))
    return F.adaptive_avg_pool2d(t, pool).reshape(len(X), -1).numpy()


def write_nwb_from_simulation(sim: Any, ids: list[str], path: Path, write_nwb: Any) -> Path:
    """Spike trains whose counts equal the simulated trials, as an NWB file.

    Static animals: the spikes of a trial fall 70-170 ms after its presentation's onset (the
    default counting window of :func:`~brainlike.data.recordings.read_nwb`). Dynamic animals
    (``sim.time_bins``): the spikes of every time bin fall inside that bin, so reading with
    ``read_nwb(path, time_bins=sim.time_bins, squeeze_time=False)`` gives back the trials bin
    by bin. Responses are rounded and clipped at 0 (counts); with Poisson noise they are counts
    already. Onsets are at least 300 ms apart and 100 ms past the last bin.
    """
    rng = np.random.default_rng(0)
    counts = np.nan_to_num(np.clip(np.round(sim.responses), 0, None)).astype(int)
    if counts.ndim == 3:
        counts = counts[..., None]
        windows_ms = np.array([[70.0, 170.0]])
    else:
        windows_ms = np.asarray(sim.time_bins, dtype=float)
    # spikes 0.5 ms inside their window, clear of rounding at its edges
    low = windows_ms[:, 0] / 1000 + 0.0005
    high = windows_ms[:, 1] / 1000 - 0.0005
    spacing = max(0.3, float(windows_ms[:, 1].max()) / 1000 + 0.1)
    n_stim, n_neur, n_trial, n_bins = counts.shape
    order = np.concatenate([rng.permutation(n_stim) for _ in range(n_trial)])
    onsets = 1.0 + spacing * np.arange(n_trial * n_stim)
    onset_of = np.empty((n_stim, n_trial))  # presentation time of each stimulus and trial
    onset_of[order, np.repeat(np.arange(n_trial), n_stim)] = onsets
    start = onset_of[:, :, None] + low  # (stimulus, trial, bin)
    width = np.broadcast_to(high - low, start.shape)
    spikes = []
    for n in range(n_neur):
        k = counts[:, n].ravel()
        times = np.repeat(start.ravel(), k) + np.repeat(width.ravel(), k) * rng.random(k.sum())
        spikes.append(np.sort(times))
    stim_of = [ids[s] for s in order]
    return write_nwb(
        path,
        spike_times=spikes,
        presentations=list(zip(onsets.tolist(), stim_of, strict=True)),
        region=[str(r) for r in sim.region],
        animal=[str(a) for a in sim.animal],
    )


def _simulation_folder(out_dir: str | Path, overwrite: bool) -> Path:
    """The output folder of a simulated benchmark, checked before any work is done.

    A folder that already holds a benchmark's files (a recording, ``stimuli/``,
    ``ground_truth.json``) is refused unless ``overwrite``; then only those files are removed
    (others in the folder stay), so no recording of another format is left behind.
    """
    import shutil

    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ScoringError(f"{out} is a file; give a folder for the simulated benchmark")
    names = ("recording.nc", "recording.npz", "recording.nwb", "stimuli", "ground_truth.json")
    existing = [out / name for name in names if (out / name).exists()]
    if existing and not overwrite:
        raise ScoringError(
            f"{out} already holds a simulated benchmark ({', '.join(p.name for p in existing)}); "
            "pass --overwrite to replace it, or choose another folder"
        )
    for p in existing:
        shutil.rmtree(p) if p.is_dir() else p.unlink()
    out.mkdir(parents=True, exist_ok=True)
    return out
