"""Scoring a path integrator against a spatial recording (spec: mouse-and-entorhinal.md §2):
the ceiling of a generated session, the numbers against the mapping functions called
directly and scipy's KS, the generating maps recovered by the ridge map, and the CLI's files,
database rows and refusals."""

from __future__ import annotations

import json

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from brainlike.analysis.spatial import border_scores, grid_scores
from brainlike.analysis.spatial_mapping import inter_animal_ceiling, map_units_to_cells
from brainlike.cli import app
from brainlike.config import config_from_dict
from brainlike.data.recordings.spatial import SpatialRecording
from brainlike.data.recordings.spatial_session import simulate_spatial_session
from brainlike.evaluation.pathint_maps import load_pathint_run, unit_rate_maps
from brainlike.evaluation.spatial_scoring import (
    is_spatial_recording,
    score_spatial,
    score_spatial_maps,
)
from brainlike.train.loop import train

ARENA = 1.0
SEQ = 300  # walks behind the model maps (small: the maps are noisy, the checks exact)
CELLS = {"grid": 6, "border": 4, "heterogeneous": 14}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    cfg = config_from_dict(
        {
            "name": "pi-tiny",
            "data": {"dataset": "trajectories",
                     "trajectories": {"arena": ARENA, "batches_per_epoch": 3,
                                      "test_sequences": 20}},
            "model": {"kind": "pathint", "units": 32, "g_units": 32},
            "objective": {"task": "path_integration",
                          "place_cells": {"kind": "gaussian", "n": 32}},
            "train": {"lr": 3e-3, "batch_size": 20, "epochs": 1, "device": "cpu",
                      "schedule": "constant", "threads": 1},
        }
    )  # fmt: skip
    out = tmp_path_factory.mktemp("run") / "pi"
    train(cfg, out, progress=False, analyse=False)
    return out


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("session")
    simulate_spatial_session(folder, animals=2, cells=CELLS, minutes=4.0, seed=3, arena=ARENA)
    return folder


@pytest.fixture(scope="module")
def scored(run, session):
    return score_spatial(run, session / "recording.nc", n_sequences=SEQ, seed=1)


def _hetero(per_cell: dict, key: str) -> float:
    r = np.array([np.nan if v is None else v for v in per_cell[key]])
    het = np.array(["heterogeneous" in c for c in per_cell["cell_id"]])
    return float(np.nanmedian(r[het]))


def test_ceiling_is_high_and_conventions_say_what_each_number_is(scored):
    # the two animals' cells come from one generating population: each predicts the other
    assert scored.ceiling > 0.6
    assert scored.ceiled == pytest.approx(scored.median / scored.ceiling, rel=1e-12)
    d = json.loads(json.dumps(scored.to_dict(), allow_nan=False))
    for key in ("raw", "ceiling", "ceiled", "ks", "mapping", "bins", "seeds"):
        assert isinstance(d["conventions"][key], str) and d["conventions"][key]
    c = d["conventions"]
    assert (c["train_fraction"], c["splits"], c["alpha"], c["seed"]) == (0.2, 10, 1.0, 1)
    assert d["raw"] == pytest.approx(scored.median) and d["region"] == "MEC"
    assert set(d["per_animal"]) == {"rat0", "rat1"} and set(d["ks"]) == {"grid", "border"}
    assert d["settings"]["n_cells"] == 2 * sum(CELLS.values()) == len(d["per_cell"]["model_r"])


def test_numbers_equal_the_mapping_and_ks_called_directly(run, session, scored):
    model, cfg = load_pathint_run(run)
    src = unit_rate_maps(model, cfg, n_sequences=SEQ, seed=1, arena=ARENA).rates
    rec = SpatialRecording.load(session / "recording.nc")
    cells = rec.rate_maps_per_animal(bin_cm=5.0, smooth_cm=5.0)
    visited = np.isfinite(src).all(0)
    for m in cells.values():
        visited &= np.isfinite(m.rates).all(0)
    flat = {
        a: np.where(visited, m.rates, np.nan).reshape(len(m.rates), -1) for a, m in cells.items()
    }
    allc = np.concatenate(list(flat.values()))
    direct = map_units_to_cells(np.where(visited, src, np.nan).reshape(len(src), -1), allc, seed=1)
    assert scored.median == pytest.approx(direct.median, abs=1e-12)
    np.testing.assert_allclose(scored.to_dict()["per_cell"]["model_r"], direct.per_cell, atol=1e-12)
    assert scored.ceiling == pytest.approx(inter_animal_ceiling(flat, seed=1).median, abs=1e-12)
    # KS of the model units' and the cells' grid scores, by scipy on scores computed here
    g_model = grid_scores(src, "mean_annuli").scores
    g_cells = np.concatenate([grid_scores(m.rates, "mean_annuli").scores for m in cells.values()])
    ref = stats.ks_2samp(g_model[np.isfinite(g_model)], g_cells[np.isfinite(g_cells)])
    assert scored.ks["grid"]["statistic"] == pytest.approx(ref.statistic, abs=1e-12)
    assert scored.ks["grid"]["pvalue"] == pytest.approx(ref.pvalue, rel=1e-9)
    b_model = border_scores(src, 5.0)[0]
    b_cells = np.concatenate([border_scores(m.rates, 5.0)[0] for m in cells.values()])
    ref = stats.ks_2samp(b_model[np.isfinite(b_model)], b_cells[np.isfinite(b_cells)])
    assert scored.ks["border"]["statistic"] == pytest.approx(ref.statistic, abs=1e-12)


