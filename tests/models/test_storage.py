import io
import json
import struct
import zipfile

import numpy as np
import pytest
import scipy.sparse as sp

from siftrec import SiftrecError, resources
from siftrec.models import EASE, Popularity, load_model
from siftrec.models.storage import read_npz
from siftrec.testing import contract_log as contract_data


@pytest.fixture
def saved(tmp_path):
    """A small saved Popularity model directory (60 users, 40 items)."""
    return Popularity().fit(contract_data()).save(tmp_path / "m")


def _npy(shape: tuple[int, ...], descr: str, payload: bytes) -> bytes:
    """A .npy member whose header declares ``shape``/``descr``, followed by ``payload``."""
    out = io.BytesIO()
    header = {"descr": descr, "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(out, header)
    return out.getvalue() + payload


def _write_zip(path, members: dict[str, bytes], compression=zipfile.ZIP_STORED) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in members.items():
            archive.writestr(name + ".npy", data)


def test_crafted_member_declaring_gigabytes_is_refused_before_allocating(saved):
    path = saved / "arrays.npz"
    _write_zip(path, {"x": _npy((10**9,), "<f4", bytes(4_000_000))})
    assert 4_000_000 < path.stat().st_size < 4_100_000
    with pytest.raises(SiftrecError) as err:
        load_model(saved)
    assert str(err.value) == (
        f"corrupt model file {path}: member 'x' declares 4.0 GB but the file holds 4.0 MB"
    )


def test_compressed_member_whose_directory_lies_about_its_size(saved):
    """The zip directory claims 4 GB uncompressed for 1 MB of DEFLATE data: impossible."""
    path = saved / "arrays.npz"
    # A legitimately compressed arrays.npz loads (seen.npz is always compressed).
    scores = Popularity().fit(contract_data()).score([0, 1])
    np.savez_compressed(path, item_scores=np.load(path)["item_scores"])
    np.testing.assert_array_equal(load_model(saved).score([0, 1]), scores)
    member = _npy((10**9,), "<f4", bytes(1_000_000))
    _write_zip(path, {"x": member}, zipfile.ZIP_DEFLATED)
    raw = bytearray(path.read_bytes())
    central = raw.index(b"PK\x01\x02")
    header_size = len(member) - 1_000_000
    raw[central + 24 : central + 28] = struct.pack("<I", header_size + 4 * 10**9)
    path.write_bytes(bytes(raw))
    with pytest.raises(SiftrecError, match=r"member 'x' declares 4\.0 GB but the file holds .* kB"):
        load_model(saved)


def test_object_arrays_are_refused(saved):
    path = saved / "arrays.npz"
    out = io.BytesIO()
    np.save(out, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    _write_zip(path, {"item_scores": out.getvalue()})
    with pytest.raises(SiftrecError, match=r"member 'item_scores' has dtype object.*never Python"):
        load_model(saved)


def test_truncated_archive(saved):
    path = saved / "seen.npz"
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    message = rf"^corrupt or truncated model file {path}: not a complete zip archive$"
    with pytest.raises(SiftrecError, match=message):
        load_model(saved)


def test_corrupted_member_data(saved):
    path = saved / "ids.npz"
    raw = bytearray(path.read_bytes())
    raw[-200] ^= 0xFF  # inside the last member's data: a CRC mismatch
    path.write_bytes(bytes(raw))
    with pytest.raises(SiftrecError, match=rf"^corrupt or truncated model file {path}"):
        load_model(saved)


def test_missing_file_and_missing_state_member(tmp_path, saved):
    (saved / "seen.npz").unlink()
    with pytest.raises(SiftrecError, match=rf"^incomplete model directory {saved}: seen.npz"):
        load_model(saved)
    ease = EASE(l2=10.0).fit(contract_data()).save(tmp_path / "ease")
    np.savez(ease / "arrays.npz", other=np.zeros(3))
    with pytest.raises(SiftrecError, match=r"arrays\.npz: member 'B' is missing$"):
        load_model(ease)


def test_ids_must_match_the_shapes_in_model_json(saved):
    meta = json.loads((saved / "model.json").read_text())
    meta["n_users"] += 1
    (saved / "model.json").write_text(json.dumps(meta))
    with pytest.raises(SiftrecError, match=r"member 'users' has shape \(60,\) .* \(61,\)"):
        load_model(saved)


def test_seen_matrix_must_match_model_json_and_be_well_formed(saved):
    path = saved / "seen.npz"
    sp.save_npz(path, sp.csr_matrix((60, 41), dtype=np.float32))
    with pytest.raises(SiftrecError, match=r"has shape \(60, 41\) but model.json says \(60, 40\)"):
        load_model(saved)
    bad = sp.csr_matrix(([1.0], [39], [0, 1] + [1] * 59), shape=(60, 40))
    bad.indices[0] = 4000  # an item index past the catalog
    sp.save_npz(path, bad, compressed=False)
    with pytest.raises(
        SiftrecError, match=rf"corrupt model file {path}: malformed .*indices must be < 40"
    ):
        load_model(saved)


def test_state_larger_than_the_memory_limit(saved, monkeypatch):
    np.savez(saved / "arrays.npz", item_scores=np.zeros(40), extra=np.zeros(1_000_000))
    monkeypatch.setattr(resources, "memory_limits", lambda: {"address-space limit": 10**6})
    with pytest.raises(SiftrecError, match=r"arrays\.npz needs ~8\.0 MB .*\(address-space limit\)"):
        load_model(saved)


def test_read_npz_requires_named_members(tmp_path):
    path = tmp_path / "a.npz"
    np.savez(path, users=np.arange(3))
    assert read_npz(path, {"users": (None,)})["users"].tolist() == [0, 1, 2]
    with pytest.raises(SiftrecError, match="member 'items' is missing"):
        read_npz(path, {"items": (3,)})
