"""Scoring over time: a recurrent model against a time-binned recording (spec: recurrent.md §2).

:func:`score_temporal` (``brainlike score --temporal``) shares the stages of static scoring
(:mod:`brainlike.evaluation.stages`) and differs where the spec does: the model is unrolled to
cover the recording's bins (:func:`_temporal_unroll`), its activations stay time-resolved, one
layer is assigned per area on time-averaged data, and that layer is scored in every bin through
a temporally fixed mapping against the per-bin inter-animal ceiling. The result is a
:class:`TemporalScoringResult`, written with its score-over-time figure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.outputs import write_scores
from brainlike.evaluation.preconditions import (
    ScoringError,
    _check_cross_validation,
    check_split_half,
    check_temporal_preconditions,
    metric_seed,
)
from brainlike.evaluation.score_table import _num
from brainlike.evaluation.scoring_model import ScoringModel, default_layers, load_scoring_model
from brainlike.evaluation.stages import FitSettings, ScoringRun
from brainlike.progress import ProgressDisplay


@dataclass
class TemporalScoringResult:
    """Per-area scores over time of one (recurrent) model on one time-binned recording."""

    model: str
    benchmark: str
    metric: str
    mapping: str
    layers: list[str]  # candidate layers of the assignment
    regions: list[str]
    time_bins: np.ndarray  # (time_bin, 2) ms
    assignment: Any  # LayerAssignment
    scores: dict[str, Any]  # region -> TemporalScore of the assigned layer
    ceilings: dict[str, Any]  # region -> TemporalScore (inter-animal consistency per bin)
    settings: dict[str, Any]
    provenance: dict[str, Any]

    def percent_of_ceiling(self, region: str) -> np.ndarray:
        """The assigned layer's median score per bin as a percentage of the bin's ceiling."""
        return self.scores[region].percent_of_ceiling(self.ceilings[region])

    def rows(self) -> list[dict[str, Any]]:
        """One row per area: its layer, and per bin the score, its s.e.m., ceiling and %."""
        out = []
        for region in self.regions:
            score, ceiling = self.scores[region], self.ceilings[region]
            out.append(
                {
                    "region": region,
                    "layer": self.assignment.layer[region],
                    "best_fit_counts": dict(self.assignment.counts[region]),
                    "time_bin_start": [float(v) for v in self.time_bins[:, 0]],
                    "value": [_num(v) for v in score.median],
                    "error": [_num(v) for v in score.sem],
                    "ceiling": [_num(v) for v in ceiling.median],
                    "ceiling_error": [_num(v) for v in ceiling.sem],
                    "percent_of_ceiling": [_num(v) for v in self.percent_of_ceiling(region)],
                }
            )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able result: settings, the layer assignment, per-bin rows and every score."""
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "metric": self.metric,
            "mapping": self.mapping,
            "temporal": True,
            "layers": self.layers,
            "regions": self.regions,
            "time_bins": self.time_bins.tolist(),
            "settings": self.settings,
            "provenance": self.provenance,
            "assignment": self.assignment.to_dict(),
            "rows": self.rows(),
            "scores": {r: s.to_dict() for r, s in self.scores.items()},
            "ceilings": {r: c.to_dict() for r, c in self.ceilings.items()},
        }


