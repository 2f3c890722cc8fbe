"""``siftrec clean``: score every interaction of a log for noise, optionally drop the worst."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from siftrec.cli.common import (
    DEFAULT_LOG_OPTIONS,
    LogOptions,
    guard_outputs,
    handle_errors,
    load_model_dir,
    parse_params,
    read_input,
    status,
    stderr,
    with_log_options,
)
from siftrec.data import filters
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

RULES = ("dwell", "burst")


@handle_errors
@with_log_options
def clean_command(
    *,  # keyword-only: the optional MODEL_DIR comes before the required LOG
    model_dir: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Model directory written by `siftrec fit`: score with that model (at most one).",
            show_default=False,
        ),
    ] = None,
    log: Annotated[Path, typer.Argument(help="Interaction log to score (any readable format).")],
    out: Annotated[
        Path, typer.Option("--out", help="Output: the log's rows + a noise_score column.")
    ],
    model_flag: Annotated[
        Path | None,
        typer.Option("--model", hidden=True, help="Deprecated: give MODEL_DIR before LOG."),
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method", help="Train a denoising method's MF on the log: loss, tce, rce, nbpo, pld."
        ),
    ] = None,
    rule: Annotated[
        str | None, typer.Option("--rule", help="Rule-based score instead: dwell or burst.")
    ] = None,
    score: Annotated[
        str | None,
        typer.Option(
            "--score",
            help="Noise score: loss, percentile, ... (default: the method's; loss for a model).",
        ),
    ] = None,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", help="MF hyperparameter key=value for --method (repeatable)."),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option("--threshold", help="Drop rows scoring above this.")
    ] = None,
    drop_top: Annotated[
        float | None,
        typer.Option("--drop-top", help="Drop this fraction of rows, highest scores first."),
    ] = None,
    drop_flagged: Annotated[
        bool, typer.Option("--drop-flagged", help="Drop the rows the --rule flags.")
    ] = False,
    min_dwell: Annotated[
        float | None,
        typer.Option("--min-dwell", help="--rule dwell: flag dwell below this many seconds."),
    ] = None,
    dwell_quantile: Annotated[
        float | None,
        typer.Option(
            "--dwell-quantile", help="--rule dwell: flag dwell below this quantile of the item's."
        ),
    ] = None,
    burst_clicks: Annotated[
        int | None,
        typer.Option("--burst-clicks", help="--rule burst: flag more than this many clicks..."),
    ] = None,
    burst_window: Annotated[
        float | None,
        typer.Option("--burst-window", help="--rule burst: ...within this many seconds."),
    ] = None,
    read: LogOptions = DEFAULT_LOG_OPTIONS,
) -> None:
    """Write LOG with a noise_score column (higher = more likely noise), rows and ids unchanged.

    The score comes from a fitted model (MODEL_DIR), from a denoising method trained on LOG
    itself (--method), or from a clickstream rule (--rule). Rows keep their raw values; the file
    is written as --out's extension asks (.csv, .tsv, .parquet), else in LOG's format. With an
    is_noise column in LOG, the detection quality (ROC-AUC, precision@ratio) goes to stderr.
    """
    # lazy: siftrec.denoise loads torch; the CLI imports it only for the commands that need it
    from siftrec.denoise import (
        available_noise_scores,
        drop_mask,
        method_model,
        method_score,
        noise_scores,
        write_scored_log,
    )

    model_dir = _model_dir(model_dir, model_flag)
    _check_options(
        model_dir,
        method,
        rule,
        score,
        param,
        threshold,
        drop_top,
        drop_flagged,
        dwell=(min_dwell, dwell_quantile),
        burst=(burst_clicks, burst_window),
    )
    guard_outputs({"--out": out}, {"the input log": log}, {"MODEL_DIR": model_dir})
    if score is not None and score.lower() not in available_noise_scores():
        raise SiftrecError(
            f"unknown noise score {score!r}; available: {', '.join(available_noise_scores())}"
        )
    model = None
    if method is not None:
        params = parse_params(param)
        params.setdefault("progress", sys.stderr.isatty())
        model = method_model(method, **params)
        score = score or method_score(method)
    elif model_dir is not None:
        model = load_model_dir(model_dir)
        score = score or "loss"
    data = read_input(log, "log", read)
    flagged = None
    if model is None:
        scores, flagged, what = _rule_scores(
            data, rule, min_dwell, dwell_quantile, burst_clicks, burst_window
        )
    else:
        if method is not None:
            model.fit(data)
            what = f"{score} of an MF trained for {method} ({model.fit_seconds_:.1f}s)"
        else:
            what = f"{score} of the {model.name} model in {model_dir}"
        with status("Scoring interactions"):
            scores = noise_scores(model, data, score)
    drop = flagged if drop_flagged else drop_mask(scores, threshold, drop_top)
    write_scored_log(
        log, data, scores, out, drop=drop, format=read.format, sep=read.sep, columns=read.columns
    )
    n_drop = int(drop.sum())
    dropped = f"; dropped {n_drop:,} ({n_drop / len(data):.1%})" if n_drop else ""
    stderr.print(
        f"scored {len(data):,} interactions by {what} → {out}{dropped}",
        highlight=False,
        soft_wrap=True,
    )
    if data.has_column("is_noise"):
        _print_detection(scores, data.column("is_noise"), drop)


def _model_dir(given: list[Path] | None, model_flag: Path | None) -> Path | None:
    """The one model directory: the argument before LOG, or the deprecated ``--model``.

    The argument takes every path before LOG (LOG is the last one), so more than one is refused.
    """
    if given and len(given) > 1:
        raise SiftrecError(
            f"give one MODEL_DIR before LOG, got {len(given) + 1} paths: "
            f"{', '.join(str(path) for path in given)} before the log"
        )
    model_dir = given[0] if given else None
    if model_flag is not None:
        if model_dir is not None:
            raise SiftrecError("give the model directory once: as MODEL_DIR or as --model")
        warnings.warn(
            "--model is deprecated; give the model directory before the log: "
            "siftrec clean MODEL_DIR LOG",
            FutureWarning,
            stacklevel=1,
        )
        model_dir = model_flag
    return model_dir


def _check_options(
    model_dir: Path | None,
    method: str | None,
    rule: str | None,
    score: str | None,
    param: list[str] | None,
    threshold: float | None,
    drop_top: float | None,
    drop_flagged: bool,
    dwell: tuple[float | None, ...],
    burst: tuple[float | None, ...],
) -> None:
    """One-line errors for option combinations that do not make sense."""
    from siftrec.denoise import check_drop  # lazy: loads torch (see clean_command)

    sources = (("MODEL_DIR", model_dir), ("--method", method), ("--rule", rule))
    given = [name for name, value in sources if value is not None]
    if len(given) != 1:
        got = f" (got {' and '.join(given)})" if given else ""
        raise SiftrecError(f"give exactly one of MODEL_DIR, --method or --rule{got}")
    if rule is not None and rule not in RULES:
        raise SiftrecError(f"unknown rule {rule!r}; choose one of {', '.join(RULES)}")
    if rule is not None and score is not None:
        raise SiftrecError("--score applies to MODEL_DIR/--method; a --rule is its own score")
    if param and method is None:
        raise SiftrecError("--param sets the hyperparameters of a --method model")
    if any(v is not None for v in dwell) and rule != "dwell":
        raise SiftrecError("--min-dwell/--dwell-quantile apply to --rule dwell")
    if any(v is not None for v in burst) and rule != "burst":
        raise SiftrecError("--burst-clicks/--burst-window apply to --rule burst")
    if drop_flagged and rule is None:
        raise SiftrecError("--drop-flagged applies to --rule; use --threshold or --drop-top")
    if drop_flagged and (threshold is not None or drop_top is not None):
        raise SiftrecError("give one of --drop-flagged, --threshold or --drop-top")
    check_drop(threshold, drop_top)


def _rule_scores(
    data: Interactions,
    rule: str,
    min_dwell: float | None,
    dwell_quantile: float | None,
    burst_clicks: int | None,
    burst_window: float | None,
) -> tuple[np.ndarray, np.ndarray, str]:
    """(scores, flagged mask, description) of a rule-based cleaner."""
    if rule == "dwell":
        flagged, scores = filters.dwell_filter(data, min_dwell, dwell_quantile)
        what = "short dwell (log1p(threshold) − log1p(dwell))"
    else:
        clicks = filters.DEFAULT_BURST_CLICKS if burst_clicks is None else burst_clicks
        window = filters.DEFAULT_BURST_WINDOW if burst_window is None else burst_window
        flagged, scores = filters.burst_filter(data, clicks, window)
        what = f"burst size (> {clicks} clicks within {window:g}s flagged)"
    return scores, flagged, f"{what}, {int(flagged.sum()):,} flagged"


def _print_detection(scores: np.ndarray, is_noise: np.ndarray, drop: np.ndarray) -> None:
    """Detection quality against the log's is_noise flags (and of the dropped rows)."""
    # lazy: scipy.stats takes about a second to import; only logs with is_noise need it
    from siftrec.evaluate.detection import detection_report

    flags = is_noise.astype(bool)
    if flags.all() or not flags.any():
        stderr.print(
            f"is_noise flags {int(flags.sum()):,} of {len(flags):,} rows: no detection report",
            highlight=False,
            soft_wrap=True,
        )
        return
    report = detection_report(scores, flags)
    stderr.print(
        f"detection vs is_noise ({report['n_noise']:,} noisy, {report['noise_ratio']:.1%}): "
        f"ROC-AUC {report['roc_auc']:.4f} · precision@ratio {report['precision_at_ratio']:.4f}"
        f" · AP {report['average_precision']:.4f}",
        highlight=False,
        soft_wrap=True,
    )
    if drop.any():
        stderr.print(
            f"dropped rows: {flags[drop].mean():.1%} noisy, removing "
            f"{flags[drop].sum() / flags.sum():.1%} of the noise",
            highlight=False,
            soft_wrap=True,
        )
