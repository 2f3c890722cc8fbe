"""Export a fitted model for systems that precompute or serve it themselves (``siftrec export``).

The output directory, written atomically as one unit, holds:

- ``export.json``: the model, its training fingerprint, the sizes and the files written;
- ``ids.npz`` (``users``, ``items``: raw ids, position = index) and ``users.parquet`` /
  ``items.parquet`` (``index``, ``user`` / ``item``; items also ``popularity``, their number of
  training users);
- ``factors.npz`` (``users``, ``items``; ``score = users @ items.T``, an item bias folded in as
  a last coordinate) for dot-product models (:func:`siftrec.serve.ann.factor_tables`);
- with ``top_k``: ``topk.parquet`` with ``user, item, rank, score`` (raw ids, rank 1 = best,
  training items excluded unless ``exclude_seen=False``) for every training user, computed and
  written ``block_users`` users at a time, so memory does not grow with the number of users;
- with ``ann="faiss"``: ``items.faiss``, the ANN index ``siftrec serve --ann-index`` loads
  instead of building one.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from siftrec.atomic import DirectoryKind, atomic_directory, check_directory_target
from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender
from siftrec.serve.ann import FaissIndex, factor_tables

EXPORT_DIRECTORY = DirectoryKind("siftrec export directory", "export.json", ("model", "files"))
#: Files an export writes (an earlier export's leftovers among them are dropped, not carried).
EXPORT_FILES = (
    "export.json",
    "ids.npz",
    "users.parquet",
    "items.parquet",
    "factors.npz",
    "topk.parquet",
    "items.faiss",
)


def export_model(
    model: Recommender,
    out: str | Path,
    *,
    top_k: int | None = None,
    exclude_seen: bool = True,
    block_users: int = 4096,
    ann: str | None = None,
) -> dict[str, Any]:
    """Write the export of a fitted ``model`` to directory ``out``; returns ``export.json``."""
    if top_k is not None and top_k < 1:
        raise SiftrecError(f"top_k must be a positive integer, got {top_k}")
    if block_users < 1:
        raise SiftrecError(f"block size must be at least 1, got {block_users}")
    if ann not in (None, "faiss"):
        raise SiftrecError(f"unknown ANN index {ann!r}; the export writes faiss indexes")
    check_directory_target(out, EXPORT_DIRECTORY)
    tables = factor_tables(model)
    if ann is not None and tables is None:
        raise SiftrecError(f"{model.name} is not a dot-product model; it has no ANN index")
    users, items = model.user_map_.ids, model.item_map_.ids
    popularity = np.asarray(model.seen_.sum(axis=0)).ravel().astype(np.int64)
    files = ["export.json", "ids.npz", "users.parquet", "items.parquet"]
    with atomic_directory(out, EXPORT_DIRECTORY, stale=EXPORT_FILES) as tmp:
        np.savez(tmp / "ids.npz", users=users, items=items)
        pq.write_table(
            pa.table({"index": np.arange(len(users)), "user": users}), tmp / "users.parquet"
        )
        pq.write_table(
            pa.table({"index": np.arange(len(items)), "item": items, "popularity": popularity}),
            tmp / "items.parquet",
        )
        if tables is not None:
            np.savez(tmp / "factors.npz", users=tables[0], items=tables[1])
            files.append("factors.npz")
        if ann is not None:
            FaissIndex(tables[1]).save(tmp / "items.faiss")
            files.append("items.faiss")
        if top_k is not None:
            k = min(top_k, model.n_items)
            _write_top_k(model, tmp / "topk.parquet", k, exclude_seen, block_users)
            files.append("topk.parquet")
        meta = {
            "model": model.name,
            "train_fingerprint": model.train_fingerprint_,
            "n_users": model.n_users,
            "n_items": model.n_items,
            "factors": None if tables is None else int(tables[1].shape[1]),
            "top_k": None if top_k is None else min(top_k, model.n_items),
            "exclude_seen": exclude_seen,
            "files": sorted(files),
        }
        (tmp / "export.json").write_text(json.dumps(meta, indent=2))
    return meta


def _write_top_k(
    model: Recommender,
    path: Path,
    k: int,
    exclude_seen: bool,
    block_users: int,
) -> None:
    """Stream ``user, item, rank, score`` for every training user, one block at a time."""
    user_ids, item_ids = model.user_map_.ids, model.item_map_.ids
    schema = pa.schema(
        [
            ("user", _id_type(user_ids)),
            ("item", _id_type(item_ids)),
            ("rank", pa.int32()),
            ("score", pa.float32()),
        ]
    )
    with pq.ParquetWriter(path, schema) as writer:
        for start in range(0, model.n_users, block_users):
            users = np.arange(start, min(start + block_users, model.n_users))
            top, scores = model.recommend(users, k, exclude_seen, batch_size=block_users)
            valid = top >= 0
            rows = np.broadcast_to(users[:, None], top.shape)[valid]
            ranks = np.broadcast_to(np.arange(1, k + 1, dtype=np.int32), top.shape)[valid]
            block = {
                "user": user_ids[rows],
                "item": item_ids[top[valid]],
                "rank": ranks,
                "score": scores[valid].astype(np.float32),
            }
            writer.write_table(pa.table(block, schema=schema))


def _id_type(ids: np.ndarray) -> pa.DataType:
    """The Parquet column type of raw ids (int64 or text)."""
    return pa.int64() if ids.dtype.kind == "i" else pa.string()
