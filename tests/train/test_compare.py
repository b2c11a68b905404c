"""The locality-prior comparison end to end on a tiny offline run."""

import json

import numpy as np
import pytest
from scipy import stats
from typer.testing import CliRunner

from brainlike.cli import _print_comparison, app
from brainlike.config import config_from_dict
from brainlike.train.compare import compare_locality, paired_over_seeds


def tiny_lp_config(**model):
    return config_from_dict(
        {
            "name": "tiny-lp",
            "data": {"dataset": "digits", "input_size": 28, "train_size": 200, "test_size": 100},
            "model": {"kind": "lenet", **model},
            "train": {
                "optimizer": "sgd",
                "lr": 0.05,
                "momentum": 0.5,
                "batch_size": 50,
                "epochs": 1,
                "snapshots_per_epoch": 1,
                "device": "cpu",
            },
            "analysis": {"n_shuffles": 10},
        }
    )


def test_compare_trains_both_models_per_seed_and_reports_every_number(tmp_path):
    res = compare_locality(
        tiny_lp_config(),
        tmp_path / "cmp",
        seeds=[0, 1],
        progress=False,
        prune_fractions=(0.0, 0.5, 0.9),
    )
    assert sorted(res["runs"]) == [
        "control-seed0",
        "control-seed1",
        "locality-seed0",
        "locality-seed1",
    ]
    s = res["summary"]
    assert s["uniform_variance"] == pytest.approx(49 / 6)  # spec: about 8.17 for 7x7
    for key in (
        "test_acc_locality",
        "test_acc_control",
        "lp_out_variance_locality",
        "wiring_length_control",
    ):
        assert len(s[key]["values"]) == 2 and np.isfinite(s[key]["mean"])
    assert s["t_lp_out_images_pooled"]["n"] == 200  # 100 test images x 2 seeds
    assert s["t_lp_out_classes_pooled"]["n"] == 20
    assert "not independent" in s["t_lp_out_images_pooled"]["label"]
    # the primary test is over seeds, on each seed's mean class variance
    primary = s["t_lp_out_seeds"]
    assert primary["n"] == 2 and primary["label"] == "paired over seeds, n = 2"
    loc = s["lp_out_variance_locality"]["values"]
    ctl = s["lp_out_variance_control"]["values"]
    assert primary["t"] == pytest.approx(stats.ttest_rel(loc, ctl).statistic)
    # the prior shrinks long connections, so the locality layer is wired shorter than its control
    assert s["wiring_length_locality"]["mean"] < s["wiring_length_control"]["mean"]
    prune = res["per_seed"][0]["locality"]["pruning"]
    assert [r["fraction"] for r in prune] == [0.0, 0.5, 0.9]
    assert prune[0]["kept_connections"] == 49 * 49
    assert prune[1]["kept_connections"] == pytest.approx(49 * 49 / 2, abs=2)
    assert prune[0]["wiring_length_saved"] == 0.0 and 0 < prune[2]["wiring_length_saved"] <= 1
    saved = json.loads((tmp_path / "cmp" / "compare.json").read_text())
    assert saved["summary"]["uniform_variance"] == pytest.approx(49 / 6)
    assert (tmp_path / "cmp" / "class_maps.png").is_file() and (
        tmp_path / "cmp" / "pruning.png"
    ).is_file()


def test_compare_refuses_a_config_without_a_locality_model(tmp_path):
    with pytest.raises(ValueError, match="locality.enabled is false"):
        compare_locality(
            tiny_lp_config(locality={"enabled": False}), tmp_path / "x", seeds=[0], progress=False
        )
    reset = config_from_dict({"model": {"levels": [{"subnets": 4, "outputs": 16}]}})
    with pytest.raises(ValueError, match="lenet or alexnet"):
        compare_locality(reset, tmp_path / "y", seeds=[0], progress=False)


