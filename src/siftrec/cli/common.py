"""Shared CLI plumbing: one-line error reporting, reading options, progress and parsing."""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console

from siftrec.errors import SiftrecError

F = TypeVar("F", bound=Callable[..., Any])

stderr = Console(stderr=True)
stdout = Console()

FormatOption = Annotated[
    str | None,
    typer.Option(
        "--format",
        help="Input format: csv, tsv, parquet, movielens, lightgcn, denoisingrec, npy, "
        "userlists (inferred from the file name when omitted).",
    ),
]
SepOption = Annotated[str | None, typer.Option("--sep", help="Field separator for CSV/TSV input.")]
ColumnsOption = Annotated[
    str | None,
    typer.Option(
        "--columns",
        help="Comma-separated column names for header-less CSV/TSV input, e.g. user,item,rating.",
    ),
]


def fail(message: str) -> None:
    """Print a one-line error and exit with status 1."""
    stderr.print(f"[bold red]error:[/] {message}", highlight=False, soft_wrap=True)
    raise typer.Exit(1)


def handle_errors(func: F) -> F:
    """Turn SiftrecError (and common OS errors) into a one-line message and exit status 1."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except SiftrecError as exc:
            fail(str(exc))
        except FileNotFoundError as exc:
            fail(f"file not found: {exc.filename or exc}")
        except MemoryError:
            fail("out of memory; try a smaller batch size or a smaller model")
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except Exception as exc:
            if os.environ.get("SIFTREC_DEBUG"):
                raise
            fail(f"unexpected {type(exc).__name__}: {exc} (set SIFTREC_DEBUG=1 for a traceback)")

    return wrapper  # type: ignore[return-value]


def read_options(fmt: str | None, sep: str | None, columns: str | None) -> dict[str, Any]:
    """Keyword arguments for ``read_interactions`` from the common CLI options."""
    options: dict[str, Any] = {"format": fmt}
    if sep is not None:
        options["sep"] = sep
    if columns is not None:
        options["columns"] = [c.strip() for c in columns.split(",") if c.strip()]
        options["header"] = False
    return options


def require_file(path: Path, what: str = "input") -> Path:
    if not path.exists():
        raise SiftrecError(f"{what} file does not exist: {path}")
    return path


def parse_params(params: list[str] | None) -> dict[str, str]:
    """``["k=v", ...]`` → dict; a malformed entry is a one-line error."""
    out: dict[str, str] = {}
    for item in params or []:
        if "=" not in item:
            raise SiftrecError(f"--param expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        key = key.strip().replace("-", "_")
        if not key:
            raise SiftrecError(f"--param expects key=value, got {item!r}")
        out[key] = value.strip()
    return out


@contextmanager
def status(message: str, enabled: bool = True):
    """A spinner on stderr for a step that may take more than a second."""
    if not enabled or not sys.stderr.isatty():
        yield
        return
    with stderr.status(message):
        yield
