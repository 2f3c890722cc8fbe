"""LightGCN's ``edge_chunk``: the graph products by blocks of rows give the single product's
embeddings, scores and gradients."""

import itertools

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from siftrec import SiftrecError
from siftrec.models import LightGCN
from siftrec.models.lightgcn import (
    LightGCNScorer,
    blocked_product,
    edge_blocks,
    normalized_adjacency,
    to_torch_csr,
)
from siftrec.testing import contract_log


def _graph() -> sp.csr_matrix:
    """A seeded graph with one user of high degree (a row longer than the small chunks)."""
    seen = contract_log(seed=4, n_users=70, n_items=45).binary.tolil()
    seen[3, :40] = 1
    return normalized_adjacency(seen.tocsr())


@pytest.mark.parametrize("chunk", [1, 7, 40, 10**9])
def test_edge_blocks_cover_the_rows_within_the_chunk(chunk):
    indptr = _graph().indptr
    blocks = edge_blocks(indptr, chunk)
    assert blocks[0][0] == 0 and blocks[-1][1] == len(indptr) - 1
    assert all(a[1] == b[0] and a[0] < a[1] for a, b in itertools.pairwise(blocks))
    for lo, hi in blocks:  # within the chunk, unless one row alone exceeds it
        assert indptr[hi] - indptr[lo] <= chunk or hi == lo + 1


def test_blocked_product_equals_the_product():
    adj = _graph()
    x = torch.randn(adj.shape[0], 5, generator=torch.Generator().manual_seed(0))
    tensor = to_torch_csr(adj)
    whole = blocked_product(tensor, x, None)
    np.testing.assert_allclose(whole.numpy(), adj @ x.numpy(), rtol=1e-5, atol=1e-6)
    for chunk in (1, 13, 200):
        chunked = blocked_product(tensor, x, edge_blocks(adj.indptr, chunk))
        torch.testing.assert_close(chunked, whole, rtol=1e-6, atol=1e-7)


def _scorer(edge_chunk):
    adj = _graph()
    generator = torch.Generator().manual_seed(1)
    n_users = 70
    return LightGCNScorer(
        adj, n_users, adj.shape[0] - n_users, 8, 3, 0.1, generator, edge_chunk=edge_chunk
    )


def test_chunked_scorer_matches_in_scores_and_gradients():
    whole, chunked = _scorer(None), _scorer(9)
    assert chunked.blocks is not None and len(chunked.blocks) > 10
    users = torch.tensor([0, 3, 3, 17, 69])
    items = torch.tensor([[0, 5], [1, 39], [2, 44], [7, 8], [0, 30]])
    grads = []
    for scorer in (whole, chunked):
        scorer.train()
        scorer.prepare()
        scorer.score_candidates(users, items).square().sum().backward()
        grads.append((scorer.user_emb.grad, scorer.item_emb.grad))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-7)
        assert a.abs().sum() > 0
    for scorer in (whole, chunked):
        scorer.eval()
        scorer.prepare()
    torch.testing.assert_close(
        chunked.score_all(users), whole.score_all(users), rtol=1e-5, atol=1e-7
    )


def test_fit_with_edge_chunk_equals_fit_without():
    data = contract_log(seed=2, n_users=60, n_items=40)
    params = {"epochs": 2, "batch_size": 64, "layers": 2, "dim": 8, "device": "cpu"}
    plain = LightGCN(**params).fit(data)
    chunked = LightGCN(**params, edge_chunk=25).fit(data)
    for key, value in plain._get_state().items():
        np.testing.assert_allclose(chunked._get_state()[key], value, rtol=1e-5, atol=1e-6)
    with pytest.raises(SiftrecError, match="edge_chunk must be at least 1"):
        LightGCN(edge_chunk=0)
