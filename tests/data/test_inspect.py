import json

import numpy as np

from siftrec import Interactions
from siftrec.data.ids import IdMap
from siftrec.data.inspect import describe, format_description
from siftrec.data.readers import read_interactions


def small_log() -> Interactions:
    # user a: 3 rows (one repeated pair), b: 1 row; item x: 3 rows, y: 1; user c has none.
    return Interactions.from_raw(
        np.array(["a", "a", "b", "a"]),
        np.array(["x", "y", "x", "x"]),
        weights=[1.0, 2.0, 1.0, 4.0],
        columns={
            "is_noise": np.array([False, True, False, False]),
            "timestamp": np.array([30, 10, 20, 40]),
        },
        user_map=IdMap(np.array(["a", "b", "c"])),
    )


def test_describe_counts():
    stats = describe(small_log())
    assert stats["interactions"] == 4
    assert (stats["users"], stats["items"]) == (3, 2)
    assert (stats["active_users"], stats["active_items"]) == (2, 2)
    assert stats["density"] == 4 / 6
    assert stats["duplicate_pairs"] == 1
    assert stats["per_user"]["min"] == 1 and stats["per_user"]["max"] == 3
    assert stats["per_user"]["50%"] == 2.0 and stats["per_user"]["mean"] == 2.0
    assert stats["per_item"]["25%"] == 1.5
    assert list(stats["per_user"]) == ["min", "25%", "50%", "75%", "90%", "max", "mean"]
    assert stats["weights"] == {"min": 1.0, "max": 4.0, "mean": 2.0}
    assert stats["columns"] == ["is_noise", "timestamp"]
    assert stats["noise_share"] == 0.25
    assert stats["timestamp_range"] == [10, 40]
    json.dumps(stats)  # plain Python values only


def test_describe_plain_log_has_no_optional_stats():
    stats = describe(Interactions.from_raw([1, 2], [1, 1]))
    assert stats["weights"] is None and stats["noise_share"] is None
    assert stats["timestamp_range"] is None and stats["columns"] == []
    text = format_description(stats)
    assert "all 1" in text and "noise" not in text and "timestamps" not in text


def test_describe_empty_log():
    empty = Interactions.from_raw(np.array([], dtype=np.int64), np.array([], dtype=np.int64))
    stats = describe(empty)
    assert stats["interactions"] == 0 and stats["per_user"]["max"] == 0.0
    assert "interactions" in format_description(stats)


def test_format_description_lines():
    text = format_description(describe(small_log()))
    lines = text.splitlines()
    assert lines[0].split() == ["interactions", "4"]
    assert "3 (2 with interactions)" in lines[1]
    assert any(line.startswith("duplicate pairs") and line.endswith(" 1") for line in lines)
    assert "min 1 · 25% 1.5 · 50% 2 · 75% 2.5 · 90% 2.8 · max 3" in text
    assert "25.00% flagged is_noise" in text
    assert "10 .. 40" in text


def test_describe_real_ml100k(shared_data):
    stats = describe(read_interactions(shared_data / "ml-100k" / "u.data.gz"))
    assert (stats["interactions"], stats["users"], stats["items"]) == (100_000, 943, 1_682)
    assert stats["per_user"]["min"] == 20  # every ML-100K user has ≥ 20 ratings
    assert stats["timestamp_range"] == [874724710, 893286638]
    assert stats["duplicate_pairs"] == 0
