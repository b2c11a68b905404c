"""``brainlike synapses``: synaptic weight dynamics of a synapses x sessions table (or of the
generated example with known dynamics)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from brainlike.cli.application import _console, _csv_list, _fail, json_option


def _band(value: str, option: str) -> tuple[float, float] | None:
    if value.strip().lower() == "none":
        return None
    try:
        lo, hi = (float(v) for v in value.split(","))
    except ValueError:
        _fail(f"{option} takes two percentiles LOW,HIGH such as 40,60 (or none); got {value!r}")
        raise  # unreachable: _fail exits
    return lo, hi


def synapses(
    file: Path | None = typer.Argument(
        None,
        help="synapses x sessions table: .csv (label columns + one column per session), "
        ".npz (sizes, labels) or .npy; NaN or 0 = absent",
    ),
    cell_type: str | None = typer.Option(
        None, "--cell-type", help="comma-separated cell types to analyse (default: each one)"
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="output folder (default runs/synapses/FILE-STEM)"
    ),
    metadata: Path | None = typer.Option(
        None,
        "--metadata",
        help=".npy/.npz: CSV of per-synapse labels (cell_type, dendrite, "
        "animal, synapse_id), one row per synapse",
    ),
    session_times: str | None = typer.Option(
        None,
        "--session-times",
        help="comma-separated session times (e.g. days) for files without them",
    ),
    normalise: str = typer.Option(
        "40,60",
        "--normalise",
        help="percentile band of the within-dendrite, within-session "
        "reference each size is divided by; none for normalised data",
    ),
    filter_band: str = typer.Option(
        "25,75",
        "--filter",
        help="percentile band of first-session size of the persistent "
        "synapses whose drift is measured",
    ),
    bins: int = typer.Option(20, "--bins", help="equal-count bins of the Kesten regressions"),
    bin_size: int | None = typer.Option(
        None, "--bin-size", help="changes per Kesten bin instead of --bins"
    ),
    states: int = typer.Option(20, "--states", help="size states of the Markov chain (plus 0)"),
    binning: str = typer.Option(
        "equal_width", "--binning", help="equal_width (top bins merged into one) | equal_count"
    ),
    width_bins: int = typer.Option(
        40, "--width-bins", help="equal_width: bins of equal width, those above --states - 1 merged"
    ),
    bootstrap: int = typer.Option(30, "--bootstrap", help="resamples of the synapses"),
    seed: int = typer.Option(0, "--seed"),
    example: Path | None = typer.Option(
        None,
        "--example",
        help="write a table with known dynamics (synapses.csv, truth.json) to "
        "this folder and analyse it there",
    ),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="replace a report (and an example) already in the folder"
    ),
    as_json: bool = json_option("print every number as JSON"),
) -> None:
    """Kesten process and Markov chain of synapse sizes over imaging sessions, with an HTML
    report.

    Sizes are divided by their dendrite's typical size on each session (40-60th percentile),
    then each cell type is analysed: are changes multiplicative, additive or both (Kesten fit:
    binned regressions and maximum likelihood); the Markov chain over a zero state and size
    states (stationary distribution with bootstrap, convergence, survival, correlation of
    changes); additions, eliminations and drift. Writes summary.json (every number), the
    figures and report.html.
    """
    if (file is None) == (example is None):
        _fail("give a table FILE to analyse, or --example DIR to write and analyse the example")
    band = _band(normalise, "--normalise")
    kept = _band(filter_band, "--filter")
    if kept is None:
        _fail("--filter takes two percentiles LOW,HIGH such as 25,75")
    times: list[float] | None = None
    if session_times:
        try:
            times = [float(v) for v in session_times.split(",") if v.strip()]
        except ValueError:
            _fail(
                f"--session-times takes comma-separated numbers such as 0,4,8; got {session_times!r}"
            )
    from brainlike.analysis.synapses import analyse_synapses
    from brainlike.analysis.synapses.example import simulate_synapses, write_example
    from brainlike.data.synapses import read_synapses
    from brainlike.report.synapses import check_report_free, write_synapse_report

    settings: dict[str, Any] = {
        "cell_types": _csv_list(cell_type),
        "normalise": band,
        "filter_band": kept,
        "n_bins": bins,
        "bin_size": bin_size,
        "n_states": states,
        "binning": binning,
        "n_width_bins": width_bins,
        "n_bootstrap": bootstrap,
        "seed": seed,
    }
    truth = None
    try:
        if example is not None:
            if metadata is not None or times is not None:
                raise ValueError("--metadata and --session-times apply to a FILE, not --example")
            folder = out or example
            check_report_free(folder, overwrite)
            csv_path = example / "synapses.csv"
            if csv_path.exists() and not overwrite:
                raise ValueError(f"{csv_path} exists; pass --overwrite to replace the example")
            table, truth = simulate_synapses(seed=seed)
            # analysed before anything is written: a bad setting leaves the folder untouched
            summary = analyse_synapses(table, **settings)
            written = write_example(example, table, truth)
            summary["source"] = str(written["table"])
        else:
            folder = out or Path("runs/synapses") / file.stem
            check_report_free(folder, overwrite)
            table = read_synapses(file, metadata=metadata, session_times=times)
            summary = analyse_synapses(table, **settings)
        if truth is not None:
            summary["truth"] = truth
        files = write_synapse_report(summary, folder)
    except (ValueError, OSError) as err:  # the readers' and checks' errors (no torch import)
        _fail(str(err))
    if example is not None:
        files["table"] = str(example / "synapses.csv")
        files["truth"] = str(example / "truth.json")
    if as_json:
        print(json.dumps({**summary, "files": files}, indent=2))
        return
    _print_summary(summary, files)


def _print_summary(summary: dict[str, Any], files: dict[str, Any]) -> None:
    from rich.table import Table

    from brainlike.report.synapses import comparison_rows, parameter_rows

    con = _console()
    truth = (summary.get("truth") or {}).get("cell_types", {})
    for name, result in summary["cell_types"].items():
        table = Table(
            title=f"{name}: Kesten process of {result['kesten']['n_changes']} size changes "
            f"({result['n_synapses']} synapses)"
        )
        table.add_column("parameter")
        for col in ("regression (bins)", "ML with additive", "ML without"):
            table.add_column(col, justify="right")
        if name in truth:
            table.add_column("true", justify="right")
        for row in parameter_rows(result, truth.get(name)):
            table.add_row(*row)
        con.print(table)
        comp = Table(show_header=True)
        for col in ("", "with additive", "without", "test"):
            comp.add_column(col)
        for row in comparison_rows(result):
            comp.add_row(*row)
        con.print(comp)
        m = result["markov"]
        con.print(f"Markov chain ({m['n_states']} states): {m['stationary']['message']}",
                  highlight=False)  # fmt: skip
        for note in m.get("notes", []):
            con.print(f"note: {note}", highlight=False)
        if "stationary_vs_empirical_tv" in m:
            con.print(
                f"stationary vs measured distribution: total variation "
                f"{m['stationary_vs_empirical_tv']:.3f}",
                highlight=False,
            )
    con.print(f"written: {files['summary']}, {files['report']}", highlight=False)
    if "table" in files:
        con.print(f"example: {files['table']}, {files['truth']}", highlight=False)
