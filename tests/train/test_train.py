"""Training loop: outputs, reproducibility, resume after a kill, and faults."""

import json
import os
import stat

import numpy as np
import pytest
import torch

from brainlike.config import config_from_dict
from brainlike.train.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from brainlike.train.loop import RunDirectoryError, train


def tiny_config(**over):
    cfg = {
        "name": "tiny",
        "seed": 3,
        "data": {"dataset": "digits", "input_size": 8, "train_size": 200, "test_size": 100},
        "model": {
            "levels": [{"subnets": 4, "outputs": 16, "subnet": "small", "channels": [4]}],
            "master": "small",
            "master_channels": [8],
            "execution": "fused",
        },
        "objective": {"spatial": {"weight": 0.5, "neighbourhood": 40}},
        "train": {
            "batch_size": 50,
            "epochs": 2,
            "snapshots_per_epoch": 2,
            "device": "cpu",
            "schedule": "cosine",
        },
        "analysis": {"n_shuffles": 10},
    }
    for key, value in over.items():
        node = cfg
        *path, last = key.split(".")
        for p in path:
            node = node.setdefault(p, {})
        node[last] = value
    return config_from_dict(cfg)


def _weights(run_dir):
    return load_checkpoint(run_dir / "checkpoints" / "last.pt")["model"]


def test_run_directory_holds_every_output(tmp_path):
    summary = train(tiny_config(), tmp_path / "run", progress=False)
    run = tmp_path / "run"
    for name in (
        "config.yaml",
        "metrics.jsonl",
        "snapshots.npz",
        "summary.json",
        "checkpoints/last.pt",
    ):
        assert (run / name).is_file(), name
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]
    assert rows[-1]["step"] == 8  # 200 images / batch 50 = 4 steps per epoch
    with np.load(run / "snapshots.npz") as z:
        assert z["means"].shape == (5, 10, 8, 8)  # before training + 2 per epoch
        assert z["vars"].shape == (5, 10, 8, 8) and z["counts"].shape == (5, 10)
        np.testing.assert_allclose(z["epoch"], [0, 0.5, 1, 1.5, 2])
        assert z["counts"][0].sum() == 100 and int(z["tile"]) == 4
        assert z["accuracy"][-1] == pytest.approx(rows[-1]["test_acc"])
    saved = json.loads((run / "summary.json").read_text())
    assert saved["test_acc"] == summary["test_acc"] and saved["seed"] == 3
    topo = saved["topography"]
    for key in ("clustering_index", "neighbour_agreement", "smoothness", "morans_i"):
        assert set(topo[key]) >= {"value", "null_mean", "p_value"}


def test_same_seed_same_run(tmp_path):
    train(tiny_config(), tmp_path / "a", progress=False, analyse=False)
    train(tiny_config(), tmp_path / "b", progress=False, analyse=False)
    wa, wb = _weights(tmp_path / "a"), _weights(tmp_path / "b")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)


def test_resume_after_a_kill_equals_an_uninterrupted_run(tmp_path):
    train(tiny_config(), tmp_path / "full", progress=False, analyse=False)
    part = train(
        tiny_config(), tmp_path / "part", progress=False, analyse=False, stop_after_epochs=1
    )
    assert part["complete"] is False and part["epochs"] == 1
    train(tiny_config(), tmp_path / "part", resume=True, progress=False, analyse=False)
    wa, wb = _weights(tmp_path / "full"), _weights(tmp_path / "part")
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)
    ma = (tmp_path / "full" / "metrics.jsonl").read_text().splitlines()
    mb = (tmp_path / "part" / "metrics.jsonl").read_text().splitlines()
    strip = lambda rows: [{k: v for k, v in json.loads(r).items() if k != "seconds"} for r in rows]  # noqa: E731
    assert strip(ma) == strip(mb)
    with (
        np.load(tmp_path / "full" / "snapshots.npz") as za,
        np.load(tmp_path / "part" / "snapshots.npz") as zb,
    ):
        np.testing.assert_array_equal(za["means"], zb["means"])


def test_ctrl_c_keeps_the_last_complete_checkpoint(tmp_path, monkeypatch):
    import brainlike.objectives.spatial as spatial

    calls = {"n": 0}
    real = spatial.spatial_correlation_loss

    def interrupt_in_epoch_two(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 6:  # second step of epoch 2
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(spatial, "spatial_correlation_loss", interrupt_in_epoch_two)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(), tmp_path / "run", progress=False)
    state = load_checkpoint(tmp_path / "run" / "checkpoints" / "last.pt")
    assert state["epoch"] == 1
    assert not list((tmp_path / "run" / "checkpoints").glob("*.tmp"))
    monkeypatch.setattr(spatial, "spatial_correlation_loss", real)
    summary = train(tiny_config(), tmp_path / "run", resume=True, progress=False, analyse=False)
    assert summary["epochs"] == 2 and summary["complete"]


