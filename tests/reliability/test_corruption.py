"""Item 3, corruption: damaged values raise CorruptValueError for their key only."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import CorruptValueError

from ..adapters import Awaitified
from ..s3_server import s3_options

pytestmark = pytest.mark.reliability

GOOD = {"pkl": {"v": [1, 2]}, "json": {"v": [1, 2]}, "txt": "fine text"}
# What a crash, a bad disk or another program may leave in a value's place, per format.
DAMAGE: dict[str, dict[str, bytes]] = {
    "pkl": {
        "truncated": pickle.dumps({"y": list(range(50))})[:12],
        "empty": b"",
        "garbage": b"\xff\xfe\x00garbage\x13",
        "wrong-format": b'{"a json": "value"}',
    },
    "json": {
        "truncated": b'{"y": [1, 2, 3',
        "empty": b"",
        "garbage": b"\xff\xfe\x00garbage\x13",
        "wrong-format": pickle.dumps({"a": "pickle"}),
    },
    "txt": {  # any UTF-8, even empty, is valid text: only undecodable bytes are corrupt
        "truncated": "ünï".encode()[:-1],
        "garbage": b"\xff\xfe\x00garbage\x13",
        "wrong-format": pickle.dumps({"a": "pickle"}),
    },
}


async def _check_damage_is_contained(store: Any, fmt: str, damage: dict[str, bytes], corrupt: Any) -> None:
    """Store good keys, damage some through ``corrupt(key, bytes)``, check what each call sees."""
    good = [f"good{i}" for i in range(5)]
    for key in [*good, *damage]:
        await store.set_item(key, GOOD[fmt])
    for key, data in damage.items():
        await corrupt(key, data)
    for key in damage:
        with pytest.raises(CorruptValueError, match=key) as info:
            await store.get_item(key)
        assert info.value.key == (key,)
        with pytest.raises(CorruptValueError):
            await store.get(key, "a default hides nothing")
        assert await store.contains(key)
    for key in good:
        assert await store.get_item(key) == GOOD[fmt]
    assert await store.get_many(good) == [GOOD[fmt]] * len(good)
    assert sorted([k[0] async for k in store]) == sorted([*good, *damage])
    assert await store.len() == len(good) + len(damage)
    with pytest.raises(CorruptValueError):
        [v async for v in store.values()]  # iterating values reaches a damaged one
    victim = next(iter(damage))
    await store.set_item(victim, GOOD[fmt])  # a damaged key can be repaired ...
    assert await store.get_item(victim) == GOOD[fmt]
    other = list(damage)[-1]
    await store.delete_item(other)  # ... or deleted
    assert not await store.contains(other)


@pytest.mark.parametrize("fmt", ["pkl", "json", "txt"])
async def test_damaged_files_affect_only_their_keys(api: str, fmt: str, tmp_path: Path) -> None:
    options: dict[str, Any] = {"base_dir": tmp_path, "serialization_format": fmt, "durable": False}
    if fmt == "txt":
        options["base_class_for_values"] = str
    store: Any = aio.FileDirDict(**options)
    if api == "sync":
        store = Awaitified(sync.FileDirDict(**options))

    async def corrupt(key: str, data: bytes) -> None:
        (path,) = tmp_path.glob(f"{key}_*.{fmt}")
        path.write_bytes(data)

    await _check_damage_is_contained(store, fmt, DAMAGE[fmt], corrupt)


@pytest.mark.s3
@pytest.mark.usefixtures("s3_server")
async def test_damaged_s3_objects_affect_only_their_keys(api: str) -> None:
    options = s3_options()
    raw = aio.BasicS3Dict(**options)
    store: Any = raw if api == "async" else Awaitified(sync.BasicS3Dict(**options))

    async def corrupt(key: str, data: bytes) -> None:
        client = await raw._hub.client()
        await client.put_object(Bucket=options["bucket_name"], Key=raw._name(raw._key(key)), Body=data)

    try:
        await _check_damage_is_contained(store, "pkl", DAMAGE["pkl"], corrupt)
    finally:
        await raw.aclose()
        if api == "sync":
            store.facade.close()
