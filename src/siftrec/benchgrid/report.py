"""Reports of a grid run: ``summary.md`` tables with paired tests, and PNG plots.

Paired test: the two-sided Wilcoxon signed-rank test (``scipy.stats.wilcoxon``) of per-user
metric values, model vs the grid's ``baseline``, users matched by raw id within each seed and
pooled over seeds (one pair per user and seed). All-zero differences give p = 1.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from siftrec.atomic import atomic_path, write_text
from siftrec.errors import SiftrecError


def load_run(run_dir: str | Path) -> tuple[Any, dict[str, Any]]:
    """The results frame and the grid metadata of a run directory."""
    run = Path(run_dir)
    results, meta = run / "results.parquet", run / "grid.json"
    if not results.is_file() or not meta.is_file():
        raise SiftrecError(f"{run} is not a bench run directory (no results.parquet/grid.json)")
    return pl.read_parquet(results), json.loads(meta.read_text())


def write_summary(run_dir: str | Path) -> Path:
    """Write ``summary.md``: per dataset × noise, model × metric mean ± std and paired tests."""
    run = Path(run_dir)
    frame, meta = load_run(run)
    metrics: list[str] = meta["metrics"]
    baseline: str = meta["baseline"]
    lines = [f"# Benchmark: {meta['name']}", ""]
    lines.append(
        f"Mean ± std over seeds (sample std). Best per column in bold. Paired test: two-sided "
        f"Wilcoxon signed-rank over users (pooled over seeds) against the baseline "
        f"`{baseline}`. Peak memory: tracemalloc peak per cell (MiB)."
    )
    ok = frame.filter(frame["status"] == "ok")
    for (dataset, noise), _ in _groups(frame, ["dataset", "noise"]):
        group = ok.filter((ok["dataset"] == dataset) & (ok["noise"] == noise))
        lines += ["", f"## {dataset} — noise: {noise}", ""]
        if group.height == 0:
            lines.append("No successful cells.")
            continue
        lines += _mean_table(group, metrics)
        lines += ["", f"Paired Wilcoxon vs `{baseline}` (mean difference, p-value):", ""]
        lines += _paired_table(run, group, metrics, baseline)
    failed = frame.filter(frame["status"] != "ok")
    if failed.height:
        lines += ["", "## Failed cells", "", "| cell | error |", "| --- | --- |"]
        for cell_id, error in zip(failed["cell_id"], failed["error"], strict=True):
            lines.append(f"| {cell_id} | {_escape(error or '')} |")
    target = run / "summary.md"
    write_text(target, "\n".join(lines) + "\n")
    return target


def write_plots(run_dir: str | Path) -> list[Path]:
    """Per dataset: metrics vs noise ratio (all metrics, and one PNG per metric for docs), and
    the tuning metric vs fit time (PNG, Agg)."""
    # lazy: matplotlib is slow to import and only the plots draw
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = Path(run_dir)
    frame, meta = load_run(run)
    ok = frame.filter(frame["status"] == "ok")
    if ok.height == 0:
        raise SiftrecError(f"{run} has no successful cells to plot")
    metrics: list[str] = meta["metrics"]
    written = []
    for (dataset,), data in _groups(ok, ["dataset"]):
        plots = run / "plots"
        fig = noise_figure(data, metrics, dataset)
        written.append(_save(fig, plots / f"{_safe(dataset)}_noise.png"))
        for metric in metrics:
            fig = noise_figure(data, [metric], dataset)
            written.append(_save(fig, plots / f"{_safe(dataset)}_noise_{_safe(metric)}.png"))
        fig, ax = plt.subplots(figsize=(5, 3.6))
        metric = meta["tune_metric"]
        for (model,), rows in _groups(data, ["model"]):
            ax.scatter(rows["fit_seconds"].to_numpy(), rows[metric].to_numpy(), label=model)
        ax.set_xscale("log")
        ax.set_xlabel("fit seconds (log)")
        ax.set_ylabel(_metric_label(metric))
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.set_title(f"{dataset}: {_metric_label(metric)} vs fit time")
        fig.tight_layout()
        written.append(_save(fig, plots / f"{_safe(dataset)}_fit_time.png"))
        plt.close("all")
    return written


def noise_figure(data: Any, metrics: list[str], dataset: str) -> Any:
    """One panel per metric: one curve per model, mean ± std over seeds vs noise ratio.

    Curves are nudged sideways by a small per-model offset so overlapping error bars stay
    readable; the legend sits right of the panels so it never hides a curve.
    """
    import matplotlib.pyplot as plt  # lazy: slow to import; only the plots draw

    groups = _groups(data, ["model"])
    ratios = np.unique(data["noise_ratio"].to_numpy())
    span = float(ratios.max() - ratios.min()) or 1.0
    offsets = (np.arange(len(groups)) - (len(groups) - 1) / 2) * 0.012 * span
    markers = "osD^vP*Xh<>p"
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.2 * len(metrics) + 1.6, 3.6))
    axes = np.atleast_1d(axes)
    for ax, metric in zip(axes, metrics, strict=True):
        for index, ((model,), rows) in enumerate(groups):
            xs, mean, std = _by(rows, "noise_ratio", metric)
            ax.errorbar(
                xs + offsets[index],
                mean,
                yerr=std,
                marker=markers[index % len(markers)],
                markersize=4,
                capsize=3,
                label=model,
            )
        ax.set_xticks(ratios)
        ax.set_xlabel("injected noise ratio (train only)")
        ax.set_ylabel(f"test {_metric_label(metric)}")
        ax.grid(alpha=0.3)
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center right", fontsize=8, title="method")
    seeds = data["seed"].n_unique()
    fig.suptitle(f"{dataset}: mean ± std over {seeds} seed{'s' * (seeds > 1)}")
    fig.tight_layout(rect=(0, 0, 1 - 1.4 / fig.get_figwidth(), 1))
    return fig


# ---------------------------------------------------------------------- tables
def _mean_table(group: Any, metrics: list[str]) -> list[str]:
    columns = [*metrics, "fit_seconds"]
    models = [m for (m,), _ in _groups(group, ["model"])]
    stats = {
        (model, col): _mean_std(group.filter(group["model"] == model)[col].to_numpy())
        for model in models
        for col in columns
    }
    best = {}
    for col in columns:
        means = [stats[(m, col)][0] for m in models]
        best[col] = min(means) if col == "fit_seconds" else max(means)
    lines = ["| model | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    for model in models:
        cells = []
        for col in columns:
            mean, std = stats[(model, col)]
            digits = 2 if col == "fit_seconds" else 4
            text = f"{mean:.{digits}f} ± {std:.{digits}f}"
            cells.append(f"**{text}**" if mean == best[col] else text)
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def _paired_table(run: Path, group: Any, metrics: list[str], baseline: str) -> list[str]:
    base_rows = group.filter(group["model"] == baseline)
    if base_rows.height == 0:
        return [f"Baseline `{baseline}` has no successful cell here."]
    base_files = dict(zip(base_rows["seed"], base_rows["cell_id"], strict=True))
    lines = ["| model | " + " | ".join(metrics) + " |", "|---" * (len(metrics) + 1) + "|"]
    for (model,), rows in _groups(group, ["model"]):
        if model == baseline:
            continue
        pairs = [
            paired_values(run, cell_id, base_files[seed], metrics)
            for seed, cell_id in zip(rows["seed"], rows["cell_id"], strict=True)
            if seed in base_files
        ]
        cells = []
        for metric in metrics:
            found = [p[metric] for p in pairs if metric in p]
            cells.append(wilcoxon_text(np.concatenate(found) if found else np.zeros(0)))
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def paired_values(
    run: Path, cell_id: str, base_id: str, metrics: list[str]
) -> dict[str, np.ndarray]:
    """Per per-user metric: model − baseline for each user with a value in both files (NaN:
    a user the metric's protocol skips, e.g. MAR all-item metrics without a relevant item)."""
    model = pl.read_parquet(run / "per_user" / f"{cell_id}.parquet")
    base = pl.read_parquet(run / "per_user" / f"{base_id}.parquet")
    joined = model.join(base, on="user", how="inner", suffix="__base")
    diffs = {
        m: (joined[m] - joined[f"{m}__base"]).to_numpy().astype(float)
        for m in metrics
        if m in model.columns
    }
    return {m: d[~np.isnan(d)] for m, d in diffs.items()}


def wilcoxon_text(diffs: np.ndarray) -> str:
    from scipy.stats import wilcoxon  # lazy: scipy.stats takes about a second to import

    if diffs.size == 0:
        return "n/a"
    if not np.any(diffs):
        p = 1.0
    else:
        p = float(wilcoxon(diffs, alternative="two-sided").pvalue)
    shown = "p<1e-300" if p == 0 else f"p={p:.3g}"  # p underflows to 0 for huge effects
    return f"{diffs.mean():+.4f} ({shown})"


# ---------------------------------------------------------------------- helpers
def _groups(frame: Any, keys: list[str]) -> list[tuple[tuple, Any]]:
    """Groups in first-appearance order (the grid order)."""
    return list(frame.group_by(keys, maintain_order=True))


def _mean_std(values: np.ndarray) -> tuple[float, float]:
    values = values[~np.isnan(values.astype(float))]
    if values.size == 0:
        return math.nan, math.nan
    std = float(values.std(ddof=1)) if values.size > 1 else 0.0
    return float(values.mean()), std


def _by(rows: Any, x: str, y: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    xs = np.unique(rows[x].to_numpy())
    stats = [_mean_std(rows.filter(rows[x] == v)[y].to_numpy()) for v in xs]
    return xs, np.array([s[0] for s in stats]), np.array([s[1] for s in stats])


def _metric_label(metric: str) -> str:
    """``recall@20`` → ``Recall@20``, ``ndcg@20`` → ``NDCG@20`` (axis labels)."""
    name, _, k = metric.partition("@")
    pretty = {"ndcg": "NDCG", "mrr": "MRR", "map": "MAP"}.get(name)
    return (pretty or name.replace("_", " ").capitalize()) + (f"@{k}" if k else "")


def _save(fig: Any, target: Path) -> Path:
    with atomic_path(target) as tmp:
        fig.savefig(tmp, format="png", dpi=110)
    return target


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "._-" else "-" for c in name)


def _escape(text: str) -> str:
    return text.replace("|", "\\|")
