"""Neural fits over time (recurrent.md §2): time-resolved activations, dynamic animals, layer
assignment, temporally fixed mappings, per-bin ceilings, `brainlike score --temporal`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from torch import nn
from typer.testing import CliRunner

from brainlike.analysis.activations import extract_activations, list_layers, model_time_steps
from brainlike.analysis.mapping import FactoredReadout
from brainlike.analysis.neural import (
    assign_layers,
    inter_animal_consistency,
    split_half_reliability,
    temporal_inter_animal_consistency,
    temporal_predictivity,
)
from brainlike.data.simulate import (
    random_recurrent_layers,
    simulate_dynamic_animals,
    time_bins_ms,
)
from brainlike.data.stimuli import render_digits

# --------------------------------------------------------------------------------------------
# a toy recurrent model: a Python loop over time calling its cells once per step


class Cell(nn.Module):
    """h_t = relu(conv(x_t) + decay * h_{t-1})."""

    def __init__(self, c_in: int, c_out: int, decay: float = 0.6) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)
        self.decay = decay

    def forward(self, x: torch.Tensor, h: torch.Tensor | None) -> torch.Tensor:
        drive = self.conv(x)
        return torch.relu(drive if h is None else drive + self.decay * h)


class LoopNet(nn.Module):
    """Two cells unrolled the biological way; the image is on for the first `image_steps`."""

    def __init__(
        self,
        in_channels: int = 1,
        time_steps: int = 6,
        image_steps: int = 3,
        width: int = 4,
        input_size: int = 16,
    ) -> None:
        super().__init__()
        self.time_steps, self.image_steps, self.input_size = time_steps, image_steps, input_size
        self.cell1, self.cell2 = Cell(in_channels, width), Cell(width, width)
        self.head = nn.Linear(width, 10)

    def forward(self, x: torch.Tensor, time_steps: int | None = None) -> torch.Tensor:
        h1 = h2 = None
        for t in range(time_steps or self.time_steps):
            size = ((x.shape[2] + 1) // 2, (x.shape[3] + 1) // 2)
            below = x.new_zeros(len(x), self.cell1.conv.out_channels, *size) if h1 is None else h1
            image = x if t < self.image_steps else torch.zeros_like(x)
            h1, h2 = self.cell1(image, h1), self.cell2(below, h2)
        return self.head(h2.mean(dim=(2, 3)))


class FixedLoop(LoopNet):
    """The same loop, but its forward takes no `time_steps`: it always runs its own steps."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        return super().forward(x)


def manual_unroll(net: LoopNet, x: torch.Tensor, steps: int) -> dict[str, np.ndarray]:
    """The cells' outputs at every step, computed by hand: (stimulus, unit, time)."""
    h1 = h2 = None
    out: dict[str, list] = {"cell1": [], "cell2": []}
    with torch.no_grad():
        for t in range(steps):
            below = torch.zeros(len(x), 4, 8, 8) if h1 is None else h1
            h1 = net.cell1(x if t < net.image_steps else torch.zeros_like(x), h1)
            h2 = net.cell2(below, h2)
            out["cell1"].append(h1.flatten(1).numpy())
            out["cell2"].append(h2.flatten(1).numpy())
    return {k: np.stack(v, axis=-1) for k, v in out.items()}


def images(n: int = 10, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).random((n, 1, 16, 16)).astype(np.float32)


# --------------------------------------------------------------------------------------------
# 1. time-resolved activations


