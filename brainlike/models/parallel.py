"""Many small subnetworks that read the same input, run as a loop or as one fused network.

Every layer here stores the parameters of ``G`` independent subnetworks stacked along a
leading "group" axis. The same parameters can be run several ways (:data:`EXECUTIONS`):

``loop``
    One kernel call per subnetwork and layer (the original Reset-network implementation, and
    the baseline for speed). Activations are a list of ``G`` tensors ``(B, C, H, W)``.
``fused``
    One grouped kernel per layer: activations are a single tensor ``(B, G*C, H, W)`` with
    group-major channels, convolutions use ``groups=G``, linear heads a batched matmul.
``loop_cl`` / ``fused_cl``
    The same two paths with activations in channels-last memory format (NHWC), where CPU
    max-pooling is about 10x faster and many oneDNN convolutions are faster (not all: grouped
    backward passes can be slower), and with the small CNN's ReLU applied after its max-pool
    (``max_pool(relu(x)) == relu(max_pool(x))`` exactly, on a quarter of the data).

All paths give the same outputs and gradients to float tolerance (tests/models). Which is
faster depends on the device, the subnetwork and the batch: on a GPU the loop is dominated by
kernel-launch overhead; on a CPU the paths are within about 2x of each other and the winner
changes with the network. :func:`choose_execution` measures instead of assuming.

CPU allocator: activations of many fused subnetworks are large (hundreds of MB), and glibc
returns freed blocks above 32 MB to the kernel, so every training step page-faults them back
in (measured: 0.4-0.7x of the speed of the same step without the faults). On the first CPU
forward pass, :func:`tune_cpu_allocator` raises glibc's mmap and trim thresholds so freed
activations are reused instead. Set ``BRAINLIKE_TUNE_MALLOC=0`` to leave malloc alone.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import math
import os
import sys
import time
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

EXECUTIONS = ("loop", "fused", "loop_cl", "fused_cl")

_ALLOCATOR_TUNED: bool | None = None


def tune_cpu_allocator(threshold: int = 2**31 - 1) -> bool:
    """Keep freed large CPU blocks in the heap instead of returning them to the kernel.

    Calls glibc's ``mallopt(M_MMAP_THRESHOLD)`` and ``mallopt(M_TRIM_THRESHOLD)``: blocks below
    ``threshold`` bytes come from the heap and freed memory is kept for reuse (the process keeps
    its peak heap). Process-wide and idempotent; returns whether it took effect (False off
    glibc, e.g. macOS, or when ``BRAINLIKE_TUNE_MALLOC=0``).
    """
    global _ALLOCATOR_TUNED
    if _ALLOCATOR_TUNED is not None:
        return _ALLOCATOR_TUNED
    _ALLOCATOR_TUNED = False
    if os.environ.get("BRAINLIKE_TUNE_MALLOC", "1") == "0" or not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    m_trim_threshold, m_mmap_threshold = -1, -3
    value = min(int(threshold), 2**31 - 1)
    _ALLOCATOR_TUNED = bool(mallopt(m_mmap_threshold, value)) and bool(
        mallopt(m_trim_threshold, value)
    )
    return _ALLOCATOR_TUNED


def _channels_last(x: Tensor) -> Tensor:
    """``x`` (B, C, H, W) in channels-last memory format, also for ``C == 1``.

    ``contiguous(memory_format=channels_last)`` leaves a one-channel tensor's strides as they
    are, and convolutions then keep producing NCHW; the explicit channels-last strides of a
    one-channel tensor make them produce NHWC.
    """
    if x.shape[1] == 1:
        b, _, h, w = x.shape
        return x.reshape(b, h, w, 1).permute(0, 3, 1, 2)
    return x.contiguous(memory_format=torch.channels_last)


def _kaiming_(weight: Tensor) -> None:
    """He-normal initialisation of every group's slice, as for a standalone layer."""
    for w in weight:
        nn.init.kaiming_normal_(w)


