"""Torch device selection: CUDA when present, CPU otherwise, overridable by name."""

from __future__ import annotations

import torch

from siftrec.errors import SiftrecError


def select_device(name: str | None = None) -> torch.device:
    """Return the requested device, or CUDA if available else CPU when ``name`` is None/'auto'."""
    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as exc:
        raise SiftrecError(f"unknown device {name!r}: {exc}") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SiftrecError(f"device {name!r} requested but CUDA is not available on this machine")
    return device
