"""Per-level towers of a two-tower scorer: one similarity per ordinal feedback level.

GNOLR (methods.md §7.3, §7.5) gives each feedback level ``k`` its own user and item vectors
``u_k``, ``v_k`` and similarity ``s_k = ⟨u_k, v_k⟩``, and retrieves by the deepest level with one
index over the concatenation ``V_i = [v_1; …; v_K]``. On ID embeddings a per-level tower is a
per-level block of the embedding: the scorer's ``d``-dimensional user and item vectors are cut
into ``K`` consecutive blocks (sizes differing by at most one), block ``k`` being level ``k``'s
vector — with ``normalize="all"`` each block is L2-normalised (``s_k`` a cosine in ``[-1, 1]``, as
the paper's towers), with ``"deep"`` every block but level 1's (a bounded deep similarity on an
unbounded first level). A network tower over ID features is no more expressive than a free per-level
embedding, and the blocks keep the scorer's tables, fused propagation and serving unchanged.

An objective switches the towers on by owning a :class:`LevelTowers` module
(``Objective.build``; it sets ``K`` in ``setup``). A scorer with user and item towers then
returns from ``score_candidates``, while training with autograd enabled, the ``K`` similarities
``[B, N, K]``; everywhere else (evaluation, a sampler's no-grad scoring, ``score_all``,
``factors``) the dot product of the tables :meth:`LevelTowers.table` gives: the blocks
(normalised with ``normalize``) each times ``√w_k``, so the score is ``Σ_k w_k s_k`` with the
level weights ``w`` the objective sets (GNOLR: each level's scale over ``S``, so the score is
``z_K/S``; default 1).
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from siftrec.errors import SiftrecError

#: Most levels the towers hold weights for (buffer sizes are fixed before the data is seen).
MAX_LEVELS = 16
#: Which level blocks are L2-normalised: none, all, or all but level 1's.
Normalize = Literal["none", "all", "deep"]
NORMALIZE = ("none", "all", "deep")


class LevelTowers(nn.Module):
    """``K`` per-level blocks of a scorer's user and item embeddings (module docstring).

    ``K`` is a buffer (0 until :meth:`set_levels`), so a saved model restores it.
    """

    def __init__(self, normalize: Normalize = "none") -> None:
        super().__init__()
        if normalize not in NORMALIZE:
            raise SiftrecError(
                f"normalize must be one of {', '.join(NORMALIZE)}, got {normalize!r}"
            )
        self.normalize = normalize
        self.register_buffer("levels", torch.zeros((), dtype=torch.long))
        self.register_buffer("weights", torch.ones(MAX_LEVELS))

    def set_levels(self, k: int) -> None:
        """Use ``k`` levels (the objective's ``K``, at most :data:`MAX_LEVELS`)."""
        if not 1 <= k <= MAX_LEVELS:
            raise SiftrecError(f"the level towers take 1..{MAX_LEVELS} levels, got {k}")
        self.levels.fill_(int(k))

    def set_weights(self, weights: torch.Tensor) -> None:
        """The non-negative weight ``w_k`` of each level's similarity in the score."""
        with torch.no_grad():
            self.weights[: len(weights)] = weights.clamp_min(0)

    def _membership(self, dim: int, like: torch.Tensor) -> torch.Tensor:
        """``[dim, K]`` one-hot block membership of each embedding coordinate."""
        k = int(self.levels)
        if k < 1:
            raise SiftrecError("the level towers have no levels yet: the objective sets them")
        if dim < k:
            raise SiftrecError(f"per-level towers need dim >= the {k} levels, got {dim}")
        block = torch.div(torch.arange(dim, device=like.device) * k, dim, rounding_mode="floor")
        return F.one_hot(block, k).to(like.dtype)

    def _blocks(self, emb: torch.Tensor, member: torch.Tensor) -> torch.Tensor:
        """``emb`` with the level blocks ``normalize`` names L2-normalised."""
        if self.normalize == "none":
            return emb
        norms = torch.sqrt((emb.square() @ member).clamp_min(1e-12))  # [..., K]
        if self.normalize == "deep":
            norms = torch.cat([torch.ones_like(norms[..., :1]), norms[..., 1:]], dim=-1)
        return emb / (norms @ member.T)

    def table(self, emb: torch.Tensor) -> torch.Tensor:
        """Embeddings ``[..., d]`` in the single retrieval space: each level's block
        (L2-normalised as ``normalize`` says) times ``√w_k``."""
        member = self._membership(emb.shape[-1], emb)
        root = torch.sqrt(self.weights[: member.shape[1]]).to(emb.dtype)
        return self._blocks(emb, member) * (member @ root)

    def level_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``[B, N, K]`` per-level similarities ``s_k`` (unweighted) of users ``[B, d]`` and
        items ``[B, N, d]``."""
        member = self._membership(users.shape[-1], users)
        products = self._blocks(items, member) * self._blocks(users, member).unsqueeze(1)
        return products @ member

    def candidates(self, users: torch.Tensor, items: torch.Tensor, training: bool) -> torch.Tensor:
        """What ``score_candidates`` returns: :meth:`level_scores` while training with autograd,
        else their weighted sum ``Σ_k w_k s_k`` ``[B, N]``."""
        scores = self.level_scores(users, items)
        if training and torch.is_grad_enabled():
            return scores
        return scores @ self.weights[: scores.shape[-1]].to(scores.dtype)
