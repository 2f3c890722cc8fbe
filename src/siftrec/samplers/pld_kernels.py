"""Compiled (numba) inner loops of the PLD sampler: per-example index and dot-product work with
no per-example Python and no large intermediates.

``pair_scores`` scores (user, item) pairs of a dot-product model from its factor tables without
materialising gathered embedding rows (a torch gather writes and re-reads ``pairs × d`` floats;
the tables of ML-1M or Gowalla fit in cache). ``pool_positions`` draws every example's pool
with Floyd's algorithm, ``take`` gathers the pools' scores. They run in parallel over examples, are
compiled on first use and cached on disk. The transcendental part of PLD's draw (losses,
softmax) stays in torch, whose vectorised ``exp``/``log`` beat scalar libm calls here.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(parallel=True, fastmath=True, cache=True)
def pair_scores(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
) -> np.ndarray:
    """float32 ``P[users[e]] · Q[items[e]] + b[items[e]]`` for every pair ``e``.

    ``item_bias`` is float32 [n_items], or empty for a model without item bias.
    """
    n, dim = len(users), user_factors.shape[1]
    has_bias = len(item_bias) > 0
    out = np.empty(n, dtype=np.float32)
    for e in numba.prange(n):
        p, q = user_factors[users[e]], item_factors[items[e]]
        total = np.float32(0.0)
        for f in range(dim):
            total += p[f] * q[f]
        out[e] = total + item_bias[items[e]] if has_bias else total
    return out


@numba.njit(parallel=True, cache=True)
def pool_positions(users: np.ndarray, row_ptr: np.ndarray, draws: np.ndarray) -> np.ndarray:
    """Positions ``row_ptr[u] + slot`` [n, k] of each example's pool of ``k = len(draws)`` of
    its user's ``row_ptr[u + 1] − row_ptr[u] = d`` interactions, from uniforms ``draws`` [k, n].

    ``d ≥ k``: without replacement (Floyd): step ``t`` draws from ``[0, d − k + t]`` and takes
    ``d − k + t`` instead if the draw is already in the pool. ``d < k``: uniform with replacement.
    """
    k, n = draws.shape
    out = np.empty((n, k), dtype=np.int64)
    for e in numba.prange(n):
        start = row_ptr[users[e]]
        degree = row_ptr[users[e] + 1] - start
        for t in range(k):
            if degree < k:
                slot = int(draws[t, e] * degree)
            else:
                top = degree - (k - t)
                slot = int(draws[t, e] * (top + 1))
                for earlier in range(t):
                    if out[e, earlier] == start + slot:
                        slot = top
                        break
            out[e, t] = start + slot
    return out


@numba.njit(parallel=True, cache=True)
def take(values: np.ndarray, index: np.ndarray) -> np.ndarray:
    """``values[index]`` for a 1-d ``values`` and a C-contiguous ``index`` of any shape.

    A plain loop of independent loads: the CPU overlaps their cache misses, which makes it
    faster than torch's indexing and than gathering inside the pool loop.
    """
    out = np.empty(index.shape, dtype=values.dtype)
    flat, flat_out = index.reshape(-1), out.reshape(-1)
    for i in numba.prange(len(flat)):
        flat_out[i] = values[flat[i]]
    return out
