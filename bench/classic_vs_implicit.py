"""siftrec's IALS vs ``implicit``'s CPU AlternatingLeastSquares: fit time, quality, top-20 time.

Usage: ``python bench/classic_vs_implicit.py [--data DIR] [--dataset all] [--repeats 3]
[--factors 64] [--iterations 15] [--regularization 0.01] [--alpha 1]``.

Data (under ``--data``, default ``$SIFTREC_DATA`` or the user cache, see README "Data"):
``ml-1m-diffrec`` clean (train / valid / test; validation items are masked at test time, as in
DiffRec) and ``gowalla-lightgcn`` (train / test).

Same objective on both sides: siftrec minimises ``Σ c_ui (p_ui − x_uᵀy_i)² + λ(‖X‖² + ‖Y‖²)``
with ``c_ui = 1 + α r_ui`` on observed pairs and 1 elsewhere. ``implicit`` reads its input values
as the confidences themselves (``c = alpha · value``, unobserved pairs weigh 1), so it is fed the
matrix of our ``c`` with its ``alpha=1``. Both use conjugate gradient with 3 steps per half-sweep,
the same factors, λ and iterations (initialisations differ: siftrec N(0, 0.1²/d), implicit
U[0, 0.01)). Fits alternate (siftrec, implicit, siftrec, ...) so that load from other processes
hits both alike; medians are reported, with the 1-minute load average seen before each fit. Both
run with 2 threads: torch intra-op threads for siftrec; ``num_threads=2`` for implicit, whose
fit runs with sequential BLAS as implicit itself demands (BLAS is limited to 2 threads
elsewhere). Both run under ``OMP_WAIT_POLICY=PASSIVE`` (``--omp-wait-policy default`` for
libgomp's default): they share torch's libgomp in this process, and on a machine shared with
other jobs the default spin-then-sleep policy makes each of torch's many per-operation parallel
regions wait for a preempted worker (see docs/benchmarks.md). Quality: Recall@20 / NDCG@20 from
``siftrec.evaluate.evaluate`` for both (implicit's factors behind a small ``Recommender``).
Top-20 time: full ranking with training items masked for all users — ``IALS.recommend`` vs
``implicit``'s ``recommend(userids, user_items, N=20, filter_already_liked_items=True)``.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import implicit
import numpy as np
import scipy.sparse as sp
import torch
from implicit.cpu.als import AlternatingLeastSquares
from threadpoolctl import threadpool_limits

from siftrec import Interactions, SiftrecError
from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.evaluate import evaluate
from siftrec.models import IALS, Recommender

THREADS = 2
DATASETS = ("ml-1m-diffrec", "gowalla-lightgcn")


@dataclass
class ImplicitALSConfig:
    factors: int = 64
    regularization: float = 0.01
    alpha: float = 1.0
    iterations: int = 15
    seed: int = 0


class ImplicitALS(Recommender):
    """``implicit``'s CPU ALS (CG, 3 steps) fed our confidences ``1 + α r``; scores ``U Vᵀ``."""

    name = "implicit_als"
    Config = ImplicitALSConfig

    def _fit(self, train: Interactions) -> None:
        cfg = self.config
        # implicit's own advice: sequential BLAS inside its threaded solver (it warns otherwise).
        with threadpool_limits(limits=1, user_api="blas"):
            self.als = AlternatingLeastSquares(
                factors=cfg.factors,
                regularization=cfg.regularization,
                alpha=1.0,
                iterations=cfg.iterations,
                use_cg=True,
                num_threads=THREADS,
                random_state=cfg.seed,
            )
            self.als.fit(confidences(train, cfg.alpha), show_progress=False)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.als.user_factors[users] @ self.als.item_factors.T

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.als.user_factors, "item_factors": self.als.item_factors}

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        raise SiftrecError("the implicit wrapper is not meant to be saved or loaded")


def confidences(train: Interactions, alpha: float) -> sp.csr_matrix:
    """CSR of siftrec's linear confidences ``1 + α r`` on the observed pairs."""
    conf = train.matrix.copy()
    conf.data = 1.0 + alpha * conf.data
    return conf


