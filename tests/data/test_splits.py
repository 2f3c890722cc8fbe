import hashlib
import json
import os

import numpy as np
import polars as pl
import pytest

import siftrec.data.splits as splits_module
from siftrec import Interactions, SiftrecError
from siftrec.data.splits import (
    SCHEMES,
    LeaveLast,
    RandomHoldout,
    Split,
    StrongGeneralisation,
    TemporalCut,
    scheme_from_manifest,
    split_given,
    split_interactions,
    split_scheme,
)


def log_with_rows(users, items, **columns) -> Interactions:
    """A log whose ``row`` column remembers each interaction's input position."""
    return Interactions.from_raw(
        np.asarray(users), np.asarray(items), columns={"row": np.arange(len(users)), **columns}
    )


def random_log(n_users: int = 40, per_user: int = 10, seed: int = 0) -> Interactions:
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(n_users), per_user)
    items = rng.integers(0, 50, len(users))
    return log_with_rows(users, items, timestamp=rng.integers(0, 10_000, len(users)))


def rows_of(part: Interactions | None) -> np.ndarray:
    return np.sort(part.columns["row"]) if part is not None else np.zeros(0, dtype=np.int64)


def assert_partition(data: Interactions, split: Split) -> None:
    """Parts are disjoint and together hold every input row exactly once."""
    all_rows = np.concatenate([rows_of(p) for p in split.parts().values()])
    np.testing.assert_array_equal(np.sort(all_rows), np.arange(len(data)))


def per_user(part: Interactions, data: Interactions) -> list[int]:
    return np.bincount(part.users, minlength=data.n_users).tolist()


# ---------------------------------------------------------------------- random
def test_random_sizes_per_user():
    counts = [1, 2, 5, 10]
    users = np.repeat(np.arange(len(counts)), counts)
    data = log_with_rows(users, np.arange(len(users)))
    split = split_interactions(data, "random", test_ratio=0.2, validation_ratio=0.2, seed=3)
    assert per_user(split.test, data) == [0, 0, 1, 2]
    assert per_user(split.validation, data) == [0, 0, 1, 2]
    assert per_user(split.train, data) == [1, 2, 3, 6]
    assert_partition(data, split)


def test_random_rounds_half_up_and_keeps_one_in_train():
    data = log_with_rows([0, 1, 1, 1, 1, 1], [0, 0, 1, 2, 3, 4])
    split = split_interactions(data, "random", test_ratio=0.5)
    assert per_user(split.test, data) == [0, 3]  # round(2.5) = 3; the single one stays in train
    assert per_user(split.train, data) == [1, 2]


def test_random_is_seeded():
    data = random_log()
    a = split_interactions(data, "random", seed=1)
    b = split_interactions(data, "random", seed=1)
    c = split_interactions(data, "random", seed=2)
    np.testing.assert_array_equal(rows_of(a.test), rows_of(b.test))
    assert not np.array_equal(rows_of(a.test), rows_of(c.test))
    assert_partition(data, c)


def test_parts_share_the_input_maps():
    data = random_log()
    split = split_interactions(data, "random", validation_ratio=0.1)
    for part in split.parts().values():
        assert part.user_map is data.user_map and part.item_map is data.item_map


# ---------------------------------------------------------------------- leave-last
def test_leave_last_picks_latest_with_row_order_ties():
    #           user 0: ts 5, 1, 3, 3 (rows 0-3)      user 1: two rows
    data = log_with_rows(
        [0, 0, 0, 0, 1, 1], [0, 1, 2, 3, 0, 1], timestamp=np.array([5, 1, 3, 3, 7, 8])
    )
    split = split_interactions(data, "leave-last", k=2, validation_k=1)
    assert rows_of(split.test).tolist() == [0, 3]  # ts 5 and the later row of the tie at 3
    assert rows_of(split.validation).tolist() == [2]
    assert rows_of(split.train).tolist() == [1, 4, 5]  # user 1 has ≤ k interactions
    assert_partition(data, split)


