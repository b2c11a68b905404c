"""The file of an experiment suite: the runs to compare and the benchmark to score them on.

A suite (YAML, read like every brainlike file by :mod:`brainlike.config.reader`) names the
experiment configs to train and one of three comparisons: a trained *brain* whose layers are
the simulated areas (a static benchmark), the built-in recurrent brain of a time-binned
benchmark (spec: recurrent.md §4-5, the brain-likeness experiment; neural-evaluation.md §7 and
§10 for the behaviour metrics), or a list of learning *rules* under which every config is
trained (spec: learning-rules.md §1, the chapter's comparison of rules).
:func:`brainlike.evaluation.suites.run_suite` runs it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from brainlike.config.experiment import load_config, resolve_config_path
from brainlike.config.reader import (
    ConfigError,
    locate,
    read_mapping,
    shipped_configs_dir,
    validate,
)
from brainlike.config.rule import RuleConfig

__all__ = [
    "BenchmarkConfig",
    "BrainConfig",
    "MecConfig",
    "ScoreSettings",
    "SuiteConfig",
    "SuiteRule",
    "TemporalConfig",
    "experiment_name",
    "load_suite",
    "resolve_run_config",
]

_EMPTY = (
    "write a suite (keys name, runs, and brain, temporal or rules) or start from a shipped suite "
    "(`brainlike configs` lists them)"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BrainConfig(_Strict):
    """The network whose layers are the simulated areas, and which layer is which area."""

    config: str = Field(description="experiment config (path or shipped name) trained as brain")
    areas: dict[str, str] = Field(description="area -> module name of the brain")

    @field_validator("areas")
    @classmethod
    def _some(cls, v: dict[str, str]) -> dict[str, str]:
        if not v:
            raise ValueError("name at least one area, e.g. {V1: layer1.0, IT: layer3.2}")
        return v


class BenchmarkConfig(_Strict):
    """The simulated recording and observer (see :func:`brainlike.evaluation.simulated.simulate_benchmark`)."""

    per_digit: int = Field(default=30, ge=2)
    image_size: int = Field(default=32, ge=8)
    animals: int = Field(default=4, ge=2)
    neuroids: int = Field(default=40, ge=2)
    trials: int = Field(default=10, ge=2)
    noise_sd: float = Field(default=1.0, ge=0.0)
    observer_subjects: int = Field(default=4, ge=2)
    observer_repeats: int = Field(default=4, ge=1)
    observer_temperature: float = Field(
        default=2.0, gt=0.0, description="softens the brain's logits into a fallible observer"
    )
    seed: int = Field(default=0, ge=0)


class TemporalConfig(_Strict):
    """A time-binned benchmark from the built-in recurrent brain, and the OST analysis.

    spec: recurrent.md §1-3. The brain is :func:`brainlike.data.simulate.random_recurrent_layers`
    driven by the stimulus pixels (``steps`` steps, image on for ``image_steps``, one
    ``bin_ms`` bin per step); areas are its layers. Models are unrolled on the same schedule
    (spec: 26 steps, image off at 10, 10 ms bins) and fit with a temporally fixed mapping.
    The reference for object solution times is the IT population itself: its behaviour is
    the I1 decoded from IT averaged over ``behaviour_bins``, its OST the first bin whose I1
    reaches that (spec §3).
    """

    steps: int = Field(default=26, ge=2)
    image_steps: int = Field(default=10, ge=1)
    bin_ms: float = Field(default=10.0, gt=0)
    widths: list[int] = Field(default_factory=lambda: [64, 64])
    areas: dict[str, str] = Field(default_factory=lambda: {"V4": "layer1", "IT": "layer2"})
    layers: list[str] | None = Field(
        default=None, description="model layers to assign (default: the model's per-step nodes)"
    )
    behaviour_bins: tuple[int, int] = Field(
        default=(7, 17), description="[first, last) bins averaged into the reference behaviour"
    )
    ost_classifier: Literal["svm", "logistic"] = "logistic"
    ost_components: int = Field(default=100, ge=2)
    ost_splits: int = Field(default=5, ge=2)
    min_ceiling: float = Field(
        default=0.1, ge=0.0, description="bins whose ceiling is below this are left out of means"
    )


class SuiteRule(RuleConfig):
    """One rule of a rules suite: a ``rule:`` section, and the label its runs are named by.

    The label defaults to the rule's config name, with the sign-symmetry variant appended
    (``sign_symmetry-usf``); give one when two entries share a rule (other coefficients).
    """

    label: str | None = Field(
        default=None,
        min_length=1,
        max_length=40,
        pattern=r"^[A-Za-z0-9_.+-]+$",
        description="name of the rule in run names and tables (letters, digits, _ . + -)",
    )

    def run_label(self) -> str:
        """The label of this rule's runs (``label``, else the rule's name and variant)."""
        if self.label is not None:
            return self.label
        rule = self.build()
        return rule.name if rule.variant is None else f"{rule.name}-{rule.variant}"

    def rule_section(self) -> dict:
        """The ``rule:`` section of the runs' configs (everything but the label)."""
        return self.model_dump(exclude={"label"})


