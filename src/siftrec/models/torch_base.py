"""Base class of torch models: ``TorchRecommender`` builds its trainer.

A ``TorchRecommender`` owns a ``Scorer`` (an ``nn.Module``, the engine contract of
``siftrec.train.engine``, re-exported here) built by ``build_scorer``. For a fit it builds the
objective and sampler named in its config and hands them, with the scorer, to
``siftrec.train.Trainer`` together with two callables (its ``invalidate`` and a validation
evaluation): the loop never sees the model. Scoring runs the module on the model's device, and
the learned state is the module's ``state_dict`` as numpy arrays. The hook table is in
``docs/engine.md``. With ``objective="auto"`` the model first chooses its objective and sampler
on validation (``siftrec.train.auto``).
"""

from __future__ import annotations

import dataclasses
import time
from abc import abstractmethod
from collections.abc import Callable, Mapping
from typing import Any, ClassVar

import numpy as np
import scipy.sparse as sp
import torch

from siftrec.data.interactions import Interactions
from siftrec.device import select_device
from siftrec.errors import SiftrecError
from siftrec.evaluate import parse_metrics
from siftrec.models.base import FitOptions, Recommender, item_cosine
from siftrec.models.products import score_matrix
from siftrec.objectives.align import TextAlignment
from siftrec.text import ItemText, build_text_features
from siftrec.train import SPARSE_OPTIMIZERS, TrainConfig, Trainer
from siftrec.train.auto import check_auto, is_auto, select_candidate
from siftrec.train.distributed import evaluate_sharded
from siftrec.train.engine import (
    OBJECTIVE_MODULE,
    SAMPLED_KINDS,
    BatchSampler,
    Objective,
    Scorer,
    get_objective,
    get_sampler,
)
from siftrec.train.trainer import EpochFn, Evaluate

#: Pairs scored per call of a scorer's ``score_pairs``.
PAIR_CHUNK = 1 << 20

__all__ = ["Evaluator", "Scorer", "TorchRecommender"]

#: ``evaluator(model) -> {metric: value}``; higher is better for the selection metric.
Evaluator = Callable[[Recommender], dict[str, float]]