def test_leave_last_validation_needs_enough_interactions():
    data = log_with_rows([0, 0, 0, 1, 1], [0, 1, 2, 0, 1], timestamp=np.arange(5))
    split = split_interactions(data, "leave-last", k=1, validation_k=1)
    assert rows_of(split.test).tolist() == [2, 4]
    assert rows_of(split.validation).tolist() == [1]  # user 1 (2 rows) gives none


def test_leave_last_requires_timestamp():
    data = Interactions.from_raw([0, 0, 1], [0, 1, 0])
    with pytest.raises(SiftrecError, match="timestamp"):
        split_interactions(data, "leave-last")


def test_leave_last_rejects_missing_timestamps():
    data = log_with_rows([0, 0], [0, 1], timestamp=np.array([1.0, np.nan]))
    with pytest.raises(SiftrecError, match="missing"):
        split_interactions(data, "leave-last")


# ---------------------------------------------------------------------- temporal
def temporal_log() -> Interactions:
    ts = np.array([9, 0, 8, 1, 7, 2, 6, 3, 5, 4])  # distinct, shuffled
    return log_with_rows(np.arange(10) % 3, np.arange(10), timestamp=ts)


def test_temporal_fraction_cut():
    data = temporal_log()
    split = split_interactions(data, "temporal", cut=0.3, validation_cut=0.2)
    ts = data.columns["timestamp"]
    assert sorted(ts[rows_of(split.test)]) == [7, 8, 9]
    assert sorted(ts[rows_of(split.validation)]) == [5, 6]
    assert split.manifest["details"] == {"test_from": 7, "validation_from": 5}
    assert_partition(data, split)


def test_temporal_defaults_to_ratios():
    split = split_interactions(temporal_log(), "temporal", test_ratio=0.2, validation_ratio=0.1)
    assert len(split.test) == 2 and len(split.validation) == 1


@pytest.mark.parametrize("cut", [6, "6", "1970-01-01T00:00:06", "1970-01-01T01:00:06+01:00"])
def test_temporal_point_cut_on_seconds(cut):
    split = split_interactions(temporal_log(), "temporal", cut=cut, validation_cut=4)
    assert sorted(split.test.columns["timestamp"]) == [6, 7, 8, 9]
    assert sorted(split.validation.columns["timestamp"]) == [4, 5]


def test_temporal_date_cut_on_datetime_column():
    days = np.datetime64("2024-01-01") + np.arange(10).astype("timedelta64[D]")
    data = log_with_rows(np.zeros(10, dtype=int), np.arange(10), timestamp=days[::-1])
    split = split_interactions(data, "temporal", cut="2024-01-08")
    assert sorted(split.test.columns["timestamp"].astype(str)) == [
        "2024-01-08",
        "2024-01-09",
        "2024-01-10",
    ]
    assert split.manifest["details"]["test_from"] == "2024-01-08"


def test_temporal_ties_follow_row_order():
    data = log_with_rows([0, 1, 2, 3], [0, 1, 2, 3], timestamp=np.array([1, 1, 1, 1]))
    split = split_interactions(data, "temporal", cut=0.5)
    assert rows_of(split.test).tolist() == [2, 3]


@pytest.mark.parametrize(
    ("cut", "validation_cut", "message"),
    [
        ("yesterday", None, "ISO date"),
        (1.5, None, "fraction"),
        (5, 7, "not be later"),
        (0.6, 0.5, "below 1"),
        (100, None, "empty"),
    ],
)
def test_temporal_bad_cuts(cut, validation_cut, message):
    with pytest.raises(SiftrecError, match=message):
        split_interactions(temporal_log(), "temporal", cut=cut, validation_cut=validation_cut)


