"""persidict-async side by side with the libraries users would otherwise pick.

Run: ``python -m benchmarks peers`` (or ``python -m benchmarks.bench_peers
[--quick] [--no-s3] [--out DIR]``; ``PERSIDICT_BENCH_QUICK=1`` selects the
quick mode). Peers: persidict 0.309 FileDirDict, diskcache Index and Cache,
sqlitedict, shelve, nfsdict, and plain pickle files (one per key: the physical
limit). All run in one process on the same keys and values: 10,000 values of
~100 B and 1,000 values of 100 KB (fewer keys, to keep the run short).

Method: the first round is a warm-up and is discarded; every contender is
timed in each following round, in a fresh random order per operation, so load
from other work on the machine hits all alike; medians and min-max over rounds
(single durable writes: over every write). A missing peer is an error
(non-zero exit naming the package), never a silent skip.

Outputs: benchmarks/results/latest.json and latest.md, docs/benchmarks.png,
and the "Peers" section of benchmarks/README.md (full runs only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from . import _plain, _report
from ._peers import ADAPTERS, LIMIT, OURS, Adapter, PeerMissing, check_peers, key_name, need, no_fsync
from ._timing import timed

REPO = Path(__file__).resolve().parents[1]
SMALL = {"id": 12345, "name": "example item", "tags": ["a", "b", "c"], "score": 0.75, "ok": True}
LARGE = os.urandom(100_000)
FANOUT_LEVELS = (1, 16, 64)

Samples = dict[tuple[str, str, str], list[float]]  # (section, operation, contender) -> seconds


@dataclass(frozen=True)
class Config:
    """How much to measure."""

    n_small: int = 10_000
    n_large: int = 1_000
    rounds: int = 3  # measured rounds
    warmup: bool = True  # one more round first, measured and discarded
    durable_writes: int = 40  # single durable writes per round and contender (small values)
    opens: int = 5
    s3_keys: int = 100
    s3_single: int = 20
    s3_rounds: int = 2
    s3_server: str = "seaweedfs"
    s3: bool = True


QUICK = Config(n_small=200, n_large=20, rounds=1, warmup=False, durable_writes=3, opens=2,
               s3_keys=10, s3_single=3, s3_rounds=1, s3_server="moto")  # fmt: skip


class Recorder:
    """Collects samples; the warm-up round is measured but not kept."""

    def __init__(self) -> None:
        self.samples: Samples = {}
        self.keep = True

    def add(self, section: str, op: str, who: str, seconds: float) -> None:
        if self.keep:
            self.samples.setdefault((section, op, who), []).append(seconds)


def _shuffled(rng: random.Random, adapters: list[Adapter]) -> list[Adapter]:
    order = adapters[:]
    rng.shuffle(order)
    return order


def _read_in_new_process(name: str, folder: Path, n: int, seed: int) -> float:
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks._peers", name, str(folder), str(n), str(seed)],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    if out.returncode != 0:
        raise RuntimeError(f"reader process for {name} failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout)["seconds"])


def bench_size(root: Path, label: str, value: object, n: int, cfg: Config, rec: Recorder,
               rng: random.Random) -> None:  # fmt: skip
    """Every single-store operation, for every contender, on ``n`` keys of ``value``."""
    adapters = list(ADAPTERS.values())
    keys = [key_name(i) for i in range(n)]
    items = [(k, value) for k in keys]
    main = {a.name: root / label / a.name.replace(" ", "_") / "main" for a in adapters}
    durable = {a.name: root / label / a.name.replace(" ", "_") / "durable" for a in adapters}
    n_durable = cfg.durable_writes if len(repr(value)) < 1000 else max(2, cfg.durable_writes // 4)
    first = 0 if cfg.warmup else 1
    for rnd in range(first, cfg.rounds + 1):
        rec.keep = rnd > 0
        print(f"  {label}: round {rnd}{' (warm-up)' if rnd == 0 else ''}", flush=True)
        order = keys[:]
        rng.shuffle(order)
        # Sequential sets, not durable. Stores that always fsync are filled once without it.
        for a in _shuffled(rng, adapters):
            h = a.open(main[a.name])
            if a.has_fast_set:
                rec.add(label, "set, not durable", a.name, timed(partial(a.set_batch, h, items)) / n)
            elif rnd == first:
                with no_fsync():
                    a.set_batch(h, items)
            a.close(h)
        # Single durable writes, alternating between contenders.
        hs = {a.name: a.open(durable[a.name], durable=True) for a in adapters if a.has_durable_set}
        for i in range(n_durable):
            for a in _shuffled(rng, [ADAPTERS[name] for name in hs]):
                k = f"d{rnd}_{i}"
                rec.add(label, "set, durable", a.name,
                        timed(partial(a.set_one, hs[a.name], k, value)))  # fmt: skip
        for name, h in hs.items():
            ADAPTERS[name].close(h)
        # Opening an existing store.
        for _ in range(cfg.opens):
            for a in _shuffled(rng, adapters):
                start = time.perf_counter()
                h = a.open(main[a.name], readonly=True)
                rec.add(label, "open existing store", a.name, time.perf_counter() - start)
                a.close(h)
        # Reads through one open handle per contender.
        hs = {a.name: a.open(main[a.name], readonly=True) for a in adapters}
        ops: list[tuple[str, Callable[[Adapter, Any, list[str]], object], int]] = [
            ("get, same process", lambda a, h, ks: [a.get(h, k) for k in ks], n),
            ("in", lambda a, h, ks: [a.contains(h, k) for k in ks], n),
            ("list keys", lambda a, h, ks: a.keys(h), 1),
            ("len", lambda a, h, ks: a.length(h), 1),
            ("items()", lambda a, h, ks: a.items(h), 1),
        ]
        for op, fn, per in ops:
            for a in _shuffled(rng, adapters):
                call = partial(fn, a, hs[a.name], order)
                rec.add(label, op, a.name, timed(call) / per)
        for a in adapters:
            h = hs[a.name]
            got = a.get(h, keys[-1])
            assert got == value, f"{a.name} returned a wrong value"
            listed = sorted(k if isinstance(k, str) else k[0] for k in a.keys(h))
            assert a.length(h) == n and listed == keys, f"{a.name} lost keys"
            a.close(h)
        # A fresh process opens the store and reads every key.
        for a in _shuffled(rng, adapters):
            seconds = _read_in_new_process(a.name, main[a.name], n, rng.randrange(1 << 30))
            rec.add(label, "get, new process (open + reads)", a.name, seconds / n)
        # Async fan-out of persidict-async, and the plain files read/written by as many threads.
        asyncio.run(_fanout(main, durable, label, keys, items, n_durable, rec))


def _plain_put(folder: str, durable: bool, kv: tuple[str, object]) -> None:
    _plain.write_value(folder, kv[0], kv[1], durable)


async def _fanout(main: dict[str, Path], durable: dict[str, Path], label: str, keys: list[str],
                  items: list[tuple[str, object]], n_durable: int, rec: Recorder) -> None:  # fmt: skip
    """get_many / set_many of the async FileDirDict at each concurrency, next to plain threads."""
    import persidict_async as aio

    ours: aio.FileDirDict[Any] = aio.FileDirDict(base_dir=main[OURS], durable=False)
    ours_d: aio.FileDirDict[Any] = aio.FileDirDict(base_dir=durable[OURS], durable=True)
    plain, plain_d = str(main[LIMIT]), str(durable[LIMIT])
    section = f"fan-out, {label}"
    loop = asyncio.get_running_loop()
    n = len(keys)
    for c in FANOUT_LEVELS:
        d_items = [(f"f{c}_{i}", v) for i, (_, v) in enumerate(items[:n_durable])]
        with ThreadPoolExecutor(max_workers=c) as pool:

            async def plain_run(fn: Callable[[Any], object], args: list[Any], pool: Any = pool) -> None:
                await asyncio.gather(*(loop.run_in_executor(pool, fn, x) for x in args))

            runs: list[tuple[str, str, Callable[[], Any], int]] = [
                (f"get_many, c={c}", OURS, partial(ours.get_many, keys, max_concurrency=c), n),
                (f"get_many, c={c}", LIMIT, partial(plain_run, partial(_plain.read_value, plain), keys), n),
                (f"set_many, not durable, c={c}", OURS, partial(ours.set_many, items, max_concurrency=c), n),
                (f"set_many, not durable, c={c}", LIMIT,
                 partial(plain_run, partial(_plain_put, plain, False), items), n),
                (f"set_many, durable, c={c}", OURS,
                 partial(ours_d.set_many, d_items, max_concurrency=c), n_durable),
                (f"set_many, durable, c={c}", LIMIT,
                 partial(plain_run, partial(_plain_put, plain_d, True), d_items), n_durable),
            ]  # fmt: skip
            for op, who, make, per in runs:
                start = time.perf_counter()
                await make()
                rec.add(section, op, who, (time.perf_counter() - start) / per)
    assert await ours.get_many(keys[:3]) == [items[0][1]] * 3
    await ours.aclose()
    await ours_d.aclose()


def bench_s3(cfg: Config, rec: Recorder) -> None:
    """persidict's S3Dict (one key at a time) vs BasicS3Dict singles and fan-out, 20 ms away."""
    from tests.s3_server import aws_env

    from ._s3env import proxy_process, s3_server

    persidict = need("persidict")
    import persidict_sync as sync

    section = "S3, 100 B"
    n = cfg.s3_keys
    keys = [f"s{i:05d}" for i in range(n)]
    values = {k: SMALL for k in keys}
    with s3_server(cfg.s3_server) as direct, tempfile.TemporaryDirectory() as cache:
        port = int(direct.rsplit(":", 1)[1])
        with proxy_process(port, _s3_latency()) as endpoint, aws_env(endpoint):
            bucket = "bench-peers"
            ours: Any = sync.BasicS3Dict(bucket_name=bucket, root_prefix=f"o-{uuid.uuid4().hex}",
                                         endpoint_url=endpoint)  # fmt: skip
            theirs: Any = persidict.S3Dict(bucket_name=bucket, root_prefix=f"t-{uuid.uuid4().hex}",
                                           base_dir=os.path.join(cache, "theirs"))  # fmt: skip
            ours["warm"] = SMALL
            theirs["warm"] = SMALL
            them = ADAPTERS["persidict 0.309"].name
            for i in range(cfg.s3_single):
                k = keys[i % n]
                for who, store in random.sample([(OURS, ours), (them, theirs)], 2):
                    rec.add(section, "set 1 key", who, timed(partial(store.__setitem__, k, SMALL)))
                    rec.add(section, "get 1 key", who, timed(partial(store.__getitem__, k)))
            for _ in range(cfg.s3_rounds):
                t_set = timed(lambda: [theirs.__setitem__(k, v) for k, v in values.items()]) / n
                t_get = timed(lambda: [theirs[k] for k in keys]) / n
                for c in FANOUT_LEVELS:
                    rec.add(section, f"set {n} keys, c={c}", them, t_set)
                    rec.add(section, f"get {n} keys, c={c}", them, t_get)
                    rec.add(section, f"set {n} keys, c={c}", OURS,
                            timed(partial(ours.set_many, values, max_concurrency=c)) / n)  # fmt: skip
                    rec.add(section, f"get {n} keys, c={c}", OURS,
                            timed(partial(ours.get_many, keys, max_concurrency=c)) / n)  # fmt: skip
            assert ours.get_many(keys[:2]) == [SMALL, SMALL]
            ours.close()