class StackedConv2d(nn.Module):
    """``G`` independent ``k x k`` convolutions without bias.

    Parameters
    ----------
    groups : number of subnetworks ``G``.
    in_channels, out_channels : channels of one subnetwork.
    shared_input : when True every subnetwork reads the same ``in_channels``-channel input
        (the first layer of a level), so the fused path is one ordinary convolution with
        ``G * out_channels`` outputs.
    """

    def __init__(
        self,
        groups: int,
        in_channels: int,
        out_channels: int,
        kernel_size: int = 3,
        stride: int = 1,
        padding: int = 1,
        shared_input: bool = False,
    ) -> None:
        super().__init__()
        self.groups, self.in_channels, self.out_channels = groups, in_channels, out_channels
        self.stride, self.padding, self.shared_input = stride, padding, shared_input
        self.weight = nn.Parameter(
            torch.empty(groups, out_channels, in_channels, kernel_size, kernel_size)
        )
        _kaiming_(self.weight.data)

    def loop(self, xs: Sequence[Tensor]) -> list[Tensor]:
        ws = self.weight.unbind(0)
        if self.shared_input:
            xs = [xs[0]] * self.groups
        return [
            F.conv2d(x, w, None, self.stride, self.padding) for x, w in zip(xs, ws, strict=True)
        ]

    def fused(self, x: Tensor) -> Tensor:
        w = self.weight.flatten(0, 1)
        g = 1 if self.shared_input else self.groups
        return F.conv2d(x, w, None, self.stride, self.padding, groups=g)


class StackedBatchNorm2d(nn.BatchNorm2d):
    """``G`` independent BatchNorm2d layers of ``C`` channels, stored as one of ``G*C``.

    Per-channel batch normalisation is the same whether the channels belong to one tensor or
    to ``G`` tensors, so the fused path is a plain BatchNorm2d; the loop path normalises each
    subnetwork with views into the shared running statistics (updated in place).
    """

    def __init__(self, groups: int, channels: int) -> None:
        super().__init__(groups * channels)
        self.groups, self.channels = groups, channels

    def loop(self, xs: Sequence[Tensor]) -> list[Tensor]:
        c = self.channels
        ws, bs = self.weight.split(c), self.bias.split(c)
        rms, rvs = self.running_mean.split(c), self.running_var.split(c)
        momentum = 0.0 if self.momentum is None else self.momentum
        if self.training:
            self.num_batches_tracked.add_(1)
            if self.momentum is None:  # cumulative moving average, as nn.BatchNorm2d does
                momentum = 1.0 / float(self.num_batches_tracked)
        return [
            F.batch_norm(x, rm, rv, w, b, self.training, momentum, self.eps)
            for x, rm, rv, w, b in zip(xs, rms, rvs, ws, bs, strict=True)
        ]

    def fused(self, x: Tensor) -> Tensor:
        return super().forward(x)


class StackedLinear(nn.Module):
    """``G`` independent linear layers ``in_features -> out_features``."""

    def __init__(self, groups: int, in_features: int, out_features: int) -> None:
        super().__init__()
        self.groups, self.in_features, self.out_features = groups, in_features, out_features
        self.weight = nn.Parameter(torch.empty(groups, out_features, in_features))
        self.bias = nn.Parameter(torch.empty(groups, out_features))
        bound = 1.0 / math.sqrt(in_features)
        for w in self.weight.data:
            nn.init.kaiming_uniform_(w, a=math.sqrt(5))
        nn.init.uniform_(self.bias, -bound, bound)

    def loop(self, xs: Sequence[Tensor]) -> list[Tensor]:
        return [
            F.linear(x, w, b)
            for x, w, b in zip(xs, self.weight.unbind(0), self.bias.unbind(0), strict=True)
        ]

    def fused(self, x: Tensor) -> Tensor:
        """``x`` (B, G, in) -> (B, G, out)."""
        return torch.baddbmm(
            self.bias.unsqueeze(1), x.transpose(0, 1), self.weight.transpose(1, 2)
        ).transpose(0, 1)


