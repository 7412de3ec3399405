"""S3 clients shared by a store and its subdicts: one per event loop, opened lazily.

aiobotocore (and botocore) are imported here only when the first client is
opened, so importing the library stays cheap for users without S3.
"""

from __future__ import annotations

import asyncio
import os
import threading
import weakref
from dataclasses import dataclass
from typing import Any

from .._lifecycle import register_open, unregister_open
from ..errors import BackendError

__all__ = ["ClientHub", "ClientSettings", "Rejected", "error_status", "to_backend_error"]


@dataclass(frozen=True)
class ClientSettings:
    """How to reach the server (the connection-related constructor arguments)."""

    bucket_name: str
    region: str | None
    endpoint_url: str | None
    aws_access_key_id: str | None
    aws_secret_access_key: str | None
    profile_name: str | None
    max_pool_connections: int
    connect_timeout: float
    read_timeout: float
    max_attempts: int
    session: Any = None


@dataclass(frozen=True, slots=True)
class Rejected:
    """An expected refusal of the server (404, 304, 412, 409)."""

    status: int
    code: str
    headers: dict[str, str]


def error_status(exc: BaseException) -> tuple[int | None, str, dict[str, str]]:
    """The HTTP status, error code and headers of a botocore ClientError (else None)."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return None, "", {}
    meta = response.get("ResponseMetadata") or {}
    error = response.get("Error") or {}
    status = meta.get("HTTPStatusCode")
    return (
        status if isinstance(status, int) else None,
        str(error.get("Code", "")),
        dict(meta.get("HTTPHeaders") or {}),
    )


def to_backend_error(
    exc: BaseException, operation: str, key: Any, settings: ClientSettings
) -> BackendError:
    """Translate any client failure into a BackendError naming the operation and key."""
    status, code, _ = error_status(exc)
    where = f"bucket {settings.bucket_name!r}"
    if settings.endpoint_url:
        where += f" at {settings.endpoint_url}"
    what = f"S3 {operation} failed for key {key!r} in {where}" if key is not None else (
        f"S3 {operation} failed in {where}"
    )
    name = f"HTTP {status} {code}" if status is not None else type(exc).__name__
    detail = f"{name}: {exc}"
    return BackendError(f"{what}: {detail}", backend="s3", operation=operation, key=key)


# Building a botocore session loads the service models (~90 ms); clients made
# from a loaded session cost ~3 ms. Sessions are not thread-safe, so each thread
# keeps its own, per profile.
_sessions = threading.local()


def _session_for(profile: str | None) -> Any:
    from aiobotocore.session import AioSession

    cache: dict[str | None, Any] | None = getattr(_sessions, "by_profile", None)
    if cache is None:
        cache = _sessions.by_profile = {}
    session = cache.get(profile)
    if session is None:
        session = cache[profile] = AioSession(profile=profile)
    return session


def _endpoint(settings: ClientSettings) -> str | None:
    return (
        settings.endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_S3")
        or os.environ.get("AWS_ENDPOINT_URL")
        or None
    )


def _no_expect_continue(client: Any) -> None:
    """Send request bodies at once instead of after an interim "100 Continue".

    botocore asks for "Expect: 100-continue" on every upload; aiohttp then waits
    for the interim answer before sending the body, and no timeout covers that
    wait, so a write to a server that stopped answering would hang forever.
    Values are small, and without the header the read timeout bounds every request.
    """
    from botocore.handlers import add_expect_header

    client.meta.events.unregister("before-call.s3", add_expect_header)


class ClientHub:
    """Open clients of one store family (a store and its subdicts), one per event loop.

    A client belongs to the loop that opened it (aiohttp sessions are loop-bound),
    so each loop gets its own; a closed loop's client is simply dropped.
    """

    def __init__(self, settings: ClientSettings) -> None:
        self.settings = settings
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]] = (
            weakref.WeakKeyDictionary()
        )
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )
        # A store family dropped without aclose() still closes its clients, on their loops.
        # (Not at interpreter exit: close_all_open_stores closes the live ones then.)
        weakref.finalize(self, _close_dropped, self._clients).atexit = False
        self._bucket_ready = False
        self._bucket_attempts = 0  # bucket checks started (tells waiters one has failed)
        self._bucket_failure: BackendError | None = None
        # Whether the server honours conditional headers: None until probed.
        self.conditional_ok: bool | None = None

    async def client(self) -> Any:
        """The client of the running event loop (opened on first use)."""
        loop = asyncio.get_running_loop()
        entry = self._clients.get(loop)
        if entry is not None and self._bucket_ready:
            return entry[1]
        # Until the bucket is known to exist, callers wait on the lock: a client
        # published before that would let concurrent first writes hit NoSuchBucket.
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        attempts_seen = self._bucket_attempts
        async with lock:
            failure = self._bucket_failure
            if failure is not None and self._bucket_attempts != attempts_seen:
                # The check failed while this caller waited: share its answer rather
                # than wait out the same timeouts again, once per queued caller.
                raise BackendError(
                    str(failure), backend=failure.backend, operation=failure.operation
                ) from failure
            entry = self._clients.get(loop)
            if entry is None:
                entry = await self._open()
                self._clients[loop] = entry
                register_open(self)
            client = entry[1]
            if not self._bucket_ready:
                self._bucket_attempts += 1
                try:
                    await self._ensure_bucket(client)
                except BackendError as exc:
                    self._bucket_failure = exc
                    raise
                self._bucket_failure = None
                self._bucket_ready = True
        return client

    async def _open(self) -> tuple[Any, Any]:
        s = self.settings
        try:
            from aiobotocore.config import AioConfig
        except ImportError as exc:  # pragma: no cover - depends on the installation
            raise ImportError(
                "S3 stores need aiobotocore: pip install 'persidict-async[s3]'"
            ) from exc
        session = s.session if s.session is not None else _session_for(s.profile_name)
        config = AioConfig(
            max_pool_connections=s.max_pool_connections,
            connect_timeout=s.connect_timeout,
            read_timeout=s.read_timeout,
            retries={"total_max_attempts": s.max_attempts, "mode": "standard"},
            # Checksums only where the API requires them: S3-compatible servers
            # disagree on the newer defaults, and MD5 ETags already guard integrity.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            s3={"addressing_style": "path"} if _endpoint(s) else None,
        )
        creator = session.create_client(
            "s3",
            region_name=s.region,
            endpoint_url=_endpoint(s),
            aws_access_key_id=s.aws_access_key_id,
            aws_secret_access_key=s.aws_secret_access_key,
            config=config,
        )
        try:
            client = await creator.__aenter__()
        except Exception as exc:
            raise to_backend_error(exc, "connect", None, s) from exc
        _no_expect_continue(client)
        return creator, client

    async def _ensure_bucket(self, client: Any) -> None:
        s = self.settings
        try:
            await client.head_bucket(Bucket=s.bucket_name)
            return
        except Exception as exc:
            status, _, _ = error_status(exc)
            if status != 404:
                raise to_backend_error(exc, "head_bucket", None, s) from exc
        kwargs: dict[str, Any] = {"Bucket": s.bucket_name}
        region = client.meta.region_name
        if region and region not in ("us-east-1", "aws-global"):
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        try:
            await client.create_bucket(**kwargs)
        except Exception as exc:
            _, code, _ = error_status(exc)
            # Another process may have created it meanwhile.
            if code not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
                raise to_backend_error(exc, "create_bucket", None, s) from exc

    async def aclose(self) -> None:
        """Close the client of the running loop; forget those of other loops."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        clients = self._clients  # changed in place: the finalizer holds this very table
        for owner, entry in list(clients.items()):
            if owner is loop:
                clients.pop(owner, None)
                await _quietly_exit(entry[0])
            elif owner.is_closed():
                clients.pop(owner, None)
            # Otherwise it stays: only its own loop can close it.
        if loop is not None:
            self._locks.pop(loop, None)
        if not clients:
            unregister_open(self)


def _close_dropped(clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, tuple[Any, Any]]) -> None:
    """Close the clients of a garbage-collected hub, each on its own running loop.

    Runs in whatever thread the collection happens; a client whose loop no
    longer runs cannot be closed and is left to the loop's own end.
    """
    for loop, (creator, _client) in list(clients.items()):
        if loop.is_running() and not loop.is_closed():
            try:
                asyncio.run_coroutine_threadsafe(_quietly_exit(creator), loop)
            except RuntimeError:  # the loop closed meanwhile
                pass
    clients.clear()


async def _quietly_exit(creator: Any) -> None:
    """Close one client; a vanished server must not make closing (or collection) fail."""
    try:
        await creator.__aexit__(None, None, None)
    except Exception:
        pass
