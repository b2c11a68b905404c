"""Transfer: linear readouts recover what a layer makes linearly available, and refuse bad
input in one line."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from brainlike.cli import app
from brainlike.evaluation.preconditions import ScoringError
from brainlike.evaluation.scoring_model import ScoringModel
from brainlike.evaluation.transfer import linear_readout, run_transfer, task_images

runner = CliRunner()


class FigureMask(torch.nn.Module):
    """An identity-like front end: the figure's silhouette (pixels whose colour differs from
    their row's median, the background of sky and ground rows), divided by its area, so the
    object's centre is a linear function of it."""

    def __init__(self) -> None:
        super().__init__()
        self.silhouette = torch.nn.Flatten()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        background = x.median(dim=3, keepdim=True).values
        figure = ((x - background).abs().sum(1) > 0.15).float()
        return self.silhouette(figure / figure.sum(dim=(1, 2), keepdim=True))


def _mask_model() -> ScoringModel:
    return ScoringModel(
        model=FigureMask(), name="mask", source="test", in_channels=3, input_size=24
    )


def test_readout_recovers_position_from_a_silhouette_and_nothing_from_noise():
    sm = _mask_model()
    images, target, _ = task_images("position", sm, n_images=800, seed=0)
    features = sm.model(torch.from_numpy(images)).numpy()
    # more training images than the 256 pixels, so the linear map is determined
    train, test = np.arange(600), np.arange(600, 800)
    row = linear_readout(features, target, "continuous", train, test, bootstraps=20)
    # x = sum_u u * p(u): exactly linear, up to the ridge penalty and the mask threshold
    assert row["pearson_r"] > 0.9 and row["value"] > 0.8 and row["chance"] == 0.0
    noise = np.random.default_rng(0).normal(size=features.shape)
    null = linear_readout(noise, target, "continuous", train, test, bootstraps=20)
    assert abs(null["value"]) < 0.1 and abs(null["pearson_r"]) < 0.25


def test_class_readout_accuracy_chance_and_bootstrap_se():
    rng = np.random.default_rng(1)
    labels = np.arange(400) % 4
    # class means 3 s.d. apart on one feature each: near-perfect accuracy
    features = rng.normal(size=(400, 10))
    features[np.arange(400), labels] += 3.0
    train, test = np.arange(300), np.arange(300, 400)
    row = linear_readout(features, labels, "class", train, test, bootstraps=50)
    assert row["metric"] == "accuracy" and row["value"] > 0.85
    assert row["chance"] == pytest.approx(0.25)
    # binomial s.e. sqrt(p (1 - p) / n) for n = 100
    p = row["value"]
    assert row["se"] == pytest.approx(np.sqrt(p * (1 - p) / 100), abs=0.02)


def test_pose_targets_are_symmetry_aware_and_skip_round_shapes():
    from brainlike.data.scenes import render_scenes

    sm = _mask_model()
    _, target, _ = task_images("pose", sm, n_images=100, seed=3)
    lat = render_scenes(100, 16, seed=3).latents
    keep = np.isin(lat["category"], [1, 2, 3])  # square, triangle, cross
    order = np.array([0, 4, 3, 4, 0])[lat["category"][keep]]
    np.testing.assert_allclose(target[:, 0], np.cos(order * lat["pose"][keep]))
    assert len(target) == keep.sum()


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("transfer")
    cfg = root / "tiny.yaml"
    cfg.write_text(
        "name: tiny\n"
        "data: {dataset: digits, input_size: 28, train_size: 400, test_size: 200}\n"
        "model: {kind: lenet}\n"
        "train: {batch_size: 50, epochs: 1, snapshots_per_epoch: 1, device: cpu}\n"
    )
    run = root / "run"
    res = runner.invoke(app, ["train", str(cfg), "--out", str(run), "--no-progress"])
    assert res.exit_code == 0, res.output
    return run


def test_transfer_of_a_run_categorizes_its_own_test_set_and_writes_the_record(digits_run):
    args = ["transfer", str(digits_run), "--task", "categorization,size", "--images", "200"]
    res = runner.invoke(app, [*args, "--bootstraps", "10", "--json"])
    assert res.exit_code == 0, res.output
    record = json.loads(res.stdout)
    assert record["tasks"]["categorization"]["source"] == "digits test set"
    assert record["tasks"]["categorization"]["n_test"] == 50
    cat = [r for r in record["results"] if r["task"] == "categorization"]
    # ten classes (chance about 0.1): a trained LeNet's layers beat it by far
    assert max(r["value"] for r in cat) > cat[0]["chance"] + 0.4
    assert json.loads((digits_run / "transfer.json").read_text())["results"] == record["results"]
    res = runner.invoke(app, [*args])
    assert res.exit_code == 2 and "--overwrite" in res.output


def test_bad_input_is_one_line(digits_run, tmp_path):
    res = runner.invoke(app, ["transfer", "resnet20", "--task", "colour"])
    assert res.exit_code == 2 and "unknown transfer task 'colour'" in res.output
    assert "position" in res.output
    res = runner.invoke(app, ["transfer", str(tmp_path), "--task", "position"])
    assert res.exit_code == 2 and "checkpoints/last.pt" in res.output
    with pytest.raises(ScoringError, match="layer 'nope' is not in"):
        run_transfer(digits_run, ["size"], layers=["nope"], overwrite=True, n_images=40)
    assert not (tmp_path / "transfer.json").exists()
