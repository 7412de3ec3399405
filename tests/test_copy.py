"""copy_store through the async API and the sync facade, local and over S3."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import persidict_async as aio
import persidict_sync as sync

from .s3_server import S3Server, s3_options

VALUES: dict[tuple[str, ...], Any] = {
    ("a",): {"x": 1},
    ("b", "c"): [1, 2, 3],
    ("b", "d"): "text",
    ("e", "f", "g"): None,
}


def _files(path: Path, **options: Any) -> aio.FileDirDict[Any]:
    return aio.FileDirDict(base_dir=path, durable=False, **options)


async def _fill(store: aio.PersiDict[Any]) -> None:
    await store.set_many(VALUES)


async def _contents(store: aio.PersiDict[Any]) -> dict[tuple[str, ...], Any]:
    return {tuple(k): v async for k, v in store.items()}


async def test_copy_keeps_bytes_and_reports(tmp_path: Path) -> None:
    src, dst = _files(tmp_path / "src"), _files(tmp_path / "dst")
    await _fill(src)
    calls: list[tuple[int, int | None]] = []
    stats = await aio.copy_store(src, dst, jobs=3, progress=lambda done, total: calls.append((done, total)))
    assert stats == aio.CopyStats(total=4, copied=4, skipped=0, missing=0,
                                  bytes_copied=stats.bytes_copied)  # fmt: skip
    assert await _contents(dst) == VALUES
    for key in VALUES:
        assert await dst._read_data(key) == await src._read_data(key)  # raw bytes, not re-pickled
    assert stats.bytes_copied == sum([len(await src._read_data(k) or b"") for k in VALUES])
    assert calls[0] == (0, None) and calls[1] == (0, 4) and calls[-1] == (4, 4)
    assert [done for done, _ in calls[1:]] == [0, 1, 2, 3, 4]


async def test_skip_unchanged_resumes(tmp_path: Path) -> None:
    src, dst = _files(tmp_path / "src"), _files(tmp_path / "dst")
    await _fill(src)
    await dst.set_item(("a",), {"x": 1})  # as if an earlier copy got this far
    await dst.set_item(("b", "c"), [1, 2, 4])  # same size, different bytes
    await dst.set_item(("b", "d"), "a longer text")  # different size
    stats = await aio.copy_store(src, dst, skip_unchanged=True)
    assert (stats.copied, stats.skipped) == (3, 1)
    assert await _contents(dst) == VALUES
    again = await aio.copy_store(src, dst, skip_unchanged=True)
    assert (again.copied, again.skipped, again.bytes_copied) == (0, 4, 0)


async def test_prefix_and_format_conversion(tmp_path: Path) -> None:
    src = _files(tmp_path / "src")
    dst = aio.LocalDict(serialization_format="json")
    await _fill(src)
    stats = await aio.copy_store(src, dst, prefix="b")
    assert stats.copied == 2
    assert await _contents(dst) == {("b", "c"): [1, 2, 3], ("b", "d"): "text"}
    again = await aio.copy_store(src, dst, prefix=("b",), skip_unchanged=True)
    assert again.skipped == 2


async def test_append_only_destination(tmp_path: Path) -> None:
    src = _files(tmp_path / "src")
    dst = _files(tmp_path / "dst", append_only=True)
    await _fill(src)
    assert (await aio.copy_store(src, dst)).copied == 4
    assert (await aio.copy_store(src, dst)).skipped == 4  # identical bytes are not a mutation
    await src.set_item("a", "changed")
    with pytest.raises(aio.MutationPolicyError):
        await aio.copy_store(src, dst)


async def test_bad_jobs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="jobs"):
        await aio.copy_store(aio.LocalDict(), aio.LocalDict(), jobs=0)


def test_sync_copy_accepts_facades_and_async_stores(tmp_path: Path) -> None:
    src: Any = sync.open_store(str(tmp_path / "src"))
    src.update(VALUES)
    dst: Any = sync.LocalDict()
    stats = sync.copy_store(src, dst, skip_unchanged=True)
    assert stats.copied == 4 and dict(dst.items()) == VALUES
    assert sync.copy_store(src.aio, dst.aio, skip_unchanged=True).skipped == 4


@pytest.mark.s3
def test_local_to_s3_to_local_sync(tmp_path: Path, s3_server: S3Server) -> None:
    src: Any = sync.FileDirDict(base_dir=tmp_path / "src")
    src.update(VALUES)
    options = s3_options()
    with sync.BasicS3Dict(**options) as remote:
        progress: list[int] = []
        first = sync.copy_store(src, remote, jobs=4, progress=lambda d, t: progress.append(d))
        assert first.copied == 4 and progress[-1] == 4
        # S3 ETags are MD5s: unchanged keys are recognised without downloading the source.
        assert sync.copy_store(src, remote, skip_unchanged=True).skipped == 4
        back: Any = sync.FileDirDict(base_dir=tmp_path / "back")
        assert sync.copy_store(remote, back, jobs=4).copied == 4
        assert dict(back.items()) == VALUES
        os.remove(next(Path(tmp_path / "back").rglob("*.pkl")))  # an interrupted copy
        resumed = sync.copy_store(remote, back, skip_unchanged=True)
        assert (resumed.copied, resumed.skipped) == (1, 3) and dict(back.items()) == VALUES


@pytest.mark.s3
async def test_async_copy_to_s3_with_prefix(tmp_path: Path, s3_server: S3Server) -> None:
    src = aio.LocalDict()
    await _fill(src)
    async with aio.S3Dict(base_dir=tmp_path / "cache", **s3_options()) as remote:
        stats = await aio.copy_store(src, remote, prefix="b", jobs=8)
        assert stats.copied == 2
        assert sorted([tuple(k) async for k in remote]) == [("b", "c"), ("b", "d")]
        assert (await aio.copy_store(src, remote, prefix="b", skip_unchanged=True)).skipped == 2
