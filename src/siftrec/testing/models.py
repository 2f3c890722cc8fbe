"""The contract every registered model passes, as pytest checks driven by the model registry.

Each model has a :class:`ModelCase` in :data:`MODEL_CASES`, keyed by its registered name: small,
fast hyperparameters, an NDCG@20 floor on a fixed synthetic log, and hyperparameters it must
refuse. :func:`parametrize_model_checks` turns the cases into one pytest test per
(configuration, check); :func:`uncovered_models` names registered models without a case, so a
new model cannot skip the suite. Only the public model API is used (``get_model_class``,
``fit``, ``score``, ``recommend``, ``score_history``, ``recommend_history``, ``save``,
``load_model``), so the checks hold any model that implements it, third-party ones included::

    from siftrec.testing import ModelCase, parametrize_model_checks

    @parametrize_model_checks({"mymodel": ModelCase(params={"dim": 8}, ndcg_floor=0.2,
                                                   bad_params=[{"dim": 0}])})
    def test_mymodel_contract(check):
        check()

Checks run on every configuration (``params`` and each variant): score shape and dtype;
training items excluded from ``recommend``; extra exclusion; ``recommend`` leaves the scores
untouched; batched equals single-user ``recommend``; scores sorted; ``save``/``load_model``
round trip (same class, parameters, history, scores); same seed → same scores; bad user
indices and ``k`` refused; unfitted use refused; an empty log refused. Checks run on
``params`` only: unknown and ``bad_params`` hyperparameters refused with a one-line
:class:`~siftrec.errors.SiftrecError` naming them; fold-in (``score_history`` and
``recommend_history`` of training users' rows equal ``score``/``recommend`` where the model
``supports_fold_in``, refused otherwise); the learning floor (:func:`learning_split`).

The checks need pytest (the ``dev`` extra). Fitted models are cached per configuration for
the process, so the checks of one configuration share a fit; checks never mutate them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import numpy as np
import pytest

from siftrec.data.interactions import Interactions
from siftrec.data.synthetic import generate
from siftrec.errors import SiftrecError
from siftrec.evaluate import evaluate
from siftrec.models import Recommender, available_models, get_model_class, load_model
from siftrec.testing.expand import configuration_checks, named

#: The metric of the learning floor.
FLOOR_METRIC = "ndcg@20"


@dataclass(frozen=True)
class ModelCase:
    """How the suite builds one registered model and what the model must achieve.

    Attributes:
        params: small, fast hyperparameters (a few epochs on :func:`contract_log`).
        ndcg_floor: NDCG@20 the model must reach on :func:`learning_split` when fitted with
            ``learn_params``; for the chance model, its chance level.
        bad_params: hyperparameter sets the model must refuse (at least one), each with a
            one-line ``SiftrecError`` naming the parameter, when built or at latest when fitted.
        learn_params: hyperparameters of the learning-floor fit (default: ``params``).
        variants: further configurations, by label, each a set of hyperparameters applied on
            top of ``params``; they run the checks listed for every configuration.
    """

    params: Mapping[str, Any]
    ndcg_floor: float
    bad_params: Sequence[Mapping[str, Any]]
    learn_params: Mapping[str, Any] | None = None
    variants: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)


def contract_log(seed: int = 0, n_users: int = 60, n_items: int = 40) -> Interactions:
    """A small random log with string user ids and integer item ids; every user has items."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, size=rng.integers(3, 12), replace=False)
        users += [f"u{u}"] * len(chosen)
        items += list(chosen + 100)
    return Interactions.from_raw(np.array(users), np.array(items))


@functools.cache
def learning_split() -> tuple[Interactions, Interactions]:
    """The learning-floor data: a seeded synthetic log (200 users × 120 items, low-dimensional
    tastes, mild popularity skew, so personalised models beat popularity), 20 % of the clicks
    held out at random. Returns ``(train, test)``."""
    log = generate(
        n_users=200, n_items=120, dim=4, popularity_exponent=0.3, exposure_rate=0.4, seed=0
    ).interactions
    held = np.random.default_rng(0).random(len(log)) < 0.2
    return log.subset(~held), log.subset(held)


