"""The model contract every siftrec recommender implements.

A model is a scorer: ``fit(train)`` learns from an :class:`Interactions` log, ``score(users)``
returns dense item scores, ``recommend(users, k)`` returns top-K item indices. Hyperparameters
live in a typed dataclass (``Config``); learned state is a dict of numpy arrays that ``save``
writes to ``arrays.npz`` (no pickle) next to ``model.json``.

Subclasses implement ``_fit``, ``_score`` and ``_get_state``/``_set_state``; everything else
(validation, batching, masking, top-K, persistence) lives here once. How a fit runs (device,
progress bar) is a :class:`FitOptions`, not a hyperparameter: it is never saved. Loading by the
name in ``model.json`` is the registry's (``siftrec.models.registry.load_model``).
"""

from __future__ import annotations

import dataclasses
import json
import platform
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import scipy
import scipy.sparse as sp

from siftrec.atomic import atomic_directory
from siftrec.components import coerce_param
from siftrec.data.frames import FrameKind, as_interactions, result_frame
from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.lazy import torch_version
from siftrec.models.products import score_matrix
from siftrec.models.ranking import top_k
from siftrec.models.storage import read_npz, read_sparse
from siftrec.resources import require_score_block
from siftrec.version import __version__

if TYPE_CHECKING:
    import torch
else:  # popularity and ItemKNN fits never make a tensor: torch loads on first use
    from siftrec.lazy import torch

MODEL_FORMAT_VERSION = 1


@dataclasses.dataclass
class NoConfig:
    """Config of a model without hyperparameters."""


@dataclasses.dataclass(frozen=True)
class FitOptions:
    """How a fit runs, not what it learns: never part of the saved hyperparameters.

    Attributes:
        device: ``"auto"`` (CUDA when present), ``"cpu"``, ``"cuda"`` or ``"cuda:N"``; where the
            model trains and scores.
        progress: show progress bars on stderr while fitting; None (the default) shows them
            when stderr is a terminal (:func:`siftrec.progress.show_progress`).
    """

    device: str = "auto"
    progress: bool | None = None


