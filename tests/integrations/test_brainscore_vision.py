"""The Brain-Score bridge against the published brainscore-vision package (slow).

brainscore-vision pins numpy<2, scikit-learn<1.6 and (through brainscore-core) xarray<2022.6,
so it gets a virtual environment of its own: ``pip install torch==2.14.1 torchvision==0.29.1
-e <repo>[brainscore]``, exactly what a user of the extra runs. The environment is kept in
``$BRAINLIKE_TEST_CACHE/brainscore-venv`` (default ``~/.cache/brainlike-tests``) and reused
while pyproject.toml and the repository path are unchanged. Measured here: a fresh one installs
in about 2 minutes (torch 58 s, then the extra's ~150 packages, jupyter among them, 70 s) and
takes 6.7 GB (5.5 GB of it torch with its CUDA libraries); the checks then take about 20 s.

``brainscore_vision_check.py`` then runs in it, offline: a brainlike model behind the bridge
records IT for 60 locally written images, simulated IT sites are built from those features,
and Brain-Score's own ``pls`` metric, ``internal_consistency`` ceiler and ``NeuralBenchmark``
score them. The numbers must equal brainlike's Brain-Score-convention ones
(:mod:`brainlike.analysis.neural.brainscore`) on the same activations and splits.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(__file__).with_name("brainscore_vision_check.py")
TORCH_PINS = ("torch==2.14.1", "torchvision==0.29.1")  # pyproject.toml's upper bounds
# Same solver (sklearn's PLSRegression on both sides): Brain-Score predicts in float32, the
# activations' dtype, brainlike in float64; measured 1.2e-7 on one split, 1.6e-8 on the mean.
SAME_SOLVER_TOL = 1e-6
# brainlike's default PLSMapping runs the power iterations to convergence; sklearn stops at a
# squared weight change of 1e-6. Measured 5.8e-5 on the mean, 8.5e-4 on one split.
CONVERGED_TOL = 5e-3


def _python311() -> str:
    """A Python >= 3.11 (brainscore-vision's floor): this one, or python3.1x on the PATH."""
    if sys.version_info >= (3, 11):
        return sys.executable
    for name in ("python3.13", "python3.12", "python3.11"):
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("brainscore-vision needs Python >= 3.11; none found on the PATH")


def _venv() -> Path:
    """The cached environment with brainlike[brainscore] installed (built when missing)."""
    cache = Path(os.environ.get("BRAINLIKE_TEST_CACHE", "~/.cache/brainlike-tests")).expanduser()
    venv = cache / "brainscore-venv"
    key = hashlib.sha256(
        str(REPO).encode() + (REPO / "pyproject.toml").read_bytes() + repr(TORCH_PINS).encode()
    ).hexdigest()
    stamp = venv / "brainlike-key.txt"
    if stamp.is_file() and stamp.read_text() == key:
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([_python311(), "-m", "venv", str(venv)], check=True)
    done = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", *TORCH_PINS]
        + ["-e", f"{REPO}[brainscore]"],
        capture_output=True,
        text=True,
    )
    if done.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        pytest.fail(f"pip install brainlike[brainscore] failed:\n{done.stderr[-3000:]}")
    stamp.write_text(key)
    return venv


