"""siftrec.serve.export: files round-trip to the model's ids, factors and top-K."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from siftrec import SiftrecError
from siftrec.models import IALS, Recommender
from siftrec.serve.app import create_app
from siftrec.serve.export import export_model
from tests.serve.conftest import small_log


def test_export_round_trip(ials_dir: Path, tmp_path: Path) -> None:
    model = Recommender.load(ials_dir)
    out = tmp_path / "export"
    meta = export_model(model, out, top_k=5, block_users=7, ann="faiss")
    assert json.loads((out / "export.json").read_text()) == meta
    assert set(meta["files"]) == {p.name for p in out.iterdir()}
    ids = np.load(out / "ids.npz")
    np.testing.assert_array_equal(ids["users"], model.user_map_.ids)
    items = pq.read_table(out / "items.parquet").to_pydict()
    assert items["item"] == model.item_map_.ids.tolist()
    assert items["popularity"] == np.asarray(model.seen_.sum(axis=0)).ravel().tolist()
    factors = np.load(out / "factors.npz")
    np.testing.assert_allclose(
        factors["users"] @ factors["items"].T, model.score(np.arange(model.n_users)), atol=1e-5
    )
    top = pq.read_table(out / "topk.parquet")
    assert top.column_names == ["user", "item", "rank", "score"]
    assert top.num_rows == model.n_users * 5
    expected, _ = model.recommend(np.arange(model.n_users), 5)
    got = np.array(top.column("item").to_pylist()).reshape(model.n_users, 5)
    np.testing.assert_array_equal(got, model.item_map_.to_raw(expected))
    assert top.column("user").to_pylist()[:5] == [model.user_map_.ids[0]] * 5

    app = create_app(ials_dir, ann_index=out / "items.faiss")
    assert app.state.holder.service.ann == "faiss"


def test_export_refuses_what_it_cannot_write(
    ease_dir: Path, ials_dir: Path, tmp_path: Path
) -> None:
    with pytest.raises(SiftrecError, match="no ANN index"):
        export_model(Recommender.load(ease_dir), tmp_path / "a", ann="faiss")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("mine")
    with pytest.raises(SiftrecError, match="refusing to replace"):
        export_model(Recommender.load(ials_dir), foreign)
    ease_export = tmp_path / "ease-export"
    meta = export_model(Recommender.load(ease_dir), ease_export, top_k=3)
    assert "factors.npz" not in meta["files"]
    other = IALS(factors=8, iterations=1, seed=0, device="cpu").fit(small_log(seed=1))
    export_model(other, tmp_path / "other", ann="faiss")
    with pytest.raises(SiftrecError, match="another model"):
        create_app(ials_dir, ann_index=tmp_path / "other" / "items.faiss")
