"""Progress of long commands: a live bar in a terminal, plain lines with an ETA in a log.

Training, scoring, activation extraction, suites, comparisons and searches all report through
:class:`ProgressDisplay`. When standard output is a terminal it draws rich's live bar; when it
is not (a cluster job, ``brainlike train ... > log``) it prints one plain, flushed line per task
at most every ``interval`` seconds and one when the task ends, such as::

    train reset4: epoch 2/5 batch 120/400 (30%) 00:41 elapsed, ETA 01:35, loss 0.412 acc 0.871

The ETA assumes the remaining steps take as long as the finished ones did on average. The
interval defaults to 30 s and can be set with the ``BRAINLIKE_PROGRESS_SECONDS`` environment
variable. Displays nest: a display opened while another is live (the epochs of a run inside a
suite) adds its tasks to the live one.
"""

from __future__ import annotations

import math
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

#: Seconds between two plain lines of one task, unless $BRAINLIKE_PROGRESS_SECONDS says otherwise.
DEFAULT_INTERVAL = 30.0


def format_duration(seconds: float | None) -> str:
    """``MM:SS`` below an hour, ``H:MM:SS`` above; ``--:--`` when unknown.

    Parameters
    ----------
    seconds : float or None
        A duration in seconds (rounded to the nearest second).

    Returns
    -------
    str
        The clock-style text.
    """
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    s = int(round(seconds))
    h, rest = divmod(s, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m:02d}:{s:02d}"


def eta_seconds(elapsed: float, done: float, total: float | None) -> float | None:
    """Seconds left if the ``total - done`` remaining steps take the mean time of the done ones.

    Parameters
    ----------
    elapsed : float
        Seconds spent on the first ``done`` steps.
    done, total : float
        Steps finished and steps in all (``total`` None: unknown).

    Returns
    -------
    float or None
        ``elapsed * (total - done) / done``; None before the first step or without a total.
    """
    if total is None or done <= 0:
        return None
    return elapsed * max(total - done, 0.0) / done


def progress_line(
    description: str,
    done: float,
    total: float | None,
    elapsed: float,
    *,
    unit: str = "",
    info: str = "",
    finished: bool = False,
) -> str:
    """One plain progress line (see the module docstring for an example).

    Parameters
    ----------
    description : str
        What runs, e.g. ``"train reset4: epoch 2/5"``.
    done, total : float
        Steps finished and steps in all (``total`` None: unknown).
    elapsed : float
        Seconds since the task started.
    unit : str
        The name of a step (``"batch"``), printed before the count.
    info : str
        Extra text (loss, accuracy) appended after a comma.
    finished : bool
        Say ``done in`` instead of the ETA.

    Returns
    -------
    str
        The line, without a newline.
    """
    count = f"{int(done)}/{int(total)}" if total is not None else f"{int(done)}"
    parts = [description, f"{unit} {count}" if unit else count]
    if total:
        parts.append(f"({100.0 * done / total:.0f}%)")
    if finished:
        timing = f"done in {format_duration(elapsed)}"
    else:
        timing = f"{format_duration(elapsed)} elapsed, ETA {format_duration(eta_seconds(elapsed, done, total))}"
    line = " ".join(parts) + " " + timing
    return f"{line}, {info}" if info else line


def _interval_from_environment() -> float:
    text = os.environ.get("BRAINLIKE_PROGRESS_SECONDS")
    if not text:
        return DEFAULT_INTERVAL
    try:
        value = float(text)
    except ValueError:
        raise ValueError(
            f"BRAINLIKE_PROGRESS_SECONDS={text!r} is not a number; set it to the seconds "
            "between two progress lines, e.g. 30"
        ) from None
    if value < 0:
        raise ValueError(f"BRAINLIKE_PROGRESS_SECONDS must be 0 or more; got {value}")
    return value


@dataclass
class _Task:
    description: str
    total: float | None
    unit: str
    info: str
    interval: float
    started: float
    last_line: float
    completed: float = 0.0
    finished: bool = False
    auto_end: bool = True
    rich_id: Any = None


# the rich Progress of the outermost live display, which nested displays draw into
_live: Any = None


