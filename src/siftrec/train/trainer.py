"""The one training loop of every torch model: mini-batches, evaluation, early stopping.

``Trainer(config).fit(model, train, validation)`` combines the model's scorer with the objective
and sampler named in the config, runs seeded epochs, evaluates every ``eval_every`` epochs,
stops after ``patience`` epochs without improvement and restores the best parameters. Two step
implementations compute the same update: autograd (any scorer, any optimizer) and the fused
row-sparse path (scorers with analytic gradients; ``sgd``/``adagrad``/``sparse_adam``).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.objectives import (
    SAMPLED_KINDS,
    ListwiseObjective,
    SampledObjective,
    get_objective,
)
from siftrec.samplers import Batch, Sampler, get_sampler
from siftrec.samplers.base import Factors, FactorsFn, ScoreFn
from siftrec.train.config import SPARSE_OPTIMIZERS, TrainConfig
from siftrec.train.progress import TrainProgress
from siftrec.train.sparse import RowSparseOptimizer, row_optimizer

if TYPE_CHECKING:
    from siftrec.models.torch_base import Scorer, TorchRecommender

#: Name of the scorer submodule holding an objective's own parameters (``Objective.build``).
OBJECTIVE_MODULE = "objective"
#: ``evaluator(model) -> {metric: value}``; higher is better for the selection metric.
Evaluator = Callable[["TorchRecommender"], dict[str, float]]


@dataclass
class TrainResult:
    """Per-epoch ``history``, the restored ``best_epoch`` (1-based) and its ``best_score``."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float | None = None
    stopped_early: bool = False


