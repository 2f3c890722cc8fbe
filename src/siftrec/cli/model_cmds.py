"""``siftrec fit``, ``recommend``, ``evaluate`` and ``score``: thin wrappers over the model API."""

from __future__ import annotations

import contextlib
import inspect
import json
import logging
import os
from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from siftrec.atomic import check_directory_target
from siftrec.cli.common import (
    DEFAULT_LOG_OPTIONS,
    LogOptions,
    configure_logging,
    guard_outputs,
    handle_errors,
    load_model_dir,
    parse_params,
    read_input,
    require_file,
    status,
    stderr,
    stdout,
    warn,
    with_log_options,
)
from siftrec.data.ids import IdMap
from siftrec.data.readers import read_id_list
from siftrec.data.writers import write_frame
from siftrec.errors import SiftrecError
from siftrec.text import read_item_text


@handle_errors
@with_log_options
def fit_command(
    train: Annotated[Path, typer.Option("--train", help="Training interactions file.")],
    model: Annotated[
        str, typer.Option("--model", help="Model name, e.g. popularity, itemknn (siftrec models).")
    ],
    out: Annotated[Path, typer.Option("--out", help="Model directory to write.")],
    param: Annotated[
        list[str] | None, typer.Option("--param", help="Hyperparameter key=value (repeatable).")
    ] = None,
    objective: Annotated[
        str | None,
        typer.Option(
            "--objective", help="Objective spec, e.g. 'tce(drop_rate=0.1)' (torch models)."
        ),
    ] = None,
    sampler: Annotated[
        str | None,
        typer.Option(
            "--sampler", help="Sampler spec, e.g. 'popularity(beta=0.75)' (torch models)."
        ),
    ] = None,
    validation: Annotated[
        Path | None,
        typer.Option("--validation", help="Validation file (models that early-stop on it)."),
    ] = None,
    item_text: Annotated[
        Path | None,
        typer.Option(
            "--item-text",
            help="CSV item,text for --param align=con|gen (RLMRec) or augment_k=N (LLMRec).",
        ),
    ] = None,
    nproc: Annotated[
        int,
        typer.Option(
            "--nproc",
            help="Train a torch model in N local processes (torch.distributed: gloo on CPU, "
            "NCCL on CUDA; docs/distributed.md).",
        ),
    ] = 1,
    read: LogOptions = DEFAULT_LOG_OPTIONS,
) -> None:
    """Fit a model on a training file and save it to a model directory.

    Every model, objective and sampler with its hyperparameters, defaults and meaning:
    `siftrec models` (one of them: `siftrec models NAME`). --objective X and --sampler Y are
    --param objective=X and --param sampler=Y.

    MODEL_DIR/model.json records the model name, every hyperparameter, versions, a fingerprint of
    the training data and fit_seconds (fitting alone, loading excluded).

    --nproc N trains a torch model data-parallel in N local processes; started by torchrun
    (`torchrun --nproc-per-node N -m siftrec fit ...`) each process is one rank. Only rank 0
    writes MODEL_DIR.
    """
    arguments = {
        "train": train,
        "model": model,
        "out": out,
        "param": param,
        "objective": objective,
        "sampler": sampler,
        "validation": validation,
        "item_text": item_text,
        "read": read,
    }
    if nproc == 1:
        _fit_model(**arguments)
        return
    # lazy: loads torch
    from siftrec.train.distributed import launch_local, launched

    if nproc < 1:
        raise SiftrecError(f"--nproc must be at least 1, got {nproc}")
    if launched():
        raise SiftrecError("--nproc starts its own processes; leave it out under torchrun")
    _checked_estimator(**arguments, ranks=nproc)  # a bad flag fails here, not in every rank
    level = logging.getLogger("siftrec").getEffectiveLevel()
    verbosity = -1 if level > logging.INFO else 1 if level < logging.INFO else 0
    launch_local(nproc, _fit_worker, (arguments, verbosity))


def _fit_worker(arguments: dict[str, Any], verbosity: int) -> None:
    """One rank of ``siftrec fit --nproc N`` (a spawned process: its own logging set-up)."""
    configure_logging(verbosity)
    try:
        handle_errors(_fit_model)(**arguments)
    except typer.Exit as exc:
        raise SystemExit(exc.exit_code) from None


