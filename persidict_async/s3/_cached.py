"""S3Dict: a BasicS3Dict read through local FileDirDict caches revalidated by ETag."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Self, TypeVar

from ..base import Expect, PersiDict, Record
from ..files import FileDirDict
from ..keys import NonEmptySafeStrTuple, SafeStrTuple, replace_unsafe_chars
from ..wrappers import AppendOnlyDictCached, MutableDictCached
from ..wrappers._common import WrapperDict
from ._basic import BasicS3Dict

__all__ = ["S3Dict"]

V = TypeVar("V")


def _cache_dir(base_dir: str | os.PathLike[str], bucket_name: str, root_prefix: str) -> Path:
    # One cache folder per bucket and prefix, so stores of different buckets never
    # evict each other's copies.
    parts = [replace_unsafe_chars(p) for p in root_prefix.split("/") if p]
    parts = [p if p not in (".", "..") else "_" * len(p) for p in parts]
    return Path(base_dir, replace_unsafe_chars(bucket_name), *parts)


class S3Dict(WrapperDict[V]):
    """A BasicS3Dict with a local cache of values and ETags (FileDirDicts under ``base_dir``).

    Reads send a conditional GET with the cached ETag: a 304 serves the local copy,
    so unchanged values cost one small request and no download. Writes go to S3
    first, then to the cache. Append-only stores skip revalidation (their values
    never change). It is :class:`MutableDictCached` (or :class:`AppendOnlyDictCached`)
    over a :class:`BasicS3Dict` and two :class:`FileDirDict`.

    Args:
        bucket_name: See :class:`BasicS3Dict`.
        region: See :class:`BasicS3Dict`.
        root_prefix: See :class:`BasicS3Dict`.
        serialization_format: See :class:`BasicS3Dict`.
        append_only: See :class:`BasicS3Dict`.
        base_class_for_values: See :class:`BasicS3Dict`.
        base_dir: Folder of the local cache (one subfolder per bucket and prefix).
        digest_len: See :class:`FileDirDict` (for the cache files).
        **s3_options: Any other :class:`BasicS3Dict` argument (endpoint_url, credentials...).
    """

    _backend_name: ClassVar[str] = "s3"
    _max_concurrency: ClassVar[int] = 64

    def __init__(
        self,
        *,
        bucket_name: str,
        region: str | None = None,
        root_prefix: str = "",
        serialization_format: str = "pkl",
        append_only: bool = False,
        base_class_for_values: type | None = None,
        base_dir: str | os.PathLike[str] = "__s3_dict__",
        digest_len: int = 8,
        **s3_options: Any,
    ) -> None:
        basic: BasicS3Dict[V] = BasicS3Dict(
            bucket_name=bucket_name,
            region=region,
            root_prefix=root_prefix,
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
            **s3_options,
        )
        folder = _cache_dir(base_dir, bucket_name, basic.root_prefix)
        # A lost cache file is only a miss, so the cache skips fsync.
        data: FileDirDict[Any] = FileDirDict(base_dir=folder, serialization_format=serialization_format,
                           digest_len=digest_len, durable=False)  # fmt: skip
        inner: PersiDict[V]
        if append_only:
            inner = AppendOnlyDictCached(main_dict=basic, data_cache=data)
        else:
            etags: FileDirDict[str] = FileDirDict(
                base_dir=folder, serialization_format=serialization_format + "_etag",
                digest_len=digest_len, base_class_for_values=str, durable=False,
            )  # fmt: skip
            inner = MutableDictCached(main_dict=basic, data_cache=data, etag_cache=etags)
        super().__init__(
            main=inner,
            parts=(inner,),
            serialization_format=serialization_format,
            append_only=append_only,
            base_class_for_values=base_class_for_values,
        )
        self._basic = basic
        self.base_dir = base_dir
        self.digest_len = digest_len

    @property
    def main_dict(self) -> BasicS3Dict[V]:
        """The S3 store behind the cache."""
        return self._basic

    @property
    def bucket_name(self) -> str:
        """The bucket."""
        return self._basic.bucket_name

    @property
    def root_prefix(self) -> str:
        """The prefix of every object name."""
        return self._basic.root_prefix

    def _param_dict(self) -> dict[str, Any]:
        return {**self._basic._param_dict(), "base_dir": self.base_dir,
                "digest_len": self.digest_len}  # fmt: skip

    def __repr__(self) -> str:
        basic = repr(self._basic)
        return f"{type(self).__name__}(base_dir={self.base_dir!r}, digest_len={self.digest_len!r}, " + (
            basic[basic.index("(") + 1 :]
        )

    def _subdict(self, prefix: SafeStrTuple) -> Self:
        params = self._param_dict()
        if prefix:
            params["root_prefix"] = self._basic.root_prefix + "/".join(prefix) + "/"
        sub = type(self)(**params)
        sub._basic._hub = self._basic._hub  # share the open clients
        return sub

    def _key(self, key: Any) -> NonEmptySafeStrTuple:
        return self._basic._key(key)  # S3's limit on the whole object name, before any I/O

    async def _read(self, key: NonEmptySafeStrTuple, if_none_match: str | None = None) -> Record | None:
        return await self._main._read(key, if_none_match)

    async def _write(self, key: NonEmptySafeStrTuple, data: bytes, expect: Expect) -> str | None:
        return await self._main._write(key, data, expect)

    async def _delete(self, key: NonEmptySafeStrTuple, expect: str | None) -> bool:
        return await self._main._delete(key, expect)