def _pad_channels_fused(x: Tensor, groups: int, pad: int) -> Tensor:
    """Zero-pad every group's channels by ``pad`` on both sides (fused layout)."""
    b, gc, h, w = x.shape
    x = x.view(b, groups, gc // groups, h, w)
    x = F.pad(x, (0, 0, 0, 0, pad, pad))
    return x.reshape(b, -1, h, w)


class StackedBasicBlock(nn.Module):
    """ResNet basic block (two 3x3 convs) with the parameter-free "option A" shortcut.

    spec: topography.md §1, subnetwork: option A zero-pads channels and subsamples by 2.
    """

    def __init__(self, groups: int, in_planes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.groups, self.in_planes, self.planes, self.stride = groups, in_planes, planes, stride
        self.conv1 = StackedConv2d(groups, in_planes, planes, 3, stride, 1)
        self.bn1 = StackedBatchNorm2d(groups, planes)
        self.conv2 = StackedConv2d(groups, planes, planes, 3, 1, 1)
        self.bn2 = StackedBatchNorm2d(groups, planes)
        self.downsample = stride != 1 or in_planes != planes

    def _pad(self) -> int:
        return (self.planes - self.in_planes) // 2

    def loop(self, xs: Sequence[Tensor], channels_last: bool = False) -> list[Tensor]:
        out = [F.relu(o) for o in self.bn1.loop(self.conv1.loop(xs))]
        out = self.bn2.loop(self.conv2.loop(out))
        if self.downsample:
            p = self._pad()
            xs = [F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p)) for x in xs]
            if channels_last:
                xs = [_channels_last(x) for x in xs]
        return [F.relu(o + x) for o, x in zip(out, xs, strict=True)]

    def fused(self, x: Tensor, channels_last: bool = False) -> Tensor:
        out = self.bn2.fused(self.conv2.fused(F.relu(self.bn1.fused(self.conv1.fused(x)))))
        if self.downsample:
            x = _pad_channels_fused(x[:, :, ::2, ::2], self.groups, self._pad())
            if channels_last:
                x = _channels_last(x)
        return F.relu(out + x)


class StackedNet(nn.Module):
    """Base class: ``G`` subnetworks with shared input ``(B, C_in, H, W)`` -> ``(B, G, k)``."""

    groups: int
    out_features: int

    def forward(self, x: Tensor, execution: str = "fused") -> Tensor:
        """``x`` (B, C_in, H, W) -> (B, G, out_features), by the path ``execution``."""
        if execution not in EXECUTIONS:
            raise ValueError(f"execution must be one of {EXECUTIONS}, got {execution!r}")
        if x.device.type == "cpu":
            tune_cpu_allocator()
        if execution == "loop":
            return torch.stack(self.loop(x), dim=1)
        if execution == "fused":
            return self.fused(x)
        if execution == "loop_cl":
            return torch.stack(self.loop(_channels_last(x), channels_last=True), dim=1)
        return self.fused(_channels_last(x), channels_last=True)

    def loop(self, x: Tensor, channels_last: bool = False) -> list[Tensor]:  # pragma: no cover
        raise NotImplementedError

    def fused(self, x: Tensor, channels_last: bool = False) -> Tensor:  # pragma: no cover
        raise NotImplementedError

    def flops_per_image(self, in_channels: int, size: int) -> int:
        """FLOPs (2 x multiply-accumulates) of one forward pass of all subnetworks on one image."""
        with torch.no_grad():
            return self._count_flops(torch.zeros(1, in_channels, size, size))

    def _count_flops(self, x: Tensor) -> int:
        total = 0
        orig_conv, orig_lin = StackedConv2d.fused, StackedLinear.fused

        def conv_fused(mod: StackedConv2d, inp: Tensor) -> Tensor:
            nonlocal total
            out = orig_conv(mod, inp)
            k = mod.weight.shape[-1]
            total += 2 * out.numel() * mod.in_channels * k * k
            return out

        def lin_fused(mod: StackedLinear, inp: Tensor) -> Tensor:
            nonlocal total
            total += 2 * inp.shape[0] * mod.groups * mod.in_features * mod.out_features
            return orig_lin(mod, inp)

        StackedConv2d.fused, StackedLinear.fused = conv_fused, lin_fused  # type: ignore[method-assign]
        try:
            was = self.training
            self.eval()
            self.fused(x)
            self.train(was)
        finally:
            StackedConv2d.fused, StackedLinear.fused = orig_conv, orig_lin  # type: ignore[method-assign]
        return total


