"""BPR-MF epoch time and accuracy: siftrec (numba and torch backends) vs implicit, optionally
Cornac and a plain PyTorch loop.

Usage: ``python bench/bpr_epoch.py [--data DIR] [--dataset all] [--epochs 20] [--threads 2]
[--methods numba,torch,implicit]``.

Data (under ``--data``, default ``$SIFTREC_DATA`` or the user cache, see README "Data"):
``ml-1m-diffrec`` clean (train / valid / test; validation items masked at test time, as in DiffRec)
and ``gowalla-lightgcn`` (train / test). Every method trains BPR-MF with 64 factors, one uniform
negative per positive (excluding the user's positives) and L2 0.01, for ``--epochs`` epochs of one
pass over the training interactions each, with ``--threads`` threads:

- ``numba``: siftrec ``MF(backend="numba")``, the compiled per-sample (Hogwild) SGD kernel
  (lr 0.05), on ``--threads`` numba threads; an epoch visits every interaction once, user by user
  (users in a fresh random order), where implicit draws (user, item) pairs at random;
- ``torch``: siftrec ``MF()`` on its fused row-sparse torch path, per-sample SGD (lr 0.05),
  batch 4096; ``sparse_adam``: the same with lazy Adam (lr 0.005);
- ``implicit.bpr.BayesianPersonalizedRanking`` (CPU, hogwild per-sample SGD; its defaults
  lr 0.01, regularization 0.01; 64 factors + its item-bias column);
- Cornac's ``BPR`` (per-sample SGD with item bias, lr 0.01, lambda 0.01) when importable;
- ``loop``: a plain PyTorch loop: dense ``nn.Embedding`` tables, autograd, ``torch.optim.Adam``
  (lr 0.005, batch 4096), negatives from siftrec's sampler.

``--methods`` picks among ``numba``, ``torch``, ``sparse_adam``, ``implicit``, ``cornac`` and
``loop`` (default: the first, second and fourth); every ratio is to implicit's epoch.

Timing: ``--rounds`` interleaved rounds (every method once per round) of ``--timing-epochs``
epochs each, so that load from other processes hits all methods alike; the first epoch of each
run is dropped (warm-up), and the median over the rest is reported (per-epoch timings:
siftrec's history, implicit's callback, the loop's own clock; Cornac only reports its whole fit,
divided by the epochs). The CPU columns are the process's CPU seconds per epoch, taken the same
way (siftrec: stamped by a constant evaluator after each epoch), which other jobs preempting the
threads move less than the wall clock. Quality: one ``--epochs`` run per
method, Recall@20 / NDCG@20 from ``siftrec.evaluate.evaluate`` for all (external factors
behind a small ``Recommender``). The 1-minute load average range is printed: on a shared
machine timings move with it, and only a run at load < 1 measures what a user of an idle
machine sees.
"""

from __future__ import annotations

import os

# Before torch loads OpenMP: on a shared, oversubscribed CPU, spinning OpenMP workers wait for
# descheduled peers at every op and make torch many times slower; passive waiting avoids that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import platform
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import numba
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from siftrec import Interactions, SiftrecError
from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.evaluate import evaluate
from siftrec.models import MF, Recommender
from siftrec.samplers import get_sampler

DATASETS = ("ml-1m-diffrec", "gowalla-lightgcn")
FACTORS, L2, BATCH = 64, 0.01, 4096


class Factors(Recommender):
    """Scores ``U Vᵀ`` from externally trained factors (for ``evaluate``)."""

    name = "external_factors"

    def __init__(self, user_factors: np.ndarray, item_factors: np.ndarray) -> None:
        super().__init__()
        self.user_factors, self.item_factors = user_factors, item_factors

    def _fit(self, train: Interactions) -> None:
        """Nothing to learn: the factors were trained outside siftrec."""

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.user_factors[users] @ self.item_factors.T

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"user_factors": self.user_factors, "item_factors": self.item_factors}

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        raise SiftrecError("the benchmark wrapper is not meant to be saved or loaded")


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


#: A run's per-epoch wall seconds, per-epoch process CPU seconds and the trained model.
Run = tuple[list[float], list[float], Recommender]


