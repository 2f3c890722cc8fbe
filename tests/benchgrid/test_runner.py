"""Running grids: results rows, resume without rerunning, failures recorded, tuning on validation,
pre-split files, summary tables and plots.

Cells made to fail at run time skip the preflight (``check=False``), which would refuse them
before the first cell runs (tests/benchgrid/test_check.py); the runner's own guards still hold
for what the preflight cannot see.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest

from siftrec.benchgrid import Grid, load_grid, parse_grid, run_grid, write_plots, write_summary
from siftrec.benchgrid.report import noise_figure
from siftrec.benchgrid.runner import load_split, study_dir
from siftrec.components import parse_spec
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions
from siftrec.evaluate import evaluate
from siftrec.models import ItemKNN
from siftrec.tune import tune

SMOKE = Path(__file__).resolve().parents[2] / "bench" / "grids" / "smoke.toml"
SYN = {
    "name": "syn",
    "synthetic": {"n_users": 120, "n_items": 80},
    "split": {"scheme": "random", "test_ratio": 0.2, "validation_ratio": 0.1},
}


def small(models: list[dict], **overrides) -> dict:
    raw = {
        "seeds": [0, 1],
        "datasets": [SYN],
        "models": models,
        "metrics": ["recall@10", "ndcg@10"],
    }
    raw.update(overrides)
    return raw


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("smoke")
    summary = run_grid(load_grid(SMOKE), out, progress=False)
    assert summary.skipped == 0 and summary.failed == 0
    return out


def test_smoke_results_one_row_per_cell(smoke_run):
    grid = load_grid(SMOKE)
    frame = pl.read_parquet(smoke_run / "results.parquet")
    assert frame["cell_id"].to_list() == [c.cell_id for c in grid.cells()]
    assert set(frame["status"]) == {"ok"}
    for column in [*grid.metrics, "fit_seconds", "eval_seconds", "peak_memory_mb", "params"]:
        assert frame[column].null_count() == 0, column
    assert (frame["recall@20"] > 0).all() and (frame["peak_memory_mb"] > 0).all()
    assert set(frame["noise"]) == {"none", "random 0.2"}
    noisy = frame.filter(frame["noise"] == "random 0.2")["n_train"].to_numpy()
    clean = frame.filter(frame["noise"] == "none")["n_train"].to_numpy()
    assert (noisy > clean).all()  # noise is injected into train
    knn = frame.filter(frame["model"] == "itemknn")
    assert {json.loads(t)["k"] for t in knn["tuned"]} <= {20, 100}
    assert all(
        json.loads(p)["k"] == json.loads(t)["k"]
        for p, t in zip(knn["params"], knn["tuned"], strict=True)
    )
    for cell_id in frame["cell_id"]:
        per_user = pl.read_parquet(smoke_run / "per_user" / f"{cell_id}.parquet")
        assert per_user.columns == ["user", "recall@20", "ndcg@20"]
        row = frame.filter(frame["cell_id"] == cell_id)
        assert per_user["ndcg@20"].mean() == pytest.approx(row["ndcg@20"][0])


def test_rerun_runs_nothing_and_keeps_bytes(smoke_run):
    before = (smoke_run / "results.parquet").read_bytes()
    records = {p: p.stat().st_mtime_ns for p in (smoke_run / "cells").iterdir()}
    summary = run_grid(load_grid(SMOKE), smoke_run, progress=False)
    assert summary.ran == 0 and summary.skipped == len(records)
    assert (smoke_run / "results.parquet").read_bytes() == before
    assert {p: p.stat().st_mtime_ns for p in (smoke_run / "cells").iterdir()} == records


def test_summary_tables(smoke_run):
    text = write_summary(smoke_run).read_text()
    for name in ("popularity", "itemknn", "ease", "## synthetic — noise: none", "random 0.2"):
        assert name in text
    assert text.count(" ± ") >= 2 * 3 * 3  # two noise groups × three models × three columns
    assert "**" in text and "Wilcoxon" in text and "p=" in text


def test_plots_are_pngs(smoke_run):
    paths = write_plots(smoke_run)
    assert sorted(p.name for p in paths) == [
        "synthetic_fit_time.png",
        "synthetic_noise.png",
        "synthetic_noise_ndcg-20.png",
        "synthetic_noise_recall-20.png",
    ]
    for path in paths:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_noise_figure_one_curve_per_model_with_seed_std():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [
        {"model": m, "noise_ratio": r, "seed": s, "recall@20": base - r + 0.01 * s}
        for m, base in (("bpr", 0.3), ("pld", 0.4))
        for r in (0.0, 0.2, 0.5)
        for s in (0, 1, 2)
    ]
    fig = noise_figure(pl.DataFrame(rows), ["recall@20"], "ml-1m")
    (ax,) = fig.axes
    assert ax.get_xlabel() == "injected noise ratio (train only)"
    assert ax.get_ylabel() == "test Recall@20"
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["bpr", "pld"]
    assert len(ax.containers) == 2  # one errorbar curve per model
    for container, base in zip(ax.containers, (0.3, 0.4), strict=True):
        _, y = container.lines[0].get_data()
        np.testing.assert_allclose(y, [base + 0.01, base - 0.2 + 0.01, base - 0.5 + 0.01])
        low, high = container.lines[2][0].get_segments()[0][:, 1]
        assert high - low == pytest.approx(2 * 0.01)  # ± sample std over the three seeds
    assert "3 seeds" in fig._suptitle.get_text()
    assert list(ax.get_xticks()) == [0.0, 0.2, 0.5]
    plt.close(fig)


def test_interrupted_run_resumes_only_missing_cells(tmp_path):
    grid = parse_grid(small([{"model": "popularity"}, {"model": "itemknn"}]))
    run_grid(grid, tmp_path, progress=False)
    (tmp_path / "cells" / "syn__itemknn__none__seed1.json").unlink()
    assert pl.read_parquet(tmp_path / "results.parquet").height == 4
    summary = run_grid(grid, tmp_path, progress=False)
    assert (summary.ran, summary.skipped) == (1, 3)
    assert pl.read_parquet(tmp_path / "results.parquet").height == 4


def test_changed_cell_config_reruns_that_cell(tmp_path):
    run_grid(
        parse_grid(small([{"model": "popularity"}, {"model": "itemknn"}])), tmp_path, progress=False
    )
    changed = parse_grid(small([{"model": "popularity"}, {"model": "itemknn", "params": {"k": 5}}]))
    summary = run_grid(changed, tmp_path, progress=False)
    assert (summary.ran, summary.skipped) == (2, 2)
    params = pl.read_parquet(tmp_path / "results.parquet").filter(pl.col("model") == "itemknn")[
        "params"
    ]
    assert all(json.loads(p)["k"] == 5 for p in params)


def test_failing_cell_is_recorded_and_grid_continues(tmp_path):
    grid = parse_grid(
        small(
            [{"model": "popularity"}, {"label": "bad", "model": "itemknn", "params": {"nosuch": 1}}]
        )
    )
    summary = run_grid(grid, tmp_path, progress=False, check=False)
    assert (summary.ran, summary.failed) == (4, 2)
    frame = pl.read_parquet(tmp_path / "results.parquet")
    bad = frame.filter(pl.col("model") == "bad")
    assert set(bad["status"]) == {"failed"} and all("nosuch" in e for e in bad["error"])
    assert bad["recall@10"].null_count() == 2
    assert set(frame.filter(pl.col("model") == "popularity")["status"]) == {"ok"}
    assert "## Failed cells" in write_summary(tmp_path).read_text()
    assert run_grid(grid, tmp_path, progress=False, check=False).ran == 0
    assert run_grid(grid, tmp_path, retry_failed=True, progress=False, check=False).ran == 2


def test_summary_lists_every_failed_cell_this_run_and_earlier(tmp_path):
    """A file that exists and has a known format passes the preflight but fails to read."""
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    bad = {"name": "bad", "train": str(tmp_path / "bad.csv"), "test": str(tmp_path / "bad.csv")}
    grid = parse_grid(small([{"model": "popularity"}], datasets=[SYN, bad]))
    summary = run_grid(grid, tmp_path / "run", progress=False)
    assert (summary.ran, summary.failed, summary.total) == (4, 2, 4)
    error = "SiftrecError: bad.csv: no user column (looked for user/user_id/userid/uid); found "
    assert [name for name, _ in summary.failures] == [
        "bad/popularity/seed0",
        "bad/popularity/seed1",
    ]
    assert all(message.startswith(error) for _, message in summary.failures)
    resumed = run_grid(grid, tmp_path / "run", progress=False)
    assert (resumed.ran, resumed.failed) == (0, 0) and resumed.failures == summary.failures
    only = run_grid(grid, tmp_path / "run", progress=False, only=["popularity"])
    assert only.total == 4 and len(only.failures) == 2
    write_interactions(generate(n_users=30, n_items=20, seed=0).interactions, tmp_path / "bad.csv")
    fixed = run_grid(grid, tmp_path / "run", progress=False, retry_failed=True)
    assert (fixed.ran, fixed.failed, fixed.failures) == (2, 0, [])


def test_search_without_validation_fails_the_cell(tmp_path):
    dataset = {**SYN, "split": {"scheme": "random", "test_ratio": 0.2}}
    grid = parse_grid(
        small([{"model": "itemknn", "search": {"k": [5, 10]}}], datasets=[dataset], seeds=[0])
    )
    run_grid(grid, tmp_path, progress=False, check=False)
    error = pl.read_parquet(tmp_path / "results.parquet")["error"][0]
    assert "no validation part" in error


def test_tuning_picks_the_best_validation_score_not_test(tmp_path):
    grid = parse_grid(small([{"model": "itemknn", "search": {"k": [1, 5, 40]}}], seeds=[3]))
    run_grid(grid, tmp_path, progress=False)
    row = pl.read_parquet(tmp_path / "results.parquet").row(0, named=True)
    split = load_split(grid.datasets[0], 3)
    scores = {
        k: evaluate(ItemKNN(k=k).fit(split.train), split.validation, "recall@10").metrics[
            "recall@10"
        ]
        for k in (1, 5, 40)
    }
    best = max(scores, key=lambda k: (scores[k], -k))
    assert json.loads(row["tuned"]) == {"k": best}
    assert row["validation_score"] == pytest.approx(scores[best])
    final = ItemKNN(k=best).fit(split.train)
    test = evaluate(final, split.test, "recall@10", exclude=split.validation).metrics["recall@10"]
    assert row["recall@10"] == pytest.approx(test)


def test_auto_cell_records_the_chosen_objective(tmp_path):
    """objective=auto chooses inside fit: the cell's ``tuned`` says what it chose."""
    model = {
        "model": "mf",
        "objective": "auto",
        "params": {"epochs": 2, "dim": 8, "auto_candidates": "bce"},
    }
    grid = parse_grid(small([model], seeds=[0]))
    run_grid(grid, tmp_path, progress=False)
    row = pl.read_parquet(tmp_path / "results.parquet").row(0, named=True)
    tuned = json.loads(row["tuned"])
    assert tuned["objective"] in ("bpr", "bce") and tuned["sampler"] == "uniform"


