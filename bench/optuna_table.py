"""The table of docs/benchmarks.md "Equal-budget Optuna search" from finished run directories.

Usage: ``python bench/optuna_table.py RUN_DIR [RUN_DIR ...] [--baseline bpr]``, on the run
directories of the ``bench/grids/optuna_*.toml`` grids (``siftrec bench``).

Per data set and arm (model label): mean ± sample sd over seeds of Recall@20 and NDCG@20 on
test; Δ against the baseline arm, the mean per-user difference with the two-sided Wilcoxon
signed-rank p over users matched by raw id within each seed and pooled over seeds (as
``siftrec bench``'s summary); the mean best validation NDCG@20; what each seed's search chose
(the objective or sampler spec beside the baseline's parameters); the mean seconds of a search
(its trials' durations); and the trials that completed, were pruned or failed, summed over
seeds (``studies/<cell>/<key>/trials.parquet``; a trial cut by an interrupted run is run again
on resume and not counted). Only data sets whose every arm finished every
seed are shown; the others are named on stderr.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import wilcoxon

from siftrec.benchgrid.report import paired_values

METRICS = ("recall@20", "ndcg@20")


def paired(run: Path, rows: pl.DataFrame, base: pl.DataFrame, metric: str) -> str:
    """``Δ (p = …)`` of ``rows`` against ``base`` over users, seeds pooled."""
    diffs = []
    for seed, cell in zip(rows["seed"], rows["cell_id"], strict=True):
        (base_cell,) = base.filter(pl.col("seed") == seed)["cell_id"]
        diffs.append(paired_values(run, cell, base_cell, [metric])[metric])
    delta = np.concatenate(diffs)
    p = float(wilcoxon(delta).pvalue) if np.any(delta) else 1.0
    sign = "+" if delta.mean() >= 0 else "−"
    return f"{sign}{abs(delta.mean()):.4f} (p = {p:.1g})"


def choice(tuned: str, base_keys: set[str]) -> str:
    """The objective/sampler a search chose, else its ``dim`` (the baseline's own space)."""
    params = json.loads(tuned)
    extra = [str(params[key]) for key in ("objective", "sampler") if key in params]
    extra = [spec for spec in extra if key_free(spec) not in base_keys]
    text = " ".join(extra) if extra else f"d {params.get('dim', '?')}"
    return re.sub(r"\d+\.\d+(e-?\d+)?", lambda m: f"{float(m.group()):.2g}", text)


def key_free(spec: str) -> str:
    return spec.split("(", 1)[0]


def trial_counts(run: Path, cells: list[str]) -> tuple[str, float]:
    """``complete / pruned / failed`` summed over ``cells`` and the mean search seconds."""
    counts = {"complete": 0, "pruned": 0, "fail": 0}
    seconds = []
    for cell in cells:
        for path in (run / "studies" / cell).glob("*/trials.parquet"):
            trials = pl.read_parquet(path)
            rerun = trials["error"].fill_null("") == "interrupted"  # run again on resume
            for state in counts:
                counts[state] += int(((trials["state"] == state) & ~rerun).sum())
            seconds.append(float(trials["duration"].sum()))
    text = f"{counts['complete']} / {counts['pruned']} / {counts['fail']}"
    return text, float(np.mean(seconds)) if seconds else float("nan")


def table(runs: list[Path], baseline: str) -> list[str]:
    lines = [
        "| data set | arm | Recall@20 | NDCG@20 | Δ Recall@20 vs BPR | Δ NDCG@20 vs BPR "
        "| validation NDCG@20 | chosen (seeds 0 / 1 / 2) | search s | trials complete / pruned "
        "/ failed |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |",
    ]
    for run in runs:
        results = pl.read_parquet(run / "results.parquet").filter(pl.col("status") == "ok")
        grid = json.loads((run / "grid.json").read_text())
        n_seeds = len(grid.get("seeds", [0, 1, 2]))
        for dataset in results["dataset"].unique(maintain_order=True):
            rows = results.filter(pl.col("dataset") == dataset)
            arms = rows["model"].unique(maintain_order=True).to_list()
            if baseline not in arms or any(
                rows.filter(pl.col("model") == arm).height < n_seeds for arm in arms
            ):
                print(f"{run.name}: {dataset} has unfinished cells; left out", file=sys.stderr)
                continue
            base = rows.filter(pl.col("model") == baseline).sort("seed")
            base_keys = {key_free(str(s)) for s in json.loads(base["tuned"][0]).values()}
            for arm in arms:
                arm_rows = rows.filter(pl.col("model") == arm).sort("seed")
                cells = [f"{arm_rows[m].mean():.4f} ± {arm_rows[m].std():.4f}" for m in METRICS]
                deltas = (
                    ["—", "—"]
                    if arm == baseline
                    else [paired(run, arm_rows, base, m) for m in METRICS]
                )
                chosen = " / ".join(choice(t, base_keys) for t in arm_rows["tuned"])
                trials, seconds = trial_counts(run, arm_rows["cell_id"].to_list())
                lines.append(
                    f"| {dataset} | {arm} | {' | '.join(cells)} | {' | '.join(deltas)} | "
                    f"{arm_rows['validation_score'].mean():.4f} | {chosen} | {seconds:.0f} | "
                    f"{trials} |"
                )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path)
    parser.add_argument("--baseline", default="bpr")
    args = parser.parse_args()
    print("\n".join(table(args.runs, args.baseline)))


if __name__ == "__main__":
    main()
