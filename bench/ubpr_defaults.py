"""Leave-one-dataset-out choice of the clipping defaults of Rel-MF and UBPR, and its judgement.

Usage: ``python bench/ubpr_defaults.py --yahoo RUN --coat RUN --synthetic DIR``, after
``siftrec bench bench/grids/yahoo_ubpr.toml --out RUN``, the same for ``coat_ubpr.toml`` and
``python bench/ubpr_semisynthetic.py --out DIR``.

Three data sets, each with its primary metric: Yahoo! R3 and Coat (the ``coat-power-law``
dataset: power-law propensities, as a log without known exposure) by DCG@5 of each user's rated
MAR items, the semi-synthetic set by NDCG@10 against the true relevance. The score of a clip on a
data set is its mean over seeds as a share of the best clip's mean for the same debiaser (1 = the
best clip there), which weighs every data set alike whatever its metric's scale or the baseline's
strength. For each debiaser and each held-out data set, the clip with the best mean score over
the *other two* is chosen and judged on the held-out one (mean ± sd over seeds; Wilcoxon
signed-rank test of the per-user differences against MF-BCE, seeds pooled). The default set in
code is the clip with the best mean score over all three. The gain over MF-BCE is printed too.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import wilcoxon

METHODS = ("relmf", "ubpr")
CLIPS = (0.01, 0.05, 0.1, 0.2)
BASELINE = "mf-bce"


def grid_results(run: Path, dataset: str, metric: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    """(model, seed, value) rows and per-user (model, seed, user, value) rows of a grid run."""
    results = pl.read_parquet(run / "results.parquet").filter(
        (pl.col("dataset") == dataset) & (pl.col("status") == "ok")
    )
    frames = [
        pl.read_parquet(run / "per_user" / f"{cell}.parquet")
        .select("user", pl.col(metric).alias("value"))
        .with_columns(model=pl.lit(model), seed=pl.lit(seed))
        for cell, model, seed in results.select("cell_id", "model", "seed").iter_rows()
    ]
    summary = results.select("model", "seed", pl.col(metric).alias("value"))
    return summary, pl.concat(frames)


def synthetic_results(out: Path, metric: str) -> tuple[pl.DataFrame, pl.DataFrame]:
    summary = pl.read_csv(out / "results.csv").select(
        "model", "seed", pl.col(metric).alias("value")
    )
    per_user = pl.read_parquet(out / "per_user.parquet").select(
        "user", pl.col(metric).alias("value"), "model", "seed"
    )
    return summary, per_user


def means(summary: pl.DataFrame) -> dict[str, float]:
    return dict(summary.group_by("model").agg(pl.col("value").mean()).iter_rows())


def shares(mean: dict[str, float]) -> dict[str, float]:
    """Each debiaser configuration's mean as a share of its best clip's mean."""
    best = {m: max(mean[f"{m}-clip{c}"] for c in CLIPS) for m in METHODS}
    return {f"{m}-clip{c}": mean[f"{m}-clip{c}"] / best[m] for m in METHODS for c in CLIPS}


def choose(score: dict[str, dict[str, float]], method: str, names: list[str]) -> float:
    """The clip with the best mean score over the data sets ``names``."""
    return max(CLIPS, key=lambda c: np.mean([score[n][f"{method}-clip{c}"] for n in names]))


def cell(summary: pl.DataFrame, per_user: pl.DataFrame, model: str) -> str:
    """``mean ± sd`` and, against the baseline, ``Δ (p)`` of the paired per-user test."""
    values = summary.filter(pl.col("model") == model)["value"].to_numpy()
    text = f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"
    if model == BASELINE:
        return text
    joined = per_user.filter(pl.col("model") == model).join(
        per_user.filter(pl.col("model") == BASELINE), on=["user", "seed"], suffix="_base"
    )
    diff = (joined["value"] - joined["value_base"]).to_numpy()
    diff = diff[~np.isnan(diff)]
    p = 1.0 if not np.any(diff) else float(wilcoxon(diff).pvalue)
    shown = "p<1e-300" if p == 0 else f"p={p:.2g}"  # p underflows to 0 for huge effects
    return f"{text} ({diff.mean():+.4f}, {shown})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--yahoo", type=Path, required=True)
    parser.add_argument("--coat", type=Path, required=True)
    parser.add_argument("--synthetic", type=Path, required=True)
    args = parser.parse_args()
    data = {
        "Yahoo! R3 (DCG@5)": grid_results(args.yahoo, "yahoo-r3", "dcg@5"),
        "Coat (DCG@5)": grid_results(args.coat, "coat-power-law", "dcg@5"),
        "semi-synthetic (NDCG@10)": synthetic_results(args.synthetic, "ndcg@10"),
    }
    mean = {name: means(summary) for name, (summary, _) in data.items()}
    score = {name: shares(values) for name, values in mean.items()}

    print("Score (share of the best clip's mean) and gain over MF-BCE per configuration:\n")
    print("| configuration | " + " | ".join(data) + " | mean score |")
    print("|---" * (len(data) + 2) + "|")
    for method in METHODS:
        for clip in CLIPS:
            label = f"{method}-clip{clip}"
            cells = [
                f"{score[n][label]:.4f} ({mean[n][label] / mean[n][BASELINE] - 1:+.1%})"
                for n in data
            ]
            average = np.mean([score[n][label] for n in data])
            print(f"| {label} | " + " | ".join(cells) + f" | {average:.4f} |")

    print("\nLeave-one-dataset-out: clip chosen on the other two, judged on the held-out one:\n")
    print("| held out | MF-BCE | Rel-MF (clip) | UBPR (clip) |")
    print("|---|---|---|---|")
    for held, (summary, per_user) in data.items():
        cells = [cell(summary, per_user, BASELINE)]
        for method in METHODS:
            best = choose(score, method, [name for name in data if name != held])
            cells.append(f"{cell(summary, per_user, f'{method}-clip{best}')} [{best}]")
        print(f"| {held} | " + " | ".join(cells) + " |")

    defaults = {method: choose(score, method, list(data)) for method in METHODS}
    print("\nDefaults (best mean score over all three):", json.dumps(defaults))
    print("\n| data set | MF-BCE | Rel-MF (default) | UBPR (default) |")
    print("|---|---|---|---|")
    for name, (summary, per_user) in data.items():
        cells = [cell(summary, per_user, BASELINE)]
        cells += [cell(summary, per_user, f"{m}-clip{defaults[m]}") for m in METHODS]
        print(f"| {name} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
