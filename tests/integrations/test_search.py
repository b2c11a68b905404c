"""Optuna TPE search: trials in the storage, studies continued, invalid trials kept, CLI."""

import json
import multiprocessing

import optuna
import pytest
import yaml
from typer.testing import CliRunner

from brainlike.cli import app
from brainlike.config import config_from_dict
from brainlike.integrations.search import (
    SearchConfigError,
    load_search,
    run_search,
    sample_experiment,
)

TINY_BASE = {
    "name": "tiny-convrnn",
    "data": {"dataset": "digits", "input_size": 32, "train_size": 40, "test_size": 20},
    "model": {"kind": "convrnn", "width": 0.0625, "time_steps": 7, "t_on": 7},
    "train": {"epochs": 1, "batch_size": 20, "device": "cpu", "threads": 1},
}
NODES = ["nodes.conv1", "nodes.conv2", "nodes.conv3", "nodes.conv4", "nodes.conv5"]


def write_search(tmp_path, name="tiny", space=None, base=None, **extra):
    spec = {
        "name": name,
        "base": base if base is not None else TINY_BASE,
        "n_trials": 3,
        "epochs": 1,
        "seed": 0,
        "startup_trials": 2,
        "units_layers": NODES,
        "space": space
        or {
            "cells": {"layers": ["conv5"], "kinds": ["none", "ugrnn"]},
            "feedback": [["conv5", "conv4"]],
            "params": {"train.lr": {"type": "float", "low": 1e-3, "high": 1e-2, "log": True}},
        },
        **extra,
    }
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def test_search_records_trials_and_continues_the_study(tmp_path):
    path = write_search(tmp_path)
    out = tmp_path / "out"
    url = f"sqlite:///{tmp_path / 'study.sqlite'}"
    lines = []
    summary = run_search(path, out, storage=url, log=lines.append)
    assert summary["n_trials"] == 3 and summary["states"] == {"complete": 3}
    assert len(lines) == 3 and lines[0].startswith("trial 0: test acc")

    study = optuna.load_study(study_name="tiny", storage=url)
    assert len(study.trials) == 3
    for t in study.trials:
        a = t.user_attrs
        assert {"parameters", "units", "test_acc", "run_dir", "config"} <= set(a)
        assert a["test_acc"] == t.value
        # 4x32x32 + 8x16x16 + 16x8x8 + 16x4x4 + 32x2x2 whatever the cells and edges
        assert a["units"] == 7552
        run = json.loads((out / "trials" / str(t.number) / "summary.json").read_text())
        assert run["test_acc"] == pytest.approx(t.value)
        assert set(t.params) == {"cells.conv5", "feedback.conv5->conv4", "train.lr"}
        assert 1e-3 <= t.params["train.lr"] <= 1e-2
        cfg = config_from_dict(a["config"])
        assert cfg.train.lr == t.params["train.lr"]
        assert (cfg.model.cells or {}).get("conv5") == (
            None if t.params["cells.conv5"] == "none" else "ugrnn"
        )
        assert (["conv5", "conv4"] in cfg.model.feedback) == t.params["feedback.conv5->conv4"]

    written = json.loads((out / "search_summary.json").read_text())
    best = max(written["trials"], key=lambda t: t["test_acc"])
    assert written["best"]["test_acc"] == best["test_acc"]
    assert written["best"]["config"]["model"]["kind"] == "convrnn"
    # equal units: the front is the most accurate trial(s)
    assert written["pareto_front"] == [
        t["number"] for t in written["trials"] if t["test_acc"] == best["test_acc"]
    ]

    again = run_search(path, out, storage=url, n_trials=1)
    assert again["n_trials"] == 4 and again["trials_this_call"] == 1
    assert len(optuna.load_study(study_name="tiny", storage=url).trials) == 4
    assert (out / "trials" / "3" / "summary.json").is_file()


def test_invalid_combinations_are_pruned_with_their_reason(tmp_path, db_url):
    # refused by the config: the image shown longer than the unroll
    path = write_search(
        tmp_path,
        name="bad-config",
        space={"params": {"model.t_on": {"type": "categorical", "choices": [9]}}},
    )
    summary = run_search(path, tmp_path / "a", n_trials=1, storage=db_url)
    (trial,) = summary["trials"]
    assert trial["state"] == "pruned" and trial["test_acc"] is None
    assert "t_on (9) is longer than time_steps (7)" in trial["error"]
    assert summary["best"] is None and summary["pareto_front"] == []
    # refused by the model: a cell in a layer the graph does not have
    path = write_search(
        tmp_path, name="bad-model", space={"cells": {"layers": ["conv9"], "kinds": ["gru"]}}
    )
    summary = run_search(path, tmp_path / "b", n_trials=1, storage=db_url)
    (trial,) = summary["trials"]
    assert trial["state"] == "pruned" and "conv9" in trial["error"]
    assert not (tmp_path / "b" / "trials" / "0").exists()  # nothing trained, nothing left
    assert summary["storage"] == db_url
    study = optuna.load_study(study_name="bad-model", storage=db_url)
    assert study.trials[0].user_attrs["status"] == "invalid"


