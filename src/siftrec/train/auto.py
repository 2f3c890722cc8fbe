"""``objective="auto"``: choose the training objective and sampler of a torch model on validation.

A user with a noisy click log should not have to know which denoiser suits it. With
``objective="auto"`` the model trains every candidate of ``auto_candidates`` — always the plain
objective first (the model's default objective with the configured sampler), then by default BCE,
T-CE, R-CE, NBPO and PLD over BPR, each with its component defaults — on the same data and seed,
each for its whole share of the budget with its best epoch on the validation ``metric`` restored
(the latest within :data:`AUTO_TOLERANCE` of its highest score), and keeps the best. Because the
plain objective is a candidate and ties keep the earlier candidate, the choice is never worse than
plain on validation. Candidates stop early only when the model's ``patience`` is set: a
validation curve on noisy labels fluctuates by a few percent from epoch to epoch while it still
rises (on ML-1M noisy, BPR's NDCG@20 peaks at epoch 2, dips for five epochs and is highest at
epoch 17), so a short patience, or the strictly highest epoch, keeps undertrained candidates.

The validation part is the one given to ``fit`` (or the custom ``evaluator``); without one, a
seeded per-user carve of train (:data:`CARVE_RATIO` of each user's interactions through
``siftrec.data.splits.split_interactions``) is held out, and the model then retrains the chosen
candidate on the whole train (see ``TorchRecommender``). Budget: ``auto_budget`` total epochs over
the candidates, split evenly (default: ``epochs`` each), so the choice is reproducible.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from siftrec.components import parse_spec
from siftrec.data.interactions import Interactions
from siftrec.data.splits import split_interactions
from siftrec.errors import SiftrecError
from siftrec.train.config import AUTO_CANDIDATES, TrainConfig
from siftrec.train.engine import SAMPLED_KINDS, get_objective, get_sampler, objectives, samplers

__all__ = [
    "AUTO",
    "AUTO_CANDIDATES",
    "AUTO_TOLERANCE",
    "CARVE_RATIO",
    "AutoSelection",
    "Candidate",
    "FitCandidate",
    "Trial",
    "auto_candidates",
    "candidate_epochs",
    "carve_validation",
    "check_auto",
    "is_auto",
    "select_candidate",
    "split_top_level",
]

#: The ``objective`` value that asks for automatic selection.
AUTO = "auto"
#: Plateau tolerance of every candidate's best epoch when the model's ``tolerance`` is unset: an
#: epoch within 1 % of the candidate's highest validation score counts as its best, so the latest
#: such epoch is kept. On ML-1M noisy, NBPO's NDCG@20 peaks at epoch 2 and is 0.1 % lower at epoch
#: 20 (test Recall@20 0.091 against 0.118).
AUTO_TOLERANCE = 0.01
#: Share of each user's interactions carved from train as validation when none is given
#: (``round(0.1·n)``, so users with at least 5 interactions give some).
CARVE_RATIO = 0.1


@dataclass(frozen=True)
class Candidate:
    """One configuration ``auto`` tries: an objective spec and a sampler spec."""

    objective: str
    sampler: str

    @property
    def label(self) -> str:
        return f"{self.objective}+{self.sampler}"


class Trial(Protocol):
    """What ``auto`` reads from a trained candidate (a torch model is one)."""

    best_score_: float | None
    best_epoch_: int | None
    history_: list[dict[str, Any]]
    fit_seconds_: float | None


#: ``fit(config, train, validation) -> Trial``: trains one candidate configuration with early
#: stopping on ``validation`` (or on the caller's own evaluator when ``validation`` is None).
FitCandidate = Callable[[TrainConfig, Interactions, Interactions | None], Trial]


@dataclass
class AutoSelection:
    """The outcome of :func:`select_candidate`.

    Attributes:
        candidate: the chosen configuration.
        model: the chosen candidate's model, trained on ``train`` (given validation) or on the
            carved train.
        carved: whether the validation part was carved from train (the model must then be
            retrained on all of it).
        record: what ``model.json`` records under ``"auto"``.
    """

    candidate: Candidate
    model: Trial
    carved: bool
    record: dict[str, Any]


def split_top_level(text: str, sep: str) -> list[str]:
    """``text`` split at each ``sep`` outside parentheses (spec parameters contain commas)."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char == "(") - (char == ")")
        if char == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [part.strip() for part in parts]


