"""Dense score products ``queries · itemsᵀ``, routed to the fastest BLAS for the device.

On the CPU, numpy's BLAS (OpenBLAS) runs these thin products (a few thousand query rows × d
× tens of thousands of items, d ≈ 64) faster than torch's MKL build on AMD CPUs; the result is
a fresh array either way. Products that autograd must trace, and every product on an
accelerator, stay in torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import torch
else:  # the model base class imports this module: torch loads when a product is made
    from siftrec.lazy import torch


def score_matrix(queries: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """``queries @ items.T`` [Q, I] for ``queries`` [Q, d] and ``items`` [I, d]."""
    if torch.is_grad_enabled() or queries.device.type != "cpu" or items.device.type != "cpu":
        return queries @ items.T
    return torch.from_numpy(np.matmul(queries.detach().numpy(), items.detach().numpy().T))
