"""Hand-made suite summaries with known values, for the tests of the suite reports (their
tables, figures and the browser check) without training the suites."""

from __future__ import annotations

import numpy as np

from brainlike.evaluation.mec_suite import summarise_mec


def mouse_summary(name: str) -> dict:
    """A mouse suite's summary: 3 cells (model, objective, resolution), 2 areas, one transfer
    task, with known values (10, 20, 30 % of ceiling; transfer 0.1, 0.2, 0.3)."""
    areas = ["VISp", "VISl"]
    rows, runs = [], []
    for i, (model, objective, size) in enumerate(
        [("dual", "simclr", 32), ("dual", "simclr", 64), ("single", "sup", 64)]
    ):
        row = {"model": model, "objective": objective, "resolution": size, "n_seeds": 1,
               "parameters": 1000 * (i + 1), "headline": "test_acc", "headline_value": 0.5}  # fmt: skip
        for a in [*areas, "median"]:
            row[f"neuropixels.ridge.{a}"] = 10.0 * (i + 1)
        row["transfer.position"] = 0.1 * (i + 1)
        rows.append(row)
        runs.append({**row, "seed": 0, "transfer.position.metric": "r", "run": f"r{i}"})
    return {
        "suite": name, "areas": areas, "modalities": ["neuropixels"],
        "mappings": ["ridge"], "transfer_tasks": ["position"],
        "models": {"dual": {}, "single": {}}, "objectives": {"simclr": {}, "sup": {}},
        "resolutions": [32, 64], "cells": [[r["model"], r["objective"], r["resolution"]] for r in rows],
        "seeds": [0], "overrides": {}, "rows": rows, "runs": runs,
        "benchmark": {"brain": "streamnet-six", "brain_seed": 0, "animals": 4, "neuroids": 40,
                      "trials": 10, "modalities": ["neuropixels"]},
        "conventions": {"pct_ceiling": "what it is"},
    }  # fmt: skip


def mec_summary(name: str) -> dict:
    """An entorhinal suite's summary: 2 runs (rnn and ugrnn on the Gaussian code) with known
    values; the second has no ablation (its reason is recorded)."""
    runs, dists = [], {}
    for i, (core, target) in enumerate([("rnn", "gaussian"), ("ugrnn", "gaussian")]):
        run = {"run": f"r{i}", "core": core, "target": target, "seed": 0, "parameters": 100 + i,
               "decoding_error_cm": 10.0 * (i + 1), "grid.median": 0.1, "grid.frac_threshold": 0.25,
               "grid.frac_null95": 0.5, "mapping.pct_ceiling": 40.0 + i,
               "ablation.grid.targeted_minus_random": None if i else 1.5,
               "ablation.grid.reason": "no unit scores above 0.3" if i else None}  # fmt: skip
        runs.append(run)
        dists[run["run"]] = {
            s: {"scores": [-0.2, 0.1, 0.5], "null_quantiles": list(np.linspace(-1, 1, 101))}
            for s in ("grid", "border")
        }
    return {
        "suite": name, "cells": [["rnn", "gaussian"], ["ugrnn", "gaussian"]],
        "seeds": [0], "overrides": {}, "runs": runs, "rows": summarise_mec(runs),
        "distributions": dists, "thresholds": {"grid": 0.3, "border": 0.5},
        "session": {"recording": None, "animals": 2, "minutes": 4.0, "seed": 0},
        "analysis": {"layer": "g"}, "conventions": {"decoding_error_cm": "what it is"},
    }  # fmt: skip
