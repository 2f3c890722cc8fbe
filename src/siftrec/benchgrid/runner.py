"""Run a grid cell by cell, resumably.

Each finished cell (ok or failed) is committed as ``RUN_DIR/cells/<cell_id>.json`` (atomic
write, after its per-user values ``RUN_DIR/per_user/<cell_id>.parquet``); ``results.parquet`` is
rebuilt from the committed records after every cell. A rerun with the same grid skips every
committed cell whose configuration hash is unchanged, so an interrupted run resumes where it
stopped. Before the first cell runs, every cell about to run passes the cheap checks of
:mod:`siftrec.benchgrid.check` (data paths, names, parameter values); any problem refuses the
whole grid. A cell that fails anyway is recorded with ``status="failed"`` and its error and the
grid goes on; :class:`RunSummary` lists every failed cell of the run directory.

A cell tunes its search space on the validation part only (full ranking by ``tune_metric``;
for MAR datasets an IPS/SNIPS metric on the MNAR validation clicks, weighted by the validation
log's ``propensity`` column or else the training power law ``(n_i / max n)^0.5``), then tests
the best candidate. When the search trained on the final training part, the best candidate's
model is the final model (no refit: same data, parameters and seed). An Optuna search
(``search = { method = "optuna", trials = N }``) runs :func:`siftrec.tune.tune` on the same
validation part with the cell seed, its study in ``RUN_DIR/studies/<cell_id>/<key>/`` (SQLite,
so an interrupted cell continues its trials), and tests the best trial refitted.

Cells run one at a time, or with ``workers > 1`` in that many processes at once; either way a
cell runs only under its lock file (``RUN_DIR/locks/``), so two runs on one run directory share
its cells instead of both running them, and results do not depend on the number of workers.

Peak memory is ``tracemalloc``'s peak during the cell (Python and numpy allocations; torch
tensors are not traced), reported in MiB.
"""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import os
import shutil
import time
import tracemalloc
from collections.abc import Collection, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from siftrec.atomic import atomic_path, write_text
from siftrec.benchgrid.check import GridProblems, check_cells
from siftrec.benchgrid.grid import Cell, DatasetSpec, Grid, MARSpec, NoiseSpec, expand_path
from siftrec.benchgrid.locks import cell_lock
from siftrec.data.interactions import Interactions
from siftrec.data.mar import MAR_READERS, MARDataset, mnar_split, without_propensity
from siftrec.data.noise import add_popular_noise, add_random_noise
from siftrec.data.readers import read_interactions
from siftrec.data.splits import Split, split_given, split_interactions
from siftrec.data.synthetic import generate
from siftrec.errors import SiftrecError
from siftrec.evaluate import evaluate
from siftrec.evaluate.mar import evaluate_mar
from siftrec.progress import hide_progress, new_progress, show_progress
from siftrec.search_space import declared_space

#: Exponent of the popularity power law weighing MAR validation clicks without a propensity
#: column (Saito et al.'s choice, and Rel-MF's default ``eta``).
POWER_LAW_ETA = 0.5

FIXED_COLUMNS = ("cell_id", "dataset", "model", "noise", "noise_ratio", "seed", "status", "error")
TAIL_COLUMNS = (
    "validation_score",
    "fit_seconds",
    "eval_seconds",
    "tune_seconds",
    "trials",
    "peak_memory_mb",
    "n_train",
    "n_test_users",
    "params",
    "tuned",
    "config_hash",
)


@dataclass
class RunSummary:
    """Counts of one :func:`run_grid` call.

    ``failed`` counts the cells that failed in this call; ``failures`` lists ``(cell name,
    error)`` of every failed cell among the ``total`` cells selected, earlier runs' included,
    so an empty list means every selected cell of the run directory is ok.
    """

    ran: int
    skipped: int
    failed: int
    results: Path
    total: int
    failures: list[tuple[str, str]]


