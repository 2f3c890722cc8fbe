"""``siftrec evaluate --propensity``: IPS/SNIPS metrics end to end from files."""

from __future__ import annotations

import json

import polars as pl
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.data.readers import read_interactions
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import generate, with_exposure
from siftrec.data.writers import write_interactions
from siftrec.evaluate.weighted import evaluate_weighted
from siftrec.models import load_model

runner = CliRunner()
METRICS = "recall@10,snips-ndcg@10,ips-recall@10"


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("ips")
    data = generate(n_users=80, n_items=60, seed=4)
    split = split_interactions(with_exposure(data, data.interactions), "random", seed=0)
    write_interactions(split.train, tmp / "train.csv")
    write_interactions(split.test, tmp / "test.csv")  # with its propensity column
    result = runner.invoke(
        app,
        [
            "fit",
            "--train",
            str(tmp / "train.csv"),
            "--model",
            "popularity",
            "--out",
            str(tmp / "pop"),
        ],
    )
    assert result.exit_code == 0, result.stderr
    return tmp


@pytest.mark.parametrize("spec", ["column", "power-law:0.5"])
def test_cli_matches_the_library(files, spec):
    args = ["evaluate", str(files / "pop"), "--test", str(files / "test.csv")]
    per_user = files / f"per_user_{spec[:3]}.parquet"
    result = runner.invoke(
        app,
        [*args, "--metrics", METRICS, "--propensity", spec, "--json", "--per-user", str(per_user)],
    )
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)
    expected = evaluate_weighted(
        load_model(files / "pop"), read_interactions(files / "test.csv"), METRICS, spec
    )
    assert got == pytest.approx({**expected.metrics, "n_users": expected.n_users})
    frame = pl.read_parquet(per_user)
    assert frame.columns == ["user", *METRICS.split(",")]
    assert frame.height == expected.n_users


def test_cli_refuses_ips_metrics_without_propensity(files):
    result = runner.invoke(
        app,
        [
            "evaluate",
            str(files / "pop"),
            "--test",
            str(files / "test.csv"),
            "--metrics",
            "snips-ndcg@10",
        ],
    )
    assert result.exit_code == 1
    assert "give a propensity source" in " ".join(result.stderr.split())
    assert "Traceback" not in result.stderr
