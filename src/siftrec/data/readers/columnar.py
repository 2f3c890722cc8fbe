"""Columnar inputs: Parquet files and in-memory pandas/polars DataFrames."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.data.readers.columns import frame_to_interactions
from siftrec.data.readers.files import polars_error, source
from siftrec.errors import SiftrecError


def read_parquet(path: Path) -> Any:
    """A Parquet file (optionally gzipped) as a polars DataFrame, column types as stored."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    data = source(path)
    try:
        return pl.read_parquet(io.BytesIO(data) if isinstance(data, bytes) else data)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise polars_error(path, "parquet", exc) from None


def from_dataframe(
    df: Any,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = None,
    user_map: IdMap | None = None,
    item_map: IdMap | None = None,
) -> Interactions:
    """Build :class:`Interactions` from a pandas or polars DataFrame (column rules as in
    :mod:`siftrec.data.readers`)."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    if not isinstance(df, pl.DataFrame):
        try:
            import pandas as pd  # lazy: an optional dependency
        except ImportError:  # pragma: no cover - pandas is optional
            pd = None
        if pd is None or not isinstance(df, pd.DataFrame):
            raise SiftrecError(f"expected a pandas or polars DataFrame, got {type(df).__name__}")
        df = pl.from_pandas(df.reset_index(drop=True))
    return frame_to_interactions(
        df, "DataFrame", user_col, item_col, weight_col, user_map=user_map, item_map=item_map
    )
