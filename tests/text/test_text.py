"""Item texts, user profiles, the offline encoders and the embedding cache."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.text import (
    EmbeddingCache,
    ItemText,
    TfidfSvdEncoder,
    build_text_features,
    get_encoder,
    movielens_item_text,
    read_item_text,
    user_profiles,
)

TEXTS = [
    "Star Wars. Genres: Action, Sci-Fi",
    "Alien. Genres: Horror, Sci-Fi",
    "Toy Story. Genres: Animation, Children's, Comedy",
    "Aladdin. Genres: Animation, Children's, Musical",
    "Heat. Genres: Action, Crime, Thriller",
    "Fargo. Genres: Crime, Drama, Thriller",
]


def test_read_item_text_maps_raw_ids_to_training_items(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text('item,text,extra\n10,"Heat, 1995",x\n30,Fargo,y\n99,Unknown,z\n')
    item_text = read_item_text(path)
    train = Interactions.from_raw([1, 1, 2], [30, 10, 20])
    texts, known = item_text.for_items(train.item_map)
    assert texts == ["Fargo", "Heat, 1995", ""]
    assert known.tolist() == [True, True, False]


def test_item_text_string_ids_match_integer_training_ids() -> None:
    train = Interactions.from_raw([1, 2], [5, 7])
    texts, known = ItemText(np.array(["7", "x"]), ["seven", "ex"]).for_items(train.item_map)
    assert texts == ["", "seven"] and known.tolist() == [False, True]


def test_read_item_text_names_a_missing_column(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("item,title\n1,a\n")
    with pytest.raises(SiftrecError, match="no 'text' column"):
        read_item_text(path)
    with pytest.raises(SiftrecError, match="does not exist"):
        read_item_text(tmp_path / "nope.csv")
    with pytest.raises(SiftrecError, match="more than once"):
        ItemText(np.array([1, 1]), ["a", "b"])


def test_movielens_titles_and_genres(shared_data: Path) -> None:
    item_text = movielens_item_text(shared_data / "ml-100k")
    assert len(item_text.ids) == 1682
    assert item_text.texts[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy"


def test_profiles_use_the_most_recent_training_items_only() -> None:
    train = Interactions.from_raw(
        [0, 0, 0, 1],
        [0, 1, 2, 3],
        columns={"timestamp": np.array([5, 9, 7, 1])},
    )
    texts = ["a", "b", "c", "d"]
    assert user_profiles(train, texts, max_items=2) == [
        "Interacted with: b; c",
        "Interacted with: d",
    ]
    with pytest.raises(SiftrecError, match="max_items"):
        user_profiles(train, texts, max_items=0)


def test_tfidf_encoder_is_deterministic_normalised_and_semantic() -> None:
    first = TfidfSvdEncoder(dim=4, seed=3).fit(TEXTS)
    second = TfidfSvdEncoder(dim=4, seed=3).fit(TEXTS)
    vectors = first.encode([*TEXTS, ""])
    assert first.fingerprint == second.fingerprint
    np.testing.assert_array_equal(vectors, second.encode([*TEXTS, ""]))
    assert vectors.shape == (7, 4) and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors[:6], axis=1), 1.0, rtol=1e-5)
    assert not vectors[6].any()  # an empty text is a zero row
    sims = vectors[:6] @ vectors[:6].T
    assert sims[2, 3] > sims[2, 0]  # two animated films are closer than animation vs sci-fi
    assert sims[4, 5] > sims[4, 2]


def test_encoder_specs_and_errors() -> None:
    assert get_encoder("tfidf:8").fit(TEXTS).dim <= 8
    with pytest.raises(SiftrecError, match="unknown text encoder"):
        get_encoder("bert")
    with pytest.raises(SiftrecError, match="not fitted"):
        TfidfSvdEncoder().encode(["x"])


class CountingEncoder(TfidfSvdEncoder):
    def __init__(self) -> None:
        super().__init__(dim=3)
        self.encoded: list[str] = []

    def encode(self, texts):
        self.encoded += list(texts)
        return super().encode(texts)


def test_cache_encodes_each_distinct_text_once(tmp_path: Path) -> None:
    encoder = CountingEncoder().fit(TEXTS)
    cache = EmbeddingCache(tmp_path)
    first = cache.embed(encoder, TEXTS[:3] + TEXTS[:1])
    assert encoder.encoded == TEXTS[:3] and (cache.hits, cache.misses) == (0, 4)
    again = EmbeddingCache(tmp_path)  # a new process reads the file
    second = again.embed(encoder, [TEXTS[1], TEXTS[4], TEXTS[0]])
    assert encoder.encoded == [*TEXTS[:3], TEXTS[4]]
    assert (again.hits, again.misses) == (2, 1)
    np.testing.assert_array_equal(second[[0, 2]], first[[1, 0]])
    np.testing.assert_array_equal(second[1], encoder.encode([TEXTS[4]])[0])
    assert [p.name for p in tmp_path.iterdir()] == [f"{encoder.fingerprint}.npz"]


def test_features_mark_nodes_without_text_and_shuffle_rows(tmp_path: Path) -> None:
    train = Interactions.from_raw([0, 0, 1, 2], [0, 1, 1, 9])
    item_text = ItemText(np.arange(6), TEXTS)
    features = build_text_features(train, item_text, "tfidf:4", cache=tmp_path)
    assert features.item_mask.tolist() == [True, True, False]
    assert features.user_mask.tolist() == [True, True, False]
    assert not features.items[2].any() and not features.users[2].any()
    shuffled = features.shuffled(seed=1)
    assert sorted(map(tuple, shuffled.items.tolist())) == sorted(
        map(tuple, features.items.tolist())
    )
    with pytest.raises(SiftrecError, match="none of the training items"):
        build_text_features(train, ItemText(np.array([77]), ["x"]), cache=tmp_path)


def test_static_encoder_when_installed() -> None:
    pytest.importorskip("static_model")
    encoder = get_encoder("static")
    vectors = encoder.encode([*TEXTS[:3], ""])
    assert vectors.shape == (4, 64) and not vectors[3].any()
    np.testing.assert_allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, rtol=1e-4)
