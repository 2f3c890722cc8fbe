"""The contract every registered training sampler passes, as pytest checks driven by the registry.

Each sampler has a :class:`SamplerCase` in :data:`SAMPLER_CASES`, keyed by its registered name:
the parameters to test it with and the parameters it must refuse. :func:`parametrize_sampler_checks`
turns the cases into one pytest test per (configuration, check); :func:`uncovered_samplers`
names registered samplers without a case. The checks drive a sampler as the trainer does
(``setup(train, rng)``, then ``epoch(epoch, batch_size)``; a sampler that ``wants_scores`` gets
``score_fn`` and ``factors_fn`` of a fixed random dot-product model), in both epoch modes::

    from siftrec.testing import SamplerCase, parametrize_sampler_checks

    @parametrize_sampler_checks({"mysampler": SamplerCase(bad_params=[{"alpha": -1.0}])})
    def test_mysampler_contract(check):
        check()

Checks on every configuration (``params`` and each variant), over several epochs: every batch
holds int64 tensors of consistent shapes (``items`` = positive then ``n_negatives`` negatives,
``users``/``pos`` those of the interaction ids, negatives inside the catalog), an epoch has one
example per training interaction; with ``exclude_positives`` no negative is a training item of
its user; the same seed gives the same epochs and another seed other epochs; a user who saw
every item is refused. On ``params`` only: unknown parameters and the base sampler's bad
parameters (``n_negatives=0``, an unknown ``epoch_mode``) and ``bad_params`` refused with a
one-line :class:`~siftrec.errors.SiftrecError` naming them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.samplers import Sampler, available_samplers, get_sampler
from siftrec.testing.expand import configuration_checks, named

#: Epoch modes every sampler supports.
EPOCH_MODES = ("interactions", "users")
#: Epochs drawn per check (enough to pass warm-up epochs of the built-in samplers' cases).
N_EPOCHS = 3
#: Parameters every sampler refuses (fields of the base sampler).
BASE_BAD_PARAMS: tuple[Mapping[str, Any], ...] = ({"n_negatives": 0}, {"epoch_mode": "sessions"})


@dataclass(frozen=True)
class SamplerCase:
    """How the suite builds one registered sampler.

    Attributes:
        params: parameters of the tested configuration (besides ``n_negatives`` and
            ``epoch_mode``, which the checks set).
        bad_params: parameter sets the sampler must refuse (beyond :data:`BASE_BAD_PARAMS`),
            each with a one-line ``SiftrecError`` naming the parameter, when built or set up.
        variants: further configurations, by label, applied on top of ``params``.
    """

    params: Mapping[str, Any] = field(default_factory=dict)
    bad_params: Sequence[Mapping[str, Any]] = ()
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


#: The contract entry of every built-in sampler, by registered name.
SAMPLER_CASES: dict[str, SamplerCase] = {
    "uniform": SamplerCase(),
    "popularity": SamplerCase(params={"beta": 0.5}, variants={"beta0": {"beta": 0.0}}),
    "pld": SamplerCase(
        params={"pool_size": 3, "warmup_epochs": 1},
        bad_params=[
            {"pool_size": 0},
            {"temperature": 0.0},
            {"warmup_epochs": -1},
            {"loss": "hinge"},
            {"losses": "step"},
        ],
        variants={"batch": {"losses": "batch"}, "pointwise": {"loss": "pointwise"}},
    ),
}


def uncovered_samplers(cases: Mapping[str, SamplerCase] = SAMPLER_CASES) -> list[str]:
    """Registered sampler names whose class no case in ``cases`` covers (aliases share one)."""
    covered = {type(get_sampler(name)) for name in cases}
    return [name for name in available_samplers() if type(get_sampler(name)) not in covered]


def sampler_log(seed: int = 0, n_users: int = 50, n_items: int = 30, dense_users: int = 3):
    """A random log whose first ``dense_users`` users saw every item but one or two (so the
    exclusion of positives meets users with almost nothing left to draw)."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        if u < dense_users:
            chosen = rng.choice(n_items, size=n_items - 1 - u % 2, replace=False)
        else:
            chosen = rng.choice(n_items, size=rng.integers(1, 10), replace=False)
        users += [u] * len(chosen)
        items += list(chosen)
    return Interactions.from_raw(np.array(users), np.array(items))


