"""FileDirDict: one file per key in a directory tree on a local disk.

A key ("a", "b") of a ``pkl`` store lives in ``base_dir/a_XXXX/b_XXXX.pkl``
where ``_XXXX`` is a short digest of the component (so that keys differing
only in case stay apart on case-insensitive file systems).

Writes go to a temporary file in the target directory, which is then renamed
over the target: readers see the old value or the new one, never a mix.
Mutations of one key are serialised by a short flock (see ``_filelock``), so
conditional operations are atomic across threads and processes of one host.
Each blocking operation is one function, run with one ``run_io`` call.
"""

from __future__ import annotations

import base64
import ctypes
import errno
import hashlib
import os
import random
import socket
import stat
import sys
import threading
import time
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Generator
from contextlib import aclosing
from functools import lru_cache
from typing import Any, ClassVar, Self, TypeVar

from . import _filelock
from ._io import run_io
from .base import Expect, Mutation, PersiDict, Record, _absent, _etag_of
from .errors import BackendError
from .flags import ITEM_NOT_AVAILABLE, ItemNotAvailableFlag
from .keys import _SAFE_COMPONENT, NonEmptySafeStrTuple, SafeStrTuple, trusted_key

__all__ = ["FileDirDict"]

V = TypeVar("V")

_NAME_MAX = 255
_MAX_DIGEST_LEN = 26  # significant characters of base32(md5)
_TEMP_PREFIX = ".#tmp."
# Temporary file names carry the writer's host and pid, so a scan can tell at once
# that a temporary file's writer died (a crash) instead of waiting for it to age.
_HOST_TAG = hashlib.md5(socket.gethostname().encode()).hexdigest()[:8]
_HIDDEN_PREFIX = ".#"  # temp files and the lock folder: '#' never appears in a key
_SCAN_BATCH = 1024  # entries fetched per worker-thread hop while iterating
_FIRST_READ = 1 << 16  # most values fit in one read; larger ones take more

_READ_FLAGS = os.O_RDONLY | os.O_CLOEXEC | os.O_NONBLOCK  # NONBLOCK: a stray FIFO must not hang
_TEMP_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_CLOEXEC | getattr(os, "O_DIRECTORY", 0)


@lru_cache(maxsize=1 << 16)
def _signed(component: str, digest_len: int) -> str:
    if not digest_len:
        return component
    digest = base64.b32encode(hashlib.md5(component.encode()).digest()).decode()
    return f"{component}_{digest[:digest_len].lower()}"


@lru_cache(maxsize=1 << 16)
def _unsigned(name: str, digest_len: int) -> str | None:
    """The key component stored under a file or folder name, None for foreign names."""
    if digest_len:
        component = name[: -digest_len - 1]
        if not component or _signed(component, digest_len) != name:
            return None
    else:
        component = name
    if not _SAFE_COMPONENT.fullmatch(component) or component in (".", ".."):
        return None
    return component


# Modification times are set from this process-wide, strictly increasing clock.
# The kernel's file clock ticks only every few ms and inodes are reused, so
# (mtime, inode, size) alone could repeat an earlier ETag of the same key.
_ns_lock = threading.Lock()
_last_ns = 0


def _unique_ns() -> int:
    global _last_ns
    now = time.time_ns()
    with _ns_lock:
        if now <= _last_ns:
            now = _last_ns + 1
        _last_ns = now
    return now


def _etag(st: os.stat_result) -> str:
    # %-formatting: half the cost of an f-string with format specs (every read pays it).
    return "%x-%x-%x" % (st.st_mtime_ns, st.st_ino, st.st_size)  # noqa: UP031


def _current_etag(path: str) -> str | ItemNotAvailableFlag:
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        return ITEM_NOT_AVAILABLE
    return _etag(st) if stat.S_ISREG(st.st_mode) else ITEM_NOT_AVAILABLE


Decide = Callable[[Record | None], bool]


def _expectation(expect: Expect) -> Decide | None:
    """The decision that a primitive's ``expect`` stands for (None: unconditional)."""
    if expect is None:
        return None
    if expect is ITEM_NOT_AVAILABLE:
        return _absent
    return lambda record: record is not None and record.etag == expect


def _load_renameat2() -> Any:
    if not sys.platform.startswith("linux"):
        return None
    try:
        fn = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_renameat2 = _load_renameat2()
_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_NO_EXCHANGE = {errno.ENOENT, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EXDEV}


