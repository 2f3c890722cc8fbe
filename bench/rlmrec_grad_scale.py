"""How strongly the RLMRec-Con term pulls on an MF backbone's embeddings, against the BPR loss.

Usage: ``python bench/rlmrec_grad_scale.py [--epochs 0,1,5,20] [--param KEY=VALUE ...]
[--temperature 0.2] [--batches 20]``.

For each entry of ``--epochs``, MF (``--param`` settings, ``align=none``) is trained that many
epochs on the seed-0 train part of ``bench/rlmrec_align.py``'s split of ml-100k; then, on
``--batches`` fresh uniform BPR batches of the model's ``batch_size``, the gradients of the
training loss (BPR plus the ``l2`` term as the autograd path adds it) and of the Con term at
``align_weight`` 1 (a freshly initialised text MLP, ``τ`` from ``--temperature``) are taken
with respect to the user and item tables. Printed per checkpoint: the mean norm of the user
and item rows and the ratio ``‖∇ Con‖ / ‖∇ loss‖`` over each table. Every optimizer steps both
terms through the same gradient sum, so ``align_weight`` times this ratio is the Con term's
share of the update's pull (Adam then rescales the sum per coordinate, SGD does not). The Con
term's InfoNCE works on cosines, so its gradient on a row falls as ``1/‖e‖`` while BPR's grows
with the item norms until the pairs are separated.
"""

from __future__ import annotations

import argparse
import dataclasses
import gzip
import os
from pathlib import Path

import numpy as np
import torch
from rlmrec_align import parse_params, split  # bench/ is the script's directory on sys.path

from siftrec.models import get_model_class
from siftrec.text import movielens_item_text
from siftrec.train.engine import Batch


def gradients(loss: torch.Tensor, tables: list[torch.Tensor]) -> list[torch.Tensor]:
    """Dense gradients of ``loss`` with respect to each table (sparse ones densified)."""
    grads = torch.autograd.grad(loss, tables, allow_unused=True)
    return [
        torch.zeros_like(t) if g is None else (g.to_dense() if g.is_sparse else g)
        for g, t in zip(grads, tables, strict=True)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", default="0,1,5,20")
    parser.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--temperature", type=float, default=0.2)
    parser.add_argument("--batches", type=int, default=20)
    args = parser.parse_args()
    extra = parse_params(args.param, "mf")
    root = Path(os.environ.get("SIFTREC_DATA", "../shared/data")) / "ml-100k"
    raw = np.loadtxt(gzip.open(root / "u.data.gz"), dtype=np.int64)[:, :2]
    item_text = movielens_item_text(root)
    train, _ = split(raw, 0, 0.0)
    print(f"MF {extra or 'defaults'}, Con at weight 1, tau {args.temperature}")
    print("epochs  |p_u|   |q_i|   Con/loss users  Con/loss items")
    for epochs in [int(e) for e in args.epochs.split(",")]:
        model = get_model_class("mf")(epochs=max(epochs, 1), seed=0, device="cpu", **extra)
        if epochs == 0:  # the initialisation (one epoch at a negligible rate)
            model.set_params(lr=1e-12)
        model.fit(train, item_text=item_text)
        cfg = dataclasses.replace(
            model.config, align="con", align_weight=1.0, align_temperature=args.temperature
        )
        term = model._alignment(cfg, train, "pairwise")
        scorer = model.scorer_.train()
        tables = [scorer.user_emb.weight, scorer.item_emb.weight]
        rng = np.random.default_rng(1)
        ratios = []
        for _ in range(args.batches):
            ids = rng.integers(0, len(train), cfg.batch_size)
            users = torch.as_tensor(train.users[ids])
            neg = rng.integers(0, train.n_items, cfg.batch_size)
            items = torch.as_tensor(np.stack([train.items[ids], neg], axis=1))
            scores = scorer.score_candidates(users, items)
            loss = torch.nn.functional.softplus(scores[:, 1] - scores[:, 0]).mean()
            if cfg.l2:
                loss = loss + cfg.l2 * scorer.regularization(users, items[:, 0], items[:, 1:])
            g_loss = gradients(loss, tables)
            g_con = gradients(term(scorer, Batch(None, users, items)), tables)
            ratios.append([float(c.norm() / b.norm()) for c, b in zip(g_con, g_loss, strict=True)])
        p_norm, q_norm = (float(t.detach().norm(dim=1).mean()) for t in tables)
        r_users, r_items = np.mean(ratios, axis=0)
        print(f"{epochs:6d}  {p_norm:.3f}  {q_norm:.3f}  {r_users:14.3f}  {r_items:14.3f}")


if __name__ == "__main__":
    main()
