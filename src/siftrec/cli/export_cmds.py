"""``siftrec export``: factors, id maps and optionally top-K of a fitted model, as files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from siftrec.cli.common import guard_outputs, handle_errors, load_model_dir, status, stderr


@handle_errors
def export_command(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `siftrec fit`.")],
    out: Annotated[
        Path, typer.Option("--out", help="Directory to write (new, empty or an export).")
    ],
    top_k: Annotated[
        int | None,
        typer.Option("--top-k", help="Also write topk.parquet: the top K of every training user."),
    ] = None,
    include_seen: Annotated[
        bool, typer.Option("--include-seen", help="Do not exclude training items from top-K.")
    ] = False,
    block_size: Annotated[int, typer.Option(help="Users scored and written per block.")] = 4096,
    ann: Annotated[
        str | None, typer.Option(help="Also write an ANN index: faiss (items.faiss).")
    ] = None,
) -> None:
    """Export a model for precomputed or external serving: ids.npz, users/items.parquet,
    factors.npz (dot-product models), topk.parquet (--top-k, streamed in user blocks),
    items.faiss (--ann faiss); written atomically, with export.json describing them."""
    # lazy: loads torch through the models; only this command needs it
    from siftrec.serve.export import export_model

    guard_outputs({}, model_dirs={"MODEL_DIR": model_dir}, directories={"--out": out})
    model = load_model_dir(model_dir)
    with status("Exporting"):
        meta = export_model(
            model,
            out,
            top_k=top_k,
            exclude_seen=not include_seen,
            block_users=block_size,
            ann=ann,
        )
    stderr.print(f"wrote {out} ({', '.join(meta['files'])})", highlight=False)
