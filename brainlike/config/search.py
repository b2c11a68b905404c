"""The file of an architecture/hyperparameter search: a base experiment and a search space.

A search (YAML, read like every brainlike file by :mod:`brainlike.config.reader`) names a
base experiment config (a path, a shipped recipe or an inline mapping), the space a trial
samples (cell kinds per ConvRNN layer, candidate feedback edges, ranges of any dotted config
key) and the budget; :func:`brainlike.integrations.search.run_search` runs it (spec:
recurrent.md §1). :func:`load_search` checks the whole file at the door: the base must be a
valid experiment and every dotted key must name a config field.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from brainlike.config.experiment import ExperimentConfig, config_from_dict, resolve_config_path
from brainlike.config.model import MODEL_KINDS, check_edge_pairs
from brainlike.config.reader import (
    ConfigError,
    locate,
    read_mapping,
    read_yaml,
    shipped_configs_dir,
    validate,
)

__all__ = [
    "NO_CELL",
    "CellSpace",
    "ParamRange",
    "SearchConfig",
    "SearchConfigError",
    "SearchSpace",
    "load_search",
    "resolved_search",
    "shipped_searches_dir",
]

NO_CELL = "none"
"""Cell kind meaning "this layer has no cell" in a search space."""

_EMPTY = (
    "write a search (keys name, base and space) or start from a shipped search "
    "(`brainlike configs` lists them)"
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamRange(_Strict):
    """The range of one dotted config key: ``float``/``int`` (``low``..``high``, optionally
    ``log`` or ``step``) or ``categorical`` (``choices``)."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(default=None, gt=0)
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ParamRange:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical range needs a non-empty list of choices")
            bad = [
                c for c in self.choices if not isinstance(c, (str, int, float, bool, type(None)))
            ]
            if bad:
                raise ValueError(f"choices must be strings, numbers, booleans or null; got {bad}")
            if self.low is not None or self.high is not None or self.log or self.step:
                raise ValueError("a categorical range takes choices only (no low, high, log, step)")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} range takes low and high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} range needs low and high")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("a range is either log or stepped, not both")
        if self.type == "int":
            nums = [self.low, self.high] + ([self.step] if self.step is not None else [])
            if any(not float(v).is_integer() for v in nums):
                raise ValueError(f"an int range needs whole low, high and step; got {nums}")
        return self

    def suggest(self, trial: Any, name: str) -> Any:
        """Draw a value for ``name`` from an Optuna trial."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(name, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)


class CellSpace(_Strict):
    """Cell kinds tried in ConvRNN layers (``model.cells``)."""

    layers: list[str] = Field(min_length=1, description="layers that may hold a cell")
    kinds: list[str] = Field(min_length=1, description=f"cell kinds; {NO_CELL!r}: no cell")
    shared: bool = Field(default=False, description="one kind for all layers, not one each")

    @field_validator("kinds")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from brainlike.models.convrnn.cells import cell_names

        known = [NO_CELL, *cell_names()]
        bad = [k for k in v if k not in known]
        if bad:
            raise ValueError(f"unknown cell kind(s) {bad}; known: {', '.join(known)}")
        return list(dict.fromkeys(v))


class SearchSpace(_Strict):
    """What a trial samples."""

    cells: CellSpace | None = None
    feedback: list[list[str]] = Field(
        default_factory=list, description="candidate feedback edges [source, target]"
    )
    params: dict[str, ParamRange] = Field(default_factory=dict)

    @field_validator("feedback")
    @classmethod
    def _pairs(cls, v: list[list[str]]) -> list[list[str]]:
        return check_edge_pairs(v)


class SearchConfig(_Strict):
    """A search: base experiment, space, budget, storage."""

    name: str = Field(min_length=1, max_length=120, description="study name in the storage")
    base: str | dict[str, Any] = Field(
        description="experiment config: a path, a shipped recipe name, or an inline mapping"
    )
    space: SearchSpace
    n_trials: int = Field(default=20, ge=1, description="trials per call")
    epochs: int = Field(default=1, ge=1, description="train.epochs of every trial")
    objective: Literal["test_acc"] = "test_acc"
    seed: int = Field(default=0, ge=0, description="seed of the TPE sampler")
    startup_trials: int = Field(default=10, ge=1, description="random trials before TPE")
    storage: str | None = Field(
        default=None, description="SQLAlchemy URL (default sqlite:///OUT/search.sqlite)"
    )
    units_layers: list[str] | None = Field(
        default=None, description="layers whose units are summed (default: the scored layers)"
    )


class SearchConfigError(ConfigError):
    """A search file that cannot describe a search; the message says why."""


def shipped_searches_dir() -> Path:
    """The folder of the search recipes shipped with the package."""
    return shipped_configs_dir() / "searches"


def load_search(path: str | Path) -> SearchConfig:
    """Read and validate a search file; its ``base`` comes back as a validated mapping.

    ``path`` is a file or the name of a shipped search (``convrnn-small-digits``). A ``base``
    path is looked up next to the search file, then as a path or shipped experiment recipe.
    """
    p = locate(
        path, shipped_searches_dir(), noun="search", plural="searches", error=SearchConfigError
    )
    search = validate(
        SearchConfig,
        read_mapping(p, empty=_EMPTY, error=SearchConfigError),
        str(p),
        noun="search",
        error=SearchConfigError,
        allowed_label="allowed keys",
    )
    return resolved_search(search, p.parent, str(p))


def resolved_search(search: SearchConfig, folder: Path, source: str) -> SearchConfig:
    """``search`` with its base read, validated and checked against the space.

    A ``base`` path is looked up in ``folder`` (the search file's), then as a path or
    shipped experiment recipe; ``source`` names the search in messages.
    """
    base = search.base
    if isinstance(base, str):
        local = (folder / base).expanduser()
        base_path = local if local.is_file() else resolve_config_path(base)
        if not base_path.is_file():
            raise SearchConfigError(
                f"{source}: base config {base!r} not found (next to the search file, as a path, "
                "or as a shipped recipe; `brainlike configs` lists those)"
            )
        base = read_yaml(base_path, error=SearchConfigError) or {}
    try:
        cfg = config_from_dict(copy.deepcopy(base), f"{source}: base")
    except ConfigError as err:
        raise SearchConfigError(str(err)) from None
    space = search.space
    if (space.cells or space.feedback) and cfg.model.kind != "convrnn":
        raise SearchConfigError(
            f"{source}: space.cells and space.feedback apply to model.kind convrnn; the base "
            f"is {cfg.model.kind!r}"
        )
    if space.cells and cfg.model.kind == "convrnn" and cfg.model.base == "shallow-lstm":
        raise SearchConfigError(
            f"{source}: base shallow-lstm brings its own cells; search cells on base6, base11, "
            "rgc-median or rgc-approx"
        )
    for key in space.params:
        _check_key(key, base, source)
    return search.model_copy(update={"base": base})


def _check_key(key: str, base: dict[str, Any], source: str) -> None:
    """Refuse a dotted key that names no config field (a typo would spoil every trial)."""
    model: type[BaseModel] | None = ExperimentConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        if model is None:
            return  # inside a free-form mapping (model.cells.conv3.kind): checked per trial
        here = ".".join(parts[: i + 1])
        field = model.model_fields.get(part)
        if field is None:
            raise SearchConfigError(
                f"{source}: space.params.{key}: {here} is not a config key; keys there: "
                f"{', '.join(model.model_fields)}"
            )
        if model is ExperimentConfig and part == "model":
            kind = (base.get("model") or {}).get("kind", "reset")
            model = MODEL_KINDS.get(kind)
            continue
        ann = field.annotation
        nxt = [a for a in (ann, *get_args(ann)) if isinstance(a, type) and issubclass(a, BaseModel)]
        mapping = ann is Any or any(
            a is dict or getattr(a, "__origin__", None) is dict for a in (ann, *get_args(ann))
        )
        if nxt:
            model = nxt[0]
        elif i < len(parts) - 1 and not mapping:
            raise SearchConfigError(
                f"{source}: space.params.{key}: {here} is a value, not a section"
            )
        else:
            model = None
