"""The public frame reader: a table-like log file's rows as a polars DataFrame."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siftrec.data.readers.columnar import read_parquet
from siftrec.data.readers.formats import TABLE_FORMATS, open_log
from siftrec.data.readers.text import read_denoisingrec, read_movielens, read_table
from siftrec.errors import SiftrecError


def read_frame(
    path: str | Path,
    format: str | None = None,
    *,
    sep: str | None = None,
    header: bool | None = None,
    columns: Sequence[str] | None = None,
) -> Any:
    """The rows of a table-like log (:data:`TABLE_FORMATS`, optionally gzipped) as a polars
    DataFrame, before its columns are resolved into a log.

    csv/tsv give text columns named by the header or by ``columns``, every value as written, so
    a frame written back keeps the file's raw values; parquet keeps its stored types; movielens
    and denoisingrec name their fields (``user``, ``item``, ``rating``, ``timestamp``; a clean
    flag becomes ``is_noise``). The arguments and checks (the file, its split manifest, which
    options apply to which format) are those of :func:`read_interactions`, which builds its log
    from this frame; :func:`from_dataframe` does the same for a frame in memory. The pair formats
    (lightgcn, npy, userlists) hold no table: read them with :func:`read_interactions`.
    """
    path = Path(path)
    fmt = open_log(path, format, sep, header, columns)
    if fmt not in TABLE_FORMATS:
        raise SiftrecError(
            f"{path.name}: {fmt} files hold (user, item) pairs, not a table; "
            "read them with read_interactions"
        )
    return table_frame(path, fmt, sep, header, columns)


def table_frame(
    path: Path, fmt: str, sep: str | None, header: bool | None, columns: Sequence[str] | None
) -> Any:
    """The frame of a table-like file whose format and options :func:`open_log` checked."""
    if fmt in ("csv", "tsv"):
        return read_table(path, fmt, sep, header, columns)
    if fmt == "parquet":
        return read_parquet(path)
    if fmt == "movielens":
        return read_movielens(path)
    return read_denoisingrec(path, columns)
