"""The learning rule of an experiment (``rule:``), the fourth choice of the recipe.

spec: learning-rules.md §1 and §4. ``kind`` names a rule of :mod:`brainlike.rules.definitions`
(or an alias: ``fa``, ``kp``, ...); ``coefficients`` weight the primitives of the rules that
train their backward weights by a local loss; ``lr`` is that alignment optimizer's learning
rate (``align_optimizer``: Adam by default, or plain gradient descent; ``align_schedule``:
constant, or the forward schedule of ``train``); ``gradient_angle`` records how far the rule's
updates are from backprop's. The rule applies to every plain Linear and Conv2d layer of the
model (and the toolkit's own layers of that kind); backprop (the default) changes nothing.
``direct_feedback_alignment`` (``dfa``) has no backward weights: the output's error reaches
every layer's input through a fixed random matrix, seeded by the run's seed
(:mod:`brainlike.rules.direct`).

Stabilisation (§4): ``stabilise`` lists the operations applied inside the alignment
computation (:mod:`brainlike.rules.stabilise`), ``input_noise`` replaces the alignment input by
noise (weight mirror always mirrors noise: ``noise_std``, the older key, is its Gaussian std).
Schedules: ``delay_epochs`` trains only the alignment loss for the first epochs,
``alternate: k`` switches the task loss off on every (k+1)-th step and the alignment on only
then, ``noisy_updates`` adds lr_t * xi after each optimizer step.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from brainlike.config.reader import StrictSection

_NOISE_STD_DEFAULT = 1.0


class InputNoiseConfig(StrictSection):
    """Noise that replaces a layer's input in the alignment computation (spec §4)."""

    distribution: Literal["gaussian", "uniform"] = Field(
        default="gaussian", description="gaussian, or uniform of the same variance"
    )
    std: float = Field(gt=0.0, description="standard deviation sigma")


class NoisyUpdatesConfig(StrictSection):
    """var <- var + lr_t * xi after each optimizer step (spec §4; thesis §5.9.3)."""

    std: float = Field(gt=0.0, description="std sigma of xi")
    distribution: Literal["gaussian", "uniform"] = Field(
        default="gaussian", description="gaussian, or uniform of the same variance"
    )
    target: Literal["backward", "all"] = Field(
        default="backward",
        description="backward: the backward weights (after their optimizer's steps); all: "
        "every trained parameter (the forward ones after the forward optimizer's steps)",
    )


