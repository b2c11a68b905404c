"""The leaderboard: the best score of every model on every benchmark, as a table.

A column is one benchmark (a recording: its name and the sha256 of its file, shown as
``name@hash8``), one region, and one way of scoring it (metric, mapping, convention and the
other settings that change a number's meaning, the database's ``variant``). A cell is a model's
best score there, the maximum over the layers it was scored at (Brain-Score's "best layer per
region"), with that layer's name.

Numbers of different metrics, mappings, conventions or settings are never averaged or ranked
together. Columns that share all of them form a *comparable set*; each set with two or more
columns gets its own mean (over the models that have a value in every one of its columns),
and rows are ranked only when the table holds one comparable set (filter with ``metric`` /
``benchmark`` to get one). Exports: CSV, a self-contained HTML page (every name escaped),
JSON-ready records, and a rich table.
"""

from __future__ import annotations

import csv
import datetime
import html
import io
import json
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainlike.results.database import ResultsDB

BEST = ("layer", "latest")
VALUES = ("value", "ceiled")
#: ``brainlike score --metric`` names -> the metric names stored with each score
METRIC_ALIASES = {
    "noise-corrected": "noise_corrected_predictivity",
    "plain": "plain_predictivity",
    "brainscore": "brainscore_predictivity",
}
UNKNOWN_HASH = "unknown"


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a benchmark (name + recording hash), a region, and the way it
    was scored (metric, mapping, convention, variant)."""

    benchmark: str
    recording_hash: str | None
    region: str | None
    metric: str
    mapping: str | None = None
    convention: str | None = None
    variant: str | None = None
    label: str = field(default="", compare=False)
    full_label: str = field(default="", compare=False)

    @property
    def benchmark_id(self) -> str:
        """``name@hash8`` (``name@unknown`` for scores recorded without a hash)."""
        return benchmark_id(self.benchmark, self.recording_hash)

    @property
    def comparable_set(self) -> tuple[str, str | None, str | None, str | None]:
        """What must agree for two columns' numbers to be averaged or ranked together."""
        return (self.metric, self.mapping, self.convention, self.variant)


@dataclass
class Cell:
    """A model's entry in one column: the chosen score and the layer it came from."""

    value: float | None
    error: float | None
    layer: str | None
    ceiled: float | None
    ceiling: float | None
    n_layers: int
    score_id: int


