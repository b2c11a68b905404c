"""What a run records for learning-rule identification (``observe:``), off by default.

spec: learning-rules.md §2. At ``checkpoints`` points of training (step 0, the initialisation,
included; evenly or log-spaced in optimizer steps) the run measures, on a fixed subset of the
held-out data, for every layer a learning rule trains (plain and converted ``Linear`` /
``Conv2d`` layers, the toolkit's stacked, 'same'-padded and locality-prior layers) its forward
weights, its post-activation activations and its layer-wise activity change, and summarises
each by statistics (:mod:`brainlike.analysis.identify.observables`). Each entry of
``recordings`` is one way an experimenter could have measured them: a fraction of the units
(pre- and post-synaptic units drawn with separate seeds) and additive Gaussian measurement
noise; the default is the ideal recording, every unit and no noise.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from brainlike.config.reader import StrictSection

__all__ = ["ObserveConfig", "RecordingConfig"]


class RecordingConfig(StrictSection):
    """One measurement setting: which units are recorded, with how much noise."""

    fraction: float = Field(
        default=1.0, gt=0.0, le=1.0, description="fraction of the units (and synapses) recorded"
    )
    noise: float = Field(
        default=0.0, ge=0.0, description="std of the additive Gaussian measurement noise"
    )
    seed: int = Field(default=0, ge=0, description="seed of the unit draws and of the noise")


class ObserveConfig(StrictSection):
    """Observables over training for learning-rule identification (see the module docstring)."""

    enabled: bool = False
    checkpoints: int = Field(
        default=21, ge=2, le=10_000, description="measurements over training, step 0 included"
    )
    spacing: Literal["even", "log"] = Field(
        default="even", description="checkpoints evenly or log-spaced in optimizer steps"
    )
    validation_size: int = Field(
        default=64, ge=1, description="held-out examples the activations are measured on"
    )
    validation_seed: int = Field(default=0, ge=0, description="which held-out examples")
    batch_size: int = Field(default=256, ge=1, description="examples per measuring pass")
    layers: Literal["all"] | list[str] = Field(
        default="all",
        description="'all': every layer a learning rule trains; or their module names",
    )
    post_activation: Literal["relu", "output"] = Field(
        default="relu",
        description="relu: a hidden layer's activations are its rectified output (the readout's "
        "output as it is); output: every layer's output as it is",
    )
    recordings: list[RecordingConfig] = Field(
        default_factory=lambda: [RecordingConfig()],
        description="measurement settings (unit fraction, noise, seed), each measured",
    )
    label: str | None = Field(
        default=None,
        max_length=80,
        description="the class a rule identifier learns for this run (default: rule+optimizer)",
    )
    architecture: str | None = Field(
        default=None, max_length=80, description="architecture name (default: model.kind)"
    )
    netcdf: bool = Field(
        default=False, description="also write observables.nc (xarray) at the end of the run"
    )

    @field_validator("layers")
    @classmethod
    def _some_layers(cls, v: str | list[str]) -> str | list[str]:
        if isinstance(v, list) and (not v or len(set(v)) != len(v)):
            raise ValueError(
                "observe.layers is 'all' or a list of distinct module names, e.g. [conv1, fc]"
            )
        return v

    @model_validator(mode="after")
    def _distinct_recordings(self) -> ObserveConfig:
        if not self.recordings:
            raise ValueError(
                "observe.recordings needs at least one entry (the ideal one: {fraction: 1.0, "
                "noise: 0.0})"
            )
        keys = [(r.fraction, r.noise, r.seed) for r in self.recordings]
        if len(set(keys)) != len(keys):
            raise ValueError(
                "observe.recordings lists the same (fraction, noise, seed) twice; give each "
                "setting once"
            )
        return self
