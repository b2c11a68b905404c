"""The score table of one model on one recording: every layer x area, its ceiling, the best layer.

:class:`ScoringResult` holds every (area, layer) score of a static scoring run with the area's
ceiling, and answers the questions a reader asks of it: each score's raw value, ceiling and
ceiled value with their errors (:meth:`ScoringResult.measures`,
:meth:`ScoringResult.definitions`), the best layer per area and the layers that cannot be told
apart from it by a paired comparison over the splits (:meth:`ScoringResult.layer_comparison`,
:data:`BEST_LAYER_CRITERION`), and the rows of ``scores.json``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

#: How score_model tells the layers that cannot be told apart from the best one (item of every
#: ``settings``). Splits overlap (random train/test splits of one stimulus set), so the naive
#: standard error over splits is too small; Nadeau & Bengio's corrected resampled variance
#: accounts for it.
BEST_LAYER_CRITERION = (
    "paired over the splits (every layer of an area is scored on the same splits, same seed): "
    "d = best layer minus this layer, per split, in the unit the best layer is chosen by; the "
    "layer is indistinguishable from the best when mean(d) <= 2 x SE, SE = sd(d, ddof=1) x "
    "sqrt(1/n + n_test/n_train) (Nadeau & Bengio 2003 corrected resampled standard error; n "
    "splits with both values finite, n_test/n_train from the train fraction)"
)
INDISTINGUISHABLE_Z = 2.0

# how ceiled follows from raw and ceiling, per Brain-Score convention (spec §10)
_CEILED_AS = {
    "r2_over_ceiling": "raw^2 / ceiling (Brain-Score r2_over_ceiling)",
    "squared_ratio": "(raw / ceiling)^2 (Brain-Score squared_ratio)",
    "ratio": "raw / ceiling (Brain-Score ratio)",
}


@dataclass
class ScoringResult:
    """Every layer x area score of one model on one recording, with the ceilings.

    Every (area, layer) has three numbers, each with its own error (:meth:`measures`): the
    raw score, the area's ceiling, and the ceiled score; :meth:`definitions` says what each
    number and each error is for this metric.
    """

    model: str
    benchmark: str
    metric: str
    mapping: str
    layers: list[str]
    regions: list[str]
    scores: dict[tuple[str, str], Any]  # (region, layer) -> Score
    ceilings: dict[str, Any]  # region -> Score (inter-animal consistency)
    settings: dict[str, Any]
    provenance: dict[str, Any]

    def __post_init__(self) -> None:
        self.settings = {**self.settings}
        self.settings.setdefault("best_layer_criterion", BEST_LAYER_CRITERION)

    def best_layer(self, region: str) -> str | None:
        """The layer with the highest score for ``region`` (None when every score is NaN)."""
        vals = [(self._value(region, lay), lay) for lay in self.layers]
        vals = [(v, lay) for v, lay in vals if np.isfinite(v)]
        return max(vals)[1] if vals else None

    def _value(self, region: str, layer: str) -> float:
        s = self.scores[(region, layer)]
        v = s.ceiled if self.metric == "brainscore" else s.value
        return float("nan") if v is None else float(v)

    def _per_split(self, region: str, layer: str) -> np.ndarray | None:
        """Per-split values in the unit of :meth:`_value` (Brain-Score: each split's median r
        ceiled with the area's ceiling under the convention)."""
        s = self.scores[(region, layer)]
        if s.per_split is None:
            return None
        per_split = np.asarray(s.per_split, float)
        if self.metric != "brainscore":
            return per_split
        from brainlike.analysis.neural import ceiled_score

        if s.ceiling is None or not s.convention:
            return None
        return np.array([ceiled_score(float(v), s.ceiling, s.convention) for v in per_split])

    def layer_comparison(self, region: str) -> dict[str, dict[str, Any]]:
        """Per layer: its spread over splits and its paired comparison with the best layer.

        Returns
        -------
        dict layer -> dict
            ``split_sd`` (s.d. over splits, ddof 1, of the per-split values), ``n_splits``
            (splits with both this layer's and the best layer's value finite),
            ``difference_from_best`` (mean over splits of best minus this layer),
            ``difference_se`` (its corrected resampled standard error) and
            ``indistinguishable_from_best`` (True for the best layer itself; None when it
            cannot be judged: no per-split values, fewer than 2 common splits, a NaN score).
            See :data:`BEST_LAYER_CRITERION`.
        """
        best = self.best_layer(region)
        tf = float(self.settings.get("train_fraction") or 0.5)
        ref = self._per_split(region, best) if best is not None else None
        out: dict[str, dict[str, Any]] = {}
        for layer in self.layers:
            mine = self._per_split(region, layer)
            finite = mine[np.isfinite(mine)] if mine is not None else np.array([])
            entry: dict[str, Any] = {
                "split_sd": _num(finite.std(ddof=1)) if finite.size > 1 else None,
                "n_splits": 0,
                "difference_from_best": None,
                "difference_se": None,
                "indistinguishable_from_best": None,
            }
            if layer == best:
                entry.update(n_splits=int(finite.size), indistinguishable_from_best=True)
                entry.update(difference_from_best=0.0, difference_se=0.0)
            elif ref is not None and mine is not None and np.isfinite(self._value(region, layer)):
                d = ref - mine
                d = d[np.isfinite(d)]
                entry["n_splits"] = int(d.size)
                if d.size >= 2:
                    # not in the spec: Nadeau & Bengio (2003) corrected resampled variance
                    se = float(d.std(ddof=1) * np.sqrt(1 / d.size + (1 - tf) / tf))
                    mean = float(d.mean())
                    entry.update(
                        difference_from_best=mean,
                        difference_se=se,
                        indistinguishable_from_best=bool(mean <= INDISTINGUISHABLE_Z * se),
                    )
            out[layer] = entry
        return out

    def indistinguishable_layers(self, region: str) -> list[str]:
        """The best layer and every layer not distinguishable from it (layer order)."""
        comparison = self.layer_comparison(region)
        return [lay for lay in self.layers if comparison[lay]["indistinguishable_from_best"]]

    def measures(self, region: str, layer: str) -> dict[str, float | None]:
        """``raw``, ``ceiling`` and ``ceiled`` of one (area, layer), each with its error
        (``*_error``); None where a number is undefined (NaN, no positive ceiling).
        See :meth:`definitions` for what each is."""
        s = self.scores[(region, layer)]
        c = self.ceilings[region]
        raw, raw_error = _num(s.value), _num(s.error)
        if self.metric == "brainscore":
            ceiling = _num(s.ceiling)
            ceiled = _num(s.ceiled)
            ceiled_error = _num(s.provenance.get("ceiled_error"))
        else:
            ceiling = _num(c.value)
            ok = raw is not None and ceiling is not None and ceiling > 0
            ceiled = raw / ceiling if ok else None  # type: ignore[operator]
            ceiled_error = (
                raw_error / ceiling if ok and raw_error is not None else None  # type: ignore[operator]
            )
        return {
            "raw": raw,
            "raw_error": raw_error,
            "ceiling": ceiling,
            "ceiling_error": _num(c.error),
            "ceiled": ceiled,
            "ceiled_error": ceiled_error,
        }

    def definitions(self) -> dict[str, dict[str, str]]:
        """What ``raw``, ``ceiling`` and ``ceiled`` are, and what each one's error is, in the
        words of the functions that computed them: ``{"values": {...}, "errors": {...}}``."""
        first = next(iter(self.scores.values()), None)
        ceiling = next(iter(self.ceilings.values()), None)
        prov = first.provenance if first is not None else {}
        cprov = ceiling.provenance if ceiling is not None else {}
        if self.metric == "brainscore":
            convention = self.settings.get("convention") or ""
            ceiled = _CEILED_AS.get(convention, f"raw ceiled by {convention}")
            ceiled_error = (
                "the raw error carried through the convention with the ceiling held fixed "
                "(|d ceiled / d raw| x raw error)"
            )
        else:
            ceiled = "raw / ceiling"
            ceiled_error = "raw error / ceiling (the ceiling held fixed)"
        return {
            "values": {
                "raw": f"{self.metric} score: {prov.get('center', 'see provenance')}",
                "ceiling": f"{self.settings.get('ceiling')}: {cprov.get('center', '')}".rstrip(
                    ": "
                ),
                "ceiled": ceiled,
            },
            "errors": {
                "raw": str(prov.get("error", "not recorded")),
                "ceiling": str(cprov.get("error", "not recorded")),
                "ceiled": ceiled_error,
            },
        }

    def percent_of_ceiling(self, region: str, layer: str) -> float:
        """The layer's score as a percentage of its area's ceiling (100 x ceiled)."""
        ceiled = self.measures(region, layer)["ceiled"]
        return float("nan") if ceiled is None else 100.0 * float(ceiled)

    def rows(self) -> list[dict[str, Any]]:
        """One row per (region, layer), regions in result order, layers in scoring order."""
        out = []
        for region in self.regions:
            best = self.best_layer(region)
            comparison = self.layer_comparison(region)
            for layer in self.layers:
                s = self.scores[(region, layer)]
                out.append(
                    {
                        "region": region,
                        "layer": layer,
                        **self.measures(region, layer),
                        "percent_of_ceiling": _num(self.percent_of_ceiling(region, layer)),
                        "best": layer == best,
                        **comparison[layer],
                        "n_neuroids": int(np.sum(np.isfinite(s.raw)))
                        if s.raw is not None
                        else None,
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able result: settings, definitions, ceilings, rows and every Score in full."""
        return {
            "model": self.model,
            "benchmark": self.benchmark,
            "recording_sha256": self.provenance.get("recording_sha256"),
            "metric": self.metric,
            "mapping": self.mapping,
            "layers": self.layers,
            "regions": self.regions,
            "settings": self.settings,
            "provenance": self.provenance,
            "definitions": self.definitions(),
            "best_layer": {r: self.best_layer(r) for r in self.regions},
            "indistinguishable_from_best": {
                r: self.indistinguishable_layers(r) for r in self.regions
            },
            "ceilings": {r: c.to_dict() for r, c in self.ceilings.items()},
            "rows": self.rows(),
            "scores": [
                {"region": r, "layer": lay, **s.to_dict()} for (r, lay), s in self.scores.items()
            ],
        }


def _num(v: Any) -> float | None:
    if v is None:
        return None
    v = float(v)
    return v if np.isfinite(v) else None
