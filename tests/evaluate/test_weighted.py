"""Plain and IPS/SNIPS metrics in one evaluation; propensities named by a spec."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from siftrec.bias.propensity import popularity_propensities
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import generate, with_exposure
from siftrec.errors import SiftrecError
from siftrec.evaluate import evaluate
from siftrec.evaluate.ips import evaluate_ips
from siftrec.evaluate.weighted import evaluate_weighted, training_log
from siftrec.models import get_model_class

METRICS = "recall@10,snips-ndcg@10,ips-recall@10,ndcg@10"


@pytest.fixture(scope="module")
def setup():
    data = generate(n_users=80, n_items=60, seed=2)
    log = with_exposure(data, data.interactions)
    split = split_interactions(log, "random", test_ratio=0.3, seed=0)
    model = get_model_class("popularity")().fit(split.train)
    return model, split.test


def test_power_law_matches_evaluate_ips_and_evaluate(setup):
    model, test = setup
    got = evaluate_weighted(model, test, METRICS, "power-law:0.7")
    assert list(got.metrics) == METRICS.split(",")  # requested order
    theta = popularity_propensities(training_log(model), 0.7)
    ips = evaluate_ips(model, test, "snips-ndcg@10,ips-recall@10", theta)
    plain = evaluate(model, test, "recall@10,ndcg@10")
    for key in ips.metrics:
        assert got.metrics[key] == pytest.approx(ips.metrics[key])
        np.testing.assert_allclose(got.per_user[key], ips.per_user[key])
    for key in plain.metrics:
        assert got.metrics[key] == pytest.approx(plain.metrics[key])
    np.testing.assert_array_equal(got.users, plain.users)
    # the weights matter: IPS recall differs from the plain one on popularity-biased clicks
    assert got.metrics["ips-recall@10"] != pytest.approx(got.metrics["recall@10"])


def test_column_and_file_specs(setup, tmp_path):
    model, test = setup
    by_column = evaluate_weighted(model, test, "snips-ndcg@10", "column")
    assert by_column.metrics == pytest.approx(evaluate_ips(model, test, "snips-ndcg@10").metrics)
    renamed = test.with_columns(theta=test.column("propensity"))
    other = evaluate_weighted(model, renamed, "snips-ndcg@10", "column:theta")
    assert other.metrics == pytest.approx(by_column.metrics)

    theta = popularity_propensities(training_log(model))
    path = tmp_path / "prop.csv"
    raw = model.item_map_.to_raw(np.arange(model.n_items))
    pl.DataFrame({"item": raw.astype(str), "propensity": theta}).write_csv(path)
    from_file = evaluate_weighted(model, test, "ips-ndcg@10", str(path))
    assert from_file.metrics == pytest.approx(
        evaluate_weighted(model, test, "ips-ndcg@10", "power-law").metrics
    )


def test_plain_metrics_do_not_import_torch():
    """``siftrec evaluate`` of a classic model stays torch-free (start-up time)."""
    code = (
        "import sys; import siftrec.evaluate.weighted as w; "
        "assert 'torch' not in sys.modules, 'torch imported'; "
        "from siftrec.bias.propensity import DEFAULT_ETA; "
        "assert f'ETA {DEFAULT_ETA} by default' in w.PROPENSITY_SPEC"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize(
    ("metrics", "spec", "message"),
    [
        ("snips-ndcg@10", None, "give a propensity source"),
        ("ndcg@10", "power-law", "only ips-/snips-"),
        ("ips-ndcg@10", "power-law:x", "not a number"),
        ("ips-ndcg@10", "column:nope", "no 'nope' column"),
        ("ips-ndcg@10", "no/such/file.csv", "is no file"),
    ],
)
def test_refusals(setup, metrics, spec, message):
    model, test = setup
    with pytest.raises(SiftrecError, match=message):
        evaluate_weighted(model, test, metrics, spec)


def test_file_refusals(setup, tmp_path):
    model, test = setup
    partial = tmp_path / "partial.csv"
    partial.write_text("item,propensity\n0,0.5\n")
    with pytest.raises(SiftrecError, match="no propensity for"):
        evaluate_weighted(model, test, "ips-ndcg@10", str(partial))
    bad = tmp_path / "bad.csv"
    bad.write_text("item,propensity\n0,1.5\n")
    with pytest.raises(SiftrecError, match=r"\[0, 1\]"):
        evaluate_weighted(model, test, "ips-ndcg@10", str(bad))
    columns = tmp_path / "columns.csv"
    columns.write_text("item,theta\n0,0.5\n")
    with pytest.raises(SiftrecError, match="needs an item column and a propensity column"):
        evaluate_weighted(model, test, "ips-ndcg@10", str(columns))