class ProgressDisplay:
    """Progress of one long operation, as a rich bar (terminal) or plain lines (log).

    Use as a context manager; add a task per stage, advance it per step. Disabled displays
    print nothing. Plain lines go to ``stream`` (default: standard output at creation) and are
    flushed.

    Parameters
    ----------
    enabled : bool
        Show anything at all.
    transient : bool
        In a terminal, remove the bars when the display closes.
    interval : float, optional
        Seconds between two plain lines of a task (default $BRAINLIKE_PROGRESS_SECONDS or 30).
    stream : file, optional
        Where to write (default ``sys.stdout``).
    clock : callable, optional
        Seconds as a float (default :func:`time.monotonic`); tests pass a fake clock.
    terminal : bool, optional
        Force the bar (True) or plain lines (False); default: whether ``stream`` is a terminal.
    """

    def __init__(
        self,
        enabled: bool = True,
        *,
        transient: bool = False,
        interval: float | None = None,
        stream: IO[str] | None = None,
        clock: Callable[[], float] | None = None,
        terminal: bool | None = None,
    ) -> None:
        self.enabled = bool(enabled)
        self.transient = transient
        if interval is not None:
            self.interval = float(interval)
        else:  # a bad $BRAINLIKE_PROGRESS_SECONDS cannot stop a run that shows no progress
            self.interval = _interval_from_environment() if self.enabled else DEFAULT_INTERVAL
        self.stream = stream if stream is not None else sys.stdout
        self.clock = clock or time.monotonic
        self._tasks: list[_Task] = []
        self._rich: Any = None
        self._owns_live = False
        if terminal is None:
            terminal = self.enabled and _is_terminal(self.stream)
        self.terminal = bool(terminal)

    # -- context ---------------------------------------------------------------------------
    def __enter__(self) -> ProgressDisplay:
        global _live
        if self.enabled and self.terminal:
            if _live is not None:
                self._rich = _live
            else:
                self._rich = _rich_progress(self.stream, self.transient)
                self._rich.start()
                _live, self._owns_live = self._rich, True
        return self

    def __exit__(self, *exc: Any) -> None:
        global _live
        if self._rich is None:
            return
        if self._owns_live:
            self._rich.stop()
            _live, self._owns_live = None, False
        elif self.transient:
            for task in self._tasks:
                self._rich.remove_task(task.rich_id)
        self._rich = None

    # -- tasks -----------------------------------------------------------------------------
    def add_task(
        self,
        description: str,
        total: float | None,
        *,
        unit: str = "",
        info: str = "",
        interval: float | None = None,
        auto_end: bool = True,
    ) -> int:
        """Start a task of ``total`` steps; returns its id.

        ``unit`` names a step in plain lines; ``interval`` overrides the display's (0: a line at
        every update); ``auto_end`` False leaves the closing line to :meth:`end` (for a stage
        that adds a summary after its last step).
        """
        now = self.clock()
        task = _Task(
            description=description,
            total=None if total is None else float(total),
            unit=unit,
            info=info,
            interval=self.interval if interval is None else float(interval),
            started=now,
            last_line=now,
            auto_end=auto_end,
        )
        if self._rich is not None:
            task.rich_id = self._rich.add_task(_escape(description), total=total, info=info)
        self._tasks.append(task)
        return len(self._tasks) - 1

    def update(
        self,
        task_id: int,
        *,
        advance: float = 0,
        info: str | None = None,
        description: str | None = None,
    ) -> None:
        """Advance a task by ``advance`` steps and/or change its info or description."""
        task = self._tasks[task_id]
        task.completed += advance
        if info is not None:
            task.info = info
        if description is not None:
            task.description = description
        if self._rich is not None:
            fields = {} if info is None else {"info": info}
            name = None if description is None else _escape(description)
            self._rich.update(task.rich_id, advance=advance, description=name, **fields)
            return
        if not self.enabled or task.finished:
            return
        if task.auto_end and task.total is not None and task.completed >= task.total:
            self._finish(task)
        elif self.clock() - task.last_line >= task.interval:
            self._line(task)

    def advance(self, task_id: int, steps: float = 1) -> None:
        """Advance a task by ``steps``."""
        self.update(task_id, advance=steps)

    def end(self, task_id: int, *, info: str | None = None) -> None:
        """Close a task (all its steps done) with a last line carrying ``info``."""
        task = self._tasks[task_id]
        if info is not None:
            task.info = info
        if task.total is not None:
            task.completed = max(task.completed, task.total)
        if self._rich is not None:
            fields = {} if info is None else {"info": info}
            self._rich.update(task.rich_id, completed=task.completed, **fields)
        elif self.enabled and not task.finished:
            self._finish(task)

    def track(
        self, items: Iterable[Any], description: str, *, unit: str = "", interval: float = 0
    ) -> Iterator[Any]:
        """Iterate over ``items`` inside this display, one step per item.

        By default a plain line follows every item (``interval`` 0): each is a stage of its
        own, such as a run of a suite, whose inner progress shows between them.
        """
        items = list(items)
        with self:
            task = self.add_task(description, len(items), unit=unit, interval=interval)
            for item in items:
                yield item
                self.advance(task)

    # -- plain lines -------------------------------------------------------------------------
    def _finish(self, task: _Task) -> None:
        task.finished = True
        self._line(task, finished=True)

    def _line(self, task: _Task, finished: bool = False) -> None:
        now = self.clock()
        task.last_line = now
        text = progress_line(
            task.description,
            task.completed,
            task.total,
            now - task.started,
            unit=task.unit,
            info=task.info,
            finished=finished,
        )
        self.stream.write(text + "\n")
        self.stream.flush()


def _escape(text: str) -> str:
    from rich.markup import escape

    return escape(text)  # a run named "a[b]" is a name, not rich markup


def _is_terminal(stream: IO[str]) -> bool:
    from rich.console import Console

    console = Console(file=stream)
    return bool(console.is_terminal or console.is_jupyter)


def _rich_progress(stream: IO[str], transient: bool) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[info]}", markup=False),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(file=stream),
        transient=transient,
    )
