"""Matplotlib figures for training runs and topography analyses.

Every function builds a :class:`matplotlib.figure.Figure` directly (no pyplot state, so nothing
is ever shown and figures are freed when dropped) and returns it; :func:`save_figure` writes a
PNG. Figures render on their own Agg canvas, so importing this module leaves the user's
matplotlib backend alone.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib import colormaps
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from matplotlib.ticker import MaxNLocator

#: Human-readable titles of the per-snapshot topography metrics.
METRIC_TITLES: dict[str, str] = {
    "fraction_selective": "Fraction of selective units",
    "clustering_index": "Clustering index (mean patch area)",
    "neighbour_agreement": "Neighbour agreement",
    "morans_i": "Moran's I",
    "smoothness": "Smoothness vs distance",
    "topography_index": "Topography index",
}

_NO_PREFERENCE_RGBA = (1.0, 1.0, 1.0, 1.0)
_SIGNIFICANCE = 0.05
# a legend centred below its axes, clear of the x label
_BELOW = {"loc": "upper center", "bbox_to_anchor": (0.5, -0.2)}


def new_figure(width: float, height: float, dpi: float = 100) -> Figure:
    """Make a figure on its own Agg canvas (no pyplot, nothing shown, freed when dropped).

    Parameters
    ----------
    width, height : float
        Size in inches.
    dpi : float, default 100
        Resolution.

    Returns
    -------
    matplotlib.figure.Figure
        The empty figure.
    """
    fig = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(fig)
    return fig


def plain_text(text: object) -> str:
    """Make ``text`` safe to draw as a literal matplotlib label.

    Escapes ``$`` so that user-provided names are never parsed as mathtext, and keeps a leading
    underscore (which legends would otherwise hide) visible.

    Parameters
    ----------
    text : object
        Any value; it is converted with ``str``.

    Returns
    -------
    str
        The label text.
    """
    label = str(text).replace("$", r"\$")
    return " " + label if label.startswith("_") else label


def class_colours(n_classes: int) -> np.ndarray:
    """Return one RGBA colour per class: tab10 up to 10 classes, tab20 up to 20, else turbo.

    Parameters
    ----------
    n_classes : int
        Number of classes C (at least 1).

    Returns
    -------
    numpy.ndarray
        Shape (C, 4), floats in [0, 1].
    """
    if n_classes < 1:
        raise ValueError(f"need at least one class to pick colours for, got {n_classes}")
    if n_classes <= 10:
        return np.asarray(colormaps["tab10"].colors[:n_classes], dtype=float).reshape(-1, 3)
    if n_classes <= 20:
        return np.asarray(colormaps["tab20"].colors[:n_classes], dtype=float).reshape(-1, 3)
    return colormaps["turbo"](np.linspace(0.05, 0.95, n_classes))[:, :3]


def preference_rgb(labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Colour a preference map: class c gets ``class_colours(C)[c]``, -1 (no preference) white.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer map of shape (H, W) with values in [-1, C - 1].
    n_classes : int
        Number of classes C.

    Returns
    -------
    numpy.ndarray
        RGB image of shape (H, W, 3).
    """
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise ValueError(f"a preference map must be 2-D (H, W); got shape {labels.shape}")
    if labels.size and (labels.min() < -1 or labels.max() >= n_classes):
        raise ValueError(
            f"preference labels must lie in [-1, {n_classes - 1}] (-1 = no preference) for "
            f"{n_classes} classes; got values from {labels.min()} to {labels.max()}"
        )
    palette = np.vstack([np.asarray(_NO_PREFERENCE_RGBA[:3]), class_colours(n_classes)])
    return palette[labels.astype(int) + 1]


