"""Shared CLI plumbing: one-line error reporting, reading options, progress and parsing."""

from __future__ import annotations

import ast
import errno
import functools
import inspect
import logging
import os
import re
import sys
import zipfile
import zlib
from collections.abc import Callable, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.text import Text
from typer.core import TyperGroup, TyperOption

from siftrec.data.interactions import Interactions
from siftrec.data.readers import read_interactions
from siftrec.errors import SiftrecError

if TYPE_CHECKING:  # siftrec.models loads torch, which only the commands that load a model need
    from siftrec.models.base import Recommender

F = TypeVar("F", bound=Callable[..., Any])

#: Informational messages ("wrote …"); ``--quiet`` silences it.
stderr = Console(stderr=True)
#: Errors and warnings: never silenced.
errors = Console(stderr=True, soft_wrap=True)
stdout = Console()

#: The library's logger (``siftrec.*`` modules log under it).
log = logging.getLogger("siftrec")


def _flag_display_type(self: TyperOption, ctx: typer.Context) -> str | None:
    """A flag's type column in ``--help``: none, since a flag takes no value."""
    if self.is_flag or self.count:
        return None
    return _option_display_type(self, ctx)


# typer's rich help prints a type for every option, so `--retry-failed <bool>` read as if it
# took a value; flags are flags (`--retry-failed`, `--dedupe / --no-dedupe`).
_option_display_type = TyperOption.display_type_rich
TyperOption.display_type_rich = _flag_display_type  # type: ignore[method-assign]


#: The prefix (and its style) of a log line by level; INFO lines have none.
_LOG_PREFIXES = {
    logging.DEBUG: ("debug: ", "dim"),
    logging.WARNING: ("warning: ", "yellow"),
    logging.ERROR: ("error: ", "bold red"),
    logging.CRITICAL: ("error: ", "bold red"),
}


class CliLogHandler(RichHandler):
    """Log records as the CLI's one-line messages on stderr: ``warning: …``, ``error: …``,
    plain information, ``debug: …``. A rich handler, so lines print above live progress bars."""

    def __init__(self) -> None:
        super().__init__(
            console=errors,
            show_time=False,
            show_level=False,
            show_path=False,
            markup=False,
            highlighter=None,
        )

    def render(self, *, record: logging.LogRecord, traceback: Any, message_renderable: Any) -> Any:
        prefix, style = _LOG_PREFIXES.get(record.levelno, ("", ""))
        return Text.assemble((prefix, style), message_renderable)


def configure_logging(verbosity: int = 0) -> None:
    """Send the ``siftrec`` logger to :class:`CliLogHandler`: INFO and above by default,
    WARNING and above when ``verbosity`` < 0 (``--quiet``: also no progress bars and no
    informational lines), DEBUG when > 0 (``--verbose``)."""
    if not any(isinstance(h, CliLogHandler) for h in log.handlers):
        log.addHandler(CliLogHandler())
    log.setLevel(logging.WARNING if verbosity < 0 else logging.DEBUG if verbosity else logging.INFO)
    stderr.quiet = verbosity < 0


configure_logging()

#: The verbosity options of the ``siftrec`` callback, accepted anywhere on the command line.
VERBOSITY_FLAGS = frozenset({"--quiet", "-q", "--verbose", "-v"})


class SiftrecGroup(TyperGroup):
    """The root command group: ``--quiet`` / ``--verbose`` may follow the subcommand too
    (``siftrec fit … --quiet``); they are moved in front of it, where the callback reads them."""

    def parse_args(self, ctx: typer.Context, args: list[str]) -> list[str]:
        end = args.index("--") if "--" in args else len(args)
        flags = [a for a in args[:end] if a in VERBOSITY_FLAGS]
        rest = [a for a in args[:end] if a not in VERBOSITY_FLAGS]
        return super().parse_args(ctx, [*flags, *rest, *args[end:]])


@dataclass(frozen=True)
class LogOptions:
    """How a command reads its interaction logs: ``--format``, ``--sep`` and ``--columns``.

    ``columns`` holds the names ``--columns`` lists; giving them means the file has no header.
    """

    format: str | None = None
    sep: str | None = None
    columns: list[str] | None = None

    @classmethod
    def from_flags(cls, fmt: str | None, sep: str | None, columns: str | None) -> LogOptions:
        """The options as the three flags give them (``--columns`` comma-separated)."""
        names = None if columns is None else [c.strip() for c in columns.split(",") if c.strip()]
        return cls(fmt, sep, names)

    def reader_kwargs(self) -> dict[str, Any]:
        """Keyword arguments for :func:`siftrec.data.readers.read_interactions`."""
        kwargs: dict[str, Any] = {"format": self.format}
        if self.sep is not None:
            kwargs["sep"] = self.sep
        if self.columns is not None:
            kwargs["columns"] = self.columns
            kwargs["header"] = False
        return kwargs


