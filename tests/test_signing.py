"""Signed values (``signing_key``) on every backend, through both APIs."""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from persidict_async import CorruptValueError, UntrustedValueError
from persidict_async._frame import MAGIC

from .adapters import reopen
from .backends import sample_values

KEY = b"k" * 32


def core(store: Any) -> Any:
    """The async store behind a test store (the primitives live there)."""
    facade = getattr(store, "facade", None)
    return facade.aio if facade is not None else store


def with_key(store: Any, signing_key: Any) -> Any:
    """Another store over the same data, with another signing key (for plain stores)."""
    params = store.get_params()
    if "signing_key" not in params:
        pytest.skip("a wrapper's signing key is its main store's")
    return reopen(store, **{**params, "signing_key": signing_key})


async def test_signed_values_round_trip_and_carry_a_signature(make_store: Any, fmt: str) -> None:
    store = make_store(signing_key=KEY)
    for i, value in enumerate(sample_values(fmt)):
        await store.set_item(f"k{i}", value)
        got = await store.get_item(f"k{i}")
        assert got == value and type(got) is type(value)
    raw = await core(store)._read_data(core(store)._key("k0"))
    assert raw.startswith(MAGIC) and len(raw) > 32
    # Readers without the key can still read (the signature protects writers' stores).
    assert await with_key(store, None).get_item("k0") == sample_values(fmt)[0]


async def test_a_signed_store_refuses_unsigned_and_foreign_values(make_store: Any, fmt: str) -> None:
    value = sample_values(fmt)[0]
    store = make_store(signing_key=KEY)
    await store.set_item("good", value)
    await with_key(store, None).set_item("unsigned", value)
    await with_key(store, b"another key").set_item("foreign", value)
    for name in ("unsigned", "foreign"):
        with pytest.raises(UntrustedValueError, match="signing_key") as info:
            await store.get_item(name)
        assert isinstance(info.value, CorruptValueError) and info.value.key == (name,)
    assert await store.get_item("good") == value
    assert await store.len() == 3  # listing needs no decoding


async def test_a_tampered_value_or_deadline_is_refused(make_store: Any, fmt: str) -> None:
    store = make_store(signing_key=KEY, ttl=3600)
    await store.set_item("k", sample_values(fmt)[0])
    aio = core(store)
    k = aio._key("k")
    raw = await aio._read_data(k)
    for position in (len(raw) - 1, len(MAGIC) + 2 + 32 + 7):  # the payload, then the deadline
        forged = bytearray(raw)
        forged[position] ^= 0x01
        await aio._write(k, bytes(forged), None)
        with pytest.raises(UntrustedValueError):
            await store.get_item("k")


async def test_the_signing_key_is_kept_but_never_shown(make_store: Any) -> None:
    store = make_store(signing_key="a text key")
    params = store.get_params()
    if "signing_key" in params:
        assert params["signing_key"] == b"a text key"
        assert "a text key" not in repr(store) and "<hidden>" in repr(store)
    else:
        assert "a text key" not in repr(store)
    if not hasattr(store, "facade"):
        copy = pickle.loads(pickle.dumps(store))
        assert copy.signing_key == b"a text key"
    for bad in (b"", 5):
        with pytest.raises(TypeError, match="signing_key"):
            make_store(signing_key=bad)
