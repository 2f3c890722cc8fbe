"""Declarative benchmark grids: a TOML file → typed specs → the ordered list of cells.

A grid is datasets × models × noise settings × seeds; one :class:`Cell` is one
(dataset, model, noise, seed). ``docs/grids.md`` documents the TOML file: every table and key
with its type, default and meaning, generated from :mod:`siftrec.benchgrid.schema`, which the
parser checks each table against. A model's ``search`` table either lists values to try
(exhaustive) or names ``method = "optuna"`` (:class:`OptunaSearch`).

Paths may use ``${VAR}``; ``SIFTREC_DATA`` defaults to
:func:`siftrec.data.location.default_data_dir` (a per-user cache directory). Parsing checks the
file's structure; the data paths and parameter values of the cells are checked before a run
starts (:mod:`siftrec.benchgrid.check`).

MAR datasets (``dir`` + ``mar``) follow Saito et al.'s protocol instead of full ranking: the
reader (``yahoo-r3`` or ``coat``) gives an MNAR log and an MAR test log; the MNAR rows are split
at random into train/validation (``validation_ratio``, ``split_seed``; the same split for every
cell seed) and binarised at ``rating >= threshold`` (:func:`siftrec.data.mar.mnar_split`).
``propensities = "log"`` (default) keeps a propensity column the reader ships (Coat's learned
per-pair values), which propensity-aware models (Rel-MF) train on and validation weighs by;
``"power-law"`` drops it, so both use the item-popularity power law ``(n_i / max n)^0.5`` of the
training positives. A grid's datasets are all MAR or none, because metric names change meaning::

    metrics = ["dcg@5", "recall@5", "map@5", "all:ndcg@5"]   # default: dcg/recall/map@5
    tune_metric = "snips-dcg@5"                              # the default

``dcg``/``recall``/``map@K`` rank each user's rated MAR items (``evaluate_mar_rated``),
``all:<metric>`` ranks all items against the MAR items rated ``>= threshold``
(``evaluate_mar_all``; NaN per user without such an item); ``tune_metric`` is
``{ips,snips}-{recall,dcg,ndcg}@K`` on the MNAR validation part (``evaluate_ips``), so it need
not be one of ``metrics``. The ``random`` model gives each protocol's chance level.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import string
import tomllib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from siftrec.benchgrid import schema
from siftrec.benchgrid.schema import check_table
from siftrec.data.location import default_data_dir
from siftrec.errors import SiftrecError
from siftrec.evaluate.mar import mar_metric_names
from siftrec.evaluate.metrics import parse_metric, parse_metrics


@dataclass(frozen=True)
class MARSpec:
    """A missing-at-random set read from a directory and split as Saito et al. (see above)."""

    reader: str
    threshold: float = 4.0
    validation_ratio: float = 0.1
    split_seed: int = 12345
    propensities: str = "log"


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset comes from: ``synthetic`` parameters, one ``path``, given parts, or a
    MAR set's ``dir`` with its ``mar`` options."""

    name: str
    synthetic: dict[str, Any] | None = None
    path: str | None = None
    train: str | None = None
    test: str | None = None
    validation: str | None = None
    read: dict[str, Any] = field(default_factory=dict)
    split: dict[str, Any] = field(default_factory=dict)
    #: Share of train carved (per user, at random) as the search's validation part.
    tune_validation_ratio: float | None = None
    dir: str | None = None
    mar: MARSpec | None = None


#: DatasetSpec fields added after grids were first run: left out of the hash while unset.
_OPTIONAL_DATASET_FIELDS = ("tune_validation_ratio", "dir", "mar")
#: The same for ModelSpec.
_OPTIONAL_MODEL_FIELDS = ("optuna",)


@dataclass(frozen=True)
class OptunaSearch:
    """``search = { method = "optuna", trials = N }``: seeded TPE over the declared space.

    ``metric`` None tunes by the grid's ``tune_metric``; ``timeout`` stops starting trials.
    """

    trials: int
    timeout: float | None = None
    metric: str | None = None


@dataclass(frozen=True)
class ModelSpec:
    """A registered model with fixed ``params`` and an optional search.

    Without ``optuna``, ``search`` lists the values an exhaustive search tries; with it,
    ``search`` narrows fields of the declared space that the Optuna search draws from.
    """

    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    search: dict[str, list[Any]] = field(default_factory=dict)
    optuna: OptunaSearch | None = None

    @property
    def searched(self) -> bool:
        """Whether the cell tunes on validation (either form of search)."""
        return bool(self.search) or self.optuna is not None

    def candidates(self) -> list[dict[str, Any]]:
        """Every parameter combination of the search lists (one empty dict without them);
        with ``optuna`` these are the combinations of the narrowed fields' values."""
        names = sorted(self.search)
        return [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*(self.search[n] for n in names))
        ]


