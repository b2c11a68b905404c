"""``brainlike score RUN -r RECORDING.nc`` for a spatial (entorhinal) recording: the run's
path-integration units mapped to the recorded cells (spec: mouse-and-entorhinal.md §2), see
:mod:`brainlike.evaluation.spatial_scoring`. ``score`` dispatches here when the recording is a
spatial one; the options of image scoring that mean nothing here are refused in one line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from brainlike.cli.application import _csv_list, _fail, _known_errors, _wide_console

#: options of ``score`` with no meaning for spatial scoring, and why
NOT_SPATIAL = {
    "stimuli": "a spatial recording has no stimulus set",
    "regions": "a spatial recording is one area (MEC)",
    "metric": "spatial scoring has one metric (held-out ridge r over bins vs the inter-animal "
    "ceiling)",
    "bootstraps": "the errors are bootstrap s.e.s over cells (1000 resamples)",
    "convention": "ceiled is raw / ceiling",
    "time_window": "rate maps pool the whole session",
    "numerator": "there are no trial halves",
    "split_half": "there are no trial halves",
    "model_seed": "the model is a trained path-integration run",
    "cache_dir": "rate maps are not cached",
    "temporal": "rate maps pool the whole session",
    "time_steps": "walks have the run's steps",
    "image_steps": "there are no images",
    "axes": "a spatial recording is netCDF, not a bare .npy",
    "drop_nan_neuroids": "every cell has spikes and a rate map",
}


def _given(ctx: typer.Context, name: str) -> bool:
    # by name: typer may carry its own copy of click's ParameterSource
    source = getattr(ctx.get_parameter_source(name), "name", None)
    return source not in (None, "DEFAULT", "DEFAULT_MAP")


def score_spatial_command(ctx: typer.Context) -> None:
    """Score a path-integration run against a spatial recording with ``score``'s options
    (``ctx.params``): write ``scores.json``, record one row per layer, print a table."""
    from brainlike.evaluation.outputs import check_output_free, score_output_dir
    from brainlike.evaluation.spatial_scoring import (
        MAPPING,
        METRIC,
        record_spatial_scores,
        recording_identity,
        save_spatial_scoring,
        score_spatial_layers,
    )

    p = ctx.params
    for name, why in NOT_SPATIAL.items():
        if _given(ctx, name):
            flag = "--" + name.replace("_", "-")
            _fail(f"{flag} does not apply to a spatial recording: {why}")
    if _given(ctx, "mapping") and p["mapping"] != "ridge":
        _fail(
            f"--mapping {p['mapping']} does not apply to a spatial recording: units map to cells "
            "by ridge over spatial bins (spec §2); leave --mapping out or pass ridge"
        )
    run = Path(p["model"]).expanduser()
    if not (run / "checkpoints" / "last.pt").is_file():
        _fail(
            f"{p['model']} is not a run folder with checkpoints/last.pt; a spatial recording "
            "scores a path-integration run (brainlike train pathint-small -o RUN)"
        )
    layers = _csv_list(p["layers"]) or ["g"]
    train_fraction = 0.2 if p["train_fraction"] is None else p["train_fraction"]
    seed = 0 if p["seed"] is None else p["seed"]
    as_json = p["as_json"]
    try:
        from brainlike.evaluation.pathint_maps import load_pathint_run

        _, cfg = load_pathint_run(run)
        benchmark, sha = recording_identity(p["recording"])
        folder = p["out"] or score_output_dir(str(cfg.name), benchmark, sha, METRIC, MAPPING)
        check_output_free(folder, p["overwrite"])
        database = None
        if not p["no_db"]:
            from brainlike.results import ResultsDB

            database = ResultsDB(p["db"])
        results = score_spatial_layers(
            run, p["recording"], layers=layers, splits=p["splits"],
            train_fraction=train_fraction, seed=seed, device=p["device"],
            progress=p["progress"] and not as_json,
        )  # fmt: skip
        path = save_spatial_scoring(results, folder, overwrite=p["overwrite"])
        written = record_spatial_scores(results, database) if database is not None else 0
    except _known_errors() as err:
        _fail(str(err))
    payload: dict[str, Any] = {
        "rows": [r.to_dict() for r in results],
        "files": {"scores": path},
        "database": None if database is None else {"url": database.url_display, "rows": written},
    }
    if as_json:
        print(json.dumps(payload, indent=2))
        return
    _print_spatial(payload)


def _print_spatial(payload: dict[str, Any]) -> None:
    """One row per layer: raw, ceiling, ceiled (each ± its error) and the KS statistics; the
    caption says what each number is."""
    from rich.table import Table
    from rich.text import Text

    rows = payload["rows"]
    first = rows[0]
    s = first["settings"]
    fmt = lambda v: "-" if v is None else f"{v:.3f}"  # noqa: E731
    table = Table(
        title=f"{first['model']} on {first['benchmark']} (MEC, {s['n_cells']} cells of "
        f"{len(s['animals'])} animals): ridge over {s['bins_used']} bins, {s['splits']} splits"
    )
    for name in ("layer", "raw", "ceiling", "ceiled", "KS grid D", "KS border D"):
        table.add_column(name, justify="left" if name == "layer" else "right", no_wrap=True)
    for r in rows:
        ks = {k: (v or {}).get("statistic") for k, v in r["ks"].items()}
        table.add_row(
            r["layer"],
            f"{fmt(r['raw'])} ± {fmt(r['raw_error'])}",
            f"{fmt(r['ceiling'])} ± {fmt(r['ceiling_error'])}",
            f"{fmt(r['ceiled'])} ± {fmt(r['ceiled_error'])}",
            fmt(ks["grid"]),
            fmt(ks["border"]),
        )
    c = first["conventions"]
    table.caption = Text(
        "\n".join(f"{k} = {c[k]}" for k in ("raw", "ceiling", "ceiled", "ks", "cell_maps")),
        justify="left",
    )
    con = _wide_console(110)
    con.print(table)
    con.print(f"written: {payload['files']['scores']}", highlight=False)
    if payload["database"]:
        con.print(
            f"database: {payload['database']['rows']} rows -> {payload['database']['url']}",
            highlight=False,
        )