def _temporal_unroll(
    sm: ScoringModel, time_steps: int | None, image_steps: int | None
) -> tuple[int, int | None, bool]:
    """Prepare a recurrent model's unroll for temporal scoring (the one place it is done).

    A model with ``set_schedule`` (a ConvRNN) is set to ``time_steps`` steps with the image
    shown for ``image_steps`` (``None`` keeps the model's own), as spec recurrent.md §1's
    neural comparison needs; a model whose forward takes ``time_steps`` is passed it at
    extraction; any other model runs its own ``time_steps`` and cannot take another.

    Returns
    -------
    (steps, image_steps, adjustable): the unroll length, the steps the image is shown (a
    ``set_schedule`` model's ``t_on``, else ``None``) and whether the length can be changed.
    """
    from brainlike.analysis.activations import (
        _accepts_time_steps,
        model_time_steps,
        resolve_time_steps,
    )

    model = sm.model
    try:
        if time_steps is not None:
            time_steps = resolve_time_steps(model, time_steps)
        if image_steps is not None:
            image_steps = resolve_time_steps(model, image_steps)
    except (TypeError, ValueError) as err:
        raise ScoringError(f"--time-steps / --image-steps: {err}") from None
    if hasattr(model, "set_schedule"):
        try:
            model.set_schedule(time_steps=time_steps, t_on=image_steps)
        except ValueError as err:
            raise ScoringError(f"{sm.name}: {err}") from None
        return model_time_steps(model), getattr(model, "t_on", image_steps), True
    if image_steps is not None:
        raise ScoringError(
            f"--image-steps sets the presentation of a model with set_schedule (a ConvRNN); "
            f"{sm.name} has none, so it shows the image as it was built to: drop --image-steps"
        )
    adjustable = _accepts_time_steps(model)
    try:
        own = model_time_steps(model)
    except ValueError:
        own = None
    if own is None and not adjustable:
        raise ScoringError(
            f"{sm.name} is not a recurrent model brainlike can unroll (no time_steps attribute, "
            "no set_schedule, and its forward takes no time_steps); score it without --temporal"
        )
    if time_steps is None:
        if own is None:
            raise ScoringError(
                f"{sm.name} has no time_steps attribute; give the unroll length with "
                "--time-steps N (at least the recording's number of time bins)"
            )
        return own, None, adjustable
    if not adjustable and time_steps != own:
        raise ScoringError(
            f"{sm.name} runs a fixed {own} steps (it has no set_schedule and its forward "
            f"takes no time_steps), so --time-steps {time_steps} cannot change it; drop "
            "--time-steps"
        )
    return time_steps, None, adjustable


