"""``siftrec tune``: a thin wrapper over :func:`siftrec.tune.tune`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siftrec.cli.common import (
    DEFAULT_LOG_OPTIONS,
    LogOptions,
    guard_outputs,
    handle_errors,
    parse_params,
    read_input,
    stderr,
    with_log_options,
)


@handle_errors
@with_log_options
def tune_command(
    train: Annotated[Path, typer.Option("--train", help="Training interactions file.")],
    model: Annotated[str, typer.Option("--model", help="Model name, e.g. mf, lightgcn, ials.")],
    trials: Annotated[
        int, typer.Option("--trials", help="Trials to reach in total (earlier runs count).")
    ],
    out: Annotated[
        Path,
        typer.Option("--out", help="Directory for study.db, trials.parquet and best/."),
    ],
    validation: Annotated[
        Path | None,
        typer.Option(
            "--validation", help="Validation file (default: a seeded per-user carve of train)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seeds the sampler, carve and fits.")] = 0,
    metric: Annotated[
        str, typer.Option("--metric", help="Validation metric to maximise.")
    ] = "ndcg@20",
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="Fixed hyperparameter key=value, not searched (repeatable)."),
    ] = None,
    timeout: Annotated[
        float | None,
        typer.Option("--timeout", help="Start no new trial after this many seconds."),
    ] = None,
    validation_ratio: Annotated[
        float,
        typer.Option("--validation-ratio", help="Share of each user's interactions carved out."),
    ] = 0.2,
    read: LogOptions = DEFAULT_LOG_OPTIONS,
) -> None:
    """Search a model's hyperparameters with seeded TPE on validation; never on test.

    Trials are stored in OUT/study.db: running the same command again resumes the search up to
    TRIALS in total. OUT/trials.parquet lists every trial; OUT/best/ is the best parameters
    refitted on the whole training file (load it like any `siftrec fit` model).
    """
    # lazy: models and tune load torch; the CLI imports them only for the commands that need it
    from siftrec.models import get_model_class
    from siftrec.tune import tune

    get_model_class(model)  # a misspelt model fails before the training file is read
    fixed = parse_params(param)
    guard_outputs({}, {"--train": train, "--validation": validation}, directories={"--out": out})
    data = read_input(train, "training", read)
    valid = None
    if validation is not None:
        raw = read_input(
            validation, "validation", read, user_map=data.user_map, item_map=data.item_map
        )
        valid, dropped = raw.remap(data.user_map, data.item_map)
        if dropped:
            stderr.print(f"validation: {dropped:,} rows with ids unknown to train skipped")
    result = tune(
        model,
        data,
        valid,
        trials=trials,
        out=out,
        seed=seed,
        metric=metric,
        params=fixed,
        timeout=timeout,
        validation_ratio=validation_ratio,
        progress=lambda line: stderr.print(line, highlight=False, soft_wrap=True),
    )
    stderr.print(
        f"best trial {result.best_trial}: {result.metric} {result.best_value:.4f} → {out / 'best'}",
        highlight=False,
    )
