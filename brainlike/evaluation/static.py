"""Static scoring: every chosen layer of a model against every area of a recording.

:func:`score_model` is the orchestration behind ``brainlike score``: it resolves a model (a
registry name, a checkpoint or a run directory), shows it the recording's stimuli with the
preprocessing it was trained with, extracts the chosen layers (cached on disk), and scores
every layer against every area of the recording with the estimators of
:mod:`brainlike.analysis.neural`, each layer's score next to the ceiling of its area under the
same mapping class (spec: neural-evaluation.md §4-5, §10). Its stages are those of
:mod:`brainlike.evaluation.stages`; the result is a
:class:`~brainlike.evaluation.score_table.ScoringResult`, written by :func:`save_scoring` with
its per-layer profile figure.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.evaluation.outputs import write_scores
from brainlike.evaluation.preconditions import (
    CONVENTIONS,
    METRICS,
    ScoringError,
    _check_cross_validation,
    check_metric_preconditions,
    check_split_half,
    metric_seed,
)
from brainlike.evaluation.score_table import ScoringResult, _num
from brainlike.evaluation.scoring_model import ScoringModel, default_layers, load_scoring_model
from brainlike.evaluation.stages import FitSettings, ScoringRun
from brainlike.progress import ProgressDisplay


def score_model(
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
    convention: str = "r2_over_ceiling",
    time_window: tuple[float, float] | None = None,
    numerator: str = "halves",
    split_half: str = "unequal",
    seed: int | None = None,
    model_seed: int = 0,
    cache_dir: str | Path | None = None,
    device: str = "cpu",
    progress: bool = True,
    before_model: Callable[[dict[str, str]], None] | None = None,
    axes: str | list[str] | None = None,
    drop_nan_neuroids: bool = False,
) -> ScoringResult:
    """Score every chosen layer of ``model`` against every area of ``recording``.

    Parameters
    ----------
    model : str, Path or ScoringModel
        Run directory, checkpoint, registry name (see :func:`load_scoring_model`) or a loaded
        model.
    recording : str or Path
        ``.nc`` (BrainIO/Brain-Score assembly), ``.nwb``, ``.npz`` or ``.npy`` recording.
    stimuli : str or Path, optional
        Stimulus-set CSV (default: found next to the recording).
    layers : list of str, optional
        Module names to score (default :func:`default_layers`).
    regions : list of str, optional
        Areas to score (default every region of the recording).
    metric : str
        ``"noise-corrected"`` (spec §4, mouse-work form; ceiling = pooled inter-animal
        consistency, §5), ``"plain"`` (r / split-half reliability, primate form) or
        ``"brainscore"`` (spec §10: raw r, internal-consistency ceiling, ceiled by
        ``convention``).
    mapping : str
        Mapping class: pls, ridge, ridgecv, linreg, one_to_one, or rsa (noise-corrected
        RSA per animal against the inter-animal RSA ceiling; spec §6; noise-corrected metric
        only).
    n_splits, train_fraction : int, float
        Cross-validation (train fraction default 0.5, or 0.9 for ``brainscore``).
    n_bootstraps : int
        Random trial halvings (bootstraps) of the noise-corrected estimator and of the
        inter-animal ceiling: 20 by default to keep scoring fast, where the spec's default is
        100. The plain metric's per-neuroid reliability always uses 100; the brainscore
        metric's ceiling uses Brain-Score's 10 halvings.
    numerator : str
        Noise-corrected estimators only. ``"halves"`` is the spec §4 formula (half-trial
        numerator over Spearman-Brown-corrected terms; a perfect model of noisy data scores
        slightly below 1, by the same factor as the ceiling), ``"full"`` the unbiased form with
        a full-trial numerator.
    time_window : (start_ms, end_ms), optional
        Average time bins overlapping this window (default: all bins) for time-binned data; an
        NWB file's spikes are counted in this window after each onset (default 70-170 ms).
    split_half : {"unequal", "equal"}
        How a stimulus with an odd number ``n`` of trials is halved (see
        :func:`brainlike.analysis.neural.split_half_reliability`): ``"unequal"`` (default)
        averages ``(n - 1) / 2`` trials against the other ``(n + 1) / 2``; ``"equal"`` leaves
        one random trial out so both halves hold ``(n - 1) / 2``. Even counts are unaffected.
    seed : int, optional
        Seed of splits, trial halvings and ceiling halvings. Default: the metric's convention,
        1 for ``brainscore`` (as Brain-Score and :func:`~brainlike.analysis.neural.
        brainscore_predictivity`) and 0 otherwise; the seed used is in ``settings["seed"]``.
    model_seed : int
        Seed of a registry model's random weights.
    cache_dir : str or Path, optional
        Activation cache (default :func:`default_cache_dir`).
    device : str
        Where the model runs to extract activations (``"cpu"``, ``"cuda"``, ``"auto"``: the
        GPU when there is one); mappings run on the CPU.
    before_model : callable, optional
        Called with ``{"model", "benchmark", "recording_sha256"}`` once the recording and the
        model are loaded and before the model sees any image (e.g. to refuse an existing
        output folder before the expensive part); an exception it raises stops the scoring.
    axes : str or list of str, optional
        A bare ``.npy`` recording's axis order (see :func:`brainlike.data.recordings.read_npy`).
    drop_nan_neuroids : bool
        Drop neuroids without any non-NaN response (recorded in the settings with their count)
        instead of refusing the recording.
    """
    _check_request(metric, convention, split_half)
    seed = metric_seed(metric, seed)
    fits = FitSettings(
        mapping=mapping,
        n_splits=n_splits,
        train_fraction=_check_cross_validation(
            n_splits, n_bootstraps, train_fraction, 0.9 if metric == "brainscore" else 0.5
        ),
        n_bootstraps=n_bootstraps,
        numerator=numerator,
        split_half=split_half,
        seed=seed,
    )
    run = _open_recording(recording, time_window, axes, drop_nan_neuroids)
    run.find_stimuli(regions, stimuli)
    # everything the metric needs from the recording, before a model is loaded or run
    check_metric_preconditions(run.rec, metric, run.regions, fits.train_fraction)
    sm = model if isinstance(model, ScoringModel) else load_scoring_model(model, seed=model_seed)
    run.show_model(sm, before_model)
    steps = _extract(run, layers, cache_dir=cache_dir, progress=progress, device=device)
    scores, ceilings = _fit_areas(run, fits, metric, convention, progress)
    assert run.model is not None
    return ScoringResult(
        model=run.model.name,
        benchmark=run.benchmark,
        metric=metric,
        mapping=mapping,
        layers=run.layers,
        regions=run.regions,
        scores=scores,
        ceilings=ceilings,
        settings={
            "n_splits": n_splits,
            "train_fraction": fits.train_fraction,
            "n_bootstraps": n_bootstraps,
            "convention": convention if metric == "brainscore" else None,
            "time_window": list(time_window) if time_window else None,
            "numerator": numerator if metric == "noise-corrected" else None,
            "seed": seed,
            "split_half": split_half,
            **run.epoch_settings(),
            "model_time_steps_averaged": steps,
            "ceiling": "internal consistency (split-half, SB)"
            if metric == "brainscore"
            else "inter-animal consistency (pooled source, same mapping)",
            **run.reading,
            "no_ceiling": [r for r in run.regions if ceilings[r].parameters.get("skipped")],
        },
        provenance=run.provenance(),
    )


def _check_request(metric: str, convention: str, split_half: str) -> None:
    """Refuse a metric, convention or split-half convention that score_model does not know."""
    if metric not in METRICS:
        raise ScoringError(f"unknown metric {metric!r}; choose one of {', '.join(METRICS)}")
    if convention not in CONVENTIONS:
        raise ScoringError(
            f"unknown convention {convention!r}; choose one of {', '.join(CONVENTIONS)}"
        )
    check_split_half(split_half)


def _open_recording(
    recording: str | Path,
    time_window: tuple[float, float] | None,
    axes: str | list[str] | None,
    drop_nan_neuroids: bool,
) -> ScoringRun:
    """Stage 1: the recording, read and checked, its time bins averaged (over ``time_window``
    when given)."""
    nwb_window = Path(recording).expanduser().suffix.lower() == ".nwb" and time_window is not None
    # spike times have no bins to average: an NWB file is counted in the window itself
    window_option = {"time_bins": (tuple(time_window),)} if nwb_window else {}
    run = ScoringRun.open(
        recording, axes=axes, drop_nan_neuroids=drop_nan_neuroids, **window_option
    )
    if "time_bin" in run.rec.dims or (time_window is not None and not nwb_window):
        run.rec = _average_time(run.rec, time_window)
    return run


def _average_time(rec: Any, window: tuple[float, float] | None) -> Any:
    """Average the time bins that overlap ``window`` (all bins when None)."""
    from brainlike.data.recordings import average_time

    if "time_bin" not in rec.dims:
        raise ScoringError("--time-window was given but the recording has no time bins")
    if window is None:
        return rec.mean("time_bin", skipna=False, keep_attrs=True)
    return average_time(rec, window[0], window[1], overlapping=True)


def _extract(
    run: ScoringRun,
    layers: list[str] | None,
    *,
    cache_dir: str | Path | None,
    progress: bool,
    device: str,
) -> int | None:
    """Stage 3: the chosen layers' activations (default :func:`default_layers`); returns the
    unroll length of a recurrent model, whose activations are averaged over it (else None)."""
    sm = run.model
    assert sm is not None
    # A recurrent model (one with ``time_steps``) against a static recording: its per-step
    # layers, each averaged over the whole unroll (spec recurrent.md §2 assigns layers on
    # time-averaged responses).
    steps = getattr(sm.model, "time_steps", None)
    steps = steps if isinstance(steps, int) and not isinstance(steps, bool) and steps > 0 else None
    layer_names = (
        list(layers)
        if layers
        else default_layers(sm.model, (sm.in_channels, sm.input_size, sm.input_size), steps)
    )
    run.extract(
        layer_names, cache_dir=cache_dir, progress=progress, device=device, time_steps=steps
    )
    if steps is not None:
        run.activations = {
            name: np.asarray(run.activations[name]).mean(axis=-1) for name in layer_names
        }
    return steps


def _fit_areas(
    run: ScoringRun, fits: FitSettings, metric: str, convention: str, progress: bool
) -> tuple[dict[tuple[str, str], Any], dict[str, Any]]:
    """Stage 4: per area its ceiling, then every layer's cross-validated score against it.

    Returns ``(scores, ceilings)``: (region, layer) -> Score and region -> Score.
    """
    from brainlike.analysis import neural

    assert run.model is not None
    labels = None
    if "object_name" in run.rec.coords:
        labels = np.asarray([str(v) for v in run.rec.coords["object_name"].values])
    scores: dict[tuple[str, str], Any] = {}
    ceilings: dict[str, Any] = {}
    progress_bar = ProgressDisplay(progress, transient=True)
    with progress_bar:
        task = progress_bar.add_task(
            f"score {run.model.name}: ceilings and layer fits",
            total=len(run.regions) * (len(run.layers) + (metric != "brainscore")),
            unit="fit",
        )
        for region in run.regions:
            Y, animal = run.area(region)
            if metric == "brainscore":
                ceilings[region] = neural.brainscore_internal_consistency(
                    Y, seed=fits.seed, split_half=fits.split_half
                )
            else:
                ceilings[region] = _ceiling(neural, Y, animal, fits)
                progress_bar.advance(task)
            for layer in run.layers:
                X = np.asarray(run.activations[layer])
                s = _layer_score(
                    neural, X, Y, animal, labels, ceilings[region], metric, convention, fits
                )
                s.provenance.update({"layer": layer, "region": region, "model": run.model.name})
                scores[(region, layer)] = s
                progress_bar.advance(task)
    return scores, ceilings


def _layer_score(
    neural: Any,
    X: np.ndarray,
    Y: np.ndarray,
    animal: np.ndarray,
    labels: np.ndarray | None,
    ceiling: Any,
    metric: str,
    convention: str,
    fits: FitSettings,
) -> Any:
    """One layer's cross-validated score against one area, by ``metric``."""
    layer_mapping = fits.mapping_for(X.shape[1], X.shape[0])
    if layer_mapping == "rsa":
        if metric != "noise-corrected":
            raise ScoringError(
                f"mapping rsa is scored with the noise-corrected metric (spec §6), not {metric}; "
                "leave --metric at noise-corrected or pick a regression mapping"
            )
        # spec: neural-evaluation.md §6, noise-corrected RSA per animal, median over animals;
        # its ceiling is the inter-animal RSA of the same form (_ceiling, mapping "rsa")
        return neural.noise_corrected_rsa(
            X,
            Y,
            n_bootstraps=fits.n_bootstraps,
            animal=animal,
            seed=fits.seed,
            numerator=fits.numerator,
            split_half=fits.split_half,
        )
    if metric == "noise-corrected":
        s = neural.noise_corrected_predictivity(
            X,
            Y,
            mapping=layer_mapping,
            train_fraction=fits.train_fraction,
            n_bootstraps=fits.n_bootstraps,
            animal=animal,
            numerator=fits.numerator,
            split_half=fits.split_half,
            **fits.common,
        )
    elif metric == "plain":
        s = neural.plain_predictivity(
            X,
            Y,
            mapping=layer_mapping,
            train_fraction=fits.train_fraction,
            split_half=fits.split_half,
            **fits.common,
        )
    else:
        s = neural.brainscore_predictivity(
            X,
            Y,
            mapping=layer_mapping,
            labels=labels,
            train_size=fits.train_fraction,
            ceiling=ceiling,
            convention=convention,
            **fits.common,
        )
        s.parameters["split_half"] = fits.split_half  # of its ceiling
    if not isinstance(layer_mapping, str):
        s.parameters["mapping"] = f"pls-{layer_mapping.n_components}"
    return s


