"""Training a zoo of networks for rule identification, shared by several processes.

spec: learning-rules.md §2. ``brainlike identify build ZOO`` reads a zoo file
(:mod:`brainlike.config.identify`), writes every run's experiment config to ``DIR/configs/``
and trains the runs into ``DIR/runs/<run>/`` with the one training loop (observe on). It is
resumable: a finished run is reused, an interrupted one resumes from its last checkpoint.
Several processes (on one machine or on several sharing the folder) may build the same zoo at
once: each run is *claimed* before it is trained, by creating ``DIR/claims/<run>.claim``
atomically (``O_CREAT | O_EXCL``: exactly one process succeeds) with the claimant's process
id, host, process start time and a random token. The claim is removed when the run ends. A
claim whose process is gone (same host, no such process, or another process now has that id)
is stale and is taken over: renamed away (atomic: one process wins), checked to be the stale
claim that was read (else put back), then claimed afresh with ``O_EXCL``. A claim made on
another host cannot be checked from here and is never taken over: if that process died, delete
its ``DIR/claims/<run>.claim`` (the run then resumes from its last checkpoint). A process that finds
every remaining run claimed by live processes waits for them (``wait``) and takes over the
runs of any that die; then the feature table of the finished runs is written
(``DIR/features.csv``, :func:`~brainlike.analysis.identify.features.feature_table`).
"""

from __future__ import annotations

import json
import os
import socket
import time
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

__all__ = ["build_zoo", "claim_and_run", "release_claim", "try_claim", "write_feature_table"]


def _process_start(pid: int) -> str | None:
    """The start time of process ``pid`` (clock ticks since boot; None where /proc is absent)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[19]  # field 22 of proc(5)


def _claim_record() -> dict[str, Any]:
    return {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "start": _process_start(os.getpid()),
        "token": uuid.uuid4().hex,
        "claimed_at": time.time(),
    }


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def _holder_alive(info: dict[str, Any] | None, path: Path, grace: float = 60.0) -> bool:
    """Whether the process that wrote claim ``info`` may still be running."""
    if info is None:  # being written right now, or its writer died between create and write
        try:
            return time.time() - path.stat().st_mtime < grace
        except FileNotFoundError:
            return False
    if info.get("host") != socket.gethostname():
        return True  # another machine's process: cannot be checked from here
    pid = int(info.get("pid", -1))
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    except (OSError, ValueError):
        return False
    start = _process_start(pid)
    return start is None or info.get("start") in (None, start)


def try_claim(path: str | Path) -> bool:
    """Claim ``path`` for this process (see the module docstring); True when it is ours."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            info = _read(path)
            if _holder_alive(info, path):
                return False
            away = path.with_name(f"{path.name}.stale-{os.getpid()}-{uuid.uuid4().hex[:8]}")
            try:
                os.rename(path, away)
            except FileNotFoundError:
                continue  # another process took it over first
            moved = _read(away)
            if info is not None and (moved or {}).get("token") != info.get("token"):
                # a fresh claim was made between our read and the rename: give it back
                try:
                    os.link(away, path)
                except FileExistsError:
                    pass
                away.unlink(missing_ok=True)
                return False
            away.unlink(missing_ok=True)
            continue
        record = _claim_record()
        with os.fdopen(fd, "w") as fh:
            json.dump(record, fh)
        _OWN[str(path)] = record["token"]
        return True
    return False


#: claim path -> token of the claims this process holds
_OWN: dict[str, str] = {}


def release_claim(path: str | Path) -> None:
    """Remove this process's claim ``path`` (another process's claim is left alone)."""
    path = Path(path)
    token = _OWN.pop(str(path), None)
    info = _read(path)
    if token is not None and info is not None and info.get("token") == token:
        path.unlink(missing_ok=True)


