import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp

from siftrec import SiftrecError
from siftrec.data.ids import IdMap
from siftrec.data.readers import (
    FORMATS,
    from_dataframe,
    from_scipy,
    infer_format,
    read_id_list,
    read_interactions,
)
from siftrec.data.writers import write_interactions


def write(path: Path, text: str, compress: bool = False) -> Path:
    if compress:
        with gzip.open(path, "wt") as f:
            f.write(text)
    else:
        path.write_text(text)
    return path


def raw_pairs(data) -> list[tuple]:
    return list(zip(data.raw_users().tolist(), data.raw_items().tolist(), strict=True))


def expect_error(match: str, func, *args, **kwargs) -> str:
    with pytest.raises(SiftrecError, match=match) as info:
        func(*args, **kwargs)
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------------------- format inference
@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("log.csv", "csv"),
        ("LOG.CSV.GZ", "csv"),
        ("log.tsv", "tsv"),
        ("log.parquet", "parquet"),
        ("u.data", "movielens"),
        ("u.data.gz", "movielens"),
        ("ratings.dat", "movielens"),
        ("ml100k.train.rating.gz", "denoisingrec"),
        ("ml-100k.test.negative", "denoisingrec"),
        ("ml-100k.valid.noisy.gz", "denoisingrec"),
        ("train_list.npy", "npy"),
        ("train_list.npy.gz", "npy"),
    ],
)
def test_infer_format_from_name(name, fmt):
    assert infer_format(name) == fmt
    assert fmt in FORMATS


def test_infer_format_txt_by_content(tmp_path):
    adjacency = write(tmp_path / "train.txt", "0 1 2 3\n1 4\n2\n3 5 6\n")
    assert infer_format(adjacency) == "lightgcn"
    pairs = write(tmp_path / "buy.txt.gz", "0 7\n0 1\n1 3\n", compress=True)
    assert infer_format(pairs) == "lightgcn"  # plain pairs parse identically
    table = write(tmp_path / "test.txt", "7188 104 1\n7188 101 1\n3039 204 1\n")
    msg = expect_error("not a LightGCN adjacency list.*the format argument", infer_format, table)
    assert "e.g. format='tsv', columns=['user', 'item', 'weight']" in msg and "--" not in msg
    tabbed = write(tmp_path / "data1.txt", "u\ti\n1\t2\n")
    expect_error("the format argument", infer_format, tabbed)


def test_infer_format_unknown_name():
    msg = expect_error("cannot infer the format", infer_format, "interactions.json")
    assert "the format argument" in msg and "lightgcn" in msg


# ---------------------------------------------------------------------------- csv / tsv
def test_csv_with_header_aliases_and_side_columns(tmp_path):
    path = write(
        tmp_path / "log.csv",
        "userId,movieId,Rating,timestamp,dwell,behavior,session_id,noise,device\n"
        "u1,10,4.5,100,3.5,click,s1,0,ios\n"
        "u2,11,2,101,0.5,buy,s1,1,web\n"
        "u1,11,5,102,1.0,click,s2,0,ios\n",
    )
    data = read_interactions(path)
    assert raw_pairs(data) == [("u1", 10), ("u2", 11), ("u1", 11)]
    assert data.weights.tolist() == [1.0, 1.0, 1.0]  # rating is never a weight implicitly
    assert set(data.columns) == {
        "rating",
        "timestamp",
        "dwell_time",
        "feedback",
        "session",
        "is_noise",
        "device",
    }
    np.testing.assert_allclose(data.column("rating"), [4.5, 2.0, 5.0])
    assert data.column("timestamp").tolist() == [100, 101, 102]
    assert data.column("feedback").tolist() == ["click", "buy", "click"]
    assert data.column("is_noise").tolist() == [False, True, False]
    assert data.column("device").tolist() == ["ios", "web", "ios"]
    assert data.item_map.is_integer and not data.user_map.is_integer


@pytest.mark.parametrize("name", ["weight", "Value", "count", "plays"])
def test_weight_aliases(tmp_path, name):
    path = write(tmp_path / "log.csv", f"user,item,{name}\n1,2,3\n4,5,7.5\n")
    data = read_interactions(path)
    assert data.weights.tolist() == [3.0, 7.5]
    assert data.columns == {}  # the weight column is consumed


