"""Atomic file and directory writes: readers never observe a half-written output.

* :func:`atomic_path` writes a file beside its target and renames it over the target.
* :func:`atomic_directory` builds a complete directory beside its target, then swaps it in: on
  Linux by an atomic exchange (``renameat2(RENAME_EXCHANGE)``), so the path always holds the old
  or the new directory; elsewhere by two renames (a kill between them leaves a backup that the
  next write restores). It replaces only a directory that siftrec wrote (recognised by its marker
  file, e.g. ``model.json``) or an empty one, and carries the other files it finds in the old
  directory into the new one.
* Temporary names carry the writer's pid: ``.NAME.<pid>.<random>.tmp`` and ``.NAME.<pid>.old``.
  Each write to a target first removes such leftovers of writers that are no longer running and
  restores a backup whose target is missing; it reports what it did with a
  :class:`LeftoverWarning`.
* Output modes follow the umask (files ``0o666 & ~umask``, directories ``0o777 & ~umask``), and
  data is fsynced before the rename, so a completed write survives a power loss too.

docs/reliability.md states these guarantees for users.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import functools
import hashlib
import json
import os
import re
import secrets
import shutil
import sys
import warnings
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path

from siftrec.errors import SiftrecError


class LeftoverWarning(UserWarning):
    """A write found files left by an interrupted earlier write and removed or restored them."""


@dataclass(frozen=True)
class DirectoryKind:
    """A kind of directory siftrec writes, recognised by a JSON marker file holding ``keys``."""

    description: str
    marker: str
    keys: tuple[str, ...]


MODEL_DIRECTORY = DirectoryKind("siftrec model directory", "model.json", ("model", "params"))


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; rename it onto ``target`` only on success."""
    shown = target
    target = Path(os.path.abspath(target))
    if target.is_dir():
        raise SiftrecError(f"cannot write {shown}: it is a directory; give a file path")
    _prepare_parent(target, shown)
    clean_leftovers(target)
    tmp = _make_temp(target, shown, directory=False)
    try:
        yield tmp
        _fsync(tmp)
        os.replace(tmp, target)
        _fsync(target.parent, directory=True)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def check_directory_target(
    target: str | os.PathLike[str], kind: DirectoryKind = MODEL_DIRECTORY
) -> Path:
    """Refuse a ``target`` that siftrec may not replace; return its absolute path.

    A missing path, an empty directory and a directory holding ``kind``'s marker may be written;
    a file, any other directory, and the current directory (or one holding it) are refused.
    Call it before a long computation whose result goes to ``target``.
    """
    shown = target
    path = Path(os.path.abspath(target))
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    if not os.path.lexists(path):
        return path
    refusal = f"refusing to replace {shown}: it exists and is not a {kind.description}"
    if not path.is_dir():
        raise SiftrecError(f"{refusal} (it is a file); choose a new or empty directory")
    try:
        with os.scandir(path) as entries:
            empty = next(entries, None) is None
    except OSError as exc:
        raise SiftrecError(f"cannot read {shown}: {exc.strerror or exc}") from None
    if not empty:
        reason = _marker_problem(path, kind)
        if reason:
            raise SiftrecError(f"{refusal} ({reason}); choose a new or empty directory")
    cwd, real = Path(os.getcwd()), Path(os.path.realpath(path))
    if cwd == real or real in cwd.parents:
        raise SiftrecError(
            f"refusing to replace {shown}: it is or holds the current directory; "
            "choose another directory"
        )
    return path


@contextlib.contextmanager
def atomic_directory(
    target: str | os.PathLike[str],
    kind: DirectoryKind = MODEL_DIRECTORY,
    stale: Collection[str] = (),
) -> Iterator[Path]:
    """Yield a new temporary directory beside ``target``; it replaces ``target`` only on success.

    ``target`` must pass :func:`check_directory_target` (checked again before the swap). Entries
    of the old directory that the new one lacks are carried into it (hard links, copies where
    links fail) unless named in ``stale`` (files siftrec wrote there that the new result drops),
    so nothing the user put there is lost. The old directory is removed only after the new one
    is in place.
    """
    shown = target
    path = Path(os.path.abspath(target))
    if path.is_symlink():
        path = Path(os.path.realpath(path))
    _prepare_parent(path, shown)
    clean_leftovers(path)
    check_directory_target(target, kind)
    tmp = _make_temp(path, shown, directory=True)
    try:
        yield tmp
        _fsync_tree(tmp)
        check_directory_target(target, kind)
        if os.path.lexists(path):
            _carry_over(path, tmp, stale)
            _fsync_tree(tmp, files=False)  # the carried entries; their data is the user's
            _swap(tmp, path)  # the old directory is now at ``tmp``
        else:
            os.rename(tmp, path)
        _fsync(path.parent, directory=True)
    finally:
        if os.path.lexists(tmp):
            shutil.rmtree(tmp, ignore_errors=True)


