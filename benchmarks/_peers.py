"""The contenders of the peers benchmark behind one small adapter interface.

Each adapter opens a store in a folder (durable or not, where the library has
the notion) and exposes the operations the benchmark times. Peers are imported
when first used; a missing peer raises :class:`PeerMissing` naming the package.

``python -m benchmarks._peers NAME FOLDER N SEED`` opens an existing store in a
fresh process, reads its N keys in a shuffled order and prints the seconds the
open and the reads took (imports excluded) as JSON.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import random
import shelve
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from . import _plain

# import name -> package to install
PEER_PACKAGES = {
    "persidict": "persidict==0.309.0",
    "diskcache": "diskcache",
    "sqlitedict": "sqlitedict",
    "nfsdict": "nfsdict",
    "matplotlib": "matplotlib",
}


class PeerMissing(RuntimeError):
    """A peer library the benchmark needs is not installed."""


def need(module: str) -> Any:
    """Import ``module`` or raise :class:`PeerMissing` naming the package to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        package = PEER_PACKAGES.get(module.split(".")[0], module)
        raise PeerMissing(
            f"benchmark peer {module!r} cannot be imported ({exc}); "
            f"install it in the benchmark environment: pip install {package}"
        ) from exc


def key_name(i: int) -> str:
    """The i-th benchmark key."""
    return f"k{i:06d}"


@contextlib.contextmanager
def no_fsync() -> Iterator[None]:
    """Make os.fsync a no-op (only to fill stores that always fsync; never while timing)."""
    real = os.fsync
    os.fsync = lambda fd: None
    try:
        yield
    finally:
        os.fsync = real


class Adapter:
    """One contender. Defaults follow the MutableMapping protocol."""

    name = ""
    has_fast_set = True  # a non-durable sequential set exists
    has_durable_set = True  # a durable single set exists
    fast_set_note = ""
    durable_set_note = ""

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        raise NotImplementedError

    def close(self, h: Any) -> None:
        h.close()

    def set_batch(self, h: Any, items: list[tuple[str, object]]) -> None:
        """Sequential sets of ``items`` (plus the commit, for batch-commit stores)."""
        for k, v in items:
            h[k] = v

    def set_one(self, h: Any, key: str, value: object) -> None:
        h[key] = value

    def get(self, h: Any, key: str) -> object:
        return h[key]

    def contains(self, h: Any, key: str) -> bool:
        return key in h

    def keys(self, h: Any) -> list[str]:
        return list(h.keys())

    def length(self, h: Any) -> int:
        return len(h)

    def items(self, h: Any) -> list[tuple[str, object]]:
        return list(h.items())


class PersidictAsync(Adapter):
    """persidict-async FileDirDict through the sync facade."""

    name = "persidict-async"
    fast_set_note = "durable=False"
    durable_set_note = "durable=True"

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        from persidict_sync import FileDirDict

        return FileDirDict(base_dir=folder, durable=durable)


class Persidict(Adapter):
    """persidict 0.309 FileDirDict (every write is fsynced)."""

    name = "persidict 0.309"
    has_fast_set = False

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        return need("persidict").FileDirDict(base_dir=str(folder))

    def close(self, h: Any) -> None:
        pass


class DiskcacheCache(Adapter):
    """diskcache.Cache (SQLite in WAL mode; values over 32 KB in their own files)."""

    name = "diskcache.Cache"
    fast_set_note = "synchronous=NORMAL (default)"
    durable_set_note = "synchronous=FULL"

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        return need("diskcache").Cache(str(folder), sqlite_synchronous=2 if durable else 1)

    def keys(self, h: Any) -> list[str]:
        return list(h)

    def items(self, h: Any) -> list[tuple[str, object]]:
        return [(k, h[k]) for k in h]


class DiskcacheIndex(Adapter):
    """diskcache.Index (a Cache without eviction, with the dict API)."""

    name = "diskcache.Index"
    fast_set_note = "synchronous=NORMAL (default)"
    durable_set_note = "synchronous=FULL"

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        dc = need("diskcache")
        cache = dc.Cache(str(folder), eviction_policy="none", sqlite_synchronous=2 if durable else 1)
        return dc.Index.fromcache(cache)

    def close(self, h: Any) -> None:
        h.cache.close()


