"""File access shared by the readers: existence checks, gzip detection and text lines."""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path
from typing import Any

from siftrec.errors import SiftrecError

_GZIP_MAGIC = b"\x1f\x8b"


def require_file(path: Path) -> None:
    """Refuse a path that does not exist or is not a regular file."""
    if not path.exists():
        raise SiftrecError(f"file does not exist: {path}")
    if not path.is_file():
        raise SiftrecError(f"not a file: {path}")


def is_gzip(path: Path) -> bool:
    """Whether ``path`` starts with the gzip magic bytes (its name does not matter)."""
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def read_bytes(path: str | Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip-compressed (by magic bytes, not by name).

    A corrupt gzip stream, or a ``.gz`` name on a file that is not compressed, is a one-line
    error naming the file.
    """
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise SiftrecError(f"{path.name} is a corrupt gzip file ({exc})") from None
    if path.name.lower().endswith(".gz"):
        raise SiftrecError(f"{path.name} is named .gz but is not gzip-compressed")
    return raw


def source(path: Path) -> Path | bytes:
    """What to hand to polars: the path itself, or the gunzipped bytes."""
    if is_gzip(path) or path.name.lower().endswith(".gz"):
        return read_bytes(path)
    return path


def head_lines(path: Path, n_bytes: int = 1 << 16, max_lines: int = 200) -> list[str]:
    """The first complete lines of a (possibly gzipped) text file."""
    opener = gzip.open if is_gzip(path) else open
    try:
        with opener(path, "rb") as f:
            chunk = f.read(n_bytes)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SiftrecError(f"{path.name} is a corrupt gzip file ({exc})") from None
    lines = chunk.decode("utf-8", errors="replace").splitlines()
    if len(chunk) == n_bytes and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    return [line for line in lines if line.strip()][:max_lines]


def read_lines(path: Path) -> Any:
    """Non-blank lines of a text file as a polars String Series (stripped of surrounding space)."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    try:
        frame = pl.read_csv(
            source(path), has_header=False, separator="\x1f", quote_char=None, infer_schema=False
        )
    except pl.exceptions.NoDataError:
        raise SiftrecError(f"{path.name} is empty") from None
    except pl.exceptions.PolarsError as exc:
        raise polars_error(path, "text lines", exc) from None
    if frame.width != 1:
        raise SiftrecError(f"{path.name} contains the control character \\x1f; not a text log")
    lines = frame.to_series().str.strip_chars()
    lines = lines.filter(lines.is_not_null() & (lines != ""))
    if lines.len() == 0:
        raise SiftrecError(f"{path.name} is empty")
    return lines


def polars_error(path: Path, what: str, exc: Exception) -> SiftrecError:
    """A polars parse failure as a one-line error naming the file and what it was read as."""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SiftrecError(f"cannot read {path.name} as {what}: {message}")
