"""End-to-end tests of the CLI contract (file names, columns, JSON shapes, errors)."""

from __future__ import annotations

import json
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


@pytest.fixture(scope="module")
def log_csv(tmp_path_factory) -> Path:
    """80 users (string ids) × 60 items, 6–15 interactions each, with a timestamp column."""
    rng = np.random.default_rng(1)
    rows = []
    for u in range(80):
        for i in rng.choice(60, size=rng.integers(6, 16), replace=False):
            rows.append((f"user{u}", int(i) + 1000, int(rng.integers(0, 10**6))))
    path = tmp_path_factory.mktemp("log") / "log.csv"
    pl.DataFrame(rows, schema=["user", "item", "timestamp"], orient="row").write_csv(path)
    return path


@pytest.fixture(scope="module")
def split_dir(log_csv, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("split") / "split"
    result = run(
        "split",
        log_csv,
        "--scheme",
        "random",
        "--test-ratio",
        "0.2",
        "--seed",
        "0",
        "--validation-ratio",
        "0.1",
        "--out",
        out,
    )
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def model_dir(split_dir, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("model") / "pop"
    result = run("fit", "--train", split_dir / "train.csv", "--model", "popularity", "--out", out)
    assert result.exit_code == 0, result.stderr
    return out


def test_split_writes_contract_files(split_dir, log_csv):
    train = pl.read_csv(split_dir / "train.csv")
    test = pl.read_csv(split_dir / "test.csv")
    valid = pl.read_csv(split_dir / "validation.csv")
    assert train.columns[:2] == ["user", "item"] and "timestamp" in train.columns
    assert train["user"].dtype == pl.String and train["user"][0].startswith("user")
    total = len(pl.read_csv(log_csv))
    assert len(train) + len(test) + len(valid) == total
    manifest = json.loads((split_dir / "manifest.json").read_text())
    assert manifest["scheme"] == "random" and manifest["seed"] == 0


def test_split_is_seeded(log_csv, split_dir, tmp_path):
    again = tmp_path / "again"
    run(
        "split",
        log_csv,
        "--test-ratio",
        "0.2",
        "--validation-ratio",
        "0.1",
        "--seed",
        "0",
        "--out",
        again,
    )
    assert (again / "test.csv").read_text() == (split_dir / "test.csv").read_text()
    other = tmp_path / "other"
    run(
        "split",
        log_csv,
        "--test-ratio",
        "0.2",
        "--validation-ratio",
        "0.1",
        "--seed",
        "1",
        "--out",
        other,
    )
    assert (other / "test.csv").read_text() != (split_dir / "test.csv").read_text()


def test_split_refuses_a_flag_of_another_scheme(log_csv, tmp_path):
    result = run(
        "split", log_csv, "--scheme", "leave-last", "--test-ratio", "0.1", "--out", tmp_path / "o"
    )
    assert_clean_failure(result, "--test-ratio does not apply to --scheme leave-last")
    assert not (tmp_path / "o").exists()
    result = run("split", log_csv, "--scheme", "leave-last", "--k", "2", "--out", tmp_path / "o")
    assert result.exit_code == 0, result.stderr
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["parameters"] == {"k": 2, "validation_k": 0}


def test_split_parquet(log_csv, tmp_path):
    result = run("split", log_csv, "--seed", "0", "--write-format", "parquet", "--out", tmp_path)
    assert result.exit_code == 0, result.stderr
    assert len(pl.read_parquet(tmp_path / "train.parquet")) > 0
    assert (tmp_path / "test.parquet").exists()


def test_fit_writes_model_json(model_dir, split_dir):
    meta = json.loads((model_dir / "model.json").read_text())
    assert meta["model"] == "popularity"
    assert meta["params"] == {"weighted": False}
    assert meta["fit_seconds"] >= 0
    assert len(meta["train_fingerprint"]) == 64
    assert {"numpy", "torch"} <= set(meta["versions"]) and meta["siftrec_version"]


def test_fit_param_coercion_and_unknown_param(split_dir, tmp_path):
    ok = run(
        "fit",
        "--train",
        split_dir / "train.csv",
        "--model",
        "popularity",
        "--param",
        "weighted=true",
        "--out",
        tmp_path / "m",
    )
    assert ok.exit_code == 0, ok.stderr
    assert json.loads((tmp_path / "m" / "model.json").read_text())["params"]["weighted"] is True
    bad = run(
        "fit",
        "--train",
        split_dir / "train.csv",
        "--model",
        "popularity",
        "--param",
        "nope=1",
        "--out",
        tmp_path / "m2",
    )
    assert_clean_failure(bad, "nope")
    assert not (tmp_path / "m2").exists()


def test_recommend_contract(model_dir, split_dir, tmp_path):
    out = tmp_path / "recs.csv"
    result = run("recommend", model_dir, "-k", "5", "--out", out)
    assert result.exit_code == 0, result.stderr
    recs = pl.read_csv(out)
    assert recs.columns == ["user", "item", "rank", "score"]
    train = pl.read_csv(split_dir / "train.csv")
    assert recs["user"].n_unique() == train["user"].n_unique()
    assert recs.group_by("user").len()["len"].max() == 5
    assert set(recs["rank"].unique().to_list()) == {1, 2, 3, 4, 5}
    seen = set(zip(train["user"], train["item"], strict=True))
    assert not seen & set(zip(recs["user"], recs["item"], strict=True))
    first = recs.filter(pl.col("user") == recs["user"][0]).sort("rank")
    assert first["score"].to_list() == sorted(first["score"].to_list(), reverse=True)


def test_recommend_user_file(model_dir, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("user1\nuser2\nnobody\n")
    out = tmp_path / "recs.csv"
    result = run("recommend", model_dir, "-k", "3", "--users", users, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert set(pl.read_csv(out)["user"].to_list()) == {"user1", "user2"}
    assert "1 unknown" in result.stderr


def test_evaluate_json_contract(model_dir, split_dir):
    result = run(
        "evaluate",
        model_dir,
        "--test",
        split_dir / "test.csv",
        "--metrics",
        "recall@20,ndcg@20",
        "--json",
    )
    assert result.exit_code == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"recall@20", "ndcg@20", "n_users"}
    assert 0 < payload["recall@20"] <= 1 and payload["n_users"] > 0


def test_evaluate_per_user_export(model_dir, split_dir, tmp_path):
    out = tmp_path / "per_user.csv"
    result = run(
        "evaluate",
        model_dir,
        "--test",
        split_dir / "test.csv",
        "--exclude",
        split_dir / "validation.csv",
        "--per-user",
        out,
    )
    assert result.exit_code == 0, result.stderr
    assert {"user", "recall@20"} <= set(pl.read_csv(out).columns)


def test_score_contract_with_unknowns(model_dir, tmp_path):
    pairs = tmp_path / "pairs.csv"
    pairs.write_text("user,item\nuser1,1000\nghost,1000\nuser2,99999\nuser2,1001\n")
    out = tmp_path / "scored.csv"
    result = run("score", model_dir, "--pairs", pairs, "--out", out)
    assert result.exit_code == 0, result.stderr
    scored = pl.read_csv(out)
    assert scored.columns == ["user", "item", "score"]
    assert scored["user"].to_list() == ["user1", "ghost", "user2", "user2"]
    assert scored["score"].is_null().to_list() == [False, True, True, False]
    assert "2 pairs" in result.stderr


def test_data_inspect(log_csv):
    result = run("data", "inspect", log_csv)
    assert result.exit_code == 0, result.stderr
    assert "80" in result.stdout


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("usr,item\na,1\n", "user"),
        ("user,item\na,1\n,2\n", "missing"),
        ("user,item,weight\na,1,x\nb,2,y\n", "numeric"),
        ("", "empty"),
    ],
)
def test_bad_input_files(tmp_path, content, fragment):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    out = tmp_path / "out"
    result = run("split", path, "--out", out)
    assert_clean_failure(result, fragment)
    assert not out.exists()


def test_missing_file_and_unknown_format(tmp_path, log_csv):
    assert_clean_failure(run("split", tmp_path / "nope.csv", "--out", tmp_path / "o"), "nope.csv")
    assert_clean_failure(run("split", log_csv, "--format", "xml", "--out", tmp_path / "o"), "xml")
    assert not (tmp_path / "o").exists()


def test_empty_after_filtering(log_csv, tmp_path):
    rated = tmp_path / "rated.csv"
    rated.write_text("user,item,rating\na,1,1\nb,2,2\n")
    result = run("split", rated, "--rating-threshold", "4", "--out", tmp_path / "o")
    assert_clean_failure(result, "no interactions")


def test_k_larger_than_catalog(model_dir, tmp_path):
    out = tmp_path / "recs.csv"
    assert_clean_failure(run("recommend", model_dir, "-k", "100000", "--out", out), "catalog")
    assert not out.exists()


def test_unknown_model_and_bad_model_dir(split_dir, tmp_path):
    assert_clean_failure(
        run("fit", "--train", split_dir / "train.csv", "--model", "nope", "--out", tmp_path / "m"),
        "unknown model",
    )
    assert_clean_failure(run("recommend", tmp_path, "--out", tmp_path / "r.csv"), "model.json")


def test_plot_history_of_a_torch_model(split_dir, tmp_path):
    model = tmp_path / "mf"
    fit = run(
        "fit",
        "--train",
        split_dir / "train.csv",
        "--model",
        "mf",
        "--param",
        "epochs=2",
        "--param",
        "dim=8",
        "--out",
        model,
    )
    assert fit.exit_code == 0, fit.stderr
    history = json.loads((model / "model.json").read_text())["history"]
    assert [r["epoch"] for r in history] == [1, 2]
    assert all("seconds" in r and "loss" in r for r in history)
    result = run("plot", "history", model)
    assert result.exit_code == 0, result.stderr
    assert (model / "history.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_history_needs_a_history(model_dir, tmp_path):
    assert_clean_failure(run("plot", "history", model_dir, "--out", tmp_path / "h.png"), "empty")