def test_time_resolved_activations_equal_a_manual_unroll():
    torch.manual_seed(0)
    net, x = LoopNet(), images()
    acts = extract_activations(
        net, x, ["cell1", "cell2"], time_steps=6, batch_size=4, progress=False
    )
    expected = manual_unroll(net, torch.from_numpy(x), 6)
    assert acts.time_steps == 6
    assert acts.shape("cell1") == (10, 4 * 8 * 8, 6) and acts.unit_shape("cell1") == (4, 8, 8)
    assert acts.shape("cell2") == (10, 4 * 4 * 4, 6)
    for layer in ("cell1", "cell2"):
        np.testing.assert_allclose(acts[layer], expected[layer], rtol=1e-5, atol=1e-6)
    # cell2 starts one step late (biological unrolling); cell1 decays after the image goes off
    assert np.all(np.ptp(acts["cell2"][..., 0], axis=0) == 0)  # it sees only zeros at step 0
    assert acts["cell1"][..., 5].std(axis=0).mean() < acts["cell1"][..., 2].std(axis=0).mean()
    # the model's own time_steps, and a model told to unroll longer through its forward
    assert model_time_steps(net) == 6
    by_model = extract_activations(net, x, ["cell1"], time_steps="model", progress=False)
    np.testing.assert_array_equal(by_model["cell1"], acts["cell1"])
    longer = extract_activations(net, x, ["cell1"], time_steps=9, progress=False)
    np.testing.assert_allclose(
        longer["cell1"], manual_unroll(net, torch.from_numpy(x), 9)["cell1"], rtol=1e-5, atol=1e-6
    )
    # layers of a recurrent model: the modules run once per step
    assert list_layers(net, (1, 16, 16), time_steps=6) == ["cell1.conv", "cell2.conv"]
    assert "cell1" not in list_layers(net, (1, 16, 16))  # called 6 times: not a static layer


def test_wrong_call_count_names_the_layer_and_the_count():
    torch.manual_seed(0)
    net, x = FixedLoop(time_steps=4), images(3)
    with pytest.raises(
        ValueError, match=r"layer 'cell1' ran 4 times in one forward pass but time_steps=5"
    ):
        extract_activations(net, x, ["cell1"], time_steps=5, progress=False)
    with pytest.raises(ValueError, match=r"layer 'head' ran 1 times .* time_steps=4"):
        extract_activations(net, x, ["cell2", "head"], time_steps=4, progress=False)
    with pytest.raises(ValueError, match="runs more than once"):
        extract_activations(net, x, ["cell1"], progress=False)
    with pytest.raises(ValueError, match="time_steps attribute"):
        model_time_steps(nn.Linear(2, 2))
    with pytest.raises(ValueError, match="one output per step"):
        extract_activations(net, x, ["output"], time_steps=4, progress=False)
    assert extract_activations(net, x, ["cell2"], time_steps=4, progress=False).shape("cell2") == (
        3,
        64,
        4,
    )


def test_cache_key_includes_the_time_steps_and_pca_pools_time(tmp_path):
    torch.manual_seed(0)
    net, x = LoopNet(), images(12)
    a = extract_activations(net, x, ["cell2"], time_steps=6, cache_dir=tmp_path, progress=False)
    b = extract_activations(net, x, ["cell2"], time_steps=5, cache_dir=tmp_path, progress=False)
    again = extract_activations(net, x, ["cell2"], time_steps=6, cache_dir=tmp_path, progress=False)
    assert a.cache_key != b.cache_key and a.cache_keys["cell2"] != b.cache_keys["cell2"]
    assert not a.from_cache["cell2"] and again.from_cache["cell2"]
    assert again.cache_key == a.cache_key and again.shape("cell2") == (12, 64, 6)
    np.testing.assert_array_equal(again["cell2"], a["cell2"])
    assert b.shape("cell2") == (12, 64, 5)
    # PCA: fit on the training stimuli's rows pooled over time, every step projected alike
    train = np.arange(8)
    p = extract_activations(
        net, x, ["cell2"], time_steps=6, pca_components=5, pca_train_indices=train,
        cache_dir=tmp_path, progress=False,
    )  # fmt: skip
    assert p.shape("cell2") == (12, 5, 6) and p.unit_shape("cell2") is None
    rows = np.moveaxis(np.asarray(a["cell2"], np.float64), 2, 1)  # (stimulus, time, unit)
    pca = PCA(5, random_state=0).fit(rows[train].reshape(-1, 64))
    expected = np.moveaxis(pca.transform(rows.reshape(-1, 64)).reshape(12, 6, 5), 1, 2)
    np.testing.assert_allclose(np.abs(p["cell2"]), np.abs(expected), rtol=1e-3, atol=1e-4)
    assert p.metadata("cell2")["pca"]["n_train"] == 8


# --------------------------------------------------------------------------------------------
# 2. dynamic animals and the ground-truth recurrent brain

T_STEPS, IMAGE_STEPS = 8, 4


