"""Item 5, S3 faults: a server that dies, hangs or restarts gives BackendError in bounded time, no hang,
and loses no acknowledged write.

The server is this test's own SeaweedFS, which keeps its data on disk, so a
write acknowledged before a kill must still be there after the restart.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import anyio
import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async import BackendError

from ..s3_server import ServerProcess, s3_options
from .support import bump, call_within, check_value, make_value

pytestmark = [pytest.mark.reliability, pytest.mark.s3]

# Short timeouts and few attempts: a dead or frozen server is reported within
# about (connect or read timeout) x attempts.
FAST_FAIL = {"connect_timeout": 1.0, "read_timeout": 1.5, "max_attempts": 2}
BOUND = 20.0  # far above what FAST_FAIL allows; beyond it a call counts as hanging


def _operations(store: sync.PersiDict[Any]) -> dict[str, Callable[[], Any]]:
    return {
        "get": lambda: store["k0"],
        "set": lambda: store.__setitem__("k0", make_value("k0", 999)),
        "delete": lambda: store.discard("k1"),
        "contains": lambda: "k2" in store,
        "len": lambda: len(store),
        "list": lambda: list(store),
        "transform_item": lambda: store.transform_item("counter", transformer=bump("counter")),
    }


def _all_fail_with_backend_error(store: sync.PersiDict[Any]) -> None:
    """Every operation, all at once in threads, raises BackendError within BOUND seconds."""
    outcomes: dict[str, BaseException | None] = {}
    threads = [
        threading.Thread(target=lambda n=name, f=fn: outcomes.__setitem__(n, call_within(BOUND, f)))
        for name, fn in _operations(store).items()
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(BOUND + 5)
    assert set(outcomes) == set(_operations(store)), f"hanging: {set(_operations(store)) - set(outcomes)}"
    for name, exc in outcomes.items():
        assert isinstance(exc, BackendError), (name, exc)
        assert "127.0.0.1" in str(exc), name  # the message says which server failed


def _wait_until_serving(store: sync.PersiDict[Any]) -> None:
    deadline = time.monotonic() + 60
    while True:
        try:
            store.get("absent")
            return
        except BackendError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


class Writer(threading.Thread):
    """Rewrites keys and increments a counter until stopped; remembers what was acknowledged."""

    def __init__(self, store: sync.PersiDict[Any], n_keys: int) -> None:
        super().__init__(daemon=True)
        self.store, self.n_keys = store, n_keys
        self.acked: dict[str, int] = {}  # key -> last generation whose write returned
        self.tried: dict[str, int] = {}  # key -> last generation attempted
        self.increments = self.failed_increments = self.failures = 0
        self.stop = threading.Event()

    def run(self) -> None:
        gen = 0
        while not self.stop.is_set():
            gen += 1
            for i in range(self.n_keys):
                key = f"k{i}"
                self.tried[key] = gen
                try:
                    self.store[key] = make_value(key, gen)
                    self.acked[key] = gen
                except BackendError:
                    self.failures += 1
                    time.sleep(0.05)
            try:
                self.store.transform_item("counter", transformer=bump("counter"))
                self.increments += 1
            except BackendError:
                self.failed_increments += 1


def test_killed_server_fails_fast_then_recovers_without_losing_acknowledged_writes(
    own_s3_server: ServerProcess,
) -> None:
    store = sync.BasicS3Dict(**s3_options(endpoint_url=own_s3_server.endpoint_url, **FAST_FAIL))
    writer = Writer(store, n_keys=20)
    writer.start()
    try:
        deadline = time.monotonic() + 30
        while writer.increments < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        own_s3_server.kill()  # in the middle of the writer's run
        _all_fail_with_backend_error(store)
        own_s3_server.start()
        _wait_until_serving(store)
        time.sleep(0.5)  # the writer works again too
    finally:
        writer.stop.set()
        writer.join(BOUND * 3)
    assert not writer.is_alive()
    assert writer.failures > 0  # it did write while the server was down

    # Nothing acknowledged is lost; a write that failed may or may not have landed.
    reread = sync.BasicS3Dict(**store.get_params())
    for key, gen in writer.acked.items():
        assert gen <= check_value(key, reread[key]) <= writer.tried[key], key
    counter = check_value("counter", reread["counter"])
    assert writer.increments <= counter <= writer.increments + writer.failed_increments
    store.close()
    reread.close()


async def _all_fail_with_backend_error_async(store: aio.BasicS3Dict[Any]) -> None:
    """The async API: every operation, concurrently, raises BackendError within BOUND seconds."""
    operations = {
        "get": lambda: store.get_item("k0"),
        "set": lambda: store.set_item("k0", make_value("k0", 999)),
        "delete": lambda: store.discard("k1"),
        "contains": lambda: store.contains("k2"),
        "len": store.len,
        "list": lambda: _alist(store.keys()),
        "transform_item": lambda: store.transform_item("counter", transformer=bump("counter")),
    }
    outcomes: dict[str, BaseException | None] = {}

    async def one(name: str, op: Callable[[], Any]) -> None:
        try:
            await op()
            outcomes[name] = None
        except BackendError as exc:
            outcomes[name] = exc

    with anyio.fail_after(BOUND):
        async with anyio.create_task_group() as tg:
            for name, op in operations.items():
                tg.start_soon(one, name, op)
    for name, exc in outcomes.items():
        assert isinstance(exc, BackendError), (name, exc)


async def _alist(ait: Any) -> list[Any]:
    return [x async for x in ait]


@pytest.mark.parametrize("api", ["sync", "async"])
def test_frozen_server_times_out_then_works_again(own_s3_server: ServerProcess, api: str) -> None:
    store = sync.BasicS3Dict(**s3_options(endpoint_url=own_s3_server.endpoint_url, **FAST_FAIL))
    store.update({f"k{i}": make_value(f"k{i}", 1) for i in range(3)})
    own_s3_server.pause()  # accepts connections, answers nothing: a hung server
    try:
        if api == "sync":
            _all_fail_with_backend_error(store)
        else:
            async def frozen() -> None:
                async with aio.BasicS3Dict(**store.get_params()) as astore:
                    await _all_fail_with_backend_error_async(astore)

            anyio.run(frozen)
    finally:
        own_s3_server.resume()
    _wait_until_serving(store)
    # A write that timed out has an unknown outcome: the frozen server may still apply
    # it once it runs again, even after later writes. So the check uses a fresh key.
    store["after"] = make_value("after", 2)
    assert check_value("after", store["after"]) == 2
    assert check_value("k0", store["k0"]) in (1, 999)
    assert check_value("k2", store["k2"]) == 1
    store.close()
