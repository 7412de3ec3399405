"""Fixtures of the contract matrix: every backend x both APIs."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async._lifecycle import close_all_open_stores

from .adapters import Awaitified
from .backends import BACKENDS, Backend, requested_backend
from .clock import Clock

pytest_plugins = ["tests.s3_server"]


@pytest.fixture(params=BACKENDS, ids=[b.name for b in BACKENDS])
def backend(request: pytest.FixtureRequest) -> Backend:
    return requested_backend(request)


@pytest.fixture(params=["async", "sync"])
def api(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_store(
    backend: Backend, api: str, tmp_path: Path
) -> AsyncIterator[Callable[..., Any]]:
    """Build stores of the backend under test, seen through the API under test."""
    made: list[aio.PersiDict[Any]] = []
    counter = iter(range(1_000_000))

    def make(**options: Any) -> Any:
        store = backend.make(tmp_path / f"s{next(counter)}", **options)
        made.append(store)
        return store if api == "async" else Awaitified(sync.PersiDict.wrap(store))

    yield make
    for store in made:
        if api == "sync":
            sync.PersiDict.wrap(store).close()
        else:
            await store.aclose()
    if api == "async":
        await close_all_open_stores()  # also stores a test built itself (e.g. reopen())


@pytest.fixture
def store(make_store: Callable[..., Any]) -> Any:
    """A fresh, empty store of the backend and API under test."""
    return make_store()


@pytest.fixture
def fmt(backend: Backend) -> str:
    return backend.serialization_format


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """The clock of expiry deadlines, under the test's control."""
    fake = Clock()
    monkeypatch.setattr("persidict_async.base._now", fake.now)
    return fake