def run_grid(
    grid: Grid,
    out_dir: str | Path,
    *,
    retry_failed: bool = False,
    progress: bool | None = None,
    only: Collection[str] | None = None,
    check: bool = True,
    workers: int = 1,
) -> RunSummary:
    """Run every cell of ``grid`` not yet committed in ``out_dir``; write results.parquet.

    ``only``: model labels whose cells may run now (the others are left for a later call);
    results.parquet still lists every committed cell of the grid. ``check``: refuse the grid
    with :class:`~siftrec.benchgrid.check.GridProblems` (nothing run, nothing written) when a
    cell about to run fails its preflight. ``workers``: cells run at once, each in its own
    process (see :func:`_cell_records`). A cell runs only under its lock
    (:func:`~siftrec.benchgrid.locks.cell_lock`): cells another run holds are skipped and
    left to it.
    """
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise SiftrecError(f"workers must be a positive integer, got {workers!r}")
    out = Path(out_dir)
    if only is not None:
        unknown = sorted(set(only) - {model.label for model in grid.models})
        if unknown:
            raise SiftrecError(
                f"the only argument names models not in the grid: {', '.join(unknown)}"
            )
    cells = grid.cells()
    selected = [cell for cell in cells if only is None or cell.model.label in only]
    todo = [cell for cell in selected if not _is_done(out, cell, retry_failed)]
    if check and (problems := check_cells(todo)):
        raise GridProblems(problems)
    out.mkdir(parents=True, exist_ok=True)
    write_text(out / "grid.json", json.dumps(grid.meta(), indent=2) + "\n")
    ran = failed = 0
    with _progress(progress, len(todo)) as bar:
        task = bar.add_task("bench", total=len(todo))
        for cell, record in _cell_records(todo, out, retry_failed, workers):
            bar.update(task, description=cell.cell_id)
            if record is not None:
                ran += 1
                failed += record["status"] != "ok"
                write_results(grid, out)
            bar.advance(task)
    write_results(grid, out)
    failures = [
        (cell.name, record["error"] or "")
        for cell in selected
        if (record := _record(out, cell)) is not None and record["status"] != "ok"
    ]
    return RunSummary(
        ran,
        len(selected) - ran,
        failed,
        out / "results.parquet",
        len(selected),
        failures,
    )


