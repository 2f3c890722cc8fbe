"""Epoch cost of NBPO against BPR and BCE on the same model (MF, its defaults).

Usage: ``python bench/nbpo_epoch.py [--data DIR] [--dataset ml-1m-diffrec] [--rounds 3]
[--timing-epochs 4] [--negatives 1] [--threads 2] [--methods LABEL ...]``.

Data (under ``--data``, default ``$SIFTREC_DATA`` or the user cache, see README "Data"): the
training log of ``ml-1m-diffrec`` noisy (the denoising benchmark's) or ``gowalla-lightgcn``
(``pld_epoch.load``). Every method trains siftrec's ``MF`` with its defaults (dim 64, fused
per-sample SGD, lr 0.05, L2 0.01, batch 4096, one epoch = one pass over the interactions) and
the same ``--negatives`` per positive, for ``--timing-epochs`` epochs without validation:

- BPR (the reference) and BCE (NBPO's backbone loss), both on the fused row-sparse path;
- NBPO with its defaults (``nbpo``: flip MF of dim 50, ``l2_flip`` 1), on the fused path (the
  default) and with ``fused=False`` (autograd through both MFs and ``torch.optim.SGD`` on sparse
  embedding gradients: the path every optimizer without a row-sparse form takes).

Timing: ``--rounds`` interleaved rounds (every method once per round), so that load from other
processes hits all methods alike; the first epoch of each run is dropped (warm-up) and the
median over the rest is reported with its ratio to BPR's. Two readings per epoch: wall seconds
(the history's ``seconds``) and the process CPU seconds (``time.process_time`` between the ends
of consecutive epochs, read by an evaluator that returns the clock, so nothing else runs in
between). On a shared machine other jobs stretch the wall time of an epoch by whatever share of
the cores they take; they barely change the CPU time the epoch itself spends, so the CPU ratio
is the noise-robust one. The 1-minute load average range is printed.
"""

from __future__ import annotations

import os

# Before torch loads OpenMP: on a shared, oversubscribed CPU, spinning OpenMP workers wait for
# descheduled peers at every op and make torch many times slower; passive waiting avoids that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import itertools
import platform
import statistics
import time
from pathlib import Path

import torch
from pld_epoch import DATASETS, load

from siftrec import Interactions, __version__
from siftrec.data.location import default_data_dir
from siftrec.models import MF

BPR = "BPR"
#: label -> extra MF parameters (besides the shared defaults)
METHODS = {
    BPR: {"objective": "bpr"},
    "BCE": {"objective": "bce"},
    "NBPO": {"objective": "nbpo"},
    "NBPO fused=False": {"objective": "nbpo", "fused": False},
}
#: The evaluator's key: the process clock, returned as a "metric" at the end of every epoch.
CLOCK = "process_seconds"


def epoch_seconds(
    train: Interactions, params: dict[str, object], args: argparse.Namespace
) -> list[tuple[float, float]]:
    """(wall, CPU) seconds of each epoch after the first of one ``--timing-epochs`` fit."""
    model = MF(
        epochs=args.timing_epochs,
        n_negatives=args.negatives,
        metric=CLOCK,
        restore_best=False,
        device="cpu",
        **params,
    )
    model.fit(train, evaluator=lambda _: {CLOCK: time.process_time()})
    clocks = [record[CLOCK] for record in model.history_]
    cpu = [end - start for start, end in itertools.pairwise(clocks)]
    return [(record["seconds"], c) for record, c in zip(model.history_[1:], cpu, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(str(default_data_dir())))
    parser.add_argument("--dataset", default="ml-1m-diffrec", choices=DATASETS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--timing-epochs", type=int, default=4, help="epochs per timing run")
    parser.add_argument("--negatives", type=int, default=1, help="negatives per positive")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    args = parser.parse_args()
    if args.rounds < 1 or args.timing_epochs < 2:
        parser.error("need --rounds >= 1 and --timing-epochs >= 2 (the first epoch is dropped)")
    torch.set_num_threads(args.threads)
    train = load(args.data, args.dataset)
    print(
        f"NBPO epoch cost vs BPR — siftrec {__version__}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"torch {torch.__version__}, {args.threads} threads\n"
        f"{args.dataset}: {len(train):,} training interactions, {train.n_users:,} users × "
        f"{train.n_items:,} items; MF defaults, {args.negatives} negative(s) per positive"
    )
    methods = {label: METHODS[label] for label in METHODS if label in {BPR, *args.methods}}
    seconds: dict[str, list[tuple[float, float]]] = {label: [] for label in methods}
    loads = []
    for _ in range(args.rounds):
        for label, params in methods.items():
            loads.append(os.getloadavg()[0])
            seconds[label] += epoch_seconds(train, params, args)
    loads.append(os.getloadavg()[0])
    print(
        f"\n{args.rounds} interleaved rounds × {args.timing_epochs} epochs (first epoch of each "
        f"run dropped); 1-min load average {min(loads):.1f}-{max(loads):.1f}\n"
    )
    base_wall = statistics.median(wall for wall, _ in seconds[BPR])
    base_cpu = statistics.median(cpu for _, cpu in seconds[BPR])
    print("| method | wall s/epoch (median) | min-max | × BPR | CPU s/epoch (median) | × BPR |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, pairs in seconds.items():
        walls = [wall for wall, _ in pairs]
        wall, cpu = statistics.median(walls), statistics.median(c for _, c in pairs)
        print(
            f"| {label} | {wall:.3f} | {min(walls):.3f}-{max(walls):.3f} | {wall / base_wall:.2f} "
            f"| {cpu:.3f} | {cpu / base_cpu:.2f} |"
        )


if __name__ == "__main__":
    main()
