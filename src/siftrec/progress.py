"""Progress bars on stderr for long work, and when to show them.

A bar shows by default when stderr is a terminal; a level above INFO on the ``siftrec`` logger
(``siftrec --quiet``, or ``logging.getLogger("siftrec").setLevel(logging.WARNING)`` in Python)
turns every bar off, even one asked for. Bars estimate the time remaining from the average
duration of the steps completed so far, so the estimate holds for steps of minutes as well.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.text import Text

#: The library's logger; its level decides whether bars may show.
LOGGER = "siftrec"


def silenced() -> bool:
    """Whether the ``siftrec`` logger was set above INFO (``--quiet``): no bars at all."""
    level = logging.getLogger(LOGGER).level
    return level != logging.NOTSET and level > logging.INFO


#: Bars of :func:`new_progress` on screen now.
_active = 0
#: Set by :func:`hide_progress`: this process shows no bar at all.
_hidden = False


def hide_progress() -> None:
    """Show no bar in this process from now on (a bench worker process: its parent shows the
    bar over the cells, and a worker's own bars would garble it)."""
    global _hidden
    _hidden = True


def show_progress(progress: bool | None = None) -> bool:
    """Whether to show a bar: ``progress`` None means when stderr is a terminal and no other
    bar is on screen (a fit inside a bench cell or a tuning trial stays quiet); never when
    :func:`silenced`."""
    if _hidden or silenced():
        return False
    if progress is None:
        return sys.stderr.isatty() and not _active
    return bool(progress)


class _Progress(Progress):
    """A rich ``Progress`` that counts itself among the bars on screen while it shows."""

    _shown = False

    def start(self) -> None:
        global _active
        if not self.disable and not self._shown:
            self._shown = True
            _active += 1
        super().start()

    def stop(self) -> None:
        global _active
        super().stop()
        if self._shown:
            self._shown = False
            _active -= 1


class AverageTimeRemainingColumn(ProgressColumn):
    """Time remaining = the average duration of the completed steps × the steps left, counted
    down since the last step completed (rich's own estimate forgets steps older than 30 s)."""

    def __init__(self) -> None:
        super().__init__()
        self._last: dict[TaskID, tuple[float, float]] = {}  # task → (completed, when)

    def render(self, task: Task) -> Text:
        now = task.get_time()
        completed, when = self._last.get(task.id, (0.0, now))
        if task.completed != completed:
            completed, when = task.completed, now
            self._last[task.id] = (completed, when)
        start = task.start_time
        if task.finished or not completed or task.total is None or start is None:
            return Text("-:--:--" if not task.finished else "0:00:00", style="progress.remaining")
        average = (when - start) / completed
        left = max(average * (task.total - completed) - (now - when), 0.0)
        minutes, seconds = divmod(int(left), 60)
        hours, minutes = divmod(minutes, 60)
        return Text(f"ETA {hours}:{minutes:02d}:{seconds:02d}", style="progress.remaining")


def progress_columns() -> tuple[ProgressColumn, ...]:
    """Description, bar, done/total, elapsed time and :class:`AverageTimeRemainingColumn`."""
    return (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        AverageTimeRemainingColumn(),
    )


def new_progress(enabled: bool, *columns: ProgressColumn | str, transient: bool = True) -> Progress:
    """A rich ``Progress`` on stderr, with ``columns`` or else :func:`progress_columns` (a
    no-op when not ``enabled``); refreshed by rich's timer, so the estimate counts down between
    steps."""
    return _Progress(
        *(columns or progress_columns()),
        console=Console(stderr=True),
        transient=transient,
        disable=not enabled,
    )


@contextmanager
def progress_bar(
    description: str, total: float | None, progress: bool | None = None
) -> Iterator[Callable[..., None]]:
    """One bar over ``total`` steps (None: unknown), shown as :func:`show_progress` decides.

    Yields ``advance(steps=1, description=None)``, which moves the bar (and may relabel it).
    """
    with new_progress(show_progress(progress)) as bar:
        task = bar.add_task(description, total=total)

        def advance(steps: float = 1, description: str | None = None) -> None:
            label = {} if description is None else {"description": description}
            bar.update(task, advance=steps, **label)

        yield advance
