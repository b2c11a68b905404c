"""Activations: values against direct forward passes, the cache, PCA, memory, sheets."""

import json
import tracemalloc
import warnings

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA
from torch import nn

from brainlike.analysis.activations import Activations, extract_activations, list_layers
from brainlike.analysis.activations import extraction as act_mod
from brainlike.models import create_model
from brainlike.models.sheet import grid_coordinates


def mlp() -> nn.Sequential:
    """Flatten -> Linear(4, 3) -> ReLU -> Linear(3, 2) with hand-set weights."""
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    with torch.no_grad():
        net[1].weight.copy_(
            torch.tensor([[1.0, -1.0, 0.5, 0.0], [0.0, 2.0, 0.0, -1.0], [1, 1, 1, 1]])
        )
        net[1].bias.copy_(torch.tensor([0.1, -0.2, -1.0]))
        net[3].weight.copy_(torch.tensor([[1.0, 0.0, -1.0], [0.5, 0.5, 0.5]]))
        net[3].bias.copy_(torch.tensor([0.0, 1.0]))
    return net


def stimuli(n=20, shape=(1, 2, 2), seed=0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((n, *shape)).astype(np.float32)


class CountingModel(nn.Module):
    """Wraps a network and counts forward passes (to tell cache hits from recomputation)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__()
        self.net, self.calls = net, 0

    def forward(self, x):
        self.calls += 1
        return self.net(x)


def test_values_equal_the_hand_computed_forward_pass():
    x = stimuli()
    net = mlp()
    acts = extract_activations(net, x, ["1", "2", "output"], progress=False)
    flat = x.reshape(len(x), -1).astype(np.float64)
    w1, b1 = net[1].weight.detach().numpy(), net[1].bias.detach().numpy()
    w2, b2 = net[3].weight.detach().numpy(), net[3].bias.detach().numpy()
    hidden = flat @ w1.T + b1
    np.testing.assert_allclose(acts["1"], hidden, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(acts["2"], np.maximum(hidden, 0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        acts["output"], np.maximum(hidden, 0) @ w2.T + b2, rtol=1e-5, atol=1e-6
    )
    assert acts.layers == ["1", "2", "output"]
    assert acts["1"].dtype == np.float32 and acts.shape("1") == (20, 3)
    assert not acts["1"].flags.writeable
    assert acts.cache_key is None and acts.sheet_coordinates("1") is None


def test_conv_layers_flatten_channel_major_and_report_their_unit_shape():
    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(2, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(48, 5))
    x = stimuli(9, (2, 4, 4))
    acts = extract_activations(net, torch.from_numpy(x), ["0"], batch_size=4, progress=False)
    expected = net[0](torch.from_numpy(x)).detach().numpy()  # (9, 3, 4, 4)
    assert acts.unit_shape("0") == (3, 4, 4)
    np.testing.assert_allclose(acts["0"], expected.reshape(9, 48), rtol=1e-5, atol=1e-6)
    # unit c * 16 + h * 4 + w is channel c at (h, w)
    np.testing.assert_allclose(acts["0"][:, 1 * 16 + 2 * 4 + 3], expected[:, 1, 2, 3], rtol=1e-6)


def test_batching_invariance_and_inputs_as_array_tensor_or_dataset():
    torch.manual_seed(1)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten())
    net[1].running_mean.fill_(0.3)  # eval mode must use these, not batch statistics
    x = stimuli(23, (1, 5, 5))
    one = extract_activations(net, x, ["1"], batch_size=1, progress=False)["1"]
    seven = extract_activations(net, x, ["1"], batch_size=7, progress=False)["1"]
    np.testing.assert_allclose(one, seven, rtol=1e-6, atol=1e-6)
    pairs = [(torch.from_numpy(img), 0) for img in x]  # a dataset of (image, label) items
    from_dataset = extract_activations(net, pairs, ["1"], batch_size=5, progress=False)["1"]
    np.testing.assert_allclose(from_dataset, seven, rtol=1e-6, atol=1e-6)
    net.eval()
    direct = net[1](net[0](torch.from_numpy(x))).detach().numpy().reshape(23, -1)
    np.testing.assert_allclose(seven, direct, rtol=1e-5, atol=1e-6)


def test_training_mode_is_restored():
    net = mlp().train()
    extract_activations(net, stimuli(), ["1"], progress=False)
    assert net.training


# --------------------------------------------------------------------------------------------
# cache
# --------------------------------------------------------------------------------------------


def test_second_call_is_served_from_the_cache_without_running_the_model(tmp_path):
    model, x = CountingModel(mlp()), stimuli(30)
    first = extract_activations(
        model, x, ["net.1", "output"], batch_size=8, cache_dir=tmp_path, progress=False
    )
    assert model.calls == 4 and first.from_cache == {"net.1": False, "output": False}
    second = extract_activations(
        model, x, ["net.1", "output"], batch_size=8, cache_dir=tmp_path, progress=False
    )
    assert model.calls == 4
    assert second.from_cache == {"net.1": True, "output": True}
    assert isinstance(second["net.1"], np.memmap) and not second["net.1"].flags.writeable
    np.testing.assert_array_equal(second["net.1"], first["net.1"])
    assert second.cache_key == first.cache_key
    # layout: cache_dir/<key>/<layer>.npy + meta.json
    entry = tmp_path / second.cache_keys["net.1"]
    assert sorted(p.name for p in entry.iterdir()) == ["meta.json", "net.1.npy"]
    meta = json.loads((entry / "meta.json").read_text())
    assert meta["shape"] == [30, 3] and meta["components"]["layer"] == "net.1"
    # a layer asked for later reuses the cached ones and computes only itself
    third = extract_activations(
        model, x, ["net.1", "net.2"], batch_size=8, cache_dir=tmp_path, progress=False
    )
    assert model.calls == 8 and third.from_cache == {"net.1": True, "net.2": False}


@pytest.mark.parametrize("change", ["weight", "buffer", "preprocessing", "pixel"])
def test_any_change_to_what_activations_depend_on_misses_the_cache(tmp_path, change):
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.BatchNorm1d(3))
    model, x = CountingModel(net), stimuli(10)
    kw = dict(cache_dir=tmp_path, progress=False, preprocessing={"source": "gratings"})
    before = extract_activations(model, x, ["net.2"], **kw)
    assert model.calls == 1
    with torch.no_grad():
        if change == "weight":
            net[1].weight[2, 3] += 1e-3
        elif change == "buffer":
            net[2].running_mean[0] += 1.0
        elif change == "preprocessing":
            kw["preprocessing"] = {"source": "gratings", "contrast": 0.5}
        else:
            x = x.copy()
            x[7, 0, 1, 1] += 1e-3
    after = extract_activations(model, x, ["net.2"], **kw)
    assert model.calls == 2 and after.from_cache == {"net.2": False}
    assert after.cache_key != before.cache_key
    assert len(list(tmp_path.iterdir())) == 2
    net.eval()
    direct = net(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(after["net.2"], direct, rtol=1e-5, atol=1e-6)


def test_an_entry_without_metadata_is_never_read(tmp_path):
    model, x = CountingModel(mlp()), stimuli(10)
    first = extract_activations(model, x, ["net.1"], cache_dir=tmp_path, progress=False)
    expected = np.array(first["net.1"])
    entry = tmp_path / first.cache_keys["net.1"]
    # a crash after the array landed but before meta.json: garbage values, no metadata
    np.save(entry / "net.1.npy", np.full((10, 3), 99.0, np.float32))
    (entry / "meta.json").unlink()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a partial entry is silently recomputed
        again = extract_activations(model, x, ["net.1"], cache_dir=tmp_path, progress=False)
    assert model.calls == 2 and again.from_cache == {"net.1": False}
    np.testing.assert_array_equal(again["net.1"], expected)


def test_a_crash_mid_extraction_leaves_no_readable_entry(tmp_path):
    class FailOnThirdBatch(nn.Module):
        def __init__(self):
            super().__init__()
            self.lin, self.batches = nn.Linear(4, 3), 0

        def forward(self, x):
            self.batches += 1
            if self.batches == 3:
                raise RuntimeError("killed")
            return self.lin(x.flatten(1))

    model, x = FailOnThirdBatch(), stimuli(20)
    with pytest.raises(RuntimeError, match="killed"):
        extract_activations(model, x, ["lin"], batch_size=4, cache_dir=tmp_path, progress=False)
    assert not list(tmp_path.rglob("meta.json")) and not list(tmp_path.rglob("*.npy"))
    acts = extract_activations(model, x, ["lin"], batch_size=4, cache_dir=tmp_path, progress=False)
    assert acts.from_cache == {"lin": False}
    expected = model.lin(torch.from_numpy(x).flatten(1)).detach().numpy()
    np.testing.assert_allclose(acts["lin"], expected, rtol=1e-5, atol=1e-6)


def test_a_corrupt_entry_is_recomputed_with_a_warning(tmp_path):
    model, x = CountingModel(mlp()), stimuli(10)
    first = extract_activations(model, x, ["net.1"], cache_dir=tmp_path, progress=False)
    expected = np.array(first["net.1"])
    np.save(tmp_path / first.cache_keys["net.1"] / "net.1.npy", np.zeros((10, 5), np.float32))
    with pytest.warns(UserWarning, match="corrupt"):
        again = extract_activations(model, x, ["net.1"], cache_dir=tmp_path, progress=False)
    assert model.calls == 2
    np.testing.assert_array_equal(again["net.1"], expected)
    third = extract_activations(model, x, ["net.1"], cache_dir=tmp_path, progress=False)
    assert model.calls == 2 and third.from_cache == {"net.1": True}


# --------------------------------------------------------------------------------------------
# PCA
# --------------------------------------------------------------------------------------------


def test_pca_is_fit_on_the_training_stimuli_only(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 12), nn.Tanh())
    x = stimuli(40, (1, 4, 4), seed=3)
    full = extract_activations(net, x, ["2"], progress=False)["2"].astype(np.float32)
    train = np.arange(0, 40, 2)
    acts = extract_activations(
        net, x, ["2", "output"], pca_components=5, pca_train_indices=train, progress=False
    )
    expected = PCA(n_components=5, random_state=0).fit(full[train]).transform(full)
    np.testing.assert_allclose(acts["2"], expected, rtol=1e-4, atol=1e-5)
    on_all = PCA(n_components=5, random_state=0).fit(full).transform(full)
    assert np.abs(np.abs(acts["2"]) - np.abs(on_all)).max() > 1e-2  # test rows changed the fit
    assert acts.shape("2") == (40, 5) and acts.unit_shape("2") is None
    assert acts.metadata("2")["pca"]["n_train"] == 20
    # cached: the projection is stored and served, keyed by the training rows
    a = extract_activations(
        net, x, ["2"], pca_components=5, pca_train_indices=train, cache_dir=tmp_path, progress=False
    )
    b = extract_activations(
        net, x, ["2"], pca_components=5, pca_train_indices=train, cache_dir=tmp_path, progress=False
    )
    assert a.from_cache == {"2": False} and b.from_cache == {"2": True}
    np.testing.assert_allclose(b["2"], expected, rtol=1e-4, atol=1e-5)
    other = extract_activations(
        net, x, ["2"], pca_components=5, pca_train_indices=train + 1, cache_dir=tmp_path
    )
    assert other.from_cache == {"2": False}
    assert other.cache_keys["2"] != b.cache_keys["2"]


def test_pca_leaves_narrow_layers_alone_and_needs_enough_training_rows():
    net, x = mlp(), stimuli(12)
    acts = extract_activations(net, x, ["1", "output"], pca_components=3, progress=False)
    direct = extract_activations(net, x, ["1", "output"], progress=False)
    np.testing.assert_array_equal(acts["1"], direct["1"])  # 3 units, not wider than k = 3
    np.testing.assert_array_equal(acts["output"], direct["output"])
    with pytest.raises(ValueError, match="at least 2 training stimuli"):
        extract_activations(net, x, ["1"], pca_components=2, pca_train_indices=[4], progress=False)


# --------------------------------------------------------------------------------------------
# memory
# --------------------------------------------------------------------------------------------


def test_memory_holds_one_batch_and_streams_the_rest_to_disk(tmp_path):
    net = nn.Sequential(nn.Flatten(), nn.Linear(16, 2048))
    x = stimuli(1000, (1, 4, 4))
    total = 1000 * 2048 * 4  # 8 MB of activations
    # warm-up: first-call imports (rich, json) must not count as activation memory
    extract_activations(net, x[:2], ["1"], cache_dir=tmp_path / "warm", progress=False)
    tracemalloc.start()
    try:
        acts = extract_activations(net, x, ["1"], batch_size=25, cache_dir=tmp_path, progress=False)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert isinstance(acts["1"], np.memmap)
    assert peak < total / 8, f"peak {peak} bytes for {total} bytes of activations"
    np.testing.assert_allclose(
        acts["1"][-5:], net(torch.from_numpy(x[-5:])).detach().numpy(), rtol=1e-5, atol=1e-5
    )


def test_without_a_cache_large_layers_go_to_a_temporary_directory(monkeypatch):
    net, x = mlp(), stimuli(10)
    small = extract_activations(net, x, ["1"], progress=False)
    assert not isinstance(small["1"], np.memmap) and small.paths["1"] is None
    monkeypatch.setattr(act_mod, "IN_MEMORY_LIMIT_BYTES", 0)
    with extract_activations(net, x, ["1", "output"], progress=False) as big:
        assert isinstance(big["1"], np.memmap)
        np.testing.assert_array_equal(big["1"], small["1"])
        folder = big.paths["1"].parent
        assert folder.is_dir() and big.paths["output"].parent == folder
    assert not folder.exists()
    with pytest.raises(RuntimeError, match="closed"):
        big["1"]


# --------------------------------------------------------------------------------------------
# layers and sheets
# --------------------------------------------------------------------------------------------


def tiny_reset():
    torch.manual_seed(0)
    return create_model(
        "reset2-small",
        in_channels=1,
        out_features=3,
        master="small",
        grid=8,
        input_size=8,
        execution="fused",
        subnet_kwargs={"channels": [2]},
        master_kwargs={"channels": [2]},
    )


def test_reset_sheet_layer_comes_with_grid_coordinates(tmp_path):
    model, x = tiny_reset(), stimuli(6, (1, 8, 8))
    layers = list_layers(model)
    assert "sheet:levels.0.grid" in layers and layers[-1] == "output"
    acts = extract_activations(
        model,
        x,
        ["sheet:levels.0.grid", "output"],
        batch_size=4,
        cache_dir=tmp_path,
        progress=False,
    )
    assert acts.shape("sheet:levels.0.grid") == (6, 64)
    coords = acts.sheet_coordinates("sheet:levels.0.grid")
    np.testing.assert_array_equal(coords, grid_coordinates(8, 8))
    model.eval()
    out = model(torch.from_numpy(x), return_all=True)
    grid = out.sheets["levels.0.grid"].detach().numpy()  # (6, 8, 8)
    for unit in (0, 9, 37, 63):
        r, c = coords[unit].astype(int)
        np.testing.assert_allclose(acts["sheet:levels.0.grid"][:, unit], grid[:, r, c], rtol=1e-5)
    np.testing.assert_allclose(acts["output"], out.logits.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert acts.sheet_coordinates("output") is None
    # a bare sheet name works too, and the coordinates survive a cache hit
    again = extract_activations(model, x, ["levels.0.grid"], cache_dir=tmp_path, progress=False)
    np.testing.assert_array_equal(again.sheet_coordinates("levels.0.grid"), grid_coordinates(8, 8))


def test_list_layers_in_forward_order_without_shared_modules():
    assert list_layers(mlp(), input_shape=(1, 2, 2)) == ["0", "1", "2", "3", "output"]

    class Shared(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b, self.relu = nn.Linear(4, 4), nn.Linear(4, 2), nn.ReLU()

        def forward(self, x):
            return self.relu(self.b(self.relu(self.a(x.flatten(1)))))

    model = Shared()
    assert list_layers(model, input_shape=(1, 2, 2)) == ["a", "b", "output"]
    with pytest.raises(ValueError, match="more than once"):
        extract_activations(model, stimuli(3), ["relu"], progress=False)
    with pytest.raises(ValueError, match="input_shape"):
        list_layers(model)


def test_errors_name_the_problem_and_the_fix():
    net, x = mlp(), stimuli(4)
    with pytest.raises(ValueError, match=r"unknown layer 'outptu'.*did you mean 'output'"):
        extract_activations(net, x, ["outptu"], progress=False)
    with pytest.raises(TypeError, match="floating point"):
        extract_activations(net, (x * 255).astype(np.uint8), ["1"], progress=False)
    with pytest.raises(
        ValueError, match=r"layer '1' ran 1 times in one forward pass but time_steps=5"
    ):
        extract_activations(net, x, ["1"], time_steps=5, progress=False)
    with pytest.raises(ValueError, match="no layers"):
        extract_activations(net, x, [], progress=False)


def test_preprocessing_normalises_channels_and_resizes():
    net = nn.Sequential(nn.Flatten())
    x = stimuli(3, (2, 4, 4))
    pre = {"mean": [0.5, -1.0], "std": [2.0, 4.0]}
    acts = extract_activations(net, x, ["0"], preprocessing=pre, progress=False)
    mean, std = np.array([0.5, -1.0])[:, None, None], np.array([2.0, 4.0])[:, None, None]
    np.testing.assert_allclose(acts["0"], ((x - mean) / std).reshape(3, -1), rtol=1e-6)
    resized = extract_activations(net, x, ["0"], preprocessing={"size": 2}, progress=False)
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(x), size=(2, 2), mode="bilinear", align_corners=False, antialias=True
    )
    assert resized.shape("0") == (3, 8)
    np.testing.assert_allclose(resized["0"], expected.numpy().reshape(3, 8), rtol=1e-6)
    assert isinstance(resized, Activations) and len(resized) == 1
