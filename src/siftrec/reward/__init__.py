"""Reward (engagement) models learned from implicit feedback, and selection with them.

- :class:`RewardModel`: pointwise (BCE) or pairwise (Bradley–Terry) engagement over frozen
  embeddings of (context, candidate), trained with the engine's objectives (the denoising T-CE /
  R-CE included) and optional IPS weights against position bias; :class:`TextRewardModel` the
  same over texts with an offline encoder, saved to a directory;
- :func:`best_of_n` (max or median selection, a margin over the original, fallback to it) and
  :func:`group_normalize` (low-variance groups filtered);
- :func:`policy_value`: IPS / SNIPS value of a selection policy from a randomised log;
- :mod:`siftrec.reward.synthetic`: a world with known engagement and position-biased clicks.
"""

from siftrec.reward.model import REWARD_OBJECTIVES, RewardConfig, RewardModel
from siftrec.reward.ope import PolicyValue, policy_value
from siftrec.reward.select import KEEP_ORIGINAL, best_of_n, group_normalize
from siftrec.reward.synthetic import (
    ClickLog,
    RewardWorld,
    log_clicks,
    make_world,
    pairwise_accuracy,
)
from siftrec.reward.texts import TextRewardModel

__all__ = [
    "KEEP_ORIGINAL",
    "REWARD_OBJECTIVES",
    "ClickLog",
    "PolicyValue",
    "RewardConfig",
    "RewardModel",
    "RewardWorld",
    "TextRewardModel",
    "best_of_n",
    "group_normalize",
    "log_clicks",
    "make_world",
    "pairwise_accuracy",
    "policy_value",
]
