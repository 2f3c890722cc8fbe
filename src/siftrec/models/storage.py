"""Safe reading of the ``.npz`` archives of a saved model.

``np.load`` trusts each member's ``.npy`` header: a crafted archive of a few megabytes can
declare a multi-gigabyte array, which numpy allocates before finding the data missing. Here every
member is checked before any is read: its header must describe a plain numeric or string array
(never Python objects), the size it declares must equal the uncompressed size the zip directory
records, the member must lie inside the file, and a compressed member may not claim more than
DEFLATE can expand (about 1032:1). Shapes are checked against what ``model.json`` says and the
total against the memory this process may use (:func:`siftrec.resources.require_memory`).
Every failure is a one-line :class:`~siftrec.errors.SiftrecError` naming the file.
"""

from __future__ import annotations

import math
import zipfile
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import numpy as np
import scipy.sparse as sp

from siftrec.errors import SiftrecError
from siftrec.resources import format_bytes, require_memory

#: DEFLATE's best case is ~1032:1; a member claiming more than this (plus slack for tiny
#: members) cannot be a valid archive.
_MAX_DEFLATE_RATIO = 1032
_RATIO_SLACK = 64 * 1024

#: Array kinds a model file may hold: booleans, integers, floats, complex, bytes and str.
_KINDS = "biufcSU"

#: What an expected shape may say about a dimension: its size, or None for any size.
Shape = tuple[int | None, ...]


@dataclass(frozen=True)
class Member:
    """One array of an archive, as its header declares it."""

    name: str
    shape: tuple[int, ...]
    dtype: np.dtype
    nbytes: int
    info: zipfile.ZipInfo


def read_npz(path: Path, shapes: Mapping[str, Shape] | None = None) -> dict[str, np.ndarray]:
    """The arrays of the model file ``path``, checked as the module docstring says.

    ``shapes`` names members that must be present with these shapes (None: any size on that
    axis); their sizes come from ``model.json``, so a mismatch means a corrupt model directory.
    """
    if not path.is_file():
        raise SiftrecError(f"incomplete model directory {path.parent}: {path.name} is missing")
    try:
        with zipfile.ZipFile(path) as archive:
            members = _inspect(path, archive)
            _check_shapes(path, members, shapes or {})
            total = sum(member.nbytes for member in members.values())
            require_memory(
                total,
                f"loading {path}",
                "free memory or load the model on a larger machine",
                detail=f"{len(members)} arrays",
            )
            return {name: _read(path, archive, member) for name, member in members.items()}
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, zlib.error) as exc:
        reason = str(exc)
        if reason == "File is not a zip file":  # the zip directory at the end is missing
            reason = "not a complete zip archive"
        raise SiftrecError(f"corrupt or truncated model file {path}: {reason}") from None
    except OSError as exc:
        raise SiftrecError(f"cannot read model file {path}: {exc.strerror or exc}") from None


def read_sparse(path: Path, shape: tuple[int, int]) -> sp.csr_matrix:
    """The CSR matrix written by ``scipy.sparse.save_npz`` to ``path``, which must be ``shape``."""
    arrays = read_npz(
        path, {"format": (), "shape": (2,), "data": (None,), "indices": (None,), "indptr": (None,)}
    )
    kind = arrays["format"].item()
    kind = kind.decode("ascii", "replace") if isinstance(kind, bytes) else str(kind)
    stored = tuple(int(v) for v in arrays["shape"])
    if stored != tuple(shape):
        raise SiftrecError(
            f"corrupt model file {path}: the matrix has shape {stored} but model.json says {shape}"
        )
    if kind not in ("csr", "csc"):
        raise SiftrecError(f"corrupt model file {path}: unsupported sparse format {kind!r}")
    cls = sp.csr_matrix if kind == "csr" else sp.csc_matrix
    try:
        matrix = cls((arrays["data"], arrays["indices"], arrays["indptr"]), shape=stored)
        matrix.check_format(full_check=True)
    except ValueError as exc:
        raise SiftrecError(f"corrupt model file {path}: malformed sparse matrix ({exc})") from None
    return matrix.tocsr()


