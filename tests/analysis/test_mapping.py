"""Mappings against scikit-learn, closed-form solutions and hand-built cases."""

import tracemalloc
import warnings

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.cross_decomposition import PLSRegression
from sklearn.linear_model import LinearRegression, Ridge, RidgeCV

from brainlike.analysis.mapping import (
    MAPPINGS,
    FactoredReadout,
    IdentityMapping,
    LinearRegressionMapping,
    OneToOneMapping,
    PLSMapping,
    RidgeCVMapping,
    RidgeMapping,
    fit_predict_splits,
    make_mapping,
)
from brainlike.analysis.mapping import blocks as mapping_blocks
from brainlike.analysis.mapping import direct as mapping_direct
from brainlike.analysis.mapping import linear as mapping_linear

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def pearson(a, b):
    a = a - a.mean(0)
    b = b - b.mean(0)
    return (a * b).sum(0) / np.sqrt((a * a).sum(0) * (b * b).sum(0))


def random_data(n, p, q, seed):
    """Unstructured data: the hardest case for NIPALS power iterations (small gaps)."""
    rng = np.random.default_rng(seed)
    X = (rng.standard_normal((n, p)) + 0.5).astype(np.float32)
    Y = X[:, :3].astype(float) @ rng.standard_normal((3, q)) + rng.standard_normal((n, q))
    return X, Y


def latent_data(n, p, q, seed, rank=10):
    """Features and targets driven by a few latent factors of decaying strength."""
    rng = np.random.default_rng(seed)
    Z = rng.standard_normal((n, rank)) * np.geomspace(3, 0.3, rank)
    X = (Z @ rng.standard_normal((rank, p)) + 0.5 * rng.standard_normal((n, p)) + 1.0).astype(
        np.float32
    )
    Y = Z @ rng.standard_normal((rank, q)) + 0.5 * rng.standard_normal((n, q)) + 5.0
    return X, Y


def converged_pls(n_components, X, Y, scale=False):
    """scikit-learn's NIPALS with its power iterations run to convergence."""
    return PLSRegression(n_components, scale=scale, tol=1e-15, max_iter=100_000).fit(X, Y)


# (n_train, p, q, n_components): n < p, n > p, q = 1, q > 1, 1 to 25 components
SHAPES = [(60, 200, 5, 10), (200, 30, 1, 8), (100, 50, 7, 25), (80, 300, 3, 1), (40, 500, 10, 20)]


# --------------------------------------------------------------------------------------------
# PLS against scikit-learn
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["primal", "kernel"])
@pytest.mark.parametrize("shape", SHAPES)
def test_pls_equals_converged_sklearn(shape, algorithm):
    n, p, q, K = shape
    X, Y = random_data(n + 40, p, q, seed=n + p)
    Xtr, Ytr, Xte = X[:n], Y[:n], X[n:].astype(np.float64)
    ref = converged_pls(K, Xtr, Ytr)
    ours = PLSMapping(K, algorithm=algorithm).fit(Xtr, Ytr)  # float32 X, never up-cast
    assert ours.algorithm_ == algorithm
    assert rel(ours.predict(Xte), ref.predict(Xte)) < 1e-6
    assert np.abs(pearson(ours.predict(Xte), Y[n:]) - pearson(ref.predict(Xte), Y[n:])).max() < 1e-7
    assert rel(ours.coef_, ref.coef_) < 1e-6
    assert np.allclose(ours.intercept_, ref.intercept_, rtol=1e-12)
    # same sign convention (svd_flip) and the same components, not only the same predictions
    assert rel(ours.x_weights_, ref.x_weights_) < 1e-4
    assert rel(ours.x_loadings_, ref.x_loadings_) < 1e-4
    assert rel(ours.y_loadings_, ref.y_loadings_) < 1e-4
    assert rel(ours.x_rotations_, ref.x_rotations_) < 1e-4
    assert rel(ours.x_scores_, ref.x_scores_) < 1e-4


