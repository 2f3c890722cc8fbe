"""The engine contract: the types scorers, objectives and samplers implement and the trainer drives.

Everything the training loop needs to know about the three parts of a torch model lives here, so
the loop (``siftrec.train.trainer``) depends on this module alone and never on a model, an
objective or a sampler module:

- :class:`Scorer`: the ``nn.Module`` that turns (user, item) indices into logits;
- :class:`Batch`: one frozen mini-batch — the indices a sampler drew and, once scored, the scores,
  weights, propensities and counters the objective reads;
- :class:`Objective` (:class:`SampledObjective`, :class:`ListwiseObjective`): what is minimised;
  :class:`Gradients`: its closed-form score gradients for the fused path;
- :class:`BatchSampler`: what the trainer asks of a sampler;
- :class:`AuxiliaryLoss`: an extra term added to the objective's loss (text alignment);
- :class:`RowGrad`, :data:`Factors`: row-sparse gradients and a dot-product scorer's tables;
- the objective and sampler registries (built-ins register when ``siftrec.objectives`` /
  ``siftrec.samplers`` are imported; a registry imports its package on first look-up).

See ``docs/engine.md`` for the contract in full.
"""

from __future__ import annotations

import dataclasses
import inspect
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, NamedTuple

import numpy as np
import torch
from torch import nn

from siftrec.components import ComponentRegistry
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.train.towers import LevelTowers

ObjectiveKind = Literal["pairwise", "pointwise", "listwise"]
#: Kinds trained on a positive and sampled negatives (the others are listwise).
SAMPLED_KINDS: frozenset[str] = frozenset({"pairwise", "pointwise"})
#: Name of the scorer submodule holding an objective's own parameters (``Objective.build``).
OBJECTIVE_MODULE = "objective"

#: Scores of candidate items: ``score_fn(users [B], items [B, k]) -> [B, k]`` (no grad).
ScoreFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
#: A dot-product scorer's tables ``(P [n_users, d], Q [n_items, d], b [n_items] or None)``,
#: ``score(u, i) = P_u · Q_i + b_i``.
Factors = tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]
#: The current ``Factors`` of the model (no grad), or None for a scorer that is no dot product.
FactorsFn = Callable[[], Factors | None]


# ---------------------------------------------------------------------- gradients
@dataclass
class RowGrad:
    """Gradient rows ``grad`` [R, ...] of ``param`` at row indices ``rows`` [R] (may repeat).

    Optimizers may overwrite ``grad`` in place (it is a temporary of the step).
    """

    param: torch.Tensor
    rows: torch.Tensor
    grad: torch.Tensor