def test_given_files_with_env_path(tmp_path, monkeypatch):
    data = generate(n_users=100, n_items=60, seed=0).interactions
    rng = np.random.default_rng(0)
    held = rng.random(len(data)) < 0.2
    write_interactions(data.subset(~held), tmp_path / "train.csv")
    write_interactions(data.subset(held), tmp_path / "test.csv")
    monkeypatch.setenv("SIFTREC_DATA", str(tmp_path))
    dataset = {
        "name": "files",
        "train": "${SIFTREC_DATA}/train.csv",
        "test": "${SIFTREC_DATA}/test.csv",
    }
    missing = {
        "name": "gone",
        "train": "${SIFTREC_DATA}/nope.csv",
        "test": "${SIFTREC_DATA}/test.csv",
    }
    grid = parse_grid(small([{"model": "popularity"}], datasets=[dataset, missing], seeds=[0]))
    run_grid(grid, tmp_path / "run", progress=False, check=False)
    frame = pl.read_parquet(tmp_path / "run" / "results.parquet")
    assert frame["status"].to_list() == ["ok", "failed"]
    assert frame["n_train"][0] == int((~held).sum())
    assert "does not exist" in frame["error"][1]


def test_carved_validation_tunes_on_train_share_and_refits_on_all_train(tmp_path):
    dataset = {
        **SYN,
        "split": {"scheme": "random", "test_ratio": 0.2},
        "tune_validation_ratio": 0.25,
    }
    grid = parse_grid(
        small([{"model": "itemknn", "search": {"k": [1, 5, 40]}}], datasets=[dataset], seeds=[2])
    )
    run_grid(grid, tmp_path, progress=False)
    row = pl.read_parquet(tmp_path / "results.parquet").row(0, named=True)
    assert row["status"] == "ok"
    split = load_split(grid.datasets[0], 2)
    inner = split_interactions(split.train, "random", test_ratio=0.25, seed=2)
    scores = {
        k: evaluate(ItemKNN(k=k).fit(inner.train), inner.test, "recall@10").metrics["recall@10"]
        for k in (1, 5, 40)
    }
    best = max(scores, key=lambda k: (scores[k], -k))
    assert json.loads(row["tuned"]) == {"k": best}
    assert row["validation_score"] == pytest.approx(scores[best])
    assert row["n_train"] == len(split.train)
    final = ItemKNN(k=best).fit(split.train)
    assert row["recall@10"] == pytest.approx(
        evaluate(final, split.test, "recall@10").metrics["recall@10"]
    )