def test_existing_run_directory_is_refused_unless_asked(tmp_path):
    train(tiny_config(**{"train.epochs": 1}), tmp_path / "run", progress=False, analyse=False)
    with pytest.raises(RunDirectoryError, match="--resume"):
        train(tiny_config(), tmp_path / "run", progress=False)
    summary = train(
        tiny_config(**{"train.epochs": 1}),
        tmp_path / "run",
        overwrite=True,
        progress=False,
        analyse=False,
    )
    assert summary["epochs"] == 1


def test_corrupt_or_foreign_checkpoint_gives_a_clear_error_and_is_not_overwritten(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), run, progress=False, analyse=False)
    ckpt = run / "checkpoints" / "last.pt"
    ckpt.write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="corrupt"):
        train(tiny_config(), run, resume=True, progress=False)
    assert ckpt.read_bytes() == b"not a checkpoint at all"
    torch.save({"weights": torch.zeros(2)}, ckpt)
    with pytest.raises(CheckpointError, match="not a brainlike checkpoint"):
        load_checkpoint(ckpt)


def test_resume_with_another_config_is_refused(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), run, progress=False, analyse=False)
    with pytest.raises(CheckpointError, match="different experiment config"):
        train(tiny_config(**{"train.lr": 0.5}), run, resume=True, progress=False)
    with pytest.raises(CheckpointError, match="nothing to resume"):
        train(tiny_config(), tmp_path / "nothing", resume=True, progress=False)


def test_checkpoints_load_with_weights_only(tmp_path):
    path = save_checkpoint(
        tmp_path / "c.pt", {"model": {"w": torch.ones(2)}, "epoch": 1, "metrics": [{"a": 1.0}]}
    )
    state = load_checkpoint(path)
    assert state["epoch"] == 1 and state["metrics"] == [{"a": 1.0}]


def test_number_codes_task_trains(tmp_path):
    cfg = tiny_config(
        **{
            "data": {"dataset": "numbers", "input_size": 8, "train_size": 100, "test_size": 50},
            "objective.task": "codes",
            "train.epochs": 1,
            "analysis.ordered": True,
        }
    )
    summary = train(cfg, tmp_path / "run", progress=False)
    assert 0.0 <= summary["test_acc"] <= 1.0
    assert "topography_index" in summary["topography"]


def test_a_trained_network_can_be_widened_and_deepened_by_config(tmp_path):
    from brainlike.models.zoo import build_from_description

    train(tiny_config(**{"train.epochs": 1}), tmp_path / "base", progress=False, analyse=False)
    base = load_checkpoint(tmp_path / "base" / "checkpoints" / "last.pt")
    grow = tiny_config(
        **{
            "train.epochs": 1,
            "train.schedule": "constant",
            "objective.spatial.weight": 0.0,
            "init": {
                "checkpoint": str(tmp_path / "base" / "checkpoints" / "last.pt"),
                "add_subnetworks": {0: 1},
                "add_levels": [{"subnets": 4, "outputs": 4, "subnet": "small", "channels": [4]}],
                "freeze_trained": True,
            },
        }
    )
    summary = train(grow, tmp_path / "grown", progress=False, analyse=False)
    assert summary["complete"]
    state = load_checkpoint(tmp_path / "grown" / "checkpoints" / "last.pt")
    arch = state["architecture"]
    assert [lv["n_subnets"] for lv in arch["levels"]] == [5, 4]
    model = build_from_description(arch)
    model.load_state_dict(state["model"])  # the grown structure round-trips
    # frozen: the four trained subnetworks' conv weights did not move, the new one did
    old = base["model"]["levels.0.subnets.convs.0.weight"]
    new = state["model"]["levels.0.subnets.convs.0.weight"]
    torch.testing.assert_close(new[:4], old, rtol=0, atol=0)
    assert new.shape[0] == 5
    with np.load(tmp_path / "grown" / "snapshots.npz") as z:
        assert z["means"].shape[-2:] == (12, 8)  # a third row of tiles on the first grid
    # resuming a grown run rebuilds the grown model from its checkpoint
    more = grow.model_copy(update={"train": grow.train.model_copy(update={"epochs": 2})})
    assert (
        train(more, tmp_path / "grown", resume=True, progress=False, analyse=False)["epochs"] == 2
    )


