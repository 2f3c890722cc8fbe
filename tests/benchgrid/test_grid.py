"""Grid TOML parsing: cells in order, search candidates, noise settings, one-line errors."""

from __future__ import annotations

import dataclasses
import re
import tomllib
from pathlib import Path

import pytest

from siftrec.benchgrid import schema
from siftrec.benchgrid.grid import MARSpec, OptunaSearch, expand_path, load_grid, parse_grid
from siftrec.data.location import default_data_dir
from siftrec.errors import SiftrecError

SMOKE = Path(__file__).resolve().parents[2] / "bench" / "grids" / "smoke.toml"
DOCS = SMOKE.parents[2] / "docs" / "grids.md"


def minimal(**overrides) -> dict:
    raw = {
        "seeds": [0, 1],
        "datasets": [{"name": "syn", "synthetic": {"n_users": 50}, "split": {"scheme": "random"}}],
        "models": [{"model": "popularity"}, {"model": "itemknn", "search": {"k": [5, 10]}}],
    }
    raw.update(overrides)
    return raw


def test_smoke_grid_parses():
    grid = load_grid(SMOKE)
    assert grid.baseline == "popularity"
    assert len(grid.models) >= 2 and len(grid.seeds) >= 2
    cells = grid.cells()
    assert len(cells) == len(grid.datasets) * len(grid.models) * len(grid.noise) * len(grid.seeds)
    assert len({c.cell_id for c in cells}) == len(cells)


def test_cells_order_and_defaults():
    grid = parse_grid(minimal())
    assert grid.metrics == ("recall@20", "ndcg@20") and grid.tune_metric == "recall@20"
    assert [n.label for n in grid.noise] == ["none"]
    assert [(c.seed, c.model.label) for c in grid.cells()] == [
        (0, "popularity"),
        (0, "itemknn"),
        (1, "popularity"),
        (1, "itemknn"),
    ]
    assert grid.cells()[1].cell_id == "syn__itemknn__none__seed0"


def test_cell_names_for_messages():
    grid = parse_grid(minimal(noise={"kind": "popular", "ratios": [0.0, 0.2]}))
    names = [cell.name for cell in grid.cells()]
    assert names[:3] == [
        "syn/popularity/seed0",
        "syn/itemknn/seed0",
        "syn/popularity/popular-0.2/seed0",
    ]
    assert len(set(names)) == len(names)


def test_search_candidates_and_shorthands():
    grid = parse_grid(
        minimal(
            models=[{"model": "mf", "objective": "bce", "search": {"dim": [8, 16], "lr": [0.1]}}]
        )
    )
    model = grid.models[0]
    assert model.params == {"objective": "bce"}
    assert model.candidates() == [{"dim": 8, "lr": 0.1}, {"dim": 16, "lr": 0.1}]


def test_noise_ratios_dedupe_clean_and_label():
    grid = parse_grid(
        minimal(
            noise=[
                {"kind": "random", "ratios": [0, 0.1]},
                {"kind": "popular", "ratios": [0.0, 0.2]},
            ]
        )
    )
    assert [n.label for n in grid.noise] == ["none", "random 0.1", "popular 0.2"]


def test_config_hash_changes_with_params():
    a = parse_grid(minimal()).cells()[1]
    b = parse_grid(
        minimal(models=[{"model": "popularity"}, {"model": "itemknn", "search": {"k": [5]}}])
    ).cells()[1]
    assert a.cell_id == b.cell_id and a.config_hash() != b.config_hash()


