"""Training objectives (losses). Importing this package registers every built-in objective."""

from siftrec.objectives.base import (
    SAMPLED_KINDS,
    Batch,
    Gradients,
    ListwiseObjective,
    Objective,
    ObjectiveKind,
    PointwiseObjective,
    SampledObjective,
    available_objectives,
    get_objective,
    register_objective,
)
from siftrec.objectives.bce import BCE
from siftrec.objectives.bpr import BPR
from siftrec.objectives.gnolr import GNOLR, MultiTask
from siftrec.objectives.multinomial import Multinomial
from siftrec.objectives.nbpo import NBPO
from siftrec.objectives.relmf import RelMF
from siftrec.objectives.reweighted import ReweightedBCE
from siftrec.objectives.truncated import TruncatedBCE
from siftrec.objectives.ubpr import UBPR

__all__ = [
    "BCE",
    "BPR",
    "GNOLR",
    "NBPO",
    "SAMPLED_KINDS",
    "UBPR",
    "Batch",
    "Gradients",
    "ListwiseObjective",
    "MultiTask",
    "Multinomial",
    "Objective",
    "ObjectiveKind",
    "PointwiseObjective",
    "RelMF",
    "ReweightedBCE",
    "SampledObjective",
    "TruncatedBCE",
    "available_objectives",
    "get_objective",
    "register_objective",
]
