"""The score table: raw, ceiling and ceiled values with their errors, the best layer and the
layers that cannot be told apart from it, and where the table goes: ``scores.json`` and the
results database (hand-built results, no model)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brainlike.evaluation.outputs import record_scores
from brainlike.evaluation.preconditions import ScoringError
from brainlike.evaluation.static import save_scoring

# --- results, their definitions and the best layer's uncertainty (hand-built, no model) -------

NC_PROV = {"center": "median over neuroids", "error": "s.e.m. over neuroids"}


def _hand_result(per_split, values, *, metric="noise-corrected", train_fraction=0.5, **kw):
    """One area (IT), layers A, B, C with the given per-split and centre values."""
    from brainlike.analysis.score import Score
    from brainlike.evaluation.score_table import ScoringResult

    layers = list(values)
    scores = {
        ("IT", lay): Score(
            value=values[lay], error=0.01, per_split=np.array(per_split[lay]), provenance=NC_PROV
        )
        for lay in layers
    }
    ceiling = Score(value=0.8, error=0.04, provenance={"center": "pooled", "error": "s.e.m. c"})
    return ScoringResult(
        model="m",
        benchmark="b",
        metric=metric,
        mapping="pls",
        layers=layers,
        regions=["IT"],
        scores=scores,
        ceilings={"IT": ceiling},
        settings={
            "train_fraction": train_fraction,
            "n_splits": 4,
            "seed": 1,
            "numerator": "halves",
            "ceiling": "inter-animal consistency",
            **kw,
        },
        provenance={"recording_sha256": "ab" * 32},
    )


SPLITS = {
    "A": [0.50, 0.52, 0.48, 0.50],  # best
    "B": [0.49, 0.52, 0.47, 0.50],  # d = 0.01, 0, 0.01, 0: within noise of A
    "C": [0.30, 0.33, 0.29, 0.31],  # d = 0.20, 0.19, 0.19, 0.19: clearly worse
}
CENTRES = {"A": 0.50, "B": 0.495, "C": 0.31}


def test_layers_indistinguishable_from_the_best_by_a_paired_corrected_comparison():
    result = _hand_result(SPLITS, CENTRES)
    cmp = result.layer_comparison("IT")
    factor = np.sqrt(1 / 4 + 0.5 / 0.5)  # Nadeau-Bengio: 1/n + n_test/n_train
    # B: mean d 0.005, sd(d) = 0.005 * 2 / sqrt(3); 0.005 <= 2 * 0.00645
    assert cmp["B"]["difference_from_best"] == pytest.approx(0.005)
    assert cmp["B"]["difference_se"] == pytest.approx(0.005 * 2 / np.sqrt(3) * factor)
    assert cmp["B"]["difference_se"] == pytest.approx(0.0064550, abs=1e-6)
    assert cmp["B"]["indistinguishable_from_best"] is True
    # C: mean d 0.1925, sd(d) 0.005, SE 0.00559: far more than 2 SE below the best
    assert cmp["C"]["difference_from_best"] == pytest.approx(0.1925)
    assert cmp["C"]["difference_se"] == pytest.approx(0.005 * factor)
    assert cmp["C"]["indistinguishable_from_best"] is False
    assert cmp["A"]["indistinguishable_from_best"] is True and cmp["A"]["n_splits"] == 4
    # spread over splits: sd of 0.50, 0.52, 0.48, 0.50 = sqrt(0.0008 / 3)
    assert cmp["A"]["split_sd"] == pytest.approx(np.sqrt(0.0008 / 3))
    assert result.indistinguishable_layers("IT") == ["A", "B"]
    saved = result.to_dict()
    assert saved["indistinguishable_from_best"] == {"IT": ["A", "B"]}
    assert "Nadeau & Bengio" in saved["settings"]["best_layer_criterion"]
    rows = {r["layer"]: r for r in saved["rows"]}
    assert rows["C"]["indistinguishable_from_best"] is False and rows["A"]["best"]
    # a clearly better best: every other layer is told apart
    clear = _hand_result({"A": SPLITS["A"], "C": SPLITS["C"]}, {"A": 0.50, "C": 0.31})
    assert clear.indistinguishable_layers("IT") == ["A"]


def test_raw_ceiling_and_ceiled_each_carry_their_own_error():
    from brainlike.analysis.neural import ceiled_score
    from brainlike.analysis.score import Score

    result = _hand_result(SPLITS, CENTRES)
    # noise-corrected: ceiled = raw / ceiling, its error raw error / ceiling
    assert result.measures("IT", "A") == pytest.approx(
        {
            "raw": 0.50,
            "raw_error": 0.01,
            "ceiling": 0.8,
            "ceiling_error": 0.04,
            "ceiled": 0.625,
            "ceiled_error": 0.0125,
        }
    )
    assert result.percent_of_ceiling("IT", "A") == pytest.approx(62.5)
    defs = result.definitions()
    assert defs["errors"] == {
        "raw": "s.e.m. over neuroids",
        "ceiling": "s.e.m. c",
        "ceiled": "raw error / ceiling (the ceiling held fixed)",
    }
    assert defs["values"]["ceiled"] == "raw / ceiling"
    # brainscore: r2_over_ceiling, ceiled error carried through d(r^2/c)/dr = 2r/c
    bs = _hand_result(SPLITS, CENTRES, metric="brainscore", convention="r2_over_ceiling")
    for lay in bs.layers:
        s = bs.scores[("IT", lay)]
        bs.scores[("IT", lay)] = ceiled_score(
            Score(value=s.value, error=0.02, per_split=s.per_split, provenance=NC_PROV),
            0.8,
            "r2_over_ceiling",
        )
    m = bs.measures("IT", "A")
    assert m["raw"] == 0.5 and m["raw_error"] == 0.02 and m["ceiling_error"] == 0.04
    assert m["ceiled"] == pytest.approx(0.25 / 0.8)
    assert m["ceiled_error"] == pytest.approx(2 * 0.5 / 0.8 * 0.02)
    assert "r2_over_ceiling" in bs.definitions()["values"]["ceiled"]
    # per-split values in the ranked unit (ceiled): d for C = (r_A^2 - r_C^2) / 0.8 per split
    d = (np.array(SPLITS["A"]) ** 2 - np.array(SPLITS["C"]) ** 2) / 0.8
    assert bs.layer_comparison("IT")["C"]["difference_from_best"] == pytest.approx(d.mean())


def test_scores_json_is_never_overwritten_and_the_database_row_knows_its_recording(tmp_path):
    import hashlib

    from brainlike.evaluation.outputs import recording_digest, score_output_dir
    from brainlike.results import ResultsDB

    result = _hand_result(SPLITS, CENTRES)
    files = save_scoring(result, tmp_path / "s")
    with pytest.raises(ScoringError, match="--overwrite"):
        save_scoring(result, tmp_path / "s")
    assert save_scoring(result, tmp_path / "s", overwrite=True) == files
    saved = json.loads(Path(files["scores"]).read_text())
    row = saved["rows"][0]
    for key in ("raw", "raw_error", "ceiling", "ceiling_error", "ceiled", "ceiled_error"):
        assert key in row
    assert set(saved["definitions"]["errors"]) == {"raw", "ceiling", "ceiled"}

    db = ResultsDB(f"sqlite:///{tmp_path / 'r.sqlite'}")
    record_scores(result, db)
    rows = {r["layer"]: r for r in db.query()}
    assert rows["A"]["recording_hash"] == "ab" * 32
    assert rows["A"]["ceiled"] == pytest.approx(0.625) and rows["A"]["convention"] == "ratio"
    assert rows["A"]["extra"]["ceiled_error"] == pytest.approx(0.0125)
    assert json.loads(rows["A"]["variant"]) == {
        "ceiling": "inter-animal consistency",
        "numerator": "halves",
        "train_fraction": 0.5,
    }

    rec = tmp_path / "rec.nc"
    rec.write_bytes(b"recording bytes")
    digest = hashlib.sha256(b"recording bytes").hexdigest()
    assert recording_digest(rec) == digest
    assert score_output_dir("resnet20@seed1", "sim IT", digest, "noise-corrected", "pls") == (
        Path("runs") / "scores" / "resnet20_seed1" / f"sim_IT-{digest[:8]}" / "noise-corrected-pls"
    )
