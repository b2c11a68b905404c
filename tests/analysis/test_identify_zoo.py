"""A zoo of observed networks (spec learning-rules.md §2): its runs, the claims that let several
processes share it, refusals at the door, and the commands end to end."""

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from brainlike.analysis.identify.zoo import claim_and_run, release_claim, try_claim
from brainlike.cli import app
from brainlike.config import ConfigError
from brainlike.config.identify import load_zoo

REPO = Path(__file__).resolve().parents[2]
runner = CliRunner()

WORKER = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    from brainlike.analysis.identify.zoo import claim_and_run

    folder, me = Path(sys.argv[1]), sys.argv[2]
    (folder / f"ready-{me}").touch()
    while not (folder / "go").exists():
        time.sleep(0.01)

    def work(item):
        with open(folder / "log", "a") as fh:
            fh.write(f"{me} {item}\\n")
        time.sleep(0.03)
        (folder / f"done-{item}").touch()

    items = [f"run{i:02d}" for i in range(40)]
    claim_and_run(items, folder / "claims", work, lambda i: (folder / f"done-{i}").exists(),
                  poll=0.05, log=lambda m: None)
    """
)


def test_two_processes_share_a_zoo_and_train_every_run_once(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    procs = [
        subprocess.Popen([sys.executable, str(script), str(tmp_path), name], env=env)
        for name in ("A", "B")
    ]
    deadline = time.time() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in "AB") and time.time() < deadline:
        time.sleep(0.02)
    (tmp_path / "go").touch()
    assert [p.wait(timeout=60) for p in procs] == [0, 0]
    lines = (tmp_path / "log").read_text().split()
    workers, items = lines[0::2], lines[1::2]
    assert sorted(items) == [f"run{i:02d}" for i in range(40)]  # each exactly once
    assert set(workers) == {"A", "B"}  # both took part
    assert not list((tmp_path / "claims").iterdir())  # every claim released


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_a_stale_claim_is_taken_over_and_a_live_one_respected(tmp_path):
    import socket

    claim = tmp_path / "claims" / "r.claim"
    claim.parent.mkdir()
    host = socket.gethostname()
    claim.write_text(json.dumps({"pid": _dead_pid(), "host": host, "token": "old"}))
    assert try_claim(claim)  # the holder is gone
    assert json.loads(claim.read_text())["pid"] == os.getpid()
    assert not try_claim(claim)  # ours, alive: not claimed twice
    release_claim(claim)
    assert not claim.exists()
    # a live process (the parent of this test) and another machine's claim are respected
    for info in ({"pid": os.getppid(), "host": host, "token": "p"},
                 {"pid": _dead_pid(), "host": host + "-elsewhere", "token": "x"}):  # fmt: skip
        claim.write_text(json.dumps(info))
        assert not try_claim(claim)
        release_claim(claim)  # not ours: left alone
        assert json.loads(claim.read_text())["token"] == info["token"]
    # a claim file left empty by a writer that died right after creating it: stale once old
    claim.write_text("")
    assert not try_claim(claim)
    os.utime(claim, (time.time() - 600, time.time() - 600))
    assert try_claim(claim)


def test_a_failed_run_is_reported_and_the_rest_goes_on(tmp_path):
    done = set()

    def work(item):
        if item == "b":
            raise RuntimeError("diverged")
        done.add(item)

    result = claim_and_run(["a", "b", "c"], tmp_path, work, lambda i: i in done, log=lambda m: None)
    assert result["done_here"] == ["a", "c"] and result["failed"] == {"b": "RuntimeError: diverged"}
    again = claim_and_run(["a", "c"], tmp_path, work, lambda i: i in done, log=lambda m: None)
    assert again["done_before"] == ["a", "c"] and again["done_here"] == []


def zoo_file(tmp_path, **changes):
    data = yaml.safe_load((REPO / "configs" / "identify" / "rules-digits-quick.yaml").read_text())
    data.update(changes)
    path = tmp_path / "zoo.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_zoo_is_the_product_of_classes_architectures_batches_and_seeds(tmp_path):
    path = zoo_file(tmp_path, batch_sizes=[32, 64], lr_reference_batch=64)
    spec, runs = load_zoo(path)
    names = [n for n, _ in runs]
    assert len(names) == 2 * 1 * 2 * 3 and names[0] == "lenet-bp-sgdm-b32-s0"
    cfg = dict(runs)["lenet-fa-adam-b32-s1"]
    assert cfg.rule.kind == "feedback_alignment" and cfg.seed == 1
    assert cfg.train.lr == pytest.approx(0.002 * 32 / 64)  # linear rescaling
    assert (cfg.observe.enabled, cfg.observe.label, cfg.observe.architecture) == (
        True, "fa-adam", "lenet"
    )  # fmt: skip
    assert cfg.train.threads == 1 and cfg.data.train_size == 256
    sgd = dict(runs)["lenet-bp-sgdm-b64-s0"].train
    assert (sgd.optimizer, sgd.lr, sgd.momentum) == ("sgd", 0.05, 0.9)
    full_spec, full_runs = load_zoo("rules-digits")
    assert len(full_runs) == 72 and len(full_spec.classes) == 4


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"classes": {"bp": {"rule": "backprop", "optimizer": "adam", "lr": 0.001}}},
         "at least two classes"),
        ({"observe": {"label": "x"}}, "observe.label is set by the zoo"),
        ({"train": {"lr": 0.1}}, "train.lr comes from the classes"),
        ({"architectures": {"net": "no-such-recipe"}}, "neither a config file nor a shipped"),
        ({"classes": {"a": {"rule": "hebb", "optimizer": "sgd", "lr": 1},
                      "b": {"rule": "backprop", "optimizer": "sgd", "lr": 1}}},
         "unknown learning rule 'hebb'"),
        ({"observe": {"checkpoints": 1}}, "observe.checkpoints"),
    ],
)  # fmt: skip
def test_bad_zoo_files_are_refused_before_anything_is_trained(tmp_path, changes, message):
    with pytest.raises(ConfigError, match=message):
        load_zoo(zoo_file(tmp_path, **changes))


def test_build_and_fit_from_the_command_line(tmp_path):
    """Two runs built through the CLI (resumable: a second build reuses them); then fit on a
    feature table of synthetic runs, report and JSON."""
    path = zoo_file(tmp_path, seeds=[0])
    out = tmp_path / "zoo"
    res = runner.invoke(app, ["identify", "build", str(path), "-o", str(out), "--json",
                              "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    built = json.loads(res.output[res.output.index("{") :])
    assert built["runs"] == 2 and len(built["trained"]) == 2 and built["covered"] == 2
    features = (out / "features.csv").read_text().splitlines()
    assert len(features) == 1 + 2 * 5 * 2  # header + runs x layers x recordings
    again = runner.invoke(app, ["identify", "build", str(path), "-o", str(out), "--json"])
    assert json.loads(again.output[again.output.index("{") :])["reused"] == built["trained"]
    changed = zoo_file(tmp_path, seeds=[0], observe={"checkpoints": 4})
    refused = runner.invoke(app, ["identify", "build", str(changed), "-o", str(out)])
    assert refused.exit_code == 2 and "configured otherwise" in refused.output

    sys.path.insert(0, str(Path(__file__).parent))
    from test_identify_classifiers import synthetic_table

    synthetic_table(effect=(0.0, 4.0), runs_per_class=6).to_csv(tmp_path / "features.csv")
    report = tmp_path / "report"
    args = ["identify", "fit", str(tmp_path / "features.csv"), "-o", str(report), "--splits", "2",
            "--cv", "1", "--sweep-splits", "2", "--classifiers", "svm,forest", "--sweeps",
            "holdouts"]  # fmt: skip
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    assert summary["classes"] == ["rule0", "rule1"] and summary["n_runs"] == 12
    assert {"summary.json", "accuracy.csv", "report.html"} <= {p.name for p in report.iterdir()}
    html = (report / "report.html").read_text()
    assert "data:image/png;base64," in html and "Findings" in html
    assert runner.invoke(app, args).exit_code == 2  # a report is there: --overwrite needed
    bad = runner.invoke(app, [*args, "--overwrite", "--sweeps", "everything"])
    assert bad.exit_code == 2 and "unknown ['everything']" in bad.output