@pytest.fixture(scope="module")
def brain():
    """Ground truth: a leaky recurrent net on 120 digits, 8 steps, image on for 4; and an
    unrelated one (other weights)."""
    imgs, _ = render_digits(12, size=16, channels=1, rng=0)
    kw = {"n_steps": T_STEPS, "image_steps": IMAGE_STEPS}
    return {
        "true": random_recurrent_layers(imgs, (32, 12), seed=0, **kw),
        "other": random_recurrent_layers(imgs, (32, 12), seed=1, **kw),
    }


@pytest.fixture(scope="module")
def animals(brain):
    """3 animals x 12 neurons of layer 2 (12 units: every animal records all of them)."""
    return simulate_dynamic_animals(
        brain["true"]["layer2"], n_animals=3, units_per_animal=12, n_trials=6, noise_sd=0.5, seed=0
    )


def test_recurrent_brain_unrolls_biologically_and_decays(brain):
    layers = brain["true"]
    assert layers["layer1"].shape == (120, 32, T_STEPS) and layers["layer2"].shape == (
        120,
        12,
        T_STEPS,
    )
    # layer l first responds at step l; the response decays once the image is off (step 4 on)
    assert np.all(layers["layer1"][..., 0] == 0) and np.all(layers["layer2"][..., :2] == 0)
    spread = layers["layer1"].std(axis=0).mean(axis=0)
    assert spread[IMAGE_STEPS] > spread[IMAGE_STEPS + 1] > spread[IMAGE_STEPS + 2] > spread[-1]


def test_dynamic_animals_share_neurons_across_bins_and_match_the_expected_reliability(
    brain, animals
):
    sim = animals
    assert sim.responses.shape == (120, 36, 6, T_STEPS) and sim.rates.shape == (120, 36, T_STEPS)
    np.testing.assert_array_equal(sim.time_bins, time_bins_ms(T_STEPS, 10.0))
    # a neuroid is its generating unit at every bin, standardised over stimuli and bins jointly
    f = brain["true"]["layer2"][:, sim.source_units, :]
    z = (f - f.mean(axis=(0, 2), keepdims=True)) / f.std(axis=(0, 2), keepdims=True)
    np.testing.assert_allclose(sim.rates, z, atol=1e-12)
    # reliability per bin: analytic vs split-half estimate (medians over neuroids)
    expected = np.median(sim.expected_reliability(), axis=0)
    measured = np.nanmedian(split_half_reliability(sim.responses, n_bootstraps=50), axis=0)
    np.testing.assert_allclose(expected[:2], 0, atol=1e-12)  # no signal before layer 2 responds
    assert np.all(np.abs(measured[:2]) < 0.15)
    np.testing.assert_allclose(measured[2:], expected[2:], atol=0.05)
    assert expected[3] > 0.9 and expected[-1] < expected[IMAGE_STEPS + 1]  # decays after offset
    rec = sim.to_recording()
    assert rec.dims == ("stimulus", "neuroid", "trial", "time_bin")
    np.testing.assert_array_equal(rec.coords["time_bin_start"].values, 10.0 * np.arange(T_STEPS))
    with pytest.raises(ValueError, match="3-d"):
        simulate_dynamic_animals(brain["true"]["layer2"][..., 0])


# --------------------------------------------------------------------------------------------
# 3. temporally fixed mapping, ceilings over time, layer assignment

FAST = {"n_splits": 3, "n_bootstraps": 8, "seed": 0}
DRIVEN = slice(2, T_STEPS)  # bins where layer 2 carries signal


@pytest.fixture(scope="module")
def ceiling(animals):
    return temporal_inter_animal_consistency(animals.responses, animals.animal, "ridge", **FAST)


