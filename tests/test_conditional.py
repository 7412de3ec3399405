"""The conditional-operation matrix: condition x expected_etag x retrieve_value x
jokers x append_only x key state, checked against a small reference model, on
every backend through both APIs.

Each test runs on plain stores and on stores with expiry (``ttl=math.inf``),
where a third key state, "expired" (a value whose own ttl has passed), must
behave exactly like an absent key; its physical ETag is then the stale one."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from typing import Any

import pytest

from persidict_async import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    DELETE_CURRENT,
    ETAG_HAS_CHANGED,
    ETAG_IS_THE_SAME,
    IF_ETAG_CHANGED,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    NEVER_RETRIEVE,
    VALUE_NOT_RETRIEVED,
    ConcurrencyConflictError,
    ConditionalOperationResult,
    MutationPolicyError,
)
from persidict_async.flags import ETagConditionFlag, RetrieveValueFlag

from .backends import Backend, other_value, sample_values
from .clock import Clock

CONDITIONS = [ANY_ETAG, ETAG_IS_THE_SAME, ETAG_HAS_CHANGED]
RETRIEVES = [ALWAYS_RETRIEVE, NEVER_RETRIEVE, IF_ETAG_CHANGED]
EXPECTED = ["actual", "stale", "absent"]
NA = ITEM_NOT_AVAILABLE


def holds(condition: ETagConditionFlag, expected: Any, actual: Any) -> bool:
    """The reference meaning of the three conditions."""
    if condition is ANY_ETAG:
        return True
    return (expected == actual) if condition is ETAG_IS_THE_SAME else (expected != actual)


def seen(retrieve: RetrieveValueFlag, expected: Any, actual: Any, value: Any) -> Any:
    """The value a result reports for a present key that was left as it was."""
    if retrieve is ALWAYS_RETRIEVE or (retrieve is IF_ETAG_CHANGED and expected != actual):
        return value
    return VALUE_NOT_RETRIEVED


class Mode:
    """Plain stores, or stores with expiry where keys may also be expired."""

    def __init__(self, expiring: bool, clock: Clock) -> None:
        self.expiring = expiring
        self.clock = clock
        self.options: dict[str, Any] = {"ttl": math.inf} if expiring else {}
        self.states = ["present", "absent", "expired"] if expiring else ["present", "absent"]


@pytest.fixture(params=["plain", "expiring"])
def mode(request: pytest.FixtureRequest, clock: Clock, backend: Backend) -> Iterator[Mode]:
    if request.param == "expiring" and "s3_server" in backend.needs and backend.name != "s3-pkl":
        # The stores built on BasicS3Dict add no expiry logic of their own (test_expiry.py
        # covers them); the matrix runs once on S3, over BasicS3Dict, to bound the time.
        pytest.skip("the expiring matrix runs on S3 through s3-pkl")
    yield Mode(request.param == "expiring", clock)


async def prepare(
    store: Any, key: str, state: str, value: Any, expected_kind: str, mode: Mode
) -> tuple[Any, Any]:
    """Put a fresh ``key`` in the wanted state; return (actual etag, expected etag).

    Every case of a matrix uses a key of its own in one store, so that append-only
    stores need no deleting and network stores no new client per case.
    """
    actual: Any = NA
    stale = "stale-etag"
    if state == "present":
        await store.set_item(key, value)
        actual = await store.etag(key)
    elif state == "expired":
        await store.set_item(key, value, ttl=1)
        stale = await store.etag(key)  # seen before it expired: now stale
        mode.clock.advance(2)
        assert not await store.contains(key)
    expected = {"actual": actual, "stale": stale, "absent": NA}[expected_kind]
    return actual, expected


def check(result: Any, satisfied: bool, actual: Any, resulting: Any, value: Any) -> None:
    assert isinstance(result, ConditionalOperationResult)
    assert result.condition_was_satisfied is satisfied
    assert result.actual_etag == actual
    if resulting == "new":
        assert isinstance(result.resulting_etag, str) and result.resulting_etag != actual
        assert result.value_was_mutated
    else:
        assert result.resulting_etag == resulting
    assert result.new_value == value or result.new_value is value


async def check_left_as_is(
    store: Any, key: str, result: Any, present: bool, sat: bool, actual: Any, expected: Any,
    retrieve: RetrieveValueFlag, old: Any,
) -> None:  # fmt: skip
    """A result that changed nothing: ``key`` still holds ``old``, or is still absent."""
    if present:
        check(result, sat, actual, actual, seen(retrieve, expected, actual, old))
        assert await store.get_item(key) == old
    else:
        check(result, sat, NA, NA, NA)
        assert not await store.contains(key)


async def test_get_item_if_matrix(make_store: Any, fmt: str, mode: Mode) -> None:
    value = sample_values(fmt)[0]
    store = make_store(**mode.options)
    for i, (state, cond, exp_kind, retrieve) in enumerate(itertools.product(
        mode.states, CONDITIONS, EXPECTED, RETRIEVES
    )):  # fmt: skip
        present, key = state == "present", f"k{i}"
        actual, expected = await prepare(store, key, state, value, exp_kind, mode)
        result = await store.get_item_if(
            key, condition=cond, expected_etag=expected, retrieve_value=retrieve
        )
        sat = holds(cond, expected, actual)
        if present:
            check(result, sat, actual, actual, seen(retrieve, expected, actual, value))
            assert not result.value_was_mutated
        else:
            check(result, sat, NA, NA, NA)
    got = await store.get_with_etag("last")
    check(got, True, NA, NA, NA)
    await store.set_item("last", value)
    got = await store.get_with_etag("last")
    assert got.new_value == value and got.actual_etag == await store.etag("last")


@pytest.mark.parametrize("append_only", [False, True])
async def test_set_item_if_matrix(make_store: Any, fmt: str, append_only: bool, mode: Mode) -> None:
    old, new = sample_values(fmt)[0], other_value(fmt)
    store = make_store(append_only=append_only, **mode.options)
    for i, (state, cond, exp_kind, retrieve, kind) in enumerate(itertools.product(
        mode.states, CONDITIONS, EXPECTED, RETRIEVES, ["value", "keep", "delete"]
    )):  # fmt: skip
        present, key = state == "present", f"k{i}"
        actual, expected = await prepare(store, key, state, old, exp_kind, mode)
        payload = {"value": new, "keep": KEEP_CURRENT, "delete": DELETE_CURRENT}[kind]
        sat = holds(cond, expected, actual)
        call = store.set_item_if(
            key, value=payload, condition=cond, expected_etag=expected, retrieve_value=retrieve
        )
        if append_only and (kind == "delete" or (kind == "value" and sat and present)):
            with pytest.raises(MutationPolicyError):
                await call
            assert (await store.get_item(key) == old) if present else not await store.contains(key)
            continue
        result = await call
        if not sat or kind == "keep":
            await check_left_as_is(store, key, result, present, sat, actual, expected, retrieve, old)
        elif kind == "delete":
            check(result, True, actual, NA, NA)
            assert not await store.contains(key)
        else:
            check(result, True, actual, "new", new)
            assert await store.get_item(key) == new
            assert await store.etag(key) == result.resulting_etag


async def test_setdefault_if_matrix(make_store: Any, fmt: str, mode: Mode) -> None:
    old, new = sample_values(fmt)[0], other_value(fmt)
    store = make_store(**mode.options)
    for i, (state, cond, exp_kind, retrieve) in enumerate(itertools.product(
        mode.states, CONDITIONS, EXPECTED, RETRIEVES
    )):  # fmt: skip
        present, key = state == "present", f"k{i}"
        actual, expected = await prepare(store, key, state, old, exp_kind, mode)
        result = await store.setdefault_if(
            key, default_value=new, condition=cond, expected_etag=expected,
            retrieve_value=retrieve,
        )  # fmt: skip
        sat = holds(cond, expected, actual)
        if present:
            check(result, sat, actual, actual, seen(retrieve, expected, actual, old))
            assert await store.get_item(key) == old  # never changes an existing key
        elif sat:
            check(result, True, NA, "new", new)
            assert await store.get_item(key) == new
        else:
            check(result, False, NA, NA, NA)
            assert not await store.contains(key)
    for joker in (KEEP_CURRENT, DELETE_CURRENT):
        with pytest.raises(TypeError):
            await store.setdefault_if("j", default_value=joker, condition=ANY_ETAG,
                                      expected_etag=NA)  # fmt: skip


@pytest.mark.parametrize("append_only", [False, True])
async def test_discard_if_matrix(make_store: Any, fmt: str, append_only: bool, mode: Mode) -> None:
    value = sample_values(fmt)[0]
    store = make_store(append_only=append_only, **mode.options)
    for i, (state, cond, exp_kind) in enumerate(itertools.product(mode.states, CONDITIONS, EXPECTED)):
        present, key = state == "present", f"k{i}"
        actual, expected = await prepare(store, key, state, value, exp_kind, mode)
        if append_only:
            with pytest.raises(MutationPolicyError):
                await store.discard_if(key, condition=cond, expected_etag=expected)
            continue
        result = await store.discard_if(key, condition=cond, expected_etag=expected)
        sat = holds(cond, expected, actual)
        if not present:
            check(result, sat, NA, NA, NA)
        elif sat:
            check(result, True, actual, NA, NA)
            assert not await store.contains(key)
        else:
            check(result, False, actual, actual, VALUE_NOT_RETRIEVED)
            assert await store.get_item(key) == value


async def test_bad_condition_arguments(store: Any) -> None:
    with pytest.raises(TypeError):
        await store.get_item_if("k", condition="same", expected_etag=NA)
    with pytest.raises(TypeError):
        await store.get_item_if("k", condition=ANY_ETAG, expected_etag=5)
    with pytest.raises(TypeError):
        await store.set_item_if("k", value=1, condition=ANY_ETAG, expected_etag=NA,
                                retrieve_value=True)  # fmt: skip
    with pytest.raises(ValueError):
        await store.get_item_if("bad/key", condition=ANY_ETAG, expected_etag=NA)


async def test_transform_item(store: Any, fmt: str) -> None:
    if fmt not in ("pkl", "json"):
        step = lambda v: "x" if v is NA else v + "x"  # noqa: E731
        expect_after = ["x", "xx", "xxx"]
    else:
        step = lambda v: 1 if v is NA else v + 1  # noqa: E731
        expect_after = [1, 2, 3]
    for after in expect_after:
        result = await store.transform_item("c", transformer=step)
        assert result.new_value == after
        assert result.resulting_etag == await store.etag("c")
    kept = await store.transform_item("c", transformer=lambda v: KEEP_CURRENT)
    assert kept.new_value == expect_after[-1] and kept.resulting_etag == await store.etag("c")
    gone = await store.transform_item("c", transformer=lambda v: DELETE_CURRENT)
    assert gone.new_value is NA and gone.resulting_etag is NA
    assert not await store.contains("c")
    again = await store.transform_item("c", transformer=lambda v: DELETE_CURRENT)
    assert again.new_value is NA
    with pytest.raises(ValueError):
        await store.transform_item("c", transformer=step, n_retries=-1)


async def test_transform_item_gives_up_after_n_retries(store: Any, fmt: str) -> None:
    values = [sample_values(fmt)[0], other_value(fmt)]
    await store.set_item("c", values[0])
    calls = 0

    def interfering(value: Any) -> Any:
        nonlocal calls
        calls += 1
        return values[calls % 2]

    # Another writer always gets in first: wrap the primitive to write before us.
    target = getattr(store, "facade", None)
    inner = target.aio if target is not None else store
    original = inner._write

    async def racing_write(key: Any, data: bytes, expect: Any) -> Any:
        await original(key, data, None)  # someone else wrote just before us
        return await original(key, data, expect)

    inner._write = racing_write
    try:
        with pytest.raises(ConcurrencyConflictError) as info:
            await store.transform_item("c", transformer=interfering, n_retries=2)
    finally:
        del inner._write
    assert info.value.attempts == 3 and calls == 3
    assert info.value.key == ("c",)
