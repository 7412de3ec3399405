"""LRUCachedDict: validated hits, LRU bounds, trust mode, stats, exactness, through both APIs."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import ANY_ETAG, ETAG_IS_THE_SAME, ITEM_NOT_AVAILABLE, CacheStats
from persidict_async.wrappers import lru_cached

from .test_wrappers_s3 import count_primitives, s3_store
from .wrapper_support import PLAIN, CountingLocalDict, view

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=sorted(PLAIN))
def main_factory(request: pytest.FixtureRequest, tmp_path: Path) -> Any:
    """A factory of main stores (LocalDict or FileDirDict); all made by one call share data."""
    if request.param == "local":
        backend = aio.MemoryBackend()
        return lambda **kw: aio.LocalDict(backend=backend, **kw)
    make = PLAIN[request.param]
    return lambda **kw: make(tmp_path / "main", **kw)


def lru(main: aio.PersiDict[Any], **options: Any) -> aio.LRUCachedDict[Any]:
    options.setdefault("max_items", 100)
    return aio.LRUCachedDict(main_dict=main, **options)


def stats(store: Any) -> CacheStats:
    """The stats through the API under test."""
    facade = getattr(store, "facade", None)
    result: CacheStats = (facade if facade is not None else store).cache_stats()
    return result


class FakeClock:
    """Stands in for the cache's monotonic clock, so tests move time without sleeping."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    fake = FakeClock()
    monkeypatch.setattr(lru_cached, "_clock", fake)
    return fake


async def test_two_instances_never_read_stale_values(main_factory: Any, api: str) -> None:
    main = main_factory()
    a, b = view(lru(main), api), view(lru(main_factory()), api)
    await a.set_item("k", 1)
    assert await b.get_item("k") == 1
    await a.set_item("k", 2)  # b's cached copy is now stale
    assert await b.get_item("k") == 2
    assert await b.get_many(["k"]) == [2]
    await b.set_item("k", 3)
    assert await a.get_item("k") == 3
    assert dict([pair async for pair in a.items()]) == {("k",): 3}
    assert (await a.get_with_etag("k")).new_value == 3
    await b.delete_item("k")
    with pytest.raises(KeyError):
        await a.get_item("k")
    assert stats(a).items == 0  # the entry of the deleted key was dropped
    await main.set_item("k", 4)  # behind both wrappers' backs
    assert await a.get_item("k") == 4 and await b.get_item("k") == 4


async def test_a_cache_over_a_cache_is_never_stale(main_factory: Any, api: str) -> None:
    main = main_factory()
    inner = lru(main)
    outer = view(lru(inner), api)
    await outer.set_item("k", 1)
    assert await outer.get_item("k") == 1 and await outer.get_item("k") == 1
    await main.set_item("k", 2)  # behind both caches
    assert await outer.get_item("k") == 2
    assert (await outer.get_with_etag("k")).new_value == 2
    etag = await main.etag("k")
    same = await outer.get_item_if("k", condition=aio.ETAG_IS_THE_SAME, expected_etag=etag,
                                   retrieve_value=aio.ALWAYS_RETRIEVE)  # fmt: skip
    assert same.condition_was_satisfied and same.actual_etag == etag and same.new_value == 2
    await main.delete_item("k")
    with pytest.raises(KeyError):
        await outer.get_item("k")
    assert inner.cache_stats().items == 0 and stats(outer).items == 0
    assert stats(outer).hits >= 2 and inner.cache_stats().validations >= 2


