"""The CLI contract of text alignment: ``siftrec fit --item-text ITEMS.csv --param align=...``,
then ``siftrec recommend`` on the result without the text."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> tuple[Path, Path]:
    """A 40-user × 30-item log with string user ids and an ``item,text`` CSV (one item without
    text, one text for an item never clicked)."""
    root = tmp_path_factory.mktemp("align")
    rng = np.random.default_rng(0)
    rows = [
        (f"u{u}", int(i) + 100)
        for u in range(40)
        for i in rng.choice(30, size=int(rng.integers(4, 9)), replace=False)
    ]
    log = root / "train.csv"
    pl.DataFrame(rows, schema=["user", "item"], orient="row").write_csv(log)
    topics = ["space alien rocket", "western horse desert", "romance love wedding"]
    items = root / "items.csv"
    pl.DataFrame(
        {
            "item": [i + 100 for i in range(1, 30)] + [999],
            "text": [f"{topics[i % 3]} film number {i}" for i in range(1, 30)] + ["unseen"],
        }
    ).write_csv(items)
    return log, items


@pytest.mark.parametrize(("model", "align"), [("lightgcn", "con"), ("mf", "gen"), ("mf", "none")])
def test_fit_with_item_text_then_recommend(
    files: tuple[Path, Path], tmp_path: Path, model: str, align: str
) -> None:
    log, items = files
    out = tmp_path / "model"
    result = run(
        "fit", "--train", log, "--model", model, "--item-text", items,
        "--param", f"align={align}", "--param", "epochs=2", "--param", "device=cpu", "--out", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    recs = tmp_path / "recs.csv"
    result = run("recommend", out, "-k", "5", "--out", recs)
    assert result.exit_code == 0, result.stderr
    frame = pl.read_csv(recs)
    assert frame.height == 40 * 5 and frame["user"].n_unique() == 40


def test_item_text_errors_are_one_line(files: tuple[Path, Path], tmp_path: Path) -> None:
    log, items = files
    cases = [
        (["--model", "mf", "--param", "align=con"], "needs item text"),
        (["--model", "popularity", "--item-text", items], "takes no --item-text"),
        (["--model", "mf", "--item-text", tmp_path / "none.csv"], "does not exist"),
    ]
    for extra, message in cases:
        result = run("fit", "--train", log, "--out", tmp_path / "m", *extra)
        assert result.exit_code == 1
        lines = [line for line in result.stderr.strip().splitlines() if line.strip()]
        assert len(lines) == 1 and message in lines[0], result.stderr
