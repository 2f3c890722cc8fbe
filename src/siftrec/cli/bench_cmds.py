"""``siftrec bench GRID.toml --out RUN_DIR`` and ``siftrec bench plot RUN_DIR``.

One command whose first argument is either a grid file or the word ``plot`` (a typer group with
a positional argument would swallow the subcommand name).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siftrec.cli.common import handle_errors, stderr
from siftrec.errors import SiftrecError


@handle_errors
def bench_command(
    target: Annotated[str, typer.Argument(help="Grid TOML file, or 'plot' followed by RUN_DIR.")],
    run_dir: Annotated[
        Path | None, typer.Argument(help="With 'plot': the run directory to plot.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option("--out", help="Run directory (resumed when it exists).")
    ] = None,
    retry_failed: Annotated[
        bool, typer.Option("--retry-failed", help="Run failed cells again.")
    ] = False,
    only: Annotated[
        str | None,
        typer.Option("--only", help="Comma-separated model labels: run only their cells now."),
    ] = None,
) -> None:
    """Run a benchmark grid (resumable), or `plot RUN_DIR` to draw its PNGs.

    Writes RUN_DIR/results.parquet (one row per cell), per_user/<cell>.parquet and summary.md.
    """
    from siftrec.benchgrid import load_grid, run_grid, write_plots, write_summary

    if target == "plot":
        if run_dir is None:
            raise SiftrecError("usage: siftrec bench plot RUN_DIR")
        for path in write_plots(run_dir):
            stderr.print(f"wrote {path}", highlight=False)
        return
    if run_dir is not None:
        raise SiftrecError(f"unexpected extra argument {str(run_dir)!r}; use --out RUN_DIR")
    if out is None:
        raise SiftrecError("--out RUN_DIR is required to run a grid")
    grid = load_grid(target)
    labels = None if only is None else [label.strip() for label in only.split(",") if label.strip()]
    summary = run_grid(grid, out, retry_failed=retry_failed, only=labels)
    report = write_summary(out)
    stderr.print(
        f"{summary.ran} cells run ({summary.failed} failed), {summary.skipped} already done "
        f"→ {summary.results}, {report}",
        highlight=False,
    )
