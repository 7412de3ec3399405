"""Short exclusive locks shared by threads and processes of one host (POSIX flock).

Every directory of a FileDirDict tree that sees a mutation gets a hidden folder
of at most ``STRIPES`` lock files; a file name hashes to one of them. Locking by
the target's own directory (not by the store) means two stores opened on
overlapping paths (a store and its subdict, say) use the same lock for a key.
"""

from __future__ import annotations

import fcntl
import os
import zlib

__all__ = ["LOCK_DIR", "STRIPES", "acquire", "release"]

LOCK_DIR = ".#locks"
"""Hidden folder of lock files; '#' is not a key character, so no key can collide."""

STRIPES = 64
"""Lock files per directory: bounds the files left behind, keeps contention low."""

_OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC


def _open(path: str) -> int:
    try:
        return os.open(path, _OPEN_FLAGS, 0o666)
    except PermissionError:
        # Someone else's lock file: flock works on a read-only descriptor too.
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)


def acquire(dirpath: str, name: str) -> int:
    """Lock the stripe of ``name`` in ``dirpath`` (which must exist); return the handle.

    The lock lives on the open file description, so threads of one process
    exclude each other as well as processes do.
    """
    # crc32, not hash(): the stripe must be the same in every process.
    path = f"{dirpath}/{LOCK_DIR}/{zlib.crc32(name.encode()) % STRIPES:02x}"
    try:
        fd = _open(path)
    except FileNotFoundError:
        try:
            os.mkdir(f"{dirpath}/{LOCK_DIR}")
        except FileExistsError:
            pass
        fd = _open(path)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
    except BaseException:
        os.close(fd)
        raise
    return fd


def release(fd: int) -> None:
    """Release a lock taken by :func:`acquire` (closing drops the flock)."""
    os.close(fd)
