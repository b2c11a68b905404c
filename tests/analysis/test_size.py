"""Size accounting: parameters, units per layer, the accuracy-units Pareto front, trained runs."""

import json

import numpy as np
import pytest
from torch import nn
from typer.testing import CliRunner

from brainlike.analysis.size import (
    count_parameters,
    count_units,
    expand_run_dirs,
    pareto_front,
    size_table,
)
from brainlike.cli import app


def brute_force_front(points: np.ndarray) -> set[int]:
    """O(n^2): i is on the front unless some j has <= units and >= accuracy, and differs."""
    front = set()
    for i, (u, a) in enumerate(points):
        if np.isnan(u) or np.isnan(a):
            continue
        dominated = any(
            uj <= u and aj >= a and (uj, aj) != (u, a)
            for j, (uj, aj) in enumerate(points)
            if j != i and not (np.isnan(uj) or np.isnan(aj))
        )
        if not dominated:
            front.add(i)
    return front


def test_pareto_front_by_hand():
    # (units, accuracy): 1 dominates 0 (fewer units, same accuracy); 3 and 4 are equal copies
    pts = [(200, 0.5), (100, 0.5), (300, 0.9), (150, 0.7), (150, 0.7), (400, 0.8)]
    assert pareto_front(pts) == [1, 3, 4, 2]
    assert pareto_front([]) == []
    assert pareto_front([(10, float("nan")), (20, 0.1)]) == [1]


@pytest.mark.parametrize("seed", range(20))
def test_pareto_front_matches_brute_force(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    # a coarse grid makes ties in units, in accuracy and in both frequent
    pts = np.column_stack([rng.integers(1, 12, n), rng.integers(0, 8, n) / 8]).astype(float)
    if seed % 4 == 0:
        pts[rng.integers(0, n)] = [5.0, np.nan]
    front = pareto_front(pts)
    assert set(front) == brute_force_front(pts)
    assert len(front) == len(set(front))
    units = pts[front, 0]
    assert np.all(np.diff(units) >= 0)  # left to right
    acc = pts[front, 1]
    assert np.all(np.diff(acc) >= 0)  # more units on the front only for more accuracy


def test_pareto_front_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"\(n, 2\)"):
        pareto_front([1, 2, 3])


class SmallNet(nn.Module):
    """conv 3x3 (1 -> 4, same) + ReLU at 8x8 -> max-pool 2 -> linear 64 -> 10."""

    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.classifier = nn.Linear(64, 10)

    def forward(self, x):
        return self.classifier(self.features(x).flatten(1))


def test_count_units_and_parameters_by_hand():
    net = SmallNet()
    assert count_parameters(net) == (1 * 4 * 9 + 4) + (64 * 10 + 10)
    net.classifier.weight.requires_grad_(False)
    assert count_parameters(net, trainable_only=True) == 40 + 10
    # the conv's unit is its ReLU (4 x 8 x 8), then the pool (4 x 4 x 4), then 10 logits
    assert count_units(net, (1, 8, 8)) == {
        "features.1": 256,
        "features.2": 64,
        "classifier": 10,
    }
    assert count_units(net, (1, 8, 8), ["features.0"]) == {"features.0": 4 * 8 * 8}
    with pytest.raises(ValueError, match="input shape"):
        count_units(net)


def test_count_units_of_a_convrnn_is_one_step_of_each_node():
    from brainlike.models.convrnn import nets

    model = nets.convrnn6(
        in_channels=1,
        out_features=10,
        width=0.0625,
        input_size=32,
        cells="ugrnn",
        time_steps=7,
        t_on=5,
    )
    nodes = [f"nodes.{n}" for n in model.unit_counts((1, 32, 32))]
    units = count_units(model, (1, 32, 32), nodes)
    # conv1 4 x 32 x 32 (small-input stem, no pool), then pooled: 8x16x16, 16x8x8, 16x4x4, 32x2x2
    assert list(units.values()) == [4096, 2048, 1024, 256, 128]
    assert units == {f"nodes.{k}": v for k, v in model.unit_counts((1, 32, 32)).items()}
    assert count_units(model, None, ["readout"]) == {"readout": 10}
    assert count_parameters(model) == model.parameter_count()


# ---------------------------------------------------------------------------------------------
# trained runs and the `pareto` command


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    from brainlike.config import config_from_dict
    from brainlike.train.loop import train

    root = tmp_path_factory.mktemp("runs")
    for label, width in (("narrow", 0.0625), ("wide", 0.125)):
        cfg = config_from_dict(
            {
                "name": label,
                "data": {"dataset": "digits", "input_size": 32, "train_size": 40, "test_size": 20},
                "model": {"kind": "convrnn", "width": width, "time_steps": 7, "t_on": 7},
                "train": {"epochs": 1, "batch_size": 20, "device": "cpu", "threads": 1},
            }
        )
        train(cfg, root / "group" / label, progress=False, analyse=False)
    return root / "group"


NODES = ["nodes.conv1", "nodes.conv2", "nodes.conv3", "nodes.conv4", "nodes.conv5"]


def test_size_table_reads_runs_and_marks_the_front(two_runs):
    runs = expand_run_dirs([two_runs])
    assert [r.name for r in runs] == ["narrow", "wide"]
    rows = size_table(runs, NODES)
    narrow, wide = rows
    assert narrow["units"] == 4096 + 2048 + 1024 + 256 + 128
    assert wide["units"] == 2 * narrow["units"]  # every layer twice as deep, same sides
    assert wide["parameters"] > narrow["parameters"]
    for r in rows:
        summary = json.loads((two_runs / r["name"] / "summary.json").read_text())
        assert r["test_acc"] == pytest.approx(summary["test_acc"])
    # the narrow net is on the front; the wide one only if it is strictly more accurate
    assert narrow["on_front"]
    assert wide["on_front"] == (wide["test_acc"] > narrow["test_acc"])


def test_expand_run_dirs_refuses_a_folder_without_runs(tmp_path):
    with pytest.raises(FileNotFoundError, match="no finished runs"):
        expand_run_dirs([tmp_path])


def test_pareto_command_json_and_plot(two_runs, tmp_path):
    runner = CliRunner()
    runs = [str(two_runs / "narrow"), str(two_runs / "wide")]
    res = runner.invoke(app, ["pareto", *runs, "--layers", ",".join(NODES), "--json"])
    assert res.exit_code == 0, res.output
    rows = json.loads(res.stdout)
    assert [r["units"] for r in rows] == [7552, 15104]
    assert {"run", "parameters", "units", "test_acc", "on_front", "layers"} <= set(rows[0])
    png = tmp_path / "front.png"
    res = runner.invoke(app, ["pareto", str(two_runs), "--plot", str(png)])
    assert res.exit_code == 0, res.output
    assert "units" in res.stdout and png.stat().st_size > 1000
    res = runner.invoke(app, ["pareto", str(tmp_path / "nothing")])
    assert res.exit_code == 2 and "neither a run directory" in res.output
