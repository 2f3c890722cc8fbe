"""siftrec.data.frames: DataFrames and sparse matrices into Interactions, result tables out."""

from __future__ import annotations

import builtins

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp

from siftrec import Interactions, SiftrecError
from siftrec.data.frames import as_interactions, result_frame


def test_pandas_frame_with_inferred_columns_keeps_raw_ids_and_weights():
    df = pd.DataFrame({"UserId": ["u1", "u2", "u1"], "movie_id": [10, 20, 30], "count": [2, 1, 5]})
    log = as_interactions(df)
    assert list(log.raw_users()) == ["u1", "u2", "u1"]
    assert list(log.raw_items()) == [10, 20, 30]
    np.testing.assert_array_equal(log.weights, [2, 1, 5])


def test_polars_frame_with_given_columns():
    df = pl.DataFrame({"who": ["a", "b"], "what": ["x", "y"], "w": [0.5, 2.0], "rating": [4, 5]})
    log = as_interactions(df, user_col="who", item_col="what", weight_col="w")
    np.testing.assert_array_equal(log.weights, [0.5, 2.0])
    np.testing.assert_array_equal(log.column("rating"), [4, 5])


def test_pandas_and_polars_give_the_same_log_as_the_cli_rules():
    data = {"user": ["7", "8", "7"], "item": ["a", "b", "b"]}
    from_pandas, from_polars = (
        as_interactions(pd.DataFrame(data)),
        as_interactions(pl.DataFrame(data)),
    )
    # plain integer text becomes integer ids, as the CSV reader does
    assert list(from_pandas.raw_users()) == list(from_polars.raw_users()) == [7, 8, 7]
    assert from_pandas.fingerprint() == from_polars.fingerprint()


def test_sparse_matrix_ids_are_indices_and_values_weights():
    matrix = sp.csr_matrix(np.array([[0, 2.0, 0], [1.0, 0, 0], [0, 0, 0]]))
    log = as_interactions(matrix)
    assert log.shape == (3, 3)
    assert sorted(zip(log.users.tolist(), log.items.tolist(), strict=True)) == [(0, 1), (1, 0)]
    np.testing.assert_array_equal(np.sort(log.weights), [1.0, 2.0])


def test_interactions_pass_through():
    log = Interactions.from_raw([1, 2], [3, 4])
    assert as_interactions(log) is log


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        (pd.DataFrame({"user": ["a"], "thing": ["x"]}), "no item column"),
        (pd.DataFrame({"user": ["a", None], "item": ["x", "y"]}), "missing user"),
        (pd.DataFrame({"user": [1.0, np.nan], "item": [1, 2]}), "missing user"),
        (pd.DataFrame({"user": [], "item": []}), "no interactions"),
        (pl.DataFrame({"user": ["a"], "item": ["x"], "weight": ["heavy"]}), "not numeric"),
        (sp.csr_matrix((2, 2)), "no interactions"),
        (sp.csr_matrix(np.array([[np.nan, 1.0]])), "NaN"),
        (np.ones((2, 2)), "dense numpy array"),
        (pd.Series([1, 2]), "Series"),
        ([(1, 2)], "got list"),
        ("ratings.csv", "got str"),
    ],
)
def test_bad_input_is_one_line_error(obj, message):
    with pytest.raises(SiftrecError, match=message) as refused:
        as_interactions(obj)
    assert "\n" not in str(refused.value)


def test_column_names_refused_for_a_matrix():
    with pytest.raises(SiftrecError, match="user_col name DataFrame columns"):
        as_interactions(sp.eye(3, format="csr"), user_col="user")


def test_result_frame_kinds():
    columns = {"user": np.array(["a", "b"]), "rank": np.array([1, 2])}
    assert isinstance(result_frame(columns), pd.DataFrame)  # pandas installed: the default
    polars_frame = result_frame(columns, as_="polars")
    assert isinstance(polars_frame, pl.DataFrame) and polars_frame.columns == ["user", "rank"]
    with pytest.raises(SiftrecError, match="as_ must be"):
        result_frame(columns, as_="arrow")


def test_without_pandas_results_are_polars_and_pandas_requests_are_refused(monkeypatch):
    real_import = builtins.__import__

    def no_pandas(name, *args, **kwargs):
        if name == "pandas" or name.startswith("pandas."):
            raise ImportError("no pandas here")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_pandas)
    assert isinstance(result_frame({"a": np.arange(2)}), pl.DataFrame)
    with pytest.raises(SiftrecError, match=r"siftrec\[pandas\]"):
        result_frame({"a": np.arange(2)}, as_="pandas")


def test_importing_siftrec_does_not_import_pandas():
    import subprocess
    import sys

    code = "import sys, siftrec.data.frames, siftrec.models; print('pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