# ---------------------------------------------------------------------- strong
def test_strong_holds_out_whole_users():
    data = random_log(n_users=20, per_user=10)
    split = split_interactions(data, "strong", heldout_users=4, validation_ratio=0.1, seed=5)
    test_users = set(split.test_fold_in.users.tolist())
    val_users = set(split.validation_fold_in.users.tolist())
    train_users = set(split.train.users.tolist())
    assert len(test_users) == len(val_users) == 4 and len(train_users) == 12
    assert not (test_users & train_users) and not (val_users & train_users)
    assert not (test_users & val_users)
    assert set(split.test.users.tolist()) == test_users
    assert per_user(split.test, data).count(2) == 4  # ⌊0.2·10⌋ target items each
    assert per_user(split.test_fold_in, data).count(8) == 4
    assert_partition(data, split)
    assert split.manifest["counts"]["test"]["users_not_in_train"] == 4


def test_strong_fraction_and_small_users():
    users = np.repeat(np.arange(10), [4] * 5 + [10] * 5)
    data = log_with_rows(users, np.arange(len(users)) % 7)
    split = split_interactions(data, "strong", heldout_users=0.5, seed=0)
    held = np.unique(split.test_fold_in.users)
    assert len(held) == 5 and split.validation is None
    counts = data.user_counts()
    target = per_user(split.test, data)
    for user in held:  # users with 4 interactions have no target: ⌊0.2·4⌋ = 0
        assert target[user] == (2 if counts[user] == 10 else 0)


def test_strong_is_seeded():
    data = random_log()
    a = split_interactions(data, "strong", seed=0)
    b = split_interactions(data, "strong", seed=0)
    c = split_interactions(data, "strong", seed=1)
    np.testing.assert_array_equal(rows_of(a.test_fold_in), rows_of(b.test_fold_in))
    assert not np.array_equal(rows_of(a.test_fold_in), rows_of(c.test_fold_in))


# ---------------------------------------------------------------------- given
def test_given_reindexes_onto_shared_maps():
    train = Interactions.from_raw(["a", "b", "b"], ["x", "y", "z"])
    validation = Interactions.from_raw(["c"], ["x"])
    test = Interactions.from_raw(["b", "d"], ["w", "y"])
    split = split_given(train, test, validation)
    assert split.train.user_map.ids.tolist() == ["a", "b", "c", "d"]
    assert split.train.item_map.ids.tolist() == ["x", "y", "z", "w"]
    for part in split.parts().values():
        assert part.user_map is split.train.user_map and part.item_map is split.train.item_map
    assert split.test.raw_users().tolist() == ["b", "d"]
    assert split.test.raw_items().tolist() == ["w", "y"]
    counts = split.manifest["counts"]
    assert counts["test"] == {
        "rows": 2,
        "users": 2,
        "items": 2,
        "users_not_in_train": 1,
        "items_not_in_train": 1,
    }
    assert split.manifest["scheme"] == "given" and counts["validation"]["rows"] == 1


