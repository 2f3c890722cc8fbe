"""Write tables and ``Interactions`` to files with raw ids (CSV/TSV/Parquet, optionally gzipped).

:func:`write_frame` is the one place that turns an output path into a file format: every file
the CLI writes (recommendations, scores, scored logs, per-user metrics, splits) goes through it,
so ``--out x.parquet`` is Parquet everywhere. Writes are atomic and follow the umask.
"""

from __future__ import annotations

import gzip
import io
from pathlib import Path
from typing import Any

import numpy as np

from siftrec.atomic import atomic_path
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

WRITE_FORMATS = ("csv", "tsv", "parquet")


def output_format(path: str | Path, format: str | None = None) -> str:
    """The write format: explicit, else from the file name (``.csv``, ``.tsv``, ``.parquet``)."""
    if format is not None:
        if format not in WRITE_FORMATS:
            raise SiftrecError(f"cannot write format {format!r}; choose one of {WRITE_FORMATS}")
        return format
    name = Path(path).name.lower().removesuffix(".gz")
    for fmt in WRITE_FORMATS:
        if name.endswith(f".{fmt}"):
            return fmt
    raise SiftrecError(f"cannot infer an output format from {Path(path).name!r}; use .csv/.parquet")


def table_format(path: str | Path) -> str:
    """The format of a table output: ``.parquet`` → Parquet, ``.tsv[.gz]`` → TSV, else CSV."""
    name = Path(path).name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    return "tsv" if name.endswith(".tsv") else "csv"


def write_frame(
    frame: Any,
    path: str | Path,
    format: str | None = None,
    *,
    sep: str | None = None,
    header: bool = True,
) -> Path:
    """Write the polars DataFrame ``frame`` to ``path`` atomically.

    ``format`` defaults to :func:`table_format` of the name. CSV/TSV take ``sep`` (default ``,``
    or tab; multi-character separators too) and ``header``; a ``.gz`` name gzips them. Parquet
    output is compressed already, so a ``.parquet.gz`` name is refused.
    """
    path = Path(path)
    fmt = table_format(path) if format is None else output_format(path, format)
    gzipped = path.name.lower().endswith(".gz")
    if fmt == "parquet" and gzipped:
        raise SiftrecError(f"{path.name}: parquet output is compressed already; drop .gz")
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            frame.write_parquet(tmp)
        else:
            _write_text(frame, tmp, sep or ("," if fmt == "csv" else "\t"), header, gzipped, path)
    return path


def _write_text(frame: Any, tmp: Path, sep: str, header: bool, gzipped: bool, path: Path) -> None:
    """CSV/TSV with ``sep`` (multi-character separators too), optionally gzipped."""
    single = len(sep.encode()) == 1
    if single and not gzipped:
        frame.write_csv(tmp, separator=sep, include_header=header)
        return
    with open(tmp, "wb") as raw:
        # gzip header: names the target, no time stamp, so equal data gives equal bytes
        dst = gzip.GzipFile(path.name, "wb", 9, raw, 0) if gzipped else raw
        with dst:
            if single:
                frame.write_csv(dst, separator=sep, include_header=header)
            else:  # polars writes one-byte separators: write a unit separator and swap it
                buffer = io.BytesIO()
                frame.write_csv(buffer, separator="\x1f", include_header=header)
                dst.write(buffer.getvalue().replace(b"\x1f", sep.encode()))


def interactions_frame(data: Interactions, include_weight: bool | None = None):
    """A polars DataFrame ``user,item[,weight],<side columns>`` with raw ids.

    ``weight`` is written when asked, or (``None``) when any weight differs from 1.
    """
    import polars as pl  # lazy: polars is slow to import and only file output needs it

    frame = {"user": data.raw_users(), "item": data.raw_items()}
    if include_weight or (include_weight is None and np.any(data.weights != 1.0)):
        frame["weight"] = data.weights
    for name, values in data.columns.items():
        frame[name] = values
    return pl.DataFrame(frame)


def write_interactions(
    data: Interactions,
    path: str | Path,
    format: str | None = None,
    include_weight: bool | None = None,
) -> Path:
    """Write ``data`` atomically to ``path``; a ``.gz`` suffix gzips CSV/TSV output."""
    fmt = output_format(path, format)
    return write_frame(interactions_frame(data, include_weight), path, fmt)
