"""Rel-MF on the built-in semi-synthetic generator, where true relevance and exposure are known.

Usage: ``python bench/relmf_semisynthetic.py [--seeds 3] [--draws 50] [--threads 2]``.

Data: ``siftrec.data.synthetic.generate(noise_ratio=0, seed=s)`` (1,000 users × 800 items,
~18k clicks; binary relevance ``R``, per-pair exposure ``θ`` between 0.001 and 1, popular items
exposed more). Clicks are split per user 90/10 into train/validation; the test set is every
relevant item the user did not click (``R = 1``, not in train or validation): can a model find
relevant items it never saw clicked?

1. **Ranking on true relevance.** MF-BCE (naive: clicks as labels), Rel-MF with the true
   per-pair θ (a ``propensity`` column) and Rel-MF with the power-law estimate (no column), plus
   WMF (iALS). Hyperparameters are tuned on seed 0's validation clicks only, by SNIPS-NDCG@10
   with the true θ; seeds 1..N-1 regenerate the data and reuse them. Test: Recall/NDCG@10 over
   all items (train masked, validation excluded) and beyond-accuracy of the top-10.
2. **Estimator error.** For the scores of the trained MF-BCE and Rel-MF models, the loss over
   all pairs against the true relevance (ideal) is compared with the naive, unbiased (IPS) and
   clipped estimators computed from ``draws`` fresh click draws ``Y = Bern(θ)·R``: relative bias
   ``(mean L̂ − L)/L`` and relative RMSE, for the log and the squared local loss.
"""

from __future__ import annotations

import argparse
import math
import os
import time
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from relmf_yahoo import fmt, grid, ials_build

from siftrec import Interactions
from siftrec.bias import ideal_loss, ips_loss, naive_loss
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import SyntheticData, generate
from siftrec.evaluate import evaluate
from siftrec.evaluate.beyond import beyond_accuracy
from siftrec.evaluate.ips import evaluate_ips
from siftrec.models import MF, Recommender

K = 10
SELECTION = f"ndcg@{K}"


def mf(objective: str, params: Mapping[str, Any], seed: int) -> Recommender:
    return MF(
        objective=objective,
        optimizer="adam",
        lr=0.005,
        weight_decay=1e-4,
        batch_size=1024,
        epochs=40,
        eval_every=0,
        seed=seed,
        device="cpu",
        **dict(params),
    )


def build(name: str, params: Mapping[str, Any], seed: int) -> Recommender:
    params = dict(params)
    if name == "WMF (iALS)":
        return ials_build(params, seed)
    if name == "MF-BCE":
        return mf("bce", params, seed)
    return mf(f"relmf(clip={params.pop('clip')})", params, seed)


GRIDS = {
    "WMF (iALS)": grid(factors=[32], regularization=[1.0, 10.0], alpha=[1.0, 5.0]),
    "MF-BCE": grid(dim=[16, 32]),
    "Rel-MF (true θ)": grid(dim=[16, 32], clip=[0.01, 0.05, 0.2]),
    "Rel-MF (power law)": grid(dim=[16, 32], clip=[0.01, 0.05, 0.2]),
}


def prepare(seed: int) -> tuple[SyntheticData, Interactions, Interactions, Interactions]:
    """Generated data, train / validation clicks with the true θ column, relevant-unclicked test."""
    data = generate(noise_ratio=0.0, seed=seed)
    clicks = data.interactions
    clicks = clicks.with_columns(propensity=data.exposure[clicks.users, clicks.items])
    split = split_interactions(clicks, "random", test_ratio=0.1, seed=seed)
    unclicked = data.preference.astype(bool)
    unclicked[clicks.users, clicks.items] = False
    users, items = np.nonzero(unclicked)
    test = Interactions(users, items, np.ones(len(users)), clicks.user_map, clicks.item_map)
    return data, split.train, split.test, test


