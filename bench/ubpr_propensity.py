"""Estimated vs true exposure propensities: the popularity power law against the exposure model.

Usage: ``python bench/ubpr_propensity.py [--data DIR] [--seeds 3] [--threads 2]``.

Two logs whose propensities are known: the semi-synthetic generator (``generate(noise_ratio=0,
seed=s)``, the true per-pair θ; the estimators see the 90 % training part of a per-user random
split, as in ``bench/ubpr_semisynthetic.py``) and Coat (the training part of ``mnar_split``, the
clicks rated >= 4; Coat's shipped per-pair propensities, themselves a model fit by Schnabel et
al., ICML 2016, stand in for the truth). Estimators: the power law ``(n_i / max n)^0.5`` and the
exposure model (``siftrec.bias.exposure``, default ``λ_y = 2π``, and Liang et al.'s ``λ_y = 1``).
Each is compared with the truth on the training clicks (the propensities IPS weighs) and on every
(user, item) pair: Pearson correlation of log θ, Spearman correlation, and mean absolute log error
``mean |log θ̂ − log θ|`` (estimates and truth floored at 0.001). Yahoo! R3 has no known
propensities; its exposure-model fit time is printed for scale.
"""

from __future__ import annotations

import argparse
import math
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from scipy.stats import pearsonr, spearmanr

from siftrec import Interactions
from siftrec.bias import popularity_propensities
from siftrec.bias.exposure import fit_exposure_model
from siftrec.data.location import default_data_dir
from siftrec.data.mar import mnar_split, read_coat, read_yahoo_r3
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import generate

FLOOR = 0.001
#: name → estimator returning the (n_users, n_items) table of estimated propensities.
ESTIMATORS: dict[str, Callable[[Interactions], np.ndarray]] = {
    "power law (eta 0.5)": lambda train: np.broadcast_to(
        popularity_propensities(train, 0.5, floor=FLOOR), train.shape
    ),
    "exposure model (λ_y 2π, default)": lambda train: fit_exposure_model(train).table(),
    "exposure model (λ_y 1, Liang et al.)": lambda train: fit_exposure_model(
        train, lambda_y=1.0
    ).table(),
}


def scores(estimate: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    est = np.log(np.maximum(estimate, FLOOR))
    tru = np.log(np.maximum(truth, FLOOR))
    return {
        "pearson_log": float(pearsonr(est, tru)[0]),
        "spearman": float(spearmanr(est, tru)[0]),
        "male": float(np.mean(np.abs(est - tru))),
    }


def compare(train: Interactions, truth: np.ndarray) -> dict[str, dict[str, float]]:
    """Scores of every estimator on the training clicks and on all pairs, plus fit seconds."""
    out = {}
    for name, estimator in ESTIMATORS.items():
        start = time.perf_counter()
        table = estimator(train)
        seconds = time.perf_counter() - start
        clicks = scores(table[train.users, train.items], truth[train.users, train.items])
        every = scores(table.ravel(), truth.ravel())
        out[name] = {f"clicks {k}": v for k, v in clicks.items()}
        out[name] |= {f"all {k}": v for k, v in every.items()} | {"seconds": seconds}
    return out


def report(title: str, runs: list[dict[str, dict[str, float]]]) -> None:
    keys = list(next(iter(runs[0].values())))
    print(f"\n{title}\n\n| estimator | " + " | ".join(keys) + " |")
    print("|---" * (len(keys) + 1) + "|")
    for name in runs[0]:
        cells = []
        for key in keys:
            values = np.array([run[name][key] for run in runs])
            spread = f" ± {values.std(ddof=1):.3f}" if len(values) > 1 else ""
            cells.append(f"{values.mean():.3f}{spread}")
        print(f"| {name} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    runs = []
    for seed in range(args.seeds):
        data = generate(noise_ratio=0.0, seed=seed)
        train = split_interactions(data.interactions, "random", test_ratio=0.1, seed=seed).train
        runs.append(compare(train, data.exposure))
    report(f"Semi-synthetic ({args.seeds} seeds, mean ± sd)", runs)
    coat = mnar_split(read_coat(args.data / "coat")).train
    shipped = np.loadtxt(next((args.data / "coat").glob("propensities.ascii*")))
    report("Coat (shipped propensities as the truth)", [compare(coat, shipped)])
    yahoo = mnar_split(read_yahoo_r3(args.data / "yahoo-r3")).train
    start = time.perf_counter()
    fit_exposure_model(yahoo)
    seconds = time.perf_counter() - start
    print(f"\nexposure model on Yahoo! R3 ({yahoo.n_users:,} × {yahoo.n_items:,}): {seconds:.1f} s")
    print(f"(λ_y 2π = {2 * math.pi:.2f})")


if __name__ == "__main__":
    main()
