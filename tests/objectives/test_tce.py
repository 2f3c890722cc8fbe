import numpy as np
import pytest
import torch
from torch.nn.functional import softplus

from siftrec import SiftrecError
from siftrec.models import MF, load_model
from siftrec.objectives import Batch, TruncatedBCE, get_objective
from siftrec.testing.models import contract_log

POS = torch.tensor([3.0, -1.0, 0.5, -2.0], dtype=torch.float64)
NEG = torch.tensor([[0.0], [1.0], [-1.0], [2.0]], dtype=torch.float64)


def test_official_variant_drops_a_fraction_of_the_whole_batch_from_the_positives():
    tce = TruncatedBCE(drop_rate=0.25, num_gradual=10)
    loss = tce(Batch.from_scores(POS, NEG, step=10))
    # 8 labelled samples, keep int(0.75·8) = 6: the two largest-loss positives (−2, −1) go
    kept = softplus(torch.tensor(-3.0)) + softplus(torch.tensor(-0.5))
    negatives = softplus(NEG).sum()
    torch.testing.assert_close(loss, ((kept + negatives) / 6).double())


def test_fraction_of_positives_variant():
    tce = TruncatedBCE(drop_rate=0.25, num_gradual=10, drop_of="positives")
    loss = tce(Batch.from_scores(POS, NEG, step=10))
    # 4 positives, keep int(0.75·4) = 3: only −2 goes
    kept = softplus(-POS[:3]).sum()
    torch.testing.assert_close(loss, (kept + softplus(NEG).sum()) / 7)


def test_weights_scale_kept_positives_but_do_not_change_which_are_dropped():
    weights = torch.tensor([2.0, 100.0, 1.0, 1.0], dtype=torch.float64)
    tce = TruncatedBCE(drop_rate=0.25, num_gradual=1)
    loss = tce(Batch.from_scores(POS, NEG, weights=weights, step=5))
    kept = 2 * softplus(torch.tensor(-3.0)) + softplus(torch.tensor(-0.5))
    torch.testing.assert_close(loss, ((kept + softplus(NEG).sum()) / 6).double())


def test_schedule_is_linear_in_the_global_step_then_constant():
    tce = TruncatedBCE(drop_rate=0.2, num_gradual=101)
    assert tce.drop_rate_at(0) == 0.0
    assert tce.drop_rate_at(50) == pytest.approx(0.1)
    assert tce.drop_rate_at(100) == pytest.approx(0.2)
    assert tce.drop_rate_at(10**6) == 0.2
    squared = TruncatedBCE(drop_rate=0.5, num_gradual=11, exponent=2)
    assert squared.drop_rate_at(10) == pytest.approx(0.25)  # ramps to drop_rate**exponent
    assert squared.drop_rate_at(11) == 0.5
    defaults = TruncatedBCE()
    assert (defaults.drop_rate, defaults.num_gradual, defaults.exponent) == (0.2, 30000, 1.0)
    # with one negative per positive, ε = 0.2 of the batch is 40 % of the positives
    assert defaults.n_dropped(1000, 1000, 30000) == 400


def test_epoch_ramp_grows_per_epoch_whatever_the_step():
    tce = TruncatedBCE(drop_rate=0.2, num_gradual=1, ramp_epochs=4)
    assert [tce.drop_rate_at(10**6, epoch) for epoch in range(6)] == pytest.approx(
        [0.0, 0.05, 0.1, 0.15, 0.2, 0.2]
    )
    pos, neg = torch.randn(7, dtype=torch.float64), torch.randn(7, 1, dtype=torch.float64)
    assert tce.n_dropped(7, 7, 10**6, epoch=0) == 0
    # epoch 2: ε = 0.1 of 14 labelled samples drops 14 − int(0.9·14) = 2 positives
    assert tce.n_dropped(7, 7, 0, epoch=2) == 2
    _, dpos, _ = tce.score_gradients(Batch.from_scores(pos, neg, step=0, epoch=2))
    assert (dpos == 0).sum() == 2  # dropped positives get no gradient
    with pytest.raises(SiftrecError, match="ramp_epochs"):
        get_objective("tce(ramp_epochs=-1)")


def test_bad_parameters():
    for spec in ("tce(drop_rate=1.0)", "tce(num_gradual=0)", "tce(drop_of=users)"):
        with pytest.raises(SiftrecError):
            get_objective(spec)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mf_trains_and_round_trips(tmp_path, optimizer):
    data = contract_log()
    lr = 0.01 if optimizer == "adam" else 0.05
    model = MF(
        epochs=6,
        dim=8,
        batch_size=64,
        objective="tce(num_gradual=1)",
        optimizer=optimizer,
        lr=lr,
        device="cpu",
    ).fit(data)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    model.save(tmp_path / "tce")
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(load_model(tmp_path / "tce").score(users), model.score(users))
