"""GIF movie of a topographic map forming during training.

spec: topography.md, "History and movies": one frame per snapshot with the current preference
map (one colour per class, no-preference units white), the accuracy curve and the clustering
index against its shuffled null.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from brainlike.report.figures import (
    draw_null_band,
    metric_series,
    new_figure,
    plain_text,
    plot_preference_map,
    preference_rgb,
    snapshot_epochs,
)

_TOPOGRAPHY_MODULE = "brainlike.analysis.topography"

#: Frame size in inches; at the default 100 dpi a frame is 1000 x 480 px.
FRAME_INCHES = (10.0, 4.8)
#: Font sizes in points, for a 4.8 inch frame: at 100 dpi the smallest is 12.5 px tall, and it
#: stays the same fraction of the frame at any dpi.
_FONT = {"heading": 12.0, "label": 10.0, "tick": 9.0, "legend": 9.0}


def snapshot_dprimes(
    snapshots: Mapping[str, Any],
    index: int,
    *,
    dprime: str = "class",
    target_sets: Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """d' maps of one snapshot, class-level or trial-level, as the analysis computed them.

    Parameters
    ----------
    snapshots : mapping
        The arrays of ``snapshots.npz``: ``means`` (S, C, H, W), and for trial-level d'
        ``vars`` (S, C, H, W) and ``counts`` (S, C).
    index : int
        Which snapshot.
    dprime : {"class", "trial"}, default "class"
        ``brainlike.analysis.topography.dprime_maps`` or ``trial_dprime_maps``.
    target_sets : sequence of sequence of int, optional
        Class sets to compare against the rest (default: each class alone).

    Returns
    -------
    numpy.ndarray
        Shape (K, H, W); K = C without target sets.
    """
    topography = importlib.import_module(_TOPOGRAPHY_MODULE)
    means = np.asarray(snapshots["means"])
    if means.ndim != 4:
        raise ValueError(f"snapshots['means'] must have shape (S, C, H, W); got {means.shape}")
    if dprime == "class":
        maps = topography.dprime_maps(means[index], target_sets=target_sets)
    elif dprime == "trial":
        if "vars" not in snapshots or "counts" not in snapshots:
            raise ValueError(
                "trial-level d' needs 'vars' (S, C, H, W) and 'counts' (S, C) beside 'means' "
                "in the snapshots"
            )
        maps = topography.trial_dprime_maps(
            means[index],
            np.asarray(snapshots["vars"])[index],
            np.asarray(snapshots["counts"])[index],
            target_sets,
        )
    else:
        raise ValueError(f"dprime must be 'class' or 'trial'; got {dprime!r}")
    return np.asarray(maps, dtype=float)


def preference_history(
    snapshots: Mapping[str, Any],
    threshold: float = 2.0,
    *,
    dprime: str = "class",
    target_sets: Sequence[Sequence[int]] | None = None,
) -> np.ndarray:
    """Compute the preference map of every snapshot.

    Each map is ``brainlike.analysis.topography.preference_map`` of :func:`snapshot_dprimes`
    with threshold T (spec: topography.md, preference map).

    Parameters
    ----------
    snapshots : mapping
        The arrays of ``snapshots.npz`` (at least ``means`` (S, C, H, W)).
    threshold : float, default 2.0
        d' threshold T below which a unit has no preference.
    dprime : {"class", "trial"}, default "class"
        Class-level or trial-level d'.
    target_sets : sequence of sequence of int, optional
        Class sets to compare against the rest (default: each class alone).

    Returns
    -------
    numpy.ndarray
        Integer labels of shape (S, H, W); -1 = no preference.
    """
    topography = importlib.import_module(_TOPOGRAPHY_MODULE)
    n_snapshots = np.asarray(snapshots["means"]).shape[0]
    return np.stack(
        [
            np.asarray(
                topography.preference_map(
                    snapshot_dprimes(snapshots, s, dprime=dprime, target_sets=target_sets),
                    threshold=threshold,
                ),
                dtype=int,
            )
            for s in range(n_snapshots)
        ]
    )


def _series_line(ax: Any, x: np.ndarray, y: np.ndarray, colour: str, label: str) -> tuple:
    """Draw a faint full curve, a solid curve to be grown frame by frame, and a marker."""
    ax.plot(x, y, color=colour, alpha=0.25, lw=1)
    (grown,) = ax.plot([], [], color=colour, lw=1.6, label=label)
    (marker,) = ax.plot([], [], "o", color=colour, ms=5)
    return grown, marker


def write_preference_movie(
    snapshots: Mapping[str, Any],
    topography: Mapping[str, Any],
    path: str | Path,
    fps: float = 4,
    threshold: float = 2.0,
    *,
    labels: np.ndarray | None = None,
    dprime: str = "class",
    target_sets: Sequence[Sequence[int]] | None = None,
    names: Sequence[str] | None = None,
    title: str | None = None,
    dpi: int = 100,
) -> Path:
    """Write a GIF with one frame per snapshot showing the map forming during training.

    Left: the preference map at that snapshot. Right: test accuracy up to that snapshot, and
    the clustering index (real against shuffled null mean +- std) with a moving marker; a third
    panel shows the topography index when the history has one.

    Parameters
    ----------
    snapshots : mapping
        The arrays of ``snapshots.npz``: ``means`` (S, C, H, W), ``epoch`` (S,),
        ``class_names`` (C,), and optionally ``accuracy`` (S,), ``step`` (S,), ``tile`` ().
    topography : mapping
        The topography history (``topography.json``) with S snapshots.
    path : str or Path
        Destination ``.gif``; parent folders are created.
    fps : float, default 4
        Frames per second.
    threshold : float, default 2.0
        d' threshold of the preference maps.
    labels : numpy.ndarray, optional
        Precomputed preference maps (S, H, W); computed with :func:`preference_history` if
        omitted.
    dprime : {"class", "trial"}, default "class"
        d' of the preference maps, passed to :func:`preference_history`.
    target_sets : sequence of sequence of int, optional
        Class sets of the preference maps, passed to :func:`preference_history`.
    names : sequence of str, optional
        Legend names of the labels; default the class names, or the target sets' class names
        joined with '+'.
    title : str, optional
        Text prefixed to each frame's title (e.g. the run name).
    dpi : int, default 100
        Resolution of the 10 x 4.8 inch frames (1000 x 480 px at 100); the text scales with
        the frame.

    Returns
    -------
    Path
        The written GIF.
    """
    for key in ("means", "epoch", "class_names"):
        if key not in snapshots:
            raise ValueError(f"snapshots lack '{key}'; got keys {sorted(snapshots)}")
    means = np.asarray(snapshots["means"])
    if means.ndim != 4:
        raise ValueError(f"snapshots['means'] must have shape (S, C, H, W); got {means.shape}")
    n_snapshots, n_classes = means.shape[:2]
    class_names = [str(n) for n in np.asarray(snapshots["class_names"]).reshape(-1)]
    if len(class_names) != n_classes:
        raise ValueError(f"{len(class_names)} class names for {n_classes} classes in 'means'")
    history = topography.get("snapshots")
    if not isinstance(history, Sequence) or len(history) != n_snapshots:
        count = len(history) if isinstance(history, Sequence) else "no"
        raise ValueError(
            f"the topography history has {count} snapshots; the movie needs one per "
            f"snapshot ({n_snapshots})"
        )
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    tile = int(np.asarray(snapshots.get("tile", 0)).reshape(-1)[0]) if "tile" in snapshots else 0
    if labels is None:
        labels = preference_history(snapshots, threshold, dprime=dprime, target_sets=target_sets)
    if names is not None:
        legend_names = [str(n) for n in names]
    elif target_sets is not None:
        legend_names = ["+".join(class_names[int(c)] for c in members) for members in target_sets]
    else:
        legend_names = class_names
    labels = np.asarray(labels)
    if labels.shape != (n_snapshots, *means.shape[2:]):
        raise ValueError(
            f"preference maps have shape {labels.shape}; expected {(n_snapshots, *means.shape[2:])}"
        )

    epochs = np.asarray(snapshots["epoch"], dtype=float).reshape(-1)
    if epochs.shape != (n_snapshots,):
        epochs = snapshot_epochs(topography)
    steps = np.asarray(snapshots["step"]).reshape(-1) if "step" in snapshots else None
    accuracy = _accuracy(snapshots, history, n_snapshots)
    clustering = metric_series(history, "clustering_index")
    topo = metric_series(history, "topography_index")
    has_topo = bool(np.isfinite(topo["value"]).any())

    fig = new_figure(*FRAME_INCHES, dpi=dpi)
    map_ax = fig.add_axes((0.01, 0.04, 0.34, 0.80))
    n_right = 3 if has_topo else 2
    gap, top, bottom = 0.07, 0.88, 0.12
    height = (top - bottom - gap * (n_right - 1)) / n_right
    right = [
        fig.add_axes((0.56, top - (i + 1) * height - i * gap, 0.28, height)) for i in range(n_right)
    ]
    pad = 0.02 * float(np.ptp(epochs)) or 0.5
    span = (float(epochs.min()) - pad, float(epochs.max()) + pad)

    acc_ax = right[0]
    acc_line = _series_line(acc_ax, epochs, accuracy, "C3", "test accuracy")
    acc_ax.set_ylim(0, 1.02)
    acc_ax.set_ylabel("accuracy", fontsize=_FONT["label"])

    clu_ax = right[1]
    draw_null_band(clu_ax, epochs, clustering, "shuffled ± std", None)
    clu_line = _series_line(clu_ax, epochs, clustering["value"], "C0", "clustering")
    clu_ax.set_ylabel("clustering", fontsize=_FONT["label"])
    grown_lines = [(accuracy, *acc_line), (clustering["value"], *clu_line)]
    if has_topo:
        draw_null_band(right[2], epochs, topo, "shuffled ± std", None)
        grown_lines.append(
            (topo["value"], *_series_line(right[2], epochs, topo["value"], "C4", ""))
        )
        right[2].set_ylabel("topography", fontsize=_FONT["label"])
    for ax in right:
        ax.set_xlim(*span)
        ax.tick_params(labelsize=_FONT["tick"])
        ax.grid(alpha=0.3)
        # beside the panel, not on it: the curves grow into every corner over the frames
        ax.legend(
            fontsize=_FONT["legend"],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            frameon=False,
            borderaxespad=0.0,
        )
    right[-1].set_xlabel("epoch", fontsize=_FONT["label"])
    for ax in right[:-1]:
        ax.tick_params(labelbottom=False)

    heading = fig.text(0.01, 0.97, "", fontsize=_FONT["heading"], va="top")
    # Draw everything that stays fixed once, then per frame only the animated artists over a
    # copy of that background (blitting): text layout dominates the cost of a full redraw.
    plot_preference_map(labels[0], legend_names, tile=tile, ax=map_ax, legend_counts=False)
    for text in map_ax.get_legend().get_texts():
        text.set_fontsize(_FONT["legend"])
    image = map_ax.images[0]
    animated = [image, *map_ax.lines, heading]
    for _, grown, marker in grown_lines:
        animated += [grown, marker]
    for artist in animated:
        artist.set_animated(True)
    fig.canvas.draw()
    background = fig.canvas.copy_from_bbox(fig.bbox)
    frames: list[Image.Image] = []
    for s in range(n_snapshots):
        fig.canvas.restore_region(background)
        image.set_data(preference_rgb(labels[s], len(legend_names)))
        for values, grown, marker in grown_lines:
            grown.set_data(epochs[: s + 1], values[: s + 1])
            marker.set_data(epochs[s : s + 1], values[s : s + 1])
        heading.set_text(_frame_heading(title, s, epochs, steps, accuracy, clustering))
        for artist in animated:
            fig.draw_artist(artist)
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        frames.append(
            Image.fromarray(np.ascontiguousarray(rgb)).quantize(
                colors=255, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE
            )
        )
    fig.clear()

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    frames[0].save(
        path,
        format="GIF",
        save_all=True,
        append_images=frames[1:],
        duration=max(int(round(1000 / fps)), 20),
        loop=0,
    )
    return path


def _frame_heading(
    title: str | None,
    s: int,
    epochs: np.ndarray,
    steps: np.ndarray | None,
    accuracy: np.ndarray,
    clustering: Mapping[str, np.ndarray],
) -> str:
    """One line naming the snapshot: epoch, step, accuracy, clustering against its null."""
    parts = [plain_text(title)] if title else []
    parts.append(f"epoch {epochs[s]:.2f}")
    if steps is not None:
        parts.append(f"step {int(steps[s])}")
    if np.isfinite(accuracy[s]):
        parts.append(f"accuracy {accuracy[s]:.1%}")
    if np.isfinite(clustering["value"][s]):
        parts.append(f"clustering {clustering['value'][s]:.2f} vs null {clustering['mean'][s]:.2f}")
    return " · ".join(parts)


def _accuracy(
    snapshots: Mapping[str, Any], history: Sequence[Mapping[str, Any]], n: int
) -> np.ndarray:
    """Per-snapshot accuracy from the snapshots, filling gaps from the topography history."""
    accuracy = np.full(n, np.nan)
    if "accuracy" in snapshots:
        values = np.asarray(snapshots["accuracy"], dtype=float).reshape(-1)
        if values.shape == (n,):
            accuracy = values.copy()
    for s, snap in enumerate(history):
        value = snap.get("accuracy") if isinstance(snap, Mapping) else None
        if not np.isfinite(accuracy[s]) and isinstance(value, (int, float)):
            accuracy[s] = value
    return accuracy
