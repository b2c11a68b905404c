"""A brainlike model as a Brain-Score ``BrainModel`` (spec: neural-evaluation.md §10).

:class:`BrainlikeBrainModel` follows the interface of ``brainscore_vision.model_interface.
BrainModel``: ``identifier``, ``visual_degrees()``, ``start_task(task, fitting_stimuli)``,
``start_recording(recording_target, time_bins)`` and ``look_at(stimuli, number_of_trials=1)``.
It is duck-typed, so benchmarks of ``brainscore_vision`` can call it (the slow test
tests/integrations/test_brainscore_vision.py runs it through brainscore-vision's own ``pls``
metric, ceiler and ``NeuralBenchmark``), and it needs neither ``brainscore_vision`` nor
``brainio`` itself: tasks and recording targets are accepted as the
plain strings of current ``brainscore_vision`` (``BrainModel.Task.passive == "passive"``,
``BrainModel.RecordingTarget.IT == "IT"``), as members of the ``Enum`` of older releases, or as
the :attr:`BrainlikeBrainModel.Task` / :attr:`BrainlikeBrainModel.RecordingTarget` constants
here. Outputs are ``brainio`` ``NeuroidAssembly`` / ``BehavioralAssembly`` objects when
``brainio`` (or ``brainscore_core``'s copy of it) is installed, else plain ``xarray.DataArray``
objects with the same dims and coordinates.

Nothing in the core package imports this module; it imports ``brainscore_vision`` /
``brainio`` only inside functions, and only if they are installed.

Commitment (layers to regions)
    ``layers_by_region`` maps ``"V1"``, ``"V2"``, ``"V4"``, ``"IT"`` to layer names (anything
    :func:`brainlike.analysis.activations.extract_activations` accepts). Without it, the
    default commitment takes the candidate layers of :func:`brainlike.evaluation.scoring_model.default_layers`
    (minus a final ``Linear`` classifier) and commits the layer at 25 %, 50 %, 75 % and 100 %
    of that list to V1, V2, V4 and IT (early, middle, late, last). It is a fixed rule, not a
    fit to data (Brain-Score's own ``ModelCommitment`` picks layers on its public benchmarks);
    pass ``layers_by_region`` (or call :meth:`BrainlikeBrainModel.commit_layers`) with layers
    chosen by ``brainlike score`` for a committed model.

Recordings
    ``look_at`` after ``start_recording(region, time_bins)`` returns a presentation x neuroid x
    time_bin assembly. Time bins are ``(start, end)`` pairs in ms: lists, arrays, or the object
    arrays of tuples that ``NeuralBenchmark`` takes from an assembly's ``time_bin`` coordinate.
    brainlike models are static (feed-forward in time), so the same
    features are repeated in every requested time bin (as Brain-Score's ``TemporalAligned``
    does for models without a time dimension). The time_bin dimension is kept even for a single
    bin. Neuroids are the flattened units of the committed layer (``C * H * W``, channel-major).

Images
    Stimuli are read from a ``StimulusSet`` (a ``pandas.DataFrame`` with a ``stimulus_id``
    column and ``get_stimulus(stimulus_id) -> path``) or a list of image paths, resized
    (bilinear) to the model's input size, converted to its channels (grayscale or RGB) and
    normalised with its pixel mean and std, by :func:`brainlike.evaluation.scoring_model.model_images`, the
    pipeline ``brainlike score`` uses. Brain-Score benchmarks place stimuli at the model's
    ``visual_degrees()`` before calling ``look_at``; the wrapper does not crop or pad further.

Behaviour
    ``label`` and ``probabilities`` fit a logistic regression (standardised features, ``C =
    readout_c``, 1e-3 by default as in Brain-Score's ``ProbabilitiesMapping``) on the
    ``readout_layer`` features of the fitting stimuli and their ``image_label`` (or ``label``)
    column. ``probabilities`` returns presentation x choice class probabilities; ``label``
    returns presentation x choice (one column) of predicted labels. brainlike models have no
    ImageNet head, so ``start_task("label", "imagenet")`` or a bare list of label names is
    refused with an explanation (pass fitting stimuli instead).

Scoring with Brain-Score (needs ``pip install "brainlike[brainscore]"`` on Python >= 3.11, which
pins numpy < 2, scikit-learn < 1.6 and, through brainscore-core, xarray < 2022.6; and network
access for the benchmark data)::

    from brainscore_vision import load_benchmark
    from brainlike.integrations.brainscore import make_brainscore_model

    model = make_brainscore_model("runs/demo/demo-plain", layers_by_region={"IT": "layer3.2"})
    benchmark = load_benchmark("MajajHong2015public.IT-pls")
    score = benchmark(model)  # a Score with the ceiled value and attrs['raw'], ...

To score by name (``brainscore_vision.score(model_identifier="brainlike-demo",
benchmark_identifier="MajajHong2015public.IT-pls")``) the model must be a brainscore_vision
model plugin: a ``brainscore_vision/models/<name>/__init__.py`` that registers
``model_registry["brainlike-demo"] = lambda: make_brainscore_model(...)``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

REGIONS = ("V1", "V2", "V4", "IT")
TASKS = ("passive", "label", "probabilities")
DEFAULT_POSITIONS = {"V1": 0.25, "V2": 0.5, "V4": 0.75, "IT": 1.0}
LABEL_COLUMNS = ("image_label", "label")


class BrainScoreError(ValueError):
    """A request the wrapper cannot carry out as asked (the message says how to fix it)."""


def _name(value: Any, kind: str, allowed: Sequence[str]) -> str:
    """A task / recording target as its plain name: strings, Enum members, class constants."""
    if isinstance(value, str):
        name = value
    elif hasattr(value, "name") and isinstance(value.name, str):  # Enum of older Brain-Score
        name = value.name
    elif isinstance(getattr(value, "value", None), str):
        name = value.value
    else:
        name = str(value)
    if kind == "recording target":
        upper = {r.upper(): r for r in allowed}
        name = upper.get(name.upper(), name)
    if name not in allowed:
        raise BrainScoreError(f"unknown {kind} {value!r}; expected one of {', '.join(allowed)}")
    return name


def _assembly_types() -> tuple[Any, Any]:
    """brainio's NeuroidAssembly and BehavioralAssembly when installed, else (None, None)."""
    for module in (
        "brainscore_core.supported_data_standards.brainio.assemblies",
        "brainio.assemblies",
    ):
        try:
            m = importlib.import_module(module)
            return m.NeuroidAssembly, m.BehavioralAssembly
        except (ImportError, AttributeError):
            continue
    return None, None