def test_compare_command_rejects_bad_seeds(tmp_path):
    res = CliRunner().invoke(
        app, ["compare", "lp-lenet-digits", "--seeds", "a,b", "--out", str(tmp_path / "c")]
    )
    assert res.exit_code == 2 and "comma-separated integers" in res.output


def test_the_test_over_seeds_is_scipys_paired_t_test_on_per_seed_values():
    locality = [3.1, 2.7, 2.9]  # one mean spatial variance per seed
    control = [4.0, 3.9, 4.4]
    res = paired_over_seeds(locality, control)
    ref = stats.ttest_rel(locality, control)
    assert res["available"] and res["n"] == 3 and res["label"] == "paired over seeds, n = 3"
    assert res["t"] == pytest.approx(ref.statistic) and res["p"] == pytest.approx(ref.pvalue)
    assert res["mean_difference"] == pytest.approx((-0.9 - 1.2 - 1.5) / 3)
    # by hand: differences -0.9, -1.2, -1.5 have mean -1.2 and s.d. 0.3, so t = -1.2 / (0.3 / sqrt 3)
    assert res["t"] == pytest.approx(-1.2 / (0.3 / np.sqrt(3)))


def test_one_seed_says_the_test_over_seeds_is_not_available():
    res = paired_over_seeds([3.1], [4.0])
    assert not res["available"] and res["t"] is None and res["p"] is None
    assert "at least 2 seeds" in res["reason"]
    with pytest.raises(ValueError, match="equal length"):
        paired_over_seeds([1.0, 2.0], [1.0])


def _fake_comparison(n_seeds: int) -> dict:
    rng = np.random.default_rng(0)
    loc, ctl = rng.normal(3, 0.3, n_seeds), rng.normal(4, 0.3, n_seeds)

    def agg(v):
        sem = float(np.std(v, ddof=1) / np.sqrt(len(v))) if len(v) > 1 else None
        return {"mean": float(np.mean(v)), "sem": sem, "values": list(map(float, v))}

    keys = [
        f"{m}_{v}"
        for m in (
            "test_acc",
            "lp_in_variance",
            "lp_out_variance",
            "shuffled_null_lp_out",
            "clustering_lp_out",
            "smoothness_lp_out",
            "wiring_length",
        )
        for v in ("locality", "control")
    ]
    summary = {k: agg(loc) for k in keys}
    summary["uniform_variance"] = 49 / 6
    summary["t_lp_out_seeds"] = paired_over_seeds(loc, ctl)
    summary["t_lp_in_seeds"] = paired_over_seeds(loc, ctl)
    pooled = {"label": "images x seeds pooled, n = 720; not independent", "n": 720}
    summary["t_lp_out_images_pooled"] = {**pooled, "t": -9.0, "p": 1e-12, "mean_difference": -1}
    summary["t_lp_out_classes_pooled"] = {**pooled, "t": -3.0, "p": 1e-3, "mean_difference": -1}
    summary["t_lp_in_classes_pooled"] = {**pooled, "t": -3.0, "p": 1e-3, "mean_difference": -1}
    prune = [{"fraction": 0.0, "accuracy": 0.9, "wiring_length_saved": 0.0}]
    per_seed = [
        {"seed": k, "locality": {"pruning": prune}, "control": {"pruning": prune}}
        for k in range(n_seeds)
    ]
    return {
        "name": "x",
        "seeds": list(range(n_seeds)),
        "summary": summary,
        "per_seed": per_seed,
        "figures": {},
        "wall_seconds": 1.0,
    }


def test_the_printed_comparison_leads_with_the_test_over_seeds(capsys):
    _print_comparison(_fake_comparison(3))
    out = capsys.readouterr().out
    assert "LP output, paired over seeds, n = 3: t =" in out
    assert "images x seeds pooled, n = 720; not independent" in out
    assert out.index("paired over seeds") < out.index("pooled")
    _print_comparison(_fake_comparison(1))
    out = capsys.readouterr().out
    assert "nan" not in out.lower()
    assert "paired over seeds, n = 1: not available" in out
