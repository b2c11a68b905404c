"""Architecture and hyperparameter search with Optuna's TPE sampler (spec: recurrent.md §1).

A search file (YAML, ``yaml.safe_load``) names a base experiment config and a search space::

    name: convrnn-small-digits
    base: convrnn-base.yaml      # a path (relative to this file), a shipped name, or a mapping
    n_trials: 20                 # trials per `brainlike search` call
    epochs: 1                    # train.epochs of every trial
    space:
      cells:                     # a cell kind per layer ("none": no cell); shared: one for all
        layers: [conv3, conv4, conv5]
        kinds: [none, time_decay, gru, lstm, ugrnn, rgc]
      feedback:                  # candidate long-range edges, each switched on or off
        - [conv5, conv3]
      params:                    # any dotted config key: float, int or categorical
        train.lr: {type: float, low: 1.0e-4, high: 1.0e-2, log: true}
        model.width: {type: float, low: 0.0625, high: 0.125, step: 0.03125}

Each trial builds the experiment (base + sampled values), validates it, trains it into
``OUT/trials/<number>`` and records its test accuracy (the objective, maximised), parameters,
units (:func:`brainlike.analysis.size.count_units`) and run directory as the trial's user
attributes. A sampled combination that the config or the model refuses (a cell whose depth
must match its input, ``t_on`` longer than ``time_steps``) is a *pruned* trial with the reason
in its ``error`` attribute: the sampler learns to avoid it and the search goes on; a trial
that crashes while training is *failed*, its error recorded likewise.

The study lives in an Optuna RDB storage: an SQLite file ``OUT/search.sqlite`` by default, or
any SQLAlchemy URL (``postgresql://...``) so several machines can work on one study: a study of
the same name is joined (``load_if_exists``), and a heartbeat marks the trials of a worker that
died as failed. Each worker's TPE sampler is seeded with ``seed`` plus the number of trials
already in the study; give workers that start at the same moment different seeds.
"""

from __future__ import annotations

import copy
import math
import shutil
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brainlike.config.search import (
    NO_CELL,
    CellSpace,
    ParamRange,
    SearchConfig,
    SearchConfigError,
    SearchSpace,
    load_search,
    shipped_searches_dir,
)
from brainlike.config.search import resolved_search as _resolved

__all__ = [
    "CellSpace",
    "ParamRange",
    "SearchConfig",
    "SearchConfigError",
    "SearchSpace",
    "load_search",
    "render_trials_table",
    "run_search",
    "sample_experiment",
    "shipped_searches_dir",
]

HEARTBEAT_SECONDS = 60
"""Interval of a running trial's heartbeat; a trial silent for 3 intervals is failed."""


# ---------------------------------------------------------------------------------------------
# Sampling


def _set_dotted(data: dict[str, Any], key: str, value: Any) -> None:
    node = data
    parts = key.split(".")
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        if not isinstance(child, dict):
            raise ValueError(f"cannot set {key}: {part} holds {child!r}, not a mapping")
        node = child
    node[parts[-1]] = value


def sample_experiment(trial: Any, search: SearchConfig) -> dict[str, Any]:
    """The experiment dict of one trial: the base with the trial's sampled values.

    Parameters are named ``cells.<layer>`` (``cells`` when shared), ``feedback.<s>-><t>``
    (booleans) and the dotted keys of ``space.params``. Not validated here.
    """
    if not isinstance(search.base, dict):
        raise TypeError("search.base is not resolved; load the search with load_search")
    data = copy.deepcopy(search.base)
    data.setdefault("train", {})["epochs"] = search.epochs
    space = search.space
    model = data.setdefault("model", {})
    if space.cells is not None:
        layers, kinds = space.cells.layers, space.cells.kinds
        if space.cells.shared:
            kind = trial.suggest_categorical("cells", kinds)
            picks = dict.fromkeys(layers, kind)
        else:
            picks = {layer: trial.suggest_categorical(f"cells.{layer}", kinds) for layer in layers}
        cells = {layer: None if k == NO_CELL else k for layer, k in picks.items()}
        old = model.get("cells")
        # a per-layer base mapping keeps its other layers; a single kind is replaced
        if isinstance(old, dict) and "kind" not in old:
            cells = {**old, **cells}
        model["cells"] = cells
    if space.feedback:
        edges = [list(e) for e in model.get("feedback") or []]
        for source, target in space.feedback:
            if trial.suggest_categorical(f"feedback.{source}->{target}", [False, True]):
                edges.append([source, target])
        model["feedback"] = edges
    for key, rng in space.params.items():
        _set_dotted(data, key, rng.suggest(trial, key))
    return data


# ---------------------------------------------------------------------------------------------
# Running


