"""README examples run as written (issue 11, item 22).

Fast tests check every ``brainlike ...`` line of the README's command blocks against the
command objects (the subcommand exists, every option it uses exists, a recipe named by name is
shipped) and that every Python snippet defines or imports each name it uses. The slow test runs
the command lines in README order in a temporary folder with the offline defaults, after the
explicit substitutions below, and executes the Python snippets.
"""

from __future__ import annotations

import ast
import builtins
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

from brainlike.cli import app
from brainlike.config import shipped_configs_dir

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"

# Placeholders and paths of the README -> concrete offline values (applied to the line, in order).
SUBSTITUTIONS: list[tuple[str, str]] = [
    ("CONFIG", "reset4-small-digits"),
    ("runs/reset8-mnist", "runs/reset4-small-digits"),  # MNIST needs a download
    (" [runs/other ...]", " runs/demo/demo-plain"),
    ("-r data.nc", "-r runs/sim/recording.nc"),
    ("[--benchmark NAME[@HASH]] ", ""),  # benchmark names depend on the recording's hash
    ("runs/x ", "convrnn6-small "),  # a registered ConvRNN (random weights)
    (" [--storage postgresql://...]", ""),  # needs a database server
    ("runs/convrnn-temporal-digits/runs", "runs/demo"),  # the suite is skipped: the demo's runs
]
# Options added to keep a line short on 2 CPU cores (by the start of the line).
SHORTER: dict[str, str] = {
    "brainlike demo": "--epochs 1 --no-progress",
    "brainlike train reset4-small-digits": "--epochs 1 --no-progress",
    "brainlike train CONFIG --resume": "--epochs 2 --no-progress",
    "brainlike compare lp-lenet-digits": "--epochs 1 --seeds 0,1 --no-progress",
    "brainlike search convrnn-small-digits": "--trials 2",
    "brainlike cache clear": "--yes",
    "brainlike train streamnet-dual": "--epochs 1 --no-progress",
    "brainlike train mouse-brain-scenes": "--epochs 1 --no-progress",
    "brainlike train pathint-small": "--epochs 2 --no-progress",
}
# Lines not run, with the reason.
SKIPPED: dict[str, str] = {
    "brainlike train configs/reset8-mnist.yaml --data-dir ~/data --download": "downloads MNIST",
    "brainlike experiment grcnn-brainlikeness-digits": "8 trainings: about an hour on 2 CPU cores",
    "brainlike experiment grcnn-brainlikeness-digits --seeds 0,1,2": "24 trainings: hours",
    "brainlike train grcnn55-imagenet": "needs an ImageNet folder and a GPU",
    "brainlike experiment convrnn-temporal-digits": "4 ConvRNN trainings: over an hour on CPU",
    "brainlike experiment rules-digits --out runs/rules-digits [--json]": "78 trainings: ~50 min",
    "brainlike experiment rules-imagenet": "needs an ImageNet folder and a GPU",
    "brainlike experiment mouse-digits --out runs/mouse-digits [--seeds 0,1,2] [--json]": (
        "19 trainings, each scored 6 times and read out on 5 tasks: about 45 minutes"
    ),
    "brainlike experiment mec-small --out runs/mec-small [--json]": (
        "17 path-integration trainings, each analysed, mapped and ablated: about 70 minutes"
    ),
    "brainlike recording spatial --positions pos.mat --spikes t1c1.mat t1c2.mat --format mat "
    "--arena 1.5 -o runs/my-session": "needs a recorded session's MATLAB files",
    "brainlike recording allen session1.nwb session2.nwb --scenes scenes.npy -o runs/allen": (
        "needs Allen Brain Observatory NWB files and the 118 scene images"
    ),
}
# Python snippets: paths relative to the repository root.
PYTHON_SUBSTITUTIONS: list[tuple[str, str]] = [
    ('"configs/', f'"{shipped_configs_dir()}/'),
]


def fenced_blocks(text: str) -> list[tuple[str, int, str]]:
    """The README's fenced blocks as (language, first line number, body)."""
    blocks, lang, start, body = [], None, 0, []
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            if lang is None:
                lang, start, body = line[3:].strip(), number + 1, []
            else:
                blocks.append((lang, start, "\n".join(body)))
                lang = None
        elif lang is not None:
            body.append(line)
    assert lang is None, "an unclosed fenced block in README.md"
    return blocks


def readme_commands() -> list[str]:
    """Every ``brainlike ...`` line of the command blocks, in order, without its comment."""
    commands = []
    for lang, _, body in fenced_blocks(README.read_text()):
        if lang not in ("", "bash", "sh", "console"):
            continue
        for line in body.splitlines():
            line = re.sub(r"\s+#.*$", "", line).strip()
            if line.startswith("brainlike"):
                commands.append(line)
    return commands


def python_snippets() -> list[tuple[int, str]]:
    return [
        (start, body) for lang, start, body in fenced_blocks(README.read_text()) if lang == "python"
    ]


