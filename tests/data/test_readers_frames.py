"""The public frame reader and file helpers of ``siftrec.data.readers``."""

import gzip

import numpy as np
import polars as pl
import pytest

from siftrec import SiftrecError
from siftrec.data.readers import (
    TABLE_FORMATS,
    from_dataframe,
    read_bytes,
    read_frame,
    read_interactions,
    table_separator,
)
from siftrec.data.splits import split_interactions, split_scheme
from siftrec.data.synthetic import generate

RAW_CSV = 'user,item,rating,note\nu007,0012,4.50,"a, quoted"\nu1,12,1.0,\nu007,3,3e0,x\n'


def test_csv_frame_keeps_names_and_raw_text(tmp_path):
    path = tmp_path / "log.csv"
    path.write_text(RAW_CSV)
    frame = read_frame(path)
    assert frame.columns == ["user", "item", "rating", "note"]
    assert frame.dtypes == [pl.String] * 4
    assert frame["item"].to_list() == ["0012", "12", "3"]  # ids as written, leading zeros kept
    assert frame["rating"].to_list() == ["4.50", "1.0", "3e0"]
    assert frame["note"].to_list() == ["a, quoted", None, "x"]


def test_frame_and_dataframe_give_the_log_read_interactions_gives(tmp_path):
    path = tmp_path / "log.tsv.gz"
    path.write_bytes(gzip.compress(b"7\t3\t5\t100\n8\t3\t1\t101\n7\t4\t2\t102\n"))
    columns = ["uid", "iid", "plays", "timestamp"]
    frame = read_frame(path, sep="tab", columns=columns)
    assert frame.columns == columns
    direct = read_interactions(path, sep="tab", columns=columns)
    via_frame = from_dataframe(frame)
    np.testing.assert_array_equal(via_frame.raw_users(), direct.raw_users())
    np.testing.assert_array_equal(via_frame.raw_items(), direct.raw_items())
    np.testing.assert_array_equal(via_frame.weights, direct.weights)
    np.testing.assert_array_equal(via_frame.column("timestamp"), direct.column("timestamp"))


def test_fixed_layout_formats_name_their_fields(tmp_path):
    u_data = tmp_path / "u.data"
    u_data.write_text("196\t242\t3\t881250949\n")
    assert read_frame(u_data).columns == ["user", "item", "rating", "timestamp"]
    flags = tmp_path / "ml.train.rating"
    flags.write_text("0\t4\t1\n0\t5\t0\n")
    frame = read_frame(flags)
    assert frame.columns == ["user", "item", "is_noise"]
    assert frame["is_noise"].to_list() == [False, True]


def test_parquet_frame_keeps_stored_types(tmp_path):
    path = tmp_path / "log.parquet"
    stored = pl.DataFrame({"user": [1, 2], "item": ["a", "b"], "weight": [0.5, 2.0]})
    stored.write_parquet(path)
    assert read_frame(path).equals(stored)
    assert set(TABLE_FORMATS) == {"csv", "tsv", "parquet", "movielens", "denoisingrec"}


def test_frame_refuses_pair_formats_and_foreign_options(tmp_path):
    adjacency = tmp_path / "train.txt"
    adjacency.write_text("0 1 2\n1 3\n")
    with pytest.raises(SiftrecError, match=r"lightgcn files hold .* not a table"):
        read_frame(adjacency)
    u_data = tmp_path / "u.data"
    u_data.write_text("196\t242\t3\t881250949\n")
    with pytest.raises(SiftrecError, match="applies to csv/tsv files only"):
        read_frame(u_data, sep=",")
    with pytest.raises(SiftrecError, match="file does not exist"):
        read_frame(tmp_path / "gone.csv")


def test_frame_checks_the_split_manifest(tmp_path):
    data = generate(n_users=30, n_items=20, seed=0).interactions
    split_interactions(data, split_scheme("random"), seed=0).save(tmp_path / "split")
    train = tmp_path / "split" / "train.csv"
    assert read_frame(train).height > 0
    train.write_text(train.read_text() + train.read_text().splitlines()[1] + "\n")
    with pytest.raises(SiftrecError, match="does not belong to the split"):
        read_frame(train)


def test_table_separator_and_read_bytes(tmp_path):
    dat = tmp_path / "ratings.csv.gz"
    dat.write_bytes(gzip.compress(b"1::10::5\n2::11::3\n"))
    assert table_separator(dat) == "::"  # the default does not occur: sniffed
    assert table_separator(dat, "tsv", "pipe") == "|"
    assert read_bytes(dat) == b"1::10::5\n2::11::3\n"
    fake = tmp_path / "fake.csv.gz"
    fake.write_text("a,b\n")
    with pytest.raises(SiftrecError, match=r"named \.gz but is not gzip-compressed"):
        read_bytes(fake)
