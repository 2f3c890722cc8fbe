"""The formats the readers know, inferring one from a file name, and which options apply."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from siftrec.data.manifest import check_split_part
from siftrec.data.readers.files import head_lines, require_file
from siftrec.errors import SiftrecError

FORMATS: tuple[str, ...] = (
    "csv",
    "tsv",
    "parquet",
    "movielens",
    "lightgcn",
    "denoisingrec",
    "npy",
    "userlists",
    "multibehavior",
    "mbgcn",
)

#: The formats whose rows form a table of named columns (see :func:`read_frame`); the others
#: (adjacency lists, id arrays, per-user lists) hold (user, item) pairs only.
TABLE_FORMATS: tuple[str, ...] = ("csv", "tsv", "parquet", "movielens", "denoisingrec")

_DENOISINGREC_SUFFIXES = (".rating", ".negative", ".noisy")


def infer_format(path: str | Path) -> str:
    """The reader format of ``path``, from its name (a ``.gz`` suffix is ignored).

    ``.csv``/``.tsv``/``.parquet`` by extension; ``u.data``/``ratings.dat`` → movielens;
    ``*.rating``/``*.negative``/``*.noisy`` → denoisingrec; ``*.npy`` → npy; ``*.txt`` →
    lightgcn when the content is whitespace-separated integer adjacency lists (``user item
    item ...``). Anything else, ``*.json`` included (NBPO's per-user lists: ``userlists``), is
    an error asking for an explicit format.
    """
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    for ext, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".parquet", "parquet"), (".npy", "npy")):
        if name.endswith(ext):
            return fmt
    if name in ("u.data", "ratings.dat"):
        return "movielens"
    if name.endswith(_DENOISINGREC_SUFFIXES):
        return "denoisingrec"
    hint = f"give the format argument (one of {', '.join(FORMATS)})"
    if name.endswith(".txt"):
        require_file(path)
        if _looks_like_adjacency(head_lines(path)):
            return "lightgcn"
        raise SiftrecError(
            f"{path.name} is not a LightGCN adjacency list (lines of equal length ≥ 3 look like "
            f"a 'user item value' table); {hint}, "
            "e.g. format='tsv', columns=['user', 'item', 'weight']"
        )
    raise SiftrecError(f"cannot infer the format of {path.name!r} from its name; {hint}")


def _looks_like_adjacency(lines: list[str]) -> bool:
    """Whether the first lines are ``user item item ...`` lists rather than a fixed table.

    Integer tokens only; varying token counts, or exactly two per line (plain ``user item``
    pairs, which parse identically), mean adjacency lists.
    """
    counts = set()
    for line in lines:
        tokens = line.split()
        if not tokens:
            continue
        if not all(t.lstrip("-").isdigit() for t in tokens):
            return False
        counts.add(len(tokens))
    return bool(counts) and (len(counts) > 1 or counts <= {1, 2})


def open_log(
    path: Path,
    format: str | None,
    sep: str | None,
    header: bool | None,
    columns: Sequence[str] | None,
) -> str:
    """The checks every file read starts with; returns the format (given or inferred).

    The file must exist and, inside a split folder, belong to the split its manifest describes;
    the format must be known and the options given must apply to it.
    """
    require_file(path)
    check_split_part(path)
    fmt = infer_format(path) if format is None else format.lower()
    if fmt not in FORMATS:
        raise SiftrecError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if fmt not in ("csv", "tsv"):
        if sep is not None:
            raise SiftrecError(f"the sep argument applies to csv/tsv files only, not to {fmt}")
        if header:
            raise SiftrecError(f"the header argument applies to csv/tsv files only, not to {fmt}")
        if columns is not None and fmt != "denoisingrec":
            raise SiftrecError(
                f"the columns argument applies to csv/tsv/denoisingrec files, not to {fmt}"
            )
    return fmt