#: No read option given: the format from the file name, the default separator, a header line.
DEFAULT_LOG_OPTIONS = LogOptions()

#: The option block that :func:`with_log_options` puts in a command's signature.
_LOG_FLAGS = (
    inspect.Parameter(
        "log_format",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "--format",
                help="Input format: csv, tsv, parquet, movielens, lightgcn, denoisingrec, npy, "
                "userlists, multibehavior[:a,b,c] (behaviours shallowest first; a folder of "
                "per-behaviour files or a behavior column), mbgcn:crgcn|honest[:buy] (a Tmall "
                "release file as its split part); inferred from the file name when omitted.",
            ),
        ],
    ),
    inspect.Parameter(
        "log_sep",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None, typer.Option("--sep", help="Field separator for CSV/TSV input.")
        ],
    ),
    inspect.Parameter(
        "log_columns",
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[
            str | None,
            typer.Option(
                "--columns",
                help="Comma-separated column names for header-less CSV/TSV input, "
                "e.g. user,item,rating.",
            ),
        ],
    ),
)


def with_log_options(func: F) -> F:
    """Give a command the read-a-log options in place of its ``LogOptions`` parameter.

    ``--format``, ``--sep`` and ``--columns`` take that parameter's place in the command's
    signature (and so in its ``--help``); the command receives them as one :class:`LogOptions`.
    Every command that reads a log declares the block this one way.
    """
    signature = inspect.signature(func, eval_str=True)
    target = next(p.name for p in signature.parameters.values() if p.annotation is LogOptions)
    parameters = []
    for parameter in signature.parameters.values():
        if parameter.name == target:
            parameters.extend(_LOG_FLAGS)
        else:
            parameters.append(parameter.replace(kind=inspect.Parameter.KEYWORD_ONLY))

    @functools.wraps(func)
    def wrapper(
        *args: Any,
        log_format: str | None = None,
        log_sep: str | None = None,
        log_columns: str | None = None,
        **kwargs: Any,
    ) -> Any:
        kwargs[target] = LogOptions.from_flags(log_format, log_sep, log_columns)
        return func(*args, **kwargs)

    wrapper.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in parameters}
    return wrapper  # type: ignore[return-value]


def show_warning(message: Warning | str, category: type[Warning], *_: Any, **__: Any) -> None:
    """``warnings.showwarning`` for the CLI: the warning goes to the ``siftrec`` logger, which
    prints one ``warning: …`` line without source location."""
    log.warning("%s", message)


def warn(message: str) -> None:
    """A ``warning: …`` line through the ``siftrec`` logger (shown even with ``--quiet``)."""
    log.warning("%s", message)


def fail(message: str) -> None:
    """Print a one-line error and exit with status 1."""
    errors.print(f"[bold red]error:[/] {message}", highlight=False)
    raise typer.Exit(1)


def handle_errors(func: F) -> F:
    """Turn SiftrecError, OS errors and damaged files into a one-line message and exit status 1.

    Whatever is not recognised is a bug in siftrec and says so (SIFTREC_DEBUG=1 re-raises it).
    """

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (typer.Exit, typer.Abort, KeyboardInterrupt):
            raise
        except SiftrecError as exc:
            fail(cli_terms(str(exc)))
        except MemoryError:
            fail("out of memory; try a smaller batch size or a smaller model")
        except OSError as exc:
            fail(describe_os_error(exc))
        except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
            fail(f"corrupt or truncated model file ({exc})")
        except UnicodeDecodeError as exc:
            fail(f"input is not UTF-8 text ({exc.reason} at byte {exc.start})")
        except Exception as exc:
            if os.environ.get("SIFTREC_DEBUG"):
                raise
            fail(
                f"internal error ({type(exc).__name__}: {exc}); this is a bug in siftrec, "
                "please report it (set SIFTREC_DEBUG=1 for a traceback)"
            )

    return wrapper  # type: ignore[return-value]


#: Library arguments that commands set through a flag: library messages name the argument
#: ("the sep argument", "format='tsv'"), the CLI shows the flag ("--sep", "--format tsv").
ARGUMENT_FLAGS: dict[str, str] = {
    "format": "--format",
    "sep": "--sep",
    "columns": "--columns",
    "out": "--out",
    "only": "--only",
}

