"""Where scores go: the score folder, ``scores.json`` and its figure, the results database.

A score's default folder is keyed by model, recording (name and content hash) and way of
scoring, so two recordings or two metrics never share a ``scores.json``; an existing one is
replaced only when asked. Every score goes into the results database with the settings that
change what it means (its variant), so the leaderboard never compares different variants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from brainlike.evaluation.preconditions import ScoringError
from brainlike.evaluation.score_table import ScoringResult


def recording_digest(path: str | Path) -> str:
    """sha256 of a recording's file (every file under it, by relative path, for a folder).

    Part of a benchmark's identity: two recordings that share a name but not their content
    are two benchmarks in the results database and in the score folders.
    """
    path = Path(path).expanduser()
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        if path.is_dir():
            h.update(f.relative_to(path).as_posix().encode() + b"\0")
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def score_output_dir(
    model: str,
    benchmark: str,
    recording_sha256: str,
    metric: str,
    mapping: str,
    *,
    temporal: bool = False,
    root: str | Path = Path("runs") / "scores",
) -> Path:
    """Default folder of a score: ``root/<model>/<benchmark>-<hash8>/<metric>-<mapping>[-temporal]``.

    Keyed by model, recording (name and the first 8 hex digits of its sha256) and way of
    scoring, so scoring one model on a second recording, or with another metric, never lands
    on the first one's ``scores.json``.
    """
    how = f"{metric}-{mapping}" + ("-temporal" if temporal else "")
    return Path(root) / _slug(model) / f"{_slug(benchmark)}-{recording_sha256[:8]}" / _slug(how)


def _slug(text: str) -> str:
    """A folder name from free text (letters, digits, ``_.-`` kept; other runs -> ``_``)."""
    import re

    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_.") or "unnamed"


def check_output_free(out_dir: str | Path, overwrite: bool) -> Path:
    """``out_dir/scores.json``, refused (:class:`ScoringError`) when it exists and not
    ``overwrite``."""
    target = Path(out_dir) / "scores.json"
    if target.exists() and not overwrite:
        raise ScoringError(
            f"{target} exists; pass --overwrite to replace it or --out to write elsewhere"
        )
    return target


def write_scores(
    result: Any, out_dir: str | Path, overwrite: bool, figure: str, plot: Callable[..., Path]
) -> dict[str, str]:
    """Write ``result.to_dict()`` as ``out_dir/scores.json`` and ``plot(result, out_dir/figure)``;
    returns their paths (``scores``, ``profile``).

    An existing ``scores.json`` is replaced only with ``overwrite`` (else :class:`ScoringError`).
    """
    from brainlike.train.checkpoint import atomic_write_json

    out = Path(out_dir)
    check_output_free(out, overwrite)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"scores": str(atomic_write_json(out / "scores.json", result.to_dict()))}
    paths["profile"] = str(plot(result, out / figure))
    return paths


#: settings that change how precisely a score is estimated, or that are recorded in a column
#: of their own, but not what the score means; every other setting is part of the variant
SAMPLING_SETTINGS = (
    "n_splits",
    "n_bootstraps",
    "seed",
    "convention",
    "best_layer_criterion",
    "model_time_steps_averaged",
    # dropping all-NaN neuroids changes no number (such a recording is refused otherwise)
    "drop_nan_neuroids",
    "nan_neuroids_dropped",
    # which checkpoint was scored belongs to the model, not to the benchmark
    "checkpoint_epoch",
    "checkpoint_total_epochs",
    # areas without an inter-animal ceiling show it as missing in their own rows
    "no_ceiling",
)


def score_variant(settings: dict[str, Any]) -> dict[str, Any]:
    """The settings that change what a score means (ceiling kind, numerator, train fraction,
    time window, ...): every setting except :data:`SAMPLING_SETTINGS` and those that do not
    apply (``None``). Stored with each score so the leaderboard never puts numbers of
    different variants side by side."""
    return {
        k: v for k, v in sorted(settings.items()) if k not in SAMPLING_SETTINGS and v is not None
    }


def record_scores(result: ScoringResult, db: Any) -> int:
    """Write every score of ``result`` into the results database; returns the number of rows.

    Each row holds the same raw, ceiling and ceiled numbers as ``scores.json`` (value = raw,
    error = raw error; the ceiling's and ceiled value's errors go to the row's extra fields),
    the recording's sha256, the mapping, the ceiled convention (``ratio`` = raw / ceiling for
    the noise-corrected and plain metrics), :func:`score_variant` and, for a trained model, its
    checkpoint with the epoch scored and whether the run was complete.
    """
    rows = []
    variant = score_variant(result.settings)
    details = result.provenance.get("model_details") or {}
    for (region, layer), s in result.scores.items():
        m = result.measures(region, layer)
        convention = s.convention if result.metric == "brainscore" else "ratio"
        d = s.to_dict()
        d.update(value=m["raw"], error=m["raw_error"], ceiling=m["ceiling"], ceiled=m["ceiled"])
        d["convention"] = convention
        rows.append(
            {
                "model": result.model,
                "benchmark": result.benchmark,
                "recording_hash": result.provenance.get("recording_sha256"),
                "region": region,
                "layer": layer,
                "score": d,
                "mapping": result.mapping,
                "convention": convention,
                "variant": variant,
                "model_hash": result.provenance.get("weights_sha256"),
                # which weights: a killed run's partial checkpoint says so in its row
                "checkpoint": details.get("checkpoint"),
                "checkpoint_epoch": details.get("epoch"),
                "checkpoint_complete": details.get("complete"),
                "ceiling_error": m["ceiling_error"],
                "ceiled_error": m["ceiled_error"],
            }
        )
    db.add_scores(rows)
    return len(rows)
