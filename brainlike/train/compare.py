"""The locality-prior comparison: the same network with and without a wiring prior, over seeds.

spec: topography.md §3 (locality prior) and §2 (spatial variance). For each seed, the config's
model (locality prior on) and its control (plain Linear, same BatchNorm) are trained with the
same seed and data; then, on the test set:

- test accuracy of both;
- spatial variance of the class-averaged activations at the input and the output of the
  prior layer, against the uniform-map value and a shuffled-unit null. The primary test of
  locality vs control is a paired t-test over seeds on the per-seed mean variance (seeds are
  the independent units: each trains its own pair of networks); paired tests over classes x
  seeds and images x seeds pooled are kept as secondary numbers, labelled as not independent
  (images and classes of one seed share its networks);
- clustering and smoothness metrics of the class-mean maps (with their nulls);
- wiring length sum |W_ij| d_ij of the layer (effective weights);
- sparsification: accuracy after dropping the smallest |W * P| at each fraction, and the
  wiring length that remains.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from brainlike.config import ExperimentConfig
from brainlike.progress import ProgressDisplay
from brainlike.train.checkpoint import atomic_write_json

DEFAULT_PRUNE_FRACTIONS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.99)


def prior_layer(model: nn.Module) -> nn.Module:
    """The layer carrying the locality prior in a locality model, or its plain twin in a control."""
    layer = getattr(model, "lp", None)
    if layer is None:
        layer = getattr(getattr(model, "head", None), "lp", None)
    if layer is None:
        raise ValueError(
            f"{type(model).__name__} has no `lp` layer; the comparison needs a model built with a "
            "locality-prior option (model.kind: lenet or alexnet)"
        )
    return layer


def effective_weight(layer: nn.Module) -> torch.Tensor:
    """``W * P`` for a locality-prior layer, ``W`` for a plain Linear (detached)."""
    if hasattr(layer, "effective_weight"):
        return layer.effective_weight().detach()
    return layer.weight.detach()


@torch.no_grad()
def collect_sheets(model: nn.Module, dataset, device: torch.device, batch_size: int = 256):
    """Per-image sheet maps ``{name: (N, H, W)}``, labels ``(N,)`` and accuracy on ``dataset``."""
    model.eval()
    maps: dict[str, list[np.ndarray]] = {}
    labels, correct, total = [], 0, 0
    for x, y in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
        out = model(x.to(device), return_all=True)
        correct += int((out.logits.argmax(1).cpu() == y).sum())
        total += len(y)
        labels.append(y.numpy())
        for name, m in out.sheets.items():
            maps.setdefault(name, []).append(m.cpu().numpy())
    return (
        {k: np.concatenate(v) for k, v in maps.items()},
        np.concatenate(labels),
        correct / max(total, 1),
    )


@torch.no_grad()
def accuracy(model: nn.Module, dataset, device: torch.device, batch_size: int = 256) -> float:
    """Test accuracy of a classifier."""
    model.eval()
    correct = total = 0
    for x, y in torch.utils.data.DataLoader(dataset, batch_size=batch_size):
        correct += int((model(x.to(device)).argmax(1).cpu() == y).sum())
        total += len(y)
    return correct / max(total, 1)


@torch.no_grad()
def pruning_curve(
    model: nn.Module, dataset, device: torch.device, fractions=DEFAULT_PRUNE_FRACTIONS
) -> list[dict[str, float]]:
    """Accuracy and wiring length after dropping the smallest ``|W * P|`` at each fraction.

    spec: topography.md §3, sparsification after training. The model is not modified.
    """
    from brainlike.analysis.topography import wiring_length

    base = prior_layer(model)
    coords_in, coords_out = base_coords(base)
    full = wiring_length(effective_weight(base).cpu().numpy(), coords_in, coords_out)
    rows = []
    for f in fractions:
        if not 0.0 <= f < 1.0:
            raise ValueError(f"pruning fractions must be in [0, 1), got {f}")
        pruned = copy.deepcopy(model)
        layer = prior_layer(pruned)
        w_eff = effective_weight(layer)
        k = int(round(f * w_eff.numel()))
        if k > 0:
            cut = w_eff.abs().flatten().kthvalue(k).values
            mask = (w_eff.abs() > cut).to(layer.weight.dtype)
            layer.weight.mul_(mask)
        w_after = effective_weight(layer).cpu().numpy()
        wl = wiring_length(w_after, coords_in, coords_out)
        rows.append(
            {
                "fraction": float(f),
                "kept_connections": int((w_after != 0).sum()),
                "accuracy": accuracy(pruned, dataset, device),
                "wiring_length": wl,
                "wiring_length_saved": 1.0 - wl / full if full > 0 else 0.0,
            }
        )
    return rows


def base_coords(layer: nn.Module) -> tuple[np.ndarray, np.ndarray]:
    """Input and output unit coordinates of a prior layer or of its plain twin."""
    sheet = getattr(layer, "sheet", None)
    if sheet is not None:
        return np.asarray(sheet["in"]), np.asarray(sheet["out"])
    from brainlike.models.sheet import grid_coordinates

    side_in, side_out = int(round(layer.in_features**0.5)), int(round(layer.out_features**0.5))
    return grid_coordinates(side_in, side_in), grid_coordinates(side_out, side_out)


def _variance_stats(
    maps: np.ndarray, labels: np.ndarray, n_classes: int, seed: int
) -> dict[str, Any]:
    """Spatial variance of class-averaged and per-image maps, with uniform and shuffled nulls."""
    from brainlike.analysis.topography import (
        spatial_variance,
        spatial_variance_null,
        uniform_spatial_variance,
    )
    from brainlike.models.sheet import grid_coordinates

    n, h, w = maps.shape
    coords = grid_coordinates(h, w)
    flat = maps.reshape(n, h * w)
    class_means = np.stack([flat[labels == c].mean(0) for c in range(n_classes)])
    per_class = spatial_variance(class_means, coords)
    per_image = spatial_variance(flat, coords)
    null = spatial_variance_null(class_means, coords, n_shuffles=100, seed=seed)
    return {
        "class_means": class_means.reshape(n_classes, h, w),
        "per_class": per_class,
        "per_image": per_image,
        "mean_class_variance": float(np.nanmean(per_class)),
        "uniform": float(uniform_spatial_variance((h, w))),
        "shuffled_null_mean": null["null_mean"],
        "shuffled_null_std": null["null_std"],
        "p_below_shuffled_null": null["p_value"],
    }


#: How the pooled tests are labelled wherever they are shown: their samples are not independent.
POOLED_LABEL = "{what} x seeds pooled, n = {{n}}; not independent"


def _paired(a: np.ndarray, b: np.ndarray, label: str = "") -> dict[str, Any]:
    """Paired t-test of ``a`` against ``b`` over their finite pairs (t and p None below 2).

    ``label`` says what the pairs are; ``{n}`` in it becomes their number.
    """
    from scipy import stats

    ok = np.isfinite(a) & np.isfinite(b)
    out: dict[str, Any] = {"label": label.format(n=int(ok.sum())), "n": int(ok.sum())}
    if ok.sum() < 2:
        return {**out, "t": None, "p": None, "mean_difference": None}
    t, p = stats.ttest_rel(a[ok], b[ok])
    return {
        **out,
        "t": float(t),
        "p": float(p),
        "mean_difference": float(np.mean(a[ok] - b[ok])),
    }


def paired_over_seeds(locality: Any, control: Any) -> dict[str, Any]:
    """Paired t-test, locality vs control, over seeds: the primary test of the comparison.

    Each seed trains its own locality network and its own control, so seeds are the
    independent units; the images or classes of one seed are not.

    Parameters
    ----------
    locality, control : sequence of float, shape (n_seeds,)
        One value per seed (e.g. the mean spatial variance over classes), in the same seed
        order.

    Returns
    -------
    dict
        ``label`` ("paired over seeds, n = 3"), ``n``, ``available``, ``t``, ``p`` and
        ``mean_difference`` (locality - control); with fewer than 2 seeds ``available`` is
        False, t and p are None and ``reason`` says why.
    """
    a, b = np.asarray(locality, float), np.asarray(control, float)
    if a.shape != b.shape or a.ndim != 1:
        raise ValueError(
            f"per-seed values must be two 1-D arrays of equal length; got {a.shape} and {b.shape}"
        )
    res = _paired(a, b, "paired over seeds, n = {n}")
    n = res["n"]
    res["available"] = res["t"] is not None
    if not res["available"]:
        res["reason"] = f"a test over seeds needs at least 2 seeds; this comparison has {n}"
    return res


def compare_locality(
    cfg: ExperimentConfig,
    out_dir: str | Path,
    *,
    seeds: list[int] | None = None,
    overwrite: bool = False,
    progress: bool = True,
    prune_fractions=DEFAULT_PRUNE_FRACTIONS,
) -> dict[str, Any]:
    """Train the locality model of ``cfg`` and its control for each seed; compare them.

    Writes ``out_dir/<locality|control>-seed<k>/`` run directories, ``out_dir/compare.json``
    (every number below) and figures, and returns the same dict.
    """
    from brainlike.analysis.topography import topography_summary, wiring_length
    from brainlike.data.images import load_experiment_dataset
    from brainlike.train.checkpoint import load_model_from_checkpoint
    from brainlike.train.loop import RunDirectoryError, train

    if cfg.model.kind not in ("lenet", "alexnet"):
        raise ValueError(
            f"the locality comparison needs model.kind lenet or alexnet, got {cfg.model.kind!r}"
        )
    if not cfg.model.locality.enabled:
        raise ValueError(
            "model.locality.enabled is false: the config must describe the locality model"
        )
    out_dir = Path(out_dir)
    if out_dir.exists() and any(out_dir.iterdir()) and not overwrite:
        raise RunDirectoryError(
            f"{out_dir} already exists; pass --overwrite or choose another --out"
        )
    seeds = list(seeds if seeds is not None else [cfg.seed, cfg.seed + 1, cfg.seed + 2])
    t0 = time.perf_counter()
    device = torch.device("cpu")
    results: dict[str, Any] = {"name": cfg.name, "seeds": seeds, "runs": {}, "per_seed": []}
    pooled = {
        k: [] for k in ("in_loc", "in_ctl", "out_loc", "out_ctl", "img_out_loc", "img_out_ctl")
    }
    figures_data = {}
    stages = ProgressDisplay(progress).track(
        seeds, f"compare {cfg.name}: seeds with both networks trained and analysed", unit="seed"
    )
    for seed in stages:
        seed_row: dict[str, Any] = {"seed": seed}
        per_model = {}
        for variant in ("locality", "control"):
            vcfg = cfg.model_copy(deep=True)
            vcfg.seed = seed
            vcfg.model.locality.enabled = variant == "locality"
            if variant == "control":
                vcfg.objective.wiring.l1 = vcfg.objective.wiring.distance = 0.0
            vcfg.name = f"{cfg.name}-{variant}-seed{seed}"
            run_dir = out_dir / f"{variant}-seed{seed}"
            summary = train(vcfg, run_dir, overwrite=True, progress=progress, analyse=False)
            model, _ = load_model_from_checkpoint(run_dir / "checkpoints" / "last.pt")
            bundle = load_experiment_dataset(vcfg, download=False, augment=False)
            maps, labels, acc = collect_sheets(model, bundle.test, device)
            n_classes = bundle.num_classes
            v_in = _variance_stats(np.clip(maps["lp_in"], 0, None), labels, n_classes, seed)
            v_out = _variance_stats(np.clip(maps["lp_out"], 0, None), labels, n_classes, seed)
            layer = prior_layer(model)
            cin, cout = base_coords(layer)
            topo = topography_summary(
                v_out["class_means"],
                threshold=cfg.analysis.threshold,
                n_shuffles=cfg.analysis.n_shuffles,
                seed=seed,
            )
            per_model[variant] = {
                "test_acc": acc,
                "train_summary_test_acc": summary["test_acc"],
                "lp_in": {
                    k: v
                    for k, v in v_in.items()
                    if k not in ("class_means", "per_image", "per_class")
                },
                "lp_out": {
                    k: v
                    for k, v in v_out.items()
                    if k not in ("class_means", "per_image", "per_class")
                },
                "lp_out_per_class": v_out["per_class"].tolist(),
                "lp_in_per_class": v_in["per_class"].tolist(),
                "wiring_length": wiring_length(effective_weight(layer).numpy(), cin, cout),
                "topography_lp_out": {
                    k: topo[k]
                    for k in (
                        "clustering_index",
                        "neighbour_agreement",
                        "morans_i",
                        "smoothness",
                        "fraction_selective",
                    )
                },
                "pruning": pruning_curve(model, bundle.test, device, prune_fractions),
            }
            per_model[variant]["_maps"] = (v_in, v_out)
            results["runs"][f"{variant}-seed{seed}"] = str(run_dir)
        loc, ctl = per_model["locality"], per_model["control"]
        (li, lo), (ci, co) = loc.pop("_maps"), ctl.pop("_maps")
        seed_row.update(
            locality=loc,
            control=ctl,
            t_lp_in_classes=_paired(
                li["per_class"], ci["per_class"], "classes of this seed, n = {n}"
            ),
            t_lp_out_classes=_paired(
                lo["per_class"], co["per_class"], "classes of this seed, n = {n}"
            ),
            t_lp_in_images=_paired(
                li["per_image"], ci["per_image"], "images of this seed, n = {n}"
            ),
            t_lp_out_images=_paired(
                lo["per_image"], co["per_image"], "images of this seed, n = {n}"
            ),
        )
        results["per_seed"].append(seed_row)
        pooled["in_loc"].append(li["per_class"])
        pooled["in_ctl"].append(ci["per_class"])
        pooled["out_loc"].append(lo["per_class"])
        pooled["out_ctl"].append(co["per_class"])
        pooled["img_out_loc"].append(lo["per_image"])
        pooled["img_out_ctl"].append(co["per_image"])
        figures_data[seed] = (
            lo["class_means"],
            co["class_means"],
            li["class_means"],
            ci["class_means"],
        )

    def agg(path: list[str]) -> dict[str, float]:
        vals = []
        for row in results["per_seed"]:
            node: Any = row
            for p in path:
                node = node[p]
            vals.append(float(node))
        arr = np.asarray(vals)
        sem = float(arr.std(ddof=1) / np.sqrt(len(arr))) if len(arr) > 1 else None
        return {"mean": float(arr.mean()), "sem": sem, "values": vals}

    cat = {k: np.concatenate(v) for k, v in pooled.items()}
    results["summary"] = {
        "test_acc_locality": agg(["locality", "test_acc"]),
        "test_acc_control": agg(["control", "test_acc"]),
        "lp_out_variance_locality": agg(["locality", "lp_out", "mean_class_variance"]),
        "lp_out_variance_control": agg(["control", "lp_out", "mean_class_variance"]),
        "lp_in_variance_locality": agg(["locality", "lp_in", "mean_class_variance"]),
        "lp_in_variance_control": agg(["control", "lp_in", "mean_class_variance"]),
        "uniform_variance": results["per_seed"][0]["locality"]["lp_out"]["uniform"],
        "shuffled_null_lp_out_locality": agg(["locality", "lp_out", "shuffled_null_mean"]),
        "shuffled_null_lp_out_control": agg(["control", "lp_out", "shuffled_null_mean"]),
        # primary: seeds are the independent units
        "t_lp_out_seeds": paired_over_seeds(
            *(agg([v, "lp_out", "mean_class_variance"])["values"] for v in ("locality", "control"))
        ),
        "t_lp_in_seeds": paired_over_seeds(
            *(agg([v, "lp_in", "mean_class_variance"])["values"] for v in ("locality", "control"))
        ),
        # secondary: classes (images) of one seed share its networks, so these n overstate
        "t_lp_out_classes_pooled": _paired(
            cat["out_loc"], cat["out_ctl"], POOLED_LABEL.format(what="classes")
        ),
        "t_lp_in_classes_pooled": _paired(
            cat["in_loc"], cat["in_ctl"], POOLED_LABEL.format(what="classes")
        ),
        "t_lp_out_images_pooled": _paired(
            cat["img_out_loc"], cat["img_out_ctl"], POOLED_LABEL.format(what="images")
        ),
        "wiring_length_locality": agg(["locality", "wiring_length"]),
        "wiring_length_control": agg(["control", "wiring_length"]),
        "clustering_lp_out_locality": agg(
            ["locality", "topography_lp_out", "clustering_index", "value"]
        ),
        "clustering_lp_out_control": agg(
            ["control", "topography_lp_out", "clustering_index", "value"]
        ),
        "smoothness_lp_out_locality": agg(["locality", "topography_lp_out", "smoothness", "value"]),
        "smoothness_lp_out_control": agg(["control", "topography_lp_out", "smoothness", "value"]),
    }
    results["wall_seconds"] = time.perf_counter() - t0
    results["figures"] = _write_figures(out_dir, figures_data, results)
    atomic_write_json(out_dir / "compare.json", results)
    return results


def _write_figures(out_dir: Path, figures_data: dict, results: dict) -> dict[str, str]:
    """Class-averaged LP maps side by side, and accuracy against pruning fraction."""
    from matplotlib.figure import Figure

    from brainlike.report.figures import save_figure

    paths = {}
    seed = next(iter(figures_data))
    lo, co, li, ci = figures_data[seed]
    n_classes = lo.shape[0]
    fig = Figure(figsize=(1.3 * n_classes, 5.6))
    axes = fig.subplots(4, n_classes, squeeze=False)
    for row, (maps, label) in enumerate(
        (
            (li, "LP input, locality"),
            (ci, "LP input, control"),
            (lo, "LP output, locality"),
            (co, "LP output, control"),
        )
    ):
        vmax = float(np.nanmax(maps)) or 1.0
        for c in range(n_classes):
            ax = axes[row, c]
            ax.imshow(maps[c], cmap="viridis", vmin=0, vmax=vmax)
            ax.set_xticks([])
            ax.set_yticks([])
            if row == 0:
                ax.set_title(f"class {c}", fontsize=8)
            if c == 0:
                ax.set_ylabel(label, fontsize=7)
    fig.suptitle(f"class-averaged activations of the prior layer (seed {seed})", fontsize=9)
    paths["class_maps"] = str(save_figure(fig, out_dir / "class_maps.png"))

    fig = Figure(figsize=(6, 3.5))
    ax = fig.subplots()
    for variant, colour in (("locality", "tab:blue"), ("control", "tab:orange")):
        curves = np.array(
            [[r["accuracy"] for r in row[variant]["pruning"]] for row in results["per_seed"]]
        )
        fr = [r["fraction"] for r in results["per_seed"][0][variant]["pruning"]]
        ax.errorbar(
            fr, curves.mean(0), yerr=curves.std(0), label=variant, color=colour, marker="o", ms=3
        )
    ax.set_xlabel("fraction of connections dropped (smallest |W * P|)")
    ax.set_ylabel("test accuracy")
    ax.legend()
    ax.grid(alpha=0.3)
    paths["pruning"] = str(save_figure(fig, out_dir / "pruning.png"))
    return paths
