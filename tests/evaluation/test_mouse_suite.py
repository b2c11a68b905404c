"""A mouse suite end to end at toy size: every cell trained, scored on the simulated mouse
areas and read out by transfer; the summary's numbers are the run folders' own; a second call
reuses everything."""

from __future__ import annotations

import json

import pytest
import yaml

from brainlike.evaluation.suites import run_suite


def test_mouse_suite_trains_scores_reads_out_and_reuses(tmp_path):
    (tmp_path / "base.yaml").write_text(
        yaml.safe_dump(
            {
                "name": "toy",
                "data": {"dataset": "digits", "train_size": 64, "test_size": 32},
                "model": {"kind": "resnet", "depth": 8},
                "train": {"epochs": 1, "batch_size": 16, "device": "cpu", "threads": 1},
            }
        )
    )
    suite = {
        "name": "toy-mouse",
        "runs": ["base.yaml"],
        "mouse": {
            "models": {"r8": {"model": {"kind": "resnet", "depth": 8}}},
            "objectives": {
                "supervised": {"objective.task": "supervised"},
                "simclr": {"objective.task": "simclr",
                           "objective.ssl": {"head_hidden": 16, "head_dim": 8}},
            },
            "resolutions": [16],
            "benchmark": {"brain": "streamnet-six", "image_size": 32, "per_digit": 4,
                          "neuroids": 8, "animals": 2, "modalities": ["neuropixels"],
                          "stimuli": "digits"},
            "mappings": ["ridge", "rsa"],
            "transfer": ["position"],
        },
    }  # fmt: skip
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    out = tmp_path / "out"
    summary = run_suite(path, out, progress=False, record=False)
    assert [r["run"] for r in summary["runs"]] == [
        "toy-r8-supervised-16px-seed0",
        "toy-r8-simclr-16px-seed0",
    ]
    assert summary["areas"] == ["VISp", "VISl", "VISal", "VISrl", "VISam", "VISpm"]
    for run in summary["runs"]:
        scores = json.loads(
            (out / "scores" / run["run"] / "neuropixels-ridge" / "scores.json").read_text()
        )
        best = {r["region"]: r for r in scores["rows"] if r.get("best")}
        for area, r in best.items():
            assert run[f"neuropixels.ridge.{area}"] == pytest.approx(100 * r["raw"] / r["ceiling"])
            assert run[f"neuropixels.ridge.{area}.layer"] == r["layer"]
        transfer = json.loads((out / "runs" / run["run"] / "transfer.json").read_text())
        position = [r for r in transfer["results"] if r["task"] == "position"]
        assert run["transfer.position"] == max(r["value"] for r in position)
        assert run["transfer.position.metric"] == "r2"
    sup, ssl = summary["runs"]
    assert sup["headline"] == "test_acc" and ssl["headline"] == "test_knn_acc"
    assert ssl["parameters"] != sup["parameters"]  # the projector replaces the readout
    for name in ("report.html", "comparison.csv", "areas.png", "transfer.png", "size.png"):
        assert (out / name).is_file()
    # a second call trains, scores and reads out nothing again
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.suffix in (".pt", ".json")}
    stamps = {p: t for p, t in stamps.items() if p.name != "summary.json" or "runs" in p.parts}
    again = run_suite(path, out, progress=False, record=False)
    assert again["runs"] == summary["runs"]
    assert all(p.stat().st_mtime_ns == t for p, t in stamps.items())


def test_score_model_with_rsa_uses_the_inter_animal_rsa_ceiling(tmp_path):
    import numpy as np

    from brainlike.analysis.neural import inter_animal_consistency
    from brainlike.data.recordings import read_recording, responses, select_neuroids
    from brainlike.evaluation.simulated import simulate_mouse_benchmark
    from brainlike.evaluation.static import score_model

    bench = simulate_mouse_benchmark(
        tmp_path / "b", n_per_digit=6, n_animals=3, units_per_animal=12, n_trials=6,
        image_size=32, noise_sd=0.5,
    )  # fmt: skip
    kw = {"n_splits": 3, "n_bootstraps": 5, "progress": False}
    result = score_model(
        "streamnet-six", bench["recording"], layers=["VISp"], regions=["VISp"], mapping="rsa",
        **kw,
    )  # fmt: skip
    rec = read_recording(bench["recording"])
    Y = responses(rec, region="VISp")
    animal = select_neuroids(rec, region="VISp").coords["animal"].values.astype(str)
    by_hand = inter_animal_consistency(Y, animal, mapping="rsa", n_bootstraps=5, n_splits=3)
    assert result.ceilings["VISp"].value == pytest.approx(by_hand.value)
    raw = result.scores[("VISp", "VISp")]
    assert raw.metric.startswith("noise_corrected_rsa") and np.isfinite(raw.value)
    assert result.percent_of_ceiling("VISp", "VISp") == pytest.approx(
        100 * raw.value / by_hand.value
    )