@pytest.mark.parametrize(
    "shape", [(60, 200, 5, 10), (40, 500, 10, 20), (300, 40, 12, 10), (100, 80, 1, 25)]
)
def test_pls_equals_default_sklearn_on_latent_factor_data(shape):
    # Where its singular values have clear gaps, scikit-learn's default tolerance (1e-6)
    # converges far enough for predictions to agree to 1e-4 and test-set r to 1e-5 (where they
    # do not, see the next test: the difference is scikit-learn's own convergence error).
    n, p, q, K = shape
    X, Y = latent_data(n + 40, p, q, seed=q)
    Xtr, Ytr, Xte = X[:n], Y[:n], X[n:].astype(np.float64)
    ref = PLSRegression(K, scale=False).fit(Xtr, Ytr).predict(Xte)
    ours = PLSMapping(K).fit(Xtr, Ytr).predict(Xte)
    assert rel(ours, ref) < 1e-4
    assert np.abs(pearson(ours, Y[n:]) - pearson(ref, Y[n:])).max() < 1e-5


def test_sklearn_tolerance_is_what_limits_agreement():
    # Unstructured data, 25 components: scikit-learn's default power iterations stop early, and
    # our result sits where its iterations go when run to convergence.
    X, Y = random_data(140, 50, 7, seed=3)
    Xtr, Ytr, Xte = X[:100], Y[:100], X[100:].astype(np.float64)
    ours = PLSMapping(25).fit(Xtr, Ytr).predict(Xte)
    default = PLSRegression(25, scale=False).fit(Xtr, Ytr).predict(Xte)
    converged = converged_pls(25, Xtr, Ytr).predict(Xte)
    gap_default = rel(ours, default)
    assert gap_default > 1e-5  # scikit-learn's default is visibly unconverged here
    assert rel(ours, converged) < 1e-3 * gap_default
    # and the difference to the default is exactly scikit-learn's own convergence error
    assert abs(gap_default - rel(converged, default)) < 1e-3 * gap_default


def test_pls_q1_is_exact_even_for_default_sklearn():
    # One target: NIPALS needs a single iteration, so even the default agrees to rounding.
    X, Y = random_data(90, 120, 1, seed=5)
    y = Y[:, 0]
    ours = PLSMapping(12).fit(X[:70], y[:70])
    ref = PLSRegression(12, scale=False).fit(X[:70], y[:70])
    pred = ours.predict(X[70:].astype(np.float64))
    assert pred.shape == (20,)
    assert rel(pred, ref.predict(X[70:].astype(np.float64))) < 1e-10


@pytest.mark.parametrize("algorithm", ["primal", "kernel"])
def test_pls_scale_true_equals_sklearn(algorithm):
    X, Y = random_data(110, 60, 4, seed=11)
    X[:, 5] *= 100.0  # unequal column scales make scaling matter
    Xtr, Ytr, Xte = X[:80], Y[:80] * [1, 10, 100, 0.1], X[80:].astype(np.float64)
    ref = converged_pls(6, Xtr, Ytr, scale=True)
    ours = PLSMapping(6, scale=True, algorithm=algorithm).fit(Xtr, Ytr)
    assert rel(ours.predict(Xte), ref.predict(Xte)) < 1e-6
    assert rel(ours.coef_, ref.coef_) < 1e-6


def test_pls_primal_and_kernel_agree_to_rounding():
    X, Y = latent_data(70, 150, 9, seed=2)
    a = PLSMapping(15, algorithm="primal").fit(X, Y)
    b = PLSMapping(15, algorithm="kernel").fit(X, Y)
    for name in ("coef_", "x_weights_", "x_loadings_", "y_loadings_", "x_rotations_"):
        assert rel(getattr(b, name), getattr(a, name)) < 1e-9, name


def test_pls_sklearn_algorithm_is_sklearn():
    X, Y = random_data(50, 20, 3, seed=1)
    ours = PLSMapping(4, algorithm="sklearn").fit(X, Y)
    ref = PLSRegression(4, scale=False).fit(X, Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-12)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X.astype(np.float64)), rtol=1e-10)


