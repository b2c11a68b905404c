"""The generated entorhinal session: cells per animal, ground truth in the files, Poisson
counts against the known rates, and grid / border scores of the simulated cells."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from brainlike.analysis.spatial import border_scores, grid_scores
from brainlike.data.recordings.spatial import SpatialRecording
from brainlike.data.recordings.spatial_session import (
    CELL_TYPES,
    expected_rates,
    simulate_spatial_session,
)

CELLS = {"grid": 4, "border": 4, "place": 2, "head_direction": 2, "heterogeneous": 4}
MINUTES = 4.0


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    out = tmp_path_factory.mktemp("mec")
    result = simulate_spatial_session(out, animals=2, cells=CELLS, minutes=MINUTES, seed=3)
    truth = json.loads((out / "ground_truth.json").read_text())
    maps = dict(np.load(out / "generating_maps.npz"))
    return out, result, SpatialRecording.load(out / "recording.nc"), truth, maps


def test_cells_and_labels_per_animal(session):
    out, result, rec, truth, _ = session
    assert rec.animals == ["rat0", "rat1"] and result["n_cells"] == 2 * sum(CELLS.values())
    for animal in rec.animals:
        ids = rec.cell_ids[rec.cells_of(animal)].tolist()
        mine = [c for c in truth["cells"] if c["animal"] == animal]
        assert ids == [c["cell_id"] for c in mine]
        assert {t: sum(c["type"] == t for c in mine) for t in CELL_TYPES} == CELLS
        track = rec.tracking(animal)
        assert len(track["time"]) == MINUTES * 60 / 0.02 == truth["samples_per_animal"]
        assert np.all(np.abs(track["position"]) <= truth["arena_m"] / 2)
    assert rec.arena == (2.2, 2.2)
    with pytest.raises(ValueError, match="overwrite=True"):
        simulate_spatial_session(out, animals=1, cells=CELLS, minutes=0.1)


def test_ground_truth_rebuilds_rates_and_maps(session):
    _, _, rec, truth, maps = session
    params = {
        "grid": {"spacing_m", "orientation_rad", "phase_m"},
        "border": {"wall", "width_m"},
        "place": {"centre_m", "width_m"},
        "head_direction": {"preferred_rad", "kappa"},
        "heterogeneous": {"weights"},
    }
    for c in truth["cells"]:
        assert set(c["params"]) == params[c["type"]] and 5 <= c["peak_hz"] <= 15
    # the saved generating maps are the rates at the 5 cm bin centres
    centres = maps["bin_centres_m"]
    lattice = np.stack(np.meshgrid(centres, centres, indexing="xy"), -1).reshape(-1, 2)
    want = expected_rates(truth, lattice, None).reshape(maps["rate_maps"].shape)
    np.testing.assert_allclose(maps["rate_maps"], want)
    # a mixed cell's map is exactly its non-negative mixture of the basis maps
    het = [c for c in truth["cells"] if c["type"] == "heterogeneous"]
    basis = maps["basis_maps"].reshape(len(maps["basis_maps"]), -1).T
    for c, w in zip(het, maps["mixing"], strict=True):
        row = maps["cell_id"].tolist().index(c["cell_id"])
        shape = (maps["rate_maps"][row].ravel() - c["baseline_hz"]) / c["peak_hz"]
        fit = np.linalg.lstsq(basis, shape, rcond=None)[0]
        np.testing.assert_allclose(fit, w, atol=1e-8)
        assert np.all(w >= 0) and np.isclose(w.sum(), 1)


def test_poisson_counts_match_rates(session):
    _, _, rec, truth, _ = session
    for animal in rec.animals:
        track = rec.tracking(animal)
        rates = expected_rates(truth, track["position"], track["head_direction"], animal)
        counts = rec.spike_counts(animal)
        expected = rates.sum(axis=1) * truth["dt_s"]
        z = (counts.sum(axis=1) - expected) / np.sqrt(expected)
        assert np.all(np.abs(z) < 5), z
        # and over the whole animal, sample by sample: the mean count per sample
        assert abs(counts.mean() - rates.mean() * 0.02) < 5 * np.sqrt(
            rates.mean() * 0.02 / counts.size
        )


def test_grid_and_border_cells_score_as_such(session):
    _, _, rec, truth, _ = session
    types = np.array([c["type"] for c in truth["cells"]])
    rates = np.concatenate(
        [m.rates for m in rec.rate_maps_per_animal(bin_cm=5.0, smooth_cm=5.0).values()]
    )
    grid = grid_scores(rates[types == "grid"]).scores
    border, _ = border_scores(rates[types == "border"])
    assert np.all(grid > 0.3), grid
    assert np.all(border > 0.5), border
    # border cells are not grid cells
    assert np.all(grid_scores(rates[types == "border"]).scores < 0.3)


def test_cli_simulate_rat(tmp_path):
    from brainlike.cli import app

    out = tmp_path / "rat"
    args = ["simulate", str(out), "--species", "rat", "--animals", "1", "--minutes", "0.2"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    rec = SpatialRecording.load(out / "recording.nc")
    assert rec.animals == ["rat0"] and len(rec.tracking()["time"]) == 600
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 2 and "--overwrite" in res.output
