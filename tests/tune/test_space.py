"""Sampling the declared spaces: every drawn configuration constructs and fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import optuna
import pytest

from siftrec import SiftrecError
from siftrec.components import parse_spec
from siftrec.models import available_models, get_model_class
from siftrec.models.torch_base import TorchRecommender
from siftrec.objectives import get_objective
from siftrec.samplers import get_sampler
from siftrec.search_space import Categorical, declared_space
from siftrec.testing import contract_log
from siftrec.tune.space import fixed_params, restricted_space, sample_params, space_markdown

optuna.logging.set_verbosity(optuna.logging.WARNING)
DOCS = Path(__file__).resolve().parents[2] / "docs" / "tuning.md"


def draws(model: str, n: int, fixed: dict | None = None, seed: int = 0) -> list[dict]:
    """``n`` parameter sets drawn from ``model``'s space by a seeded random sampler."""
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    model_cls = get_model_class(model)
    out = []
    for _ in range(n):
        trial = study.ask()
        params = sample_params(trial, model_cls, fixed_params(model_cls, fixed or {}))
        out.append({"params": params, "drawn": dict(trial.params)})
        study.tell(trial, 0.0)
    return out


@pytest.mark.parametrize("model", available_models())
def test_every_sampled_configuration_constructs(model):
    model_cls = get_model_class(model)
    for draw in draws(model, 40):
        params = draw["params"]
        estimator = model_cls(**params)
        if isinstance(estimator, TorchRecommender):
            get_objective(estimator.config.objective)
            get_sampler(estimator.config.sampler)
        for key, value in params.items():
            assert getattr(estimator.config, key) == value


@pytest.mark.parametrize("model", available_models())
def test_sampled_configurations_fit(model):
    data = contract_log()
    torch = issubclass(get_model_class(model), TorchRecommender)
    fixed = {"epochs": 2, "device": "cpu"} if torch else {}
    for draw in draws(model, 2, fixed, seed=1):
        estimator = get_model_class(model)(**draw["params"]).fit(data)
        assert estimator.score(np.array([0])).shape == (1, data.n_items)


def test_component_parameters_are_drawn_only_for_the_chosen_component():
    seen = set()
    for draw in draws("mf", 60):
        name, spec_params = parse_spec(draw["params"]["objective"])
        seen.add(name)
        sub = [k for k in draw["drawn"] if k.startswith("objective.")]
        assert all(k.startswith(f"objective.{name}.") for k in sub)
        assert set(spec_params) == {k.split(".")[-1] for k in sub}
        if name == "tce":
            assert 0.05 <= float(spec_params["drop_rate"]) <= 0.5
    assert seen == {"bpr", "bce", "tce", "rce", "nbpo", "relmf", "ubpr"}


def test_when_conditions_gate_parameters():
    for draw in draws("ials", 30):
        params, drawn = draw["params"], draw["drawn"]
        assert ("epsilon" in drawn) == (params["confidence"] == "log")
        assert ("reg_exponent" in drawn) == (params["reg_scaling"] == "frequency")


def test_fixed_parameters_are_not_drawn():
    for draw in draws("mf", 5, {"dim": "8", "objective": "tce(drop_rate=0.1)"}):
        params = draw["params"]
        assert params["dim"] == 8 and "dim" not in draw["drawn"]
        name, spec_params = parse_spec(params["objective"])
        assert name == "tce" and spec_params["drop_rate"] == "0.1"
        assert "ramp_epochs" in spec_params  # the rest of T-CE's space is still searched
        assert "objective" not in draw["drawn"]


def test_bad_fixed_parameters_fail_before_any_trial():
    mf = get_model_class("mf")
    with pytest.raises(SiftrecError, match="unknown hyperparameter 'dimm'"):
        fixed_params(mf, {"dimm": "8"})
    with pytest.raises(SiftrecError, match="unknown objective 'tcee'"):
        fixed_params(mf, {"objective": "tcee"})
    with pytest.raises(SiftrecError, match="objective=auto"):
        fixed_params(mf, {"objective": "auto"})


def test_the_documented_spaces_are_the_declared_ones():
    assert space_markdown() in DOCS.read_text(), (
        "docs/tuning.md is out of date; paste the output of "
        "`python -c 'from siftrec.tune import space_markdown; print(space_markdown())'`"
    )


def test_choices_narrow_a_component_field_and_keep_each_components_space():
    mf = get_model_class("mf")
    space = restricted_space(mf, {"objective": ["tce", "R-CE", "nbpo"]})
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    seen = set()
    for _ in range(30):
        trial = study.ask()
        params = sample_params(trial, mf, fixed_params(mf, {"sampler": "uniform"}), space)
        name, spec_params = parse_spec(params["objective"])
        seen.add(name)
        assert spec_params, "the chosen denoiser's own space is still drawn"
        study.tell(trial, 0.0)
    assert seen == {"tce", "rce", "nbpo"}


def test_choices_turn_a_range_into_a_choice_among_the_listed_values():
    mf = get_model_class("mf")
    space = restricted_space(mf, {"dim": ["8", 32]})
    assert space["dim"] == Categorical((8, 32))
    assert space["lr"] == declared_space(mf)["lr"]  # the other fields keep their ranges


@pytest.mark.parametrize(
    ("choices", "message"),
    [
        ({"epochs": [1, 2]}, "epochs is not a searched parameter of mf"),
        ({"objective": ["tce"]}, "two or more values"),
        ({"objective": "tce,rce"}, "two or more values"),
        ({"objective": ["tce", "multinomial"]}, "'multinomial' is not among the declared"),
        ({"objective": ["tce", "nosuch"]}, "unknown objective 'nosuch'"),
        ({"objective": ["tce", "tce(drop_rate=0.1)"]}, "sets parameters"),
        ({"objective": ["tce", "t-ce"]}, "repeat"),
        ({"dim": [8, "8"]}, "repeat"),
        ({"dim": [8, "wide"]}, "dim"),
    ],
)
def test_bad_choices_are_one_line_errors(choices, message):
    with pytest.raises(SiftrecError, match=message):
        restricted_space(get_model_class("mf"), choices)