class Trainer:
    """Trains a ``TorchRecommender``'s scorer according to a ``TrainConfig``."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config

    # ------------------------------------------------------------------ public
    def fit(
        self,
        model: TorchRecommender,
        train: Interactions,
        validation: Interactions | None = None,
        evaluator: Evaluator | None = None,
    ) -> TrainResult:
        """Train ``model.scorer_`` in place on ``train``; returns the history and best epoch.

        ``validation`` is scored with ``siftrec.evaluate.evaluate(model, validation,
        config.metric)``; a custom ``evaluator`` replaces that.
        """
        cfg = self.config
        scorer = model.scorer_
        self.device = next(iter(scorer.parameters())).device
        objective = get_objective(cfg.objective)
        if objective.kind not in scorer.supported_kinds:
            kinds = ", ".join(sorted(scorer.supported_kinds))
            raise SiftrecError(
                f"objective {cfg.objective!r} is {objective.kind}; {type(scorer).__name__} "
                f"supports: {kinds}"
            )
        evaluator = self._evaluator(validation, evaluator)
        module = dict(scorer.named_children()).get(OBJECTIVE_MODULE)
        if module is not None:
            objective.bind(module)
        objective.setup(train)
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0
        self.weights = self._column(train.weights) if cfg.use_weights else None
        propensity = (
            train.column("propensity")
            if train.has_column("propensity")
            else objective.interaction_propensities(train)
        )
        self.propensities = None if propensity is None else self._column(propensity)
        self.sampler = self._sampler(train) if objective.kind in SAMPLED_KINDS else None
        self.fused = None if module is not None else self._fused_optimizer(scorer, objective)
        self.optimizer = None if self.fused else self._torch_optimizer(scorer)

        result = TrainResult()
        best_state: dict[str, torch.Tensor] | None = None
        n_batches = math.ceil(
            (len(train) if self.sampler else np.count_nonzero(train.user_counts())) / cfg.batch_size
        )
        with TrainProgress(cfg.progress, cfg.epochs, n_batches, cfg.metric) as progress:
            for epoch in range(cfg.epochs):
                start = time.perf_counter()
                record: dict[str, Any] = {"epoch": epoch + 1}
                record["loss"] = self._run_epoch(model, train, objective, epoch, progress, record)
                record["seconds"] = time.perf_counter() - start
                last = epoch + 1 == cfg.epochs
                # evaluate every eval_every epochs and after the last one
                due = cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or last)
                if evaluator is not None and due:
                    score = self._evaluate(model, evaluator, record)
                    if result.best_score is None or score > result.best_score:
                        result.best_score, result.best_epoch = score, epoch + 1
                        if cfg.restore_best:
                            best_state = {
                                k: v.detach().clone() for k, v in scorer.state_dict().items()
                            }
                result.history.append(record)
                progress.epoch_done(record, record.get(_metric_key(cfg.metric)))
                stale = result.best_epoch is not None and epoch + 1 - result.best_epoch
                if cfg.patience is not None and stale and stale >= cfg.patience and not last:
                    result.stopped_early = True
                    break
        if best_state is not None and result.best_epoch != result.history[-1]["epoch"]:
            scorer.load_state_dict(best_state)
        model.invalidate()
        scorer.eval()
        return result

    def _run_epoch(
        self,
        model: TorchRecommender,
        train: Interactions,
        objective: SampledObjective | ListwiseObjective,
        epoch: int,
        progress: TrainProgress,
        record: dict[str, Any],
    ) -> float:
        """Train one epoch; returns the mean batch loss. Sampled objectives add to ``record``
        the seconds spent in the sampler (``sample_seconds``, part of the epoch's seconds)."""
        scorer = model.scorer_
        scorer.train()
        model.invalidate()
        if isinstance(objective, SampledObjective):
            if self.sampler.wants_scores:
                self.sampler.score_fn, self.sampler.factors_fn = self._score_fns(scorer)
            batches = _timed(self.sampler.epoch(epoch, self.config.batch_size), record)
            steps = (self._sampled_step(scorer, objective, batch, epoch) for batch in batches)
        else:
            steps = (
                self._listwise_step(scorer, objective, users, rows, epoch)
                for users, rows in self._user_batches(train, self.config.batch_size)
            )
        losses = []
        for loss in steps:
            losses.append(loss.detach())
            self.step += 1
            progress.batch_done()
        mean_loss = torch.stack(losses).double().mean().item()
        if not math.isfinite(mean_loss):
            raise SiftrecError(
                f"training diverged: the loss is {mean_loss} at epoch {epoch + 1}; "
                "lower lr or raise l2"
            )
        return mean_loss

    # ------------------------------------------------------------------ steps
    def _sampled_step(
        self, scorer: Scorer, objective: SampledObjective, batch: Batch, epoch: int
    ) -> torch.Tensor:
        dev = self.device
        users = batch.users.to(dev, non_blocking=True)
        items = batch.items.to(dev, non_blocking=True)
        extra: dict[str, Any] = {"weights": None, "propensities": None}
        if self.weights is not None or self.propensities is not None:
            ids = batch.ids.to(dev, non_blocking=True)
            if self.weights is not None:
                extra["weights"] = self.weights[ids]
            if self.propensities is not None:
                extra["propensities"] = self.propensities[ids]
        extra.update(step=self.step, epoch=epoch)
        if objective.needs_indices:
            extra.update(users=users, pos_items=items[:, 0], neg_items=items[:, 1:])
        fused, optimizer = self.fused, self.optimizer
        if fused is not None:
            scores, cache = scorer.sparse_forward(users, items)
            out, dpos, dneg = objective.score_gradients(scores[:, 0], scores[:, 1:], **extra)
            scale = fused.grad_scale(len(batch))
            dscores = torch.cat([dpos.unsqueeze(1), dneg], dim=1).mul_(scale)
            fused.step(scorer.sparse_backward(cache, dscores, self.config.l2 * scale))
        else:
            scorer.prepare()
            scores = scorer.score_candidates(users, items)
            out = objective(scores[:, 0], scores[:, 1:], **extra)
            loss = out.loss
            if self.config.l2:
                loss = loss + self.config.l2 * scorer.regularization(
                    users, items[:, 0], items[:, 1:]
                )
            if self.config.optimizer == "sgd":  # per-sample rate: step the mean with lr·B
                optimizer.param_groups[0]["lr"] = self.config.lr * len(batch)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
        if self.sampler.wants_losses:
            self.sampler.update_losses(batch.ids.numpy(), out.per_interaction.cpu().numpy())
        return out.loss

    def _listwise_step(
        self,
        scorer: Scorer,
        objective: ListwiseObjective,
        users: torch.Tensor,
        rows: torch.Tensor,
        epoch: int,
    ) -> torch.Tensor:
        scorer.prepare()
        logits, penalty = scorer.forward_rows(users, rows, self.step)
        out = objective(logits, rows, step=self.step, epoch=epoch)
        self.optimizer.zero_grad(set_to_none=True)
        (out.loss + penalty).backward()
        self.optimizer.step()
        return out.loss

    def _user_batches(
        self, train: Interactions, batch_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled users with a training item and their (dense) training rows."""
        matrix = train.matrix if self.config.use_weights else train.binary
        users = np.flatnonzero(np.diff(matrix.indptr))
        users = users[self.rng.permutation(len(users))]
        for start in range(0, len(users), batch_size):
            chunk = users[start : start + batch_size]
            rows = torch.from_numpy(matrix[chunk].toarray()).to(self.device)
            yield torch.from_numpy(chunk).to(self.device), rows

    # ------------------------------------------------------------------ helpers
    def _sampler(self, train: Interactions) -> Sampler:
        cfg = self.config
        sampler = get_sampler(
            cfg.sampler,
            n_negatives=cfg.n_negatives,
            exclude_positives=cfg.exclude_positives,
            epoch_mode=cfg.epoch_mode,
        )
        sampler.setup(train, self.rng)
        return sampler

    def _column(self, values: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(np.asarray(values, dtype=np.float32), device=self.device)

    def _fused_optimizer(self, scorer: Scorer, objective: Any) -> RowSparseOptimizer | None:
        cfg = self.config
        usable = (
            cfg.fused
            and scorer.supports_fused
            and objective.kind in SAMPLED_KINDS
            and not objective.needs_indices
            and cfg.optimizer in SPARSE_OPTIMIZERS
            and not cfg.weight_decay
        )
        return row_optimizer(cfg.optimizer, cfg.lr) if usable else None

    def _torch_optimizer(self, scorer: Scorer) -> torch.optim.Optimizer:
        cfg = self.config
        params = [p for p in scorer.parameters() if p.requires_grad]
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "sparse_adam":
            return torch.optim.SparseAdam(params, lr=cfg.lr)
        if cfg.optimizer == "adagrad":
            return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _evaluator(
        self, validation: Interactions | None, evaluator: Evaluator | None
    ) -> Evaluator | None:
        if evaluator is not None:
            return evaluator
        if validation is None:
            return None
        if not isinstance(validation, Interactions):
            raise SiftrecError(f"validation must be Interactions, got {type(validation).__name__}")
        from siftrec.evaluate import evaluate, parse_metrics  # lazy: imports the model layer

        metric = self.config.metric
        parse_metrics(metric)  # an unknown metric fails now, not after the first epoch
        return lambda model: evaluate(model, validation, metric).metrics

    def _evaluate(
        self, model: TorchRecommender, evaluator: Evaluator, record: dict[str, Any]
    ) -> float:
        start = time.perf_counter()
        values = {_metric_key(k): float(v) for k, v in evaluator(model).items()}
        record.update(values)
        record["eval_seconds"] = time.perf_counter() - start
        key = _metric_key(self.config.metric)
        if key not in values:
            raise SiftrecError(
                f"the evaluator returned {sorted(values)}, not the selection metric {key!r}"
            )
        return values[key]

    def _score_fns(self, scorer: Scorer) -> tuple[ScoreFn, FactorsFn]:
        """No-grad ``score_fn`` (candidates) and ``factors_fn`` (factor tables) of ``scorer``."""
        dev = self.device
        prepared: list[tuple] = []  # parameter versions at the last prepare()

        def ready() -> None:
            # prepare() only when the parameters changed: chunked scoring between two steps
            # (PLD's per-epoch pass) propagates a graph once, not once per chunk
            key = (scorer.training, *(p._version for p in scorer.parameters()))
            if prepared != [key]:
                scorer.prepare()
                prepared[:] = [key]

        def score(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                ready()
                return scorer.score_candidates(users.to(dev), items.to(dev))

        def factors() -> Factors | None:
            with torch.no_grad():
                ready()
                return scorer.factors()

        return score, factors


def _timed(batches: Iterator[Batch], record: dict[str, Any]) -> Iterator[Batch]:
    """``batches``, adding the seconds spent producing them to ``record["sample_seconds"]``."""
    record["sample_seconds"] = 0.0
    while True:
        start = time.perf_counter()
        batch = next(batches, None)
        record["sample_seconds"] += time.perf_counter() - start
        if batch is None:
            return
        yield batch


def _metric_key(name: str) -> str:
    return name.strip().lower()
