"""The ``siftrec`` typer application; each command maps onto one Python API function."""

from __future__ import annotations

import warnings

import typer

import siftrec
from siftrec.cli.bench_cmds import bench_app
from siftrec.cli.clean_cmds import clean_command
from siftrec.cli.common import SiftrecGroup, configure_logging, fail, handle_errors, show_warning
from siftrec.cli.data_cmds import data_app, split_command
from siftrec.cli.demo import demo_command
from siftrec.cli.export_cmds import export_command
from siftrec.cli.model_cmds import evaluate_command, fit_command, recommend_command, score_command
from siftrec.cli.models_cmds import models_command
from siftrec.cli.plot_cmds import plot_app
from siftrec.cli.report_cmds import report_command
from siftrec.cli.rerank_cmds import rerank_command, reward_app
from siftrec.cli.serve_cmds import serve_command
from siftrec.cli.similar_cmds import similar_command
from siftrec.cli.tune_cmds import tune_command

warnings.showwarning = show_warning  # library warnings print as one "warning: …" line

app = typer.Typer(
    cls=SiftrecGroup,
    name="siftrec",
    help="Recommenders that learn the true preferences from noisy, biased implicit feedback.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(data_app, name="data")
app.command("split")(handle_errors(split_command))
app.command("fit")(fit_command)
app.command("recommend")(recommend_command)
app.command("similar")(similar_command)
app.command("evaluate")(evaluate_command)
app.command("score")(score_command)
app.command("demo")(demo_command)
app.command("clean")(clean_command)
app.add_typer(bench_app, name="bench")
app.command("tune")(tune_command)
app.add_typer(plot_app, name="plot")
app.command("report")(report_command)
app.command("rerank")(rerank_command)
app.add_typer(reward_app, name="reward")
app.command("models")(models_command)
app.command("serve")(serve_command)
app.command("export")(export_command)


def version_callback(value: bool) -> None:
    if value:
        typer.echo(f"siftrec {siftrec.__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(
        False, "--version", callback=version_callback, is_eager=True, help="Show the version."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Only warnings and errors: no progress bars or 'wrote' lines."
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Also debug messages."),
) -> None:
    """siftrec command line. --quiet and --verbose apply to every command and may also follow
    it (`siftrec fit ... --quiet`)."""
    if quiet and verbose:
        fail("--quiet and --verbose exclude each other")
    configure_logging(-1 if quiet else 1 if verbose else 0)
