"""Recall@10 and queries per second of the faiss ANN index against exact inner-product search.

Two catalogs, each searched by both indexes in one run (siftrec.serve.ann):

- ``synthetic``: 1,000,000 items × 64 dimensions, seeded: items drawn around 1,000 Gaussian
  centres with log-normal norms (factor models learn clustered item vectors whose norms follow
  popularity; isotropic noise without structure is the worst case of any ANN index), queries
  around the same centres;
- ``gowalla``: the item factors of an iALS (64 factors) fitted on gowalla-lightgcn's training
  file (``DATASET/train.txt.gz`` under ``--data``, default ``$SIFTREC_DATA``), queried with the
  user factors of a seeded sample of its users.

Recall@10 is the share of the exact top-10 the index returns; exact search is a batched matrix
product with a top-k (torch), ANN search faiss' IVF scan of ``nprobe`` cells. Queries per second
are for batches of ``--batch`` queries. Build seconds are reported apart.

    python bench/ann_recall.py [--data DIR] [--catalog synthetic,gowalla] [--nprobe 8,16,32]
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch

from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.models import IALS
from siftrec.serve.ann import ExactIndex, FaissIndex, factor_tables, import_faiss
from siftrec.version import __version__


def synthetic(n_items: int, dim: int, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Clustered item vectors with log-normal norms, and queries around the same centres."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((1000, dim)).astype(np.float32)
    items = centres[rng.integers(0, len(centres), n_items)]
    items += 0.5 * rng.standard_normal((n_items, dim), dtype=np.float32)
    items *= rng.lognormal(0.0, 0.3, (n_items, 1)).astype(np.float32)
    queries = centres[rng.integers(0, len(centres), n_queries)]
    queries = queries + 0.5 * rng.standard_normal((n_queries, dim), dtype=np.float32)
    return items, queries.astype(np.float32)


def gowalla(data: Path, n_queries: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """iALS(64) item factors of gowalla-lightgcn and the factors of sampled users."""
    train = read_interactions(data / "gowalla-lightgcn" / "train.txt.gz", format="lightgcn")
    start = time.perf_counter()
    model = IALS(factors=64, iterations=5, seed=seed, device="cpu").fit(train)
    print(f"gowalla: iALS(64) fitted in {time.perf_counter() - start:.1f} s", flush=True)
    users, items = factor_tables(model)
    rng = np.random.default_rng(seed)
    return items, users[rng.choice(len(users), min(n_queries, len(users)), replace=False)]


def timed(index, queries: np.ndarray, k: int, batch: int) -> tuple[np.ndarray, float]:
    """Results and queries per second, searching ``batch`` queries per call."""
    found = []
    start = time.perf_counter()
    for first in range(0, len(queries), batch):
        found.append(index.search(queries[first : first + batch], k)[0])
    return np.concatenate(found), len(queries) / (time.perf_counter() - start)


def recall(found: np.ndarray, exact: np.ndarray) -> float:
    hits = [len(set(a.tolist()) & set(b.tolist())) for a, b in zip(found, exact, strict=True)]
    return float(np.mean(hits)) / exact.shape[1]


def compare(name: str, items: np.ndarray, queries: np.ndarray, args: argparse.Namespace) -> None:
    print(f"\n{name}: {len(items):,} items × {items.shape[1]} dims, {len(queries):,} queries")
    exact_index = ExactIndex(items)
    exact, exact_qps = timed(exact_index, queries, 10, args.batch)
    start = time.perf_counter()
    ann = FaissIndex(items, n_lists=args.n_lists, seed=args.seed)
    build = time.perf_counter() - start
    print(f"faiss IVF build: {build:.1f} s ({ann._index.nlist} cells)")
    print(f"{'index':<18} {'recall@10':>9} {'queries/s':>10} {'× exact':>8}")
    print(f"{'exact':<18} {1.0:>9.3f} {exact_qps:>10.1f} {1.0:>8.2f}")
    for nprobe in args.nprobe:
        ann._index.nprobe = nprobe
        found, qps = timed(ann, queries, 10, args.batch)
        label = f"faiss nprobe={nprobe}"
        print(f"{label:<18} {recall(found, exact):>9.3f} {qps:>10.1f} {qps / exact_qps:>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--catalog", default="synthetic,gowalla")
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100, help="queries per search call")
    parser.add_argument("--n-lists", type=int, default=None, help="IVF cells (default 4·√n)")
    parser.add_argument("--nprobe", default="8,16,32,64")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    args.nprobe = [int(v) for v in args.nprobe.split(",")]
    faiss = import_faiss()
    print(
        f"siftrec {__version__}, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"faiss {faiss.__version__} ({faiss.omp_get_max_threads()} threads), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for name in args.catalog.split(","):
        if name == "synthetic":
            items, queries = synthetic(args.items, 64, args.queries, args.seed)
        elif name == "gowalla":
            items, queries = gowalla(args.data, args.queries, args.seed)
        else:
            raise SystemExit(f"unknown catalog {name!r}; choose synthetic or gowalla")
        compare(name, items, queries, args)
    print(f"\nload average at the end: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