def test_weight_col_explicit_and_priority(tmp_path):
    path = write(tmp_path / "log.csv", "user,item,count,weight,rating\n1,2,3,9,5\n")
    assert read_interactions(path).weights.tolist() == [9.0]  # weight before count
    assert read_interactions(path).column("count").tolist() == [3]
    data = read_interactions(path, weight_col="rating")
    assert data.weights.tolist() == [5.0] and "rating" not in data.columns


def test_custom_user_and_item_columns(tmp_path):
    path = write(tmp_path / "log.csv", "customer,product,user\nc1,p1,x\nc2,p1,y\n")
    data = read_interactions(path, user_col="customer", item_col="product")
    assert raw_pairs(data) == [("c1", "p1"), ("c2", "p1")]
    assert data.column("user").tolist() == ["x", "y"]


def test_headerless_with_columns_and_gzip(tmp_path):
    path = write(tmp_path / "log.tsv.gz", "1\t2\t5\t99\n3\t2\t1\t98\n", compress=True)
    data = read_interactions(path, columns=["user", "item", "rating", "timestamp"])
    assert raw_pairs(data) == [(1, 2), (3, 2)]
    assert data.column("rating").tolist() == [5, 1]
    assert data.column("timestamp").tolist() == [99, 98]


def test_header_and_columns_renames(tmp_path):
    path = write(tmp_path / "log.csv", "a,b\n1,2\n")
    data = read_interactions(path, header=True, columns=["user", "item"])
    assert raw_pairs(data) == [(1, 2)]


@pytest.mark.parametrize(
    ("text", "sep", "fmt"),
    [
        ("user;item\n1;2\n3;4\n", None, "csv"),  # sniffed
        ("user|item\n1|2\n3|4\n", None, "tsv"),  # sniffed
        ("user::item\n1::2\n3::4\n", "::", "csv"),  # multi-character
        ("user\titem\n1\t2\n3\t4\n", "tab", "csv"),  # named separator
        ("user\titem\n1\t2\n3\t4\n", "\\t", "csv"),  # escaped, as typed on a shell
        ("user item\n1 2\n3 4\n", "space", "csv"),
    ],
)
def test_separators(tmp_path, text, sep, fmt):
    path = write(tmp_path / f"log.{fmt}", text)
    assert raw_pairs(read_interactions(path, sep=sep)) == [(1, 2), (3, 4)]


def test_crlf_and_spaces_around_values(tmp_path):
    path = write(tmp_path / "log.csv", "user, item, rating\r\n1, 2, 4\r\n3, 4, 5\r\n")
    data = read_interactions(path, columns=["user", "item", "rating"], header=True)
    assert raw_pairs(data) == [(1, 2), (3, 4)]
    assert data.column("rating").tolist() == [4, 5]


def test_ids_with_leading_zeros_stay_strings(tmp_path):
    path = write(tmp_path / "log.csv", "user,item\n1,007\n2,7\n")
    data = read_interactions(path)
    assert data.raw_items().tolist() == ["007", "7"]
    assert data.n_items == 2


def test_date_timestamps_become_unix_seconds(tmp_path):
    path = write(tmp_path / "log.csv", "user,item,timestamp\n1,2,2020-01-01\n1,3,2020-01-02\n")
    assert read_interactions(path).column("timestamp").tolist() == [1577836800, 1577923200]


def test_is_noise_text_values(tmp_path):
    path = write(tmp_path / "log.csv", "user,item,is_noise\n1,2,true\n1,3,False\n2,2,1\n")
    assert read_interactions(path).column("is_noise").tolist() == [True, False, True]


# ---------------------------------------------------------------------------- other formats
def test_movielens_u_data_and_ratings_dat(tmp_path):
    u_data = write(tmp_path / "u.data", "196\t242\t3\t881250949\n186\t302\t4\t891717742\n")
    dat = write(tmp_path / "ratings.dat.gz", "1::1193::5::978300760\n1::661::3::978302109\n", True)
    for path, pairs, ratings in (
        (u_data, [(196, 242), (186, 302)], [3, 4]),
        (dat, [(1, 1193), (1, 661)], [5, 3]),
    ):
        data = read_interactions(path)
        assert raw_pairs(data) == pairs
        assert data.column("rating").tolist() == ratings
        assert data.weights.tolist() == [1.0, 1.0]
        assert set(data.columns) == {"rating", "timestamp"}
    assert read_interactions(u_data, weight_col="rating").weights.tolist() == [3.0, 4.0]