def plot_learning_curves(
    metrics: Sequence[Mapping[str, Any]], ax: Axes | Sequence[Axes] | None = None
) -> Figure:
    """Plot train and test loss and accuracy against epoch.

    Parameters
    ----------
    metrics : sequence of mapping
        One record per epoch with keys ``epoch``, ``train_loss``, ``train_acc``, ``test_loss``,
        ``test_acc`` (accuracies in [0, 1]); as read from ``metrics.jsonl``.
    ax : Axes or pair of Axes, optional
        Two axes (loss, accuracy) to draw into. A single axes draws loss on it and accuracy on
        a twin y-axis. By default a new two-panel figure is made.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the axes.
    """
    if len(metrics) == 0:
        raise ValueError("no epochs to plot: the metrics list is empty")
    required = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")
    for i, record in enumerate(metrics):
        missing = [k for k in required if k not in record]
        if missing:
            raise ValueError(f"metrics record {i} lacks {missing}; every epoch needs {required}")

    def column(key: str) -> np.ndarray:
        return np.array([np.nan if r[key] is None else r[key] for r in metrics], dtype=float)

    if ax is None:
        fig = new_figure(9, 3.8)
        loss_ax, acc_ax = fig.subplots(1, 2)
        colours = ("C0", "C1", "C0", "C1")
    elif isinstance(ax, Axes):
        loss_ax, acc_ax = ax, ax.twinx()
        colours = ("C0", "C1", "C2", "C3")
    else:
        loss_ax, acc_ax = ax
        colours = ("C0", "C1", "C0", "C1")
    epoch = column("epoch")
    marker = "o" if len(metrics) <= 30 else None
    curves = (
        (loss_ax, "train_loss", "train loss"),
        (loss_ax, "test_loss", "test loss"),
        (acc_ax, "train_acc", "train accuracy"),
        (acc_ax, "test_acc", "test accuracy"),
    )
    for (target, key, label), colour in zip(curves, colours, strict=True):
        target.plot(epoch, column(key), marker=marker, ms=3, color=colour, label=label)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    acc_ax.set_xlabel("epoch")
    acc_ax.set_ylabel("accuracy")
    acc_ax.set_ylim(0, 1.02)
    if ax is None:  # below each panel: a legend inside would sit on the curves' start or end
        for target in (loss_ax, acc_ax):
            target.legend(fontsize="small", ncol=2, frameon=False, **_BELOW)
    else:
        loss_ax.legend(fontsize="small", loc="upper left")
        acc_ax.legend(fontsize="small", loc="lower right")
    loss_ax.grid(alpha=0.3)
    if not isinstance(ax, Axes):
        acc_ax.grid(alpha=0.3)
    fig = loss_ax.figure
    if ax is None:
        loss_ax.set_title("Loss")
        acc_ax.set_title("Accuracy")
        fig.tight_layout()
    return fig


#: The per-layer series a learning rule records in ``metrics.jsonl`` (one dict layer -> value
#: per epoch; spec: learning-rules.md §1 diagnostics): y label and caption of each figure.
RULE_SERIES: dict[str, tuple[str, str]] = {
    "rule_angle_deg": (
        "angle W, B~ (degrees)",
        "Learning rule: angle between each layer's forward weight W and backward weight B~ "
        "(as flat vectors) per epoch; 0 = backprop's B~ = W, 90 = unrelated",
    ),
    "rule_norm_ratio": (
        "||B~|| / ||W||",
        "Learning rule: norm ratio ||B~|| / ||W|| of each layer per epoch",
    ),
    "rule_update_angle_deg": (
        "angle to backprop's gradient (degrees)",
        "Learning rule: angle between the rule's update of each layer's W and backprop's "
        "gradient on one fixed training batch, per epoch",
    ),
}