@dataclass
class LeaderboardRow:
    """One model: its rank (``None`` when the table is not ranked or the model lacks a value in
    a ranked column), the mean of each comparable set, and its cells."""

    rank: int | None
    model: str
    means: dict[str, float | None] = field(default_factory=dict)
    cells: dict[Column, Cell] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """Models x columns of best scores; see :func:`leaderboard`.

    ``sets`` maps each comparable set's label to its columns (in column order); ``shared``
    describes what every column has in common (caption text); ``ranking`` says how rows are
    ordered.
    """

    columns: list[Column]
    rows: list[LeaderboardRow]
    value: str = "value"
    best: str = "layer"
    sets: dict[str, list[Column]] = field(default_factory=dict)
    shared: str = ""
    ranking: str = ""

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def ranked(self) -> bool:
        """True when the rows are ranked (one comparable set)."""
        return len(self.sets) == 1

    def mean_sets(self) -> list[str]:
        """Labels of the comparable sets that get a mean column (two or more columns)."""
        return [label for label, cols in self.sets.items() if len(cols) > 1]

    def caption(self) -> str:
        """What the numbers are, what the columns share, and how the rows are ordered."""
        what = "ceiled score" if self.value == "ceiled" else "raw score (the metric's value)"
        how = "best layer per model" if self.best == "layer" else "latest score per model"
        parts = [f"{what}, {how}; ± = the score's own error (its provenance says which)"]
        if self.shared:
            parts.append(f"every column: {self.shared}")
        if self.mean_sets():
            parts.append(
                "mean = mean over one comparable set's columns, for models with a value in "
                "every one of them"
            )
        parts.append(self.ranking)
        return "; ".join(p for p in parts if p)

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready rows: ``{"rank", "model", "means": {set: mean}, "scores": [{benchmark,
        recording_hash, region, metric, mapping, convention, variant, comparable_set, layer,
        value, error, ceiled, ceiling, n_layers}, ...]}`` in table order."""
        return [
            {
                "rank": row.rank,
                "model": row.model,
                "means": dict(row.means),
                "scores": [
                    {
                        **self._identity(col),
                        "layer": cell.layer,
                        "value": cell.value,
                        "error": cell.error,
                        "ceiled": cell.ceiled,
                        "ceiling": cell.ceiling,
                        "n_layers": cell.n_layers,
                    }
                    for col, cell in row.cells.items()
                ],
            }
            for row in self.rows
        ]

    def _identity(self, col: Column) -> dict[str, Any]:
        """What makes a column one benchmark, JSON-ready (shared by records and columns)."""
        return {
            "benchmark": col.benchmark,
            "recording_hash": col.recording_hash or UNKNOWN_HASH,
            "region": col.region,
            "metric": col.metric,
            "mapping": col.mapping,
            "convention": col.convention,
            "variant": _parse_variant(col.variant),
            "comparable_set": self._set_of(col),
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole table, JSON-ready: caption, columns (with their full identity) and rows."""
        return {
            "caption": self.caption(),
            "value": self.value,
            "best": self.best,
            "ranked": self.ranked,
            "columns": [
                {
                    "label": col.label,
                    **self._identity(col),
                }
                for col in self.columns
            ],
            "rows": self.to_records(),
        }

    def _set_of(self, col: Column) -> str:
        return next(label for label, cols in self.sets.items() if col in cols)

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """One line per model: rank, model, each comparable set's mean, then value, layer and
        error per column (headed by the column's full identity).

        Numbers are written in full precision, missing ones as empty fields. Writes ``path``
        (atomically) when given; returns the text either way.
        """
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["rank", "model"] + [f"mean of {label}" for label in self.mean_sets()]
        for col in self.columns:
            name = col.full_label
            header += [name, f"{name} layer", f"{name} error"]
        writer.writerow(header)
        for row in self.rows:
            line = ["" if row.rank is None else row.rank, row.model]
            line += [_csv_number(row.means.get(label)) for label in self.mean_sets()]
            for col in self.columns:
                cell = row.cells.get(col)
                if cell is None:
                    line += ["", "", ""]
                else:
                    line += [_csv_number(cell.value), cell.layer or "", _csv_number(cell.error)]
            writer.writerow(line)
        text = buf.getvalue()
        if path is not None:
            _write_text(path, text)
        return text

    def to_html(
        self, path: str | os.PathLike | None = None, *, title: str = "brainlike leaderboard"
    ) -> str:
        """A self-contained HTML page (inline CSS, no scripts); every name is escaped.

        Writes ``path`` (atomically) when given; returns the page either way.
        """
        esc = html.escape
        best = {col: _column_best(self, col) for col in self.columns}
        means = self.mean_sets()
        head = "".join(f"<th>mean of {esc(label)}</th>" for label in means)
        head += "".join(f"<th>{esc(col.label)}</th>" for col in self.columns)
        body = []
        for row in self.rows:
            cells = []
            for label in means:
                m = row.means.get(label)
                cells.append(f"<td>{m:.3f}</td>" if m is not None else "<td>&ndash;</td>")
            for col in self.columns:
                cell = row.cells.get(col)
                if cell is None or cell.value is None:
                    cells.append('<td class="missing">&ndash;</td>')
                    continue
                err = f" &plusmn; {cell.error:.3f}" if cell.error is not None else ""
                cls = ' class="best"' if best[col] == cell.value else ""
                layer = f'<div class="layer">{esc(cell.layer)}</div>' if cell.layer else ""
                cells.append(f"<td{cls}>{cell.value:.3f}{err}{layer}</td>")
            rank = "&ndash;" if row.rank is None else str(row.rank)
            body.append(
                f'<tr><td>{rank}</td><td class="model">{esc(row.model)}</td>{"".join(cells)}</tr>'
            )
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        page = _HTML.format(
            title=esc(title),
            note=esc(f"{self.caption()}; generated {when}"),
            head=head,
            body="\n".join(body),
        )
        if path is not None:
            _write_text(path, page)
        return page


def benchmark_id(name: str, recording_hash: str | None) -> str:
    """``name@hash8``: a benchmark's name with the first 8 hex digits of its recording's
    sha256 (``unknown`` for scores recorded before hashes were kept)."""
    return f"{name}@{recording_hash[:8] if recording_hash else UNKNOWN_HASH}"


