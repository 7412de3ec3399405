"""open_store: URLs to stores, through the async API and the sync facade."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync
from persidict_async.urls import StoreURLError, parse_store_url


def test_plain_path_is_a_file_store(tmp_path: Path) -> None:
    store = aio.open_store(str(tmp_path / "d"))
    assert type(store) is aio.FileDirDict
    assert store.base_dir == str(tmp_path / "d") and store.serialization_format == "pkl"


def test_file_url_and_query_options_are_typed(tmp_path: Path) -> None:
    store = aio.open_store(f"file://{tmp_path}/d?format=json&append_only=1&digest_len=8&durable=false")
    assert type(store) is aio.FileDirDict
    params = store.get_params()
    assert params["base_dir"] == str(tmp_path / "d")
    assert params["serialization_format"] == "json" and params["append_only"] is True
    assert params["digest_len"] == 8 and params["durable"] is False


def test_percent_encoded_file_url(tmp_path: Path) -> None:
    store = aio.open_store(f"file://localhost{tmp_path}/a%20b")
    assert store.get_params()["base_dir"] == str(tmp_path / "a b")


def test_text_format_implies_str_values(tmp_path: Path) -> None:
    store = aio.open_store(f"{tmp_path}/t?format=txt")
    assert store.base_class_for_values is str and store.serialization_format == "txt"


def test_keyword_arguments_override_the_query(tmp_path: Path) -> None:
    store = aio.open_store(f"{tmp_path}/d?format=json&digest_len=2", serialization_format="pkl")
    assert store.serialization_format == "pkl" and store.get_params()["digest_len"] == 2
    store = aio.open_store(f"{tmp_path}/d", format="json")  # the short name works as a keyword too
    assert store.serialization_format == "json"


def test_memory_url() -> None:
    store = aio.open_store("memory://?format=json")
    assert type(store) is aio.LocalDict and store.serialization_format == "json"


def test_s3_urls_resolve_without_io() -> None:
    spec = parse_store_url("s3://bucket/some/prefix?endpoint_url=http://127.0.0.1:1&max_attempts=2")
    assert spec.store_class is aio.S3Dict
    assert spec.options == {"bucket_name": "bucket", "root_prefix": "some/prefix",
                            "endpoint_url": "http://127.0.0.1:1", "max_attempts": 2}  # fmt: skip
    assert parse_store_url("s3://bucket?cache=0").store_class is aio.BasicS3Dict
    assert parse_store_url("s3://bucket", {"cache": False}).store_class is aio.BasicS3Dict
    assert parse_store_url("s3://bucket", defaults={"cache": False}).store_class is aio.BasicS3Dict
    assert parse_store_url("s3://bucket?cache=1", defaults={"cache": False}).store_class is aio.S3Dict


def test_s3_store_is_built(tmp_path: Path) -> None:
    store = aio.open_store("s3://bucket/p?cache=no&endpoint_url=http://127.0.0.1:1&region=us-east-1")
    assert type(store) is aio.BasicS3Dict
    assert store.get_params()["root_prefix"] == "p/" and store.get_params()["region"] == "us-east-1"
    cached = aio.open_store("s3://bucket/p", base_dir=str(tmp_path / "cache"),
                            endpoint_url="http://127.0.0.1:1")  # fmt: skip
    assert type(cached) is aio.S3Dict


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("gs://bucket/x", "unsupported URL scheme 'gs'"),
        ("http://example.com/x", "unsupported URL scheme 'http'"),
        ("s3:///prefix", "no bucket"),
        ("s3://user@bucket/p", "bad bucket"),
        ("file://otherhost/x", "local path"),
        ("memory://somewhere", "takes no location"),
        ("d?digest_len=four", "must be an integer"),
        ("d?append_only=maybe", "must be a boolean"),
        ("d?format=", "must not be empty"),
        ("d?colour=blue", "unknown option 'colour'"),
        ("d?base_dir=elsewhere", "set by the URL"),
        ("d?format=json&format=pkl", "given twice"),
        ("d?novalue", "malformed query"),
        ("d?digest_len=99", "digest_len must be between"),
        ("d?base_class_for_values=object", "must name one of"),
        ("s3://b?session=x", "cannot be given in a URL"),
        ("", "non-empty"),
    ],
)
def test_bad_urls_raise_clear_value_errors(tmp_path: Path, url: str, message: str) -> None:
    cwd = os.getcwd()
    os.chdir(tmp_path)  # relative paths must not land in the repository
    try:
        with pytest.raises(ValueError, match=message):
            aio.open_store(url)
    finally:
        os.chdir(cwd)


def test_unknown_keyword_option(tmp_path: Path) -> None:
    with pytest.raises(StoreURLError, match="unknown option 'colour'"):
        aio.open_store(str(tmp_path), colour="blue")


def test_sync_open_store_is_a_facade_of_the_async_one(tmp_path: Path) -> None:
    d: Any = sync.open_store(f"{tmp_path}/d?format=json")
    assert isinstance(d, sync.FileDirDict) and isinstance(d.aio, aio.FileDirDict)
    d["a", "b"] = {"x": [1, 2]}
    again = sync.open_store(f"file://{tmp_path}/d?format=json")
    assert again[["a", "b"]] == {"x": [1, 2]}
    with pytest.raises(ValueError, match="unsupported URL scheme"):
        sync.open_store("ftp://x")


async def test_async_open_store_round_trip(tmp_path: Path) -> None:
    store = aio.open_store(f"{tmp_path}/d?format=txt")
    await store.set_item("k", "v")
    assert await aio.open_store(f"{tmp_path}/d?format=txt").get_item("k") == "v"