def plot_layer_history(metrics: Sequence[Mapping[str, Any]], key: str, ylabel: str) -> Figure:
    """Plot a per-layer series of ``metrics.jsonl`` against epoch, one line per layer.

    Parameters
    ----------
    metrics : sequence of mapping
        One record per epoch with ``epoch`` and ``key``: a mapping layer name -> value
        (epochs without it are gaps).
    key : str
        The series, e.g. ``"rule_angle_deg"`` (see :data:`RULE_SERIES`).
    ylabel : str
        Label of the y axis.

    Returns
    -------
    matplotlib.figure.Figure
        One panel; the layers' legend below it.
    """
    layers = list(
        dict.fromkeys(k for r in metrics if isinstance(r.get(key), Mapping) for k in r[key])
    )
    if not layers:
        raise ValueError(f"no epoch records {key!r}: nothing to plot")
    ncol = min(len(layers), 4)
    fig = new_figure(9, 3.6 + 0.22 * -(-len(layers) // ncol))
    fig.set_layout_engine("constrained")
    ax = fig.add_subplot(1, 1, 1)
    cmap = colormaps["tab10" if len(layers) <= 10 else "tab20"]
    epoch = np.array([r["epoch"] for r in metrics], float)
    marker = "o" if len(metrics) <= 30 else None
    for i, layer in enumerate(layers):
        values = [
            r[key].get(layer, np.nan) if isinstance(r.get(key), Mapping) else np.nan
            for r in metrics
        ]
        ax.plot(
            epoch,
            np.array([np.nan if v is None else v for v in values], float),
            marker=marker,
            ms=3,
            color=cmap(i % cmap.N),
            label=plain_text(layer),
        )
    ax.set_xlabel("epoch")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(ylabel)
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", ncol=ncol, fontsize="small", frameon=False)
    return fig


def plot_preference_map(
    labels: np.ndarray,
    class_names: Sequence[str],
    tile: int = 0,
    ax: Axes | None = None,
    *,
    title: str | None = None,
    legend: bool = True,
    legend_counts: bool = True,
) -> Figure:
    """Draw a preference map: one colour per class, no-preference units white.

    Parameters
    ----------
    labels : numpy.ndarray
        Integer map (H, W): the preferred class of each unit, -1 for no preference.
    class_names : sequence of str
        The C class names, indexed by label.
    tile : int, default 0
        Tile side in units; when > 0, thin lines mark the tile borders.
    ax : Axes, optional
        Axes to draw into; by default a new figure.
    title : str, optional
        Axes title (drawn literally, no mathtext).
    legend : bool, default True
        Add a legend to the right of the map.
    legend_counts : bool, default True
        Show the number of units preferring each class in the legend.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the map.
    """
    labels = np.asarray(labels)
    n_classes = len(class_names)
    rgb = preference_rgb(labels, n_classes)
    if ax is None:
        width = 4.2 + (1.6 + 1.2 * (n_classes // 26) if legend else 0)
        fig = new_figure(width, 4.2)
        ax = fig.add_subplot(1, 1, 1)
        own = True
    else:
        fig, own = ax.figure, False
    height, width_units = labels.shape
    ax.imshow(rgb, interpolation="nearest")
    if tile > 0:
        for edge in range(tile, width_units, tile):
            ax.axvline(edge - 0.5, color="0.35", lw=0.6)
        for edge in range(tile, height, tile):
            ax.axhline(edge - 0.5, color="0.35", lw=0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    if title is not None:
        ax.set_title(plain_text(title), fontsize="medium")
    if legend:
        colours = class_colours(n_classes)
        counts = np.bincount(labels.ravel().astype(int) + 1, minlength=n_classes + 1)
        handles = [Patch(facecolor=_NO_PREFERENCE_RGBA, edgecolor="0.5")]
        texts = ["no preference"] + [plain_text(name) for name in class_names]
        if legend_counts:
            texts = [f"{text} ({count})" for text, count in zip(texts, counts, strict=True)]
        for c in range(n_classes):
            handles.append(Patch(facecolor=colours[c], edgecolor="none"))
        ax.legend(
            handles,
            texts,
            loc="upper left",
            bbox_to_anchor=(1.02, 1.0),
            fontsize="x-small",
            frameon=False,
            ncol=1 + n_classes // 26,
            borderaxespad=0.0,
        )
    if own:
        fig.tight_layout()
    return fig


def plot_dprime_maps(
    dprimes: np.ndarray,
    names: Sequence[str],
    threshold: float = 2.0,
    *,
    tile: int = 0,
) -> Figure:
    """Small multiples of d' maps on a shared diverging colour scale, contoured at the threshold.

    Parameters
    ----------
    dprimes : numpy.ndarray
        Shape (K, H, W): one d' map per target set (usually per class).
    names : sequence of str
        The K map titles.
    threshold : float, default 2.0
        Selectivity threshold T; a black contour outlines d' = T.
    tile : int, default 0
        Tile side; when > 0, faint lines mark the tile borders.

    Returns
    -------
    matplotlib.figure.Figure
        The figure with one panel per map and a shared colour bar.
    """
    dprimes = np.asarray(dprimes, dtype=float)
    if dprimes.ndim != 3:
        raise ValueError(f"d' maps must have shape (K, H, W); got {dprimes.shape}")
    n_maps = dprimes.shape[0]
    if len(names) != n_maps:
        raise ValueError(f"got {n_maps} d' maps but {len(names)} names")
    ncols = min(n_maps, 5) if n_maps <= 20 else math.ceil(math.sqrt(n_maps))
    nrows = math.ceil(n_maps / ncols)
    panel = 2.0 if n_maps <= 20 else 1.1
    fig = new_figure(panel * ncols + 0.9, panel * nrows + 0.3)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    finite = dprimes[np.isfinite(dprimes)]
    limit = float(np.max(np.abs(finite))) if finite.size else 1.0
    limit = max(limit, threshold * 1.25, 1e-6)
    image = None
    for k, ax in enumerate(axes):
        ax.set_xticks([])
        ax.set_yticks([])
        if k >= n_maps:
            ax.set_axis_off()
            continue
        image = ax.imshow(
            dprimes[k], cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest"
        )
        above = np.nan_to_num(dprimes[k], nan=-np.inf) >= threshold
        if above.any() and not above.all():
            ax.contour(above.astype(float), levels=[0.5], colors="k", linewidths=0.8)
        if tile > 0:
            for edge in range(tile, dprimes.shape[2], tile):
                ax.axvline(edge - 0.5, color="0.6", lw=0.4)
            for edge in range(tile, dprimes.shape[1], tile):
                ax.axhline(edge - 0.5, color="0.6", lw=0.4)
        ax.set_title(
            f"{plain_text(names[k])} ({above.mean():.0%})",
            fontsize="small" if n_maps <= 20 else 6,
        )
    fig.subplots_adjust(left=0.02, right=0.86, bottom=0.03, top=0.9, wspace=0.08, hspace=0.3)
    if image is not None:
        cax = fig.add_axes((0.89, 0.15, 0.025, 0.7))
        bar = fig.colorbar(image, cax=cax)
        bar.set_label("d'")
        bar.ax.axhline(threshold, color="k", lw=1.0)
    fig.suptitle(f"d' maps, contour at d' = {threshold:g} (percent of units above)", fontsize=10)
    return fig


def metric_series(snapshots: Sequence[Mapping[str, Any]], key: str) -> dict[str, np.ndarray]:
    """Collect one metric across snapshots of a topography history.

    Parameters
    ----------
    snapshots : sequence of mapping
        Per-snapshot dicts; the metric is either a dict with ``value``, ``null_mean``,
        ``null_std``, ``p_value`` or a plain number. Missing entries become NaN.
    key : str
        Metric name, e.g. ``"clustering_index"``.

    Returns
    -------
    dict of str to numpy.ndarray
        ``value``, ``mean`` (null mean), ``std`` (null std) and ``p``, each of shape (S,).
    """
    out = {name: np.full(len(snapshots), np.nan) for name in ("value", "mean", "std", "p")}
    fields = (("value", "value"), ("mean", "null_mean"), ("std", "null_std"), ("p", "p_value"))
    for s, snap in enumerate(snapshots):
        entry = snap.get(key)
        if isinstance(entry, Mapping):
            for name, field in fields:
                item = entry.get(field)
                if isinstance(item, (int, float)) and not isinstance(item, bool):
                    out[name][s] = item
        elif isinstance(entry, (int, float)) and not isinstance(entry, bool):
            out["value"][s] = entry
    return out


def snapshot_epochs(topography: Mapping[str, Any]) -> np.ndarray:
    """Return the (fractional) epoch of every snapshot of a topography history.

    Parameters
    ----------
    topography : mapping
        A topography history with a ``snapshots`` list (see ``topography.json``); a snapshot
        without ``epoch`` falls back to its index.

    Returns
    -------
    numpy.ndarray
        Shape (S,), float.
    """
    snapshots = topography.get("snapshots")
    if not isinstance(snapshots, Sequence) or isinstance(snapshots, (str, bytes)):
        raise ValueError("a topography history needs a 'snapshots' list of per-snapshot dicts")
    epochs = []
    for s, snap in enumerate(snapshots):
        value = snap.get("epoch") if isinstance(snap, Mapping) else None
        epochs.append(float(value) if isinstance(value, (int, float)) else float(s))
    return np.asarray(epochs, dtype=float)


def available_metrics(topography: Mapping[str, Any], keys: Sequence[str]) -> list[str]:
    """Return the keys in ``keys`` that have a finite value in at least one snapshot.

    Parameters
    ----------
    topography : mapping
        A topography history with a ``snapshots`` list.
    keys : sequence of str
        Candidate metric names.

    Returns
    -------
    list of str
        The available keys, in the order given.
    """
    snapshots = topography.get("snapshots") or []
    return [k for k in keys if np.isfinite(metric_series(snapshots, k)["value"]).any()]


def plot_metric_history(
    topography: Mapping[str, Any],
    keys: Sequence[str] = (
        "clustering_index",
        "neighbour_agreement",
        "morans_i",
        "smoothness",
        "topography_index",
    ),
) -> Figure:
    """Plot each topography metric against training epoch, real value against its null.

    The null is drawn as its mean with a +-1 std band; snapshots where the permutation p-value
    is below 0.05 are filled markers, the others open. Neighbour agreement also shows its
    chance level sum_c f_c^2 (spec: topography.md, neighbour agreement).

    Parameters
    ----------
    topography : mapping
        A topography history: ``{"snapshots": [{"epoch": ..., "<metric>": {"value",
        "null_mean", "null_std", "p_value", ...}, ...}, ...]}``. Scalar metrics (such as
        ``fraction_selective``) are drawn without a null.
    keys : sequence of str
        Metrics to draw; those absent from every snapshot are skipped.

    Returns
    -------
    matplotlib.figure.Figure
        One panel per available metric.
    """
    epochs = snapshot_epochs(topography)
    snapshots = topography["snapshots"]
    present = available_metrics(topography, keys)
    if not present:
        raise ValueError(
            f"none of the metrics {list(keys)} has a value in the topography snapshots"
        )
    ncols = min(len(present), 3)
    nrows = math.ceil(len(present) / ncols)
    fig = new_figure(4.0 * ncols, 3.0 * nrows + 0.4)
    axes = np.atleast_1d(fig.subplots(nrows, ncols, squeeze=False)).ravel()
    for ax, key in zip(axes, present, strict=False):
        series = metric_series(snapshots, key)
        draw_null_band(ax, epochs, series)
        if key == "neighbour_agreement":
            chance = np.array(
                [
                    s.get("neighbour_agreement_chance", np.nan)
                    if isinstance(s.get("neighbour_agreement_chance"), (int, float))
                    else np.nan
                    for s in snapshots
                ],
                dtype=float,
            )
            if np.isfinite(chance).any():
                ax.plot(epochs, chance, color="C2", ls=":", lw=1.2, label="chance Σf²")
        ax.plot(epochs, series["value"], color="C0", lw=1.5, label="real")
        significant = series["p"] < _SIGNIFICANCE
        tested = np.isfinite(series["p"])
        for mask, face, label in (
            (significant, "C0", "p < 0.05"),
            (tested & ~significant, "white", "p ≥ 0.05"),
            (~tested, "C0", None),
        ):
            if mask.any():
                ax.plot(
                    epochs[mask],
                    series["value"][mask],
                    "o",
                    color="C0",
                    mfc=face,
                    ms=5 if label else 3,
                    label=label,
                )
        if key == "fraction_selective":
            ax.set_ylim(-0.02, 1.02)
        ax.set_title(METRIC_TITLES.get(key, plain_text(key.replace("_", " "))), fontsize=10)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
    # one legend for all panels, below them, so that it covers no curve
    entries: dict[str, Any] = {}
    for ax in axes[: len(present)]:
        for handle, label in zip(*ax.get_legend_handles_labels(), strict=True):
            entries.setdefault(label, handle)
    fig.set_layout_engine("constrained")
    fig.legend(
        list(entries.values()),
        list(entries),
        loc="outside lower center",
        ncol=len(entries),
        fontsize="small",
        frameon=False,
    )
    for ax in axes[len(present) :]:
        ax.set_axis_off()
    return fig


def plot_smoothness_curve(
    curve: Mapping[str, Sequence[float]], ax: Axes | None = None, *, title: str | None = None
) -> Figure:
    """Plot tuning correlation against distance between units, real map against its null.

    Parameters
    ----------
    curve : mapping
        ``{"distance": [...], "correlation": [...], "null_correlation": [...]}`` (equal
        lengths; ``null_correlation`` optional). NaN bins are left as gaps.
    ax : Axes, optional
        Axes to draw into; by default a new figure.
    title : str, optional
        Axes title.

    Returns
    -------
    matplotlib.figure.Figure
        The figure holding the curve.
    """
    for key in ("distance", "correlation"):
        if key not in curve:
            raise ValueError(f"a smoothness curve needs '{key}'; got keys {sorted(curve)}")

    def array(key: str) -> np.ndarray:
        return np.array([np.nan if v is None else v for v in curve[key]], dtype=float)

    distance, correlation = array("distance"), array("correlation")
    if distance.shape != correlation.shape:
        raise ValueError(
            f"smoothness curve has {distance.size} distances but {correlation.size} correlations"
        )
    if ax is None:
        fig = new_figure(4.8, 3.8)
        ax = fig.add_subplot(1, 1, 1)
        own = True
    else:
        fig, own = ax.figure, False
    ax.plot(distance, correlation, "o-", color="C0", ms=3, label="real")
    if curve.get("null_correlation") is not None:
        null = array("null_correlation")
        if null.shape == distance.shape:
            ax.plot(distance, null, "s--", color="0.45", ms=3, label="shuffled positions")
    ax.axhline(0.0, color="0.7", lw=0.8)
    ax.set_xlabel("distance between units (grid units)")
    ax.set_ylabel("tuning correlation")
    ax.set_title(plain_text(title) if title else "Tuning correlation vs distance", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize="small", ncol=2, frameon=False, **_BELOW)
    if own:
        fig.tight_layout()
    return fig


def save_figure(fig: Figure, path: str | Path, *, dpi: float = 100, close: bool = True) -> Path:
    """Write a figure as PNG.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str or Path
        Destination; parent folders are created.
    dpi : float, default 100
        Resolution.
    close : bool, default True
        Release the figure's drawing buffers afterwards.

    Returns
    -------
    Path
        The written file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi, format="png", bbox_inches="tight")
    if close:
        fig.clear()
    return path


def draw_null_band(
    ax: Any,
    epochs: np.ndarray,
    series: Mapping[str, np.ndarray],
    label: str = "null ± std",
    mean_label: str | None = "null mean",
) -> None:
    """Shade a metric's null mean ± std over training and draw the null mean (dashed)."""
    if not np.isfinite(series["mean"]).any():
        return
    std = np.nan_to_num(series["std"])
    ax.fill_between(
        epochs,
        series["mean"] - std,
        series["mean"] + std,
        color="0.6",
        alpha=0.35,
        lw=0,
        label=label,
    )
    ax.plot(epochs, series["mean"], color="0.4", ls="--", lw=1, label=mean_label)