def _ceiling(neural: Any, Y: np.ndarray, animal: np.ndarray, fits: FitSettings) -> Any:
    """The pooled inter-animal consistency of one area (NaN for an area with one animal)."""
    if len(set(animal)) < 2:
        # only the plain metric gets here (the noise-corrected one is refused before the model
        # runs): each neuroid's reliability already divides its r; there is no animal to
        # compare with
        from brainlike.analysis.score import Score

        return Score(
            value=float("nan"),
            metric="inter_animal_consistency",
            parameters={"skipped": "one animal in this area"},
            provenance={"n_animals": 1},
        )
    result = neural.inter_animal_consistency(
        Y,
        animal,
        mapping=fits.ceiling_mapping(animal, Y.shape[0]),
        design="pooled",
        train_fraction=fits.train_fraction,
        n_bootstraps=fits.n_bootstraps,
        numerator=fits.numerator,
        split_half=fits.split_half,
        **fits.common,
    )
    return result.score


# ---------------------------------------------------------------------------------------------
# Outputs


def save_scoring(
    result: ScoringResult, out_dir: str | Path, *, overwrite: bool = False
) -> dict[str, str]:
    """Write ``scores.json`` and the per-layer profile figure; returns their paths.

    An existing ``scores.json`` is replaced only with ``overwrite`` (else :class:`ScoringError`).
    """
    return write_scores(result, out_dir, overwrite, "layer_profile.png", plot_layer_profile)