def test_pls_stops_when_x_rank_is_exhausted():
    # X has rank 3: components 4 and 5 would be fitted rounding noise; PLS stops and warns,
    # and the model equals PLS with 3 components.
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((30, 3))
    X = Z @ rng.standard_normal((3, 10))
    Y = Z @ rng.standard_normal((3, 4)) + 0.1 * rng.standard_normal((30, 4))
    three = PLSMapping(3).fit(X, Y).predict(X)
    for algorithm in ("primal", "kernel"):
        with pytest.warns(UserWarning, match="stopped after 3 of 5"):
            five = PLSMapping(5, algorithm=algorithm).fit(X, Y)
        assert five.n_components_ == 3
        assert np.all(five.x_weights_[:, 3:] == 0)
        assert rel(five.predict(X), three) < 1e-10


def test_pls_stops_when_targets_are_explained():
    # y lies in a 2-D invariant subspace of Xc^T Xc, so the PLS (Krylov) space fits it exactly
    # after 2 components; the residual is then rounding noise and PLS stops.
    rng = np.random.default_rng(1)
    X = rng.standard_normal((30, 10))
    Xc = X - X.mean(0)
    V = np.linalg.eigh(Xc.T @ Xc)[1]
    y = Xc @ (V[:, -1] + 2 * V[:, 0]) + 1.0
    for algorithm in ("primal", "kernel"):
        with pytest.warns(UserWarning, match="stopped after 2 of 5"):
            m = PLSMapping(5, algorithm=algorithm).fit(X, y)
        np.testing.assert_allclose(m.predict(X), y, atol=1e-10)


def test_pls_auto_choice():
    # Many stimuli, few features: work with X. Few stimuli, many targets: the Gram matrix.
    rng = np.random.default_rng(0)
    X = rng.standard_normal((2000, 20))
    assert PLSMapping(5).fit(X, X[:, :3]).algorithm_ == "primal"
    X = rng.standard_normal((40, 3000))
    Y = rng.standard_normal((40, 400))
    assert PLSMapping(5).fit(X, Y).algorithm_ == "kernel"


# --------------------------------------------------------------------------------------------
# fit_predict_splits
# --------------------------------------------------------------------------------------------


def _splits(n, rng):
    out = []
    for _ in range(4):
        perm = rng.permutation(n)
        out.append((perm[:100], perm[100:]))
    out.append((np.arange(50), np.arange(60, n)))  # rows 50..59 in neither
    return out


@pytest.mark.parametrize("scale", [False, True])
@pytest.mark.parametrize("algorithm", ["primal", "kernel", "auto"])
def test_fit_predict_splits_pls_equals_separate_fits(algorithm, scale):
    rng = np.random.default_rng(7)
    X, _ = latent_data(120, 400, 6, seed=1)
    Ys = [latent_data(120, 400, q, seed=s)[1] for s, q in ((1, 6), (2, 6), (3, 2))]
    splits = _splits(120, rng)
    out = fit_predict_splits(PLSMapping(10, scale=scale, algorithm=algorithm), X, Ys, splits)
    assert len(out) == len(splits) and all(len(row) == len(Ys) for row in out)
    for s, (train, test) in enumerate(splits):
        for m, Y in enumerate(Ys):
            alone = PLSMapping(10, scale=scale, algorithm="primal").fit(X[train], Y[train])
            expected = alone.predict(X[test])
            assert out[s][m].shape == (len(test), Y.shape[1])
            assert rel(out[s][m], expected) < 1e-9
            ref = converged_pls(10, X[train], Y[train], scale=scale)
            assert rel(out[s][m], ref.predict(X[test].astype(np.float64))) < 1e-6
    # a single split (its training rows multiplied directly, nothing shared)
    train, test = splits[0]
    one = fit_predict_splits(
        PLSMapping(10, scale=scale, algorithm=algorithm), X, Ys, [(train, test)]
    )
    assert rel(one[0][2], out[0][2]) < 1e-9