def _checked_estimator(
    *,
    train: Path,
    model: str,
    out: Path,
    param: list[str] | None,
    objective: str | None,
    sampler: str | None,
    validation: Path | None,
    item_text: Path | None,
    read: LogOptions,
    ranks: int,
) -> Any:
    """The estimator of the fit's flags, once the flags and the output path are checked
    (``ranks``: the processes that will train it)."""
    # lazy: loads torch; the CLI imports it only for the commands that need it
    from siftrec.models import get_model_class

    model_cls = get_model_class(model)
    params = parse_params(param)
    for key, spec in (("objective", objective), ("sampler", sampler)):
        if spec is not None and params.setdefault(key, spec.strip()) != spec.strip():
            raise SiftrecError(
                f"--{key} {spec!r} and --param {key}={params[key]!r} disagree; give one"
            )
    estimator = model_cls(**params)
    guard_outputs(
        {},
        {"--train": train, "--validation": validation, "--item-text": item_text},
        directories={"--out": out},
    )
    check_directory_target(out)  # refuse a non-model directory now, not after the fit
    if validation is not None and not model_cls.uses_validation:
        raise SiftrecError(f"model {model_cls.name} does not use a validation set")
    if ranks > 1 and "device" not in model_cls.fit_options:  # no torch training loop
        raise SiftrecError(
            f"model {model_cls.name} trains in one process; --nproc and torchrun are for the "
            "torch models"
        )
    return estimator


def _fit_model(**arguments: Any) -> None:
    """The fit of ``siftrec fit``: in this process, or as one rank of a process group (the
    environment of torchrun or --nproc: only rank 0 writes the model directory)."""
    ranks = int(os.environ.get("WORLD_SIZE") or 1)  # set by torchrun and --nproc
    estimator = _checked_estimator(**arguments, ranks=ranks)
    model_cls = type(estimator)
    session, is_main = contextlib.nullcontext(), lambda: True
    if ranks > 1:
        # lazy: loads torch (a torch model's fit loads it anyway; a classic one never does)
        from siftrec.train.distributed import distributed_session, is_main

        session = distributed_session(estimator.options.device)
    train, validation, item_text = (arguments[k] for k in ("train", "validation", "item_text"))
    out, read = arguments["out"], arguments["read"]
    data = read_input(train, "training", read)
    fit_options = {}
    if item_text is not None:
        if "item_text" not in inspect.signature(model_cls._fit).parameters:
            raise SiftrecError(f"model {model_cls.name} takes no --item-text")
        fit_options["item_text"] = read_item_text(require_file(item_text, "item text"))
    if validation is not None:
        valid = read_input(
            validation, "validation", read, user_map=data.user_map, item_map=data.item_map
        )
        fit_options["validation"], dropped = valid.remap(data.user_map, data.item_map)
        if dropped and is_main():
            stderr.print(f"validation: {dropped:,} rows with ids unknown to train skipped")
    with session:
        # a model with a progress option shows its own bars (one live display at a time)
        with status(f"Fitting {model_cls.name}", "progress" not in model_cls.fit_options):
            estimator.fit(data, **fit_options)
        if not is_main():  # every rank holds the same parameters; rank 0 writes them
            return
    estimator.save(out)
    stderr.print(
        f"fitted {model_cls.name} on {len(data):,} interactions in "
        f"{estimator.fit_seconds_:.2f}s → {out}",
        highlight=False,
    )


