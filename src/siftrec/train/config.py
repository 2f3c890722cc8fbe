"""``TrainConfig``: the training hyperparameters every torch model's ``Config`` inherits.

Model fields and training fields live flat in one dataclass, so ``Model(lr=0.01)`` and
``siftrec fit --model mf --param lr=0.01`` set training options exactly like model options,
and ``model.json`` records everything needed to retrain. How a fit runs (device, progress bar)
is not a hyperparameter: see ``siftrec.models.base.FitOptions``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from siftrec.errors import SiftrecError

#: Default ``auto_candidates``, ``objective`` or ``objective+sampler`` (component defaults): the
#: plain objectives, the denoising objectives T-CE, R-CE and NBPO, and PLD resampling over BPR.
AUTO_CANDIDATES: tuple[str, ...] = ("bpr", "bce", "tce", "rce", "nbpo", "bpr+pld")
Optimizer = Literal["adam", "sparse_adam", "adagrad", "sgd"]
#: Optimizers with a row-sparse implementation (sparse embedding gradients, fused path).
SPARSE_OPTIMIZERS = frozenset({"sparse_adam", "adagrad", "sgd"})


@dataclass
class TrainConfig:
    """Training hyperparameters (see ``docs/engine.md`` for the full table).

    Attributes:
        objective: objective spec, ``"bpr"``, ``"bce"`` or ``"name(key=value,...)"``; ``"auto"``
            chooses among ``auto_candidates`` on validation (``siftrec.train.auto``; the model
            checks the auto settings when it is built).
        sampler: sampler spec (sampled objectives), e.g. ``"popularity(beta=0.75)"``.
        n_negatives: sampled negatives per positive.
        exclude_positives: never sample one of the user's training items as a negative.
        epoch_mode: ``"interactions"`` (a shuffled pass over the log) or ``"users"``.
        use_weights: pass the interaction weights to the objective.
        epochs: maximum number of epochs.
        batch_size: positives (listwise: users) per mini-batch.
        optimizer: ``adam`` (dense torch Adam), ``sparse_adam`` (lazy Adam on touched rows),
            ``adagrad`` or ``sgd``.
        lr: learning rate. For ``sgd`` it is the per-sample step (each step on the mean loss
            of B positives uses ``lr · B``), as in per-sample BPR implementations, so it does
            not change with ``batch_size``; adaptive optimizers do not depend on the scale.
        l2: coefficient of the scorer's explicit batch L2 (``regularization``).
        weight_decay: optimizer weight decay; 0 unless asked (no hidden double decay).
        fused: use the scorer's analytic row-sparse path when it has one.
        eval_every: evaluate every N epochs when validation data is given (0: never).
        metric: validation metric (higher is better), e.g. ``"ndcg@20"``.
        patience: stop after this many epochs without improvement (None: never).
        restore_best: restore the best evaluated parameters at the end.
        tolerance: relative plateau of the best epoch: an epoch scoring within this share of the
            highest validation score so far counts as best (resets ``patience``; the latest such
            epoch is restored), since a validation metric on noisy labels fluctuates by a few
            percent between epochs. None: 0 (strictly the highest), except for the candidates of
            ``objective="auto"``, which use ``siftrec.train.auto.AUTO_TOLERANCE``.
        seed: seeds initialisation, sampling and torch's global RNG.
        auto_candidates: what ``objective="auto"`` tries besides the plain (default) objective:
            comma-separated ``objective`` or ``objective+sampler`` specs.
        auto_budget: total epochs of all ``auto`` candidates, split evenly (None: ``epochs``
            each); the retraining after a carved validation comes on top.
        align: RLMRec text alignment added to the objective (``siftrec.objectives.align``):
            ``none``, ``con`` (contrastive) or ``gen`` (generative, masked); needs item text
            at fit time (``fit(..., item_text=...)``, ``siftrec fit --item-text``), never at
            scoring time.
        align_weight: weight of the alignment term (RLMRec: 1e-3 to 1e-1).
        align_temperature: InfoNCE temperature ``τ``.
        align_mask: fraction of a batch's nodes masked and reconstructed (``gen``).
        align_encoder: text encoder spec (``tfidf``, ``tfidf:<dim>``, ``static``,
            ``minilm[:<path>]``; docs/text.md).
        align_shuffle: give every node another node's text (the shuffled-profile ablation).
    """

    objective: str = "bpr"
    sampler: str = "uniform"
    n_negatives: int = 1
    exclude_positives: bool = True
    epoch_mode: Literal["interactions", "users"] = "interactions"
    use_weights: bool = False
    epochs: int = 20
    batch_size: int = 8192
    optimizer: Optimizer = "adam"
    lr: float = 1e-3
    l2: float = 0.0
    weight_decay: float = 0.0
    fused: bool = True
    eval_every: int = 1
    metric: str = "ndcg@20"
    patience: int | None = None
    restore_best: bool = True
    tolerance: float | None = None
    seed: int = 0
    auto_candidates: str = ",".join(AUTO_CANDIDATES)
    auto_budget: int | None = None
    align: Literal["none", "con", "gen"] = "none"
    align_weight: float = 0.01
    align_temperature: float = 0.2
    align_mask: float = 0.15
    align_encoder: str = "tfidf"
    align_shuffle: bool = False

    def __post_init__(self) -> None:
        positive = ("epochs", "batch_size", "n_negatives")
        for name in positive:
            if getattr(self, name) < 1:
                raise SiftrecError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("lr", "l2", "weight_decay", "eval_every"):
            if getattr(self, name) < 0:
                raise SiftrecError(f"{name} must be non-negative, got {getattr(self, name)}")
        if self.lr == 0:
            raise SiftrecError("lr must be positive")
        if self.tolerance is not None and not 0 <= self.tolerance < 1:
            raise SiftrecError(f"tolerance must be in [0, 1) (or None), got {self.tolerance}")
        if self.patience is not None and self.patience < 1:
            raise SiftrecError(f"patience must be at least 1 (or None), got {self.patience}")
        if self.optimizer not in ("adam", *SPARSE_OPTIMIZERS):
            raise SiftrecError(
                f"optimizer must be adam, sparse_adam, adagrad or sgd, got {self.optimizer!r}"
            )
        if self.align_weight < 0 or self.align_temperature <= 0:
            raise SiftrecError("align_weight must be non-negative and align_temperature positive")
        if not 0 < self.align_mask <= 1:
            raise SiftrecError(f"align_mask must be in (0, 1], got {self.align_mask}")
        if self.optimizer == "sparse_adam" and self.weight_decay:
            raise SiftrecError("sparse_adam has no weight decay; use l2 (batch L2) instead")
