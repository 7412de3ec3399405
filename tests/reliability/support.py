"""Helpers of the reliability suite: self-checking values, hostile keys, bounded calls."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from typing import Any

from hypothesis import strategies as st

from persidict_async import ITEM_NOT_AVAILABLE


def _digest(key: str, n: int, pad: str) -> str:
    return hashlib.sha256(f"{key}|{n}|{pad}".encode()).hexdigest()


def make_value(key: str, n: int, size: int = 64) -> dict[str, Any]:
    """A value that names its key and generation ``n`` and carries its own checksum.

    ``size`` pads it, so that a write of it takes more than one system call.
    """
    pad = (f"{key}:{n}:" * (size // 8 + 1))[:size]
    return {"key": key, "n": n, "pad": pad, "sha": _digest(key, n, pad)}


def check_value(key: str, value: Any) -> int:
    """The generation of a value written by :func:`make_value` for ``key``.

    Raises:
        AssertionError: The value is not whole, or belongs to another key.
    """
    assert isinstance(value, dict), f"value of {key!r} is a {type(value).__name__}: {value!r:.80}"
    assert set(value) == {"key", "n", "pad", "sha"}, f"value of {key!r} has fields {sorted(value)}"
    assert value["key"] == key, f"value of {key!r} names key {value['key']!r}"
    assert value["sha"] == _digest(key, value["n"], value["pad"]), f"value of {key!r} is partial"
    return int(value["n"])


def bump(key: str) -> Callable[[Any], dict[str, Any]]:
    """A transformer that increments the generation of ``key``'s self-checking value."""

    def transform(value: Any) -> dict[str, Any]:
        n = 0 if value is ITEM_NOT_AVAILABLE else check_value(key, value)
        return make_value(key, n + 1)

    return transform


def call_within(seconds: float, fn: Callable[[], Any]) -> BaseException | None:
    """Run ``fn`` in a daemon thread; return what it raised (None if nothing).

    Raises:
        AssertionError: ``fn`` did not return within ``seconds`` (it hangs).
    """
    raised: list[BaseException] = []

    def run() -> None:
        try:
            fn()
        except BaseException as exc:  # reported to the caller
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    assert not thread.is_alive(), f"{fn} still runs after {seconds}s"
    return raised[0] if raised else None


# Keys a hostile or careless caller may pass: separators, parent and absolute
# paths, NUL, the hidden lock folder's name, unicode, very long text, deep and
# empty nestings, and things that are not strings at all.
_component = st.one_of(
    st.sampled_from([
        "..", ".", "", "/", "\\", "../..", "/etc", "/etc/passwd", "a/../../b", "~", "~root",
        "..\\x", "\x00", "a\x00b", ".#locks", ".#tmp.1.2", "C:\\x", "%2e%2e", "\u202e", "ǅ", "ﬁ",
    ]),
    st.text(min_size=0, max_size=12),
    st.text(alphabet="./~\\_-=()", min_size=1, max_size=6),
    st.text(alphabet="abzAZ09._-~=()", min_size=1, max_size=10),  # often valid
    st.integers(min_value=1, max_value=1200).map(lambda n: "x" * n),
)  # fmt: skip
_not_a_string = st.one_of(
    st.integers(), st.floats(allow_nan=False), st.none(), st.binary(max_size=8),
    st.just(object()), st.dictionaries(st.text(max_size=3), st.text(max_size=3), max_size=2),
)  # fmt: skip
hostile_keys = st.recursive(
    st.one_of(_component, _not_a_string),
    lambda inner: st.lists(inner, max_size=4) | st.tuples(inner, inner),
    max_leaves=8,
)
"""Arbitrary keys, valid or not (hypothesis strategy)."""
