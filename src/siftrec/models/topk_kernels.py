"""Fused masking and top-K of a CPU score block in one pass (numba), for ranking and evaluation.

``torch.topk`` after masking reads a users × items block twice (the masking writes, the top-K
reads) and partially sorts every row. :func:`masked_top_k` reads each score once: per row it
keeps the ``k`` best admissible columns seen so far and a threshold (the worst of them); a score
enters only if it beats the threshold, so after the first few hundred columns a run of
``LANES`` columns costs a few vector comparisons. A column is admissible unless it is in the
row's masked columns (a sorted CSR row) or ``blocked`` (one flag per column). Ties go to the
lower column index, as in :func:`siftrec.models.ranking.top_k`: columns are visited in
increasing order and a score equal to the threshold does not enter. ``NaN`` scores never
enter; rows with fewer than ``k`` admissible finite scores are padded with column ``-1`` and
score ``-inf``.
"""

from __future__ import annotations

import numba
import numpy as np

#: Columns tested together: a run with no score above the threshold costs a few vector compares.
LANES = 32


@numba.njit(inline="always")
def _worst(values: np.ndarray, columns: np.ndarray) -> int:
    """Position of the entry to evict next: the lowest value, among equal ones the highest
    column (the lower column wins a tie)."""
    at = 0
    for j in range(1, len(values)):
        if values[j] < values[at] or (values[j] == values[at] and columns[j] > columns[at]):
            at = j
    return at


@numba.njit(parallel=True, cache=True)
def masked_top_k(
    scores: np.ndarray, k: int, indptr: np.ndarray, indices: np.ndarray, blocked: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Columns [n_rows, k] (int64, best first) and their float32 scores.

    ``indptr``/``indices``: the masked columns of each row as a CSR with sorted rows (an empty
    ``indptr``: nothing masked per row); ``blocked``: a bool per column masked in every row
    (empty: none). ``1 <= k <= n_columns``.
    """
    n_rows, n_cols = scores.shape
    out_columns = np.empty((n_rows, k), dtype=np.int64)
    out_values = np.empty((n_rows, k), dtype=np.float32)
    has_mask = len(indptr) > 0
    has_blocked = len(blocked) > 0
    for row in numba.prange(n_rows):
        values = np.full(k, -np.inf, dtype=scores.dtype)
        columns = np.full(k, -1, dtype=np.int64)
        worst = 0
        threshold = values[0]
        at = indptr[row] if has_mask else 0
        end = indptr[row + 1] if has_mask else 0
        for start in range(0, n_cols, LANES):
            stop = min(start + LANES, n_cols)
            hit = False
            for col in range(start, stop):  # a vectorised test of the whole run of columns
                hit |= scores[row, col] > threshold
            if not hit:
                continue
            for col in range(start, stop):
                x = scores[row, col]
                if x > threshold:
                    while at < end and indices[at] < col:
                        at += 1
                    if at < end and indices[at] == col:
                        continue
                    if has_blocked and blocked[col]:
                        continue
                    values[worst] = x
                    columns[worst] = col
                    worst = _worst(values, columns)
                    threshold = values[worst]
        # best first; equal scores by column (insertion sort of k entries)
        for i in range(1, k):
            v, c = values[i], columns[i]
            j = i - 1
            while j >= 0 and (values[j] < v or (values[j] == v and columns[j] > c)):
                values[j + 1] = values[j]
                columns[j + 1] = columns[j]
                j -= 1
            values[j + 1] = v
            columns[j + 1] = c
        for j in range(k):
            out_columns[row, j] = columns[j]
            out_values[row, j] = values[j]
    return out_columns, out_values