@dataclass(frozen=True)
class NoiseSpec:
    """Train-only noise injection: ``kind`` in :data:`~siftrec.benchgrid.schema.NOISE_KINDS`,
    ``ratio`` ≥ 0."""

    kind: str
    ratio: float

    @property
    def label(self) -> str:
        return "none" if self.ratio == 0 else f"{self.kind} {self.ratio:g}"


@dataclass(frozen=True)
class Cell:
    """One unit of work: a model on a dataset with a noise setting and a seed."""

    dataset: DatasetSpec
    model: ModelSpec
    noise: NoiseSpec
    seed: int
    metrics: tuple[str, ...]
    tune_metric: str

    @property
    def name(self) -> str:
        """``dataset/model/seedN`` (the noise setting before the seed when noise is injected),
        how messages name the cell."""
        noise = [self.noise.label.replace(" ", "-")] if self.noise.ratio else []
        return "/".join([self.dataset.name, self.model.label, *noise, f"seed{self.seed}"])

    @property
    def cell_id(self) -> str:
        """A file-name-safe identifier, unique within a grid."""
        raw = f"{self.dataset.name}__{self.model.label}__{self.noise.label}__seed{self.seed}"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", raw)

    def config_hash(self) -> str:
        """Hash of everything that determines the cell's result; a change means a rerun."""
        dataset = asdict(self.dataset)
        for key in _OPTIONAL_DATASET_FIELDS:
            if dataset[key] is None:  # unset: hashes of earlier runs still hold
                del dataset[key]
        model = asdict(self.model)
        for key in _OPTIONAL_MODEL_FIELDS:
            if model[key] is None:
                del model[key]
        payload = {
            "dataset": dataset,
            "model": model,
            "noise": asdict(self.noise),
            "seed": self.seed,
            "metrics": list(self.metrics),
            "tune_metric": self.tune_metric,
        }
        text = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Grid:
    """A parsed grid; :meth:`cells` lists the cells in run order."""

    name: str
    baseline: str
    metrics: tuple[str, ...]
    tune_metric: str
    seeds: tuple[int, ...]
    datasets: tuple[DatasetSpec, ...]
    models: tuple[ModelSpec, ...]
    noise: tuple[NoiseSpec, ...]

    def cells(self) -> list[Cell]:
        """dataset → seed → noise → model, so data prepared for a cell is reused by the next."""
        return [
            Cell(dataset, model, noise, seed, self.metrics, self.tune_metric)
            for dataset in self.datasets
            for seed in self.seeds
            for noise in self.noise
            for model in self.models
        ]

    @property
    def is_mar(self) -> bool:
        """Whether the datasets are MAR sets (Saito et al.'s protocol, see the module doc)."""
        return self.datasets[0].mar is not None

    def meta(self) -> dict[str, Any]:
        """What the report needs besides the results: name, baseline and metric lists.

        ``tune_metric`` is a test column (the plots draw it against fit time); a MAR grid tunes
        by a validation-only IPS metric, recorded as ``validation_metric``, and shows the test
        metric of the same name there (``snips-dcg@5`` → ``dcg@5``), else its first metric.
        """
        meta = {
            "name": self.name,
            "baseline": self.baseline,
            "metrics": list(self.metrics),
            "tune_metric": self.tune_metric,
        }
        if self.is_mar:
            shown = self.tune_metric.partition("-")[2]
            shown = shown if shown in self.metrics else self.metrics[0]
            meta.update(tune_metric=shown, validation_metric=self.tune_metric)
        return meta


def load_grid(path: str | Path) -> Grid:
    """Read and validate a grid TOML file."""
    path = Path(path)
    if not path.is_file():
        raise SiftrecError(f"grid file does not exist: {path}")
    try:
        raw = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as exc:
        raise SiftrecError(f"{path.name} is not valid TOML: {exc}") from None
    return parse_grid(raw, default_name=path.stem)