def test_given_rejects_mixed_id_kinds_and_empty_parts():
    train = Interactions.from_raw([1, 2], [1, 2])
    with pytest.raises(SiftrecError, match="string user ids"):
        split_given(train, Interactions.from_raw(["x"], [1]))
    empty = Interactions.from_raw(np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    with pytest.raises(SiftrecError, match="test part is empty"):
        split_given(train, empty)


# ---------------------------------------------------------------------- errors
@pytest.mark.parametrize(
    ("scheme", "params", "message"),
    [
        ("random", {"test_ratio": 1.0}, "test_ratio"),
        ("random", {"test_ratio": -0.1}, "test_ratio"),
        ("random", {"test_ratio": 0.5, "validation_ratio": 0.5}, "below 1"),
        ("leave-last", {"k": 0}, "k must be"),
        ("leave-last", {"validation_k": -1}, "validation_k"),
        ("nope", {}, "unknown split scheme"),
        ("given", {}, "split_given"),
        ("strong", {"heldout_users": 20}, "leaves none"),
        ("strong", {"heldout_users": 1.5}, "heldout_users"),
        ("strong", {"fold_in_ratio": 1.0}, "fold_in_ratio"),
        ("random", {"seed": 1.5}, "seed"),
        ("random", {"test_ratio": 0.0}, "test part empty"),
    ],
)
def test_invalid_parameters(scheme, params, message):
    data = random_log(n_users=20, per_user=5)
    with pytest.raises(SiftrecError, match=message) as info:
        split_interactions(data, scheme, **params)
    assert "\n" not in str(info.value)


def test_empty_data_is_an_error():
    data = Interactions.from_raw(np.zeros(0, dtype=int), np.zeros(0, dtype=int))
    with pytest.raises(SiftrecError, match="empty"):
        split_interactions(data)


def test_schemes_listed():
    assert SCHEMES == ("random", "leave-last", "temporal", "strong", "given")


# ---------------------------------------------------------------------- manifest and save
WITH_VALIDATION = {
    "random": {"validation_ratio": 0.1},
    "leave-last": {"validation_k": 1},
    "temporal": {"validation_ratio": 0.1},
    "strong": {"validation_ratio": 0.1},
}


@pytest.mark.parametrize("scheme", ["random", "leave-last", "temporal", "strong"])
def test_manifest_reproduces_the_split(scheme):
    data = random_log()
    split = split_interactions(data, scheme, seed=7, **WITH_VALIDATION[scheme])
    manifest = json.loads(json.dumps(split.manifest))
    assert manifest["scheme"] == scheme and manifest["seed"] == 7
    assert manifest["input"] == {"rows": 400, "users": 40, "items": 50}
    for name, part in split.parts().items():
        assert manifest["counts"][name]["rows"] == len(part)
    again = split_interactions(data, scheme, seed=manifest["seed"], **manifest["parameters"])
    for name, part in split.parts().items():
        np.testing.assert_array_equal(rows_of(part), rows_of(again.parts()[name]))


# ---------------------------------------------------------------------- scheme objects
@pytest.mark.parametrize(
    ("scheme", "options", "recorded"),
    [
        ("random", {"test_ratio": 0.3}, {"test_ratio": 0.3, "validation_ratio": 0.0}),
        ("leave-last", {"k": 2}, {"k": 2, "validation_k": 0}),
        (
            "temporal",
            {"cut": 0.3},
            {"cut": 0.3, "validation_cut": None, "test_ratio": 0.2, "validation_ratio": 0.0},
        ),
        (
            "strong",
            {"heldout_users": 4},
            {"heldout_users": 4, "validation_ratio": 0.0, "fold_in_ratio": 0.8},
        ),
    ],
)
def test_manifest_records_only_the_schemes_own_options(scheme, options, recorded):
    split = split_interactions(random_log(), scheme, seed=1, **options)
    assert split.manifest["parameters"] == recorded


@pytest.mark.parametrize(
    ("scheme", "foreign"),
    [
        ("random", {"k": 2}),
        ("leave-last", {"test_ratio": 0.1}),
        ("temporal", {"heldout_users": 3}),
        ("strong", {"cut": 0.5}),
        ("random", {"tset_ratio": 0.1}),
    ],
)
def test_an_option_the_scheme_does_not_use_is_refused(scheme, foreign):
    (name,) = foreign
    with pytest.raises(SiftrecError, match=f"the {scheme} split does not use {name}") as info:
        split_interactions(random_log(), scheme, **foreign)
    assert "its options:" in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    ("scheme", "options", "obj"),
    [
        ("random", {"test_ratio": 0.3}, RandomHoldout(test_ratio=0.3)),
        ("leave-last", {"k": 2, "validation_k": 1}, LeaveLast(k=2, validation_k=1)),
        ("temporal", {"cut": 0.3}, TemporalCut(cut=0.3)),
        ("strong", {"heldout_users": 4}, StrongGeneralisation(heldout_users=4)),
    ],
)
def test_a_scheme_object_splits_as_its_name_and_options(scheme, options, obj):
    data = random_log()
    assert split_scheme(scheme, **options) == obj and obj.name == scheme
    by_name = split_interactions(data, scheme, seed=2, **options)
    by_object = split_interactions(data, obj, seed=2)
    assert by_object.manifest == by_name.manifest
    for name, part in by_name.parts().items():
        np.testing.assert_array_equal(rows_of(part), rows_of(by_object.parts()[name]))
    with pytest.raises(SiftrecError, match="to the object"):
        split_interactions(data, obj, test_ratio=0.1)


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (lambda: RandomHoldout(test_ratio=1.0), "test_ratio"),
        (lambda: RandomHoldout(0.6, 0.4), "below 1"),
        (lambda: LeaveLast(k=0), "k must be"),
        (lambda: TemporalCut(cut="yesterday"), "ISO date"),
        (lambda: TemporalCut(cut=0.6, validation_cut=0.5), "below 1"),
        (lambda: StrongGeneralisation(heldout_users=-2), "heldout_users"),
        (lambda: StrongGeneralisation(fold_in_ratio=0), "fold_in_ratio"),
    ],
)
def test_scheme_objects_check_their_options_when_built(build, message):
    with pytest.raises(SiftrecError, match=message) as info:
        build()
    assert "\n" not in str(info.value)


