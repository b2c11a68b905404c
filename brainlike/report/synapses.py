"""The synaptic-dynamics report: ``summary.json``, PNG figures and a self-contained HTML page.

Everything is drawn from the summary of
:func:`~brainlike.analysis.synapses.summary.analyse_synapses` alone, so a report can be
rebuilt from a ``summary.json``. Per cell type three figures: the Kesten regressions (mean and
variance of the change against size), the Markov chain (transition matrix with the fitted
Kesten process over it, stationary vs measured distribution, convergence from far-apart
starts), and the trajectories (correlation of changes, survival, sizes around additions and
eliminations, drift of persistent synapses against the fitted process).
"""

from __future__ import annotations

import datetime
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

import brainlike
from brainlike.report.figures import new_figure, plain_text
from brainlike.report.html import data_uri

_TEMPLATES = Path(__file__).with_name("templates")
#: Files a report folder holds; an existing one is replaced only with ``overwrite``.
REPORT_FILES = ("summary.json", "report.html")
_PARAMS = ("mu_e", "mu_n", "s_e", "s_n")
_DPI = 100


def check_report_free(out_dir: str | Path, overwrite: bool) -> Path:
    """``out_dir``, refused (:class:`ValueError`) when it holds a report and not ``overwrite``."""
    out = Path(out_dir)
    taken = [name for name in REPORT_FILES if (out / name).exists()]
    if taken and not overwrite:
        raise ValueError(
            f"{out / taken[0]} exists; pass --overwrite to replace it or --out to write elsewhere"
        )
    if out.exists() and not out.is_dir():
        raise ValueError(f"{out} is a file; --out needs a folder")
    return out


def _arr(values: Any) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=float)


def kesten_figure(result: dict[str, Any], name: str) -> Any:
    """Bin means of dw against mean w, and bin variances against (mean w)^2, with the fits."""
    k = result["kesten"]
    bins, reg, ml = k["bins"], k["regression"], k["ml"]
    mw, mdw, vdw, n = (_arr(bins[key]) for key in ("mean_w", "mean_dw", "var_dw", "count"))
    fig = new_figure(10, 3.8)
    # fixed margins: a layout engine measures every tick label and costs seconds per report
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.13, top=0.91, wspace=0.25)
    ax1, ax2 = fig.subplots(1, 2)
    x = np.linspace(0, mw.max() * 1.05, 50)
    ax1.errorbar(mw, mdw, yerr=np.sqrt(vdw / n), fmt="o", color="k", ms=4, label="bins (± s.e.m.)")
    ax2.plot(mw**2, vdw, "o", color="k", ms=4, label="bins")
    for key, style, label in (
        ("with_additive", "-", "regression with additive term"),
        ("without_additive", "--", "regression without"),
    ):
        m, v = reg["mean"][key], reg["variance"][key]
        ax1.plot(x, m["slope"] * x + (m["intercept"] or 0), style, color="C0", label=label)
        ax2.plot(x**2, v["slope"] * x**2 + (v["intercept"] or 0), style, color="C0", label=label)
    full = ml["with_additive"]
    ax1.plot(x, full["mu_e"] * x + full["mu_n"], ":", color="C3", label="maximum likelihood")
    ax2.plot(x**2, full["s_e"] ** 2 * x**2 + full["s_n"] ** 2, ":", color="C3",
             label="maximum likelihood")  # fmt: skip
    ax1.axhline(0, color="0.6", lw=0.8)
    ax1.set_xlabel("mean size w in bin")
    ax1.set_ylabel("mean change dw")
    ax1.set_title(
        f"{plain_text(name)}: E[dw | w] (R² {reg['mean']['with_additive']['r2']:.2f} with, "
        f"{reg['mean']['without_additive']['r2']:.2f} without additive)",
        fontsize="medium",
    )
    ax2.set_xlabel("(mean size w in bin)²")
    ax2.set_ylabel("variance of dw")
    ax2.set_title(
        f"Var[dw | w] (R² {reg['variance']['with_additive']['r2']:.2f} with, "
        f"{reg['variance']['without_additive']['r2']:.2f} without)",
        fontsize="medium",
    )
    ax1.legend(fontsize="small")
    ax2.legend(fontsize="small")
    return fig


