"""Text-aware training on ml-100k titles and genres: RLMRec alignment (base vs Con vs Gen vs
shuffled profiles) and LLMRec-style augmented edges (with and without pruning).

Usage: ``python bench/rlmrec_align.py [--model mf] [--seeds 3] [--epochs 20] [--noise 0.0]
[--variants base,con,gen,shuffled,aug,aug_prune] [--augment-k 5] [--param KEY=VALUE ...]
[--validation] [--out results.jsonl] [--summary-only] [--table]``.

Per seed: a seeded random 80/20 split of ml-100k (``$SIFTREC_DATA/ml-100k``); optionally
``⌊noise · n_u⌋`` uniform random unseen items added to each user's train (the paper's Fig. 5);
every variant trains the same backbone for a fixed number of epochs from the same seed and is
scored on the test part (full ranking, train masked): Recall@20, NDCG@20. ``--param KEY=VALUE``
(repeatable; VALUE read as JSON when it parses, else as a string) is passed to every variant's
model (backbone and alignment settings: ``optimizer=adam``, ``lr=0.002``, ``align_weight=0.1``);
a key a variant sets itself (``align``, ``align_shuffle``, ...) is refused. ``--validation``
chooses settings without the test part: a seeded ``VALIDATION_SHARE`` of each seed's train
interactions is held out, the variants train on the rest (noise added to the rest) and are
scored on the held-out part; the test part is not read. Variants:
``base`` (align=none), ``con``, ``gen``, ``shuffled`` (con with every node given another
node's text), ``aug`` (``augment_k`` text-similarity candidate edges per user as extra BPR
triples, ``augment_prune=0``), ``aug_prune`` (the same with the default pruning),
``con_autograd`` and ``aug_autograd`` (con and aug_prune with ``fused=False``: the whole step
through autograd, for MF's timing). Text: ``"<title>. Genres: ..."`` per item, templated user
profiles from train, the default offline ``tfidf`` encoder. Results append one JSON line per
run to ``--out`` (so a partial run is usable), keyed by model, noise, epochs, ``--param``
settings, ``--validation``, variant and seed: a run skips the keys already there, and rows of
other settings never mix in its summary. The summary prints mean ± std over seeds, fit
seconds with the load average, and paired t-tests (over seeds and over (seed, user) pairs) of
each variant against base, of con against shuffled, of aug_prune against aug and of the fused
variants against their autograd twins. ``--table`` prints instead one line per setting
found in ``--out`` (for the model, noise and mode asked): each variant's mean NDCG@20 and
Recall@20 over its seeds, for choosing settings on validation runs.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np
from scipy import stats

from siftrec import Interactions, __version__
from siftrec.cli.common import parse_params as cli_params
from siftrec.data.noise import add_random_noise
from siftrec.evaluate import evaluate
from siftrec.models import get_model_class
from siftrec.text import movielens_item_text

VARIANTS = {
    "base": {"align": "none"},
    "con": {"align": "con"},
    "gen": {"align": "gen"},
    "shuffled": {"align": "con", "align_shuffle": True},
    "aug": {"augment_prune": 0.0},
    "aug_prune": {},
    "con_autograd": {"align": "con", "fused": False},
    "aug_autograd": {"fused": False},
}
AUGMENTED = ("aug", "aug_prune", "aug_autograd")
PAIRS = [("con", "base"), ("gen", "base"), ("shuffled", "base"), ("con", "shuffled")]
PAIRS += [("aug", "base"), ("aug_prune", "base"), ("aug_prune", "aug")]
PAIRS += [("con", "con_autograd"), ("aug_prune", "aug_autograd")]
METRICS = ("recall@20", "ndcg@20")


#: Share of each seed's train interactions held out by ``--validation``.
VALIDATION_SHARE = 0.1


def split(
    raw: np.ndarray, seed: int, noise: float, validation: bool = False
) -> tuple[Interactions, Interactions]:
    """Seeded 80/20 interaction split; with ``noise``, each user's train gets
    ``⌊noise · n_u⌋`` uniform random unseen items (``siftrec.data.noise.add_random_noise``).

    With ``validation``, a seeded ``VALIDATION_SHARE`` of the train part is held out and
    returned in place of the test part (which is not used), the rest is the train part."""
    rng = np.random.default_rng(seed)
    test = rng.random(len(raw)) < 0.2
    if validation:
        fit = raw[~test]
        held_out = np.random.default_rng([seed, 1]).random(len(fit)) < VALIDATION_SHARE
        part, held_raw = fit[~held_out], fit[held_out]
    else:
        part, held_raw = raw[~test], raw[test]
    train = Interactions.from_raw(part[:, 0], part[:, 1])
    if noise:
        train = add_random_noise(train, noise, seed)
    held, _ = Interactions.from_raw(held_raw[:, 0], held_raw[:, 1]).remap(
        train.user_map, train.item_map
    )
    return train, held


def parse_params(pairs: list[str], model: str) -> dict:
    """``KEY=VALUE`` strings typed as ``model``'s hyperparameters (as ``siftrec fit --param``
    types them; a malformed pair or an unknown key is a one-line error)."""
    model_class = get_model_class(model)
    return {k: model_class.parse_param(k, v) for k, v in cli_params(pairs).items()}


def setting(row: dict) -> str:
    """A row's ``--param`` settings as a canonical string (part of the resume key)."""
    return json.dumps(row.get("param", {}), sort_keys=True)


def run_key(row: dict) -> tuple:
    """What makes two rows the same run (rows written before ``--param``/``--validation``
    existed count as neither)."""
    return (
        row["model"],
        row["noise"],
        row.get("epochs"),
        setting(row),
        row.get("validation", False),
        row["variant"],
        row["seed"],
    )


