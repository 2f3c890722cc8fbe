"""Rel-MF vs WMF (iALS) vs MF-BCE on Coat: rated-items and all-item ranking on the MAR test.

Usage: ``python bench/relmf_coat.py [--data DIR] [--seeds 3] [--threads 2]``.

Same protocol as ``bench/relmf_yahoo.py`` (shared code): the MNAR log (``train.ascii``) is split
90/10 at random into train/validation rows (seed 12345) and binarised at rating >= 4
(``mnar_split``); every
model is tuned on the validation positives only, by SNIPS-DCG@5 over all items with Coat's
shipped per-pair propensities (the training log's ``propensity`` column); the MAR test
(``test.ascii``) is used only by the final runs. Rel-MF runs twice: with Coat's learned
propensities (user-supplied column) and with the item-popularity power law (column dropped).
Coat is tiny (290 users × 300 items, ~1,700 training positives), so training uses batches of
256 positives for 100 epochs (~700 Adam steps, lr 0.005, L2 1e-4 on the full tables).

Saito et al. (WSDM 2020) report no Coat numbers; the random-score row is chance level.
The grid version is ``bench/grids/coat_relmf.toml`` (there the power-law variant also weighs the
validation clicks by the power law).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from relmf_yahoo import Candidate, grid, ials_build, mf_builder, run_comparison

from siftrec.bias import diagnose_propensities, popularity_propensities
from siftrec.data.location import default_data_dir
from siftrec.data.mar import mnar_split, read_coat, without_propensity


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default = str(default_data_dir())
    parser.add_argument("--data", type=Path, default=Path(default))
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    split = mnar_split(read_coat(args.data / "coat"))
    overlap = split.test.users.astype(np.int64) * split.test.n_items + split.test.items
    seen = split.train.users.astype(np.int64) * split.train.n_items + split.train.items
    relevant = split.test.column("rating") >= 4
    print(
        f"MAR test positives that are also training positives (never rankable over all items): "
        f"{int(np.isin(overlap[relevant], seen).sum())} of {int(relevant.sum())}"
    )
    power_law = popularity_propensities(split.train, 0.5)[split.train.items]
    print("power-law propensities:", diagnose_propensities(power_law).to_dict())
    batch, epochs = 256, 100
    relmf = mf_builder("relmf(clip={clip})", batch, epochs)
    relmf_grid = grid(dim=[16, 64], clip=[0.01, 0.05, 0.2])
    candidates = [
        Candidate(
            "WMF (iALS)",
            ials_build,
            grid(factors=[16, 64], regularization=[0.1, 1.0, 10.0], alpha=[1.0, 5.0]),
        ),
        Candidate("MF-BCE", mf_builder("bce", batch, epochs), grid(dim=[16, 64])),
        Candidate("Rel-MF (Coat propensities)", relmf, relmf_grid),
        Candidate("Rel-MF (power law)", relmf, relmf_grid, train_view=without_propensity),
    ]
    run_comparison(split, candidates, args.seeds, {})


if __name__ == "__main__":
    main()
