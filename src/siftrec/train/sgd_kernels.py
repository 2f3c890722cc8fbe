"""Compiled (numba) per-sample SGD for dot-product factor models: one epoch in one call.

The torch path (``siftrec.train.trainer``) steps a mini-batch at a time: it gathers the batch's
rows, computes scores and gradients as ``B × d`` tensors and scatters the updates back, about a
dozen passes over memory per batch. :func:`sgd_epoch` does what per-sample BPR implementations
(MyMediaLite, implicit) do instead: for each training example it reads the user's and the items'
rows from the tables, computes the loss gradient and updates the rows in place before the next
example. Examples run in parallel over blocks of the epoch's (shuffled) order with
``numba.prange``, lock-free ("Hogwild", Recht et al., 2011): two threads touching the same row
may lose an update, as in implicit. With one thread an epoch is deterministic for a given
``seed``; with several it is not.

Model: ``s_ui = P_u · Q_i (+ b_i)`` on float32 tables (CPU). Per example (user ``u``, positive
``i``, ``K`` negatives ``j_k``, interaction weight ``w``) the step is the per-sample form of the
torch path's batch-mean loss plus its batch L2 (``lr`` per example, ``l2`` on every row the
example touches, the user's row once):

- ``OBJECTIVE_BPR``: ``w · mean_k softplus(s_j_k − s_i)``;
- ``OBJECTIVE_BCE``: ``(w · softplus(−s_i) + Σ_k softplus(s_j_k)) / (1 + K)``;
- ``OBJECTIVE_RCE``: BCE with the positive's term weighted by ``σ(s_i)^β`` and, with
  ``weight_negatives``, each negative's by ``σ(−s_j)^β`` (R-CE, stop-gradient weights).

Objectives whose weights depend on the whole batch (T-CE's truncation of the batch's
largest losses) have no per-sample form and are not implemented here. Negatives are uniform over
the catalog or, with ``exclude``, exactly uniform over the user's non-positive items (a rank
among the non-positives mapped to its item by a binary search in the user's sorted CSR row; no
rejection). Random numbers: a SplitMix64 stream per block, seeded from ``seed`` and the block's
index, so the draws do not depend on the thread count.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

OBJECTIVE_BPR = 0
OBJECTIVE_BCE = 1
OBJECTIVE_RCE = 2

#: Examples per block: the unit of parallel work and of the random streams.
BLOCK = 1024
#: Examples ahead whose rows are prefetched.
AHEAD = 6
#: float32 entries per 64-byte cache line.
LINE = 16

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@numba.njit(inline="always")
def _next(state: np.ndarray) -> float:
    """Advance the SplitMix64 ``state`` [1] and return a uniform float in [0, 1)."""
    state[0] += _GOLDEN
    z = state[0]
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    z = z ^ (z >> np.uint64(31))
    return float(z >> np.uint64(11)) * _TO_UNIT


@intrinsic
def _prefetch(typingctx, table, row, col):
    """Prefetch the cache line of ``table[row, col]`` (2-d array) for reading and writing."""

    def codegen(context, builder, signature, args):
        table_type, row_type, col_type = signature.args
        array = context.make_array(table_type)(context, builder, args[0])
        index = [
            context.cast(builder, args[1], row_type, types.intp),
            context.cast(builder, args[2], col_type, types.intp),
        ]
        pointer = cgutils.get_item_pointer(context, builder, table_type, array, index)
        byte_pointer = ir.IntType(8).as_pointer()
        i32 = ir.IntType(32)
        fn = cgutils.get_or_insert_function(
            builder.module,
            ir.FunctionType(ir.VoidType(), [byte_pointer, i32, i32, i32]),
            "llvm.prefetch.p0",
        )
        # rw = 1 (the row is written next), locality 3 (keep in all cache levels), data cache
        builder.call(fn, [builder.bitcast(pointer, byte_pointer), i32(1), i32(3), i32(1)])
        return context.get_dummy_value()

    return types.void(table, row, col), codegen


@numba.njit(inline="always")
def _seed_state(seed: np.uint64, block: int) -> np.ndarray:
    """A fresh stream for ``block``: SplitMix64 of ``seed`` and the block index."""
    state = np.empty(1, dtype=np.uint64)
    state[0] = seed ^ (np.uint64(block) * _MIX2)
    _next(state)
    return state


@numba.njit(inline="always")
def _negative(
    state: np.ndarray,
    user: int,
    indptr: np.ndarray,
    indices: np.ndarray,
    n_items: int,
    exclude: bool,
) -> int:
    """A uniform item; with ``exclude``, uniform over the items outside ``user``'s sorted row.

    The ``r``-th non-positive item is ``r + #{k : p_k − k ≤ r}`` for the row's sorted positives
    ``p_k``; the count is a binary search, since ``p_k − k`` does not decrease.
    """
    if not exclude:
        return min(int(_next(state) * n_items), n_items - 1)
    start, stop = indptr[user], indptr[user + 1]
    free = n_items - (stop - start)
    rank = min(int(_next(state) * free), free - 1)
    lo, hi = 0, stop - start
    while lo < hi:
        mid = (lo + hi) >> 1
        if indices[start + mid] - mid <= rank:
            lo = mid + 1
        else:
            hi = mid
    return rank + lo


@numba.njit(inline="always")
def _sigmoid_softplus(x: float) -> tuple[float, float]:
    """``σ(x)`` and ``softplus(x) = log(1 + eˣ)`` from one ``exp``, without overflow."""
    e = math.exp(-abs(x))
    soft = max(x, 0.0) + math.log1p(e)
    if x >= 0:
        return 1.0 / (1.0 + e), soft
    return e / (1.0 + e), soft


@numba.njit(cache=True)
def user_grouped_order(
    user_order: np.ndarray, row_ptr: np.ndarray, row_ids: np.ndarray, offsets: np.ndarray
) -> np.ndarray:
    """One pass over every interaction, user by user: the users in ``user_order``, each user's
    interaction ids (``row_ids[row_ptr[u]:row_ptr[u + 1]]``) rotated to start at ``offsets[t]``
    modulo the row length.

    Consecutive examples share their user's row and CSR row, which stay in cache, and the
    threads' blocks touch mostly distinct users; per-sample SGD reaches the same accuracy as on
    a fully shuffled pass (docs/benchmarks.md, "BPR-MF epoch") in well under its time.
    """
    out = np.empty(len(row_ids), dtype=row_ids.dtype)
    at = 0
    for t in range(len(user_order)):
        user = user_order[t]
        start = row_ptr[user]
        length = row_ptr[user + 1] - start
        if length == 0:
            continue
        shift = offsets[t] % length
        for j in range(length):
            k = j + shift
            if k >= length:
                k -= length
            out[at] = row_ids[start + k]
            at += 1
    return out


@numba.njit(parallel=True, fastmath=True, cache=True)
def draw_negatives(
    users: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    n_items: int,
    n_negatives: int,
    exclude: bool,
    seed: int,
) -> np.ndarray:
    """The negatives [len(users), n_negatives] that :func:`sgd_epoch` draws for an epoch of
    ``users`` (in that order) with the same ``seed``; ``indptr``/``indices``: the binary
    training CSR, rows sorted."""
    n = len(users)
    out = np.empty((n, n_negatives), dtype=np.int64)
    n_blocks = (n + BLOCK - 1) // BLOCK
    for block in numba.prange(n_blocks):
        state = _seed_state(np.uint64(seed), block)
        for e in range(block * BLOCK, min(n, (block + 1) * BLOCK)):
            for k in range(n_negatives):
                out[e, k] = _negative(state, users[e], indptr, indices, n_items, exclude)
    return out


@numba.njit(parallel=True, fastmath=True, error_model="numpy", cache=True)
def sgd_epoch(
    user_factors: np.ndarray,
    item_factors: np.ndarray,
    item_bias: np.ndarray,
    order: np.ndarray,
    users: np.ndarray,
    items: np.ndarray,
    weights: np.ndarray,
    indptr: np.ndarray,
    indices: np.ndarray,
    n_negatives: int,
    exclude: bool,
    objective: int,
    beta: float,
    weight_negatives: bool,
    lr: float,
    l2: float,
    seed: int,
) -> float:
    """One epoch of per-sample SGD over the interactions ``order`` (ids into ``users``/``items``/
    ``weights``), updating the float32 tables in place; returns the mean per-example loss.

    ``item_bias`` [n_items] or empty (no bias); ``weights`` [n_interactions] or empty (all 1);
    ``indptr``/``indices``: the binary training CSR with sorted rows (for ``exclude``). The
    objective codes and the step are in the module docstring.
    """
    n = len(order)
    dim = user_factors.shape[1]
    n_items = item_factors.shape[0]
    has_bias = len(item_bias) > 0
    has_weights = len(weights) > 0
    n_blocks = (n + BLOCK - 1) // BLOCK
    width = 1 + n_negatives
    losses = np.zeros(n_blocks, dtype=np.float64)
    rate = np.float32(lr)
    decay = np.float32(l2)
    for block in numba.prange(n_blocks):
        state = _seed_state(np.uint64(seed), block)
        start = block * BLOCK
        size = min(n, start + BLOCK) - start
        # the block's users and candidates first: independent loads that the CPU overlaps
        block_users = np.empty(size, dtype=np.int64)
        block_items = np.empty((size, width), dtype=np.int64)
        for t in range(size):
            row = order[start + t]
            block_users[t] = users[row]
            block_items[t, 0] = items[row]
            for k in range(1, width):
                block_items[t, k] = _negative(
                    state, block_users[t], indptr, indices, n_items, exclude
                )
        scores = np.empty(width, dtype=np.float32)
        dscores = np.empty(width, dtype=np.float32)
        grad_p = np.empty(dim, dtype=np.float32)
        grad_q = np.empty((width, dim), dtype=np.float32)
        block_loss = 0.0
        for t in range(size):
            if t + AHEAD < size:  # fetch the rows of a later example while this one computes
                for f in range(0, dim, LINE):
                    _prefetch(user_factors, block_users[t + AHEAD], f)
                    for k in range(width):
                        _prefetch(item_factors, block_items[t + AHEAD, k], f)
            u = block_users[t]
            cand = block_items[t]
            w = np.float32(weights[order[start + t]]) if has_weights else np.float32(1.0)
            p = user_factors[u]
            # one negative, distinct from the positive: one pass for both scores, one for the
            # three updates (the general loops below compute the same step)
            pair = width == 2 and cand[0] != cand[1]
            if pair:
                qi, qj = item_factors[cand[0]], item_factors[cand[1]]
                si = sj = np.float32(0.0)
                for f in range(dim):
                    si += p[f] * qi[f]
                    sj += p[f] * qj[f]
                scores[0], scores[1] = si, sj
            else:
                for k in range(width):
                    q = item_factors[cand[k]]
                    s = np.float32(0.0)
                    for f in range(dim):
                        s += p[f] * q[f]
                    scores[k] = s
            if has_bias:
                for k in range(width):
                    scores[k] += item_bias[cand[k]]
            # d loss / d score per candidate (the per-sample form of the batch objective)
            if objective == OBJECTIVE_BPR:
                total = np.float32(0.0)
                loss = 0.0
                for k in range(1, width):
                    x = scores[k] - scores[0]
                    sig, soft = _sigmoid_softplus(x)
                    g = np.float32(w * sig / n_negatives)
                    dscores[k] = g
                    total += g
                    loss += soft
                dscores[0] = -total
                block_loss += w * loss / n_negatives
            else:
                norm = 1.0 / width
                sig, soft = _sigmoid_softplus(-scores[0])
                omega = 1.0
                if objective == OBJECTIVE_RCE:  # σ(s)^β = exp(−β · softplus(−s))
                    omega = math.exp(-beta * soft)
                dscores[0] = np.float32(-sig * w * omega * norm)
                loss = w * omega * soft
                for k in range(1, width):
                    sig, soft = _sigmoid_softplus(scores[k])
                    omega = 1.0
                    if objective == OBJECTIVE_RCE and weight_negatives:
                        omega = math.exp(-beta * soft)  # σ(−s)^β = exp(−β · softplus(s))
                    dscores[k] = np.float32(sig * omega * norm)
                    loss += omega * soft
                block_loss += loss * norm
            # every gradient at the example's current rows, then the updates (a candidate drawn
            # twice gets both gradients, as the torch path's scatter-add does)
            if has_bias:
                for k in range(width):
                    scores[k] = dscores[k] + decay * item_bias[cand[k]]  # bias gradients
                for k in range(width):
                    item_bias[cand[k]] -= rate * scores[k]
            if pair:
                gi, gj = dscores[0], dscores[1]
                for f in range(dim):
                    pf, a, c = p[f], qi[f], qj[f]
                    p[f] = pf - rate * (gi * a + gj * c + decay * pf)
                    qi[f] = a - rate * (gi * pf + decay * a)
                    qj[f] = c - rate * (gj * pf + decay * c)
                continue
            for f in range(dim):
                grad_p[f] = decay * p[f]
            for k in range(width):
                q = item_factors[cand[k]]
                g = dscores[k]
                for f in range(dim):
                    grad_p[f] += g * q[f]
                    grad_q[k, f] = g * p[f] + decay * q[f]
            for k in range(width):
                q = item_factors[cand[k]]
                for f in range(dim):
                    q[f] -= rate * grad_q[k, f]
            for f in range(dim):
                p[f] -= rate * grad_p[f]
        losses[block] = block_loss
    return losses.sum() / max(n, 1)
