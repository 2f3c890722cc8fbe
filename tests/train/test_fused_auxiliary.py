"""The fused row-sparse step with an auxiliary term: the objective's gradients analytic, the
term's through autograd on the rows it reads; the same update as the autograd path."""

from __future__ import annotations

import numpy as np
import pytest

from siftrec import Interactions
from siftrec.models import MF
from siftrec.models.mf import MFScorer
from siftrec.text import ItemText


@pytest.fixture(scope="module")
def log() -> tuple[Interactions, ItemText]:
    rng = np.random.default_rng(0)
    train = Interactions.from_raw(rng.integers(0, 80, 1200), rng.integers(0, 40, 1200))
    topics = ["space alien rocket", "western horse desert", "romance love wedding"]
    texts = ItemText(np.arange(40), [f"{topics[i % 3]} film {i % 7}" for i in range(40)])
    return train, texts


@pytest.mark.parametrize(
    ("optimizer", "params"),
    [
        ("sgd", {"align": "con"}),
        ("sgd", {"align": "gen", "augment_k": 2, "augment_weight": 1.0}),
        ("adagrad", {"augment_k": 3, "augment_weight": 1.0, "item_bias": True}),
        ("sparse_adam", {"align": "con", "lr": 0.005}),
    ],
)
def test_fused_step_with_auxiliary_equals_autograd(
    log: tuple[Interactions, ItemText],
    monkeypatch: pytest.MonkeyPatch,
    optimizer: str,
    params: dict,
) -> None:
    train, texts = log
    calls = []
    backward = MFScorer.sparse_backward

    def counted(self, *args, **kwargs):
        calls.append(1)
        return backward(self, *args, **kwargs)

    monkeypatch.setattr(MFScorer, "sparse_backward", counted)
    scores = []
    for fused in (True, False):
        model = MF(
            epochs=2, batch_size=256, optimizer=optimizer, fused=fused, device="cpu", **params
        )
        model.fit(train, item_text=texts)
        scores.append(model.score(np.arange(80)))
        assert bool(calls) == fused  # the fused fit took the row-sparse step, the other not
        calls.clear()
    np.testing.assert_allclose(scores[0], scores[1], atol=2e-5)
    base = MF(epochs=2, batch_size=256, optimizer=optimizer, device="cpu").fit(train)
    assert not np.allclose(base.score(np.arange(80)), scores[0], atol=1e-3)
