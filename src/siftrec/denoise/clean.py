"""Score a log's interactions for noise and write it back with a ``noise_score`` column.

The denoising methods, as ``siftrec clean --method NAME`` trains them on the log itself: matrix
factorisation with the method's objective and sampler (:data:`METHODS`), then the method's noise
score (:mod:`siftrec.denoise.scores`). :func:`write_scored_log` appends the scores to the input
file's own rows: CSV/TSV are re-read as raw text and Parquet as-is, so every original column,
the row order and the id spelling are unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from siftrec.data.interactions import Interactions
from siftrec.data.readers import infer_format, read_frame, table_separator
from siftrec.data.writers import (
    WRITE_FORMATS,
    interactions_frame,
    output_format,
    write_frame,
)
from siftrec.denoise.scores import available_noise_scores
from siftrec.errors import SiftrecError
from siftrec.models import get_model_class
from siftrec.models.base import Recommender
from siftrec.objectives import available_objectives
from siftrec.samplers import available_samplers

SCORE_COLUMN = "noise_score"


@dataclass(frozen=True)
class CleanMethod:
    """How a denoising method is trained and scored.

    Attributes:
        objective: MF objective spec.
        sampler: MF sampler spec.
        scores: noise-score methods in order of preference; the first registered one is used
            (NBPO's flip posterior is registered by the NBPO module when it is available).
    """

    objective: str
    sampler: str = "uniform"
    scores: tuple[str, ...] = ("loss",)
    defaults: tuple[tuple[str, object], ...] = ()


#: Method name → its default model (MF with these parts) and noise score.
METHODS: dict[str, CleanMethod] = {
    "loss": CleanMethod("bce"),
    "tce": CleanMethod("tce"),
    "rce": CleanMethod("rce"),
    # NBPO's paper settings for MovieLens: 4 negatives per positive, η = 0.02.
    "nbpo": CleanMethod(
        "nbpo", scores=("nbpo", "loss"), defaults=(("n_negatives", 4), ("lr", 0.02))
    ),
    "pld": CleanMethod("bpr", sampler="pld", scores=("percentile",)),
}


def clean_method(name: str) -> CleanMethod:
    """The :data:`METHODS` entry ``name`` (case-insensitive)."""
    method = METHODS.get(name.lower())
    if method is None:
        raise SiftrecError(f"unknown denoising method {name!r}; choose one of {', '.join(METHODS)}")
    return method


def method_model(name: str, **params: Any) -> Recommender:
    """An unfitted MF configured for method ``name``; ``params`` set other MF fields."""
    method = clean_method(name)
    for part, spec, known in (
        ("objective", method.objective, available_objectives()),
        ("sampler", method.sampler, available_samplers()),
    ):
        if part in params:
            raise SiftrecError(f"the {part} is set by the method ({name}: {spec}); drop it")
        if spec.split("(")[0] not in known:
            raise SiftrecError(
                f"method {name!r} needs the {part} {spec!r}, which this siftrec does not have "
                f"(available: {', '.join(known)})"
            )
    merged = {**dict(method.defaults), **params}
    return get_model_class("mf")(objective=method.objective, sampler=method.sampler, **merged)


def method_score(name: str) -> str:
    """The noise-score method used for denoising method ``name``."""
    known = available_noise_scores()
    preferred = clean_method(name).scores
    for score in preferred:
        if score in known:
            return score
    raise SiftrecError(f"method {name!r} needs one of the noise scores {', '.join(preferred)}")


def drop_mask(
    scores: np.ndarray, threshold: float | None = None, drop_top: float | None = None
) -> np.ndarray:
    """Rows to drop: scores above ``threshold``, or the ``round(drop_top · n)`` highest scores
    (ties broken by row order, earlier rows first). Neither given: nothing."""
    check_drop(threshold, drop_top)
    scores = np.asarray(scores, dtype=np.float64)
    drop = np.zeros(len(scores), dtype=bool)
    if threshold is not None:
        drop = scores > threshold
    elif drop_top is not None:
        drop[np.argsort(-scores, kind="stable")[: round(drop_top * len(scores))]] = True
    return drop


def check_drop(threshold: float | None, drop_top: float | None) -> None:
    """One-line errors for the arguments of :func:`drop_mask` (checked before any training)."""
    if threshold is not None and drop_top is not None:
        raise SiftrecError("give either a score threshold or a fraction to drop, not both")
    if threshold is not None and np.isnan(threshold):
        raise SiftrecError("the score threshold must be a number, got NaN")
    if drop_top is not None and not 0 <= drop_top <= 1:
        raise SiftrecError(f"the fraction to drop must be in [0, 1], got {drop_top}")


def write_scored_log(
    source: str | Path,
    data: Interactions,
    scores: np.ndarray,
    out: str | Path,
    drop: np.ndarray | None = None,
    format: str | None = None,
    sep: str | None = None,
    columns: list[str] | None = None,
) -> Path:
    """Write ``source``'s rows with a ``noise_score`` column (replacing one of that name) to
    ``out`` atomically, leaving out the rows where ``drop`` is true.

    ``data`` is ``source`` as read with the same ``format``/``sep``/``columns`` (its rows align
    with ``scores``). CSV/TSV/Parquet inputs keep their rows and raw values; the output is the
    format ``out``'s name asks for (``.csv``, ``.tsv``, ``.parquet``; ``.gz`` gzips text),
    else the input's, with the input's header convention and separator when it stays text.
    Other input formats are written from ``data`` (raw ids and side columns).
    """
    source, out = Path(source), Path(out)
    if source.resolve() == out.resolve():
        raise SiftrecError(
            f"the out argument {out} is the input file; write the scored log elsewhere"
        )
    fmt = infer_format(source) if format is None else format.lower()
    header = columns is None
    if fmt in ("csv", "tsv"):
        sep = table_separator(source, fmt, sep)
        frame = read_frame(source, fmt, sep=sep, header=header, columns=columns)
    elif fmt == "parquet":
        frame = read_frame(source, fmt)
    else:
        frame, fmt, header, sep = interactions_frame(data), output_format(out), True, None
    named = _named_format(out)
    if named is not None and named != fmt:
        fmt, header, sep = named, True, None
    if frame.height != len(scores):
        raise SiftrecError(f"{source.name} has {frame.height} rows but {len(scores)} scores")
    frame = frame.with_columns(pl.Series(SCORE_COLUMN, np.asarray(scores, dtype=np.float64)))
    if drop is not None:
        frame = frame.filter(pl.Series(~np.asarray(drop, dtype=bool)))
    return write_frame(frame, out, fmt, sep=sep, header=header)


def _named_format(out: Path) -> str | None:
    """The format ``out``'s name asks for (``.csv``, ``.tsv``, ``.parquet``, ``.gz`` aside)."""
    name = out.name.lower().removesuffix(".gz")
    return next((f for f in WRITE_FORMATS if name.endswith(f".{f}")), None)
