"""NUM, the Normalized U-Measure of a search session (Chen, Dou, Mao, 2024; methods.md §8).

A session is one reading trail (a *trailtext*): for each query in order, a reformulation unit
(from the second query on), then the examined results in rank order — a snippet each, plus the
document for results that were clicked (opened). With ``pos(e)`` the cumulative cost up to the
end of unit ``e`` and ``D(pos) = max(0, 1 − pos/L)``, the U-measure (Sakai & Dou, SIGIR 2013) is

    U = Σ_e g(e) · D(pos(e)),

each document's gain credited once, at its first occurrence. NUM divides the session's ``U`` by
the ``U`` of its **ideal session** — every document relevant to the session in one list, most
relevant first, no reformulation — and takes gains from the whole session (**click
enhancement**): a document clicked anywhere in the session is relevant wherever it was shown,
so one skipped in an early query and clicked after a reformulation earns its gain at the early
impression. Both are switches here (``normalise``, ``click_enhanced``) for the paper's
ablations.

Parameters marked [unverified] in methods.md are exposed with the defaults it suggests: unit
costs ``c_s = c_d = c_q = 1``, patience ``L`` = 3× the ideal trail, examination down to the last
click. Costs may instead be characters or seconds (:class:`CostModel` with per-row columns).

The session log is a long table, one row per shown result (:data:`SESSION_COLUMNS`); every
computation is a vectorised pass over it (sorts and segment sums, no loop over rows).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from siftrec.errors import SiftrecError

#: Columns of a session log: ``session`` and ``query`` (order of the query within its session),
#: ``rank`` (1-based), ``item`` (the document), ``click`` (0/1); optional ``dwell`` (seconds),
#: ``snippet_cost``/``document_cost``/``query_cost`` (per-row costs in the cost model's unit,
#: e.g. characters), ``relevance`` (known relevance, for generated sessions).
SESSION_COLUMNS = ("session", "query", "rank", "item", "click")


@dataclass(frozen=True)
class CostModel:
    """What reading costs: a snippet, an opened document, a reformulation (one unit each by
    default, [unverified]). Per-row columns ``snippet_cost``, ``document_cost`` and
    ``query_cost`` in the log override the constants (characters, or seconds); with
    ``document_from_dwell`` an opened document costs its dwell time (seconds)."""

    snippet: float = 1.0
    document: float = 1.0
    reformulation: float = 1.0
    document_from_dwell: bool = False

    def __post_init__(self) -> None:
        for name in ("snippet", "document", "reformulation"):
            if not getattr(self, name) >= 0:
                raise SiftrecError(f"cost {name} must be >= 0, got {getattr(self, name)}")


@dataclass(frozen=True)
class NUMResult:
    """Per-session ``num`` (NaN where skipped), ``u`` (actual) and ``u_ideal``; ``mean`` over
    the sessions kept and ``n_clipped``, the sessions whose ratio exceeded 1 (clipped)."""

    sessions: np.ndarray
    num: np.ndarray
    u: np.ndarray
    u_ideal: np.ndarray
    n_clipped: int

    @property
    def mean(self) -> float:
        kept = ~np.isnan(self.num)
        return float(self.num[kept].mean()) if kept.any() else float("nan")


def _columns(log: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The log's columns as arrays (a mapping of arrays, or a polars DataFrame)."""
    names = list(getattr(log, "columns", None) or log.keys())
    return {name: np.asarray(log[name]) for name in names}


def _segments(keys: np.ndarray) -> np.ndarray:
    """Start index of each run of equal ``keys`` (sorted)."""
    if not len(keys):
        return np.zeros(0, dtype=np.int64)
    return np.flatnonzero(np.r_[True, keys[1:] != keys[:-1]])


