"""Compiled (numba) loops of NBPO's fused step: the flip MF's logits and row gradients straight
from its factor tables, with no gathered embedding rows in memory.

A torch step gathers ``P[users]`` and ``Q[items]`` (writing and re-reading ``B·(1 + n_neg)·d``
floats), multiplies them, and builds each gradient from the gathered copies; these loops read the
rows from the tables (which stay in cache on catalogs of ML-1M's size) and write only the
logits and the gradient rows. They run in parallel over examples, are compiled on first use and
cached on disk (like ``siftrec.samplers.pld_kernels``); float32 tables on the CPU only.
"""

from __future__ import annotations

import numba
import numpy as np


@numba.njit(fastmath=True, cache=True)
def flip_forward(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    user_decay: np.ndarray,
    item_decay: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Flip logits ``γ_bk = P[users[b]] · Q[items[b, k]]`` [B, K] and, per example,
    ``user_decay_b ‖P_u‖² + Σ_k item_decay_bk ‖Q_i‖²`` [B] (the weighted L2 of its rows)."""
    n, width = items.shape
    dim = user_factors.shape[1]
    gamma = np.empty((n, width), dtype=np.float32)
    squares = np.empty(n, dtype=np.float32)
    for b in range(n):
        p = user_factors[users[b]]
        norm = np.float32(0.0)
        for f in range(dim):
            norm += p[f] * p[f]
        total = user_decay[b] * norm
        for k in range(width):
            q = item_factors[items[b, k]]
            dot = np.float32(0.0)
            norm = np.float32(0.0)
            for f in range(dim):
                dot += p[f] * q[f]
                norm += q[f] * q[f]
            gamma[b, k] = dot
            total += item_decay[b, k] * norm
        squares[b] = total
    return gamma, squares


@numba.njit(fastmath=True, cache=True)
def flip_backward(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    dgamma: np.ndarray,
    user_decay: np.ndarray,
    item_decay: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Row gradients of ``Σ dgamma·γ + ½ Σ decay·‖row‖²`` per occurrence: ``user`` [B, d]
    ``= user_decay_b P_u + Σ_k dgamma_bk Q_i`` and ``item`` [B·K, d]
    ``= item_decay_bk Q_i + dgamma_bk P_u`` (row ``b·K + k``)."""
    n, width = items.shape
    dim = user_factors.shape[1]
    user_grad = np.empty((n, dim), dtype=np.float32)
    item_grad = np.empty((n * width, dim), dtype=np.float32)
    for b in range(n):
        p = user_factors[users[b]]
        grad = user_grad[b]
        decay = user_decay[b]
        for f in range(dim):
            grad[f] = decay * p[f]
        for k in range(width):
            q = item_factors[items[b, k]]
            g = dgamma[b, k]
            decay = item_decay[b, k]
            out = item_grad[b * width + k]
            for f in range(dim):
                grad[f] += g * q[f]
                out[f] = decay * q[f] + g * p[f]
    return user_grad, item_grad
