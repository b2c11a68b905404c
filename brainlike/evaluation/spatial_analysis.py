"""Which units are grid cells, border cells, head-direction or speed cells: the spatial
analysis of a trained path integrator or of a recorded (or generated) entorhinal session.

Spec: mouse-and-entorhinal.md §2 ("Analyses") and §3 (grid-score conventions). Every unit gets
a rate map (mean activation per bin for model units, spikes/s for recorded cells), its grid
score in both conventions (``grid``: mean over annuli, DeepMind/Sorscher; ``grid_minmax``:
min/max around the central peak, BNT/opexebo), grid spacing and orientation, border score and
Skaggs spatial information (recordings also head-direction mean vector length and speed
score). A fixed threshold (grid > 0.3, border > 0.5) is not enough on its own: a single-field
place cell can pass 0.3, so each unit also gets a circular-shift shuffle null
(:func:`~brainlike.analysis.spatial_null.shuffle_nulls`) and passes when its score exceeds the
95th percentile of its own null. For a model the "session" is one set of seeded random walks,
their episodes concatenated into one series (times ``arange(T) * dt``); the rate maps come
from the same walks (:func:`~brainlike.evaluation.pathint_maps.unit_rate_maps`), so the null's
observed scores are the reported ones.

:meth:`SpatialAnalysis.save` writes ``spatial.json`` (scores, fractions, conventions),
``spatial_maps.npz`` (maps, autocorrelograms) and ``spatial.html`` (a standalone gallery,
:mod:`brainlike.evaluation.spatial_report`).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from brainlike.analysis.spatial import (
    autocorrelograms,
    border_scores,
    grid_scores,
    grid_spacing_orientation,
    spatial_information,
)
from brainlike.analysis.spatial_null import ScoreNull, ShuffleNulls, shuffle_nulls
from brainlike.analysis.spatial_tuning import head_direction_tuning, speed_scores, spike_reasons
from brainlike.progress import ProgressDisplay

__all__ = [
    "BORDER_THRESHOLD",
    "FILES",
    "GRID_THRESHOLD",
    "NULL_PERCENTILE",
    "SpatialAnalysis",
    "analyse_recording",
    "analyse_run",
    "spatial_fractions",
]

GRID_THRESHOLD = 0.3  #: fixed grid-score threshold (mean over annuli), spec §2
BORDER_THRESHOLD = 0.5  #: fixed border-score threshold, spec §2
NULL_PERCENTILE = 95.0  #: a unit passes when its score exceeds this percentile of its null
MIN_SHIFT_S = 20.0  #: smallest circular shift of the shuffle null, s
FILES = ("spatial.json", "spatial_maps.npz", "spatial.html")
#: units (or cells) per shuffle_nulls call: one progress step each
_CHUNK = 32


@dataclass
class SpatialAnalysis:
    """Rate maps, scores, shuffle nulls and cell-type fractions of one model layer or session.

    Attributes
    ----------
    kind : ``"model"`` or ``"recording"``.
    name : the run's or the session's name. source : the run folder or recording file.
    unit_ids : (N,) ``"g/17"`` (layer/unit) or ``"animal/cell_id"``.
    maps : (N, H, W) rate maps (NaN = unvisited).
    scores : name -> (N,) values: ``grid`` (mean over annuli), ``grid_minmax`` (min/max),
        ``grid_spacing_cm``, ``grid_orientation_deg``, ``border``, ``spatial_information``
        (bits per spike; recordings also ``head_direction`` (mean vector length) and
        ``speed``).
    reasons : name -> (N,) '' or why that score is NaN.
    nulls : the shuffle nulls (``None`` with ``shuffles=0``).
    fractions : ``{"grid": {"threshold", "null95", "both", "n_units", ...}, "border": ...}``.
    conventions : how everything was computed (bins, smoothing, thresholds, null).
    notes : facts worth knowing about the input.
    """

    kind: str
    name: str
    source: str
    unit_ids: list[str]
    maps: np.ndarray
    scores: dict[str, np.ndarray]
    reasons: dict[str, list[str]]
    nulls: ShuffleNulls | None
    fractions: dict[str, dict[str, Any]]
    conventions: dict[str, Any]
    notes: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe summary (NaN -> None): per-unit scores and reasons, the null thresholds,
        fractions, medians with their null, and the conventions (maps are in the .npz)."""
        units = []
        thresholds = self.null_thresholds()
        for i, uid in enumerate(self.unit_ids):
            row: dict[str, Any] = {"id": uid}
            for name, values in self.scores.items():
                row[name] = _num(values[i])
                if self.reasons.get(name, [""] * (i + 1))[i]:
                    row[f"{name}_reason"] = self.reasons[name][i]
            for name, thr in thresholds.items():
                row[f"{name}_null{NULL_PERCENTILE:g}"] = _num(thr[i])
            units.append(row)
        return _json_safe(
            {
                "kind": self.kind,
                "name": self.name,
                "source": self.source,
                "n_units": len(self.unit_ids),
                "map_shape": list(self.maps.shape[1:]),
                "fractions": self.fractions,
                "medians": self.medians(),
                "conventions": self.conventions,
                "notes": self.notes,
                "units": units,
            }
        )

    def null_thresholds(self) -> dict[str, np.ndarray]:
        """Score name -> (N,) the 95th percentile of each unit's shuffle null."""
        if self.nulls is None:
            return {}
        return {
            name: null.thresholds[null.percentiles.index(NULL_PERCENTILE)]
            for name, null in self.nulls.scores.items()
        }

    def medians(self) -> dict[str, dict[str, float | None]]:
        """Per score: median over units of the observed score and of the pooled null."""
        out = {}
        for name, values in self.scores.items():
            null = self.nulls.scores.get(name) if self.nulls is not None else None
            out[name] = {
                "median": _nanmedian(values),
                "null_median": None if null is None else _nanmedian(null.null),
            }
        return out

    def save(self, folder: str | Path, overwrite: bool = False) -> list[Path]:
        """Write ``spatial.json``, ``spatial_maps.npz`` and ``spatial.html`` into ``folder``.

        Refuses (ValueError, before writing anything) when one of them exists and not
        ``overwrite``. Returns the written paths.
        """
        from brainlike.evaluation.spatial_report import write_spatial_html

        folder = Path(folder)
        present = [f for f in FILES if (folder / f).exists()]
        if present and not overwrite:
            raise ValueError(
                f"{folder} already holds {', '.join(present)}; pass overwrite=True "
                "(--overwrite) or choose another folder (--out)"
            )
        folder.mkdir(parents=True, exist_ok=True)
        record = self.to_dict()
        json_path = folder / "spatial.json"
        json_path.write_text(json.dumps(record, indent=1))
        arrays: dict[str, np.ndarray] = {
            "unit_ids": np.asarray(self.unit_ids, dtype=str),
            "maps": self.maps,
            "autocorrelograms": autocorrelograms(self.maps),
            "bin_cm": np.asarray(self.conventions["bin_cm"]),
        }
        arrays.update({f"score_{k}": v for k, v in self.scores.items()})
        for name, thr in self.null_thresholds().items():
            arrays[f"null{NULL_PERCENTILE:g}_{name}"] = thr
        npz_path = folder / "spatial_maps.npz"
        np.savez_compressed(npz_path, **arrays)
        html_path = write_spatial_html(self, folder / "spatial.html", arrays["autocorrelograms"])
        return [json_path, npz_path, html_path]


