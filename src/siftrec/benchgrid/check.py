"""Preflight of a grid: every cell about to run is checked before the first one starts.

A grid that fails on its twentieth cell after hours of work, or records failed cells for a typo,
wastes the run; these checks catch such mistakes up front. They are cheap (nothing is fitted
and no data file is loaded):

- data: every path exists and is a readable file (gzip magic included), its format resolves
  (``read.format``, or from the name as :func:`~siftrec.data.readers.read_interactions`
  infers it); a MAR ``dir`` holds its reader's files; ``read``, ``split`` and ``synthetic``
  options are known names with values of the declared types;
- models: every ``params`` / ``search`` value has the declared type; objective and sampler
  specs build from their registries, the objective's kind is one the model trains with, and
  an explicit ``device`` exists; the model constructs with its fixed parameters and with every
  search candidate (the model classes validate their configuration in the constructor) and its
  sampler builds with the training options;
- Optuna searches: every narrowed field is one the model's declared space searches, with
  values among its choices, and no fixed ``objective=auto`` takes the objective away;
- cells: a search space has a validation part to tune on (or ``tune_validation_ratio``).

Each problem is one line naming the cells it concerns (``cell DATASET/MODEL``, or
``cells DATASET/*`` / ``cells */MODEL`` for a problem shared by every model of a dataset or
every dataset of a model) and the TOML key.
"""

from __future__ import annotations

import dataclasses
import inspect
import types
import typing
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from siftrec.benchgrid.grid import Cell, DatasetSpec, ModelSpec, expand_path
from siftrec.data.readers import FORMATS, infer_format, read_interactions
from siftrec.data.splits import SCHEME_CLASSES, split_scheme
from siftrec.data.synthetic import SyntheticConfig
from siftrec.errors import SiftrecError

#: Files each MAR reader opens in its directory (each may also be gzipped as ``NAME.gz``).
MAR_FILES: dict[str, tuple[str, ...]] = {
    "coat": ("train.ascii", "test.ascii", "propensities.ascii"),
    "yahoo-r3": ("user.txt", "random.txt"),
}

_GZIP_MAGIC = b"\x1f\x8b"