class TorchRecommender(Recommender):
    """A recommender whose scores come from a torch ``Scorer`` trained by the shared Trainer.

    Subclasses define a ``Config`` dataclass inheriting :class:`TrainConfig` (model fields plus
    every training field, flat) and ``build_scorer``.

    After a fit, ``best_epoch_``/``best_score_`` are the restored epoch and its validation score
    (None without validation) and ``auto_`` is the record of an ``objective="auto"`` selection
    (None otherwise), saved in ``model.json`` under ``"auto"``.
    """

    Config: ClassVar[type] = TrainConfig
    uses_validation: ClassVar[bool] = True
    fit_options: ClassVar[frozenset[str]] = frozenset({"device", "progress"})

    def __init__(
        self, config: Any | None = None, *, options: FitOptions | None = None, **params: Any
    ) -> None:
        super().__init__(config, options=options, **params)
        check_auto(self.config)
        self.scorer_: Scorer | None = None
        self.device_: torch.device | None = None
        self.best_epoch_: int | None = None
        self.best_score_: float | None = None
        self.auto_: dict[str, Any] | None = None
        self._item_text: ItemText | None = None  # fit-time input of align, never saved
        self._ready = False

    def set_params(self, **params: Any) -> TorchRecommender:
        """:meth:`Recommender.set_params`, then the checks of ``objective="auto"``."""
        super().set_params(**params)
        check_auto(self.config)
        return self

    @abstractmethod
    def build_scorer(self, n_users: int, n_items: int, generator: torch.Generator) -> Scorer:
        """A freshly initialised scorer; all random initialisation must use ``generator``."""

    def _new_scorer(self, n_users: int, n_items: int, objective: str | None = None) -> Scorer:
        """A scorer with the module of ``objective`` (default: the configured one), if it owns
        one."""
        self.device_ = select_device(self.options.device)
        generator = torch.Generator().manual_seed(self.config.seed)
        scorer = self.build_scorer(n_users, n_items, generator)
        if not isinstance(scorer, Scorer):
            raise TypeError(f"{type(self).__name__}.build_scorer must return a Scorer")
        cfg = self.config
        sparse = cfg.optimizer in SPARSE_OPTIMIZERS and not cfg.weight_decay
        module = get_objective(objective or cfg.objective).build(
            n_users, n_items, generator, sparse
        )
        if module is not None:  # trained, moved and saved with the scorer (state "objective.*")
            scorer.add_module(OBJECTIVE_MODULE, module)
        return scorer.to(self.device_)

    def _fit(
        self,
        train: Interactions,
        validation: Interactions | None = None,
        evaluator: Evaluator | None = None,
        item_text: ItemText | None = None,
    ) -> None:
        """``item_text``: raw item ids and texts, for ``align`` (RLMRec) only."""
        self.auto_ = None
        self._item_text = item_text
        if not is_auto(self.config):
            self._train(self.config, train, validation, evaluator)
            return

        def fit_candidate(
            config: TrainConfig, part: Interactions, valid: Interactions | None
        ) -> TorchRecommender:
            trial = type(self)(config=config, options=self.options)
            return trial.fit(part, validation=valid, evaluator=evaluator, item_text=item_text)

        selection = select_candidate(
            self.config, train, fit_candidate, validation, evaluator is not None
        )
        chosen = dataclasses.replace(
            self.config,
            objective=selection.candidate.objective,
            sampler=selection.candidate.sampler,
        )
        record = selection.record
        if selection.carved:
            # the carve held part of train out: retrain the choice on all of it, for the epochs
            # that were best on the carve (there is no validation left to stop on)
            start = time.perf_counter()
            epochs = selection.model.best_epoch_
            self._train(dataclasses.replace(chosen, epochs=epochs), train)
            record["refit"] = {"epochs": epochs, "fit_seconds": time.perf_counter() - start}
        else:  # the chosen candidate was trained on this train: keep it as trained
            trial = selection.model
            self.scorer_, self.device_ = trial.scorer_, trial.device_
            self.history_, self.best_epoch_ = trial.history_, trial.best_epoch_
            self.best_score_ = trial.best_score_
            record["refit"] = None
            self.invalidate()
        self.auto_ = record

    @property
    def trained_objective(self) -> str:
        """The objective spec the scorer was trained with: the choice of ``objective="auto"``,
        else ``config.objective``."""
        if self.auto_ is not None:
            return self.auto_["chosen"]["objective"]
        return self.config.objective

    def _train(
        self,
        config: TrainConfig,
        train: Interactions,
        validation: Interactions | None = None,
        evaluator: Evaluator | None = None,
    ) -> None:
        """Build a fresh scorer and train it with ``config`` (this model's, or an ``auto``
        choice's: the same model fields, another objective, sampler or epoch count)."""
        torch.manual_seed(config.seed)  # modules drawing from the global RNG (dropout)
        self.scorer_ = self._new_scorer(train.n_users, train.n_items, config.objective)
        self.invalidate()
        objective = get_objective(config.objective)
        sampler = self._sampler(config) if objective.kind in SAMPLED_KINDS else None
        trainer = Trainer(
            self.scorer_,
            objective,
            sampler,
            config,
            changed=self.invalidate,
            evaluate=self._evaluation(config, validation, evaluator),
            progress=self.options.progress,
            auxiliary=self._alignment(config, train, objective.kind),
            epoch_fn=self.compiled_epoch(config, objective, sampler, train),
        )
        result = trainer.fit(train)
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.best_score_ = result.best_score

    def compiled_epoch(
        self,
        config: TrainConfig,
        objective: Objective,
        sampler: BatchSampler | None,
        train: Interactions,
    ) -> EpochFn | None:
        """A compiled epoch to run instead of the trainer's mini-batch steps, for the fresh
        ``scorer_`` (None, the default: the steps; MF's ``backend="numba"`` returns one)."""
        return None

    def _alignment(
        self, config: TrainConfig, train: Interactions, kind: str
    ) -> TextAlignment | None:
        """The RLMRec term of ``config.align`` over the texts given to ``fit`` (None: none)."""
        if config.align == "none":
            return None
        if self._item_text is None:
            raise SiftrecError(
                f"align={config.align} needs item text: pass item_text to fit (an item,text table)"
            )
        if kind not in SAMPLED_KINDS:
            raise SiftrecError(f"align works with sampled objectives, not {config.objective!r}")
        features = build_text_features(
            train, self._item_text, config.align_encoder, seed=config.seed
        )
        if config.align_shuffle:
            features = features.shuffled(config.seed)
        scorer = self.scorer_
        probe = torch.zeros(1, dtype=torch.long, device=self.device_)
        with torch.no_grad():
            scorer.prepare()
            cf_dim = scorer.embed(probe, probe)[0].shape[1]
        generator = torch.Generator().manual_seed(config.seed + 1)
        return TextAlignment(
            torch.from_numpy(features.users),
            torch.from_numpy(features.items),
            cf_dim,
            config.align,
            config.align_weight,
            config.align_temperature,
            config.align_mask,
            generator,
        ).to(self.device_)

    @staticmethod
    def _sampler(config: TrainConfig) -> BatchSampler:
        """The configured sampler with the config's negatives and epoch mode."""
        return get_sampler(
            config.sampler,
            n_negatives=config.n_negatives,
            exclude_positives=config.exclude_positives,
            epoch_mode=config.epoch_mode,
        )

    def _evaluation(
        self,
        config: TrainConfig,
        validation: Interactions | None,
        evaluator: Evaluator | None,
    ) -> Evaluate | None:
        """The trainer's ``evaluate``: ``evaluator(self)``, or ``config.metric`` on
        ``validation`` by the full-ranking protocol (sharded by user over the ranks of a
        distributed fit); None without either."""
        if evaluator is not None:
            return lambda: evaluator(self)
        if validation is None:
            return None
        if not isinstance(validation, Interactions):
            raise SiftrecError(f"validation must be Interactions, got {type(validation).__name__}")
        metric = config.metric
        parse_metrics(metric)  # an unknown metric fails now, not after the first epoch
        return lambda: evaluate_sharded(self, validation, metric)

    def metadata(self) -> dict[str, Any]:
        """``model.json``; after ``objective="auto"`` its params hold the chosen objective and
        sampler (what the saved state was trained with, so ``load`` rebuilds it) and ``"auto"``
        the selection record."""
        meta = super().metadata()
        if self.auto_ is not None:
            chosen = self.auto_["chosen"]
            meta["params"].update(objective=chosen["objective"], sampler=chosen["sampler"])
            meta["auto"] = self.auto_
        return meta

    def invalidate(self) -> None:
        """Mark parameters as changed: the next scoring call re-runs ``prepare`` in eval mode."""
        self._ready = False

    def _score(self, users: np.ndarray) -> torch.Tensor:
        scorer = self.scorer_
        with torch.no_grad():
            if not self._ready:
                scorer.eval()
                scorer.prepare()
                self._ready = True
            return scorer.score_all(torch.as_tensor(users, device=self.device_))

    def _ready_scorer(self) -> Scorer:
        """The scorer in evaluation mode, prepared (as scoring uses it)."""
        scorer = self.scorer_
        if not self._ready:
            with torch.no_grad():
                scorer.eval()
                scorer.prepare()
            self._ready = True
        return scorer

    def _score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        """Fold-in of a dot-product scorer (``factors()``): each new user's vector is the
        regularised least-squares fit of their row against the frozen item factors
        (:func:`fold_in_least_squares`); models without factors override this."""
        factors = self._ready_scorer().factors()
        if factors is None:
            raise SiftrecError(f"{self.name} cannot score users unseen in training (no fold-in)")
        _, items, bias = factors
        with torch.no_grad():
            users = fold_in_least_squares(history, items)
            scores = score_matrix(users, items)
            return scores if bias is None else scores + bias

    def _item_embeddings(self) -> torch.Tensor:
        """The item vectors ``similar_items`` compares: a dot-product scorer's item factors
        (models without them override this)."""
        factors = self._ready_scorer().factors()
        if factors is None:
            raise SiftrecError(f"{self.name} has no item factors to compare")
        return factors[1]

    def _similar_items(self, items: np.ndarray) -> torch.Tensor:
        """Cosine similarity of the item embeddings (:meth:`_item_embeddings`)."""
        return item_cosine(self._item_embeddings(), items)

    def _score_pairs(self, users: np.ndarray, items: np.ndarray, batch_size: int) -> np.ndarray:
        """Pairs straight through the scorer's ``score_pairs`` (no full rows), in chunks of
        ``PAIR_CHUNK``; scorers that only score full rows (listwise) use the base blocks."""
        scorer = self.scorer_
        if not scorer.supported_kinds & SAMPLED_KINDS:
            return super()._score_pairs(users, items, batch_size)
        out = np.empty(len(users), dtype=np.float32)
        with torch.no_grad():
            scorer.eval()
            scorer.prepare()
            self._ready = True
            for start in range(0, len(users), PAIR_CHUNK):
                stop = start + PAIR_CHUNK
                u = torch.as_tensor(users[start:stop], device=self.device_)
                i = torch.as_tensor(items[start:stop], device=self.device_)
                out[start:stop] = scorer.score_pairs(u, i).float().cpu().numpy()
        return out

    def _get_state(self) -> dict[str, np.ndarray]:
        return {k: v.detach().cpu().numpy() for k, v in self.scorer_.state_dict().items()}

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        scorer = self._new_scorer(self.n_users, self.n_items)
        try:
            scorer.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0]
            raise SiftrecError(f"saved {self.name} state does not fit the model: {first}") from None
        self.scorer_ = scorer
        self.invalidate()


