import numpy as np
import pytest
import torch
import torch.nn.functional as F

from siftrec import Interactions, SiftrecError
from siftrec.bias import estimate_propensities, popularity_propensities
from siftrec.data.ids import IdMap
from siftrec.data.synthetic import generate
from siftrec.models import MF, get_model_class
from siftrec.objectives import Batch, RelMF, get_objective
from siftrec.objectives.base import objectives


def batch(seed: int = 0, size: int = 5, n_neg: int = 2):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(size, generator=g, dtype=torch.float64)
    neg = torch.randn(size, n_neg, generator=g, dtype=torch.float64)
    weights = torch.rand(size, generator=g, dtype=torch.float64) + 0.5
    theta = torch.rand(size, generator=g, dtype=torch.float64) * 0.9 + 0.05
    return pos, neg, weights, theta


def test_clicked_and_unclicked_terms_by_hand():
    pos = torch.tensor([0.5, -1.0], dtype=torch.float64)
    neg = torch.tensor([[2.0], [0.0]], dtype=torch.float64)
    theta = torch.tensor([0.25, 0.01], dtype=torch.float64)
    batch = Batch.from_scores(pos, neg, propensities=theta)
    loss = RelMF(loss="log", clip=0.05)(batch)
    inv = torch.tensor([4.0, 20.0], dtype=torch.float64)  # 1/θ, the second clipped at 0.05
    clicked = inv * F.softplus(-pos) + (1 - inv) * F.softplus(pos)
    torch.testing.assert_close(loss, (clicked.sum() + F.softplus(neg).sum()) / 4)
    # squared form: (1/θ)(1 − σ)² + (1 − 1/θ)σ² for clicks, σ² for unclicked pairs
    loss = RelMF(loss="squared", clip=0.05)(batch)
    p, q = torch.sigmoid(pos), torch.sigmoid(neg)
    clicked = inv * (1 - p) ** 2 + (1 - inv) * p**2
    torch.testing.assert_close(loss, (clicked.sum() + (q**2).sum()) / 4)


def test_needs_propensities_and_valid_parameters():
    pos, neg, _, _ = batch()
    with pytest.raises(SiftrecError, match="propensit"):
        RelMF()(Batch.from_scores(pos, neg))
    with pytest.raises(SiftrecError, match="loss"):
        get_objective("relmf(loss=hinge)")
    with pytest.raises(SiftrecError, match="clip"):
        RelMF(clip=2.0)
    with pytest.raises(SiftrecError, match="eta"):
        RelMF(eta=-0.5)


def test_spec_and_defaults():
    objective = get_objective("rel-mf(loss=log, clip=0.05, eta=1)")
    assert isinstance(objective, RelMF)
    assert (objective.loss, objective.clip, objective.eta) == ("log", 0.05, 1.0)
    assert (RelMF().loss, RelMF().kind, RelMF().clip) == ("squared", "pointwise", 0.1)
    assert RelMF().propensity == "power-law"
    with pytest.raises(SiftrecError, match="relmf propensity must be one of"):
        get_objective("relmf(propensity=popularity)")


def tiny_log(**columns) -> Interactions:
    # 3 users × 4 items; item 1 is never clicked
    users, items = np.array([0, 0, 1, 2, 2, 1]), np.array([0, 2, 0, 0, 3, 3])
    return Interactions(users, items, np.ones(6), IdMap(np.arange(3)), IdMap(np.arange(4)), columns)


def test_setup_estimates_aligned_item_propensities_without_a_column():
    train = tiny_log()
    objective = RelMF(eta=0.5, clip=0.01)
    objective.setup(train)
    expected = popularity_propensities(train, 0.5, floor=0.01)[train.items]
    np.testing.assert_allclose(objective.interaction_propensities(train), expected)
    np.testing.assert_allclose(
        objective.interaction_propensities(train), np.sqrt([1, 1 / 3, 1, 1, 2 / 3, 2 / 3])
    )


def test_setup_can_estimate_propensities_with_the_exposure_model():
    train = tiny_log()
    objective = RelMF(clip=0.05, propensity="exposure-model")
    objective.setup(train)
    expected = estimate_propensities(train, "exposure-model", floor=0.05)
    np.testing.assert_allclose(objective.interaction_propensities(train), expected)
    assert objective.interaction_propensities(train)[0] != pytest.approx(1.0)  # not the power law


def test_setup_uses_and_checks_a_propensity_column():
    objective = RelMF(clip=0.0)
    objective.setup(tiny_log(propensity=np.full(6, 0.3)))
    assert objective.interaction_propensities(tiny_log()) is None
    with pytest.raises(SiftrecError, match="propensity 0"):
        objective.setup(tiny_log(propensity=np.zeros(6)))
    with pytest.raises(SiftrecError, match=r"\[0, 1\]"):
        objective.setup(tiny_log(propensity=np.full(6, 3.0)))


@pytest.fixture
def recording():
    @objectives.register("test_recording_relmf")
    class Recording(RelMF):
        def __call__(self, batch):
            Recording.seen.append(batch.propensities.clone())
            return super().__call__(batch)

    Recording.seen = []
    yield Recording
    objectives._classes.pop("test_recording_relmf")


def test_trainer_passes_estimated_or_supplied_propensities(recording):
    data = generate(n_users=60, n_items=40, noise_ratio=0.0, seed=1).interactions
    MF(objective="test_recording_relmf", epochs=1, optimizer="adam", device="cpu").fit(data)
    seen = torch.cat(recording.seen).numpy()
    expected = popularity_propensities(data, 0.5, floor=0.01)[data.items]
    np.testing.assert_allclose(np.sort(seen), np.sort(expected), rtol=1e-6)
    recording.seen.clear()
    supplied = data.with_columns(propensity=np.full(len(data), 0.4))
    MF(objective="test_recording_relmf", epochs=1, optimizer="adam", device="cpu").fit(supplied)
    np.testing.assert_allclose(torch.cat(recording.seen).numpy(), 0.4)
    assert sum(len(t) for t in recording.seen) == len(data)


@pytest.mark.parametrize("model", ["mf", "gmf"])
def test_trains_with_sampled_scorers(model):
    data = generate(n_users=60, n_items=40, noise_ratio=0.0, seed=2).interactions
    fitted = get_model_class(model)(objective="relmf", epochs=2, device="cpu").fit(data)
    losses = [record["loss"] for record in fitted.history_]
    assert all(np.isfinite(losses))
    assert fitted.score(np.arange(3)).shape == (3, data.n_items)