def test_lightgcn_adjacency_lists(tmp_path):
    path = write(tmp_path / "train.txt.gz", "0 5 6 7\n1\n2  6\t8 \n3 5\n", compress=True)
    data = read_interactions(path)
    assert raw_pairs(data) == [(0, 5), (0, 6), (0, 7), (2, 6), (2, 8), (3, 5)]
    assert data.user_map.ids.tolist() == [0, 1, 2, 3]  # user 1 has no items but is kept
    assert data.user_counts().tolist() == [3, 0, 2, 1]


def test_lightgcn_extends_given_maps(tmp_path):
    train = read_interactions(write(tmp_path / "train.txt", "0 1 2\n1 2\n"))
    test = read_interactions(
        write(tmp_path / "test.txt", "1 3\n2 1\n"),
        user_map=train.user_map,
        item_map=train.item_map,
    )
    assert test.user_map.ids.tolist() == [0, 1, 2]
    assert test.item_map.ids.tolist() == [1, 2, 3]
    assert test.users.tolist() == [1, 2] and test.items.tolist() == [2, 0]


def test_denoisingrec_clean_flag(tmp_path):
    path = write(tmp_path / "ml.train.rating", "0\t4\t1\n0\t5\t0\n1\t4\t1\n")
    data = read_interactions(path)
    assert raw_pairs(data) == [(0, 4), (0, 5), (1, 4)]
    assert data.column("is_noise").tolist() == [False, True, False]
    assert set(data.columns) == {"is_noise"} and data.weights.tolist() == [1, 1, 1]


def test_denoisingrec_ratings_and_override(tmp_path):
    path = write(tmp_path / "ml-100k.train.rating.gz", "196\t241\t3\n22\t376\t5\n", True)
    data = read_interactions(path)
    assert data.column("rating").tolist() == [3, 5] and "is_noise" not in data.columns
    ones = write(tmp_path / "only-ones.valid.rating", "1\t2\t1\n3\t4\t1\n")
    assert read_interactions(ones).column("is_noise").tolist() == [False, False]
    forced = read_interactions(ones, columns=["user", "item", "rating"])
    assert forced.column("rating").tolist() == [1, 1] and "is_noise" not in forced.columns


def test_denoisingrec_four_fields_is_ncf_rating(tmp_path):
    path = write(tmp_path / "ml-1m.train.rating", "0\t32\t4\t978824330\n0\t34\t4\t978824330\n")
    data = read_interactions(path)
    assert data.column("rating").tolist() == [4, 4]
    assert data.column("timestamp").tolist() == [978824330, 978824330]


def test_denoisingrec_negative_files_drop_sampled_negatives(tmp_path):
    paren = write(tmp_path / "adressa.test.negative", "(0,25)\t1064\t174\n(1, 133)\t1\t2\n")
    data = read_interactions(paren)
    assert raw_pairs(data) == [(0, 25), (1, 133)] and data.columns == {}
    listed = write(tmp_path / "yelp.test.negative", "0\t25\t7\t8\t9\n1\t3\t4\t5\t6\n")
    assert raw_pairs(read_interactions(listed)) == [(0, 25), (1, 3)]
    flagged = write(tmp_path / "ml100k.test.negative", "0\t133\t1\n0\t158\t1\n")
    assert read_interactions(flagged).column("is_noise").tolist() == [False, False]


def test_npy_plain_and_gzipped(tmp_path):
    array = np.array([[0, 5], [0, 6], [2, 5]], dtype=np.int64)
    plain = tmp_path / "train_list.npy"
    np.save(plain, array)
    gz = tmp_path / "valid_list.npy.gz"
    with gzip.open(gz, "wb") as f:
        np.save(f, array)
    for path in (plain, gz):
        assert raw_pairs(read_interactions(path)) == [(0, 5), (0, 6), (2, 5)]


def test_userlists_positions_are_users(tmp_path):
    text = "[[5, 6, 7], [], [6, 8], [5]]\n"
    for path in (write(tmp_path / "train_data.json", text), write(tmp_path / "t.json.gz", text, 1)):
        data = read_interactions(path, format="userlists")
        assert raw_pairs(data) == [(0, 5), (0, 6), (0, 7), (2, 6), (2, 8), (3, 5)]
        assert data.user_map.ids.tolist() == [0, 1, 2, 3]  # user 1 has no items but is kept
        assert data.user_counts().tolist() == [3, 0, 2, 1]
    spread = write(tmp_path / "pretty.json", "[\n  [1, 2],\r\n  [3]\n]\n")
    assert raw_pairs(read_interactions(spread, format="USERLISTS")) == [(0, 1), (0, 2), (1, 3)]


