"""BasicS3Dict: one S3 object per key, with server-side conditional requests."""

from __future__ import annotations

import email.utils
import math
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import aclosing
from typing import Any, ClassVar, Self, TypeVar

from ..base import Expect, PersiDict, Record
from ..errors import BackendError
from ..flags import ITEM_NOT_AVAILABLE
from ..keys import _SAFE_COMPONENT, NonEmptySafeStrTuple, SafeStrTuple, trusted_key
from ._client import ClientHub, ClientSettings, Rejected, error_status, to_backend_error

__all__ = ["BasicS3Dict"]

V = TypeVar("V")

# S3 limits an object name to 1024 bytes.
_MAX_NAME_BYTES = 1024
_NOT_FOUND = frozenset({404})
_READ_REFUSALS = frozenset({404, 304})
# 412: the condition failed; 409: a concurrent conditional write won; 404: If-Match on
# an absent object.
_CONDITION_REFUSALS = frozenset({404, 409, 412})
_NO_SUCH_ETAG = '"00000000000000000000000000000000"'


def _http_time(headers: dict[str, str]) -> float:
    value = {k.lower(): v for k, v in headers.items()}.get("last-modified")
    if value is None:
        return math.nan
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError):
        return math.nan


class BasicS3Dict(PersiDict[V]):
    """A store keeping each value in one S3 object (no local cache).

    The object of key ``("a", "b")`` is ``root_prefix + "a/b." + serialization_format``.
    Conditional operations use the server's If-Match / If-None-Match support, so
    they are atomic across processes and machines.

    Args:
        bucket_name: The bucket (created on first use when missing).
        region: The AWS region (None: from the environment / config files).
        root_prefix: Prefix of every object name ("/" is appended if missing).
        serialization_format: See :class:`PersiDict`.
        append_only: See :class:`PersiDict`.
        base_class_for_values: See :class:`PersiDict`.
        ttl: See :class:`PersiDict`.
        signing_key: See :class:`PersiDict`.
        endpoint_url: An S3-compatible server (None: AWS_ENDPOINT_URL_S3 or
            AWS_ENDPOINT_URL if set, else AWS).
        aws_access_key_id: Credentials (None: the usual botocore chain).
        aws_secret_access_key: Credentials (None: the usual botocore chain).
        profile_name: A profile of the AWS config files.
        max_pool_connections: HTTP connections per client (sized for batch fan-out).
        connect_timeout: Seconds to wait for a connection.
        read_timeout: Seconds to wait for a response.
        max_attempts: Attempts per request, including the first (bounded retries).
        conditional_writes: None probes once whether the server honours conditional
            requests and refuses conditional operations if it does not; True trusts
            the server; False refuses them (BackendError).
        session: An aiobotocore ``AioSession`` to create clients from (advanced).
    """

    _backend_name: ClassVar[str] = "s3"
    _max_concurrency: ClassVar[int] = 64
    _component_limit: ClassVar[int | None] = _MAX_NAME_BYTES
    _secret_params: ClassVar[tuple[str, ...]] = ("signing_key", "aws_secret_access_key")

    def __init__(
        self,
        *,
        bucket_name: str,
        region: str | None = None,
        root_prefix: str = "",
        serialization_format: str = "pkl",
        append_only: bool = False,
        base_class_for_values: type | None = None,
        ttl: float | None = None,
        signing_key: bytes | str | None = None,
        endpoint_url: str | None = None,
        aws_access_key_id: str | None = None,
        aws_secret_access_key: str | None = None,
        profile_name: str | None = None,
        max_pool_connections: int = 64,
        connect_timeout: float = 3.0,
        read_timeout: float = 30.0,
        max_attempts: int = 3,
        conditional_writes: bool | None = None,
        session: Any = None,
    ) -> None:
        super().__init__(
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
            ttl=ttl,
            signing_key=signing_key,
        )
        if not isinstance(bucket_name, str) or not bucket_name:
            raise ValueError(f"bucket_name must be a non-empty str, got {bucket_name!r}")
        if not isinstance(root_prefix, str):
            raise TypeError(f"root_prefix must be a str, got {root_prefix!r}")
        if root_prefix and not root_prefix.endswith("/"):
            root_prefix += "/"
        if not isinstance(max_pool_connections, int) or max_pool_connections < 1:
            raise ValueError(f"max_pool_connections must be >= 1, got {max_pool_connections!r}")
        if not isinstance(max_attempts, int) or max_attempts < 1:
            raise ValueError(f"max_attempts must be >= 1, got {max_attempts!r}")
        for name, seconds in (("connect_timeout", connect_timeout), ("read_timeout", read_timeout)):
            if isinstance(seconds, bool) or not isinstance(seconds, int | float):
                raise TypeError(f"{name} must be a number of seconds, got {seconds!r}")
            if not seconds > 0:  # also refuses NaN
                raise ValueError(f"{name} must be > 0 seconds, got {seconds!r}")
        if conditional_writes not in (None, True, False):
            raise TypeError(f"conditional_writes must be None or a bool, got {conditional_writes!r}")
        self.bucket_name = bucket_name
        self.root_prefix = root_prefix
        self.conditional_writes = conditional_writes
        self._suffix = "." + serialization_format
        self._hub = ClientHub(
            ClientSettings(
                bucket_name=bucket_name,
                region=region,
                endpoint_url=endpoint_url,
                aws_access_key_id=aws_access_key_id,
                aws_secret_access_key=aws_secret_access_key,
                profile_name=profile_name,
                max_pool_connections=max_pool_connections,
                connect_timeout=float(connect_timeout),
                read_timeout=float(read_timeout),
                max_attempts=max_attempts,
                session=session,
            )
        )

    # ------------------------------------------------------------------ configuration

    @property
    def runs_inline(self) -> bool:
        """False: S3 requests need an event loop."""
        return False

    @property
    def does_blocking_io(self) -> bool:
        """False: every request is asynchronous."""
        return False

    def _param_dict(self) -> dict[str, Any]:
        s = self._hub.settings
        params = {
            **super()._param_dict(),
            "bucket_name": self.bucket_name,
            "region": s.region,
            "root_prefix": self.root_prefix,
            "endpoint_url": s.endpoint_url,
            "aws_access_key_id": s.aws_access_key_id,
            "aws_secret_access_key": s.aws_secret_access_key,
            "profile_name": s.profile_name,
            "max_pool_connections": s.max_pool_connections,
            "connect_timeout": s.connect_timeout,
            "read_timeout": s.read_timeout,
            "max_attempts": s.max_attempts,
            "conditional_writes": self.conditional_writes,
        }
        if s.session is not None:
            params["session"] = s.session
        return params

    async def aclose(self) -> None:
        """Close this store's S3 client of the running event loop."""
        await self._hub.aclose()

    # ------------------------------------------------------------------ helpers

    def _key(self, key: Any) -> NonEmptySafeStrTuple:
        k = super()._key(key)
        size = len(self._name(k).encode())
        if size > _MAX_NAME_BYTES:
            raise ValueError(
                f"key {k!r} gives an S3 object name of {size} bytes; "
                f"S3 allows at most {_MAX_NAME_BYTES}"
            )
        return k

    def _name(self, key: NonEmptySafeStrTuple) -> str:
        return self.root_prefix + "/".join(key) + self._suffix

    async def _call(
        self, operation: str, key: Any, refusals: frozenset[int] = frozenset(), **kwargs: Any
    ) -> dict[str, Any] | Rejected:
        client = await self._hub.client()
        try:
            response: dict[str, Any] = await getattr(client, operation)(
                Bucket=self.bucket_name, **kwargs
            )
            return response
        except Exception as exc:
            status, code, headers = error_status(exc)
            if status in refusals and code != "NoSuchBucket":
                return Rejected(status, code, headers)
            raise to_backend_error(exc, operation, key, self._hub.settings) from exc

    async def _conditional_ok(self) -> bool:
        ok = self.conditional_writes
        if ok is None:
            ok = self._hub.conditional_ok
            if ok is None:
                ok = self._hub.conditional_ok = await self._probe_conditional()
        return ok

    async def _require_conditional(self, key: Any) -> None:
        if not await self._conditional_ok():
            where = self._hub.settings.endpoint_url or "the S3 endpoint"
            raise BackendError(
                f"{where} does not honour conditional requests (If-Match / If-None-Match), "
                f"so the conditional operation on key {key!r} cannot be atomic; use a server "
                "that supports them, or avoid conditional operations, transform_item and "
                "append_only stores (conditional_writes=True skips this check)",
                backend="s3",
                operation="conditional_write",
                key=key,
            )

    async def _probe_conditional(self) -> bool:
        """Check once whether the server honours If-Match / If-None-Match on writes.

        The probe object's name ends with no serialization suffix, so no store
        ever lists it, and it is deleted before returning.
        """
        name = f"{self.root_prefix}.conditional-probe-{uuid.uuid4().hex}"
        probe = ("probe",)
        created = False
        try:
            # If-Match on an absent object must fail and write nothing.
            created = not isinstance(
                await self._call("put_object", probe, _CONDITION_REFUSALS,
                                 Key=name, Body=b"", IfMatch=_NO_SUCH_ETAG),
                Rejected,
            )  # fmt: skip
            if created:
                return False
            created = not isinstance(
                await self._call("put_object", probe, _CONDITION_REFUSALS,
                                 Key=name, Body=b"", IfNoneMatch="*"),
                Rejected,
            )  # fmt: skip
            if not created:
                return False
            # If-None-Match: * on an existing object must fail.
            if not isinstance(
                await self._call("put_object", probe, _CONDITION_REFUSALS,
                                 Key=name, Body=b"x", IfNoneMatch="*"),
                Rejected,
            ):  # fmt: skip
                return False
            # A conditional delete with a wrong ETag must leave the object.
            deleted = await self._call("delete_object", probe, _CONDITION_REFUSALS,
                                       Key=name, IfMatch=_NO_SUCH_ETAG)  # fmt: skip
            if not isinstance(deleted, Rejected):
                created = False
                return False
            return True
        finally:
            if created:
                await self._call("delete_object", probe, _NOT_FOUND, Key=name)

    # ------------------------------------------------------------------ primitives

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        kwargs: dict[str, Any] = {"Key": self._name(key)}
        if if_none_match is not None:
            kwargs["IfNoneMatch"] = if_none_match
        response = await self._call("get_object", key, _READ_REFUSALS, **kwargs)
        if isinstance(response, Rejected):
            if response.status == 304 and if_none_match is not None:
                # Not modified: the caller already holds the data. Some servers leave
                # out Last-Modified here; then the time is unknown (NaN).
                return Record(if_none_match, _http_time(response.headers), None, None)
            return None
        try:
            async with response["Body"] as body:
                data: bytes = await body.read()
        except Exception as exc:
            raise to_backend_error(exc, "get_object", key, self._hub.settings) from exc
        return Record(response["ETag"], response["LastModified"].timestamp(), len(data), data)

    async def _stat(self, key: NonEmptySafeStrTuple) -> Record | None:
        response = await self._call("head_object", key, _NOT_FOUND, Key=self._name(key))
        if isinstance(response, Rejected):
            return None
        return Record(
            response["ETag"], response["LastModified"].timestamp(), response.get("ContentLength")
        )

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        kwargs: dict[str, Any] = {"Key": self._name(key), "Body": data}
        if expect is None:
            response = await self._call("put_object", key, **kwargs)
        else:
            await self._require_conditional(key)
            # AWS accepts only "*" in If-None-Match on writes; an ETag goes in If-Match.
            if expect is ITEM_NOT_AVAILABLE:
                kwargs["IfNoneMatch"] = "*"
            else:
                kwargs["IfMatch"] = expect
            response = await self._call("put_object", key, _CONDITION_REFUSALS, **kwargs)
            if isinstance(response, Rejected):
                return None
        assert not isinstance(response, Rejected)
        etag: str = response["ETag"]
        return etag

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        name = self._name(key)
        if expect is None:
            # S3 deletes report success for absent objects too: ask first, then delete
            # that very version, so of two concurrent deleters only one reports it.
            while True:
                record = await self._stat(key)
                if record is None:
                    return False
                if not await self._conditional_ok():
                    await self._call("delete_object", key, _NOT_FOUND, Key=name)
                    return True
                response = await self._call("delete_object", key, _CONDITION_REFUSALS,
                                            Key=name, IfMatch=record.etag)  # fmt: skip
                if not isinstance(response, Rejected):
                    return True
        await self._require_conditional(key)
        response = await self._call("delete_object", key, _CONDITION_REFUSALS,
                                    Key=name, IfMatch=expect)  # fmt: skip
        return not isinstance(response, Rejected)

    async def _scan(self, with_meta: bool) -> AsyncIterator[tuple[NonEmptySafeStrTuple, Record | None]]:
        async with aclosing(self._list(with_meta, False)) as listing:
            async for key, record, _ in listing:
                yield key, record

    async def _scan_location(
        self,
    ) -> AsyncIterator[tuple[str, NonEmptySafeStrTuple, Record | None]]:
        async with aclosing(self._list(True, True)) as listing:
            async for key, record, fmt in listing:
                yield fmt, key, record

    async def _list(
        self, with_meta: bool, any_format: bool
    ) -> AsyncGenerator[tuple[NonEmptySafeStrTuple, Record | None, str], None]:
        """Every (key, record, format) under root_prefix; with ``any_format`` the
        objects of every format (the name's suffix is the format), not only this store's."""
        client = await self._hub.client()
        prefix, suffix, own = self.root_prefix, self._suffix, self.serialization_format
        start, cut = len(prefix), len(suffix)
        pages = client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket_name, Prefix=prefix
        ).__aiter__()
        while True:
            try:
                page = await pages.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:
                raise to_backend_error(exc, "list_objects_v2", None, self._hub.settings) from exc
            # One page at a time: never every key of the bucket in memory.
            for obj in page.get("Contents", ()):
                name: str = obj["Key"]
                if any_format:
                    stem, dot, fmt = name[start:].rpartition(".")
                    if not (dot and fmt.replace("_", "").isalnum()):
                        continue
                elif name.endswith(suffix):
                    stem, fmt = name[start:-cut], own
                else:
                    continue
                parts = stem.split("/")
                if not all(_SAFE_COMPONENT.fullmatch(p) and p not in (".", "..") for p in parts):
                    continue  # not an object this library wrote
                key = trusted_key(parts)
                if with_meta:
                    yield key, Record(obj["ETag"], obj["LastModified"].timestamp(), obj.get("Size")), fmt
                else:
                    yield key, None, fmt

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        params = self._param_dict()
        if prefix:
            params["root_prefix"] = self.root_prefix + "/".join(prefix) + "/"
        sub = type(self)(**params)
        sub._hub = self._hub  # share the open clients and what is known of the server
        return sub