def _exchange(tmp: str, path: str) -> bool:
    """Swap ``tmp`` and an existing ``path`` atomically; False if that cannot be done.

    Replacing an existing file by rename makes ext4 flush the new file's data
    at once (its auto_da_alloc safeguard), which roughly doubles the cost of a
    non-durable overwrite; an exchange followed by unlinking the old file does not.
    """
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(tmp), _AT_FDCWD, os.fsencode(path), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _NO_EXCHANGE:
        return False  # no such target (use rename), or the file system cannot exchange
    raise OSError(err, os.strerror(err), path)


def _drop_old(tmp: str, path: str) -> None:
    """Remove the previous value, now at ``tmp`` after an exchange."""
    try:
        os.unlink(tmp)
    except IsADirectoryError:
        # The target was a folder, not a value: undo the swap and fail like rename does.
        _exchange(tmp, path)
        raise
    except OSError:
        pass  # left for the stale temporary file cleanup


def _writer_is_gone(name: str) -> bool:
    """Whether a temporary file's writer was a process of this host that no longer runs."""
    parts = name[len(_TEMP_PREFIX) :].split(".")
    if len(parts) != 3 or parts[0] != _HOST_TAG:
        return False  # another host's (or an older naming): only its age tells
    try:
        pid = int(parts[1], 16)
    except ValueError:
        return False
    if pid <= 1 or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except OSError:
        return False  # it exists (someone else's process)
    return False


