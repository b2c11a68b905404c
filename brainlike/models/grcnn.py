"""Gated recurrent convolutional networks (GRCNN-55, GRCNN-109) and their GRCL block.

spec: recurrent.md §4 (Wang & Hu, TPAMI 2021; source document 002). A :class:`GRCL` unrolls
``T`` iterations of a gated residual update on its feed-forward drive ``u``::

    x_0 = A_0(u)
    g_t = B_t(x_{t-1}) + C(u)                 t = 1..T
    x_t = x_{t-1} + sigmoid(g_t) * A_t(x_{t-1})

``A_0`` is a grouped 3x3 conv and ``C`` a grouped 1x1 conv (with bias), both pre-activated
(BN -> ReLU -> conv) on ``u``; ``B_t`` is BN_t -> ReLU -> one 1x1 conv shared over ``t``;
``A_t`` is a pre-activation bottleneck 1x1 -> 3x3 -> 1x1 with its own weights at every ``t``.
With ``gated=False`` the update is ``x_t = x_{t-1} + A_t(x_{t-1})``: a ResNet of ``T``
bottleneck blocks unrolled in time.

Reading the states over time
    Every GRCL has identity modules ``iter0 .. iter{T}`` through which ``x_0 .. x_T`` pass
    (and ``gate1 .. gate{T}`` for ``sigmoid(g_t)`` when gated), so a forward hook on
    ``"stage1.iter2"`` (e.g. ``extract_activations(model, x, ["stage1.iter2"])``) reads the
    state of stage 1 after two iterations. ``model(x, return_states=True)`` returns
    ``(logits, {"stage1": [x_0, ..., x_T], ...})`` in one pass.

Layer sizes not fixed by the spec (the gate conv's groups, the transition's norms, the stem's
second conv without a norm) follow the authors' public implementation; the parameter counts of
the spec (24,929,704 and 45,075,880) are reproduced exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from brainlike.registry import register_model

__all__ = [
    "GRCL",
    "GRCNN",
    "Bottleneck",
    "PreActConv",
    "Transition",
    "grcnn55",
    "grcnn109",
    "grcnn_small",
]

ITERATIONS = {55: (3, 3, 4, 3), 109: (3, 3, 22, 3)}
"""Iterations T of the four GRCLs per depth (spec: recurrent.md §4)."""

EXPANSION = 4
"""Bottleneck expansion: a GRCL's state has ``4 * planes`` channels (spec: recurrent.md §4)."""


class PreActConv(nn.Sequential):
    """BN -> ReLU -> conv, the pre-activation unit every GRCNN conv is built from."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int,
        stride: int = 1,
        groups: int = 1,
        bias: bool = False,
    ) -> None:
        super().__init__()
        self.bn = nn.BatchNorm2d(in_channels)
        self.relu = nn.ReLU()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            stride,
            kernel_size // 2,
            groups=groups,
            bias=bias,
        )


class Bottleneck(nn.Sequential):
    """Pre-activation bottleneck ``4p -> p (1x1) -> p (3x3) -> 4p (1x1)``: the spec's ``A_t``."""

    def __init__(self, channels: int, planes: int) -> None:
        super().__init__()
        self.reduce = PreActConv(channels, planes, 1)
        self.spatial = PreActConv(planes, planes, 3)
        self.expand = PreActConv(planes, channels, 1)


