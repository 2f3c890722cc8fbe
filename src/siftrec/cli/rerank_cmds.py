"""``siftrec reward fit`` (an engagement model from a click log) and ``siftrec rerank`` (pick,
per context, the candidate with the best predicted engagement, falling back to the original)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import numpy as np
import typer

from siftrec.atomic import check_directory_target
from siftrec.cli.common import guard_outputs, handle_errors, require_file, stderr
from siftrec.data.readers import read_frame
from siftrec.data.writers import write_frame
from siftrec.errors import SiftrecError

reward_app = typer.Typer(help="Reward (engagement) models learned from implicit feedback.")


def _columns(frame: Any, path: Path, needed: tuple[str, ...]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise SiftrecError(
            f"{path.name} lacks column(s) {', '.join(missing)} (has: {', '.join(frame.columns)})"
        )


def _numbers(frame: Any, column: str, path: Path) -> np.ndarray:
    try:
        values = np.asarray(frame[column].cast(float).to_numpy(), dtype=np.float64)
    except Exception:  # polars raises several types for unparsable text
        raise SiftrecError(f"{path.name}: column {column!r} must be numeric") from None
    if not np.isfinite(values).all():
        raise SiftrecError(f"{path.name}: column {column!r} has missing or non-finite values")
    return values


@reward_app.command("fit")
@handle_errors
def reward_fit_command(
    log: Annotated[
        Path,
        typer.Option(
            "--log", help="Click log: context,context_text,candidate_text,click[,propensity]."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Reward model directory to write.")],
    objective: Annotated[
        str, typer.Option(help="bce (pointwise), bpr (pairwise Bradley-Terry), tce or rce.")
    ] = "bce",
    ips: Annotated[
        bool, typer.Option("--ips", help="Weight clicks by 1/propensity (position bias).")
    ] = False,
    encoder: Annotated[
        str, typer.Option(help="Text encoder: tfidf, tfidf:<dim>, static.")
    ] = "tfidf",
    epochs: Annotated[int, typer.Option(help="Training epochs.")] = 30,
    seed: Annotated[int, typer.Option(help="Random seed.")] = 0,
) -> None:
    """Fit an engagement model over frozen text embeddings of (context, candidate) rows."""
    from siftrec.reward import RewardConfig, TextRewardModel  # lazy: loads torch

    guard_outputs({}, {"--log": log}, directories={"--out": out})
    check_directory_target(out)
    frame = read_frame(require_file(log, "log"))
    needed = ("context", "context_text", "candidate_text", "click")
    _columns(frame, log, needed + (("propensity",) if ips else ()))
    clicks = _numbers(frame, "click", log)
    propensities = _numbers(frame, "propensity", log) if ips else None
    _, groups = np.unique(frame["context"].cast(str).to_numpy(), return_inverse=True)
    config = RewardConfig(objective=objective, ips=ips, epochs=epochs, seed=seed)
    model = TextRewardModel(encoder, config).fit(
        frame["context_text"].cast(str).to_list(),
        frame["candidate_text"].cast(str).to_list(),
        clicks,
        groups,
        propensities,
    )
    model.save(out)
    stderr.print(f"fitted a {objective} reward model on {len(clicks):,} rows → {out}")


@handle_errors
def rerank_command(
    reward: Annotated[Path, typer.Option("--reward", help="Directory of `siftrec reward fit`.")],
    candidates: Annotated[
        Path,
        typer.Option(
            "--candidates",
            help="context,candidate,context_text,candidate_text[,original (1 = the baseline)].",
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="context,candidate,reward,chosen (CSV).")],
    margin: Annotated[
        float, typer.Option(help="A pick must beat the original's reward by this much.")
    ] = 0.0,
    selection: Annotated[
        str, typer.Option(help="max, or median (guards against hacking).")
    ] = "max",
) -> None:
    """For each context, the chosen candidate (chosen = 1) and every candidate's reward.

    The generated candidates compete; the original (original = 1) is kept unless the pick's
    reward exceeds the original's by MARGIN.
    """
    import polars as pl  # lazy: slow to import; CLI start-up time

    from siftrec.reward import TextRewardModel, best_of_n  # lazy: loads torch

    guard_outputs({"--out": out}, {"--candidates": candidates}, {"--reward": reward})
    model = TextRewardModel.load(require_file(reward, "reward model"))
    path = require_file(candidates, "candidates")
    frame = read_frame(path)
    _columns(frame, path, ("context", "candidate", "context_text", "candidate_text"))
    rewards = model.score(
        frame["context_text"].cast(str).to_list(), frame["candidate_text"].cast(str).to_list()
    )
    is_original = (
        _numbers(frame, "original", path) == 1
        if "original" in frame.columns
        else np.zeros(len(rewards), dtype=bool)
    )
    contexts, groups = np.unique(frame["context"].cast(str).to_numpy(), return_inverse=True)
    if np.bincount(groups[is_original], minlength=len(contexts)).max(initial=0) > 1:
        raise SiftrecError(f"{path.name}: a context has more than one original candidate")
    # one row per context, candidates in file order as columns (NaN pads shorter groups)
    generated = np.flatnonzero(~is_original)
    order = generated[np.argsort(groups[generated], kind="stable")]
    start = np.searchsorted(groups[order], np.arange(len(contexts)))
    slot = np.arange(len(order)) - start[groups[order]]
    width = int(slot.max(initial=-1)) + 1
    table = np.full((len(contexts), max(width, 1)), np.nan)
    table[groups[order], slot] = rewards[order]
    original = np.full(len(contexts), -np.inf)
    original[groups[is_original]] = rewards[is_original]
    has_original = np.isin(np.arange(len(contexts)), groups[is_original])
    pick = best_of_n(
        table, np.where(has_original, original, -np.inf), margin=margin, selection=selection
    )
    chosen = np.zeros(len(rewards), dtype=np.int8)
    picked = pick >= 0
    row_of = np.full((len(contexts), max(width, 1)), -1)
    row_of[groups[order], slot] = order
    chosen[row_of[np.flatnonzero(picked), pick[picked]]] = 1
    chosen[np.flatnonzero(is_original & ~picked[groups])] = 1
    result = frame.select(["context", "candidate"]).with_columns(
        pl.Series("reward", rewards), pl.Series("chosen", chosen)
    )
    if "original" in frame.columns:
        result = result.with_columns(pl.Series("original", is_original.astype(np.int8)))
    write_frame(result, out)
    kept = int((~picked & has_original).sum())
    stderr.print(
        f"reranked {len(contexts):,} contexts ({kept:,} kept the original) → {out}",
        highlight=False,
    )
