"""Readers for the two public sets with a missing-at-random test log: Coat and Yahoo! R3.

Each ships a missing-not-at-random (MNAR) log of ratings on items the users chose themselves and
a missing-at-random (MAR) log of ratings on items assigned uniformly at random. Both become
:class:`Interactions` on shared id maps (raw id = index, 0-based) with the rating as a ``rating``
side column (weights 1); binarise with ``preprocess.rating_threshold(log, 4)`` as Rel-MF does.

- Coat (Schnabel et al., ICML 2016): ``train.ascii`` / ``test.ascii`` are dense users × items
  rating matrices (0 = unrated), ``propensities.ascii`` the authors' learned propensities of
  every (user, item) pair; they become the training log's ``propensity`` column.
- Yahoo! R3: ``user.txt`` (MNAR) and ``random.txt`` (MAR), comma-separated ``user,item,rating``
  without a header, 0-based ids (the AutoDebias re-encoding of the Webscope files).

Any of these files may be gzipped (``name`` or ``name.gz``). :func:`mnar_split` carves the
validation part that Saito et al. tune on out of the MNAR log; :data:`MAR_READERS` names the
readers (benchmark grids pick one by name).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.data.preprocess import rating_threshold
from siftrec.data.readers import read_bytes, read_interactions
from siftrec.data.splits import Split
from siftrec.errors import SiftrecError


@dataclass(frozen=True)
class MARDataset:
    """An MNAR training log and an MAR test log on the same id maps, both with ``rating``."""

    name: str
    train: Interactions
    test: Interactions


def read_coat(directory: str | Path) -> MARDataset:
    """Read Coat from ``directory`` (``train.ascii``, ``test.ascii``, ``propensities.ascii``)."""
    directory = _directory(directory)
    train = _dense_matrix(_find(directory, "train.ascii"))
    test = _dense_matrix(_find(directory, "test.ascii"))
    propensity = _dense_matrix(_find(directory, "propensities.ascii"))
    if not train.shape == test.shape == propensity.shape:
        raise SiftrecError(
            f"coat matrices disagree in shape: train {train.shape}, test {test.shape}, "
            f"propensities {propensity.shape}"
        )
    for name, matrix in (("train.ascii", train), ("test.ascii", test)):
        bad = (matrix != np.round(matrix)) | (matrix < 0) | (matrix > 5)
        if bad.any():
            raise SiftrecError(f"{name} holds {int(bad.sum())} values that are not ratings 0..5")
    user_map = IdMap(np.arange(train.shape[0], dtype=np.int64))
    item_map = IdMap(np.arange(train.shape[1], dtype=np.int64))
    u, i = np.nonzero(train)
    theta = propensity[u, i]
    bad = ~np.isfinite(theta) | (theta <= 0) | (theta > 1)
    if bad.any():
        raise SiftrecError(f"{int(bad.sum())} rated coat pairs have a propensity outside (0, 1]")
    train_log = Interactions(
        u,
        i,
        np.ones(len(u), dtype=np.float32),
        user_map,
        item_map,
        {"rating": train[u, i].astype(np.int8), "propensity": theta.astype(np.float32)},
    )
    u, i = np.nonzero(test)
    test_log = Interactions(
        u,
        i,
        np.ones(len(u), dtype=np.float32),
        user_map,
        item_map,
        {"rating": test[u, i].astype(np.int8)},
    )
    return MARDataset("coat", train_log, test_log)


def read_yahoo_r3(directory: str | Path) -> MARDataset:
    """Read Yahoo! R3 from ``directory`` (``user.txt`` = MNAR train, ``random.txt`` = MAR test)."""
    directory = _directory(directory)
    logs = {}
    for part, name in (("train", "user.txt"), ("test", "random.txt")):
        path = _find(directory, name)
        log = read_interactions(path, "csv", header=False, columns=["user", "item", "rating"])
        if not (log.user_map.is_integer and log.item_map.is_integer):
            raise SiftrecError(f"{path.name}: user and item ids must be integers")
        rating = log.column("rating")
        if rating.dtype.kind not in "iu" or rating.min() < 1 or rating.max() > 5:
            raise SiftrecError(f"{path.name}: ratings must be integers 1..5")
        logs[part] = log
    ids = [log.raw_users() for log in logs.values()] + [log.raw_items() for log in logs.values()]
    if min(int(a.min()) for a in ids) < 0:
        raise SiftrecError("yahoo-r3 ids must be 0-based non-negative integers")
    n_users = max(int(log.raw_users().max()) for log in logs.values()) + 1
    n_items = max(int(log.raw_items().max()) for log in logs.values()) + 1
    user_map = IdMap(np.arange(n_users, dtype=np.int64))
    item_map = IdMap(np.arange(n_items, dtype=np.int64))
    train, _ = logs["train"].remap(user_map, item_map)
    test, _ = logs["test"].remap(user_map, item_map)
    return MARDataset("yahoo-r3", train, test)


def mnar_split(
    data: MARDataset, *, threshold: float = 4, validation_ratio: float = 0.1, seed: int = 12345
) -> Split:
    """Saito et al.'s split: random MNAR rows → train/validation, both binarised; MAR = test.

    Each row of the MNAR log goes to validation with probability ``validation_ratio`` (one
    uniform draw per row from ``default_rng(seed)``; the authors use seed 12345), then both parts
    keep the rows rated ``>= threshold``. Side columns (``rating``, Coat's ``propensity``) stay.
    The test part is the MAR log unchanged (all ratings, for the rated-items protocol).
    """
    if not 0 < validation_ratio < 1:
        raise SiftrecError(f"validation_ratio must be in (0, 1), got {validation_ratio}")
    held = np.random.default_rng(seed).random(len(data.train)) < validation_ratio
    train = rating_threshold(data.train.subset(~held), threshold)
    validation = rating_threshold(data.train.subset(held), threshold)
    if len(train) == 0 or len(validation) == 0:
        raise SiftrecError(
            f"{data.name}: no MNAR rating >= {threshold} in the train or validation part"
        )
    manifest = {
        "scheme": "mnar-split",
        "seed": seed,
        "parameters": {"threshold": threshold, "validation_ratio": validation_ratio},
        "counts": {"train": len(train), "validation": len(validation), "test": len(data.test)},
    }
    return Split(train=train, test=data.test, validation=validation, manifest=manifest)


def without_propensity(log: Interactions) -> Interactions:
    """``log`` without its ``propensity`` column: propensity-aware code falls back on the power
    law (e.g. Rel-MF on Coat without the shipped propensities)."""
    columns = {k: v for k, v in log.columns.items() if k != "propensity"}
    return Interactions(log.users, log.items, log.weights, log.user_map, log.item_map, columns)


#: Readers of the MAR sets by name (``read(directory) → MARDataset``).
MAR_READERS: dict[str, Callable[[str | Path], MARDataset]] = {
    "coat": read_coat,
    "yahoo-r3": read_yahoo_r3,
}


def _directory(directory: str | Path) -> Path:
    path = Path(directory)
    if not path.is_dir():
        raise SiftrecError(f"data directory does not exist: {path}")
    return path


def _find(directory: Path, name: str) -> Path:
    """``directory/name`` or its gzipped ``name.gz``."""
    for candidate in (directory / name, directory / f"{name}.gz"):
        if candidate.is_file():
            return candidate
    raise SiftrecError(f"{directory} has neither {name} nor {name}.gz")


def _dense_matrix(path: Path) -> np.ndarray:
    """A whitespace-separated dense numeric matrix, one row per line."""
    text = read_bytes(path).decode("ascii", errors="replace")
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        raise SiftrecError(f"{path.name} is empty")
    try:
        values = np.array(text.split(), dtype=np.float64)
    except ValueError:
        raise SiftrecError(f"{path.name} holds non-numeric values") from None
    n_cols = len(lines[0].split())
    if len(values) != len(lines) * n_cols:
        raise SiftrecError(f"{path.name} is not a rectangular matrix (rows differ in length)")
    return values.reshape(len(lines), n_cols)
