"""Split manifests: fingerprints, and refusing a part that does not belong to its split."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.data.manifest import check_split_part, fingerprint_file
from siftrec.data.readers import read_interactions
from siftrec.data.splits import split_interactions


def log() -> Interactions:
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(30), 8)
    return Interactions.from_raw(users, rng.integers(0, 40, len(users)))


@pytest.fixture
def two_splits(tmp_path) -> tuple[Path, Path]:
    """The same log split with seed 1 (``a``, with validation) and seed 2 (``b``)."""
    split_interactions(log(), "random", seed=1, validation_ratio=0.1).save(tmp_path / "a")
    split_interactions(log(), "random", seed=2).save(tmp_path / "b")
    return tmp_path / "a", tmp_path / "b"


def test_fingerprint_is_the_sha256_of_the_bytes(tmp_path):
    path = tmp_path / "f.bin"
    path.write_bytes(bytes(range(256)) * 9000)  # more than one read chunk
    assert fingerprint_file(path) == "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_part_from_another_split_is_refused(two_splits):
    a, b = two_splits
    shutil.copyfile(b / "test.csv", a / "test.csv")  # what an interrupted older writer left
    with pytest.raises(SiftrecError) as error:
        read_interactions(a / "test.csv")
    message = str(error.value)
    assert "\n" not in message
    assert "does not belong to the split described by" in message
    assert "siftrec split" in message
    for name in ("train", "validation"):  # its siblings are still fine
        assert len(read_interactions(a / f"{name}.csv")) > 0


def test_an_unlisted_part_is_refused(two_splits):
    a, b = two_splits
    shutil.copyfile(a / "validation.csv", b / "validation.csv")
    with pytest.raises(SiftrecError, match="not listed there"):
        read_interactions(b / "validation.csv")
    with pytest.raises(SiftrecError, match="not listed there"):
        check_split_part(b / "train.parquet")


def test_manifests_without_fingerprints_are_accepted(two_splits):
    a, b = two_splits
    manifest = json.loads((a / "manifest.json").read_text())
    del manifest["fingerprints"], manifest["split_id"]
    (a / "manifest.json").write_text(json.dumps(manifest))
    shutil.copyfile(b / "test.csv", a / "test.csv")
    read_interactions(a / "test.csv")


def test_files_beside_other_manifests_or_not_named_like_parts_are_read(tmp_path, two_splits):
    a, _ = two_splits
    shutil.copyfile(a / "train.csv", a / "train_clean.csv")
    read_interactions(a / "train_clean.csv")
    web = tmp_path / "web"
    web.mkdir()
    (web / "manifest.json").write_text('{"name": "my app", "files": {"train": "x.csv"}}')
    shutil.copyfile(a / "train.csv", web / "train.csv")
    read_interactions(web / "train.csv")
    (web / "manifest.json").write_text("not json")
    read_interactions(web / "train.csv")
