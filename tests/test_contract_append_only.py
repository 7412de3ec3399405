"""The SPEC.md contract of append-only stores, through the async API and the sync facade.

Runs on APPEND_ONLY_BACKENDS: append-only LocalDict, FileDirDict, BasicS3Dict and
S3Dict, WriteOnceDict over each plain kind, and AppendOnlyDictCached over local,
file and S3 main stores. The ``backend`` fixture below overrides the one of
conftest.py, so the matrix fixtures (``store``, ``make_store``, ``fmt``) build
these stores; the rules shared with mutable stores are the contract tests
themselves, imported from test_contract.py and test_conditional.py.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

import persidict_async as aio
from persidict_async import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    DELETE_CURRENT,
    ETAG_IS_THE_SAME,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    MutationPolicyError,
    NonEmptySafeStrTuple,
)

from . import test_conditional as conditional
from . import test_contract as contract
from .backends import APPEND_ONLY_BACKENDS, Backend, other_value, requested_backend, sample_values
from .clock import Clock
from .test_conditional import CONDITIONS, EXPECTED, NA, RETRIEVES, check, check_left_as_is, holds, seen

# The contract rules that hold for append-only stores too, run here on this matrix.
test_set_get_roundtrip = contract.test_set_get_roundtrip
test_key_forms_are_equivalent = contract.test_key_forms_are_equivalent
test_bad_keys_are_refused_before_io = contract.test_bad_keys_are_refused_before_io
test_iteration_variants = contract.test_iteration_variants
test_oldest_newest = contract.test_oldest_newest
test_random_key = contract.test_random_key
test_subdicts_share_data = contract.test_subdicts_share_data
test_base_class_for_values = contract.test_base_class_for_values
test_read_checks_base_class = contract.test_read_checks_base_class
test_storing_a_store_is_refused = contract.test_storing_a_store_is_refused
test_unencodable_value_leaves_nothing = contract.test_unencodable_value_leaves_nothing
test_params_repr_pickle_rebuild = contract.test_params_repr_pickle_rebuild
test_set_many_validates_everything_before_writing = contract.test_set_many_validates_everything_before_writing
test_values_are_isolated_from_the_caller = contract.test_values_are_isolated_from_the_caller
test_bad_condition_arguments = conditional.test_bad_condition_arguments


@pytest.fixture(params=APPEND_ONLY_BACKENDS, ids=[b.name for b in APPEND_ONLY_BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    return requested_backend(request)


@pytest.fixture
def policy(backend: Backend) -> str:
    return backend.policy


def async_store(store: Any) -> aio.PersiDict[Any]:
    """The async store behind the store under test (the facade's, in the sync API)."""
    facade = getattr(store, "facade", None)
    return store if facade is None else facade.aio  # type: ignore[no-any-return]


async def refused(policy: str, call: Awaitable[Any]) -> None:
    """Awaiting ``call`` raises MutationPolicyError naming ``policy``."""
    with pytest.raises(MutationPolicyError) as info:
        await call
    assert info.value.policy == policy and isinstance(info.value, TypeError)


async def test_stores_are_append_only(store: Any) -> None:
    assert store.get_params()["append_only"] is True


async def test_missing_keys(store: Any) -> None:
    with pytest.raises(KeyError) as info:
        await store.get_item(("nope", "x"))
    assert info.value.args[0] == ("nope", "x") and isinstance(info.value.args[0], NonEmptySafeStrTuple)
    assert await store.get("nope", "dflt") == "dflt" and not await store.contains("nope")
    for fn in (store.etag, store.timestamp):
        with pytest.raises(KeyError):
            await fn("nope")
    assert await store.is_empty() and await store.len() == 0


async def test_first_writes_etags_timestamps(store: Any, fmt: str) -> None:
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    await store.set_item("a", v1)
    etag, ts = await store.etag("a"), await store.timestamp("a")
    assert isinstance(etag, str) and etag and isinstance(ts, float)
    assert await store.setdefault("b", v2) == v2  # a first write
    assert await store.setdefault("a", v2) == v1  # never changes an existing key, never raises
    assert await store.etag("a") == etag and await store.timestamp("a") == ts
    assert await store.get_item("a") == v1 and await store.len() == 2
    inner = async_store(store)
    if isinstance(inner, aio.WriteOnceDict | aio.AppendOnlyDictCached):
        # A wrapper's ETags and timestamps are its main store's.
        main = inner.wrapped_dict if isinstance(inner, aio.WriteOnceDict) else inner.main_dict
        assert await main.etag("a") == etag and await main.timestamp("a") == ts


async def test_overwrites(make_store: Any, fmt: str, policy: str) -> None:
    store = make_store()
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    await store.set_item("a", v1)
    etag = await store.etag("a")
    overwrites: list[Callable[[], Awaitable[Any]]] = [
        lambda: store.set_item("a", v2),
        lambda: store.set_many({"a": v2, "b": v1}),
        lambda: store.update({"a": v2}),
    ]
    for call in overwrites:
        if policy == "append-only":
            await refused("append-only", call())
        else:
            await call()  # a repeat write is ignored
    assert await store.get_item("a") == v1 and await store.etag("a") == etag
    if policy == "write-once":
        assert await store.get_item("b") == v1  # set_many wrote the new key
        assert store.consistency_checks_attempted == 0  # p_consistency_checks=0: never checked


async def test_write_once_consistency_checks(make_store: Any, fmt: str, policy: str) -> None:
    if policy != "write-once":
        pytest.skip("only a WriteOnceDict checks repeat writes")
    store = make_store(p_consistency_checks=1.0)
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    await store.set_item("a", v1)
    await store.set_item("a", v1)  # the same value: the check passes
    await refused("write-once", store.set_item("a", v2))
    await refused("write-once", store.set_many({"a": v2}))
    assert await store.get_item("a") == v1
    assert store.consistency_checks_attempted == 3
    assert store.consistency_checks_passed == 1
    assert store.consistency_checks_failed == 2


DELETE_PATHS: dict[str, Callable[[Any, str], Any]] = {
    "del": lambda s, k: s.delete_item(k),
    "pop": lambda s, k: s.pop(k),
    "pop-default": lambda s, k: s.pop(k, None),
    "popitem": lambda s, k: s.popitem(),
    "discard": lambda s, k: s.discard(k),
    "delete_many": lambda s, k: s.delete_many([k]),
    "delete_many-missing-ok": lambda s, k: s.delete_many([k], missing_ok=True),
    "clear": lambda s, k: s.clear(),
    "discard_if": lambda s, k: s.discard_if(k, condition=ANY_ETAG, expected_etag=NA),
    "DELETE_CURRENT": lambda s, k: s.set_item(k, DELETE_CURRENT),
    "set_item_if-DELETE_CURRENT": lambda s, k: s.set_item_if(
        k, value=DELETE_CURRENT, condition=ANY_ETAG, expected_etag=NA
    ),
    "transform_item-DELETE_CURRENT": lambda s, k: s.transform_item(k, transformer=lambda v: DELETE_CURRENT),
}


@pytest.mark.parametrize("path", list(DELETE_PATHS))
async def test_every_delete_path_raises(store: Any, fmt: str, policy: str, path: str) -> None:
    delete = DELETE_PATHS[path]
    await refused(policy, delete(store, "absent"))  # even on an empty store
    value = sample_values(fmt)[0]
    await store.set_item("a", value)
    for key in ("a", "absent"):
        await refused(policy, delete(store, key))
    assert await store.get_item("a") == value and await store.len() == 1


async def test_jokers(store: Any, fmt: str, policy: str) -> None:
    value = sample_values(fmt)[0]
    await store.set_item("a", value)
    etag = await store.etag("a")
    for key in ("a", "absent"):
        await store.set_item(key, KEEP_CURRENT)
        await store.set_many({key: KEEP_CURRENT})
        await refused(policy, store.set_item(key, DELETE_CURRENT))
    kept = await store.set_item_if("a", value=KEEP_CURRENT, condition=ANY_ETAG, expected_etag=NA,
                                   retrieve_value=ALWAYS_RETRIEVE)  # fmt: skip
    check(kept, True, etag, etag, value)
    assert await store.etag("a") == etag and await store.len() == 1


async def test_get_item_if_matrix(store: Any, fmt: str) -> None:
    value = sample_values(fmt)[0]
    await store.set_item("present", value)
    actual = await store.etag("present")
    for present, cond, exp_kind, retrieve in itertools.product(
        [True, False], CONDITIONS, EXPECTED, RETRIEVES
    ):
        key, etag = ("present", actual) if present else ("absent", NA)
        expected = {"actual": etag, "stale": "stale-etag", "absent": NA}[exp_kind]
        result = await store.get_item_if(key, condition=cond, expected_etag=expected,
                                         retrieve_value=retrieve)  # fmt: skip
        sat = holds(cond, expected, etag)
        if present:
            check(result, sat, etag, etag, seen(retrieve, expected, etag, value))
        else:
            check(result, sat, NA, NA, NA)
    got = await store.get_with_etag("present")
    check(got, True, actual, actual, value)


async def put_in_state(store: Any, key: str, present: bool, value: Any, exp_kind: str) -> tuple[Any, Any]:
    """Write ``key`` if it should be present; return (actual etag, expected etag)."""
    actual: Any = NA
    if present:
        await store.set_item(key, value)
        actual = await store.etag(key)
    return actual, {"actual": actual, "stale": "stale-etag", "absent": NA}[exp_kind]


async def test_set_item_if_matrix(store: Any, fmt: str, policy: str) -> None:
    old, new = sample_values(fmt)[0], other_value(fmt)
    combinations = itertools.product([True, False], CONDITIONS, EXPECTED, RETRIEVES, ["value", "keep"])
    for i, (present, cond, exp_kind, retrieve, kind) in enumerate(combinations):
        key = f"k{i}"
        actual, expected = await put_in_state(store, key, present, old, exp_kind)
        payload = new if kind == "value" else KEEP_CURRENT
        sat = holds(cond, expected, actual)
        call = store.set_item_if(key, value=payload, condition=cond, expected_etag=expected,
                                 retrieve_value=retrieve)  # fmt: skip
        if kind == "value" and sat and present:
            # An overwrite; a WriteOnceDict refuses it too rather than report a
            # satisfied condition for a write that did not happen.
            await refused(policy, call)
            assert await store.get_item(key) == old and await store.etag(key) == actual
            continue
        result = await call
        if kind == "value" and sat:  # a first write
            check(result, True, NA, "new", new)
            assert await store.get_item(key) == new and await store.etag(key) == result.resulting_etag
        else:
            await check_left_as_is(store, key, result, present, sat, actual, expected, retrieve, old)


async def test_setdefault_if_matrix(store: Any, fmt: str) -> None:
    old, new = sample_values(fmt)[0], other_value(fmt)
    combinations = itertools.product([True, False], CONDITIONS, EXPECTED, RETRIEVES)
    for i, (present, cond, exp_kind, retrieve) in enumerate(combinations):
        key = f"k{i}"
        actual, expected = await put_in_state(store, key, present, old, exp_kind)
        result = await store.setdefault_if(key, default_value=new, condition=cond,
                                           expected_etag=expected, retrieve_value=retrieve)  # fmt: skip
        sat = holds(cond, expected, actual)
        if present:
            check(result, sat, actual, actual, seen(retrieve, expected, actual, old))
            assert await store.get_item(key) == old
        elif sat:
            check(result, True, NA, "new", new)
            assert await store.get_item(key) == new
        else:
            check(result, False, NA, NA, NA)
            assert not await store.contains(key)


async def test_discard_if_always_raises(store: Any, fmt: str, policy: str) -> None:
    value = sample_values(fmt)[0]
    for i, (present, cond, exp_kind) in enumerate(itertools.product([True, False], CONDITIONS, EXPECTED)):
        key = f"k{i}"
        _, expected = await put_in_state(store, key, present, value, exp_kind)
        await refused(policy, store.discard_if(key, condition=cond, expected_etag=expected))
        assert (await store.get_item(key) == value) if present else not await store.contains(key)


async def test_insert_only_if_absent_has_one_winner(
    store: Any, fmt: str, backend: Backend, request: pytest.FixtureRequest
) -> None:
    if "s3_server" in backend.needs and request.getfixturevalue("s3_server").kind == "moto":
        # moto checks If-None-Match and then writes without a lock; the S3 stores
        # meet this race on SeaweedFS (nox -s s3_integration, and tests/reliability).
        pytest.skip("moto's conditional writes are not atomic")
    values = [sample_values(fmt)[0], other_value(fmt)] * 4
    results = await asyncio.gather(*(
        store.set_item_if("k", value=v, condition=ETAG_IS_THE_SAME, expected_etag=ITEM_NOT_AVAILABLE,
                          retrieve_value=ALWAYS_RETRIEVE)
        for v in values
    ))  # fmt: skip
    winners = [r for r in results if r.value_was_mutated]
    assert len(winners) == 1 and sum(r.condition_was_satisfied for r in results) == 1
    stored = await store.get_item("k")
    assert stored == winners[0].new_value and await store.etag("k") == winners[0].resulting_etag
    assert all(r.new_value == stored and r.actual_etag == winners[0].resulting_etag
               for r in results if r is not winners[0])  # fmt: skip


async def test_cull_removes_expired_values(make_store: Any, fmt: str, clock: Clock) -> None:
    v, w = sample_values(fmt)[0], other_value(fmt)
    store = make_store(ttl=math.inf)
    await store.set_item("keep", v)
    await store.set_item("brief", v, ttl=1)
    clock.advance(2)
    assert not await store.contains("brief") and await store.len() == 1
    # Expired values are garbage even here: cull() removes them, then a first write works.
    assert await store.cull() == 1
    await store.set_item("brief", w)
    assert await store.get_item("brief") == w and await store.get_item("keep") == v
    assert await store.len() == 2


async def test_transform_item(store: Any, fmt: str, policy: str) -> None:
    v1, v2 = sample_values(fmt)[0], other_value(fmt)
    nothing = await store.transform_item("k", transformer=lambda v: KEEP_CURRENT)
    assert nothing.new_value is NA and nothing.resulting_etag is NA and not await store.contains("k")
    seen_values: list[Any] = []

    def first(value: Any) -> Any:
        seen_values.append(value)
        return v1

    written = await store.transform_item("k", transformer=first)  # a first write
    assert seen_values == [NA] and written.new_value == v1
    assert written.resulting_etag == await store.etag("k") and await store.get_item("k") == v1
    await refused(policy, store.transform_item("k", transformer=lambda v: v2))
    kept = await store.transform_item("k", transformer=lambda v: KEEP_CURRENT)
    assert kept.new_value == v1 and kept.resulting_etag == written.resulting_etag
    assert await store.get_item("k") == v1