_OBJECTIVE_KIND = {"objective": "multinomial"}  # listwise: refused by sampled-pair scorers
_TRAIN_BAD = ({"epochs": 0}, {"batch_size": 0}, {"lr": -0.1}, {"n_negatives": 0})

#: The contract entry of every built-in model, by registered name.
MODEL_CASES: dict[str, ModelCase] = {
    "random": ModelCase(params={}, ndcg_floor=0.06, bad_params=[{"seed": "often"}]),
    "popularity": ModelCase(params={}, ndcg_floor=0.22, bad_params=[{"weighted": "maybe"}]),
    "itemknn": ModelCase(
        params={"k": 10},
        learn_params={"k": 20},
        ndcg_floor=0.37,
        bad_params=[{"k": 0}, {"shrink": -1.0}, {"feedback_weighting": "clicks"}],
    ),
    "ease": ModelCase(
        params={"l2": 20.0},
        learn_params={"l2": 50.0},
        ndcg_floor=0.38,
        bad_params=[{"l2": 0.0}, {"dtype": "float16"}],
    ),
    "ials": ModelCase(
        params={"factors": 8, "iterations": 4, "solver": "cholesky"},
        learn_params={"factors": 8, "iterations": 6},
        ndcg_floor=0.35,
        bad_params=[
            {"factors": 0},
            {"regularization": -1.0},
            {"cg_steps": 0},
            {"iterations": 0},
            {"epsilon": 0.0},
            {"solver": "lu"},
            {"confidence": "exp"},
        ],
        variants={"cg": {"solver": "cg"}},
    ),
    "mf": ModelCase(
        params={"epochs": 3, "dim": 8, "batch_size": 64},
        learn_params={"epochs": 20, "dim": 8, "batch_size": 128},
        ndcg_floor=0.29,
        bad_params=[
            {"dim": 0},
            {"init_std": 0.0},
            {"optimizer": "rmsprop"},
            _OBJECTIVE_KIND,
            *_TRAIN_BAD,
        ],
        variants={
            "adam_bias": {"epochs": 2, "optimizer": "adam", "item_bias": True},
            "bce_bias": {"epochs": 2, "objective": "bce", "item_bias": True},
        },
    ),
    "gmf": ModelCase(
        params={"epochs": 2, "batch_size": 128, "lr": 0.01, "dim": 8},
        learn_params={"epochs": 10, "batch_size": 128, "lr": 0.05, "dim": 8},
        ndcg_floor=0.27,
        bad_params=[{"dim": 0}, {"optimizer": "sparse_adam"}, _OBJECTIVE_KIND, *_TRAIN_BAD],
    ),
    "neumf": ModelCase(
        params={
            "epochs": 2,
            "batch_size": 128,
            "lr": 0.01,
            "dim": 8,
            "num_layers": 2,
            "dropout": 0.1,
        },
        learn_params={"epochs": 10, "batch_size": 128, "lr": 0.02, "dim": 8, "num_layers": 2},
        ndcg_floor=0.28,
        bad_params=[
            {"dim": 0},
            {"num_layers": 0},
            {"dropout": 1.0},
            {"optimizer": "sparse_adam"},
            _OBJECTIVE_KIND,
            *_TRAIN_BAD,
        ],
    ),
    "lightgcn": ModelCase(
        params={"epochs": 3, "batch_size": 128, "lr": 0.01, "dim": 16},
        learn_params={"epochs": 5, "batch_size": 128, "lr": 0.05, "dim": 8},
        ndcg_floor=0.37,
        bad_params=[
            {"dim": 0},
            {"layers": -1},
            {"init_std": 0.0},
            {"optimizer": "sparse_adam"},
            _OBJECTIVE_KIND,
            *_TRAIN_BAD,
        ],
    ),
    "multvae": ModelCase(
        params={"epochs": 2, "total_anneal_steps": 10, "hidden": 16, "latent": 8, "batch_size": 16},
        learn_params={"epochs": 5, "hidden": 32, "latent": 8, "batch_size": 32, "lr": 0.02},
        ndcg_floor=0.32,
        bad_params=[
            {"hidden": 0},
            {"latent": 0},
            {"dropout": 1.0},
            {"anneal_cap": -0.1},
            {"total_anneal_steps": -1},
            {"use_weights": True},
            {"optimizer": "sparse_adam"},
            {"objective": "bpr"},
            {"objective": "bce"},
            {"epochs": 0},
        ],
    ),
    "multdae": ModelCase(
        params={"epochs": 2, "hidden": 12, "batch_size": 16},
        learn_params={"epochs": 5, "hidden": 32, "batch_size": 32, "lr": 0.02},
        ndcg_floor=0.38,
        bad_params=[
            {"hidden": 0},
            {"dropout": 1.0},
            {"use_weights": True},
            {"optimizer": "sparse_adam"},
            {"objective": "bpr"},
            {"epochs": 0},
        ],
    ),
}