def _assembly(kind: str, values: np.ndarray, coords: dict, dims: list[str], attrs: dict) -> Any:
    import xarray as xr

    neuroid, behavioral = _assembly_types()
    cls = {"neuroid": neuroid, "behavioral": behavioral}[kind]
    if cls is None:
        return xr.DataArray(values, coords=coords, dims=dims, attrs=attrs)
    out = cls(values, coords=coords, dims=dims)
    out.attrs.update(attrs)
    return out


class _Stimuli:
    """What ``look_at`` was given: ids, image paths and per-presentation metadata."""

    def __init__(self, stimuli: Any) -> None:
        if isinstance(stimuli, (str, Path)):
            stimuli = [stimuli]
        self.identifier = getattr(stimuli, "identifier", None)
        self.columns: dict[str, np.ndarray] = {}
        if hasattr(stimuli, "columns") and hasattr(stimuli, "__len__"):  # a DataFrame
            key = "stimulus_id" if "stimulus_id" in stimuli.columns else "image_id"
            if key not in stimuli.columns:
                raise BrainScoreError(
                    "a StimulusSet needs a 'stimulus_id' column; columns: "
                    f"{', '.join(map(str, stimuli.columns))}"
                )
            ids = list(stimuli[key].to_numpy())
            if hasattr(stimuli, "get_stimulus"):
                paths = [stimuli.get_stimulus(i) for i in ids]
            elif "stimulus_path" in stimuli.columns:
                paths = list(stimuli["stimulus_path"].to_numpy())
            else:
                raise BrainScoreError(
                    "cannot find the image files: the stimuli have no get_stimulus(stimulus_id) "
                    "method and no 'stimulus_path' column"
                )
            for col in stimuli.columns:
                values = stimuli[col].to_numpy()
                if values.ndim == 1:
                    self.columns[str(col)] = values
            self.columns.setdefault("stimulus_id", np.asarray(ids))
        elif isinstance(stimuli, Sequence) and all(isinstance(s, (str, Path)) for s in stimuli):
            paths = list(stimuli)
            ids = [str(p) for p in paths]
            self.columns["stimulus_id"] = np.asarray(ids, dtype=object)
        else:
            raise BrainScoreError(
                "stimuli must be a StimulusSet (a DataFrame with 'stimulus_id' and "
                f"get_stimulus) or a list of image paths; got {type(stimuli).__name__}"
            )
        if not ids:
            raise BrainScoreError("no stimuli: the stimulus set is empty")
        self.ids = [str(i) for i in ids]
        self.paths = [Path(str(p)).expanduser().resolve() for p in paths]
        self.columns.setdefault("stimulus_path", np.asarray([str(p) for p in self.paths]))
        missing = [str(p) for p in self.paths if not p.is_file()]
        if missing:
            raise BrainScoreError(
                f"{len(missing)} stimulus file(s) missing, e.g. {', '.join(missing[:3])}"
            )

    def __len__(self) -> int:
        return len(self.ids)

    def presentation_coords(self) -> dict[str, tuple[str, np.ndarray]]:
        return {name: ("presentation", values) for name, values in self.columns.items()}

    def labels(self) -> np.ndarray:
        for col in LABEL_COLUMNS:
            if col in self.columns:
                return np.asarray(self.columns[col])
        raise BrainScoreError(
            f"fitting stimuli need a label column ({' or '.join(LABEL_COLUMNS)}); columns: "
            f"{', '.join(self.columns)}"
        )

    def images(self, sm: Any) -> np.ndarray:
        """(N, C, H, W) float32 at the model's size, channels and pixel normalisation."""
        import pandas as pd

        from brainlike.data.recordings import StimulusSet
        from brainlike.evaluation.scoring_model import model_images

        unique = dict(zip(self.ids, self.paths, strict=True))  # repeated ids load once
        stimulus_set = StimulusSet(
            ids=np.asarray(list(unique), dtype=str),
            paths=tuple(unique.values()),
            table=pd.DataFrame({"stimulus_id": list(unique)}),
            identifier=str(self.identifier or "brainscore-stimuli"),
        )
        return model_images(stimulus_set, self.ids, sm)


