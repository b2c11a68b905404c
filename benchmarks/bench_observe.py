"""What recording observables costs: a small recipe trained with and without ``observe:``.

spec: learning-rules.md §2; issue 14 target: at the default settings (21 checkpoints, the
default validation subset, the ideal recording) recording costs at most 10 % of the training
time. The recipe (default: the shipped ``lp-lenet-digits``, LeNet on the offline digits, 20
epochs) is trained ``--rounds`` times each way, off and on interleaved (so a busy machine slows
both alike), in fresh folders; the ratio is of the medians of whole ``train`` calls (data
loading and set-up included in both). Ends with ``NAME: VALUE`` lines.

    python benchmarks/bench_observe.py                  # 3 rounds (about 2 minutes on 2 cores)
    python benchmarks/bench_observe.py --rounds 1 --epochs 5
    python benchmarks/bench_observe.py --config resnet20-digits
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

from brainlike.config import load_config, resolve_config_path
from brainlike.train.loop import train


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="lp-lenet-digits", help="recipe name or YAML file")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=None, help="override train.epochs")
    parser.add_argument(
        "--threads",
        type=int,
        default=1,
        help="torch threads (1: steady timings on a shared machine)",
    )
    args = parser.parse_args()

    overrides = {"train.epochs": args.epochs, "train.threads": args.threads, "train.device": "cpu"}
    path = resolve_config_path(args.config)
    off = load_config(path, overrides)
    on = load_config(path, {**overrides, "observe": {"enabled": True}})
    times: dict[str, list[float]] = {"off": [], "on": []}
    measuring: list[float] = []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for name, cfg in (("off", off), ("on", on)):
                start = time.perf_counter()
                summary = train(cfg, Path(tmp) / f"{name}{r}", progress=False, analyse=False)
                times[name].append(time.perf_counter() - start)
                extra = ""
                if name == "on":
                    obs = summary["observables"]
                    measuring.append(obs["seconds"])
                    extra = f", {obs['checkpoints']} checkpoints; {obs['seconds']:.2f} s in the recorder"
                print(f"round {r + 1} observe {name}: {times[name][-1]:.2f} s{extra}")
    t_off, t_on = statistics.median(times["off"]), statistics.median(times["on"])
    print(f"recipe: {off.name} ({off.train.epochs} epochs, {off.model.kind})")
    print(f"train_seconds_off: {t_off:.3f}")
    print(f"train_seconds_on: {t_on:.3f}")
    # the time inside the recorder (measuring, the table), against the run without it: the
    # overhead without the timing noise of two whole runs
    print(f"observe_recorder_seconds: {statistics.median(measuring):.3f}")
    print(f"observe_recorder_share: {statistics.median(measuring) / t_off:.3f}")
    print(f"observe_overhead_ratio: {t_on / t_off:.3f}")


if __name__ == "__main__":
    main()
