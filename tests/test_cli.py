"""The command line, through the real console entry point in a subprocess."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from .s3_server import TEST_BUCKET, S3Server, unique_prefix


def persidict_command() -> list[str]:
    script = Path(sys.executable).with_name("persidict")
    return [str(script)] if script.exists() else [sys.executable, "-m", "persidict_sync"]


def test_demo_runs_and_cleans_up(tmp_path: Path) -> None:
    out = subprocess.run([*persidict_command(), "demo"], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "first claim won: True | second claim won: False" in out.stdout
    assert "counter = 3" in out.stdout and "sum of 100 values read concurrently: 4950" in out.stdout
    base_dir = out.stdout.split("files under ")[1].split(" ==")[0]
    assert not Path(base_dir).exists()


def test_module_entry_point_help() -> None:
    out = subprocess.run([sys.executable, "-m", "persidict_sync", "--help"], capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert out.returncode == 0 and "demo" in out.stdout


@pytest.mark.skipif(shutil.which("persidict") is None and not Path(sys.executable).with_name(
    "persidict").exists(), reason="console script not installed")  # fmt: skip
def test_unknown_command_fails_with_usage() -> None:
    out = subprocess.run([*persidict_command(), "frobnicate"], capture_output=True, text=True,
                         timeout=60)  # fmt: skip
    assert out.returncode == 2 and "usage:" in out.stderr


# ---------------------------------------------------------------------- the store subcommands


def cli(*args: str, cwd: Path, stdin: str | None = None,
        env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:  # fmt: skip
    """Run ``persidict ARGS`` with stdin/stdout/stderr as pipes (never a terminal)."""
    return subprocess.run([*persidict_command(), *args], input=stdin if stdin is not None else "",
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env=env if env is not None else dict(os.environ))  # fmt: skip


def ok(out: subprocess.CompletedProcess[str]) -> str:
    assert out.returncode == 0, (out.returncode, out.stdout, out.stderr)
    assert out.stderr == ""  # piped: no progress bar, no chatter
    return out.stdout


def fails(out: subprocess.CompletedProcess[str], code: int, message: str) -> None:
    assert out.returncode == code, (out.returncode, out.stdout, out.stderr)
    assert message in out.stderr and out.stdout == ""
    assert "Traceback" not in out.stderr


SUBCOMMANDS = ["ls", "get", "put", "rm", "stats", "copy", "demo"]


@pytest.mark.parametrize("command", SUBCOMMANDS)
def test_every_subcommand_has_help(tmp_path: Path, command: str) -> None:
    text = ok(cli(command, "--help", cwd=tmp_path))
    assert f"usage: persidict {command}" in text and "exit codes" in text


def test_top_level_help_and_version(tmp_path: Path) -> None:
    text = ok(cli("--help", cwd=tmp_path))
    assert all(command in text for command in SUBCOMMANDS)
    from persidict_async import __version__

    assert ok(cli("--version", cwd=tmp_path)).strip() == f"persidict {__version__}"


@pytest.mark.parametrize("args", [["ls"], ["get", "store"], ["put", "store", "k"], ["copy", "a"],
                                  ["copy", "a", "b", "--jobs", "0"], ["ls", "store", "--bogus"]])  # fmt: skip
def test_usage_errors_exit_2(tmp_path: Path, args: list[str]) -> None:
    out = cli(*args, cwd=tmp_path)
    assert out.returncode == 2 and "usage:" in out.stderr and "Traceback" not in out.stderr


def test_json_store_put_get_ls_rm(tmp_path: Path) -> None:
    url = "store?format=json"
    assert ok(cli("put", url, "users/ada", '{"langs": ["py"], "n": 1}', cwd=tmp_path)) == ""
    ok(cli("put", url, "users/bob", "[1, 2]", cwd=tmp_path))
    ok(cli("put", url, "top", '"just text"', cwd=tmp_path))
    assert ok(cli("get", url, "users/ada", cwd=tmp_path)) == '{\n  "langs": [\n    "py"\n  ],\n  "n": 1\n}\n'
    assert ok(cli("get", url, "top", cwd=tmp_path)) == "just text"
    assert ok(cli("ls", url, cwd=tmp_path)).splitlines() == ["top", "users/ada", "users/bob"]
    assert ok(cli("ls", url, "users", cwd=tmp_path)).splitlines() == ["users/ada", "users/bob"]
    long_rows = [row.split() for row in ok(cli("ls", "--long", url, cwd=tmp_path)).splitlines()]
    assert [row[-1] for row in long_rows] == ["top", "users/ada", "users/bob"]
    assert long_rows[0][0] == str(len(b'"just text"')) and long_rows[0][1].endswith("+00:00")
    ok(cli("rm", url, "users/bob", cwd=tmp_path))
    assert ok(cli("ls", url, cwd=tmp_path)).splitlines() == ["top", "users/ada"]
    assert ok(cli("ls", url, cwd=tmp_path)) == ok(cli("ls", f"file://{tmp_path}/store?format=json",
                                                      cwd=tmp_path))  # fmt: skip
    fails(cli("put", url, "bad", "{not json", cwd=tmp_path), 1, "not valid JSON")


def test_missing_keys_and_stores(tmp_path: Path) -> None:
    ok(cli("put", "store", "a", "x", cwd=tmp_path))
    fails(cli("get", "store", "no/such", cwd=tmp_path), 1, "key not found: no/such")
    fails(cli("rm", "store", "no/such", cwd=tmp_path), 1, "key not found: no/such")
    assert ok(cli("rm", "-f", "store", "no/such", cwd=tmp_path)) == ""
    fails(cli("ls", "typo", cwd=tmp_path), 1, "no store at")
    fails(cli("get", "typo", "a", cwd=tmp_path), 1, "no store at")
    fails(cli("stats", "typo", cwd=tmp_path), 1, "no store at")
    assert not (tmp_path / "typo").exists()  # reading never creates a folder
    fails(cli("put", "store", "k" * 300, "v", cwd=tmp_path), 1, "300 characters long")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["ls", "gs://bucket/x"], "unsupported URL scheme 'gs'"),
        (["ls", "s3:///prefix"], "no bucket"),
        (["ls", "store?colour=blue"], "unknown option 'colour'"),
        (["ls", "store?digest_len=x"], "must be an integer"),
        (["get", "store", "a/../b"], "bad key"),
        (["put", "store", "a b", "v"], "bad key"),
        (["copy", "store", "ftp://x/y"], "unsupported URL scheme"),
    ],
)
def test_bad_urls_and_keys_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "store").mkdir()
    fails(cli(*args, cwd=tmp_path), 2, message)


def test_pickles_are_refused_without_unsafe_pickle(tmp_path: Path) -> None:
    import persidict_sync as sync

    d: Any = sync.FileDirDict(base_dir=tmp_path / "store")
    d["obj"] = {"t": (1, 2)}
    fails(cli("get", "store", "obj", cwd=tmp_path), 1, "refusing to unpickle")
    assert ok(cli("get", "--unsafe-pickle", "store", "obj", cwd=tmp_path)) == "{'t': (1, 2)}\n"
    raw = subprocess.run([*persidict_command(), "get", "--raw", "store", "obj"], capture_output=True,
                         timeout=60, cwd=tmp_path)  # fmt: skip
    assert raw.returncode == 0 and pickle.loads(raw.stdout) == {"t": (1, 2)}
    # put into a pkl store keeps a str, or parses JSON when asked
    ok(cli("put", "store", "s", "42", cwd=tmp_path))
    ok(cli("put", "--json", "store", "n", "42", cwd=tmp_path))
    assert d["s"] == "42" and d["n"] == 42


def test_signing_key_from_the_environment(tmp_path: Path) -> None:
    import persidict_sync as sync

    signed = {**os.environ, "PERSIDICT_SIGNING_KEY": "team secret"}
    ok(cli("put", "store?format=json", "cfg", '{"a": 1}', cwd=tmp_path, env=signed))
    assert json.loads(ok(cli("get", "store?format=json", "cfg", cwd=tmp_path, env=signed))) == {"a": 1}
    planted: Any = sync.FileDirDict(base_dir=tmp_path / "store", serialization_format="json")
    planted["evil"] = {"a": 2}  # written without the key
    fails(cli("get", "store?format=json", "evil", cwd=tmp_path, env=signed), 1, "not signed")
    assert "team secret" not in cli("get", "store?format=json", "evil", cwd=tmp_path, env=signed).stderr
    # Without the key a signed value still reads (nothing to check it with).
    env = {k: v for k, v in os.environ.items() if k != "PERSIDICT_SIGNING_KEY"}
    assert json.loads(ok(cli("get", "store?format=json", "cfg", cwd=tmp_path, env=env))) == {"a": 1}


def test_expired_values_are_missing(tmp_path: Path) -> None:
    import persidict_sync as sync

    d: Any = sync.FileDirDict(base_dir=tmp_path / "store", serialization_format="json", ttl=3600)
    d["live"] = 1
    d.set("gone", 2, ttl=0.001)
    time.sleep(0.01)
    url = "store?format=json&ttl=3600"
    fails(cli("get", url, "gone", cwd=tmp_path), 1, "key not found: gone")
    assert ok(cli("ls", url, cwd=tmp_path)) == "live\n"
    assert ok(cli("get", url, "live", cwd=tmp_path)) == "1\n"


def test_text_values_pipe_through_exactly(tmp_path: Path) -> None:
    text = "line one\nüñï ✓\n\nno newline at the end"
    ok(cli("put", "notes?format=txt", "n/1", "-", stdin=text, cwd=tmp_path))
    assert ok(cli("get", "notes?format=txt", "n/1", cwd=tmp_path)) == text
    fails(cli("put", "--json", "notes?format=txt", "n/2", "[]", cwd=tmp_path), 2, "text store")


def put_several_formats(url: str, cwd: Path, env: dict[str, str] | None = None, gap: float = 0.0) -> None:
    """Values of three formats at one location, "old" first and "new/er" (pkl) last.

    ``gap`` seconds pass between writes, for stores that keep coarse times (S3: seconds).
    """
    writes = [("json", "old", "1"), ("json", "new/er", "22"), ("txt", "notes/a", "some text"),
              ("pkl", "new/er", "hello")]  # fmt: skip
    for i, (fmt, key, value) in enumerate(writes):
        if i:
            time.sleep(gap)
        ok(cli("put", f"{url}?format={fmt}", key, value, cwd=cwd, env=env))


def check_several_formats(summary: dict[str, Any], pkl_bytes: int) -> None:
    assert summary["formats"] == {"json": {"keys": 2, "bytes": 3}, "pkl": {"keys": 1, "bytes": pkl_bytes},
                                  "txt": {"keys": 1, "bytes": 9}}  # fmt: skip
    assert summary["keys"] == 4 and summary["bytes"] == 3 + 9 + pkl_bytes
    assert summary["oldest"]["key"] == "old" and summary["oldest"]["format"] == "json"
    assert summary["newest"]["key"] == "new/er" and summary["newest"]["format"] == "pkl"


def test_stats_reports_every_format_of_the_folder(tmp_path: Path) -> None:
    put_several_formats("s", tmp_path)
    (tmp_path / "s" / "README").write_text("not a value")  # foreign files are not counted
    (tmp_path / "s" / "notes.bak").write_text("nor is this")
    pkl_bytes = sum(p.stat().st_size for p in (tmp_path / "s").rglob("*.pkl"))
    text = ok(cli("stats", "s?format=json", cwd=tmp_path))
    lines = text.splitlines()
    assert "store:   FileDirDict" in lines and "keys:    4" in lines and f"bytes:   {12 + pkl_bytes}" in lines
    assert [line for line in lines if line.startswith("format:")] == [
        "format:  json  keys 2  bytes 3", f"format:  pkl  keys 1  bytes {pkl_bytes}",
        "format:  txt  keys 1  bytes 9"]  # fmt: skip
    assert lines[-2].endswith("  old  (json)") and lines[-1].endswith("  new/er  (pkl)")
    # Whichever format the URL names, the report covers the whole folder.
    for url in ("s?format=json", "s?format=txt", "s", f"file://{tmp_path}/s"):
        check_several_formats(json.loads(ok(cli("stats", "--json", url, cwd=tmp_path))), pkl_bytes)
    empty = json.loads(ok(cli("stats", "--json", "memory://", cwd=tmp_path)))
    assert empty["keys"] == 0 and empty["formats"] == {} and empty["oldest"] is None
    (tmp_path / "none").mkdir()
    assert ok(cli("stats", "none", cwd=tmp_path)).splitlines()[-2:] == ["oldest:  -", "newest:  -"]


def s3_env(s3_server: S3Server) -> dict[str, str]:
    """The environment through which a subprocess reaches the local server."""
    return {**os.environ, "AWS_ENDPOINT_URL": s3_server.endpoint_url, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1"}  # fmt: skip


@pytest.mark.s3
def test_stats_reports_every_format_of_the_s3_prefix(tmp_path: Path, s3_server: S3Server) -> None:
    env = s3_env(s3_server)
    prefix = f"s3://{TEST_BUCKET}/{unique_prefix()}stats"
    put_several_formats(prefix, tmp_path, env, gap=1.0)
    ok(cli("put", f"{prefix}-other?format=json", "elsewhere", "1", cwd=tmp_path, env=env))  # another prefix
    pkl_bytes = int(ok(cli("ls", "--long", f"{prefix}?format=pkl", cwd=tmp_path, env=env)).split()[0])
    for url in (f"{prefix}?format=json", prefix):
        check_several_formats(json.loads(ok(cli("stats", "--json", url, cwd=tmp_path, env=env))), pkl_bytes)
    text = ok(cli("stats", f"{prefix}?format=txt", cwd=tmp_path, env=env))
    assert "store:   BasicS3Dict" in text.splitlines() and "format:  txt  keys 1  bytes 9" in text


def test_copy_local_with_prefix_progress_and_resume(tmp_path: Path) -> None:
    import persidict_sync as sync

    src: Any = sync.FileDirDict(base_dir=tmp_path / "src")
    src.update({("a", str(i)): i for i in range(5)} | {("b",): "other"})
    out = ok(cli("copy", "src", "dst", "--prefix", "a", "--jobs", "3", cwd=tmp_path))
    assert out.startswith("copied 5 of 5 keys")
    dst: Any = sync.FileDirDict(base_dir=tmp_path / "dst")
    assert dict(dst.items()) == {("a", str(i)): i for i in range(5)}
    assert ok(cli("copy", "src", "dst", "--skip-unchanged", cwd=tmp_path)).startswith(
        "copied 1 of 6 keys")  # fmt: skip
    forced = cli("copy", "src", "dst2", "--progress", cwd=tmp_path)
    assert forced.returncode == 0 and "6/6" in forced.stderr  # the bar, on request
    # the destination takes the source's format unless its URL names one
    ok(cli("put", "j?format=json", "k", '{"x": [1]}', cwd=tmp_path))
    ok(cli("copy", "j?format=json", "j2", cwd=tmp_path))
    assert ok(cli("get", "j2?format=json", "k", cwd=tmp_path)) == '{\n  "x": [\n    1\n  ]\n}\n'
    ok(cli("copy", "j?format=json", "p?format=pkl", cwd=tmp_path))
    assert sync.FileDirDict(base_dir=tmp_path / "p")["k"] == {"x": [1]}


@pytest.mark.s3
def test_copy_local_to_s3_to_local(tmp_path: Path, s3_server: S3Server) -> None:
    import persidict_sync as sync

    values = {("docs", str(i)): {"i": i, "text": "x" * i} for i in range(20)} | {("top",): [1, 2]}
    src: Any = sync.FileDirDict(base_dir=tmp_path / "src", serialization_format="json")
    src.update(values)
    env = s3_env(s3_server)  # the subprocess reaches the local server only through the environment
    remote = f"s3://{TEST_BUCKET}/{unique_prefix()}cli?format=json"
    out = ok(cli("copy", "src?format=json", remote, "--jobs", "8", cwd=tmp_path, env=env))
    assert out.startswith("copied 21 of 21 keys")
    assert ok(cli("ls", remote, cwd=tmp_path, env=env)).splitlines() == sorted(
        "/".join(k) for k in values)  # fmt: skip
    assert json.loads(ok(cli("get", remote, "docs/3", cwd=tmp_path, env=env))) == values["docs", "3"]
    assert json.loads(ok(cli("stats", "--json", remote, cwd=tmp_path, env=env)))["keys"] == 21
    fails(cli("get", remote, "docs/99", cwd=tmp_path, env=env), 1, "key not found: docs/99")
    ok(cli("copy", remote, "back", "--jobs", "8", cwd=tmp_path, env=env))
    back = sync.FileDirDict(base_dir=tmp_path / "back", serialization_format="json")
    assert dict(back.items()) == values
    assert _tree(tmp_path / "back") == _tree(tmp_path / "src")
    # an interrupted copy: rerunning with --skip-unchanged copies only what is missing or changed
    del back["docs", "4"]
    back["docs", "5"] = {"changed": True}
    out = ok(cli("copy", remote, "back", "--skip-unchanged", cwd=tmp_path, env=env))
    assert out.startswith("copied 2 of 21 keys") and "skipped 19 unchanged" in out
    assert dict(back.items()) == values
    ok(cli("rm", remote, "top", cwd=tmp_path, env=env))
    fails(cli("rm", remote, "top", cwd=tmp_path, env=env), 1, "key not found: top")


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and ".#" not in str(p)}  # fmt: skip


@pytest.mark.skipif(sys.platform == "win32", reason="needs a pseudo-terminal")
def test_progress_bar_only_on_a_terminal(tmp_path: Path) -> None:
    import fcntl
    import pty
    import struct
    import termios

    import persidict_sync as sync

    sync.FileDirDict(base_dir=tmp_path / "src").update({str(i): i for i in range(3)})
    main, tty = pty.openpty()
    fcntl.ioctl(tty, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    try:
        out = subprocess.run([*persidict_command(), "copy", "src", "dst"], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=tty, timeout=60, cwd=tmp_path)  # fmt: skip
    finally:
        os.close(tty)
    drawn = os.read(main, 65536).decode(errors="replace")
    os.close(main)
    assert out.returncode == 0 and out.stdout.startswith(b"copied 3 of 3 keys")
    assert "3/3" in drawn  # stdout stays clean data, the bar goes to the terminal
