"""A loaded model answering requests in raw ids: the serving logic, free of HTTP.

:class:`ModelService` loads a model directory once (model, ANN index, popularity, warm-up) and
is never changed afterwards, so a reload builds a new one and swaps a single reference
(:class:`ServiceHolder`); a request that started on the old service finishes on it.

How a recommendation request is answered:

- a known ``user`` without ``history``: the model's score row (the ANN index when the server
  runs one and the model is a dot product), training items masked with ``exclude_seen``;
- a ``history`` (raw item ids; unknown ones are dropped and listed): fold-in on the history,
  together with the known user's training items; a model without fold-in scores a known user's
  row and falls back to popularity for an unknown one;
- neither (an unknown user, or a history with no known item): the most popular items of the
  training data (users per item), flagged ``fallback = "popularity"``.

``allow`` restricts the answer to the listed items, ``deny`` removes the listed items; both are
raw ids, unknown ones ignored. Fewer than ``k`` admissible items give a shorter list.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata as importlib_metadata
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender
from siftrec.models.ranking import top_k
from siftrec.serve.ann import VectorIndex, build_index, factor_tables
from siftrec.version import __version__

#: Raw id as it arrives in a request body.
RawId = int | str

#: Extra candidates fetched from an ANN index beyond k + the items a request excludes.
ANN_MARGIN = 16


@dataclass(frozen=True)
class Recommendation:
    """The answer to one recommendation request (raw item ids best first, their scores)."""

    items: list[RawId]
    scores: list[float]
    source: str
    fallback: str | None = None
    unknown_items: list[RawId] = field(default_factory=list)


@dataclass(frozen=True)
class Query:
    """One recommendation request in raw ids."""

    user: RawId | None = None
    history: Sequence[RawId] | None = None
    k: int = 10
    exclude_seen: bool = True
    allow: Sequence[RawId] | None = None
    deny: Sequence[RawId] | None = None


class ModelService:
    """A fitted model with its id maps, popularity ranking and optional ANN index.

    ``ann`` names the retrieval for known users: ``None``/``"exact"`` scores every item (an
    exact search over the factor tables of a dot-product model, which ranks as the model does,
    else the model's own scores); ``"faiss"`` searches an IVF index over the factor tables
    (dot-product models only). ``index`` is a prebuilt index (e.g. read from the file
    ``siftrec export --ann faiss`` writes).
    """

    def __init__(
        self,
        model_dir: str | Path,
        *,
        ann: str | None = None,
        index: VectorIndex | None = None,
    ) -> None:
        start = time.perf_counter()
        self.model_dir = Path(model_dir)
        if not (self.model_dir / "model.json").is_file():
            raise SiftrecError(f"{model_dir} is not a siftrec model directory (no model.json)")
        self.model: Recommender = Recommender.load(self.model_dir)
        saved = (self.model_dir / "model.json").read_text()
        self.saved_metadata: dict[str, Any] = json.loads(saved)
        self.user_map, self.item_map = self.model.user_map_, self.model.item_map_
        self.n_items = self.model.n_items
        seen = self.model.seen_
        self.popularity = np.asarray(seen.sum(axis=0), dtype=np.float32).ravel()
        self.user_vectors: np.ndarray | None = None
        self.item_vectors: np.ndarray | None = None
        self.index: VectorIndex | None = None
        approximate = index is not None or ann not in (None, "exact")
        try:
            tables = factor_tables(self.model)
        except SiftrecError:
            if approximate:
                raise
            tables = None  # exact scores then come from the model itself
        if approximate and tables is None:
            raise SiftrecError(
                f"{self.model.name} is not a dot-product model; ANN retrieval needs one "
                "(serve it with ann='exact')"
            )
        if tables is not None:
            self.user_vectors, self.item_vectors = tables
            self.index = index if index is not None else build_index(ann or "exact", tables[1])
            if self.index.n_items != self.n_items or self.index.dim != tables[1].shape[1]:
                raise SiftrecError(
                    f"the ANN index holds {self.index.n_items} items of dimension "
                    f"{self.index.dim}; the model has {self.n_items} of dimension "
                    f"{tables[1].shape[1]}"
                )
        self.model.score(np.zeros(1, dtype=np.int64))  # warm-up: prepares torch scorers
        self.loaded_at = time.time()
        self.load_seconds = time.perf_counter() - start

    @property
    def ann(self) -> str:
        """The retrieval backend for known users: ``exact`` (an exact search over the factor
        tables, or the model's own scores for other models) or an ANN backend's name."""
        return "exact" if self.index is None else self.index.name

    def metadata(self) -> dict[str, Any]:
        """What ``GET /metadata`` reports: the model's ``model.json`` facts and the server's."""
        meta = self.saved_metadata
        return {
            "model": meta["model"],
            "params": meta["params"],
            "train_fingerprint": meta.get("train_fingerprint"),
            "n_users": meta["n_users"],
            "n_items": meta["n_items"],
            "fit_seconds": meta.get("fit_seconds"),
            "siftrec_version": __version__,
            "versions": {str(k): str(v) for k, v in meta.get("versions", {}).items()},
            "serving_versions": serving_versions(),
            "model_dir": str(self.model_dir.resolve()),
            "loaded_at": self.loaded_at,
            "ann": self.ann,
            "supports_fold_in": bool(self.model.supports_fold_in),
            "supports_similar_items": bool(getattr(self.model, "supports_similar_items", False)),
        }

    # ------------------------------------------------------------------ id lookups
    def user_index(self, user: RawId) -> int:
        """The index of raw user id ``user``, -1 when unknown."""
        return int(self.user_map.to_index(np.asarray([user]), what="user")[0])

    def item_indices(self, items: Sequence[RawId], what: str = "item") -> np.ndarray:
        """Indices of raw item ids (-1 for unknown ones)."""
        if len(items) == 0:
            return np.zeros(0, dtype=np.int64)
        return self.item_map.to_index(_id_array(items), what=what)

    def raw_items(self, indices: np.ndarray) -> list[RawId]:
        """Raw item ids of ``indices`` as JSON values."""
        return self.item_map.to_raw(indices).tolist()

    # ------------------------------------------------------------------ recommendations
    def recommend(self, query: Query) -> Recommendation:
        """Answer one recommendation request (see the module docstring)."""
        user = -1 if query.user is None else self.user_index(query.user)
        history, unknown = self._history(query.history)
        deny = self._known(query.deny)
        allow = None if query.allow is None else self._known(query.allow)
        k = min(query.k, self.n_items)
        fold_in = history is not None and self.model.supports_fold_in
        if fold_in:
            rows = history if user < 0 else np.union1d(history, self._seen(user))
            matrix = sp.csr_matrix(
                (np.ones(len(rows), dtype=np.float32), rows, [0, len(rows)]),
                shape=(1, self.n_items),
            )
            scores = self.model.score_history(matrix)[0]
            items, values = _top(scores, k, rows if query.exclude_seen else None, deny, allow)
            source = "history"
        elif user >= 0:
            seen = self._seen(user) if query.exclude_seen else None
            if seen is not None and history is not None:
                seen = np.union1d(seen, history)
            items, values = self._user_top(user, k, seen, deny, allow)
            source = "user"
        else:
            seen = history if query.exclude_seen else None
            items, values = _top(self.popularity, k, seen, deny, allow)
            return Recommendation(
                self.raw_items(items), values.tolist(), "popularity", "popularity", unknown
            )
        return Recommendation(self.raw_items(items), values.tolist(), source, None, unknown)

    def _seen(self, user: int) -> np.ndarray:
        """The training items of ``user`` (read from the CSR arrays: no matrix slicing)."""
        seen = self.model.seen_
        return seen.indices[seen.indptr[user] : seen.indptr[user + 1]]

    def _user_top(
        self,
        user: int,
        k: int,
        seen: np.ndarray | None,
        deny: np.ndarray,
        allow: np.ndarray | None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` of a training user: through the index over the factor tables of a
        dot-product model (exact or ANN), else from the model's full score row.

        Serving ranks one row itself rather than through ``Recommender.recommend`` or
        ``score``, whose memory guard reads the process's limits (cgroup files) on every call.
        """
        if self.index is not None and allow is not None:
            scores = self.user_vectors[user] @ self.item_vectors.T
            return _top(scores, k, seen, deny, allow)
        if self.index is not None:
            masked = deny if seen is None else np.union1d(seen, deny)
            want = min(k + len(masked) + ANN_MARGIN, self.n_items)
            cand, values = self.index.search(self.user_vectors[user : user + 1], want)
            keep = (cand[0] >= 0) & ~np.isin(cand[0], masked)
            if keep.sum() >= k or want == self.n_items:
                return cand[0][keep][:k], values[0][keep][:k]
        return _top(self.model.score(np.asarray([user]))[0], k, seen, deny, allow)

    def _history(self, history: Sequence[RawId] | None) -> tuple[np.ndarray | None, list[RawId]]:
        """Known item indices of a posted history (None when none is known) and unknown ids."""
        if not history:
            return None, []
        indices = self.item_indices(history, "history item")
        unknown = [history[i] for i in np.flatnonzero(indices < 0)]
        known = np.unique(indices[indices >= 0])
        return (known if len(known) else None), unknown

    def _known(self, items: Sequence[RawId] | None) -> np.ndarray:
        if not items:
            return np.zeros(0, dtype=np.int64)
        indices = self.item_indices(items)
        return np.unique(indices[indices >= 0])

    # ------------------------------------------------------------------ other requests
    def similar_items(self, item: RawId, k: int) -> tuple[list[RawId], list[float]]:
        """The ``k`` items most similar to ``item`` by the model's own similarity."""
        if not getattr(self.model, "supports_similar_items", False):
            raise SiftrecError(f"{self.model.name} does not support similar items")
        index = self.item_indices([item])
        if index[0] < 0:
            raise UnknownIdError(f"unknown item {item!r}")
        items, scores = _admissible(*self.model.similar_items(index, min(k, self.n_items)))
        return self.raw_items(items), scores.tolist()

    def score_pairs(self, users: Sequence[RawId], items: Sequence[RawId]) -> list[float | None]:
        """Model scores of (user, item) pairs; None where the user or the item is unknown."""
        scores = self.model.score_raw(_id_array(users), _id_array(items), unknown="skip")
        return [None if np.isnan(v) else v for v in scores.tolist()]


def serving_versions() -> dict[str, str]:
    """Versions of the libraries that answer requests."""
    versions = {"python": platform.python_version(), "siftrec": __version__}
    for name in ("numpy", "torch", "fastapi", "pydantic", "uvicorn", "faiss-cpu"):
        try:
            versions[name] = importlib_metadata.version(name)
        except importlib_metadata.PackageNotFoundError:
            continue
    return versions


class UnknownIdError(SiftrecError):
    """A request names a user or item the model does not know (HTTP 404)."""


class ServiceHolder:
    """The one reference to the current :class:`ModelService`; swapping it is the reload.

    Readers take ``holder.service`` once per request, so the swap (a single attribute
    assignment, atomic in Python) never mixes two models inside one answer.
    """

    def __init__(self, service: ModelService) -> None:
        self.service = service
        self.generation = 1

    def swap(self, service: ModelService) -> ModelService:
        """Make ``service`` current; returns the previous one."""
        old, self.service = self.service, service
        self.generation += 1
        return old


def _top(
    scores: np.ndarray,
    k: int,
    seen: np.ndarray | None,
    deny: np.ndarray,
    allow: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` of one score row after the masks, excluded items dropped (not padded)."""
    row = np.array(scores, dtype=np.float32)
    if allow is not None:
        allowed = np.full(len(row), -np.inf, dtype=np.float32)
        allowed[allow] = row[allow]
        row = allowed
    if seen is not None:
        row[seen] = -np.inf
    row[deny] = -np.inf
    return _admissible(*top_k(row[None, :], k))


def _admissible(items: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The first row of a top-k result without its padding (index -1, score -inf)."""
    keep = (items[0] >= 0) & ~np.isneginf(scores[0])
    return items[0][keep], scores[0][keep]


def _id_array(ids: Sequence[RawId]) -> np.ndarray:
    """Raw ids as a numpy array the id maps accept (ints stay ints; mixed lists become text)."""
    if all(isinstance(v, int) for v in ids):
        return np.asarray(ids, dtype=np.int64)
    return np.asarray([str(v) for v in ids])
