"""Grid preflight: every problem of the cells about to run, one line each naming the cells and
the TOML key, before anything runs; every shipped grid passes."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from siftrec.benchgrid import load_grid, parse_grid, run_grid
from siftrec.benchgrid.check import MAR_FILES, GridProblems, check_cells
from siftrec.data.mar import MAR_READERS
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions
from siftrec.objectives import available_objectives
from tests.benchgrid.test_runner import write_coat_layout, write_yahoo_layout

GRIDS = sorted((Path(__file__).resolve().parents[2] / "bench" / "grids").glob("*.toml"))
SMOKE = GRIDS[0].parent / "smoke.toml"
FORMATS = (
    "csv, tsv, parquet, movielens, lightgcn, denoisingrec, npy, userlists, multibehavior, mbgcn"
)
SYN = {
    "name": "syn",
    "synthetic": {"n_users": 60, "n_items": 40},
    "split": {"scheme": "random", "test_ratio": 0.2, "validation_ratio": 0.1},
}


def problems(models: list[dict] | None = None, datasets: list[dict] | None = None) -> list[str]:
    raw = {
        "seeds": [0, 1],
        "datasets": datasets or [SYN],
        "models": models or [{"model": "popularity"}],
    }
    return check_cells(parse_grid(raw).cells())


@pytest.fixture
def files(tmp_path) -> Path:
    """A train and a test CSV in ``tmp_path``."""
    data = generate(n_users=40, n_items=30, seed=0).interactions
    first = np.arange(len(data)) < len(data) // 2
    write_interactions(data.subset(first), tmp_path / "train.csv")
    write_interactions(data.subset(~first), tmp_path / "test.csv")
    return tmp_path


def given(directory: Path, **overrides) -> dict:
    return {
        "name": "files",
        "train": str(directory / "train.csv"),
        "test": str(directory / "test.csv"),
        **overrides,
    }


# ---------------------------------------------------------------------- models
@pytest.mark.parametrize(
    ("model", "expected"),
    [
        ({"params": {"lr": "fast"}}, "params.lr = 'fast' is not a number"),
        ({"params": {"lr": True}}, "params.lr = True is not a number"),
        ({"params": {"epochs": 2.5}}, "params.epochs = 2.5 is not an integer"),
        ({"params": {"fused": "maybe"}}, "params.fused = 'maybe' is not true or false"),
        ({"params": {"optimizer": "adamw"}}, "params.optimizer = 'adamw' is not one of 'adam'"),
        ({"params": {"patience": "soon"}}, "params.patience = 'soon' is not an integer or 'none'"),
        ({"params": {"nosuch": 1}}, "params.nosuch: unknown parameter (known: "),
        ({"params": {"lr": 0}}, "params: lr must be positive"),
        ({"params": {"device": "nosuchdevice"}}, "params.device = 'nosuchdevice': unknown device"),
        ({"objective": "nbpox"}, "objective = 'nbpox': unknown objective 'nbpox'"),
        ({"objective": "tce(drop_rate=2)"}, "objective = 'tce(drop_rate=2)': drop_rate must be"),
        ({"sampler": "nosuch"}, "sampler = 'nosuch': unknown sampler 'nosuch'"),
        (
            {"sampler": "uniform(n_negatives=3)"},
            "sampler = 'uniform(n_negatives=3)': sampler parameter(s) n_negatives given both",
        ),
        ({"search": {"dim": [8, "wide"]}}, "search.dim[1] = 'wide' is not an integer"),
        ({"search": {"dim": [8, 0]}}, "search candidate (dim=0): dim must be at least 1"),
        (
            {"search": {"objective": ["bpr", "zzz"]}},
            "search.objective[1] = 'zzz': unknown objective",
        ),
    ],
)
def test_model_problem_names_the_cell_and_the_toml_key(model, expected):
    found = problems([{"label": "nbpo", "model": "mf", **model}])
    assert len(found) == 1, found
    assert found[0].startswith(f"cell syn/nbpo: {expected}"), found


def test_auto_objective_is_left_to_the_model_constructor():
    assert problems([{"model": "mf", "objective": "auto", "params": {"auto_budget": 12}}]) == []
    (found,) = problems([{"label": "vae", "model": "multvae", "objective": "auto"}])
    assert found.startswith("cell syn/vae: params: objective=auto chooses among sampled")


def test_objective_the_model_cannot_train_with():
    assert problems([{"label": "vae", "model": "multvae", "objective": "bpr"}]) == [
        "cell syn/vae: objective = 'bpr' is a pairwise objective; multvae trains with "
        "listwise objectives"
    ]


def test_every_problem_in_one_pass_scoped_to_the_cells_it_concerns(tmp_path):
    missing = tmp_path / "x.csv"
    gone = {"name": "gone", "path": str(missing), "split": {"scheme": "random"}}
    datasets = [SYN, gone]
    models = [
        {"model": "popularity"},
        {"label": "bad", "model": "mf", "objective": "nbpox", "params": {"lr": "fast"}},
    ]
    assert problems(models, datasets) == [
        f"cells gone/*: path = '{missing}': data file {missing} does not exist",
        "cells */bad: params.lr = 'fast' is not a number",
        "cells */bad: objective = 'nbpox': unknown objective 'nbpox'; available: "
        + ", ".join(available_objectives()),
    ]


def test_good_grids_pass(files):
    assert check_cells(load_grid(SMOKE).cells()) == []
    models = [
        {"model": "popularity"},
        {"model": "mf", "objective": "bce", "params": {"lr": "0.1", "patience": "none"}},
        {"model": "multvae", "params": {"epochs": 1}},
        {"model": "itemknn", "search": {"k": [5, 10]}},
    ]
    dataset = given(files, validation=str(files / "test.csv"))
    assert problems(models, [dataset]) == []


# ---------------------------------------------------------------------- data
def test_missing_unreadable_and_unresolvable_files(files):
    (files / "fake.csv.gz").write_text("user,item\n1,2\n")
    (files / "table.txt").write_text("1 2 3\n4 5 6\n")
    (files / "noext").write_text("user,item\n1,2\n")
    datasets = [
        given(files, train=str(files / "nope.csv"), name="a"),
        given(files, train=str(files), name="b"),
        given(files, train=str(files / "fake.csv.gz"), name="c"),
        given(files, train=str(files / "table.txt"), name="d"),
        given(files, train=str(files / "noext"), name="e"),
        given(files, train=str(files / "noext"), name="f", read={"format": "csv"}),
    ]
    found = problems(datasets=datasets)
    assert found[:5] == [
        f"cell a/popularity: train = '{files / 'nope.csv'}': data file {files / 'nope.csv'} "
        "does not exist",
        f"cell b/popularity: train = '{files}': {files} is not a file",
        f"cell c/popularity: train = '{files / 'fake.csv.gz'}': fake.csv.gz is named .gz but is "
        "not gzip-compressed",
        f"cell d/popularity: train = '{files / 'table.txt'}': table.txt is not a LightGCN "
        "adjacency list (lines of equal length ≥ 3 look like a 'user item value' table); "
        f"set read.format (one of {FORMATS})",
        f"cell e/popularity: train = '{files / 'noext'}': cannot infer the format of 'noext' "
        f"from its name; set read.format (one of {FORMATS})",
    ]
    assert len(found) == 5  # an explicit read.format needs no name


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file(files):
    (files / "train.csv").chmod(0)
    try:
        (found,) = problems(datasets=[given(files)])
    finally:
        (files / "train.csv").chmod(0o644)
    assert found.startswith(f"cell files/popularity: train = '{files / 'train.csv'}': cannot read")


def test_gzipped_file_passes(files):
    target = files / "train.csv.gz"
    target.write_bytes(gzip.compress((files / "train.csv").read_bytes()))
    assert problems(datasets=[given(files, train=str(target))]) == []


def test_unset_variable_in_a_path():
    dataset = {"name": "v", "path": "${SIFTREC_NO_SUCH_VAR}/x.csv", "split": {"scheme": "random"}}
    assert problems(datasets=[dataset]) == [
        "cell v/popularity: path: path '${SIFTREC_NO_SUCH_VAR}/x.csv' uses the unset environment "
        "variable 'SIFTREC_NO_SUCH_VAR'"
    ]


def test_read_split_and_synthetic_options():
    dataset = {
        "name": "syn",
        "synthetic": {"n_users": "60", "n_itemz": 40},
        "split": {"scheme": "randm", "seed": 3, "ratio": 0.2},
    }
    found = problems(datasets=[dataset])
    assert found[0] == "cell syn/popularity: synthetic.n_users = '60' is not an integer"
    assert found[1].startswith("cell syn/popularity: synthetic.n_itemz: unknown parameter")
    assert found[2] == (
        "cell syn/popularity: split.scheme = 'randm' is not one of random, leave-last, temporal, "
        "strong"
    )
    assert found[3] == (
        "cell syn/popularity: split.seed: not an option; each cell's seed seeds its split"
    )
    assert found[4].startswith("cell syn/popularity: split.ratio: unknown option (known: cut, ")
    assert len(found) == 5


def test_split_options_are_checked_against_the_scheme():
    def found(split):
        return problems(datasets=[{"name": "syn", "synthetic": {"n_users": 60}, "split": split}])

    assert found({"scheme": "random", "k": 2}) == [
        "cell syn/popularity: split.k: not an option of the random scheme "
        "(known: test_ratio, validation_ratio)"
    ]
    assert found({"scheme": "random", "test_ratio": 1.5}) == [
        "cell syn/popularity: split: test_ratio=1.5 must be in [0, 1)"
    ]
    assert found({"scheme": "leave-last", "k": 2}) == []


def test_read_options(files):
    dataset = given(files, read={"format": "xls", "delimiter": ","})
    assert problems(datasets=[dataset]) == [
        "cell files/popularity: read.delimiter: unknown option (known: columns, format, header, "
        "item_col, sep, user_col, weight_col)",
        f"cell files/popularity: read.format = 'xls' is not one of {FORMATS}",
    ]


def test_mar_files_are_the_readers_files(tmp_path):
    assert set(MAR_FILES) == set(MAR_READERS)
    layouts = {"coat": write_coat_layout, "yahoo-r3": write_yahoo_layout}
    for reader, write in layouts.items():
        directory = write(tmp_path / reader)
        MAR_READERS[reader](directory)  # the layout reads
        dataset = {"name": "mar", "dir": str(directory), "mar": {"reader": reader}}
        assert problems(datasets=[dataset]) == []
        for name in MAR_FILES[reader]:
            (directory / name).rename(directory / f"{name}.moved")
            assert problems(datasets=[dataset]) == [
                f"cell mar/popularity: dir = '{directory}': {directory} has neither {name} "
                f"nor {name}.gz"
            ]
            (directory / f"{name}.moved").rename(directory / name)
    dataset = {"name": "mar", "dir": str(tmp_path / "gone"), "mar": {"reader": "coat"}}
    assert problems(datasets=[dataset]) == [
        f"cell mar/popularity: dir = '{tmp_path / 'gone'}': data directory {tmp_path / 'gone'} "
        "does not exist"
    ]


# ---------------------------------------------------------------------- cells
def test_search_needs_a_validation_part(files):
    search = [{"model": "popularity"}, {"model": "itemknn", "search": {"k": [5, 10]}}]
    no_validation = {**SYN, "split": {"scheme": "random", "test_ratio": 0.2}}
    assert problems(search, [no_validation, given(files)]) == [
        "cell syn/itemknn: search: dataset syn has no validation part to tune itemknn on "
        "(give one, or set tune_validation_ratio)",
        "cell files/itemknn: search: dataset files has no validation part to tune itemknn on "
        "(give one, or set tune_validation_ratio)",
    ]
    carved = {**no_validation, "tune_validation_ratio": 0.2}
    assert problems(search, [carved, given(files, tune_validation_ratio=0.2)]) == []
    assert problems(search, [{**SYN, "tune_validation_ratio": 0.2}]) == [
        "cell syn/itemknn: tune_validation_ratio: dataset syn already has a validation part for "
        "the search of itemknn; drop tune_validation_ratio"
    ]


# ---------------------------------------------------------------------- run_grid
def test_run_grid_refuses_a_bad_grid_before_running_or_writing(tmp_path):
    grid = parse_grid(
        {
            "datasets": [{**SYN, "synthetic": {"n_users": 60, "n_items": "40"}}],
            "models": [{"model": "popularity"}, {"model": "ease", "params": {"l2": "big"}}],
        }
    )
    with pytest.raises(GridProblems) as caught:
        run_grid(grid, tmp_path / "run", progress=False)
    assert caught.value.problems == [
        "cells syn/*: synthetic.n_items = '40' is not an integer",
        "cell syn/ease: params.l2 = 'big' is not a number",
    ]
    assert "\n" not in str(caught.value) and "2 problems, nothing was run" in str(caught.value)
    assert not (tmp_path / "run").exists()


def test_only_cells_about_to_run_are_checked(tmp_path):
    raw = {"datasets": [SYN], "models": [{"model": "popularity"}, {"model": "mf"}]}
    run_grid(parse_grid(raw), tmp_path, progress=False, only=["popularity"])
    raw["models"][0]["params"] = {"weighted": "maybe"}  # changes the committed cells' hash
    with pytest.raises(GridProblems):
        run_grid(parse_grid(raw), tmp_path, progress=False)
    with pytest.raises(GridProblems):
        run_grid(parse_grid(raw), tmp_path, progress=False, only=["popularity"])
    raw["models"][0].pop("params")
    raw["models"][1]["params"] = {"epochs": "many"}
    summary = run_grid(parse_grid(raw), tmp_path, progress=False, only=["popularity"])
    assert (summary.ran, summary.skipped) == (0, 1)


# ---------------------------------------------------------------------- shipped grids
@pytest.mark.parametrize("path", GRIDS, ids=[p.stem for p in GRIDS])
def test_shipped_grids_pass_the_preflight(path, shared_data, monkeypatch):
    monkeypatch.setenv("SIFTREC_DATA", str(shared_data))
    assert check_cells(load_grid(path).cells()) == []


# ---------------------------------------------------------------------- Optuna searches
def optuna(**search) -> dict:
    return {"label": "tpe", "model": "mf", "search": {"method": "optuna", "trials": 4, **search}}


def test_an_optuna_search_narrowed_to_searched_fields_passes():
    assert problems([optuna(objective=["tce", "rce", "nbpo"], dim=[16, 32])]) == []


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (optuna(epochs=[1, 2]), ["search: epochs is not a searched parameter of mf"]),
        (optuna(dim=[8]), ["search: the choices of dim must be a list of two or more values"]),
        (
            optuna(objective=["tce", "relmf(clip=0.1)"]),
            ["search: the choices of objective are objective names; 'relmf(clip=0.1)' sets"],
        ),
        ({**optuna(), "objective": "auto"}, ["search: objective=auto selects on validation"]),
        (
            optuna(objective=["tce", "multinomial"]),
            [
                "search.objective[1] = 'multinomial' is a listwise objective",
                "search: objective choice 'multinomial' is not among the declared choices",
            ],
        ),
        (optuna(dim=[8, "wide"]), ["search.dim[1] = 'wide' is not an integer"]),
    ],
)
def test_optuna_search_problems_name_the_cell_and_the_key(model, expected):
    found = problems([model])
    assert len(found) == len(expected), found
    for line, start in zip(found, expected, strict=True):
        assert line.startswith(f"cell syn/tpe: {start}"), found


def test_an_optuna_search_needs_a_validation_part():
    dataset = {**SYN, "split": {"scheme": "random", "test_ratio": 0.2}}
    assert problems([optuna()], [dataset]) == [
        "cell syn/tpe: search: dataset syn has no validation part to tune tpe on "
        "(give one, or set tune_validation_ratio)"
    ]
    assert problems([optuna()], [{**dataset, "tune_validation_ratio": 0.2}]) == []
