"""Superclass behavioural regulariser of the brain-likeness training (spec: recurrent.md §5).

A fixed 0/1 matrix ``grouping`` (n_classes, n_superclasses) sums the model's class
probabilities into superclass probabilities (11 ImageNet superclasses in the source; any grouping
the user provides). :class:`SuperclassRegularizer` adds a divergence between a target
distribution over superclasses (human responses where available, else the one-hot of the true
superclass) and the predicted one, so the model is pushed to err the way people do. The caller
adds it to the classification loss::

    L = CE(logits, y) + w * mean_i D(t[y_i] || p_i),    p_i = softmax(logits_i) @ grouping

with ``D`` the KL divergence (or the cross-entropy, which differs from KL by the target's
entropy, a constant) and ``w`` the regulariser's ``weight``.

:data:`CIFAR100_SUPERCLASSES` and :func:`cifar100_grouping` give the standard CIFAR-100
20-superclass (coarse-label) grouping as a ready example.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = [
    "CIFAR100_CLASSES",
    "CIFAR100_SUPERCLASSES",
    "SuperclassRegularizer",
    "check_grouping",
    "cifar100_grouping",
    "grouping_from_superclasses",
    "superclass_log_probabilities",
    "superclass_probabilities",
]


def _list_some(indices: Sequence[int], limit: int = 5) -> str:
    shown = ", ".join(str(i) for i in indices[:limit])
    return shown + (f", ... ({len(indices)} in all)" if len(indices) > limit else "")


def check_grouping(grouping: Tensor | np.ndarray, n_classes: int | None = None) -> Tensor:
    """Validate a class-to-superclass grouping matrix and return it as a float tensor.

    Parameters
    ----------
    grouping : (n_classes, n_superclasses) matrix of 0s and 1s; row ``c`` has a single 1, in
        the column of the superclass class ``c`` belongs to.
    n_classes : number of classes the model outputs, if known; must equal the row count.

    Returns
    -------
    (n_classes, n_superclasses) float32 tensor.
    """
    g = torch.as_tensor(grouping)
    if g.ndim != 2:
        raise ValueError(
            f"grouping must be a (n_classes, n_superclasses) matrix, got shape {tuple(g.shape)}"
        )
    if n_classes is not None and g.shape[0] != n_classes:
        raise ValueError(
            f"grouping has {g.shape[0]} rows (classes) but the model has {n_classes} classes"
        )
    g = g.to(torch.float32)
    binary = (g == 0) | (g == 1)
    if not binary.all():
        bad = torch.nonzero(~binary.all(dim=1)).flatten()
        raise ValueError(
            f"grouping must hold only 0s and 1s; rows {_list_some(bad.tolist())} hold other values"
        )
    counts = g.sum(dim=1)
    bad = torch.nonzero(counts != 1).flatten().tolist()
    if bad:
        detail = ", ".join(f"row {i} in {int(counts[i])}" for i in bad[:5])
        raise ValueError(
            f"every class must belong to exactly one superclass; {len(bad)} rows do not "
            f"({detail}{', ...' if len(bad) > 5 else ''})"
        )
    empty = torch.nonzero(g.sum(dim=0) == 0).flatten().tolist()
    if empty:
        # an empty superclass always gets probability 0, so any target mass on it is unreachable
        raise ValueError(f"superclass columns {_list_some(empty)} have no member classes")
    return g


def grouping_from_superclasses(
    class_names: Sequence[str], superclasses: Mapping[str, Sequence[str]]
) -> Tensor:
    """Grouping matrix from named superclasses.

    Parameters
    ----------
    class_names : the model's class names, in output order (n_classes,).
    superclasses : superclass name -> names of its member classes; columns follow its order.

    Returns
    -------
    (n_classes, n_superclasses) float32 0/1 tensor.
    """
    index = {name: i for i, name in enumerate(class_names)}
    if len(index) != len(class_names):
        raise ValueError("class_names has duplicates")
    g = torch.zeros(len(class_names), len(superclasses))
    for j, (superclass, members) in enumerate(superclasses.items()):
        unknown = [m for m in members if m not in index]
        if unknown:
            raise ValueError(f"superclass {superclass!r} names unknown classes {unknown}")
        for m in members:
            g[index[m], j] = 1.0
    counts = g.sum(dim=1)
    bad = [
        f"{class_names[i]!r} in {int(counts[i])}" for i in range(len(class_names)) if counts[i] != 1
    ]
    if bad:
        raise ValueError(
            f"every class must belong to exactly one superclass; {len(bad)} do not "
            f"({', '.join(bad[:5])}{', ...' if len(bad) > 5 else ''})"
        )
    return check_grouping(g)


def superclass_log_probabilities(logits: Tensor, grouping: Tensor) -> Tensor:
    """Log of the summed superclass probabilities, computed stably with logsumexp.

    Parameters
    ----------
    logits : (N, n_classes) class logits.
    grouping : (n_classes, n_superclasses) 0/1 matrix (see :func:`check_grouping`).

    Returns
    -------
    (N, n_superclasses) ``log(softmax(logits) @ grouping)``.
    """
    log_p = F.log_softmax(logits, dim=-1)
    # log(0) = -inf masks the classes outside each superclass out of its logsumexp
    log_g = torch.log(grouping.to(log_p))
    return torch.logsumexp(log_p.unsqueeze(-1) + log_g, dim=-2)


def superclass_probabilities(logits: Tensor, grouping: Tensor | np.ndarray) -> Tensor:
    """Superclass probabilities ``softmax(logits) @ grouping`` (spec: recurrent.md §5).

    Parameters
    ----------
    logits : (N, n_classes) class logits.
    grouping : (n_classes, n_superclasses) 0/1 matrix, each class in exactly one superclass.

    Returns
    -------
    (N, n_superclasses) probabilities; each row sums to 1.
    """
    g = check_grouping(grouping, n_classes=logits.shape[-1])
    return F.softmax(logits, dim=-1) @ g.to(logits)


class SuperclassRegularizer(nn.Module):
    """Divergence of the predicted superclass distribution from a target (spec: recurrent.md §5).

    Parameters
    ----------
    grouping : (n_classes, n_superclasses) 0/1 matrix, each class in exactly one superclass.
    targets : (n_classes, n_superclasses) target superclass distribution for each true class
        (e.g. human responses to images of that class; rows sum to 1), or None for the one-hot
        of the true superclass, i.e. ``targets = grouping``. For human confusions measured per
        superclass use :meth:`from_superclass_confusion`.
    weight : factor ``w`` on the regulariser (a config value in the source; not given there).
    divergence : ``"kl"``: ``sum_s t_s log(t_s / p_s)``, zero when the prediction equals the
        target; ``"ce"``: ``-sum_s t_s log p_s``, the source's cross-entropy (KL plus the target's
        entropy, so the same gradients). With one-hot targets the two coincide.

    ``forward(logits, labels)`` returns ``w * mean_i D(targets[labels_i] || p_i)``, to be added
    to the classification loss by the caller:
    ``L = CE(logits, y) + w * mean_i D(t[y_i] || softmax(logits_i) @ grouping)``.
    """

    def __init__(
        self,
        grouping: Tensor | np.ndarray,
        targets: Tensor | np.ndarray | None = None,
        weight: float = 1.0,
        divergence: str = "kl",
    ) -> None:
        super().__init__()
        if divergence not in ("kl", "ce"):
            raise ValueError(f"divergence must be 'kl' or 'ce', got {divergence!r}")
        if weight < 0:
            raise ValueError(f"weight must be non-negative, got {weight}")
        g = check_grouping(grouping)
        t = g.clone() if targets is None else torch.as_tensor(targets, dtype=torch.float32)
        if t.shape != g.shape:
            raise ValueError(
                f"targets must be (n_classes, n_superclasses) = {tuple(g.shape)} like the "
                f"grouping, got {tuple(t.shape)}"
            )
        if (t < 0).any() or not torch.isfinite(t).all():
            raise ValueError("targets must be finite and non-negative")
        sums = t.sum(dim=1)
        bad = torch.nonzero((sums - 1).abs() > 1e-4).flatten().tolist()
        if bad:
            raise ValueError(
                f"each row of targets must be a distribution summing to 1; rows "
                f"{_list_some(bad)} sum to {[round(float(sums[i]), 4) for i in bad[:5]]}"
            )
        self.register_buffer("grouping", g)
        self.register_buffer("targets", t / sums.unsqueeze(1))
        self.weight, self.divergence = float(weight), divergence

    @classmethod
    def from_superclass_confusion(
        cls, grouping: Tensor | np.ndarray, confusion: Tensor | np.ndarray, **kwargs: object
    ) -> SuperclassRegularizer:
        """Regulariser whose targets come from a superclass-level confusion matrix.

        Parameters
        ----------
        grouping : (n_classes, n_superclasses) 0/1 matrix.
        confusion : (n_superclasses, n_superclasses) counts or rates; row ``s`` is how often
            images of true superclass ``s`` were answered as each superclass (as in human
            behavioural data on the 11 ImageNet superclasses). Rows are normalised.
        **kwargs : ``weight`` and ``divergence`` of the regulariser.
        """
        g = check_grouping(grouping)
        c = torch.as_tensor(confusion, dtype=torch.float32)
        k = g.shape[1]
        if c.shape != (k, k):
            raise ValueError(
                f"confusion must be (n_superclasses, n_superclasses) = ({k}, {k}), "
                f"got {tuple(c.shape)}"
            )
        if (c < 0).any():
            raise ValueError("confusion must be non-negative")
        empty = torch.nonzero(c.sum(dim=1) <= 0).flatten().tolist()
        if empty:
            raise ValueError(f"confusion rows {_list_some(empty)} are all zero")
        return cls(g, g @ (c / c.sum(dim=1, keepdim=True)), **kwargs)  # type: ignore[arg-type]

    def forward(self, logits: Tensor, labels: Tensor) -> Tensor:
        """Weighted mean divergence over the batch.

        Parameters
        ----------
        logits : (N, n_classes) class logits.
        labels : (N,) true class indices.

        Returns
        -------
        scalar tensor ``w * mean_i D(targets[labels_i] || p_i)``.
        """
        n_classes = self.grouping.shape[0]
        if logits.ndim != 2 or logits.shape[1] != n_classes:
            raise ValueError(
                f"logits must be (N, {n_classes}) for this grouping, got {tuple(logits.shape)}"
            )
        if labels.shape != logits.shape[:1]:
            raise ValueError(
                f"labels must be (N,) = ({logits.shape[0]},) class indices, "
                f"got shape {tuple(labels.shape)}"
            )
        # spec: recurrent.md §5, extra cross-entropy on the summed superclass probabilities
        log_p = superclass_log_probabilities(logits, self.grouping)
        t = self.targets[labels].to(log_p)
        cross = -(t * log_p).sum(dim=1)
        loss = cross if self.divergence == "ce" else cross + torch.xlogy(t, t).sum(dim=1)
        return self.weight * loss.mean()

    def extra_repr(self) -> str:
        n, k = self.grouping.shape
        return (
            f"classes={n}, superclasses={k}, weight={self.weight}, divergence={self.divergence!r}"
        )


# torchvision.datasets.CIFAR100(...).classes: the fine labels 0..99 in alphabetical order
CIFAR100_CLASSES: tuple[str, ...] = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank",
    "telephone", "television", "tiger", "tractor", "train", "trout", "tulip", "turtle",
    "wardrobe", "whale", "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip

# the 20 coarse labels 0..19 (Krizhevsky 2009), in the dataset's coarse-label order
CIFAR100_SUPERCLASSES: dict[str, tuple[str, ...]] = {
    "aquatic_mammals": ("beaver", "dolphin", "otter", "seal", "whale"),
    "fish": ("aquarium_fish", "flatfish", "ray", "shark", "trout"),
    "flowers": ("orchid", "poppy", "rose", "sunflower", "tulip"),
    "food_containers": ("bottle", "bowl", "can", "cup", "plate"),
    "fruit_and_vegetables": ("apple", "mushroom", "orange", "pear", "sweet_pepper"),
    "household_electrical_devices": ("clock", "keyboard", "lamp", "telephone", "television"),
    "household_furniture": ("bed", "chair", "couch", "table", "wardrobe"),
    "insects": ("bee", "beetle", "butterfly", "caterpillar", "cockroach"),
    "large_carnivores": ("bear", "leopard", "lion", "tiger", "wolf"),
    "large_man-made_outdoor_things": ("bridge", "castle", "house", "road", "skyscraper"),
    "large_natural_outdoor_scenes": ("cloud", "forest", "mountain", "plain", "sea"),
    "large_omnivores_and_herbivores": ("camel", "cattle", "chimpanzee", "elephant", "kangaroo"),
    "medium_mammals": ("fox", "porcupine", "possum", "raccoon", "skunk"),
    "non-insect_invertebrates": ("crab", "lobster", "snail", "spider", "worm"),
    "people": ("baby", "boy", "girl", "man", "woman"),
    "reptiles": ("crocodile", "dinosaur", "lizard", "snake", "turtle"),
    "small_mammals": ("hamster", "mouse", "rabbit", "shrew", "squirrel"),
    "trees": ("maple_tree", "oak_tree", "palm_tree", "pine_tree", "willow_tree"),
    "vehicles_1": ("bicycle", "bus", "motorcycle", "pickup_truck", "train"),
    "vehicles_2": ("lawn_mower", "rocket", "streetcar", "tank", "tractor"),
}


def cifar100_grouping() -> Tensor:
    """The CIFAR-100 fine-to-coarse grouping: (100, 20), rows in torchvision's class order."""
    return grouping_from_superclasses(CIFAR100_CLASSES, CIFAR100_SUPERCLASSES)