def test_userlists_extend_given_maps(tmp_path):
    train = read_interactions(write(tmp_path / "train.json", "[[1, 2], [2]]"), format="userlists")
    test = read_interactions(
        write(tmp_path / "test.json", "[[3], [1], [2]]"),
        format="userlists",
        user_map=train.user_map,
        item_map=train.item_map,
    )
    assert test.user_map.ids.tolist() == [0, 1, 2]
    assert test.item_map.ids.tolist() == [1, 2, 3]
    assert test.users.tolist() == [0, 1, 2] and test.items.tolist() == [2, 0, 1]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[[1, 2], 3]", "cannot read bad.json as a JSON array of per-user item lists"),
        ("[[1, [2]]]", "cannot read bad.json as a JSON array"),
        ("[[1, true]]", "cannot read bad.json as a JSON array"),
        ("[[1, 2]", "cannot read bad.json as a JSON array"),
        ("[[1]]\n[[2]]", "cannot read bad.json as a JSON array"),
        ("[[1, 2.5]]", r"integer item ids\): parsed as List\(List\(Float64"),
        ('[["a", "b"]]', r"parsed as List\(List\(String"),
        ("[1, 2]", r"parsed as List\(Int64\)"),
        ('{"0": [1]}', "parsed as Struct"),
        ("[[1, null]]", r"1 row has a missing item id \(first at row 1: null\)"),
        ("[[], []]", "contains no interactions"),
        ("[]", "contains no interactions"),
        (" \n", "bad.json is empty"),
    ],
)
def test_userlists_errors(tmp_path, text, match):
    expect_error(match, read_interactions, write(tmp_path / "bad.json", text), format="userlists")


def test_parquet_keeps_types(tmp_path):
    path = tmp_path / "log.parquet"
    pl.DataFrame(
        {
            "user_id": ["a", "b"],
            "item_id": [1, 2],
            "value": [0.5, 2.0],
            "noise": [True, False],
            "timestamp": pl.Series(["2020-01-01", "2020-01-02"]).str.to_datetime(),
        }
    ).write_parquet(path)
    data = read_interactions(path)
    assert raw_pairs(data) == [("a", 1), ("b", 2)]
    assert data.weights.tolist() == [0.5, 2.0]
    assert data.column("is_noise").tolist() == [True, False]
    assert data.column("timestamp").tolist() == [1577836800, 1577923200]


def test_given_maps_are_extended(tmp_path):
    user_map, item_map = IdMap(np.array(["x", "y"])), IdMap(np.array([10]))
    path = write(tmp_path / "log.csv", "user,item\ny,11\nz,10\n")
    data = read_interactions(path, user_map=user_map, item_map=item_map)
    assert data.user_map.ids.tolist() == ["x", "y", "z"]
    assert data.item_map.ids.tolist() == [10, 11]
    assert data.users.tolist() == [1, 2] and data.items.tolist() == [1, 0]


# ---------------------------------------------------------------------------- in-memory inputs
def test_from_dataframe_pandas_and_polars():
    frame = {"uid": [3, 1, 3], "iid": ["a", "b", "c"], "plays": [1, 5, 2], "session": [1, 1, 2]}
    for df in (pd.DataFrame(frame), pl.DataFrame(frame)):
        data = from_dataframe(df)
        assert raw_pairs(data) == [(3, "a"), (1, "b"), (3, "c")]
        assert data.weights.tolist() == [1.0, 5.0, 2.0]
        assert data.column("session").tolist() == [1, 1, 2]
    pandas_indexed = pd.DataFrame(frame, index=[10, 20, 30])
    assert len(from_dataframe(pandas_indexed)) == 3


def test_from_dataframe_rejects_other_objects_and_missing_ids():
    expect_error("expected a pandas or polars DataFrame", from_dataframe, {"user": [1]})
    df = pd.DataFrame({"user": [1.0, np.nan], "item": [1, 2]})
    expect_error(
        r"DataFrame: 1 row has a missing user id in column 'user' \(first at row 2: null\)",
        from_dataframe,
        df,
    )


