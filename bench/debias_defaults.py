"""Leave-one-dataset-out choice of UBPR's defaults at MF's own defaults, and its judgement.

Usage: ``python bench/debias_defaults.py --mar RUN --synthetic DIR``, after
``siftrec bench bench/grids/mar_ubpr_normalize.toml --out RUN`` and
``python bench/ubpr_semisynthetic.py --backbone defaults --out DIR``.

What a user gets from ``siftrec fit --model mf --param objective=ubpr(...)`` with nothing else
set: UBPR with its inverse propensities as they are (clip 0.2, the ``ubpr`` runs) or
self-normalised (``normalize=true``) at clips 0.05-0.5, on Yahoo! R3 and Coat (power-law
propensities; DCG@5 of the MAR test) and on semi-synthetic clicks (NDCG@10 against the true
relevance). Two criteria choose a configuration on two data sets and judge it on the third:

- ``share``: the best mean share of the best configuration's mean (as
  ``bench/ubpr_defaults.py`` chose the clip on the protocol backbone);
- ``worst-gain``: the largest worst-case relative gain over MF-BCE, the plain objective a
  default has to beat.

Mean ± sd over seeds; Δ and p: the mean per-user difference against MF-BCE and the two-sided
Wilcoxon signed-rank test over users, seeds pooled.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import numpy as np
from ubpr_defaults import BASELINE, cell, grid_results, means, synthetic_results

CONFIGS = {
    "ubpr": "clip 0.2, as is",
    **{f"ubpr-norm-clip{c}": f"clip {c}, normalised" for c in (0.05, 0.1, 0.2, 0.5)},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mar", type=Path, required=True)
    parser.add_argument("--synthetic", type=Path, required=True)
    args = parser.parse_args()
    synthetic = synthetic_results(args.synthetic, "ndcg@10")
    synthetic = tuple(  # the semi-synthetic script names the clip-0.2 UBPR "ubpr-clip0.2"
        frame.with_columns(frame["model"].replace("ubpr-clip0.2", "ubpr")) for frame in synthetic
    )
    data = {
        "Yahoo! R3 (DCG@5)": grid_results(args.mar, "yahoo-r3", "dcg@5"),
        "Coat (DCG@5)": grid_results(args.mar, "coat-power-law", "dcg@5"),
        "semi-synthetic (NDCG@10)": synthetic,
    }
    mean = {name: means(summary) for name, (summary, _) in data.items()}
    gain = {n: {c: mean[n][c] / mean[n][BASELINE] - 1 for c in CONFIGS} for n in data}
    share = {n: {c: mean[n][c] / max(mean[n][x] for x in CONFIGS) for c in CONFIGS} for n in data}
    criteria: dict[str, Callable[[str, list[str]], float]] = {
        "share": lambda c, names: float(np.mean([share[n][c] for n in names])),
        "worst-gain": lambda c, names: min(gain[n][c] for n in names),
    }

    print("| configuration | " + " | ".join(data) + " |")
    print("|---" * (len(data) + 1) + "|")
    for config, text in CONFIGS.items():
        cells = [f"{share[n][config]:.3f} ({gain[n][config]:+.1%})" for n in data]
        print(f"| {text} | " + " | ".join(cells) + " |")
    for criterion, score in criteria.items():
        print(f"\nCriterion {criterion}: chosen on the other two, judged on the held-out one\n")
        print("| held out | MF-BCE | chosen | UBPR, chosen configuration (Δ, p) |")
        print("|---|---|---|---|")
        for held, (summary, per_user) in data.items():
            others = [name for name in data if name != held]
            best = max(CONFIGS, key=lambda c, others=others: score(c, others))
            base = cell(summary, per_user, BASELINE)
            print(f"| {held} | {base} | {CONFIGS[best]} | {cell(summary, per_user, best)} |")
        overall = max(CONFIGS, key=lambda c: score(c, list(data)))
        print(f"\nBest over all three by {criterion}: {CONFIGS[overall]}")


if __name__ == "__main__":
    main()
