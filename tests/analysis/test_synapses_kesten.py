"""Kesten process: binned regressions, the direct maximum-likelihood fit and simulation
recover known parameters (brainlike.analysis.synapses.kesten)."""

import numpy as np
import pytest

from brainlike.analysis.synapses.kesten import (
    analyse_kesten,
    bin_changes,
    fit_kesten,
    fit_line,
    simulate_kesten,
    size_changes,
)

# 1,000 synapses x 8 sessions (7,000 changes), sizes log-normal around 1
N_SYNAPSES, N_SESSIONS = 1000, 8


def _simulate(mu_e, mu_n, s_e, s_n, seed):
    rng = np.random.default_rng(seed)
    w0 = rng.lognormal(0.0, 0.4, N_SYNAPSES)
    return simulate_kesten(w0, N_SESSIONS - 1, mu_e, mu_n, s_e, s_n, seed=rng)


def test_fit_recovers_a_process_with_additive_terms():
    true = {"mu_e": -0.2, "mu_n": 0.2, "s_e": 0.15, "s_n": 0.1}
    r = analyse_kesten(_simulate(**true, seed=1))
    assert r["n_changes"] == 7000  # no size falls to 0 with these parameters
    full = r["ml"]["with_additive"]
    # tolerances: 0.03 for the means, 0.015 for the s.d.s (and within 4 standard errors)
    for p, tol in (("mu_e", 0.03), ("mu_n", 0.03), ("s_e", 0.015), ("s_n", 0.015)):
        assert full[p] == pytest.approx(true[p], abs=tol), p
        assert abs(full[p] - true[p]) < 4 * full["se"][p], p
    reg = r["regression"]
    assert reg["parameters"]["mu_e"] == pytest.approx(-0.2, abs=0.03)
    assert reg["parameters"]["mu_n"] == pytest.approx(0.2, abs=0.03)
    assert reg["parameters"]["s_e2"] == pytest.approx(0.15**2, abs=0.01)
    assert reg["parameters"]["s_n2"] == pytest.approx(0.1**2, abs=0.01)
    # the additive terms matter: the mean line through the origin fits the bins badly
    assert reg["mean"]["with_additive"]["r2"] > 0.95
    assert reg["mean"]["without_additive"]["r2"] < 0.5
    assert reg["mean"]["likelihood_ratio"]["p_value"] < 1e-6
    assert r["ml"]["likelihood_ratio"]["p_value"] < 1e-10
    assert r["preferred"] == "with_additive"


def test_fit_recovers_a_purely_multiplicative_process():
    true = {"mu_e": -0.05, "s_e": 0.2}
    r = analyse_kesten(_simulate(true["mu_e"], 0.0, true["s_e"], 0.0, seed=2))
    reduced, full = r["ml"]["without_additive"], r["ml"]["with_additive"]
    assert reduced["mu_e"] == pytest.approx(-0.05, abs=0.015)
    assert reduced["s_e"] == pytest.approx(0.2, abs=0.01)
    assert reduced["mu_n"] == 0 and reduced["s_n"] == 0
    # the additive terms fitted anyway come out near 0 and do not earn their parameters
    assert full["mu_n"] == pytest.approx(0.0, abs=0.015)
    assert full["s_n"] < 0.03
    assert r["ml"]["likelihood_ratio"]["p_value"] > 0.05
    assert r["preferred"] == "without_additive"
    reg = r["regression"]
    assert reg["parameters"]["mu_n"] == pytest.approx(0.0, abs=0.015)
    assert reg["mean"]["likelihood_ratio"]["p_value"] > 0.01


def test_reduced_fit_is_the_closed_form_of_relative_changes():
    w = np.array([1.0, 2.0, 4.0, 0.5])
    dw = np.array([0.1, -0.4, 0.8, 0.0])
    f = fit_kesten(w, dw, additive=False)
    ratio = np.array([0.1, -0.2, 0.2, 0.0])
    assert f.mu_e == pytest.approx(ratio.mean())
    assert f.s_e == pytest.approx(ratio.std())
    var = f.s_e**2 * w**2
    ll = -0.5 * np.sum(np.log(2 * np.pi * var) + (dw - f.mu_e * w) ** 2 / var)
    assert f.loglik == pytest.approx(ll)
    assert f.aic == pytest.approx(4 - 2 * ll)


def test_line_fits_by_hand():
    x, y = np.array([1.0, 2.0, 3.0]), np.array([2.0, 3.0, 5.0])
    full = fit_line(x, y, intercept=True)  # slope 1.5, intercept 1/3: residuals 1/6, -1/3, 1/6
    assert full.slope == pytest.approx(1.5) and full.intercept == pytest.approx(1 / 3)
    tss = np.sum((y - y.mean()) ** 2)  # 14/3
    assert full.rss == pytest.approx(1 / 6)
    assert full.r2 == pytest.approx(1 - (1 / 6) / tss)
    origin = fit_line(x, y, intercept=False)  # slope = sum(xy) / sum(x^2) = 23/14
    assert origin.slope == pytest.approx(23 / 14) and origin.intercept is None
    rss = np.sum((y - 23 / 14 * x) ** 2)
    assert origin.r2 == pytest.approx(1 - rss / tss)
    assert origin.loglik == pytest.approx(-1.5 * (np.log(2 * np.pi * rss / 3) + 1))
    assert origin.aic == pytest.approx(2 * 2 - 2 * origin.loglik)


def test_equal_count_bins_and_too_few_values():
    rng = np.random.default_rng(0)
    w, dw = rng.random(103), rng.standard_normal(103)
    b = bin_changes(w, dw, n_bins=10, min_per_bin=5)
    assert sorted(b.count.tolist()) == [10] * 7 + [11] * 3 and b.count.sum() == 103
    assert (np.diff(b.mean_w) > 0).all() and (b.high[:-1] <= b.low[1:]).all()
    order = np.argsort(w)[: b.count[0]]
    assert b.var_dw[0] == pytest.approx(dw[order].var(ddof=1))
    assert len(bin_changes(w, dw, bin_size=25, min_per_bin=5).count) == 4
    with pytest.raises(ValueError, match="103 size changes .* make 20 bins of 5 changes, below "
                       "the 10 a bin needs for its variance; pass at most 10 bins"):  # fmt: skip
        bin_changes(w, dw, n_bins=20)
    with pytest.raises(ValueError, match="a bin size of 3 is below the 10 changes"):
        bin_changes(w, dw, bin_size=3)


def test_changes_only_between_present_sessions_and_simulation_rules():
    sizes = np.array([[1.0, 2.0, 0.0, 3.0], [0.0, 1.0, 1.5, 1.0]])
    w, dw = size_changes(sizes)
    np.testing.assert_array_equal(w, [1.0, 1.0, 1.5])
    np.testing.assert_array_equal(dw, [1.0, 0.5, -0.5])
    # no noise: w(t+1) = w + (-0.5 w + 1) exactly; a start of 0 stays absent
    sim = simulate_kesten(np.array([4.0, 0.0]), 3, -0.5, 1.0, 0.0, 0.0)
    np.testing.assert_allclose(sim, [[4, 3, 2.5, 2.25], [0, 0, 0, 0]])
    # a size pushed to 0 or below is eliminated for good
    gone = simulate_kesten(np.array([1.0]), 3, -2.0, 0.0, 0.0, 0.0)
    np.testing.assert_array_equal(gone, [[1.0, 0.0, 0.0, 0.0]])
