"""Rich progress display of a training run: epochs, batches, loss, validation metric and the
time remaining (from the average epoch so far); every epoch is also logged at DEBUG."""

from __future__ import annotations

import logging
import sys
from types import TracebackType
from typing import Any

from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn

from siftrec.progress import AverageTimeRemainingColumn, new_progress

log = logging.getLogger(__name__)


class TrainProgress:
    """Context manager; a no-op when ``enabled`` is false (tests, benchmarks, scripts)."""

    def __init__(self, enabled: bool, epochs: int, batches: int, metric: str) -> None:
        self.enabled, self.metric = enabled, metric
        self.epochs, self.batches = epochs, batches
        self._metric_text = ""

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._progress = new_progress(
                True,
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                AverageTimeRemainingColumn(),
                # erased when done on a terminal (a tuning run's trials do not pile up); printed
                # once at the end elsewhere
                transient=sys.stderr.isatty(),
            )
            self._progress.start()
            self._epochs = self._progress.add_task("epochs", total=self.epochs, status="")
            self._batches = self._progress.add_task("batches", total=self.batches, status="")
        return self

    def batch_done(self) -> None:
        if self.enabled:
            self._progress.advance(self._batches)

    def epoch_done(self, record: dict[str, Any], metric_value: float | None) -> None:
        log.debug("epoch %s: %s", record["epoch"], record)
        if not self.enabled:
            return
        if metric_value is not None:
            self._metric_text = f"{self.metric} {metric_value:.4f} (epoch {record['epoch']})"
        status = f"loss {record['loss']:.4f}  {self._metric_text}"
        self._progress.update(self._epochs, advance=1, status=status)
        self._progress.reset(self._batches)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._progress.stop()