def _open_storage(url: str) -> Any:
    import optuna
    import sqlalchemy as sa

    from brainlike.results.database import (
        creating_tables,
        engine_url,
        missing_driver,
        server_connect_args,
        unreachable,
    )

    parsed = engine_url(url)
    if parsed.get_backend_name() == "sqlite":
        # several processes on one file: wait for a lock instead of failing at once
        connect_args: dict[str, Any] = {"timeout": 60}
    else:
        connect_args = server_connect_args(parsed)
    try:
        with warnings.catch_warnings(), creating_tables(parsed):
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                parsed.render_as_string(hide_password=False),
                heartbeat_interval=HEARTBEAT_SECONDS,
                grace_period=3 * HEARTBEAT_SECONDS,
                engine_kwargs={"connect_args": connect_args},
            )
    except (sa.exc.NoSuchModuleError, ImportError) as err:  # Optuna raises ImportError
        raise missing_driver(parsed, err) from None
    except sa.exc.OperationalError as err:
        raise unreachable(parsed, err, "as a study storage") from None


def _display_url(url: str) -> str:
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not parseable: it failed to open before we got here
        return url


def run_search(
    search: SearchConfig | str | Path,
    out_dir: str | Path,
    *,
    n_trials: int | None = None,
    storage: str | None = None,
    seed: int | None = None,
    log: Callable[[str], None] | None = None,
    progress: bool = False,
) -> dict[str, Any]:
    """Run ``n_trials`` more trials of a search and summarise the whole study.

    Parameters
    ----------
    search : a search file (path or shipped name) or a :class:`SearchConfig` (its ``base`` a
        mapping, or a path resolved from the working directory).
    out_dir : folder of the trials (``trials/<number>``), the default SQLite storage and
        ``search_summary.json``.
    n_trials : trials to run in this call (default ``search.n_trials``); the study keeps the
        trials of earlier calls and of other workers.
    storage : SQLAlchemy URL of the study (default ``search.storage``, else
        ``sqlite:///<out_dir>/search.sqlite``).
    seed : seed of this worker's sampler (default ``search.seed``).
    log : called with one line per finished trial.
    progress : show each trial's training and the study's trials done with an ETA
        (:mod:`brainlike.progress`).

    Returns
    -------
    dict
        What ``search_summary.json`` holds: every trial of the study (number, state, value,
        params, test_acc, parameters, units, run_dir, error), the best trial and the Pareto
        front (trial numbers) of accuracy against units.
    """
    import optuna

    from brainlike.analysis.size import run_size
    from brainlike.config import ConfigError, config_from_dict
    from brainlike.progress import ProgressDisplay
    from brainlike.train.checkpoint import atomic_write_json
    from brainlike.train.loop import train

    if isinstance(search, (str, Path)):
        search = load_search(search)
    else:  # checked like a file: base valid, keys known
        search = _resolved(search, Path.cwd(), search.name)
    out = Path(out_dir).expanduser().resolve()
    out.mkdir(parents=True, exist_ok=True)
    url = storage or search.storage or f"sqlite:///{out / 'search.sqlite'}"
    say = log or (lambda _m: None)
    t0 = time.perf_counter()

    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    try:
        rdb = _open_storage(url)
        try:
            existing = len(rdb.get_all_trials(rdb.get_study_id_from_name(search.name)))
        except KeyError:
            existing = 0
        sampler = optuna.samplers.TPESampler(
            seed=(search.seed if seed is None else seed) + existing,
            n_startup_trials=search.startup_trials,
        )
        study = optuna.create_study(
            study_name=search.name,
            storage=rdb,
            sampler=sampler,
            direction="maximize",
            load_if_exists=True,
        )

        def invalid(trial: optuna.Trial, reason: str) -> None:
            trial.set_user_attr("status", "invalid")
            trial.set_user_attr("error", reason)
            raise optuna.TrialPruned(reason)

        def objective(trial: optuna.Trial) -> float:
            try:
                data = sample_experiment(trial, search)
            except ValueError as err:  # a dotted key runs into a value of the base
                invalid(trial, str(err))
            trial.set_user_attr("config", data)
            try:
                cfg = config_from_dict(data, f"trial {trial.number}")
            except ConfigError as err:
                invalid(trial, str(err))
            run_dir = out / "trials" / str(trial.number)
            trial.set_user_attr("run_dir", str(run_dir))
            try:
                summary = train(cfg, run_dir, overwrite=True, progress=progress, analyse=False)
            except ValueError as err:  # the model refuses the combination (cells, edges, sizes)
                _remove_empty_run(run_dir)
                invalid(trial, f"{type(err).__name__}: {err}")
            except Exception as err:
                trial.set_user_attr("status", "failed")
                trial.set_user_attr("error", f"{type(err).__name__}: {err}")
                raise
            size = run_size(run_dir, search.units_layers)
            acc = summary.get("test_acc")
            trial.set_user_attr("test_acc", acc)
            trial.set_user_attr("parameters", size["parameters"])
            trial.set_user_attr("units", size["units"])
            trial.set_user_attr("wall_seconds", summary.get("wall_seconds"))
            trial.set_user_attr("status", "complete")
            if acc is None or not math.isfinite(acc):
                raise RuntimeError(f"trial {trial.number} finished without a test accuracy")
            return float(acc)

        def report(_study: optuna.Study, ft: optuna.trial.FrozenTrial) -> None:
            a = ft.user_attrs
            secs = ft.duration.total_seconds() if ft.duration else float("nan")
            if ft.state == optuna.trial.TrialState.COMPLETE:
                say(
                    f"trial {ft.number}: test acc {ft.value:.4f}, units {a.get('units', 0):,}, "
                    f"parameters {a.get('parameters', 0):,}, {secs:.1f} s"
                )
            else:
                reason = str(a.get("error", "")).strip().splitlines()
                say(f"trial {ft.number}: {ft.state.name.lower()} ({' '.join(reason)[:200]})")

        n = search.n_trials if n_trials is None else int(n_trials)
        if n < 1:
            raise ValueError(f"n_trials must be at least 1, got {n}")
        with ProgressDisplay(progress) as display:
            trials_task = display.add_task(
                f"search {search.name}: trials", n, unit="trial", interval=0
            )
            study.optimize(
                objective,
                n_trials=n,
                catch=(Exception,),
                callbacks=[report, lambda _s, _t: display.advance(trials_task)],
            )
        summary = _summarise(study, search, out, url)
    finally:
        optuna.logging.set_verbosity(verbosity)
    summary["trials_this_call"] = n
    summary["wall_seconds"] = time.perf_counter() - t0
    atomic_write_json(out / "search_summary.json", summary)
    return summary