def test_carved_validation_beside_a_validation_part_fails_the_cell(tmp_path):
    dataset = {**SYN, "tune_validation_ratio": 0.2}
    grid = parse_grid(
        small([{"model": "itemknn", "search": {"k": [5, 10]}}], datasets=[dataset], seeds=[0])
    )
    run_grid(grid, tmp_path, progress=False, check=False)
    assert (
        "already has a validation part" in pl.read_parquet(tmp_path / "results.parquet")["error"][0]
    )


# ---------------------------------------------------------------------- MAR datasets
def write_yahoo_layout(directory: Path, seed: int = 0) -> Path:
    """A tiny Yahoo! R3 directory: an MNAR ``user.txt`` and an MAR ``random.txt`` (user,item,r)."""
    rng = np.random.default_rng(seed)
    n_users, n_items = 40, 30
    directory.mkdir(parents=True, exist_ok=True)
    for name, per_user, popular in (("user.txt", 12, True), ("random.txt", 5, False)):
        weights = np.linspace(3, 1, n_items) if popular else np.ones(n_items)
        rows = []
        for user in range(n_users):
            items = rng.choice(n_items, per_user, replace=False, p=weights / weights.sum())
            ratings = rng.integers(1, 6, per_user)
            rows += [f"{user},{i},{r}" for i, r in zip(items, ratings, strict=True)]
        (directory / name).write_text("\n".join(rows) + "\n")
    return directory


