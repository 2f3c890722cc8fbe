"""CLI plumbing: errors in the user's terms, the output guard and the one reading path."""

from __future__ import annotations

import ast
import errno
import os
import re
import zipfile
from pathlib import Path
from typing import Annotated

import polars as pl
import pytest
import typer
from typer.testing import CliRunner

from siftrec.cli.common import (
    DEFAULT_LOG_OPTIONS,
    LogOptions,
    cli_terms,
    guard_outputs,
    handle_errors,
    with_log_options,
)
from siftrec.cli.main import app
from siftrec.errors import SiftrecError

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "siftrec"
CLI_DIR = PACKAGE / "cli"


def refusal(exc: BaseException, capsys) -> str:
    """The one line ``handle_errors`` prints for ``exc`` (exit status 1)."""

    @handle_errors
    def command() -> None:
        raise exc

    with pytest.raises(typer.Exit) as exit_info:
        command()
    assert exit_info.value.exit_code == 1
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    assert "unexpected" not in lines[0]
    return " ".join(lines[0].split())


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (
            PermissionError(errno.EACCES, "Permission denied", "/srv/.recs.csv.41.0a1b2c3d.tmp"),
            "cannot write /srv/recs.csv: permission denied",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/srv/in.csv"),
            "cannot access /srv/in.csv: permission denied",
        ),
        (
            OSError(errno.EROFS, "Read-only file system", "/mnt/ro/.model.77.deadbeef.tmp"),
            "cannot write /mnt/ro/model: read-only file system",
        ),
        (
            OSError(errno.ENOSPC, "No space left on device", "/d/.m.9.cafe0123.tmp/arrays.npz"),
            "no space left on device writing /d/m/arrays.npz",
        ),
        (OSError(errno.ENOSPC, "No space left on device"), "no space left on device"),
        (
            OSError(errno.EDQUOT, "Disk quota exceeded", "/home/u/.recs.csv.1.00aa11bb.tmp"),
            "disk quota exceeded writing /home/u/recs.csv",
        ),
        (
            IsADirectoryError(errno.EISDIR, "Is a directory", "/tmp/.out.3.0f0f0f0f.tmp", "out"),
            "out is a directory; give a file path",
        ),
        (
            OSError(errno.EIO, "Input/output error", "/mnt/usb/log.csv"),
            "cannot access /mnt/usb/log.csv: input/output error",
        ),
        (
            FileNotFoundError(errno.ENOENT, "No such file", "/proc/.version.5.1234abcd.tmp"),
            "cannot write /proc/version: no such file",
        ),
        (zipfile.BadZipFile("File is not a zip file"), "corrupt or truncated model file"),
        (EOFError("No data left in file"), "corrupt or truncated model file"),
        (
            UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
            "input is not UTF-8 text (invalid start byte at byte 0)",
        ),
        (
            RuntimeError("boom"),
            "internal error (RuntimeError: boom); this is a bug in siftrec, please report it",
        ),
    ],
    ids=lambda v: type(v).__name__ if isinstance(v, BaseException) else "",
)
def test_errors_are_told_in_the_users_terms(exc, expected, capsys):
    assert expected in refusal(exc, capsys)


def test_not_a_directory_names_the_file_in_the_way(tmp_path, capsys):
    (tmp_path / "log.csv").write_text("user,item\n")
    target = tmp_path / "log.csv" / "recs.csv"
    message = refusal(NotADirectoryError(errno.ENOTDIR, "Not a directory", str(target)), capsys)
    assert f"cannot use {target}: {tmp_path / 'log.csv'} is a file, not a directory" in message


def test_guard_sees_links_and_model_files(tmp_path):
    data = tmp_path / "data.csv"
    data.write_text("user,item\na,1\n")
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.json").write_text("{}")
    (tmp_path / "link.csv").symlink_to(data)
    os.link(data, tmp_path / "hard.csv")
    os.link(model / "model.json", tmp_path / "meta.json")
    for out in ("link.csv", "hard.csv", "data.csv"):
        with pytest.raises(SiftrecError, match=f"/{out} is the same file as --in; choose"):
            guard_outputs({"--out": tmp_path / out}, {"--in": data})
    with pytest.raises(SiftrecError, match="inside the model directory MODEL_DIR"):
        guard_outputs({"--out": tmp_path / "meta.json"}, {}, {"MODEL_DIR": model})
    with pytest.raises(SiftrecError, match="overlaps the model directory MODEL_DIR"):
        guard_outputs({}, {}, {"MODEL_DIR": model}, directories={"--out": tmp_path})
    guard_outputs({"--out": tmp_path / "new.csv"}, {"--in": data}, {"MODEL_DIR": model})
    guard_outputs({}, {"--in": data}, directories={"--out": tmp_path / "new"})


def test_every_command_reads_interactions_and_models_through_common():
    """No command module calls read_interactions or load_model itself (common.py's readers do)."""
    direct = []
    for path in sorted(CLI_DIR.glob("*.py")):
        if path.name == "common.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = {alias.name for alias in node.names}
                direct += [f"{path.name}: {n}" for n in names & {"read_interactions", "load_model"}]
    assert direct == []


def test_the_read_options_reach_a_command_as_one_object():
    seen = []

    @with_log_options
    def command(
        path: Annotated[Path, typer.Argument()],
        read: LogOptions = DEFAULT_LOG_OPTIONS,
        k: Annotated[int, typer.Option("--k")] = 1,
    ) -> None:
        seen.append((path, read, k))

    single = typer.Typer()
    single.command()(command)
    args = ["x.csv", "--sep", "tab", "--columns", " user, item ,", "--k", "2", "--format", "tsv"]
    result = CliRunner().invoke(single, args)
    assert result.exit_code == 0, result.output
    read = LogOptions("tsv", "tab", ["user", "item"])
    assert seen == [(Path("x.csv"), read, 2)]
    assert read.reader_kwargs() == {
        "format": "tsv",
        "sep": "tab",
        "columns": ["user", "item"],
        "header": False,
    }
    assert CliRunner().invoke(single, ["y.csv"]).exit_code == 0
    assert seen[-1] == (Path("y.csv"), LogOptions(), 1)
    assert LogOptions().reader_kwargs() == {"format": None}


