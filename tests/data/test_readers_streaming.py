"""Batch-wise reading of csv/tsv/Parquet logs: dtype-tight, and equal to the whole-frame path."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.data.readers import read_interactions, stream
from siftrec.data.readers.columns import frame_to_interactions
from siftrec.data.readers.frames import table_frame

TABLE = (
    "user,item,count,timestamp,rating,session\n"
    "u7,10,2,1700000000,4.5,s1\n"
    "u3,11,1,1700000100,3,s1\n"
    "u7,12,5,1700000200,5,s2\n"
    "u9,10,1,1700000300,1,s2\n"
    "u3,13,3,1700000400,2.5,s3\n"
    "u1,11,1,1700000500,4,s3\n"
    "u9,14,7,1700000600,5,s3\n"
)
INT_ROWS = [f"{n},{10 + n}" for n in range(12)]


@pytest.fixture(autouse=True)
def small_batches(monkeypatch):
    """Two-row Parquet batches and 32-byte text blocks: every file spans several batches."""
    monkeypatch.setattr(stream, "BATCH_ROWS", 2)
    monkeypatch.setattr(stream, "TEXT_BLOCK", 32)


def whole_frame(path: Path, fmt: str, **options) -> Interactions:
    """The reference: the whole file as one frame (the path used before batches)."""
    sep, header, columns = (options.pop(k, None) for k in ("sep", "header", "columns"))
    frame = table_frame(path, fmt, sep, header, columns)
    return frame_to_interactions(frame, path.name, **options)


def streamed(path: Path, fmt: str, **options) -> Interactions:
    sep, header, columns = (options.pop(k, None) for k in ("sep", "header", "columns"))
    options = {"user_col": "user", "item_col": "item", "weight_col": None, **options}
    log = stream.stream_table(
        path, fmt, sep, header, columns, user_map=None, item_map=None, **options
    )
    assert log is not None, "the batch path fell back"
    return log


def assert_same(a: Interactions, b: Interactions) -> None:
    assert a.user_map == b.user_map and a.item_map == b.item_map
    for name in ("users", "items", "weights"):
        left, right = getattr(a, name), getattr(b, name)
        assert left.dtype == right.dtype and np.array_equal(left, right), name
    assert a.columns.keys() == b.columns.keys()
    for name, values in a.columns.items():
        other = b.columns[name]
        assert values.dtype.kind == other.dtype.kind and np.array_equal(values, other), name


def write(path: Path, text: str, gz: bool = False) -> Path:
    if gz:
        path.write_bytes(gzip.compress(text.encode()))
    else:
        path.write_text(text)
    return path


@pytest.mark.parametrize("gz", [False, True])
def test_csv_equals_the_whole_frame_path(tmp_path, gz):
    path = write(tmp_path / ("log.csv.gz" if gz else "log.csv"), TABLE, gz)
    log = streamed(path, "csv")
    assert_same(log, whole_frame(path, "csv"))
    assert log.users.dtype == np.int32 and log.items.dtype == np.int32
    assert log.weights.dtype == np.float32 and log.weights.tolist() == [2, 1, 5, 1, 3, 1, 7]
    assert log.item_map.is_integer and log.user_map.ids.tolist() == ["u7", "u3", "u9", "u1"]
    assert_same(read_interactions(path), log)


@pytest.mark.parametrize("gz", [False, True])
def test_headerless_tsv_with_columns(tmp_path, gz):
    text = "".join(f"{u}\t{i}\t{w}\n" for u, i, w in [(5, 1, 0.5), (6, 2, 1), (5, 3, 2), (7, 1, 1)])
    path = write(tmp_path / ("log.tsv.gz" if gz else "log.tsv"), text, gz)
    options = {"columns": ["user", "item", "weight"]}
    assert_same(streamed(path, "tsv", **options), whole_frame(path, "tsv", **options))


def test_parquet_equals_the_whole_frame_path(tmp_path):
    path = tmp_path / "log.parquet"
    pl.read_csv(TABLE.encode()).write_parquet(path)
    assert_same(streamed(path, "parquet"), whole_frame(path, "parquet"))


@pytest.mark.parametrize("name", ["log.csv", "log.csv.gz", "log.parquet"])
def test_a_log_without_weights_keeps_its_ones_without_memory(tmp_path, name):
    """No weight column: the ones are a zero-stride view, equal to the whole-frame path's; the
    batches' side column is joined from many chunks (gzip: the id columns too)."""
    text = "user,item,t\n" + "".join(f"u{n % 5},{n % 7},{n * 1.5}\n" for n in range(40))
    path = tmp_path / name
    if name.endswith("parquet"):
        pl.read_csv(text.encode(), schema_overrides={"item": pl.String}).write_parquet(path)
    else:
        write(path, text, gz=name.endswith(".gz"))
    fmt = "parquet" if name.endswith("parquet") else "csv"
    log = streamed(path, fmt)
    assert log.weights.strides == (0,) and log.uniform_weight == 1.0 and len(log) == 40
    assert log.column("t").tolist() == [n * 1.5 for n in range(40)]
    assert_same(log, whole_frame(path, fmt))
    assert log.fingerprint() == whole_frame(path, fmt).fingerprint()


