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

    [[models]]
    label = "mf-bpr"                   # default: the model name
    model = "mf"
    objective = "bpr"                  # shorthand for params.objective / params.sampler
    params = { epochs = 10 }
    search = { dim = [32, 64] }        # grid search on validation, best refit, then test

    [[noise]]                          # train-only injection; ratio 0 = no injection (label "none")
    kind = "random"                    # random (add_random_noise) or popular
    ratios = [0.0, 0.2]

Paths may use ``${VAR}``; ``SIFTREC_DATA`` defaults to ``../shared/data`` (see
:func:`siftrec.data.location.default_data_dir`).
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

from siftrec.errors import SiftrecError

NOISE_KINDS = ("random", "popular")

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
}
_MODEL_KEYS = {"label", "model", "objective", "sampler", "params", "search"}
_NOISE_KEYS = {"kind", "ratios"}


@dataclass(frozen=True)
class DatasetSpec:
    """Where a dataset comes from: ``synthetic`` parameters, one ``path``, or given parts."""

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
    def cell_id(self) -> str:
        """A file-name-safe identifier, unique within a grid."""
        raw = f"{self.dataset.name}__{self.model.label}__{self.noise.label}__seed{self.seed}"
        return re.sub(r"[^A-Za-z0-9._-]+", "-", raw)

    def config_hash(self) -> str:
        """Hash of everything that determines the cell's result; a change means a rerun."""
        dataset = asdict(self.dataset)
        if dataset["tune_validation_ratio"] is None:  # unset: hashes of earlier runs still hold
            del dataset["tune_validation_ratio"]
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

    def meta(self) -> dict[str, Any]:
        """What the report needs besides the results: name, baseline and metric lists."""
        return {
            "name": self.name,
            "baseline": self.baseline,
            "metrics": list(self.metrics),
            "tune_metric": self.tune_metric,
        }


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
    from siftrec.evaluate.metrics import parse_metrics
    from siftrec.models import available_models

    _check_keys("grid", raw, _GRID_KEYS)
    metrics = tuple(_str_list("metrics", raw.get("metrics", ["recall@20", "ndcg@20"])))
    parse_metrics(list(metrics))
    tune_metric = str(raw.get("tune_metric", metrics[0]))
    if tune_metric not in metrics:
        raise SiftrecError(f"tune_metric {tune_metric!r} must be one of metrics {list(metrics)}")
    seeds = raw.get("seeds", [0])
    if not isinstance(seeds, list) or not seeds or not all(_is_int(s) for s in seeds):
        raise SiftrecError(f"seeds must be a non-empty list of integers, got {seeds!r}")
    datasets = tuple(_dataset(d) for d in _tables("datasets", raw.get("datasets")))
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
    from siftrec.data.location import default_data_dir

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
    sources = [k for k in ("synthetic", "path", "train") if k in raw]
    if len(sources) != 1:
        raise SiftrecError(f"dataset {name!r} needs exactly one of synthetic, path or train/test")
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