def markov_figure(result: dict[str, Any], name: str) -> Any:
    """Transition matrix with the Kesten process over it, stationary distributions,
    convergence."""
    m = result["markov"]
    edges = np.array(m["edges"])
    matrix = _arr(np.array(m["matrix"], dtype=object).ravel()).reshape(len(edges), len(edges))
    fig = new_figure(14, 4.2)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.92, wspace=0.3)
    ax1, ax2, ax3 = fig.subplots(1, 3)
    # the zero state drawn as one bin left of 0, as wide as the first size state
    axis = np.concatenate([[-edges[1]], edges])
    mesh = ax1.pcolormesh(axis, axis, np.log10(np.where(matrix > 0, matrix, np.nan)).T,
                          cmap="viridis", vmin=-3, vmax=0)  # fmt: skip
    fig.colorbar(mesh, ax=ax1, label="log10 P(next state | state)")
    fit = result["kesten"]["ml"][result["kesten"]["preferred"]]
    w = np.linspace(edges[1] / 2, edges[-1], 100)
    mean = w + fit["mu_e"] * w + fit["mu_n"]
    sd = np.sqrt(fit["s_e"] ** 2 * w**2 + fit["s_n"] ** 2)
    ax1.plot(w, mean, "k-", lw=1, label="Kesten mean")
    ax1.plot(w, mean + sd, "k--", lw=0.8, label="± 1 s.d.")
    ax1.plot(w, mean - sd, "k--", lw=0.8)
    ax1.set_xlim(axis[0], axis[-1])
    ax1.set_ylim(axis[0], axis[-1])
    ax1.set_xlabel("size now (left strip: absent)")
    ax1.set_ylabel("size next session")
    ax1.set_title(f"{plain_text(name)}: transitions", fontsize="medium")
    ax1.legend(fontsize="small", loc="upper left")
    states = np.arange(m["n_states"])
    boot = m["bootstrap"] or {}
    pi = m["stationary"]["distribution"]
    if pi is not None:
        ax2.errorbar(states - 0.1, pi, yerr=boot.get("model_sd"), fmt="o-", ms=3, capsize=2,
                     label="stationary (model)")  # fmt: skip
    ax2.errorbar(states + 0.1, m["empirical"], yerr=boot.get("empirical_sd"), fmt="s-", ms=3,
                 capsize=2, label="measured")  # fmt: skip
    ax2.set_yscale("log")
    ax2.set_xlabel("state (0 = absent)")
    ax2.set_ylabel("fraction")
    sd_note = f" (± s.d. over {boot['n_bootstrap']} resamples)" if boot else ""
    ax2.set_title("stationary vs measured" + sd_note, fontsize="medium")
    ax2.legend(fontsize="small")
    conv = m.get("convergence")
    if conv:
        for start, c in conv["starts"].items():
            ax3.plot(np.maximum(c["tv"], 1e-6), label=start)
        ax3.axhline(conv["tolerance"], color="0.5", ls=":", lw=0.8)
        ax3.set_yscale("log")
        ax3.legend(fontsize="small")
    else:
        ax3.text(0.5, 0.5, plain_text(m["stationary"]["message"]), ha="center", va="center",
                 wrap=True, transform=ax3.transAxes, fontsize="small")  # fmt: skip
    ax3.set_xlabel("steps of the chain (sessions)")
    ax3.set_ylabel("total variation to stationary")
    ax3.set_title("convergence from far-apart starts", fontsize="medium")
    return fig