_NAMED_ARGUMENT = re.compile(r"\bthe ([a-z_]+) argument\b")
_LITERAL = r"'[^']*'|\[[^\]]*\]"
_KEYWORD = re.compile(rf"\b([a-z_]+)=({_LITERAL})")
_KEYWORDS = re.compile(rf"\b[a-z_]+=(?:{_LITERAL})(?:, [a-z_]+=(?:{_LITERAL}))*")


def cli_terms(message: str) -> str:
    """A library message in the command line's terms: the arguments of :data:`ARGUMENT_FLAGS`
    become their flags.

    "the sep argument" → "--sep"; an example call such as "format='tsv', columns=['user',
    'item']" → "--format tsv --columns user,item" (left as it is when it names another argument).
    """

    def named(match: re.Match[str]) -> str:
        return ARGUMENT_FLAGS.get(match[1], match[0])

    def example(match: re.Match[str]) -> str:
        pairs = _KEYWORD.findall(match[0])
        if any(name not in ARGUMENT_FLAGS for name, _ in pairs):
            return match[0]
        return " ".join(f"{ARGUMENT_FLAGS[name]} {_flag_value(value)}" for name, value in pairs)

    return _KEYWORDS.sub(example, _NAMED_ARGUMENT.sub(named, message))


def _flag_value(literal: str) -> str:
    """A Python literal from an example call as a flag value: a list is comma-separated."""
    try:
        value = ast.literal_eval(literal)
    except (ValueError, SyntaxError):  # not a literal after all: show it as written
        return literal
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


#: Hidden names the atomic writers use beside a target: ``.NAME[.<pid>].<random>.tmp`` and
#: ``.NAME[.<pid>].old``.
_SCRATCH_NAME = re.compile(r"^\.(?P<name>.+?)(?:\.\d+)?\.(?:[A-Za-z0-9_]+\.tmp|old)$")


def _target_path(filename: Any) -> tuple[str, bool]:
    """The user's path behind an OS error's file name, and whether it is one being written.

    Scratch files of the atomic writers are mapped back onto the output they stand for.
    """
    path = Path(os.fsdecode(filename))
    parts = [_SCRATCH_NAME.match(part) for part in path.parts]
    writing = any(parts)
    names = [m["name"] if m else part for m, part in zip(parts, path.parts, strict=True)]
    return str(Path(*names)) if names else str(path), writing


def describe_os_error(exc: OSError) -> str:
    """A one-line message for an OS error, in the user's terms and naming the path."""
    filename = exc.filename2 if exc.filename2 is not None else exc.filename
    if filename is None:
        reason = exc.strerror or str(exc)
        return "no space left on device" if exc.errno == errno.ENOSPC else reason
    path, writing = _target_path(filename)
    writing = writing or exc.filename2 is not None
    code = exc.errno
    if code in (errno.EACCES, errno.EPERM):
        return f"cannot {'write' if writing else 'access'} {path}: permission denied"
    if code == errno.EROFS:
        return f"cannot write {path}: read-only file system"
    if code == errno.ENOSPC:
        return f"no space left on device writing {path}"
    if code == errno.EDQUOT:
        return f"disk quota exceeded writing {path}"
    if code == errno.EISDIR:
        return f"{path} is a directory; give a file path"
    if code == errno.ENOTDIR:
        blocker = _file_ancestor(Path(path))
        where = f"{blocker} is a file, not a directory" if blocker else "not a directory"
        return f"cannot use {path}: {where}"
    if code == errno.EEXIST:
        return f"cannot create directory {path}: a file of that name exists"
    if code == errno.ENOENT and not writing:
        return f"file not found: {path}"
    if code == errno.ENAMETOOLONG:
        return f"file name too long: {path}"
    reason = (exc.strerror or str(exc)).lower()
    return f"cannot {'write' if writing else 'access'} {path}: {reason}"


def _file_ancestor(path: Path) -> Path | None:
    """The nearest existing ancestor of ``path`` that is not a directory (None when all are)."""
    for parent in path.parents:
        if parent.exists() or parent.is_symlink():
            return None if parent.is_dir() else parent
    return None


def require_file(path: Path, what: str = "input") -> Path:
    """``path`` itself, or a one-line error when it does not exist."""
    if not path.exists():
        raise SiftrecError(f"{what} file does not exist: {path}")
    return path