MAR_METRICS = ["dcg@3", "recall@5", "map@5", "all:ndcg@5"]


def mar_grid(directory: Path, models: list[dict], **mar) -> dict:
    options = {"reader": "yahoo-r3", "threshold": 4, "validation_ratio": 0.2, **mar}
    return {
        "seeds": [0],
        "datasets": [{"name": "mar", "dir": str(directory), "mar": options}],
        "models": models,
        "metrics": MAR_METRICS,
        "tune_metric": "snips-dcg@5",
    }


def test_mar_grid_tunes_on_validation_and_tests_on_the_mar_log(tmp_path):
    from siftrec.bias import popularity_propensities
    from siftrec.data.mar import mnar_split, read_yahoo_r3
    from siftrec.evaluate.unbiased import evaluate_ips, evaluate_mar_all, evaluate_mar_rated
    from siftrec.models import get_model_class

    data_dir = write_yahoo_layout(tmp_path / "yahoo")
    search = {"factors": [2, 8], "regularization": [0.1, 30.0]}
    models = [
        {"model": "random"},
        {"model": "ials", "params": {"iterations": 3, "device": "cpu"}, "search": search},
    ]
    grid = parse_grid(mar_grid(data_dir, models, split_seed=7), default_name="mar")
    run_grid(grid, tmp_path / "run", progress=False)
    frame = pl.read_parquet(tmp_path / "run" / "results.parquet")
    assert frame["status"].to_list() == ["ok", "ok"], frame["error"].to_list()
    row = frame.filter(pl.col("model") == "ials").row(0, named=True)

    split = mnar_split(read_yahoo_r3(data_dir), threshold=4, validation_ratio=0.2, seed=7)
    ials = get_model_class("ials")
    theta = popularity_propensities(split.train, 0.5)
    scores = {}
    for factors in (2, 8):
        for reg in (0.1, 30.0):
            model = ials(factors=factors, regularization=reg, iterations=3, seed=0, device="cpu")
            model.fit(split.train)
            result = evaluate_ips(model, split.validation, "dcg@5", theta, estimator="snips")
            scores[(factors, reg)] = result.metrics["dcg@5"]
    best = max(scores, key=scores.get)
    assert json.loads(row["tuned"]) == {"factors": best[0], "regularization": best[1]}
    assert row["validation_score"] == pytest.approx(scores[best])
    assert row["n_train"] == len(split.train)

    final = ials(factors=best[0], regularization=best[1], iterations=3, seed=0, device="cpu")
    final.fit(split.train)
    rated = evaluate_mar_rated(final, split.test, ks=(3, 5)).metrics
    every = evaluate_mar_all(final, split.test, "ndcg@5").metrics
    for metric in ("dcg@3", "recall@5", "map@5"):
        assert row[metric] == pytest.approx(rated[metric])
    assert row["all:ndcg@5"] == pytest.approx(every["ndcg@5"])
    per_user = pl.read_parquet(tmp_path / "run" / "per_user" / f"{row['cell_id']}.parquet")
    assert per_user.columns == ["user", *MAR_METRICS]
    assert per_user.height == split.test.n_users  # every MAR user ranks its rated items
    for metric in MAR_METRICS:
        assert np.nanmean(per_user[metric].to_numpy()) == pytest.approx(row[metric])
    assert per_user["all:ndcg@5"].is_nan().any()  # users without a relevant MAR item

    summary = write_summary(tmp_path / "run").read_text()
    assert "Paired Wilcoxon vs `random`" in summary and "n/a" not in summary
    assert "nan" not in summary.replace("**", "")


