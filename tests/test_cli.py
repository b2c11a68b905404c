"""The `brainlike` command: light start-up, machine-readable output, clear errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
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
    # regions in the recording's order (V1 was simulated first), not alphabetical
    assert out["layers"] == ["layer1.0", "layer3.2"] and out["regions"] == ["V1", "IT"]
    assert len(out["rows"]) == 4 and out["database"]["rows"] == 4
    assert (tmp_path / "scores" / "layer_profile.png").is_file()
    # The human table shows raw, ceiling and ceiled, each with its error defined in the caption.
    res = runner.invoke(app, [*args, "--no-db", "--out", str(tmp_path / "scores2")])
    assert res.exit_code == 0, res.output
    assert "best layer for V1" in res.stdout and "ceiling" in res.stdout
    for text in ("raw =", "ceiling =", "ceiled = raw / ceiling", "± s.e.m. over neuroids"):
        assert text in res.stdout, text
    assert res.stdout.index("V1") < res.stdout.index("IT")
    res = runner.invoke(
        app, ["leaderboard", "--db", db, "--json", "--csv", str(tmp_path / "lb.csv")]
    )
    assert res.exit_code == 0, res.output
    board = json.loads(res.stdout)
    assert [r["model"] for r in board["rows"]] == ["resnet20"]
    assert len(board["rows"][0]["scores"]) == 2  # one cell per area: the best layer's score
    assert (tmp_path / "lb.csv").read_text().startswith("rank")
    from brainlike.evaluation.outputs import recording_digest

    digest = recording_digest(sim["recording"])
    assert {c["recording_hash"] for c in board["columns"]} == {digest}
    # a benchmark or metric the database does not have: an error listing what it has
    res = runner.invoke(app, ["leaderboard", "--db", db, "--benchmark", "other"])
    said = res.output.replace("\n", "")
    assert res.exit_code == 2 and f"simulated-resnet20-seed0@{digest[:8]}" in said
    res = runner.invoke(app, ["leaderboard", "--db", db, "--metric", "brainscore"])
    said = res.output.replace("\n", "")
    assert res.exit_code == 2 and "noise_corrected_predictivity" in said
    res = runner.invoke(app, ["leaderboard", "--db", db, "--metric", "noise-corrected"])
    assert res.exit_code == 0 and "resnet20" in res.output

    # Default folder: model / recording-hash8 / metric-mapping; never overwritten silently,
    # and refused before the model sees an image.
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, [*args, "--no-db", "--json"])
    assert res.exit_code == 0, res.output
    folder = Path("runs/scores/resnet20") / f"simulated-resnet20-seed0-{digest[:8]}"
    saved = tmp_path / folder / "noise-corrected-ridge" / "scores.json"
    assert json.loads(res.stdout)["files"]["scores"] == str(
        folder / "noise-corrected-ridge" / "scores.json"
    )
    before = saved.read_bytes()
    import brainlike.analysis.activations as activations

    def no_model_run(*a, **k):
        raise AssertionError("the model ran before the refusal")

    monkeypatch.setattr(activations, "extract_activations", no_model_run)
    res = runner.invoke(app, [*args, "--no-db"])
    said = res.output.replace("\n", "")  # the console wraps long lines
    assert res.exit_code == 2 and "--overwrite" in said and str(saved.relative_to(tmp_path)) in said
    assert saved.read_bytes() == before
    monkeypatch.undo()
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    res = runner.invoke(app, [*args, "--no-db", "--overwrite", "--json"])
    assert res.exit_code == 0, res.output
    assert saved.read_bytes() != before  # replaced (its provenance has a new wall time)


def test_leaderboard_on_a_missing_database_names_it_and_creates_nothing(tmp_path):
    path = tmp_path / "typo" / "results.sqlite"
    res = runner.invoke(app, ["leaderboard", "--db", f"sqlite:///{path}"])
    assert res.exit_code == 2 and str(path) in res.output.replace("\n", "")
    assert not path.exists() and not path.parent.exists()


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


def test_score_reads_a_bare_npy_with_axis_order_and_nan_neuroids(tmp_path, monkeypatch):
    import numpy as np

    from brainlike.data.recordings import write_stimulus_set

    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (20, 8, 8), dtype=np.uint8)
    write_stimulus_set(images, [f"stimulus_{i}" for i in range(20)], tmp_path)
    data = rng.normal(size=(6, 20, 4))  # saved neuroid-first: (neuroid, stimulus, trial)
    data[2] = np.nan  # neuroid 2 never responded
    np.save(tmp_path / "r.npy", data)
    args = ["score", "resnet20", "-r", str(tmp_path / "r.npy"), "--no-db", "--no-progress"]
    res = runner.invoke(app, args)
    assert res.exit_code == 2
    assert "axes may be swapped" in res.output and "--axes" in res.output
    res = runner.invoke(app, [*args, "--axes", "neuroid,stimulus,trial"])
    assert res.exit_code == 2 and "--drop-nan-neuroids" in res.output
    res = runner.invoke(
        app,
        [*args, "--axis-order", "neuroid,stimulus,trial", "--drop-nan-neuroids", "--json"]
        + ["--metric", "brainscore", "--splits", "2", "--train-fraction", "0.5"]
        + ["--layers", "layer3.2", "--out", str(tmp_path / "scores")],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["settings"]["npy_axes"] == "neuroid,stimulus,trial"
    assert out["settings"]["drop_nan_neuroids"] is True
    assert out["settings"]["nan_neuroids_dropped"] == 1
    assert out["rows"][0]["n_neuroids"] == 5
    assert out["provenance"]["n_stimuli"] == 20


def test_score_follows_brainscore_seed_and_records_the_split_half_convention(tmp_path, monkeypatch):
    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    sim = tmp_path / "sim"
    args = ["simulate", str(sim), "--per-digit", "6", "--animals", "1", "--neuroids", "8"]
    res = runner.invoke(app, [*args, "--trials", "3", "--areas", "IT=layer3.2", "--json"])
    assert res.exit_code == 0, res.output
    score = ["score", "resnet20", "-r", str(sim / "recording.nc"), "--layers", "layer3.2"]
    score += ["--mapping", "ridge", "--splits", "2", "--no-db", "--json", "--no-progress"]
    # one animal: the default metric is refused before the model runs, with the fix named
    res = runner.invoke(app, [*score, "--out", str(tmp_path / "a")])
    assert res.exit_code == 2 and "--metric plain" in res.output
    res = runner.invoke(
        app,
        [*score, "--metric", "brainscore", "--train-fraction", "0.8", "--out", str(tmp_path / "b")],
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["settings"]["seed"] == 1 and out["settings"]["split_half"] == "unequal"
    res = runner.invoke(
        app, [*score, "--metric", "plain", "--split-half", "equal", "--out", str(tmp_path / "c")]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["settings"]["seed"] == 0 and out["settings"]["split_half"] == "equal"
    assert all(s["parameters"]["split_half"] == "equal" for s in out["scores"])
    res = runner.invoke(app, [*score, "--split-half", "odd", "--out", str(tmp_path / "d")])
    assert res.exit_code == 2 and "split-half convention" in res.output
    assert "100" in runner.invoke(app, ["score", "--help"], env={"COLUMNS": "200"}).output


def test_errors_are_one_line_and_brackets_are_text(capsys):
    import typer

    from brainlike.cli import _fail

    message = "recording [x] has " + "a very long reason " * 12 + "; pass --fix"
    with pytest.raises(typer.Exit):
        _fail(message)
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err


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


def test_help_describes_the_whole_toolkit_and_version_exists():
    import brainlike

    res = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for topic in ("locality prior", "recordings", "GRCNN", "ConvRNN", "suites", "search"):
        assert topic in res.stdout, topic
    res = runner.invoke(app, ["--version"])
    assert res.exit_code == 0
    assert res.stdout.strip() == f"brainlike {brainlike.__version__}"


def test_configs_json_gives_description_dataset_and_time_of_every_recipe():
    from brainlike.config import shipped_configs_dir

    res = runner.invoke(app, ["configs", "--json"])
    assert res.exit_code == 0, res.output
    shipped = json.loads(res.stdout)
    recipes = {r["recipe"]: r for r in shipped["recipes"]}
    assert set(recipes) == {p.stem for p in shipped_configs_dir().glob("*.yaml")}
    for name, r in recipes.items():
        assert r["description"] and r["expected_time"], name
        assert r["description"] != name
    assert recipes["reset8-mnist"]["dataset"] == "mnist"
    assert recipes["grcnn55-imagenet"]["dataset"] == "imagefolder"
    assert recipes["reset4-small-digits"]["epochs"] == 20
    assert "convrnn-temporal-digits" in shipped["suites"]
    assert shipped["searches"] == ["convrnn-small-digits"]
    # the table shows the description, not the name twice
    res = runner.invoke(app, ["configs"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    assert recipes["reset8-mnist"]["description"][:20] in " ".join(res.stdout.split())


def test_models_table_keeps_long_names_whole_at_80_columns():
    from brainlike.models import list_models

    longest = max(list_models(), key=len)
    assert len(longest) >= 20
    res = runner.invoke(app, ["models"], env={"COLUMNS": "80"})
    assert res.exit_code == 0, res.output
    names = {line.split("│")[1].strip() for line in res.stdout.splitlines() if "│" in line}
    assert set(list_models()) <= names


def test_cache_info_counts_entries_and_clear_removes_them(tmp_path, monkeypatch):
    import numpy as np
    import torch

    from brainlike.analysis.activations import extract_activations

    cache = tmp_path / "cache"
    monkeypatch.setenv("BRAINLIKE_CACHE", str(cache))
    res = runner.invoke(app, ["cache", "info", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["entries"] == 0 and not json.loads(res.stdout)["exists"]
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 3))
    images = np.random.default_rng(0).normal(size=(7, 5)).astype(np.float32)
    extract_activations(model, images, ["0", "2"], cache_dir=cache, progress=False)
    (cache / "notes.txt").write_text("not a cache entry")
    files = [f for f in cache.rglob("*") if f.is_file() and f.name != "notes.txt"]
    res = runner.invoke(app, ["cache", "info", "--json"])
    assert res.exit_code == 0, res.output
    info = json.loads(res.stdout)
    assert info["folder"] == str(cache)
    assert info["entries"] == 2 and info["incomplete"] == 0 and info["other"] == 1
    assert info["files"] == len(files) == 4  # layer .npy + meta.json per entry
    assert info["bytes"] == sum(f.stat().st_size for f in files)
    res = runner.invoke(app, ["cache", "info"], env={"COLUMNS": "200"})
    assert "2 entries" in res.stdout and str(cache) in res.stdout
    # asks first; "n" keeps everything
    res = runner.invoke(app, ["cache", "clear"], input="n\n")
    assert res.exit_code == 1 and all(f.exists() for f in files)
    res = runner.invoke(app, ["cache", "clear", "--yes"])
    assert res.exit_code == 0, res.output
    assert not any(f.exists() for f in files) and (cache / "notes.txt").is_file()
    res = runner.invoke(app, ["cache", "info", "--json"])
    assert json.loads(res.stdout)["entries"] == 0


def test_simulate_refuses_an_existing_benchmark_without_overwrite(tmp_path, monkeypatch):
    import brainlike.evaluation.simulated as scoring

    small = ["--per-digit", "2", "--animals", "2", "--neuroids", "3", "--trials", "2"]
    out = tmp_path / "sim"
    res = runner.invoke(app, ["simulate", str(out), *small, "--format", "npz", "--json"])
    assert res.exit_code == 0, res.output
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}

    def no_work(*args, **kwargs):
        raise AssertionError("the brain was built before the folder was checked")

    monkeypatch.setattr(scoring, "load_scoring_model", no_work)
    res = runner.invoke(app, ["simulate", str(out), *small], env={"COLUMNS": "300"})
    assert res.exit_code == 2
    assert "--overwrite" in res.output and "recording.npz" in res.output
    assert len(res.output.strip().splitlines()) == 1
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    monkeypatch.undo()
    # --overwrite with input that fails half-way (a brain that does not exist) keeps the old one
    res = runner.invoke(app, ["simulate", str(out), *small, "--overwrite", "--brain", "nosuch"])
    assert res.exit_code == 2 and "nosuch" in res.output
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == before
    assert sorted(p.name for p in out.iterdir()) == [
        "ground_truth.json",
        "recording.npz",
        "stimuli",
    ]
    (out / "mine.txt").write_text("kept")
    res = runner.invoke(app, ["simulate", str(out), *small, "--overwrite", "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["recording"] == str(out / "recording.nc")
    assert (out / "recording.nc").is_file() and not (out / "recording.npz").exists()
    assert (out / "mine.txt").read_text() == "kept"
    assert sorted(p.name for p in out.iterdir()) == [
        "ground_truth.json", "mine.txt", "recording.nc", "stimuli"
    ]  # fmt: skip


def test_simulate_dynamic_nwb_holds_the_trials_of_every_bin(tmp_path):
    import numpy as np

    from brainlike.data.recordings import read_nwb, read_recording

    args = ["--dynamic", "--per-digit", "2", "--animals", "2", "--neuroids", "3"]
    args += ["--trials", "3", "--steps", "6", "--image-steps", "3", "--noise", "poisson"]
    res = runner.invoke(app, ["simulate", str(tmp_path / "nc"), *args, "--json"])
    assert res.exit_code == 0, res.output
    res = runner.invoke(
        app, ["simulate", str(tmp_path / "nwb"), *args, "--format", "nwb", "--json"]
    )
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["recording"].endswith("recording.nwb")
    rec = read_recording(tmp_path / "nc" / "recording.nc")
    bins = list(zip(rec.time_bin_start.values, rec.time_bin_end.values, strict=True))
    assert len(bins) == 6
    spikes = read_nwb(tmp_path / "nwb" / "recording.nwb", time_bins=bins, squeeze_time=False)
    order = {s: i for i, s in enumerate(spikes.stimulus_id.values)}
    counts = spikes.values[[order[s] for s in rec.stimulus_id.values]]
    assert rec.values.max() > 0
    np.testing.assert_array_equal(counts, rec.values)  # Poisson trials are spike counts


def _all_options() -> set[str]:
    import typer.main

    found = {"--help"}
    stack = [typer.main.get_command(app)]
    while stack:
        cmd = stack.pop()
        for param in cmd.params:
            if param.param_type_name == "option":
                found |= set(param.opts) | set(param.secondary_opts)
        stack.extend(getattr(cmd, "commands", {}).values())
    return found


def test_every_option_named_in_the_code_exists():
    # a message that says "pass --x" must name an option some command has (issue 11, item 22:
    # "use --dataset digits" named none)
    import ast
    import re
    from pathlib import Path

    import brainlike

    options = _all_options()
    unknown = []
    for path in Path(brainlike.__file__).parent.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                for opt in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", node.value):
                    if opt not in options:
                        unknown.append(f"{path.name}: {opt}")
    assert not unknown, unknown


def test_resume_ignores_a_changed_recipe_description(tmp_path):
    # shipped recipes gained `description` and `expected_time`; runs trained before must resume
    body = (
        "data: {dataset: digits, input_size: 8, train_size: 100, test_size: 50}\n"
        "model: {levels: [{subnets: 4, outputs: 16, subnet: small, channels: [4]}], "
        "master: small, master_channels: [8]}\n"
        "train: {batch_size: 50, epochs: 1, snapshots_per_epoch: 1, device: cpu}\n"
        "analysis: {n_shuffles: 2}\n"
    )
    cfg = tmp_path / "tiny.yaml"
    cfg.write_text("name: tiny\n" + body)
    run = tmp_path / "run"
    res = runner.invoke(app, ["train", str(cfg), "--out", str(run), "--no-progress", "--json"])
    assert res.exit_code == 0, res.output
    cfg.write_text('name: tiny\ndescription: "a tiny run"\nexpected_time: "seconds"\n' + body)
    args = ["train", str(cfg), "--out", str(run), "--resume", "--epochs", "2", "--no-progress"]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["epochs"] == 2


def test_a_bad_database_url_fails_before_any_scoring(tmp_path):
    # the database is opened first: a typo in --db costs nothing, not a whole scoring run
    args = ["score", "resnet20", "-r", str(tmp_path / "missing.nc")]
    res = runner.invoke(app, [*args, "--db", "nosuchdb+nodriver://host/db"])
    assert res.exit_code == 2 and "driver" in res.output and "missing.nc" not in res.output