class ScoreSettings(_Strict):
    mapping: str = "pls"
    splits: int = Field(default=10, ge=2)
    bootstraps: int = Field(default=20, ge=2)


_ALL = "all"


def _check_label(label: str) -> None:
    """A level's label names runs: up to 40 letters, digits, _ . + -."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9_.+-]{1,40}", label):
        raise ValueError(f"label {label!r}: use up to 40 letters, digits, _ . + - (it names runs)")


class MouseBlock(_Strict):
    """One block of a mouse suite's design: the crossing of these levels (``all``: every level
    of that factor)."""

    models: list[str] | Literal["all"] = _ALL
    objectives: list[str] | Literal["all"] = _ALL
    resolutions: list[int] | Literal["all"] = _ALL


class MouseBenchmark(_Strict):
    """The simulated mouse benchmark (``brainlike simulate --species mouse``) the runs are
    scored on: one recording per modality, from the same ground-truth network and stimuli."""

    modalities: list[Literal["neuropixels", "calcium"]] = Field(
        default_factory=lambda: ["neuropixels", "calcium"], min_length=1
    )
    brain: str = Field(
        default="streamnet-six",
        description="registry name or trained run whose areas generate the recording",
    )
    brain_config: str | None = Field(
        default=None,
        description="experiment config trained first as the brain (replaces brain); an "
        "untrained brain is a weak test: random conv nets predict each other's areas",
    )
    brain_seed: int = Field(default=0, ge=0)
    stimuli: Literal["scenes", "digits"] = "scenes"
    animals: int = Field(default=4, ge=2)
    neuroids: int = Field(default=60, ge=2, description="neurons per animal and area")
    trials: int = Field(default=10, ge=2)
    per_digit: int = Field(default=20, ge=2, description="stimuli: 10 x per_digit images")
    image_size: int = Field(default=64, ge=8)
    seed: int = Field(default=0, ge=0)


class MouseConfig(_Strict):
    """The chapter's experiment (spec: mouse-and-entorhinal.md §1): architectures x objectives x
    resolutions, each level a set of config overrides, crossed in the blocks of ``design``
    (default: the full crossing), scored on the simulated mouse areas and on transfer."""

    models: dict[str, dict[str, Any]] = Field(
        min_length=1, description="label -> config overrides (dotted keys), e.g. {model: {...}}"
    )
    objectives: dict[str, dict[str, Any]] = Field(
        min_length=1, description="label -> config overrides, e.g. {objective.task: simclr}"
    )
    resolutions: list[int] = Field(min_length=1, description="data.input_size of the runs")
    design: list[MouseBlock] = Field(
        default_factory=lambda: [MouseBlock()],
        description="blocks whose union is the design (a fractional design: say which cells)",
    )
    benchmark: MouseBenchmark = Field(default_factory=MouseBenchmark)
    mappings: list[Literal["ridge", "pls", "one_to_one", "rsa"]] = Field(
        default_factory=lambda: ["ridge", "one_to_one", "rsa"], min_length=1
    )
    transfer: list[str] = Field(
        default_factory=lambda: ["categorization", "position", "size", "pose", "texture"],
        description="transfer tasks (brainlike transfer --task), each a linear readout",
    )
    layers: dict[str, list[str]] = Field(
        default_factory=dict,
        description="model label -> the layers scored and read out (default: the model's "
        "default layers; a deep network's every block costs a fit per area and mapping)",
    )

    @field_validator("models", "objectives")
    @classmethod
    def _labels(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for label, overrides in v.items():
            _check_label(label)
            bad = [k for k in overrides if k.split(".")[0] in ("name", "seed", "data")]
            if bad:
                raise ValueError(
                    f"{label} sets {', '.join(bad)}: the suite names the runs, sets their "
                    "seeds (seeds) and their resolution (resolutions)"
                )
        return v

    @field_validator("resolutions")
    @classmethod
    def _sizes(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or min(v) < 8:
            raise ValueError(f"resolutions must be distinct sizes of at least 8 px, got {v}")
        return v

    @model_validator(mode="after")
    def _blocks_name_levels(self) -> MouseConfig:
        unknown_layers = [k for k in self.layers if k not in self.models]
        if unknown_layers or any(not v for v in self.layers.values()):
            raise ValueError(
                f"layers names models {unknown_layers} that the suite does not define, or an "
                f"empty list; use labels of {list(self.models)} with at least one layer each"
            )
        for i, block in enumerate(self.design):
            for factor, levels in (
                ("models", self.models),
                ("objectives", self.objectives),
                ("resolutions", self.resolutions),
            ):
                picked = getattr(block, factor)
                if picked == _ALL:
                    continue
                unknown = [x for x in picked if x not in levels]
                if unknown:
                    raise ValueError(
                        f"design block {i} names {factor} {unknown} that the suite does not "
                        f"define; use some of {list(levels)} or 'all'"
                    )
        return self

    def cells(self) -> list[tuple[str, str, int]]:
        """Every (model, objective, resolution) of the design, in a fixed order, once each."""
        seen: dict[tuple[str, str, int], None] = {}
        for block in self.design:
            ms = list(self.models) if block.models == _ALL else block.models
            os_ = list(self.objectives) if block.objectives == _ALL else block.objectives
            rs = self.resolutions if block.resolutions == _ALL else block.resolutions
            for m in ms:
                for o in os_:
                    for r in rs:
                        seen[(m, o, int(r))] = None
        return list(seen)


class MecBlock(_Strict):
    """One block of an entorhinal suite's design: the crossing of these levels (``all``: every
    level of that factor)."""

    cores: list[str] | Literal["all"] = _ALL
    targets: list[str] | Literal["all"] = _ALL


class MecSession(_Strict):
    """The recording the runs are mapped to: a generated example session (written once into
    the suite's folder by :func:`brainlike.data.recordings.spatial_session.simulate_spatial_session`)
    or ``recording``, a spatial recording file of your own."""

    recording: str | None = Field(
        default=None, description="a SpatialRecording (.nc, .mat folder, .csv, .nwb) instead"
    )
    animals: int = Field(default=2, ge=2, description="animals of the generated session")
    minutes: float = Field(default=10.0, gt=0.0, description="minutes per generated animal")
    seed: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _one_source(self) -> MecSession:
        generated = sorted({"animals", "minutes", "seed"} & self.model_fields_set)
        if self.recording is not None and generated:
            raise ValueError(
                f"session sets recording and {', '.join(generated)}; the generated session's "
                "settings do not apply to a recording file (remove one)"
            )
        return self


class MecAnalysis(_Strict):
    """How every run is analysed (spec: mouse-and-entorhinal.md §2, "Analyses")."""

    layer: Literal["g", "core"] = Field(default="g", description="the layer compared with MEC")
    bin_cm: float = Field(default=5.0, gt=0.0, description="rate-map bin side in cm")
    sequences: int = Field(default=2000, ge=1, description="random walks pooled into rate maps")
    decoding_sequences: int = Field(
        default=500, ge=1, description="held-out walks of each decoding error (ablations too)"
    )
    shuffles: int = Field(default=100, ge=0, description="circular shifts per unit (0: no null)")
    splits: int = Field(default=10, ge=2, description="random 20/80 bin splits of the mapping")
    seed: int = Field(default=0, ge=0, description="seed of the analysis walks and shuffles")


class MecThresholds(_Strict):
    """Fixed score thresholds of a tuned unit (spec §2: grid > 0.3, border > 0.5)."""

    grid: float = 0.3
    border: float = 0.5


class MecAblation(_Strict):
    """Ablations: the units above each threshold silenced, against ``random`` draws of as many
    random units (spec §2, "Ablations")."""

    random: int = Field(default=10, ge=1, description="random draws of as many units")
    seed: int = Field(default=0, ge=0)
    scores: list[Literal["grid", "border"]] = Field(default_factory=lambda: ["grid", "border"])


class MecConfig(_Strict):
    """The entorhinal experiment (spec: mouse-and-entorhinal.md §2): recurrent cores x
    place-cell targets, each level a set of config overrides, crossed in the blocks of
    ``design`` (default: the full crossing), analysed for grid and border cells, mapped to a
    spatial recording against its inter-animal ceiling, and ablated."""

    cores: dict[str, dict[str, Any]] = Field(
        min_length=1,
        description="label -> overrides, e.g. {model.core: rnn, model.activation: relu}",
    )
    targets: dict[str, dict[str, Any]] = Field(
        min_length=1, description="label -> overrides, e.g. {objective.place_cells.kind: dog}"
    )
    design: list[MecBlock] = Field(
        default_factory=lambda: [MecBlock()],
        description="blocks whose union is the design (a fractional design: say which cells)",
    )
    session: MecSession = Field(default_factory=MecSession)
    analysis: MecAnalysis = Field(default_factory=MecAnalysis)
    thresholds: MecThresholds = Field(default_factory=MecThresholds)
    ablation: MecAblation = Field(default_factory=MecAblation)

    @field_validator("cores", "targets")
    @classmethod
    def _labels(cls, v: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        for label, overrides in v.items():
            _check_label(label)
            if not isinstance(overrides, dict):
                raise ValueError(f"{label} is {overrides!r}; give a mapping of config overrides")
            bad = [k for k in overrides if k.split(".")[0] in ("name", "seed")]
            if bad:
                raise ValueError(
                    f"{label} sets {', '.join(bad)}: the suite names the runs and sets their "
                    "seeds (seeds)"
                )
        return v

    @model_validator(mode="after")
    def _blocks_name_levels(self) -> MecConfig:
        for i, block in enumerate(self.design):
            for factor, levels in (("cores", self.cores), ("targets", self.targets)):
                picked = getattr(block, factor)
                if picked == _ALL:
                    continue
                unknown = [x for x in picked if x not in levels]
                if unknown or not picked:
                    raise ValueError(
                        f"design block {i} names {factor} {unknown or '[]'} that the suite does "
                        f"not define; use some of {list(levels)} or 'all'"
                    )
        return self

    def cells(self) -> list[tuple[str, str]]:
        """Every (core, target) of the design, in a fixed order, once each."""
        seen: dict[tuple[str, str], None] = {}
        for block in self.design:
            cs = list(self.cores) if block.cores == _ALL else block.cores
            ts = list(self.targets) if block.targets == _ALL else block.targets
            for c in cs:
                for t in ts:
                    seen[(c, t)] = None
        return list(seen)


class SuiteConfig(_Strict):
    """A suite: runs to train and compare on one benchmark."""

    name: str = Field(min_length=1, max_length=120)
    runs: list[str] = Field(min_length=1, description="experiment configs (paths or names)")
    brain: BrainConfig | None = None
    temporal: TemporalConfig | None = None
    rules: list[SuiteRule] | None = Field(
        default=None,
        description="learning rules, each a rule name or a rule: mapping; every run is trained "
        "under every rule (spec: learning-rules.md §1)",
    )
    mouse: MouseConfig | None = Field(
        default=None,
        description="the mouse-visual-cortex comparison: architectures x objectives x "
        "resolutions scored on simulated mouse areas and transfer (spec: mouse-and-entorhinal.md §1)",
    )
    mec: MecConfig | None = Field(
        default=None,
        description="the entorhinal comparison: recurrent cores x place-cell targets, grid and "
        "border cells, mapping to a spatial recording, ablations (spec: mouse-and-entorhinal.md §2)",
    )
    overrides: dict[str, Any] = Field(
        default_factory=dict,
        description="config overrides (dotted keys, e.g. train.epochs: 2) applied to every run "
        "(not to a brain)",
    )
    benchmark: BenchmarkConfig = Field(default_factory=BenchmarkConfig)
    score: ScoreSettings = Field(default_factory=ScoreSettings)
    seeds: list[int] | None = Field(
        default=None,
        description="train every run with each of these seeds (default: each config's own); "
        "the table then shows mean ± s.d. over seeds",
    )

    @field_validator("seeds")
    @classmethod
    def _distinct(cls, v: list[int] | None) -> list[int] | None:
        if v is not None and (not v or len(set(v)) != len(v) or min(v) < 0):
            raise ValueError(f"seeds must be distinct non-negative ints, got {v}")
        return v

    @field_validator("rules", mode="before")
    @classmethod
    def _names_to_sections(cls, v: Any) -> Any:
        # a bare rule name is the rule with its default coefficients
        if isinstance(v, list):
            return [{"kind": e} if isinstance(e, str) else e for e in v]
        return v

    @field_validator("rules")
    @classmethod
    def _distinct_labels(cls, v: list[SuiteRule] | None) -> list[SuiteRule] | None:
        if v is None:
            return v
        if not v:
            raise ValueError("rules is empty; list at least one rule, e.g. [backprop, fa]")
        labels = [r.run_label() for r in v]
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(
                f"two rules entries are both {dup[0]}; give one of them a label "
                f"(e.g. {{kind: {v[labels.index(dup[0])].kind}, label: {dup[0]}-b}})"
            )
        return v

    @field_validator("overrides")
    @classmethod
    def _not_the_suites_keys(cls, v: dict[str, Any]) -> dict[str, Any]:
        taken = [k for k in v if k.split(".")[0] in ("name", "seed")]
        if taken:
            raise ValueError(
                f"overrides cannot set {', '.join(taken)}: the suite names the runs and "
                "sets their seeds (use seeds)"
            )
        return v

    @property
    def kind(self) -> Literal["brain", "temporal", "rules", "mouse", "mec"]:
        """Which comparison the suite makes."""
        if self.mec is not None:
            return "mec"
        if self.mouse is not None:
            return "mouse"
        if self.rules is not None:
            return "rules"
        return "temporal" if self.temporal is not None else "brain"

    @model_validator(mode="after")
    def _one_brain(self) -> SuiteConfig:
        kinds = ("brain", "temporal", "rules", "mouse", "mec")
        given = [k for k in kinds if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError(
                "give exactly one of brain (a trained network; static benchmark), temporal "
                "(the built-in recurrent brain; time-binned benchmark), rules (learning rules "
                "to train every run under), mouse (architectures x objectives x resolutions "
                "on simulated mouse areas) or mec (recurrent cores x place-cell targets on a "
                f"spatial recording); this suite has {' and '.join(given) or 'none'}"
            )
        for kind, levels, where in (
            (
                "mouse",
                "the architectures, objectives and resolutions",
                "mouse.benchmark, mouse.mappings",
            ),
            ("mec", "the cores and targets", "mec.session, mec.analysis"),
        ):
            if getattr(self, kind) is None:
                continue
            extra = sorted({"benchmark", "score"} & self.model_fields_set)
            if extra:
                raise ValueError(
                    f"{' and '.join(extra)} apply to suites with a brain; a {kind} suite sets "
                    f"its recording and analysis under {kind}: ({where})"
                )
            if len(self.runs) != 1:
                raise ValueError(
                    f"a {kind} suite builds every run from one base config (runs: [one config]); "
                    f"{levels} are {kind}'s levels"
                )
        if self.rules is not None:
            extra = sorted({"benchmark", "score"} & self.model_fields_set)
            if extra:
                raise ValueError(
                    f"{' and '.join(extra)} apply to suites with a brain; a rules suite "
                    "compares test accuracy and alignment (remove them)"
                )
            if any(k.split(".")[0] == "rule" for k in self.overrides):
                raise ValueError(
                    "overrides cannot set rule in a rules suite: its rules list sets each "
                    "run's rule (add the settings to the rules entries)"
                )
        if self.temporal is not None and self.seeds is not None:
            raise ValueError(
                "seeds apply to suites with a trained brain; a temporal suite runs each "
                "config's own seed (add configs with other seeds to compare seeds)"
            )
        return self


def resolve_run_config(name: str, folder: Path | None) -> Path:
    """A run's experiment config: the file ``name`` next to the suite (in ``folder``), else a
    path or the name of a shipped recipe."""
    if folder is not None and (folder / name).exists():
        return folder / name
    return resolve_config_path(name)


def experiment_name(config_path: Path) -> str:
    """The ``name`` of the experiment a config file describes."""
    return load_config(config_path).name


def load_suite(path: str | Path) -> tuple[SuiteConfig, Path]:
    """Read and validate a suite YAML (``yaml.safe_load``); returns it and its folder.

    ``path`` is a file or the name of a shipped suite (``grcnn-brainlikeness-digits``). Every
    run's config must exist (next to the suite, as a path or as a shipped recipe) and validate
    with the suite's ``overrides``, and the runs' experiment names must differ.
    """
    p = locate(path, shipped_configs_dir() / "suites", noun="suite", plural="suites")
    suite = validate(SuiteConfig, read_mapping(p, empty=_EMPTY), str(p), noun="suite")
    brain = [suite.brain.config] if suite.brain is not None else []
    if suite.mouse is not None and suite.mouse.benchmark.brain_config is not None:
        brain.append(suite.mouse.benchmark.brain_config)
    missing = [r for r in [*suite.runs, *brain] if not resolve_run_config(r, p.parent).is_file()]
    if missing:
        raise ConfigError(f"{p}: configs not found: {', '.join(missing)}")
    if suite.mec is not None and suite.mec.session.recording is not None:
        rec = suite.mec.session.recording
        if not (p.parent / Path(rec).expanduser()).exists():
            raise ConfigError(
                f"{p}: mec.session.recording {rec} not found (paths are relative to the suite's "
                "folder); give a spatial recording or leave it out to generate a session"
            )
    # every run validates with the overrides (names cannot be overridden)
    names = [load_config(resolve_run_config(r, p.parent), suite.overrides).name for r in suite.runs]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ConfigError(f"{p}: runs share the experiment name(s) {dup}; names must differ")
    return suite, p.parent