def auto_candidates(config: TrainConfig) -> list[Candidate]:
    """The candidates of ``config``: the plain objective first, then ``auto_candidates``.

    Entries are ``objective`` or ``objective+sampler``; without a sampler an entry uses the
    configured ``sampler``. Names are canonical (aliases resolved) and duplicates dropped. An
    unknown name, a listwise objective or a spec that does not build raises ``SiftrecError``.
    """
    found = [_candidate(config, _default_objective(config), config.sampler)]
    entries = split_top_level(config.auto_candidates, ",")
    if not any(entries):
        raise SiftrecError("auto_candidates is empty; list objectives such as 'bpr,tce,bpr+pld'")
    for entry in entries:
        try:
            parts = split_top_level(entry, "+")
            if len(parts) > 2 or not all(parts):
                raise SiftrecError("expected 'objective' or 'objective+sampler'")
            sampler = parts[1] if len(parts) == 2 else config.sampler
            candidate = _candidate(config, parts[0], sampler)
        except SiftrecError as exc:
            raise SiftrecError(f"auto_candidates entry {entry!r}: {exc}") from None
        if candidate not in found:
            found.append(candidate)
    return found


def is_auto(config: TrainConfig) -> bool:
    """Whether ``config`` asks for automatic selection (``objective="auto"``)."""
    return config.objective.strip().lower() == AUTO


def check_auto(config: TrainConfig) -> None:
    """Refuse ``objective="auto"`` where it cannot work (a model whose default objective is
    listwise, validation switched off) and a bad ``auto_candidates``/``auto_budget``."""
    if config.auto_budget is not None and config.auto_budget < 1:
        raise SiftrecError(
            f"auto_budget must be at least 1 epoch (or None), got {config.auto_budget}"
        )
    if not is_auto(config):
        return
    default = _default_objective(config)
    if get_objective(default).kind not in SAMPLED_KINDS:
        model = type(config).__name__.removesuffix("Config").lower()
        raise SiftrecError(
            f"objective=auto chooses among sampled objectives (BPR, BCE and their denoisers); "
            f"{model} trains with the listwise {default!r} only, so leave objective unset"
        )
    if not config.eval_every:
        raise SiftrecError("objective=auto selects on validation: eval_every must be at least 1")
    candidate_epochs(config, len(auto_candidates(config)))


def candidate_epochs(config: TrainConfig, n_candidates: int) -> int:
    """Maximum epochs of each candidate: ``epochs``, or an even share of ``auto_budget``."""
    if config.auto_budget is None:
        return config.epochs
    share = config.auto_budget // n_candidates
    if share < 1:
        raise SiftrecError(
            f"auto_budget={config.auto_budget} epochs is less than one epoch for each of the "
            f"{n_candidates} candidates"
        )
    return min(config.epochs, share)


def carve_validation(train: Interactions, seed: int) -> tuple[Interactions, Interactions, dict]:
    """A seeded per-user random holdout of ``train``: (rest, validation, its description)."""
    try:
        split = split_interactions(train, "random", seed=seed, test_ratio=CARVE_RATIO)
    except SiftrecError as exc:
        raise SiftrecError(
            f"objective=auto cannot carve a validation part from train ({exc}); pass a "
            "validation set"
        ) from None
    valid = split.test
    source = {
        "source": "carved",
        "scheme": "random",
        "ratio": CARVE_RATIO,
        "seed": seed,
        "n_interactions": len(valid),
        "n_users": int(np.unique(valid.users).size),
    }
    return split.train, valid, source


