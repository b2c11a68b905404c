"""The file of a rule-identification zoo: which networks to train, and how they are observed.

spec: learning-rules.md §2. A zoo is the Cartesian product of *classes* (what an identifier
must tell apart: a learning rule with its optimizer, e.g. backprop with SGD-momentum, feedback
alignment with Adam), *architectures* (each an experiment-config fragment: ``data`` and
``model``, or the name of a shipped recipe), *batch sizes* (the curriculum) and *seeds*. Every
run is an ordinary experiment config (written to ``DIR/configs/``) trained by the one training
loop with its ``observe`` section switched on, its class as ``observe.label``. A class's
learning rate is for ``lr_reference_batch`` and is rescaled linearly with the batch size when
that is set (as in the source). :func:`load_zoo` validates the file and every run's config
before anything is trained. ``brainlike identify build`` trains a zoo.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from brainlike.config.experiment import ExperimentConfig, config_from_dict, load_config
from brainlike.config.reader import (
    ConfigError,
    StrictSection,
    read_mapping,
    shipped_configs_dir,
    shipped_path,
    validate,
)
from brainlike.config.rule import RuleConfig

__all__ = ["ZooClass", "ZooSpec", "load_zoo", "zoo_runs"]

_EMPTY = (
    "write a zoo (keys name, classes, architectures, batch_sizes, seeds, epochs) or start from "
    "a shipped one (configs/identify/rules-digits-quick.yaml)"
)
_NAME = r"^[A-Za-z0-9][A-Za-z0-9_.+-]*$"


class ZooClass(StrictSection):
    """One class of the zoo: a learning rule trained with an optimizer."""

    rule: RuleConfig = Field(default_factory=RuleConfig)
    optimizer: Literal["sgd", "adam"]
    lr: float = Field(gt=0.0, description="learning rate at lr_reference_batch")
    momentum: float = Field(default=0.9, ge=0.0, lt=1.0, description="sgd only")
    weight_decay: float = Field(default=0.0, ge=0.0)

    @field_validator("rule", mode="before")
    @classmethod
    def _rule_name(cls, v: Any) -> Any:
        return {"kind": v} if isinstance(v, str) else v


class ZooSpec(StrictSection):
    """A zoo of networks for rule identification (see the module docstring)."""

    name: str = Field(min_length=1, max_length=80, pattern=_NAME)
    description: str = Field(default="", max_length=300)
    expected_time: str = Field(default="", max_length=160)
    classes: dict[str, ZooClass]
    architectures: dict[str, dict[str, Any] | str] = Field(
        description="name -> experiment-config fragment (data, model, train extras) or a "
        "shipped recipe name / config path"
    )
    batch_sizes: list[int] = Field(min_length=1)
    seeds: list[int] = Field(min_length=1)
    epochs: int = Field(ge=1)
    lr_reference_batch: int | None = Field(
        default=None, ge=1, description="batch size the classes' lr is for (linear rescaling)"
    )
    train: dict[str, Any] = Field(
        default_factory=dict, description="train keys every run gets (device, threads, ...)"
    )
    observe: dict[str, Any] = Field(
        default_factory=dict, description="the runs' observe section (enabled by the zoo)"
    )

    @field_validator("classes", "architectures")
    @classmethod
    def _named(cls, v: dict[str, Any]) -> dict[str, Any]:
        import re

        bad = [k for k in v if not re.match(_NAME, k)]
        if bad:
            raise ValueError(
                f"names {bad} are not usable in run folder names; use letters, digits, _ . + -"
            )
        return v

    @field_validator("batch_sizes", "seeds")
    @classmethod
    def _distinct(cls, v: list[int]) -> list[int]:
        if len(set(v)) != len(v) or min(v) < 0:
            raise ValueError(f"give distinct non-negative values, got {v}")
        return v

    @model_validator(mode="after")
    def _enough(self) -> ZooSpec:
        if len(self.classes) < 2:
            raise ValueError(
                f"a zoo needs at least two classes to tell apart, got {list(self.classes)}"
            )
        if not self.architectures:
            raise ValueError("a zoo needs at least one architecture")
        if 0 in self.batch_sizes:
            raise ValueError("batch sizes must be >= 1")
        for key in ("label", "architecture", "enabled"):
            if key in self.observe:
                raise ValueError(
                    f"observe.{key} is set by the zoo for every run (its class, its "
                    "architecture, on); leave it out"
                )
        for key in ("optimizer", "lr", "momentum", "weight_decay", "batch_size", "epochs"):
            if key in self.train:
                raise ValueError(
                    f"train.{key} comes from the classes, batch_sizes or epochs of the zoo; "
                    "leave it out of train"
                )
        return self


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``extra`` merged in (nested mappings key by key)."""
    out = copy.deepcopy(base)
    for k, v in extra.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _architecture(spec: ZooSpec, name: str, base: Path) -> dict[str, Any]:
    """An architecture's config fragment (a recipe file read as a mapping)."""
    entry = spec.architectures[name]
    if isinstance(entry, dict):
        return entry
    path = Path(entry).expanduser()
    if not path.is_absolute() and (base / path).is_file():
        path = base / path
    found = shipped_path(path, shipped_configs_dir())
    if not found.is_file():
        raise ConfigError(
            f"architectures.{name}: {entry} is neither a config file nor a shipped recipe "
            "(`brainlike configs` lists them)"
        )
    load_config(found)  # a clear error for a bad recipe
    return read_mapping(found, empty="")


