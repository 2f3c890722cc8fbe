"""Rel-MF vs WMF (iALS) vs MF-BCE on Yahoo! R3 under Saito et al.'s protocol (WSDM 2020).

Usage: ``python bench/relmf_yahoo.py [--data DIR] [--seeds 3] [--threads 2]``.

Protocol: the MNAR log (``user.txt``) is split 90/10 at random into train/validation rows
(seed 12345, as the authors), both binarised at rating >= 4 (``siftrec.data.mar.mnar_split``).
Every model is tuned on the validation positives only, by SNIPS-DCG@5 over all items (training
items masked) with the training power-law propensities ``(n_i / max n)^0.5``
(``evaluate_ips`` with ``validation_propensities``); the MAR test (``random.txt``) is touched
only by the final runs, with the tuned setting and seeds 0..N-1. Test metrics
(``evaluate_mar``): DCG/Recall/MAP@{1,3,5} ranking each user's 10 rated songs (relevance
0.001 + 0.999·[rating >= 4]), Recall/NDCG@5 ranking all items, and beyond-accuracy of the
all-item top-5 lists. The ``random`` model (random scores) gives the chance level.
The grid version is ``bench/grids/yahoo_relmf.toml`` (fewer candidates, no beyond-accuracy).

Training follows the authors' real-data code: 2^14 positives and as many sampled unclicked pairs
per step, about 301 steps (44 epochs of 16,384 positives), Adam lr 0.005, L2 1e-4 on the full
embedding tables (``weight_decay``), squared loss for Rel-MF. WMF is iALS (CG, 15 iterations).
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import torch

from siftrec import Interactions
from siftrec.bias import diagnose_propensities, popularity_propensities
from siftrec.data.location import default_data_dir
from siftrec.data.mar import mnar_split, read_yahoo_r3
from siftrec.data.splits import Split
from siftrec.evaluate.beyond import beyond_accuracy
from siftrec.evaluate.ips import evaluate_ips, validation_propensities
from siftrec.evaluate.mar import evaluate_mar
from siftrec.models import MF, RandomScores, Recommender, get_model_class

RATED_METRICS = [f"{m}@{k}" for m in ("dcg", "recall", "map") for k in (1, 3, 5)]
ALL_METRICS = ["all:recall@5", "all:ndcg@5"]
SELECTION = "dcg@5"


@dataclass
class Candidate:
    """A model family: ``build(params, seed)`` and the grid searched on validation.

    ``train_view`` turns the training log into what the model is fitted on (e.g. dropping a
    user-supplied ``propensity`` column to fall back on the power law).
    """

    name: str
    build: Callable[[Mapping[str, Any], int], Recommender]
    grid: list[dict[str, Any]]
    train_view: Callable[[Interactions], Interactions] = field(default=lambda log: log)


def grid(**axes: Sequence[Any]) -> list[dict[str, Any]]:
    keys = list(axes)
    return [dict(zip(keys, values, strict=True)) for values in product(*axes.values())]


def mf_builder(objective: str, batch_size: int, epochs: int) -> Callable[..., Recommender]:
    def build(params: Mapping[str, Any], seed: int) -> Recommender:
        params = dict(params)
        spec = objective.format(**params) if "{" in objective else objective
        params.pop("clip", None)
        return MF(
            objective=spec,
            optimizer="adam",
            lr=0.005,
            weight_decay=1e-4,
            batch_size=batch_size,
            epochs=epochs,
            eval_every=0,
            seed=seed,
            device="cpu",
            **params,
        )

    return build


def ials_build(params: Mapping[str, Any], seed: int) -> Recommender:
    return get_model_class("ials")(
        iterations=15, binary=True, seed=seed, device="cpu", **dict(params)
    )


def validate(model: Recommender, split: Split) -> float:
    theta = validation_propensities(split.train, split.validation)
    return evaluate_ips(model, split.validation, SELECTION, theta).metrics[SELECTION]


def tune(candidate: Candidate, split: Split) -> tuple[dict[str, Any], list[str]]:
    """Best grid point by validation SNIPS-DCG@5 (seed 0), and a log line per point."""
    lines, best, best_score = [], None, -np.inf
    train = candidate.train_view(split.train)
    for params in candidate.grid:
        start = time.perf_counter()
        model = candidate.build(params, 0).fit(train)
        score = validate(model, split)
        lines.append(
            f"  {candidate.name} {params}: val SNIPS-{SELECTION} {score:.4f} "
            f"({time.perf_counter() - start:.1f}s)"
        )
        print(lines[-1], flush=True)
        if score > best_score:
            best, best_score = params, score
    return best, lines


def test_metrics(model: Recommender, split: Split, train: Interactions) -> dict[str, float]:
    metrics = evaluate_mar(model, split.test, [*RATED_METRICS, *ALL_METRICS]).metrics
    users = np.flatnonzero(train.user_counts())
    ranked, _ = model.recommend(users, k=5)
    return {**metrics, **beyond_accuracy(ranked, train.item_counts())}


def final_runs(
    candidate: Candidate, params: Mapping[str, Any], split: Split, seeds: int
) -> tuple[dict[str, list[float]], list[float]]:
    train = candidate.train_view(split.train)
    runs: dict[str, list[float]] = {}
    seconds = []
    for seed in range(seeds):
        model = candidate.build(params, seed).fit(train)
        seconds.append(model.fit_seconds_)
        for key, value in test_metrics(model, split, train).items():
            runs.setdefault(key, []).append(value)
    return runs, seconds


def chance(split: Split, seeds: int) -> dict[str, list[float]]:
    runs: dict[str, list[float]] = {}
    for seed in range(seeds):
        model = RandomScores(seed=seed).fit(split.train)
        for key, value in test_metrics(model, split, split.train).items():
            runs.setdefault(key, []).append(value)
    return runs


def fmt(values: list[float]) -> str:
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{statistics.mean(values):.4f} ± {statistics.stdev(values):.4f}"


def report(
    results: dict[str, dict[str, list[float]]], columns: Sequence[str], paper: Mapping[str, Any]
) -> None:
    print("\n| model | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for name, runs in results.items():
        print(f"| {name} | " + " | ".join(fmt(runs[c]) for c in columns) + " |")
    for name, values in paper.items():
        print(f"| {name} | " + " | ".join(values.get(c, "–") for c in columns) + " |")


def run_comparison(
    split: Split,
    candidates: list[Candidate],
    seeds: int,
    paper: Mapping[str, Mapping[str, str]],
    extra_columns: Sequence[str] = (),
) -> None:
    """Tune every candidate on validation, run the seeds on the MAR test and print tables."""
    start = time.perf_counter()
    print(f"train {split.train}\nvalidation {split.validation}\ntest {split.test}")
    theta = (
        split.train.column("propensity")
        if split.train.has_column("propensity")
        else popularity_propensities(split.train, 0.5)[split.train.items]
    )
    print("propensities of the training positives:", diagnose_propensities(theta).to_dict())
    results: dict[str, dict[str, list[float]]] = {"random scores (chance)": chance(split, seeds)}
    for candidate in candidates:
        params, _ = tune(candidate, split)
        runs, seconds = final_runs(candidate, params, split, seeds)
        label = f"{candidate.name} {params}"
        results[label] = runs
        print(f"{label}: fit {statistics.mean(seconds):.1f}s per seed", flush=True)
    report(results, RATED_METRICS, paper)
    beyond = ["all:recall@5", "all:ndcg@5", *extra_columns]
    beyond += ["avg_popularity@5", "gini@5", "long_tail@5", "coverage@5"]
    report(results, beyond, {})
    print(f"\ntotal {time.perf_counter() - start:.0f}s; load average {os.getloadavg()[0]:.1f}")


#: Saito et al., WSDM 2020: values read off the figures of their code's README, ≈ ± 0.0005.
PAPER = {
    "paper WMF (≈)": dict(
        zip(
            RATED_METRICS,
            "0.0117 0.0275 0.0360 0.0117 0.0310 0.0494 0.0108 0.0206 0.0272".split(),
            strict=True,
        )
    ),
    "paper Rel-MF (≈)": dict(
        zip(
            RATED_METRICS,
            "0.0190 0.0395 0.0486 0.0190 0.0439 0.0633 0.0181 0.0326 0.0408".split(),
            strict=True,
        )
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = str(default_data_dir())
    parser.add_argument("--data", type=Path, default=Path(default))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = mnar_split(read_yahoo_r3(args.data / "yahoo-r3"))
    batch, epochs = 16384, 44  # ≈ 301 steps of 2^14 positives, as the authors
    candidates = [
        Candidate(
            "WMF (iALS)",
            ials_build,
            grid(factors=[30, 200], regularization=[0.1, 1.0, 10.0], alpha=[1.0, 5.0]),
        ),
        Candidate("MF-BCE", mf_builder("bce", batch, epochs), grid(dim=[64, 200])),
        Candidate(
            "Rel-MF",
            mf_builder("relmf(clip={clip})", batch, epochs),
            grid(dim=[64, 200], clip=[0.01, 0.1]),
        ),
    ]
    run_comparison(split, candidates, args.seeds, PAPER)


if __name__ == "__main__":
    main()
