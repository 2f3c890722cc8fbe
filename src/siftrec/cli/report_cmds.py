"""``siftrec report RUN_DIR|MODEL_DIR --out report.html``: one self-contained HTML page."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siftrec.cli.common import (
    DEFAULT_LOG_OPTIONS,
    LogOptions,
    guard_outputs,
    handle_errors,
    read_input,
    stderr,
    with_log_options,
)
from siftrec.errors import SiftrecError


@handle_errors
@with_log_options
def report_command(
    path: Annotated[
        Path, typer.Argument(help="A `siftrec bench` run directory or a `siftrec fit` model.")
    ],
    out: Annotated[Path, typer.Option("--out", help="HTML file to write.")] = Path("report.html"),
    test: Annotated[
        Path | None,
        typer.Option("--test", help="Model reports: held-out file for results and per-user plots."),
    ] = None,
    train: Annotated[
        Path | None,
        typer.Option("--train", help="Model reports: training log; with is_noise, detection."),
    ] = None,
    metrics: Annotated[
        str, typer.Option("--metrics", help="Model reports: metrics on --test.")
    ] = "recall@20,ndcg@20",
    read: LogOptions = DEFAULT_LOG_OPTIONS,
) -> None:
    """Write one self-contained HTML page (no network needed to view it): results with mean ± sd
    and paired tests, training history, noise robustness, detection ROC-AUC, per-user metric
    distributions, popularity of recommended vs clicked items, and the configuration."""
    from siftrec.report import write_report  # lazy: polars, matplotlib and torch

    if not path.is_dir():
        raise SiftrecError(f"{path} is not a directory; give a bench run or a model directory")
    guard_outputs({"--out": out}, {"--test": test, "--train": train}, {"PATH": path})
    test_data = None if test is None else read_input(test, "test", read)
    train_data = None if train is None else read_input(train, "training", read)
    write_report(path, out, test=test_data, train=train_data, metrics=metrics)
    stderr.print(f"wrote {out}", highlight=False)