# ---------------------------------------------------------------------------------------------
# scores and fractions


def _num(value: Any) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None


def _nanmedian(values: np.ndarray) -> float | None:
    values = np.asarray(values, dtype=float)
    finite = values[np.isfinite(values)]
    return float(np.median(finite)) if finite.size else None


def _json_safe(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    if isinstance(value, np.ndarray):
        return _json_safe(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return _num(value)
    return value


def _map_scores(
    maps: np.ndarray, occupancy: np.ndarray, bin_cm: float
) -> tuple[dict[str, np.ndarray], dict[str, list[str]]]:
    """The spatial scores of one stack of maps sharing one occupancy (spec §2-3)."""
    mean = grid_scores(maps, convention="mean_annuli")
    minmax = grid_scores(maps, convention="minmax_peak")
    spacing, orientation = grid_spacing_orientation(maps, bin_cm=bin_cm)
    border, border_reasons = border_scores(maps, bin_cm=bin_cm)
    si = spatial_information(maps, occupancy)
    scores = {
        "grid": mean.scores,
        "grid_minmax": minmax.scores,
        "grid_spacing_cm": spacing,
        "grid_orientation_deg": orientation,
        "border": border,
        "spatial_information": si.bits_per_spike,
    }
    reasons = {
        "grid": list(mean.reasons),
        "grid_minmax": list(minmax.reasons),
        "border": list(border_reasons),
        "spatial_information": list(si.reasons),
    }
    return scores, reasons


def spatial_fractions(
    scores: dict[str, np.ndarray], thresholds: dict[str, np.ndarray]
) -> dict[str, dict[str, Any]]:
    """Fractions of grid and border cells among all units (a NaN score counts as not one).

    ``threshold``: score above the fixed threshold (grid 0.3, border 0.5); ``null95``: score
    above the unit's 95th-percentile shuffle null; ``both``: both at once (None without a null).
    """
    out = {}
    for name, fixed in (("grid", GRID_THRESHOLD), ("border", BORDER_THRESHOLD)):
        values = np.asarray(scores[name], dtype=float)
        n = len(values)
        with np.errstate(invalid="ignore"):
            above = values > fixed
            passes = values > thresholds[name] if name in thresholds else None
        out[name] = {
            "threshold_value": fixed,
            "threshold": float(above.mean()) if n else None,
            "null95": None if passes is None or not n else float(passes.mean()),
            "both": None if passes is None or not n else float((above & passes).mean()),
            "n_units": n,
            "n_scored": int(np.isfinite(values).sum()),
        }
    return out


def _chunk_seed(seed: int, *keys: int) -> int:
    return int(np.random.SeedSequence([seed, *keys]).generate_state(1)[0])


def _merge_nulls(parts: list[ShuffleNulls]) -> ShuffleNulls:
    """Shuffle nulls of several blocks of cells (or animals) as one, cells concatenated."""
    scores = {}
    for name, first in parts[0].scores.items():
        got = [p.scores[name] for p in parts]
        scores[name] = ScoreNull(
            name,
            np.concatenate([g.observed for g in got]),
            np.concatenate([g.null for g in got], axis=1),
            first.percentiles,
            np.concatenate([g.thresholds for g in got], axis=1),
            np.concatenate([g.passes for g in got], axis=1),
            np.concatenate([g.observed_percentile for g in got]),
            [r for g in got for r in g.reasons],
            first.params,
        )
    params = dict(parts[0].params, seed=[p.params["seed"] for p in parts])
    return ShuffleNulls(
        scores,
        np.concatenate([p.shifts_samples for p in parts], axis=1),
        np.concatenate([p.shifts_s for p in parts], axis=1),
        sum(p.n_dropped for p in parts),
        [n for p in parts for n in p.notes],
        params,
    )


def _nulls_in_chunks(
    display: ProgressDisplay,
    label: str,
    counts: np.ndarray,
    seed_keys: tuple[int, ...],
    seed: int,
    **kwargs: Any,
) -> list[ShuffleNulls]:
    """shuffle_nulls over blocks of ``_CHUNK`` cells, one progress step per block."""
    starts = list(range(0, len(counts), _CHUNK))
    task = display.add_task(label, len(starts), unit="block")
    parts = []
    for k, start in enumerate(starts):
        parts.append(
            shuffle_nulls(
                counts=counts[start : start + _CHUNK],
                seed=_chunk_seed(seed, *seed_keys, k),
                **kwargs,
            )
        )
        display.advance(task)
    return parts


def _smoothed(rates: np.ndarray, occupancy: np.ndarray, bin_cm: float, smooth_cm: float):
    """Gaussian smoothing of summed activity and occupancy separately, then divided (as
    spatial_null does for its maps)."""
    from scipy import ndimage

    if smooth_cm <= 0:
        return rates
    sigma = smooth_cm / bin_cm
    sums = np.where(np.isfinite(rates), rates, 0.0) * occupancy[None]
    sums = ndimage.gaussian_filter(sums, (0, sigma, sigma), mode="constant")
    occ = ndimage.gaussian_filter(occupancy, sigma, mode="constant")
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(occupancy > 0, sums / occ, np.nan)


def _check_common(bin_cm: float, smooth_cm: float, shuffles: int) -> None:
    if not bin_cm > 0:
        raise ValueError(f"bin_cm is {bin_cm}; give a positive bin side in cm (e.g. 5)")
    if smooth_cm < 0:
        raise ValueError(
            f"smooth_cm is {smooth_cm}; give 0 (no smoothing) or a positive s.d. in cm"
        )
    if shuffles < 0:
        raise ValueError(f"shuffles is {shuffles}; give 0 (no null) or a positive number")


# ---------------------------------------------------------------------------------------------
# a trained path integrator


def _with_arena(cfg: Any, arena: float) -> Any:
    tr = cfg.data.trajectories.model_copy(update={"arena": float(arena)})
    data = cfg.data.model_copy(update={"trajectories": tr})
    return cfg.model_copy(update={"data": data})


@torch.no_grad()
def _model_series(model, cfg, layer: str, n_sequences: int, seed: int, batch: int):
    """The analysis walks of :func:`unit_rate_maps` (same seed, same batches) as one series:
    positions (T, 2) m and activity (units, T), episodes concatenated."""
    from brainlike.evaluation.pathint_maps import _batches, _model_device

    arena = cfg.data.trajectories.arena
    device = _model_device(model)
    pos, act = [], []
    for inputs, init, p, _ in _batches(cfg, n_sequences, seed, batch):
        a = model.run(inputs.to(device), init.to(device))[layer]
        act.append(a.reshape(-1, a.shape[-1]).double().cpu().numpy())
        pos.append(p.reshape(-1, 2).double().clamp(-arena / 2, arena / 2).numpy())
    return np.concatenate(pos), np.concatenate(act).T


def analyse_run(
    run_dir: str | Path,
    *,
    layer: str = "g",
    n_sequences: int = 1000,
    bin_cm: float = 5.0,
    smooth_cm: float = 0.0,
    shuffles: int = 100,
    seed: int = 0,
    arena: float | None = None,
    progress: bool = False,
    batch: int = 500,
) -> SpatialAnalysis:
    """Spatial analysis of a trained path-integration run's units (spec §2 "Analyses").

    Parameters
    ----------
    run_dir : a run folder of a ``path_integration`` run (``checkpoints/last.pt``).
    layer : ``"g"`` (compared with MEC) or ``"core"``.
    n_sequences : seeded random walks pooled into the maps and the null's series.
    bin_cm, smooth_cm : bin side and Gaussian smoothing s.d., cm (model maps: 0 by default).
    shuffles : circular shifts per unit for the null (0: none).
    seed : the walks and the shifts.
    arena : box side in m for the walks (default: the run's training arena).
    progress : show progress.
    batch : walks run at once (the walks depend on it; keep it for comparable maps).

    Returns
    -------
    SpatialAnalysis with unit ids ``"g/<index>"``.
    """
    from brainlike.data.trajectories import DT
    from brainlike.evaluation.pathint_maps import load_pathint_run, unit_rate_maps

    _check_common(bin_cm, smooth_cm, shuffles)
    if layer not in ("g", "core"):
        raise ValueError(f"layer is {layer!r}; choose 'g' or 'core'")
    if n_sequences < 1:
        raise ValueError(f"n_sequences is {n_sequences}; it must be at least 1")
    if arena is not None and not arena > 0:
        raise ValueError(f"arena is {arena}; give the box side in m (e.g. 2.2)")
    run_dir = Path(run_dir).expanduser()
    if not (run_dir / "checkpoints" / "last.pt").is_file():
        raise FileNotFoundError(
            f"{run_dir} is not a trained run (no checkpoints/last.pt); train one with "
            "`brainlike train pathint-small -o DIR`"
        )
    model, cfg = load_pathint_run(run_dir)
    if arena is not None:
        cfg = _with_arena(cfg, arena)
    side = float(cfg.data.trajectories.arena)
    with ProgressDisplay(progress) as display:
        task = display.add_task(f"spatial {run_dir.name}: rate maps", 2, unit="pass")
        maps = unit_rate_maps(
            model, cfg, layer=layer, n_sequences=n_sequences, bin_cm=bin_cm, seed=seed, batch=batch
        )
        display.advance(task)
        rates = _smoothed(maps.rates, maps.occupancy, bin_cm, smooth_cm)
        scores, reasons = _map_scores(rates, maps.occupancy, bin_cm)
        display.advance(task)
        nulls = None
        if shuffles:
            pos, act = _model_series(model, cfg, layer, n_sequences, seed, batch)
            times = np.arange(len(pos)) * DT  # episodes concatenated: one series
            parts = _nulls_in_chunks(
                display,
                f"spatial {run_dir.name}: shuffle nulls",
                act,
                (0,),
                seed,
                positions=pos,
                times_s=times,
                arena_size=side,
                scores=("grid", "border", "spatial_information"),
                signal="activity",
                n_shuffles=shuffles,
                min_shift_s=min(MIN_SHIFT_S, 0.25 * len(pos) * DT),
                bin_cm=bin_cm,
                smooth_cm=smooth_cm,
            )
            nulls = _merge_nulls(parts)
    n = rates.shape[0]
    thresholds = _thresholds_of(nulls)
    conventions = _conventions(
        bin_cm, smooth_cm, shuffles, nulls, min_occupancy=0.0, occupancy_unit="samples"
    )
    conventions.update(
        layer=layer,
        n_sequences=n_sequences,
        steps=int(cfg.data.trajectories.steps),
        dt_s=DT,
        arena_m=side,
        seed=seed,
        signal="activity",
        series="the walks' episodes concatenated, times = arange(T) * dt",
    )
    return SpatialAnalysis(
        kind="model",
        name=str(getattr(cfg, "name", "") or run_dir.name),
        source=str(run_dir),
        unit_ids=[f"{layer}/{i}" for i in range(n)],
        maps=rates,
        scores=scores,
        reasons=reasons,
        nulls=nulls,
        fractions=spatial_fractions(scores, thresholds),
        conventions=conventions,
    )


def _thresholds_of(nulls: ShuffleNulls | None) -> dict[str, np.ndarray]:
    if nulls is None:
        return {}
    return {k: v.thresholds[v.percentiles.index(NULL_PERCENTILE)] for k, v in nulls.scores.items()}


def _conventions(bin_cm, smooth_cm, shuffles, nulls, *, min_occupancy, occupancy_unit):
    return {
        "bin_cm": bin_cm,
        "smooth_cm": smooth_cm,
        "min_occupancy": min_occupancy,
        "min_occupancy_unit": occupancy_unit,
        "grid": "mean_annuli (spec §2: max over annuli of mean(c60, c120) - mean(c30, c90, c150))",
        "grid_minmax": "minmax_peak (spec §3: min(c60, c120) - max(c30, c90, c150), BNT)",
        "grid_threshold": GRID_THRESHOLD,
        "border_threshold": BORDER_THRESHOLD,
        "null_percentile": NULL_PERCENTILE,
        "null_scores": [] if nulls is None else list(nulls.scores),
        "shuffles": shuffles,
        "min_shift_s": None if nulls is None else nulls.params["min_shift_s"],
        "null_grid_convention": "mean_annuli",
        "fractions_of": "all units (a NaN score is not a grid or border cell)",
        "spatial_information": "Skaggs, bits per spike (per unit activity for models), no clipping",
    }


# ---------------------------------------------------------------------------------------------
# a recorded (or generated) session


def _load_recording(path: Path):
    from brainlike.data.recordings.spatial import SpatialRecording

    if path.is_dir():
        path = path / "recording.nc"
    if not path.is_file():
        raise FileNotFoundError(
            f"no spatial recording at {str(path)!r}; give a recording .nc (e.g. from "
            "`brainlike simulate OUT --species rat`)"
        )
    try:
        return SpatialRecording.load(path), path
    except (OSError, KeyError, ValueError) as err:
        raise ValueError(
            f"{path} is not a spatial recording ({str(err).splitlines()[0]}); give a "
            "SpatialRecording .nc such as OUT/recording.nc of `brainlike simulate OUT --species rat`"
        ) from None


def analyse_recording(
    path: str | Path,
    *,
    bin_cm: float = 5.0,
    smooth_cm: float = 5.0,
    min_occupancy_s: float = 0.0,
    shuffles: int = 100,
    seed: int = 0,
    min_spikes: int = 10,
    progress: bool = False,
) -> SpatialAnalysis:
    """Spatial analysis of every cell of a spatial recording, animal by animal (spec §2-3).

    Parameters
    ----------
    path : a SpatialRecording ``.nc`` (or a folder holding ``recording.nc``).
    bin_cm, smooth_cm, min_occupancy_s : rate-map bin side (cm), Gaussian s.d. (cm) and
        minimum occupancy per bin (s).
    shuffles : circular shifts per cell for the null (0: none).
    seed : the shifts.
    min_spikes : cells with fewer spikes get NaN scores, with the reason.
    progress : show progress.

    Returns
    -------
    SpatialAnalysis with unit ids ``"animal/cell_id"``.
    """
    _check_common(bin_cm, smooth_cm, shuffles)
    if min_occupancy_s < 0 or min_spikes < 0:
        raise ValueError("min_occupancy_s (s) and min_spikes must be >= 0")
    rec, path = _load_recording(Path(path).expanduser())
    if rec.n_cells == 0:
        raise ValueError(f"{path} holds no cells; nothing to analyse")
    ids, maps, parts, notes = [], [], [], []
    scores: dict[str, list[np.ndarray]] = {}
    reasons: dict[str, list[str]] = {}
    animals = rec.animals
    with ProgressDisplay(progress) as display:
        for a, animal in enumerate(animals):
            track = rec.tracking(animal)
            cells = rec.cells_of(animal)
            counts = rec.spike_counts(animal)
            rm = rec.rate_maps(
                animal, bin_cm=bin_cm, smooth_cm=smooth_cm, min_occupancy_s=min_occupancy_s
            )
            s, r = _map_scores(rm.rates, rm.occupancy, bin_cm)
            hd_ok = track["head_direction"] is not None
            speed_cm_s = track["speed"] * 100.0
            if hd_ok:
                hd = head_direction_tuning(
                    track["head_direction"], counts, track["time"], min_spikes=min_spikes
                )
                s["head_direction"], r["head_direction"] = hd.mean_vector_length, hd.reasons
            else:
                s["head_direction"] = np.full(len(cells), np.nan)
                r["head_direction"] = ["no head direction tracked"] * len(cells)
            sp = speed_scores(speed_cm_s, counts, track["time"], min_spikes=min_spikes)
            s["speed"], r["speed"] = sp.scores, sp.reasons
            few = spike_reasons(counts, "spikes", min_spikes)
            for name in s:  # too few spikes: every score NaN, with the reason
                rs = r.setdefault(name, [""] * len(cells))
                for i, why in enumerate(few):
                    if why:
                        s[name][i] = np.nan
                        rs[i] = why
                scores.setdefault(name, []).append(s[name])
                reasons.setdefault(name, []).extend(rs)
            if any(few):
                notes.append(f"{animal}: {sum(map(bool, few))} cells with < {min_spikes} spikes")
            ids += [f"{animal}/{c}" for c in rec.cell_ids[cells]]
            maps.append(rm.rates)
            if shuffles:
                parts += _nulls_in_chunks(
                    display,
                    f"spatial {animal}: shuffle nulls",
                    counts,
                    (a,),
                    seed,
                    positions=track["position"],
                    times_s=track["time"],
                    arena_size=rec.arena,
                    origin=rec.origin,
                    head_direction_rad=track["head_direction"],
                    speed_cm_s=speed_cm_s,
                    signal="spikes",
                    n_shuffles=shuffles,
                    min_shift_s=min(MIN_SHIFT_S, 0.25 * (track["time"][-1] - track["time"][0])),
                    bin_cm=bin_cm,
                    smooth_cm=smooth_cm,
                    min_occupancy_s=min_occupancy_s,
                    min_spikes=min_spikes,
                )
    shapes = {m.shape[1:] for m in maps}
    if len(shapes) != 1:  # one arena per recording: cannot happen, but say so
        raise ValueError(f"animals' maps differ in shape {sorted(shapes)}")
    nulls = _merge_nulls(parts) if parts else None
    merged = {k: np.concatenate(v) for k, v in scores.items()}
    conventions = _conventions(
        bin_cm, smooth_cm, shuffles, nulls, min_occupancy=min_occupancy_s, occupancy_unit="s"
    )
    conventions.update(seed=seed, min_spikes=min_spikes, signal="spikes", animals=animals)
    return SpatialAnalysis(
        kind="recording",
        name=str(rec.dataset.attrs.get("session", "") or path.stem),
        source=str(path),
        unit_ids=ids,
        maps=np.concatenate(maps),
        scores=merged,
        reasons=reasons,
        nulls=nulls,
        fractions=spatial_fractions(merged, _thresholds_of(nulls)),
        conventions=conventions,
        notes=notes,
    )
