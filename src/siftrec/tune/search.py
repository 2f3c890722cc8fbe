"""``tune``: a seeded, resumable, pruned Optuna search over a model's declared search space.

Every trial fits the model on the training part and scores it on a validation part: the given
one, or a seeded per-user carve of train (``split_interactions(..., "random")``). Nothing here
ever sees a test set. Torch models report the validation metric after every epoch through the
trainer's evaluator hook, and a median pruner stops trials that fall below the median of the
earlier trials at the same epoch; other models report once.

Resume: with an output directory the trials live in ``DIR/study.db`` (SQLite). Asking for ``N``
trials runs until ``N`` trials have an outcome (complete, pruned or failed), so running the same
command again continues an interrupted search. A trial that was interrupted (Ctrl-C, a killed
process) does not count and is run again. Trial ``k`` draws with a ``TPESampler`` seeded by
:func:`trial_seed` ``(seed, k)`` from the outcomes of the trials before it, so a resumed search
samples exactly what an uninterrupted one would have.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import polars as pl
from optuna.trial import TrialState

from siftrec.atomic import atomic_path
from siftrec.data.interactions import Interactions
from siftrec.data.splits import split_interactions
from siftrec.errors import SiftrecError
from siftrec.evaluate import evaluate, metric_names
from siftrec.models import Recommender, get_model_class
from siftrec.models.torch_base import TorchRecommender
from siftrec.search_space import SearchSpace, declared_space
from siftrec.tune.space import fixed_params, restricted_space, sample_params

STUDY_FILE = "study.db"
TRIALS_FILE = "trials.parquet"
BEST_DIR = "best"
STUDY_NAME = "siftrec"
#: Trial user attributes: the model parameters, an interruption mark, the error of a failed trial.
_PARAMS, _INTERRUPTED, _ERROR = "params", "interrupted", "error"
#: Trial user attributes of torch models: epochs trained, and the epoch whose parameters were kept.
_EPOCHS, _BEST_EPOCH = "epochs", "best_epoch"


@dataclass
class TuneResult:
    """Outcome of :func:`tune`.

    Attributes:
        model: the best parameters refitted on the whole training log (see :func:`tune`).
        best_params: the model parameters of the best trial, as that trial used them.
        best_value: its validation metric.
        best_trial: its trial number (the ``number`` column of ``trials``).
        metric: the validation metric, e.g. ``"ndcg@20"``.
        trials: one row per trial: number, state, value, params (JSON), duration (seconds),
            epochs (evaluated epochs of torch models), error.
        study: the Optuna study (its storage is ``DIR/study.db`` with an output directory).
    """

    model: Recommender
    best_params: dict[str, Any]
    best_value: float
    best_trial: int
    metric: str
    trials: pl.DataFrame
    study: optuna.Study


def tune(
    model: str,
    train: Interactions,
    validation: Interactions | None = None,
    *,
    trials: int = 20,
    out: str | Path | None = None,
    seed: int = 0,
    metric: str = "ndcg@20",
    params: Mapping[str, Any] | None = None,
    timeout: float | None = None,
    choices: Mapping[str, Sequence[Any]] | None = None,
    validation_ratio: float = 0.2,
    pruner: optuna.pruners.BasePruner | None = None,
    progress: Callable[[str], None] | None = None,
) -> TuneResult:
    """Search ``model``'s declared hyperparameters with seeded TPE; refit and return the best.

    Args:
        model: registered model name (``siftrec.models.available_models()``).
        train: the training log; trials fit on it (minus the carve without ``validation``).
        validation: the validation log; None carves ``validation_ratio`` of every user's
            interactions out of ``train`` (seeded by ``seed``).
        trials: the number of trials with an outcome to reach (counting earlier runs in ``out``).
        out: directory for ``study.db``, ``trials.parquet`` and the refitted ``best/`` model;
            None keeps the study in memory and writes nothing.
        seed: seeds the sampler, the carve and (unless fixed in ``params``) every fit.
        metric: the validation metric to maximise, e.g. ``"ndcg@20"``.
        params: fixed hyperparameters (not searched); strings are coerced like CLI values.
        timeout: start no new trial after this many seconds of this call (one always runs).
        choices: searched fields narrowed to listed values, e.g. ``{"objective": ["tce",
            "rce", "nbpo"]}`` (see :func:`~siftrec.tune.space.restricted_space`).
        validation_ratio: the share of each user's interactions carved out without
            ``validation``.
        pruner: replaces the default ``MedianPruner`` (5 startup trials; a trial is judged
            from a quarter of its epochs on).
        progress: receives one line per event (the CLI prints them on stderr).

    The best trial is refitted on all of ``train``: with ``validation`` exactly as in its trial
    (torch models select their best epoch on it again); with a carve, torch models train for the
    trial's best epoch count on the whole log.
    """
    say = progress or (lambda line: None)
    model_cls = get_model_class(model)
    declared_space(model_cls)  # a model without a declaration cannot be tuned
    metric = _single_metric(metric)
    _check_budget(trials, seed, timeout)
    if not isinstance(train, Interactions):
        raise SiftrecError(f"train must be Interactions, got {type(train).__name__}")
    fixed = _trial_defaults(model_cls, fixed_params(model_cls, dict(params or {})), metric, seed)
    model_cls(**fixed)  # fixed parameters that no trial could use fail now
    choices = dict(choices or {})
    both = sorted(set(choices) & set(params or {}))
    if both:
        raise SiftrecError(f"{both[0]} is both a fixed parameter and narrowed by choices")
    space = restricted_space(model_cls, choices)
    fit_train, valid, source = _validation_part(train, validation, validation_ratio, seed)
    say(f"validation: {source}")

    settings = {
        "model": model_cls.name,
        "params": {k: str(v) for k, v in sorted((params or {}).items())},
        "metric": metric,
        "seed": seed,
        "validation": source,
        "train": train.fingerprint(),
    }
    if choices:  # studies without choices keep their earlier settings
        settings["choices"] = {k: [str(v) for v in values] for k, values in sorted(choices.items())}
    objective = _Objective(model_cls, fixed, fit_train, valid, metric, space)
    start = time.monotonic()
    verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)  # progress lines replace optuna's logs
    try:
        study = _open_study(out, settings, pruner or _default_pruner(model_cls, fixed))
        done = _counted(study)
        if done:
            say(f"resuming: {done} of {trials} trials done")
        ran = 0
        while done < trials:
            # the timeout stops new trials once this call has run one (so there is a best)
            if timeout is not None and ran and time.monotonic() - start >= timeout:
                say(f"timeout: stopping after {done} of {trials} trials")
                break
            ran += 1
            study.sampler = optuna.samplers.TPESampler(seed=trial_seed(seed, done))
            study.optimize(objective, n_trials=1, catch=(SiftrecError,))
            done = _counted(study)
            say(_describe(study.trials[-1], done, trials, study, metric))
            if out is not None:
                _write_table(study, Path(out) / TRIALS_FILE)
    finally:
        optuna.logging.set_verbosity(verbosity)
    table = trials_table(study)
    if out is not None:
        _write_table(study, Path(out) / TRIALS_FILE)
    best = _best_trial(study)
    best_params = dict(best.user_attrs[_PARAMS])
    say(f"best: trial {best.number}, {metric} {best.value:.4f} with {_short(best_params, fixed)}")
    say(f"refitting trial {best.number}'s parameters on {len(train):,} training interactions")
    final = _refit(model_cls, best, train, validation)
    if out is not None:
        final.save(Path(out) / BEST_DIR)
    return TuneResult(final, best_params, float(best.value), best.number, metric, table, study)


class _Objective:
    """One trial: draw parameters, fit on the training part, score on validation."""

    def __init__(
        self,
        model_cls: type[Recommender],
        fixed: dict[str, Any],
        train: Interactions,
        validation: Interactions,
        metric: str,
        space: SearchSpace,
    ) -> None:
        self.model_cls, self.fixed, self.metric = model_cls, fixed, metric
        self.train, self.validation, self.space = train, validation, space

    def __call__(self, trial: optuna.Trial) -> float:
        params = sample_params(trial, self.model_cls, self.fixed, self.space)
        trial.set_user_attr(_PARAMS, params)
        try:
            estimator = self.model_cls(**params)
            if isinstance(estimator, TorchRecommender):
                estimator.fit(self.train, evaluator=self._pruning_evaluator(trial, estimator))
                trial.set_user_attr(_EPOCHS, len(estimator.history_))
                trial.set_user_attr(_BEST_EPOCH, estimator.best_epoch_)
            else:
                estimator.fit(self.train)
            value = self._score(estimator)
            if not isinstance(estimator, TorchRecommender):
                trial.report(value, 1)  # one fit, one report: nothing to prune
        except KeyboardInterrupt:
            trial.set_user_attr(_INTERRUPTED, True)
            raise
        except SiftrecError as exc:
            trial.set_user_attr(_ERROR, str(exc))
            raise
        return value

    def _score(self, estimator: Recommender) -> float:
        return float(evaluate(estimator, self.validation, self.metric).metrics[self.metric])

    def _pruning_evaluator(
        self, trial: optuna.Trial, estimator: TorchRecommender
    ) -> Callable[[Recommender], dict[str, float]]:
        """The trainer's evaluator: reports the metric at each evaluated epoch (the trainer
        evaluates every ``eval_every`` epochs and after the last) and prunes hopeless trials."""
        every, last = estimator.config.eval_every, estimator.config.epochs
        evaluations = [0]

        def evaluator(fitted: Recommender) -> dict[str, float]:
            values = evaluate(fitted, self.validation, self.metric).metrics
            evaluations[0] += 1
            epoch = min(evaluations[0] * every, last)
            trial.report(float(values[self.metric]), epoch)
            if trial.should_prune():
                trial.set_user_attr(_EPOCHS, epoch)
                raise optuna.TrialPruned(f"pruned at epoch {epoch}")
            return values

        return evaluator


# ---------------------------------------------------------------------- set-up
def _single_metric(metric: str) -> str:
    """The result key of the one metric tune maximises (the name in canonical form)."""
    named = metric_names(metric)
    if len(named) != 1:
        raise SiftrecError(f"tune maximises one metric, got {metric!r}")
    (key,) = named
    return key


def trial_seed(seed: int, trial: int) -> int:
    """The sampler seed of trial ``trial`` (counted from 0) of a search seeded ``seed``.

    Hashed from both by numpy's ``SeedSequence``: with ``seed + trial``, searches with nearby
    seeds would share most of their draws (seed 0's trial 1 drawing seed 1's trial 0).
    """
    return int(np.random.SeedSequence([seed, trial]).generate_state(1)[0])


def _check_budget(trials: int, seed: int, timeout: float | None) -> None:
    if isinstance(trials, bool) or not isinstance(trials, int) or trials < 1:
        raise SiftrecError(f"trials must be a positive integer, got {trials!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise SiftrecError(f"seed must be a non-negative integer, got {seed!r}")
    if timeout is not None and not timeout > 0:
        raise SiftrecError(f"timeout must be a positive number of seconds, got {timeout!r}")


def _trial_defaults(
    model_cls: type[Recommender], fixed: dict[str, Any], metric: str, seed: int
) -> dict[str, Any]:
    """Torch models select and report on ``metric`` every epoch; every fit uses ``seed``."""
    out = dict(fixed)
    if "seed" in model_cls.Config.__dataclass_fields__:
        out.setdefault("seed", seed)
    if issubclass(model_cls, TorchRecommender):
        if "metric" in out and _single_metric(str(out["metric"])) != metric:
            raise SiftrecError(
                f"the fixed parameter metric={out['metric']} differs from the tuned metric "
                f"{metric}; set the metric once"
            )
        out["metric"] = metric
        out.setdefault("eval_every", 1)
    return out


def _validation_part(
    train: Interactions, validation: Interactions | None, ratio: float, seed: int
) -> tuple[Interactions, Interactions, str]:
    """(trial training part, validation part, a description recorded with the study)."""
    if validation is not None:
        if not isinstance(validation, Interactions):
            raise SiftrecError(f"validation must be Interactions, got {type(validation).__name__}")
        if len(validation) == 0:
            raise SiftrecError("the validation log is empty")
        return (
            train,
            validation,
            f"given ({len(validation):,} interactions, {validation.fingerprint()})",
        )
    if not 0 < ratio < 1:
        raise SiftrecError(f"validation_ratio must be in (0, 1), got {ratio!r}")
    counts = train.user_counts()
    if not ((counts >= 2) & (ratio * counts >= 0.5)).any():  # the split's per-user rounding
        raise SiftrecError(
            f"no user has enough interactions to carve {ratio:g} of them out for validation; "
            "give a validation file or a larger validation ratio"
        )
    split = split_interactions(train, "random", seed=seed, test_ratio=ratio)
    source = (
        f"a per-user carve of train ({ratio:g} of each user's interactions, seed {seed}: "
        f"{len(split.test):,} interactions)"
    )
    return split.train, split.test, source


def _default_pruner(model_cls: type[Recommender], fixed: Mapping[str, Any]) -> Any:
    epochs = fixed.get("epochs", getattr(model_cls.Config(), "epochs", 1))
    return optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=max(1, epochs // 4))


def _open_study(out: str | Path | None, settings: dict[str, Any], pruner: Any) -> optuna.Study:
    """Create or load the study; refuse to continue a search made with other settings."""
    if out is None:
        storage: optuna.storages.BaseStorage = optuna.storages.InMemoryStorage()
    else:
        directory = Path(out)
        if directory.exists() and not directory.is_dir():
            raise SiftrecError(f"{directory} exists and is not a directory")
        directory.mkdir(parents=True, exist_ok=True)
        storage = optuna.storages.RDBStorage(f"sqlite:///{(directory / STUDY_FILE).resolve()}")
        _mark_interrupted(storage)
    study = optuna.create_study(
        storage=storage,
        study_name=STUDY_NAME,
        direction="maximize",
        load_if_exists=True,
        pruner=pruner,
    )
    previous = study.user_attrs.get("settings")
    if previous is None:
        study.set_user_attr("settings", settings)
    elif previous != settings:
        key = next(k for k in {**previous, **settings} if previous.get(k) != settings.get(k))
        raise SiftrecError(
            f"{Path(out) / STUDY_FILE} holds a search with {key} {previous.get(key)!r}, not "
            f"{settings.get(key)!r}; rerun with the same settings or give the out argument "
            "another directory"
        )
    return study


def _mark_interrupted(storage: optuna.storages.BaseStorage) -> None:
    """Trials still RUNNING in a stored study were cut off (one search runs per directory)."""
    try:
        study_id = storage.get_study_id_from_name(STUDY_NAME)
    except KeyError:
        return
    for trial in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.RUNNING,)):
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, trial.number)
        storage.set_trial_user_attr(trial_id, _INTERRUPTED, True)
        storage.set_trial_state_values(trial_id, TrialState.FAIL)


# ---------------------------------------------------------------------- bookkeeping
def _counted(study: optuna.Study) -> int:
    """Trials with an outcome (complete, pruned, failed); interrupted ones are run again."""
    return sum(1 for t in study.get_trials(deepcopy=False) if t.state.is_finished() and not _cut(t))


def _cut(trial: optuna.trial.FrozenTrial) -> bool:
    return bool(trial.user_attrs.get(_INTERRUPTED))


def _best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    if not complete:
        states = [t.state.name.lower() for t in study.get_trials(deepcopy=False)]
        counts = ", ".join(f"{states.count(s)} {s}" for s in sorted(set(states))) or "no trials"
        errors = [t.user_attrs[_ERROR] for t in study.trials if _ERROR in t.user_attrs]
        last = f"; the last error: {errors[-1]}" if errors else ""
        raise SiftrecError(f"no trial completed ({counts}){last}")
    return max(complete, key=lambda t: (t.value, -t.number))


def _describe(
    trial: optuna.trial.FrozenTrial, done: int, trials: int, study: optuna.Study, metric: str
) -> str:
    """One progress line for a finished trial."""
    seconds = trial.duration.total_seconds() if trial.duration else 0.0
    head = f"[{done}/{trials}] trial {trial.number}"
    if trial.state.name == "COMPLETE":
        best = _best_trial(study)
        return (
            f"{head}: {metric} {trial.value:.4f} in {seconds:.1f}s "
            f"(best {best.value:.4f}, trial {best.number})"
        )
    if trial.state.name == "PRUNED":
        return f"{head}: pruned after {trial.user_attrs.get(_EPOCHS, '?')} epochs ({seconds:.1f}s)"
    if _cut(trial):
        return f"{head}: interrupted"
    return f"{head}: failed: {trial.user_attrs.get(_ERROR, 'see the trials table')}"


def _short(params: Mapping[str, Any], fixed: Mapping[str, Any]) -> str:
    """The drawn parameters (not the fixed ones) as ``k=v`` pairs."""
    drawn = {k: v for k, v in params.items() if k not in fixed or fixed[k] != v}
    return ", ".join(
        f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in drawn.items()
    )


def trials_table(study: optuna.Study) -> pl.DataFrame:
    """One row per trial: number, state, value, params (JSON), duration, epochs, error."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        attrs = t.user_attrs
        rows.append(
            {
                "number": t.number,
                "state": t.state.name.lower(),
                "value": t.value if t.state.name == "COMPLETE" else None,
                "params": json.dumps(attrs.get(_PARAMS, {})),
                "duration": t.duration.total_seconds() if t.duration else None,
                "epochs": attrs.get(_EPOCHS),
                "error": "interrupted" if _cut(t) else attrs.get(_ERROR),
            }
        )
    schema = {
        "number": pl.Int64,
        "state": pl.String,
        "value": pl.Float64,
        "params": pl.String,
        "duration": pl.Float64,
        "epochs": pl.Int64,
        "error": pl.String,
    }
    return pl.DataFrame(rows, schema=schema)


def _write_table(study: optuna.Study, path: Path) -> None:
    with atomic_path(path) as tmp:
        trials_table(study).write_parquet(tmp)


def _refit(
    model_cls: type[Recommender],
    best: optuna.trial.FrozenTrial,
    train: Interactions,
    validation: Interactions | None,
) -> Recommender:
    """The best trial's parameters fitted on all of ``train`` (see :func:`tune`)."""
    params = dict(best.user_attrs[_PARAMS])
    if not issubclass(model_cls, TorchRecommender):
        return model_cls(**params).fit(train)
    if validation is not None:
        return model_cls(**params).fit(train, validation=validation)
    best_epoch = best.user_attrs.get(_BEST_EPOCH)
    if best_epoch is not None and model_cls(**params).config.restore_best:
        params["epochs"] = best_epoch
    return model_cls(**params).fit(train)
