"""Write ``Interactions`` back to files with raw ids (CSV/TSV/Parquet, optionally gzipped)."""

from __future__ import annotations

import gzip
from pathlib import Path

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
    path = Path(path)
    fmt = output_format(path, format)
    frame = interactions_frame(data, include_weight)
    with atomic_path(path) as tmp:
        if fmt == "parquet":
            frame.write_parquet(tmp)
        else:
            sep = "," if fmt == "csv" else "\t"
            if path.name.lower().endswith(".gz"):
                # compressed as written (no second temporary file); the header names the target
                # and has no time stamp, so equal data gives equal bytes
                with open(tmp, "wb") as raw, gzip.GzipFile(path.name, "wb", 9, raw, 0) as dst:
                    frame.write_csv(dst, separator=sep)
            else:
                frame.write_csv(tmp, separator=sep)
    return path
