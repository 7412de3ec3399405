"""The ``persidict`` command-line tool.

Stores are named by URL (see :func:`persidict_async.open_store`); keys are
written with "/" between components. Data goes to stdout, messages to stderr.
Exit codes: 0 success, 1 the operation failed (missing key, backend error,
refused value), 2 bad usage (arguments, URL or key).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import pprint
import sys
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from typing import Any, TextIO

import persidict_async as core
from persidict_async.copying import copy_store
from persidict_async.errors import BackendError, ConcurrencyConflictError, MutationPolicyError
from persidict_async.keys import NonEmptySafeStrTuple, SafeStrTuple, to_key, to_prefix
from persidict_async.urls import StoreSpec, StoreURLError, parse_store_url

from . import _demo, _driver

# A command-line invocation is short-lived: a local S3 cache would only add writes.
_CLI_DEFAULTS: dict[str, Any] = {"cache": False}
SIGNING_KEY_ENV = "PERSIDICT_SIGNING_KEY"

_URL_HELP = (
    "a store URL: path/to/dir or file:///abs/dir (FileDirDict), s3://bucket/prefix "
    "(S3), memory:// (empty, in memory); options as a query, e.g. ?format=json"
)
_EPILOG = """\
URL options name constructor arguments: format (pkl, json or a text format such as txt),
append_only=1, digest_len=8, ttl=seconds, endpoint_url=http://..., region=..., cache=1 (S3
local cache). Keys are written as a/b/c. S3 credentials and endpoint come from the usual AWS
environment variables (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ...). PERSIDICT_SIGNING_KEY, when
set, is the stores' signing_key: values are signed when written, and unsigned or foreign
values are refused when read.

