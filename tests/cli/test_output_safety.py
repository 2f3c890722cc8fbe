"""No command overwrites what it reads: outputs are checked against inputs and model directories
before any work; evaluate flags test pairs that are training pairs; recommend refuses a users
file without a known user."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_failure(result, *fragments: str) -> None:
    """Non-zero exit, a one-line message on stderr naming the problem, no traceback."""
    assert result.exit_code != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


def snapshot(root: Path) -> dict[str, bytes]:
    """Every regular file below ``root`` with its bytes (what a refusal must leave untouched)."""
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    """A log, its split (with validation), a popularity model, a users file and a pairs file."""
    root = tmp_path_factory.mktemp("template")
    rng = np.random.default_rng(7)
    rows = [
        (f"user{u}", int(i) + 1000, int(rng.integers(0, 10**6)))
        for u in range(60)
        for i in rng.choice(50, size=int(rng.integers(6, 14)), replace=False)
    ]
    log = root / "log.csv"
    pl.DataFrame(rows, schema=["user", "item", "timestamp"], orient="row").write_csv(log)
    split = run("split", log, "--validation-ratio", "0.1", "--out", root / "split")
    assert split.exit_code == 0, split.stderr
    fit = run(
        "fit",
        "--train",
        root / "split" / "train.csv",
        "--model",
        "popularity",
        "--out",
        root / "model",
    )
    assert fit.exit_code == 0, fit.stderr
    (root / "users.txt").write_text("user1\nuser2\n")
    shutil.copy(root / "split" / "test.csv", root / "pairs.csv")
    return root


@pytest.fixture
def work(template, tmp_path, monkeypatch) -> Path:
    """A fresh copy of the template as the working directory."""
    root = tmp_path / "work"
    shutil.copytree(template, root)
    monkeypatch.chdir(root)
    return root


@pytest.fixture
def no_work(monkeypatch):
    """Reading, loading or fitting fails loudly: a refusal must come before any of them."""

    def forbidden(*args, **kwargs):
        raise AssertionError("work started before the output paths were checked")

    monkeypatch.setattr("siftrec.cli.common.read_interactions", forbidden)  # read_input's
    monkeypatch.setattr("siftrec.models.load_model", forbidden)
    monkeypatch.setattr("siftrec.models.base.Recommender.fit", forbidden)


FIT = ("fit", "--train", "split/train.csv", "--model", "popularity")
EVALUATE = ("evaluate", "model", "--test", "split/test.csv")
SCORE = ("score", "model", "--pairs", "pairs.csv")

REFUSALS = [
    # fit writes a directory: never one that holds its inputs, never over a file
    ((*FIT, "--out", "split"), ("--out split contains --train", "another output directory")),
    ((*FIT, "--out", "."), ("--out . contains --train",)),
    ((*FIT, "--out", "split/train.csv"), ("same file as --train",)),
    (
        (*FIT, "--validation", "split/validation.csv", "--out", "split/validation.csv"),
        ("same file as --validation",),
    ),
    ((*FIT, "--out", "log.csv"), ("--out log.csv is a file", "directory path")),
    ((*FIT, "--out", "log.csv/model"), ("log.csv is a file, not a directory",)),
    # recommend
    (("recommend", "model", "--out", "model/model.json"), ("inside the model directory",)),
    (("recommend", "model", "--out", "model"), ("inside the model directory",)),
    (
        ("recommend", "model", "--users", "users.txt", "--out", "users.txt"),
        ("--out users.txt is the same file as --users",),
    ),
    (("recommend", "model", "--out", "split"), ("--out split is a directory", "file path")),
    (("recommend", "model", "--out", "log.csv/recs.csv"), ("log.csv is a file, not a directory",)),
    (("recommend", "model", "--out", "fifo"), ("not a regular file",)),
    # score: symlinks and hard links to the input are the input
    ((*SCORE, "--out", "pairs.csv"), ("--out pairs.csv is the same file as --pairs",)),
    ((*SCORE, "--out", "pairs-link.csv"), ("same file as --pairs",)),
    ((*SCORE, "--out", "pairs-hard.csv"), ("same file as --pairs",)),
    ((*SCORE, "--out", "model/seen.npz"), ("inside the model directory",)),
    ((*SCORE, "--out", "model-json-link.json"), ("inside the model directory",)),
    # evaluate
    ((*EVALUATE, "--per-user", "split/test.csv"), ("--per-user", "same file as --test")),
    (
        (*EVALUATE, "--exclude", "split/validation.csv", "--per-user", "split/validation.csv"),
        ("same file as --exclude",),
    ),
    ((*EVALUATE, "--per-user", "model/per_user.csv"), ("inside the model directory",)),
    # clean
    (("clean", "log.csv", "--rule", "burst", "--out", "log-hard.csv"), ("same file as the input",)),
    (
        ("clean", "model", "log.csv", "--out", "model/arrays.npz"),
        ("inside the model directory MODEL_DIR",),
    ),
    # split writes a directory too
    (("split", "log.csv", "--out", "."), ("contains the input log",)),
    (("split", "split/train.csv", "--out", "split"), ("contains the input log",)),
    (
        (
            "split",
            "log.csv",
            "--scheme",
            "given",
            "--test-file",
            "split/test.csv",
            "--out",
            "split",
        ),
        ("contains --test-file",),
    ),
    # plot writes history.png into MODEL_DIR, nothing else there
    (("plot", "history", "model", "--out", "model/model.json"), ("inside the model directory",)),
]


@pytest.mark.parametrize(("args", "fragments"), REFUSALS, ids=lambda v: " ".join(v)[:60])
def test_output_that_would_overwrite_an_input_is_refused_before_any_work(
    work, no_work, args, fragments
):
    os.mkfifo(work / "fifo")
    (work / "pairs-link.csv").symlink_to("pairs.csv")
    os.link(work / "pairs.csv", work / "pairs-hard.csv")
    os.link(work / "log.csv", work / "log-hard.csv")
    os.link(work / "model" / "model.json", work / "model-json-link.json")
    before = snapshot(work)
    assert_clean_failure(run(*args), *fragments, "; ")
    assert snapshot(work) == before
    assert (work / "fifo").is_fifo()


def test_refused_outputs_leave_the_data_usable(work):
    assert_clean_failure(run(*FIT, "--out", "split"), "contains --train")
    assert_clean_failure(run(*SCORE, "--out", "pairs.csv"), "same file")
    refit = run(*FIT, "--out", "model")
    assert refit.exit_code == 0, refit.stderr
    scored = run(*SCORE, "--out", "scored.csv")
    assert scored.exit_code == 0, scored.stderr
    assert len(pl.read_csv("scored.csv")) == len(pl.read_csv("pairs.csv"))


def test_evaluate_warns_when_test_pairs_are_training_pairs(work):
    train = pl.read_csv("split/train.csv")
    test = pl.read_csv("split/test.csv")
    pl.concat([test, train.head(10)]).write_csv("mixed.csv")
    n = len(test) + 10
    result = run("evaluate", "model", "--test", "mixed.csv", "--json")
    assert result.exit_code == 0, result.stderr
    assert f"warning: 10 of {n} test pairs ({10 / n:.1%}) are also training pairs" in " ".join(
        result.stderr.split()
    )
    clean = run(*EVALUATE, "--json")
    assert clean.exit_code == 0, clean.stderr
    assert "training pairs" not in clean.stderr


def test_evaluate_on_the_training_file(work):
    n = len(pl.read_csv("split/train.csv"))
    same = run("evaluate", "model", "--test", "split/train.csv")
    assert same.exit_code == 0, same.stderr
    assert f"{n:,} of {n:,} test pairs (100.0%)" in " ".join(same.stderr.split())
    assert "is the test file the training file?" in " ".join(same.stderr.split())
    strict = run("evaluate", "model", "--test", "split/train.csv", "--strict")
    assert_clean_failure(strict, f"{n:,} of {n:,} test pairs", "--strict")
    assert strict.stdout == ""


def test_evaluate_strict_accepts_a_disjoint_test_file(work):
    result = run(*EVALUATE, "--strict", "--json")
    assert result.exit_code == 0, result.stderr


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("ghost1\nghost2\nghost3\n", "none of the 3 users in users.txt is known to the model"),
        ("user\nghost\n", "the one user in users.txt is not known to the model"),
        ("", "users.txt is empty"),
        ("\n\n", "users.txt is empty"),
        ("user\n", "users.txt lists no user ids"),
    ],
)
def test_recommend_without_a_known_user_fails(work, content, fragment):
    Path("users.txt").write_text(content)
    result = run("recommend", "model", "--users", "users.txt", "--out", "recs.csv")
    assert_clean_failure(result, fragment)
    assert not Path("recs.csv").exists()


def test_fit_refuses_a_foreign_directory_before_fitting(tmp_path, monkeypatch):
    """A non-model --out directory is refused up front: the fit never starts."""
    from siftrec.models.base import Recommender

    train = tmp_path / "train.csv"
    train.write_text("user,item\n1,1\n1,2\n2,1\n")
    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("keep me")
    calls = []
    monkeypatch.setattr(Recommender, "fit", lambda self, *a, **k: calls.append(1))
    result = runner.invoke(
        app, ["fit", "--train", str(train), "--model", "popularity", "--out", str(out)]
    )
    assert result.exit_code == 1
    assert "not a siftrec model directory" in result.output
    assert calls == []
    assert (out / "notes.txt").read_text() == "keep me"


def test_leftover_warning_prints_one_line(capsys):
    import warnings

    from siftrec.atomic import LeftoverWarning
    from siftrec.cli.common import show_warning

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        warnings.showwarning = show_warning
        warnings.warn("removed .x.123.tmp", LeftoverWarning, stacklevel=1)
    err = capsys.readouterr().err
    assert err.strip() == "warning: removed .x.123.tmp"
