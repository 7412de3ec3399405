"""Copy every key (or the keys under a prefix) from one store to another.

Values travel as their stored bytes when both stores use the same format, so
nothing is unpickled or re-encoded; across formats they are decoded and
encoded again. With ``skip_unchanged`` a key whose destination already holds
the same bytes is not written, which makes an interrupted copy resumable.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._batch import bounded_map
from .base import PersiDict, Record
from .errors import MutationPolicyError
from .keys import NonEmptySafeStrTuple

__all__ = ["CopyStats", "ProgressCallback", "copy_store"]

ProgressCallback = Callable[[int, int | None], None]
"""Called as ``progress(done, total)``; ``total`` is None while keys are being listed."""

# An S3 ETag of a single-part upload is the MD5 of the bytes, so it can be
# compared without downloading them. Multipart ETags ("...-N") do not match.
_MD5_ETAG = re.compile(r'"?([0-9a-f]{32})"?')


@dataclass(frozen=True, slots=True)
class CopyStats:
    """What :func:`copy_store` did.

    Attributes:
        total: Keys found in the source.
        copied: Keys written to the destination.
        skipped: Keys left alone because the destination held the same bytes.
        missing: Keys deleted from the source while the copy ran.
        bytes_copied: Bytes written to the destination.
    """

    total: int = 0
    copied: int = 0
    skipped: int = 0
    missing: int = 0
    bytes_copied: int = 0


async def copy_store(
    src: PersiDict[Any],
    dst: PersiDict[Any],
    *,
    prefix: Any = None,
    jobs: int = 16,
    skip_unchanged: bool = False,
    progress: ProgressCallback | None = None,
) -> CopyStats:
    """Copy the keys of ``src`` (under ``prefix``, if given) into ``dst``.

    Args:
        src: The store to read.
        dst: The store to write; keys keep their names (prefix included).
        prefix: A key prefix (str "a/b", tuple or SafeStrTuple); None: all keys.
        jobs: How many keys are copied at once.
        skip_unchanged: Leave keys whose destination holds identical bytes
            (checked by size, then by MD5 ETag or by content).
        progress: Called with (keys done, total keys) as the copy advances.

    Returns:
        Counts of what was copied and skipped.

    Raises:
        ValueError: ``jobs`` < 1 or a bad prefix.
        MutationPolicyError: ``dst`` is append-only and holds different bytes.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be an int >= 1, got {jobs!r}")
    if prefix is not None:
        if isinstance(prefix, str):
            prefix = tuple(p for p in prefix.split("/") if p)
        src, dst = src.get_subdict(prefix), dst.get_subdict(prefix)
    if progress is not None:
        progress(0, None)
    entries = [(key, record) async for key, record in src._live_scan(True)]
    existing: dict[NonEmptySafeStrTuple, Record | None] = {}
    if skip_unchanged:
        existing = {key: record async for key, record in dst._scan(True)}
    # Bytes move unchanged only when the destination would have written the same
    # ones: same codec, same signature key and same expiry; otherwise re-encode.
    same_format = (src.serialization_format, src.signing_key, src.ttl) == (
        dst.serialization_format, dst.signing_key, dst.ttl,
    )  # fmt: skip
    total = len(entries)
    done = copied = skipped = missing = nbytes = 0
    if progress is not None:
        progress(0, total)

    async def one(entry: tuple[NonEmptySafeStrTuple, Record | None]) -> None:
        nonlocal done, copied, skipped, missing, nbytes
        key, meta = entry
        outcome = await _copy_one(src, dst, key, meta, existing.get(key), skip_unchanged, same_format)
        if outcome is None:
            missing += 1
        elif outcome < 0:
            skipped += 1
        else:
            copied += 1
            nbytes += outcome
        done += 1
        if progress is not None:
            progress(done, total)

    await bounded_map(one, entries, jobs)
    return CopyStats(total, copied, skipped, missing, nbytes)


async def _copy_one(
    src: PersiDict[Any],
    dst: PersiDict[Any],
    key: NonEmptySafeStrTuple,
    meta: Record | None,
    there: Record | None,
    skip_unchanged: bool,
    same_format: bool,
) -> int | None:
    """Copy one key; return the bytes written, -1 if skipped, None if it vanished."""
    if skip_unchanged and there is not None and same_format:
        if meta is not None and meta.size is not None and there.size not in (None, meta.size):
            there = None  # sizes differ: no need to look closer
        elif meta is not None and (src_md5 := _md5_of_etag(meta.etag)) is not None:
            # The source's ETag is its MD5: compare without downloading the source.
            current = await dst._read_data(key)
            if current is not None and hashlib.md5(current).hexdigest() == src_md5:
                return -1
            there = None
    data = await src._live_data(key)
    if data is None:
        return None
    if not same_format:
        data = dst._encode(key, src._decode(key, data))
    if skip_unchanged and there is not None:
        dst_md5 = _md5_of_etag(there.etag)
        if dst_md5 is not None:
            if hashlib.md5(data).hexdigest() == dst_md5:
                return -1
        elif await dst._read_data(key) == data:
            return -1
    if dst.append_only:
        # Append-only stores keep what they hold: identical bytes are fine, others are refused.
        if await dst._insert(key, data):
            return len(data)
        if await dst._read_data(key) == data:
            return -1
        raise MutationPolicyError(
            "append-only", f"key {key!r} exists in the destination with different content"
        )
    await dst._write(key, data, None)
    return len(data)


def _md5_of_etag(etag: str) -> str | None:
    match = _MD5_ETAG.fullmatch(etag)
    return match.group(1) if match else None
