"""Declarative benchmark grids: a TOML file → typed specs → the ordered list of cells.

A grid is datasets × models × noise settings × seeds; one :class:`Cell` is one
(dataset, model, noise, seed). Layout of the TOML file::

    name = "smoke"
    baseline = "popularity"            # model label the paired tests compare against
    metrics = ["recall@20", "ndcg@20"]
    tune_metric = "ndcg@20"            # validation metric for search spaces (default: first)
    seeds = [0, 1]

    [[datasets]]                       # built-in generator; seed defaults to the cell seed
    name = "synthetic"
    synthetic = { n_users = 300, n_items = 200 }
    split = { scheme = "random", test_ratio = 0.2, validation_ratio = 0.1 }

    [[datasets]]                       # one file split by a scheme (see data/splits.py)
    name = "ml-100k"
    path = "${SIFTREC_DATA}/ml-100k/u.data"
    read = { format = "movielens" }    # keyword arguments of read_interactions
    split = { scheme = "leave-last", k = 1, validation_k = 1 }

    [[datasets]]                       # pre-split files (split_given)
    name = "gowalla"
    train = "${SIFTREC_DATA}/gowalla-lightgcn/train.txt"
    test = "${SIFTREC_DATA}/gowalla-lightgcn/test.txt"
    tune_validation_ratio = 0.2        # no validation file: search on a per-user random
                                       # share of train (cell seed), refit on all of train

    [[datasets]]                       # a set with a missing-at-random test log (data/mar.py)
    name = "yahoo-r3"
    dir = "${SIFTREC_DATA}/yahoo-r3"
    mar = { reader = "yahoo-r3", threshold = 4, validation_ratio = 0.1, split_seed = 12345 }

    [[models]]
    label = "mf-bpr"                   # default: the model name
    model = "mf"
    objective = "bpr"                  # shorthand for params.objective / params.sampler
    params = { epochs = 10 }
    search = { dim = [32, 64] }        # grid search on validation; the best is tested

    [[noise]]                          # train-only injection; ratio 0 = no injection (label "none")
    kind = "random"                    # random (add_random_noise) or popular
    ratios = [0.0, 0.2]

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

from siftrec.data.location import default_data_dir
from siftrec.errors import SiftrecError

NOISE_KINDS = ("random", "popular")
#: ``propensities`` of a MAR dataset: the reader's column (when it has one) or the power law.
MAR_PROPENSITIES = ("log", "power-law")

_GRID_KEYS = {"name", "baseline", "metrics", "tune_metric", "seeds", "datasets", "models", "noise"}
_DATASET_KEYS = {
    "name",
    "synthetic",
    "path",
    "train",
    "test",
    "validation",
    "read",
    "split",
    "tune_validation_ratio",
    "dir",
    "mar",
}
_MAR_KEYS = {"reader", "threshold", "validation_ratio", "split_seed", "propensities"}
_MODEL_KEYS = {"label", "model", "objective", "sampler", "params", "search"}
_NOISE_KEYS = {"kind", "ratios"}


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


@dataclass(frozen=True)
class ModelSpec:
    """A registered model with fixed ``params`` and an optional ``search`` space (lists)."""

    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    search: dict[str, list[Any]] = field(default_factory=dict)

    def candidates(self) -> list[dict[str, Any]]:
        """Every parameter combination of the search space (one empty dict without one)."""
        names = sorted(self.search)
        return [
            dict(zip(names, values, strict=True))
            for values in itertools.product(*(self.search[n] for n in names))
        ]


@dataclass(frozen=True)
class NoiseSpec:
    """Train-only noise injection: ``kind`` in :data:`NOISE_KINDS`, ``ratio`` ≥ 0."""

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
        payload = {
            "dataset": dataset,
            "model": asdict(self.model),
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
    from siftrec.evaluate.mar import mar_metric_names
    from siftrec.evaluate.metrics import parse_metric, parse_metrics
    from siftrec.models import available_models

    _check_keys("grid", raw, _GRID_KEYS)
    datasets = tuple(_dataset(d) for d in _tables("datasets", raw.get("datasets")))
    mar = {d.mar is not None for d in datasets}
    if len(mar) > 1:
        raise SiftrecError("a grid's datasets must be all MAR sets (dir + mar) or none of them")
    if True in mar:
        metrics = tuple(_str_list("metrics", raw.get("metrics", ["dcg@5", "recall@5", "map@5"])))
        mar_metric_names(list(metrics))
        tune_metric = str(raw.get("tune_metric", "snips-dcg@5"))
        if parse_metric(tune_metric).family != "ips":
            raise SiftrecError(
                f"tune_metric {tune_metric!r} is not an IPS/SNIPS metric; a MAR grid tunes on "
                "its MNAR validation part, e.g. 'snips-dcg@5'"
            )
    else:
        metrics = tuple(_str_list("metrics", raw.get("metrics", ["recall@20", "ndcg@20"])))
        parse_metrics(list(metrics))
        tune_metric = str(raw.get("tune_metric", metrics[0]))
        if tune_metric not in metrics:
            raise SiftrecError(
                f"tune_metric {tune_metric!r} must be one of metrics {list(metrics)}"
            )
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) for s in seeds):
        raise SiftrecError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    models = tuple(_model(m, set(available_models())) for m in _tables("models", raw.get("models")))
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
    _check_keys("dataset", raw, _DATASET_KEYS)
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise SiftrecError("every [[datasets]] entry needs a name")
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
    for key in ("synthetic", "read", "split"):
        if key in raw and not isinstance(raw[key], dict):
            raise SiftrecError(f"dataset {name!r}: {key} must be a table")
    if "train" not in raw and "scheme" not in raw.get("split", {}):
        raise SiftrecError(f"dataset {name!r} needs a split table with a scheme")
    ratio = raw.get("tune_validation_ratio")
    if ratio is not None:
        if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < 1:
            raise SiftrecError(
                f"dataset {name!r}: tune_validation_ratio must be a number in (0, 1), got {ratio!r}"
            )
        if "validation" in raw:
            raise SiftrecError(
                f"dataset {name!r} has a validation file; drop tune_validation_ratio"
            )
    return DatasetSpec(
        name=name,
        synthetic=raw.get("synthetic"),
        path=raw.get("path"),
        train=raw.get("train"),
        test=raw.get("test"),
        validation=raw.get("validation"),
        read=dict(raw.get("read", {})),
        split=dict(raw.get("split", {})),
        tune_validation_ratio=None if ratio is None else float(ratio),
    )


def _mar_dataset(name: str, raw: dict[str, Any]) -> DatasetSpec:
    """A MAR set: ``dir`` (a string) and a ``mar`` table, nothing else but the name."""
    from siftrec.data.mar import MAR_READERS

    extra = sorted(set(raw) - {"name", "dir", "mar"})
    if extra:
        raise SiftrecError(f"MAR dataset {name!r} takes only name, dir and mar, not {extra[0]!r}")
    options, where = raw.get("mar"), raw.get("dir")
    if not isinstance(where, str) or not where:
        raise SiftrecError(f"MAR dataset {name!r} needs dir = the data directory")
    if not isinstance(options, dict):
        raise SiftrecError(f"dataset {name!r}: mar must be a table with a reader")
    _check_keys(f"dataset {name!r} mar", options, _MAR_KEYS)
    reader = options.get("reader")
    if reader not in MAR_READERS:
        raise SiftrecError(f"dataset {name!r}: mar.reader must be one of {sorted(MAR_READERS)}")
    threshold = options.get("threshold", 4.0)
    ratio = options.get("validation_ratio", 0.1)
    seed = options.get("split_seed", 12345)
    propensities = options.get("propensities", "log")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise SiftrecError(f"dataset {name!r}: mar.threshold must be a number, got {threshold!r}")
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not 0 < ratio < 1:
        raise SiftrecError(
            f"dataset {name!r}: mar.validation_ratio must be a number in (0, 1), got {ratio!r}"
        )
    if not _is_int(seed):
        raise SiftrecError(f"dataset {name!r}: mar.split_seed must be an integer, got {seed!r}")
    if propensities not in MAR_PROPENSITIES:
        raise SiftrecError(
            f"dataset {name!r}: mar.propensities must be one of {MAR_PROPENSITIES}, "
            f"got {propensities!r}"
        )
    spec = MARSpec(reader, float(threshold), float(ratio), seed, propensities)
    return DatasetSpec(name=name, dir=where, mar=spec)


def _model(raw: dict[str, Any], known: set[str]) -> ModelSpec:
    _check_keys("model", raw, _MODEL_KEYS)
    name = raw.get("model")
    if not isinstance(name, str) or name.lower() not in known:
        raise SiftrecError(f"unknown model {name!r}; available: {', '.join(sorted(known))}")
    label = str(raw.get("label", name))
    params = raw.get("params", {})
    search = raw.get("search", {})
    if not isinstance(params, dict) or not isinstance(search, dict):
        raise SiftrecError(f"model {label!r}: params and search must be tables")
    params = dict(params)
    for key in ("objective", "sampler"):
        if key in raw:
            params[key] = raw[key]
    for key, values in search.items():
        if not isinstance(values, list) or not values:
            raise SiftrecError(f"model {label!r}: search.{key} must be a non-empty list")
        if key in params:
            raise SiftrecError(f"model {label!r}: {key} is both fixed and searched")
    return ModelSpec(label=label, model=name.lower(), params=params, search=dict(search))


def _noise(raw: Any) -> tuple[NoiseSpec, ...]:
    entries = [raw] if isinstance(raw, dict) else raw
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise SiftrecError("noise must be a table or a list of tables with kind and ratios")
    specs = [NoiseSpec("random", 0.0)] if not entries else []
    for entry in entries:
        _check_keys("noise", entry, _NOISE_KEYS)
        kind = entry.get("kind", "random")
        if kind not in NOISE_KINDS:
            raise SiftrecError(f"unknown noise kind {kind!r}; choose one of {NOISE_KINDS}")
        ratios = entry.get("ratios", [0.0])
        if not isinstance(ratios, list) or not ratios:
            raise SiftrecError(f"noise ratios must be a non-empty list, got {ratios!r}")
        for ratio in ratios:
            if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not ratio >= 0:
                raise SiftrecError(f"noise ratio must be a number >= 0, got {ratio!r}")
            specs.append(NoiseSpec("random" if ratio == 0 else kind, float(ratio)))
    return tuple(dict.fromkeys(specs))


def _tables(what: str, raw: Any) -> list[dict[str, Any]]:
    if not isinstance(raw, list) or not raw or not all(isinstance(t, dict) for t in raw):
        raise SiftrecError(f"the grid needs at least one [[{what}]] table")
    return raw


def _str_list(what: str, raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = [m.strip() for m in raw.split(",") if m.strip()]
    if not isinstance(raw, list) or not raw or not all(isinstance(m, str) for m in raw):
        raise SiftrecError(f"{what} must be a non-empty list of names, got {raw!r}")
    return raw


def _check_keys(what: str, raw: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(raw) - allowed)
    if unknown:
        raise SiftrecError(
            f"unknown {what} key {unknown[0]!r} (allowed: {', '.join(sorted(allowed))})"
        )


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
