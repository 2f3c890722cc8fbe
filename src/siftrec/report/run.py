"""Report sections of a benchmark run directory (``siftrec bench``'s results.parquet).

The numbers are those of ``summary.md`` (:mod:`siftrec.benchgrid.report`): mean ± sample sd over
seeds, and the paired Wilcoxon test of per-user values against the grid's baseline.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from siftrec.benchgrid.report import (
    _groups,
    _mean_std,
    load_run,
    noise_figure,
    paired_values,
    wilcoxon_text,
)
from siftrec.report.page import (
    Section,
    figure,
    heading,
    json_block,
    new_figure,
    note,
    paragraph,
    table,
)

#: Result columns holding noise-detection quality, when a run records it.
DETECTION_SUFFIX = "roc_auc"


def run_sections(run: Path) -> tuple[str, list[Section]]:
    """The report title and sections of the run directory ``run``."""
    frame, meta = load_run(run)
    metrics: list[str] = meta["metrics"]
    ok = frame.filter(frame["status"] == "ok")
    sections = [
        _results(run, frame, ok, metrics, meta["baseline"]),
        _training(ok, meta.get("tune_metric") or metrics[0]),
        _noise(ok, metrics),
        _detection(ok),
        _per_user(run, ok, metrics),
        Section(
            "popularity",
            [
                note(
                    "A bench run keeps no fitted models: report a model directory "
                    "(siftrec report MODEL_DIR) to compare what it recommends with what is "
                    "clicked."
                )
            ],
        ),
        Section("config", [json_block(meta)]),
    ]
    return f"Benchmark {meta['name']}", sections


def _results(run: Path, frame: Any, ok: Any, metrics: list[str], baseline: str) -> Section:
    section = Section("results")
    section.add(
        paragraph(
            f"Mean ± sd over seeds (sample sd); best per column in bold. Paired test: two-sided "
            f"Wilcoxon signed-rank over users, pooled over seeds, against the baseline "
            f"{baseline} (mean difference, p-value)."
        )
    )
    if ok.height == 0:
        section.add(note("No successful cells."))
    for (dataset, noise), _ in _groups(frame, ["dataset", "noise"]):
        group = ok.filter((ok["dataset"] == dataset) & (ok["noise"] == noise))
        if group.height == 0:
            continue
        section.add(heading(f"{dataset} — noise: {noise}"))
        section.add(_mean_table(group, [*metrics, "fit_seconds"]))
        section.add(_paired_table(run, group, metrics, baseline))
    failed = frame.filter(frame["status"] != "ok")
    if failed.height:
        section.add(heading("Failed cells"))
        rows = list(zip(failed["cell_id"], failed["error"].fill_null(""), strict=True))
        section.add(table(["cell", "error"], rows))
    return section


def _mean_table(group: Any, columns: list[str]) -> str:
    models = [m for (m,), _ in _groups(group, ["model"])]
    stats = {
        (m, c): _mean_std(group.filter(group["model"] == m)[c].to_numpy().astype(float))
        for m in models
        for c in columns
    }
    bold = set()
    for c, col in enumerate(columns, start=1):
        means = np.array([stats[(m, col)][0] for m in models])
        if np.all(np.isnan(means)):
            continue
        best = np.nanmin(means) if col == "fit_seconds" else np.nanmax(means)
        bold |= {(r, c) for r, mean in enumerate(means) if mean == best}
    rows = []
    for m in models:
        cells = [m]
        for col in columns:
            mean, sd = stats[(m, col)]
            digits = 2 if col == "fit_seconds" else 4
            cells.append(f"{mean:.{digits}f} ± {sd:.{digits}f}")
        rows.append(cells)
    return table(["model", *columns], rows, bold)


def _paired_table(run: Path, group: Any, metrics: list[str], baseline: str) -> str:
    base_rows = group.filter(group["model"] == baseline)
    if base_rows.height == 0:
        return note(f"The baseline {baseline} has no successful cell here.")
    base_files = dict(zip(base_rows["seed"], base_rows["cell_id"], strict=True))
    rows = []
    for (model,), cells in _groups(group, ["model"]):
        if model == baseline:
            continue
        pairs = [
            paired_values(run, cell_id, base_files[seed], metrics)
            for seed, cell_id in zip(cells["seed"], cells["cell_id"], strict=True)
            if seed in base_files and (run / "per_user" / f"{cell_id}.parquet").is_file()
        ]
        row = [f"{model} vs {baseline}"]
        for metric in metrics:
            found = [p[metric] for p in pairs if metric in p]
            row.append(wilcoxon_text(np.concatenate(found) if found else np.zeros(0)))
        rows.append(row)
    if not rows:
        return note("Only the baseline ran here: nothing to compare.")
    return table(["paired test", *metrics], rows)


def _training(ok: Any, metric: str) -> Section:
    section = Section("training")
    section.add(
        note(
            "Bench cells keep no fitted model, so no per-epoch history; report a model "
            "directory for its loss and validation curves. Below: test quality against fit "
            "time per cell."
        )
    )
    if ok.height == 0 or metric not in ok.columns:
        return section
    fig, ax = new_figure()
    for (model,), rows in _groups(ok, ["model"]):
        ax.scatter(rows["fit_seconds"].to_numpy(), rows[metric].to_numpy(), label=model)
    ax.set_xscale("log")
    ax.set_xlabel("fit seconds (log)")
    ax.set_ylabel(metric)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    section.add(figure(fig, f"{metric} vs fit time"))
    return section


def _noise(ok: Any, metrics: list[str]) -> Section:
    section = Section("noise")
    drawn = False
    for (dataset,), data in _groups(ok, ["dataset"]):
        if data["noise_ratio"].n_unique() < 2:
            continue
        section.add(heading(dataset))
        section.add(figure(noise_figure(data, metrics, dataset), f"{dataset}: metric vs noise"))
        drawn = True
    if not drawn:
        section.add(note("The grid has one noise level per data set: no robustness curve."))
    return section


def _detection(ok: Any) -> Section:
    section = Section("detection")
    columns = [c for c in ok.columns if c.endswith(DETECTION_SUFFIX)]
    if not columns:
        section.add(
            note(
                "This run records no noise-detection results (no *roc_auc column); siftrec "
                "clean and a model report with --train on a log with is_noise measure it."
            )
        )
        return section
    rows = []
    for (model, noise), group in _groups(ok, ["model", "noise"]):
        cells = [f"{model} ({noise})"]
        for column in columns:
            mean, sd = _mean_std(group[column].to_numpy().astype(float))
            cells.append(f"{mean:.4f} ± {sd:.4f}")
        rows.append(cells)
    section.add(table(["model (noise)", *columns], rows))
    return section


def _per_user(run: Path, ok: Any, metrics: list[str]) -> Section:
    section = Section("per-user")
    if ok.height == 0:
        section.add(note("No successful cells."))
        return section
    section.add(
        paragraph(
            "Distribution of per-user values, pooled over seeds, for each data set at its "
            "first noise level."
        )
    )
    for (dataset,), data in _groups(ok, ["dataset"]):
        first_noise = data["noise"][0]
        cells = data.filter(data["noise"] == first_noise)
        values: dict[str, dict[str, np.ndarray]] = {}
        for (model,), rows in _groups(cells, ["model"]):
            frames = [
                pl.read_parquet(path)
                for cell_id in rows["cell_id"]
                if (path := run / "per_user" / f"{cell_id}.parquet").is_file()
            ]
            if frames:
                joined = pl.concat(frames, how="diagonal")
                values[model] = {
                    m: _finite(joined[m].to_numpy()) for m in metrics if m in joined.columns
                }
        shown = [m for m in metrics if any(m in v for v in values.values())]
        if not shown:
            section.add(note(f"{dataset}: no per-user files."))
            continue
        section.add(heading(f"{dataset} — noise: {first_noise}"))
        fig, _ = new_figure(4.0 * len(shown), 3.4)
        fig.clf()
        for index, metric in enumerate(shown, start=1):
            ax = fig.add_subplot(1, len(shown), index)
            models = [m for m in values if metric in values[m]]
            ax.boxplot([values[m][metric] for m in models], showmeans=True)
            ax.set_xticks(range(1, len(models) + 1), models, rotation=20, fontsize=8)
            ax.set_title(metric)
            ax.grid(alpha=0.3, axis="y")
        fig.tight_layout()
        section.add(figure(fig, f"{dataset}: per-user distributions"))
    return section


def _finite(values: np.ndarray) -> np.ndarray:
    values = values.astype(float)
    return values[np.isfinite(values)]
