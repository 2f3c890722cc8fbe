"""Where item and user texts come from: a CSV of ``item,text``, the MovieLens item files, and
profiles templated from a user's training items."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siftrec.data.ids import IdMap, normalize_ids
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

#: ml-100k's genre columns, in ``u.item`` order.
ML100K_GENRES = (
    "unknown Action Adventure Animation Children's Comedy Crime Documentary Drama Fantasy "
    "Film-Noir Horror Musical Mystery Romance Sci-Fi Thriller War Western"
).split()


@dataclass(frozen=True)
class ItemText:
    """Raw item ids and their texts (position-aligned)."""

    ids: np.ndarray
    texts: list[str]

    def __post_init__(self) -> None:
        if len(self.ids) != len(self.texts):
            raise SiftrecError(f"item text has {len(self.ids)} ids but {len(self.texts)} texts")
        if len(np.unique(self.ids)) != len(self.ids):
            raise SiftrecError("item text lists an item more than once")

    def for_items(self, item_map: IdMap) -> tuple[list[str], np.ndarray]:
        """The text of every item of ``item_map`` ("" when unknown) and a mask of those known."""
        ids = self.ids
        if item_map.is_integer != (ids.dtype.kind == "i"):  # compare as strings
            ids, known_ids = ids.astype(str), item_map.ids.astype(str)
            index = IdMap(known_ids).to_index(ids, what="item")
        else:
            index = item_map.to_index(ids, what="item")
        texts = [""] * len(item_map)
        has_text = np.zeros(len(item_map), dtype=bool)
        for position in np.flatnonzero(index >= 0):
            texts[index[position]] = self.texts[position]
            has_text[index[position]] = True
        return texts, has_text


def read_item_text(path: str | Path, column: str = "text") -> ItemText:
    """Read a CSV with an ``item`` column and a text ``column`` (other columns are ignored)."""
    path = Path(path)
    if not path.is_file():
        raise SiftrecError(f"item text file {path} does not exist")
    with path.open(newline="", encoding="utf-8", errors="replace") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        for needed in ("item", column):
            if needed not in fields:
                raise SiftrecError(
                    f"item text file {path} has no {needed!r} column (columns: {', '.join(fields)})"
                )
        rows = [(row["item"], row[column] or "") for row in reader]
    if not rows:
        raise SiftrecError(f"item text file {path} has no rows")
    ids, texts = zip(*rows, strict=True)
    return ItemText(normalize_ids(np.asarray(ids), "item"), list(texts))


def movielens_item_text(directory: str | Path) -> ItemText:
    """Titles and genres of MovieLens items: ml-100k ``u.item`` or ml-1m ``movies.dat``.

    Text: ``"<title>. Genres: <g1>, <g2>"``.
    """
    directory = Path(directory)
    if (directory / "u.item").is_file():
        ids, texts = [], []
        for line in (directory / "u.item").read_text(encoding="latin-1").splitlines():
            fields = line.split("|")
            if len(fields) < 5 + len(ML100K_GENRES):
                continue
            flags = fields[5 : 5 + len(ML100K_GENRES)]
            genres = [g for g, flag in zip(ML100K_GENRES, flags, strict=True) if flag == "1"]
            ids.append(int(fields[0]))
            texts.append(f"{fields[1]}. Genres: {', '.join(genres)}")
    elif (directory / "movies.dat").is_file():
        ids, texts = [], []
        for line in (directory / "movies.dat").read_text(encoding="latin-1").splitlines():
            movie, title, genres = line.split("::")
            ids.append(int(movie))
            texts.append(f"{title}. Genres: {genres.replace('|', ', ')}")
    else:
        raise SiftrecError(f"{directory} has neither u.item (ml-100k) nor movies.dat (ml-1m)")
    return ItemText(np.asarray(ids, dtype=np.int64), texts)


def user_profiles(train: Interactions, item_texts: list[str], max_items: int = 20) -> list[str]:
    """One templated profile per user from the texts of the user's training items.

    ``"Interacted with: <text>; <text>; ..."`` over the user's ``max_items`` most recent items
    (by ``timestamp`` when the log has one, else the first in item order); built from ``train``
    only, so held-out items never leak into a profile (RLMRec's pitfall).
    """
    if max_items < 1:
        raise SiftrecError(f"max_items must be at least 1, got {max_items}")
    users, items = train.users, train.items
    if train.has_column("timestamp"):
        order = np.lexsort((-train.column("timestamp").astype(np.float64), users))
    else:
        order = np.lexsort((items, users))
    users, items = users[order], items[order]
    starts = np.searchsorted(users, np.arange(train.n_users))
    rank = np.arange(len(users)) - starts[users]
    keep = rank < max_items
    users, items = users[keep], items[keep]
    bounds = np.searchsorted(users, np.arange(train.n_users + 1))
    profiles = []
    for user in range(train.n_users):
        chosen = items[bounds[user] : bounds[user + 1]]
        texts = [item_texts[i] for i in chosen if item_texts[i]]
        profiles.append("Interacted with: " + "; ".join(texts) if texts else "")
    return profiles