class Sqlitedict(Adapter):
    """sqlitedict.SqliteDict: batch commit when not durable, autocommit when durable."""

    name = "sqlitedict"
    fast_set_note = "one commit per batch"
    durable_set_note = "autocommit"

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        folder.mkdir(parents=True, exist_ok=True)
        return need("sqlitedict").SqliteDict(
            str(folder / "store.sqlite"), autocommit=durable, flag="r" if readonly else "c"
        )

    def set_batch(self, h: Any, items: list[tuple[str, object]]) -> None:
        super().set_batch(h, items)
        h.commit()


class Shelve(Adapter):
    """shelve (standard library) over the dbm backend the interpreter has."""

    name = "shelve"
    has_durable_set = False

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        folder.mkdir(parents=True, exist_ok=True)
        return shelve.open(str(folder / "shelf"), flag="r" if readonly else "c", protocol=5)

    def set_batch(self, h: Any, items: list[tuple[str, object]]) -> None:
        super().set_batch(h, items)
        h.sync()


class Nfsdict(Adapter):
    """nfsdict.NfsDict (every write is fsynced; values are cached in memory at open)."""

    name = "nfsdict"
    has_fast_set = False

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        return need("nfsdict").NfsDict("store", base_dir=str(folder))


class Plain(Adapter):
    """The physical limit: one pickle file per key, open/write(/fsync)/rename and open/read."""

    name = "plain files"
    fast_set_note = "no fsync"
    durable_set_note = "fsync file and folder"

    def open(self, folder: Path, durable: bool = False, readonly: bool = False) -> Any:
        folder.mkdir(parents=True, exist_ok=True)
        return (str(folder), durable)

    def close(self, h: Any) -> None:
        pass

    def set_batch(self, h: Any, items: list[tuple[str, object]]) -> None:
        folder, durable = h
        for k, v in items:
            _plain.write_value(folder, k, v, durable)

    def set_one(self, h: Any, key: str, value: object) -> None:
        _plain.write_value(h[0], key, value, h[1])

    def get(self, h: Any, key: str) -> object:
        return _plain.read_value(h[0], key)

    def contains(self, h: Any, key: str) -> bool:
        return os.path.exists(f"{h[0]}/{key}.pkl")

    def keys(self, h: Any) -> list[str]:
        return _plain.list_names(h[0])

    def length(self, h: Any) -> int:
        return len(_plain.list_names(h[0]))

    def items(self, h: Any) -> list[tuple[str, object]]:
        return [(k, _plain.read_value(h[0], k)) for k in _plain.list_names(h[0])]


ADAPTERS: dict[str, Adapter] = {
    a.name: a
    for a in (
        PersidictAsync(), Persidict(), DiskcacheIndex(), DiskcacheCache(), Sqlitedict(), Shelve(),
        Nfsdict(), Plain(),
    )
}  # fmt: skip
OURS = PersidictAsync.name
LIMIT = Plain.name


def check_peers() -> None:
    """Import every peer now, so a missing one fails the run before anything is measured."""
    for module in ("persidict", "diskcache", "sqlitedict", "nfsdict", "matplotlib"):
        need(module)


def read_in_fresh_process(name: str, folder: str, n: int, seed: int) -> float:
    """Open the store and read its ``n`` keys in a shuffled order; return the seconds."""
    adapter = ADAPTERS[name]
    order = [key_name(i) for i in range(n)]
    random.Random(seed).shuffle(order)
    start = time.perf_counter()
    h = adapter.open(Path(folder), readonly=True)
    for k in order:
        adapter.get(h, k)
    seconds = time.perf_counter() - start
    adapter.close(h)
    return seconds


if __name__ == "__main__":
    name, folder, n, seed = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    check_peers()
    importlib.import_module("persidict_sync")
    print(json.dumps({"seconds": read_in_fresh_process(name, folder, n, seed)}))