def _tokens(command: str) -> list[str]:
    # "[--json]" marks an optional part: check (and run) it like any other
    return [t for t in shlex.split(command.replace("[", " ").replace("]", " ")) if t != "..."]


def _check_command(command: str) -> list[str]:
    """What in one README command line does not exist; empty when everything does."""
    tokens = _tokens(command)[1:]
    cmd = typer.main.get_command(app)
    path = ["brainlike"]
    while tokens and not tokens[0].startswith("-") and getattr(cmd, "commands", None):
        if tokens[0] not in cmd.commands:
            return [f"{' '.join(path)} has no subcommand {tokens[0]!r}"]
        cmd = cmd.commands[tokens[0]]
        path.append(tokens.pop(0))
    if getattr(cmd, "commands", None) and not any(t in ("--help", "--version") for t in tokens):
        return [f"{' '.join(path)} needs a subcommand"]
    options = {}
    for param in cmd.params:
        if param.param_type_name == "option":
            for opt in [*param.opts, *param.secondary_opts]:
                options[opt] = param
    problems, positional, i = [], [], 0
    while i < len(tokens):
        token = tokens[i]
        if token.startswith("-") and len(token) > 1:
            name = token.split("=", 1)[0]
            if name == "--help":
                pass
            elif name not in options:
                problems.append(f"{' '.join(path)} has no option {name}")
            elif not options[name].is_flag and "=" not in token:
                i += 1  # its value
        else:
            positional.append(token)
        i += 1
    # a recipe, suite or search named by name must be shipped
    folders = {"train": "", "compare": "", "experiment": "suites", "search": "searches"}
    if path[-1] in folders and positional:
        name = positional[0]
        if "/" not in name and not name.endswith(".yaml") and not name.isupper():
            shipped = shipped_configs_dir() / folders[path[-1]] / f"{name}.yaml"
            if not shipped.is_file():
                problems.append(f"no shipped {path[-1]} recipe {name!r}")
    return problems


def test_readme_has_commands_and_snippets():
    commands = readme_commands()
    assert len(commands) > 20 and len(python_snippets()) >= 2
    assert set(SKIPPED) <= set(commands), set(SKIPPED) - set(commands)


@pytest.mark.parametrize("command", readme_commands())
def test_readme_command_uses_existing_subcommand_and_options(command):
    assert _check_command(command) == []


def test_the_command_check_finds_what_does_not_exist():
    assert _check_command("brainlike train reset4-small-digits --dataset digits") == [
        "brainlike train has no option --dataset"
    ]
    assert _check_command("brainlike cache info [--json]") == []
    assert _check_command("brainlike cache list") == ["brainlike cache has no subcommand 'list'"]
    assert _check_command("brainlike train no-such-recipe") == [
        "no shipped train recipe 'no-such-recipe'"
    ]


def _undefined_names(source: str) -> set[str]:
    """Names a snippet reads that it neither imports nor assigns (nor are builtins)."""
    tree = ast.parse(source)
    defined = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            defined.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.ClassDef):
            defined.add(node.name)
        elif isinstance(node, ast.arg):
            defined.add(node.arg)
    used = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return used - defined


@pytest.mark.parametrize("start,source", python_snippets(), ids=lambda v: str(v)[:12])
def test_readme_python_snippet_defines_every_name_it_uses(start, source):
    assert _undefined_names(source) == set(), f"README.md line {start}"


def test_the_snippet_check_finds_an_undefined_name():
    assert _undefined_names("import numpy as np\nx = np.ones(2)\nprint(x + class_means)") == {
        "class_means"
    }


def _runnable(command: str) -> str:
    extra = next((v for k, v in SHORTER.items() if command.startswith(k)), "")
    for old, new in SUBSTITUTIONS:
        command = command.replace(old, new)
    return f"{command.replace('[', '').replace(']', '')} {extra}".strip()


@pytest.mark.slow
def test_readme_commands_and_snippets_run_offline(tmp_path):
    env = {
        **os.environ,
        "BRAINLIKE_CACHE": str(tmp_path / "cache"),
        "BRAINLIKE_RESULTS": str(tmp_path / "results.sqlite"),
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        "COLUMNS": "160",
    }
    failures = []
    for command in readme_commands():
        if command in SKIPPED:
            continue
        line = _runnable(command)
        args = [sys.executable, "-m", "brainlike.cli", *_tokens(line)[1:]]
        done = subprocess.run(
            args, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=1800
        )
        if done.returncode != 0:
            failures.append(f"{line}\n  -> exit {done.returncode}: {done.stderr[-600:]}")
    for start, source in python_snippets():
        for old, new in PYTHON_SUBSTITUTIONS:
            source = source.replace(old, new)
        done = subprocess.run(
            [sys.executable, "-c", source],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=1800,
        )
        if done.returncode != 0:
            failures.append(f"README.md line {start} (python)\n  -> {done.stderr[-600:]}")
    assert not failures, "\n".join(failures)