def dynamics_figure(result: dict[str, Any], name: str, times: list[float]) -> Any:
    """Correlation of changes, survival, aligned trajectories, drift of persistent synapses."""
    m = result["markov"]
    t = np.asarray(times) - times[0]
    fig = new_figure(16, 3.8)
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.13, top=0.91, wspace=0.28)
    ax1, ax2, ax3, ax4 = fig.subplots(1, 4)
    cc = m["cross_correlation"]
    ax1.plot(cc["lags"], _arr(cc["data"]), "o-", color="k", label="data")
    if cc["model"] is not None:
        ax1.plot(cc["lags"], _arr(cc["model"]), "s--", color="C0", label="Markov model")
    ax1.axhline(0, color="0.6", lw=0.8)
    ax1.set_xlabel("lag tau (sessions)")
    ax1.set_ylabel("corr(dw(t), dw(t + tau))")
    ax1.set_title(f"{plain_text(name)}: correlation of changes", fontsize="medium")
    ax1.legend(fontsize="small")
    sv = m["survival"]
    ax2.plot(t, sv["data"], "o-", color="k", label="data")
    if sv["model"] is not None:
        ax2.plot(t, sv["model"], "s--", color="C0", label="Markov model")
    ax2.set_xlabel("time since first session")
    ax2.set_ylabel("fraction surviving")
    ax2.set_title("survival of the first session's synapses", fontsize="medium")
    ax2.legend(fontsize="small")
    for key, colour in (("births", "C2"), ("deaths", "C3")):
        a = result[key]
        if a["offsets"]:
            ax3.errorbar(a["offsets"], a["mean"], yerr=_arr(a["sem"]), fmt="o-", color=colour,
                         ms=3, capsize=2, label=f"{key[:-1]} ({a['n_events']})")  # fmt: skip
    ref = result["births"]["reference_mean"]
    if ref is not None:
        ax3.axhline(ref, color="0.5", ls=":", lw=0.8, label="mean of all")
    ax3.axvline(0, color="0.6", lw=0.8)
    ax3.set_xlabel("sessions from addition (+) / elimination (-)")
    ax3.set_ylabel("mean size")
    ax3.set_title("sizes around additions and eliminations", fontsize="medium")
    ax3.legend(fontsize="small")
    ch = result["change_over_time"]
    if ch.get("n_synapses"):
        ax4.errorbar(t, ch["mean_abs_log_change"], yerr=_arr(ch["mean_abs_log_change_sem"]),
                     fmt="o-", color="k", capsize=2, label=f"data ({ch['n_synapses']})")  # fmt: skip
        sim = result["kesten"].get("simulation")
        if sim and sim.get("n_synapses"):
            ax4.plot(t, sim["mean_abs_log_change"], "s--", color="C3", label="fitted Kesten")
        ax4.legend(fontsize="small")
    ax4.set_xlabel("time since first session")
    ax4.set_ylabel("mean |log w(t) / w(0)|")
    ax4.set_title("drift of persistent synapses", fontsize="medium")
    return fig


def _fmt(v: Any, spec: str = ".4f") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return "—"
    return format(v, spec)


def parameter_rows(result: dict[str, Any], truth: dict[str, Any] | None) -> list[list[str]]:
    """Rows (parameter, regression, ML with ± s.e., ML without ± s.e.[, true]) of one cell type."""
    reg = result["kesten"]["regression"]["parameters"]
    ml = result["kesten"]["ml"]
    rows = []
    for p in _PARAMS:
        if p.startswith("s_"):
            r = reg[p + "2"]
            regression = f"{p}² = {_fmt(r)}"
        else:
            regression = _fmt(reg[p])
        cells = [p, regression]
        for key in ("with_additive", "without_additive"):
            f = ml[key]
            se = f["se"].get(p)
            cells.append(_fmt(f[p]) + ("" if se is None else f" ± {_fmt(se)}"))
        if truth is not None:
            cells.append(_fmt(truth.get(p)))
        rows.append(cells)
    return rows


