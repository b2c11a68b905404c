"""The leaderboard: the best score of every model on every benchmark, as a table.

A column is one (benchmark, region, metric); a cell is a model's best score there, the maximum
over the layers it was scored at (Brain-Score's "best layer per region"), with that layer's name;
rows are ranked by their mean over the columns they have a value in. Exports: CSV, a
self-contained HTML page (every name escaped), JSON-ready records, and a rich table.
"""

from __future__ import annotations

import csv
import datetime
import html
import io
import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from brainlike.results.database import ResultsDB

BEST = ("layer", "latest")
VALUES = ("value", "ceiled")


@dataclass(frozen=True)
class Column:
    """One leaderboard column: a benchmark, the region within it, and the metric."""

    benchmark: str
    region: str | None
    metric: str
    label: str = ""


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
    rank: int
    model: str
    mean: float | None
    cells: dict[Column, Cell] = field(default_factory=dict)


@dataclass
class Leaderboard:
    """Models x columns of best scores; see :func:`leaderboard`."""

    columns: list[Column]
    rows: list[LeaderboardRow]
    value: str = "value"
    best: str = "layer"

    def __len__(self) -> int:
        return len(self.rows)

    def to_records(self) -> list[dict[str, Any]]:
        """JSON-ready rows: ``{"rank", "model", "mean", "scores": [{benchmark, region, metric,
        layer, value, error, ceiled, ceiling, n_layers}, ...]}`` in rank order."""
        return [
            {
                "rank": row.rank,
                "model": row.model,
                "mean": row.mean,
                "scores": [
                    {
                        "benchmark": col.benchmark,
                        "region": col.region,
                        "metric": col.metric,
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

    def to_csv(self, path: str | os.PathLike | None = None) -> str:
        """One line per model: rank, model, mean, then value, layer and error per column.

        Numbers are written in full precision, missing ones as empty fields. Writes ``path``
        (atomically) when given; returns the text either way.
        """
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["rank", "model", "mean"]
        for col in self.columns:
            header += [col.label, f"{col.label} layer", f"{col.label} error"]
        writer.writerow(header)
        for row in self.rows:
            line = [row.rank, row.model, _csv_number(row.mean)]
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
        head = "".join(f"<th>{esc(col.label)}</th>" for col in self.columns)
        body = []
        for row in self.rows:
            cells = []
            for col in self.columns:
                cell = row.cells.get(col)
                if cell is None or cell.value is None:
                    cells.append('<td class="missing">&ndash;</td>')
                    continue
                err = f" &plusmn; {cell.error:.3f}" if cell.error is not None else ""
                cls = ' class="best"' if best[col] == cell.value else ""
                layer = f'<div class="layer">{esc(cell.layer)}</div>' if cell.layer else ""
                cells.append(f"<td{cls}>{cell.value:.3f}{err}{layer}</td>")
            mean = f"{row.mean:.3f}" if row.mean is not None else "&ndash;"
            body.append(
                f'<tr><td>{row.rank}</td><td class="model">{esc(row.model)}</td>'
                f"<td>{mean}</td>{''.join(cells)}</tr>"
            )
        when = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
        what = "ceiled score" if self.value == "ceiled" else "raw score"
        how = "best layer per model" if self.best == "layer" else "latest score per model"
        page = _HTML.format(
            title=esc(title),
            note=esc(f"{what}, {how}; generated {when}"),
            head=head,
            body="\n".join(body),
        )
        if path is not None:
            _write_text(path, page)
        return page


def leaderboard(
    db: ResultsDB | Sequence[Mapping[str, Any]],
    benchmark: str | Sequence[str] | None = None,
    metric: str | Sequence[str] | None = None,
    *,
    region: str | Sequence[str] | None = None,
    best: str = "layer",
    value: str = "value",
) -> Leaderboard:
    """The best score of every model in every (benchmark, region, metric) column.

    Parameters
    ----------
    db : a :class:`ResultsDB`, or rows as returned by :meth:`ResultsDB.query`.
    benchmark, metric, region : restrict to these (a name or a list); ``None`` = all.
    best : ``"layer"``: the maximum over the model's scores in the column (over layers and
        repeated runs), ties to the earliest; ``"latest"``: the most recently added score.
    value : rank by the raw ``"value"`` or by the ``"ceiled"`` value.

    Returns
    -------
    Leaderboard
        Rows ranked by their mean over the columns they have a value in (models with no
        value last, then by name); columns sorted by benchmark, region, metric.
    """
    if best not in BEST:
        raise ValueError(f"best must be one of {BEST}; got {best!r}")
    if value not in VALUES:
        raise ValueError(f"value must be one of {VALUES}; got {value!r}")
    if isinstance(db, ResultsDB):
        rows = db.query(benchmark=benchmark, metric=metric, region=region)
    else:
        rows = [r for r in db if _keep(r, benchmark, metric, region)]

    groups: dict[tuple[str, tuple[str, str | None, str]], list[Mapping[str, Any]]] = {}
    for r in rows:
        key = (r["benchmark"], r.get("region"), r.get("metric") or "")
        groups.setdefault((r["model"], key), []).append(r)
    keys = sorted({k for _, k in groups}, key=lambda k: (k[0], k[1] or "", k[2]))
    several_metrics = len({k[2] for k in keys}) > 1
    columns = {k: Column(*k, label=_label(*k, several_metrics)) for k in keys}

    by_model: dict[str, dict[Column, Cell]] = {}
    for (model, key), scores in groups.items():
        by_model.setdefault(model, {})[columns[key]] = _pick(scores, best, value)
    board_rows = []
    for model, cells in by_model.items():
        ordered = {col: cells[col] for col in columns.values() if col in cells}
        vals = [_chosen(c, value) for c in ordered.values()]
        vals = [v for v in vals if v is not None]
        mean = sum(vals) / len(vals) if vals else None
        board_rows.append(LeaderboardRow(0, model, mean, ordered))
    board_rows.sort(key=lambda r: (r.mean is None, -(r.mean or 0.0), r.model))
    for i, r in enumerate(board_rows, 1):
        r.rank = i
    return Leaderboard(list(columns.values()), board_rows, value=value, best=best)


def render_table(board: Leaderboard, *, title: str | None = None, digits: int = 3):
    """A :class:`rich.table.Table` of the leaderboard (names are never read as markup)."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title=title, show_lines=False)
    table.add_column("#", justify="right")
    table.add_column("model")
    table.add_column("mean", justify="right")
    for col in board.columns:
        table.add_column(Text(col.label), justify="right")
    for row in board.rows:
        cells = []
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
        mean = Text(f"{row.mean:.{digits}f}" if row.mean is not None else "-")
        table.add_row(str(row.rank), Text(row.model), mean, *cells)
    return table


# --------------------------------------------------------------------------------------------


def _keep(row: Mapping[str, Any], benchmark: Any, metric: Any, region: Any) -> bool:
    for name, want in (("benchmark", benchmark), ("metric", metric), ("region", region)):
        if want is None:
            continue
        wanted = {want} if isinstance(want, str) else set(want)
        if row.get(name) not in wanted:
            return False
    return True


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
    return Cell(
        value=v if _finite(v) else None,
        error=chosen.get("error") if _finite(chosen.get("error")) else None,
        layer=chosen.get("layer"),
        ceiled=chosen.get("ceiled") if _finite(chosen.get("ceiled")) else None,
        ceiling=chosen.get("ceiling") if _finite(chosen.get("ceiling")) else None,
        n_layers=len(layers),
        score_id=chosen["id"],
    )


def _finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _label(benchmark: str, region: str | None, metric: str, with_metric: bool) -> str:
    parts = (
        [benchmark] + ([region] if region else []) + ([metric] if with_metric and metric else [])
    )
    return " / ".join(parts)


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
table {{ border-collapse: collapse; }}
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
<thead><tr><th>#</th><th>model</th><th>mean</th>{head}</tr></thead>
<tbody>
{body}
</tbody>
</table>
</body>
</html>
"""