def test_never_stale_across_processes(tmp_path: Path) -> None:
    store = sync.LRUCachedDict(main_dict=sync.FileDirDict(base_dir=tmp_path, durable=False))
    writer = (
        "import sys, persidict_sync as s\n"
        "s.FileDirDict(base_dir=sys.argv[1], durable=False)['k'] = int(sys.argv[2])\n"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    for i in range(3):
        subprocess.run([sys.executable, "-c", writer, str(tmp_path), str(i)], check=True, env=env)
        assert store["k"] == i  # cached after the first round, yet never stale
    assert store.cache_stats().validations >= 2


async def test_hits_are_validated_without_transferring_data(api: str) -> None:
    main = CountingLocalDict()
    store = view(lru(main), api)
    await store.set_item("k", {"v": 1})
    main.calls.clear()
    for _ in range(3):
        assert await store.get_item("k") == {"v": 1}
    assert main.calls == {"read_not_modified": 3}
    s = stats(store)
    assert (s.hits, s.misses, s.validations) == (3, 0, 3)
    assert s.hit_rate == 1.0


def test_a_validated_hit_on_files_costs_one_stat_and_no_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = sync.LRUCachedDict(main_dict=sync.FileDirDict(base_dir=tmp_path, durable=False))
    store["k"] = [1, 2]
    real_open, real_stat = os.open, os.stat
    opened: list[Any] = []
    stats_done: list[Any] = []
    monkeypatch.setattr(os, "open", lambda *a, **kw: opened.append(a) or real_open(*a, **kw))
    monkeypatch.setattr(os, "stat", lambda *a, **kw: stats_done.append(a) or real_stat(*a, **kw))
    assert store["k"] == [1, 2]
    assert opened == [] and len(stats_done) == 1
    sync.FileDirDict(base_dir=tmp_path, durable=False)["k"] = [3]  # changed: now it is read
    assert store["k"] == [3]
    assert len([a for a in opened if str(a[0]).endswith(".pkl")]) == 1


async def test_lru_bound_by_count(api: str) -> None:
    main = CountingLocalDict()
    store = view(lru(main, max_items=3), api)
    for k in "abc":
        await store.set_item(k, k)
    assert await store.get_item("a") == "a"  # "a" becomes the most recently used
    await store.set_item("d", "d")  # evicts "b", the least recently used
    s = stats(store)
    assert (s.items, s.evictions) == (3, 1)
    main.calls.clear()
    for k in "acd":
        assert await store.get_item(k) == k
    assert main.calls == {"read_not_modified": 3}  # still cached
    assert await store.get_item("b") == "b"
    assert main.calls["read"] == 1  # evicted: read in full (and cached again)
    assert stats(store).items == 3 and stats(store).evictions == 2


async def test_lru_bound_by_bytes(api: str) -> None:
    main = aio.LocalDict(serialization_format="txt", base_class_for_values=str)
    store = view(lru(main, max_items=None, max_bytes=25), api)
    for k in "abc":
        await store.set_item(k, k * 10)  # 10 bytes each
    s = stats(store)
    assert (s.items, s.bytes, s.evictions, s.max_bytes) == (2, 20, 1, 25)
    await store.set_item("big", "x" * 26)  # never fits: not cached, nothing evicted for it
    assert stats(store).items == 2 and stats(store).bytes == 20
    assert await store.get_item("big") == "x" * 26
    assert await store.get_item("a") == "a" * 10  # evicted earlier: a miss, cached again
    s = stats(store)
    assert s.bytes <= 25 and s.items == 2 and s.misses == 2


async def test_trust_mode_serves_recent_checks_without_asking(api: str, clock: FakeClock) -> None:
    main = CountingLocalDict()
    store = view(lru(main, trust_seconds=5.0), api)
    await store.set_item("k", 1)
    main.calls.clear()
    assert await store.get_item("k") == 1 and await store.get_many(["k"]) == [1]
    assert sum(main.calls.values()) == 0  # trusted: no check at all
    await main.set_item("k", 2)  # written elsewhere: unseen within the window (documented)
    clock.now += 4.9
    assert await store.get_item("k") == 1
    assert (await store.get_with_etag("k")).new_value == 2  # ETag reads always check
    await main.set_item("k", 3)
    clock.now += 5.1  # the window has passed: the next read checks
    assert await store.get_item("k") == 3
    s = stats(store)
    assert s.hits == 3 and s.validations == 2


async def test_append_only_main_is_always_trusted(api: str, clock: FakeClock) -> None:
    main = CountingLocalDict(append_only=True)
    store = view(lru(main), api)
    await store.set_item("k", 1)
    main.calls.clear()
    clock.now += 1e6
    assert await store.get_item("k") == 1
    assert sum(main.calls.values()) == 0


async def test_a_failed_conditional_write_never_poisons_the_cache(main_factory: Any, api: str) -> None:
    main = main_factory()
    store = view(lru(main), api)
    await store.set_item("k", 1)
    etag = await store.etag("k")
    result = await store.set_item_if("k", value=2, condition=ETAG_IS_THE_SAME, expected_etag="stale")
    assert not result.condition_was_satisfied
    result = await store.setdefault_if("k", default_value=2, condition=ANY_ETAG,
                                       expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
    assert not result.value_was_mutated
    assert not (await store.discard_if("k", condition=ETAG_IS_THE_SAME, expected_etag="stale"))\
        .condition_was_satisfied  # fmt: skip
    assert await store.get_item("k") == 1 and await store.etag("k") == etag
    assert await main.get_item("k") == 1


async def test_conditional_operations_keep_the_cache_exact(main_factory: Any, api: str) -> None:
    main = main_factory()
    store = view(lru(main), api)
    other = lru(main)  # a second instance, to check what the main store holds
    r = await store.setdefault_if("k", default_value=1, condition=ANY_ETAG,
                                  expected_etag=ITEM_NOT_AVAILABLE)  # fmt: skip
    r = await store.set_item_if("k", value=2, condition=ETAG_IS_THE_SAME,
                                expected_etag=r.resulting_etag)  # fmt: skip
    assert r.condition_was_satisfied and await store.get_item("k") == 2
    await store.transform_item("k", transformer=lambda v: v + 1)
    assert await store.get_item("k") == 3 == await other.get_item("k")
    await other.set_item("k", 10)
    await store.transform_item("k", transformer=lambda v: v + 1)  # reads through the check
    assert await main.get_item("k") == 11 and await store.get_item("k") == 11
    assert await store.pop("k") == 11
    assert await store.get("k") is None and stats(store).items == 0


async def test_subdicts_share_the_cache(api: str) -> None:
    main = CountingLocalDict()
    store = view(lru(main), api)
    sub = store.get_subdict("d")
    await sub.set_item("x", 1)
    assert await store.get_item(("d", "x")) == 1
    s = stats(store)
    assert s.items == 1 and s.hits == 1 and s.misses == 0  # the subdict's write filled it
    await store.set_item(("d", "x"), 2)
    assert await sub.get_item("x") == 2


def test_threads_share_one_exact_cache(tmp_path: Path) -> None:
    store = sync.LRUCachedDict(main_dict=sync.FileDirDict(base_dir=tmp_path, durable=False),
                               max_items=5)  # fmt: skip
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(200):
                key = f"k{(n + i) % 8}"
                store[key] = (n, i)
                value = store[key]
                assert isinstance(value, tuple) and len(value) == 2
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    plain = sync.FileDirDict(base_dir=tmp_path, durable=False)
    assert {k: store[k] for k in plain} == dict(plain.items())
    s = store.cache_stats()
    assert s.items <= 5
    table = store.aio._lru
    assert s.bytes == sum(len(e[2]) for e in table.entries.values())


async def test_s3_hit_is_one_conditional_get(request: pytest.FixtureRequest, api: str,
                                             clock: FakeClock) -> None:  # fmt: skip
    main = s3_store(request)
    a_aio, b_aio = lru(main), lru(main)
    a, b = view(a_aio, api), view(b_aio, api)
    assert not a_aio.runs_inline
    await a.set_item("k", {"v": 1})
    assert await b.get_item("k") == {"v": 1}
    await a.set_item("k", {"v": 2})
    assert await b.get_item("k") == {"v": 2}
    calls = count_primitives(main)
    assert await b.get_item("k") == {"v": 2}
    assert calls == {"_read": 1}  # one conditional GET, answered 304
    trusting = view(lru(main, trust_seconds=60.0), api)
    assert await trusting.get_item("k") == {"v": 2}
    calls.clear()
    assert await trusting.get_item("k") == {"v": 2}
    assert sum(calls.values()) == 0  # trusted: no request
    await a_aio.aclose()


def test_validation_params_and_facade(tmp_path: Path) -> None:
    main = aio.LocalDict()
    with pytest.raises(ValueError):
        aio.LRUCachedDict(main_dict=main, max_items=None)
    with pytest.raises(ValueError):
        aio.LRUCachedDict(main_dict=main, max_items=0)
    with pytest.raises(TypeError):
        aio.LRUCachedDict(main_dict=main, max_bytes=1.5)
    with pytest.raises(ValueError):
        aio.LRUCachedDict(main_dict=main, trust_seconds=-1)
    with pytest.raises(TypeError):
        aio.LRUCachedDict(main_dict={})
    store = aio.LRUCachedDict(main_dict=main, max_items=7, max_bytes=99, trust_seconds=2)
    params = store.get_params()
    assert (params["max_items"], params["max_bytes"], params["trust_seconds"]) == (7, 99, 2.0)
    assert store.runs_inline and not store.does_blocking_io
    facade = sync.LRUCachedDict(main_dict=sync.FileDirDict(base_dir=tmp_path), max_items=3)
    assert facade.aio.does_blocking_io and isinstance(facade.main_dict, sync.FileDirDict)
    facade["a"] = 1
    assert facade["a"] == 1 and facade.cache_stats().items == 1
    facade.clear_cache()
    assert facade.cache_stats().items == 0 and facade["a"] == 1
    assert sync.CacheStats is aio.CacheStats
    assert CacheStats(0, 0, 0, 0, 0, 0, None, None).hit_rate == 0.0
