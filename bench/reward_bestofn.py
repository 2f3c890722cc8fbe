"""Reward models from noisy, position-biased clicks and best-of-N selection, on the
semi-synthetic world of ``siftrec.reward.synthetic`` (true engagement known).

Usage: ``python bench/reward_bestofn.py [--seeds 3] [--contexts 3000] [--flip 0.05]``.

Per seed: a world of ``--contexts`` contexts, each with its original and 16 generated
candidates; the first two thirds of the contexts are logged once (4 random candidates in
positions 1–4, examination ``1/k``, false clicks ``--flip``) to train the reward models, the
last third is logged once more for off-policy evaluation and is where selection is judged.
Reward models: pointwise BCE, pairwise Bradley–Terry (BPR), each with and without IPS
weights, and T-CE. Reported on the held-out contexts: pairwise accuracy against true
engagement (within-context pairs of all 17 candidates) and against the clickability the log
reflects; the true engagement of best-of-N (first N generated candidates, fallback to the
original when no pick beats its reward) for N = 1…16 with max and median selection, against
random choice among the N, the original alone and the oracle (best true engagement among the
N and the original); the reward-hacking gap at N = 16: mean group-normalised predicted minus
group-normalised true engagement of the pick; and the IPS / SNIPS estimate of the max policy's
clickability from the held-out log next to its true value.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from siftrec.reward import (
    RewardModel,
    RewardWorld,
    best_of_n,
    group_normalize,
    log_clicks,
    make_world,
    pairwise_accuracy,
    policy_value,
)

MODELS = {
    "bce": {"objective": "bce"},
    "bce+ips": {"objective": "bce", "ips": True},
    "bt": {"objective": "bpr"},
    "bt+ips": {"objective": "bpr", "ips": True},
    "tce": {"objective": "tce"},
}
NS = (1, 2, 4, 8, 16)


def part(world: RewardWorld, rows: np.ndarray) -> RewardWorld:
    return RewardWorld(
        world.contexts[rows], world.candidates[rows], world.engagement[rows], world.clickable[rows]
    )


def run_seed(seed: int, n_contexts: int, flip: float) -> dict:
    world = make_world(n_contexts=n_contexts, seed=seed)
    cut = 2 * n_contexts // 3
    train, test = part(world, np.arange(cut)), part(world, np.arange(cut, n_contexts))
    log = log_clicks(train, flip=flip, seed=seed + 100)
    test_log = log_clicks(test, flip=flip, seed=seed + 200)
    c, m = test.n_contexts, test.n_candidates
    rows = np.arange(c)
    e = test.engagement
    out: dict = {"baselines": {}}
    rng = np.random.default_rng(seed)
    for n in NS:
        pick = rng.integers(1, n + 1, c)
        out["baselines"][n] = {
            "random": e[rows, pick].mean(),
            "oracle": e[:, : n + 1].max(axis=1).mean(),
        }
    out["baselines"]["original"] = e[:, 0].mean()
    for name, params in MODELS.items():
        model = RewardModel(device="cpu", seed=seed, **params).fit(
            train.contexts[log.context],
            train.candidates[log.context, log.candidate],
            log.click,
            log.context,
            log.examination,
        )
        pred = model.score(
            np.repeat(test.contexts, m, axis=0), test.candidates.reshape(c * m, -1)
        ).reshape(c, m)
        result = {
            "acc_engagement": pairwise_accuracy(pred, e),
            "acc_clickable": pairwise_accuracy(pred, test.clickable),
        }
        for selection in ("max", "median"):
            curve = {}
            for n in NS:
                chosen = best_of_n(pred[:, 1 : n + 1], pred[:, 0], selection=selection)
                column = np.where(chosen < 0, 0, chosen + 1)
                curve[n] = (e[rows, column].mean(), (chosen < 0).mean())
            result[selection] = curve
            # reward hacking at N = 16, no fallback: how far the pick's normalised predicted
            # reward exceeds its normalised true engagement
            pick = best_of_n(pred[:, 1:], selection=selection) + 1
            zp, _ = group_normalize(pred[:, 1:])
            zt, _ = group_normalize(e[:, 1:])
            result[f"gap_{selection}"] = (zp[rows, pick - 1] - zt[rows, pick - 1]).mean()
            result[f"true16_{selection}"] = e[rows, pick].mean()
        # off-policy value of the max policy (no fallback, N = 16) from the held-out log
        pick = best_of_n(pred[:, 1:]) + 1
        target = (test_log.candidate == pick[test_log.context]).astype(float)
        reward = test_log.click / test_log.examination
        value = policy_value(target, reward, test_log.logging)
        result["ope"] = (value.ips, value.snips, test.clickable[rows, pick].mean())
        out[name] = result
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--contexts", type=int, default=3000)
    parser.add_argument("--flip", type=float, default=0.05)
    args = parser.parse_args()
    start = time.perf_counter()
    runs = [run_seed(s, args.contexts, args.flip) for s in range(args.seeds)]

    def stat(values: list[float]) -> str:
        return f"{np.mean(values):.3f} ± {np.std(values, ddof=1) if len(values) > 1 else 0:.3f}"

    print(f"seeds {args.seeds}, contexts {args.contexts}, flip {args.flip}")
    print(f"original alone: {stat([r['baselines']['original'] for r in runs])}")
    print("N: " + " | ".join(str(n) for n in NS))
    for key in ("random", "oracle"):
        cells = [stat([r["baselines"][n][key] for r in runs]) for n in NS]
        print(f"{key:18s} " + " | ".join(cells))
    for name in MODELS:
        acc = stat([r[name]["acc_engagement"] for r in runs])
        acc_c = stat([r[name]["acc_clickable"] for r in runs])
        print(f"\n{name}: pairwise accuracy vs engagement {acc}, vs clickability {acc_c}")
        for selection in ("max", "median"):
            cells = [stat([r[name][selection][n][0] for r in runs]) for n in NS]
            fallback = np.mean([r[name][selection][16][1] for r in runs])
            print(f"  {selection:6s} " + " | ".join(cells) + f"  (fallback at 16: {fallback:.0%})")
        print(
            f"  N=16 no fallback: true engagement max {stat([r[name]['true16_max'] for r in runs])}"
            f", median {stat([r[name]['true16_median'] for r in runs])}; hacking gap max "
            f"{stat([r[name]['gap_max'] for r in runs])}, median "
            f"{stat([r[name]['gap_median'] for r in runs])}"
        )
        ips = stat([r[name]["ope"][0] for r in runs])
        snips = stat([r[name]["ope"][1] for r in runs])
        truth = stat([r[name]["ope"][2] for r in runs])
        print(f"  OPE of max (N=16): IPS {ips}, SNIPS {snips}, true clickability {truth}")
    print(f"\n{time.perf_counter() - start:.0f}s, load {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