def _segment_cumsum(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """Cumulative sum of ``values`` restarting at each index of ``starts``."""
    total = np.cumsum(values)
    before = np.r_[0.0, total][starts]
    lengths = np.diff(np.r_[starts, len(values)])
    offsets = np.repeat(before, lengths)
    return total - offsets


def click_grades(
    click: np.ndarray, dwell: np.ndarray | None, dwell_thresholds: Sequence[float] | None
) -> np.ndarray:
    """Gain of each click: 1 per click, or with ``dwell_thresholds`` (seconds, increasing) one
    grade per threshold the dwell reaches, plus one (a click under the first threshold: 1)."""
    click = np.asarray(click, dtype=bool)
    if dwell_thresholds is None:
        return click.astype(np.float64)
    if dwell is None:
        raise SiftrecError("dwell-graded clicks need a dwell column")
    cuts = np.asarray(dwell_thresholds, dtype=np.float64)
    if np.any(np.diff(cuts) <= 0):
        raise SiftrecError(f"dwell thresholds must increase strictly: {list(dwell_thresholds)}")
    grade = 1.0 + np.searchsorted(cuts, np.asarray(dwell, dtype=np.float64), side="right")
    return np.where(click, grade, 0.0)


def u_measure(
    gains: np.ndarray,
    costs: np.ndarray,
    patience: float,
    position: Literal["end", "start"] = "end",
) -> float:
    """U of one trail: ``Σ g_e · max(0, 1 − pos_e / L)`` with ``pos_e`` the cumulative cost at
    the end of unit ``e`` (``"start"``: before it, as ``cwl-eval``'s U-measure places it)."""
    if not patience > 0:
        raise SiftrecError(f"patience L must be positive, got {patience}")
    costs = np.asarray(costs, dtype=np.float64)
    pos = np.cumsum(costs)
    if position == "start":
        pos = pos - costs
    return float(
        np.sum(np.asarray(gains, dtype=np.float64) * np.maximum(0.0, 1.0 - pos / patience))
    )


def num(
    log: Mapping[str, np.ndarray],
    *,
    costs: CostModel | None = None,
    patience: float | None = None,
    patience_factor: float = 3.0,
    depth: Literal["last_click", "all"] | int = "last_click",
    no_click_depth: int = 3,
    click_enhanced: bool = True,
    normalise: bool = True,
    dwell_thresholds: Sequence[float] | None = None,
    gains: Literal["clicks", "relevance"] = "clicks",
    empty: Literal["skip", "zero"] = "skip",
) -> NUMResult:
    """NUM of every session in ``log`` (columns :data:`SESSION_COLUMNS`, one row per shown
    result; arrays or a polars DataFrame's columns).

    Args:
        costs: the cost model (default: one unit per snippet, document and reformulation).
        patience: ``L`` in cost units for every session; None: ``patience_factor`` × the length
            of the session's ideal trail [unverified default 3].
        depth: how far down each result list the user read: to the last click (a query without
            a click: ``no_click_depth`` results), every shown result, or a fixed depth.
        click_enhanced: session-level gains (a document clicked anywhere in the session gains
            at its first examined impression, A2); False: a document gains only at an
            impression where it was clicked (per-query click labels).
        normalise: divide by the ideal session's U (A1); False returns the raw U as ``num``.
        dwell_thresholds: grade clicks by dwell time (seconds) instead of 1 per click.
        gains: ``"clicks"`` (the click-inferred gains above) or ``"relevance"`` (a known
            ``relevance`` column, for generated sessions: the true NUM).
        empty: a session without any gain: ``skip`` (NaN, left out of the mean) or ``zero``.
    """
    costs = costs or CostModel()
    cols = _columns(log)
    missing = [c for c in SESSION_COLUMNS if c not in cols]
    if missing:
        raise SiftrecError(f"the session log has no {', '.join(missing)} column")
    n = len(cols["session"])
    if n == 0:
        raise SiftrecError("the session log is empty")
    session_ids, session = np.unique(cols["session"], return_inverse=True)
    query = cols["query"].astype(np.int64)
    rank = cols["rank"].astype(np.int64)
    order = np.lexsort((rank, query, session))
    session, query, rank = session[order], query[order], rank[order]
    item_ids = cols["item"][order]
    _, item = np.unique(item_ids, return_inverse=True)
    click = cols["click"][order].astype(bool)
    dwell = cols["dwell"][order].astype(np.float64) if "dwell" in cols else None
    if gains == "relevance":
        if "relevance" not in cols:
            raise SiftrecError("gains='relevance' needs a relevance column")
        row_gain = cols["relevance"][order].astype(np.float64)
    else:
        row_gain = click_grades(click, dwell, dwell_thresholds)

    # session-level gain of each (session, item): the max over the session's rows
    n_items = int(item.max()) + 1
    pair = session.astype(np.int64) * n_items + item
    pair_ids, pair_of = np.unique(pair, return_inverse=True)
    pair_gain = np.zeros(len(pair_ids))
    np.maximum.at(pair_gain, pair_of, row_gain)

    # examined rows: down to the last click of each query (or the depth asked)
    query_key = session.astype(np.int64) * (int(query.max()) + 1) + (query - query.min())
    q_starts = _segments(query_key)
    q_of = np.repeat(np.arange(len(q_starts)), np.diff(np.r_[q_starts, n]))
    if depth == "all":
        examined = np.ones(n, dtype=bool)
    elif isinstance(depth, int | np.integer) and not isinstance(depth, bool):
        examined = rank <= depth
    elif depth == "last_click":
        last = np.zeros(len(q_starts), dtype=np.int64)
        np.maximum.at(last, q_of, np.where(click, rank, 0))
        last = np.where(last > 0, last, no_click_depth)
        examined = rank <= last[q_of]
    else:
        raise SiftrecError(f"depth must be 'last_click', 'all' or an integer, got {depth!r}")

    # actual trail: examined rows in order, reformulation units before queries 2..T
    snippet = cols["snippet_cost"][order] if "snippet_cost" in cols else np.full(n, costs.snippet)
    document = (
        cols["document_cost"][order] if "document_cost" in cols else np.full(n, costs.document)
    )
    if costs.document_from_dwell:
        if dwell is None:
            raise SiftrecError("document_from_dwell needs a dwell column")
        document = dwell
    row_cost = np.where(examined, snippet + np.where(click, document, 0.0), 0.0)
    s_starts = _segments(session)
    query_cost = (
        cols["query_cost"][order] if "query_cost" in cols else np.full(n, costs.reformulation)
    )
    first_of_query = np.zeros(n, dtype=bool)
    first_of_query[q_starts] = True
    first_of_session = np.zeros(n, dtype=bool)
    first_of_session[s_starts] = True
    reform = np.where(first_of_query & ~first_of_session, query_cost, 0.0)
    pos = _segment_cumsum(row_cost + reform, s_starts)

    # gains at first occurrence (first examined impression; without enhancement: first click)
    if click_enhanced:
        candidate = examined & (pair_gain[pair_of] > 0)
        value = pair_gain[pair_of]
    else:
        candidate = examined & (row_gain > 0)
        value = row_gain
    idx = np.flatnonzero(candidate)
    first = np.zeros(n, dtype=bool)
    if len(idx):
        _, first_pos = np.unique(pair_of[idx], return_index=True)  # idx is in trail order
        first[idx[first_pos]] = True
    credited = np.where(first, value, 0.0)

    # ideal session: every relevant document once, most relevant first, snippet + document
    n_sessions = len(session_ids)
    pair_session = pair_ids // n_items
    rel = pair_gain > 0
    doc_cost_pair = np.zeros(len(pair_ids))
    np.maximum.at(
        doc_cost_pair, pair_of, snippet + (dwell if costs.document_from_dwell else document)
    )
    ideal_cost_row = np.where(rel, doc_cost_pair, 0.0)
    ideal_order = np.lexsort((-pair_gain, pair_session))
    ig, ic, isess = pair_gain[ideal_order], ideal_cost_row[ideal_order], pair_session[ideal_order]
    ideal_len = np.bincount(isess, weights=ic, minlength=n_sessions)
    if patience is not None:
        if not patience > 0:
            raise SiftrecError(f"patience must be positive, got {patience}")
        L = np.full(n_sessions, float(patience))
    else:
        if not patience_factor > 0:
            raise SiftrecError(f"patience_factor must be positive, got {patience_factor}")
        L = patience_factor * ideal_len
    L_safe = np.where(L > 0, L, 1.0)
    ipos = _segment_cumsum(ic, _segments(isess))
    u_ideal = np.bincount(
        isess, weights=ig * np.maximum(0.0, 1.0 - ipos / L_safe[isess]), minlength=n_sessions
    )
    u = np.bincount(
        session,
        weights=credited * np.maximum(0.0, 1.0 - pos / L_safe[session]),
        minlength=n_sessions,
    )
    if not normalise:
        return NUMResult(session_ids, u, u, u_ideal, 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = u / u_ideal
    no_gain = u_ideal <= 0
    ratio[no_gain] = np.nan if empty == "skip" else 0.0
    clipped = int(np.sum(ratio > 1.0))
    return NUMResult(session_ids, np.minimum(ratio, 1.0), u, u_ideal, clipped)


def per_query_metric(log: Mapping[str, np.ndarray], k: int = 10) -> float:
    """The per-query baseline NUM is compared with: click-labelled NDCG@k of each query
    (its own clicks are its relevant documents), averaged over the queries with a click."""
    cols = _columns(log)
    sessions = np.unique(cols["session"], return_inverse=True)[1].astype(np.int64)
    q = cols["query"].astype(np.int64)
    qkey = sessions * (int(q.max()) + 1) + (q - q.min())
    _, qid = np.unique(qkey, return_inverse=True)
    rank = cols["rank"].astype(np.int64)
    click = cols["click"].astype(bool)
    n_q = int(qid.max()) + 1
    gain = np.where(click & (rank <= k), 1.0 / np.log2(rank + 1.0), 0.0)
    dcg = np.bincount(qid, weights=gain, minlength=n_q)
    n_clicks = np.bincount(qid, weights=click.astype(np.float64), minlength=n_q)
    ideal = np.cumsum(1.0 / np.log2(np.arange(2, k + 2)))
    has = n_clicks > 0
    idcg = ideal[np.minimum(n_clicks[has], k).astype(np.int64) - 1]
    return float(np.mean(dcg[has] / idcg)) if has.any() else float("nan")
