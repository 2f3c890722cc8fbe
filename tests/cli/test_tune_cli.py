"""``siftrec tune``: outputs, resume, a given validation file and one-line errors."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.models import load_model

runner = CliRunner()
FAST = ["--param", "epochs=2", "--param", "objective=bpr", "--param", "sampler=uniform"]
FAST += ["--param", "device=cpu", "--param", "batch_size=64"]


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """A training file and a validation file of two user groups with disjoint tastes."""
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", f"i{i}")
        for u in range(50)
        for i in rng.choice(20, size=10, replace=False) + 20 * (u % 2)
    ]
    root = tmp_path_factory.mktemp("tune")
    frame = pl.DataFrame(rows, schema=["user", "item"], orient="row")
    holdout = np.arange(len(rows)) % 5 == 0
    frame.filter(~pl.Series(holdout)).write_csv(root / "train.csv")
    frame.filter(pl.Series(holdout)).write_csv(root / "validation.csv")
    return root / "train.csv", root / "validation.csv"


def test_tune_writes_the_study_the_trials_and_the_best_model_and_resumes(files, tmp_path):
    train, validation = files
    out = tmp_path / "search"
    args = ["tune", "--train", train, "--model", "mf", "--out", out, "--validation", validation]
    result = run(*args, "--trials", "2", "--seed", "3", *FAST)
    assert result.exit_code == 0, result.stderr
    assert "[2/2] trial 1:" in result.stderr and "best trial" in result.stderr
    assert "validation: given" in result.stderr
    assert (out / "study.db").is_file()
    assert pl.read_parquet(out / "trials.parquet").height == 2
    assert load_model(out / "best").name == "mf"

    again = run(*args, "--trials", "3", "--seed", "3", *FAST)
    assert again.exit_code == 0, again.stderr
    assert "resuming: 2 of 3 trials done" in again.stderr
    assert pl.read_parquet(out / "trials.parquet")["number"].to_list() == [0, 1, 2]


@pytest.mark.parametrize(
    ("extra", "fragment"),
    [
        (["--model", "nosuch", "--trials", "1"], "unknown model 'nosuch'"),
        (["--model", "mf", "--trials", "0"], "trials must be a positive integer"),
        (["--model", "mf", "--trials", "1", "--param", "dimm=3"], "unknown hyperparameter"),
        (["--model", "mf", "--trials", "1", "--metric", "ndcg"], "ndcg"),
    ],
)
def test_bad_input_is_a_one_line_error(files, tmp_path, extra, fragment):
    result = run("tune", "--train", files[0], "--out", tmp_path / "s", *extra)
    assert result.exit_code == 1
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and fragment in lines[0], result.stderr
    assert "Traceback" not in result.stderr
