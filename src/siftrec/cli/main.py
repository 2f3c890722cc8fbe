"""The ``siftrec`` typer application; each command maps onto one Python API function."""

from __future__ import annotations

import warnings

import typer

import siftrec
from siftrec.cli.bench_cmds import bench_command
from siftrec.cli.clean_cmds import clean_command
from siftrec.cli.common import handle_errors, show_warning
from siftrec.cli.data_cmds import data_app, split_command
from siftrec.cli.demo import demo_command
from siftrec.cli.model_cmds import evaluate_command, fit_command, recommend_command, score_command
from siftrec.cli.export_cmds import export_command
from siftrec.cli.plot_cmds import plot_app
from siftrec.cli.serve_cmds import serve_command
from siftrec.cli.tune_cmds import tune_command

warnings.showwarning = show_warning  # library warnings print as one "warning: …" line

app = typer.Typer(
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
app.command("evaluate")(evaluate_command)
app.command("score")(score_command)
app.command("demo")(demo_command)
app.command("clean")(clean_command)
app.command("bench")(bench_command)
app.command("tune")(tune_command)
app.add_typer(plot_app, name="plot")
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
) -> None:
    """siftrec command line."""