def parse_grid(raw: dict[str, Any], default_name: str = "grid") -> Grid:
    """Validate a grid given as a dict (the parsed TOML)."""
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.models import available_models

    check_table(raw, schema.GRID, what="grid")
    datasets = tuple(_dataset(d) for d in _tables("datasets", raw.get("datasets")))
    mar = {d.mar is not None for d in datasets}
    if len(mar) > 1:
        raise SiftrecError("a grid's datasets must be all MAR sets (dir + mar) or none of them")
    if True in mar:
        metrics = tuple(_str_list(raw.get("metrics", ["dcg@5", "recall@5", "map@5"])))
        mar_metric_names(list(metrics))
        tune_metric = str(raw.get("tune_metric", "snips-dcg@5"))
        if parse_metric(tune_metric).family != "ips":
            raise SiftrecError(
                f"tune_metric {tune_metric!r} is not an IPS/SNIPS metric; a MAR grid tunes on "
                "its MNAR validation part, e.g. 'snips-dcg@5'"
            )
    else:
        metrics = tuple(_str_list(raw.get("metrics", ["recall@20", "ndcg@20"])))
        parse_metrics(list(metrics))
        tune_metric = str(raw.get("tune_metric", metrics[0]))
        if tune_metric not in metrics:
            raise SiftrecError(
                f"tune_metric {tune_metric!r} must be one of metrics {list(metrics)}"
            )
    seeds = raw.get("seeds", schema.GRID.default("seeds"))
    models = tuple(_model(m, set(available_models())) for m in _tables("models", raw.get("models")))
    for model in models:
        if model.optuna is None:
            continue
        if True in mar:
            raise SiftrecError(
                f"model {model.label!r}: the Optuna search ranks all items on validation; a MAR "
                "grid tunes by an IPS metric, so list the values to try instead"
            )
        if model.optuna.metric is not None and len(parse_metrics(model.optuna.metric)) != 1:
            raise SiftrecError(
                f"model {model.label!r}: search.metric must be one metric, "
                f"got {model.optuna.metric!r}"
            )
    noise = _noise(raw.get("noise", []))
    for what, names in (
        ("dataset", [d.name for d in datasets]),
        ("model", [m.label for m in models]),
    ):
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise SiftrecError(f"duplicate {what} name {duplicates[0]!r} in the grid")
    labels = [m.label for m in models]
    baseline = str(raw.get("baseline", labels[0]))
    if baseline not in labels:
        raise SiftrecError(f"baseline {baseline!r} is not a model label of the grid: {labels}")
    grid = Grid(
        name=str(raw.get("name", default_name)),
        baseline=baseline,
        metrics=metrics,
        tune_metric=tune_metric,
        seeds=tuple(dict.fromkeys(int(s) for s in seeds)),
        datasets=datasets,
        models=models,
        noise=noise,
    )
    ids = [cell.cell_id for cell in grid.cells()]
    clash = sorted({i for i in ids if ids.count(i) > 1})
    if clash:
        raise SiftrecError(f"two cells map to the same id {clash[0]!r}; rename a dataset or model")
    return grid


def expand_path(text: str) -> Path:
    """``${VAR}`` substitution (``SIFTREC_DATA`` defaults to ``default_data_dir()``)."""
    env = {**os.environ, "SIFTREC_DATA": str(default_data_dir())}
    try:
        return Path(string.Template(text).substitute(env)).expanduser()
    except KeyError as exc:
        raise SiftrecError(f"path {text!r} uses the unset environment variable {exc}") from None
    except ValueError:
        raise SiftrecError(f"path {text!r} has a malformed ${{...}} reference") from None


# ---------------------------------------------------------------------- parsing helpers
def _dataset(raw: dict[str, Any]) -> DatasetSpec:
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SiftrecError("every [[datasets]] entry needs a name")
    check_table(raw, schema.DATASET, what="dataset", prefix=f"dataset {name!r}: ")
    sources = [k for k in ("synthetic", "path", "train", "dir") if k in raw]
    if len(sources) != 1:
        raise SiftrecError(
            f"dataset {name!r} needs exactly one of synthetic, path, train/test or dir (MAR)"
        )
    if "dir" in raw or "mar" in raw:
        return _mar_dataset(name, raw)
    if "train" in raw and "test" not in raw:
        raise SiftrecError(f"dataset {name!r} gives a train file without a test file")
    if "train" in raw and "split" in raw:
        raise SiftrecError(f"dataset {name!r} is pre-split (train/test); drop its split table")
    if "train" not in raw and ("test" in raw or "validation" in raw):
        raise SiftrecError(f"dataset {name!r}: test/validation files need a train file")
    if "train" not in raw and "scheme" not in raw.get("split", {}):
        raise SiftrecError(f"dataset {name!r} needs a split table with a scheme")
    ratio = raw.get("tune_validation_ratio")
    if ratio is not None and "validation" in raw:
        raise SiftrecError(f"dataset {name!r} has a validation file; drop tune_validation_ratio")
    return DatasetSpec(
        name=name,
        synthetic=raw.get("synthetic"),
        path=raw.get("path"),
        train=raw.get("train"),
        test=raw.get("test"),
        validation=raw.get("validation"),
        read=dict(raw.get("read", schema.DATASET.default("read"))),
        split=dict(raw.get("split", {})),
        tune_validation_ratio=None if ratio is None else float(ratio),
    )


