"""``siftrec clean``: rows, order, raw values and ids round-trip; detection report; errors."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.data.readers import read_interactions
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions
from siftrec.denoise.clean import METHODS, CleanMethod
from siftrec.models import ItemKNN

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, ["clean", *(str(a) for a in args)])


def assert_clean_failure(result, *fragments: str) -> None:
    """Non-zero exit, a one-line message on stderr naming the problem, no traceback."""
    assert result.exit_code != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "Traceback" not in result.stderr + result.stdout
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


def reported(result, name: str) -> float:
    match = re.search(rf"{name} ([0-9.]+)", result.stderr)
    assert match, result.stderr
    return float(match.group(1))


@pytest.fixture(scope="module")
def synthetic_csv(tmp_path_factory) -> Path:
    """The default semi-synthetic log: integer ids, timestamp, dwell_time, session, is_noise."""
    path = tmp_path_factory.mktemp("syn") / "clicks.csv"
    write_interactions(generate(seed=0).interactions, path)
    return path


@pytest.fixture(scope="module")
def string_csv(tmp_path_factory) -> Path:
    """String user ids with odd spellings, integer item ids, an extra text column."""
    rng = np.random.default_rng(3)
    rows = [
        (f"user {u:03d}", int(i) * 7, f"{rng.random():.3f}", "x,y" if u % 5 == 0 else "")
        for u in range(50)
        for i in rng.choice(40, size=int(rng.integers(4, 10)), replace=False)
    ]
    path = tmp_path_factory.mktemp("str") / "log.csv"
    frame = pl.DataFrame(rows, schema=["user_id", "item", "score", "tag"], orient="row")
    frame.write_csv(path)
    return path


def assert_rows_kept(source: Path, out: Path) -> np.ndarray:
    """Every output line is the input line plus ``,<score>``; returns the scores."""
    before = source.read_text().splitlines()
    after = out.read_text().splitlines()
    assert after[0] == before[0] + ",noise_score"
    assert len(after) == len(before)
    scores = []
    for old, new in zip(before[1:], after[1:], strict=True):
        head, _, score = new.rpartition(",")
        assert head == old
        scores.append(float(score))
    return np.array(scores)


def test_method_loss_detects_synthetic_noise(synthetic_csv, tmp_path):
    before = synthetic_csv.read_bytes()
    out = tmp_path / "scored.csv"
    result = run(synthetic_csv, "--method", "loss", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert synthetic_csv.read_bytes() == before
    scores = assert_rows_kept(synthetic_csv, out)
    assert np.all(scores > 0)  # softplus(−s)
    # measured 0.664 (default MF + bce, 20 epochs, seed 0); random scores give 0.5
    assert reported(result, "ROC-AUC") > 0.6
    assert reported(result, "precision@ratio") > 0.3  # the noise ratio is 0.2


def test_drop_top_fraction(synthetic_csv, tmp_path):
    out = tmp_path / "clean.csv"
    args = ("--method", "loss", "--param", "epochs=2", "--drop-top", "0.25")
    result = run(synthetic_csv, *args, "--out", out)
    assert result.exit_code == 0, result.stderr
    n = len(synthetic_csv.read_text().splitlines()) - 1
    kept = pl.read_csv(out)
    assert kept.height == n - round(0.25 * n)
    assert "dropped rows:" in result.stderr


def test_rule_dwell(synthetic_csv, tmp_path):
    out = tmp_path / "dwell.csv"
    result = run(synthetic_csv, "--rule", "dwell", "--min-dwell", "10", "--out", out)
    assert result.exit_code == 0, result.stderr
    scores = assert_rows_kept(synthetic_csv, out)
    dwell = pl.read_csv(synthetic_csv)["dwell_time"].to_numpy()
    np.testing.assert_allclose(scores, np.log1p(10) - np.log1p(dwell), rtol=1e-6)
    assert reported(result, "ROC-AUC") > 0.95


def test_rule_drop_flagged(synthetic_csv, tmp_path):
    out = tmp_path / "kept.csv"
    args = ("--rule", "burst", "--burst-clicks", "2", "--burst-window", "10", "--drop-flagged")
    result = run(synthetic_csv, *args, "--out", out)
    assert result.exit_code == 0, result.stderr
    kept = pl.read_csv(out)
    flagged = int(re.search(r"([0-9,]+) flagged", result.stderr).group(1).replace(",", ""))
    assert flagged > 0
    assert kept.height == pl.read_csv(synthetic_csv).height - flagged
    assert (kept["noise_score"] <= 2).all()


def test_model_dir_round_trips_string_ids(string_csv, tmp_path):
    model_dir = tmp_path / "pop"
    fitted = runner.invoke(
        app, ["fit", "--train", str(string_csv), "--model", "popularity", "--out", str(model_dir)]
    )
    assert fitted.exit_code == 0, fitted.stderr
    out = tmp_path / "scored.csv"
    result = run(model_dir, string_csv, "--out", out)
    assert result.exit_code == 0, result.stderr
    scores = assert_rows_kept(string_csv, out)
    assert scores.min() >= 0 and scores.max() <= 1  # normalised ranks
    assert "ROC-AUC" not in result.stderr  # no is_noise column, no report
    percentile = run(model_dir, string_csv, "--score", "percentile", "--out", out)
    assert percentile.exit_code == 0, percentile.stderr


def test_model_dir_is_positional_and_the_model_flag_still_works(string_csv, tmp_path):
    model_dir = tmp_path / "pop"
    runner.invoke(
        app, ["fit", "--train", str(string_csv), "--model", "popularity", "--out", str(model_dir)]
    )
    positional, flagged = tmp_path / "positional.csv", tmp_path / "flagged.csv"
    assert run(model_dir, string_csv, "--out", positional).exit_code == 0
    with pytest.warns(FutureWarning, match="--model is deprecated"):
        result = run(string_csv, "--model", model_dir, "--out", flagged)
    assert result.exit_code == 0, result.stderr
    assert flagged.read_bytes() == positional.read_bytes()
    assert "--model" not in run("--help").stdout  # a hidden alias
    twice = run(model_dir, string_csv, "--model", model_dir, "--out", flagged)
    assert_clean_failure(twice, "model directory once")
    extra = run(model_dir, model_dir, string_csv, "--out", flagged)
    assert_clean_failure(extra, "one MODEL_DIR before LOG, got 3 paths")
    with_method = run(model_dir, string_csv, "--method", "loss", "--out", flagged)
    assert_clean_failure(with_method, "exactly one of MODEL_DIR, --method or --rule")


def test_model_dir_integer_ids_parquet(tmp_path):
    data = generate(n_users=120, n_items=90, seed=5).interactions
    source = tmp_path / "log.parquet"
    frame = data.to_polars().with_columns(pl.col("item") * 1000 + 7)  # ids ≠ indices
    frame.write_parquet(source)
    model_dir = tmp_path / "knn"
    ItemKNN().fit(read_interactions(source)).save(model_dir)
    out = tmp_path / "out.parquet"
    result = run(model_dir, source, "--out", out)
    assert result.exit_code == 0, result.stderr
    scored = pl.read_parquet(out)
    assert scored.drop("noise_score").equals(frame)
    assert "ROC-AUC" in result.stderr


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (("--out", "o.csv"), ("exactly one of MODEL_DIR, --method or --rule",)),
        (("--rule", "dwell", "--method", "loss", "--out", "o.csv"), ("--method and --rule",)),
        (("--rule", "clicks", "--out", "o.csv"), ("unknown rule 'clicks'",)),
        (("--method", "magic", "--out", "o.csv"), ("unknown denoising method 'magic'",)),
        (("--method", "loss", "--score", "x", "--out", "o.csv"), ("unknown noise score 'x'",)),
        (("--rule", "dwell", "--score", "loss", "--out", "o.csv"), ("--score applies",)),
        (("--rule", "dwell", "--param", "a=1", "--out", "o.csv"), ("--param",)),
        (("--rule", "burst", "--min-dwell", "3", "--out", "o.csv"), ("--rule dwell",)),
        (("--rule", "dwell", "--burst-window", "3", "--out", "o.csv"), ("--rule burst",)),
        (("--method", "loss", "--drop-flagged", "--out", "o.csv"), ("--drop-flagged",)),
        (("--method", "loss", "--param", "epochs", "--out", "o.csv"), ("key=value",)),
        (("--method", "loss", "--param", "objective=bpr", "--out", "o.csv"), ("set by",)),
    ],
)
def test_option_errors(synthetic_csv, args, fragments):
    assert_clean_failure(run(synthetic_csv, *args), *fragments)


def test_input_errors(string_csv, synthetic_csv, tmp_path):
    out = tmp_path / "o.csv"
    assert_clean_failure(run(tmp_path / "none.csv", "--rule", "dwell", "--out", out), "none.csv")
    assert_clean_failure(run(string_csv, "--rule", "dwell", "--out", out), "dwell_time")
    assert_clean_failure(run(string_csv, "--rule", "burst", "--out", out), "timestamp")
    drop = ("--method", "loss", "--drop-top", "2", "--out", out)
    assert_clean_failure(run(synthetic_csv, *drop), "[0, 1]")  # before any training
    both = ("--rule", "dwell", "--drop-top", "0.1", "--threshold", "1", "--out", out)
    assert_clean_failure(run(synthetic_csv, *both), "not both")
    assert_clean_failure(
        run(synthetic_csv, "--rule", "dwell", "--out", tmp_path / "o.parquet.gz"),
        "compressed already",
    )
    assert not out.exists()


def test_model_on_a_log_with_unknown_users(string_csv, synthetic_csv, tmp_path):
    model_dir = tmp_path / "pop"
    runner.invoke(
        app, ["fit", "--train", str(string_csv), "--model", "popularity", "--out", str(model_dir)]
    )
    result = run(model_dir, synthetic_csv, "--out", tmp_path / "o.csv")
    assert_clean_failure(result, "unknown to the model")


def test_method_whose_objective_is_missing(synthetic_csv, tmp_path, monkeypatch):
    monkeypatch.setitem(METHODS, "tce", CleanMethod("not_registered_yet"))
    result = run(synthetic_csv, "--method", "tce", "--out", tmp_path / "o.csv")
    assert_clean_failure(result, "needs the objective 'not_registered_yet'")
