"""``read_interactions``: any log file, by format, into :class:`Interactions`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.data.readers.arrays import read_npy
from siftrec.data.readers.columns import frame_to_interactions
from siftrec.data.readers.formats import open_log
from siftrec.data.readers.frames import table_frame
from siftrec.data.readers.lists import read_userlists
from siftrec.data.readers.multibehavior import FORMAT as MULTIBEHAVIOR
from siftrec.data.readers.multibehavior import MBGCN_FORMAT, read_format
from siftrec.data.readers.stream import STREAMED_FORMATS, stream_table
from siftrec.data.readers.text import read_lightgcn
from siftrec.errors import SiftrecError

#: The formats that hold (user, item) pairs in a fixed layout, and their readers.
_PAIR_READERS = {"lightgcn": read_lightgcn, "npy": read_npy, "userlists": read_userlists}


def read_interactions(
    path: str | Path,
    format: str | None = None,
    *,
    sep: str | None = None,
    header: bool | None = None,
    columns: Sequence[str] | None = None,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = None,
    user_map: IdMap | None = None,
    item_map: IdMap | None = None,
) -> Interactions:
    """Read an interaction log (any of :data:`FORMATS`, optionally gzipped).

    Args:
        path: the file.
        format: one of :data:`FORMATS`; inferred from the name by :func:`infer_format` if None.
        sep: csv/tsv field separator (default ``,`` / tab, sniffed from the first line when the
            default does not occur); multi-character separators such as ``::`` work too.
        header: csv/tsv only; whether the first line names the columns. Default: True unless
            ``columns`` is given.
        columns: column names for header-less csv/tsv (one per field, e.g.
            ``["user", "item", "rating", "timestamp"]``), or for the fields of a denoisingrec
            file (``["user", "item", "rating"]`` or ``["user", "item", "flag"]``).
        user_col, item_col, weight_col: see the package docstring (``weight_col="rating"``
            turns MovieLens/DeCA ratings into weights).
        user_map, item_map: index the log on these maps, extending them with unknown ids.

    Format notes:
        movielens: ``u.data`` (tab) or ``ratings.dat`` (``::``), fields ``user item rating
        timestamp``; weights 1, rating and timestamp kept as side columns.
        lightgcn / npy / userlists: see :func:`~siftrec.data.readers.text.read_lightgcn`,
        :func:`~siftrec.data.readers.arrays.read_npy` and
        :func:`~siftrec.data.readers.lists.read_userlists`.
        denoisingrec: see :func:`~siftrec.data.readers.text.read_denoisingrec`.
        multibehavior (``multibehavior:collect,cart,buy`` declares the order): a folder with
        one file per behaviour or a table with a behaviour column, read with ordinal levels;
        see :mod:`~siftrec.data.readers.multibehavior`.
        mbgcn (``mbgcn:crgcn``, ``mbgcn:honest``, ``:buy`` for purchases only): a file of the
        MBGCN Tmall release read as its part of that split
        (:func:`~siftrec.data.readers.multibehavior.read_format`).
    """
    path = Path(path)
    family = None if format is None else format.strip().lower().partition(":")[0]
    if family in (MULTIBEHAVIOR, MBGCN_FORMAT):
        if sep is not None or header is not None or columns is not None:
            raise SiftrecError(f"the {family} format takes no sep/header/columns options")
        return read_format(path, format, user_map=user_map, item_map=item_map)
    fmt = open_log(path, format, sep, header, columns)
    maps = {"user_map": user_map, "item_map": item_map}
    if fmt in _PAIR_READERS:
        if (user_col, item_col, weight_col) != ("user", "item", None):
            raise SiftrecError(
                f"{fmt} files have fixed (user, item) fields; drop the column options"
            )
        return _PAIR_READERS[fmt](path, **maps)
    if fmt in STREAMED_FORMATS:
        log = stream_table(path, fmt, sep, header, columns, user_col, item_col, weight_col, **maps)
        if log is not None:
            return log
    frame = table_frame(path, fmt, sep, header, columns)
    return frame_to_interactions(frame, path.name, user_col, item_col, weight_col, **maps)