def test_mar_validation_never_sees_the_test_log(tmp_path):
    """Another MAR test log leaves the tuning (choice and validation score) unchanged."""
    models = [{"model": "ials", "params": {"iterations": 2}, "search": {"factors": [2, 4, 8]}}]
    rows = []
    for test_seed in (1, 2):
        data_dir = write_yahoo_layout(tmp_path / f"yahoo{test_seed}")
        other = write_yahoo_layout(tmp_path / f"other{test_seed}", seed=test_seed)
        (data_dir / "random.txt").write_text((other / "random.txt").read_text())
        run = tmp_path / f"run{test_seed}"
        run_grid(parse_grid(mar_grid(data_dir, models)), run, progress=False)
        rows.append(pl.read_parquet(run / "results.parquet").row(0, named=True))
    assert rows[0]["tuned"] == rows[1]["tuned"]
    assert rows[0]["validation_score"] == rows[1]["validation_score"]
    assert rows[0]["dcg@3"] != rows[1]["dcg@3"]


def write_coat_layout(directory: Path) -> Path:
    """A tiny Coat directory: dense train/test rating matrices and per-pair propensities."""
    rng = np.random.default_rng(5)
    shape = (30, 20)
    train = np.where(rng.random(shape) < 0.4, rng.integers(1, 6, shape), 0)
    test = np.where((train == 0) & (rng.random(shape) < 0.3), rng.integers(1, 6, shape), 0)
    propensity = rng.uniform(0.05, 0.9, shape)
    directory.mkdir(parents=True, exist_ok=True)
    for name, matrix in (("train", train), ("test", test), ("propensities", propensity)):
        text = "\n".join(" ".join(f"{v:g}" for v in row) for row in matrix)
        (directory / f"{name}.ascii").write_text(text + "\n")
    return directory


