"""The backends of the contract matrix.

Each backend is a factory ``make(tmp_path, **store_options) -> async store``.
A later backend joins every contract test by adding itself to BACKENDS.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio


@dataclass(frozen=True)
class Backend:
    """One entry of the matrix.

    Attributes:
        name: Test id.
        make: Builds a fresh, empty async store under ``tmp_path``.
        serialization_format: The values it holds ("pkl", "json", or text).
        needs: Pytest fixture names the factory needs (e.g. an S3 server).
        timestamp_resolution: Granularity of stored timestamps in seconds
            (S3 keeps whole seconds).
        policy: For APPEND_ONLY_BACKENDS, the policy a refused mutation names:
            "append-only" (overwrites raise) or "write-once" (repeat writes are
            ignored, conditional overwrites raise).
    """

    name: str
    make: Callable[..., aio.PersiDict[Any]]
    serialization_format: str = "pkl"
    needs: tuple[str, ...] = ()
    timestamp_resolution: float = 0.0
    policy: str = "append-only"


def _local(fmt: str) -> Callable[..., aio.PersiDict[Any]]:
    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        options.setdefault("serialization_format", fmt)
        if fmt not in ("pkl", "json"):
            options.setdefault("base_class_for_values", str)
        return aio.LocalDict(**options)

    return make


def _files(fmt: str) -> Callable[..., aio.PersiDict[Any]]:
    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        options.setdefault("serialization_format", fmt)
        if fmt not in ("pkl", "json"):
            options.setdefault("base_class_for_values", str)
        options.setdefault("durable", False)  # fsyncs would only slow the matrix down
        return aio.FileDirDict(base_dir=tmp_path, **options)

    return make


def _cached(
    main: Callable[..., aio.PersiDict[Any]], caches: Callable[..., aio.PersiDict[Any]]
) -> Callable[..., aio.PersiDict[Any]]:
    """MutableDictCached over a ``main`` store, with ``caches`` stores for data and ETags."""

    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        return aio.MutableDictCached(
            main_dict=main(tmp_path / "main", **options),
            data_cache=caches(tmp_path / "data"),
            etag_cache=caches(tmp_path / "etags", serialization_format="txt", base_class_for_values=str),
        )

    return make


def _lru(main: Callable[..., aio.PersiDict[Any]]) -> Callable[..., aio.PersiDict[Any]]:
    """LRUCachedDict over a ``main`` store, small enough that the matrix also evicts."""

    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        return aio.LRUCachedDict(main_dict=main(tmp_path / "main", **options), max_items=4,
                                 max_bytes=1 << 20)  # fmt: skip

    return make


def _s3(fmt: str, cached: bool = False) -> Callable[..., aio.PersiDict[Any]]:
    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        from .s3_server import s3_options

        options.setdefault("serialization_format", fmt)
        if fmt not in ("pkl", "json"):
            options.setdefault("base_class_for_values", str)
        if cached:
            return aio.S3Dict(base_dir=tmp_path / "s3-cache", **s3_options(**options))
        return aio.BasicS3Dict(**s3_options(**options))

    return make


def _overlapping(kind: str, fmt: str) -> Callable[..., aio.PersiDict[Any]]:
    """The ``fmt`` store of an OverlappingMultiDict whose other formats already hold keys.

    The sibling formats hold the keys the contract tests use, so any test that
    sees them (len, iteration, clear ...) fails: the format store must see its
    own files only.
    """

    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        import persidict_sync as sync

        if kind == "files":
            dict_type: type[aio.PersiDict[Any]] = aio.FileDirDict
            shared: dict[str, Any] = {"base_dir": tmp_path, "durable": False}
        else:
            dict_type, shared = aio.LocalDict, {"backend": aio.MemoryBackend()}
        formats: dict[str, dict[str, Any]] = {"pkl": {}, "json": {}, "txt": {"base_class_for_values": str}}
        if fmt not in ("pkl", "json"):
            options.setdefault("base_class_for_values", str)
        formats[fmt] = {**formats[fmt], **options}
        multi = aio.OverlappingMultiDict(dict_type=dict_type, shared_subdicts_params=shared, **formats)
        for name in multi.subdicts_names:
            if name != fmt:
                sibling = sync.PersiDict.wrap(multi.subdict(name))  # local stores run inline
                sibling.update({key: "sibling" for key in ("a", "k", "k0", ("a", "b"), ("users", "ada"))})
        return multi.subdict(fmt)

    return make


BACKENDS: list[Backend] = [
    Backend("local-pkl", _local("pkl")),
    Backend("local-json", _local("json"), "json"),
    Backend("local-txt", _local("txt"), "txt"),
    Backend("files-pkl", _files("pkl")),
    Backend("files-json", _files("json"), "json"),
    Backend("files-txt", _files("txt"), "txt"),
    Backend("s3-pkl", _s3("pkl"), needs=("s3_server",), timestamp_resolution=1.0),
    Backend("s3dict-pkl", _s3("pkl", cached=True), needs=("s3_server",), timestamp_resolution=1.0),
    Backend("cached-local-pkl", _cached(_local("pkl"), _local("pkl"))),
    Backend("cached-local-json", _cached(_local("json"), _local("json")), "json"),
    Backend("cached-local-txt", _cached(_local("txt"), _local("txt")), "txt"),
    Backend("cached-files-pkl", _cached(_files("pkl"), _files("pkl"))),
    Backend("lru-local-pkl", _lru(_local("pkl"))),
    Backend("lru-local-txt", _lru(_local("txt")), "txt"),
    Backend("lru-files-pkl", _lru(_files("pkl"))),
    Backend("lru-files-json", _lru(_files("json")), "json"),
    Backend("lru-s3-pkl", _lru(_s3("pkl")), needs=("s3_server",), timestamp_resolution=1.0),
    Backend("overlap-local-txt", _overlapping("local", "txt"), "txt"),
    Backend("overlap-files-json", _overlapping("files", "json"), "json"),
]


def _append_only(plain: Callable[..., aio.PersiDict[Any]]) -> Callable[..., aio.PersiDict[Any]]:
    """An append-only store of the ``plain`` kind."""

    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        options["append_only"] = True
        return plain(tmp_path, **options)

    return make


def _write_once(plain: Callable[..., aio.PersiDict[Any]]) -> Callable[..., aio.PersiDict[Any]]:
    """WriteOnceDict over an append-only ``plain`` store (option p_consistency_checks, default 0)."""

    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        p = options.pop("p_consistency_checks", 0.0)
        options["append_only"] = True
        return aio.WriteOnceDict(wrapped_dict=plain(tmp_path, **options), p_consistency_checks=p)

    return make


def _append_only_cached(
    main: Callable[..., aio.PersiDict[Any]], cache: Callable[..., aio.PersiDict[Any]]
) -> Callable[..., aio.PersiDict[Any]]:
    """AppendOnlyDictCached over an append-only ``main`` store, with a ``cache`` store."""

    def make(tmp_path: Path, **options: Any) -> aio.PersiDict[Any]:
        options["append_only"] = True
        primary = main(tmp_path / "main", **options)
        return aio.AppendOnlyDictCached(main_dict=primary, data_cache=cache(tmp_path / "data"))

    return make


_S3 = ("s3_server",)  # with timestamp_resolution=1.0: S3 keeps whole seconds

APPEND_ONLY_BACKENDS: list[Backend] = [
    Backend("ao-local-pkl", _append_only(_local("pkl"))),
    Backend("ao-local-json", _append_only(_local("json")), "json"),
    Backend("ao-local-txt", _append_only(_local("txt")), "txt"),
    Backend("ao-files-pkl", _append_only(_files("pkl"))),
    Backend("ao-files-txt", _append_only(_files("txt")), "txt"),
    Backend("ao-s3-pkl", _append_only(_s3("pkl")), needs=_S3, timestamp_resolution=1.0),
    Backend("ao-s3dict-pkl", _append_only(_s3("pkl", cached=True)), needs=_S3, timestamp_resolution=1.0),
    Backend("wo-local-pkl", _write_once(_local("pkl")), policy="write-once"),
    Backend("wo-local-json", _write_once(_local("json")), "json", policy="write-once"),
    Backend("wo-files-pkl", _write_once(_files("pkl")), policy="write-once"),
    Backend("wo-files-txt", _write_once(_files("txt")), "txt", policy="write-once"),
    Backend("wo-s3-pkl", _write_once(_s3("pkl")), policy="write-once", needs=_S3, timestamp_resolution=1.0),
    Backend("aoc-local-pkl", _append_only_cached(_local("pkl"), _local("pkl"))),
    Backend("aoc-local-txt", _append_only_cached(_local("txt"), _local("txt")), "txt"),
    Backend("aoc-files-pkl", _append_only_cached(_files("pkl"), _files("pkl"))),
    Backend("aoc-s3-pkl", _append_only_cached(_s3("pkl"), _files("pkl")), needs=_S3,
            timestamp_resolution=1.0),
]


def sample_values(fmt: str) -> list[Any]:
    """Values every store of this format must round-trip exactly."""
    if fmt == "pkl":
        return [{"a": 1, "b": [1, 2]}, (1, "x", None), 3.5, "text", b"\x00bytes", {1, 2}, None]
    if fmt == "json":
        return [{"a": 1, "b": [1, 2]}, [1, "x", None], 3.5, "text", True, None, 0]
    return ["text", "", "unicode ✓ ünï", "multi\nline"]


def other_value(fmt: str) -> Any:
    """A value different from every sample value."""
    return "another" if fmt not in ("pkl", "json") else {"another": [9]}


def requested_backend(request: pytest.FixtureRequest) -> Backend:
    """The backend a parametrized ``backend`` fixture runs with, its needed fixtures set up."""
    spec: Backend = request.param
    for fixture in spec.needs:
        request.getfixturevalue(fixture)
    return spec
