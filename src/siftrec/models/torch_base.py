"""Base classes of torch models: the ``Scorer`` module contract and ``TorchRecommender``.

A ``TorchRecommender`` owns a ``Scorer`` (an ``nn.Module``) built by ``build_scorer``; training
is the shared ``siftrec.train.Trainer`` (objective and sampler chosen by name in the config),
scoring runs the module on the model's device, and the learned state is the module's
``state_dict`` as numpy arrays. The hook table is in ``docs/engine.md``. With
``objective="auto"`` the model first chooses its objective and sampler on validation
(``siftrec.train.auto``).
"""

from __future__ import annotations

import dataclasses
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from siftrec.data.interactions import Interactions
from siftrec.device import select_device
from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender
from siftrec.objectives import SAMPLED_KINDS, get_objective
from siftrec.samplers.base import Factors
from siftrec.train import SPARSE_OPTIMIZERS, Evaluator, RowGrad, TrainConfig, Trainer
from siftrec.train.auto import is_auto, select_candidate
from siftrec.train.trainer import OBJECTIVE_MODULE


class Scorer(nn.Module, ABC):
    """A trainable scoring module over ``n_users`` × ``n_items`` (see ``docs/engine.md``)."""

    #: Objective kinds the scorer can be trained with.
    supported_kinds: ClassVar[frozenset[str]] = SAMPLED_KINDS
    #: Whether ``sparse_forward``/``sparse_backward`` (the fused path) are implemented.
    supports_fused: ClassVar[bool] = False

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__()
        self.n_users, self.n_items = n_users, n_items

    def prepare(self) -> None:
        """Recompute what derives from the parameters (e.g. graph propagation).

        Called before every training forward and once before scoring in evaluation mode.
        """

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits [B, k] of candidate ``items`` [B, k] for ``users`` [B] (sampled kinds)."""
        raise SiftrecError(f"{type(self).__name__} cannot score sampled candidates")

    def score_pairs(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Logits [B] of the pairs (``users[b]``, ``items[b]``)."""
        return self.score_candidates(users, items.unsqueeze(1)).squeeze(1)

    @abstractmethod
    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        """Logits [B, n_items] of every item for ``users`` [B]."""

    def factors(self) -> Factors | None:
        """``(P, Q, b)`` with logits ``P_u · Q_i + b_i`` (``b`` None: no bias) for a dot-product
        scorer, as scored now (training or evaluation mode), without autograd; None otherwise.

        Lets samplers score many pairs in a compiled loop (PLD's per-epoch pass).
        """
        return None

    def regularization(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> torch.Tensor:
        """Explicit L2 of the batch's layer-0 embeddings, ``½ Σ‖row‖² / B`` (default: none)."""
        return torch.zeros((), device=users.device)

    def forward_rows(
        self, users: torch.Tensor, rows: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Listwise training forward: logits [B, n_items] from the users' training ``rows``
        and an extra scalar loss (e.g. β·KL; zero if none)."""
        raise SiftrecError(f"{type(self).__name__} has no listwise forward")

    def sparse_forward(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, Any]:
        """Fused path: scores [B, k] without autograd, and a cache for ``sparse_backward``."""
        raise SiftrecError(f"{type(self).__name__} has no fused training path")

    def sparse_backward(self, cache: Any, dscores: torch.Tensor, l2: float) -> list[RowGrad]:
        """Row-sparse gradient of ``Σ dscores · scores + l2 · regularization``.

        With ``dscores = d loss / d scores`` this is the gradient of the training loss. It is
        linear in (``dscores``, ``l2``): the trainer may pass both pre-scaled (SGD folds its
        step in). At most one ``RowGrad`` per parameter; must equal what autograd computes.
        """
        raise SiftrecError(f"{type(self).__name__} has no fused training path")


class TorchRecommender(Recommender):
    """A recommender whose scores come from a torch ``Scorer`` trained by the shared Trainer.

    Subclasses define a ``Config`` dataclass inheriting :class:`TrainConfig` (model fields plus
    every training field, flat) and ``build_scorer``.

    After a fit, ``best_epoch_``/``best_score_`` are the restored epoch and its validation score
    (None without validation) and ``auto_`` is the record of an ``objective="auto"`` selection
    (None otherwise), saved in ``model.json`` under ``"auto"``.
    """

    Config: ClassVar[type] = TrainConfig

    def __init__(self, config: Any | None = None, **params: Any) -> None:
        super().__init__(config, **params)
        self.scorer_: Scorer | None = None
        self.device_: torch.device | None = None
        self.best_epoch_: int | None = None
        self.best_score_: float | None = None
        self.auto_: dict[str, Any] | None = None
        self._ready = False

    @abstractmethod
    def build_scorer(self, n_users: int, n_items: int, generator: torch.Generator) -> Scorer:
        """A freshly initialised scorer; all random initialisation must use ``generator``."""

    def _new_scorer(self, n_users: int, n_items: int, objective: str | None = None) -> Scorer:
        """A scorer with the module of ``objective`` (default: the configured one), if it owns
        one."""
        self.device_ = select_device(self.config.device)
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
    ) -> None:
        self.auto_ = None
        if not is_auto(self.config):
            self._train(self.config, train, validation, evaluator)
            return
        selection = select_candidate(self, train, validation, evaluator)
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
        result = Trainer(config).fit(self, train, validation=validation, evaluator=evaluator)
        self.history_ = result.history
        self.best_epoch_ = result.best_epoch
        self.best_score_ = result.best_score

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
