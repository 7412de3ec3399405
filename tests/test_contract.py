"""The SPEC.md contract, on every backend, through the async API and the sync facade."""

from __future__ import annotations

import pickle
import time
from typing import Any

import pytest

from persidict_async import (
    DELETE_CURRENT,
    KEEP_CURRENT,
    MutationPolicyError,
    NonEmptySafeStrTuple,
    SafeStrTuple,
)

from .adapters import reopen
from .backends import Backend, other_value, sample_values


async def alist(ait: Any) -> list[Any]:
    return [x async for x in ait]


async def test_set_get_roundtrip(store: Any, fmt: str) -> None:
    for i, value in enumerate(sample_values(fmt)):
        await store.set_item(f"k{i}", value)
        got = await store.get_item(f"k{i}")
        assert got == value and type(got) is type(value)
    assert await store.len() == len(sample_values(fmt))


async def test_missing_key_raises_keyerror_with_normalised_key(store: Any) -> None:
    with pytest.raises(KeyError) as info:
        await store.get_item(("nope", "x"))
    assert info.value.args[0] == ("nope", "x")
    assert isinstance(info.value.args[0], NonEmptySafeStrTuple)
    with pytest.raises(KeyError):
        await store.delete_item("nope")


async def test_overwrite_and_delete(store: Any, fmt: str) -> None:
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    await store.set_item("a", v1)
    await store.set_item("a", v2)
    assert await store.get_item("a") == v2
    assert await store.contains("a")
    await store.delete_item("a")
    assert not await store.contains("a")
    assert await store.len() == 0


async def test_key_forms_are_equivalent(store: Any, fmt: str) -> None:
    value = sample_values(fmt)[0]
    await store.set_item(("a", "b"), value)
    assert await store.get_item(["a", "b"]) == value
    assert await store.get_item(SafeStrTuple("a", "b")) == value
    assert await store.get_item([["a"], ("b",)]) == value  # nested sequences flatten
    await store.set_item("single", value)
    assert await store.get_item(("single",)) == value
    keys = await alist(store.keys())
    assert sorted(keys) == [("a", "b"), ("single",)]
    assert all(isinstance(k, SafeStrTuple) for k in keys)


@pytest.mark.parametrize(
    "bad, error",
    [
        ("a/b", ValueError), ("", ValueError), ("..", ValueError), (".", ValueError),
        ("a b", ValueError), ((), ValueError), ({"a": 1}, TypeError), (5, TypeError),
        (("a", 5), TypeError), ("ü", ValueError), ("a\x00", ValueError), (b"a", TypeError),
    ],
)  # fmt: skip
async def test_bad_keys_are_refused_before_io(store: Any, bad: Any, error: type) -> None:
    with pytest.raises(error):
        await store.set_item(bad, "x")
    with pytest.raises(error):
        await store.get_item(bad)
    with pytest.raises(error):
        await store.contains(bad)
    assert await store.len() == 0


async def test_jokers(store: Any, fmt: str) -> None:
    value = sample_values(fmt)[0]
    await store.set_item("a", value)
    etag = await store.etag("a")
    await store.set_item("a", KEEP_CURRENT)
    assert await store.get_item("a") == value
    assert await store.etag("a") == etag
    await store.set_item("a", DELETE_CURRENT)
    assert not await store.contains("a")
    await store.set_item("absent", DELETE_CURRENT)  # no error when absent
    await store.set_item("absent", KEEP_CURRENT)
    assert await store.len() == 0


async def test_get_setdefault_pop_popitem_discard(store: Any, fmt: str) -> None:
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    assert await store.get("a") is None
    assert await store.get("a", v2) == v2
    assert await store.setdefault("a", v1) == v1
    assert await store.setdefault("a", v2) == v1
    assert await store.pop("a") == v1
    assert await store.pop("a", "dflt") == "dflt"
    with pytest.raises(KeyError):
        await store.pop("a")
    await store.set_item("b", v2)
    key, value = await store.popitem()
    assert key == ("b",) and value == v2
    with pytest.raises(KeyError):
        await store.popitem()
    await store.set_item("c", v1)
    assert await store.discard("c") is True
    assert await store.discard("c") is False
    with pytest.raises(TypeError):
        await store.setdefault("x", KEEP_CURRENT)


