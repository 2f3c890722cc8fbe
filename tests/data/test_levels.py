"""Ordinal feedback levels: collapsing, behaviour orders, grading, and the readers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siftrec.data.interactions import Interactions
from siftrec.data.levels import (
    behavior_order,
    collapse_levels,
    count_levels,
    cumulative_indicators,
    filter_levels,
    level_names,
    levels_from_thresholds,
    levels_of,
    n_levels,
    quantile_levels,
    rating_levels,
)
from siftrec.data.readers import read_interactions
from siftrec.data.readers.multibehavior import parse_format, read_multibehavior
from siftrec.errors import SiftrecError


def test_duplicates_collapse_to_the_deepest_level_in_input_order():
    log = Interactions.from_raw(
        [1, 1, 2, 1, 2], [7, 8, 7, 7, 7], columns={"level": [1, 2, 3, 3, 1]}
    )
    out = collapse_levels(log)
    assert out.raw_users().tolist() == [1, 2, 1]
    assert out.raw_items().tolist() == [8, 7, 7]
    assert levels_of(out).tolist() == [2, 3, 3]
    assert n_levels(out) == 3


def test_a_log_without_levels_is_one_level_and_unchanged():
    log = Interactions.from_raw([1, 1], [2, 2])
    assert collapse_levels(log) is log
    assert levels_of(log).tolist() == [1, 1]


def test_cumulative_indicators_are_nested():
    y = cumulative_indicators(np.array([0, 1, 3]), 3)
    assert y.tolist() == [[False] * 3, [True, False, False], [True] * 3]


def test_behaviour_orders_declared_or_known():
    assert behavior_order(["buy", "collect", "cart"]) == ["collect", "cart", "buy"]
    assert behavior_order(["b", "a"], ["b", "a"]) == ["b", "a"]
    with pytest.raises(SiftrecError, match="no commitment order known for behaviours share"):
        behavior_order(["share", "buy"])
    with pytest.raises(SiftrecError, match="not in the declared order"):
        behavior_order(["buy", "cart"], ["buy"])


def test_thresholds_and_ratings_grade_levels():
    assert levels_from_thresholds([1, 4, 4.5, 5], [5]).tolist() == [0, 0, 0, 1]
    log = Interactions.from_raw([1, 1, 2], [1, 2, 1], columns={"rating": [5, 3, 1]})
    assert levels_of(rating_levels(log)).tolist() == [5, 3, 1]
    assert levels_of(rating_levels(log, [4, 5])).tolist() == [2, 0, 0]
    with pytest.raises(SiftrecError, match="increase strictly"):
        levels_from_thresholds([1], [3, 2])


def test_play_counts_bucket_into_quantile_levels():
    counts = np.array([1, 2, 3, 4, 5, 6, 10, 50, 100, 200, 7, 8])
    levels = quantile_levels(counts, 3)
    assert levels.min() == 1 and levels.max() == 3
    assert np.all(np.diff(levels[np.argsort(counts, kind="stable")]) >= 0)  # monotone in count
    # heavy ties merge buckets: fewer levels than asked, numbered densely
    assert set(quantile_levels(np.ones(5), 4).tolist()) == {1}
    log = Interactions.from_raw([1, 2, 3], [1, 1, 1], weights=[1, 5, 100])
    assert levels_of(count_levels(log, 3)).tolist() == [1, 2, 3]


def test_filter_levels_keeps_the_deep_rows():
    log = Interactions.from_raw([1, 2, 3], [1, 1, 1], columns={"level": [1, 3, 2]})
    assert filter_levels(log, 3).raw_users().tolist() == [2]


def test_a_level_column_is_read_and_collapsed(tmp_path: Path):
    path = tmp_path / "fb.csv"
    path.write_text("user,item,level\na,x,1\na,x,3\nb,y,2\n")
    log = read_interactions(path)
    assert len(log) == 2
    assert levels_of(log).tolist() == [3, 2]


@pytest.mark.parametrize(("value", "message"), [("1.5", "integers"), ("-1", ">= 0")])
def test_bad_levels_are_one_line_errors(tmp_path: Path, value, message):
    path = tmp_path / "fb.csv"
    path.write_text(f"user,item,level\na,x,{value}\n")
    with pytest.raises(SiftrecError, match=message):
        read_interactions(path)


def test_a_behaviour_column_maps_to_levels_by_the_declared_order(tmp_path: Path):
    path = tmp_path / "log.csv"
    path.write_text("user,item,behavior\n1,1,like\n1,1,share\n2,1,like\n")
    log = read_interactions(path, "multibehavior:like,share")
    assert levels_of(log).tolist() == [2, 1]
    assert level_names(log) == {1: "like", 2: "share"}
    with pytest.raises(SiftrecError, match="declare"):
        read_interactions(path, "multibehavior")


def test_one_file_per_behaviour(tmp_path: Path):
    (tmp_path / "buy.txt").write_text("0 1\n1 2\n")
    (tmp_path / "collect.txt").write_text("0 1\n0 3\n")
    (tmp_path / "notes.md").write_text("ignored")
    log = read_multibehavior(tmp_path)
    columns = (log.raw_users().tolist(), log.raw_items().tolist(), levels_of(log).tolist())
    pairs = sorted(zip(*columns, strict=True))
    assert pairs == [(0, 1, 2), (0, 3, 1), (1, 2, 2)]
    assert level_names(log) == {1: "collect", 2: "buy"}
    with pytest.raises(SiftrecError, match="no file for behaviours cart"):
        read_multibehavior(tmp_path, ["cart", "buy"])


def test_format_strings():
    assert parse_format("multibehavior") is None
    assert parse_format("MultiBehavior: a, b") == ["a", "b"]
    with pytest.raises(SiftrecError, match="empty"):
        parse_format("multibehavior:")


def fake_release(folder: Path) -> Path:
    """A tiny MBGCN-layout release: 3 users × 4 items."""
    files = {
        "data_size.txt": "3 4\n",
        "train.txt": "0 0\n1 1\n",
        "test.txt": "0 1\n2 2\n",
        "validation.txt": "1 3\n2 0\n",
        "cart.txt": "0 1\n",
        "collect.txt": "0 2\n1 1\n",
    }
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


def test_the_mbgcn_format_reads_release_files_as_split_parts(tmp_path: Path):
    folder = fake_release(tmp_path)
    train = read_interactions(folder / "train.txt", "mbgcn:crgcn")
    columns = (train.raw_users().tolist(), train.raw_items().tolist(), levels_of(train).tolist())
    # purchases train ∪ test at level 3 (0-1 also carted, 1-1 also collected: the deepest
    # wins), the collect 0-2 at level 1
    assert sorted(zip(*columns, strict=True)) == [
        (0, 0, 3), (0, 1, 3), (0, 2, 1), (1, 1, 3), (2, 2, 3)
    ]  # fmt: skip
    buys = read_interactions(folder / "train.txt", "mbgcn:crgcn:buy")
    assert len(buys) == 4 and set(levels_of(buys).tolist()) == {3}
    assert len(read_interactions(folder / "train.txt", "mbgcn:honest:buy")) == 2
    test = read_interactions(folder / "validation.txt", "mbgcn:crgcn")
    assert test.shape == (3, 4) and len(test) == 2
    assert len(read_interactions(folder / "test.txt", "mbgcn:honest")) == 2
    with pytest.raises(SiftrecError, match="no part of the crgcn split"):
        read_interactions(folder / "test.txt", "mbgcn:crgcn")
    with pytest.raises(SiftrecError, match="mbgcn:crgcn or mbgcn:honest"):
        read_interactions(folder / "train.txt", "mbgcn:other")
