"""The simulated mouse benchmark (``brainlike simulate --species mouse``): six areas of a
random six-stream StreamNet recorded in two modalities, its ceilings, and its known answer
(spec: mouse-and-entorhinal.md §1, neural-evaluation.md §8)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from brainlike.cli import app
from brainlike.data.recordings import read_recording
from brainlike.evaluation.preconditions import ScoringError
from brainlike.evaluation.simulated import MOUSE_AREAS, simulate_mouse_benchmark
from brainlike.evaluation.static import score_model

SMALL = {"n_per_digit": 6, "n_animals": 3, "units_per_animal": 16, "n_trials": 8}
FAST = {"n_splits": 3, "n_bootstraps": 4, "progress": False}


@pytest.fixture(scope="module")
def calcium(tmp_path_factory):
    return simulate_mouse_benchmark(tmp_path_factory.mktemp("ca"), **SMALL)


def test_calcium_benchmark_files_areas_and_truth(calcium):
    rec = read_recording(calcium["recording"])
    assert list(dict.fromkeys(rec["region"].values.tolist())) == list(MOUSE_AREAS)
    assert rec.sizes["stimulus"] == 60 and rec.sizes["neuroid"] == 6 * 3 * 16
    assert sorted(set(rec["animal"].values.tolist())) == ["animal0", "animal1", "animal2"]
    truth = json.loads((Path(calcium["recording"]).parent / "ground_truth.json").read_text())
    assert truth["modality"] == "calcium" and truth["brain"] == "streamnet-six"
    # signal variance 60/59 (s.d. 1 over 60 stimuli, ddof 1), noise s.d. 3, 8 trials:
    # reliability = s2 / (s2 + 9 / 8)
    s2 = 60 / 59
    assert truth["expected_reliability_median"] == pytest.approx(s2 / (s2 + 9 / 8), rel=1e-9)
    # mean dF/F is non-negative: trial averages sit above the noise floor on average
    assert float(np.nanmean(rec.values)) > 0


def test_neuropixels_counts_and_bad_input(tmp_path):
    out = simulate_mouse_benchmark(tmp_path / "np", modality="neuropixels", **SMALL)
    rec = read_recording(out["recording"])
    v = rec.values
    assert np.all(v >= 0) and np.all(v == np.round(v))
    assert np.mean(v) == pytest.approx(0.3, rel=0.15)  # mean count per trial
    with pytest.raises(ScoringError, match="unknown modality 'ephys'"):
        simulate_mouse_benchmark(tmp_path / "x", modality="ephys")
    with pytest.raises(ScoringError, match="no module 'VISx'"):
        simulate_mouse_benchmark(tmp_path / "y", areas={"VISp": "VISx"}, **SMALL)
    assert not (tmp_path / "y" / "recording.nc").exists()


def test_ground_truth_reaches_the_ceiling_mismatched_images_do_not(tmp_path):
    # high SNR so that the ceiling is not limited by noisy sources (see the report)
    bench = simulate_mouse_benchmark(tmp_path / "hi", noise_sd=0.3, **SMALL)
    layers = ["VISp", "VISam"]
    brain = score_model(
        "streamnet-six",
        bench["recording"],
        layers=layers,
        regions=layers,
        mapping="ridge",
        cache_dir=tmp_path / "cache",
        **FAST,
    )
    # VISp (64 channels, 256 pooled units) is spanned by the other animals' 32 neuroids over
    # 30 training stimuli: the truth sits at the ceiling. VISam (1024 pooled units) is not:
    # the sampled neuroids of other animals predict less than the whole generating area, so
    # the truth reaches at least the ceiling and exceeds it.
    assert 80 <= brain.percent_of_ceiling("VISp", "VISp") <= 130
    assert brain.percent_of_ceiling("VISam", "VISam") >= 80
    csv = Path(bench["stimuli"])
    lines = csv.read_text().splitlines()
    cols = lines[0].split(",")
    rows = [line.split(",") for line in lines[1:]]
    k = cols.index("filename")
    perm = np.random.default_rng(0).permutation(len(rows))
    files = [r[k] for r in rows]
    for r, j in zip(rows, perm, strict=True):
        r[k] = files[j]
    wrong_csv = csv.parent / "shuffled.csv"
    wrong_csv.write_text("\n".join([lines[0]] + [",".join(r) for r in rows]) + "\n")
    wrong = score_model(
        "streamnet-six",
        bench["recording"],
        stimuli=wrong_csv,
        layers=layers,
        regions=layers,
        mapping="ridge",
        cache_dir=tmp_path / "cache",
        **FAST,
    )
    for area in layers:
        assert wrong.percent_of_ceiling(area, area) < 25


def test_cli_simulate_mouse_and_ceiling(tmp_path):
    runner = CliRunner()
    res = runner.invoke(
        app, ["simulate", str(tmp_path / "m"), "--species", "mouse", "--modality", "ephys"]
    )
    assert res.exit_code == 2 and "unknown modality" in res.output
    res = runner.invoke(app, ["simulate", str(tmp_path / "m"), "--species", "mouse", "--dynamic"])
    assert res.exit_code == 2 and "leave out --dynamic" in res.output
    res = runner.invoke(
        app,
        [
            "simulate",
            str(tmp_path / "m"),
            "--species",
            "mouse",
            "--modality",
            "neuropixels",
            "--per-digit",
            "6",
            "--animals",
            "3",
            "--neuroids",
            "10",
            "--trials",
            "6",
        ],
    )
    assert res.exit_code == 0, res.output
    rec = tmp_path / "m" / "recording.nc"
    res = runner.invoke(
        app,
        [
            "ceiling",
            str(rec),
            "--mappings",
            "ridge,rsa",
            "--regions",
            "VISp,VISam",
            "--area-map",
            "--splits",
            "2",
            "--bootstraps",
            "2",
            "--json",
            "--figure",
            str(tmp_path / "map.png"),
        ],
    )
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    assert set(payload["ceilings"]) == {"VISp", "VISam"}
    assert np.shape(payload["area_map"]["values"]["rsa"]) == (2, 2)
    assert (
        payload["area_map"]["values"]["ridge"][0][0]
        == payload["ceilings"]["VISp"]["ridge"]["value"]
    )
    assert (tmp_path / "map.png").exists()
    res = runner.invoke(app, ["ceiling", str(rec), "--figure", str(tmp_path / "x.png")])
    assert res.exit_code == 2 and "add --area-map" in res.output
