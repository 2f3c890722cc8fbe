"""The graded-feedback contract end to end: a user,item,level CSV through fit and recommend."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
import torch
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.data.readers import read_interactions
from siftrec.models import load_model
from siftrec.objectives import GNOLR

runner = CliRunner()


def run(*args: str | Path) -> None:
    result = runner.invoke(app, [str(a) for a in args])
    assert result.exit_code == 0, result.stderr + result.stdout


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """30 users × 25 items with levels 1..3, some pairs repeated at another level."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(30), 6)
    items = np.concatenate([rng.choice(25, 6, replace=False) for _ in range(30)])
    levels = rng.integers(1, 4, len(users))
    frame = pl.DataFrame({"user": users, "item": items, "level": levels})
    repeated = frame.head(20).with_columns(
        level=pl.lit(1, dtype=pl.Int64)
    )  # shallower repeats: no effect
    root = tmp_path_factory.mktemp("graded")
    paths = {"levels": root / "levels.csv", "plain": root / "plain.csv"}
    pl.concat([frame, repeated]).write_csv(paths["levels"])
    frame.drop("level").write_csv(paths["plain"])
    return paths


def recommendations(path: Path) -> pl.DataFrame:
    return pl.read_csv(path).sort(["user", "rank"])


def test_gnolr_fits_and_recommends_by_the_deepest_level(files, tmp_path):
    out = tmp_path / "gnolr"
    run("fit", "--train", files["levels"], "--model", "mf", "--param", "objective=gnolr",
        "--param", "epochs=3", "--out", out)  # fmt: skip
    run("recommend", out, "--k", "5", "--out", tmp_path / "recs.csv")
    recs = recommendations(tmp_path / "recs.csv")
    model = load_model(out)
    objective = GNOLR()
    objective.setup(read_interactions(files["levels"]))
    users = np.arange(model.n_users)
    logits = model._score(users)
    prob = objective.deepest_probability(logits, n_negatives=model.config.n_negatives).numpy()
    prob[model.seen_.toarray() > 0] = -np.inf
    want = np.argsort(-prob, axis=1, kind="stable")[:, :5]
    got = recs["item"].to_numpy().reshape(-1, 5)
    raw_want = model.item_map_.to_raw(want.ravel()).reshape(-1, 5)
    assert (got == raw_want.astype(got.dtype)).all()


def test_other_objectives_treat_every_row_as_a_positive(files, tmp_path):
    for name in ("levels", "plain"):
        run("fit", "--train", files[name], "--model", "mf", "--param", "objective=bpr",
            "--param", "epochs=2", "--out", tmp_path / name)  # fmt: skip
        run("recommend", tmp_path / name, "--out", tmp_path / f"{name}.csv")
    a, b = (recommendations(tmp_path / f"{n}.csv") for n in ("levels", "plain"))
    assert a.equals(b)


def test_lightgcn_and_learned_cutpoints(files, tmp_path):
    out = tmp_path / "lightgcn"
    run("fit", "--train", files["levels"], "--model", "lightgcn", "--param",
        "objective=gnolr(learn_cutpoints=true)", "--param", "epochs=1", "--out", out)  # fmt: skip
    model = load_model(out)
    a = model.scorer_.objective.cutpoints(3).detach()
    assert torch.all(torch.diff(a) > 0)


def test_censored_levels_reach_the_saved_model(files, tmp_path):
    scores = {}
    for name, spec in (
        ("plain", "gnolr(towers=false)"),
        ("censored", "gnolr(towers=false, censored=true)"),
    ):
        out = tmp_path / name
        run("fit", "--train", files["levels"], "--model", "mf", "--param", f"objective={spec}",
            "--param", "epochs=2", "--out", out)  # fmt: skip
        model = load_model(out)
        assert ("censored=true" in model.config.objective) is (name == "censored")
        scores[name] = model._score(np.arange(model.n_users)).numpy()
    assert not np.allclose(scores["plain"], scores["censored"])