def _fsync_dir(dirpath: str) -> None:
    fd = os.open(dirpath, _DIR_FLAGS)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileDirDict(PersiDict[V]):
    """A persistent dict storing each value in its own file under ``base_dir``.

    Args:
        base_dir: Root folder of the store (created if missing).
        serialization_format: "pkl", "json", or any other name for UTF-8 text;
            also the files' extension. Files of other formats are ignored.
        append_only: Refuse overwrites and deletions.
        digest_len: Characters of the digest suffix added to every path
            component (0 disables the suffix).
        base_class_for_values: Values must be instances of it.
        ttl: Seconds a written value lives (see :class:`PersiDict`).
        signing_key: Sign and check every value (see :class:`PersiDict`).
        durable: fsync each file and its folder so a written value survives a
            power loss. False skips the fsyncs (faster; fine for caches): a crash
            may then lose recent writes, but never leaves a partial value.
    """

    _backend_name: ClassVar[str] = "files"
    STALE_TEMP_SECONDS: ClassVar[float] = 600.0
    """Temporary files older than this are a crashed writer's; scans remove them.

    Those of a writer process of this host that no longer runs are removed at once.
    """

    def __init__(
        self,
        *,
        base_dir: str | os.PathLike[str] = "__file_dir_dict__",
        serialization_format: str = "pkl",
        append_only: bool = False,
        digest_len: int = 4,
        base_class_for_values: type | None = None,
        ttl: float | None = None,
        signing_key: bytes | str | None = None,
        durable: bool = True,
    ) -> None:
        if isinstance(digest_len, bool) or not isinstance(digest_len, int):
            raise TypeError(f"digest_len must be an int, got {digest_len!r}")
        if not 0 <= digest_len <= _MAX_DIGEST_LEN:
            raise ValueError(f"digest_len must be between 0 and {_MAX_DIGEST_LEN}, got {digest_len}")
        if not isinstance(durable, bool):
            raise TypeError(f"durable must be a bool, got {durable!r}")
        if isinstance(serialization_format, str):
            # A file name is the component, its digest suffix and the extension.
            limit = _NAME_MAX - (digest_len + 1 if digest_len else 0) - 1 - len(serialization_format)
            if limit < 1:
                raise ValueError(f"serialization_format {serialization_format!r} is too long")
            self._component_limit = limit  # type: ignore[misc]  # depends on the instance
        super().__init__(
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
            ttl=ttl,
            signing_key=signing_key,
        )
        path = os.fspath(base_dir)
        if not isinstance(path, str) or not path:
            raise TypeError(f"base_dir must be a non-empty str or path, got {base_dir!r}")
        self.base_dir = os.path.abspath(path)
        self.digest_len = digest_len
        self.durable = durable
        self._ext = "." + serialization_format
        try:
            os.makedirs(self.base_dir, exist_ok=True)
        except OSError as exc:
            raise BackendError(
                f"cannot use {self.base_dir!r} as the folder of a FileDirDict: {exc}",
                backend=self._backend_name,
                operation="open",
            ) from exc

    def _param_dict(self) -> dict[str, Any]:
        return {
            **super()._param_dict(),
            "base_dir": self.base_dir,
            "digest_len": self.digest_len,
            "durable": self.durable,
        }

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        params = self._param_dict()
        params["base_dir"] = "/".join([self.base_dir, *(_signed(c, self.digest_len) for c in prefix)])
        return type(self)(**params)

    # ------------------------------------------------------------------ paths and errors

    def _locate(self, key: NonEmptySafeStrTuple) -> tuple[str, str]:
        """The folder and the file name of ``key``."""
        n = self.digest_len
        if len(key) == 1:
            return self.base_dir, _signed(key[0], n) + self._ext
        parts = [_signed(c, n) for c in key]
        return "/".join([self.base_dir, *parts[:-1]]), parts[-1] + self._ext

    def _failure(self, operation: str, key: NonEmptySafeStrTuple, exc: OSError) -> BackendError:
        error = BackendError(
            f"FileDirDict could not {operation} key {key!r} under {self.base_dir!r}: "
            f"{type(exc).__name__}: {exc}",
            backend=self._backend_name,
            operation=operation,
            key=key,
        )
        error.errno = exc.errno  # type: ignore[attr-defined]  # lets callers test ENOSPC etc.
        return error

    def _make_dirs(self, dirpath: str) -> None:
        missing = []
        path = dirpath
        while not os.path.isdir(path):
            missing.append(path)
            parent = os.path.dirname(path)
            if parent == path:
                break
            path = parent
        for path in reversed(missing):
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            if self.durable:
                _fsync_dir(os.path.dirname(path))

    def _create_temp(self, dirpath: str) -> tuple[str, int]:
        made_dirs = False
        while True:
            tmp = f"{dirpath}/{_TEMP_PREFIX}{_HOST_TAG}.{os.getpid():x}.{random.getrandbits(64):016x}"
            try:
                return tmp, os.open(tmp, _TEMP_FLAGS, 0o666)
            except FileExistsError:
                continue
            except FileNotFoundError:
                if made_dirs:
                    raise
                self._make_dirs(dirpath)
                made_dirs = True

    # ------------------------------------------------------------------ blocking operations

    def _read_file(
        self, key: NonEmptySafeStrTuple, path: str, if_none_match: str | None
    ) -> Record | None:
        if if_none_match is not None:
            # Revalidating a cached copy: one stat answers "unchanged" without opening the file.
            current = self._stat_file(key, path)
            if current is None or current.etag == if_none_match:
                return current
        try:
            fd = os.open(path, _READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._failure("read", key, exc) from exc
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                return None
            etag = _etag(st)
            size = st.st_size
            if etag == if_none_match:
                return Record(etag, st.st_mtime, size)
            data = os.read(fd, size) if size else b""
            if len(data) < size:  # only for huge files (one read stops at 2 GiB)
                chunks = [data]
                while chunk := os.read(fd, 1 << 30):
                    chunks.append(chunk)
                data = b"".join(chunks)
            return Record(etag, st.st_mtime, size, data)
        except OSError as exc:
            raise self._failure("read", key, exc) from exc
        finally:
            os.close(fd)

    def _read_bytes(self, key: NonEmptySafeStrTuple, path: str) -> bytes | None:
        # get_item and friends need the bytes only: no fstat, no ETag (saves ~25%).
        try:
            fd = os.open(path, _READ_FLAGS)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._failure("read", key, exc) from exc
        try:
            data = os.read(fd, _FIRST_READ)
            if len(data) == _FIRST_READ:
                chunks = [data]
                while chunk := os.read(fd, 1 << 24):
                    chunks.append(chunk)
                data = b"".join(chunks)
        except IsADirectoryError:
            return None
        except OSError as exc:
            raise self._failure("read", key, exc) from exc
        finally:
            os.close(fd)
        return data

    def _stat_file(self, key: NonEmptySafeStrTuple, path: str) -> Record | None:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            return None
        except OSError as exc:
            raise self._failure("stat", key, exc) from exc
        if not stat.S_ISREG(st.st_mode):
            return None
        return Record(_etag(st), st.st_mtime, st.st_size)

    def _look(self, key: NonEmptySafeStrTuple, path: str, with_data: bool) -> Record | None:
        return self._read_file(key, path, None) if with_data else self._stat_file(key, path)

    def _kept(
        self, key: NonEmptySafeStrTuple, path: str, record: Record | None, data_if_kept: bool
    ) -> Mutation:
        if data_if_kept and record is not None and record.data is None:
            record = self._read_file(key, path, None)  # a local read is cheap: same hop
        return Mutation(record, False)

    def _write_file(
        self,
        key: NonEmptySafeStrTuple,
        dirpath: str,
        name: str,
        data: bytes,
        decide: Decide | None,
        want_data: bool = False,
        data_if_kept: bool = False,
    ) -> Mutation:
        path = f"{dirpath}/{name}"
        record: Record | None = None
        if decide is not None:
            # A refusal needs no lock (it holds for the state just read) and no temp file.
            record = self._look(key, path, want_data)
            if not decide(record):
                return self._kept(key, path, record, data_if_kept)
        try:
            tmp, fd = self._create_temp(dirpath)
        except OSError as exc:
            raise self._failure("write", key, exc) from exc
        try:
            try:
                written = os.write(fd, data)
                if written < len(data):
                    view = memoryview(data)[written:]
                    while view:
                        view = view[os.write(fd, view) :]
                ns = _unique_ns()
                os.utime(fd, ns=(ns, ns))
                if self.durable:
                    os.fsync(fd)
                st = os.fstat(fd)
            finally:
                os.close(fd)
            # Only the decision and the rename need the lock; the slow part is done.
            lock = _filelock.acquire(dirpath, name)
            try:
                exists: bool | None = None  # unknown
                if decide is not None:
                    if _current_etag(path) != _etag_of(record):  # changed since the first look
                        record = self._look(key, path, want_data)
                        if not decide(record):
                            os.unlink(tmp)
                            return self._kept(key, path, record, data_if_kept)
                    exists = record is not None
                if exists is not False and _exchange(tmp, path):
                    tmp_holds_old = True
                else:
                    os.replace(tmp, path)
                    tmp_holds_old = False
            finally:
                _filelock.release(lock)
            if tmp_holds_old:
                _drop_old(tmp, path)
        except BaseException as exc:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            if isinstance(exc, OSError):
                raise self._failure("write", key, exc) from exc
            raise
        if self.durable:
            try:
                _fsync_dir(dirpath)
            except OSError as exc:
                raise self._failure("write", key, exc) from exc
        return Mutation(record, True, _etag(st))

    def _delete_file(
        self,
        key: NonEmptySafeStrTuple,
        dirpath: str,
        name: str,
        decide: Decide | None,
        want_data: bool = False,
        data_if_kept: bool = False,
    ) -> Mutation:
        path = f"{dirpath}/{name}"
        try:
            # Checked before locking: it also keeps a missing key's folder free of a lock folder.
            record = self._look(key, path, want_data)
            if record is None:
                return Mutation(None, decide is not None and decide(None))
            if decide is not None and not decide(record):
                return self._kept(key, path, record, data_if_kept)
            lock = _filelock.acquire(dirpath, name)
            try:
                if _current_etag(path) != record.etag:  # changed since the first look
                    record = self._look(key, path, want_data)
                    if record is None:
                        return Mutation(None, decide is not None and decide(None))
                    if decide is not None and not decide(record):
                        return self._kept(key, path, record, data_if_kept)
                os.unlink(path)
            finally:
                _filelock.release(lock)
            if self.durable:
                _fsync_dir(dirpath)
        except OSError as exc:
            raise self._failure("delete", key, exc) from exc
        return Mutation(record, True)

    def _remove_if_stale(self, entry: os.DirEntry[str], before: float) -> None:
        try:
            if _writer_is_gone(entry.name) or entry.stat(follow_symlinks=False).st_mtime < before:
                os.unlink(entry.path)
        except OSError:
            pass  # another scanner removed it, or it is not ours to remove

    def _walk(
        self, with_meta: bool, any_format: bool = False
    ) -> Generator[list[tuple[NonEmptySafeStrTuple, Record | None, str]], None, None]:
        """Every (key, record, format) in batches of at most _SCAN_BATCH, found with os.scandir.

        Values are never read. Batches, not single keys, keep the per-key cost
        of the walk and of the hops low. With ``any_format`` the files of every
        format are listed (the extension is the format), not only this store's.
        """
        ext = self._ext
        n_ext = len(ext)
        own = self.serialization_format
        n = self.digest_len
        unsigned = _unsigned
        stale_before = time.time() - self.STALE_TEMP_SECONDS
        stack: list[tuple[str, tuple[str, ...]]] = [(self.base_dir, ())]
        batch: list[tuple[NonEmptySafeStrTuple, Record | None, str]] = []
        while stack:
            dirpath, prefix = stack.pop()
            try:
                entries = os.scandir(dirpath)
            except (FileNotFoundError, NotADirectoryError):
                continue
            with entries:
                for entry in entries:
                    name = entry.name
                    fmt: str | None = None
                    if not any_format:
                        if name.endswith(ext):
                            stem, fmt = name[:-n_ext], own
                    elif not name.startswith(_HIDDEN_PREFIX):
                        stem, dot, fmt = name.rpartition(".")
                        if not (dot and fmt.replace("_", "").isalnum()):
                            fmt = None
                    if fmt is not None:
                        try:
                            is_dir = entry.is_dir(follow_symlinks=False)
                        except OSError:
                            continue  # deleted meanwhile
                        if is_dir:
                            # A folder named like a value file ("x.pkl", digest_len=0) holds keys.
                            component = unsigned(name, n)
                            if component is not None:
                                stack.append((entry.path, (*prefix, component)))
                            continue
                        component = unsigned(stem, n)
                        if component is None:
                            continue
                        record = None
                        if with_meta:
                            try:
                                st = entry.stat()
                            except OSError:
                                continue
                            record = Record(_etag(st), st.st_mtime, st.st_size)
                        batch.append((trusted_key((*prefix, component)), record, fmt))
                        if len(batch) >= _SCAN_BATCH:
                            yield batch
                            batch = []
                    elif name.startswith(_HIDDEN_PREFIX):
                        if name.startswith(_TEMP_PREFIX):
                            self._remove_if_stale(entry, stale_before)
                    else:
                        try:
                            if not entry.is_dir(follow_symlinks=False):
                                continue
                        except OSError:
                            continue
                        component = unsigned(name, n)
                        if component is not None:
                            stack.append((entry.path, (*prefix, component)))
        if batch:
            yield batch

    def _count_files(self) -> int:
        return sum(len(batch) for batch in self._walk(False))

    # ------------------------------------------------------------------ primitives

    _reads_now = True

    def _read_now(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        dirpath, name = self._locate(key)
        return self._read_file(key, f"{dirpath}/{name}", if_none_match)

    def _read_data_now(self, key: NonEmptySafeStrTuple) -> bytes | None:
        dirpath, name = self._locate(key)
        return self._read_bytes(key, f"{dirpath}/{name}")

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        return await run_io(self._read_now, key, if_none_match)

    async def _read_data(self, key: NonEmptySafeStrTuple) -> bytes | None:
        return await run_io(self._read_data_now, key)

    async def _stat(self, key: NonEmptySafeStrTuple) -> Record | None:
        dirpath, name = self._locate(key)
        return await run_io(self._stat_file, key, f"{dirpath}/{name}")

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        dirpath, name = self._locate(key)
        done = await run_io(self._write_file, key, dirpath, name, data, _expectation(expect))
        return done.etag if done.applied else None

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        dirpath, name = self._locate(key)
        done = await run_io(self._delete_file, key, dirpath, name, _expectation(expect))
        return done.applied and done.before is not None

    async def _apply_if(
        self,
        key: NonEmptySafeStrTuple,
        decide: Decide,
        data: bytes | None,
        want_data: bool = False,
        data_if_kept: bool = False,
    ) -> Mutation:
        # The whole decision happens under the key's lock, in one worker-thread hop.
        dirpath, name = self._locate(key)
        if data is None:
            return await run_io(self._delete_file, key, dirpath, name, decide, want_data, data_if_kept)
        return await run_io(
            self._write_file, key, dirpath, name, data, decide, want_data, data_if_kept
        )

    async def _scan(self, with_meta: bool) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        async with aclosing(self._walk_batches(with_meta, False)) as batches:
            async for batch in batches:
                for key, record, _ in batch:
                    yield key, record

    async def _scan_location(
        self,
    ) -> AsyncIterator[tuple[str, NonEmptySafeStrTuple, Record | None]]:
        async with aclosing(self._walk_batches(True, True)) as batches:
            async for batch in batches:
                for key, record, fmt in batch:
                    yield fmt, key, record

    async def _walk_batches(
        self, with_meta: bool, any_format: bool
    ) -> AsyncGenerator[list[tuple[NonEmptySafeStrTuple, Record | None, str]], None]:
        walker = self._walk(with_meta, any_format)
        try:
            while True:
                batch = await run_io(next, walker, None)
                if batch is None:
                    return
                yield batch
                if len(batch) < _SCAN_BATCH:
                    return  # only the last batch is short: spare a hop
        finally:
            walker.close()

    async def _count(self) -> int:
        return await run_io(self._count_files)