def _remove_empty_run(run_dir: Path) -> None:
    """Delete the folder an invalid trial left when it holds no file (never a trained run)."""
    if run_dir.is_dir() and not any(p.is_file() for p in run_dir.rglob("*")):
        shutil.rmtree(run_dir)


def _summarise(study: Any, search: SearchConfig, out: Path, url: str) -> dict[str, Any]:
    import optuna

    from brainlike.analysis.size import pareto_front

    trials = []
    for ft in study.get_trials(deepcopy=False):
        a = ft.user_attrs
        trials.append(
            {
                "number": ft.number,
                "state": ft.state.name.lower(),
                "value": ft.value,
                "params": dict(ft.params),
                "test_acc": a.get("test_acc"),
                "parameters": a.get("parameters"),
                "units": a.get("units"),
                "wall_seconds": a.get("wall_seconds"),
                "seconds": ft.duration.total_seconds() if ft.duration else None,
                "run_dir": a.get("run_dir"),
                "error": a.get("error"),
            }
        )
    done = [
        t
        for t in trials
        if t["state"] == "complete" and t["units"] is not None and t["test_acc"] is not None
    ]
    front = [done[i]["number"] for i in pareto_front([(t["units"], t["test_acc"]) for t in done])]
    for t in trials:
        t["on_front"] = t["number"] in front
    complete = study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,))
    best = None
    if complete:
        bt = study.best_trial
        best = next(t for t in trials if t["number"] == bt.number) | {
            "config": bt.user_attrs.get("config")
        }
    return {
        "name": search.name,
        "study": study.study_name,
        "storage": _display_url(url),
        "out_dir": str(out),
        "objective": search.objective,
        "direction": "maximize",
        "n_trials": len(trials),
        "states": {
            s: sum(t["state"] == s for t in trials) for s in sorted({t["state"] for t in trials})
        },
        "best": best,
        "pareto_front": front,
        "trials": trials,
    }


def _short_params(params: dict[str, Any]) -> str:
    parts = []
    for k, v in params.items():
        if k.startswith("feedback."):
            if v:
                parts.append(f"fb {k.removeprefix('feedback.')}")
            continue
        name = k.removeprefix("cells.").split(".")[-1]
        parts.append(f"{name}={v:.3g}" if isinstance(v, float) else f"{name}={v}")
    return " ".join(parts)


def render_trials_table(summary: dict[str, Any]) -> Any:
    """A rich table of a search summary's trials (``*``: on the accuracy-units front)."""
    from rich.table import Table

    table = Table(title=f"{summary['name']}: trials (* on the Pareto front of accuracy vs units)")
    notes = any(t.get("error") for t in summary["trials"])
    cols = ["#", "state", "test acc", "units", "parameters", "front", "sampled"]
    for col in cols + (["note"] if notes else []):
        table.add_column(col, justify="left" if col in ("state", "sampled", "note") else "right")
    for t in summary["trials"]:
        err = str(t.get("error") or "").strip().splitlines()
        note = " ".join(line.strip() for line in err)
        cells = [
            str(t["number"]),
            t["state"],
            "—" if t["test_acc"] is None else f"{t['test_acc']:.4f}",
            "—" if t["units"] is None else f"{t['units']:,}",
            "—" if t["parameters"] is None else f"{t['parameters']:,}",
            "*" if t["on_front"] else "",
            _short_params(t["params"]),
        ]
        table.add_row(*cells, *([note[:80] + ("…" if len(note) > 80 else "")] if notes else []))
    return table