def test_from_scipy_wraps_from_csr():
    matrix = sp.csr_matrix(np.array([[0, 2.0], [1.0, 0]]))
    data = from_scipy(matrix, item_map=IdMap(np.array(["a", "b"])))
    assert raw_pairs(data) == [(0, "b"), (1, "a")] and data.weights.tolist() == [2.0, 1.0]


# ---------------------------------------------------------------------------- round trip
@pytest.mark.parametrize("name", ["out.csv", "out.csv.gz", "out.tsv", "out.parquet"])
def test_write_read_round_trip(tmp_path, name):
    from siftrec import Interactions

    original = Interactions.from_raw(
        np.array(["u1", "u2", "u1"]),
        np.array([5, 6, 7]),
        weights=[1.0, 2.5, 3.0],
        columns={
            "rating": np.array([4, 2, 5]),
            "is_noise": np.array([False, True, False]),
            "feedback": np.array(["click", "buy", "click"]),
        },
    )
    back = read_interactions(write_interactions(original, tmp_path / name))
    assert raw_pairs(back) == raw_pairs(original)
    np.testing.assert_array_equal(back.weights, original.weights)
    assert set(back.columns) == set(original.columns)
    for key, values in original.columns.items():
        assert back.column(key).tolist() == values.tolist()
    assert back.fingerprint() == original.fingerprint()


# ---------------------------------------------------------------------------- errors
def test_missing_file_and_directory(tmp_path):
    expect_error("file does not exist", read_interactions, tmp_path / "nope.csv")
    expect_error("not a file", read_interactions, tmp_path)


def test_unknown_format(tmp_path):
    path = write(tmp_path / "log.csv", "user,item\n1,2\n")
    expect_error("unknown format 'xls'", read_interactions, path, format="xls")
    expect_error("cannot infer the format", read_interactions, write(tmp_path / "log.json", "{}"))


def test_missing_or_misnamed_columns(tmp_path):
    path = write(tmp_path / "log.csv", "customer,item,rating\n1,2,3\n")
    msg = expect_error("no user column", read_interactions, path)
    assert "found columns: customer, item, rating" in msg
    expect_error("no user column 'buyer'", read_interactions, path, user_col="buyer")
    msg = expect_error(
        "no weight column 'plays'", read_interactions, path, user_col="customer", weight_col="plays"
    )
    assert "found columns: rating" in msg
    headerless = write(tmp_path / "raw.csv", "1,2,3\n4,5,6\n")
    expect_error(
        r"seems to have no header.*the columns argument \(e\.g\. columns=\[",
        read_interactions,
        headerless,
    )
    expect_error(
        "2 column names given .* has 3 columns",
        read_interactions,
        headerless,
        columns=["user", "item"],
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("user,item\n1,2\n,3\n", "1 row has a missing user id in column 'user'"),
        ('user,item\n1,2\n2,""\n', "1 row has a missing item id in column 'item'"),
        ("user,item\nnan,2\n1,3\n", "1 row has a missing user id in column 'user'"),
        ("user,item,weight\n1,2,abc\n", "'weight' .weight. is not numeric .e.g. 'abc'"),
        ("user,item,weight\n1,2,\n", "1 row has a missing weight in column 'weight'"),
        ("user,item,weight\n1,2,nan\n", "1 row has a missing weight in column 'weight'"),
        ("user,item,rating\n1,2,good\n", "'rating' .rating. is not numeric"),
        ("user,item,is_noise\n1,2,maybe\n", "is_noise column 'is_noise' must be 0/1"),
        ("user,item,timestamp\n1,2,yesterday\n", "neither numeric nor a date/time"),
        ("user,item\n", "contains no interactions"),
        ("", "is empty"),
    ],
)
def test_bad_values(tmp_path, text, match):
    expect_error(match, read_interactions, write(tmp_path / "log.csv", text))