def test_init_from_a_missing_checkpoint_is_a_clear_error(tmp_path):
    cfg = tiny_config(**{"init": {"checkpoint": str(tmp_path / "nope.pt")}})
    with pytest.raises(CheckpointError, match="nothing to resume|no checkpoint"):
        train(cfg, tmp_path / "run", progress=False)


# -- one run, one record of its statistics (issue 11, item 3) ----------------------------------


def test_summary_topography_json_topo_and_report_share_one_record(tmp_path):
    from brainlike.analysis.history import topography_history
    from brainlike.report.html import _comparison_table, _read_run

    run = tmp_path / "run"
    summary = train(tiny_config(**{"train.epochs": 1}), run, progress=False)
    record = json.loads((run / "topography.json").read_text())
    saved = json.loads((run / "summary.json").read_text())
    assert len(record["snapshots"]) == 3 and saved["topography_record"] == "topography.json"
    assert record["settings"]["seed"] == 3 and record["settings"]["n_shuffles"] == 10
    # summary.json (what the console prints) holds the record's final snapshot, number for number
    assert saved["topography"] == record["snapshots"][-1] == summary["topography"]
    original = (run / "topography.json").read_bytes()
    # `brainlike topo RUN` with the run's own settings reads the same record
    again = topography_history(run)
    assert again["source"] == "read" and again["snapshots"] == record["snapshots"]
    same = topography_history(run, null="pixel", n_shuffles=10, threshold=2.0, dprime="class")
    assert same["source"] == "read" and same["path"] == str(run / "topography.json")
    # ... and so does the report, also for the run's time
    read = _read_run(run, "run", "run", tmp_path / "report", None, 100, 0)
    assert read.topography["snapshots"] == record["snapshots"]
    rows = dict(_comparison_table([read])["rows"])
    clustering = saved["topography"]["clustering_index"]
    assert rows["wall time (s, summary.json)"][0]["text"] == f"{saved['wall_seconds']:.4g}"
    cell = rows["Clustering index (mean patch area)"][0]["text"]
    assert cell.startswith(f"{clustering['value']:.4g} (null {clustering['null_mean']:.3g}")
    # a re-analysis with other settings is written beside the record, never over it
    tiled = topography_history(run, null="tile", n_shuffles=7)
    name = "topography-dprime_class-null_tile-T2.0-shuffles7.json"
    assert tiled["source"] == "computed" and tiled["path"] == str(run / name)
    assert json.loads((run / name).read_text())["settings"]["null"] == "tile"
    assert (run / "topography.json").read_bytes() == original
    assert topography_history(run, null="tile", n_shuffles=7)["source"] == "read"
    assert (run / "topography.json").read_bytes() == original
    # the report at another threshold shows that re-analysis, the numbers `topo` gives
    other = _read_run(run, "run", "run", tmp_path / "report2", 1.5, 100, 0)
    assert other.topography["snapshots"] == topography_history(run, threshold=1.5)["snapshots"]
    assert (run / "topography-dprime_class-null_pixel-T1.5-shuffles10.json").is_file()
    assert (run / "topography.json").read_bytes() == original


def test_a_read_only_run_is_analysed_without_a_record(tmp_path, monkeypatch):
    import brainlike.analysis.history as history

    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), run, progress=False)

    def refuse(*args, **kwargs):  # what a colleague's read-only folder does (tests run as root)
        raise PermissionError(13, "Permission denied", str(run / "x.json"))

    monkeypatch.setattr(history, "write_record", refuse)
    result = history.topography_history(run, threshold=1.25)
    assert result["source"] == "computed" and result["path"] is None
    assert len(result["snapshots"]) == 3
    assert not list(run.glob("topography-*.json"))


def test_the_report_of_a_run_without_a_record_writes_the_runs_own(tmp_path):
    from brainlike.analysis.history import topography_history
    from brainlike.report.html import write_report

    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), run, progress=False, analyse=False)
    expected = topography_history(run, write=False)
    assert expected["path"] is None and not (run / "topography.json").exists()
    html = write_report([run], tmp_path / "report").read_text()
    assert "computed with the run&#39;s analysis settings and seed" in html
    record = json.loads((run / "topography.json").read_text())
    assert record["snapshots"] == expected["snapshots"]
    assert record["settings"] == expected["settings"] and record["settings"]["seed"] == 3
    assert topography_history(run)["source"] == "read"


