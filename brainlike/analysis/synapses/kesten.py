"""Are synaptic size changes multiplicative, additive or both? The Kesten process.

A Kesten process is w_{t+1} = e_t w_t + n_t with random e_t and n_t. Written as a change,
dw = w_{t+1} - w_t = eps_t w_t + n_t with eps_t ~ N(mu_e, s_e^2) and n_t ~ N(mu_n, s_n^2)
independent, so (spec: learning-rules.md §3)

    E[dw | w]   = mu_e w + mu_n          Var[dw | w] = s_e^2 w^2 + s_n^2.

The slopes are the multiplicative part (changes that scale with the synapse), the intercepts
the additive part (changes of the same size for every synapse). Two estimates:

- the thesis' regressions on equal-count bins of w: bin means of dw against bin means of w,
  and bin variances of dw against the squared bin means of w, each with and without the
  intercept (:func:`kesten_regression`); R^2, AIC and a likelihood-ratio test are computed on
  the bins' values, so they measure how well a line describes the 20 bin points;
- the direct maximum-likelihood fit of dw | w ~ N(mu_e w + mu_n, s_e^2 w^2 + s_n^2) to every
  change (:func:`fit_kesten`), with and without the additive terms, compared by AIC and a
  likelihood-ratio test on all changes.

Only changes between two sessions in which the synapse is present enter (an elimination is
not a size change); :func:`simulate_kesten` draws trajectories from a fitted process with the
same variance form.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import optimize, stats

#: spec: learning-rules.md §3 (20 equal-count bins of w).
N_BINS = 20
#: Fewest changes a bin may hold: its variance needs a handful of values to mean anything.
MIN_PER_BIN = 10


def size_changes(sizes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every size w_t and its change dw = w_{t+1} - w_t between consecutive sessions.

    Parameters
    ----------
    sizes : ndarray, shape (synapse, session)
        0 = absent.

    Returns
    -------
    w, dw : ndarray, shape (n_changes,)
        Pairs where the synapse is present in both sessions, synapse by synapse.
    """
    sizes = np.asarray(sizes, dtype=float)
    before, after = sizes[:, :-1], sizes[:, 1:]
    both = (before > 0) & (after > 0)
    return before[both], (after - before)[both]


@dataclass(frozen=True)
class KestenBins:
    """Equal-count bins of w with the statistics of dw in each (arrays of shape (bin,))."""

    mean_w: np.ndarray
    mean_dw: np.ndarray
    var_dw: np.ndarray
    count: np.ndarray
    low: np.ndarray
    high: np.ndarray

    def to_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(v).tolist() for k, v in asdict(self).items()}


def bin_changes(
    w: np.ndarray,
    dw: np.ndarray,
    n_bins: int | None = N_BINS,
    bin_size: int | None = None,
    min_per_bin: int = MIN_PER_BIN,
) -> KestenBins:
    """Sort the changes by w and cut them into bins of equal count (sizes differ by at most 1).

    Parameters
    ----------
    w, dw : ndarray, shape (n,)
    n_bins : int, default 20
        Number of bins (ignored when ``bin_size`` is given).
    bin_size : int, optional
        Changes per bin instead: ``n // bin_size`` bins.
    min_per_bin : int, default 10
        The fewest changes a bin may hold.

    Returns
    -------
    KestenBins
        Mean of w, mean and variance (ddof 1) of dw, count and w range per bin.

    Raises
    ------
    ValueError
        When a bin would hold fewer than ``min_per_bin`` changes.
    """
    w, dw = np.asarray(w, dtype=float), np.asarray(dw, dtype=float)
    n = len(w)
    if bin_size is not None:
        if bin_size < min_per_bin:
            raise ValueError(
                f"a bin size of {bin_size} is below the {min_per_bin} changes a bin needs for "
                f"its variance; pass a bin size of at least {min_per_bin}"
            )
        n_bins = n // bin_size
    if n_bins is None or n_bins < 2:
        raise ValueError(
            f"the regressions need at least 2 bins; got {n_bins} ({n} changes"
            + (f", bin size {bin_size})" if bin_size is not None else ")")
            + ": pass more bins or a smaller bin size"
        )
    if n < n_bins * min_per_bin:
        raise ValueError(
            f"{n} size changes (pairs of consecutive sessions with the synapse present in both) "
            f"make {n_bins} bins of {n // n_bins} changes, below the {min_per_bin} a bin needs "
            f"for its variance; pass at most {max(n // min_per_bin, 0)} bins"
        )
    order = np.argsort(w, kind="stable")
    parts = np.array_split(order, n_bins)
    return KestenBins(
        mean_w=np.array([w[p].mean() for p in parts]),
        mean_dw=np.array([dw[p].mean() for p in parts]),
        var_dw=np.array([dw[p].var(ddof=1) for p in parts]),
        count=np.array([len(p) for p in parts]),
        low=np.array([w[p].min() for p in parts]),
        high=np.array([w[p].max() for p in parts]),
    )


