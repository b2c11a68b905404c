"""Learning rules: the fourth choice of the goal-driven recipe (spec learning-rules.md §1).

- :mod:`~brainlike.rules.functional`: linear and conv2d whose error flows back through a
  separate backward weight (custom autograd Functions);
- :mod:`~brainlike.rules.layers`: ``AsymmetricLinear`` / ``AsymmetricConv2d``, drop-in
  ``nn.Linear`` / ``nn.Conv2d`` with ``weight_backward``;
- :mod:`~brainlike.rules.primitives`: decay, amp, null, sparse and self, the local losses
  from which the rules train their backward weights.
"""

from brainlike.rules.functional import asymmetric_conv2d, asymmetric_linear
from brainlike.rules.layers import AsymmetricConv2d, AsymmetricLinear
from brainlike.rules.primitives import PRIMITIVES

__all__ = [
    "PRIMITIVES",
    "AsymmetricConv2d",
    "AsymmetricLinear",
    "asymmetric_conv2d",
    "asymmetric_linear",
]
