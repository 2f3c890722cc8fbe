"""Array inputs: DiffRec's NumPy ``.npy`` pair arrays and scipy sparse matrices."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np

from siftrec.data.ids import IdMap, check_missing_ids
from siftrec.data.interactions import Interactions
from siftrec.data.readers.files import read_bytes
from siftrec.errors import SiftrecError


def read_npy(
    path: Path, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """DiffRec ``*.npy`` (optionally ``.gz``): an integer array of shape (n, 2) = (user, item)."""
    try:
        array = np.load(io.BytesIO(read_bytes(path)), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SiftrecError(f"cannot read {path.name} as a NumPy .npy array: {exc}") from None
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.shape[1] != 2:
        shape = getattr(array, "shape", None)
        raise SiftrecError(f"{path.name}: expected an array of shape (n, 2), got {shape}")
    if array.dtype.kind == "f":  # NaN marks a missing id
        check_missing_ids(array[:, 0], "user", path.name)
        check_missing_ids(array[:, 1], "item", path.name)
    if array.dtype.kind not in "iu":
        raise SiftrecError(f"{path.name}: expected integer (user, item) ids, got {array.dtype}")
    if len(array) == 0:
        raise SiftrecError(f"{path.name} contains no interactions")
    return Interactions.from_raw(array[:, 0], array[:, 1], user_map=user_map, item_map=item_map)


def from_scipy(
    matrix: Any, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """Build from a user × item scipy sparse matrix (see :meth:`Interactions.from_csr`)."""
    return Interactions.from_csr(matrix, user_map=user_map, item_map=item_map)
