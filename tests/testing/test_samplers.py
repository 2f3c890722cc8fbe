"""Every registered sampler passes the contract of ``siftrec.testing.samplers``."""

from __future__ import annotations

from collections.abc import Callable

from siftrec.testing import parametrize_sampler_checks


@parametrize_sampler_checks()
def test_sampler_contract(check: Callable[[], None]) -> None:
    check()