@handle_errors
def recommend_command(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `siftrec fit`.")],
    k: Annotated[int, typer.Option("-k", "--k", help="Recommendations per user.")] = 10,
    users: Annotated[
        str, typer.Option("--users", help="'all' (every training user) or a file of user ids.")
    ] = "all",
    out: Annotated[Path, typer.Option("--out", help="user,item,rank,score: .parquet|CSV")] = Path(
        "recs.csv"
    ),
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Do not exclude training items.")
    ] = False,
    history: Annotated[
        Path | None,
        typer.Option(
            "--history",
            help="user,item file of posted histories: recommend for its users; users unknown "
            "to the model are folded in (models that support it).",
        ),
    ] = None,
    allow: Annotated[
        Path | None, typer.Option("--allow", help="Item ids file: only these can be recommended.")
    ] = None,
    deny: Annotated[
        Path | None, typer.Option("--deny", help="Item ids file: these are never recommended.")
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Users scored per batch.")] = 2048,
) -> None:
    """Write top-K recommendations (raw ids; rank 1 = best; seen items excluded by default).

    A users file whose users are all unknown to the model (or that lists none) is an error.
    With --history, the output covers the users of that file: a user the model knows is
    recommended from training with the posted items masked too, a new user from the posted
    items alone (fold-in); posted items unknown to the model are ignored. --allow and --deny
    take item ids, one per line or a CSV with an item column (ids unknown to the model are
    skipped with a warning).
    """
    users_file = None if users == "all" else Path(users)
    if users_file is not None and history is not None:
        raise SiftrecError("give --users or --history, not both")
    guard_outputs(
        {"--out": out},
        {"--users": users_file, "--history": history, "--allow": allow, "--deny": deny},
        {"MODEL_DIR": model_dir},
    )
    raw = None if users_file is None else read_id_list(require_file(users_file, "users"), "user")
    model = load_model_dir(model_dir)
    lists = {
        "include_items": None if allow is None else _item_list(model, allow),
        "exclude_items": None if deny is None else _item_list(model, deny),
    }
    if history is not None:
        user_map, user_index, items, scores = _recommend_history(
            model, history, k, not include_seen, batch_size, lists
        )
    else:
        user_map = model.user_map_
        user_index = (
            np.arange(model.n_users) if raw is None else _known_users(model, raw, users_file)
        )
        items, scores = _recommend_with_progress(
            model, user_index, k, not include_seen, batch_size, **lists
        )
    _write_recommendations(model, user_index, items, scores, out, user_map)
    stderr.print(f"wrote {out} ({len(user_index):,} users × top {k})", highlight=False)


def _item_list(model, path: Path) -> np.ndarray:
    """Model indices of the item ids listed in ``path`` (unknown ones skipped, with a warning)."""
    return known_ids(model.item_map_, read_id_list(require_file(path, "items"), "item"), path)


def _recommend_history(
    model, path: Path, k: int, exclude_seen: bool, batch_size: int, lists: dict
) -> tuple[IdMap, np.ndarray, np.ndarray, np.ndarray]:
    """Top-k for the users of the history file ``path``: (its user map, its user indices,
    items, scores). Known users: trained model, posted items masked; new users: fold-in."""
    import scipy.sparse as sp  # lazy: CLI start-up time

    log = read_input(path, "history", DEFAULT_LOG_OPTIONS)
    item_index = model.item_map_.to_index(log.raw_items(), what="item")
    known_item = item_index >= 0
    if not known_item.all():
        warn(f"{int((~known_item).sum()):,} posted items unknown to the model")
    ones = np.ones(int(known_item.sum()), np.float32)
    posted = sp.csr_matrix(
        (ones, (log.users[known_item], item_index[known_item])), shape=(log.n_users, model.n_items)
    )
    posted.sum_duplicates()
    posted.data[:] = 1.0
    trained = model.user_map_.to_index(log.user_map.ids, what="user")
    old, new = np.flatnonzero(trained >= 0), np.flatnonzero(trained < 0)
    if new.size and not model.supports_fold_in:
        raise SiftrecError(
            f"{model.name} cannot fold in users unseen in training; {new.size:,} users of "
            f"{path} are new (e.g. {log.user_map.ids[new[0]]!r})"
        )
    items = np.full((log.n_users, k), -1, dtype=np.int64)
    scores = np.full((log.n_users, k), -np.inf, dtype=np.float32)
    if old.size:
        sub = posted[old].tocoo()  # the known users' posted items, masked beside training's
        exclude = sp.csr_matrix(
            (sub.data, (trained[old][sub.row], sub.col)), shape=(model.n_users, model.n_items)
        )
        items[old], scores[old] = _recommend_with_progress(
            model,
            trained[old],
            k,
            exclude_seen,
            batch_size,
            exclude=exclude if exclude_seen else None,
            **lists,
        )
    if new.size:
        items[new], scores[new] = model.recommend_history(
            posted[new], k, exclude_seen, batch_size, **lists
        )
    return log.user_map, np.arange(log.n_users), items, scores


def _recommend_with_progress(
    model, users: np.ndarray, k: int, exclude_seen: bool, batch_size: int, **lists
) -> tuple[np.ndarray, np.ndarray]:
    from rich.progress import Progress  # lazy: CLI start-up time; only recommend shows one

    chunks_items, chunks_scores = [], []
    with Progress(console=stderr, transient=True, disable=len(users) <= batch_size) as progress:
        task = progress.add_task("Recommending", total=len(users))
        for start in range(0, len(users), batch_size):
            batch = users[start : start + batch_size]
            items, scores = model.recommend(
                batch, k=k, exclude_seen=exclude_seen, batch_size=batch_size, **lists
            )
            chunks_items.append(items)
            chunks_scores.append(scores)
            progress.advance(task, len(batch))
    if not chunks_items:
        return np.zeros((0, k), dtype=np.int64), np.zeros((0, k), dtype=np.float32)
    return np.concatenate(chunks_items), np.concatenate(chunks_scores)