def test_a_gzip_of_several_members_grows_the_arrays(tmp_path):
    """The size in a gzip trailer is the last member's: the row bound falls short, the arrays
    grow; a bound above the rows is cut back to size."""
    rows = [f"{n % 9},{n % 4},{n % 3 + 1}" for n in range(60)]
    path = tmp_path / "log.csv.gz"
    parts = ["user,item,weight\n" + "\n".join(rows[:55]) + "\n", "\n".join(rows[55:]) + "\n"]
    path.write_bytes(b"".join(gzip.compress(part.encode()) for part in parts))
    assert stream._row_bound(path, "csv", None, None, 3) < 60
    log = streamed(path, "csv")
    assert len(log) == 60 and log.weights.tolist() == [n % 3 + 1 for n in range(60)]
    assert_same(log, Interactions.from_raw(*np.array([r.split(",") for r in rows]).T.astype(int)))
    assert stream._row_bound(write(tmp_path / "log.csv", parts[0]), "csv", None, None, 3) == 55


@pytest.mark.parametrize(("scale", "dense"), [(1, True), (-3, True), (10**12, False)])
def test_integer_ids_through_a_range_table_or_a_search(tmp_path, scale, dense):
    """Ids indexed batch by batch equal the whole-frame path's, whether looked up in a table
    over their range (dense ids, negative ones too) or by binary search (sparse ones), with new
    ids in every batch and a given map."""
    ids = np.array([7, 2, 40]) * scale
    lo, table = stream._range_table(ids)
    assert (table is not None) == dense
    if dense:
        assert lo == ids.min() and table[ids - lo].tolist() == [0, 1, 2] and (table == -1).sum()
    rows = [f"{(n * 7) % 23 * scale},{(n * 5) % 11 * scale}" for n in range(50)]
    path = write(tmp_path / "log.csv", "user,item\n" + "\n".join(rows) + "\n")
    users = IdMap(np.array([4 * scale, 99 * scale]))
    log = stream.stream_table(path, "csv", None, None, None, "user", "item", None, users, None)
    assert log is not None
    assert_same(log, whole_frame(path, "csv", user_map=users))
    assert log.user_map.ids[:2].tolist() == [4 * scale, 99 * scale]


def test_named_weight_column_and_given_maps(tmp_path):
    path = write(tmp_path / "log.csv", TABLE)
    users = IdMap(np.array(["u1", "x"]))
    log = read_interactions(path, weight_col="rating", user_map=users)
    reference = whole_frame(path, "csv", weight_col="rating", user_map=users)
    assert_same(log, reference)
    assert log.user_map.ids.tolist()[:2] == ["u1", "x"]


@pytest.mark.parametrize(
    "rows",
    [
        [*INT_ROWS, "007,12"],  # integers in the first batches, text ids in the last
        [*INT_ROWS, "3,1.5e1"],  # an item id turns float-looking
    ],
)
def test_a_column_typed_differently_across_batches_falls_back(tmp_path, rows):
    path = write(tmp_path / "log.csv", "user,item\n" + "\n".join(rows) + "\n")
    assert stream.stream_table(path, "csv", None, None, None, "user", "item", None, None, None) is (
        None
    )
    assert_same(read_interactions(path), whole_frame(path, "csv"))


def test_a_quoted_line_break_and_a_last_line_without_one(tmp_path, monkeypatch):
    """More lines than rows (the arrays are cut to size); the block holds the whole quote."""
    monkeypatch.setattr(stream, "TEXT_BLOCK", 1 << 16)
    text = 'user,item\n"two\nlines",1\n' + "\n".join(INT_ROWS) + "\nx,5"
    path = write(tmp_path / "log.csv", text)
    log = streamed(path, "csv")
    assert len(log) == len(INT_ROWS) + 2 and log.user_map.ids[0] == "two\nlines"
    assert_same(log, whole_frame(path, "csv"))


def test_bad_files_keep_their_messages(tmp_path):
    path = write(tmp_path / "log.csv", "user,item\n1,10\n2,NA\n3,12\n")
    with pytest.raises(Exception, match=r"1 row has a missing item id in column 'item'"):
        read_interactions(path)
    empty = write(tmp_path / "empty.csv", "user,item\n")
    with pytest.raises(Exception, match="contains no interactions"):
        read_interactions(empty)
