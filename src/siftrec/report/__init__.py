"""``siftrec report``: one self-contained HTML page about a benchmark run or a model directory.

The page needs no network when viewed (inline CSS, plots as inline PNG). Its sections, always
all present: results, training history, noise robustness, noise detection, per-user metric
distributions, popularity of recommended vs clicked items, configuration.
"""

from __future__ import annotations

from pathlib import Path

from siftrec.atomic import atomic_path
from siftrec.data.interactions import Interactions
from siftrec.report.page import SECTIONS, render

__all__ = ["SECTIONS", "build_report", "write_report"]


def build_report(
    path: str | Path,
    *,
    test: Interactions | None = None,
    train: Interactions | None = None,
    metrics: str = "recall@20,ndcg@20",
) -> str:
    """The HTML of the report on ``path``: a run directory (results.parquet) or a model
    directory (model.json). ``test``/``train``/``metrics`` apply to model directories."""
    path = Path(path)
    if (path / "results.parquet").is_file():
        from siftrec.report.run import run_sections  # lazy: polars/matplotlib only when used

        title, sections = run_sections(path)
        return render(title, f"benchmark run {path.name}", sections)
    from siftrec.report.model import model_sections  # lazy: loads torch

    title, sections = model_sections(path, test, train, metrics)
    return render(title, f"model directory {path.name}", sections)


def write_report(
    path: str | Path,
    out: str | Path,
    *,
    test: Interactions | None = None,
    train: Interactions | None = None,
    metrics: str = "recall@20,ndcg@20",
) -> Path:
    """Write :func:`build_report` of ``path`` to ``out`` atomically, UTF-8."""
    out = Path(out)
    page = build_report(path, test=test, train=train, metrics=metrics)
    with atomic_path(out) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out
