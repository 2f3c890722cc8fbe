"""Torch models on Gowalla (LightGCN split) against LightGCN-PyTorch and the BARS leaderboard.

Usage: ``python bench/gowalla_torch.py [--data DIR] [--model lightgcn|mf|multvae|multdae|all]
[--epochs N] [--eval-every N] [--param key=value ...] [--threads N] [--seed S] [--json OUT]``.

Reads ``gowalla-lightgcn/{train,test}.txt.gz`` under ``--data`` (default ``$SIFTREC_DATA`` or the
user cache, see README "Data"), trains each model with its defaults (the papers' settings) plus any
``--param`` overrides for ``--epochs`` epochs, and evaluates Recall@20 / NDCG@20 on the test split
(full ranking, train items masked, Recall over ``|test_u|`` as in LightGCN/BARS) every
``--eval-every`` epochs and after the last one, printing each epoch's training time. Test metrics
are only reported, never used to select an epoch (``restore_best`` is off).

References (``docs/references.md``): the LightGCN-PyTorch README (He et al., SIGIR 2020) at
epoch 5 (3 layers, seed 2020): Recall@20 0.10711, NDCG@20 0.08941; after 1000 epochs
0.1824 / 0.1547. The BARS leaderboard (Zhu et al., SIGIR 2022): MF-BPR 0.1627 / 0.1378,
Mult-VAE 0.1641 / 0.1335 (Liang et al.'s number), LightGCN 0.1820 / 0.1547.

On a shared CPU, ``--threads 1`` avoids OpenMP threads waiting for descheduled peers at every
op, which makes small ops several times slower under contention.
"""

from __future__ import annotations

import os

# Before torch loads OpenMP: passive waiting instead of spinning on an oversubscribed CPU.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import time
from pathlib import Path
from typing import Any

import torch

from siftrec import Interactions, SiftrecError
from siftrec.atomic import write_text
from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.evaluate import evaluate
from siftrec.models import get_model_class
from siftrec.models.torch_base import TorchRecommender

METRICS = "recall@20,ndcg@20"
MODELS = ("lightgcn", "mf", "multvae", "multdae")
REFERENCES = {
    "lightgcn": "LightGCN-PyTorch epoch 5: 0.10711 / 0.08941; epoch 1000: 0.1824 / 0.1547",
    "mf": "BARS MF-BPR: 0.1627 / 0.1378 (300 sampled negatives per positive)",
    "multvae": "BARS Mult-VAE (paper): 0.1641 / 0.1335",
    "multdae": "no Gowalla reference",
}


def parse_params(pairs: list[str]) -> dict[str, str]:
    """``["lr=0.01", "l2=0"]`` → ``{"lr": "0.01", "l2": "0"}`` (coerced by the model config)."""
    params = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--param expects key=value, got {pair!r}")
        params[key.strip()] = value.strip()
    return params


class TestEvaluator:
    """The trainer's evaluator hook: test metrics, printed as they come (long runs are logged)."""

    def __init__(self, test: Interactions) -> None:
        self.test, self.count, self.last = test, 0, time.perf_counter()

    def __call__(self, model: TorchRecommender) -> dict[str, float]:
        result = evaluate(model, self.test, METRICS)
        now = time.perf_counter()
        self.count += 1
        print(
            f"  evaluation {self.count}: recall@20 {result.metrics['recall@20']:.5f} "
            f"ndcg@20 {result.metrics['ndcg@20']:.5f} ({now - self.last:.0f} s since the "
            f"previous one, of which evaluation {result.seconds:.0f} s)",
            flush=True,
        )
        self.last = now
        return result.metrics


def run(
    name: str,
    train: Interactions,
    test: Interactions,
    epochs: int,
    eval_every: int,
    seed: int,
    params: dict[str, str],
) -> dict[str, Any]:
    """Train ``name`` on ``train``, evaluating on ``test`` as it goes; returns the history."""
    model: TorchRecommender = get_model_class(name)(
        epochs=epochs,
        eval_every=eval_every,
        metric="recall@20",
        restore_best=False,
        seed=seed,
        **params,
    )
    print(f"\n== {name}: {model!r}", flush=True)
    model.fit(train, evaluator=TestEvaluator(test))
    print(f"{'epoch':>5} {'loss':>10} {'train s':>8} {'Recall@20':>10} {'NDCG@20':>9}")
    for record in model.history_:
        metrics = (
            f"{record['recall@20']:>10.5f} {record['ndcg@20']:>9.5f}"
            if "recall@20" in record
            else ""
        )
        print(f"{record['epoch']:>5} {record['loss']:>10.5f} {record['seconds']:>8.1f} {metrics}")
    seconds = [r["seconds"] for r in model.history_]
    last = model.history_[-1]
    summary = {
        "model": name,
        "params": model.get_params(),
        "epochs": len(model.history_),
        "recall@20": last["recall@20"],
        "ndcg@20": last["ndcg@20"],
        "mean_epoch_s": sum(seconds) / len(seconds),
        "fit_s": model.fit_seconds_,
        "history": model.history_,
    }
    print(
        f"{name}: after {summary['epochs']} epochs Recall@20 {summary['recall@20']:.5f}, "
        f"NDCG@20 {summary['ndcg@20']:.5f}; mean training epoch {summary['mean_epoch_s']:.1f} s, "
        f"fit incl. evaluations {summary['fit_s']:.0f} s. Reference: {REFERENCES[name]}",
        flush=True,
    )
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(default_data_dir()))
    parser.add_argument("--model", default="all", choices=[*MODELS, "all"])
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--eval-every", type=int, default=1, help="test evaluation period")
    parser.add_argument(
        "--param", action="append", default=[], help="key=value override for every model run"
    )
    parser.add_argument("--threads", type=int, help="torch CPU threads (default: torch's)")
    parser.add_argument("--seed", type=int, default=2020)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    root = Path(args.data) / "gowalla-lightgcn"
    if not root.is_dir():
        raise SystemExit(f"data directory {root} not found (set --data or SIFTREC_DATA)")
    if args.threads:
        torch.set_num_threads(args.threads)
    names = MODELS if args.model == "all" else (args.model,)
    params = parse_params(args.param)
    results = []
    try:
        train = read_interactions(root / "train.txt.gz", format="lightgcn")
        test = read_interactions(
            root / "test.txt.gz",
            format="lightgcn",
            user_map=train.user_map,
            item_map=train.item_map,
        )
        print(f"gowalla-lightgcn: train {train}, test {len(test):,} interactions")
        print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s)")
        for name in names:
            results.append(run(name, train, test, args.epochs, args.eval_every, args.seed, params))
    except SiftrecError as exc:
        raise SystemExit(f"error: {exc}") from None
    if args.json:
        write_text(args.json, json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
