"""Clipping study of the MNAR debiasers on semi-synthetic data, scored on the true relevance.

Usage: ``python bench/ubpr_semisynthetic.py [--seeds 3] [--threads 2] [--backbone protocol]
--out DIR``.

The third data set of the leave-one-dataset-out choice of the clipping defaults (beside
``bench/grids/yahoo_ubpr.toml`` and ``bench/grids/coat_ubpr.toml``; ``bench/ubpr_defaults.py``
makes the choice). Data: ``generate(noise_ratio=0, seed=s)`` (1,000 users × 800 items, ~18k clicks
``Y = O·R``, exposure θ per pair known). Clicks are split per user 90/10 into train/validation
(the validation part is only excluded from ranking); the test set is every relevant pair the user
did not click: can a model find relevant items it never saw clicked? Models: MF-BCE and Rel-MF /
UBPR at clip {0.01, 0.05, 0.1, 0.2}, propensities from the power law (no ``propensity`` column:
what a user without known exposure gets), and both at their default clip with propensities from
the exposure model, and UBPR with self-normalised weights (``normalize=true``) at clip
{0.05, 0.1, 0.2, 0.5}; nothing tuned. ``--backbone protocol``: MF dim 32, Adam lr 0.005, L2 1e-4,
batch 1,024, 40 epochs (as ``bench/relmf_semisynthetic.py``); ``--backbone defaults``: MF with
nothing but the objective and the seed set (what ``siftrec fit --model mf --param objective=…``
gives). Writes ``DIR/results.csv`` (one row
per model × seed) and ``DIR/per_user.parquet`` (per-user NDCG@10 and Recall@10) and prints
mean ± sd and the Wilcoxon signed-rank test over users (all seeds pooled) against MF-BCE. A rerun
with the same ``--out`` keeps the (model, seed) runs already there and runs only the missing ones.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import polars as pl
import torch
from scipy.stats import wilcoxon

from siftrec import Interactions
from siftrec.atomic import atomic_path
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import generate
from siftrec.evaluate import evaluate
from siftrec.models import MF

K = 10
METRICS = (f"ndcg@{K}", f"recall@{K}")
CLIPS = (0.01, 0.05, 0.1, 0.2)
NORMALIZED_CLIPS = (0.05, 0.1, 0.2, 0.5)
MODELS = (
    {"mf-bce": "bce", "mf-bpr": "bpr"}
    | {f"{name}-clip{clip}": f"{name}(clip={clip})" for name in ("relmf", "ubpr") for clip in CLIPS}
    | {
        "relmf-exposure-model": "relmf(clip=0.1, propensity=exposure-model)",
        "ubpr-exposure-model": "ubpr(clip=0.2, propensity=exposure-model)",
    }
    | {f"ubpr-norm-clip{c}": f"ubpr(normalize=true, clip={c})" for c in NORMALIZED_CLIPS}
)


def prepare(seed: int) -> tuple[Interactions, Interactions, Interactions]:
    """Train / validation clicks (no propensity column) and the relevant-unclicked test pairs."""
    data = generate(noise_ratio=0.0, seed=seed)
    clicks = data.interactions
    split = split_interactions(clicks, "random", test_ratio=0.1, seed=seed)
    unclicked = data.preference.astype(bool)
    unclicked[clicks.users, clicks.items] = False
    users, items = np.nonzero(unclicked)
    test = Interactions(users, items, np.ones(len(users)), clicks.user_map, clicks.item_map)
    return split.train, split.test, test


def build(objective: str, seed: int, backbone: str) -> MF:
    if backbone == "defaults":
        return MF(objective=objective, eval_every=0, seed=seed, device="cpu")
    return MF(
        objective=objective,
        dim=32,
        optimizer="adam",
        lr=0.005,
        weight_decay=1e-4,
        batch_size=1024,
        epochs=40,
        eval_every=0,
        seed=seed,
        device="cpu",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--backbone", choices=("protocol", "defaults"), default="protocol")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    rows, frames, done = [], [], set()
    if (args.out / "results.csv").exists():
        rows = pl.read_csv(args.out / "results.csv").to_dicts()
        frames = [pl.read_parquet(args.out / "per_user.parquet")]
        done = {(row["model"], row["seed"]) for row in rows}
    for seed in range(args.seeds):
        todo = [label for label in MODELS if (label, seed) not in done]
        if not todo:
            continue
        train, validation, test = prepare(seed)
        for label in todo:
            model = build(MODELS[label], seed, args.backbone).fit(train)
            result = evaluate(model, test, list(METRICS), exclude=validation)
            rows.append({"model": label, "seed": seed, **result.metrics})
            rows[-1]["fit_seconds"] = model.fit_seconds_
            frame = result.per_user_frame(train.user_map)
            frames.append(frame.with_columns(model=pl.lit(label), seed=pl.lit(seed, pl.Int64)))
            print(f"seed {seed} {label}: {result.metrics}", flush=True)
    results = pl.DataFrame(rows)
    per_user = pl.concat(frames, how="vertical_relaxed")
    with atomic_path(args.out / "results.csv") as tmp:
        results.write_csv(tmp)
    with atomic_path(args.out / "per_user.parquet") as tmp:
        per_user.write_parquet(tmp)
    print(f"\n| model | {' | '.join(METRICS)} | paired vs mf-bce ({METRICS[0]}) |")
    print("|---" * (len(METRICS) + 2) + "|")
    base = per_user.filter(pl.col("model") == "mf-bce")
    for label in MODELS:
        runs = results.filter(pl.col("model") == label)
        cells = [f"{runs[m].mean():.4f} ± {runs[m].std():.4f}" for m in METRICS]
        paired = "—"
        if label != "mf-bce":
            joined = per_user.filter(pl.col("model") == label).join(
                base, on=["user", "seed"], suffix="_base"
            )
            diff = (joined[METRICS[0]] - joined[f"{METRICS[0]}_base"]).to_numpy()
            diff = diff[~np.isnan(diff)]
            paired = f"{diff.mean():+.4f} (p={wilcoxon(diff).pvalue:.3g})"
        print(f"| {label} | {' | '.join(cells)} | {paired} |")
    print(f"\ntotal {time.perf_counter() - start:.0f}s")


if __name__ == "__main__":
    main()