def _cell_records(
    todo: list[Cell], out: Path, retry_failed: bool, workers: int
) -> Iterator[tuple[Cell, dict[str, Any] | None]]:
    """Run ``todo`` and yield ``(cell, record)`` as cells finish (record None: skipped).

    One worker runs the cells here, in grid order. More run them in ``workers`` spawned
    processes, each with ``cpu_count // workers`` torch threads and its own data cache; a
    cell's result does not depend on where it ran (every cell is seeded).
    """
    if workers == 1 or len(todo) <= 1:
        data = _DataCache()
        for cell in todo:
            yield cell, run_locked_cell(cell, data, out, retry_failed)
        return
    workers = min(workers, len(todo))
    threads = max(1, (os.cpu_count() or 1) // workers)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, context, _start_worker, (threads,)) as pool:
        futures = {pool.submit(_worker_cell, cell, out, retry_failed): cell for cell in todo}
        for future in as_completed(futures):
            yield futures[future], future.result()


#: A worker process's data cache (:func:`_worker_cell`): its last split and noisy train.
_WORKER_DATA: _DataCache | None = None


def _start_worker(threads: int) -> None:
    """Initialise a worker process: its torch thread count and its data cache; no progress
    bars (the parent's bar over the cells is the one on screen)."""
    # lazy: loads torch, which `siftrec bench plot` does not need
    import torch

    global _WORKER_DATA
    torch.set_num_threads(threads)
    hide_progress()
    _WORKER_DATA = _DataCache()


def _worker_cell(cell: Cell, out: Path, retry_failed: bool) -> dict[str, Any] | None:
    """:func:`run_locked_cell` in a worker process, with the worker's data cache."""
    assert _WORKER_DATA is not None, "worker not initialised"
    return run_locked_cell(cell, _WORKER_DATA, out, retry_failed)


def run_locked_cell(
    cell: Cell, data: _DataCache, out: Path, retry_failed: bool
) -> dict[str, Any] | None:
    """Run and commit one cell under its lock; None when another run holds the lock or has
    committed the cell since this run listed it."""
    with cell_lock(out / "locks", cell.cell_id) as held:
        if not held or _is_done(out, cell, retry_failed):
            return None
        record = run_cell(cell, data, out)
        write_text(out / "cells" / f"{cell.cell_id}.json", json.dumps(record, indent=1) + "\n")
        return record


def run_cell(cell: Cell, data: _DataCache, out: Path) -> dict[str, Any]:
    """Tune (on validation), refit, test one cell of the run directory ``out``; errors become
    a failed record."""
    record: dict[str, Any] = {
        "cell_id": cell.cell_id,
        "dataset": cell.dataset.name,
        "model": cell.model.label,
        "noise": cell.noise.label,
        "noise_ratio": cell.noise.ratio,
        "seed": cell.seed,
        "status": "ok",
        "error": None,
        "config_hash": cell.config_hash(),
    }
    tracemalloc.start()
    try:
        split, train = data.get(cell.dataset, cell.noise, cell.seed)
        record.update(_fit_and_evaluate(cell, split, train, out))
    except Exception as exc:  # a failing cell must not stop the grid
        record["status"] = "failed"
        record["error"] = f"{type(exc).__name__}: {exc}".splitlines()[0]
    finally:
        record["peak_memory_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
        tracemalloc.stop()
    return record


def write_results(grid: Grid, out: Path) -> Path:
    """Rebuild results.parquet from the committed cell records, in grid order."""
    records = [r for cell in grid.cells() if (r := _record(out, cell)) is not None]
    schema: dict[str, Any] = {name: pl.String for name in FIXED_COLUMNS}
    schema.update({"noise_ratio": pl.Float64, "seed": pl.Int64})
    schema.update({metric: pl.Float64 for metric in grid.metrics})
    schema.update({name: pl.Float64 for name in TAIL_COLUMNS})
    schema.update({"n_train": pl.Int64, "n_test_users": pl.Int64, "trials": pl.Int64})
    schema.update({"params": pl.String, "tuned": pl.String, "config_hash": pl.String})
    rows = [{name: r.get(name) for name in schema} for r in records]
    frame = pl.DataFrame(rows, schema=schema, orient="row")
    target = out / "results.parquet"
    with atomic_path(target) as tmp:
        frame.write_parquet(tmp, statistics=False)
    return target


# ---------------------------------------------------------------------- one cell
def _fit_and_evaluate(cell: Cell, split: Split, train: Interactions, out: Path) -> dict[str, Any]:
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.models import get_model_class

    model_cls = get_model_class(cell.model.model)
    base = dict(cell.model.params)
    seeded = "seed" in {f.name for f in dataclasses.fields(model_cls.Config)}
    if seeded and "seed" not in base and "seed" not in cell.model.search:
        base["seed"] = cell.seed
    uses_validation = model_cls.uses_validation
    fit_options = {"validation": split.validation} if uses_validation and split.validation else {}
    chosen: dict[str, Any] = {}
    best_score: float | None = None
    model = None
    trials = len(cell.model.candidates()) if cell.model.search else None
    if cell.model.optuna is not None:
        search = _optuna_search(cell, split, train, base, out)
        model, chosen, best_score = search.model, search.drawn, search.best_value
        trials, tune_seconds = search.trials, search.seconds
    else:
        tune_start = time.perf_counter()
        if cell.model.search:
            tune_train, tune_validation = _tuning_parts(cell, split, train)
            tune_options = {"validation": tune_validation} if uses_validation else {}
            final = tune_train is train and tune_options == fit_options
            for candidate in cell.model.candidates():
                fitted = model_cls(**base, **candidate).fit(tune_train, **tune_options)
                score = _validation_score(cell, fitted, tune_validation, tune_train)
                if best_score is None or score > best_score:
                    best_score, chosen, model = score, candidate, fitted if final else None
        tune_seconds = time.perf_counter() - tune_start
    if model is None:
        model = model_cls(**base, **chosen).fit(train, **fit_options)
    auto = getattr(model, "auto_", None)
    if auto is not None:  # objective="auto" selected on validation inside fit: record its choice
        chosen = {**chosen, "objective": auto["chosen"]["objective"]}
        chosen["sampler"] = auto["chosen"]["sampler"]
    result = _test_result(cell, model, split)
    frame = result.per_user_frame(model.user_map_)
    per_user_dir = out / "per_user"
    per_user_dir.mkdir(parents=True, exist_ok=True)
    with atomic_path(per_user_dir / f"{cell.cell_id}.parquet") as tmp:
        frame.write_parquet(tmp, statistics=False)
    return {
        **{metric: float(result.metrics[metric]) for metric in cell.metrics},
        "validation_score": best_score,
        "fit_seconds": float(model.fit_seconds_),
        "eval_seconds": float(result.seconds),
        "tune_seconds": tune_seconds,
        "trials": trials,
        "n_train": len(train),
        "n_test_users": result.n_users,
        "params": json.dumps(model.get_params(), sort_keys=True, default=str),
        "tuned": json.dumps(chosen, sort_keys=True, default=str),
    }


@dataclass
class _OptunaOutcome:
    """The cell's final model (the best trial refitted), the parameters its trial drew, its
    validation value, the trials with an outcome, and their seconds (earlier runs included)."""

    model: Any
    drawn: dict[str, Any]
    best_value: float
    trials: int
    seconds: float


def _optuna_search(
    cell: Cell, split: Split, train: Interactions, fixed: dict[str, Any], out: Path
) -> _OptunaOutcome:
    """Seeded TPE (:func:`siftrec.tune.tune`, seed = the cell seed) on the cell's validation
    part only; the study lives in :func:`study_dir`, so an interrupted cell resumes its trials.

    The best trial is refitted on train with the validation part as in its trial, or after a
    carve on all of train for the trial's best epoch count; that is the cell's model.
    """
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.tune import tune

    spec = cell.model.optuna
    ratio = _carve_ratio(cell, split)
    result = tune(
        cell.model.model,
        train,
        split.validation if ratio is None else None,
        trials=spec.trials,
        out=study_dir(out, cell),
        seed=cell.seed,
        metric=spec.metric or cell.tune_metric,
        params=fixed,
        timeout=spec.timeout,
        choices=cell.model.search,
        **({} if ratio is None else {"validation_ratio": ratio}),
    )
    space = declared_space(type(result.model))
    drawn = {
        key: value
        for key, value in result.best_params.items()
        if key in space and (key not in fixed or str(fixed[key]) != str(value))
    }
    counted = result.trials.filter(pl.col("error").fill_null("") != "interrupted")
    seconds = float(result.trials["duration"].fill_null(0.0).sum())
    return _OptunaOutcome(result.model, drawn, result.best_value, counted.height, seconds)


def study_dir(out: Path, cell: Cell) -> Path:
    """``RUN_DIR/studies/<cell_id>/<key>``: where a cell's Optuna study lives.

    ``key`` hashes the cell's configuration without the trial budget (``trials``,
    ``timeout``), so asking for more trials continues the study and any other change starts
    a fresh one; studies of the cell's earlier configurations are removed.
    """
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.tune import STUDY_FILE

    budget = dataclasses.replace(cell.model.optuna, trials=1, timeout=None)
    key = dataclasses.replace(cell, model=dataclasses.replace(cell.model, optuna=budget))
    root = out / "studies" / cell.cell_id
    target = root / key.config_hash()
    if root.is_dir():
        for stale in root.iterdir():
            if stale != target and (stale / STUDY_FILE).is_file():
                shutil.rmtree(stale)
    return target


def _validation_score(
    cell: Cell, model: Any, validation: Interactions, train: Interactions
) -> float:
    """The cell's ``tune_metric`` on ``validation`` (IPS/SNIPS for MAR datasets)."""
    # lazy: loads torch, which `siftrec bench plot` does not need
    from siftrec.evaluate.ips import evaluate_ips, validation_propensities

    if cell.dataset.mar is None:
        return evaluate(model, validation, cell.tune_metric).metrics[cell.tune_metric]
    theta = validation_propensities(train, validation, POWER_LAW_ETA)
    (value,) = evaluate_ips(model, validation, cell.tune_metric, theta).metrics.values()
    return value


def _test_result(cell: Cell, model: Any, split: Split) -> Any:
    """Full ranking (validation items masked), or the MAR protocols of ``evaluate_mar``."""
    if cell.dataset.mar is None:
        return evaluate(model, split.test, list(cell.metrics), exclude=split.validation)
    return evaluate_mar(model, split.test, cell.metrics, threshold=cell.dataset.mar.threshold)


def _tuning_parts(
    cell: Cell, split: Split, train: Interactions
) -> tuple[Interactions, Interactions]:
    """Train and validation parts a search space is tuned on.

    The split's own validation part, or, with the dataset's ``tune_validation_ratio``, a
    per-user random share of ``train`` (seeded by the cell seed) that the search alone sees.
    """
    ratio = _carve_ratio(cell, split)
    if ratio is not None:
        inner = split_interactions(train, "random", test_ratio=ratio, seed=cell.seed)
        return inner.train, inner.test
    return train, split.validation


def _carve_ratio(cell: Cell, split: Split) -> float | None:
    """The dataset's ``tune_validation_ratio`` (None: the split's validation part is used);
    refuses a search with both or neither."""
    ratio = cell.dataset.tune_validation_ratio
    if ratio is not None and split.validation is not None:
        raise SiftrecError(
            f"dataset {cell.dataset.name} already has a validation part; drop tune_validation_ratio"
        )
    if ratio is None and split.validation is None:
        raise SiftrecError(
            f"model {cell.model.label} has a search space but dataset {cell.dataset.name} "
            "has no validation part (give one, or set tune_validation_ratio)"
        )
    return ratio


class _DataCache:
    """The split and noisy train of the last (dataset, seed, noise) asked for."""

    def __init__(self) -> None:
        self._split_key: tuple[str, int] | None = None
        self._split: Split | None = None
        self._train_key: tuple[str, int, NoiseSpec] | None = None
        self._train: Interactions | None = None

    def get(self, dataset: DatasetSpec, noise: NoiseSpec, seed: int) -> tuple[Split, Interactions]:
        split_key = (dataset.name, -1 if dataset.mar else seed)  # MAR: one split for all seeds
        if self._split_key != split_key:
            self._split, self._split_key, self._train_key = None, None, None
            self._split = load_split(dataset, seed)
            self._split_key = split_key
        if self._train_key != (dataset.name, seed, noise):
            self._train = add_noise(self._split.train, noise, seed)
            self._train_key = (dataset.name, seed, noise)
        return self._split, self._train


def load_split(dataset: DatasetSpec, seed: int) -> Split:
    """Build the dataset's train/validation/test parts for ``seed``."""
    if dataset.mar is not None:
        return load_mar_split(dataset.mar, _existing(dataset.dir))
    if dataset.train is not None:
        parts = {
            name: read_interactions(_existing(path), **dataset.read)
            for name, path in (
                ("train", dataset.train),
                ("test", dataset.test),
                ("validation", dataset.validation),
            )
            if path is not None
        }
        return split_given(**parts)
    if dataset.synthetic is not None:
        data = generate(**{"seed": seed, **dataset.synthetic}).interactions
    else:
        data = read_interactions(_existing(dataset.path), **dataset.read)
    options = dict(dataset.split)
    scheme = options.pop("scheme")
    return split_interactions(data, scheme, seed=seed, **options)


def load_mar_split(spec: MARSpec, directory: Path) -> Split:
    """Read a MAR set and split its MNAR log as :func:`siftrec.data.mar.mnar_split`."""
    data = MAR_READERS[spec.reader](directory)
    if spec.propensities == "power-law":
        data = MARDataset(data.name, without_propensity(data.train), data.test)
    return mnar_split(
        data,
        threshold=spec.threshold,
        validation_ratio=spec.validation_ratio,
        seed=spec.split_seed,
    )


def add_noise(train: Interactions, noise: NoiseSpec, seed: int) -> Interactions:
    """Inject ``noise`` into the training part only (the clean setting returns it unchanged)."""
    if noise.ratio == 0:
        return train
    inject = add_random_noise if noise.kind == "random" else add_popular_noise
    return inject(train, noise.ratio, seed=seed)


def _existing(text: str) -> Path:
    path = expand_path(text)
    if not path.exists():
        raise SiftrecError(f"data file does not exist: {path}")
    return path


def _record(out: Path, cell: Cell) -> dict[str, Any] | None:
    path = out / "cells" / f"{cell.cell_id}.json"
    if not path.is_file():
        return None
    record = json.loads(path.read_text())
    return record if record.get("config_hash") == cell.config_hash() else None


def _is_done(out: Path, cell: Cell, retry_failed: bool) -> bool:
    record = _record(out, cell)
    return record is not None and (record["status"] == "ok" or not retry_failed)


def _progress(enabled: bool | None, total: int):
    """The bar over the cells (``enabled`` None: on a terminal); its time remaining is the
    average duration of the cells completed so far times the cells left, counted down by
    rich's refresh timer between cells, so it holds for cells of minutes."""
    return new_progress(show_progress(enabled) and total > 0, transient=False)