def test_generating_net_reaches_the_ceiling_in_every_driven_bin(brain, animals, ceiling):
    Y = animals.responses
    own = temporal_predictivity(
        brain["true"]["layer2"], Y, "ridge", estimator="noise_corrected", **FAST
    )
    other = temporal_predictivity(
        brain["other"]["layer2"], Y, "ridge", estimator="noise_corrected", **FAST
    )
    varying = temporal_predictivity(
        brain["true"]["layer2"], Y, "ridge", estimator="noise_corrected", time_varying=True, **FAST
    )
    pct_own = own.percent_of_ceiling(ceiling)[DRIVEN]
    pct_other = other.percent_of_ceiling(ceiling)[DRIVEN]
    pct_varying = varying.percent_of_ceiling(ceiling)[DRIVEN]
    # measured: own 108, 103, 101, 100, 101, 102 %; unrelated 13-14 %; time-varying 93-97 %
    assert np.all((pct_own > 90) & (pct_own < 115)), pct_own
    assert np.all(pct_other < 40), pct_other
    assert np.all(np.abs(pct_varying - pct_own) < 15), (pct_varying, pct_own)
    assert own.raw.shape == (36, T_STEPS) and len(own.per_bin) == T_STEPS
    assert own.parameters["mapping_over_time"] == "fixed"
    assert varying.parameters["mapping_over_time"] == "time-varying"
    # before layer 2 responds there is nothing to predict (constant features: NaN)
    assert np.all(np.isnan(own.median[:2]))
    # the plain form (spec §2): r / SB reliability per bin; with the sqrt correction a perfect
    # model of noisy data scores about 1
    plain = temporal_predictivity(brain["true"]["layer2"], Y, "ridge", correction="sqrt", **FAST)
    assert np.all(np.abs(plain.median[DRIVEN] - 1) < 0.03), plain.median
    ratio = temporal_predictivity(brain["true"]["layer2"], Y, "ridge", **FAST)
    assert np.all(ratio.median[DRIVEN] >= plain.median[DRIVEN])  # r / rel >= r / sqrt(rel)
    json.dumps(own.to_dict())  # JSON-safe


def test_ceiling_over_time_is_inter_animal_consistency_in_each_bin(animals, ceiling):
    b = 4
    direct = inter_animal_consistency(animals.responses[..., b], animals.animal, "ridge", **FAST)
    assert ceiling.median[b] == pytest.approx(direct.value)
    np.testing.assert_allclose(ceiling.raw[:, b], direct.score.raw)
    assert np.all(ceiling.median[DRIVEN] > 0.8) and np.all(np.abs(ceiling.median[:2]) < 0.2)


def test_layer_assignment_picks_the_generating_layer(brain):
    true, other = brain["true"], brain["other"]
    v4 = simulate_dynamic_animals(
        true["layer1"], n_animals=2, units_per_animal=16, n_trials=4, seed=1
    )
    it = simulate_dynamic_animals(
        true["layer2"], n_animals=2, units_per_animal=12, n_trials=4, seed=2
    )
    Y = np.concatenate([v4.responses, it.responses], axis=1)
    region = ["V4"] * 32 + ["IT"] * 24
    features = {"l1": true["layer1"], "l2": true["layer2"], "other": other["layer2"]}
    result = assign_layers(features, Y, region, "ridge", n_splits=3, seed=0)
    assert result.layer == {"V4": "l1", "IT": "l2"}
    assert result.counts["V4"]["l1"] > 24 and result.counts["IT"]["l2"] > 18
    assert result.counts["V4"]["other"] + result.counts["IT"]["other"] < 5
    assert sum(result.counts["IT"].values()) == 24 and result.best_layer["IT"].shape == (24,)
    json.dumps(result.to_dict())


def test_factored_readout_shared_over_time():
    """A fixed factored readout of conv features over time: neurons are single units of a
    toy recurrent conv net, so one (spatial mask x channel weights) per neuron fits all bins."""
    torch.manual_seed(0)
    net = LoopNet(time_steps=5, image_steps=3, width=2, input_size=8)
    x = np.random.default_rng(1).standard_normal((100, 1, 8, 8)).astype(np.float32)
    X = np.asarray(extract_activations(net, x, ["cell1"], time_steps=5, progress=False)["cell1"])
    sim = simulate_dynamic_animals(
        X, n_animals=2, units_per_animal=6, n_trials=4, noise_sd=0.3, seed=0
    )
    readout = FactoredReadout(feature_shape=(2, 4, 4), n_epochs=60)
    s = temporal_predictivity(
        X, sim.responses, readout, correction="sqrt", n_splits=2, n_bootstraps=10
    )
    assert s.parameters["mapping"] == "FactoredReadout"
    # measured: 0.998, 0.999, 0.999, 1.000, 0.998 (ridge on the same data: 0.98-1.00)
    assert np.all(np.abs(s.median - 1) < 0.03), s.median


