"""NUM: hand-computed sessions, cwl-eval's U-measure, and the generated-session ordering."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.data.sessions import SearchSystem, generate_sessions, read_session_log
from siftrec.errors import SiftrecError
from siftrec.evaluate.num import CostModel, num, per_query_metric, u_measure


def session(click_c: int = 0) -> dict[str, list]:
    """One session, two queries: q0 shows a (clicked), b, c (clicked when ``click_c``); q1
    shows b (clicked), d, e."""
    return {
        "session": [1] * 6,
        "query": [0, 0, 0, 1, 1, 1],
        "rank": [1, 2, 3, 1, 2, 3],
        "item": ["a", "b", "c", "b", "d", "e"],
        "click": [1, 0, click_c, 1, 0, 0],
    }


def test_a_hand_computed_session():
    # examined to the last click: q0 reads a (snippet + document: pos 2), q1 costs a
    # reformulation (pos 3) and reads b (pos 5). Ideal: a, b at pos 2 and 4; L = 3 × 4 = 12.
    result = num(session())
    u, ideal = (1 - 2 / 12) + (1 - 5 / 12), (1 - 2 / 12) + (1 - 4 / 12)
    assert result.u[0] == pytest.approx(u)
    assert result.u_ideal[0] == pytest.approx(ideal)
    assert result.num[0] == pytest.approx(u / ideal)


def test_click_enhancement_credits_a_skipped_document_where_it_was_first_shown():
    # c clicked at rank 3 of q0: ranks 1-3 examined; b skipped at rank 2, clicked in q1.
    # trail: a (2), b snippet (3), c (5), reformulation (6), b again (8). Ideal: 3 docs, L = 18.
    log = session(click_c=1)
    enhanced, plain = num(log), num(log, click_enhanced=False)
    ideal = sum(1 - p / 18 for p in (2, 4, 6))
    assert enhanced.u[0] == pytest.approx((1 - 2 / 18) + (1 - 3 / 18) + (1 - 5 / 18))
    assert plain.u[0] == pytest.approx((1 - 2 / 18) + (1 - 5 / 18) + (1 - 8 / 18))
    # the skipped snippet is credited before the ideal list (whose items also pay a document)
    # reaches it: the ratio exceeds 1, is clipped and counted (methods.md §8.4)
    assert enhanced.u[0] / ideal > 1 and enhanced.num[0] == 1.0 and enhanced.n_clipped == 1
    assert plain.num[0] == pytest.approx(plain.u[0] / ideal) and plain.n_clipped == 0


def test_costs_in_characters_and_seconds():
    log = {**session(), "snippet_cost": [100] * 6, "document_cost": [900] * 6}
    result = num(log, costs=CostModel(reformulation=50), patience=3000)
    assert result.u[0] == pytest.approx((1 - 1000 / 3000) + (1 - 2050 / 3000))
    dwell = {**session(), "dwell": [30, 0, 0, 60, 0, 0]}
    timed = num(dwell, costs=CostModel(snippet=2, document_from_dwell=True), patience=200)
    # a: 2 + 30 = 32; reformulation 1; b: 2 + 60 → 95
    assert timed.u[0] == pytest.approx((1 - 32 / 200) + (1 - 95 / 200))
    graded = num(dwell, dwell_thresholds=[45], normalise=False, patience=100)
    assert graded.u[0] == pytest.approx(1 * (1 - 2 / 100) + 2 * (1 - 5 / 100))


def test_sessions_without_gain_are_skipped_or_zero():
    log = {**session(), "click": [0] * 6}
    assert np.isnan(num(log).num[0])
    assert num(log, empty="zero").num[0] == 0.0


def test_u_measure_equals_cwl_eval_on_single_query_sessions():
    cwl = pytest.importorskip("cwl.ruler.measures.cwl_umeasure", reason="cwl-eval not installed")
    from cwl.ruler.ranking import Ranking

    rng = np.random.default_rng(0)
    for _ in range(5):
        n = int(rng.integers(3, 12))
        gains = rng.integers(0, 3, n).astype(float)
        costs = rng.integers(50, 400, n).astype(float)
        metric = cwl.UMeasureCWLMetric(L=1000)
        # cwl places an item at the cost *before* it and weights items to sum to one:
        # expected utility × expected items is Σ g · D(start)
        metric.measure(Ranking("q", gains, costs))
        want = metric.expected_utility * metric.expected_items
        assert u_measure(gains, costs, 1000, position="start") == pytest.approx(want)
        # a leading zero-gain unit shifts cwl's positions to the ends of the units: NUM's U
        metric.measure(Ranking("q", np.r_[0.0, gains], np.r_[costs, 1.0]))
        want = metric.expected_utility * metric.expected_items
        assert u_measure(gains, costs, 1000) == pytest.approx(want)
        log = {
            "session": np.zeros(n),
            "query": np.zeros(n),
            "rank": np.arange(1, n + 1),
            "item": np.arange(n),
            "click": np.ones(n),
            "relevance": gains,
            "snippet_cost": costs,
            "document_cost": np.zeros(n),
        }
        single = num(log, gains="relevance", depth="all", patience=1000, normalise=False)
        assert single.u[0] == pytest.approx(want)


def test_num_orders_systems_as_their_true_relevance_where_per_query_metrics_disagree():
    # "one list" shows every relevant document in the first query, among other results;
    # "drip" shows one per query at rank 1, so each query looks perfect on its own clicks
    one_list = generate_sessions(SearchSystem(per_query=3, placement=5), 200, seed=0)
    drip = generate_sessions(SearchSystem(per_query=1, placement=1), 200, seed=0)
    truth = [num(log, gains="relevance").mean for log in (one_list, drip)]
    clicks = [num(log).mean for log in (one_list, drip)]
    per_query = [per_query_metric(log) for log in (one_list, drip)]
    assert truth[0] > truth[1]
    assert clicks[0] > clicks[1]
    assert per_query[0] < per_query[1]


def test_generated_sessions_reformulate_until_the_need_is_met():
    log = generate_sessions(SearchSystem(per_query=1, placement=1), 50, seed=1, max_queries=6)
    queries = pl.DataFrame(log).group_by("session").agg(pl.col("query").max() + 1)
    assert queries["query"].min() >= 3  # one relevant document per query, three needed
    assert set(np.unique(log["relevance"])) <= {0, 1, 2}


def test_session_log_reader_and_cli(tmp_path: Path):
    path = tmp_path / "sessions.csv"
    pl.DataFrame(session()).rename({"item": "doc"}).write_csv(path)
    log = read_session_log(path)
    assert num(log).num[0] == pytest.approx(num(session()).num[0])
    result = CliRunner().invoke(app, ["evaluate", "--session-log", str(path), "--json"])
    assert result.exit_code == 0, result.stderr
    values = json.loads(result.stdout)
    assert values["num"] == pytest.approx(num(session()).mean) and values["n_sessions"] == 1
    bad = tmp_path / "bad.csv"
    pl.DataFrame({"session": [1], "item": ["a"]}).write_csv(bad)
    with pytest.raises(SiftrecError, match="no query column"):
        read_session_log(bad)
