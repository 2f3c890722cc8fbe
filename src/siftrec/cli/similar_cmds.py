"""``siftrec similar``: the items most similar to given items, by a saved model's own measure."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import numpy as np
import typer

from siftrec.cli.common import guard_outputs, handle_errors, load_model_dir, stderr
from siftrec.cli.model_cmds import known_ids
from siftrec.data.readers import read_id_list
from siftrec.data.writers import write_frame


@handle_errors
def similar_command(
    model_dir: Annotated[Path, typer.Argument(help="Model directory written by `siftrec fit`.")],
    items: Annotated[
        str,
        typer.Option(
            "--items",
            help="Comma-separated item ids (a,b,c), or a file of item ids (one per line or a "
            "CSV with an item column).",
        ),
    ],
    k: Annotated[int, typer.Option("-k", "--k", help="Similar items per item.")] = 10,
    out: Annotated[
        Path, typer.Option("--out", help="item,similar_item,rank,score: .parquet|CSV")
    ] = Path("similar.csv"),
) -> None:
    """Write the K items most similar to each given item (raw ids; rank 1 = most similar; the
    item itself excluded).

    Similarity is the model's: cosine of the item factors (mf, gmf, neumf, lightgcn, ials,
    multvae, multdae) or the item-item weights (itemknn, ease). Ids unknown to the model are
    skipped with a warning; none known is an error.
    """
    source = Path(items)
    from_file = source.is_file()
    guard_outputs(
        {"--out": out}, {"--items": source if from_file else None}, {"MODEL_DIR": model_dir}
    )
    model = load_model_dir(model_dir)
    if from_file:
        raw = read_id_list(source, "item")
    else:
        raw = np.array([part.strip() for part in items.split(",") if part.strip()])
    index = known_ids(model.item_map_, raw, source if from_file else Path("--items"))
    similar, scores = model.similar_items(index, k)
    _write_similar(model, index, similar, scores, out)
    stderr.print(f"wrote {out} ({len(index):,} items × top {k})", highlight=False)


def _write_similar(
    model, items: np.ndarray, similar: np.ndarray, scores: np.ndarray, out: Path
) -> None:
    """The file of ``Recommender.similar_items_raw``: item, similar_item, rank, score."""
    import polars as pl  # lazy: slow to import; CLI start-up time

    from siftrec.models.base import ranked_columns  # lazy: the model layer loads on demand

    columns = ranked_columns(model.item_map_, items, model.item_map_, similar, scores)
    frame = pl.DataFrame(
        {
            "item": columns["user"],
            "similar_item": columns["item"],
            "rank": columns["rank"],
            "score": columns["score"],
        }
    )
    write_frame(frame, out)
