"""Progress bars (when they show, the time-remaining estimate) and the CLI's logging:
``--quiet`` / ``--verbose`` on every command, warnings through the ``siftrec`` logger."""

from __future__ import annotations

import io
import logging
import sys
import warnings
from pathlib import Path

import numpy as np
import polars as pl
import pytest
import typer.main
from rich.progress import Progress
from typer.testing import CliRunner

from siftrec import Interactions, progress
from siftrec.cli.common import configure_logging, show_warning
from siftrec.cli.main import app
from siftrec.evaluate import evaluate
from siftrec.models import get_model_class

runner = CliRunner()


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


@pytest.fixture(autouse=True)
def default_logging():
    """Each test starts and ends with the CLI's default verbosity."""
    configure_logging(0)
    yield
    configure_logging(0)


def terminal(monkeypatch) -> Terminal:
    """Make stderr a terminal (inside the test: pytest's capture resets it after set-up)."""
    stream = Terminal()
    monkeypatch.setattr(sys, "stderr", stream)
    return stream


@pytest.fixture(scope="module")
def data() -> Interactions:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(40), 8)
    return Interactions.from_raw(users, rng.integers(0, 30, size=users.size))


@pytest.fixture(scope="module")
def train_csv(tmp_path_factory, data) -> Path:
    path = tmp_path_factory.mktemp("log") / "train.csv"
    pl.DataFrame({"user": data.raw_users(), "item": data.raw_items()}).write_csv(path)
    return path


# ---------------------------------------------------------------------- when bars show
def test_bars_show_on_a_terminal_unless_quiet_or_nested(monkeypatch):
    terminal(monkeypatch)
    assert progress.show_progress() and progress.show_progress(True)
    assert not progress.show_progress(False)
    with progress.new_progress(True):
        assert not progress.show_progress()  # a fit inside a bench cell stays quiet
        assert progress.show_progress(True)
    assert progress.show_progress()
    configure_logging(-1)
    assert not progress.show_progress() and not progress.show_progress(True)


def test_a_bench_worker_process_shows_no_bars(monkeypatch):
    terminal(monkeypatch)
    monkeypatch.setattr(progress, "_hidden", False)  # restored after the test
    progress.hide_progress()
    assert not progress.show_progress() and not progress.show_progress(True)


def test_no_bars_when_stderr_is_not_a_terminal(monkeypatch):
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert not progress.show_progress()
    assert progress.show_progress(True)


@pytest.mark.parametrize(
    ("name", "params", "shown"),
    [
        ("mf", {"epochs": 2, "dim": 4}, "epochs"),
        ("ease", {}, "EASE"),
        ("ials", {"iterations": 2, "factors": 4}, "iALS"),
    ],
)
def test_fits_show_bars_by_default_on_a_terminal(monkeypatch, data, name, params, shown):
    stream = terminal(monkeypatch)
    get_model_class(name)(**params).fit(data)
    assert shown in stream.getvalue()
    configure_logging(-1)  # --quiet
    stream.truncate(0)
    stream.seek(0)
    get_model_class(name)(**params).fit(data)
    assert stream.getvalue() == ""


def test_torch_fit_bar_shows_time_remaining(monkeypatch, data):
    stream = terminal(monkeypatch)
    get_model_class("mf")(epochs=3, dim=4).fit(data)
    assert "ETA" in stream.getvalue()


def test_itemknn_bar_on_request(monkeypatch, data):
    stream = terminal(monkeypatch)
    from siftrec.models import knn

    monkeypatch.setattr(knn, "_PROGRESS_OPERATIONS", 0)
    get_model_class("itemknn")(k=5).fit(data)
    assert "item similarity" in stream.getvalue()


def test_evaluation_bar(monkeypatch, data):
    stream = terminal(monkeypatch)
    model = get_model_class("popularity")().fit(data)
    evaluate(model, data, "recall@5", exclude_seen=False, progress=True)
    assert "evaluating users" in stream.getvalue()


def test_time_remaining_from_completed_steps():
    """Steps of a minute: the estimate is the average step times the steps left, counted down
    between steps (rich's own estimate forgets steps older than 30 s)."""
    now = [0.0]
    column = progress.AverageTimeRemainingColumn()
    bar = Progress(column, get_time=lambda: now[0], disable=True)
    task_id = bar.add_task("cells", total=4)
    task = bar.tasks[0]
    assert column.render(task).plain == "-:--:--"
    now[0] = 60.0
    bar.advance(task_id)
    assert column.render(task).plain == "ETA 0:03:00"
    now[0] = 90.0
    assert column.render(task).plain == "ETA 0:02:30"  # refreshed by the timer alone
    now[0] = 120.0
    bar.advance(task_id)
    assert column.render(task).plain == "ETA 0:02:00"
    now[0] = 500.0
    assert column.render(task).plain == "ETA 0:00:00"


# ---------------------------------------------------------------------- logging
def _leaves(command, path=()):
    subcommands = getattr(command, "commands", None)
    if not subcommands:
        yield path
        return
    for name, sub in subcommands.items():
        yield from _leaves(sub, (*path, name))


@pytest.mark.parametrize("path", list(_leaves(typer.main.get_command(app))), ids=" ".join)
def test_every_command_takes_quiet_and_verbose(path):
    after = runner.invoke(app, [*path, "--quiet", "--help"])
    before = runner.invoke(app, ["-v", *path, "--help"])
    assert after.exit_code == before.exit_code == 0, after.output + before.output


def test_quiet_and_verbose_on_a_fit(train_csv, tmp_path):
    fit = ["fit", "--train", str(train_csv), "--model", "mf", "--param", "epochs=2"]
    normal = runner.invoke(app, [*fit, "--out", str(tmp_path / "a")])
    assert normal.exit_code == 0 and "fitted mf" in normal.stderr
    assert "debug:" not in normal.stderr
    quiet = runner.invoke(app, [*fit, "--out", str(tmp_path / "b"), "--quiet"])
    assert quiet.exit_code == 0 and quiet.stderr == ""
    verbose = runner.invoke(app, ["-v", *fit, "--out", str(tmp_path / "c")])
    assert verbose.exit_code == 0 and "debug: epoch 2" in verbose.stderr
    both = runner.invoke(app, ["-q", "-v", "models"])
    assert both.exit_code == 1 and "exclude each other" in both.stderr


def test_warnings_go_through_the_logger_and_survive_quiet(capsys):
    records = []
    handler = logging.Handler()
    handler.emit = records.append
    logger = logging.getLogger("siftrec")
    logger.addHandler(handler)
    try:
        configure_logging(-1)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            warnings.showwarning = show_warning
            warnings.warn("ids were remapped", UserWarning, stacklevel=1)
        logger.info("wrote something")
    finally:
        logger.removeHandler(handler)
    assert [(r.levelno, r.getMessage()) for r in records] == [
        (logging.WARNING, "ids were remapped")
    ]
    assert capsys.readouterr().err.strip() == "warning: ids were remapped"


def test_library_prints_nothing_itself():
    """Library messages go through logging or warnings: no print() and no direct stderr
    writes outside the CLI and the progress bars."""
    import ast

    package = Path(progress.__file__).parent
    offenders = []
    for path in package.rglob("*.py"):
        if "cli" in path.relative_to(package).parts:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call):
                func = node.func
                if isinstance(func, ast.Name) and func.id == "print":
                    offenders.append(f"{path.name}:{node.lineno}")
                if isinstance(func, ast.Attribute) and func.attr == "write":
                    target = ast.unparse(func.value)
                    if target in ("sys.stderr", "sys.stdout"):
                        offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