def test_fit_predict_splits_other_mappings_loop_over_clones():
    rng = np.random.default_rng(3)
    X, Y = latent_data(80, 30, 4, seed=4)
    splits = [(np.arange(60), np.arange(60, 80)), (np.arange(20, 80), np.arange(20))]
    for name in ("ridge", "linreg", "one_to_one"):
        out = fit_predict_splits(name, X, [Y, Y[:, :2]], splits)
        for s, (train, test) in enumerate(splits):
            est = make_mapping(name).fit(X[train], Y[train, :2])
            np.testing.assert_allclose(out[s][1], est.predict(X[test]), rtol=1e-9)
    out = fit_predict_splits("identity", X, [Y], splits)
    np.testing.assert_array_equal(out[1][0], X[splits[1][1]])
    # boolean masks work like index arrays
    mask = np.zeros(80, dtype=bool)
    mask[:60] = True
    by_mask = fit_predict_splits("ridge", X, [Y], [(mask, ~mask)])
    np.testing.assert_allclose(by_mask[0][0], fit_predict_splits("ridge", X, [Y], splits)[0][0])
    del rng


# (n, p): features fewer than training rows (primal), more than all rows (one Gram matrix),
# in between, and far more
LINEAR_SHAPES = [(90, 12), (60, 250), (120, 80), (70, 3000)]


def _clone_loop(estimator, X, Ys, splits):
    X64 = X.astype(np.float64)
    return [
        [
            clone(estimator).fit(X64[train], Y[train]).predict(X64[test]).reshape(len(test), -1)
            for Y in Ys
        ]
        for train, test in splits
    ]


def _min_norm_loop(X, Ys, splits):
    """The slow obvious least squares with an intercept: centre on the training split, then
    numpy's SVD lstsq (the minimum-norm solution when p > n or X is rank-deficient). A reference
    that, unlike scikit-learn's LinearRegression, does not change between releases (1.5 is not
    minimum-norm when p > n)."""
    X64 = X.astype(np.float64)
    out = []
    for train, test in splits:
        mx = X64[train].mean(0)
        row = []
        for Y in Ys:
            Y2 = Y.reshape(len(Y), -1).astype(np.float64)
            my = Y2[train].mean(0)
            W = np.linalg.lstsq(X64[train] - mx, Y2[train] - my, rcond=None)[0]
            row.append((X64[test] - mx) @ W + my)
        out.append(row)
    return out