exit codes: 0 success, 1 operation failed, 2 bad usage
"""


class CommandError(Exception):
    """An expected failure: its message goes to stderr, its code becomes the exit code."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``persidict`` command."""
    parser = argparse.ArgumentParser(
        prog="persidict",
        description="Inspect, edit and copy persistent dictionaries.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"persidict {core.__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, help_text: str, description: str) -> argparse.ArgumentParser:
        return commands.add_parser(name, help=help_text, description=description, epilog=_EPILOG,
                                   formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip

    ls = add("ls", "list keys", "List the keys of a store (sorted), one per line.")
    ls.add_argument("url", metavar="URL", help=_URL_HELP)
    ls.add_argument("prefix", metavar="PREFIX", nargs="?", help="only keys under this prefix (a/b)")
    ls.add_argument("-l", "--long", action="store_true",
                    help="also show size in bytes, modification time (ISO 8601, UTC) and ETag")  # fmt: skip

    get = add("get", "print a value",
              "Print the value of KEY: JSON pretty-printed, text as is, pickles (with "
              "--unsafe-pickle) as Python literals.")  # fmt: skip
    get.add_argument("url", metavar="URL", help=_URL_HELP)
    get.add_argument("key", metavar="KEY", help="the key, as a/b/c")
    get.add_argument("--unsafe-pickle", action="store_true",
                     help="allow unpickling; unpickling runs code, so only for stores you trust")  # fmt: skip
    get.add_argument("--raw", action="store_true", help="write the stored bytes as they are")

    put = add("put", "store a value",
              "Store VALUE under KEY. In a json store VALUE is parsed as JSON; in a text store "
              "it is stored as is; in a pkl store it is stored as a str unless --json is given.")  # fmt: skip
    put.add_argument("url", metavar="URL", help=_URL_HELP)
    put.add_argument("key", metavar="KEY", help="the key, as a/b/c")
    put.add_argument("value", metavar="VALUE", help="the value, or - to read it from stdin")
    put.add_argument("--json", action="store_true",
                     help="parse VALUE as JSON in a pkl store (numbers, lists, objects ...)")  # fmt: skip

    rm = add("rm", "delete a key", "Delete KEY from the store.")
    rm.add_argument("url", metavar="URL", help=_URL_HELP)
    rm.add_argument("key", metavar="KEY", help="the key, as a/b/c")
    rm.add_argument("-f", "--missing-ok", action="store_true", help="no error if KEY is absent")

    stats = add("stats", "summarise a store's location",
                "Summarise the whole location the URL names, every format found there (a "
                "file's extension, an S3 object name's suffix): number of keys and total bytes, "
                "the same per format, and the oldest and newest keys with their modification "
                "times. A key stored in two formats counts twice.")  # fmt: skip
    stats.add_argument("url", metavar="URL", help=_URL_HELP)
    stats.add_argument("--json", action="store_true", help="print the summary as JSON")

    copy = add("copy", "copy keys between stores",
               "Copy every key (or those under --prefix) from SRC_URL to DST_URL. Values are "
               "copied as stored bytes when both stores use the same format (DST_URL takes "
               "SRC_URL's format unless it names one), otherwise decoded and re-encoded.")  # fmt: skip
    copy.add_argument("src", metavar="SRC_URL", help="the store to read")
    copy.add_argument("dst", metavar="DST_URL", help="the store to write")
    copy.add_argument("--prefix", metavar="P", help="only keys under this prefix (a/b)")
    copy.add_argument("-j", "--jobs", type=_positive_int, default=16, metavar="N",
                      help="keys copied at once (default: 16)")  # fmt: skip
    copy.add_argument("--skip-unchanged", action="store_true",
                      help="leave keys whose destination holds the same bytes; rerunning an "
                           "interrupted copy then copies only what is missing or different")  # fmt: skip
    copy.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                      help="show a progress bar (default: only when stderr is a terminal)")  # fmt: skip

    add("demo", "a short tour on a temporary local store",
        "Run a short tour of the library (sync and async use, conditional operations, "
        "fan-out) on a temporary local store, then remove it.")  # fmt: skip
    return parser


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = build_parser().parse_args(argv)
    try:
        if args.command == "demo":
            return _demo.run(sys.stdout)
        return _COMMANDS[args.command](args)
    except CommandError as exc:
        return _fail(str(exc), exc.code)
    except StoreURLError as exc:
        return _fail(str(exc), 2)
    except KeyError as exc:
        return _fail(f"key not found: {_show_key(exc.args[0]) if exc.args else '?'}", 1)
    except (BackendError, MutationPolicyError, ConcurrencyConflictError, OSError) as exc:
        if isinstance(exc, BrokenPipeError):
            return _broken_pipe()
        return _fail(str(exc), 1)
    except (ValueError, TypeError) as exc:
        # e.g. a key component too long for the backend, or a value the store refuses
        return _fail(str(exc), 1)
    except ImportError as exc:
        return _fail(f"{exc} (S3 stores need the s3 extra: pip install 'persidict-async[s3]')", 1)
    except KeyboardInterrupt:
        return _fail("interrupted", 130)


def _fail(message: str, code: int) -> int:
    print(f"persidict: error: {message}", file=sys.stderr)
    return code


def _broken_pipe() -> int:
    # The reader went away (e.g. `| head`): stop quietly, and keep Python's own
    # flush at exit from failing on the closed pipe again.
    with contextlib.suppress(OSError):
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1


# ---------------------------------------------------------------------- helpers


def _show_key(key: Any) -> str:
    if isinstance(key, tuple):
        return "/".join(key)
    return str(key)


def _parse_key(text: str) -> NonEmptySafeStrTuple:
    try:
        return to_key(text.split("/"))
    except (ValueError, TypeError) as exc:
        raise CommandError(f"bad key {text!r}: {exc}", 2) from None


def _parse_prefix(text: str | None) -> SafeStrTuple:
    if not text:
        return SafeStrTuple()
    try:
        return to_prefix([part for part in text.split("/") if part])
    except (ValueError, TypeError) as exc:
        raise CommandError(f"bad prefix {text!r}: {exc}", 2) from None


def _spec(url: str, must_exist: bool, defaults: dict[str, Any] | None = None) -> StoreSpec:
    base = dict(_CLI_DEFAULTS)
    if os.environ.get(SIGNING_KEY_ENV):
        # A secret belongs in the environment, not in a URL that shells and logs keep.
        base["signing_key"] = os.environ[SIGNING_KEY_ENV]
    spec = parse_store_url(url, defaults={**base, **(defaults or {})})
    if must_exist and spec.local_dir is not None and not os.path.isdir(spec.local_dir):
        # Opening a FileDirDict creates its folder: a typo must not leave one behind.
        raise CommandError(f"no store at {spec.local_dir!r} (the folder does not exist)")
    return spec


def _run(
    specs: list[StoreSpec], body: Callable[..., Coroutine[Any, Any, int]]
) -> int:
    """Open the stores, run ``body(*stores)`` on the right driver, close them."""
    stores = [spec.create() for spec in specs]

    async def session() -> int:
        try:
            return await body(*stores)
        finally:
            for store in stores:
                await store.aclose()

    return _driver.run(session(), all(store.runs_inline for store in stores))


def _iso(mtime: float) -> str:
    return datetime.fromtimestamp(mtime, UTC).isoformat(timespec="milliseconds")


@contextlib.contextmanager
def _progress_bar(show: bool | None, unit: str, leave: bool) -> Iterator[Callable[[int, int | None], None]]:
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr when shown."""
    if show is None:
        show = sys.stderr.isatty()
    if not show:
        yield lambda done, total: None
        return
    from tqdm import tqdm

    bar = tqdm(total=None, unit=unit, file=sys.stderr, dynamic_ncols=True, leave=leave)

    def update(done: int, total: int | None) -> None:
        if total is not None and bar.total != total:
            bar.total = total
            bar.refresh()
        if done > bar.n:
            bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def _write_text(out: TextIO, text: str) -> None:
    out.write(text)
    if out.isatty() and not text.endswith("\n"):
        out.write("\n")  # a terminal prompt should not follow on the same line
    out.flush()


# ---------------------------------------------------------------------- commands


def _ls(args: argparse.Namespace) -> int:
    prefix = _parse_prefix(args.prefix)

    async def body(store: core.PersiDict[Any]) -> int:
        sub = store.get_subdict(prefix) if prefix else store
        rows = [(prefix + key, record) async for key, record in sub._live_scan(args.long)]
        rows.sort(key=lambda row: row[0])
        out = sys.stdout
        for key, record in rows:
            name = "/".join(key)
            if args.long and record is not None:
                size = "-" if record.size is None else str(record.size)
                out.write(f"{size:>10}  {_iso(record.mtime)}  {record.etag}  {name}\n")
            else:
                out.write(name + "\n")
        out.flush()
        return 0

    return _run([_spec(args.url, must_exist=True)], body)


def _get(args: argparse.Namespace) -> int:
    key = _parse_key(args.key)

    async def body(store: core.PersiDict[Any]) -> int:
        data = await store._live_data(key)
        if data is None:
            raise KeyError(key)
        if args.raw:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
            return 0
        if store.serialization_format == "pkl" and not args.unsafe_pickle:
            raise CommandError(
                f"refusing to unpickle the value of {args.key!r}: unpickling runs code stored "
                "in the value. Pass --unsafe-pickle if you trust this store (or --raw for the bytes)."
            )
        value = store._decode(key, data)
        if isinstance(value, str):
            _write_text(sys.stdout, value)
        elif store.serialization_format == "json":
            _write_text(sys.stdout, json.dumps(value, indent=2, ensure_ascii=False) + "\n")
        else:
            _write_text(sys.stdout, pprint.pformat(value) + "\n")
        return 0

    return _run([_spec(args.url, must_exist=True)], body)


def _put(args: argparse.Namespace) -> int:
    key = _parse_key(args.key)
    text = sys.stdin.read() if args.value == "-" else args.value
    spec = _spec(args.url, must_exist=False)
    fmt = spec.options.get("serialization_format", "pkl")
    parse_json = fmt == "json" or args.json
    if args.json and spec.options.get("base_class_for_values") is str:
        raise CommandError(f"--json does not apply to a text store (format {fmt!r})", 2)
    value: Any = text
    if parse_json:
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise CommandError(f"the value is not valid JSON: {exc}") from None

    async def body(store: core.PersiDict[Any]) -> int:
        try:
            await store.set_item(key, value)
        except TypeError as exc:
            if isinstance(exc, MutationPolicyError):
                raise
            raise CommandError(str(exc)) from None
        return 0

    return _run([spec], body)


def _rm(args: argparse.Namespace) -> int:
    key = _parse_key(args.key)

    async def body(store: core.PersiDict[Any]) -> int:
        if not await store.discard(key) and not args.missing_ok:
            raise KeyError(key)
        return 0

    return _run([_spec(args.url, must_exist=not args.missing_ok)], body)


def _stats(args: argparse.Namespace) -> int:
    spec = _spec(args.url, must_exist=True)

    async def body(store: core.PersiDict[Any]) -> int:
        # The whole location, every format: a folder or prefix often holds values of
        # several formats side by side, whatever format the URL names.
        count = total = 0
        sizes_known = True
        formats: dict[str, dict[str, Any]] = {}
        oldest: tuple[float, str, str] | None = None
        newest: tuple[float, str, str] | None = None
        with _progress_bar(None, "key", leave=False) as progress:
            async for fmt, key, record in store._scan_location():
                count += 1
                entry = formats.setdefault(fmt, {"keys": 0, "bytes": 0})
                entry["keys"] += 1
                if record is None:
                    continue
                if record.size is None:
                    sizes_known = False
                    entry["bytes"] = None
                else:
                    total += record.size
                    if entry["bytes"] is not None:
                        entry["bytes"] += record.size
                item = (record.mtime, "/".join(key), fmt)
                oldest = item if oldest is None or item < oldest else oldest
                newest = item if newest is None or item > newest else newest
                if count % 256 == 0:
                    progress(count, None)

        def when(item: tuple[float, str, str] | None) -> dict[str, str] | None:
            return None if item is None else {"key": item[1], "format": item[2], "time": _iso(item[0])}

        summary: dict[str, Any] = {
            "url": args.url,
            "store": type(store).__name__,
            "keys": count,
            "bytes": total if sizes_known else None,
            "formats": dict(sorted(formats.items())),
            "oldest": when(oldest),
            "newest": when(newest),
        }
        if args.json:
            print(json.dumps(summary, indent=2))
            return 0
        for name in ("url", "store", "keys", "bytes"):
            value = summary[name]
            print(f"{name + ':':9}{'unknown' if value is None else value}")
        for fmt, entry in summary["formats"].items():
            size = "unknown" if entry["bytes"] is None else entry["bytes"]
            print(f"{'format:':9}{fmt}  keys {entry['keys']}  bytes {size}")
        for name in ("oldest", "newest"):
            found = summary[name]
            text = "-" if found is None else f"{found['time']}  {found['key']}  ({found['format']})"
            print(f"{name + ':':9}{text}")
        return 0

    return _run([spec], body)


def _copy(args: argparse.Namespace) -> int:
    prefix = _parse_prefix(args.prefix)
    src_spec = _spec(args.src, must_exist=True)
    dst_spec = _spec(args.dst, must_exist=False)
    if "serialization_format" not in dst_spec.options:
        # The destination keeps the source's format unless its URL names one.
        names = ("serialization_format", "base_class_for_values")
        inherited = {k: src_spec.options[k] for k in names if k in src_spec.options}
        dst_spec = _spec(args.dst, must_exist=False, defaults=inherited)

    async def body(src: core.PersiDict[Any], dst: core.PersiDict[Any]) -> int:
        with _progress_bar(args.progress, "key", leave=True) as progress:
            try:
                stats = await copy_store(src, dst, prefix=prefix or None, jobs=args.jobs,
                                         skip_unchanged=args.skip_unchanged, progress=progress)  # fmt: skip
            except (TypeError, ValueError) as exc:
                if isinstance(exc, MutationPolicyError):
                    raise
                raise CommandError(f"cannot convert a value: {exc}") from None
        print(f"copied {stats.copied} of {stats.total} keys ({stats.bytes_copied} bytes), "
              f"skipped {stats.skipped} unchanged, {stats.missing} vanished during the copy")  # fmt: skip
        return 0

    return _run([src_spec, dst_spec], body)


_COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "ls": _ls,
    "get": _get,
    "put": _put,
    "rm": _rm,
    "stats": _stats,
    "copy": _copy,
}
