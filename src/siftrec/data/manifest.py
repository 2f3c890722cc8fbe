"""Split manifests: fingerprints of the part files, and the check that a part belongs to its split.

``Split.save`` writes ``manifest.json`` beside the parts with ``files`` (part name → file name),
``fingerprints`` (part name → ``sha256:<hex>`` of the file's bytes) and ``split_id`` (a digest of
all fingerprints). :func:`check_split_part` runs at the start of every ``read_interactions``: a
file with a split manifest beside it must be listed there with a matching fingerprint, so a part
left over from another split (another seed, an interrupted older writer, a hand copy) is refused
instead of silently evaluated against the wrong siblings.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from siftrec.errors import SiftrecError

#: Part names of a split, in the order they are written and reported.
PART_NAMES = ("train", "validation", "test", "validation_fold_in", "test_fold_in")

MANIFEST_NAME = "manifest.json"

_CHUNK = 1 << 20


def fingerprint_file(path: str | Path) -> str:
    """``sha256:<hex>`` of the file's bytes, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while chunk := file.read(_CHUNK):
            digest.update(chunk)
    return f"sha256:{digest.hexdigest()}"


def split_id(fingerprints: dict[str, str]) -> str:
    """A short id of a split: a digest of its parts' names and fingerprints."""
    text = json.dumps(sorted(fingerprints.items()))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def read_split_manifest(directory: str | Path) -> dict | None:
    """The siftrec split manifest in ``directory``, or None when there is none (or not ours)."""
    try:
        manifest = json.loads((Path(directory) / MANIFEST_NAME).read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if (
        isinstance(manifest, dict)
        and "scheme" in manifest
        and isinstance(manifest.get("files"), dict)
    ):
        return manifest
    return None


def looks_like_part(name: str) -> bool:
    """Whether ``name`` is a part file name such as ``train.csv`` or ``test_fold_in.parquet``."""
    return name.split(".", 1)[0] in PART_NAMES and "." in name


def check_split_part(path: str | Path) -> None:
    """Refuse a split part that does not belong to the split its folder's manifest describes.

    Does nothing unless a siftrec ``manifest.json`` sits beside ``path``. A listed part must
    match its recorded fingerprint (manifests without fingerprints, from older versions, are
    accepted); an unlisted file named like a part is refused.
    """
    path = Path(path)
    manifest = read_split_manifest(path.parent)
    if manifest is None:
        return
    where = path.parent / MANIFEST_NAME
    advice = "re-run `siftrec split` to rebuild the folder"
    parts = {file: part for part, file in manifest["files"].items()}
    if path.name not in parts:
        if looks_like_part(path.name):
            raise SiftrecError(
                f"{path} does not belong to the split described by {where} (not listed there); "
                f"it is left over from another split: {advice}"
            )
        return
    fingerprints = manifest.get("fingerprints")
    expected = fingerprints.get(parts[path.name]) if isinstance(fingerprints, dict) else None
    if expected is None:
        return
    if fingerprint_file(path) != expected:
        raise SiftrecError(
            f"{path} does not belong to the split described by {where} (its content differs "
            f"from the fingerprint recorded there): {advice}"
        )
