"""Keys, flags, results, errors and codecs."""

from __future__ import annotations

import copy
import dataclasses
import pickle
import subprocess
import sys
from typing import Any

import cloudpickle
import pytest
from hypothesis import given
from hypothesis import strategies as st

import persidict_async as aio
import persidict_sync as sync
from persidict_async import (
    ALWAYS_RETRIEVE,
    ANY_ETAG,
    DELETE_CURRENT,
    ETAG_HAS_CHANGED,
    ETAG_IS_THE_SAME,
    IF_ETAG_CHANGED,
    ITEM_NOT_AVAILABLE,
    KEEP_CURRENT,
    NEVER_RETRIEVE,
    VALUE_NOT_RETRIEVED,
    ConditionalOperationResult,
    NonEmptySafeStrTuple,
    OperationResult,
    SafeStrTuple,
    get_safe_chars,
    replace_unsafe_chars,
)
from persidict_async.codecs import JsonCodec, PickleCodec, TextCodec, get_codec, register_codec

FLAGS = [KEEP_CURRENT, DELETE_CURRENT, ITEM_NOT_AVAILABLE, VALUE_NOT_RETRIEVED, ANY_ETAG,
         ETAG_IS_THE_SAME, ETAG_HAS_CHANGED, ALWAYS_RETRIEVE, NEVER_RETRIEVE, IF_ETAG_CHANGED]  # fmt: skip


def test_safe_chars() -> None:
    chars = get_safe_chars()
    assert set("azAZ09()_-~.=") <= chars and "/" not in chars and " " not in chars
    assert len(chars) == 26 * 2 + 10 + 7
    assert replace_unsafe_chars("a/b c!", "_") == "a_b_c_"
    assert replace_unsafe_chars("ok-1.txt") == "ok-1.txt"


def test_safe_str_tuple_normalisation_and_equality() -> None:
    t = SafeStrTuple("a", ["b", ("c",)], SafeStrTuple("d"))
    assert t == ("a", "b", "c", "d") and t == ["a", "b", "c", "d"]
    assert t.strings == ("a", "b", "c", "d")
    assert hash(t) == hash(("a", "b", "c", "d"))
    assert SafeStrTuple("x") == "x" and SafeStrTuple("x") != "y"
    assert SafeStrTuple() == () and len(SafeStrTuple()) == 0
    assert SafeStrTuple("a") + ("b",) == ("a", "b")  # noqa: RUF005 - testing __add__
    assert isinstance(SafeStrTuple("a") + "b", SafeStrTuple)
    assert {SafeStrTuple("a", "b"): 1}[("a", "b")] == 1
    assert pickle.loads(pickle.dumps(t)) == t and type(pickle.loads(pickle.dumps(t))) is SafeStrTuple
    key = NonEmptySafeStrTuple("a", "b")
    assert pickle.loads(pickle.dumps(key)) == key
    assert repr(key) == "NonEmptySafeStrTuple('a', 'b')"
    with pytest.raises(TypeError):
        key[0] = "z"  # type: ignore[index]


@pytest.mark.parametrize(
    "bad, error",
    [("", ValueError), ("..", ValueError), (".", ValueError), ("a/b", ValueError),
     ("\\", ValueError), ("a\x00", ValueError), ({"a": 1}, TypeError), (1, TypeError),
     (["a", 2], TypeError), (b"x", TypeError), (None, TypeError)],
)  # fmt: skip
def test_bad_key_components(bad: Any, error: type) -> None:
    with pytest.raises(error):
        NonEmptySafeStrTuple(bad)


def test_empty_key_is_refused() -> None:
    with pytest.raises(ValueError):
        NonEmptySafeStrTuple()
    with pytest.raises(ValueError):
        NonEmptySafeStrTuple([[], ()])


@given(st.lists(st.text(alphabet="ab.~=()_-09", min_size=1, max_size=8), min_size=1, max_size=5))
def test_valid_keys_roundtrip(parts: list[str]) -> None:
    if any(p in (".", "..") for p in parts):
        with pytest.raises(ValueError):
            NonEmptySafeStrTuple(parts)
        return
    key = NonEmptySafeStrTuple(parts)
    assert list(key) == parts and NonEmptySafeStrTuple(key) is key


