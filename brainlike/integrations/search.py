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
from typing import Any, Literal, get_args

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from brainlike.config import check_edge_pairs

__all__ = [
    "CellSpace",
    "ParamRange",
    "SearchConfig",
    "SearchSpace",
    "load_search",
    "render_trials_table",
    "run_search",
    "sample_experiment",
    "shipped_searches_dir",
]

NO_CELL = "none"
"""Cell kind meaning "this layer has no cell" in a search space."""

HEARTBEAT_SECONDS = 60
"""Interval of a running trial's heartbeat; a trial silent for 3 intervals is failed."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ParamRange(_Strict):
    """The range of one dotted config key: ``float``/``int`` (``low``..``high``, optionally
    ``log`` or ``step``) or ``categorical`` (``choices``)."""

    type: Literal["float", "int", "categorical"]
    low: float | None = None
    high: float | None = None
    log: bool = False
    step: float | None = Field(default=None, gt=0)
    choices: list[Any] | None = None

    @model_validator(mode="after")
    def _consistent(self) -> ParamRange:
        if self.type == "categorical":
            if not self.choices:
                raise ValueError("a categorical range needs a non-empty list of choices")
            bad = [
                c for c in self.choices if not isinstance(c, (str, int, float, bool, type(None)))
            ]
            if bad:
                raise ValueError(f"choices must be strings, numbers, booleans or null; got {bad}")
            if self.low is not None or self.high is not None or self.log or self.step:
                raise ValueError("a categorical range takes choices only (no low, high, log, step)")
            return self
        if self.choices is not None:
            raise ValueError(f"a {self.type} range takes low and high, not choices")
        if self.low is None or self.high is None:
            raise ValueError(f"a {self.type} range needs low and high")
        if not self.low < self.high:
            raise ValueError(f"low ({self.low}) must be below high ({self.high})")
        if self.log and self.low <= 0:
            raise ValueError(f"a log range needs low > 0, got {self.low}")
        if self.log and self.step is not None:
            raise ValueError("a range is either log or stepped, not both")
        if self.type == "int":
            nums = [self.low, self.high] + ([self.step] if self.step is not None else [])
            if any(not float(v).is_integer() for v in nums):
                raise ValueError(f"an int range needs whole low, high and step; got {nums}")
        return self

    def suggest(self, trial: Any, name: str) -> Any:
        """Draw a value for ``name`` from an Optuna trial."""
        if self.type == "categorical":
            return trial.suggest_categorical(name, self.choices)
        if self.type == "int":
            step = int(self.step) if self.step is not None else 1
            return trial.suggest_int(name, int(self.low), int(self.high), step=step, log=self.log)
        return trial.suggest_float(name, self.low, self.high, log=self.log, step=self.step)


class CellSpace(_Strict):
    """Cell kinds tried in ConvRNN layers (``model.cells``)."""

    layers: list[str] = Field(min_length=1, description="layers that may hold a cell")
    kinds: list[str] = Field(min_length=1, description=f"cell kinds; {NO_CELL!r}: no cell")
    shared: bool = Field(default=False, description="one kind for all layers, not one each")

    @field_validator("kinds")
    @classmethod
    def _known(cls, v: list[str]) -> list[str]:
        from brainlike.models.convrnn.cells import cell_names

        known = [NO_CELL, *cell_names()]
        bad = [k for k in v if k not in known]
        if bad:
            raise ValueError(f"unknown cell kind(s) {bad}; known: {', '.join(known)}")
        return list(dict.fromkeys(v))


class SearchSpace(_Strict):
    """What a trial samples."""

    cells: CellSpace | None = None
    feedback: list[list[str]] = Field(
        default_factory=list, description="candidate feedback edges [source, target]"
    )
    params: dict[str, ParamRange] = Field(default_factory=dict)

    @field_validator("feedback")
    @classmethod
    def _pairs(cls, v: list[list[str]]) -> list[list[str]]:
        return check_edge_pairs(v)


class SearchConfig(_Strict):
    """A search: base experiment, space, budget, storage."""

    name: str = Field(min_length=1, max_length=120, description="study name in the storage")
    base: str | dict[str, Any] = Field(
        description="experiment config: a path, a shipped recipe name, or an inline mapping"
    )
    space: SearchSpace
    n_trials: int = Field(default=20, ge=1, description="trials per call")
    epochs: int = Field(default=1, ge=1, description="train.epochs of every trial")
    objective: Literal["test_acc"] = "test_acc"
    seed: int = Field(default=0, ge=0, description="seed of the TPE sampler")
    startup_trials: int = Field(default=10, ge=1, description="random trials before TPE")
    storage: str | None = Field(
        default=None, description="SQLAlchemy URL (default sqlite:///OUT/search.sqlite)"
    )
    units_layers: list[str] | None = Field(
        default=None, description="layers whose units are summed (default: the scored layers)"
    )


class SearchConfigError(ValueError):
    """A search file that cannot describe a search; the message says why."""


def shipped_searches_dir() -> Path:
    """The folder of the search recipes shipped with the package."""
    from brainlike.config import shipped_configs_dir

    return shipped_configs_dir() / "searches"


def load_search(path: str | Path) -> SearchConfig:
    """Read and validate a search file; its ``base`` comes back as a validated mapping.

    ``path`` is a file or the name of a shipped search (``convrnn-small-digits``). A ``base``
    path is looked up next to the search file, then as a path or shipped experiment recipe.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        shipped = shipped_searches_dir() / (p.name if p.suffix else f"{p.name}.yaml")
        if not shipped.is_file():
            names = sorted(q.stem for q in shipped_searches_dir().glob("*.yaml"))
            raise SearchConfigError(
                f"search file {p} does not exist; shipped searches: {', '.join(names) or 'none'}"
            )
        p = shipped
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as err:
        raise SearchConfigError(f"{p}: not valid YAML ({err})") from None
    if not isinstance(data, dict):
        raise SearchConfigError(f"{p}: the top level must be a mapping, got {type(data).__name__}")
    try:
        search = SearchConfig.model_validate(data)
    except ValidationError as err:
        lines = [f"{p}: {err.error_count()} problem(s) in the search"]
        for e in err.errors():
            loc = ".".join(str(x) for x in e["loc"]) or "(top level)"
            msg = e["msg"].removeprefix("Value error, ")
            if e["type"] == "extra_forbidden":
                msg = "unknown key" + (
                    f"; allowed keys: {', '.join(SearchConfig.model_fields)}"
                    if len(e["loc"]) == 1
                    else ""
                )
            lines.append(f"  - {loc}: {msg}")
        raise SearchConfigError("\n".join(lines)) from None
    return _resolved(search, p.parent, str(p))