def _s3_latency() -> float:
    from ._s3env import LATENCY

    return LATENCY


def run(cfg: Config, seed: int = 1) -> dict[str, Any]:
    """Measure everything; return the results document."""
    check_peers()
    rng = random.Random(seed)
    rec = Recorder()
    root = Path(tempfile.mkdtemp(prefix="bench_peers_"))
    machine = _report.machine(root)
    try:
        bench_size(root, "100 B", SMALL, cfg.n_small, cfg, rec, rng)
        bench_size(root, "100 KB", LARGE, cfg.n_large, cfg, rec, rng)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    if cfg.s3:
        print("  S3", flush=True)
        rec.keep = True
        bench_s3(cfg, rec)
    return _report.document(rec.samples, cfg.__dict__, machine, _s3_latency())


def main(argv: list[str] | None = None) -> None:
    """Run, write the results; exit non-zero naming the package if a peer is missing."""
    fmt = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=fmt)
    parser.add_argument("--quick", action="store_true",
                        help="few keys, one round (or PERSIDICT_BENCH_QUICK=1)")
    parser.add_argument("--no-s3", action="store_true", help="skip the S3 part")
    parser.add_argument("--out", type=Path, default=None,
                        help="write latest.json, latest.md, benchmarks.png here, not in the repository")
    parser.add_argument("--render", type=Path, default=None,
                        help="measure nothing: rewrite the outputs from this results JSON")
    args = parser.parse_args(argv if argv is not None else [])
    if args.render:
        _report.write_all(json.loads(args.render.read_text()), args.out, readme=args.out is None)
        return
    quick = args.quick or os.environ.get("PERSIDICT_BENCH_QUICK", "") not in ("", "0")
    cfg = QUICK if quick else Config()
    if args.no_s3:
        cfg = Config(**{**cfg.__dict__, "s3": False})
    out = args.out
    if quick and out is None:  # a smoke run never replaces the checked-in results
        out = Path(tempfile.gettempdir()) / "persidict_bench_quick"
    try:
        doc = run(cfg)
        _report.write_all(doc, out, readme=out is None)
    except PeerMissing as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    print(_report.markdown(doc, details=False))
    print(f"results written to {out or _report.RESULTS}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