#: Ridge of the fold-in solve, relative to the mean eigenvalue of ``QᵀQ``.
FOLD_IN_RIDGE = 10.0


def fold_in_least_squares(history: sp.csr_matrix, items: torch.Tensor) -> torch.Tensor:
    """New users' vectors [n, d] against frozen item factors ``Q`` [I, d]: the regularised
    least squares ``argmin_u ‖r − Q u‖² + λ‖u‖²`` over the whole catalog (``r``: the user's
    row, 0 for unobserved items), i.e. ``u = (QᵀQ + λI)⁻¹ Qᵀ r`` in float64.

    ``λ = FOLD_IN_RIDGE · tr(QᵀQ)/d`` shrinks strongly toward the direction ``Qᵀr`` (the sum of
    the user's item vectors): on BPR-trained factors that reproduces a training user's own
    ranking more closely than a light ridge, whose solution chases the unobserved zeros.
    """
    q = items.detach().double()
    gram = q.T @ q
    dim = gram.shape[0]
    ridge = FOLD_IN_RIDGE * torch.trace(gram) / dim
    system = gram + ridge.clamp_min(1e-12) * torch.eye(dim, dtype=gram.dtype, device=q.device)
    rows = sp.csr_matrix(history, dtype=np.float64)
    rhs = torch.from_numpy(rows @ q.cpu().numpy()).to(q.device)  # Qᵀ r for every row
    return torch.linalg.solve(system, rhs.T).T.to(items.dtype)