def score_temporal(
    model: str | Path | ScoringModel,
    recording: str | Path,
    *,
    stimuli: str | Path | None = None,
    layers: list[str] | None = None,
    regions: list[str] | None = None,
    metric: str = "noise-corrected",
    mapping: str = "pls",
    n_splits: int = 10,
    train_fraction: float | None = None,
    n_bootstraps: int = 20,
    numerator: str = "halves",
    time_steps: int | None = None,
    image_steps: int | None = None,
    steps_for_bins: list[int] | None = None,
    time_varying: bool = False,
    split_half: str = "unequal",
    seed: int | None = None,
    model_seed: int = 0,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    before_model: Callable[[dict[str, str]], None] | None = None,
    axes: str | list[str] | None = None,
    drop_nan_neuroids: bool = False,
) -> TemporalScoringResult:
    """Score a recurrent model over time against a time-binned recording (recurrent.md §2).

    1. Time-resolved activations of the candidate layers (``time_steps``: given, else the
       model's ``time_steps`` attribute; layers default to the modules run once per step). A
       model with ``set_schedule`` (a ConvRNN) is set to that unroll first, its image shown
       for ``image_steps`` steps (spec recurrent.md §1; the setting stays on the model).
    2. Layer assignment per area on time-averaged responses and features (the layer best for
       the most neuroids; :func:`brainlike.analysis.neural.assign_layers`).
    3. The assigned layer's score in every bin through a temporally fixed mapping
       (:func:`~brainlike.analysis.neural.temporal_predictivity`), next to the per-bin
       inter-animal ceiling (:func:`~brainlike.analysis.neural.temporal_inter_animal_consistency`)
       under the same mapping class.

    Bin ``b`` reads model step ``steps_for_bins[b]`` (default step ``b``: one model step per
    bin from stimulus onset), so the model must run at least as many steps as there are bins.

    Parameters
    ----------
    model, recording, stimuli, layers, regions, mapping, n_splits, n_bootstraps, numerator,
    split_half, seed, model_seed, cache_dir, device, progress, before_model, axes,
    drop_nan_neuroids
        As in :func:`score_model` (``seed`` defaults to 0).
    metric : {"noise-corrected", "plain"}
        Per-bin estimator: spec §4 noise-corrected predictivity, or r / split-half reliability
        (the primate form of recurrent.md §2).
    train_fraction : float, optional
        Default 0.5.
    time_steps : int, optional
        Steps to unroll the model for (default: its ``time_steps`` attribute).
    image_steps : int, optional
        Steps the image is shown before the blank, for a model with ``set_schedule`` (default:
        the model's own ``t_on``; the spec's neural comparison shows it for 10 of 26 steps).
    steps_for_bins : list of int, optional
        Model step read for each bin.
    time_varying : bool
        Fit one map per bin instead of the temporally fixed map (a comparison).
    """
    if metric not in ("noise-corrected", "plain"):
        raise ScoringError(
            f"--temporal scores with --metric noise-corrected or plain; got {metric!r}"
        )
    train_fraction = _check_cross_validation(n_splits, n_bootstraps, train_fraction, 0.5)
    check_split_half(split_half)
    seed = metric_seed(metric, seed)
    fits = FitSettings(
        mapping=mapping,
        n_splits=n_splits,
        train_fraction=train_fraction,
        n_bootstraps=n_bootstraps,
        numerator=numerator,
        split_half=split_half,
        seed=seed,
    )
    run = ScoringRun.open(recording, axes=axes, drop_nan_neuroids=drop_nan_neuroids)
    bins = _time_bins(run)
    run.find_stimuli(regions, stimuli)
    # everything the per-bin fits need from the recording, before a model is loaded or run
    check_temporal_preconditions(run.rec, metric, run.regions, train_fraction)
    sm = model if isinstance(model, ScoringModel) else load_scoring_model(model, seed=model_seed)
    steps, shown, adjustable = _temporal_unroll(sm, time_steps, image_steps)
    _check_steps_cover_bins(sm, steps, adjustable, len(bins), steps_for_bins)
    layer_names = _candidate_layers(sm, layers, steps)
    run.show_model(sm, before_model)
    run.extract(
        layer_names, cache_dir=cache_dir, progress=progress, device=device, time_steps=steps
    )
    assignment, scores, ceilings = _fit_over_time(
        run, fits, bins, metric, time_varying, steps_for_bins, progress
    )
    return TemporalScoringResult(
        model=sm.name,
        benchmark=run.benchmark,
        metric=metric,
        mapping=mapping,
        layers=layer_names,
        regions=run.regions,
        time_bins=bins,
        assignment=assignment,
        scores=scores,
        ceilings=ceilings,
        settings={
            "n_splits": n_splits,
            "train_fraction": train_fraction,
            "n_bootstraps": n_bootstraps,
            "numerator": numerator if metric == "noise-corrected" else None,
            "seed": seed,
            "split_half": split_half,
            **run.epoch_settings(),
            "time_steps": steps,
            "image_steps": shown,
            "steps_for_bins": list(range(len(bins)))
            if steps_for_bins is None
            else list(steps_for_bins),
            "mapping_over_time": "time-varying" if time_varying else "fixed",
            "layer_assignment": "argmax count of best-fit neuroids on time-averaged responses",
            "ceiling": "inter-animal consistency per time bin (pooled source, same mapping)",
            **run.reading,
        },
        provenance=run.provenance(),
    )


def _time_bins(run: ScoringRun) -> np.ndarray:
    """The recording's time bins, ``(time_bin, 2)`` start and end in ms (refused without)."""
    if "time_bin" not in run.rec.dims:
        raise ScoringError(
            f"{run.recording.name} has no time bins; --temporal needs a recording with a "
            "time_bin dim (score it without --temporal)"
        )
    rec = run.rec
    return np.stack(
        [rec.coords["time_bin_start"].values, rec.coords["time_bin_end"].values], axis=1
    ).astype(float)


