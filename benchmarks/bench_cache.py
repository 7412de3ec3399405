"""The LRUCachedDict hit path against diskcache.Cache.get on the same data.

Run: ``python -m benchmarks cache`` (or ``python -m benchmarks.bench_cache
[--quick]``). Contenders, all read through their sync API in this process, on
the same keys and values (1,000 small dicts of 92 pickled bytes, every one
cached), in random key order:

- ``LRUCachedDict, validated``: LRUCachedDict over FileDirDict, trust_seconds=0
  (each hit costs one stat of the file, to check its ETag);
- ``LRUCachedDict, trusted``: the same with trust_seconds=3600 (no check);
- ``FileDirDict``: the uncached store (reference);
- ``diskcache.Cache.get``: diskcache's Cache in its own folder (needs
  ``pip install diskcache``; ``nox -s bench`` installs it).

Method: one warm-up pass fills the caches; then rounds in which every
contender reads every key once, contenders in a fresh random order per round;
medians and min-max of the per-read time over rounds, and the median over
rounds of each round's time divided by diskcache's time in the same round (the
verdict: pairs measured seconds apart are robust to the machine's drift).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from persidict_sync import FileDirDict, LRUCachedDict

from ._peers import need

VALUE = {"id": 12345, "name": "example item", "tags": ["a", "b", "c"], "score": 0.75, "ok": True}
DISKCACHE = "diskcache.Cache.get"


def measure(n_keys: int = 1000, rounds: int = 31) -> dict[str, list[float]]:
    """Microseconds per read of each contender, one sample per round."""
    diskcache = need("diskcache")
    keys = [f"k{i:06d}" for i in range(n_keys)]
    with tempfile.TemporaryDirectory(prefix="bench-cache-") as tmp:
        files: FileDirDict[Any] = FileDirDict(base_dir=Path(tmp, "files"), durable=False)
        validated: LRUCachedDict[Any] = LRUCachedDict(main_dict=files, max_items=n_keys)
        trusted: LRUCachedDict[Any] = LRUCachedDict(main_dict=files, max_items=n_keys,
                                                    trust_seconds=3600.0)  # fmt: skip
        cache = diskcache.Cache(str(Path(tmp, "diskcache")))
        for k in keys:
            files[k] = VALUE
            cache.set(k, VALUE)
        getters: dict[str, Callable[[str], Any]] = {
            "LRUCachedDict, validated (stat per hit)": validated.__getitem__,
            "LRUCachedDict, trusted (trust_seconds=3600)": trusted.__getitem__,
            "FileDirDict (no cache)": files.__getitem__,
            DISKCACHE: cache.get,
        }
        for get in getters.values():  # warm-up: fills both LRU caches and the page cache
            for k in keys:
                assert get(k) == VALUE
        samples: dict[str, list[float]] = {name: [] for name in getters}
        for _ in range(rounds):
            order = list(getters)
            random.shuffle(order)
            shuffled = random.sample(keys, len(keys))
            for name in order:
                get = getters[name]
                start = time.perf_counter()
                for k in shuffled:
                    get(k)
                samples[name].append((time.perf_counter() - start) / len(keys) * 1e6)
        stats = validated.cache_stats()
        assert stats.misses == n_keys and stats.hits == n_keys * rounds, stats  # all hits
        cache.close()
    return samples


def ratio(samples: dict[str, list[float]], name: str) -> float:
    """The median over rounds of ``name``'s time divided by diskcache's in the same round."""
    return statistics.median(a / b for a, b in zip(samples[name], samples[DISKCACHE], strict=True))


def table(samples: dict[str, list[float]]) -> str:
    """A Markdown table of medians, min-max, and the per-round ratio to diskcache."""
    lines = ["| contender | median us/read | min | max | vs diskcache (per round) |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, values in samples.items():
        med = statistics.median(values)
        lines.append(f"| {name} | {med:.2f} | {min(values):.2f} | {max(values):.2f} | "
                     f"{ratio(samples, name):.2f}x |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    """Measure and print the table."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_cache")
    parser.add_argument("--quick", action="store_true", help="a smoke run (few keys and rounds)")
    args = parser.parse_args(argv or [])
    n_keys, rounds = (50, 2) if args.quick else (1000, 31)
    samples = measure(n_keys, rounds)
    print(f"{n_keys} keys, value 92 pickled bytes, {rounds} rounds, contenders interleaved\n")
    print(table(samples))
    base = statistics.median(samples[DISKCACHE])
    for name in samples:
        if name != DISKCACHE and name.startswith("LRU"):
            med, r = statistics.median(samples[name]), ratio(samples, name)
            verdict = "met" if r <= 1.0 else "NOT met"
            print(f"\n{name}: {med:.2f} us vs diskcache {base:.2f} us; per-round ratio "
                  f"{r:.2f}x (target <= 1x: {verdict})", end="")  # fmt: skip
    print()


if __name__ == "__main__":
    import sys

    main(sys.argv[1:])