def test_steps_for_bins_and_errors(brain, animals):
    Y = animals.responses
    X = brain["true"]["layer2"]
    # reading the model one step late for every bin loses the alignment
    late = temporal_predictivity(
        X[..., :-1], Y[..., 1:], "ridge", steps_for_bins=np.arange(T_STEPS - 1), **FAST
    )
    aligned = temporal_predictivity(X, Y, "ridge", **FAST)
    assert np.nanmedian(late.median) < np.nanmedian(aligned.median[1:])
    with pytest.raises(ValueError, match="at least as many steps"):
        temporal_predictivity(X[..., :4], Y, "ridge", **FAST)
    with pytest.raises(ValueError, match="one integer model step per time bin"):
        temporal_predictivity(X, Y, "ridge", steps_for_bins=[0, 1], **FAST)
    with pytest.raises(ValueError, match="time_bin"):
        temporal_predictivity(X, Y[..., 0], "ridge", **FAST)
    Y2 = Y.copy()
    Y2[5, 3, 1:, 2] = np.nan
    with pytest.raises(ValueError, match="neuroid 3 in bin 2"):
        temporal_predictivity(X, Y2, "ridge", **FAST)


# --------------------------------------------------------------------------------------------
# 4. FactoredReadout against least squares


def test_factored_readout_equals_least_squares_on_a_rank_one_separable_truth():
    rng = np.random.default_rng(0)
    n, C, H, W = 200, 4, 5, 5
    X = rng.standard_normal((n, C, H, W))
    S = rng.standard_normal((2, H, W))
    Wc = rng.standard_normal((C, 2))
    Y = np.einsum("ichw,nhw,cn->in", X, S, Wc) + [0.5, -1.0]  # noise-free
    m = FactoredReadout(n_epochs=500).fit(X, Y)
    # ordinary least squares on the vectorised problem (C*H*W weights + intercept per neuron)
    F = np.c_[X.reshape(n, -1), np.ones(n)]
    coef = np.linalg.lstsq(F, Y, rcond=None)[0]
    Xt = rng.standard_normal((50, C, H, W))
    ols = np.c_[Xt.reshape(50, -1), np.ones(50)] @ coef
    assert np.abs(m.predict(Xt) - ols).max() < 1e-4 * np.abs(ols).max()
    # the fitted kernel S_n (x) W[:, n] is the least-squares one, which is the planted S (x) W
    kernel = np.einsum("nhw,cn->nchw", m.spatial_, m.channel_weights_)
    np.testing.assert_allclose(kernel, coef[:-1].T.reshape(2, C, H, W), atol=1e-5)
    np.testing.assert_allclose(kernel, np.einsum("nhw,cn->nchw", S, Wc), atol=1e-5)
    np.testing.assert_allclose(m.bias_, [0.5, -1.0], atol=1e-5)


# --------------------------------------------------------------------------------------------
# 5. the command line: simulate --dynamic, score --temporal

TOY = "test-temporal-loopnet"


@pytest.fixture
def toy_registered():
    from brainlike import models, registry

    models.list_models()  # load the built-in families first
    registry.register_model(
        TOY, "toy recurrent loop (tests)", in_channels=1, input_size=8, width=4
    )(LoopNet)
    yield TOY
    registry.MODELS.unregister(TOY)


