"""The small log many tests fit on, under its test-suite name (``siftrec.testing.contract_log``).

The model contract itself lives in ``siftrec.testing``.
"""

from siftrec.testing import contract_log as contract_data

__all__ = ["contract_data"]
