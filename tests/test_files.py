"""FileDirDict specifics: layout, atomicity across processes, ETags, failures, safety, hops."""

from __future__ import annotations

import base64
import errno
import hashlib
import multiprocessing
import os
import pickle
import threading
import time
from pathlib import Path
from typing import Any

import anyio
import anyio.to_thread
import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import (
    ANY_ETAG,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    BackendError,
    CorruptValueError,
    MutationPolicyError,
)
from persidict_async import files as files_module

from .adapters import Awaitified

_SPAWN = multiprocessing.get_context("spawn")


def open_store(api: str, base_dir: Path, **options: Any) -> Any:
    """A FileDirDict seen through the async API, or the sync facade behind the same calls."""
    options.setdefault("durable", False)
    if api == "async":
        return aio.FileDirDict(base_dir=base_dir, **options)
    return Awaitified(sync.FileDirDict(base_dir=base_dir, **options))


def all_files(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


def temp_files(root: Path) -> list[Path]:
    return [p for p in root.rglob(".#tmp.*")]


def digest(component: str, n: int = 4) -> str:
    return base64.b32encode(hashlib.md5(component.encode()).digest()).decode()[:n].lower()


async def alist(ait: Any) -> list[Any]:
    return [x async for x in ait]


# ---------------------------------------------------------------------- layout


async def test_file_layout_always_has_digest_suffix(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    await store.set_item(("hello", "world"), 1)
    await store.set_item(f"hello_{digest('hello')}", 2)  # must not alias "hello"
    assert (tmp_path / f"hello_{digest('hello')}" / f"world_{digest('world')}.pkl").is_file()
    assert (tmp_path / f"hello_{digest('hello')}_{digest('hello_' + digest('hello'))}.pkl").is_file()
    assert not await store.contains("hello")
    assert sorted(map(tuple, await alist(store.keys()))) == sorted(
        [("hello", "world"), (f"hello_{digest('hello')}",)]
    )

    plain = open_store(api, tmp_path / "plain", digest_len=0, serialization_format="json")
    await plain.set_item(("a", "b"), [1])
    assert (tmp_path / "plain" / "a" / "b.json").is_file()


async def test_listing_ignores_other_formats_junk_and_internal_files(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    await store.set_item("k", 1)
    await store.set_item(("d", "k"), 2)
    (tmp_path / "junk.pkl").write_bytes(b"x")  # no valid digest suffix
    (tmp_path / f"k_{digest('k')}.json").write_bytes(b"1")  # another format
    (tmp_path / f"k_{digest('k')}").mkdir()  # a folder without a valid key inside
    (tmp_path / "README").write_text("hi")
    (tmp_path / ".#tmp.123.abc").write_bytes(b"partial")
    assert sorted(map(tuple, await alist(store.keys()))) == [("d", "k"), ("k",)]
    assert await store.len() == 2
    assert sorted((await store.subdicts()).keys()) == ["d"]
    json_store = open_store(api, tmp_path, serialization_format="json")
    assert [tuple(k) for k in await alist(json_store.keys())] == [("k",)]


async def test_subdict_shares_the_tree(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    sub = store.get_subdict(("x", "y"))
    await sub.set_item("k", "v")
    assert await store.get_item(("x", "y", "k")) == "v"
    await store.set_item(("x", "y", "k2"), "w")
    assert sorted(map(tuple, await alist(sub.keys()))) == [("k",), ("k2",)]
    assert sub.get_params()["base_dir"].startswith(str(tmp_path))
    again = open_store(api, Path(sub.get_params()["base_dir"]))
    assert await again.get_item("k2") == "w"


async def test_timestamp_is_file_mtime(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    before = time.time()
    await store.set_item("k", 1)
    path = tmp_path / f"k_{digest('k')}.pkl"
    assert await store.timestamp("k") == os.stat(path).st_mtime
    assert before - 1 <= await store.timestamp("k") <= time.time() + 1
    pairs = await alist(store.keys_and_timestamps())
    assert pairs == [(("k",), os.stat(path).st_mtime)]


def test_open_does_not_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = sync.FileDirDict(base_dir=tmp_path, durable=False)
    for i in range(50):
        store[f"k{i}"] = i

    def no_scan(*args: Any) -> Any:
        raise AssertionError("opening a store must not list it")

    monkeypatch.setattr(os, "scandir", no_scan)
    start = time.perf_counter()
    again = sync.FileDirDict(base_dir=tmp_path)
    assert time.perf_counter() - start < 0.005
    assert again["k7"] == 7


def test_stores_pickle_to_the_same_data(tmp_path: Path) -> None:
    store = aio.FileDirDict(base_dir=tmp_path, serialization_format="json", durable=False)
    clone = pickle.loads(pickle.dumps(store))
    assert clone.get_params() == store.get_params()
    assert clone.get_params()["durable"] is False
    facade = sync.FileDirDict(base_dir=tmp_path)
    facade["a"] = 1
    assert pickle.loads(pickle.dumps(facade))["a"] == 1


def test_constructor_validation(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        aio.FileDirDict(base_dir=tmp_path, digest_len=-1)
    with pytest.raises(TypeError):
        aio.FileDirDict(base_dir=tmp_path, durable="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        aio.FileDirDict(base_dir=tmp_path, serialization_format="txt")  # text needs str values
    (tmp_path / "file").write_text("x")
    with pytest.raises(BackendError):
        aio.FileDirDict(base_dir=tmp_path / "file")


# ---------------------------------------------------------------------- ETags


async def test_etag_changes_on_every_same_size_rewrite(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    n = 2000 if api == "sync" else 600
    seen = set()
    for i in range(n):
        await store.set_item("k", f"{i % 10}")  # same size every time
        seen.add(await store.etag("k"))
    assert len(seen) == n


def test_etag_never_repeats_across_rewrites_and_deletes(tmp_path: Path) -> None:
    store = sync.FileDirDict(base_dir=tmp_path, durable=False)
    seen = []
    for _ in range(1000):
        result = store.set_item_if("k", value=0, condition=ANY_ETAG, expected_etag=ITEM_NOT_AVAILABLE)
        seen.append(result.resulting_etag)
        if len(seen) % 3 == 0:
            del store["k"]
    assert len(set(seen)) == len(seen)


# ---------------------------------------------------------------------- corruption and failures


async def test_corrupt_file_affects_only_its_key(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    await store.set_item("good", {"x": 1})
    await store.set_item("bad", {"y": list(range(100))})
    path = tmp_path / f"bad_{digest('bad')}.pkl"
    path.write_bytes(path.read_bytes()[:10])  # truncated
    start = time.perf_counter()
    with pytest.raises(CorruptValueError, match="bad"):
        await store.get_item("bad")
    assert time.perf_counter() - start < 0.5  # at once, no retry loop
    assert await store.get_item("good") == {"x": 1}
    assert sorted(map(tuple, await alist(store.keys()))) == [("bad",), ("good",)]
    assert await store.len() == 2
    await store.set_item("bad", 3)  # a corrupt key can be overwritten
    assert await store.get_item("bad") == 3


async def test_unpicklable_value_raises_and_leaves_nothing(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    with pytest.raises(TypeError, match="bad"):
        await store.set_item(("d", "bad"), threading.Lock())
    assert all_files(tmp_path) == []


async def test_target_is_a_directory(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    (tmp_path / f"k_{digest('k')}.pkl").mkdir()
    with pytest.raises(BackendError, match="'k'"):
        await store.set_item("k", 1)
    assert temp_files(tmp_path) == []
    assert not await store.contains("k")
    assert await store.len() == 0


async def test_disk_full_raises_once_and_leaves_no_temp(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(api, tmp_path)
    await store.set_item("k", "old")
    calls = []

    def full(fd: int, data: Any) -> int:
        calls.append(fd)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full)
    with pytest.raises(BackendError, match="'k'") as info:
        await store.set_item("k", "new")
    assert info.value.errno == errno.ENOSPC  # type: ignore[attr-defined]
    assert len(calls) == 1  # no retry of a deterministic error
    monkeypatch.undo()
    assert temp_files(tmp_path) == []
    assert await store.get_item("k") == "old"


async def test_permission_denied_on_rename_leaves_no_temp(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = open_store(api, tmp_path)

    def denied(src: Any, dst: Any) -> None:
        raise PermissionError(errno.EACCES, "Permission denied")

    monkeypatch.setattr(os, "replace", denied)
    with pytest.raises(BackendError, match="'k'"):
        await store.set_item("k", 1)
    monkeypatch.undo()
    assert temp_files(tmp_path) == []
    assert not await store.contains("k")


async def test_names_too_long(api: str, tmp_path: Path) -> None:
    store = open_store(api, tmp_path)
    with pytest.raises(ValueError, match="at most"):
        await store.set_item("x" * 300, 1)
    assert all_files(tmp_path) == []
    # Each component fits, the whole path does not (PATH_MAX).
    with pytest.raises(BackendError, match="xxxx"):
        await store.set_item(["x" * 240] * 20, 1)
    assert temp_files(tmp_path) == []
    longest = "y" * (255 - 5 - 4)
    await store.set_item(longest, 1)
    assert await store.get_item(longest) == 1


def test_stale_temp_files_are_removed_and_never_counted(api: str, tmp_path: Path) -> None:
    store = sync.FileDirDict(base_dir=tmp_path, durable=False)
    store[("d", "k")] = 1
    sub = tmp_path / f"d_{digest('d')}"
    old, fresh = sub / ".#tmp.1.dead", tmp_path / ".#tmp.2.live"
    old.write_bytes(b"partial")
    fresh.write_bytes(b"in progress")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    keys = anyio.run(alist, store.aio.keys()) if api == "async" else list(store)
    assert keys == [("d", "k")]
    assert not old.exists()
    assert fresh.exists()  # may belong to a writer still at work
    assert len(store) == 1


# ---------------------------------------------------------------------- durability


async def test_durable_flag_controls_fsync(
    api: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        synced.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", counting_fsync)
    durable = open_store(api, tmp_path / "d", durable=True)
    await durable.set_item("k", 1)
    assert len(synced) >= 2  # the file and its folder
    synced.clear()
    await durable.set_item(("new", "dir"), 1)
    assert len(synced) >= 3  # ... and the new folder's parent
    synced.clear()
    await durable.delete_item("k")
    assert len(synced) == 1
    fast = open_store(api, tmp_path / "f", durable=False)
    synced.clear()
    await fast.set_item(("a", "k"), 1)
    await fast.delete_item(("a", "k"))
    assert synced == []
    assert durable.get_params()["durable"] is True


# ---------------------------------------------------------------------- safety


# Hostile keys: tests/reliability/test_bad_input.py.


# ---------------------------------------------------------------------- concurrency


def _plus_one(value: Any) -> int:
    return 1 if value is ITEM_NOT_AVAILABLE else int(value) + 1


def _increment_worker(params: dict[str, Any], n: int, use_async: bool) -> None:
    if use_async:
        store = aio.FileDirDict(**params)

        async def main() -> None:
            for _ in range(n):
                await store.transform_item("counter", transformer=_plus_one, n_retries=None)

        anyio.run(main)
    else:
        facade = sync.FileDirDict(**params)
        for _ in range(n):
            facade.transform_item("counter", transformer=_plus_one, n_retries=None)


def test_four_processes_increment_one_key(tmp_path: Path) -> None:
    params = {"base_dir": str(tmp_path), "durable": False}
    procs = [
        _SPAWN.Process(target=_increment_worker, args=(params, 250, i % 2 == 0)) for i in range(4)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    assert sync.FileDirDict(**params)["counter"] == 1000


def _setdefault_worker(params: dict[str, Any], i: int, barrier: Any, results: Any) -> None:
    store = sync.FileDirDict(**params)
    barrier.wait()
    result = store.setdefault_if(
        "prize", default_value=i, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE
    )
    results.put((i, result.value_was_mutated, result.new_value))


def test_eight_processes_race_setdefault_if(tmp_path: Path) -> None:
    params = {"base_dir": str(tmp_path), "durable": False}
    barrier = _SPAWN.Barrier(8)
    results = _SPAWN.Queue()
    procs = [
        _SPAWN.Process(target=_setdefault_worker, args=(params, i, barrier, results))
        for i in range(8)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=120) for _ in range(8)]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    winners = [i for i, mutated, _ in outcomes if mutated]
    assert len(winners) == 1
    stored = sync.FileDirDict(**params)["prize"]
    assert stored == winners[0]
    # Every loser was told about the winner's value (or not told anything).
    assert all(v == stored for i, mutated, v in outcomes if not mutated and isinstance(v, int))


def test_threads_increment_one_key(tmp_path: Path) -> None:
    store = sync.FileDirDict(base_dir=tmp_path, durable=False)

    def work() -> None:
        for _ in range(100):
            store.transform_item("n", transformer=_plus_one, n_retries=None)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store["n"] == 600


async def test_append_only_first_write_is_atomic(tmp_path: Path) -> None:
    store = aio.FileDirDict(base_dir=tmp_path, append_only=True, durable=False)
    outcomes: list[str] = []

    async def write(i: int) -> None:
        try:
            await store.set_item("once", i)
            outcomes.append("won")
        except MutationPolicyError:
            outcomes.append("refused")

    async with anyio.create_task_group() as tg:
        for i in range(16):
            tg.start_soon(write, i)
    assert outcomes.count("won") == 1
    assert temp_files(tmp_path) == []
    assert not list(tmp_path.glob(".#locks/*")) or len(list(tmp_path.glob(".#locks/*"))) <= 64


async def test_lock_files_are_bounded(tmp_path: Path) -> None:
    store = sync.FileDirDict(base_dir=tmp_path, durable=False)
    for i in range(500):
        store[f"k{i}"] = i
    assert len(list((tmp_path / ".#locks").iterdir())) <= 64
    assert len(store) == 500


# ---------------------------------------------------------------------- thread hops


async def test_async_operations_take_one_worker_thread_hop(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hops: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(fn: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(getattr(fn, "__name__", "?"))
        return await real(fn, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    store: aio.FileDirDict[Any] = aio.FileDirDict(base_dir=tmp_path, durable=True)
    append_only: aio.FileDirDict[Any] = aio.FileDirDict(base_dir=tmp_path / "ao", append_only=True)

    async def one_hop(coro: Any) -> Any:
        hops.clear()
        result = await coro
        assert len(hops) == 1, hops
        return result

    await one_hop(store.set_item(("a", "b"), {"x": 1}))
    assert await one_hop(store.get_item(("a", "b"))) == {"x": 1}
    assert await one_hop(store.contains(("a", "b")))
    await one_hop(store.etag(("a", "b")))
    await one_hop(store.timestamp(("a", "b")))
    await one_hop(store.get_with_etag(("a", "b")))
    assert await one_hop(store.len()) == 1
    assert [tuple(k) for k in await one_hop(alist(store.keys()))] == [("a", "b")]
    await one_hop(append_only.set_item("k", 1))
    await one_hop(store.delete_item(("a", "b")))
    # Conditional operations decide under the key's lock within the same hop.
    na = aio.ITEM_NOT_AVAILABLE
    claim = await one_hop(store.setdefault_if("c", default_value=1, condition=aio.ETAG_IS_THE_SAME,
                                              expected_etag=na))  # fmt: skip
    assert claim.condition_was_satisfied
    again = await one_hop(store.setdefault_if(
        "c", default_value=2, condition=aio.ANY_ETAG, expected_etag=na,
        retrieve_value=aio.ALWAYS_RETRIEVE))  # fmt: skip
    assert again.new_value == 1
    swap = await one_hop(store.set_item_if("c", value=3, condition=aio.ETAG_IS_THE_SAME,
                                           expected_etag=claim.resulting_etag))  # fmt: skip
    assert swap.condition_was_satisfied
    refused = await one_hop(store.set_item_if("c", value=4, condition=aio.ETAG_IS_THE_SAME,
                                              expected_etag="stale"))  # fmt: skip
    assert refused.new_value == 3 and not refused.condition_was_satisfied
    assert await one_hop(store.setdefault("c", 9)) == 3
    kept = await one_hop(store.discard_if("c", condition=aio.ETAG_HAS_CHANGED,
                                          expected_etag=swap.resulting_etag))  # fmt: skip
    assert not kept.condition_was_satisfied
    assert await one_hop(store.pop("c")) == 3
    assert await one_hop(store.discard("c")) is False


def test_sync_facade_takes_no_thread_hop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the sync facade must not hop to a worker thread")

    monkeypatch.setattr(anyio.to_thread, "run_sync", forbidden)
    store = sync.FileDirDict(base_dir=tmp_path)
    store["k"] = 1
    assert store["k"] == 1
    etag = store.etag("k")
    store.set_item_if("k", value=2, condition=ETAG_IS_THE_SAME, expected_etag=etag)
    store.transform_item("k", transformer=_plus_one)
    assert store.setdefault("k", 0) == 3
    assert list(store) == [("k",)] and len(store) == 1
    assert store.pop("k") == 3
    assert files_module.FileDirDict.STALE_TEMP_SECONDS > 60