def test_corrupt_files(tmp_path):
    parquet = tmp_path / "log.parquet"
    parquet.write_bytes(b"PAR1 this is not parquet")
    expect_error("cannot read log.parquet as parquet", read_interactions, parquet)
    good = gzip.compress(b"user,item\n" + b"1,2\n" * 1000)
    truncated = tmp_path / "log.csv.gz"
    truncated.write_bytes(good[: len(good) // 2])
    expect_error("corrupt gzip", read_interactions, truncated)
    fake = write(tmp_path / "fake.csv.gz", "user,item\n1,2\n")
    expect_error("not gzip-compressed", read_interactions, fake)
    npy = tmp_path / "bad.npy"
    npy.write_bytes(b"not an array")
    expect_error("cannot read bad.npy as a NumPy", read_interactions, npy)


def test_npy_shape_and_dtype_errors(tmp_path):
    for name, array, match in (
        ("wide.npy", np.zeros((3, 3), dtype=np.int64), r"shape \(n, 2\), got \(3, 3\)"),
        ("float.npy", np.zeros((3, 2)), "expected integer"),
        ("empty.npy", np.zeros((0, 2), dtype=np.int64), "contains no interactions"),
        ("objects.npy", np.array([[None, 1]], dtype=object), "cannot read objects.npy"),
    ):
        np.save(tmp_path / name, array)
        expect_error(match, read_interactions, tmp_path / name)


def test_format_specific_errors(tmp_path):
    u_data = write(tmp_path / "u.data", "1\t2\t3\n")
    expect_error("not a MovieLens ratings file", read_interactions, u_data)
    expect_error("the sep argument applies to csv/tsv", read_interactions, u_data, sep="\t")
    expect_error("the header argument applies to csv/tsv", read_interactions, u_data, header=True)
    expect_error(
        "the columns argument applies to csv/tsv/denoisingrec",
        read_interactions,
        u_data,
        columns=["a"],
    )
    adjacency = write(tmp_path / "train.txt", "0 1 x\n")
    expect_error("item id 'x' is not an integer", read_interactions, adjacency, format="lightgcn")
    no_items = write(tmp_path / "test.txt", "0\n1\n")
    expect_error("contains no interactions", read_interactions, no_items, format="lightgcn")
    kwargs = {"format": "lightgcn", "weight_col": "w"}
    expect_error("fixed .user, item. fields", read_interactions, adjacency, **kwargs)
    lists = write(tmp_path / "train.json", "[[1]]")
    kwargs = {"format": "userlists", "item_col": "i"}
    expect_error(
        "userlists files have fixed .user, item. fields", read_interactions, lists, **kwargs
    )
    blank = write(tmp_path / "blank.txt", "\n \n")
    expect_error("is empty", read_interactions, blank, format="lightgcn")
    ragged = write(tmp_path / "x.train.rating", "0\t1\t1\n0\t2\n")
    expect_error("expected 2 to 4 tab-separated fields", read_interactions, ragged)
    flags = write(tmp_path / "y.train.rating", "0\t1\t5\n")
    expect_error(
        "flag column must be 0", read_interactions, flags, columns=["user", "item", "flag"]
    )
    broken = write(tmp_path / "z.test.negative", "(0,25)\t1\nfoo\t2\n")
    expect_error("line 2 is not", read_interactions, broken)


# ---------------------------------------------------------------------------- real data
def test_real_ml100k(shared_data):
    data = read_interactions(shared_data / "ml-100k" / "u.data.gz")
    assert (len(data), data.n_users, data.n_items) == (100_000, 943, 1_682)
    assert int((data.column("rating") >= 4).sum()) == 55_375
    assert data.column("timestamp").min() == 874724710


def test_real_gowalla_train(shared_data):
    data = read_interactions(shared_data / "gowalla-lightgcn" / "train.txt.gz")
    assert (len(data), data.n_users, data.n_items) == (810_128, 29_858, 40_981)
    assert data.user_map.ids.tolist() == list(range(29_858))  # 0-based ids keep their index


def test_real_sgdl_train(shared_data):
    data = read_interactions(shared_data / "sgdl-ml100k" / "ml100k.train.rating.gz")
    assert (len(data), data.n_users, data.n_items) == (66_899, 497, 1_502)
    assert int(data.column("is_noise").sum()) == 11_899


def test_real_deca_train_and_clean_test(shared_data):
    train = read_interactions(shared_data / "deca-ml-100k" / "ml-100k.train.rating.gz")
    assert (len(train), train.n_users, train.n_items) == (79_619, 943, 1_611)
    assert np.bincount(train.column("rating")).tolist() == [0, 4338, 8311, 21366, 27999, 17605]
    test = read_interactions(shared_data / "deca-ml-100k" / "ml-100k.test.negative.gz")
    assert len(test) == 3_594 and set(test.column("rating").tolist()) == {5}


def test_real_amazon_nbpo_parts_share_ids(shared_data):
    folder = shared_data / "amazon-nbpo"
    train = read_interactions(folder / "train_data.json.gz", format="userlists")
    assert (len(train), train.n_users, train.n_items) == (31_887, 1_435, 1_522)
    for part in ("validation", "test"):
        held = read_interactions(
            folder / f"{part}_data.json.gz",
            format="userlists",
            user_map=train.user_map,
            item_map=train.item_map,
        )
        assert (len(held), held.n_users, held.n_items) == (4_044, 1_435, 1_522)
        assert held.user_map.ids.tolist() == list(range(1_435))


def test_real_diffrec_clean_train(shared_data):
    data = read_interactions(shared_data / "ml-1m-diffrec" / "clean" / "train_list.npy.gz")
    assert (len(data), data.n_users, data.n_items) == (403_277, 5_949, 2_810)


# ---------------------------------------------------------------------------- missing ids
SPELLINGS = ["NA", "N/A", "NaN", "null", "None", "nil", " na ", ""]


def _missing_cell_files(tmp_path: Path, spelling: str, what: str) -> dict[str, tuple]:
    """Per format: (file, read options, row) with ``spelling`` as the ``what`` id of that row."""
    u, i = (spelling, "7") if what == "user" else ("7", spelling)
    files: dict[str, tuple] = {
        "csv": (write(tmp_path / "log.csv", f"user,item\n1,2\n3,4\n{u},{i}\n"), {}, 3),
        "tsv": (write(tmp_path / "log.tsv", f"user\titem\n1\t2\n{u}\t{i}\n"), {}, 2),
        "movielens": (write(tmp_path / "u.data", f"1\t2\t5\t9\n{u}\t{i}\t4\t9\n"), {}, 2),
    }
    path = tmp_path / "log.parquet"
    pl.DataFrame({"user": ["1", "3", u], "item": ["2", "4", i]}).write_parquet(path)
    files["parquet"] = (path, {}, 3)
    if spelling.strip():  # whitespace-separated formats have no empty cells
        path = write(tmp_path / "x.train.rating", f"1\t2\t1\n{u}\t{i}\t1\n")
        files["denoisingrec"] = (path, {}, 2)
        line = f"{spelling} 1 2" if what == "user" else f"1 2 {spelling} 3"
        files["lightgcn"] = (
            write(tmp_path / "a.txt", f"0 1 2\n{line}\n"),
            {"format": "lightgcn"},
            2,
        )
    if what == "item":  # user ids of userlists are list positions: never missing
        cell = f'"{spelling}"'
        path = write(tmp_path / "l.json", f"[[1, 2], [3], [4, {cell}]]")
        files["userlists"] = (path, {"format": "userlists"}, 3)
    return files


@pytest.mark.parametrize("what", ["user", "item"])
@pytest.mark.parametrize("spelling", SPELLINGS)
def test_missing_ids_are_refused_by_every_text_format(tmp_path, spelling, what):
    for fmt, (path, options, row) in _missing_cell_files(tmp_path, spelling, what).items():
        shown = repr(spelling.strip() if fmt != "userlists" else spelling)  # JSON: as written
        shown = shown if spelling.strip() else "empty"
        message = expect_error(
            f"^{path.name}: 1 row has a missing {what} id.* \\(first at row {row}: {shown}\\); "
            "drop them or fill them$",
            read_interactions,
            path,
            **options,
        )
        if fmt in ("csv", "tsv", "parquet", "movielens", "denoisingrec"):
            assert f"in column '{what}'" in message


@pytest.mark.parametrize("what", ["user", "item"])
def test_missing_ids_as_nulls_and_nans(tmp_path, what):
    other = "item" if what == "user" else "user"
    cases = {
        "float.parquet": pl.DataFrame({what: [1.0, None, np.nan], other: [1, 2, 3]}),
        "int.parquet": pl.DataFrame({what: [1, None, 3], other: [1, 2, 3]}),
        "text.parquet": pl.DataFrame({what: ["a", None, "NA"], other: [1, 2, 3]}),
    }
    for name, frame in cases.items():
        frame.write_parquet(tmp_path / name)
        expect_error(
            f"{name}: .* a missing {what} id in column '{what}' \\(first at row 2: (null|empty)\\)",
            read_interactions,
            tmp_path / name,
        )
    array = np.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]])
    array[1, 0 if what == "user" else 1] = np.nan
    np.save(tmp_path / "pairs.npy", array)
    expect_error(
        rf"pairs.npy: 1 row has a missing {what} id \(first at row 2: NaN\)",
        read_interactions,
        tmp_path / "pairs.npy",
    )
    rows = [{what: "a", other: 1}, {what: None, other: 2}]
    expect_error(
        f"DataFrame: 1 row has a missing {what} id in column '{what}'",
        from_dataframe,
        pd.DataFrame(rows),
    )