def test_cli_simulate_dynamic_then_score_temporal(tmp_path, monkeypatch, toy_registered):
    from brainlike.cli import app

    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    sim_args = ["simulate", str(tmp_path / "sim"), "--dynamic", "--brain", TOY, "--areas"]
    sim_args += ["V4=cell1,IT=cell2", "--per-digit", "6", "--animals", "3", "--neuroids", "8"]
    res = runner.invoke(app, [*sim_args, "--trials", "4", "--noise-sd", "0.3", "--json"])
    assert res.exit_code == 0, res.output
    sim = json.loads(res.stdout)
    assert sim["truth"]["time_steps"] == 6 and sim["truth"]["n_bins"] == 6
    args = ["score", TOY, "-r", sim["recording"], "--temporal"]  # PLS: the default mapping
    args += ["--splits", "2", "--bootstraps", "3", "--no-db"]
    res = runner.invoke(app, [*args, "--json", "--out", str(tmp_path / "scores")])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["assignment"]["layer"] == {"IT": "cell2", "V4": "cell1"}
    assert out["layers"] == ["cell1", "cell2"] and out["settings"]["time_steps"] == 6
    assert len(out["time_bins"]) == 6 and out["time_bins"][1] == [10.0, 20.0]
    rows = {r["region"]: r for r in out["rows"]}
    # the generating layers at about 100 % of the per-bin ceiling while the image drives them
    # (the image is on for steps 0-2; V4 = cell1 responds from step 0, IT = cell2 from 1).
    # measured: V4 102, 97, 103 % in bins 1-3; IT 109, 105, 103, 105 % in bins 1-4
    for region, driven in (("V4", range(1, 4)), ("IT", range(1, 5))):
        pct = [rows[region]["percent_of_ceiling"][b] for b in driven]
        assert all(80 < p < 125 for p in pct), (region, pct)
    saved = json.loads((tmp_path / "scores" / "scores.json").read_text())
    assert saved["temporal"] and set(saved["ceilings"]) == {"V4", "IT"}
    assert (tmp_path / "scores" / "temporal_profile.png").read_bytes()[:4] == b"\x89PNG"
    # the default folder is keyed by model, recording (name + hash) and metric-mapping, and an
    # existing scores.json is refused without --overwrite
    monkeypatch.chdir(tmp_path)
    res = runner.invoke(app, [*args, "--regions", "IT", "--json"])
    assert res.exit_code == 0, res.output
    written = Path(json.loads(res.stdout)["files"]["scores"])
    assert written.parts[:3] == ("runs", "scores", TOY) and written.is_file()
    assert written.parent.name == "noise-corrected-pls-temporal"
    assert written.parent.parent.name.endswith(
        json.loads(res.stdout)["provenance"]["recording_sha256"][:8]
    )
    res = runner.invoke(app, [*args, "--regions", "IT"])
    assert res.exit_code == 2 and "--overwrite" in res.output.replace("\n", "")
    # the human table: one row per area, one column per bin
    res = runner.invoke(app, [*args, "--regions", "IT", "--out", str(tmp_path / "scores2")])
    assert res.exit_code == 0, res.output
    for text in ("area (layer)", "IT (cell2)", "best-fit neuroids: cell1 1, cell2 23"):
        assert text in res.stdout, res.stdout
    # errors name the fix
    res = runner.invoke(app, [*args, "--time-window", "0,30"])
    assert res.exit_code == 2 and "scores each bin; use one" in " ".join(res.output.split())
    res = runner.invoke(app, [*args, "--time-steps", "4"])
    assert res.exit_code == 2 and "(--time-steps 6)" in " ".join(res.output.split())