def test_generating_maps_score_near_the_ceiling_and_shuffled_maps_near_zero(session):
    basis = np.load(session / "generating_maps.npz")["basis_maps"]
    good = score_spatial_maps(basis, session / "recording.nc", name="generating basis")
    # the mixed cells are non-negative mixtures of the basis: ridge recovers them
    het_model = _hetero(good.per_cell, "model_r")
    het_ceiling = _hetero(good.per_cell, "ceiling_r")
    assert het_model > 0.9 * het_ceiling
    rng = np.random.default_rng(0)
    shuffled = np.stack([rng.permutation(m.ravel()).reshape(m.shape) for m in basis])
    bad = score_spatial_maps(shuffled, session / "recording.nc")
    assert abs(_hetero(bad.per_cell, "model_r")) < 0.1 and abs(bad.median) < 0.1


def test_arena_mismatch_warns_and_bad_inputs_are_refused(run, tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(3000) * 0.02

    def rec(arena, name):
        xy = rng.uniform(-0.49, 0.49, (2, len(t)))
        spikes = [np.sort(rng.uniform(0, t[-1], 300)) for _ in range(3)]
        path = tmp_path / f"{name}.nc"
        SpatialRecording.from_arrays(t, *xy, spikes, arena=arena).save(path)
        return path

    wide = rec(1.2, "wide")
    assert is_spatial_recording(wide) and not is_spatial_recording(tmp_path / "none.nc")
    with pytest.warns(UserWarning, match="trained in a 1 m box and the recording is in a 1.2 m"):
        s = score_spatial(run, wide, n_sequences=100)
    assert s.settings["bins"] == [24, 24] and np.isnan(s.ceiling)  # one animal: no ceiling
    with pytest.raises(ValueError, match="1 x 0.98 m; model walks are in square boxes"):
        score_spatial(run, rec((1.0, 0.98), "oblong"), n_sequences=100)
    with pytest.raises(ValueError, match="a path integrator has layers"):
        score_spatial(run, wide, layer="fc")


def test_cli_writes_scores_and_a_row_refuses_overwrite_and_wrong_options(run, session, tmp_path):
    runner = CliRunner()
    rec, db, out = session / "recording.nc", tmp_path / "r.sqlite", tmp_path / "out"
    base = ["score", str(run), "-r", str(rec), "--db", str(db), "-o", str(out), "--no-progress"]
    res = runner.invoke(app, [*base, "--json"])
    assert res.exit_code == 0, res.output
    payload = json.loads(res.output)
    saved = json.loads((out / "scores.json").read_text())
    assert saved["kind"] == "spatial" and saved["rows"][0]["layer"] == "g"
    from brainlike.results import ResultsDB

    rows = ResultsDB(str(db)).query()
    assert len(rows) == 1 and payload["database"]["rows"] == 1
    row = rows[0]
    assert (row["region"], row["layer"], row["mapping"]) == ("MEC", "g", "ridge_bins")
    assert row["value"] == pytest.approx(saved["rows"][0]["raw"])
    assert row["ceiled"] == pytest.approx(row["value"] / row["ceiling"])
    assert row["recording_hash"] == saved["recording_sha256"] and row["n_neuroids"] == 48
    res = runner.invoke(app, base)
    assert res.exit_code == 2 and "exists; pass --overwrite" in res.output
    for extra, why in (
        (["--temporal"], "--temporal does not apply to a spatial recording"),
        (["--metric", "brainscore"], "--metric does not apply"),
        (["--mapping", "pls"], "--mapping pls does not apply"),
        (["--time-window", "70,170"], "--time-window does not apply"),
    ):
        res = runner.invoke(app, [*base, "--overwrite", *extra])
        assert res.exit_code == 2 and why in res.output, res.output
    res = runner.invoke(app, ["score", "resnet20", "-r", str(rec), "--no-db"])
    assert res.exit_code == 2 and "not a run folder" in res.output
