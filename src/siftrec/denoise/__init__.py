"""Denoising implicit feedback: per-interaction noise scores and cleaning of logs."""

from siftrec.denoise import nbpo_score  # noqa: F401  (registers the "nbpo" noise score)
from siftrec.denoise.clean import (
    METHODS,
    SCORE_COLUMN,
    CleanMethod,
    check_drop,
    clean_method,
    drop_mask,
    method_model,
    method_score,
    write_scored_log,
)
from siftrec.denoise.scores import available_noise_scores, noise_scores, register_noise_score

__all__ = [
    "METHODS",
    "SCORE_COLUMN",
    "CleanMethod",
    "available_noise_scores",
    "check_drop",
    "clean_method",
    "drop_mask",
    "method_model",
    "method_score",
    "noise_scores",
    "register_noise_score",
    "write_scored_log",
]
