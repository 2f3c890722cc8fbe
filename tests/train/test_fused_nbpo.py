"""The fused path trains an objective's own parameters (NBPO's flip MF) as autograd does."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from siftrec.models import MF
from siftrec.models.mf import MFScorer
from siftrec.objectives import NBPO, Batch
from siftrec.objectives.bce import BCE
from siftrec.samplers import get_sampler
from siftrec.testing.models import contract_log
from siftrec.train import TrainConfig, Trainer
from siftrec.train.engine import OBJECTIVE_MODULE


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "sparse_adam"])
@pytest.mark.parametrize("spec", ["nbpo(dim=4, l2_flip=0.5)", "nbpo(dim=4, l2_flip=0)"])
def test_fused_nbpo_equals_autograd(optimizer, spec):
    kw = dict(
        epochs=3,
        dim=6,
        batch_size=40,
        n_negatives=2,
        l2=0.1,
        item_bias=True,
        use_weights=True,
        optimizer=optimizer,
        objective=spec,
        lr=0.05,
        device="cpu",
    )
    data = contract_log()
    weighted = data.with_weights(np.linspace(0.5, 2.0, len(data)))
    fused = MF(fused=True, **kw).fit(weighted)
    plain = MF(fused=False, **kw).fit(weighted)
    # the fused run never built autograd gradients, for the scorer nor for the flip model
    assert fused.scorer_.user_emb.weight.grad is None
    assert fused.scorer_.objective.user_emb.weight.grad is None
    assert plain.scorer_.objective.user_emb.weight.grad is not None
    fused_state = fused.scorer_.state_dict()
    for name, value in plain.scorer_.state_dict().items():
        torch.testing.assert_close(fused_state[name], value, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        [r["loss"] for r in fused.history_], [r["loss"] for r in plain.history_], rtol=1e-5
    )


@dataclass
class OwnedBCE(BCE):
    """BCE plus a parameter of its own with no analytic gradient (no ``fused_gradients``)."""

    def build(self, n_users, n_items, generator, sparse):
        return nn.Linear(1, 1, bias=False)

    def __call__(self, batch: Batch) -> torch.Tensor:
        return super().__call__(batch) + self.module.weight.square().sum()


def trained_scorer(objective) -> MFScorer:
    """An MF scorer with ``objective``'s own module, trained one epoch by the default config."""
    data = contract_log()
    generator = torch.Generator().manual_seed(0)
    scorer = MFScorer(data.n_users, data.n_items, 4, False, 0.1, True, generator)
    module = objective.build(data.n_users, data.n_items, generator, sparse=True)
    scorer.add_module(OBJECTIVE_MODULE, module)
    config = TrainConfig(epochs=1, batch_size=64, optimizer="sgd", lr=0.05)
    Trainer(scorer, objective, get_sampler("uniform"), config).fit(data)
    return scorer


def test_objectives_with_parameters_take_the_fused_path_only_with_their_gradients():
    nbpo = trained_scorer(NBPO(dim=4))  # fused_gradients: analytic flip-row gradients
    assert nbpo.user_emb.weight.grad is None and nbpo.objective.user_emb.weight.grad is None
    owned = trained_scorer(OwnedBCE())  # none: autograd trains the scorer and its parameter
    assert owned.user_emb.weight.grad is not None and owned.objective.weight.grad is not None