async def test_update_and_clear(store: Any, fmt: str) -> None:
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    await store.update({"a": v1, ("b", "c"): v2})
    await store.update([("d", v1)], e=v2)
    assert await store.len() == 4
    assert await store.get_item(("b", "c")) == v2
    assert await store.get_item("e") == v2
    await store.clear()
    assert await store.len() == 0
    assert await store.is_empty()


async def test_iteration_variants(store: Any, fmt: str) -> None:
    values = sample_values(fmt)
    expected = {NonEmptySafeStrTuple("k", str(i)): v for i, v in enumerate(values)}
    await store.set_many(expected)
    assert sorted(await alist(store.keys())) == sorted(expected)
    assert sorted(await alist(store)) == sorted(expected)
    assert dict(await alist(store.items())) == expected
    assert sorted(map(repr, await alist(store.values()))) == sorted(map(repr, values))
    kts = await alist(store.keys_and_timestamps())
    assert {k for k, _ in kts} == set(expected)
    assert all(isinstance(t, float) and abs(t - time.time()) < 3600 for _, t in kts)
    vts = await alist(store.values_and_timestamps())
    assert len(vts) == len(values)
    its = await alist(store.items_and_timestamps())
    assert {k: v for k, v, _ in its} == expected


async def test_iteration_skips_keys_deleted_meanwhile(store: Any, fmt: str) -> None:
    value = sample_values(fmt)[0]
    await store.set_many({f"k{i}": value for i in range(6)})
    seen = []
    async for key, got in store.items():
        seen.append(key)
        assert got == value
        if len(seen) == 1:
            await store.delete_many([f"k{i}" for i in range(6)], missing_ok=True)
    facade = getattr(store, "facade", None)
    if facade is None or facade._inline:
        assert len(seen) == 1  # every other key was deleted before it was reached
    else:
        assert 1 <= len(seen) <= 6  # network facades prefetch a page at a time
    assert await store.len() == 0


async def test_timestamps_and_etags(store: Any, fmt: str) -> None:
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    before = time.time()
    await store.set_item("a", v1)
    ts, etag = await store.timestamp("a"), await store.etag("a")
    assert before - 2 <= ts <= time.time() + 2
    assert isinstance(etag, str) and etag
    await store.set_item("a", v2)
    assert await store.etag("a") != etag
    for fn in (store.timestamp, store.etag):
        with pytest.raises(KeyError):
            await fn("missing")


async def test_oldest_newest(store: Any, fmt: str, backend: Backend) -> None:
    value = sample_values(fmt)[0]
    for i, name in enumerate(("first", "second", "third")):
        if i:
            time.sleep(0.02 + backend.timestamp_resolution)  # distinct timestamps
        await store.set_item(name, value)
    assert await store.oldest_keys() == [("first",), ("second",), ("third",)]
    assert await store.newest_keys(2) == [("third",), ("second",)]
    assert await store.oldest_keys(0) == []
    assert await store.oldest_values(1) == [value]
    assert await store.newest_values() == [value, value, value]


async def test_random_key(store: Any, fmt: str) -> None:
    assert await store.random_key() is None
    keys = {("k", str(i)) for i in range(5)}
    await store.set_many({k: sample_values(fmt)[0] for k in keys})
    seen = {await store.random_key() for _ in range(60)}
    assert seen <= keys and len(seen) >= 2


async def test_subdicts_share_data(store: Any, fmt: str) -> None:
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    await store.set_item(("users", "ada"), v1)
    await store.set_item(("users", "bob", "x"), v2)
    await store.set_item(("teams", "core"), v1)
    await store.set_item("top", v1)
    users = store.get_subdict("users")
    assert sorted(await alist(users.keys())) == [("ada",), ("bob", "x")]
    assert await users.get_item("ada") == v1
    await users.set_item("cy", v2)
    assert await store.get_item(("users", "cy")) == v2
    nested = users.get_subdict(("bob",))
    assert await nested.get_item("x") == v2
    whole = store.get_subdict(())
    assert await whole.len() == await store.len()
    subs = await store.subdicts()
    assert sorted(subs) == ["teams", "users"]
    assert await subs["teams"].get_item("core") == v1
    assert type(users) is type(store)


