"""The data users have, in and out: DataFrames and sparse matrices ↔ :class:`Interactions`.

:func:`as_interactions` is the one conversion behind ``Recommender.fit`` and the raw-id model
API: a pandas or polars DataFrame goes through the readers' column rules (names given or
inferred by their aliases, exactly as the CLI reads a file: :mod:`siftrec.data.readers`), a
scipy sparse users × items matrix becomes a log whose ids are its row and column indices.
:func:`result_frame` builds the tables the raw-id API returns: pandas when it is installed
(the optional ``pandas`` extra), else polars. pandas is imported only when a pandas object
arrives or a pandas table is asked for.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import numpy as np
import scipy.sparse as sp

from siftrec.data.interactions import Interactions
from siftrec.data.readers import from_dataframe, from_scipy
from siftrec.errors import SiftrecError

#: The table kinds the raw-id API returns (``None``: pandas when installed, else polars).
FrameKind = Literal["pandas", "polars"] | None

_ACCEPTED = "Interactions, a pandas or polars DataFrame, or a scipy sparse users × items matrix"


def _library(obj: Any) -> str:
    """The top-level package that defines ``obj``'s type (no import needed to ask)."""
    return type(obj).__module__.split(".", 1)[0]


def _pandas() -> Any:
    """The pandas module, or a one-line error naming the extra that installs it."""
    try:
        import pandas  # lazy: an optional dependency, slow to import
    except ImportError:
        raise SiftrecError(
            "pandas is not installed; install siftrec[pandas] or pass a polars DataFrame"
        ) from None
    return pandas


def as_interactions(
    obj: Any,
    user_col: str | None = None,
    item_col: str | None = None,
    weight_col: str | None = None,
    what: str = "data",
) -> Interactions:
    """``obj`` as an :class:`Interactions` log.

    Args:
        obj: an :class:`Interactions` (returned as it is), a pandas or polars DataFrame (one
            row per interaction; ids may be integers or strings), or a scipy sparse users ×
            items matrix (ids are the row and column indices; its values are the weights,
            explicit zeros dropped).
        user_col, item_col, weight_col: a DataFrame's column names; without them the columns
            are found by the readers' aliases (``user``/``user_id``/``uid``...,
            ``item``/``item_id``/``movie_id``..., weight from ``weight``/``value``/``count``/
            ``plays``, else 1). Other columns are carried as side columns.
        what: names ``obj`` in the error of an unsupported type (e.g. ``"validation"``).
    """
    names = {"user_col": user_col, "item_col": item_col, "weight_col": weight_col}
    given = [name for name, value in names.items() if value is not None]
    if isinstance(obj, Interactions) or sp.issparse(obj):
        if given:
            raise SiftrecError(f"{', '.join(given)} name DataFrame columns; {_kind(obj)} has none")
        return obj if isinstance(obj, Interactions) else _from_sparse(obj)
    library = _library(obj)
    if library in ("pandas", "polars") and type(obj).__name__ == "DataFrame":
        if library == "pandas":
            _pandas()  # a pandas object without pandas cannot occur; the error says what to do
        return from_dataframe(obj, user_col or "user", item_col or "item", weight_col)
    if library in ("pandas", "polars") and type(obj).__name__ == "Series":
        raise SiftrecError(f"got a {library} Series; pass a DataFrame with user and item columns")
    if isinstance(obj, np.ndarray):
        raise SiftrecError(
            f"got a dense numpy array of shape {obj.shape}; pass scipy.sparse.csr_matrix(array) "
            "(users × items) or a DataFrame"
        )
    raise SiftrecError(f"{what} must be {_ACCEPTED}, got {type(obj).__name__}")


def _kind(obj: Any) -> str:
    return "Interactions" if isinstance(obj, Interactions) else "a sparse matrix"


def _from_sparse(matrix: Any) -> Interactions:
    """A users × items sparse matrix as a log (ids = indices); refuses what is not a log."""
    if matrix.ndim != 2:
        raise SiftrecError(f"expected a 2-d users × items matrix, got {matrix.ndim} dimensions")
    if matrix.dtype.kind not in "iufb":
        raise SiftrecError(f"sparse matrix values must be numeric, got dtype {matrix.dtype}")
    data = sp.csr_matrix(matrix).data
    if data.dtype.kind == "f" and not np.all(np.isfinite(data)):
        raise SiftrecError(f"sparse matrix has {int((~np.isfinite(data)).sum())} NaN/inf values")
    log = from_scipy(matrix)
    if len(log) == 0:
        raise SiftrecError("the sparse matrix holds no interactions (no non-zero entries)")
    return log


def result_frame(columns: Mapping[str, np.ndarray], as_: FrameKind = None) -> Any:
    """A table of ``columns`` (equal-length arrays): pandas, polars, or (``None``) pandas when
    it is installed and polars otherwise."""
    if as_ not in (None, "pandas", "polars"):
        raise SiftrecError(f"as_ must be 'pandas', 'polars' or None, got {as_!r}")
    if as_ is None:
        try:
            import pandas  # noqa: F401  # lazy: an optional dependency

            as_ = "pandas"
        except ImportError:
            as_ = "polars"
    if as_ == "pandas":
        return _pandas().DataFrame({name: np.asarray(values) for name, values in columns.items()})
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads the data layer

    return pl.DataFrame({name: np.asarray(values) for name, values in columns.items()})
