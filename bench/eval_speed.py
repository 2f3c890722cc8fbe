"""Time the full-ranking evaluation on Gowalla (29,858 users × 40,981 items) with a random model.

Usage: ``python bench/eval_speed.py [--data DIR] [--dim 64] [--naive-users 300]``. Reads
``gowalla-lightgcn/{train,test}.txt.gz`` under ``--data`` (default ``$SIFTREC_DATA`` or the user
cache, see README "Data"), builds a random dim-64 factor model (scores = U[users] @ Vᵀ) and reports
users/s for siftrec's protocol (Recall@20/NDCG@20 over all users), a naive per-user loop (numpy
argsort per user, timed on a subset and extrapolated), the scoring GEMMs alone (the model scoring
the same user batches, nothing masked, ranked or measured) and the compute bound (users × items ×
dim × 2 FLOPs at this machine's measured float32 GEMM rate for the same matrix shapes, into a
reused buffer). The last line gives evaluate / scoring GEMMs, the cost of masking, top-K and
metrics on top of the scores (target ≤ 1.3×)."""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from siftrec import Interactions, SiftrecError
from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.evaluate import evaluate
from siftrec.models import Recommender


@dataclass
class RandomFactorsConfig:
    dim: int = 64
    seed: int = 0


class RandomFactors(Recommender):
    """Gaussian user and item factors; scores are inner products (a stand-in for MF / LightGCN)."""

    name = "random_factors"
    Config = RandomFactorsConfig

    def _fit(self, train: Interactions) -> None:
        gen = torch.Generator().manual_seed(self.config.seed)
        self.user_factors = torch.randn(train.n_users, self.config.dim, generator=gen)
        self.item_factors = torch.randn(train.n_items, self.config.dim, generator=gen)

    def _score(self, users: np.ndarray) -> torch.Tensor:
        return self.user_factors[torch.as_tensor(users)] @ self.item_factors.T

    def _get_state(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors.numpy(),
            "item_factors": self.item_factors.numpy(),
        }

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.user_factors = torch.as_tensor(state["user_factors"])
        self.item_factors = torch.as_tensor(state["item_factors"])


def gemm_gflops(rows: int, dim: int, cols: int, repeats: int = 5) -> float:
    """Best float32 ``(rows × dim) @ (dim × cols)`` rate in GFLOP/s (the scoring GEMM's shape)."""
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(rows, dim, generator=gen)
    b = torch.randn(dim, cols, generator=gen)
    out = torch.empty(rows, cols)
    torch.matmul(a, b, out=out)  # warm-up
    best = math.inf
    for _ in range(repeats):
        start = time.perf_counter()
        torch.matmul(a, b, out=out)
        best = min(best, time.perf_counter() - start)
    return 2 * rows * dim * cols / best / 1e9


def scoring_pass(model: RandomFactors, users: np.ndarray, batch_size: int) -> float:
    """Seconds to score ``users`` in batches as ``evaluate`` does, without masking or ranking."""
    start = time.perf_counter()
    for lo in range(0, len(users), batch_size):
        model._score(users[lo : lo + batch_size])
    return time.perf_counter() - start