def load(data: Path, name: str) -> tuple[Interactions, Interactions, Interactions | None]:
    """(train, test, validation to mask or None) indexed on the training maps."""
    if name == "ml-1m-diffrec":
        root = data / name / "clean"
        train = read_interactions(root / "train_list.npy.gz", format="npy")
        maps = {"user_map": train.user_map, "item_map": train.item_map}
        valid = read_interactions(root / "valid_list.npy.gz", format="npy", **maps)
        test = read_interactions(root / "test_list.npy.gz", format="npy", **maps)
        return train, test, valid
    root = data / name
    train = read_interactions(root / "train.txt.gz", format="lightgcn")
    maps = {"user_map": train.user_map, "item_map": train.item_map}
    return train, read_interactions(root / "test.txt.gz", format="lightgcn", **maps), None


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def run(data: Path, name: str, args: argparse.Namespace) -> dict[str, float | str]:
    train, test, valid = load(data, name)
    params = {
        "factors": args.factors,
        "regularization": args.regularization,
        "alpha": args.alpha,
        "iterations": args.iterations,
    }
    ours = IALS(**params, solver="cg", cg_steps=3, device="cpu", seed=args.seed)
    theirs = ImplicitALS(**params, seed=args.seed)
    fit = {"siftrec": [], "implicit": []}
    load_avg = []
    for _ in range(args.repeats):
        for key, model in (("siftrec", ours), ("implicit", theirs)):
            load_avg.append(os.getloadavg()[0])
            fit[key].append(model.fit(train).fit_seconds_)

    quality = {
        key: evaluate(model, test, "recall@20,ndcg@20", exclude=valid).metrics
        for key, model in (("siftrec", ours), ("implicit", theirs))
    }

    users = np.arange(train.n_users)
    conf = confidences(train, args.alpha)
    top = {"siftrec": [], "implicit": []}
    for _ in range(args.repeats):
        top["siftrec"].append(timed(lambda: ours.recommend(users, k=20)))
        top["implicit"].append(
            timed(lambda: theirs.als.recommend(users, conf, N=20, filter_already_liked_items=True))
        )

    med = {f"fit_{k}": statistics.median(v) for k, v in fit.items()}
    med |= {f"top20_{k}": statistics.median(v) for k, v in top.items()}
    print(
        f"\n{name}: {train.n_users:,} users × {train.n_items:,} items, {len(train):,} train pairs"
    )
    for key in ("siftrec", "implicit"):
        runs = ", ".join(f"{t:.2f}" for t in fit[key])
        tops = ", ".join(f"{t:.2f}" for t in top[key])
        print(f"  {key:8s} fit s [{runs}]  top-20 s [{tops}]  {quality[key]}")
    print(f"  load average before each fit: {', '.join(f'{v:.1f}' for v in load_avg)}")
    return {
        "dataset": name,
        **med,
        "fit_ratio": med["fit_siftrec"] / med["fit_implicit"],
        "top20_ratio": med["top20_siftrec"] / med["top20_implicit"],
        **{f"{m}_{k}": v for k, q in quality.items() for m, v in q.items()},
    }


def _ensure_wait_policy(policy: str) -> None:
    """Restart under the requested OpenMP wait policy: libgomp (torch's, which implicit shares
    in this process) reads ``OMP_WAIT_POLICY`` once, when it is loaded."""
    wanted = None if policy == "default" else policy.upper()
    if os.environ.get("OMP_WAIT_POLICY") != wanted:
        if wanted is None:
            del os.environ["OMP_WAIT_POLICY"]
        else:
            os.environ["OMP_WAIT_POLICY"] = wanted
        os.execv(sys.executable, [sys.executable, *sys.argv])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = str(default_data_dir())
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--dataset", choices=[*DATASETS, "all"], default="all")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--factors", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=15)
    parser.add_argument("--regularization", type=float, default=0.01)
    parser.add_argument("--alpha", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--omp-wait-policy",
        choices=["passive", "default"],
        default="passive",
        help="OpenMP wait policy for both libraries (default: libgomp's spin-then-sleep)",
    )
    args = parser.parse_args()
    if args.repeats < 1:
        parser.error("--repeats must be >= 1")
    _ensure_wait_policy(args.omp_wait_policy)
    names = DATASETS if args.dataset == "all" else (args.dataset,)
    for name in names:
        if not (args.data / name).is_dir():
            parser.error(f"{args.data / name} not found; pass --data or set SIFTREC_DATA")

    torch.set_num_threads(THREADS)
    print(
        f"python {platform.python_version()}, torch {torch.__version__}, implicit "
        f"{implicit.__version__}, {os.cpu_count()} CPUs, {THREADS} threads each, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'default')}"
    )
    with threadpool_limits(limits=THREADS, user_api="blas"):
        rows = [run(args.data, name, args) for name in names]

    print(
        "\n| dataset | fit siftrec (s) | fit implicit (s) | ratio | R@20 siftrec | R@20 implicit"
        " | N@20 siftrec | N@20 implicit | top-20 siftrec (s) | top-20 implicit (s) | ratio |"
    )
    print("|" + " --- |" * 11)
    for r in rows:
        print(
            f"| {r['dataset']} | {r['fit_siftrec']:.2f} | {r['fit_implicit']:.2f} "
            f"| {r['fit_ratio']:.2f} | {r['recall@20_siftrec']:.4f} "
            f"| {r['recall@20_implicit']:.4f} | {r['ndcg@20_siftrec']:.4f} "
            f"| {r['ndcg@20_implicit']:.4f} | {r['top20_siftrec']:.2f} "
            f"| {r['top20_implicit']:.2f} | {r['top20_ratio']:.2f} |"
        )


if __name__ == "__main__":
    main()