def zoo_runs(spec: ZooSpec, base: str | Path = ".") -> list[tuple[str, ExperimentConfig]]:
    """(run name, validated experiment config) of every network of the zoo, in a fixed order
    (architecture, class, batch size, seed). ``base``: the folder relative paths start from."""
    runs = []
    for arch in spec.architectures:
        fragment = _architecture(spec, arch, Path(base))
        for cls_name, cls in spec.classes.items():
            for batch in spec.batch_sizes:
                for seed in spec.seeds:
                    name = f"{arch}-{cls_name}-b{batch}-s{seed}"
                    scale = batch / spec.lr_reference_batch if spec.lr_reference_batch else 1.0
                    train: dict[str, Any] = {
                        **spec.train,
                        "optimizer": cls.optimizer,
                        "lr": cls.lr * scale,
                        "weight_decay": cls.weight_decay,
                        "batch_size": batch,
                        "epochs": spec.epochs,
                    }
                    if cls.optimizer == "sgd":
                        train["momentum"] = cls.momentum
                    run = _merge(
                        fragment,
                        {
                            "name": name,
                            "seed": seed,
                            "rule": cls.rule.model_dump(exclude_defaults=True)
                            | {"kind": cls.rule.kind},
                            "train": train,
                            "observe": {
                                **spec.observe,
                                "enabled": True,
                                "label": cls_name,
                                "architecture": arch,
                            },
                        },
                    )
                    for key in ("description", "expected_time"):
                        run.pop(key, None)
                    runs.append((name, config_from_dict(run, f"zoo run {name}")))
    return runs


def load_zoo(path: str | Path) -> tuple[ZooSpec, list[tuple[str, ExperimentConfig]]]:
    """Read and validate a zoo file (a path, or a shipped name such as ``rules-digits-quick``)
    and every run's config; raises :class:`ConfigError` naming the problem."""
    p = shipped_path(path, shipped_configs_dir() / "identify")
    if not p.is_file():
        names = ", ".join(
            sorted(q.stem for q in (shipped_configs_dir() / "identify").glob("*.yaml"))
        )
        raise ConfigError(f"zoo file {path} does not exist; shipped zoos: {names or 'none'}")
    data = read_mapping(p, empty=_EMPTY)
    spec = validate(ZooSpec, data, str(p), noun="zoo")
    return spec, zoo_runs(spec, p.parent)
