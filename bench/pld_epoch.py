"""Epoch cost of the denoisers against plain BPR on the same model: T-CE, R-CE, PLD (its variants).

Usage: ``python bench/pld_epoch.py [--data DIR] [--dataset ml-1m-diffrec] [--rounds 3]
[--model mf|lightgcn|gmf|neumf] [--methods LABEL ...]``.

Data (under ``--data``, default ``$SIFTREC_DATA`` or the user cache, see README "Data"): the
training log of ``ml-1m-diffrec`` noisy (the denoising benchmark's) or ``gowalla-lightgcn``. Every
method trains siftrec's ``MF`` (dim 64, its defaults: fused per-sample SGD, lr 0.05, L2 0.01; or
``--model lightgcn|gmf|neumf``, dim 64, their defaults) with the same batch size and
``--epoch-mode``, for ``--timing-epochs`` epochs without validation (``--methods``: a subset, BPR
always included):

- BPR with the uniform sampler (the reference), and BCE (the loss T-CE and R-CE truncate and
  reweight: their own reference);
- T-CE (``tce(drop_rate=0.2, num_gradual=945)``) and R-CE (``rce(beta=0.2)``), uniform sampler;
- BPR with the PLD sampler (``pool_size=5, temperature=0.1``), ``warmup_epochs=0`` so that every
  timed epoch resamples, once per ``losses`` variant (``"batch"``, ``"epoch"``), and ``"epoch"``
  once more with the model's factor tables hidden, so that its scoring pass goes through the
  generic ``score_fn`` (what a scorer that is no dot product, e.g. NeuMF, gets).

Timing: ``--rounds`` interleaved rounds (every method once per round), so that load from other
processes hits all methods alike; the first epoch of each run is dropped (warm-up) and the
median seconds per epoch over the rest is reported with its ratio to BPR's. The 1-minute load
average range is printed: this machine is shared, and timings move with it. Because the
training steps are the same work for every method, the epoch ratio is noisy on a shared machine;
the methods' extra cost lies in the sampler, so the median sampler seconds per epoch (the
history's ``sample_seconds``) are printed too, with the ratio they imply: ``(BPR epoch + sampler
seconds − BPR's sampler seconds) / BPR epoch``.
"""

from __future__ import annotations

import os

# Before torch loads OpenMP: on a shared, oversubscribed CPU, spinning OpenMP workers wait for
# descheduled peers at every op and make torch many times slower; passive waiting avoids that.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import platform
import statistics
from pathlib import Path

import torch

from siftrec import Interactions
from siftrec.data.location import default_data_dir
from siftrec.data.readers import read_interactions
from siftrec.models import GMF, MF, LightGCN, NeuMF
from siftrec.models.lightgcn import LightGCNScorer
from siftrec.models.mf import MFScorer
from siftrec.models.neumf import NeuMFScorer
from siftrec.models.torch_base import Scorer

DATASETS = ("ml-1m-diffrec", "gowalla-lightgcn")
PLD = "pld(pool_size=5, temperature=0.1, warmup_epochs=0, losses={})"
BPR = "BPR (uniform)"
MODELS = {
    "mf": (MF, MFScorer),
    "lightgcn": (LightGCN, LightGCNScorer),
    "gmf": (GMF, NeuMFScorer),
    "neumf": (NeuMF, NeuMFScorer),
}
#: label -> (objective, sampler, whether the scorer shows its factor tables)
METHODS = {
    BPR: ("bpr", "uniform", True),
    "BCE (uniform)": ("bce", "uniform", True),
    "T-CE": ("tce(drop_rate=0.2, num_gradual=945)", "uniform", True),
    "R-CE": ("rce(beta=0.2)", "uniform", True),
    "PLD losses=batch": ("bpr", PLD.format("batch"), True),
    "PLD losses=epoch": ("bpr", PLD.format("epoch"), True),
    "PLD losses=epoch, score_fn pass": ("bpr", PLD.format("epoch"), False),
}


def load(data: Path, name: str) -> Interactions:
    """The training log the denoising benchmarks train on."""
    if name == "ml-1m-diffrec":
        return read_interactions(data / name / "noisy" / "train_list.npy.gz", format="npy")
    return read_interactions(data / name / "train.txt.gz", format="lightgcn")


def epoch_seconds(
    train: Interactions, objective: str, sampler: str, args: argparse.Namespace
) -> list[tuple[float, float]]:
    """(epoch, sampler) seconds of each epoch after the first of one ``--timing-epochs`` fit."""
    model = MODELS[args.model][0](
        epochs=args.timing_epochs,
        dim=64,
        batch_size=args.batch_size,
        objective=objective,
        sampler=sampler,
        epoch_mode=args.epoch_mode,
        device="cpu",
    )
    model.fit(train)
    return [(record["seconds"], record["sample_seconds"]) for record in model.history_[1:]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path(str(default_data_dir())))
    parser.add_argument("--dataset", default="ml-1m-diffrec", choices=DATASETS)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    parser.add_argument("--timing-epochs", type=int, default=4, help="epochs per timing run")
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--epoch-mode", default="users", choices=("users", "interactions"))
    parser.add_argument("--model", default="mf", choices=list(MODELS))
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    args = parser.parse_args()
    if args.rounds < 1 or args.timing_epochs < 2:
        parser.error("need --rounds >= 1 and --timing-epochs >= 2 (the first epoch is dropped)")
    torch.set_num_threads(args.threads)
    train = load(args.data, args.dataset)
    print(
        f"PLD / T-CE / R-CE epoch cost vs BPR — {platform.processor() or platform.machine()}, "
        f"{os.cpu_count()} CPUs, torch {torch.__version__}, {args.threads} threads\n"
        f"{args.dataset}: {len(train):,} training interactions, {train.n_users:,} users × "
        f"{train.n_items:,} items; {args.model} dim 64, batch {args.batch_size}, "
        f"epoch_mode={args.epoch_mode}"
    )
    methods = {label: METHODS[label] for label in METHODS if label in {BPR, *args.methods}}
    seconds: dict[str, list[tuple[float, float]]] = {label: [] for label in methods}
    loads = []
    for _ in range(args.rounds):
        for label, (objective, sampler, with_factors) in methods.items():
            loads.append(os.getloadavg()[0])
            scorer = MODELS[args.model][1]
            shown = scorer.factors
            if not with_factors:  # the generic pass, as for a scorer that is no dot product
                scorer.factors = Scorer.factors
            seconds[label] += epoch_seconds(train, objective, sampler, args)
            scorer.factors = shown
    print(
        f"\n{args.rounds} interleaved rounds × {args.timing_epochs} epochs (first epoch of each "
        f"run dropped); 1-min load average {min(loads):.1f}-{max(loads):.1f}\n"
    )
    base = statistics.median(epoch for epoch, _ in seconds[BPR])
    base_sampler = statistics.median(sampler for _, sampler in seconds[BPR])
    print("| method | s/epoch (median) | min-max | × BPR | sampler s/epoch | × BPR via sampler |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for label, pairs in seconds.items():
        epochs = [epoch for epoch, _ in pairs]
        sec, sampler = statistics.median(epochs), statistics.median(s for _, s in pairs)
        print(
            f"| {label} | {sec:.3f} | {min(epochs):.3f}-{max(epochs):.3f} | {sec / base:.2f} "
            f"| {sampler:.3f} | {(base + sampler - base_sampler) / base:.2f} |"
        )


if __name__ == "__main__":
    main()
