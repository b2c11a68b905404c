"""``convert(model, rule)``: give every Linear and Conv2d of a model a backward weight.

Each ``nn.Linear`` / ``nn.Conv2d`` is replaced, in place, by an
:class:`~brainlike.rules.layers.AsymmetricLinear` / ``AsymmetricConv2d`` that shares its weight
and bias (the same Parameter objects, so an optimizer built before or after sees the same
tensors, and the state dict keeps its keys plus ``weight_backward``). Every other module
(BatchNorm, pooling, activations, recurrences) is left as it is: they stay exact backprop.

Layers that hold a Linear- or Conv2d-like weight but compute it their own way (the stacked
subnetworks of Reset networks, locality-prior layers, TensorFlow-'same' ConvRNN convolutions)
are not converted yet; ``convert`` refuses a model that has them, naming each, rather than
train part of it with backprop unnoticed.
"""

from __future__ import annotations

from torch import nn

from brainlike.rules.definitions import LearningRule, make_rule
from brainlike.rules.layers import AsymmetricConv2d, AsymmetricLinear

__all__ = ["asymmetric_layers", "convert", "unconvertible_layers"]


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
    weight yet (anything Linear/Conv-like that is not a plain ``nn.Linear`` / ``nn.Conv2d``)."""
    out = []
    for name, m in model.named_modules():
        if isinstance(m, (AsymmetricLinear, AsymmetricConv2d)):
            continue
        if _plain(m, nn.Linear) or _plain(m, nn.Conv2d):
            continue
        if "Norm" in type(m).__name__:  # normalisation layers stay exact backprop
            continue
        if isinstance(m, (nn.Linear, nn.Conv2d, nn.Conv1d, nn.Conv3d, nn.ConvTranspose2d)) or (
            type(m).__name__.startswith(("Stacked", "Locality"))
            and isinstance(getattr(m, "weight", None), nn.Parameter)
        ):
            out.append((name, type(m).__name__))
    return out


def asymmetric_layers(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """(name, layer) of every layer of ``model`` that has a backward weight."""
    return [(n, m) for n, m in model.named_modules() if hasattr(m, "weight_backward")]


def convert(model: nn.Module, rule: str | LearningRule) -> list[str]:
    """Give every Linear/Conv2d of ``model`` a backward weight for ``rule``, in place.

    Parameters
    ----------
    model : any ``nn.Module``.
    rule : a :class:`~brainlike.rules.definitions.LearningRule` or a rule name.

    Returns
    -------
    The names of the converted layers (empty for ``backprop``, which converts nothing).

    Raises
    ------
    ValueError
        When the model has no Linear/Conv2d layer, or has layers that cannot be converted yet
        (each named with its class).
    """
    rule = make_rule(rule) if isinstance(rule, str) else rule
    if not rule.converts:
        return []
    blocked = unconvertible_layers(model)
    if blocked:
        listed = ", ".join(f"{n or '(model)'} ({c})" for n, c in blocked[:8])
        more = f" and {len(blocked) - 8} more" if len(blocked) > 8 else ""
        raise ValueError(
            f"learning rule {rule.name} cannot convert {listed}{more} yet; it converts plain "
            "nn.Linear and nn.Conv2d layers (use rule backprop for this model)"
        )
    targets = [
        (name, m)
        for name, m in model.named_modules()
        if name and (_plain(m, nn.Linear) or _plain(m, nn.Conv2d))
    ]
    if not targets and not asymmetric_layers(model):
        raise ValueError(
            f"learning rule {rule.name} needs Linear or Conv2d layers, and "
            f"{type(model).__name__} has none"
        )
    converted = []
    for name, m in targets:
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        if isinstance(m, nn.Linear):
            new: nn.Module = AsymmetricLinear.from_linear(m, rule.backward_init)
        else:
            new = AsymmetricConv2d.from_conv2d(m, rule.backward_init)
        setattr(parent, child, new)
        converted.append(name)
    for _, layer in asymmetric_layers(model):
        rule.set_backward(layer)
    return converted
