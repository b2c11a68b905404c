"""The `brainlike` command: light start-up, machine-readable output, clear errors."""

import json
import subprocess
import sys

from typer.testing import CliRunner

from brainlike.cli import app

runner = CliRunner()


def test_help_does_not_import_heavy_libraries():
    code = (
        "import sys; import brainlike.cli as c; "
        "heavy = [m for m in ('torch', 'matplotlib', 'sklearn', 'accelerate') if m in sys.modules]; "
        "print(heavy)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    res = runner.invoke(app, ["--help"])
    assert res.exit_code == 0
    for cmd in ("demo", "train", "topo", "report", "models"):
        assert cmd in res.stdout


def test_models_json_lists_source_parameter_counts():
    res = runner.invoke(app, ["models", "--json"])
    assert res.exit_code == 0, res.output
    rows = {r["name"]: r["parameters"] for r in json.loads(res.stdout)}
    assert rows["reset8-cifar100"] == 17_562_454
    assert rows["reset4-numbers"] == 4_646_998
    assert rows["resnet20"] == 269_434


def test_train_rejects_a_bad_config_with_the_key_named(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  levels:\n    - {subnets: 15, outputs: 64}\n")
    res = runner.invoke(app, ["train", str(bad), "--out", str(tmp_path / "run")])
    assert res.exit_code == 2
    assert "model.levels.0.subnets" in res.output and "16" in res.output
    assert not (tmp_path / "run").exists()


def test_missing_dataset_says_how_to_provide_it(tmp_path):
    cfg = tmp_path / "mnist.yaml"
    cfg.write_text("data: {dataset: mnist}\nmodel: {levels: [{subnets: 4, outputs: 16}]}\n")
    res = runner.invoke(
        app, ["train", str(cfg), "--data-dir", str(tmp_path / "data"), "--out", str(tmp_path / "r")]
    )
    assert res.exit_code == 2
    assert "--download" in res.output


def test_train_topo_report_end_to_end(tmp_path):
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "name: tiny\n"
        "data: {dataset: digits, input_size: 8, train_size: 200, test_size: 100}\n"
        "model: {levels: [{subnets: 4, outputs: 16, subnet: small, channels: [4]}], master: small, master_channels: [8]}\n"
        "train: {batch_size: 50, epochs: 1, snapshots_per_epoch: 1, device: cpu}\n"
        "analysis: {n_shuffles: 10, ordered: true}\n"
    )
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", str(cfg), "--out", str(run), "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)
    assert summary["epochs"] == 1 and "topography" in summary
    res = runner.invoke(app, ["train", str(cfg), "--out", str(run), "--no-progress"])
    assert res.exit_code == 2 and "--overwrite" in res.output
    record = (run / "topography.json").read_bytes()
    res = runner.invoke(app, ["topo", str(run), "--json"])  # the run's own settings
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["snapshots"][-1] == summary["topography"]
    res = runner.invoke(app, ["topo", str(run), "--json", "--shuffles", "5", "--dprime", "trial"])
    assert res.exit_code == 0, res.output
    topo = json.loads(res.stdout)
    assert len(topo["snapshots"]) == 2 and topo["settings"]["n_shuffles"] == 5
    beside = run / "topography-dprime_trial-null_pixel-T2.0-shuffles5.json"
    assert topo["path"] == str(beside) and beside.is_file()
    assert (run / "topography.json").read_bytes() == record
    res = runner.invoke(app, ["report", str(run)])
    assert res.exit_code == 0, res.output
    html = (run / "report" / "report.html").read_text()
    assert "data:image/png;base64" in html and "data:image/gif;base64" in html


def test_topo_on_a_folder_that_is_not_a_run(tmp_path):
    res = runner.invoke(app, ["topo", str(tmp_path)])
    assert res.exit_code == 2 and "brainlike train" in res.output


def test_simulate_score_leaderboard_end_to_end(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    db = f"sqlite:///{tmp_path / 'results.sqlite'}"
    res = runner.invoke(
        app,
        [
            "simulate",
            str(tmp_path / "sim"),
            "--per-digit", "6",
            "--animals", "2",
            "--neuroids", "8",
            "--trials", "4",
            "--areas", "V1=layer1.0,IT=layer3.2",
            "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    sim = json.loads(res.stdout)
    assert sim["recording"].endswith("recording.nc")
    args = ["score", "resnet20", "-r", sim["recording"], "--layers", "layer1.0,layer3.2"]
    args += ["--mapping", "ridge", "--splits", "2", "--bootstraps", "2", "--db", db]
    res = runner.invoke(app, [*args, "--json", "--out", str(tmp_path / "scores")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["layers"] == ["layer1.0", "layer3.2"] and sorted(out["regions"]) == ["IT", "V1"]
    assert len(out["rows"]) == 4 and out["database"]["rows"] == 4
    assert (tmp_path / "scores" / "layer_profile.png").is_file()
    # The human table names the best layer per area and the ceiling.
    res = runner.invoke(app, [*args, "--no-db", "--out", str(tmp_path / "scores2")])
    assert res.exit_code == 0, res.output
    assert "best layer for V1" in res.stdout and "ceiling" in res.stdout
    res = runner.invoke(
        app, ["leaderboard", "--db", db, "--json", "--csv", str(tmp_path / "lb.csv")]
    )
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout)
    assert [r["model"] for r in board] == ["resnet20"]
    assert len(board[0]["scores"]) == 2  # one cell per area: the best layer's score
    assert (tmp_path / "lb.csv").read_text().startswith("rank")


def test_score_errors_name_the_fix(tmp_path):
    res = runner.invoke(app, ["score", "resnet20", "-r", str(tmp_path / "missing.nc"), "--no-db"])
    assert res.exit_code == 2
    assert "missing.nc" in res.output
    res = runner.invoke(app, ["score", "nonexistent-model", "-r", str(tmp_path / "x.nc")])
    assert res.exit_code == 2


def test_configs_lists_recipes_suites_and_searches():
    res = runner.invoke(app, ["configs"], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "grcnn-small-digits-augmix" in res.output
    assert "grcnn-brainlikeness-digits" in res.output and "convrnn-temporal-digits" in res.output
    assert "convrnn-small-digits" in res.output


def _one_line(output: str) -> str:
    """The error as one line (rich wraps long lines at the terminal width)."""
    assert "Traceback" not in output
    return " ".join(output.split())


def test_train_refusals_are_one_line_and_leave_no_run_folder(tmp_path, monkeypatch):
    import torch

    cfg = tmp_path / "tiny.yaml"
    cfg.write_text(
        "data: {dataset: digits, input_size: 8, train_size: 100, test_size: 50}\n"
        "model: {levels: [{subnets: 4, outputs: 16, subnet: small, channels: [4]}]}\n"
    )
    run = tmp_path / "run"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    res = runner.invoke(app, ["train", str(cfg), "--out", str(run), "--device", "cuda"])
    assert res.exit_code == 2 and "--device cpu" in _one_line(res.output)
    assert not run.exists()
    res = runner.invoke(app, ["train", str(cfg), "--out", str(run), "--epochs", "0"])
    assert res.exit_code == 2 and "nothing to train" in _one_line(res.output)
    assert not run.exists()
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    res = runner.invoke(app, ["train", str(empty), "--out", str(run), "--epochs", "1"])
    assert res.exit_code == 2 and "is empty" in _one_line(res.output)
    assert not run.exists()
