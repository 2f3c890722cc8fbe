"""Per-cell lock files: two runs on one run directory never run the same cell at once.

A cell is run only by the process holding ``RUN_DIR/locks/<cell_id>.lock``. The lock is an
exclusive ``fcntl.flock`` on that file, which the kernel drops when its holder exits, however it
exits: a crashed or killed worker never leaves a cell locked. The holder's pid is written into
the file for whoever looks. Lock files are removed when released.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


@contextmanager
def cell_lock(directory: Path, name: str) -> Iterator[bool]:
    """Hold the lock ``directory/<name>.lock`` for the ``with`` block; yields whether it was
    taken (False: another live process holds it, and nothing waits for it)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}.lock"
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            yield False
            return
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:  # the holder before us removed the file as we opened it
            same = False
        if same:
            break
        os.close(fd)  # we locked a file already unlinked by its last holder: lock the new one
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield True
    finally:
        path.unlink(missing_ok=True)
        os.close(fd)
