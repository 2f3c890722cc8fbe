"""Top-K selection over dense score batches with a deterministic tie rule.

Ties are broken by the lower item index, including at the K-th position, so results never
depend on thread scheduling or on the partial-sort algorithm.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
else:  # the model base class imports this module: torch loads when a ranking is made
    from siftrec.lazy import torch


def top_k(scores: torch.Tensor | np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (item indices, scores) of the ``k`` best columns of each row, best first.

    Scores of ``-inf`` mark excluded items; they are returned only when a row has fewer than
    ``k`` admissible items (callers can recognise them by their ``-inf`` score).
    """
    s = torch.as_tensor(scores)
    n_rows, n_cols = s.shape
    k = min(k, n_cols)
    if k <= 0 or n_rows == 0:
        return np.zeros((n_rows, 0), dtype=np.int64), np.zeros((n_rows, 0), dtype=np.float32)
    # One extra column tells whether a tie straddles the k-th position (the best excluded score
    # equals the k-th), without another pass over the full score matrix.
    values, index = torch.topk(s, min(k + 1, n_cols), dim=1, largest=True, sorted=True)
    values = values.float().cpu().numpy()
    index = index.cpu().numpy().astype(np.int64)
    straddles = values[:, k] == values[:, k - 1] if k < n_cols else np.zeros(n_rows, dtype=bool)
    values, index = values[:, :k], index[:, :k]
    # Deterministic order among equal scores inside the top-k: by item index.
    order = np.lexsort((index, -values), axis=-1) if k > 1 else None
    if order is not None:
        index = np.take_along_axis(index, order, axis=1)
        values = np.take_along_axis(values, order, axis=1)
    # Ties straddling the k-th position: keep the lowest item indices among the tied ones.
    n_tied_kept = (values == values[:, -1:]).sum(axis=1)
    for row in np.flatnonzero(straddles):
        tied_value = values[row, -1]
        n_kept_above = k - n_tied_kept[row]
        row_scores = s[row].float().cpu().numpy()
        tied_items = np.flatnonzero(row_scores == tied_value)[: k - n_kept_above]
        index[row, n_kept_above:] = tied_items
    return index, values