def _write_recommendations(
    model,
    users: np.ndarray,
    items: np.ndarray,
    scores: np.ndarray,
    out: Path,
    user_map: IdMap | None = None,
) -> None:
    """The file of ``Recommender.recommend_raw`` (``users`` index ``user_map``, default the
    model's)."""
    import polars as pl  # lazy: slow to import; CLI start-up time

    from siftrec.models.base import ranked_columns  # lazy: the model layer loads on demand

    user_map = model.user_map_ if user_map is None else user_map
    frame = pl.DataFrame(ranked_columns(user_map, users, model.item_map_, items, scores))
    write_frame(frame, out)


def _known_users(model, raw: np.ndarray, path: Path) -> np.ndarray:
    """Model indices of the users in ``raw``; unknown ones are skipped with a warning."""
    return known_ids(model.user_map_, raw, path, "user")


def known_ids(id_map: IdMap, raw: np.ndarray, path: Path, what: str = "item") -> np.ndarray:
    """Indices on ``id_map`` of the raw ids listed in ``path``; unknown ones are skipped with
    a warning.

    No id at all, or none the model knows, is an error: an empty output would look like success.
    """
    if raw.size == 0:
        raise SiftrecError(f"{path} lists no {what} ids")
    index = id_map.to_index(raw, what=what)
    known = index >= 0
    if not known.any():
        if raw.size == 1:
            raise SiftrecError(f"the one {what} in {path} is not known to the model")
        raise SiftrecError(f"none of the {raw.size:,} {what}s in {path} is known to the model")
    if not known.all():
        warn(f"{int((~known).sum()):,} unknown {what}s skipped")
    return index[known]


@handle_errors
@with_log_options
def evaluate_command(
    model_dir: Annotated[
        Path | None, typer.Argument(help="Model directory written by `siftrec fit`.")
    ] = None,
    test: Annotated[Path | None, typer.Option("--test", help="Held-out interactions file.")] = None,
    metrics: Annotated[
        str, typer.Option("--metrics", help="Comma-separated metrics, e.g. recall@20,ndcg@20.")
    ] = "recall@20,ndcg@20",
    exclude: Annotated[
        list[Path] | None,
        typer.Option("--exclude", help="Extra files whose items are masked (e.g. validation)."),
    ] = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print {metric: mean, n_users} as one JSON object.")
    ] = False,
    per_user: Annotated[
        Path | None, typer.Option("--per-user", help="Per-user metric values (.parquet or CSV).")
    ] = None,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict", help="Refuse a test file that shares pairs with the training data."
        ),
    ] = False,
    propensity: Annotated[
        str | None,
        typer.Option(
            "--propensity",
            help="For ips-/snips- metrics: power-law[:ETA], column[:NAME] or an "
            "item,propensity file.",
        ),
    ] = None,
    session_log: Annotated[
        Path | None,
        typer.Option(
            "--session-log",
            help="Score a search-session log by NUM instead (no model; docs/metrics.md).",
        ),
    ] = None,
    read: LogOptions = DEFAULT_LOG_OPTIONS,
) -> None:
    """Full-ranking evaluation over all items, training items masked.

    Test pairs that are also training pairs can never be hit (seen items are masked): they are
    reported with a warning, or refused with --strict. IPS/SNIPS metrics (snips-ndcg@20) weigh
    each hit by its inverse exposure propensity, given by --propensity (docs/metrics.md).
    """
    if session_log is not None:
        if model_dir is not None or test is not None:
            raise SiftrecError("--session-log evaluates a session log alone: drop MODEL_DIR/--test")
        _evaluate_sessions(session_log, as_json)
        return
    if model_dir is None or test is None:
        raise SiftrecError("evaluate needs MODEL_DIR and --test FILE (or --session-log FILE)")
    # lazy: CLI start-up time
    from siftrec.evaluate.weighted import evaluate_weighted

    excludes = {f"--exclude {p}": p for p in exclude or []}
    guard_outputs({"--per-user": per_user}, {"--test": test, **excludes}, {"MODEL_DIR": model_dir})
    test_data = read_input(test, "test", read)
    extra = [read_input(p, "exclude", read) for p in exclude or []]
    model = load_model_dir(model_dir)
    _check_training_overlap(model, test_data, strict)
    result = evaluate_weighted(
        model, test_data, metrics, propensity, exclude=extra or None, progress=True
    )
    if per_user is not None:
        frame = result.per_user_frame(model.user_map_)
        write_frame(frame, per_user)
    if result.n_skipped_users or result.n_dropped_interactions:
        stderr.print(
            f"skipped {result.n_skipped_users:,} test users and "
            f"{result.n_dropped_interactions:,} held-out interactions "
            "(unknown to the model, cold items, or nothing left to evaluate)",
            highlight=False,
        )
    if as_json:
        typer.echo(json.dumps(result.to_json()))
        return
    from rich.table import Table  # lazy: CLI start-up time

    table = Table(title=f"{model.name} on {test.name} ({result.n_users:,} users)")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in result.metrics.items():
        table.add_row(name, f"{value:.4f}")
    stdout.print(table)


