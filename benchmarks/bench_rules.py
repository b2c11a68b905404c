"""Speed of one training step under every learning rule, against autograd backprop.

The network is ResNet-20 (the registry's ``resnet20``: 3-channel 32 x 32 inputs, 10 classes);
one step is what the training loop does with a rule (:mod:`brainlike.train.rule_training`):
forward, cross-entropy, the rule's alignment loss (collected by forward hooks), backward, the
rule's gradient transfer (Kolen-Pollack), the forward optimizer's step (SGD with momentum),
the backward optimizer's step and setting B~ for the next step. Every rule's network starts
from the same weights; rules are timed round by round (interleaved, so a busy machine slows
them alike) and each keeps its best step. Targets (issue: learning rules): sham, FA, DFA, SS
and KP at most 1.15 x backprop's step (DFA's layers skip their own input gradients and get the
output's error through one product each); WM, IA, SA and AA (alignment losses included) at
most 1.5 x. Where biotorch imports (``pip install --no-deps biotorch``: its layers need only
torch), its FA and uSF conversions of the same network are timed in the same rounds, and
``ours_vs_biotorch_*`` lines give our step time over theirs (at most 1 is the target).
Ends with ``NAME: VALUE`` lines (seconds, and ratios to backprop measured in the same run).

    python benchmarks/bench_rules.py                # batch 128 (a few minutes on 2 CPU cores)
    python benchmarks/bench_rules.py --quick        # batch 32, fewer rounds
    python benchmarks/bench_rules.py --device cuda
    python benchmarks/bench_rules.py --rules backprop,information_alignment
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import io
import time

import torch
from torch.nn import functional as F

from brainlike.config import config_from_dict
from brainlike.models import create_model
from brainlike.train.rule_training import RuleTraining

RULES = [
    ("backprop", {}),
    ("sham", {}),
    ("feedback_alignment", {}),
    ("direct_feedback_alignment", {}),
    ("sign_symmetry", {"variant": "usf"}),
    ("sign_symmetry", {"variant": "brsf"}),
    ("kolen_pollack", {}),
    ("weight_mirror", {}),
    ("information_alignment", {}),
    ("symmetric_alignment", {}),
    ("activation_alignment", {}),
]
TARGET = {"weight_mirror": 1.5, "information_alignment": 1.5, "symmetric_alignment": 1.5,
          "activation_alignment": 1.5}  # fmt: skip


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def label_of(kind: str, options: dict) -> str:
    return kind + (f"_{options['variant']}" if "variant" in options else "")


class Stepper:
    """One rule's network, optimizers and training step."""

    def __init__(self, kind: str, options: dict, base: torch.nn.Module, device: torch.device):
        self.label = label_of(kind, options)
        cfg = config_from_dict(
            {
                "rule": {"kind": kind, **options},
                "train": {"optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "device": "cpu"},
            }
        )
        self.model = copy.deepcopy(base)
        self.rule = RuleTraining(cfg, self.model) if kind != "backprop" else None
        params = (
            RuleTraining.forward_parameters(self.model) if self.rule else self.model.parameters()
        )
        self.optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        if self.rule is not None:
            self.rule.build_optimizer(lambda ps: (torch.optim.SGD(ps, lr=0.01, momentum=0.9), None))
        self.model.to(device).train()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if self.rule is not None:
            self.rule.after_backward()
        self.optimizer.step()
        if self.rule is not None:
            self.rule.step()


class BiotorchStepper:
    """biotorch's conversion (``mode`` fa or usf) of the same network, trained by plain SGD."""

    def __init__(self, mode: str, base: torch.nn.Module, device: torch.device):
        from biotorch.module.converter import ModuleConverter

        self.label = f"biotorch_{mode}"
        self.model = copy.deepcopy(base)
        with contextlib.redirect_stdout(io.StringIO()):  # it prints a conversion summary
            ModuleConverter(mode=mode).convert(self.model, copy_weights=True)
        params = [p for p in self.model.parameters() if p.requires_grad]
        self.optimizer = torch.optim.SGD(params, lr=0.01, momentum=0.9)
        self.model.to(device).train()

    def step(self, x: torch.Tensor, y: torch.Tensor) -> None:
        loss = F.cross_entropy(self.model(x), y)
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()


def biotorch_steppers(base: torch.nn.Module, device: torch.device) -> list[BiotorchStepper]:
    """biotorch's FA and uSF on ``base`` when biotorch imports, else none (said why)."""
    try:
        import biotorch.module.converter  # noqa: F401
    except ImportError as err:
        print(f"biotorch not timed ({err}); pip install --no-deps biotorch to compare")
        return []
    return [BiotorchStepper(mode, base, device) for mode in ("fa", "usf")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=None)
    parser.add_argument("--rounds", type=int, default=None)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument(
        "--rules", default=None, help="comma-separated rule labels to time (backprop always)"
    )
    parser.add_argument("--no-biotorch", action="store_true", help="skip biotorch even if present")
    args = parser.parse_args()
    device = torch.device(args.device)
    batch = args.batch or (32 if args.quick else 128)
    rounds = args.rounds or (3 if args.quick else 6)
    torch.manual_seed(0)
    base = create_model("resnet20", in_channels=3, out_features=10)
    chosen = RULES
    if args.rules:
        wanted = {"backprop", *args.rules.split(",")}
        chosen = [(k, o) for k, o in RULES if k in wanted or label_of(k, o) in wanted]
        unknown = wanted - {k for k, _ in chosen} - {label_of(k, o) for k, o in chosen}
        if unknown:
            known = ", ".join(label_of(k, o) for k, o in RULES)
            parser.error(f"--rules: unknown {', '.join(sorted(unknown))}; known: {known}")
    steppers: list = [Stepper(kind, options, base, device) for kind, options in chosen]
    if not args.no_biotorch:
        steppers += biotorch_steppers(base, device)
    g = torch.Generator().manual_seed(1)
    x = torch.randn(batch, 3, 32, 32, generator=g).to(device)
    y = torch.randint(0, 10, (batch,), generator=g).to(device)
    for s in steppers:  # warm-up (allocations, kernel choices)
        s.step(x, y)
    best = {s.label: float("inf") for s in steppers}
    for r in range(rounds):
        for s in steppers:
            sync(device)
            t = time.perf_counter()
            s.step(x, y)
            sync(device)
            best[s.label] = min(best[s.label], time.perf_counter() - t)
        print(f"round {r + 1}/{rounds} done", flush=True)
    bp = best["backprop"]
    print(f"\nResNet-20, batch {batch}, {device}; best of {rounds} interleaved steps")
    print(f"{'rule':28s} {'s/step':>8s} {'x backprop':>11s} {'target':>7s}")
    for label, seconds in best.items():
        kind = label.split("_usf")[0].split("_brsf")[0]
        target = TARGET.get(kind, 1.15) if label not in ("backprop",) else None
        if label.startswith("biotorch_"):
            target = None
        ratio = seconds / bp
        mark = "" if target is None else ("ok" if ratio <= target else "OVER")
        print(f"{label:28s} {seconds:8.3f} {ratio:11.2f} {target or '':>7} {mark}")
    print()
    print(f"step_seconds_backprop: {bp:.4f}")
    for label, seconds in best.items():
        if label != "backprop":
            print(f"ratio_{label}: {seconds / bp:.3f}")
    ours = {"biotorch_fa": "feedback_alignment", "biotorch_usf": "sign_symmetry_usf"}
    for theirs, mine in ours.items():
        if theirs in best and mine in best:
            print(f"ours_vs_{theirs}: {best[mine] / best[theirs]:.3f}")


if __name__ == "__main__":
    main()
