"""The CLI contract of augmented edges: ``siftrec fit --model lightgcn --item-text ITEMS.csv
--param augment_k=N``, then ``siftrec recommend`` on the result without the text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from siftrec.cli.main import app

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def test_fit_with_augmented_edges_then_recommend(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    rows = [(f"u{u}", int(i)) for u in range(30) for i in rng.choice(20, size=5, replace=False)]
    log, items = tmp_path / "train.csv", tmp_path / "items.csv"
    pl.DataFrame(rows, schema=["user", "item"], orient="row").write_csv(log)
    topics = ["space alien rocket", "western horse desert"]
    texts = [f"{topics[i % 2]} {i}" for i in range(20)]
    pl.DataFrame({"item": range(20), "text": texts}).write_csv(items)
    out = tmp_path / "model"
    result = run(
        "fit", "--train", log, "--model", "lightgcn", "--item-text", items,
        "--param", "augment_k=3", "--param", "epochs=2", "--param", "device=cpu", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert '"augment_k": 3' in (out / "model.json").read_text()
    result = run("recommend", out, "-k", "4", "--out", tmp_path / "recs.csv")
    assert result.exit_code == 0, result.stderr
    assert pl.read_csv(tmp_path / "recs.csv").height == 30 * 4

    result = run(
        "fit", "--train", log, "--model", "lightgcn", "--param", "augment_k=3",
        "--out", tmp_path / "m2",
    )  # fmt: skip
    assert result.exit_code == 1 and "augment_k needs item text" in result.stderr
