"""Contract suites for siftrec components, driven by the registries and run under pytest.

Every registered model, sampler and objective has a contract entry (``MODEL_CASES``,
``SAMPLER_CASES``, ``OBJECTIVE_CASES``); ``parametrize_model_checks`` /
``parametrize_sampler_checks`` / ``parametrize_objective_checks`` turn the entries into one
pytest test per check, and ``uncovered_models`` / ``uncovered_samplers`` /
``uncovered_objectives`` name registered components without an entry. A third-party component
registered with ``siftrec.models.register``, ``siftrec.samplers.register_sampler`` or
``siftrec.objectives.register_objective`` runs the same suite from its own test file (see
``docs/testing.md``). Needs pytest (the ``dev`` extra).
"""

from siftrec.testing.models import (
    MODEL_CASES,
    ModelCase,
    check_model,
    contract_log,
    learning_split,
    model_checks,
    parametrize_model_checks,
    uncovered_models,
)
from siftrec.testing.objectives import (
    OBJECTIVE_CASES,
    ObjectiveCase,
    objective_checks,
    parametrize_objective_checks,
    uncovered_objectives,
)
from siftrec.testing.samplers import (
    SAMPLER_CASES,
    SamplerCase,
    check_sampler,
    parametrize_sampler_checks,
    sampler_checks,
    uncovered_samplers,
)

__all__ = [
    "MODEL_CASES",
    "OBJECTIVE_CASES",
    "SAMPLER_CASES",
    "ModelCase",
    "ObjectiveCase",
    "SamplerCase",
    "check_model",
    "check_sampler",
    "contract_log",
    "learning_split",
    "model_checks",
    "objective_checks",
    "parametrize_model_checks",
    "parametrize_objective_checks",
    "parametrize_sampler_checks",
    "sampler_checks",
    "uncovered_models",
    "uncovered_objectives",
    "uncovered_samplers",
]
