"""Multi-behaviour feedback on Tmall (MBGCN release): GNOLR against single- and all-behaviour
baselines, by the protocol of CRGCN / MB-CGCN / MuLe.

Usage: ``python bench/tmall_mb.py --out runs/tmall_mb.jsonl [--split crgcn|honest]
[--model mf|lightgcn] [--labels bpr-buy,bpr-all,gnolr,...] [--seeds 0,1,2] [--epochs N]
[--set KEY=VALUE ...]``
(``--list`` names the labels).
Each finished (label, seed) appends one JSON line, so a run can be stopped and resumed (rows
already in ``--out`` are skipped); ``--table`` prints the mean ± sd table of a results file.

Data: ``$SIFTREC_DATA/tmall-mbgcn`` through :func:`siftrec.data.readers.multibehavior.mbgcn_split`
(collect 1 < cart 2 < buy 3; our copy lacks the view behaviour). Protocol: full ranking over all
items, only the *training purchases* masked (what the literature masks; collected or carted
items stay candidates), cold items kept; HR@10 / NDCG@10 per user (``hit_rate@10``,
``ndcg@10``) and per test pair (``hit_rate_pairs@10``, ``ndcg_pairs@10``, as MuLe's code).
``crgcn``: fixed epochs, the last one reported (that split has no validation part).
``honest``: validation = the release's test purchases, scored by the test's protocol (only
the training purchases masked), the best epoch by NDCG@10 restored.
Every row also reports NDCG@10 / HR@10 per user on the test purchases of pairs that were *not*
collected or carted in training (``ndcg_new@10``, ``hit_rate_new@10``): what an ordinal model,
which learns "collected, not bought" from those pairs, is not penalised on.
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
from siftrec.data.levels import filter_levels
from siftrec.data.readers.multibehavior import mbgcn_split
from siftrec.evaluate import evaluate
from siftrec.models import get_model_class
from siftrec.version import __version__

METRICS = "hit_rate@10,ndcg@10,hit_rate_pairs@10,ndcg_pairs@10,recall@20,ndcg@20"
#: Dense Adam: the multitask heads are shared scalars, which MF's per-sample SGD (a step of
#: lr·B on the batch mean) would overshoot; GNOLR runs with it too for a like-for-like row.
ADAM = {"optimizer": "adam", "lr": 0.005}
#: label → (objective, purchases only, settings over the model's). ``gnolr`` is the paper's
#: model with siftrec's defaults (per-level towers: the embedding cut into one block per level,
#: the deeper level's block normalised and bounded; the cart level, 0.4 % of the rows, merged
#: into collect by ``min_share``); ``-shared``: every level on the one logit of the scorer;
#: ``-negN``: N sampled level-0 negatives per positive.
LABELS: dict[str, tuple[str, bool, dict]] = {
    "bpr-buy": ("bpr", True, {}),
    "bpr-all": ("bpr", False, {}),
    "bpr-all-neg4": ("bpr", False, {"n_negatives": 4}),
    "bce-all": ("bce", False, {}),
    "bce-all-neg4": ("bce", False, {"n_negatives": 4}),
    "gnolr": ("gnolr", False, {}),
    "gnolr-neg4": ("gnolr", False, {"n_negatives": 4}),
    "gnolr-non-nested": ("gnolr(variant=non_nested)", False, {}),
    "gnolr-naive": ("gnolr(variant=naive)", False, {}),
    # the towers' ablations: every block free (none), the paper's cosines (all), the cart kept
    "gnolr-none": ("gnolr(normalize=none)", False, {}),
    "gnolr-none-3levels": ("gnolr(normalize=none, min_share=0)", False, {}),
    "gnolr-naive-none-3levels": ("gnolr(variant=naive, normalize=none, min_share=0)", False, {}),
    "gnolr-all-s8-3levels": ("gnolr(normalize=all, scale=8, min_share=0)", False, {}),
    "gnolr-all-s8": ("gnolr(normalize=all, scale=8)", False, {}),
    "gnolr-shared": ("gnolr(towers=false)", False, {}),
    "gnolr-shared-neg4": ("gnolr(towers=false)", False, {"n_negatives": 4}),
    "gnolr-shared-non-nested": ("gnolr(towers=false, variant=non_nested)", False, {}),
    "gnolr-shared-naive": ("gnolr(towers=false, variant=naive)", False, {}),
    # censored levels: a pair that stopped at collect may still be bought (``censored``)
    "gnolr-censored": ("gnolr(towers=false, censored=true)", False, {}),
    "gnolr-censored-neg4": ("gnolr(towers=false, censored=true)", False, {"n_negatives": 4}),
    # one level (every behaviour level 1): BCE offset by GNOLR's base-rate cut-point
    "gnolr-1level": ("gnolr(towers=false, levels=1)", False, {}),
    "gnolr-censored-s2": ("gnolr(towers=false, censored=true, scale=2)", False, {}),
    "gnolr-censored-s4": ("gnolr(towers=false, censored=true, scale=4)", False, {}),
    "gnolr-naive-censored": ("gnolr(variant=naive, censored=true)", False, {}),
    "gnolr-naive-censored-3levels": (
        "gnolr(variant=naive, censored=true, min_share=0)",
        False,
        {},
    ),
    "multitask-adam": ("multitask", False, ADAM),
    "gnolr-adam": ("gnolr", False, ADAM),
    "bpr-all-adam": ("bpr", False, ADAM),
}
#: What the honest split's validation pass masks: the training purchases, as the test (rows
#: written before it masked every training pair, and say so in their key).
VALID_MASKS = "training purchases"
#: Per-model training settings (MF: per-sample SGD on the fused path; LightGCN: its defaults).
SETTINGS = {
    "mf": {"dim": 64, "lr": 0.05, "l2": 0.01, "batch_size": 4096},
    "lightgcn": {"dim": 64, "layers": 3, "batch_size": 4096, "epoch_mode": "interactions"},
}


def run(args: argparse.Namespace) -> None:
    folder = Path(os.environ.get("SIFTREC_DATA", "../shared/data")) / "tmall-mbgcn"
    parts = mbgcn_split(folder, args.split)
    buys = filter_levels(parts["train"], 3)
    model_class = get_model_class(args.model)  # --set typed as `siftrec fit --param` types it
    settings = {k: model_class.parse_param(k, v) for k, v in parse_params(args.set).items()}
    protocol = {"exclude": buys, "exclude_seen": False, "drop_cold_items": False}
    validator = None
    if args.split == "honest":  # the test's protocol: collected and carted items stay candidates

        def validator(model: object) -> dict[str, float]:
            return evaluate(model, parts["validation"], "ndcg@10", **protocol).metrics

    overrides = ",".join(args.set)
    test_new = unseen_pairs(parts["test"], parts["train"])
    out = Path(args.out)
    done = set()
    if out.exists():
        for line in out.read_text().splitlines():
            row = json.loads(line)
            done.add(row_key(row))
    for seed in (int(s) for s in args.seeds.split(",")):
        for label in args.labels.split(","):
            objective, buy_only, extra = LABELS[label]
            masks = VALID_MASKS if args.split == "honest" else ""
            key = (args.split, args.model, label, seed, args.epochs, overrides, masks)
            if key in done:
                continue
            train = buys if buy_only else parts["train"]
            params = dict(SETTINGS[args.model], **extra)
            params.update(objective=objective, epochs=args.epochs, seed=seed)
            params.update(settings)
            if args.split == "honest":
                params.update(metric="ndcg@10", eval_every=args.eval_every)
            model = model_class(**params)
            start = time.perf_counter()
            model.fit(train, evaluator=validator)
            fit_seconds = time.perf_counter() - start
            result = evaluate(model, parts["test"], METRICS, **protocol)
            new = evaluate(model, test_new, "hit_rate@10,ndcg@10", **protocol).metrics
            row = {
                "split": args.split,
                "lr": params.get("lr"),
                "set": overrides,
                "valid_masks": masks,
                "model": args.model,
                "label": label,
                "objective": objective,
                "seed": seed,
                "epochs": args.epochs,
                "best_epoch": model.best_epoch_,
                "valid_ndcg@10": model.best_score_,
                "fit_seconds": round(fit_seconds, 1),
                "train_rows": len(train),
                "n_users": result.n_users,
                "load": os.getloadavg()[0],
                "version": __version__,
                **{k: round(v, 5) for k, v in result.metrics.items()},
                "hit_rate_new@10": round(new["hit_rate@10"], 5),
                "ndcg_new@10": round(new["ndcg@10"], 5),
            }
            print(json.dumps(row), flush=True)
            with out.open("a") as f:
                f.write(json.dumps(row) + "\n")


def row_key(row: dict) -> tuple:
    """What identifies a run: split, model, label, seed, epochs and the ``--set`` overrides
    (rows written before ``--set`` existed carry their ``--lr`` as ``lr=…`` when it is not
    the model's default)."""
    overrides = row.get("set")
    if overrides is None:
        default = SETTINGS[row["model"]].get("lr")
        lr = row.get("lr")
        overrides = "" if lr in (None, default) or "adam" in row["label"] else f"lr={lr}"
    masks = row.get("valid_masks", "every training pair" if row["split"] == "honest" else "")
    return (row["split"], row["model"], row["label"], row["seed"], row["epochs"], overrides, masks)


def unseen_pairs(test: Interactions, train: Interactions) -> Interactions:
    """The ``test`` pairs that are no pair of ``train`` at any level (same id maps)."""
    seen = train.users.astype(np.int64) * train.n_items + train.items
    keys = test.users.astype(np.int64) * test.n_items + test.items
    return test.subset(~np.isin(keys, seen))


def table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    groups: dict[tuple, list[dict]] = {}
    for row in rows:
        split, model, label, _, epochs, overrides, masks = row_key(row)
        if masks and masks != VALID_MASKS:
            split = f"{split} (validation masks {masks})"
        groups.setdefault((split, model, label, epochs, overrides), []).append(row)
    keys = ["hit_rate@10", "ndcg@10", "hit_rate_pairs@10", "ndcg_pairs@10", "ndcg_new@10"]
    if any(row.get("valid_ndcg@10") is not None for row in rows):
        keys.insert(0, "valid_ndcg@10")
    head = ["split", "model", "label", "settings", "epochs", "seeds", *keys, "fit s"]
    print("| " + " | ".join(head) + " |")
    print("|---" * len(head) + "|")
    for (split, model, label, epochs, overrides), group in sorted(groups.items()):
        cells = []
        for key in keys:
            values = np.array([np.nan if r.get(key) is None else r[key] for r in group])
            cells.append(
                f"{values.mean():.4f} ± {values.std(ddof=1) if len(values) > 1 else 0:.4f}"
            )
        fit = np.mean([r["fit_seconds"] for r in group])
        print(
            f"| {split} | {model} | {label} | {overrides} | {epochs} | {len(group)} | "
            + " | ".join(cells)
            + f" | {fit:.0f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", required=True)
    parser.add_argument("--split", default="crgcn", choices=("crgcn", "honest"))
    parser.add_argument("--model", default="mf", choices=tuple(SETTINGS))
    parser.add_argument("--labels", default="bpr-buy,bpr-all,gnolr")
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--eval-every", type=int, default=5)
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a model setting over every label's (repeatable; e.g. optimizer=adam, lr=0.005)",
    )
    parser.add_argument("--table", action="store_true", help="print the table of --out and stop")
    parser.add_argument("--list", action="store_true", help="print the labels and stop")
    args = parser.parse_args()
    if args.list:
        for label, (objective, buy_only, extra) in LABELS.items():
            print(f"{label}: {objective} on {'purchases' if buy_only else 'every level'} {extra}")
    elif args.table:
        table(Path(args.out))
    else:
        run(args)


if __name__ == "__main__":
    main()
