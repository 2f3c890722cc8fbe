"""Turning one registered component's contract case into named, zero-argument checks.

Shared by the model and sampler suites: a case's main parameters and its named variants each
run every per-configuration check; the main parameters also run the parameter-refusal checks.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

S = TypeVar("S")

Check = tuple[str, Callable[[], None]]


def configuration_checks(
    name: str,
    params: Mapping[str, Any],
    variants: Mapping[str, Mapping[str, Any]],
    subject: Callable[[str, Mapping[str, Any]], S],
    checks: Sequence[Callable[[S], None]],
) -> tuple[S, list[Check]]:
    """The main subject, and every check on it and on each variant (``name[variant]``),
    as ``("label-check_name", check)`` pairs."""
    main = subject(name, params)
    subjects = [(name, main)] + [
        (f"{name}[{label}]", subject(name, {**params, **extra}))
        for label, extra in variants.items()
    ]
    return main, [
        (f"{label}-{check.__name__}", functools.partial(check, each))
        for label, each in subjects
        for check in checks
    ]


def named(name: str, check: Callable[..., None], *args: Any) -> Check:
    """One check of the component ``name`` with its arguments bound."""
    return f"{name}-{check.__name__}", functools.partial(check, *args)