def attach_scores(sampler: Sampler, train: Interactions, seed: int = 0) -> None:
    """Give ``sampler`` what the trainer gives one that ``wants_scores``: ``score_fn`` and
    ``factors_fn`` of a fixed random dot-product model (8 factors, no item bias)."""
    generator = torch.Generator().manual_seed(seed)
    user_factors = torch.randn(train.n_users, 8, generator=generator)
    item_factors = torch.randn(train.n_items, 8, generator=generator)

    def score_fn(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return (user_factors[users].unsqueeze(1) * item_factors[items]).sum(-1)

    sampler.score_fn = score_fn
    sampler.factors_fn = lambda: (user_factors, item_factors, None)


# ---------------------------------------------------------------------- configurations
class _Subject:
    """One sampler configuration under test."""

    def __init__(self, name: str, params: Mapping[str, Any]) -> None:
        self.name, self.params = name, dict(params)

    def build(self, **overrides: Any) -> Sampler:
        return get_sampler(self.name, **{**self.params, **overrides})

    def epochs(
        self, train: Interactions, seed: int, batch_size: int = 64, **overrides: Any
    ) -> list[dict[str, np.ndarray]]:
        """``N_EPOCHS`` epochs of a freshly set-up sampler, each as concatenated arrays."""
        sampler = self.build(**overrides)
        sampler.setup(train, np.random.default_rng(seed))
        if sampler.wants_scores:
            attach_scores(sampler, train)
        out = []
        for epoch in range(N_EPOCHS):
            batches = list(sampler.epoch(epoch, batch_size))
            _check_batches(batches, batch_size, sampler.n_negatives)
            out.append(
                {
                    key: np.concatenate([getattr(b, key).numpy() for b in batches])
                    for key in ("ids", "users", "pos", "neg")
                }
            )
        return out


def _check_batches(batches: list, batch_size: int, n_negatives: int) -> None:
    assert batches, "an epoch yielded no batch"
    for i, batch in enumerate(batches):
        for key in ("ids", "users", "items"):
            tensor = getattr(batch, key)
            assert isinstance(tensor, torch.Tensor) and tensor.dtype == torch.int64, key
            assert tensor.device.type == "cpu", key
        n = len(batch.ids)
        assert 0 < n <= batch_size and (n == batch_size or i == len(batches) - 1)
        assert batch.users.shape == (n,) and batch.items.shape == (n, 1 + n_negatives)
        assert batch.pos.shape == (n,) and batch.neg.shape == (n, n_negatives)


# ---------------------------------------------------------------------- every configuration
def check_epoch_shapes(subject: _Subject) -> None:
    train = sampler_log()
    for mode in EPOCH_MODES:
        for arrays in subject.epochs(train, seed=0, n_negatives=2, epoch_mode=mode):
            ids = arrays["ids"]
            assert len(ids) == len(train), mode
            assert ids.min() >= 0 and ids.max() < len(train), mode
            np.testing.assert_array_equal(arrays["users"], train.users[ids])
            np.testing.assert_array_equal(arrays["pos"], train.items[ids])
            assert arrays["neg"].shape == (len(train), 2)
            assert arrays["neg"].min() >= 0 and arrays["neg"].max() < train.n_items, mode


def check_negatives_exclude_positives(subject: _Subject) -> None:
    train = sampler_log(seed=1)
    positives = train.binary
    for mode in EPOCH_MODES:
        for arrays in subject.epochs(
            train, seed=2, batch_size=128, n_negatives=5, epoch_mode=mode, exclude_positives=True
        ):
            users = np.repeat(arrays["users"], 5)
            hits = np.asarray(positives[users, arrays["neg"].ravel()]).ravel()
            assert hits.sum() == 0, f"{mode}: {int(hits.sum())} negatives are positives"


def check_same_seed_same_epochs(subject: _Subject) -> None:
    train = sampler_log()
    for mode in EPOCH_MODES:
        first = subject.epochs(train, seed=9, n_negatives=2, epoch_mode=mode)
        again = subject.epochs(train, seed=9, n_negatives=2, epoch_mode=mode)
        for a, b in zip(first, again, strict=True):
            for key in a:
                np.testing.assert_array_equal(a[key], b[key], err_msg=f"{mode}: {key}")


def check_other_seed_other_epochs(subject: _Subject) -> None:
    train = sampler_log()
    for mode in EPOCH_MODES:
        first = subject.epochs(train, seed=9, n_negatives=2, epoch_mode=mode)
        other = subject.epochs(train, seed=10, n_negatives=2, epoch_mode=mode)
        for a, b in zip(first, other, strict=True):
            assert not np.array_equal(a["neg"], b["neg"]), mode
            assert not np.array_equal(a["ids"], b["ids"]), mode


def check_full_user_refused(subject: _Subject) -> None:
    full = Interactions.from_raw([0, 0, 1], [0, 1, 0])  # user 0 saw both items
    with pytest.raises(SiftrecError, match="every item"):
        subject.build(exclude_positives=True).setup(full, np.random.default_rng(0))


# ---------------------------------------------------------------------- the sampler's params
def check_unknown_param_refused(subject: _Subject) -> None:
    with pytest.raises(SiftrecError, match="unknown hyperparameter 'no_such_param'"):
        subject.build(no_such_param=1)


def check_bad_params_refused(subject: _Subject, bad_params: Sequence[Mapping[str, Any]]) -> None:
    train = sampler_log()
    for bad in (*BASE_BAD_PARAMS, *bad_params):
        with pytest.raises(SiftrecError) as refused:
            subject.build(**bad).setup(train, np.random.default_rng(0))
        message = str(refused.value)
        assert "\n" not in message, f"{bad}: the error is not one line: {message!r}"
        named = [str(part) for item in bad.items() for part in item]
        assert any(part in message for part in named), f"{bad}: {message!r} does not name it"


#: Checks run on every configuration of a sampler.
CONFIGURATION_CHECKS: tuple[Callable[[_Subject], None], ...] = (
    check_epoch_shapes,
    check_negatives_exclude_positives,
    check_same_seed_same_epochs,
    check_other_seed_other_epochs,
    check_full_user_refused,
)


def sampler_checks(name: str, case: SamplerCase) -> list[tuple[str, Callable[[], None]]]:
    """The checks of one sampler as ``(test id, zero-argument check)`` pairs."""
    main, checks = configuration_checks(
        name, case.params, case.variants, _Subject, CONFIGURATION_CHECKS
    )
    return [
        *checks,
        named(name, check_unknown_param_refused, main),
        named(name, check_bad_params_refused, main, case.bad_params),
    ]


def parametrize_sampler_checks(cases: Mapping[str, SamplerCase] = SAMPLER_CASES):
    """A pytest decorator: one test per (sampler configuration, check), the zero-argument
    check passed as the ``check`` argument (ids like ``pld[batch]-check_epoch_shapes``)."""
    pairs = [pair for name, case in cases.items() for pair in sampler_checks(name, case)]
    return pytest.mark.parametrize("check", [c for _, c in pairs], ids=[i for i, _ in pairs])


def check_sampler(name: str, case: SamplerCase) -> None:
    """Run every check of one sampler in turn (outside pytest's parametrisation)."""
    for _, check in sampler_checks(name, case):
        check()