class GRCL(nn.Module):
    """Gated recurrent convolution layer (spec: recurrent.md §4, eq. (1) of source 002).

    Parameters
    ----------
    in_channels : channels of the input ``u``.
    channels : channels of the state ``x_t`` (``4 * planes`` in GRCNN); a multiple of ``groups``.
    planes : bottleneck width of ``A_t``.
    n_iterations : T, the number of recurrent iterations (``x_1 .. x_T``).
    gated : ``False`` drops the gate (``B_t``, ``C``): the unrolled residual form.
    groups : groups of the grouped convs ``A_0``, ``C`` and the shared gate conv.

    Submodules: ``A0`` (3x3 feed-forward), ``C`` (1x1 gate drive, with bias), ``B_norm[t]``
    (BN_t -> ReLU), ``B_conv`` (the 1x1 gate conv shared over t), ``A[t]`` (bottlenecks),
    ``sigmoid``, identity taps ``iter0 .. iter{T}`` and ``gate1 .. gate{T}``.
    """

    def __init__(
        self,
        in_channels: int,
        channels: int,
        planes: int,
        n_iterations: int = 3,
        gated: bool = True,
        groups: int = 32,
    ) -> None:
        super().__init__()
        if n_iterations < 0:
            raise ValueError(f"n_iterations must be >= 0, got {n_iterations}")
        for name, c in (("in_channels", in_channels), ("channels", channels)):
            if c % groups:
                raise ValueError(
                    f"{name}={c} is not divisible by groups={groups}; the grouped convs of a GRCL"
                    " need both widths to be multiples of the group count"
                )
        self.n_iterations, self.gated = n_iterations, gated
        steps = [str(t) for t in range(1, n_iterations + 1)]
        self.A0 = PreActConv(in_channels, channels, 3, groups=groups)
        self.A = nn.ModuleDict({t: Bottleneck(channels, planes) for t in steps})
        if gated:
            self.C = PreActConv(in_channels, channels, 1, groups=groups, bias=True)
            self.B_norm = nn.ModuleDict(
                {t: nn.Sequential(nn.BatchNorm2d(channels), nn.ReLU()) for t in steps}
            )
            self.B_conv = nn.Conv2d(channels, channels, 1, groups=groups, bias=False)
            self.sigmoid = nn.Sigmoid()
        for t in range(n_iterations + 1):
            self.add_module(f"iter{t}", nn.Identity())
        if gated:
            for t in steps:
                self.add_module(f"gate{t}", nn.Identity())

    def forward(
        self, u: Tensor, return_states: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """Run T iterations on ``u`` ``(N, in_channels, H, W)``.

        Returns ``x_T`` ``(N, channels, H, W)``, and with ``return_states`` also the list
        ``[x_0, ..., x_T]``.
        """
        taps = dict(self.named_children())
        x = taps["iter0"](self.A0(u))  # spec: recurrent.md §4, x_0 = A_0(u)
        states = [x]
        if self.gated:
            c = self.C(u)  # C(u): the feed-forward drive of every gate
        for t in range(1, self.n_iterations + 1):
            if self.gated:
                g = self.B_conv(self.B_norm[str(t)](x)) + c  # g_t = B_t(x_{t-1}) + C(u)
                s = taps[f"gate{t}"](self.sigmoid(g))
                x = x + s * self.A[str(t)](x)  # x_t = x_{t-1} + sigmoid(g_t) * A_t(x_{t-1})
            else:
                x = x + self.A[str(t)](x)  # ungated: x_t = x_{t-1} + A_t(x_{t-1}), a ResNet
            x = taps[f"iter{t}"](x)
            states.append(x)
        return (x, states) if return_states else x


class Transition(nn.Module):
    """Between stages: avg-pool + 1x1 branch plus a 1x1 -> 3x3/2 -> 1x1 branch (spec §4)."""

    def __init__(self, channels: int, planes: int) -> None:
        super().__init__()
        self.pool_bn = nn.BatchNorm2d(channels)
        self.pool_relu = nn.ReLU()
        self.pool = nn.AvgPool2d(2, stride=2)
        self.pool_conv = nn.Conv2d(channels, channels, 1, bias=False)
        self.reduce = PreActConv(channels, planes, 1)
        self.spatial = PreActConv(planes, planes, 3, stride=2)
        # as in the authors' code: no norm between the strided 3x3 and the last 1x1
        self.expand = nn.Conv2d(planes, channels, 1, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        """``(N, C, H, W)`` -> ``(N, C, H/2, W/2)``."""
        pooled = self.pool_conv(self.pool(self.pool_relu(self.pool_bn(x))))
        return pooled + self.expand(self.spatial(self.reduce(x)))


class GRCNN(nn.Module):
    """GRCNN-55 / GRCNN-109: stem, four GRCLs with transitions, BN-ReLU-pool-FC head.

    Parameters
    ----------
    depth : 55 (iterations 3, 3, 4, 3) or 109 (3, 3, 22, 3).
    num_classes : outputs of the classifier.
    width : channel multiplier; widths are rounded to multiples of ``groups`` (width 1.0: stem
        64, states 256, 512, 1024, 2048, bottlenecks a quarter of those).
    in_channels : image channels.
    input_size : image side. >= 112 uses the ImageNet stem (7x7/2 conv, BN, ReLU, 3x3/2
        max-pool, 3x3 conv); smaller images get the same stem with a 3x3/1 first conv and no
        max-pool, so 32x32 inputs reach the last stage at 4x4.
    gated : ``False`` builds the ungated (unrolled ResNet) control.
    iterations : overrides the per-stage iteration counts of ``depth`` (four ints).
    groups : groups of the grouped convs (32 in the spec).

    ``forward(x, return_states=True)`` returns ``(logits, {"stage1": [x_0..x_T], ...})``.
    Modules: ``stem``, ``stage1..4`` (:class:`GRCL`), ``transition1..3``, ``head_bn``,
    ``head_relu``, ``pool``, ``fc``. Width 1.0 and 1000 classes: 24,929,704 (GRCNN-55) and
    45,075,880 (GRCNN-109) parameters.
    """

    def __init__(
        self,
        depth: int = 55,
        num_classes: int = 1000,
        width: float = 1.0,
        in_channels: int = 3,
        input_size: int = 224,
        gated: bool = True,
        iterations: Sequence[int] | None = None,
        groups: int = 32,
    ) -> None:
        super().__init__()
        if iterations is None:
            if depth not in ITERATIONS:
                raise ValueError(
                    f"GRCNN depth must be one of {sorted(ITERATIONS)} (or pass iterations=...),"
                    f" got {depth}"
                )
            iterations = ITERATIONS[depth]
        if len(iterations) != 4:
            raise ValueError(f"GRCNN has 4 stages; got {len(iterations)} iteration counts")
        if width <= 0:
            raise ValueError(f"width must be positive, got {width}")
        self.iterations = tuple(int(t) for t in iterations)
        self.in_channels, self.input_size = in_channels, input_size
        self.out_features = num_classes
        self._config = {
            "depth": depth,
            "num_classes": num_classes,
            "width": width,
            "in_channels": in_channels,
            "input_size": input_size,
            "gated": gated,
            "iterations": list(self.iterations),
            "groups": groups,
        }

        def scaled(c: int) -> int:
            return max(groups, round(c * width / groups) * groups)

        stem = scaled(64)
        channels = [scaled(c) for c in (256, 512, 1024, 2048)]
        if input_size >= 112:
            first = nn.Conv2d(in_channels, stem, 7, 2, 3, bias=False)
            pool: nn.Module = nn.MaxPool2d(3, 2, 1)
        else:
            first = nn.Conv2d(in_channels, stem, 3, 1, 1, bias=False)
            pool = nn.Identity()
        self.stem = nn.Sequential()
        self.stem.add_module("conv1", first)
        self.stem.add_module("bn1", nn.BatchNorm2d(stem))
        self.stem.add_module("relu1", nn.ReLU())
        self.stem.add_module("pool", pool)
        # the first GRCL pre-activates, so this conv has no norm after it
        self.stem.add_module("conv2", nn.Conv2d(stem, stem, 3, 1, 1, bias=False))

        prev = stem
        for i, (c, t) in enumerate(zip(channels, self.iterations, strict=True), start=1):
            planes = c // EXPANSION
            self.add_module(f"stage{i}", GRCL(prev, c, planes, t, gated=gated, groups=groups))
            if i < 4:
                self.add_module(f"transition{i}", Transition(c, planes))
            prev = c
        self.head_bn = nn.BatchNorm2d(prev)
        self.head_relu = nn.ReLU()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten(1)
        self.fc = nn.Linear(prev, num_classes)
        self._init_weights()

    def _init_weights(self) -> None:
        # as in the authors' code: He-normal convs and FC, small gate convs, zero biases
        for name, m in self.named_modules():
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                if name.endswith(("C.conv", "B_conv")):
                    nn.init.normal_(m.weight, std=0.01)
                else:
                    nn.init.kaiming_normal_(m.weight)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)

    def describe(self) -> dict:
        """Constructor arguments, tagged ``kind: grcnn`` (stored in checkpoints)."""
        return {"kind": "grcnn", **self._config}

    def forward(
        self, x: Tensor, return_states: bool = False
    ) -> Tensor | tuple[Tensor, dict[str, list[Tensor]]]:
        """Logits ``(N, num_classes)`` of images ``(N, in_channels, H, W)``.

        With ``return_states`` also ``{"stage1": [x_0, ..., x_T], ...}``, each state
        ``(N, C_stage, H_stage, W_stage)`` (before the stage's transition).
        """
        x = self.stem(x)
        states: dict[str, list[Tensor]] = {}
        for i in range(1, 5):
            x, states[f"stage{i}"] = getattr(self, f"stage{i}")(x, return_states=True)
            if i < 4:
                x = getattr(self, f"transition{i}")(x)
        logits = self.fc(self.flatten(self.pool(self.head_relu(self.head_bn(x)))))
        return (logits, states) if return_states else logits


@register_model("grcnn55", num_classes=1000)
def grcnn55(num_classes: int = 1000, **kwargs: object) -> GRCNN:
    """GRCNN-55: gated recurrent CNN, iterations 3, 3, 4, 3 (24.9M parameters at 1000 classes)"""
    return GRCNN(55, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


@register_model("grcnn109", num_classes=1000)
def grcnn109(num_classes: int = 1000, **kwargs: object) -> GRCNN:
    """GRCNN-109: gated recurrent CNN, iterations 3, 3, 22, 3 (45.1M parameters at 1000 classes)"""
    return GRCNN(109, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]


@register_model("grcnn-small", num_classes=10)
def grcnn_small(num_classes: int = 10, **kwargs: object) -> GRCNN:
    """GRCNN-55 at width 0.25 for 32x32 images: a CPU-size gated recurrent CNN"""
    kwargs = {"width": 0.25, "input_size": 32, **kwargs}
    return GRCNN(55, num_classes=num_classes, **kwargs)  # type: ignore[arg-type]
