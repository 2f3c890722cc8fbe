"""``siftrec demo``: the point of siftrec in two tables, on the built-in semi-synthetic data.

**Noise.** The generator injects noisy clicks (clickbait, bursts, misclicks) into a log whose true
preferences are known. Every model trains on the noisy clicks; accuracy is measured on the clean
held-out clicks only, and each model's noise score is checked against the injected-noise flags.
Two rows frame the methods: MF with ``objective=auto`` (siftrec's choice among the plain objective
and the denoisers on the validation clicks, within a stated epoch budget) and the upper bound,
the plain backbone (MF + BPR) trained on the clean training clicks alone.

**Exposure bias.** The same generator without injected noise: a click is exposure × relevance,
with the exposure ``θ`` of every pair known. Plain MF (BCE, BPR) and the debiasing objectives
(Rel-MF, UBPR; those registered) train on the clicks, estimating propensities from item
popularity as they must on a real log. Each is scored on held-out clicks (plain, and IPS / SNIPS
with the true ``θ``) and on the true relevance (every relevant pair outside train and
validation), so the table shows where evaluating on biased clicks and the truth disagree.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Annotated, Any

import numpy as np
import typer

from siftrec.cli.common import handle_errors, stderr, stdout
from siftrec.errors import SiftrecError


@dataclass(frozen=True)
class DemoEntry:
    """One row of the demo: a model (or a denoising method on MF) and its noise score.

    ``validation``: fit with the validation clicks (``objective=auto`` selects on them);
    ``clean``: train on the clean training clicks only (the generator knows the injected ones).
    """

    label: str
    model: str
    params: dict[str, Any] = field(default_factory=dict)
    noise_score: str = "loss"
    validation: bool = False
    clean: bool = False


#: Short training budgets that suit the default data and keep the demo to about a minute.
_MF = {"epochs": 15, "dim": 32}
#: The methods trained on the noisy clicks.
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
#: ``objective=auto`` with the MF rows' epochs for each of its six default candidates.
AUTO_ENTRY = DemoEntry(
    "MF + auto", "mf", {**_MF, "objective": "auto", "auto_budget": 90}, "loss", validation=True
)
#: The backbone without the noise: what a perfect denoiser could reach.
CLEAN_ENTRY = DemoEntry(
    "MF + BPR, clean (upper bound)", "mf", {**_MF, "objective": "bpr"}, "", clean=True
)
#: Plain MF and the debiasing objectives trained on exposure-biased clicks.
BIAS_ENTRIES: tuple[DemoEntry, ...] = (
    DemoEntry("MF + BCE", "mf", {**_MF, "objective": "bce"}),
    DemoEntry("MF + BPR", "mf", {**_MF, "objective": "bpr"}),
    DemoEntry("MF + Rel-MF", "mf", {**_MF, "objective": "relmf"}),
    DemoEntry("MF + UBPR", "mf", {**_MF, "objective": "ubpr"}),
)


@handle_errors
def demo_command(
    n_users: Annotated[int, typer.Option(help="Synthetic users.")] = 1000,
    n_items: Annotated[int, typer.Option(help="Synthetic items.")] = 800,
    noise_ratio: Annotated[float, typer.Option(help="Share of injected noisy clicks.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed for data, split and models.")] = 0,
    metrics: Annotated[str, typer.Option(help="Metrics to report.")] = "recall@20,ndcg@20",
    bias_metric: Annotated[
        str, typer.Option(help="Metric of the exposure-bias table: recall@K or ndcg@K.")
    ] = "ndcg@20",
) -> None:
    """Train classic models and denoising methods on noisy semi-synthetic clicks; report accuracy
    on the clean test clicks and how well each model's noise score finds the injected noise.
    Then train plain and debiased MF on exposure-biased clicks and compare evaluating on held-out
    clicks (plain, IPS, SNIPS) with evaluating on the true relevance."""
    from rich.progress import Progress

    from siftrec.data.splits import split_interactions
    from siftrec.data.synthetic import SyntheticConfig, generate
    from siftrec.evaluate import metric_names
    from siftrec.models import available_models
    from siftrec.objectives import available_objectives

    metric_names(metrics)  # refuse a bad list before anything trains
    bias_key = _bias_metric(bias_metric)
    config = SyntheticConfig(n_users=n_users, n_items=n_items, noise_ratio=noise_ratio, seed=seed)
    data = generate(config).interactions
    noise = data.column("is_noise").astype(bool)
    stderr.print(
        f"semi-synthetic log: {len(data):,} clicks, {data.n_users:,} users, {data.n_items:,} items,"
        f" {noise.mean():.1%} injected noise",
        highlight=False,
    )
    split = split_interactions(data, "random", test_ratio=0.2, validation_ratio=0.1, seed=seed)
    registered, objectives = set(available_models()), set(available_objectives())
    entries = [e for e in (*DEMO_ENTRIES, AUTO_ENTRY, CLEAN_ENTRY) if e.model in registered]
    bias_entries = [
        e
        for e in BIAS_ENTRIES
        if e.model in registered and str(e.params["objective"]) in objectives
    ]

    with Progress(console=stderr, transient=True) as progress:
        task = progress.add_task("Training", total=len(entries) + len(bias_entries))
        noise_table, notes = _noise_part(
            split, entries, metrics, seed, int(np.sum(~noise)), progress, task
        )
        bias_table, bias_notes = _bias_part(config, bias_entries, bias_key, progress, task)
    stdout.print(noise_table)
    for note in notes:
        stdout.print(note, highlight=False)
    stdout.print()
    stdout.print(bias_table)
    for note in bias_notes:
        stdout.print(note, highlight=False)


def _bias_metric(spec: str) -> str:
    """The single recall@K / ndcg@K of ``--bias-metric`` (the metrics IPS/SNIPS can weigh)."""
    from siftrec.evaluate import metric_names

    named = metric_names(spec)
    metric = next(iter(named.values()))
    if len(named) != 1 or metric.family != "ranking" or metric.name not in ("recall", "ndcg"):
        raise SiftrecError(
            f"--bias-metric takes one recall@K or ndcg@K (a metric IPS/SNIPS can weigh), "
            f"got {spec!r}"
        )
    return next(iter(named))


def _fit(entry: DemoEntry, train: Any, seed: int, validation: Any = None) -> tuple[Any, float]:
    """``entry``'s model, seeded when it takes a seed, fitted on ``train``; its fit seconds."""
    from siftrec.models import get_model_class

    model_cls = get_model_class(entry.model)
    params = dict(entry.params)
    if "seed" in model_cls.Config.__dataclass_fields__:
        params["seed"] = seed
    model = model_cls(**params)
    start = time.perf_counter()
    if validation is None:
        model.fit(train)
    else:
        model.fit(train, validation=validation)
    return model, time.perf_counter() - start


