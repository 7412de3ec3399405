"""Expiry (``ttl``) on every backend, through the async API and the sync facade.

Deadlines are absolute times stored with each value; the ``clock`` fixture moves
the stores' clock forward instead of sleeping.
"""

from __future__ import annotations

import math
import pickle
from typing import Any

import pytest

from persidict_async import (
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    MutationPolicyError,
)

from .adapters import reopen
from .backends import Backend, other_value, sample_values
from .clock import Clock

NA = ITEM_NOT_AVAILABLE


async def alist(ait: Any) -> list[Any]:
    return [x async for x in ait]


async def test_expired_keys_read_as_missing_everywhere(make_store: Any, fmt: str, clock: Clock) -> None:
    v, w = sample_values(fmt)[0], other_value(fmt)
    store = make_store(ttl=10)
    await store.set_item("short", v)  # the store's ttl: 10 s
    await store.set_item(("long", "x"), w, ttl=100)  # a per-write override
    await store.set_many({"batch": v}, ttl=5)
    assert await store.len() == 3
    clock.advance(50)
    assert await store.len() == 1
    assert not await store.contains("short") and not await store.contains("batch")
    with pytest.raises(KeyError):
        await store.get_item("short")
    assert await store.get("short", "dflt") == "dflt"
    assert await store.get_many(["short", ("long", "x")], default=None) == [None, w]
    with pytest.raises(KeyError):
        await store.get_many(["short"])
    for meta in (store.etag, store.timestamp):
        with pytest.raises(KeyError):
            await meta("short")
    assert await alist(store.keys()) == [("long", "x")]
    assert await alist(store.values()) == [w]
    assert await alist(store.items()) == [(("long", "x"), w)]
    assert [k for k, _ in await alist(store.keys_and_timestamps())] == [("long", "x")]
    assert [k for k, _, _ in await alist(store.items_and_timestamps())] == [("long", "x")]
    assert await store.oldest_keys() == [("long", "x")] == await store.newest_keys(5)
    assert await store.newest_values() == [w]
    assert await store.random_key() == ("long", "x")
    assert set(await store.subdicts()) == {"long"}
    assert not await store.is_empty()
    clock.advance(100)
    assert await store.is_empty() and await store.len() == 0
    assert await store.random_key() is None


async def test_expired_keys_are_absent_for_mutations(make_store: Any, fmt: str, clock: Clock) -> None:
    v, w = sample_values(fmt)[0], other_value(fmt)
    store = make_store(ttl=10)
    for name in ("a", "b", "c", "d", "e", "f"):
        await store.set_item(name, v)
    old_etag = await store.etag("a")
    clock.advance(20)
    assert await store.discard("a") is False
    with pytest.raises(KeyError):
        await store.delete_item("b")
    assert await store.pop("c", "gone") == "gone"
    assert await store.setdefault("d", w) == w  # inserted: the old value had expired
    got = await store.get_item_if("e", condition=ETAG_IS_THE_SAME, expected_etag=old_etag)
    assert got.actual_etag is NA and not got.condition_was_satisfied
    result = await store.transform_item("f", transformer=lambda cur: w if cur is NA else KEEP_CURRENT)
    assert result.new_value == w and await store.get_item("f") == w
    assert await store.delete_many(["a", "e"], missing_ok=True) == 0
    assert await store.len() == 2  # d and f, freshly written


async def test_append_only_store_accepts_a_first_write_over_an_expired_key(
    make_store: Any, fmt: str, clock: Clock
) -> None:
    v, w = sample_values(fmt)[0], other_value(fmt)
    store = make_store(ttl=10, append_only=True)
    await store.set_item("k", v)
    with pytest.raises(MutationPolicyError):
        await store.set_item("k", w)
    clock.advance(20)
    await store.set_item("k", w)
    assert await store.get_item("k") == w
    # Expired values are garbage: cull() removes them even from an append-only store.
    await store.set_item("brief", v, ttl=1)
    clock.advance(2)
    assert await store.cull() == 1
    assert await store.get_item("k") == w and await store.len() == 1


async def test_cull_deletes_only_expired_values(make_store: Any, fmt: str, clock: Clock) -> None:
    v = sample_values(fmt)[0]
    store = make_store(ttl=10)
    await store.set_many({f"old{i}": v for i in range(5)})
    await store.set_item("keep", v, ttl=1000)
    clock.advance(20)
    await store.set_item("new", v)
    assert await store.cull() == 5
    assert await store.cull() == 0
    assert sorted(await alist(store.keys())) == [("keep",), ("new",)]
    # Deadlines live in the data: a store opened without a ttl culls them too.
    clock.advance(20)
    plain = reopen(store, **{**store.get_params(), "ttl": None}) if "ttl" in store.get_params() else store
    assert await plain.cull() == 1
    assert await plain.len() == 1


async def test_ttl_options_are_checked_and_kept(make_store: Any, fmt: str, clock: Clock) -> None:
    v = sample_values(fmt)[0]
    plain = make_store()
    with pytest.raises(ValueError, match="per-write ttl"):
        await plain.set_item("k", v, ttl=5)
    for bad in (0, -1, math.nan, "10", True):
        with pytest.raises(ValueError, match="ttl"):
            make_store(ttl=bad)
    forever = make_store(ttl=math.inf)  # expiry honoured, no default deadline
    await forever.set_item("k", v)
    await forever.set_item("brief", v, ttl=1)
    with pytest.raises(ValueError, match="ttl"):
        await forever.set_item("k", v, ttl=0)
    clock.advance(10**6)
    assert await forever.get_item("k") == v and not await forever.contains("brief")


async def test_ttl_survives_get_params_and_pickling(make_store: Any, fmt: str, clock: Clock) -> None:
    store = make_store(ttl=30)
    await store.set_item("k", sample_values(fmt)[0])
    params = store.get_params()
    # Wrappers take their ttl from the main store, which their params carry.
    ttls = [params.get("ttl")] + [getattr(p, "ttl", None) for p in params.values()]
    assert 30.0 in ttls
    again = reopen(store)
    clock.advance(60)
    assert not await again.contains("k")
    if not hasattr(store, "facade"):
        copy = pickle.loads(pickle.dumps(store))
        assert copy.ttl == 30.0 and not await copy.contains("k")


async def test_a_store_without_ttl_ignores_deadlines(make_store: Any, fmt: str, clock: Clock) -> None:
    v = sample_values(fmt)[0]
    store = make_store(ttl=10)
    await store.set_item("k", v)
    clock.advance(20)
    params = store.get_params()
    if "ttl" not in params:
        pytest.skip("a wrapper's expiry is its main store's")
    blind = reopen(store, **{**params, "ttl": None})
    assert await blind.get_item("k") == v and await blind.contains("k")
    assert not await store.contains("k")


def test_files_expiry_adds_no_file_per_key(tmp_path: Any, clock: Clock, backend: Backend) -> None:
    if not backend.name.startswith("files-"):
        pytest.skip("about the file layout")
    import persidict_sync as sync

    def value_files() -> list[Any]:  # the lock folder and temp files are hidden (".#")
        return [p for p in tmp_path.rglob("*") if p.is_file() and ".#" not in str(p)]

    d = sync.PersiDict.wrap(backend.make(tmp_path, ttl=10))
    for i in range(20):
        d[f"k{i}"] = sample_values(backend.serialization_format)[0]
    assert len(value_files()) == 20
    clock.advance(20)
    assert len(d) == 0 and d.cull() == 20
    assert not value_files()
