"""The observables recorder in the one training loop (spec learning-rules.md §2): the table, a
run that trains exactly as without it, bit-identical resume, refusals, every model kind."""

import numpy as np
import pytest
import torch
import xarray as xr

from brainlike.analysis.identify.observables import (
    KEPT_STATISTICS,
    ObservableMeter,
    observed_layers,
    statistic_keys,
)
from brainlike.analysis.identify.tables import read_observables
from brainlike.config import config_from_dict
from brainlike.models.zoo import build_from_config
from brainlike.rules.convert import convert
from brainlike.train.checkpoint import load_checkpoint
from brainlike.train.loop import train

COLUMNS = [
    "run", "label", "architecture", "model_kind", "rule", "optimizer", "lr", "momentum",
    "batch_size", "seed", "dataset", "epochs", "steps_per_epoch", "layer", "layer_index",
    "layer_kind", "position", "readout", "units", "inputs", "synapses", "fraction", "noise",
    "recording_seed", "checkpoint", "step", "epoch", "observable", "transform", "statistic",
    "kept", "value",
]  # fmt: skip


@pytest.fixture
def one_thread():
    """Small models on one thread (a second one only waits on a busy machine); set before any
    run, so that every run of a test loads its data with the same thread count."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def observe_config(rule="backprop", epochs=2, optimizer="sgd", **observe):
    """LeNet on 128 digits, batch 32: 4 steps per epoch."""
    return config_from_dict(
        {
            "name": f"obs-{rule}",
            "seed": 2,
            "data": {"dataset": "digits", "input_size": 28, "train_size": 128, "test_size": 40},
            "model": {"kind": "lenet", "locality": {"enabled": False}},
            "rule": {"kind": rule},
            "train": {"optimizer": optimizer, "lr": 0.05, "batch_size": 32, "epochs": epochs,
                      "device": "cpu", "snapshots_per_epoch": 0, "threads": 1},
            "observe": {"enabled": True, "checkpoints": 3, "validation_size": 24, **observe},
        }
    )  # fmt: skip


def test_the_table_and_a_run_that_trains_as_without_it(tmp_path, one_thread):
    recordings = [{}, {"fraction": 0.25, "noise": 0.5, "seed": 7}]
    cfg = observe_config(recordings=recordings, label="bp-sgdm", architecture="lenet5", netcdf=True)
    summary = train(cfg, tmp_path / "run", progress=False, analyse=False)
    table = read_observables(tmp_path / "run")
    assert list(table.columns) == COLUMNS
    assert len(table) == 2 * 5 * 3 * 45 == summary["observables"]["rows"]
    assert summary["observables"]["layers"] == ["features.0", "features.3", "fc1", "head.lp", "out"]
    assert sorted(set(table["step"])) == [0, 4, 8] and sorted(set(table["epoch"])) == [0, 1, 2]
    per_cell = table.groupby(["fraction", "layer", "checkpoint"]).size()
    assert set(per_cell) == {45}
    assert set(table.loc[~table["kept"], "statistic"]) == {"skew", "kurtosis"}
    assert set(table.loc[table["observable"] == "activity_change", "statistic"]) == {"mean"}
    first = table.drop_duplicates("layer").set_index("layer")
    assert list(first["position"]) == ["early", "middle", "deep", "deep", "deep"]
    assert list(first["readout"]) == [False, False, False, False, True]
    assert first.loc["fc1", "units"] == 49 and first.loc["fc1", "inputs"] == 320
    row = table.iloc[0]
    assert (row["label"], row["architecture"], row["rule"], row["optimizer"]) == (
        "bp-sgdm", "lenet5", "backprop", "sgdm"
    )  # fmt: skip
    assert table[table["kept"]]["value"].notna().all()
    w = table[table["observable"] == "weights"]
    assert not np.allclose(
        w[w["checkpoint"] == 0]["value"].to_numpy(), w[w["checkpoint"] == 2]["value"].to_numpy()
    )  # the weights learned
    ds = xr.open_dataset(tmp_path / "run" / "observables.nc")  # the same numbers, labelled
    cell = table[(table["layer"] == "fc1") & (table["checkpoint"] == 2) & (table["fraction"] == 1)
                 & (table["observable"] == "weights") & (table["statistic"] == "median")
                 & (table["transform"] == "abs")]  # fmt: skip
    value = ds["value"].sel(recording="f1-n0-s0", layer="fc1", checkpoint=2, observable="weights",
                            transform="abs", statistic="median")  # fmt: skip
    assert float(value) == pytest.approx(cell["value"].item(), rel=1e-8)
    ds.close()
    # the same run without observe trains to the same weights, bit for bit
    off = cfg.model_copy(update={"observe": cfg.observe.model_copy(update={"enabled": False})})
    train(off, tmp_path / "off", progress=False, analyse=False)
    a = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "off" / "checkpoints" / "last.pt")
    for k in b["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)
    assert "observables" in a and "observables" not in b


def test_resume_with_observe_on_is_bit_identical(tmp_path, one_thread):
    # 5 checkpoints over 8 steps: 0, 2 | 4, 6, 8 (one in the first epoch's middle, two after);
    # information alignment: the rule with the most state of its own (backward optimizer)
    def cfg():
        return observe_config(rule="information_alignment", optimizer="adam", checkpoints=5)

    train(cfg(), tmp_path / "full", progress=False, analyse=False)
    part = train(cfg(), tmp_path / "part", progress=False, analyse=False, stop_after_epochs=1)
    assert not part["complete"] and part["observables"]["checkpoints"] == 3
    train(cfg(), tmp_path / "part", resume=True, progress=False, analyse=False)
    full = (tmp_path / "full" / "observables.csv").read_text()
    assert (tmp_path / "part" / "observables.csv").read_text() == full
    assert len(read_observables(tmp_path / "full")["checkpoint"].unique()) == 5
    a = load_checkpoint(tmp_path / "full" / "checkpoints" / "last.pt")
    b = load_checkpoint(tmp_path / "part" / "checkpoints" / "last.pt")
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0, atol=0)


def test_bad_observe_settings_are_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match="observe.checkpoints is 21, but the run has only 8"):
        train(observe_config(checkpoints=21), tmp_path / "a", progress=False)
    assert not (tmp_path / "a").exists()
    with pytest.raises(ValueError, match="observe.layers names conv9, which the model does not"):
        train(observe_config(layers=["fc1", "conv9"]), tmp_path / "b", progress=False)
    assert not (tmp_path / "b").exists() or not any((tmp_path / "b").iterdir())
    with pytest.raises(ValueError, match="same \\(fraction, noise, seed\\) twice"):
        observe_config(recordings=[{"fraction": 0.5}, {"fraction": 0.5}])


KINDS = {
    "lenet-lp": ({"kind": "lenet"}, 28),
    "alexnet": ({"kind": "alexnet", "grid": 4, "locality": {"enabled": False}}, 64),
    "resnet": ({"kind": "resnet", "depth": 8}, 16),
    "grcnn": ({"kind": "grcnn", "width": 0.25, "iterations": [1, 1, 1, 1]}, 16),
    "convrnn": ({"kind": "convrnn", "width": 0.25, "time_steps": 8, "t_on": 4}, 32),
    "reset": ({"kind": "reset", "master": "small", "master_channels": [8, 8, 8], "execution": "fused",
               "levels": [{"subnets": 4, "outputs": 16, "subnet": "small", "channels": [4, 8]}]},
              16),
}  # fmt: skip


@pytest.mark.parametrize("kind", list(KINDS))
def test_every_model_kind_and_rule_is_measured(kind, one_thread):
    """Every kind is measured, finite in every kept statistic; under feedback alignment (and,
    for the cheap kinds, DFA) the forward map is the same, so are the numbers."""
    model_cfg, size = KINDS[kind]
    cfg = config_from_dict({"model": model_cfg, "data": {"dataset": "digits", "input_size": size}})
    x = torch.randn(2, 1, size, size)
    kept = [k for k, key in enumerate(statistic_keys()) if key[2] in KEPT_STATISTICS]
    rules = ["backprop", "feedback_alignment"]
    if kind in ("lenet-lp", "resnet", "reset"):
        rules.append("direct_feedback_alignment")
    for rule in rules:
        torch.manual_seed(0)
        model = build_from_config(cfg.model, 1, 10, size)
        if rule != "backprop":
            convert(model, rule)
        meter = ObservableMeter()
        values = meter.measure(model, x)
        assert len(meter.info) == len(observed_layers(model)) and meter.info[-1].readout
        assert np.isfinite(values[..., kept]).all()
        if rule == "backprop":
            reference = values
        else:  # the forward map is the rule's too: the same numbers
            np.testing.assert_allclose(values, reference, rtol=1e-5, atol=1e-7, equal_nan=True)
    if kind == "reset":  # the stacked layers' two execution paths measure alike
        for level in model.levels:
            level.execution = "loop"
        loop = ObservableMeter().measure(model, x)
        np.testing.assert_allclose(loop, reference, rtol=1e-4, atol=1e-6, equal_nan=True)
