"""The stages every scoring run goes through, static or over time.

A run reads and checks the recording, finds the stimuli it was made with, shows them to the
model (after the caller has checked that the metric can be computed, and after
``before_model`` has had its say), extracts the chosen layers' activations (cached on disk),
fits every layer and ceiling with the same cross-validation (:class:`FitSettings`), and records
where every number came from. :class:`ScoringRun` carries what the stages share, so
:func:`~brainlike.evaluation.static.score_model` and
:func:`~brainlike.evaluation.temporal.score_temporal` read as the list of their stages.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.outputs import recording_digest
from brainlike.evaluation.preconditions import ScoringError, _chosen_regions
from brainlike.evaluation.scoring_model import ScoringModel, model_images


@dataclass
class ScoringRun:
    """One scoring run as its stages fill it in: recording -> stimuli -> model -> activations.

    Made by :meth:`open` (the recording read and checked), then :meth:`find_stimuli` (the areas
    scored and the stimulus set), :meth:`show_model` (the model, the benchmark's identity and
    the images) and :meth:`extract` (the layers and their activations); :meth:`provenance`
    says where the run's numbers came from.
    """

    recording: Path
    rec: Any  # NeuralRecording, checked
    reading: dict[str, Any]  # how it was read (a bare .npy's axes, NaN-only neuroids dropped)
    started: float  # time.perf_counter() when the run began
    regions: list[str] = field(default_factory=list)
    stimulus_set_path: Path | None = None
    stimulus_set: Any = None  # StimulusSet
    model: ScoringModel | None = None
    benchmark: str = ""
    recording_sha256: str = ""
    stimulus_ids: list[str] = field(default_factory=list)
    images: np.ndarray | None = None  # (stimulus, channel, height, width), recording order
    layers: list[str] = field(default_factory=list)
    activations: Any = None  # layer -> (stimulus, unit[, time])

    @classmethod
    def open(
        cls,
        recording: str | Path,
        *,
        axes: str | list[str] | None,
        drop_nan_neuroids: bool,
        **reader_options: Any,
    ) -> ScoringRun:
        """Read ``recording`` (``reader_options`` go to its reader) and check its layout."""
        from brainlike.data.recordings import read_recording, validate_recording

        started = time.perf_counter()
        path = Path(recording).expanduser()
        rec = read_recording(path, axes=axes, drop_nan_neuroids=drop_nan_neuroids, **reader_options)
        reading = _reading_settings(rec, drop_nan_neuroids)
        rec = validate_recording(rec, min_trials=0)
        return cls(recording=path, rec=rec, reading=reading, started=started)

    def find_stimuli(self, regions: list[str] | None, stimuli: str | Path | None) -> None:
        """The areas to score (default all) and the stimulus set, checked against the recording."""
        from brainlike.data.recordings import check_stimuli_match, read_stimulus_set

        self.regions = _chosen_regions(self.rec, regions)
        self.stimulus_set_path = locate_stimulus_set(self.recording, self.rec, stimuli)
        self.stimulus_set = read_stimulus_set(self.stimulus_set_path)
        # the stimuli first: a mismatch may mean a bare .npy's axes are swapped, which explains
        # any failed precondition too
        check_stimuli_match(self.rec, self.stimulus_set)

    def show_model(
        self, sm: ScoringModel, before_model: Callable[[dict[str, str]], None] | None
    ) -> None:
        """Name the benchmark, let ``before_model`` see who is scored on what, then prepare the
        images in recording order the way ``sm`` expects them."""
        self.model = sm
        self.benchmark = str(self.rec.attrs.get("identifier") or self.recording.stem)
        self.recording_sha256 = recording_digest(self.recording)
        if before_model is not None:
            before_model(
                {
                    "model": sm.name,
                    "benchmark": self.benchmark,
                    "recording_sha256": self.recording_sha256,
                }
            )
        self.stimulus_ids = [str(s) for s in self.rec.coords["stimulus_id"].values]
        self.images = model_images(self.stimulus_set, self.stimulus_ids, sm)

    def extract(
        self,
        layers: list[str],
        *,
        cache_dir: str | Path | None,
        progress: bool,
        device: str,
        time_steps: int | None,
    ) -> None:
        """Activations of ``layers`` for the images (``time_steps``: time-resolved), cached in
        ``cache_dir`` (default :func:`default_cache_dir`)."""
        from brainlike.analysis.activations import extract_activations

        assert self.model is not None, "show_model comes first"
        self.layers = layers
        self.activations = extract_activations(
            self.model.model,
            self.images,
            layers,
            cache_dir=Path(cache_dir) if cache_dir else default_cache_dir(),
            preprocessing=self.model.preprocessing(),
            progress=progress,
            device=_device(device),
            time_steps=time_steps,
        )

    def area(self, region: str) -> tuple[np.ndarray, np.ndarray]:
        """One area's responses ``(stimulus, neuroid, trial[, time_bin])`` and each neuroid's
        animal."""
        from brainlike.data.recordings import responses, select_neuroids

        Y = responses(self.rec, region=region)
        animal = select_neuroids(self.rec, region=region).coords["animal"].values.astype(str)
        return Y, animal

    def epoch_settings(self) -> dict[str, Any]:
        """The epoch of a trained model's checkpoint and the run's configured epochs (else
        None)."""
        assert self.model is not None
        return {
            "checkpoint_epoch": self.model.details.get("epoch"),
            "checkpoint_total_epochs": self.model.details.get("total_epochs"),
        }

    def provenance(self) -> dict[str, Any]:
        """Where the run's numbers came from: model, weights, preprocessing, recording and its
        sha256, stimuli, activation cache key, brainlike version and the wall time so far."""
        import brainlike

        sm = self.model
        assert sm is not None
        return {
            "model": sm.name,
            "model_source": sm.source,
            "model_details": sm.details,
            "weights_sha256": sm.weights_digest(),
            "preprocessing": sm.preprocessing(),
            "recording": str(self.recording),
            "recording_sha256": self.recording_sha256,
            "stimulus_set": str(self.stimulus_set_path),
            "n_stimuli": len(self.stimulus_ids),
            "activation_cache_key": getattr(self.activations, "cache_key", None),
            "brainlike_version": brainlike.__version__,
            "wall_seconds": time.perf_counter() - self.started,
        }


@dataclass(frozen=True)
class FitSettings:
    """How every fit and every ceiling of a run is cross-validated: one mapping class, the same
    splits (same seed) for every layer of an area, the same trial halvings."""

    mapping: str
    n_splits: int
    train_fraction: float
    n_bootstraps: int
    numerator: str
    split_half: str
    seed: int

    @property
    def common(self) -> dict[str, int]:
        """The split count and seed every estimator takes."""
        return {"n_splits": self.n_splits, "seed": self.seed}

    def mapping_for(self, n_features: int, n_stimuli: int) -> Any:
        """PLS-25 keeps 25 components where it can; narrower sources or few stimuli cap it."""
        if self.mapping != "pls":
            return self.mapping
        from brainlike.analysis.mapping import make_mapping

        k = min(25, n_features, int(np.floor(n_stimuli * self.train_fraction)) - 1)
        return "pls" if k >= 25 else make_mapping("pls", n_components=max(k, 1))

    def ceiling_mapping(self, animal: np.ndarray, n_stimuli: int) -> Any:
        """The mapping of an area's pooled inter-animal ceiling, capped by its narrowest
        source."""
        _, counts = np.unique(animal, return_counts=True)
        narrowest = int(len(animal) - counts.max())  # the pooled source of the biggest animal
        return self.mapping_for(narrowest, n_stimuli)


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


def default_cache_dir() -> Path:
    """Activation cache folder: ``$BRAINLIKE_CACHE`` or ``~/.cache/brainlike/activations``."""
    import os

    env = os.environ.get("BRAINLIKE_CACHE")
    if env:
        return Path(env).expanduser()
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "brainlike" / "activations"


def _device(device: str) -> str:
    """Where the model runs: ``auto`` is the GPU when there is one; a CUDA device that is not
    there is refused."""
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ScoringError(f"--device {device}: no CUDA device is visible; use --device cpu")
    return device


def _reading_settings(rec: Any, drop_nan_neuroids: bool) -> dict[str, Any]:
    """How the recording was read: a bare .npy's axis order, NaN-only neuroids dropped."""
    return {
        "npy_axes": rec.attrs.get("npy_axes"),
        "drop_nan_neuroids": drop_nan_neuroids,
        "nan_neuroids_dropped": int(rec.attrs.get("nan_neuroids_dropped", 0)),
    }
