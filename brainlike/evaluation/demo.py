"""The demo: does a Reset network self-organise, and what does a spatial constraint add?

Trains, on scikit-learn's bundled digits (offline), a plain Reset(4) with small subnetworks
and the same network with the spatial correlation loss of spec topography.md §4 on its grid,
computes every topography metric against its null for every snapshot, and writes one report
comparing them.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

DEMO_RECIPES = ("demo-plain", "demo-spatial")


def run_demo(
    out: str | Path = "runs/demo",
    *,
    epochs: int | None = None,
    overwrite: bool = True,
    progress: bool = True,
) -> dict[str, Any]:
    """Train both demo networks into ``out/<recipe>`` and write ``out/report/report.html``.

    Returns ``{"runs": [summary, summary], "report": path, "wall_seconds": s}``; each summary
    is the run's summary.json with the final snapshot's topography metrics.
    """
    from brainlike.config import load_config, shipped_configs_dir
    from brainlike.report.html import write_report
    from brainlike.train.checkpoint import atomic_write_json
    from brainlike.train.loop import train

    t0 = time.perf_counter()
    out = Path(out)
    summaries, run_dirs = [], []
    for recipe in DEMO_RECIPES:
        cfg = load_config(shipped_configs_dir() / f"{recipe}.yaml", {"train.epochs": epochs})
        run_dir = out / recipe
        # train writes the run's one topography record (topography.json) and summary.json
        summary = train(cfg, run_dir, overwrite=overwrite, progress=progress)
        summaries.append(summary)
        run_dirs.append(run_dir)
    report = write_report(
        run_dirs, out / "report", title="Reset(4) on digits: plain vs spatial correlation loss"
    )
    result = {"runs": summaries, "report": str(report), "wall_seconds": time.perf_counter() - t0}
    atomic_write_json(out / "summary.json", result)
    return result