def test_cli_simulate_dynamic_with_the_builtin_brain_and_static_recordings_refused(tmp_path):
    from brainlike.cli import app
    from brainlike.data.recordings import read_recording

    runner = CliRunner()
    res = runner.invoke(
        app,
        [
            "simulate", str(tmp_path / "dyn"), "--dynamic", "--steps", "5", "--image-steps", "2",
            "--per-digit", "3", "--animals", "2", "--neuroids", "6", "--trials", "4", "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    sim = json.loads(res.stdout)
    assert sim["truth"]["brain"] == "random-recurrent" and sim["truth"]["n_bins"] == 5
    rec = read_recording(sim["recording"])
    assert rec.sizes == {"stimulus": 30, "neuroid": 24, "trial": 4, "time_bin": 5}
    np.testing.assert_array_equal(rec.coords["time_bin_end"].values, [10, 20, 30, 40, 50])
    # --temporal on a recording without time bins
    res = runner.invoke(
        app,
        [
            "simulate", str(tmp_path / "static"), "--per-digit", "3", "--animals", "2",
            "--neuroids", "4", "--trials", "4", "--areas", "IT=layer3.2", "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    static = json.loads(res.stdout)["recording"]
    res = runner.invoke(app, ["score", "resnet20", "-r", static, "--temporal", "--no-db"])
    assert res.exit_code == 2 and "has no time bins" in " ".join(res.output.split())


def test_cli_scores_a_registry_convrnn_over_time_with_time_steps(tmp_path, monkeypatch):
    """`brainlike score MODEL -r dynamic.nc --temporal --time-steps N` unrolls a ConvRNN
    (default 16 steps) for N steps, the image shown for --image-steps (README, issue 11)."""
    from brainlike.cli import app

    monkeypatch.setenv("BRAINLIKE_CACHE", str(tmp_path / "cache"))
    runner = CliRunner()
    n = 18  # more bins than convrnn6-small's own 16 steps
    res = runner.invoke(
        app,
        [
            "simulate", str(tmp_path / "dyn"), "--dynamic", "--steps", str(n), "--per-digit", "2",
            "--animals", "2", "--neuroids", "6", "--trials", "4", "--json",
        ],
    )  # fmt: skip
    assert res.exit_code == 0, res.output
    recording = json.loads(res.stdout)["recording"]
    args = ["score", "convrnn6-small", "-r", recording, "--temporal", "--no-db", "--json"]
    args += ["--splits", "2", "--bootstraps", "2", "--layers", "nodes.conv3,nodes.conv5"]
    res = runner.invoke(app, args)  # without --time-steps: the error names the working fix
    assert res.exit_code == 2 and f"(--time-steps {n})" in " ".join(res.output.split())
    out_dir = tmp_path / "scores"
    res = runner.invoke(
        app, [*args, "--time-steps", str(n), "--image-steps", "10", "-o", str(out_dir)]
    )
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["settings"]["time_steps"] == n and out["settings"]["image_steps"] == 10
    assert out["time_bins"] == [[10.0 * b, 10.0 * (b + 1)] for b in range(n)]
    assert out["settings"]["steps_for_bins"] == list(range(n))
    for row in out["rows"]:
        assert row["time_bin_start"] == [10.0 * b for b in range(n)]
        for key in ("value", "error", "ceiling", "ceiling_error", "percent_of_ceiling"):
            assert len(row[key]) == n, key
        # convrnn6-small has no cells: node convK (depth K) shows frame t - K at step t, so it
        # varies with the stimulus exactly in bins K .. K + 9 (the image is on for steps 0-9)
        # and is constant (no score) before and after
        depth = int(row["layer"].removeprefix("nodes.conv"))
        scored = [b for b, v in enumerate(row["value"]) if v is not None]
        assert scored == list(range(depth, depth + 10)), row["value"]
        assert np.isfinite([row["value"][b] for b in scored]).all()
        assert np.isfinite([v for v in row["ceiling"] if v is not None]).all()
    assert json.loads((out_dir / "scores.json").read_text())["settings"]["time_steps"] == n


def test_temporal_unroll_sets_the_schedule_once_and_refuses_what_cannot_work():
    from brainlike.evaluation.preconditions import ScoringError
    from brainlike.evaluation.scoring_model import ScoringModel
    from brainlike.evaluation.temporal import _temporal_unroll
    from brainlike.models import create_model

    def wrap(model):
        return ScoringModel(model, "m", "registry", 1, 16)

    convrnn = create_model("convrnn6-small")
    assert (convrnn.time_steps, convrnn.t_on) == (16, 12)
    assert _temporal_unroll(wrap(convrnn), 26, 10) == (26, 10, True)  # spec §1: 26, off at 10
    assert (convrnn.time_steps, convrnn.t_on) == (26, 10)
    assert _temporal_unroll(wrap(convrnn), None, None) == (26, 10, True)  # keeps the model's
    assert _temporal_unroll(wrap(convrnn), np.int64(20), None) == (20, 10, True)
    with pytest.raises(ScoringError, match="time_steps must be at least 1"):
        _temporal_unroll(wrap(convrnn), 0, None)
    # a loop whose forward takes time_steps is passed it at extraction; no presentation knob
    assert _temporal_unroll(wrap(LoopNet()), 9, None) == (9, None, True)
    with pytest.raises(ScoringError, match="drop --image-steps"):
        _temporal_unroll(wrap(LoopNet()), 9, 3)
    # a loop with a fixed unroll: its own length only
    assert _temporal_unroll(wrap(FixedLoop()), None, None) == (6, None, False)
    with pytest.raises(ScoringError, match="runs a fixed 6 steps.*drop --time-steps"):
        _temporal_unroll(wrap(FixedLoop()), 9, None)
    with pytest.raises(ScoringError, match="score it without --temporal"):
        _temporal_unroll(wrap(nn.Linear(2, 2)), None, None)
    with pytest.raises(ScoringError, match="not a recurrent model"):
        _temporal_unroll(wrap(nn.Linear(2, 2)), 5, None)
