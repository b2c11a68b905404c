"""The learning rule of an experiment (``rule:``), the fourth choice of the recipe.

spec: learning-rules.md §1. ``kind`` names a rule of :mod:`brainlike.rules.definitions` (or
an alias: ``fa``, ``kp``, ...); ``coefficients`` weight the primitives of the rules that train
their backward weights by a local loss; ``lr`` is that alignment optimizer's (Adam) learning
rate; ``noise_std`` the std of weight mirror's noise inputs; ``gradient_angle`` records how far
the rule's updates are from backprop's. The rule applies to every plain
Linear and Conv2d layer of the model (and the toolkit's own layers of that kind); backprop
(the default) changes nothing. ``direct_feedback_alignment`` (``dfa``) has no backward weights:
the output's error reaches every layer's input through a fixed random matrix, seeded by the
run's seed (:mod:`brainlike.rules.direct`).
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from brainlike.config.reader import StrictSection


class RuleConfig(StrictSection):
    """How the model's weights learn: backprop or a rule with backward weights."""

    kind: str = Field(default="backprop", description="rule name or alias (fa, ss, kp, ...)")
    variant: Literal["usf", "frsf", "brsf"] | None = Field(
        default=None, description="sign_symmetry only: usf (default), frsf or brsf"
    )
    coefficients: dict[str, float] = Field(
        default_factory=dict, description="primitive -> weight of the rule's alignment loss"
    )
    lr: float = Field(default=1e-3, gt=0.0, description="Adam learning rate of the alignment")
    noise_std: float = Field(default=1.0, gt=0.0, description="weight mirror's noise input std")
    gradient_angle: bool = Field(
        default=False,
        description="record per epoch the angle between the rule's update of W and backprop's "
        "gradient on one fixed training batch (two extra passes per epoch)",
    )

    @model_validator(mode="after")
    def _known(self) -> RuleConfig:
        self.build()  # a clear ValueError names what is wrong
        return self

    def build(self):
        """The :class:`~brainlike.rules.definitions.LearningRule` this section describes."""
        from brainlike.rules.definitions import make_rule

        options: dict = dict(self.coefficients)
        if self.variant is not None:
            options["variant"] = self.variant
        return make_rule(self.kind, **options)