# ---------------------------------------------------------------------- scorer
class Scorer(nn.Module, ABC):
    """A trainable scoring module over ``n_users`` × ``n_items`` (see ``docs/engine.md``)."""

    #: Objective kinds the scorer can be trained with.
    supported_kinds: ClassVar[frozenset[str]] = SAMPLED_KINDS
    #: Whether ``sparse_forward``/``sparse_backward`` (the fused path) are implemented.
    supports_fused: ClassVar[bool] = False

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__()
        self.n_users, self.n_items = n_users, n_items

    def level_towers(self) -> LevelTowers | None:
        """The objective's per-level towers (``siftrec.train.towers``, GNOLR) when it owns them:
        a scorer with user and item towers passes its embeddings through them."""
        module = self._modules.get(OBJECTIVE_MODULE)
        return module if isinstance(module, LevelTowers) else None

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

    def embed(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """The collaborative embeddings ``[U, d_u]`` of ``users`` [U] and ``[I, d_i]`` of
        ``items`` [I] that the scores are made of (differentiable in training mode); what an
        :class:`AuxiliaryLoss` such as the RLMRec text alignment reads."""
        raise SiftrecError(f"{type(self).__name__} exposes no user/item embeddings")

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


# ---------------------------------------------------------------------- batch
@dataclass(frozen=True)
class Batch:
    """One mini-batch. Samplers fill the indices; the trainer adds the rest before the
    objective sees it (``dataclasses.replace``); each objective reads what it uses.

    Attributes:
        ids: interaction ids [B] (rows of the training log; sampled kinds), None for listwise.
        users: user indices [B].
        items: [B, 1 + n_neg]: the positive item, then the sampled negatives (sampled kinds).
        scores: sampled kinds: logits [B, 1 + n_neg] aligned with ``items``; listwise: logits
            [B, n_items].
        targets: listwise: the users' training rows [B, n_items] (dense float).
        weights: interaction weights [B] (``use_weights``), else None.
        propensities: exposure propensity [B] of each positive interaction, else None.
        levels: ordinal feedback level [B] (int64) of each positive when the training log has
            a ``level`` column (``siftrec.data.levels``), else None; sampled negatives are
            level 0. Ordinal objectives (GNOLR) read it; the others ignore it.
        step: the 0-based global mini-batch counter.
        epoch: the 0-based epoch index.
    """

    ids: torch.Tensor | None
    users: torch.Tensor
    items: torch.Tensor | None = None
    scores: torch.Tensor | None = None
    targets: torch.Tensor | None = None
    weights: torch.Tensor | None = None
    propensities: torch.Tensor | None = None
    levels: torch.Tensor | None = None
    step: int = 0
    epoch: int = 0

    @classmethod
    def from_scores(
        cls,
        pos_scores: torch.Tensor,
        neg_scores: torch.Tensor,
        users: torch.Tensor | None = None,
        items: torch.Tensor | None = None,
        **fields: Any,
    ) -> Batch:
        """A sampled batch from positive [B] and negative [B, n_neg] scores (e.g. to call an
        objective outside the trainer); ``users`` default to ``0..B-1``."""
        scores = torch.cat([pos_scores.unsqueeze(1), neg_scores], dim=1)
        if users is None:
            users = torch.arange(len(pos_scores))
        return cls(None, users, items, scores, **fields)

    @property
    def pos(self) -> torch.Tensor:
        """The positive items [B] (a view of ``items``)."""
        return self.items[:, 0]

    @property
    def neg(self) -> torch.Tensor:
        """The negative items [B, n_neg] (a view of ``items``)."""
        return self.items[:, 1:]

    @property
    def pos_scores(self) -> torch.Tensor:
        """The positives' logits [B] (a view of ``scores``)."""
        return self.scores[:, 0]

    @property
    def neg_scores(self) -> torch.Tensor:
        """The negatives' logits [B, n_neg] (a view of ``scores``)."""
        return self.scores[:, 1:]

    def __len__(self) -> int:
        return len(self.users)


# ---------------------------------------------------------------------- objectives
class Gradients(NamedTuple):
    """``loss`` (detached scalar) and its gradients w.r.t. ``pos_scores`` [B] (``pos``) and
    ``neg_scores`` [B, n_neg] (``neg``)."""

    loss: torch.Tensor
    pos: torch.Tensor
    neg: torch.Tensor


@dataclass
class Objective(ABC):
    """Base of every objective; dataclass fields are its hyperparameters."""

    name: ClassVar[str] = "objective"
    kind: ClassVar[ObjectiveKind]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for method in ("__call__", "score_gradients"):
            if method in cls.__dict__ and _positional_count(cls.__dict__[method]) != 1:
                raise SiftrecError(
                    f"objective {cls.__name__}.{method} takes scores and keyword arguments; "
                    f"objectives receive one Batch: def {method}(self, batch), reading "
                    "batch.pos_scores, batch.neg_scores, batch.weights, ... (docs/engine.md)"
                )

    @abstractmethod
    def __call__(self, batch: Batch) -> torch.Tensor:
        """The scalar loss of ``batch`` (differentiable w.r.t. ``batch.scores``)."""

    def setup(self, train: Interactions) -> None:  # noqa: B027  (optional hook)
        """Called once per fit before the first step (e.g. to estimate propensities)."""

    def build(
        self, n_users: int, n_items: int, generator: torch.Generator, sparse: bool
    ) -> nn.Module | None:
        """Learnable parameters the objective owns (default: none).

        The model registers the returned module as its scorer's submodule ``objective`` (so it
        is optimised, moved and saved with the scorer) and the trainer hands it back through
        :meth:`bind`. Random initialisation must use ``generator``; ``sparse`` asks for
        sparse embedding gradients (the model's optimiser needs them).
        """
        return None

    def bind(self, module: nn.Module) -> None:
        """Receive the module built by :meth:`build` (the model's trained copy)."""
        self.module = module

    def interaction_propensities(self, train: Interactions) -> np.ndarray | None:
        """Per-interaction propensities to pass as ``batch.propensities`` (default: none).

        Called after :meth:`setup` when the training log has no ``propensity`` column (a
        column always wins); Rel-MF returns the propensities it estimated there.
        """
        return None


def _positional_count(method: Callable[..., Any]) -> int:
    """Required positional parameters of ``method`` after ``self`` (1 for ``(self, batch)``)."""
    params = list(inspect.signature(method).parameters.values())[1:]
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    return sum(p.kind in kinds and p.default is inspect.Parameter.empty for p in params)


@dataclass
class SampledObjective(Objective):
    """Pairwise or pointwise objective over ``batch.pos_scores`` [B] and ``batch.neg_scores``
    [B, n_neg]."""

    def score_gradients(self, batch: Batch) -> Gradients:
        """The loss and its gradients w.r.t. the positive and negative scores.

        Used by the trainer's fused path. This default differentiates ``__call__`` with autograd
        on the score tensor alone (cheap: no model parameters involved); objectives with a
        closed form override it.
        """
        scores = batch.scores.detach().requires_grad_(True)
        with torch.enable_grad():
            loss = self(dataclasses.replace(batch, scores=scores))
            (grad,) = torch.autograd.grad(loss, (scores,), allow_unused=True)
        grad = torch.zeros_like(scores) if grad is None else grad
        return Gradients(loss.detach(), grad[:, 0], grad[:, 1:])

    def fused_gradients(self, batch: Batch, scale: float) -> tuple[Gradients, list[RowGrad]]:
        """Fused path: :meth:`score_gradients` and the row-sparse gradients of the objective's
        own parameters (:meth:`Objective.build`) times ``scale`` (the trainer's
        ``grad_scale``, as ``Scorer.sparse_backward`` receives it pre-scaled).

        Default: no parameters of its own, no rows. An objective that owns parameters takes
        the fused path only when it overrides this with their analytic gradient (NBPO).
        """
        return self.score_gradients(batch), []


@dataclass
class ListwiseObjective(Objective):
    """Objective over full-catalog logits ``batch.scores`` and the rows ``batch.targets``."""

    kind: ClassVar[ObjectiveKind] = "listwise"


objectives: ComponentRegistry[Objective] = ComponentRegistry("objective", "siftrec.objectives")
register_objective = objectives.register


def get_objective(spec: str, **params: object) -> Objective:
    """Build an objective from ``"name"`` / ``"name(k=v,...)"`` plus keyword parameters."""
    return objectives.create(spec, **params)


def available_objectives() -> list[str]:
    """Registered objective names (aliases included)."""
    return objectives.available()


class AuxiliaryLoss(nn.Module, ABC):
    """An extra loss term the trainer adds to the objective's loss on each sampled batch.

    It reads the scorer through :meth:`Scorer.embed` (or ``score_candidates``). Its own
    parameters, if any, are trained by a separate dense Adam at ``lr`` and are not part of the
    scorer, so they are not saved with the model (the RLMRec text alignment,
    ``siftrec.objectives.align``). On the fused path only the term goes through autograd: its
    gradient rows join the objective's analytic ones in the row-sparse step.
    """

    lr: float = 1e-3

    @abstractmethod
    def forward(self, scorer: Scorer, batch: Batch) -> torch.Tensor:
        """The weighted scalar term for ``batch`` (indices filled; scores may be present)."""


# ---------------------------------------------------------------------- samplers
class BatchSampler(ABC):
    """What the trainer asks of a sampler (``siftrec.samplers.Sampler`` implements it).

    ``setup`` once per fit, then ``epoch`` per epoch. A sampler that sets ``wants_scores``
    receives, before each epoch, ``score_fn`` (no-grad scores of candidates with the current
    parameters) and ``factors_fn`` (the scorer's ``factors()``).
    """

    name: ClassVar[str] = "sampler"
    #: Set by samplers that score candidates with the current model (``score_fn``).
    wants_scores: ClassVar[bool] = False
    #: Set by the trainer before each epoch when ``wants_scores``.
    score_fn: ScoreFn | None = None
    #: Set with ``score_fn``: the same model's factor tables (for compiled scoring passes).
    factors_fn: FactorsFn | None = None

    @abstractmethod
    def setup(self, train: Interactions, rng: np.random.Generator) -> None:
        """Bind the training log and the (seeded) generator; called once per fit."""

    @abstractmethod
    def epoch(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        """The mini-batches (``ids``, ``users``, ``items``) of the 0-based ``epoch``."""


samplers: ComponentRegistry[BatchSampler] = ComponentRegistry("sampler", "siftrec.samplers")
register_sampler = samplers.register


def get_sampler(spec: str, **params: object) -> BatchSampler:
    """Build a sampler from ``"name"`` / ``"name(k=v,...)"`` plus keyword parameters."""
    return samplers.create(spec, **params)


def available_samplers() -> list[str]:
    """Registered sampler names."""
    return samplers.available()