def naive_loop(
    model: RandomFactors, train: Interactions, test: Interactions, users: np.ndarray, k: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """Per-user loop: numpy scores, mask train items, full argsort, set-based Recall/NDCG."""
    user_factors = model.user_factors.numpy()
    item_factors = model.item_factors.numpy()
    seen, truth = train.binary, test.binary
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    recall, ndcg = np.empty(len(users)), np.empty(len(users))
    start = time.perf_counter()
    for n, u in enumerate(users):
        scores = user_factors[u] @ item_factors.T
        scores[seen.indices[seen.indptr[u] : seen.indptr[u + 1]]] = -np.inf
        top = np.argsort(-scores, kind="stable")[:k]
        held = set(truth.indices[truth.indptr[u] : truth.indptr[u + 1]].tolist())
        hits = np.array([item in held for item in top.tolist()], dtype=np.float64)
        recall[n] = hits.sum() / len(held)
        ndcg[n] = hits @ discount / discount[: min(k, len(held))].sum()
    return time.perf_counter() - start, recall, ndcg


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = str(default_data_dir())
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--k", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=2048)
    parser.add_argument("--naive-users", type=int, default=300)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    folder = args.data / "gowalla-lightgcn"
    if not (folder / "train.txt.gz").is_file():
        raise SystemExit(f"no Gowalla data under {folder}; pass --data or set SIFTREC_DATA")
    start = time.perf_counter()
    train = read_interactions(folder / "train.txt.gz", format="lightgcn")
    test = read_interactions(
        folder / "test.txt.gz",
        format="lightgcn",
        user_map=train.user_map,
        item_map=train.item_map,
    )
    read_seconds = time.perf_counter() - start
    if test.n_users != train.n_users or test.n_items != train.n_items:
        raise SiftrecError("the Gowalla test file has users or items missing from train")
    model = RandomFactors(dim=args.dim, seed=args.seed).fit(train)
    n_users, n_items, k = train.n_users, train.n_items, args.k
    metrics = f"recall@{k},ndcg@{k}"
    print(
        f"Gowalla: {n_users:,} users × {n_items:,} items, {len(train):,} train / {len(test):,} "
        f"test interactions (read in {read_seconds:.2f} s); dim {args.dim}, "
        f"torch {torch.__version__} on {torch.get_num_threads()} threads, "
        f"{os.cpu_count()} CPUs visible (shared with other jobs)"
    )

    # 1. siftrec's protocol, best of `repeats` full evaluations (after a small warm-up).
    evaluate(model, test.subset(test.users < 256), metrics)
    times = []
    for _ in range(args.repeats):
        result = evaluate(model, test, metrics, batch_size=args.batch_size)
        times.append(result.seconds)
    protocol_seconds = min(times)
    scoring_seconds = min(
        scoring_pass(model, result.users, args.batch_size) for _ in range(args.repeats)
    )

    # 2. naive per-user loop on a random subset, extrapolated to all users.
    rng = np.random.default_rng(args.seed)
    subset = np.sort(rng.choice(result.users, size=min(args.naive_users, n_users), replace=False))
    naive_seconds, naive_recall, naive_ndcg = naive_loop(model, train, test, subset, k)
    naive_total = naive_seconds / len(subset) * n_users
    position = np.searchsorted(result.users, subset)
    diff = max(
        np.abs(naive_recall - result.per_user[f"recall@{k}"][position]).max(),
        np.abs(naive_ndcg - result.per_user[f"ndcg@{k}"][position]).max(),
    )

    # 3. compute bound: the scoring GEMM alone at the measured float32 rate.
    gflops = gemm_gflops(args.batch_size, args.dim, n_items)
    bound_seconds = 2 * n_users * n_items * args.dim / (gflops * 1e9)

    print(
        f"random model: {metrics} = {result.metrics[f'recall@{k}']:.5f} / "
        f"{result.metrics[f'ndcg@{k}']:.5f} over {result.n_users:,} users; "
        f"naive loop agrees on {len(subset)} users (max |diff| {diff:.1e})"
    )
    print(
        f"float32 GEMM ({args.batch_size}×{args.dim} @ {args.dim}×{n_items}): {gflops:.1f} GFLOP/s"
    )
    print()
    rows = [
        (f"siftrec evaluate (measured, best of {args.repeats})", protocol_seconds),
        (f"naive per-user loop (timed on {len(subset)} users, extrapolated)", naive_total),
        (f"scoring GEMMs alone (same batches, best of {args.repeats})", scoring_seconds),
        ("compute bound (scoring GEMM only)", bound_seconds),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'method':<{width}}  {'seconds':>9}  {'users/s':>10}  {'vs siftrec':>10}")
    for name, seconds in rows:
        print(
            f"{name:<{width}}  {seconds:>9.2f}  {n_users / seconds:>10,.0f}  "
            f"{seconds / protocol_seconds:>9.2f}×"
        )
    print()
    print(
        f"siftrec is {naive_total / protocol_seconds:.0f}× faster than the naive loop; evaluate / "
        f"scoring GEMMs alone = {protocol_seconds / scoring_seconds:.2f}× (target ≤ 1.3×), "
        f"{protocol_seconds / bound_seconds:.2f}× the compute bound; load average "
        f"{os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