@given(st.text(max_size=20))
def test_any_text_is_accepted_only_if_safe(text: str) -> None:
    safe = bool(text) and set(text) <= get_safe_chars() and text not in (".", "..")
    if safe:
        assert NonEmptySafeStrTuple(text) == (text,)
    else:
        with pytest.raises(ValueError):
            NonEmptySafeStrTuple(text)


@pytest.mark.parametrize("flag", FLAGS, ids=repr)
def test_flags_are_singletons_through_pickle_and_copy(flag: Any) -> None:
    assert pickle.loads(pickle.dumps(flag)) is flag
    assert cloudpickle.loads(cloudpickle.dumps(flag)) is flag
    assert copy.deepcopy(flag) is flag and copy.copy(flag) is flag
    assert type(flag)() is flag
    assert repr(flag) in dir(aio)
    script = (
        "import pickle, sys, persidict_async as a;"
        f"f = pickle.loads(sys.stdin.buffer.read()); print(f is a.{flag!r})"
    )
    out = subprocess.run([sys.executable, "-c", script], input=pickle.dumps(flag),
                         capture_output=True, check=True)  # fmt: skip
    assert out.stdout.strip() == b"True"


def test_condition_semantics() -> None:
    assert ANY_ETAG.check("a", "b") and ANY_ETAG.check(ITEM_NOT_AVAILABLE, "b")
    assert ETAG_IS_THE_SAME.check("a", "a") and not ETAG_IS_THE_SAME.check("a", "b")
    assert ETAG_IS_THE_SAME.check(ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE)
    assert ETAG_HAS_CHANGED.check("a", "b") and not ETAG_HAS_CHANGED.check("a", "a")
    assert ETAG_HAS_CHANGED.check(ITEM_NOT_AVAILABLE, "a")


def test_results() -> None:
    r = ConditionalOperationResult(True, "e1", "e2", 5)
    assert r.value_was_mutated
    assert not ConditionalOperationResult(False, "e1", "e1", VALUE_NOT_RETRIEVED).value_was_mutated
    with pytest.raises(dataclasses.FrozenInstanceError):
        r.actual_etag = "x"  # type: ignore[misc]
    assert pickle.loads(pickle.dumps(r)) == r
    o = OperationResult(ITEM_NOT_AVAILABLE, ITEM_NOT_AVAILABLE)
    assert pickle.loads(pickle.dumps(o)).new_value is ITEM_NOT_AVAILABLE


def test_errors() -> None:
    e = aio.MutationPolicyError("append-only")
    assert isinstance(e, TypeError) and e.policy == "append-only" and "append-only" in str(e)
    c = aio.ConcurrencyConflictError(("k",), 7)
    assert isinstance(c, RuntimeError) and c.attempts == 7 and c.key == ("k",)
    b = aio.BackendError("down", backend="s3", operation="get_object", key=("k",))
    assert b.backend == "s3" and b.operation == "get_object" and b.key == ("k",)
    assert issubclass(aio.CorruptValueError, aio.BackendError)


def _local_function() -> int:
    return 42


class _Local:
    def __init__(self, x: int) -> None:
        self.x = x

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Local) and other.x == self.x


def test_pickle_codec() -> None:
    codec = PickleCodec()
    for value in [{"a": (1, 2)}, b"x", _Local(3), {1, 2}, None]:
        assert codec.decode(codec.encode(value)) == value
    fn = codec.decode(codec.encode(lambda: 7))  # lambdas need cloudpickle
    assert fn() == 7
    with pytest.raises(TypeError):
        import threading

        codec.encode(threading.Lock())