@pytest.mark.parametrize("propensities", ["log", "power-law"])
def test_mar_validation_weights_by_the_log_column_or_the_power_law(tmp_path, propensities):
    from siftrec.bias import popularity_propensities
    from siftrec.evaluate.unbiased import evaluate_ips
    from siftrec.models import get_model_class

    data_dir = write_coat_layout(tmp_path / "coat")
    models = [{"model": "random", "search": {"seed": [0, 1, 2]}}]
    raw = mar_grid(data_dir, models, reader="coat", propensities=propensities)
    raw["tune_metric"] = "ips-recall@5"
    grid = parse_grid(raw)
    run_grid(grid, tmp_path / "run", progress=False)
    row = pl.read_parquet(tmp_path / "run" / "results.parquet").row(0, named=True)
    assert row["status"] == "ok", row["error"]
    split = load_split(grid.datasets[0], 0)
    assert split.validation.has_column("propensity") == (propensities == "log")
    theta = None if propensities == "log" else popularity_propensities(split.train, 0.5)
    seed = json.loads(row["tuned"])["seed"]
    model = get_model_class("random")(seed=seed).fit(split.train)
    expected = evaluate_ips(model, split.validation, "recall@5", theta, estimator="ips")
    assert row["validation_score"] == pytest.approx(expected.metrics["recall@5"])


def test_mar_dataset_with_a_missing_directory_fails_the_cell(tmp_path):
    grid = parse_grid(mar_grid(tmp_path / "nowhere", [{"model": "random"}]))
    run_grid(grid, tmp_path / "run", progress=False, check=False)
    error = pl.read_parquet(tmp_path / "run" / "results.parquet")["error"][0]
    assert "does not exist" in error and "\n" not in error


# ---------------------------------------------------------------------- Optuna searches
def optuna_grid(trials: int = 3, dataset: dict | None = None, **model) -> Grid:
    search = {"method": "optuna", "trials": trials}
    spec = {"label": "knn", "model": "itemknn", "search": search, **model}
    return parse_grid(small([spec], datasets=[dataset or SYN], seeds=[4]))


def test_optuna_cell_tunes_on_validation_with_the_cell_seed_and_tests_the_refit(tmp_path):
    grid = optuna_grid()
    run_grid(grid, tmp_path, progress=False)
    row = pl.read_parquet(tmp_path / "results.parquet").row(0, named=True)
    assert row["status"] == "ok", row["error"]
    split = load_split(grid.datasets[0], 4)
    direct = tune("itemknn", split.train, split.validation, trials=3, seed=4, metric="recall@10")
    assert row["validation_score"] == pytest.approx(direct.best_value)
    assert json.loads(row["tuned"]) == {k: direct.best_params[k] for k in ("k", "shrink")}
    assert row["trials"] == 3 and row["tune_seconds"] > 0
    test = evaluate(direct.model, split.test, "recall@10", exclude=split.validation)
    assert row["recall@10"] == pytest.approx(test.metrics["recall@10"])
    (cell,) = grid.cells()
    assert (study_dir(tmp_path, cell) / "study.db").is_file()