def _noise_part(
    split: Any,
    entries: list[DemoEntry],
    metrics: str,
    seed: int,
    n_clean: int,
    progress: Any,
    task: Any,
) -> tuple[Any, list[str]]:
    """The noise table (every entry on the clean test clicks) and the lines printed below it."""
    from rich.table import Table

    from siftrec.denoise.scores import available_noise_scores, noise_scores
    from siftrec.evaluate import evaluate, metric_names
    from siftrec.evaluate.detection import roc_auc

    train_noise = split.train.column("is_noise").astype(bool)
    clean_train = split.train.subset(~train_noise)
    clean_test = split.test.subset(~split.test.column("is_noise").astype(bool))
    scores_known = set(available_noise_scores())
    table = Table(title="siftrec demo: trained on noisy clicks, evaluated on clean test clicks")
    table.add_column("model")
    for name in metric_names(metrics):  # the result keys, in order
        table.add_column(name, justify="right")
    table.add_column("noise ROC-AUC", justify="right")
    table.add_column("fit s", justify="right")
    notes = [
        f"clean test: {len(clean_test):,} held-out clicks of {clean_test.n_users:,} users "
        f"({n_clean:,} clean clicks overall). Noise ROC-AUC: how well the model's per-interaction "
        "noise score ranks the injected noisy training clicks above the real ones (0.5 = chance)."
    ]
    for entry in entries:
        progress.update(task, description=f"Training {entry.label}")
        train = clean_train if entry.clean else split.train
        validation = split.validation if entry.validation else None
        model, fit_seconds = _fit(entry, train, seed, validation)
        # every model ranks the same candidates: its own and the noisy training clicks are masked
        result = evaluate(model, clean_test, metrics, exclude=[split.validation, split.train])
        auc = "-"
        if entry.noise_score in scores_known:
            scores = noise_scores(model, split.train, entry.noise_score)
            auc = f"{roc_auc(scores, train_noise):.3f}"
        label = entry.label
        record = getattr(model, "auto_", None)
        if record:
            label = f"{entry.label} (chose {_choice(record['chosen'], record)})"
            table.caption = _auto_caption(record)
            notes.append(_auto_note(record))
        if entry.clean:
            table.add_section()
            notes.append(
                f"{entry.label}: the same backbone trained on the {len(clean_train):,} clean "
                f"training clicks alone (the generator knows the {int(train_noise.sum()):,} "
                "injected ones), on the same test."
            )
        table.add_row(
            label,
            *(f"{v:.4f}" for v in result.metrics.values()),
            auc,
            f"{fit_seconds:.2f}",
        )
        progress.advance(task)
    return table, notes


