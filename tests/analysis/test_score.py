"""Score: JSON round trip, NaN handling, percent of ceiling, readable summary."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import brainlike
from brainlike.analysis.score import Score


def _score() -> Score:
    return Score(
        value=0.712,
        error=0.013,
        ceiling=0.84,
        ceiled=0.712 / 0.84,
        convention="noise_corrected",
        metric="noise_corrected_predictivity",
        raw=np.array([0.5, np.nan, 0.9, 0.712]),
        per_split=np.array([0.70, 0.72, np.nan]),
        provenance={"n_neuroids": np.int64(4), "median_reliability": np.float64(np.nan)},
        parameters={"mapping": "pls", "seed": 0, "alphas": np.array([0.1, 1.0])},
    )


def test_round_trip_is_json_safe_and_keeps_nan():
    score = _score()
    d = score.to_dict()
    text = json.dumps(d, allow_nan=False)  # raises if a NaN or numpy type slipped through
    back = Score.from_dict(json.loads(text))
    assert back.value == pytest.approx(0.712)
    assert back.error == pytest.approx(0.013)
    assert back.ceiling == pytest.approx(0.84)
    assert back.ceiled == pytest.approx(0.712 / 0.84)
    np.testing.assert_array_equal(back.raw, score.raw)  # NaN positions preserved
    np.testing.assert_array_equal(back.per_split, score.per_split)
    assert d["raw"][1] is None and d["provenance"]["median_reliability"] is None
    assert back.provenance["n_neuroids"] == 4
    assert back.parameters["alphas"] == [0.1, 1.0]
    assert back.convention == "noise_corrected" and back.metric == score.metric


def test_nan_value_and_missing_fields_round_trip():
    score = Score(value=float("nan"))
    d = score.to_dict()
    assert d["value"] is None and d["error"] is None and d["raw"] is None
    back = Score.from_dict(json.loads(json.dumps(d, allow_nan=False)))
    assert math.isnan(back.value) and math.isnan(back.error)
    assert back.ceiling is None and back.raw is None and back.percent_of_ceiling is None


def test_provenance_records_package_version():
    assert Score(1.0).provenance["brainlike_version"] == brainlike.__version__
    # a stored version is kept when reading back
    old = Score.from_dict({"value": 1.0, "provenance": {"brainlike_version": "0.0.1"}})
    assert old.provenance["brainlike_version"] == "0.0.1"


def test_percent_of_ceiling_and_summary_text():
    score = _score()
    assert score.percent_of_ceiling == pytest.approx(100 * 0.712 / 0.84)
    assert str(score) == (
        "0.712 ± 0.013 (ceiling 0.84, 85 % of ceiling; pls, noise-corrected-predictivity)"
    )
    assert repr(score).startswith("Score(0.712 ± 0.013")
    # ceiling without a ceiled value: value / ceiling
    assert Score(0.4, 0.1, ceiling=0.8).percent_of_ceiling == pytest.approx(50.0)
    assert str(Score(0.25, 0.05)) == "0.250 ± 0.050"


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown Score field"):
        Score.from_dict({"value": 1.0, "centre": 2.0})
    with pytest.raises(ValueError, match="'value'"):
        Score.from_dict({"error": 1.0})


def test_with_ceiling_copies():
    score = Score(0.5, 0.1, provenance={"a": 1})
    ceiled = score.with_ceiling(0.8, 0.625, "ratio")
    assert ceiled.ceiled == 0.625 and ceiled.convention == "ratio"
    ceiled.provenance["a"] = 2
    assert score.provenance["a"] == 1 and score.ceiling is None