class StackedResNet20(StackedNet):
    """``G`` CIFAR-style ResNet-20s (16/32/64 channels, 3 blocks per stage, option A).

    spec: topography.md §1, subnetwork. One ResNet-20 with 1 input channel and 10 outputs has
    269,434 parameters.
    """

    def __init__(self, groups: int, in_channels: int, out_features: int, depth: int = 20) -> None:
        super().__init__()
        if (depth - 2) % 6 != 0:
            raise ValueError(f"ResNet depth must be 6n+2 (20, 32, 44, 56, ...), got {depth}")
        n = (depth - 2) // 6
        self.groups, self.in_channels, self.out_features, self.depth = (
            groups,
            in_channels,
            out_features,
            depth,
        )
        self.conv1 = StackedConv2d(groups, in_channels, 16, 3, 1, 1, shared_input=True)
        self.bn1 = StackedBatchNorm2d(groups, 16)
        blocks: list[StackedBasicBlock] = []
        in_planes = 16
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            for i in range(n):
                blocks.append(StackedBasicBlock(groups, in_planes, planes, stride if i == 0 else 1))
                in_planes = planes
        self.blocks = nn.ModuleList(blocks)
        self.fc = StackedLinear(groups, 64, out_features)

    def loop(self, x: Tensor, channels_last: bool = False) -> list[Tensor]:
        xs = [F.relu(o) for o in self.bn1.loop(self.conv1.loop([x]))]
        for block in self.blocks:
            xs = block.loop(xs, channels_last)
        return self.fc.loop([o.mean(dim=(2, 3)) for o in xs])

    def fused(self, x: Tensor, channels_last: bool = False) -> Tensor:
        x = F.relu(self.bn1.fused(self.conv1.fused(x)))
        for block in self.blocks:
            x = block.fused(x, channels_last)
        b = x.shape[0]
        return self.fc.fused(x.mean(dim=(2, 3)).view(b, self.groups, -1))


class StackedSmallCNN(StackedNet):
    """``G`` small CNNs: [conv3x3 -> BN -> ReLU -> maxpool 2] per entry of ``channels``,
    global average pool, linear -> ``out_features``. The quick-run subnetwork."""

    def __init__(
        self,
        groups: int,
        in_channels: int,
        out_features: int,
        channels: Sequence[int] = (16, 32),
    ) -> None:
        super().__init__()
        if not channels:
            raise ValueError("small CNN subnetworks need at least one conv layer in `channels`")
        self.groups, self.in_channels, self.out_features = groups, in_channels, out_features
        self.channels = tuple(int(c) for c in channels)
        convs, bns = [], []
        c_in = in_channels
        for i, c in enumerate(self.channels):
            convs.append(StackedConv2d(groups, c_in, c, 3, 1, 1, shared_input=(i == 0)))
            bns.append(StackedBatchNorm2d(groups, c))
            c_in = c
        self.convs, self.bns = nn.ModuleList(convs), nn.ModuleList(bns)
        self.fc = StackedLinear(groups, c_in, out_features)

    @staticmethod
    def _relu_pool(x: Tensor, channels_last: bool) -> Tensor:
        # Both orders give the same values and gradients (ReLU is monotone); pooling first
        # runs the ReLU on a quarter of the data. The NCHW paths keep the original order.
        if channels_last:
            return F.relu(F.max_pool2d(x, 2))
        return F.max_pool2d(F.relu(x), 2)

    def loop(self, x: Tensor, channels_last: bool = False) -> list[Tensor]:
        xs: list[Tensor] = [x]
        for conv, bn in zip(self.convs, self.bns, strict=True):
            xs = [self._relu_pool(o, channels_last) for o in bn.loop(conv.loop(xs))]
        return self.fc.loop([o.mean(dim=(2, 3)) for o in xs])

    def fused(self, x: Tensor, channels_last: bool = False) -> Tensor:
        for conv, bn in zip(self.convs, self.bns, strict=True):
            x = self._relu_pool(bn.fused(conv.fused(x)), channels_last)
        b = x.shape[0]
        return self.fc.fused(x.mean(dim=(2, 3)).view(b, self.groups, -1))


SUBNETWORKS = {"resnet20": StackedResNet20, "small": StackedSmallCNN}


def build_stacked(
    kind: str, groups: int, in_channels: int, out_features: int, **kwargs: object
) -> StackedNet:
    """Build ``groups`` subnetworks of type ``kind`` (one of :data:`SUBNETWORKS`)."""
    if kind not in SUBNETWORKS:
        raise ValueError(f"unknown subnetwork {kind!r}; choose one of {sorted(SUBNETWORKS)}")
    return SUBNETWORKS[kind](groups, in_channels, out_features, **kwargs)  # type: ignore[arg-type]