def run_siftrec(train: Interactions, epochs: int, **params) -> Run:
    """siftrec MF (its BPR-MF defaults, 64 factors) with ``params``; an evaluator that returns
    a constant stamps the CPU clock after every epoch (nothing is restored)."""
    stamps = [time.process_time()]

    def tick(_: Recommender) -> dict[str, float]:
        stamps.append(time.process_time())
        return {"ndcg@20": 0.0}

    model = MF(
        epochs=epochs,
        dim=FACTORS,
        l2=L2,
        batch_size=BATCH,
        restore_best=False,
        device="cpu",
        **params,
    )
    model.fit(train, evaluator=tick)
    return [r["seconds"] for r in model.history_], list(np.diff(stamps)), model


def run_implicit(train: Interactions, epochs: int, threads: int) -> Run:
    from implicit.cpu.bpr import BayesianPersonalizedRanking

    bpr = BayesianPersonalizedRanking(
        factors=FACTORS, iterations=epochs, num_threads=threads, random_state=0
    )
    stamps = [(time.perf_counter(), time.process_time())]
    bpr.fit(
        train.binary,
        show_progress=False,
        callback=lambda *_: stamps.append((time.perf_counter(), time.process_time())),
    )
    wall, cpu = np.diff(np.array(stamps), axis=0).T
    return list(wall), list(cpu), Factors(bpr.user_factors, bpr.item_factors).fit(train)


def run_cornac(train: Interactions, epochs: int, threads: int) -> Run | None:
    try:
        import cornac
    except ImportError:
        return None
    triples = list(zip(train.users.tolist(), train.items.tolist(), [1.0] * len(train), strict=True))
    dataset = cornac.data.Dataset.from_uir(triples, seed=0)
    bpr = cornac.models.BPR(
        k=FACTORS, max_iter=epochs, learning_rate=0.01, lambda_reg=L2, num_threads=threads, seed=0
    )
    start, cpu_start = time.perf_counter(), time.process_time()
    bpr.fit(dataset)
    per_epoch = (time.perf_counter() - start) / epochs
    cpu_per_epoch = (time.process_time() - cpu_start) / epochs
    # cornac re-indexes users and items; bring its factors back to our index order
    users = np.array([dataset.uid_map[u] for u in range(train.n_users)])
    items = np.array([dataset.iid_map.get(i, -1) for i in range(train.n_items)])
    item_f = np.where(items[:, None] >= 0, bpr.i_factors[np.maximum(items, 0)], 0)
    bias = np.where(items >= 0, bpr.i_biases[np.maximum(items, 0)], -np.inf)
    user_f = np.hstack([bpr.u_factors[users], np.ones((train.n_users, 1))])
    item_f = np.hstack([item_f, bias[:, None]])
    return [per_epoch] * epochs, [cpu_per_epoch] * epochs, Factors(user_f, item_f).fit(train)


def run_torch_loop(train: Interactions, epochs: int) -> Run:
    """The straightforward loop: dense embedding tables, autograd, Adam."""
    gen = torch.Generator().manual_seed(0)
    user_emb, item_emb = nn.Embedding(train.n_users, FACTORS), nn.Embedding(train.n_items, FACTORS)
    for emb in (user_emb, item_emb):
        nn.init.normal_(emb.weight, std=0.1, generator=gen)
    optimizer = torch.optim.Adam([user_emb.weight, item_emb.weight], lr=0.005)
    sampler = get_sampler("uniform")
    sampler.setup(train, np.random.default_rng(0))
    seconds, cpu = [], []
    for epoch in range(epochs):
        start, cpu_start = time.perf_counter(), time.process_time()
        for batch in sampler.epoch(epoch, BATCH):
            p, qi, qj = user_emb(batch.users), item_emb(batch.pos), item_emb(batch.neg[:, 0])
            loss = F.softplus(-(p * (qi - qj)).sum(1)).mean()
            loss = loss + L2 * 0.5 * (
                p.square().sum() + qi.square().sum() + qj.square().sum()
            ) / len(p)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        seconds.append(time.perf_counter() - start)
        cpu.append(time.process_time() - cpu_start)
    factors = Factors(user_emb.weight.detach().numpy(), item_emb.weight.detach().numpy())
    return seconds, cpu, factors.fit(train)


