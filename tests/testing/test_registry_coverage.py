"""The contract suites cover every registered component, and their checks catch broken ones."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pytest

import siftrec.testing.models as model_suite
import siftrec.testing.samplers as sampler_suite
from siftrec.models import Popularity, RandomScores
from siftrec.samplers import UniformSampler
from siftrec.testing import (
    MODEL_CASES,
    SAMPLER_CASES,
    ModelCase,
    SamplerCase,
    model_checks,
    sampler_checks,
    uncovered_models,
    uncovered_samplers,
)

#: What a failed check raises: an assertion, or pytest's failure of a ``pytest.raises`` block.
CHECK_FAILED = (AssertionError, pytest.fail.Exception)


def test_every_registered_model_has_a_contract_case():
    assert uncovered_models() == []


def test_a_model_without_a_case_is_named():
    cases = {name: case for name, case in MODEL_CASES.items() if name != "ease"}
    assert uncovered_models(cases) == ["ease"]


def test_every_registered_sampler_has_a_contract_case():
    assert uncovered_samplers() == []


def test_a_sampler_without_a_case_is_named():
    cases = {name: case for name, case in SAMPLER_CASES.items() if name != "pld"}
    assert uncovered_samplers(cases) == ["pld"]


def _run(checks: list, wanted: str) -> None:
    """Run the check whose id ends with ``wanted``."""
    (check,) = [check for check_id, check in checks if check_id.endswith(wanted)]
    check()


def _model_checks(monkeypatch, cls: type, case: ModelCase) -> list:
    """The checks of ``case`` with the model name resolving to ``cls``."""
    monkeypatch.setattr(model_suite, "get_model_class", lambda name: cls)
    return model_checks("popularity", case)


class ForgetsOnSave(Popularity):
    """Loads back zero scores."""

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.item_scores_ = np.zeros_like(state["item_scores"])


class NaNScores(Popularity):
    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.full((len(users), self.n_items), np.nan, dtype=np.float32)


class LeaksFoldIn(Popularity):
    """Claims fold-in but scores a history unlike the training user."""

    supports_fold_in = True

    def _score_history(self, history) -> np.ndarray:
        return np.zeros((history.shape[0], self.n_items), dtype=np.float32)


POPULARITY = MODEL_CASES["popularity"]


@pytest.mark.parametrize(
    ("cls", "case", "check"),
    [
        (ForgetsOnSave, POPULARITY, "check_save_load_round_trip"),
        (NaNScores, POPULARITY, "check_score_shape_and_dtype"),
        (LeaksFoldIn, POPULARITY, "check_fold_in"),
        (RandomScores, ModelCase(params={}, ndcg_floor=0.22, bad_params=[]), "learning_floor"),
        (Popularity, ModelCase(params={}, ndcg_floor=0.0, bad_params=[]), "bad_params_refused"),
        (
            Popularity,
            ModelCase(params={}, ndcg_floor=0.0, bad_params=[{"weighted": True}]),
            "bad_params_refused",
        ),
    ],
    ids=["save_load", "score", "fold_in", "learning_floor", "no_bad_params", "accepted_bad"],
)
def test_model_checks_catch_a_broken_model(monkeypatch, cls, case, check):
    with pytest.raises(CHECK_FAILED):
        _run(_model_checks(monkeypatch, cls, case), check)


def test_a_changing_seed_fails_the_determinism_check(monkeypatch):
    seeds = iter(range(100))

    class Reseeded(RandomScores):
        def _fit(self, train) -> None:
            self.config.seed = next(seeds)

    with pytest.raises(CHECK_FAILED):
        _run(_model_checks(monkeypatch, Reseeded, POPULARITY), "check_same_seed_same_scores")


class KeepsPositives(UniformSampler):
    """Ignores ``exclude_positives``."""

    def negatives(self, users: np.ndarray) -> np.ndarray:
        items = self.draw_items(np.repeat(users, self.n_negatives))
        return items.reshape(len(users), self.n_negatives)


class Unseeded(UniformSampler):
    """Draws from a generator of its own instead of the one ``setup`` gives it."""

    def draw_items(self, users: np.ndarray) -> np.ndarray:
        return np.random.default_rng().integers(0, self.n_items, size=len(users))


@pytest.mark.parametrize(
    ("cls", "check"),
    [(KeepsPositives, "check_negatives_exclude_positives"), (Unseeded, "same_seed_same_epochs")],
)
def test_sampler_checks_catch_a_broken_sampler(monkeypatch, cls, check):
    monkeypatch.setattr(sampler_suite, "get_sampler", lambda name, **params: cls(**params))
    with pytest.raises(CHECK_FAILED):
        _run(sampler_checks("uniform", SamplerCase()), check)