def leaderboard(
    db: ResultsDB | Sequence[Mapping[str, Any]],
    benchmark: str | Sequence[str] | None = None,
    metric: str | Sequence[str] | None = None,
    *,
    region: str | Sequence[str] | None = None,
    best: str = "layer",
    value: str = "value",
) -> Leaderboard:
    """The best score of every model in every (benchmark, region, way of scoring) column.

    Parameters
    ----------
    db : a :class:`ResultsDB`, or rows as returned by :meth:`ResultsDB.query`.
    benchmark : restrict to these benchmarks (a name or a list): ``name`` (every recording of
        that name) or ``name@hash`` (a prefix of the recording's sha256 picks one).
    metric : restrict to these metrics (stored names such as ``noise_corrected_predictivity``
        or the ``brainlike score --metric`` names ``noise-corrected``, ``plain``, ``brainscore``).
    region : restrict to these regions.
    best : ``"layer"``: the maximum over the model's scores in the column (over layers and
        repeated runs), ties to the earliest; ``"latest"``: the most recently added score.
    value : show and rank the raw ``"value"`` or the ``"ceiled"`` value.

    Returns
    -------
    Leaderboard
        Columns sorted by benchmark, region and way of scoring. With one comparable set, rows
        are ranked by the set's mean (one column: its value; models lacking a value in any of
        its columns come last, unranked); with several, rows are in model order and unranked.

    Raises
    ------
    ValueError
        A ``benchmark``, ``metric`` or ``region`` that no score has; the message lists the ones
        that are there.
    """
    if best not in BEST:
        raise ValueError(f"best must be one of {BEST}; got {best!r}")
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}; got {value!r}")
    metrics = _metric_names(metric)
    if isinstance(db, ResultsDB):
        present = {
            "benchmark": db.distinct("benchmark", "recording_hash"),
            "metric": [m for (m,) in db.distinct("metric")],
            "region": [r for (r,) in db.distinct("region")],
        }
        _check_filters(present, benchmark, metrics, region)
        names = (
            None if benchmark is None else sorted({_split_id(b)[0] for b in _as_list(benchmark)})
        )
        rows = db.query(benchmark=names, metric=metrics, region=region)
    else:
        rows = list(db)
        present = {
            "benchmark": sorted({(r["benchmark"], r.get("recording_hash")) for r in rows}, key=str),
            "metric": sorted({r.get("metric") or "" for r in rows}),
            "region": sorted({r.get("region") for r in rows}, key=str),
        }
        _check_filters(present, benchmark, metrics, region)
        rows = [r for r in rows if _keep(r, None, metrics, region)]
    if benchmark is not None:
        rows = [r for r in rows if _benchmark_matches(r, _as_list(benchmark))]

    groups: dict[tuple[str, tuple], list[Mapping[str, Any]]] = {}
    for r in rows:
        key = (
            r["benchmark"],
            r.get("recording_hash") or None,
            r.get("region"),
            r.get("metric") or "",
            r.get("mapping") or None,
            r.get("convention") or None,
            r.get("variant") or None,
        )
        groups.setdefault((r["model"], key), []).append(r)
    keys = sorted({k for _, k in groups}, key=lambda k: tuple(str(v or "") for v in k))
    columns, sets, shared = _columns(keys)

    by_model: dict[str, dict[Column, Cell]] = {}
    for (model, key), scores in groups.items():
        by_model.setdefault(model, {})[columns[key]] = _pick(scores, best, value)
    board_rows = []
    for model, cells in by_model.items():
        ordered = {col: cells[col] for col in columns.values() if col in cells}
        means = {}
        for label, cols in sets.items():
            vals = [_chosen(ordered[c], value) if c in ordered else None for c in cols]
            # a mean over a subset of a set's columns is not comparable with one over all
            means[label] = None if None in vals else sum(vals) / len(vals)  # type: ignore[arg-type]
        board_rows.append(LeaderboardRow(None, model, means, ordered))
    if len(sets) == 1:
        (only,) = sets
        board_rows.sort(key=lambda r: (r.means[only] is None, -(r.means[only] or 0.0), r.model))
        for i, r in enumerate(board_rows, 1):
            r.rank = i if r.means[only] is not None else None
        what = "the value" if len(sets[only]) == 1 else "the mean"
        ranking = f"ranked by {what} (models without a value in every column unranked)"
    else:
        board_rows.sort(key=lambda r: r.model)
        ranking = (
            "not ranked: the columns hold numbers of different metrics, mappings, conventions "
            "or settings (rank within one: filter with --metric / --benchmark)"
            if sets
            else "no scores"
        )
    # a set's mean is shown only when it has two or more columns
    for r in board_rows:
        r.means = {label: r.means[label] for label, cols in sets.items() if len(cols) > 1}
    return Leaderboard(
        list(columns.values()),
        board_rows,
        value=value,
        best=best,
        sets={label: cols for label, cols in sets.items()},
        shared=shared,
        ranking=ranking,
    )


