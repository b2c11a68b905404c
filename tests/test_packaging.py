"""The wheel: `python -m build --wheel` packs every file brainlike reads at run time.

The fast test builds the wheel from a clean copy of the files git tracks (so a stale ``build/``
folder cannot hide a gap) and compares the wheel's contents with ``git ls-files brainlike``.
The slow test installs that wheel into a fresh virtual environment and runs the CLI from it,
outside the repository, so nothing can be read from the source tree.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The releases the project pins as its upper bounds (pyproject.toml); the slow test installs them.
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")


def _tracked_files() -> list[str]:
    """Paths (relative to the repository root) of every file git tracks; skip outside a checkout."""
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("needs a git checkout of brainlike (the test compares the wheel with git)")
    out = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return [p for p in out.split("\0") if p]


def _build_wheel(tmp: Path) -> Path:
    """Copy the tracked files into ``tmp/src`` (links kept as links) and build the wheel there."""
    src, dist = tmp / "src", tmp / "dist"
    for rel in _tracked_files():
        source, target = REPO / rel, src / rel
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree, not yet committed
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_symlink():
            target.symlink_to(
                os.readlink(source)
            )  # e.g. the top-level configs -> brainlike/configs
        else:
            shutil.copy2(source, target)
    # --no-isolation: the running environment's setuptools builds it, no index needed
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(dist), "."],
        cwd=src,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, f"python -m build failed:\n{done.stdout[-3000:]}{done.stderr}"
    wheels = sorted(dist.glob("brainlike-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {dist}, found {wheels}"
    return wheels[0]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build_wheel(tmp_path_factory.mktemp("wheel"))


def test_wheel_holds_every_package_file_in_git(wheel: Path) -> None:
    tracked = [p for p in _tracked_files() if p.startswith("brainlike/")]
    data = [p for p in tracked if not p.endswith(".py")]
    # the package data the code reads at run time must be among them
    assert "brainlike/configs/demo-plain.yaml" in data
    assert "brainlike/configs/suites/mec-small.yaml" in data
    assert "brainlike/report/templates/report.html" in data
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = sorted(p for p in tracked if p not in names)
    assert missing == [], f"tracked files of brainlike/ missing from the wheel: {missing}"
    # nothing outside the package (tests, benchmarks, the configs link) is packed
    stray = sorted(n for n in names if not n.startswith(("brainlike/", "brainlike-")))
    assert stray == []


def test_wheel_declares_the_brainlike_command(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        info = next(n for n in whl.namelist() if n.endswith(".dist-info/entry_points.txt"))
        lines = whl.read(info).decode().splitlines()
    assert "[console_scripts]" in lines
    assert "brainlike = brainlike.cli:main" in lines


@pytest.mark.slow
def test_wheel_installs_and_runs_in_a_fresh_environment(wheel: Path, tmp_path: Path) -> None:
    """About 2-3 minutes: pip installs torch from the index (a local cache here), then the CLI."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python, cli = venv / "bin" / "python", venv / "bin" / "brainlike"
    try:
        done = subprocess.run(
            [str(python), "-m", "pip", "install", "-q", *TORCH_PINS, str(wheel)],
            capture_output=True,
            text=True,
        )
        assert done.returncode == 0, f"pip install failed:\n{done.stderr[-3000:]}"
        assert cli.exists()
        cwd = tmp_path / "work"  # outside the repository: only the installed package is seen
        cwd.mkdir()
        env = {**os.environ, "OMP_NUM_THREADS": "1"}
        env.pop("PYTHONPATH", None)

        listed = subprocess.run(
            [str(cli), "configs", "--json"], cwd=cwd, env=env, capture_output=True, text=True
        )
        assert listed.returncode == 0, listed.stderr
        shipped = json.loads(listed.stdout)
        site = Path(shipped["folder"]).resolve()
        assert site.is_relative_to(venv.resolve()), f"configs read from {site}, not the venv"
        recipes = {r["recipe"] for r in shipped["recipes"]}
        expected = {
            Path(p).stem
            for p in _tracked_files()
            if p.startswith("brainlike/configs/") and p.count("/") == 2 and p.endswith(".yaml")
        }
        assert recipes == expected
        assert {"demo-plain", "demo-spatial", "pathint-small"} <= recipes
        assert {"mec-small", "mec-small-quick"} <= set(shipped["suites"])
        assert "convrnn-small-digits" in shipped["searches"]

        demo = subprocess.run(
            [str(cli), "demo", "--epochs", "1", "--no-progress"],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
        )
        assert demo.returncode == 0, f"brainlike demo failed:\n{demo.stderr[-3000:]}"
        out = cwd / "runs" / "demo"
        summary = json.loads((out / "summary.json").read_text())
        assert [Path(r["run_dir"]).name for r in summary["runs"]] == ["demo-plain", "demo-spatial"]
        assert all(r["epochs"] == 1 and r["complete"] for r in summary["runs"])
        for recipe in ("demo-plain", "demo-spatial"):
            assert json.loads((out / recipe / "summary.json").read_text())["epochs"] == 1
        html = (out / "report" / "report.html").read_text()
        assert "plain vs spatial correlation loss" in html  # the demo's title, via the template
        assert "data:image/png;base64," in html
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # about 6 GB with CUDA torch
