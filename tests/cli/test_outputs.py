"""Every CLI output: Parquet when the name says so (CSV otherwise), modes from the umask."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions

runner = CliRunner()


def run(*args: str | Path):
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr
    return result


@pytest.fixture
def umask_022():
    old = os.umask(0o022)
    yield
    os.umask(old)


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("log") / "log.csv"
    write_interactions(generate(n_users=60, n_items=40, seed=0).interactions, path)
    return path


def outputs(log_csv: Path, tmp: Path, ext: str) -> dict[str, Path]:
    """Run split, fit, recommend, score, evaluate --per-user and clean, each writing ``ext``."""
    split = tmp / "split"
    run("split", log_csv, "--validation-ratio", "0.1", "--write-format", ext, "--out", split)
    model = tmp / "models" / "pop"
    run("fit", "--train", split / f"train.{ext}", "--model", "popularity", "--out", model)
    files = {
        "split": split,
        "model": model,
        "recommend": tmp / f"recs.{ext}",
        "score": tmp / f"scored.{ext}",
        "per_user": tmp / f"per_user.{ext}",
        "clean": tmp / f"clean.{ext}",
    }
    run("recommend", model, "-k", "5", "--out", files["recommend"])
    run("score", model, "--pairs", split / f"test.{ext}", "--out", files["score"])
    test = split / f"test.{ext}"
    run("evaluate", model, "--test", test, "--per-user", files["per_user"], "--json")
    run("clean", model, split / f"train.{ext}", "--out", files["clean"])
    return files


@pytest.mark.parametrize("ext", ["parquet", "csv"])
def test_outputs_have_the_named_format_and_umask_modes(log_csv, tmp_path, umask_022, ext):
    files = outputs(log_csv, tmp_path, ext)
    columns = {
        "recommend": ["user", "item", "rank", "score"],
        "score": ["user", "item", "score"],
        "per_user": ["user", "recall@20", "ndcg@20"],
    }
    for name, path in files.items():
        if name in ("split", "model"):
            continue
        head = path.read_bytes()[:4]
        if ext == "parquet":
            assert head == b"PAR1", name
            frame = pl.read_parquet(path)
        else:
            assert head != b"PAR1", name
            frame = pl.read_csv(path)
        assert frame.height > 0, name
        if name in columns:
            assert frame.columns == columns[name], name
        if name == "clean":
            assert frame.columns[-1] == "noise_score"
    for path in [tmp_path / "models", *files.values()]:
        expected = 0o755 if path.is_dir() else 0o644
        assert stat.S_IMODE(path.stat().st_mode) == expected, path
        if path.is_dir():
            for inner in path.iterdir():
                mode = 0o755 if inner.is_dir() else 0o644
                assert stat.S_IMODE(inner.stat().st_mode) == mode, inner