def test_a_manifest_recording_every_option_still_reproduces_its_split():
    data = random_log()
    split = split_interactions(data, "leave-last", seed=3, k=2, validation_k=1)
    old_style = {  # manifests of earlier versions recorded the options of every scheme
        **split.manifest,
        "parameters": {
            "test_ratio": 0.2,
            "validation_ratio": 0.0,
            "k": 2,
            "validation_k": 1,
            "cut": None,
            "validation_cut": None,
            "heldout_users": 0.1,
            "fold_in_ratio": 0.8,
        },
    }
    assert scheme_from_manifest(old_style) == LeaveLast(k=2, validation_k=1)
    again = split_interactions(data, scheme_from_manifest(old_style), seed=old_style["seed"])
    for name, part in split.parts().items():
        np.testing.assert_array_equal(rows_of(part), rows_of(again.parts()[name]))
    with pytest.raises(SiftrecError, match="reproducible"):
        scheme_from_manifest({"scheme": "given", "parameters": {}})


def string_id_split() -> Split:
    data = Interactions.from_raw(
        ["u1", "u1", "u1", "u2", "u2", "u2"],
        ["i1", "i2", "i3", "i1", "i2", "i4"],
        columns={"timestamp": np.array([1, 2, 3, 1, 2, 3])},
    )
    return split_interactions(data, "leave-last")


def test_save_csv_with_raw_ids(tmp_path):
    split = string_id_split()
    split.save(tmp_path / "out")
    names = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert names == ["manifest.json", "test.csv", "train.csv"]
    test = pl.read_csv(tmp_path / "out" / "test.csv", infer_schema=False)
    assert test.columns == ["user", "item", "timestamp"]  # no weight column: all weights 1
    assert test.rows() == [("u1", "i3", "3"), ("u2", "i4", "3")]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["files"] == {"train": "train.csv", "test": "test.csv"}
    assert manifest["scheme"] == "leave-last" and manifest["counts"]["train"]["rows"] == 4
    assert manifest["siftrec_version"]


def test_save_parquet_with_weights(tmp_path):
    data = Interactions.from_raw([1, 1, 1, 2, 2, 2], [1, 2, 3, 1, 2, 3], weights=[1, 2, 1, 1, 1, 1])
    split = split_interactions(data, "strong", heldout_users=1, fold_in_ratio=0.5)
    split.save(tmp_path, write_format="parquet")
    assert {p.name for p in tmp_path.iterdir()} == {
        "manifest.json",
        "train.parquet",
        "test.parquet",
        "test_fold_in.parquet",
    }
    frames = [pl.read_parquet(tmp_path / f"{name}.parquet") for name in split.parts()]
    assert all(frame.columns == ["user", "item", "weight"] for frame in frames)
    assert sum(frame.height for frame in frames) == 6


