"""Hyperparameter search spaces, declared in code by every model, objective and sampler.

Each registered component class carries ``search_space: ClassVar[SearchSpace]``: its tunable
fields mapped to a :class:`Float`, :class:`Int`, :class:`Categorical` or :class:`Components`
dimension (``{}`` when nothing is worth tuning). ``siftrec.tune`` samples these declarations;
this module only describes them, so the low layers (objectives, samplers) can declare a space
without importing the search engine.

Conditional parameters: a dimension with ``when={"field": value}`` is sampled only when the
earlier field ``field`` took ``value`` (e.g. iALS's ``epsilon`` only with ``confidence="log"``).
A :class:`Components` dimension chooses an objective or sampler by name; the chosen component's
own ``search_space`` is sampled only for that choice, and the value becomes a spec string such
as ``"tce(drop_rate=0.31, num_gradual=12000)"``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from siftrec.errors import SiftrecError

#: The component kinds a :class:`Components` dimension can choose among.
ComponentKind = Literal["objective", "sampler"]


def _check_when(when: Mapping[str, Any]) -> None:
    if not isinstance(when, Mapping) or not all(isinstance(k, str) for k in when):
        raise SiftrecError(f"a search dimension's 'when' must map field names to values: {when!r}")


@dataclass(frozen=True)
class Float:
    """A real in ``[low, high]``; ``log=True`` samples uniformly in ``log`` space (``low > 0``)."""

    low: float
    high: float
    log: bool = False
    when: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and self.low < self.high):
            raise SiftrecError(f"Float needs finite low < high, got [{self.low}, {self.high}]")
        if self.log and self.low <= 0:
            raise SiftrecError(f"a log-scaled Float needs low > 0, got {self.low}")
        _check_when(self.when)


@dataclass(frozen=True)
class Int:
    """An integer in ``[low, high]`` (both included); ``log=True`` needs ``low ≥ 1``."""

    low: int
    high: int
    log: bool = False
    when: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not (isinstance(self.low, int) and isinstance(self.high, int) and self.low < self.high):
            raise SiftrecError(f"Int needs integers low < high, got [{self.low}, {self.high}]")
        if self.log and self.low < 1:
            raise SiftrecError(f"a log-scaled Int needs low >= 1, got {self.low}")
        _check_when(self.when)


@dataclass(frozen=True)
class Categorical:
    """One of ``choices`` (``None``, bools, numbers or strings), unordered."""

    choices: tuple[Any, ...]
    when: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.choices) < 2 or len(set(self.choices)) != len(self.choices):
            raise SiftrecError(f"Categorical needs two or more distinct choices: {self.choices}")
        for choice in self.choices:
            if choice is not None and not isinstance(choice, bool | int | float | str):
                raise SiftrecError(f"Categorical choice {choice!r} is not a plain value")
        _check_when(self.when)


@dataclass(frozen=True)
class Components:
    """A choice among registered components of ``kind`` by name; the chosen one's own
    ``search_space`` is sampled with it (conditional parameters)."""

    kind: ComponentKind
    choices: tuple[str, ...]
    when: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in ("objective", "sampler"):
            raise SiftrecError(f"Components kind must be objective or sampler, got {self.kind!r}")
        if not self.choices or len(set(self.choices)) != len(self.choices):
            raise SiftrecError(f"Components needs distinct component names: {self.choices}")
        _check_when(self.when)


Dimension = Float | Int | Categorical | Components
#: Field name → dimension, in sampling order (a ``when`` refers to an earlier field).
SearchSpace = Mapping[str, Dimension]


def declared_space(cls: type) -> SearchSpace:
    """The ``search_space`` that ``cls`` itself declares (an inherited one does not count).

    Declaring it on the class, not inheriting it, is what makes a new component's space a
    deliberate choice: a subclass with new fields must say which of them to tune.
    """
    space = vars(cls).get("search_space")
    if space is None:
        raise SiftrecError(f"{getattr(cls, 'name', cls.__name__)} declares no search space")
    if not isinstance(space, Mapping) or not all(
        isinstance(key, str) and isinstance(dim, Dimension) for key, dim in space.items()
    ):
        raise SiftrecError(f"{cls.__name__}.search_space must map field names to dimensions")
    return space


#: The sampled (pairwise/pointwise) objectives a torch scorer of sampled kinds chooses among:
#: the plain ones (BPR, BCE) and every denoiser/debiaser, each with its own space.
SAMPLED_OBJECTIVES = Components("objective", ("bpr", "bce", "tce", "rce", "nbpo", "relmf", "ubpr"))
#: The negative/positive samplers of sampled objectives.
SAMPLERS = Components("sampler", ("uniform", "popularity", "pld"))