def _choice(candidate: dict[str, Any], record: dict[str, Any]) -> str:
    """A candidate as the user would write it in ``auto_candidates`` (``nbpo``, ``bpr+pld``)."""
    plain_sampler = record["candidates"][0]["sampler"]
    if candidate["sampler"] == plain_sampler:
        return str(candidate["objective"])
    return f"{candidate['objective']}+{candidate['sampler']}"


def _auto_caption(record: dict[str, Any]) -> str:
    """The auto row's budget, as the table's caption."""
    budget = record["budget"]
    stop = (
        f"early stopping after {budget['patience']}"
        if budget["patience"] is not None
        else f"the latest epoch within {budget['tolerance']:.0%} of the best kept"
    )
    return (
        f"MF + auto: auto_budget {budget['max_epochs']} epochs over "
        f"{len(record['candidates'])} candidates ({budget['epochs_per_candidate']} each, {stop}), "
        f"chosen by {record['metric']} on the validation clicks (noisy, like train)"
    )


def _auto_note(record: dict[str, Any]) -> str:
    """Every candidate's validation score, the choice marked, and the selection's seconds."""
    scores = []
    for candidate in record["candidates"]:
        name = _choice(candidate, record)
        if "error" in candidate:
            scores.append(f"{name} failed")
        else:
            mark = " (chosen)" if name == _choice(record["chosen"], record) else ""
            scores.append(f"{name} {candidate['score']:.4f}{mark}")
    return (
        f"MF + auto, validation {record['metric']}: {', '.join(scores)}; "
        f"{record['budget']['epochs_trained']} epochs trained in "
        f"{record['selection_seconds']:.1f} s."
    )


def _bias_part(
    config: Any, entries: list[DemoEntry], key: str, progress: Any, task: Any
) -> tuple[Any, list[str]]:
    """The exposure-bias table (held-out clicks vs true relevance) and the lines below it."""
    import dataclasses

    from rich.table import Table

    from siftrec.data.splits import split_interactions
    from siftrec.data.synthetic import generate, true_relevance_test, with_exposure
    from siftrec.evaluate import evaluate
    from siftrec.evaluate.ips import evaluate_ips

    data = generate(dataclasses.replace(config, noise_ratio=0.0))
    split = split_interactions(
        data.interactions, "random", test_ratio=0.2, validation_ratio=0.1, seed=config.seed
    )
    test = with_exposure(data, split.test)
    truth = true_relevance_test(data, [split.train, split.validation])
    headers = ["held-out clicks", "clicks, IPS", "clicks, SNIPS", "true relevance"]
    values: list[list[float]] = []
    seconds: list[float] = []
    for entry in entries:
        progress.update(task, description=f"Training {entry.label} (exposure bias)")
        model, fit_seconds = _fit(entry, split.train, config.seed)
        results = (
            evaluate(model, test, key, exclude=split.validation),
            evaluate_ips(model, test, key, estimator="ips", exclude=split.validation),
            evaluate_ips(model, test, key, estimator="snips", exclude=split.validation),
            evaluate(model, truth, key, exclude=split.validation),
        )
        values.append([next(iter(result.metrics.values())) for result in results])
        seconds.append(fit_seconds)
        progress.advance(task)

    table = Table(
        title=f"exposure bias: {key} of MF trained on missing-not-at-random clicks (no noise)",
        caption=(
            f"same MF budget as above ({_MF['epochs']} epochs, dim {_MF['dim']}); Rel-MF and "
            "UBPR estimate propensities from item popularity (power law), as on a real log; "
            "IPS / SNIPS weigh held-out clicks by the generator's true exposure"
        ),
    )
    table.add_column("model")
    for header in headers:
        table.add_column(header, justify="right")
    table.add_column("fit s", justify="right")
    best = np.argmax(np.asarray(values), axis=0) if values else []
    for i, entry in enumerate(entries):
        cells = [
            f"[bold]{value:.4f}[/bold]" if best[j] == i else f"{value:.4f}"
            for j, value in enumerate(values[i])
        ]
        table.add_row(entry.label, *cells, f"{seconds[i]:.2f}")
    notes = [
        f"held-out clicks: {len(test):,} clicks of {test.n_users:,} users, as exposure-biased as "
        f"the training clicks. true relevance: the {len(truth):,} pairs the users prefer outside "
        "train and validation, the test of a log where every item is shown."
    ]
    if values:
        winners = [entries[i].label for i in best]
        notes.append(
            f"Best by held-out clicks: {winners[0]} (plain), {winners[1]} (IPS), "
            f"{winners[2]} (SNIPS). Best by the true relevance: {winners[3]}."
        )
    return table, notes