def grow_stacked(net: StackedNet, extra: int = 1) -> StackedNet:
    """Return a copy of ``net`` with ``extra`` freshly initialised subnetworks appended.

    The trained subnetworks keep their weights and running statistics exactly.
    """
    kwargs: dict[str, object] = {}
    if isinstance(net, StackedSmallCNN):
        kwargs["channels"] = net.channels
    if isinstance(net, StackedResNet20):
        kwargs["depth"] = net.depth
    kind = next(k for k, v in SUBNETWORKS.items() if isinstance(net, v))
    new = build_stacked(kind, net.groups + extra, net.in_channels, net.out_features, **kwargs)
    new = new.to(next(net.parameters()).device)
    new_state = new.state_dict()
    for name, old in net.state_dict().items():
        # Stacked tensors lead with G and BatchNorm vectors are G*C group-major, so the trained
        # subnetworks are always the leading slice.
        if old.ndim == 0:
            new_state[name].copy_(old)
        else:
            new_state[name][: old.shape[0]].copy_(old)
    new.load_state_dict(new_state)
    return new


def choose_execution(
    net: StackedNet,
    in_channels: int,
    size: int,
    batch_size: int = 32,
    device: torch.device | str = "cpu",
    repeats: int = 2,
    candidates: Sequence[str] = EXECUTIONS,
) -> dict[str, float | str]:
    """Time one training step (forward + backward) of each candidate execution; pick the fastest.

    ``"loop"`` is always among the candidates, so the choice is never slower than the loop
    (up to timing noise). Candidates are timed in interleaved rounds (best of ``repeats``
    after a warm-up call; those within 10% of the best get ``repeats`` more rounds); one
    whose warm-up takes more than 2.5x the best time so far is dropped early. Returns ``{"execution": best, "loop_s": ..., "<name>_s": ...}`` with the
    best time of every candidate timed (``inf`` for a dropped one). The model's parameters
    are not changed (gradients are cleared afterwards; BatchNorm statistics are restored).
    """
    bad = [c for c in candidates if c not in EXECUTIONS]
    if bad:
        raise ValueError(f"unknown executions {bad}; choose from {EXECUTIONS}")
    names = ["loop", *dict.fromkeys(c for c in candidates if c != "loop")]
    device = torch.device(device)
    if device.type == "cpu":
        tune_cpu_allocator()
    state = {k: v.detach().clone() for k, v in net.state_dict().items()}
    # A private generator: timing must not advance the run's global random stream (a resumed
    # run re-times, and must still draw the same dropout masks as an uninterrupted one).
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(batch_size, in_channels, size, size, generator=gen).to(device)
    was = net.training
    net.train()
    # layers converted by a learning rule record alignment pairs, or (direct feedback
    # alignment) route the model output's error, while training: not in these steps
    hooks = {
        (m, a): getattr(m, a)
        for m in net.modules()
        for a in ("alignment_sink", "direct_feedback")
        if getattr(m, a, None) is not None
    }
    try:
        for m, a in hooks:
            setattr(m, a, None)
        with torch.enable_grad():
            times = _time_executions(net, x, device, repeats, names)
    finally:
        for (m, a), held in hooks.items():
            setattr(m, a, held)
        net.zero_grad(set_to_none=True)
        net.load_state_dict(state)
        net.train(was)
    choice = min(times, key=times.__getitem__)
    return {"execution": choice, **{f"{k}_s": v for k, v in times.items()}}


def _time_step(net: StackedNet, x: Tensor, execution: str, device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    t0 = time.perf_counter()
    net(x, execution=execution).square().mean().backward()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - t0


def _time_executions(
    net: StackedNet,
    x: Tensor,
    device: torch.device,
    repeats: int,
    names: Sequence[str] = EXECUTIONS,
) -> dict[str, float]:
    times: dict[str, float] = {}
    for name in names:  # warm-up (one-time kernel and primitive setup); drop clear losers
        warm = _time_step(net, x, name, device)
        best = min(times.values(), default=math.inf)
        times[name] = math.inf if warm > 2.5 * best else warm
    live = [n for n in names if times[n] < math.inf]
    for _ in range(max(1, repeats)):
        for name in live:
            times[name] = min(times[name], _time_step(net, x, name, device))
    # Contenders within 10% of the best get as many extra rounds (shared machines are noisy).
    close = [n for n in live if times[n] <= 1.1 * min(times.values())]
    if len(close) > 1:
        for _ in range(max(1, repeats)):
            for name in close:
                times[name] = min(times[name], _time_step(net, x, name, device))
    return times
