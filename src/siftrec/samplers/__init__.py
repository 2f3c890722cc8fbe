"""Training samplers. Importing this package registers every built-in sampler."""

from siftrec.samplers.base import (
    Batch,
    EpochMode,
    Sampler,
    ScoreFn,
    available_samplers,
    get_sampler,
    register_sampler,
)
from siftrec.samplers.membership import PositiveIndex
from siftrec.samplers.pld import PLDSampler
from siftrec.samplers.popularity import PopularitySampler
from siftrec.samplers.uniform import UniformSampler

__all__ = [
    "Batch",
    "EpochMode",
    "PLDSampler",
    "PopularitySampler",
    "PositiveIndex",
    "Sampler",
    "ScoreFn",
    "UniformSampler",
    "available_samplers",
    "get_sampler",
    "register_sampler",
]