def test_userlists_null_list_is_a_missing_item(tmp_path):
    path = write(tmp_path / "lists.json", "[[1], null, [2]]")
    expect_error(
        r"lists.json: 1 row has a missing item id \(first at row 2: null\)",
        read_interactions,
        path,
        format="userlists",
    )


def test_ids_that_only_contain_the_letters_are_ids(tmp_path):
    text = "user,item\nNAB,nancy\nnil0,NULLS\nNone_1,n/a/b\n"
    data = read_interactions(write(tmp_path / "log.csv", text))
    assert raw_pairs(data) == [("NAB", "nancy"), ("nil0", "NULLS"), ("None_1", "n/a/b")]


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("user,item,weight\n1,2,1\n1,3,NA\n", r"missing weight in column 'weight' .first at row 2"),
        (
            "user,item,plays\n1,2,1\n1,3,\n",
            r"missing weight in column 'plays' .first at row 2: empty",
        ),
        (
            "user,item,weight\n1,2,N/A\n",
            r"missing weight in column 'weight' .first at row 1: 'N/A'",
        ),
        (
            "user,item,rating\n1,2,4\n1,3,NaN\n",
            r"missing rating in column 'rating' .first at row 2",
        ),
        ("user,item,rating\n1,2,null\n", r"missing rating in column 'rating' .first at row 1"),
        ("user,item,weight\n1,2,1\n1,3,inf\n", r"1 row has an infinite weight in column 'weight'"),
        ("user,item,timestamp\n1,2,None\n", r"missing timestamp in column 'timestamp'"),
    ],
)
def test_missing_weights_and_ratings_name_the_column(tmp_path, text, match):
    message = expect_error(match, read_interactions, write(tmp_path / "log.csv", text))
    assert message.startswith("log.csv: ")