def render_table(board: Leaderboard, *, title: str | None = None, digits: int = 3):
    """A :class:`rich.table.Table` of the leaderboard (names are never read as markup), with
    :meth:`Leaderboard.caption` as its caption."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False, caption=Text(board.caption()))
    table.add_column("#", justify="right")
    table.add_column("model")
    means = board.mean_sets()
    for label in means:
        table.add_column(Text(f"mean of {label}"), justify="right")
    for col in board.columns:
        table.add_column(Text(col.label), justify="right")
    for row in board.rows:
        cells = []
        for label in means:
            m = row.means.get(label)
            cells.append(Text(f"{m:.{digits}f}" if m is not None else "-"))
        for col in board.columns:
            cell = row.cells.get(col)
            if cell is None or cell.value is None:
                cells.append(Text("-", style="dim"))
                continue
            text = Text(f"{cell.value:.{digits}f}")
            if cell.error is not None:
                text.append(f" ± {cell.error:.{digits}f}", style="dim")
            if cell.layer:
                text.append(f" ({cell.layer})", style="cyan")
            cells.append(text)
        rank = "-" if row.rank is None else str(row.rank)
        table.add_row(rank, Text(row.model), *cells)
    return table


# --------------------------------------------------------------------------------------------


def _as_list(value: str | Sequence[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _metric_names(metric: str | Sequence[str] | None) -> list[str] | None:
    if metric is None:
        return None
    return [METRIC_ALIASES.get(m, m) for m in _as_list(metric)]


def _split_id(text: str) -> tuple[str, str | None]:
    name, _, digest = text.rpartition("@")
    return (name, digest.lower()) if name and digest else (text, None)


def _benchmark_matches(row: Mapping[str, Any], wanted: list[str]) -> bool:
    for text in wanted:
        name, prefix = _split_id(text)
        if row["benchmark"] != name:
            continue
        digest = row.get("recording_hash")
        if prefix is None or (digest or UNKNOWN_HASH).startswith(prefix):
            return True
    return False


def _check_filters(present: dict[str, list], benchmark: Any, metrics: Any, region: Any) -> None:
    """Refuse a filter value no score has, listing the values that are there."""
    if benchmark is not None:
        rows = [{"benchmark": n, "recording_hash": h} for n, h in present["benchmark"]]
        missing = [
            b for b in _as_list(benchmark) if not any(_benchmark_matches(r, [b]) for r in rows)
        ]
        if missing:
            there = ", ".join(benchmark_id(n, h) for n, h in present["benchmark"]) or "none"
            raise ValueError(
                f"no scores for benchmark {missing[0]!r}; the database has: {there} (give a "
                "name, or name@hash to pick one recording)"
            )
    for what, wanted in (("metric", metrics), ("region", region)):
        if wanted is None:
            continue
        missing = [w for w in _as_list(wanted) if w not in present[what]]
        if missing:
            there = ", ".join(str(v) for v in present[what]) or "none"
            hint = (
                f" ({', '.join(f'{k} = {v}' for k, v in METRIC_ALIASES.items())})"
                if what == "metric"
                else ""
            )
            raise ValueError(
                f"no scores for {what} {missing[0]!r}; the database has: {there}{hint}"
            )


def _keep(row: Mapping[str, Any], benchmark: Any, metric: Any, region: Any) -> bool:
    for name, want in (("benchmark", benchmark), ("metric", metric), ("region", region)):
        if want is None:
            continue
        wanted = {want} if isinstance(want, str) else set(want)
        if (row.get(name) or ("" if name == "metric" else None)) not in wanted:
            return False
    return True


def _parse_variant(variant: str | None) -> dict[str, Any] | None:
    if not variant:
        return None
    try:
        out = json.loads(variant)
    except json.JSONDecodeError:
        return {"settings": variant}
    return out if isinstance(out, dict) else {"settings": out}


def _identity_items(key: tuple) -> dict[str, str]:
    """The way of scoring of a column key, as ordered ``name -> shown text`` items."""
    _, _, _, metric, mapping, convention, variant = key
    items = {"metric": metric or "(no metric)", "mapping": f"mapping {mapping or 'not recorded'}"}
    if convention:
        items["convention"] = f"convention {convention}"
    parsed = _parse_variant(variant)
    if parsed is None:
        items["settings"] = "settings unknown"
    else:
        for k, v in sorted(parsed.items()):
            items[f"setting:{k}"] = f"{k}={v}"
    return items


def _columns(keys: list[tuple]) -> tuple[dict[tuple, Column], dict[str, list[Column]], str]:
    """Columns with labels that show what tells them apart, the comparable sets, and the
    text of what every column shares."""
    items = {k: _identity_items(k) for k in keys}
    names = list(dict.fromkeys(n for k in keys for n in items[k]))
    shared_names = [
        n for n in names if len({items[k].get(n) for k in keys}) == 1 and items[keys[0]].get(n)
    ]
    distinct = [n for n in names if n not in shared_names]
    shared = ", ".join(items[keys[0]][n] for n in shared_names) if keys else ""
    columns: dict[tuple, Column] = {}
    sets: dict[str, list[Column]] = {}
    set_labels: dict[tuple, str] = {}  # Column.comparable_set -> its label
    for k in keys:
        name, digest, region, metric, mapping, convention, variant = k
        where = [benchmark_id(name, digest)] + ([region] if region else [])
        how = [items[k][n] for n in distinct if n in items[k]]
        # columns are grouped by what they share (Column.comparable_set), not by their text;
        # sets that read alike (a setting 1 and "1") are told apart by their recorded settings
        comparable = (metric, mapping, convention, variant)
        if comparable not in set_labels:
            text = ", ".join(how) or "all columns"
            if text in set_labels.values():
                text = ", ".join([*how, f"settings as recorded {variant}"])
            set_labels[comparable] = text
        set_label = set_labels[comparable]
        how = how or ([set_label] if set_label != "all columns" else [])
        col = Column(
            name,
            digest,
            region,
            metric,
            mapping,
            convention,
            variant,
            label=" / ".join(where + ([set_label] if how else [])),
            full_label=" / ".join(where + list(items[k].values())),
        )
        columns[k] = col
        sets.setdefault(set_label, []).append(col)
    return columns, sets, shared


def _chosen(cell: Cell, value: str) -> float | None:
    return cell.ceiled if value == "ceiled" else cell.value


def _pick(scores: list[Mapping[str, Any]], best: str, value: str) -> Cell:
    layers = {s.get("layer") for s in scores}
    if best == "latest":
        chosen = max(scores, key=lambda s: s["id"])
    else:
        finite = [s for s in scores if _finite(s.get(value))]
        pool = finite or scores
        chosen = min(pool, key=lambda s: (-(s.get(value) or 0.0) if finite else 0.0, s["id"]))
    v = chosen.get(value)
    # the error of the number shown: ceiled values carry their own (record_scores' extra field)
    error = (
        (chosen.get("extra") or {}).get("ceiled_error")
        if value == "ceiled"
        else chosen.get("error")
    )
    return Cell(
        value=v if _finite(v) else None,
        error=error if _finite(error) else None,
        layer=chosen.get("layer"),
        ceiled=chosen.get("ceiled") if _finite(chosen.get("ceiled")) else None,
        ceiling=chosen.get("ceiling") if _finite(chosen.get("ceiling")) else None,
        n_layers=len(layers),
        score_id=chosen["id"],
    )


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _column_best(board: Leaderboard, col: Column) -> float | None:
    vals = [r.cells[col].value for r in board.rows if col in r.cells]
    vals = [v for v in vals if v is not None]
    return max(vals) if vals else None


def _csv_number(x: float | None) -> str:
    return "" if x is None else repr(float(x))


def _write_text(path: str | os.PathLike, text: str) -> Path:
    """Write ``text`` to a temp file beside ``path`` and rename it over ``path``."""
    from brainlike.train.checkpoint import temporary_file_beside

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temporary_file_beside(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


_HTML = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>{title}</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2em; color: #222; }}
table {{ border-collapse: collapse; display: block; max-width: 100%; overflow-x: auto; }}
th, td {{ border-bottom: 1px solid #ddd; padding: 0.35em 0.8em; text-align: right; }}
th {{ background: #f4f4f4; }}
td.model {{ text-align: left; font-weight: 600; }}
td.best {{ background: #e6f4ea; font-weight: 600; }}
td.missing {{ color: #aaa; }}
.layer {{ font-size: 0.75em; color: #666; font-weight: normal; }}
.note {{ color: #666; font-size: 0.9em; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p class="note">{note}</p>
<table>
<thead><tr><th>#</th><th>model</th>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""