class RuleConfig(StrictSection):
    """How the model's weights learn: backprop or a rule with backward weights."""

    kind: str = Field(default="backprop", description="rule name or alias (fa, ss, kp, ...)")
    variant: Literal["usf", "frsf", "brsf"] | None = Field(
        default=None, description="sign_symmetry only: usf (default), frsf or brsf"
    )
    coefficients: dict[str, float] = Field(
        default_factory=dict, description="primitive -> weight of the rule's alignment loss"
    )
    lr: float = Field(default=1e-3, gt=0.0, description="learning rate of the alignment")
    noise_std: float = Field(
        default=_NOISE_STD_DEFAULT,
        gt=0.0,
        description="weight mirror's Gaussian noise std (input_noise says it for any rule)",
    )
    gradient_angle: bool = Field(
        default=False,
        description="record per epoch the angle between the rule's update of W and backprop's "
        "gradient on one fixed training batch (two extra passes per epoch)",
    )
    stabilise: list[str] | None = Field(
        default=None,
        description="stabilising operations of the alignment computation (spec §4: fo_bias, "
        "bo_bias, fo_relu, bo_relu, fo_bwmc, fo_fwmc, fo_fwl2n, bo_fwmc, bo_fwl2n, bi_bwmc, "
        "bi_fwmc, bi_fwl2n); default: [fo_bias] on the layer's own input, [] on noise inputs",
    )
    input_noise: InputNoiseConfig | None = Field(
        default=None, description="replace the alignment input by noise (weight mirror: always)"
    )
    delay_epochs: int = Field(
        default=0, ge=0, description="first epochs with the task loss off (alignment only)"
    )
    alternate: int = Field(
        default=0,
        ge=0,
        description="k: on step s with s mod (k+1) = 0 only the alignment trains, on the other "
        "steps only the task (0: both every step)",
    )
    noisy_updates: NoisyUpdatesConfig | None = Field(
        default=None, description="noise lr_t * xi added after each optimizer step"
    )
    align_optimizer: Literal["adam", "sgd"] | None = Field(
        default=None, description="optimizer of the alignment loss: adam (default) or sgd"
    )
    align_schedule: Literal["constant", "train"] | None = Field(
        default=None,
        description="the alignment's learning-rate schedule: constant (default) or train "
        "(train.schedule at rule.lr, dropping with the forward one)",
    )

    @model_validator(mode="after")
    def _known(self) -> RuleConfig:
        self._check(self.build())  # a clear ValueError names what is wrong
        return self

    def build(self):
        """The :class:`~brainlike.rules.definitions.LearningRule` this section describes."""
        from brainlike.rules.definitions import make_rule

        options: dict = dict(self.coefficients)
        if self.variant is not None:
            options["variant"] = self.variant
        return make_rule(self.kind, **options)

    # -- the stabilisation and the schedules ------------------------------------------------------
    def noise(self, rule: Any) -> tuple[str, float] | None:
        """``(distribution, std)`` of the alignment's input noise for ``rule``, or None."""
        if self.input_noise is not None:
            return self.input_noise.distribution, self.input_noise.std
        if rule.name == "weight_mirror":
            return "gaussian", self.noise_std
        return None

    def flags(self, rule: Any) -> tuple[str, ...]:
        """The stabilising flags in force for ``rule`` (the default when none are given)."""
        from brainlike.rules.stabilise import default_flags

        if self.stabilise is not None:
            return tuple(self.stabilise)
        return default_flags(self.noise(rule) is not None)

    def _check(self, rule: Any) -> None:
        from brainlike.rules.stabilise import check_flags

        name, loss = rule.name, rule.loss
        if self.noise_std != _NOISE_STD_DEFAULT and name != "weight_mirror":
            raise ValueError(
                f"rule.noise_std is weight mirror's noise std; for {name} write "
                f"rule.input_noise: {{std: {self.noise_std}}}"
            )
        if (
            name == "weight_mirror"
            and self.input_noise is not None
            and self.noise_std != _NOISE_STD_DEFAULT
        ):
            raise ValueError(
                "rule.noise_std and rule.input_noise both give weight mirror's noise; keep "
                "input_noise"
            )
        check_flags(self.stabilise or (), name, loss, noise=self.input_noise is not None)
        why = f"rule {name} has no alignment loss (those with one: weight_mirror, " + (
            "information_alignment, symmetric_alignment, activation_alignment)"
        )
        if not loss:
            for key, given in (
                ("delay_epochs", self.delay_epochs > 0),
                ("alternate", self.alternate > 0),
                ("align_optimizer", self.align_optimizer is not None),
                ("align_schedule", self.align_schedule is not None),
            ):
                if given:
                    raise ValueError(f"rule.{key} schedules the alignment loss, and {why}")
        nu = self.noisy_updates
        if (
            nu is not None
            and nu.target == "backward"
            and not (loss or rule.follows_weight_gradient)
        ):
            raise ValueError(
                f"rule.noisy_updates target backward adds noise after the backward weights' "
                f"optimizer steps, and rule {name} has no such optimizer (its backward weights "
                "are absent, fixed or set from W every step); use target: all or another rule"
            )

    def check_epochs(self, epochs: int) -> None:
        """Refuse a delay that leaves the task no epoch of ``train.epochs``."""
        if self.delay_epochs and self.delay_epochs >= epochs:
            raise ValueError(
                f"rule.delay_epochs {self.delay_epochs} leaves the task loss no epoch of "
                f"train.epochs {epochs}; use fewer delay epochs or more epochs"
            )
