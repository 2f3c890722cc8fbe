"""``score_matrix``: the same product on every route, autograd kept where it is needed."""

from __future__ import annotations

import torch

from siftrec.models.products import score_matrix


def test_equals_torch_matmul_without_grad():
    generator = torch.Generator().manual_seed(0)
    queries, items = torch.randn(7, 5, generator=generator), torch.randn(11, 5, generator=generator)
    items.requires_grad_(True)
    with torch.no_grad():
        scores = score_matrix(queries, items)
    assert scores.shape == (7, 11) and not scores.requires_grad
    torch.testing.assert_close(scores, queries @ items.detach().T)


def test_keeps_the_graph_when_grad_is_enabled():
    queries = torch.randn(3, 4, requires_grad=True)
    items = torch.randn(6, 4)
    score_matrix(queries, items).sum().backward()
    torch.testing.assert_close(queries.grad, items.sum(0).expand(3, 4))
