"""``convert(model, rule)``: give every Linear- and Conv2d-like layer of a model a backward weight.

Each ``nn.Linear`` / ``nn.Conv2d`` is replaced, in place, by an
:class:`~brainlike.rules.layers.AsymmetricLinear` / ``AsymmetricConv2d`` that shares its weight
and bias (the same Parameter objects, so an optimizer built before or after sees the same
tensors, and the state dict keeps its keys plus ``weight_backward``). The toolkit's own layers
of that kind are swapped the same way (:data:`SWAPS`, by exact class):

- Reset networks: ``StackedConv2d`` / ``StackedLinear`` -> :mod:`brainlike.rules.stacked`;
- ConvRNNs: ``SameConv2d`` (TensorFlow 'same' padding) -> :mod:`brainlike.rules.convrnn` (the
  cells' convolutions are plain ``nn.Conv2d``);
- locality-prior layers: ``LocalityLinear`` / ``LocalityConv2d`` -> :mod:`brainlike.rules.locality`
  (the error flows through B~ * prior * mask).

Every other module (BatchNorm, pooling, activations, recurrences) is left as it is: they stay
exact backprop. Direct feedback alignment swaps nothing: the same layers keep their class and
get DFA's feedback matrices and hooks (:mod:`brainlike.rules.direct`). Layers that hold a Linear- or Conv-like weight but are none of these
(``LocalityRNN``, ``nn.Conv1d``/``Conv3d``, transposed convolutions, subclasses that change
the forward) are not converted; ``convert`` refuses a model that has them, naming each, rather
than train part of it with backprop unnoticed.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from brainlike.rules.definitions import LearningRule, make_rule
from brainlike.rules.layers import AsymmetricConv2d, AsymmetricLinear

__all__ = [
    "BACKWARD_STATE",
    "SWAPS",
    "asymmetric_layers",
    "convert",
    "forward_state",
    "unconvertible_layers",
]

#: state-dict entries (last name part) that a learning rule adds to a model: its backward
#: weights and their fixed random parts
BACKWARD_STATE = ("weight_backward", "backward_magnitude", "feedback_direct")


def forward_state(state_dict: dict[str, Any]) -> dict[str, Any]:
    """``state_dict`` without the entries of :data:`BACKWARD_STATE`: the weights a model has
    under any rule (what a run started from another rule's checkpoint loads)."""
    return {k: v for k, v in state_dict.items() if k.rpartition(".")[2] not in BACKWARD_STATE}


def _swaps() -> dict[type, Any]:
    # deferred: the model modules load lazily, as brainlike.rules is imported by the configs
    from brainlike.models.convrnn.layers import SameConv2d
    from brainlike.models.locality import LocalityConv2d, LocalityLinear
    from brainlike.models.parallel import StackedConv2d, StackedLinear
    from brainlike.rules.convrnn import AsymmetricSameConv2d
    from brainlike.rules.locality import AsymmetricLocalityConv2d, AsymmetricLocalityLinear
    from brainlike.rules.stacked import AsymmetricStackedConv2d, AsymmetricStackedLinear

    return {
        StackedConv2d: AsymmetricStackedConv2d.from_stacked,
        StackedLinear: AsymmetricStackedLinear.from_stacked,
        SameConv2d: AsymmetricSameConv2d.from_same_conv2d,
        LocalityLinear: AsymmetricLocalityLinear.from_locality,
        LocalityConv2d: AsymmetricLocalityConv2d.from_locality,
    }


#: the toolkit's layer classes (exact class) -> ``fn(layer, backward_init)`` making their
#: asymmetric version; filled on first use
SWAPS: dict[type, Any] = {}


def _swap_for(module: nn.Module) -> Any:
    """How to convert ``module`` (None: it is not a layer ``convert`` swaps)."""
    if not SWAPS:
        SWAPS.update(_swaps())
    if hasattr(module, "weight_backward"):
        return None
    if _plain(module, nn.Linear):
        return AsymmetricLinear.from_linear
    if _plain(module, nn.Conv2d):
        return AsymmetricConv2d.from_conv2d
    return SWAPS.get(type(module))


def _plain(module: nn.Module, base: type) -> bool:
    """An instance of ``base`` (or a subclass) that computes exactly as ``base`` does."""
    cls = type(module)
    if not isinstance(module, base) or isinstance(module, (AsymmetricLinear, AsymmetricConv2d)):
        return False
    return all(
        getattr(cls, name) is getattr(base, name)
        for name in ("forward", "_conv_forward")
        if hasattr(base, name)
    )


def unconvertible_layers(model: nn.Module) -> list[tuple[str, str]]:
    """(name, class) of the layers with a weight that :func:`convert` cannot give a backward
    weight yet (anything Linear/Conv-like that is neither a plain ``nn.Linear`` / ``nn.Conv2d``
    nor one of the toolkit's layers in :data:`SWAPS`)."""
    from brainlike.rules.direct import DIRECT_BUFFER

    out = []
    for name, m in model.named_modules():
        if hasattr(m, "weight_backward") or DIRECT_BUFFER in m._buffers or _swap_for(m) is not None:
            continue
        if "Norm" in type(m).__name__:  # normalisation layers stay exact backprop
            continue
        own_weights = [n for n, _ in m.named_parameters(recurse=False) if n.startswith("weight")]
        if isinstance(m, (nn.Linear, nn.modules.conv._ConvNd, nn.RNNBase)) or (
            type(m).__name__.startswith(("Stacked", "Locality")) and own_weights
        ):
            out.append((name, type(m).__name__))
    return out


def asymmetric_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every layer of ``model`` that has a backward weight."""
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "weight_backward")]


def convert(model: nn.Module, rule: str | LearningRule, seed: int = 0) -> list[str]:
    """Give every Linear/Conv2d-like layer of ``model`` a backward weight for ``rule``, in place
    (for direct feedback alignment: its feedback matrices, :func:`brainlike.rules.direct.attach`).

    Parameters
    ----------
    model : any ``nn.Module``.
    rule : a :class:`~brainlike.rules.definitions.LearningRule` or a rule name.
    seed : seeds the random draws made after conversion (DFA's matrices, at the first pass).

    Returns
    -------
    The names of the converted layers (empty for ``backprop``, which converts nothing).

    Raises
    ------
    ValueError
        When the model has no Linear/Conv2d layer, has layers that cannot be converted yet
        (each named with its class), or was set up for DFA and another rule is asked (or the
        other way round).
    """
    from brainlike.rules.direct import attach, direct_layers

    rule = make_rule(rule) if isinstance(rule, str) else rule
    if not rule.converts:
        return []
    if direct_layers(model) and not rule.direct:
        raise ValueError(
            f"this model is set up for direct_feedback_alignment; rule {rule.name} needs a fresh "
            "one (build the model again)"
        )
    if rule.direct and asymmetric_layers(model):
        raise ValueError(
            "this model has backward weights (converted for another rule); "
            "direct_feedback_alignment needs a fresh one (build the model again)"
        )
    blocked = unconvertible_layers(model)
    if blocked:
        listed = ", ".join(f"{n or '(model)'} ({c})" for n, c in blocked[:8])
        more = f" and {len(blocked) - 8} more" if len(blocked) > 8 else ""
        raise ValueError(
            f"learning rule {rule.name} cannot convert {listed}{more} yet; it converts plain "
            "nn.Linear and nn.Conv2d layers and the stacked, 'same'-padded and locality-prior "
            "layers of the toolkit's models (use rule backprop for this model)"
        )
    targets = [(name, m) for name, m in model.named_modules() if name and _swap_for(m)]
    if not targets and not asymmetric_layers(model) and not direct_layers(model):
        raise ValueError(
            f"learning rule {rule.name} needs Linear or Conv2d layers, and "
            f"{type(model).__name__} has none"
        )
    if rule.direct:
        return attach(model, [name for name, _ in targets], seed)
    converted = []
    for name, m in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        new = _swap_for(m)(m, rule.backward_init)
        setattr(parent, child, new)
        converted.append(name)
    for _, layer in asymmetric_layers(model):
        rule.set_backward(layer)
    return converted
