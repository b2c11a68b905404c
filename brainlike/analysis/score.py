"""A score: one number with its uncertainty, its ceiling and everything needed to redo it.

Every scoring function in :mod:`brainlike.analysis.neural` returns a :class:`Score`. It carries
the centre value (e.g. the median over neuroids), its error (s.e.m. over neuroids or standard
error over splits; the producing function says which in ``provenance["error"]``), the ceiling
it was compared against, the ceiled value with the name of the convention that produced it,
the raw per-neuroid (or per-animal) values, the per-split values, and provenance (package
version, metric, data sizes, trial counts) plus the parameters of the call.

``to_dict`` gives a JSON-safe dict (NaN and inf -> ``None``, arrays -> lists) and
``from_dict`` reads it back, so scores can be stored in the results database or a file.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

__all__ = ["Score", "package_version"]


def package_version() -> str:
    """The installed version of brainlike (``brainlike.__version__``, else package metadata)."""
    try:
        import brainlike

        version = getattr(brainlike, "__version__", None)
        if version:
            return str(version)
    except ImportError:  # pragma: no cover - brainlike is always importable from here
        pass
    try:
        from importlib.metadata import version as _metadata_version

        return _metadata_version("brainlike")
    except Exception:  # pragma: no cover - only when not installed at all
        return "unknown"


def _json_safe(value: Any) -> Any:
    """Recursively convert numpy types and non-finite floats into JSON-safe Python values."""
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, np.ndarray):
        return [_json_safe(v) for v in value.tolist()]
    if isinstance(value, np.generic):
        return _json_safe(value.item())
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, int):
        return value
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return str(value)


def _float_or_nan(value: Any) -> float:
    return math.nan if value is None else float(value)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_array(value: Any) -> np.ndarray | None:
    if value is None:
        return None
    # JSON stores NaN as null: turn every None back into NaN, keeping nesting.
    arr = np.array(value, dtype=object)
    arr[np.equal(arr, None)] = math.nan
    return arr.astype(float)


@dataclass
class Score:
    """A score with its error, ceiling, raw values and provenance.

    Parameters
    ----------
    value : float
        The centre value (e.g. median over neuroids of the per-neuroid scores).
    error : float
        Its uncertainty; what kind (s.e.m. over neuroids, standard error over splits, ...) is
        recorded in ``provenance["error"]`` by the function that made the score.
    ceiling : float or None
        The ceiling this score is judged against (e.g. inter-animal consistency or Brain-Score
        internal consistency); ``None`` when there is none.
    ceiled : float or None
        ``value`` expressed relative to ``ceiling`` under ``convention``.
    convention : str
        Name of the ceiling convention that produced ``ceiled`` (e.g. ``"r2_over_ceiling"``,
        ``"ratio"``, ``"noise_corrected"``); empty when not ceiled.
    metric : str
        Which estimator produced the value (e.g. ``"noise_corrected_predictivity"``).
    raw : ndarray or None
        Per-neuroid (or per-animal) values the centre value was computed from, shape (neuroid,).
    per_split : ndarray or None
        One value per train/test split (or halving), shape (split,).
    provenance : dict
        Package version, data sizes, trial counts, how the error was computed.
    parameters : dict
        The arguments of the call (mapping, splits, bootstraps, seed, ...).
    """

    value: float
    error: float = math.nan
    ceiling: float | None = None
    ceiled: float | None = None
    convention: str = ""
    metric: str = ""
    raw: np.ndarray | None = None
    per_split: np.ndarray | None = None
    provenance: dict = field(default_factory=dict)
    parameters: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.value = float(self.value)
        self.error = _float_or_nan(self.error)
        self.ceiling = _optional_float(self.ceiling)
        self.ceiled = _optional_float(self.ceiled)
        if self.raw is not None:
            self.raw = np.asarray(self.raw, dtype=float)
        if self.per_split is not None:
            self.per_split = np.asarray(self.per_split, dtype=float)
        self.provenance = dict(self.provenance)
        self.provenance.setdefault("brainlike_version", package_version())
        self.parameters = dict(self.parameters)

    @property
    def percent_of_ceiling(self) -> float | None:
        """``100 * ceiled`` (or ``100 * value / ceiling`` when only the ceiling is set)."""
        if self.ceiled is not None:
            return 100.0 * self.ceiled
        if self.ceiling is not None and self.ceiling != 0:
            return 100.0 * self.value / self.ceiling
        return None

    def with_ceiling(self, ceiling: float, ceiled: float, convention: str) -> Score:
        """A copy with ``ceiling``, ``ceiled`` and ``convention`` set."""
        return replace(
            self,
            ceiling=float(ceiling),
            ceiled=float(ceiled),
            convention=convention,
            provenance=dict(self.provenance),
            parameters=dict(self.parameters),
        )

    def to_dict(self) -> dict:
        """A JSON-serialisable dict: NaN/inf -> ``None``, arrays -> (nested) lists."""
        return {f.name: _json_safe(getattr(self, f.name)) for f in fields(self)}

    @classmethod
    def from_dict(cls, data: Mapping) -> Score:
        """Rebuild a score written by :meth:`to_dict` (``None`` in value/error/arrays -> NaN)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(
                f"unknown Score field(s) {sorted(unknown)}; expected a subset of {sorted(known)}"
            )
        if "value" not in data:
            raise ValueError("a Score dict needs at least 'value'")
        return cls(
            value=_float_or_nan(data["value"]),
            error=_float_or_nan(data.get("error")),
            ceiling=data.get("ceiling"),
            ceiled=data.get("ceiled"),
            convention=data.get("convention", "") or "",
            metric=data.get("metric", "") or "",
            raw=_optional_array(data.get("raw")),
            per_split=_optional_array(data.get("per_split")),
            provenance=dict(data.get("provenance") or {}),
            parameters=dict(data.get("parameters") or {}),
        )

    def __str__(self) -> str:
        text = f"{self.value:.3f} ± {self.error:.3f}"
        inside = []
        if self.ceiling is not None:
            ceiling = f"ceiling {self.ceiling:.2f}"
            percent = self.percent_of_ceiling
            if percent is not None and math.isfinite(percent):
                ceiling += f", {percent:.0f} % of ceiling"
            inside.append(ceiling)
        label = [str(self.parameters["mapping"])] if self.parameters.get("mapping") else []
        if self.metric:
            label.append(self.metric.replace("_", "-"))
        if label:
            inside.append(", ".join(label))
        return f"{text} ({'; '.join(inside)})" if inside else text

    def __repr__(self) -> str:
        return f"Score({self})"
