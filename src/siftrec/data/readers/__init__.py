"""Read interaction logs from files, DataFrames and scipy matrices into :class:`Interactions`.

Every reader parses with polars or numpy (vectorised, no Python loop per interaction). The
table-like formats (csv, tsv, parquet, movielens, denoisingrec) are read into a frame by
:func:`read_frame` and share one column-resolution step with :func:`from_dataframe`, so aliases,
side columns and error messages behave the same. Gzipped input (any format) is detected by its
magic bytes. :func:`read_interactions` reads csv, tsv and Parquet logs batch by batch into int32
indices and float32 weights (:mod:`.stream`; gzip decompressed as a stream), so a large log never
sits in memory as text; the result equals the whole-frame reading.

Column rules (CSV/TSV/Parquet/DataFrames), names matched case-insensitively:

- user column: ``user``, ``user_id``, ``userid`` (``userId``), ``uid`` — or ``user_col``.
- item column: ``item``, ``item_id``, ``itemid``, ``iid``, ``movie_id``, ``movieid``,
  ``artist_id`` — or ``item_col``.
- weights: the column named by ``weight_col``; without it, the first of ``weight``, ``value``,
  ``count``, ``plays`` that is present (in that order). Otherwise every weight is 1. ``rating`` is
  never used as a weight implicitly: it stays a side column for :func:`preprocess.rating_threshold`.
  The weight column is consumed (not also kept as a side column).
- known side columns (canonical name ← aliases): ``timestamp``, ``rating``, ``dwell_time`` ←
  ``dwell``, ``feedback`` ← ``behavior``/``behaviour``/``event``/``type``, ``session`` ←
  ``session_id``, ``is_noise`` ← ``noise``. Any other column is carried unchanged.
- ``level``: an integer ≥ 0 per row, the ordinal depth of the feedback (higher = deeper, e.g. 1
  collect, 2 cart, 3 buy; :mod:`siftrec.data.levels`). Duplicate (user, item) rows collapse to
  the row of the deepest level. The ``multibehavior`` format derives it from a ``behavior``
  column or from one file per behaviour (:mod:`.multibehavior`).

Types: ids are integers when every id is a plain decimal integer (no leading zeros), else
strings. ``rating``, ``dwell_time`` and weights must be numeric; ``is_noise`` must be boolean
(``0/1``, ``true/false``); ``timestamp`` must be numeric or a date/time (converted to Unix
seconds). Other text columns become numbers when every value parses as one.

One module per format family: :mod:`.text` (csv/tsv, MovieLens, LightGCN, DenoisingRec, id
lists), :mod:`.columnar` (Parquet, DataFrames), :mod:`.arrays` (NumPy, scipy), :mod:`.lists`
(NBPO user lists); :mod:`.formats` names and infers formats, :mod:`.columns` applies the column
rules, :mod:`.files` handles gzip and text lines, :mod:`.frames` and :mod:`.logs` read a file of
any format, :mod:`.stream` reads large tables batch by batch.
"""

from siftrec.data.readers.arrays import from_scipy
from siftrec.data.readers.columnar import from_dataframe
from siftrec.data.readers.columns import ITEM_ALIASES, SIDE_ALIASES, USER_ALIASES, WEIGHT_ALIASES
from siftrec.data.readers.files import read_bytes
from siftrec.data.readers.formats import FORMATS, TABLE_FORMATS, infer_format
from siftrec.data.readers.frames import read_frame
from siftrec.data.readers.logs import read_interactions
from siftrec.data.readers.text import read_id_list, table_separator

__all__ = [
    "FORMATS",
    "ITEM_ALIASES",
    "SIDE_ALIASES",
    "TABLE_FORMATS",
    "USER_ALIASES",
    "WEIGHT_ALIASES",
    "from_dataframe",
    "from_scipy",
    "infer_format",
    "read_bytes",
    "read_frame",
    "read_id_list",
    "read_interactions",
    "table_separator",
]
