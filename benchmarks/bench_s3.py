"""S3 batches through the sync facade vs persidict's S3Dict one key at a time.

A SeaweedFS server (``weed mini``, or moto with ``--server moto``) runs on
127.0.0.1 behind a small TCP proxy that delays every request by 20 ms, like a
real region. Run: ``python -m benchmarks.bench_s3 [--keys 1000] [--server moto]``.
The table is printed and written to the "S3" section of benchmarks/README.md.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tests.s3_server import aws_env

from ._s3env import LATENCY, proxy_process
from ._s3env import s3_server as _server
from ._timing import timed as _timed

README = Path(__file__).with_name("README.md")


def run(n_keys: int, kind: str) -> list[tuple[str, float, float]]:
    """Return rows (operation, persidict seconds, persidict_sync seconds)."""
    import persidict

    import persidict_sync as sync

    rows = []
    with _server(kind) as direct, tempfile.TemporaryDirectory() as cache:
        port = int(direct.rsplit(":", 1)[1])
        with proxy_process(port, LATENCY) as endpoint, aws_env(endpoint):
            bucket = "bench-s3"
            keys = [f"k{i}" for i in range(n_keys)]
            values = {k: {"i": i, "payload": "x" * 100} for i, k in enumerate(keys)}
            ours = sync.BasicS3Dict(bucket_name=bucket, root_prefix=f"ours-{uuid.uuid4().hex}",
                                    endpoint_url=endpoint)  # fmt: skip
            theirs: Any = persidict.S3Dict(bucket_name=bucket, root_prefix=f"theirs-{uuid.uuid4().hex}",
                                      base_dir=os.path.join(cache, "theirs"))  # fmt: skip
            ours["warm"] = 0
            theirs["warm"] = 0

            def their_set() -> None:
                for k, v in values.items():
                    theirs[k] = v

            def their_get() -> None:
                for k in keys:
                    theirs[k]

            t_set = _timed(their_set)
            s_set = _timed(lambda: ours.set_many(values))
            rows.append((f"set {n_keys} keys", t_set, s_set))
            t_get = _timed(their_get)
            s_get = _timed(lambda: ours.get_many(keys))
            assert ours.get_many(keys[:3]) == [values[k] for k in keys[:3]]
            rows.append((f"get {n_keys} keys", t_get, s_get))
            t_one = _timed(lambda: [theirs[k] for k in keys[:50]]) / 50
            s_one = _timed(lambda: [ours[k] for k in keys[:50]]) / 50
            rows.append(("get 1 key (mean of 50)", t_one, s_one))
            t_one = _timed(lambda: [theirs.__setitem__(k, 1) for k in keys[:50]]) / 50
            s_one = _timed(lambda: [ours.__setitem__(k, 1) for k in keys[:50]]) / 50
            rows.append(("set 1 key (mean of 50)", t_one, s_one))
            ours.close()
    return rows


def table(rows: list[tuple[str, float, float]], kind: str) -> str:
    """The markdown table of the results."""
    lines = [
        f"Server: {kind} on 127.0.0.1 behind a proxy adding {LATENCY * 1000:.0f} ms per request. "
        "persidict 0.309.0 S3Dict one key at a time vs persidict_sync.BasicS3Dict "
        "(get_many/set_many for batches).",
        "",
        "| operation | persidict S3Dict (s) | persidict_sync (s) | speed-up |",
        "|---|---:|---:|---:|",
    ]
    for name, theirs, ours in rows:
        lines.append(f"| {name} | {theirs:.3f} | {ours:.3f} | {theirs / ours:.1f}x |")
    return "\n".join(lines) + "\n"


def write_readme(text: str) -> None:
    """Replace (or add) the "S3" section of benchmarks/README.md."""
    old = README.read_text() if README.exists() else "# Benchmarks\n"
    head, sep, rest = old.partition("\n## S3\n")
    tail = ""
    if sep:
        nxt = rest.find("\n## ")
        tail = rest[nxt:] if nxt >= 0 else ""
    README.write_text(head.rstrip("\n") + "\n\n## S3\n\n" + text + tail)


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark, print the table and store it in the README."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--keys", type=int, default=1000)
    parser.add_argument("--server", choices=("seaweedfs", "moto"), default="seaweedfs")
    args = parser.parse_args(argv if argv is not None else [])
    text = table(run(args.keys, args.server), args.server)
    print(text)
    write_readme(text)


if __name__ == "__main__":
    main()