def test_search_files_are_checked_at_the_door(tmp_path):
    bad_key = {"params": {"train.lrr": {"type": "float", "low": 1e-3, "high": 1e-2}}}
    with pytest.raises(SearchConfigError, match=r"train\.lrr is not a config key.*\blr\b"):
        load_search(write_search(tmp_path, name="k", space=bad_key))
    bad_range = {"params": {"train.lr": {"type": "float", "low": 0.0, "high": 1e-2, "log": True}}}
    with pytest.raises(SearchConfigError, match="log range needs low > 0"):
        load_search(write_search(tmp_path, name="r", space=bad_range))
    with pytest.raises(SearchConfigError, match="unknown cell kind"):
        load_search(
            write_search(tmp_path, name="c", space={"cells": {"layers": ["conv3"], "kinds": ["x"]}})
        )
    with pytest.raises(SearchConfigError, match="trials: unknown key; allowed keys: name, base"):
        load_search(write_search(tmp_path, name="e", trials=3))
    reset = {"name": "r", "model": {"levels": [{"subnets": 1, "outputs": 16}]}}
    with pytest.raises(SearchConfigError, match="apply to model.kind convrnn"):
        load_search(write_search(tmp_path, name="b", base=reset))
    # a base given as a file next to the search
    (tmp_path / "base.yaml").write_text(yaml.safe_dump(TINY_BASE))
    loaded = load_search(write_search(tmp_path, name="p", base="base.yaml"))
    assert loaded.base == TINY_BASE


def test_shipped_recipe_samples_valid_experiments():
    search = load_search("convrnn-small-digits")
    assert search.base["model"]["kind"] == "convrnn" and search.epochs == 1
    params = {
        "cells.conv3": "rgc",
        "cells.conv4": "none",
        "cells.conv5": "lstm",
        "feedback.conv4->conv3": False,
        "feedback.conv5->conv3": True,
        "feedback.conv5->conv4": False,
        "train.lr": 3e-3,
        "model.width": 0.09375,
    }
    data = sample_experiment(optuna.trial.FixedTrial(params), search)
    cfg = config_from_dict(data)
    assert cfg.model.cells == {"conv3": "rgc", "conv4": None, "conv5": "lstm"}
    assert cfg.model.feedback == [["conv5", "conv3"]]
    assert cfg.train.lr == 3e-3 and cfg.model.width == 0.09375 and cfg.train.epochs == 1
    assert search.base["model"].get("cells") is None  # the base is not modified


def test_search_command_json(tmp_path, db_url):
    path = write_search(tmp_path, name="cli")
    server = db_url.startswith("postgresql")  # SQLite: the default file in the output folder
    storage = ["--storage", db_url] if server else []
    res = CliRunner().invoke(
        app, ["search", str(path), "-o", str(tmp_path / "o"), "--trials", "1", "--json", *storage]
    )
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["n_trials"] == 1 and summary["best"]["number"] == 0
    assert summary["states"] == {"complete": 1} and 0 <= summary["best"]["test_acc"] <= 1
    assert summary["storage"] == (
        db_url if server else f"sqlite:///{tmp_path / 'o' / 'search.sqlite'}"
    )
    study = optuna.load_study(study_name="cli", storage=db_url if server else summary["storage"])
    assert study.best_value == summary["best"]["test_acc"]
    res = CliRunner().invoke(app, ["search", str(tmp_path / "missing.yaml")])
    assert res.exit_code == 2 and "does not exist" in " ".join(res.output.split())


def _search_worker(path, out, storage, seed, barrier):
    barrier.wait()  # both workers join the study at the same moment
    run_search(path, out, storage=storage, n_trials=4, seed=seed)


def test_two_search_workers_share_one_study(tmp_path, db_url):
    # every trial is refused by the config (t_on 9 > time_steps 7), so no trial trains: what
    # is tested is the storage, which two processes create, join and add trials to at once
    path = write_search(
        tmp_path,
        name="shared",
        space={"params": {"model.t_on": {"type": "categorical", "choices": [9]}}},
    )
    # fork: the workers start with torch and optuna already imported (a spawned worker spends
    # seconds importing them); this process holds no connection to the study's database
    import brainlike.train.loop  # noqa: F401

    ctx = multiprocessing.get_context("fork")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(target=_search_worker, args=(path, tmp_path / f"w{w}", db_url, w, barrier))
        for w in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=120)
    assert [p.exitcode for p in procs] == [0, 0]
    trials = optuna.load_study(study_name="shared", storage=db_url).trials
    assert sorted(t.number for t in trials) == list(range(8))
    assert all(t.state == optuna.trial.TrialState.PRUNED for t in trials)
    assert all("t_on (9) is longer than time_steps (7)" in t.user_attrs["error"] for t in trials)
    # each worker's summary is of the whole study: the other worker's trials included
    for w in range(2):
        summary = json.loads((tmp_path / f"w{w}" / "search_summary.json").read_text())
        assert summary["trials_this_call"] == 4 and 4 <= summary["n_trials"] <= 8