@dataclass(frozen=True)
class LineFit:
    """Least-squares line y = slope x (+ intercept) through bin points, with its fit.

    ``r2`` = 1 - RSS / TSS with TSS about the mean of y (the same for both models, so a line
    through the origin can score below 0); ``loglik`` and ``aic`` are those of Gaussian
    residuals with their ML variance RSS / n (k = coefficients + 1).
    """

    slope: float
    intercept: float | None
    r2: float
    rss: float
    loglik: float
    aic: float
    n: int


def fit_line(x: np.ndarray, y: np.ndarray, intercept: bool = True) -> LineFit:
    """Ordinary least squares of y on x, with or without an intercept."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    design = np.column_stack([x, np.ones_like(x)]) if intercept else x[:, None]
    coef, *_ = np.linalg.lstsq(design, y, rcond=None)
    rss = float(np.sum((y - design @ coef) ** 2))
    tss = float(np.sum((y - y.mean()) ** 2))
    n = len(y)
    loglik = -0.5 * n * (np.log(2 * np.pi * max(rss, 1e-300) / n) + 1)
    k = design.shape[1] + 1
    return LineFit(
        slope=float(coef[0]),
        intercept=float(coef[1]) if intercept else None,
        r2=1.0 - rss / tss if tss > 0 else float("nan"),
        rss=rss,
        loglik=float(loglik),
        aic=float(2 * k - 2 * loglik),
        n=n,
    )


def _line_lrt(full: LineFit, reduced: LineFit) -> dict[str, float]:
    stat = max(0.0, 2 * (full.loglik - reduced.loglik))
    return {"statistic": stat, "df": 1, "p_value": float(stats.chi2.sf(stat, 1))}


def kesten_regression(bins: KestenBins) -> dict[str, Any]:
    """The thesis' regressions on the bins, with and without the additive terms.

    mean dw on mean w gives mu_e (slope) and mu_n (intercept); var dw on (mean w)^2 gives
    s_e^2 and s_n^2. Each is also fitted through the origin (no additive term).

    Returns
    -------
    dict
        ``mean`` and ``variance``: each ``with_additive`` and ``without_additive``
        (:class:`LineFit` as dicts) and ``likelihood_ratio`` (1 df, on the bin points);
        ``parameters``: mu_e, mu_n, s_e2, s_n2 of the fits with intercepts (s_n2 is a
        regression intercept and can come out below 0).
    """
    # spec: learning-rules.md §3 (E[dw|w] = mu_e w + mu_n; Var[dw|w] = s_e^2 w^2 + s_n^2)
    out: dict[str, Any] = {}
    for name, x, y in (
        ("mean", bins.mean_w, bins.mean_dw),
        ("variance", bins.mean_w**2, bins.var_dw),
    ):
        full, reduced = fit_line(x, y, True), fit_line(x, y, False)
        out[name] = {
            "with_additive": asdict(full),
            "without_additive": asdict(reduced),
            "likelihood_ratio": _line_lrt(full, reduced),
        }
    m, v = out["mean"]["with_additive"], out["variance"]["with_additive"]
    out["parameters"] = {
        "mu_e": m["slope"],
        "mu_n": m["intercept"],
        "s_e2": v["slope"],
        "s_n2": v["intercept"],
    }
    out["r2_quantities"] = {
        "mean": "R^2 of the bins' mean dw predicted from their mean w (one point per bin)",
        "variance": "R^2 of the bins' variance of dw predicted from their squared mean w",
    }
    return out


@dataclass(frozen=True)
class KestenFit:
    """Maximum-likelihood Kesten parameters of dw | w ~ N(mu_e w + mu_n, s_e^2 w^2 + s_n^2).

    Without the additive terms mu_n = s_n = 0. Standard errors from the expected Fisher
    information (None for a parameter held at 0, or an s on its bound 0).
    """

    mu_e: float
    mu_n: float
    s_e: float
    s_n: float
    additive: bool
    loglik: float
    aic: float
    n: int
    se: dict[str, float | None]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def mean(self, w: np.ndarray) -> np.ndarray:
        """E[dw | w]."""
        return self.mu_e * np.asarray(w) + self.mu_n

    def variance(self, w: np.ndarray) -> np.ndarray:
        """Var[dw | w]."""
        return self.s_e**2 * np.asarray(w) ** 2 + self.s_n**2


def _nll(w: np.ndarray, dw: np.ndarray, mean: np.ndarray, var: np.ndarray) -> float:
    return float(0.5 * np.sum(np.log(2 * np.pi * var) + (dw - mean) ** 2 / var))


def _weighted_mean_fit(w: np.ndarray, dw: np.ndarray, var: np.ndarray) -> np.ndarray:
    """(mu_e, mu_n) maximising the likelihood for known variances (weighted least squares)."""
    design = np.column_stack([w, np.ones_like(w)]) / np.sqrt(var)[:, None]
    coef, *_ = np.linalg.lstsq(design, dw / np.sqrt(var), rcond=None)
    return coef


def fit_kesten(w: np.ndarray, dw: np.ndarray, additive: bool = True) -> KestenFit:
    """Direct maximum-likelihood fit of the Kesten process to every size change.

    Parameters
    ----------
    w, dw : ndarray, shape (n,)
        Sizes (> 0) and their changes to the next session (:func:`size_changes`).
    additive : bool, default True
        Fit mu_n and s_n; False holds them at 0 (purely multiplicative: dw / w ~ N(mu_e,
        s_e^2), solved in closed form).

    Returns
    -------
    KestenFit
    """
    # spec: learning-rules.md §3 (dw | w ~ N(mu_e w + mu_n, s_e^2 w^2 + s_n^2))
    w, dw = np.asarray(w, dtype=float), np.asarray(dw, dtype=float)
    if len(w) < 4 or (w <= 0).any():
        raise ValueError(
            f"the Kesten fit needs at least 4 size changes from sizes > 0; got {len(w)} "
            f"({int((w <= 0).sum())} with w <= 0)"
        )
    n = len(w)
    if not additive:
        ratio = dw / w
        mu_e, s_e = float(ratio.mean()), float(ratio.std())
        if s_e == 0:
            raise ValueError("every relative change dw / w is the same; there is nothing to fit")
        ll = -_nll(w, dw, mu_e * w, s_e**2 * w**2)
        se = {
            "mu_e": s_e / np.sqrt(n),
            "mu_n": None,
            "s_e": s_e / np.sqrt(2 * n),
            "s_n": None,
            "s_e2": s_e**2 * np.sqrt(2 / n),
            "s_n2": None,
        }
        return KestenFit(mu_e, 0.0, s_e, 0.0, False, ll, 2 * 2 - 2 * ll, n, se)
    scale = float(np.mean(dw**2))
    floor = 1e-12 * scale

    def profile(theta: np.ndarray) -> tuple[float, np.ndarray]:
        # the mean parameters are profiled out; by the envelope theorem the gradient is the
        # partial derivative through the variances alone
        s_e, s_n = theta
        var = s_e**2 * w**2 + s_n**2 + floor
        coef = _weighted_mean_fit(w, dw, var)
        r2 = (dw - coef[0] * w - coef[1]) ** 2
        dvar = 0.5 * (1 / var - r2 / var**2)
        grad = np.array([np.sum(dvar * 2 * s_e * w**2), np.sum(dvar * 2 * s_n)])
        return 0.5 * float(np.sum(np.log(2 * np.pi * var) + r2 / var)), grad

    reduced = fit_kesten(w, dw, additive=False)
    starts = [
        np.array([reduced.s_e, 0.1 * np.sqrt(scale)]),
        np.array([0.5 * reduced.s_e, 0.5 * np.sqrt(scale)]),
        np.array([1e-3 * reduced.s_e, np.sqrt(scale)]),
    ]
    best = None
    for x0 in starts:
        res = optimize.minimize(
            profile, x0, jac=True, method="L-BFGS-B", bounds=[(0, None), (0, None)]
        )
        if best is None or res.fun < best.fun:
            best = res
    s_e, s_n = (float(v) for v in best.x)
    var = s_e**2 * w**2 + s_n**2 + floor
    mu_e, mu_n = (float(v) for v in _weighted_mean_fit(w, dw, var))
    ll = -_nll(w, dw, mu_e * w + mu_n, var)
    # expected Fisher information: mean and variance blocks are orthogonal for a Gaussian
    x = np.column_stack([w, np.ones_like(w)])
    cov_mean = np.linalg.inv(x.T @ (x / var[:, None]))
    v = np.column_stack([w**2, np.ones_like(w)])
    cov_var = np.linalg.inv(v.T @ (v * (0.5 / var**2)[:, None]))
    se_e2, se_n2 = np.sqrt(np.diag(cov_var))
    tiny = 1e-6 * np.sqrt(scale)
    se = {
        "mu_e": float(np.sqrt(cov_mean[0, 0])),
        "mu_n": float(np.sqrt(cov_mean[1, 1])),
        "s_e": float(se_e2 / (2 * s_e)) if s_e > tiny else None,
        "s_n": float(se_n2 / (2 * s_n)) if s_n > tiny else None,
        "s_e2": float(se_e2),
        "s_n2": float(se_n2),
    }
    return KestenFit(mu_e, mu_n, s_e, s_n, True, ll, 2 * 4 - 2 * ll, n, se)


def kesten_likelihood_ratio(full: KestenFit, reduced: KestenFit) -> dict[str, Any]:
    """Likelihood-ratio test of the additive terms (mu_n = s_n = 0) on every change.

    s_n = 0 lies on the boundary of its range, so the statistic follows the mixture
    0.5 chi2(1) + 0.5 chi2(2) under the null (Self & Liang 1987), not chi2(2).
    """
    stat = max(0.0, 2 * (full.loglik - reduced.loglik))
    p = 0.5 * stats.chi2.sf(stat, 1) + 0.5 * stats.chi2.sf(stat, 2)
    return {
        "statistic": stat,
        "df": 2,
        "p_value": float(p),
        "null_distribution": "0.5 chi2(1) + 0.5 chi2(2) (s_n = 0 is on the boundary)",
        "delta_aic": reduced.aic - full.aic,
    }


def simulate_kesten(
    w0: np.ndarray,
    n_steps: int,
    mu_e: float,
    mu_n: float,
    s_e: float,
    s_n: float,
    seed: int | np.random.Generator = 0,
) -> np.ndarray:
    """Trajectories of the Kesten process dw | w ~ N(mu_e w + mu_n, s_e^2 w^2 + s_n^2).

    A size that falls to 0 or below is eliminated: 0 from then on; a start of 0 stays 0.

    Parameters
    ----------
    w0 : ndarray, shape (synapse,)
        Sizes at the first session.
    n_steps : int
        Sessions after the first.
    mu_e, mu_n, s_e, s_n : float
        The process (s >= 0).
    seed : int or numpy Generator

    Returns
    -------
    ndarray, shape (synapse, n_steps + 1)
    """
    if s_e < 0 or s_n < 0:
        raise ValueError(f"s_e and s_n are standard deviations >= 0; got {s_e}, {s_n}")
    rng = np.random.default_rng(seed)
    w = np.zeros((len(w0), n_steps + 1))
    w[:, 0] = np.maximum(np.asarray(w0, dtype=float), 0)
    for t in range(n_steps):
        cur = w[:, t]
        sd = np.sqrt(s_e**2 * cur**2 + s_n**2)
        nxt = cur + mu_e * cur + mu_n + sd * rng.standard_normal(len(cur))
        w[:, t + 1] = np.where((cur > 0) & (nxt > 0), nxt, 0.0)
    return w


def analyse_kesten(
    sizes: np.ndarray,
    n_bins: int | None = N_BINS,
    bin_size: int | None = None,
    min_per_bin: int = MIN_PER_BIN,
) -> dict[str, Any]:
    """Every Kesten number of a synapses x sessions table: bins, regressions, ML fits, tests.

    Returns
    -------
    dict
        ``n_changes``, ``bins``, ``regression`` (:func:`kesten_regression`), ``ml`` with
        ``with_additive``, ``without_additive`` (:class:`KestenFit` dicts) and
        ``likelihood_ratio`` (:func:`kesten_likelihood_ratio`), ``preferred`` (the model of
        lower AIC) and ``definitions``.
    """
    w, dw = size_changes(sizes)
    bins = bin_changes(w, dw, n_bins=n_bins, bin_size=bin_size, min_per_bin=min_per_bin)
    full, reduced = fit_kesten(w, dw, True), fit_kesten(w, dw, False)
    return {
        "n_changes": len(w),
        "bins": bins.to_dict(),
        "regression": kesten_regression(bins),
        "ml": {
            "with_additive": full.to_dict(),
            "without_additive": reduced.to_dict(),
            "likelihood_ratio": kesten_likelihood_ratio(full, reduced),
        },
        "preferred": "with_additive" if full.aic < reduced.aic else "without_additive",
        "definitions": {
            "changes": "dw = w(t+1) - w(t) for consecutive sessions with the synapse present "
            "in both",
            "bins": f"{len(bins.count)} bins of equal count (sorted by w)",
            "regression": "ordinary least squares on the bin points; R^2 = 1 - RSS/TSS with "
            "TSS about the mean of the bin values; AIC and the likelihood ratio (1 df) from "
            "Gaussian residuals of the bin points",
            "ml": "maximum likelihood on every change of dw | w ~ N(mu_e w + mu_n, s_e^2 w^2 "
            "+ s_n^2), s >= 0; AIC = 2k - 2 log L (k = 4 with, 2 without the additive terms)",
        },
    }
