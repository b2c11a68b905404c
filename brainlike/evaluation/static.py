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

import hashlib
import json
import os
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.progress import ProgressDisplay

METRICS = ("noise-corrected", "plain", "brainscore")
CONVENTIONS = ("r2_over_ceiling", "squared_ratio", "ratio")


class ScoringError(ValueError):
    """A scoring request that cannot be carried out as asked (the message says how to fix it)."""


class IncompleteRunWarning(UserWarning):
    """The scored checkpoint is from a run that stopped before its last configured epoch."""


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

    A checkpoint of a run that stopped before its configured epochs (killed, interrupted)
    is scored as it is, with an :class:`IncompleteRunWarning` naming the epoch; ``details``
    records ``epoch`` (the checkpoint's last complete epoch), ``total_epochs`` (configured)
    and ``complete``.
    """
    import torch

    from brainlike.registry import list_models, model_entry
    from brainlike.train.checkpoint import load_model_from_checkpoint, planned_epochs

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
        epoch = state.get("epoch")
        total = planned_epochs(state.get("config"))
        complete = None if epoch is None or total is None else int(epoch) >= total
        if complete is False:
            what = f"run {path}" if path.is_dir() else f"the run of checkpoint {path}"
            warnings.warn(
                f"{what} stopped after epoch {epoch} of {total}; scoring its epoch-{epoch} "
                "checkpoint (finish the run with `brainlike train ... --resume`)",
                IncompleteRunWarning,
                stacklevel=2,
            )
        return ScoringModel(
            model=model.eval(),
            name=name,
            source="run" if path.is_dir() else "checkpoint",
            in_channels=int(in_channels or prep["in_channels"]),
            input_size=int(input_size or prep["input_size"]),
            pixel_mean=tuple(prep["pixel_mean"]) if prep.get("pixel_mean") else None,
            pixel_std=tuple(prep["pixel_std"]) if prep.get("pixel_std") else None,
            details={
                "checkpoint": str(ckpt),
                "epoch": epoch,
                "total_epochs": total,
                "complete": complete,
            },
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


#: How score_model tells the layers that cannot be told apart from the best one (item of every
#: ``settings``). Splits overlap (random train/test splits of one stimulus set), so the naive
#: standard error over splits is too small; Nadeau & Bengio's corrected resampled variance
#: accounts for it.
BEST_LAYER_CRITERION = (
    "paired over the splits (every layer of an area is scored on the same splits, same seed): "
    "d = best layer minus this layer, per split, in the unit the best layer is chosen by; the "
    "layer is indistinguishable from the best when mean(d) <= 2 x SE, SE = sd(d, ddof=1) x "
    "sqrt(1/n + n_test/n_train) (Nadeau & Bengio 2003 corrected resampled standard error; n "
    "splits with both values finite, n_test/n_train from the train fraction)"
)
INDISTINGUISHABLE_Z = 2.0

# how ceiled follows from raw and ceiling, per Brain-Score convention (spec §10)
_CEILED_AS = {
    "r2_over_ceiling": "raw^2 / ceiling (Brain-Score r2_over_ceiling)",
    "squared_ratio": "(raw / ceiling)^2 (Brain-Score squared_ratio)",
    "ratio": "raw / ceiling (Brain-Score ratio)",
}


@dataclass
class ScoringResult:
    """Every layer x area score of one model on one recording, with the ceilings.

    Every (area, layer) has three numbers, each with its own error (:meth:`measures`): the
    raw score, the area's ceiling, and the ceiled score; :meth:`definitions` says what each
    number and each error is for this metric.
    """

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

    def __post_init__(self) -> None:
        self.settings = {**self.settings}
        self.settings.setdefault("best_layer_criterion", BEST_LAYER_CRITERION)

    def best_layer(self, region: str) -> str | None:
        """The layer with the highest score for ``region`` (None when every score is NaN)."""
        vals = [(self._value(region, lay), lay) for lay in self.layers]
        vals = [(v, lay) for v, lay in vals if np.isfinite(v)]
        return max(vals)[1] if vals else None

    def _value(self, region: str, layer: str) -> float:
        s = self.scores[(region, layer)]
        v = s.ceiled if self.metric == "brainscore" else s.value
        return float("nan") if v is None else float(v)

    def _per_split(self, region: str, layer: str) -> np.ndarray | None:
        """Per-split values in the unit of :meth:`_value` (Brain-Score: each split's median r
        ceiled with the area's ceiling under the convention)."""
        s = self.scores[(region, layer)]
        if s.per_split is None:
            return None
        per_split = np.asarray(s.per_split, float)
        if self.metric != "brainscore":
            return per_split
        from brainlike.analysis.neural import ceiled_score

        if s.ceiling is None or not s.convention:
            return None
        return np.array([ceiled_score(float(v), s.ceiling, s.convention) for v in per_split])

    def layer_comparison(self, region: str) -> dict[str, dict[str, Any]]:
        """Per layer: its spread over splits and its paired comparison with the best layer.

        Returns
        -------
        dict layer -> dict
            ``split_sd`` (s.d. over splits, ddof 1, of the per-split values), ``n_splits``
            (splits with both this layer's and the best layer's value finite),
            ``difference_from_best`` (mean over splits of best minus this layer),
            ``difference_se`` (its corrected resampled standard error) and
            ``indistinguishable_from_best`` (True for the best layer itself; None when it
            cannot be judged: no per-split values, fewer than 2 common splits, a NaN score).
            See :data:`BEST_LAYER_CRITERION`.
        """
        best = self.best_layer(region)
        tf = float(self.settings.get("train_fraction") or 0.5)
        ref = self._per_split(region, best) if best is not None else None
        out: dict[str, dict[str, Any]] = {}
        for layer in self.layers:
            mine = self._per_split(region, layer)
            finite = mine[np.isfinite(mine)] if mine is not None else np.array([])
            entry: dict[str, Any] = {
                "split_sd": _num(finite.std(ddof=1)) if finite.size > 1 else None,
                "n_splits": 0,
                "difference_from_best": None,
                "difference_se": None,
                "indistinguishable_from_best": None,
            }
            if layer == best:
                entry.update(n_splits=int(finite.size), indistinguishable_from_best=True)
                entry.update(difference_from_best=0.0, difference_se=0.0)
            elif ref is not None and mine is not None and np.isfinite(self._value(region, layer)):
                d = ref - mine
                d = d[np.isfinite(d)]
                entry["n_splits"] = int(d.size)
                if d.size >= 2:
                    # not in the spec: Nadeau & Bengio (2003) corrected resampled variance
                    se = float(d.std(ddof=1) * np.sqrt(1 / d.size + (1 - tf) / tf))
                    mean = float(d.mean())
                    entry.update(
                        difference_from_best=mean,
                        difference_se=se,
                        indistinguishable_from_best=bool(mean <= INDISTINGUISHABLE_Z * se),
                    )
            out[layer] = entry
        return out

    def indistinguishable_layers(self, region: str) -> list[str]:
        """The best layer and every layer not distinguishable from it (layer order)."""
        comparison = self.layer_comparison(region)
        return [lay for lay in self.layers if comparison[lay]["indistinguishable_from_best"]]

    def measures(self, region: str, layer: str) -> dict[str, float | None]:
        """``raw``, ``ceiling`` and ``ceiled`` of one (area, layer), each with its error
        (``*_error``); None where a number is undefined (NaN, no positive ceiling).
        See :meth:`definitions` for what each is."""
        s = self.scores[(region, layer)]
        c = self.ceilings[region]
        raw, raw_error = _num(s.value), _num(s.error)
        if self.metric == "brainscore":
            ceiling = _num(s.ceiling)
            ceiled = _num(s.ceiled)
            ceiled_error = _num(s.provenance.get("ceiled_error"))
        else:
            ceiling = _num(c.value)
            ok = raw is not None and ceiling is not None and ceiling > 0
            ceiled = raw / ceiling if ok else None  # type: ignore[operator]
            ceiled_error = (
                raw_error / ceiling if ok and raw_error is not None else None  # type: ignore[operator]
            )
        return {
            "raw": raw,
            "raw_error": raw_error,
            "ceiling": ceiling,
            "ceiling_error": _num(c.error),
            "ceiled": ceiled,
            "ceiled_error": ceiled_error,
        }

    def definitions(self) -> dict[str, dict[str, str]]:
        """What ``raw``, ``ceiling`` and ``ceiled`` are, and what each one's error is, in the
        words of the functions that computed them: ``{"values": {...}, "errors": {...}}``."""
        first = next(iter(self.scores.values()), None)
        ceiling = next(iter(self.ceilings.values()), None)
        prov = first.provenance if first is not None else {}
        cprov = ceiling.provenance if ceiling is not None else {}
        if self.metric == "brainscore":
            convention = self.settings.get("convention") or ""
            ceiled = _CEILED_AS.get(convention, f"raw ceiled by {convention}")
            ceiled_error = (
                "the raw error carried through the convention with the ceiling held fixed "
                "(|d ceiled / d raw| x raw error)"
            )
        else:
            ceiled = "raw / ceiling"
            ceiled_error = "raw error / ceiling (the ceiling held fixed)"
        return {
            "values": {
                "raw": f"{self.metric} score: {prov.get('center', 'see provenance')}",
                "ceiling": f"{self.settings.get('ceiling')}: {cprov.get('center', '')}".rstrip(
                    ": "
                ),
                "ceiled": ceiled,
            },
            "errors": {
                "raw": str(prov.get("error", "not recorded")),
                "ceiling": str(cprov.get("error", "not recorded")),
                "ceiled": ceiled_error,
            },
        }

    def percent_of_ceiling(self, region: str, layer: str) -> float:
        """The layer's score as a percentage of its area's ceiling (100 x ceiled)."""
        ceiled = self.measures(region, layer)["ceiled"]
        return float("nan") if ceiled is None else 100.0 * float(ceiled)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (region, layer), regions in result order, layers in scoring order."""
        out = []
        for region in self.regions:
            best = self.best_layer(region)
            comparison = self.layer_comparison(region)
            for layer in self.layers:
                s = self.scores[(region, layer)]
                out.append(
                    {
                        "region": region,
                        "layer": layer,
                        **self.measures(region, layer),
                        "percent_of_ceiling": _num(self.percent_of_ceiling(region, layer)),
                        "best": layer == best,
                        **comparison[layer],
                        "n_neuroids": int(np.sum(np.isfinite(s.raw)))
                        if s.raw is not None
                        else None,
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able result: settings, definitions, ceilings, rows and every Score in full."""
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "recording_sha256": self.provenance.get("recording_sha256"),
            "metric": self.metric,
            "mapping": self.mapping,
            "layers": self.layers,
            "regions": self.regions,
            "settings": self.settings,
            "provenance": self.provenance,
            "definitions": self.definitions(),
            "best_layer": {r: self.best_layer(r) for r in self.regions},
            "indistinguishable_from_best": {
                r: self.indistinguishable_layers(r) for r in self.regions
            },
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


def recording_digest(path: str | Path) -> str:
    """sha256 of a recording's file (every file under it, by relative path, for a folder).

    Part of a benchmark's identity: two recordings that share a name but not their content
    are two benchmarks in the results database and in the score folders.
    """
    path = Path(path).expanduser()
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def score_output_dir(
    model: str,
    benchmark: str,
    recording_sha256: str,
    metric: str,
    mapping: str,
    *,
    temporal: bool = False,
    root: str | Path = Path("runs") / "scores",
) -> Path:
    """Default folder of a score: ``root/<model>/<benchmark>-<hash8>/<metric>-<mapping>[-temporal]``.

    Keyed by model, recording (name and the first 8 hex digits of its sha256) and way of
    scoring, so scoring one model on a second recording, or with another metric, never lands
    on the first one's ``scores.json``.
    """
    how = f"{metric}-{mapping}" + ("-temporal" if temporal else "")
    return Path(root) / _slug(model) / f"{_slug(benchmark)}-{recording_sha256[:8]}" / _slug(how)


def _slug(text: str) -> str:
    """A folder name from free text (letters, digits, ``_.-`` kept; other runs -> ``_``)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "unnamed"


def check_output_free(out_dir: str | Path, overwrite: bool) -> Path:
    """``out_dir/scores.json``, refused (:class:`ScoringError`) when it exists and not
    ``overwrite``."""
    target = Path(out_dir) / "scores.json"
    if target.exists() and not overwrite:
        raise ScoringError(
            f"{target} exists; pass --overwrite to replace it or --out to write elsewhere"
        )
    return target


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


def metric_seed(metric: str, seed: int | None = None) -> int:
    """The seed a metric scores with: ``seed`` if given, else the metric's convention.

    Brain-Score draws its cross-validation splits and ceiling halvings with seed 1 (spec:
    neural-evaluation.md §10), so ``brainscore`` defaults to 1; the other metrics to 0.
    """
    if seed is not None:
        return int(seed)
    return 1 if metric == "brainscore" else 0


def check_metric_preconditions(
    rec: Any, metric: str, regions: list[str], train_fraction: float
) -> None:
    """Check that ``rec`` holds what ``metric`` needs, before any model sees an image.

    One check per metric (:data:`METRIC_PRECONDITIONS`), on the recording alone: trials per
    stimulus for the split-half estimates, animals per area for an inter-animal ceiling, and
    stimuli (per object, for stratified splits) for the train/test splits.

    Raises
    ------
    ScoringError
        One line naming the problem and the fix.
    """
    METRIC_PRECONDITIONS[metric](rec, regions, train_fraction)


def _check_trials(rec: Any, purpose: str) -> None:
    from brainlike.data.recordings import RecordingError, validate_recording

    try:
        validate_recording(rec, min_trials=2, purpose=purpose)
    except RecordingError as err:
        raise ScoringError(str(err)) from None


def _check_random_splits(rec: Any, train_fraction: float, metric: str) -> None:
    """The unstratified splits of :func:`brainlike.analysis.neural.train_test_splits`."""
    n = int(rec.sizes["stimulus"])
    n_train = int(round(train_fraction * n))
    if n_train < 2 or n - n_train < 3:
        raise ScoringError(
            f"--metric {metric} splits the stimuli into train and test sets, and {n} stimuli "
            f"with --train-fraction {train_fraction:g} leave {n_train} for training and "
            f"{n - n_train} for testing (at least 2 and 3 needed); record more stimuli or "
            "change --train-fraction"
        )


def _area_with_one_animal(rec: Any, regions: list[str]) -> tuple[str, int] | None:
    """The first of ``regions`` recorded in fewer than 2 animals, with its count (else None):
    an inter-animal ceiling needs 2."""
    region = np.asarray(rec.coords["region"].values).astype(str)
    animal = np.asarray(rec.coords["animal"].values).astype(str)
    for r in regions:
        n = len(set(animal[region == r]))
        if n < 2:
            return r, n
    return None


def _noise_corrected_preconditions(rec: Any, regions: list[str], train_fraction: float) -> None:
    _check_trials(rec, "--metric noise-corrected (split-half bootstraps)")
    lonely = _area_with_one_animal(rec, regions)
    if lonely:
        area, n = lonely
        raise ScoringError(
            f"--metric noise-corrected is judged against the inter-animal ceiling, which needs "
            f"at least 2 animals per area, and area {area} has {n}; use --metric plain or "
            f"--metric brainscore (their ceilings need one animal), or leave {area} out "
            "with --regions"
        )
    _check_random_splits(rec, train_fraction, "noise-corrected")


def _plain_preconditions(rec: Any, regions: list[str], train_fraction: float) -> None:
    # one animal is enough: each neuroid's own split-half reliability divides its r, and the
    # inter-animal ceiling is left out of areas with a single animal
    _check_trials(rec, "--metric plain (split-half reliability)")
    _check_random_splits(rec, train_fraction, "plain")


def _brainscore_preconditions(rec: Any, regions: list[str], train_fraction: float) -> None:
    _check_trials(rec, "--metric brainscore (internal-consistency ceiling)")
    # Brain-Score's shuffle splits: floor(n * train) stimuli for training, the rest for testing
    n = int(rec.sizes["stimulus"])
    n_train = int(np.floor(n * train_fraction))
    n_test = n - n_train
    if n_train < 2 or n_test < 3:
        raise ScoringError(
            f"--metric brainscore splits {n} stimuli {train_fraction:g}/{1 - train_fraction:g}, "
            f"which leaves {n_train} for training and {n_test} for testing (at least 2 and 3 "
            "needed); record more stimuli or change --train-fraction"
        )
    if "object_name" not in rec.coords:
        return
    labels = np.asarray([str(v) for v in rec.coords["object_name"].values])
    names, counts = np.unique(labels, return_counts=True)
    if counts.min() < 2:
        raise ScoringError(
            f"Brain-Score splits are stratified by object_name, and object "
            f"{names[np.argmin(counts)]!r} has a single stimulus (every object needs at least "
            "2); drop that stimulus or merge its object_name with another"
        )
    n_classes = len(names)
    if n_test < n_classes:
        raise ScoringError(
            f"Brain-Score splits are stratified by object_name ({n_classes} objects) but a "
            f"test fraction of {1 - train_fraction:.2f} leaves {n_test} of {n} "
            f"stimuli for testing; lower --train-fraction to at most "
            f"{1 - n_classes / n:.2f}"
        )
    if n_train < n_classes:
        raise ScoringError(
            f"Brain-Score splits are stratified by object_name ({n_classes} objects) but a "
            f"train fraction of {train_fraction:.2f} leaves {n_train} of {n} stimuli for "
            f"training; raise --train-fraction to at least {n_classes / n:.2f}"
        )


def check_temporal_preconditions(
    rec: Any, metric: str, regions: list[str], train_fraction: float
) -> None:
    """Check that a time-binned ``rec`` holds what ``--temporal`` scoring needs, before any
    model sees an image: 2 trials per stimulus, 2 animals per area (every bin is judged against
    the per-bin inter-animal ceiling, whichever metric; spec recurrent.md §2) and stimuli for
    the splits.

    Raises
    ------
    ScoringError
        One line naming the problem and the fix.
    """
    _check_trials(rec, f"--temporal --metric {metric} (split-half estimates per bin)")
    lonely = _area_with_one_animal(rec, regions)
    if lonely:
        area, n = lonely
        raise ScoringError(
            f"--temporal judges every bin against the per-bin inter-animal ceiling, which needs "
            f"at least 2 animals per area, and area {area} has {n}; score without --temporal "
            f"(--metric plain works with one animal), or leave {area} out with --regions"
        )
    _check_random_splits(rec, train_fraction, metric)


METRIC_PRECONDITIONS = {
    "noise-corrected": _noise_corrected_preconditions,
    "plain": _plain_preconditions,
    "brainscore": _brainscore_preconditions,
}
"""Per metric: a check of the recording alone (recording, regions, train fraction) that
raises :class:`ScoringError` when the metric cannot be computed on it."""


def _chosen_regions(rec: Any, regions: list[str] | None) -> list[str]:
    """``regions`` (default every region of ``rec``, in the order the recording first lists
    them), each checked against the recording."""
    all_regions = list(dict.fromkeys(str(r) for r in rec.coords["region"].values))
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
    split_half: str = "unequal",
    seed: int | None = None,
    model_seed: int = 0,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    before_model: Callable[[dict[str, str]], None] | None = None,
    axes: str | list[str] | None = None,
    drop_nan_neuroids: bool = False,
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
        Random trial halvings (bootstraps) of the noise-corrected estimator and of the
        inter-animal ceiling: 20 by default to keep scoring fast, where the spec's default is
        100. The plain metric's per-neuroid reliability always uses 100; the brainscore
        metric's ceiling uses Brain-Score's 10 halvings.
    numerator : str
        Noise-corrected estimators only. ``"halves"`` is the spec §4 formula (half-trial
        numerator over Spearman-Brown-corrected terms; a perfect model of noisy data scores
        slightly below 1, by the same factor as the ceiling), ``"full"`` the unbiased form with
        a full-trial numerator.
    time_window : (start_ms, end_ms), optional
        Average time bins overlapping this window (default: all bins) for time-binned data; an
        NWB file's spikes are counted in this window after each onset (default 70-170 ms).
    split_half : {"unequal", "equal"}
        How a stimulus with an odd number ``n`` of trials is halved (see
        :func:`brainlike.analysis.neural.split_half_reliability`): ``"unequal"`` (default)
        averages ``(n - 1) / 2`` trials against the other ``(n + 1) / 2``; ``"equal"`` leaves
        one random trial out so both halves hold ``(n - 1) / 2``. Even counts are unaffected.
    seed : int, optional
        Seed of splits, trial halvings and ceiling halvings. Default: the metric's convention,
        1 for ``brainscore`` (as Brain-Score and :func:`~brainlike.analysis.neural.
        brainscore_predictivity`) and 0 otherwise; the seed used is in ``settings["seed"]``.
    model_seed : int
        Seed of a registry model's random weights.
    cache_dir : str or Path, optional
        Activation cache (default :func:`default_cache_dir`).
    device : str
        Where the model runs to extract activations (``"cpu"``, ``"cuda"``, ``"auto"``: the
        GPU when there is one); mappings run on the CPU.
    before_model : callable, optional
        Called with ``{"model", "benchmark", "recording_sha256"}`` once the recording and the
        model are loaded and before the model sees any image (e.g. to refuse an existing
        output folder before the expensive part); an exception it raises stops the scoring.
    axes : str or list of str, optional
        A bare ``.npy`` recording's axis order (see :func:`brainlike.data.recordings.read_npy`).
    drop_nan_neuroids : bool
        Drop neuroids without any non-NaN response (recorded in the settings with their count)
        instead of refusing the recording.
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
    if split_half not in neural.SPLIT_HALF_CONVENTIONS:
        raise ScoringError(
            f"unknown split-half convention {split_half!r}; choose one of "
            f"{', '.join(neural.SPLIT_HALF_CONVENTIONS)}"
        )
    seed = metric_seed(metric, seed)
    train_fraction = _check_cross_validation(
        n_splits, n_bootstraps, train_fraction, 0.9 if metric == "brainscore" else 0.5
    )
    t0 = time.perf_counter()
    recording = Path(recording).expanduser()
    nwb_window = recording.suffix.lower() == ".nwb" and time_window is not None
    # spike times have no bins to average: an NWB file is counted in the window itself
    window_option = {"time_bins": (tuple(time_window),)} if nwb_window else {}
    rec = read_recording(recording, axes=axes, drop_nan_neuroids=drop_nan_neuroids, **window_option)
    reading = _reading_settings(rec, drop_nan_neuroids)
    rec = validate_recording(rec, min_trials=0)
    if "time_bin" in rec.dims or (time_window is not None and not nwb_window):
        rec = _average_time(rec, time_window)
    chosen = _chosen_regions(rec, regions)
    stim_path = locate_stimulus_set(recording, rec, stimuli)
    stim_set = read_stimulus_set(stim_path)
    # the stimuli first: a mismatch may mean a bare .npy's axes are swapped, which explains
    # any failed precondition too
    check_stimuli_match(rec, stim_set)
    # everything the metric needs from the recording, before a model is loaded or run
    check_metric_preconditions(rec, metric, chosen, train_fraction)

    sm = model if isinstance(model, ScoringModel) else load_scoring_model(model, seed=model_seed)
    benchmark = str(rec.attrs.get("identifier") or recording.stem)
    recording_sha256 = recording_digest(recording)
    if before_model is not None:
        before_model(
            {"model": sm.name, "benchmark": benchmark, "recording_sha256": recording_sha256}
        )
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
    labels = None
    if "object_name" in rec.coords:
        labels = np.asarray([str(v) for v in rec.coords["object_name"].values])
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
    progress_bar = ProgressDisplay(progress, transient=True)
    with progress_bar:
        task = progress_bar.add_task(
            f"score {sm.name}: ceilings and layer fits",
            total=len(chosen) * (len(layer_names) + (metric != "brainscore")),
            unit="fit",
        )
        for region in chosen:
            Y = responses(rec, region=region)
            animal = select_neuroids(rec, region=region).coords["animal"].values.astype(str)
            if metric == "brainscore":
                ceilings[region] = neural.brainscore_internal_consistency(
                    Y, seed=seed, split_half=split_half
                )
            else:
                ceilings[region] = _ceiling(
                    neural,
                    Y,
                    animal,
                    mapping,
                    train_fraction,
                    n_bootstraps,
                    numerator,
                    {**common, "split_half": split_half},
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
                        split_half=split_half,
                        **common,
                    )
                elif metric == "plain":
                    s = neural.plain_predictivity(
                        X,
                        Y,
                        mapping=layer_mapping,
                        train_fraction=train_fraction,
                        split_half=split_half,
                        **common,
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
                    s.parameters["split_half"] = split_half  # of its ceiling
                s.provenance.update({"layer": layer, "region": region, "model": sm.name})
                if not isinstance(layer_mapping, str):
                    s.parameters["mapping"] = f"pls-{layer_mapping.n_components}"
                scores[(region, layer)] = s
                progress_bar.advance(task)
    import brainlike

    return ScoringResult(
        model=sm.name,
        benchmark=benchmark,
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
            "split_half": split_half,
            **_epoch_settings(sm),
            "model_time_steps_averaged": steps,
            "ceiling": "internal consistency (split-half, SB)"
            if metric == "brainscore"
            else "inter-animal consistency (pooled source, same mapping)",
            **reading,
            "no_ceiling": [r for r in chosen if ceilings[r].parameters.get("skipped")],
        },
        provenance={
            "model": sm.name,
            "model_source": sm.source,
            "model_details": sm.details,
            "weights_sha256": sm.weights_digest(),
            "preprocessing": sm.preprocessing(),
            "recording": str(recording),
            "recording_sha256": recording_sha256,
            "stimulus_set": str(stim_path),
            "n_stimuli": len(stimulus_ids),
            "activation_cache_key": getattr(acts, "cache_key", None),
            "brainlike_version": brainlike.__version__,
            "wall_seconds": time.perf_counter() - t0,
        },
    )


def _epoch_settings(sm: ScoringModel) -> dict[str, Any]:
    """The epoch of a trained model's checkpoint and the run's configured epochs (else None)."""
    return {
        "checkpoint_epoch": sm.details.get("epoch"),
        "checkpoint_total_epochs": sm.details.get("total_epochs"),
    }


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
    """The pooled inter-animal consistency of one area (NaN for an area with one animal)."""
    if len(set(animal)) < 2:
        # only the plain metric gets here (the noise-corrected one is refused before the model
        # runs): each neuroid's reliability already divides its r; there is no animal to
        # compare with
        from brainlike.analysis.score import Score

        return Score(
            value=float("nan"),
            metric="inter_animal_consistency",
            parameters={"skipped": "one animal in this area"},
            provenance={"n_animals": 1},
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


def _reading_settings(rec: Any, drop_nan_neuroids: bool) -> dict[str, Any]:
    """How the recording was read: a bare .npy's axis order, NaN-only neuroids dropped."""
    return {
        "npy_axes": rec.attrs.get("npy_axes"),
        "drop_nan_neuroids": drop_nan_neuroids,
        "nan_neuroids_dropped": int(rec.attrs.get("nan_neuroids_dropped", 0)),
    }


def _average_time(rec: Any, window: tuple[float, float] | None) -> Any:
    """Average the time bins that overlap ``window`` (all bins when None)."""
    from brainlike.data.recordings import average_time

    if "time_bin" not in rec.dims:
        raise ScoringError("--time-window was given but the recording has no time bins")
    if window is None:
        return rec.mean("time_bin", skipna=False, keep_attrs=True)
    return average_time(rec, window[0], window[1], overlapping=True)


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


def _temporal_unroll(
    sm: ScoringModel, time_steps: int | None, image_steps: int | None
) -> tuple[int, int | None, bool]:
    """Prepare a recurrent model's unroll for temporal scoring (the one place it is done).

    A model with ``set_schedule`` (a ConvRNN) is set to ``time_steps`` steps with the image
    shown for ``image_steps`` (``None`` keeps the model's own), as spec recurrent.md §1's
    neural comparison needs; a model whose forward takes ``time_steps`` is passed it at
    extraction; any other model runs its own ``time_steps`` and cannot take another.

    Returns
    -------
    (steps, image_steps, adjustable): the unroll length, the steps the image is shown (a
    ``set_schedule`` model's ``t_on``, else ``None``) and whether the length can be changed.
    """
    from brainlike.analysis.activations import (
        _accepts_time_steps,
        model_time_steps,
        resolve_time_steps,
    )

    model = sm.model
    try:
        if time_steps is not None:
            time_steps = resolve_time_steps(model, time_steps)
        if image_steps is not None:
            image_steps = resolve_time_steps(model, image_steps)
    except (TypeError, ValueError) as err:
        raise ScoringError(f"--time-steps / --image-steps: {err}") from None
    if hasattr(model, "set_schedule"):
        try:
            model.set_schedule(time_steps=time_steps, t_on=image_steps)
        except ValueError as err:
            raise ScoringError(f"{sm.name}: {err}") from None
        return model_time_steps(model), getattr(model, "t_on", image_steps), True
    if image_steps is not None:
        raise ScoringError(
            f"--image-steps sets the presentation of a model with set_schedule (a ConvRNN); "
            f"{sm.name} has none, so it shows the image as it was built to: drop --image-steps"
        )
    adjustable = _accepts_time_steps(model)
    try:
        own = model_time_steps(model)
    except ValueError:
        own = None
    if own is None and not adjustable:
        raise ScoringError(
            f"{sm.name} is not a recurrent model brainlike can unroll (no time_steps attribute, "
            "no set_schedule, and its forward takes no time_steps); score it without --temporal"
        )
    if time_steps is None:
        if own is None:
            raise ScoringError(
                f"{sm.name} has no time_steps attribute; give the unroll length with "
                "--time-steps N (at least the recording's number of time bins)"
            )
        return own, None, adjustable
    if not adjustable and time_steps != own:
        raise ScoringError(
            f"{sm.name} runs a fixed {own} steps (it has no set_schedule and its forward "
            f"takes no time_steps), so --time-steps {time_steps} cannot change it; drop "
            "--time-steps"
        )
    return time_steps, None, adjustable


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
    image_steps: int | None = None,
    steps_for_bins: list[int] | None = None,
    time_varying: bool = False,
    split_half: str = "unequal",
    seed: int | None = None,
    model_seed: int = 0,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    before_model: Callable[[dict[str, str]], None] | None = None,
    axes: str | list[str] | None = None,
    drop_nan_neuroids: bool = False,
) -> TemporalScoringResult:
    """Score a recurrent model over time against a time-binned recording (recurrent.md §2).

    1. Time-resolved activations of the candidate layers (``time_steps``: given, else the
       model's ``time_steps`` attribute; layers default to the modules run once per step). A
       model with ``set_schedule`` (a ConvRNN) is set to that unroll first, its image shown
       for ``image_steps`` steps (spec recurrent.md §1; the setting stays on the model).
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
    split_half, seed, model_seed, cache_dir, device, progress, before_model, axes,
    drop_nan_neuroids
        As in :func:`score_model` (``seed`` defaults to 0).
    metric : {"noise-corrected", "plain"}
        Per-bin estimator: spec §4 noise-corrected predictivity, or r / split-half reliability
        (the primate form of recurrent.md §2).
    train_fraction : float, optional
        Default 0.5.
    time_steps : int, optional
        Steps to unroll the model for (default: its ``time_steps`` attribute).
    image_steps : int, optional
        Steps the image is shown before the blank, for a model with ``set_schedule`` (default:
        the model's own ``t_on``; the spec's neural comparison shows it for 10 of 26 steps).
    steps_for_bins : list of int, optional
        Model step read for each bin.
    time_varying : bool
        Fit one map per bin instead of the temporally fixed map (a comparison).
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

    if metric not in ("noise-corrected", "plain"):
        raise ScoringError(
            f"--temporal scores with --metric noise-corrected or plain; got {metric!r}"
        )
    train_fraction = _check_cross_validation(n_splits, n_bootstraps, train_fraction, 0.5)
    if split_half not in neural.SPLIT_HALF_CONVENTIONS:
        raise ScoringError(
            f"unknown split-half convention {split_half!r}; choose one of "
            f"{', '.join(neural.SPLIT_HALF_CONVENTIONS)}"
        )
    seed = metric_seed(metric, seed)
    t0 = time.perf_counter()
    recording = Path(recording).expanduser()
    rec = read_recording(recording, axes=axes, drop_nan_neuroids=drop_nan_neuroids)
    reading = _reading_settings(rec, drop_nan_neuroids)
    rec = validate_recording(rec, min_trials=0)
    if "time_bin" not in rec.dims:
        raise ScoringError(
            f"{recording.name} has no time bins; --temporal needs a recording with a time_bin "
            "dim (score it without --temporal)"
        )
    bins = np.stack(
        [rec.coords["time_bin_start"].values, rec.coords["time_bin_end"].values], axis=1
    ).astype(float)
    chosen = _chosen_regions(rec, regions)
    stim_path = locate_stimulus_set(recording, rec, stimuli)
    stim_set = read_stimulus_set(stim_path)
    check_stimuli_match(rec, stim_set)
    # everything the per-bin fits need from the recording, before a model is loaded or run
    check_temporal_preconditions(rec, metric, chosen, train_fraction)

    sm = model if isinstance(model, ScoringModel) else load_scoring_model(model, seed=model_seed)
    steps, shown, adjustable = _temporal_unroll(sm, time_steps, image_steps)
    if steps_for_bins is None and steps < len(bins):
        if adjustable:
            raise ScoringError(
                f"the recording has {len(bins)} time bins but {sm.name} runs {steps} steps; bin "
                f"b reads step b, so unroll at least {len(bins)} steps "
                f"(--time-steps {len(bins)})"
            )
        raise ScoringError(
            f"the recording has {len(bins)} time bins but {sm.name} runs a fixed {steps} steps "
            "(it has no set_schedule and its forward takes no time_steps); bin b reads step b, "
            f"so score it on a recording with at most {steps} bins (brainlike simulate "
            f"--dynamic --steps {steps}), or map bins to steps with steps_for_bins in Python"
        )
    input_shape = (sm.in_channels, sm.input_size, sm.input_size)
    layer_names = list(layers) if layers else default_layers(sm.model, input_shape, steps)
    if not layer_names:
        raise ScoringError(
            f"{sm.name} has no module that runs exactly once per step over {steps} steps; name "
            "modules of its recurrent loop with --layers (list_layers(model, time_steps="
            f"{steps}) in brainlike.analysis.activations lists them)"
        )
    benchmark = str(rec.attrs.get("identifier") or recording.stem)
    recording_sha256 = recording_digest(recording)
    if before_model is not None:
        before_model(
            {"model": sm.name, "benchmark": benchmark, "recording_sha256": recording_sha256}
        )
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
    progress_bar = ProgressDisplay(progress, transient=True)
    with progress_bar:
        task = progress_bar.add_task(
            f"score {sm.name} over time: ceilings and fits", total=2 * len(chosen), unit="fit"
        )
        for region in chosen:
            Y = responses(rec, region=region)
            animal = select_neuroids(rec, region=region).coords["animal"].values.astype(str)
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
                split_half=split_half,
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
                split_half=split_half,
                **extra,
                **common,
            )
            score.provenance.update({"layer": layer, "region": region, "model": sm.name})
            scores[region] = score
            progress_bar.advance(task)
    import brainlike

    return TemporalScoringResult(
        model=sm.name,
        benchmark=benchmark,
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
            "split_half": split_half,
            **_epoch_settings(sm),
            "time_steps": steps,
            "image_steps": shown,
            "steps_for_bins": list(range(n_bins))
            if steps_for_bins is None
            else list(steps_for_bins),
            "mapping_over_time": "time-varying" if time_varying else "fixed",
            "layer_assignment": "argmax count of best-fit neuroids on time-averaged responses",
            "ceiling": "inter-animal consistency per time bin (pooled source, same mapping)",
            **reading,
        },
        provenance={
            "model": sm.name,
            "model_source": sm.source,
            "model_details": sm.details,
            "weights_sha256": sm.weights_digest(),
            "preprocessing": sm.preprocessing(),
            "recording": str(recording),
            "recording_sha256": recording_sha256,
            "stimulus_set": str(stim_path),
            "n_stimuli": n_stim,
            "activation_cache_key": getattr(acts, "cache_key", None),
            "brainlike_version": brainlike.__version__,
            "wall_seconds": time.perf_counter() - t0,
        },
    )


def save_temporal_scoring(
    result: TemporalScoringResult, out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, str]:
    """Write ``scores.json`` and the score-over-time figure; returns their paths.

    An existing ``scores.json`` is replaced only with ``overwrite`` (else :class:`ScoringError`).
    """
    from brainlike.train.checkpoint import atomic_write_json

    out = Path(out_dir)
    check_output_free(out, overwrite)
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


def save_scoring(
    result: ScoringResult, out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, str]:
    """Write ``scores.json`` and the per-layer profile figure; returns their paths.

    An existing ``scores.json`` is replaced only with ``overwrite`` (else :class:`ScoringError`).
    """
    from brainlike.train.checkpoint import atomic_write_json

    out = Path(out_dir)
    check_output_free(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scores": str(atomic_write_json(out / "scores.json", result.to_dict()))}
    paths["profile"] = str(plot_layer_profile(result, out / "layer_profile.png"))
    return paths


def plot_layer_profile(result: ScoringResult, path: str | Path) -> Path:
    """Score of every layer per area with its error bar (brainscore: the ceiled score and its
    error; otherwise the raw score and its error), the ceiling as a band, the best layer as a
    star and the layers indistinguishable from it as open circles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(result.layers) + 3), 3.6), dpi=120)
    x = np.arange(len(result.layers))
    for i, region in enumerate(result.regions):
        colour = f"C{i}"
        vals = np.array([result._value(region, lay) for lay in result.layers], float)
        which = "ceiled_error" if result.metric == "brainscore" else "raw_error"
        errs = np.array(
            [result.measures(region, lay)[which] or 0.0 for lay in result.layers], float
        )
        ax.errorbar(x, vals, yerr=errs, marker="o", color=colour, label=region, capsize=2)
        tied = [result.layers.index(lay) for lay in result.indistinguishable_layers(region)]
        ax.plot(x[tied], vals[tied], ls="", marker="o", ms=10, mfc="none", mec=colour)
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
    ax.set_title(
        f"{result.model} on {result.benchmark} ({result.mapping}); dashed: ceiling; "
        "*: best, o: not distinguishable from it",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


#: settings that change how precisely a score is estimated, or that are recorded in a column
#: of their own, but not what the score means; every other setting is part of the variant
SAMPLING_SETTINGS = (
    "n_splits",
    "n_bootstraps",
    "seed",
    "convention",
    "best_layer_criterion",
    "model_time_steps_averaged",
    # dropping all-NaN neuroids changes no number (such a recording is refused otherwise)
    "drop_nan_neuroids",
    "nan_neuroids_dropped",
    # which checkpoint was scored belongs to the model, not to the benchmark
    "checkpoint_epoch",
    "checkpoint_total_epochs",
    # areas without an inter-animal ceiling show it as missing in their own rows
    "no_ceiling",
)


def score_variant(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that change what a score means (ceiling kind, numerator, train fraction,
    time window, ...): every setting except :data:`SAMPLING_SETTINGS` and those that do not
    apply (``None``). Stored with each score so the leaderboard never puts numbers of
    different variants side by side."""
    return {
        k: v for k, v in sorted(settings.items()) if k not in SAMPLING_SETTINGS and v is not None
    }


def record_scores(result: ScoringResult, db: Any) -> int:
    """Write every score of ``result`` into the results database; returns the number of rows.

    Each row holds the same raw, ceiling and ceiled numbers as ``scores.json`` (value = raw,
    error = raw error; the ceiling's and ceiled value's errors go to the row's extra fields),
    the recording's sha256, the mapping, the ceiled convention (``ratio`` = raw / ceiling for
    the noise-corrected and plain metrics), :func:`score_variant` and, for a trained model, its
    checkpoint with the epoch scored and whether the run was complete.
    """
    rows = []
    variant = score_variant(result.settings)
    details = result.provenance.get("model_details") or {}
    for (region, layer), s in result.scores.items():
        m = result.measures(region, layer)
        convention = s.convention if result.metric == "brainscore" else "ratio"
        d = s.to_dict()
        d.update(value=m["raw"], error=m["raw_error"], ceiling=m["ceiling"], ceiled=m["ceiled"])
        d["convention"] = convention
        rows.append(
            {
                "model": result.model,
                "benchmark": result.benchmark,
                "recording_hash": result.provenance.get("recording_sha256"),
                "region": region,
                "layer": layer,
                "score": d,
                "mapping": result.mapping,
                "convention": convention,
                "variant": variant,
                "model_hash": result.provenance.get("weights_sha256"),
                # which weights: a killed run's partial checkpoint says so in its row
                "checkpoint": details.get("checkpoint"),
                "checkpoint_epoch": details.get("epoch"),
                "checkpoint_complete": details.get("complete"),
                "ceiling_error": m["ceiling_error"],
                "ceiled_error": m["ceiled_error"],
            }
        )
    db.add_scores(rows)
    return len(rows)


# ---------------------------------------------------------------------------------------------
# Simulated benchmark


_BENCHMARK_FILES = (
    "recording.nc",
    "recording.npz",
    "recording.nwb",
    "stimuli",
    "ground_truth.json",
)


def _simulation_folder(out_dir: str | Path, overwrite: bool) -> Path:
    """The output folder of a simulated benchmark, checked (and made) before any work is done:
    a folder that already holds a benchmark's files (a recording, ``stimuli/``,
    ``ground_truth.json``) is refused unless ``overwrite``."""
    out = Path(out_dir).expanduser()
    if out.exists() and not out.is_dir():
        raise ScoringError(f"{out} is a file; give a folder for the simulated benchmark")
    existing = [name for name in _BENCHMARK_FILES if (out / name).exists()]
    if existing and not overwrite:
        raise ScoringError(
            f"{out} already holds a simulated benchmark ({', '.join(existing)}); "
            "pass --overwrite to replace it, or choose another folder"
        )
    out.mkdir(parents=True, exist_ok=True)
    return out


def _staged_simulation(simulate: Callable[..., dict[str, Any]]) -> Callable[..., dict[str, Any]]:
    """Run a benchmark simulator in a staging folder inside its output folder and move its files
    in only once it has finished: an earlier benchmark is replaced (``overwrite``) by a complete
    one, and a simulation that fails or is interrupted leaves the folder as it was. Only the
    benchmark's own files are replaced (no recording of another format is left behind); other
    files in the folder stay."""
    import functools
    import shutil
    import tempfile

    @functools.wraps(simulate)
    def run(out_dir: str | Path, *args: Any, overwrite: bool = False, **kwargs: Any):
        out = _simulation_folder(out_dir, overwrite)
        stage = Path(tempfile.mkdtemp(prefix=".simulating-", dir=out))
        try:
            result = simulate(stage, *args, overwrite=overwrite, **kwargs)
            for name in _BENCHMARK_FILES:
                old = out / name
                if old.is_dir():
                    shutil.rmtree(old)
                elif old.exists():
                    old.unlink()
            for entry in stage.iterdir():
                os.replace(entry, out / entry.name)
        finally:
            shutil.rmtree(stage, ignore_errors=True)
        return {
            key: value.replace(str(stage), str(out)) if isinstance(value, str) else value
            for key, value in result.items()
        }

    return run


@_staged_simulation
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
    out = Path(out_dir)  # the staging folder of @_staged_simulation
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


@_staged_simulation
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
    out = Path(out_dir)  # the staging folder of @_staged_simulation
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
