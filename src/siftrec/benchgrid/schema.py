"""The TOML schema of bench grids, declared once.

Every table of a grid file is a :class:`Table` of :class:`Key` declarations (name, value type,
default, meaning, allowed values). The parser (:mod:`siftrec.benchgrid.grid`) checks each table
against its declaration with :func:`check_table`: unknown keys and values of the wrong type are
one-line errors naming the key, and plain defaults are read from here. The reference tables of
``docs/grids.md`` are :func:`schema_markdown`'s output, and a test keeps them equal, so the
documented keys are exactly the accepted ones.

Checks that need more than one key (a dataset's source, MAR-only metrics) or the registries
(model, objective and parameter names) stay in the parser and the preflight
(:mod:`siftrec.benchgrid.check`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from siftrec.data.mar import MAR_READERS
from siftrec.errors import SiftrecError

NOISE_KINDS = ("random", "popular")
#: ``propensities`` of a MAR dataset: the reader's column (when it has one) or the power law.
MAR_PROPENSITIES = ("log", "power-law")
#: ``search.method`` values; without ``method`` a search table lists values to try.
SEARCH_METHODS = ("optuna",)


@dataclass(frozen=True)
class ValueType:
    """A TOML value type: ``name`` for the docs, ``phrase`` for errors, ``accepts`` the test."""

    name: str
    phrase: str
    accepts: Callable[[Any], bool]


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _list_of(test: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda value: isinstance(value, list) and bool(value) and all(map(test, value))


STRING = ValueType("string", "a non-empty string", lambda v: isinstance(v, str) and bool(v))
INTEGER = ValueType("integer", "an integer", _is_int)
POSITIVE_INTEGER = ValueType("integer ≥ 1", "a positive integer", lambda v: _is_int(v) and v >= 1)
NUMBER = ValueType("number", "a number", _is_number)
POSITIVE_NUMBER = ValueType("number > 0", "a positive number", lambda v: _is_number(v) and v > 0)
RATIO = ValueType("number in (0, 1)", "a number in (0, 1)", lambda v: _is_number(v) and 0 < v < 1)
TABLE = ValueType("table", "a table", lambda v: isinstance(v, dict))
TABLES = ValueType("array of tables", "a non-empty array of tables", _list_of(TABLE.accepts))
TABLE_OR_TABLES = ValueType(
    "table or array of tables",
    "a table or an array of tables",
    lambda v: TABLE.accepts(v) or (isinstance(v, list) and all(map(TABLE.accepts, v))),
)
INTEGERS = ValueType("list of integers", "a non-empty list of integers", _list_of(_is_int))
NON_NEGATIVE_NUMBERS = ValueType(
    "list of numbers ≥ 0",
    "a non-empty list of numbers >= 0",
    _list_of(lambda v: _is_number(v) and v >= 0),
)
NAMES = ValueType(
    "list of strings, or one comma-separated string",
    "a non-empty list of names (or one comma-separated string)",
    lambda v: (isinstance(v, str) and bool(v.strip(", "))) or _list_of(STRING.accepts)(v),
)
VALUES = ValueType("list", "a non-empty list of values", _list_of(lambda v: True))
ANY = ValueType("any", "any value", lambda v: True)


@dataclass(frozen=True)
class Derived:
    """A default the parser works out from other keys; ``text`` says how."""

    text: str


#: The default of a key that must be given.
REQUIRED = Derived("required")


@dataclass(frozen=True)
class Key:
    """One key of a table: its value type, default (a TOML value or :class:`Derived`),
    meaning, and the allowed values (a tuple, or a callable for values known only to a
    registry)."""

    name: str
    type: ValueType
    meaning: str
    default: Any = REQUIRED
    choices: tuple[Any, ...] | Callable[[], Sequence[Any]] | None = None

    def allowed(self) -> tuple[Any, ...] | None:
        """The allowed values, or None when any value of the type goes."""
        return tuple(self.choices()) if callable(self.choices) else self.choices


@dataclass(frozen=True)
class Table:
    """A TOML table: its declared keys, and the type of any other key (None: no other key)."""

    title: str
    meaning: str
    keys: tuple[Key, ...] = ()
    other: Key | None = None
    names: frozenset[str] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "names", frozenset(key.name for key in self.keys))

    def key(self, name: str) -> Key:
        return next(key for key in self.keys if key.name == name)

    def default(self, name: str) -> Any:
        """The declared plain default of ``name`` (a :class:`Derived` one is the parser's)."""
        default = self.key(name).default
        if isinstance(default, Derived):
            raise KeyError(f"{self.title}.{name} has no plain default")
        return default


def _mar_readers() -> list[str]:
    return sorted(MAR_READERS)


GRID = Table(
    "top level",
    "The grid: what to measure, on which data, with which models and seeds.",
    (
        Key("name", STRING, "Shown in reports.", Derived("the file name without `.toml`")),
        Key(
            "baseline",
            STRING,
            "Model label the paired tests of `summary.md` compare against.",
            Derived("the first model's label"),
        ),
        Key(
            "metrics",
            NAMES,
            "Test metrics, e.g. `recall@20`; MAR grids take `dcg`/`recall`/`map@K` and "
            "`all:<metric>` (see below).",
            Derived('`["recall@20", "ndcg@20"]`; MAR: `["dcg@5", "recall@5", "map@5"]`'),
        ),
        Key(
            "tune_metric",
            STRING,
            "Validation metric searches maximise; one of `metrics`, or for MAR grids "
            "`{ips,snips}-{recall,dcg,ndcg}@K`.",
            Derived("the first of `metrics`; MAR: `snips-dcg@5`"),
        ),
        Key("seeds", INTEGERS, "One cell per seed: seeds splits, noise, carves and fits.", [0]),
        Key("datasets", TABLES, "The `[[datasets]]` tables."),
        Key("models", TABLES, "The `[[models]]` tables."),
        Key(
            "noise",
            TABLE_OR_TABLES,
            "The `[[noise]]` settings (train-only injection).",
            Derived("no injection"),
        ),
    ),
)

DATASET = Table(
    "[[datasets]]",
    "One data set. Give exactly one source: `synthetic`, `path` (split by `split`), "
    "`train` + `test` (pre-split files), or `dir` + `mar` (a MAR set; then nothing else but "
    "`name`).",
    (
        Key("name", STRING, "Unique within the grid; names the cells."),
        Key(
            "synthetic",
            TABLE,
            "Built-in generator options (`siftrec.data.synthetic.SyntheticConfig`); its seed "
            "defaults to the cell seed.",
            None,
        ),
        Key("path", STRING, "One interaction file, split by `split`. Paths take `${VAR}`.", None),
        Key("train", STRING, "Pre-split training file (needs `test`).", None),
        Key("test", STRING, "Pre-split test file.", None),
        Key("validation", STRING, "Pre-split validation file (searches tune on it).", None),
        Key("read", TABLE, "Keyword arguments of `read_interactions`, e.g. `format`.", {}),
        Key(
            "split",
            TABLE,
            "`scheme` (`random`, `leave-last`, `temporal`, ...) and its options; not with "
            "`train`. Each cell's seed seeds the split.",
            Derived("required with `synthetic` or `path`"),
        ),
        Key(
            "tune_validation_ratio",
            RATIO,
            "Without a validation part: searches tune on this per-user random share of train "
            "(cell seed) and the best setting is refit on all of train.",
            None,
        ),
        Key("dir", STRING, "Directory of a MAR set (needs `mar`).", None),
        Key("mar", TABLE, "The MAR set's reader and split options (below).", None),
    ),
)

MAR = Table(
    "[[datasets]] mar",
    "A missing-at-random set (Saito et al.'s protocol): an MNAR log split at random into "
    "train/validation and binarised, tested on the MAR log.",
    (
        Key("reader", STRING, "Which reader opens `dir`.", choices=_mar_readers),
        Key("threshold", NUMBER, "Ratings `>= threshold` are positives.", 4.0),
        Key("validation_ratio", RATIO, "Share of the MNAR log held out for validation.", 0.1),
        Key("split_seed", INTEGER, "Seeds that split (the same for every cell seed).", 12345),
        Key(
            "propensities",
            STRING,
            "`log` keeps a propensity column the reader ships; `power-law` uses "
            "`(n_i / max n)^0.5` of the training positives.",
            "log",
            MAR_PROPENSITIES,
        ),
    ),
)

MODEL = Table(
    "[[models]]",
    "One model setting; every dataset, noise setting and seed runs it.",
    (
        Key("model", STRING, "A registered model name (`siftrec.models.available_models()`)."),
        Key("label", STRING, "Unique within the grid; names the cells.", Derived("`model`")),
        Key("objective", STRING, "Shorthand for `params.objective` (a spec string).", None),
        Key("sampler", STRING, "Shorthand for `params.sampler` (a spec string).", None),
        Key("params", TABLE, "Fixed hyperparameters (the model's `Config` fields).", {}),
        Key(
            "search",
            TABLE,
            "A search on validation: `{ field = [values...] }` tries every combination; "
            '`{ method = "optuna", trials = N }` runs seeded TPE (below).',
            None,
        ),
    ),
)

PARAMS = Table(
    "[[models]] params",
    "Fixed hyperparameters; names and types are the model's `Config` fields (checked before "
    "the run). `seed` defaults to the cell seed.",
    other=Key("<field>", ANY, "A `Config` field of the model.", None),
)

GRID_SEARCH = Table(
    "[[models]] search (exhaustive)",
    "Every combination of the listed values is fitted on the training part and scored on the "
    "validation part by `tune_metric`; the best is tested once.",
    other=Key(
        "<field>", VALUES, "Values to try for a `Config` field (not also in `params`).", None
    ),
)

OPTUNA_SEARCH = Table(
    "[[models]] search (Optuna)",
    "Seeded TPE (`siftrec.tune.tune`, seed = the cell seed) over the search space the model, "
    "objective and sampler declare, on the validation part only; the best trial is refit and "
    "tested once. Not for MAR grids.",
    (
        Key("method", STRING, "Selects this form.", choices=SEARCH_METHODS),
        Key("trials", POSITIVE_INTEGER, "Trials with an outcome (complete, pruned or failed)."),
        Key("timeout", POSITIVE_NUMBER, "Start no new trial after this many seconds.", None),
        Key("metric", STRING, "Validation metric to maximise.", Derived("`tune_metric`")),
    ),
    other=Key(
        "<field>",
        VALUES,
        "Narrows a searched field to the listed values (two or more); a component field, "
        'e.g. `objective = ["tce", "rce", "nbpo"]`, keeps each listed component\'s own space.',
        None,
    ),
)

NOISE = Table(
    "[[noise]]",
    "Noise injected into the training part only; the test and validation parts stay clean.",
    (
        Key(
            "kind",
            STRING,
            "`random` or popularity-weighted `popular` false positives.",
            "random",
            NOISE_KINDS,
        ),
        Key(
            "ratios",
            NON_NEGATIVE_NUMBERS,
            "Injected share of train; 0 is the clean setting.",
            [0.0],
        ),
    ),
)

#: Every table, in the order the docs show them.
TABLES_IN_ORDER = (GRID, DATASET, MAR, MODEL, PARAMS, GRID_SEARCH, OPTUNA_SEARCH, NOISE)


def check_table(raw: dict[str, Any], table: Table, *, what: str, prefix: str = "") -> None:
    """Refuse unknown keys and wrongly typed values of one TOML table.

    ``what`` names the table in the unknown-key error (``unknown model key 'x'``); ``prefix``
    leads the value errors (``dataset 'ml': mar.threshold must be a number, got '4'``).
    """
    if table.other is None:
        unknown = sorted(set(raw) - table.names)
        if unknown:
            raise SiftrecError(
                f"unknown {what} key {unknown[0]!r} (allowed: {', '.join(sorted(table.names))})"
            )
    for name, value in raw.items():
        key = table.key(name) if name in table.names else table.other
        if not key.type.accepts(value):
            raise SiftrecError(f"{prefix}{name} must be {key.type.phrase}, got {value!r}")
        allowed = key.allowed()
        if allowed is not None and value not in allowed:
            shown = ", ".join(repr(a) for a in allowed)
            raise SiftrecError(f"{prefix}{name} must be one of {shown}, got {value!r}")


# ---------------------------------------------------------------------- documentation
def schema_markdown() -> str:
    """Markdown reference tables of every declared table (``docs/grids.md`` includes them)."""
    sections = []
    for table in TABLES_IN_ORDER:
        rows = [f"### {table.title}", "", table.meaning, ""]
        keys = [*table.keys, *([table.other] if table.other else [])]
        rows += ["| key | type | default | meaning |", "| --- | --- | --- | --- |"]
        rows += [
            f"| `{k.name}` | {_type_text(k)} | {_default_text(k.default)} | {k.meaning} |"
            for k in keys
        ]
        sections.append("\n".join(rows) + "\n")
    return "\n".join(sections)


def _type_text(key: Key) -> str:
    allowed = key.allowed()
    if allowed is None:
        return key.type.name
    return "one of " + ", ".join(f"`{a}`" for a in allowed)


def _default_text(default: Any) -> str:
    if isinstance(default, Derived):
        return default.text
    if default is None:
        return "—"
    return f"`{_toml(default)}`"


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{}" if not value else "{ ... }"
    return str(value)