def write_text(target: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``target`` atomically."""
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def clean_leftovers(target: str | os.PathLike[str]) -> list[str]:
    """Remove leftovers of dead writers to ``target``; restore a backup whose target is missing.

    Only names siftrec gives its temporary entries (``.NAME.<pid>.<random>.tmp``,
    ``.NAME.<pid>.old``) whose pid is no longer running are touched. Returns one note per action,
    also issued as a :class:`LeftoverWarning`.
    """
    target = Path(target)
    stem = re.escape(_stem(target.name))
    pattern = re.compile(rf"\.{stem}\.(\d+)\.(?:[0-9a-f]+\.tmp|(old))")
    prefix = f".{_stem(target.name)}."
    try:
        with os.scandir(target.parent) as entries:
            found = [
                (e.name, pattern.fullmatch(e.name)) for e in entries if e.name.startswith(prefix)
            ]
    except OSError:
        return []
    dead = [(name, m) for name, m in found if m and not _pid_alive(int(m.group(1)))]
    dead.sort(key=lambda pair: pair[1].group(2) is None)  # backups first: one may be restored
    notes = []
    removed = 0
    for name, match in dead:
        leftover = target.parent / name
        if match.group(2) and not os.path.lexists(target):
            try:
                os.rename(leftover, target)
            except OSError:
                continue
            notes.append(
                f"restored {target} from {name}, left by a siftrec write that was interrupted "
                "while swapping in its result"
            )
            continue
        with contextlib.suppress(OSError):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover)
            else:
                leftover.unlink()
            removed += 1
    if removed:
        notes.append(
            f"removed {removed} temporary {'entry' if removed == 1 else 'entries'} left in "
            f"{target.parent} by interrupted siftrec writes to {target.name}"
        )
    for note in notes:
        warnings.warn(note, LeftoverWarning, stacklevel=2)
    return notes


# ---------------------------------------------------------------------- helpers
def _stem(name: str) -> str:
    """``name`` as used in temporary names, shortened so they stay within NAME_MAX."""
    if len(os.fsencode(name)) <= 200:
        return name
    return f"{name[:40]}~{hashlib.sha256(os.fsencode(name)).hexdigest()[:16]}"


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` may still be running (unknown counts as running)."""
    if pid == os.getpid() or os.name == "nt":  # Windows' os.kill(pid, 0) would end the process
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # EPERM: it exists under another user; anything else: assume it runs
        return True
    return True


def _prepare_parent(target: Path, shown: object) -> None:
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise SiftrecError(f"cannot write {shown}: {exc.strerror or exc}") from None


def _make_temp(target: Path, shown: object, directory: bool) -> Path:
    """Create ``.NAME.<pid>.<random>.tmp`` beside ``target`` (mode from the umask)."""
    for _ in range(100):
        tmp = target.parent / f".{_stem(target.name)}.{os.getpid()}.{secrets.token_hex(4)}.tmp"
        try:
            if directory:
                os.mkdir(tmp, 0o777)
            else:
                os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise SiftrecError(f"cannot write {shown}: {exc.strerror or exc}") from None
    raise SiftrecError(f"cannot write {shown}: no free temporary name beside it")


def _marker_problem(directory: Path, kind: DirectoryKind) -> str | None:
    """Why ``directory`` is not a ``kind`` directory, or None when its marker is siftrec's."""
    marker = directory / kind.marker
    if not marker.is_file():
        return f"no {kind.marker}"
    try:
        content = json.loads(marker.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        content = None
    if not isinstance(content, dict) or not all(key in content for key in kind.keys):
        return f"its {kind.marker} was not written by siftrec"
    return None


def _carry_over(old: Path, new: Path, stale: Collection[str]) -> None:
    """Link (or copy) every entry of ``old`` that ``new`` lacks and ``stale`` does not name."""
    with os.scandir(old) as entries:
        for entry in entries:
            destination = new / entry.name
            if entry.name in stale or os.path.lexists(destination):
                continue
            if entry.is_symlink():
                os.symlink(os.readlink(entry.path), destination)
            elif entry.is_dir():
                shutil.copytree(entry.path, destination, symlinks=True, copy_function=_link)
            else:
                _link(entry.path, destination)


def _link(source: str | Path, destination: str | Path) -> None:
    try:
        os.link(source, destination)
    except OSError:
        shutil.copy2(source, destination)


def _swap(new: Path, target: Path) -> None:
    """Put directory ``new`` at ``target``; the old directory ends up at ``new``'s path."""
    if _exchange(new, target):
        return
    backup = target.parent / f".{_stem(target.name)}.{os.getpid()}.old"
    os.rename(target, backup)
    try:
        os.rename(new, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.rename(backup, target)
        raise
    os.rename(backup, new)


def _exchange(first: Path, second: Path) -> bool:
    """Atomically exchange two paths (Linux ``renameat2``); False where that is unavailable."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    if renameat2(at_fdcwd, os.fsencode(first), at_fdcwd, os.fsencode(second), rename_exchange):
        code = ctypes.get_errno()
        if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP):
            return False
        raise OSError(code, os.strerror(code), str(second))
    return True


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    """libc's ``renameat2`` (Linux, glibc ≥ 2.28), or None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_char_p] * 2 + [ctypes.c_uint]
    function.restype = ctypes.c_int
    return function


def _fsync(path: Path, directory: bool = False) -> None:
    """Flush ``path`` to disk (directories: where the platform allows)."""
    flags = os.O_RDONLY | (getattr(os, "O_DIRECTORY", 0) if directory else 0)
    try:
        fd = os.open(path, flags)
    except OSError:
        if directory:
            return
        raise
    try:
        os.fsync(fd)
    except OSError:
        if not directory:
            raise
    finally:
        os.close(fd)


def _fsync_tree(root: Path, files: bool = True) -> None:
    """Flush every directory under ``root`` and, with ``files``, every regular file in them."""
    for folder, _, names in os.walk(root, topdown=False):
        for name in names if files else ():
            if not os.path.islink(os.path.join(folder, name)):
                _fsync(Path(folder, name))
        _fsync(Path(folder), directory=True)
