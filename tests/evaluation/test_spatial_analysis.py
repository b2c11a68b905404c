"""The spatial analysis (spec: mouse-and-entorhinal.md §2-3) of a generated session with known
cells and of a tiny trained path integrator: known grid and border cells found and above their
null, fractions equal to hand counts, model scores equal to the direct computation, the files
and the command, and bad input refused in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import xarray as xr
from typer.testing import CliRunner

from brainlike.analysis.spatial import border_scores, grid_scores
from brainlike.cli import app
from brainlike.config import config_from_dict
from brainlike.data.recordings.spatial import SpatialRecording
from brainlike.data.recordings.spatial_session import simulate_spatial_session
from brainlike.evaluation.pathint_maps import load_pathint_run, unit_rate_maps
from brainlike.evaluation.spatial_analysis import (
    FILES,
    SpatialAnalysis,
    analyse_recording,
    analyse_run,
)
from brainlike.train.loop import train

CELLS = {"grid": 4, "border": 3, "place": 2, "head_direction": 2, "heterogeneous": 0}


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    out = tmp_path_factory.mktemp("session")
    simulate_spatial_session(out, animals=1, cells=CELLS, minutes=4, seed=1)
    return out / "recording.nc"


@pytest.fixture(scope="module")
def recorded(session) -> SpatialAnalysis:
    return analyse_recording(session, shuffles=20, seed=0)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    cfg = config_from_dict(
        {
            "name": "pi-tiny",
            "data": {
                "dataset": "trajectories",
                "trajectories": {"batches_per_epoch": 5, "test_sequences": 50},
            },
            "model": {"kind": "pathint", "units": 32, "g_units": 32},
            "objective": {"task": "path_integration", "place_cells": {"kind": "gaussian", "n": 32}},
            "train": {"lr": 3e-3, "batch_size": 20, "epochs": 1, "device": "cpu", "threads": 1},
        }
    )
    out = tmp_path_factory.mktemp("run") / "pi"
    train(cfg, out, progress=False, analyse=False)
    return out


def _kind(analysis: SpatialAnalysis, kind: str) -> np.ndarray:
    return np.array([f"_{kind}" in u for u in analysis.unit_ids])


def test_generated_grid_and_border_cells_score_high_and_pass_their_null(recorded):
    grid, border, hd = (_kind(recorded, k) for k in ("grid", "border", "head_direction"))
    null = recorded.null_thresholds()
    g, b = recorded.scores["grid"], recorded.scores["border"]
    assert np.all(g[grid] > 0.8) and np.all(recorded.scores["grid_minmax"][grid] > 0.8)
    assert np.all(g[grid] > null["grid"][grid])
    assert np.all(b[border] > 0.6) and np.all(b[border] > null["border"][border])
    assert np.all(b[grid] < 0)  # grid cells are not border cells
    assert np.all(recorded.scores["head_direction"][hd] > 0.6)
    assert np.all(recorded.scores["head_direction"][~hd] < 0.4)
    # the generated grids have spacings between 30 and 100 cm (spatial_session)
    assert np.all(recorded.scores["grid_spacing_cm"][grid] > 25)
    assert recorded.unit_ids[0] == "rat0/rat0_grid0"
    assert recorded.maps.shape == (sum(CELLS.values()), 44, 44)  # 2.2 m at 5 cm


def test_fractions_are_the_hand_counts(recorded):
    null = recorded.null_thresholds()
    n = len(recorded.unit_ids)
    for name, fixed in (("grid", 0.3), ("border", 0.5)):
        s = recorded.scores[name]
        above = [v > fixed for v in s]
        passes = [v > t for v, t in zip(s, null[name], strict=True)]
        f = recorded.fractions[name]
        assert f["threshold"] == pytest.approx(sum(above) / n)
        assert f["null95"] == pytest.approx(sum(passes) / n)
        assert f["both"] == pytest.approx(
            sum(a and p for a, p in zip(above, passes, strict=True)) / n
        )
    assert recorded.fractions["grid"]["null95"] >= 4 / n


def test_model_scores_equal_the_direct_computation_and_the_nulls_own(run_dir):
    a = analyse_run(run_dir, n_sequences=60, shuffles=5, seed=3)
    model, cfg = load_pathint_run(run_dir)
    maps = unit_rate_maps(model, cfg, n_sequences=60, seed=3)
    direct = grid_scores(maps.rates).scores
    np.testing.assert_array_equal(a.scores["grid"], direct)
    np.testing.assert_array_equal(a.maps, maps.rates)
    # the null's series (same walks, concatenated) gives the same observed scores
    np.testing.assert_allclose(a.nulls.scores["grid"].observed, direct, atol=1e-9)
    np.testing.assert_allclose(
        a.nulls.scores["border"].observed, border_scores(maps.rates)[0], atol=1e-9
    )
    assert a.unit_ids[:2] == ["g/0", "g/1"] and len(a.unit_ids) == 32
    assert a.nulls.scores["grid"].null.shape == (5, 32)
    json.dumps(a.to_dict(), allow_nan=False)


def test_another_box_is_walked_with_the_training_place_cells(run_dir):
    # the same walks and maps as score_spatial's (unit_rate_maps with arena), in both the maps
    # and the null's series
    model, cfg = load_pathint_run(run_dir)
    side = cfg.data.trajectories.arena * 1.5
    a = analyse_run(run_dir, n_sequences=40, shuffles=3, seed=1, arena=side)
    maps = unit_rate_maps(model, cfg, n_sequences=40, seed=1, arena=side)
    np.testing.assert_array_equal(a.maps, maps.rates)
    assert a.conventions["arena_m"] == side
    np.testing.assert_allclose(
        a.nulls.scores["grid"].observed, grid_scores(maps.rates).scores, atol=1e-9
    )


def test_cli_writes_the_files_refuses_to_overwrite_and_prints_json(session, tmp_path):
    runner = CliRunner()
    out = tmp_path / "sp"
    args = ["spatial", str(session), "--out", str(out), "--shuffles", "3", "--no-progress"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    assert all((out / f).is_file() for f in FILES)
    assert "written" in first.output and "grid" in first.output
    second = runner.invoke(app, args)
    assert second.exit_code == 2 and "already holds" in second.output
    third = runner.invoke(app, [*args, "--overwrite", "--json"])
    record = json.loads(third.output)
    assert record["kind"] == "recording" and record["conventions"]["shuffles"] == 3
    assert len(record["units"]) == sum(CELLS.values())
    npz = np.load(out / "spatial_maps.npz")
    assert npz["maps"].shape == npz["autocorrelograms"].shape[:1] + (44, 44)


def test_html_escapes_a_hostile_session_name(recorded, tmp_path):
    from dataclasses import replace

    hostile = replace(recorded, name='<script>alert("x")</script>')
    hostile.save(tmp_path)
    html = (tmp_path / "spatial.html").read_text()
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "http://" not in html and "https://" not in html and "data:image/png;base64," in html
    with pytest.raises(ValueError, match="already holds"):
        hostile.save(tmp_path)


def test_bad_inputs_are_refused_in_one_line(tmp_path, run_dir):
    not_spatial = tmp_path / "other.nc"
    xr.Dataset({"a": ("t", np.arange(3.0))}).to_netcdf(not_spatial, engine="h5netcdf")
    with pytest.raises(ValueError, match="is not a spatial recording"):
        analyse_recording(not_spatial)
    with pytest.raises(FileNotFoundError, match="not a trained run"):
        analyse_run(tmp_path)
    with pytest.raises(ValueError, match="layer"):
        analyse_run(run_dir, layer="x")
    result = CliRunner().invoke(app, ["spatial", str(not_spatial), "--no-progress"])
    assert result.exit_code == 2 and "not a spatial recording" in result.output


def test_cells_with_too_few_spikes_get_nan_with_the_reason(tmp_path):
    rng = np.random.default_rng(0)
    t = np.arange(6000) * 0.02
    xy = np.cumsum(rng.normal(0, 0.01, (6000, 2)), 0)
    xy = np.abs((xy + 1.0) % 2.0 - 1.0) - 0.5  # folded into the 1 m box
    busy = np.sort(rng.uniform(0, t[-1], 2000))
    rec = SpatialRecording.from_arrays(
        t, xy[:, 0], xy[:, 1], [busy, np.array([1.0, 2.0, 3.0])], arena=1.0, cell_ids=["a", "b"]
    )
    a = analyse_recording(rec.save(tmp_path / "r.nc"), shuffles=4)
    assert np.isfinite(a.scores["spatial_information"][0])
    for name in ("grid", "border", "spatial_information", "speed"):
        assert np.isnan(a.scores[name][1]) and "only 3 spikes" in a.reasons[name][1]
    assert a.notes and "1 cells with < 10 spikes" in a.notes[0]