def test_pickle_codec_inlines_main_objects() -> None:
    # A class from __main__ must be pickled by value so another process can load it.
    script = (
        "from persidict_async.codecs import PickleCodec\n"
        "class Point:\n    def __init__(self, x): self.x = x\n"
        "import sys; sys.stdout.buffer.write(PickleCodec().encode(Point(3)))\n"
    )
    data = subprocess.run([sys.executable, "-c", script], capture_output=True, check=True).stdout
    assert PickleCodec().decode(data).x == 3


def test_json_codec_is_strict() -> None:
    codec = JsonCodec()
    assert codec.decode(codec.encode({"a": (1, 2)})) == {"a": [1, 2]}  # tuples become lists
    for bad in [{1, 2}, object(), b"x", {1: "int key"}]:
        with pytest.raises(TypeError):
            codec.encode(bad)
    import datetime

    with pytest.raises(TypeError):
        codec.encode(datetime.datetime.now())


def test_text_codec() -> None:
    codec = TextCodec()
    assert codec.decode(codec.encode("ünï")) == "ünï"
    with pytest.raises(TypeError):
        codec.encode(5)


def test_codec_registry() -> None:
    class Upper:
        def encode(self, value: Any) -> bytes:
            return str(value).upper().encode()

        def decode(self, data: bytes) -> Any:
            return data.decode()

    register_codec("upper", Upper())
    assert isinstance(get_codec("upper"), Upper)
    d = sync.LocalDict(serialization_format="upper")  # a registered codec needs no str base class
    d["k"] = "abc"
    assert d["k"] == "ABC"
    with pytest.raises(TypeError):
        register_codec("broken", object())  # type: ignore[arg-type]
    assert isinstance(get_codec("anything-else"), TextCodec)


@pytest.mark.parametrize(
    "kwargs, error",
    [({"serialization_format": ""}, ValueError), ({"serialization_format": "a/b"}, ValueError),
     ({"serialization_format": "txt"}, ValueError), ({"append_only": "yes"}, TypeError),
     ({"base_class_for_values": 5}, TypeError), ({"serialization_format": 3}, ValueError),
     ({"nonsense": 1}, TypeError)],
)  # fmt: skip
@pytest.mark.parametrize("api", [aio, sync])
def test_bad_constructor_arguments(api: Any, kwargs: dict[str, Any], error: type) -> None:
    with pytest.raises(error):
        api.LocalDict(**kwargs)


def test_generic_typing_subscription() -> None:
    d = sync.LocalDict[int]()
    d["a"] = 1
    a = aio.LocalDict[int]()
    assert isinstance(a, aio.LocalDict) and d["a"] == 1


def test_public_names_match() -> None:
    names = ["PersiDict", "PersiDictKey", "NonEmptyPersiDictKey", "SafeStrTuple",
             "NonEmptySafeStrTuple", "get_safe_chars", "replace_unsafe_chars", "LocalDict",
             "EmptyDict", "KEEP_CURRENT", "DELETE_CURRENT", "Joker", "ETagValue", "ANY_ETAG",
             "ETAG_IS_THE_SAME", "ETAG_HAS_CHANGED", "ALWAYS_RETRIEVE", "NEVER_RETRIEVE",
             "IF_ETAG_CHANGED", "ITEM_NOT_AVAILABLE", "VALUE_NOT_RETRIEVED", "OperationResult",
             "ConditionalOperationResult", "MutationPolicyError", "ConcurrencyConflictError",
             "BackendError", "__version__"]  # fmt: skip
    for name in names:
        assert hasattr(aio, name) and hasattr(sync, name), name
    assert set(aio.__all__) <= set(sync.__all__) | {"MemoryBackend"}


def test_both_packages_export_the_same_names_and_sync_stores_are_facades() -> None:
    assert sorted(aio.__all__) == sorted(sync.__all__)
    for name in sync.__all__:
        obj = getattr(sync, name)
        if isinstance(obj, type) and issubclass(obj, aio.PersiDict):
            raise AssertionError(f"persidict_sync.{name} is an async store")
    assert issubclass(sync.LocalDict, sync.PersiDict) and sync.KEEP_CURRENT is aio.KEEP_CURRENT
