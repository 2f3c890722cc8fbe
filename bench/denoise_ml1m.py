"""Denoising objectives and PLD with MF on ML-1M noisy (DiffRec split): accuracy and epoch cost.

Usage: ``python bench/denoise_ml1m.py [--data DIR] [--methods bce,bpr,tce,rce,nbpo,pld]
[--epochs N] [--seeds 0,1,2] [--threads N] [--json OUT]``.

Reads ``ml-1m-diffrec/noisy/{train,valid,test}_list.npy.gz`` under ``--data`` (default
``$SIFTREC_DATA`` or the user cache, see README "Data"); the training and validation logs keep the
low-rating interactions (natural false positives), the test log only the clean ones. Every method
is MF (dim 64, MF's per-sample SGD defaults) trained for ``--epochs`` epochs per seed, and
Recall@20 / NDCG@20 are measured on the test log with train + valid masked (full ranking), once,
after the last epoch: no epoch or hyperparameter is selected on the test set.

Methods and their papers' settings (``docs/references.md``):
- ``bce``: pointwise BCE, 1 negative per positive (DenoisingRec's CE baseline);
- ``bpr``: BPR, 1 negative;
- ``tce``: T-CE, ``drop_rate`` 0.2, official whole-batch variant, 1 negative; ``num_gradual``
  is 30000 iterations in the paper, ≈ 90 % of its 10-epoch Yelp run, so here it is 90 % of this
  run's iterations (otherwise the drop rate would stay ≈ 0 in a short budget);
- ``rce``: R-CE, ``β`` 0.2 (official default), symmetric weights, 1 negative;
- ``nbpo``: NBPO variant (c), ``K1`` 50, ``λ_Φ`` 1, 4 negatives per positive;
- ``pld``: BPR with the PLD sampler, ``k`` 5, ``τ`` 0.1, 5 warm-up epochs, users drawn
  uniformly (``epoch_mode="users"``, the official sampler).

Epoch costs are measured by ``bench/pld_epoch.py`` (interleaved rounds, warm-up dropped).
"""

from __future__ import annotations

import os

# Before torch loads OpenMP: passive waiting instead of spinning on an oversubscribed CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import math
import statistics
import time
from pathlib import Path
from typing import Any

import torch

from siftrec import Interactions
from siftrec.atomic import write_text
from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.evaluate import evaluate
from siftrec.models import MF

METRICS = ("recall@20", "ndcg@20")
BATCH_SIZE = 4096


def method_params(name: str, iterations: int) -> dict[str, Any]:
    """MF fields of each method (see the module docstring)."""
    gradual = max(1, round(0.9 * iterations))
    return {
        "bce": {"objective": "bce"},
        "bpr": {"objective": "bpr"},
        "tce": {"objective": f"tce(drop_rate=0.2, num_gradual={gradual})"},
        "rce": {"objective": "rce(beta=0.2)"},
        "nbpo": {"objective": "nbpo(dim=50, l2_flip=1.0)", "n_negatives": 4},
        "pld": {
            "objective": "bpr",
            "sampler": "pld(pool_size=5, temperature=0.1, warmup_epochs=5)",
            "epoch_mode": "users",
        },
    }[name]


def load(root: Path) -> tuple[Interactions, Interactions, Interactions]:
    """Train, valid and test of the noisy setting, valid and test on train's id maps."""
    base = root / "ml-1m-diffrec" / "noisy"
    if not base.is_dir():
        raise SystemExit(f"{base} not found (set --data or SIFTREC_DATA)")
    train = read_interactions(base / "train_list.npy.gz", format="npy")
    maps = {"user_map": train.user_map, "item_map": train.item_map}
    valid = read_interactions(base / "valid_list.npy.gz", format="npy", **maps)
    test = read_interactions(base / "test_list.npy.gz", format="npy", **maps)
    return train, valid, test


def run(
    name: str, train: Interactions, valid: Interactions, test: Interactions, epochs: int, seed: int
) -> dict[str, Any]:
    iterations = epochs * math.ceil(len(train) / BATCH_SIZE)
    params = method_params(name, iterations)
    start = time.perf_counter()
    model = MF(epochs=epochs, batch_size=BATCH_SIZE, seed=seed, device="cpu", **params)
    model.fit(train)
    fit_seconds = time.perf_counter() - start
    result = evaluate(model, test, ",".join(METRICS), exclude=valid)
    return {
        "method": name,
        "seed": seed,
        "params": params,
        **{m: float(result.metrics[m]) for m in METRICS},
        "fit_seconds": fit_seconds,
        "epoch_seconds": [round(h["seconds"], 3) for h in model.history_],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_data = str(default_data_dir())
    parser.add_argument("--data", type=Path, default=Path(default_data))
    parser.add_argument("--methods", default="bce,bpr,tce,rce,nbpo,pld")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    train, valid, test = load(args.data)
    print(
        f"ML-1M noisy: {len(train):,} train / {len(valid):,} valid / {len(test):,} test, "
        f"{train.n_users:,} users, {train.n_items:,} items; torch {torch.__version__}, "
        f"{torch.get_num_threads()} thread(s)",
        flush=True,
    )
    results: dict[str, Any] = {"runs": [], "summary": {}}
    seeds = [int(s) for s in args.seeds.split(",")]
    for name in args.methods.split(","):
        runs = [run(name, train, valid, test, args.epochs, seed) for seed in seeds]
        results["runs"] += runs
        summary = {m: statistics.fmean(r[m] for r in runs) for m in METRICS}
        summary |= {
            f"{m}_sd": statistics.stdev(r[m] for r in runs) if len(runs) > 1 else 0.0
            for m in METRICS
        }
        summary["fit_seconds"] = statistics.fmean(r["fit_seconds"] for r in runs)
        results["summary"][name] = summary
        print(
            f"{name:5s} recall@20 {summary['recall@20']:.4f} ± {summary['recall@20_sd']:.4f}  "
            f"ndcg@20 {summary['ndcg@20']:.4f} ± {summary['ndcg@20_sd']:.4f}  "
            f"({summary['fit_seconds']:.0f} s per fit, {len(runs)} seed(s))",
            flush=True,
        )
    if args.json:
        write_text(args.json, json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
