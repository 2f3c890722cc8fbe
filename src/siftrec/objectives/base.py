"""The objective contract: what a torch model minimises, independent of scorer and sampler.

An objective turns scores into a scalar loss plus the loss of every positive interaction (for
loss-aware denoisers and samplers). Three kinds exist: ``pairwise`` (scores of a positive vs its
sampled negatives), ``pointwise`` (positives labelled 1, sampled negatives 0) and ``listwise``
(logits over the whole catalog vs the user's row). See ``docs/engine.md``.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal

import torch
from torch import nn

from siftrec.components import ComponentRegistry

if TYPE_CHECKING:
    import numpy as np

    from siftrec.data.interactions import Interactions

ObjectiveKind = Literal["pairwise", "pointwise", "listwise"]
SAMPLED_KINDS: frozenset[str] = frozenset({"pairwise", "pointwise"})


@dataclass
class ObjectiveOutput:
    """``loss``: scalar to minimise; ``per_interaction``: [B] detached loss per positive/row."""

    loss: torch.Tensor
    per_interaction: torch.Tensor


@dataclass
class Objective(ABC):
    """Base of every objective; dataclass fields are its hyperparameters."""

    name: ClassVar[str] = "objective"
    kind: ClassVar[ObjectiveKind]
    #: Set by objectives that need the batch's ``users``, ``pos_items`` [B] and ``neg_items``
    #: [B, n_neg] as keyword arguments (e.g. NBPO's flip model scores the same pairs).
    needs_indices: ClassVar[bool] = False

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
        """Per-interaction propensities to pass as ``propensities`` (default: none).

        Called after :meth:`setup` when the training log has no ``propensity`` column (a
        column always wins); Rel-MF returns the item propensities it estimated there.
        """
        return None


@dataclass
class SampledObjective(Objective):
    """Pairwise or pointwise objective over a positive's score and its negatives' scores."""

    @abstractmethod
    def __call__(
        self,
        pos: torch.Tensor,
        neg: torch.Tensor,
        *,
        weights: torch.Tensor | None = None,
        propensities: torch.Tensor | None = None,
        step: int = 0,
        epoch: int = 0,
    ) -> ObjectiveOutput:
        """Loss of positives ``pos`` [B] against negatives ``neg`` [B, n_neg].

        ``weights`` [B] multiply each positive's term; ``propensities`` [B] are per positive
        interaction; ``step``/``epoch`` are the 0-based mini-batch and epoch counters.
        """

    def score_gradients(
        self,
        pos: torch.Tensor,
        neg: torch.Tensor,
        *,
        weights: torch.Tensor | None = None,
        propensities: torch.Tensor | None = None,
        step: int = 0,
        epoch: int = 0,
    ) -> tuple[ObjectiveOutput, torch.Tensor, torch.Tensor]:
        """The output and ``d loss / d pos`` [B], ``d loss / d neg`` [B, n_neg].

        Used by the trainer's fused path. This default differentiates ``__call__`` with autograd
        on the score tensors alone (cheap: no model parameters involved); objectives with a
        closed form override it.
        """
        pos = pos.detach().requires_grad_(True)
        neg = neg.detach().requires_grad_(True)
        with torch.enable_grad():
            out = self(pos, neg, weights=weights, propensities=propensities, step=step, epoch=epoch)
            dpos, dneg = torch.autograd.grad(out.loss, (pos, neg), allow_unused=True)
        dpos = torch.zeros_like(pos) if dpos is None else dpos
        dneg = torch.zeros_like(neg) if dneg is None else dneg
        return ObjectiveOutput(out.loss.detach(), out.per_interaction), dpos, dneg


@dataclass
class ListwiseObjective(Objective):
    """Objective over full-catalog logits and the users' training rows."""

    kind: ClassVar[ObjectiveKind] = "listwise"

    @abstractmethod
    def __call__(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        *,
        weights: torch.Tensor | None = None,
        step: int = 0,
        epoch: int = 0,
    ) -> ObjectiveOutput:
        """Loss of ``logits`` [B, n_items] against ``targets`` [B, n_items]; ``weights`` [B]."""


objectives: ComponentRegistry[Objective] = ComponentRegistry("objective", "siftrec.objectives")
register_objective = objectives.register


def get_objective(spec: str, **params: object) -> Objective:
    """Build an objective from ``"name"`` / ``"name(k=v,...)"`` plus keyword parameters."""
    return objectives.create(spec, **params)


def available_objectives() -> list[str]:
    """Registered objective names (aliases included)."""
    return objectives.available()


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """``mean(weights · values)`` over the batch (weights are not renormalised)."""
    if weights is None:
        return values.mean()
    return (values * weights.to(values.dtype)).mean()