def read_input(path: Path, what: str, options: LogOptions, **kwargs: Any) -> Interactions:
    """Read an interactions file for a command, as its ``--format/--sep/--columns`` ask.

    Every command reads its interaction files here, so the library's checks (``read_interactions``)
    apply to all of them alike. ``what`` names the file in errors ("training", "test", ...).
    """
    require_file(path, what)
    with status(f"Reading {path.name}"):
        return read_interactions(path, **options.reader_kwargs(), **kwargs)


def load_model_dir(path: Path) -> Recommender:
    """Load the model in ``path``; a damaged archive inside it is a one-line error naming it."""
    # lazy: loads torch; the CLI imports it only for the commands that need it
    from siftrec.models import load_model

    try:
        return load_model(path)
    except (zipfile.BadZipFile, EOFError, zlib.error) as exc:
        raise SiftrecError(f"corrupt or truncated model file in {path} ({exc})") from None


def guard_outputs(
    outputs: Mapping[str, Path | None],
    inputs: Mapping[str, Path | None] | None = None,
    model_dirs: Mapping[str, Path | None] | None = None,
    *,
    directories: Mapping[str, Path | None] | None = None,
) -> None:
    """Refuse output paths that would overwrite what a command reads, before any work is done.

    ``outputs`` and ``directories`` map an option name ("--out") to the file, respectively the
    directory, the command writes; ``inputs`` and ``model_dirs`` map the name the user gave each
    input ("--train", "MODEL_DIR") to its path. ``None`` paths are ignored. Refused, with one
    line naming both: an output that is the same file as an input (symlinks and hard links
    included); an output inside a model directory that is read; a file output that is a
    directory, a device or a pipe; a directory output that is a file or contains an input or a
    model directory; an output below an existing file.
    """
    reads = {label: path for label, path in (inputs or {}).items() if path is not None}
    models = {
        label: path
        for label, path in (model_dirs or {}).items()
        if path is not None and (path / "model.json").is_file()
    }
    for flag, out in outputs.items():
        if out is not None:
            _guard_file_output(flag, out, reads, models)
    for flag, out in (directories or {}).items():
        if out is not None:
            _guard_directory_output(flag, out, reads, models)


def _guard_file_output(
    flag: str, out: Path, reads: Mapping[str, Path], models: Mapping[str, Path]
) -> None:
    """The checks of :func:`guard_outputs` for an output file."""
    for label, path in reads.items():
        if _same_file(out, path):
            raise SiftrecError(
                f"{flag} {out} is the same file as {label}; choose another output path"
            )
    for label, directory in models.items():
        inside = _inside(out, directory) or any(
            _same_file(out, member) for member in directory.iterdir() if member.is_file()
        )
        if inside:
            raise SiftrecError(
                f"{flag} {out} is inside the model directory {label} ({directory}); "
                "choose another output path"
            )
    if out.is_dir():
        raise SiftrecError(f"{flag} {out} is a directory; give a file path")
    if out.exists() and not out.is_file():
        raise SiftrecError(
            f"{flag} {out} is not a regular file (a device or pipe); give a file path"
        )
    _guard_parents(flag, out)


def _guard_directory_output(
    flag: str, out: Path, reads: Mapping[str, Path], models: Mapping[str, Path]
) -> None:
    """The checks of :func:`guard_outputs` for an output directory."""
    for label, path in reads.items():
        if _same_file(out, path):
            raise SiftrecError(
                f"{flag} {out} is the same file as {label}; choose another output directory"
            )
        if _inside(path, out):
            raise SiftrecError(
                f"{flag} {out} contains {label} ({path}); choose another output directory"
            )
    for label, directory in models.items():
        if _inside(out, directory) or _inside(directory, out):
            raise SiftrecError(
                f"{flag} {out} overlaps the model directory {label} ({directory}); "
                "choose another output directory"
            )
    if out.exists() and not out.is_dir():
        raise SiftrecError(f"{flag} {out} is a file; give a directory path")
    _guard_parents(flag, out)


def _guard_parents(flag: str, out: Path) -> None:
    """Refuse an output below an existing file (``--out data.csv/x``)."""
    blocker = _file_ancestor(out)
    if blocker is not None:
        raise SiftrecError(
            f"{flag} {out}: {blocker} is a file, not a directory; choose another output path"
        )


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file: same resolved path, or same inode when both exist."""
    if a.resolve() == b.resolve():
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def _inside(path: Path, directory: Path) -> bool:
    """Whether ``path`` is ``directory`` or lies below it (symlinks resolved)."""
    return path.resolve().is_relative_to(directory.resolve())


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