class BrainlikeBrainModel:
    """A brainlike model behind Brain-Score's ``BrainModel`` interface (see the module doc).

    Parameters
    ----------
    model : str, Path or ScoringModel
        A run directory, checkpoint or registry name (resolved by
        :func:`brainlike.evaluation.scoring_model.load_scoring_model`), or a loaded ``ScoringModel``.
    layers_by_region : dict, optional
        Region (``V1``, ``V2``, ``V4``, ``IT``) -> layer. Default: the default commitment.
    visual_degrees : the field of view the model's input covers (Brain-Score's default is 8).
    identifier : the model's name in Brain-Score; default ``"brainlike-<model name>"``.
    batch_size, device, cache_dir : passed to ``extract_activations`` (``cache_dir=None``: no
        activation cache).
    readout_layer : layer the behavioural readout is fitted on; default the IT end of the
        default commitment's candidates (the layer before a final classifier); ``"output"`` is
        the model's output.
    readout_c : inverse regularisation of the logistic-regression readout.
    """

    class Task:
        """Tasks, equal to ``brainscore_vision.model_interface.BrainModel.Task`` values."""

        passive = "passive"
        label = "label"
        probabilities = "probabilities"

    class RecordingTarget:
        """Regions, equal to ``BrainModel.RecordingTarget`` values."""

        V1 = "V1"
        V2 = "V2"
        V4 = "V4"
        IT = "IT"

    def __init__(
        self,
        model: Any,
        layers_by_region: Mapping[str, str] | None = None,
        visual_degrees: float = 8,
        identifier: str | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        cache_dir: str | Path | None = None,
        readout_layer: str | None = None,
        readout_c: float = 1e-3,
    ) -> None:
        if hasattr(model, "model") and hasattr(model, "input_size"):
            self.scoring_model = model
        else:
            from brainlike.evaluation.scoring_model import load_scoring_model

            self.scoring_model = load_scoring_model(model)
        sm = self.scoring_model
        self._identifier = identifier or f"brainlike-{sm.name}"
        self._visual_degrees = visual_degrees
        self.batch_size = batch_size
        self.device = device
        self.cache_dir = cache_dir
        self.readout_c = readout_c
        self._input_shape = (sm.in_channels, sm.input_size, sm.input_size)
        self._known_layers: set[str] | None = None
        self.region_layer_map: dict[str, str] = {}
        candidates = self._candidate_layers()
        self.commit_layers(
            self.default_commitment(candidates) if layers_by_region is None else layers_by_region
        )
        self.readout_layer = readout_layer or candidates[-1]
        self._check_layer(self.readout_layer)
        self.current_task = self.Task.passive
        self.recording_target: str | None = None
        self.time_bins: list[tuple[int, int]] | None = None
        self._classifier: Any = None
        self._scaler: Any = None
        self._choices: np.ndarray | None = None

    # -- identity ------------------------------------------------------------------------------

    @property
    def identifier(self) -> str:
        return self._identifier

    def visual_degrees(self) -> float:
        """Degrees of visual angle the model's input covers."""
        return self._visual_degrees

    def __repr__(self) -> str:
        return (
            f"BrainlikeBrainModel({self.identifier!r}, regions={self.region_layer_map}, "
            f"visual_degrees={self._visual_degrees})"
        )

    # -- commitment ----------------------------------------------------------------------------

    def _candidate_layers(self) -> list[str]:
        from torch import nn

        from brainlike.evaluation.scoring_model import default_layers

        layers = default_layers(self.scoring_model.model, self._input_shape)
        modules = dict(self.scoring_model.model.named_modules())
        if len(layers) > 1 and isinstance(modules.get(layers[-1]), nn.Linear):
            layers = layers[:-1]  # the classifier is the model's output, not IT
        return layers

    @staticmethod
    def default_commitment(candidates: Sequence[str]) -> dict[str, str]:
        """V1, V2, V4, IT -> the candidate layer at 25 %, 50 %, 75 %, 100 % of the list."""
        if not candidates:
            raise BrainScoreError("the model has no layers to commit")
        n = len(candidates)
        return {r: candidates[int(round(f * (n - 1)))] for r, f in DEFAULT_POSITIONS.items()}

    def _check_layer(self, layer: str) -> None:
        if self._known_layers is None:
            from brainlike.analysis.activations import list_layers

            model = self.scoring_model.model
            self._known_layers = set(list_layers(model, self._input_shape)) | {
                n for n, _ in model.named_modules() if n
            }
        if layer not in self._known_layers:
            import difflib

            close = difflib.get_close_matches(layer, sorted(self._known_layers), n=3)
            hint = f"; did you mean {', '.join(close)}?" if close else ""
            raise BrainScoreError(f"the model has no layer {layer!r}{hint}")

    def commit_layers(self, mapping: Mapping[str, str], *, replace: bool = False) -> dict[str, str]:
        """Commit layers to regions (merged into the current commitment unless ``replace``)."""
        checked = {}
        for region, layer in mapping.items():
            name = _name(region, "recording target", REGIONS)
            self._check_layer(str(layer))
            checked[name] = str(layer)
        self.region_layer_map = checked if replace else {**self.region_layer_map, **checked}
        return dict(self.region_layer_map)

    # -- tasks and recordings ------------------------------------------------------------------

    def start_task(
        self, task: Any, fitting_stimuli: Any = None, number_of_trials: int = 1, **kwargs: Any
    ) -> None:
        """Start ``passive``, ``label`` or ``probabilities`` (the latter two need fitting
        stimuli with an ``image_label`` or ``label`` column). Extra keywords of Brain-Score's
        behaviour helpers (``require_variance``) are accepted and ignored."""
        name = _name(task, "task", TASKS)
        if name == self.Task.passive:
            self.current_task = name
            return
        if (
            fitting_stimuli is None
            or isinstance(fitting_stimuli, str)
            or (
                isinstance(fitting_stimuli, Sequence)
                and not hasattr(fitting_stimuli, "columns")
                and all(isinstance(s, str) and not Path(s).is_file() for s in fitting_stimuli)
            )
        ):
            raise BrainScoreError(
                f"task {name!r} needs fitting stimuli (a StimulusSet with an 'image_label' "
                "column) to fit a readout; brainlike models have no ImageNet head, so a "
                f"labelling domain such as {fitting_stimuli!r} cannot be used directly"
            )
        from sklearn.linear_model import LogisticRegression
        from sklearn.preprocessing import StandardScaler

        stimuli = _Stimuli(fitting_stimuli)
        labels = stimuli.labels()
        choices = np.asarray(list(dict.fromkeys(labels.tolist())), dtype=labels.dtype)
        if len(choices) < 2:
            raise BrainScoreError(
                f"fitting stimuli have {len(choices)} distinct label(s); a readout needs >= 2"
            )
        features = self._features(stimuli, self.readout_layer)
        self._scaler = StandardScaler().fit(features)
        index = {c: i for i, c in enumerate(choices.tolist())}
        y = np.asarray([index[v] for v in labels.tolist()])
        self._classifier = LogisticRegression(C=self.readout_c, max_iter=1000)
        self._classifier.fit(self._scaler.transform(features), y)
        self._choices = choices
        self.current_task = name

    def start_recording(self, recording_target: Any, time_bins: Sequence[Sequence[int]]) -> None:
        """Record from a committed region in these ``(start, end)`` time bins (ms)."""
        region = _name(recording_target, "recording target", REGIONS)
        if region not in self.region_layer_map:
            committed = ", ".join(self.region_layer_map) or "none"
            raise BrainScoreError(
                f"no layer is committed to {region}; committed regions: {committed}. Commit one "
                f"with commit_layers({{'{region}': '<layer>'}}) or layers_by_region"
            )
        bins = []
        for tb in time_bins:
            if isinstance(tb, np.ndarray) and tb.dtype == object:
                # Brain-Score's NeuralBenchmark passes assembly['time_bin'].values: 0-d object
                # arrays holding a (start, end) tuple for a squeezed (single-bin) assembly
                tb = tb.item() if tb.ndim == 0 else tuple(tb.tolist())
            pair = np.asarray(tb).ravel().tolist()
            if len(pair) != 2:
                raise BrainScoreError(f"time bins must be (start, end) pairs; got {tb!r}")
            start, end = (int(t) for t in pair)
            if end < start:
                raise BrainScoreError(f"time bin {tb!r} ends before it starts")
            bins.append((start, end))
        if not bins:
            raise BrainScoreError("give at least one time bin, e.g. [(70, 170)]")
        self.recording_target = region
        self.time_bins = bins

    def look_at(self, stimuli: Any, number_of_trials: int = 1, **kwargs: Any) -> Any:
        """Task output (``label``/``probabilities``) or the recording (passive task).

        ``number_of_trials`` is accepted and ignored: the model is deterministic, so every
        trial gives the same response. ``require_variance`` is accepted and ignored likewise.
        """
        if isinstance(number_of_trials, bool) or int(number_of_trials) < 1:
            raise BrainScoreError(f"number_of_trials must be >= 1; got {number_of_trials!r}")
        stim = _Stimuli(stimuli)
        if self.current_task != self.Task.passive:
            return self._behave(stim)
        if self.recording_target is None or self.time_bins is None:
            raise BrainScoreError(
                "nothing to return: call start_recording(region, time_bins) or start a "
                "'label' / 'probabilities' task first"
            )
        return self._record(stim)

    # -- internals -----------------------------------------------------------------------------

    def _features(self, stimuli: _Stimuli, layer: str) -> np.ndarray:
        from brainlike.analysis.activations import extract_activations

        sm = self.scoring_model
        acts = extract_activations(
            sm.model,
            stimuli.images(sm),
            [layer],
            batch_size=self.batch_size,
            cache_dir=self.cache_dir,
            preprocessing=sm.preprocessing(),
            progress=False,
            device=self.device,
        )
        with acts:
            return np.array(acts[layer], dtype=np.float32)

    def _record(self, stim: _Stimuli) -> Any:
        region = self.recording_target
        layer = self.region_layer_map[region]
        features = self._features(stim, layer)
        bins = self.time_bins
        values = np.repeat(features[:, :, None], len(bins), axis=2)
        n = features.shape[1]
        coords = {
            **stim.presentation_coords(),
            "neuroid_id": ("neuroid", np.asarray([f"{layer}.{i}" for i in range(n)])),
            "neuroid_num": ("neuroid", np.arange(n)),
            "region": ("neuroid", np.full(n, region, dtype=object)),
            "layer": ("neuroid", np.full(n, layer, dtype=object)),
            "time_bin_start": ("time_bin", np.asarray([b[0] for b in bins])),
            "time_bin_end": ("time_bin", np.asarray([b[1] for b in bins])),
        }
        attrs = {
            "model_identifier": self.identifier,
            "region": region,
            "layer": layer,
            "time_bins": "static model: the same features are repeated in every time bin",
        }
        if stim.identifier:
            attrs["stimulus_set_identifier"] = str(stim.identifier)
        return _assembly("neuroid", values, coords, ["presentation", "neuroid", "time_bin"], attrs)

    def _behave(self, stim: _Stimuli) -> Any:
        features = self._scaler.transform(self._features(stim, self.readout_layer))
        proba = self._classifier.predict_proba(features)
        choices = self._choices[self._classifier.classes_]
        attrs = {"model_identifier": self.identifier, "readout_layer": self.readout_layer}
        coords = stim.presentation_coords()
        if self.current_task == self.Task.probabilities:
            coords["choice"] = ("choice", choices)
            return _assembly("behavioral", proba, coords, ["presentation", "choice"], attrs)
        picked = choices[np.argmax(proba, axis=1)][:, None]
        return _assembly("behavioral", picked, coords, ["presentation", "choice"], attrs)


def make_brainscore_model(
    model: Any,
    layers_by_region: Mapping[str, str] | None = None,
    *,
    seed: int = 0,
    input_size: int | None = None,
    in_channels: int | None = None,
    **kwargs: Any,
) -> BrainlikeBrainModel:
    """Load ``model`` (run directory, checkpoint, registry name or ScoringModel) and wrap it.

    ``seed``, ``input_size`` and ``in_channels`` go to
    :func:`brainlike.evaluation.scoring_model.load_scoring_model`; other keywords to
    :class:`BrainlikeBrainModel`. Example (with ``brainscore_vision`` installed)::

        from brainscore_vision import load_benchmark
        model = make_brainscore_model("resnet20", identifier="brainlike-resnet20-untrained")
        score = load_benchmark("MajajHong2015public.IT-pls")(model)
    """
    if not (hasattr(model, "model") and hasattr(model, "input_size")):
        from brainlike.evaluation.scoring_model import load_scoring_model

        model = load_scoring_model(model, seed=seed, input_size=input_size, in_channels=in_channels)
    return BrainlikeBrainModel(model, layers_by_region, **kwargs)