class Recommender(ABC):
    """Base class of every model. See the module docstring for the contract."""

    name: ClassVar[str] = "base"
    Config: ClassVar[type] = NoConfig
    #: Whether ``fit`` takes a ``validation`` log (torch models early-stop on it).
    uses_validation: ClassVar[bool] = False
    #: The :class:`FitOptions` the model reads (others it has no use for are refused).
    fit_options: ClassVar[frozenset[str]] = frozenset()

    def __init__(
        self, config: Any | None = None, *, options: FitOptions | None = None, **params: Any
    ) -> None:
        """``params`` override fields of ``config``; a :class:`FitOptions` field among them
        (``device="cpu"``, as ``siftrec fit --param device=cpu`` and model.json files from
        before fit options pass it) sets the default ``options`` of this model's fits."""
        cfg = config if config is not None else self.Config()
        if not isinstance(cfg, self.Config):
            raise SiftrecError(f"{self.name}: config must be a {self.Config.__name__}")
        values = {k: self.parse_param(k, v) for k, v in params.items()}
        run = {k: values.pop(k) for k in self._run_options() if k in values}
        self.config = dataclasses.replace(cfg, **values)
        self.options = dataclasses.replace(options or FitOptions(), **run)
        self.fit_seconds_: float | None = None
        self.history_: list[dict[str, Any]] = []
        self.train_fingerprint_: str | None = None
        self.seen_: sp.csr_matrix | None = None
        self.user_map_: IdMap | None = None
        self.item_map_: IdMap | None = None

    # ------------------------------------------------------------------ parameters
    @classmethod
    def _run_options(cls) -> frozenset[str]:
        """The fit options the constructor takes as parameters (a hyperparameter of the same
        name wins)."""
        return cls.fit_options - {f.name for f in dataclasses.fields(cls.Config)}

    @classmethod
    def parse_param(cls, key: str, value: Any) -> Any:
        """``value`` (often a CLI string) as the declared type of the hyperparameter or fit
        option ``key`` of this model (an unknown name is a ``SiftrecError``)."""
        if key in cls._run_options():
            return coerce_param(FitOptions, key, value)
        return coerce_param(cls.Config, key, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """Hyperparameters as a plain dict (JSON-serialisable), as scikit-learn asks for them.

        ``deep`` is accepted for scikit-learn (a model holds no nested estimators, so it changes
        nothing). The values are the config's own objects, so ``sklearn.base.clone`` can check
        that a clone took them unchanged; fit options (device, progress) are not included.
        """
        return {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}

    def set_params(self, **params: Any) -> Recommender:
        """Change hyperparameters (or fit options) in place, each parsed by :meth:`parse_param`
        and the whole config validated again; returns ``self`` (scikit-learn's protocol).

        A fitted model keeps its learned state until the next ``fit``.
        """
        values = {k: self.parse_param(k, v) for k, v in params.items()}
        run = {k: values.pop(k) for k in self._run_options() if k in values}
        self.config = dataclasses.replace(self.config, **values)
        self.options = dataclasses.replace(self.options, **run)
        return self

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ fitting
    def fit(
        self,
        train: Any,
        validation: Any | None = None,
        *,
        options: FitOptions | None = None,
        user_col: str | None = None,
        item_col: str | None = None,
        weight_col: str | None = None,
        **fit_options: Any,
    ) -> Recommender:
        """Learn from ``train``; returns ``self``.

        ``train`` is an :class:`Interactions` log, a pandas or polars DataFrame (columns named
        by ``user_col``/``item_col``/``weight_col`` or found as the CLI finds them) or a scipy
        sparse users × items matrix (:func:`siftrec.data.frames.as_interactions`).
        ``validation`` (models with ``uses_validation``) is a log of the same kinds; ids unknown
        to ``train`` are dropped. ``options`` replace the model's :class:`FitOptions` (kept for
        later scoring); further ``fit_options`` (e.g. a torch model's ``evaluator``) go to the
        subclass hook.
        """
        train = as_interactions(train, user_col, item_col, weight_col, what="train")
        if validation is not None and not isinstance(validation, Interactions):
            valid = as_interactions(validation, user_col, item_col, weight_col, "validation")
            validation = _on_maps(valid, train)
        if len(train) == 0:
            raise SiftrecError("cannot fit on an empty interaction log")
        if validation is not None:
            if not self.uses_validation:
                raise SiftrecError(f"model {self.name} does not use a validation set")
            fit_options["validation"] = validation
        if options is not None:
            if not isinstance(options, FitOptions):
                raise SiftrecError(f"options must be FitOptions, got {type(options).__name__}")
            self.options = options
        self.user_map_, self.item_map_ = train.user_map, train.item_map
        self.seen_ = train.binary
        self.train_fingerprint_ = train.fingerprint()
        self.history_ = []
        start = time.perf_counter()
        self._fit(train, **fit_options)
        self.fit_seconds_ = time.perf_counter() - start
        return self

    @abstractmethod
    def _fit(self, train: Interactions, **fit_options: Any) -> None:
        """Learn the model state from ``train`` (maps and seen matrix are already set)."""

    @property
    def is_fitted(self) -> bool:
        return self.seen_ is not None

    @property
    def n_users(self) -> int:
        self._check_fitted()
        return self.seen_.shape[0]

    @property
    def n_items(self) -> int:
        self._check_fitted()
        return self.seen_.shape[1]

    def _check_fitted(self) -> None:
        if self.seen_ is None:
            raise SiftrecError(f"{self.name} model is not fitted; call fit(train) first")

    # ------------------------------------------------------------------ scoring
    def _check_users(self, users: np.ndarray | list[int] | int) -> np.ndarray:
        self._check_fitted()
        arr = np.atleast_1d(np.asarray(users))
        if arr.dtype.kind not in "iu":
            raise SiftrecError(f"user indices must be integers, got dtype {arr.dtype}")
        if arr.size and (arr.min() < 0 or arr.max() >= self.n_users):
            raise SiftrecError(
                f"user index out of range [0, {self.n_users}); map raw ids with user_map_ first"
            )
        return arr.astype(np.int64)

    def score(self, users: np.ndarray | list[int] | int) -> np.ndarray:
        """Dense float32 scores, shape (len(users), n_items), for training-user indices."""
        users = self._check_users(users)
        require_score_block(len(users), self.n_items)
        return _as_tensor(self._score(users)).float().cpu().numpy()

    def score_pairs(
        self,
        users: np.ndarray | list[int],
        items: np.ndarray | list[int],
        batch_size: int = 1024,
    ) -> np.ndarray:
        """Float32 scores of the pairs ``(users[b], items[b])`` (training-user and item indices).

        The one pair-scoring path (``siftrec score``, the noise scores). By default each distinct
        user's score row is computed once, ``batch_size`` users at a time; a model that can score
        pairs directly (a torch scorer) overrides :meth:`_score_pairs`.
        """
        users = self._check_users(users)
        items = np.atleast_1d(np.asarray(items))
        if items.dtype.kind not in "iu":
            raise SiftrecError(f"item indices must be integers, got dtype {items.dtype}")
        if items.shape != users.shape:
            raise SiftrecError(f"got {users.size} users but {items.size} items; pass one per pair")
        if items.size and (items.min() < 0 or items.max() >= self.n_items):
            raise SiftrecError(
                f"item index out of range [0, {self.n_items}); map raw ids with item_map_ first"
            )
        if batch_size < 1:
            raise SiftrecError(f"batch_size must be at least 1, got {batch_size}")
        return self._score_pairs(users, items.astype(np.int64), batch_size)

    def _score_pairs(self, users: np.ndarray, items: np.ndarray, batch_size: int) -> np.ndarray:
        """Pair scores from blocks of full score rows (valid indices, same length)."""
        out = np.empty(len(users), dtype=np.float32)
        order = np.argsort(users, kind="stable")
        sorted_users = users[order]
        distinct, starts = np.unique(sorted_users, return_index=True)
        bounds = np.r_[starts, len(users)]
        for start in range(0, len(distinct), batch_size):
            batch = distinct[start : start + batch_size]
            rows = order[bounds[start] : bounds[start + len(batch)]]
            block = self.score(batch)
            out[rows] = block[np.searchsorted(batch, users[rows]), items[rows]]
        return out

    @abstractmethod
    def _score(self, users: np.ndarray) -> np.ndarray | torch.Tensor:
        """Scores for a batch of valid user indices (numpy array or torch tensor).

        The result must be a fresh buffer the caller may overwrite (``recommend`` masks it in
        place to avoid copying a users × items block), or a read-only numpy view, which is copied.
        """

    def recommend(
        self,
        users: np.ndarray | list[int] | int,
        k: int = 10,
        exclude_seen: bool = True,
        exclude: sp.csr_matrix | None = None,
        exclude_items: np.ndarray | None = None,
        batch_size: int = 1024,
        include_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` item indices and scores per user, best first, shape (len(users), k).

        ``exclude_seen`` masks the training items; ``exclude`` (users × items CSR over all
        training users) masks more (e.g. validation items at test time); ``exclude_items``
        (item indices, a deny-list) are masked for every user (e.g. items never seen in
        training); ``include_items`` (item indices, an allow-list) are the only items that can
        be recommended. Rows with fewer than ``k`` admissible items are padded with index -1
        and score -inf.
        """
        users = self._check_users(users)
        self._check_k(k)
        require_score_block(min(batch_size, len(users)), self.n_items)
        exclude_items = self._check_items(exclude_items, "exclude_items")
        include_items = self._check_items(include_items, "include_items")
        if exclude is not None and exclude.shape != self.seen_.shape:
            raise SiftrecError(
                f"exclude matrix has shape {exclude.shape}, expected {self.seen_.shape}"
            )

        def batches():
            for start in range(0, len(users), batch_size):
                batch = users[start : start + batch_size]
                mask = self.seen_[batch] if exclude_seen else None
                if exclude is not None:
                    mask = exclude[batch] if mask is None else mask + exclude[batch]
                yield self._score(batch), mask

        return _rank_batches(batches(), k, exclude_items, include_items)

    # ------------------------------------------------------------------ fold-in
    #: Whether the model can score users unseen in training from their interactions alone.
    supports_fold_in: ClassVar[bool] = False
    #: Whether fold-in of a training user's own row gives their trained scores (models that
    #: score from the row); False where it re-estimates the user (a solve or an optimisation).
    fold_in_exact: ClassVar[bool] = True

    def score_history(self, history: sp.csr_matrix) -> np.ndarray:
        """Scores for new users given their interactions (rows of a users × n_items CSR).

        Needed by the strong-generalisation protocol. Models that support it set
        ``supports_fold_in`` and implement ``_score_history``.
        """
        self._check_fitted()
        history = self._check_history(history)
        return _as_tensor(self._score_history(history)).float().cpu().numpy()

    def recommend_history(
        self,
        history: sp.csr_matrix,
        k: int = 10,
        exclude_seen: bool = True,
        batch_size: int = 1024,
        exclude_items: np.ndarray | None = None,
        include_items: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` for new users given their interactions; their own items are masked.

        ``exclude_items`` / ``include_items`` (item indices) are the deny- and allow-lists of
        :meth:`recommend`.
        """
        self._check_fitted()
        history = self._check_history(history)
        self._check_k(k)
        require_score_block(min(batch_size, history.shape[0]), self.n_items)
        exclude_items = self._check_items(exclude_items, "exclude_items")
        include_items = self._check_items(include_items, "include_items")

        def batches():
            for start in range(0, history.shape[0], batch_size):
                rows = history[start : start + batch_size]
                yield self._score_history(rows), (rows if exclude_seen else None)

        return _rank_batches(batches(), k, exclude_items, include_items)

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray | torch.Tensor:
        raise SiftrecError(f"{self.name} cannot score users unseen in training (no fold-in)")

    def _check_history(self, history: sp.csr_matrix) -> sp.csr_matrix:
        if not sp.issparse(history):
            raise SiftrecError("history must be a scipy sparse users × items matrix")
        if history.shape[1] != self.n_items:
            raise SiftrecError(
                f"history has {history.shape[1]} item columns, the model has {self.n_items}"
            )
        if not self.supports_fold_in:
            raise SiftrecError(f"{self.name} cannot score users unseen in training (no fold-in)")
        return sp.csr_matrix(history, dtype=np.float32)

    def _check_items(self, items: Any, what: str) -> np.ndarray | None:
        """Item indices of an allow-/deny-list or a query (None stays None), range-checked."""
        if items is None:
            return None
        arr = np.atleast_1d(np.asarray(items))
        if arr.size == 0:
            return np.zeros(0, dtype=np.int64)
        if arr.ndim != 1 or arr.dtype.kind not in "iu":
            raise SiftrecError(
                f"{what} must be a 1-d array of item indices, got dtype {arr.dtype} "
                f"shape {arr.shape}; map raw ids with item_map_ (or use the *_raw methods)"
            )
        if arr.min() < 0 or arr.max() >= self.n_items:
            raise SiftrecError(f"{what}: item index out of range [0, {self.n_items})")
        return arr.astype(np.int64)

    # ------------------------------------------------------------------ similar items
    #: Whether the model has item factors or an item-item matrix to compare items with.
    supports_similar_items: ClassVar[bool] = False

    def similar_items(
        self, items: np.ndarray | list[int] | int, k: int = 10, batch_size: int = 1024
    ) -> tuple[np.ndarray, np.ndarray]:
        """The ``k`` items most similar to each query item, best first: (indices, scores),
        shape (len(items), k); the query item itself is excluded.

        Similarity is the model's own (cosine of item embeddings for factor models, the learned
        item-item weights for ItemKNN and EASE: see each model's docstring). Rows with fewer
        than ``k`` other items are padded with index -1 and score -inf.
        """
        self._check_fitted()
        if not self.supports_similar_items:
            raise SiftrecError(
                f"{self.name} has no item factors or item-item matrix; it cannot find similar items"
            )
        items = self._check_items(items, "items")
        self._check_k(k)

        def batches():
            for start in range(0, len(items), batch_size):
                batch = items[start : start + batch_size]
                rows = np.arange(len(batch))
                itself = sp.csr_matrix(
                    (np.ones(len(batch), dtype=np.float32), (rows, batch)),
                    shape=(len(batch), self.n_items),
                )
                yield self._similar_items(batch), itself

        return _rank_batches(batches(), k)

    def _similar_items(self, items: np.ndarray) -> np.ndarray | torch.Tensor:
        """Similarity of each item in ``items`` (valid indices) to every item, a fresh
        (len(items), n_items) block; models that set ``supports_similar_items`` implement it."""
        raise SiftrecError(f"{self.name} cannot find similar items")

    # ------------------------------------------------------------------ raw ids
    def recommend_raw(
        self,
        users: Any,
        k: int = 10,
        exclude_seen: bool = True,
        items: Any | None = None,
        exclude_items: Any | None = None,
        *,
        unknown: str = "error",
        as_: FrameKind = None,
        batch_size: int = 1024,
    ) -> Any:
        """Top-``k`` for training users named by their raw ids, as a table with the columns
        ``user, item, rank, score`` in raw ids (rank 1 = best), like ``siftrec recommend``.

        ``items`` (raw item ids) is an allow-list, ``exclude_items`` a deny-list.
        ``unknown="error"`` (default) refuses ids the model does not know, naming them;
        ``"skip"`` drops them. ``as_``: ``"pandas"``, ``"polars"`` or None (pandas when it is
        installed, else polars). Users with fewer than ``k`` admissible items (``k`` larger
        than the catalog included) get fewer rows.
        """
        index = self._raw_index(self.user_map_, users, "user", unknown)
        top, scores = self.recommend(
            index,
            self._raw_k(k),
            exclude_seen,
            exclude_items=self._raw_items(exclude_items, unknown),
            include_items=self._raw_items(items, unknown),
            batch_size=batch_size,
        )
        columns = ranked_columns(self.user_map_, index, self.item_map_, top, scores)
        return result_frame(columns, as_)

    def recommend_history_raw(
        self,
        history: Any,
        k: int = 10,
        exclude_seen: bool = True,
        items: Any | None = None,
        exclude_items: Any | None = None,
        *,
        unknown: str = "error",
        as_: FrameKind = None,
        user_col: str | None = None,
        item_col: str | None = None,
        weight_col: str | None = None,
        batch_size: int = 1024,
    ) -> Any:
        """Top-``k`` for users given by a posted history (fold-in, models with
        ``supports_fold_in``): a DataFrame or :class:`Interactions` of raw (user, item) ids,
        whose users need not be known to the model. Items the model does not know are
        dropped from the history; each user's own items are masked unless ``exclude_seen`` is
        False. The result, lists and switches are those of :meth:`recommend_raw`, with the
        history's user ids.
        """
        self._check_fitted()
        if sp.issparse(history):
            raise SiftrecError(
                "a sparse history is in item indices: pass it to recommend_history; "
                "recommend_history_raw takes a DataFrame of raw (user, item) ids"
            )
        log = as_interactions(history, user_col, item_col, weight_col)
        item_index = self.item_map_.to_index(log.raw_items(), what="item")
        known = item_index >= 0
        matrix = sp.csr_matrix(
            (log.weights[known], (log.users[known], item_index[known])),
            shape=(log.n_users, self.n_items),
            dtype=np.float32,
        )
        matrix.sum_duplicates()
        top, scores = self.recommend_history(
            matrix,
            self._raw_k(k),
            exclude_seen,
            batch_size,
            exclude_items=self._raw_items(exclude_items, unknown),
            include_items=self._raw_items(items, unknown),
        )
        users = np.arange(log.n_users)
        columns = ranked_columns(log.user_map, users, self.item_map_, top, scores)
        return result_frame(columns, as_)

    def score_raw(self, users: Any, items: Any, *, unknown: str = "error") -> np.ndarray:
        """Float32 scores of the pairs ``(users[b], items[b])`` given as raw ids.

        ``unknown="error"`` refuses ids the model does not know, naming them; ``"skip"`` gives
        such pairs a NaN score (the result stays aligned with the input).
        """
        self._check_fitted()
        _check_unknown(unknown)
        raw_users, raw_items = _raw_array(users, "users"), _raw_array(items, "items")
        if raw_users.shape != raw_items.shape:
            raise SiftrecError(
                f"got {raw_users.size} users but {raw_items.size} items; pass one per pair"
            )
        user_index = self.user_map_.to_index(raw_users, what="user")
        item_index = self.item_map_.to_index(raw_items, what="item")
        if unknown == "error":
            _refuse_unknown(raw_users, user_index, "user")
            _refuse_unknown(raw_items, item_index, "item")
        known = (user_index >= 0) & (item_index >= 0)
        out = np.full(raw_users.shape, np.nan, dtype=np.float32)
        out[known] = self.score_pairs(user_index[known], item_index[known])
        return out

    def similar_items_raw(
        self, items: Any, k: int = 10, *, unknown: str = "error", as_: FrameKind = None
    ) -> Any:
        """:meth:`similar_items` for raw item ids, as a table with the columns
        ``item, similar_item, rank, score`` (rank 1 = most similar); ``unknown`` and ``as_`` as
        in :meth:`recommend_raw`."""
        index = self._raw_index(self.item_map_, items, "item", unknown)
        top, scores = self.similar_items(index, self._raw_k(k))
        columns = ranked_columns(self.item_map_, index, self.item_map_, top, scores)
        columns["similar_item"] = columns.pop("item")
        columns["item"] = columns.pop("user")
        return result_frame({c: columns[c] for c in SIMILAR_COLUMNS}, as_)

    def _raw_index(self, id_map: IdMap, raw: Any, what: str, unknown: str) -> np.ndarray:
        """Indices of raw ids on ``id_map``; unknown ones refused or (``"skip"``) dropped."""
        self._check_fitted()
        _check_unknown(unknown)
        raw = _raw_array(raw, f"{what}s")
        index = id_map.to_index(raw, what=what)
        if unknown == "error":
            _refuse_unknown(raw, index, what)
        return index[index >= 0]

    def _raw_items(self, raw: Any | None, unknown: str) -> np.ndarray | None:
        return None if raw is None else self._raw_index(self.item_map_, raw, "item", unknown)

    def _raw_k(self, k: int) -> int:
        """``k`` for the raw-id tables: a larger ``k`` than the catalog gives every item."""
        self._check_k(min(k, self.n_items) if isinstance(k, int | np.integer) else k)
        return min(int(k), self.n_items)

    def _check_k(self, k: int) -> None:
        if not isinstance(k, int | np.integer) or isinstance(k, bool) or k <= 0:
            raise SiftrecError(f"k must be a positive integer, got {k!r}")
        if k > self.n_items:
            raise SiftrecError(f"k={k} is larger than the catalog ({self.n_items} items)")

    # ------------------------------------------------------------------ persistence
    @abstractmethod
    def _get_state(self) -> dict[str, np.ndarray]:
        """Learned arrays to persist (numeric numpy arrays only)."""

    @abstractmethod
    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore learned arrays written by ``_get_state``."""

    def metadata(self) -> dict[str, Any]:
        """The content of ``model.json``."""
        return {
            "format_version": MODEL_FORMAT_VERSION,
            "model": self.name,
            "params": self.get_params(),
            "siftrec_version": __version__,
            "versions": {
                "python": platform.python_version(),
                "numpy": np.__version__,
                "scipy": scipy.__version__,
                "torch": torch_version(),
            },
            "n_users": self.n_users,
            "n_items": self.n_items,
            "train_fingerprint": self.train_fingerprint_,
            "fit_seconds": self.fit_seconds_,
            "history": self.history_,
        }

    def save(self, directory: str | Path) -> Path:
        """Write ``model.json``, ``arrays.npz``, ``ids.npz`` and ``seen.npz`` as one unit.

        ``directory`` may be new, empty or an earlier model directory, which is replaced only
        once the new one is complete (other files in it are carried over); any other existing
        path is refused (:func:`siftrec.atomic.atomic_directory`).
        """
        self._check_fitted()
        directory = Path(directory)
        state = self._get_state()
        with atomic_directory(directory) as tmp:
            (tmp / "model.json").write_text(json.dumps(self.metadata(), indent=2, default=_json))
            np.savez(tmp / "arrays.npz", **state)
            np.savez(tmp / "ids.npz", users=self.user_map_.ids, items=self.item_map_.ids)
            sp.save_npz(tmp / "seen.npz", self.seen_, compressed=True)
        return directory

    @classmethod
    def load(cls, directory: str | Path) -> Recommender:
        """Load a model saved by :meth:`save`: the registry's ``load_model``, checking that the
        saved model is a ``cls`` (any model for ``Recommender.load``)."""
        # the registry sits above this module (it imports every model to populate itself)
        from siftrec.models.registry import load_model

        return load_model(directory, None if cls is Recommender else cls)

    def restore(self, directory: Path, meta: Mapping[str, Any]) -> None:
        """Fill this model, built from ``meta["params"]``, from a directory written by
        :meth:`save` (``meta``: its ``model.json``); called by the registry's ``load_model``."""
        n_users, n_items = meta["n_users"], meta["n_items"]
        # Each archive is checked against the zip directory, the file size and model.json's
        # shapes before any array is allocated (see siftrec.models.storage).
        ids = read_npz(directory / "ids.npz", {"users": (n_users,), "items": (n_items,)})
        self.user_map_, self.item_map_ = IdMap(ids["users"]), IdMap(ids["items"])
        self.seen_ = read_sparse(directory / "seen.npz", (n_users, n_items))
        state = read_npz(directory / "arrays.npz")
        self.fit_seconds_ = meta.get("fit_seconds")
        self.history_ = meta.get("history", [])
        self.train_fingerprint_ = meta.get("train_fingerprint")
        try:
            self._set_state(state)
        except (KeyError, ValueError) as exc:
            what = f"member {exc} is missing" if isinstance(exc, KeyError) else str(exc)
            raise SiftrecError(f"corrupt model file {directory / 'arrays.npz'}: {what}") from None


#: The columns of :meth:`Recommender.recommend_raw` (and of ``siftrec recommend``'s file).
RECOMMENDATION_COLUMNS = ("user", "item", "rank", "score")
#: The columns of :meth:`Recommender.similar_items_raw` (and of ``siftrec similar``'s file).
SIMILAR_COLUMNS = ("item", "similar_item", "rank", "score")


def ranked_columns(
    query_map: IdMap, queries: np.ndarray, item_map: IdMap, items: np.ndarray, scores: np.ndarray
) -> dict[str, np.ndarray]:
    """Top-k arrays (rows = ``queries``, padding -1 dropped) as the columns ``user, item, rank,
    score`` in raw ids: one row per recommendation, rank 1 = best."""
    n, k = items.shape
    valid = items >= 0
    rows = np.repeat(np.arange(n), k).reshape(n, k)[valid]
    return {
        "user": query_map.to_raw(np.asarray(queries, dtype=np.int64)[rows]),
        "item": item_map.to_raw(items[valid]),
        "rank": np.tile(np.arange(1, k + 1), n).reshape(n, k)[valid],
        "score": scores[valid],
    }


def item_cosine(factors: torch.Tensor, items: np.ndarray) -> torch.Tensor:
    """Cosine similarity of the rows ``items`` of ``factors`` [I, d] to every row: a fresh
    [len(items), I] tensor (a zero row is similar to nothing: its similarities are 0)."""
    with torch.no_grad():
        unit = factors / factors.norm(dim=1, keepdim=True).clamp_min(1e-12)
        query = unit[torch.as_tensor(items, dtype=torch.long, device=unit.device)]
        return score_matrix(query, unit)


def _check_unknown(unknown: str) -> None:
    if unknown not in ("error", "skip"):
        raise SiftrecError(f"unknown must be 'error' or 'skip', got {unknown!r}")


def _raw_array(raw: Any, what: str) -> np.ndarray:
    """Raw ids (a scalar, list, array or Series) as a flat numpy array."""
    if hasattr(raw, "to_numpy"):  # a pandas or polars Series
        raw = raw.to_numpy()
    arr = np.atleast_1d(np.asarray(raw))
    if arr.ndim != 1:
        raise SiftrecError(f"{what} must be a flat list of ids, got shape {arr.shape}")
    return arr


def _refuse_unknown(raw: np.ndarray, index: np.ndarray, what: str) -> None:
    """A one-line error naming (up to five of) the raw ids the model does not know."""
    unknown = raw[index < 0]
    if unknown.size:
        shown = ", ".join(repr(x) for x in unknown[:5].tolist())
        more = f" and {unknown.size - 5:,} more" if unknown.size > 5 else ""
        raise SiftrecError(
            f"{unknown.size:,} {what} id(s) unknown to the model: {shown}{more}; "
            "pass unknown='skip' to drop them"
        )


def _on_maps(log: Interactions, train: Interactions) -> Interactions:
    """``log`` re-indexed on ``train``'s id maps (rows with unknown ids dropped)."""
    return log.remap(train.user_map, train.item_map)[0]


def _rank_batches(
    batches,
    k: int,
    exclude_items: np.ndarray | None = None,
    include_items: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mask and rank a stream of (scores, mask CSR or None) batches into top-k arrays
    (``include_items``: an allow-list, every other column masked)."""
    all_items, all_scores = [], []
    for raw_scores, mask in batches:
        scores = _as_tensor(raw_scores).detach()
        rank = _fused_top_k if scores.device.type == "cpu" else _device_top_k
        items, values = rank(scores, k, mask, exclude_items, include_items)
        all_items.append(items)
        all_scores.append(values)
    if not all_items:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
    return np.concatenate(all_items), np.concatenate(all_scores)


def _device_top_k(
    scores: torch.Tensor,
    k: int,
    mask: sp.csr_matrix | None,
    exclude_items: np.ndarray | None,
    include_items: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Masking (-inf written into the block) then ``torch.topk`` on the block's device (CUDA);
    masked or missing entries come back as item -1 with score -inf."""
    scores = scores.float()
    if include_items is not None:
        blocked = torch.ones(scores.shape[1], dtype=torch.bool, device=scores.device)
        allowed = torch.as_tensor(np.asarray(include_items), dtype=torch.long)
        blocked[allowed.to(scores.device)] = False
        scores[:, blocked] = float("-inf")
    if exclude_items is not None and len(exclude_items) > 0:
        cols = torch.as_tensor(np.asarray(exclude_items), dtype=torch.long)
        scores[:, cols.to(scores.device)] = float("-inf")
    if mask is not None and mask.nnz > 0:  # one flat index per masked entry, from the CSR rows
        scores = scores.contiguous()
        starts = np.arange(mask.shape[0], dtype=np.int64) * scores.shape[1]
        flat = np.repeat(starts, np.diff(mask.indptr)) + mask.indices
        scores.view(-1)[torch.as_tensor(flat, device=scores.device)] = float("-inf")
    items, values = top_k(scores, k)
    items[np.isneginf(values)] = -1
    return items, values


def _fused_top_k(
    scores: torch.Tensor,
    k: int,
    mask: sp.csr_matrix | None,
    exclude_items: np.ndarray | None,
    include_items: np.ndarray | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Masking and top-k of a CPU block in one pass (``siftrec.models.topk_kernels``); masked
    or missing entries come back as item -1 with score -inf."""
    from siftrec.models.topk_kernels import masked_top_k  # numba loads on the first ranking

    n_rows, n_cols = scores.shape
    k = min(k, n_cols)
    if k <= 0 or n_rows == 0:
        return np.full((n_rows, max(k, 0)), -1, dtype=np.int64), np.full(
            (n_rows, max(k, 0)), -np.inf, dtype=np.float32
        )
    blocked = np.zeros(0, dtype=np.bool_)
    if include_items is not None:
        blocked = np.ones(n_cols, dtype=np.bool_)
        blocked[np.asarray(include_items, dtype=np.int64)] = False
    if exclude_items is not None and len(exclude_items):
        blocked = blocked if blocked.size else np.zeros(n_cols, dtype=np.bool_)
        blocked[np.asarray(exclude_items, dtype=np.int64)] = True
    indptr = indices = np.zeros(0, dtype=np.int64)
    if mask is not None and mask.nnz:
        if not mask.has_sorted_indices:
            mask = mask.sorted_indices()
        indptr, indices = mask.indptr.astype(np.int64), mask.indices.astype(np.int64)
    if scores.dtype not in (torch.float32, torch.float64):
        scores = scores.float()
    return masked_top_k(scores.contiguous().numpy(), k, indptr, indices, blocked)


def _as_tensor(scores: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Scores as a tensor; read-only numpy views (e.g. broadcasts) are copied first."""
    if isinstance(scores, np.ndarray) and not scores.flags.writeable:
        scores = np.array(scores)
    return torch.as_tensor(scores)


def _json(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
