"""Hyperparameter search over the spaces that models, objectives and samplers declare.

``tune(model, train, validation=None, trials=..., out=..., seed=...)`` runs a seeded, resumable,
pruned Optuna TPE search and refits the best parameters (``siftrec tune`` on the command line).
It sits above training and evaluation and below the CLI; the declarations themselves live in
``siftrec.search_space`` so that every component can declare its space.
"""

from siftrec.tune.search import BEST_DIR, STUDY_FILE, TRIALS_FILE, TuneResult, trials_table, tune
from siftrec.tune.space import sample_params, space_markdown

__all__ = [
    "BEST_DIR",
    "STUDY_FILE",
    "TRIALS_FILE",
    "TuneResult",
    "sample_params",
    "space_markdown",
    "trials_table",
    "tune",
]
