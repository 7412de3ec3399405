"""Codecs turn values into the bytes that a backend stores, and back.

The serialization format of a store names its codec and is also the file
extension of its values. ``pkl`` and ``json`` are built in; any other name
stores UTF-8 text unless a codec was registered for it.
"""

from __future__ import annotations

import pickle
from typing import Any, Protocol, runtime_checkable

import cloudpickle
import orjson

__all__ = ["Codec", "JsonCodec", "PickleCodec", "TextCodec", "get_codec", "register_codec"]


@runtime_checkable
class Codec(Protocol):
    """Encodes values to bytes and decodes them back."""

    def encode(self, value: Any) -> bytes:
        """Return the bytes to store; raise TypeError for values it cannot hold."""
        ...

    def decode(self, data: bytes) -> Any:
        """Return the value stored in ``data``."""
        ...


_dumps = pickle.dumps
_loads = pickle.loads
_STACK_GLOBAL = pickle.STACK_GLOBAL[0]


class PickleCodec:
    """Writes with cloudpickle (lambdas, local classes), reads with pickle."""

    unambiguous = True
    """Its output never starts with a NUL byte (stores rely on it to skip envelopes)."""

    @staticmethod
    def encode(value: Any) -> bytes:
        """Pickle a value; objects defined in ``__main__`` are pickled by value."""
        # The C pickler is ~5x faster than cloudpickle. Its output is identical in
        # meaning unless it refers to __main__ (which cloudpickle would inline) or
        # the user asked cloudpickle to inline a module; those go to cloudpickle.
        # (A static method: stores call it without building a bound method.)
        if not _BY_VALUE_MODULES:
            try:
                data = _dumps(value, 5)
            except (pickle.PicklingError, TypeError, AttributeError):
                pass
            else:
                # Protocol 5 names every global (class, function) with the STACK_GLOBAL
                # opcode (0x93), so a pickle without that byte refers to no __main__
                # object; the byte test is a memchr, far cheaper than the text search.
                if _STACK_GLOBAL not in data or data.find(b"__main__") < 0:
                    return data
        try:
            return bytes(cloudpickle.dumps(value, protocol=5))
        except Exception as exc:  # cloudpickle raises many types; normalise them
            raise TypeError(f"value of type {type(value).__name__} cannot be pickled: {exc}") from exc

    # The C function itself, so decoding costs no extra Python frame.
    decode = staticmethod(_loads)
    """Unpickle bytes (only from sources you trust)."""


# cloudpickle.register_pickle_by_value() adds to this set in place.
_BY_VALUE_MODULES: set[str] = getattr(
    getattr(cloudpickle, "cloudpickle", None), "_PICKLE_BY_VALUE_MODULES", {""}
)


class JsonCodec:
    """Strict JSON with orjson: tuples come back as lists, other types are refused."""

    _OPTIONS = orjson.OPT_PASSTHROUGH_DATACLASS | orjson.OPT_PASSTHROUGH_DATETIME
    unambiguous = True
    """JSON text never starts with a NUL byte."""

    def encode(self, value: Any) -> bytes:
        """Serialise to JSON; raise TypeError for anything JSON cannot represent."""
        try:
            return orjson.dumps(value, option=self._OPTIONS)
        except orjson.JSONEncodeError as exc:
            raise TypeError(f"value cannot be stored as JSON: {exc}") from exc

    def decode(self, data: bytes) -> Any:
        """Parse JSON bytes."""
        return orjson.loads(data)


class TextCodec:
    """UTF-8 text; values must be str."""

    def encode(self, value: Any) -> bytes:
        """Encode a str as UTF-8."""
        if not isinstance(value, str):
            raise TypeError(f"text stores hold str values, got {type(value).__name__}")
        return value.encode("utf-8")

    def decode(self, data: bytes) -> Any:
        """Decode UTF-8 bytes."""
        return data.decode("utf-8")


_REGISTRY: dict[str, Codec] = {"pkl": PickleCodec(), "json": JsonCodec()}
_TEXT = TextCodec()


def register_codec(serialization_format: str, codec: Codec) -> None:
    """Make ``serialization_format`` use ``codec`` in every store of this process."""
    if not isinstance(codec, Codec):
        raise TypeError("a codec needs encode(value) -> bytes and decode(bytes) -> value")
    _REGISTRY[serialization_format] = codec


def get_codec(serialization_format: str) -> Codec:
    """Return the codec of a format (text for formats without a registered codec)."""
    return _REGISTRY.get(serialization_format, _TEXT)


def is_text_format(serialization_format: str) -> bool:
    """Whether a format stores plain text (no registered codec)."""
    return serialization_format not in _REGISTRY
