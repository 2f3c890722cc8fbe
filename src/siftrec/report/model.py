"""Report sections of a model directory (``siftrec fit``'s model.json and arrays).

With a test file the report evaluates the model (mean ± sd over users, per-user
distributions); with the training log, when it flags injected noise (``is_noise``), it measures
how well the model's training loss finds it (ROC-AUC). Without them, those sections say so.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
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

#: Users whose recommendations the popularity section draws (seeded sample).
POPULARITY_USERS = 1000
#: Length of the recommendation lists the popularity section compares.
POPULARITY_K = 20


def model_sections(
    directory: Path,
    test: Interactions | None = None,
    train: Interactions | None = None,
    metrics: str = "recall@20,ndcg@20",
    seed: int = 0,
) -> tuple[str, list[Section]]:
    """The report title and sections of the model in ``directory``."""
    from siftrec.models import load_model  # lazy: loads torch; run reports do not need it

    meta_path = directory / "model.json"
    if not meta_path.is_file():
        raise SiftrecError(f"{directory} is neither a bench run nor a model directory")
    try:
        meta = json.loads(meta_path.read_text())
    except json.JSONDecodeError as exc:
        raise SiftrecError(f"corrupt {meta_path}: {exc}") from None
    model = load_model(directory)
    result = None
    if test is not None:
        from siftrec.evaluate import evaluate  # lazy: only with a test file

        result = evaluate(model, test, metrics)
    sections = [
        _results(result),
        _training(meta.get("history") or []),
        Section(
            "noise",
            [
                note(
                    "One model at one noise level: run a benchmark grid with several noise "
                    "ratios (siftrec bench) and report its run directory for robustness curves."
                )
            ],
        ),
        _detection(model, train),
        _per_user(result),
        _popularity(model, test, seed),
        Section("config", [json_block({k: v for k, v in meta.items() if k != "history"})]),
    ]
    return f"Model {meta.get('model', '?')} — {directory.name}", sections


def _results(result: Any) -> Section:
    section = Section("results")
    if result is None:
        section.add(note("No test file given (--test): no held-out results."))
        return section
    section.add(
        paragraph(
            f"Full ranking over all items, training items masked; mean ± sd over "
            f"{result.n_users:,} test users ({result.n_skipped_users:,} skipped)."
        )
    )
    rows = []
    for key, mean in result.metrics.items():
        values = result.per_user.get(key)
        sd = float(np.nanstd(values, ddof=1)) if values is not None and values.size > 1 else 0.0
        rows.append([key, f"{mean:.4f} ± {sd:.4f}"])
    section.add(table(["metric", "mean ± sd"], rows))
    return section


def _training(history: list[dict[str, Any]]) -> Section:
    section = Section("training")
    numeric = sorted(
        {
            key
            for row in history
            for key, value in row.items()
            if key != "epoch" and isinstance(value, int | float) and not isinstance(value, bool)
        }
    )
    if not history or not numeric:
        section.add(note("No per-epoch history: this model fits in closed form or one pass."))
        return section
    epochs = [row.get("epoch", i + 1) for i, row in enumerate(history)]
    losses = [k for k in numeric if "loss" in k]
    others = [k for k in numeric if k not in losses and "seconds" not in k]
    panels = [group for group in (losses, others) if group]
    fig, _ = new_figure(5.0 * len(panels), 3.4)
    fig.clf()
    for index, keys in enumerate(panels, start=1):
        ax = fig.add_subplot(1, len(panels), index)
        for key in keys:
            ys = [row.get(key) for row in history]
            xs = [x for x, y in zip(epochs, ys, strict=True) if isinstance(y, int | float)]
            label = key if key in losses else f"validation {key}"
            ax.plot(xs, [y for y in ys if isinstance(y, int | float)], marker="o", label=label)
        ax.set_xlabel("epoch")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    curves = ", ".join([*losses, *(f"validation {k}" for k in others)])
    section.add(paragraph(f"{len(history)} epochs recorded in model.json: {curves}."))
    section.add(figure(fig, "training history"))
    return section


def _detection(model: Any, train: Interactions | None) -> Section:
    section = Section("detection")
    if train is None or not train.has_column("is_noise"):
        section.add(
            note(
                "No training log with an is_noise column given (--train): detection quality "
                "cannot be measured."
            )
        )
        return section
    from siftrec.denoise import noise_scores  # lazy: only with a flagged log
    from siftrec.evaluate.detection import roc_auc

    is_noise = np.asarray(train.column("is_noise"), dtype=bool)
    scores = noise_scores(model, train, "loss")
    auc = roc_auc(scores, is_noise)
    section.add(
        table(
            ["score", "ROC-AUC", "noisy share"],
            [["training loss", f"{auc:.4f}", f"{is_noise.mean():.1%}"]],
        )
    )
    fig, ax = new_figure()
    bins = np.histogram_bin_edges(scores, bins=40)
    ax.hist(scores[~is_noise], bins=bins, alpha=0.6, density=True, label="clean")
    ax.hist(scores[is_noise], bins=bins, alpha=0.6, density=True, label="injected noise")
    ax.set_xlabel("noise score (training loss)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    section.add(figure(fig, "noise score distributions"))
    return section


def _per_user(result: Any) -> Section:
    section = Section("per-user")
    if result is None or not result.per_user:
        section.add(note("No test file given (--test): no per-user values."))
        return section
    keys = list(result.per_user)
    fig, _ = new_figure(4.0 * len(keys), 3.2)
    fig.clf()
    for index, key in enumerate(keys, start=1):
        ax = fig.add_subplot(1, len(keys), index)
        values = np.asarray(result.per_user[key], dtype=float)
        ax.hist(values[np.isfinite(values)], bins=20)
        ax.set_title(key)
        ax.set_xlabel("per-user value")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    section.add(figure(fig, "per-user metric distributions"))
    return section


def _popularity(model: Any, test: Interactions | None, seed: int) -> Section:
    section = Section("popularity")
    seen = model.seen_.tocsr()
    counts = np.bincount(seen.indices, minlength=model.n_items).astype(float)
    rng = np.random.default_rng(seed)
    users = np.flatnonzero(np.diff(seen.indptr) > 0)
    if users.size > POPULARITY_USERS:
        users = np.sort(rng.choice(users, POPULARITY_USERS, replace=False))
    if users.size == 0:
        section.add(note("The model has no training users."))
        return section
    items, _ = model.recommend(users, k=POPULARITY_K)
    recommended = items[items >= 0]
    if test is not None:
        held, _ = test.remap(model.user_map_, model.item_map_)
        clicked, source = held.items, "held-out clicks (test file)"
    else:
        clicked, source = seen.indices, "training clicks"
    # popularity percentile of an item: share of items with fewer training clicks
    ranks = np.argsort(np.argsort(counts, kind="stable"), kind="stable") / max(len(counts) - 1, 1)
    top = counts >= np.quantile(counts, 0.9)
    rows = []
    for label, ids in ((f"top-{POPULARITY_K} recommendations", recommended), (source, clicked)):
        rows.append(
            [
                label,
                f"{counts[ids].mean():.1f}" if ids.size else "n/a",
                f"{top[ids].mean():.1%}" if ids.size else "n/a",
                f"{np.unique(ids).size / model.n_items:.1%}",
            ]
        )
    section.add(
        paragraph(
            f"Recommendations for {users.size:,} training users (seeded sample) against the "
            f"{source}; popularity = training clicks per item."
        )
    )
    section.add(
        table(["items", "mean popularity", "in the top 10% popular", "catalogue covered"], rows)
    )
    fig, ax = new_figure()
    bins = np.linspace(0, 1, 21)
    ax.hist(ranks[recommended], bins=bins, alpha=0.6, density=True, label="recommended")
    ax.hist(ranks[clicked], bins=bins, alpha=0.6, density=True, label="clicked")
    ax.set_xlabel("item popularity percentile (0 = least clicked)")
    ax.set_ylabel("density")
    ax.legend(fontsize=8)
    fig.tight_layout()
    section.add(heading("Popularity percentile of recommended vs clicked items"))
    section.add(figure(fig, "popularity of recommended vs clicked items"))
    return section