def _inspect(path: Path, archive: zipfile.ZipFile) -> dict[str, Member]:
    """Every member's declared array, refusing any that cannot be what siftrec wrote."""
    file_size = path.stat().st_size
    members = {}
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise SiftrecError(f"corrupt model file {path}: unexpected member {info.filename!r}")
        name = info.filename.removesuffix(".npy")
        if info.header_offset + info.compress_size > file_size:
            raise SiftrecError(
                f"corrupt or truncated model file {path}: member {name!r} extends past the "
                f"end of the file ({format_bytes(file_size)})"
            )
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise SiftrecError(
                f"corrupt model file {path}: member {name!r} uses a compression siftrec "
                f"does not write (zip method {info.compress_type})"
            )
        with archive.open(info) as stream:
            shape, dtype, header_size = _header(path, name, stream)
        nbytes = math.prod(shape) * dtype.itemsize
        holds = info.file_size - header_size
        if nbytes != holds:
            raise SiftrecError(
                f"corrupt model file {path}: member {name!r} declares {format_bytes(nbytes)} "
                f"but the file holds {format_bytes(max(holds, 0))}"
            )
        stored = info.compress_type == zipfile.ZIP_STORED
        if (stored and info.compress_size != info.file_size) or (
            info.file_size > _MAX_DEFLATE_RATIO * info.compress_size + _RATIO_SLACK
        ):
            raise SiftrecError(
                f"corrupt model file {path}: member {name!r} declares {format_bytes(nbytes)} "
                f"but the file holds {format_bytes(info.compress_size)}"
                + ("" if stored else " compressed, more than DEFLATE can expand")
            )
        members[name] = Member(name, shape, dtype, nbytes, info)
    return members


def _header(path: Path, name: str, stream: IO[bytes]) -> tuple[tuple[int, ...], np.dtype, int]:
    """Shape, dtype and header length of the ``.npy`` member ``name`` (reads only its header)."""
    fmt = np.lib.format
    try:
        version = fmt.read_magic(stream)
        if version == (1, 0):
            shape, _, dtype = fmt.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, _, dtype = fmt.read_array_header_2_0(stream)
        else:
            raise ValueError(f"unsupported .npy format version {version[0]}.{version[1]}")
    except ValueError as exc:
        raise SiftrecError(f"corrupt model file {path}: member {name!r}: {exc}") from None
    if dtype.hasobject or dtype.fields is not None or dtype.kind not in _KINDS:
        raise SiftrecError(
            f"corrupt model file {path}: member {name!r} has dtype {dtype}; siftrec model "
            "files hold only numeric and string arrays (never Python objects)"
        )
    if any(dim < 0 for dim in shape):
        raise SiftrecError(f"corrupt model file {path}: member {name!r} has shape {shape}")
    return tuple(shape), dtype, stream.tell()


def _check_shapes(path: Path, members: Mapping[str, Member], shapes: Mapping[str, Shape]) -> None:
    """Every expected member is present with the expected shape."""
    for name, expected in shapes.items():
        if name not in members:
            raise SiftrecError(f"corrupt model file {path}: member {name!r} is missing")
        shape = members[name].shape
        if len(shape) != len(expected) or any(
            want is not None and have != want for have, want in zip(shape, expected, strict=False)
        ):
            wanted = tuple("any" if want is None else want for want in expected)
            raise SiftrecError(
                f"corrupt model file {path}: member {name!r} has shape {shape} but model.json "
                f"implies {wanted}"
            )


def _read(path: Path, archive: zipfile.ZipFile, member: Member) -> np.ndarray:
    """Read one checked member (a CRC or length mismatch surfaces here)."""
    with archive.open(member.info) as stream:
        try:
            return np.lib.format.read_array(stream, allow_pickle=False)
        except ValueError as exc:
            raise SiftrecError(
                f"corrupt or truncated model file {path}: member {member.name!r}: {exc}"
            ) from None