@pytest.fixture(scope="module")
def facts(tmp_path_factory: pytest.TempPathFactory) -> dict:
    venv = _venv()
    out = tmp_path_factory.mktemp("brainscore-vision")
    env = {
        **os.environ,
        "OMP_NUM_THREADS": "1",
        "RESULTCACHING_DISABLE": "1",  # Brain-Score's result cache: never written
        "BRAINSCORE_HOME": str(out / "brainscore-home"),
        "MPLBACKEND": "Agg",
    }
    env.pop("PYTHONPATH", None)  # the venv's own editable install of this checkout
    done = subprocess.run(
        [str(venv / "bin" / "python"), str(SCRIPT), str(out)],
        cwd=out,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, f"brainscore_vision_check.py failed:\n{done.stderr[-4000:]}"
    facts = json.loads(done.stdout.strip().splitlines()[-1])
    print(json.dumps(facts, indent=1))  # the numbers, shown with pytest -s
    return facts


@pytest.mark.slow
def test_installs_the_published_package(facts: dict) -> None:
    major, minor = (int(p) for p in facts["brainscore_vision"].split(".")[:2])
    assert (major, minor) >= (2, 4)
    xarray = tuple(int(p) for p in facts["xarray"].split(".")[:2])
    assert xarray < (2022, 6)  # brainscore-core's cap, met by brainlike's floor (2022.3)


@pytest.mark.slow
def test_look_at_returns_brainscore_assemblies(facts: dict) -> None:
    assert facts["commitment"]["IT"] == "pool"  # resnet20's last layer before the classifier
    assert facts["recording_type"] == "NeuroidAssembly"
    assert facts["recording_dims"] == ["presentation", "neuroid", "time_bin"]
    assert facts["recording_shape"] == [60, 64, 1]  # 60 images, 64 pooled channels, one bin
    assert facts["time_bins"] == [[70, 170]]
    assert facts["passive_again_max_diff"] == 0.0


@pytest.mark.slow
def test_pls_predictivity_equals_brainscores(facts: dict) -> None:
    pls = facts["pls"]
    assert facts["same_splits"]  # brainscore_splits == Brain-Score's CrossValidation splits
    # the signal is a mixture of the features; averaged noise (1.5 / sqrt(6)) caps r near 0.85
    assert 0.6 < pls["brainscore"] < 0.9
    assert pls["brainlike_sklearn_pls"] == pytest.approx(pls["brainscore"], abs=SAME_SOLVER_TOL)
    assert pls["brainlike_sklearn_pls_error"] == pytest.approx(
        pls["brainscore_error"], abs=SAME_SOLVER_TOL
    )
    for ours, theirs in zip(
        pls["brainlike_sklearn_pls_per_split"], pls["brainscore_per_split"], strict=True
    ):
        assert ours == pytest.approx(theirs, abs=SAME_SOLVER_TOL)
    # the converged PLS differs by sklearn's stopping tolerance only
    assert pls["brainlike"] == pytest.approx(pls["brainscore"], abs=CONVERGED_TOL)
    for ours, theirs in zip(pls["brainlike_per_split"], pls["brainscore_per_split"], strict=True):
        assert ours == pytest.approx(theirs, abs=CONVERGED_TOL)


@pytest.mark.slow
def test_ceiling_and_neural_benchmark_equal_brainscores(facts: dict) -> None:
    ceiling, bench = facts["ceiling"], facts["benchmark"]
    assert ceiling["brainlike"] == pytest.approx(ceiling["brainscore"], abs=1e-12)
    assert 0.5 < ceiling["brainscore"] < 0.9
    # the benchmark recorded through start_recording/look_at itself: same raw score as above
    assert bench["brainscore_raw"] == pytest.approx(facts["pls"]["brainscore"], abs=1e-12)
    # spec: neural-evaluation.md §10: ceiled = r^2 / ceiling
    assert bench["brainscore_ceiled"] == pytest.approx(
        bench["brainscore_raw"] ** 2 / ceiling["brainscore"], rel=1e-12
    )
    assert bench["brainlike_sklearn_pls_ceiled"] == pytest.approx(
        bench["brainscore_ceiled"], abs=10 * SAME_SOLVER_TOL
    )
    assert bench["brainlike_ceiled"] == pytest.approx(
        bench["brainscore_ceiled"], abs=10 * CONVERGED_TOL
    )
    # shown at 12 degrees, the 8-degree model sees Brain-Score's shrunken copies (read through
    # the converted StimulusSet's get_stimulus), not the images the sites were simulated from
    assert 0.3 < facts["benchmark_12deg_ceiled"] < bench["brainscore_ceiled"] - 0.02


@pytest.mark.slow
def test_probabilities_and_label_tasks(facts: dict) -> None:
    proba = facts["probabilities"]
    assert proba["type"] == "BehavioralAssembly"
    assert proba["dims"] == ["presentation", "choice"]
    assert proba["shape"] == [60, 4]
    assert proba["choices"] == ["object0", "object1", "object2", "object3"]
    assert proba["max_abs_row_sum_error"] < 1e-9
    assert proba["accuracy"] > 0.5  # chance is 0.25: the four objects differ in brightness
    assert facts["label"] == {"dims": ["presentation", "choice"], "shape": [60, 1]}