def test_missing_weight_in_parquet(tmp_path):
    path = tmp_path / "log.parquet"
    pl.DataFrame({"user": [1, 2], "item": [1, 2], "weight": [1.0, np.nan]}).write_parquet(path)
    expect_error(
        r"log.parquet: 1 row has a missing weight in column 'weight' \(first at row 2: NaN\)",
        read_interactions,
        path,
    )


# ---------------------------------------------------------------------------- id lists
def test_read_id_list_reads_a_user_column_or_one_id_per_line(tmp_path):
    csv = write(tmp_path / "users.csv", "user_id,note\n 5 ,a\nNAB,b\n")
    assert read_id_list(csv).tolist() == ["5", "NAB"]
    lines = write(tmp_path / "users.txt", "7\n\nnancy\n", compress=False)
    assert read_id_list(lines).tolist() == ["7", "nancy"]
    assert read_id_list(write(tmp_path / "items.csv", "item\nx\n"), "item").tolist() == ["x"]


@pytest.mark.parametrize("spelling", ["NA", "null", "N/A", "NaN", "None"])
def test_read_id_list_refuses_missing_ids(tmp_path, spelling):
    csv = write(tmp_path / "users.csv", f"user,note\n5,a\n{spelling},b\n")
    expect_error(
        rf"^users.csv: 1 row has a missing user id in column 'user' \(first at row 2: "
        rf"'{spelling}'\); drop them or fill them$",
        read_id_list,
        csv,
    )
    lines = write(tmp_path / "users.txt", f"5\n{spelling}\n")
    expect_error(r"users.txt: 1 row has a missing user id \(first at row 2", read_id_list, lines)
    empty_cell = write(tmp_path / "blank.csv", "user,note\n5,a\n,b\n")
    expect_error(r"blank.csv: .* \(first at row 2: empty\)", read_id_list, empty_cell)