def test_tune_validation_ratio_enters_the_hash_only_when_set():
    plain = parse_grid(minimal()).cells()[0]
    assert plain.config_hash() == "29bd67e7a047d777"  # as before the option existed: runs resume
    carved = minimal()
    carved["datasets"] = [{**carved["datasets"][0], "tune_validation_ratio": 0.2}]
    assert parse_grid(carved).cells()[0].config_hash() != plain.config_hash()


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"models": [{"model": "nosuch"}]}, "unknown model"),
        ({"baseline": "ease"}, "baseline"),
        ({"metrics": ["recall@20"], "tune_metric": "ndcg@20"}, "tune_metric"),
        ({"metrics": ["nosuch@3"]}, "nosuch"),
        ({"seeds": []}, "seeds"),
        ({"datasets": [{"name": "x", "path": "a.csv"}]}, "scheme"),
        ({"datasets": [{"name": "x", "train": "a.csv"}]}, "test file"),
        ({"datasets": [{"name": "x", "synthetic": {}, "path": "a"}]}, "exactly one"),
        ({"noise": {"kind": "weird", "ratios": [0.1]}}, "noise kind"),
        ({"noise": {"ratios": [-1]}}, "ratio"),
        ({"colour": 1}, "unknown grid key"),
        ({"models": [{"model": "ease", "params": {"l2": 1}, "search": {"l2": [1, 2]}}]}, "both"),
        ({"models": [{"model": "ease"}, {"model": "ease"}]}, "duplicate model"),
        (
            {
                "datasets": [
                    {
                        "name": "x",
                        "path": "a",
                        "split": {"scheme": "random"},
                        "tune_validation_ratio": 1.5,
                    }
                ]
            },
            "tune_validation_ratio",
        ),
        (
            {
                "datasets": [
                    {
                        "name": "x",
                        "train": "a",
                        "test": "b",
                        "validation": "c",
                        "tune_validation_ratio": 0.2,
                    }
                ]
            },
            "validation file",
        ),
    ],
)
def test_invalid_grids_are_one_line_errors(overrides, fragment):
    with pytest.raises(SiftrecError, match=fragment):
        parse_grid(minimal(**overrides))


def test_load_grid_errors(tmp_path):
    with pytest.raises(SiftrecError, match="does not exist"):
        load_grid(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("name = [")
    with pytest.raises(SiftrecError, match="not valid TOML"):
        load_grid(bad)


def test_expand_path(monkeypatch, tmp_path):
    (tmp_path / "repo").mkdir()
    (tmp_path / "shared" / "data").mkdir(parents=True)
    monkeypatch.setenv("SIFTREC_DATA", "/data/here")
    assert expand_path("${SIFTREC_DATA}/x.csv") == Path("/data/here/x.csv")
    monkeypatch.delenv("SIFTREC_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path / "repo")
    # The default is the per-user data directory, not a path beside the working directory.
    assert expand_path("${SIFTREC_DATA}/x") == default_data_dir() / "x"
    assert not expand_path("${SIFTREC_DATA}/x").is_relative_to(tmp_path / "shared")
    with pytest.raises(SiftrecError, match="NOT_SET_ANYWHERE"):
        expand_path("${NOT_SET_ANYWHERE}/x")


@pytest.mark.parametrize("path", sorted(SMOKE.parent.glob("*.toml")), ids=lambda p: p.name)
def test_every_shipped_grid_parses(path):
    grid = load_grid(path)
    assert grid.cells() and grid.baseline in [m.label for m in grid.models]


def mar_dataset(**mar) -> dict:
    return {"name": "y", "dir": "/data/yahoo", "mar": {"reader": "yahoo-r3", **mar}}


def test_mar_dataset_parses_with_defaults_and_enters_the_hash():
    raw = minimal(datasets=[mar_dataset()], metrics=["dcg@5", "all:ndcg@5"])
    grid = parse_grid(raw)
    (dataset,) = grid.datasets
    assert dataset.dir == "/data/yahoo" and dataset.mar.reader == "yahoo-r3"
    assert (dataset.mar.threshold, dataset.mar.validation_ratio) == (4.0, 0.1)
    assert (dataset.mar.split_seed, dataset.mar.propensities) == (12345, "log")
    assert grid.tune_metric == "snips-dcg@5"
    assert grid.meta()["tune_metric"] == "dcg@5"  # the plots' test column
    assert grid.meta()["validation_metric"] == "snips-dcg@5"
    other = parse_grid({**raw, "datasets": [mar_dataset(split_seed=1)]})
    assert other.cells()[0].config_hash() != grid.cells()[0].config_hash()


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"datasets": [mar_dataset(reader="movielens")]}, "mar.reader"),
        ({"datasets": [mar_dataset(validation_ratio=1.5)]}, "validation_ratio"),
        ({"datasets": [mar_dataset(threshold="4")]}, "threshold"),
        ({"datasets": [mar_dataset(split_seed=1.5)]}, "split_seed"),
        ({"datasets": [mar_dataset(propensities="learned")]}, "propensities"),
        ({"datasets": [mar_dataset(colour=1)]}, "unknown dataset 'y' mar key"),
        ({"datasets": [{"name": "y", "mar": {"reader": "coat"}}]}, "exactly one"),
        ({"datasets": [{"name": "y", "dir": "/d"}]}, "mar must be a table"),
        ({"datasets": [{**mar_dataset(), "split": {"scheme": "random"}}]}, "only name, dir"),
        ({"datasets": [mar_dataset(), minimal()["datasets"][0]]}, "all MAR sets"),
        ({"datasets": [mar_dataset()], "metrics": ["ndcg@5"]}, "unknown MAR metric"),
        ({"datasets": [mar_dataset()], "metrics": ["all:nosuch@5"]}, "nosuch"),
        ({"datasets": [mar_dataset()], "tune_metric": "dcg@5"}, "an IPS/SNIPS metric"),
        ({"datasets": [mar_dataset()], "tune_metric": "snips-map@5"}, "no IPS/SNIPS version"),
        ({"datasets": [mar_dataset()], "tune_metric": "all:ndcg@5"}, "not an IPS/SNIPS metric"),
        ({"datasets": [mar_dataset()], "metrics": ["all:snips-dcg@5"]}, "needs no propensities"),
    ],
)
def test_invalid_mar_grids_are_one_line_errors(overrides, fragment):
    with pytest.raises(SiftrecError, match=fragment) as info:
        parse_grid(minimal(**overrides))
    assert "\n" not in str(info.value)