class GridProblems(SiftrecError):
    """A grid failed its preflight; ``problems`` lists one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        count = f"{len(problems)} problem{'s' * (len(problems) > 1)}"
        super().__init__(f"the grid has {count}, nothing was run: {'; '.join(problems)}")


def check_cells(cells: Sequence[Cell]) -> list[str]:
    """Problems of ``cells`` (one line each, deduplicated); an empty list means all is well."""
    datasets = {cell.dataset.name: cell.dataset for cell in cells}
    models = {cell.model.label: cell.model for cell in cells}
    pairs = {(cell.dataset.name, cell.model.label): cell for cell in cells}
    problems: list[str] = []
    for name, dataset in datasets.items():
        labels = {label for d, label in pairs if d == name}
        scope = f"cell {name}/{next(iter(labels))}" if len(labels) == 1 else f"cells {name}/*"
        problems += [f"{scope}: {p}" for p in _dataset_problems(dataset)]
    for label, model in models.items():
        names = {d for d, m in pairs if m == label}
        scope = f"cell {next(iter(names))}/{label}" if len(names) == 1 else f"cells */{label}"
        problems += [f"{scope}: {p}" for p in _model_problems(model)]
    for (name, label), cell in pairs.items():
        problems += [f"cell {name}/{label}: {p}" for p in _cell_problems(cell)]
    return list(dict.fromkeys(problems))


# ---------------------------------------------------------------------- data
def _dataset_problems(dataset: DatasetSpec) -> list[str]:
    if dataset.mar is not None:
        return _mar_problems(dataset)
    if dataset.synthetic is not None:
        entries = [(f"synthetic.{k}", k, v) for k, v in dataset.synthetic.items()]
        problems = _config_problems(SyntheticConfig, entries, coerce=False)
    else:
        problems = _read_problems(dataset.read)
        fmt = dataset.read.get("format")
        for key in ("path", "train", "validation", "test"):
            text = getattr(dataset, key)
            if text is not None:
                problems += _file_problems(key, text, fmt if isinstance(fmt, str) else None)
    if dataset.train is None:
        problems += _split_problems(dataset.split)
    return problems


def _file_problems(key: str, text: str, fmt: str | None) -> list[str]:
    """Existence, readability and format resolution of one data file (its head at most)."""
    try:
        path = expand_path(text)
    except SiftrecError as exc:
        return [f"{key}: {exc}"]
    where = f"{key} = {text!r}"
    problem = _readable(path)
    if problem:
        return [f"{where}: {problem}"]
    if fmt is None:
        try:
            infer_format(path)
        except SiftrecError as exc:  # its hint names the API argument; a grid sets read.format
            reason = str(exc).partition("; give the format argument")[0]
            return [f"{where}: {reason}; set read.format (one of {', '.join(FORMATS)})"]
    return []


def _readable(path: Path) -> str | None:
    """Why ``path`` cannot be read as a data file, or None."""
    if not path.exists():
        return f"data file {path} does not exist"
    if not path.is_file():
        return f"{path} is not a file"
    try:
        with open(path, "rb") as handle:
            magic = handle.read(2)
    except OSError as exc:
        return f"cannot read {path} ({exc.strerror or exc})"
    if path.name.lower().endswith(".gz") and magic != _GZIP_MAGIC:
        return f"{path.name} is named .gz but is not gzip-compressed"
    return None


def _read_problems(read: dict[str, Any]) -> list[str]:
    allowed = set(inspect.signature(read_interactions).parameters) - {
        "path",
        "user_map",
        "item_map",
    }
    problems = [
        f"read.{key}: unknown option (known: {', '.join(sorted(allowed))})"
        for key in read
        if key not in allowed
    ]
    fmt = read.get("format")
    # a format may carry options after a colon (multibehavior:collect,cart,buy; mbgcn:crgcn)
    if fmt is not None and (
        not isinstance(fmt, str) or fmt.lower().partition(":")[0] not in FORMATS
    ):
        problems.append(f"read.format = {fmt!r} is not one of {', '.join(FORMATS)}")
    return problems


def _split_problems(split: dict[str, Any]) -> list[str]:
    problems = []
    scheme = split.get("scheme")
    if scheme in SCHEME_CLASSES:
        allowed = {f.name for f in dataclasses.fields(SCHEME_CLASSES[scheme])}
        unknown = f"not an option of the {scheme} scheme"
    else:
        problems.append(f"split.scheme = {scheme!r} is not one of {', '.join(SCHEME_CLASSES)}")
        allowed = {f.name for cls in SCHEME_CLASSES.values() for f in dataclasses.fields(cls)}
        unknown = "unknown option"
    for key in split:
        if key == "seed":
            problems.append("split.seed: not an option; each cell's seed seeds its split")
        elif key != "scheme" and key not in allowed:
            problems.append(f"split.{key}: {unknown} (known: {', '.join(sorted(allowed))})")
    if not problems:
        try:
            split_scheme(**split)
        except SiftrecError as exc:
            problems.append(f"split: {exc}")
    return problems


def _mar_problems(dataset: DatasetSpec) -> list[str]:
    try:
        directory = expand_path(dataset.dir)
    except SiftrecError as exc:
        return [f"dir: {exc}"]
    where = f"dir = {dataset.dir!r}"
    if not directory.is_dir():
        return [f"{where}: data directory {directory} does not exist"]
    problems = []
    for name in MAR_FILES[dataset.mar.reader]:
        found = [p for p in (directory / name, directory / f"{name}.gz") if p.is_file()]
        if not found:
            problems.append(f"{where}: {directory} has neither {name} nor {name}.gz")
        elif problem := _readable(found[0]):
            problems.append(f"{where}: {problem}")
    return problems


# ---------------------------------------------------------------------- models
def _model_problems(spec: ModelSpec) -> list[str]:
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.models import FitOptions, get_model_class

    model_cls = get_model_class(spec.model)
    entries = [(_param_key(k), k, v) for k, v in spec.params.items()]
    entries += [
        (f"search.{k}[{index}]", k, value)
        for k, values in spec.search.items()
        for index, value in enumerate(values)
    ]
    run = [entry for entry in entries if entry[1] in model_cls.fit_options]
    hyper = [entry for entry in entries if entry not in run]
    typed = _config_problems(model_cls.Config, hyper, coerce=True)
    typed += _config_problems(FitOptions, run, coerce=True)
    components = _component_problems(model_cls, entries)
    if typed:  # constructing would only repeat them
        return list(dict.fromkeys(typed + components))
    try:
        model_cls(**spec.params)
    except (SiftrecError, TypeError, ValueError) as exc:
        return [*components, f"params: {_first_line(exc)}"]
    problems = components + (_optuna_problems(model_cls, spec) if spec.optuna else [])
    for candidate in spec.candidates():
        try:
            model = model_cls(**spec.params, **candidate)
        except (SiftrecError, TypeError, ValueError) as exc:
            shown = ", ".join(f"{k}={v!r}" for k, v in candidate.items())
            problems.append(f"search candidate ({shown}): {_first_line(exc)}")
            continue
        if not components:  # the sampler as training builds it, beside the objective
            key = "search.sampler" if "sampler" in candidate else "sampler"
            problems += _sampler_problems(model, key)
    return list(dict.fromkeys(problems))


def _optuna_problems(model_cls: type, spec: ModelSpec) -> list[str]:
    """An Optuna search narrows only fields the model's declared space searches, to values
    among its choices, and its fixed parameters leave the search its fields (no ``auto``)."""
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.tune.space import fixed_params, restricted_space

    problems = []
    for check, arguments in ((restricted_space, spec.search), (fixed_params, spec.params)):
        try:
            check(model_cls, arguments)
        except SiftrecError as exc:
            problems.append(f"search: {_first_line(exc)}")
    return problems


def _param_key(name: str) -> str:
    """The TOML key of a fixed parameter (objective and sampler are usually top-level keys)."""
    return name if name in ("objective", "sampler") else f"params.{name}"


def _component_problems(model_cls: type, entries: list[tuple[str, str, Any]]) -> list[str]:
    """Objective, sampler and device values as written: each builds, and the objective's kind
    is one the model trains with (``objective="auto"`` is checked by the model's constructor)."""
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.device import select_device
    from siftrec.objectives import get_objective
    from siftrec.samplers import get_sampler
    from siftrec.train.auto import AUTO

    fields = {f.name for f in dataclasses.fields(model_cls.Config)} | model_cls.fit_options
    kinds = _scorer_kinds(model_cls)
    problems = []
    for where, name, value in entries:
        if name not in fields or not isinstance(value, str):
            continue
        try:
            if name == "objective" and value.strip().lower() != AUTO:
                kind = get_objective(value).kind
                if kinds is not None and kind not in kinds:
                    problems.append(
                        f"{where} = {value!r} is a {kind} objective; {model_cls.name} trains "
                        f"with {', '.join(sorted(kinds))} objectives"
                    )
            elif name == "sampler":
                get_sampler(value)
            elif name == "device":
                select_device(value)
        except SiftrecError as exc:
            problems.append(f"{where} = {value!r}: {exc}")
    return problems


def _sampler_problems(model: Any, key: str) -> list[str]:
    """The sampler of a constructed model, built as training builds it (sampled objectives)."""
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.objectives import SAMPLED_KINDS, get_objective
    from siftrec.samplers import get_sampler
    from siftrec.train.auto import is_auto
    from siftrec.train.config import TrainConfig

    cfg = model.config
    if not isinstance(cfg, TrainConfig) or is_auto(cfg):
        return []
    if get_objective(cfg.objective).kind not in SAMPLED_KINDS:
        return []
    try:
        get_sampler(
            cfg.sampler,
            n_negatives=cfg.n_negatives,
            exclude_positives=cfg.exclude_positives,
            epoch_mode=cfg.epoch_mode,
        )
    except SiftrecError as exc:
        return [f"{key} = {cfg.sampler!r}: {exc}"]
    return []


def _scorer_kinds(model_cls: type) -> frozenset[str] | None:
    """Objective kinds of the scorer ``build_scorer`` is declared to return (None: unknown)."""
    build = getattr(model_cls, "build_scorer", None)
    if build is None:
        return None
    try:
        scorer = typing.get_type_hints(build).get("return")
    except (NameError, TypeError):
        return None
    return getattr(scorer, "supported_kinds", None) if isinstance(scorer, type) else None


# ---------------------------------------------------------------------- cells
def _cell_problems(cell: Cell) -> list[str]:
    """A search needs a validation part: the dataset's own or a carved share of train."""
    if not cell.model.searched:
        return []
    dataset, has_validation = cell.dataset, _has_validation(cell.dataset)
    if dataset.tune_validation_ratio is not None and has_validation:
        return [
            f"tune_validation_ratio: dataset {dataset.name} already has a validation part "
            f"for the search of {cell.model.label}; drop tune_validation_ratio"
        ]
    if dataset.tune_validation_ratio is None and has_validation is False:
        return [
            f"search: dataset {dataset.name} has no validation part to tune "
            f"{cell.model.label} on (give one, or set tune_validation_ratio)"
        ]
    return []


def _has_validation(dataset: DatasetSpec) -> bool | None:
    """Whether the dataset's split has a validation part (None: known only once it is split)."""
    if dataset.mar is not None:
        return True
    if dataset.train is not None:
        return dataset.validation is not None
    scheme, option = dataset.split.get("scheme"), None
    if scheme == "random":
        option = dataset.split.get("validation_ratio", 0)
    elif scheme == "leave-last":
        option = dataset.split.get("validation_k", 0)
    if isinstance(option, int | float) and not isinstance(option, bool):
        return option > 0
    return None


# ---------------------------------------------------------------------- values
def _config_problems(
    config_cls: type, entries: list[tuple[str, str, Any]], *, coerce: bool
) -> list[str]:
    """Unknown names and values of the wrong type among ``(toml key, field, value)`` entries
    for the dataclass ``config_cls``.

    ``coerce``: strings are converted as the model constructors convert them (``"0.1"`` is a
    number); without it a value must already have the declared type.
    """
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.models.base import coerce_param

    fields = {f.name for f in dataclasses.fields(config_cls)}
    hints = typing.get_type_hints(config_cls)
    problems = []
    for where, name, value in entries:
        if name not in fields:
            problems.append(f"{where}: unknown parameter (known: {', '.join(sorted(fields))})")
            continue
        if coerce and isinstance(value, str):
            try:
                coerce_param(config_cls, name, value)
                continue
            except SiftrecError:
                pass
        elif _fits(hints[name], value):
            continue
        problems.append(f"{where} = {value!r} is not {_describe(hints[name])}")
    return list(dict.fromkeys(problems))


def _fits(hint: Any, value: Any) -> bool:
    """Whether a TOML value has the declared type (other annotations are left to the class)."""
    options = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return value in options
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        return any(_fits(option, value) for option in options if option is not type(None))
    if hint is bool:
        return isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is str:
        return isinstance(value, str)
    return True


def _describe(hint: Any) -> str:
    """``a number``, ``an integer``, ``true or false``, ``one of 'a', 'b'`` ..."""
    options = typing.get_args(hint)
    if typing.get_origin(hint) is typing.Literal:
        return "one of " + ", ".join(repr(o) for o in options)
    if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union:
        kinds = [_describe(o) for o in options if o is not type(None)]
        return " or ".join(kinds + (["'none'"] if type(None) in options else []))
    names = {bool: "true or false", int: "an integer", float: "a number", str: "a string"}
    return names.get(hint, str(hint))


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