def table(rows: list[dict], variants: list[str]) -> None:
    """One line per ``--param`` setting: each variant's mean NDCG@20 / Recall@20 over seeds."""
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r.get("epochs"), setting(r)), []).append(r)
    for (epochs, params), group in sorted(groups.items(), key=lambda g: str(g[0])):
        cells = []
        for v in variants:
            runs = [r for r in group if r["variant"] == v]
            if runs:
                ndcg = np.mean([r["ndcg@20"] for r in runs])
                recall = np.mean([r["recall@20"] for r in runs])
                cells.append(f"{v} {ndcg:.4f}/{recall:.4f} (n={len(runs)})")
        if cells:
            print(f"epochs {epochs} {params}: " + "; ".join(cells))


def summarize(rows: list[dict], variants: list[str]) -> None:
    """Mean ± std per variant and paired t-tests (seed level and (seed, user) level)."""
    by = {(r["variant"], r["seed"]): r for r in rows}
    seeds = sorted({r["seed"] for r in rows})
    print("fit seconds (1-minute load average)")
    for v in variants:
        runs = [by[(v, s)] for s in seeds if (v, s) in by]
        if runs:
            fit, load = [r["fit_seconds"] for r in runs], [r["load"] for r in runs]
            print(f"  {v:9s} {min(fit):.0f}-{max(fit):.0f} s", end=" ")
            print(f"(load {min(load):.1f}-{max(load):.1f})")
    for metric in METRICS:
        print(f"\n{metric}")
        for v in variants:
            vals = [by[(v, s)][metric] for s in seeds if (v, s) in by]
            if vals:
                spread = np.std(vals, ddof=1) if len(vals) > 1 else 0.0
                print(f"  {v:9s} {np.mean(vals):.4f} ± {spread:.4f}  (n={len(vals)})")
        for a, b in PAIRS:
            both = [s for s in seeds if (a, s) in by and (b, s) in by]
            if len(both) < 2:
                continue
            da = np.array([by[(a, s)][metric] for s in both])
            db = np.array([by[(b, s)][metric] for s in both])
            seed_p = stats.ttest_rel(da, db).pvalue
            ua = np.concatenate([by[(a, s)]["per_user"][metric] for s in both])
            ub = np.concatenate([by[(b, s)]["per_user"][metric] for s in both])
            user_p = stats.ttest_rel(ua, ub).pvalue
            print(
                f"  {a} - {b}: {np.mean(da - db):+.4f} (rel {np.mean(da / db - 1):+.1%}); "
                f"paired t over seeds p={seed_p:.3g}, over (seed, user) p={user_p:.3g}"
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="mf")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--noise", type=float, default=0.0)
    parser.add_argument("--variants", default="base,con,gen,shuffled")
    parser.add_argument("--augment-k", type=int, default=5)
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--validation", action="store_true")
    parser.add_argument("--out", type=Path, default=Path("rlmrec_align.jsonl"))
    parser.add_argument("--summary-only", action="store_true")
    parser.add_argument("--table", action="store_true")
    args = parser.parse_args()
    variants = args.variants.split(",")
    extra = parse_params(args.param, args.model)
    for v in variants:
        fixed = set(VARIANTS[v]) | ({"augment_k"} if v in AUGMENTED else set())
        clash = sorted((fixed | {"epochs", "seed", "device"}) & set(extra))
        if clash:
            raise SystemExit(f"--param {clash[0]} is set by the bench (variant {v})")
    root = Path(os.environ.get("SIFTREC_DATA", "../shared/data")) / "ml-100k"
    done = []
    if args.out.exists():
        done = [json.loads(line) for line in args.out.read_text().splitlines() if line]
    mode = {"model": args.model, "noise": args.noise, "validation": args.validation}
    if not args.summary_only and not args.table:
        raw = np.loadtxt(gzip.open(root / "u.data.gz"), dtype=np.int64)[:, :2]
        item_text = movielens_item_text(root)
        keys = {run_key(r) for r in done}
        for seed in range(args.seeds):
            train, held = split(raw, seed, args.noise, args.validation)
            for v in variants:
                row = {**mode, "variant": v, "seed": seed, "epochs": args.epochs, "param": extra}
                if run_key(row) in keys:
                    continue
                start = time.perf_counter()
                params = dict(VARIANTS[v])
                if v in AUGMENTED:
                    params["augment_k"] = args.augment_k
                model = get_model_class(args.model)(
                    epochs=args.epochs, seed=seed, device="cpu", **extra, **params
                )
                model.fit(train, item_text=item_text)
                result = evaluate(model, held, ",".join(METRICS))
                row.update(
                    {
                        "params": params,
                        "version": __version__,
                        **{m: result.metrics[m] for m in METRICS},
                        "fit_seconds": model.fit_seconds_,
                        "wall": time.perf_counter() - start,
                        "load": os.getloadavg()[0],
                        "per_user": {m: result.per_user[m].tolist() for m in METRICS},
                    }
                )
                print(json.dumps({k: v for k, v in row.items() if k != "per_user"}), flush=True)
                with args.out.open("a") as handle:
                    handle.write(json.dumps(row) + "\n")
                done.append(row)
    rows = [r for r in done if all(r.get(k, False) == value for k, value in mode.items())]
    if args.table:
        table(rows, variants)
        return
    wanted = (args.epochs, json.dumps(extra, sort_keys=True))
    summarize([r for r in rows if (r.get("epochs"), setting(r)) == wanted], variants)


if __name__ == "__main__":
    main()