def _resolved(search: SearchConfig, folder: Path, source: str) -> SearchConfig:
    """``search`` with its base read, validated and checked against the space."""
    from brainlike.config import ConfigError, config_from_dict, resolve_config_path

    base = search.base
    if isinstance(base, str):
        local = (folder / base).expanduser()
        base_path = local if local.is_file() else resolve_config_path(base)
        if not base_path.is_file():
            raise SearchConfigError(
                f"{source}: base config {base!r} not found (next to the search file, as a path, "
                "or as a shipped recipe; `brainlike configs` lists those)"
            )
        try:
            base = yaml.safe_load(base_path.read_text()) or {}
        except yaml.YAMLError as err:
            raise SearchConfigError(f"{base_path}: not valid YAML ({err})") from None
    try:
        cfg = config_from_dict(copy.deepcopy(base), f"{source}: base")
    except ConfigError as err:
        raise SearchConfigError(str(err)) from None
    space = search.space
    if (space.cells or space.feedback) and cfg.model.kind != "convrnn":
        raise SearchConfigError(
            f"{source}: space.cells and space.feedback apply to model.kind convrnn; the base "
            f"is {cfg.model.kind!r}"
        )
    if space.cells and cfg.model.kind == "convrnn" and cfg.model.base == "shallow-lstm":
        raise SearchConfigError(
            f"{source}: base shallow-lstm brings its own cells; search cells on base6, base11, "
            "rgc-median or rgc-approx"
        )
    for key in space.params:
        _check_key(key, base, source)
    return search.model_copy(update={"base": base})


def _check_key(key: str, base: dict[str, Any], source: str) -> None:
    """Refuse a dotted key that names no config field (a typo would spoil every trial)."""
    from brainlike.config import MODEL_KINDS, ExperimentConfig

    model: type[BaseModel] | None = ExperimentConfig
    parts = key.split(".")
    for i, part in enumerate(parts):
        if model is None:
            return  # inside a free-form mapping (model.cells.conv3.kind): checked per trial
        here = ".".join(parts[: i + 1])
        field = model.model_fields.get(part)
        if field is None:
            raise SearchConfigError(
                f"{source}: space.params.{key}: {here} is not a config key; keys there: "
                f"{', '.join(model.model_fields)}"
            )
        if model is ExperimentConfig and part == "model":
            kind = (base.get("model") or {}).get("kind", "reset")
            model = MODEL_KINDS.get(kind)
            continue
        ann = field.annotation
        nxt = [a for a in (ann, *get_args(ann)) if isinstance(a, type) and issubclass(a, BaseModel)]
        mapping = ann is Any or any(
            a is dict or getattr(a, "__origin__", None) is dict for a in (ann, *get_args(ann))
        )
        if nxt:
            model = nxt[0]
        elif i < len(parts) - 1 and not mapping:
            raise SearchConfigError(
                f"{source}: space.params.{key}: {here} is a value, not a section"
            )
        else:
            model = None


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

    kwargs: dict[str, Any] = {}
    if url.startswith("sqlite"):
        # several processes on one file: wait for a lock instead of failing at once
        kwargs["engine_kwargs"] = {"connect_args": {"timeout": 60}}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            url,
            heartbeat_interval=HEARTBEAT_SECONDS,
            grace_period=3 * HEARTBEAT_SECONDS,
            **kwargs,
        )


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
