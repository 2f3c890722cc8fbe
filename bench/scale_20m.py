"""20M interactions on one machine: read, split, iALS, one BPR-MF epoch and full-ranking
evaluation of every user, each timed with its peak RSS, beside ``implicit`` on the same data.

Usage: ``python bench/scale_20m.py [--ml20m PATH/ratings.csv] [--work DIR] [--format csv]
[--factors 64] [--iterations 15] [--threads 2] [--seed 0]``.

Data: without ``--ml20m``, an ML-20M-shaped log (138,493 users × 26,744 items, 20,000,263
distinct (user, item) pairs, seeded) is drawn by :func:`ml20m_shaped` and written to
``--work`` (a temporary folder by default) as csv or Parquet, so that reading is measured from
a file as a user would read theirs. The dense generator of :mod:`siftrec.data.synthetic` holds
users × items arrays (3.7·10⁹ cells at this size), so the log is drawn sparsely with the same
ingredients: lognormal user activity with ML-20M's floor of 20 interactions, power-law item
popularity over a random rank, and low-rank taste (each user draws from one of 64 taste
clusters whose item distribution is popularity × exp(affinity)). With ``--ml20m`` the pipeline
reads MovieLens' ``ratings.csv`` itself (every rating an interaction of weight 1; rating and
timestamp kept as side columns).

The pipeline runs in a child process; each stage's peak RSS is the kernel's high-water mark
(``VmHWM``, reset through ``/proc/self/clear_refs`` before the stage), so it counts numpy, torch,
polars and implicit alike. Stages: **read** (``read_interactions`` and the CSR view
``log.matrix``), **split** (random 80/20 per user), **iALS fit** (siftrec's ``IALS``, CG with 3
steps, ``--factors``, ``--iterations``), **implicit ALS fit** (the same objective: implicit is
fed siftrec's confidences ``1 + α r`` with its own ``alpha=1``, as in
``bench/classic_vs_implicit.py``), **BPR-MF epoch** (siftrec's ``MF(backend="numba")``, one
epoch), **implicit BPR epoch**, and **evaluate** (Recall@20 / NDCG@20 of the iALS model over
all test users, every item ranked, training items masked). Both libraries run on ``--threads``
threads. The pipeline time is siftrec's stages (read + split + iALS + BPR epoch + evaluate);
implicit's stages are references beside them.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

import siftrec  # noqa: F401 - before torch loads, as in a user's script: its defaults apply

ML20M_USERS, ML20M_ITEMS, ML20M_RATINGS = 138_493, 26_744, 20_000_263
GIB = 2**30


# ---------------------------------------------------------------------------- the log
def ml20m_shaped(
    seed: int = 0,
    n_users: int = ML20M_USERS,
    n_items: int = ML20M_ITEMS,
    n_interactions: int = ML20M_RATINGS,
    clusters: int = 64,
    dim: int = 16,
) -> tuple[np.ndarray, np.ndarray]:
    """Raw (user, item) ids of a log shaped like ML-20M: distinct pairs, grouped by user.

    User activity is ``20 + LogNormal(0, 1.2)`` scaled to ``n_interactions`` and capped at a
    third of the catalog; item popularity a power law (exponent 1) over a random rank. Each user
    belongs to one of ``clusters`` taste clusters and draws items ∝ popularity · exp(affinity
    of the item to the cluster) (90 %) or uniformly (10 %); after three rounds of draws, the few
    users still short of their number of distinct items top up uniformly. Users are
    ``1..n_users``; item ids are distinct draws from ``1..131,262`` (ML-20M's movie id range).
    """
    rng = np.random.default_rng(seed)
    floor = 20
    activity = rng.lognormal(0.0, 1.2, n_users)
    spare = n_interactions - floor * n_users
    counts = floor + np.floor(spare * activity / activity.sum()).astype(np.int64)
    counts = np.minimum(counts, n_items // 3)
    short = n_interactions - int(counts.sum())
    room = np.flatnonzero(counts < n_items // 3)
    counts[rng.choice(room, size=short, replace=False)] += 1
    popularity = (rng.permutation(n_items) + 1.0) ** -1.0
    centres = rng.standard_normal((clusters, dim))
    factors = rng.standard_normal((n_items, dim))
    taste = popularity[None, :] * np.exp(centres @ factors.T / np.sqrt(dim))
    cdf = np.cumsum(0.9 * taste / taste.sum(axis=1, keepdims=True) + 0.1 / n_items, axis=1)
    cdf /= cdf[:, -1:]
    cdf[:, -1] = 1.0
    stacked = (cdf + np.arange(clusters)[:, None]).ravel()  # cluster c's CDF on [c, c + 1]
    cluster = rng.integers(0, clusters, n_users)
    users = np.zeros(0, dtype=np.int64)
    items = np.zeros(0, dtype=np.int64)
    need = counts.copy()
    for round_ in itertools.count():
        if not need.sum():
            break
        draw_users = np.repeat(np.arange(n_users), need + need // 2 + 4)
        if round_ < 3:
            offset = cluster[draw_users]
            drawn = np.searchsorted(stacked, offset + rng.random(len(draw_users)), side="right")
            drawn = np.minimum(drawn - offset * n_items, n_items - 1)
        else:  # the heaviest users' last few items: uniform, so that the loop ends soon
            drawn = rng.integers(0, n_items, len(draw_users))
        users = np.concatenate([users, draw_users])
        items = np.concatenate([items, drawn])
        _, first = np.unique(users * n_items + items, return_index=True)
        order = np.sort(first)  # each distinct pair once, in draw order
        grouped = order[np.argsort(users[order], kind="stable")]
        users, items = users[grouped], items[grouped]
        held = np.bincount(users, minlength=n_users)
        rank = np.arange(len(users)) - (np.cumsum(held) - held)[users]
        keep = rank < counts[users]
        users, items = users[keep], items[keep]
        need = counts - np.minimum(held, counts)
    item_ids = np.sort(rng.choice(131_262, size=n_items, replace=False) + 1)
    return users + 1, item_ids[items]


def write_log(users: np.ndarray, items: np.ndarray, path: Path) -> None:
    """Write the pairs as ``user,item`` csv or Parquet (by the name's suffix)."""
    import polars as pl

    frame = pl.DataFrame({"user": users, "item": items})
    if path.suffix == ".parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)


# ---------------------------------------------------------------------------- measuring
def _status(field: str) -> int:
    """A ``/proc/self/status`` memory field in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


@dataclass
class Stage:
    name: str
    seconds: float
    peak: int
    start_rss: int
    note: str = ""


def measure(name: str, fn: Callable[[], Any], stages: list[Stage], note: str = "") -> Any:
    """Run ``fn`` and record its wall time and the process's peak RSS during it."""
    Path("/proc/self/clear_refs").write_text("5")  # reset VmHWM to the current RSS
    start_rss = _status("VmRSS")
    start = time.perf_counter()
    result = fn()
    stages.append(Stage(name, time.perf_counter() - start, _status("VmHWM"), start_rss, note))
    print(f"  {name}: {stages[-1].seconds:.1f} s", file=sys.stderr, flush=True)
    return result


# ---------------------------------------------------------------------------- the pipeline
def pipeline(path: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Every stage on ``path``; returns the stage rows and the sizes the report needs."""
    import numba
    import scipy.sparse as sp
    import torch
    from implicit.cpu.als import AlternatingLeastSquares
    from implicit.cpu.bpr import BayesianPersonalizedRanking
    from threadpoolctl import threadpool_limits

    from siftrec.data.readers import read_interactions
    from siftrec.data.splits import split_interactions
    from siftrec.evaluate import evaluate
    from siftrec.models import IALS, MF

    torch.set_num_threads(args.threads)
    stages: list[Stage] = []

    def read():
        log = read_interactions(path)  # ML-20M's userId/movieId are known column aliases
        return log, log.matrix

    log, matrix = measure("read (file → log + CSR)", read, stages, note=path.name)
    csr_bytes = matrix.data.nbytes + matrix.indices.nbytes + matrix.indptr.nbytes
    # equal weights are a zero-stride view (Interactions.uniform_weight): no memory of their own
    weight_bytes = 0 if log.uniform_weight is not None else log.weights.nbytes
    log_bytes = log.users.nbytes + log.items.nbytes + weight_bytes
    log_bytes += sum(values.nbytes for values in log.columns.values())
    sizes = {
        "rows": len(log),
        "users": log.n_users,
        "items": log.n_items,
        "nnz": matrix.nnz,
        "csr_bytes": csr_bytes,
        "log_bytes": log_bytes,
        "index_dtype": str(matrix.indices.dtype),
        "file_bytes": path.stat().st_size,
    }
    split = measure(
        "split (random 80/20 per user)",
        partial(split_interactions, log, "random", test_ratio=0.2, seed=args.seed),
        stages,
    )
    del log, matrix
    train, test = split.train, split.test
    train.matrix  # noqa: B018 - the CSR every model fits on, built once for both libraries
    ials = IALS(factors=args.factors, iterations=args.iterations, seed=args.seed)
    measure("iALS fit (siftrec)", lambda: ials.fit(train), stages, f"{args.iterations} iterations")
    confidences = train.matrix.copy()
    confidences.data = 1.0 + ials.config.alpha * confidences.data

    def implicit_als(confidences: sp.csr_matrix = confidences) -> AlternatingLeastSquares:
        with threadpool_limits(limits=1, user_api="blas"):  # implicit's own advice
            als = AlternatingLeastSquares(
                factors=args.factors,
                regularization=ials.config.regularization,
                alpha=1.0,
                iterations=args.iterations,
                use_cg=True,
                num_threads=args.threads,
                random_state=args.seed,
            )
            als.fit(confidences, show_progress=False)
        return als

    measure("iALS fit (implicit)", implicit_als, stages, f"{args.iterations} iterations")
    del confidences
    numba.set_num_threads(args.threads)
    bpr = MF(epochs=1, dim=args.factors, seed=args.seed, backend="numba", progress=False)
    measure("BPR-MF 1 epoch (siftrec)", lambda: bpr.fit(train), stages)

    def implicit_bpr():
        model = BayesianPersonalizedRanking(
            factors=args.factors, iterations=1, num_threads=args.threads, random_state=args.seed
        )
        model.fit(train.binary, show_progress=False)

    measure("BPR-MF 1 epoch (implicit)", implicit_bpr, stages)
    result = measure(
        "evaluate all users (siftrec iALS)",
        lambda: evaluate(ials, test, "recall@20,ndcg@20"),
        stages,
    )
    sizes["eval_users"] = result.n_users
    sizes["metrics"] = result.metrics
    rows = [stage.__dict__ for stage in stages]
    return {"stages": rows, "sizes": sizes}


# ---------------------------------------------------------------------------- report
def report(outcome: Mapping[str, Any], args: argparse.Namespace, load: tuple[float, ...]) -> None:
    import torch

    sizes, stages = outcome["sizes"], outcome["stages"]
    ours = [s for s in stages if "implicit" not in s["name"]]
    total = sum(s["seconds"] for s in ours)
    peak = max(s["peak"] for s in ours)
    read = stages[0]
    print(
        f"siftrec {_version()}, python {platform.python_version()}, torch {torch.__version__}, "
        f"implicit {_implicit_version()}, {os.cpu_count()} CPUs, {args.threads} threads; "
        f"load average before/after: {load[0]:.1f} / {os.getloadavg()[0]:.1f}"
    )
    print(
        f"log: {sizes['rows']:,} rows, {sizes['users']:,} users × {sizes['items']:,} items, "
        f"{sizes['nnz']:,} pairs; file {sizes['file_bytes'] / 2**20:,.0f} MiB; CSR "
        f"{sizes['csr_bytes'] / 2**20:,.0f} MiB ({sizes['index_dtype']} indices, float32 "
        f"values), log arrays {sizes['log_bytes'] / 2**20:,.0f} MiB"
    )
    print()
    print("| stage | seconds | peak RSS (GiB) | growth in stage (GiB) |")
    print("| --- | ---: | ---: | ---: |")
    for s in stages:
        note = f" ({s['note']})" if s["note"] else ""
        print(
            f"| {s['name']}{note} | {s['seconds']:.1f} | {s['peak'] / GIB:.2f} "
            f"| {(s['peak'] - s['start_rss']) / GIB:.2f} |"
        )
    print()
    fit = {s["name"]: s["seconds"] for s in stages}
    ratio = fit["iALS fit (siftrec)"] / fit["iALS fit (implicit)"]
    bpr = fit["BPR-MF 1 epoch (siftrec)"] / fit["BPR-MF 1 epoch (implicit)"]
    read_growth = read["peak"] - read["start_rss"]
    metrics = ", ".join(f"{k} {v:.4f}" for k, v in sizes["metrics"].items())
    print(
        f"siftrec pipeline (read + split + iALS + BPR epoch + evaluate): {total:.0f} s "
        f"(target < 300 s), peak RSS {peak / GIB:.2f} GiB (target < 8 GiB)"
    )
    print(f"iALS fit siftrec / implicit: {ratio:.2f}× (target ≤ 1.0×); BPR epoch: {bpr:.2f}×")
    print(
        f"read: peak growth {read_growth / 2**20:,.0f} MiB = "
        f"{read_growth / sizes['csr_bytes']:.2f}× the CSR, "
        f"{read_growth / (sizes['csr_bytes'] + sizes['log_bytes']):.2f}× the log + CSR it built"
    )
    print(f"evaluation: {sizes['eval_users']:,} users, {metrics}")


def _version() -> str:
    from siftrec.version import __version__

    return __version__


def _implicit_version() -> str:
    import implicit

    return implicit.__version__


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ml20m", type=Path, help="MovieLens-20M ratings.csv instead")
    parser.add_argument("--work", type=Path, help="folder for the synthetic log (default: temp)")
    parser.add_argument("--format", choices=["csv", "parquet"], default="csv")
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--scale", type=float, default=1.0, help="users and interactions × this (quick checks)"
    )
    parser.add_argument("--pipeline", type=Path, help=argparse.SUPPRESS)  # the child's input
    args = parser.parse_args()

    if args.pipeline is not None:  # the child: run the stages, print them as JSON
        print(json.dumps(pipeline(args.pipeline, args)))
        return
    with tempfile.TemporaryDirectory(dir=args.work) as scratch:
        if args.ml20m is not None:
            if not args.ml20m.is_file():
                parser.error(f"{args.ml20m} does not exist")
            path = args.ml20m
        else:
            start = time.perf_counter()
            users, items = ml20m_shaped(
                args.seed,
                n_users=round(ML20M_USERS * args.scale),
                n_interactions=round(ML20M_RATINGS * args.scale),
            )
            path = Path(scratch) / f"ml20m_shaped.{args.format}"
            write_log(users, items, path)
            del users, items
            print(
                f"drew and wrote {path.name} in {time.perf_counter() - start:.0f} s",
                file=sys.stderr,
            )
        load = os.getloadavg()
        child = [sys.executable, __file__, *sys.argv[1:], "--pipeline", str(path)]
        done = subprocess.run(child, check=True, stdout=subprocess.PIPE, text=True)
        report(json.loads(done.stdout.splitlines()[-1]), args, load)


if __name__ == "__main__":
    main()