async def test_append_only(make_store: Any, fmt: str) -> None:
    store = make_store(append_only=True)
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    await store.set_item("a", v1)
    with pytest.raises(MutationPolicyError) as info:
        await store.set_item("a", v2)
    assert info.value.policy == "append-only" and isinstance(info.value, TypeError)
    assert await store.get_item("a") == v1
    for call in (
        lambda: store.delete_item("a"), lambda: store.delete_item("absent"),
        lambda: store.discard("absent"), lambda: store.pop("a"), lambda: store.popitem(),
        lambda: store.clear(), lambda: store.set_item("a", DELETE_CURRENT),
        lambda: store.set_item("absent", DELETE_CURRENT), lambda: store.delete_many(["a"]),
    ):  # fmt: skip
        with pytest.raises(MutationPolicyError):
            await call()
    await store.set_item("a", KEEP_CURRENT)
    assert await store.get_item("a") == v1 and await store.len() == 1


async def test_base_class_for_values(make_store: Any, fmt: str) -> None:
    if fmt not in ("pkl", "json"):
        with pytest.raises(ValueError):
            make_store(base_class_for_values=None)
        return
    store = make_store(base_class_for_values=dict)
    await store.set_item("ok", {"a": 1})
    with pytest.raises(TypeError):
        await store.set_item("bad", [1])
    assert not await store.contains("bad")
    assert await store.get_item("ok") == {"a": 1}


async def test_read_checks_base_class(make_store: Any, fmt: str) -> None:
    if fmt not in ("pkl", "json"):
        pytest.skip("text stores hold str only")
    store = make_store()
    await store.set_item("a", {"x": 1})
    params = store.get_params()
    params["base_class_for_values"] = list
    strict = reopen(store, **params)
    with pytest.raises(TypeError):
        await strict.get_item("a")


async def test_storing_a_store_is_refused(store: Any) -> None:
    with pytest.raises(TypeError):
        await store.set_item("a", store.facade if hasattr(store, "facade") else store)
    assert await store.len() == 0


async def test_unencodable_value_leaves_nothing(store: Any, fmt: str) -> None:
    import threading

    bad: Any = threading.Lock() if fmt == "pkl" else object()
    with pytest.raises(TypeError):
        await store.set_item("a", bad)
    assert not await store.contains("a") and await store.len() == 0


async def test_params_repr_pickle_rebuild(store: Any, fmt: str) -> None:
    value = sample_values(fmt)[0]
    await store.set_item("a", value)
    params = store.get_params()
    assert list(params) == sorted(params)
    assert params["serialization_format"] == fmt
    text = repr(store.facade if hasattr(store, "facade") else store)
    assert text.startswith(type(store.facade if hasattr(store, "facade") else store).__name__ + "(")
    assert "serialization_format=" in text
    again = reopen(store)
    assert await again.get_item("a") == value
    obj = store.facade if hasattr(store, "facade") else store
    clone = pickle.loads(pickle.dumps(obj))
    assert type(clone) is type(obj) and clone.get_params().keys() == params.keys()


async def test_batches(store: Any, fmt: str) -> None:
    values = sample_values(fmt)
    keys = [("b", str(i)) for i in range(len(values))]
    await store.set_many(list(zip(keys, values, strict=True)), max_concurrency=3)
    assert await store.get_many(keys, max_concurrency=2) == values
    with pytest.raises(KeyError):
        await store.get_many([*keys, "missing"])
    assert (await store.get_many(["missing", keys[0]], default="D")) == ["D", values[0]]
    assert await store.delete_many(keys[:2]) == 2
    with pytest.raises(KeyError):
        await store.delete_many(keys[:1])
    assert await store.delete_many([keys[0], keys[2]], missing_ok=True) == 1
    assert await store.len() == len(values) - 3
    with pytest.raises(TypeError):
        await store.set_many([("a",)])
    with pytest.raises(ValueError):
        await store.get_many(keys, max_concurrency=0)


async def test_set_many_validates_everything_before_writing(store: Any, fmt: str) -> None:
    good = sample_values(fmt)[0]
    with pytest.raises(ValueError):
        await store.set_many([("a", good), ("bad/key", good)])
    assert await store.len() == 0


async def test_values_are_isolated_from_the_caller(store: Any, fmt: str) -> None:
    if fmt not in ("pkl", "json"):
        pytest.skip("str values are immutable")
    value = {"a": [1]}
    await store.set_item("k", value)
    value["a"].append(2)
    got = await store.get_item("k")
    assert got == {"a": [1]}
    got["a"].append(3)
    assert await store.get_item("k") == {"a": [1]}
