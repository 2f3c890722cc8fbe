"""``siftrec similar`` and ``siftrec recommend --history/--allow/--deny``, end to end."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.models import load_model

runner = CliRunner()

# u1 {a, b, d}, u2 {a, c}, u3 {b, c}, u4 {a, b, c}, u5 {c, d}
CLICKS = "user,item\nu1,a\nu1,b\nu1,d\nu2,a\nu2,c\nu3,b\nu3,c\nu4,a\nu4,b\nu4,c\nu5,c\nu5,d\n"


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def assert_clean_failure(result, *fragments: str) -> None:
    assert result.exit_code != 0
    lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment.lower() in lines[0].lower(), lines[0]


def fitted(tmp: Path, model: str) -> Path:
    train = tmp / "train.csv"
    train.write_text(CLICKS)
    out = tmp / model
    result = run("fit", "--train", train, "--model", model, "--out", out)
    assert result.exit_code == 0, result.stderr
    return out


@pytest.fixture(scope="module")
def knn_dir(tmp_path_factory) -> Path:
    return fitted(tmp_path_factory.mktemp("knn"), "itemknn")


def test_similar_from_a_list_matches_the_python_api(knn_dir, tmp_path):
    out = tmp_path / "similar.csv"
    result = run("similar", knn_dir, "--items", "a,c", "-k", "2", "--out", out)
    assert result.exit_code == 0, result.stderr
    frame = pl.read_csv(out)
    assert frame.columns == ["item", "similar_item", "rank", "score"]
    expected = load_model(knn_dir).similar_items_raw(["a", "c"], k=2, as_="polars")
    assert frame["item"].to_list() == expected["item"].to_list()
    assert frame["similar_item"].to_list() == expected["similar_item"].to_list()
    assert frame["rank"].to_list() == [1, 2, 1, 2]


def test_similar_from_a_file_skips_unknown_items(knn_dir, tmp_path):
    items = tmp_path / "items.txt"
    items.write_text("b\nnope\n")
    out = tmp_path / "similar.parquet"
    result = run("similar", knn_dir, "--items", items, "-k", "3", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "1 unknown items skipped" in result.stderr
    assert set(pl.read_parquet(out)["item"].to_list()) == {"b"}


def test_similar_errors(knn_dir, tmp_path):
    out = tmp_path / "s.csv"
    assert_clean_failure(run("similar", knn_dir, "--items", "zz", "--out", out), "not known")
    pop = fitted(tmp_path, "popularity")
    assert_clean_failure(
        run("similar", pop, "--items", "a", "--out", out), "cannot find similar items"
    )


def test_recommend_history_folds_in_new_users_and_masks_known_users_posts(knn_dir, tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("user,item\nnewbie,a\nnewbie,zz\nu2,b\n")
    out = tmp_path / "recs.csv"
    result = run("recommend", knn_dir, "--history", history, "-k", "2", "--out", out)
    assert result.exit_code == 0, result.stderr
    assert "1 posted items unknown" in result.stderr
    recs = pl.read_csv(out)
    assert recs.columns == ["user", "item", "rank", "score"]
    model = load_model(knn_dir)
    newbie = model.recommend_history_raw(
        pl.DataFrame({"user": ["newbie"], "item": ["a"]}), k=2, as_="polars"
    )
    assert recs.filter(pl.col("user") == "newbie")["item"].to_list() == newbie["item"].to_list()
    # u2 trained on {a, c} and posted b: only d is left
    assert recs.filter(pl.col("user") == "u2")["item"].to_list() == ["d"]


def test_recommend_allow_and_deny_lists(knn_dir, tmp_path):
    allow, deny = tmp_path / "allow.txt", tmp_path / "deny.txt"
    allow.write_text("item\nd\nc\n")
    deny.write_text("d\nunknown\n")
    out = tmp_path / "recs.csv"
    result = run("recommend", knn_dir, "-k", "3", "--allow", allow, "--deny", deny, "--out", out)
    assert result.exit_code == 0, result.stderr
    assert set(pl.read_csv(out)["item"].to_list()) == {"c"}


def test_recommend_history_errors(knn_dir, tmp_path):
    history = tmp_path / "history.csv"
    history.write_text("user,item\nnewbie,a\n")
    users = tmp_path / "users.txt"
    users.write_text("u1\n")
    out = tmp_path / "recs.csv"
    both = run("recommend", knn_dir, "--history", history, "--users", users, "--out", out)
    assert_clean_failure(both, "--users or --history")
    random_dir = fitted(tmp_path, "random")
    assert_clean_failure(
        run("recommend", random_dir, "--history", history, "--out", out), "cannot fold in"
    )