def test_resave_replaces_the_split_and_carries_other_files(tmp_path):
    data = random_log(n_users=5, per_user=6)
    split_interactions(data, "random", validation_ratio=0.2).save(tmp_path)
    assert (tmp_path / "validation.csv").exists()
    (tmp_path / "notes.txt").write_text("keep me")
    inode = (tmp_path / "notes.txt").stat().st_ino
    split_interactions(data, "random").save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "manifest.json",
        "notes.txt",
        "test.csv",
        "train.csv",
    ]
    assert (tmp_path / "notes.txt").read_text() == "keep me"
    assert (tmp_path / "notes.txt").stat().st_ino == inode  # carried as a hard link


def test_resave_swaps_the_folder_in_one_step(tmp_path):
    data = random_log(n_users=5, per_user=6)
    out = tmp_path / "out"
    split_interactions(data, "random", seed=1).save(out)
    old_folder = out.stat().st_ino
    split_interactions(data, "random", seed=2).save(out)
    assert out.stat().st_ino != old_folder  # a new folder, not parts replaced one by one
    assert json.loads((out / "manifest.json").read_text())["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_save_refuses_a_folder_that_is_not_a_split_folder(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "log.csv").write_text("user,item\n1,2\n")
    (tmp_path / "web").mkdir()
    (tmp_path / "web" / "manifest.json").write_text('{"name": "my app"}')
    split = string_id_split()
    with pytest.raises(SiftrecError, match=r"not a siftrec split folder \(no manifest.json\)"):
        split.save(tmp_path / "data")
    with pytest.raises(SiftrecError, match="not a siftrec split folder"):
        split.save(tmp_path / "web")
    assert sorted(p.name for p in (tmp_path / "data").iterdir()) == ["log.csv"]
    assert (tmp_path / "web" / "manifest.json").read_text() == '{"name": "my app"}'
    (tmp_path / "log.csv").write_text("user,item\n1,2\n")
    with pytest.raises(SiftrecError, match="it is a file"):
        split.save(tmp_path / "log.csv")
    assert (tmp_path / "log.csv").read_text() == "user,item\n1,2\n"


def test_manifest_fingerprints_every_part(tmp_path):
    data = random_log()
    split_interactions(data, "random", seed=3).save(tmp_path / "a")
    split_interactions(data, "random", seed=3).save(tmp_path / "b", write_format="parquet")
    split_interactions(data, "random", seed=4).save(tmp_path / "c")
    manifests = {d: json.loads((tmp_path / d / "manifest.json").read_text()) for d in "abc"}
    a = manifests["a"]
    assert set(a["fingerprints"]) == {"train", "test"}
    for name, file in a["files"].items():
        digest = hashlib.sha256((tmp_path / "a" / file).read_bytes()).hexdigest()
        assert a["fingerprints"][name] == f"sha256:{digest}"
    again = split_interactions(data, "random", seed=3)
    again.save(tmp_path / "a")  # the same split written again has the same id
    assert json.loads((tmp_path / "a" / "manifest.json").read_text())["split_id"] == a["split_id"]
    assert len({m["split_id"] for m in manifests.values()}) == 3


def test_split_files_follow_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        string_id_split().save(tmp_path / "out")
    finally:
        os.umask(old)
    assert (tmp_path / "out").stat().st_mode & 0o777 == 0o750
    assert {p.stat().st_mode & 0o777 for p in (tmp_path / "out").iterdir()} == {0o640}


def test_failed_save_leaves_nothing(tmp_path, monkeypatch):
    split = split_interactions(random_log(), "random")
    real = splits_module.write_interactions

    def fail_on_test(part, path, *args):
        if path.name.startswith("test"):
            raise OSError("disk full")
        return real(part, path, *args)

    monkeypatch.setattr(splits_module, "write_interactions", fail_on_test)
    with pytest.raises(OSError):
        split.save(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_save_rejects_unknown_format(tmp_path):
    with pytest.raises(SiftrecError, match="format"):
        string_id_split().save(tmp_path, write_format="xlsx")
