"""Learning rules: the fourth choice of the goal-driven recipe (spec learning-rules.md §1).

- :mod:`~brainlike.rules.functional`: linear and conv2d whose error flows back through a
  separate backward weight (custom autograd Functions);
- :mod:`~brainlike.rules.layers`: ``AsymmetricLinear`` / ``AsymmetricConv2d``, drop-in
  ``nn.Linear`` / ``nn.Conv2d`` with ``weight_backward``;
- :mod:`~brainlike.rules.primitives`: decay, amp, null, sparse and self, the local losses
  from which the rules train their backward weights;
- :mod:`~brainlike.rules.stabilise`: the stabilising operations of the alignment computation
  (spec §4: biases, ReLUs, centring and normalisation, input noise), flags of a rule;
- :mod:`~brainlike.rules.definitions`: the rules by name (``make_rule("kp")``), registered in
  :data:`brainlike.registry.RULES`;
- :mod:`~brainlike.rules.stacked`, :mod:`~brainlike.rules.convrnn`,
  :mod:`~brainlike.rules.locality`: the same for the toolkit's own layers (Reset networks'
  stacked subnetworks, ConvRNNs' TF-'same' convolutions, locality-prior layers);
- :mod:`~brainlike.rules.convert`: ``convert(model, rule)`` gives a model's Linear- and
  Conv2d-like layers their backward weights;
- :mod:`~brainlike.rules.direct`: direct feedback alignment, the output's error sent to every
  layer through a fixed random matrix (no backward weights).
"""

from brainlike.rules.convert import asymmetric_layers, convert
from brainlike.rules.definitions import LearningRule, alignment_loss, make_rule
from brainlike.rules.functional import asymmetric_conv2d, asymmetric_linear
from brainlike.rules.layers import AsymmetricConv2d, AsymmetricLinear
from brainlike.rules.primitives import PRIMITIVES

__all__ = [
    "PRIMITIVES",
    "LearningRule",
    "alignment_loss",
    "asymmetric_layers",
    "convert",
    "make_rule",
    "AsymmetricConv2d",
    "AsymmetricLinear",
    "asymmetric_conv2d",
    "asymmetric_linear",
]