def uncovered_models(cases: Mapping[str, ModelCase] = MODEL_CASES) -> list[str]:
    """Registered model names that have no case in ``cases`` (the suite would skip them)."""
    return [name for name in available_models() if name not in cases]


# ---------------------------------------------------------------------- configurations
class _Subject:
    """One configuration under test: a model name and hyperparameters, fitted once on demand."""

    def __init__(self, name: str, params: Mapping[str, Any]) -> None:
        self.name, self.params = name, dict(params)

    def build(self, **overrides: Any) -> Recommender:
        return get_model_class(self.name)(**{**self.params, **overrides})

    @functools.cached_property
    def data(self) -> Interactions:
        return contract_log()

    @functools.cached_property
    def fitted(self) -> Recommender:
        return self.build().fit(self.data)


# ---------------------------------------------------------------------- every configuration
def check_score_shape_and_dtype(subject: _Subject) -> None:
    scores = subject.fitted.score(np.arange(5))
    assert scores.shape == (5, subject.data.n_items)
    assert scores.dtype == np.float32
    assert np.all(np.isfinite(scores))


def check_score_pairs_match_rows(subject: _Subject) -> None:
    """``score_pairs`` gives each pair's entry of the full score rows, in the pairs' order."""
    model, rng = subject.fitted, np.random.default_rng(0)
    users = rng.integers(0, subject.data.n_users, size=200)
    items = rng.integers(0, subject.data.n_items, size=200)
    rows = model.score(np.arange(subject.data.n_users))
    pairs = model.score_pairs(users, items, batch_size=7)
    assert pairs.dtype == np.float32
    np.testing.assert_allclose(pairs, rows[users, items], rtol=1e-5, atol=1e-5)
    for bad_users, bad_items in (([0], [subject.data.n_items]), ([0, 1], [0]), ([-1], [0])):
        try:
            model.score_pairs(bad_users, bad_items)
        except SiftrecError:
            continue
        raise AssertionError(f"score_pairs accepted users {bad_users}, items {bad_items}")


def check_recommend_excludes_seen(subject: _Subject) -> None:
    users = np.arange(subject.data.n_users)
    items, _ = subject.fitted.recommend(users, k=5)
    seen = subject.data.binary
    for u in users:
        assert not set(items[u][items[u] >= 0]) & set(seen[u].indices)


def check_recommend_extra_exclusion(subject: _Subject) -> None:
    first, _ = subject.fitted.recommend([0], k=3)
    exclude = subject.data.binary.copy().tolil()
    exclude[:, :] = 0
    exclude[0, first[0, 0]] = 1
    items, _ = subject.fitted.recommend([0], k=3, exclude=exclude.tocsr())
    assert first[0, 0] not in items[0]


def check_recommend_leaves_scores_untouched(subject: _Subject) -> None:
    before = subject.fitted.score(np.arange(6))
    subject.fitted.recommend(np.arange(6), k=3, exclude_items=np.array([0, 1]))
    np.testing.assert_array_equal(subject.fitted.score(np.arange(6)), before)


def check_batch_equals_single(subject: _Subject) -> None:
    batch, batch_scores = subject.fitted.recommend(np.arange(10), k=7, batch_size=3)
    for u in range(10):
        single, single_scores = subject.fitted.recommend([u], k=7)
        np.testing.assert_array_equal(batch[u], single[0])
        np.testing.assert_allclose(batch_scores[u], single_scores[0], rtol=1e-5, atol=1e-6)


