"""``siftrec demo``: the point of siftrec in one table, on the built-in semi-synthetic data.

The generator injects noisy clicks (clickbait, bursts, misclicks) into a log whose true
preferences are known. Every model trains on the noisy clicks; accuracy is measured on the clean
held-out clicks only, and each model's noise score is checked against the injected-noise flags.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import typer

from siftrec.cli.common import handle_errors, stderr, stdout


@dataclass(frozen=True)
class DemoEntry:
    """One row of the demo: a model (or a denoising method on MF) and its noise score."""

    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    noise_score: str = "loss"


#: Short training budgets that suit the default data and keep the demo well under two minutes.
_MF = {"epochs": 15, "dim": 32}
DEMO_ENTRIES: tuple[DemoEntry, ...] = (
    DemoEntry("popularity", "popularity"),
    DemoEntry("itemknn", "itemknn", {"k": 100}),
    DemoEntry("ease", "ease", {"l2": 100.0}),
    DemoEntry(
        "ials", "ials", {"factors": 32, "iterations": 10, "alpha": 10.0, "regularization": 1.0}
    ),
    DemoEntry("MF + BCE", "mf", {**_MF, "objective": "bce"}),
    DemoEntry("MF + BPR", "mf", {**_MF, "objective": "bpr"}),
    DemoEntry("MF + T-CE", "mf", {**_MF, "objective": "tce(num_gradual=1000)"}),
    DemoEntry("MF + R-CE", "mf", {**_MF, "objective": "rce"}),
    DemoEntry(
        "MF + NBPO", "mf", {**_MF, "objective": "nbpo", "n_negatives": 4, "lr": 0.02}, "nbpo"
    ),
    DemoEntry("MF + PLD", "mf", {**_MF, "objective": "bpr", "sampler": "pld"}, "percentile"),
)


@handle_errors
def demo_command(
    n_users: Annotated[int, typer.Option(help="Synthetic users.")] = 1000,
    n_items: Annotated[int, typer.Option(help="Synthetic items.")] = 800,
    noise_ratio: Annotated[float, typer.Option(help="Share of injected noisy clicks.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed for data, split and models.")] = 0,
    metrics: Annotated[str, typer.Option(help="Metrics to report.")] = "recall@20,ndcg@20",
) -> None:
    """Train classic models and denoising methods on noisy semi-synthetic clicks; report accuracy
    on the clean test clicks and how well each model's noise score finds the injected noise."""
    from rich.progress import Progress
    from rich.table import Table

    from siftrec.data.splits import split_interactions
    from siftrec.data.synthetic import SyntheticConfig, generate
    from siftrec.denoise.scores import available_noise_scores, noise_scores
    from siftrec.evaluate import evaluate, metric_names
    from siftrec.evaluate.detection import roc_auc
    from siftrec.models import available_models, get_model_class

    data = generate(
        SyntheticConfig(n_users=n_users, n_items=n_items, noise_ratio=noise_ratio, seed=seed)
    ).interactions
    noise = data.column("is_noise").astype(bool)
    stderr.print(
        f"semi-synthetic log: {len(data):,} clicks, {data.n_users:,} users, {data.n_items:,} items,"
        f" {noise.mean():.1%} injected noise",
        highlight=False,
    )
    split = split_interactions(data, "random", test_ratio=0.2, validation_ratio=0.1, seed=seed)
    clean_test = split.test.subset(~split.test.column("is_noise").astype(bool))
    train_noise = split.train.column("is_noise").astype(bool)
    registered, scores_known = set(available_models()), set(available_noise_scores())
    entries = [e for e in DEMO_ENTRIES if e.model in registered]

    table = Table(title="siftrec demo: trained on noisy clicks, evaluated on clean test clicks")
    table.add_column("model")
    for name in metric_names(metrics):  # the result keys, in order
        table.add_column(name, justify="right")
    table.add_column("noise ROC-AUC", justify="right")
    table.add_column("fit s", justify="right")
    with Progress(console=stderr, transient=True) as progress:
        task = progress.add_task("Training", total=len(entries))
        for entry in entries:
            progress.update(task, description=f"Training {entry.label}")
            model_cls = get_model_class(entry.model)
            params = dict(entry.params)
            if "seed" in model_cls.Config.__dataclass_fields__:
                params["seed"] = seed
            model = model_cls(**params)
            start = time.perf_counter()
            model.fit(split.train)
            fit_seconds = time.perf_counter() - start
            result = evaluate(model, clean_test, metrics, exclude=split.validation)
            auc = "-"
            if entry.noise_score in scores_known:
                scores = noise_scores(model, split.train, entry.noise_score)
                auc = f"{roc_auc(scores, train_noise):.3f}"
            table.add_row(
                entry.label,
                *(f"{v:.4f}" for v in result.metrics.values()),
                auc,
                f"{fit_seconds:.2f}",
            )
            progress.advance(task)
    stdout.print(table)
    stdout.print(
        f"clean test: {len(clean_test):,} held-out clicks of {clean_test.n_users:,} users "
        f"({int(np.sum(~noise)):,} clean clicks overall). Noise ROC-AUC: how well the model's "
        "per-interaction noise score ranks the injected noisy training clicks above the real ones "
        "(0.5 = chance).",
        highlight=False,
    )