def test_a_record_of_other_snapshots_is_recomputed_not_read(tmp_path):
    from brainlike.analysis.history import topography_history

    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), run, progress=False, analyse=False)
    first = topography_history(run, n_shuffles=4)
    assert first["source"] == "computed" and len(first["snapshots"]) == 3
    train(tiny_config(), run, resume=True, progress=False)  # two more snapshots, new record
    record = json.loads((run / "topography.json").read_text())
    assert len(record["snapshots"]) == 5
    again = topography_history(run, n_shuffles=4)
    assert again["source"] == "computed" and len(again["snapshots"]) == 5
    # the shuffles of a snapshot depend on the run's seed and the snapshot only
    assert again["snapshots"][:3] == first["snapshots"]


# -- a run stopped before its first checkpoint (issue 11, item 11) ------------------------------


def _start_and_kill_in_the_first_epoch(run, monkeypatch):
    """A run stopped in its first epoch, as a kill -9 during the first checkpoint leaves it."""
    import brainlike.objectives.spatial as spatial

    real = spatial.spatial_correlation_loss

    def interrupt(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(spatial, "spatial_correlation_loss", interrupt)
    with pytest.raises(KeyboardInterrupt):
        train(tiny_config(), run, progress=False)
    monkeypatch.setattr(spatial, "spatial_correlation_loss", real)
    (run / "checkpoints").mkdir()
    (run / "checkpoints" / ".last.pt.x1y2.tmp").write_bytes(b"half a checkpoint")
    (run / "metrics.jsonl").write_text('{"epoch": 1}\n')
    assert not (run / "checkpoints" / "last.pt").exists()


@pytest.mark.parametrize("resume", [True, False])
def test_a_run_stopped_before_its_first_checkpoint_starts_again(
    tmp_path, monkeypatch, capsys, resume
):
    train(tiny_config(), tmp_path / "full", progress=False, analyse=False)
    run = tmp_path / "run"
    _start_and_kill_in_the_first_epoch(run, monkeypatch)
    capsys.readouterr()
    summary = train(tiny_config(), run, resume=resume, progress=False, analyse=False)
    said = capsys.readouterr().err
    assert "no checkpoint" in said and "starting it from scratch" in said
    assert summary["complete"] and summary["epochs"] == 2
    assert not list((run / "checkpoints").glob("*.tmp"))
    wa, wb = _weights(tmp_path / "full"), _weights(run)
    for k in wa:
        torch.testing.assert_close(wa[k], wb[k], rtol=0, atol=0)
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2]


def test_a_run_that_another_process_is_training_is_left_alone(tmp_path, monkeypatch):
    import fcntl

    run = tmp_path / "run"
    _start_and_kill_in_the_first_epoch(run, monkeypatch)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    assert (run / ".training.lock").is_file()  # the killed run's lock file, without its lock
    with open(run / ".training.lock", "a") as live:  # another process training it right now
        fcntl.flock(live, fcntl.LOCK_EX | fcntl.LOCK_NB)
        for kwargs in ({}, {"resume": True}, {"overwrite": True}):
            with pytest.raises(RunDirectoryError, match="being trained by another process"):
                train(tiny_config(), run, progress=False, **kwargs)
        assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    # once that process is gone, the partial start is started again
    assert train(tiny_config(), run, progress=False, analyse=False)["complete"]


def test_a_partial_start_of_another_config_or_with_other_files_is_not_restarted(
    tmp_path, monkeypatch
):
    run = tmp_path / "run"
    _start_and_kill_in_the_first_epoch(run, monkeypatch)
    with pytest.raises(RunDirectoryError, match="another experiment.*--overwrite"):
        train(tiny_config(**{"train.lr": 0.5}), run, resume=True, progress=False)
    (run / "notes.txt").write_text("mine")
    with pytest.raises(RunDirectoryError, match="--resume"):
        train(tiny_config(), run, progress=False)
    with pytest.raises(CheckpointError, match="no checkpoint to resume.*--overwrite"):
        train(tiny_config(), run, resume=True, progress=False)
    assert (run / "notes.txt").read_text() == "mine" and (run / "config.yaml").is_file()


def test_a_run_with_a_checkpoint_is_never_restarted_without_being_asked(tmp_path):
    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1}), run, progress=False, analyse=False)
    (run / "summary.json").unlink()  # even without its summary, a checkpoint is kept
    before = (run / "checkpoints" / "last.pt").read_bytes()
    with pytest.raises(RunDirectoryError, match="--resume"):
        train(tiny_config(), run, progress=False)
    assert (run / "checkpoints" / "last.pt").read_bytes() == before


# -- requests refused before anything is written (issue 11, item 16) --------------------------