def check_scores_sorted(subject: _Subject) -> None:
    _, scores = subject.fitted.recommend(np.arange(10), k=10)
    assert np.all(np.diff(scores, axis=1) <= 1e-6)


def check_save_load_round_trip(subject: _Subject) -> None:
    fitted = subject.fitted
    with TemporaryDirectory() as tmp:
        loaded = load_model(fitted.save(Path(tmp) / "model"))
    assert type(loaded) is type(fitted)
    assert loaded.get_params() == fitted.get_params()
    assert loaded.history_ == fitted.history_
    np.testing.assert_array_equal(loaded.user_map_.ids, fitted.user_map_.ids)
    np.testing.assert_array_equal(loaded.item_map_.ids, fitted.item_map_.ids)
    np.testing.assert_array_equal(loaded.score(np.arange(8)), fitted.score(np.arange(8)))


def check_same_seed_same_scores(subject: _Subject) -> None:
    again = subject.build().fit(subject.data)
    np.testing.assert_allclose(
        again.score(np.arange(6)), subject.fitted.score(np.arange(6)), rtol=1e-5, atol=1e-6
    )


def check_bad_users_and_k(subject: _Subject) -> None:
    fitted, data = subject.fitted, subject.data
    with pytest.raises(SiftrecError, match="out of range"):
        fitted.recommend([data.n_users], k=3)
    with pytest.raises(SiftrecError, match="out of range"):
        fitted.score([-1])
    with pytest.raises(SiftrecError, match="integers"):
        fitted.score(np.array([0.5]))
    with pytest.raises(SiftrecError, match="larger than the catalog"):
        fitted.recommend([0], k=data.n_items + 1)
    with pytest.raises(SiftrecError, match="positive integer"):
        fitted.recommend([0], k=0)


def check_unfitted_refused(subject: _Subject) -> None:
    with pytest.raises(SiftrecError, match="not fitted"):
        subject.build().score([0])
    with pytest.raises(SiftrecError, match="not fitted"):
        subject.build().recommend([0], k=1)


def check_empty_fit_refused(subject: _Subject) -> None:
    empty = subject.data.subset(np.zeros(len(subject.data), dtype=bool))
    with pytest.raises(SiftrecError, match="empty"):
        subject.build().fit(empty)


# ---------------------------------------------------------------------- the model's params
def check_unknown_param_refused(subject: _Subject) -> None:
    with pytest.raises(SiftrecError, match="unknown hyperparameter 'no_such_param'"):
        subject.build(no_such_param=1)


def check_bad_params_refused(subject: _Subject, bad_params: Sequence[Mapping[str, Any]]) -> None:
    assert bad_params, f"{subject.name}: declare at least one hyperparameter it must refuse"
    for bad in bad_params:
        with pytest.raises(SiftrecError) as refused:
            subject.build(**bad).fit(subject.data)
        message = str(refused.value)
        assert "\n" not in message, f"{bad}: the error is not one line: {message!r}"
        named = [str(part) for item in bad.items() for part in item]
        assert any(part in message for part in named), f"{bad}: {message!r} does not name it"


def check_fold_in(subject: _Subject) -> None:
    """Fold-in of training users' rows: their trained scores where the model scores from the
    row (``fold_in_exact``); otherwise finite, deterministic, per-user scores that never
    recommend the history back. An allow-list restricts what is recommended."""
    fitted, users = subject.fitted, np.array([3, 0, 11])
    history = subject.data.binary[users]
    if not fitted.supports_fold_in:
        with pytest.raises(SiftrecError, match="cannot score users unseen"):
            fitted.score_history(history)
        return
    scores = fitted.score_history(history)
    if fitted.fold_in_exact:
        np.testing.assert_allclose(scores, fitted.score(users), rtol=1e-4, atol=1e-5)
        items, _ = fitted.recommend_history(history, k=5)
        expected, _ = fitted.recommend(users, k=5)
        np.testing.assert_array_equal(items, expected)
    else:
        assert scores.shape == (len(users), fitted.n_items) and np.isfinite(scores).all()
        np.testing.assert_array_equal(fitted.score_history(history), scores)
        alone = fitted.score_history(history[1:2])
        np.testing.assert_allclose(alone[0], scores[1], rtol=1e-4, atol=1e-5)
        items, _ = fitted.recommend_history(history, k=5)
        assert not history[np.arange(len(users))[:, None], items].toarray().any()
    allowed = np.arange(0, fitted.n_items, 3)
    items, _ = fitted.recommend_history(history, k=5, include_items=allowed)
    assert np.isin(items[items >= 0], allowed).all()