def _linear_case(n, p, seed):
    rng = np.random.default_rng(seed)
    X, _ = latent_data(n, p, 1, seed=seed)
    # several targets of different widths (one 1-D), offsets and scales
    Ys = [latent_data(n, p, q, seed=seed + q)[1] * (q + 1) for q in (5, 1, 9)]
    Ys[1] = Ys[1][:, 0]
    splits = [(perm[: int(0.6 * n)], perm[int(0.6 * n) :]) for perm in (rng.permutation(n),)]
    splits.append((np.arange(n // 2), np.arange(n // 2 + 3, n)))  # 3 rows in neither
    return X, Ys, splits


@pytest.mark.parametrize("shape", LINEAR_SHAPES)
@pytest.mark.parametrize("alpha", [1.0, 0.01, 300.0])
def test_fit_predict_splits_ridge_equals_sklearn_clones(shape, alpha):
    X, Ys, splits = _linear_case(*shape, seed=shape[1])
    assert X.dtype == np.float32
    out = fit_predict_splits(RidgeMapping(alpha=alpha), X, Ys, splits)
    ref = _clone_loop(Ridge(alpha=alpha), X, Ys, splits)
    for s in range(len(splits)):
        for m in range(len(Ys)):
            assert out[s][m].shape == ref[s][m].shape
            assert rel(out[s][m], ref[s][m]) < 1e-8


@pytest.mark.parametrize("shape", LINEAR_SHAPES)
def test_fit_predict_splits_linreg_equals_min_norm_lstsq(shape):
    X, Ys, splits = _linear_case(*shape, seed=shape[0])
    out = fit_predict_splits("linreg", X, Ys, splits)
    ref = _min_norm_loop(X, Ys, splits)
    for s in range(len(splits)):
        for m in range(len(Ys)):
            assert out[s][m].shape == ref[s][m].shape
            assert rel(out[s][m], ref[s][m]) < 1e-6


def test_fit_predict_splits_linreg_rank_deficient_is_minimum_norm():
    # duplicated and constant columns: the minimum-norm solution
    X, Ys, splits = _linear_case(80, 20, seed=5)
    X = np.hstack([X, X[:, :5], np.full((80, 2), 3.0, dtype=np.float32)])
    out = fit_predict_splits("linreg", X, Ys, splits)
    ref = _min_norm_loop(X, Ys, splits)
    for s in range(len(splits)):
        for m in range(len(Ys)):
            assert rel(out[s][m], ref[s][m]) < 1e-6


@pytest.mark.parametrize("shape", LINEAR_SHAPES)
def test_fit_predict_splits_one_to_one_equals_clones(shape, monkeypatch):
    # several blocks of source units (the correlation is taken block by block)
    monkeypatch.setattr(mapping_direct, "_CORR_FLOATS", 64)
    X, Ys, splits = _linear_case(*shape, seed=7)
    X[:, 3] = 2.0  # a constant unit is never chosen
    out = fit_predict_splits("one_to_one", X, Ys, splits)
    for s, (train, test) in enumerate(splits):
        for m, Y in enumerate(Ys):
            est = OneToOneMapping().fit(X[train], Y[train])
            expected = est.predict(X[test]).reshape(len(test), -1)
            np.testing.assert_array_equal(out[s][m], expected)


def test_fit_predict_splits_linear_fast_paths_are_used():
    # the fast paths never clone; ridgecv, subclasses and alpha = 0 loop over clones
    X, Ys, splits = _linear_case(50, 30, seed=1)
    calls = []

    class Counting(RidgeMapping):
        def fit(self, X, Y):
            calls.append(1)
            return super().fit(X, Y)

    fit_predict_splits(RidgeMapping(), X, Ys, splits)
    fit_predict_splits(Counting(), X, Ys, splits)
    assert len(calls) == len(splits) * len(Ys)
    assert mapping_linear._linear_kind(RidgeMapping(alpha=0.0)) is None
    assert mapping_linear._linear_kind(RidgeCVMapping()) is None


def test_fit_predict_splits_errors():
    X, Y = latent_data(40, 10, 2, seed=0)
    train, test = np.arange(30), np.arange(30, 40)
    with pytest.raises(ValueError, match="both train and test"):
        fit_predict_splits("pls", X, [Y], [(train, np.arange(25, 40))])
    bad = Y.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"Ys\[1\] contains NaN"):
        fit_predict_splits("ridge", X, [Y, bad], [(train, test)])
    with pytest.raises(ValueError, match="has 39 stimuli but X has 40"):
        fit_predict_splits("ridge", X, [Y[:39]], [(train, test)])
    with pytest.raises(TypeError, match="list of target matrices"):
        fit_predict_splits("ridge", X, Y, [(train, test)])
    with pytest.raises(ValueError, match="outside 0..39"):
        fit_predict_splits("ridge", X, [Y], [(train, np.array([40]))])
    with pytest.raises(ValueError, match="n_components <= 10"):
        fit_predict_splits(PLSMapping(25), X, [Y], [(train, test)])


def test_pls_memory_stays_near_one_x(monkeypatch):
    # Float32 X is never up-cast or copied whole: peak extra memory (numpy allocations, as
    # tracemalloc sees them) stays under one X, also with several targets sharing X.
    monkeypatch.setattr(mapping_blocks, "_MIN_BUDGET", 0)
    monkeypatch.setattr(mapping_blocks, "_BLOCK_BYTES", 2**20)
    rng = np.random.default_rng(0)
    X = rng.standard_normal((400, 6000)).astype(np.float32)
    Ys = [rng.standard_normal((400, 20)) for _ in range(3)]
    splits = [(np.arange(40, 400), np.arange(40)), (np.arange(360), np.arange(360, 400))]
    peaks = {}
    for algorithm in ("kernel", "primal"):
        tracemalloc.start()
        fit_predict_splits(PLSMapping(10, algorithm=algorithm), X, Ys, splits)
        peaks[algorithm] = tracemalloc.get_traced_memory()[1] / X.nbytes
        tracemalloc.stop()
    assert peaks["kernel"] < 0.5
    assert peaks["primal"] < 1.0  # a float64 copy of X alone would be 2.0


# --------------------------------------------------------------------------------------------
# input checks, registry, estimator protocol
# --------------------------------------------------------------------------------------------


def test_pls_input_errors():
    X, Y = random_data(20, 8, 2, seed=0)
    with pytest.raises(ValueError, match=r"min\(n_train=20, n_features=8\) = 8.*n_components <= 8"):
        PLSMapping(25).fit(X, Y)
    with pytest.raises(ValueError, match="positive int"):
        PLSMapping(0.5).fit(X, Y)
    with pytest.raises(ValueError, match="at most"):
        PLSMapping(0).fit(X, Y)
    bad = X.copy()
    bad[4, 2] = np.inf
    with pytest.raises(ValueError, match="stimulus 4, unit 2"):
        PLSMapping(2).fit(bad, Y)
    with pytest.raises(ValueError, match="must be 2-D"):
        PLSMapping(2).fit(X[:, :, None], Y)
    with pytest.raises(ValueError, match="has 19 stimuli but X has 20"):
        PLSMapping(2).fit(X, Y[:19])
    with pytest.raises(ValueError, match="algorithm='fast'"):
        PLSMapping(2, algorithm="fast").fit(X, Y)
    fitted = PLSMapping(2).fit(X, Y)
    with pytest.raises(ValueError, match="X has 7 features but PLSMapping was fit on 8"):
        fitted.predict(X[:, :7])


def test_make_mapping_and_registry():
    assert MAPPINGS == ("pls", "ridge", "ridgecv", "linreg", "one_to_one", "factored", "identity")
    assert isinstance(make_mapping("pls"), PLSMapping)
    assert make_mapping("pls").n_components == 25 and make_mapping("pls").scale is False
    assert make_mapping("ridge").alpha == 1.0
    np.testing.assert_allclose(make_mapping("ridgecv").alphas, np.logspace(-2, 7, 100))
    assert make_mapping("pls", n_components=3).n_components == 3
    with pytest.raises(ValueError, match="pls, ridge, ridgecv, linreg, one_to_one, factored"):
        make_mapping("lasso")


@pytest.mark.parametrize("name", MAPPINGS)
def test_clone_and_get_params(name):
    est = make_mapping(name)
    params = est.get_params()
    twin = clone(est)
    assert type(twin) is type(est) and twin is not est
    assert set(twin.get_params()) == set(params)
    est.set_params(**params)


# --------------------------------------------------------------------------------------------
# ridge, least squares, identity
# --------------------------------------------------------------------------------------------


def test_ridge_equals_sklearn():
    X, Y = latent_data(60, 40, 3, seed=8)
    ours = RidgeMapping(alpha=2.5).fit(X, Y)
    ref = Ridge(alpha=2.5).fit(X.astype(np.float64), Y)
    np.testing.assert_allclose(ours.coef_, ref.coef_, rtol=1e-10)
    np.testing.assert_allclose(ours.predict(X), ref.predict(X.astype(np.float64)), rtol=1e-10)
    # closed form: coef = (Xc^T Xc + alpha I)^-1 Xc^T Yc
    X64 = X.astype(np.float64)
    Xc, Yc = X64 - X64.mean(0), Y - Y.mean(0)
    coef = np.linalg.solve(Xc.T @ Xc + 2.5 * np.eye(40), Xc.T @ Yc)
    np.testing.assert_allclose(ours.coef_, coef.T, rtol=1e-8, atol=1e-12)


def test_ridgecv_equals_sklearn():
    X, Y = latent_data(60, 40, 3, seed=9)
    ours = RidgeCVMapping().fit(X, Y)
    ref = RidgeCV(alphas=np.logspace(-2, 7, 100)).fit(X.astype(np.float64), Y)
    assert ours.alpha_ == ref.alpha_
    np.testing.assert_allclose(ours.predict(X), ref.predict(X.astype(np.float64)), rtol=1e-10)
    with pytest.raises(ValueError, match="positive"):
        RidgeCVMapping(alphas=[0.0, 1.0]).fit(X, Y)


def test_linear_regression_is_least_squares():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((50, 5))
    B = rng.standard_normal((5, 2))
    Y = X @ B + 3.0
    m = LinearRegressionMapping().fit(X, Y)
    np.testing.assert_allclose(m.coef_, B.T, atol=1e-10)
    np.testing.assert_allclose(m.intercept_, [3.0, 3.0], atol=1e-10)
    ref = LinearRegression().fit(X, Y)
    np.testing.assert_allclose(m.predict(X), ref.predict(X), rtol=1e-12)


def test_identity_returns_x():
    X = np.arange(12.0).reshape(4, 3)
    m = IdentityMapping().fit(X, np.zeros((4, 7)))
    assert m.predict(X) is X or np.array_equal(m.predict(X), X)
    with pytest.raises(ValueError, match="Y has 3 stimuli but X has 4"):
        IdentityMapping().fit(X, np.zeros((3, 2)))
    with pytest.raises(ValueError, match=r"\(stimulus, 3\)"):
        m.predict(X[:, :2])


# --------------------------------------------------------------------------------------------
# one-to-one
# --------------------------------------------------------------------------------------------


def test_one_to_one_recovers_source_units():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((200, 50)).astype(np.float32)
    X[:, 7] = 5.0  # a constant unit is never chosen
    truth = np.array([3, 17, 17, 42, 0])
    # noisy, rescaled and shifted copies of known source units
    Y = X[:, truth] * [2.0, -0.5 * -1, 10.0, 0.1, 3.0] + 4.0
    Y = Y + 0.3 * np.abs([2.0, 0.5, 10.0, 0.1, 3.0]) * rng.standard_normal(Y.shape)
    m = OneToOneMapping().fit(X, Y)
    np.testing.assert_array_equal(m.source_index_, truth)
    np.testing.assert_allclose(m.source_r_, pearson(X[:, truth].astype(float), Y), rtol=1e-10)
    np.testing.assert_array_equal(m.predict(X), X[:, truth].astype(np.float64))  # raw values


def test_one_to_one_hand_computed():
    # By hand: unit 0 is linear in y (r = 1), unit 1 is anti-linear (r = -1); unit 2 centred is
    # (0, -1, 1, 0), y centred (-3, -1, 1, 3): r = 2 / (sqrt(2) sqrt(20)) = 1 / sqrt(10).
    X = np.array([[0.0, 3.0, 1.0], [1.0, 2.0, 0.0], [2.0, 1.0, 2.0], [3.0, 0.0, 1.0]])
    y = np.array([1.0, 3.0, 5.0, 7.0])
    m = OneToOneMapping().fit(X, y)
    assert m.source_index_.tolist() == [0]
    # without unit 0, the best is unit 2 (r = 0.316), never the anti-correlated unit 1
    m = OneToOneMapping().fit(X[:, 1:], y)
    assert m.source_index_.tolist() == [1]
    np.testing.assert_allclose(m.source_r_, [1 / np.sqrt(10)], rtol=1e-12)
    np.testing.assert_array_equal(m.predict(X[:, 1:]), X[:, 2])


# --------------------------------------------------------------------------------------------
# factored readout
# --------------------------------------------------------------------------------------------


def _planted_readout(n=240, C=6, H=5, W=5, N=3, noise=0.05, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, C, H, W))
    yy, xx = np.mgrid[:H, :W]
    centres = [(1, 1), (3, 2), (2, 4)][:N]
    S = np.stack([np.exp(-((yy - a) ** 2 + (xx - b) ** 2) / 1.5) for a, b in centres])
    Wc = rng.standard_normal((C, N))
    clean = np.einsum("ichw,nhw,cn->in", X, S, Wc) + [1.0, -2.0, 0.5][:N]
    Y = clean + noise * rng.standard_normal(clean.shape)
    return X, Y, S, Wc, clean


def _fixed_mask_lstsq_mse(X, Y, S):
    """Training MSE of the best channel weights and bias for fixed masks (closed form)."""
    errs = []
    for k in range(S.shape[0]):
        F = np.einsum("ichw,hw->ic", X, S[k])
        F = np.c_[F, np.ones(len(F))]
        coef, *_ = np.linalg.lstsq(F, Y[:, k], rcond=None)
        errs.append(np.mean((F @ coef - Y[:, k]) ** 2))
    return float(np.mean(errs))


def test_factored_readout_reaches_planted_solution():
    X, Y, S, Wc, clean = _planted_readout()
    m = FactoredReadout(n_epochs=200).fit(X, Y)
    best_fixed = _fixed_mask_lstsq_mse(X, Y, S)  # the planted masks with optimal W and b
    # joint (S, W) training must do at least as well as the true masks (within tolerance)
    assert m.mse_ <= best_fixed * 1.01
    assert m.mse_ == pytest.approx(np.mean((m.predict(X) - Y) ** 2), rel=1e-8)
    # and it recovers the planted responses on new stimuli
    X2, _, _, _, clean2 = _planted_readout(n=100, seed=1)
    X2 = X2  # new stimuli through the same planted readout:
    clean2 = np.einsum("ichw,nhw,cn->in", X2, S, Wc) + [1.0, -2.0, 0.5]
    assert pearson(m.predict(X2), clean2).min() > 0.995
    # masks are recovered up to the scale shared with W: correlation with the planted masks
    for k in range(3):
        assert np.corrcoef(m.spatial_[k].ravel(), S[k].ravel())[0, 1] > 0.99


def test_factored_readout_flat_input_penalties_and_errors():
    X, Y, _, _, _ = _planted_readout(n=120)
    flat = X.reshape(len(X), -1)
    a = FactoredReadout(n_epochs=60).fit(X, Y)
    b = FactoredReadout(n_epochs=60, feature_shape=(6, 5, 5)).fit(flat, Y)
    np.testing.assert_allclose(a.predict(X), b.predict(flat), rtol=1e-10)

    # a smoothness penalty makes the masks smoother (Laplacian energy relative to the mask's);
    # an L2 penalty on W pins the S-W scale, which a penalty on S alone could shrink away
    def roughness(S):
        p = np.pad(S, ((0, 0), (1, 1), (1, 1)), mode="edge")
        lap = p[:, :-2, 1:-1] + p[:, 2:, 1:-1] + p[:, 1:-1, :-2] + p[:, 1:-1, 2:] - 4 * S
        return (lap**2).sum() / (S**2).sum()

    plain = FactoredReadout(n_epochs=100, channel_l2=0.01).fit(X, Y)
    smooth = FactoredReadout(n_epochs=100, channel_l2=0.01, smoothness=10.0).fit(X, Y)
    assert roughness(smooth.spatial_) < 0.5 * roughness(plain.spatial_)
    # an L1 penalty on S zeroes mask pixels away from the planted bumps
    sparse = FactoredReadout(n_epochs=100, channel_l2=0.01, sparsity=0.1).fit(X, Y)

    def near_zero(S):
        return np.mean(np.abs(S) < 1e-3 * np.abs(S).max())

    assert near_zero(sparse.spatial_) > near_zero(plain.spatial_) + 0.2
    # Adam also trains the readout (well below the variance of the targets)
    adam = FactoredReadout(n_epochs=200, optimizer="adam", lr=0.02).fit(X, Y)
    assert adam.mse_ < 0.05 * Y.var(axis=0).mean()
    with pytest.raises(ValueError, match="feature_shape"):
        FactoredReadout().fit(flat, Y)
    with pytest.raises(ValueError, match="C\\*H\\*W = 150"):
        FactoredReadout(feature_shape=(5, 5, 5)).fit(flat, Y)
    with pytest.raises(ValueError, match="optimizer"):
        FactoredReadout(optimizer="sgd").fit(X, Y)


def test_fit_predict_splits_factored():
    X, Y, _, _, _ = _planted_readout(n=100)
    splits = [(np.arange(80), np.arange(80, 100))]
    out = fit_predict_splits(FactoredReadout(n_epochs=30), X, [Y], splits)
    direct = FactoredReadout(n_epochs=30).fit(X[:80], Y[:80]).predict(X[80:])
    np.testing.assert_allclose(out[0][0], direct, rtol=1e-10)


def test_no_warnings_in_normal_fits():
    X, Y = latent_data(60, 40, 3, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        PLSMapping(10).fit(X, Y)
        fit_predict_splits("pls", X, [Y], [(np.arange(50), np.arange(50, 60))])