def _check_steps_cover_bins(
    sm: ScoringModel, steps: int, adjustable: bool, n_bins: int, steps_for_bins: list[int] | None
) -> None:
    """Bin b reads step b unless ``steps_for_bins`` says otherwise: the unroll must reach the
    last bin."""
    if steps_for_bins is None and steps < n_bins:
        if adjustable:
            raise ScoringError(
                f"the recording has {n_bins} time bins but {sm.name} runs {steps} steps; bin "
                f"b reads step b, so unroll at least {n_bins} steps "
                f"(--time-steps {n_bins})"
            )
        raise ScoringError(
            f"the recording has {n_bins} time bins but {sm.name} runs a fixed {steps} steps "
            "(it has no set_schedule and its forward takes no time_steps); bin b reads step b, "
            f"so score it on a recording with at most {steps} bins (brainlike simulate "
            f"--dynamic --steps {steps}), or map bins to steps with steps_for_bins in Python"
        )


def _candidate_layers(sm: ScoringModel, layers: list[str] | None, steps: int) -> list[str]:
    """The layers the assignment chooses from: given, else the modules run once per step."""
    input_shape = (sm.in_channels, sm.input_size, sm.input_size)
    layer_names = list(layers) if layers else default_layers(sm.model, input_shape, steps)
    if not layer_names:
        raise ScoringError(
            f"{sm.name} has no module that runs exactly once per step over {steps} steps; name "
            "modules of its recurrent loop with --layers (list_layers(model, time_steps="
            f"{steps}) in brainlike.analysis.activations lists them)"
        )
    return layer_names


def _fit_over_time(
    run: ScoringRun,
    fits: FitSettings,
    bins: np.ndarray,
    metric: str,
    time_varying: bool,
    steps_for_bins: list[int] | None,
    progress: bool,
) -> tuple[Any, dict[str, Any], dict[str, Any]]:
    """Stage 4 over time: one layer assigned per area on time-averaged data, then per area the
    per-bin ceiling and the assigned layer's per-bin score.

    Returns ``(assignment, scores, ceilings)``: the LayerAssignment, region -> TemporalScore of
    the assigned layer and region -> TemporalScore of the inter-animal consistency.
    """
    from brainlike.analysis import neural
    from brainlike.data.recordings import responses, select_neuroids

    assert run.model is not None
    n_stim, n_bins = len(run.stimulus_ids), len(bins)
    features = {layer: np.asarray(run.activations[layer]) for layer in run.layers}
    neuroid_region = (
        select_neuroids(run.rec, region=run.regions).coords["region"].values.astype(str)
    )
    Y_all = responses(run.rec, region=run.regions)
    assignment = neural.assign_layers(
        features,
        Y_all,
        neuroid_region,
        {lay: fits.mapping_for(f.shape[1], n_stim) for lay, f in features.items()},
        steps_for_bins=steps_for_bins,
        train_fraction=fits.train_fraction,
        **fits.common,
    )
    scores: dict[str, Any] = {}
    ceilings: dict[str, Any] = {}
    progress_bar = ProgressDisplay(progress, transient=True)
    with progress_bar:
        task = progress_bar.add_task(
            f"score {run.model.name} over time: ceilings and fits",
            total=2 * len(run.regions),
            unit="fit",
        )
        for region in run.regions:
            Y, animal = run.area(region)
            ceilings[region] = neural.temporal_inter_animal_consistency(
                Y,
                animal,
                fits.ceiling_mapping(animal, n_stim),
                time_bins=bins,
                design="pooled",
                train_fraction=fits.train_fraction,
                n_bootstraps=fits.n_bootstraps,
                numerator=fits.numerator,
                split_half=fits.split_half,
                **fits.common,
            )
            progress_bar.advance(task)
            layer = assignment.layer[region]
            X = features[layer]
            # the fixed map is fit on (training stimulus, bin) rows
            rows = n_stim if time_varying else n_stim * n_bins
            layer_mapping = fits.mapping_for(X.shape[1], rows)
            extra = (
                {"numerator": fits.numerator, "animal": animal}
                if metric == "noise-corrected"
                else {}
            )
            score = neural.temporal_predictivity(
                X,
                Y,
                layer_mapping,
                estimator="noise_corrected" if metric == "noise-corrected" else "plain",
                time_varying=time_varying,
                steps_for_bins=steps_for_bins,
                train_fraction=fits.train_fraction,
                n_bootstraps=fits.n_bootstraps,
                time_bins=bins,
                split_half=fits.split_half,
                **extra,
                **fits.common,
            )
            score.provenance.update({"layer": layer, "region": region, "model": run.model.name})
            scores[region] = score
            progress_bar.advance(task)
    return assignment, scores, ceilings


