"""End-to-end scoring: simulate a benchmark from a known brain, score models on it, store results."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from brainlike.evaluation.outputs import record_scores
from brainlike.evaluation.preconditions import ScoringError
from brainlike.evaluation.scoring_model import load_scoring_model
from brainlike.evaluation.simulated import simulate_benchmark
from brainlike.evaluation.static import save_scoring, score_model

FAST = {"n_splits": 3, "n_bootstraps": 4, "progress": False}


@pytest.fixture(scope="module")
def bench(tmp_path_factory):
    """60 rendered digits; V1 and IT recorded from two layers of a random ResNet-20 (seed 0)."""
    out = tmp_path_factory.mktemp("sim")
    return simulate_benchmark(
        out,
        brain="resnet20",
        brain_seed=0,
        areas={"V1": "layer1.0", "IT": "layer3.2"},
        n_per_digit=8,
        n_animals=3,
        units_per_animal=12,
        n_trials=6,
        noise_sd=0.5,
    )


def test_simulated_benchmark_files_and_truth(bench):
    from brainlike.data.recordings import read_recording, read_stimulus_set

    rec = read_recording(bench["recording"])
    assert rec.sizes["stimulus"] == 80 and rec.sizes["neuroid"] == 2 * 3 * 12
    assert rec.sizes["trial"] == 6
    assert sorted(set(map(str, rec.coords["region"].values))) == ["IT", "V1"]
    stim = read_stimulus_set(bench["stimuli"])
    assert set(stim.ids) == set(map(str, rec.coords["stimulus_id"].values))
    truth = json.loads((Path(bench["recording"]).parent / "ground_truth.json").read_text())
    assert truth["areas"] == {"V1": "layer1.0", "IT": "layer3.2"}
    # Signal s.d. 1, noise s.d. 0.5, 6 trials: SB reliability = 1 / (1 + 0.25 / 6) = 0.96.
    assert truth["expected_reliability_median"] == pytest.approx(0.96, abs=0.01)


def test_generating_layer_reaches_the_ceiling_and_mismatched_stimuli_score_nothing(bench, tmp_path):
    layers = ["layer1.0", "layer3.2"]
    brain = score_model(
        "resnet20",
        bench["recording"],
        layers=layers,
        mapping="ridge",
        cache_dir=tmp_path / "cache",
        **FAST,
    )
    # The brain's own layer, scored with the mapping class of the ceiling, sits at the ceiling.
    for region, layer in (("V1", "layer1.0"), ("IT", "layer3.2")):
        pct = brain.percent_of_ceiling(region, layer)
        assert 80 <= pct <= 125, (region, layer, pct)
    # The same model shown the wrong image for every stimulus id explains nothing.
    csv = Path(bench["stimuli"])
    lines = csv.read_text().splitlines()
    header, body = lines[0], lines[1:]
    cols = header.split(",")
    fname = cols.index("filename")
    rows_ = [line.split(",") for line in body]
    files = [r[fname] for r in rows_]
    rng = np.random.default_rng(0)
    for r, f in zip(rows_, rng.permutation(files), strict=True):
        r[fname] = f
    shuffled = csv.parent / "shuffled.csv"
    shuffled.write_text("\n".join([header] + [",".join(r) for r in rows_]) + "\n")
    wrong = score_model(
        "resnet20",
        bench["recording"],
        stimuli=shuffled,
        layers=layers,
        mapping="ridge",
        cache_dir=tmp_path / "cache",
        **FAST,
    )
    for region, layer in (("V1", "layer1.0"), ("IT", "layer3.2")):
        assert abs(wrong.scores[(region, layer)].value) < 0.3
    # The ceiling does not depend on the model.
    assert wrong.ceilings["V1"].value == pytest.approx(brain.ceilings["V1"].value)

    rows = brain.rows()
    assert brain.regions == ["V1", "IT"]  # the recording's order, not alphabetical
    assert [r["region"] for r in rows] == ["V1", "V1", "IT", "IT"]
    assert sum(r["best"] for r in rows) == 2
    files = save_scoring(brain, tmp_path / "out")
    saved = json.loads(open(files["scores"]).read())
    assert saved["best_layer"] == {"V1": brain.best_layer("V1"), "IT": brain.best_layer("IT")}
    assert saved["settings"]["n_splits"] == 3
    assert open(files["profile"], "rb").read(8) == b"\x89PNG\r\n\x1a\n"


def test_scores_go_to_the_database_and_the_leaderboard(bench, tmp_path):
    from brainlike.results import ResultsDB
    from brainlike.results.leaderboard import leaderboard

    result = score_model(
        "resnet20",
        bench["recording"],
        layers=["layer1.0", "layer2.0"],
        regions=["V1"],
        mapping="ridge",
        cache_dir=tmp_path / "cache",
        **FAST,
    )
    db = ResultsDB(f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert record_scores(result, db) == 2
    rows = db.query(model="resnet20")
    assert {r["layer"] for r in rows} == {"layer1.0", "layer2.0"}
    from brainlike.evaluation.outputs import recording_digest

    assert {r["recording_hash"] for r in rows} == {recording_digest(bench["recording"])}
    board = leaderboard(db).to_records()
    assert len(board) == 1
    best = max(result.scores[("V1", lay)].value for lay in ("layer1.0", "layer2.0"))
    (cell,) = board[0]["scores"]
    assert cell["value"] == pytest.approx(best)
    assert cell["layer"] == result.best_layer("V1")
    assert cell["ceiling"] == pytest.approx(result.ceilings["V1"].value)


def test_brainscore_metric_records_its_convention(bench, tmp_path):
    result = score_model(
        "resnet20",
        bench["recording"],
        layers=["layer1.0"],
        regions=["V1"],
        metric="brainscore",
        mapping="ridge",
        convention="ratio",
        train_fraction=0.8,
        cache_dir=tmp_path / "cache",
        **FAST,
    )
    s = result.scores[("V1", "layer1.0")]
    assert s.convention == "ratio"
    assert s.ceiled == pytest.approx(s.value / s.ceiling)


def test_clear_errors(bench, tmp_path):
    with pytest.raises(ScoringError, match="registered models"):
        load_scoring_model("no-such-model")
    with pytest.raises(ScoringError, match="choose one of"):
        score_model("resnet20", bench["recording"], metric="accuracy", **FAST)
    with pytest.raises(ScoringError, match="lower --train-fraction"):
        score_model("resnet20", bench["recording"], metric="brainscore", **FAST)
    with pytest.raises(ScoringError, match="not in the recording"):
        score_model("resnet20", bench["recording"], regions=["MT"], **FAST)
    with pytest.raises(ScoringError, match="--stimuli"):
        score_model("resnet20", bench["recording"], stimuli=tmp_path / "nothing.csv", **FAST)


def test_nwb_benchmark_scores_end_to_end(tmp_path):
    out = simulate_benchmark(
        tmp_path / "nwb",
        areas={"IT": "layer3.2"},
        n_per_digit=6,
        n_animals=2,
        units_per_animal=10,
        n_trials=4,
        noise="poisson",
        fmt="nwb",
    )
    assert out["recording"].endswith(".nwb")
    result = score_model(
        "resnet20",
        out["recording"],
        layers=["layer3.2"],
        mapping="ridge",
        cache_dir=tmp_path / "cache",
        **FAST,
    )
    assert result.regions == ["IT"]
    assert np.isfinite(result.scores[("IT", "layer3.2")].value)

    # --time-window on spike times is the counting window: the simulated spikes fall 70-170 ms
    # after onset, so that window reproduces the default count and a narrower one does not
    def windowed(window):
        return score_model(
            "resnet20",
            out["recording"],
            layers=["layer3.2"],
            mapping="ridge",
            cache_dir=tmp_path / "cache",
            time_window=window,
            **FAST,
        )

    same = windowed((70.0, 170.0))
    assert same.scores[("IT", "layer3.2")].value == result.scores[("IT", "layer3.2")].value
    assert same.settings["time_window"] == [70.0, 170.0]
    early = windowed((70.0, 120.0)).scores[("IT", "layer3.2")].value
    assert np.isfinite(early) and early != result.scores[("IT", "layer3.2")].value


def test_recurrent_model_on_a_static_recording_is_averaged_over_its_unroll(tmp_path):
    from brainlike.evaluation.scoring_model import ScoringModel
    from brainlike.evaluation.simulated import simulate_benchmark
    from brainlike.evaluation.static import score_model
    from brainlike.models.convrnn import nets

    bench = simulate_benchmark(
        tmp_path / "sim",
        n_per_digit=3,
        n_animals=2,
        units_per_animal=6,
        n_trials=4,
        areas={"IT": "layer3.0"},
    )
    net = nets.convrnn6(
        in_channels=1,
        out_features=10,
        width=0.125,
        input_size=32,
        cells="ugrnn",
        time_steps=8,
        t_on=6,
    ).eval()
    sm = ScoringModel(model=net, name="convrnn", source="test", in_channels=1, input_size=32)
    result = score_model(
        sm,
        bench["recording"],
        n_splits=2,
        n_bootstraps=2,
        progress=False,
        cache_dir=tmp_path / "cache",
    )
    assert result.layers[:5] == [f"nodes.conv{i}" for i in range(1, 6)]
    assert result.settings["model_time_steps_averaged"] == 8
    assert all(np.isfinite(result._value("IT", layer)) for layer in result.layers[:5])


def test_regions_come_in_the_recordings_order():
    import xarray as xr

    from brainlike.evaluation.preconditions import _chosen_regions

    rec = xr.DataArray(
        np.zeros((2, 4, 2)),
        dims=("stimulus", "neuroid", "trial"),
        coords={"region": ("neuroid", ["V4", "V4", "IT", "IT"])},
    )
    assert _chosen_regions(rec, None) == ["V4", "IT"]
    assert _chosen_regions(rec, ["IT", "V4"]) == ["IT", "V4"]


def test_averaging_every_time_bin_keeps_the_recordings_identity():
    """A time-binned recording scored without --time-window keeps its identifier (the
    benchmark's name), as averaging over a window does (xarray before 2025 dropped attributes
    in reductions unless asked to keep them)."""
    from brainlike.data.recordings import make_recording
    from brainlike.evaluation.static import _average_time

    data = np.arange(2 * 3 * 2 * 4, dtype=float).reshape(2, 3, 2, 4)
    rec = make_recording(
        data,
        stimulus_ids=["a", "b"],
        time_bins=[(0, 10), (10, 20), (20, 30), (30, 40)],
        identifier="dicarlo.V4",
        min_trials=2,
    )
    whole = _average_time(rec, None)
    window = _average_time(rec, (0.0, 40.0))
    assert whole.attrs["identifier"] == window.attrs["identifier"] == "dicarlo.V4"
    np.testing.assert_array_equal(whole.values, data.mean(axis=-1))
    np.testing.assert_array_equal(window.values, data.mean(axis=-1))


def test_brainscore_metric_defaults_to_brainscore_seed(bench, tmp_path):
    """Brain-Score draws splits and ceiling halvings with seed 1; so does --metric brainscore."""
    kwargs = {"layers": ["layer1.0"], "regions": ["V1"], "mapping": "ridge"}
    kwargs |= {"metric": "brainscore", "train_fraction": 0.8, "cache_dir": tmp_path / "cache"}
    default = score_model("resnet20", bench["recording"], **kwargs, **FAST)
    one = score_model("resnet20", bench["recording"], seed=1, **kwargs, **FAST)
    zero = score_model("resnet20", bench["recording"], seed=0, **kwargs, **FAST)
    assert default.settings["seed"] == 1 and zero.settings["seed"] == 0
    s, s1, s0 = (r.scores[("V1", "layer1.0")] for r in (default, one, zero))
    assert s.value == pytest.approx(s1.value, abs=0) and s.ceiling == pytest.approx(s1.ceiling)
    assert s.value != pytest.approx(s0.value, abs=1e-9)
    assert s.parameters["seed"] == 1 and default.ceilings["V1"].parameters["seed"] == 1
    assert default.settings["split_half"] == "unequal" and s.parameters["split_half"] == "unequal"


def _one_animal_recording(bench, tmp_path, n_stimuli=None, n_trials=None):
    from brainlike.data.recordings import read_recording, select_neuroids, write_recording

    rec = read_recording(bench["recording"])
    first = str(rec.coords["animal"].values[0])
    rec = select_neuroids(rec, animal=first)
    if n_stimuli is not None:
        rec = rec.isel(stimulus=slice(0, n_stimuli))
    if n_trials is not None:
        rec = rec.isel(trial=slice(0, n_trials))
    name = f"one_animal-{n_stimuli}-{n_trials}.nc"
    return write_recording(rec, tmp_path / name)


@pytest.fixture
def no_model_runs(monkeypatch):
    """Any attempt to show the model an image fails the test."""
    import brainlike.analysis.activations as activations

    def refuse(*args, **kwargs):
        raise AssertionError("the model ran before the recording was checked")

    monkeypatch.setattr(activations, "extract_activations", refuse)


def test_every_metric_checks_the_recording_before_the_model_runs(bench, tmp_path, no_model_runs):
    one = _one_animal_recording(bench, tmp_path)
    stim = bench["stimuli"]
    with pytest.raises(ScoringError, match=r"area (V1|IT) has 1; use --metric plain"):
        score_model("resnet20", one, stimuli=stim, **FAST)
    few = _one_animal_recording(bench, tmp_path, n_stimuli=4)
    for metric, split in (("plain", "leave 2 for training and 2"), ("brainscore", "leaves 3 for")):
        with pytest.raises(ScoringError, match=split):
            score_model("resnet20", few, stimuli=stim, metric=metric, **FAST)
    with pytest.raises(ScoringError, match=r"--metric plain \(split-half reliability\) needs"):
        score_model("resnet20", _one_animal_recording(bench, tmp_path, n_trials=1), metric="plain",
                    stimuli=stim, **FAST)  # fmt: skip
    with pytest.raises(ScoringError, match="lower --train-fraction"):
        score_model("resnet20", one, stimuli=stim, metric="brainscore", **FAST)


def test_plain_metric_scores_a_one_animal_recording(bench, tmp_path):
    one = _one_animal_recording(bench, tmp_path)
    kwargs = {"layers": ["layer1.0"], "mapping": "ridge", "cache_dir": tmp_path / "cache"}
    result = score_model(
        "resnet20", one, stimuli=bench["stimuli"], metric="plain", **kwargs, **FAST
    )
    for region in result.regions:
        s = result.scores[(region, "layer1.0")]
        assert np.isfinite(s.value) and s.parameters["split_half"] == "unequal"
        assert np.isnan(result.ceilings[region].value)  # no animal to compare with
    assert sorted(result.settings["no_ceiling"]) == sorted(result.regions)
    # the plain score of an area does not depend on the other animals being there
    full = score_model("resnet20", bench["recording"], metric="plain", **kwargs, **FAST)
    assert full.settings["no_ceiling"] == []
    assert np.isfinite(full.ceilings["V1"].value)


def test_split_half_option_reaches_every_score(bench, tmp_path):
    result = score_model(
        "resnet20",
        bench["recording"],
        layers=["layer1.0"],
        regions=["V1"],
        mapping="ridge",
        split_half="equal",
        cache_dir=tmp_path / "cache",
        **FAST,
    )
    assert result.settings["split_half"] == "equal"
    assert result.scores[("V1", "layer1.0")].parameters["split_half"] == "equal"
    assert result.ceilings["V1"].parameters["split_half"] == "equal"
    with pytest.raises(ScoringError, match="split-half convention"):
        score_model("resnet20", bench["recording"], split_half="odd", **FAST)


def test_scoring_an_unfinished_run_says_which_epoch(bench, tmp_path):
    from brainlike.config import config_from_dict
    from brainlike.evaluation.scoring_model import IncompleteRunWarning
    from brainlike.results import ResultsDB
    from brainlike.train.loop import train

    cfg = config_from_dict(
        {
            "name": "tiny",
            "data": {"dataset": "digits", "input_size": 8, "train_size": 100, "test_size": 50},
            "model": {
                "levels": [{"subnets": 4, "outputs": 16, "subnet": "small", "channels": [4]}],
                "master": "small",
                "master_channels": [8],
            },
            "train": {"batch_size": 50, "epochs": 3, "snapshots_per_epoch": 1, "device": "cpu"},
        }
    )
    run = tmp_path / "run"
    train(cfg, run, progress=False, analyse=False, stop_after_epochs=2)  # as if killed
    with pytest.warns(IncompleteRunWarning, match=r"stopped after epoch 2 of 3; scoring its "
                      r"epoch-2 checkpoint"):  # fmt: skip
        sm = load_scoring_model(run)
    assert sm.details["epoch"] == 2 and sm.details["total_epochs"] == 3
    assert sm.details["complete"] is False
    with pytest.warns(IncompleteRunWarning, match="the run of checkpoint"):
        load_scoring_model(run / "checkpoints" / "last.pt")
    # the database row says which checkpoint was scored, at which epoch, and that it was partial
    with pytest.warns(IncompleteRunWarning):
        partial = score_model(run, bench["recording"], layers=["master"], mapping="ridge",
                              regions=["IT"], cache_dir=tmp_path / "cache", **FAST)  # fmt: skip
    db = ResultsDB(f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert record_scores(partial, db) == 1
    row = db.query()[0]
    assert row["checkpoint"] == str(run / "checkpoints" / "last.pt")
    assert row["extra"]["checkpoint_epoch"] == 2 and row["extra"]["checkpoint_complete"] is False
    train(cfg, run, resume=True, progress=False, analyse=False)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error", IncompleteRunWarning)
        sm = load_scoring_model(run)
    assert (sm.details["epoch"], sm.details["total_epochs"], sm.details["complete"]) == (3, 3, True)


def test_temporal_scoring_checks_the_recording_before_the_model_runs(
    bench, tmp_path, no_model_runs
):
    from brainlike.data.recordings import make_recording, read_recording, write_recording
    from brainlike.evaluation.temporal import score_temporal

    one = read_recording(_one_animal_recording(bench, tmp_path))
    binned = make_recording(
        np.repeat(one.values[..., None], 3, axis=-1),
        stimulus_ids=one.coords["stimulus_id"].values,
        animal=one.coords["animal"].values.astype(str),
        region=one.coords["region"].values.astype(str),
        time_bins=[(0, 10), (10, 20), (20, 30)],
        identifier="one-animal-binned",
        min_trials=2,
    )
    path = write_recording(binned, tmp_path / "binned.nc")
    with pytest.raises(ScoringError, match=r"per-bin inter-animal ceiling.* has 1; score without"):
        score_temporal("convrnn6-small", path, stimuli=bench["stimuli"], **FAST)