def test_optuna_cell_with_a_carve_tunes_on_the_carve_and_refits_on_all_train(tmp_path):
    dataset = {
        **SYN,
        "split": {"scheme": "random", "test_ratio": 0.2},
        "tune_validation_ratio": 0.25,
    }
    grid = optuna_grid(dataset=dataset)
    run_grid(grid, tmp_path, progress=False)
    row = pl.read_parquet(tmp_path / "results.parquet").row(0, named=True)
    split = load_split(grid.datasets[0], 4)
    direct = tune(
        "itemknn", split.train, trials=3, seed=4, metric="recall@10", validation_ratio=0.25
    )
    assert row["validation_score"] == pytest.approx(direct.best_value)
    assert row["n_train"] == len(split.train)
    test = evaluate(direct.model, split.test, "recall@10").metrics["recall@10"]
    assert row["recall@10"] == pytest.approx(test)


def test_an_interrupted_optuna_cell_resumes_its_trials(tmp_path, monkeypatch):
    grid = optuna_grid(trials=4)
    (cell,) = grid.cells()
    fits, cut_at = [], [3]
    original = ItemKNN.fit

    def interrupted(self, *args, **kwargs):
        fits.append(self.get_params())
        if len(fits) in cut_at:
            raise KeyboardInterrupt
        return original(self, *args, **kwargs)

    monkeypatch.setattr(ItemKNN, "fit", interrupted)
    with pytest.raises(KeyboardInterrupt):
        run_grid(grid, tmp_path, progress=False)
    assert not (tmp_path / "cells" / f"{cell.cell_id}.json").exists()
    first = pl.read_parquet(study_dir(tmp_path, cell) / "trials.parquet")
    assert first["state"].to_list() == ["complete", "complete"]
    fits.clear()
    cut_at.clear()
    run_grid(grid, tmp_path, progress=False)
    row = pl.read_parquet(tmp_path / "results.parquet").row(0, named=True)
    assert row["status"] == "ok" and row["trials"] == 4
    table = pl.read_parquet(study_dir(tmp_path, cell) / "trials.parquet")
    assert table["params"][:2].to_list() == first["params"].to_list()  # not run again
    assert table["error"][2] == "interrupted" and table["params"][3] == table["params"][2]
    assert len(fits) == 3  # the cut trial, the fourth, the refit of the best


def test_more_trials_continue_the_study_and_other_changes_start_afresh(tmp_path):
    run_grid(optuna_grid(trials=2), tmp_path, progress=False)
    (cell,) = optuna_grid(trials=2).cells()
    before = pl.read_parquet(study_dir(tmp_path, cell) / "trials.parquet")["params"].to_list()
    more = optuna_grid(trials=3)
    run_grid(more, tmp_path, progress=False)
    (cell,) = more.cells()
    after = pl.read_parquet(study_dir(tmp_path, cell) / "trials.parquet")["params"].to_list()
    assert after[:2] == before and len(after) == 3
    other = optuna_grid(trials=3, params={"shrink": 5.0})
    run_grid(other, tmp_path, progress=False)
    (cell,) = other.cells()
    assert [p.name for p in (tmp_path / "studies" / cell.cell_id).iterdir()] == [
        study_dir(tmp_path, cell).name
    ]
    assert pl.read_parquet(tmp_path / "results.parquet")["trials"][0] == 3


def test_optuna_search_narrowed_to_the_denoisers_draws_only_them(tmp_path):
    model = {
        "label": "mf",
        "model": "mf",
        "sampler": "uniform",
        "params": {"epochs": 2, "batch_size": 256},
        "search": {"method": "optuna", "trials": 2, "objective": ["tce", "rce"]},
    }
    run_grid(parse_grid(small([model], seeds=[0])), tmp_path, progress=False)
    row = pl.read_parquet(tmp_path / "results.parquet").row(0, named=True)
    assert row["status"] == "ok", row["error"]
    tuned = json.loads(row["tuned"])
    assert parse_spec(tuned["objective"])[0] in {"tce", "rce"}
    assert json.loads(row["params"])["objective"] == tuned["objective"]
    assert "sampler" not in tuned  # fixed, not drawn