def _mar_dataset(name: str, raw: dict[str, Any]) -> DatasetSpec:
    """A MAR set: ``dir`` (a string) and a ``mar`` table, nothing else but the name."""
    extra = sorted(set(raw) - {"name", "dir", "mar"})
    if extra:
        raise SiftrecError(f"MAR dataset {name!r} takes only name, dir and mar, not {extra[0]!r}")
    options, where = raw.get("mar"), raw.get("dir")
    if not isinstance(where, str) or not where:
        raise SiftrecError(f"MAR dataset {name!r} needs dir = the data directory")
    if not isinstance(options, dict):
        raise SiftrecError(f"dataset {name!r}: mar must be a table with a reader")
    check_table(options, schema.MAR, what=f"dataset {name!r} mar", prefix=f"dataset {name!r}: mar.")
    if "reader" not in options:
        readers = ", ".join(schema.MAR.key("reader").allowed() or ())
        raise SiftrecError(f"dataset {name!r}: mar needs a reader (one of {readers})")
    value = {key.name: options.get(key.name, key.default) for key in schema.MAR.keys}
    spec = MARSpec(
        value["reader"],
        float(value["threshold"]),
        float(value["validation_ratio"]),
        value["split_seed"],
        value["propensities"],
    )
    return DatasetSpec(name=name, dir=where, mar=spec)


def _model(raw: dict[str, Any], known: set[str]) -> ModelSpec:
    label = raw.get("label", raw.get("model"))
    check_table(raw, schema.MODEL, what="model", prefix=f"model {label!r}: ")
    name = raw.get("model")
    if not isinstance(name, str) or name.lower() not in known:
        raise SiftrecError(f"unknown model {name!r}; available: {', '.join(sorted(known))}")
    params = dict(raw.get("params", schema.MODEL.default("params")))
    for key in ("objective", "sampler"):
        if key in raw:
            params[key] = raw[key]
    search, optuna = _search(label, dict(raw.get("search", {})))
    for key in search:
        if key in params:
            raise SiftrecError(f"model {label!r}: {key} is both fixed and searched")
    return ModelSpec(label, name.lower(), params, search, optuna)


def _search(label: str, raw: dict[str, Any]) -> tuple[dict[str, list[Any]], OptunaSearch | None]:
    """The lists of a search table, and its Optuna settings when it names a ``method``."""
    prefix = f"model {label!r}: search."
    if "method" not in raw:
        check_table(raw, schema.GRID_SEARCH, what="search", prefix=prefix)
        return raw, None
    check_table(raw, schema.OPTUNA_SEARCH, what="search", prefix=prefix)
    if "trials" not in raw:
        raise SiftrecError(f"model {label!r}: an Optuna search needs trials = N")
    settings = {key: raw.pop(key) for key in sorted(schema.OPTUNA_SEARCH.names) if key in raw}
    timeout = settings.get("timeout")
    optuna = OptunaSearch(
        settings["trials"], None if timeout is None else float(timeout), settings.get("metric")
    )
    return raw, optuna


def _noise(raw: dict[str, Any] | list[dict[str, Any]]) -> tuple[NoiseSpec, ...]:
    """Noise settings of a table or array of tables (typed by the grid check); none: clean."""
    entries = [raw] if isinstance(raw, dict) else raw
    specs = [NoiseSpec("random", 0.0)] if not entries else []
    for entry in entries:
        check_table(entry, schema.NOISE, what="noise", prefix="noise ")
        kind = entry.get("kind", schema.NOISE.default("kind"))
        for ratio in entry.get("ratios", schema.NOISE.default("ratios")):
            specs.append(NoiseSpec("random" if ratio == 0 else kind, float(ratio)))
    return tuple(dict.fromkeys(specs))


def _tables(what: str, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise SiftrecError(f"the grid needs at least one [[{what}]] table")
    return raw


def _str_list(raw: str | list[str]) -> list[str]:
    """A list of names, or one comma-separated string of them (typed by the grid check)."""
    return [m.strip() for m in raw.split(",") if m.strip()] if isinstance(raw, str) else raw
