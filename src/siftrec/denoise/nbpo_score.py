"""NBPO's noise score: how improbable NBPO's fitted noisy-label model finds an observed vote.

NBPO (Yu & Qin, SIGIR 2020) assumes observed positives are clean, so its model has no posterior of a
false positive; what it does give for a voted pair is the probability of the *opposite*
observation, ``P(r̃_ui = 0) = 1 − σ(x_ui)·(1 − ρ_ui)`` with ``x`` the recommender's logit and
``ρ = σ(γ)`` the learned flip rate. It is high where the recommender doubts the preference or
the flip model expects this pair's positives to stay unvoted, i.e. where the vote is atypical
under the fitted model. Computed as ``−expm1(logsigmoid(x) + logsigmoid(−γ))`` (stable).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from siftrec.data.interactions import Interactions
from siftrec.denoise.scores import model_indices, register_noise_score
from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender
from siftrec.objectives.nbpo import FlipMF
from siftrec.train.trainer import OBJECTIVE_MODULE

#: Pairs scored per chunk.
_CHUNK = 1 << 20


@register_noise_score("nbpo")
def nbpo_scores(model: Recommender, train: Interactions) -> np.ndarray:
    """``P(r̃_ui = 0) = 1 − σ(x_ui)·σ(−γ_ui)`` under a model trained with ``objective=nbpo``."""
    users, items = model_indices(model, train)

    scorer = model.scorer_
    flip = dict(scorer.named_children()).get(OBJECTIVE_MODULE)
    if not isinstance(flip, FlipMF):
        raise SiftrecError(
            f"the nbpo noise score needs a model trained with objective=nbpo, not "
            f"{model.trained_objective!r}"
        )
    out = np.empty(len(users), dtype=np.float64)
    with torch.no_grad():
        scorer.eval()
        scorer.prepare()
        for start in range(0, len(users), _CHUNK):
            u = torch.as_tensor(users[start : start + _CHUNK], device=model.device_)
            i = torch.as_tensor(items[start : start + _CHUNK], device=model.device_)
            log_voted = F.logsigmoid(scorer.score_pairs(u, i).double()) + F.logsigmoid(
                -flip.pair_logits(u, i).double()
            )
            out[start : start + len(u)] = (-torch.expm1(log_voted)).cpu().numpy()
    return out