def train_view(name: str, train: Interactions) -> Interactions:
    """Only Rel-MF (true θ) keeps the propensity column; the others never see it."""
    if name == "Rel-MF (true θ)":
        return train
    columns = {k: v for k, v in train.columns.items() if k != "propensity"}
    return Interactions(
        train.users, train.items, train.weights, train.user_map, train.item_map, columns
    )


def tune(train: Interactions, validation: Interactions) -> dict[str, dict[str, Any]]:
    best = {}
    for name, points in GRIDS.items():
        scores = []
        for params in points:
            model = build(name, params, 0).fit(train_view(name, train))
            value = evaluate_ips(model, validation, SELECTION).metrics[SELECTION]
            scores.append(value)
            print(f"  {name} {params}: val SNIPS-{SELECTION} {value:.4f}", flush=True)
        best[name] = points[int(np.argmax(scores))]
    return best


def estimator_errors(
    scores: np.ndarray, data: SyntheticData, draws: int, seed: int
) -> dict[str, tuple[float, float]]:
    """Relative bias and RMSE of each estimator over fresh click draws, per local loss."""
    rng = np.random.default_rng(seed)
    relevance, theta = data.preference, data.exposure
    out = {}
    for loss in ("log", "squared"):
        ideal = ideal_loss(scores, relevance, loss)
        values: dict[str, list[float]] = {}
        for _ in range(draws):
            clicks = (rng.random(theta.shape) < theta) * relevance
            values.setdefault("naive", []).append(naive_loss(scores, clicks, loss))
            values.setdefault("unbiased", []).append(ips_loss(scores, clicks, theta, loss))
            for clip in (0.01, 0.1):
                values.setdefault(f"clipped {clip}", []).append(
                    ips_loss(scores, clicks, theta, loss, clip=clip)
                )
        for name, vals in values.items():
            err = np.asarray(vals) - ideal
            out[f"{loss}/{name}"] = (
                float(err.mean() / ideal),
                float(math.sqrt(np.mean(err**2)) / ideal),
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--draws", type=int, default=50)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    start = time.perf_counter()
    data, train, validation, test = prepare(0)
    print(f"seed 0: train {train}\nvalidation {validation}\ntest (relevant, unclicked) {test}")
    best = tune(train, validation)
    ranking: dict[str, dict[str, list[float]]] = {}
    errors: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for seed in range(args.seeds):
        if seed:
            data, train, validation, test = prepare(seed)
        for name, params in best.items():
            model = build(name, params, seed).fit(train_view(name, train))
            result = evaluate(model, test, f"recall@{K},ndcg@{K}", exclude=validation)
            ranked, _ = model.recommend(np.arange(train.n_users), k=K)
            row = {**result.metrics, **beyond_accuracy(ranked, train.item_counts())}
            row["fit_s"] = model.fit_seconds_
            for key, value in row.items():
                ranking.setdefault(f"{name} {params}", {}).setdefault(key, []).append(value)
            if name in ("MF-BCE", "Rel-MF (true θ)"):
                scores = model.score(np.arange(train.n_users))
                for key, value in estimator_errors(scores, data, args.draws, seed).items():
                    errors.setdefault(name, {}).setdefault(key, []).append(value)
        print(f"seed {seed} done ({time.perf_counter() - start:.0f}s)", flush=True)

    columns = [f"recall@{K}", f"ndcg@{K}", f"avg_popularity@{K}", f"long_tail@{K}", f"gini@{K}"]
    columns.append("fit_s")
    print("\n| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, runs in ranking.items():
        print(f"| {name} | " + " | ".join(fmt(runs[c]) for c in columns) + " |")
    print("\n| scores of | loss | estimator | relative bias | relative RMSE |")
    print("|---|---|---|---|---|")
    for name, table in errors.items():
        for key, pairs in table.items():
            loss, estimator = key.split("/")
            bias = fmt([b for b, _ in pairs])
            rmse = fmt([r for _, r in pairs])
            print(f"| {name} | {loss} | {estimator} | {bias} | {rmse} |")
    elapsed = time.perf_counter() - start
    print(f"\ntotal {elapsed:.0f}s; load average {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
