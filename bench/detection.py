"""Noise detection quality of every noise score: ROC-AUC, precision at the true noise ratio, AP.

Usage: ``python bench/detection.py [--data DIR] [--seeds 3] [--dataset all|synthetic|sgdl-ml100k]``.

Two logs whose noisy training interactions are known:

- ``synthetic``: siftrec's semi-synthetic generator with the demo's settings (1,000 users ×
  800 items, 20 % injected noise: clickbait, click bursts, misclicks with short dwell), split
  70/10/20 at random; the training part's ``is_noise`` flags are the truth.
- ``sgdl-ml100k``: the SGDL release of ML-100K; train rows with flag 0 (rating < 4, "natural"
  noise) are the truth.

Every model trains on the noisy training log (seeded; seeds 0..N-1) and scores each training
interaction: ``loss`` (the model's own per-interaction loss, or a within-user rank for models
without logits), ``percentile`` (that loss's percentile among the user's interactions, PLD's
view), ``nbpo`` (NBPO's flip posterior) and, on the synthetic log, the model-free rules
``dwell`` (short dwell) and ``burst`` (clicks in a burst). Mean ± sd over seeds.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import statistics
import time
from collections.abc import Iterable
from pathlib import Path

import torch

from siftrec import Interactions
from siftrec.cli.demo import DEMO_ENTRIES
from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import SyntheticConfig, generate
from siftrec.denoise import noise_scores
from siftrec.evaluate.detection import detection_report
from siftrec.models import get_model_class

#: The demo's models and denoising methods (popularity left out: its score depends on the item
#: alone), each judged by its loss, the loss's within-user percentile and its demo noise score.
MODELS = [entry for entry in DEMO_ENTRIES if entry.model != "popularity"]


def synthetic_train(seed: int) -> Interactions:
    data = generate(SyntheticConfig(n_users=1000, n_items=800, noise_ratio=0.2, seed=seed))
    split = split_interactions(
        data.interactions, "random", test_ratio=0.2, validation_ratio=0.1, seed=seed
    )
    return split.train


def sgdl_train(data: Path) -> Interactions:
    return read_interactions(data / "sgdl-ml100k" / "ml100k.train.rating.gz", format="denoisingrec")


def run(name: str, trains: Iterable[tuple[int, Interactions]], rules: bool) -> None:
    rows: dict[tuple[str, str], list[dict]] = {}
    start = time.perf_counter()
    for seed, train in trains:
        truth = train.column("is_noise").astype(bool)
        if rules:
            for rule in ("dwell", "burst"):
                report = detection_report(noise_scores(None, train, rule), truth)
                rows.setdefault(("rule (no model)", rule), []).append(report)
        for entry in MODELS:
            cls = get_model_class(entry.model)
            options = dict(entry.params)
            if "seed" in cls.Config.__dataclass_fields__:
                options["seed"] = seed
            fitted = cls(**options).fit(train)
            for score in dict.fromkeys(("loss", "percentile", entry.noise_score)):
                report = detection_report(noise_scores(fitted, train, score), truth)
                rows.setdefault((entry.label, score), []).append(report)
        print(f"  {name} seed {seed} done ({time.perf_counter() - start:.0f} s)", flush=True)
    ratio = next(iter(rows.values()))[0]["noise_ratio"]
    print(f"\n### {name} (noise ratio {ratio:.1%}; {len(next(iter(rows.values())))} seeds)\n")
    print("| model | score | ROC-AUC | precision@ratio | AP |")
    print("| --- | --- | --- | --- | --- |")
    for (label, score), reports in rows.items():
        cells = [
            _mean_sd([r[key] for r in reports])
            for key in ("roc_auc", "precision_at_ratio", "average_precision")
        ]
        print(f"| {label} | {score} | {' | '.join(cells)} |")


def _mean_sd(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.3f} ± {sd:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=default_data_dir())
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--dataset", default="all", choices=("all", "synthetic", "sgdl-ml100k"))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"load average at start: {os.getloadavg()[0]:.1f}")
    if args.dataset in ("all", "synthetic"):
        run("synthetic", ((s, synthetic_train(s)) for s in range(args.seeds)), rules=True)
    if args.dataset in ("all", "sgdl-ml100k"):
        train = sgdl_train(args.data)
        run("sgdl-ml100k", ((s, train) for s in range(args.seeds)), rules=False)


if __name__ == "__main__":
    main()