def claim_and_run(
    items: Sequence[str],
    claims: str | Path,
    work: Callable[[str], None],
    done: Callable[[str], bool],
    *,
    wait: bool = True,
    poll: float = 5.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Do ``work(item)`` for every item not ``done``, each claimed once among processes.

    Parameters
    ----------
    items : names of the work items (runs).
    claims : folder of the claim files (``<item>.claim``).
    work : does one item (trains one run); an exception marks the item failed.
    done : whether an item is finished already (checked before and after claiming it).
    wait : when the remaining items are claimed by live processes, wait for them (and take
        over the items of those that die) instead of returning.
    poll : seconds between looks at the claims while waiting.
    log : where progress lines go.

    Returns
    -------
    dict
        ``done_before`` (reused), ``done_here``, ``failed`` (item -> message), ``busy`` (items
        still claimed by other processes when returning).
    """
    claims = Path(claims)
    result: dict[str, Any] = {"done_before": [], "done_here": [], "failed": {}, "busy": []}
    pending = list(items)
    first = True
    while pending:
        busy = []
        for item in pending:
            if done(item):
                if first:
                    result["done_before"].append(item)
                continue
            path = claims / f"{item}.claim"
            if not try_claim(path):
                busy.append(item)
                continue
            try:
                if done(item):  # finished by another process between our looks
                    continue
                work(item)
                result["done_here"].append(item)
            except Exception as err:  # one failed run does not stop the zoo
                result["failed"][item] = f"{type(err).__name__}: {err}"
                log(f"{item} failed: {type(err).__name__}: {err}")
            finally:
                release_claim(path)
        first = False
        pending = [i for i in busy if i not in result["failed"]]
        if not pending or not wait:
            break
        log(f"waiting for {len(pending)} run(s) other processes are training")
        time.sleep(poll)
    result["busy"] = [i for i in pending if not done(i)]
    return result


def write_feature_table(out: Path, names: Sequence[str]) -> tuple[Path | None, list[str]]:
    """Write ``out/features.csv`` from the finished runs among ``names``; returns its path
    (None when no run is finished) and the runs it covers."""
    import pandas as pd

    from brainlike.analysis.identify.features import FEATURES_NAME, feature_table
    from brainlike.analysis.identify.tables import TABLE_NAME, read_observables
    from brainlike.evaluation.suite_runs import _trained
    from brainlike.train.checkpoint import atomic_write_text

    finished = [
        n for n in names if _trained(out / "runs" / n) and (out / "runs" / n / TABLE_NAME).is_file()
    ]
    if not finished:
        return None, []
    table = feature_table(pd.concat([read_observables(out / "runs" / n) for n in finished]))
    path = atomic_write_text(out / FEATURES_NAME, table.to_csv(index=False, float_format="%.8g"))
    return path, finished


def build_zoo(
    zoo: str | Path,
    out: str | Path | None = None,
    *,
    progress: bool = False,
    wait: bool = True,
    poll: float = 10.0,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Train (or finish) every run of a zoo and write its feature table.

    Parameters
    ----------
    zoo : a zoo file or a shipped zoo's name (:func:`brainlike.config.identify.load_zoo`).
    out : the zoo folder (default ``runs/identify/<zoo name>``).
    progress : show each run's progress bar.
    wait, poll : see :func:`claim_and_run`.
    log : where progress lines go.

    Returns
    -------
    dict
        ``zoo``, ``out``, ``runs`` (count), ``reused``, ``trained``, ``failed``, ``busy``,
        ``features`` (path or None), ``covered`` (runs in the feature table).
    """
    import yaml

    from brainlike.config.identify import load_zoo
    from brainlike.evaluation.suite_runs import _train, _trained
    from brainlike.train.checkpoint import atomic_write_text
    from brainlike.train.run_dir import _same_experiment

    spec, runs = load_zoo(zoo)
    out = Path(out) if out is not None else Path("runs/identify") / spec.name
    configs = out / "configs"
    # a zoo folder started with other settings is refused before anything is written
    for name, cfg in runs:
        old = configs / f"{name}.yaml"
        if old.is_file():
            from brainlike.config import load_config

            if not _same_experiment(load_config(old), cfg):
                raise ValueError(
                    f"{out} holds a zoo whose run {name} was configured otherwise ({old} differs "
                    "from what the zoo file gives now); build it into another --out"
                )
    configs.mkdir(parents=True, exist_ok=True)
    for name, cfg in runs:
        atomic_write_text(configs / f"{name}.yaml", cfg.to_yaml())
    atomic_write_text(
        out / "zoo.yaml", yaml.safe_dump(spec.model_dump(mode="json"), sort_keys=False)
    )
    names = [name for name, _ in runs]

    def work(name: str) -> None:
        _train(configs / f"{name}.yaml", out / "runs" / name, progress, lambda m: log(m))

    result = claim_and_run(
        names, out / "claims", work, lambda n: _trained(out / "runs" / n),
        wait=wait, poll=poll, log=log,
    )  # fmt: skip
    path, covered = write_feature_table(out, names)
    return {
        "zoo": spec.name,
        "out": str(out),
        "runs": len(names),
        "reused": result["done_before"],
        "trained": result["done_here"],
        "failed": result["failed"],
        "busy": result["busy"],
        "features": str(path) if path else None,
        "covered": len(covered),
    }
