"""How much memory this process may still allocate, and a guard that refuses work that won't fit.

Machine-wide free memory is not what a process can use: ``ulimit -v`` caps its address space
and a container's cgroup caps its resident memory, and allocating past either fails with a bare
``MemoryError`` (or an OOM kill) long after the user could have been told. :func:`memory_limit`
takes the smallest headroom of the three sources that apply here; :func:`require_memory` turns
an estimate that exceeds it into a one-line :class:`~siftrec.errors.SiftrecError`.

Each source is read by a small function that takes its file paths, so tests can fake them.
"""

from __future__ import annotations

import resource
import sys
from collections.abc import Mapping
from pathlib import Path

from siftrec.errors import SiftrecError

#: cgroup v1 reports "no limit" as a huge page-aligned number (2^63 rounded down).
_UNLIMITED = 2**62

AVAILABLE = "available memory"
ADDRESS_SPACE = "address-space limit"
CGROUP = "cgroup limit"


def available_memory(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    """``MemAvailable`` in bytes (what the kernel can give without swapping); None if unknown."""
    try:
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def address_space_headroom(
    soft_limit: int | None = None, status: Path = Path("/proc/self/status")
) -> int | None:
    """Bytes the address space may still grow: the ``RLIMIT_AS`` soft limit (``ulimit -v``,
    read when ``soft_limit`` is None) minus the current ``VmSize``; None when unlimited."""
    if soft_limit is None:
        soft_limit = resource.getrlimit(resource.RLIMIT_AS)[0]
    if soft_limit == resource.RLIM_INFINITY or soft_limit < 0:
        return None
    used = 0
    try:
        for line in status.read_text().splitlines():
            if line.startswith("VmSize:"):
                used = int(line.split()[1]) * 1024
                break
    except (OSError, ValueError, IndexError):
        pass
    return max(0, soft_limit - used)


def cgroup_headroom(
    cgroup: Path = Path("/proc/self/cgroup"), mountinfo: Path = Path("/proc/self/mountinfo")
) -> int | None:
    """Bytes the process's memory cgroup may still charge; None when no limit applies.

    Finds the process's cgroup (``cgroup``) under the mounted hierarchies (``mountinfo``) and
    walks up to the mount point, since a parent's limit binds its children too. v2: ``memory.max``
    minus ``memory.current``; v1: ``memory.limit_in_bytes`` minus ``memory.usage_in_bytes``.
    """
    try:
        memberships = cgroup.read_text().splitlines()
        mounts = mountinfo.read_text().splitlines()
    except OSError:
        return None
    headrooms = []
    for version, mount_point, mount_root in _cgroup_mounts(mounts):
        for line in memberships:
            parts = line.split(":", 2)
            if len(parts) != 3:
                continue
            v2 = parts[0] == "0" and parts[1] == ""
            if (version == 2) != v2 or (version == 1 and "memory" not in parts[1].split(",")):
                continue
            headroom = _hierarchy_headroom(version, mount_point, mount_root, parts[2])
            if headroom is not None:
                headrooms.append(headroom)
    return min(headrooms) if headrooms else None


def _cgroup_mounts(mountinfo: list[str]) -> list[tuple[int, Path, str]]:
    """(version, mount point, cgroup root) of the cgroup2 mount and the v1 memory mount."""
    found = []
    for line in mountinfo:
        fields, _, tail = line.partition(" - ")
        fields, tail = fields.split(), tail.split()
        if len(fields) < 5 or len(tail) < 3:
            continue
        if tail[0] == "cgroup2":
            found.append((2, Path(fields[4]), fields[3]))
        elif tail[0] == "cgroup" and "memory" in tail[2].split(","):
            found.append((1, Path(fields[4]), fields[3]))
    return found


def _hierarchy_headroom(version: int, mount_point: Path, mount_root: str, path: str) -> int | None:
    """Smallest limit-minus-usage from the process's cgroup directory up to the mount point."""
    relative = path
    if mount_root != "/" and (path == mount_root or path.startswith(mount_root + "/")):
        relative = path[len(mount_root) :]
    directory = mount_point / relative.lstrip("/")
    if not directory.is_dir():  # a cgroup namespace hides the path: the mount is our cgroup
        directory = mount_point
    limit_file, usage_file = (
        ("memory.max", "memory.current")
        if version == 2
        else ("memory.limit_in_bytes", "memory.usage_in_bytes")
    )
    headrooms = []
    while True:
        limit = _read_bytes(directory / limit_file)
        if limit is not None and limit < _UNLIMITED:
            headrooms.append(max(0, limit - (_read_bytes(directory / usage_file) or 0)))
        if directory == mount_point or mount_point not in directory.parents:
            break
        directory = directory.parent
    return min(headrooms) if headrooms else None


def _read_bytes(path: Path) -> int | None:
    """An integer byte count from a cgroup file; None when absent or ``max``."""
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def memory_limits() -> dict[str, int]:
    """Each known limit on this process's further allocations, in bytes, by name."""
    limits = {
        AVAILABLE: available_memory(),
        ADDRESS_SPACE: address_space_headroom(),
        CGROUP: cgroup_headroom(),
    }
    return {name: value for name, value in limits.items() if value is not None}


def memory_limit() -> int:
    """Bytes this process may still allocate: the smallest of available memory, the
    address-space headroom and the cgroup headroom (``sys.maxsize`` when none is known)."""
    return min(memory_limits().values(), default=sys.maxsize)


def format_bytes(nbytes: float) -> str:
    """``14.4 GB``-style size with decimal units, as ``df -H`` and file managers show them."""
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(nbytes) < 1000 or unit == "TB":
            return f"{nbytes:.0f} {unit}" if unit == "B" else f"{nbytes:.1f} {unit}"
        nbytes /= 1000
    raise AssertionError("unreachable")


def require_memory(
    nbytes: int,
    what: str,
    alternative: str,
    *,
    detail: str | None = None,
    limits: Mapping[str, int] | None = None,
) -> None:
    """Raise a one-line SiftrecError when ``nbytes`` exceed the tightest memory limit.

    ``what`` names the work ("EASE on 60,000 items"), ``detail`` what the bytes are for, and
    ``alternative`` what the user can do instead. ``limits`` replaces :func:`memory_limits`
    (e.g. free GPU memory for work on a GPU).
    """
    limits = memory_limits() if limits is None else limits
    if not limits:
        return
    name, limit = min(limits.items(), key=lambda item: item[1])
    if nbytes <= limit:
        return
    why = f" ({detail})" if detail else ""
    raise SiftrecError(
        f"{what} needs ~{format_bytes(nbytes)}{why} but the process may use "
        f"{format_bytes(limit)} ({name}); {alternative}"
    )


#: Bytes per (user, item) score of a dense scoring block: the float32 block itself and one
#: temporary as large (a model's float64 or read-only scores converted, a sparse product
#: densified).
SCORE_BYTES = 8


def require_score_block(
    rows: int, n_items: int, *, limits: Mapping[str, int] | None = None
) -> None:
    """Refuse scoring ``rows`` users at once over ``n_items`` items when the dense score block
    (:data:`SCORE_BYTES` per entry) would not fit, naming a batch size that would.

    Recommending and evaluating score users in blocks of ``batch_size`` rows × every item; on a
    large catalog a default batch can need more memory than the process may use.
    """
    limits = memory_limits() if limits is None else limits
    fit = min(limits.values(), default=sys.maxsize) // max(1, n_items * SCORE_BYTES)
    if fit >= 1:
        alternative = f"use a smaller batch_size (at most {fit:,} users fit)"
    else:
        alternative = "the catalog is too large to score densely; keep fewer items (k_core)"
    require_memory(
        rows * n_items * SCORE_BYTES,
        f"scoring {rows:,} users × {n_items:,} items",
        alternative,
        detail="a dense float32 score block and one temporary",
        limits=limits,
    )
