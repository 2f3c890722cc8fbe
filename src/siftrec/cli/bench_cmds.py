"""``siftrec bench run GRID.toml --out RUN_DIR`` and ``siftrec bench plot RUN_DIR``.

``run`` is the default subcommand: ``siftrec bench GRID.toml --out RUN_DIR`` runs the grid.

Exit status: 0 when every selected cell of the run directory is ok; 1 when the grid fails its
preflight (one ``error:`` line per problem, nothing run) or when any cell failed (after the rest
ran; the last stderr line says which).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape
from typer.core import TyperGroup

from siftrec.cli.common import errors, fail, handle_errors, stderr
from siftrec.errors import SiftrecError

#: Failed cells named on the summary line; summary.md lists them all.
SHOWN_FAILURES = 3
#: The subcommand ``siftrec bench`` runs when its first argument names none.
DEFAULT_COMMAND = "run"


class DefaultCommandGroup(TyperGroup):
    """A command group whose arguments go to :data:`DEFAULT_COMMAND` when they name no
    subcommand (``siftrec bench GRID.toml --out DIR`` is ``siftrec bench run GRID.toml ...``)."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ctx.help_option_names:
            args = [DEFAULT_COMMAND, *args]
        return super().parse_args(ctx, args)


bench_app = typer.Typer(
    cls=DefaultCommandGroup,
    help="Benchmark grids: `run` (the default: `siftrec bench GRID.toml --out RUN_DIR`) and "
    "`plot`.",
    no_args_is_help=True,
)


@bench_app.command(DEFAULT_COMMAND, context_settings={"allow_extra_args": True})
@handle_errors
def run_command(
    ctx: typer.Context,
    grid_file: Annotated[str, typer.Argument(metavar="GRID.toml", help="Grid TOML file.")],
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
    workers: Annotated[
        int,
        typer.Option(
            "--workers",
            min=1,
            help="Cells run at once, each in its own process (cell locks keep runs apart).",
        ),
    ] = 1,
) -> None:
    """Run a benchmark grid (resumable; the default subcommand of `siftrec bench`).

    Writes RUN_DIR/results.parquet (one row per cell), per_user/<cell>.parquet and summary.md.
    Every cell is checked (data paths, names, parameter values) before the first runs. Exits 1
    when the check finds a problem (nothing runs) or when any cell failed.
    """
    # lazy: benchgrid loads polars and the evaluation code; only this command needs them
    from siftrec.benchgrid import load_grid, run_grid, write_summary
    from siftrec.benchgrid.check import GridProblems

    if ctx.args:
        raise SiftrecError(f"unexpected extra argument {ctx.args[0]!r}; use --out RUN_DIR")
    if out is None:
        raise SiftrecError("--out RUN_DIR is required to run a grid")
    grid = load_grid(grid_file)
    labels = None if only is None else [label.strip() for label in only.split(",") if label.strip()]
    try:
        summary = run_grid(grid, out, retry_failed=retry_failed, only=labels, workers=workers)
    except GridProblems as exc:
        for problem in exc.problems:
            errors.print(f"[bold red]error:[/] {escape(f'{grid_file}: {problem}')}")
        raise typer.Exit(1) from None
    report = write_summary(out)
    stderr.print(
        f"{summary.ran} cells run ({summary.failed} failed), {summary.skipped} already done "
        f"→ {summary.results}, {report}",
        highlight=False,
    )
    if summary.failures:
        fail(escape(failure_line(summary.failures, summary.total, summary.failed, report)))


@bench_app.command("plot")
@handle_errors
def plot_command(
    run_dir: Annotated[
        Path | None, typer.Argument(metavar="RUN_DIR", help="Run directory of `siftrec bench`.")
    ] = None,
) -> None:
    """Draw the PNGs of a run directory (RUN_DIR/plots); failed cells are left out."""
    from siftrec.benchgrid import write_plots  # lazy: loads matplotlib and polars
    from siftrec.benchgrid.report import load_run

    if run_dir is None:
        raise SiftrecError("usage: siftrec bench plot RUN_DIR")
    for path in write_plots(run_dir):
        stderr.print(f"wrote {path}", highlight=False)
    frame, _ = load_run(run_dir)
    failed = frame.filter(frame["status"] != "ok").height
    if failed:
        stderr.print(
            f"{failed} failed cell{'s' * (failed > 1)} left out of the plots "
            f"(see {Path(run_dir) / 'summary.md'})",
            highlight=False,
            soft_wrap=True,
        )


def failure_line(failures: list[tuple[str, str]], total: int, failed_now: int, report: Path) -> str:
    """``3 of 24 cells failed: a/b/seed1 (error), ...; all errors: RUN/summary.md``.

    Names the first :data:`SHOWN_FAILURES` cells with a shortened error, and says how many of
    the failures were recorded by an earlier run (skipped now; ``--retry-failed`` reruns them).
    """
    shown = ", ".join(f"{name} ({_short(error)})" for name, error in failures[:SHOWN_FAILURES])
    more = len(failures) - SHOWN_FAILURES
    line = f"{len(failures)} of {total} cells failed: {shown}"
    line += f" and {more} more" if more > 0 else ""
    earlier = len(failures) - failed_now
    if earlier:
        line += f"; {earlier} failed in an earlier run (--retry-failed runs them again)"
    return f"{line}; all errors: {report}"


def _short(error: str, width: int = 80) -> str:
    """The error without the exception name of a SiftrecError, cut to ``width`` characters."""
    error = error.removeprefix("SiftrecError: ")
    return error if len(error) <= width else error[: width - 1] + "…"