def run(data: Path, name: str, args: argparse.Namespace) -> None:
    train, test, valid = load(data, name)
    print(
        f"\n## {name}: {len(train):,} training interactions, {train.n_users:,} users × "
        f"{train.n_items:,} items"
    )

    def methods(epochs: int) -> dict[str, Callable[[], Run | None]]:
        out = {
            "numba": (
                "siftrec MF (backend=numba)",
                lambda: run_siftrec(train, epochs, backend="numba"),
            ),
            "torch": ("siftrec MF (torch sgd, fused)", lambda: run_siftrec(train, epochs)),
            "sparse_adam": (
                "siftrec MF (torch sparse_adam, fused)",
                lambda: run_siftrec(train, epochs, optimizer="sparse_adam", lr=0.005),
            ),
            "implicit": ("implicit BPR", lambda: run_implicit(train, epochs, args.threads)),
            "cornac": ("cornac BPR", lambda: run_cornac(train, epochs, args.threads)),
            "loop": ("plain PyTorch loop (dense Adam)", lambda: run_torch_loop(train, epochs)),
        }
        return dict(out[key] for key in args.methods)

    # Timing: interleaved rounds, so that load from other processes hits every method alike.
    # Beside the wall clock, the process's CPU seconds per epoch: less moved by other jobs
    # preempting the threads.
    seconds: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    loads = []
    for _ in range(args.rounds):
        for label, fn in methods(args.timing_epochs).items():
            loads.append(os.getloadavg()[0])
            out = fn()
            if out is not None:
                seconds.setdefault(label, []).extend(out[0][1:] if len(out[0]) > 1 else out[0])
                cpu.setdefault(label, []).extend(out[1][1:] if len(out[1]) > 1 else out[1])
    # Quality: one full run per method.
    quality = {}
    for label, fn in methods(args.epochs).items():
        out = fn()
        if out is None:
            print(f"{label}: skipped (not importable)")
            continue
        quality[label] = evaluate(out[2], test, "recall@20,ndcg@20", exclude=valid).metrics
    base = statistics.median(seconds["implicit BPR"])
    cpu_base = statistics.median(cpu["implicit BPR"])
    print(
        f"\ntiming: {args.rounds} interleaved rounds × {args.timing_epochs} epochs "
        f"(first epoch of each run dropped); 1-min load average {min(loads):.1f}-{max(loads):.1f}"
    )
    print(f"quality: after {args.epochs} epochs\n")
    print(
        "| method | s/epoch (median) | × implicit | CPU s/epoch | × implicit (CPU) | "
        "Recall@20 | NDCG@20 |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for label, m in quality.items():
        sec, cpu_sec = statistics.median(seconds[label]), statistics.median(cpu[label])
        print(
            f"| {label} | {sec:.3f} | {sec / base:.2f} | {cpu_sec:.3f} | "
            f"{cpu_sec / cpu_base:.2f} | {m['recall@20']:.4f} | {m['ndcg@20']:.4f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    default_data = str(default_data_dir())
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--dataset", default="all", choices=("all", *DATASETS))
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--timing-epochs", type=int, default=4, help="epochs per timing run")
    parser.add_argument(
        "--methods",
        default="numba,torch,implicit",
        help="comma-separated: numba, torch, sparse_adam, implicit, cornac, loop",
    )
    args = parser.parse_args()
    args.methods = [m.strip() for m in args.methods.split(",")]
    known = {"numba", "torch", "sparse_adam", "implicit", "cornac", "loop"}
    unknown = set(args.methods) - known
    if unknown or "implicit" not in args.methods:
        parser.error(f"--methods: unknown {sorted(unknown)} or no implicit (the baseline)")
    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    print(
        f"BPR-MF epoch benchmark — {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} threads, "
        f"{args.epochs} epochs"
    )
    for name in DATASETS if args.dataset == "all" else (args.dataset,):
        run(args.data, name, args)


if __name__ == "__main__":
    main()
