"""``siftrec reward fit`` then ``siftrec rerank``: the chosen candidate per context, every
candidate's reward, the fallback to the original."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import polars as pl
from typer.testing import CliRunner

from siftrec.cli.main import app

runner = CliRunner()


def run(*args: str | Path):
    return runner.invoke(app, [str(a) for a in args])


def write_log(path: Path) -> None:
    """Clicks go to candidates that repeat the context's words; others are ignored."""
    rng = np.random.default_rng(0)
    topics = ["lost cat park", "street fair saturday", "road closed bridge", "free piano pickup"]
    rows = []
    for c in range(60):
        topic = topics[c % 4]
        for k in range(4):
            on_topic = rng.random() < 0.5
            text = f"news {topic} update" if on_topic else f"news {topics[(c + 1) % 4]} other"
            rows.append((f"c{c}", topic, text, int(on_topic and rng.random() < 0.8), 1 / (k + 1)))
    pl.DataFrame(
        rows, schema=["context", "context_text", "candidate_text", "click", "propensity"],
        orient="row",
    ).write_csv(path)  # fmt: skip


def test_reward_fit_then_rerank(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    write_log(log)
    model = tmp_path / "reward"
    result = run("reward", "fit", "--log", log, "--out", model, "--objective", "bpr", "--ips",
                 "--epochs", "20")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    candidates = tmp_path / "candidates.csv"
    pl.DataFrame(
        {
            "context": ["a", "a", "a", "b", "b"],
            "candidate": [1, 2, 3, 4, 5],
            "context_text": ["lost cat park"] * 3 + ["road closed bridge"] * 2,
            "candidate_text": [
                "news lost cat park update",
                "news free piano pickup other",
                "original line",
                "news street fair saturday other",
                "original bridge line",
            ],
            "original": [0, 0, 1, 0, 1],
        }
    ).write_csv(candidates)
    out = tmp_path / "reranked.csv"
    result = run("rerank", "--reward", model, "--candidates", candidates, "--out", out)
    assert result.exit_code == 0, result.stderr
    frame = pl.read_csv(out)
    assert frame.columns == ["context", "candidate", "reward", "chosen", "original"]
    assert frame.height == 5 and frame["reward"].is_finite().all()
    assert frame.group_by("context").agg(pl.col("chosen").sum())["chosen"].to_list() == [1, 1]
    rewards = dict(zip(frame["candidate"], frame["reward"], strict=True))
    chosen = set(frame.filter(pl.col("chosen") == 1)["candidate"])
    # in each context the chosen row is the best generated one if it beats the original
    best_a = 1 if rewards[1] > rewards[2] else 2
    assert (best_a if rewards[best_a] > rewards[3] else 3) in chosen
    assert (4 if rewards[4] > rewards[5] else 5) in chosen
    # a huge margin keeps every original
    result = run("rerank", "--reward", model, "--candidates", candidates, "--out", out,
                 "--margin", "1000")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert set(pl.read_csv(out).filter(pl.col("chosen") == 1)["candidate"]) == {3, 5}


def test_reward_cli_errors_are_one_line(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    pl.DataFrame({"context": ["a"], "candidate_text": ["x"], "click": [1]}).write_csv(log)
    result = run("reward", "fit", "--log", log, "--out", tmp_path / "m")
    assert result.exit_code == 1 and "lacks column(s) context_text" in result.stderr
    result = run("rerank", "--reward", tmp_path, "--candidates", log, "--out", tmp_path / "o.csv")
    assert result.exit_code == 1 and "not a reward model directory" in result.stderr