def check_similar_items(subject: _Subject) -> None:
    """``similar_items``: (n, k) best first without the query item, or a clear refusal."""
    fitted, queries = subject.fitted, np.array([0, 5, 7])
    if not fitted.supports_similar_items:
        with pytest.raises(SiftrecError, match="similar items"):
            fitted.similar_items(queries, k=3)
        return
    items, scores = fitted.similar_items(queries, k=4)
    assert items.shape == scores.shape == (3, 4)
    assert not (items == queries[:, None]).any(), "a query item is among its own similar items"
    assert (np.diff(scores, axis=1) <= 0).all()
    frame = fitted.similar_items_raw(fitted.item_map_.to_raw(queries), k=4, as_="polars")
    assert frame.columns == ["item", "similar_item", "rank", "score"]


def check_sklearn_params(subject: _Subject) -> None:
    """scikit-learn's estimator protocol: ``get_params(deep=...)``, ``set_params`` (parsed,
    returns self) and the round trip ``clone`` relies on (a model built from its params
    returns those very objects)."""
    model = subject.build()
    params = model.get_params(deep=True)
    assert params == model.get_params(deep=False)
    rebuilt = type(model)(**params)
    assert all(rebuilt.get_params()[k] is v for k, v in params.items())
    key, value = next(iter(params.items()))
    assert model.set_params(**{key: value}) is model
    with pytest.raises(SiftrecError, match="unknown hyperparameter"):
        model.set_params(no_such_param=1)


def check_learning_floor(subject: _Subject, floor: float) -> None:
    train, test = learning_split()
    model = subject.build().fit(train)
    value = evaluate(model, test, FLOOR_METRIC).metrics[FLOOR_METRIC]
    assert value >= floor, f"{subject.name}: {FLOOR_METRIC} {value:.4f} below its floor {floor}"


#: Checks run on every configuration of a model.
CONFIGURATION_CHECKS: tuple[Callable[[_Subject], None], ...] = (
    check_score_shape_and_dtype,
    check_score_pairs_match_rows,
    check_recommend_excludes_seen,
    check_recommend_extra_exclusion,
    check_recommend_leaves_scores_untouched,
    check_batch_equals_single,
    check_scores_sorted,
    check_save_load_round_trip,
    check_same_seed_same_scores,
    check_bad_users_and_k,
    check_unfitted_refused,
    check_empty_fit_refused,
)


def model_checks(name: str, case: ModelCase) -> list[tuple[str, Callable[[], None]]]:
    """The checks of one model as ``(test id, zero-argument check)`` pairs, e.g.
    ``("ials[cg]-check_save_load_round_trip", ...)``."""
    main, checks = configuration_checks(
        name, case.params, case.variants, _Subject, CONFIGURATION_CHECKS
    )
    learner = _Subject(name, case.learn_params if case.learn_params is not None else case.params)
    return [
        *checks,
        named(name, check_unknown_param_refused, main),
        named(name, check_bad_params_refused, main, case.bad_params),
        named(name, check_fold_in, main),
        named(name, check_similar_items, main),
        named(name, check_sklearn_params, main),
        named(name, check_learning_floor, learner, case.ndcg_floor),
    ]


def parametrize_model_checks(cases: Mapping[str, ModelCase] = MODEL_CASES):
    """A pytest decorator: one test per (model configuration, check), the zero-argument check
    passed as the ``check`` argument (ids like ``mf[adam_bias]-check_scores_sorted``)."""
    pairs = [pair for name, case in cases.items() for pair in model_checks(name, case)]
    return pytest.mark.parametrize("check", [c for _, c in pairs], ids=[i for i, _ in pairs])


def check_model(name: str, case: ModelCase) -> None:
    """Run every check of one model in turn (outside pytest's parametrisation)."""
    for _, check in model_checks(name, case):
        check()