def plot_layer_profile(result: ScoringResult, path: str | Path) -> Path:
    """Score of every layer per area with its error bar (brainscore: the ceiled score and its
    error; otherwise the raw score and its error), the ceiling as a band, the best layer as a
    star and the layers indistinguishable from it as open circles."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(result.layers) + 3), 3.6), dpi=120)
    x = np.arange(len(result.layers))
    for i, region in enumerate(result.regions):
        colour = f"C{i}"
        vals = np.array([result._value(region, lay) for lay in result.layers], float)
        which = "ceiled_error" if result.metric == "brainscore" else "raw_error"
        errs = np.array(
            [result.measures(region, lay)[which] or 0.0 for lay in result.layers], float
        )
        ax.errorbar(x, vals, yerr=errs, marker="o", color=colour, label=region, capsize=2)
        tied = [result.layers.index(lay) for lay in result.indistinguishable_layers(region)]
        ax.plot(x[tied], vals[tied], ls="", marker="o", ms=10, mfc="none", mec=colour)
        if result.metric != "brainscore":
            c = result.ceilings[region]
            if c.value is not None and np.isfinite(c.value):
                err = _num(c.error) or 0.0
                ax.axhspan(c.value - err, c.value + err, color=colour, alpha=0.15)
                ax.axhline(c.value, color=colour, ls="--", lw=1)
        best = result.best_layer(region)
        if best is not None:
            j = result.layers.index(best)
            ax.plot(x[j], vals[j], marker="*", ms=14, color=colour, mec="k")
    ax.set_xticks(x)
    ax.set_xticklabels(result.layers, rotation=45, ha="right", fontsize=8)
    ylabel = {
        "noise-corrected": "noise-corrected predictivity",
        "plain": "r / split-half reliability",
        "brainscore": f"ceiled score ({result.settings.get('convention')})",
    }[result.metric]
    ax.set_ylabel(ylabel)
    ax.set_title(
        f"{result.model} on {result.benchmark} ({result.mapping}); dashed: ceiling; "
        "*: best, o: not distinguishable from it",
        fontsize=9,
    )
    ax.legend(fontsize=8)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path
