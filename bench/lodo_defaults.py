"""Leave-one-dataset-out (LODO) choice of each denoiser's default configuration.

Usage: ``python bench/lodo_defaults.py RUN_DIR [RUN_DIR ...] [--metric ndcg@20]``, on the
finished run directories of the ``bench/grids/lodo_*.toml`` grids (``siftrec bench``).

A data set is a (dataset, noise) pair of the runs. Candidates are grouped by their label's
family prefix (``tce-…``, ``rce-…``, ``nbpo-…``, ``pld-…``); ``bpr`` and ``bce`` are the plain
objectives, and on each data set the *better plain objective* is the one with the higher mean
``--metric`` over seeds. A candidate's gain on a data set is its mean ``--metric`` relative to
the better plain objective's (``mean / plain − 1``).

For each held-out data set D and family, the configuration with the best mean gain over the
*other* data sets is chosen, and only its result on D is reported against the better plain
objective on D: mean ± sample sd over seeds of Recall@20 and NDCG@20 (the grids' metrics), the
gain, and a paired test — the two-sided Wilcoxon signed-rank test of per-user ``--metric``
values (``per_user/<cell_id>.parquet``), users matched by raw id within each seed and pooled
over seeds, as ``siftrec bench``'s summary does. The final default of a family is the
configuration chosen in most folds (ties: the best mean gain over all data sets).
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
from scipy.stats import wilcoxon

from siftrec import SiftrecError
from siftrec.benchgrid.report import load_run

PLAIN = ("bpr", "bce")
FAMILIES = {"tce": "T-CE", "rce": "R-CE", "nbpo": "NBPO", "pld": "PLD"}
SHOWN = ("recall@20", "ndcg@20")
ALPHA = 0.05


@dataclass(frozen=True)
class Result:
    """One candidate on one data set: seeds, per-metric mean and sd, where its cells are."""

    label: str
    mean: dict[str, float]
    sd: dict[str, float]
    cells: dict[int, tuple[Path, str]]  # seed → (run dir, cell id)

    def text(self, metric: str) -> str:
        return f"{self.mean[metric]:.4f} ± {self.sd[metric]:.4f}"


def load_results(
    run_dirs: list[Path], metric: str, min_sets: int = 3
) -> dict[str, dict[str, Result]]:
    """``{data set: {label: Result}}`` of every successful cell of the runs."""
    frames = []
    for run in run_dirs:
        frame, meta = load_run(run)
        for wanted in {metric, *SHOWN}:
            if wanted not in meta["metrics"]:
                raise SiftrecError(f"{run} has no {wanted} column (metrics: {meta['metrics']})")
        keep = ["dataset", "noise", "model", "seed", "cell_id", *sorted({metric, *SHOWN})]
        frames.append(
            frame.filter(pl.col("status") == "ok").select(keep).with_columns(run=pl.lit(str(run)))
        )
    rows = pl.concat(frames)
    data: dict[str, dict[str, Result]] = {}
    for (dataset, noise, label), group in rows.group_by(
        ["dataset", "noise", "model"], maintain_order=True
    ):
        name = dataset if noise == "none" else f"{dataset} ({noise})"
        columns = sorted({metric, *SHOWN})
        mean = {m: float(group[m].mean()) for m in columns}
        sd = {m: float(group[m].std()) if group.height > 1 else 0.0 for m in columns}
        cells = {
            int(seed): (Path(run), cell_id)
            for seed, run, cell_id in group.select("seed", "run", "cell_id").iter_rows()
        }
        data.setdefault(name, {})[label] = Result(label, mean, sd, cells)
    for name, results in data.items():
        missing = [p for p in PLAIN if p not in results]
        if missing:
            raise SiftrecError(f"data set {name} has no successful {missing[0]} cells")
        seeds = max(len(r.cells) for r in results.values())
        short = [f"{lab} ({len(r.cells)})" for lab, r in results.items() if len(r.cells) < seeds]
        if short:
            print(f"warning: {name}: fewer than {seeds} seeds: {', '.join(short)}", file=sys.stderr)
    if len(data) < min_sets:
        raise SiftrecError(f"leave-one-out needs at least 3 data sets, the runs hold {len(data)}")
    return data


def family(label: str) -> str | None:
    """The denoiser family of a candidate label (``tce-0.1-r10`` → ``tce``), None if plain."""
    prefix = label.split("-", 1)[0]
    return prefix if prefix in FAMILIES else None


def plain(results: dict[str, Result], metric: str) -> Result:
    """The better plain objective of a data set (higher mean ``metric``)."""
    return max((results[p] for p in PLAIN), key=lambda r: r.mean[metric])


def gain(result: Result, base: Result, metric: str) -> float:
    return result.mean[metric] / base.mean[metric] - 1.0


def paired_p(result: Result, base: Result, metric: str) -> tuple[float, int]:
    """Two-sided Wilcoxon p of per-user ``metric`` differences (seeds pooled) and the pairs."""
    diffs = []
    for seed, (run, cell_id) in result.cells.items():
        if seed not in base.cells:
            continue
        base_run, base_id = base.cells[seed]
        mine = pl.read_parquet(run / "per_user" / f"{cell_id}.parquet").select("user", metric)
        other = pl.read_parquet(base_run / "per_user" / f"{base_id}.parquet").select(
            "user", pl.col(metric).alias("base")
        )
        joined = mine.join(other, on="user", how="inner")
        diffs.append((joined[metric] - joined["base"]).to_numpy().astype(float))
    values = np.concatenate(diffs) if diffs else np.zeros(0)
    values = values[~np.isnan(values)]
    if values.size == 0 or not np.any(values):
        return 1.0, int(values.size)
    return float(wilcoxon(values, alternative="two-sided").pvalue), int(values.size)


def candidates(data: dict[str, dict[str, Result]], fam: str) -> list[str]:
    """Labels of a family present on every data set (a candidate missing anywhere is left out)."""
    labels = [label for label in next(iter(data.values())) if family(label) == fam]
    return [label for label in labels if all(label in results for results in data.values())]


def lodo(data: dict[str, dict[str, Result]], fam: str, metric: str) -> list[dict]:
    """One row per held-out data set: the choice on the others and its result there."""
    labels = candidates(data, fam)
    rows = []
    for held in data:
        others = [name for name in data if name != held]
        scores = {
            label: float(
                np.mean([gain(data[n][label], plain(data[n], metric), metric) for n in others])
            )
            for label in labels
        }
        choice = max(labels, key=lambda label: scores[label])
        mine, base = data[held][choice], plain(data[held], metric)
        p, pairs = paired_p(mine, base, metric)
        g = gain(mine, base, metric)
        outcome = ("win" if g > 0 else "lose") + ("" if p < ALPHA else " (n.s.)")
        rows.append(
            dict(
                held=held,
                choice=choice,
                mine=mine,
                base=base,
                gain=g,
                p=p,
                pairs=pairs,
                outcome=outcome,
                train_gain=scores[choice],
            )
        )
    return rows


def final_default(data: dict[str, dict[str, Result]], fam: str, rows: list[dict], metric: str):
    """Chosen in most folds; ties broken by the mean gain over all data sets."""
    counts = Counter(row["choice"] for row in rows)
    overall = {
        label: float(np.mean([gain(r[label], plain(r, metric), metric) for r in data.values()]))
        for label in candidates(data, fam)
    }
    best = max(counts, key=lambda label: (counts[label], overall[label]))
    return best, counts, overall


def report(data: dict[str, dict[str, Result]], metric: str) -> str:
    """The markdown report: per family the LODO table, the summary line and the candidates."""
    name_m = metric.replace("ndcg", "NDCG").replace("recall", "Recall")
    out = ["## Better plain objective per data set", ""]
    out.append("| data set | BPR R@20 / N@20 | BCE R@20 / N@20 | better |")
    out.append("| --- | --- | --- | --- |")
    for name, results in data.items():
        b, c = results["bpr"], results["bce"]
        out.append(
            f"| {name} | {b.text('recall@20')} / {b.text('ndcg@20')} | "
            f"{c.text('recall@20')} / {c.text('ndcg@20')} | {plain(results, metric).label} |"
        )
    for fam, title in FAMILIES.items():
        labels = candidates(data, fam)
        if not labels:
            continue
        rows = lodo(data, fam, metric)
        wins = sum(row["gain"] > 0 for row in rows)
        significant = sum(row["gain"] > 0 and row["p"] < ALPHA for row in rows)
        losses = sum(row["gain"] < 0 and row["p"] < ALPHA for row in rows)
        out += ["", f"## {title}", ""]
        out.append(
            f"| held-out data set | choice (on the others) | its R@20 / N@20 | better plain "
            f"R@20 / N@20 | {name_m} gain | p (users) | win/lose |"
        )
        out.append("| --- | --- | --- | --- | --- | --- | --- |")
        for row in rows:
            mine, base = row["mine"], row["base"]
            out.append(
                f"| {row['held']} | {row['choice']} | {mine.text('recall@20')} / "
                f"{mine.text('ndcg@20')} | {base.label}: {base.text('recall@20')} / "
                f"{base.text('ndcg@20')} | {row['gain']:+.1%} | {_p(row['p'])} | "
                f"{row['outcome']} |"
            )
        best, counts, overall = final_default(data, fam, rows, metric)
        out += [
            "",
            f"Held-out {title} choice beats the better plain objective on {wins} of {len(rows)} "
            f"held-out data sets ({significant} significantly at p < {ALPHA}; "
            f"{losses} significant losses). Final default: `{best}` (chosen in "
            f"{counts[best]} of {len(rows)} folds).",
            "",
            "| candidate | folds chosen | mean " + name_m + " gain (all sets) | sets above plain |",
            "| --- | --- | --- | --- |",
        ]
        for label in labels:
            above = sum(gain(r[label], plain(r, metric), metric) > 0 for r in data.values())
            out.append(
                f"| {label} | {counts.get(label, 0)} | {overall[label]:+.1%} | "
                f"{above} of {len(data)} |"
            )
    return "\n".join(out) + "\n"


def matrix(data: dict[str, dict[str, Result]], metric: str) -> str:
    """Every label's mean ``metric`` gain over the better plain objective, per data set."""
    names = list(data)
    labels = list(dict.fromkeys(label for results in data.values() for label in results))
    out = ["| candidate | " + " | ".join(names) + " |", "|---" * (len(names) + 1) + "|"]
    for label in labels:
        cells = [
            f"{gain(data[n][label], plain(data[n], metric), metric):+.1%}"
            if label in data[n]
            else "—"
            for n in names
        ]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join(out) + "\n"


def _p(p: float) -> str:
    return "<1e-300" if p == 0 else f"{p:.2g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, nargs="+", help="finished lodo_* run directories")
    parser.add_argument("--metric", default="ndcg@20", help="selection metric (default ndcg@20)")
    parser.add_argument(
        "--matrix",
        action="store_true",
        help="print every candidate's gain on every data set instead (no leave-one-out)",
    )
    args = parser.parse_args()
    try:
        data = load_results(args.runs, args.metric, min_sets=1 if args.matrix else 3)
        text = matrix(data, args.metric) if args.matrix else report(data, args.metric)
    except SiftrecError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
    print(text, end="")


if __name__ == "__main__":
    main()