# ---------------------------------------------------------------------- Optuna searches
def optuna_model(**search) -> dict:
    return {"model": "mf", "search": {"method": "optuna", "trials": 8, **search}}


def test_optuna_search_parses_with_its_settings_and_narrowed_fields():
    model = optuna_model(timeout=60, metric="ndcg@10", objective=["tce", "rce"])
    grid = parse_grid(minimal(models=[model, {"model": "popularity"}]))
    spec = grid.models[0]
    assert spec.optuna == OptunaSearch(trials=8, timeout=60.0, metric="ndcg@10")
    assert spec.search == {"objective": ["tce", "rce"]} and spec.searched
    assert not grid.models[1].searched
    plain = parse_grid(minimal(models=[optuna_model()])).models[0]
    assert plain.search == {} and plain.searched and plain.candidates() == [{}]


def test_the_optuna_settings_enter_the_hash_and_leave_other_cells_alone():
    one, two = (parse_grid(minimal(models=[optuna_model(trials=n)])).cells()[0] for n in (4, 8))
    assert one.config_hash() != two.config_hash()
    plain = parse_grid(minimal()).cells()[0]
    assert plain.config_hash() == "29bd67e7a047d777"  # grids without it resume as before


@pytest.mark.parametrize(
    ("search", "fragment"),
    [
        ({"method": "grid"}, "search.method must be one of 'optuna', got 'grid'"),
        ({"trials": None}, "an Optuna search needs trials = N"),
        ({"trials": 0}, "search.trials must be a positive integer, got 0"),
        ({"trials": 2.5}, "search.trials must be a positive integer"),
        ({"timeout": -1}, "search.timeout must be a positive number, got -1"),
        ({"metric": "ndcg@20,recall@20"}, "search.metric must be one metric"),
        ({"metric": "nosuch@5"}, "nosuch"),
        ({"objective": "tce"}, "search.objective must be a non-empty list of values, got 'tce'"),
        ({"objective": []}, "search.objective must be a non-empty list"),
    ],
)
def test_invalid_optuna_searches_are_one_line_errors(search, fragment):
    model = optuna_model(**search)
    model["search"] = {k: v for k, v in model["search"].items() if v is not None}
    with pytest.raises(SiftrecError, match=re.escape(fragment)) as info:
        parse_grid(minimal(models=[model]))
    assert "\n" not in str(info.value)


def test_a_narrowed_field_cannot_also_be_fixed():
    with pytest.raises(SiftrecError, match="objective is both fixed and searched"):
        parse_grid(minimal(models=[{**optuna_model(objective=["tce", "rce"]), "objective": "bpr"}]))


def test_mar_grids_refuse_the_optuna_search():
    raw = minimal(datasets=[mar_dataset()], models=[optuna_model()], metrics=["dcg@5"])
    with pytest.raises(SiftrecError, match="MAR grid tunes by an IPS metric"):
        parse_grid(raw)


