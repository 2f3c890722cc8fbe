"""Training history: per-epoch records, the progress display and ``plot_history``."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siftrec.atomic import atomic_path
from siftrec.errors import SiftrecError

#: Keys of a history record that are bookkeeping, not validation metrics.
BOOKKEEPING = frozenset({"epoch", "loss", "seconds", "sample_seconds", "eval_seconds"})


def validation_metrics(history: Sequence[dict[str, Any]]) -> list[str]:
    """Names of the validation metrics recorded in ``history`` (first-seen order)."""
    names: dict[str, None] = {}
    for record in history:
        for key in record:
            if key not in BOOKKEEPING:
                names[key] = None
    return list(names)


def plot_history(history: Sequence[dict[str, Any]], path: str | Path) -> Path:
    """Write a PNG: training loss per epoch (left) and validation metrics (right), if any."""
    # lazy: matplotlib takes about a second to import and only plotting needs it
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not history:
        raise SiftrecError("the history is empty: the model has no per-epoch training record")
    metrics = validation_metrics(history)
    fig = Figure(figsize=(10 if metrics else 5.5, 4), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(1, 2 if metrics else 1, squeeze=False)[0]
    epochs = [r["epoch"] for r in history]
    axes[0].plot(epochs, [r["loss"] for r in history], marker=".")
    axes[0].set(xlabel="epoch", ylabel="training loss", title="loss")
    if metrics:
        for name in metrics:
            points = [(r["epoch"], r[name]) for r in history if name in r]
            axes[1].plot(*zip(*points, strict=True), marker="o", label=name)
        axes[1].set(xlabel="epoch", ylabel="value", title="validation")
        axes[1].legend()
    for ax in axes:
        ax.grid(alpha=0.3)
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=100)
    return path
