"""Data-parallel training on torch.distributed: two CPU ranks (gloo) against one process.

One seeded launch of two spawned ranks fits a model of every torch family and records, per
rank, the validation history, the test metrics and the parameters; the tests compare them with
the same fits in this process. A step of N ranks is the step one process takes on the whole
batch (``siftrec.train.distributed``), so for objectives that average over the batch (BPR here)
the runs differ by float summation order only: parameters agree to 1e-4. Mult-VAE draws its
reparameterisation noise per rank and NBPO's flip-table L2 counts each distinct row of a batch
once per rank, so they are the same fit in distribution only; their metrics must agree within
``TOLERANCE``, the tolerance stated for every model.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from siftrec import Interactions, SiftrecError
from siftrec.cli.common import DEFAULT_LOG_OPTIONS
from siftrec.cli.main import app
from siftrec.cli.model_cmds import _fit_worker
from siftrec.data.synthetic import generate
from siftrec.data.writers import write_interactions
from siftrec.evaluate import evaluate
from siftrec.models import get_model_class, load_model
from siftrec.train.distributed import (
    UserShards,
    distributed_session,
    evaluate_sharded,
    launch_local,
    metric_sums,
    rank,
    world_size,
)

#: Models and settings covered: MF with row-sparse gradients (SGD, the fused path's optimizer,
#: here on autograd), MF with NBPO (an objective with sparse tables of its own), NeuMF (dense
#: embeddings and an MLP), LightGCN and Mult-VAE (listwise).
CASES: dict[str, tuple[str, dict]] = {
    "mf-sgd": ("mf", {"epochs": 4, "batch_size": 256}),
    "mf-nbpo": ("mf", {"objective": "nbpo", "epochs": 3, "batch_size": 256}),
    # dense Adam, batches so small that a rank often has none of their users (it still steps)
    "mf-adam-tiny": ("mf", {"optimizer": "adam", "lr": 0.01, "epochs": 1, "batch_size": 4}),
    "neumf": ("neumf", {"epochs": 3, "batch_size": 256, "dropout": 0.0}),
    "lightgcn": ("lightgcn", {"epochs": 3, "batch_size": 256, "layers": 2, "lr": 0.01}),
    "multvae": ("multvae", {"epochs": 3, "batch_size": 64, "dropout": 0.0}),
}
#: Reproduced step for step by two ranks (the others: in distribution).
EXACT = ("mf-sgd", "mf-adam-tiny", "neumf", "lightgcn")
METRICS = "recall@10,ndcg@10"
#: Largest difference allowed between a two-rank and a one-process metric.
TOLERANCE = 0.02

runner = CliRunner()


def _parts() -> tuple[Interactions, Interactions, Interactions]:
    """A seeded synthetic log split into train, validation and test (random 70/10/20)."""
    log = generate(n_users=150, n_items=90, dim=4, exposure_rate=0.5, seed=3).interactions
    role = np.random.default_rng(0).random(len(log))
    return log.subset(role >= 0.3), log.subset(role < 0.1), log.subset((role >= 0.1) & (role < 0.3))


def _fit(name: str, train: Interactions, validation: Interactions):
    model_name, params = CASES[name]
    model = get_model_class(model_name)(**params, metric="ndcg@10", seed=1, device="cpu")
    return model.fit(train, validation)


def _record(model, test: Interactions) -> dict:
    return {
        "history": [r["ndcg@10"] for r in model.history_],
        "loss": [r["loss"] for r in model.history_],
        "test": evaluate_sharded(model, test, METRICS),
        "state": {k: v.tolist() for k, v in model._get_state().items()},
    }


def _fit_flags(out: Path) -> dict:
    """The arguments of ``siftrec fit`` (as the CLI passes them to each rank) for files in
    ``out``: MF on train.csv, validated on valid.csv, into ``out/model``."""
    return {
        "train": out / "train.csv",
        "model": "mf",
        "out": out / "model",
        "param": ["epochs=2", "device=cpu"],
        "objective": None,
        "sampler": None,
        "validation": out / "valid.csv",
        "item_text": None,
        "read": DEFAULT_LOG_OPTIONS,
    }


def _rank_main(out: str) -> None:
    """One spawned rank: fit every case in the process group and write what it ended with;
    then run ``siftrec fit``'s rank body (what ``--nproc`` starts in each process)."""
    with distributed_session("cpu"):
        train, validation, test = _parts()
        records = {name: _record(_fit(name, train, validation), test) for name in CASES}
        records["world"] = world_size()
        Path(out, f"rank{rank()}.json").write_text(json.dumps(records))
        _fit_worker(_fit_flags(Path(out)), -1)


@pytest.fixture(scope="module")
def launch(tmp_path_factory) -> Path:
    """The directory of one launch of two ranks (their records, the CLI's model)."""
    out = tmp_path_factory.mktemp("ranks")
    train, validation, _ = _parts()
    write_interactions(train, out / "train.csv")
    write_interactions(validation, out / "valid.csv")
    launch_local(2, _rank_main, (str(out),))
    return out