def select_candidate(
    cfg: TrainConfig,
    train: Interactions,
    fit: FitCandidate,
    validation: Interactions | None = None,
    evaluator: bool = False,
) -> AutoSelection:
    """Train every candidate of ``cfg`` with ``fit`` and return the best on validation.

    Each candidate is ``cfg`` with its objective and sampler replaced, ``epochs`` capped by the
    budget, ``patience`` the configured one (None: no early stopping) and ``tolerance`` the
    configured one or :data:`AUTO_TOLERANCE`, trained by ``fit`` on
    the same data with the same seed. ``evaluator``: the caller scores candidates with its own
    evaluator (no validation part is carved). A candidate whose training fails (e.g. diverges)
    is recorded with its error and skipped.
    """
    candidates = auto_candidates(cfg)
    epochs = candidate_epochs(cfg, len(candidates))
    patience = cfg.patience
    tolerance = cfg.tolerance if cfg.tolerance is not None else AUTO_TOLERANCE
    carved = validation is None and not evaluator
    if carved:
        fit_train, validation, source = carve_validation(train, cfg.seed)
    else:
        fit_train = train
        source = {"source": "given" if validation is not None else "evaluator"}
    start = time.perf_counter()
    records: list[dict[str, Any]] = []
    best: tuple[float, int, Trial] | None = None
    for index, candidate in enumerate(candidates):
        config = dataclasses.replace(
            cfg,
            objective=candidate.objective,
            sampler=candidate.sampler,
            epochs=epochs,
            patience=patience,
            tolerance=tolerance,
            restore_best=True,
        )
        record: dict[str, Any] = {"objective": candidate.objective, "sampler": candidate.sampler}
        try:
            trial = fit(config, fit_train, validation)
        except SiftrecError as exc:
            record["error"] = str(exc)
            records.append(record)
            continue
        record.update(
            score=trial.best_score_,
            best_epoch=trial.best_epoch_,
            epochs=len(trial.history_),
            fit_seconds=trial.fit_seconds_,
        )
        records.append(record)
        if best is None or trial.best_score_ > best[0]:
            best = (trial.best_score_, index, trial)
    if best is None:
        first = records[0]
        raise SiftrecError(
            f"objective=auto: every candidate failed; {first['objective']}+{first['sampler']}: "
            f"{first['error']}"
        )
    score, index, trial = best
    record = {
        "metric": cfg.metric,
        "validation": source,
        "budget": {
            "epochs_per_candidate": epochs,
            "patience": patience,
            "tolerance": tolerance,
            "max_epochs": epochs * len(candidates),
            "epochs_trained": sum(r.get("epochs", 0) for r in records),
        },
        "candidates": records,
        "chosen": {
            "objective": candidates[index].objective,
            "sampler": candidates[index].sampler,
            "index": index,
            "score": score,
            "best_epoch": trial.best_epoch_,
        },
        "selection_seconds": time.perf_counter() - start,
    }
    return AutoSelection(candidates[index], trial, carved, record)


def _candidate(config: TrainConfig, objective: str, sampler: str) -> Candidate:
    objective = _canonical(objective, "objective")
    if get_objective(objective).kind not in SAMPLED_KINDS:
        raise SiftrecError(f"{objective!r} is listwise; candidates must be pairwise or pointwise")
    sampler = _canonical(sampler, "sampler")
    get_sampler(
        sampler,
        n_negatives=config.n_negatives,
        exclude_positives=config.exclude_positives,
        epoch_mode=config.epoch_mode,
    )
    return Candidate(objective, sampler)


def _canonical(spec: str, what: str) -> str:
    """``spec`` with its registered name (aliases resolved, lower case): ``name(k=v, ...)``."""
    if spec.strip().lower() == AUTO:
        raise SiftrecError(f"{AUTO!r} is not a candidate {what}")
    name, params = parse_spec(spec)
    registry = objectives if what == "objective" else samplers
    name = registry.get_class(name).name
    body = ", ".join(f"{key}={value}" for key, value in params.items())
    return f"{name}({body})" if body else name


def _default_objective(config: TrainConfig) -> str:
    """The objective the model's ``Config`` declares: the plain candidate."""
    return next(f.default for f in dataclasses.fields(config) if f.name == "objective")
