"""Graded feedback from ratings: GNOLR on rating levels against binary BPR/BCE at each threshold.

Usage: ``python bench/graded_ratings.py --out runs/graded_ml100k.jsonl [--seeds 0,1,2]
[--epochs 40]``; ``--table`` prints the mean ± sd table of a results file.

Data: ML-100k (``$SIFTREC_DATA/ml-100k/u.data.gz``), split 80/20 per rating at random (seeded).
Levels from ratings (:func:`siftrec.data.levels.rating_levels`, thresholds 3, 4, 5): ratings 1–2
are level 0 (rated, not liked), 3 → 1, 4 → 2, 5 → 3. Targets: "rating ≥ 4" and "rating = 5"
(GNOLR's ML-1M label, rating > 4): the test pairs at or above the target, every training pair
masked. Baselines, for each target: BPR and BCE on the training pairs at or above it, and BPR on
every rated pair. GNOLR trains once on all rated pairs with their levels and is scored on both
targets. MF, per-sample SGD (lr 0.05, L2 0.01, dim 64, batch 4096, one negative).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from siftrec.data.levels import filter_levels, rating_levels
from siftrec.data.readers import read_interactions
from siftrec.evaluate import evaluate
from siftrec.models import get_model_class
from siftrec.version import __version__

METRICS = "ndcg@10,recall@10,hit_rate@10"
TARGETS = {"rating>=4": 2, "rating=5": 3}
SETTINGS = {"dim": 64, "lr": 0.05, "l2": 0.01, "batch_size": 4096}


def run(args: argparse.Namespace) -> None:
    path = Path(os.environ.get("SIFTREC_DATA", "../shared/data")) / "ml-100k" / "u.data.gz"
    log = rating_levels(read_interactions(path, "movielens"), [3, 4, 5])
    out = Path(args.out)
    for seed in (int(s) for s in args.seeds.split(",")):
        test_mask = np.random.default_rng(seed).random(len(log)) < 0.2
        train, test = log.subset(~test_mask), log.subset(test_mask)
        fits = {"gnolr": ("gnolr", train), "bpr-all": ("bpr", train)}
        for target, level in TARGETS.items():
            fits[f"bpr@{target}"] = ("bpr", filter_levels(train, level))
            fits[f"bce@{target}"] = ("bce", filter_levels(train, level))
        for label, (objective, part) in fits.items():
            model = get_model_class("mf")(
                **SETTINGS, objective=objective, epochs=args.epochs, seed=seed
            )
            start = time.perf_counter()
            model.fit(part)
            seconds = time.perf_counter() - start
            for target, level in TARGETS.items():
                if "@" in label and not label.endswith(target):
                    continue
                result = evaluate(
                    model,
                    filter_levels(test, level),
                    METRICS,
                    exclude=train,
                    drop_cold_items=False,
                )
                row = {
                    "label": label,
                    "target": target,
                    "seed": seed,
                    "epochs": args.epochs,
                    "train_rows": len(part),
                    "fit_seconds": round(seconds, 1),
                    "load": os.getloadavg()[0],
                    "version": __version__,
                    **{k: round(v, 5) for k, v in result.metrics.items()},
                }
                print(json.dumps(row), flush=True)
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")


def table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        groups.setdefault((row["target"], row["label"].split("@")[0]), []).append(row)
    keys = ["ndcg@10", "recall@10"]
    print("| target | model | seeds | " + " | ".join(keys) + " |")
    print("|---" * (3 + len(keys)) + "|")
    for (target, label), group in sorted(groups.items()):
        cells = []
        for key in keys:
            values = np.array([r[key] for r in group])
            sd = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{values.mean():.4f} ± {sd:.4f}")
        print(f"| {target} | {label} | {len(group)} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = parser.parse_args()
    if args.table:
        table(Path(args.out))
    else:
        run(args)


if __name__ == "__main__":
    main()
