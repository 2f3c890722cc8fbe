"""Search sessions with known relevance: a generator and a session log reader (for NUM).

:func:`generate_sessions` simulates sessions of a system against users whose needs are known:
each session has a set of relevant documents (graded 1–2); the system shows, for each query, up
to ``per_query`` of the relevant documents the user has not clicked yet at random ranks within
its top ``placement``, the rest of a ``list_size`` list being non-relevant documents. The user
examines the list top-down to ``examine`` ranks (a cascade), clicks a relevant document with
probability ``click_prob`` (so some relevant documents are *skipped* and found again after a
reformulation) and a non-relevant one with ``noise``; dwell times are exponential with a mean
that grows with relevance. The user reformulates while fewer than ``need`` relevant documents
were clicked, up to ``max_queries``. Every row carries the document's true ``relevance``, so a
metric can be checked against the truth (``siftrec.evaluate.num`` with ``gains="relevance"``).

:func:`read_session_log` reads a session log file (csv/tsv/parquet, one row per shown result)
with the columns of :data:`siftrec.evaluate.num.SESSION_COLUMNS`' names.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from siftrec.data.readers.columns import find_column
from siftrec.data.readers.files import require_file
from siftrec.data.readers.formats import infer_format
from siftrec.data.readers.frames import table_frame
from siftrec.errors import SiftrecError

#: Required session-log columns and the names accepted for them (case-insensitive).
SESSION_ALIASES: dict[str, tuple[str, ...]] = {
    "session": ("session", "session_id", "sid"),
    "query": ("query", "query_index", "query_id", "qid", "turn"),
    "rank": ("rank", "position", "pos"),
    "item": ("item", "item_id", "doc", "doc_id", "document", "url"),
    "click": ("click", "clicked", "is_click"),
}
#: Optional numeric columns kept when present.
OPTIONAL = ("dwell", "relevance", "snippet_cost", "document_cost", "query_cost")


@dataclass(frozen=True)
class SearchSystem:
    """How a simulated system serves a session: up to ``per_query`` still-unclicked relevant
    documents per query, at random ranks within its top ``placement``."""

    per_query: int
    placement: int

    def __post_init__(self) -> None:
        if self.per_query < 1 or self.placement < 1:
            raise SiftrecError("per_query and placement must be at least 1")


def generate_sessions(
    system: SearchSystem,
    n_sessions: int = 200,
    *,
    n_relevant: int = 3,
    need: int | None = None,
    list_size: int = 10,
    examine: int = 5,
    click_prob: float = 0.7,
    noise: float = 0.05,
    max_queries: int = 4,
    n_items: int = 1000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """Simulated sessions of ``system`` (module docstring) as columns: ``session``, ``query``,
    ``rank``, ``item``, ``click``, ``dwell`` (seconds), ``relevance`` (true, 0–2).

    The sessions' needs and the users' behaviour come from ``seed`` alone, so two systems
    simulated with the same seed face the same needs and the same users.
    """
    if system.placement > list_size:
        raise SiftrecError(f"placement {system.placement} exceeds the list size {list_size}")
    if n_relevant >= n_items or list_size > n_items - n_relevant:
        raise SiftrecError("n_items is too small for the lists asked")
    need = n_relevant if need is None else need
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("session", "query", "rank", "item")}
    out.update(click=[], dwell=[], relevance=[])
    for s in range(n_sessions):  # sessions are sequential decisions (clicks shape reformulations)
        relevant = rng.choice(n_items, n_relevant, replace=False)
        grade = rng.integers(1, 3, n_relevant)
        others = np.setdiff1d(np.arange(n_items), relevant)
        found = np.zeros(n_relevant, dtype=bool)
        draws = rng.random((max_queries, list_size, 3))  # click, noise, dwell draws per slot
        for q in range(max_queries):
            pending = np.flatnonzero(~found)[: system.per_query]
            ranks = rng.choice(system.placement, len(pending), replace=False)
            items = rng.choice(others, list_size, replace=False)
            rel = np.zeros(list_size, dtype=np.int64)
            items[ranks] = relevant[pending]
            rel[ranks] = grade[pending]
            seen = np.arange(list_size) < examine
            click = seen & np.where(rel > 0, draws[q, :, 0] < click_prob, draws[q, :, 1] < noise)
            dwell = np.where(click, -np.log1p(-draws[q, :, 2]) * (10.0 + 40.0 * rel), 0.0)
            for name, values in (
                ("session", np.full(list_size, s)),
                ("query", np.full(list_size, q)),
                ("rank", np.arange(1, list_size + 1)),
                ("item", items),
                ("click", click.astype(np.int8)),
                ("dwell", dwell),
                ("relevance", rel),
            ):
                out[name].append(values)
            found[pending[click[ranks]]] = True
            if found.sum() >= need:
                break
    return {name: np.concatenate(parts) for name, parts in out.items()}


def read_session_log(path: str | Path) -> dict[str, np.ndarray]:
    """A session log (csv/tsv/parquet, one row per shown result) as columns named as
    :func:`siftrec.evaluate.num.num` reads them; a missing column is a one-line error."""
    path = Path(path)
    require_file(path)
    fmt = infer_format(path)
    if fmt not in ("csv", "tsv", "parquet"):
        raise SiftrecError(f"{path.name}: a session log is a csv, tsv or parquet table")
    frame = table_frame(path, fmt, None, None, None)
    out: dict[str, Any] = {}
    for name, aliases in SESSION_ALIASES.items():
        found = find_column(frame.columns, aliases)
        if found is None:
            raise SiftrecError(
                f"{path.name}: no {name} column (looked for {'/'.join(aliases)}); "
                f"found {', '.join(frame.columns)}"
            )
        out[name] = frame[found]
    for name in OPTIONAL:
        found = find_column(frame.columns, name)
        if found is not None:
            out[name] = frame[found]
    columns = {}
    for name, series in out.items():
        if name in ("session", "item"):
            columns[name] = series.cast(str).to_numpy()
            continue
        values = series.cast(float, strict=False) if hasattr(series, "cast") else series
        if values.null_count() > series.null_count() or series.null_count():
            raise SiftrecError(f"{path.name}: column {name} must be numeric without gaps")
        columns[name] = values.to_numpy()
    return columns