def save_temporal_scoring(
    result: TemporalScoringResult, out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, str]:
    """Write ``scores.json`` and the score-over-time figure; returns their paths.

    An existing ``scores.json`` is replaced only with ``overwrite`` (else :class:`ScoringError`).
    """
    return write_scores(result, out_dir, overwrite, "temporal_profile.png", plot_temporal_profile)


def render_temporal_table(payload: dict[str, Any]) -> Any:
    """A rich table of a temporal result (``TemporalScoringResult.to_dict()``): one row per
    area (its assigned layer), one column per time bin, the median ceiled score (score /
    ceiling) in each cell."""
    from rich.table import Table

    settings = payload["settings"]
    table = Table(
        title=f"{payload['model']} on {payload['benchmark']}: {payload['metric']}, "
        f"{payload['mapping']} ({settings['mapping_over_time']} over time), "
        f"{settings['n_splits']} splits; score / ceiling per bin"
    )
    table.add_column("area (layer)", no_wrap=True)
    for start, _ in payload["time_bins"]:
        table.add_column(f"{start:g}", justify="right", no_wrap=True)
    for row in payload["rows"]:
        cells = ["-" if v is None else f"{v / 100:.2f}" for v in row["percent_of_ceiling"]]
        table.add_row(f"{row['region']} ({row['layer']})", *cells)
    table.caption = "columns: bin start (ms after stimulus onset); - : no ceiling in that bin"
    return table


def plot_temporal_profile(result: TemporalScoringResult, path: str | Path) -> Path:
    """Score vs time per area (median ± s.e.m.; ceiling dashed with its band) and % of ceiling."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = result.time_bins.mean(axis=1)
    fig, (ax, ax_pct) = plt.subplots(1, 2, figsize=(10, 3.6), dpi=120)
    for i, region in enumerate(result.regions):
        colour = f"C{i}"
        score, ceiling = result.scores[region], result.ceilings[region]
        label = f"{region} ({result.assignment.layer[region]})"
        ax.errorbar(t, score.median, yerr=score.sem, marker="o", ms=3, color=colour, label=label)
        c, ce = ceiling.median, np.nan_to_num(ceiling.sem)
        ax.plot(t, c, ls="--", lw=1, color=colour)
        ax.fill_between(t, c - ce, c + ce, color=colour, alpha=0.15, lw=0)
        ax_pct.plot(
            t, result.percent_of_ceiling(region), marker="o", ms=3, color=colour, label=label
        )
    ax.set_xlabel("time after stimulus onset (ms, bin centre)")
    ax.set_ylabel(
        "noise-corrected predictivity" if result.metric == "noise-corrected" else "r / reliability"
    )
    ax.set_title(f"{result.model} on {result.benchmark}; dashed: ceiling", fontsize=9)
    ax.legend(fontsize=8)
    ax_pct.axhline(100, color="k", lw=0.8, ls=":")
    ax_pct.set_xlabel("time after stimulus onset (ms, bin centre)")
    ax_pct.set_ylabel("% of inter-animal ceiling")
    ax_pct.set_title(
        f"{result.mapping}, {result.settings['mapping_over_time']} mapping", fontsize=9
    )
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------------------------------------
# Outputs