LOG_COMMANDS = (("fit",), ("split",), ("evaluate",), ("score",), ("clean",), ("tune",))


def test_every_command_that_reads_a_log_has_the_one_option_block():
    root = typer.main.get_command(app)
    commands = [root.commands[name] for (name,) in LOG_COMMANDS]
    commands.append(root.commands["data"].commands["inspect"])
    blocks = set()
    for command in commands:
        options = {flag: param for param in command.params for flag in param.opts}
        blocks.add(
            tuple((options[f].name, options[f].help) for f in ("--format", "--sep", "--columns"))
        )
    assert len(blocks) == 1
    assert [name for name, _ in blocks.pop()] == ["log_format", "log_sep", "log_columns"]


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ("the sep argument applies to csv/tsv", "--sep applies to csv/tsv"),
        ("the header argument applies to csv/tsv", "the header argument applies to csv/tsv"),
        (
            "give the format argument, e.g. format='tsv', columns=['user', 'item', 'weight']",
            "give --format, e.g. --format tsv --columns user,item,weight",
        ),
        ("the out argument a.csv is the input file", "--out a.csv is the input file"),
        ("give lr='x', format='csv'", "give lr='x', format='csv'"),  # lr has no flag
        ("sep=[not a literal]", "--sep [not a literal]"),
    ],
)
def test_library_arguments_are_shown_as_flags(message, expected):
    assert cli_terms(message) == expected


def test_reader_errors_name_the_flags(tmp_path):
    table = tmp_path / "test.txt"
    table.write_text("7188 104 1\n7188 101 1\n")
    u_data = tmp_path / "u.data"
    u_data.write_text("196\t242\t3\t881250949\n")
    headerless = tmp_path / "raw.csv"
    headerless.write_text("1,2,3\n4,5,6\n")
    runner = CliRunner()
    for args, expected in (
        ([table], "give --format (one of csv,"),
        ([table], "e.g. --format tsv --columns user,item,weight"),
        ([u_data, "--sep", ","], "--sep applies to csv/tsv files only, not to movielens"),
        ([u_data, "--columns", "a"], "--columns applies to csv/tsv/denoisingrec files"),
        ([headerless], "no header line: give --columns (e.g. --columns user,item,rating)"),
    ):
        result = runner.invoke(app, ["data", "inspect", *map(str, args)])
        assert result.exit_code == 1
        assert expected in " ".join(result.stderr.split())


def test_library_errors_name_arguments_not_flags():
    """Outside the CLI, no SiftrecError message names a command-line flag."""
    flagged = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if CLI_DIR in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Call) and getattr(node.func, "id", None) == "SiftrecError":
                texts = [
                    part.value
                    for arg in node.args
                    for part in ast.walk(arg)
                    if isinstance(part, ast.Constant) and isinstance(part.value, str)
                ]
                if any(re.search(r"(^|\s)--[a-z]", text) for text in texts):
                    flagged.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert flagged == []


def test_a_damaged_model_file_is_named(tmp_path):
    train = tmp_path / "train.csv"
    pl.DataFrame({"user": ["a", "a", "b"], "item": [1, 2, 1]}).write_csv(train)
    model = tmp_path / "model"
    runner = CliRunner()
    fit = runner.invoke(
        app, ["fit", "--train", str(train), "--model", "popularity", "--out", str(model)]
    )
    assert fit.exit_code == 0, fit.stderr
    arrays = model / "arrays.npz"
    for damaged in (arrays.read_bytes()[:40], b""):
        arrays.write_bytes(damaged)
        result = runner.invoke(app, ["recommend", str(model), "--out", str(tmp_path / "r.csv")])
        assert result.exit_code == 1
        line = " ".join(result.stderr.split())
        assert "corrupt" in line and str(model) in line and "unexpected" not in line, line


def test_a_users_file_that_is_not_utf8_is_named(tmp_path):
    train = tmp_path / "train.csv"
    pl.DataFrame({"user": ["a", "b"], "item": [1, 2]}).write_csv(train)
    runner = CliRunner()
    model = tmp_path / "model"
    runner.invoke(app, ["fit", "--train", str(train), "--model", "popularity", "--out", str(model)])
    users = tmp_path / "users.txt"
    users.write_bytes(b"caf\xe9\n")
    args = ["recommend", str(model), "--users", str(users), "--out", str(tmp_path / "r.csv")]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    assert "cannot read users.txt as text lines: invalid utf-8" in " ".join(result.stderr.split())


def test_no_space_left_while_writing_recommendations(tmp_path, monkeypatch):
    train = tmp_path / "train.csv"
    pl.DataFrame({"user": ["a", "b"], "item": [1, 2]}).write_csv(train)
    runner = CliRunner()
    model = tmp_path / "model"
    runner.invoke(app, ["fit", "--train", str(train), "--model", "popularity", "--out", str(model)])

    def full(self, file, *args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device", str(file))

    monkeypatch.setattr(pl.DataFrame, "write_csv", full)
    out = tmp_path / "recs.csv"
    result = runner.invoke(app, ["recommend", str(model), "-k", "1", "--out", str(out)])
    assert result.exit_code == 1
    assert f"no space left on device writing {out}" in " ".join(result.stderr.split())
    assert not out.exists()
