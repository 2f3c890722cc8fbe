"""Rich progress display of a training run: epochs, batches, loss and validation metric."""

from __future__ import annotations

from types import TracebackType
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn


class TrainProgress:
    """Context manager; a no-op when ``enabled`` is false (tests, benchmarks, scripts)."""

    def __init__(self, enabled: bool, epochs: int, batches: int, metric: str) -> None:
        self.enabled, self.metric = enabled, metric
        self.epochs, self.batches = epochs, batches
        self._metric_text = ""

    def __enter__(self) -> TrainProgress:
        if self.enabled:
            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[status]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self._progress.start()
            self._epochs = self._progress.add_task("epochs", total=self.epochs, status="")
            self._batches = self._progress.add_task("batches", total=self.batches, status="")
        return self

    def batch_done(self) -> None:
        if self.enabled:
            self._progress.advance(self._batches)

    def epoch_done(self, record: dict[str, Any], metric_value: float | None) -> None:
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
