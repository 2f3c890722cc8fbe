"""LLMRec-style augmentation of a torch model's training data by proposed edges, with pruning.

:class:`AugmentConfig` adds the ``augment_*`` fields to the training fields (LightGCN and MF
configs inherit it); :func:`with_augmentation` turns them into the auxiliary term of
``siftrec.objectives.augment`` over the candidate edges of ``siftrec.text.augment``, next to the
RLMRec alignment term when both are on.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.objectives.augment import AugmentedPairs, AuxiliarySum
from siftrec.text import ItemText, build_text_features
from siftrec.text.augment import candidate_edges
from siftrec.train import TrainConfig
from siftrec.train.engine import SAMPLED_KINDS, AuxiliaryLoss


@dataclass
class AugmentConfig(TrainConfig):
    """Training fields plus LLMRec-style augmentation (Wei et al., WSDM 2024).

    Attributes:
        augment_k: candidate positive items proposed per user from side information and trained
            on as extra BPR triples (0: off). Needs item text at fit time, like ``align``.
        augment_source: who proposes them: ``text`` (the ``k`` unseen items whose text is most
            similar to the user's profile, embedded with ``align_encoder``; negatives drawn
            uniformly), ``text-pairs`` (each also with a proposed negative: the least similar
            of 20 random unseen items), or a name given to
            ``siftrec.text.augment.register_augmenter`` (e.g. an LLM backend).
        augment_weight: weight of the augmented term against the observed batch's loss.
        augment_prune: share of each step's augmented triples dropped as noise, largest
            loss first (LLMRec's pruning), in ``[0, 1)``.
    """

    augment_k: int = 0
    augment_source: str = "text"
    augment_weight: float = 0.1
    augment_prune: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.augment_k < 0:
            raise SiftrecError(f"augment_k must be non-negative, got {self.augment_k}")
        if self.augment_weight < 0:
            raise SiftrecError(f"augment_weight must be non-negative, got {self.augment_weight}")
        if not 0 <= self.augment_prune < 1:
            raise SiftrecError(f"augment_prune must be in [0, 1), got {self.augment_prune}")


def with_augmentation(
    auxiliary: AuxiliaryLoss | None,
    config: AugmentConfig,
    train: Interactions,
    item_text: ItemText | None,
    kind: str,
    device: torch.device,
) -> AuxiliaryLoss | None:
    """``auxiliary`` plus the augmented term of ``config`` (``auxiliary`` alone when
    ``augment_k`` is 0)."""
    if not config.augment_k:
        return auxiliary
    if item_text is None:
        raise SiftrecError("augment_k needs item text: pass item_text to fit (an item,text table)")
    if kind not in SAMPLED_KINDS:
        raise SiftrecError(f"augment_k works with sampled objectives, not {config.objective!r}")
    features = build_text_features(train, item_text, config.align_encoder, seed=config.seed)
    edges = candidate_edges(
        train, item_text, features, config.augment_source, config.augment_k, config.seed
    )
    term = AugmentedPairs(
        edges,
        train.n_items,
        config.augment_weight,
        config.augment_prune,
        torch.Generator().manual_seed(config.seed + 2),
    ).to(device)
    return term if auxiliary is None else AuxiliarySum([auxiliary, term])