def test_a_missing_gpu_is_one_clear_error_and_leaves_no_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(ValueError, match="--device cpu") as info:
        train(tiny_config(**{"train.device": "cuda"}), tmp_path / "run", progress=False)
    assert "\n" not in str(info.value) and "cuda" in str(info.value)
    assert not (tmp_path / "run").exists()


def test_zero_epochs_is_one_clear_error_and_leaves_no_folder(tmp_path):
    with pytest.raises(ValueError, match="nothing to train.*--epochs") as info:
        train(tiny_config(**{"train.epochs": 0}), tmp_path / "run", progress=False)
    assert "\n" not in str(info.value)
    assert not (tmp_path / "run").exists()


# -- checkpoints that hold code (issue 11, item 18) -------------------------------------------


class _Payload:
    """A class that a pickle names, as a checkpoint carrying code would."""

    def __init__(self):
        self.x = 1


def test_a_checkpoint_holding_pickled_objects_is_refused_as_code(tmp_path):
    path = tmp_path / "last.pt"
    torch.save({"format": "brainlike-checkpoint-v1", "model": _Payload()}, path)
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(path)
    message = str(info.value)
    assert "pickled Python objects" in message and "will not run" in message
    assert "_Payload" in message
    assert "weights_only" not in message and "corrupt" not in message and "delete" not in message


def test_a_truncated_or_garbled_checkpoint_is_called_corrupt_without_torch_advice(tmp_path):
    path = save_checkpoint(tmp_path / "last.pt", {"model": {"w": torch.ones(50)}, "epoch": 1})
    whole = path.read_bytes()
    for broken in (whole[: len(whole) // 2], b"\x80\x02not a checkpoint"):
        path.write_bytes(broken)
        with pytest.raises(CheckpointError, match="truncated or corrupt") as info:
            load_checkpoint(path)
        message = str(info.value)
        assert "pickled Python objects" not in message
        assert "weights_only" not in message and "False" not in message


# -- files readable as the umask allows (issue 11, item 19) -----------------------------------


@pytest.fixture(params=[0o022, 0o027], ids=["umask022", "umask027"])
def umask(request):
    old = os.umask(request.param)
    yield request.param
    os.umask(old)


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_atomic_writes_respect_the_umask(tmp_path, umask):
    from brainlike.analysis.activations import _Sink
    from brainlike.results.leaderboard import _write_text
    from brainlike.train.checkpoint import atomic_save_npz, atomic_write_json

    expected = 0o666 & ~umask
    written = [
        atomic_write_json(tmp_path / "a.json", {"a": 1}),
        atomic_save_npz(tmp_path / "b.npz", x=np.zeros(2)),
        save_checkpoint(tmp_path / "c.pt", {"epoch": 1}),
        _write_text(tmp_path / "board.csv", "rank\n"),
    ]
    sink = _Sink((2, 3), np.dtype("float32"), path=tmp_path / "cache" / "l.npy", meta={"k": 1})
    sink.write(0, np.ones((2, 3), dtype=np.float32))
    sink.finish()
    written += [tmp_path / "cache" / "l.npy", tmp_path / "cache" / "meta.json"]
    assert {p.name: _mode(p) for p in written} == {p.name: expected for p in written}


def test_a_run_folder_is_readable_as_the_umask_allows(tmp_path, umask):
    run = tmp_path / "run"
    train(tiny_config(**{"train.epochs": 1, "analysis.n_shuffles": 2}), run, progress=False)
    files = [p for p in run.rglob("*") if p.is_file()]
    assert {p.name for p in files} >= {"config.yaml", "last.pt", "summary.json", "topography.json"}
    assert {p.name: _mode(p) for p in files} == {p.name: 0o666 & ~umask for p in files}


# -- wall time over resumed parts (issue 11, item 20) -----------------------------------------


def test_wall_time_adds_up_over_resumed_parts(tmp_path):
    run = tmp_path / "run"
    first = train(tiny_config(**{"train.epochs": 1}), run, progress=False, analyse=False)
    at_checkpoint = load_checkpoint(run / "checkpoints" / "last.pt")["wall_seconds"]
    assert 0 < at_checkpoint <= first["wall_seconds"]
    second = train(tiny_config(), run, resume=True, progress=False, analyse=False)
    epoch_two = json.loads((run / "metrics.jsonl").read_text().splitlines()[1])["seconds"]
    assert second["wall_seconds"] >= first["wall_seconds"]
    assert second["wall_seconds"] >= at_checkpoint + epoch_two
    saved = json.loads((run / "summary.json").read_text())
    assert saved["wall_seconds"] == second["wall_seconds"]