# ---------------------------------------------------------------------- declared schema
@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"seeds": [1.5]}, "seeds must be a non-empty list of integers, got [1.5]"),
        ({"name": 3}, "name must be a non-empty string, got 3"),
        ({"metrics": 20}, "metrics must be a non-empty list of names"),
        ({"noise": 0.2}, "noise must be a table or an array of tables, got 0.2"),
        ({"noise": {"kind": "weird"}}, "noise kind must be one of 'random', 'popular'"),
        ({"noise": {"ratios": [0.1, True]}}, "noise ratios must be a non-empty list of numbers"),
        ({"models": [{"model": "ease", "label": 7}]}, "model 7: label must be a non-empty string"),
        ({"models": [{"model": "ease", "params": [1]}]}, "model 'ease': params must be a table"),
        (
            {"datasets": [{"name": "x", "path": "a", "split": "random"}]},
            "dataset 'x': split must be a table, got 'random'",
        ),
        (
            {"datasets": [{"name": "x", "path": 5, "split": {"scheme": "random"}}]},
            "dataset 'x': path must be a non-empty string, got 5",
        ),
    ],
)
def test_values_are_checked_against_the_declared_types(overrides, fragment):
    with pytest.raises(SiftrecError, match=re.escape(fragment)):
        parse_grid(minimal(**overrides))


def test_an_empty_noise_list_is_the_clean_setting():
    assert [n.label for n in parse_grid(minimal(noise=[])).noise] == ["none"]


def without(table: dict, key: str) -> dict:
    return {k: v for k, v in table.items() if k != key}


def required_cases() -> dict[tuple[str, str], dict]:
    """(table title, required key) → a minimal grid lacking that key."""
    syn, optuna = minimal()["datasets"][0], optuna_model()
    return {
        ("top level", "datasets"): without(minimal(), "datasets"),
        ("top level", "models"): without(minimal(), "models"),
        ("[[datasets]]", "name"): minimal(datasets=[without(syn, "name")]),
        ("[[datasets]] mar", "reader"): minimal(datasets=[{"name": "y", "dir": "/d", "mar": {}}]),
        ("[[models]]", "model"): minimal(models=[{"label": "x"}]),
        ("[[models]] search (Optuna)", "method"): minimal(
            models=[{**optuna, "search": without(optuna["search"], "method")}]
        ),
        ("[[models]] search (Optuna)", "trials"): minimal(
            models=[{**optuna, "search": without(optuna["search"], "trials")}]
        ),
    }


def test_every_required_key_is_required():
    declared = {
        (table.title, key.name)
        for table in schema.TABLES_IN_ORDER
        for key in table.keys
        if key.default is schema.REQUIRED
    }
    cases = required_cases()
    assert set(cases) == declared
    for raw in cases.values():
        with pytest.raises(SiftrecError):
            parse_grid(raw)


def test_declared_mar_defaults_are_the_spec_defaults():
    fields = {f.name: f.default for f in dataclasses.fields(MARSpec)}
    for key in schema.MAR.keys:
        assert key.default is schema.REQUIRED or fields[key.name] == key.default, key.name


def test_docs_list_exactly_the_declared_keys():
    text = DOCS.read_text()
    begin, end = "<!-- schema: begin -->", "<!-- schema: end -->"
    assert begin in text and end in text, "docs/grids.md lost its generated reference markers"
    documented = text.split(begin)[1].split(end)[0].strip()
    assert documented == schema.schema_markdown().strip(), (
        "docs/grids.md is out of date; paste the output of "
        "`python -c 'from siftrec.benchgrid.schema import schema_markdown; "
        "print(schema_markdown())'` between its schema markers"
    )
    rows = set(re.findall(r"^\| `([^`]+)` \|", documented, flags=re.M))
    declared = {k.name for t in schema.TABLES_IN_ORDER for k in (*t.keys, t.other) if k}
    assert rows == declared


def test_the_docs_example_grid_parses():
    text = DOCS.read_text()
    example = text.split("```toml\n")[1].split("```")[0]
    grid = parse_grid(tomllib.loads(example))
    assert grid.cells() and any(model.optuna for model in grid.models)
