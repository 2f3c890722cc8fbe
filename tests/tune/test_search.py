"""``tune``: outputs, resume after interruption, seeded reproducibility, pruning, refit, errors."""

from __future__ import annotations

import json

import numpy as np
import optuna
import polars as pl
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.components import parse_spec
from siftrec.evaluate import evaluate
from siftrec.models import MF, load_model
from siftrec.search_space import Categorical
from siftrec.tune import tune
from siftrec.tune.search import STUDY_NAME

#: Cheap MF trials: the plain objective and sampler fixed, the model's own ranges searched.
FAST = {"epochs": 3, "device": "cpu", "batch_size": 64, "objective": "bpr", "sampler": "uniform"}


@pytest.fixture(scope="module")
def data() -> Interactions:
    """Two user groups, each clicking only in its own half of the catalog (learnable fast)."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(60):
        chosen = rng.choice(20, size=10, replace=False) + 20 * (u % 2)
        users += [f"u{u}"] * 10
        items += list(chosen)
    return Interactions.from_raw(np.array(users), np.array(items))


def params_of(table: pl.DataFrame, state: str = "complete") -> list[dict]:
    return [json.loads(p) for p in table.filter(pl.col("state") == state)["params"]]


def test_a_tiny_search_writes_the_study_the_table_and_the_best_model(data, tmp_path):
    lines: list[str] = []
    result = tune("mf", data, trials=3, out=tmp_path, seed=0, params=FAST, progress=lines.append)
    assert (tmp_path / "study.db").is_file()
    table = pl.read_parquet(tmp_path / "trials.parquet")
    assert table.columns == ["number", "state", "value", "params", "duration", "epochs", "error"]
    assert table["number"].to_list() == [0, 1, 2]
    assert table["state"].to_list() == ["complete"] * 3
    assert result.best_value == table["value"].max()
    assert table["value"][result.best_trial] == result.best_value
    assert (table["duration"] > 0).all()
    best = load_model(tmp_path / "best")
    assert best.name == "mf" and best.n_users == data.n_users
    # refitted on the whole log, for the epochs that were best on the carve
    assert best.get_params()["dim"] == result.best_params["dim"]
    assert best.get_params()["epochs"] <= FAST["epochs"]
    assert any(line.startswith("[3/3] trial 2:") for line in lines)
    assert "validation: a per-user carve of train" in lines[0]


def test_asking_for_more_trials_continues_to_that_total(data, tmp_path):
    tune("mf", data, trials=2, out=tmp_path, params=FAST)
    lines: list[str] = []
    tune("mf", data, trials=4, out=tmp_path, params=FAST, progress=lines.append)
    assert "resuming: 2 of 4 trials done" in lines
    table = pl.read_parquet(tmp_path / "trials.parquet")
    assert table["number"].to_list() == [0, 1, 2, 3]
    tune("mf", data, trials=4, out=tmp_path, params=FAST)  # reached: refit only, no new trial
    assert pl.read_parquet(tmp_path / "trials.parquet").height == 4


def test_an_interrupted_trial_is_run_again_with_the_same_parameters(data, tmp_path, monkeypatch):
    reference = tune("mf", data, trials=4, out=tmp_path / "whole", params=FAST).trials
    fit, calls = MF.fit, [0]

    def interrupted_fit(self, *args, **kwargs):
        calls[0] += 1
        if calls[0] == 3:
            raise KeyboardInterrupt
        return fit(self, *args, **kwargs)

    monkeypatch.setattr(MF, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        tune("mf", data, trials=4, out=tmp_path / "cut", params=FAST)
    monkeypatch.setattr(MF, "fit", fit)
    result = tune("mf", data, trials=4, out=tmp_path / "cut", params=FAST)
    table = result.trials
    assert table["state"].to_list() == ["complete", "complete", "fail", "complete", "complete"]
    assert table["error"][2] == "interrupted"
    assert params_of(table) == params_of(reference)
    assert params_of(table, "fail") == [params_of(reference)[2]]
    assert table.filter(pl.col("state") == "complete")["value"].to_list() == pytest.approx(
        reference["value"].to_list()
    )


def test_a_trial_left_running_by_a_killed_process_counts_as_interrupted(data, tmp_path):
    tune("mf", data, trials=1, out=tmp_path, params=FAST)
    storage = f"sqlite:///{tmp_path / 'study.db'}"
    optuna.load_study(study_name=STUDY_NAME, storage=storage).ask()  # the process dies here
    result = tune("mf", data, trials=2, out=tmp_path, params=FAST)
    assert result.trials["state"].to_list() == ["complete", "fail", "complete"]
    assert result.trials["error"].to_list() == [None, "interrupted", None]


def test_the_same_seed_draws_the_same_trials(data):
    first = tune("mf", data, trials=3, seed=7, params=FAST).trials
    again = tune("mf", data, trials=3, seed=7, params=FAST).trials
    other = tune("mf", data, trials=3, seed=8, params=FAST).trials
    assert params_of(first) == params_of(again)
    assert first["value"].to_list() == again["value"].to_list()
    assert [p["lr"] for p in params_of(first)] != [p["lr"] for p in params_of(other)]


def test_neighbouring_seeds_share_no_drawn_parameters(data):
    # trial k was once seeded with seed + k: seed 0's trial 1 repeated seed 1's trial 0
    def drawn(seed: int, trials: int) -> list[dict]:
        table = tune("mf", data, trials=trials, seed=seed, params=FAST).trials
        return [{k: v for k, v in p.items() if k != "seed"} for p in params_of(table)]

    zero, one = drawn(0, 3), drawn(1, 3)
    assert zero[0] != one[0]
    assert not [p for p in one if p in zero]
    assert drawn(1, 1) == one[:1]


def test_hopeless_trials_are_pruned_on_the_per_epoch_validation_metric(data, monkeypatch):
    # trials with lr 1e-6 cannot learn; once a learning trial (lr 0.5, drawn first with this
    # seed) is complete, the median pruner stops them at their first evaluated epoch
    monkeypatch.setattr(MF, "search_space", {"lr": Categorical((0.5, 1e-6))})
    pruner = optuna.pruners.MedianPruner(n_startup_trials=1, n_warmup_steps=0)
    params = {**FAST, "epochs": 4}
    table = tune("mf", data, trials=6, seed=2, params=params, pruner=pruner).trials
    pruned, complete = params_of(table, "pruned"), params_of(table, "complete")
    assert pruned and complete
    assert {p["lr"] for p in pruned} == {1e-6} and {p["lr"] for p in complete} == {0.5}
    assert table.filter(pl.col("state") == "pruned")["epochs"].to_list() == [1] * len(pruned)
    assert table.filter(pl.col("state") == "complete")["epochs"].to_list() == [4] * len(complete)


def test_with_a_validation_file_the_best_trial_is_refitted_exactly(data):
    from siftrec.data.splits import split_interactions

    split = split_interactions(data, "random", seed=3, test_ratio=0.2)
    result = tune("mf", split.train, split.test, trials=2, params=FAST)
    assert result.trials["value"].max() == result.best_value
    refit = evaluate(result.model, split.test, "ndcg@20").metrics["ndcg@20"]
    assert refit == pytest.approx(result.best_value)
    assert result.model.best_epoch_ is not None  # selected its epoch on the validation file


def test_models_without_epochs_report_once(data):
    result = tune("ials", data, trials=2, metric="recall@10")
    assert result.metric == "recall@10"
    assert [t.intermediate_values for t in result.study.trials] == [
        {1: t.value} for t in result.study.trials
    ]
    assert result.trials["epochs"].to_list() == [None, None]


def test_failing_trials_are_recorded_and_the_search_goes_on(data):
    with pytest.raises(SiftrecError, match=r"no trial completed \(2 fail\); .*diverged"):
        tune("mf", data, trials=2, params={**FAST, "lr": "1e30"}, pruner=optuna.pruners.NopPruner())


def test_a_directory_holding_another_search_is_refused(data, tmp_path):
    tune("mf", data, trials=1, out=tmp_path, params=FAST)
    with pytest.raises(SiftrecError, match="holds a search with params"):
        tune("mf", data, trials=2, out=tmp_path, params={**FAST, "epochs": 2})
    with pytest.raises(SiftrecError, match="holds a search with seed 0, not 1"):
        tune("mf", data, trials=2, out=tmp_path, params=FAST, seed=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"trials": 0}, "trials must be a positive integer"),
        ({"seed": -1}, "seed must be a non-negative integer"),
        ({"metric": "ndcg@20,recall@20"}, "one metric"),
        ({"timeout": 0}, "timeout must be a positive"),
        ({"validation_ratio": 1.0}, "validation_ratio must be in"),
        ({"params": {"metric": "recall@5"}}, "differs from the tuned metric"),
    ],
)
def test_bad_arguments_are_one_line_errors(data, kwargs, message):
    with pytest.raises(SiftrecError, match=message):
        tune("mf", data, **{"trials": 1, **kwargs})


def test_a_log_too_thin_to_carve_asks_for_a_validation_file():
    thin = Interactions.from_raw(np.array(["a", "b", "b"]), np.array([1, 1, 2]))
    with pytest.raises(SiftrecError, match="give a validation file"):
        tune("popularity", thin, trials=1, validation_ratio=0.2)


def test_the_timeout_stops_starting_trials(data):
    lines: list[str] = []
    result = tune("mf", data, trials=50, params=FAST, timeout=1e-9, progress=lines.append)
    assert result.trials.height == 1  # the first trial starts before the clock is checked


def test_choices_restrict_every_trial_and_enter_the_study_settings(data, tmp_path):
    fast = {k: v for k, v in FAST.items() if k != "objective"}
    choices = {"objective": ["tce", "rce"]}
    result = tune("mf", data, trials=3, out=tmp_path, params=fast, choices=choices)
    names = {parse_spec(p["objective"])[0] for p in params_of(result.trials)}
    assert names and names <= {"tce", "rce"}
    with pytest.raises(SiftrecError, match="holds a search with choices"):
        tune("mf", data, trials=3, out=tmp_path, params=fast)
    with pytest.raises(SiftrecError, match="both a fixed parameter and narrowed"):
        tune("mf", data, trials=1, params=FAST, choices=choices)
