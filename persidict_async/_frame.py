"""The optional envelope around stored bytes: an expiry deadline and an HMAC signature.

Plain values are stored as their codec wrote them (the same bytes persidict
writes). A value with a deadline, written by a store with a signing key, or a
text value that happens to start with the envelope's magic bytes, is stored as::

    MAGIC | version | flags | [HMAC-SHA256 (32 bytes)] | [deadline (float64, 8 bytes)] | payload

The signature covers everything after it (version, flags, deadline and
payload), so neither the value nor its deadline can be changed without the key.
Pickles and JSON never start with a NUL byte, so the magic bytes cannot be
mistaken for a plain value of those formats.
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from typing import Final

__all__ = ["MAGIC", "Framer", "deadline_of", "is_framed", "unwrap"]

MAGIC: Final = b"\x00pdf"
_VERSION: Final = 1
_SIGNED: Final = 1
_EXPIRES: Final = 2
_KNOWN_FLAGS: Final = _SIGNED | _EXPIRES
_HEAD: Final = len(MAGIC) + 2
_SIG_LEN: Final = 32
_DEADLINE = struct.Struct(">d")


class FrameError(ValueError):
    """Stored bytes carry a damaged or unknown envelope."""


class SignatureMismatch(FrameError):
    """The value is unsigned, or its signature does not match the key."""


def is_framed(data: bytes) -> bool:
    """Whether ``data`` is an envelope (not a plain codec payload)."""
    return data[:4] == MAGIC


def _parse(data: bytes) -> tuple[int, int]:
    """Return (flags, offset of the deadline or payload after the signature)."""
    if len(data) < _HEAD or data[4] != _VERSION:
        raise FrameError("unknown or truncated envelope version")
    flags = data[5]
    if flags & ~_KNOWN_FLAGS:
        raise FrameError(f"unknown envelope flags {flags:#x}")
    offset = _HEAD + (_SIG_LEN if flags & _SIGNED else 0)
    if len(data) < offset + (_DEADLINE.size if flags & _EXPIRES else 0):
        raise FrameError("truncated envelope")
    return flags, offset


def deadline_of(data: bytes) -> float | None:
    """The expiry deadline (POSIX seconds) of stored bytes, None if they never expire.

    The signature is not checked here: a forged deadline only hides a value, and
    reading a forged value fails its signature check anyway.
    """
    if data[:4] != MAGIC:
        return None
    try:
        flags, offset = _parse(data)
    except FrameError:
        return None  # reading the value reports the damage
    if not flags & _EXPIRES:
        return None
    return float(_DEADLINE.unpack_from(data, offset)[0])


def unwrap(data: bytes) -> bytes:
    """The payload of stored bytes (plain bytes are their own payload); no signature check."""
    if data[:4] != MAGIC:
        return data
    flags, offset = _parse(data)
    return data[offset + (_DEADLINE.size if flags & _EXPIRES else 0) :]


class Framer:
    """Builds and opens envelopes for one store.

    Args:
        signing_key: HMAC key; when set every value is signed on write and
            every read refuses values without a valid signature.
    """

    __slots__ = ("_key",)

    def __init__(self, signing_key: bytes | None) -> None:
        self._key = signing_key

    @property
    def signs(self) -> bool:
        """Whether values are signed and checked."""
        return self._key is not None

    def wrap(self, payload: bytes, deadline: float | None) -> bytes:
        """Return the bytes to store for ``payload`` (an envelope only when needed)."""
        if deadline is None and self._key is None:
            if payload[:4] != MAGIC:
                return payload
            return MAGIC + bytes((_VERSION, 0)) + payload  # keep a look-alike text unambiguous
        flags = (_SIGNED if self._key is not None else 0) | (_EXPIRES if deadline is not None else 0)
        body = bytes((_VERSION, flags)) + (_DEADLINE.pack(deadline) if deadline is not None else b"")
        if self._key is None:
            return MAGIC + body + payload
        signature = hmac.new(self._key, body + payload, hashlib.sha256).digest()
        return MAGIC + body[:2] + signature + body[2:] + payload

    def open(self, data: bytes) -> bytes:
        """Return the payload of stored bytes, checking the signature when this store signs."""
        if self._key is None:
            return unwrap(data)
        if data[:4] != MAGIC:
            raise SignatureMismatch("the value is not signed")
        flags, offset = _parse(data)
        if not flags & _SIGNED:
            raise SignatureMismatch("the value is not signed")
        signature = data[_HEAD:offset]
        signed_part = data[4:_HEAD] + data[offset:]
        expected = hmac.new(self._key, signed_part, hashlib.sha256).digest()
        if not hmac.compare_digest(signature, expected):
            raise SignatureMismatch("the signature does not match this store's signing_key")
        return data[offset + (_DEADLINE.size if flags & _EXPIRES else 0) :]