def comparison_rows(result: dict[str, Any]) -> list[list[str]]:
    """Rows (quantity, with additive, without, test) comparing the two Kesten models."""
    reg, ml = result["kesten"]["regression"], result["kesten"]["ml"]
    rows = []
    for key, what in (("mean", "bins' mean dw"), ("variance", "bins' variance of dw")):
        r = reg[key]
        lr = r["likelihood_ratio"]
        rows.append([f"R² of the {what}", _fmt(r["with_additive"]["r2"], ".3f"),
                     _fmt(r["without_additive"]["r2"], ".3f"), ""])  # fmt: skip
        rows.append([f"AIC of the {what} (bins)", _fmt(r["with_additive"]["aic"], ".1f"),
                     _fmt(r["without_additive"]["aic"], ".1f"),
                     f"LR {lr['statistic']:.2f}, p = {lr['p_value']:.2g} (1 df)"])  # fmt: skip
    lr = ml["likelihood_ratio"]
    rows.append(
        [
            "log-likelihood, every change (ML)",
            _fmt(ml["with_additive"]["loglik"], ".1f"),
            _fmt(ml["without_additive"]["loglik"], ".1f"),
            f"LR {lr['statistic']:.2f}, p = {lr['p_value']:.2g} ({lr['null_distribution']})",
        ]
    )
    rows.append(["AIC, every change (ML)", _fmt(ml["with_additive"]["aic"], ".1f"),
                 _fmt(ml["without_additive"]["aic"], ".1f"),
                 f"ΔAIC (without - with) = {lr['delta_aic']:.1f}"])  # fmt: skip
    return rows


def write_synapse_report(
    summary: dict[str, Any], out_dir: str | Path, *, title: str | None = None
) -> dict[str, Any]:
    """Write ``summary.json``, one PNG per figure and ``report.html`` into ``out_dir``.

    Parameters
    ----------
    summary : dict
        From :func:`~brainlike.analysis.synapses.summary.analyse_synapses` (with ``truth``
        when the table is the generated example).
    out_dir : str or Path
    title : str, optional

    Returns
    -------
    dict
        Paths: ``summary``, ``report`` and ``figures`` (list).
    """
    import jinja2

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    paths: dict[str, Any] = {"summary": str(out / "summary.json")}
    truth = (summary.get("truth") or {}).get("cell_types", {})
    sections, figures = [], []
    for k, (name, result) in enumerate(summary["cell_types"].items()):
        pngs = []
        for kind, make in (
            ("kesten", lambda r, n: kesten_figure(r, n)),
            ("markov", lambda r, n: markov_figure(r, n)),
            ("dynamics", lambda r, n: dynamics_figure(r, n, summary["session_times"])),
        ):
            path = out / "figures" / f"{k}-{kind}.png"
            path.parent.mkdir(exist_ok=True)
            make(result, name).savefig(path, dpi=_DPI)
            figures.append(str(path))
            pngs.append({"kind": kind, "data": data_uri(path)})
        m = result["markov"]
        conv = m.get("convergence") or {"starts": {}}
        sections.append(
            {
                "name": name,
                "anchor": f"cell-type-{k}",
                "result": result,
                "parameters": parameter_rows(result, truth.get(name)),
                "has_truth": name in truth,
                "comparison": comparison_rows(result),
                "convergence": {s: c["steps_to_tolerance"] for s, c in conv["starts"].items()},
                "figures": pngs,
            }
        )
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(_TEMPLATES)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    html = env.get_template("synapses.html").render(
        title=title or f"Synaptic dynamics of {Path(summary['source']).name or 'a table'}",
        summary=summary,
        sections=sections,
        fmt=_fmt,
        version=brainlike.__version__,
        generated=datetime.datetime.now().isoformat(timespec="seconds"),
    )
    (out / "report.html").write_text(html, encoding="utf-8")
    paths["report"] = str(out / "report.html")
    paths["figures"] = figures
    return paths
