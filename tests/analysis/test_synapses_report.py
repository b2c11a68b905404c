"""``brainlike synapses``: the generated example's parameters come back, every number is in
the JSON and summary.json, the HTML report escapes user text, and a bad table writes nothing."""

import json

import numpy as np
from typer.testing import CliRunner

from brainlike.analysis.synapses import analyse_synapses, simulate_kesten, simulate_synapses
from brainlike.cli import app

runner = CliRunner()


def test_example_recovers_its_known_parameters():
    table, truth = simulate_synapses(seed=0)
    summary = analyse_synapses(table, n_bootstrap=3)
    for name in ("Pyr", "PV"):
        fit = summary["cell_types"][name]["kesten"]["ml"]["with_additive"]
        true = truth["cell_types"][name]
        # after normalisation within dendrite and session (the reference has sampling noise)
        assert abs(fit["mu_e"] - true["mu_e"]) < 0.03, name
        assert abs(fit["mu_n"] - true["mu_n"]) < 0.03, name
        assert abs(fit["s_e"] - true["s_e"]) < 0.02, name
        assert abs(fit["s_n"] - true["s_n"]) < 0.02, name
        assert summary["cell_types"][name]["kesten"]["preferred"] == "with_additive"
        markov = summary["cell_types"][name]["markov"]
        assert markov["n_states"] == 21 and markov["bootstrap"]["n_bootstrap"] == 3
        assert markov["stationary"]["unique"]
    # PV's additive part is large: the mean line through the origin fails (the thesis' pattern)
    pv = summary["cell_types"]["PV"]["kesten"]["regression"]["mean"]
    assert pv["with_additive"]["r2"] > 0.9 > 0.2 > pv["without_additive"]["r2"]


def test_example_command_writes_table_truth_summary_and_report(tmp_path):
    out = tmp_path / "example"
    args = ["synapses", "--example", str(out), "--cell-type", "PV", "--bootstrap", "2"]
    res = runner.invoke(app, [*args, "--json"])
    assert res.exit_code == 0, res.output
    printed = json.loads(res.stdout)
    written = json.loads((out / "summary.json").read_text())
    assert printed["cell_types"] == written["cell_types"] and list(written["cell_types"]) == ["PV"]
    assert printed["files"]["report"] == str(out / "report.html")
    truth = json.loads((out / "truth.json").read_text())
    assert written["truth"] == truth
    # the table on disk is the one analysed
    from brainlike.data.synapses import read_synapses

    table = read_synapses(out / "synapses.csv")
    assert table.n_synapses == written["n_synapses_in_table"] > written["n_synapses"]
    assert (out / "report.html").read_text().count("data:image/png;base64,") == 3
    again = runner.invoke(app, args)
    assert again.exit_code == 2
    assert "summary.json exists; pass --overwrite" in again.output


def test_report_of_a_users_table_escapes_labels(tmp_path):
    rng = np.random.default_rng(0)
    sizes = simulate_kesten(rng.lognormal(0, 0.3, 300), 4, -0.2, 0.2, 0.1, 0.1, seed=1)
    lines = ["cell_type,dendrite,day0,day2,day4,day6,day8"]
    for i, row in enumerate(sizes):
        lines.append(f"<b>PV&co</b>,d{i % 3}," + ",".join(f"{v:.4f}" for v in row))
    table = tmp_path / "mine.csv"
    table.write_text("\n".join(lines) + "\n")
    out = tmp_path / "report"
    res = runner.invoke(
        app, ["synapses", str(table), "--out", str(out), "--bins", "10", "--bootstrap", "2"]
    )
    assert res.exit_code == 0, res.output
    html = (out / "report.html").read_text()
    assert "&lt;b&gt;PV&amp;co&lt;/b&gt;" in html and "<b>PV&co</b>" not in html
    summary = json.loads((out / "summary.json").read_text())
    r = summary["cell_types"]["<b>PV&co</b>"]
    assert summary["session_times"] == [0, 2, 4, 6, 8]
    assert len(r["kesten"]["bins"]["count"]) == 10
    assert summary["normalisation"]["n_dendrites"] == 3
    assert len(r["markov"]["cross_correlation"]["data"]) == 4  # lags 0..3 of 4 changes


def test_bad_input_is_one_line_and_writes_nothing(tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("cell_type,day0,day1,day2\nPV,1,2,3\nPV,1,-2,3\n")
    out = tmp_path / "out"
    res = runner.invoke(app, ["synapses", str(bad), "--out", str(out)])
    assert res.exit_code == 2
    assert "error:" in res.output and "negative size" in res.output
    assert not out.exists()
    good = tmp_path / "good.csv"
    good.write_text("cell_type,day0,day1,day2\n" + "PV,1,2,3\n" * 30)
    for args, message in (
        (["--cell-type", "SST"], "no synapses of cell type 'SST'"),
        (["--bins", "20"], "cell type 'PV': 60 size changes"),
        (["--normalise", "40"], "--normalise takes two percentiles"),
        (["--binning", "log"], "binning must be one of equal_width, equal_count"),
    ):
        res = runner.invoke(app, ["synapses", str(good), "--out", str(out), *args])
        assert res.exit_code == 2, args
        assert message in res.output, (args, res.output)
        assert not out.exists()
    res = runner.invoke(app, ["synapses"])
    assert res.exit_code == 2 and "give a table FILE to analyse, or --example DIR" in res.output
