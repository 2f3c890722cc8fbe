"""torch, imported on first use, for modules that torch-free paths load too.

The model base class and top-K selection serve popularity and ItemKNN as well as the torch
models; through :data:`torch` here they load torch only when a tensor is actually made, so a
classic fit (and the CLI's start-up) does not pay torch's import time.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands for the module ``name``; the first attribute access imports it."""

    def __init__(self, name: str) -> None:
        self._name = name

    def _load(self) -> ModuleType:
        return importlib.import_module(self._name)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self._load(), attr)


#: ``torch``, imported on first attribute access.
torch: Any = LazyModule("torch")


def torch_version() -> str:
    """torch's version, without importing torch when nothing has yet."""
    loaded = sys.modules.get("torch")
    if loaded is not None:
        return loaded.__version__
    return importlib.metadata.version("torch")
