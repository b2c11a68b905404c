"""The feature table of many runs: each layer's statistic trajectories, side by side.

spec: learning-rules.md §2. One example per run x layer x recording setting; its features are
the trajectories over the K checkpoints of every statistic (``weights/abs/median@0`` ...
``@K-1``), concatenated, plus the layer's position (early / middle / deep, one-hot when a
classifier reads it); its class is the run's ``label``. :func:`feature_table` builds the table
from the tidy observables of many runs (:mod:`brainlike.analysis.identify.tables`);
:func:`design_matrix` selects what a classifier sees: observables, statistics (the kept ones
by default; ``all``; or ``thesis``: the 24 the source used), checkpoints.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from brainlike.analysis.identify.observables import (
    KEPT_STATISTICS,
    OBSERVABLES,
    POSITIONS,
    TRANSFORMS,
    statistic_keys,
)

__all__ = [
    "FEATURES_NAME",
    "META_COLUMNS",
    "THESIS_STATISTICS",
    "Design",
    "design_matrix",
    "feature_table",
    "read_feature_table",
]

FEATURES_NAME = "features.csv"
#: the columns of a feature table that describe an example (the rest are features)
META_COLUMNS = (
    "run", "label", "architecture", "model_kind", "rule", "optimizer", "lr", "momentum",
    "batch_size", "seed", "dataset", "epochs", "layer", "layer_index", "layer_kind", "position",
    "readout", "units", "inputs", "synapses", "fraction", "noise", "recording_seed",
)  # fmt: skip
_KEYS = ["run", "layer", "fraction", "noise", "recording_seed"]
_FEATURE = re.compile(r"^(\w+)/(\w+)/(\w+)@(\d+)$")

#: the statistics the source kept (finite for every network it trained): 13 of the weights,
#: 8 of the activations, the 3 of the activity change
THESIS_STATISTICS = frozenset(
    [("weights", t, s) for t in ("identity", "abs") for s in KEPT_STATISTICS]
    + [("weights", "square", s) for s in ("mean", "median", "q3")]
    + [("activations", t, s) for t in ("identity", "abs") for s in ("norm", "mean", "median", "q3")]
    + [("activity_change", t, "mean") for t in TRANSFORMS]
)


def feature_name(observable: str, transform: str, statistic: str, checkpoint: int) -> str:
    return f"{observable}/{transform}/{statistic}@{checkpoint}"


def feature_table(observables: Any) -> Any:
    """The wide feature table of a tidy observables table (of one run or many).

    Parameters
    ----------
    observables : pandas.DataFrame
        Rows as :func:`~brainlike.analysis.identify.tables.observables_table` writes them.

    Returns
    -------
    pandas.DataFrame
        One row per run x layer x recording setting: :data:`META_COLUMNS`, then one column per
        (observable, function, statistic, checkpoint), statistic-major and checkpoint-minor.
    """
    t = observables
    missing = [c for c in (*META_COLUMNS, "checkpoint", "observable", "transform", "statistic",
                           "value") if c not in t.columns]  # fmt: skip
    if missing:
        raise ValueError(
            f"the observables table lacks columns {missing}; it must come from a run trained "
            "with observe.enabled (observables.csv)"
        )
    checkpoints = sorted(int(c) for c in t["checkpoint"].unique())
    per_run = t.groupby("run")["checkpoint"].nunique()
    short = per_run[per_run < len(checkpoints)]
    if len(short):
        raise ValueError(
            f"runs {list(short.index)[:5]} have {int(short.iloc[0])} checkpoints, others "
            f"{len(checkpoints)}; build the table from complete runs with the same "
            "observe.checkpoints"
        )
    names = (
        t["observable"].astype(str) + "/" + t["transform"].astype(str) + "/"
        + t["statistic"].astype(str) + "@" + t["checkpoint"].astype(int).astype(str)
    )  # fmt: skip
    wide = t.assign(feature=names).pivot(index=_KEYS, columns="feature", values="value")
    order = [feature_name(o, tr, s, k) for o, tr, s in statistic_keys() for k in checkpoints]
    wide = wide[[c for c in order if c in wide.columns]]
    meta = t.drop_duplicates(_KEYS).set_index(_KEYS)[[c for c in META_COLUMNS if c not in _KEYS]]
    out = meta.join(wide).reset_index()
    return (
        out[[*META_COLUMNS, *wide.columns]]
        .sort_values(["run", "layer_index", "fraction", "noise", "recording_seed"], kind="stable")
        .reset_index(drop=True)
    )


def read_feature_table(path: str | Path) -> Any:
    """A feature table (``features.csv``, or a zoo folder holding one)."""
    import pandas as pd

    p = Path(path)
    if p.is_dir():
        p = p / FEATURES_NAME
    if not p.is_file():
        raise FileNotFoundError(
            f"{p} does not exist; `brainlike identify build ZOO` writes DIR/{FEATURES_NAME}"
        )
    table = pd.read_csv(p)
    missing = [c for c in ("run", "label", "position") if c not in table.columns]
    if missing:
        raise ValueError(
            f"{p} is not a feature table: it has no column {', '.join(missing)} (expected the "
            f"{FEATURES_NAME} that `brainlike identify build` writes)"
        )
    return table


class Design:
    """What a classifier sees of a feature table: ``X`` ``(n, S * T + 3)`` (S statistics x T
    checkpoints, statistic-major, then the one-hot position), ``y`` (class index), the class
    names, and the statistics and checkpoints used."""

    def __init__(
        self,
        x: np.ndarray,
        y: np.ndarray,
        classes: list[str],
        statistics: list[tuple[str, str, str]],
        checkpoints: list[int],
        dropped: list[str],
        rows: np.ndarray,
    ) -> None:
        self.x, self.y, self.classes = x, y, classes
        self.statistics, self.checkpoints = statistics, checkpoints
        self.dropped, self.rows = dropped, rows

    @property
    def n_series(self) -> int:
        return len(self.statistics)

    @property
    def n_times(self) -> int:
        return len(self.checkpoints)

    def series(self) -> np.ndarray:
        """The statistics as ``(n, S, T)`` trajectories (without the position)."""
        return self.x[:, : self.n_series * self.n_times].reshape(-1, self.n_series, self.n_times)

    def feature_names(self) -> list[str]:
        names = [feature_name(*key, k) for key in self.statistics for k in self.checkpoints]
        return names + [f"position/{p}" for p in POSITIONS]


def _checkpoints_of(columns: Sequence[str]) -> list[int]:
    return sorted({int(m.group(4)) for c in columns if (m := _FEATURE.match(c))})


def design_matrix(
    table: Any,
    observables: Sequence[str] = OBSERVABLES,
    statistics: str = "kept",
    checkpoints: Sequence[int] | None = None,
    recording: tuple[float, float, int] | None = (1.0, 0.0, 0),
    classes: Sequence[str] | None = None,
) -> Design:
    """The examples and features of ``table`` a classifier is fitted on.

    Parameters
    ----------
    table : pandas.DataFrame
        A feature table (:func:`feature_table`).
    observables : which observables' statistics (``weights``, ``activations``,
        ``activity_change``).
    statistics : ``kept`` (skew and kurtosis left out), ``all``, or ``thesis`` (the source's
        24, :data:`THESIS_STATISTICS`).
    checkpoints : which checkpoints (default: all).
    recording : the (fraction, noise, seed) rows to use (None: the table has one setting).
    classes : class order (default: sorted labels).

    Returns
    -------
    Design
        Statistics with a non-finite value in any example are left out (the source's rule for
        divergent statistics) and named in ``dropped``.

    Raises
    ------
    ValueError
        Runs without a label, an unknown observable or statistics set, a recording setting
        the table does not have, fewer than two classes.
    """
    unknown = [o for o in observables if o not in OBSERVABLES]
    if unknown or not observables:
        raise ValueError(f"observables {unknown or '[]'}: choose from {', '.join(OBSERVABLES)}")
    if statistics not in ("kept", "all", "thesis"):
        raise ValueError(f"statistics {statistics!r}: choose kept, all or thesis")
    labels = table["label"]
    blank = labels.isna() | (labels.astype(str).str.strip() == "")
    if blank.any():
        runs = sorted(set(table.loc[blank, "run"].astype(str)))
        raise ValueError(
            f"{len(runs)} run(s) of the feature table have no rule label ({', '.join(runs[:5])}"
            f"{', ...' if len(runs) > 5 else ''}); every run needs its class in column 'label' "
            "(observe.label, set by `brainlike identify build`)"
        )
    rows = np.ones(len(table), dtype=bool)
    if recording is not None:
        f, n, s = recording
        rows = (
            np.isclose(table["fraction"], f) & np.isclose(table["noise"], n)
            & (table["recording_seed"] == s)
        ).to_numpy()  # fmt: skip
        if not rows.any():
            have = sorted(
                set(zip(table["fraction"], table["noise"], table["recording_seed"], strict=True))
            )
            raise ValueError(
                f"the feature table has no rows recorded with fraction {f}, noise {n}, seed {s}; "
                f"it has {have[:8]}"
            )
    else:
        settings = table[["fraction", "noise", "recording_seed"]].drop_duplicates()
        if len(settings) > 1:
            raise ValueError(
                "the feature table holds several recording settings; choose one (recording=)"
            )
    sub = table[rows]
    all_ck = _checkpoints_of(table.columns)
    cks = list(all_ck if checkpoints is None else checkpoints)
    bad = [k for k in cks if k not in all_ck]
    if bad:
        raise ValueError(f"checkpoints {bad} are not in the table (it has 0..{max(all_ck)})")
    keys = []
    for key in statistic_keys():
        obs, _, stat = key
        if obs not in observables:
            continue
        if statistics == "kept" and stat not in KEPT_STATISTICS:
            continue
        if statistics == "thesis" and key not in THESIS_STATISTICS:
            continue
        if feature_name(*key, cks[0]) in table.columns:
            keys.append(key)
    dropped = []
    blocks = []
    kept_keys = []
    for key in keys:
        block = sub[[feature_name(*key, k) for k in cks]].to_numpy(dtype=np.float64)
        if not np.isfinite(block).all():
            dropped.append("/".join(key))
            continue
        blocks.append(block)
        kept_keys.append(key)
    if not blocks:
        raise ValueError(
            f"no finite statistic of {', '.join(observables)} is left to classify on "
            f"(left out as divergent: {', '.join(dropped) or 'none'})"
        )
    position = np.stack([(sub["position"] == p).to_numpy(float) for p in POSITIONS], axis=1)
    x = np.concatenate([*blocks, position], axis=1)
    names = sorted(set(sub["label"].astype(str))) if classes is None else list(classes)
    if len(names) < 2:
        raise ValueError(f"the feature table has one class ({names}); identification needs two")
    index = {c: i for i, c in enumerate(names)}
    extra = sorted(set(sub["label"].astype(str)) - set(index))
    if extra:
        raise ValueError(f"labels {extra} are not among the classes {names}")
    y = np.array([index[v] for v in sub["label"].astype(str)])
    return Design(x, y, names, kept_keys, cks, dropped, np.flatnonzero(rows))