@pytest.fixture(scope="module")
def two_ranks(launch) -> list[dict]:
    return [json.loads((launch / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def one_process() -> dict:
    train, validation, test = _parts()
    return {name: _record(_fit(name, train, validation), test) for name in CASES}


@pytest.mark.parametrize("name", list(CASES))
def test_two_ranks_match_one_process(two_ranks, one_process, name):
    first, second = (ranks[name] for ranks in two_ranks)
    assert two_ranks[0]["world"] == 2
    # every rank ends with the same parameters and the same (all-reduced) metrics
    for key, values in first["state"].items():
        np.testing.assert_array_equal(values, second["state"][key])
    assert first["history"] == second["history"] and first["test"] == second["test"]
    single = one_process[name]
    np.testing.assert_allclose(first["history"], single["history"], atol=TOLERANCE)
    for key, value in single["test"].items():
        assert first["test"][key] == pytest.approx(value, abs=TOLERANCE)
    if name in EXACT:  # the same steps as one process, up to float summation order
        for key, values in single["state"].items():
            np.testing.assert_allclose(first["state"][key], values, atol=1e-4)
        np.testing.assert_allclose(first["loss"], single["loss"], rtol=1e-5)


def test_user_shards_are_disjoint_covering_seeded_and_balanced():
    counts = np.random.default_rng(0).integers(0, 30, size=500)
    shards = UserShards(counts, world=3, seed=7)
    parts = [shards.users(r, epoch=0) for r in range(3)]
    joined = np.concatenate(parts)
    assert len(joined) == len(np.unique(joined)) == 500  # disjoint and covering
    loads = [counts[p].sum() for p in parts]
    assert max(loads) - min(loads) <= 2 * counts.max()  # balanced by interactions
    again = UserShards(counts, world=3, seed=7)
    assert np.array_equal(again.owners(0), shards.owners(0))  # seeded
    assert not np.array_equal(shards.owners(1), shards.owners(0))  # reshuffled per epoch
    assert not np.array_equal(UserShards(counts, 3, seed=8).owners(0), shards.owners(0))
    with pytest.raises(SiftrecError, match="world size"):
        UserShards(counts, world=0, seed=0)


def test_sharded_evaluation_sums_equal_the_single_process_sums():
    train, validation, test = _parts()
    model = get_model_class("itemknn")(k=20).fit(train)
    whole = evaluate(model, test, METRICS + ",coverage@10", exclude=validation)
    for world in (2, 3):
        shards = [
            metric_sums(model, test, METRICS, r, world, exclude=validation) for r in range(world)
        ]
        assert sum(n for _, n in shards) == whole.n_users
        for key in ("recall@10", "ndcg@10"):
            total = sum(sums[key] for sums, _ in shards)
            assert total == pytest.approx(whole.per_user[key].sum(), rel=1e-12)
    # outside a process group it is the plain protocol, catalog-level metrics included
    plain = evaluate_sharded(model, test, METRICS + ",coverage@10", exclude=validation)
    assert plain == whole.metrics


def test_compiled_epoch_is_refused_under_distributed(monkeypatch):
    monkeypatch.setattr("siftrec.train.trainer.active", lambda: True)
    train, _, _ = _parts()
    with pytest.raises(SiftrecError, match="one process; use backend='torch'"):
        get_model_class("mf")(backend="numba", epochs=1, device="cpu").fit(train)


def test_fit_ranks_write_the_one_process_model(launch, tmp_path):
    flags = _fit_flags(launch)
    args = ["fit", "--train", flags["train"], "--validation", flags["validation"]]
    args += ["--model", "mf", "--param", "epochs=2", "--param", "device=cpu"]
    result = runner.invoke(app, [str(a) for a in [*args, "--out", tmp_path / "one"]])
    assert result.exit_code == 0, result.output
    two, one = load_model(flags["out"]), load_model(tmp_path / "one")
    for key, values in one._get_state().items():
        np.testing.assert_allclose(two._get_state()[key], values, atol=1e-4)
    assert [r["ndcg@20"] for r in two.history_] == pytest.approx(
        [r["ndcg@20"] for r in one.history_], abs=TOLERANCE
    )


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--model", "itemknn", "--nproc", "2"], "trains in one process"),
        (["--model", "mf", "--nproc", "0"], "--nproc must be at least 1"),
    ],
)
def test_fit_nproc_refusals(tmp_path, flags, message):
    train, _, _ = _parts()
    write_interactions(train, tmp_path / "train.csv")
    result = runner.invoke(
        app, ["fit", "--train", str(tmp_path / "train.csv"), "--out", str(tmp_path / "m"), *flags]
    )
    assert result.exit_code == 1 and message in result.output
