"""Boolean options are flags, ``bench`` is a command group with ``run`` as its default, and
``fit --objective/--sampler`` are ``--param objective=/sampler=``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer.main
from typer.testing import CliRunner

from siftrec.cli.main import app

runner = CliRunner()


def _leaves(command, path: tuple[str, ...] = ()):
    """Every runnable command of the CLI with its path (``("bench", "run")``)."""
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path, command
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, (*path, name))


LEAVES = list(_leaves(typer.main.get_command(app)))


def test_every_boolean_option_is_a_flag():
    """A bool option takes no value; one that defaults to on has a --no- form to turn it off."""
    booleans = [
        (path, param)
        for path, command in LEAVES
        for param in command.params
        if param.param_type_name == "option" and param.type_descriptor.annotation is bool
    ]
    assert {("bench", "run"), ("data", "inspect"), ("recommend",)} <= {p for p, _ in booleans}
    for path, param in booleans:
        assert param.is_flag, (path, param.opts)
        if param.default is True:
            assert any(o.startswith("--no-") for o in param.secondary_opts), (path, param.opts)


@pytest.mark.parametrize("path", [p for p, _ in LEAVES], ids=" ".join)
def test_help_shows_no_value_for_flags(path):
    result = runner.invoke(app, [*path, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "<bool>" not in result.stdout


def test_flags_show_without_a_type():
    text = runner.invoke(app, ["bench", "run", "--help"], env={"COLUMNS": "200"}).stdout
    line = next(line for line in text.splitlines() if "--retry-failed" in line)
    assert line.split("│")[1].split() == ["--retry-failed", "Run", "failed", "cells", "again."]
    split = runner.invoke(app, ["split", "--help"], env={"COLUMNS": "200"}).stdout
    assert "--no-dedupe" in split


def test_bench_is_a_group_with_run_as_default(tmp_path):
    listing = runner.invoke(app, ["bench", "--help"])
    assert listing.exit_code == 0 and "run" in listing.stdout and "plot" in listing.stdout
    # no subcommand named: the arguments go to `bench run`
    implicit = runner.invoke(app, ["bench", str(tmp_path / "none.toml"), "--out", str(tmp_path)])
    explicit = runner.invoke(
        app, ["bench", "run", str(tmp_path / "none.toml"), "--out", str(tmp_path)]
    )
    assert implicit.exit_code == explicit.exit_code == 1
    assert "does not exist" in implicit.stderr and implicit.stderr == explicit.stderr
    options_first = runner.invoke(app, ["bench", "--out", str(tmp_path), "none.toml"])
    assert "does not exist" in options_first.stderr
    plot = runner.invoke(app, ["bench", "plot", str(tmp_path)])
    assert plot.exit_code == 1 and "not a bench run directory" in plot.stderr
    assert runner.invoke(app, ["bench", "plot", "--help"]).exit_code == 0


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory) -> Path:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(30), 6)
    items = rng.integers(0, 25, size=users.size)
    path = tmp_path_factory.mktemp("flags") / "train.csv"
    pl.DataFrame({"user": users, "item": items}).unique().write_csv(path)
    return path


def _fit(train: Path, out: Path, *args: str):
    return runner.invoke(app, ["fit", "--train", str(train), "--out", str(out), *args])


def _params(model_dir: Path) -> dict:
    return json.loads((model_dir / "model.json").read_text())["params"]


def test_objective_and_sampler_flags_equal_params(train_csv, tmp_path):
    common = ["--model", "mf", "--param", "epochs=1", "--param", "dim=4"]
    flags = _fit(
        train_csv,
        tmp_path / "flags",
        *common,
        "--objective",
        "tce(drop_rate=0.1)",
        "--sampler",
        "popularity(beta=0.5)",
    )
    params = _fit(
        train_csv,
        tmp_path / "params",
        *common,
        "--param",
        "objective=tce(drop_rate=0.1)",
        "--param",
        "sampler=popularity(beta=0.5)",
    )
    assert flags.exit_code == params.exit_code == 0, flags.output + params.output
    assert _params(tmp_path / "flags") == _params(tmp_path / "params")
    assert _params(tmp_path / "flags")["objective"] == "tce(drop_rate=0.1)"
    same = _fit(
        train_csv, tmp_path / "same", *common, "--objective", "bce", "--param", "objective=bce"
    )
    assert same.exit_code == 0, same.output


def test_objective_flag_conflicts_and_model_without_objective(train_csv, tmp_path):
    both = _fit(
        train_csv, tmp_path / "m", "--model", "mf", "--objective", "bpr", "--param", "objective=bce"
    )
    assert both.exit_code == 1
    lines = both.stderr.strip().splitlines()
    assert len(lines) == 1 and "--objective" in lines[0] and "objective='bce'" in lines[0]
    flag = _fit(train_csv, tmp_path / "p", "--model", "popularity", "--sampler", "uniform")
    param = _fit(train_csv, tmp_path / "q", "--model", "popularity", "--param", "sampler=uniform")
    assert flag.exit_code == param.exit_code == 1
    assert flag.stderr == param.stderr and "unknown hyperparameter 'sampler'" in flag.stderr
