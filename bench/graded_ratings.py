"""Graded feedback: GNOLR on rating or play-count levels against binary BPR/BCE at each threshold.

Usage: ``python bench/graded_ratings.py --out runs/graded_ml100k.jsonl [--data ml-100k|lastfm]
[--seeds 0,1,2] [--epochs 40] [--labels gnolr,gnolr-shared,bpr-all,bpr,bce] [--set KEY=VALUE ...]``
(``--set``: a model setting over the defaults below, e.g. ``optimizer=adam``; recorded in each
row and its own group in the table); ``--table`` prints the mean ± sd table of a results file.

``ml-100k`` (``$SIFTREC_DATA/ml-100k/u.data.gz``): split 80/20 per rating at random (seeded).
Levels from ratings (:func:`siftrec.data.levels.rating_levels`, thresholds 3, 4, 5): ratings 1–2
are level 0 (rated, not liked), 3 → 1, 4 → 2, 5 → 3. Targets: "rating ≥ 4" and "rating = 5"
(GNOLR's ML-1M label, rating > 4).
``lastfm`` (``$SIFTREC_DATA/lastfm-lightgcn``, LightGCN's own 80/20 split; the seed only changes
the model): play counts in three levels at the training tertiles (152 and 438 plays: 1 below
152, 2 up to 437, 3 from 438), the test pairs graded by the same cut-points. Targets:
"plays ≥ 152" (level ≥ 2) and "plays ≥ 438" (level 3).

Each target is scored on the test pairs at or above it, every training pair masked. Baselines,
for each target: BPR and BCE on the training pairs at or above it, and BPR on every training
pair. GNOLR (per-level towers, the deeper levels' blocks normalised and bounded; ``gnolr-none``:
no block normalised; ``gnolr-shared``: one logit for every level) trains once on all training
pairs with their levels and is scored on both targets. MF, per-sample SGD (lr 0.05, L2 0.01,
dim 64, batch 4096, one negative).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from siftrec.cli.common import parse_params
from siftrec.data.interactions import Interactions
from siftrec.data.levels import LEVEL, filter_levels, rating_levels
from siftrec.data.readers import read_interactions
from siftrec.evaluate import evaluate
from siftrec.models import get_model_class
from siftrec.version import __version__

METRICS = "ndcg@10,recall@10,hit_rate@10"
#: per data set: target name → the level it starts at
TARGETS = {
    "ml-100k": {"rating>=4": 2, "rating=5": 3},
    "lastfm": {"plays>=152": 2, "plays>=438": 3},
}
SETTINGS = {"dim": 64, "lr": 0.05, "l2": 0.01, "batch_size": 4096}
#: the models trained on every level (the others train once per target)
ALL_LEVELS = {
    "gnolr": "gnolr",
    "gnolr-none": "gnolr(normalize=none)",
    "gnolr-shared": "gnolr(towers=false)",
    "bpr-all": "bpr",
}


def split(data: str, seed: int) -> tuple[Interactions, Interactions]:
    """``(train, test)`` with a ``level`` column (module docstring)."""
    root = Path(os.environ.get("SIFTREC_DATA", "../shared/data"))
    if data == "ml-100k":
        log = rating_levels(
            read_interactions(root / "ml-100k" / "u.data.gz", "movielens"), [3, 4, 5]
        )
        test_mask = np.random.default_rng(seed).random(len(log)) < 0.2
        return log.subset(~test_mask), log.subset(test_mask)
    kw = {"format": "tsv", "columns": ["user", "item", "weight"]}
    train = read_interactions(root / "lastfm-lightgcn" / "data1.txt.gz", **kw)
    test = read_interactions(
        root / "lastfm-lightgcn" / "test1.txt.gz",
        **kw,
        user_map=train.user_map,
        item_map=train.item_map,
    )
    cuts = np.quantile(train.weights, [1 / 3, 2 / 3])
    graded = []
    for part in (train, test):
        levels = 1 + np.searchsorted(cuts, part.weights, side="right")
        graded.append(part.with_columns(**{LEVEL: levels.astype(np.int16)}))
    return graded[0], graded[1]


def run(args: argparse.Namespace) -> None:
    out = Path(args.out)
    targets = TARGETS[args.data]
    labels = args.labels.split(",")
    mf = get_model_class("mf")  # --set typed as `siftrec fit --param` types it
    settings = {**SETTINGS, **{k: mf.parse_param(k, v) for k, v in parse_params(args.set).items()}}
    overrides = ",".join(args.set)
    for seed in (int(s) for s in args.seeds.split(",")):
        train, test = split(args.data, seed)
        fits = {label: (ALL_LEVELS[label], train) for label in labels if label in ALL_LEVELS}
        for target, level in targets.items():
            for objective in ("bpr", "bce"):
                if objective in labels:
                    fits[f"{objective}@{target}"] = (objective, filter_levels(train, level))
        for label, (objective, part) in fits.items():
            model = mf(**settings, objective=objective, epochs=args.epochs, seed=seed)
            start = time.perf_counter()
            model.fit(part)
            seconds = time.perf_counter() - start
            for target, level in targets.items():
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
                    "data": args.data,
                    "label": label,
                    "target": target,
                    "seed": seed,
                    "epochs": args.epochs,
                    "set": overrides,
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
        data = row.get("data", "ml-100k")
        key = (data, row["target"], row["label"].split("@")[0], row.get("set", ""))
        groups.setdefault(key, []).append(row)
    keys = ["ndcg@10", "recall@10"]
    print("| data | target | model | settings | seeds | " + " | ".join(keys) + " | fit s |")
    print("|---" * (6 + len(keys)) + "|")
    for (data, target, label, overrides), group in sorted(groups.items()):
        cells = []
        for key in keys:
            values = np.array([r[key] for r in group])
            sd = values.std(ddof=1) if len(values) > 1 else 0.0
            cells.append(f"{values.mean():.4f} ± {sd:.4f}")
        fit = np.mean([r["fit_seconds"] for r in group])
        print(
            f"| {data} | {target} | {label} | {overrides} | {len(group)} | "
            + " | ".join(cells)
            + f" | {fit:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--data", default="ml-100k", choices=tuple(TARGETS))
    parser.add_argument("--labels", default="gnolr,gnolr-none,gnolr-shared,bpr-all,bpr,bce")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting over the defaults (repeatable; e.g. optimizer=adam, lr=0.005)",
    )
    parser.add_argument("--table", action="store_true", help="print the table of --out and stop")
    args = parser.parse_args()
    if args.table:
        table(Path(args.out))
    else:
        run(args)


if __name__ == "__main__":
    main()