def _evaluate_sessions(path: Path, as_json: bool) -> None:
    """NUM of every session in a session log, with the per-query click NDCG@10 beside it."""
    from siftrec.data.sessions import read_session_log  # lazy: CLI start-up time
    from siftrec.evaluate.num import num, per_query_metric

    log = read_session_log(require_file(path, "session log"))
    result = num(log)
    values = {
        "num": result.mean,
        "per_query_click_ndcg@10": per_query_metric(log, 10),
        "n_sessions": len(result.num),
        "n_skipped": int(np.isnan(result.num).sum()),
        "n_clipped": result.n_clipped,
    }
    if as_json:
        typer.echo(json.dumps(values))
        return
    for name, value in values.items():
        stdout.print(f"{name}\t{value:.4f}" if isinstance(value, float) else f"{name}\t{value}")


def _check_training_overlap(model, test, strict: bool) -> None:
    """Warn (or with ``strict`` refuse) when test pairs are also the model's training pairs.

    Seen items are masked from every ranking, so such pairs cannot be hit and pull every metric
    down; many of them usually mean the training file was passed as the test file.
    """
    held, _ = test.remap(model.user_map_, model.item_map_)
    n_items = np.int64(model.n_items)
    seen = model.seen_.tocoo()
    train_keys = seen.row.astype(np.int64) * n_items + seen.col
    test_keys = held.users.astype(np.int64) * n_items + held.items
    overlap = int(np.isin(test_keys, train_keys).sum())
    if not overlap:
        return
    message = (
        f"{overlap:,} of {len(test):,} test pairs ({overlap / len(test):.1%}) are also training "
        "pairs; seen items are excluded from rankings, so these cannot be hit — is the test file "
        "the training file?"
    )
    if strict:
        raise SiftrecError(f"{message} (refused by --strict)")
    warn(message)


@handle_errors
@with_log_options
def score_command(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `siftrec fit`.")],
    pairs: Annotated[Path, typer.Option("--pairs", help="CSV/Parquet with user,item columns.")],
    out: Annotated[Path, typer.Option("--out", help="user,item,score; .parquet or CSV")],
    read: LogOptions = DEFAULT_LOG_OPTIONS,
    batch_size: Annotated[int, typer.Option(help="Users scored per batch.")] = 2048,
) -> None:
    """Score given (user, item) pairs; unknown users or items get an empty score."""
    import polars as pl  # lazy: slow to import; CLI start-up time

    guard_outputs({"--out": out}, {"--pairs": pairs}, {"MODEL_DIR": model_dir})
    data = read_input(pairs, "pairs", read)
    model = load_model_dir(model_dir)
    users = model.user_map_.to_index(data.raw_users())
    items = model.item_map_.to_index(data.raw_items())
    known = (users >= 0) & (items >= 0)
    scores = np.full(len(users), np.nan, dtype=np.float32)
    scores[known] = model.score_pairs(users[known], items[known], batch_size=batch_size)
    frame = pl.DataFrame({"user": data.raw_users(), "item": data.raw_items()}).with_columns(
        pl.Series("score", scores).fill_nan(None)
    )
    write_frame(frame, out)
    unknown = int((~known).sum())
    if unknown:
        warn(f"{unknown:,} pairs with an unknown user or item got no score")
    stderr.print(f"wrote {out} ({len(frame):,} pairs)", highlight=False)
